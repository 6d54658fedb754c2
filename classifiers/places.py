"""Place extraction from a message: gazetteer names (longest match), house numbers, landmarks.

The gazetteer is a CSV a city maintains (data/demo/gazetteer.csv for the demo city):
kind,name,aliases,street,community,lon,lat,lon2,lat2,num_from,num_to
Roads carry a start and end point and a house-number range; a number is placed by linear
interpolation along the road. The result is a point with a confidence, never a silent guess:
no match gives None and the caller decides (ask back, triage).
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

from classifiers.tokenizer import add_words

_FULLWIDTH = str.maketrans("０１２３４５６７８９", "0123456789")
_NUMBER_AFTER = re.compile(r"^\s*(\d{1,5})\s*[号號]")
# Confidence by how precisely the text pins the place down.
CONFIDENCE = {"house_number": 0.95, "landmark": 0.9, "building": 0.9, "xiaoqu": 0.85,
              "community": 0.8, "road": 0.5, "street": 0.4}


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

    def point_for_number(self, number: int) -> tuple[float, float]:
        if self.lon2 is None or self.num_from is None or self.num_to in (None, self.num_from):
            return self.lon, self.lat
        t = min(1.0, max(0.0, (number - self.num_from) / (self.num_to - self.num_from)))
        return self.lon + t * (self.lon2 - self.lon), self.lat + t * (self.lat2 - self.lat)

    def midpoint(self) -> tuple[float, float]:
        if self.lon2 is None:
            return self.lon, self.lat
        return (self.lon + self.lon2) / 2, (self.lat + self.lat2) / 2


@dataclass
class Place:
    name: str
    kind: str            # house_number, landmark, building, xiaoqu, community, road, street
    lon: float
    lat: float
    confidence: float
    matched: str = ""    # the words of the message that named it
    entry: Entry | None = field(default=None, repr=False)

    def as_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "lon": round(self.lon, 6), "lat": round(self.lat, 6),
                "confidence": self.confidence, "matched": self.matched}


def _float(value: str) -> float | None:
    return float(value) if value not in (None, "") else None


def _int(value: str) -> int | None:
    return int(value) if value not in (None, "") else None


class Gazetteer:
    def __init__(self, entries: list[Entry]):
        self.entries = entries
        self.names: dict[str, Entry] = {}
        for e in entries:
            for n in (e.name, *e.aliases):
                self.names.setdefault(n, e)
        # Longest first: 东四北大街 must win over 东四.
        self.ordered = sorted(self.names, key=len, reverse=True)
        add_words(self.names, tag="ns")

    @classmethod
    def from_csv(cls, path: str | Path) -> "Gazetteer":
        with open(path, encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
        entries = [Entry(r["kind"], r["name"], tuple(a for a in (r.get("aliases") or "").split("|") if a),
                         r.get("street") or "", r.get("community") or "", float(r["lon"]), float(r["lat"]),
                         _float(r.get("lon2")), _float(r.get("lat2")), _int(r.get("num_from")),
                         _int(r.get("num_to"))) for r in rows]
        return cls(entries)

    def find(self, text: str) -> Place | None:
        text = text.translate(_FULLWIDTH)
        found: list[tuple[str, Entry, int]] = []
        taken = [False] * len(text)
        for name in self.ordered:
            start = text.find(name)
            while start >= 0:
                if not any(taken[start:start + len(name)]):
                    found.append((name, self.names[name], start))
                    for i in range(start, start + len(name)):
                        taken[i] = True
                start = text.find(name, start + 1)
        if not found:
            return None
        places = [self._place(text, name, entry, start) for name, entry, start in found]
        return max(places, key=lambda p: p.confidence)

    def _place(self, text: str, name: str, entry: Entry, start: int) -> Place:
        if entry.kind == "road":
            m = _NUMBER_AFTER.match(text[start + len(name):])
            if m:
                lon, lat = entry.point_for_number(int(m.group(1)))
                return Place(entry.name, "house_number", lon, lat, CONFIDENCE["house_number"],
                             name + m.group(0).strip(), entry)
            lon, lat = entry.midpoint()
            return Place(entry.name, "road", lon, lat, CONFIDENCE["road"], name, entry)
        return Place(entry.name, entry.kind, entry.lon, entry.lat, CONFIDENCE.get(entry.kind, 0.5), name, entry)
