"""Remote-sensing evidence (issue 14, item 4): the optional ``evidence`` argument of
``carbon.submit_monitoring_report`` and ``carbon.record_loss_event`` -- which sensor saw the
project's plots, when, the imagery (a document in the node's document store, named by its
SHA-256; docs/documents.md) and the canopy cover it shows on each plot, in fixed-point
percent.

The contract checks it and stores it in the record as given (normalised); it does not
change any figure the ledger computes: the measured volumes remain the basis of the
removals, the evidence is what a verifier, the regulator and a buyer can check them
against. Absent (``null``), nothing is stored, so the records of existing workloads are
byte for byte what they were.

Rules (deterministic: dates are strings compared as dates, percentages exact fractions):

* ``sensor``: 1..64 characters, a letter or digit first, then letters, digits, space,
  ``. _ / -`` (``Sentinel-2 MSI``, ``GF-2 PMS``, ``UAV/RGB``).
* ``acquisition_date``: a calendar date ``YYYY-MM-DD``, not after the block's date (China
  Standard Time) and not before ``earliest`` (a report: its period's start; a loss event:
  the project's start date) -- ``evidence_date_out_of_range``.
* ``imagery_sha256``: a SHA-256 (64 lowercase hex digits).
* ``canopy_cover``: 1..1000 of ``{plot_id, percent}``, each plot once
  (``duplicate_evidence_plot``) and a plot of the project (``plot_not_in_project``),
  ``percent`` a decimal 0..100 with at most 2 places (``invalid_canopy_cover``).
  Stored sorted by plot id, each percent in the minimal decimal form.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from fractions import Fraction
from typing import Any

from chaincode.carbon_common import decimal_value, validate_date
from chaincode.framework import ChaincodeError
from chaincode.schema import Arg
from ledger.fixedpoint import format_decimal

__all__ = ["EVIDENCE_ARG", "MAX_EVIDENCE_PLOTS", "validate_evidence"]

MAX_EVIDENCE_PLOTS = 1000

EVIDENCE_ARG = Arg(
    "object",
    required=False,
    fields={
        "sensor": Arg("str", min=1, max=64, pattern=r"[A-Za-z0-9][A-Za-z0-9 ._/-]{0,63}"),
        "acquisition_date": Arg("str", min=10, max=10),
        "imagery_sha256": Arg("hex32"),
        "canopy_cover": Arg(
            "list", min=1, max=MAX_EVIDENCE_PLOTS,
            item=Arg("object", fields={"plot_id": Arg("id"),
                                       "percent": Arg("decimal", places=2)}),
        ),
    },
)

_HUNDRED = Fraction(100)


def validate_evidence(evidence: Mapping[str, Any], *, plots: Iterable[str], earliest: str,
                      earliest_label: str, today: str) -> dict[str, Any]:
    """Check ``evidence`` (already through :data:`EVIDENCE_ARG`) against the project's
    ``plots`` and the dates (``earliest``, named ``earliest_label`` in messages, and the
    block's date ``today``); return the record to store. Raises ``ChaincodeError``."""
    date = validate_date(evidence["acquisition_date"], "evidence.acquisition_date")
    if date > today:
        raise ChaincodeError(
            "evidence_date_out_of_range",
            f"evidence.acquisition_date {date} is after the block's date {today}: imagery "
            "cannot be acquired in the future",
        )
    if date < earliest:
        raise ChaincodeError(
            "evidence_date_out_of_range",
            f"evidence.acquisition_date {date} is before {earliest_label} {earliest}",
        )
    allowed = set(plots)
    seen: dict[str, str] = {}
    for index, cover in enumerate(evidence["canopy_cover"]):
        where = f"evidence.canopy_cover[{index}]"
        plot_id = cover["plot_id"]
        if plot_id not in allowed:
            raise ChaincodeError("plot_not_in_project",
                                 f"{where}: plot {plot_id} is not a plot of the project")
        if plot_id in seen:
            raise ChaincodeError("duplicate_evidence_plot",
                                 f"{where}: plot {plot_id} has a canopy cover already")
        percent = decimal_value(cover["percent"], f"{where}.percent",
                                code="invalid_canopy_cover")
        if not 0 <= percent <= _HUNDRED:
            raise ChaincodeError(
                "invalid_canopy_cover",
                f"{where}: a canopy cover of {cover['percent']} % for plot {plot_id} is not "
                "between 0 and 100 %",
            )
        seen[plot_id] = format_decimal(percent, 2)
    return {
        "acquisition_date": date,
        "canopy_cover": [{"percent": seen[p], "plot_id": p} for p in sorted(seen)],
        "imagery_sha256": evidence["imagery_sha256"],
        "sensor": evidence["sensor"],
    }
