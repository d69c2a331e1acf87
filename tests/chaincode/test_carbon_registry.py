"""The carbon registry (lifecycle steps 2-8): plots, PDD, validation, registration,
monitoring reports, verification and issuance, through the real executor."""

from __future__ import annotations

from chaincode.carbon_common import (
    parse_serial_string,
    serial_string,
    validate_date,
)
from chaincode.framework import ChaincodeError
from chaincode.units import BUFFER_ACCOUNT
from tests.support.carbon_registry import (
    ANHUI_RING,
    Flow,
    area_ha,
    h256,
    rect,
    small_ring,
)


def _events(result: dict, kind: str) -> list[dict]:
    return [e for e in result["events"] if e["type"] == kind]


def test_worked_example_from_domain_md_end_to_end() -> None:
    """DOMAIN.md: 100 ha of Chinese fir, V 0 -> 2500 m3, baseline 0 -> 2979 t CO2e."""
    f = Flow()
    assert abs(area_ha(ANHUI_RING) - 100) < 1  # the fixture really is ~100 ha

    res = f.ok("owner-farm", "register_plot", f.plot_args("AH-0001-P01", ANHUI_RING, "100"))
    (event,) = _events(res, "carbon.plot_registered")
    assert event["owner_org"] == "owner-farm" and event["plot_id"] == "AH-0001-P01"
    plot = f.get("plot/AH-0001-P01")
    assert plot["area_m2"] == 999327  # floor of the geodesic area (99.93 ha)
    assert plot["bbox"] == [1172995000, 318000000, 1173113000, 318099000]
    assert plot["project_id"] is None and plot["declared_area_ha"] == "100"
    assert plot["tx_id"] == res["tx_id"] and plot["height"] == f.h.height

    f.ok("owner-farm", "submit_project", f.project_args("AH-0001", ["AH-0001-P01"]))
    assert f.get("plot/AH-0001-P01")["project_id"] == "AH-0001"
    project = f.get("project/AH-0001")
    assert project["status"] == "submitted" and project["next_unit"] == 1
    assert project["benefit_split"] == {"farmers": "0.3", "government": "0.1", "owner": "0.6"}
    assert project["crediting_period_end"] == "2048-01-01"
    assert project["county_code"] == "340122"

    res = f.ok("verifier-a", "attest_validation", f.validation_args("VAL-1", "AH-0001"))
    att = f.get("attestation/VAL-1")
    assert att["kind"] == "validation" and att["accreditation"] == "CNCA-V-001"
    assert att["signer_key"] == f.h.key("verifier-a").public_key_hex
    assert att["subject_sha256"] == f.get("project/AH-0001")["pdd_sha256"]
    assert f.get("project/AH-0001")["status"] == "validated"

    res = f.ok("regulator", "register_project", {"project_id": "AH-0001"})
    project = f.get("project/AH-0001")
    assert project["status"] == "registered"
    assert project["registration"] == {"height": f.h.height, "tx_id": res["tx_id"]}

    res = f.ok(
        "owner-farm",
        "submit_monitoring_report",
        f.report_args("R-2022", "AH-0001", [("AH-0001-P01", "0", "2500")], 2979),
    )
    assert f.h.returned(res) == {"report_id": "R-2022", "issuable": 2979}
    report = f.get("report/R-2022")
    calc = report["calculation"]
    assert calc["plots"][0]["biomass_end"] == "1562.60237"
    assert calc["carbon_end"] == "812.553232"  # 812.5532324 truncated to 6 places
    assert calc["growth"] == "2979.361852"  # above the high-water mark 0
    assert calc["stocks"] == [{
        "end": 2979361852, "fall": 0, "growth": 2979361852, "high_water": 0,
        "high_water_after": 2979361852, "plot_id": "AH-0001-P01", "start": 0}]
    assert calc["issuable"] == 2979 and calc["buffer_rate"] == "0.1"
    assert report["vintage"] == 2022 and report["status"] == "submitted"
    assert report["parameters"]["species"]["chinese_fir"] == {
        "bef": "1.634", "cf": "0.52", "r": "0.246", "wd": "0.307"
    }
    assert f.get("period/AH-0001-P01/2018-01-01") == {
        "created_height": f.h.height, "created_tx_id": res["tx_id"],
        "height": f.h.height, "period_end": "2022-12-31", "report_id": "R-2022", "tx_id": res["tx_id"]
    }

    f.ok("verifier-b", "attest_verification", f.verification_args("VER-1", "R-2022", 2979))
    assert f.get("report/R-2022")["status"] == "verified"
    assert f.get("attestation/VER-1")["verified_quantity"] == 2979

    res = f.ok("regulator", "issue", {"report_id": "R-2022", "batch_id": "B-AH-0001-1"})
    # buffer = ceil(2979 * 0.1) = 298, owner = 2681
    (issued,) = _events(res, "carbon.issued")
    assert issued["serial"] == "CCER-AH-0001-2022-000000001-000002979"
    assert issued["owner_serial"] == "CCER-AH-0001-2022-000000001-000002681"
    assert issued["buffer_serial"] == "CCER-AH-0001-2022-000002682-000002979"
    assert (issued["owner_quantity"], issued["buffer_quantity"]) == (2681, 298)
    batch = f.get("batch/B-AH-0001-1")
    assert (batch["first"], batch["last"], batch["quantity"]) == (1, 2979, 2979)
    assert batch["serial_first"] == "CCER-AH-0001-2022-000000001-000000001"
    assert batch["serial_last"] == "CCER-AH-0001-2022-000002979-000002979"
    owner_range = f.get("unit/AH-0001/000000000001")
    assert (owner_range["account"], owner_range["first"], owner_range["last"]) == ("owner-farm", 1, 2681)
    assert owner_range["state"] == "held" and owner_range["batch_id"] == "B-AH-0001-1"
    buffer_range = f.get("unit/AH-0001/000000002682")
    assert (buffer_range["account"], buffer_range["last"]) == (BUFFER_ACCOUNT, 2979)
    assert f.get("project/AH-0001")["next_unit"] == 2980
    report = f.get("report/R-2022")
    assert report["status"] == "issued" and report["batch_id"] == "B-AH-0001-1"


