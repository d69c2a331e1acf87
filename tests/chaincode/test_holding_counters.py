"""Issue 13: an account's holdings page without reading its whole holdings index. The
chaincode keeps ``stats/holding/<account>/<batch_id>`` at every range change; the totals
of ``queries.holdings`` come from them and equal a recount of the index, and a deep page
of ranges reads only that page."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from chaincode import queries
from chaincode.units import HOLDING_PREFIX, STATES, holding_prefix, holding_stats_key
from ledger.encoding import decode
from ledger.state import StateReader
from tests.support.carbon_market import Market, check_stats


def recount(state: StateReader, account: str, project_id: str | None = None) -> dict[str, Any]:
    """Totals, per-project and per-batch counts, and every range, by reading the whole
    holdings index (what the query did before the counters)."""
    zero = dict.fromkeys(("cancelled", "frozen", "held", "listed", "retired"), 0)
    totals, per_project, per_batch, ranges = dict(zero), {}, {}, []
    base = holding_prefix(account)
    for st in sorted(STATES):
        for key, raw in state.iter_prefix(holding_prefix(account, st, project_id)):
            _st, pid, first = key[len(base):].split("/")
            idx = decode(raw)
            n = idx["last"] - int(first) + 1
            batch = per_batch.setdefault(idx["batch_id"], dict(zero, project_id=pid,
                                                               vintage=idx["vintage"]))
            for bucket in (totals, per_project.setdefault(pid, dict(zero)), batch):
                bucket[st] += n
                if idx["frozen"]:
                    bucket["frozen"] += n
            ranges.append((st, pid, int(first)))
    return {"totals": totals, "projects": per_project, "batches": per_batch, "ranges": ranges}


class Counting:
    def __init__(self, state: StateReader) -> None:
        self.state = state
        self.index_reads = 0

    def get(self, key: str) -> bytes | None:
        return self.state.get(key)

    def iter_prefix(self, prefix: str, start: str | None = None) -> Iterator[tuple[str, bytes]]:
        for key, raw in self.state.iter_prefix(prefix, start):
            if key.startswith(HOLDING_PREFIX):
                self.index_reads += 1
            yield key, raw

    def last_at_or_before(self, prefix: str, key: str, *, strict: bool = False) -> Any:
        return self.state.last_at_or_before(prefix, key, strict=strict)


def market() -> Market:
    m = Market()
    m.project("AH-0001", plots=[("SQ-1", "chinese_fir")])
    m.project("AH-0002", owner="coop", plots=[("SQ-2", "chinese_fir")])
    m.issue("AH-0001", "B1", volume="300")
    m.issue("AH-0001", "B2", volume="300")
    m.issue("AH-0002", "B3", volume="300")
    for i in range(40):  # many small transfers: many ranges in the buyer's index
        m.ok(["owner-farm", "buyer-steel"], "transfer",
             {"from_org": "owner-farm", "to_org": "buyer-steel", "quantity": 1 + i % 3})
        if i % 4 == 0:
            m.ok(["owner-farm", "buyer-power"], "transfer",
                 {"from_org": "owner-farm", "to_org": "buyer-power", "quantity": 2})
    m.ok(["coop", "buyer-steel"], "transfer",
         {"from_org": "coop", "to_org": "buyer-steel", "quantity": 5})
    m.ok("buyer-steel", "retire_voluntary", {"quantity": 7, "beneficiary": "x", "reason": "y"})
    m.ok("buyer-steel", "create_listing", {"quantity": 3, "price": "50", "exchange_org": "exchange"})
    first = m.ranges("AH-0001")[-1]["first"]
    m.ok("regulator", "freeze", {"project_id": "AH-0001", "first": first, "last": first + 1,
                                 "reason": "court order"})
    return m


def test_counters_equal_a_recount_of_the_index_and_page_through_everything() -> None:
    m = market()
    state = m.h.state
    check_stats(state)
    for account in ("owner-farm", "coop", "buyer-steel", "buyer-power", "buffer-pool", "nobody"):
        for project_id in (None, "AH-0001", "AH-0002"):
            expected = recount(state, account, project_id)
            out = queries.holdings(state, account, project_id=project_id, limit=7)
            assert out["totals"] == expected["totals"], (account, project_id)
            assert out["projects"] == expected["projects"]
            assert out["batches"] == expected["batches"]
            got = [(r["state"], r["project_id"], r["first"]) for r in out["ranges"]]
            while out["next"] is not None:
                out = queries.holdings(state, account, project_id=project_id, limit=7,
                                       after=out["next"])
                got += [(r["state"], r["project_id"], r["first"]) for r in out["ranges"]]
            assert got == expected["ranges"], (account, project_id)
    assert len(recount(state, "buyer-steel")["ranges"]) > 30


def test_a_counter_disappears_when_the_account_has_nothing_left_of_the_batch() -> None:
    m = market()
    steel = queries.holdings(m.h.state, "buyer-steel", project_id="AH-0002")
    held = steel["totals"]["held"]
    assert m.get(holding_stats_key("buyer-steel", "B3")) == dict(
        steel["batches"]["B3"], project_id="AH-0002")
    m.ok(["buyer-steel", "buyer-power"], "transfer",
         {"from_org": "buyer-steel", "to_org": "buyer-power", "quantity": held,
          "project_id": "AH-0002"})
    assert m.get(holding_stats_key("buyer-steel", "B3")) is None
    assert "B3" not in queries.holdings(m.h.state, "buyer-steel")["batches"]
    check_stats(m.h.state)


def test_a_deep_page_reads_only_its_page_of_the_index() -> None:
    m = market()
    everything = recount(m.h.state, "buyer-steel")["ranges"]
    assert len(everything) > 30
    counting = Counting(m.h.state)
    first = queries.holdings(counting, "buyer-steel", limit=25)
    counting.index_reads = 0
    out = queries.holdings(counting, "buyer-steel", limit=3, after=first["next"])
    assert [(r["state"], r["project_id"], r["first"]) for r in out["ranges"]] == everything[25:28]
    assert counting.index_reads <= 4  # the page and one more: never the 25 before it
    assert out["totals"] == recount(m.h.state, "buyer-steel")["totals"]
