"""The buffer pool shared by all projects, and compensation obligations.

DOMAIN.md "Stock accounting": a fall in a plot's verified stock, and a regulator's loss
event, cancel credited tonnes from ONE buffer pool across projects. Units leave the pool
only through :func:`cancel_from_pool` (reversals and loss events). Where the pool cannot
cover a cancellation, the shortfall becomes the project's compensation obligation, which
the project's next issuances repay to the pool before the owner receives anything
(``chaincode/carbon_registry.py``, ``issue``).

State keys::

    compensation/<project_id>   {project_id, incurred, repaid, outstanding}
    poolacct/<project_id>       {project_id, contributed, repaid, charged, covered,
                                 shortfall, cancelled_from,
                                 reversal_quantity, reversal_cancelled, reversal_shortfall,
                                 loss_quantity, loss_cancelled, loss_shortfall}
    poolevent/<kind>/<height:012d>/<tx_index:05d>
                                {height, id, kind, project_id}   (kind: loss | reversal)
    reversal_by/<project_id>/<height:012d>/<tx_index:05d>   {height, id}

``contributed``: buffer units the project's issuances put in the pool (risk share);
``repaid``: compensation units its issuances put in the pool; ``charged``: tonnes of
reversals and loss events charged to the project; ``covered``: of those, cancelled from the
pool; ``shortfall``: of those, not covered (became compensation obligation);
``cancelled_from``: units OF THIS PROJECT cancelled from the pool (for any project's
reversal). ``<kind>_quantity`` / ``<kind>_cancelled`` / ``<kind>_shortfall`` split
``charged`` / ``covered`` / ``shortfall`` by kind (``reversal`` or ``loss``).

``poolevent/`` and ``reversal_by/`` are chronological indexes of the reversal and loss
records (``reversal/<report_id>``, ``loss/<tx_id>``), written in the transaction that
writes the record, so pages read the newest ones by a backward walk.

Selection order (deterministic): the charged project's own unfrozen pool units first,
then every other project's unfrozen pool units, in the holdings-index order (project id,
then unit number). Frozen pool units are never cancelled.
"""

from __future__ import annotations

from typing import Any

from chaincode.framework import TxContext
from chaincode.units import (
    BUFFER_ACCOUNT,
    RESERVED_ACCOUNTS,
    Slice,
    holding_prefix,
    move,
    unit_key,
)

__all__ = [
    "COMPENSATION_PREFIX",
    "POOLACCT_PREFIX",
    "POOLEVENT_PREFIX",
    "POOL_EVENT_KINDS",
    "REVERSAL_BY_PREFIX",
    "RESERVED_ACCOUNTS",
    "add_pool_units",
    "cancel_from_pool",
    "compensation_key",
    "load_compensation",
    "poolacct_key",
    "poolevent_prefix",
    "record_pool_event",
    "reversal_by_prefix",
    "repay_compensation",
]

COMPENSATION_PREFIX = "compensation/"
POOLACCT_PREFIX = "poolacct/"
POOLEVENT_PREFIX = "poolevent/"
REVERSAL_BY_PREFIX = "reversal_by/"
POOL_EVENT_KINDS = ("loss", "reversal")
_SPLIT = tuple(f"{k}_{f}" for k in POOL_EVENT_KINDS for f in ("cancelled", "quantity", "shortfall"))


def poolevent_prefix(kind: str) -> str:
    return f"{POOLEVENT_PREFIX}{kind}/"


def reversal_by_prefix(project_id: str) -> str:
    return f"{REVERSAL_BY_PREFIX}{project_id}/"


def record_pool_event(ctx: TxContext, kind: str, record_id: str, project_id: str) -> None:
    """Index a reversal (``record_id`` its report id) or a loss event (its tx id) recorded
    by this transaction: chronologically, and reversals also per project."""
    if kind not in POOL_EVENT_KINDS:
        raise ValueError(f"unknown pool event kind {kind}")
    at = f"{ctx.block.height:012d}/{ctx.index:05d}"
    ctx.put(f"{poolevent_prefix(kind)}{at}", {
        "height": ctx.block.height, "id": record_id, "kind": kind, "project_id": project_id,
    })
    if kind == "reversal":
        ctx.put(f"{reversal_by_prefix(project_id)}{at}",
                {"height": ctx.block.height, "id": record_id})


