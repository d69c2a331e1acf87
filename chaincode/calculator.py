"""Afforestation stock-change calculator (CCER afforestation, IPCC form).

This is the exact code the carbon contract runs to recompute a monitoring
report (shared/docs/DOMAIN.md, "The afforestation calculation")::

    C_tree(t)  = sum over measurements of  V(t) * WD * BEF * (1 + R) * CF   [t C]
    dC_project = (C_tree(t2) - C_tree(t1)) * 44/12                        [t CO2e]
    ER         = dC_project - dC_baseline - leakage - project_emissions
    issuable   = floor(ER * (1 - uncertainty_deduction))                  [t CO2e]
    to_buffer  = ceil(issuable * buffer_rate)
    to_owner   = issuable - to_buffer

Arithmetic is exact (:class:`fractions.Fraction`); no floats. Rounding happens
in exactly three places, all stated: ``issuable`` is floored, ``to_buffer`` is
ceiled, and :meth:`RemovalCalculation.to_dict` truncates displayed figures
toward zero to 6 decimal places. **A negative or zero ER gives issuable = 0**
(and to_buffer = to_owner = 0); the negative ER itself is still reported, and
the uncertainty deduction amount is then 0.

The calculator is pure: species parameters are passed in (the regulator's table
stored on the ledger); :data:`DEFAULT_SPECIES_TABLE` only seeds genesis and must
never be read by rule code as a constant.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from types import MappingProxyType
from typing import Any

from ledger.fixedpoint import FixedPointError, ceil_int, floor_int, format_decimal, parse_decimal

__all__ = [
    "CO2_PER_C",
    "DEFAULT_SPECIES_TABLE",
    "MAX_MEASUREMENTS",
    "SPECIES_CEILING_KEYS",
    "SPECIES_PARAM_KEYS",
    "STOCK_SCALE",
    "CalculationError",
    "PlotMeasurement",
    "PlotStock",
    "PlotResult",
    "RemovalCalculation",
    "SpeciesParams",
    "StockCalculation",
    "calculate_removals",
    "calculate_stock_removals",
    "load_species_table",
    "micro_text",
    "micro_to_tonnes_up",
    "species_params_from_table",
    "stock_micro",
]

#: Molecular-weight ratio CO2 / C.
CO2_PER_C = Fraction(44, 12)

#: Upper bound on measurements in one calculation (one monitoring report).
MAX_MEASUREMENTS = 1000

#: Keys of one species row in a parameter table, in canonical order.
SPECIES_PARAM_KEYS: tuple[str, ...] = ("wd", "bef", "r", "cf")
#: Optional plausibility ceilings a species row may also have (m3/ha; m3/ha/yr); read by
#: the contract (``SpeciesCeilings``), not by the allometric calculation.
SPECIES_CEILING_KEYS: tuple[str, ...] = ("max_growth_per_ha_year", "max_volume_per_ha")

#: DOMAIN.md's default table (decimal strings). Used ONLY to seed genesis
#: parameters; rule code reads the regulator's table from state instead.
DEFAULT_SPECIES_TABLE: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        "chinese_fir": MappingProxyType(
            {"wd": "0.307", "bef": "1.634", "r": "0.246", "cf": "0.520"}
        ),
        "masson_pine": MappingProxyType(
            {"wd": "0.380", "bef": "1.472", "r": "0.187", "cf": "0.460"}
        ),
        "eucalyptus": MappingProxyType(
            {"wd": "0.578", "bef": "1.263", "r": "0.221", "cf": "0.525"}
        ),
    }
)


class CalculationError(ValueError):
    """Invalid calculator input.

    ``code`` is stable and machine-readable; the message is for humans. Codes:
    ``invalid_parameter`` (a species parameter, rate or deduction is out of range
    or of the wrong type), ``unknown_species``, ``invalid_measurement``,
    ``duplicate_measurement``, ``no_measurements``, ``too_many_measurements``.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _rational(value: object, *, code: str, name: str) -> Fraction:
    """Accept a Fraction or int (never bool/float/str) as an exact rational."""
    if isinstance(value, bool) or not isinstance(value, (int, Fraction)):
        raise CalculationError(
            code, f"{name} must be an exact Fraction or int, got {type(value).__name__}"
        )
    return Fraction(value)