def test_cf_047_variant_of_the_worked_example_gives_2692() -> None:
    table = {"chinese_fir": {"bef": "1.634", "cf": "0.47", "r": "0.246", "wd": "0.307"}}
    f = Flow(params={"species_table": table})
    f.registered_project(plots=[("P1", ANHUI_RING)])
    f.fails("claim_mismatch", "owner-farm", "submit_monitoring_report",
            f.report_args("R1", "AH-0001", [("P1", "0", "2500")], 2979))
    f.ok("owner-farm", "submit_monitoring_report",
         f.report_args("R1", "AH-0001", [("P1", "0", "2500")], 2692))


def test_serials_continue_across_batches_and_vintages() -> None:
    f = Flow()
    f.registered_project(plots=[("P1", small_ring(0)), ("P2", small_ring(1))])
    f.verified_report("R1", measurements=[("P1", "0", "25.2"), ("P2", "0", "0")], claimed=30,
                      start="2018-01-01", end="2022-12-31")
    f.ok("regulator", "issue", {"report_id": "R1", "batch_id": "B1"})
    f.verified_report("R2", measurements=[("P1", "25.2", "50.4"), ("P2", "0", "10")], claimed=41,
                      start="2023-01-01", end="2023-03-01")
    res = f.ok("regulator", "issue", {"report_id": "R2", "batch_id": "B2"})
    (issued,) = _events(res, "carbon.issued")
    # 41 t: buffer ceil(4.1) = 5, owner 36, units 31..71
    assert issued["owner_serial"] == "CCER-AH-0001-2023-000000031-000000066"
    assert issued["buffer_serial"] == "CCER-AH-0001-2023-000000067-000000071"
    assert f.get("project/AH-0001")["next_unit"] == 72


def test_issue_uses_the_verified_quantity_and_risk_rating_buffer_rate() -> None:
    f = Flow()
    f.registered_project(risk_rating="high")
    f.verified_report(claimed=30, verified=21)
    res = f.ok("regulator", "issue", {"report_id": "R1", "batch_id": "B1"})
    (issued,) = _events(res, "carbon.issued")
    # high: 0.2 -> buffer ceil(4.2) = 5, owner 16
    assert (issued["quantity"], issued["owner_quantity"], issued["buffer_quantity"]) == (21, 16, 5)
    assert f.get("batch/B1")["buffer_rate"] == "0.2"


