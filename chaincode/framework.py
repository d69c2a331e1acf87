"""The contract framework: how a contract declares its methods and what it may touch.

A contract is plain deterministic Python over a :class:`TxContext`: a copy-on-write view
of the state (get / put / delete / iterate by prefix in sorted order), the block's height
and time, the transaction id and its (already verified) signer keys. It never sees a
clock, randomness, floats, I/O, or dict order it did not sort itself.

Each method declares its argument schema and the roles allowed to call it::

    class Carbon(Contract):
        name = "carbon"

        @method(roles=("owner",), args={"plot_id": Arg("id")})
        def register_plot(self, ctx: TxContext, args: dict) -> dict | None: ...

A method refuses a transaction by raising :class:`ChaincodeError` with a stable code; the
executor then discards every write of that transaction and records the failure.
"""

from __future__ import annotations

import marshal
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from chaincode.schema import Arg
from ledger.encoding import canonical, decode_state
from ledger.state import Overlay
from ledger.validators import ValidatorSet

MAX_EVENTS_PER_TX = 1000
MAX_WRITES_PER_TX = 20000

ROLES = ("regulator", "verifier", "owner", "exchange", "buyer")

# State layout owned by the framework (membership is read here for every role check).
ORG_PREFIX = "org/"  # org/<org_id> -> {"id", "name", "roles", "status", "accreditation", ...}
KEY_PREFIX = "key/"  # key/<pubkey> -> {"org", "admin", "status": "active"|"revoked"}
PARAM_PREFIX = "param/"  # param/<name> -> value (policy parameters)


class ChaincodeError(Exception):
    """A business-rule refusal: the transaction fails with ``code`` and changes nothing."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class BlockContext:
    chain_id: str
    height: int
    time: int  # milliseconds since the epoch, from the block header
    proposer: str


@dataclass(frozen=True)
class Signer:
    key: str
    org_id: str
    org: Mapping[str, Any]
    admin: bool

    @property
    def roles(self) -> tuple[str, ...]:
        return tuple(self.org.get("roles", ()))


class SignerCache:
    """What :func:`lookup_signer` learnt from key and organisation records, by their exact
    bytes, shared by the transactions of one block (a block's transactions are mostly
    signed by few keys). A pure function of those bytes: a record that changes has other
    bytes. Each lookup still reads both records from the state, and gets a fresh copy of
    the organisation record (``marshal`` keeps types and key order), so no transaction
    sees another's objects."""

    __slots__ = ("members", "orgs")

    def __init__(self) -> None:
        # key record bytes -> None (not active) or (org state key, org id, admin)
        self.members: dict[bytes, tuple[str, str, bool] | None] = {}
        # organisation record bytes -> None (not active) or the marshalled record
        self.orgs: dict[bytes, bytes | None] = {}


class TxContext:
    """What a contract method sees of the world while one transaction executes."""

    def __init__(
        self,
        state: Overlay,
        block: BlockContext,
        tx_id: str,
        signers: tuple[str, ...],
        index: int,
        *,
        signer_cache: SignerCache | None = None,
    ) -> None:
        self.state = state
        self._signer_cache = signer_cache
        self.block = block
        self.tx_id = tx_id
        self.signer_keys = signers
        self.index = index
        self.events: list[dict[str, Any]] = []
        self._writes = 0
        # signers() as of state.version (a role check and the method both ask for them)
        self._signers: list[Signer] = []
        self._signers_of: tuple[Overlay, int] | None = None

    # -- state -------------------------------------------------------------------------
    def get(self, key: str) -> Any:
        raw = self.state.get(key)
        return None if raw is None else decode_state(raw)

    def put(self, key: str, value: Any) -> None:
        self._writes += 1
        if self._writes > MAX_WRITES_PER_TX:
            raise ChaincodeError("too_many_writes", f"a transaction writes at most {MAX_WRITES_PER_TX} keys")
        self.state.put(key, canonical(value))

    def delete(self, key: str) -> None:
        self.state.delete(key)

    def exists(self, key: str) -> bool:
        return self.state.get(key) is not None

    def scan(self, prefix: str, start: str | None = None) -> Iterator[tuple[str, Any]]:
        """Keys under ``prefix`` (from ``start`` on, if given: one ordered seek) in sorted
        order with their decoded values."""
        for key, raw in self.state.iter_prefix(prefix, start):
            yield key, decode_state(raw)

    def last_at_or_before(self, prefix: str, key: str) -> tuple[str, Any] | None:
        """The greatest key under ``prefix`` at or before ``key`` (which starts with
        ``prefix``) with its decoded value, or None: one ordered seek."""
        found = self.state.last_at_or_before(prefix, key)
        return None if found is None else (found[0], decode_state(found[1]))

    def param(self, name: str) -> Any:
        value = self.get(PARAM_PREFIX + name)
        if value is None:
            raise ChaincodeError("missing_parameter", f"policy parameter {name!r} is not set")
        return value

    # -- events ------------------------------------------------------------------------
    def emit(self, event_type: str, **attrs: Any) -> None:
        if len(self.events) >= MAX_EVENTS_PER_TX:
            raise ChaincodeError("too_many_events", f"at most {MAX_EVENTS_PER_TX} events")
        event = {"type": event_type}
        event.update(attrs)
        self.events.append(event)

    # -- who signed --------------------------------------------------------------------
    def signers(self) -> list[Signer]:
        """The active member keys among the signers, with their organisations (a new list
        each call; ``Signer.org`` is the decoded record, to read, not to change).

        Looked up once and reused until this transaction's state view is written to (any
        write: a method may enrol or revoke keys and then check its signers again)."""
        state = self.state
        version = getattr(state, "version", None)
        cached = self._signers_of
        if version is None or cached is None or cached[0] is not state or cached[1] != version:
            out = []
            for key in self.signer_keys:
                signer = lookup_signer(state, key, self._signer_cache)
                if signer is not None:
                    out.append(signer)
            self._signers = out
            self._signers_of = None if version is None else (state, version)
        return list(self._signers)

    def signer_with_role(self, *roles: str) -> Signer:
        """The first signer whose organisation holds one of ``roles``."""
        for s in self.signers():
            if any(r in s.roles for r in roles):
                return s
        raise ChaincodeError(
            "unauthorized",
            f"this needs a signature by a member of an organisation with role {' or '.join(roles)}",
        )

    def signer_of_org(self, org_id: str) -> Signer:
        for s in self.signers():
            if s.org_id == org_id:
                return s
        raise ChaincodeError("unauthorized", f"this needs a signature by a member of {org_id}")


