"""Unit grid cells (单元网格) and point → cell lookup with shapely's STRtree.

Edge rule: a point on a shared edge is covered by both cells; it goes to the one with the lowest
code, so the answer is fixed and documented.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import shapely
from shapely.geometry import Point, shape
from shapely.strtree import STRtree


@dataclass(frozen=True)
class Cell:
    code: str
    name: str
    street_code: str
    street: str
    community_code: str
    community: str
    worker: str
    geometry: object  # shapely Polygon

    def as_dict(self) -> dict:
        return {"code": self.code, "name": self.name, "street": self.street, "community": self.community,
                "street_code": self.street_code, "community_code": self.community_code, "worker": self.worker}


class GridIndex:
    def __init__(self, cells: list[Cell]):
        self.cells = sorted(cells, key=lambda c: c.code)
        self.by_code = {c.code: c for c in self.cells}
        self.tree = STRtree([c.geometry for c in self.cells])

    @classmethod
    def from_geojson(cls, path: str | Path) -> "GridIndex":
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        cells = []
        for feature in data["features"]:
            p = feature["properties"]
            cells.append(Cell(str(p["code"]), p["name"], str(p["street_code"]), p["street"],
                              str(p["community_code"]), p["community"], p.get("worker", ""),
                              shape(feature["geometry"])))
        return cls(cells)

    def cell_at(self, lon: float, lat: float) -> Cell | None:
        hits = self.tree.query(Point(lon, lat), predicate="covered_by")
        if len(hits) == 0:
            return None
        return self.cells[int(min(hits))]  # cells are sorted by code: lowest index = lowest code

    def cells_at(self, lons, lats) -> list[Cell | None]:
        """Vectorised lookup for many points (benchmarks, bulk imports)."""
        points = shapely.points(lons, lats)
        pairs = self.tree.query(points, predicate="covered_by")
        best: dict[int, int] = {}
        for point_i, cell_i in zip(pairs[0].tolist(), pairs[1].tolist()):
            if point_i not in best or cell_i < best[point_i]:
                best[point_i] = cell_i
        return [self.cells[best[i]] if i in best else None for i in range(len(points))]

    def in_community(self, community_code: str) -> list[Cell]:
        return [c for c in self.cells if c.community_code == community_code]
