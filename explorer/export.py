"""CSV export of retirements and issuances (bulk download for auditors).

One row per serial range: a retirement that took units from two ranges gives two rows
with the same ``retirement_id``. Text cells that a spreadsheet would run as a formula
(starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return) get a leading ``'``;
numbers are written as they are. Pages are bounded (``limit`` items, ``next`` cursor in
the ``X-Next-Cursor`` header).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from explorer.data import Reader, iso_time

__all__ = [
    "ISSUANCE_COLUMNS",
    "MAX_EXPORT",
    "RETIREMENT_COLUMNS",
    "issuances_csv",
    "retirements_csv",
]

MAX_EXPORT = 5000
DEFAULT_EXPORT = 1000
_QUERY_PAGE = 1000

RETIREMENT_COLUMNS = (
    "retirement_id",
    "height",
    "time",
    "purpose",
    "enterprise",
    "beneficiary",
    "reason",
    "compliance_period",
    "retirement_quantity",
    "project_id",
    "batch_id",
    "vintage",
    "first_unit",
    "last_unit",
    "range_quantity",
    "serial",
)

ISSUANCE_COLUMNS = (
    "batch_id",
    "project_id",
    "report_id",
    "verification_attestation",
    "vintage",
    "quantity",
    "owner_org",
    "owner_quantity",
    "buffer_quantity",
    "buffer_rate",
    "first_unit",
    "last_unit",
    "serial",
    "owner_serial",
    "buffer_serial",
    "held",
    "listed",
    "retired",
    "cancelled",
    "in_buffer",
    "frozen",
    "tx_id",
    "height",
    "time",
)

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return value
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    if text.startswith(_FORMULA_START):
        return "'" + text
    return text


def _write(columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return buf.getvalue()


class _Times:
    """Block time per height, read once per export."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader
        self.cache: dict[int, str | None] = {}

    def __call__(self, height: Any) -> str | None:
        if not isinstance(height, int) or isinstance(height, bool):
            return None
        if height not in self.cache:
            self.cache[height] = iso_time(self.reader.block_time(height))
        return self.cache[height]


def _collect(
    fetch: Callable[[str | None, int], dict[str, Any]], key: str, after: str | None, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    """Up to ``limit`` items (``page[key]``) read page by page through ``fetch(cursor,
    page_limit)`` from the cursor ``after``, and the cursor after the last one."""
    items: list[dict[str, Any]] = []
    cursor = after
    while len(items) < limit:
        page = fetch(cursor, min(_QUERY_PAGE, limit - len(items)))
        items.extend(page[key])
        cursor = page["next"]
        if cursor is None:
            break
    return items, cursor


def retirements_csv(
    reader: Reader, *, enterprise: str | None, period: str | None, after: str | None, limit: int
) -> tuple[str, str | None]:
    """CSV text of up to ``limit`` retirements (in commit order) and the next cursor."""
    times = _Times(reader)
    records, cursor = _collect(
        lambda at, n: reader.retirements(enterprise, period, at, n), "retirements", after, limit
    )
    rows = []
    for r in records:
        for rng in r.get("ranges") or [{}]:
            rows.append({
                "batch_id": rng.get("batch_id"),
                "beneficiary": r.get("beneficiary"),
                "compliance_period": r.get("period"),
                "enterprise": r.get("enterprise"),
                "first_unit": rng.get("first"),
                "height": r.get("height"),
                "last_unit": rng.get("last"),
                "project_id": rng.get("project_id"),
                "purpose": r.get("purpose"),
                "range_quantity": rng.get("quantity"),
                "reason": r.get("reason"),
                "retirement_id": r.get("id"),
                "retirement_quantity": r.get("quantity"),
                "serial": rng.get("serial"),
                "time": times(r.get("height")),
                "vintage": rng.get("vintage"),
            })
    return _write(RETIREMENT_COLUMNS, rows), cursor


def issuances_csv(
    reader: Reader, *, project_id: str | None, after: str | None, limit: int
) -> tuple[str, str | None]:
    """CSV text of up to ``limit`` issuance batches (by batch id) and the next cursor."""
    times = _Times(reader)
    batches, cursor = _collect(
        lambda at, n: reader.batches(project_id, at, n), "batches", after, limit
    )
    rows = []
    for b in batches:
        counts = b.get("counts") or {}
        rows.append({
            "batch_id": b.get("id"),
            "buffer_quantity": b.get("buffer_quantity"),
            "buffer_rate": b.get("buffer_rate"),
            "buffer_serial": b.get("buffer_serial"),
            "cancelled": counts.get("cancelled", 0),
            "first_unit": b.get("first"),
            "frozen": counts.get("frozen", 0),
            "height": b.get("height"),
            "held": counts.get("held", 0),
            "in_buffer": counts.get("buffer", 0),
            "last_unit": b.get("last"),
            "listed": counts.get("listed", 0),
            "owner_org": b.get("owner_org"),
            "owner_quantity": b.get("owner_quantity"),
            "owner_serial": b.get("owner_serial"),
            "project_id": b.get("project_id"),
            "quantity": b.get("quantity"),
            "report_id": b.get("report_id"),
            "retired": counts.get("retired", 0),
            "serial": b.get("serial"),
            "time": times(b.get("height")),
            "tx_id": b.get("tx_id"),
            "verification_attestation": b.get("verification_attestation"),
            "vintage": b.get("vintage"),
        })
    return _write(ISSUANCE_COLUMNS, rows), cursor
