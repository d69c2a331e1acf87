"""Remote-sensing evidence on monitoring reports and loss events (issue 14, item 4;
chaincode/evidence.py): checked (dates against the block's date and the period or the
project, plots of the project, cover 0..100 %, bounded), stored normalised in the record,
absent from records that do not carry it. Every refusal changes nothing (``Flow.fails``)."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.carbon_registry import Flow, h256, small_ring

IMAGERY = h256("imagery:sentinel-2:2022-08-14")
TODAY = "2023-11-15"  # the harness's block date (China Standard Time)


def evidence(**over: Any) -> dict[str, Any]:
    ev: dict[str, Any] = {
        "sensor": "Sentinel-2 MSI", "acquisition_date": "2022-08-14",
        "imagery_sha256": IMAGERY,
        "canopy_cover": [{"plot_id": "P2", "percent": "61.50"},
                         {"plot_id": "P1", "percent": "72.4"}],
    }
    ev.update(over)
    return ev


@pytest.fixture
def flow() -> Flow:
    f = Flow()
    f.registered_project(plots=[("P1", small_ring(0)), ("P2", small_ring(1))])
    return f


def report(flow: Flow, report_id: str = "R1", **over: Any) -> dict[str, Any]:
    return flow.report_args(report_id, "AH-0001", [("P1", "0", "25.2"), ("P2", "0", "25.2")],
                            60, **over)


def loss(**over: Any) -> dict[str, Any]:
    args = {"project_id": "AH-0001", "quantity": 1, "cause": "fire",
            "evidence_sha256": h256("fire-report"), "plot_id": "P1"}
    args.update(over)
    return args


STORED = {"acquisition_date": "2022-08-14", "imagery_sha256": IMAGERY,
          "sensor": "Sentinel-2 MSI",
          "canopy_cover": [{"percent": "72.4", "plot_id": "P1"},
                           {"percent": "61.5", "plot_id": "P2"}]}


def test_a_report_stores_its_evidence_normalised(flow: Flow) -> None:
    flow.ok("owner-farm", "submit_monitoring_report", report(flow, evidence=evidence()))
    assert flow.get("report/R1")["evidence"] == STORED


def test_a_report_without_evidence_has_no_evidence_field(flow: Flow) -> None:
    flow.ok("owner-farm", "submit_monitoring_report", report(flow))
    assert "evidence" not in flow.get("report/R1")


def test_a_null_evidence_is_the_same_as_none(flow: Flow) -> None:
    flow.ok("owner-farm", "submit_monitoring_report", report(flow, evidence=None))
    assert "evidence" not in flow.get("report/R1")


def test_a_loss_event_stores_its_evidence_and_one_without_none(flow: Flow) -> None:
    with_ev = flow.ok("regulator", "record_loss_event",
                      loss(evidence=evidence(acquisition_date="2023-11-15")))
    loss_id = flow.h.returned(with_ev)["loss_id"]
    assert flow.get(f"loss/{loss_id}")["evidence"] == {**STORED,
                                                       "acquisition_date": "2023-11-15"}
    plain = flow.ok("regulator", "record_loss_event", loss(quantity=2))
    assert "evidence" not in flow.get(f"loss/{flow.h.returned(plain)['loss_id']}")


@pytest.mark.parametrize(("method", "over", "code", "words"), [
    # imagery from the future, and from before the period / the project
    ("report", {"acquisition_date": "2023-11-16"}, "evidence_date_out_of_range", TODAY),
    ("report", {"acquisition_date": "2017-12-31"}, "evidence_date_out_of_range",
     "the period's start 2018-01-01"),
    ("loss", {"acquisition_date": "2024-01-01"}, "evidence_date_out_of_range", TODAY),
    ("loss", {"acquisition_date": "2017-12-31"}, "evidence_date_out_of_range",
     "the start date of project AH-0001"),
    ("report", {"acquisition_date": "2022-02-30"}, "invalid_date", "2022-02-30"),
    # plots
    ("report", {"canopy_cover": [{"plot_id": "P9", "percent": "50"}]}, "plot_not_in_project",
     "P9"),
    ("loss", {"canopy_cover": [{"plot_id": "P1", "percent": "50"},
                               {"plot_id": "P1", "percent": "40"}]},
     "duplicate_evidence_plot", "P1"),
    # cover
    ("report", {"canopy_cover": [{"plot_id": "P1", "percent": "100.01"}]},
     "invalid_canopy_cover", "100.01"),
    ("loss", {"canopy_cover": [{"plot_id": "P1", "percent": "1000"}]},
     "invalid_canopy_cover", "1000"),
    # shape: the argument schema
    ("report", {"canopy_cover": [{"plot_id": "P1", "percent": "50.123"}]}, "invalid_args",
     "percent"),
    ("report", {"canopy_cover": [{"plot_id": "P1", "percent": "-1"}]}, "invalid_args",
     "percent"),
    ("report", {"canopy_cover": []}, "invalid_args", "canopy_cover"),
    ("report", {"canopy_cover": [{"plot_id": f"P{i}", "percent": "1"} for i in range(1001)]},
     "invalid_args", "canopy_cover"),
    ("loss", {"sensor": ""}, "invalid_args", "sensor"),
    ("loss", {"sensor": "<script>"}, "invalid_args", "sensor"),
    ("loss", {"sensor": "S" * 65}, "invalid_args", "sensor"),
    ("loss", {"imagery_sha256": "AB" * 32}, "invalid_args", "imagery_sha256"),
    ("loss", {"cloud_cover": "3"}, "invalid_args", "cloud_cover"),
    ("report", {"acquisition_date": 20220814}, "invalid_args", "acquisition_date"),
])
def test_bad_evidence_is_refused_with_its_code_and_changes_nothing(
        flow: Flow, method: str, over: dict[str, Any], code: str, words: str) -> None:
    ev = evidence(**over)
    if method == "report":
        result = flow.fails(code, "owner-farm", "submit_monitoring_report",
                            report(flow, evidence=ev))
    else:
        result = flow.fails(code, "regulator", "record_loss_event", loss(evidence=ev))
    assert words in result["message"], result["message"]


def test_evidence_missing_a_field_is_refused(flow: Flow) -> None:
    for field in ("sensor", "acquisition_date", "imagery_sha256", "canopy_cover"):
        ev = evidence()
        del ev[field]
        result = flow.fails("invalid_args", "regulator", "record_loss_event", loss(evidence=ev))
        assert field in result["message"]


@given(st.integers(min_value=0, max_value=10_000), st.integers(min_value=0, max_value=2))
@settings(max_examples=60, deadline=None)
def test_any_cover_from_0_to_100_percent_is_stored_exactly(hundredths: int, places: int) -> None:
    flow = Flow()
    flow.registered_project(plots=[("P1", small_ring(0))])
    scaled = hundredths // 10 ** (2 - places)  # the value with `places` decimals
    text = str(scaled) if places == 0 else f"{scaled // 10**places}.{scaled % 10**places:0{places}d}"
    out = flow.ok("regulator", "record_loss_event", loss(evidence=evidence(
        canopy_cover=[{"plot_id": "P1", "percent": text}])))
    stored = flow.get(f"loss/{flow.h.returned(out)['loss_id']}")["evidence"]["canopy_cover"]
    assert len(stored) == 1
    assert Fraction(stored[0]["percent"]) == Fraction(text)
