"""Read-only queries over the "carbon" state, for RPC and the explorer.

Every function takes a :class:`ledger.state.StateReader` (committed state; nothing here
writes) and returns plain dicts and lists of JSON values. Lists are bounded: functions that
can return many items take ``limit`` (1..:data:`MAX_LIMIT`, default :data:`DEFAULT_LIMIT`)
and ``after`` (the ``next`` cursor of the previous page) and return ``next`` (None on the
last page). Bad input raises :class:`ledger.errors.LedgerError` with code
``invalid_query`` or ``invalid_serial``; an unknown id raises it with code ``not_found``.

docs/contracts/queries.md describes every output.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, cast

from chaincode.calculator import micro_text
from chaincode.carbon_common import (
    BATCH_PREFIX,
    PERIOD_PREFIX,
    attestation_key,
    batch_key,
    parse_serial_string,
    plot_key,
    project_key,
    report_key,
    serial_string,
    unit_serial,
)
from chaincode.carbon_market import (
    FREEZE_PREFIX,
    INCOME_PREFIX,
    INVALIDATION_PREFIX,
    LISTING_PREFIX,
    LOSS_PREFIX,
    RETIREMENT_BY_PREFIX,
    RETIREMENT_PREFIX,
    RETIREMENT_SEQ_PREFIX,
    SUBSIDY_PREFIX,
    TRADE_PREFIX,
    TRANSFER_PREFIX,
    fen_string,
)
from chaincode.pool import (
    COMPENSATION_PREFIX,
    POOL_EVENT_KINDS,
    POOLACCT_PREFIX,
    poolevent_prefix,
    reversal_by_prefix,
)
from chaincode.stock import REVERSAL_PREFIX, STOCKHIST_PREFIX, initial_stock, stock_key
from chaincode.units import (
    BUFFER_ACCOUNT,
    HOLDING_STATS_FIELDS,
    STATES,
    STATS_POOL_PREFIX,
    STATS_TOTALS_KEY,
    STATS_VINTAGE_PREFIX,
    TOTALS_FIELDS,
    batch_stats,
    find_range,
    holding_prefix,
    holding_stats_prefix,
)
from ledger import cursor as key_cursor
from ledger.encoding import decode_state
from ledger.errors import LedgerError
from ledger.state import StateReader

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "batches",
    "benefit_shares",
    "buffer_pool",
    "compensation",
    "holdings",
    "page",
    "parse_serial",
    "plot_stock",
    "project",
    "project_stocks",
    "retirements",
    "totals",
    "trace",
    "vintages",
]

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000

#: The record each history action points to (the record id is the step's tx id).
STEP_RECORDS = {
    "invalidate": INVALIDATION_PREFIX,
    "freeze": FREEZE_PREFIX,
    "list": LISTING_PREFIX,
    "loss": LOSS_PREFIX,
    "retire": RETIREMENT_PREFIX,
    "trade": TRADE_PREFIX,
    "transfer": TRANSFER_PREFIX,
    "unfreeze": FREEZE_PREFIX,
}
#: The unit state after each history action (freeze/unfreeze leave it unchanged).
STEP_STATES = {
    "delist": "held",
    "invalidate": "cancelled",
    "issue": "held",
    "list": "listed",
    "loss": "cancelled",
    "retire": "retired",
    "reversal": "cancelled",
    "trade": "held",
    "transfer": "held",
}


def _get(state: StateReader, key: str) -> Any:
    raw = state.get(key)
    return None if raw is None else decode_state(raw)


def _scan(state: StateReader, prefix: str) -> Iterator[tuple[str, Any]]:
    for key, raw in state.iter_prefix(prefix):
        yield key, decode_state(raw)


def _limit(limit: int) -> int:
    if type(limit) is not int or not 1 <= limit <= MAX_LIMIT:
        raise LedgerError("invalid_query", f"limit must be an integer in 1..{MAX_LIMIT}")
    return limit


def _after(after: str | None) -> str | None:
    if after is not None and not isinstance(after, str):
        raise LedgerError("invalid_query", "after must be a cursor string")
    return after


def page(
    items: Iterable[tuple[str, Any]], after: str | None, limit: int
) -> tuple[list[Any], str | None]:
    """Up to ``limit`` values of ``(cursor, value)`` pairs (ascending by cursor) whose
    cursor is > ``after``; ``next`` is the last cursor returned when more remain.
    Raises ``invalid_query`` for a bad limit or cursor. For pairs already in memory (a
    list read from state seeks instead: :func:`ledger.cursor.seek`)."""
    limit = _limit(limit)
    after = _after(after)
    got, nxt = key_cursor.take(
        ((c, v) for c, v in items if after is None or c > after), limit)
    return [value for _cursor, value in got], nxt


def _suffix_after(prefix: str, after: str | None) -> tuple[str | None, bool]:
    """A cursor that is a whole key under ``prefix`` as a suffix cursor for
    :func:`ledger.cursor.seek`: ``(suffix or None, whether anything can follow)``."""
    if after is None or after < prefix:
        return None, True
    if after.startswith(prefix):
        return after[len(prefix):], True
    return None, False  # after every key under the prefix


def _counts() -> dict[str, int]:
    return {"cancelled": 0, "frozen": 0, "held": 0, "listed": 0, "retired": 0}


def _range_view(project_id: str, first: int, idx: dict[str, Any], state: str) -> dict[str, Any]:
    return {
        "batch_id": idx["batch_id"],
        "first": first,
        "frozen": idx["frozen"],
        "last": idx["last"],
        "project_id": project_id,
        "quantity": idx["last"] - first + 1,
        "serial": serial_string(project_id, idx["vintage"], first, idx["last"]),
        "state": state,
        "vintage": idx["vintage"],
    }


# -- holdings ----------------------------------------------------------------------------
def holdings(
    state: StateReader,
    account: str,
    *,
    project_id: str | None = None,
    limit: int = DEFAULT_LIMIT,
    after: str | None = None,
) -> dict[str, Any]:
    """An account's units: totals per state, per project and per batch (over all its
    units, optionally of one project), from the account's counter records
    ``stats/holding/<account>/<batch_id>`` (one read per batch it holds units of), and
    its ranges (a page of them) from the holdings index, read with one seek past
    ``after`` per state. ``frozen`` counts units also counted under their state."""
    limit = _limit(limit)
    after = _after(after)
    base = holding_prefix(account)
    totals = _counts()
    per_project: dict[str, dict[str, int]] = {}
    per_batch: dict[str, dict[str, Any]] = {}
    for batch_id, c in key_cursor.seek(state, holding_stats_prefix(account)):
        pid = c["project_id"]
        if project_id is not None and pid != project_id:
            continue
        counts = {k: int(c[k]) for k in HOLDING_STATS_FIELDS}
        per_batch[batch_id] = dict(counts, project_id=pid, vintage=c["vintage"])
        for bucket in (totals, per_project.setdefault(pid, _counts())):
            for k, n in counts.items():
                bucket[k] += n

    def entries() -> Iterator[tuple[str, Any]]:
        for st in sorted(STATES):
            prefix = holding_prefix(account, st, project_id)
            rel = prefix[len(base):]
            suffix, more = _suffix_after(rel, after)
            if not more:
                continue
            for key, idx in key_cursor.seek(state, prefix, suffix, chunk=limit + 1):
                pid, first = (rel + key).split("/")[1:]
                yield rel + key, _range_view(pid, int(first), idx, st)

    got, nxt = key_cursor.take(entries(), limit)
    ranges = [view for _c, view in got]
    return {
        "account": account,
        "batches": per_batch,
        "next": nxt,
        "projects": per_project,
        "ranges": ranges,
        "totals": totals,
    }


# -- projects and batches -----------------------------------------------------------------
def _batch_totals(state: StateReader, batch_id: str) -> dict[str, int]:
    """A batch's unit counts from its counter record (one read), with ``issued``."""
    counts = batch_stats(state, batch_id)
    counts["issued"] = sum(counts[k] for k in ("buffer", "cancelled", "held", "listed", "retired"))
    return counts


