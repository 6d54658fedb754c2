"""`gridline import-grids` and `gridline import-gazetteer`: clean files load in one go and the running
app picks them up; bad files are reported by feature index or line, and nothing is half-imported.

Each test gets its own database (a SQLite file, or a scratch PostgreSQL database when the suite
runs on PostgreSQL), so replacing the grid here never disturbs the demo city the other tests use.
"""
from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, delete, func, select, text
from sqlalchemy.engine import make_url

from config import ROOT, Config
from intake import context as context_module
from intake.context import Context
from routing import geo
from routing.importers import ImportRejected
from routing.models import GazetteerEntry, GeoImport
from store.migrate import upgrade
from tickets.models import Department, GridCell

DIVISIONS = ROOT / "data" / "demo" / "divisions.csv"
STREET, COMMUNITY, OTHER = "东华门街道", "多福巷社区", "银闸社区"   # 110101001001, 110101001002
LON0, LAT0, STEP = 116.3950, 39.9120, 0.001


@pytest.fixture(scope="module")
def scratch_url(tmp_path_factory):
    url = os.environ.get("DATABASE_URL") or ""
    if not url.startswith("postgresql"):
        url = f"sqlite:///{tmp_path_factory.mktemp('grid') / 'grid.db'}"
        upgrade(url)
        yield url
        return
    name = f"gridline_scratch_{uuid.uuid4().hex[:10]}"
    admin = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    scratch = make_url(url).set(database=name).render_as_string(hide_password=False)
    upgrade(scratch)
    yield scratch
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="module")
def shipped_rules():
    from routing.rules import load_rules
    return load_rules(ROOT / "routing_rules.yaml")


@pytest.fixture
def city(scratch_url, shipped_rules, tmp_path):
    """A context on an empty scratch database, current for the CLI, checking for new imports on every call."""
    cfg = Config(var_dir=tmp_path / "var", database_url=scratch_url, redis_url=None)
    c = Context(cfg)
    c.rules = shipped_rules   # loaded once for the module (a cached_property takes the assignment)
    with c.db.session() as s:
        for model in (GazetteerEntry, GeoImport, GridCell, Department):
            s.execute(delete(model))
        s.commit()
    c.grid_source.check_every = c.gazetteer_source.check_every = 0
    before = context_module._current
    context_module.set_current(c)
    yield c
    context_module.set_current(before)
    c.db.dispose()


def square(col: int, row: int, dx: float = 0.0) -> list:
    x, y = LON0 + col * STEP + dx, LAT0 - row * STEP
    return [[x, y], [x + STEP, y], [x + STEP, y - STEP], [x, y - STEP], [x, y]]


def feature(seq: int, ring: list | None = None, community: str = COMMUNITY, ccode: str = "110101001001", **extra) -> dict:
    code = f"{ccode}{seq:03d}"
    props = {"code": code, "name": f"{STREET}{community}第{seq}网格", "street": STREET, "community": community,
             "worker": "王小明"}
    props.update(extra.pop("props", {}))
    geometry = extra.pop("geometry", {"type": "Polygon", "coordinates": [ring]})
    return {"type": "Feature", "properties": props, "geometry": geometry}


def grid_file(tmp_path, features, name="grid.geojson", crs="WGS84", **top) -> Path:
    path = tmp_path / name
    data = {"type": "FeatureCollection", "crs_name": crs, "district": "东城区", "features": features, **top}
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def two_by_two() -> list:
    """Four cells: 多福巷社区 001-002 on top, 银闸社区 001-002 below."""
    return [feature(1, square(0, 0)), feature(2, square(1, 0)),
            feature(1, square(0, 1), OTHER, "110101001002"), feature(2, square(1, 1), OTHER, "110101001002")]


def run(*args):
    from cli import cli
    return CliRunner().invoke(cli, [str(a) for a in args])


def counts(c) -> tuple[int, int]:
    with c.db.session() as s:
        return s.scalar(select(func.count(GridCell.code))), s.scalar(select(func.count(GeoImport.id)))


# ------------------------------------------------------------------ grids: the good path


def test_a_clean_grid_loads_and_the_running_app_uses_it(city, tmp_path):
    assert len(city.grids.cells) == 1652                      # nothing imported yet: the demo file
    r = run("import-grids", grid_file(tmp_path, two_by_two()), "--divisions", DIVISIONS)
    assert r.exit_code == 0, r.output
    assert "新增 4" in r.output and "坐标系 WGS84" in r.output
    grids = city.grids
    assert [c.code for c in grids.cells] == ["110101001001001", "110101001001002",
                                             "110101001002001", "110101001002002"]
    cell = grids.cell_at(LON0 + 1.5 * STEP, LAT0 - 0.5 * STEP)
    assert (cell.code, cell.community, cell.street, cell.district) == ("110101001001002", COMMUNITY, STREET, "东城区")
    assert cell.worker == "王小明"
    with city.db.session() as s:
        assert s.scalar(select(Department.id).where(Department.name == "东华门街道办事处")) is not None


