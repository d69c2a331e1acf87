"""Checks of everything a request brings (path segments, query parameters), and the
explorer's error type with its stable codes.

An :class:`ExplorerError` becomes a 4xx HTML page or ``{"error": {"code", "message"}}``;
its HTTP status comes from the table the node's API uses too
(``ledger.api_errors.STATUS_BY_CODE``); :data:`EXPLORER_CODES` are the codes the explorer
answers.
"""

from __future__ import annotations

import re
from datetime import date
from typing import TypeGuard

from chaincode.schema import ID_RE
from ledger.api_errors import ApiError

__all__ = [
    "DEFAULT_PAGE",
    "MAX_PAGE",
    "EXPLORER_CODES",
    "ExplorerError",
    "parse_after",
    "parse_county",
    "parse_eval_period",
    "parse_height",
    "parse_id",
    "parse_limit",
    "parse_tx_id",
    "parse_date",
    "parse_statement_period",
]

DEFAULT_PAGE = 25
MAX_PAGE = 100
MAX_CURSOR_LEN = 200
_HEIGHT_RE = re.compile(r"[0-9]{1,18}")
_HEX64_RE = re.compile(r"[0-9a-fA-F]{64}")
_CURSOR_RE = re.compile(r"[A-Za-z0-9._:/-]{1,200}")  # MAX_CURSOR_LEN
_PERIOD_RE = re.compile(r"[0-9]{4}(-[0-9A-Za-z]{1,9})?")

#: Every code the explorer answers (its status: ``ledger.api_errors.STATUS_BY_CODE``).
EXPLORER_CODES: tuple[str, ...] = (
    "bad_height", "bad_tx_id", "bad_id", "bad_limit", "bad_cursor", "bad_query", "bad_period",
    "invalid_serial", "no_certificate", "not_json", "malformed_certificate", "malformed_form",
    "unknown_block", "unknown_tx", "unknown_account", "unknown_org", "unknown_project",
    "unknown_plot", "unknown_report", "unknown_attestation", "unknown_batch",
    "unknown_retirement", "unknown_serial", "not_found", "upload_too_large",
    "unsupported_media_type", "certificate_unavailable", "verifier_unavailable",
    "bad_date", "bad_tz",
)


class ExplorerError(ApiError):
    """A request the explorer refuses: a stable ``code``, a message for people, and the
    code's one status (4xx, or 503 when a node-supplied service is missing)."""


def parse_height(text: str) -> int:
    """A block height (1..10^18-1) from a path segment; ``bad_height`` otherwise."""
    if not isinstance(text, str) or not _HEIGHT_RE.fullmatch(text) or int(text) < 1:
        raise ExplorerError("bad_height", "a block height is a whole number from 1")
    return int(text)


def parse_tx_id(text: str) -> str:
    """A transaction id (64 hex digits, either case) in lower case; ``bad_tx_id``."""
    if not isinstance(text, str) or not _HEX64_RE.fullmatch(text):
        raise ExplorerError("bad_tx_id", "a transaction id is 64 hexadecimal digits")
    return text.lower()


def is_hex64(text: object) -> TypeGuard[str]:
    return isinstance(text, str) and _HEX64_RE.fullmatch(text) is not None


def parse_id(text: str, what: str = "identifier") -> str:
    """A ledger identifier (``[A-Za-z0-9][A-Za-z0-9._:-]{0,63}``); ``bad_id`` otherwise."""
    if not isinstance(text, str) or not ID_RE.match(text) or "\n" in text:
        raise ExplorerError(
            "bad_id", f"a {what} is 1..64 letters, digits, '.', '_', ':' or '-'"
        )
    return text


def parse_limit(text: str | None, default: int = DEFAULT_PAGE, maximum: int = MAX_PAGE) -> int:
    """``?limit=``: a whole number in 1..maximum (``bad_limit``); ``default`` if absent."""
    if text is None or text == "":
        return default
    if not _HEIGHT_RE.fullmatch(text) or not 1 <= int(text) <= maximum:
        raise ExplorerError("bad_limit", f"limit is a whole number in 1..{maximum}")
    return int(text)