def _parse(text: object, *, code: str, name: str) -> Fraction:
    try:
        return parse_decimal(text, field=name)  # type: ignore[arg-type]
    except FixedPointError as exc:
        raise CalculationError(code, str(exc)) from None


@dataclass(frozen=True)
class SpeciesParams:
    """Allometric parameters of one species (exact rationals).

    ``wd`` basic wood density [t dm / m3], ``bef`` biomass expansion factor,
    ``r`` root-to-shoot ratio, ``cf`` carbon fraction [t C / t dm]. All must be
    > 0, and ``cf`` <= 1. Ints are accepted and stored as Fractions.
    """

    wd: Fraction
    bef: Fraction
    r: Fraction
    cf: Fraction

    def __post_init__(self) -> None:
        for key in SPECIES_PARAM_KEYS:
            value = _rational(getattr(self, key), code="invalid_parameter", name=key)
            if value <= 0:
                raise CalculationError("invalid_parameter", f"{key} must be > 0, got {value}")
            object.__setattr__(self, key, value)
        if self.cf > 1:
            raise CalculationError("invalid_parameter", f"cf must be <= 1, got {self.cf}")

    @classmethod
    def from_strings(cls, wd: str, bef: str, r: str, cf: str) -> SpeciesParams:
        """Build from decimal strings (``ledger.fixedpoint`` syntax, <= 6 places)."""
        values = [
            _parse(text, code="invalid_parameter", name=key)
            for key, text in zip(SPECIES_PARAM_KEYS, (wd, bef, r, cf), strict=True)
        ]
        return cls(*values)

    @property
    def biomass_per_m3(self) -> Fraction:
        """WD * BEF * (1 + R): total (above + below ground) t dm per m3 of stand volume."""
        return self.wd * self.bef * (1 + self.r)

    def to_dict(self) -> dict[str, str]:
        """The parameters as decimal strings (truncated to 6 places)."""
        return {key: format_decimal(getattr(self, key)) for key in SPECIES_PARAM_KEYS}


def species_params_from_table(
    table: Mapping[str, Mapping[str, str]], species: str
) -> SpeciesParams:
    """Read one species' row from a parameter table of decimal strings.

    A row must have exactly the keys ``wd``, ``bef``, ``r``, ``cf`` and optionally the
    ceilings ``max_volume_per_ha`` and ``max_growth_per_ha_year`` (other or misspelt keys
    are rejected, so a typo cannot silently fall back to anything). Raises :class:`CalculationError` with code ``unknown_species`` if
    the species is not in the table, ``invalid_parameter`` for a bad row.
    """
    if not isinstance(table, Mapping):
        raise CalculationError("invalid_parameter", "the species parameter table must be a mapping")
    if not isinstance(species, str) or species not in table:
        known = ", ".join(sorted(str(k) for k in table))
        raise CalculationError(
            "unknown_species",
            f"unknown species {species!r}; the parameter table has: {known or '(none)'}",
        )
    row = table[species]
    if not isinstance(row, Mapping):
        raise CalculationError("invalid_parameter", f"parameters of {species!r} must be a mapping")
    keys = set(row)
    if not set(SPECIES_PARAM_KEYS) <= keys <= set(SPECIES_PARAM_KEYS + SPECIES_CEILING_KEYS):
        missing = sorted(set(SPECIES_PARAM_KEYS) - keys)
        extra = sorted(str(k) for k in keys - set(SPECIES_PARAM_KEYS + SPECIES_CEILING_KEYS))
        raise CalculationError(
            "invalid_parameter",
            f"parameters of {species!r} must have exactly keys wd, bef, r, cf and optionally"
            f" {', '.join(SPECIES_CEILING_KEYS)} (missing: {missing}, unexpected: {extra})",
        )
    values = [
        _parse(row[key], code="invalid_parameter", name=f"{species}.{key}")
        for key in SPECIES_PARAM_KEYS
    ]
    try:
        return SpeciesParams(*values)
    except CalculationError as exc:
        raise CalculationError(exc.code, f"{species}: {exc.message}") from None


