"""A city's unit grid file (GeoJSON FeatureCollection): read, check, and save to grid_cells.

Each feature is one cell: properties code (15 digits: 6 district + 3 street + 3 community +
3 sequence), name, street, community, worker, optionally street_code / community_code (must agree
with the code) and district; geometry a Polygon. The file says its coordinate system in the
top-level `crs_name` (WGS84 or GCJ02; the GeoJSON standard's WGS-84 when absent); cells are
stored as WGS-84.

Checked before anything is written: codes (format, duplicates, agreement with street/community
codes and names, and with a divisions table when given), geometry (missing, not a polygon, rings
not closed, too few points, self-intersections and other invalid shapes, coordinates outside the
range of the file's CRS, latitude and longitude swapped, projected metres), overlapping cells and
gaps between cells. Every finding names the feature as features[i] (its index in the file) and
its code.
"""
from __future__ import annotations

import csv
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import Polygon, mapping, shape

from routing import geo
from routing.grids import Cell
from routing.importers import ImportRejected, ImportReport, sha256_of, upsert_departments

CODE = re.compile(r"^\d{15}$")
VALIDITY = {  # GEOS reasons → what staff read
    "Self-intersection": "边界自相交", "Ring Self-intersection": "边界环自相交", "Too few points": "点数太少",
    "Hole lies outside shell": "内环（洞）在外环之外", "Nested shells": "外环嵌套", "Nested holes": "内环嵌套",
    "Interior is disconnected": "内部不连通", "Duplicate Rings": "重复的环", "Invalid Coordinate": "坐标无效",
    "Ring is not closed": "环未闭合",
}


@dataclass
class GridFile:
    crs: str
    district: str
    cells: list[Cell]


def _load_divisions(path: Path | None) -> dict[str, tuple[str, str]] | None:
    """divisions.csv → {code: (level, name)}."""
    if path is None:
        return None
    with open(path, encoding="utf-8-sig", newline="") as f:
        return {r["code"].strip(): (r["level"].strip(), r["name"].strip()) for r in csv.DictReader(f)}


def _where(i: int, code: str | None) -> str:
    return f" features[{i}]" + (f" ({code})" if code else "")


def _positions(geom: dict, rep: ImportReport, where: str) -> list[list[list[list[float]]]] | None:
    """The polygons of a Polygon/MultiPolygon as lists of rings, after checking their structure."""
    if not isinstance(geom, dict) or geom.get("type") is None:
        rep.error(where, "没有几何（geometry 为空）")
        return None
    kind = geom.get("type")
    if kind not in ("Polygon", "MultiPolygon"):
        rep.error(where, f"几何类型是 {kind}，网格应为 Polygon")
        return None
    coords = geom.get("coordinates")
    polys = [coords] if kind == "Polygon" else coords
    if not isinstance(polys, list) or not polys or not all(isinstance(p, list) and p for p in polys):
        rep.error(where, "几何坐标为空或结构错误")
        return None
    for p in polys:
        for k, ring in enumerate(p):
            if not isinstance(ring, list) or not all(
                    isinstance(pt, list) and len(pt) in (2, 3)
                    and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in pt)
                    for pt in ring):
                rep.error(where, f"第 {k + 1} 个环的坐标不是 [经度, 纬度] 数字对")
                return None
            if len(ring) < 4:
                rep.error(where, f"第 {k + 1} 个环只有 {len(ring)} 个点，多边形至少需要 4 个（首尾相同）")
                return None
            if ring[0][:2] != ring[-1][:2]:
                rep.error(where, f"第 {k + 1} 个环未闭合（首点 {ring[0][:2]} 与末点 {ring[-1][:2]} 不同）")
                return None
    return polys


def _check_range(polys, crs: str, rep: ImportReport, where: str) -> bool:
    xy = np.array([pt[:2] for p in polys for ring in p for pt in ring], dtype=float)
    problem = geo.range_problem(xy[:, 0], xy[:, 1], crs)
    if problem:
        rep.error(where, problem)
    return problem is None


def _geometry(raw, crs: str, rep: ImportReport, where: str):
    polys = _positions(raw, rep, where)
    if polys is None or not _check_range(polys, crs, rep, where):
        return None
    if len(polys) > 1:
        rep.error(where, f"一个网格应为一个多边形，这里是 {len(polys)} 块（MultiPolygon）")
        return None
    g = shape({"type": "Polygon", "coordinates": polys[0]})
    if not g.is_valid:
        reason = shapely.is_valid_reason(g)
        m = re.match(r"^([^\[]+)\[([-\d.e]+) ([-\d.e]+)\]", reason)
        label = VALIDITY.get(m.group(1).strip(), m.group(1).strip()) if m else reason
        at = f"，位置 {float(m.group(2)):.6f}, {float(m.group(3)):.6f}" if m else ""
        rep.error(where, f"几何无效：{label}{at}（{reason}）")
        return None
    if g.area == 0:
        rep.error(where, "多边形面积为零")
        return None
    return geo.geometry_to_wgs84(g, crs)


