"""A city's gazetteer (地名库) CSV: read, check, and save to gazetteer_entries.

Columns: kind,name,aliases,street,community,lon,lat,lon2,lat2,num_from,num_to
  kind       street (街道), community (社区), road (道路), xiaoqu (小区), landmark (地标), building (楼宇)
  aliases    other names, separated by |
  lon2,lat2  a road's other end; num_from,num_to its house-number range from (lon,lat) to (lon2,lat2)

Checked before anything is written, every finding with its line: unknown kinds, missing names or
coordinates, coordinates outside the CRS (or latitude and longitude swapped), a road's half-given
end or number range, streets and communities the grid does not have, places outside every cell,
and names (or aliases) used twice — in particular one name in two communities, which the text of
a message could not tell apart.
"""
from __future__ import annotations

import csv
from pathlib import Path

from shapely.geometry import LineString

from classifiers.places import KINDS, normalize
from routing import geo
from routing.importers import ImportRejected, ImportReport, sha256_of

COLUMNS = ("kind", "name", "aliases", "street", "community", "lon", "lat", "lon2", "lat2", "num_from", "num_to")
REQUIRED = ("kind", "name", "lon", "lat")
KIND_NAMES = {"街道": "street", "社区": "community", "道路": "road", "路": "road", "小区": "xiaoqu",
              "地标": "landmark", "楼宇": "building", "建筑": "building"}


def _number(value: str, what: str, rep: ImportReport, where: str, integer: bool = False):
    value = (value or "").strip()
    if value == "":
        return None
    try:
        number = float(value)
        if integer:
            if not number.is_integer():
                raise ValueError
            return int(number)
        return number
    except ValueError:
        rep.error(where, f"{what} '{value}' 不是{'整数' if integer else '数字'}")
        return None


def read_gazetteer(path: Path, grids=None, crs: str = geo.WGS84) -> tuple[list[dict] | None, ImportReport]:
    """Read and check a gazetteer CSV; the rows (WGS-84) are None when the report has errors."""
    path = Path(path)
    rep = ImportReport(path.name)
    try:
        crs = geo.crs_name(crs)
    except geo.UnknownCRS as e:
        rep.error("", str(e))
        return None, rep
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f)
            header = [h.strip() for h in (reader.fieldnames or [])]
            missing = [c for c in REQUIRED if c not in header]
            if missing:
                rep.error(":1", f"缺少列 {', '.join(missing)}（表头应为 {','.join(COLUMNS)}）")
                return None, rep
            extra = [c for c in header if c not in COLUMNS]
            if extra:
                rep.warn(":1", f"未知的列 {', '.join(extra)} 被忽略")
            reader.fieldnames = header
            raw = [(reader.line_num, r) for r in reader]
    except UnicodeDecodeError as e:
        rep.error("", f"不是 UTF-8 编码的文本（第 {e.start} 字节）")
        return None, rep
    except csv.Error as e:
        rep.error("", f"CSV 格式错误：{e}")
        return None, rep
    if not raw:
        rep.error("", "文件里没有地名")
        return None, rep
    rows, names = [], {}
    for line, r in raw:
        row = _row(line, r, grids, crs, rep)
        if row is not None:
            _check_names(row, names, rep)
            rows.append(row)
    return (rows if rep.ok else None), rep


def _row(line: int, r: dict, grids, crs: str, rep: ImportReport) -> dict | None:
    where = f":{line}"
    before = len(rep.errors)
    kind = (r.get("kind") or "").strip()
    kind = KIND_NAMES.get(kind, kind.lower())
    if kind not in KINDS:
        rep.error(where, f"未知类型 '{r.get('kind')}'（可用: {', '.join(KINDS)}）")
    name = (r.get("name") or "").strip()
    if not name:
        rep.error(where, "缺少 name")
    aliases = [a.strip() for a in (r.get("aliases") or "").split("|") if a.strip()]
    street, community = (r.get("street") or "").strip(), (r.get("community") or "").strip()
    if kind == "community" and not community:
        community = name
    if kind == "street" and not street:
        street = name
    lon, lat = _number(r.get("lon"), "lon", rep, where), _number(r.get("lat"), "lat", rep, where)
    lon2, lat2 = _number(r.get("lon2"), "lon2", rep, where), _number(r.get("lat2"), "lat2", rep, where)
    n0 = _number(r.get("num_from"), "num_from", rep, where, integer=True)
    n1 = _number(r.get("num_to"), "num_to", rep, where, integer=True)
    if len(rep.errors) > before:
        return None
    if lon is None or lat is None:
        rep.error(where, f"'{name}' 缺少坐标 lon/lat")
        return None
    if (lon2 is None) != (lat2 is None):
        rep.error(where, f"'{name}' 的另一端坐标 lon2/lat2 只写了一个")
    if (n0 is None) != (n1 is None):
        rep.error(where, f"'{name}' 的门牌范围 num_from/num_to 只写了一个")
    elif n0 is not None and (n0 == n1 or min(n0, n1) < 0):
        rep.error(where, f"'{name}' 的门牌范围 {n0}–{n1} 不合理")
    if kind != "road" and (lon2 is not None or n0 is not None):
        rep.error(where, f"只有道路（road）可以写 lon2/lat2 和门牌范围，'{name}' 是 {kind}")
    if n0 is not None and lon2 is None:
        rep.error(where, f"道路 '{name}' 有门牌范围却没有另一端坐标 lon2/lat2")
    xs, ys = [lon] + ([lon2] if lon2 is not None else []), [lat] + ([lat2] if lat2 is not None else [])
    problem = geo.range_problem(xs, ys, crs)
    if problem:
        rep.error(where, problem)
    if len(rep.errors) > before:
        return None
    lon, lat = geo.to_wgs84(lon, lat, crs)
    if lon2 is not None:
        lon2, lat2 = geo.to_wgs84(lon2, lat2, crs)
    row = {"kind": kind, "name": name, "aliases": aliases, "street": street, "community": community,
           "lon": lon, "lat": lat, "lon2": lon2, "lat2": lat2, "num_from": n0, "num_to": n1, "line": line}
    if grids is not None:
        _check_against_grid(row, grids, rep, where)
    return row


