"""Retirement certificates: the format, and its verification with no network access.

A certificate proves that one retirement of carbon credits was committed on one network,
and where the retired credits came from. It carries the signed transactions and their
results, each with RFC 9162 inclusion proofs to the ``txs_root`` / ``results_root`` of its
block header; the headers with their commit certificates; RFC 9162 proofs that every
earlier header is an ancestor of the retirement's block (its ``history_root``); the chain
of validator-set changes since genesis; and the genesis document itself, whose SHA-256 is
the one thing the verifier must trust. docs/certificates.md specifies the format field by
field and the verification algorithm step by step.

``verify_certificate`` never raises on malformed input: it returns a
:class:`CertificateVerdict` listing every check (``passed``, ``skipped``, ``detail``) and,
when every check passed, a :class:`CertificateSummary` built only from verified data.

This module imports only ``ledger``; the node builds certificates in
``node/api/certificates.py`` with :func:`make_entry` and :func:`assemble_certificate`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ledger.block import MAX_BLOCK_TXS, Block, BlockHeader, CommitCertificate
from ledger.crypto import is_hex_digest, sha256_hex
from ledger.encoding import CanonicalEncodingError, canonical, decode
from ledger.errors import LedgerError
from ledger.genesis import Genesis
from ledger.merkle import inclusion_proof, verify_inclusion
from ledger.tx import Transaction, parse_transaction
from ledger.validators import ValidatorSet

__all__ = [
    "CERT_FORMAT",
    "CERT_VERSION",
    "CHECK_NAMES",
    "CUSTODY_ROLES",
    "MAX_CERT_BYTES",
    "ROLE_METHODS",
    "CertificateSummary",
    "CertificateVerdict",
    "Check",
    "assemble_certificate",
    "make_entry",
    "printable_serial",
    "result_leaf",
    "tx_leaf",
    "verify_certificate",
    "verify_certificate_bytes",
]

CERT_FORMAT = "fcl-retirement-certificate"
CERT_VERSION = 1
#: Largest certificate (canonical JSON bytes) the verifier reads.
MAX_CERT_BYTES = 16 * 1024 * 1024
MAX_ENTRIES = 5000
MAX_VALIDATOR_SET_CHANGES = 4096
#: An RFC 9162 inclusion proof for a tree of < 2**64 leaves has at most 64 items.
MAX_PROOF_ITEMS = 64
#: The contract whose transactions a certificate links.
CONTRACT = "carbon"
#: Printable serials: ``CCER-<project>-<vintage>-<first:09d>-<last:09d>``
#: (chaincode.carbon_common.serial_string; the tests check the two agree).
PROGRAMME = "CCER"

#: The method(s) of contract ``carbon`` each entry role must be.
ROLE_METHODS: dict[str, tuple[str, ...]] = {
    "retirement": ("retire_compliance", "retire_voluntary"),
    "plot_registration": ("register_plot",),
    "project_submission": ("submit_project",),
    "validation": ("attest_validation",),
    "registration": ("register_project",),
    "monitoring_report": ("submit_monitoring_report",),
    "verification": ("attest_verification",),
    "issuance": ("issue",),
    "listing": ("create_listing",),
    "delisting": ("cancel_listing",),
    "trade": ("match_trade",),
    "transfer": ("transfer",),
    "freeze": ("freeze",),
    "unfreeze": ("unfreeze",),
}
#: Roles of the steps that moved (or froze) the retired units between issuance and
#: retirement: proven committed and successful, shown in the summary.
CUSTODY_ROLES = ("listing", "delisting", "trade", "transfer", "freeze", "unfreeze")

#: Every check, in the order it runs; a verdict always lists all of them.
CHECK_NAMES = (
    "format",
    "genesis",
    "chain_id",
    "validator_set_changes",
    "headers",
    "commits",
    "history",
    "inclusion",
    "transactions",
    "results",
    "links",
)

_TOP_FIELDS = frozenset(
    {
        "format",
        "version",
        "chain_id",
        "genesis_hash",
        "genesis",
        "retirement_id",
        "retirement",
        "provenance",
        "headers",
        "commits",
        "history",
        "validator_set_changes",
    }
)
_ENTRY_FIELDS = frozenset(
    {"role", "height", "index", "size", "tx", "result", "tx_proof", "result_proof"}
)
_CHANGE_FIELDS = frozenset({"height", "header", "commit", "validators"})
_RESULT_FIELDS = frozenset({"code", "events", "message", "tx_id"})
_HEIGHT_KEY = re.compile(r"^[1-9][0-9]{0,15}$")
_MAX_HEIGHT = 2**53 - 1


# ------------------------------------------------------------------------------------------
# Building blocks shared by the builder (node/api/certificates.py) and the verifier
# ------------------------------------------------------------------------------------------
def tx_leaf(tx_json: Mapping[str, Any]) -> bytes:
    """Leaf data of a transaction in its block's ``txs_root``: ``canonical(tx)``."""
    return canonical(tx_json)


def result_leaf(result: Mapping[str, Any]) -> bytes:
    """Leaf data of a result in its block's ``results_root``: ``canonical(result)``."""
    return canonical(result)


def printable_serial(project_id: str, vintage: int, first: int, last: int) -> str:
    """``CCER-<project>-<vintage>-<first:09d>-<last:09d>`` (inclusive unit range)."""
    return f"{PROGRAMME}-{project_id}-{vintage}-{first:09d}-{last:09d}"


def make_entry(role: str, block: Block, index: int) -> dict[str, Any]:
    """The certificate entry for transaction ``index`` of ``block``, with its inclusion
    proofs against the header's ``txs_root`` and ``results_root``."""
    if role not in ROLE_METHODS:
        raise ValueError(f"unknown certificate role {role!r}")
    tx_leaves = [tx_leaf(tx.to_json()) for tx in block.txs]
    result_leaves = [result_leaf(r) for r in block.results]
    return {
        "height": block.height,
        "index": index,
        "result": dict(block.results[index]),
        "result_proof": [p.hex() for p in inclusion_proof(result_leaves, index)],
        "role": role,
        "size": len(block.txs),
        "tx": block.txs[index].to_json(),
        "tx_proof": [p.hex() for p in inclusion_proof(tx_leaves, index)],
    }


