"""Places benchmark on the demo city: point → cell lookups per second, place extraction messages
per second, and accuracy on the addressed-complaint test sets by expected kind. Not a test: it
prints figures (the goals are asserted in tests/test_places.py).

    python bench/places.py                 # 100,000 points, every message of both test sets 5×
    python bench/places.py --misses        # also list the messages it got wrong
"""
from __future__ import annotations

import argparse
import csv
import random
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from classifiers.places import Gazetteer  # noqa: E402
from classifiers.tokenizer import initialize  # noqa: E402
from routing import geo  # noqa: E402
from routing.grids import GridIndex  # noqa: E402

DEMO = ROOT / "data" / "demo"
SETS = [ROOT / "tests" / "data" / "addressed_complaints.csv", ROOT / "tests" / "data" / "addressed_complaints_by_hand.csv"]


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:,.0f}/s ({seconds * 1e6 / n:.1f} µs each)"


def lookups(grids: GridIndex, n: int) -> None:
    rng = random.Random(1)
    x0, y0, x1, y1 = grids.bounds()
    lons = [rng.uniform(x0, x1) for _ in range(n)]
    lats = [rng.uniform(y0, y1) for _ in range(n)]
    t = time.perf_counter()
    one = [grids.cell_at(x, y) for x, y in zip(lons, lats)]
    single = time.perf_counter() - t
    t = time.perf_counter()
    many = grids.cells_at(lons, lats)
    bulk = time.perf_counter() - t
    assert one == many
    glons, glats = geo.wgs84_to_gcj02(lons, lats)
    t = time.perf_counter()
    grids.cells_at(glons, glats, crs=geo.GCJ02)
    gcj = time.perf_counter() - t
    inside = sum(c is not None for c in one)
    print(f"point → cell, {n:,} random points in the district's bounding box ({inside:,} inside a cell):")
    print(f"  one at a time (cell_at)          {rate(n, single)}")
    print(f"  vectorised (cells_at)            {rate(n, bulk)}")
    print(f"  vectorised from GCJ-02 points    {rate(n, gcj)}")


def read_sets() -> list[tuple[str, str, str, str]]:
    out = []
    for path in SETS:
        with open(path, encoding="utf-8", newline="") as f:
            out += [(path.name, r["text"], r["expected_kind"], r["expected"]) for r in csv.DictReader(f)]
    return out


def extraction(gazetteer: Gazetteer, grids: GridIndex, rows, repeat: int, show_misses: bool) -> None:
    texts = [r[1] for r in rows] * repeat
    t = time.perf_counter()
    for text in texts:
        place = gazetteer.find(text)
        if place is not None and not place.ambiguous:
            grids.cell_at(place.lon, place.lat)
    seconds = time.perf_counter() - t
    print(f"\nplace extraction + cell, {len(texts):,} messages ({len(rows)} distinct × {repeat}):")
    print(f"  {rate(len(texts), seconds)}")
    by_set: dict[str, tuple[Counter, Counter]] = {}
    misses = []
    for name, text, kind, expected in rows:
        total, right = by_set.setdefault(name, (Counter(), Counter()))
        place = gazetteer.find(text)
        usable = place is not None and not place.ambiguous
        cell = grids.cell_at(place.lon, place.lat) if usable else None
        ok = (not usable if kind == "askback" else cell is not None and
              (cell.code if kind == "cell" else cell.community_code) == expected)
        total[kind] += 1
        right[kind] += ok
        if not ok:
            misses.append(f"  {name}: {kind} {expected or '-'}  {text}  → "
                          f"{place.kind + ' ' + place.matched + ' %.2f' % place.confidence if place else 'no place'}")
    print("\naccuracy by expected kind (cell: right cell; community: right 社区; askback: no point or below threshold):")
    for name, (total, right) in by_set.items():
        parts = [f"{k} {right[k]}/{total[k]} ({right[k] / total[k]:.1%})" for k in ("cell", "community", "askback")]
        print(f"  {name:38s} " + "   ".join(parts))
    if show_misses and misses:
        print("\nmisses:")
        print("\n".join(misses))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--misses", action="store_true")
    args = ap.parse_args()
    t = time.perf_counter()
    initialize()
    grids = GridIndex.from_geojson(DEMO / "grids.geojson")
    gazetteer = Gazetteer.from_csv(DEMO / "gazetteer.csv", grids)
    print(f"loaded {len(grids.cells):,} cells and {len(gazetteer.entries)} gazetteer entries "
          f"(jieba included) in {time.perf_counter() - t:.1f} s\n")
    lookups(grids, args.points)
    extraction(gazetteer, grids, read_sets(), args.repeat, args.misses)


if __name__ == "__main__":
    main()