def _optional(text: str | None, pattern: re.Pattern[str], code: str, message: str) -> str | None:
    """An optional query parameter: None if absent or empty, ``text`` if it matches
    ``pattern``, else ExplorerError(code, message)."""
    if text is None or text == "":
        return None
    if not pattern.fullmatch(text):
        raise ExplorerError(code, message)
    return text


def parse_after(text: str | None) -> str | None:
    """``?after=``: a page cursor as returned in ``next`` (``bad_cursor``)."""
    return _optional(
        text, _CURSOR_RE, "bad_cursor", "after is a cursor returned as 'next' by a previous page"
    )


def parse_before(text: str | None) -> int | None:
    """``?before=`` for block lists: a height (``bad_cursor``)."""
    if text is None or text == "":
        return None
    if not _HEIGHT_RE.fullmatch(text) or int(text) < 1:
        raise ExplorerError("bad_cursor", "before is a block height")
    return int(text)


_EVAL_PERIOD_RE = re.compile(r"([0-9]{4})-([0-9]{4})")
_COUNTY_RE = re.compile(r"[0-9]{6}")
#: The longest evaluation period a request may ask for, in years.
MAX_EVAL_YEARS = 20


def parse_eval_period(text: str | None) -> tuple[int, int] | None:
    """``?period=`` of the indicators: ``YYYY-YYYY``, first year <= last year, at most
    :data:`MAX_EVAL_YEARS` years (``bad_period``); None if absent."""
    if text is None or text == "":
        return None
    match = _EVAL_PERIOD_RE.fullmatch(text)
    if match is None:
        raise ExplorerError("bad_period", "an evaluation period looks like 2025-2026 "
                            "(first and last calendar year)")
    first, last = int(match.group(1)), int(match.group(2))
    if not first <= last < first + MAX_EVAL_YEARS:
        raise ExplorerError("bad_period", f"evaluation period {text}: the first year must not "
                            f"be after the last, and a period is at most {MAX_EVAL_YEARS} years")
    return first, last


def parse_county(text: str | None) -> str | None:
    """``?county=``: a 6-digit county code (``bad_id``); None if absent."""
    return _optional(text, _COUNTY_RE, "bad_id", "a county code is 6 digits, e.g. 340122")


def parse_period(text: str | None) -> str | None:
    """``?period=``: a compliance period like ``2025`` or ``2025-H1`` (``bad_period``)."""
    return _optional(
        text, _PERIOD_RE, "bad_period", "a compliance period looks like 2025 or 2025-H1"
    )


_DATE_RE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
#: Statement periods (``?period=`` of an account statement); the first is the default.
STATEMENT_PERIODS = ("month", "quarter", "year")


def parse_date(text: str | None, name: str) -> date | None:
    """``?from=`` / ``?to=``: a calendar date ``YYYY-MM-DD`` from year 1970 (``bad_date``);
    None if absent."""
    if text is None or text == "":
        return None
    match = _DATE_RE.fullmatch(text)
    try:
        day = date(*(int(g) for g in match.groups())) if match else None
    except ValueError:
        day = None
    if day is None or day.year < 1970:
        shown = text if len(text) <= 40 else text[:40] + "…"
        raise ExplorerError("bad_date", f"{name} {shown!r} is not a date: write it as "
                            f"YYYY-MM-DD, e.g. 2026-03-01, from 1970")
    return day


def parse_statement_period(kind: str | None, first: str | None, last: str | None
                           ) -> tuple[str, date | None, date | None]:
    """An account statement's ``?period=`` (month, quarter or year; default month;
    ``bad_period``) and ``?from=`` / ``?to=`` (``bad_date``; ``to`` before ``from``:
    ``bad_period``)."""
    if kind is None or kind == "":
        kind = STATEMENT_PERIODS[0]
    if kind not in STATEMENT_PERIODS:
        shown = kind if len(kind) <= 40 else kind[:40] + "…"
        raise ExplorerError("bad_period", f"statement period {shown!r} is not one of "
                            f"{', '.join(STATEMENT_PERIODS)}")
    start, end = parse_date(first, "from"), parse_date(last, "to")
    if start is not None and end is not None and end < start:
        raise ExplorerError("bad_period", f"the statement's last day {end.isoformat()} (to) "
                            f"is before its first day {start.isoformat()} (from)")
    return kind, start, end
