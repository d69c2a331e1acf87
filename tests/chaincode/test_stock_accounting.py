"""Stock accounting on the ledger (DOMAIN.md "Stock accounting", issue 10 item 1).

The issue's exploits as regression tests, one test per new refusal (each refusal changes
nothing: ``Flow.fails`` compares the whole state before and after), the shared buffer
pool, compensation obligations, loss-event settlement and the stock queries.
"""

from __future__ import annotations

from typing import Any

import pytest

from chaincode import queries
from chaincode.units import BUFFER_ACCOUNT
from ledger.encoding import canonical, decode
from ledger.errors import LedgerError
from tests.support.carbon_registry import Flow, small_ring
from tests.support.harness import DEFAULT_ORGS, Harness

# t CO2e stock of Chinese fir, micro-tonnes: V x 0.307 x 1.634 x 1.246 x 0.52 x 44/12
STOCK_120 = 143_009_368  # 120 m3 -> 143.009368 t
STOCK_200 = 238_348_948  # 200 m3 -> 238.348948 t
STOCK_50 = 59_587_237  # 50 m3
STOCK_250 = 297_936_185  # 250 m3


def _year(y: int) -> dict[str, str]:
    return {"start": f"{y}-01-01", "end": f"{y}-12-31"}


def _count(f: Flow, account: str, state: str, project_id: str | None = None) -> int:
    prefix = f"holding/{account}/{state}/" + (f"{project_id}/" if project_id else "")
    total = 0
    for key, raw in f.h.state.iter_prefix(prefix):
        total += decode(raw)["last"] - int(key.rsplit("/", 1)[1]) + 1
    return total


def _report(f: Flow, rid: str, rows: list[tuple[str, str, str]], claimed: int, year: int,
            project_id: str = "AH-0001", **over: Any) -> dict:
    return f.report_args(rid, project_id, rows, claimed, **_year(year), **over)


def _issued(f: Flow, project_id: str) -> int:
    return sum(b["quantity"] for b in (f.get(k) for k, _ in f.h.state.iter_prefix("batch/"))
               if b["project_id"] == project_id)


def _reversed(f: Flow, project_id: str) -> int:
    acct = f.get(f"poolacct/{project_id}")
    return 0 if acct is None else acct["charged"]


def test_second_period_restarting_at_zero_is_refused_and_credits_nothing_twice() -> None:
    """Issue 10: 262 t were issued for a stand holding 143 t."""
    f = Flow()
    f.registered_project()
    f.verified_report("R1", measurements=[("P1", "0", "120")], claimed=143, **_year(2018))
    f.ok("regulator", "issue", {"report_id": "R1", "batch_id": "B1"})
    res = f.fails("start_stock_mismatch", "owner-farm", "submit_monitoring_report",
                  _report(f, "R2", [("P1", "0", "120")], 143, 2019))
    assert res["message"] == (
        "period 2 starts from the ledger's verified stock of 143.009368 t CO2e (120 m3) for"
        " plot P1; the report's start of 0 t CO2e (0 m3) is not accepted")
    # without a start figure the ledger's own start applies: the same stand earns nothing
    args = _report(f, "R2", [("P1", "0", "120")], 143, 2019)
    del args["measurements"][0]["volume_start"]
    f.fails("claim_mismatch", "owner-farm", "submit_monitoring_report", args)
    f.ok("owner-farm", "submit_monitoring_report", dict(args, claimed_issuable=0))
    assert f.get("report/R2")["measurements"][0]["volume_start"] == "120"
    assert _issued(f, "AH-0001") == 143  # never 262: at most the stand's 143 t


