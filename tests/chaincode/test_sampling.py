"""The stratified sample-plot estimate (chaincode/sampling.py): hand-worked figures, the
half-width's rounding, the conservative rule, and properties."""

from __future__ import annotations

from fractions import Fraction as F

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chaincode.calculator import CalculationError, SpeciesParams
from chaincode.params import DEFAULT_PARAMS
from chaincode.sampling import (
    StratumSample,
    ceil_sqrt_scaled,
    estimate_stocks,
    stock_per_m3,
    t_value,
)

#: WD 0.6, BEF 1, R 0.25, CF 0.4: 0.6 x 1 x 1.25 x 0.4 x 44/12 = 1.1 t CO2e per m3.
EASY = SpeciesParams(F("0.6"), F(1), F("0.25"), F("0.4"))
T90 = {int(k): F(v) for k, v in DEFAULT_PARAMS["sampling_t90"].items()}


def stratum(sid: str, area: str, plot_area: str, samples: list[str], plot: str = "P",
            species: str = "x") -> StratumSample:
    return StratumSample(plot, sid, species, F(area), F(plot_area), tuple(F(v) for v in samples))


def test_hand_worked_two_strata() -> None:
    """Stratum A: 10 ha, sample plots of 0.1 ha holding 10, 12, 14 m3, i.e. 100, 120,
    140 m3/ha, x 1.1 = 110, 132, 154 t/ha: mean 132, s2 = (22^2 + 0 + 22^2) / 2 = 484,
    total 10 x 132 = 1320 t.
    Stratum B: 5 ha, sample plots of 0.05 ha holding 4, 5, 6, 5 m3 -> 88, 110, 132, 110
    t/ha: mean 110, s2 = (22^2 + 0 + 22^2 + 0) / 3 = 968/3, total 550 t.
    T = 1870; Var = 10^2 x 484 / 3 + 5^2 x (968/3) / 4 = 48400/3 + 6050/3 = 18150;
    df = 2 + 3 = 5, t = 2.015; hw = 2.015 x sqrt(18150) = 2.015 x 134.7219358... =
    271.46470064... -> rounded up 271.464701; relative 271.464701 / 1870 = 0.14517 >
    0.10, so the conservative rule applies: E = floor((1870 - 271.464701) x 1e6)."""
    est = estimate_stocks(
        [stratum("A", "10", "0.1", ["10", "12", "14"]),
         stratum("B", "5", "0.05", ["4", "5", "6", "5"])],
        [], {"x": EASY}, t_table=T90, target=F("0.1"))
    assert stock_per_m3(EASY) == F(11, 10)
    a, b = est.strata
    assert (a.n, a.mean, a.variance, a.total, a.volume_per_ha, a.volume) == (
        3, 132, 484, 1320, 120, 1200)
    assert (b.n, b.mean, b.variance, b.total, b.volume) == (4, 110, F(968, 3), 550, 500)
    assert est.total == 1870 and est.variance == 18150 and est.df == 5
    assert est.t == F("2.015")
    assert est.half_width == F("271.464701")
    assert est.relative == F("271.464701") / 1870
    assert est.conservative and est.factor == (1870 - F("271.464701")) / 1870
    assert est.plot_end_micro("P") == 1_598_535_299
    d = est.to_dict()
    assert d["half_width"] == "271.464701" and d["total"] == "1870" and d["df"] == 5
    assert d["factor"] == "0.854831" and d["conservative"] is True and d["target"] == "0.1"
    assert d["strata"][1]["variance"] == "322.666666" and d["strata"][0]["n"] == 3


def test_precise_enough_keeps_the_estimate_and_census_adds_no_variance() -> None:
    """Samples 10, 10.5, 11 m3 on 0.1 ha over 10 ha: y = 110, 115.5, 121 t/ha, mean 115.5,
    s2 = 30.25, Var = 100 x 30.25 / 3; a census plot adds 500 t without variance:
    T = 1655, hw = 2.920 x sqrt(3025/3) = 92.72... (df 2), relative 0.056 <= 0.10."""
    est = estimate_stocks([stratum("A", "10", "0.1", ["10", "10.5", "11"])], [("C", F(500))],
                          {"x": EASY}, t_table=T90, target=F("0.1"))
    assert est.total == 1655 and est.variance == F(3025, 3) and est.t == F("2.92")
    assert (est.half_width - F(1, 10**6)) ** 2 < est.t**2 * est.variance <= est.half_width**2
    assert not est.conservative and est.factor == 1
    assert est.plot_end_micro("P") == 1155_000000 and est.plot_end_micro("C") == 500_000000
    assert est.plot_stock("C") == 500


def test_zero_total_applies_nothing() -> None:
    est = estimate_stocks([stratum("A", "1", "0.1", ["0", "0", "0"])], [],
                          {"x": EASY}, t_table=T90, target=F("0.1"))
    assert est.total == 0 and est.half_width == 0 and est.relative == 0
    assert not est.conservative and est.plot_end_micro("P") == 0


def test_half_width_wider_than_the_total_gives_zero() -> None:
    est = estimate_stocks([stratum("A", "10", "0.1", ["0", "0", "30"])], [],
                          {"x": EASY}, t_table=T90, target=F("0.1"))
    assert est.half_width > est.total and est.factor == 0 and est.plot_end_micro("P") == 0


