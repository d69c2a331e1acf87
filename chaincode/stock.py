"""Per-plot stock accounting records (DOMAIN.md "Stock accounting").

State keys::

    stock/<plot_id>                 the plot's stock account (below)
    stockhist/<plot_id>/<n:04d>     one entry per verified period n = 1, 2, ...
    reversal/<report_id>            the reversal a verified report caused

A stock account: ``stock`` (S, the last verified stock) and ``high_water`` (H, the largest
verified stock), integers of micro-tonnes CO2e (scale 1e-6 t, rounded down from the exact
figure, ``chaincode.calculator.stock_micro``); ``volume`` the last verified stand volume
(m3, decimal string); ``periods`` how many periods were verified; ``last_period_end``;
``credited`` (micro-tonnes of growth above H credited so far), ``reversed`` (tonnes
charged to the plot by reversals), ``pending_loss`` (tonnes regulators' loss events
cancelled for the plot since its last verified period; settled by the next one).
``baseline_stock`` (S0, micro-tonnes) and ``baseline_volume`` (m3) are the stock recorded
at validation (``attest_validation``'s ``baseline_stocks``; written by ``register_project``);
``excluded`` is None or the regulator's exclusion record in force (``exclude_plot``:
``{n, height, tx_id, reason, evidence_sha256, reversed}``), ``exclusions`` how many
exclusion entries the history holds. History entries are numbered over verified periods
and exclusions together: ``n = periods + exclusions``.

Before the first verified period the account is implicit: S = H = S0 = 0 (land that was
not forest, ``register_plot`` requires non-forest evidence), volume 0; a project whose
validation recorded baseline stocks has explicit accounts from registration on with
S = H = S0.
"""

from __future__ import annotations

from datetime import date, timedelta
from fractions import Fraction
from typing import Any

from chaincode.carbon_common import decimal_value
from chaincode.framework import TxContext
from ledger.fixedpoint import ceil_int

__all__ = [
    "REVERSAL_PREFIX",
    "STOCK_PREFIX",
    "STOCKHIST_PREFIX",
    "baseline_start",
    "initial_stock",
    "load_stock",
    "period_baseline",
    "period_days",
    "reversal_key",
    "save_stock",
    "stock_key",
    "stockhist_key",
]

STOCK_PREFIX = "stock/"
STOCKHIST_PREFIX = "stockhist/"
REVERSAL_PREFIX = "reversal/"
#: Scale of the per-period baseline figure: 6 decimal places, rounded UP.
BASELINE_SCALE = 10**6


def stock_key(plot_id: str) -> str:
    return STOCK_PREFIX + plot_id


def stockhist_key(plot_id: str, n: int) -> str:
    return f"{STOCKHIST_PREFIX}{plot_id}/{n:04d}"


def reversal_key(report_id: str) -> str:
    return REVERSAL_PREFIX + report_id


def load_stock(ctx: TxContext, plot_id: str) -> dict[str, Any]:
    """The plot's stock account (the implicit initial one if none is stored)."""
    return ctx.get(stock_key(plot_id)) or initial_stock(plot_id)


def initial_stock(plot_id: str, baseline_stock: int = 0, baseline_volume: str = "0") -> dict[str, Any]:
    """A plot's stock account before its first verified period: S = H = S0."""
    return {
        "baseline_stock": baseline_stock,
        "baseline_volume": baseline_volume,
        "credited": 0,
        "excluded": None,
        "exclusions": 0,
        "high_water": baseline_stock,
        "last_period_end": None,
        "pending_loss": 0,
        "periods": 0,
        "plot_id": plot_id,
        "reversed": 0,
        "stock": baseline_stock,
        "volume": baseline_volume,
    }


def save_stock(ctx: TxContext, record: dict[str, Any]) -> None:
    ctx.put(stock_key(record["plot_id"]), record)


def period_days(start: str, end: str) -> int:
    """Days of the closed period ``start..end`` (validated dates)."""
    return (date.fromisoformat(end) - date.fromisoformat(start)).days + 1


def baseline_start(
    project_start: str, period_start: str, last_period_ends: list[str | None]
) -> str:
    """The first day of the baseline interval of a monitoring period starting on
    ``period_start``: the day after the project's last verified period (the latest
    ``last_period_end`` of its plots' stock accounts), or the project's start date before
    any, and never later than ``period_start``. The stock change a report measures runs
    from the ledger's verified stock S, i.e. from that day, so the baseline removals of
    the same days are deducted: a gap between periods (or a first period starting after
    the project start) does not escape the baseline, and a day's baseline is deducted
    once for the project (twice only where a re-admitted plot's period overlaps days
    already deducted -- the conservative side)."""
    ends = [e for e in last_period_ends if e is not None]
    if not ends:
        return min(project_start, period_start)
    after = (date.fromisoformat(max(ends)) + timedelta(days=1)).isoformat()
    return min(after, period_start)


def period_baseline(rate_text: str, start: str, end: str) -> Fraction:
    """The baseline removals of a period from the validated PDD's figure (t CO2e a year):
    ``rate x days / 365``, rounded UP to 6 decimal places (the conservative side)."""
    rate = decimal_value(rate_text, "project baseline")
    exact = rate * period_days(start, end) / 365
    return Fraction(ceil_int(exact * BASELINE_SCALE), BASELINE_SCALE)