def test_loss_reverses_regrowth_earns_nothing_growth_above_the_peak_earns_again() -> None:
    """Issue 10: 200 -> 50 m3 reversed nothing and the regrowth was credited again
    (416 t issued against 238 t of stock).

    Five periods verified by one body: the test lifts the independence limit explicitly."""
    f = Flow(params={"max_consecutive_verifications": 0})
    f.registered_project()
    f.registered_project("OTHER", plots=[("Q1", small_ring(3))])
    f.verified_report("RQ", project_id="OTHER", measurements=[("Q1", "0", "250")], claimed=297,
                      **_year(2018))
    f.ok("regulator", "issue", {"report_id": "RQ", "batch_id": "BQ"})  # 30 t to the pool
    f.verified_report("R1", measurements=[("P1", "0", "200")], claimed=238, **_year(2018))
    f.ok("regulator", "issue", {"report_id": "R1", "batch_id": "B1"})  # 24 t to the pool
    assert _count(f, BUFFER_ACCOUNT, "held") == 54

    # the fall: 238.348948 - 59.587237 = 178.761711 t -> 179 t reversed at verification,
    # from ONE pool: AH-0001's 24 units, then OTHER's 30, the rest is compensation
    f.ok("owner-farm", "submit_monitoring_report", _report(f, "R2", [("P1", "200", "50")], 0, 2019))
    res = f.ok("verifier-b", "attest_verification", f.verification_args("V2", "R2", 0))
    (ev,) = [e for e in res["events"] if e["type"] == "carbon.reversed"]
    assert (ev["quantity"], ev["cancelled"], ev["compensation"]) == (179, 54, 125)
    assert _count(f, BUFFER_ACCOUNT, "held") == 0
    assert _count(f, BUFFER_ACCOUNT, "cancelled", "OTHER") == 30
    rev = f.get("reversal/R2")
    assert rev["report_id"] == "R2" and rev["shortfall"] == 125
    assert rev["plots"] == [{"fall": 179, "loss_events": 0, "loss_overestimate": 0,
                             "plot_id": "P1", "reversed": 179}]
    assert f.get("compensation/AH-0001")["outstanding"] == 125
    stock = f.get("stock/P1")
    assert (stock["stock"], stock["high_water"], stock["volume"]) == (STOCK_50, STOCK_200, "50")

    # regrowth to 200 m3 stays below the high-water mark: it earns nothing
    f.fails("claim_mismatch", "owner-farm", "submit_monitoring_report",
            _report(f, "R3", [("P1", "50", "200")], 178, 2020))
    f.verified_report("R3", measurements=[("P1", "50", "200")], claimed=0, **_year(2020))
    f.fails("nothing_to_issue", "regulator", "issue", {"report_id": "R3", "batch_id": "B3"})

    # growth above the old peak earns again: 297.936185 - 238.348948 -> 59 t; the
    # compensation obligation (125 t) takes the owner's 53 before the owner gets anything
    f.verified_report("R4", measurements=[("P1", "200", "250")], claimed=59, **_year(2021))
    res = f.ok("regulator", "issue", {"report_id": "R4", "batch_id": "B4"})
    batch = f.get("batch/B4")
    assert (batch["quantity"], batch["owner_quantity"], batch["buffer_quantity"],
            batch["compensation_quantity"]) == (59, 0, 59, 53)
    assert f.get("compensation/AH-0001") == {
        "incurred": 125, "outstanding": 72, "project_id": "AH-0001", "repaid": 53}
    assert _issued(f, "AH-0001") == 238 + 59  # never 416
    assert _issued(f, "AH-0001") - _reversed(f, "AH-0001") <= STOCK_250 // 10**6

    # the queries show the whole history of the plot
    hist = queries.plot_stock(f.h.state, "P1")["history"]
    assert [(h["start"], h["end"], h["high_water"], h["credited"], h["reversed"])
            for h in hist] == [
        (0, STOCK_200, STOCK_200, STOCK_200, 0),
        (STOCK_200, STOCK_50, STOCK_200, 0, 179),
        (STOCK_50, STOCK_200, STOCK_200, 0, 0),
        (STOCK_200, STOCK_250, STOCK_250, STOCK_250 - STOCK_200, 0),
    ]
    assert hist[1]["end_t"] == "59.587237" and hist[3]["report_id"] == "R4"
    stocks = queries.project_stocks(f.h.state, "AH-0001")
    assert stocks["compensation"]["outstanding"] == 72
    assert stocks["pool"] == {"cancelled_from": 24, "charged": 179, "contributed": 30,
                              "covered": 54, "project_id": "AH-0001", "repaid": 53,
                              "shortfall": 125,
                              # the same charges split by kind (all by reversals here)
                              "loss_cancelled": 0, "loss_quantity": 0, "loss_shortfall": 0,
                              "reversal_cancelled": 54, "reversal_quantity": 179,
                              "reversal_shortfall": 125}
    assert [r["report_id"] for r in stocks["reversals"]] == ["R2"]
    pool = queries.buffer_pool(f.h.state)
    assert pool["accounts"]["OTHER"]["cancelled_from"] == 30
    assert pool["accounts"]["OTHER"]["charged"] == 0
    assert pool["compensation"]["AH-0001"]["repaid"] == 53
    assert pool["reversals"][0]["id"] == "R2"


def test_loss_event_is_settled_by_the_next_report_without_double_reversal() -> None:
    f = Flow()
    f.registered_project()
    f.verified_report("R1", measurements=[("P1", "0", "200")], claimed=238, **_year(2018))
    f.ok("regulator", "issue", {"report_id": "R1", "batch_id": "B1"})  # 24 t in the pool
    out = f.h.returned(f.ok("regulator", "record_loss_event", {
        "project_id": "AH-0001", "plot_id": "P1", "quantity": 100, "cause": "fire",
        "evidence_sha256": "ab" * 32}))
    assert (out["cancelled"], out["compensation"]) == (24, 76)
    assert f.get("stock/P1")["pending_loss"] == 100
    # measured fall 179 t: 100 already reversed by the loss event, 79 more now
    f.verified_report("R2", measurements=[("P1", "200", "50")], claimed=0, **_year(2019))
    rev = f.get("reversal/R2")
    assert rev["plots"][0] == {"fall": 179, "loss_events": 100, "loss_overestimate": 0,
                               "plot_id": "P1", "reversed": 79}
    assert rev["quantity"] == 79 and rev["shortfall"] == 79
    assert f.get("compensation/AH-0001")["outstanding"] == 76 + 79  # = 179, never 279
    assert f.get("stock/P1")["pending_loss"] == 0


