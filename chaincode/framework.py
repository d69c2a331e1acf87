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

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from chaincode.schema import Arg
from ledger.encoding import canonical, decode
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


class TxContext:
    """What a contract method sees of the world while one transaction executes."""

    def __init__(
        self,
        state: Overlay,
        block: BlockContext,
        tx_id: str,
        signers: tuple[str, ...],
        index: int,
    ) -> None:
        self.state = state
        self.block = block
        self.tx_id = tx_id
        self.signer_keys = signers
        self.index = index
        self.events: list[dict[str, Any]] = []
        self._writes = 0

    # -- state -------------------------------------------------------------------------
    def get(self, key: str) -> Any:
        raw = self.state.get(key)
        return None if raw is None else decode(raw)

    def put(self, key: str, value: Any) -> None:
        self._writes += 1
        if self._writes > MAX_WRITES_PER_TX:
            raise ChaincodeError("too_many_writes", f"a transaction writes at most {MAX_WRITES_PER_TX} keys")
        self.state.put(key, canonical(value))

    def delete(self, key: str) -> None:
        self.state.delete(key)

    def exists(self, key: str) -> bool:
        return self.state.get(key) is not None

    def scan(self, prefix: str) -> Iterator[tuple[str, Any]]:
        """Keys under ``prefix`` in sorted order with their decoded values."""
        for key, raw in self.state.iter_prefix(prefix):
            yield key, decode(raw)

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
        """The active member keys among the signers, with their organisations."""
        out = []
        for key in self.signer_keys:
            signer = lookup_signer(self.state, key)
            if signer is not None:
                out.append(signer)
        return out

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


def lookup_signer(state: Overlay, key: str) -> Signer | None:
    raw = state.get(KEY_PREFIX + key)
    if raw is None:
        return None
    member = decode(raw)
    if member.get("status") != "active":
        return None
    org_raw = state.get(ORG_PREFIX + member["org"])
    if org_raw is None:
        return None
    org = decode(org_raw)
    if org.get("status") != "active":
        return None
    return Signer(key=key, org_id=member["org"], org=org, admin=bool(member.get("admin")))


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