def _sum_totals(per_batch: dict[str, dict[str, int]]) -> dict[str, int]:
    keys = ("buffer", "cancelled", "frozen", "held", "issued", "listed", "retired")
    return {k: sum(c[k] for c in per_batch.values()) for k in keys}


def project(state: StateReader, project_id: str, *, limit: int = DEFAULT_LIMIT) -> dict[str, Any]:
    """A project with its plots, monitoring reports (found through the plots' monitoring
    periods), attestations, batches and unit totals (issued / held / listed / retired /
    buffer / cancelled / frozen). Each list holds at most ``limit`` items."""
    limit = _limit(limit)
    record = _get(state, project_key(project_id))
    if record is None:
        raise LedgerError("not_found", f"no project {project_id!r}")
    plots = [p for p in (_get(state, plot_key(pid)) for pid in record["plots"][:limit]) if p]
    report_ids: set[str] = set()
    for plot_id in record["plots"]:
        for _key, entry in _scan(state, f"{PERIOD_PREFIX}{plot_id}/"):
            report_ids.add(entry["report_id"])
    reports = [r for r in (_get(state, report_key(i)) for i in sorted(report_ids)) if r]
    reports.sort(key=lambda r: (r["period_start"], r["id"]))
    att_ids = [record["validation_attestation"]] + [r["verification_attestation"] for r in reports]
    attestations = [a for a in (_get(state, attestation_key(i)) for i in att_ids if i) if a]
    # every batch comes from one of the project's reports: its counters, one read each
    batch_ids = sorted({r["batch_id"] for r in reports if r["batch_id"]})
    per_batch = {b: _batch_totals(state, b) for b in batch_ids}
    batch_list = []
    for batch_id in batch_ids[:limit]:
        batch = _get(state, batch_key(batch_id))
        if batch is not None:
            batch_list.append(dict(batch, counts=per_batch[batch_id]))
    subsidies = [s for s in (_get(state, SUBSIDY_PREFIX + b) for b in batch_ids) if s]
    return {
        "attestations": attestations[:limit],
        "batches": batch_list,
        "benefit_shares": benefit_shares(state, project_id),
        "plots": plots,
        "project": record,
        "reports": reports[:limit],
        "subsidies": subsidies[:limit],
        "subsidy_totals": _subsidy_totals(subsidies),
        "totals": _sum_totals(per_batch),
    }


