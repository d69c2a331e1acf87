"""Server-rendered SVG: plot maps, the issued-vs-retired chart, QR codes.

Every piece of ledger text that enters an SVG (plot ids, labels) is escaped here; the
results are :class:`markupsafe.Markup` so templates insert them as they are.

Plot maps use an equirectangular projection scaled by cos(latitude) at the centre of the
plot set, fitted into a viewBox whose longer side is :data:`MAP_SIZE` units, north up.
Each plot is one ``<polygon>`` labelled with its id at the mean of its vertices; a scale
bar in km sits in the bottom-left corner and :func:`map_legend` explains colours and
lines. The projection and the scale bar are exact rational arithmetic
(:class:`fractions.Fraction`): cos(latitude) is a Taylor series in exact fractions
truncated below 1e-15 (:func:`cos_e7`), the length of a degree of longitude at the map's
middle latitude phi is the WGS 84 series 111,412.84 cos phi - 93.5 cos 3phi + 0.118 cos 5phi
metres (:func:`metres_per_degree_lon`), and the bar is the longest of 1, 2, 5 x 10^k metres
that is at most a quarter of the map's width, drawn rounded half up to whole map units.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any

import segno
from markupsafe import Markup, escape

__all__ = ["MAP_SIZE", "bar_chart", "cos_e7", "map_legend", "map_scale", "market_chart",
           "metres_per_degree_lon", "plot_map", "qr_svg", "vintage_chart"]

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


#: pi to 35 decimal places, an exact fraction.
PI = Fraction(314159265358979323846264338327950288, 10**35)
_EPSILON = Fraction(1, 10**15)


def cos_e7(angle_e7: int | Fraction) -> Fraction:
    """cos of an angle in 1e-7 degrees, as an exact fraction within 1e-15 (Taylor series
    in exact fractions, each term's denominator bounded to 10^30)."""
    x = Fraction(angle_e7) * PI / (180 * 10**7)
    # bring x into [-pi, pi]: cos is 2pi-periodic
    turns = math.floor(x / (2 * PI) + Fraction(1, 2))
    x -= turns * 2 * PI
    x2 = x * x
    term, total, n = Fraction(1), Fraction(1), 0
    while abs(term) > _EPSILON:
        term = (-term * x2 / ((n + 1) * (n + 2))).limit_denominator(10**30)
        total += term
        n += 2
    return total


def metres_per_degree_lon(lat_e7: int | Fraction) -> Fraction:
    """Length in metres of one degree of longitude at latitude ``lat_e7`` (1e-7 degrees)
    on the WGS 84 ellipsoid: 111412.84 cos phi - 93.5 cos 3phi + 0.118 cos 5phi."""
    return (Fraction("111412.84") * cos_e7(lat_e7) - Fraction("93.5") * cos_e7(3 * lat_e7)
            + Fraction("0.118") * cos_e7(5 * lat_e7))


def _round_half_up(value: Fraction) -> int:
    return math.floor(value + Fraction(1, 2))


def map_scale(metres_per_unit: Fraction, max_units: int) -> tuple[int, int]:
    """(bar length in metres, in map units): the longest 1, 2 or 5 x 10^k metres whose bar
    is at most ``max_units`` long (at least 1 m)."""
    best = 1
    length = 1
    while length <= 10**9:
        for mult in (1, 2, 5):
            metres = mult * length
            if metres / metres_per_unit <= max_units:
                best = metres
        length *= 10
    return best, max(1, _round_half_up(best / metres_per_unit))


def km_text(metres: int) -> str:
    """Whole metres as kilometres, fixed point without trailing zeros: 500 -> 0.5."""
    whole, frac = divmod(metres, 1000)
    return str(whole) if frac == 0 else f"{whole}.{frac:03d}".rstrip("0")


def _usable(plots: Sequence[Mapping[str, Any]]) -> list[tuple[Mapping[str, Any], list[tuple[int, int]]]]:
    rings = [(p, _ring(p)) for p in plots[:MAX_MAP_PLOTS]]
    return [(p, r) for p, r in rings if len(r) >= 3]


def plot_map(plots: Sequence[Mapping[str, Any]], *, link_prefix: str = "/explorer/plots/") -> Markup:
    """An SVG map with one ``<polygon>`` per plot (plots without a usable ring are
    skipped), each with a ``<title>``, a label (its id) and a link to the plot's page,
    and a scale bar in km (``<g class="scale-bar" data-metres data-units>``)."""
    rings = _usable(plots)
    if not rings:
        return Markup("")
    lons = [x for _, r in rings for x, _ in r]
    lats = [y for _, r in rings for _, y in r]
    min_lon, max_lon, min_lat, max_lat = min(lons), max(lons), min(lats), max(lats)
    mid_lat = Fraction(min_lat + max_lat, 2)
    kx = max(cos_e7(mid_lat), Fraction(1, 100))
    width_u = max((max_lon - min_lon) * kx, Fraction(1))
    height_u = max(Fraction(max_lat - min_lat), Fraction(1))
    scale = Fraction(MAP_SIZE - 2 * MAP_PAD) / max(width_u, height_u)
    view_w = _round_half_up(width_u * scale) + 2 * MAP_PAD
    view_h = _round_half_up(height_u * scale) + 2 * MAP_PAD

    def xy(lon: int | Fraction, lat: int | Fraction) -> tuple[int, int]:
        return (MAP_PAD + _round_half_up((lon - min_lon) * kx * scale),
                MAP_PAD + _round_half_up((max_lat - lat) * scale))

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="plot-map" viewBox="0 0 {view_w} {view_h}"'
        f' role="img" aria-label="plot map">',
        f'<rect class="map-bg" x="0" y="0" width="{view_w}" height="{view_h}" fill="#f4f8f0"/>',
    ]
    labels = []
    font = max(12, MAP_SIZE // 40)
    for i, (plot, ring) in enumerate(rings):
        pid = str(plot.get("id", ""))
        colour = PALETTE[i % len(PALETTE)]
        points = " ".join("{},{}".format(*xy(x, y)) for x, y in ring)
        parts.append(
            f'<a href="{escape(link_prefix)}{escape(_quote(pid))}">'
            f'<polygon points="{points}" fill="{colour}" fill-opacity="0.55" stroke="#234"'
            f' stroke-width="2" data-plot="{escape(pid)}"><title>{escape(pid)}</title></polygon></a>'
        )
        cx, cy = xy(Fraction(sum(x for x, _ in ring), len(ring)),
                    Fraction(sum(y for _, y in ring), len(ring)))
        labels.append(
            f'<text class="plot-label" x="{cx}" y="{cy}" text-anchor="middle"'
            f' dominant-baseline="middle" font-size="{font}" font-weight="bold" fill="#123"'
            f' stroke="#fff" stroke-width="4" paint-order="stroke" pointer-events="none"'
            f' data-plot="{escape(pid)}">{escape(pid)}</text>')
    parts += labels
    # horizontal metres per map unit at the middle latitude
    metres_per_unit = metres_per_degree_lon(mid_lat) / (kx * scale * 10**7)
    metres, units = map_scale(metres_per_unit, max(1, view_w // 4))
    x0, y0 = MAP_PAD, view_h - MAP_PAD
    parts.append(
        f'<g class="scale-bar" data-metres="{metres}" data-units="{units}"'
        f' data-km="{km_text(metres)}" pointer-events="none">'
        f'<rect x="{x0 - 6}" y="{y0 - font - 16}" width="{units + 12}" height="{font + 22}"'
        f' fill="#fff" fill-opacity="0.8"/>'
        f'<line x1="{x0}" y1="{y0}" x2="{x0 + units}" y2="{y0}" stroke="#000" stroke-width="4"/>'
        f'<line x1="{x0}" y1="{y0 - 8}" x2="{x0}" y2="{y0}" stroke="#000" stroke-width="3"/>'
        f'<line x1="{x0 + units}" y1="{y0 - 8}" x2="{x0 + units}" y2="{y0}" stroke="#000"'
        f' stroke-width="3"/>'
        f'<text x="{x0}" y="{y0 - 12}" font-size="{font}">{km_text(metres)} km</text></g>')
    parts.append("</svg>")
    return Markup("".join(parts))


def map_legend(plots: Sequence[Mapping[str, Any]], *, plot_label: str, scale_label: str,
               title: str) -> Markup:
    """The legend of :func:`plot_map` over the same plots, as HTML: what the outlines and
    the scale bar are, and a swatch of each plot's colour with its id (CSS classes
    ``swatch-<n>``, the n-th colour of :data:`PALETTE`: no inline style under the CSP)."""
    rings = _usable(plots)
    if not rings:
        return Markup("")
    items = [f'<li class="legend-lines"><span class="swatch swatch-line"></span>'
             f' {escape(plot_label)}</li>',
             f'<li class="legend-scale"><span class="swatch swatch-scale"></span>'
             f' {escape(scale_label)}</li>']
    for i, (plot, _r) in enumerate(rings):
        pid = str(plot.get("id", ""))
        items.append(f'<li data-plot="{escape(pid)}" data-colour="{PALETTE[i % len(PALETTE)]}">'
                     f'<span class="swatch swatch-{i % len(PALETTE)}"></span> {escape(pid)}</li>')
    return Markup(f'<div class="map-legend" id="map-legend"><strong>{escape(title)}</strong>'
                  f'<ul>{"".join(items)}</ul></div>')


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
