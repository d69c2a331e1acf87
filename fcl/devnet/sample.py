"""The development network's sample: one afforestation project in Xiuning County (休宁县,
Huangshan, Anhui) driven through its whole lifecycle with signed transactions.

Who takes part: the genesis regulator; the exchange and two verification bodies -- the
genesis organisations that operate the validators when the keystore holds their admin keys
(a ``fcl testnet`` genesis: ``exchange``, ``verifier-1``, ``verifier-2``), else enrolled by
the sample (``ahcee``, ``ecfv``, ``wjcert``); and, always enrolled by the regulator:

* ``xiuning-farm``    休宁县国有林场, the project owner (admin + a forester's member key)
* ``longtian-coop``   龙田乡林业专业合作社, a village cooperative (owner role)
* ``wanjiang-cement`` a cement maker under compliance (admin + a compliance clerk's key)
* ``huangshan-fund``  a voluntary buyer

The exchange's admin enrols a matching-engine member key, which signs the trade.

The project ``AH-XN-0001`` has three Chinese-fir and two Masson-pine plots (8.9–26.8 ha,
irregular polygons south-west of Haiyang town, county code 341022) whose declared areas
are their geodesic areas rounded to 0.01 ha. Two monitoring periods (2016-04-05 ..
2020-12-31 and 2021-01-01 .. 2023-12-31) are reported, verified and issued; then a listing
and a matched trade, off-exchange transfers to the fund and the cooperative, a compliance
obligation with a retirement under the 5 % cap, a voluntary retirement and the subsidy of
both batches.

:func:`run_sample` is safe to run again: every transaction has a deterministic nonce, so
a step that was already submitted is the *same* transaction (``duplicate_tx`` at the node,
then its committed result is read back), and the steps already recorded in the progress
file are skipped. A step whose committed result is not ``ok`` stops the sample with a
:class:`SampleError` naming the step.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from chaincode.calculator import (
    PlotStock,
    calculate_stock_removals,
    species_params_from_table,
    stock_micro,
)
from chaincode.geometry import geodesic_area_m2_rational, parse_polygon
from chaincode.params import DEFAULT_PARAMS
from chaincode.stock import period_baseline
from ledger.crypto import PrivateKey, sha256_hex
from ledger.errors import LedgerError
from ledger.fixedpoint import format_decimal, parse_decimal
from ledger.genesis import Genesis
from ledger.tx import Transaction
from wallet.builder import build_signed_tx, geojson_to_ledger
from wallet.client import NodeClient
from wallet.errors import ClientError
from wallet.keystore import Keystore

__all__ = [
    "COUNTY_CODE",
    "ORGS",
    "PLOTS",
    "PROJECT_ID",
    "resolve_parties",
    "SampleError",
    "SampleResult",
    "run_sample",
    "sample_key_names",
]

Progress = Callable[[str], None]

PROJECT_ID = "AH-XN-0001"
COUNTY_CODE = "341022"  # 休宁县 Xiuning County, Huangshan City, Anhui
RESULT_VERSION = 1
WAIT_TIMEOUT_S = 90.0


class SampleError(LedgerError):
    """The sample could not go on: ``sample_step_failed`` (a transaction was refused or
    committed with a failure code), ``sample_unreachable``, ``sample_setup``."""


# --------------------------------------------------------------------------- participants


@dataclass(frozen=True)
class OrgSpec:
    """A participant of the sample (a *slot*): the organisation enrolled when the genesis
    has none to take the part, and the member keys its admin enrols (keystore name
    ``<org id>-<member>``)."""

    slot: str
    org_id: str
    name: str
    roles: tuple[str, ...]
    members: tuple[str, ...] = ()
    accreditation: str | None = None
    from_genesis: bool = False  # may a genesis organisation with this role take the part?


ORGS: tuple[OrgSpec, ...] = (
    OrgSpec("owner", "xiuning-farm", "休宁县国有林场 Xiuning State Forest Farm (sample)",
            ("owner",), ("forester",)),
    OrgSpec("coop", "longtian-coop", "龙田乡林业专业合作社 Longtian Forestry Cooperative (sample)",
            ("owner",)),
    OrgSpec("verifier_a", "ecfv",
            "华东林业碳汇核查中心 East China Forest Carbon Verification Centre (sample)",
            ("verifier",), accreditation="CNCA-V-0107", from_genesis=True),
    OrgSpec("verifier_b", "wjcert", "皖江认证有限公司 Wanjiang Certification Co. (sample)",
            ("verifier",), accreditation="CNCA-V-0212", from_genesis=True),
    OrgSpec("exchange", "ahcee", "安徽环境能源交易中心 Anhui Environment & Energy Exchange (sample)",
            ("exchange",), ("matching",), from_genesis=True),
    OrgSpec("cement", "wanjiang-cement", "皖江水泥股份有限公司 Wanjiang Cement Co. (sample)",
            ("buyer",), ("clerk",)),
    OrgSpec("fund", "huangshan-fund", "黄山低碳旅游基金 Huangshan Low-Carbon Tourism Fund (sample)",
            ("buyer",)),
)


@dataclass(frozen=True)
class Party:
    """Who plays a slot: organisation id, keystore name of its admin key, keystore names of
    its member keys, and whether the sample enrols it (else the genesis did)."""

    org_id: str
    admin: str
    members: dict[str, str]
    enrol: OrgSpec | None


def _genesis_orgs(genesis: Genesis) -> list[Mapping[str, Any]]:
    orgs = genesis.app_state.get("organisations", []) if isinstance(
        genesis.app_state, Mapping) else []
    return [o for o in orgs or [] if isinstance(o, Mapping)]


def resolve_parties(genesis: Genesis, key_names: Mapping[str, str]) -> dict[str, Party]:
    """Map every slot (``regulator``, ``owner``, ``coop``, ``verifier_a``, ``verifier_b``,
    ``exchange``, ``cement``, ``fund``) to its party. ``key_names`` maps public keys to the
    names of the keystore's keys. The regulator, the exchange and the verification bodies
    are the genesis' organisations when the keystore holds one of their admin keys (a
    ``fcl testnet`` genesis has them: they operate the validators); the others are
    enrolled by the sample."""

    def held_admin(org: Mapping[str, Any]) -> str | None:
        for pub in org.get("admins", []) or []:
            if pub in key_names:
                return key_names[pub]
        return None

    parties: dict[str, Party] = {}
    taken: set[str] = set()
    for org in _genesis_orgs(genesis):
        if "regulator" in (org.get("roles") or []) and held_admin(org):
            parties["regulator"] = Party(str(org["id"]), str(held_admin(org)), {}, None)
            taken.add(str(org["id"]))
            break
    else:
        raise SampleError(
            "sample_setup",
            "the keystore holds no admin key of a regulator organisation of this genesis; "
            "the sample needs one (fcl devnet copies it from the node homes)",
        )
    existing = {str(o.get("id")) for o in _genesis_orgs(genesis)}
    for spec in ORGS:
        chosen: Mapping[str, Any] | None = None
        if spec.from_genesis:
            for org in _genesis_orgs(genesis):
                if (str(org.get("id")) not in taken and spec.roles[0] in (org.get("roles") or [])
                        and held_admin(org)):
                    chosen = org
                    break
        if chosen is not None:
            org_id = str(chosen["id"])
            parties[spec.slot] = Party(
                org_id, str(held_admin(chosen)),
                {m: f"{org_id}-{m}" for m in spec.members}, None)
        else:
            if spec.org_id in existing:
                raise SampleError(
                    "sample_setup",
                    f"the genesis already has an organisation {spec.org_id!r} whose admin key "
                    "the keystore does not hold",
                )
            org_id = spec.org_id
            parties[spec.slot] = Party(org_id, f"{org_id}-admin",
                                       {m: f"{org_id}-{m}" for m in spec.members}, spec)
        taken.add(org_id)
    return parties


def sample_key_names(parties: Mapping[str, Party]) -> list[str]:
    """Every keystore name the sample signs with, the regulator's first."""
    names = [parties["regulator"].admin]
    for spec in ORGS:
        party = parties[spec.slot]
        names.append(party.admin)
        names.extend(party.members.values())
    return names


