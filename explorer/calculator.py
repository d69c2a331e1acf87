"""The calculator page's form (``/explorer/calculator``): what an owner types or uploads,
turned into the request of the free calculation service (``chaincode.calc_service``;
docs/explorer.md "Calculator").

The page has two forms posting here, both with the period and the deductions: the
url-encoded one (``#calc-form``) with :data:`FORM_ROWS` rows of census plots
(``plot_id_<i>``, ``species_<i>``, ``area_ha_<i>``, ``volume_start_<i>``,
``high_water_<i>``, ``volume_end_<i>``; a row without a plot id is skipped) and a text
field ``measurements_text`` for pasted measurements, and the ``multipart/form-data`` one
(``#calc-upload``) with the file field ``measurements`` (few fields: the multipart reader
takes at most 16 parts). Pasted or uploaded measurements are:

* JSON: a whole request as ``POST /v1/calculate`` takes it; the form's own fields fill
  only what it leaves out;
* CSV (UTF-8, or GB18030 for an uploaded file, with a header row): columns ``plot_id, species, area_ha`` and ``volume_start,
  volume_end, high_water`` (a census plot), or ``stratum_id, stratum_species,
  stratum_area_ha, sample_plot_area_ha, sample`` (one row per sample plot of a sampled
  plot). The rows are added after the form's rows.

Refusals: ``malformed_form`` (400), ``unsupported_media_type`` (415),
``upload_too_large`` (413); the calculation's own codes come from ``calculate``.
"""

from __future__ import annotations

import csv
import io
from typing import Any
from urllib.parse import parse_qs

from explorer.inputs import ExplorerError
from explorer.multipart import MultipartError, parse_form
from ledger.encoding import CanonicalEncodingError, decode

__all__ = ["FORM_ROWS", "GENERAL_FIELDS", "MAX_CALC_UPLOAD", "form_fields", "form_request"]

#: Census rows on the page.
FORM_ROWS = 5
#: Largest form (with its upload), as the node's ``POST /v1/calculate`` body.
MAX_CALC_UPLOAD = 256 * 1024
#: Form fields that are copied into the request as they are (when not empty).
GENERAL_FIELDS = ("period_start", "period_end", "baseline_t_per_year", "baseline_from",
                  "leakage", "project_emissions", "uncertainty_deduction", "risk_rating")
_ROW_FIELDS = ("plot_id", "species", "area_ha", "volume_start", "high_water", "volume_end")
_CSV_COLUMNS = ("plot_id", "species", "area_ha", "volume_start", "volume_end", "high_water",
                "stratum_id", "stratum_species", "stratum_area_ha", "sample_plot_area_ha",
                "sample")
_MAX_CSV_ROWS = 2200


def form_fields(content_type: str, body: bytes) -> dict[str, str]:
    """The form's fields as text (``measurements`` holds the uploaded file's text)."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "multipart/form-data":
        try:
            raw = parse_form(content_type, body)
        except MultipartError as exc:
            raise ExplorerError("malformed_form",
                                f"the multipart form could not be read: {exc}") from None
    elif media == "application/x-www-form-urlencoded":
        try:
            parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=100)
        except (UnicodeDecodeError, ValueError):
            raise ExplorerError("malformed_form",
                                "the form is not valid UTF-8 form data") from None
        raw = {k: v[0].encode("utf-8") for k, v in parsed.items()}
    else:
        raise ExplorerError("unsupported_media_type",
                            "send the calculator's form as multipart/form-data or url-encoded")
    fields: dict[str, str] = {}
    for name, value in raw.items():
        try:
            fields[name] = value.decode("utf-8").strip()
        except UnicodeDecodeError:
            if name != "measurements":
                raise ExplorerError("malformed_form",
                                    f"form field {name} is not UTF-8 text") from None
            try:  # a CSV saved by a spreadsheet on a Chinese system
                fields[name] = value.decode("gb18030").strip()
            except UnicodeDecodeError:
                raise ExplorerError("malformed_form", "the uploaded file is neither UTF-8 nor"
                                    " GB18030 text") from None
    return fields


def _csv_plots(text: str) -> list[dict[str, Any]]:
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip() for h in reader.fieldnames or []]
    unknown = sorted(set(header) - set(_CSV_COLUMNS))
    if not {"plot_id", "species", "area_ha"} <= set(header) or unknown:
        raise ExplorerError(
            "malformed_form",
            "the CSV needs a header row with plot_id, species, area_ha and any of "
            + ", ".join(_CSV_COLUMNS[3:]) + (f" (unknown: {', '.join(unknown)})" if unknown else ""),
        )
    plots: dict[str, dict[str, Any]] = {}
    strata: dict[tuple[str, str], dict[str, Any]] = {}
    for number, row in enumerate(reader, start=2):
        if number > _MAX_CSV_ROWS:
            raise ExplorerError("malformed_form", f"the CSV has more than {_MAX_CSV_ROWS} rows")
        cell = {k.strip(): (v or "").strip() for k, v in row.items() if isinstance(k, str)}
        if not any(cell.values()):
            continue
        pid = cell.get("plot_id", "")
        plot = plots.setdefault(pid, {"plot_id": pid, "species": cell.get("species", ""),
                                      "area_ha": cell.get("area_ha", "")})
        for key in ("volume_start", "volume_end", "high_water"):
            if cell.get(key):
                plot[key] = cell[key]
        if cell.get("sample"):
            sid = cell.get("stratum_id", "")
            stratum = strata.get((pid, sid))
            if stratum is None:
                stratum = strata[(pid, sid)] = {
                    "stratum_id": sid,
                    "species": cell.get("stratum_species") or plot["species"],
                    "area_ha": cell.get("stratum_area_ha") or plot["area_ha"],
                    "sample_plot_area_ha": cell.get("sample_plot_area_ha", ""),
                    "samples": [],
                }
                plot.setdefault("strata", []).append(stratum)
            stratum["samples"].append(cell["sample"])
    return list(plots.values())


def form_request(fields: dict[str, str]) -> dict[str, Any]:
    """The calculation request the form describes (module docstring)."""
    upload = fields.get("measurements") or fields.get("measurements_text") or ""
    request: dict[str, Any] = {}
    plots: list[dict[str, Any]] = []
    if upload.lstrip("\ufeff").lstrip().startswith(("{", "[")):
        try:  # as strictly as POST /v1/calculate reads it: no duplicate keys, no floats
            value = decode(upload.lstrip("\ufeff"))
        except (CanonicalEncodingError, RecursionError):
            raise ExplorerError("malformed_form", "the uploaded JSON could not be read") from None
        if not isinstance(value, dict):
            raise ExplorerError("malformed_form",
                                "an uploaded JSON file is a calculation request (an object)")
        request = value
    elif upload:
        plots = _csv_plots(upload)
    for name in GENERAL_FIELDS:
        if fields.get(name) and name not in request:
            request[name] = fields[name]
    rows = []
    for i in range(FORM_ROWS):
        row = {key: fields.get(f"{key}_{i}", "") for key in _ROW_FIELDS}
        if row["plot_id"]:
            rows.append({k: v for k, v in row.items() if v})
    if "plots" not in request:
        request["plots"] = rows + plots
    elif rows or plots:
        raise ExplorerError("malformed_form",
                            "the uploaded JSON lists its plots; leave the form's rows empty")
    return request