def test_t_value_takes_the_greatest_listed_df_not_above() -> None:
    assert t_value(T90, 1) == F("6.314")
    assert t_value(T90, 30) == F("1.697")
    assert t_value(T90, 35) == F("1.697")  # between 30 and 40: the larger t of df 30
    assert t_value(T90, 10_000) == F("1.658")  # beyond the table: its last entry
    with pytest.raises(CalculationError) as exc:
        t_value({3: F(2)}, 2)
    assert exc.value.code == "invalid_parameter"


def test_ceil_sqrt_scaled_exact_cases() -> None:
    assert ceil_sqrt_scaled(F(0)) == 0
    assert ceil_sqrt_scaled(F(4)) == 2
    assert ceil_sqrt_scaled(F(2)) == F("1.414214")  # sqrt 2 = 1.41421356...
    assert ceil_sqrt_scaled(F(1, 10**12)) == F(1, 10**6)
    assert ceil_sqrt_scaled(F(1, 10**13)) == F(1, 10**6)  # rounded UP, never to 0
    with pytest.raises(CalculationError):
        ceil_sqrt_scaled(F(-1))


@pytest.mark.parametrize("kwargs, fragment", [
    ({"area": "0"}, "area must be > 0"),
    ({"plot_area": "0"}, "sample plot area"),
    ({"plot_area": "11"}, "at most the stratum's 10 ha"),
    ({"samples": ["1"]}, "1 sample plots"),
    ({"samples": ["1"] * 201}, "201 sample plots"),
    ({"samples": ["1", "-1"]}, "sample 2"),
])
def test_bad_stratum_samples(kwargs: dict, fragment: str) -> None:
    args = {"area": "10", "plot_area": "0.1", "samples": ["1", "2"], **kwargs}
    with pytest.raises(CalculationError) as exc:
        stratum("A", args["area"], args["plot_area"], args["samples"])
    assert exc.value.code == "invalid_measurement" and fragment in exc.value.message


def test_float_sample_is_refused() -> None:
    with pytest.raises(CalculationError) as exc:
        StratumSample("P", "A", "x", F(1), F("0.1"), (F(1), 2.5))  # type: ignore[arg-type]
    assert exc.value.code == "invalid_measurement"


def test_unknown_species_and_bad_target() -> None:
    with pytest.raises(CalculationError) as exc:
        estimate_stocks([stratum("A", "1", "0.1", ["1", "2"], species="oak")], [],
                        {"x": EASY}, t_table=T90, target=F("0.1"))
    assert exc.value.code == "unknown_species" and "oak" in exc.value.message
    with pytest.raises(CalculationError) as exc:
        estimate_stocks([], [], {}, t_table=T90, target=F(2))
    assert exc.value.code == "invalid_parameter"


volumes = st.fractions(min_value=0, max_value=50, max_denominator=1000)


@st.composite
def strata_lists(draw: st.DrawFn) -> list[StratumSample]:
    out = []
    for i in range(draw(st.integers(1, 4))):
        area = draw(st.fractions(min_value=F(1, 10), max_value=50, max_denominator=100))
        plot_area = draw(st.sampled_from([F(1, 100), F(1, 20), F(1, 10)]))
        samples = tuple(draw(st.lists(volumes, min_size=2, max_size=8)))
        out.append(StratumSample(f"P{i % 2}", f"S{i}", "x", area, min(plot_area, area), samples))
    return out


@settings(max_examples=150, deadline=None)
@given(strata_lists(), volumes, st.fractions(min_value=F(1, 100), max_value=1, max_denominator=100))
def test_properties(strata: list[StratumSample], census: F, target: F) -> None:
    est = estimate_stocks(strata, [("C", census * 2)], {"x": EASY}, t_table=T90, target=target)
    exact_square = est.t**2 * est.variance
    # the half-width is rounded UP, by less than 1e-6 (squares compared exactly)
    assert exact_square <= est.half_width**2
    assert est.half_width == 0 or (est.half_width - F(1, 10**6)) ** 2 < exact_square
    # the lower bound never exceeds the estimate; plots share it pro rata
    assert 0 <= est.factor <= 1
    assert est.conservative == (est.total > 0 and est.half_width > target * est.total)
    if est.conservative:
        assert est.factor * est.total == max(est.total - est.half_width, F(0))
    ends = [est.plot_end_micro(p) for p in ("P0", "P1", "C")]
    assert sum(ends) <= est.total * 10**6
    for p, e in zip(("P0", "P1", "C"), ends, strict=True):
        assert e <= est.plot_stock(p) * 10**6


@settings(max_examples=50, deadline=None)
@given(st.lists(volumes, min_size=2, max_size=6), st.integers(1, 3))
def test_identical_samples_have_no_variance(values: list[F], k: int) -> None:
    same = [values[0]] * (k + 1)
    est = estimate_stocks([StratumSample("P", "A", "x", F(3), F(1, 10), tuple(same))], [],
                          {"x": EASY}, t_table=T90, target=F("0.1"))
    assert est.variance == 0 and est.half_width == 0 and est.factor == 1
