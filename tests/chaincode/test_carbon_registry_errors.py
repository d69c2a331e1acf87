"""Every refusal of the carbon registry: a stable code, a message, and no state change
(``Harness.fails`` asserts the state is byte-for-byte unchanged)."""

from __future__ import annotations

import pytest

from tests.support.carbon_registry import ANHUI_RING, Flow, h256, polygon, rect, small_ring

# -- register_plot -------------------------------------------------------------------------


def test_register_plot_needs_the_owner_role() -> None:
    f = Flow()
    for org in ("buyer-steel", "verifier-a", "regulator"):
        f.fails("unauthorized", org, "register_plot", f.plot_args("P1", small_ring(0)))


def test_plot_id_is_unique() -> None:
    f = Flow()
    f.ok("owner-farm", "register_plot", f.plot_args("P1", small_ring(0)))
    res = f.fails("plot_exists", "coop", "register_plot", f.plot_args("P1", small_ring(5)))
    assert "P1" in res["message"]


@pytest.mark.parametrize(
    ("poly", "code"),
    [
        ({"type": "Point", "coordinates": [1, 2]}, "malformed_polygon"),
        ({"type": "Polygon", "coordinates": []}, "malformed_polygon"),
        # a bow tie
        (polygon([[1174000000, 318000000], [1174010000, 318010000],
                  [1174010000, 318000000], [1174000000, 318010000]]), "self_intersecting_polygon"),
        ({"type": "Polygon", "coordinates": [
            [[1174000000, 318000000], [1174010000, 318000000], [1174010000, 318010000],
             [1174000000, 318000000]],
            [[1174001000, 318001000], [1174002000, 318001000], [1174002000, 318002000],
             [1174001000, 318001000]]]}, "polygon_has_holes"),
        ({"type": "Polygon", "coordinates": [[[1174000000, 318000000], [1174010000, 318000000],
                                              [1174010000, 318010000], [1174000000, 318010001]]]},
         "ring_not_closed"),
        (polygon([[1174000000, 318000000], [1174010000, 318000000], [1174020000, 318000000]]),
         "zero_area_polygon"),
        (polygon([[1174000000, 318000000], [1_800_000_001, 318000000], [1174010000, 318010000]]),
         "coordinate_out_of_range"),
        (polygon([[1174000000, 318000000], [1174010000, "318000000"], [1174010000, 318010000]]),
         "invalid_coordinate"),
        (polygon([[1174000000, 318000000], [1174010000, 318000000]]), "too_few_positions"),
        (polygon([[1174000000, 318000000], [1174010000, 318000000], [1174010000, 318000000],
                  [1174010000, 318010000]]), "repeated_point"),
        (polygon([[1174000000 + i, 318000000 + (i % 2)] for i in range(1001)]), "too_many_positions"),
    ],
)
def test_malformed_polygons_propagate_geometry_codes(poly: dict, code: str) -> None:
    f = Flow()
    args = f.plot_args("P1", small_ring(0))
    args["polygon"] = poly
    f.fails(code, "owner-farm", "register_plot", args)


def test_plot_dates_species_and_evidence() -> None:
    f = Flow()
    ring = small_ring(0)
    f.fails("invalid_date", "owner-farm", "register_plot", f.plot_args("P1", ring, planting_date="2023-02-29"))
    f.fails("invalid_date", "owner-farm", "register_plot", f.plot_args("P1", ring, planting_date="12-03-2018"))
    res = f.fails("unknown_species", "owner-farm", "register_plot", f.plot_args("P1", ring, species="poplar"))
    assert "poplar" in res["message"]
    res = f.fails("non_forest_years", "owner-farm", "register_plot",
                  f.plot_args("P1", ring, non_forest_evidence={"sha256": h256("e"), "years": 2}))
    assert "at least 3" in res["message"]