def _fen(amount: str) -> int:
    """A ledger amount string with exactly two places (``"344.04"``) in whole fen."""
    whole, _, cents = amount.partition(".")
    sign = -1 if whole.startswith("-") else 1
    return sign * (abs(int(whole)) * 100 + int(cents or "0"))


def _subsidy_totals(subsidies: list[dict[str, Any]]) -> dict[str, str]:
    """Accrued, paid and outstanding (accrued, not yet paid) subsidy amounts in RMB."""
    accrued = sum(_fen(s["amount"]) for s in subsidies)
    paid = sum(_fen(s["amount"]) for s in subsidies if s.get("status") == "paid")
    return {"accrued": fen_string(accrued), "outstanding": fen_string(accrued - paid),
            "paid": fen_string(paid)}


def benefit_shares(state: StateReader, project_id: str) -> dict[str, Any]:
    """What the project's units earned, from the ``income/<project_id>`` record every sale
    updates (one read): only **primary** sales (by the project owner) are project income
    and count in ``gross``/``owner``/``farmers``/``government``; resold tonnes are counted
    apart (``resale_quantity``, ``resale_gross``) and never in the farmers' or the
    government's income. Amounts in RMB with two places."""
    income = _get(state, INCOME_PREFIX + project_id) or {}
    money = ("farmers", "government", "gross", "owner", "resale_gross")
    return {
        **{k: fen_string(int(income.get(k, 0))) for k in money},
        "primary_quantity": int(income.get("primary_quantity", 0)),
        "resale_quantity": int(income.get("resale_quantity", 0)),
    }


def batches(
    state: StateReader,
    project_id: str | None = None,
    *,
    limit: int = DEFAULT_LIMIT,
    after: str | None = None,
) -> dict[str, Any]:
    """Issuance batches (by batch id), each with its unit counts (its counter record:
    one read per batch); optionally one project's."""

    limit = _limit(limit)
    suffix, more = _suffix_after(BATCH_PREFIX, _after(after))

    def items() -> Iterator[tuple[str, Any]]:
        if not more:
            return
        for key, batch in key_cursor.seek(state, BATCH_PREFIX, suffix, chunk=limit + 1):
            if project_id is not None and batch["project_id"] != project_id:
                continue
            yield BATCH_PREFIX + key, dict(batch, counts=_batch_totals(state, batch["id"]))

    got, nxt = key_cursor.take(items(), limit)
    return {"batches": [b for _c, b in got], "next": nxt}