# --------------------------------------------------------------------------- plots


@dataclass(frozen=True)
class PlotSpec:
    """A forest plot: boundary in WGS 84 degrees (decimal strings, open ring), species,
    township, tenure certificate, and stand volume (m3) at the start of the project, the
    end of monitoring period 1 and the end of period 2."""

    plot_id: str
    township: str
    species: str
    ring: tuple[tuple[str, str], ...]
    tenure_no: str
    planting_date: str
    volumes: tuple[str, str, str]


PLOTS: tuple[PlotSpec, ...] = (
    PlotSpec("XN-SF-01", "海阳镇 Haiyang", "chinese_fir", (
        ("118.120722", "29.710253"), ("118.120111", "29.713549"), ("118.118468", "29.712893"),
        ("118.115668", "29.712310"), ("118.115557", "29.710280"), ("118.115818", "29.708347"),
        ("118.117589", "29.707539"), ("118.120386", "29.707512")),
        "皖(2016)休宁县不动产权第0003417号", "2016-03-14", ("0", "861.4", "2093.6")),
    PlotSpec("XN-SF-02", "海阳镇 Haiyang", "chinese_fir", (
        ("118.129276", "29.714454"), ("118.128282", "29.716399"), ("118.125480", "29.717220"),
        ("118.124119", "29.716042"), ("118.123937", "29.713883"), ("118.126230", "29.712740"),
        ("118.128163", "29.712707")),
        "皖(2016)休宁县不动产权第0003418号", "2016-03-16", ("0", "598.7", "1466.2")),
    PlotSpec("XN-SF-03", "海阳镇 Haiyang", "chinese_fir", (
        ("118.123065", "29.719316"), ("118.122335", "29.720128"), ("118.121278", "29.720346"),
        ("118.120012", "29.720299"), ("118.118939", "29.719164"), ("118.118864", "29.718260"),
        ("118.119819", "29.717054"), ("118.120828", "29.717255"), ("118.122326", "29.718014")),
        "皖(2016)休宁县不动产权第0003421号", "2016-03-19", ("0", "336.9", "808.5")),
    PlotSpec("XN-MP-01", "商山镇 Shangshan", "masson_pine", (
        ("118.137240", "29.723995"), ("118.136792", "29.725960"), ("118.134689", "29.726364"),
        ("118.132678", "29.724887"), ("118.131677", "29.723880"), ("118.132366", "29.721848"),
        ("118.134309", "29.721844"), ("118.136894", "29.721632")),
        "休林证字(2015)第341022-0582号", "2016-04-02", ("0", "446.2", "1109.8")),
    PlotSpec("XN-MP-02", "商山镇 Shangshan", "masson_pine", (
        ("118.141483", "29.727364"), ("118.140786", "29.728812"), ("118.140012", "29.729652"),
        ("118.138092", "29.728638"), ("118.138676", "29.726791"), ("118.139726", "29.725729"),
        ("118.141314", "29.726546")),
        "休林证字(2015)第341022-0583号", "2016-04-05", ("0", "184.3", "462.7")),
)

