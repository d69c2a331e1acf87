"""The whole lifecycle of DOMAIN.md through signed transactions, each with the keys of the
role responsible for it: enrolment of a new emitter and its clerk's key, forest plots
(Chinese fir and Masson pine, Anhui polygons), PDD with a public comment window,
validation, registration, monitoring report, verification, issuance, an exchange listing
and matched trade, an off-exchange block transfer, a compliance obligation and offsets
under the cap, voluntary retirement, a loss event, freeze / unfreeze, invalidation and
subsidy accrual. It ends with a compliance and a voluntary retirement whose traces lead
back to the plots, each step naming a committed transaction and its height.
"""

from __future__ import annotations

from typing import Any

from chaincode import queries
from tests.support.carbon_market import (
    ANHUI_PINE_RING,
    ANHUI_RING,
    Market,
    area_ha,
    check_invariants,
    expected_issuance,
    h256,
    polygon,
)
from tests.support.harness import Harness

OWNER = "owner-farm"
PROJECT = "AH-0001"
PLOTS = ["AH-FIR-01", "AH-PINE-01"]


def tx_at(h: Harness, tx_id: str, height: int) -> dict[str, Any]:
    """The committed, successful transaction ``tx_id`` of block ``height``."""
    txs, results = h.blocks[height - 1]
    for tx, result in zip(txs, results, strict=True):
        if tx.tx_id == tx_id:
            assert result["code"] == "ok", result
            return {"method": tx.method, "signers": list(tx.signers)}
    raise AssertionError(f"no transaction {tx_id} in block {height}")


def plot_args(plot_id: str, ring: list[list[int]], species: str, doc: str) -> dict:
    return {
        "plot_id": plot_id,
        "polygon": polygon(ring),
        "declared_area_ha": area_ha(ring),
        "county_code": "340122",  # Feidong county, Hefei
        "tenure": {"doc_type": "forest_right_cert", "doc_number": doc,
                   "scan_sha256": h256("tenure-scan:" + plot_id)},
        "species": species,
        "planting_date": "2017-11-20",
        "non_forest_evidence": {"sha256": h256("landsat-2014-2017:" + plot_id), "years": 4},
    }


