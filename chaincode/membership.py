"""Membership: organisations, their roles, and their member keys.

Genesis ``app_state.organisations`` bootstraps the first organisations (at least the
regulator)::

    {"id": "reg-anhui", "name": "...", "roles": ["regulator"], "accreditation": null,
     "admins": ["<hex pubkey>", ...], "members": ["<hex pubkey>", ...]}

After genesis the regulator enrols organisations, suspends and reactivates them and
manages verifiers' accreditations; an organisation's admin keys enrol member keys; an
admin of the organisation or the regulator revokes them. docs/contracts/membership-
governance.md describes every method, record and event.

State (besides ``org/`` and ``key/``, whose layout chaincode/framework.py owns)::

    orgkey/<org_id>/<pub_key>   -> enrolment height (index: the keys of one organisation)
    accrno/<number>             -> org id (an accreditation number belongs to one org forever)
    observer/<node_key>         -> an observer node key the regulator admitted to the p2p
                                   network (issue 13): {org_id, moniker, status,
                                   enrolled_height, revoked_height}

Invariants: a key belongs to one organisation forever and is never enrolled twice (a
revoked key stays recorded as revoked); every organisation keeps at least one active
admin key; at least one active regulator organisation remains.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from chaincode.framework import (
    KEY_PREFIX,
    ORG_PREFIX,
    ROLES,
    ChaincodeError,
    Contract,
    Signer,
    TxContext,
    method,
)
from chaincode.schema import ID_RE, Arg
from chaincode.units import RESERVED_ACCOUNTS
from chaincode.validator_state import VALIDATORS_KEY
from ledger.crypto import is_hex_pubkey
from ledger.encoding import decode_state
from ledger.validators import ValidatorSet

ORGKEY_PREFIX = "orgkey/"
ACCRNO_PREFIX = "accrno/"
OBSERVER_PREFIX = "observer/"
#: an observer's moniker (as a node's moniker in its config.json)
OBSERVER_MONIKER_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")

#: Accreditation numbers: upper-case letters/digits in 2..5 hyphen-separated segments,
#: the first starting with a letter, e.g. ``CNCA-V-001``.
ACCREDITATION_RE = re.compile(r"[A-Z][A-Z0-9]{0,15}(?:-[A-Z0-9]{1,16}){1,4}")
MAX_ADMINS_AT_ENROL = 16
ORG_STATUSES = ("active", "suspended")
ACCREDITATION_ACTIONS = ("grant", "renew", "revoke")

__all__ = [
    "ACCREDITATION_RE",
    "ACCRNO_PREFIX",
    "OBSERVER_PREFIX",
    "ORGKEY_PREFIX",
    "Membership",
    "SignerCheck",
    "accreditation_in_force",
    "active_admin_keys",
    "check_accreditation_format",
    "check_roles",
    "check_signers",
    "is_active_observer",
    "key_holder",
    "signer_refusal",
    "touches_membership",
]


# -- permissioned admission ----------------------------------------------------------------
class StateGetter(Protocol):
    """The one read :func:`check_signers` makes (a ``ledger.state.StateReader`` has it)."""

    def get(self, key: str) -> bytes | None: ...


@dataclass(frozen=True)
class SignerCheck:
    """What :func:`check_signers` found: the organisations of the signers (each once, in
    the order of the signers) and, if a signer may not sign, why (else None)."""

    orgs: tuple[str, ...]
    refusal: str | None


def check_signers(state: StateGetter, signers: Sequence[str]) -> SignerCheck:
    """Is every key in ``signers`` an active key of an active organisation in ``state``?

    The permissioned-admission rule (issue 11): the mempool (``node/txpool/admission.py``)
    and the next-block rule (``ledger/next_block.py`` ``check_body``, through the callback
    the validator and the auditor pass) refuse a transaction naming a signer that is not.
    ``state`` is the committed state the transaction will execute against (the state the
    block starts from), so a key enrolled in block ``h`` may sign from block ``h + 1``.
    Pure state lookups (two reads per signer, no signature work), so it can run before any
    signature is verified. Deterministic: it reaches consensus through ``check_body``."""
    orgs: list[str] = []
    for key in signers:
        raw = state.get(KEY_PREFIX + key) if isinstance(key, str) else None
        if raw is None:
            return SignerCheck(tuple(orgs), f"signer {key} is not an enrolled key")
        # decode_state, not decode: the chaincode wrote these values in canonical form,
        # and this runs for every signer of every transaction admitted or checked
        member = decode_state(raw)
        org_id = member.get("org")
        if member.get("status") != "active":
            return SignerCheck(tuple(orgs), f"signer {key} is a revoked key of {org_id}")
        org_raw = state.get(ORG_PREFIX + str(org_id))
        status = None if org_raw is None else decode_state(org_raw).get("status")
        if status != "active":
            return SignerCheck(
                tuple(orgs), f"signer {key} belongs to organisation {org_id}, which is not active"
            )
        if org_id not in orgs:
            orgs.append(org_id)
    return SignerCheck(tuple(orgs), None)


def touches_membership(writes: Iterable[tuple[str, Any]]) -> bool:
    """Whether a block's write set changes a key or an organisation record (after such a
    block, what :func:`check_signers` answers may have changed)."""
    return any(key.startswith((KEY_PREFIX, ORG_PREFIX)) for key, _ in writes)


def signer_refusal(state: StateGetter, signers: Sequence[str]) -> str | None:
    """Why ``signers`` may not sign a transaction executed on ``state`` (a message naming the
    first signer that is not an active key of an active organisation), or None."""
    return check_signers(state, signers).refusal


def is_active_observer(state: StateGetter, node_key: str) -> bool:
    """Is ``node_key`` an observer node the regulator enrolled and has not revoked, in
    ``state`` (one read)? The p2p handshake of a validator admits such a key
    (``node/runtime.py`` ``authorise``); the state is the node's committed state."""
    if not isinstance(node_key, str) or not is_hex_pubkey(node_key):
        return False
    raw = state.get(OBSERVER_PREFIX + node_key)
    return raw is not None and decode_state(raw).get("status") == "active"


