"""Point → cell on the demo grid, the shared-edge rule, WGS-84 ⇄ GCJ-02, the hierarchy, and routing
by place (属地街道办事处 → the cell's street office; per-street and per-district overrides)."""
from __future__ import annotations

import json
import random

import pytest
from shapely.geometry import Point

from config import ROOT
from routing import geo
from routing.grids import GridIndex
from routing.router import route
from routing.rules import LOCAL_OFFICE, RulesError, load_rules

DEMO = ROOT / "data" / "demo"
SHIPPED = ROOT / "routing_rules.yaml"


@pytest.fixture(scope="module")
def grid():
    return GridIndex.from_geojson(DEMO / "grids.geojson")


@pytest.fixture(scope="module")
def rules():
    return load_rules(SHIPPED)


# ---------------------------------------------------------------- coordinates


def test_gcj02_matches_the_published_test_vectors():
    # wandergis/coordtransform test/app.js: wgs84togcj02(116.404, 39.915)
    assert geo.wgs84_to_gcj02(116.404, 39.915) == pytest.approx((116.41024449916938, 39.91640428150164), abs=1e-9)
    # googollee/eviltransform tests: Beijing
    assert geo.wgs84_to_gcj02(116.377817, 39.911954) == pytest.approx((116.38404722455657, 39.91334545536069), abs=1e-9)


def test_gcj02_back_to_wgs84_within_a_millimetre():
    rng = random.Random(7)
    lons = [rng.uniform(116.39, 116.445) for _ in range(500)]
    lats = [rng.uniform(39.858, 39.965) for _ in range(500)]
    glon, glat = geo.wgs84_to_gcj02(lons, lats)
    wlon, wlat = geo.gcj02_to_wgs84(glon, glat)
    assert max(abs(a - b) for a, b in zip(wlon, lons)) < 1e-8
    assert max(abs(a - b) for a, b in zip(wlat, lats)) < 1e-8
    # the offset in Beijing is a few hundred metres, so mixing the two systems would misplace cells
    assert 400 < (glon[0] - lons[0]) * geo.metres_per_degree(lats[0])[0] < 700


def test_outside_china_gcj02_is_wgs84():
    assert geo.wgs84_to_gcj02(2.3522, 48.8566) == (2.3522, 48.8566)


def test_crs_names():
    assert geo.crs_name("EPSG:4326") == geo.crs_name(None) == geo.WGS84
    assert geo.crs_name("gcj-02") == geo.GCJ02
    with pytest.raises(geo.UnknownCRS):
        geo.crs_name("BD09")


# ---------------------------------------------------------------- point → cell


def test_a_point_finds_its_cell_and_outside_finds_none(grid):
    assert len(grid.cells) == 1652
    for cell in grid.cells[::97]:
        p = cell.geometry.representative_point()
        assert grid.cell_at(p.x, p.y) is cell
    assert grid.cell_at(116.50, 39.95) is None


def test_a_point_on_a_shared_edge_or_corner_goes_to_the_lowest_code(grid):
    from shapely.geometry import box
    from routing.grids import Cell

    def square(code, x0):
        return Cell(code, code, code[:9], "街道", code[:12], "社区", "", box(x0, 39.91, x0 + 0.001, 39.911))
    pair = [square("110101001001002", 116.400), square("110101001001001", 116.401)]
    for order in (pair, pair[::-1]):                       # the file's order does not matter
        assert GridIndex(order).cell_at(116.401, 39.9105).code == "110101001001001"
    shuffled = GridIndex(list(reversed(grid.cells)))
    shared = 0
    for a in grid.cells[:200]:
        for x, y in a.geometry.exterior.coords:             # vertices are exact: shared ones lie in every owner
            owners = [grid.cells[int(i)].code for i in grid.tree.query(Point(x, y), predicate="covered_by")]
            if len(owners) >= 2:
                assert grid.cell_at(x, y).code == shuffled.cell_at(x, y).code == min(owners)
                shared += 1
    assert shared > 500


def test_many_points_at_once_agree_with_one_by_one(grid):
    rng = random.Random(3)
    lons = [rng.uniform(116.385, 116.45) for _ in range(3000)]
    lats = [rng.uniform(39.855, 39.97) for _ in range(3000)]
    many = grid.cells_at(lons, lats)
    assert many == [grid.cell_at(x, y) for x, y in zip(lons, lats)]
    assert sum(c is None for c in many) > 0 and sum(c is not None for c in many) > 1500