def test_full_buffer_rate_issues_only_a_buffer_range() -> None:
    f = Flow(params={"buffer_rates": {"high": "1", "low": "1", "medium": "1"}})
    f.registered_project()
    f.verified_report()
    res = f.ok("regulator", "issue", {"report_id": "R1", "batch_id": "B1"})
    (issued,) = _events(res, "carbon.issued")
    assert issued["owner_serial"] is None and issued["owner_quantity"] == 0
    assert f.get("unit/AH-0001/000000000001")["account"] == BUFFER_ACCOUNT


def test_touching_plots_of_different_owners_do_not_overlap() -> None:
    f = Flow()
    f.ok("owner-farm", "register_plot", f.plot_args("P1", small_ring(0)))
    f.ok("coop", "register_plot", f.plot_args("P2", small_ring(1)))  # shares an edge
    f.ok("coop", "register_plot", f.plot_args("P3", small_ring(1, 1)))  # shares a corner with P1


def test_spatial_index_keys_cover_the_bounding_box_cells() -> None:
    f = Flow()
    f.ok("owner-farm", "register_plot", f.plot_args("AH-P", ANHUI_RING, "100"))
    keys = sorted(k for k, _ in f.h.state.items() if k.startswith("plotqt/"))
    # lon 117.2995..117.3113 -> cells 11729..11731; lat 31.8000..31.8099 -> cell 3180; the
    # box is wider than half a cell, so it is stored at the top of each cell's tree
    assert keys == ["plotqt/11729:3180/q/AH-P", "plotqt/11730:3180/q/AH-P",
                    "plotqt/11731:3180/q/AH-P"]
    assert f.get("plotqt/11730:3180/q/AH-P") == {
        "bbox": [1172995000, 318000000, 1173113000, 318099000], "plot_id": "AH-P"
    }


def test_overlap_found_through_a_neighbouring_cell() -> None:
    """A plot spanning a cell boundary is found from every cell it touches."""
    f = Flow()
    # 117.4097..117.4103: straddles the lon cell boundary at 117.41
    straddle = rect(1174097000, 318005000, 6000, 6000)
    f.ok("owner-farm", "register_plot", f.plot_args("S", straddle))
    # 6,000 units wide: depth 3 (side 12,500 >= 2 x 6,000); its centre is on the border,
    # so in the west cell it is clamped to the east edge (quadrants 1, 1, 1), in the east
    # cell to the west edge (quadrants 0, 0, 0)
    assert f.get("plotqt/11740:3180/q111/S") is not None
    assert f.get("plotqt/11741:3180/q000/S") is not None
    # entirely in the east cell, overlapping S's eastern half
    east = rect(1174100000, 318006000, 2500, 2500)
    f.fails("plot_overlap", "coop", "register_plot", f.plot_args("E", east))


def test_same_owner_may_re_survey_an_unassigned_plot_but_not_put_both_in_projects() -> None:
    f = Flow()
    f.ok("owner-farm", "register_plot", f.plot_args("P1", small_ring(0)))
    f.ok("owner-farm", "register_plot", f.plot_args("P1b", rect(1174000000, 318000000, 10_500, 10_000)))
    f.fails("plot_overlap", "owner-farm", "submit_project", f.project_args("X", ["P1", "P1b"]))
    f.ok("owner-farm", "submit_project", f.project_args("X", ["P1"]))
    f.fails("plot_overlap", "owner-farm", "submit_project", f.project_args("Y", ["P1b"]))
    # and no new plot may overlap a plot that is in a project, even the same owner's
    f.fails("plot_overlap", "owner-farm", "register_plot", f.plot_args("P1c", small_ring(0)))


def test_custom_benefit_split_is_stored() -> None:
    f = Flow()
    f.ok("owner-farm", "register_plot", f.plot_args("P1", small_ring(0)))
    split = {"farmers": "0.25", "government": "0.05", "owner": "0.7"}
    f.ok("owner-farm", "submit_project", f.project_args("X", ["P1"], benefit_split=split))
    assert f.get("project/X")["benefit_split"] == split