def test_loss_event_overestimate_is_recorded_not_returned() -> None:
    """A loss event that over-estimated: cancelled units are terminal, nothing comes back
    to the pool; the excess is recorded on the period and nothing more is reversed."""
    f = Flow()
    f.registered_project()
    f.verified_report("R1", measurements=[("P1", "0", "200")], claimed=238, **_year(2018))
    f.ok("regulator", "issue", {"report_id": "R1", "batch_id": "B1"})
    f.ok("regulator", "record_loss_event", {
        "project_id": "AH-0001", "plot_id": "P1", "quantity": 20, "cause": "pests",
        "evidence_sha256": "ab" * 32})
    f.verified_report("R2", measurements=[("P1", "200", "190")], claimed=0, **_year(2019))
    rev = f.get("reversal/R2")
    # fall 238.348948 - 226.431500 = 11.917448 -> 12 t, the loss event took 20
    assert rev["plots"][0]["reversed"] == 0 and rev["plots"][0]["loss_overestimate"] == 8
    assert rev["quantity"] == 0 and _count(f, BUFFER_ACCOUNT, "cancelled") == 20
    assert queries.plot_stock(f.h.state, "P1")["history"][1]["loss_overestimate"] == 8


def test_reversal_happens_at_verification_not_issuance() -> None:
    f = Flow()
    f.registered_project()
    f.verified_report("R1", measurements=[("P1", "0", "200")], claimed=238, **_year(2018))
    # S and H move at verification: the next report starts from 200 m3 before R1 is issued
    f.fails("start_stock_mismatch", "owner-farm", "submit_monitoring_report",
            _report(f, "R2", [("P1", "0", "200")], 0, 2019))
    f.ok("owner-farm", "submit_monitoring_report", _report(f, "R2", [("P1", "200", "200")], 0, 2019))
    f.ok("regulator", "issue", {"report_id": "R1", "batch_id": "B1"})


def test_baseline_is_the_validated_pdds() -> None:
    f = Flow()
    f.registered_project(baseline="36.5")  # t CO2e a year: 0.1 a day
    rows = [("P1", "0", "25.2")]
    # 30.031967 t growth - 36.5 t baseline of 2018 -> nothing to issue
    res = f.fails("baseline_mismatch", "owner-farm", "submit_monitoring_report",
                  _report(f, "R1", rows, 30, 2018))
    assert "36.5 t CO2e a year gives 36.5 t CO2e" in res["message"]
    assert "report's baseline of 0 is not accepted" in res["message"]
    f.ok("owner-farm", "submit_monitoring_report", _report(
        f, "R1", [("P1", "0", "40")], 11, 2018,
        parameters={"baseline": "36.5", "leakage": "0", "project_emissions": "0"}))
    assert f.get("report/R1")["parameters"]["baseline"] == "36.5"
    f.ok("owner-farm", "withdraw_report", {"report_id": "R1"})
    # omitted: the ledger's pro-rata figure (181 days of 2018-01-01..2018-06-30 = 18.1 t)
    args = f.report_args("R2", "AH-0001", [("P1", "0", "40")], 29, start="2018-01-01",
                         end="2018-06-30", parameters={"leakage": "0", "project_emissions": "0"})
    f.ok("owner-farm", "submit_monitoring_report", args)
    assert f.get("report/R2")["parameters"]["baseline"] == "18.1"


def test_periods_start_no_earlier_than_planting() -> None:
    f = Flow()
    f.ok("owner-farm", "register_plot", f.plot_args("P1", small_ring(0), planting_date="2019-04-01"))
    f.ok("owner-farm", "submit_project", f.project_args("AH-0001", ["P1"]))
    f.ok("verifier-a", "attest_validation", f.validation_args("VAL", "AH-0001"))
    f.ok("regulator", "register_project", {"project_id": "AH-0001"})
    res = f.fails("before_planting", "owner-farm", "submit_monitoring_report",
                  _report(f, "R1", [("P1", "0", "25.2")], 30, 2019))
    assert "2019-04-01" in res["message"] and "P1" in res["message"]
    f.ok("owner-farm", "submit_monitoring_report", f.report_args(
        "R1", "AH-0001", [("P1", "0", "25.2")], 30, start="2019-04-01", end="2019-12-31"))