def test_plot_schema_refusals() -> None:
    f = Flow()
    ring = small_ring(0)
    bad = [
        f.plot_args("P1", ring, county_code="34012"),
        f.plot_args("P1", ring, declared_area_ha="1e2"),
        f.plot_args("P1", ring, declared_area_ha="-1"),
        f.plot_args("P1", ring, tenure={"doc_type": "deed", "doc_number": "1", "scan_sha256": h256("s")}),
        f.plot_args("P1", ring, tenure={"doc_type": "land_contract", "doc_number": "1", "scan_sha256": "ab"}),
        dict(f.plot_args("P1", ring), extra=1),
    ]
    for args in bad:
        f.fails("invalid_args", "owner-farm", "register_plot", args)


def test_parcel_smaller_than_400_m2_is_refused() -> None:
    f = Flow()
    tiny = rect(1174000000, 318000000, 2000, 1700)  # about 19 m x 19 m = 357 m2
    res = f.fails("parcel_too_small", "owner-farm", "register_plot", f.plot_args("T", tiny, "0.0357"))
    assert "400" in res["message"]
    f.ok("owner-farm", "register_plot", f.plot_args("T", rect(1174000000, 318000000, 2200, 2000)))


def test_declared_area_must_match_within_the_tolerance() -> None:
    f = Flow()
    # geodesic area 99.9328 ha; tolerance 5 % of it: 94.936..104.929
    for declared in ("94.9", "105", "10"):
        res = f.fails("area_mismatch", "owner-farm", "register_plot",
                      f.plot_args("AH", ANHUI_RING, declared))
        assert "99.9327 ha" in res["message"]
    f.ok("owner-farm", "register_plot", f.plot_args("AH", ANHUI_RING, "104.9"))


def test_overlap_with_another_owners_unassigned_plot() -> None:
    f = Flow()
    f.ok("owner-farm", "register_plot", f.plot_args("P1", small_ring(0)))
    shifted = rect(1174005000, 318005000, 10_000, 10_000)
    res = f.fails("plot_overlap", "coop", "register_plot", f.plot_args("Q", shifted))
    assert "P1" in res["message"] and "owner-farm" in res["message"]
    inside = rect(1174002000, 318002000, 3000, 3000)
    f.fails("plot_overlap", "coop", "register_plot", f.plot_args("Q", inside))


def test_overlap_with_a_plot_of_a_project() -> None:
    f = Flow()
    f.registered_project("AH-0001")
    res = f.fails("plot_overlap", "coop", "register_plot", f.plot_args("Q", small_ring(0)))
    assert "project AH-0001" in res["message"]


def test_huge_plot_is_refused() -> None:
    f = Flow()
    huge = rect(1170000000, 310000000, 6_000_000, 6_000_000)  # 0.6 x 0.6 degree
    f.fails("plot_too_large", "owner-farm", "register_plot", f.plot_args("H", huge))


# -- submit_project ------------------------------------------------------------------------


@pytest.fixture
def f1() -> Flow:
    """owner-farm with plot P1, coop with plot C1; no project."""
    f = Flow()
    f.ok("owner-farm", "register_plot", f.plot_args("P1", small_ring(0)))
    f.ok("coop", "register_plot", f.plot_args("C1", small_ring(4)))
    return f