def test_negative_validation_is_recorded_but_does_not_validate() -> None:
    f = Flow()
    f.ok("owner-farm", "register_plot", f.plot_args("P1", small_ring(0)))
    f.ok("owner-farm", "submit_project", f.project_args("X", ["P1"]))
    res = f.ok("verifier-a", "attest_validation", f.validation_args("V-NEG", "X", positive=False))
    assert _events(res, "carbon.validation_attested")[0]["positive"] is False
    assert f.get("attestation/V-NEG")["positive"] is False
    assert f.get("project/X")["status"] == "submitted"
    f.fails("not_validated", "regulator", "register_project", {"project_id": "X"})
    f.ok("verifier-b", "attest_validation", f.validation_args("V-POS", "X"))
    f.ok("regulator", "register_project", {"project_id": "X"})


def test_revised_pdd_voids_the_validation() -> None:
    f = Flow()
    f.ok("owner-farm", "register_plot", f.plot_args("P1", small_ring(0)))
    f.ok("owner-farm", "submit_project", f.project_args("X", ["P1"]))
    f.ok("verifier-a", "attest_validation", f.validation_args("V1", "X"))
    f.ok("owner-farm", "revise_pdd", {"project_id": "X", "pdd_sha256": h256("pdd v2")})
    project = f.get("project/X")
    assert project["status"] == "submitted" and project["validation_attestation"] is None
    f.fails("not_validated", "regulator", "register_project", {"project_id": "X"})
    f.fails("hash_mismatch", "verifier-a", "attest_validation", f.validation_args("V2", "X"))
    f.ok("verifier-a", "attest_validation", f.validation_args("V2", "X", pdd_sha256=h256("pdd v2")))
    f.ok("regulator", "register_project", {"project_id": "X"})


def test_comment_window_blocks_registration_until_it_has_ended() -> None:
    # harness blocks are at 2023-11-14T22:13Z, i.e. 2023-11-15 in China Standard Time
    f = Flow()
    f.ok("owner-farm", "register_plot", f.plot_args("P1", small_ring(0)))
    window = {"start_date": "2023-10-16", "end_date": "2023-11-15"}
    f.ok("owner-farm", "submit_project", f.project_args("X", ["P1"], comment_window=window))
    assert f.get("project/X")["comment_window"] == window
    f.ok("verifier-a", "attest_validation", f.validation_args("V1", "X"))
    f.fails("comment_window_open", "regulator", "register_project", {"project_id": "X"})
    res = f.ok("regulator", "record_comment_window",
               {"project_id": "X", "start_date": "2023-10-14", "end_date": "2023-11-14"})
    assert _events(res, "carbon.comment_window_recorded")[0]["end_date"] == "2023-11-14"
    f.ok("regulator", "register_project", {"project_id": "X"})


def test_owner_records_a_comment_window() -> None:
    f = Flow()
    f.ok("owner-farm", "register_plot", f.plot_args("P1", small_ring(0)))
    f.ok("owner-farm", "submit_project", f.project_args("X", ["P1"]))
    f.ok("owner-farm", "record_comment_window",
         {"project_id": "X", "start_date": "2023-01-02", "end_date": "2023-01-31"})
    assert f.get("project/X")["comment_window"] == {"end_date": "2023-01-31", "start_date": "2023-01-02"}


def test_adjacent_monitoring_periods_are_accepted() -> None:
    f = Flow()
    f.registered_project()
    f.verified_report("R1", start="2018-01-01", end="2020-12-31")
    f.verified_report("R2", measurements=[("P1", "25.2", "50.4")], start="2021-01-01", end="2022-12-31")
    assert f.get("period/P1/2021-01-01")["report_id"] == "R2"


def test_withdrawn_report_frees_its_periods() -> None:
    f = Flow()
    f.registered_project()
    args = f.report_args("R1", "AH-0001", [("P1", "0", "25.2")], 30)
    f.ok("owner-farm", "submit_monitoring_report", args)
    f.ok("owner-farm", "withdraw_report", {"report_id": "R1"})
    assert f.get("report/R1")["status"] == "withdrawn"
    assert f.get("period/P1/2018-01-01") is None
    f.ok("owner-farm", "submit_monitoring_report", dict(args, report_id="R1b"))


