"""Unit grid cells (单元网格), point → cell lookup with shapely's STRtree, and the place hierarchy.

Edge rule: a point on a shared edge (or vertex) is covered by every cell that shares it; it goes
to the cell with the lowest code. Cells are kept sorted by code, so "lowest tree index" is "lowest
code" and the answer never depends on the order of the file.

Hierarchy: cell (15 digits) → community 社区 (first 12) → street 街道 (first 9) → district 区 (first 6),
the standard code layout (reference/standards.md §1.1). `chain()` gives it; escalation climbs it.

Everything here is WGS-84 lon/lat; a grid file in GCJ-02 is converted when it is read
(routing.geo), and a GCJ-02 point is converted before it is looked up.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import shapely
from shapely.geometry import Point, shape
from shapely.strtree import STRtree

from routing import geo

log = logging.getLogger("gridline.grids")


@dataclass(frozen=True)
class Level:
    level: str   # cell, community, street, district
    code: str
    name: str


@dataclass(frozen=True)
class Cell:
    code: str
    name: str
    street_code: str
    street: str
    community_code: str
    community: str
    worker: str
    geometry: object  # shapely Polygon, WGS-84
    district: str = ""

    @property
    def district_code(self) -> str:
        return self.code[:6]

    def chain(self) -> list[Level]:
        """cell → community → street → district: the levels a case can climb."""
        return [Level("cell", self.code, self.name), Level("community", self.community_code, self.community),
                Level("street", self.street_code, self.street),
                Level("district", self.district_code, self.district or self.district_code)]

    def as_dict(self) -> dict:
        return {"code": self.code, "name": self.name, "street": self.street, "community": self.community,
                "street_code": self.street_code, "community_code": self.community_code, "worker": self.worker,
                "district": self.district, "district_code": self.district_code}


class GridIndex:
    def __init__(self, cells: list[Cell], version: int = 0):
        self.cells = sorted(cells, key=lambda c: c.code)
        self.by_code = {c.code: c for c in self.cells}
        self.tree = STRtree([c.geometry for c in self.cells])
        self.version = version   # the geo_imports id it was built from (0: a file)
        self._community_names: dict[str, list[str]] = {}
        self._street_names: dict[str, str] = {}
        for c in self.cells:
            codes = self._community_names.setdefault(c.community, [])
            if c.community_code not in codes:
                codes.append(c.community_code)
            self._street_names.setdefault(c.street, c.street_code)

    # ---- loading
    @classmethod
    def from_geojson(cls, path: str | Path) -> "GridIndex":
        """A grid file already checked (the demo city, or one `gridline import-grids` accepted)."""
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        crs = geo.crs_name(data.get("crs_name"))
        district = str(data.get("district") or "")
        cells = []
        for feature in data["features"]:
            p = feature["properties"]
            code = str(p["code"])
            cells.append(Cell(code, p["name"], str(p.get("street_code") or code[:9]), p["street"],
                              str(p.get("community_code") or code[:12]), p["community"], p.get("worker") or "",
                              geo.geometry_to_wgs84(shape(feature["geometry"]), crs),
                              str(p.get("district") or district)))
        return cls(cells)

    @classmethod
    def from_rows(cls, rows, version: int = 0) -> "GridIndex":
        """From tickets.models.GridCell rows (geometry stored as WGS-84 GeoJSON)."""
        return cls([Cell(r.code, r.name, r.street_code, r.street, r.community_code, r.community, r.worker or "",
                         shape(r.geometry), r.district or "") for r in rows], version)

    # ---- lookups
    def cell_at(self, lon: float, lat: float, crs: str = geo.WGS84) -> Cell | None:
        if crs != geo.WGS84:
            lon, lat = geo.to_wgs84(lon, lat, crs)
        hits = self.tree.query(Point(lon, lat), predicate="covered_by")
        if len(hits) == 0:
            return None
        return self.cells[int(min(hits))]  # cells are sorted by code: lowest index = lowest code

    def cells_at(self, lons, lats, crs: str = geo.WGS84) -> list[Cell | None]:
        """Vectorised lookup for many points (benchmarks, bulk imports)."""
        if crs != geo.WGS84:
            lons, lats = geo.to_wgs84(lons, lats, crs)
        points = shapely.points(lons, lats)
        pairs = self.tree.query(points, predicate="covered_by")
        best: dict[int, int] = {}
        for point_i, cell_i in zip(pairs[0].tolist(), pairs[1].tolist()):
            if point_i not in best or cell_i < best[point_i]:
                best[point_i] = cell_i
        return [self.cells[best[i]] if i in best else None for i in range(len(points))]

    def cells_along(self, geometry) -> list[str]:
        """Codes of the cells a line or area touches (a road named without a house number)."""
        return sorted(self.cells[int(i)].code for i in self.tree.query(geometry, predicate="intersects"))

    def in_community(self, community_code: str) -> list[Cell]:
        return [c for c in self.cells if c.community_code == community_code]

    def in_street(self, street_code: str) -> list[Cell]:
        return [c for c in self.cells if c.street_code == street_code]

    def community_codes(self, name: str) -> list[str]:
        """The 12-digit codes of communities with this name (one, unless two streets share a name)."""
        return list(self._community_names.get(name, ()))

    def street_code(self, name: str) -> str | None:
        return self._street_names.get(name)

    def streets(self) -> dict[str, str]:
        """street code → name."""
        return {code: name for name, code in self._street_names.items()}

    def chain(self, code: str) -> list[Level]:
        cell = self.by_code.get(code)
        return cell.chain() if cell else []

    def bounds(self) -> tuple[float, float, float, float]:
        return tuple(shapely.total_bounds([c.geometry for c in self.cells]))


class GridSource:
    """The grid the running app uses: the database's active cells once a grid was imported or the
    demo city loaded, else the grid file (the demo GeoJSON). Every process re-reads it when a newer
    import is logged (geo_imports), checking at most every `check_every` seconds, so an
    `gridline import-grids` takes effect in the web app and the workers without a restart."""

    def __init__(self, db, default_path: str | Path, check_every: float = 30.0):
        self.db, self.default_path, self.check_every = db, Path(default_path), check_every
        self._index: GridIndex | None = None
        self._checked = 0.0
        self._lock = threading.Lock()

    def current(self) -> GridIndex:
        with self._lock:
            now = time.monotonic()
            if self._index is not None and now - self._checked < self.check_every:
                return self._index
            self._checked = now
            version = self._db_version()
            if self._index is None or (version is not None and version != self._index.version):
                self._index = self._load(version)
            return self._index

    def _db_version(self) -> int | None:
        from sqlalchemy import func, select
        from routing.models import GeoImport
        try:
            with self.db.session() as s:
                return s.scalar(select(func.max(GeoImport.id)).where(GeoImport.kind == "grids")) or 0
        except Exception as exc:  # not migrated yet (gridline classify on a fresh checkout): use the file
            log.debug("no grid version in the database: %s", exc)
            return None

    def _load(self, version: int | None) -> GridIndex:
        if version is not None:
            from sqlalchemy import select
            from tickets.models import GridCell
            with self.db.session() as s:
                rows = s.scalars(select(GridCell).where(GridCell.retired_at.is_(None))).all()
            if rows:
                index = GridIndex.from_rows(rows, version)
                log.info("grid: %d cells from the database (import %s)", len(index.cells), version or "demo")
                return index
        index = GridIndex.from_geojson(self.default_path)
        index.version = version or 0
        return index
