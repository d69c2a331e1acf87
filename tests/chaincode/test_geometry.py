"""Tests for chaincode.geometry: validation, geodesic area, overlap."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
import shapely
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from pyproj import Geod

from chaincode import geometry
from chaincode.geometry import (
    GeometryError,
    Polygon,
    bounding_box,
    geodesic_area_m2,
    geodesic_area_m2_rational,
    parse_polygon,
    polygons_overlap,
)
from ledger.fixedpoint import format_decimal

GEOD = Geod(ellps="WGS84")
E7 = 10**7

# Anhui, near Hefei: lon 117.3, lat 31.8
ANHUI = (1_173_000_000, 318_000_000)


def ring_of(points):
    pts = [list(p) for p in points]
    return {"type": "Polygon", "coordinates": [pts + [list(pts[0])]]}


def rect(x0, y0, x1, y1):
    return parse_polygon(ring_of([(x0, y0), (x1, y0), (x1, y1), (x0, y1)]))


SQUARE = [[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]]


def poly(coords):
    return {"type": "Polygon", "coordinates": coords}


# ---------------------------------------------------------------- validation

MALFORMED = [
    ("not a dict", [SQUARE], "malformed_polygon"),
    ("missing type", {"coordinates": [SQUARE]}, "malformed_polygon"),
    (
        "extra key",
        {"type": "Polygon", "coordinates": [SQUARE], "bbox": [0, 0, 10, 10]},
        "malformed_polygon",
    ),
    ("wrong type", {"type": "MultiPolygon", "coordinates": [SQUARE]}, "malformed_polygon"),
    ("lowercase type", {"type": "polygon", "coordinates": [SQUARE]}, "malformed_polygon"),
    ("no rings", poly([]), "malformed_polygon"),
    ("coordinates not list", poly("[[0,0]]"), "malformed_polygon"),
    ("ring not list", poly(["abc"]), "malformed_polygon"),
    ("position not list", poly([[[0, 0], "10,0", [10, 10], [0, 0]]]), "malformed_polygon"),
    ("position 3d", poly([[[0, 0, 5], [10, 0, 5], [10, 10, 5], [0, 0, 5]]]), "malformed_polygon"),
    ("position 1d", poly([[[0], [10, 0], [10, 10], [0]]]), "malformed_polygon"),
    (
        "hole",
        poly([SQUARE, [[2, 2], [4, 2], [4, 4], [2, 2]]]),
        "polygon_has_holes",
    ),
    ("float coordinate", poly([[[0, 0], [10.0, 0], [10, 10], [0, 0]]]), "invalid_coordinate"),
    ("bool coordinate", poly([[[0, 0], [True, 0], [10, 10], [0, 0]]]), "invalid_coordinate"),
    ("str coordinate", poly([[[0, 0], ["10", 0], [10, 10], [0, 0]]]), "invalid_coordinate"),
    ("null coordinate", poly([[[0, 0], [None, 0], [10, 10], [0, 0]]]), "invalid_coordinate"),
    (
        "lon too big",
        poly([[[0, 0], [1_800_000_001, 0], [10, 10], [0, 0]]]),
        "coordinate_out_of_range",
    ),
    (
        "lon too small",
        poly([[[-1_800_000_001, 0], [10, 0], [10, 10], [-1_800_000_001, 0]]]),
        "coordinate_out_of_range",
    ),
    (
        "lat 85.00001",
        poly([[[0, 0], [10, 850_000_100], [10, 10], [0, 0]]]),
        "coordinate_out_of_range",
    ),
    ("lat -90", poly([[[0, 0], [10, -900_000_000], [10, 10], [0, 0]]]), "coordinate_out_of_range"),
    ("not closed", poly([[[0, 0], [10, 0], [10, 10], [0, 10]]]), "ring_not_closed"),
    ("3 positions", poly([[[0, 0], [10, 0], [0, 0]]]), "too_few_positions"),
    ("empty ring", poly([[]]), "too_few_positions"),
    (
        "1002 positions",
        poly([[[i, i * i] for i in range(1001)] + [[0, 0]]]),
        "too_many_positions",
    ),
    ("repeated point", poly([[[0, 0], [10, 0], [10, 0], [10, 10], [0, 0]]]), "repeated_point"),
    (
        "repeated closing point",
        poly([[[0, 0], [10, 0], [10, 10], [0, 0], [0, 0]]]),
        "repeated_point",
    ),
    ("collinear", poly([[[0, 0], [5, 5], [10, 10], [0, 0]]]), "zero_area_polygon"),
    ("there and back", poly([[[0, 0], [10, 0], [0, 0], [10, 0], [0, 0]]]), "zero_area_polygon"),
    (
        "bowtie",
        poly([[[0, 0], [10, 10], [10, 0], [0, 10], [0, 0]]]),
        "self_intersecting_polygon",
    ),
    (
        "spike",
        poly([[[0, 0], [10, 0], [10, 10], [10, 5], [0, 10], [0, 0]]]),
        "self_intersecting_polygon",
    ),
    (
        "spike at closing vertex",
        poly([[[0, 0], [10, 0], [10, 10], [0, 10], [0, 15], [0, 0]]]),
        "self_intersecting_polygon",
    ),
    (
        "vertex touching an edge",
        poly([[[0, 0], [10, 0], [10, 10], [5, 0], [0, 10], [0, 0]]]),
        "self_intersecting_polygon",
    ),
    (
        "repeated non-consecutive vertex (figure eight)",
        poly([[[0, 0], [5, 5], [10, 0], [10, 10], [5, 5], [0, 10], [0, 0]]]),
        "self_intersecting_polygon",
    ),
    (
        "collinear overlap of non-adjacent edges",
        poly([[[0, 0], [10, 0], [10, 5], [4, 5], [4, 0], [2, 0], [2, -5], [0, -5], [0, 0]]]),
        "self_intersecting_polygon",
    ),
]


@pytest.mark.parametrize(
    ("obj", "code"), [(o, c) for _, o, c in MALFORMED], ids=[n for n, _, _ in MALFORMED]
)
def test_malformed(obj, code):
    with pytest.raises(GeometryError) as info:
        parse_polygon(obj)
    assert info.value.code == code
    assert isinstance(info.value, ValueError)
    assert str(info.value)  # a human message
    assert code in geometry.ERROR_CODES


def test_error_messages_name_the_problem():
    with pytest.raises(GeometryError, match="position 1: longitude"):
        parse_polygon(poly([[[0, 0], [10.5, 0], [10, 10], [0, 0]]]))
    with pytest.raises(GeometryError, match="holes are not supported"):
        parse_polygon(poly([SQUARE, SQUARE]))
    with pytest.raises(GeometryError, match=r"edge \d+ .* meets edge \d+"):
        parse_polygon(poly([[[0, 0], [10, 10], [10, 0], [0, 10], [0, 0]]]))
    with pytest.raises(GeometryError, match=r"\[0, 0\] != last position \[0, 10\]"):
        parse_polygon(poly([[[0, 0], [10, 0], [10, 10], [0, 10]]]))


def test_direct_construction_validates():
    with pytest.raises(GeometryError) as info:
        Polygon(((0, 0), (10, 10), (10, 0), (0, 10)))
    assert info.value.code == "self_intersecting_polygon"
    with pytest.raises(GeometryError) as info:
        Polygon(((0, 0), (1, 0)))
    assert info.value.code == "too_few_positions"
    with pytest.raises(GeometryError) as info:
        Polygon(((0, 0), (1, 0), (1.5, 1)))  # type: ignore[arg-type]
    assert info.value.code == "invalid_coordinate"


def test_valid_polygons_roundtrip():
    for coords in (
        SQUARE,
        list(reversed(SQUARE)),  # clockwise is accepted and kept
        [[0, 0], [5, 0], [10, 0], [10, 10], [0, 0]],  # redundant collinear vertex
        [[0, 0], [10, 0], [10, 10], [5, 1], [0, 10], [0, 0]],  # concave
        [
            [-1_800_000_000, -850_000_000],
            [1_800_000_000, -850_000_000],
            [0, 850_000_000],
            [-1_800_000_000, -850_000_000],
        ],
    ):
        p = parse_polygon(poly([coords]))
        assert p.to_json() == poly([coords])
        assert parse_polygon(p.to_json()) == p
        assert all(type(v) is int for xy in p.to_json()["coordinates"][0] for v in xy)
    p = parse_polygon(poly([SQUARE]))
    assert p.vertices == ((0, 0), (10, 0), (10, 10), (0, 10))
    assert bounding_box(p) == (0, 0, 10, 10) == p.bbox
    assert p.signed_area2 == 200 and p.is_counter_clockwise
    assert not parse_polygon(poly([list(reversed(SQUARE))])).is_counter_clockwise
    # tuples (Python callers) are accepted too
    assert parse_polygon({"type": "Polygon", "coordinates": ((tuple(map(tuple, SQUARE))),)}) == p


def test_max_positions_accepted():
    n = 1000
    r = 10**6
    pts = [
        (round(r * math.cos(2 * math.pi * k / n)), round(r * math.sin(2 * math.pi * k / n)))
        for k in range(n)
    ]
    p = parse_polygon(ring_of(pts))
    assert len(p.vertices) == 1000


grid_points = st.tuples(st.integers(0, 6), st.integers(0, 6))


@settings(max_examples=400, deadline=None)
@given(st.lists(grid_points, min_size=3, max_size=8))
def test_validity_matches_shapely(pts):
    """Random rings on a small grid: accepted iff shapely says the ring is
    simple and encloses area (rings with consecutive repeats excluded)."""
    assume(all(pts[i] != pts[(i + 1) % len(pts)] for i in range(len(pts))))
    ring = pts + [pts[0]]
    try:
        parse_polygon(ring_of(pts))
        ok = True
    except GeometryError as exc:
        assert exc.code in ("self_intersecting_polygon", "zero_area_polygon")
        ok = False
    expected = shapely.LinearRing(ring).is_simple and shapely.Polygon(ring).area > 0
    assert ok == expected


# ---------------------------------------------------------------- area


def test_pi_fixed_point_matches_published_digits():
    digits = (
        "3141592653589793238462643383279502884197169399375105820974944592307816406286"
        "2089986280348253421170679"
    )
    pi = Fraction(int(digits), 10 ** (len(digits) - 1))
    assert abs(Fraction(geometry.PI_FX, 2**128) - pi) < Fraction(1, 2**126)


@pytest.mark.parametrize("lat_deg", [-85, -60, -31.8, -1e-7, 0, 1e-7, 10, 31.8, 45, 60, 85])
def test_q_matches_float_formula(lat_deg):
    e2 = float(geometry.WGS84_E2)
    e = math.sqrt(e2)
    s = math.sin(math.radians(lat_deg))
    expected = s / (1 - e2 * s * s) + math.atanh(e * s) / e
    got = geometry._q_fx(round(lat_deg * E7)) / 2.0**128
    assert got == pytest.approx(expected, rel=1e-14, abs=1e-15)


def test_anhui_20m_square_is_about_400_m2():
    lon, lat = ANHUI
    # 20 m east-west = 2114e-7 deg at 31.8 N; 20 m north-south = 1804e-7 deg
    p = rect(lon, lat, lon + 2114, lat + 1804)
    area = geodesic_area_m2(p)
    assert type(area) is int
    assert 398 <= area <= 402
    exact = geodesic_area_m2_rational(p)
    assert area == math.floor(exact)
    pa, _ = GEOD.polygon_area_perimeter(
        [x / E7 for x, _ in p.vertices], [y / E7 for _, y in p.vertices]
    )
    assert float(exact) == pytest.approx(abs(pa), rel=5e-4)


def test_area_known_answers():
    """Bit-exact regression vectors: any change to the fixed-point method shows."""
    lon, lat = ANHUI
    cases = [
        (rect(lon, lat, lon + 2114, lat + 1804), 400, "400.44847430041005799269"),
        (rect(lon, lat, lon + 100_000, lat + 100_000), 1049983, "1049983.55422217261124040381"),
        (rect(-10, -10, 10, 10), 0, "0.04923628831717946209"),  # ~0.049 m2, floored
    ]
    for p, area, digits in cases:
        assert geodesic_area_m2(p) == area
        assert format_decimal(geodesic_area_m2_rational(p), 20) == digits


def test_area_orientation_and_start_invariant():
    lon, lat = ANHUI
    pts = [(lon, lat), (lon + 5000, lat + 100), (lon + 4000, lat + 6000), (lon + 200, lat + 3000)]
    ref = geodesic_area_m2_rational(parse_polygon(ring_of(pts)))
    assert geodesic_area_m2_rational(parse_polygon(ring_of(pts[::-1]))) == ref
    assert geodesic_area_m2_rational(parse_polygon(ring_of(pts[2:] + pts[:2]))) == ref


def test_area_additive_for_split_polygon():
    lon, lat = ANHUI
    whole = rect(lon, lat, lon + 50_000, lat + 30_000)
    left = rect(lon, lat, lon + 20_000, lat + 30_000)
    right = rect(lon + 20_000, lat, lon + 50_000, lat + 30_000)
    a, b, c = (geodesic_area_m2_rational(p) for p in (whole, left, right))
    assert abs(a - (b + c)) < Fraction(1, 10**20)


def _float_reference_area(p: Polygon) -> float:
    """Same projection, evaluated independently in floats (q centred to avoid
    cancellation)."""
    a = 6378137.0
    e2 = float(geometry.WGS84_E2)
    e = math.sqrt(e2)

    def q(lat_e7):
        s = math.sin(math.radians(lat_e7 / E7))
        return s / (1 - e2 * s * s) + math.atanh(e * s) / e

    vs = p.vertices
    qs = [q(y) for _, y in vs]
    q0 = qs[0]
    n = len(vs)
    total = 0.0
    for i in range(n):
        j = (i + 1) % n
        dlam = math.radians((vs[j][0] - vs[i][0]) / E7)
        total += dlam * ((qs[i] - q0) + (qs[j] - q0))
    return abs(a * a * (1 - e2) / 2 * total / 2)


@st.composite
def compact_polygons(draw, min_area=400.0, max_area=1e8, max_abs_lat=60.0):
    """Star-shaped, reasonably round polygons of a target geodesic size."""
    lat = draw(st.floats(-max_abs_lat, max_abs_lat))
    lon = draw(st.floats(-179.0, 179.0))
    area = math.exp(draw(st.floats(math.log(min_area), math.log(max_area))))
    k = draw(st.integers(4, 24))
    # roughly regular spacing: no gap wider than 1.4 * 360/k degrees
    jitter = draw(st.lists(st.floats(0.0, 0.4), min_size=k, max_size=k))
    angles = [2 * math.pi * (i + jitter[i]) / k for i in range(k)]
    gaps = [b - a for a, b in zip(angles, angles[1:], strict=False)] + [
        angles[0] + 2 * math.pi - angles[-1]
    ]
    radii = draw(st.lists(st.floats(0.6, 1.0), min_size=k, max_size=k))
    unit_area = 0.5 * sum(radii[i] * radii[(i + 1) % k] * math.sin(gaps[i]) for i in range(k))
    scale = math.sqrt(area / unit_area)
    pts = []
    for ang, rf in zip(angles, radii, strict=True):
        dx, dy = scale * rf * math.cos(ang), scale * rf * math.sin(ang)
        pts.append(
            (
                round((lon + dx / (111_320 * math.cos(math.radians(lat)))) * E7),
                round((lat + dy / 110_900) * E7),
            )
        )
    try:
        return parse_polygon(ring_of(pts))
    except GeometryError:
        assume(False)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(compact_polygons())
def test_area_agrees_with_pyproj(p):
    exact = geodesic_area_m2_rational(p)
    pa, _ = GEOD.polygon_area_perimeter(
        [x / E7 for x, _ in p.vertices], [y / E7 for _, y in p.vertices]
    )
    pa = abs(pa)
    assume(pa >= 400)
    assert abs(float(exact) - pa) <= 5e-4 * pa
    assert geodesic_area_m2(p) == math.floor(exact)
    # The fixed-point evaluation itself is far more precise than the 0.05 %
    # edge-model tolerance: compare with a float evaluation of the same formula.
    assert float(exact) == pytest.approx(_float_reference_area(p), rel=1e-8)


def test_area_speed_1000_vertices():
    lon, lat = ANHUI
    n = 1000
    pts = [
        (
            lon + round(90_000 * math.cos(2 * math.pi * k / n)),
            lat + round(90_000 * math.sin(2 * math.pi * k / n)),
        )
        for k in range(n)
    ]
    geometry._q_fx.cache_clear()
    p = parse_polygon(ring_of(pts))
    area = geodesic_area_m2(p)
    pa, _ = GEOD.polygon_area_perimeter([x / E7 for x, _ in pts], [y / E7 for _, y in pts])
    assert area == pytest.approx(abs(pa), rel=5e-4)


# ---------------------------------------------------------------- overlap


def test_overlap_basic_cases():
    a = rect(0, 0, 10, 10)
    assert polygons_overlap(a, a)
    assert polygons_overlap(a, rect(5, 5, 15, 15))  # crossing
    assert polygons_overlap(a, rect(2, 2, 4, 4))  # contained, no contact
    assert polygons_overlap(rect(2, 2, 4, 4), a)
    assert polygons_overlap(a, rect(0, 0, 5, 5))  # contained, sharing two edges
    assert polygons_overlap(a, rect(0, 0, 10, 5))  # sharing three edges
    assert not polygons_overlap(a, rect(10, 0, 20, 10))  # shared edge
    assert not polygons_overlap(a, rect(10, 2, 20, 5))  # shared part of an edge
    assert not polygons_overlap(a, rect(10, 10, 20, 20))  # shared vertex
    assert not polygons_overlap(a, rect(11, 0, 20, 10))  # apart
    assert not polygons_overlap(a, rect(0, 10, 10, 20))
    tri = parse_polygon(ring_of([(10, 5), (20, 0), (20, 10)]))
    assert not polygons_overlap(a, tri)  # vertex on an edge (T contact)
    tri_in = parse_polygon(ring_of([(10, 5), (5, 0), (5, 10)]))
    assert polygons_overlap(a, tri_in)
    # L shape whose bounding box contains the other polygon, but no overlap
    ell = parse_polygon(ring_of([(0, 0), (10, 0), (10, 2), (2, 2), (2, 10), (0, 10)]))
    assert not polygons_overlap(ell, rect(3, 3, 9, 9))
    assert not polygons_overlap(ell, rect(2, 2, 9, 9))  # touches the inner corner edges
    assert polygons_overlap(ell, rect(1, 1, 9, 9))
    # identical, different start vertex and orientation
    b = parse_polygon(ring_of([(10, 10), (10, 0), (0, 0), (0, 10)]))
    assert polygons_overlap(a, b)


def test_overlap_comb_interleaving():
    """Two combs whose teeth interleave, touching along every tooth side."""
    top = [(0, 10), (0, 20), (12, 20), (12, 10)]
    bottom = [(0, 0), (12, 0)]
    a_pts = [(0, 0), (12, 0), (12, 10)]
    for x in range(10, 0, -2):  # teeth of A go up into B's gaps
        a_pts += [(x, 10), (x, 14), (x - 2, 14), (x - 2, 10)] if x % 4 == 2 else []
    del top, bottom
    a_pts = [
        (0, 0),
        (12, 0),
        (12, 10),
        (10, 10),
        (10, 14),
        (8, 14),
        (8, 10),
        (6, 10),
        (6, 14),
        (4, 14),
        (4, 10),
        (2, 10),
        (2, 14),
        (0, 14),
    ]
    b_pts = [
        (0, 14),
        (2, 14),
        (2, 10),
        (4, 10),
        (4, 14),
        (6, 14),
        (6, 10),
        (8, 10),
        (8, 14),
        (10, 14),
        (10, 10),
        (12, 10),
        (12, 20),
        (0, 20),
    ]
    a, b = parse_polygon(ring_of(a_pts)), parse_polygon(ring_of(b_pts))
    assert not polygons_overlap(a, b)
    b2 = parse_polygon(ring_of([(x, y - 1 if y == 10 else y) for x, y in b_pts]))
    assert polygons_overlap(a, b2)


def _sp(p: Polygon):
    return shapely.Polygon(p.vertices)


@st.composite
def grid_polygons(draw, grid=8):
    pts = draw(
        st.lists(
            st.tuples(st.integers(0, grid), st.integers(0, grid)),
            min_size=3,
            max_size=9,
            unique=True,
        )
    )
    cx = sum(x for x, _ in pts) / len(pts)
    cy = sum(y for _, y in pts) / len(pts)
    pts.sort(key=lambda p: (math.atan2(p[1] - cy, p[0] - cx), (p[0] - cx) ** 2 + (p[1] - cy) ** 2))
    if draw(st.booleans()):
        pts.reverse()
    try:
        return parse_polygon(ring_of(pts))
    except GeometryError:
        assume(False)


@st.composite
def grid_rects(draw, grid=6):
    x0, x1 = sorted(draw(st.lists(st.integers(0, grid), min_size=2, max_size=2, unique=True)))
    y0, y1 = sorted(draw(st.lists(st.integers(0, grid), min_size=2, max_size=2, unique=True)))
    return rect(x0, y0, x1, y1)


def _try(points):
    try:
        return parse_polygon(ring_of(points))
    except GeometryError:
        assume(False)


@st.composite
def polygon_pairs(draw):
    kind = draw(
        st.sampled_from(
            [
                "independent",
                "rects",
                "translate",
                "identical",
                "sub",
                "reflect",
                "scaled",
                "ear",
                "edge_neighbor",
                "edge_neighbor",
            ]
        )
    )
    if kind == "rects":
        return draw(grid_rects()), draw(grid_rects())
    a = draw(grid_polygons())
    vs = list(a.vertices)
    n = len(vs)
    if kind == "independent":
        b = draw(grid_polygons())
    elif kind == "translate":
        dx, dy = draw(st.integers(-4, 4)), draw(st.integers(-4, 4))
        b = _try([(x + dx, y + dy) for x, y in vs])
    elif kind == "identical":
        k = draw(st.integers(0, n - 1))
        rot = vs[k:] + vs[:k]
        b = _try(rot[::-1] if draw(st.booleans()) else rot)
    elif kind == "sub":
        # a contiguous run of A's vertices closed by a chord, maybe plus a point
        i = draw(st.integers(0, n - 1))
        m = draw(st.integers(2, n))
        run = [vs[(i + k) % n] for k in range(m)]
        if m == 2 or draw(st.booleans()):
            run.append(draw(st.tuples(st.integers(-2, 10), st.integers(-2, 10))))
        b = _try(run)
    elif kind == "reflect":
        vx, vy = vs[draw(st.integers(0, n - 1))]
        if draw(st.booleans()):
            b = _try([(2 * vx - x, y) for x, y in vs])
        else:
            b = _try([(x, 2 * vy - y) for x, y in vs])
    elif kind == "scaled":
        f = draw(st.integers(2, 3))
        ox, oy = draw(st.integers(-8, 0)), draw(st.integers(-8, 0))
        b = _try([(f * x + ox, f * y + oy) for x, y in vs])
    elif kind == "edge_neighbor":
        # shares (part of) one edge of A; the rest may lie on either side
        i = draw(st.integers(0, n - 1))
        p, q = vs[i], vs[(i + 1) % n]
        extra = draw(
            st.lists(st.tuples(st.integers(-2, 10), st.integers(-2, 10)), min_size=1, max_size=3)
        )
        b = _try([q, p, *extra])
    else:  # "ear": triangle of three consecutive vertices (inside or outside A)
        i = draw(st.integers(0, n - 1))
        b = _try([vs[i], vs[(i + 1) % n], vs[(i + 2) % n]])
    return a, b


def _big(p: Polygon, f: int, ox: int, oy: int) -> Polygon:
    return Polygon(tuple((ox + f * x, oy + f * y) for x, y in p.vertices))


@settings(max_examples=700, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(polygon_pairs(), st.booleans())
def test_overlap_matches_shapely(pair, swap):
    a, b = pair
    if swap:
        a, b = b, a
    sa, sb = _sp(a), _sp(b)
    expected = sa.relate_pattern(sb, "2********")  # interiors meet in 2-D
    got = polygons_overlap(a, b)
    assert got == expected, (a.vertices, b.vertices)
    event(f"overlap={expected} touches={sa.touches(sb)} disjoint={sa.disjoint(sb)}")
    assert polygons_overlap(b, a) == got
    assert (sa.intersection(sb).area > 0) == expected
    assert sa.touches(sb) == (sa.intersects(sb) and not expected)
    # invariant under an exact scaling + translation to realistic coordinates
    f, ox, oy = 1237, ANHUI[0], ANHUI[1]
    assert polygons_overlap(_big(a, f, ox, oy), _big(b, f, ox, oy)) == got


def test_overlap_speed_1000_vertices():
    lon, lat = ANHUI
    n = 1000

    def circle(cx, cy, r):
        return parse_polygon(
            ring_of(
                [
                    (
                        cx + round(r * math.cos(2 * math.pi * k / n)),
                        cy + round(r * math.sin(2 * math.pi * k / n)),
                    )
                    for k in range(n)
                ]
            )
        )

    a = circle(lon, lat, 90_000)
    same = Polygon(a.vertices[::-1])
    shifted = circle(lon + 150_000, lat, 90_000)
    apart = circle(lon + 180_001, lat, 90_000)
    inside = circle(lon, lat, 50_000)
    assert polygons_overlap(a, same)
    assert polygons_overlap(a, shifted)
    assert not polygons_overlap(a, apart)
    assert polygons_overlap(a, inside)