def compensation_key(project_id: str) -> str:
    return COMPENSATION_PREFIX + project_id


def poolacct_key(project_id: str) -> str:
    return POOLACCT_PREFIX + project_id


def load_compensation(ctx: TxContext, project_id: str) -> dict[str, Any]:
    return ctx.get(compensation_key(project_id)) or {
        "incurred": 0, "outstanding": 0, "project_id": project_id, "repaid": 0,
    }


def _poolacct(ctx: TxContext, project_id: str) -> dict[str, Any]:
    return ctx.get(poolacct_key(project_id)) or {
        "cancelled_from": 0, "charged": 0, "contributed": 0, "covered": 0,
        "project_id": project_id, "repaid": 0, "shortfall": 0, **dict.fromkeys(_SPLIT, 0),
    }


def _bump(ctx: TxContext, project_id: str, **amounts: int) -> None:
    acct = _poolacct(ctx, project_id)
    for name, n in amounts.items():
        acct[name] += n
    ctx.put(poolacct_key(project_id), acct)


def add_pool_units(ctx: TxContext, project_id: str, contributed: int, repaid: int) -> None:
    """Record an issuance's units going to the pool (risk share and compensation)."""
    if contributed or repaid:
        _bump(ctx, project_id, contributed=contributed, repaid=repaid)


def _pick(ctx: TxContext, project_id: str, quantity: int) -> list[Slice]:
    picked: list[Slice] = []
    need = quantity
    base = len(holding_prefix(BUFFER_ACCOUNT, "held"))
    for own in (True, False):
        prefix = holding_prefix(BUFFER_ACCOUNT, "held", project_id if own else None)
        for key, idx in ctx.scan(prefix):
            project, first_text = key[base:].rsplit("/", 1)
            if not own and project == project_id:
                continue
            if idx["frozen"]:
                continue
            first = int(first_text)
            take = min(need, idx["last"] - first + 1)
            picked.append(Slice(project, first, first + take - 1, ctx.get(unit_key(project, first))))
            need -= take
            if need == 0:
                return picked
    return picked


def cancel_from_pool(
    ctx: TxContext, project_id: str, quantity: int, action: str
) -> tuple[list[dict[str, Any]], int]:
    """Cancel ``quantity`` tonnes charged to ``project_id`` from the pool (history step
    ``action``: ``reversal`` or ``loss``). Returns the cancelled ranges and the shortfall,
    which is added to the project's compensation obligation."""
    if quantity <= 0:
        return [], 0
    picked = _pick(ctx, project_id, quantity)
    moved = move(ctx, picked, to_account=BUFFER_ACCOUNT, to_state="cancelled", action=action)
    covered = sum(r["last"] - r["first"] + 1 for r in moved)
    shortfall = quantity - covered
    _bump(ctx, project_id, charged=quantity, covered=covered, shortfall=shortfall,
          **{f"{action}_quantity": quantity, f"{action}_cancelled": covered,
             f"{action}_shortfall": shortfall})
    per_source: dict[str, int] = {}
    for r in moved:
        per_source[r["project_id"]] = per_source.get(r["project_id"], 0) + r["last"] - r["first"] + 1
    for source in sorted(per_source):
        _bump(ctx, source, cancelled_from=per_source[source])
    if shortfall:
        comp = load_compensation(ctx, project_id)
        comp["incurred"] += shortfall
        comp["outstanding"] += shortfall
        ctx.put(compensation_key(project_id), comp)
    return moved, shortfall


def repay_compensation(ctx: TxContext, project_id: str, available: int) -> int:
    """How many of ``available`` owner units an issuance must put in the pool to repay the
    project's outstanding compensation obligation (records the repayment)."""
    comp = load_compensation(ctx, project_id)
    repay = min(comp["outstanding"], available)
    if repay > 0:
        comp["outstanding"] -= repay
        comp["repaid"] += repay
        ctx.put(compensation_key(project_id), comp)
    return repay
