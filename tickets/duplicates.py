"""Is a new report the same problem as an open case? Same category, same or a touching grid cell,
within a window, and similar text (character-bigram Jaccard: robust for Chinese without segmenting,
and blind to word order, so "井盖丢了，东四北大街18号" matches "东四北大街18号井盖丢了")."""
from __future__ import annotations

import re
import weakref

_NOISE = re.compile(r"[\s\W_]+", re.UNICODE)   # spaces and punctuation (Chinese ones included)
_neighbours: "weakref.WeakKeyDictionary[object, dict[str, frozenset[str]]]" = weakref.WeakKeyDictionary()


def bigrams(text: str) -> set[str]:
    t = _NOISE.sub("", text or "").lower()
    return {t[i:i + 2] for i in range(len(t) - 1)} if len(t) > 1 else ({t} if t else set())


def similarity(a: str, b: str) -> float:
    x, y = bigrams(a), bigrams(b)
    if not x or not y:
        return 0.0
    return len(x & y) / len(x | y)


def neighbour_cells(grids, code: str | None) -> frozenset[str]:
    """The cell and every cell that touches it (edge or corner), from the grid geometry."""
    if code is None:
        return frozenset()
    if grids is None or code not in getattr(grids, "by_code", {}):
        return frozenset({code})
    table = _neighbours.get(grids)
    if table is None:
        table = _neighbours[grids] = {}
    if code not in table:
        geom = grids.by_code[code].geometry
        hits = grids.tree.query(geom, predicate="intersects")
        table[code] = frozenset(grids.cells[int(i)].code for i in hits) | {code}
    return table[code]