def test_submit_project_refusals(f1: Flow) -> None:
    f = f1
    pa = f.project_args
    f.fails("unauthorized", "verifier-a", "submit_project", pa("X", ["P1"]))
    f.fails("unknown_methodology", "owner-farm", "submit_project", pa("X", ["P1"], methodology="VCS-VM0047"))
    f.fails("invalid_date", "owner-farm", "submit_project", pa("X", ["P1"], start_date="2018-02-30"))
    res = f.fails("invalid_crediting_period", "owner-farm", "submit_project",
                  pa("X", ["P1"], crediting_period_years=19))
    assert "20..40" in res["message"]
    f.fails("invalid_crediting_period", "owner-farm", "submit_project", pa("X", ["P1"], crediting_period_years=41))
    f.fails("duplicate_plot", "owner-farm", "submit_project", pa("X", ["P1", "P1"]))
    f.fails("unknown_plot", "owner-farm", "submit_project", pa("X", ["P1", "NOPE"]))
    res = f.fails("wrong_owner", "owner-farm", "submit_project", pa("X", ["P1", "C1"]))
    assert "coop" in res["message"]
    f.fails("invalid_args", "owner-farm", "submit_project", pa("X", []))
    f.fails("invalid_args", "owner-farm", "submit_project", pa("X", ["P1"], risk_rating="Low"))
    f.fails("unknown_risk_rating", "owner-farm", "submit_project", pa("X", ["P1"], risk_rating="extreme"))
    f.fails("invalid_period", "owner-farm", "submit_project",
            pa("X", ["P1"], comment_window={"start_date": "2023-02-01", "end_date": "2023-01-31"}))
    f.fails("invalid_date", "owner-farm", "submit_project",
            pa("X", ["P1"], comment_window={"start_date": "2023-02-01", "end_date": "2023-02-31"}))


@pytest.mark.parametrize(
    "split",
    [
        {"farmers": "0.3", "government": "0.1", "owner": "0.59"},
        {"farmers": "0.3", "government": "0.1", "owner": "0.600001"},
        {"farmers": "0.5", "government": "0.5", "owner": "0.5"},
    ],
)
def test_benefit_split_must_sum_exactly_to_one(f1: Flow, split: dict) -> None:
    res = f1.fails("bad_split", "owner-farm", "submit_project", f1.project_args("X", ["P1"], benefit_split=split))
    assert "sum" in res["message"]


def test_risk_rating_needs_a_buffer_rate(f1: Flow) -> None:
    res = f1.fails("unknown_risk_rating", "owner-farm", "submit_project",
                   f1.project_args("X", ["P1"], risk_rating="very_high"))
    assert "high, low, medium" in res["message"]
    f1.h.ok("regulator", "params", "set_param", {
        "name": "buffer_rates",
        "value": {"high": "0.2", "low": "0.1", "medium": "0.15", "very_high": "0.3"},
    })
    f1.ok("owner-farm", "submit_project", f1.project_args("X", ["P1"], risk_rating="very_high"))


def test_project_id_unique_and_plot_in_one_project_only(f1: Flow) -> None:
    f = f1
    f.ok("owner-farm", "register_plot", f.plot_args("P2", small_ring(1)))
    f.ok("owner-farm", "submit_project", f.project_args("X", ["P1"]))
    f.fails("project_exists", "owner-farm", "submit_project", f.project_args("X", ["P2"]))
    res = f.fails("plot_in_project", "owner-farm", "submit_project", f.project_args("Y", ["P2", "P1"]))
    assert "project X" in res["message"]


def test_overlap_rechecked_when_plots_join_a_project() -> None:
    f = Flow()
    f.ok("owner-farm", "register_plot", f.plot_args("A", small_ring(0)))
    f.ok("owner-farm", "register_plot", f.plot_args("B", rect(1174005000, 318000000, 10_000, 10_000)))
    res = f.fails("plot_overlap", "owner-farm", "submit_project", f.project_args("X", ["A", "B"]))
    assert "overlaps" in res["message"]
    f.ok("owner-farm", "submit_project", f.project_args("X", ["A"]))
    res = f.fails("plot_overlap", "owner-farm", "submit_project", f.project_args("Y", ["B"]))
    assert "project X" in res["message"]


# -- revise_pdd / record_comment_window ----------------------------------------------------