def load_species_table(table: Mapping[str, Mapping[str, str]]) -> dict[str, SpeciesParams]:
    """Parse a whole parameter table; the result is keyed in sorted species order."""
    return {species: species_params_from_table(table, species) for species in sorted(table)}


@dataclass(frozen=True)
class PlotMeasurement:
    """Stand volume of one species on one plot at the start and end of the period.

    ``volume_start`` / ``volume_end`` are the stand volume [m3] of the whole plot
    (not per hectare), exact and >= 0. A mixed stand is given as several
    measurements with the same ``plot_id`` and different ``species``.
    """

    plot_id: str
    species: str
    volume_start: Fraction
    volume_end: Fraction

    def __post_init__(self) -> None:
        for key in ("plot_id", "species"):
            value = getattr(self, key)
            if not isinstance(value, str) or not value:
                raise CalculationError("invalid_measurement", f"{key} must be a non-empty string")
        for key in ("volume_start", "volume_end"):
            value = _rational(
                getattr(self, key), code="invalid_measurement", name=f"{self.plot_id}.{key}"
            )
            if value < 0:
                raise CalculationError(
                    "invalid_measurement", f"{self.plot_id}.{key} must be >= 0, got {value}"
                )
            object.__setattr__(self, key, value)

    @classmethod
    def from_strings(
        cls, plot_id: str, species: str, volume_start: str, volume_end: str
    ) -> PlotMeasurement:
        """Build from decimal strings (``ledger.fixedpoint`` syntax, <= 6 places)."""
        return cls(
            plot_id,
            species,
            _parse(volume_start, code="invalid_measurement", name=f"{plot_id}.volume_start"),
            _parse(volume_end, code="invalid_measurement", name=f"{plot_id}.volume_end"),
        )


@dataclass(frozen=True)
class PlotResult:
    """Per-measurement figures (exact)."""

    plot_id: str
    species: str
    volume_start: Fraction
    volume_end: Fraction
    biomass_start: Fraction  # t dm, above + below ground
    biomass_end: Fraction
    carbon_start: Fraction  # t C
    carbon_end: Fraction
    co2e: Fraction  # t CO2e, (carbon_end - carbon_start) * 44/12; may be negative

    def to_dict(self) -> dict[str, str]:
        """Figures as decimal strings truncated toward zero to 6 places."""
        return {
            "plot_id": self.plot_id,
            "species": self.species,
            "volume_start": format_decimal(self.volume_start),
            "volume_end": format_decimal(self.volume_end),
            "biomass_start": format_decimal(self.biomass_start),
            "biomass_end": format_decimal(self.biomass_end),
            "carbon_start": format_decimal(self.carbon_start),
            "carbon_end": format_decimal(self.carbon_end),
            "co2e": format_decimal(self.co2e),
        }


