"""Tests for chaincode.calculator (DOMAIN.md, "The afforestation calculation")."""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chaincode.calculator import (
    DEFAULT_SPECIES_TABLE,
    MAX_MEASUREMENTS,
    CalculationError,
    PlotMeasurement,
    SpeciesParams,
    calculate_removals,
    load_species_table,
    species_params_from_table,
)

F = Fraction
ZERO = F(0)
PARAMS = load_species_table(DEFAULT_SPECIES_TABLE)


def calc(measurements, params=None, **kw):
    args = {
        "baseline": ZERO,
        "leakage": ZERO,
        "project_emissions": ZERO,
        "uncertainty_deduction": ZERO,
        "buffer_rate": ZERO,
    }
    args.update(kw)
    return calculate_removals(measurements, PARAMS if params is None else params, **args)


def fir(volume_end="2500", volume_start="0", plot="P1", species="chinese_fir"):
    return PlotMeasurement.from_strings(plot, species, volume_start, volume_end)


# ---------------------------------------------------------------- worked example


def test_worked_example_domain_md():
    """100 ha Chinese fir, baseline 0, V 0 -> 2500 m3 (DOMAIN.md test vector)."""
    r = calc([fir()])
    (p,) = r.plots
    assert p.biomass_start == 0 and p.carbon_start == 0
    assert p.biomass_end == F("1562.60237")  # exact
    assert p.carbon_end == F("812.5532324")  # exact
    assert p.co2e == F("812.5532324") * 44 / 12
    assert p.co2e == F(22345213891, 7500000)  # 2979.3618521333...
    assert r.delta_c_project == p.co2e
    assert r.er == p.co2e
    assert r.issuable == 2979
    assert r.to_buffer == 0 and r.to_owner == 2979
    d = r.to_dict()
    assert d["plots"][0]["biomass_end"] == "1562.60237"
    assert d["plots"][0]["carbon_end"] == "812.5532324"[:-1]  # truncated to 6 places
    assert d["plots"][0]["co2e"] == "2979.361852"
    assert d["delta_c_project"].startswith("2979.36")
    assert d["issuable"] == 2979


def test_worked_example_cf_047():
    params = {"chinese_fir": SpeciesParams.from_strings("0.307", "1.634", "0.246", "0.47")}
    r = calc([fir()], params)
    assert r.plots[0].carbon_end == F("1562.60237") * F("0.47")
    assert r.to_dict()["delta_c_project"].startswith("2692.88")
    assert r.issuable == 2692


def test_deductions_and_buffer():
    r = calc(
        [fir()],
        baseline=F(100),
        leakage=F(0),
        project_emissions=F("12.5"),
        uncertainty_deduction=F("0.1"),
        buffer_rate=F("0.15"),
    )
    er = F(22345213891, 7500000) - 100 - F("12.5")
    assert r.er == er
    assert r.uncertainty_deduction_amount == er / 10
    issuable = (er * F(9, 10)).numerator // (er * F(9, 10)).denominator
    assert r.issuable == issuable == 2580
    assert r.to_buffer == 387  # ceil(2580 * 0.15) = ceil(387.0)
    assert r.to_owner == 2580 - 387
    r2 = calc([fir()], buffer_rate=F("0.1001"))
    assert r2.to_buffer == 299  # ceil(2979 * 0.1001) = ceil(298.1979)
    assert r2.to_owner == 2979 - 299


def test_negative_er_issues_nothing():
    r = calc([fir("100", "2500")], uncertainty_deduction=F("0.2"), buffer_rate=F("0.3"))
    assert r.er < 0
    assert r.issuable == 0 and r.to_buffer == 0 and r.to_owner == 0
    assert r.uncertainty_deduction_amount == 0
    assert r.to_dict()["er"].startswith("-")
    r = calc([fir("0", "0")])
    assert r.er == 0 and r.issuable == 0


def test_to_dict_shape_and_types():
    r = calc(
        [fir(), fir("80.5", "10", plot="P2", species="eucalyptus")],
        baseline=F("1.5"),
        buffer_rate=F("0.2"),
    )
    d = r.to_dict()
    assert [p["plot_id"] for p in d["plots"]] == ["P1", "P2"]
    number = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]{1,6})?")
    for key, value in d.items():
        if key in ("issuable", "to_buffer", "to_owner"):
            assert type(value) is int
        elif key == "plots":
            for plot in value:
                for k, v in plot.items():
                    assert isinstance(v, str)
                    if k not in ("plot_id", "species"):
                        assert number.fullmatch(v), (k, v)
        else:
            assert isinstance(value, str) and number.fullmatch(value), (key, value)
    assert d["to_buffer"] + d["to_owner"] == d["issuable"]
    assert d["baseline"] == "1.5"
    assert d["buffer_rate"] == "0.2"