def test_revise_pdd_refusals(f1: Flow) -> None:
    f = f1
    f.ok("owner-farm", "submit_project", f.project_args("X", ["P1"]))
    args = {"project_id": "X", "pdd_sha256": h256("v2")}
    f.fails("unknown_project", "owner-farm", "revise_pdd", dict(args, project_id="NOPE"))
    f.fails("wrong_owner", "coop", "revise_pdd", args)
    f.fails("unauthorized", "regulator", "revise_pdd", args)
    f.fails("unchanged", "owner-farm", "revise_pdd", dict(args, pdd_sha256=h256("pdd:X")))
    f.ok("verifier-a", "attest_validation", f.validation_args("V1", "X"))
    f.ok("regulator", "register_project", {"project_id": "X"})
    f.fails("already_registered", "owner-farm", "revise_pdd", args)


def test_record_comment_window_refusals(f1: Flow) -> None:
    f = f1
    f.ok("owner-farm", "submit_project", f.project_args("X", ["P1"]))
    args = {"project_id": "X", "start_date": "2023-01-02", "end_date": "2023-01-31"}
    f.fails("unknown_project", "owner-farm", "record_comment_window", dict(args, project_id="NOPE"))
    f.fails("unauthorized", "buyer-steel", "record_comment_window", args)
    f.fails("wrong_owner", "coop", "record_comment_window", args)
    f.fails("invalid_date", "owner-farm", "record_comment_window", dict(args, end_date="2023-01-32"))
    f.fails("invalid_period", "regulator", "record_comment_window", dict(args, end_date="2023-01-01"))
    f.ok("verifier-a", "attest_validation", f.validation_args("V1", "X"))
    f.ok("regulator", "register_project", {"project_id": "X"})
    f.fails("already_registered", "regulator", "record_comment_window", args)


# -- attest_validation / register_project --------------------------------------------------

EXTRA_ORGS = {
    # a verifier whose accreditation the tests revoke or let expire
    "verifier-x": (["verifier"], "CNCA-V-003"),
    # an organisation that is both owner and (accredited) verifier
    "forest-lab": (["owner", "verifier"], "CNCA-V-009"),
}


def _revoke(f: Flow, org: str) -> None:
    f.h.ok("regulator", "membership", "set_accreditation", {"org_id": org, "action": "revoke"})


def test_attest_validation_refusals() -> None:
    f = Flow(orgs=EXTRA_ORGS)
    _revoke(f, "verifier-x")
    f.ok("owner-farm", "register_plot", f.plot_args("P1", small_ring(0)))
    f.ok("owner-farm", "submit_project", f.project_args("X", ["P1"]))
    f.ok("forest-lab", "register_plot", f.plot_args("L1", small_ring(2)))
    f.ok("forest-lab", "submit_project", f.project_args("LAB", ["L1"]))
    va = f.validation_args
    f.fails("unauthorized", "owner-farm", "attest_validation", va("V1", "X"))
    f.fails("unauthorized", "regulator", "attest_validation", va("V1", "X"))
    res = f.fails("not_accredited", "verifier-x", "attest_validation", va("V1", "X"))
    assert "verifier-x" in res["message"]
    res = f.fails("self_attestation", "forest-lab", "attest_validation", va("V1", "LAB"))
    assert "forest-lab" in res["message"]
    f.fails("unknown_project", "verifier-a", "attest_validation", va("V1", "NOPE"))
    res = f.fails("hash_mismatch", "verifier-a", "attest_validation", va("V1", "X", pdd_sha256=h256("other")))
    assert h256("pdd:X") in res["message"]
    f.fails("invalid_date", "verifier-a", "attest_validation", va("V1", "X", site_visit_date="2018-06-31"))
    # forest-lab may attest a project it does not own
    f.ok("forest-lab", "attest_validation", va("V1", "X"))
    f.fails("attestation_exists", "verifier-a", "attest_validation", va("V1", "X"))
    f.ok("regulator", "register_project", {"project_id": "X"})
    f.fails("already_registered", "verifier-a", "attest_validation", va("V2", "X"))


