"""Holding proofs: who holds a serial range of a project, and in which status, at a height.

A holding proof (format ``fcl-holding-proof``, version 1) is a state-proof file
(``ledger/state_proof.py``) whose entries are the unit-range records
(``unit/<project_id>/<first:012d>``, ``chaincode/units.py``) that cover a claimed range
``[first, last]`` of one project, wrapped with the claim::

    {"format": "fcl-holding-proof", "version": 1,
     "claim": {"project_id": str, "first": int, "last": int},
     "state_proof": <an fcl-state-proof version 1 object>}

The generic bundle (genesis, header chain, state proofs) is checked by
``ledger.state_proof.verify_state_proof``; what the records *mean* is the carbon
contract's and is checked here (:func:`verify_holding_proof`, the ``claim`` and
``coverage`` checks): every entry is a present unit record whose key is the unit key of
its own ``(project_id, first)``, of the claimed project, and the records, in file order,
cover the claimed range contiguously — the first starts at or before ``first``, each next
one starts at the unit after the previous one's ``last``, the last ends at or after
``last`` — with no record that holds none of the claimed units. Ranges of a project never
overlap (``chaincode/units.py``: the contract only splits them), so the records proven
present at those keys are the only ones that hold the claimed units. docs/state-proofs.md,
"Holding proofs", is the specification.

Status per sub-range: ``retired`` and ``cancelled`` as recorded; otherwise ``frozen`` if
the range is frozen; otherwise ``listed`` (on an exchange) or ``active`` (held).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from chaincode.carbon_common import serial_string
from chaincode.schema import ID_RE
from chaincode.units import MAX_UNIT, STATES, unit_key
from ledger.certificate import Check
from ledger.encoding import CanonicalEncodingError, canonical
from ledger.errors import LedgerError
from ledger.genesis import Genesis
from ledger.header_chain import TrustedState
from ledger.proof_file import decode_json_file
from ledger.state_proof import (
    CHECK_NAMES as STATE_CHECK_NAMES,
)
from ledger.state_proof import (
    MAX_FILE_BYTES,
    StateProofSummary,
    verify_state_proof,
)

__all__ = [
    "CHECK_NAMES",
    "COVERAGE_CODES",
    "HOLDING_PROOF_FORMAT",
    "HOLDING_PROOF_VERSION",
    "MAX_HOLDING_RECORDS",
    "HoldingRange",
    "HoldingSummary",
    "HoldingVerdict",
    "assemble_holding_proof",
    "status_of",
    "verify_holding_proof",
    "verify_holding_proof_bytes",
]

HOLDING_PROOF_FORMAT = "fcl-holding-proof"
HOLDING_PROOF_VERSION = 1
#: Most unit records one holding proof may list (the node answers ``too_many_records``).
MAX_HOLDING_RECORDS = 1000
#: The checks of a holding proof, in order: the envelope and claim, the state proof's own
#: checks (``ledger.state_proof.CHECK_NAMES``), then what the records prove.
CHECK_NAMES = ("claim", *STATE_CHECK_NAMES, "coverage")
#: Codes of the ``claim`` and ``coverage`` checks (the others: ``ledger.state_proof``).
COVERAGE_CODES: dict[str, str] = {
    "malformed_holding_proof": "claim",
    "wrong_format": "claim",
    "unsupported_version": "claim",
    "too_many_records": "claim",
    "record_absent": "coverage",
    "malformed_unit_record": "coverage",
    "wrong_project": "coverage",
    "key_mismatch": "coverage",
    "holding_not_covered": "coverage",
    "extra_record": "coverage",
}
_TOP_FIELDS = frozenset({"format", "version", "claim", "state_proof"})
_CLAIM_FIELDS = frozenset({"project_id", "first", "last"})


def status_of(record: Mapping[str, Any]) -> str:
    """``active`` | ``listed`` | ``frozen`` | ``retired`` | ``cancelled`` of a unit record."""
    state = record["state"]
    if state in ("retired", "cancelled"):
        return str(state)
    if record["frozen"]:
        return "frozen"
    return "listed" if state == "listed" else "active"


def assemble_holding_proof(project_id: str, first: int, last: int,
                           state_proof: Mapping[str, Any]) -> dict[str, Any]:
    """The holding proof of ``[first, last]`` of ``project_id`` around ``state_proof``
    (whose entries are the covering unit records, ascending)."""
    return {"claim": {"first": first, "last": last, "project_id": project_id},
            "format": HOLDING_PROOF_FORMAT, "state_proof": dict(state_proof),
            "version": HOLDING_PROOF_VERSION}


@dataclass(frozen=True)
class HoldingRange:
    """One sub-range of the claim, as one unit record holds it."""

    first: int
    last: int
    serial: str  # CCER-<project>-<vintage>-<first:09d>-<last:09d> of this sub-range
    account: str
    status: str
    state: str
    frozen: bool
    batch_id: str
    vintage: int

    @property
    def quantity(self) -> int:
        return self.last - self.first + 1

    def to_json(self) -> dict[str, Any]:
        return {"account": self.account, "batch_id": self.batch_id, "first": self.first,
                "frozen": self.frozen, "last": self.last, "quantity": self.quantity,
                "serial": self.serial, "state": self.state, "status": self.status,
                "vintage": self.vintage}


@dataclass(frozen=True)
class HoldingSummary:
    project_id: str
    first: int
    last: int
    chain: StateProofSummary
    ranges: tuple[HoldingRange, ...]

    def to_json(self) -> dict[str, Any]:
        return {"block_hash": self.chain.block_hash, "chain_id": self.chain.chain_id,
                "first": self.first, "genesis_hash": self.chain.genesis_hash,
                "height": self.chain.height, "last": self.last, "project_id": self.project_id,
                "ranges": [r.to_json() for r in self.ranges], "time": self.chain.time}

    def lines(self) -> list[str]:
        out = [f"units {self.first}..{self.last} of project {self.project_id}"
               f" at height {self.chain.height} of {self.chain.chain_id}",
               f"block {self.chain.block_hash}"]
        for r in self.ranges:
            out.append(f"{r.serial}  {r.quantity} t  {r.status:<9}  held by {r.account}"
                       f"  (batch {r.batch_id}, vintage {r.vintage})")
        return out


@dataclass(frozen=True)
class HoldingVerdict:
    checks: tuple[Check, ...]
    summary: HoldingSummary | None = None

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)

    @property
    def first_failure(self) -> Check | None:
        for c in self.checks:
            if not c.passed and not c.skipped:
                return c
        return None

    @property
    def code(self) -> str | None:
        failure = self.first_failure
        return None if failure is None else failure.code

    @property
    def message(self) -> str:
        failure = self.first_failure
        if failure is None:
            return "VALID"
        return f"INVALID: {failure.name}: {failure.code}: {failure.detail}"

    def check(self, name: str) -> Check:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        return {"checks": [c.to_json() for c in self.checks], "code": self.code,
                "message": self.message, "ok": self.ok,
                "summary": None if self.summary is None else self.summary.to_json()}


class _Fail(Exception):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def _refused(name: str, code: str, detail: str) -> HoldingVerdict:
    checks: list[Check] = []
    for n in CHECK_NAMES:
        if n == name:
            checks.append(Check(n, False, detail, code=code))
        elif checks and not checks[-1].passed:
            checks.append(Check(n, False, f"not checked: {name} failed", True))
        else:
            checks.append(Check(n, True, "passed"))
    return HoldingVerdict(tuple(checks))


def verify_holding_proof_bytes(
    data: bytes,
    *,
    genesis: Genesis | None = None,
    genesis_hash: str | None = None,
    checkpoint: TrustedState | None = None,
) -> HoldingVerdict:
    """Decode a holding-proof file (the rules of every proof file:
    ``ledger.proof_file.decode_json_file``; at most 16 MiB) and verify it."""
    if not isinstance(data, (bytes, bytearray)) or len(data) > MAX_FILE_BYTES:
        return _refused("claim", "file_too_large", f"a holding proof is at most {MAX_FILE_BYTES} bytes")
    try:
        obj = decode_json_file(bytes(data), "holding proof")
    except LedgerError as exc:
        return _refused("claim", exc.code, exc.message)
    return verify_holding_proof(obj, genesis=genesis, genesis_hash=genesis_hash, checkpoint=checkpoint)


def _claim(obj: Any) -> tuple[str, int, int, Any]:
    if not isinstance(obj, dict):
        raise _Fail("malformed_holding_proof", "a holding proof is a JSON object")
    if obj.get("format") != HOLDING_PROOF_FORMAT:
        raise _Fail("wrong_format", f"format must be {HOLDING_PROOF_FORMAT!r}")
    if type(obj.get("version")) is not int or obj["version"] != HOLDING_PROOF_VERSION:
        raise _Fail("unsupported_version", f"unsupported version {obj.get('version')!r}"
                    f" (this verifier reads {HOLDING_PROOF_VERSION})")
    if set(obj) != _TOP_FIELDS:
        raise _Fail("malformed_holding_proof", f"a holding proof has exactly {sorted(_TOP_FIELDS)}")
    claim = obj["claim"]
    if not isinstance(claim, dict) or set(claim) != _CLAIM_FIELDS:
        raise _Fail("malformed_holding_proof", f"claim has exactly {sorted(_CLAIM_FIELDS)}")
    pid, first, last = claim["project_id"], claim["first"], claim["last"]
    if not isinstance(pid, str) or not ID_RE.match(pid):
        raise _Fail("malformed_holding_proof", "claim.project_id is not a project id")
    for name, n in (("first", first), ("last", last)):
        if type(n) is not int or not 1 <= n <= MAX_UNIT:
            raise _Fail("malformed_holding_proof", f"claim.{name} must be a unit number 1..{MAX_UNIT}")
    if first > last:
        raise _Fail("malformed_holding_proof", f"claim.first {first} is above claim.last {last}")
    inner = obj["state_proof"]
    if isinstance(inner, dict) and isinstance(inner.get("entries"), list) \
            and len(inner["entries"]) > MAX_HOLDING_RECORDS:
        raise _Fail("too_many_records", f"a holding proof lists at most {MAX_HOLDING_RECORDS} unit records")
    try:
        if len(canonical(obj)) > MAX_FILE_BYTES:
            raise _Fail("file_too_large", f"a holding proof is at most {MAX_FILE_BYTES} bytes")
    except (CanonicalEncodingError, RecursionError) as exc:
        raise _Fail("malformed_holding_proof", f"not canonically encodable: {exc}") from None
    return pid, first, last, inner


def verify_holding_proof(
    obj: Any,
    *,
    genesis: Genesis | None = None,
    genesis_hash: str | None = None,
    checkpoint: TrustedState | None = None,
) -> HoldingVerdict:
    """Verify a decoded holding proof; never raises. Checks :data:`CHECK_NAMES` in order."""
    try:
        pid, first, last, inner = _claim(obj)
    except _Fail as exc:
        return _refused("claim", exc.code, exc.detail)
    checks = [Check("claim", True, f"units {first}..{last} of project {pid}")]
    inner_verdict = verify_state_proof(inner, genesis=genesis, genesis_hash=genesis_hash,
                                       checkpoint=checkpoint)
    checks += inner_verdict.checks
    if inner_verdict.summary is None:
        checks.append(Check("coverage", False, "not checked: the state proof failed", True))
        return HoldingVerdict(tuple(checks))
    try:
        ranges = _coverage(pid, first, last, inner_verdict.summary)
    except _Fail as exc:
        checks.append(Check("coverage", False, exc.detail, code=exc.code))
        return HoldingVerdict(tuple(checks))
    except Exception as exc:  # noqa: BLE001 -- a verifier answers, whatever it is given
        checks.append(Check("coverage", False, f"malformed unit record ({type(exc).__name__}: {exc})",
                            code="malformed_unit_record"))
        return HoldingVerdict(tuple(checks))
    checks.append(Check("coverage", True, f"{len(ranges)} unit records cover units {first}..{last}"
                        " with no gap"))
    return HoldingVerdict(tuple(checks), HoldingSummary(pid, first, last, inner_verdict.summary,
                                                        tuple(ranges)))


def _record(i: int, key: str, present: bool, value: Any) -> dict[str, Any]:
    where = f"entries[{i}] ({key})"
    if not present:
        raise _Fail("record_absent", f"{where}: the key is proven absent; a holding proof lists"
                    " unit records that exist")
    if not isinstance(value, dict):
        raise _Fail("malformed_unit_record", f"{where}: a unit record is an object")
    for name in ("first", "last", "vintage"):
        if type(value.get(name)) is not int:
            raise _Fail("malformed_unit_record", f"{where}: {name} must be an integer")
    if not 1 <= value["first"] <= value["last"] <= MAX_UNIT:
        raise _Fail("malformed_unit_record", f"{where}: first..last is not a unit range")
    for name in ("project_id", "account", "batch_id"):
        if not isinstance(value.get(name), str):
            raise _Fail("malformed_unit_record", f"{where}: {name} must be a string")
    if value.get("state") not in STATES:
        raise _Fail("malformed_unit_record", f"{where}: state must be one of {list(STATES)}")
    if type(value.get("frozen")) is not bool:
        raise _Fail("malformed_unit_record", f"{where}: frozen must be true or false")
    return value


def _coverage(pid: str, first: int, last: int, proven: StateProofSummary) -> list[HoldingRange]:
    entries: Sequence[Any] = proven.entries
    if not entries:
        raise _Fail("holding_not_covered", f"no unit record is given: unit {first} of {pid} is not covered")
    out: list[HoldingRange] = []
    expect = first  # the next claimed unit that must be covered
    for i, e in enumerate(entries):
        r = _record(i, e.key, e.present, e.value)
        where = f"entries[{i}] ({e.key})"
        if r["project_id"] != pid:
            raise _Fail("wrong_project", f"{where}: a record of project {r['project_id']!r}, not {pid!r}")
        if e.key != unit_key(pid, r["first"]):
            raise _Fail("key_mismatch", f"{where}: the record of units {r['first']}..{r['last']} is"
                        f" stored under {unit_key(pid, r['first'])}, not this key")
        if expect > last:
            raise _Fail("extra_record", f"{where}: units {first}..{last} are already covered; this"
                        f" record (units {r['first']}..{r['last']}) holds none of them")
        if i == 0:
            if r["first"] > first:
                raise _Fail("holding_not_covered", f"{where}: the first record starts at unit"
                            f" {r['first']}; units {first}..{r['first'] - 1} are not covered")
            if r["last"] < first:
                raise _Fail("holding_not_covered", f"{where}: the first record ends at unit"
                            f" {r['last']}, before the claimed first unit {first}")
        elif r["first"] != expect:
            if r["first"] > expect:
                raise _Fail("holding_not_covered", f"{where}: units {expect}..{r['first'] - 1} are"
                            f" not covered (the record starts at {r['first']})")
            raise _Fail("holding_not_covered", f"{where}: the record starts at unit {r['first']},"
                        f" not at {expect} right after the previous record: records are listed"
                        " in unit order, each once")
        lo, hi = max(r["first"], first), min(r["last"], last)
        out.append(HoldingRange(lo, hi, serial_string(pid, r["vintage"], lo, hi), r["account"],
                                status_of(r), r["state"], r["frozen"], r["batch_id"], r["vintage"]))
        expect = r["last"] + 1
    if expect <= last:
        raise _Fail("holding_not_covered", f"units {expect}..{last} of {pid} are not covered"
                    f" (the last record ends at unit {expect - 1})")
    return out
