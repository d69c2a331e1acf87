"""The monitoring-report form's live calculator: the report's arguments, with what the
ledger holds about the project and its plots, as a request of the free calculation
service (``POST /v1/calculate``, docs/node.md "Calculation service").

From the ledger (the node's explorer API): each plot's ``declared_area_ha`` (the area the
contract computes with), its strata's species and areas (the sampled form), its stock
account's ``stock`` and ``high_water`` (S and H, tonnes) and the project's
``risk_rating`` and ``baseline`` (t CO2e a year); from the form: the period, the
measurements and the deductions. The answer is the contract's own computation, so the
``issuable`` it gives is what ``claimed_issuable`` must say.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["SHOWN_FIGURES", "calc_request"]

#: The answer's figures the form shows, in order (each with its explanation).
SHOWN_FIGURES = ("carbon_start", "carbon_end", "delta_c_project", "growth", "fall",
                 "baseline", "leakage", "project_emissions", "er",
                 "uncertainty_deduction_amount", "issuable", "buffer_rate", "to_buffer",
                 "to_owner")


def _plot_entry(m: Mapping[str, Any], plot: Mapping[str, Any] | None,
                account: Mapping[str, Any] | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"plot_id": m.get("plot_id"), "species": m.get("species")}
    if plot is not None:
        entry["area_ha"] = plot.get("declared_area_ha")
    if m.get("volume_start") is not None:
        entry["volume_start"] = m["volume_start"]
    if account is not None:
        for name, field in (("stock_t", "stock_start"), ("high_water_t", "high_water")):
            if isinstance(account.get(name), str):
                entry[field] = account[name]
    if m.get("strata") is not None:
        known = {s.get("stratum_id"): s for s in (plot or {}).get("strata") or []
                 if isinstance(s, Mapping)}
        strata = []
        for s in m["strata"] if isinstance(m["strata"], list) else []:
            if not isinstance(s, Mapping):
                continue
            rec = known.get(s.get("stratum_id"), {})
            strata.append({"stratum_id": s.get("stratum_id"), "species": rec.get("species"),
                           "area_ha": rec.get("area_ha"),
                           "sample_plot_area_ha": s.get("sample_plot_area_ha"),
                           "samples": s.get("samples")})
        entry["strata"] = strata
    elif m.get("volume_end") is not None:
        entry["volume_end"] = m["volume_end"]
    return entry


def calc_request(args: Mapping[str, Any], project: Mapping[str, Any] | None,
                 stocks: Mapping[str, Any] | None) -> dict[str, Any]:
    """The calculation request for a monitoring report's ``args``; ``project`` is the
    explorer's ``/v1/explorer/projects/{id}`` answer and ``stocks`` its ``/stocks``
    answer (None when the node has no such project: the request then lacks the areas and
    the service says so)."""
    plots = {p.get("id"): p for p in (project or {}).get("plots", []) if isinstance(p, Mapping)}
    accounts = {s.get("plot_id"): s.get("account") for s in (stocks or {}).get("plots", [])
                if isinstance(s, Mapping)}
    measurements = args.get("measurements")
    request: dict[str, Any] = {
        "plots": [_plot_entry(m, plots.get(m.get("plot_id")), accounts.get(m.get("plot_id")))
                  for m in (measurements if isinstance(measurements, list) else [])
                  if isinstance(m, Mapping)],
        "period_start": args.get("period_start"),
        "period_end": args.get("period_end"),
    }
    given = args.get("parameters")
    params: Mapping[str, Any] = given if isinstance(given, Mapping) else {}
    for field in ("leakage", "project_emissions", "uncertainty_deduction"):
        if params.get(field) is not None:
            request[field] = params[field]
    record = (project or {}).get("project") or {}
    baseline = params.get("baseline") if params.get("baseline") is not None else record.get(
        "baseline")
    if isinstance(baseline, str):
        request["baseline_t_per_year"] = baseline
    if isinstance(record.get("risk_rating"), str):
        request["risk_rating"] = record["risk_rating"]
    return request
