"""chaincode/units.py directly: range creation, selection order and restrictions, splits,
history, terminal and frozen units, and the holdings index (including that selection reads
only the account's index, never every unit of the network)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chaincode import units
from chaincode.framework import BlockContext, ChaincodeError, TxContext
from ledger.encoding import decode
from ledger.state import MemoryState, Overlay, StateReader
from tests.support.carbon_market import Market, check_invariants, scan_batch_counts


class RecordingReader:
    """A StateReader that records every prefix iterated."""

    def __init__(self, base: StateReader) -> None:
        self.base = base
        self.prefixes: list[str] = []

    def get(self, key: str) -> bytes | None:
        return self.base.get(key)

    def iter_prefix(self, prefix: str, start: str | None = None) -> Iterator[tuple[str, bytes]]:
        self.prefixes.append(prefix)
        return self.base.iter_prefix(prefix, start)

    def last_at_or_before(
        self, prefix: str, key: str, *, strict: bool = False
    ) -> tuple[str, bytes] | None:
        self.prefixes.append(prefix)
        return self.base.last_at_or_before(prefix, key, strict=strict)


def tx_context(state: StateReader, height: int = 99, tx_id: str = "t" * 64) -> TxContext:
    return TxContext(Overlay(state), BlockContext("fcl-test", height, 0, "p"), tx_id, (), 0)


def commit(ctx: TxContext, state: MemoryState) -> None:
    state.apply(ctx.state.write_set())


@pytest.fixture
def state() -> MemoryState:
    """Two projects: P-A units 1-10 (batch BA, owner o1) and 11-15 (batch BA2, buffer);
    P-B units 1-5 (batch BB, owner o1)."""
    st = MemoryState()
    ctx = tx_context(st, height=1, tx_id="a" * 64)
    units.create_range(ctx, project_id="P-A", batch_id="BA", vintage=2020, first=1, last=10,
                       account="o1")
    units.create_range(ctx, project_id="P-A", batch_id="BA2", vintage=2021, first=11, last=15,
                       account=units.BUFFER_ACCOUNT)
    units.create_range(ctx, project_id="P-B", batch_id="BB", vintage=2020, first=1, last=5,
                       account="o1")
    commit(ctx, st)
    return st


def ranges(state: StateReader, pid: str) -> list[tuple[int, int, str, str]]:
    return [(r["first"], r["last"], r["account"], r["state"]) for r in units.iter_ranges(state, pid)]


def index(state: MemoryState) -> list[str]:
    return [k for k, _ in state.items() if k.startswith("holding/")]


def test_create_range_record_and_index(state: MemoryState) -> None:
    rec = decode(state.get("unit/P-A/000000000001"))
    assert rec == {
        "account": "o1", "batch_id": "BA", "first": 1, "frozen": False, "height": 1,
        "history": [{"action": "issue", "from": None, "height": 1, "to": "o1", "tx_id": "a" * 64}],
        "last": 10, "project_id": "P-A", "state": "held", "tx_id": "a" * 64, "vintage": 2020,
    }
    assert index(state) == [
        "holding/buffer-pool/held/P-A/000000000011",
        "holding/o1/held/P-A/000000000001",
        "holding/o1/held/P-B/000000000001",
    ]
    assert decode(state.get("holding/o1/held/P-A/000000000001")) == {
        "batch_id": "BA", "frozen": False, "last": 10, "vintage": 2020}


@pytest.mark.parametrize(("first", "last"), [(10, 12), (1, 1), (15, 15), (0, 3), (5, 4)])
def test_create_range_refuses_overlap_and_bad_bounds(state: MemoryState, first: int, last: int) -> None:
    ctx = tx_context(state)
    with pytest.raises(ChaincodeError) as exc:
        units.create_range(ctx, project_id="P-A", batch_id="BX", vintage=2022, first=first,
                           last=last, account="o1")
    assert exc.value.code in ("serial_overlap", "invalid_range")
    assert ctx.state.write_set() == []


def test_selection_order_is_project_then_unit(state: MemoryState) -> None:
    ctx = tx_context(state)
    picked = units.select_units(ctx, account="o1", state="held", quantity=12)
    assert [(s.project_id, s.first, s.last) for s in picked] == [("P-A", 1, 10), ("P-B", 1, 2)]


def test_selection_restrictions(state: MemoryState) -> None:
    ctx = tx_context(state)
    by_project = units.select_units(ctx, account="o1", state="held", quantity=2, project_id="P-B")
    assert [(s.project_id, s.first, s.last) for s in by_project] == [("P-B", 1, 2)]
    by_range = units.select_units(ctx, account="o1", state="held", quantity=3, project_id="P-A",
                                  first=4, last=9)
    assert [(s.first, s.last) for s in by_range] == [(4, 6)]
    by_batch = units.select_units(ctx, account=units.BUFFER_ACCOUNT, state="held", quantity=5,
                                  project_id="P-A", batch_id="BA2")
    assert [(s.first, s.last) for s in by_batch] == [(11, 15)]
    with pytest.raises(ChaincodeError, match="insufficient_units"):
        units.select_units(ctx, account="o1", state="held", quantity=16)
    with pytest.raises(ChaincodeError, match="units_not_available"):
        units.select_units(ctx, account="o1", state="held", quantity=3, project_id="P-A",
                           first=9, last=12)
    with pytest.raises(ChaincodeError, match="insufficient_buffer"):
        units.select_units(ctx, account=units.BUFFER_ACCOUNT, state="held", quantity=6,
                           project_id="P-A", code="insufficient_buffer")


def test_move_splits_a_range_in_three_and_copies_history(state: MemoryState) -> None:
    ctx = tx_context(state, height=2, tx_id="b" * 64)
    picked = units.select_units(ctx, account="o1", state="held", quantity=3, project_id="P-A",
                                first=4, last=6)
    moved = units.move(ctx, picked, to_account="o2", to_state="held", action="transfer")
    commit(ctx, state)
    assert ranges(state, "P-A") == [(1, 3, "o1", "held"), (4, 6, "o2", "held"),
                                    (7, 10, "o1", "held"), (11, 15, "buffer-pool", "held")]
    left, mid, right = (decode(state.get(units.unit_key("P-A", n))) for n in (1, 4, 7))
    assert left["history"] == right["history"] == [mid["history"][0]]
    assert mid["history"][1] == {"action": "transfer", "from": "o1", "height": 2, "to": "o2",
                                 "tx_id": "b" * 64}
    assert moved == [mid]
    assert left["tx_id"] == mid["tx_id"] == right["tx_id"] == "b" * 64
    assert "holding/o2/held/P-A/000000000004" in index(state)
    assert "holding/o1/held/P-A/000000000007" in index(state)


def test_move_whole_range_keeps_its_key(state: MemoryState) -> None:
    ctx = tx_context(state)
    picked = units.select_units(ctx, account="o1", state="held", quantity=5, project_id="P-B")
    units.move(ctx, picked, to_account="o1", to_state="retired", action="retire")
    commit(ctx, state)
    assert ranges(state, "P-B") == [(1, 5, "o1", "retired")]
    assert "holding/o1/retired/P-B/000000000001" in index(state)
    assert "holding/o1/held/P-B/000000000001" not in index(state)


def test_terminal_and_frozen_units_never_move(state: MemoryState) -> None:
    ctx = tx_context(state)
    all_b = units.select_units(ctx, account="o1", state="held", quantity=5, project_id="P-B")
    units.move(ctx, all_b, to_account="o1", to_state="retired", action="retire")
    commit(ctx, state)
    ctx = tx_context(state)
    retired = units.select_serial_range(ctx, "P-B", 1, 5)
    with pytest.raises(ChaincodeError, match="units_not_available"):
        units.move(ctx, retired, to_account="o2", to_state="held", action="transfer")
    assert units.set_frozen(ctx, retired, frozen=True) == []  # retired units are not frozen
    frozen = units.set_frozen(ctx, units.select_serial_range(ctx, "P-A", 2, 3), frozen=True)
    assert [(r["first"], r["last"], r["frozen"]) for r in frozen] == [(2, 3, True)]
    with pytest.raises(ChaincodeError, match="units_frozen"):
        units.move(ctx, units.select_serial_range(ctx, "P-A", 2, 2), to_account="o2",
                   to_state="held", action="transfer")
    # selection skips frozen units; asking for more than the unfrozen ones says why
    picked = units.select_units(ctx, account="o1", state="held", quantity=3, project_id="P-A")
    assert [(s.first, s.last) for s in picked] == [(1, 1), (4, 5)]
    with pytest.raises(ChaincodeError, match="units_frozen"):
        units.select_units(ctx, account="o1", state="held", quantity=10, project_id="P-A")
    # invalidation may cancel frozen units; the flag is cleared on a terminal state
    out = units.move(ctx, units.select_serial_range(ctx, "P-A", 2, 3), to_account="o1",
                     to_state="cancelled", action="invalidate", allow_frozen=True)
    assert [(r["state"], r["frozen"]) for r in out] == [("cancelled", False)]


def test_batch_counts(state: MemoryState) -> None:
    ctx = tx_context(state)
    units.move(ctx, units.select_serial_range(ctx, "P-A", 1, 2), to_account="o1",
               to_state="listed", action="list")
    units.move(ctx, units.select_serial_range(ctx, "P-A", 11, 11), to_account=units.BUFFER_ACCOUNT,
               to_state="cancelled", action="loss")
    commit(ctx, state)
    expected = {
        "BA": {"buffer": 0, "cancelled": 0, "frozen": 0, "held": 8, "listed": 2, "retired": 0},
        "BA2": {"buffer": 4, "cancelled": 1, "frozen": 0, "held": 0, "listed": 0, "retired": 0},
    }
    assert scan_batch_counts(state, "P-A") == expected
    # the counters the chaincode kept in the same transactions say the same (one read)
    assert {b: units.batch_stats(state, b) for b in expected} == expected
    assert units.batch_stats(state, "NO-SUCH-BATCH") == dict.fromkeys(expected["BA"], 0)
    assert units.find_range(state, "P-A", 11)["state"] == "cancelled"
    assert units.find_range(state, "P-A", 16) is None
    assert units.find_range(state, "P-C", 1) is None


def test_selection_reads_only_the_accounts_index() -> None:
    """Holdings of other accounts and other states are never iterated when selecting."""
    mk = Market()
    mk.project("AH-0001")
    mk.issue("AH-0001", "B1")
    for i in range(5):  # fragment the project into many ranges held by others
        mk.ok(["owner-farm", "buyer-power"], "transfer",
              {"from_org": "owner-farm", "to_org": "buyer-power", "quantity": 1,
               "project_id": "AH-0001", "first": 2 * i + 1, "last": 2 * i + 1})
    reader = RecordingReader(mk.h.state)
    ctx = tx_context(reader)
    picked = units.select_units(ctx, account="owner-farm", state="held", quantity=3)
    assert [(s.first, s.last) for s in picked] == [(2, 2), (4, 4), (6, 6)]
    assert reader.prefixes == ["holding/owner-farm/held/"]
    check_invariants(mk.h.state)
