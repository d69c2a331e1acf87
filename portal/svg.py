"""Server-rendered SVG for the portal: a plot's map preview and QR codes (the explorer's
approach, ``explorer/svg.py``, which the portal may not import: equirectangular with
cos(latitude), north up; segno for QR codes). Outside consensus: floats are fine here."""

from __future__ import annotations

import math
from collections.abc import Sequence

import segno
from markupsafe import Markup

__all__ = ["MAX_QR_BYTES", "plot_preview", "qr_svg"]

SIZE = 400
PAD = 12
#: The most bytes put in one QR code (version 40, level L holds 2,953 bytes).
MAX_QR_BYTES = 2900


def plot_preview(ring: Sequence[Sequence[int]]) -> Markup:
    """An SVG of one polygon ring given in ledger units (1e-7 degree)."""
    points = [(int(p[0]), int(p[1])) for p in ring]
    if len(points) < 3:
        return Markup("")
    lons = [x for x, _ in points]
    lats = [y for _, y in points]
    kx = max(math.cos(math.radians((min(lats) + max(lats)) / 2 / 1e7)), 0.01)
    w = max((max(lons) - min(lons)) * kx, 1.0)
    h = max(float(max(lats) - min(lats)), 1.0)
    scale = (SIZE - 2 * PAD) / max(w, h)
    vw, vh = round(w * scale) + 2 * PAD, round(h * scale) + 2 * PAD
    coords = " ".join(
        f"{PAD + round((x - min(lons)) * kx * scale)},{PAD + round((max(lats) - y) * scale)}"
        for x, y in points)
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" class="plot-map" viewBox="0 0 {vw} {vh}" '
        f'role="img" aria-label="plot boundary"><rect x="0" y="0" width="{vw}" height="{vh}" '
        f'fill="#f4f8f0"/><polygon points="{coords}" fill="#1b9e77" fill-opacity="0.55" '
        f'stroke="#234" stroke-width="2"/></svg>')


def qr_svg(data: str, *, scale: int = 3) -> Markup | None:
    """An inline SVG QR code of ``data`` (error correction L, the most capacity), or None
    when it does not fit in one code."""
    if len(data.encode("utf-8")) > MAX_QR_BYTES:
        return None
    try:
        qr = segno.make(data, error="l", micro=False, boost_error=False)
    except segno.DataOverflowError:
        return None
    return Markup(qr.svg_inline(scale=scale, dark="#000", light="#fff", svgclass="qr",
                                omitsize=False))