RISK_RATING = "medium"
#: The PDD's ex-ante baseline removals, t CO2e a year; every report's baseline figure is
#: the ledger's pro-rata share of it (chaincode.stock.period_baseline).
PDD_BASELINE = "6.1"


@dataclass(frozen=True)
class Period:
    """A monitoring period and the figures its report states."""

    report_id: str
    start: str
    end: str
    volume_index: int  # PlotSpec.volumes[i - 1] -> volumes[i]
    project_emissions: str
    uncertainty_deduction: str
    verifier: str  # slot
    attestation_id: str
    site_visit: str
    batch_id: str
    verified_share: Fraction  # of the computed issuable tonnes (rounded down)


PERIODS: tuple[Period, ...] = (
    Period("MR-XN-2020", "2016-04-05", "2020-12-31", 1, "6.5", "0.05", "verifier_b",
           "VER-WJ-2024-031", "2024-03-20", "AH-XN-0001-B2020", Fraction(1)),
    Period("MR-XN-2023", "2021-01-01", "2023-12-31", 2, "2.1", "0.05", "verifier_b",
           "VER-ECFV-2024-118", "2024-04-18", "AH-XN-0001-B2023", Fraction(98, 100)),
)


def ring_to_geojson(ring: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """A GeoJSON Feature (decimal degrees as exact strings turned into numbers by the
    wallet) for an open ring."""
    from decimal import Decimal

    coords = [[Decimal(lon), Decimal(lat)] for lon, lat in ring]
    coords.append(list(coords[0]))
    return {"type": "Feature", "properties": {},
            "geometry": {"type": "Polygon", "coordinates": [coords]}}


def plot_polygon(plot: PlotSpec) -> dict[str, Any]:
    """The plot's boundary in the ledger's form (integers of 1e-7 degree)."""
    return geojson_to_ledger(ring_to_geojson(plot.ring))


def declared_area_ha(plot: PlotSpec) -> str:
    """The plot's geodesic area in hectares, rounded down to 0.01 ha, as on a tenure
    certificate (well inside the ledger's area tolerance)."""
    area_m2 = geodesic_area_m2_rational(parse_polygon(plot_polygon(plot)))
    return format_decimal(area_m2 / 10_000, 2)


def _h(label: str) -> str:
    """A stand-in SHA-256 for a document of the sample (PDD, report, scan)."""
    return sha256_hex(("fcl devnet sample: " + label).encode())


# --------------------------------------------------------------------------- calculation


def _params(genesis: Genesis) -> Mapping[str, Any]:
    params = genesis.app_state.get("params") if isinstance(genesis.app_state, Mapping) else None
    merged = dict(DEFAULT_PARAMS)
    if isinstance(params, Mapping):
        merged.update(params)
    return merged


def issuable_for(period: Period, genesis: Genesis) -> int:
    """What the ledger will compute for ``period`` (the genesis parameters in force)."""
    params = _params(genesis)
    table = params["species_table"]
    # the ledger's stock accounting: growth above each plot's high-water mark (the sample's
    # stands only grow, so the mark is the previous period's end volume)
    rows = []
    for p in PLOTS:
        species = species_params_from_table(table, p.species)
        start = stock_micro(parse_decimal(p.volumes[period.volume_index - 1], field="v0"), species)
        end = stock_micro(parse_decimal(p.volumes[period.volume_index], field="v1"), species)
        rows.append(PlotStock(p.plot_id, start, start, end))
    calc = calculate_stock_removals(
        rows,
        baseline=period_baseline(PDD_BASELINE, period.start, period.end),
        leakage=Fraction(0),
        project_emissions=parse_decimal(period.project_emissions, field="project_emissions"),
        uncertainty_deduction=parse_decimal(period.uncertainty_deduction, field="u"),
        buffer_rate=parse_decimal(params["buffer_rates"][RISK_RATING], field="buffer_rate"),
    )
    return int(calc.issuable)


# --------------------------------------------------------------------------- steps


@dataclass(frozen=True)
class Tx:
    """One transaction of a step: main signer then co-signers (keystore names)."""

    key: str  # stable name, part of the nonce and of the progress record
    label: str
    signers: tuple[str, ...]
    contract: str
    method: str
    args: dict[str, Any]


@dataclass
class SampleResult:
    """What the sample produced (also the content of its marker file)."""

    chain_id: str
    genesis_hash: str
    project_id: str = PROJECT_ID
    batch_ids: list[str] = field(default_factory=list)
    listing_id: str | None = None
    trade_id: str | None = None
    compliance_retirement_id: str | None = None
    voluntary_retirement_id: str | None = None
    tx_ids: dict[str, str] = field(default_factory=dict)
    heights: dict[str, int] = field(default_factory=dict)
    returns: dict[str, dict[str, Any]] = field(default_factory=dict)
    complete: bool = False

    @property
    def retirement_ids(self) -> dict[str, str]:
        out = {}
        if self.compliance_retirement_id:
            out["compliance"] = self.compliance_retirement_id
        if self.voluntary_retirement_id:
            out["voluntary"] = self.voluntary_retirement_id
        return out

    @property
    def final_height(self) -> int:
        return max(self.heights.values(), default=0)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": RESULT_VERSION,
            "complete": self.complete,
            "chain_id": self.chain_id,
            "genesis_hash": self.genesis_hash,
            "project_id": self.project_id,
            "batch_ids": list(self.batch_ids),
            "listing_id": self.listing_id,
            "trade_id": self.trade_id,
            "compliance_retirement_id": self.compliance_retirement_id,
            "voluntary_retirement_id": self.voluntary_retirement_id,
            "final_height": self.final_height,
            "tx_ids": dict(self.tx_ids),
            "heights": dict(self.heights),
            "returns": dict(self.returns),
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> SampleResult:
        if not isinstance(obj, Mapping) or obj.get("version") != RESULT_VERSION:
            raise SampleError("sample_setup", "the sample's progress file has an unknown format")
        return cls(
            chain_id=str(obj["chain_id"]),
            genesis_hash=str(obj["genesis_hash"]),
            project_id=str(obj.get("project_id", PROJECT_ID)),
            batch_ids=list(obj.get("batch_ids", [])),
            listing_id=obj.get("listing_id"),
            trade_id=obj.get("trade_id"),
            compliance_retirement_id=obj.get("compliance_retirement_id"),
            voluntary_retirement_id=obj.get("voluntary_retirement_id"),
            tx_ids=dict(obj.get("tx_ids", {})),
            heights={k: int(v) for k, v in obj.get("heights", {}).items()},
            returns=dict(obj.get("returns", {})),
            complete=bool(obj.get("complete", False)),
        )


def load_result(path: Path) -> SampleResult | None:
    """The sample's progress/marker file, or ``None`` if there is none."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        return SampleResult.from_json(json.loads(text))
    except (ValueError, KeyError, TypeError) as exc:
        raise SampleError("sample_setup", f"cannot read {path}: {exc}") from None


def save_result(path: Path, result: SampleResult) -> None:
    """Write the progress/marker file atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(result.to_json(), indent=2, ensure_ascii=False) + "\n",
                   encoding="utf-8")
    os.replace(tmp, path)


