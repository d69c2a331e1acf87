"""The unit-range ledger of the "carbon" contract: who holds which tonnes, in which state.

One tonne of CO2e is one unit; units are numbered per project (1, 2, ...). Units live in
*ranges* of consecutive unit numbers of one issuance batch with one account, one state and
one frozen flag::

    unit/<project_id>/<first:012d> -> {project_id, batch_id, vintage, first, last, account,
                                       state, frozen, history, tx_id, height}

``state`` is ``held`` | ``listed`` | ``retired`` | ``cancelled``; units of the account
:data:`BUFFER_ACCOUNT` in state ``held`` are the buffer pool. Ranges are split, never merged.
``history`` is the list of steps ``{action, tx_id, height, from, to}`` (``from``/``to`` are
accounts; ``from`` is null for issuance) that changed these units since issuance, copied
on every split. The state after each action: ``issue``/``delist``/``trade``/``transfer``
-> held, ``list`` -> listed, ``retire`` -> retired, ``loss``/``invalidate`` -> cancelled;
``freeze``/``unfreeze`` change only the frozen flag.

A per-account holdings index is kept consistent with the ranges on every write::

    holding/<account>/<state>/<project_id>/<first:012d> -> {batch_id, vintage, last, frozen}

so that selecting an account's units, or listing its holdings, reads only that account's
ranges in that state. Selection order is the index key order: by project id (compared as
``project_id + "/"``), then by unit number, ascending.

Derived counters (issue 13) are kept in the same transaction by the one bookkeeping
function every range change goes through (``_Tally``, used by :func:`create_range` and
``_rewrite``), one read-modify-write per touched counter key per call::

    stats/totals              {issued, held, listed, retired, cancelled, buffer, frozen,
                               projects, batches}
    stats/batch/<batch_id>    {held, listed, retired, cancelled, buffer, frozen}
    stats/vintage/<year:04d>  {issued, retired}
    stats/pool/<project_id>   {held, cancelled, frozen}  (the buffer pool's units of
                                                          the project)
    stats/holding/<account>/<batch_id>
                              {held, listed, retired, cancelled, frozen, project_id,
                               vintage}  (the account's units of the batch by state, as
                               its holdings index has them; deleted when all are 0)

``held`` counts held units outside the buffer pool, ``buffer`` the pool's held units,
``frozen`` units also counted under their state (see :func:`count_bucket`). They are
state like any other: every node and the auditor rebuild them by replaying the chain.

Rules enforced here: frozen units never move (except :func:`move` with
``allow_frozen=True``, used only by the regulator's invalidation), retired and cancelled
units never move again, and a range never crosses a batch. Conservation per batch holds
by construction: ranges are only split and re-labelled, never created except by
:func:`create_range` (issuance) or destroyed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from chaincode.framework import ChaincodeError, TxContext
from ledger.encoding import decode_state
from ledger.state import StateReader

__all__ = [
    "BUFFER_ACCOUNT",
    "HOLDING_PREFIX",
    "RESERVED_ACCOUNTS",
    "STATES",
    "TERMINAL_STATES",
    "UNIT_PREFIX",
    "Slice",
    "account_slices",
    "BATCH_FIELDS",
    "POOL_FIELDS",
    "HOLDING_STATS_FIELDS",
    "STATS_BATCH_PREFIX",
    "STATS_HOLDING_PREFIX",
    "STATS_POOL_PREFIX",
    "STATS_TOTALS_KEY",
    "STATS_VINTAGE_PREFIX",
    "TOTALS_FIELDS",
    "VINTAGE_FIELDS",
    "batch_stats",
    "count_bucket",
    "count_record",
    "create_range",
    "find_range",
    "holding_key",
    "holding_prefix",
    "holding_stats_key",
    "holding_stats_prefix",
    "iter_ranges",
    "move",
    "range_quantity",
    "select_serial_range",
    "select_units",
    "set_frozen",
    "unit_key",
    "unit_prefix",
    "vintage_stats_key",
]

BUFFER_ACCOUNT = "buffer-pool"
#: Account ids the ledger owns (never enrolled as organisations, membership.py).
RESERVED_ACCOUNTS: tuple[str, ...] = (BUFFER_ACCOUNT,)
UNIT_PREFIX = "unit/"
HOLDING_PREFIX = "holding/"
STATES = ("held", "listed", "retired", "cancelled")
TERMINAL_STATES = ("retired", "cancelled")
MOVABLE_STATES = ("held", "listed")
STATS_TOTALS_KEY = "stats/totals"
STATS_BATCH_PREFIX = "stats/batch/"
STATS_VINTAGE_PREFIX = "stats/vintage/"
STATS_POOL_PREFIX = "stats/pool/"
STATS_HOLDING_PREFIX = "stats/holding/"
#: The fields of each counter record (all integers, zero when absent).
TOTALS_FIELDS = ("batches", "buffer", "cancelled", "frozen", "held", "issued", "listed",
                 "projects", "retired")
BATCH_FIELDS = ("buffer", "cancelled", "frozen", "held", "listed", "retired")
VINTAGE_FIELDS = ("issued", "retired")
POOL_FIELDS = ("cancelled", "frozen", "held")
#: The counts of a ``stats/holding/<account>/<batch_id>`` record (besides its
#: ``project_id`` and ``vintage``): the account's units of the batch by index state.
HOLDING_STATS_FIELDS = ("cancelled", "frozen", "held", "listed", "retired")
#: Largest unit number (12 zero-padded digits in the key).
MAX_UNIT = 10**12 - 1


# -- keys ------------------------------------------------------------------------------
def unit_prefix(project_id: str) -> str:
    return f"{UNIT_PREFIX}{project_id}/"


def unit_key(project_id: str, first: int) -> str:
    return f"{UNIT_PREFIX}{project_id}/{first:012d}"


def holding_prefix(account: str, state: str | None = None, project_id: str | None = None) -> str:
    """Prefix of an account's index entries, optionally narrowed to a state and a project
    (a project needs a state)."""
    if state is None:
        return f"{HOLDING_PREFIX}{account}/"
    if project_id is None:
        return f"{HOLDING_PREFIX}{account}/{state}/"
    return f"{HOLDING_PREFIX}{account}/{state}/{project_id}/"


def holding_key(account: str, state: str, project_id: str, first: int) -> str:
    return f"{HOLDING_PREFIX}{account}/{state}/{project_id}/{first:012d}"


def holding_stats_prefix(account: str) -> str:
    return f"{STATS_HOLDING_PREFIX}{account}/"


def holding_stats_key(account: str, batch_id: str) -> str:
    return f"{STATS_HOLDING_PREFIX}{account}/{batch_id}"


def range_quantity(record: Mapping[str, Any]) -> int:
    """How many units a range (or anything with ``first`` and ``last``) holds."""
    return record["last"] - record["first"] + 1


def count_bucket(record: Mapping[str, Any]) -> str:
    """Where a range counts in unit totals: ``buffer`` for the buffer pool's held units,
    else its state."""
    if record["state"] == "held" and record["account"] == BUFFER_ACCOUNT:
        return "buffer"
    return record["state"]


def _index_value(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "batch_id": record["batch_id"],
        "frozen": record["frozen"],
        "last": record["last"],
        "vintage": record["vintage"],
    }


def _write(ctx: TxContext, record: dict[str, Any]) -> None:
    """Write a range record and its holdings-index entry."""
    ctx.put(unit_key(record["project_id"], record["first"]), record)
    ctx.put(
        holding_key(record["account"], record["state"], record["project_id"], record["first"]),
        _index_value(record),
    )


def _unindex(ctx: TxContext, record: dict[str, Any]) -> None:
    ctx.delete(
        holding_key(record["account"], record["state"], record["project_id"], record["first"])
    )


def _step(ctx: TxContext, action: str, src: str | None, dst: str) -> dict[str, Any]:
    return {"action": action, "from": src, "height": ctx.block.height, "to": dst,
            "tx_id": ctx.tx_id}


# -- reading (any StateReader: a TxContext's ``ctx.state`` or committed state) -----------
def iter_ranges(state: StateReader, project_id: str) -> Iterator[dict[str, Any]]:
    """Every range of a project, ascending by first unit."""
    for _key, raw in state.iter_prefix(unit_prefix(project_id)):
        yield decode_state(raw)


def _range_at_or_before(
    state: StateReader, project_id: str, unit: int
) -> tuple[str, dict[str, Any]] | None:
    """(key, record) of the range of ``project_id`` with the greatest first unit
    ``<= unit`` (``1 <= unit <= MAX_UNIT``), or None: one ordered seek. Ranges never
    overlap, so only this range can hold ``unit``."""
    found = state.last_at_or_before(unit_prefix(project_id), unit_key(project_id, unit))
    return None if found is None else (found[0], decode_state(found[1]))


def find_range(state: StateReader, project_id: str, unit: int) -> dict[str, Any] | None:
    """The range that holds ``unit`` of ``project_id``, or None (one seek)."""
    if not 1 <= unit <= MAX_UNIT:
        return None  # no range holds a unit outside the numbering
    found = _range_at_or_before(state, project_id, unit)
    if found is None or found[1]["last"] < unit:
        return None
    return found[1]


def _ranges_touching(
    state: StateReader, project_id: str, first: int, last: int
) -> Iterator[dict[str, Any]]:
    """The ranges of ``project_id`` that hold a unit of ``[first, last]``, ascending by
    first unit: one seek to the range that may hold ``first``, then forward over the ranges
    that start by ``last`` (and the one after them)."""
    if last < 1 or first > MAX_UNIT or first > last:
        return
    prefix = unit_prefix(project_id)
    start: str | None = None
    if first > 1:
        found = _range_at_or_before(state, project_id, first)
        start = unit_key(project_id, first) if found is None else found[0]
    for _key, raw in state.iter_prefix(prefix, start):
        r = decode_state(raw)
        if r["first"] > last:
            return
        if r["last"] >= first:
            yield r


def vintage_stats_key(vintage: int) -> str:
    return f"{STATS_VINTAGE_PREFIX}{vintage:04d}"


def _zero(fields: tuple[str, ...]) -> dict[str, int]:
    return dict.fromkeys(fields, 0)


def batch_stats(state: StateReader, batch_id: str) -> dict[str, int]:
    """A batch's unit counts (``held`` outside the buffer, ``listed``, ``retired``,
    ``cancelled``, ``buffer``, ``frozen``) from its counter record: one read."""
    raw = state.get(STATS_BATCH_PREFIX + batch_id)
    return _zero(BATCH_FIELDS) if raw is None else dict(decode_state(raw))


class _Tally:
    """Counter deltas of one change of ranges; :meth:`flush` writes each touched counter
    key once (read-modify-write, keys in sorted order)."""

    def __init__(self) -> None:
        self.deltas: dict[str, dict[str, int]] = {}
        self.labels: dict[str, dict[str, Any]] = {}  # holding counters: project, vintage

    def add(self, key: str, field: str, n: int) -> None:
        if n:
            d = self.deltas.setdefault(key, {})
            d[field] = d.get(field, 0) + n

    def count(self, record: Mapping[str, Any], n: int) -> None:
        """Count ``n`` units of ``record``'s batch/vintage/state/account/frozen flag
        (``n`` negative to uncount)."""
        bucket = count_bucket(record)
        batch = STATS_BATCH_PREFIX + record["batch_id"]
        for key in (STATS_TOTALS_KEY, batch):
            self.add(key, bucket, n)
            if record["frozen"]:
                self.add(key, "frozen", n)
        if record["state"] == "retired":
            self.add(vintage_stats_key(record["vintage"]), "retired", n)
        holding = holding_stats_key(record["account"], record["batch_id"])
        self.labels[holding] = {"project_id": record["project_id"], "vintage": record["vintage"]}
        self.add(holding, record["state"], n)
        if record["frozen"]:
            self.add(holding, "frozen", n)
        if record["account"] == BUFFER_ACCOUNT and record["state"] in POOL_FIELDS:
            pool = STATS_POOL_PREFIX + record["project_id"]
            self.add(pool, record["state"], n)
            if record["frozen"]:
                self.add(pool, "frozen", n)

    def flush(self, ctx: TxContext) -> None:
        for key in sorted(self.deltas):
            delta = {f: n for f, n in self.deltas[key].items() if n}
            if not delta:
                continue
            current: dict[str, Any] | None = ctx.get(key)
            if current is None:
                current = dict(_zero(_fields_of(key)))
                if key.startswith(STATS_HOLDING_PREFIX):
                    current.update(self.labels[key])
            for field, n in delta.items():
                current[field] += n
            if key.startswith(STATS_HOLDING_PREFIX) and \
                    not any(current[f] for f in HOLDING_STATS_FIELDS):
                ctx.delete(key)  # the account holds nothing of the batch any more
            else:
                ctx.put(key, current)
        self.deltas = {}


def _fields_of(key: str) -> tuple[str, ...]:
    if key == STATS_TOTALS_KEY:
        return TOTALS_FIELDS
    if key.startswith(STATS_BATCH_PREFIX):
        return BATCH_FIELDS
    if key.startswith(STATS_VINTAGE_PREFIX):
        return VINTAGE_FIELDS
    if key.startswith(STATS_HOLDING_PREFIX):
        return HOLDING_STATS_FIELDS
    return POOL_FIELDS


def count_record(ctx: TxContext, field: str) -> None:
    """Count one new project (``field`` ``projects``) or batch (``batches``) in
    ``stats/totals``."""
    if field not in ("batches", "projects"):
        raise ValueError(f"not a record counter: {field}")
    tally = _Tally()
    tally.add(STATS_TOTALS_KEY, field, 1)
    tally.flush(ctx)


# -- issuance --------------------------------------------------------------------------
def create_range(
    ctx: TxContext,
    *,
    project_id: str,
    batch_id: str,
    vintage: int,
    first: int,
    last: int,
    account: str,
    action: str = "issue",
) -> dict[str, Any]:
    """Create the units ``[first, last]`` (inclusive) of ``project_id`` as one range of
    ``batch_id`` held by ``account``; return the record.

    Refuses (ChaincodeError ``serial_overlap``) a range that overlaps an existing range
    of the project, and (``invalid_range``) an empty or out-of-bounds one.
    """
    if (
        type(first) is not int or type(last) is not int
        or not 1 <= first <= last <= MAX_UNIT
    ):
        raise ChaincodeError("invalid_range", f"unit range [{first}, {last}] is not valid")
    # the range with the greatest first unit <= last overlaps iff it reaches first (ranges
    # never overlap each other); the message names the lowest range that overlaps
    below = _range_at_or_before(ctx.state, project_id, last)
    if below is not None and below[1]["last"] >= first:
        r = next(_ranges_touching(ctx.state, project_id, first, last))
        raise ChaincodeError(
                "serial_overlap",
                f"units {first}..{last} of {project_id} overlap existing units "
                f"{r['first']}..{r['last']}",
            )
    record: dict[str, Any] = {
        "account": account,
        "batch_id": batch_id,
        "first": first,
        "frozen": False,
        "height": ctx.block.height,
        "history": [_step(ctx, action, None, account)],
        "last": last,
        "project_id": project_id,
        "state": "held",
        "tx_id": ctx.tx_id,
        "vintage": vintage,
    }
    _write(ctx, record)
    n = last - first + 1
    tally = _Tally()
    tally.add(STATS_TOTALS_KEY, "issued", n)
    tally.add(vintage_stats_key(vintage), "issued", n)
    tally.count(record, n)
    tally.flush(ctx)
    return record


# -- selection -------------------------------------------------------------------------
@dataclass(frozen=True)
class Slice:
    """Units ``[first, last]`` of the range stored at ``unit_key(project_id, range_first)``
    (``record`` is that range as read when it was selected)."""

    project_id: str
    first: int
    last: int
    record: dict[str, Any]

    @property
    def quantity(self) -> int:
        return self.last - self.first + 1

    @property
    def range_first(self) -> int:
        return int(self.record["first"])


def _holdings(
    ctx: TxContext, account: str, state: str, project_id: str | None, unit: int | None = None
) -> Iterator[tuple[str, int, dict[str, Any]]]:
    """(project_id, first, index value) of an account's ranges in ``state``, in order;
    with a project and a ``unit``, from the range that may hold ``unit`` on (one seek:
    the ranges before it end before ``unit``)."""
    prefix = holding_prefix(account, state, project_id)
    base = len(holding_prefix(account, state))
    start: str | None = None
    if project_id is not None and unit is not None and 1 < unit <= MAX_UNIT:
        start = holding_key(account, state, project_id, unit)
        found = ctx.last_at_or_before(prefix, start)
        if found is not None:
            start = found[0]
    for key, value in ctx.scan(prefix, start):
        project, first = key[base:].rsplit("/", 1)
        yield project, int(first), value


def select_units(
    ctx: TxContext,
    *,
    account: str,
    state: str,
    quantity: int,
    project_id: str | None = None,
    batch_id: str | None = None,
    first: int | None = None,
    last: int | None = None,
    code: str = "insufficient_units",
) -> list[Slice]:
    """The first ``quantity`` unfrozen units of ``account`` in ``state`` (ascending project
    id, then unit number), optionally only of ``project_id``, of ``batch_id`` and within the
    serial range ``[first, last]`` (both need ``project_id``).

    Refusals (ChaincodeError): ``units_frozen`` if there would be enough counting frozen
    units; else ``units_not_available`` if an explicit serial range was named; else
    ``code`` (``insufficient_units`` by default).
    """
    if quantity < 1:
        raise ChaincodeError("invalid_quantity", "quantity must be at least 1")
    if (batch_id is not None or first is not None) and project_id is None:
        raise ValueError("a batch or serial-range restriction needs the project id")
    lo = 1 if first is None else first
    hi = MAX_UNIT if last is None else last
    picked: list[Slice] = []
    need = quantity
    frozen_seen = 0
    for project, rfirst, idx in _holdings(ctx, account, state, project_id, first):
        if rfirst > hi:
            break
        if batch_id is not None and idx["batch_id"] != batch_id:
            continue
        a, b = max(rfirst, lo), min(idx["last"], hi)
        if a > b:
            continue
        if idx["frozen"]:
            frozen_seen += b - a + 1
            continue
        take_last = min(b, a + need - 1)
        record = ctx.get(unit_key(project, rfirst))
        picked.append(Slice(project, a, take_last, record))
        need -= take_last - a + 1
        if need == 0:
            return picked
    have = quantity - need
    if have + frozen_seen >= quantity:
        raise ChaincodeError("units_frozen", f"only {have} of the {quantity} units are not frozen")
    if first is not None:
        raise ChaincodeError(
            "units_not_available",
            f"units {lo}..{hi} of {project_id} hold only {have} units {state} by {account}",
        )
    raise ChaincodeError(code, f"{account} has only {have} units {state}, {quantity} needed")


def account_slices(
    ctx: TxContext, *, account: str, state: str, project_id: str, first: int, last: int
) -> list[Slice]:
    """Every unit of ``project_id`` in ``[first, last]`` that ``account`` has in ``state``
    (frozen or not), as slices in ascending order; reads only that account's index."""
    out: list[Slice] = []
    for project, rfirst, idx in _holdings(ctx, account, state, project_id, first):
        if rfirst > last:
            break
        a, b = max(rfirst, first), min(idx["last"], last)
        if a <= b:
            out.append(Slice(project, a, b, ctx.get(unit_key(project, rfirst))))
    return out