def totals(state: StateReader) -> dict[str, int]:
    """Network-wide unit totals and the numbers of projects and batches: the
    ``stats/totals`` counter record the chaincode keeps at every change (one read)."""
    record = _get(state, STATS_TOTALS_KEY) or {}
    return {k: int(record.get(k, 0)) for k in TOTALS_FIELDS}


def vintages(state: StateReader) -> list[dict[str, int]]:
    """Per vintage, ascending: units ``issued`` and ``retired`` over every batch, from the
    ``stats/vintage/<year>`` counter records (one read per vintage, no batch read)."""
    out = [dict(v, vintage=int(k[len(STATS_VINTAGE_PREFIX):]))
           for k, v in _scan(state, STATS_VINTAGE_PREFIX)]
    out.sort(key=lambda r: r["vintage"])
    return out


# -- buffer pool and retirements ------------------------------------------------------------
def _newest(state: StateReader, prefix: str, limit: int) -> Iterator[dict[str, Any]]:
    """The values of the last ``limit`` keys under ``prefix`` (a chronological index),
    newest first: a backward walk of ``limit`` ordered seeks."""
    found = state.last_at_or_before(prefix, prefix + "~")
    while found is not None and limit > 0:
        yield decode_state(found[1])
        limit -= 1
        found = state.last_at_or_before(prefix, found[0], strict=True)


def _pool_records(
    state: StateReader, prefix: str, record_prefix: str, limit: int
) -> list[dict[str, Any]]:
    """The records named by the newest ``limit`` entries of a pool-event index."""
    out = []
    for entry in _newest(state, prefix, limit):
        record = _get(state, record_prefix + entry["id"])
        if record is not None:
            out.append(record)
    return out


def buffer_pool(state: StateReader, *, limit: int = DEFAULT_LIMIT) -> dict[str, Any]:
    """The buffer pool: units held per project, units cancelled by loss events, and the
    most recent ``limit`` loss events and reversals (each newest first: by height, then
    transaction index, descending).

    ``charges`` splits what was charged to each project by kind: ``reversal_quantity``,
    ``reversal_cancelled``, ``reversal_shortfall`` (its reversals, plot exclusions
    included) and ``loss_quantity``, ``loss_cancelled``, ``loss_shortfall`` (its loss
    events); ``cancelled`` is taken from the pool, ``shortfall`` became compensation
    obligation. Reads the ``stats/pool/``, ``poolacct/`` and ``compensation/`` records
    (one per project) and ``limit`` entries of each pool-event index; no unit range."""
    limit = _limit(limit)
    projects: dict[str, dict[str, int]] = {}
    total = {"cancelled": 0, "frozen": 0, "held": 0}
    for key, counts in _scan(state, STATS_POOL_PREFIX):
        if counts["held"] or counts["cancelled"]:
            projects[key[len(STATS_POOL_PREFIX):]] = counts
            for f in total:
                total[f] += counts[f]
    losses = _pool_records(state, poolevent_prefix("loss"), LOSS_PREFIX, limit)
    reversals = _pool_records(state, poolevent_prefix("reversal"), REVERSAL_PREFIX, limit)
    accounts = {k[len(POOLACCT_PREFIX):]: v for k, v in _scan(state, POOLACCT_PREFIX)}
    obligations = {k[len(COMPENSATION_PREFIX):]: v for k, v in _scan(state, COMPENSATION_PREFIX)}
    fields = [f"{k}_{f}" for k in POOL_EVENT_KINDS for f in ("cancelled", "quantity", "shortfall")]
    charges = {
        pid: {f: int(acct.get(f, 0)) for f in fields}
        for pid, acct in accounts.items() if acct.get("charged", 0)
    }
    return {"account": BUFFER_ACCOUNT, "accounts": accounts,
            "charges": {k: charges[k] for k in sorted(charges)}, "compensation": obligations,
            "losses": losses, "projects": projects, "reversals": reversals,
            "totals": total}


# -- stock accounting -------------------------------------------------------------------------
def _tonnes(record: dict[str, Any], *names: str) -> dict[str, Any]:
    """``record`` with a ``<name>_t`` decimal string of tonnes next to each micro-tonne
    figure ``name``."""
    out = dict(record)
    for name in names:
        out[f"{name}_t"] = micro_text(record[name])
    return out


