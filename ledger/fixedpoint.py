"""Exact decimal parsing and formatting for consensus code.

Everything that reaches consensus carries quantities, parameters and
measurements as *decimal strings* (``"0.307"``, ``"2500"``, ``"0.05"``) with at
most six fractional digits (docs/architecture.md, "Determinism rules"). This
module turns such strings into exact rationals (:class:`fractions.Fraction`,
pure integer arithmetic) and back. No floating-point value is ever produced or
accepted.

Accepted text form (``max_places`` = 6 by default)::

    -?(0|[1-9][0-9]*)(\\.[0-9]{1,max_places})?

i.e. no leading ``+``, no leading zeros, no exponent, no whitespace, no
``"1."``/``".5"``, at most 30 integer digits. ``"0.50"`` and ``"0.5"`` are both
accepted and parse to the same value; a leading ``-`` is accepted only with
``allow_negative=True`` (``"-0"`` then parses to 0).

Rounding rules, stated once:

* :func:`format_decimal` **truncates toward zero** to ``places`` digits, then
  prints the minimal form (``"2979.36"``, ``"0.52"``, ``"3"``; never ``"-0"``).
* :func:`floor_int` rounds toward minus infinity, :func:`ceil_int` toward plus
  infinity, :func:`truncate` toward zero.
"""

from __future__ import annotations

import re
from fractions import Fraction

__all__ = [
    "MAX_INTEGER_DIGITS",
    "MAX_PLACES",
    "FixedPointError",
    "ceil_int",
    "floor_int",
    "format_decimal",
    "parse_decimal",
    "truncate",
]

#: Default (and conventional) maximum number of fractional digits.
MAX_PLACES = 6

#: Largest number of digits accepted before the decimal point.
MAX_INTEGER_DIGITS = 30

_INT_LIMIT = 10**MAX_INTEGER_DIGITS

# ASCII digits only ([0-9], not \d, which would accept other Unicode digits);
# used with fullmatch so a trailing newline is not accepted.
_DECIMAL_RE = re.compile(r"(-?)(0|[1-9][0-9]*)(?:\.([0-9]+))?")

# Longest string worth handing to the regex: sign + digits + point + places.
_MAX_TEXT_LEN = 1 + MAX_INTEGER_DIGITS + 1 + 64


class FixedPointError(ValueError):
    """A value is not an acceptable exact decimal. The message names the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.code = "invalid_decimal"


def parse_decimal(
    s: str | int,
    *,
    field: str,
    max_places: int = MAX_PLACES,
    allow_negative: bool = False,
) -> Fraction:
    """Parse a decimal string (or an ``int``) into an exact :class:`Fraction`.

    ``s`` must be a ``str`` of the form described in the module docstring with at
    most ``max_places`` fractional digits and at most 30 integer digits, or an
    ``int`` (taken as an exact integer, |s| < 10**30). ``bool``, ``float``,
    ``Decimal``, ``Fraction`` and every other type are rejected, as are ``"+1"``,
    ``"1e3"``, ``" 1"``, ``"01"``, ``"1."``, ``".5"`` and non-ASCII digits.
    Negative values (a leading ``-``) are rejected unless ``allow_negative``.

    Raises :class:`FixedPointError` (a ``ValueError``) naming ``field``.
    """
    if type(max_places) is not int or max_places < 0:
        raise ValueError("max_places must be a non-negative int")
    if isinstance(s, bool):
        raise FixedPointError(field, "expected a decimal string, got a boolean")
    if isinstance(s, int):
        integer = int(s)
        if integer < 0 and not allow_negative:
            raise FixedPointError(field, "must not be negative")
        if abs(integer) >= _INT_LIMIT:
            raise FixedPointError(field, f"more than {MAX_INTEGER_DIGITS} integer digits")
        return Fraction(integer)
    if not isinstance(s, str):
        raise FixedPointError(field, f"expected a decimal string, got {type(s).__name__}")
    if len(s) > _MAX_TEXT_LEN:
        raise FixedPointError(field, "decimal string too long")
    m = _DECIMAL_RE.fullmatch(s)
    if m is None:
        raise FixedPointError(
            field,
            f"not a plain decimal number (expected e.g. '12', '0.307'): {s!r}",
        )
    sign, int_part, frac_part = m.group(1), m.group(2), m.group(3) or ""
    if sign and not allow_negative:
        raise FixedPointError(field, f"must not be negative: {s!r}")
    if len(int_part) > MAX_INTEGER_DIGITS:
        raise FixedPointError(field, f"more than {MAX_INTEGER_DIGITS} integer digits")
    if len(frac_part) > max_places:
        raise FixedPointError(field, f"more than {max_places} decimal places: {s!r}")
    value = Fraction(int(int_part + frac_part), 10 ** len(frac_part))
    return -value if sign else value


def _check_rational(x: object, what: str) -> Fraction:
    if isinstance(x, bool) or not isinstance(x, (int, Fraction)):
        raise TypeError(f"{what} expects a Fraction or int, got {type(x).__name__}")
    return Fraction(x)


def truncate(x: Fraction | int, places: int = MAX_PLACES) -> Fraction:
    """Return ``x`` truncated **toward zero** to ``places`` fractional digits."""
    if type(places) is not int or places < 0:
        raise ValueError("places must be a non-negative int")
    q = _check_rational(x, "truncate")
    scale = 10**places
    scaled = abs(q.numerator) * scale // q.denominator
    if q.numerator < 0:
        scaled = -scaled
    return Fraction(scaled, scale)


def format_decimal(x: Fraction | int, places: int = MAX_PLACES) -> str:
    """Format ``x`` as a decimal string, **truncated toward zero** to ``places``.

    The output is minimal: no trailing fractional zeros, no decimal point for a
    whole number, never ``"-0"`` (``Fraction(-1, 10**9)`` formats as ``"0"``).
    Examples: ``Fraction(22345213891, 7500000)`` -> ``"2979.361852"``,
    ``Fraction(13, 25)`` -> ``"0.52"``, ``3`` -> ``"3"``. For ``places`` <= 6
    the output is accepted by :func:`parse_decimal` (given ``allow_negative``
    for negative values and a magnitude below 10**30).
    """
    if type(places) is not int or places < 0:
        raise ValueError("places must be a non-negative int")
    q = _check_rational(x, "format_decimal")
    scale = 10**places
    scaled = abs(q.numerator) * scale // q.denominator
    negative = q.numerator < 0 and scaled != 0
    int_part, frac_part = divmod(scaled, scale)
    text = str(int_part)
    if frac_part:
        digits = str(frac_part).rjust(places, "0").rstrip("0")
        text = f"{text}.{digits}"
    return f"-{text}" if negative else text


def floor_int(x: Fraction | int) -> int:
    """Largest integer <= ``x`` (rounds toward minus infinity)."""
    q = _check_rational(x, "floor_int")
    return q.numerator // q.denominator


def ceil_int(x: Fraction | int) -> int:
    """Smallest integer >= ``x`` (rounds toward plus infinity)."""
    q = _check_rational(x, "ceil_int")
    return -((-q.numerator) // q.denominator)