# -- helpers other contracts and queries may use ------------------------------------------
def key_holder(state: StateGetter, pub_key: str) -> dict[str, Any] | None:
    """Which organisation enrolled ``pub_key`` and with which roles, read from the
    membership state (``key/<pub_key>`` then ``org/<org_id>``), or None when no
    organisation ever enrolled it. A key belongs to one organisation forever, so a revoked
    key still names it (``key.status`` says ``revoked``). The answer of
    ``GET /v1/keys/{pub_key}`` (docs/node.md)::

        {"pub_key", "org_id", "name", "roles", "org_status",
         "key": {"admin", "status", "enrolled_at", "revoked_at"},
         "can_sign": <active key of an active organisation>}
    """
    raw = state.get(KEY_PREFIX + pub_key)
    if raw is None:
        return None
    member = decode_state(raw)
    org_id = str(member.get("org"))
    org_raw = state.get(ORG_PREFIX + org_id)
    org: dict[str, Any] = {} if org_raw is None else decode_state(org_raw)
    key = {name: member.get(name) for name in ("admin", "status", "enrolled_at", "revoked_at")}
    return {
        "pub_key": pub_key,
        "org_id": org_id,
        "name": org.get("name"),
        "roles": list(org.get("roles") or []),
        "org_status": org.get("status"),
        "key": key,
        "can_sign": key["status"] == "active" and org.get("status") == "active",
    }


def accreditation_in_force(org: Mapping[str, Any], time_ms: int) -> str | None:
    """The accreditation number ``org`` holds at block time ``time_ms``, or None.

    None if the organisation is not an active verifier, its accreditation was revoked
    (or never granted), or it expired (valid while ``time_ms < accreditation_valid_until``).
    Attestation rules should call this rather than read ``org["accreditation"]`` alone.
    """
    if org.get("status") != "active" or "verifier" not in org.get("roles", ()):
        return None
    number = org.get("accreditation")
    if not number:
        return None
    until = org.get("accreditation_valid_until")
    if until is not None and time_ms >= until:
        return None
    return str(number)


def check_roles(roles: Any) -> list[str]:
    """The roles, sorted; ChaincodeError("invalid_role") if empty, unknown or repeated."""
    if not isinstance(roles, list) or not roles:
        raise ChaincodeError("invalid_role", "an organisation holds at least one role")
    for r in roles:
        if r not in ROLES:
            raise ChaincodeError("invalid_role", f"unknown role {r!r}; roles: {', '.join(ROLES)}")
    if len(set(roles)) != len(roles):
        raise ChaincodeError("invalid_role", "a role is listed twice")
    return sorted(roles)