@dataclass(frozen=True)
class RemovalCalculation:
    """Result of :func:`calculate_removals`. All Fractions are exact."""

    plots: tuple[PlotResult, ...]  # in input order
    carbon_start: Fraction  # C_tree(t1), t C
    carbon_end: Fraction  # C_tree(t2), t C
    delta_c_project: Fraction  # t CO2e
    baseline: Fraction
    leakage: Fraction
    project_emissions: Fraction
    er: Fraction  # may be negative
    uncertainty_deduction: Fraction  # the rate
    uncertainty_deduction_amount: Fraction  # max(ER, 0) * rate
    issuable: int  # floor(ER - deduction amount), 0 if ER <= 0
    buffer_rate: Fraction
    to_buffer: int  # ceil(issuable * buffer_rate)
    to_owner: int  # issuable - to_buffer

    def to_dict(self) -> dict[str, Any]:
        """Every figure as a decimal string truncated toward zero to 6 places
        (``ledger.fixedpoint.format_decimal``), tonnes to issue as ints."""
        return {
            "plots": [p.to_dict() for p in self.plots],
            "carbon_start": format_decimal(self.carbon_start),
            "carbon_end": format_decimal(self.carbon_end),
            "delta_c_project": format_decimal(self.delta_c_project),
            **_deductions_json(self),
        }


def _nonneg(value: object, name: str) -> Fraction:
    q = _rational(value, code="invalid_parameter", name=name)
    if q < 0:
        raise CalculationError("invalid_parameter", f"{name} must be >= 0, got {q}")
    return q


def _rate(value: object, name: str) -> Fraction:
    q = _rational(value, code="invalid_parameter", name=name)
    if not 0 <= q <= 1:
        raise CalculationError("invalid_parameter", f"{name} must be in [0, 1], got {q}")
    return q


@dataclass(frozen=True)
class _Deductions:
    """The formula's terms after the gross removals (validated), applied by :meth:`apply`
    the same way by both calculations: ER, the uncertainty deduction, whole tonnes rounded
    down, the buffer share rounded up."""

    baseline: Fraction
    leakage: Fraction
    project_emissions: Fraction
    uncertainty_deduction: Fraction
    buffer_rate: Fraction

    @classmethod
    def parse(cls, baseline: object, leakage: object, project_emissions: object,
              uncertainty_deduction: object, buffer_rate: object) -> _Deductions:
        return cls(_nonneg(baseline, "baseline"), _nonneg(leakage, "leakage"),
                   _nonneg(project_emissions, "project_emissions"),
                   _rate(uncertainty_deduction, "uncertainty_deduction"),
                   _rate(buffer_rate, "buffer_rate"))

    def apply(self, gross: Fraction) -> dict[str, Any]:
        """The fields ``baseline`` … ``to_owner`` of a calculation with ``gross`` removals."""
        er = gross - self.baseline - self.leakage - self.project_emissions
        if er > 0:
            deduction = er * self.uncertainty_deduction
            issuable = floor_int(er - deduction)  # = floor(ER * (1 - u)), rounded DOWN
        else:
            deduction = Fraction(0)
            issuable = 0  # negative or zero ER issues nothing
        to_buffer = ceil_int(issuable * self.buffer_rate)  # rounded UP
        return {"baseline": self.baseline, "leakage": self.leakage,
                "project_emissions": self.project_emissions, "er": er,
                "uncertainty_deduction": self.uncertainty_deduction,
                "uncertainty_deduction_amount": deduction, "issuable": issuable,
                "buffer_rate": self.buffer_rate, "to_buffer": to_buffer,
                "to_owner": issuable - to_buffer}


def _deductions_json(calc: RemovalCalculation | StockCalculation) -> dict[str, Any]:
    """The deduction figures of a calculation as ``to_dict`` gives them."""
    return {
        "baseline": format_decimal(calc.baseline),
        "leakage": format_decimal(calc.leakage),
        "project_emissions": format_decimal(calc.project_emissions),
        "er": format_decimal(calc.er),
        "uncertainty_deduction": format_decimal(calc.uncertainty_deduction),
        "uncertainty_deduction_amount": format_decimal(calc.uncertainty_deduction_amount),
        "issuable": calc.issuable,
        "buffer_rate": format_decimal(calc.buffer_rate),
        "to_buffer": calc.to_buffer,
        "to_owner": calc.to_owner,
    }