def test_register_project_refusals(f1: Flow) -> None:
    f = f1
    f.ok("owner-farm", "submit_project", f.project_args("X", ["P1"]))
    f.fails("unknown_project", "regulator", "register_project", {"project_id": "NOPE"})
    res = f.fails("not_validated", "regulator", "register_project", {"project_id": "X"})
    assert "no positive validation" in res["message"]
    f.ok("verifier-a", "attest_validation", f.validation_args("V1", "X"))
    f.fails("unauthorized", "owner-farm", "register_project", {"project_id": "X"})
    f.fails("unauthorized", "verifier-a", "register_project", {"project_id": "X"})
    f.ok("regulator", "register_project", {"project_id": "X"})
    f.fails("already_registered", "regulator", "register_project", {"project_id": "X"})


def test_registration_needs_a_verifier_still_accredited(f1: Flow) -> None:
    f = f1
    f.ok("owner-farm", "submit_project", f.project_args("X", ["P1"]))
    f.ok("verifier-a", "attest_validation", f.validation_args("V1", "X"))
    _revoke(f, "verifier-a")
    res = f.fails("not_validated", "regulator", "register_project", {"project_id": "X"})
    assert "CNCA-V-001" in res["message"]


def test_expired_accreditation_cannot_attest() -> None:
    f = Flow(orgs=EXTRA_ORGS)
    f.ok("owner-farm", "register_plot", f.plot_args("P1", small_ring(0)))
    f.ok("owner-farm", "submit_project", f.project_args("X", ["P1"]))
    # valid until the next block's time: in force for that block only
    f.h.ok("regulator", "membership", "set_accreditation",
           {"org_id": "verifier-x", "action": "renew", "valid_until": f.h.time + 3000})
    f.ok("verifier-x", "attest_validation", f.validation_args("V1", "X"))
    f.h.run_block([])
    f.fails("not_accredited", "verifier-x", "attest_validation",
            f.validation_args("V2", "X", positive=False))
    # an expiry after the attestation does not undo it
    f.ok("regulator", "register_project", {"project_id": "X"})


def test_issue_needs_the_verifier_still_accredited(f1: Flow) -> None:
    f = f1
    f.registered_project("AH-0001", plots=[("P2", small_ring(2))])
    f.verified_report("R1", measurements=[("P2", "0", "25.2")])
    _revoke(f, "verifier-b")
    res = f.fails("not_verified", "regulator", "issue", {"report_id": "R1", "batch_id": "B1"})
    assert "CNCA-V-002" in res["message"]


# -- submit_monitoring_report --------------------------------------------------------------


@pytest.fixture
def f2() -> Flow:
    """Registered project AH-0001 of owner-farm with plots P1, P2; coop's registered C-1 with C1."""
    f = Flow()
    f.registered_project("AH-0001", plots=[("P1", small_ring(0)), ("P2", small_ring(1))])
    f.registered_project("C-1", plots=[("C1", small_ring(6))], owner="coop")
    return f


def _report(f: Flow, claimed: int = 30, **over: object) -> dict:
    """R1 over every plot of AH-0001: P1 grows 0 -> 25.2 m3 (30 t), P2 (if any) stays at 0."""
    rows = [("P1", "0", "25.2")]
    if "P2" in f.get("project/AH-0001")["plots"]:
        rows.append(("P2", "0", "0"))
    return f.report_args("R1", "AH-0001", rows, claimed, **over)


def test_report_role_ownership_and_registration(f2: Flow) -> None:
    f = f2
    f.fails("unauthorized", "verifier-a", "submit_monitoring_report", _report(f))
    f.fails("wrong_owner", "coop", "submit_monitoring_report", _report(f))
    f.fails("unknown_project", "owner-farm", "submit_monitoring_report",
            f.report_args("R1", "NOPE", [("P1", "0", "25.2")], 30))
    f.ok("owner-farm", "register_plot", f.plot_args("P9", small_ring(9)))
    f.ok("owner-farm", "submit_project", f.project_args("UNREG", ["P9"]))
    f.fails("project_not_registered", "owner-farm", "submit_monitoring_report",
            f.report_args("R1", "UNREG", [("P9", "0", "25.2")], 30))