class _Sample:
    """Builds the stages of the sample; later stages read what earlier ones returned."""

    def __init__(self, genesis: Genesis, keys: Mapping[str, PrivateKey],
                 parties: Mapping[str, Party]) -> None:
        self.genesis = genesis
        self.keys = keys
        self.p = parties

    def pub(self, name: str) -> str:
        return self.keys[name].public_key_hex

    def org(self, slot: str) -> str:
        return self.p[slot].org_id

    def admin(self, slot: str) -> str:
        return self.p[slot].admin

    def member(self, slot: str, member: str) -> str:
        return self.p[slot].members[member]

    # Each stage is a list of independent transactions submitted together; a stage
    # starts once every transaction of the previous one is committed.
    def stages(self, result: SampleResult) -> list[tuple[str, Callable[[], list[Tx]]]]:
        return [
            ("enrol the sample's organisations", self._enrol_orgs),
            ("enrol member keys", self._enrol_keys),
            ("register 5 forest plots", self._plots),
            ("submit the project design document", self._project),
            ("validation attestation", self._validation),
            ("registration", self._registration),
            ("monitoring report 1 (2016-04 .. 2020-12)", lambda: [self._report(PERIODS[0])]),
            ("verification of report 1", lambda: [self._verification(PERIODS[0])]),
            ("issuance of vintage 2020", lambda: [self._issue(PERIODS[0])]),
            ("monitoring report 2 (2021-01 .. 2023-12)", lambda: [self._report(PERIODS[1])]),
            ("verification of report 2", lambda: [self._verification(PERIODS[1])]),
            ("issuance of vintage 2023", lambda: [self._issue(PERIODS[1])]),
            ("exchange listing", self._listing),
            ("matched trade", lambda: self._trade(result)),
            ("off-exchange transfers", self._transfers),
            ("compliance obligation", self._obligation),
            ("compliance retirement (under the 5 % cap)", self._retire_compliance),
            ("voluntary retirement", self._retire_voluntary),
            ("subsidy accrual", self._subsidies),
        ]

    def _enrol_orgs(self) -> list[Tx]:
        out = []
        for spec in ORGS:
            party = self.p[spec.slot]
            if party.enrol is None:
                continue
            args: dict[str, Any] = {"org_id": party.org_id, "name": spec.name,
                                    "roles": list(spec.roles), "admins": [self.pub(party.admin)]}
            if spec.accreditation:
                args["accreditation"] = spec.accreditation
            out.append(Tx(f"enrol_org:{party.org_id}", f"enrol {party.org_id}",
                          (self.admin("regulator"),), "membership", "enrol_org", args))
        return out

    def _enrol_keys(self) -> list[Tx]:
        return [
            Tx(f"enrol_key:{name}", f"enrol key {name}", (self.admin(spec.slot),), "membership",
               "enrol_key", {"org_id": self.org(spec.slot), "pub_key": self.pub(name),
                             "admin": False})
            for spec in ORGS for name in self.p[spec.slot].members.values()
        ]

    def _plots(self) -> list[Tx]:
        out = []
        for p in PLOTS:
            kind = "forest_right_cert" if p.tenure_no.startswith("休林证") else "real_estate_cert"
            out.append(Tx(f"register_plot:{p.plot_id}", f"plot {p.plot_id} ({p.species})",
                          (self.member("owner", "forester"),), "carbon", "register_plot", {
                "plot_id": p.plot_id,
                "polygon": plot_polygon(p),
                "declared_area_ha": declared_area_ha(p),
                "county_code": COUNTY_CODE,
                "tenure": {"doc_type": kind, "doc_number": p.tenure_no,
                           "scan_sha256": _h("tenure scan " + p.plot_id)},
                "species": p.species,
                "planting_date": p.planting_date,
                "non_forest_evidence": {
                    "sha256": _h("Landsat 2010-2015 land-cover series " + p.plot_id),
                    "years": 5},
            }))
        return out

    def _project(self) -> list[Tx]:
        return [Tx("submit_project", "PDD", (self.admin("owner"),), "carbon", "submit_project", {
            "project_id": PROJECT_ID,
            "name": "休宁县杉木马尾松造林碳汇项目 Xiuning Chinese fir and Masson pine afforestation",
            "methodology": "CCER-14-001-V01",
            "plots": [p.plot_id for p in PLOTS],
            "start_date": "2016-03-01",
            "crediting_period_years": 30,
            "baseline": PDD_BASELINE,
            "benefit_split": {"owner": "0.6", "farmers": "0.3", "government": "0.1"},
            "risk_rating": RISK_RATING,
            "pdd_sha256": _h("PDD v1.2 " + PROJECT_ID),
            "comment_window": {"start_date": "2023-07-03", "end_date": "2023-07-28"},
        })]

    def _validation(self) -> list[Tx]:
        return [Tx("attest_validation", f"validation by {self.org('verifier_a')}",
                   (self.admin("verifier_a"),), "carbon", "attest_validation", {
            "attestation_id": "VAL-2023-077", "project_id": PROJECT_ID,
            "pdd_sha256": _h("PDD v1.2 " + PROJECT_ID), "positive": True,
            "site_visit_date": "2023-08-16"})]

    def _registration(self) -> list[Tx]:
        return [Tx("register_project", "registration", (self.admin("regulator"),), "carbon",
                   "register_project", {"project_id": PROJECT_ID})]

    def _report(self, period: Period) -> Tx:
        i = period.volume_index
        return Tx(f"report:{period.report_id}", f"report {period.report_id}",
                  (self.member("owner", "forester"),), "carbon", "submit_monitoring_report", {
            "report_id": period.report_id,
            "project_id": PROJECT_ID,
            "period_start": period.start,
            "period_end": period.end,
            "measurements": [
                {"plot_id": p.plot_id, "species": p.species, "volume_start": p.volumes[i - 1],
                 "volume_end": p.volumes[i]} for p in PLOTS
            ],
            "parameters": {"leakage": "0",
                           "project_emissions": period.project_emissions,
                           "uncertainty_deduction": period.uncertainty_deduction},
            "claimed_issuable": issuable_for(period, self.genesis),
            "report_sha256": _h("monitoring report " + period.report_id),
        })

    def _verification(self, period: Period) -> Tx:
        issuable = issuable_for(period, self.genesis)
        verified = int(issuable * period.verified_share)  # whole tonnes, rounded down
        return Tx(f"verify:{period.report_id}",
                  f"verification of {period.report_id} by {self.org(period.verifier)}",
                  (self.admin(period.verifier),), "carbon", "attest_verification", {
            "attestation_id": period.attestation_id, "report_id": period.report_id,
            "report_sha256": _h("monitoring report " + period.report_id),
            "verified_quantity": verified, "site_visit_date": period.site_visit})

    def _issue(self, period: Period) -> Tx:
        return Tx(f"issue:{period.batch_id}", f"issue {period.batch_id}",
                  (self.admin("regulator"),), "carbon", "issue",
                  {"report_id": period.report_id, "batch_id": period.batch_id})

    def _listing(self) -> list[Tx]:
        return [Tx("create_listing", "list 1500 t at 62.00", (self.admin("owner"),), "carbon",
                   "create_listing", {"quantity": 1500, "price": "62.00",
                                      "exchange_org": self.org("exchange"),
                                      "project_id": PROJECT_ID})]

    def _trade(self, result: SampleResult) -> list[Tx]:
        listing_id = result.returns.get("create_listing", {}).get("listing_id")
        if not isinstance(listing_id, str):
            raise SampleError("sample_step_failed", "matched trade: the listing id is unknown")
        return [Tx("match_trade", f"trade 1200 t to {self.org('cement')}",
                   (self.member("exchange", "matching"),), "carbon", "match_trade", {
            "listing_id": listing_id, "buyer_org": self.org("cement"), "quantity": 1200,
            "price": "62.50", "settlement_ref": "AHCEE-2025-T1-000318"})]

    def _transfers(self) -> list[Tx]:
        owner = self.org("owner")
        return [
            Tx("transfer:fund", f"600 t to {self.org('fund')} (off-exchange)",
               (self.admin("owner"), self.admin("fund")), "carbon", "transfer", {
                   "from_org": owner, "to_org": self.org("fund"), "quantity": 600,
                   "price": "58.00", "settlement_ref": "OTC-XN-2025-0007",
                   "project_id": PROJECT_ID}),
            Tx("transfer:coop", f"300 t to {self.org('coop')} (benefit share)",
               (self.admin("owner"), self.admin("coop")), "carbon", "transfer", {
                   "from_org": owner, "to_org": self.org("coop"), "quantity": 300,
                   "settlement_ref": "BENEFIT-SHARE-2025-LT", "project_id": PROJECT_ID}),
        ]

    def _obligation(self) -> list[Tx]:
        return [Tx("record_obligation", "obligation 48000 t (2025)", (self.admin("regulator"),),
                   "carbon", "record_obligation", {"enterprise_org": self.org("cement"),
                                                   "period": "2025",
                                                   "obligation_tonnes": 48_000})]

    def _retire_compliance(self) -> list[Tx]:
        return [Tx("retire_compliance", "retire 1000 t for 2025",
                   (self.member("cement", "clerk"),), "carbon", "retire_compliance",
                   {"period": "2025", "quantity": 1000, "project_id": PROJECT_ID})]

    def _retire_voluntary(self) -> list[Tx]:
        return [Tx("retire_voluntary", "retire 250 t voluntarily", (self.admin("fund"),),
                   "carbon", "retire_voluntary", {
            "quantity": 250, "project_id": PROJECT_ID,
            "beneficiary": "黄山风景区 Huangshan Scenic Area visitors 2025",
            "reason": "Offsets the 2025 emissions of the scenic area's shuttle buses"})]

    def _subsidies(self) -> list[Tx]:
        return [Tx(f"accrue_subsidy:{p.batch_id}", f"subsidy {p.batch_id}",
                   (self.admin("regulator"),), "carbon", "accrue_subsidy",
                   {"batch_id": p.batch_id}) for p in PERIODS]


