"""Bulk exports: CSV of every list, GeoJSON of plots (docs/explorer.md, "Exports").

Every export reads committed state in key order through :func:`scan`, which seeks from the
last key it returned for each internal page of :data:`EXPORT_PAGE` records (never from the
first record again), and is written out as it is read (:func:`csv_chunks`,
:func:`geojson_chunks`): no export is built whole in memory.

An :class:`Export` is a file name, its columns and ``records(after)``: the records after a
cursor, each as ``(cursor, rows)`` (one record may give several rows: a retirement, trade or
transfer gives one row per serial range it moved). The cursor of a record is its key suffix
under the export's prefix, so a page's ``next`` (``X-Next-Cursor``) is where the next page
starts.

CSV: UTF-8 with a byte order mark (EF BB BF, so that spreadsheet programs read Chinese
names right), a header row, RFC 4180 quoting (``,``, ``"`` and line breaks quoted, ``"``
doubled), CRLF line ends. Integers are written as they are; a text cell that a spreadsheet
would run as a formula (it starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return) gets a leading ``'``. Structured values (lists, objects) are written as JSON text.

GeoJSON (RFC 7946): a FeatureCollection of plot polygons; coordinates are the ledger's
integer 1e-7 degree values written exactly as decimal numbers with 7 places, longitude
first; exterior rings are counterclockwise (the right-hand rule: a clockwise ring as
registered is written reversed; the ledger keeps it as given).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from chaincode.carbon_common import (
    BATCH_PREFIX,
    PLOT_PREFIX,
    PROJECT_PREFIX,
    plot_key,
    project_key,
    serial_string,
)
from chaincode.carbon_market import (
    RETIREMENT_BY_PREFIX,
    RETIREMENT_PREFIX,
    RETIREMENT_SEQ_PREFIX,
    TRADE_PREFIX,
    TRANSFER_PREFIX,
)
from chaincode.framework import ORG_PREFIX, PARAM_PREFIX
from chaincode.params import PARAMHIST_PREFIX
from chaincode.units import BUFFER_ACCOUNT, HOLDING_PREFIX, batch_stats
from explorer.data import Reader, accreditation_state, iso_time
from explorer.inputs import ExplorerError, RetirementFilters, parse_id, parse_vintage
from ledger.cursor import seek, take
from ledger.encoding import decode

__all__ = [
    "BOM",
    "EXPORT_PAGE",
    "HOLDING_COLUMNS",
    "ISSUANCE_COLUMNS",
    "MAX_EXPORT",
    "ORG_COLUMNS",
    "PARAMETER_COLUMNS",
    "PARAMETER_HISTORY_COLUMNS",
    "PLOT_COLUMNS",
    "PROJECT_COLUMNS",
    "RETIREMENT_COLUMNS",
    "TRADE_COLUMNS",
    "TRANSFER_COLUMNS",
    "Export",
    "csv_chunks",
    "decimal_degrees",
    "geojson_chunks",
    "holdings_export",
    "indicators_export",
    "orgs_export",
    "indicator_periods_export",
    "issuances_export",
    "market_months_export",
    "parameter_history_export",
    "parameters_export",
    "plot_feature",
    "plots_export",
    "project_plots_export",
    "projects_export",
    "retirements_export",
    "scan",
    "statement_export",
    "take",
    "trades_export",
    "transfers_export",
]

#: The UTF-8 byte order mark every CSV export starts with.
BOM = "\ufeff"
#: Records read per seek of the store (one internal page).
EXPORT_PAGE = 500
#: Most records of one page when a client asks for pages (``?limit=``).
MAX_EXPORT = 5000
#: Bytes of CSV or GeoJSON gathered before a chunk is sent.
CHUNK_BYTES = 64 * 1024
_CACHE = 1024

Rows = list[dict[str, Any]]
Records = Iterator[tuple[str, Rows]]

_RANGE_COLUMNS = ("project_id", "batch_id", "vintage", "first_unit", "last_unit",
                  "range_quantity", "serial")

RETIREMENT_COLUMNS = (
    "retirement_id", "height", "time", "purpose", "enterprise", "beneficiary", "reason",
    "compliance_period", "retirement_quantity", *_RANGE_COLUMNS,
)

ISSUANCE_COLUMNS = (
    "batch_id", "project_id", "report_id", "verification_attestation", "vintage", "quantity",
    "owner_org", "owner_quantity", "buffer_quantity", "buffer_rate", "first_unit", "last_unit",
    "serial", "owner_serial", "buffer_serial", "held", "listed", "retired", "cancelled",
    "in_buffer", "frozen", "tx_id", "height", "time",
)

ORG_COLUMNS = (
    "org_id", "name", "roles", "status", "accreditation", "accreditation_valid_until",
    "accreditation_state", "enrolled_height", "enrolled_time",
)
PROJECT_COLUMNS = (
    "project_id", "name", "owner_org", "status", "county_code", "methodology", "risk_rating",
    "start_date", "crediting_period_years", "crediting_period_end", "baseline",
    "benefit_split_owner", "benefit_split_farmers", "benefit_split_government", "plot_count",
    "plots", "validation_attestation", "registration_height", "registration_tx_id",
    "pdd_sha256", "created_height", "tx_id", "height",
)

PLOT_COLUMNS = (
    "plot_id", "project_id", "owner_org", "species", "county_code", "planting_date",
    "declared_area_ha", "area_m2", "area_ha", "non_forest_years", "tenure_doc_type",
    "tenure_doc_number", "min_lon", "min_lat", "max_lon", "max_lat", "created_height",
    "tx_id", "height",
)

HOLDING_COLUMNS = (
    "account", "state", "project_id", "batch_id", "vintage", "first_unit", "last_unit",
    "quantity", "frozen", "serial",
)

TRADE_COLUMNS = (
    "trade_id", "height", "time", "trade_date", "settlement_date", "listing_id", "exchange",
    "seller", "buyer", "quantity", "price", "gross", "settlement_ref", *_RANGE_COLUMNS,
)

TRANSFER_COLUMNS = (
    "transfer_id", "height", "time", "from_org", "to_org", "quantity", "price", "gross",
    "settlement_ref", *_RANGE_COLUMNS,
)

MARKET_MONTH_COLUMNS = ("month", "trades", "volume", "gross", "average_price", "low_price",
                        "high_price")
INDICATOR_COLUMNS = (
    "period", "county", "projects_registered", "issued", "traded", "traded_primary",
    "traded_resale", "traded_exchange", "retired", "average_price", "primary_average_price",
    "primary_gross", "resale_gross", "farmers_income", "subsidy_owed", "subsidy_paid",
)
PARAMETER_COLUMNS = ("name", "value", "height", "set_by", "tx_id", "reason")
PARAMETER_HISTORY_COLUMNS = PARAMETER_COLUMNS
STATEMENT_COLUMNS = (
    "account", "period", "row", "time", "height", "tx_id", "movement", "action",
    "counterparty", "counterparty_name", "quantity", "change", "balance", "serials",
)

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Export:
    """One export: its file name, its columns and its records after a cursor."""

    filename: str
    columns: tuple[str, ...]
    records: Callable[[str | None], Records]
    #: whether a cursor has this export's form (checked before anything is sent)
    cursor_ok: Callable[[str], bool] = lambda _cursor: True


# -- reading ------------------------------------------------------------------------------
def scan(store: Any, prefix: str, after: str | None) -> Iterator[tuple[str, Any]]:
    """``(suffix, value)`` of the keys under ``prefix`` whose suffix is > ``after``, in key
    order: :func:`ledger.cursor.seek`, :data:`EXPORT_PAGE` records per seek."""
    return seek(store, prefix, after, chunk=EXPORT_PAGE)


class _Lru:
    """A bounded cache (the least recently used entry goes first)."""

    def __init__(self, build: Callable[[Any], Any], size: int = _CACHE) -> None:
        self.build, self.size = build, size
        self.data: OrderedDict[Any, Any] = OrderedDict()

    def __call__(self, key: Any) -> Any:
        if key in self.data:
            self.data.move_to_end(key)
            return self.data[key]
        value = self.build(key)
        self.data[key] = value
        if len(self.data) > self.size:
            self.data.popitem(last=False)
        return value


def _times(reader: Reader) -> Callable[[Any], str | None]:
    """Block time (ISO 8601, China Standard Time) per height, cached."""
    cache = _Lru(lambda h: iso_time(reader.block_time(h)))

    def time_of(height: Any) -> str | None:
        if not isinstance(height, int) or isinstance(height, bool):
            return None
        return cache(height)

    return time_of


def _known_project(reader: Reader, project_id: str) -> str:
    project_id = parse_id(project_id, "project id")
    if reader.state(project_key(project_id)) is None:
        raise ExplorerError("unknown_project", f"no project {project_id!r}")
    return project_id


def _range_row(rng: dict[str, Any]) -> dict[str, Any]:
    return {"batch_id": rng.get("batch_id"), "first_unit": rng.get("first"),
            "last_unit": rng.get("last"), "project_id": rng.get("project_id"),
            "range_quantity": rng.get("quantity"), "serial": rng.get("serial"),
            "vintage": rng.get("vintage")}


def _per_range(record: dict[str, Any], row: dict[str, Any]) -> Rows:
    """One row per serial range of ``record`` (one row with empty range cells if none)."""
    return [dict(row, **_range_row(rng)) for rng in record.get("ranges") or [{}]]


# -- exports ------------------------------------------------------------------------------
def projects_export(reader: Reader) -> Export:
    def records(after: str | None) -> Records:
        for cursor, p in scan(reader.store, PROJECT_PREFIX, after):
            split = p.get("benefit_split") or {}
            reg = p.get("registration") or {}
            plots = p.get("plots") or []
            yield cursor, [{
                "baseline": p.get("baseline"), "benefit_split_farmers": split.get("farmers"),
                "benefit_split_government": split.get("government"),
                "benefit_split_owner": split.get("owner"), "county_code": p.get("county_code"),
                "created_height": p.get("created_height"),
                "crediting_period_end": p.get("crediting_period_end"),
                "crediting_period_years": p.get("crediting_period_years"),
                "height": p.get("height"), "methodology": p.get("methodology"),
                "name": p.get("name"), "owner_org": p.get("owner_org"),
                "pdd_sha256": p.get("pdd_sha256"), "plot_count": len(plots),
                "plots": " ".join(str(x) for x in plots), "project_id": p.get("id"),
                "registration_height": reg.get("height"), "registration_tx_id": reg.get("tx_id"),
                "risk_rating": p.get("risk_rating"), "start_date": p.get("start_date"),
                "status": p.get("status"), "tx_id": p.get("tx_id"),
                "validation_attestation": p.get("validation_attestation"),
            }]

    return Export("projects.csv", PROJECT_COLUMNS, records)


def orgs_export(reader: Reader) -> Export:
    """Organisations by id with their roles, status and accreditation (its state at the
    tip's block time, as the organisations page shows it)."""
    time_of = _times(reader)
    tip = reader.height()
    now = reader.block_time(tip) if tip > 0 else None

    def records(after: str | None) -> Records:
        for cursor, o in scan(reader.store, ORG_PREFIX, after):
            until = o.get("accreditation_valid_until")
            yield cursor, [{
                "org_id": o.get("id"), "name": o.get("name"),
                "roles": " ".join(str(r) for r in o.get("roles") or []),
                "status": o.get("status"), "accreditation": o.get("accreditation"),
                "accreditation_valid_until": iso_time(until) if isinstance(until, int) else None,
                "accreditation_state": accreditation_state(o, now),
                "enrolled_height": o.get("enrolled_at"),
                "enrolled_time": time_of(o.get("enrolled_at")),
            }]

    return Export("organisations.csv", ORG_COLUMNS, records)


def decimal_degrees(e7: int) -> str:
    """An integer coordinate in 1e-7 degree as an exact decimal with 7 places."""
    sign = "-" if e7 < 0 else ""
    whole, frac = divmod(abs(e7), 10**7)
    return f"{sign}{whole}.{frac:07d}"


def _hectares(area_m2: Any) -> str | None:
    """Square metres (an integer) as hectares, exactly, with 4 places."""
    if not isinstance(area_m2, int) or isinstance(area_m2, bool):
        return None
    whole, frac = divmod(area_m2, 10**4)
    return f"{whole}.{frac:04d}"


def _plot_row(p: dict[str, Any]) -> dict[str, Any]:
    tenure = p.get("tenure") or {}
    bbox = p.get("bbox") or [None] * 4
    box = [decimal_degrees(v) if isinstance(v, int) else None for v in bbox]
    return {
        "area_ha": _hectares(p.get("area_m2")), "area_m2": p.get("area_m2"),
        "county_code": p.get("county_code"), "created_height": p.get("created_height"),
        "declared_area_ha": p.get("declared_area_ha"), "height": p.get("height"),
        "max_lat": box[3], "max_lon": box[2], "min_lat": box[1], "min_lon": box[0],
        "non_forest_years": p.get("non_forest_years"), "owner_org": p.get("owner_org"),
        "planting_date": p.get("planting_date"), "plot_id": p.get("id"),
        "project_id": p.get("project_id"), "species": p.get("species"),
        "tenure_doc_number": tenure.get("doc_number"), "tenure_doc_type": tenure.get("doc_type"),
        "tx_id": p.get("tx_id"),
    }


def plots_export(reader: Reader) -> Export:
    """Every plot, by plot id (rows for CSV; the records carry the plot for GeoJSON)."""
    def records(after: str | None) -> Records:
        for cursor, p in scan(reader.store, PLOT_PREFIX, after):
            yield cursor, [dict(_plot_row(p), _plot=p)]

    return Export("plots.csv", PLOT_COLUMNS, records)


def project_plots_export(reader: Reader, project_id: str) -> Export:
    """The plots of one project (at most 1000, in the project's order; the cursor is the
    plot's position in that list)."""
    project_id = _known_project(reader, project_id)

    def records(after: str | None) -> Records:
        project = reader.state(project_key(project_id)) or {}
        start = 0 if after is None else int(after) + 1
        for i, plot_id in enumerate(project.get("plots") or []):
            if i < start:
                continue
            p = reader.state(plot_key(plot_id)) if isinstance(plot_id, str) else None
            if p is not None:
                yield str(i), [dict(_plot_row(p), _plot=p)]

    return Export(f"plots-{project_id}.csv", PLOT_COLUMNS, records,
                  lambda cursor: cursor.isascii() and cursor.isdigit() and len(cursor) <= 6)


def issuances_export(reader: Reader, project_id: str | None,
                     vintage: str | None = None) -> Export:
    """Issuance batches by batch id (optionally one project's, one vintage's) with their
    unit counts."""
    if project_id is not None:
        project_id = _known_project(reader, project_id)
    year = parse_vintage(vintage)
    time_of = _times(reader)

    def records(after: str | None) -> Records:
        for cursor, b in scan(reader.store, BATCH_PREFIX, after):
            if project_id is not None and b.get("project_id") != project_id:
                continue
            if year is not None and b.get("vintage") != year:
                continue
            bid = b.get("id")
            counts = batch_stats(reader.store, bid) if isinstance(bid, str) else {}
            yield cursor, [{
                "batch_id": b.get("id"), "buffer_quantity": b.get("buffer_quantity"),
                "buffer_rate": b.get("buffer_rate"), "buffer_serial": b.get("buffer_serial"),
                "cancelled": counts.get("cancelled", 0), "first_unit": b.get("first"),
                "frozen": counts.get("frozen", 0), "height": b.get("height"),
                "held": counts.get("held", 0), "in_buffer": counts.get("buffer", 0),
                "last_unit": b.get("last"), "listed": counts.get("listed", 0),
                "owner_org": b.get("owner_org"), "owner_quantity": b.get("owner_quantity"),
                "owner_serial": b.get("owner_serial"), "project_id": b.get("project_id"),
                "quantity": b.get("quantity"), "report_id": b.get("report_id"),
                "retired": counts.get("retired", 0), "serial": b.get("serial"),
                "time": time_of(b.get("height")), "tx_id": b.get("tx_id"),
                "verification_attestation": b.get("verification_attestation"),
                "vintage": b.get("vintage"),
            }]

    name = "issuances.csv" if project_id is None else f"issuances-{project_id}.csv"
    return Export(name, ISSUANCE_COLUMNS, records)


def retirements_export(reader: Reader, enterprise: str | None, period: str | None,
                       filters: RetirementFilters | None = None) -> Export:
    """Retirements in commit order (optionally of one enterprise and/or period, and by the
    retirement list's ``filters``), one row per serial range."""
    if enterprise is not None:
        enterprise = parse_id(enterprise, "enterprise")
    prefix = RETIREMENT_SEQ_PREFIX if enterprise is None else f"{RETIREMENT_BY_PREFIX}{enterprise}/"
    time_of = _times(reader)

    def records(after: str | None) -> Records:
        for cursor, retirement_id in scan(reader.store, prefix, after):
            r = reader.state(RETIREMENT_PREFIX + str(retirement_id))
            if r is None or (period is not None and r.get("period") != period):
                continue
            if filters is not None and not filters.match(r):
                continue
            yield cursor, _per_range(r, {
                "beneficiary": r.get("beneficiary"), "compliance_period": r.get("period"),
                "enterprise": r.get("enterprise"), "height": r.get("height"),
                "purpose": r.get("purpose"), "reason": r.get("reason"),
                "retirement_id": r.get("id"), "retirement_quantity": r.get("quantity"),
                "time": time_of(r.get("height")),
            })

    return Export("retirements.csv", RETIREMENT_COLUMNS, records)


def holdings_export(reader: Reader, account: str | None) -> Export:
    """Unit ranges per account and state (the holdings index), of one account or of all;
    the cursor is the index key after ``holding/``."""
    if account is not None:
        account = parse_id(account, "account")
        known = (account == BUFFER_ACCOUNT or reader.state(ORG_PREFIX + account) is not None
                 or next(iter(reader.store.iter_prefix(f"{HOLDING_PREFIX}{account}/")), None))
        if not known:
            raise ExplorerError("unknown_account", f"no organisation or account {account!r}")
    prefix = HOLDING_PREFIX if account is None else f"{HOLDING_PREFIX}{account}/"
    base = "" if account is None else f"{account}/"

    def records(after: str | None) -> Records:
        # the cursor is always the key after "holding/": strip the account part to seek
        if after is not None and account is not None:
            after = after[len(base):] if after.startswith(base) else after
        for suffix, idx in scan(reader.store, prefix, after):
            acct, state, pid, first_text = (base + suffix).split("/")
            first, last = int(first_text), idx.get("last")
            yield base + suffix, [{
                "account": acct, "batch_id": idx.get("batch_id"), "first_unit": first,
                "frozen": idx.get("frozen"), "last_unit": last, "project_id": pid,
                "quantity": last - first + 1 if isinstance(last, int) else None,
                "serial": serial_string(pid, idx["vintage"], first, last)
                if isinstance(last, int) and isinstance(idx.get("vintage"), int) else None,
                "state": state, "vintage": idx.get("vintage"),
            }]

    name = "holdings.csv" if account is None else f"holdings-{account}.csv"
    return Export(name, HOLDING_COLUMNS, records)


def trades_export(reader: Reader) -> Export:
    """Exchange trades by trade id (the matching transaction's id), one row per range."""
    time_of = _times(reader)

    def records(after: str | None) -> Records:
        for cursor, t in scan(reader.store, TRADE_PREFIX, after):
            yield cursor, _per_range(t, {
                "buyer": t.get("buyer"), "exchange": t.get("exchange"), "gross": t.get("gross"),
                "height": t.get("height"), "listing_id": t.get("listing_id"),
                "price": t.get("price"), "quantity": t.get("quantity"),
                "seller": t.get("seller"), "settlement_date": t.get("settlement_date"),
                "settlement_ref": t.get("settlement_ref"), "time": time_of(t.get("height")),
                "trade_date": t.get("trade_date"), "trade_id": t.get("id"),
            })

    return Export("trades.csv", TRADE_COLUMNS, records)


def transfers_export(reader: Reader) -> Export:
    """Off-exchange transfers by transfer id (the transaction's id), one row per range."""
    time_of = _times(reader)

    def records(after: str | None) -> Records:
        for cursor, t in scan(reader.store, TRANSFER_PREFIX, after):
            yield cursor, _per_range(t, {
                "from_org": t.get("from"), "gross": t.get("gross"), "height": t.get("height"),
                "price": t.get("price"), "quantity": t.get("quantity"),
                "settlement_ref": t.get("settlement_ref"), "time": time_of(t.get("height")),
                "to_org": t.get("to"), "transfer_id": t.get("id"),
            })

    return Export("transfers.csv", TRANSFER_COLUMNS, records)


def market_months_export(reader: Reader) -> Export:
    """Exchange trades per month (every month with a trade, ascending; the cursor is the
    month): from the explorer's activity index (explorer/activity.py), not a chain scan."""
    def records(after: str | None) -> Records:
        for row in reader.market_months():
            if after is None or row["month"] > after:
                yield row["month"], [row]

    return Export("market-months.csv", MARKET_MONTH_COLUMNS, records,
                  lambda cursor: len(cursor) == 7 and cursor[4] == "-")


def indicators_export(d: dict[str, Any]) -> Export:
    """The indicators of one period (``Reader.indicators``): a row per county, by county
    code (the cursor), then the total (county ``all``, cursor ``all``)."""
    rows = [(str(r["county"]), dict(r, period=d["period"])) for r in d["counties"]]
    rows.append(("all", dict(d["total"], county="all", period=d["period"])))

    def records(after: str | None) -> Records:
        for cursor, row in rows:
            if after is None or (after != "all" and (cursor == "all" or cursor > after)):
                yield cursor, [row]

    name = f"indicators-{d['period']}" + (f"-{d['county']}" if d["county"] else "") + ".csv"
    return Export(name, INDICATOR_COLUMNS, records,
                  lambda cursor: cursor == "all" or (cursor.isascii() and cursor.isdigit() and len(cursor) <= 6)
                  or cursor == "unknown")


def indicator_periods_export(d: dict[str, Any]) -> Export:
    """The indicators of the last evaluation periods up to the chosen one
    (``Reader.indicators``' ``periods``, oldest first), of the chosen county or of all
    (county ``all``): a row per period; the cursor is the period (``2025-2026``)."""
    county = d["county"] or "all"
    rows = [(str(r["period"]), dict(r, county=county)) for r in d["periods"]]

    def records(after: str | None) -> Records:
        for cursor, row in rows:
            if after is None or cursor > after:
                yield cursor, [row]

    name = f"indicator-periods-{d['period']}" + (f"-{d['county']}" if d["county"] else "") + ".csv"
    return Export(name, INDICATOR_COLUMNS, records,
                  lambda cursor: re.fullmatch(r"[0-9]{4}-[0-9]{4}", cursor) is not None)


def statement_export(reader: Reader, st: dict[str, Any]) -> Export:
    """One account statement (``Reader.statement`` with every movement of the period): a
    row ``opening`` (the opening balance), one row per movement (its change, the balance
    after it, its serial ranges separated by spaces), a row ``closing``. The sum of the
    ``change`` column is closing - opening. Cursors: ``opening``, the movement's ordinal
    (1, 2, ...), ``closing``."""
    if len(st["movements"]) < st["count"]:
        raise ExplorerError("bad_period", f"the period {st['label']} has {st['count']} "
                            f"movements, more than the {len(st['movements'])} one statement "
                            f"file holds; choose a shorter period (from/to)")
    base = {"account": st["account"], "period": st["label"]}
    rows: list[tuple[str, dict[str, Any]]] = [
        ("opening", dict(base, row="opening", time=iso_time(st["start_ms"]),
                         balance=st["opening"]))]
    for n, m in enumerate(st["movements"], start=1):
        rows.append((str(n), dict(
            base, row=str(n), time=m["time_iso"], height=m["height"], tx_id=m["tx_id"],
            movement=m["kind"], action=m["action"], counterparty=m["counterparty"],
            counterparty_name=reader.org_name(m["counterparty"]), quantity=m["quantity"],
            change=m["change"], balance=m["balance"],
            serials=" ".join(r["serial"] for r in m["ranges"]))))
    # the closing balance is at the period's last second, or at the tip if it has not ended
    if st["complete"]:
        closing = dict(base, row="closing", time=iso_time(st["end_ms"] - 1000))
    else:
        closing = dict(base, row="closing", height=st["tip"],
                       time=iso_time(reader.block_time(st["tip"])))
    rows.append(("closing", dict(closing, balance=st["closing"])))
    order = {cursor: i for i, (cursor, _row) in enumerate(rows)}

    def records(after: str | None) -> Records:
        start = 0 if after is None else order[after] + 1
        for cursor, row in rows[start:]:
            yield cursor, [row]

    label = st["label"].replace(" – ", "_")
    return Export(f"statement-{st['account']}-{label}.csv", STATEMENT_COLUMNS, records,
                  lambda cursor: cursor in order)


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def parameters_export(reader: Reader) -> Export:
    """Each policy parameter's value in force, with the block, organisation and
    transaction that set it (its latest history entry: one seek)."""
    def records(after: str | None) -> Records:
        for name, value in scan(reader.store, PARAM_PREFIX, after):
            prefix = f"{PARAMHIST_PREFIX}{name}/"
            found = reader.store.last_at_or_before(prefix, prefix + "9" * 12)
            entry = decode(found[1]) if found is not None else {}
            yield name, [{"height": entry.get("height"), "name": name,
                          "reason": entry.get("reason"), "set_by": entry.get("set_by"),
                          "tx_id": entry.get("tx_id"), "value": _json_text(value)}]

    return Export("parameters.csv", PARAMETER_COLUMNS, records)


def parameter_history_export(reader: Reader) -> Export:
    """Every change of every parameter (genesis values at height 0), by name then height."""
    def records(after: str | None) -> Records:
        for cursor, entry in scan(reader.store, PARAMHIST_PREFIX, after):
            yield cursor, [{"height": entry.get("height"), "name": cursor.rsplit("/", 1)[0],
                            "reason": entry.get("reason"), "set_by": entry.get("set_by"),
                            "tx_id": entry.get("tx_id"), "value": _json_text(entry.get("value"))}]

    return Export("parameter-history.csv", PARAMETER_HISTORY_COLUMNS, records)


# -- writing ------------------------------------------------------------------------------
def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return value
    text = value if isinstance(value, str) else _json_text(value)
    if text.startswith(_FORMULA_START):
        return "'" + text
    return text


def csv_chunks(columns: Sequence[str], records: Iterable[tuple[str, Rows]]) -> Iterator[bytes]:
    """The CSV file (BOM, header, rows) in chunks of about :data:`CHUNK_BYTES`."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    buf.write(BOM)
    writer.writerow(columns)
    for _cursor, rows in records:
        for row in rows:
            writer.writerow([_cell(row.get(c)) for c in columns])
        if buf.tell() >= CHUNK_BYTES:
            yield buf.getvalue().encode("utf-8")
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue().encode("utf-8")


def _ring(coordinates: Any) -> list[list[int]]:
    """The exterior ring, closed and counterclockwise (RFC 7946, section 3.1.6)."""
    ring = [list(p) for p in coordinates[0]]
    if ring and ring[0] != ring[-1]:
        ring.append(list(ring[0]))
    twice_area = sum(ring[i][0] * ring[i + 1][1] - ring[i + 1][0] * ring[i][1]
                     for i in range(len(ring) - 1))
    return ring[::-1] if twice_area < 0 else ring


def plot_feature(plot: dict[str, Any]) -> str:
    """One plot as a GeoJSON Feature (JSON text; exact decimal coordinates)."""
    polygon = plot.get("polygon") or {}
    ring = _ring(polygon.get("coordinates") or [[]])
    positions = ",".join(f"[{decimal_degrees(lon)},{decimal_degrees(lat)}]" for lon, lat in ring)
    properties = {
        "area_ha": _hectares(plot.get("area_m2")), "county_code": plot.get("county_code"),
        "declared_area_ha": plot.get("declared_area_ha"), "owner_org": plot.get("owner_org"),
        "planting_date": plot.get("planting_date"), "plot_id": plot.get("id"),
        "project_id": plot.get("project_id"), "species": plot.get("species"),
    }
    return (f'{{"type":"Feature","id":{_json_text(plot.get("id"))},'
            f'"geometry":{{"type":"Polygon","coordinates":[[{positions}]]}},'
            f'"properties":{_json_text(properties)}}}')


def geojson_chunks(records: Iterable[tuple[str, Rows]]) -> Iterator[bytes]:
    """A FeatureCollection of the plots in ``records``, in chunks."""
    parts = ['{"type":"FeatureCollection","features":[']
    size = 0
    first = True
    for _cursor, rows in records:
        for row in rows:
            feature = plot_feature(row["_plot"])
            parts.append(feature if first else "," + feature)
            size += len(feature)
            first = False
        if size >= CHUNK_BYTES:
            yield "".join(parts).encode("utf-8")
            parts, size = [], 0
    parts.append("]}")
    yield "".join(parts).encode("utf-8")