def plot_stock(state: StateReader, plot_id: str) -> dict[str, Any]:
    """A plot's stock account and its history, one entry per verified period: ``start``
    (S), ``end`` (E), ``high_water`` (H after the period), ``credited`` (growth above H,
    micro-tonnes), ``reversed`` (tonnes cancelled for the fall), ``loss_events`` (tonnes
    loss events had cancelled before), ``loss_overestimate``; an exclusion entry
    (``kind`` ``"exclusion"``) records the regulator's exclusion instead. Each micro-tonne
    figure also as ``<name>_t`` in tonnes. ``excluded`` tells whether the plot is excluded
    from reports now (the record is the account's ``excluded``)."""
    plot = _get(state, plot_key(plot_id))
    if plot is None:
        raise LedgerError("not_found", f"no plot {plot_id!r}")
    account = _get(state, stock_key(plot_id)) or initial_stock(plot_id)
    history = [
        _tonnes(v, "start", "end", "high_water", "credited")
        for _k, v in _scan(state, f"{STOCKHIST_PREFIX}{plot_id}/")
    ]
    return {
        "account": _tonnes(account, "stock", "high_water", "credited", "baseline_stock"),
        "excluded": account["excluded"] is not None,
        "history": history,
        "plot_id": plot_id,
        "project_id": plot["project_id"],
    }


def project_stocks(
    state: StateReader,
    project_id: str,
    *,
    limit: int = DEFAULT_LIMIT,
    after: str | None = None,
) -> dict[str, Any]:
    """A page of the project's plots (in the project's plot order: ``after`` is the last
    plot id of the previous page, ``next`` the last of this one when more remain), each
    with its stock account and history (:func:`plot_stock`); the project's most recent
    ``limit`` reversals (newest first), its pool account and its compensation
    obligation."""
    limit = _limit(limit)
    record = _get(state, project_key(project_id))
    if record is None:
        raise LedgerError("not_found", f"no project {project_id!r}")
    plot_ids: list[str] = record["plots"]
    start = 0
    if after is not None:
        if after not in plot_ids:
            raise LedgerError("invalid_query", f"after must be a plot of project {project_id}")
        start = plot_ids.index(after) + 1
    chosen = plot_ids[start:start + limit]
    more = start + limit < len(plot_ids)
    reversals = _pool_records(state, reversal_by_prefix(project_id), REVERSAL_PREFIX, limit)
    return {
        "compensation": compensation(state, project_id),
        "next": chosen[-1] if more and chosen else None,
        "plots": [plot_stock(state, p) for p in chosen],
        "pool": _get(state, POOLACCT_PREFIX + project_id),
        "project_id": project_id,
        "reversals": reversals,
    }


def compensation(state: StateReader, project_id: str) -> dict[str, Any]:
    """A project's compensation obligation: ``incurred`` (reversal tonnes the pool could
    not cover), ``repaid`` (units its issuances put in the pool for it), ``outstanding``."""
    return _get(state, COMPENSATION_PREFIX + project_id) or {
        "incurred": 0, "outstanding": 0, "project_id": project_id, "repaid": 0,
    }


def retirements(
    state: StateReader,
    *,
    enterprise: str | None = None,
    period: str | None = None,
    limit: int = DEFAULT_LIMIT,
    after: str | None = None,
) -> dict[str, Any]:
    """Retirement records in the order they were committed, optionally of one enterprise
    (the retiring organisation) and/or one compliance period."""
    prefix = RETIREMENT_SEQ_PREFIX if enterprise is None else f"{RETIREMENT_BY_PREFIX}{enterprise}/"

    limit = _limit(limit)
    after = _after(after)

    def items() -> Iterator[tuple[str, Any]]:
        for suffix, retirement_id in key_cursor.seek(state, prefix, after, chunk=limit + 1):
            record = _get(state, RETIREMENT_PREFIX + retirement_id)
            if record is None or (period is not None and record["period"] != period):
                continue
            yield suffix, record

    got, nxt = key_cursor.take(items(), limit)
    return {"next": nxt, "retirements": [r for _c, r in got]}


