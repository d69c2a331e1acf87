"""Strata of a plot, sampled measurements and plausibility ceilings (the contract's side
of the methodology; the statistics are in ``chaincode.sampling``).

A plot's strata (``register_plot`` argument ``strata``) are stored on the plot record as
``strata``: ``[{"age_class", "area_ha", "species", "stratum_id"}]``. A plot registered
without strata has one implicit stratum, :data:`IMPLICIT_STRATUM`, of its species over
its whole declared area (nothing extra is stored).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any

from chaincode.carbon_common import decimal_value
from chaincode.framework import ChaincodeError, TxContext
from chaincode.sampling import MAX_SAMPLES, StratumSample
from chaincode.schema import Arg
from ledger.fixedpoint import format_decimal

__all__ = [
    "IMPLICIT_STRATUM",
    "MAX_STRATA",
    "PLOT_STRATA_ARG",
    "REPORT_STRATA_ARG",
    "check_growth",
    "check_volume",
    "parse_plot_strata",
    "plot_strata",
    "sampled_strata",
    "t_table",
]

#: Most strata in one plot.
MAX_STRATA = 16
#: The stratum id of a plot registered without strata.
IMPLICIT_STRATUM = "all"

PLOT_STRATA_ARG = Arg(
    "list",
    min=1,
    max=MAX_STRATA,
    required=False,
    item=Arg(
        "object",
        fields={
            "stratum_id": Arg("id"),
            "species": Arg("id"),
            "age_class": Arg("str", min=1, max=32, required=False),
            "area_ha": Arg("decimal"),
        },
    ),
)

REPORT_STRATA_ARG = Arg(
    "list",
    min=1,
    max=MAX_STRATA,
    required=False,
    item=Arg(
        "object",
        fields={
            "stratum_id": Arg("id"),
            "sample_plot_area_ha": Arg("decimal"),
            "samples": Arg("list", min=1, max=MAX_SAMPLES, item=Arg("decimal")),
        },
    ),
)


def parse_plot_strata(
    table: Mapping[str, Any], plot_id: str, species: str, declared_ha: str,
    given: Sequence[Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """Validate ``register_plot``'s strata; the record to store, in the given order."""
    seen: set[str] = set()
    total = Fraction(0)
    record = []
    for s in given:
        sid = s["stratum_id"]
        if sid in seen:
            raise ChaincodeError(
                "duplicate_stratum", f"plot {plot_id} lists stratum {sid} more than once"
            )
        seen.add(sid)
        if s["species"] not in table:
            raise ChaincodeError(
                "unknown_species",
                f"stratum {sid} of plot {plot_id}: species {s['species']!r} is not in the"
                " parameter species_table",
            )
        area = decimal_value(s["area_ha"], f"strata.{sid}.area_ha")
        if area <= 0:
            raise ChaincodeError(
                "invalid_strata",
                f"stratum {sid} of plot {plot_id} has an area of {s['area_ha']} ha; a stratum"
                " needs an area > 0",
            )
        total += area
        record.append({"age_class": s["age_class"], "area_ha": s["area_ha"],
                       "species": s["species"], "stratum_id": sid})
    declared = decimal_value(declared_ha, "declared_area_ha")
    if total != declared:
        raise ChaincodeError(
            "strata_area_mismatch",
            f"the strata of plot {plot_id} cover {format_decimal(total)} ha; they must cover"
            f" exactly its declared {declared_ha} ha",
        )
    if species not in {s["species"] for s in record}:
        raise ChaincodeError(
            "invalid_strata",
            f"plot {plot_id} is registered as {species} but none of its strata is of that"
            " species",
        )
    return record