def test_mixed_stand_same_plot_two_species():
    r = calc([fir(), fir("300", "100", species="masson_pine")])
    assert len(r.plots) == 2
    mp = PARAMS["masson_pine"]
    expected_mp = F(200) * mp.wd * mp.bef * (1 + mp.r) * mp.cf * 44 / 12
    assert r.plots[1].co2e == expected_mp
    assert r.delta_c_project == r.plots[0].co2e + expected_mp


# ---------------------------------------------------------------- parameter table


def test_default_table_matches_domain_md():
    assert dict(DEFAULT_SPECIES_TABLE["chinese_fir"]) == {
        "wd": "0.307",
        "bef": "1.634",
        "r": "0.246",
        "cf": "0.520",
    }
    assert dict(DEFAULT_SPECIES_TABLE["masson_pine"]) == {
        "wd": "0.380",
        "bef": "1.472",
        "r": "0.187",
        "cf": "0.460",
    }
    assert dict(DEFAULT_SPECIES_TABLE["eucalyptus"]) == {
        "wd": "0.578",
        "bef": "1.263",
        "r": "0.221",
        "cf": "0.525",
    }
    with pytest.raises(TypeError):
        DEFAULT_SPECIES_TABLE["x"] = {}  # type: ignore[index]
    assert list(PARAMS) == sorted(DEFAULT_SPECIES_TABLE)
    assert PARAMS["chinese_fir"].to_dict() == {
        "wd": "0.307",
        "bef": "1.634",
        "r": "0.246",
        "cf": "0.52",
    }


def test_unknown_species_in_table():
    with pytest.raises(CalculationError) as info:
        species_params_from_table(DEFAULT_SPECIES_TABLE, "oak")
    assert info.value.code == "unknown_species"
    assert "oak" in str(info.value) and "chinese_fir" in str(info.value)


def test_unknown_species_in_measurement():
    with pytest.raises(CalculationError) as info:
        calc([fir(species="poplar")])
    assert info.value.code == "unknown_species"
    assert "poplar" in str(info.value)


@pytest.mark.parametrize(
    "row",
    [
        {"wd": "0.3", "bef": "1.6", "r": "0.2"},  # missing cf
        {"wd": "0.3", "bef": "1.6", "r": "0.2", "cf": "0.5", "CF": "0.5"},  # extra key
        {"wd": "0", "bef": "1.6", "r": "0.2", "cf": "0.5"},  # zero
        {"wd": "-0.3", "bef": "1.6", "r": "0.2", "cf": "0.5"},  # negative
        {"wd": "0.3", "bef": "1.6", "r": "0.2", "cf": "1.5"},  # cf > 1
        {"wd": 0.3, "bef": "1.6", "r": "0.2", "cf": "0.5"},  # float
        {"wd": "0.3e0", "bef": "1.6", "r": "0.2", "cf": "0.5"},  # exponent
        {"wd": "0.3000001", "bef": "1.6", "r": "0.2", "cf": "0.5"},  # 7 places
    ],
)
def test_bad_table_rows(row):
    with pytest.raises(CalculationError) as info:
        species_params_from_table({"s": row}, "s")
    assert info.value.code == "invalid_parameter"
    assert "s" in str(info.value)


def test_species_params_validation():
    with pytest.raises(CalculationError) as info:
        SpeciesParams(F(1), F(1), F(1), 0.5)  # type: ignore[arg-type]
    assert info.value.code == "invalid_parameter"
    with pytest.raises(CalculationError):
        SpeciesParams(F(1), F(1), True, F(1, 2))  # type: ignore[arg-type]
    p = SpeciesParams(1, 2, 1, 1)  # ints accepted and stored as Fractions
    assert type(p.wd) is Fraction and p.biomass_per_m3 == 4


# ---------------------------------------------------------------- input validation


def _code(fn):
    with pytest.raises(CalculationError) as info:
        fn()
    return info.value.code