# --------------------------------------------------------------------------- running


def _returned(result: Mapping[str, Any]) -> dict[str, Any]:
    for event in result.get("events", []) or []:
        if isinstance(event, Mapping) and event.get("type") == "return":
            return {k: v for k, v in event.items() if k != "type"}
    return {}


def ensure_keys(keystore: Keystore, passphrase: str, genesis: Genesis,
                progress: Progress) -> tuple[dict[str, Party], dict[str, PrivateKey]]:
    """Resolve who plays each part, create the participants' keys that are missing (never
    a genesis organisation's admin key) and unlock them all."""
    entries = keystore.list()
    parties = resolve_parties(genesis, {e.public_key: e.name for e in entries})
    present = {e.name for e in entries}
    from_genesis = sorted({p.org_id for p in parties.values() if p.enrol is None})
    enrolled = [p.org_id for p in parties.values() if p.enrol is not None]
    progress(f"genesis organisations taking part: {', '.join(from_genesis)}; "
             f"enrolled by the sample: {', '.join(enrolled)}")
    names = sample_key_names(parties)
    missing = [n for n in names if n not in present]
    if missing:
        progress(f"creating {len(missing)} participant keys in {keystore.directory}")
    for name in missing:
        keystore.create(name, passphrase)
    progress(f"unlocking {len(names)} keys")
    return parties, {name: keystore.load(name, passphrase) for name in names}