def calculate_removals(
    measurements: Sequence[PlotMeasurement],
    params: Mapping[str, SpeciesParams],
    *,
    baseline: Fraction,
    leakage: Fraction,
    project_emissions: Fraction,
    uncertainty_deduction: Fraction,
    buffer_rate: Fraction,
) -> RemovalCalculation:
    """Compute the removals of one monitoring period (see module docstring).

    ``measurements``: 1..1000 :class:`PlotMeasurement`, no two with the same
    (plot_id, species); every species must be in ``params``. ``baseline``
    (dC_baseline), ``leakage`` and ``project_emissions`` are t CO2e >= 0;
    ``uncertainty_deduction`` and ``buffer_rate`` are rates in [0, 1]. All
    numbers are exact Fractions or ints (floats are rejected). Raises
    :class:`CalculationError`.
    """
    if not isinstance(measurements, (list, tuple)):
        raise CalculationError("invalid_measurement", "measurements must be a list or tuple")
    if not measurements:
        raise CalculationError("no_measurements", "at least one measurement is required")
    if len(measurements) > MAX_MEASUREMENTS:
        raise CalculationError(
            "too_many_measurements",
            f"{len(measurements)} measurements; at most {MAX_MEASUREMENTS} are allowed",
        )
    if not isinstance(params, Mapping):
        raise CalculationError("invalid_parameter", "params must map species to SpeciesParams")
    deductions = _Deductions.parse(baseline, leakage, project_emissions, uncertainty_deduction,
                                   buffer_rate)

    seen: set[tuple[str, str]] = set()
    results: list[PlotResult] = []
    carbon_start = Fraction(0)
    carbon_end = Fraction(0)
    for index, m in enumerate(measurements):
        if not isinstance(m, PlotMeasurement):
            raise CalculationError(
                "invalid_measurement", f"measurement {index} is not a PlotMeasurement"
            )
        key = (m.plot_id, m.species)
        if key in seen:
            raise CalculationError(
                "duplicate_measurement",
                f"plot {m.plot_id!r} has more than one measurement of species {m.species!r}",
            )
        seen.add(key)
        sp = params.get(m.species)
        if sp is None:
            raise CalculationError(
                "unknown_species",
                f"plot {m.plot_id!r}: no parameters for species {m.species!r}",
            )
        if not isinstance(sp, SpeciesParams):
            raise CalculationError(
                "invalid_parameter", f"parameters of {m.species!r} are not SpeciesParams"
            )
        per_m3 = sp.biomass_per_m3
        biomass_start = m.volume_start * per_m3
        biomass_end = m.volume_end * per_m3
        c_start = biomass_start * sp.cf
        c_end = biomass_end * sp.cf
        carbon_start += c_start
        carbon_end += c_end
        results.append(
            PlotResult(
                plot_id=m.plot_id,
                species=m.species,
                volume_start=m.volume_start,
                volume_end=m.volume_end,
                biomass_start=biomass_start,
                biomass_end=biomass_end,
                carbon_start=c_start,
                carbon_end=c_end,
                co2e=(c_end - c_start) * CO2_PER_C,
            )
        )

    delta_c_project = (carbon_end - carbon_start) * CO2_PER_C
    return RemovalCalculation(
        plots=tuple(results),
        carbon_start=carbon_start,
        carbon_end=carbon_end,
        delta_c_project=delta_c_project,
        **deductions.apply(delta_c_project),
    )


# -- stock accounting (DOMAIN.md "Stock accounting") ---------------------------------------
#: Scale of stocks kept on the ledger: integers of 1e-6 t CO2e ("micro-tonnes").
STOCK_SCALE = 10**6


def stock_micro(volume: Fraction, params: SpeciesParams) -> int:
    """The stock of ``volume`` m3 of one species in micro-tonnes of CO2e, rounded DOWN:
    ``floor(V * WD * BEF * (1 + R) * CF * 44/12 * 10^6)``."""
    v = _rational(volume, code="invalid_measurement", name="volume")
    if v < 0:
        raise CalculationError("invalid_measurement", f"volume must be >= 0, got {v}")
    return floor_int(v * params.biomass_per_m3 * params.cf * CO2_PER_C * STOCK_SCALE)


