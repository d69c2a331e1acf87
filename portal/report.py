"""The monitoring report's hand-tuned form: the project's plots pre-filled from the ledger,
measurements entered as rows (a stand volume per plot, or per stratum the sample plots'
volumes, one per line) instead of JSON.

From the node's explorer API: ``/v1/explorer/projects/{id}`` (the plots: species,
declared area, strata) and ``/v1/explorer/projects/{id}/stocks`` (each plot's stock
account: the verified volume and stock the period starts from, the high-water mark, the
last verified period's end, whether the regulator excluded it). The rows are posted as::

    m<i>.plot_id, m<i>.species                 (hidden: the ledger's)
    m<i>.volume_end                            census: the stand volume at the end, m3
    m<i>.s<j>.stratum_id                       (hidden: the ledger's)
    m<i>.s<j>.sample_plot_area_ha              sampled: the area of one sample plot, ha
    m<i>.s<j>.samples                          sampled: one sample plot's volume a line, m3

:func:`read_rows` turns them into the ``measurements`` argument; only the shape is
converted (texts stay as typed: the contract, through the dry run, says what it refuses).
A plot whose row is left empty is left out (the contract names the plots a report must
cover). Both a stand volume and sample plots for one plot: refused (``invalid_form``).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from portal.forms import FormError

__all__ = ["PlotRow", "StratumRow", "has_rows", "next_period_start", "owned_projects",
           "plot_rows", "read_rows"]

_ROW_RE = re.compile(r"m([0-9]{1,4})\.plot_id\Z")
_STRATUM_RE = re.compile(r"m([0-9]{1,4})\.s([0-9]{1,3})\.stratum_id\Z")
_SAMPLE_SPLIT = re.compile(r"[\s,;，；]+")
MAX_ROWS = 1000


@dataclass(frozen=True)
class StratumRow:
    index: int
    stratum_id: str
    species: str
    area_ha: str


@dataclass(frozen=True)
class PlotRow:
    """One plot of the project as the form shows it (``index``: the row's number)."""

    index: int
    plot_id: str
    species: str
    declared_area_ha: str
    strata: tuple[StratumRow, ...]
    volume: str  # the verified stand volume the period starts from, m3
    stock_t: str  # the verified stock S, t CO2e
    high_water_t: str  # the high-water mark H, t CO2e
    last_period_end: str | None
    excluded: bool

    @property
    def name(self) -> str:
        return f"m{self.index}"


def _text(value: Any, default: str = "") -> str:
    return value if isinstance(value, str) else default


def plot_rows(project: Mapping[str, Any] | None,
              stocks: Mapping[str, Any] | None) -> list[PlotRow]:
    """The rows of the report form for ``project`` (the explorer's project answer) and
    ``stocks`` (its ``/stocks`` answer), in the project's plot order."""
    accounts: dict[str, Mapping[str, Any]] = {}
    excluded: dict[str, bool] = {}
    for entry in (stocks or {}).get("plots") or []:
        if isinstance(entry, Mapping) and isinstance(entry.get("plot_id"), str):
            account = entry.get("account")
            accounts[entry["plot_id"]] = account if isinstance(account, Mapping) else {}
            excluded[entry["plot_id"]] = entry.get("excluded") is True
    rows: list[PlotRow] = []
    for plot in (project or {}).get("plots") or []:
        if not isinstance(plot, Mapping) or not isinstance(plot.get("id"), str):
            continue
        account = accounts.get(plot["id"], {})
        strata = tuple(
            StratumRow(index=j, stratum_id=_text(s.get("stratum_id")),
                       species=_text(s.get("species")), area_ha=_text(s.get("area_ha")))
            for j, s in enumerate(plot.get("strata") or []) if isinstance(s, Mapping))
        rows.append(PlotRow(
            index=len(rows), plot_id=plot["id"], species=_text(plot.get("species")),
            declared_area_ha=_text(plot.get("declared_area_ha")), strata=strata,
            volume=_text(account.get("volume"), "0"), stock_t=_text(account.get("stock_t"), "0"),
            high_water_t=_text(account.get("high_water_t"), "0"),
            last_period_end=account.get("last_period_end") if isinstance(
                account.get("last_period_end"), str) else None,
            excluded=excluded.get(plot["id"], False)))
        if len(rows) >= MAX_ROWS:
            break
    return rows


def next_period_start(rows: list[PlotRow]) -> str | None:
    """The day after the latest verified period of the project's plots (the earliest date
    the next report may start), or None before the first verified period."""
    ends = sorted(r.last_period_end for r in rows if r.last_period_end and not r.excluded)
    if not ends:
        return None
    try:
        day = datetime.date.fromisoformat(ends[-1])
    except ValueError:
        return None
    return (day + datetime.timedelta(days=1)).isoformat()


def owned_projects(pages: list[Mapping[str, Any]], org_id: str) -> list[dict[str, Any]]:
    """The projects of ``org_id`` among the explorer's project pages (``/v1/explorer/projects``),
    by id."""
    out: dict[str, dict[str, Any]] = {}
    for page in pages:
        for p in page.get("projects") or []:
            if isinstance(p, Mapping) and p.get("owner_org") == org_id \
                    and isinstance(p.get("id"), str):
                out[p["id"]] = dict(p)
    return [out[k] for k in sorted(out)]


def has_rows(texts: Mapping[str, str]) -> bool:
    """Did the form post measurement rows?"""
    return any(_ROW_RE.match(name) for name in texts)


def read_rows(texts: Mapping[str, str]) -> list[dict[str, Any]]:
    """The ``measurements`` argument from the posted rows; a row left empty is left out.
    Raises :class:`FormError` naming the input."""
    indices = sorted({int(m.group(1)) for name in texts if (m := _ROW_RE.match(name))})
    strata_of: dict[int, list[int]] = {}
    for name in texts:
        if (m := _STRATUM_RE.match(name)) is not None:
            strata_of.setdefault(int(m.group(1)), []).append(int(m.group(2)))
    out: list[dict[str, Any]] = []
    for i in indices:
        pre = f"m{i}"
        plot_id = texts.get(f"{pre}.plot_id", "").strip()
        species = texts.get(f"{pre}.species", "").strip()
        volume_end = texts.get(f"{pre}.volume_end", "").strip()
        strata: list[dict[str, Any]] = []
        for j in sorted(strata_of.get(i, [])):
            s = f"{pre}.s{j}"
            samples = [v for v in _SAMPLE_SPLIT.split(texts.get(f"{s}.samples", "")) if v]
            area = texts.get(f"{s}.sample_plot_area_ha", "").strip()
            if not samples and not area:
                continue
            stratum_id = texts.get(f"{s}.stratum_id", "").strip()
            if not samples:
                raise FormError(f"{s}.samples", f"plot {plot_id}, stratum {stratum_id}: the "
                                "sample plot area is given but no sample plot volume")
            if not area:
                raise FormError(f"{s}.sample_plot_area_ha", f"plot {plot_id}, stratum "
                                f"{stratum_id}: give the area of one sample plot (ha)")
            strata.append({"stratum_id": stratum_id, "sample_plot_area_ha": area,
                           "samples": samples})
        if not volume_end and not strata:
            continue
        if volume_end and strata:
            raise FormError(f"{pre}.volume_end", f"plot {plot_id}: give either the stand "
                            "volume (a census) or the sample plots of its strata, not both")
        row: dict[str, Any] = {"plot_id": plot_id, "species": species}
        if strata:
            row["strata"] = strata
        else:
            row["volume_end"] = volume_end
        out.append(row)
    return out
