"""Retirement certificates: the format, and its verification with no network access.

A certificate proves that one transaction (the subject, the retirement) was committed on
one network, together with the committed transactions it derives from (its provenance).
It carries the signed transactions and their
results, each with RFC 9162 inclusion proofs to the ``txs_root`` / ``results_root`` of its
block header; the headers with their commit certificates; RFC 9162 proofs that every
earlier header is an ancestor of the retirement's block (its ``history_root``); the chain
of validator-set changes since genesis; and the genesis document itself, whose SHA-256 is
the one thing the verifier must trust. Version 2 adds ``custody_proofs``: state-tree proofs
(``ledger/state_tree.py``) of state records against the ``state_root`` of the retirement's
block header -- the retired ranges' unit records, whose histories make the custody list
complete (checked by the linking rules). docs/certificates.md specifies the format field by
field and the verification algorithm step by step; both versions verify.

``verify_certificate`` never raises on malformed input: it returns a
:class:`CertificateVerdict` listing every check (``passed``, ``skipped``, ``detail``, and
``code`` when a header or commit breaks the next-block rule of ``ledger.next_block``, or
for the failures of :data:`CHECK_CODES` and the link rules' codes) and,
when every check passed, the summary the linking rules built only from verified data.

This module is generic: what the entries' roles are and how the provenance must link to
the subject are rules of the chaincode, passed in as :class:`LinkRules` (see
``chaincode/certificate_links.py``). It imports only ``ledger``;
the node builds certificates in ``node/api/certificates.py`` with :func:`make_entry` and
:func:`assemble_certificate`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from ledger.block import MAX_BLOCK_TXS, Block, BlockHeader, CommitCertificate
from ledger.crypto import is_hex_digest, sha256_hex
from ledger.encoding import CanonicalEncodingError, canonical
from ledger.errors import LedgerError
from ledger.genesis import Genesis
from ledger.merkle import inclusion_proof, verify_inclusion
from ledger.next_block import (
    NextBlockError,
    check_chain_id,
    check_commit,
    check_proposer,
    check_validators_hash,
)
from ledger.proof_file import anchor_genesis, decode_json_file
from ledger.state_tree import Proof, StateTreeError
from ledger.state_tree import verify as verify_state_proof
from ledger.tx import Transaction, parse_transaction
from ledger.validators import ValidatorSet
from ledger.verdict import Check, SummaryT, Verdict, refused_checks

__all__ = [
    "CERT_FORMAT",
    "CERT_VERSION",
    "CERT_VERSIONS",
    "CHECK_CODES",
    "CHECK_NAMES",
    "CHECK_NAMES_V1",
    "MAX_CERT_BYTES",
    "CertificateEntry",
    "CertificateVerdict",
    "Check",
    "LinkContext",
    "LinkError",
    "LinkRules",
    "assemble_certificate",
    "check_names",
    "custody_proof_item",
    "decode_certificate",
    "entry_from_parts",
    "make_entry",
    "result_leaf",
    "tx_leaf",
    "verify_certificate",
    "verify_certificate_bytes",
]

CERT_FORMAT = "fcl-retirement-certificate"
#: The version the node builds by default; :data:`CERT_VERSIONS` are the versions this
#: verifier reads (version 1 with its own, unchanged rules).
CERT_VERSION = 2
CERT_VERSIONS = (1, 2)
#: Largest certificate (canonical JSON bytes) the verifier reads.
MAX_CERT_BYTES = 16 * 1024 * 1024
MAX_ENTRIES = 5000
MAX_VALIDATOR_SET_CHANGES = 4096
#: An RFC 9162 inclusion proof for a tree of < 2**64 leaves has at most 64 items.
MAX_PROOF_ITEMS = 64
#: Longest state key (UTF-8 bytes) a ``custody_proofs`` item may name.
MAX_STATE_KEY_BYTES = 1024
#: Every check of a version-1 certificate, in the order it runs.
CHECK_NAMES_V1 = (
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
#: Every check of a version-2 certificate (and of input whose version is not known), in
#: the order it runs; a verdict always lists all the checks of its version.
CHECK_NAMES = (*CHECK_NAMES_V1[:8], "custody_proofs", *CHECK_NAMES_V1[8:])


def check_names(version: Any) -> tuple[str, ...]:
    """The checks a certificate of ``version`` gets: :data:`CHECK_NAMES_V1` for version 1,
    else :data:`CHECK_NAMES`."""
    return CHECK_NAMES_V1 if type(version) is int and version == 1 else CHECK_NAMES

#: The codes the verifier itself gives a failed check, with the check that gives each
#: (besides these, ``headers``, ``commits``, ``validator_set_changes`` and ``chain_id`` carry
#: the ``ledger.next_block`` code of the rule a header or commit breaks). docs/certificates.md
#: §6 lists them; ``LinkRules`` may add their own (``chaincode/certificate_links.py``).
CHECK_CODES: dict[str, str] = {
    "not_utf8": "format",
    "byte_order_mark": "format",
    "provenance_order": "format",
    "malformed_header": "format",
    "malformed_commit": "format",
    "bad_commit_round": "format",
    "malformed_custody_proof": "format",
    "custody_proof_invalid": "custody_proofs",
}

_TOP_FIELDS_V1 = frozenset(
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
_TOP_FIELDS = {1: _TOP_FIELDS_V1, 2: _TOP_FIELDS_V1 | {"custody_proofs"}}
_PROOF_ITEM_FIELDS = frozenset({"key", "proof", "value"})
_ENTRY_FIELDS = frozenset(
    {"role", "height", "index", "size", "tx", "result", "tx_proof", "result_proof"}
)
_CHANGE_FIELDS = frozenset({"height", "header", "commit", "validators"})
_RESULT_FIELDS = frozenset({"code", "events", "message", "tx_id"})
SummaryCo = TypeVar("SummaryCo", covariant=True)
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


def make_entry(role: str, block: Block, index: int) -> dict[str, Any]:
    """The certificate entry for transaction ``index`` of ``block`` in ``role``, with its
    inclusion proofs against the header's ``txs_root`` and ``results_root``."""
    tx_leaves = [tx_leaf(tx.to_json()) for tx in block.txs]
    result_leaves = [result_leaf(r) for r in block.results]
    return entry_from_parts(
        role, height=block.height, index=index, size=len(block.txs),
        tx=block.txs[index].to_json(), result=block.results[index],
        tx_proof=inclusion_proof(tx_leaves, index),
        result_proof=inclusion_proof(result_leaves, index),
    )