def micro_text(micro: int) -> str:
    """Micro-tonnes as a decimal string of tonnes (exact: at most 6 places)."""
    return format_decimal(Fraction(micro, STOCK_SCALE))


def micro_to_tonnes_up(micro: int) -> int:
    """Micro-tonnes as whole tonnes rounded UP (reversals are cancelled in whole units,
    never fewer than the stock lost)."""
    return ceil_int(Fraction(micro, STOCK_SCALE))


@dataclass(frozen=True)
class PlotStock:
    """One plot's stock figures in a period (micro-tonnes of CO2e, integers).

    ``start`` is the ledger's last verified stock S, ``high_water`` the mark H before the
    period, ``end`` the stock E the ledger computes from the measured volume;
    ``growth = max(0, E - H)`` (creditable), ``fall = max(0, S - E)`` (a reversal),
    ``high_water_after = max(H, E)``."""

    plot_id: str
    start: int
    high_water: int
    end: int

    @property
    def growth(self) -> int:
        return max(0, self.end - self.high_water)

    @property
    def fall(self) -> int:
        return max(0, self.start - self.end)

    @property
    def high_water_after(self) -> int:
        return max(self.high_water, self.end)

    def to_dict(self) -> dict[str, Any]:
        return {
            "end": self.end,
            "fall": self.fall,
            "growth": self.growth,
            "high_water": self.high_water,
            "high_water_after": self.high_water_after,
            "plot_id": self.plot_id,
            "start": self.start,
        }


@dataclass(frozen=True)
class StockCalculation:
    """Result of :func:`calculate_stock_removals` (all Fractions exact)."""

    plots: tuple[PlotStock, ...]  # in input order
    growth: Fraction  # sum of max(0, E - H), t CO2e: what enters the formula
    fall: Fraction  # sum of max(0, S - E), t CO2e
    baseline: Fraction
    leakage: Fraction
    project_emissions: Fraction
    er: Fraction  # growth - baseline - leakage - project_emissions; may be negative
    uncertainty_deduction: Fraction
    uncertainty_deduction_amount: Fraction
    issuable: int  # floor(ER * (1 - u)), 0 if ER <= 0
    buffer_rate: Fraction
    to_buffer: int
    to_owner: int

    def to_dict(self) -> dict[str, Any]:
        """Stocks as integers of micro-tonnes; other figures as decimal strings truncated
        toward zero to 6 places; tonnes to issue as ints."""
        return {
            "stocks": [p.to_dict() for p in self.plots],
            "growth": format_decimal(self.growth),
            "fall": format_decimal(self.fall),
            **_deductions_json(self),
        }


def calculate_stock_removals(
    stocks: Sequence[PlotStock],
    *,
    baseline: Fraction,
    leakage: Fraction,
    project_emissions: Fraction,
    uncertainty_deduction: Fraction,
    buffer_rate: Fraction,
) -> StockCalculation:
    """Removals of one period under the ledger's stock accounting: only growth above each
    plot's high-water mark is creditable; baseline, leakage, project emissions and the
    uncertainty deduction apply to it exactly as in :func:`calculate_removals`."""
    if not stocks:
        raise CalculationError("no_measurements", "at least one plot stock is required")
    deductions = _Deductions.parse(baseline, leakage, project_emissions, uncertainty_deduction,
                                   buffer_rate)
    growth = Fraction(sum(p.growth for p in stocks), STOCK_SCALE)
    fall = Fraction(sum(p.fall for p in stocks), STOCK_SCALE)
    return StockCalculation(plots=tuple(stocks), growth=growth, fall=fall,
                            **deductions.apply(growth))
