"""Strata, sampled monitoring reports, the conservative rule and the plausibility ceilings
in the carbon contract (issue 10 item 2; docs/domain.md "Sampling")."""

from __future__ import annotations

from fractions import Fraction as F
from math import floor
from typing import Any

import pytest

from chaincode.calculator import species_params_from_table
from chaincode.sampling import stock_per_m3
from ledger.fixedpoint import format_decimal, parse_decimal
from tests.support.carbon_registry import Flow, area_ha, small_ring
from tests.support.harness import fixture_params

TABLE = fixture_params()["species_table"]  # the test genesis: no growth ceilings
FIR = stock_per_m3(species_params_from_table(TABLE, "chinese_fir"))
PINE = stock_per_m3(species_params_from_table(TABLE, "masson_pine"))
#: Realistic growth ceilings (the genesis defaults have none, see docs/domain.md).
GROWTH_TABLE = {sp: dict(row, max_growth_per_ha_year=g) for (sp, row), g in
                zip(sorted(TABLE.items()), ("35", "70", "25"), strict=True)}

RING = small_ring(0)
DECLARED = format_decimal(area_ha(RING), 4)
S1_AREA = F("0.5")
S2_AREA = parse_decimal(DECLARED, field="a") - S1_AREA
STRATA = [
    {"stratum_id": "S1", "species": "chinese_fir", "age_class": "I", "area_ha": "0.5"},
    {"stratum_id": "S2", "species": "masson_pine", "area_ha": format_decimal(S2_AREA)},
]


def flow(strata: list[dict] | None = None, params: dict | None = None,
         plots: tuple[str, ...] = ("P1",)) -> Flow:
    """Project AH-0001 with plot P1 (strata S1 fir 0.5 ha, S2 pine) and optionally more
    single-species plots P2, ... registered without strata."""
    f = Flow(params=params)
    f.ok("owner-farm", "register_plot", f.plot_args("P1", RING, strata=strata or STRATA))
    for i, p in enumerate(plots[1:], start=1):
        f.ok("owner-farm", "register_plot", f.plot_args(p, small_ring(i)))
    f.ok("owner-farm", "submit_project", f.project_args("AH-0001", list(plots)))
    f.ok("verifier-a", "attest_validation", f.validation_args("VAL-AH-0001", "AH-0001"))
    f.ok("regulator", "register_project", {"project_id": "AH-0001"})
    return f


def sampled(s1: list[str], s2: list[str], plot_area: str = "0.01", plot: str = "P1") -> dict:
    return {"plot_id": plot, "species": "chinese_fir", "strata": [
        {"stratum_id": "S1", "sample_plot_area_ha": plot_area, "samples": s1},
        {"stratum_id": "S2", "sample_plot_area_ha": plot_area, "samples": s2}]}


def report(rid: str, measurements: list[dict], claimed: int, start: str = "2018-01-01",
           end: str = "2022-12-31") -> dict:
    args = Flow.report_args(rid, "AH-0001", [], claimed, start=start, end=end)
    args["measurements"] = measurements
    return args


def mean_per_ha(samples: list[str], plot_area: str = "0.01") -> F:
    return sum(F(v) / F(plot_area) for v in samples) / len(samples)


def s2_per_ha(samples: list[str], plot_area: str = "0.01") -> F:
    ys = [F(v) / F(plot_area) for v in samples]
    m = sum(ys) / len(ys)
    return sum((y - m) ** 2 for y in ys) / (len(ys) - 1)


def claim_of(f: Flow, args: dict) -> int:
    res = f.h.call("owner-farm", "carbon", "submit_monitoring_report", args)
    assert res["code"] == "claim_mismatch", res
    return int(res["message"].split("computes ")[1].split(" ")[0])


# -- registration ------------------------------------------------------------------------
def test_register_plot_with_strata_stores_them() -> None:
    f = flow()
    plot = f.get("plot/P1")
    assert plot["strata"] == [
        {"age_class": "I", "area_ha": "0.5", "species": "chinese_fir", "stratum_id": "S1"},
        {"age_class": None, "area_ha": format_decimal(S2_AREA), "species": "masson_pine",
         "stratum_id": "S2"}]


def test_plot_without_strata_stores_no_strata_key() -> None:
    f = Flow()
    f.ok("owner-farm", "register_plot", f.plot_args("P1", RING))
    assert "strata" not in f.get("plot/P1")