def assemble_certificate(
    *,
    genesis: Genesis,
    retirement: Mapping[str, Any],
    provenance: Sequence[Mapping[str, Any]],
    headers: Mapping[int, Mapping[str, Any]],
    commits: Mapping[int, Mapping[str, Any]],
    history: Mapping[int, Sequence[str]],
    validator_set_changes: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """A certificate object (format version :data:`CERT_VERSION`) from its parts; integer
    heights become the decimal string keys of the JSON maps."""
    return {
        "chain_id": genesis.chain_id,
        "commits": {str(h): dict(commits[h]) for h in sorted(commits)},
        "format": CERT_FORMAT,
        "genesis": dict(genesis.doc),
        "genesis_hash": genesis.hash,
        "headers": {str(h): dict(headers[h]) for h in sorted(headers)},
        "history": {str(h): list(history[h]) for h in sorted(history)},
        "provenance": [dict(e) for e in provenance],
        "retirement": dict(retirement),
        "retirement_id": _tx_id_of(retirement["tx"]),
        "validator_set_changes": [dict(c) for c in validator_set_changes],
        "version": CERT_VERSION,
    }


def _tx_id_of(tx_json: Mapping[str, Any]) -> str:
    return sha256_hex(canonical(tx_json["payload"]))


# ------------------------------------------------------------------------------------------
# Verdict
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Check:
    """One verification step: ``passed``; ``skipped`` when an earlier check it depends on
    failed (then ``passed`` is False too); ``detail`` says what was found."""

    name: str
    passed: bool
    detail: str
    skipped: bool = False

    @property
    def ok(self) -> bool:
        return self.passed

    def to_json(self) -> dict[str, Any]:
        return {"detail": self.detail, "name": self.name, "passed": self.passed,
                "skipped": self.skipped}


@dataclass(frozen=True)
class RetiredRange:
    project_id: str
    batch_id: str
    vintage: int
    first: int
    last: int

    @property
    def quantity(self) -> int:
        return self.last - self.first + 1

    @property
    def serial(self) -> str:
        return printable_serial(self.project_id, self.vintage, self.first, self.last)

    def to_json(self) -> dict[str, Any]:
        return {"batch_id": self.batch_id, "first": self.first, "last": self.last,
                "project_id": self.project_id, "quantity": self.quantity,
                "serial": self.serial, "vintage": self.vintage}


@dataclass(frozen=True)
class CertificateSummary:
    """What a valid certificate proves, in plain terms (built from verified data only)."""

    chain_id: str
    genesis_hash: str
    retirement_id: str
    height: int
    time_ms: int
    purpose: str  # "compliance" | "voluntary"
    quantity: int
    enterprise: str  # the retiring organisation
    beneficiary: str
    period: str | None  # compliance period
    reason: str | None  # voluntary reason
    ranges: tuple[RetiredRange, ...]
    projects: tuple[dict[str, Any], ...]  # {project_id, name, methodology, owner_org, plots, ...}
    batches: tuple[dict[str, Any], ...]  # {batch_id, report_id, vintage, issued_height, ...}
    plot_ids: tuple[str, ...]
    custody: tuple[dict[str, Any], ...]  # {role, tx_id, height}
    signed_by: tuple[str, ...]  # names of the validators whose precommits commit the block

    @property
    def time_utc(self) -> str:
        return _utc(self.time_ms)

    @property
    def serials(self) -> tuple[str, ...]:
        return tuple(r.serial for r in self.ranges)

    def to_json(self) -> dict[str, Any]:
        return {
            "batches": [dict(b) for b in self.batches],
            "beneficiary": self.beneficiary,
            "chain_id": self.chain_id,
            "custody": [dict(c) for c in self.custody],
            "enterprise": self.enterprise,
            "genesis_hash": self.genesis_hash,
            "height": self.height,
            "period": self.period,
            "plot_ids": list(self.plot_ids),
            "projects": [dict(p) for p in self.projects],
            "purpose": self.purpose,
            "quantity": self.quantity,
            "ranges": [r.to_json() for r in self.ranges],
            "reason": self.reason,
            "retirement_id": self.retirement_id,
            "signed_by": list(self.signed_by),
            "time_ms": self.time_ms,
            "time_utc": self.time_utc,
        }

    def lines(self) -> list[str]:
        """The summary as ``label: value`` lines for people."""
        out = [
            f"retirement:  {self.retirement_id}",
            f"committed:   block {self.height} at {self.time_utc} on {self.chain_id}",
            f"purpose:     {self.purpose}"
            + (f" (compliance period {self.period})" if self.period is not None else ""),
            f"quantity:    {self.quantity} t CO2e",
        ]
        for i, r in enumerate(self.ranges):
            label = "serials:" if i == 0 else ""
            out.append(f"{label:<12} {r.serial} ({r.quantity} t, batch {r.batch_id})")
        out.append(f"enterprise:  {self.enterprise}")
        out.append(f"beneficiary: {self.beneficiary}")
        if self.reason is not None:
            out.append(f"reason:      {self.reason}")
        for p in self.projects:
            out.append(
                f"project:     {p['project_id']} {p['name']!r} ({p['methodology']}),"
                f" owner {p['owner_org']}, registered in block {p['registration_height']}"
            )
        out.append(f"plots:       {', '.join(self.plot_ids)}")
        for b in self.batches:
            v = b["verification"]
            out.append(
                f"issued:      batch {b['batch_id']} in block {b['issued_height']}: report"
                f" {b['report_id']} ({b['period_start']}..{b['period_end']}) verified by"
                f" {v['verifier_org']} ({v['accreditation']})"
            )
        if self.custody:
            steps = ", ".join(f"{c['role']} (block {c['height']})" for c in self.custody)
            out.append(f"custody:     {steps}")
        out.append(f"signed by:   {', '.join(self.signed_by)}")
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())