def _check_coverage(cells: list[Cell], index: list[int], rep: ImportReport, tolerance_m2: float) -> None:
    """Overlaps between cells and holes (gaps) inside the area they cover, in m² on a local plane."""
    if not cells:
        return
    geoms = np.array([c.geometry for c in cells], dtype=object)
    kx, ky = geo.metres_per_degree(float(np.mean([g.centroid.y for g in geoms])))
    m2 = kx * ky
    tree = shapely.STRtree(geoms)
    a, b = tree.query(geoms, predicate="intersects")
    keep = a < b
    a, b = a[keep], b[keep]
    if len(a):
        inter = shapely.intersection(geoms[a], geoms[b])
        areas = shapely.area(inter) * m2
        for i, j, area, g in zip(a.tolist(), b.tolist(), areas.tolist(), inter):
            if area > tolerance_m2:
                p = g.representative_point()
                rep.error(_where(index[i], cells[i].code),
                          f"与 features[{index[j]}] ({cells[j].code}) 重叠约 {area:.0f} m²，位置 {p.x:.6f}, {p.y:.6f}")
    # Snapped to 1e-7° (~1 cm): neighbours whose shared edge differs in the last float digits still
    # join, so a real gap shows as a hole instead of leaking out through a hairline crack.
    union = shapely.union_all(geoms, grid_size=1e-7)
    parts = list(shapely.get_parts(union))
    for part in parts:
        for ring in part.interiors:
            hole = Polygon(ring)
            area = hole.area * m2
            if area > tolerance_m2:
                p = hole.representative_point()
                around = sorted(cells[int(k)].code for k in tree.query(hole, predicate="touches"))[:6]
                rep.error("", f"网格之间有空隙约 {area:.0f} m²，位置 {p.x:.6f}, {p.y:.6f}（周边网格 {'、'.join(around)}）")
    if len(parts) > 1:
        rep.warn("", f"网格分成 {len(parts)} 块互不相连的区域（飞地？请确认）")


def read_grid_file(path: Path, divisions: Path | None = None, tolerance_m2: float = 1.0) -> tuple[GridFile | None, ImportReport]:
    """Read and check a grid file; GridFile is None when the report has errors."""
    path = Path(path)
    rep = ImportReport(path.name)
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError as e:
        rep.error("", f"不是 UTF-8 编码的文本（第 {e.start} 字节）")
        return None, rep
    except json.JSONDecodeError as e:
        rep.error(f":{e.lineno}", f"JSON 语法错误：{e.msg}（第 {e.lineno} 行第 {e.colno} 列）")
        return None, rep
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        rep.error("", "顶层应为 GeoJSON FeatureCollection")
        return None, rep
    features = data.get("features")
    if not isinstance(features, list) or not features:
        rep.error("", "features 为空：文件里没有网格")
        return None, rep
    raw_crs = data.get("crs_name") or ((data.get("crs") or {}).get("properties") or {}).get("name")
    if raw_crs is None:
        rep.warn("", "未写 crs_name，按 GeoJSON 标准的 WGS84 处理")
    try:
        crs = geo.crs_name(raw_crs)
    except geo.UnknownCRS as e:
        rep.error("", f"crs_name: {e}")
        return None, rep
    district = str(data.get("district") or "")
    known = _load_divisions(divisions)
    seen: dict[str, int] = {}
    communities: dict[str, tuple[str, str, int]] = {}
    streets: dict[str, tuple[str, int]] = {}
    cells: list[Cell] = []
    index: list[int] = []
    bad = False
    for i, feature in enumerate(features):
        before = len(rep.errors)
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            rep.error(_where(i, None), "不是 GeoJSON Feature")
            bad = True
            continue
        props = feature.get("properties")
        if not isinstance(props, dict):
            rep.error(_where(i, None), "没有 properties")
            bad = True
            continue
        code = str(props.get("code") if props.get("code") is not None else "").strip()
        where = _where(i, code or None)
        if not CODE.match(code):
            rep.error(where, f"网格编码 '{code}' 应为 15 位数字（6 位区县 + 3 位街道 + 3 位社区 + 3 位序号）")
            code = ""
        elif code in seen:
            rep.error(where, f"网格编码 {code} 重复（features[{seen[code]}] 已有）")
        else:
            seen[code] = i
        fields = {}
        for key in ("name", "street", "community"):
            value = props.get(key)
            if not isinstance(value, str) or not value.strip():
                rep.error(where, f"缺少 {key}")
            fields[key] = str(value or "").strip()
        worker = str(props.get("worker") or "").strip()
        if not worker:
            rep.warn(where, "没有责任监督员（worker）")
        for key, n in (("street_code", 9), ("community_code", 12)):
            given = props.get(key)
            if given not in (None, "") and code and str(given).strip() != code[:n]:
                rep.error(where, f"{key} {given} 与网格编码前 {n} 位 {code[:n]} 不符")
        if code:
            _check_names(code, fields, i, where, communities, streets, known, rep)
        geom = _geometry(feature.get("geometry"), crs, rep, where)
        if len(rep.errors) > before:
            bad = True
            continue
        cells.append(Cell(code, fields["name"], code[:9], fields["street"], code[:12], fields["community"], worker,
                          geom, str(props.get("district") or district or _district_name(code, known))))
        index.append(i)
    _check_coverage(cells, index, rep, tolerance_m2)
    if bad or not rep.ok:
        return None, rep
    return GridFile(crs, district, cells), rep