@pytest.mark.parametrize("strata, code, fragment", [
    ([dict(STRATA[0]), dict(STRATA[0])], "duplicate_stratum", "lists stratum S1 more than once"),
    ([STRATA[0], dict(STRATA[1], area_ha="0.1")], "strata_area_mismatch",
     f"cover 0.6 ha; they must cover exactly its declared {DECLARED} ha"),
    ([dict(STRATA[0], area_ha="0"), dict(STRATA[1], area_ha=DECLARED)], "invalid_strata",
     "has an area of 0 ha"),
    ([dict(STRATA[1], area_ha=DECLARED)], "invalid_strata",
     "registered as chinese_fir but none of its strata is of that species"),
    ([STRATA[0], dict(STRATA[1], species="oak")], "unknown_species", "species 'oak'"),
    ([dict(STRATA[0], stratum_id=f"S{i}", area_ha="0.01") for i in range(17)], "invalid_args",
     "strata"),
    ([], "invalid_args", "strata"),
])
def test_register_plot_strata_refusals(strata: list, code: str, fragment: str) -> None:
    f = Flow()
    res = f.fails(code, "owner-farm", "register_plot", f.plot_args("P1", RING, strata=strata))
    assert fragment in res["message"]
    assert f.get("plot/P1") is None


# -- sampled reports ----------------------------------------------------------------------
def test_sampled_report_within_target_keeps_the_estimate() -> None:
    """S1: 1.0, 1.1, 0.9 m3 on 0.01 ha plots = 100 m3/ha mean, s2 100 (m3/ha)^2; S2: 0.8
    each = 80 m3/ha, s2 0. T = 0.5 x 100 x f_fir + A2 x 80 x f_pine; the half-width
    2.132 x 0.5 x f_fir x sqrt(100/3) is about 7 % of T, inside the 10 % target."""
    f = flow()
    s1, s2 = ["1.0", "1.1", "0.9"], ["0.8", "0.8", "0.8"]
    total = S1_AREA * mean_per_ha(s1) * FIR + S2_AREA * mean_per_ha(s2) * PINE
    var = S1_AREA**2 * s2_per_ha(s1) * FIR**2 / 3
    args = report("R1", [sampled(s1, s2)], floor(total))
    f.ok("owner-farm", "submit_monitoring_report", args)
    rec = f.get("report/R1")
    calc = rec["calculation"]
    sampling = calc["sampling"]
    hw = parse_decimal(sampling["half_width"], field="hw")
    t = F("2.132")  # df = 2 + 2
    assert sampling["df"] == 4 and sampling["t"] == "2.132"
    assert (hw - F(1, 10**6)) ** 2 < t * t * var <= hw * hw
    assert sampling["conservative"] is False and sampling["factor"] == "1"
    assert sampling["total"] == format_decimal(total)
    assert [s["stratum_id"] for s in sampling["strata"]] == ["S1", "S2"]
    assert sampling["strata"][0]["mean"] == format_decimal(100 * FIR)
    assert sampling["strata"][0]["variance"] == format_decimal(100 * FIR**2)
    assert sampling["strata"][1]["variance"] == "0"
    assert calc["stocks"][0]["end"] == floor(total * 10**6)
    m = rec["measurements"][0]
    assert m["volume_end"] == format_decimal(S1_AREA * 100 + S2_AREA * 80)
    assert m["strata"][0]["samples"] == s1
    # the allometric figures per species of the plot
    assert [(p["plot_id"], p["species"]) for p in calc["plots"]] == [
        ("P1", "chinese_fir"), ("P1", "masson_pine")]
    assert calc["plots"][1]["volume_end"] == format_decimal(S2_AREA * 80)


