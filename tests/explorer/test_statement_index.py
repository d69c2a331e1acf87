"""Issue 15: the movement index behind account statements (explorer/statements.py) against
a small model of the unit-range ledger (chaincode/units.py's rules: ranges split, never
merged; every step appended to the history of the units it changed, copied on a split).

Random sequences of issuance, transfer, listing, trade, delisting, retirement,
invalidation, freeze and unfreeze, one per block: the index built in one pass at the end
(cold start) and the index kept block by block from the write sets give the same
movements, and each account's balance is its held + listed units in the model."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from explorer.statements import KINDS, MovementIndex
from ledger.encoding import canonical

ACCOUNTS = ("a", "b", "c")
PREFIX = "unit/P/"


class ModelStore:
    """Unit ranges as the chaincode writes them, with per-block write sets."""

    def __init__(self) -> None:
        self.ranges: dict[str, dict[str, Any]] = {}
        self.writes: dict[int, dict[str, bytes]] = {}
        self.height = 0
        self.next_unit = 1

    # -- the store interface MovementIndex reads -------------------------------------------
    def latest_height(self) -> int:
        return self.height

    def iter_prefix(self, prefix: str) -> Iterator[tuple[str, bytes]]:
        for key in sorted(self.ranges):
            if key.startswith(prefix):
                yield key, canonical(self.ranges[key])

    def get_block_writes(self, height: int) -> list[tuple[str, bytes | None]]:
        return sorted(self.writes.get(height, {}).items())

    def get_tx_location(self, tx_id: str) -> tuple[int, int]:
        return int(tx_id.removeprefix("tx")), 0

    # -- the ledger's rules ------------------------------------------------------------------
    def _put(self, record: dict[str, Any]) -> None:
        key = f"{PREFIX}{record['first']:012d}"
        self.ranges[key] = record
        self.writes.setdefault(self.height, {})[key] = canonical(record)

    def _step(self, action: str, src: str | None, dst: str) -> dict[str, Any]:
        return {"action": action, "from": src, "height": self.height, "to": dst,
                "tx_id": f"tx{self.height}"}

    def issue(self, account: str, n: int) -> None:
        self.height += 1
        first = self.next_unit
        self.next_unit += n
        self._put({"account": account, "batch_id": f"B{self.height}", "first": first,
                   "frozen": False, "history": [self._step("issue", None, account)],
                   "last": first + n - 1, "project_id": "P", "state": "held", "vintage": 2024})

    def change(self, action: str, account: str, states: tuple[str, ...], q: int,
               changes: dict[str, Any], to: str | None = None, frozen: bool | None = False
               ) -> int:
        """Apply ``action`` to up to ``q`` units of ``account`` in ``states`` (frozen as
        given; None: any); return how many units changed (0: no block)."""
        picked: list[tuple[dict[str, Any], int, int]] = []
        need = q
        for key in sorted(self.ranges):
            r = self.ranges[key]
            if need == 0:
                break
            if r["account"] != account or r["state"] not in states:
                continue
            if frozen is not None and r["frozen"] != frozen:
                continue
            take = min(need, r["last"] - r["first"] + 1)
            picked.append((r, r["first"], r["first"] + take - 1))
            need -= take
        if not picked:
            return 0
        self.height += 1
        step = self._step(action, account, to or account)
        for r, first, last in picked:
            if last < r["last"]:
                self._put(dict(r, first=last + 1, history=list(r["history"])))
            self._put(dict(r, first=first, last=last, history=[*r["history"], step], **changes))
        return q - need


@st.composite
def operations(draw: Any) -> list[tuple[Any, ...]]:
    ops: list[tuple[Any, ...]] = [("issue", "a", draw(st.integers(1, 30)))]
    # the accounts act in turn often enough to trade with each other
    for _ in range(draw(st.integers(0, 25))):
        kind = draw(st.sampled_from(["issue", "transfer", "list", "trade", "sell", "delist",
                                     "retire", "invalidate", "freeze", "unfreeze"]))
        ops.append((kind, draw(st.sampled_from(ACCOUNTS)), draw(st.integers(1, 20)),
                    draw(st.sampled_from(ACCOUNTS))))
    return ops


def run(store: ModelStore, op: tuple[Any, ...]) -> None:
    kind, account, q = op[0], op[1], op[2]
    other = op[3] if len(op) > 3 else account
    if kind == "issue":
        store.issue(account, q)
    elif kind == "sell":  # a listing, then a trade of it in the next block
        run(store, ("list", account, q))
        run(store, ("trade", account, q, other))
    elif kind in ("transfer", "trade") and other != account:
        state = "held" if kind == "transfer" else "listed"
        store.change(kind, account, (state,), q, {"account": other, "state": "held"}, to=other)
    elif kind == "list":
        store.change("list", account, ("held",), q, {"state": "listed"})
    elif kind == "delist":
        store.change("delist", account, ("listed",), q, {"state": "held"})
    elif kind == "retire":
        store.change("retire", account, ("held",), q, {"state": "retired"})
    elif kind == "invalidate":
        store.change("invalidate", account, ("held", "listed"), q,
                     {"state": "cancelled", "frozen": False}, frozen=None)
    elif kind in ("freeze", "unfreeze"):
        store.change(kind, account, ("held", "listed"), q, {"frozen": kind == "freeze"},
                     frozen=kind == "unfreeze")


def balance_in_model(store: ModelStore, account: str) -> int:
    return sum(r["last"] - r["first"] + 1 for r in store.ranges.values()
               if r["account"] == account and r["state"] in ("held", "listed"))


@settings(max_examples=100, deadline=None)
@given(operations(), st.integers(0, 26))
def test_incremental_equals_cold_start_and_balances_match(ops: list[tuple[Any, ...]],
                                                          split: int) -> None:
    store = ModelStore()
    live = MovementIndex(store, lambda h: 1_000 * h)
    for i, op in enumerate(ops):
        if i == split:
            live.refresh()  # a cold start in the middle, blocks one by one after it
        run(store, op)
    cold = MovementIndex(store, lambda h: 1_000 * h)
    end = 1_000 * (store.height + 1)
    for account in ACCOUNTS:
        opening, closing, rows = live.period(account, 0, end)
        assert (opening, closing, rows) == cold.period(account, 0, end)
        assert closing == balance_in_model(store, account) == live.balance(account)
        assert opening == 0 and sum(m.change for m, _ in rows) == closing
        for m, _after in rows:
            assert m.change == KINDS[m.kind] * m.quantity
            assert m.quantity == sum(r[4] - r[3] + 1 for r in m.ranges)
        # any split of the history into two periods adds up
        middle = 1_000 * (store.height // 2) + 1
        o1, c1, r1 = live.period(account, 0, middle)
        o2, c2, r2 = live.period(account, middle, end)
        assert c1 == o2 and len(r1) + len(r2) == len(rows) and c2 == closing
