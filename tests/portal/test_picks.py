"""The "From the ledger" panels (portal/picks.py) over a fake node: which rows each form
offers, the values its Use link fills in, and what is left out (other exchanges'
listings, reports in another state, projects of another status)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from portal.picks import PICK_FORMS, Panel, panel

PROJECTS = [
    {"id": "P-SUB", "status": "submitted", "name": "Sub", "owner_org": "farm", "plots": ["A"],
     "pdd_sha256": "ab" * 32},
    {"id": "P-VAL", "status": "validated", "name": "Val", "owner_org": "farm", "plots": ["B"]},
    {"id": "P-REG", "status": "registered", "name": "Reg", "owner_org": "farm",
     "plots": ["C", "D"], "open_report": "R-SUB"},
]
DETAIL = {"project": PROJECTS[2], "reports": [
    {"id": "R-OLD", "status": "issued", "period_start": "2020-01-01", "period_end": "2020-12-31"},
    {"id": "R-VER", "status": "verified", "period_start": "2021-01-01",
     "period_end": "2021-12-31", "claimed_issuable": 40},
    {"id": "R-SUB", "status": "submitted", "period_start": "2022-01-01",
     "period_end": "2022-12-31", "claimed_issuable": 55, "report_sha256": "cd" * 32}],
    "batches": [{"id": "B1", "owner_org": "farm", "owner_quantity": 90,
                 "serial": "CCER-P-REG-2020-1-100", "counts": {"held": 90, "frozen": 0}},
                {"id": "B2", "owner_org": "farm", "owner_quantity": 10}],
    "subsidies": [{"batch_id": "B1", "status": "accrued", "owner_org": "farm",
                   "tonnes": 90, "amount": "2700.00"}]}
ANSWERS: dict[str, Any] = {
    "/v1/explorer/projects?limit=100": {"projects": PROJECTS, "next": None},
    "/v1/explorer/projects/P-REG?limit=100": DETAIL,
    "/v1/explorer/market": {"listings": [
        {"id": "L1", "status": "open", "exchange": "xchg", "project_id": "P-REG",
         "seller": "farm", "remaining": 30, "price": "61.00"},
        {"id": "L2", "status": "open", "exchange": "other-xchg", "remaining": 5},
        {"id": "L3", "status": "filled", "exchange": "xchg", "remaining": 0}]},
    "/v1/explorer/orgs?limit=100": {"orgs": [
        {"id": "cement", "roles": ["buyer"], "name": "Cement"},
        {"id": "farm", "roles": ["owner"], "name": "Farm"}], "next": "farm"},
    "/v1/explorer/orgs?limit=100&after=farm": {"orgs": [
        {"id": "steel", "roles": ["buyer"], "name": "Steel"}], "next": None},
    "/v1/state/obligation/cement/2025": {"value": {"obligation_tonnes": 48000, "retired": 1000}},
    "/v1/explorer/accounts/steel?limit=1": {"holdings": {"totals": {"held": 7}}},
    "/v1/explorer/accounts/cement?limit=1": {"holdings": {"projects": {
        "P-REG": {"held": 200, "listed": 0, "retired": 1000}}}},
    "/v1/explorer/params?limit=100": {"params": [
        {"name": "offset_cap", "value": "0.05", "height": 0},
        {"name": "buffer_rates", "value": {"low": "0.1"}, "height": 3}], "next": None},
}


def get(path: str) -> dict[str, Any] | None:
    if path.startswith("/v1/explorer/projects?limit=100&status="):
        status = path.rsplit("=", 1)[1]
        return {"projects": [p for p in PROJECTS if p["status"] == status], "next": None}
    answer = ANSWERS.get(path)
    return dict(answer) if isinstance(answer, dict) else None


def uses(p: Panel | None) -> list[dict[str, list[str]]]:
    assert p is not None
    return [parse_qs(urlsplit(p.use_url(r)).query) for r in p.rows]


def test_the_regulator_picks_what_waits_for_it() -> None:
    assert uses(panel("carbon.register_project", get, {"id": "reg"}, {})) == [
        {"project_id": ["P-VAL"]}]
    assert uses(panel("carbon.issue", get, {"id": "reg"}, {})) == [
        {"report_id": ["R-VER"], "batch_id": ["P-REG-B2021"]}]
    assert uses(panel("carbon.accrue_subsidy", get, {"id": "reg"}, {})) == [{"batch_id": ["B2"]}]
    owed = panel("carbon.record_subsidy_paid", get, {"id": "reg"}, {})
    assert uses(owed) == [{"batch_id": ["B1"]}] and owed is not None
    assert owed.rows[0].cells[-1] == "2700.00"
    buyers = panel("carbon.record_obligation", get, {"id": "reg"}, {})
    assert uses(buyers) == [{"enterprise_org": ["cement"]}, {"enterprise_org": ["steel"]}]
    frozen = panel("carbon.freeze", get, {"id": "reg"}, {})
    assert uses(frozen) == [{"project_id": ["P-REG"], "batch_id": ["B1"]},
                            {"project_id": ["P-REG"], "batch_id": ["B2"]}]
    assert uses(panel("carbon.record_loss_event", get, {"id": "reg"}, {})) == [
        {"project_id": ["P-REG"], "plot_id": ["C"]}, {"project_id": ["P-REG"], "plot_id": ["D"]}]
    params = panel("params.set_param", get, {"id": "reg"}, {})
    assert uses(params) == [{"name": ["offset_cap"], "value": ["0.05"]},
                            {"name": ["buffer_rates"], "value": ['{"low": "0.1"}']}]


def test_verifiers_pick_the_document_under_review_with_its_ledger_hash() -> None:
    val = panel("carbon.attest_validation", get, {"id": "v"}, {})
    assert uses(val) == [{"project_id": ["P-SUB"]}] and val is not None
    assert "ab" * 32 in val.rows[0].cells and val.note == "pick_hash_note"
    ver = panel("carbon.attest_verification", get, {"id": "v"}, {})
    assert uses(ver) == [{"report_id": ["R-SUB"]}] and ver is not None
    assert "55" in ver.rows[0].cells and "cd" * 32 in ver.rows[0].cells


def test_the_exchange_picks_only_its_own_open_listings() -> None:
    assert uses(panel("carbon.match_trade", get, {"id": "xchg"}, {})) == [
        {"listing_id": ["L1"], "quantity": ["30"], "price": ["61.00"]}]
    assert uses(panel("carbon.match_trade", get, {"id": "nobody"}, {})) == []


def test_a_buyer_sees_its_obligation_with_the_room_under_the_cap() -> None:
    ob = panel("carbon.retire_compliance", get, {"id": "cement"}, {},
               periods=["2026", "2025"], offset_cap="0.05")
    assert ob is not None and [r.cells for r in ob.rows] == [
        ["2025", "48000", "2400", "1000", "1400"]]
    assert uses(ob) == [{"period": ["2025"], "quantity": ["1400"]}]
    assert ob.held is None  # the fake account answer has no totals
    assert ob.note == "pick_obligation_rule" and ob.note_values == {"cap": "0.05"}
    none = panel("carbon.retire_compliance", get, {"id": "cement"}, {}, periods=["2030"],
                 offset_cap="0.05")
    assert none is not None and none.rows == [] and none.note == "pick_obligation_none"
    steel = panel("carbon.retire_compliance", get, {"id": "steel"}, {}, periods=["2025"])
    assert steel is not None and steel.rows == [] and steel.held == 7
    held = panel("carbon.retire_voluntary", get, {"id": "cement"}, {})
    assert uses(held) == [{"project_id": ["P-REG"]}] and held is not None
    assert held.rows[0].cells == ["P-REG", "200", "0", "1000"]


def test_forms_without_a_panel_and_a_node_that_answers_nothing() -> None:
    assert panel("notary.record", get, {"id": "x"}, {}) is None
    assert "carbon.submit_monitoring_report" not in PICK_FORMS
    for key in sorted(PICK_FORMS):
        empty = panel(key, lambda path: None, {"id": "x"}, {}, periods=["2025"])
        assert empty is not None and empty.rows == [], key
