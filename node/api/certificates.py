"""Building retirement certificates from a node's committed store.

:func:`build_certificate` (or a long-lived :class:`CertificateBuilder`, which caches what
it learnt about older blocks) reads only committed data: the retirement record
``retirement/<id>`` and the records it links to, the blocks holding the transactions that
created them, their commit certificates, block hashes (for the history proofs) and the
write sets that changed ``sys/validators``. The format and its verification live in
``ledger/certificate.py``, the carbon provenance-linking rules (roles, methods) in
``chaincode/certificate_links.py``; docs/certificates.md describes both.

How each transaction is found (records carry the id of the transaction that *last*
changed them, so creation is not always on the record):

==================== =====================================================================
role                 where the transaction id comes from
==================== =====================================================================
retirement           the retirement id itself
issuance             ``batch/<id>.tx_id`` (a batch is written once)
verification         ``attestation/<report.verification_attestation>.tx_id`` (written once)
monitoring_report    ``period/<plot>/<period_start>.tx_id`` of the report's first plot
validation           ``attestation/<project.validation_attestation>.tx_id``
registration         ``project.registration.tx_id``
project_submission   ``plot/<first plot>.tx_id`` (plots are last written by submit_project)
plot_registration    ``plot/<id>.created_tx_id``; else the certificate index (below); else
                     blocks are scanned downwards from the project's submission for
                     ``register_plot`` with that ``plot_id``
custody steps        the ``history`` of each retired unit range (``unit/<project>/<first>``)
==================== =====================================================================

Version 2 (the default; ``version=1`` builds the old format) reads each retired range's
unit record from the state tree at the retirement's height and adds it with its proof
(``custody_proofs``); its custody entries are then exactly that history's custody steps,
and any inconsistency (a record missing, a step whose transaction is not where the store
says) is ``CertificateUnavailable`` rather than a certificate that would not verify.

Every hint is checked (method, argument, result ``ok``); when one does not hold, the
blocks below the next known height are scanned (a byte pre-filter skips blocks that do
not mention the id). Plot registrations and validator-set changes come from the
certificate index the node writes at commit (``node/chain/certindex.py``: plot id ->
registration, heights of validator-set changes; outside consensus, rebuilt from the
blocks when missing) for the blocks it covers, and only blocks above it are scanned; the
new set is read from the latest write of ``sys/validators`` at or below the change block.
The builder keeps no lock while it builds: several certificates are built at once.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping
from typing import Any, Protocol, cast

from chaincode.carbon_common import attestation_key, batch_key, period_key, plot_key, project_key
from chaincode.carbon_common import report_key as report_record_key
from chaincode.carbon_market import RETIREMENT_PREFIX
from chaincode.certificate_links import CUSTODY_ACTIONS, ROLE_METHODS
from chaincode.units import unit_key
from chaincode.validator_state import VALIDATORS_KEY, validator_set_for
from ledger.block import Block, CommitCertificate
from ledger.block_layout import StoredBlock
from ledger.certificate import (
    CERT_VERSION,
    CERT_VERSIONS,
    assemble_certificate,
    custody_proof_item,
    entry_from_parts,
)
from ledger.crypto import is_hex_digest
from ledger.encoding import canonical, canonical_str, decode
from ledger.errors import BlockError
from ledger.genesis import Genesis
from ledger.merkle import AppendOnlyMerkleTree
from ledger.state import MemoryState
from ledger.state_tree import StateTree, StateTreeError
from ledger.state_tree import verify as verify_state_proof
from ledger.tx import Transaction
from ledger.validators import ValidatorSet
from node.chain.certindex import CertificateIndex
from node.chain.layoutindex import LayoutIndex

__all__ = [
    "CERT_VERSION",
    "CUSTODY_ACTIONS",
    "CertificateBuilder",
    "CertificateStore",
    "CertificateUnavailable",
    "UnknownRetirement",
    "build_certificate",
    "certificate_bytes",
]

_HEADER_PREFIX = b'{"header":'
_HEADER_END = b',"results":'


class CertificateStore(Protocol):
    """The read API of ``ledger.store.Store`` that the builder uses."""

    def get(self, key: str) -> bytes | None: ...

    def get_block(self, height: int) -> Block | None: ...

    def get_block_json(self, height: int) -> bytes | None: ...

    def get_commit(self, height: int) -> CommitCertificate | None: ...

    def get_block_hash(self, height: int) -> str | None: ...

    def get_block_writes(self, height: int) -> list[tuple[str, bytes | None]] | None: ...

    def get_tx_location(self, tx_id: str) -> tuple[int, int] | None: ...

    def latest_height(self) -> int: ...

    @property
    def state_tree(self) -> StateTree: ...


class UnknownRetirement(LookupError):
    """No committed retirement has this id (the RPC answers 404)."""


class CertificateUnavailable(RuntimeError):
    """The committed data needed for the certificate is missing or inconsistent."""


def build_certificate(
    store: CertificateStore, genesis: Genesis, retirement_id: str, version: int = CERT_VERSION
) -> dict[str, Any]:
    """The certificate (a JSON object, format ``version``: 2 by default, or 1) of retirement
    ``retirement_id``; raises :class:`UnknownRetirement` (a ``LookupError``) for an unknown
    or malformed id, ``ValueError`` for a version that is not 1 or 2."""
    return CertificateBuilder(store, genesis).build(retirement_id, version)


class CertificateBuilder:
    """Builds certificates over one store; remembers the validator-set changes and the
    history tree of block hashes it has already read (committed blocks never change).

    Several certificates may be built at once (the node shares one builder between its
    request threads): each build reads on its own, and only the two shared caches are
    updated under a lock, never held while a certificate is assembled."""

    def __init__(self, store: CertificateStore, genesis: Genesis) -> None:
        self.store = store
        self.genesis = genesis
        self._lock = threading.RLock()  # the shared caches only, never a whole build
        self.index = (CertificateIndex(cast(Any, store))
                      if hasattr(store, "get_extra") and hasattr(store, "iter_extra") else None)
        self.layouts = LayoutIndex(cast(Any, store)) if hasattr(store, "get_extra") else None
        self._scanned = 0  # headers 1.._scanned were looked at for validator-set changes
        self._changes: dict[int, dict[str, Any]] = {}  # height -> change entry
        self._history = AppendOnlyMerkleTree()

    def build(self, retirement_id: str, version: int = CERT_VERSION) -> dict[str, Any]:
        """The certificate of ``retirement_id`` in format ``version`` (1 or 2). Several
        builds may run at once (no lock is held while a certificate is assembled)."""
        if type(version) is not int or version not in CERT_VERSIONS:
            raise ValueError(f"certificate version {version!r} is not one of {CERT_VERSIONS}")
        return _Build(self, retirement_id, version).run()

    def stored_block(self, height: int) -> StoredBlock:
        """Block ``height`` read through its layout (``node/chain/layoutindex.py``: the
        lengths of its parts and the roots of each run of 32 leaves; found in the stored
        block itself when the index has none or a wrong one), checked against its header's
        roots: only the transactions and results asked for are decoded, and only their
        chunks of 32 leaves hashed."""
        raw = self.store.get_block_json(height)
        if raw is None:
            raise CertificateUnavailable(f"block {height} is missing")
        layout = None if self.layouts is None else self.layouts.get(height)
        try:
            block = StoredBlock.scan(raw) if layout is None else StoredBlock(raw, layout)
        except BlockError as exc:
            raise CertificateUnavailable(f"block {height} is unreadable: {exc.message}") from None
        if block.height != height:
            raise CertificateUnavailable(f"the stored block {height} says height {block.height}")
        return block

    def indexed_upto(self) -> int:
        """The height up to which the store's certificate index may be trusted."""
        return 0 if self.index is None else self.index.upto()

    # -- cached chain facts ----------------------------------------------------------------
    def changes_below(self, height: int) -> list[dict[str, Any]]:
        """Validator-set change entries of blocks ``< height``, in height order (safe to
        call from several threads: the certificate, state-proof, light-client and
        state-sync routes share the builder)."""
        with self._lock:
            return self._changes_below(height)

    def _changes_below(self, height: int) -> list[dict[str, Any]]:
        """From the certificate index up to its height, from the headers above it. A store
        started from a state-sync snapshot at H (``Store.snapshot_base``) has no write sets
        up to H: its changes up to H are the ones it recorded, verified, then."""
        if self._scanned == 0:
            base = self._snapshot_base()
            if base is not None:
                for c in base["validator_set_changes"]:
                    self._changes[int(c["height"])] = dict(c)
                self._scanned = int(base["height"])
        if self._scanned < height - 1:
            upto = min(self.indexed_upto(), height - 1)
            heights: list[int] = []
            if upto > self._scanned and self.index is not None:
                heights += [h for h in self.index.changes(upto + 1) if h > self._scanned]
                self._scanned = upto
            for h in range(self._scanned + 1, height):
                header = self._header(h)
                if header["next_validators_hash"] != header["validators_hash"]:
                    heights.append(h)
            self._scanned = max(self._scanned, height - 1)
            for h in heights:
                if h not in self._changes:
                    self._changes[h] = self._change(h)
        return [self._changes[h] for h in sorted(self._changes) if h < height]

    def _change(self, h: int) -> dict[str, Any]:
        header = self._header(h)
        if header["next_validators_hash"] == header["validators_hash"]:
            raise CertificateUnavailable(f"block {h} is indexed as a validator-set change but is not")
        commit = self.store.get_commit(h)
        if commit is None:
            raise CertificateUnavailable(f"block {h} has no commit certificate")
        new_set = self._set_after(h)
        if _set_hash(new_set) != header["next_validators_hash"]:
            raise CertificateUnavailable(f"block {h}: the stored new validator set differs")
        return {"commit": commit.to_json(), "header": header, "height": h, "validators": new_set}

    def history_proof(self, height: int, anchor: int) -> list[str]:
        """Inclusion proof of block ``height``'s hash in the history tree of blocks
        ``1..anchor-1`` (the ``history_root`` of block ``anchor``)."""
        with self._lock:
            self._extend_history(anchor - 1)
            return [p.hex() for p in self._history.inclusion_proof(height - 1, anchor - 1)]

    def history_root(self, anchor: int) -> str:
        """Root of the history tree of blocks ``1..anchor-1``, from the stored hashes."""
        with self._lock:
            self._extend_history(anchor - 1)
            return self._history.root_at(anchor - 1).hex()

    def _extend_history(self, size: int) -> None:
        while self._history.size < size:
            block_hash = self.store.get_block_hash(self._history.size + 1)
            if block_hash is None:
                raise CertificateUnavailable(f"block {self._history.size + 1} is missing")
            self._history.append(bytes.fromhex(block_hash))

    def _header(self, height: int) -> dict[str, Any]:
        raw = self.store.get_block_json(height)
        if raw is None:
            raise CertificateUnavailable(f"block {height} is missing")
        end = raw.find(_HEADER_END)
        if raw.startswith(_HEADER_PREFIX) and end > 0:
            header = json.loads(raw[len(_HEADER_PREFIX):end])
        else:
            header = json.loads(raw)["header"]
        return dict(header)

    def _set_after(self, height: int) -> list[dict[str, Any]]:
        """The validator set (JSON) that signs block ``height + 1``, from the latest write
        of ``sys/validators`` at or below ``height``."""
        base = self._snapshot_base()
        bottom = -1 if base is None else int(base["height"])
        for h in range(height, bottom, -1):
            for key, value in self.store.get_block_writes(h) or []:
                if key == VALIDATORS_KEY and value is not None:
                    state = MemoryState([(key, value)])
                    return validator_set_for(state, height + 1).to_json()
        if base is not None:  # the value at the snapshot's height, from its state tree version
            tree = getattr(self.store, "state_tree", None)
            value = None if tree is None else tree.get(VALIDATORS_KEY.encode("utf-8"), bottom)
            if value is not None:
                return validator_set_for(MemoryState([(VALIDATORS_KEY, value)]), height + 1).to_json()
        raise CertificateUnavailable("no validator set was ever written")

    def _snapshot_base(self) -> dict[str, Any] | None:
        """``Store.snapshot_base()``: the state-sync snapshot the store started from."""
        read = getattr(self.store, "snapshot_base", None)
        base: dict[str, Any] | None = None if read is None else read()
        return base