def plot_strata(plot: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The plot's strata (the implicit single stratum if it was registered without)."""
    strata = plot.get("strata")
    if strata:
        return list(strata)
    return [{"age_class": None, "area_ha": plot["declared_area_ha"], "species": plot["species"],
             "stratum_id": IMPLICIT_STRATUM}]


def sampled_strata(
    plot: Mapping[str, Any], given: Sequence[Mapping[str, Any]], min_samples: int
) -> list[StratumSample]:
    """The report's sampled form for ``plot``: every registered stratum exactly once, each
    with at least ``min_samples`` sample plots; in the plot's stratum order."""
    plot_id = plot["id"]
    registered = {s["stratum_id"]: s for s in plot_strata(plot)}
    by_id: dict[str, Mapping[str, Any]] = {}
    for s in given:
        sid = s["stratum_id"]
        if sid not in registered:
            raise ChaincodeError(
                "unknown_stratum",
                f"plot {plot_id} has no stratum {sid}; its strata are "
                + ", ".join(registered),
            )
        if sid in by_id:
            raise ChaincodeError(
                "duplicate_stratum", f"the report measures stratum {sid} of plot {plot_id} twice"
            )
        by_id[sid] = s
    missing = [sid for sid in registered if sid not in by_id]
    if missing:
        raise ChaincodeError(
            "missing_strata",
            f"a sampled measurement covers every stratum of plot {plot_id}; missing: "
            + ", ".join(missing),
        )
    out = []
    for sid, reg in registered.items():
        s = by_id[sid]
        if len(s["samples"]) < min_samples:
            raise ChaincodeError(
                "too_few_samples",
                f"stratum {sid} of plot {plot_id} has {len(s['samples'])} sample plots; the"
                f" regulator's minimum is {min_samples}",
            )
        area = decimal_value(reg["area_ha"], "stratum area")
        plot_area = decimal_value(s["sample_plot_area_ha"], f"{sid}.sample_plot_area_ha")
        if not 0 < plot_area <= area:
            raise ChaincodeError(
                "invalid_measurement",
                f"stratum {sid} of plot {plot_id}: sample plots of {s['sample_plot_area_ha']} ha"
                f" are not possible in a stratum of {reg['area_ha']} ha (must be > 0 and at"
                " most the stratum's area)",
            )
        samples = tuple(decimal_value(v, f"{sid}.samples") for v in s["samples"])
        out.append(StratumSample(plot_id, sid, reg["species"], area, plot_area, samples))
    return out


def _ceiling(table: Mapping[str, Any], species: str, key: str) -> Fraction | None:
    row = table.get(species)
    if not isinstance(row, Mapping) or key not in row:
        return None
    return decimal_value(row[key], f"species_table.{species}.{key}", code="invalid_parameter")


def _where(plot_id: str, stratum_id: str | None, species: str) -> str:
    if stratum_id is None:
        return f"plot {plot_id} ({species})"
    return f"plot {plot_id} stratum {stratum_id} ({species})"


def check_volume(
    table: Mapping[str, Any], plot_id: str, stratum_id: str | None, species: str,
    volume_per_ha: Fraction,
) -> None:
    """``implausible_volume`` if the stand volume per hectare exceeds the species' ceiling."""
    ceiling = _ceiling(table, species, "max_volume_per_ha")
    if ceiling is not None and volume_per_ha > ceiling:
        raise ChaincodeError(
            "implausible_volume",
            f"{_where(plot_id, stratum_id, species)}: a stand volume of"
            f" {format_decimal(volume_per_ha)} m3/ha exceeds the regulator's ceiling of"
            f" {format_decimal(ceiling)} m3/ha for {species}",
        )


def check_growth(
    table: Mapping[str, Any], plot_id: str, stratum_id: str | None, species: str,
    growth_per_ha: Fraction, days: int,
) -> None:
    """``implausible_growth`` if the growth per hectare per year (``growth_per_ha`` over
    ``days``/365 years) exceeds the species' ceiling."""
    ceiling = _ceiling(table, species, "max_growth_per_ha_year")
    yearly = growth_per_ha * 365 / days
    if ceiling is not None and yearly > ceiling:
        raise ChaincodeError(
            "implausible_growth",
            f"{_where(plot_id, stratum_id, species)}: growth of {format_decimal(yearly)}"
            f" m3/ha a year over the {days} days of the period exceeds the regulator's ceiling"
            f" of {format_decimal(ceiling)} m3/ha a year for {species}",
        )


def t_table(ctx: TxContext) -> dict[int, Fraction]:
    """Parameter ``sampling_t90`` as {df: t}."""
    raw = ctx.param("sampling_t90")
    if not isinstance(raw, Mapping) or not raw:
        raise ChaincodeError("invalid_parameter", "parameter sampling_t90 must be an object")
    return {int(k): decimal_value(v, f"sampling_t90.{k}", code="invalid_parameter")
            for k, v in raw.items()}