@dataclass(frozen=True)
class CertificateVerdict:
    checks: tuple[Check, ...]
    summary: CertificateSummary | None = None

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)

    valid = ok

    @property
    def first_failure(self) -> Check | None:
        """The first failed check that was run (skipped checks failed only because of it)."""
        for c in self.checks:
            if not c.passed and not c.skipped:
                return c
        return None

    @property
    def code(self) -> str | None:
        failure = self.first_failure
        return None if failure is None else failure.name

    def check(self, name: str) -> Check:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def message(self) -> str:
        failure = self.first_failure
        if failure is None:
            return "VALID"
        return f"INVALID: {failure.name}: {failure.detail}"

    def to_json(self) -> dict[str, Any]:
        return {
            "checks": [c.to_json() for c in self.checks],
            "code": self.code,
            "message": self.message,
            "ok": self.ok,
            "summary": None if self.summary is None else self.summary.to_json(),
        }


def _utc(ms: int) -> str:
    seconds, millis = divmod(ms, 1000)
    stamp = datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{millis:03d}Z"


# ------------------------------------------------------------------------------------------
# Verification
# ------------------------------------------------------------------------------------------
class _Problem(Exception):
    """A check failed; the message says where and why."""


@dataclass
class _Entry:
    where: str  # "retirement" or "provenance[3]"
    role: str
    height: int
    index: int
    size: int
    tx: dict[str, Any]
    result: dict[str, Any]
    tx_proof: list[bytes]
    result_proof: list[bytes]
    parsed: Transaction | None = None

    @property
    def label(self) -> str:
        return f"{self.where} ({self.role}, block {self.height})"

    @property
    def position(self) -> tuple[int, int]:
        return (self.height, self.index)

    @property
    def payload(self) -> dict[str, Any]:
        payload = self.tx.get("payload")
        return payload if isinstance(payload, dict) else {}

    @property
    def args(self) -> dict[str, Any]:
        args = self.payload.get("args")
        return args if isinstance(args, dict) else {}

    @property
    def method(self) -> Any:
        return self.payload.get("method")

    @property
    def tx_id(self) -> str:
        return self.parsed.tx_id if self.parsed is not None else _tx_id_of(self.tx)

    def event(self, event_type: str) -> dict[str, Any] | None:
        events = self.result.get("events")
        if not isinstance(events, list):
            return None
        for e in events:
            if isinstance(e, dict) and e.get("type") == event_type:
                return e
        return None


@dataclass
class _Change:
    height: int
    header: BlockHeader
    header_json: dict[str, Any]
    commit: CommitCertificate
    validators: Any


@dataclass
class _State:
    """What the checks learn, for later checks and the summary."""

    cert: dict[str, Any] = field(default_factory=dict)
    entries: list[_Entry] = field(default_factory=list)
    headers: dict[int, BlockHeader] = field(default_factory=dict)
    header_json: dict[int, dict[str, Any]] = field(default_factory=dict)
    commits: dict[int, CommitCertificate] = field(default_factory=dict)
    history: dict[int, list[bytes]] = field(default_factory=dict)
    changes: list[_Change] = field(default_factory=list)
    anchor: int = 0
    genesis: Genesis | None = None
    chain_id: str | None = None
    sets: list[tuple[int, ValidatorSet]] = field(default_factory=list)  # (from height, set)
    summary: CertificateSummary | None = None

    def set_at(self, height: int) -> ValidatorSet:
        current = self.sets[0][1]
        for start, vset in self.sets:
            if start <= height:
                current = vset
        return current


def verify_certificate(
    cert: Any, genesis: Genesis | None = None, genesis_hash: str | None = None
) -> CertificateVerdict:
    """Verify a decoded certificate against a trusted genesis (the document, or only its
    hash). Never raises; see docs/certificates.md for what each check does."""
    return _Verifier(cert, genesis, genesis_hash).run()


def verify_certificate_bytes(
    data: bytes, genesis: Genesis | None = None, genesis_hash: str | None = None
) -> CertificateVerdict:
    """Decode JSON bytes (no floats, no duplicate keys; at most :data:`MAX_CERT_BYTES`)
    and verify them; undecodable input fails the ``format`` check."""
    if not isinstance(data, (bytes, bytearray)):
        return _failed_format("a certificate is JSON bytes")
    if len(data) > MAX_CERT_BYTES:
        return _failed_format(f"a certificate is at most {MAX_CERT_BYTES} bytes")
    try:
        cert = decode(bytes(data))
    except (CanonicalEncodingError, ValueError, RecursionError) as exc:
        return _failed_format(f"not a valid JSON certificate: {exc}")
    return verify_certificate(cert, genesis=genesis, genesis_hash=genesis_hash)


def _failed_format(detail: str) -> CertificateVerdict:
    checks = [Check("format", False, detail)]
    checks += [Check(n, False, "not checked: format failed", True) for n in CHECK_NAMES[1:]]
    return CertificateVerdict(tuple(checks))


# the checks each check needs to have passed
_DEPENDS: dict[str, tuple[str, ...]] = {
    "format": (),
    "genesis": ("format",),
    "chain_id": ("format", "genesis"),
    "validator_set_changes": ("format", "genesis", "chain_id"),
    "headers": ("format", "genesis", "chain_id", "validator_set_changes"),
    "commits": ("format", "genesis", "chain_id", "validator_set_changes", "headers"),
    "history": ("format",),
    "inclusion": ("format",),
    "transactions": ("format", "genesis", "chain_id"),
    "results": ("format", "transactions"),
    "links": ("format", "transactions", "results"),
}