def _check_against_grid(row: dict, grids, rep: ImportReport, where: str) -> None:
    name = row["name"]
    if row["street"] and grids.street_code(row["street"]) is None:
        rep.error(where, f"'{name}' 的街道 '{row['street']}' 在网格中没有")
    if row["community"] and not grids.community_codes(row["community"]):
        rep.error(where, f"'{name}' 的社区 '{row['community']}' 在网格中没有")
    if row["kind"] == "road" and row["lon2"] is not None:
        if not grids.cells_along(LineString([(row["lon"], row["lat"]), (row["lon2"], row["lat2"])])):
            rep.error(where, f"道路 '{name}' 不经过任何网格（坐标错了？）")
        return
    cell = grids.cell_at(row["lon"], row["lat"])
    if cell is None:
        rep.error(where, f"'{name}' 的位置 {row['lon']:.6f}, {row['lat']:.6f} 不在任何网格内")
    elif row["kind"] not in ("street", "community") and row["community"] and cell.community != row["community"]:
        rep.warn(where, f"'{name}' 的位置在{cell.community}，表中写的是{row['community']}（派遣按位置）")


def _check_names(row: dict, names: dict, rep: ImportReport) -> None:
    """A name or alias may stand for one place only: the message could not tell two apart."""
    own = set()
    for n in [row["name"], *row["aliases"]]:
        key = normalize(n)
        if key in own:
            continue
        own.add(key)
        if key in names:
            line, community, other = names[key]
            where = f":{row['line']}"
            if community and row["community"] and community != row["community"]:
                rep.error(where, f"'{n}' 与第 {line} 行的 '{other}' 重名，分属{community}与{row['community']}："
                                 f"请改名或写成带社区的全名（如 {row['community']}{n}）")
            else:
                rep.error(where, f"名称 '{n}' 重复（第 {line} 行已有 '{other}'）")
        else:
            names[key] = (row["line"], row["community"], row["name"])


def save_gazetteer(session, rows: list[dict], source: str, sha: str, crs: str) -> dict:
    """Replace the gazetteer with these rows and log the import. The caller commits."""
    from sqlalchemy import delete, func, select
    from routing.models import GazetteerEntry, GeoImport
    counts = {"entries": len(rows)}
    for r in rows:
        counts[r["kind"]] = counts.get(r["kind"], 0) + 1
    last = session.scalars(select(GeoImport).where(GeoImport.kind == "gazetteer")
                           .order_by(GeoImport.id.desc()).limit(1)).first()
    have = session.scalar(select(func.count(GazetteerEntry.id)))
    if last is not None and last.sha256 == sha and have == len(rows):
        counts["unchanged"] = True
        counts["import_id"] = last.id
        return counts
    session.execute(delete(GazetteerEntry))
    session.add_all(GazetteerEntry(**r) for r in rows)
    entry = GeoImport(kind="gazetteer", source=source, sha256=sha, crs=crs, rows=len(rows), summary=dict(counts))
    session.add(entry)
    session.flush()
    counts["import_id"] = entry.id
    return counts


def import_gazetteer(db, path: Path, grids=None, crs: str = geo.WGS84,
                     dry_run: bool = False) -> tuple[dict, ImportReport]:
    """Check the file; if clean, replace the gazetteer in one transaction. Raises ImportRejected otherwise."""
    path = Path(path)
    rows, rep = read_gazetteer(path, grids, crs)
    if rows is None:
        raise ImportRejected(rep)
    if dry_run:
        return {"entries": len(rows)}, rep
    with db.session() as s:
        summary = save_gazetteer(s, rows, path.name, sha256_of(path), geo.crs_name(crs))
        s.commit()
    return summary, rep
