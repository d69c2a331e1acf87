"""Stateful property test of stock accounting (Hypothesis RuleBasedStateMachine).

Random sequences of monitoring reports whose plots grow, burn, regrow and grow past their
old peak, verifications of part or all of the computed quantity, issuances (now or later),
regulators' loss events, the regulator's plot exclusions (the plot's credited stock above
its baseline stock S0 is reversed at once, S := min(S, S0), H kept; later reports may omit
the plot or include it again, which re-admits it), off-exchange transfers (priced or not)
from the owner to a buyer and retirements by both run as signed transactions through the
real "carbon" contract. A small model predicts every computed quantity (growth above the
high-water mark only), every reversal (a fall net of loss events since the last period),
the one shared buffer pool and each project's compensation obligation. After EVERY step:

* for each project: issued - reversed <= creditable growth above the baseline after
  deductions (the PDD's pro-rata baseline and a 5 % uncertainty deduction applied to
  each period's growth above the high-water marks), and issued <= the plots' marks above
  their validated baseline stocks (plot B1 starts from a validated 100 m3);
* the buffer pool never goes negative and holds exactly what the model says;
* no tonne of growth is credited twice: for each plot the credited growth of its history
  sums to its high-water mark, and each period credits only max(0, E - H);
* conservation per batch and the unit ledger's integrity rules (``check_invariants``);
* retired units never move: every range once retired keeps its exact bytes.

At teardown the same blocks replayed on a fresh Harness give the identical state root.
"""

from __future__ import annotations

import os
from fractions import Fraction

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from chaincode.calculator import STOCK_SCALE, species_params_from_table, stock_micro
from chaincode.params import DEFAULT_PARAMS
from chaincode.stock import period_baseline
from chaincode.units import BUFFER_ACCOUNT
from ledger.encoding import decode
from ledger.fixedpoint import ceil_int, floor_int
from tests.support.carbon_market import Market, check_invariants, h256, monitoring_period
from tests.support.harness import Harness

LONG = os.environ.get("FCL_HYPOTHESIS_PROFILE") == "long"

PROJECTS = {
    "AH-0001": ("owner-farm", [("A1", "chinese_fir"), ("A2", "masson_pine")], "low"),
    "AH-0002": ("coop", [("B1", "chinese_fir")], "high"),
}
#: The PDDs' baselines (t CO2e a year) and the regulator's uncertainty deduction: the
#: deductions apply to the growth above the high-water marks.
BASELINES = {"AH-0001": "0", "AH-0002": "12.5"}
#: Stand volumes (m3) recorded at validation: the plot's stock starts there (S = H = S0).
BASELINE_VOLUMES = {"A1": 0, "A2": 0, "B1": 100}
UNCERTAINTY = Fraction(5, 100)
VOLUMES = [0, 20, 50, 100, 150, 200, 250, 300, 400]
TABLE = DEFAULT_PARAMS["species_table"]
#: Genesis parameters: up to 15 periods per project are all verified by verifier-b, so the
#: independence limit on consecutive verifications is lifted explicitly (the limit itself is
#: tested in tests/chaincode/test_independence_exclusion.py).
PARAMS = {"uncertainty_deduction": "0.05", "max_consecutive_verifications": 0}


def stock_of(species: str, volume: int) -> int:
    return stock_micro(Fraction(volume), species_params_from_table(TABLE, species))


def rate(risk: str) -> Fraction:
    return Fraction(DEFAULT_PARAMS["buffer_rates"][risk])


class StockMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.m: Market
        self.periods = dict.fromkeys(PROJECTS, 0)
        self.volume: dict[str, int] = {}  # plot -> last verified volume (m3)
        self.stock: dict[str, int] = {}  # S, micro-tonnes
        self.high: dict[str, int] = {}  # H, micro-tonnes
        self.pending: dict[str, int] = {}  # tonnes of loss events since the last period
        self.excluded: set[str] = set()  # plots under the regulator's exclusion record
        self.base: dict[str, int] = {}  # S0, micro-tonnes
        self.charged = dict.fromkeys(PROJECTS, 0)
        self.compensation = dict.fromkeys(PROJECTS, 0)
        self.pool = 0  # units held by the buffer pool
        self.unissued: list[tuple[str, str, int]] = []  # (project, report, verified)
        # creditable growth above the baseline after deductions, summed over reports
        self.creditable = dict.fromkeys(PROJECTS, Fraction(0))
        self.n = 0
        self.retired: dict[str, bytes] = {}  # unit range key -> its bytes once retired

    @initialize()
    def setup(self) -> None:
        self.m = Market(params=PARAMS)
        for pid, (owner, plots, risk) in PROJECTS.items():
            baseline_stocks = [{"plot_id": p, "volume": str(BASELINE_VOLUMES[p])}
                               for p, _ in plots if BASELINE_VOLUMES[p]]
            self.m.project(pid, owner, plots, risk=risk, baseline=BASELINES[pid],
                           baseline_stocks=baseline_stocks)
            for plot, species in plots:
                self.volume[plot] = BASELINE_VOLUMES[plot]
                self.base[plot] = self.stock[plot] = self.high[plot] = stock_of(
                    species, BASELINE_VOLUMES[plot])
                self.pending[plot] = 0

    # -- rules --------------------------------------------------------------------------------
    def _cancel(self, pid: str, qty: int) -> None:
        covered = min(qty, self.pool)
        self.pool -= covered
        self.compensation[pid] += qty - covered
        self.charged[pid] += qty

    @precondition(lambda self: min(self.periods.values()) < 15)
    @rule(pid=st.sampled_from(sorted(PROJECTS)), data=st.data(),
          share=st.sampled_from([Fraction(1), Fraction(1, 2), Fraction(0)]),
          issue_now=st.booleans())
    def report(self, pid: str, data: st.DataObject, share: Fraction, issue_now: bool) -> None:
        if self.periods[pid] >= 15:
            return
        owner, plots, _risk = PROJECTS[pid]
        start, end, visit = monitoring_period(self.periods[pid])
        self.periods[pid] += 1
        # an excluded plot is left out, or reported again (which re-admits it)
        plots = [(p, sp) for p, sp in plots
                 if p not in self.excluded or data.draw(st.booleans(), label=f"readmit {p}")]
        plots = plots or PROJECTS[pid][1][:1]  # a report measures at least one plot
        new = {plot: data.draw(st.sampled_from(VOLUMES), label=plot) for plot, _ in plots}
        growth = sum(max(0, stock_of(sp, new[p]) - self.high[p]) for p, sp in plots)
        er = Fraction(growth, STOCK_SCALE) - period_baseline(BASELINES[pid], start, end)
        creditable = max(Fraction(0), er) * (1 - UNCERTAINTY)
        issuable = floor_int(creditable)
        self.creditable[pid] += creditable
        self.n += 1
        rid = f"R{self.n}"
        measurements = [{"plot_id": p, "species": sp, "volume_end": str(new[p])}
                        for p, sp in plots]
        if self.n % 2:  # half the reports state the ledger's start figure, half omit it
            for m in measurements:
                m["volume_start"] = str(self.volume[m["plot_id"]])
        self.m.ok(owner, "submit_monitoring_report", {
            "report_id": rid, "project_id": pid, "period_start": start, "period_end": end,
            "measurements": measurements,
            "parameters": {"leakage": "0", "project_emissions": "0"},
            "claimed_issuable": issuable, "report_sha256": h256(rid)})
        verified = floor_int(issuable * share)
        self.m.ok("verifier-b", "attest_verification", {
            "attestation_id": f"V{self.n}", "report_id": rid, "report_sha256": h256(rid),
            "verified_quantity": verified, "site_visit_date": visit})
        fall = 0
        for p, sp in plots:
            end_stock = stock_of(sp, new[p])
            drop = ceil_int(Fraction(max(0, self.stock[p] - end_stock), STOCK_SCALE))
            fall += max(0, drop - self.pending[p])
            self.pending[p] = 0
            self.stock[p] = end_stock
            self.high[p] = max(self.high[p], end_stock)
            self.volume[p] = new[p]
            self.excluded.discard(p)
        if fall:
            self._cancel(pid, fall)
        if verified > 0:
            self.unissued.append((pid, rid, verified))
            if issue_now:
                self._issue(len(self.unissued) - 1)

    def _issue(self, index: int) -> None:
        pid, rid, verified = self.unissued.pop(index)
        to_buffer = ceil_int(verified * rate(PROJECTS[pid][2]))
        repay = min(self.compensation[pid], verified - to_buffer)
        self.compensation[pid] -= repay
        self.pool += to_buffer + repay
        self.m.ok("regulator", "issue", {"report_id": rid, "batch_id": f"B-{rid}"})
        batch = self.m.get(f"batch/B-{rid}")
        assert (batch["quantity"], batch["compensation_quantity"]) == (verified, repay)

    @precondition(lambda self: bool(self.unissued))
    @rule(data=st.data())
    def issue_later(self, data: st.DataObject) -> None:
        self._issue(data.draw(st.integers(0, len(self.unissued) - 1), label="which"))

    @rule(pid=st.sampled_from(sorted(PROJECTS)), which=st.integers(0, 1), qty=st.integers(1, 60))
    def loss_event(self, pid: str, which: int, qty: int) -> None:
        plots = PROJECTS[pid][1]
        plot = plots[which % len(plots)][0]
        out = self.m.ok("regulator", "record_loss_event", {
            "project_id": pid, "plot_id": plot, "quantity": qty, "cause": "fire",
            "evidence_sha256": h256(plot)})
        self.pending[plot] += qty
        before = self.compensation[pid]
        self._cancel(pid, qty)
        assert out["compensation"] == self.compensation[pid] - before

    @rule(pid=st.sampled_from(sorted(PROJECTS)), which=st.integers(0, 1))
    def exclude(self, pid: str, which: int) -> None:
        plots = PROJECTS[pid][1]
        plot = plots[which % len(plots)][0]
        args = {"project_id": pid, "plot_id": plot, "reason": "flooded, cannot be measured"}
        if plot in self.excluded:
            self.m.fails("already_excluded", "regulator", "exclude_plot", args)
            return
        out = self.m.ok("regulator", "exclude_plot", args)
        # like a verified fall to the baseline stock, net of loss events since the period
        fall = ceil_int(Fraction(max(0, self.stock[plot] - self.base[plot]), STOCK_SCALE))
        settled = max(0, fall - self.pending[plot])
        self.pending[plot] = 0
        if self.stock[plot] > self.base[plot]:
            self.stock[plot] = self.base[plot]
            self.volume[plot] = BASELINE_VOLUMES[plot]
        self.excluded.add(plot)
        before = self.compensation[pid]
        if settled:
            self._cancel(pid, settled)
        assert (out["reversed"], out["compensation"]) == (
            settled, self.compensation[pid] - before)

    @rule(qty=st.integers(1, 20))
    def retire(self, qty: int) -> None:
        held = self.m.count("owner-farm")
        res = self.m.call("owner-farm", "retire_voluntary",
                          {"quantity": qty, "beneficiary": "b", "reason": "r"})
        assert res["code"] == ("ok" if held >= qty else "insufficient_units"), res

    @rule(qty=st.integers(1, 30), priced=st.booleans())
    def transfer(self, qty: int, priced: bool) -> None:
        """An off-exchange sale (priced) or transfer of the owner's units to a buyer."""
        held = self.m.count("owner-farm")
        args: dict = {"from_org": "owner-farm", "to_org": "buyer-steel", "quantity": qty}
        if priced:
            args["price"] = "55.00"
        res = self.m.call(["owner-farm", "buyer-steel"], "transfer", args)
        assert res["code"] == ("ok" if held >= qty else "insufficient_units"), res

    @rule(qty=st.integers(1, 20))
    def buyer_retires(self, qty: int) -> None:
        held = self.m.count("buyer-steel")
        res = self.m.call("buyer-steel", "retire_voluntary",
                          {"quantity": qty, "beneficiary": "b", "reason": "r"})
        assert res["code"] == ("ok" if held >= qty else "insufficient_units"), res

    # -- after every step -----------------------------------------------------------------------
    @invariant()
    def retired_units_never_move(self) -> None:
        """Every unit range that was ever retired is still there, byte for byte (same
        units, same holder, same history): no later step moved, split or cancelled it."""
        state = self.m.h.state
        for key, raw in self.retired.items():
            assert state.get(key) == raw, key
        for key, raw in state.iter_prefix("unit/"):
            if key not in self.retired and decode(raw)["state"] == "retired":
                self.retired[key] = raw

    @invariant()
    def stock_rules_hold(self) -> None:
        state = self.m.h.state
        check_invariants(state)
        assert self.m.count(BUFFER_ACCOUNT) == self.pool >= 0
        batches = [decode(v) for _k, v in state.iter_prefix("batch/")]
        for pid, (_owner, plots, _risk) in PROJECTS.items():
            issued = sum(b["quantity"] for b in batches if b["project_id"] == pid)
            growth = sum(self.high[p] - self.base[p] for p, _ in plots)  # above S0
            assert issued * STOCK_SCALE <= growth  # issued alone never exceeds growth
            # issued - reversed <= creditable growth above the baseline after deductions
            assert issued - self.charged[pid] <= issued <= self.creditable[pid]
            acct = self.m.get(f"poolacct/{pid}")
            assert (0 if acct is None else acct["charged"]) == self.charged[pid]
            comp = self.m.get(f"compensation/{pid}")
            assert (0 if comp is None else comp["outstanding"]) == self.compensation[pid]
            for plot, _ in plots:
                rec = self.m.get(f"stock/{plot}") or {"stock": 0, "high_water": 0, "credited": 0,
                                                      "pending_loss": 0, "baseline_stock": 0}
                assert (rec["stock"], rec["high_water"], rec["pending_loss"]) == (
                    self.stock[plot], self.high[plot], self.pending[plot])
                assert (rec.get("excluded") is not None) == (plot in self.excluded)
                hist = [decode(v) for _k, v in state.iter_prefix(f"stockhist/{plot}/")]
                mark = self.base[plot]
                assert rec["baseline_stock"] == mark
                for h in hist:  # each period credits only growth above the mark before it
                    assert h["credited"] == max(0, h["end"] - mark)
                    mark = max(mark, h["end"])
                    assert h["high_water"] == mark
                assert sum(h["credited"] for h in hist) == rec["credited"] == (
                    self.high[plot] - self.base[plot])

    def teardown(self) -> None:
        if not hasattr(self, "m"):
            return
        fresh = Harness(params=PARAMS)
        for txs, results in self.m.h.blocks:
            assert fresh.run_block(txs) == results
        assert fresh.state_root == self.m.h.state_root


StockMachine.TestCase.settings = settings(
    max_examples=200 if LONG else 40,
    stateful_step_count=50 if LONG else 30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TestStockAccounting = StockMachine.TestCase