class _Verifier:
    def __init__(self, cert: Any, genesis: Genesis | None, genesis_hash: str | None) -> None:
        self.raw = cert
        self.trusted_genesis = genesis
        self.trusted_hash = genesis_hash
        self.s = _State()

    def run(self) -> CertificateVerdict:
        steps: dict[str, Callable[[], str]] = {
            "format": self._format,
            "genesis": self._genesis,
            "chain_id": self._chain_id,
            "validator_set_changes": self._validator_set_changes,
            "headers": self._headers,
            "commits": self._commits,
            "history": self._history,
            "inclusion": self._inclusion,
            "transactions": self._transactions,
            "results": self._results,
            "links": self._links,
        }
        outcome: dict[str, bool] = {}
        checks: list[Check] = []
        for name in CHECK_NAMES:
            failed_deps = [d for d in _DEPENDS[name] if not outcome.get(d, False)]
            if failed_deps:
                outcome[name] = False
                checks.append(Check(name, False, f"not checked: {failed_deps[0]} failed", True))
                continue
            try:
                detail = steps[name]()
                checks.append(Check(name, True, detail))
                outcome[name] = True
            except _Problem as exc:
                checks.append(Check(name, False, str(exc)))
                outcome[name] = False
            except Exception as exc:  # a malformed value reached a path we did not foresee
                checks.append(Check(name, False, f"malformed certificate ({type(exc).__name__}: {exc})"))
                outcome[name] = False
        verdict = CertificateVerdict(tuple(checks))
        if verdict.ok:
            verdict = CertificateVerdict(verdict.checks, self.s.summary)
        return verdict

    # -- format ------------------------------------------------------------------------------
    def _format(self) -> str:
        cert = self.raw
        if not isinstance(cert, dict):
            raise _Problem("a certificate is a JSON object")
        try:
            size = len(canonical(cert))
        except (CanonicalEncodingError, RecursionError) as exc:
            raise _Problem(f"not canonically encodable: {exc}") from None
        if size > MAX_CERT_BYTES:
            raise _Problem(f"a certificate is at most {MAX_CERT_BYTES} bytes")
        if set(cert) != _TOP_FIELDS:
            missing = sorted(_TOP_FIELDS - set(cert))
            extra = sorted(set(cert) - _TOP_FIELDS)
            raise _Problem(f"top-level fields: missing {missing}, unknown {extra}")
        if cert["format"] != CERT_FORMAT:
            raise _Problem(f"format must be {CERT_FORMAT!r}")
        if cert["version"] != CERT_VERSION or type(cert["version"]) is not int:
            raise _Problem(f"unsupported version {cert['version']!r} (this verifier reads {CERT_VERSION})")
        if not isinstance(cert["chain_id"], str):
            raise _Problem("chain_id must be a string")
        for name in ("genesis_hash", "retirement_id"):
            if not is_hex_digest(cert[name]):
                raise _Problem(f"{name} must be 64 lowercase hex digits")
        if not isinstance(cert["genesis"], dict):
            raise _Problem("genesis must be the genesis document (an object)")
        s = self.s
        s.cert = cert
        s.entries.append(self._entry(cert["retirement"], "retirement"))
        if s.entries[0].role != "retirement":
            raise _Problem("retirement: role must be 'retirement'")
        prov = cert["provenance"]
        if not isinstance(prov, list) or len(prov) > MAX_ENTRIES:
            raise _Problem(f"provenance must be a list of at most {MAX_ENTRIES} entries")
        for i, item in enumerate(prov):
            entry = self._entry(item, f"provenance[{i}]")
            if entry.role == "retirement":
                raise _Problem(f"provenance[{i}]: role 'retirement' is for the subject only")
            s.entries.append(entry)
        s.anchor = s.entries[0].height
        referenced = {e.height for e in s.entries}

        headers = self._height_map(cert["headers"], "headers")
        if set(headers) != referenced:
            raise _Problem(self._set_mismatch("headers", set(headers), referenced))
        for h, obj in headers.items():
            header = self._parse_header(obj, f"headers[{h}]")
            if header.height != h:
                raise _Problem(f"headers[{h}] is the header of block {header.height}")
            s.headers[h] = header
            s.header_json[h] = obj
        commits = self._height_map(cert["commits"], "commits")
        if set(commits) != referenced:
            raise _Problem(self._set_mismatch("commits", set(commits), referenced))
        for h, obj in commits.items():
            s.commits[h] = self._parse_commit(obj, f"commits[{h}]")
        history = self._height_map(cert["history"], "history")
        below = {h for h in referenced if h < s.anchor}
        if set(history) != below:
            raise _Problem(self._set_mismatch("history", set(history), below))
        for h, items in history.items():
            s.history[h] = self._proof(items, f"history[{h}]")

        changes = cert["validator_set_changes"]
        if not isinstance(changes, list) or len(changes) > MAX_VALIDATOR_SET_CHANGES:
            raise _Problem(
                f"validator_set_changes must be a list of at most {MAX_VALIDATOR_SET_CHANGES}"
            )
        for i, ch in enumerate(changes):
            where = f"validator_set_changes[{i}]"
            if not isinstance(ch, dict) or set(ch) != _CHANGE_FIELDS:
                raise _Problem(f"{where} must have exactly {sorted(_CHANGE_FIELDS)}")
            height = ch["height"]
            if type(height) is not int or not 1 <= height < s.anchor:
                raise _Problem(f"{where}.height must be a block height below {s.anchor}")
            header = self._parse_header(ch["header"], f"{where}.header")
            if header.height != height:
                raise _Problem(f"{where}.header is the header of block {header.height}")
            commit = self._parse_commit(ch["commit"], f"{where}.commit")
            s.changes.append(_Change(height, header, ch["header"], commit, ch["validators"]))
        return (
            f"{len(s.entries)} transactions in {len(referenced)} blocks,"
            f" {len(s.changes)} validator-set changes"
        )

    def _entry(self, obj: Any, where: str) -> _Entry:
        if not isinstance(obj, dict) or set(obj) != _ENTRY_FIELDS:
            raise _Problem(f"{where} must have exactly {sorted(_ENTRY_FIELDS)}")
        role = obj["role"]
        if role not in ROLE_METHODS:
            raise _Problem(f"{where}: unknown role {role!r}")
        height, index, size = obj["height"], obj["index"], obj["size"]
        if type(height) is not int or not 1 <= height <= _MAX_HEIGHT:
            raise _Problem(f"{where}.height must be a block height")
        if type(size) is not int or not 1 <= size <= MAX_BLOCK_TXS:
            raise _Problem(f"{where}.size must be 1..{MAX_BLOCK_TXS}")
        if type(index) is not int or not 0 <= index < size:
            raise _Problem(f"{where}.index must be 0..size-1")
        if not isinstance(obj["tx"], dict) or not isinstance(obj["result"], dict):
            raise _Problem(f"{where}: tx and result must be objects")
        return _Entry(
            where=where,
            role=role,
            height=height,
            index=index,
            size=size,
            tx=obj["tx"],
            result=obj["result"],
            tx_proof=self._proof(obj["tx_proof"], f"{where}.tx_proof"),
            result_proof=self._proof(obj["result_proof"], f"{where}.result_proof"),
        )

    @staticmethod
    def _proof(items: Any, where: str) -> list[bytes]:
        if not isinstance(items, list) or len(items) > MAX_PROOF_ITEMS:
            raise _Problem(f"{where} must be a list of at most {MAX_PROOF_ITEMS} hashes")
        if not all(is_hex_digest(p) for p in items):
            raise _Problem(f"{where}: every item is 64 lowercase hex digits")
        return [bytes.fromhex(p) for p in items]

    @staticmethod
    def _height_map(obj: Any, where: str) -> dict[int, Any]:
        if not isinstance(obj, dict):
            raise _Problem(f"{where} must be an object keyed by block height")
        out: dict[int, Any] = {}
        for key, value in obj.items():
            if not isinstance(key, str) or not _HEIGHT_KEY.match(key):
                raise _Problem(f"{where}: key {key!r} is not a block height")
            out[int(key)] = value
        return out

    @staticmethod
    def _set_mismatch(where: str, have: set[int], want: set[int]) -> str:
        missing = sorted(want - have)
        extra = sorted(have - want)
        if missing:
            return f"{where} lacks block {missing[0]}" + (f" and {len(missing) - 1} more" if len(missing) > 1 else "")
        return f"{where} holds block {extra[0]}, which no entry needs"

    @staticmethod
    def _parse_header(obj: Any, where: str) -> BlockHeader:
        try:
            return BlockHeader.from_json(obj)
        except LedgerError as exc:
            raise _Problem(f"{where}: {exc.message}") from None

    @staticmethod
    def _parse_commit(obj: Any, where: str) -> CommitCertificate:
        try:
            commit = CommitCertificate.from_json(obj)
        except LedgerError as exc:
            raise _Problem(f"{where}: {exc.message}") from None
        for key, sig in commit.signatures:
            if not isinstance(key, str) or not isinstance(sig, str):
                raise _Problem(f"{where}: validator keys and signatures are hex strings")
        return commit

    # -- genesis -------------------------------------------------------------------------------
    def _genesis(self) -> str:
        s = self.s
        trusted = self.trusted_hash
        if trusted is not None and not is_hex_digest(trusted):
            raise _Problem("the trusted genesis hash must be 64 lowercase hex digits")
        if self.trusted_genesis is not None:
            if trusted is not None and trusted != self.trusted_genesis.hash:
                raise _Problem("the genesis document and the genesis hash given disagree")
            trusted = self.trusted_genesis.hash
        if trusted is None:
            raise _Problem("no trusted genesis given (a genesis document or its hash)")
        try:
            embedded = Genesis.from_json(s.cert["genesis"])
        except LedgerError as exc:
            raise _Problem(f"the embedded genesis document is malformed: {exc.message}") from None
        s.genesis = embedded
        if embedded.hash != s.cert["genesis_hash"]:
            raise _Problem("genesis_hash is not the SHA-256 of the embedded genesis document")
        if embedded.hash != trusted:
            raise _Problem(
                f"the certificate is for the network with genesis {embedded.hash[:16]}…"
                f" ({embedded.chain_id}), not the trusted genesis {trusted[:16]}…"
            )
        s.sets = [(1, embedded.validators)]
        return f"genesis {embedded.hash} ({embedded.chain_id})"

    # -- chain id ------------------------------------------------------------------------------
    def _chain_id(self) -> str:
        s = self.s
        assert s.genesis is not None
        chain_id = s.genesis.chain_id
        if s.cert["chain_id"] != chain_id:
            raise _Problem(f"chain_id {s.cert['chain_id']!r} is not the genesis chain id {chain_id!r}")
        for h, header in sorted(s.headers.items()):
            if header.chain_id != chain_id:
                raise _Problem(f"block {h} is for chain {header.chain_id!r}, not {chain_id!r}")
        for ch in s.changes:
            if ch.header.chain_id != chain_id:
                raise _Problem(f"block {ch.height} is for chain {ch.header.chain_id!r}, not {chain_id!r}")
        for e in s.entries:
            if e.payload.get("chain_id") != chain_id:
                raise _Problem(f"{e.label}: the transaction is for chain {e.payload.get('chain_id')!r}")
        s.chain_id = chain_id
        return chain_id

    # -- validator sets --------------------------------------------------------------------------
    def _validator_set_changes(self) -> str:
        s = self.s
        assert s.chain_id is not None
        previous = 0
        for ch in s.changes:
            where = f"validator-set change at block {ch.height}"
            if ch.height <= previous:
                raise _Problem(f"{where}: changes must be listed in increasing height order")
            previous = ch.height
            current = s.set_at(ch.height)
            if ch.header.validators_hash != current.hash():
                raise _Problem(
                    f"{where}: its validators_hash is not the hash of the set in force"
                    " (is an earlier change missing?)"
                )
            self._verify_commit(ch.commit, ch.header, current, where)
            try:
                new_set = ValidatorSet.from_json(ch.validators)
            except LedgerError as exc:
                raise _Problem(f"{where}: malformed validator set: {exc.message}") from None
            if ch.header.next_validators_hash == ch.header.validators_hash:
                raise _Problem(f"{where}: the block does not change the validator set")
            if new_set.hash() != ch.header.next_validators_hash:
                raise _Problem(f"{where}: the new set does not hash to next_validators_hash")
            s.sets.append((ch.height + 1, new_set))
        return f"{len(s.changes)} changes, each committed by the set in force"

    def _verify_commit(
        self, commit: CommitCertificate, header: BlockHeader, vset: ValidatorSet, where: str
    ) -> None:
        assert self.s.chain_id is not None
        if commit.height != header.height:
            raise _Problem(f"{where}: the commit is for height {commit.height}")
        if commit.block_hash != header.hash():
            raise _Problem(f"{where}: the commit is for another block hash")
        try:
            commit.verify(self.s.chain_id, vset)
        except LedgerError as exc:
            raise _Problem(f"{where}: {exc.code}: {exc.message}") from None

    # -- headers and commits -----------------------------------------------------------------------
    def _headers(self) -> str:
        s = self.s
        change_at = {ch.height: ch for ch in s.changes}
        for h, header in sorted(s.headers.items()):
            if header.validators_hash != s.set_at(h).hash():
                raise _Problem(
                    f"block {h}: validators_hash is not the hash of the validator set in force"
                    " (a validator-set change is missing from the certificate?)"
                )
            if h in change_at:
                if change_at[h].header_json != s.header_json[h]:
                    raise _Problem(f"block {h}: two different headers are given")
            elif h < s.anchor and header.next_validators_hash != header.validators_hash:
                raise _Problem(
                    f"block {h} changes the validator set but is not in validator_set_changes"
                )
        return f"{len(s.headers)} headers signed by the validator set in force"

    def _commits(self) -> str:
        s = self.s
        for h, header in sorted(s.headers.items()):
            self._verify_commit(s.commits[h], header, s.set_at(h), f"block {h}")
        return f"{len(s.commits)} commit certificates with more than 2/3 of the voting power"

    # -- history -----------------------------------------------------------------------------------
    def _history(self) -> str:
        s = self.s
        anchor = s.headers[s.anchor]
        root = bytes.fromhex(anchor.history_root)
        for h in sorted(s.history):
            leaf = bytes.fromhex(s.headers[h].hash())
            if not verify_inclusion(leaf, h - 1, s.anchor - 1, s.history[h], root):
                raise _Problem(
                    f"block {h} is not proven to be an ancestor of block {s.anchor}"
                    " (history proof does not verify)"
                )
        later = sorted(h for h in s.headers if h > s.anchor)
        if later:
            raise _Problem(f"block {later[0]} comes after the retirement's block {s.anchor}")
        return f"{len(s.history)} blocks proven ancestors of block {s.anchor}"

    # -- inclusion -----------------------------------------------------------------------------------
    def _inclusion(self) -> str:
        s = self.s
        sizes: dict[int, int] = {}
        for e in s.entries:
            header = s.headers[e.height]
            if sizes.setdefault(e.height, e.size) != e.size:
                raise _Problem(f"{e.label}: entries of one block disagree on its size")
            if not verify_inclusion(
                tx_leaf(e.tx), e.index, e.size, e.tx_proof, bytes.fromhex(header.txs_root)
            ):
                raise _Problem(f"{e.label}: the transaction is not in the block's txs_root")
            if not verify_inclusion(
                result_leaf(e.result), e.index, e.size, e.result_proof,
                bytes.fromhex(header.results_root),
            ):
                raise _Problem(f"{e.label}: the result is not in the block's results_root")
        return f"{len(s.entries)} transactions and results included in their blocks"

    # -- transactions --------------------------------------------------------------------------------
    def _transactions(self) -> str:
        s = self.s
        seen: dict[str, str] = {}
        for e in s.entries:
            try:
                tx = parse_transaction(e.tx, chain_id=s.chain_id)
                tx.verify_signatures()
            except LedgerError as exc:
                raise _Problem(f"{e.label}: {exc.code}: {exc.message}") from None
            if tx.tx_id in seen:
                raise _Problem(f"{e.label}: the same transaction is also {seen[tx.tx_id]}")
            seen[tx.tx_id] = e.where
            e.parsed = tx
        if s.entries[0].tx_id != s.cert["retirement_id"]:
            raise _Problem("retirement_id is not the id of the retirement transaction")
        return f"{len(s.entries)} transactions signed by every signer"

    # -- results -------------------------------------------------------------------------------------
    def _results(self) -> str:
        for e in self.s.entries:
            r = e.result
            if set(r) != _RESULT_FIELDS or not isinstance(r["events"], list):
                raise _Problem(f"{e.label}: a result has exactly {sorted(_RESULT_FIELDS)}")
            if r["tx_id"] != e.tx_id:
                raise _Problem(f"{e.label}: the result is for another transaction")
            if r["code"] != "ok":
                raise _Problem(f"{e.label}: the transaction failed ({r['code']}: {r['message']})")
            if not all(isinstance(ev, dict) and isinstance(ev.get("type"), str) for ev in r["events"]):
                raise _Problem(f"{e.label}: every event is an object with a type")
        return "every transaction succeeded"

    # -- links -----------------------------------------------------------------------------------------
    def _links(self) -> str:
        linker = _Linker(self.s)
        linker.run()
        return (
            f"{len(linker.batches)} batch(es) of {len(linker.projects)} project(s),"
            f" {len(linker.plots)} plot(s), {len(linker.custody)} custody step(s)"
        )


