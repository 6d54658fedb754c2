"""Place extraction from a message: gazetteer names, house numbers, intersections, landmarks.

The gazetteer is what a city maintains (`gridline import-gazetteer`; data/demo/gazetteer.csv for the
demo city): kind,name,aliases,street,community,lon,lat,lon2,lat2,num_from,num_to. Roads carry a
start and end point and a house-number range; a number is placed by linear interpolation.

How a message is read:
- Text is normalised first: traditional → simplified characters (OpenCC t2s), full-width → ASCII
  (NFKC), spaces dropped. Gazetteer names go through the same function, so both sides agree.
- Names are found by a leftmost-longest scan over the gazetteer (东四北大街 wins over 东四), the
  same maximum matching jieba does for dictionary words, but without jieba's HMM, which would cut
  an unknown compound name apart. The names are also added to jieba so the classifier keeps them
  whole. A name with one wrong character (a typo) is found when nothing exact was, unless the
  wrong character is a direction or a numeral (西四 is not a typo of 东四).
- The result is one Place: a point, the candidate cells, and a confidence. House numbers (XX路18号,
  １８号, 十八号, 18号院), intersections (A与B交叉口 → where the two segments cross), landmarks and
  buildings (XX医院门口/对面/附近) and 小区 are points; a named 社区 gives the community's cells; a
  road without a number or a 街道 alone gives many candidate cells and a low confidence.
- `Place.ambiguous` (confidence below ASK_BELOW) is the contract with intake.processing: such a
  place, or none, makes the conversation ask the citizen back instead of guessing a cell.
"""
from __future__ import annotations

import csv
import logging
import re
import threading
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from shapely.geometry import LineString, Point
from shapely.ops import nearest_points

from classifiers.tokenizer import add_words
from routing import geo

log = logging.getLogger("gridline.places")

ASK_BELOW = 0.6   # a place below this confidence is not good enough to dispatch: ask back
CONFIDENCE = {"house_number": 0.95, "intersection": 0.9, "landmark": 0.9, "building": 0.9, "xiaoqu": 0.85,
              "community": 0.8, "road": 0.4, "street": 0.4}
KINDS = ("street", "community", "road", "xiaoqu", "landmark", "building")
TYPO_PENALTY = 0.1
NEAR_MISS_M = 80          # two roads named as an intersection that do not quite meet: still a corner
NUMBER_SLACK = 0.1        # a house number up to 10 % past the known range is placed at the road's end

_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7,
              "八": 8, "九": 9}
_NUM = r"(\d{1,5}|[零〇一二两三四五六七八九十百]{1,6})"
_NUMBER_AFTER = re.compile(rf"^(?:门牌|甲|乙|丙)?{_NUM}号(?!线)")
_CORNER = re.compile(r"^(?:的|之)?(?:十字路口|丁字路口|交叉路口|交叉口|交汇处|交汇口|交界处|交界|交口|路口|拐角|转角|口)")
_JOIN = re.compile(r"^(?:与|和|跟|同|及|以及|、|/|,|和那个)?$")
_NEAR_WORDS = ("附近", "周边", "一带", "那块", "那片", "这片")
# A one-character difference in these is a different place, not a typo (东四/西四, 头条/二条).
_NOT_TYPOS = set("东南西北中前后内外上下左右新老大小一二三四五六七八九十百两甲乙丙丁")

try:
    import opencc
    _t2s = opencc.OpenCC("t2s").convert
except ImportError:  # pragma: no cover - pinned in pyproject; keep working (simplified only) without it
    log.warning("opencc not installed: traditional characters are not converted")
    _t2s = str


def normalize(text: str) -> str:
    """Traditional → simplified, full-width → ASCII, lower-case Latin, no spaces."""
    text = unicodedata.normalize("NFKC", _t2s(text or ""))
    return re.sub(r"\s+", "", text).lower()


def chinese_number(s: str) -> int | None:
    """'18' → 18, '十八' → 18, '二十' → 20, '一百零五' → 105, '三五' → 35 (digit by digit)."""
    if s.isdigit():
        return int(s)
    if "十" not in s and "百" not in s:
        digits = [_CN_DIGITS.get(c) for c in s]
        return None if None in digits else int("".join(map(str, digits)))
    total, current = 0, 0
    for c in s:
        if c in _CN_DIGITS:
            current = _CN_DIGITS[c]
        elif c == "十":
            total += (current or 1) * 10
            current = 0
        elif c == "百":
            total += (current or 1) * 100
            current = 0
    return total + current