def test_a_gcj02_grid_file_and_gcj02_points(grid, tmp_path):
    cells = grid.in_community(grid.cells[0].community_code)
    features = []
    for c in cells:
        ring = [list(geo.wgs84_to_gcj02(x, y)) for x, y in c.geometry.exterior.coords]
        features.append({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
                         "properties": {**c.as_dict(), "worker": c.worker}})
    path = tmp_path / "gcj.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "crs_name": "GCJ02", "features": features},
                               ensure_ascii=False), encoding="utf-8")
    converted = GridIndex.from_geojson(path)
    for c in cells:
        p = c.geometry.representative_point()                  # a GPS (WGS-84) point
        assert converted.cell_at(p.x, p.y).code == c.code
        assert grid.cell_at(*geo.wgs84_to_gcj02(p.x, p.y), crs="GCJ02").code == c.code
        # without the conversion the same numbers land hundreds of metres away, in another cell
        assert grid.cell_at(*geo.wgs84_to_gcj02(p.x, p.y)) is not c


# ---------------------------------------------------------------- hierarchy


def test_cell_community_street_district(grid):
    cell = grid.by_code["110101001001001"]
    levels = [(lv.level, lv.code, lv.name) for lv in cell.chain()]
    assert levels == [("cell", "110101001001001", "东华门街道多福巷社区第1网格"),
                      ("community", "110101001001", "多福巷社区"), ("street", "110101001", "东华门街道"),
                      ("district", "110101", "东城区")]
    assert len(grid.streets()) == 17
    assert all(c.code.startswith("110101001001") for c in grid.in_community("110101001001"))
    assert grid.community_codes("多福巷社区") == ["110101001001"]


# ---------------------------------------------------------------- routing by place


def _local_category(rules):
    return next(c for c in rules.categories if c.department == LOCAL_OFFICE and not c.urgent)


def test_the_local_office_is_the_street_office_of_the_cell(rules, grid):
    cat = _local_category(rules)
    cell = grid.by_code["110101001001001"]
    r = route(rules, cat.code, False, cell)
    assert r.department == "东华门街道办事处"
    assert "属地：东华门街道" in r.reason
    assert r.escalate_to == rules.departments[LOCAL_OFFICE].escalate_to
    assert [lv.level for lv in r.chain] == ["cell", "community", "street", "district"]
    other = next(c for c in grid.cells if c.street == "前门街道")
    assert route(rules, cat.code, False, other).department == "前门街道办事处"
    assert route(rules, cat.code, False).department == LOCAL_OFFICE     # no cell: the rules as written


AREAS = """
areas:
  - street: 前门街道
    categories: {"06010": 东城区城管执法局}
    departments: {东城区环境卫生服务中心: 属地街道办事处}
  - district: "110101"
    departments: {东城区城市管理委员会: 东城区住房和城市建设委员会, 东城区环境卫生服务中心: 东城区水务局}
"""


def test_a_street_or_district_can_have_its_own_department(rules, grid, tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text(SHIPPED.read_text(encoding="utf-8") + AREAS, encoding="utf-8")
    local = load_rules(path)
    qianmen = next(c for c in grid.cells if c.street == "前门街道")
    donghuamen = grid.by_code["110101001001001"]
    sanitation = next(c.code for c in local.categories if c.department == "东城区环境卫生服务中心" and c.code != "06010")
    # the street's category entry first, then the street's department entry, then the district's
    assert route(local, "06010", False, qianmen).department == "东城区城管执法局"
    assert route(local, sanitation, False, qianmen).department == "前门街道办事处"
    assert route(local, sanitation, False, donghuamen).department == "东城区水务局"
    r = route(local, "01037", False, donghuamen)                          # 路灯异常: 城管委 by default
    assert r.department == "东城区住房和城市建设委员会" and "110101属地分派" in r.reason
    assert route(local, "01037", False).department == "东城区城市管理委员会"


def test_mistakes_in_the_areas_name_their_line(tmp_path):
    text = SHIPPED.read_text(encoding="utf-8")
    base = text.count("\n") + 1
    path = tmp_path / "rules.yaml"
    path.write_text(text + """areas:
  - street: 前门街道
    departments: {东城区环境卫生服务中心: 前门环卫所}
  - street: 天坛街道
    district: "110101"
    categories: {"06010": 东城区城管执法局}
  - district: 东城区
    categories: {"99999": 东城区城管执法局}
""", encoding="utf-8")
    with pytest.raises(RulesError) as e:
        load_rules(path)
    errors = e.value.errors
    assert any(f":{base + 2}: 未知部门 '前门环卫所'" in m for m in errors), errors
    assert any(f":{base + 3}: 属地分派: 须写 street" in m for m in errors), errors
    assert any(f":{base + 7}: 未知类别编码 '99999'" in m for m in errors), errors


def test_every_street_office_is_a_department_the_cases_can_go_to(ctx):
    from sqlalchemy import select
    from tickets.models import Department, GridCell
    with ctx.db.session() as s:
        names = set(s.scalars(select(Department.name)))
        cell = s.get(GridCell, "110101001001001")
        assert cell.district == "东城区" and cell.geometry["type"] == "Polygon" and cell.retired_at is None
    assert {f"{street}办事处" for street in ctx.grids.streets().values()} <= names
    assert LOCAL_OFFICE in names    # kept: consoles and hand dispatch may still name it
