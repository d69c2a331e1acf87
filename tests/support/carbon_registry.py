"""Shared builders for the carbon registry tests (no tests in this module).

``Flow`` wraps the chaincode Harness with argument builders for every registry method,
so each test states only what differs from a valid transaction.
"""

from __future__ import annotations

import copy
from fractions import Fraction
from typing import Any

from chaincode.executor import Executor
from chaincode.geometry import geodesic_area_m2_rational, parse_polygon
from ledger.crypto import sha256
from ledger.fixedpoint import format_decimal
from tests.support.harness import DEFAULT_ORGS, Harness


def make_executor() -> Executor:
    """Every contract a node runs (chaincode/registry.py), the real "carbon" among them."""
    return Executor()


def h256(label: str) -> str:
    return sha256(label.encode()).hex()


Ring = list[list[int]]

# An irregular ~99.93 ha pentagon near lon 117.30, lat 31.80 (Hefei, Anhui), 1e-7 degree.
ANHUI_RING: Ring = [
    [1173000000, 318000000],
    [1173110000, 318003000],
    [1173113000, 318074000],
    [1173056000, 318099000],
    [1172995000, 318066000],
]


def polygon(ring: Ring) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [[list(p) for p in ring] + [list(ring[0])]]}


def rect(lon0: int, lat0: int, dlon: int, dlat: int) -> Ring:
    """Counter-clockwise rectangle; 10_000 units = 0.001 degree (about 95 m x 111 m here)."""
    return [[lon0, lat0], [lon0 + dlon, lat0], [lon0 + dlon, lat0 + dlat], [lon0, lat0 + dlat]]


def area_ha(ring: Ring) -> Fraction:
    return geodesic_area_m2_rational(parse_polygon(polygon(ring))) / 10_000


# Small test plots in a row east of the Anhui plot: 0.001 x 0.001 degree, about 1.05 ha.
BASE_LON = 1174000000
BASE_LAT = 318000000
STEP = 10_000


def small_ring(i: int, j: int = 0) -> Ring:
    return rect(BASE_LON + i * STEP, BASE_LAT + j * STEP, STEP, STEP)


class Flow:
    """A harness plus argument builders for the registry methods."""

    def __init__(self, orgs: dict | None = None, params: dict | None = None) -> None:
        all_orgs = dict(DEFAULT_ORGS)
        all_orgs.update(orgs or {})
        self.h = Harness(orgs=all_orgs, params=params, executor=make_executor())

    # -- calls -----------------------------------------------------------------------
    def ok(self, signer: str, method: str, args: dict) -> dict:
        return self.h.ok(signer, "carbon", method, args)

    def fails(self, code: str, signer: str, method: str, args: dict) -> dict:
        return self.h.fails(code, signer, "carbon", method, args)

    def get(self, key: str) -> Any:
        return self.h.get(key)

    # -- argument builders -------------------------------------------------------------
    @staticmethod
    def plot_args(plot_id: str, ring: Ring, declared_ha: str | None = None, **over: Any) -> dict:
        if declared_ha is None:
            declared_ha = format_decimal(area_ha(ring), 4)
        args = {
            "plot_id": plot_id,
            "polygon": polygon(ring),
            "declared_area_ha": declared_ha,
            "county_code": "340122",
            "tenure": {
                "doc_type": "forest_right_cert",
                "doc_number": f"皖(2019)肥东县林权第{plot_id}号",
                "scan_sha256": h256("scan:" + plot_id),
            },
            "species": "chinese_fir",
            "planting_date": "2017-11-20",
            "non_forest_evidence": {"sha256": h256("evidence:" + plot_id), "years": 3},
        }
        args.update(over)
        return args

    @staticmethod
    def project_args(project_id: str, plots: list[str], **over: Any) -> dict:
        args = {
            "project_id": project_id,
            "name": f"Afforestation {project_id}",
            "methodology": "CCER-14-001-V01",
            "plots": plots,
            "start_date": "2018-01-01",
            "crediting_period_years": 30,
            "baseline": "0",
            "risk_rating": "low",
            "pdd_sha256": h256("pdd:" + project_id),
        }
        args.update(over)
        return args

    @staticmethod
    def validation_args(att_id: str, project_id: str, **over: Any) -> dict:
        args = {
            "attestation_id": att_id,
            "project_id": project_id,
            "pdd_sha256": h256("pdd:" + project_id),
            "positive": True,
            "site_visit_date": "2018-06-01",
        }
        args.update(over)
        return args

    @staticmethod
    def report_args(
        report_id: str,
        project_id: str,
        measurements: list[tuple[str, str, str]],
        claimed: int,
        *,
        start: str = "2018-01-01",
        end: str = "2022-12-31",
        species: str = "chinese_fir",
        **over: Any,
    ) -> dict:
        args = {
            "report_id": report_id,
            "project_id": project_id,
            "period_start": start,
            "period_end": end,
            "measurements": [
                {"plot_id": p, "species": species, "volume_start": v0, "volume_end": v1}
                for p, v0, v1 in measurements
            ],
            "parameters": {"baseline": "0", "leakage": "0", "project_emissions": "0"},
            "claimed_issuable": claimed,
            "report_sha256": h256("report:" + report_id),
        }
        args.update(over)
        return args

    @staticmethod
    def verification_args(att_id: str, report_id: str, quantity: int, **over: Any) -> dict:
        args = {
            "attestation_id": att_id,
            "report_id": report_id,
            "report_sha256": h256("report:" + report_id),
            "verified_quantity": quantity,
            "site_visit_date": "2023-03-15",
        }
        args.update(over)
        return args

    # -- whole steps -------------------------------------------------------------------
    def registered_project(
        self,
        project_id: str = "AH-0001",
        plots: list[tuple[str, Ring]] | None = None,
        owner: str = "owner-farm",
        **project_over: Any,
    ) -> None:
        """Plots, PDD, a positive validation by verifier-a, registration."""
        plots = plots if plots is not None else [("P1", small_ring(0))]
        for plot_id, ring in plots:
            self.ok(owner, "register_plot", self.plot_args(plot_id, ring))
        self.ok(owner, "submit_project", self.project_args(project_id, [p for p, _ in plots], **project_over))
        self.ok("verifier-a", "attest_validation", self.validation_args(f"VAL-{project_id}", project_id))
        self.ok("regulator", "register_project", {"project_id": project_id})

    def verified_report(
        self,
        report_id: str = "R1",
        project_id: str = "AH-0001",
        measurements: list[tuple[str, str, str]] | None = None,
        claimed: int = 30,
        verified: int | None = None,
        owner: str = "owner-farm",
        **report_over: Any,
    ) -> None:
        measurements = measurements if measurements is not None else [("P1", "0", "25.2")]
        self.ok(owner, "submit_monitoring_report",
                self.report_args(report_id, project_id, measurements, claimed, **report_over))
        self.ok("verifier-b", "attest_verification",
                self.verification_args(f"VER-{report_id}", report_id,
                                       claimed if verified is None else verified))


def deep(obj: Any) -> Any:
    return copy.deepcopy(obj)