def test_measurement_validation():
    assert _code(lambda: fir("-1")) == "invalid_measurement"
    assert _code(lambda: fir("1.5e3")) == "invalid_measurement"
    assert _code(lambda: PlotMeasurement("P", "chinese_fir", F(0), 1.5)) == "invalid_measurement"
    assert _code(lambda: PlotMeasurement("", "chinese_fir", F(0), F(1))) == "invalid_measurement"
    assert _code(lambda: PlotMeasurement("P", 7, F(0), F(1))) == "invalid_measurement"
    assert _code(lambda: PlotMeasurement("P", "x", F(-1), F(1))) == "invalid_measurement"
    assert _code(lambda: calc([])) == "no_measurements"
    assert _code(lambda: calc(fir())) == "invalid_measurement"
    assert _code(lambda: calc([fir(), "x"])) == "invalid_measurement"
    assert _code(lambda: calc([fir(), fir("3")])) == "duplicate_measurement"
    many = [fir(plot=f"P{i}") for i in range(MAX_MEASUREMENTS + 1)]
    assert _code(lambda: calc(many)) == "too_many_measurements"
    assert calc(many[:MAX_MEASUREMENTS]).issuable == 2979361  # floor(1000 * 2979.3618...)


@pytest.mark.parametrize(
    "kw",
    [
        {"baseline": F(-1)},
        {"leakage": F(-1, 10**6)},
        {"project_emissions": F(-5)},
        {"uncertainty_deduction": F(-1, 100)},
        {"uncertainty_deduction": F(101, 100)},
        {"buffer_rate": F(2)},
        {"buffer_rate": 0.1},
        {"baseline": 0.0},
        {"uncertainty_deduction": True},
        {"leakage": "0"},
    ],
)
def test_rate_and_deduction_validation(kw):
    with pytest.raises(CalculationError) as info:
        calc([fir()], **kw)
    assert info.value.code == "invalid_parameter"
    assert next(iter(kw)) in str(info.value)


def test_rate_bounds_inclusive():
    r = calc([fir()], uncertainty_deduction=F(1), buffer_rate=F(1))
    assert r.issuable == 0
    r = calc([fir()], buffer_rate=1)
    assert r.to_buffer == 2979 and r.to_owner == 0


def test_params_mapping_must_hold_species_params():
    with pytest.raises(CalculationError) as info:
        calc([fir()], {"chinese_fir": DEFAULT_SPECIES_TABLE["chinese_fir"]})
    assert info.value.code == "invalid_parameter"


def test_no_floats_in_library_code():
    root = Path(__file__).resolve().parents[2]
    float_literal = re.compile(r"(?<![\w.])(\d+\.\d*|\.\d+|\d+[eE][-+]?\d+)(?![\w])")
    for rel in ("ledger/fixedpoint.py", "chaincode/calculator.py", "chaincode/geometry.py"):
        code_lines = []
        in_doc = False
        for line in (root / rel).read_text().splitlines():
            stripped = line.strip()
            # skip docstrings and comments: only code matters
            if stripped.count('"""') == 1:
                in_doc = not in_doc
                continue
            if in_doc or stripped.startswith(("#", '"""')):
                continue
            code_lines.append(line.split("#")[0])
        code = "\n".join(code_lines)
        assert "float(" not in code, rel
        assert "import math" not in code and "from math" not in code, rel
        # strip string literals before looking for numeric literals
        code = re.sub(r"(\"[^\"\n]*\"|'[^'\n]*')", '""', code)
        assert not float_literal.findall(code), (rel, float_literal.findall(code))


# ---------------------------------------------------------------- properties


def reference_issuable(measurements, table, baseline, leakage, emissions, u, buffer_rate):
    """Independent reimplementation: parameters from the raw strings, total
    stock first, whole-tonne floor via divmod on a common denominator."""
    stock_start = F(0)
    stock_end = F(0)
    for m in measurements:
        row = table[m.species]
        factor = F(row["wd"]) * F(row["bef"]) * (F(row["r"]) + 1) * F(row["cf"])
        stock_start += factor * m.volume_start
        stock_end += factor * m.volume_end
    er = (stock_end - stock_start) * 44 / 12 - baseline - leakage - emissions
    net = er * (1 - u)
    if net <= 0:
        return er, 0, 0
    q, _ = divmod(net.numerator, net.denominator)
    buf_exact = q * buffer_rate
    buf = q * buffer_rate.numerator // buffer_rate.denominator
    if buf != buf_exact:
        buf += 1
    return er, q, buf