def entry_from_parts(
    role: str, *, height: int, index: int, size: int, tx: Mapping[str, Any],
    result: Mapping[str, Any], tx_proof: Sequence[bytes], result_proof: Sequence[bytes],
) -> dict[str, Any]:
    """The entry :func:`make_entry` makes, from its parts: transaction ``index`` (its JSON
    ``tx``) of the ``size`` transactions of block ``height``, its ``result`` and the two
    inclusion proofs (for builders that read a stored block without decoding it whole:
    ``ledger.block_layout.StoredBlock``)."""
    return {
        "height": height,
        "index": index,
        "result": dict(result),
        "result_proof": [p.hex() for p in result_proof],
        "role": role,
        "size": size,
        "tx": dict(tx),
        "tx_proof": [p.hex() for p in tx_proof],
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
    custody_proofs: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """A certificate object from its parts; integer heights become the decimal string keys
    of the JSON maps. With ``custody_proofs`` (items of :func:`custody_proof_item`, sorted
    here by key) it is version 2; without, version 1."""
    cert: dict[str, Any] = {
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
        "version": 1,
    }
    if custody_proofs is not None:
        cert["custody_proofs"] = sorted((dict(p) for p in custody_proofs),
                                        key=lambda p: str(p["key"]).encode("utf-8"))
        cert["version"] = 2
    return cert


def custody_proof_item(key: str, value: Any, proof: Proof) -> dict[str, Any]:
    """One ``custody_proofs`` item: state key ``key`` holds the JSON ``value`` (stored as
    ``canonical(value)``), with the state-tree ``proof`` of that at the retirement's
    height (docs/state-proofs.md)."""
    return {"key": key, "proof": proof.to_json(), "value": value}


def _tx_id_of(tx_json: Mapping[str, Any]) -> str:
    return sha256_hex(canonical(tx_json["payload"]))


# ------------------------------------------------------------------------------------------
# Verdict
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CertificateVerdict(Verdict[SummaryT]):
    """Every check, and what the linking rules summarised if every check passed. Unlike
    the other proof files' verdicts, its ``code`` is the *name* of the first failed check
    and its message ``INVALID: <check>: <detail>`` (docs/certificates.md §6); the failed
    check's own code is in ``checks``."""

    #: the certificate's format version (1 or 2), None when it is not one this verifier reads
    version: int | None = None

    valid = Verdict.ok

    @property
    def code(self) -> str | None:
        failure = self.first_failure
        return None if failure is None else failure.name

    @property
    def message(self) -> str:
        failure = self.first_failure
        if failure is None:
            return "VALID"
        return f"INVALID: {failure.name}: {failure.detail}"

    def to_json(self) -> dict[str, Any]:
        return dict(super().to_json(), version=self.version)


# ------------------------------------------------------------------------------------------
# Verification
# ------------------------------------------------------------------------------------------
class _Problem(Exception):
    """A check failed; the message says where and why (``code``: the next-block rule's, or
    one of :data:`CHECK_CODES`, or a link rule's)."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class LinkError(_Problem):
    """Raised by :class:`LinkRules` for provenance that does not link: fails ``links``."""


@dataclass
class CertificateEntry:
    """One entry (subject or provenance) as the linking rules read it: its transaction
    and result are proven committed in block ``height`` at ``index``."""

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

    def events(self, event_type: str) -> list[dict[str, Any]]:
        """Every event of ``event_type`` in the result, in order."""
        events = self.result.get("events")
        if not isinstance(events, list):
            return []
        return [e for e in events if isinstance(e, dict) and e.get("type") == event_type]

    def event(self, event_type: str) -> dict[str, Any] | None:
        """The first event of ``event_type`` (linking rules require there be only one:
        see :meth:`events`)."""
        found = self.events(event_type)
        return found[0] if found else None


@dataclass(frozen=True)
class LinkContext:
    """The verified chain data the linking rules may use besides the entries."""

    chain_id: str
    genesis_hash: str
    headers: Mapping[int, BlockHeader]  # the verified header of every referenced block
    signers: Mapping[int, tuple[str, ...]]  # names of the validators whose precommits commit it
    #: the certificate's format version
    version: int = 1
    #: version 2: the state records ``custody_proofs`` proves (state key -> JSON value) in
    #: the state after the retirement's block; empty for version 1
    state: Mapping[str, Any] = field(default_factory=dict)

    def header(self, height: int) -> BlockHeader:
        return self.headers[height]

    def signed_by(self, height: int) -> tuple[str, ...]:
        return self.signers[height]


class LinkRules(Protocol[SummaryCo]):
    """How a certificate's entries must link (a rule of the chaincode): the roles an entry
    may have, the subject's role, and :meth:`link`, which checks the verified entries
    (``entries[0]`` is the subject) and returns a detail line and the summary of what the
    certificate proves, or raises :class:`LinkError`."""

    @property
    def subject_role(self) -> str: ...

    @property
    def roles(self) -> Collection[str]: ...

    def link(
        self, entries: Sequence[CertificateEntry], chain: LinkContext
    ) -> tuple[str, SummaryCo]: ...


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
    entries: list[CertificateEntry] = field(default_factory=list)
    headers: dict[int, BlockHeader] = field(default_factory=dict)
    header_json: dict[int, dict[str, Any]] = field(default_factory=dict)
    commits: dict[int, CommitCertificate] = field(default_factory=dict)
    history: dict[int, list[bytes]] = field(default_factory=dict)
    changes: list[_Change] = field(default_factory=list)
    proofs: list[tuple[str, Any, Proof]] = field(default_factory=list)  # custody_proofs
    proven: dict[str, Any] = field(default_factory=dict)  # key -> value, once verified
    version: int = 1
    anchor: int = 0
    genesis: Genesis | None = None
    chain_id: str | None = None
    sets: list[tuple[int, ValidatorSet]] = field(default_factory=list)  # (from height, set)
    summary: Any = None

    def set_at(self, height: int) -> ValidatorSet:
        current = self.sets[0][1]
        for start, vset in self.sets:
            if start <= height:
                current = vset
        return current


def verify_certificate(
    cert: Any,
    genesis: Genesis | None = None,
    genesis_hash: str | None = None,
    *,
    links: LinkRules[SummaryT],
) -> CertificateVerdict[SummaryT]:
    """Verify a decoded certificate against a trusted genesis (the document, or only its
    hash), its provenance with the chaincode's ``links``. Never raises; see
    docs/certificates.md for what each check does."""
    return _Verifier(cert, genesis, genesis_hash, links).run()


def verify_certificate_bytes(
    data: bytes,
    genesis: Genesis | None = None,
    genesis_hash: str | None = None,
    *,
    links: LinkRules[SummaryT],
) -> CertificateVerdict[SummaryT]:
    """Decode JSON bytes (no floats, no duplicate keys; at most :data:`MAX_CERT_BYTES`)
    and verify them; undecodable input fails the ``format`` check."""
    if not isinstance(data, (bytes, bytearray)):
        return _failed_format("a certificate is JSON bytes")
    if len(data) > MAX_CERT_BYTES:
        return _failed_format(f"a certificate is at most {MAX_CERT_BYTES} bytes")
    try:
        cert = decode_certificate(bytes(data))
    except LedgerError as exc:
        return _failed_format(exc.message, None if exc.code == "not_json" else exc.code)
    return verify_certificate(cert, genesis=genesis, genesis_hash=genesis_hash, links=links)


def decode_certificate(data: bytes) -> Any:
    """The JSON value of a certificate's bytes, read the one way every verifier reads them
    (``fcl verify``, the explorer's upload): UTF-8 without a byte-order mark (RFC 8259
    §8.1), no floats, no duplicate keys. A UTF-16 or UTF-32 text is refused even where a
    JSON library would detect it. Raises ``LedgerError`` with code ``byte_order_mark``,
    ``not_utf8`` or ``not_json``; the value is not checked to be a certificate."""
    return decode_json_file(data, "certificate")


def _failed_format(detail: str, code: str | None = None) -> CertificateVerdict[Any]:
    return CertificateVerdict(refused_checks(CHECK_NAMES, "format", code, detail))


def _depends(name: str, version: int) -> tuple[str, ...]:
    """The checks ``name`` needs to have passed (version 2: the links read the proven
    records, so they also need ``custody_proofs``)."""
    if version != 1 and name == "links":
        return (*_DEPENDS[name], "custody_proofs")
    return _DEPENDS[name]


@contextmanager
def _rule(where: str = "", hint: str = "") -> Iterator[None]:
    """A ``ledger.next_block`` failure as the failure of the check that runs it, with the
    rule's code: ``<where>: <code>: <message> <hint>``."""
    try:
        yield
    except NextBlockError as exc:
        text = f"{exc.code}: {exc.message}"
        if where:
            text = f"{where}: {text}"
        if hint:
            text = f"{text} {hint}"
        raise _Problem(text, exc.code) from None


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
    "custody_proofs": ("format",),
    "transactions": ("format", "genesis", "chain_id"),
    "results": ("format", "transactions"),
    "links": ("format", "transactions", "results"),
}


