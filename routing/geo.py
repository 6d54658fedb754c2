"""Coordinate systems: WGS-84 (GPS, Telegram, Open311) and GCJ-02 (China's map datum, 高德/腾讯).

Inside Gridline every point and polygon is WGS-84 lon/lat. A grid file says which system it is in
(`crs_name`: WGS84 or GCJ02) and is converted once at import; a point that arrives in GCJ-02 is
converted before its cell is looked up, so points and grids always agree.

The GCJ-02 offset is the standard published algorithm (Krasovsky 1940 ellipsoid, a = 6378245.0,
e² = 0.00669342162296594323), as in googollee/eviltransform (BSD-2-Clause,
https://github.com/googollee/eviltransform) and wandergis/coordtransform (MIT,
https://github.com/wandergis/coordtransform). It is the same everywhere it is published; written
out here with numpy so whole polygons convert at once. GCJ-02 → WGS-84 has no closed form: it is
solved by fixed-point iteration, which converges to well under a millimetre in a few steps.
"""
from __future__ import annotations

import numpy as np

WGS84, GCJ02 = "WGS84", "GCJ02"
_ALIASES = {
    "WGS84": WGS84, "WGS-84": WGS84, "EPSG:4326": WGS84, "CRS84": WGS84, "OGC:CRS84": WGS84,
    "URN:OGC:DEF:CRS:OGC:1.3:CRS84": WGS84, "URN:OGC:DEF:CRS:EPSG::4326": WGS84,
    "GCJ02": GCJ02, "GCJ-02": GCJ02, "MARS": GCJ02, "火星坐标": GCJ02,
}
_A = 6378245.0
_EE = 0.00669342162296594323
# Where GCJ-02 applies (the published bounding box of China); outside it GCJ-02 equals WGS-84.
CHINA = (72.004, 0.8293, 137.8347, 55.8271)   # lon_min, lat_min, lon_max, lat_max


class UnknownCRS(ValueError):
    pass


def crs_name(name: str | None) -> str:
    """'WGS84', 'EPSG:4326', 'gcj-02'… → WGS84 or GCJ02; None means GeoJSON's own default, WGS-84."""
    if name is None or str(name).strip() == "":
        return WGS84
    key = str(name).strip().upper()
    if key not in _ALIASES:
        raise UnknownCRS(f"未知坐标系 '{name}'（支持 WGS84、GCJ02）")
    return _ALIASES[key]


def plausible_range(crs: str) -> tuple[float, float, float, float]:
    """lon_min, lat_min, lon_max, lat_max a coordinate in this system can take."""
    return CHINA if crs == GCJ02 else (-180.0, -90.0, 180.0, 90.0)


def range_problem(lon, lat, crs: str) -> str | None:
    """Why these coordinates (arrays) cannot be lon/lat in `crs`, or None when they can: outside
    the system's range, latitude and longitude swapped, or projected metres."""
    lon, lat = np.atleast_1d(np.asarray(lon, dtype=float)), np.atleast_1d(np.asarray(lat, dtype=float))
    box = plausible_range(crs)

    def within(a, b, bx):
        return bool(np.all((a >= bx[0]) & (a <= bx[2]) & (b >= bx[1]) & (b <= bx[3])))
    sample = f"[{lon[0]:g}, {lat[0]:g}]"
    if (not within(lon, lat, box) and within(lat, lon, box)) or (not within(lon, lat, CHINA) and within(lat, lon, CHINA)):
        return f"经纬度顺序颠倒：坐标应写成 [经度, 纬度]，这里是 {sample}，像是 [纬度, 经度]"
    if not within(lon, lat, box):
        if max(np.abs(lon).max(), np.abs(lat).max()) > 1000:
            return f"坐标 {sample} 不是经纬度，像是投影坐标（米）：请先转换为 WGS84 或 GCJ02 经纬度"
        return f"坐标 {sample} 超出 {crs} 的合理范围（经度 {box[0]:g}–{box[2]:g}，纬度 {box[1]:g}–{box[3]:g}）"
    return None


def _in_china(lon, lat):
    return (lon >= CHINA[0]) & (lon <= CHINA[2]) & (lat >= CHINA[1]) & (lat <= CHINA[3])


def _offset(lon, lat):
    """The GCJ-02 offset (dlon, dlat) in degrees at a WGS-84 point (arrays or floats)."""
    x, y = lon - 105.0, lat - 35.0
    pi = np.pi
    dlat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
            + (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
            + (20.0 * np.sin(y * pi) + 40.0 * np.sin(y / 3.0 * pi)) * 2.0 / 3.0
            + (160.0 * np.sin(y / 12.0 * pi) + 320.0 * np.sin(y * pi / 30.0)) * 2.0 / 3.0)
    dlon = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
            + (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
            + (20.0 * np.sin(x * pi) + 40.0 * np.sin(x / 3.0 * pi)) * 2.0 / 3.0
            + (150.0 * np.sin(x / 12.0 * pi) + 300.0 * np.sin(x / 30.0 * pi)) * 2.0 / 3.0)
    radlat = lat / 180.0 * pi
    magic = 1 - _EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrtmagic) * pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * np.cos(radlat) * pi)
    inside = _in_china(lon, lat)
    return np.where(inside, dlon, 0.0), np.where(inside, dlat, 0.0)


def wgs84_to_gcj02(lon, lat):
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    dlon, dlat = _offset(lon, lat)
    return _out(lon + dlon, lat + dlat)


def gcj02_to_wgs84(lon, lat, iterations: int = 8):
    """Invert the offset: find the WGS-84 point whose GCJ-02 image is (lon, lat)."""
    glon, glat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    wlon, wlat = glon.copy(), glat.copy()
    for _ in range(iterations):
        dlon, dlat = _offset(wlon, wlat)
        wlon, wlat = glon - dlon, glat - dlat
    return _out(wlon, wlat)


def _out(lon, lat):
    if np.ndim(lon) == 0:
        return float(lon), float(lat)
    return lon, lat


def to_wgs84(lon, lat, crs: str | None = WGS84):
    return gcj02_to_wgs84(lon, lat) if crs_name(crs) == GCJ02 else _out(np.asarray(lon, float), np.asarray(lat, float))


def geometry_to_wgs84(geom, crs: str):
    """A shapely geometry in `crs` as WGS-84 (vertex by vertex; shared edges stay shared)."""
    import shapely

    if crs_name(crs) == WGS84:
        return geom

    def convert(coords):
        lon, lat = gcj02_to_wgs84(coords[:, 0], coords[:, 1])
        return np.column_stack((lon, lat))
    return shapely.transform(geom, convert)


def metres_per_degree(lat: float) -> tuple[float, float]:
    """Metres per degree of longitude and of latitude near `lat` (for areas and distances in reports)."""
    return 111_320.0 * float(np.cos(np.radians(lat))), 111_035.0