def test_report_dates_and_periods(f2: Flow) -> None:
    f = f2
    f.fails("invalid_date", "owner-farm", "submit_monitoring_report", _report(f, start="2018-00-01"))
    f.fails("invalid_date", "owner-farm", "submit_monitoring_report", _report(f, end="2022-12-32"))
    res = f.fails("invalid_period", "owner-farm", "submit_monitoring_report",
                  _report(f, start="2020-01-01", end="2020-01-01"))
    assert "start before it ends" in res["message"]
    f.fails("invalid_period", "owner-farm", "submit_monitoring_report",
            _report(f, start="2021-01-01", end="2020-12-31"))
    f.fails("outside_crediting_period", "owner-farm", "submit_monitoring_report",
            _report(f, start="2017-12-31"))
    # crediting period 2018-01-01 + 30 years: the last day is 2047-12-31
    f.fails("outside_crediting_period", "owner-farm", "submit_monitoring_report",
            _report(f, start="2047-01-01", end="2048-01-01"))
    # the block is dated 2023-11-15 (China Standard Time): no period may end after it
    res = f.fails("period_in_future", "owner-farm", "submit_monitoring_report",
                  _report(f, start="2023-01-01", end="2023-11-16"))
    assert "2023-11-16" in res["message"] and "block's date" in res["message"]
    f.ok("owner-farm", "submit_monitoring_report", _report(f, start="2023-01-01", end="2023-11-15"))


def test_report_measurement_refusals(f2: Flow) -> None:
    f = f2
    ra = f.report_args
    f.fails("unknown_plot", "owner-farm", "submit_monitoring_report", ra("R1", "AH-0001", [("NOPE", "0", "1")], 1))
    res = f.fails("plot_not_in_project", "owner-farm", "submit_monitoring_report",
                  ra("R1", "AH-0001", [("C1", "0", "25.2")], 30))
    assert "C1" in res["message"]
    res = f.fails("species_mismatch", "owner-farm", "submit_monitoring_report",
                  ra("R1", "AH-0001", [("P1", "0", "25.2")], 30, species="eucalyptus"))
    assert "chinese_fir" in res["message"]
    f.fails("duplicate_measurement", "owner-farm", "submit_monitoring_report",
            ra("R1", "AH-0001", [("P1", "0", "10"), ("P1", "0", "15.2"), ("P2", "0", "0")], 30))
    f.fails("invalid_args", "owner-farm", "submit_monitoring_report",
            ra("R1", "AH-0001", [("P1", "0", "-25.2")], 30))
    f.fails("invalid_args", "owner-farm", "submit_monitoring_report",
            ra("R1", "AH-0001", [("P1", "0", "25.2")], -1))
    f.fails("invalid_args", "owner-farm", "submit_monitoring_report", ra("R1", "AH-0001", [], 0))


def test_claim_mismatch_names_computed_and_claimed(f2: Flow) -> None:
    f = f2
    res = f.fails("claim_mismatch", "owner-farm", "submit_monitoring_report", _report(f, claimed=31))
    assert "computes 30" in res["message"] and "claims 31" in res["message"]
    # the submitter cannot bring its own species parameters
    args = _report(f)
    args["parameters"] = dict(args["parameters"], species_table={"chinese_fir": {"wd": "9"}})
    f.fails("invalid_args", "owner-farm", "submit_monitoring_report", args)