class _Verifier(Generic[SummaryT]):
    def __init__(
        self,
        cert: Any,
        genesis: Genesis | None,
        genesis_hash: str | None,
        links: LinkRules[SummaryT],
    ) -> None:
        self.raw = cert
        self.trusted_genesis = genesis
        self.trusted_hash = genesis_hash
        self.links = links
        self.s = _State()

    def run(self) -> CertificateVerdict[SummaryT]:
        steps: dict[str, Callable[[], str]] = {
            "format": self._format,
            "genesis": self._genesis,
            "chain_id": self._chain_id,
            "validator_set_changes": self._validator_set_changes,
            "headers": self._headers,
            "commits": self._commits,
            "history": self._history,
            "inclusion": self._inclusion,
            "custody_proofs": self._custody_proofs,
            "transactions": self._transactions,
            "results": self._results,
            "links": self._links,
        }
        raw_version = self.raw.get("version") if isinstance(self.raw, dict) else None
        version: int | None = None
        if type(raw_version) is int and raw_version in CERT_VERSIONS:
            version = raw_version
        self.s.version = CERT_VERSION if version is None else version
        outcome: dict[str, bool] = {}
        checks: list[Check] = []
        for name in check_names(self.s.version):
            failed_deps = [d for d in _depends(name, self.s.version) if not outcome.get(d, False)]
            if failed_deps:
                outcome[name] = False
                checks.append(Check(name, False, f"not checked: {failed_deps[0]} failed", True))
                continue
            try:
                detail = steps[name]()
                checks.append(Check(name, True, detail))
                outcome[name] = True
            except _Problem as exc:
                checks.append(Check(name, False, str(exc), code=exc.code))
                outcome[name] = False
            except Exception as exc:  # a malformed value reached a path we did not foresee
                checks.append(Check(name, False, f"malformed certificate ({type(exc).__name__}: {exc})"))
                outcome[name] = False
        verdict: CertificateVerdict[SummaryT] = CertificateVerdict(tuple(checks), None, version)
        if verdict.ok:
            verdict = CertificateVerdict(verdict.checks, self.s.summary, version)
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
        version = cert.get("version")
        if type(version) is not int or version not in CERT_VERSIONS:
            raise _Problem(f"unsupported version {version!r} (this verifier reads versions"
                           f" {', '.join(map(str, CERT_VERSIONS))})")
        fields = _TOP_FIELDS[version]
        if set(cert) != fields:
            missing = sorted(fields - set(cert))
            extra = sorted(set(cert) - fields)
            raise _Problem(f"top-level fields of version {version}: missing {missing},"
                           f" unknown {extra}")
        if cert["format"] != CERT_FORMAT:
            raise _Problem(f"format must be {CERT_FORMAT!r}")
        if not isinstance(cert["chain_id"], str):
            raise _Problem("chain_id must be a string")
        for name in ("genesis_hash", "retirement_id"):
            if not is_hex_digest(cert[name]):
                raise _Problem(f"{name} must be 64 lowercase hex digits")
        if not isinstance(cert["genesis"], dict):
            raise _Problem("genesis must be the genesis document (an object)")
        s = self.s
        s.cert = cert
        subject = self.links.subject_role
        s.entries.append(self._entry(cert["retirement"], "retirement"))
        if s.entries[0].role != subject:
            raise _Problem(f"retirement: role must be {subject!r}")
        prov = cert["provenance"]
        if not isinstance(prov, list) or len(prov) > MAX_ENTRIES:
            raise _Problem(f"provenance must be a list of at most {MAX_ENTRIES} entries")
        for i, item in enumerate(prov):
            entry = self._entry(item, f"provenance[{i}]")
            if entry.role == subject:
                raise _Problem(f"provenance[{i}]: role {subject!r} is for the subject only")
            if len(s.entries) > 1 and not s.entries[-1].position < entry.position:
                previous = s.entries[-1]
                same = previous.position == entry.position
                raise _Problem(
                    f"provenance[{i}] (block {entry.height}, index {entry.index}) "
                    + ("is at the same position as" if same else "comes before")
                    + f" provenance[{i - 1}] (block {previous.height}, index {previous.index}):"
                    " provenance is ordered by (height, index), each transaction once",
                    "provenance_order",
                )
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
        if version == 2:
            self._custody_proof_items(cert["custody_proofs"])
        return (
            f"version {version}: {len(s.entries)} transactions in {len(referenced)} blocks,"
            f" {len(s.changes)} validator-set changes"
            + (f", {len(s.proofs)} state proofs" if version == 2 else "")
        )

    def _custody_proof_items(self, items: Any) -> None:
        """``custody_proofs``: a list of ``{key, proof, value}``, keys strictly increasing
        by their UTF-8 bytes (so each key once), each proof a well-formed state-tree proof."""
        def bad(message: str) -> _Problem:
            return _Problem(message, "malformed_custody_proof")

        if not isinstance(items, list) or len(items) > MAX_ENTRIES:
            raise bad(f"custody_proofs must be a list of at most {MAX_ENTRIES} items")
        previous: bytes | None = None
        for i, item in enumerate(items):
            where = f"custody_proofs[{i}]"
            if not isinstance(item, dict) or set(item) != _PROOF_ITEM_FIELDS:
                raise bad(f"{where} must have exactly {sorted(_PROOF_ITEM_FIELDS)}")
            key = item["key"]
            if not isinstance(key, str) or not key:
                raise bad(f"{where}.key must be a non-empty string (a state key)")
            key_bytes = key.encode("utf-8")
            if len(key_bytes) > MAX_STATE_KEY_BYTES:
                raise bad(f"{where}.key is longer than {MAX_STATE_KEY_BYTES} bytes")
            if previous is not None and not previous < key_bytes:
                raise bad(f"{where}.key {key!r} does not come after the previous item's key:"
                          " custody_proofs are ordered by key (UTF-8 bytes), each key once")
            previous = key_bytes
            if item["value"] is None:
                raise bad(f"{where}.value must be the record the key holds, not null")
            try:
                proof = Proof.from_json(item["proof"])
            except StateTreeError as exc:
                raise bad(f"{where}.proof: {exc.code}: {exc.message}") from None
            self.s.proofs.append((key, item["value"], proof))

    def _entry(self, obj: Any, where: str) -> CertificateEntry:
        if not isinstance(obj, dict) or set(obj) != _ENTRY_FIELDS:
            raise _Problem(f"{where} must have exactly {sorted(_ENTRY_FIELDS)}")
        role = obj["role"]
        if role not in self.links.roles:
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
        return CertificateEntry(
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
            raise _Problem(f"{where}: {exc.message}", exc.code) from None

    @staticmethod
    def _parse_commit(obj: Any, where: str) -> CommitCertificate:
        try:
            commit = CommitCertificate.from_json(obj)
        except LedgerError as exc:
            raise _Problem(f"{where}: {exc.message}", exc.code) from None
        for key, sig in commit.signatures:
            if not isinstance(key, str) or not isinstance(sig, str):
                raise _Problem(f"{where}: validator keys and signatures are hex strings",
                               "malformed_commit")
        return commit

    # -- genesis -------------------------------------------------------------------------------
    def _genesis(self) -> str:
        s = self.s
        try:
            embedded = anchor_genesis(s.cert["genesis"], s.cert["genesis_hash"],
                                      genesis=self.trusted_genesis,
                                      genesis_hash=self.trusted_hash, what="certificate")
        except LedgerError as exc:
            raise _Problem(exc.message) from None
        s.genesis = embedded
        s.sets = [(1, embedded.validators)]
        return f"genesis {embedded.hash} ({embedded.chain_id})"

    # -- chain id ------------------------------------------------------------------------------
    def _chain_id(self) -> str:
        s = self.s
        assert s.genesis is not None
        chain_id = s.genesis.chain_id
        if s.cert["chain_id"] != chain_id:
            raise _Problem(f"chain_id {s.cert['chain_id']!r} is not the genesis chain id {chain_id!r}")
        with _rule():
            for _, header in sorted(s.headers.items()):
                check_chain_id(chain_id, header)
            for ch in s.changes:
                check_chain_id(chain_id, ch.header)
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
            with _rule(where, "(is an earlier change missing?)"):
                check_validators_hash(current, ch.header)
            with _rule(where):  # as for every header (step 5) and as the light client does
                check_proposer(current, ch.header)
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
        with _rule(where):
            check_commit(self.s.chain_id, vset, header, commit)

    # -- headers and commits -----------------------------------------------------------------------
    def _headers(self) -> str:
        s = self.s
        change_at = {ch.height: ch for ch in s.changes}
        for h, header in sorted(s.headers.items()):
            with _rule("", "(a validator-set change is missing from the certificate?)"):
                check_validators_hash(s.set_at(h), header)
            with _rule():
                check_proposer(s.set_at(h), header)
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

    # -- custody proofs (version 2) --------------------------------------------------------------
    def _custody_proofs(self) -> str:
        """Every ``custody_proofs`` item: ``key`` holds ``canonical(value)`` in the state
        tree whose root is the ``state_root`` of the retirement's block (its header is the
        one ``commits`` proves signed)."""
        s = self.s
        if s.version == 1:
            return "version 1 carries no state proofs"
        anchor = s.headers[s.anchor]
        root = bytes.fromhex(anchor.state_root)
        for i, (key, value, proof) in enumerate(s.proofs):
            if not verify_state_proof(root, key.encode("utf-8"), canonical(value), proof):
                raise _Problem(
                    f"custody_proofs[{i}]: the proof does not show that {key!r} holds this"
                    f" value in the state after block {s.anchor} (state_root"
                    f" {anchor.state_root[:16]}…)",
                    "custody_proof_invalid",
                )
            s.proven[key] = value
        return f"{len(s.proofs)} records proven in the state after block {s.anchor}"

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
        s = self.s
        assert s.chain_id is not None and s.genesis is not None
        signers: dict[int, tuple[str, ...]] = {}
        for h, commit in s.commits.items():
            vset = s.set_at(h)
            signers[h] = tuple(sorted(
                v.name for k, _ in commit.signatures if (v := vset.by_key(k)) is not None
            ))
        chain = LinkContext(s.chain_id, s.genesis.hash, dict(s.headers), signers,
                            version=s.version, state=dict(s.proven))
        detail, s.summary = self.links.link(tuple(s.entries), chain)
        return detail
