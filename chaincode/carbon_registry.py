"""The registry half of the "carbon" contract: lifecycle steps 2-8 of DOMAIN.md.

Forest plots, projects (the PDD), validation attestations, registration, monitoring
reports, verification attestations and issuance. The methods live on the mixin
:class:`RegistryMethods`; ``chaincode/carbon.py`` assembles the contract.
docs/contracts/carbon-registry.md is the client reference (roles, args, errors, events).

Every refusal is a :class:`ChaincodeError` with a stable code; the executor then discards
every write of the transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from fractions import Fraction
from typing import Any

from chaincode import units
from chaincode.calculator import (
    STOCK_SCALE,
    CalculationError,
    PlotMeasurement,
    PlotStock,
    SpeciesParams,
    StockCalculation,
    calculate_removals,
    calculate_stock_removals,
    micro_text,
    micro_to_tonnes_up,
    species_params_from_table,
    stock_micro,
)
from chaincode.carbon_common import (
    PERIOD_PREFIX,
    attestation_key,
    batch_key,
    block_date,
    date_plus_years,
    decimal_value,
    load_or_fail,
    period_key,
    plot_key,
    project_key,
    report_key,
    require_org_signer,
    serial_string,
    stamp,
    validate_date,
    vintage_of,
)
from chaincode.evidence import EVIDENCE_ARG, validate_evidence
from chaincode.framework import ORG_PREFIX, ChaincodeError, Signer, TxContext, method
from chaincode.geometry import (
    GeometryError,
    Polygon,
    geodesic_area_m2_rational,
    parse_polygon,
    polygons_overlap,
)
from chaincode.membership import accreditation_in_force
from chaincode.plot_index import candidate_plots, index_entries
from chaincode.pool import (
    add_pool_units,
    cancel_from_pool,
    record_pool_event,
    repay_compensation,
)
from chaincode.sampling import SamplingEstimate, StratumSample, estimate_stocks, stock_per_m3
from chaincode.schema import Arg
from chaincode.stock import (
    baseline_start,
    initial_stock,
    load_stock,
    period_baseline,
    period_days,
    reversal_key,
    save_stock,
    stockhist_key,
)
from chaincode.strata import (
    PLOT_STRATA_ARG,
    REPORT_STRATA_ARG,
    check_growth,
    check_volume,
    parse_plot_strata,
    plot_strata,
    sampled_strata,
    t_table,
)
from ledger.fixedpoint import ceil_int, floor_int, format_decimal

#: Most plots in one project.
MAX_PROJECT_PLOTS = 1000

TENURE_DOC_TYPES = ("real_estate_cert", "forest_right_cert", "land_contract")
#: Risk ratings are codes like the keys of parameter buffer_rates ("low", "medium", "high").
RISK_RATING_PATTERN = r"[a-z][a-z0-9_]{0,63}"
SPLIT_PARTS = ("farmers", "government", "owner")

_DATE = Arg("str", min=10, max=10)
_DATE_OPT = Arg("str", min=10, max=10, required=False)
_WINDOW = Arg("object", fields={"start_date": _DATE, "end_date": _DATE}, required=False)


# -- small helpers ----------------------------------------------------------------------
def _param_decimal(value: Any, name: str) -> Fraction:
    return decimal_value(value, f"parameter {name}", code="invalid_parameter")


def _param_int(ctx: TxContext, name: str) -> int:
    value = ctx.param(name)
    if type(value) is not int:
        raise ChaincodeError("invalid_parameter", f"parameter {name} must be an integer")
    return value


def _polygon(obj: Any) -> Polygon:
    """Parse a polygon (an argument, or a stored plot's, which always parses); a
    GeometryError becomes a ChaincodeError with the same code and message."""
    try:
        return parse_polygon(obj)
    except GeometryError as exc:
        raise ChaincodeError(exc.code, exc.message) from None


def _boxes_share_area(a: list[int], b: list[int]) -> bool:
    return max(a[0], b[0]) < min(a[2], b[2]) and max(a[1], b[1]) < min(a[3], b[3])


def _overlapping_plots(ctx: TxContext, poly: Polygon, exclude: str) -> list[dict[str, Any]]:
    """Stored plots (other than ``exclude``) whose interior overlaps ``poly``'s, in id order.

    Spatial-index lookup (chaincode/plot_index.py: a loose quadtree per grid cell),
    bounding-box prefilter, then the exact polygon test.
    """
    bbox = list(poly.bbox)
    candidates = [
        plot_id for plot_id, other_box in sorted(candidate_plots(ctx, poly.bbox).items())
        if plot_id != exclude and _boxes_share_area(bbox, other_box)
    ]
    out = []
    for plot_id in candidates:
        other = ctx.get(plot_key(plot_id))
        if other is not None and polygons_overlap(poly, _polygon(other["polygon"])):
            out.append(other)
    return out


def _overlap_error(plot_id: str, other: Mapping[str, Any]) -> ChaincodeError:
    where = (
        f"project {other['project_id']}"
        if other.get("project_id")
        else f"unassigned plot of {other['owner_org']}"
    )
    return ChaincodeError(
        "plot_overlap", f"plot {plot_id} overlaps plot {other['id']} ({where})"
    )


def _accredited_verifier(ctx: TxContext) -> tuple[Signer, str]:
    """The verifier signer and the accreditation number it holds in force now."""
    signer = ctx.signer_with_role("verifier")
    accreditation = accreditation_in_force(signer.org, ctx.block.time)
    if accreditation is None:
        raise ChaincodeError(
            "not_accredited",
            f"verifier organisation {signer.org_id} holds no accreditation in force",
        )
    return signer, accreditation


def _require_attestor_accredited(
    ctx: TxContext, att: Mapping[str, Any], code: str, role: str
) -> None:
    """The attesting organisation is still active and still holds the accreditation it
    attested under (not revoked; expiry after the attestation does not matter), else
    ChaincodeError(code); ``role`` names the attestor in the message."""
    org = ctx.get(ORG_PREFIX + att["verifier_org"]) or {}
    if org.get("status") != "active" or org.get("accreditation") != att["accreditation"]:
        raise ChaincodeError(
            code,
            f"{role} verifier {att['verifier_org']} is no longer active or no longer"
            f" holds accreditation {att['accreditation']}",
        )


def _check_independent(signer: Signer, project: Mapping[str, Any]) -> None:
    if signer.org_id == project["owner_org"]:
        raise ChaincodeError(
            "self_attestation",
            f"{signer.org_id} owns project {project['id']} and may not attest it",
        )


#: ``pastvalidation/<project_id>/<org_id>`` -> ``{attestation_id, height}``: the first
#: validation attestation by ``org_id`` of the project that is not (or no longer) the
#: project's validation in force -- a negative one, one a revised PDD voided, one a later
#: positive validation by another body replaced. With the validation in force it names
#: every body that ever validated the project (written only in those cases, so projects
#: validated once keep their state bytes).
PAST_VALIDATION_PREFIX = "pastvalidation/"


def _past_validation_key(project_id: str, org_id: str) -> str:
    return f"{PAST_VALIDATION_PREFIX}{project_id}/{org_id}"


def _record_past_validation(ctx: TxContext, project_id: str, att_id: str) -> None:
    """Remember that attestation ``att_id``'s body validated ``project_id``."""
    att = ctx.get(attestation_key(att_id))
    if att is None:
        return
    key = _past_validation_key(project_id, att["verifier_org"])
    if not ctx.exists(key):
        ctx.put(key, {"attestation_id": att_id, "height": ctx.block.height})


def _check_verification_independent(
    ctx: TxContext, signer: Signer, project: Mapping[str, Any]
) -> None:
    """The regulator's independence parameters (DOMAIN.md "Integrity rules"): the body
    that signed the project's validation may verify only if
    ``verifier_may_validate_and_verify`` is true, and no body verifies more than
    ``max_consecutive_verifications`` verified reports of one project in a row."""
    may_both = ctx.param("verifier_may_validate_and_verify")
    if type(may_both) is not bool:
        raise ChaincodeError(
            "invalid_parameter", "parameter verifier_may_validate_and_verify must be a boolean"
        )
    att_id = project["validation_attestation"]
    validation = ctx.get(attestation_key(att_id)) if att_id is not None else None
    if not may_both:
        if validation is not None and validation["verifier_org"] == signer.org_id:
            by: str | None = att_id
        else:
            past = ctx.get(_past_validation_key(project["id"], signer.org_id))
            by = None if past is None else past["attestation_id"]
        if by is not None:
            raise ChaincodeError(
                "same_body_validated",
                f"{signer.org_id} validated project {project['id']} (attestation {by})"
                " and may not also verify its reports (parameter"
                " verifier_may_validate_and_verify is false)",
            )
    limit = _param_int(ctx, "max_consecutive_verifications")
    streak = project.get("verification_streak")
    if (
        limit > 0
        and streak is not None
        and streak["verifier_org"] == signer.org_id
        and streak["count"] >= limit
    ):
        raise ChaincodeError(
            "consecutive_verifications",
            f"{signer.org_id} verified the last {streak['count']} verified reports of project"
            f" {project['id']}; parameter max_consecutive_verifications allows at most"
            f" {limit} in a row, another body must verify this one",
        )


def _baseline_text(baselines: Iterable[Mapping[str, str]]) -> str:
    """``P1 120 m3, P2 0 m3`` (``none`` for an empty list)."""
    return ", ".join(f"{b['plot_id']} {b['volume']} m3" for b in baselines) or "none"


def _comment_window(start_date: str, end_date: str) -> dict[str, str]:
    start = validate_date(start_date, "comment_window.start_date")
    end = validate_date(end_date, "comment_window.end_date")
    if end < start:
        raise ChaincodeError(
            "invalid_period", f"comment window ends ({end}) before it starts ({start})"
        )
    return {"end_date": end, "start_date": start}


def _check_window(window: Mapping[str, str] | None) -> dict[str, str] | None:
    if window is None:
        return None
    return _comment_window(window["start_date"], window["end_date"])


def _benefit_split(ctx: TxContext, given: Mapping[str, str] | None) -> dict[str, str]:
    split = given if given is not None else ctx.param("benefit_split_default")
    if not isinstance(split, Mapping) or sorted(split) != list(SPLIT_PARTS):
        raise ChaincodeError("bad_split", "benefit split needs exactly owner, farmers, government")
    total = Fraction(0)
    for part in SPLIT_PARTS:
        total += decimal_value(split[part], f"benefit_split.{part}", code="bad_split")
    if total != 1:
        raise ChaincodeError(
            "bad_split", f"benefit split shares must sum to exactly 1, they sum to {format_decimal(total)}"
        )
    return {part: split[part] for part in SPLIT_PARTS}


def _buffer_rate(ctx: TxContext, risk_rating: str, code: str = "invalid_parameter") -> Fraction:
    rates = ctx.param("buffer_rates")
    if not isinstance(rates, Mapping) or risk_rating not in rates:
        known = ", ".join(sorted(rates)) if isinstance(rates, Mapping) else ""
        raise ChaincodeError(
            code,
            f"parameter buffer_rates has no rate for risk rating {risk_rating!r} (has: {known})",
        )
    rate = _param_decimal(rates[risk_rating], f"buffer_rates.{risk_rating}")
    if rate > 1:
        raise ChaincodeError("invalid_parameter", f"buffer_rates.{risk_rating} exceeds 1")
    return rate


def _species_table(ctx: TxContext) -> Mapping[str, Any]:
    table = ctx.param("species_table")
    if not isinstance(table, Mapping):
        raise ChaincodeError("invalid_parameter", "parameter species_table must be an object")
    return table


def _put_attestation(
    ctx: TxContext, att_id: str, signer: Signer, accreditation: str, **fields: Any
) -> None:
    """Store attestation ``att_id`` signed by ``signer`` under ``accreditation``; ``fields``
    are the rest of the record (kind, positive, project_id, report_id, site_visit_date,
    subject_sha256 and, for a verification, verified_quantity)."""
    record = {
        "accreditation": accreditation,
        "id": att_id,
        "signer_key": signer.key,
        "verifier_org": signer.org_id,
        **fields,
    }
    ctx.put(attestation_key(att_id), stamp(ctx, record))


def _pool_ranges(moved: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The unit ranges a reversal or an exclusion cancelled from the pool, as its record
    lists them (batch, units, quantity, printable serial)."""
    return [
        {"batch_id": r["batch_id"], "first": r["first"], "last": r["last"],
         "project_id": r["project_id"], "quantity": r["last"] - r["first"] + 1,
         "serial": serial_string(r["project_id"], r["vintage"], r["first"], r["last"])}
        for r in moved
    ]


def _calc_error(exc: CalculationError) -> ChaincodeError:
    return ChaincodeError(exc.code, exc.message)


def _stratum_start_volumes(
    ctx: TxContext, plot: Mapping[str, Any], stock: Mapping[str, Any], start_volume: Fraction
) -> dict[str, Fraction]:
    """Each stratum's stand volume (m3) at the start of the period: the figures of the
    plot's last verified period if it was measured by strata, else the plot's verified
    volume shared by area (0 before the first verified period)."""
    strata = plot_strata(plot)
    if stock["periods"] > 0:
        # the latest entry: a verified period, or an exclusion (which has no strata)
        last = ctx.get(stockhist_key(plot["id"], stock["periods"] + stock["exclusions"])) or {}
        recorded = {s["stratum_id"]: s["volume"] for s in last.get("strata", [])}
        if set(recorded) == {s["stratum_id"] for s in strata}:
            return {sid: decimal_value(v, "stratum volume") for sid, v in recorded.items()}
    area = decimal_value(plot["declared_area_ha"], "declared_area_ha")
    return {s["stratum_id"]: start_volume * decimal_value(s["area_ha"], "stratum area") / area
            for s in strata}


def _measurement_record(
    m: Mapping[str, Any], volume_start: str, sampled_volume: Fraction | None
) -> dict[str, Any]:
    """A plot's measurement as the report record keeps it (a sampled plot's volume_end is
    the estimate truncated to 6 places)."""
    if sampled_volume is None:
        return {"plot_id": m["plot_id"], "species": m["species"], "volume_end": m["volume_end"],
                "volume_start": volume_start}
    return {
        "plot_id": m["plot_id"],
        "species": m["species"],
        "strata": [{"sample_plot_area_ha": s["sample_plot_area_ha"], "samples": s["samples"],
                    "stratum_id": s["stratum_id"]} for s in m["strata"]],
        "volume_end": format_decimal(sampled_volume),
        "volume_start": volume_start,
    }


class RegistryMethods:
    """Plots, projects, attestations, reports and issuance of the "carbon" contract."""

    # -- step 2: forest plots ------------------------------------------------------------
    @method(
        roles=("owner",),
        args={
            "plot_id": Arg("id"),
            "polygon": Arg("object"),
            "declared_area_ha": Arg("decimal"),
            "county_code": Arg("str", pattern=r"[0-9]{6}"),
            "tenure": Arg(
                "object",
                fields={
                    "doc_type": Arg("str", choices=TENURE_DOC_TYPES),
                    "doc_number": Arg("str", min=1, max=64),
                    "scan_sha256": Arg("hex32"),
                },
            ),
            "species": Arg("id"),
            "planting_date": _DATE,
            "non_forest_evidence": Arg(
                "object", fields={"sha256": Arg("hex32"), "years": Arg("int", min=0, max=1000)}
            ),
            "strata": PLOT_STRATA_ARG,
        },
    )
    def register_plot(self, ctx: TxContext, args: dict) -> dict:
        """Register a forest plot owned by the signer's organisation."""
        owner = ctx.signer_with_role("owner")
        plot_id = args["plot_id"]
        if ctx.exists(plot_key(plot_id)):
            raise ChaincodeError("plot_exists", f"plot {plot_id} is already registered")
        poly = _polygon(args["polygon"])
        planting_date = validate_date(args["planting_date"], "planting_date")
        today = block_date(ctx)
        if planting_date > today:
            raise ChaincodeError(
                "planting_in_future",
                f"plot {plot_id}'s planting date {planting_date} is after the block's date"
                f" ({today}); a plot is registered with the date its trees were planted",
            )
        species = args["species"]
        if species not in _species_table(ctx):
            raise ChaincodeError(
                "unknown_species", f"species {species!r} is not in the parameter species_table"
            )
        strata = None
        if args["strata"] is not None:
            strata = parse_plot_strata(_species_table(ctx), plot_id, species,
                                       args["declared_area_ha"], args["strata"])
        evidence = args["non_forest_evidence"]
        needed = _param_int(ctx, "non_forest_years")
        if evidence["years"] < needed:
            raise ChaincodeError(
                "non_forest_years",
                f"evidence covers {evidence['years']} non-forest years; at least {needed} are required",
            )

        area = geodesic_area_m2_rational(poly)
        min_parcel = _param_decimal(ctx.param("min_parcel_m2"), "min_parcel_m2")
        if area < min_parcel:
            raise ChaincodeError(
                "parcel_too_small",
                f"the polygon's area is {format_decimal(area, 2)} m2; a parcel needs at least"
                f" {format_decimal(min_parcel)} m2",
            )
        declared_ha = decimal_value(args["declared_area_ha"], "declared_area_ha")
        tolerance = _param_decimal(ctx.param("area_tolerance"), "area_tolerance")
        if abs(declared_ha * 10_000 - area) > tolerance * area:
            raise ChaincodeError(
                "area_mismatch",
                f"declared {args['declared_area_ha']} ha but the polygon's geodesic area is"
                f" {format_decimal(area / 10_000, 4)} ha (tolerance {format_decimal(tolerance * 100)} %)",
            )

        for other in _overlapping_plots(ctx, poly, exclude=plot_id):
            # Same owner's unassigned plots may overlap (e.g. a re-survey); nothing else.
            if other["project_id"] is not None or other["owner_org"] != owner.org_id:
                raise _overlap_error(plot_id, other)

        bbox = list(poly.bbox)
        tenure = args["tenure"]
        record = {
            "area_m2": floor_int(area),
            "bbox": bbox,
            "county_code": args["county_code"],
            "declared_area_ha": args["declared_area_ha"],
            "id": plot_id,
            "non_forest_evidence_sha256": evidence["sha256"],
            "non_forest_years": evidence["years"],
            "owner_org": owner.org_id,
            "planting_date": planting_date,
            "polygon": poly.to_json(),
            "project_id": None,
            "species": species,
            "tenure": {
                "doc_number": tenure["doc_number"],
                "doc_type": tenure["doc_type"],
                "scan_sha256": tenure["scan_sha256"],
            },
        }
        if strata is not None:
            record["strata"] = strata
        self._save_plot(ctx, record)
        for key, entry in index_entries(plot_id, poly.bbox):
            ctx.put(key, entry)
        ctx.emit(
            "carbon.plot_registered",
            plot_id=plot_id,
            owner_org=owner.org_id,
            area_m2=record["area_m2"],
            county_code=args["county_code"],
            species=species,
            bbox=bbox,
        )
        return {"plot_id": plot_id, "area_m2": record["area_m2"]}

    # -- step 3: project design document -------------------------------------------------
    @method(
        roles=("owner",),
        args={
            "project_id": Arg("id"),
            "name": Arg("str", min=1, max=200),
            "methodology": Arg("str", min=1, max=64),
            "plots": Arg("list", min=1, max=MAX_PROJECT_PLOTS, item=Arg("id")),
            "start_date": _DATE,
            "crediting_period_years": Arg("int", min=1, max=1000),
            "baseline": Arg("decimal"),
            "benefit_split": Arg(
                "object",
                fields={p: Arg("decimal") for p in SPLIT_PARTS},
                required=False,
            ),
            "risk_rating": Arg("str", pattern=RISK_RATING_PATTERN),
            "pdd_sha256": Arg("hex32"),
            "comment_window": _WINDOW,
        },
    )
    def submit_project(self, ctx: TxContext, args: dict) -> dict:
        """Submit a project design document over plots the signer's organisation owns."""
        owner = ctx.signer_with_role("owner")
        project_id = args["project_id"]
        if ctx.exists(project_key(project_id)):
            raise ChaincodeError("project_exists", f"project {project_id} already exists")
        methodologies = ctx.param("methodologies")
        if not isinstance(methodologies, list) or args["methodology"] not in methodologies:
            raise ChaincodeError(
                "unknown_methodology",
                f"methodology {args['methodology']!r} is not accepted (parameter methodologies)",
            )
        start_date = validate_date(args["start_date"], "start_date")
        years = args["crediting_period_years"]
        lo = _param_int(ctx, "crediting_period_min_years")
        hi = _param_int(ctx, "crediting_period_max_years")
        if not lo <= years <= hi:
            raise ChaincodeError(
                "invalid_crediting_period",
                f"crediting period of {years} years is outside {lo}..{hi} years",
            )
        split = _benefit_split(ctx, args["benefit_split"])
        _buffer_rate(ctx, args["risk_rating"], "unknown_risk_rating")
        window = _check_window(args["comment_window"])

        plot_ids: list[str] = args["plots"]
        if len(set(plot_ids)) != len(plot_ids):
            raise ChaincodeError("duplicate_plot", "a plot is listed more than once")
        plots = []
        for plot_id in plot_ids:
            plot = self._plot(ctx, plot_id)
            if plot["owner_org"] != owner.org_id:
                raise ChaincodeError(
                    "wrong_owner", f"plot {plot_id} belongs to {plot['owner_org']}, not {owner.org_id}"
                )
            if plot["project_id"] is not None:
                raise ChaincodeError(
                    "plot_in_project", f"plot {plot_id} is already in project {plot['project_id']}"
                )
            plots.append(plot)
        members = set(plot_ids)
        for plot in plots:
            poly = _polygon(plot["polygon"])
            for other in _overlapping_plots(ctx, poly, exclude=plot["id"]):
                if (
                    other["id"] in members
                    or other["project_id"] is not None
                    or other["owner_org"] != owner.org_id
                ):
                    raise _overlap_error(plot["id"], other)

        record = {
            "baseline": args["baseline"],
            "benefit_split": split,
            "comment_window": window,
            "county_code": plots[0]["county_code"],
            "crediting_period_end": date_plus_years(start_date, years),
            "crediting_period_years": years,
            "id": project_id,
            "methodology": args["methodology"],
            "name": args["name"],
            "next_unit": 1,
            "open_report": None,
            "owner_org": owner.org_id,
            "pdd_sha256": args["pdd_sha256"],
            "plots": plot_ids,
            "registration": None,
            "risk_rating": args["risk_rating"],
            "start_date": start_date,
            "status": "submitted",
            "validation_attestation": None,
        }
        self._save_project(ctx, record)
        units.count_record(ctx, "projects")
        for plot in plots:
            plot["project_id"] = project_id
            self._save_plot(ctx, plot)
        ctx.emit(
            "carbon.project_submitted",
            project_id=project_id,
            owner_org=owner.org_id,
            methodology=args["methodology"],
            plots=plot_ids,
            pdd_sha256=args["pdd_sha256"],
        )
        return {"project_id": project_id}

    @method(roles=("owner",), args={"project_id": Arg("id"), "pdd_sha256": Arg("hex32")})
    def revise_pdd(self, ctx: TxContext, args: dict) -> dict:
        """Replace the PDD hash of an unregistered project; any validation is void."""
        project = self._project(ctx, args["project_id"])
        require_org_signer(ctx, project["owner_org"])
        self._not_registered(project)
        if args["pdd_sha256"] == project["pdd_sha256"]:
            raise ChaincodeError("unchanged", "the PDD hash is unchanged")
        if project["validation_attestation"] is not None:
            _record_past_validation(ctx, project["id"], project["validation_attestation"])
        project["pdd_sha256"] = args["pdd_sha256"]
        project["status"] = "submitted"
        project["validation_attestation"] = None
        self._save_project(ctx, project)
        ctx.emit("carbon.pdd_revised", project_id=project["id"], pdd_sha256=args["pdd_sha256"])
        return {"project_id": project["id"]}

    @method(
        roles=("owner", "regulator"),
        args={"project_id": Arg("id"), "start_date": _DATE, "end_date": _DATE},
    )
    def record_comment_window(self, ctx: TxContext, args: dict) -> dict:
        """Record (or replace) the public comment window of an unregistered project."""
        project = self._project(ctx, args["project_id"])
        if not any("regulator" in s.roles for s in ctx.signers()):
            require_org_signer(ctx, project["owner_org"])
        self._not_registered(project)
        window = _comment_window(args["start_date"], args["end_date"])
        project["comment_window"] = window
        self._save_project(ctx, project)
        ctx.emit("carbon.comment_window_recorded", project_id=project["id"], **window)
        return {"project_id": project["id"]}

    # -- step 4: validation --------------------------------------------------------------
    @method(
        roles=("verifier",),
        args={
            "attestation_id": Arg("id"),
            "project_id": Arg("id"),
            "pdd_sha256": Arg("hex32"),
            "positive": Arg("bool"),
            "site_visit_date": _DATE_OPT,
            "baseline_stocks": Arg(
                "list",
                required=False,
                max=MAX_PROJECT_PLOTS,
                item=Arg("object", fields={"plot_id": Arg("id"), "volume": Arg("decimal")}),
            ),
        },
    )
    def attest_validation(self, ctx: TxContext, args: dict) -> dict:
        """A validation attestation (审定) over the project's current PDD hash."""
        signer, accreditation = _accredited_verifier(ctx)
        project = self._project(ctx, args["project_id"])
        _check_independent(signer, project)
        self._not_registered(project)
        att_id = args["attestation_id"]
        self._new_attestation_id(ctx, att_id)
        if args["pdd_sha256"] != project["pdd_sha256"]:
            raise ChaincodeError(
                "hash_mismatch",
                f"attested hash {args['pdd_sha256']} is not project {project['id']}'s current"
                f" PDD hash {project['pdd_sha256']}",
            )
        visit = args["site_visit_date"]
        if visit is not None:
            validate_date(visit, "site_visit_date")
            today = block_date(ctx)
            if visit > today:
                raise ChaincodeError(
                    "site_visit_out_of_range",
                    f"the validation's site visit {visit} must lie on or before the block's"
                    f" date ({today})",
                )
        baselines = self._baseline_stocks(ctx, project, args["baseline_stocks"] or [])
        previous = project["validation_attestation"]
        if args["positive"] and previous is not None:
            earlier = ctx.get(attestation_key(previous)) or {}
            if (
                earlier.get("subject_sha256") == project["pdd_sha256"]
                and earlier.get("baseline_stocks", []) != baselines
            ):
                raise ChaincodeError(
                    "baseline_requires_revision",
                    f"attestation {previous} validated project {project['id']}'s current PDD"
                    f" with baseline stocks {_baseline_text(earlier.get('baseline_stocks', []))};"
                    f" this attestation states {_baseline_text(baselines)}: changing the"
                    " baseline needs a revised PDD (revise_pdd) and a new validation",
                )
        _put_attestation(
            ctx, att_id, signer, accreditation,
            kind="validation",
            positive=args["positive"],
            project_id=project["id"],
            report_id=None,
            site_visit_date=visit,
            subject_sha256=args["pdd_sha256"],
            baseline_stocks=baselines,
        )
        if args["positive"]:
            replaced = None if previous is None else ctx.get(attestation_key(previous))
            if replaced is not None and replaced["verifier_org"] != signer.org_id:
                # replaced by another body's: its body still validated the project
                _record_past_validation(ctx, project["id"], previous)
            project["status"] = "validated"
            project["validation_attestation"] = att_id
            self._save_project(ctx, project)
        else:
            _record_past_validation(ctx, project["id"], att_id)
        ctx.emit(
            "carbon.validation_attested",
            attestation_id=att_id,
            project_id=project["id"],
            verifier_org=signer.org_id,
            accreditation=accreditation,
            positive=args["positive"],
            subject_sha256=args["pdd_sha256"],
        )
        return {"attestation_id": att_id}

    # -- step 5: registration ------------------------------------------------------------
    @method(roles=("regulator",), args={"project_id": Arg("id")})
    def register_project(self, ctx: TxContext, args: dict) -> dict:
        """Register (备案) a project with a positive, current, independent validation."""
        project = self._project(ctx, args["project_id"])
        self._not_registered(project)
        att_id = project["validation_attestation"]
        if att_id is None:
            raise ChaincodeError(
                "not_validated", f"project {project['id']} has no positive validation attestation"
            )
        att = load_or_fail(ctx, attestation_key(att_id), "not_validated", f"no attestation {att_id}")
        if (
            att["kind"] != "validation"
            or not att["positive"]
            or att["project_id"] != project["id"]
            or att["subject_sha256"] != project["pdd_sha256"]
            or att["verifier_org"] == project["owner_org"]
        ):
            raise ChaincodeError(
                "not_validated", f"attestation {att_id} does not validate the current PDD"
            )
        _require_attestor_accredited(ctx, att, "not_validated", "validating")
        window = project["comment_window"]
        today = block_date(ctx)
        if window is not None and today <= window["end_date"]:
            raise ChaincodeError(
                "comment_window_open",
                f"the public comment window runs until {window['end_date']} (today is {today})",
            )
        table = _species_table(ctx)
        for entry in att.get("baseline_stocks", []):
            plot = self._plot(ctx, entry["plot_id"])
            try:
                volume = decimal_value(entry["volume"], f"{plot['id']} baseline volume")
                s0 = stock_micro(volume, species_params_from_table(table, plot["species"]))
            except CalculationError as exc:
                raise _calc_error(exc) from None
            save_stock(ctx, initial_stock(plot["id"], s0, entry["volume"]))
        project["status"] = "registered"
        project["registration"] = {"height": ctx.block.height, "tx_id": ctx.tx_id}
        self._save_project(ctx, project)
        ctx.emit(
            "carbon.project_registered",
            project_id=project["id"],
            owner_org=project["owner_org"],
            validation_attestation=att_id,
        )
        return {"project_id": project["id"]}

    # -- step 6: monitoring report -------------------------------------------------------
    @method(
        roles=("owner",),
        args={
            "report_id": Arg("id"),
            "project_id": Arg("id"),
            "period_start": _DATE,
            "period_end": _DATE,
            "measurements": Arg(
                "list",
                min=1,
                max=1000,
                item=Arg(
                    "object",
                    fields={
                        "plot_id": Arg("id"),
                        "species": Arg("id"),
                        "volume_start": Arg("decimal", required=False),
                        "volume_end": Arg("decimal", required=False),
                        "strata": REPORT_STRATA_ARG,
                    },
                ),
            ),
            "parameters": Arg(
                "object",
                fields={
                    "baseline": Arg("decimal", required=False),
                    "leakage": Arg("decimal"),
                    "project_emissions": Arg("decimal"),
                    "uncertainty_deduction": Arg("decimal", required=False),
                },
            ),
            "claimed_issuable": Arg("int", min=0),
            "report_sha256": Arg("hex32"),
            "evidence": EVIDENCE_ARG,
        },
    )
    def submit_monitoring_report(self, ctx: TxContext, args: dict) -> dict:
        """Submit a monitoring report; the ledger recomputes the removals."""
        report_id = args["report_id"]
        project = self._project(ctx, args["project_id"])
        require_org_signer(ctx, project["owner_org"])
        self._registered(project)
        if ctx.exists(report_key(report_id)):
            raise ChaincodeError("report_exists", f"report {report_id} already exists")
        start = validate_date(args["period_start"], "period_start")
        end = validate_date(args["period_end"], "period_end")
        if not start < end:
            raise ChaincodeError(
                "invalid_period", f"monitoring period must start before it ends ({start}..{end})"
            )
        if start < project["start_date"] or end >= project["crediting_period_end"]:
            raise ChaincodeError(
                "outside_crediting_period",
                f"period {start}..{end} is not inside the crediting period"
                f" {project['start_date']}..{project['crediting_period_end']} (end exclusive)",
            )

        today = block_date(ctx)
        if end > today:
            raise ChaincodeError(
                "period_in_future",
                f"period {start}..{end} ends after the block's date {today}",
            )
        evidence = None if args["evidence"] is None else validate_evidence(
            args["evidence"], plots=project["plots"], earliest=start,
            earliest_label="the period's start", today=today)
        params = args["parameters"]
        # the baseline runs over the days the measured stock change covers: from the day
        # after the project's last verified period (its start before any), see stock.py
        baseline_from = baseline_start(
            project["start_date"], start,
            [load_stock(ctx, p)["last_period_end"] for p in project["plots"]])
        baseline = period_baseline(project["baseline"], baseline_from, end)
        if params["baseline"] is not None:
            stated = decimal_value(params["baseline"], "parameters.baseline")
            if stated != baseline:
                since = "" if baseline_from == start else (
                    f" (from {baseline_from}, the day after the project's last verified"
                    " period or its start date: the stock change runs from there)")
                raise ChaincodeError(
                    "baseline_mismatch",
                    f"the validated PDD's baseline of {project['baseline']} t CO2e a year gives"
                    f" {format_decimal(baseline)} t CO2e for period {start}..{end}{since}; the"
                    f" report's baseline of {params['baseline']} is not accepted",
                )
        open_report = project.get("open_report")
        if open_report is not None:
            raise ChaincodeError(
                "report_pending",
                f"report {open_report} of project {project['id']} is not verified yet; the next"
                " period starts from its verified stock",
            )

        # every plot of the project, each once, each with its own species
        members = set(project["plots"])
        table = _species_table(ctx)
        species_params: dict[str, SpeciesParams] = {}
        given: dict[str, Mapping[str, Any]] = {}
        plots: dict[str, dict[str, Any]] = {}
        for m in args["measurements"]:
            plot_id = m["plot_id"]
            plot = self._plot(ctx, plot_id)
            plots[plot_id] = plot
            if plot_id not in members:
                raise ChaincodeError(
                    "plot_not_in_project", f"plot {plot_id} is not in project {project['id']}"
                )
            if plot_id in given:
                raise ChaincodeError(
                    "duplicate_measurement", f"plot {plot_id} is measured more than once"
                )
            if m["species"] != plot["species"]:
                raise ChaincodeError(
                    "species_mismatch",
                    f"plot {plot_id} is registered as {plot['species']}, not {m['species']}",
                )
            if start < plot["planting_date"]:
                raise ChaincodeError(
                    "before_planting",
                    f"period {start}..{end} starts before plot {plot_id} was planted"
                    f" ({plot['planting_date']})",
                )
            if (m["volume_end"] is None) == (m["strata"] is None):
                raise ChaincodeError(
                    "invalid_measurement",
                    f"plot {plot_id}: give either volume_end (a census of every tree) or strata"
                    " (sample plots per stratum), not both and not neither",
                )
            if m["strata"] is None and len({s["species"] for s in plot_strata(plot)}) > 1:
                raise ChaincodeError(
                    "strata_required",
                    f"plot {plot_id} has strata of several species; measure it by strata, a"
                    " single volume_end cannot say which species it is",
                )
            given[plot_id] = m
        # every plot without the regulator's exclusion record (an excluded plot may be
        # reported again, which re-admits it)
        missing = [
            p for p in project["plots"]
            if p not in given and load_stock(ctx, p)["excluded"] is None
        ]
        if missing:
            raise ChaincodeError(
                "missing_plots",
                f"a report covers every plot of project {project['id']} that the regulator"
                " has not excluded; missing: " + ", ".join(missing),
            )
        covered = [p for p in project["plots"] if p in given]

        # the ledger's own start (S), high-water mark (H) and end stock (E) per plot
        days = period_days(start, end)
        accounts: dict[str, dict[str, Any]] = {}
        census: list[tuple[str, Fraction]] = []
        samples: list[StratumSample] = []
        begins: dict[str, dict[str, Fraction]] = {}
        for plot_id in covered:
            m, plot = given[plot_id], plots[plot_id]
            stock = accounts[plot_id] = load_stock(ctx, plot_id)
            try:
                for sp in sorted({s["species"] for s in plot_strata(plot)} | {m["species"]}):
                    if sp not in species_params:
                        species_params[sp] = species_params_from_table(table, sp)
            except CalculationError as exc:
                raise _calc_error(exc) from None
            if stock["last_period_end"] is not None and start <= stock["last_period_end"]:
                raise ChaincodeError(
                    "period_out_of_order",
                    f"plot {plot_id}: period {start}..{end} does not start after its last"
                    f" verified period, which ended {stock['last_period_end']}",
                )
            start_volume = decimal_value(stock["volume"], "stock volume")
            if m["volume_start"] is not None:
                stated = decimal_value(m["volume_start"], f"{plot_id}.volume_start")
                if stated != start_volume:
                    try:
                        stated_micro = stock_micro(stated, species_params[m["species"]])
                    except CalculationError as exc:
                        raise _calc_error(exc) from None
                    raise ChaincodeError(
                        "start_stock_mismatch",
                        f"period {stock['periods'] + 1} starts from the ledger's verified stock"
                        f" of {micro_text(stock['stock'])} t CO2e"
                        f" ({stock['volume']} m3) for plot {plot_id}; the report's start of"
                        f" {micro_text(stated_micro)} t CO2e ({m['volume_start']} m3) is not"
                        " accepted",
                    )
            if m["strata"] is None:  # census: complete enumeration, no sampling error
                try:
                    volume_end = PlotMeasurement.from_strings(
                        plot_id, m["species"], "0", m["volume_end"]
                    ).volume_end
                except CalculationError as exc:
                    raise _calc_error(exc) from None
                area = decimal_value(plot["declared_area_ha"], "declared_area_ha")
                check_volume(table, plot_id, None, m["species"], volume_end / area)
                check_growth(table, plot_id, None, m["species"],
                             (volume_end - start_volume) / area, days)
                census.append((plot_id, volume_end * stock_per_m3(species_params[m["species"]])))
                continue
            try:
                strata = sampled_strata(plot, m["strata"], _param_int(ctx, "min_sample_plots"))
            except CalculationError as exc:
                raise _calc_error(exc) from None
            begin = begins[plot_id] = _stratum_start_volumes(ctx, plot, stock, start_volume)
            for st in strata:
                per_ha = sum((v / st.sample_plot_area_ha for v in st.samples), Fraction(0))
                per_ha /= len(st.samples)
                check_volume(table, plot_id, st.stratum_id, st.species, per_ha)
                check_growth(table, plot_id, st.stratum_id, st.species,
                             per_ha - begin[st.stratum_id] / st.area_ha, days)
            samples.extend(strata)
        sampling: SamplingEstimate | None = None
        if samples:
            try:
                sampling = estimate_stocks(
                    samples, census, species_params, t_table=t_table(ctx),
                    target=_param_decimal(ctx.param("sampling_precision_target"),
                                          "sampling_precision_target"),
                )
            except CalculationError as exc:
                raise _calc_error(exc) from None
        stocks: list[PlotStock] = []
        for plot_id, exact in census:
            if sampling is None:  # = stock_micro(volume_end, species), as before sampling
                end_micro = floor_int(exact * STOCK_SCALE)
            else:
                end_micro = sampling.plot_end_micro(plot_id)
            stocks.append(PlotStock(plot_id, accounts[plot_id]["stock"],
                                    accounts[plot_id]["high_water"], end_micro))
        if sampling is not None:
            for plot_id in begins:
                stocks.append(PlotStock(plot_id, accounts[plot_id]["stock"],
                                        accounts[plot_id]["high_water"],
                                        sampling.plot_end_micro(plot_id)))
        order = {p: i for i, p in enumerate(project["plots"])}
        stocks.sort(key=lambda p: order[p.plot_id])

        minimum = _param_decimal(ctx.param("uncertainty_deduction"), "uncertainty_deduction")
        if params["uncertainty_deduction"] is None:
            deduction_text = format_decimal(minimum)
        else:
            deduction_text = params["uncertainty_deduction"]
        deduction = decimal_value(deduction_text, "parameters.uncertainty_deduction")
        if deduction < minimum:
            raise ChaincodeError(
                "invalid_parameter",
                f"uncertainty deduction {deduction_text} is below the regulator's minimum"
                f" {format_decimal(minimum)}",
            )
        buffer_rate = _buffer_rate(ctx, project["risk_rating"])
        try:
            calc: StockCalculation = calculate_stock_removals(
                stocks,
                baseline=baseline,
                leakage=decimal_value(params["leakage"], "parameters.leakage"),
                project_emissions=decimal_value(
                    params["project_emissions"], "parameters.project_emissions"
                ),
                uncertainty_deduction=deduction,
                buffer_rate=buffer_rate,
            )
        except CalculationError as exc:
            raise _calc_error(exc) from None
        # every intermediate figure of the formula, per plot, from the ledger's start volume
        rows: list[PlotMeasurement] = []
        plot_volumes: dict[str, Fraction] = {}
        try:
            for p in covered:
                if given[p]["strata"] is None:
                    rows.append(PlotMeasurement.from_strings(
                        p, given[p]["species"], accounts[p]["volume"], given[p]["volume_end"]))
                    continue
                by_species = ({} if sampling is None
                              else sampling.species_volumes(p, begins[p]))
                rows.extend(PlotMeasurement(p, sp, v0, v1) for sp, (v0, v1) in by_species.items())
                plot_volumes[p] = sum((v1 for _, v1 in by_species.values()), Fraction(0))
            figures = calculate_removals(
                rows,
                species_params,
                baseline=Fraction(0),
                leakage=Fraction(0),
                project_emissions=Fraction(0),
                uncertainty_deduction=Fraction(0),
                buffer_rate=Fraction(0),
            ).to_dict()
        except CalculationError as exc:
            raise _calc_error(exc) from None
        if calc.issuable != args["claimed_issuable"]:
            raise ChaincodeError(
                "claim_mismatch",
                f"the ledger computes {calc.issuable} issuable t CO2e (growth above the"
                f" high-water marks {format_decimal(calc.growth)} t CO2e), the report claims"
                f" {args['claimed_issuable']}",
            )

        # no monitoring period counted twice for a plot (closed date intervals)
        # (a plot's periods never overlap each other, so only the one starting last by
        # ``end`` can overlap; if it does, the message names the earliest that does)
        for plot_id in covered:
            prefix = f"{PERIOD_PREFIX}{plot_id}/"
            below = ctx.last_at_or_before(prefix, prefix + end)
            if below is not None and start <= below[1]["period_end"]:
                found = ctx.last_at_or_before(prefix, prefix + start)
                if found is None or found[1]["period_end"] < start:
                    found = next(ctx.scan(prefix, prefix + start))
                key, entry = found
                other_start = key.rsplit("/", 1)[1]
                raise ChaincodeError(
                    "period_overlap",
                    f"plot {plot_id}: period {start}..{end} overlaps {other_start}.."
                    f"{entry['period_end']} of report {entry['report_id']}",
                )
        for plot_id in covered:
            ctx.put(
                period_key(plot_id, start),
                stamp(ctx, {"period_end": end, "report_id": report_id}),
            )

        parameters = {
            "baseline": format_decimal(baseline),
            "leakage": params["leakage"],
            "project_emissions": params["project_emissions"],
            "species": {sp: species_params[sp].to_dict() for sp in sorted(species_params)},
            "uncertainty_deduction": deduction_text,
        }
        record = {
            "batch_id": None,
            "calculation": {
                **calc.to_dict(),
                "carbon_end": figures["carbon_end"],
                "carbon_start": figures["carbon_start"],
                "plots": figures["plots"],
                **({} if sampling is None else {"sampling": sampling.to_dict()}),
            },
            "claimed_issuable": args["claimed_issuable"],
            "id": report_id,
            "measurements": [
                _measurement_record(given[p.plot_id], accounts[p.plot_id]["volume"],
                                    plot_volumes.get(p.plot_id))
                for p in stocks
            ],
            "parameters": parameters,
            "period_end": end,
            "period_start": start,
            # the baseline's first day, only when it is not period_start (reports of
            # contiguous periods keep their bytes)
            **({} if baseline_from == start else {"baseline_from": baseline_from}),
            "project_id": project["id"],
            "report_sha256": args["report_sha256"],
            "status": "submitted",
            "verification_attestation": None,
            "vintage": vintage_of(end),
            # remote-sensing evidence: only when given, so that reports without it keep
            # their bytes (and the golden state roots)
            **({} if evidence is None else {"evidence": evidence}),
        }
        self._save_report(ctx, record)
        project["open_report"] = report_id
        self._save_project(ctx, project)
        ctx.emit(
            "carbon.report_submitted",
            report_id=report_id,
            project_id=project["id"],
            period_start=start,
            period_end=end,
            issuable=calc.issuable,
            report_sha256=args["report_sha256"],
        )
        return {"report_id": report_id, "issuable": calc.issuable}

    @method(roles=("owner",), args={"report_id": Arg("id")})
    def withdraw_report(self, ctx: TxContext, args: dict) -> dict:
        """Withdraw an unverified report: its monitoring periods become free again."""
        report = self._report(ctx, args["report_id"])
        project = self._project(ctx, report["project_id"])
        require_org_signer(ctx, project["owner_org"])
        if report["status"] != "submitted":
            raise ChaincodeError(
                "report_not_open", f"report {report['id']} is {report['status']}, not submitted"
            )
        for plot_id in sorted({m["plot_id"] for m in report["measurements"]}):
            ctx.delete(period_key(plot_id, report["period_start"]))
        report["status"] = "withdrawn"
        self._save_report(ctx, report)
        if project.get("open_report") == report["id"]:
            project["open_report"] = None
            self._save_project(ctx, project)
        ctx.emit("carbon.report_withdrawn", report_id=report["id"], project_id=project["id"])
        return {"report_id": report["id"]}

    @method(
        roles=("regulator",),
        args={
            "project_id": Arg("id"),
            "plot_id": Arg("id"),
            "reason": Arg("str", min=1, max=1024),
            "evidence_sha256": Arg("hex32", required=False),
        },
    )
    def exclude_plot(self, ctx: TxContext, args: dict) -> dict:
        """The regulator's exclusion record for a plot that cannot be measured: the plot's
        credited stock still standing (S - S0) is reversed at once from the buffer pool,
        S := S0 (H unchanged), and reports need not cover the plot until one includes it
        again (which re-admits it)."""
        signer = ctx.signer_with_role("regulator")
        project = self._project(ctx, args["project_id"])
        plot = self._plot(ctx, args["plot_id"])
        plot_id = plot["id"]
        if plot_id not in project["plots"]:
            raise ChaincodeError(
                "plot_not_in_project", f"plot {plot_id} is not in project {project['id']}"
            )
        self._registered(project)
        open_report = project.get("open_report")
        if open_report is not None:
            raise ChaincodeError(
                "report_pending",
                f"report {open_report} of project {project['id']} is not verified yet and was"
                f" computed from plot {plot_id}'s current stock; verify or withdraw it before"
                " excluding the plot",
            )
        stock = load_stock(ctx, plot_id)
        if stock["excluded"] is not None:
            raise ChaincodeError(
                "already_excluded",
                f"plot {plot_id} of project {project['id']} is already excluded (exclusion"
                f" {stock['excluded']['n']} at height {stock['excluded']['height']})",
            )
        s0 = stock["baseline_stock"]
        before = stock["stock"]
        # like a verified fall to the baseline stock; a plot already below it keeps its
        # lower stock (nothing above S0 is left to reverse)
        after = min(before, s0)
        fall = micro_to_tonnes_up(before - after)
        pending = stock["pending_loss"]
        settled = max(0, fall - pending)
        overestimate = max(0, pending - fall)
        moved, shortfall = cancel_from_pool(ctx, project["id"], settled, "reversal")
        n = stock["periods"] + stock["exclusions"] + 1
        ctx.put(stockhist_key(plot_id, n), {
            "cancelled": settled - shortfall,
            "credited": 0,
            "end": after,
            "evidence_sha256": args["evidence_sha256"],
            "fall": fall,
            "height": ctx.block.height,
            "high_water": stock["high_water"],
            "kind": "exclusion",
            "loss_events": pending,
            "loss_overestimate": overestimate,
            "n": n,
            "ranges": _pool_ranges(moved),
            "reason": args["reason"],
            "reversed": settled,
            "set_by": signer.key,
            "shortfall": shortfall,
            "start": before,
            "tx_id": ctx.tx_id,
        })
        stock.update(
            excluded={
                "evidence_sha256": args["evidence_sha256"],
                "height": ctx.block.height,
                "n": n,
                "reason": args["reason"],
                "reversed": settled,
                "tx_id": ctx.tx_id,
            },
            exclusions=stock["exclusions"] + 1,
            pending_loss=0,
            reversed=stock["reversed"] + settled,
            stock=after,
        )
        if after != before:
            stock["volume"] = stock["baseline_volume"]
        save_stock(ctx, stock)
        ctx.emit(
            "carbon.plot_excluded",
            project_id=project["id"],
            plot_id=plot_id,
            reason=args["reason"],
            quantity=settled,
            cancelled=settled - shortfall,
            compensation=shortfall,
        )
        return {"plot_id": plot_id, "reversed": settled, "cancelled": settled - shortfall,
                "compensation": shortfall}

    # -- step 7: verification ------------------------------------------------------------
    @method(
        roles=("verifier",),
        args={
            "attestation_id": Arg("id"),
            "report_id": Arg("id"),
            "report_sha256": Arg("hex32"),
            "verified_quantity": Arg("int", min=0),
            "site_visit_date": _DATE,
        },
    )
    def attest_verification(self, ctx: TxContext, args: dict) -> dict:
        """A verification attestation (核证) of a monitoring report."""
        signer, accreditation = _accredited_verifier(ctx)
        report = self._report(ctx, args["report_id"])
        project = self._project(ctx, report["project_id"])
        _check_independent(signer, project)
        if report["status"] != "submitted":
            code = "already_verified" if report["status"] in ("verified", "issued") else "report_not_open"
            raise ChaincodeError(code, f"report {report['id']} is {report['status']}")
        _check_verification_independent(ctx, signer, project)
        att_id = args["attestation_id"]
        self._new_attestation_id(ctx, att_id)
        if args["report_sha256"] != report["report_sha256"]:
            raise ChaincodeError(
                "hash_mismatch",
                f"attested hash {args['report_sha256']} is not report {report['id']}'s hash"
                f" {report['report_sha256']}",
            )
        computed = report["calculation"]["issuable"]
        quantity = args["verified_quantity"]
        if quantity > computed:
            raise ChaincodeError(
                "verified_exceeds_computed",
                f"verified {quantity} t CO2e exceeds the computed {computed} t CO2e",
            )
        visit = validate_date(args["site_visit_date"], "site_visit_date")
        today = block_date(ctx)
        if not report["period_end"] <= visit <= today:
            raise ChaincodeError(
                "site_visit_out_of_range",
                f"site visit {visit} must lie between the end of the monitoring period"
                f" ({report['period_end']}) and the block's date ({today})",
            )
        _put_attestation(
            ctx, att_id, signer, accreditation,
            kind="verification",
            positive=True,
            project_id=project["id"],
            report_id=report["id"],
            site_visit_date=visit,
            subject_sha256=args["report_sha256"],
            verified_quantity=quantity,
        )
        report["status"] = "verified"
        report["verification_attestation"] = att_id
        reversal = self._apply_stocks(ctx, project, report, quantity)
        report["reversal"] = reversal
        self._save_report(ctx, report)
        project["open_report"] = None
        streak = project.get("verification_streak")
        count = streak["count"] + 1 if streak and streak["verifier_org"] == signer.org_id else 1
        project["verification_streak"] = {"count": count, "verifier_org": signer.org_id}
        self._save_project(ctx, project)
        ctx.emit(
            "carbon.verification_attested",
            attestation_id=att_id,
            report_id=report["id"],
            project_id=project["id"],
            verifier_org=signer.org_id,
            accreditation=accreditation,
            verified_quantity=quantity,
        )
        return {"attestation_id": att_id, "verified_quantity": quantity}

    # -- step 8: issuance ----------------------------------------------------------------
    @method(roles=("regulator",), args={"report_id": Arg("id"), "batch_id": Arg("id")})
    def issue(self, ctx: TxContext, args: dict) -> dict:
        """Issue (签发) the verified quantity of a report as a new batch."""
        report = self._report(ctx, args["report_id"])
        if report["status"] == "issued":
            raise ChaincodeError(
                "already_issued", f"report {report['id']} was issued as batch {report['batch_id']}"
            )
        if report["status"] != "verified":
            raise ChaincodeError("not_verified", f"report {report['id']} is {report['status']}, not verified")
        batch_id = args["batch_id"]
        if ctx.exists(batch_key(batch_id)):
            raise ChaincodeError("batch_exists", f"batch {batch_id} already exists")
        project = self._project(ctx, report["project_id"])
        self._registered(project)  # cannot fail: reports need registration
        att = load_or_fail(
            ctx,
            attestation_key(report["verification_attestation"]),
            "not_verified",
            f"report {report['id']} has no verification attestation",
        )
        _require_attestor_accredited(ctx, att, "not_verified", "verifying")
        quantity = att["verified_quantity"]
        if quantity <= 0:
            raise ChaincodeError("nothing_to_issue", f"report {report['id']} verified 0 t CO2e")
        rate = _buffer_rate(ctx, project["risk_rating"])
        risk_quantity = ceil_int(quantity * rate)
        # the project's compensation obligation is repaid to the pool before the owner
        # receives anything
        compensation = repay_compensation(ctx, project["id"], quantity - risk_quantity)
        add_pool_units(ctx, project["id"], risk_quantity, compensation)
        buffer_quantity = risk_quantity + compensation
        owner_quantity = quantity - buffer_quantity
        first = project["next_unit"]
        last = first + quantity - 1
        vintage = report["vintage"]
        pid = project["id"]
        owner_serial = None
        buffer_serial = None
        if owner_quantity > 0:
            units.create_range(
                ctx, project_id=pid, batch_id=batch_id, vintage=vintage, first=first,
                last=first + owner_quantity - 1, account=project["owner_org"],
            )
            owner_serial = serial_string(pid, vintage, first, first + owner_quantity - 1)
        if buffer_quantity > 0:
            units.create_range(
                ctx, project_id=pid, batch_id=batch_id, vintage=vintage,
                first=first + owner_quantity, last=last, account=units.BUFFER_ACCOUNT,
            )
            buffer_serial = serial_string(pid, vintage, first + owner_quantity, last)
        batch = {
            "buffer_quantity": buffer_quantity,
            "buffer_rate": format_decimal(rate),
            "buffer_serial": buffer_serial,
            "compensation_quantity": compensation,
            "first": first,
            "id": batch_id,
            "last": last,
            "owner_org": project["owner_org"],
            "owner_quantity": owner_quantity,
            "owner_serial": owner_serial,
            "project_id": pid,
            "quantity": quantity,
            "report_id": report["id"],
            "serial": serial_string(pid, vintage, first, last),
            "serial_first": serial_string(pid, vintage, first, first),
            "serial_last": serial_string(pid, vintage, last, last),
            "verification_attestation": att["id"],
            "vintage": vintage,
        }
        ctx.put(batch_key(batch_id), stamp(ctx, batch))
        units.count_record(ctx, "batches")
        report["status"] = "issued"
        report["batch_id"] = batch_id
        self._save_report(ctx, report)
        project["next_unit"] = last + 1
        self._save_project(ctx, project)
        ctx.emit(
            "carbon.issued",
            batch_id=batch_id,
            project_id=pid,
            report_id=report["id"],
            vintage=vintage,
            quantity=quantity,
            first=first,
            last=last,
            serial=batch["serial"],
            owner_org=project["owner_org"],
            owner_quantity=owner_quantity,
            owner_serial=owner_serial,
            buffer_quantity=buffer_quantity,
            buffer_serial=buffer_serial,
            compensation_quantity=compensation,
        )
        return {"batch_id": batch_id, "serial": batch["serial"], "quantity": quantity}

    # -- stock accounting ------------------------------------------------------------
    @staticmethod
    def _apply_stocks(
        ctx: TxContext, project: Mapping[str, Any], report: Mapping[str, Any], verified: int
    ) -> dict[str, Any] | None:
        """A verified report moves each plot's stock: S := E, H := max(H, E); a fall
        S - E (whole tonnes, rounded up) net of what loss events already cancelled for
        the plot since its last period is cancelled from the pool at once. Returns the
        reversal record (None if nothing fell)."""
        plots = []
        total = 0
        for entry in report["calculation"]["stocks"]:
            plot_id = entry["plot_id"]
            stock = load_stock(ctx, plot_id)
            if stock["stock"] != entry["start"] or stock["high_water"] != entry["high_water"]:
                raise ChaincodeError(
                    "stale_report",
                    f"plot {plot_id}'s verified stock changed since report {report['id']} was"
                    " submitted; withdraw it and submit it again",
                )
            fall = micro_to_tonnes_up(entry["fall"])
            pending = stock["pending_loss"]
            settled = max(0, fall - pending)
            overestimate = max(0, pending - fall)
            volume = next(m["volume_end"] for m in report["measurements"] if m["plot_id"] == plot_id)
            n = stock["periods"] + 1
            sampling = report["calculation"].get("sampling")
            strata = [] if sampling is None else [
                {k: s[k] for k in ("mean", "n", "species", "stratum_id", "total", "variance",
                                   "volume", "volume_per_ha")}
                for s in sampling["strata"] if s["plot_id"] == plot_id]
            extra = {} if not strata else {"sampling_factor": sampling["factor"], "strata": strata}
            readmitted = stock["excluded"] is not None
            ctx.put(stockhist_key(plot_id, n + stock["exclusions"]), {
                **extra,
                "credited": entry["growth"],
                "end": entry["end"],
                "high_water": entry["high_water_after"],
                "kind": "period",
                "loss_events": pending,
                "loss_overestimate": overestimate,
                "n": n,
                "period_end": report["period_end"],
                "period_start": report["period_start"],
                "report_id": report["id"],
                "readmitted": readmitted,
                "reversed": settled,
                "start": entry["start"],
                "tx_id": ctx.tx_id,
                "height": ctx.block.height,
                "volume_end": volume,
            })
            stock.update(
                credited=stock["credited"] + entry["growth"],
                excluded=None,
                high_water=entry["high_water_after"],
                last_period_end=report["period_end"],
                pending_loss=0,
                periods=n,
                reversed=stock["reversed"] + settled,
                stock=entry["end"],
                volume=volume,
            )
            save_stock(ctx, stock)
            if fall or pending:
                plots.append({"fall": fall, "loss_events": pending,
                              "loss_overestimate": overestimate, "plot_id": plot_id,
                              "reversed": settled})
            total += settled
        if not plots:
            return None
        moved, shortfall = cancel_from_pool(ctx, project["id"], total, "reversal")
        record = {
            "cancelled": total - shortfall,
            "id": report["id"],
            "plots": plots,
            "project_id": project["id"],
            "quantity": total,
            "ranges": _pool_ranges(moved),
            "report_id": report["id"],
            "shortfall": shortfall,
            "verified_quantity": verified,
        }
        ctx.put(reversal_key(report["id"]), stamp(ctx, record))
        record_pool_event(ctx, "reversal", report["id"], project["id"])
        ctx.emit(
            "carbon.reversed",
            report_id=report["id"],
            project_id=project["id"],
            quantity=total,
            cancelled=total - shortfall,
            compensation=shortfall,
        )
        return {"cancelled": total - shortfall, "quantity": total, "shortfall": shortfall}

    def _baseline_stocks(
        self, ctx: TxContext, project: Mapping[str, Any], given: list[dict[str, Any]]
    ) -> list[dict[str, str]]:
        """A validation's baseline stocks (stand volume of pre-existing trees per plot),
        checked and in the PDD's plot order: each a plot of the project, at most once, a
        volume the species factors turn into a stock."""
        table = _species_table(ctx)
        volumes: dict[str, str] = {}
        for entry in given:
            plot_id = entry["plot_id"]
            if plot_id not in project["plots"]:
                raise ChaincodeError(
                    "plot_not_in_project",
                    f"baseline stock for plot {plot_id}, which is not in project {project['id']}",
                )
            if plot_id in volumes:
                raise ChaincodeError(
                    "duplicate_plot",
                    f"baseline_stocks lists plot {plot_id} more than once",
                )
            plot = self._plot(ctx, plot_id)
            volume = decimal_value(entry["volume"], f"{plot_id} baseline volume")
            try:
                stock_micro(volume, species_params_from_table(table, plot["species"]))
            except CalculationError as exc:
                raise _calc_error(exc) from None
            volumes[plot_id] = format_decimal(volume)  # canonical: "120.50" -> "120.5"
        return [{"plot_id": p, "volume": volumes[p]} for p in project["plots"] if p in volumes]

    # -- shared lookups ------------------------------------------------------------------
    @staticmethod
    def _project(ctx: TxContext, project_id: str) -> dict[str, Any]:
        return load_or_fail(ctx, project_key(project_id), "unknown_project", f"no project {project_id}")

    @staticmethod
    def _report(ctx: TxContext, report_id: str) -> dict[str, Any]:
        return load_or_fail(ctx, report_key(report_id), "unknown_report", f"no report {report_id}")

    @staticmethod
    def _plot(ctx: TxContext, plot_id: str) -> dict[str, Any]:
        return load_or_fail(ctx, plot_key(plot_id), "unknown_plot", f"no plot {plot_id}")

    @staticmethod
    def _save_plot(ctx: TxContext, plot: dict[str, Any]) -> None:
        ctx.put(plot_key(plot["id"]), stamp(ctx, plot))

    @staticmethod
    def _save_project(ctx: TxContext, project: dict[str, Any]) -> None:
        ctx.put(project_key(project["id"]), stamp(ctx, project))

    @staticmethod
    def _save_report(ctx: TxContext, report: dict[str, Any]) -> None:
        ctx.put(report_key(report["id"]), stamp(ctx, report))

    @staticmethod
    def _registered(project: Mapping[str, Any]) -> None:
        if project["status"] != "registered":
            raise ChaincodeError(
                "project_not_registered", f"project {project['id']} is not registered"
            )

    @staticmethod
    def _not_registered(project: Mapping[str, Any]) -> None:
        if project["status"] == "registered":
            raise ChaincodeError(
                "already_registered", f"project {project['id']} is already registered"
            )

    @staticmethod
    def _new_attestation_id(ctx: TxContext, att_id: str) -> None:
        if ctx.exists(attestation_key(att_id)):
            raise ChaincodeError("attestation_exists", f"attestation {att_id} already exists")
