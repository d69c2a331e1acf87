"""Projects, issuances and units shaped after the Climate Action Data Trust (CAD Trust)
data model v2, for registries and warehouses that take that shape.

The field names are the data model's where a ledger fact fits one (``warehouseProjectId``,
``projectId``, ``projectName``, ``projectLink``, ``projectDeveloper``, ``sector``,
``projectType``, ``methodology``, ``projectStatus``, ``unitCount``, ``vintageYear``,
``serialNumberBlock``, ``unitStatus``, ``unitOwner``, ...). Facts the model has no field for
are kept under ``fcl`` in each record; fields of the model the ledger has no fact for are
left out. docs/explorer.md ("CAD Trust export") has the whole table of our field -> their
field and the fixed values used for the model's pick lists (``sector``, ``projectType``,
``unitType``, ``unitStatus``): check them against the pick lists of the warehouse you load
into.

Pages: ``limit`` records (1..:data:`MAX_CADT`) after ``after`` (the key-ordered cursor
``next`` of the page before), each page read with one seek (``explorer.export.scan``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from chaincode.carbon_common import (
    BATCH_PREFIX,
    PROJECT_PREFIX,
    attestation_key,
    project_key,
    report_key,
    serial_string,
)
from chaincode.carbon_market import RETIREMENT_PREFIX
from chaincode.framework import ORG_PREFIX
from chaincode.units import BUFFER_ACCOUNT, UNIT_PREFIX, unit_prefix
from explorer.data import Reader, iso_time, url_for
from explorer.export import scan
from explorer.inputs import ExplorerError, parse_id
from ledger.cursor import take

__all__ = ["DATA_MODEL", "MAX_CADT", "cadt_issuances", "cadt_projects", "cadt_units"]

DATA_MODEL = "CADT v2 (shape)"
MAX_CADT = 1000
DEFAULT_CADT = 100

SECTOR = "Agriculture Forestry and Other Land Use (AFOLU)"
PROJECT_TYPE = "Afforestation"
UNIT_TYPE = "Removal - nature"
UNIT_METRIC = "tCO2e"
COUNTRY = "China"
#: our project status -> CADT projectStatus
PROJECT_STATUS = {"submitted": "Listed", "validated": "Validated", "registered": "Registered"}
#: our unit state -> CADT unitStatus (the buffer pool's held units: "Buffer")
UNIT_STATUS = {"held": "Held", "listed": "Held", "retired": "Retired", "cancelled": "Cancelled"}


class _Context:
    """What the records of one page look up more than once: organisation names, block
    dates (each read once per page)."""

    def __init__(self, reader: Reader, public_url: str) -> None:
        self.reader = reader
        self.base = public_url
        self._names: dict[str, str] = {}
        self._dates: dict[int, str | None] = {}
        self.chain_id = reader.source.genesis.chain_id

    def org_name(self, org_id: Any) -> Any:
        if not isinstance(org_id, str):
            return org_id
        if org_id not in self._names:
            org = self.reader.state(ORG_PREFIX + org_id) or {}
            self._names[org_id] = org.get("name") or org_id
        return self._names[org_id]

    def date(self, height: Any) -> str | None:
        if not isinstance(height, int) or isinstance(height, bool):
            return None
        if height not in self._dates:
            iso = iso_time(self.reader.block_time(height))
            self._dates[height] = None if iso is None else iso[:10]
        return self._dates[height]

    def link(self, kind: str, ident: str) -> str:
        return f"{self.base}{url_for(kind, ident)}"

    def warehouse_id(self, *parts: Any) -> str:
        return "/".join([self.chain_id, *(str(p) for p in parts)])


def _page(
    items: Iterator[tuple[str, dict[str, Any]]], limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    got, nxt = take(items, limit)
    return [record for _cursor, record in got], nxt


def _attestation(ctx: _Context, att_id: Any) -> dict[str, Any]:
    if not isinstance(att_id, str):
        return {}
    return ctx.reader.state(attestation_key(att_id)) or {}


def _project(ctx: _Context, p: dict[str, Any]) -> dict[str, Any]:
    validation = _attestation(ctx, p.get("validation_attestation"))
    reg = p.get("registration") or {}
    return {
        "warehouseProjectId": ctx.warehouse_id(p.get("id")),
        "currentRegistry": f"Forest Carbon Ledger ({ctx.chain_id})",
        "registryOfOrigin": f"Forest Carbon Ledger ({ctx.chain_id})",
        "projectId": p.get("id"),
        "originProjectId": p.get("id"),
        "projectName": p.get("name"),
        "projectLink": ctx.link("project", str(p.get("id"))),
        "projectDeveloper": ctx.org_name(p.get("owner_org")),
        "sector": SECTOR,
        "projectType": PROJECT_TYPE,
        "methodology": p.get("methodology"),
        "projectStatus": PROJECT_STATUS.get(str(p.get("status")), p.get("status")),
        "projectStatusDate": ctx.date(reg.get("height") or p.get("height")),
        "unitMetric": UNIT_METRIC,
        "validationBody": ctx.org_name(validation.get("verifier_org")) if validation else None,
        "validationDate": ctx.date(validation.get("height")),
        "projectLocations": [{"country": COUNTRY, "inCountryRegion": p.get("county_code"),
                              "geographicIdentifier": p.get("county_code")}],
        "fcl": {
            "owner_org": p.get("owner_org"), "risk_rating": p.get("risk_rating"),
            "start_date": p.get("start_date"),
            "crediting_period_years": p.get("crediting_period_years"),
            "crediting_period_end": p.get("crediting_period_end"), "plots": p.get("plots"),
            "validation_attestation": p.get("validation_attestation"),
            "registration_tx_id": reg.get("tx_id"), "pdd_sha256": p.get("pdd_sha256"),
            "tx_id": p.get("tx_id"),
        },
    }


def _issuance(ctx: _Context, b: dict[str, Any]) -> dict[str, Any]:
    report = ctx.reader.state(report_key(str(b.get("report_id")))) or {}
    verification = _attestation(ctx, b.get("verification_attestation"))
    return {
        "id": ctx.warehouse_id(b.get("project_id"), b.get("id")),
        "warehouseProjectId": ctx.warehouse_id(b.get("project_id")),
        "startDate": report.get("period_start"),
        "endDate": report.get("period_end"),
        "verificationReportDate": ctx.date(verification.get("height")),
        "verificationBody": ctx.org_name(verification.get("verifier_org"))
        if verification else None,
        "fcl": {
            "batch_id": b.get("id"), "project_id": b.get("project_id"),
            "report_id": b.get("report_id"), "vintage": b.get("vintage"),
            "quantity": b.get("quantity"), "owner_quantity": b.get("owner_quantity"),
            "buffer_quantity": b.get("buffer_quantity"), "serial": b.get("serial"),
            "verification_attestation": b.get("verification_attestation"),
            "issued_date": ctx.date(b.get("height")), "tx_id": b.get("tx_id"),
        },
    }


def _status_reason(ctx: _Context, r: dict[str, Any]) -> str | None:
    history = r.get("history") or [{}]
    if r.get("state") == "retired":
        retirement = ctx.reader.state(RETIREMENT_PREFIX + str(history[-1].get("tx_id"))) or {}
        if retirement.get("purpose") == "compliance":
            return f"compliance period {retirement.get('period')}"
        return retirement.get("reason")
    if r.get("state") == "cancelled":
        return str(history[-1].get("action"))
    if r.get("state") == "listed":
        return "listed for sale"
    return None


def _unit(ctx: _Context, r: dict[str, Any]) -> dict[str, Any]:
    pid, first, last, vintage = r["project_id"], r["first"], r["last"], r["vintage"]
    buffer = r.get("state") == "held" and r.get("account") == BUFFER_ACCOUNT
    return {
        "warehouseUnitId": ctx.warehouse_id(pid, first),
        "issuanceId": ctx.warehouse_id(pid, r.get("batch_id")),
        "warehouseProjectId": ctx.warehouse_id(pid),
        "unitOwner": ctx.org_name(r.get("account")),
        "serialNumberBlock": serial_string(pid, vintage, first, last),
        "unitBlockStart": serial_string(pid, vintage, first, first),
        "unitBlockEnd": serial_string(pid, vintage, last, last),
        "unitCount": last - first + 1,
        "vintageYear": vintage,
        "unitType": UNIT_TYPE,
        "unitStatus": "Buffer" if buffer else UNIT_STATUS.get(str(r.get("state")), r.get("state")),
        "unitStatusReason": _status_reason(ctx, r),
        "unitRegistryLink": ctx.link("trace", f"{pid}:{first}"),
        "fcl": {"account": r.get("account"), "batch_id": r.get("batch_id"), "first": first,
                "last": last, "frozen": r.get("frozen"), "state": r.get("state"),
                "tx_id": r.get("tx_id")},
    }


def _known_project(reader: Reader, project_id: str | None) -> str | None:
    if project_id is None:
        return None
    project_id = parse_id(project_id, "project id")
    if reader.state(project_key(project_id)) is None:
        raise ExplorerError("unknown_project", f"no project {project_id!r}")
    return project_id


def _envelope(kind: str, items: list[dict[str, Any]], nxt: str | None) -> dict[str, Any]:
    return {"data_model": DATA_MODEL, kind: items, "next": nxt}


def cadt_projects(reader: Reader, public_url: str, after: str | None, limit: int) -> dict[str, Any]:
    ctx = _Context(reader, public_url)
    items = ((c, _project(ctx, p)) for c, p in scan(reader.store, PROJECT_PREFIX, after))
    return _envelope("projects", *_page(items, limit))


def cadt_issuances(reader: Reader, public_url: str, project_id: str | None, after: str | None,
                   limit: int) -> dict[str, Any]:
    project_id = _known_project(reader, project_id)
    ctx = _Context(reader, public_url)
    items = ((c, _issuance(ctx, b)) for c, b in scan(reader.store, BATCH_PREFIX, after)
             if project_id is None or b.get("project_id") == project_id)
    return _envelope("issuances", *_page(items, limit))


def cadt_units(reader: Reader, public_url: str, project_id: str | None, after: str | None,
               limit: int) -> dict[str, Any]:
    """Unit blocks (the ledger's serial ranges) in key order (project, first unit); the
    cursor is ``<project_id>/<first unit, 12 digits>``."""
    project_id = _known_project(reader, project_id)
    ctx = _Context(reader, public_url)
    prefix = UNIT_PREFIX if project_id is None else unit_prefix(project_id)
    base = "" if project_id is None else f"{project_id}/"
    if after is not None and project_id is not None:
        if not after.startswith(base):
            raise ExplorerError("bad_cursor", f"a cursor of project {project_id} starts with {base}")
        after = after[len(base):]
    make: Callable[[dict[str, Any]], dict[str, Any]] = lambda r: _unit(ctx, r)  # noqa: E731
    items = ((base + c, make(r)) for c, r in scan(reader.store, prefix, after))
    return _envelope("units", *_page(items, limit))
