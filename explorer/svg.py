"""Server-rendered SVG: plot maps, the issued-vs-retired chart, QR codes.

Every piece of ledger text that enters an SVG (plot ids, labels) is escaped here; the
results are :class:`markupsafe.Markup` so templates insert them as they are.

Plot maps use an equirectangular projection scaled by cos(latitude) at the centre of the
plot set (outside consensus, so floats are fine), fitted into a viewBox whose longer side
is :data:`MAP_SIZE` units, north up. Each plot is one ``<polygon>``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import segno
from markupsafe import Markup, escape

__all__ = ["MAP_SIZE", "plot_map", "qr_svg", "vintage_chart"]

MAP_SIZE = 1000
MAP_PAD = 20
#: Fill colours cycled over plots (colour-blind-safe palette).
PALETTE = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d")
MAX_MAP_PLOTS = 1000
MAX_RING = 20_000


def _ring(plot: Mapping[str, Any]) -> list[tuple[int, int]]:
    """The exterior ring of a stored plot polygon (closing point dropped), or []."""
    poly = plot.get("polygon")
    try:
        ring = poly["coordinates"][0]  # type: ignore[index]
    except (TypeError, KeyError, IndexError):
        return []
    out = []
    for point in ring[:MAX_RING] if isinstance(ring, list) else []:
        if (
            isinstance(point, list) and len(point) == 2
            and all(type(c) is int for c in point)
        ):
            out.append((point[0], point[1]))
    if len(out) > 1 and out[0] == out[-1]:
        out.pop()
    return out


def plot_map(plots: Sequence[Mapping[str, Any]], *, link_prefix: str = "/explorer/plots/") -> Markup:
    """An SVG map with one ``<polygon>`` per plot (plots without a usable ring are
    skipped), each with a ``<title>`` and a link to the plot's page."""
    rings = [(p, _ring(p)) for p in plots[:MAX_MAP_PLOTS]]
    rings = [(p, r) for p, r in rings if len(r) >= 3]
    if not rings:
        return Markup("")
    lons = [x for _, r in rings for x, _ in r]
    lats = [y for _, r in rings for _, y in r]
    min_lon, max_lon, min_lat, max_lat = min(lons), max(lons), min(lats), max(lats)
    mid_lat_deg = (min_lat + max_lat) / 2 / 1e7
    kx = max(math.cos(math.radians(mid_lat_deg)), 0.01)
    width_u = max((max_lon - min_lon) * kx, 1.0)
    height_u = max(float(max_lat - min_lat), 1.0)
    scale = (MAP_SIZE - 2 * MAP_PAD) / max(width_u, height_u)
    view_w = round(width_u * scale) + 2 * MAP_PAD
    view_h = round(height_u * scale) + 2 * MAP_PAD

    def project(lon: int, lat: int) -> str:
        x = MAP_PAD + round((lon - min_lon) * kx * scale)
        y = MAP_PAD + round((max_lat - lat) * scale)
        return f"{x},{y}"

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="plot-map" viewBox="0 0 {view_w} {view_h}"'
        f' role="img" aria-label="plot map">',
        f'<rect class="map-bg" x="0" y="0" width="{view_w}" height="{view_h}" fill="#f4f8f0"/>',
    ]
    for i, (plot, ring) in enumerate(rings):
        pid = str(plot.get("id", ""))
        colour = PALETTE[i % len(PALETTE)]
        points = " ".join(project(x, y) for x, y in ring)
        parts.append(
            f'<a href="{escape(link_prefix)}{escape(_quote(pid))}">'
            f'<polygon points="{points}" fill="{colour}" fill-opacity="0.55" stroke="#234"'
            f' stroke-width="2" data-plot="{escape(pid)}"><title>{escape(pid)}</title></polygon></a>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")


def vintage_chart(
    rows: Sequence[Mapping[str, int]], *, issued_label: str, retired_label: str
) -> Markup:
    """A grouped bar chart: per vintage, units issued and retired."""
    if not rows:
        return Markup("")
    width, height = 720, 300
    left, right, top, bottom = 70, 20, 30, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max(max(r.get("issued", 0), r.get("retired", 0)) for r in rows) or 1
    step = _nice_step(peak)
    top_value = ((peak + step - 1) // step) * step
    group_w = plot_w / len(rows)
    bar_w = max(min(group_w * 0.35, 60), 2)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}"'
        ' role="img" aria-label="issued and retired by vintage">',
    ]
    # grid and y axis labels
    tick = 0
    while tick <= top_value:
        y = top + plot_h - round(tick / top_value * plot_h)
        parts.append(f'<line x1="{left}" y1="{y}" x2="{width - right}" y2="{y}" stroke="#ddd"/>')
        parts.append(
            f'<text x="{left - 6}" y="{y + 4}" text-anchor="end" font-size="11">{tick}</text>'
        )
        tick += step
    for i, row in enumerate(rows):
        x0 = left + i * group_w + (group_w - 2 * bar_w) / 2
        for j, (key, colour) in enumerate((("issued", "#2c7a3f"), ("retired", "#b5651d"))):
            value = int(row.get(key, 0))
            h = round(value / top_value * plot_h)
            x = round(x0 + j * bar_w)
            parts.append(
                f'<rect class="bar-{key}" x="{x}" y="{top + plot_h - h}" width="{round(bar_w)}"'
                f' height="{h}" fill="{colour}"><title>{escape(str(row.get("vintage")))}: {value}'
                "</title></rect>"
            )
        cx = round(left + i * group_w + group_w / 2)
        parts.append(
            f'<text x="{cx}" y="{height - bottom + 16}" text-anchor="middle" font-size="12">'
            f"{escape(str(row.get('vintage')))}</text>"
        )
    parts.append(
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}"'
        ' stroke="#333"/>'
    )
    # legend
    parts.append(f'<rect x="{left}" y="8" width="12" height="12" fill="#2c7a3f"/>')
    parts.append(f'<text x="{left + 16}" y="18" font-size="12">{escape(issued_label)}</text>')
    parts.append(f'<rect x="{left + 150}" y="8" width="12" height="12" fill="#b5651d"/>')
    parts.append(
        f'<text x="{left + 166}" y="18" font-size="12">{escape(retired_label)}</text>'
    )
    parts.append("</svg>")
    return Markup("".join(parts))


def _nice_step(peak: int) -> int:
    """A round grid step giving 4..10 lines up to ``peak``."""
    step = 1
    while peak / step > 10:
        for mult in (2, 5, 10):
            if peak / (step * mult) <= 10:
                return step * mult
        step *= 10
    return step


def qr_svg(data: str, *, scale: int = 4) -> Markup:
    """An inline SVG QR code (error correction M) encoding ``data``."""
    qr = segno.make(data, error="m", micro=False)
    return Markup(qr.svg_inline(scale=scale, dark="#000", light="#fff", svgclass="qr",
                                omitsize=False))