@dataclass(frozen=True)
class Entry:
    kind: str
    name: str
    aliases: tuple[str, ...]
    street: str
    community: str
    lon: float
    lat: float
    lon2: float | None = None
    lat2: float | None = None
    num_from: int | None = None
    num_to: int | None = None
    line: int = 0

    @property
    def is_segment(self) -> bool:
        return self.lon2 is not None and self.lat2 is not None

    def segment(self) -> LineString:
        return LineString([(self.lon, self.lat), (self.lon2, self.lat2)])

    def point_for_number(self, number: int) -> tuple[float, float]:
        if not self.is_segment or self.num_from is None or self.num_to in (None, self.num_from):
            return self.lon, self.lat
        t = min(1.0, max(0.0, (number - self.num_from) / (self.num_to - self.num_from)))
        return self.lon + t * (self.lon2 - self.lon), self.lat + t * (self.lat2 - self.lat)

    def number_fit(self, number: int) -> float:
        """1 inside the numbered range, less the further past it; 0 when the road has no numbers."""
        if self.num_from is None or self.num_to is None:
            return 0.0
        lo, hi = sorted((self.num_from, self.num_to))
        if lo <= number <= hi:
            return 1.0
        past = (lo - number if number < lo else number - hi) / max(1, hi - lo)
        return 0.8 if past <= NUMBER_SLACK else 0.0

    def midpoint(self) -> tuple[float, float]:
        if not self.is_segment:
            return self.lon, self.lat
        return (self.lon + self.lon2) / 2, (self.lat + self.lat2) / 2


@dataclass
class Place:
    name: str
    kind: str            # house_number, intersection, landmark, building, xiaoqu, community, road, street, coordinates
    lon: float
    lat: float
    confidence: float
    matched: str = ""    # the words of the message that named it
    entry: Entry | None = field(default=None, repr=False)
    candidates: list[str] = field(default_factory=list)   # cell codes it may be in (one when certain)
    note: str = ""       # why the place is uncertain, for the operator (Chinese)
    sources: tuple = field(default=(), repr=False, compare=False)   # the name matches it was built from

    @property
    def ambiguous(self) -> bool:
        """Not precise enough to pick a cell: the conversation asks back (intake.processing)."""
        return self.confidence < ASK_BELOW

    def as_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "lon": round(self.lon, 6), "lat": round(self.lat, 6),
                "confidence": round(self.confidence, 3), "matched": self.matched, "ambiguous": self.ambiguous,
                "candidates": self.candidates[:30], "candidate_count": len(self.candidates), "note": self.note}


@dataclass
class _Match:
    start: int
    end: int
    text: str
    entry: Entry
    typo: bool = False
    fixed: str = ""      # for a typo: the name it stands for


def _float(value) -> float | None:
    return float(value) if value not in (None, "") else None


def _int(value) -> int | None:
    return int(float(value)) if value not in (None, "") else None


def entry_from_row(r: dict, line: int = 0, crs: str = geo.WGS84) -> Entry:
    aliases = r.get("aliases") or ""
    aliases = tuple(a.strip() for a in (aliases if isinstance(aliases, (list, tuple)) else aliases.split("|"))
                    if a and a.strip())
    lon, lat = geo.to_wgs84(float(r["lon"]), float(r["lat"]), crs)
    lon2, lat2 = _float(r.get("lon2")), _float(r.get("lat2"))
    if lon2 is not None and lat2 is not None:
        lon2, lat2 = geo.to_wgs84(lon2, lat2, crs)
    return Entry(r["kind"].strip(), r["name"].strip(), aliases, (r.get("street") or "").strip(),
                 (r.get("community") or "").strip(), lon, lat, lon2, lat2, _int(r.get("num_from")),
                 _int(r.get("num_to")), line)