# -- trace -----------------------------------------------------------------------------------
def parse_serial(serial: str) -> tuple[str, int]:
    """``(project_id, unit)`` from ``"<project_id>:<unit>"`` or from a printable serial
    (``CCER-<project>-<vintage>-<first>-<last>``: its first unit)."""
    if not isinstance(serial, str) or not 1 <= len(serial) <= 200:
        raise LedgerError("invalid_serial", "a serial is a string like AH-0001:1501")
    printable = parse_serial_string(serial)
    if printable is not None:
        return printable[0], printable[2]
    pid, sep, unit = serial.rpartition(":")
    if not sep or not pid or not unit.isascii() or not unit.isdigit() or unit.startswith("0"):
        raise LedgerError(
            "invalid_serial", f"{serial!r} is neither <project>:<unit> nor a printable serial"
        )
    return pid, int(unit)


def _ref(kind: str, record: dict[str, Any] | None, ident: str | None = None) -> dict[str, Any]:
    return {
        "height": None if record is None else record.get("created_height", record.get("height")),
        "id": ident if ident is not None else (None if record is None else record.get("id")),
        "kind": kind,
        "record": record,
        "tx_id": None if record is None else record.get("created_tx_id", record.get("tx_id")),
    }


def _reversal_by_tx(state: StateReader, height: int, tx_id: str) -> dict[str, Any] | None:
    """The reversal record that transaction ``tx_id`` at ``height`` wrote (reversal records
    are keyed by report id): the pool-event index of that height holds its id. None for
    a reversal without a record (a plot exclusion keeps its figures in the plot's stock
    history)."""
    for _key, event in _scan(state, f"{poolevent_prefix('reversal')}{height:012d}/"):
        record = _get(state, REVERSAL_PREFIX + event["id"])
        if record is not None and record.get("tx_id") == tx_id:
            return cast(dict[str, Any], record)
    return None


def trace(state: StateReader, serial: str) -> dict[str, Any]:
    """The history of one unit: back through its issuance batch, verification
    attestation, monitoring report, validation attestation, registration, project and plots
    (``provenance``), and forward through every listing, trade, transfer, freeze and its
    retirement or cancellation (``steps``); each with its tx id and height."""
    project_id, unit = parse_serial(serial)
    r = find_range(state, project_id, unit)
    if r is None:
        raise LedgerError("not_found", f"unit {unit_serial(project_id, unit)} was never issued")
    proj = _get(state, project_key(project_id)) or {}
    batch = _get(state, batch_key(r["batch_id"]))
    report = None if batch is None else _get(state, report_key(batch["report_id"]))
    verification = None
    if report is not None and report.get("verification_attestation"):
        verification = _get(state, attestation_key(report["verification_attestation"]))
    validation = None
    if proj.get("validation_attestation"):
        validation = _get(state, attestation_key(proj["validation_attestation"]))
    registration = proj.get("registration")
    provenance = [
        _ref("batch", batch),
        _ref("verification", verification),
        _ref("report", report),
        _ref("validation", validation),
        {"height": None if registration is None else registration["height"],
         "id": project_id, "kind": "registration", "record": registration,
         "tx_id": None if registration is None else registration["tx_id"]},
        _ref("project", proj or None),
    ]
    for plot_id in proj.get("plots", []):
        provenance.append(_ref("plot", _get(state, plot_key(plot_id)), plot_id))
    steps = []
    for step in r["history"]:
        prefix = STEP_RECORDS.get(step["action"])
        detail = None if prefix is None else _get(state, prefix + step["tx_id"])
        if step["action"] == "issue":
            detail = batch
        elif step["action"] == "reversal":
            detail = _reversal_by_tx(state, step["height"], step["tx_id"])
        steps.append(dict(step, record=detail, state=STEP_STATES.get(step["action"])))
    retirement = None
    if r["state"] == "retired":
        retirement = _get(state, RETIREMENT_PREFIX + r["history"][-1]["tx_id"])
    return {
        "plots": list(proj.get("plots", [])),
        "printable": serial_string(project_id, r["vintage"], unit, unit),
        "project_id": project_id,
        "provenance": provenance,
        "range": {
            "account": r["account"],
            "batch_id": r["batch_id"],
            "first": r["first"],
            "frozen": r["frozen"],
            "last": r["last"],
            "serial": serial_string(project_id, r["vintage"], r["first"], r["last"]),
            "state": r["state"],
            "vintage": r["vintage"],
        },
        "retirement": retirement,
        "serial": unit_serial(project_id, unit),
        "steps": steps,
        "unit": unit,
    }