def select_serial_range(
    ctx: TxContext, project_id: str, first: int, last: int
) -> list[Slice]:
    """Every unit of ``project_id`` in ``[first, last]``, whoever holds it, as slices in
    ascending order (gaps, i.e. unissued units, are simply absent)."""
    out: list[Slice] = []
    for r in _ranges_touching(ctx.state, project_id, first, last):
        out.append(Slice(project_id, max(r["first"], first), min(r["last"], last), r))
    return out


# -- changes ---------------------------------------------------------------------------
def _units_changed() -> ChaincodeError:
    return ChaincodeError("units_changed", "the selected units changed within this transaction")


def _current(ctx: TxContext, piece: Slice) -> dict[str, Any]:
    """The range record ``piece`` was selected from, as it is now."""
    record = ctx.get(unit_key(piece.project_id, piece.range_first))
    if record is None:
        raise _units_changed()
    return record


def _rewrite(
    ctx: TxContext,
    piece: Slice,
    record: dict[str, Any],
    changes: dict[str, Any],
    step: dict[str, Any],
    tally: _Tally,
) -> dict:
    """Split ``record`` (the current range of ``piece``) at the piece's boundaries; apply
    ``changes`` and append ``step`` to the selected part; return its new record. The
    piece's units move from ``record``'s counters to the new record's in ``tally``."""
    key = unit_key(piece.project_id, piece.range_first)
    if not record["first"] <= piece.first <= piece.last <= record["last"]:
        raise _units_changed()
    _unindex(ctx, record)
    stamp = {"height": ctx.block.height, "tx_id": ctx.tx_id}
    if record["first"] < piece.first:
        left = dict(record, last=piece.first - 1, **stamp)
        _write(ctx, left)
    else:
        ctx.delete(key)  # rewritten below under the same key
    if piece.last < record["last"]:
        right = dict(record, first=piece.last + 1, history=list(record["history"]), **stamp)
        _write(ctx, right)
    middle = dict(record, first=piece.first, last=piece.last, **stamp)
    middle.update(changes)
    middle["history"] = [*record["history"], step]
    _write(ctx, middle)
    tally.count(record, -piece.quantity)
    tally.count(middle, piece.quantity)
    return middle