def lookup_signer(
    state: Overlay, key: str, cache: SignerCache | None = None
) -> Signer | None:
    """The signer ``key`` if it is an active member key of an active organisation."""
    raw = state.get(KEY_PREFIX + key)
    if raw is None:
        return None
    if cache is not None and raw in cache.members:
        member_info = cache.members[raw]
    else:
        member = decode_state(raw)
        if member.get("status") != "active":
            member_info = None
        else:
            org_id = member["org"]
            member_info = (ORG_PREFIX + org_id, org_id, bool(member.get("admin")))
        if cache is not None:
            cache.members[raw] = member_info
    if member_info is None:
        return None
    org_key, org_id, admin = member_info
    org_raw = state.get(org_key)
    if org_raw is None:
        return None
    if cache is not None and org_raw in cache.orgs:
        packed = cache.orgs[org_raw]
        if packed is None:
            return None
        org = marshal.loads(packed)
    else:
        org = decode_state(org_raw)
        active = org.get("status") == "active"
        if cache is not None:
            cache.orgs[org_raw] = marshal.dumps(org) if active else None
        if not active:
            return None
    return Signer(key=key, org_id=org_id, org=org, admin=admin)


MethodFn = Callable[[Any, TxContext, dict], Any]


@dataclass(frozen=True)
class MethodSpec:
    name: str
    fn: MethodFn
    roles: tuple[str, ...]  # empty: any enrolled member key may call (the method checks more)
    args: Mapping[str, Arg]
    doc: str


def method(
    *, roles: tuple[str, ...] = (), args: Mapping[str, Arg] | None = None
) -> Callable[[MethodFn], MethodFn]:
    """Mark a contract method, with the roles allowed to call it and its argument schema."""
    for r in roles:
        if r not in ROLES:
            raise ValueError(f"unknown role {r}")

    def wrap(fn: MethodFn) -> MethodFn:
        fn.__fcl_method__ = MethodSpec(  # type: ignore[attr-defined]
            name=fn.__name__, fn=fn, roles=roles, args=dict(args or {}), doc=(fn.__doc__ or "")
        )
        return fn

    return wrap


class Contract:
    """Base class: subclasses set ``name`` and decorate methods with :func:`method`."""

    name: ClassVar[str] = ""

    def methods(self) -> dict[str, MethodSpec]:
        out: dict[str, MethodSpec] = {}
        for attr in sorted(dir(type(self))):
            spec = getattr(getattr(type(self), attr), "__fcl_method__", None)
            if isinstance(spec, MethodSpec):
                out[spec.name] = spec
        return out

    def genesis(self, app_state: Mapping[str, Any], put: Callable[[str, Any], None]) -> None:
        """Write this contract's initial state from the genesis ``app_state``."""

    def genesis_validators(
        self,
        validators: ValidatorSet,
        app_state: Mapping[str, Any],
        put: Callable[[str, Any], None],
    ) -> None:
        """Like :meth:`genesis`, for contracts that also need the genesis validator set
        (governance). Called by the executor after :meth:`genesis`; default: nothing."""