def decimals(max_int=10**5, places=3):
    return st.builds(
        lambda n: F(n, 10**places), st.integers(min_value=0, max_value=max_int * 10**places)
    )


rates = st.builds(lambda n: F(n, 10**4), st.integers(min_value=0, max_value=10**4))
species_names = st.sampled_from(sorted(DEFAULT_SPECIES_TABLE))


@st.composite
def measurement_lists(draw, max_size=12):
    keys = draw(
        st.lists(
            st.tuples(st.sampled_from(["A", "B", "C", "D", "E"]), species_names),
            min_size=1,
            max_size=max_size,
            unique=True,
        )
    )
    return [PlotMeasurement(plot, sp, draw(decimals()), draw(decimals())) for plot, sp in keys]


deductions = st.fixed_dictionaries(
    {
        "baseline": decimals(1000),
        "leakage": decimals(100),
        "project_emissions": decimals(100),
        "uncertainty_deduction": rates,
        "buffer_rate": rates,
    }
)


@settings(max_examples=150, deadline=None)
@given(measurement_lists(), deductions)
def test_matches_reference_and_invariants(ms, kw):
    r = calc(ms, **kw)
    er, issuable, buf = reference_issuable(
        ms,
        DEFAULT_SPECIES_TABLE,
        kw["baseline"],
        kw["leakage"],
        kw["project_emissions"],
        kw["uncertainty_deduction"],
        kw["buffer_rate"],
    )
    assert r.er == er
    assert r.issuable == issuable
    assert r.to_buffer == buf
    assert r.issuable >= 0
    assert 0 <= r.to_buffer <= r.issuable
    assert r.to_owner == r.issuable - r.to_buffer >= 0
    assert r.delta_c_project == sum((p.co2e for p in r.plots), F(0))
    assert [(p.plot_id, p.species) for p in r.plots] == [(m.plot_id, m.species) for m in ms]


@settings(max_examples=100, deadline=None)
@given(measurement_lists(), deductions, st.randoms(use_true_random=False))
def test_totals_independent_of_order(ms, kw, rnd):
    shuffled = list(ms)
    rnd.shuffle(shuffled)
    a, b = calc(ms, **kw), calc(shuffled, **kw)
    for name in (
        "delta_c_project",
        "er",
        "uncertainty_deduction_amount",
        "carbon_start",
        "carbon_end",
    ):
        assert getattr(a, name) == getattr(b, name)
    assert (a.issuable, a.to_buffer, a.to_owner) == (b.issuable, b.to_buffer, b.to_owner)


@settings(max_examples=100, deadline=None)
@given(measurement_lists(), deductions, st.integers(min_value=0), st.data())
def test_issuable_monotone_in_volume_end(ms, kw, bump_seed, data):
    idx = data.draw(st.integers(min_value=0, max_value=len(ms) - 1))
    bump = F(bump_seed % 10**9, 1000)
    m = ms[idx]
    bigger = list(ms)
    bigger[idx] = PlotMeasurement(m.plot_id, m.species, m.volume_start, m.volume_end + bump)
    a, b = calc(ms, **kw), calc(bigger, **kw)
    assert b.issuable >= a.issuable
    assert b.er >= a.er


@settings(max_examples=60, deadline=None)
@given(measurement_lists(), deductions)
def test_issuable_antitone_in_deductions(ms, kw):
    base = calc(ms, **kw)
    for key in ("baseline", "leakage", "project_emissions"):
        more = dict(kw)
        more[key] = kw[key] + 7
        assert calc(ms, **more).issuable <= base.issuable
    more = dict(kw)
    more["uncertainty_deduction"] = min(F(1), kw["uncertainty_deduction"] + F(1, 10))
    assert calc(ms, **more).issuable <= base.issuable


def test_species_row_may_carry_the_plausibility_ceilings() -> None:
    from chaincode.calculator import species_params_from_table

    row = {"wd": "0.307", "bef": "1.634", "r": "0.246", "cf": "0.520",
           "max_volume_per_ha": "700", "max_growth_per_ha_year": "35"}
    assert species_params_from_table({"chinese_fir": row}, "chinese_fir").to_dict() == {
        "wd": "0.307", "bef": "1.634", "r": "0.246", "cf": "0.52"}
    with pytest.raises(CalculationError) as exc:
        species_params_from_table({"chinese_fir": dict(row, max_height="40")}, "chinese_fir")
    assert exc.value.code == "invalid_parameter" and "max_height" in exc.value.message