def test_verified_report_after_a_stock_change_is_stale() -> None:
    """Defence in depth: a report's start figures must still be the plot's at
    verification (one open report per project keeps it so)."""
    f = Flow()
    f.registered_project()
    f.ok("owner-farm", "submit_monitoring_report", _report(f, "R1", [("P1", "0", "25.2")], 30, 2018))
    f.ok("verifier-b", "attest_verification", f.verification_args("V1", "R1", 30))
    stock = f.get("stock/P1")
    stock["stock"] = 1
    f.ok("owner-farm", "submit_monitoring_report",
         _report(f, "R2", [("P1", "25.2", "30")], 5, 2019))
    f.h.state.apply([("stock/P1", canonical(stock))])
    f.fails("stale_report", "verifier-b", "attest_verification", f.verification_args("V2", "R2", 5))


def test_buffer_pool_id_cannot_be_enrolled() -> None:
    f = Flow()
    res = f.h.fails("reserved_account", "regulator", "membership", "enrol_org", {
        "org_id": BUFFER_ACCOUNT, "name": "Pool", "roles": ["owner"],
        "admins": [f.h.key("pool-admin").public_key_hex]})
    assert BUFFER_ACCOUNT in res["message"]


def test_buffer_pool_id_cannot_be_a_genesis_organisation() -> None:
    with pytest.raises(ValueError, match="reserved_account"):
        Harness(orgs={**DEFAULT_ORGS, BUFFER_ACCOUNT: (["owner"], None)})


def test_invalidation_never_takes_units_from_the_pool() -> None:
    f = Flow()
    f.registered_project()
    f.verified_report("R1", measurements=[("P1", "0", "25.2")], claimed=30, **_year(2018))
    f.ok("regulator", "issue", {"report_id": "R1", "batch_id": "B1"})  # 1..27 owner, 28..30 pool
    f.fails("nothing_to_invalidate", "regulator", "invalidate",
            {"project_id": "AH-0001", "first": 28, "last": 30, "reason": "fraud"})
    f.ok("regulator", "invalidate", {"project_id": "AH-0001", "first": 1, "last": 30,
                                     "reason": "fraud"})
    assert _count(f, BUFFER_ACCOUNT, "held") == 3 and _count(f, "owner-farm", "cancelled") == 27


def test_stock_queries_for_an_unreported_plot_and_unknown_ids() -> None:
    f = Flow()
    f.registered_project()
    out = queries.plot_stock(f.h.state, "P1")
    assert out["account"]["stock"] == 0 and out["account"]["high_water_t"] == "0"
    assert out["history"] == [] and out["project_id"] == "AH-0001"
    assert queries.compensation(f.h.state, "AH-0001")["outstanding"] == 0
    for call in (lambda: queries.plot_stock(f.h.state, "NOPE"),
                 lambda: queries.project_stocks(f.h.state, "NOPE")):
        with pytest.raises(LedgerError) as err:
            call()
        assert err.value.code == "not_found"


def test_a_loss_event_needs_a_registered_project() -> None:
    """Stock accounts start at registration: a loss on a project not registered yet would
    take other projects' pool units and be forgotten at registration."""
    f = Flow()
    f.registered_project("OTHER", plots=[("Q1", small_ring(3))])
    f.ok("owner-farm", "register_plot", f.plot_args("P1", small_ring(0)))
    f.ok("owner-farm", "submit_project", f.project_args("AH-0001", ["P1"]))
    pool_before = f.h.state.items()
    out = f.fails("project_not_registered", "regulator", "record_loss_event", {
        "project_id": "AH-0001", "plot_id": "P1", "quantity": 20, "cause": "fire",
        "evidence_sha256": "ab" * 32})
    assert "AH-0001" in out["message"]
    assert f.h.state.items() == pool_before  # nothing changed


def test_trace_of_a_reversed_pool_unit_names_its_reversal() -> None:
    """A pool unit cancelled by a verified fall: its trace's last step is the reversal,
    with the reversal record (keyed by the report, found through the pool-event index)."""
    f = Flow()
    f.registered_project()
    f.verified_report("R1", measurements=[("P1", "0", "200")], claimed=238, **_year(2018))
    f.ok("regulator", "issue", {"report_id": "R1", "batch_id": "B1"})
    batch = f.get("batch/B1")
    f.verified_report("R2", measurements=[("P1", "200", "150")], claimed=0, **_year(2019))
    first_pool_unit = batch["first"] + batch["owner_quantity"]
    steps = queries.trace(f.h.state, f"AH-0001:{first_pool_unit}")["steps"]
    assert [s["action"] for s in steps] == ["issue", "reversal"]
    assert steps[-1]["record"]["id"] == "R2" and steps[-1]["state"] == "cancelled"
