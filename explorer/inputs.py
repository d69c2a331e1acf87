"""Checks of everything a request brings (path segments, query parameters), and the
explorer's error type with its stable codes.

An :class:`ExplorerError` becomes a 4xx HTML page or ``{"error": {"code", "message"}}``;
its HTTP status comes from :data:`STATUS_BY_CODE`.
"""

from __future__ import annotations

import re
from typing import TypeGuard

from chaincode.schema import ID_RE

__all__ = [
    "DEFAULT_PAGE",
    "MAX_PAGE",
    "STATUS_BY_CODE",
    "ExplorerError",
    "parse_after",
    "parse_height",
    "parse_id",
    "parse_limit",
    "parse_tx_id",
]

DEFAULT_PAGE = 25
MAX_PAGE = 100
MAX_CURSOR_LEN = 200
_HEIGHT_RE = re.compile(r"[0-9]{1,18}")
_HEX64_RE = re.compile(r"[0-9a-fA-F]{64}")
_CURSOR_RE = re.compile(r"[A-Za-z0-9._:/-]{1,200}")  # MAX_CURSOR_LEN
_PERIOD_RE = re.compile(r"[0-9]{4}(-[0-9A-Za-z]{1,9})?")

STATUS_BY_CODE: dict[str, int] = {
    "bad_height": 400,
    "bad_tx_id": 400,
    "bad_id": 400,
    "bad_limit": 400,
    "bad_cursor": 400,
    "bad_query": 400,
    "bad_period": 400,
    "invalid_serial": 400,
    "no_certificate": 400,
    "not_json": 400,
    "malformed_certificate": 400,
    "malformed_form": 400,
    "unknown_block": 404,
    "unknown_tx": 404,
    "unknown_account": 404,
    "unknown_org": 404,
    "unknown_project": 404,
    "unknown_plot": 404,
    "unknown_report": 404,
    "unknown_attestation": 404,
    "unknown_batch": 404,
    "unknown_retirement": 404,
    "unknown_serial": 404,
    "not_found": 404,
    "upload_too_large": 413,
    "unsupported_media_type": 415,
    "certificate_unavailable": 503,
    "verifier_unavailable": 503,
}


class ExplorerError(Exception):
    """A request the explorer refuses: a stable ``code``, a message for people, a 4xx (or
    503 when a node-supplied service is missing) status."""

    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status if status is not None else STATUS_BY_CODE.get(code, 400)


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


def parse_period(text: str | None) -> str | None:
    """``?period=``: a compliance period like ``2025`` or ``2025-H1`` (``bad_period``)."""
    return _optional(
        text, _PERIOD_RE, "bad_period", "a compliance period looks like 2025 or 2025-H1"
    )