def test_uncertainty_deduction_defaults_to_the_regulators_minimum() -> None:
    f = Flow(params={"uncertainty_deduction": "0.1"})
    f.registered_project(plots=[("P1", ANHUI_RING)])
    # floor(2979.361852 * 0.9) = 2681
    f.ok("owner-farm", "submit_monitoring_report",
         f.report_args("R1", "AH-0001", [("P1", "0", "2500")], 2681))
    assert f.get("report/R1")["parameters"]["uncertainty_deduction"] == "0.1"
    f.ok("verifier-b", "attest_verification", f.verification_args("VER-1", "R1", 2681))
    params = {"leakage": "0", "project_emissions": "105", "uncertainty_deduction": "0.2"}
    # floor((2979.361852 - 105) * 0.8) = 2299
    f.ok("owner-farm", "submit_monitoring_report",
         f.report_args("R2", "AH-0001", [("P1", "2500", "5000")], 2299, parameters=params,
                       start="2023-01-01", end="2023-03-01"))


def test_verified_zero_report_cannot_be_issued_but_is_closed() -> None:
    f = Flow()
    f.registered_project()
    f.verified_report(verified=0)
    f.fails("nothing_to_issue", "regulator", "issue", {"report_id": "R1", "batch_id": "B1"})


def test_same_transactions_give_the_same_state_root() -> None:
    roots = []
    for _ in range(2):
        f = Flow()
        f.registered_project(plots=[("P1", small_ring(0)), ("P2", small_ring(2))])
        f.verified_report(measurements=[("P1", "0", "10"), ("P2", "0", "15.2")], claimed=30)
        f.ok("regulator", "issue", {"report_id": "R1", "batch_id": "B1"})
        roots.append(f.h.state_root)
    assert roots[0] == roots[1]


def test_serial_helpers_round_trip() -> None:
    s = serial_string("AH-0001", 2024, 1501, 1800)
    assert s == "CCER-AH-0001-2024-000001501-000001800"
    assert parse_serial_string(s) == ("AH-0001", 2024, 1501, 1800)
    assert parse_serial_string("CCER-AH-0001-2024-000001801-000001800") is None
    assert parse_serial_string("AH-0001:1501") is None


def test_validate_date_is_exact() -> None:
    assert validate_date("2024-02-29", "d") == "2024-02-29"
    for bad in ("2023-02-29", "1900-02-29", "2023-13-01", "2023-04-31", "2023-1-01",
                "2023-01-01 ", "0000-01-01", "２０２３-01-01", 20230101):
        try:
            validate_date(bad, "d")
        except ChaincodeError as exc:
            assert exc.code == "invalid_date"
        else:
            raise AssertionError(f"{bad!r} accepted")
    assert validate_date("2000-02-29", "d") == "2000-02-29"


def test_species_parameters_come_from_the_ledger_table_in_force() -> None:
    f = Flow()
    f.registered_project(plots=[("P1", ANHUI_RING)])
    table = {
        "chinese_fir": {"bef": "1.634", "cf": "0.47", "r": "0.246", "wd": "0.307"},
        "eucalyptus": {"bef": "1.263", "cf": "0.525", "r": "0.221", "wd": "0.578"},
    }
    f.h.ok("regulator", "params", "set_param", {"name": "species_table", "value": table})
    f.fails("claim_mismatch", "owner-farm", "submit_monitoring_report",
            f.report_args("R1", "AH-0001", [("P1", "0", "2500")], 2979))
    f.ok("owner-farm", "submit_monitoring_report",
         f.report_args("R1", "AH-0001", [("P1", "0", "2500")], 2692))
    assert f.get("report/R1")["parameters"]["species"]["chinese_fir"]["cf"] == "0.47"


def test_issue_applies_the_buffer_rate_in_force_at_issuance() -> None:
    f = Flow()
    f.registered_project()
    f.verified_report(claimed=30)
    assert f.get("report/R1")["calculation"]["to_buffer"] == 3  # 0.1 at submission
    f.h.ok("regulator", "params", "set_param",
           {"name": "buffer_rates", "value": {"high": "0.25", "low": "0.15", "medium": "0.2"}})
    f.ok("regulator", "issue", {"report_id": "R1", "batch_id": "B1"})
    batch = f.get("batch/B1")
    # ceil(30 * 0.15) = 5
    assert (batch["buffer_rate"], batch["buffer_quantity"], batch["owner_quantity"]) == ("0.15", 5, 25)