class _Runner:
    def __init__(self, clients: Sequence[NodeClient], progress: Progress) -> None:
        self.clients = list(clients)
        self.progress = progress
        self.turn = 0

    def submit(self, txs: Sequence[Transaction], labels: Sequence[str]) -> NodeClient:
        """Submit a stage to one node (taking turns; another if one is unreachable)."""
        errors = []
        for attempt in range(len(self.clients)):
            client = self.clients[(self.turn + attempt) % len(self.clients)]
            try:
                outcomes = client.submit_batch(list(txs))
            except ClientError as exc:
                errors.append(f"{client.base_url}: {exc.code}: {exc.message}")
                continue
            self.turn += 1
            for outcome, label in zip(outcomes, labels, strict=True):
                if outcome.get("ok"):
                    continue
                err = outcome.get("error") or {}
                if err.get("code") == "duplicate_tx":  # submitted before: same transaction
                    continue
                raise SampleError(
                    "sample_step_failed",
                    f"{label}: the node refused the transaction: "
                    f"{err.get('code')}: {err.get('message')}",
                )
            return client
        raise SampleError("sample_unreachable", "no node accepted the transactions: "
                          + "; ".join(errors))

    def wait(self, client: NodeClient, tx: Transaction, label: str) -> dict[str, Any]:
        try:
            record = client.wait_committed(tx.tx_id, timeout_s=WAIT_TIMEOUT_S)
        except ClientError as exc:
            raise SampleError("sample_step_failed", f"{label}: {exc.code}: {exc.message}") from None
        result = record.get("result") or {}
        if result.get("code") != "ok":
            raise SampleError(
                "sample_step_failed",
                f"{label}: committed at height {record.get('height')} with "
                f"{result.get('code')}: {result.get('message')}",
            )
        return record