def test_importing_the_same_file_again_changes_nothing(city, tmp_path):
    path = grid_file(tmp_path, two_by_two())
    assert run("import-grids", path).exit_code == 0
    version = city.grids.version
    r = run("import-grids", path)
    assert r.exit_code == 0 and "未变 4" in r.output
    assert counts(city) == (4, 1) and city.grids.version == version


def test_a_cell_left_out_of_a_new_file_is_retired_not_deleted(city, tmp_path):
    assert run("import-grids", grid_file(tmp_path, two_by_two())).exit_code == 0
    r = run("import-grids", grid_file(tmp_path, two_by_two()[:3], name="smaller.geojson"))
    assert r.exit_code == 0 and "停用 1" in r.output
    assert "110101001002002" not in city.grids.by_code
    with city.db.session() as s:
        assert s.get(GridCell, "110101001002002").retired_at is not None   # old cases still point at it
    assert run("import-grids", grid_file(tmp_path, two_by_two(), name="again.geojson")).exit_code == 0
    assert "110101001002002" in city.grids.by_code


def test_a_gcj02_grid_is_stored_as_wgs84(city, tmp_path):
    features = two_by_two()
    for f in features:
        ring = f["geometry"]["coordinates"][0]
        f["geometry"]["coordinates"][0] = [list(geo.wgs84_to_gcj02(x, y)) for x, y in ring]
    r = run("import-grids", grid_file(tmp_path, features, crs="GCJ02"))
    assert r.exit_code == 0 and "坐标系 GCJ02" in r.output
    lon, lat = LON0 + 0.5 * STEP, LAT0 - 1.5 * STEP
    assert city.grids.cell_at(lon, lat).code == "110101001002001"                 # a GPS point
    assert city.grids.cell_at(*geo.wgs84_to_gcj02(lon, lat), crs="GCJ02").code == "110101001002001"
    with city.db.session() as s:
        x, y = s.get(GridCell, "110101001001001").geometry["coordinates"][0][0]
    assert abs(x - LON0) < 1e-7 and abs(y - LAT0) < 1e-7


# ------------------------------------------------------------------ grids: bad input, nothing written


def _rejected(city, tmp_path, features, *expected, **top):
    from routing.grid_file import import_grids
    path = grid_file(tmp_path, features, name=f"bad-{uuid.uuid4().hex[:6]}.geojson", **top)
    before = counts(city)
    with pytest.raises(ImportRejected) as e:
        import_grids(city.db, path, rules=city.rules, divisions=DIVISIONS)
    text = "\n".join(e.value.report.errors)
    for part in expected:
        assert part in text, text
    assert counts(city) == before          # nothing half-imported
    return e.value.report


@pytest.mark.parametrize("mutate, expected", [
    (lambda fs: fs[2]["properties"].update(code="11010100100200X"), ["features[2]", "应为 15 位数字"]),
    (lambda fs: fs[3]["properties"].update(code="110101001002001"),
     ["features[3] (110101001002001)", "重复（features[2] 已有）"]),
    (lambda fs: fs[1].update(geometry=None), ["features[1] (110101001001002)", "没有几何"]),
    (lambda fs: fs[1]["geometry"].update(type="LineString"), ["features[1]", "几何类型是 LineString"]),
    (lambda fs: fs[1]["geometry"]["coordinates"][0].pop(), ["features[1]", "未闭合"]),
    (lambda fs: fs[1]["geometry"].update(coordinates=[[[116.39, 39.91], [116.40, 39.91], [116.39, 39.91]]]),
     ["features[1]", "只有 3 个点"]),
    (lambda fs: fs[1]["properties"].pop("street"), ["features[1] (110101001001002)", "缺少 street"]),
    (lambda fs: fs[1]["properties"].update(street_code="110101002"), ["street_code 110101002 与网格编码前 9 位"]),
    (lambda fs: fs[1]["properties"].update(community="银闸社区"),
     ["features[1]", "社区代码 110101001001 在 features[0] 是 东华门街道多福巷社区"]),
])
def test_bad_features_are_named_by_index_and_code(city, tmp_path, mutate, expected):
    features = two_by_two()
    mutate(features)
    _rejected(city, tmp_path, features, *expected)


