"""Small shared pieces of the "carbon" contract (both mixins import this module).

State keys (docs/contracts/carbon-registry.md describes every record)::

    plot/<plot_id>                     a forest plot
    plotqt/<cell>/q<path>/<plot_id>    spatial index (chaincode/plot_index.py)
    project/<project_id>               a project (its PDD)
    attestation/<attestation_id>       a validation or verification attestation
    report/<report_id>                 a monitoring report
    period/<plot_id>/<period_start>    a monitoring period counted for a plot
    batch/<batch_id>                   an issuance batch
    unit/<project_id>/<first:012d>     a unit range (chaincode/units.py)

Every helper here is deterministic and raises :class:`ChaincodeError` with a stable code.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any

from chaincode.framework import ChaincodeError, Signer, TxContext
from ledger.fixedpoint import FixedPointError, parse_decimal

__all__ = [
    "ATTESTATION_PREFIX",
    "BATCH_PREFIX",
    "PERIOD_PREFIX",
    "PLOT_PREFIX",
    "PROGRAMME",
    "PROJECT_PREFIX",
    "REPORT_PREFIX",
    "attestation_key",
    "batch_key",
    "block_date",
    "date_plus_years",
    "decimal_value",
    "load_or_fail",
    "parse_serial_string",
    "period_key",
    "plot_key",
    "project_key",
    "report_key",
    "require_org_signer",
    "serial_string",
    "stamp",
    "unit_serial",
    "validate_date",
    "vintage_of",
]

PLOT_PREFIX = "plot/"
PROJECT_PREFIX = "project/"
ATTESTATION_PREFIX = "attestation/"
REPORT_PREFIX = "report/"
PERIOD_PREFIX = "period/"
BATCH_PREFIX = "batch/"

#: Programme prefix of printable serial numbers.
PROGRAMME = "CCER"

_DATE_RE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_SERIAL_RE = re.compile(
    r"CCER-([A-Za-z0-9][A-Za-z0-9._:-]{0,63})-([0-9]{4})-([0-9]{9,})-([0-9]{9,})"
)


# -- keys ------------------------------------------------------------------------------
def plot_key(plot_id: str) -> str:
    return PLOT_PREFIX + plot_id


def project_key(project_id: str) -> str:
    return PROJECT_PREFIX + project_id


def attestation_key(attestation_id: str) -> str:
    return ATTESTATION_PREFIX + attestation_id


def report_key(report_id: str) -> str:
    return REPORT_PREFIX + report_id


def period_key(plot_id: str, period_start: str) -> str:
    return f"{PERIOD_PREFIX}{plot_id}/{period_start}"


def batch_key(batch_id: str) -> str:
    return BATCH_PREFIX + batch_id


# -- records ---------------------------------------------------------------------------
def load_or_fail(ctx: TxContext, key: str, code: str, message: str) -> dict[str, Any]:
    """The record at ``key``, or ChaincodeError(code, message) if there is none."""
    value = ctx.get(key)
    if value is None:
        raise ChaincodeError(code, message)
    return value


def stamp(ctx: TxContext, record: dict[str, Any]) -> dict[str, Any]:
    """Set ``tx_id`` and ``height`` of the current transaction on ``record`` (in place);
    the first stamp also records ``created_tx_id`` / ``created_height`` (the transaction
    that created the record, which traces and certificates cite)."""
    record.setdefault("created_tx_id", ctx.tx_id)
    record.setdefault("created_height", ctx.block.height)
    record["tx_id"] = ctx.tx_id
    record["height"] = ctx.block.height
    return record


def require_org_signer(ctx: TxContext, org_id: str, code: str = "wrong_owner") -> Signer:
    """A signer that is a member of ``org_id``, else ChaincodeError(code)."""
    for s in ctx.signers():
        if s.org_id == org_id:
            return s
    raise ChaincodeError(code, f"this needs a signature by a member of {org_id}")


# -- values ----------------------------------------------------------------------------
def validate_date(value: Any, field: str) -> str:
    """Check a ``"YYYY-MM-DD"`` calendar date (proleptic Gregorian, year >= 1).

    Returns the string unchanged; valid dates compare correctly as strings.
    Raises ChaincodeError("invalid_date").
    """
    m = _DATE_RE.fullmatch(value) if isinstance(value, str) else None
    if m is None:
        raise ChaincodeError("invalid_date", f"{field} must be a date YYYY-MM-DD, got {value!r}")
    year, month, day = int(m.group(1)), int(m.group(2)), int(m.group(3))
    if year < 1 or not 1 <= month <= 12 or not 1 <= day <= _days_in_month(year, month):
        raise ChaincodeError("invalid_date", f"{field}: {value} is not a calendar date")
    return value


def _days_in_month(year: int, month: int) -> int:
    if month == 2:
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        return 29 if leap else 28
    return 30 if month in (4, 6, 9, 11) else 31


def date_plus_years(date: str, years: int) -> str:
    """The same calendar day ``years`` later (29 February becomes 28 February in a
    non-leap year), for a validated date."""
    year, month, day = int(date[:4]) + years, int(date[5:7]), int(date[8:10])
    day = min(day, _days_in_month(year, month))
    return f"{year:04d}-{month:02d}-{day:02d}"


#: Offset of China Standard Time (UTC+8) in milliseconds; block dates are CST dates.
CST_OFFSET_MS = 8 * 3600 * 1000
_MS_PER_DAY = 86_400_000


def block_date(ctx: TxContext) -> str:
    """The calendar date (China Standard Time, UTC+8) of the block's header time."""
    days = (ctx.block.time + CST_OFFSET_MS) // _MS_PER_DAY
    # civil-from-days (proleptic Gregorian), integer arithmetic only
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    year = yoe + era * 400 + (1 if month <= 2 else 0)
    return f"{year:04d}-{month:02d}-{day:02d}"


def vintage_of(date: str) -> int:
    """The year of a validated ``"YYYY-MM-DD"`` date."""
    return int(date[:4])


def decimal_value(
    value: Any, field: str, *, code: str = "invalid_decimal", allow_negative: bool = False
) -> Fraction:
    """Parse a decimal string (ledger.fixedpoint syntax) or raise ChaincodeError(code)."""
    try:
        return parse_decimal(value, field=field, allow_negative=allow_negative)
    except FixedPointError as exc:
        raise ChaincodeError(code, str(exc)) from None


# -- serial numbers ---------------------------------------------------------------------
def serial_string(project_id: str, vintage: int, first: int, last: int) -> str:
    """Printable serial of an inclusive unit range, e.g.
    ``CCER-AH-0001-2024-000001501-000001800``."""
    return f"{PROGRAMME}-{project_id}-{vintage}-{first:09d}-{last:09d}"


def unit_serial(project_id: str, unit: int) -> str:
    """Serial of a single unit as queries show it, e.g. ``AH-0001:1501``."""
    return f"{project_id}:{unit}"


def parse_serial_string(text: str) -> tuple[str, int, int, int] | None:
    """``(project_id, vintage, first, last)`` from a printable serial, or None if
    ``text`` is not one (first must be >= 1 and <= last)."""
    m = _SERIAL_RE.fullmatch(text) if isinstance(text, str) else None
    if m is None:
        return None
    first, last = int(m.group(3)), int(m.group(4))
    if first < 1 or last < first:
        return None
    return m.group(1), int(m.group(2)), first, last