def check_accreditation_format(number: Any) -> str:
    """ChaincodeError("invalid_accreditation") unless ``number`` looks like ``CNCA-V-001``."""
    if not isinstance(number, str) or len(number) > 64 or not ACCREDITATION_RE.fullmatch(number):
        raise ChaincodeError(
            "invalid_accreditation",
            f"accreditation number {number!r} must look like CNCA-V-001 "
            "(upper-case letters/digits in 2..5 hyphen-separated segments)",
        )
    return number


def active_admin_keys(ctx: TxContext, org_id: str) -> list[str]:
    """The active admin keys of ``org_id``, sorted."""
    out = []
    for index_key, _ in ctx.scan(f"{ORGKEY_PREFIX}{org_id}/"):
        pub_key = index_key[len(ORGKEY_PREFIX) + len(org_id) + 1 :]
        record = ctx.get(KEY_PREFIX + pub_key)
        if record is not None and record.get("admin") and record.get("status") == "active":
            out.append(pub_key)
    return out


def _check_not_reserved(org_id: str) -> None:
    """ChaincodeError("reserved_account") for an account id the ledger owns."""
    if org_id in RESERVED_ACCOUNTS:
        raise ChaincodeError(
            "reserved_account",
            f"{org_id!r} is a system account the ledger owns (the buffer pool); it cannot be"
            " enrolled as an organisation",
        )


def _org_or_fail(ctx: TxContext, org_id: str) -> dict[str, Any]:
    org = ctx.get(ORG_PREFIX + org_id)
    if org is None:
        raise ChaincodeError("unknown_org", f"no organisation {org_id!r}")
    return dict(org)


def _check_new_key(ctx: TxContext, pub_key: str) -> None:
    record = ctx.get(KEY_PREFIX + pub_key)
    if record is None:
        return
    if record.get("status") == "revoked":
        raise ChaincodeError(
            "key_revoked", f"key {pub_key[:16]}… was revoked and can never be enrolled again"
        )
    raise ChaincodeError(
        "key_exists", f"key {pub_key[:16]}… is already enrolled (organisation {record['org']})"
    )


def _check_accreditation_free(ctx: TxContext, number: str, org_id: str) -> None:
    holder = ctx.get(ACCRNO_PREFIX + number)
    if holder is not None and holder != org_id:
        raise ChaincodeError(
            "accreditation_in_use", f"accreditation {number} belongs to organisation {holder}"
        )


def _check_valid_until(ctx: TxContext, valid_until: int | None) -> None:
    if valid_until is not None and valid_until <= ctx.block.time:
        raise ChaincodeError(
            "invalid_accreditation",
            f"accreditation_valid_until ({valid_until}) must be after the block time "
            f"({ctx.block.time})",
        )


def _key_record(admin: bool, org_id: str, height: int) -> dict[str, Any]:
    return {"admin": admin, "enrolled_at": height, "org": org_id, "revoked_at": None,
            "status": "active"}


def _put_key(put: Callable[[str, Any], None], pub_key: str, org_id: str, admin: bool,
             height: int) -> None:
    put(KEY_PREFIX + pub_key, _key_record(admin, org_id, height))
    put(f"{ORGKEY_PREFIX}{org_id}/{pub_key}", height)


def _org_record(org_id: str, name: str, roles: list[str], accreditation: str | None,
                valid_until: int | None, height: int) -> dict[str, Any]:
    return {
        "accreditation": accreditation,
        "accreditation_valid_until": valid_until,
        "enrolled_at": height,
        "id": org_id,
        "name": name,
        "roles": roles,
        "status": "active",
        "updated_at": height,
    }


def _regulator_signer(ctx: TxContext) -> Signer | None:
    for s in ctx.signers():
        if "regulator" in s.roles:
            return s
    return None


def _observer_record(org_id: str, moniker: str | None, height: int) -> dict[str, Any]:
    return {"enrolled_height": height, "moniker": moniker, "org_id": org_id,
            "revoked_height": None, "status": "active"}