def test_report_parameter_refusals() -> None:
    f = Flow(params={"uncertainty_deduction": "0.05"})
    f.registered_project()
    params = {"baseline": "0", "leakage": "0", "project_emissions": "0", "uncertainty_deduction": "0.04"}
    res = f.fails("invalid_parameter", "owner-farm", "submit_monitoring_report", _report(f, parameters=params))
    assert "minimum" in res["message"]
    params["uncertainty_deduction"] = "1.5"
    f.fails("invalid_parameter", "owner-farm", "submit_monitoring_report", _report(f, parameters=params))
    params["uncertainty_deduction"] = "0.0000001"
    f.fails("invalid_args", "owner-farm", "submit_monitoring_report", _report(f, parameters=params))


def test_report_id_unique(f2: Flow) -> None:
    f = f2
    f.ok("owner-farm", "submit_monitoring_report", _report(f, start="2018-01-01", end="2019-12-31"))
    f.fails("report_exists", "owner-farm", "submit_monitoring_report",
            f.report_args("R1", "AH-0001", [("P2", "0", "25.2")], 30))


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2018-01-01", "2022-12-31"),  # the same period
        ("2022-12-31", "2023-06-30"),  # shares the last day
        ("2019-06-01", "2019-07-01"),  # inside it
        ("2018-01-01", "2023-01-01"),  # contains it
        ("2017-06-01", "2017-12-31"),  # before it (and before the project: crediting first)
    ],
)
def test_period_must_start_after_the_last_verified_period(f2: Flow, start: str, end: str) -> None:
    f = f2
    f.verified_report("R1", measurements=[("P1", "0", "25.2"), ("P2", "0", "0")])
    args = f.report_args("R2", "AH-0001", [("P1", "25.2", "50.4"), ("P2", "0", "0")], 30,
                         start=start, end=end)
    if start < "2018-01-01":
        f.fails("outside_crediting_period", "owner-farm", "submit_monitoring_report", args)
        return
    res = f.fails("period_out_of_order", "owner-farm", "submit_monitoring_report", args)
    assert "P1" in res["message"] and "2022-12-31" in res["message"]


def test_report_pending_blocks_the_next_report(f2: Flow) -> None:
    f = f2
    f.ok("owner-farm", "submit_monitoring_report", _report(f))
    args = f.report_args("R2", "AH-0001", [("P1", "25.2", "50.4"), ("P2", "0", "0")], 30,
                         start="2023-01-01", end="2023-06-30")
    res = f.fails("report_pending", "owner-farm", "submit_monitoring_report", args)
    assert "R1" in res["message"]
    f.ok("owner-farm", "withdraw_report", {"report_id": "R1"})
    f.fails("start_stock_mismatch", "owner-farm", "submit_monitoring_report", args)


def test_report_must_cover_every_plot(f2: Flow) -> None:
    f = f2
    res = f.fails("missing_plots", "owner-farm", "submit_monitoring_report",
                  f.report_args("R1", "AH-0001", [("P1", "0", "25.2")], 30))
    assert "missing: P2" in res["message"]
    res = f.fails("missing_plots", "owner-farm", "submit_monitoring_report",
                  f.report_args("R1", "AH-0001", [("P2", "0", "25.2")], 30))
    assert "missing: P1" in res["message"]
    f.ok("owner-farm", "submit_monitoring_report", _report(f))


# -- withdraw_report -----------------------------------------------------------------------


def test_withdraw_report_refusals(f2: Flow) -> None:
    f = f2
    f.ok("owner-farm", "submit_monitoring_report", _report(f))
    f.fails("unknown_report", "owner-farm", "withdraw_report", {"report_id": "NOPE"})
    f.fails("wrong_owner", "coop", "withdraw_report", {"report_id": "R1"})
    f.ok("verifier-b", "attest_verification", f.verification_args("VER1", "R1", 30))
    f.fails("report_not_open", "owner-farm", "withdraw_report", {"report_id": "R1"})


# -- attest_verification -------------------------------------------------------------------