# ------------------------------------------------------------------------------------------
# Semantic links: retirement -> batches -> reports -> attestations -> projects -> plots
# ------------------------------------------------------------------------------------------
def _arg_equals(name: str, value: object) -> Callable[[_Entry], bool]:
    """A match on one argument of an entry's transaction."""
    return lambda entry: entry.args.get(name) == value


class _Linker:
    def __init__(self, state: _State) -> None:
        self.s = state
        self.used: set[int] = set()  # ids of entries a link uses
        self.by_role: dict[str, list[_Entry]] = {}
        for e in state.entries[1:]:
            self.by_role.setdefault(e.role, []).append(e)
        self.report_of: dict[str, _Entry] = {}
        self.verification_of: dict[str, _Entry] = {}
        self.batches: list[dict[str, Any]] = []
        self.projects: list[dict[str, Any]] = []
        self.plots: list[str] = []
        self.custody: list[dict[str, Any]] = []

    # helpers -------------------------------------------------------------------------------------
    def _one(self, role: str, what: str, match: Callable[[_Entry], bool]) -> _Entry:
        found = [e for e in self.by_role.get(role, []) if match(e)]
        if not found:
            raise _Problem(f"no {role} entry for {what}")
        if len(found) > 1:
            raise _Problem(f"two {role} entries for {what}")
        self.used.add(id(found[0]))
        return found[0]

    @staticmethod
    def _event(e: _Entry, event_type: str) -> dict[str, Any]:
        ev = e.event(event_type)
        if ev is None:
            raise _Problem(f"{e.label}: the result has no {event_type} event")
        return ev

    @staticmethod
    def _before(a: _Entry, b: _Entry) -> None:
        if not a.position < b.position:
            raise _Problem(f"{a.label} must come before {b.label}")

    # the walk ------------------------------------------------------------------------------------
    def run(self) -> None:
        for e in self.s.entries:
            if e.payload.get("contract") != CONTRACT or e.method not in ROLE_METHODS[e.role]:
                raise _Problem(
                    f"{e.label}: a {e.role} entry is a {CONTRACT}.{'/'.join(ROLE_METHODS[e.role])}"
                    f" transaction, not {e.payload.get('contract')}.{e.method}"
                )
        ret = self.s.entries[0]
        ranges = self._retirement(ret)
        issuances: dict[str, _Entry] = {}
        for batch_id in sorted({r.batch_id for r in ranges}):
            issuances[batch_id] = self._batch(batch_id, [r for r in ranges if r.batch_id == batch_id], ret)
        owners: dict[str, set[str]] = {}
        reports: dict[str, list[_Entry]] = {}
        for batch_id, iss in issuances.items():
            iev = self._event(iss, "carbon.issued")
            owners.setdefault(iev["project_id"], set()).add(iev["owner_org"])
            reports.setdefault(iev["project_id"], []).append(self.report_of[batch_id])
        for project_id in sorted(owners):
            self._project(project_id, owners[project_id], reports[project_id])
        self._custody(ret, list(issuances.values()))
        unused = [e for e in self.s.entries[1:] if id(e) not in self.used]
        if unused:
            raise _Problem(f"{unused[0].label} is not linked to the retirement")
        self._summary(ret, ranges, issuances)

    def _retirement(self, ret: _Entry) -> list[RetiredRange]:
        ev = self._event(ret, "carbon.retired")
        if ev.get("retirement_id") != ret.tx_id:
            raise _Problem("the carbon.retired event names another retirement")
        raw = ev.get("ranges")
        if not isinstance(raw, list) or not raw:
            raise _Problem(
                "the retirement result does not list the retired ranges"
                " (its carbon.retired event needs 'ranges')"
            )
        ranges: list[RetiredRange] = []
        for i, r in enumerate(raw):
            where = f"retired range {i}"
            if not isinstance(r, dict):
                raise _Problem(f"{where} is not an object")
            pid, bid, vintage = r.get("project_id"), r.get("batch_id"), r.get("vintage")
            first, last = r.get("first"), r.get("last")
            if not (isinstance(pid, str) and isinstance(bid, str) and type(vintage) is int
                    and type(first) is int and type(last) is int and 1 <= first <= last):
                raise _Problem(f"{where}: needs project_id, batch_id, vintage, first <= last")
            rr = RetiredRange(pid, bid, vintage, first, last)
            if "quantity" in r and r["quantity"] != rr.quantity:
                raise _Problem(f"{where}: quantity {r['quantity']} is not last - first + 1")
            if "serial" in r and r["serial"] != rr.serial:
                raise _Problem(f"{where}: serial {r['serial']!r} does not match the range")
            ranges.append(rr)
        ordered = sorted(ranges, key=lambda r: (r.project_id, r.first))
        for a, b in zip(ordered, ordered[1:], strict=False):
            if a.project_id == b.project_id and b.first <= a.last:
                raise _Problem(f"retired ranges {a.serial} and {b.serial} overlap")
        total = sum(r.quantity for r in ranges)
        args = ret.args
        if args.get("quantity") != total or ev.get("quantity") != total:
            raise _Problem(
                f"the retirement quantity {args.get('quantity')!r} is not the sum of its"
                f" ranges ({total})"
            )
        purpose = "compliance" if ret.method == "retire_compliance" else "voluntary"
        if ev.get("purpose") != purpose:
            raise _Problem(f"the retirement event's purpose is not {purpose}")
        if purpose == "compliance" and ev.get("period") != args.get("period"):
            raise _Problem("the retirement event's period is not the transaction's")
        if purpose == "voluntary" and not (
            isinstance(args.get("beneficiary"), str) and isinstance(args.get("reason"), str)
        ):
            raise _Problem("a voluntary retirement names its beneficiary and reason")
        if not isinstance(ev.get("enterprise"), str):
            raise _Problem("the retirement event does not name the retiring enterprise")
        return ranges

    def _batch(self, batch_id: str, ranges: list[RetiredRange], ret: _Entry) -> _Entry:
        iss = self._one("issuance", f"batch {batch_id}", lambda e: e.args.get("batch_id") == batch_id)
        iev = self._event(iss, "carbon.issued")
        for name, kind in (("batch_id", str), ("project_id", str), ("report_id", str),
                           ("owner_org", str), ("vintage", int), ("first", int),
                           ("last", int), ("quantity", int)):
            if type(iev.get(name)) is not kind:
                raise _Problem(f"{iss.label}: the carbon.issued event lacks {name}")
        if iev["batch_id"] != batch_id or iev["report_id"] != iss.args.get("report_id"):
            raise _Problem(f"{iss.label}: the carbon.issued event is for another batch or report")
        for r in ranges:
            if r.project_id != iev["project_id"] or r.vintage != iev["vintage"]:
                raise _Problem(f"retired range {r.serial} is not of batch {batch_id}'s project and vintage")
            if not iev["first"] <= r.first <= r.last <= iev["last"]:
                raise _Problem(
                    f"retired range {r.serial} lies outside batch {batch_id}"
                    f" ({iev['first']}..{iev['last']})"
                )
        self._before(iss, ret)
        report_id = iev["report_id"]
        ver = self._one("verification", f"report {report_id}",
                        lambda e: e.args.get("report_id") == report_id)
        self._before(ver, iss)
        if ver.args.get("verified_quantity") != iev["quantity"]:
            raise _Problem(f"{iss.label}: issued {iev['quantity']} t, but {ver.label} verified"
                           f" {ver.args.get('verified_quantity')!r} t")
        rep = self._one("monitoring_report", f"report {report_id}",
                        lambda e: e.args.get("report_id") == report_id)
        self._before(rep, ver)
        if rep.args.get("project_id") != iev["project_id"]:
            raise _Problem(f"{rep.label}: the report is of another project")
        if rep.args.get("report_sha256") != ver.args.get("report_sha256"):
            raise _Problem(f"{ver.label}: the attested report hash is not the report's")
        end = rep.args.get("period_end")
        if not isinstance(end, str) or not end[:4].isdigit() or int(end[:4]) != iev["vintage"]:
            raise _Problem(f"{iss.label}: vintage {iev['vintage']} is not the year the period ends")
        self.report_of[batch_id] = rep
        self.verification_of[batch_id] = ver
        return iss

    def _project(self, project_id: str, owners: set[str], reports: list[_Entry]) -> None:
        reg = self._one("registration", f"project {project_id}",
                        lambda e: e.args.get("project_id") == project_id)
        for rep in reports:
            self._before(reg, rep)
        rev = self._event(reg, "carbon.project_registered")
        att_id = rev.get("validation_attestation")
        val = self._one("validation", f"attestation {att_id!r}",
                        lambda e: e.args.get("attestation_id") == att_id)
        self._before(val, reg)
        if val.args.get("project_id") != project_id or val.args.get("positive") is not True:
            raise _Problem(f"{val.label}: not a positive validation of project {project_id}")
        sub = self._one("project_submission", f"project {project_id}",
                        lambda e: e.args.get("project_id") == project_id)
        self._before(sub, val)
        sev = self._event(sub, "carbon.project_submitted")
        owner = sev.get("owner_org")
        if owners != {owner}:
            raise _Problem(f"{sub.label}: the project's owner {owner!r} did not receive its issuance")
        plots = sub.args.get("plots")
        if not isinstance(plots, list) or not plots or not all(isinstance(p, str) for p in plots):
            raise _Problem(f"{sub.label}: the project lists no plots")
        for plot_id in plots:
            plot = self._one("plot_registration", f"plot {plot_id}", _arg_equals("plot_id", plot_id))
            self._before(plot, sub)
            if self._event(plot, "carbon.plot_registered").get("owner_org") != owner:
                raise _Problem(f"{plot.label}: plot {plot_id} was registered by another owner")
        for rep in reports:
            measured = rep.args.get("measurements")
            ids = [m.get("plot_id") for m in measured] if isinstance(measured, list) else [None]
            if not all(isinstance(m, str) and m in plots for m in ids):
                raise _Problem(f"{rep.label}: the report measures a plot outside project {project_id}")
        self.plots.extend(p for p in plots if p not in self.plots)
        args = sub.args
        self.projects.append({
            "methodology": args.get("methodology"),
            "name": args.get("name"),
            "owner_org": owner,
            "pdd_sha256": val.args.get("pdd_sha256"),
            "plots": list(plots),
            "project_id": project_id,
            "registration_height": reg.height,
            "registration_tx": reg.tx_id,
            "validation": {
                "accreditation": self._event(val, "carbon.validation_attested").get("accreditation"),
                "attestation_id": att_id,
                "verifier_org": self._event(val, "carbon.validation_attested").get("verifier_org"),
            },
        })

    def _custody(self, ret: _Entry, issuances: list[_Entry]) -> None:
        earliest = min(e.position for e in issuances)
        for role in CUSTODY_ROLES:
            for e in self.by_role.get(role, []):
                if not earliest < e.position < ret.position:
                    raise _Problem(f"{e.label}: a custody step must lie between issuance and retirement")
                self.used.add(id(e))
                self.custody.append({"height": e.height, "role": role, "tx_id": e.tx_id})
        self.custody.sort(key=lambda c: (c["height"], c["tx_id"]))

    def _summary(self, ret: _Entry, ranges: list[RetiredRange], issuances: dict[str, _Entry]) -> None:
        s = self.s
        ev = self._event(ret, "carbon.retired")
        args = ret.args
        purpose = ev["purpose"]
        enterprise = ev["enterprise"]
        for batch_id, iss in sorted(issuances.items()):
            iev = self._event(iss, "carbon.issued")
            ver = self.verification_of[batch_id]
            vev = self._event(ver, "carbon.verification_attested")
            rep = self.report_of[batch_id]
            self.batches.append({
                "batch_id": batch_id,
                "issued_height": iss.height,
                "period_end": rep.args.get("period_end"),
                "period_start": rep.args.get("period_start"),
                "project_id": iev["project_id"],
                "quantity": iev["quantity"],
                "report_id": iev["report_id"],
                "serial": printable_serial(iev["project_id"], iev["vintage"], iev["first"], iev["last"]),
                "verification": {
                    "accreditation": vev.get("accreditation"),
                    "attestation_id": ver.args.get("attestation_id"),
                    "verifier_org": vev.get("verifier_org"),
                },
                "vintage": iev["vintage"],
            })
        anchor = s.headers[ret.height]
        commit = s.commits[ret.height]
        vset = s.set_at(ret.height)
        names = sorted(v.name for k, _ in commit.signatures if (v := vset.by_key(k)) is not None)
        assert s.chain_id is not None and s.genesis is not None
        s.summary = CertificateSummary(
            chain_id=s.chain_id,
            genesis_hash=s.genesis.hash,
            retirement_id=ret.tx_id,
            height=ret.height,
            time_ms=anchor.time,
            purpose=purpose,
            quantity=sum(r.quantity for r in ranges),
            enterprise=enterprise,
            beneficiary=args["beneficiary"] if purpose == "voluntary" else enterprise,
            period=args.get("period") if purpose == "compliance" else None,
            reason=args.get("reason") if purpose == "voluntary" else None,
            ranges=tuple(sorted(ranges, key=lambda r: (r.project_id, r.first))),
            projects=tuple(self.projects),
            batches=tuple(self.batches),
            plot_ids=tuple(self.plots),
            custody=tuple(self.custody),
            signed_by=tuple(names),
        )