def test_imprecise_sample_uses_the_conservative_lower_bound() -> None:
    """S1 samples 0.2, 1.0, 1.8 m3 (20, 100, 180 m3/ha): s2 = 6400, the half-width is
    about half of T, so E is the lower bound T - hw (one plot takes all of it)."""
    f = flow()
    s1, s2 = ["0.2", "1.0", "1.8"], ["0.8", "0.8", "0.8"]
    total = S1_AREA * 100 * FIR + S2_AREA * 80 * PINE
    var = S1_AREA**2 * 6400 * FIR**2 / 3
    args = report("R1", [sampled(s1, s2)], 0)
    claimed = claim_of(f, args)
    f.ok("owner-farm", "submit_monitoring_report", dict(args, claimed_issuable=claimed))
    calc = f.get("report/R1")["calculation"]
    hw = parse_decimal(calc["sampling"]["half_width"], field="hw")
    assert (hw - F(1, 10**6)) ** 2 < F("2.132") ** 2 * var <= hw * hw
    assert calc["sampling"]["conservative"] is True
    assert hw / total > F("0.1")
    assert calc["stocks"][0]["end"] == floor((total - hw) * 10**6)
    assert claimed == floor(total - hw) < floor(total)


def test_conservative_factor_is_shared_pro_rata_with_census_plots() -> None:
    f = flow(plots=("P1", "P2"))
    s1, s2 = ["0.2", "1.0", "1.8"], ["0.8", "0.8", "0.8"]
    census = {"plot_id": "P2", "species": "chinese_fir", "volume_end": "40"}
    args = report("R1", [sampled(s1, s2), census], 0)
    f.ok("owner-farm", "submit_monitoring_report", dict(args, claimed_issuable=claim_of(f, args)))
    calc = f.get("report/R1")["calculation"]
    p1 = S1_AREA * 100 * FIR + S2_AREA * 80 * PINE
    p2 = 40 * FIR
    total = p1 + p2
    hw = parse_decimal(calc["sampling"]["half_width"], field="hw")
    assert calc["sampling"]["total"] == format_decimal(total)
    factor = (total - hw) / total
    ends = {s["plot_id"]: s["end"] for s in calc["stocks"]}
    assert ends == {"P1": floor(p1 * factor * 10**6), "P2": floor(p2 * factor * 10**6)}
    assert f.get("report/R1")["measurements"][1] == {
        "plot_id": "P2", "species": "chinese_fir", "volume_end": "40", "volume_start": "0"}


def test_census_only_report_has_no_sampling_block() -> None:
    f = Flow()
    f.registered_project()
    f.verified_report("R1", measurements=[("P1", "0", "25.2")], claimed=30)
    calc = f.get("report/R1")["calculation"]
    assert "sampling" not in calc
    assert "strata" not in f.get("stockhist/P1/0001")


def test_second_period_starts_each_stratum_from_its_verified_volume() -> None:
    f = flow(params={"species_table": GROWTH_TABLE})
    s1, s2 = ["1.0", "1.1", "0.9"], ["0.8", "0.8", "0.8"]
    args = report("R1", [sampled(s1, s2)], 0)
    claimed = claim_of(f, args)
    f.ok("owner-farm", "submit_monitoring_report", dict(args, claimed_issuable=claimed))
    f.ok("verifier-b", "attest_verification", f.verification_args("VER-R1", "R1", claimed))
    hist = f.get("stockhist/P1/0001")
    assert [(s["stratum_id"], s["volume"], s["n"]) for s in hist["strata"]] == [
        ("S1", "50", 3), ("S2", format_decimal(S2_AREA * 80), 3)]
    assert hist["sampling_factor"] == "1"
    # 304 days later S2 (pine) shows 110 m3/ha: 30 m3/ha over its verified 80 m3/ha
    later = report("R2", [sampled(["1.2", "1.2", "1.2"], ["1.1", "1.1", "1.1"])], 0,
                   start="2023-01-01", end="2023-10-31")
    res = f.fails("implausible_growth", "owner-farm", "submit_monitoring_report", later)
    assert res["message"] == (
        f"plot P1 stratum S2 (masson_pine): growth of {format_decimal(F(30 * 365, 304))} m3/ha"
        " a year over the 304 days of the period exceeds the regulator's ceiling of 25 m3/ha a"
        " year for masson_pine")
    # 20 m3/ha in both strata (24.01 m3/ha a year) passes
    ok = report("R2", [sampled(["1.2", "1.2", "1.2"], ["1.0", "1.0", "1.0"])], 0,
                start="2023-01-01", end="2023-10-31")
    f.ok("owner-farm", "submit_monitoring_report", dict(ok, claimed_issuable=claim_of(f, ok)))


