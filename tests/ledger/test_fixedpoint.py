"""Tests for ledger.fixedpoint."""

from __future__ import annotations

import decimal
import re
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.fixedpoint import (
    FixedPointError,
    ceil_int,
    floor_int,
    format_decimal,
    parse_decimal,
    truncate,
)

GOOD = {
    "0": Fraction(0),
    "2500": Fraction(2500),
    "0.307": Fraction(307, 1000),
    "0.05": Fraction(1, 20),
    "0.50": Fraction(1, 2),
    "1.000000": Fraction(1),
    "123456.123456": Fraction(123456123456, 10**6),
    "9" * 30: Fraction(10**30 - 1),
    "9" * 30 + ".999999": Fraction(10**36 - 1, 10**6),
}


@pytest.mark.parametrize(("text", "value"), sorted(GOOD.items()))
def test_parse_good(text, value):
    result = parse_decimal(text, field="x")
    assert result == value
    assert type(result) is Fraction


@pytest.mark.parametrize(
    "text",
    [
        "",
        "-",
        "+1",
        "01",
        "00",
        "00.5",
        "1.",
        ".5",
        "1e3",
        "1E3",
        "1.5e-3",
        " 1",
        "1 ",
        "1\n",
        "\n1",
        "1_000",
        "1,5",
        "0x10",
        "NaN",
        "inf",
        "Infinity",
        "1.0000001",  # 7 places
        "1" * 31,  # 31 integer digits
        "١٢",  # Arabic-Indic digits
        "１",  # fullwidth digit
        "1.2.3",
        "--1",
        "-1",  # negative not allowed by default
        "-0",
    ],
)
def test_parse_bad_strings(text):
    with pytest.raises(FixedPointError) as info:
        parse_decimal(text, field="params.wd")
    assert "params.wd" in str(info.value)
    assert isinstance(info.value, ValueError)
    assert info.value.field == "params.wd"


@pytest.mark.parametrize(
    "value",
    [1.5, 0.0, float("nan"), True, False, None, b"1", decimal.Decimal("1"), Fraction(1, 2), [1]],
)
def test_parse_bad_types(value):
    with pytest.raises(FixedPointError, match="qty"):
        parse_decimal(value, field="qty")


def test_parse_ints():
    assert parse_decimal(5, field="x") == 5
    assert parse_decimal(0, field="x") == 0
    assert parse_decimal(10**30 - 1, field="x") == 10**30 - 1
    with pytest.raises(FixedPointError):
        parse_decimal(10**30, field="x")
    with pytest.raises(FixedPointError):
        parse_decimal(-1, field="x")
    assert parse_decimal(-7, field="x", allow_negative=True) == -7
    with pytest.raises(FixedPointError):
        parse_decimal(-(10**30), field="x", allow_negative=True)


def test_parse_negative_allowed():
    assert parse_decimal("-1.5", field="x", allow_negative=True) == Fraction(-3, 2)
    assert parse_decimal("-0", field="x", allow_negative=True) == 0
    with pytest.raises(FixedPointError):
        parse_decimal("--1", field="x", allow_negative=True)
    with pytest.raises(FixedPointError):
        parse_decimal("-01", field="x", allow_negative=True)


def test_max_places():
    assert parse_decimal("1.25", field="x", max_places=2) == Fraction(5, 4)
    with pytest.raises(FixedPointError, match="2 decimal places"):
        parse_decimal("1.255", field="x", max_places=2)
    assert parse_decimal("3", field="x", max_places=0) == 3
    with pytest.raises(FixedPointError):
        parse_decimal("3.0", field="x", max_places=0)
    with pytest.raises(ValueError):
        parse_decimal("3", field="x", max_places=-1)


def test_very_long_input_rejected_quickly():
    with pytest.raises(FixedPointError):
        parse_decimal("1" * 1_000_000, field="x")