def _set_hash(validators: list[dict[str, Any]]) -> str:
    return ValidatorSet.from_json(validators).hash()


class _Build:
    """One certificate: the walk from the retirement record to the plots."""

    def __init__(self, builder: CertificateBuilder, retirement_id: str, version: int) -> None:
        self.b = builder
        self.store = builder.store
        self.rid = retirement_id
        self.version = version
        self.proofs: list[dict[str, Any]] = []
        self.blocks: dict[int, StoredBlock] = {}
        self.found: dict[str, tuple[str, int, int]] = {}  # tx_id -> (role, height, index)

    # -- reading ---------------------------------------------------------------------------
    def _record(self, key: str) -> Any:
        raw = self.store.get(key)
        return None if raw is None else decode(raw)

    def _need(self, key: str) -> dict[str, Any]:
        value = self._record(key)
        if not isinstance(value, dict):
            raise CertificateUnavailable(f"committed state has no {key}")
        return value

    def _block(self, height: int) -> StoredBlock:
        if height not in self.blocks:
            self.blocks[height] = self.b.stored_block(height)
        return self.blocks[height]

    def _tx(self, height: int, index: int) -> Transaction:
        try:
            return self._block(height).tx(index)
        except (BlockError, IndexError, ValueError) as exc:
            raise CertificateUnavailable(f"block {height}, transaction {index}: {exc}") from None

    def _matches(self, height: int, index: int, method: str, args: Mapping[str, Any]) -> bool:
        block = self._block(height)
        if index >= block.size:
            return False
        tx = self._tx(height, index)
        return (
            tx.contract == "carbon"
            and tx.method == method
            and all(tx.args.get(k) == v for k, v in args.items())
            and block.result(index).get("code") == "ok"
        )

    def _entry(self, role: str, height: int, index: int) -> dict[str, Any]:
        """The certificate entry of transaction ``index`` of block ``height`` (what
        ``chaincode.certificate_links.make_entry`` makes of the whole block), from the
        block's slices: the transaction and its result decoded, the other leaves hashed."""
        if role not in ROLE_METHODS:
            raise ValueError(f"unknown certificate role {role!r}")
        block = self._block(height)
        return entry_from_parts(
            role, height=height, index=index, size=block.size,
            tx=self._tx(height, index).to_json(), result=block.result(index),
            tx_proof=block.tx_proof(index), result_proof=block.result_proof(index),
        )

    def _add(self, role: str, height: int, index: int) -> tuple[int, int]:
        tx_id = self._tx(height, index).tx_id
        self.found.setdefault(tx_id, (role, height, index))
        return height, index

    def _find(
        self, role: str, args: Mapping[str, Any], hint: Any, below: int,
        indexed: tuple[int, int] | None = None, floor: int = 0,
    ) -> tuple[int, int]:
        """Locate the successful ``carbon.<method of role>`` transaction with ``args``: at
        the committed location of ``hint`` (a tx id) or at ``indexed`` (a location from
        the certificate index) if it matches, else by scanning blocks ``below, below-1,
        ..., floor + 1`` (``floor``: the blocks at or below it are known not to hold it)."""
        method = ROLE_METHODS[role][0]
        if isinstance(hint, str) and is_hex_digest(hint):
            loc = self.store.get_tx_location(hint)
            if loc is not None and self._matches(*loc, method, args):
                return self._add(role, *loc)
        if indexed is not None and indexed[0] <= below and self._matches(*indexed, method, args):
            return self._add(role, *indexed)
        markers = [f'"method":{canonical_str(method)}'.encode()]
        markers += [f"{canonical_str(k)}:{canonical_str(v)}".encode() for k, v in args.items()]
        for h in range(below, floor, -1):
            raw = self.store.get_block_json(h)
            if raw is None or not all(m in raw for m in markers):
                continue
            for i in range(self._block(h).size):
                if self._matches(h, i, method, args):
                    return self._add(role, h, i)
        what = ", ".join(f"{k}={v}" for k, v in args.items())
        raise CertificateUnavailable(f"cannot find the {role} transaction ({what})")

    # -- the walk --------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        rid = self.rid
        if not isinstance(rid, str) or not is_hex_digest(rid):
            raise UnknownRetirement(f"{rid!r} is not a retirement id (64 lowercase hex digits)")
        record = self._record(RETIREMENT_PREFIX + rid)
        if not isinstance(record, dict):
            raise UnknownRetirement(f"no committed retirement {rid}")
        loc = self.store.get_tx_location(rid)
        if loc is None:
            raise CertificateUnavailable(f"retirement {rid} is in state but not in any block")
        anchor, ret_index = loc
        if ret_index >= self._block(anchor).size \
                or self._tx(anchor, ret_index).method not in ROLE_METHODS["retirement"]:
            raise CertificateUnavailable(f"transaction {rid} is not a retirement")
        ranges = record.get("ranges") or []

        projects: dict[str, int] = {}  # project id -> height of its first report
        for batch_id in sorted({r["batch_id"] for r in ranges}):
            project_id, report_height = self._batch(batch_id, anchor)
            projects[project_id] = min(report_height, projects.get(project_id, report_height))
        for project_id, first_report in sorted(projects.items()):
            self._project(project_id, first_report)
        if self.version == 1:
            self._custody(ranges)
        else:
            self._custody_proven(ranges, anchor)

        entries: list[dict[str, Any]] = []
        for tx_id, (role, height, index) in self.found.items():
            if tx_id != rid:
                entries.append(self._entry(role, height, index))
        entries.sort(key=lambda e: (e["height"], e["index"]))
        retirement = self._entry("retirement", anchor, ret_index)
        heights = sorted({anchor} | {e["height"] for e in entries})
        headers = {h: self._block(h).header.to_json() for h in heights}
        commits = {}
        for h in heights:
            commit = self.store.get_commit(h)
            if commit is None:
                raise CertificateUnavailable(f"block {h} has no commit certificate")
            commits[h] = commit.to_json()
        history = {h: self.b.history_proof(h, anchor) for h in heights if h < anchor}
        if self.b.history_root(anchor) != headers[anchor]["history_root"]:
            raise CertificateUnavailable(f"block {anchor}: stored block hashes disagree with its history root")
        return assemble_certificate(
            genesis=self.b.genesis,
            retirement=retirement,
            provenance=entries,
            headers=headers,
            commits=commits,
            history=history,
            validator_set_changes=self.b.changes_below(anchor),
            custody_proofs=None if self.version == 1 else self.proofs,
        )

    def _batch(self, batch_id: str, anchor: int) -> tuple[str, int]:
        """Issuance, verification and report of a batch; (project id, report height)."""
        batch = self._need(batch_key(batch_id))
        iss_h, _ = self._find("issuance", {"batch_id": batch_id}, batch.get("tx_id"), anchor)
        report_id = batch["report_id"]
        report = self._need(report_record_key(report_id))
        att = self._record(attestation_key(str(report.get("verification_attestation"))))
        ver_h, _ = self._find("verification", {"report_id": report_id},
                              None if att is None else att.get("tx_id"), iss_h)
        hint = None
        measurements = report.get("measurements") or []
        if measurements:
            period = self._record(period_key(measurements[0]["plot_id"], report["period_start"]))
            hint = None if period is None else period.get("tx_id")
        rep_h, _ = self._find("monitoring_report", {"report_id": report_id}, hint, ver_h)
        return batch["project_id"], rep_h

    def _project(self, project_id: str, first_report: int) -> None:
        project = self._need(project_key(project_id))
        registration = project.get("registration") or {}
        reg_h, _ = self._find("registration", {"project_id": project_id},
                              registration.get("tx_id"), first_report)
        att_id = project.get("validation_attestation")
        att = self._record(attestation_key(str(att_id)))
        val_h, _ = self._find("validation", {"attestation_id": att_id},
                              None if att is None else att.get("tx_id"), reg_h)
        plots: list[str] = list(project.get("plots") or [])
        first_plot = self._record(plot_key(plots[0])) if plots else None
        sub_h, _ = self._find("project_submission", {"project_id": project_id},
                              None if first_plot is None else first_plot.get("tx_id"), val_h)
        index, upto = self.b.index, self.b.indexed_upto()
        for plot_id in plots:
            indexed = None if index is None else index.plot_registration(plot_id)
            # a plot the index does not name was not registered in blocks 1..upto
            floor = min(upto, sub_h) if indexed is None else 0
            plot = self._record(plot_key(plot_id))
            hint = plot.get("created_tx_id") if isinstance(plot, dict) else None
            self._find("plot_registration", {"plot_id": plot_id}, hint, sub_h, indexed, floor)

    def _custody(self, ranges: Iterable[Mapping[str, Any]]) -> None:
        for r in ranges:
            unit = self._record(unit_key(r["project_id"], r["first"]))
            if not isinstance(unit, dict) or unit.get("last") != r["last"]:
                continue
            self._custody_steps(unit, proven=False)

    def _custody_steps(self, unit: Mapping[str, Any], *, proven: bool) -> None:
        """Add every custody step of ``unit``'s history as an entry. A step of a proven
        record (version 2) must be a transaction of its role's methods; version 1 skips
        any other."""
        for step in unit.get("history") or []:
            role = CUSTODY_ACTIONS.get(step.get("action"))
            tx_id = step.get("tx_id")
            if role is None or tx_id in self.found:
                continue
            loc = self.store.get_tx_location(tx_id)
            if loc is None:
                raise CertificateUnavailable(f"custody step {tx_id} is not in any block")
            if loc[1] < self._block(loc[0]).size and self._tx(*loc).method in ROLE_METHODS[role]:
                self._add(role, *loc)
            elif proven:
                raise CertificateUnavailable(f"custody step {tx_id} is not a {role}")

    def _custody_proven(self, ranges: Iterable[Mapping[str, Any]], anchor: int) -> None:
        """Version 2: each retired range's unit record at the retirement's height, with its
        state-tree proof, and every custody step of its history as an entry."""
        base = self.b._snapshot_base()
        if base is not None and anchor < int(base["height"]):
            raise CertificateUnavailable(
                f"this node started from a state-sync snapshot at block {base['height']} and "
                f"keeps no state from before it; a version 2 certificate proves the state "
                f"after block {anchor}: ask a node that replayed the chain from the genesis, "
                "or ask this one for version 1 (?version=1)"
            )
        tree = self.store.state_tree
        root = bytes.fromhex(self._block(anchor).header.state_root)
        for r in ranges:
            key = unit_key(r["project_id"], r["first"])
            try:
                raw = tree.get(key.encode("utf-8"), anchor)
                proof = tree.prove(key.encode("utf-8"), anchor)
            except StateTreeError as exc:
                raise CertificateUnavailable(f"state tree at block {anchor}: {exc.message}") from None
            if raw is None:
                raise CertificateUnavailable(f"the state after block {anchor} has no {key}")
            unit = decode(raw)
            if canonical(unit) != raw or not verify_state_proof(root, key.encode("utf-8"), raw, proof):
                raise CertificateUnavailable(f"{key}: the stored record is not proven by block"
                                             f" {anchor}'s state_root")
            if not isinstance(unit, dict) or unit.get("last") != r["last"]:
                raise CertificateUnavailable(f"{key} is not the retired range {r['first']}..{r['last']}")
            self.proofs.append(custody_proof_item(key, unit, proof))
            self._custody_steps(unit, proven=True)


def certificate_bytes(cert: Mapping[str, Any]) -> bytes:
    """The canonical JSON bytes of a certificate (what the RPC serves)."""
    return canonical(cert)