# -- refusals of the measurement ------------------------------------------------------------
def _measurement_refusal(m: dict, code: str, plots: tuple[str, ...] = ("P1",)) -> str:
    f = flow(plots=plots)
    others = [{"plot_id": p, "species": "chinese_fir", "volume_end": "1"} for p in plots[1:]]
    res = f.fails(code, "owner-farm", "submit_monitoring_report", report("R1", [m, *others], 0))
    assert f.get("report/R1") is None
    return str(res["message"])


def test_both_or_neither_form_is_refused() -> None:
    both = dict(sampled(["1", "1", "1"], ["1", "1", "1"]), volume_end="10")
    msg = _measurement_refusal(both, "invalid_measurement")
    assert msg == ("plot P1: give either volume_end (a census of every tree) or strata (sample"
                   " plots per stratum), not both and not neither")
    _measurement_refusal({"plot_id": "P1", "species": "chinese_fir"}, "invalid_measurement")


def test_census_of_a_mixed_species_plot_is_refused() -> None:
    msg = _measurement_refusal({"plot_id": "P1", "species": "chinese_fir", "volume_end": "10"},
                               "strata_required")
    assert "plot P1 has strata of several species" in msg


def test_unknown_duplicate_and_missing_strata() -> None:
    m = sampled(["1", "1", "1"], ["1", "1", "1"])
    m["strata"][1]["stratum_id"] = "S9"
    assert "plot P1 has no stratum S9; its strata are S1, S2" in _measurement_refusal(
        m, "unknown_stratum")
    m = sampled(["1", "1", "1"], ["1", "1", "1"])
    m["strata"][1]["stratum_id"] = "S1"
    assert "measures stratum S1 of plot P1 twice" in _measurement_refusal(m, "duplicate_stratum")
    m = sampled(["1", "1", "1"], ["1", "1", "1"])
    del m["strata"][1]
    assert "missing: S2" in _measurement_refusal(m, "missing_strata")


def test_too_few_samples() -> None:
    msg = _measurement_refusal(sampled(["1", "1"], ["1", "1", "1"]), "too_few_samples")
    assert msg == "stratum S1 of plot P1 has 2 sample plots; the regulator's minimum is 3"


@pytest.mark.parametrize("plot_area", ["0", "0.5001"])
def test_impossible_sample_plot_area(plot_area: str) -> None:
    m = sampled(["1", "1", "1"], ["1", "1", "1"], plot_area=plot_area)
    msg = _measurement_refusal(m, "invalid_measurement")
    assert f"sample plots of {plot_area} ha are not possible in a stratum of 0.5 ha" in msg


@pytest.mark.parametrize("bad", [
    {"samples": ["1"] * 201}, {"samples": []}, {"samples": ["-1", "1", "1"]},
    {"samples": ["1.0000001", "1", "1"]}, {"samples": ["1 m3", "1", "1"]},
    {"sample_plot_area_ha": "-0.1"},
])
def test_malformed_samples_are_schema_errors(bad: dict) -> None:
    m = sampled(["1", "1", "1"], ["1", "1", "1"])
    m["strata"][0].update(bad)
    _measurement_refusal(m, "invalid_args")


# -- plausibility ceilings --------------------------------------------------------------------
def test_100000_m3_on_a_1_ha_plot_is_refused() -> None:
    f = Flow()
    ring = small_ring(0)
    f.registered_project(plots=[("P1", ring)])
    args = f.report_args("R1", "AH-0001", [("P1", "0", "100000")], 0)
    res = f.fails("implausible_volume", "owner-farm", "submit_monitoring_report", args)
    per_ha = format_decimal(F(100000) / parse_decimal(DECLARED, field="a"))
    assert res["message"] == (
        f"plot P1 (chinese_fir): a stand volume of {per_ha} m3/ha exceeds the regulator's"
        " ceiling of 700 m3/ha for chinese_fir")


def test_volume_ceiling_is_inclusive_and_per_stratum() -> None:
    # S1 at exactly 700 m3/ha passes the volume ceiling; S2 (pine) at 601 m3/ha does not
    msg = _measurement_refusal(sampled(["7", "7", "7"], ["6.01", "6.01", "6.01"]),
                               "implausible_volume")
    assert msg == ("plot P1 stratum S2 (masson_pine): a stand volume of 601 m3/ha exceeds the"
                   " regulator's ceiling of 600 m3/ha for masson_pine")