@pytest.mark.parametrize(
    ("value", "places", "text"),
    [
        (Fraction(22345213891, 7500000), 6, "2979.361852"),
        (Fraction(156260237, 100000), 6, "1562.60237"),
        (Fraction(13, 25), 6, "0.52"),
        (3, 6, "3"),
        (Fraction(3), 6, "3"),
        (0, 6, "0"),
        (Fraction(1, 3), 6, "0.333333"),
        (Fraction(2, 3), 6, "0.666666"),  # truncated, not rounded
        (Fraction(-2, 3), 6, "-0.666666"),  # toward zero
        (Fraction(-1, 10**9), 6, "0"),  # never "-0"
        (Fraction(-5, 2), 0, "-2"),
        (Fraction(7, 2), 0, "3"),
        (Fraction(1, 100), 6, "0.01"),
        (Fraction(1000001, 10**6), 6, "1.000001"),
        (Fraction(10, 1), 6, "10"),
        (Fraction(1, 8), 2, "0.12"),
    ],
)
def test_format(value, places, text):
    assert format_decimal(value, places) == text


def test_format_rejects_float_and_bool():
    with pytest.raises(TypeError):
        format_decimal(1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        format_decimal(True)
    with pytest.raises(ValueError):
        format_decimal(Fraction(1), -1)


def test_floor_ceil():
    assert floor_int(Fraction(7, 2)) == 3
    assert ceil_int(Fraction(7, 2)) == 4
    assert floor_int(Fraction(-7, 2)) == -4
    assert ceil_int(Fraction(-7, 2)) == -3
    assert floor_int(5) == 5
    assert ceil_int(5) == 5
    assert floor_int(Fraction(2979361852, 10**6)) == 2979
    with pytest.raises(TypeError):
        floor_int(2.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        ceil_int(True)
    assert type(floor_int(Fraction(1, 2))) is int
    assert type(ceil_int(Fraction(1, 2))) is int


fractions = st.fractions(max_denominator=10**9).filter(lambda f: abs(f) < 10**20)


@given(fractions)
def test_floor_ceil_properties(x):
    f, c = floor_int(x), ceil_int(x)
    assert f <= x < f + 1
    assert c - 1 < x <= c
    assert (f == c) == (x.denominator == 1)


@given(fractions, st.integers(min_value=0, max_value=6))
def test_format_parse_roundtrip_is_truncation(x, places):
    text = format_decimal(x, places)
    back = parse_decimal(text, field="x", allow_negative=True)
    assert back == truncate(x, places)
    assert abs(back) <= abs(x)
    assert abs(x - back) < Fraction(1, 10**places)
    # minimal form
    assert not (("." in text) and text.endswith("0"))
    assert not text.endswith(".")
    assert text != "-0"


@given(
    st.integers(min_value=-(10**30) + 1, max_value=10**30 - 1),
    st.integers(min_value=0, max_value=6),
    st.integers(min_value=0, max_value=10**6 - 1),
)
def test_parse_matches_decimal_module(int_part, places, frac_seed):
    frac = str(frac_seed).rjust(6, "0")[:places]
    text = str(int_part) + (f".{frac}" if places else "")
    assert re.fullmatch(r"-?(0|[1-9][0-9]*)(\.[0-9]{1,6})?", text)
    if int_part < 0 or text.startswith("-"):
        value = parse_decimal(text, field="x", allow_negative=True)
    else:
        value = parse_decimal(text, field="x")
    ctx = decimal.Context(prec=100)
    assert value == Fraction(ctx.create_decimal(text))
    # the canonical (minimal) form of the value formats back to itself
    canon = format_decimal(value)
    assert parse_decimal(canon, field="x", allow_negative=True) == value


@given(st.text(max_size=12))
def test_parse_random_text_never_crashes_unexpectedly(text):
    try:
        value = parse_decimal(text, field="x", allow_negative=True)
    except FixedPointError:
        assert not re.fullmatch(r"-?(0|[1-9][0-9]{0,29})(\.[0-9]{1,6})?", text, flags=re.ASCII)
    else:
        assert re.fullmatch(r"-?(0|[1-9][0-9]{0,29})(\.[0-9]{1,6})?", text, flags=re.ASCII)
        assert value == Fraction(decimal.Decimal(text))