def test_attest_verification_refusals() -> None:
    f = Flow(orgs=EXTRA_ORGS)
    _revoke(f, "verifier-x")
    f.registered_project("AH-0001", plots=[("P1", small_ring(0))])
    f.registered_project("LAB", plots=[("L1", small_ring(2))], owner="forest-lab")
    f.ok("owner-farm", "submit_monitoring_report", _report(f))
    f.ok("forest-lab", "submit_monitoring_report",
         f.report_args("RL", "LAB", [("L1", "0", "25.2")], 30))
    vr = f.verification_args
    f.fails("unauthorized", "owner-farm", "attest_verification", vr("A1", "R1", 30))
    f.fails("not_accredited", "verifier-x", "attest_verification", vr("A1", "R1", 30))
    f.fails("self_attestation", "forest-lab", "attest_verification", vr("A1", "RL", 30))
    f.fails("unknown_report", "verifier-b", "attest_verification", vr("A1", "NOPE", 30))
    f.fails("hash_mismatch", "verifier-b", "attest_verification", vr("A1", "R1", 30, report_sha256=h256("x")))
    res = f.fails("verified_exceeds_computed", "verifier-b", "attest_verification", vr("A1", "R1", 31))
    assert "31" in res["message"] and "30" in res["message"]
    f.fails("invalid_date", "verifier-b", "attest_verification", vr("A1", "R1", 30, site_visit_date="2023-02-29"))
    res = f.fails("site_visit_out_of_range", "verifier-b", "attest_verification",
                  vr("A1", "R1", 30, site_visit_date="2022-12-30"))
    assert "2022-12-30" in res["message"] and "(2022-12-31)" in res["message"]
    res = f.fails("site_visit_out_of_range", "verifier-b", "attest_verification",
                  vr("A1", "R1", 30, site_visit_date="2023-11-16"))
    assert "block's date (2023-11-15)" in res["message"]
    f.fails("attestation_exists", "verifier-b", "attest_verification", vr("VAL-AH-0001", "R1", 30))
    f.ok("verifier-b", "attest_verification", vr("A1", "R1", 30))
    f.fails("already_verified", "verifier-b", "attest_verification", vr("A2", "R1", 30))


def test_withdrawn_report_cannot_be_verified(f2: Flow) -> None:
    f = f2
    f.ok("owner-farm", "submit_monitoring_report", _report(f))
    f.ok("owner-farm", "withdraw_report", {"report_id": "R1"})
    f.fails("report_not_open", "verifier-b", "attest_verification", f.verification_args("A1", "R1", 30))


# -- issue ---------------------------------------------------------------------------------


def test_issue_refusals(f2: Flow) -> None:
    f = f2
    f.ok("owner-farm", "submit_monitoring_report", _report(f))
    args = {"report_id": "R1", "batch_id": "B1"}
    f.fails("unknown_report", "regulator", "issue", dict(args, report_id="NOPE"))
    f.fails("not_verified", "regulator", "issue", args)
    f.ok("verifier-b", "attest_verification", f.verification_args("A1", "R1", 30))
    f.fails("unauthorized", "owner-farm", "issue", args)
    f.fails("unauthorized", "verifier-a", "issue", args)
    f.ok("regulator", "issue", args)
    res = f.fails("already_issued", "regulator", "issue", args)
    assert "B1" in res["message"]
    f.fails("already_issued", "regulator", "issue", dict(args, batch_id="B2"))
    f.verified_report("R2", measurements=[("P1", "25.2", "25.2"), ("P2", "0", "25.2")],
                      start="2023-01-01", end="2023-03-01")
    f.fails("batch_exists", "regulator", "issue", {"report_id": "R2", "batch_id": "B1"})


def test_missing_parameter_is_a_clean_refusal() -> None:
    f = Flow()
    f.h.state.apply([("param/min_parcel_m2", None)])
    f.fails("missing_parameter", "owner-farm", "register_plot", f.plot_args("P1", small_ring(0)))