def _district_name(code: str, known) -> str:
    if known and code[:6] in known:
        return known[code[:6]][1]
    return ""


def _check_names(code, fields, i, where, communities, streets, known, rep: ImportReport) -> None:
    """The same community/street code must carry the same names throughout, and the divisions'."""
    c12, c9 = code[:12], code[:9]
    if c12 in communities:
        name, street, j = communities[c12]
        if (name, street) != (fields["community"], fields["street"]):
            rep.error(where, f"社区代码 {c12} 在 features[{j}] 是 {street}{name}，这里写的是 "
                             f"{fields['street']}{fields['community']}")
    else:
        communities[c12] = (fields["community"], fields["street"], i)
    if c9 in streets and streets[c9][0] != fields["street"]:
        rep.error(where, f"街道代码 {c9} 在 features[{streets[c9][1]}] 是 {streets[c9][0]}，这里写的是 {fields['street']}")
    streets.setdefault(c9, (fields["street"], i))
    if known is None:
        return
    for level, part, label, given in (("district", code[:6], "区县", None), ("street", c9, "街道", fields["street"]),
                                      ("community", c12, "社区", fields["community"])):
        entry = known.get(part)
        if entry is None or entry[0] != level:
            rep.error(where, f"未知{label}代码 {part}（行政区划表中没有）")
            return
        if given is not None and given and entry[1] != given:
            rep.error(where, f"{label}代码 {part} 在行政区划表中是 {entry[1]}，这里写的是 {given}")


def save_grid(session, grid: GridFile, source: str, sha: str, rules=None) -> dict:
    """Upsert the cells, retire the ones the file no longer has, log the import. The caller commits."""
    from sqlalchemy import select
    from routing.models import GeoImport
    from routing.router import street_offices
    from store.db import utcnow
    from tickets.models import GridCell
    now = utcnow()
    rows = {r.code: r for r in session.scalars(select(GridCell))}
    counts = {"cells": len(grid.cells), "added": 0, "updated": 0, "retired": 0, "unchanged": 0}
    codes = set()
    for c in grid.cells:
        codes.add(c.code)
        values = {"name": c.name, "street_code": c.street_code, "street": c.street,
                  "community_code": c.community_code, "community": c.community, "worker": c.worker,
                  "district": c.district, "geometry": json.loads(json.dumps(mapping(c.geometry)))}
        row = rows.get(c.code)
        if row is None:
            session.add(GridCell(code=c.code, retired_at=None, **values))
            counts["added"] += 1
        elif row.retired_at is not None or any(getattr(row, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(row, k, v)
            row.retired_at = None
            counts["updated"] += 1
        else:
            counts["unchanged"] += 1
    for code, row in rows.items():
        if code not in codes and row.retired_at is None:
            row.retired_at = now   # kept: cases filed in it still point at it
            counts["retired"] += 1
    counts["departments_added"] = upsert_departments(session, street_offices(rules, {c.street for c in grid.cells})) if rules else 0
    last = session.scalars(select(GeoImport).where(GeoImport.kind == "grids").order_by(GeoImport.id.desc()).limit(1)).first()
    changed = counts["added"] or counts["updated"] or counts["retired"]
    if changed or last is None or last.sha256 != sha:
        entry = GeoImport(kind="grids", source=source, sha256=sha, crs=grid.crs, rows=len(grid.cells),
                          summary=dict(counts), imported_at=now)
        session.add(entry)
        session.flush()
        counts["import_id"] = entry.id
    else:
        counts["import_id"] = last.id
    counts["crs"] = grid.crs
    return counts


def import_grids(db, path: Path, rules=None, divisions: Path | None = None, tolerance_m2: float = 1.0,
                 dry_run: bool = False) -> tuple[dict, ImportReport]:
    """Check the file; if clean, write it in one transaction. Raises ImportRejected otherwise."""
    path = Path(path)
    grid, rep = read_grid_file(path, divisions, tolerance_m2)
    if grid is None:
        raise ImportRejected(rep)
    if dry_run:
        return {"cells": len(grid.cells), "crs": grid.crs}, rep
    with db.session() as s:
        summary = save_grid(s, grid, path.name, sha256_of(path), rules)
        s.commit()
    return summary, rep
