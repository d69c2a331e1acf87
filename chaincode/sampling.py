"""Stratified sample-plot estimate of stand stocks (part of the calculator library).

The exact code the carbon contract runs for a monitoring report whose plots are measured
by sample plots per stratum (docs/domain.md "Sampling"; CDM A/R tool "Estimation of
carbon stocks and change in carbon stocks of trees and shrubs in A/R CDM project
activities", stratified random sampling). For stratum h of area ``A_h`` ha with ``n_h``
sample plots of ``a_h`` ha each, and sample volumes ``v_i`` m3::

    f_h      = WD * BEF * (1 + R) * CF * 44/12            (t CO2e per m3, stratum species)
    y_i      = v_i / a_h * f_h                            (t CO2e per ha)
    mean_h   = sum(y_i) / n_h
    s2_h     = sum((y_i - mean_h)^2) / (n_h - 1)
    total_h  = A_h * mean_h                               (t CO2e)

Over every stratum of every plot of the report (a census plot adds its stock with zero
variance)::

    T    = sum(total_h) + sum(census stocks)
    Var  = sum(A_h^2 * s2_h / n_h)
    df   = sum(n_h - 1)
    t    = Student t, two-sided 90 %, for df (regulator table)
    hw   = t * sqrt(Var), rounded UP to 1e-6 t CO2e   (isqrt of a scaled integer)
    rel  = hw / T                                      (0 if T = 0)

If ``rel`` > target (exact comparison), the conservative rule applies: every plot's stock
is multiplied by ``factor = max(T - hw, 0) / T`` (the lower bound of the 90 % confidence
interval, shared pro rata); otherwise ``factor = 1``. Plot stocks are then rounded DOWN
to the micro-tonne. All arithmetic is exact (:class:`fractions.Fraction`, ``math.isqrt``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from math import isqrt
from typing import Any

from chaincode.calculator import CO2_PER_C, STOCK_SCALE, CalculationError, SpeciesParams
from ledger.fixedpoint import ceil_int, floor_int, format_decimal

__all__ = [
    "HALF_WIDTH_SCALE",
    "MAX_SAMPLES",
    "SamplingEstimate",
    "StratumEstimate",
    "StratumSample",
    "ceil_sqrt_scaled",
    "estimate_stocks",
    "stock_per_m3",
    "t_value",
]

#: Scale of the confidence half-width: 1e-6 t CO2e, rounded UP.
HALF_WIDTH_SCALE = 10**6
#: Most sample plots in one stratum.
MAX_SAMPLES = 200


def stock_per_m3(params: SpeciesParams) -> Fraction:
    """t CO2e per m3 of stand volume: WD * BEF * (1 + R) * CF * 44/12 (exact)."""
    return params.biomass_per_m3 * params.cf * CO2_PER_C


def ceil_sqrt_scaled(square: Fraction, scale: int = HALF_WIDTH_SCALE) -> Fraction:
    """The smallest multiple of ``1/scale`` that is >= sqrt(``square``), exactly.

    With ``X = square * scale^2``, an integer k satisfies k >= sqrt(X) iff k^2 >= ceil(X),
    so ``k = ceil(sqrt(ceil(X)))`` computed with :func:`math.isqrt` is exact."""
    if square < 0:
        raise CalculationError("invalid_parameter", f"cannot take the square root of {square}")
    target = ceil_int(square * scale * scale)
    root = isqrt(target)
    if root * root < target:
        root += 1
    return Fraction(root, scale)


def t_value(table: Mapping[int, Fraction], df: int) -> Fraction:
    """Student's t for ``df`` degrees of freedom: the entry of the greatest listed
    df' <= df (t falls as df grows, so this never understates t; the last entry applies
    beyond the table)."""
    listed = [k for k in sorted(table) if k <= df]
    if not listed:
        raise CalculationError(
            "invalid_parameter", f"the t table has no entry for {df} degrees of freedom or fewer"
        )
    return table[listed[-1]]


@dataclass(frozen=True)
class StratumSample:
    """The sample plots of one stratum of one plot.

    ``area_ha`` is the stratum's registered area, ``sample_plot_area_ha`` the area of each
    sample plot, ``samples`` the stand volume measured on each sample plot (m3)."""

    plot_id: str
    stratum_id: str
    species: str
    area_ha: Fraction
    sample_plot_area_ha: Fraction
    samples: tuple[Fraction, ...]

    def __post_init__(self) -> None:
        where = f"plot {self.plot_id} stratum {self.stratum_id}"
        if self.area_ha <= 0:
            raise CalculationError("invalid_measurement", f"{where}: area must be > 0")
        if not 0 < self.sample_plot_area_ha <= self.area_ha:
            raise CalculationError(
                "invalid_measurement",
                f"{where}: the sample plot area of {format_decimal(self.sample_plot_area_ha)}"
                f" ha must be > 0 and at most the stratum's {format_decimal(self.area_ha)} ha",
            )
        if not 2 <= len(self.samples) <= MAX_SAMPLES:
            raise CalculationError(
                "invalid_measurement",
                f"{where}: {len(self.samples)} sample plots; 2..{MAX_SAMPLES} are needed",
            )
        for i, v in enumerate(self.samples):
            if isinstance(v, bool) or not isinstance(v, (int, Fraction)) or v < 0:
                raise CalculationError(
                    "invalid_measurement", f"{where}: sample {i + 1} must be an exact volume >= 0"
                )


@dataclass(frozen=True)
class StratumEstimate:
    """The figures of one stratum (exact)."""

    sample: StratumSample
    stock_per_m3: Fraction  # t CO2e per m3
    volume_per_ha: Fraction  # mean of v_i / a, m3 per ha
    mean: Fraction  # t CO2e per ha
    variance: Fraction  # s2, (t CO2e per ha)^2, n - 1 divisor
    total: Fraction  # A * mean, t CO2e
    volume: Fraction  # A * volume_per_ha, m3

    @property
    def n(self) -> int:
        return len(self.sample.samples)

    def to_dict(self) -> dict[str, Any]:
        """Figures as decimal strings truncated toward zero to 6 places."""
        s = self.sample
        return {
            "area_ha": format_decimal(s.area_ha),
            "mean": format_decimal(self.mean),
            "n": self.n,
            "plot_id": s.plot_id,
            "sample_plot_area_ha": format_decimal(s.sample_plot_area_ha),
            "species": s.species,
            "stratum_id": s.stratum_id,
            "total": format_decimal(self.total),
            "variance": format_decimal(self.variance),
            "volume": format_decimal(self.volume),
            "volume_per_ha": format_decimal(self.volume_per_ha),
        }


@dataclass(frozen=True)
class SamplingEstimate:
    """Result of :func:`estimate_stocks` (exact figures)."""

    strata: tuple[StratumEstimate, ...]  # in input order
    census: tuple[tuple[str, Fraction], ...]  # (plot_id, exact stock t CO2e), input order
    total: Fraction  # T
    variance: Fraction  # Var
    df: int
    t: Fraction
    half_width: Fraction  # hw, rounded up to 1e-6
    relative: Fraction  # hw / T (0 if T = 0)
    target: Fraction
    conservative: bool  # relative > target
    factor: Fraction  # applied to every plot's stock

    def plot_stock(self, plot_id: str) -> Fraction:
        """The plot's exact stock before the factor (t CO2e)."""
        total = sum((s.total for s in self.strata if s.sample.plot_id == plot_id), Fraction(0))
        return total + sum((v for p, v in self.census if p == plot_id), Fraction(0))

    def plot_end_micro(self, plot_id: str) -> int:
        """The plot's end stock E in micro-tonnes: floor(stock * factor * 1e6)."""
        return floor_int(self.plot_stock(plot_id) * self.factor * STOCK_SCALE)

    def species_volumes(
        self, plot_id: str, start: Mapping[str, Fraction]
    ) -> dict[str, tuple[Fraction, Fraction]]:
        """A sampled plot's stand volumes (m3) per species, in the order its strata were
        given: ``(start, end)`` summed over its strata of that species, ``start`` being
        each stratum's start volume (by stratum id)."""
        out: dict[str, tuple[Fraction, Fraction]] = {}
        for est in self.strata:
            if est.sample.plot_id == plot_id:
                v0, v1 = out.get(est.sample.species, (Fraction(0), Fraction(0)))
                out[est.sample.species] = (v0 + start[est.sample.stratum_id], v1 + est.volume)
        return out

    def to_dict(self) -> dict[str, Any]:
        """Every figure: per stratum n, mean, s2, total; each census plot's stock; T, Var, df, t, hw, relative,
        target, the conservative flag and the applied factor (decimal strings truncated
        toward zero to 6 places; ``half_width`` is exact at that scale)."""
        return {
            "census": [{"plot_id": p, "stock": format_decimal(v)} for p, v in self.census],
            "conservative": self.conservative,
            "df": self.df,
            "factor": format_decimal(self.factor),
            "half_width": format_decimal(self.half_width),
            "relative_half_width": format_decimal(self.relative),
            "strata": [s.to_dict() for s in self.strata],
            "t": format_decimal(self.t),
            "target": format_decimal(self.target),
            "total": format_decimal(self.total),
            "variance": format_decimal(self.variance),
        }