def test_a_self_intersecting_cell_is_reported_with_where_it_crosses(city, tmp_path):
    features = two_by_two()
    x, y = LON0 + STEP, LAT0
    bow_tie = [[x, y], [x + STEP, y - STEP], [x + STEP, y], [x, y - STEP], [x, y]]
    features[1]["geometry"]["coordinates"] = [bow_tie]
    _rejected(city, tmp_path, features, "features[1] (110101001001002): 几何无效：边界自相交，位置 116.396500, 39.911500")


def test_swapped_latitude_and_longitude_are_recognised(city, tmp_path):
    features = two_by_two()
    features[0]["geometry"]["coordinates"] = [[[y, x] for x, y in square(0, 0)]]
    _rejected(city, tmp_path, features, "features[0] (110101001001001): 经纬度顺序颠倒", "[39.912, 116.395]")


def test_a_projected_file_is_not_taken_for_lon_lat(city, tmp_path):
    features = two_by_two()
    features[0]["geometry"]["coordinates"] = [[[500000 + x * 1e3, 4400000 + y * 1e3] for x, y in square(0, 0)]]
    _rejected(city, tmp_path, features, "features[0]", "像是投影坐标（米）")


def test_gcj02_coordinates_outside_china_are_out_of_range(city, tmp_path):
    features = [feature(1, [[2.35 + x - LON0, 48.85 + y - LAT0] for x, y in square(0, 0)])]
    _rejected(city, tmp_path, features, "超出 GCJ02 的合理范围", crs="GCJ02")


def test_overlapping_cells_are_reported_with_their_area(city, tmp_path):
    features = two_by_two()
    features[1]["geometry"]["coordinates"] = [square(1, 0, dx=-STEP / 2)]
    report = _rejected(city, tmp_path, features, "features[0] (110101001001001): 与 features[1] (110101001001002) 重叠约")
    assert any("m²" in e for e in report.errors)


def test_a_gap_between_cells_is_reported_with_its_neighbours(city, tmp_path):
    ring = [feature(k + 1, square(c, r)) for k, (c, r) in enumerate(
        [(0, 0), (1, 0), (2, 0), (0, 1), (2, 1), (0, 2), (1, 2), (2, 2)])]   # a 3×3 block without its centre
    _rejected(city, tmp_path, ring, "网格之间有空隙约", "周边网格 110101001001001")


def test_codes_the_divisions_table_does_not_know(city, tmp_path):
    features = two_by_two()
    for f in features[2:]:
        f["properties"]["code"] = "110101001099" + f["properties"]["code"][-3:]
    _rejected(city, tmp_path, features, "features[2] (110101001099001): 未知社区代码 110101001099")


def test_broken_json_and_unknown_crs(city, tmp_path):
    from routing.grid_file import import_grids
    path = tmp_path / "broken.geojson"
    path.write_text('{"type": "FeatureCollection",\n "features": [\n  {"type": "Feature",,}]}', encoding="utf-8")
    with pytest.raises(ImportRejected) as e:
        import_grids(city.db, path)
    assert "broken.geojson:3: JSON 语法错误" in e.value.report.errors[0]
    _rejected(city, tmp_path, two_by_two(), "未知坐标系 'BD09'", crs="BD09")


def test_one_bad_feature_among_good_ones_imports_nothing_and_the_cli_exits_1(city, tmp_path):
    assert run("import-grids", grid_file(tmp_path, two_by_two()[:2])).exit_code == 0
    features = two_by_two()
    features[3]["geometry"]["coordinates"] = [[[y, x] for x, y in square(1, 1)]]
    r = run("import-grids", grid_file(tmp_path, features, name="mixed.geojson"))
    assert r.exit_code == 1
    assert "mixed.geojson features[3] (110101001002002): 经纬度顺序颠倒" in r.output
    assert "未导入任何数据" in r.output
    assert counts(city) == (2, 1) and len(city.grids.cells) == 2


# ------------------------------------------------------------------ gazetteer


GAZ_HEADER = "kind,name,aliases,street,community,lon,lat,lon2,lat2,num_from,num_to\n"


