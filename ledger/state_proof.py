"""State-proof files: state keys' values (or absence) at a height, checked offline.

A state-proof file (format ``fcl-state-proof``, version 1) is self-contained: the genesis
document, the signed header of height ``H`` with its commit certificate, every
validator-set change between the genesis and ``H`` (``ledger.header_chain``), and for each
key its value at ``H`` -- or its absence -- with a proof against the header's
``state_root`` (``ledger.state_tree``). A verifier needs only a genesis it trusts (the
document or its SHA-256) or a light-client checkpoint (``fcl-light-checkpoint``). The
node serves these files (``node/api/proofs.py``), ``fcl query`` checks them, and a holding
proof (``chaincode/holding_proof.py``) wraps one. docs/state-proofs.md, "State-proof
files", specifies every field and check.

:func:`verify_state_proof` never raises on malformed input: it returns a
:class:`StateProofVerdict` listing the checks :data:`CHECK_NAMES` in order, each with a
stable ``code`` when it fails (:data:`CHECK_CODES`, or a ``ledger.header_chain`` /
``ledger.next_block`` code from the header check). Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ledger.block import BlockHeader, CommitCertificate
from ledger.certificate import Check
from ledger.crypto import is_hex_digest
from ledger.encoding import CanonicalEncodingError, canonical, decode
from ledger.errors import LedgerError
from ledger.genesis import Genesis
from ledger.header_chain import HeaderChainError, TrustedState, parse_changes, verify_header
from ledger.proof_file import anchor_genesis, decode_json_file
from ledger.state import MAX_KEY_LEN
from ledger.state_tree import Proof, verify

__all__ = [
    "CHECK_CODES",
    "CHECK_NAMES",
    "MAX_ENTRIES",
    "MAX_FILE_BYTES",
    "STATE_PROOF_FORMAT",
    "STATE_PROOF_VERSION",
    "ProvenEntry",
    "StateProofError",
    "StateProofSummary",
    "StateProofVerdict",
    "assemble_state_proof",
    "check_key",
    "failed_verdict",
    "make_entry",
    "verify_state_proof",
    "verify_state_proof_bytes",
]

STATE_PROOF_FORMAT = "fcl-state-proof"
STATE_PROOF_VERSION = 1
#: Largest file (its bytes, or the canonical bytes of a decoded object) a verifier reads.
MAX_FILE_BYTES = 16 * 1024 * 1024
#: Most entries (keys) in one file.
MAX_ENTRIES = 1024
#: Every check, in the order it runs; a verdict always lists all of them.
CHECK_NAMES = ("format", "anchor", "header", "proofs")

#: The codes the checks give, with the check that gives each. The ``header`` check also
#: carries the codes of ``ledger.header_chain.verify_header`` (``ledger.next_block``'s
#: header and commit rules, ``change_order``, ``not_a_change``, ``bad_change_set``,
#: ``header_not_after_checkpoint``, ``checkpoint_conflict``); ``format`` also carries
#: ``malformed_header`` / ``malformed_commit`` (``ledger.block``), ``malformed_change`` /
#: ``too_many_changes`` (``ledger.header_chain``) and ``malformed_proof`` /
#: ``proof_too_large`` (``ledger.state_tree``).
CHECK_CODES: dict[str, str] = {
    "byte_order_mark": "format",
    "not_utf8": "format",
    "not_json": "format",
    "file_too_large": "format",
    "malformed_state_proof": "format",
    "wrong_format": "format",
    "unsupported_version": "format",
    "too_many_entries": "format",
    "bad_key": "format",
    "duplicate_key": "format",
    "no_anchor": "anchor",
    "bad_anchor": "anchor",
    "malformed_genesis": "anchor",
    "genesis_hash_mismatch": "anchor",
    "wrong_genesis": "anchor",
    "chain_id_mismatch": "anchor",
    "bad_checkpoint": "anchor",
    "checkpoint_mismatch": "anchor",
    "height_mismatch": "header",
    "value_not_proven": "proofs",
}

_TOP_FIELDS = frozenset({"format", "version", "chain_id", "genesis_hash", "genesis", "height",
                         "header", "commit", "validator_set_changes", "entries"})
_ENTRY_FIELDS = frozenset({"key", "present", "value", "proof"})
_MAX_HEIGHT = 2**53 - 1


class StateProofError(LedgerError):
    """A state-proof file fails a check (``code``: one of :data:`CHECK_CODES` or a header
    rule's code)."""


def check_key(key: Any) -> str:
    """``key`` if it is a state key: a string of 1..512 characters that UTF-8 can encode
    (no lone surrogates); else ``StateProofError('bad_key')``."""
    if not isinstance(key, str) or not 0 < len(key) <= MAX_KEY_LEN:
        raise StateProofError("bad_key", f"a state key is a string of 1..{MAX_KEY_LEN} characters")
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        raise StateProofError("bad_key", "a state key is valid Unicode text (no lone surrogates)") from None
    return key


# ------------------------------------------------------------------------------------------
# Building (the node: node/api/proofs.py)
# ------------------------------------------------------------------------------------------
def make_entry(key: str, raw: bytes | None, proof: Proof) -> dict[str, Any]:
    """The entry of ``key`` whose stored value bytes are ``raw`` (None: absent), with its
    proof. The stored bytes of a present key are canonical JSON (``ledger.encoding``):
    the entry carries the decoded value, whose canonical bytes they are."""
    value: Any = None
    if raw is not None:
        value = _decoded(raw)
    return {"key": key, "present": raw is not None, "proof": proof.to_json(), "value": value}


def _decoded(raw: bytes) -> Any:
    value = decode(raw)
    if canonical(value) != raw:
        raise StateProofError("not_canonical", "a stored value is not canonical JSON")
    return value


def assemble_state_proof(
    *,
    genesis: Genesis,
    height: int,
    header: Mapping[str, Any],
    commit: Mapping[str, Any],
    validator_set_changes: Sequence[Mapping[str, Any]],
    entries: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """A state-proof file object from its parts: ``validator_set_changes`` are every change
    at a height ``0 < c < height`` (``header_chain.ValidatorSetChange`` JSON), in order."""
    return {
        "chain_id": genesis.chain_id,
        "commit": dict(commit),
        "entries": [dict(e) for e in entries],
        "format": STATE_PROOF_FORMAT,
        "genesis": dict(genesis.doc),
        "genesis_hash": genesis.hash,
        "header": dict(header),
        "height": height,
        "validator_set_changes": [dict(c) for c in validator_set_changes if c["height"] < height],
        "version": STATE_PROOF_VERSION,
    }


# ------------------------------------------------------------------------------------------
# Verdict
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ProvenEntry:
    """A key's proven value at the height (``present`` False: the key is absent)."""

    key: str
    present: bool
    value: Any

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "present": self.present, "value": self.value}


@dataclass(frozen=True)
class StateProofSummary:
    """What a valid file proves: the keys' values at ``height`` of the chain."""

    chain_id: str
    genesis_hash: str
    height: int
    block_hash: str
    time: int  # the block's time, ms since the epoch
    state_root: str
    entries: tuple[ProvenEntry, ...]

    def to_json(self) -> dict[str, Any]:
        return {"block_hash": self.block_hash, "chain_id": self.chain_id,
                "entries": [e.to_json() for e in self.entries],
                "genesis_hash": self.genesis_hash, "height": self.height,
                "state_root": self.state_root, "time": self.time}


@dataclass(frozen=True)
class StateProofVerdict:
    """Every check, and the summary when all passed."""

    checks: tuple[Check, ...]
    summary: StateProofSummary | None = None

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
        """The code of the first failed check (None when valid)."""
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


def failed_verdict(code: str, detail: str, names: Sequence[str] = CHECK_NAMES) -> StateProofVerdict:
    """The verdict of a file refused at its first check (``names[0]``)."""
    checks = [Check(names[0], False, detail, code=code)]
    checks += [Check(n, False, f"not checked: {names[0]} failed", True) for n in names[1:]]
    return StateProofVerdict(tuple(checks))


# ------------------------------------------------------------------------------------------
# Verification
# ------------------------------------------------------------------------------------------
def verify_state_proof_bytes(
    data: bytes,
    *,
    genesis: Genesis | None = None,
    genesis_hash: str | None = None,
    checkpoint: TrustedState | None = None,
) -> StateProofVerdict:
    """Decode a file's bytes (:func:`ledger.proof_file.decode_json_file`; at most
    :data:`MAX_FILE_BYTES`) and verify it; undecodable input fails ``format``."""
    if not isinstance(data, (bytes, bytearray)) or len(data) > MAX_FILE_BYTES:
        return failed_verdict("file_too_large", f"a state-proof file is at most {MAX_FILE_BYTES} bytes")
    try:
        obj = decode_json_file(bytes(data), "state-proof file")
    except LedgerError as exc:
        return failed_verdict(exc.code, exc.message)
    return verify_state_proof(obj, genesis=genesis, genesis_hash=genesis_hash, checkpoint=checkpoint)


def verify_state_proof(
    obj: Any,
    *,
    genesis: Genesis | None = None,
    genesis_hash: str | None = None,
    checkpoint: TrustedState | None = None,
) -> StateProofVerdict:
    """Verify a decoded state-proof file against the anchor the verifier trusts: a genesis
    document, its hash (both: they must agree), or a light-client checkpoint (alone).
    Never raises."""
    run = _Run(obj, genesis, genesis_hash, checkpoint)
    checks: list[Check] = []
    failed: str | None = None
    for name, step in (("format", run.format), ("anchor", run.anchor),
                       ("header", run.header), ("proofs", run.proofs)):
        if failed is not None:
            checks.append(Check(name, False, f"not checked: {failed} failed", True))
            continue
        try:
            checks.append(Check(name, True, step()))
        except LedgerError as exc:
            checks.append(Check(name, False, exc.message, code=exc.code))
            failed = name
        except Exception as exc:  # noqa: BLE001 -- a verifier answers, whatever it is given
            checks.append(Check(name, False, f"malformed file ({type(exc).__name__}: {exc})",
                                code="malformed_state_proof"))
            failed = name
    verdict = StateProofVerdict(tuple(checks))
    if verdict.ok:
        verdict = StateProofVerdict(verdict.checks, run.summary())
    return verdict


@dataclass
class _Entry:
    key: str
    present: bool
    value: Any
    proof: Proof


class _Run:
    def __init__(self, obj: Any, genesis: Genesis | None, genesis_hash: str | None,
                 checkpoint: TrustedState | None) -> None:
        self.obj = obj
        self.genesis = genesis
        self.genesis_hash = genesis_hash
        self.checkpoint = checkpoint
        self.entries: list[_Entry] = []
        self.header_obj: BlockHeader | None = None
        self.commit_obj: CommitCertificate | None = None
        self.changes: list[Any] = []
        self.embedded: Genesis | None = None

    # -- format --------------------------------------------------------------------------
    def format(self) -> str:
        obj = self.obj
        if not isinstance(obj, dict):
            raise StateProofError("malformed_state_proof", "a state-proof file is a JSON object")
        if obj.get("format") != STATE_PROOF_FORMAT:
            raise StateProofError("wrong_format", f"format must be {STATE_PROOF_FORMAT!r}, "
                                  f"not {str(obj.get('format'))[:64]!r}")
        if type(obj.get("version")) is not int or obj["version"] != STATE_PROOF_VERSION:
            raise StateProofError("unsupported_version", f"unsupported version {obj.get('version')!r}"
                                  f" (this verifier reads {STATE_PROOF_VERSION})")
        if set(obj) != _TOP_FIELDS:
            missing = sorted(_TOP_FIELDS - set(obj))
            extra = sorted(set(obj) - _TOP_FIELDS)
            raise StateProofError("malformed_state_proof",
                                  f"top-level fields: missing {missing}, unknown {extra}")
        try:
            size = len(canonical(obj))
        except (CanonicalEncodingError, RecursionError) as exc:
            raise StateProofError("malformed_state_proof", f"not canonically encodable: {exc}") from None
        if size > MAX_FILE_BYTES:
            raise StateProofError("file_too_large", f"a state-proof file is at most {MAX_FILE_BYTES} bytes")
        if not isinstance(obj["chain_id"], str):
            raise StateProofError("malformed_state_proof", "chain_id must be a string")
        if not is_hex_digest(obj["genesis_hash"]):
            raise StateProofError("malformed_state_proof", "genesis_hash must be 64 lowercase hex digits")
        if not isinstance(obj["genesis"], dict):
            raise StateProofError("malformed_state_proof", "genesis must be the genesis document (an object)")
        height = obj["height"]
        if type(height) is not int or not 1 <= height <= _MAX_HEIGHT:
            raise StateProofError("malformed_state_proof", "height must be a block height (1 or more)")
        self.header_obj = BlockHeader.from_json(obj["header"])  # malformed_header
        self.commit_obj = CommitCertificate.from_json(obj["commit"])  # malformed_commit
        for k, sig in self.commit_obj.signatures:
            if not isinstance(k, str) or not isinstance(sig, str):
                raise StateProofError("malformed_commit", "commit: validator keys and signatures are hex strings")
        self.changes = parse_changes(obj["validator_set_changes"])  # malformed_change
        for ch in self.changes:
            if not ch.height < height:
                raise StateProofError("malformed_change", f"validator_set_changes: the change at block "
                                      f"{ch.height} is not below the height {height}")
        items = obj["entries"]
        if not isinstance(items, list):
            raise StateProofError("malformed_state_proof", "entries must be a list")
        if len(items) > MAX_ENTRIES:
            raise StateProofError("too_many_entries", f"a state-proof file has at most {MAX_ENTRIES} entries")
        seen: set[str] = set()
        for i, item in enumerate(items):
            where = f"entries[{i}]"
            if not isinstance(item, dict) or set(item) != _ENTRY_FIELDS:
                raise StateProofError("malformed_state_proof", f"{where} must have exactly {sorted(_ENTRY_FIELDS)}")
            try:
                key = check_key(item["key"])
            except StateProofError as exc:
                raise StateProofError("bad_key", f"{where}.key: {exc.message}") from None
            if key in seen:
                raise StateProofError("duplicate_key", f"{where}: the key {key!r} is listed twice")
            seen.add(key)
            if type(item["present"]) is not bool:
                raise StateProofError("malformed_state_proof", f"{where}.present must be true or false")
            if not item["present"] and item["value"] is not None:
                raise StateProofError("malformed_state_proof", f"{where}: an absent key's value is null")
            try:
                proof = Proof.from_json(item["proof"])
            except LedgerError as exc:
                raise StateProofError(exc.code, f"{where}.proof: {exc.message}") from None
            self.entries.append(_Entry(key, item["present"], item["value"], proof))
        return (f"{len(self.entries)} entries at height {height},"
                f" {len(self.changes)} validator-set changes")

    # -- anchor --------------------------------------------------------------------------
    def anchor(self) -> str:
        obj = self.obj
        cp = self.checkpoint
        if cp is not None:
            if self.genesis is not None or self.genesis_hash is not None:
                raise StateProofError("bad_anchor", "trust a checkpoint or a genesis, not both")
            if not isinstance(cp, TrustedState):
                raise StateProofError("bad_checkpoint", "the checkpoint is not a parsed light-client checkpoint")
        try:
            embedded = anchor_genesis(obj["genesis"], obj["genesis_hash"], genesis=self.genesis,
                                      genesis_hash=cp.genesis_hash if cp is not None else self.genesis_hash,
                                      what="state-proof file")
        except StateProofError:
            raise
        except LedgerError as exc:
            code = "checkpoint_mismatch" if cp is not None and exc.code == "wrong_genesis" else exc.code
            raise StateProofError(code, exc.message) from None
        if obj["chain_id"] != embedded.chain_id:
            raise StateProofError("chain_id_mismatch", f"chain_id {str(obj['chain_id'])[:64]!r} is not the"
                                  f" genesis chain id {embedded.chain_id!r}")
        if cp is not None and cp.chain_id != embedded.chain_id:
            raise StateProofError("checkpoint_mismatch", f"the checkpoint is for chain {cp.chain_id!r},"
                                  f" the file for {embedded.chain_id!r}")
        self.embedded = embedded
        if cp is not None:
            return f"checkpoint at height {cp.height} of {embedded.chain_id} (genesis {embedded.hash})"
        return f"genesis {embedded.hash} ({embedded.chain_id})"

    # -- header ----------------------------------------------------------------------------
    def header(self) -> str:
        assert self.embedded is not None and self.header_obj is not None and self.commit_obj is not None
        height = self.obj["height"]
        if self.header_obj.height != height:
            raise StateProofError("height_mismatch",
                                  f"the header is the header of block {self.header_obj.height}, not {height}")
        trusted = self.checkpoint or TrustedState.from_genesis(self.embedded)
        changes = [c for c in self.changes if c.height > trusted.height]
        try:
            verify_header(trusted, changes, self.header_obj, self.commit_obj)
        except HeaderChainError as exc:
            raise StateProofError(exc.code, exc.message) from None
        used = f"{len(changes)} validator-set changes"
        return f"block {height} ({self.header_obj.hash()}) committed by its validator set, {used}"

    # -- proofs ----------------------------------------------------------------------------
    def proofs(self) -> str:
        assert self.header_obj is not None
        root = bytes.fromhex(self.header_obj.state_root)
        for i, e in enumerate(self.entries):
            raw = None
            if e.present:
                try:
                    raw = canonical(e.value)
                except (CanonicalEncodingError, RecursionError) as exc:
                    raise StateProofError("value_not_proven", f"entries[{i}] ({e.key}): the value is"
                                          f" not canonically encodable: {exc}") from None
            if not verify(root, e.key.encode("utf-8"), raw, e.proof):
                claim = "its value" if e.present else "its absence"
                raise StateProofError("value_not_proven", f"entries[{i}] ({e.key}): the proof does not"
                                      f" show {claim} under the state root of block {self.obj['height']}")
        return f"{len(self.entries)} keys proven against the state root of block {self.obj['height']}"

    def summary(self) -> StateProofSummary:
        assert self.embedded is not None and self.header_obj is not None
        h = self.header_obj
        return StateProofSummary(
            self.embedded.chain_id, self.embedded.hash, h.height, h.hash(), h.time, h.state_root,
            tuple(ProvenEntry(e.key, e.present, e.value if e.present else None) for e in self.entries))