def run_sample(
    client_urls: Sequence[str],
    keystore: Keystore,
    passphrase: str,
    genesis: Genesis,
    progress: Progress = print,
    *,
    state_file: str | os.PathLike[str] | None = None,
    client_factory: Callable[[str], NodeClient] | None = None,
) -> SampleResult:
    """Run the sample's lifecycle against the nodes at ``client_urls`` (taking turns) and
    return what it produced.

    ``keystore`` must hold the admin key of a genesis regulator organisation (and those of
    the genesis exchange and verification bodies that should take part); the other
    participants' keys are created there when missing (encrypted with ``passphrase``).
    ``state_file`` (optional) records each finished step; with ``complete: true`` it is the
    marker of a finished sample and nothing is submitted again. ``client_factory`` makes
    the client of a URL (tests plug in an in-process transport).
    """
    if not client_urls:
        raise SampleError("sample_setup", "no node URL given")
    path = Path(state_file) if state_file is not None else None
    result = load_result(path) if path is not None else None
    if result is not None and result.genesis_hash != genesis.hash:
        raise SampleError("sample_setup",
                          f"{path} belongs to another network (genesis {result.genesis_hash})")
    if result is not None and result.complete:
        progress("the sample already ran to completion on this network; nothing to do")
        return result
    if result is None:
        result = SampleResult(chain_id=genesis.chain_id, genesis_hash=genesis.hash)

    parties, keys = ensure_keys(keystore, passphrase, genesis, progress)
    sample = _Sample(genesis, keys, parties)
    make = client_factory or (lambda url: NodeClient(url, timeout_s=15.0))
    clients = [make(url) for url in client_urls]
    runner = _Runner(clients, progress)
    nonce_base = f"devnet-sample/{genesis.hash[:16]}"
    stages = sample.stages(result)
    try:
        for number, (title, build) in enumerate(stages, start=1):
            prefix = f"[{number:2d}/{len(stages)}] {title}"
            specs = [s for s in build() if s.key not in result.tx_ids]
            if not specs:
                progress(f"{prefix}: done earlier")
                continue
            started = time.monotonic()
            txs = [
                build_signed_tx(chain_id=genesis.chain_id, contract=s.contract, method=s.method,
                                args=s.args, keys=[keys[n] for n in s.signers],
                                nonce=f"{nonce_base}/{s.key}")
                for s in specs
            ]
            client = runner.submit(txs, [f"{title}: {s.label}" for s in specs])
            heights = []
            for spec, tx in zip(specs, txs, strict=True):
                record = runner.wait(client, tx, f"{title}: {spec.label}")
                result.tx_ids[spec.key] = tx.tx_id
                result.heights[spec.key] = int(record.get("height") or 0)
                result.returns[spec.key] = _returned(record.get("result") or {})
                heights.append(result.heights[spec.key])
            _collect(result)
            if path is not None:
                save_result(path, result)
            where = f"height {max(heights)}" if len(set(heights)) == 1 else \
                f"heights {min(heights)}..{max(heights)}"
            progress(f"{prefix}: {len(specs)} tx ok ({where}, "
                     f"{time.monotonic() - started:.1f} s)")
    finally:
        for c in clients:
            c.close()
    result.complete = True
    if path is not None:
        save_result(path, result)
    return result


def _collect(result: SampleResult) -> None:
    """Copy the ids the later steps and the caller need out of the recorded returns."""
    r = result.returns
    result.batch_ids = [p.batch_id for p in PERIODS if f"issue:{p.batch_id}" in result.tx_ids]
    result.listing_id = r.get("create_listing", {}).get("listing_id", result.listing_id)
    result.trade_id = r.get("match_trade", {}).get("trade_id", result.trade_id)
    result.compliance_retirement_id = r.get("retire_compliance", {}).get(
        "retirement_id", result.compliance_retirement_id)
    result.voluntary_retirement_id = r.get("retire_voluntary", {}).get(
        "retirement_id", result.voluntary_retirement_id)
