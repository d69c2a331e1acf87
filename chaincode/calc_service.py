"""The free calculation service (issue 14): a monitoring report's calculation, run off the
ledger, with every intermediate figure.

``POST /v1/calculate`` on every node and the explorer's calculator page both call
:func:`calculate`; it composes the very functions ``carbon.submit_monitoring_report`` runs
(``chaincode.calculator``, ``chaincode.sampling``, ``chaincode.strata``,
``chaincode.stock``) in the same order, with what the ledger would otherwise supply
(each plot's start volume, start stock S and high-water mark H; the PDD's baseline; the
risk rating) taken from the request. Nothing here reads or writes state: the policy
parameters are passed in (:func:`read_parameters` reads those in force from a committed
state), optionally overridden by the request (``parameters``), each override checked by
``chaincode.params.validate_param``.

Every refusal is a :class:`ChaincodeError` whose code is one of :data:`CALCULATION_CODES`
(the HTTP status of each is in ``ledger/api_errors.py``). docs/node.md "Calculation
service" is the reference of the request and the answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from typing import Any

from chaincode.calculator import (
    STOCK_SCALE,
    CalculationError,
    PlotMeasurement,
    PlotStock,
    SpeciesParams,
    calculate_removals,
    calculate_stock_removals,
    micro_text,
    species_params_from_table,
    stock_micro,
)
from chaincode.carbon_common import decimal_value, validate_date
from chaincode.framework import PARAM_PREFIX, ChaincodeError
from chaincode.params import validate_param
from chaincode.sampling import SamplingEstimate, StratumSample, estimate_stocks, stock_per_m3
from chaincode.schema import Arg, SchemaError, validate_args
from chaincode.stock import period_baseline, period_days
from chaincode.strata import (
    MAX_STRATA,
    check_growth,
    check_volume,
    parse_plot_strata,
    sampled_strata,
)
from ledger.encoding import decode_state
from ledger.fixedpoint import floor_int, format_decimal
from ledger.state import StateReader

__all__ = [
    "CALCULATION_CODES",
    "CALCULATION_PARAMETERS",
    "MAX_CALC_PLOTS",
    "MAX_CALC_SAMPLES",
    "REQUEST_SCHEMA",
    "calculate",
    "read_parameters",
]

#: Most plots in one calculation.
MAX_CALC_PLOTS = 100
#: Most sample-plot volumes in one calculation, over every stratum of every plot.
MAX_CALC_SAMPLES = 2000
#: Most sample plots in one stratum (as a monitoring report: chaincode.sampling).
_MAX_STRATUM_SAMPLES = 200

#: The policy parameters a calculation reads (and a request may override).
CALCULATION_PARAMETERS: tuple[str, ...] = (
    "buffer_rates",
    "min_sample_plots",
    "sampling_precision_target",
    "sampling_t90",
    "species_table",
    "uncertainty_deduction",
)

#: Every code :func:`calculate` refuses with.
CALCULATION_CODES: tuple[str, ...] = (
    "malformed_request",  # the request's shape: a missing or unknown field, a bad number
    "too_many_measurements",  # over MAX_CALC_PLOTS plots or MAX_CALC_SAMPLES samples
    "invalid_date",
    "invalid_period",
    "duplicate_measurement",
    "invalid_measurement",
    "unknown_species",
    "duplicate_stratum",
    "invalid_strata",
    "strata_area_mismatch",
    "too_few_samples",
    "implausible_volume",
    "implausible_growth",
    "invalid_parameter",
    "unknown_param",
    "invalid_param",
    "missing_parameter",
)

_DECIMAL_OPT = Arg("decimal", required=False)
_STRATUM = Arg("object", fields={
    "stratum_id": Arg("id"),
    "species": Arg("id"),
    "area_ha": Arg("decimal"),
    "sample_plot_area_ha": Arg("decimal"),
    "samples": Arg("list", min=1, max=_MAX_STRATUM_SAMPLES, item=Arg("decimal")),
    "volume_start": _DECIMAL_OPT,
})
_PLOT = Arg("object", fields={
    "plot_id": Arg("id"),
    "species": Arg("id"),
    "area_ha": Arg("decimal"),
    "volume_start": _DECIMAL_OPT,
    "stock_start": _DECIMAL_OPT,
    "high_water": _DECIMAL_OPT,
    "volume_end": _DECIMAL_OPT,
    "strata": Arg("list", min=1, max=MAX_STRATA, required=False, item=_STRATUM),
})

#: The request (a closed object; docs/node.md "Calculation service").
REQUEST_SCHEMA: dict[str, Arg] = {
    "plots": Arg("list", min=1, max=MAX_CALC_PLOTS, item=_PLOT),
    "period_start": Arg("str", min=10, max=10),
    "period_end": Arg("str", min=10, max=10),
    "baseline_t_per_year": _DECIMAL_OPT,
    "baseline_from": Arg("str", min=10, max=10, required=False),
    "leakage": _DECIMAL_OPT,
    "project_emissions": _DECIMAL_OPT,
    "uncertainty_deduction": _DECIMAL_OPT,
    "risk_rating": Arg("str", min=1, max=64, pattern=r"[a-z][a-z0-9_]{0,63}", required=False),
    "parameters": Arg("object", required=False),
}


def read_parameters(state: StateReader) -> dict[str, Any]:
    """The parameters a calculation reads, as in force in ``state`` (a committed state or a
    snapshot of one); a parameter that is not set is left out (a calculation that needs it
    is refused ``missing_parameter``)."""
    found: dict[str, Any] = {}
    for name in CALCULATION_PARAMETERS:
        raw = state.get(PARAM_PREFIX + name)
        if raw is not None:
            found[name] = decode_state(raw)
    return found


def _calc(exc: CalculationError) -> ChaincodeError:
    return ChaincodeError(exc.code, exc.message)


def _merge_parameters(
    ledger: Mapping[str, Any], overrides: Mapping[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """The parameters after the request's overrides, and the names overridden (sorted).
    ``species_table`` is merged species by species and field by field (``{"chinese_fir":
    {"cf": "0.47"}}`` changes one figure); every other parameter is replaced whole."""
    merged = dict(ledger)
    for name in sorted(overrides):
        if name not in CALCULATION_PARAMETERS:
            raise ChaincodeError(
                "unknown_param",
                f"parameters.{name} is not a parameter of the calculation; it reads "
                + ", ".join(CALCULATION_PARAMETERS),
            )
        value = overrides[name]
        if name == "species_table" and isinstance(value, Mapping):
            table = {sp: dict(row) for sp, row in (ledger.get(name) or {}).items()}
            for sp, row in value.items():
                if not isinstance(row, Mapping):
                    raise ChaincodeError("invalid_param",
                                         f"parameters.species_table.{sp} must be an object")
                table[sp] = {**table.get(sp, {}), **row}
            value = table
        validate_param(name, value)
        merged[name] = value
    return merged, sorted(overrides)


def _param(params: Mapping[str, Any], name: str) -> Any:
    if name not in params:
        raise ChaincodeError("missing_parameter", f"policy parameter {name!r} is not set")
    return params[name]


def _risk_rating(params: Mapping[str, Any], given: str | None) -> tuple[str, Fraction]:
    """The rating and its buffer rate; without a rating, the highest rate (the owner's
    share is then never overstated)."""
    rates = _param(params, "buffer_rates")
    if not isinstance(rates, Mapping) or not rates:
        raise ChaincodeError("invalid_parameter", "parameter buffer_rates must be an object")
    parsed = {r: decimal_value(v, f"buffer_rates.{r}", code="invalid_parameter")
              for r, v in sorted(rates.items())}
    if given is None:
        given = max(sorted(parsed), key=lambda r: parsed[r])
    if given not in parsed:
        raise ChaincodeError(
            "invalid_parameter",
            f"parameter buffer_rates has no rate for risk rating {given!r} (has: "
            + ", ".join(parsed) + ")",
        )
    return given, parsed[given]


def _count_samples(body: Any) -> None:
    """Refuse an oversize request before any figure is parsed."""
    plots = body.get("plots") if isinstance(body, Mapping) else None
    if not isinstance(plots, list):
        return
    if len(plots) > MAX_CALC_PLOTS:
        raise ChaincodeError(
            "too_many_measurements",
            f"{len(plots)} plots; a calculation takes at most {MAX_CALC_PLOTS}",
        )
    total = 0
    for plot in plots:
        strata = plot.get("strata") if isinstance(plot, Mapping) else None
        for s in strata if isinstance(strata, list) else ():
            samples = s.get("samples") if isinstance(s, Mapping) else None
            total += len(samples) if isinstance(samples, list) else 0
    if total > MAX_CALC_SAMPLES:
        raise ChaincodeError(
            "too_many_measurements",
            f"{total} sample plots; a calculation takes at most {MAX_CALC_SAMPLES}",
        )


def calculate(body: Any, ledger_params: Mapping[str, Any], *, height: int) -> dict[str, Any]:
    """The calculation of ``body`` (the request) with ``ledger_params`` (the parameters in
    force at committed ``height``), as ``submit_monitoring_report`` would compute it.
    Returns every figure (docs/node.md "Calculation service"); raises ChaincodeError."""
    _count_samples(body)
    try:
        args = validate_args(REQUEST_SCHEMA, body) if isinstance(body, Mapping) else None
    except SchemaError as exc:
        raise ChaincodeError("malformed_request", str(exc)) from None
    if args is None:
        raise ChaincodeError("malformed_request", "a calculation request is a JSON object")
    params, overridden = _merge_parameters(ledger_params, args["parameters"] or {})

    start = validate_date(args["period_start"], "period_start")
    end = validate_date(args["period_end"], "period_end")
    if not start < end:
        raise ChaincodeError(
            "invalid_period", f"the period must start before it ends ({start}..{end})"
        )
    days = period_days(start, end)
    baseline_rate = args["baseline_t_per_year"] or "0"
    # the ledger's baseline_start: the day after the project's last verified period (or
    # its start date), which the request supplies; the period's start by default
    baseline_from = start
    if args["baseline_from"] is not None:
        baseline_from = validate_date(args["baseline_from"], "baseline_from")
        if baseline_from > start:
            raise ChaincodeError(
                "invalid_period",
                f"the baseline's first day {baseline_from} must be on or before the period's"
                f" start {start} (it is the day after the project's last verified period)",
            )
    baseline = period_baseline(baseline_rate, baseline_from, end)

    table = _param(params, "species_table")
    if not isinstance(table, Mapping):
        raise ChaincodeError("invalid_parameter", "parameter species_table must be an object")
    min_samples = _param(params, "min_sample_plots")
    if type(min_samples) is not int:
        raise ChaincodeError("invalid_parameter", "parameter min_sample_plots must be an integer")
    species_params: dict[str, SpeciesParams] = {}

    def species(code: str) -> SpeciesParams:
        if code not in species_params:
            try:
                species_params[code] = species_params_from_table(table, code)
            except CalculationError as exc:
                raise _calc(exc) from None
        return species_params[code]

    census: list[tuple[str, Fraction]] = []
    samples: list[StratumSample] = []
    begins: dict[str, dict[str, Fraction]] = {}
    starts: dict[str, tuple[int, int]] = {}  # plot -> (S, H) in micro-tonnes
    start_volumes: dict[str, Fraction] = {}
    end_volumes: dict[str, Fraction] = {}  # census plots
    given: dict[str, dict[str, Any]] = {}
    for m in args["plots"]:
        plot_id = m["plot_id"]
        if plot_id in given:
            raise ChaincodeError("duplicate_measurement", f"plot {plot_id} is measured more than once")
        given[plot_id] = m
        area = decimal_value(m["area_ha"], f"{plot_id}.area_ha", code="invalid_measurement")
        if area <= 0:
            raise ChaincodeError("invalid_measurement",
                                 f"plot {plot_id} has an area of {m['area_ha']} ha; it must be > 0")
        if (m["volume_end"] is None) == (m["strata"] is None):
            raise ChaincodeError(
                "invalid_measurement",
                f"plot {plot_id}: give either volume_end (a census of every tree) or strata"
                " (sample plots per stratum), not both and not neither",
            )
        sp = species(m["species"])
        start_volume = decimal_value(m["volume_start"] or "0", f"{plot_id}.volume_start",
                                     code="invalid_measurement")
        start_volumes[plot_id] = start_volume
        if m["strata"] is None:  # census: complete enumeration, no sampling error
            try:
                volume_end = PlotMeasurement.from_strings(
                    plot_id, m["species"], "0", m["volume_end"]).volume_end
            except CalculationError as exc:
                raise _calc(exc) from None
            check_volume(table, plot_id, None, m["species"], volume_end / area)
            check_growth(table, plot_id, None, m["species"], (volume_end - start_volume) / area,
                         days)
            census.append((plot_id, volume_end * stock_per_m3(sp)))
            end_volumes[plot_id] = volume_end
            default_start = stock_micro(start_volume, sp)
        else:
            record = parse_plot_strata(
                table, plot_id, m["species"], m["area_ha"],
                [{**s, "age_class": None} for s in m["strata"]])
            plot = {"declared_area_ha": m["area_ha"], "id": plot_id, "species": m["species"],
                    "strata": record}
            try:
                strata = sampled_strata(plot, m["strata"], min_samples)
            except CalculationError as exc:
                raise _calc(exc) from None
            begin: dict[str, Fraction] = {}
            exact_start = Fraction(0)
            for s, st in zip(m["strata"], strata, strict=True):
                species(st.species)
                if s["volume_start"] is not None:
                    begin[st.stratum_id] = decimal_value(
                        s["volume_start"], f"{st.stratum_id}.volume_start",
                        code="invalid_measurement")
                else:  # the plot's start volume shared by area, as the contract does
                    begin[st.stratum_id] = start_volume * st.area_ha / area
                exact_start += begin[st.stratum_id] * stock_per_m3(species_params[st.species])
                per_ha = sum((v / st.sample_plot_area_ha for v in st.samples), Fraction(0))
                per_ha /= len(st.samples)
                check_volume(table, plot_id, st.stratum_id, st.species, per_ha)
                check_growth(table, plot_id, st.stratum_id, st.species,
                             per_ha - begin[st.stratum_id] / st.area_ha, days)
            default_start = floor_int(exact_start * STOCK_SCALE)
            begins[plot_id] = begin
            samples.extend(strata)
        s_micro = _micro(m["stock_start"], f"{plot_id}.stock_start", default_start)
        h_micro = _micro(m["high_water"], f"{plot_id}.high_water", s_micro)
        if h_micro < s_micro:
            raise ChaincodeError(
                "invalid_measurement",
                f"plot {plot_id}: the high-water mark of {micro_text(h_micro)} t CO2e is below"
                f" the start stock of {micro_text(s_micro)} t CO2e; the mark is the highest"
                " stock ever verified, so it is never below the stock",
            )
        starts[plot_id] = (s_micro, h_micro)

    sampling: SamplingEstimate | None = None
    target = decimal_value(_param(params, "sampling_precision_target"),
                           "parameter sampling_precision_target", code="invalid_parameter")
    if samples:
        t90 = _param(params, "sampling_t90")
        if not isinstance(t90, Mapping) or not t90:
            raise ChaincodeError("invalid_parameter", "parameter sampling_t90 must be an object")
        t_table = {int(k): decimal_value(v, f"sampling_t90.{k}", code="invalid_parameter")
                   for k, v in t90.items()}
        try:
            sampling = estimate_stocks(samples, census, species_params, t_table=t_table,
                                       target=target)
        except CalculationError as exc:
            raise _calc(exc) from None
    stocks: list[PlotStock] = []
    for plot_id in given:
        if sampling is not None:
            end_micro = sampling.plot_end_micro(plot_id)
        else:
            end_micro = floor_int(dict(census)[plot_id] * STOCK_SCALE)
        stocks.append(PlotStock(plot_id, *starts[plot_id], end_micro))

    minimum = decimal_value(_param(params, "uncertainty_deduction"),
                            "parameter uncertainty_deduction", code="invalid_parameter")
    deduction_text = args["uncertainty_deduction"] or format_decimal(minimum)
    deduction = decimal_value(deduction_text, "uncertainty_deduction", code="invalid_parameter")
    if deduction < minimum:
        raise ChaincodeError(
            "invalid_parameter",
            f"uncertainty deduction {deduction_text} is below the regulator's minimum"
            f" {format_decimal(minimum)}",
        )
    rating, buffer_rate = _risk_rating(params, args["risk_rating"])
    try:
        calc = calculate_stock_removals(
            stocks, baseline=baseline,
            leakage=decimal_value(args["leakage"] or "0", "leakage"),
            project_emissions=decimal_value(args["project_emissions"] or "0", "project_emissions"),
            uncertainty_deduction=deduction, buffer_rate=buffer_rate)
        # every intermediate figure, per plot and species, as the report record keeps them
        rows: list[PlotMeasurement] = []
        for plot_id, m in given.items():
            if m["strata"] is None:
                rows.append(PlotMeasurement(plot_id, m["species"], start_volumes[plot_id],
                                            end_volumes[plot_id]))
                continue
            by_species = ({} if sampling is None
                          else sampling.species_volumes(plot_id, begins[plot_id]))
            rows.extend(PlotMeasurement(plot_id, sp, v0, v1) for sp, (v0, v1) in by_species.items())
        figures = calculate_removals(
            rows, species_params, baseline=Fraction(0), leakage=Fraction(0),
            project_emissions=Fraction(0), uncertainty_deduction=Fraction(0),
            buffer_rate=Fraction(0)).to_dict()
    except CalculationError as exc:
        raise _calc(exc) from None

    used = {name: params[name] for name in CALCULATION_PARAMETERS if name in params}
    return {
        **calc.to_dict(),
        "baseline_t_per_year": baseline_rate,
        "carbon_end": figures["carbon_end"],
        "carbon_start": figures["carbon_start"],
        "delta_c_project": figures["delta_c_project"],
        "parameters": {
            "height": height,
            "overridden": overridden,
            "risk_rating": rating,
            "species": {sp: species_params[sp].to_dict() for sp in sorted(species_params)},
            "values": used,
        },
        "period": {"baseline_from": baseline_from, "days": days, "end": end, "start": start},
        "plots": figures["plots"],
        "sampling": None if sampling is None else sampling.to_dict(),
        "stocks_t": [{"end": micro_text(p.end), "growth": micro_text(p.growth),
                      "fall": micro_text(p.fall), "high_water": micro_text(p.high_water),
                      "high_water_after": micro_text(p.high_water_after),
                      "plot_id": p.plot_id, "start": micro_text(p.start)} for p in stocks],
    }


def _micro(text: str | None, name: str, default: int) -> int:
    """A stock given in t CO2e (<= 6 places) as micro-tonnes, or ``default``."""
    if text is None:
        return default
    return floor_int(decimal_value(text, name, code="invalid_measurement") * STOCK_SCALE)
