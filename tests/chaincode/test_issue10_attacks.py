"""Issue 10 (carbon integrity), an attacker's review: every exploit the issue lists, and
variants of each, replayed through the real transaction path (signed transactions executed
by the real Executor, ``tests/support``). Each refusal is asserted with its stable code,
with a message that names the figure and the rule, and (``Harness.fails``) with the whole
state unchanged. Where an exploit must not be refused but must not pay either, the test
asserts what the ledger credits.

The harness's blocks are dated 2023-11-15 (China Standard Time).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chaincode import queries
from chaincode.calc_service import calculate, read_parameters
from chaincode.framework import ChaincodeError
from chaincode.units import BUFFER_ACCOUNT
from ledger.encoding import decode
from ledger.fixedpoint import format_decimal, parse_decimal
from tests.support.carbon_market import Market
from tests.support.carbon_registry import Flow, area_ha, small_ring

BLOCK_DATE = "2023-11-15"
STOCK_120 = 143_009_368  # micro-tonnes CO2e of 120 m3 of Chinese fir
STOCK_200 = 238_348_948
STOCK_50 = 59_587_237


def _year(y: int) -> dict[str, str]:
    return {"start": f"{y}-01-01", "end": f"{y}-12-31"}


def _report(f: Flow, rid: str, rows: list[tuple[str, str, str]], claimed: int, y: int,
            project_id: str = "AH-0001", **over: Any) -> dict:
    return f.report_args(rid, project_id, rows, claimed, **_year(y), **over)


def _count(f: Flow | Market, account: str, state: str, project_id: str | None = None) -> int:
    prefix = f"holding/{account}/{state}/" + (f"{project_id}/" if project_id else "")
    total = 0
    for key, raw in f.h.state.iter_prefix(prefix):
        total += decode(raw)["last"] - int(key.rsplit("/", 1)[1]) + 1
    return total


def _issued(f: Flow, project_id: str) -> int:
    return sum(b["quantity"] for b in (f.get(k) for k, _ in f.h.state.iter_prefix("batch/"))
               if b["project_id"] == project_id)


def _two_plots(f: Flow) -> None:
    f.registered_project(plots=[("P1", small_ring(0)), ("P2", small_ring(1))])


# -- bullet 1: a second period restarting at 0 -----------------------------------------------
def test_restart_at_zero_on_the_second_plot_is_refused() -> None:
    f = Flow()
    _two_plots(f)
    f.verified_report("R1", measurements=[("P1", "0", "120"), ("P2", "0", "120")], claimed=286,
                      **_year(2018))
    f.ok("regulator", "issue", {"report_id": "R1", "batch_id": "B1"})
    res = f.fails("start_stock_mismatch", "owner-farm", "submit_monitoring_report",
                  _report(f, "R2", [("P1", "120", "120"), ("P2", "0", "120")], 143, 2019))
    assert "143.009368 t CO2e (120 m3) for plot P2" in res["message"]
    assert "the report's start of 0 t CO2e (0 m3) is not accepted" in res["message"]


def test_restart_through_withdraw_and_resubmit_still_starts_from_the_ledger() -> None:
    f = Flow()
    f.registered_project()
    f.verified_report("R1", measurements=[("P1", "0", "120")], claimed=143, **_year(2018))
    f.ok("regulator", "issue", {"report_id": "R1", "batch_id": "B1"})
    f.ok("owner-farm", "submit_monitoring_report", _report(f, "R2", [("P1", "120", "120")], 0, 2019))
    f.ok("owner-farm", "withdraw_report", {"report_id": "R2"})
    f.fails("start_stock_mismatch", "owner-farm", "submit_monitoring_report",
            _report(f, "R3", [("P1", "0", "120")], 143, 2019))
    assert f.get("stock/P1")["stock"] == STOCK_120


def test_the_same_period_cannot_be_reported_twice_for_a_plot() -> None:
    f = Flow()
    f.registered_project()
    f.verified_report("R1", measurements=[("P1", "0", "120")], claimed=143, **_year(2018))
    res = f.fails("period_out_of_order", "owner-farm", "submit_monitoring_report",
                  _report(f, "R2", [("P1", "120", "240")], 143, 2018))
    assert "2018-12-31" in res["message"] and "P1" in res["message"]


def test_issuing_twice_for_one_report_is_refused() -> None:
    f = Flow()
    f.registered_project()
    f.verified_report("R1", measurements=[("P1", "0", "120")], claimed=143, **_year(2018))
    f.ok("regulator", "issue", {"report_id": "R1", "batch_id": "B1"})
    res = f.fails("already_issued", "regulator", "issue", {"report_id": "R1", "batch_id": "B2"})
    assert "B1" in res["message"]
    assert _issued(f, "AH-0001") == 143


#: Plot P1 (small_ring(0)) in two strata of Chinese fir: S1 0.5 ha, S2 the rest.
STRATA = [
    {"stratum_id": "S1", "species": "chinese_fir", "age_class": "I", "area_ha": "0.5"},
    {"stratum_id": "S2", "species": "chinese_fir", "age_class": "II",
     "area_ha": format_decimal(parse_decimal(format_decimal(area_ha(small_ring(0)), 4),
                                             field="a") - Fraction(1, 2))},
]


def _stratified(strata: list[dict[str, Any]]) -> Flow:
    f = Flow()
    f.ok("owner-farm", "register_plot", f.plot_args("P1", small_ring(0), strata=strata))
    f.ok("owner-farm", "submit_project", f.project_args("AH-0001", ["P1"]))
    f.ok("verifier-a", "attest_validation", f.validation_args("VAL", "AH-0001"))
    f.ok("regulator", "register_project", {"project_id": "AH-0001"})
    return f


def test_restart_at_zero_of_a_sampled_plot_is_refused() -> None:
    f = _stratified(STRATA)
    sampled = {"plot_id": "P1", "species": "chinese_fir", "strata": [
        {"stratum_id": "S1", "sample_plot_area_ha": "0.01", "samples": ["1", "1", "1"]},
        {"stratum_id": "S2", "sample_plot_area_ha": "0.01", "samples": ["1", "1", "1"]}]}
    first = f.report_args("R1", "AH-0001", [], 0, **_year(2018))
    first["measurements"] = [sampled]
    res = f.h.call("owner-farm", "carbon", "submit_monitoring_report", first)
    claimed = int(res["message"].split("computes ")[1].split(" ")[0])
    f.ok("owner-farm", "submit_monitoring_report", dict(first, claimed_issuable=claimed))
    f.ok("verifier-b", "attest_verification", f.verification_args("V1", "R1", claimed))
    volume = f.get("stock/P1")["volume"]
    second = f.report_args("R2", "AH-0001", [], claimed, **_year(2019))
    second["measurements"] = [dict(sampled, volume_start="0")]
    res = f.fails("start_stock_mismatch", "owner-farm", "submit_monitoring_report", second)
    assert f"({volume} m3) for plot P1" in res["message"]
    # nor can one stratum state its own start: the ledger keeps each stratum's volume
    restart = dict(sampled, strata=[dict(sampled["strata"][0], volume_start="0"),
                                    sampled["strata"][1]])
    second["measurements"] = [restart]
    res = f.fails("invalid_args", "owner-farm", "submit_monitoring_report", second)
    assert "volume_start" in res["message"]
    # without the start figure, the same samples from the ledger's start earn nothing
    second["measurements"] = [sampled]
    f.fails("claim_mismatch", "owner-farm", "submit_monitoring_report", second)
    f.ok("owner-farm", "submit_monitoring_report", dict(second, claimed_issuable=0))


def test_a_fall_on_one_plot_is_reversed_and_not_netted_against_growth_on_another() -> None:
    f = Flow()
    _two_plots(f)
    f.verified_report("R1", measurements=[("P1", "0", "120"), ("P2", "0", "120")], claimed=286,
                      **_year(2018))
    f.ok("regulator", "issue", {"report_id": "R1", "batch_id": "B1"})
    # P1 grows above its mark (95.33958 t), P2 burns (143.009368 t -> 144 t reversed)
    f.verified_report("R2", measurements=[("P1", "120", "200"), ("P2", "120", "0")],
                      claimed=95, **_year(2019))
    rev = f.get("reversal/R2")
    assert rev["plots"] == [{"fall": 144, "loss_events": 0, "loss_overestimate": 0,
                             "plot_id": "P2", "reversed": 144}]
    f.ok("regulator", "issue", {"report_id": "R2", "batch_id": "B2"})
    assert _issued(f, "AH-0001") == 286 + 95
    # issued - reversed <= the stock standing above the baselines (200 m3 + 0 m3)
    assert _issued(f, "AH-0001") - rev["quantity"] <= STOCK_200 // 10**6


def test_negative_leakage_or_deduction_cannot_inflate_a_claim() -> None:
    f = Flow()
    f.registered_project()
    for field, value in (("leakage", "-100"), ("project_emissions", "-1"),
                         ("uncertainty_deduction", "-0.1")):
        params = {"baseline": "0", "leakage": "0", "project_emissions": "0", field: value}
        res = f.fails("invalid_args", "owner-farm", "submit_monitoring_report",
                      _report(f, "R1", [("P1", "0", "120")], 243, 2018, parameters=params))
        assert "must not be negative" in res["message"] and value in res["message"]
    assert f.get("report/R1") is None


def test_a_plot_cannot_join_a_second_project_to_restart_its_stock() -> None:
    f = Flow()
    f.registered_project()
    res = f.fails("plot_in_project", "owner-farm", "submit_project",
                  f.project_args("AH-0002", ["P1"]))
    assert "P1" in res["message"] and "AH-0001" in res["message"]


def test_an_overlapping_plot_cannot_be_registered_to_restart_its_stock() -> None:
    f = Flow()
    f.registered_project()
    res = f.fails("plot_overlap", "owner-farm", "register_plot",
                  f.plot_args("P1-again", small_ring(0)))
    assert "P1" in res["message"]


def test_an_excluded_plot_readmitted_at_zero_earns_nothing_below_its_peak() -> None:
    """Exclusion reverses the credited stock (S := S0, H kept): reporting the plot again
    from 0 is accepted (the ledger's own start), but regrowth below H earns nothing."""
    f = Flow()
    f.registered_project()
    f.verified_report("R1", measurements=[("P1", "0", "120")], claimed=143, **_year(2018))
    f.ok("regulator", "issue", {"report_id": "R1", "batch_id": "B1"})
    f.ok("regulator", "exclude_plot", {"project_id": "AH-0001", "plot_id": "P1",
                                       "reason": "burned", "evidence_sha256": "cd" * 32})
    assert f.get("stock/P1")["stock"] == 0 and f.get("stock/P1")["high_water"] == STOCK_120
    f.fails("claim_mismatch", "owner-farm", "submit_monitoring_report",
            _report(f, "R2", [("P1", "0", "120")], 143, 2019))
    f.verified_report("R2", measurements=[("P1", "0", "120")], claimed=0, **_year(2019))
    assert _issued(f, "AH-0001") == 143


# -- bullet 2: a loss, regrowth ----------------------------------------------------------------
def test_loss_on_one_project_is_covered_by_the_shared_pool_of_another() -> None:
    f = Flow()
    f.registered_project()
    f.registered_project("OTHER", plots=[("Q1", small_ring(3))])
    f.verified_report("RQ", project_id="OTHER", measurements=[("Q1", "0", "200")], claimed=238,
                      **_year(2018))
    f.ok("regulator", "issue", {"report_id": "RQ", "batch_id": "BQ"})  # 24 t to the pool
    f.verified_report("R1", measurements=[("P1", "0", "50")], claimed=59, **_year(2018))
    f.ok("regulator", "issue", {"report_id": "R1", "batch_id": "B1"})  # 6 t to the pool
    f.verified_report("R2", measurements=[("P1", "50", "0")], claimed=0, **_year(2019))
    rev = f.get("reversal/R2")
    # 59.587237 t fell -> 60 t: AH-0001's own 6 pool units first, then 24 of OTHER's
    assert (rev["quantity"], rev["cancelled"], rev["shortfall"]) == (60, 30, 30)
    assert _count(f, BUFFER_ACCOUNT, "cancelled", "OTHER") == 24
    assert f.get("compensation/AH-0001")["outstanding"] == 30
    assert f.get("compensation/OTHER") is None


def test_a_loss_event_is_not_undone_by_reporting_the_stand_untouched() -> None:
    f = Flow()
    f.registered_project()
    f.verified_report("R1", measurements=[("P1", "0", "200")], claimed=238, **_year(2018))
    f.ok("regulator", "issue", {"report_id": "R1", "batch_id": "B1"})
    f.ok("regulator", "record_loss_event", {
        "project_id": "AH-0001", "plot_id": "P1", "quantity": 179, "cause": "fire",
        "evidence_sha256": "ab" * 32})
    # the owner reports the burned stand as if untouched: 200 -> 200, nothing to credit,
    # and the loss event is not undone (cancelled pool units are terminal)
    f.verified_report("R2", measurements=[("P1", "200", "200")], claimed=0, **_year(2019))
    hist = queries.plot_stock(f.h.state, "P1")["history"]
    assert hist[-1]["loss_overestimate"] == 179
    assert _count(f, BUFFER_ACCOUNT, "cancelled") == 24
    assert f.get("compensation/AH-0001")["outstanding"] == 179 - 24


def test_an_issuance_split_across_two_batches_is_refused() -> None:
    f = Flow()
    f.registered_project()
    f.verified_report("R1", measurements=[("P1", "0", "200")], claimed=238, verified=100,
                      **_year(2018))
    f.ok("regulator", "issue", {"report_id": "R1", "batch_id": "B1"})
    f.fails("already_issued", "regulator", "issue", {"report_id": "R1", "batch_id": "B1b"})
    assert _issued(f, "AH-0001") == 100


def test_verified_more_than_computed_is_refused() -> None:
    f = Flow()
    f.registered_project()
    f.ok("owner-farm", "submit_monitoring_report", _report(f, "R1", [("P1", "0", "120")], 143, 2018))
    res = f.fails("verified_exceeds_computed", "verifier-b", "attest_verification",
                  f.verification_args("V1", "R1", 144))
    assert "144" in res["message"] and "143" in res["message"]


# -- bullet 3: the baseline --------------------------------------------------------------------
def test_a_report_cannot_state_a_lower_baseline_than_the_pdd() -> None:
    f = Flow()
    f.registered_project(baseline="36.5")
    args = _report(f, "R1", [("P1", "0", "120")], 143, 2018,
                   parameters={"baseline": "0.000001", "leakage": "0", "project_emissions": "0"})
    res = f.fails("baseline_mismatch", "owner-farm", "submit_monitoring_report", args)
    assert "36.5 t CO2e a year" in res["message"] and "0.000001" in res["message"]


def test_a_revised_pdd_voids_the_validation_and_its_baseline() -> None:
    f = Flow()
    f.ok("owner-farm", "register_plot", f.plot_args("P1", small_ring(0)))
    f.ok("owner-farm", "submit_project", f.project_args("AH-0001", ["P1"], baseline="36.5"))
    f.ok("verifier-a", "attest_validation", f.validation_args("VAL", "AH-0001"))
    f.ok("owner-farm", "revise_pdd", {"project_id": "AH-0001", "pdd_sha256": "ee" * 32})
    f.fails("not_validated", "regulator", "register_project", {"project_id": "AH-0001"})


def _baseline_project(f: Flow) -> None:
    """AH-0001 (start 2018-01-01) with a PDD baseline of 36.5 t CO2e a year (0.1 t a day)."""
    f.registered_project(baseline="36.5")


#: A report's parameters without a stated baseline: the ledger's figure applies.
LEDGER_BASELINE = {"leakage": "0", "project_emissions": "0"}


def test_a_gap_between_periods_does_not_escape_the_baseline() -> None:
    """Review finding: the baseline was deducted over the period's own days only, so a
    report after a gap (2018-02-01..2021-12-31 unreported) was credited the stock growth
    of the gap with no baseline for it. The stock change runs from the ledger's S (the
    last verified period's end), so the baseline now runs from the day after it."""
    f = Flow()
    _baseline_project(f)
    f.verified_report("R1", measurements=[("P1", "0", "120")], claimed=139,
                      start="2018-01-01", end="2018-01-31",
                      parameters=LEDGER_BASELINE)  # 143.009368 - 3.1 t
    rows = [("P1", "120", "400")]
    # 2018-02-01..2022-12-31 = 1795 days -> 179.5 t, not the 36.5 t of 2022 alone:
    # growth 333.688528 t - 179.5 t = 154.188528 -> 154
    res = f.fails("claim_mismatch", "owner-farm", "submit_monitoring_report",
                  _report(f, "R2", rows, 297, 2022, parameters=LEDGER_BASELINE))
    assert "computes 154 issuable" in res["message"]
    stated = {"baseline": "36.5", "leakage": "0", "project_emissions": "0"}
    res = f.fails("baseline_mismatch", "owner-farm", "submit_monitoring_report",
                  _report(f, "R2", rows, 297, 2022, parameters=stated))
    assert "gives 179.5 t CO2e for period 2022-01-01..2022-12-31 (from 2018-02-01" in \
        res["message"]
    f.ok("owner-farm", "submit_monitoring_report", _report(f, "R2", rows, 154, 2022,
                                                                 parameters=LEDGER_BASELINE))
    report = f.get("report/R2")
    assert report["baseline_from"] == "2018-02-01"
    assert report["parameters"]["baseline"] == "179.5"


def test_a_first_period_after_the_project_start_carries_the_baseline_since_the_start() -> None:
    f = Flow()
    _baseline_project(f)
    # 2018-01-01..2019-12-31: 730 days -> 73 t; 143.009368 - 73 -> 70
    res = f.fails("claim_mismatch", "owner-farm", "submit_monitoring_report",
                  _report(f, "R1", [("P1", "0", "120")], 106, 2019,
                          parameters=LEDGER_BASELINE))
    assert "computes 70 issuable" in res["message"]
    f.ok("owner-farm", "submit_monitoring_report", _report(f, "R1", [("P1", "0", "120")], 70, 2019,
                                                              parameters=LEDGER_BASELINE))
    assert f.get("report/R1")["baseline_from"] == "2018-01-01"


def test_contiguous_periods_keep_their_baseline_and_record_bytes() -> None:
    f = Flow()
    _baseline_project(f)
    f.verified_report("R1", measurements=[("P1", "0", "120")], claimed=106, **_year(2018),
                      parameters=LEDGER_BASELINE)
    f.ok("owner-farm", "submit_monitoring_report",
         _report(f, "R2", [("P1", "120", "200")], 58, 2019, parameters=LEDGER_BASELINE))  # 95.33958 - 36.5
    assert "baseline_from" not in f.get("report/R2")
    assert f.get("report/R2")["parameters"]["baseline"] == "36.5"


def test_the_calculation_service_takes_the_baseline_start() -> None:
    """The free calculation service gives the contract's figure when told the ledger's
    baseline start, and refuses a start after the period's."""
    f = Flow()
    body = {"plots": [{"plot_id": "P1", "species": "chinese_fir", "area_ha": "1.05",
                       "volume_start": "120", "volume_end": "400"}],
            "period_start": "2022-01-01", "period_end": "2022-12-31",
            "baseline_t_per_year": "36.5", "uncertainty_deduction": "0", "risk_rating": "low"}
    params = read_parameters(f.h.state)
    assert calculate(body, params, height=0)["issuable"] == 297
    out = calculate(dict(body, baseline_from="2018-02-01"), params, height=0)
    assert (out["issuable"], out["baseline"]) == (154, "179.5")
    assert out["period"]["baseline_from"] == "2018-02-01"
    try:
        calculate(dict(body, baseline_from="2022-01-02"), params, height=0)
    except ChaincodeError as exc:
        assert exc.code == "invalid_period" and "2022-01-02" in exc.message
    else:
        raise AssertionError("a baseline start after the period's start was accepted")


# -- bullet 4: dates against block time ----------------------------------------------------
def test_a_future_period_is_refused() -> None:
    f = Flow()
    f.registered_project()
    res = f.fails("period_in_future", "owner-farm", "submit_monitoring_report",
                  f.report_args("R1", "AH-0001", [("P1", "0", "120")], 143,
                                start="2030-01-01", end="2040-12-31"))
    assert "2040-12-31" in res["message"] and BLOCK_DATE in res["message"]


def test_a_period_ending_on_the_block_date_is_accepted_one_day_later_is_not() -> None:
    f = Flow()
    f.registered_project()
    f.fails("period_in_future", "owner-farm", "submit_monitoring_report",
            f.report_args("R1", "AH-0001", [("P1", "0", "120")], 143,
                          start="2018-01-01", end="2023-11-16"))
    f.ok("owner-farm", "submit_monitoring_report",
         f.report_args("R1", "AH-0001", [("P1", "0", "120")], 143,
                       start="2018-01-01", end=BLOCK_DATE))
    # the site visit: no earlier than the period's end, no later than the block's date
    f.fails("site_visit_out_of_range", "verifier-b", "attest_verification",
            f.verification_args("V1", "R1", 143, site_visit_date="2023-11-14"))
    f.fails("site_visit_out_of_range", "verifier-b", "attest_verification",
            f.verification_args("V1", "R1", 143, site_visit_date="2023-11-16"))
    f.ok("verifier-b", "attest_verification",
         f.verification_args("V1", "R1", 143, site_visit_date=BLOCK_DATE))


def test_a_site_visit_after_the_block_date_is_refused() -> None:
    f = Flow()
    f.registered_project()
    f.ok("owner-farm", "submit_monitoring_report", _report(f, "R1", [("P1", "0", "120")], 143, 2018))
    res = f.fails("site_visit_out_of_range", "verifier-b", "attest_verification",
                  f.verification_args("V1", "R1", 143, site_visit_date="2041-03-01"))
    assert "2041-03-01" in res["message"] and BLOCK_DATE in res["message"]
    f.fails("site_visit_out_of_range", "verifier-b", "attest_verification",
            f.verification_args("V1", "R1", 143, site_visit_date="2018-12-30"))
    f.fails("not_verified", "regulator", "issue", {"report_id": "R1", "batch_id": "B1"})


def test_a_validation_site_visit_after_the_block_date_is_refused() -> None:
    f = Flow()
    f.ok("owner-farm", "register_plot", f.plot_args("P1", small_ring(0)))
    f.ok("owner-farm", "submit_project", f.project_args("AH-0001", ["P1"]))
    res = f.fails("site_visit_out_of_range", "verifier-a", "attest_validation",
                  f.validation_args("VAL", "AH-0001", site_visit_date="2041-01-01"))
    assert "2041-01-01" in res["message"] and BLOCK_DATE in res["message"]
    f.ok("verifier-a", "attest_validation",
         f.validation_args("VAL", "AH-0001", site_visit_date=BLOCK_DATE))


def test_a_plot_planted_after_the_block_date_is_refused() -> None:
    f = Flow()
    res = f.fails("planting_in_future", "owner-farm", "register_plot",
                  f.plot_args("P1", small_ring(0), planting_date="2030-04-01"))
    assert "2030-04-01" in res["message"] and BLOCK_DATE in res["message"]
    f.ok("owner-farm", "register_plot",
         f.plot_args("P1", small_ring(0), planting_date=BLOCK_DATE))


def test_a_period_straddling_the_planting_date_is_refused() -> None:
    f = Flow()
    f.ok("owner-farm", "register_plot", f.plot_args("P1", small_ring(0), planting_date="2019-04-01"))
    f.ok("owner-farm", "register_plot", f.plot_args("P2", small_ring(1)))
    f.ok("owner-farm", "submit_project", f.project_args("AH-0001", ["P1", "P2"]))
    f.ok("verifier-a", "attest_validation", f.validation_args("VAL", "AH-0001"))
    f.ok("regulator", "register_project", {"project_id": "AH-0001"})
    res = f.fails("before_planting", "owner-farm", "submit_monitoring_report", f.report_args(
        "R1", "AH-0001", [("P2", "0", "10"), ("P1", "0", "10")], 23,
        start="2019-03-31", end="2019-12-31"))
    assert "plot P1 was planted (2019-04-01)" in res["message"]


def test_a_period_before_the_project_start_is_refused() -> None:
    f = Flow()
    f.registered_project(start_date="2019-01-01")
    res = f.fails("outside_crediting_period", "owner-farm", "submit_monitoring_report",
                  _report(f, "R1", [("P1", "0", "120")], 143, 2018))
    assert "2019-01-01" in res["message"]


# -- bullet 5: every plot ------------------------------------------------------------------------
def test_a_burned_plot_left_out_is_refused_even_after_a_loss_event() -> None:
    f = Flow()
    _two_plots(f)
    f.verified_report("R1", measurements=[("P1", "0", "120"), ("P2", "0", "120")], claimed=286,
                      **_year(2018))
    f.ok("regulator", "issue", {"report_id": "R1", "batch_id": "B1"})
    f.ok("regulator", "record_loss_event", {
        "project_id": "AH-0001", "plot_id": "P2", "quantity": 100, "cause": "fire",
        "evidence_sha256": "ab" * 32})
    res = f.fails("missing_plots", "owner-farm", "submit_monitoring_report",
                  _report(f, "R2", [("P1", "120", "200")], 95, 2019))
    assert res["message"].endswith("missing: P2")
    # with the regulator's exclusion record (which reverses P2's stock) it may be left out
    f.ok("regulator", "exclude_plot", {"project_id": "AH-0001", "plot_id": "P2",
                                       "reason": "burned", "evidence_sha256": "cd" * 32})
    f.ok("owner-farm", "submit_monitoring_report", _report(f, "R2", [("P1", "120", "200")], 95, 2019))
    # 143.009368 t of credited stock (rounded up: 144 t), net of the loss event's 100 t
    assert f.get("stock/P2")["excluded"]["reversed"] == 144 - 100


def test_a_plot_of_another_project_cannot_stand_in() -> None:
    f = Flow()
    _two_plots(f)
    f.registered_project("OTHER", plots=[("Q1", small_ring(3))])
    res = f.fails("plot_not_in_project", "owner-farm", "submit_monitoring_report",
                  _report(f, "R1", [("P1", "0", "10"), ("Q1", "0", "10")], 23, 2018))
    assert "Q1" in res["message"]


# -- bullet 6: plausibility ------------------------------------------------------------------------
def test_an_impossible_volume_on_the_second_plot_is_refused() -> None:
    f = Flow()
    _two_plots(f)
    res = f.fails("implausible_volume", "owner-farm", "submit_monitoring_report",
                  _report(f, "R1", [("P1", "0", "10"), ("P2", "0", "100000")], 0, 2018))
    assert "plot P2" in res["message"] and "700 m3/ha" in res["message"]


# -- bullet 7: the buffer pool's account ----------------------------------------------------------
def _pool_market() -> Market:
    m = Market()
    m.project("AH-0001", "owner-farm", [("F1", "chinese_fir")], risk="low")
    m.issue("AH-0001", "B1")
    return m


def test_pool_units_cannot_be_transferred_by_anyone() -> None:
    m = _pool_market()
    pool = _count(m, BUFFER_ACCOUNT, "held")
    assert pool > 0
    for signers in (["regulator", "buyer-steel"], ["owner-farm", "buyer-steel"]):
        res = m.fails("reserved_account", signers, "transfer", {
            "from_org": BUFFER_ACCOUNT, "to_org": "buyer-steel", "quantity": 1})
        assert BUFFER_ACCOUNT in res["message"]
    m.fails("reserved_account", ["owner-farm"], "transfer", {
        "from_org": "owner-farm", "to_org": BUFFER_ACCOUNT, "quantity": 1})
    assert _count(m, BUFFER_ACCOUNT, "held") == pool


def test_pool_units_cannot_be_listed_or_retired_by_a_holder() -> None:
    m = _pool_market()
    pool = _count(m, BUFFER_ACCOUNT, "held")
    # a holder lists, retires, trades only its own organisation's units: the pool's
    # serial range names units the signer does not hold
    batch = m.get("batch/B1")
    first = batch["first"] + batch["owner_quantity"]
    serial = {"project_id": "AH-0001", "first": first, "last": batch["last"]}
    m.fails("units_not_available", "owner-farm", "create_listing", {
        "quantity": 1, "price": "10", "exchange_org": "exchange", **serial})
    m.fails("units_not_available", "owner-farm", "retire_voluntary", {
        "quantity": 1, "beneficiary": "x", "reason": "y", **serial})
    assert _count(m, BUFFER_ACCOUNT, "held") == pool


def test_the_pool_id_cannot_be_enrolled_by_the_regulator() -> None:
    m = _pool_market()
    res = m.h.fails("reserved_account", "regulator", "membership", "enrol_org", {
        "org_id": BUFFER_ACCOUNT, "name": "Pool", "roles": ["buyer"],
        "admins": [m.h.key("pool-admin").public_key_hex]})
    assert "buffer pool" in res["message"]


# -- bullet 8: the benefit split -------------------------------------------------------------------
def _sell(m: Market, seller: str, buyer: str, quantity: int, price: str) -> dict:
    lid = m.ok(seller, "create_listing", {"quantity": quantity, "price": price,
                                          "exchange_org": "exchange"})["listing_id"]
    return m.ok("exchange", "match_trade", {
        "listing_id": lid, "buyer_org": buyer, "quantity": quantity, "price": price,
        "settlement_ref": f"AHEX-{seller}-{buyer}"})


def test_units_the_owner_bought_back_are_a_resale_not_project_income() -> None:
    """The owner sells 10 t (primary: split), buys them back, and sells them again: the
    second sale is a resale of units already sold once; the farmers' income stays that
    of the one primary sale."""
    m = _pool_market()
    first = _sell(m, "owner-farm", "buyer-steel", 10, "80")
    assert first["proceeds"][0]["sale"] == "primary"
    m.ok(["buyer-steel", "owner-farm"], "transfer", {
        "from_org": "buyer-steel", "to_org": "owner-farm", "quantity": 10, "price": "81"})
    before = queries.benefit_shares(m.h.state, "AH-0001")
    assert before["farmers"] == "240.00" and before["primary_quantity"] == 10
    # the owner holds 17 never-sold units and the 10 bought back (first by unit number)
    out = m.ok(["owner-farm", "buyer-power"], "transfer", {
        "from_org": "owner-farm", "to_org": "buyer-power", "quantity": 12, "price": "90"})
    by_sale = {p["sale"]: p for p in out["proceeds"]}
    assert by_sale["resale"]["quantity"] == 10 and by_sale["resale"]["farmers"] is None
    assert by_sale["primary"]["quantity"] == 2 and by_sale["primary"]["farmers"] == "54.00"
    after = queries.benefit_shares(m.h.state, "AH-0001")
    assert after["primary_quantity"] == 12 and after["farmers"] == "294.00"
    assert after["resale_quantity"] == 10 + 10


def test_a_bought_back_listing_on_the_exchange_is_a_resale() -> None:
    m = _pool_market()
    _sell(m, "owner-farm", "buyer-steel", 5, "80")
    m.ok(["buyer-steel", "owner-farm"], "transfer",
         {"from_org": "buyer-steel", "to_org": "owner-farm", "quantity": 5})
    out = _sell(m, "owner-farm", "buyer-power", 5, "100")
    assert [p["sale"] for p in out["proceeds"]] == ["resale"]
    assert queries.benefit_shares(m.h.state, "AH-0001")["primary_quantity"] == 5


def test_subsidy_accrues_on_the_owner_share_and_is_paid_once() -> None:
    m = _pool_market()
    batch = m.get("batch/B1")
    out = m.ok("regulator", "accrue_subsidy", {"batch_id": "B1"})
    assert m.get("subsidy/B1")["tonnes"] == batch["owner_quantity"] < batch["quantity"]
    assert out["amount"] == m.get("subsidy/B1")["amount"]
    m.fails("already_accrued", "regulator", "accrue_subsidy", {"batch_id": "B1"})
    m.ok("regulator", "record_subsidy_paid", {"batch_id": "B1", "payment_ref": "PAY-1",
                                              "paid_date": BLOCK_DATE})
    assert m.get("subsidy/B1")["status"] == "paid"
    m.fails("already_paid", "regulator", "record_subsidy_paid", {
        "batch_id": "B1", "payment_ref": "PAY-2", "paid_date": BLOCK_DATE})


# -- bullet 9: independence -------------------------------------------------------------------------
def test_the_validator_cannot_verify_after_a_revalidation_by_another_body() -> None:
    """verifier-a validated the PDD; the owner revises it and verifier-b validates the
    revision: verifier-a still validated the project and may not verify its reports."""
    f = Flow(orgs={"verifier-c": (["verifier"], "CNCA-V-004")})
    f.ok("owner-farm", "register_plot", f.plot_args("P1", small_ring(0)))
    f.ok("owner-farm", "submit_project", f.project_args("AH-0001", ["P1"]))
    f.ok("verifier-a", "attest_validation", f.validation_args("VAL-1", "AH-0001"))
    f.ok("owner-farm", "revise_pdd", {"project_id": "AH-0001", "pdd_sha256": "ee" * 32})
    f.ok("verifier-c", "attest_validation",
         f.validation_args("VAL-2", "AH-0001", pdd_sha256="ee" * 32))
    f.ok("regulator", "register_project", {"project_id": "AH-0001"})
    f.ok("owner-farm", "submit_monitoring_report", _report(f, "R1", [("P1", "0", "120")], 143, 2018))
    res = f.fails("same_body_validated", "verifier-a", "attest_verification",
                  f.verification_args("V1", "R1", 143))
    assert "verifier-a" in res["message"] and "VAL-1" in res["message"]
    f.fails("same_body_validated", "verifier-c", "attest_verification",
            f.verification_args("V1", "R1", 143))
    f.ok("verifier-b", "attest_verification", f.verification_args("V1", "R1", 143))


def test_a_negative_validation_also_makes_the_body_the_validator() -> None:
    f = Flow()
    f.ok("owner-farm", "register_plot", f.plot_args("P1", small_ring(0)))
    f.ok("owner-farm", "submit_project", f.project_args("AH-0001", ["P1"]))
    f.ok("verifier-b", "attest_validation",
         f.validation_args("VAL-0", "AH-0001", positive=False))
    f.ok("verifier-a", "attest_validation", f.validation_args("VAL-1", "AH-0001"))
    f.ok("regulator", "register_project", {"project_id": "AH-0001"})
    f.ok("owner-farm", "submit_monitoring_report", _report(f, "R1", [("P1", "0", "120")], 143, 2018))
    res = f.fails("same_body_validated", "verifier-b", "attest_verification",
                  f.verification_args("V1", "R1", 143))
    assert "VAL-0" in res["message"]


def test_the_same_body_cannot_come_back_under_another_org_id() -> None:
    """A body is its accreditation number: a new organisation cannot take the number of
    the validating body (even after it was revoked), so it cannot verify as that body."""
    f = Flow()
    f.registered_project()
    enrol = {"org_id": "verifier-a-renamed", "name": "Verifier A (renamed)",
             "roles": ["verifier"], "accreditation": "CNCA-V-001",
             "admins": [f.h.key("verifier-a-renamed").public_key_hex]}
    res = f.h.fails("accreditation_in_use", "regulator", "membership", "enrol_org", enrol)
    assert "verifier-a" in res["message"]
    f.h.ok("regulator", "membership", "set_accreditation",
           {"org_id": "verifier-a", "action": "revoke"})
    f.h.fails("accreditation_in_use", "regulator", "membership", "enrol_org", enrol)


# sellers and the buyer each sells to: the buyers sell back to the owner too
_BUYERS = {"owner-farm": "buyer-steel", "buyer-steel": "owner-farm", "buyer-power": "owner-farm"}
_SALE = st.tuples(st.sampled_from(["owner-farm", "buyer-steel", "buyer-power"]),
                  st.booleans(), st.integers(min_value=1, max_value=9), st.booleans())


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sales=st.lists(_SALE, min_size=1, max_size=7))
def test_no_tonne_is_sold_as_primary_twice(sales: list) -> None:
    """Random priced sales among the owner and two buyers, buy-backs included: each unit
    is in at most one primary entry, the primary tonnes never exceed the owner's share of
    the batch, and a unit is sold as primary only if it never left the owner before."""
    m = _pool_market()
    owner_quantity = m.get("batch/B1")["owner_quantity"]
    primary_units: list[int] = []
    left_owner: set[int] = set()
    for seller, to_power, qty, on_exchange in sales:
        buyer = "buyer-power" if seller == "owner-farm" and to_power else _BUYERS[seller]
        held = _count(m, seller, "held")
        if held == 0:
            continue
        qty = min(qty, held)
        if on_exchange:
            out = _sell(m, seller, buyer, qty, "10")
            record = m.get(f"trade/{out['trade_id']}")
        else:
            out = m.ok([seller, buyer], "transfer",
                       {"from_org": seller, "to_org": buyer, "quantity": qty, "price": "10"})
            record = m.get(f"transfer/{out['transfer_id']}")
        assert sum(p["quantity"] for p in out["proceeds"]) == qty
        moved = [u for r in record["ranges"] for u in range(r["first"], r["last"] + 1)]
        expected = 0
        if seller == "owner-farm":  # the model: units that never left the owner's account
            fresh = [u for u in moved if u not in left_owner]
            primary_units.extend(fresh)
            left_owner.update(moved)
            expected = len(fresh)
        primary = sum(p["quantity"] for p in out["proceeds"] if p["sale"] == "primary")
        assert primary == expected
    assert len(primary_units) == len(set(primary_units)) <= owner_quantity
    shares = queries.benefit_shares(m.h.state, "AH-0001")
    assert shares["primary_quantity"] == len(primary_units)
    assert shares["farmers"] == f"{len(primary_units) * 3}.00"  # 30 % of 10.00 a tonne