class Gazetteer:
    def __init__(self, entries: list[Entry], grids=None, version: tuple = (0, 0)):
        self.entries = entries
        self.grids = grids          # routing.grids.GridIndex: candidate cells, community areas
        self.version = version
        self.names: dict[str, Entry] = {}
        for e in entries:
            for n in (e.name, *e.aliases):
                key = normalize(n)
                if len(key) >= 2:
                    self.names.setdefault(key, e)
        # Name lengths by first character (longest first): most characters of a message start no name.
        self._lengths: dict[str, list[int]] = {}
        for n in self.names:
            self._lengths.setdefault(n[0], []).append(len(n))
        self._lengths = {c: sorted(set(ls), reverse=True) for c, ls in self._lengths.items()}
        # Typos: every name of 4+ characters with one character blanked out. A name with a wrong
        # character still has its right first character (or, when the first is wrong, its second).
        self._variants: dict[str, set[str]] = {}
        self._fuzzy_first: dict[str, set[int]] = {}
        self._fuzzy_second: dict[str, set[int]] = {}
        # Names that begin a longer name (天坛 / 天坛东路): a typo further on can hide the longer one.
        self._prefixes = {n[:k] for n in self.names if len(n) >= 4 for k in range(2, len(n))} & set(self.names)
        for n in self.names:
            if len(n) >= 4:
                self._fuzzy_first.setdefault(n[0], set()).add(len(n))
                self._fuzzy_second.setdefault(n[1], set()).add(len(n))
                for k in range(len(n)):
                    if n[k] not in _NOT_TYPOS:
                        self._variants.setdefault(n[:k] + "\0" + n[k + 1:], set()).add(n)
        self._cells_cache: dict[tuple, list[str]] = {}
        add_words([n for e in entries for n in (e.name, *e.aliases)], tag="ns")

    @classmethod
    def from_csv(cls, path: str | Path, grids=None, crs: str = geo.WGS84) -> "Gazetteer":
        with open(path, encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f)
            entries = [entry_from_row(r, reader.line_num, crs) for r in reader]
        return cls(entries, grids)

    @classmethod
    def from_rows(cls, rows, grids=None, version: tuple = (0, 0)) -> "Gazetteer":
        """From routing.models.GazetteerEntry rows (already WGS-84)."""
        return cls([Entry(r.kind, r.name, tuple(r.aliases or ()), r.street, r.community, r.lon, r.lat, r.lon2,
                          r.lat2, r.num_from, r.num_to, r.line) for r in rows], grids, version)

    # ---- matching
    def matches(self, text: str) -> list[_Match]:
        """Gazetteer names in normalised text, leftmost-longest."""
        found: list[_Match] = []
        i, n = 0, len(text)
        while i < n:
            for length in self._lengths.get(text[i], ()):
                if i + length <= n and text[i:i + length] in self.names:
                    found.append(_Match(i, i + length, text[i:i + length], self.names[text[i:i + length]]))
                    i += length
                    break
            else:
                i += 1
        return found

    def typo_matches(self, text: str, taken: list[_Match], starts: set[int] | None = None) -> list[_Match]:
        """Names with one wrong character (only when one name fits), outside the exact names or
        swallowing an exact name that begins them (美术馆 in 美术馆后衔68号)."""
        owner = [None] * len(text)
        for m in taken:
            for k in range(m.start, m.end):
                owner[k] = m
        found: list[_Match] = []
        i = 0
        while i < len(text):
            hit = None
            if starts is not None and i not in starts:
                i += 1
                continue
            lengths = self._fuzzy_first.get(text[i], set()) | self._fuzzy_second.get(text[i + 1:i + 2], set())
            for length in sorted(lengths, reverse=True):
                if i + length > len(text) or any(m is not None and (m.start < i or m.end > i + length)
                                                  for m in owner[i:i + length]):
                    continue
                s = text[i:i + length]
                names = set()
                for k in range(length):
                    if "\u4e00" <= s[k] <= "\u9fff" and s[k] not in _NOT_TYPOS:   # a wrong Chinese character only
                        names |= self._variants.get(s[:k] + "\0" + s[k + 1:], set())
                entries = {id(self.names[x]): self.names[x] for x in names}
                if len(entries) == 1:   # two roads one letter apart: not a typo we can settle
                    hit = _Match(i, i + length, s, next(iter(entries.values())), typo=True, fixed=min(names))
                    break
            if hit:
                found.append(hit)
                i = hit.end
            else:
                i += 1
        return found

    def find(self, text: str) -> Place | None:
        """The best place the message names, or None when it names none."""
        text = normalize(text)
        found = self.matches(text)
        best = self._best(text, found)
        # Nothing usable, or a name that may be the start of a longer one: is a name there with one
        # wrong character? A typo reading that swallows an exact name wins only with a house number
        # or a corner after it, or when the wrong character sits inside and the name's own ending
        # follows (雍和宫大衔21号 is 雍和宫大街, 天坛东们站 is 天坛东门站; 雍和宫大门口 stays 雍和宫).
        unsure = best is None or best.ambiguous
        prefixes = {m.start for m in found if m.text in self._prefixes}
        if unsure or prefixes:
            extra = self.typo_matches(text, found, None if unsure else prefixes)
            if extra:
                kept = [m for m in found if not any(x.start <= m.start and m.end <= x.end for x in extra)]
                alt = self._best(text, sorted(kept + extra, key=lambda m: m.start))
                if alt is None or not any(m.typo for m in alt.sources):
                    return best
                if len(kept) < len(found):
                    typo = next(m for m in alt.sources if m.typo)
                    inside = typo.text[-1] == typo.fixed[-1] and all(
                        m.end <= typo.end - 2 for m in found if typo.start <= m.start and m.end <= typo.end)
                    if alt.kind in ("house_number", "intersection") or inside:
                        best = alt
                elif best is None or alt.confidence > best.confidence:
                    best = alt
        return best

    def _best(self, text: str, found: list[_Match]) -> Place | None:
        if not found:
            return None
        places = self._intersections(text, found)
        used = {id(m) for p in places for m in p.sources}
        places += [self._place(text, m) for m in found if id(m) not in used]
        for p in places:
            if any(m.typo for m in p.sources):
                p.confidence = round(p.confidence - TYPO_PENALTY, 3)
                p.note = (p.note + "；" if p.note else "") + "地名疑有错字"
        best = max(places, key=lambda p: p.confidence)
        self._check_named_area(best, places)
        return best

    # ---- building a place
    def _place(self, text: str, m: _Match) -> Place:
        e = m.entry
        if e.kind == "road":
            return self._road(text, m)
        kind = e.kind if e.kind in CONFIDENCE else "landmark"
        conf = CONFIDENCE[kind]
        after = text[m.end:m.end + 3]
        if kind in ("landmark", "building") and after.startswith(_NEAR_WORDS):
            conf -= 0.05   # 附近/一带: near, not at; still one or two cells
        if kind == "community":
            cells = self._community_cells(e)
        elif kind == "street":
            cells = self._street_cells(e)
        else:
            cells = self._cells_at(e.lon, e.lat)
        place = Place(e.name, kind, e.lon, e.lat, conf, m.text, e, cells)
        if kind == "street":
            place.note = "只说了街道，范围太大"
        place.sources = (m,)
        return place

    def _road(self, text: str, m: _Match) -> Place:
        e = m.entry
        num = _NUMBER_AFTER.match(text[m.end:])
        if num:
            number = chinese_number(num.group(1))
            fit = e.number_fit(number) if number is not None else 0.0
            if fit > 0:
                lon, lat = e.point_for_number(number)
                place = Place(e.name, "house_number", lon, lat, CONFIDENCE["house_number"] * fit,
                              m.text + num.group(0), e, self._cells_at(lon, lat))
                place.sources = (m,)
                return place
            note = f"{e.name}没有门牌号数据" if e.num_from is None else f"{e.name}没有{number}号（已知 {e.num_from}–{e.num_to} 号）"
        else:
            note = f"只说了{e.name}，没有门牌号或路口"
        lon, lat = e.midpoint()
        cells = self._road_cells(e)
        conf = CONFIDENCE["road"] if len(cells) != 1 else CONFIDENCE["community"]   # a short road in one cell
        place = Place(e.name, "road", lon, lat, conf, m.text, e, cells, note)
        place.sources = (m,)
        return place

    def _intersections(self, text: str, found: list[_Match]) -> list[Place]:
        """A与B交叉口, A和B路口, A、B十字路口, AB路口, A跟B交界的地方…: where the two roads cross."""
        out = []
        roads = [m for m in found if m.entry.kind == "road" and m.entry.is_segment]
        for a, b in zip(roads, roads[1:]):
            if a.entry is b.entry or not _JOIN.match(text[a.end:b.start]) or not _CORNER.match(text[b.end:]):
                continue
            corner = _CORNER.match(text[b.end:]).group(0)
            matched = text[a.start:b.end] + corner
            la, lb = a.entry.segment(), b.entry.segment()
            x = la.intersection(lb)
            if x.geom_type == "Point":
                lon, lat, conf, note = x.x, x.y, CONFIDENCE["intersection"], ""
            else:
                pa, pb = nearest_points(la, lb)
                kx, ky = geo.metres_per_degree(pa.y)
                gap = ((pa.x - pb.x) * kx) ** 2 + ((pa.y - pb.y) * ky) ** 2
                lon, lat = (pa.x + pb.x) / 2, (pa.y + pb.y) / 2
                if x.is_empty and gap ** 0.5 <= NEAR_MISS_M:
                    conf, note = CONFIDENCE["intersection"] - 0.1, ""
                else:
                    conf, note = CONFIDENCE["road"], f"{a.entry.name}与{b.entry.name}不相交"
            cells = self._cells_at(lon, lat) if conf >= ASK_BELOW else sorted(
                set(self._road_cells(a.entry)) | set(self._road_cells(b.entry)))
            place = Place(f"{a.entry.name}与{b.entry.name}交叉口", "intersection", lon, lat, conf, matched,
                          a.entry, cells, note)
            place.sources = (a, b)
            out.append(place)
        return out

    def _check_named_area(self, best: Place, places: list[Place]) -> None:
        """A point outside the 社区/街道 the message also names is a contradiction: ask, don't guess."""
        if self.grids is None or best.kind in ("community", "street") or len(best.candidates) != 1:
            return
        cell = self.grids.by_code.get(best.candidates[0])
        named = [p for p in places if p.kind in ("community", "street")]
        if cell is None or not named:
            return
        for p in named:
            if best.candidates[0] in p.candidates:
                return
        best.confidence = min(best.confidence, CONFIDENCE["road"])
        best.note = f"{best.matched}不在所说的{named[0].name}内"
        best.candidates = sorted(set(best.candidates) | {c for p in named for c in p.candidates})

    # ---- candidate cells
    def _cells_at(self, lon: float, lat: float) -> list[str]:
        if self.grids is None:
            return []
        cell = self.grids.cell_at(lon, lat)
        return [cell.code] if cell else []

    def _road_cells(self, e: Entry) -> list[str]:
        if self.grids is None:
            return []
        key = ("road", e.name)
        if key not in self._cells_cache:
            geom = e.segment() if e.is_segment else Point(e.lon, e.lat)
            self._cells_cache[key] = self.grids.cells_along(geom)
        return self._cells_cache[key]

    def _community_cells(self, e: Entry) -> list[str]:
        if self.grids is None:
            return []
        key = ("community", e.street, e.community or e.name)
        if key not in self._cells_cache:
            codes = self.grids.community_codes(e.community or e.name)
            street = self.grids.street_code(e.street) if e.street else None
            if len(codes) > 1 and street:
                codes = [c for c in codes if c.startswith(street)] or codes
            self._cells_cache[key] = sorted(c.code for code in codes for c in self.grids.in_community(code))
        return self._cells_cache[key]

    def _street_cells(self, e: Entry) -> list[str]:
        if self.grids is None:
            return []
        key = ("street", e.street or e.name)
        if key not in self._cells_cache:
            code = self.grids.street_code(e.street or e.name)
            self._cells_cache[key] = sorted(c.code for c in self.grids.in_street(code)) if code else []
        return self._cells_cache[key]