def test_full_lifecycle() -> None:
    m = Market()
    h = m.h

    # 1. enrolment: the regulator enrols a cement maker; its admin enrols a clerk's key
    cement, clerk = "buyer-cement", "buyer-cement-clerk"
    h.ok("regulator", "membership", "enrol_org", {
        "org_id": cement, "name": "Anhui Conch Cement (test)", "roles": ["buyer"],
        "admins": [h.key(cement).public_key_hex]})
    h.ok(cement, "membership", "enrol_key", {"org_id": cement,
                                             "pub_key": h.key(clerk).public_key_hex})

    # 2. forest plots
    m.ok(OWNER, "register_plot", plot_args(PLOTS[0], ANHUI_RING, "chinese_fir",
                                           "皖(2019)肥东县林权第0001号"))
    m.ok(OWNER, "register_plot", plot_args(PLOTS[1], ANHUI_PINE_RING, "masson_pine",
                                           "皖(2019)肥东县林权第0002号"))
    # 3. project design document with a (closed) public comment window
    m.ok(OWNER, "submit_project", {
        "project_id": PROJECT, "name": "肥东县造林碳汇项目 (Feidong afforestation)",
        "methodology": "CCER-14-001-V01", "plots": PLOTS, "start_date": "2018-01-01",
        "crediting_period_years": 30, "baseline": "0", "risk_rating": "medium",
        "pdd_sha256": h256("pdd"),
        "comment_window": {"start_date": "2023-09-01", "end_date": "2023-09-28"}})
    # 4. validation, 5. registration
    m.ok("verifier-a", "attest_validation", {
        "attestation_id": "VAL-2023-017", "project_id": PROJECT, "pdd_sha256": h256("pdd"),
        "positive": True, "site_visit_date": "2023-06-20"})
    m.fails("unauthorized", "verifier-a", "register_project", {"project_id": PROJECT})
    m.ok("regulator", "register_project", {"project_id": PROJECT})
    # 6. monitoring report (the ledger recomputes it), 7. verification
    rows = [(PLOTS[0], "chinese_fir", "0", "2500"), (PLOTS[1], "masson_pine", "0", "300")]
    issuable, to_buffer = expected_issuance(rows, "medium")
    assert (issuable, to_buffer) == (3315, 498)
    m.ok(OWNER, "submit_monitoring_report", {
        "report_id": "MR-2022", "project_id": PROJECT, "period_start": "2018-01-01",
        "period_end": "2022-12-31",
        "measurements": [{"plot_id": p, "species": s, "volume_start": a, "volume_end": b}
                         for p, s, a, b in rows],
        "parameters": {"baseline": "0", "leakage": "0", "project_emissions": "0"},
        "claimed_issuable": issuable, "report_sha256": h256("monitoring-report-2022")})
    m.ok("verifier-b", "attest_verification", {
        "attestation_id": "VER-2023-044", "report_id": "MR-2022",
        "report_sha256": h256("monitoring-report-2022"), "verified_quantity": issuable,
        "site_visit_date": "2023-07-11"})
    # 8. issuance: owner 1-2817, buffer pool 2818-3315
    m.fails("unauthorized", OWNER, "issue", {"report_id": "MR-2022", "batch_id": "AH-0001-B1"})
    m.ok("regulator", "issue", {"report_id": "MR-2022", "batch_id": "AH-0001-B1"})
    batch = m.get("batch/AH-0001-B1")
    assert batch["serial"] == "CCER-AH-0001-2022-000000001-000003315"
    assert (batch["owner_quantity"], batch["buffer_quantity"]) == (2817, 498)
    check_invariants(h.state)

    # 9a. on-exchange: list 800, buyer-steel buys 500 (units 1-500)
    lid = m.ok(OWNER, "create_listing", {"quantity": 800, "price": "68.50",
                                         "exchange_org": "exchange"})["listing_id"]
    m.fails("unauthorized", "buyer-steel", "match_trade", {
        "listing_id": lid, "buyer_org": "buyer-steel", "quantity": 500, "price": "68.50",
        "settlement_ref": "AHEX-20231115-0001"})
    trade = m.ok("exchange", "match_trade", {
        "listing_id": lid, "buyer_org": "buyer-steel", "quantity": 500, "price": "68.50",
        "settlement_ref": "AHEX-20231115-0001"})
    assert trade["proceeds"] == [{
        "farmers": "10275.00", "government": "3425.00", "gross": "34250.00",
        "owner": "20550.00", "owner_org": OWNER, "project_id": PROJECT, "quantity": 500,
        "sale": "primary"}]
    m.ok(OWNER, "cancel_listing", {"listing_id": lid})  # 501-800 back to held
    # 9b. off-exchange block transfer to the cement maker, signed by both parties
    # (selection starts at the lowest held unit: 501-1500)
    m.fails("missing_signature", OWNER, "transfer",
            {"from_org": OWNER, "to_org": cement, "quantity": 1000})
    otc = m.ok([OWNER, clerk], "transfer", {"from_org": OWNER, "to_org": cement,
                                            "quantity": 1000, "settlement_ref": "OTC-2023-0042",
                                            "price": "66"})
    # the owner's off-exchange sale is primary: 66000.00 split 60/30/10
    assert [(p["sale"], p["gross"], p["farmers"]) for p in otc["proceeds"]] == [
        ("primary", "66000.00", "19800.00")]
    assert m.count(cement) == 1000  # units 501-1500

    # 10a. compliance: obligation 12 000 t for 2025, cap floor(12000 x 0.05) = 600
    m.ok("regulator", "record_obligation",
         {"enterprise_org": cement, "period": "2025", "obligation_tonnes": 12_000})
    m.ok(clerk, "retire_compliance", {"period": "2025", "quantity": 450})
    m.fails("cap_exceeded", clerk, "retire_compliance", {"period": "2025", "quantity": 151})
    # 10b. voluntary
    m.ok("buyer-steel", "retire_voluntary", {"quantity": 100, "beneficiary": "Ma'anshan Steel",
                                             "reason": "2023 product carbon label"})
    # 11. reversal: a fire destroys stock -> cancel 60 from the buffer pool
    m.ok("regulator", "record_loss_event", {
        "project_id": PROJECT, "quantity": 60, "cause": "fire",
        "evidence_sha256": h256("fire-report-2023-12"), "description": "compartment 7"})
    assert m.count("buffer-pool", "held", PROJECT) == 438
    assert m.get(f"stock/{PLOTS[0]}")["pending_loss"] == 60  # settled by the next report
    m.fails("plot_not_in_project", "regulator", "record_loss_event", {
        "project_id": PROJECT, "quantity": 439, "cause": "pests",
        "evidence_sha256": h256("pests"), "plot_id": "NOT-A-PLOT"})
    # enforcement: freeze, blocked move, unfreeze; invalidate a fraudulent range
    m.ok("regulator", "freeze", {"project_id": PROJECT, "first": 2001, "last": 2100,
                                 "reason": "tenure dispute on compartment 3"})
    m.fails("units_frozen", [OWNER, "buyer-power"], "transfer", {
        "from_org": OWNER, "to_org": "buyer-power", "quantity": 10, "project_id": PROJECT,
        "first": 2001, "last": 2010})
    m.ok("regulator", "unfreeze", {"project_id": PROJECT, "first": 2001, "last": 2100,
                                   "reason": "dispute settled"})
    m.ok("regulator", "invalidate", {"project_id": PROJECT, "first": 2801, "last": 2810,
                                     "reason": "double-counted parcel",
                                     "evidence_sha256": h256("audit")})
    # 12. subsidy: the owner's share 2817 t (not the buffer's 498) x 30 RMB, then its payment
    assert m.ok("regulator", "accrue_subsidy", {"batch_id": "AH-0001-B1"})["amount"] == "84510.00"
    m.fails("already_accrued", "regulator", "accrue_subsidy", {"batch_id": "AH-0001-B1"})
    paid = {"batch_id": "AH-0001-B1", "payment_ref": "XN-FIN-2023-031", "paid_date": "2023-11-15"}
    assert m.ok("regulator", "record_subsidy_paid", paid)["amount"] == "84510.00"
    m.fails("already_paid", "regulator", "record_subsidy_paid", paid)

    # the end: a compliance retirement (reaching the cap) and a voluntary one
    comp = m.ok(clerk, "retire_compliance", {"period": "2025", "quantity": 150})
    assert comp["retired_for_period"] == comp["cap"] == 600
    vol = m.ok("buyer-steel", "retire_voluntary", {
        "quantity": 50, "beneficiary": "Hefei Marathon 2024", "reason": "event footprint"})
    check_invariants(h.state)

    comp_rec = m.get(f"retirement/{comp['retirement_id']}")
    vol_rec = m.get(f"retirement/{vol['retirement_id']}")
    assert comp_rec["ranges"][0]["serial"] == "CCER-AH-0001-2022-000000951-000001100"
    assert vol_rec["ranges"][0]["serial"] == "CCER-AH-0001-2022-000000101-000000150"
    expected_paths = {
        comp_rec["ranges"][0]["first"]: ["issue", "transfer", "retire"],
        501: ["issue", "list", "delist", "transfer", "retire"],
        vol_rec["ranges"][0]["first"]: ["issue", "list", "trade", "retire"],
    }
    for unit, actions in expected_paths.items():
        t = queries.trace(h.state, f"{PROJECT}:{unit}")
        assert [s["action"] for s in t["steps"]] == actions
        assert t["plots"] == PLOTS
        prov = {p["kind"]: p for p in t["provenance"] if p["kind"] != "plot"}
        assert list(prov) == ["batch", "verification", "report", "validation", "registration",
                              "project"]
        assert [p["id"] for p in t["provenance"] if p["kind"] == "plot"] == PLOTS
        # every step back and forward names a committed transaction and its height
        for ref in t["provenance"]:
            tx_at(h, ref["tx_id"], ref["height"])
        methods = [tx_at(h, s["tx_id"], s["height"])["method"] for s in t["steps"]]
        assert methods[0] == "issue" and methods[-1].startswith("retire_")
        assert tx_at(h, prov["verification"]["tx_id"], prov["verification"]["height"])[
            "method"] == "attest_verification"
        assert tx_at(h, prov["validation"]["tx_id"], prov["validation"]["height"])[
            "method"] == "attest_validation"
        assert tx_at(h, prov["registration"]["tx_id"], prov["registration"]["height"])[
            "method"] == "register_project"
        assert t["retirement"]["tx_id"] == t["steps"][-1]["tx_id"]
    # the compliance retirement was signed by the enrolled clerk's key
    last = queries.trace(h.state, f"{PROJECT}:951")["steps"][-1]
    assert tx_at(h, last["tx_id"], last["height"])["signers"] == [h.key(clerk).public_key_hex]

    # conservation and the final picture
    totals = queries.totals(h.state)
    assert totals == {"batches": 1, "buffer": 438, "cancelled": 70, "frozen": 0,
                      "held": 2057, "issued": 3315, "listed": 0, "projects": 1, "retired": 750}
    assert totals["issued"] == sum(totals[k] for k in ("held", "listed", "retired", "cancelled",
                                                       "buffer"))
    assert [r["purpose"] for r in queries.retirements(h.state)["retirements"]] == [
        "compliance", "voluntary", "compliance", "voluntary"]
    assert len(queries.retirements(h.state, enterprise=cement, period="2025")
               ["retirements"]) == 2

    # an auditor replaying the blocks from genesis reaches the same state root
    fresh = Harness()
    for txs, results in h.blocks:
        assert fresh.run_block(txs) == results
    assert fresh.state_root == h.state_root