def move(
    ctx: TxContext,
    slices: list[Slice],
    *,
    to_account: str,
    to_state: str,
    action: str,
    allow_frozen: bool = False,
) -> list[dict[str, Any]]:
    """Move the selected units to ``to_account`` in ``to_state`` (a history step
    ``action`` is appended); return the moved ranges' new records.

    Refuses ``units_not_available`` for retired or cancelled units and ``units_frozen``
    for frozen units unless ``allow_frozen``. Units that reach a terminal state are no
    longer flagged frozen (so ``frozen`` implies held or listed).
    """
    if to_state not in STATES:
        raise ValueError(f"unknown unit state {to_state}")
    out = []
    tally = _Tally()
    for piece in slices:
        record = _current(ctx, piece)
        if record["state"] in TERMINAL_STATES:
            raise ChaincodeError(
                "units_not_available",
                f"units {piece.first}..{piece.last} of {piece.project_id} are {record['state']}",
            )
        if record["frozen"] and not allow_frozen:
            raise ChaincodeError(
                "units_frozen", f"units {piece.first}..{piece.last} of {piece.project_id} are frozen"
            )
        step = _step(ctx, action, record["account"], to_account)
        changes: dict[str, Any] = {"account": to_account, "state": to_state}
        if to_state in TERMINAL_STATES:
            changes["frozen"] = False  # a terminal unit cannot move anyway
        out.append(_rewrite(ctx, piece, record, changes, step, tally))
    tally.flush(ctx)
    return out


def set_frozen(
    ctx: TxContext, slices: list[Slice], *, frozen: bool
) -> list[dict[str, Any]]:
    """Freeze (or unfreeze) the selected held/listed units whose flag differs; retired
    and cancelled units are left untouched. Returns the changed ranges' new records."""
    out = []
    tally = _Tally()
    action = "freeze" if frozen else "unfreeze"
    for piece in slices:
        record = _current(ctx, piece)
        if record["state"] in TERMINAL_STATES or record["frozen"] == frozen:
            continue
        step = _step(ctx, action, record["account"], record["account"])
        out.append(_rewrite(ctx, piece, record, {"frozen": frozen}, step, tally))
    tally.flush(ctx)
    return out
