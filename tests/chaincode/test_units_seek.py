"""The unit-range reads by ordered seek (chaincode/units.py: ``create_range``'s overlap
check, ``find_range``, ``select_serial_range``, ``select_units`` and ``account_slices``
with a serial range) answer exactly what a scan of every range answers: the same
records, slices, refusals and messages, for random layouts of ranges split among
accounts, frozen or not, read through a transaction overlay over committed state."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chaincode import units
from chaincode.framework import BlockContext, ChaincodeError, TxContext
from ledger.encoding import decode
from ledger.state import MemoryState, Overlay

PID = "P-SEEK"
UNITS = st.integers(min_value=-2, max_value=70)


def ctx_over(state: MemoryState) -> TxContext:
    return TxContext(Overlay(state).child(), BlockContext("fcl-test", 5, 0, "p"), "c" * 64, (), 0)


def all_ranges(ctx: TxContext) -> list[dict[str, Any]]:
    """Every range of the project, by a scan from the first (the reference)."""
    return [decode(raw) for _, raw in ctx.state.iter_prefix(units.unit_prefix(PID))]


def ref_find(ctx: TxContext, unit: int) -> dict[str, Any] | None:
    return next((r for r in all_ranges(ctx) if r["first"] <= unit <= r["last"]), None)


def ref_overlap(ctx: TxContext, first: int, last: int) -> str | None:
    for r in all_ranges(ctx):
        if r["first"] <= last and r["last"] >= first:
            return (f"units {first}..{last} of {PID} overlap existing units "
                    f"{r['first']}..{r['last']}")
    return None


def ref_serial(ctx: TxContext, first: int, last: int) -> list[tuple[int, int, int]]:
    return [(max(r["first"], first), min(r["last"], last), r["first"]) for r in all_ranges(ctx)
            if max(r["first"], first) <= min(r["last"], last)]


def ref_account(
    ctx: TxContext, account: str, state: str, first: int, last: int
) -> list[tuple[int, int, bool]]:
    return [(max(r["first"], first), min(r["last"], last), r["frozen"]) for r in all_ranges(ctx)
            if r["account"] == account and r["state"] == state
            and max(r["first"], first) <= min(r["last"], last)]


LAYOUT = st.lists(st.tuples(UNITS, st.integers(0, 8)), max_size=8)
SPLITS = st.lists(st.tuples(st.integers(1, 70), st.integers(0, 3),
                            st.sampled_from(["o2", "freeze", "list"])), max_size=8)


def build(layout: list[tuple[int, int]], splits: list[Any]) -> MemoryState:
    """Ranges created where they fit, then pieces moved, frozen or listed."""
    state = MemoryState()
    ctx = ctx_over(state)
    for first, width in layout:
        try:
            units.create_range(ctx, project_id=PID, batch_id=f"B{first % 3}", vintage=2020,
                               first=first, last=first + width, account="o1")
        except ChaincodeError:
            pass
    for first, width, what in splits:
        picked = units.select_serial_range(ctx, PID, first, first + width)
        picked = [s for s in picked if s.record["state"] == "held" and not s.record["frozen"]]
        if not picked:
            continue
        if what == "freeze":
            units.set_frozen(ctx, picked, frozen=True)
        else:
            units.move(ctx, picked, to_account="o2" if what == "o2" else "o1",
                       to_state="held" if what == "o2" else "listed", action=what)
    state.apply(ctx.state.write_set())
    return state


@settings(max_examples=150, deadline=None)
@given(layout=LAYOUT, splits=SPLITS, pending=LAYOUT,
       queries=st.lists(st.tuples(UNITS, UNITS), min_size=1, max_size=6))
def test_seeks_answer_what_a_scan_answers(
    layout: list[tuple[int, int]], splits: list[Any], pending: list[tuple[int, int]],
    queries: list[tuple[int, int]],
) -> None:
    state = build(layout, splits)
    ctx = ctx_over(state)
    for first, width in pending:  # creations in the transaction itself, not yet committed
        expected = ref_overlap(ctx, first, first + width)
        try:
            units.create_range(ctx, project_id=PID, batch_id="BX", vintage=2021, first=first,
                               last=first + width, account="o3")
        except ChaincodeError as exc:
            assert exc.code == ("invalid_range" if first < 1 else "serial_overlap")
            if exc.code == "serial_overlap":
                assert str(exc.message) == expected
        else:
            assert expected is None and first >= 1
    for a, b in queries:
        assert units.find_range(ctx.state, PID, a) == ref_find(ctx, a)
        assert [(s.first, s.last, s.range_first) for s in
                units.select_serial_range(ctx, PID, a, b)] == ref_serial(ctx, a, b)
        for account, st_ in (("o1", "held"), ("o2", "held"), ("o1", "listed")):
            got = units.account_slices(ctx, account=account, state=st_, project_id=PID,
                                       first=a, last=b)
            want = ref_account(ctx, account, st_, a, b)
            assert [(s.first, s.last, s.record["frozen"]) for s in got] == want
            free = sum(y - x + 1 for x, y, frozen in want if not frozen)
            frozen_units = sum(y - x + 1 for x, y, frozen in want if frozen)
            if a < 1 or b < a:
                continue
            for quantity in {1, free, free + 1}:
                if quantity < 1:
                    continue
                try:
                    picked = units.select_units(ctx, account=account, state=st_,
                                                quantity=quantity, project_id=PID,
                                                first=a, last=b)
                except ChaincodeError as exc:
                    assert quantity > free
                    assert exc.code == ("units_frozen" if free + frozen_units >= quantity
                                        else "units_not_available")
                else:
                    assert quantity <= free
                    assert sum(s.quantity for s in picked) == quantity
                    assert all(not s.record["frozen"] for s in picked)


def test_the_overlap_message_names_the_lowest_range_that_overlaps() -> None:
    state = MemoryState()
    ctx = ctx_over(state)
    for first in (1, 11, 21):
        units.create_range(ctx, project_id=PID, batch_id="B", vintage=2020, first=first,
                           last=first + 4, account="o1")
    with pytest.raises(ChaincodeError) as info:
        units.create_range(ctx, project_id=PID, batch_id="B", vintage=2020, first=7,
                           last=30, account="o1")
    assert info.value.code == "serial_overlap"
    assert str(info.value.message).endswith("overlap existing units 11..15")
    assert units.find_range(ctx.state, PID, 10**12) is None
    assert units.find_range(ctx.state, PID, 0) is None
    assert units.select_serial_range(ctx, PID, 3, 2) == []


class CountingReader:
    """A StateReader that counts the entries it hands out (iterated or sought)."""

    def __init__(self, base: MemoryState) -> None:
        self.base = base
        self.read = 0

    def get(self, key: str) -> bytes | None:
        return self.base.get(key)

    def iter_prefix(self, prefix: str, start: str | None = None) -> Iterator[tuple[str, bytes]]:
        for item in self.base.iter_prefix(prefix, start):
            self.read += 1
            yield item

    def last_at_or_before(
        self, prefix: str, key: str, *, strict: bool = False
    ) -> tuple[str, bytes] | None:
        self.read += 1
        return self.base.last_at_or_before(prefix, key, strict=strict)


def test_range_reads_touch_a_few_ranges_not_the_project() -> None:
    """With 1,000 ranges, issuance, find_range and a serial selection read only the
    ranges next to the units they name (a scan would read up to all 1,000)."""
    state = MemoryState()
    ctx = ctx_over(state)
    for i in range(1000):
        units.create_range(ctx, project_id=PID, batch_id="B", vintage=2020, first=1 + 10 * i,
                           last=10 * (i + 1), account=("o1", "o2")[i % 2])
    state.apply(ctx.state.write_set())
    reader = CountingReader(state)
    ctx = TxContext(Overlay(reader).child(), BlockContext("fcl-test", 5, 0, "p"), "d" * 64, (),
                    0)
    units.create_range(ctx, project_id=PID, batch_id="B2", vintage=2021, first=10_001,
                       last=10_100, account="o1")
    with pytest.raises(ChaincodeError):
        units.create_range(ctx, project_id=PID, batch_id="B2", vintage=2021, first=5_005,
                           last=5_025, account="o1")
    assert units.find_range(ctx.state, PID, 7_777) is not None
    assert len(units.select_serial_range(ctx, PID, 5_005, 5_025)) == 3
    assert len(units.account_slices(ctx, account="o2", state="held", project_id=PID,
                                     first=5_005, last=5_025)) == 1
    assert reader.read <= 20