def gazetteer(tmp_path, *lines, name="places.csv") -> Path:
    path = tmp_path / name
    path.write_text(GAZ_HEADER + "".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def good_places() -> list[str]:
    y = LAT0 - STEP / 2
    return [f"community,{COMMUNITY},,{STREET},{COMMUNITY},{LON0 + STEP:.6f},{y:.6f},,,,",
            f"road,小菊胡同,小菊儿胡同,,,{LON0:.6f},{y:.6f},{LON0 + 2 * STEP:.6f},{y:.6f},1,40",
            f"landmark,菊香书屋,书屋,{STREET},{OTHER},{LON0 + 0.5 * STEP:.6f},{LAT0 - 1.5 * STEP:.6f},,,,"]


def test_a_clean_gazetteer_loads_and_places_are_found_in_the_new_grid(city, tmp_path):
    assert run("import-grids", grid_file(tmp_path, two_by_two())).exit_code == 0
    r = run("import-gazetteer", gazetteer(tmp_path, *good_places()))
    assert r.exit_code == 0, r.output
    assert "地名 3" in r.output
    place = city.gazetteer.find("小菊胡同30号门口垃圾没人清")
    assert place.kind == "house_number" and place.candidates == ["110101001001002"]
    place = city.gazetteer.find("菊香書屋對面有人摆摊")                  # traditional characters
    assert place.kind == "landmark" and place.candidates == ["110101001002001"]
    assert run("import-gazetteer", gazetteer(tmp_path, *good_places())).output.startswith("地名与上次导入相同")


def _gaz_rejected(city, tmp_path, lines, *expected):
    from classifiers.gazetteer_file import import_gazetteer
    path = gazetteer(tmp_path, *lines, name=f"bad-{uuid.uuid4().hex[:6]}.csv")
    with city.db.session() as s:
        before = s.scalar(select(func.count(GazetteerEntry.id)))
    with pytest.raises(ImportRejected) as e:
        import_gazetteer(city.db, path, grids=city.grids)
    text = "\n".join(e.value.report.errors)
    for part in expected:
        assert part in text, text
    with city.db.session() as s:
        assert s.scalar(select(func.count(GazetteerEntry.id))) == before


def test_one_name_in_two_communities_is_reported_with_both_lines(city, tmp_path):
    assert run("import-grids", grid_file(tmp_path, two_by_two())).exit_code == 0
    lines = good_places() + [f"xiaoqu,书屋,,{STREET},{COMMUNITY},{LON0 + 0.5 * STEP:.6f},{LAT0 - 0.5 * STEP:.6f},,,,"]
    _gaz_rejected(city, tmp_path, lines, ":5: '书屋' 与第 4 行的 '菊香书屋' 重名，分属银闸社区与多福巷社区")


@pytest.mark.parametrize("line, expected", [
    ("park,某公园,,,,116.3955,39.9115,,,,", ":5: 未知类型 'park'"),
    ("landmark,某公园,,,,116.3955,,,,,", ":5: '某公园' 缺少坐标"),
    ("landmark,某公园,,,,39.9115,116.3955,,,,", ":5: 经纬度顺序颠倒"),
    ("landmark,某公园,,,,116.50,39.95,,,,", ":5: '某公园' 的位置 116.500000, 39.950000 不在任何网格内"),
    ("landmark,某公园,,,不存在社区,116.3955,39.9115,,,,", ":5: '某公园' 的社区 '不存在社区' 在网格中没有"),
    ("road,某某路,,,,116.3950,39.9115,116.3970,39.9115,1,", ":5: '某某路' 的门牌范围 num_from/num_to 只写了一个"),
    ("road,某某路,,,,116.3950,39.9115,,,1,20", ":5: 道路 '某某路' 有门牌范围却没有另一端坐标"),
    ("landmark,某公园,,,,116.3955,abc,,,,", ":5: lat 'abc' 不是数字"),
    ("road,小菊胡同,,,,116.3950,39.9115,116.3970,39.9115,,", ":5: 名称 '小菊胡同' 重复（第 3 行已有"),
])
def test_bad_gazetteer_lines_are_reported_with_their_line(city, tmp_path, line, expected):
    assert run("import-grids", grid_file(tmp_path, two_by_two())).exit_code == 0
    _gaz_rejected(city, tmp_path, good_places() + [line], expected)


def test_a_gazetteer_without_the_required_columns(city, tmp_path):
    from classifiers.gazetteer_file import import_gazetteer
    path = tmp_path / "wrong.csv"
    path.write_text("名称,经度,纬度\n东四,116.4,39.9\n", encoding="utf-8")
    with pytest.raises(ImportRejected) as e:
        import_gazetteer(city.db, path)
    assert "wrong.csv:1: 缺少列 kind, name, lon, lat" in e.value.report.errors[0]


def test_the_demo_city_files_pass_every_check():
    """What `make run` loads is what an import would accept."""
    from classifiers.gazetteer_file import read_gazetteer
    from routing.grid_file import read_grid_file
    from routing.grids import GridIndex
    grid, report = read_grid_file(ROOT / "data" / "demo" / "grids.geojson", DIVISIONS)
    assert report.ok and not report.warnings, report.text()
    assert len(grid.cells) == 1652
    rows, report = read_gazetteer(ROOT / "data" / "demo" / "gazetteer.csv", GridIndex(grid.cells))
    assert report.ok, report.text()
    assert len(rows) == 449
