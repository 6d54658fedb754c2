"""Inline SVG: the heat map of cases over grid cells (from their GeoJSON, no map tiles) and a trend
chart. Strings are built here and escaped here, so templates insert them as they are."""
from __future__ import annotations

import math

from markupsafe import Markup, escape

HEAT = ["#eef2f7", "#fde0c5", "#facba6", "#f8b58b", "#f59e72", "#f2855d", "#ef6a4c", "#e34a33", "#b30000"]


def _colour(n: int, top: int) -> str:
    if n <= 0 or top <= 0:
        return HEAT[0]
    step = math.ceil(len(HEAT[1:]) * math.log1p(n) / math.log1p(top))
    return HEAT[max(1, min(step, len(HEAT) - 1))]


def heatmap(shapes, counts: dict[str, int], href=None, width: int = 800, max_height: int = 640) -> Markup:
    """shapes: (code, name, street, rings) as indicators.cell_shapes gives them."""
    points = [(lon, lat) for _c, _n, _s, rings in shapes for ring in rings for lon, lat in ring]
    if not points:
        return Markup('<p class="muted">没有网格数据</p>')
    lons, lats = [p[0] for p in points], [p[1] for p in points]
    lon0, lon1, lat0, lat1 = min(lons), max(lons), min(lats), max(lats)
    kx = math.cos(math.radians((lat0 + lat1) / 2))  # equirectangular: keep the city's proportions
    scale = min(width / max((lon1 - lon0) * kx, 1e-9), max_height / max(lat1 - lat0, 1e-9))
    width, height = int((lon1 - lon0) * kx * scale) + 1, int((lat1 - lat0) * scale) + 1
    top = max(counts.values(), default=0)
    parts = [f'<svg class="heat" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
             f'role="img" aria-label="各网格案卷数热力图">']
    for code, name, street, rings in shapes:
        n = counts.get(code, 0)
        d = " ".join("M" + " L".join(f"{(lon - lon0) * kx * scale:.1f},{(lat1 - lat) * scale:.1f}" for lon, lat in ring)
                     + "Z" for ring in rings)
        title = escape(f"{code} {name}（{street}）：{n} 件")
        path = f'<path d="{d}" fill="{_colour(n, top)}" data-cell="{escape(code)}" data-count="{n}"><title>{title}</title></path>'
        if href and n:
            path = f'<a href="{escape(href(code))}">{path}</a>'
        parts.append(path)
    parts.append("</svg>")
    legend = "".join(f'<span style="display:inline-block;width:1.2em;height:.8em;background:{c}"></span>'
                     for c in HEAT)
    return Markup("".join(parts) + f'<p class="muted">颜色由浅到深 {legend} 表示 0 到 {top} 件</p>')


def trend(rows: list[dict], series: list[tuple[str, str, str]], width: int = 800, height: int = 220) -> Markup:
    """A line per series over days. series: (field, label, colour)."""
    if not rows:
        return Markup('<p class="muted">没有数据</p>')
    left, bottom, top_pad = 36, 28, 10
    plot_w, plot_h = width - left - 10, height - bottom - top_pad
    top = max([1] + [r[f] for r in rows for f, _l, _c in series])
    n = len(rows)
    x = lambda i: left + (plot_w * i / max(n - 1, 1))  # noqa: E731
    y = lambda v: top_pad + plot_h - plot_h * v / top  # noqa: E731
    out = [f'<svg class="trend" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
           f'aria-label="趋势图">']
    for frac in (0, .5, 1):
        v = round(top * frac)
        out.append(f'<line x1="{left}" x2="{width - 10}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#d8dee6"/>'
                   f'<text x="{left - 4}" y="{y(v) + 4:.1f}" font-size="11" text-anchor="end">{v}</text>')
    for i, r in enumerate(rows):
        if i % max(1, n // 6) == 0 or i == n - 1:
            anchor = "end" if i == n - 1 else "middle"
            out.append(f'<text x="{x(i):.1f}" y="{height - 8}" font-size="11" text-anchor="{anchor}">'
                       f'{escape(r["day"][5:])}</text>')
    for f, label, colour in series:
        pts = " ".join(f"{x(i):.1f},{y(r[f]):.1f}" for i, r in enumerate(rows))
        out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{pts}">'
                   f'<title>{escape(label)}</title></polyline>')
    out.append("</svg>")
    legend = " ".join(f'<span style="color:{c}">━ {escape(label)}</span>' for _f, label, c in series)
    return Markup("".join(out) + f'<p class="muted">{legend}</p>')