class GazetteerSource:
    """The gazetteer the running app uses: the database's (after `gridline import-gazetteer`) or the
    demo CSV, rebuilt when a newer gazetteer or grid is imported (checked at most every
    `check_every` seconds, like routing.grids.GridSource)."""

    def __init__(self, db, default_path: str | Path, grid_source, check_every: float = 30.0):
        self.db, self.default_path, self.grid_source = db, Path(default_path), grid_source
        self.check_every = check_every
        self._gazetteer: Gazetteer | None = None
        self._checked = 0.0
        self._lock = threading.Lock()

    def current(self) -> Gazetteer:
        grids = self.grid_source.current()
        with self._lock:
            now = time.monotonic()
            fresh = now - self._checked < self.check_every
            if self._gazetteer is not None and fresh and self._gazetteer.grids is grids:
                return self._gazetteer
            self._checked = now
            version = (self._db_version(), grids.version)
            if self._gazetteer is None or version != self._gazetteer.version or self._gazetteer.grids is not grids:
                self._gazetteer = self._load(version, grids)
            return self._gazetteer

    def _db_version(self) -> int | None:
        from sqlalchemy import func, select
        from routing.models import GeoImport
        try:
            with self.db.session() as s:
                return s.scalar(select(func.max(GeoImport.id)).where(GeoImport.kind == "gazetteer")) or 0
        except Exception as exc:  # not migrated yet: the file
            log.debug("no gazetteer version in the database: %s", exc)
            return None

    def _load(self, version: tuple, grids) -> Gazetteer:
        if version[0]:
            from sqlalchemy import select
            from routing.models import GazetteerEntry
            with self.db.session() as s:
                rows = s.scalars(select(GazetteerEntry).order_by(GazetteerEntry.id)).all()
            if rows:
                return Gazetteer.from_rows(rows, grids, version)
        gazetteer = Gazetteer.from_csv(self.default_path, grids)
        gazetteer.version = version
        return gazetteer
