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

__all__ = ["MAP_SIZE", "bar_chart", "market_chart", "plot_map", "qr_svg", "vintage_chart"]

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


def market_chart(
    rows: Sequence[Mapping[str, Any]], *, volume_label: str, price_label: str
) -> Markup:
    """Per month: the volume traded as bars (left axis, tonnes) and the average price as
    dots joined by a line (right axis, fen shown as RMB); months without trades have no
    bar and no dot. ``rows``: ``month``, ``volume``, ``average_fen``."""
    if not rows or not any(int(r.get("volume") or 0) for r in rows):
        return Markup("")
    width, height = 720, 300
    left, right, top, bottom = 70, 70, 30, 50
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max(int(r.get("volume") or 0) for r in rows) or 1
    step = _nice_step(peak)
    top_value = ((peak + step - 1) // step) * step
    prices = [int(r["average_fen"]) for r in rows if r.get("average_fen") is not None]
    top_price = max(prices) or 1
    pstep = _nice_step(top_price)
    top_price = ((top_price + pstep - 1) // pstep) * pstep
    slot = plot_w / len(rows)
    bar_w = max(min(slot * 0.6, 40), 2)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart market-chart"'
        f' viewBox="0 0 {width} {height}" role="img"'
        f' aria-label="{escape(volume_label)} / {escape(price_label)}">',
    ]
    tick = 0
    while tick <= top_value:
        y = top + plot_h - round(tick / top_value * plot_h)
        parts.append(f'<line x1="{left}" y1="{y}" x2="{width - right}" y2="{y}" stroke="#ddd"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4}" text-anchor="end" font-size="11">{tick}</text>')
        tick += step
    tick = 0
    while tick <= top_price:
        y = top + plot_h - round(tick / top_price * plot_h)
        parts.append(f'<text x="{width - right + 6}" y="{y + 4}" font-size="11"'
                     f' fill="#1d5f9e">{tick // 100}</text>')
        tick += pstep
    points = []
    label_every = max(1, len(rows) // 12)
    for i, row in enumerate(rows):
        volume = int(row.get("volume") or 0)
        cx = left + i * slot + slot / 2
        month = escape(str(row.get("month")))
        if volume:
            h = round(volume / top_value * plot_h)
            parts.append(
                f'<rect class="bar-volume" x="{round(cx - bar_w / 2)}" y="{top + plot_h - h}"'
                f' width="{round(bar_w)}" height="{h}" fill="#2c7a3f" data-month="{month}">'
                f"<title>{month}: {volume} t</title></rect>"
            )
        avg = row.get("average_fen")
        if avg is not None:
            y = top + plot_h - round(int(avg) / top_price * plot_h)
            points.append(f"{round(cx)},{y}")
            parts.append(
                f'<circle class="dot-price" cx="{round(cx)}" cy="{y}" r="4" fill="#1d5f9e"'
                f' data-month="{month}"><title>{month}: {escape(str(row.get("average_price")))}'
                "</title></circle>"
            )
        if i % label_every == 0:
            parts.append(f'<text x="{round(cx)}" y="{height - bottom + 16}" text-anchor="middle"'
                         f' font-size="11">{month}</text>')
    if len(points) > 1:
        parts.append(f'<polyline points="{" ".join(points)}" fill="none" stroke="#1d5f9e"'
                     ' stroke-width="2"/>')
    parts.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}"'
                 ' stroke="#333"/>')
    parts.append(f'<rect x="{left}" y="8" width="12" height="12" fill="#2c7a3f"/>')
    parts.append(f'<text x="{left + 16}" y="18" font-size="12">{escape(volume_label)}</text>')
    parts.append(f'<circle cx="{left + 226}" cy="14" r="5" fill="#1d5f9e"/>')
    parts.append(f'<text x="{left + 236}" y="18" font-size="12">{escape(price_label)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def bar_chart(rows: Sequence[tuple[str, Sequence[int]]], series: Sequence[str],
              *, label: str) -> Markup:
    """Grouped bars: per row label, one bar per series (non-negative integers)."""
    if not rows or not any(v for _, values in rows for v in values):
        return Markup("")
    colours = ("#2c7a3f", "#d95f02", "#7570b3", "#b5651d", "#1d5f9e", "#e6ab02")
    width, height = 720, 300
    left, right, top, bottom = 80, 20, 50, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max(max(values) for _, values in rows) or 1
    step = _nice_step(peak)
    top_value = ((peak + step - 1) // step) * step
    group_w = plot_w / len(rows)
    bar_w = max(min(group_w * 0.8 / len(series), 40), 2)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}"'
             f' role="img" aria-label="{escape(label)}">']
    tick = 0
    while tick <= top_value:
        y = top + plot_h - round(tick / top_value * plot_h)
        parts.append(f'<line x1="{left}" y1="{y}" x2="{width - right}" y2="{y}" stroke="#ddd"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4}" text-anchor="end" font-size="11">{tick}</text>')
        tick += step
    for i, (name, values) in enumerate(rows):
        x0 = left + i * group_w + (group_w - len(series) * bar_w) / 2
        for j, value in enumerate(values):
            h = round(value / top_value * plot_h)
            parts.append(
                f'<rect class="bar" x="{round(x0 + j * bar_w)}" y="{top + plot_h - h}"'
                f' width="{round(bar_w)}" height="{h}" fill="{colours[j % len(colours)]}">'
                f"<title>{escape(name)} · {escape(series[j])}: {value}</title></rect>"
            )
        parts.append(f'<text x="{round(left + i * group_w + group_w / 2)}" y="{height - bottom + 16}"'
                     f' text-anchor="middle" font-size="12">{escape(name)}</text>')
    parts.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}"'
                 ' stroke="#333"/>')
    for j, name in enumerate(series):
        x = left + (j % 3) * 200
        y = 8 + (j // 3) * 18
        parts.append(f'<rect x="{x}" y="{y}" width="12" height="12" fill="{colours[j % len(colours)]}"/>')
        parts.append(f'<text x="{x + 16}" y="{y + 10}" font-size="12">{escape(name)}</text>')
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
