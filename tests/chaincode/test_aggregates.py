"""Issue 13: aggregates kept at commit (``stats/…``) and the pool-event indexes
(``poolevent/…``, ``reversal_by/…``), and the queries that read them instead of scanning.

The full-recount comparison after every step of the property tests lives in
``check_invariants`` (tests/support/carbon_market.py); these tests pin the figures, the
reads the queries make and the edge cases."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chaincode import pool, queries, units
from chaincode.framework import BlockContext, TxContext
from ledger.state import MemoryState, Overlay, StateReader
from tests.support.carbon_market import (
    Market,
    check_invariants,
    check_stats,
    h256,
    recount_stats,
    scan_batch_counts,
    scan_buffer_pool,
    scan_totals,
    scan_vintages,
)


class GuardedReader:
    """A StateReader that refuses to read under any of ``forbidden`` and counts the
    entries it hands out (iterated or sought)."""

    def __init__(self, base: StateReader, *forbidden: str) -> None:
        self.base = base
        self.forbidden = forbidden
        self.read = 0

    def _check(self, key: str) -> None:
        assert not key.startswith(self.forbidden), f"read {key!r}"

    def get(self, key: str) -> bytes | None:
        self._check(key)
        return self.base.get(key)

    def iter_prefix(self, prefix: str, start: str | None = None) -> Iterator[tuple[str, bytes]]:
        self._check(prefix)
        for item in self.base.iter_prefix(prefix, start):
            self.read += 1
            yield item

    def last_at_or_before(
        self, prefix: str, key: str, *, strict: bool = False
    ) -> tuple[str, bytes] | None:
        self._check(prefix)
        self.read += 1
        return self.base.last_at_or_before(prefix, key, strict=strict)


@pytest.fixture(scope="module")
def m() -> Market:
    """AH-0001: B1 (vintage 2018) and B2 (2019); AH-0002: B3 (2018). A trade, a
    compliance retirement, a freeze and two loss events (one on each project)."""
    mk = Market()
    mk.project("AH-0001", "owner-farm", [("F1", "chinese_fir"), ("F2", "masson_pine")])
    mk.project("AH-0002", "coop", [("C1", "chinese_fir")])
    mk.issue("AH-0001", "B1", volume="13")
    mk.issue("AH-0001", "B2", volume="13")
    mk.issue("AH-0002", "B3")
    lid = mk.ok("owner-farm", "create_listing",
                {"quantity": 10, "price": "90", "exchange_org": "exchange"})["listing_id"]
    mk.ok("exchange", "match_trade", {"listing_id": lid, "buyer_org": "buyer-steel",
                                      "quantity": 4, "price": "90", "settlement_ref": "S1"})
    mk.ok("regulator", "record_obligation",
          {"enterprise_org": "buyer-steel", "period": "2025", "obligation_tonnes": 1000})
    mk.ok("buyer-steel", "retire_compliance", {"period": "2025", "quantity": 2})
    mk.ok("regulator", "freeze", {"project_id": "AH-0001", "first": 20, "last": 22,
                                  "reason": "audit"})
    mk.ok("regulator", "record_loss_event", {"project_id": "AH-0002", "quantity": 2,
                                             "cause": "fire", "evidence_sha256": h256("fire")})
    mk.ok("regulator", "record_loss_event", {"project_id": "AH-0001", "quantity": 40,
                                             "cause": "pests", "evidence_sha256": h256("bugs")})
    return mk


def test_counters_hold_the_exact_figures(m: Market) -> None:
    state = m.h.state
    check_invariants(state)
    assert queries.totals(state) == scan_totals(state) == {
        "batches": 3, "buffer": 0, "cancelled": 9, "frozen": 3, "held": 73, "issued": 90,
        "listed": 6, "projects": 2, "retired": 2}
    assert queries.vintages(state) == scan_vintages(state) == [
        {"issued": 60, "retired": 2, "vintage": 2018},
        {"issued": 30, "retired": 0, "vintage": 2019}]
    per_batch = scan_batch_counts(state, "AH-0001")
    assert units.batch_stats(state, "B1") == per_batch["B1"] == {
        "buffer": 0, "cancelled": 3, "frozen": 3, "held": 19, "listed": 6, "retired": 2}
    assert [b["counts"] for b in queries.batches(state)["batches"]][:2] == [
        dict(per_batch[b], issued=30) for b in ("B1", "B2")]


def test_totals_vintages_and_batches_read_no_unit_range(m: Market) -> None:
    reader = GuardedReader(m.h.state, units.UNIT_PREFIX, units.HOLDING_PREFIX, "batch/")
    assert queries.totals(reader)["issued"] == 90
    assert reader.read == 0  # one get
    assert [v["vintage"] for v in queries.vintages(reader)] == [2018, 2019]
    assert reader.read == 2  # one entry per vintage
    reader = GuardedReader(m.h.state, units.UNIT_PREFIX, units.HOLDING_PREFIX)
    assert len(queries.batches(reader)["batches"]) == 3
    assert queries.project(reader, "AH-0001")["totals"]["issued"] == 60


def test_buffer_pool_reads_counters_and_limit_index_entries(m: Market) -> None:
    reference = scan_buffer_pool(m.h.state)
    reader = GuardedReader(m.h.state, units.UNIT_PREFIX, units.HOLDING_PREFIX)
    out = queries.buffer_pool(reader, limit=1)
    assert out["projects"] == reference["projects"]
    assert out["totals"] == reference["totals"] == {"cancelled": 9, "frozen": 0, "held": 0}
    assert [r["cause"] for r in out["losses"]] == ["pests"]  # the newest only
    assert [r["cause"] for r in queries.buffer_pool(m.h.state)["losses"]] == ["pests", "fire"]
    assert out["charges"]["AH-0001"] == {
        "loss_cancelled": 7, "loss_quantity": 40, "loss_shortfall": 33,  # 6 own + 1 of AH-0002
        "reversal_cancelled": 0, "reversal_quantity": 0, "reversal_shortfall": 0}
    assert out["accounts"]["AH-0001"]["loss_quantity"] == 40


def test_a_refused_transaction_changes_no_counter(m: Market) -> None:
    before = recount_stats(m.h.state)
    stored = {k: v for k, v in m.h.state.iter_prefix("stats/")}
    m.fails("insufficient_units", "buyer-steel", "retire_voluntary",
            {"quantity": 3, "beneficiary": "x", "reason": "y"})
    assert {k: v for k, v in m.h.state.iter_prefix("stats/")} == stored
    assert recount_stats(m.h.state) == before


def ctx_at(state: MemoryState, height: int, index: int) -> TxContext:
    return TxContext(Overlay(state).child(), BlockContext("fcl-test", height, 0, "p"),
                     f"{height:032d}{index:032d}", (), index)


def commit(ctx: TxContext, state: MemoryState) -> None:
    state.apply(ctx.state.write_set())


def test_pool_events_newest_first_by_height_then_tx_index() -> None:
    state = MemoryState()
    for height, index, ident in ((3, 0, "a"), (3, 7, "b"), (3, 2, "c"), (9, 1, "d")):
        ctx = ctx_at(state, height, index)
        pool.record_pool_event(ctx, "reversal", ident, "P")
        ctx.put(f"reversal/{ident}", {"height": height, "id": ident, "project_id": "P"})
        commit(ctx, state)
    assert [r["id"] for r in queries.buffer_pool(state)["reversals"]] == ["d", "b", "c", "a"]
    assert [r["id"] for r in queries.buffer_pool(state, limit=2)["reversals"]] == ["d", "b"]
    assert queries.buffer_pool(state)["losses"] == []
    assert [k for k, _ in state.iter_prefix("reversal_by/P/")] == [
        "reversal_by/P/000000000003/00000", "reversal_by/P/000000000003/00002",
        "reversal_by/P/000000000003/00007", "reversal_by/P/000000000009/00001"]


def test_bad_bookkeeping_arguments_are_refused() -> None:
    ctx = ctx_at(MemoryState(), 1, 0)
    with pytest.raises(ValueError, match="not a record counter"):
        units.count_record(ctx, "issued")
    with pytest.raises(ValueError, match="unknown pool event kind"):
        pool.record_pool_event(ctx, "transfer", "x", "P")
    assert ctx.state.write_set() == []


def test_counters_follow_splits_freezes_and_invalidation() -> None:
    """Counters after each unit-ledger call equal a recount, including a frozen range
    invalidated (frozen cleared on the terminal state) and a no-op freeze (no write)."""
    state = MemoryState()
    ctx = ctx_at(state, 2, 0)
    units.create_range(ctx, project_id="P", batch_id="B", vintage=2021, first=1, last=10,
                       account="o1")
    units.create_range(ctx, project_id="P", batch_id="B", vintage=2021, first=11, last=14,
                       account=units.BUFFER_ACCOUNT)
    commit(ctx, state)
    check_stats(state)
    ctx = ctx_at(state, 3, 0)
    units.set_frozen(ctx, units.select_serial_range(ctx, "P", 3, 12), frozen=True)
    commit(ctx, state)
    check_stats(state)
    assert units.batch_stats(state, "B")["frozen"] == 10
    ctx = ctx_at(state, 4, 0)
    units.set_frozen(ctx, units.select_serial_range(ctx, "P", 3, 5), frozen=True)  # no-op
    assert ctx.state.write_set() == []
    units.move(ctx, units.select_serial_range(ctx, "P", 4, 11), to_account="o1",
               to_state="cancelled", action="invalidate", allow_frozen=True)
    commit(ctx, state)
    check_stats(state)
    assert units.batch_stats(state, "B") == {
        "buffer": 3, "cancelled": 8, "frozen": 2, "held": 3, "listed": 0, "retired": 0}
    assert state.get("stats/pool/P") is not None
    assert queries.totals(state)["issued"] == 14
