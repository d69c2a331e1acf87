"""Issue 10, registry half: the regulator's independence parameters, the plot exclusion
record and validated non-zero baseline stocks (DOMAIN.md "Stock accounting", "Integrity
rules"). Every refusal is asserted with its code and (through ``Flow.fails``) that it
changed no state."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from chaincode.calculator import STOCK_SCALE, species_params_from_table, stock_micro
from chaincode.params import DEFAULT_PARAMS
from chaincode.queries import plot_stock, project_stocks
from chaincode.units import BUFFER_ACCOUNT
from ledger.encoding import decode
from ledger.fixedpoint import ceil_int, floor_int
from tests.support.carbon_registry import Flow, h256, small_ring

FIR = species_params_from_table(DEFAULT_PARAMS["species_table"], "chinese_fir")
ORGS = {"verifier-c": (["verifier"], "CNCA-V-004")}


def fir(volume: int) -> int:
    """Micro-tonnes CO2e of ``volume`` m3 of Chinese fir."""
    return stock_micro(Fraction(volume), FIR)


def tonnes_down(micro: int) -> int:
    return floor_int(Fraction(micro, STOCK_SCALE))


def tonnes_up(micro: int) -> int:
    return ceil_int(Fraction(micro, STOCK_SCALE))


def year(y: int) -> dict[str, str]:
    return {"start": f"{y}-01-01", "end": f"{y}-12-31"}


def report(f: Flow, rid: str, rows: list[tuple[str, str, str]], claimed: int, y: int,
           project_id: str = "AH-0001") -> dict:
    return f.report_args(rid, project_id, rows, claimed, **year(y))


def verify(f: Flow, verifier: str, rid: str, quantity: int) -> dict:
    return f.ok(verifier, "attest_verification", f.verification_args(f"V-{rid}", rid, quantity))


def pool_held(f: Flow) -> int:
    total = 0
    for key, raw in f.h.state.iter_prefix(f"holding/{BUFFER_ACCOUNT}/held/"):
        total += decode(raw)["last"] - int(key.rsplit("/", 1)[1]) + 1
    return total


def event(res: dict, kind: str) -> dict[str, Any]:
    (ev,) = [e for e in res["events"] if e["type"] == kind]
    return ev


def set_param(f: Flow, name: str, value: Any) -> None:
    f.h.ok("regulator", "params", "set_param", {"name": name, "value": value})


# -- independence ----------------------------------------------------------------------------
def test_the_validating_body_may_not_verify_unless_the_parameter_allows_it() -> None:
    f = Flow()
    f.registered_project()  # validated by verifier-a
    f.ok("owner-farm", "submit_monitoring_report", report(f, "R1", [("P1", "0", "25.2")], 30, 2018))
    res = f.fails("same_body_validated", "verifier-a", "attest_verification",
                  f.verification_args("V1", "R1", 30))
    assert res["message"] == (
        "verifier-a validated project AH-0001 (attestation VAL-AH-0001) and may not also"
        " verify its reports (parameter verifier_may_validate_and_verify is false)")
    set_param(f, "verifier_may_validate_and_verify", True)
    verify(f, "verifier-a", "R1", 30)
    assert f.get("report/R1")["status"] == "verified"


def test_self_attestation_is_still_refused_first() -> None:
    f = Flow(orgs={"forest-lab": (["owner", "verifier"], "CNCA-V-009")})
    f.registered_project("LAB", plots=[("L1", small_ring(2))], owner="forest-lab")
    f.ok("forest-lab", "submit_monitoring_report", report(f, "RL", [("L1", "0", "25.2")], 30, 2018,
                                                          project_id="LAB"))
    f.fails("self_attestation", "forest-lab", "attest_verification",
            f.verification_args("V1", "RL", 30))


def test_consecutive_verifications_by_one_body_are_limited() -> None:
    f = Flow(orgs=ORGS)
    f.registered_project()
    for i, y in enumerate((2018, 2019, 2020)):
        f.ok("owner-farm", "submit_monitoring_report",
             report(f, f"R{i}", [("P1", "0", "0")], 0, y))
        verify(f, "verifier-b", f"R{i}", 0)
    assert f.get("project/AH-0001")["verification_streak"] == {
        "count": 3, "verifier_org": "verifier-b"}
    f.ok("owner-farm", "submit_monitoring_report", report(f, "R3", [("P1", "0", "0")], 0, 2021))
    res = f.fails("consecutive_verifications", "verifier-b", "attest_verification",
                  f.verification_args("V-R3", "R3", 0))
    assert res["message"] == (
        "verifier-b verified the last 3 verified reports of project AH-0001; parameter"
        " max_consecutive_verifications allows at most 3 in a row, another body must verify"
        " this one")
    # another body breaks the streak; the first may then verify again
    verify(f, "verifier-c", "R3", 0)
    f.ok("owner-farm", "submit_monitoring_report", report(f, "R4", [("P1", "0", "0")], 0, 2022))
    verify(f, "verifier-b", "R4", 0)
    assert f.get("project/AH-0001")["verification_streak"] == {
        "count": 1, "verifier_org": "verifier-b"}


def test_consecutive_limit_follows_the_parameter_in_force() -> None:
    f = Flow(orgs=ORGS)
    f.registered_project()
    set_param(f, "max_consecutive_verifications", 1)
    f.ok("owner-farm", "submit_monitoring_report", report(f, "R1", [("P1", "0", "0")], 0, 2018))
    verify(f, "verifier-b", "R1", 0)
    f.ok("owner-farm", "submit_monitoring_report", report(f, "R2", [("P1", "0", "0")], 0, 2019))
    res = f.fails("consecutive_verifications", "verifier-b", "attest_verification",
                  f.verification_args("V-R2", "R2", 0))
    assert "at most 1 in a row" in res["message"]
    set_param(f, "max_consecutive_verifications", 0)  # 0 = no limit
    verify(f, "verifier-b", "R2", 0)
    f.ok("owner-farm", "submit_monitoring_report", report(f, "R3", [("P1", "0", "0")], 0, 2020))
    verify(f, "verifier-b", "R3", 0)


def test_a_withdrawn_report_does_not_count_in_the_streak() -> None:
    f = Flow()
    f.registered_project()
    set_param(f, "max_consecutive_verifications", 1)
    f.ok("owner-farm", "submit_monitoring_report", report(f, "R1", [("P1", "0", "0")], 0, 2018))
    f.ok("owner-farm", "withdraw_report", {"report_id": "R1"})
    f.ok("owner-farm", "submit_monitoring_report", report(f, "R2", [("P1", "0", "0")], 0, 2018))
    verify(f, "verifier-b", "R2", 0)


# -- validated baseline stocks ---------------------------------------------------------------
def _baseline_project(f: Flow, baselines: list[dict[str, str]] | None,
                      plots: tuple[str, ...] = ("P1",)) -> None:
    for i, plot_id in enumerate(plots):
        f.ok("owner-farm", "register_plot", f.plot_args(plot_id, small_ring(i)))
    f.ok("owner-farm", "submit_project", f.project_args("AH-0001", list(plots)))
    args = f.validation_args("VAL-1", "AH-0001")
    if baselines is not None:
        args["baseline_stocks"] = baselines
    f.ok("verifier-a", "attest_validation", args)


def test_validated_baseline_stock_is_the_start_and_growth_counts_only_above_it() -> None:
    f = Flow()
    _baseline_project(f, [{"plot_id": "P2", "volume": "0"}, {"plot_id": "P1", "volume": "120.00"}],
                      plots=("P1", "P2"))
    assert f.get("attestation/VAL-1")["baseline_stocks"] == [
        {"plot_id": "P1", "volume": "120"}, {"plot_id": "P2", "volume": "0"}]
    f.ok("regulator", "register_project", {"project_id": "AH-0001"})
    stock = f.get("stock/P1")
    assert (stock["stock"], stock["high_water"], stock["baseline_stock"], stock["volume"]) == (
        fir(120), fir(120), fir(120), "120")
    assert f.get("stock/P2")["baseline_stock"] == 0
    # the report starts from the validated stock, not from zero
    res = f.fails("start_stock_mismatch", "owner-farm", "submit_monitoring_report",
                  report(f, "R1", [("P1", "0", "200"), ("P2", "0", "0")], 0, 2018))
    assert "for plot P1" in res["message"] and "143.009368 t CO2e (120 m3)" in res["message"]
    claim = tonnes_down(fir(200) - fir(120))  # 95 t: only growth above S0
    f.fails("claim_mismatch", "owner-farm", "submit_monitoring_report",
            report(f, "R1", [("P1", "120", "200"), ("P2", "0", "0")], tonnes_down(fir(200)), 2018))
    f.ok("owner-farm", "submit_monitoring_report",
         report(f, "R1", [("P1", "120", "200"), ("P2", "0", "0")], claim, 2018))
    verify(f, "verifier-b", "R1", claim)
    stock = f.get("stock/P1")
    assert (stock["stock"], stock["high_water"], stock["credited"]) == (
        fir(200), fir(200), fir(200) - fir(120))
    view = plot_stock(f.h.state, "P1")
    assert view["account"]["baseline_stock_t"] == "143.009368"


def test_without_baseline_stocks_the_start_is_zero() -> None:
    f = Flow()
    _baseline_project(f, None)
    f.ok("regulator", "register_project", {"project_id": "AH-0001"})
    assert f.get("stock/P1") is None
    assert f.get("attestation/VAL-1")["baseline_stocks"] == []


def test_baseline_stock_refusals() -> None:
    f = Flow()
    f.ok("owner-farm", "register_plot", f.plot_args("P1", small_ring(0)))
    f.ok("owner-farm", "register_plot", f.plot_args("Q1", small_ring(3)))
    f.ok("owner-farm", "submit_project", f.project_args("AH-0001", ["P1"]))
    va = f.validation_args
    res = f.fails("plot_not_in_project", "verifier-a", "attest_validation",
                  va("V1", "AH-0001", baseline_stocks=[{"plot_id": "Q1", "volume": "10"}]))
    assert res["message"] == "baseline stock for plot Q1, which is not in project AH-0001"
    res = f.fails("duplicate_plot", "verifier-a", "attest_validation",
                  va("V1", "AH-0001", baseline_stocks=[{"plot_id": "P1", "volume": "10"},
                                                       {"plot_id": "P1", "volume": "12"}]))
    assert res["message"] == "baseline_stocks lists plot P1 more than once"
    for bad in ("-5", "1e3", "ten", "0.0000001", None):
        f.fails("invalid_args", "verifier-a", "attest_validation",
                va("V1", "AH-0001", baseline_stocks=[{"plot_id": "P1", "volume": bad}]))
    f.fails("invalid_args", "verifier-a", "attest_validation",
            va("V1", "AH-0001", baseline_stocks=[{"plot_id": "P1"}]))


def test_changing_the_baseline_needs_a_revised_pdd_and_a_new_validation() -> None:
    f = Flow()
    _baseline_project(f, [{"plot_id": "P1", "volume": "120"}])
    res = f.fails("baseline_requires_revision", "verifier-b", "attest_validation",
                  f.validation_args("VAL-2", "AH-0001",
                                    baseline_stocks=[{"plot_id": "P1", "volume": "50"}]))
    assert res["message"] == (
        "attestation VAL-1 validated project AH-0001's current PDD with baseline stocks"
        " P1 120 m3; this attestation states P1 50 m3: changing the baseline needs a revised"
        " PDD (revise_pdd) and a new validation")
    f.fails("baseline_requires_revision", "verifier-b", "attest_validation",
            f.validation_args("VAL-2", "AH-0001"))  # none is a different baseline too
    # the same figures may be attested again; a negative attestation binds nothing
    f.ok("verifier-b", "attest_validation", f.validation_args(
        "VAL-2", "AH-0001", baseline_stocks=[{"plot_id": "P1", "volume": "120"}]))
    f.ok("verifier-b", "attest_validation", f.validation_args("VAL-3", "AH-0001", positive=False))
    f.ok("owner-farm", "revise_pdd", {"project_id": "AH-0001", "pdd_sha256": h256("pdd v2")})
    f.ok("verifier-a", "attest_validation", f.validation_args(
        "VAL-4", "AH-0001", pdd_sha256=h256("pdd v2"),
        baseline_stocks=[{"plot_id": "P1", "volume": "50"}]))
    f.ok("regulator", "register_project", {"project_id": "AH-0001"})
    assert f.get("stock/P1")["baseline_stock"] == fir(50)
    # after registration no validation can change it
    f.fails("already_registered", "verifier-b", "attest_validation", f.validation_args(
        "VAL-5", "AH-0001", pdd_sha256=h256("pdd v2"),
        baseline_stocks=[{"plot_id": "P1", "volume": "10"}]))


# -- plot exclusion record ----------------------------------------------------------------------
def _two_plot_project(f: Flow) -> None:
    f.registered_project(plots=[("P1", small_ring(0)), ("P2", small_ring(1))])
    claim = tonnes_down(fir(120) + fir(50))
    f.ok("owner-farm", "submit_monitoring_report",
         report(f, "R1", [("P1", "0", "120"), ("P2", "0", "50")], claim, 2018))
    verify(f, "verifier-b", "R1", claim)
    f.ok("regulator", "issue", {"report_id": "R1", "batch_id": "B1"})


def exclusion(plot: str = "P1", **over: Any) -> dict:
    return {"project_id": "AH-0001", "plot_id": plot, "reason": "flooded since 2019",
            "evidence_sha256": h256("photos"), **over}


def test_exclusion_reverses_the_credited_stock_and_lifts_the_coverage_rule() -> None:
    f = Flow()
    _two_plot_project(f)
    pool = pool_held(f)  # ceil(202 x 0.1) = 21
    assert pool == 21
    res = f.ok("regulator", "exclude_plot", exclusion())
    fall = tonnes_up(fir(120))  # 144 t still standing on P1
    ev = event(res, "carbon.plot_excluded")
    assert (ev["quantity"], ev["cancelled"], ev["compensation"]) == (fall, pool, fall - pool)
    assert pool_held(f) == 0
    assert f.get("compensation/AH-0001")["outstanding"] == fall - pool
    stock = f.get("stock/P1")
    assert (stock["stock"], stock["high_water"], stock["volume"], stock["reversed"]) == (
        0, fir(120), "0", fall)
    assert stock["excluded"]["reason"] == "flooded since 2019"
    assert stock["excluded"]["reversed"] == fall
    hist = f.get("stockhist/P1/0002")
    assert (hist["kind"], hist["start"], hist["end"], hist["reversed"], hist["credited"]) == (
        "exclusion", fir(120), 0, fall, 0)
    assert sum(r["quantity"] for r in hist["ranges"]) == pool
    view = project_stocks(f.h.state, "AH-0001")
    assert [p["excluded"] for p in view["plots"]] == [True, False]

    # reports now cover every plot that is not excluded
    res = f.fails("missing_plots", "owner-farm", "submit_monitoring_report",
                  report(f, "R2", [], 0, 2019) | {"measurements": [
                      {"plot_id": "P1", "species": "chinese_fir", "volume_end": "0"}]})
    assert res["message"].endswith("missing: P2")
    claim = tonnes_down(fir(80) - fir(50))
    f.ok("owner-farm", "submit_monitoring_report",
         report(f, "R2", [("P2", "50", "80")], claim, 2019))
    verify(f, "verifier-b", "R2", claim)
    assert f.get("period/P1/2019-01-01") is None
    assert f.get("stock/P1")["excluded"] is not None

    # reported again: re-admitted, from S0 = 0 with H kept -- regrowth below H earns nothing
    f.ok("owner-farm", "submit_monitoring_report",
         report(f, "R3", [("P1", "0", "100"), ("P2", "80", "80")], 0, 2020))
    verify(f, "verifier-b", "R3", 0)
    stock = f.get("stock/P1")
    assert stock["excluded"] is None and stock["stock"] == fir(100)
    assert stock["high_water"] == fir(120) and stock["credited"] == fir(120)
    assert f.get("stockhist/P1/0003")["readmitted"] is True
    # growth above the old mark earns again
    claim = tonnes_down(fir(150) - fir(120))
    f.h.ok("regulator", "params", "set_param",
           {"name": "max_consecutive_verifications", "value": 0})
    f.ok("owner-farm", "submit_monitoring_report",
         report(f, "R4", [("P1", "100", "150"), ("P2", "80", "80")], claim, 2021))
    verify(f, "verifier-b", "R4", claim)


def test_exclusion_is_net_of_loss_events_already_cancelled() -> None:
    f = Flow()
    _two_plot_project(f)
    f.h.ok("regulator", "carbon", "record_loss_event", {
        "project_id": "AH-0001", "plot_id": "P1", "quantity": 50, "cause": "fire",
        "evidence_sha256": h256("fire")})
    res = f.ok("regulator", "exclude_plot", exclusion(evidence_sha256=None))
    assert event(res, "carbon.plot_excluded")["quantity"] == tonnes_up(fir(120)) - 50
    stock = f.get("stock/P1")
    assert stock["pending_loss"] == 0
    hist = f.get("stockhist/P1/0002")
    assert (hist["loss_events"], hist["loss_overestimate"], hist["evidence_sha256"]) == (
        50, 0, None)


def test_exclusion_with_a_validated_baseline_falls_to_it() -> None:
    f = Flow()
    _baseline_project(f, [{"plot_id": "P1", "volume": "120"}])
    f.ok("regulator", "register_project", {"project_id": "AH-0001"})
    claim = tonnes_down(fir(200) - fir(120))
    f.ok("owner-farm", "submit_monitoring_report", report(f, "R1", [("P1", "120", "200")], claim, 2018))
    verify(f, "verifier-b", "R1", claim)
    res = f.ok("regulator", "exclude_plot", exclusion())
    assert event(res, "carbon.plot_excluded")["quantity"] == tonnes_up(fir(200) - fir(120))
    stock = f.get("stock/P1")
    assert (stock["stock"], stock["high_water"], stock["volume"]) == (fir(120), fir(200), "120")


def test_a_plot_below_its_baseline_reverses_nothing_and_keeps_its_stock() -> None:
    f = Flow()
    _baseline_project(f, [{"plot_id": "P1", "volume": "120"}])
    f.ok("regulator", "register_project", {"project_id": "AH-0001"})
    f.ok("owner-farm", "submit_monitoring_report", report(f, "R1", [("P1", "120", "50")], 0, 2018))
    verify(f, "verifier-b", "R1", 0)
    res = f.ok("regulator", "exclude_plot", exclusion())
    assert event(res, "carbon.plot_excluded")["quantity"] == 0
    assert (f.get("stock/P1")["stock"], f.get("stock/P1")["volume"]) == (fir(50), "50")


def test_exclusion_refusals() -> None:
    f = Flow()
    _two_plot_project(f)
    f.registered_project("OTHER", plots=[("Q1", small_ring(3))])
    f.ok("owner-farm", "register_plot", f.plot_args("S1", small_ring(5)))
    f.ok("owner-farm", "submit_project", f.project_args("SUB", ["S1"]))
    f.fails("unauthorized", "owner-farm", "exclude_plot", exclusion())
    f.fails("unknown_project", "regulator", "exclude_plot", exclusion(project_id="NOPE"))
    f.fails("unknown_plot", "regulator", "exclude_plot", exclusion(plot="NOPE"))
    res = f.fails("plot_not_in_project", "regulator", "exclude_plot", exclusion(plot="Q1"))
    assert res["message"] == "plot Q1 is not in project AH-0001"
    f.fails("project_not_registered", "regulator", "exclude_plot",
            exclusion(project_id="SUB", plot="S1"))
    f.fails("invalid_args", "regulator", "exclude_plot", exclusion(reason=""))
    f.fails("invalid_args", "regulator", "exclude_plot", exclusion(evidence_sha256="abc"))
    f.ok("owner-farm", "submit_monitoring_report",
         report(f, "R2", [("P1", "120", "120"), ("P2", "50", "50")], 0, 2019))
    res = f.fails("report_pending", "regulator", "exclude_plot", exclusion())
    assert "R2" in res["message"] and "P1" in res["message"]
    f.ok("owner-farm", "withdraw_report", {"report_id": "R2"})
    f.ok("regulator", "exclude_plot", exclusion())
    res = f.fails("already_excluded", "regulator", "exclude_plot", exclusion())
    assert "plot P1 of project AH-0001 is already excluded" in res["message"]
