"""Governance: changes of the validator set, decided by the organisations that run it.

Rule (docs/contracts/membership-governance.md, "Validator-set changes"):

1. The regulator proposes a complete new validator set ``[{name, pub_key, power}]`` with
   an effective height ``>= current height + param validator_change_delay``. Proposing is
   not approving.
2. Each validator of the current set is operated by one organisation (``valop/<pub_key>``
   -> org id). A member key (admin or not) of an operator organisation approves; the
   approval counts the voting power of *every* current validator that organisation
   operates.
3. When the approving organisations hold more than 2/3 of the current set's total power
   (``3 * approved > 2 * total``), the change is scheduled: ``sys/validators.pending =
   {"height": effective_height, "validators": [...]}``; the executor promotes it at that
   height. The regulator alone can change the set only if it alone operates more than
   2/3 of the power.
4. One change at a time: no proposal while another is open or a scheduled change has
   not yet taken effect. A proposal that has not reached the quorum by block
   ``effective_height - 2`` has expired (approvals at ``height >= effective_height - 1``
   are refused); the regulator may also withdraw an open proposal.

Operators: genesis ``app_state.validator_operators`` maps genesis validator keys to
organisation ids; a validator missing from it (or every validator, if it is absent) is
operated by the first regulator organisation listed in ``app_state.organisations``. A
proposal names the operator of every validator that has none yet (and may reassign one);
those records are written when the change is scheduled.

State::

    valop/<pub_key>             -> org id operating that validator
    gov/valchange/<id:08d>      -> a proposal (see _new_proposal)
    gov/valchange_state         -> {"next_id": int, "open": id | null}
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from chaincode.framework import ORG_PREFIX, ChaincodeError, Contract, TxContext, method
from chaincode.schema import ID_RE, Arg
from chaincode.validator_state import VALIDATORS_KEY
from ledger.crypto import is_hex_pubkey
from ledger.errors import BlockError
from ledger.validators import MAX_VALIDATORS, ValidatorSet

VALOP_PREFIX = "valop/"
PROPOSAL_PREFIX = "gov/valchange/"
GOV_STATE_KEY = "gov/valchange_state"

__all__ = [
    "GOV_STATE_KEY",
    "PROPOSAL_PREFIX",
    "VALOP_PREFIX",
    "Governance",
    "operator_power",
    "proposal_key",
    "proposal_status",
]


def proposal_key(proposal_id: int) -> str:
    return f"{PROPOSAL_PREFIX}{proposal_id:08d}"


def proposal_status(proposal: Mapping[str, Any], height: int) -> str:
    """``open``, ``scheduled``, ``withdrawn`` or ``expired`` as of block ``height`` (an
    open proposal that can no longer be approved is reported ``expired``)."""
    status = str(proposal["status"])
    if status == "open" and height >= proposal["effective_height"] - 1:
        return "expired"
    return status


def operator_power(ctx: TxContext, current: ValidatorSet) -> dict[str, int]:
    """Voting power of the current set per operator organisation (sorted by org id)."""
    power: dict[str, int] = {}
    for v in current.validators:
        org_id = ctx.get(VALOP_PREFIX + v.pub_key)
        if isinstance(org_id, str):
            power[org_id] = power.get(org_id, 0) + v.power
    return dict(sorted(power.items()))


def _validators_record(ctx: TxContext) -> dict[str, Any]:
    record = ctx.get(VALIDATORS_KEY)
    if record is None:
        raise ChaincodeError("internal_error", "state has no validator set")
    return dict(record)


def _gov_state(ctx: TxContext) -> dict[str, Any]:
    return dict(ctx.get(GOV_STATE_KEY) or {"next_id": 1, "open": None})


def _proposal_or_fail(ctx: TxContext, proposal_id: int) -> dict[str, Any]:
    proposal = ctx.get(proposal_key(proposal_id))
    if proposal is None:
        raise ChaincodeError("unknown_proposal", f"no validator-set proposal {proposal_id}")
    return dict(proposal)


def _require_open(ctx: TxContext, proposal: Mapping[str, Any]) -> None:
    status = proposal_status(proposal, ctx.block.height)
    if status == "expired":
        raise ChaincodeError(
            "expired",
            f"proposal {proposal['id']} expired: it had to reach the quorum before height "
            f"{proposal['effective_height'] - 1}",
        )
    if status != "open":
        raise ChaincodeError("proposal_closed", f"proposal {proposal['id']} is {status}")


class Governance(Contract):
    name = "governance"

    # -- genesis ---------------------------------------------------------------------------
    def genesis_validators(
        self,
        validators: ValidatorSet,
        app_state: Mapping[str, Any],
        put: Callable[[str, Any], None],
    ) -> None:
        """Record the operator of every genesis validator (ValueError on a bad mapping)."""
        orgs = app_state.get("organisations", [])
        org_ids: list[str] = []
        default: str | None = None
        if isinstance(orgs, list):
            for org in orgs:
                if isinstance(org, Mapping) and isinstance(org.get("id"), str):
                    org_ids.append(org["id"])
                    if default is None and "regulator" in (org.get("roles") or ()):
                        default = org["id"]
        operators = app_state.get("validator_operators", {})
        if not isinstance(operators, Mapping):
            raise ValueError("genesis validator_operators must be an object pub_key -> org id")
        keys = {v.pub_key for v in validators.validators}
        for pub_key in sorted(operators):
            if pub_key not in keys:
                raise ValueError(f"genesis validator_operators: {pub_key[:16]}… is no validator")
            if operators[pub_key] not in org_ids:
                raise ValueError(
                    f"genesis validator_operators: unknown organisation {operators[pub_key]!r}"
                )
        for v in validators.validators:
            operator = operators.get(v.pub_key, default)
            if operator is not None:
                put(VALOP_PREFIX + v.pub_key, operator)
        put(GOV_STATE_KEY, {"next_id": 1, "open": None})

    # -- proposals -----------------------------------------------------------------------
    @method(
        roles=("regulator",),
        args={
            "validators": Arg("list", min=1, max=MAX_VALIDATORS, item=Arg("any")),
            "effective_height": Arg("int", min=1),
            "operators": Arg("object", required=False),
            "reason": Arg("str", required=False, max=512),
        },
    )
    def propose_validator_change(self, ctx: TxContext, args: dict) -> dict:
        """Propose a complete new validator set taking effect at ``effective_height``."""
        height = ctx.block.height
        record = _validators_record(ctx)
        if record.get("pending") is not None:
            raise ChaincodeError(
                "change_pending",
                f"a validator-set change is scheduled for height {record['pending']['height']}",
            )
        gov = _gov_state(ctx)
        if gov["open"] is not None:
            open_proposal = _proposal_or_fail(ctx, gov["open"])
            if proposal_status(open_proposal, height) == "open":
                raise ChaincodeError(
                    "change_pending", f"proposal {gov['open']} is still open; withdraw it first"
                )
            open_proposal["status"] = "expired"
            open_proposal["closed_at"] = height
            ctx.put(proposal_key(open_proposal["id"]), open_proposal)
            ctx.emit("governance.validator_change_expired", proposal_id=open_proposal["id"])
        try:
            new_set = ValidatorSet.from_json(args["validators"])
        except BlockError as exc:
            raise ChaincodeError("invalid_validator_set", exc.message) from None
        current = ValidatorSet.from_json(record["current"])
        if new_set.to_json() == current.to_json():
            raise ChaincodeError("invalid_validator_set", "the proposed set equals the current set")
        delay = ctx.param("validator_change_delay")
        if args["effective_height"] < height + delay:
            raise ChaincodeError(
                "too_soon",
                f"effective_height must be at least {height + delay} (height {height} + "
                f"validator_change_delay {delay})",
            )
        operators = self._check_operators(ctx, new_set, args["operators"] or {})
        proposal_id = gov["next_id"]
        signer = ctx.signer_with_role("regulator")
        proposal = {
            "approvals": {},
            "approved_power": 0,
            "closed_at": None,
            "current_hash": current.hash(),
            "effective_height": args["effective_height"],
            "id": proposal_id,
            "operators": operators,
            "proposed_at": height,
            "proposer": signer.key,
            "proposer_org": signer.org_id,
            "reason": args["reason"] or "",
            "status": "open",
            "total_power": current.total_power,
            "tx_id": ctx.tx_id,
            "validators": new_set.to_json(),
        }
        ctx.put(proposal_key(proposal_id), proposal)
        ctx.put(GOV_STATE_KEY, {"next_id": proposal_id + 1, "open": proposal_id})
        ctx.emit("governance.validator_change_proposed", proposal_id=proposal_id,
                 effective_height=args["effective_height"], validators=new_set.to_json(),
                 operators=operators, new_hash=new_set.hash())
        return {"proposal_id": proposal_id}

    @staticmethod
    def _check_operators(
        ctx: TxContext, new_set: ValidatorSet, given: Mapping[str, Any]
    ) -> dict[str, str]:
        """The operator of every validator of ``new_set`` whose operator is new or changes."""
        keys = {v.pub_key for v in new_set.validators}
        for pub_key in sorted(given):
            org_id = given[pub_key]
            if not is_hex_pubkey(pub_key) or pub_key not in keys:
                raise ChaincodeError(
                    "invalid_validator_set", f"operators names {pub_key[:16]}…, not in the new set"
                )
            if not isinstance(org_id, str) or not ID_RE.match(org_id):
                raise ChaincodeError("invalid_args", f"operators.{pub_key[:16]}…: not an org id")
            org = ctx.get(ORG_PREFIX + org_id)
            if org is None:
                raise ChaincodeError("unknown_org", f"no organisation {org_id!r}")
            if org.get("status") != "active":
                raise ChaincodeError("org_suspended", f"organisation {org_id!r} is suspended")
        out: dict[str, str] = {}
        for v in new_set.validators:
            existing = ctx.get(VALOP_PREFIX + v.pub_key)
            operator = given.get(v.pub_key, existing)
            if operator is None:
                raise ChaincodeError(
                    "invalid_validator_set",
                    f"validator {v.name} has no operator: name one in operators",
                )
            if operator != existing:
                out[v.pub_key] = operator
        return dict(sorted(out.items()))

    @method(args={"proposal_id": Arg("int", min=1)})
    def approve_validator_change(self, ctx: TxContext, args: dict) -> dict:
        """Approve a proposal for the organisations of the signers that operate validators of
        the current set; schedules the change once they hold more than 2/3 of its power."""
        height = ctx.block.height
        proposal = _proposal_or_fail(ctx, args["proposal_id"])
        _require_open(ctx, proposal)
        record = _validators_record(ctx)
        current = ValidatorSet.from_json(record["current"])
        power = operator_power(ctx, current)
        orgs = sorted({s.org_id for s in ctx.signers() if s.org_id in power})
        if not orgs:
            raise ChaincodeError(
                "not_operator", "no signer belongs to an organisation operating a current validator"
            )
        approvals = dict(proposal["approvals"])
        repeated = [o for o in orgs if o in approvals]
        if repeated:
            raise ChaincodeError("already_approved", f"{', '.join(repeated)} already approved")
        signers = {s.org_id: s.key for s in reversed(ctx.signers())}
        for org_id in orgs:
            approvals[org_id] = {"height": height, "key": signers[org_id]}
        approved = sum(power.get(o, 0) for o in sorted(approvals))
        proposal["approvals"] = dict(sorted(approvals.items()))
        proposal["approved_power"] = approved
        proposal["total_power"] = current.total_power
        for org_id in orgs:
            ctx.emit("governance.validator_change_approved", proposal_id=proposal["id"],
                     org_id=org_id, power=power[org_id], approved_power=approved,
                     total_power=current.total_power)
        scheduled = current.has_quorum(approved)
        if scheduled:
            if record.get("pending") is not None:
                raise ChaincodeError("change_pending", "a validator-set change is already scheduled")
            ctx.put(VALIDATORS_KEY, {
                "current": record["current"],
                "pending": {"height": proposal["effective_height"],
                            "validators": proposal["validators"]},
            })
            for pub_key in sorted(proposal["operators"]):
                ctx.put(VALOP_PREFIX + pub_key, proposal["operators"][pub_key])
            proposal["status"] = "scheduled"
            proposal["closed_at"] = height
            gov = _gov_state(ctx)
            gov["open"] = None
            ctx.put(GOV_STATE_KEY, gov)
            ctx.emit("governance.validator_change_scheduled", proposal_id=proposal["id"],
                     effective_height=proposal["effective_height"],
                     new_hash=ValidatorSet.from_json(proposal["validators"]).hash())
        ctx.put(proposal_key(proposal["id"]), proposal)
        return {"approved_power": approved, "proposal_id": proposal["id"],
                "scheduled": scheduled, "total_power": current.total_power}

    @method(roles=("regulator",), args={"proposal_id": Arg("int", min=1),
                                        "reason": Arg("str", required=False, max=512)})
    def withdraw_validator_change(self, ctx: TxContext, args: dict) -> dict:
        """Withdraw an open proposal (the regulator)."""
        proposal = _proposal_or_fail(ctx, args["proposal_id"])
        _require_open(ctx, proposal)
        proposal["status"] = "withdrawn"
        proposal["closed_at"] = ctx.block.height
        ctx.put(proposal_key(proposal["id"]), proposal)
        gov = _gov_state(ctx)
        if gov["open"] == proposal["id"]:
            gov["open"] = None
            ctx.put(GOV_STATE_KEY, gov)
        ctx.emit("governance.validator_change_withdrawn", proposal_id=proposal["id"],
                 reason=args["reason"] or "")
        return {"proposal_id": proposal["id"]}
