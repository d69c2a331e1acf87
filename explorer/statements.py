"""Account statements: every movement of units into, out of and within an account, kept
incrementally by the explorer (issue 15), outside consensus.

The ledger keeps each unit range's own ``history`` (``unit/<project>/<first>``: the steps
``{action, tx_id, height, from, to}`` that changed those units since issuance, copied on
every split) and a holdings index by account and state, but nothing by account and time.
This index gives each account its movements in commit order:

* **cold start** (the first statement asked for after the explorer starts): one pass over
  the ``unit/`` records of one store snapshot, keeping the history steps at or below the
  snapshot's height (O(ranges x steps), once). Ranges are split, never merged, so the
  ranges whose history holds a step are exactly the units that step changed;
* **after that**: only the blocks committed since, each through its write set
  (``Store.get_block_writes``: the ``unit/`` records the block wrote, with the steps of
  that height): O(units changed by the new blocks).

A movement is one transaction's effect on one account, with the serial ranges it moved
(contiguous ranges of one batch merged) and its **change** to the account's **balance**:
the units the account holds or has listed (not retired, not cancelled). Kinds:

=================  =====================================================  ==========
kind               ledger step (``history`` action)                        change
=================  =====================================================  ==========
``issued``         ``issue`` to the account (owner's or buffer share)      +q
``transfer_in``    ``transfer`` from another account                       +q
``transfer_out``   ``transfer`` to another account                         -q
``bought``         ``trade``: the account is the buyer                     +q
``sold``           ``trade``: the account is the seller                    -q
``listed``         ``list`` (held -> listed, still the account's)          0
``delisted``       ``delist`` (listed -> held)                             0
``retired``        ``retire``                                              -q
``cancelled``      ``invalidate``, ``loss``, ``reversal``                  -q
``frozen``         ``freeze`` (a note: the units cannot move)              0
``unfrozen``       ``unfreeze`` (a note)                                   0
=================  =====================================================  ==========

Per account the movements are held in commit order (block time, then transaction index)
with the balance after each, so a statement of a period is two bisections on the block
times plus the period's movements: O(log n + movements in the period). Memory:
O(movements of all accounts).
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from chaincode.units import UNIT_PREFIX
from ledger.encoding import decode

__all__ = ["KINDS", "PERIOD_KINDS", "Movement", "MovementIndex", "StatementMismatch",
           "check_balances", "day_start_ms", "merge_ranges", "period_label", "period_of"]

#: The statement periods a reader may choose (``?period=``); the first is the default.
PERIOD_KINDS = ("month", "quarter", "year")
DAY_MS = 86_400_000
#: Statement periods are calendar periods of China Standard Time (UTC+8, no daylight
#: saving), the zone of the ledger's own dates (trade dates, vintages, block dates).
CST_OFFSET_MS = 8 * 3600 * 1000
_EPOCH = date(1970, 1, 1).toordinal()

#: Each kind of movement and its sign on the account's balance (+1, -1, or 0: a note).
KINDS: dict[str, int] = {
    "issued": 1, "transfer_in": 1, "transfer_out": -1, "bought": 1, "sold": -1,
    "listed": 0, "delisted": 0, "retired": -1, "cancelled": -1, "frozen": 0, "unfrozen": 0,
}
#: The kind of a step that stays in one account, by ledger action.
_SAME_ACCOUNT = {"list": "listed", "delist": "delisted", "retire": "retired",
                 "invalidate": "cancelled", "loss": "cancelled", "reversal": "cancelled",
                 "freeze": "frozen", "unfreeze": "unfrozen"}
#: (kind of the sender, kind of the receiver) of a step between two accounts.
_BETWEEN = {"trade": ("sold", "bought"), "transfer": ("transfer_out", "transfer_in")}
#: Order of the kinds within one transaction (an account can have several in one).
_KIND_ORDER = {k: i for i, k in enumerate(KINDS)}

#: One serial range: (project id, batch id, vintage, first unit, last unit).
Range = tuple[str, str, int, int, int]


class StatementMismatch(RuntimeError):
    """Opening balance plus the period's movements is not the closing balance: the index
    is inconsistent (a bug, never a reader's mistake)."""


@dataclass(frozen=True)
class Movement:
    """One transaction's effect on one account."""

    time: int  # block time, ms since the epoch
    height: int
    index: int  # the transaction's index in its block
    tx_id: str
    kind: str
    action: str  # the ledger's history action
    counterparty: str | None  # the other account of a trade or transfer
    quantity: int
    change: int  # effect on the balance: +quantity, -quantity or 0
    ranges: tuple[Range, ...]


def merge_ranges(ranges: Iterable[Range]) -> tuple[Range, ...]:
    """Ranges sorted, with contiguous ranges of one batch merged."""
    out: list[Range] = []
    for r in sorted(ranges):
        if out and out[-1][:3] == r[:3] and out[-1][4] + 1 == r[3]:
            out[-1] = (*r[:3], out[-1][3], r[4])
        else:
            out.append(r)
    return tuple(out)


@dataclass
class _Account:
    moves: list[Movement] = field(default_factory=list)
    times: list[int] = field(default_factory=list)
    balances: list[int] = field(default_factory=list)  # balance after each movement

    def append(self, m: Movement) -> None:
        self.moves.append(m)
        self.times.append(m.time)
        self.balances.append((self.balances[-1] if self.balances else 0) + m.change)


# (height, tx id, account, kind, action, counterparty) -> ranges
_Groups = dict[tuple[int, str, str, str, str, str | None], list[Range]]


class MovementIndex:
    """Movements per account over one store. ``block_time(height)`` gives a committed
    block's time (ms) or None; ``tx_index(tx_id)`` its index in its block or None."""

    def __init__(self, store: Any, block_time: Callable[[int], int | None]) -> None:
        self.store = store
        self.block_time = block_time
        self._lock = threading.Lock()
        self._height: int | None = None
        self._accounts: dict[str, _Account] = {}

    # -- reading --------------------------------------------------------------------------
    def refresh(self) -> int:
        """Bring the index up to the store's tip; return the height it covers."""
        with self._lock:
            if self._height is None:
                self._height = self._cold_start()
            tip = self.store.latest_height()
            for height in range(self._height + 1, tip + 1):
                self._add(self._block_groups(height))
                self._height = height
            return self._height

    def period(self, account: str, start_ms: int, end_ms: int
               ) -> tuple[int, int, list[tuple[Movement, int]]]:
        """(opening balance at ``start_ms``, closing balance at ``end_ms``, the movements
        of blocks timed in ``[start_ms, end_ms)`` each with the balance after it). The
        closing balance is checked: opening + the movements' changes (StatementMismatch
        otherwise)."""
        self.refresh()
        with self._lock:
            acc = self._accounts.get(account)
            if acc is None:
                return 0, 0, []
            i = bisect.bisect_left(acc.times, start_ms)
            j = bisect.bisect_left(acc.times, end_ms)
            opening = acc.balances[i - 1] if i > 0 else 0
            closing = acc.balances[j - 1] if j > 0 else 0
            rows = [(acc.moves[k], acc.balances[k]) for k in range(i, j)]
        check_balances(opening, [m for m, _ in rows], closing)
        return opening, closing, rows

    def balance(self, account: str) -> int:
        """The account's balance at the tip the index covers."""
        self.refresh()
        with self._lock:
            acc = self._accounts.get(account)
            return acc.balances[-1] if acc is not None and acc.balances else 0

    # -- building ---------------------------------------------------------------------------
    def _cold_start(self) -> int:
        snapshot = self.store.snapshot() if hasattr(self.store, "snapshot") else None
        view = snapshot if snapshot is not None else self.store
        try:
            tip = view.latest_height()
            groups: _Groups = {}
            for _key, raw in view.iter_prefix(UNIT_PREFIX):
                self._steps(decode(raw), groups, lambda h: h <= tip)
            self._add(groups)
            return tip
        finally:
            if snapshot is not None:
                snapshot.close()

    def _block_groups(self, height: int) -> _Groups:
        groups: _Groups = {}
        for key, raw in self.store.get_block_writes(height) or []:
            if raw is not None and key.startswith(UNIT_PREFIX):
                self._steps(decode(raw), groups, lambda h: h == height)
        return groups

    @staticmethod
    def _steps(record: Any, groups: _Groups, wanted: Callable[[int], bool]) -> None:
        if not isinstance(record, dict):
            return
        rng: Range = (str(record["project_id"]), str(record["batch_id"]),
                      int(record["vintage"]), int(record["first"]), int(record["last"]))
        for step in record.get("history") or []:
            height = step.get("height")
            if not isinstance(height, int) or not wanted(height):
                continue
            action, src, dst, tx = step.get("action"), step.get("from"), step.get("to"), step.get("tx_id")
            if src is None:
                groups.setdefault((height, tx, dst, "issued", action, None), []).append(rng)
            elif src == dst:
                kind = _SAME_ACCOUNT.get(action)
                if kind is not None:
                    groups.setdefault((height, tx, dst, kind, action, None), []).append(rng)
            else:
                out_kind, in_kind = _BETWEEN.get(action, ("transfer_out", "transfer_in"))
                groups.setdefault((height, tx, src, out_kind, action, dst), []).append(rng)
                groups.setdefault((height, tx, dst, in_kind, action, src), []).append(rng)

    def _add(self, groups: _Groups) -> None:
        moves: list[tuple[str, Movement]] = []
        for (height, tx_id, account, kind, action, other), ranges in groups.items():
            merged = merge_ranges(ranges)
            quantity = sum(r[4] - r[3] + 1 for r in merged)
            location = self.store.get_tx_location(tx_id)
            moves.append((account, Movement(
                time=self.block_time(height) or 0, height=height,
                index=location[1] if location is not None else 0, tx_id=tx_id, kind=kind,
                action=action, counterparty=other, quantity=quantity,
                change=KINDS[kind] * quantity, ranges=merged)))
        moves.sort(key=lambda am: (am[1].height, am[1].index, _KIND_ORDER[am[1].kind],
                                   am[1].counterparty or "", am[0]))
        for account, m in moves:
            self._accounts.setdefault(account, _Account()).append(m)


def check_balances(opening: int, moves: Iterable[Movement], closing: int) -> None:
    """Opening + every movement's change must be the closing balance."""
    total = opening + sum(m.change for m in moves)
    if total != closing:
        raise StatementMismatch(
            f"opening balance {opening} plus the period's movements gives {total}, "
            f"not the closing balance {closing}")


# -- periods (calendar periods of China Standard Time) -----------------------------------
def day_start_ms(day: date) -> int:
    """The first millisecond of ``day`` in China Standard Time, since the epoch (exact)."""
    return (day.toordinal() - _EPOCH) * DAY_MS - CST_OFFSET_MS


def period_of(kind: str, day: date) -> tuple[date, date]:
    """The ``kind`` period (month, quarter, year) holding ``day``: its first day and the
    first day after it."""
    if kind == "year":
        start = date(day.year, 1, 1)
        return start, date(day.year + 1, 1, 1)
    first_month = day.month if kind == "month" else 3 * ((day.month - 1) // 3) + 1
    span = 1 if kind == "month" else 3
    start = date(day.year, first_month, 1)
    month = first_month + span
    end = date(day.year + 1, month - 12, 1) if month > 12 else date(day.year, month, 1)
    return start, end


def period_label(kind: str, start: date) -> str:
    """``2026-03`` (month), ``2026-Q1`` (quarter) or ``2026`` (year)."""
    if kind == "year":
        return f"{start.year:04d}"
    if kind == "quarter":
        return f"{start.year:04d}-Q{(start.month - 1) // 3 + 1}"
    return f"{start.year:04d}-{start.month:02d}"