def _estimate_stratum(sample: StratumSample, params: SpeciesParams) -> StratumEstimate:
    per_m3 = stock_per_m3(params)
    n = len(sample.samples)
    per_ha = [v / sample.sample_plot_area_ha for v in sample.samples]
    volume_per_ha = sum(per_ha, Fraction(0)) / n
    ys = [v * per_m3 for v in per_ha]
    mean = sum(ys, Fraction(0)) / n
    variance = sum(((y - mean) ** 2 for y in ys), Fraction(0)) / (n - 1)
    return StratumEstimate(
        sample=sample,
        stock_per_m3=per_m3,
        volume_per_ha=volume_per_ha,
        mean=mean,
        variance=variance,
        total=sample.area_ha * mean,
        volume=sample.area_ha * volume_per_ha,
    )


def estimate_stocks(
    strata: Sequence[StratumSample],
    census: Sequence[tuple[str, Fraction]],
    params: Mapping[str, SpeciesParams],
    *,
    t_table: Mapping[int, Fraction],
    target: Fraction,
) -> SamplingEstimate:
    """The stratified estimate of a report (module docstring). ``census`` lists the
    exact stocks (t CO2e) of the plots measured by complete enumeration; they add to T
    with no variance. Raises :class:`CalculationError`."""
    if not 0 <= target <= 1:
        raise CalculationError("invalid_parameter", f"precision target must be in [0, 1], got {target}")
    estimates: list[StratumEstimate] = []
    for s in strata:
        sp = params.get(s.species)
        if not isinstance(sp, SpeciesParams):
            raise CalculationError(
                "unknown_species",
                f"plot {s.plot_id} stratum {s.stratum_id}: no parameters for species {s.species!r}",
            )
        estimates.append(_estimate_stratum(s, sp))
    total = sum((e.total for e in estimates), Fraction(0)) + sum(
        (v for _, v in census), Fraction(0)
    )
    variance = sum((e.sample.area_ha**2 * e.variance / e.n for e in estimates), Fraction(0))
    df = sum(e.n - 1 for e in estimates)
    t = t_value(t_table, df) if estimates else Fraction(0)
    half_width = ceil_sqrt_scaled(t * t * variance)
    relative = half_width / total if total > 0 else Fraction(0)
    conservative = relative > target
    factor = max(total - half_width, Fraction(0)) / total if conservative else Fraction(1)
    return SamplingEstimate(
        strata=tuple(estimates),
        census=tuple(census),
        total=total,
        variance=variance,
        df=df,
        t=t,
        half_width=half_width,
        relative=relative,
        target=target,
        conservative=conservative,
        factor=factor,
    )
