"""Stateful property test of the unit ledger (Hypothesis RuleBasedStateMachine).

Random sequences of issuance (the real registry path: report, verification, issue),
off-exchange transfers, listings, matched trades, listing withdrawals, compliance and
voluntary retirements, loss events (reversals), freezes, unfreezes and invalidations run
through signed transactions on the Harness. A unit-level model predicts each outcome (its
error code, or the units that move). After EVERY step:

* the ledger's integrity rules hold (``check_invariants``: no overlapping ranges, every
  issued unit in exactly one range of its batch, per-batch conservation, holdings index
  consistent with the ranges, open listings consistent);
* the state agrees unit by unit with the model (account, state, frozen flag);
* retired ranges never change once retired (their records are byte-identical).

At teardown the same blocks replayed on a fresh Harness give the identical state root.

Bounded for CI (< 60 s); ``FCL_HYPOTHESIS_PROFILE=long`` runs many more examples.
"""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from chaincode.units import BUFFER_ACCOUNT, UNIT_PREFIX
from ledger.encoding import decode
from tests.support.carbon_market import Market, check_invariants, h256
from tests.support.harness import Harness

LONG = os.environ.get("FCL_HYPOTHESIS_PROFILE") == "long"
MAX_EXAMPLES = 300 if LONG else 40
STEPS = 60 if LONG else 30

#: Genesis parameters: one body verifies every period (see setup).
PARAMS = {"max_consecutive_verifications": 0}
PROJECTS = {"AH-0001": ("owner-farm", "chinese_fir", "low"),
            "AH-0002": ("coop", "masson_pine", "high")}
HOLDERS = ("owner-farm", "coop", "buyer-steel", "buyer-power")
BUYERS = ("buyer-steel", "buyer-power")
OBLIGATION = 1000  # cap floor(1000 x 0.05) = 50 per buyer
CAP = 50

Key = tuple[str, int]


def order(key: Key) -> tuple[str, int]:
    """Selection order: the holdings-index key order (project id + "/", unit number)."""
    return key[0] + "/", key[1]


class UnitLedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.m: Market
        self.units: dict[Key, list[Any]] = {}  # (project, unit) -> [account, state, frozen]
        self.next_unit = {pid: 1 for pid in PROJECTS}
        self.listings: dict[str, dict[str, Any]] = {}  # id -> {seller, units, status}
        self.listing_ids: list[str] = []
        self.retired_for: dict[str, int] = dict.fromkeys(BUYERS, 0)
        self.retired_records: dict[str, bytes] = {}
        self.batches = 0
        self.compensation = dict.fromkeys(PROJECTS, 0)  # outstanding obligation per project

    # -- setup -----------------------------------------------------------------------------
    @initialize()
    def setup(self) -> None:
        # many issuances per project, all verified by verifier-b: the independence limit
        # on consecutive verifications is lifted explicitly (tested in
        # tests/chaincode/test_independence_exclusion.py)
        self.m = Market(params=PARAMS)
        for pid, (owner, species, risk) in PROJECTS.items():
            self.m.project(pid, owner, [(f"{pid}-P1", species)], risk=risk)
        for buyer in BUYERS:
            self.m.ok("regulator", "record_obligation",
                      {"enterprise_org": buyer, "period": "2025", "obligation_tonnes": OBLIGATION})
        for pid in PROJECTS:
            self._issue(pid, "10")

    # -- helpers -----------------------------------------------------------------------------
    def _expect(self, result: dict, expected: str) -> bool:
        assert result["code"] == expected, (expected, result)
        event(f"outcome: {expected}")
        return expected == "ok"

    def _pick(self, account: str, state: str, qty: int, pid: str | None = None,
              short: str = "insufficient_units") -> tuple[list[Key], str]:
        cands = sorted((k for k, (a, s, _f) in self.units.items()
                        if a == account and s == state and (pid is None or k[0] == pid)),
                       key=order)
        free = [k for k in cands if not self.units[k][2]]
        if len(free) >= qty:
            return free[:qty], "ok"
        return [], "units_frozen" if len(cands) >= qty else short

    def _issue(self, pid: str, volume: str) -> None:
        owner, _species, _risk = PROJECTS[pid]
        issuable, to_buffer = self.m.expected(pid, volume)
        repay = min(self.compensation[pid], issuable - to_buffer)
        self.compensation[pid] -= repay
        to_buffer += repay  # the compensation obligation is repaid to the pool first
        self.batches += 1
        batch = self.m.issue(pid, f"B{self.batches}", volume=volume)
        first = self.next_unit[pid]
        assert (batch["first"], batch["quantity"], batch["buffer_quantity"]) == (
            first, issuable, to_buffer)
        assert batch["compensation_quantity"] == repay
        for n in range(first, first + issuable):
            acct = owner if n < first + issuable - to_buffer else BUFFER_ACCOUNT
            self.units[(pid, n)] = [acct, "held", False]
        self.next_unit[pid] = first + issuable

    def _set(self, keys: list[Key], account: str, state: str) -> None:
        for k in keys:
            self.units[k][0] = account
            self.units[k][1] = state

    # -- rules -------------------------------------------------------------------------------
    @precondition(lambda self: self.batches < 12)
    @rule(pid=st.sampled_from(sorted(PROJECTS)), volume=st.sampled_from(["5", "10", "25.2"]))
    def issue(self, pid: str, volume: str) -> None:
        self._issue(pid, volume)

    @rule(src=st.sampled_from(HOLDERS), dst=st.sampled_from(HOLDERS),
          qty=st.integers(1, 40))
    def transfer(self, src: str, dst: str, qty: int) -> None:
        keys, code = self._pick(src, "held", qty)
        if src == dst:
            code = "self_transfer"
        res = self.m.call([src, dst] if src != dst else src, "transfer",
                          {"from_org": src, "to_org": dst, "quantity": qty})
        if self._expect(res, code):
            self._set(keys, dst, "held")

    @rule(seller=st.sampled_from(HOLDERS), qty=st.integers(1, 30))
    def create_listing(self, seller: str, qty: int) -> None:
        keys, code = self._pick(seller, "held", qty)
        res = self.m.call(seller, "create_listing",
                          {"quantity": qty, "price": "55.5", "exchange_org": "exchange"})
        if self._expect(res, code):
            lid = self.m.h.returned(res)["listing_id"]
            self._set(keys, seller, "listed")
            self.listings[lid] = {"seller": seller, "status": "open", "units": keys}
            self.listing_ids.append(lid)

    @precondition(lambda self: bool(self.listing_ids))
    @rule(which=st.integers(0, 1000), buyer=st.sampled_from(HOLDERS), qty=st.integers(1, 20))
    def match_trade(self, which: int, buyer: str, qty: int) -> None:
        lid = self.listing_ids[which % len(self.listing_ids)]
        lst = self.listings[lid]
        take: list[Key] = []
        if lst["status"] != "open":
            code = "listing_closed"
        elif buyer == lst["seller"]:
            code = "self_trade"
        elif qty > len(lst["units"]):
            code = "exceeds_listing"
        else:
            free = [k for k in lst["units"] if not self.units[k][2]]
            code = "ok" if len(free) >= qty else "units_frozen"
            take = free[:qty]
        res = self.m.call("exchange", "match_trade", {
            "listing_id": lid, "buyer_org": buyer, "quantity": qty, "price": "55.5",
            "settlement_ref": f"S-{self.m.h.height}"})
        if self._expect(res, code):
            self._set(take, buyer, "held")
            lst["units"] = [k for k in lst["units"] if k not in set(take)]
            if not lst["units"]:
                lst["status"] = "filled"

    @precondition(lambda self: bool(self.listing_ids))
    @rule(which=st.integers(0, 1000))
    def cancel_listing(self, which: int) -> None:
        lid = self.listing_ids[which % len(self.listing_ids)]
        lst = self.listings[lid]
        if lst["status"] != "open":
            code = "listing_closed"
        elif any(self.units[k][2] for k in lst["units"]):
            code = "units_frozen"
        else:
            code = "ok"
        res = self.m.call(lst["seller"], "cancel_listing", {"listing_id": lid})
        if self._expect(res, code):
            self._set(lst["units"], lst["seller"], "held")
            lst["units"], lst["status"] = [], "cancelled"

    @rule(holder=st.sampled_from(HOLDERS), qty=st.integers(1, 25))
    def retire_voluntary(self, holder: str, qty: int) -> None:
        keys, code = self._pick(holder, "held", qty)
        res = self.m.call(holder, "retire_voluntary",
                          {"quantity": qty, "beneficiary": "Anhui forest fund", "reason": "test"})
        if self._expect(res, code):
            self._set(keys, holder, "retired")

    @rule(buyer=st.sampled_from(BUYERS), qty=st.integers(1, 25))
    def retire_compliance(self, buyer: str, qty: int) -> None:
        if self.retired_for[buyer] + qty > CAP:
            keys, code = [], "cap_exceeded"
        else:
            keys, code = self._pick(buyer, "held", qty)
        res = self.m.call(buyer, "retire_compliance", {"period": "2025", "quantity": qty})
        if self._expect(res, code):
            self._set(keys, buyer, "retired")
            self.retired_for[buyer] += qty

    @rule(pid=st.sampled_from(sorted(PROJECTS)), qty=st.integers(1, 8))
    def loss_event(self, pid: str, qty: int) -> None:
        # one pool for all projects: the project's own unfrozen pool units first, then the
        # others' in selection order; what the pool cannot cover becomes compensation
        pool = sorted((k for k, (a, s, f) in self.units.items()
                       if a == BUFFER_ACCOUNT and s == "held" and not f), key=order)
        keys = ([k for k in pool if k[0] == pid] + [k for k in pool if k[0] != pid])[:qty]
        res = self.m.call("regulator", "record_loss_event", {
            "project_id": pid, "quantity": qty, "cause": "fire", "evidence_sha256": h256(pid)})
        self._expect(res, "ok")
        self._set(keys, BUFFER_ACCOUNT, "cancelled")
        self.compensation[pid] += qty - len(keys)
        assert self.m.h.returned(res)["compensation"] == qty - len(keys)

    def _in_range(self, pid: str, first: int, last: int, pool: bool = True) -> list[Key]:
        return [(pid, n) for n in range(first, last + 1)
                if (pid, n) in self.units and self.units[(pid, n)][1] in ("held", "listed")
                and (pool or self.units[(pid, n)][0] != BUFFER_ACCOUNT)]

    @rule(pid=st.sampled_from(sorted(PROJECTS)), first=st.integers(1, 80),
          span=st.integers(0, 15), frozen=st.booleans())
    def freeze_or_unfreeze(self, pid: str, first: int, span: int, frozen: bool) -> None:
        keys = [k for k in self._in_range(pid, first, first + span) if self.units[k][2] != frozen]
        method = "freeze" if frozen else "unfreeze"
        code = "ok" if keys else f"nothing_to_{method}"
        res = self.m.call("regulator", method, {"project_id": pid, "first": first,
                                                "last": first + span, "reason": "probe"})
        if self._expect(res, code):
            for k in keys:
                self.units[k][2] = frozen

    @rule(pid=st.sampled_from(sorted(PROJECTS)), first=st.integers(1, 80), span=st.integers(0, 6))
    def invalidate(self, pid: str, first: int, span: int) -> None:
        keys = self._in_range(pid, first, first + span, pool=False)  # pool units never
        code = "ok" if keys else "nothing_to_invalidate"
        res = self.m.call("regulator", "invalidate", {"project_id": pid, "first": first,
                                                      "last": first + span, "reason": "fraud"})
        if self._expect(res, code):
            gone = set(keys)
            for k in keys:
                self.units[k][1:] = ["cancelled", False]
            for lst in self.listings.values():
                if lst["status"] == "open" and gone & set(lst["units"]):
                    lst["units"] = [k for k in lst["units"] if k not in gone]
                    if not lst["units"]:
                        lst["status"] = "closed"

    # -- after every step --------------------------------------------------------------------
    @invariant()
    def ledger_matches_model(self) -> None:
        state = self.m.h.state
        check_invariants(state)
        seen = 0
        for key, raw in state.iter_prefix(UNIT_PREFIX):
            r = decode(raw)
            for n in range(r["first"], r["last"] + 1):
                assert self.units[(r["project_id"], n)] == [r["account"], r["state"], r["frozen"]], (
                    r["project_id"], n, r)
            seen += r["last"] - r["first"] + 1
            if r["state"] == "retired":
                if key in self.retired_records:
                    assert self.retired_records[key] == raw, f"retired range {key} changed"
                self.retired_records[key] = raw
        assert seen == len(self.units)
        for key in self.retired_records:
            assert state.get(key) == self.retired_records[key], f"retired range {key} changed"
        for lid, lst in self.listings.items():
            rec = self.m.get(f"listing/{lid}")
            assert rec["status"] == lst["status"] and rec["remaining"] == len(lst["units"])
        for buyer in BUYERS:
            assert self.m.get(f"obligation/{buyer}/2025")["retired"] == self.retired_for[buyer]
        for pid, outstanding in self.compensation.items():
            comp = self.m.get(f"compensation/{pid}")
            assert (0 if comp is None else comp["outstanding"]) == outstanding

    def teardown(self) -> None:
        if not hasattr(self, "m"):
            return
        fresh = Harness(params=PARAMS)
        for txs, results in self.m.h.blocks:
            assert fresh.run_block(txs) == results
        assert fresh.state_root == self.m.h.state_root
        assert fresh.state.items() == self.m.h.state.items()


UnitLedgerMachine.TestCase.settings = settings(
    max_examples=MAX_EXAMPLES,
    stateful_step_count=STEPS,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TestUnitLedger = UnitLedgerMachine.TestCase