def _validator_keys(record: Mapping[str, Any] | None) -> set[str]:
    """The keys of the current and of a scheduled validator set in ``sys/validators``."""
    if record is None:
        return set()
    keys = {v["pub_key"] for v in record.get("current", [])}
    pending = record.get("pending")
    if pending is not None:
        keys.update(v["pub_key"] for v in pending.get("validators", []))
    return keys


class Membership(Contract):
    name = "membership"

    # -- genesis ---------------------------------------------------------------------------
    def genesis(self, app_state: Mapping[str, Any], put: Callable[[str, Any], None]) -> None:
        """Write the genesis organisations; raise ValueError on a malformed entry."""
        orgs = app_state.get("organisations", [])
        if not isinstance(orgs, list):
            raise ValueError("genesis app_state.organisations must be a list")
        seen_keys: set[str] = set()
        seen_orgs: set[str] = set()
        seen_numbers: set[str] = set()
        for i, org in enumerate(orgs):
            where = f"genesis organisation {i}"
            if not isinstance(org, Mapping):
                raise ValueError(f"{where} must be an object")
            extra = sorted(set(org) - {"accreditation", "admins", "id", "members", "name", "roles"})
            if extra:
                raise ValueError(f"{where}: unknown field(s) {', '.join(extra)}")
            org_id = org.get("id")
            if not isinstance(org_id, str) or not ID_RE.match(org_id):
                raise ValueError(f"{where}: id must be an identifier")
            where = f"genesis organisation {org_id}"
            if org_id in RESERVED_ACCOUNTS:
                raise ValueError(f"{where}: reserved_account: a system account the ledger owns")
            if org_id in seen_orgs:
                raise ValueError(f"{where} is listed twice")
            seen_orgs.add(org_id)
            name = org.get("name")
            if not isinstance(name, str) or not 1 <= len(name) <= 256:
                raise ValueError(f"{where}: name must be a string of 1..256 characters")
            try:
                roles = check_roles(org.get("roles"))
                accreditation = org.get("accreditation")
                if "verifier" in roles:
                    if accreditation is None:
                        raise ChaincodeError("accreditation_required", "a verifier needs one")
                    check_accreditation_format(accreditation)
                elif accreditation is not None:
                    raise ChaincodeError("invalid_accreditation", "only verifiers hold one")
            except ChaincodeError as exc:
                raise ValueError(f"{where}: {exc.code}: {exc.message}") from None
            if accreditation is not None:
                if accreditation in seen_numbers:
                    raise ValueError(f"{where}: accreditation {accreditation} is used twice")
                seen_numbers.add(accreditation)
            admins = org.get("admins", [])
            members = org.get("members", [])
            if not isinstance(admins, list) or not admins:
                raise ValueError(f"{where}: needs at least one admin key")
            if not isinstance(members, list):
                raise ValueError(f"{where}: members must be a list")
            put(ORG_PREFIX + org_id, _org_record(org_id, name, roles, accreditation, None, 0))
            if accreditation is not None:
                put(ACCRNO_PREFIX + accreditation, org_id)
            for j, key in enumerate(list(admins) + list(members)):
                if not is_hex_pubkey(key):
                    raise ValueError(f"{where}: key {j} is not a lowercase hex Ed25519 key")
                if key in seen_keys:
                    raise ValueError(f"genesis key {key[:16]}… is listed twice")
                seen_keys.add(key)
                _put_key(put, key, org_id, j < len(admins), 0)

    def genesis_validators(
        self,
        validators: ValidatorSet,
        app_state: Mapping[str, Any],
        put: Callable[[str, Any], None],
    ) -> None:
        """Write the genesis observers (``app_state.observers``); ValueError on a bad one."""
        observers = app_state.get("observers", [])
        if not isinstance(observers, list):
            raise ValueError("genesis app_state.observers must be a list")
        orgs = app_state.get("organisations", [])
        org_ids = {o.get("id") for o in orgs if isinstance(o, Mapping)} if isinstance(
            orgs, list) else set()
        validator_keys = {v.pub_key for v in validators.validators}
        seen: set[str] = set()
        for i, obs in enumerate(observers):
            where = f"genesis observer {i}"
            if not isinstance(obs, Mapping):
                raise ValueError(f"{where} must be an object")
            extra = sorted(set(obs) - {"moniker", "node_key", "org_id"})
            if extra:
                raise ValueError(f"{where}: unknown field(s) {', '.join(extra)}")
            key, org_id, moniker = obs.get("node_key"), obs.get("org_id"), obs.get("moniker")
            if not is_hex_pubkey(key):
                raise ValueError(f"{where}: node_key is not a lowercase hex Ed25519 key")
            if not isinstance(org_id, str) or org_id not in org_ids:
                raise ValueError(f"{where}: org_id {org_id!r} is not a genesis organisation")
            if moniker is not None and (
                not isinstance(moniker, str) or not OBSERVER_MONIKER_RE.fullmatch(moniker)
            ):
                raise ValueError(f"{where}: moniker must be 1..64 letters, digits, '.', '_', '-'")
            if key in validator_keys:
                raise ValueError(f"{where}: {key[:16]}… is a genesis validator")
            if key in seen:
                raise ValueError(f"{where}: {key[:16]}… is listed twice")
            seen.add(key)
            put(OBSERVER_PREFIX + key, _observer_record(org_id, moniker, 0))

    # -- organisations ------------------------------------------------------------------
    @method(
        roles=("regulator",),
        args={
            "org_id": Arg("id"),
            "name": Arg("str", min=1, max=256),
            "roles": Arg("list", min=1, max=len(ROLES), item=Arg("str", max=32)),
            "admins": Arg("list", min=1, max=MAX_ADMINS_AT_ENROL, item=Arg("pubkey")),
            "accreditation": Arg("str", required=False, max=64),
            "accreditation_valid_until": Arg("int", required=False, min=0),
        },
    )
    def enrol_org(self, ctx: TxContext, args: dict) -> dict:
        """Enrol a new organisation with its roles and first admin key(s)."""
        org_id = args["org_id"]
        _check_not_reserved(org_id)
        if ctx.exists(ORG_PREFIX + org_id):
            raise ChaincodeError("org_exists", f"organisation {org_id!r} is already enrolled")
        roles = check_roles(args["roles"])
        accreditation = args["accreditation"]
        valid_until = args["accreditation_valid_until"]
        if "verifier" in roles:
            if accreditation is None:
                raise ChaincodeError(
                    "accreditation_required", "a verifier organisation needs an accreditation number"
                )
            check_accreditation_format(accreditation)
            _check_accreditation_free(ctx, accreditation, org_id)
            _check_valid_until(ctx, valid_until)
        elif accreditation is not None or valid_until is not None:
            raise ChaincodeError(
                "invalid_accreditation", "only verifier organisations hold an accreditation"
            )
        admins = args["admins"]
        if len(set(admins)) != len(admins):
            raise ChaincodeError("invalid_args", "admins lists a key twice")
        for key in admins:
            _check_new_key(ctx, key)
        height = ctx.block.height
        ctx.put(ORG_PREFIX + org_id,
                _org_record(org_id, args["name"], roles, accreditation, valid_until, height))
        if accreditation is not None:
            ctx.put(ACCRNO_PREFIX + accreditation, org_id)
        for key in admins:
            _put_key(ctx.put, key, org_id, True, height)
        ctx.emit("membership.org_enrolled", org_id=org_id, name=args["name"], roles=roles,
                 accreditation=accreditation, admins=list(admins))
        return {"org_id": org_id}

    @method(
        roles=("regulator",),
        args={
            "org_id": Arg("id"),
            "status": Arg("str", choices=ORG_STATUSES),
            "reason": Arg("str", required=False, max=512),
        },
    )
    def update_org_status(self, ctx: TxContext, args: dict) -> dict:
        """Suspend or reactivate an organisation (a suspended organisation's keys sign
        nothing). The last active regulator organisation cannot be suspended."""
        org_id, status = args["org_id"], args["status"]
        org = _org_or_fail(ctx, org_id)
        if org["status"] == status:
            raise ChaincodeError("status_unchanged", f"organisation {org_id!r} is already {status}")
        if status == "suspended" and "regulator" in org["roles"]:
            others = [
                o for _, o in ctx.scan(ORG_PREFIX)
                if o["id"] != org_id and o["status"] == "active" and "regulator" in o["roles"]
            ]
            if not others:
                raise ChaincodeError(
                    "last_regulator", "the last active regulator organisation cannot be suspended"
                )
        previous = org["status"]
        org["status"] = status
        org["updated_at"] = ctx.block.height
        ctx.put(ORG_PREFIX + org_id, org)
        ctx.emit("membership.org_status_changed", org_id=org_id, status=status,
                 previous=previous, reason=args["reason"] or "")
        return {"org_id": org_id, "status": status}

    @method(
        roles=("regulator",),
        args={
            "org_id": Arg("id"),
            "action": Arg("str", choices=ACCREDITATION_ACTIONS),
            "accreditation": Arg("str", required=False, max=64),
            "valid_until": Arg("int", required=False, min=0),
        },
    )
    def set_accreditation(self, ctx: TxContext, args: dict) -> dict:
        """Grant, renew (new expiry) or revoke a verifier organisation's accreditation."""
        org_id, action = args["org_id"], args["action"]
        number, valid_until = args["accreditation"], args["valid_until"]
        org = _org_or_fail(ctx, org_id)
        if "verifier" not in org["roles"]:
            raise ChaincodeError("invalid_role", f"organisation {org_id!r} is not a verifier")
        current = org.get("accreditation")
        if action == "grant":
            if number is None:
                raise ChaincodeError("accreditation_required", "grant needs an accreditation number")
            if current is not None:
                raise ChaincodeError(
                    "accreditation_exists",
                    f"organisation {org_id!r} holds accreditation {current}; renew or revoke it",
                )
            check_accreditation_format(number)
            _check_accreditation_free(ctx, number, org_id)
            _check_valid_until(ctx, valid_until)
            org["accreditation"] = number
            org["accreditation_valid_until"] = valid_until
            ctx.put(ACCRNO_PREFIX + number, org_id)
        else:
            if current is None:
                raise ChaincodeError("not_accredited", f"organisation {org_id!r} holds no accreditation")
            if number is not None and number != current:
                raise ChaincodeError(
                    "invalid_accreditation", f"organisation {org_id!r} holds {current}, not {number}"
                )
            if action == "renew":
                _check_valid_until(ctx, valid_until)
                org["accreditation_valid_until"] = valid_until
            else:
                if valid_until is not None:
                    raise ChaincodeError("invalid_args", "revoke takes no valid_until")
                org["accreditation"] = None
                org["accreditation_valid_until"] = None
        org["updated_at"] = ctx.block.height
        ctx.put(ORG_PREFIX + org_id, org)
        ctx.emit("membership.accreditation_changed", org_id=org_id, action=action,
                 accreditation=number if action == "grant" else current,
                 valid_until=org["accreditation_valid_until"])
        return {"accreditation": org["accreditation"], "org_id": org_id}

    # -- keys --------------------------------------------------------------------------
    @method(args={"org_id": Arg("id"), "pub_key": Arg("pubkey"),
                  "admin": Arg("bool", required=False, default=False)})
    def enrol_key(self, ctx: TxContext, args: dict) -> dict:
        """Enrol a member key (admin or not) into the signer's own organisation; needs an
        active admin key of that organisation."""
        org_id, pub_key, admin = args["org_id"], args["pub_key"], bool(args["admin"])
        _org_or_fail(ctx, org_id)
        if not any(s.org_id == org_id and s.admin for s in ctx.signers()):
            raise ChaincodeError(
                "unauthorized", f"enrolling a key needs a signature by an admin key of {org_id}"
            )
        _check_new_key(ctx, pub_key)
        _put_key(ctx.put, pub_key, org_id, admin, ctx.block.height)
        ctx.emit("membership.key_enrolled", org_id=org_id, pub_key=pub_key, admin=admin)
        return {"org_id": org_id, "pub_key": pub_key}

    @method(args={"pub_key": Arg("pubkey"), "reason": Arg("str", required=False, max=512)})
    def revoke_key(self, ctx: TxContext, args: dict) -> dict:
        """Revoke a member key, for good. Signed by an admin key of the key's organisation
        or by the regulator; an organisation's last active admin key cannot be revoked."""
        pub_key = args["pub_key"]
        record = ctx.get(KEY_PREFIX + pub_key)
        if record is None:
            raise ChaincodeError("unknown_key", f"key {pub_key[:16]}… was never enrolled")
        record = dict(record)
        org_id = record["org"]
        if record["status"] == "revoked":
            raise ChaincodeError("key_revoked", f"key {pub_key[:16]}… is already revoked")
        by_admin = any(s.org_id == org_id and s.admin for s in ctx.signers())
        if not by_admin and _regulator_signer(ctx) is None:
            raise ChaincodeError(
                "unauthorized",
                f"revoking a key needs an admin key of {org_id} or the regulator",
            )
        if record["admin"] and active_admin_keys(ctx, org_id) == [pub_key]:
            raise ChaincodeError(
                "last_admin", f"{pub_key[:16]}… is the last active admin key of {org_id}"
            )
        record["status"] = "revoked"
        record["revoked_at"] = ctx.block.height
        ctx.put(KEY_PREFIX + pub_key, record)
        ctx.emit("membership.key_revoked", org_id=org_id, pub_key=pub_key,
                 admin=bool(record["admin"]), by="admin" if by_admin else "regulator",
                 reason=args["reason"] or "")
        return {"org_id": org_id, "pub_key": pub_key}

    # -- observer nodes ----------------------------------------------------------------
    @method(
        roles=("regulator",),
        args={
            "node_key": Arg("pubkey"),
            "org_id": Arg("id"),
            "moniker": Arg("str", required=False, min=1, max=64),
        },
    )
    def enrol_observer(self, ctx: TxContext, args: dict) -> dict:
        """Admit an observer node key to the p2p network: validators accept its connection
        from the next block on (it follows the chain and never votes). ``org_id`` is the
        organisation operating it."""
        node_key, org_id, moniker = args["node_key"], args["org_id"], args["moniker"]
        if moniker is not None and not OBSERVER_MONIKER_RE.fullmatch(moniker):
            raise ChaincodeError(
                "invalid_args",
                f"moniker {moniker!r} must be 1..64 letters, digits, '.', '_', '-' "
                "(starting with a letter or digit)",
            )
        org = _org_or_fail(ctx, org_id)
        if org["status"] != "active":
            raise ChaincodeError(
                "org_suspended",
                f"organisation {org_id!r} is {org['status']}; it cannot operate a new observer",
            )
        if node_key in _validator_keys(ctx.get(VALIDATORS_KEY)):
            raise ChaincodeError(
                "observer_is_validator",
                f"node key {node_key[:16]}… is in the current or scheduled validator set; a "
                "validator already follows the chain and cannot also be an observer",
            )
        record = ctx.get(OBSERVER_PREFIX + node_key)
        if record is not None:
            if record.get("status") == "revoked":
                raise ChaincodeError(
                    "observer_revoked",
                    f"observer {node_key[:16]}… was revoked at height {record['revoked_height']}"
                    " and can never be enrolled again; generate a new node key",
                )
            raise ChaincodeError(
                "observer_exists",
                f"observer {node_key[:16]}… is already enrolled (operated by {record['org_id']})",
            )
        ctx.put(OBSERVER_PREFIX + node_key, _observer_record(org_id, moniker, ctx.block.height))
        ctx.emit("membership.observer_enrolled", node_key=node_key, org_id=org_id,
                 moniker=moniker)
        return {"node_key": node_key, "org_id": org_id}

    @method(
        roles=("regulator",),
        args={"node_key": Arg("pubkey"), "reason": Arg("str", required=False, max=512)},
    )
    def revoke_observer(self, ctx: TxContext, args: dict) -> dict:
        """Withdraw an observer's admission, for good: validators refuse its handshakes and
        drop its connections once the revoking block is committed."""
        node_key = args["node_key"]
        record = ctx.get(OBSERVER_PREFIX + node_key)
        if record is None:
            raise ChaincodeError(
                "unknown_observer", f"node key {node_key[:16]}… was never enrolled as an observer"
            )
        record = dict(record)
        if record["status"] == "revoked":
            raise ChaincodeError(
                "observer_revoked",
                f"observer {node_key[:16]}… was already revoked at height "
                f"{record['revoked_height']}",
            )
        record["status"] = "revoked"
        record["revoked_height"] = ctx.block.height
        ctx.put(OBSERVER_PREFIX + node_key, record)
        ctx.emit("membership.observer_revoked", node_key=node_key, org_id=record["org_id"],
                 reason=args["reason"] or "")
        return {"node_key": node_key, "org_id": record["org_id"]}