def test_census_growth_ceiling() -> None:
    f = Flow(params={"species_table": GROWTH_TABLE})
    f.registered_project(plots=[("P1", RING)])
    area = parse_decimal(DECLARED, field="a")
    # 35 m3/ha a year over the 5 years 2018..2022 (1826 days) is the most a fir stand may add
    limit = F(35) * area * 1826 / 365
    over = format_decimal(limit + F(1, 1000))
    res = f.fails("implausible_growth", "owner-farm", "submit_monitoring_report",
                  f.report_args("R1", "AH-0001", [("P1", "0", over)], 0))
    yearly = format_decimal(parse_decimal(over, field="v") / area * 365 / 1826)
    assert f"plot P1 (chinese_fir): growth of {yearly} m3/ha a year" in res["message"]
    assert "over the 1826 days of the period" in res["message"]
    args = f.report_args("R1", "AH-0001", [("P1", "0", format_decimal(limit))], 0)
    f.ok("owner-farm", "submit_monitoring_report", dict(args, claimed_issuable=claim_of(f, args)))


def test_species_without_ceilings_are_not_checked() -> None:
    table = {sp: {k: v for k, v in row.items() if not k.startswith("max_")}
             for sp, row in TABLE.items()}
    f = Flow(params={"species_table": table})
    f.registered_project(plots=[("P1", RING)])
    args = f.report_args("R1", "AH-0001", [("P1", "0", "100000")], 0)
    f.ok("owner-farm", "submit_monitoring_report", dict(args, claimed_issuable=claim_of(f, args)))


def test_regulator_parameters_drive_the_sampling_rule() -> None:
    """A looser target (0.6) keeps an estimate whose half-width is about 32 % of it; 2
    sample plots are enough when min_sample_plots is 2 (df = 1 + 1, t = 2.920)."""
    f = flow(params={"sampling_precision_target": "0.6", "min_sample_plots": 2})
    s1, s2 = ["0.8", "1.2"], ["0.8", "0.8"]
    args = report("R1", [sampled(s1, s2)], 0)
    f.ok("owner-farm", "submit_monitoring_report", dict(args, claimed_issuable=claim_of(f, args)))
    sampling: dict[str, Any] = f.get("report/R1")["calculation"]["sampling"]
    assert sampling["target"] == "0.6" and sampling["t"] == "2.92" and sampling["df"] == 2
    assert F("0.1") < parse_decimal(sampling["relative_half_width"], field="r") < F("0.6")
    assert sampling["conservative"] is False and sampling["factor"] == "1"


def test_census_of_a_single_species_stratified_plot_is_checked_per_plot() -> None:
    """Two age classes of fir: the census form is allowed (one species) and the volume
    ceiling applies over the whole plot."""
    strata = [dict(STRATA[0], age_class="I"),
              dict(STRATA[1], species="chinese_fir", age_class="II")]
    f = flow(strata=strata)
    area = parse_decimal(DECLARED, field="a")
    over = format_decimal(700 * area + F(1, 1000))
    res = f.fails("implausible_volume", "owner-farm", "submit_monitoring_report",
                  report("R1", [{"plot_id": "P1", "species": "chinese_fir",
                                 "volume_end": over}], 0))
    assert res["message"].startswith("plot P1 (chinese_fir): a stand volume of 700.000")
    ok = report("R1", [{"plot_id": "P1", "species": "chinese_fir",
                        "volume_end": format_decimal(700 * area)}], 0)
    f.ok("owner-farm", "submit_monitoring_report", dict(ok, claimed_issuable=claim_of(f, ok)))


def test_growth_ceiling_set_by_the_regulator_applies_from_its_block() -> None:
    f = Flow()
    f.registered_project(plots=[("P1", RING)])
    args = f.report_args("R1", "AH-0001", [("P1", "0", "300")], 0)  # 57 m3/ha a year
    claimed = claim_of(f, args)
    f.h.ok("regulator", "params", "set_param",
           {"name": "species_table", "value": GROWTH_TABLE, "reason": "issue 10 ceilings"})
    f.fails("implausible_growth", "owner-farm", "submit_monitoring_report",
            dict(args, claimed_issuable=claimed))
    assert f.get("paramhist/species_table/000000000000")["value"] == TABLE
