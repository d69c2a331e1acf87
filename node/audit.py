"""Re-verify a chain from its genesis, as an auditor who trusts nothing but the genesis.

Two checks (docs/audit.md):

* **Full audit** (:func:`audit_chain`, :func:`run_audit`): every block from height 1 is
  checked against the previous one and re-executed through the chaincode on a fresh
  in-memory state that starts from the genesis writes. The validator set that must sign
  each block is tracked by replaying (``validator_set_for(state, h)``), so every commit
  certificate is checked against the set that the chain itself put in force. The result
  is a report (blocks, transactions, failed transactions, final height, state root,
  history root) or the *first* discrepancy: height, check name, expected, found.
* **Checkpoint check** (:func:`verify_checkpoint`): an auditor who kept a checkpoint
  ``(h, r)`` -- ``r`` is the RFC 9162 root over the hashes of blocks ``1..h``, which is
  ``header(h + 1).history_root`` -- checks that today's chain extends it, with one
  consistency proof and the latest header (and its commit), without downloading blocks.

Blocks come from a :class:`StoreSource` (a node's data folder) or a :class:`NodeSource`
(a node's HTTP API). Memory is bounded apart from the replayed state, the history tree
(two hashes per block at most) and the set of transaction ids seen (for the replay
check); sources hold at most a few blocks at a time.

Errors: a chain that does not verify gives a :class:`Discrepancy` in the report (never an
exception); an audit that cannot run (node unreachable, store in use, bad checkpoint)
raises :class:`AuditError` with a stable code.
"""

from __future__ import annotations

import json
import queue
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx

from chaincode.executor import Executor, validator_set_for
from chaincode.framework import BlockContext
from ledger.block import Block, CommitCertificate, txs_root
from ledger.crypto import is_hex_digest
from ledger.encoding import CanonicalEncodingError, canonical, decode
from ledger.errors import LedgerError, TxError
from ledger.genesis import Genesis
from ledger.merkle import EMPTY_ROOT, AppendOnlyMerkleTree, merkle_root, verify_consistency
from ledger.state import MemoryState, Overlay, genesis_state_root, next_state_root
from ledger.store import Store
from ledger.validators import ValidatorSet

__all__ = [
    "CHECKS",
    "AuditError",
    "AuditProgress",
    "AuditReport",
    "ChainAuditor",
    "ChainDataError",
    "ChainSource",
    "Checkpoint",
    "CheckpointReport",
    "Discrepancy",
    "NodeSource",
    "StoreSource",
    "audit_chain",
    "open_source",
    "run_audit",
    "verify_checkpoint",
]

# The checks, in the order they run for each block (docs/audit.md). Stable names.
CHECKS: tuple[str, ...] = (
    "genesis",  # height 0: the source's genesis hash and chain id are the given genesis's
    "block_missing",  # the source has no block at a height up to its latest
    "block_format",  # the block or its certificate does not parse
    "height",  # heights are consecutive from 1
    "chain_id",  # header chain id is the genesis chain id
    "prev_hash",  # header links to the previous block (the genesis hash for block 1)
    "time",  # time strictly increases (block 1: after the genesis time)
    "commit_height",  # the certificate is for this height
    "commit_block_hash",  # the certificate is for this block
    "validators_hash",  # header names the set in force at this height (from the replay)
    "proposer",  # the proposer is a member of that set
    "commit_signatures",  # distinct members with > 2/3 of the power signed the precommit
    "history_root",  # root over the hashes of blocks 1..h-1
    "txs_root",  # root over the block's transactions
    "results_root",  # root over the block's results
    "tx_signature",  # every transaction is signed by all its signers
    "duplicate_tx",  # no transaction id appears twice in the chain
    "results",  # re-executed results equal the block's
    "state_root",  # re-executed state root equals the header's
    "next_validators_hash",  # the set for h+1 after executing h equals the header's
    "block_hash",  # the hash the source indexes/reports for the block is its header's hash
    "tx_index",  # data folder only: the store's tx id -> (height, index) index is right
    "stored_state",  # data folder only, after the last block: the store's state = replay
    "chain_length",  # checkpoint check: the chain is longer than the checkpoint
    "checkpoint_root",  # checkpoint check: the node's old root is the checkpoint's root
    "history_consistency",  # checkpoint check: the consistency proof verifies
)

DEFAULT_TIMEOUT_S = 30.0
DEFAULT_PREFETCH = 4
MAX_RESPONSE_BYTES = 512 * 1024 * 1024
_MAX_SHOWN = 240
_CHECKPOINT_RE = re.compile(r"^([0-9]{1,18}):([0-9a-f]{64})\Z")


# ----------------------------------------------------------------------------- results


def _short(value: Any) -> str:
    """``value`` as text, cut to a readable length."""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 1] + "…"


@dataclass(frozen=True)
class Discrepancy:
    """The first thing found wrong: at ``height`` the check ``check`` expected ``expected``
    and found ``found``."""

    height: int
    check: str
    expected: str
    found: str
    detail: str = ""

    def message(self) -> str:
        text = f"height {self.height}: {self.check}: expected {self.expected}, found {self.found}"
        return f"{text} ({self.detail})" if self.detail else text

    def to_json(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "detail": self.detail,
            "expected": self.expected,
            "found": self.found,
            "height": self.height,
        }


class ChainDataError(Exception):
    """Raised by a source for data that fails a check; the audit turns it into its
    discrepancy."""

    def __init__(self, discrepancy: Discrepancy) -> None:
        super().__init__(discrepancy.message())
        self.discrepancy = discrepancy


class AuditError(LedgerError):
    """The audit could not run. Codes: ``node_unreachable``, ``node_timeout``,
    ``node_error``, ``bad_response``, ``response_too_large``, ``history_unsupported``,
    ``no_store``, ``store_locked``, ``not_initialised``, ``bad_checkpoint``,
    ``checkpoint_mismatch``, ``checkpoint_too_new``, ``validator_set_changed``,
    ``bad_source``."""


@dataclass(frozen=True)
class AuditProgress:
    """Where a running audit is: ``height`` done out of ``target`` (None if unknown)."""

    height: int
    target: int | None
    txs: int
    seconds: float


@dataclass
class AuditReport:
    """The outcome of a full audit. ``ok`` iff ``discrepancy`` is None; the other fields
    describe the chain up to the last block that verified."""

    chain_id: str
    genesis_hash: str
    blocks: int = 0
    txs: int = 0
    failed_txs: int = 0
    final_height: int = 0
    final_block_hash: str = ""
    final_state_root: str = ""
    history_root: str = EMPTY_ROOT.hex()  # root over blocks 1..final_height
    next_validators: ValidatorSet | None = None  # the set that signs final_height + 1
    seconds: float = 0.0
    discrepancy: Discrepancy | None = None
    source: str = ""

    @property
    def ok(self) -> bool:
        return self.discrepancy is None

    def checkpoint(self) -> Checkpoint:
        """The checkpoint ``(final_height, history_root)`` this audit established."""
        return Checkpoint(
            height=self.final_height,
            history_root=self.history_root,
            chain_id=self.chain_id,
            genesis_hash=self.genesis_hash,
            block_hash=self.final_block_hash,
            validators=self.next_validators,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "blocks": self.blocks,
            "chain_id": self.chain_id,
            "discrepancy": None if self.discrepancy is None else self.discrepancy.to_json(),
            "failed_txs": self.failed_txs,
            "final_block_hash": self.final_block_hash,
            "final_height": self.final_height,
            "final_state_root": self.final_state_root,
            "genesis_hash": self.genesis_hash,
            "history_root": self.history_root,
            "ok": self.ok,
            "seconds": round(self.seconds, 3),
            "source": self.source,
            "txs": self.txs,
        }


# ----------------------------------------------------------------------------- checkpoints


@dataclass(frozen=True)
class Checkpoint:
    """``(height, history_root)``: ``history_root`` is the RFC 9162 root over the hashes of
    blocks ``1..height`` (``header(height + 1).history_root``; the empty-tree root for
    height 0). The other fields are optional context written by ``--write-checkpoint``;
    ``validators`` is the set that signs block ``height + 1``, as the full audit that wrote
    the checkpoint established it."""

    height: int
    history_root: str
    chain_id: str | None = None
    genesis_hash: str | None = None
    block_hash: str | None = None
    validators: ValidatorSet | None = None

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """``HEIGHT:HISTORY_ROOT`` (lowercase hex)."""
        match = _CHECKPOINT_RE.match(text.strip().lower())
        if match is None:
            raise AuditError(
                "bad_checkpoint",
                f"{text!r} is not HEIGHT:HISTORY_ROOT (a whole number, a colon, 64 hex digits) "
                "nor a checkpoint file",
            )
        return cls(height=int(match.group(1)), history_root=match.group(2))

    @classmethod
    def from_json(cls, obj: Any) -> Checkpoint:
        if not isinstance(obj, Mapping):
            raise AuditError("bad_checkpoint", "a checkpoint file holds a JSON object")
        height, root = obj.get("height"), obj.get("history_root")
        if type(height) is not int or height < 0 or not is_hex_digest(root):
            raise AuditError(
                "bad_checkpoint", "a checkpoint has a whole-number height and a hex history_root"
            )
        texts: dict[str, str | None] = {}
        for name in ("chain_id", "genesis_hash", "block_hash"):
            value = obj.get(name)
            if value is not None and not isinstance(value, str):
                raise AuditError("bad_checkpoint", f"checkpoint {name} must be a string")
            texts[name] = value
        validators = None
        if obj.get("validators") is not None:
            try:
                validators = ValidatorSet.from_json(obj["validators"])
            except LedgerError as exc:
                raise AuditError("bad_checkpoint", f"checkpoint validators: {exc.message}") from None
        return cls(height=height, history_root=root, validators=validators, **texts)

    @classmethod
    def load(cls, path: str | Path) -> Checkpoint:
        try:
            data = Path(path).read_bytes()[: 1024 * 1024]
        except OSError as exc:
            raise AuditError("bad_checkpoint", f"cannot read {path}: {exc.strerror}") from None
        try:
            return cls.from_json(decode(data))
        except CanonicalEncodingError as exc:
            raise AuditError("bad_checkpoint", f"{path}: {exc}") from None

    @classmethod
    def from_argument(cls, text: str) -> Checkpoint:
        """``HEIGHT:HISTORY_ROOT``, or the path of a file written by ``--write-checkpoint``."""
        if _CHECKPOINT_RE.match(text.strip().lower()):
            return cls.parse(text)
        if Path(text).is_file():
            return cls.load(text)
        return cls.parse(text)

    def to_json(self) -> dict[str, Any]:
        return {
            "block_hash": self.block_hash,
            "chain_id": self.chain_id,
            "genesis_hash": self.genesis_hash,
            "height": self.height,
            "history_root": self.history_root,
            "validators": None if self.validators is None else self.validators.to_json(),
        }

    def dump(self, path: str | Path) -> None:
        """Write the checkpoint as pretty JSON (via a temporary file and a rename)."""
        target = Path(path)
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=2, sort_keys=True) + "\n")
        tmp.replace(target)


# ----------------------------------------------------------------------------- the auditor


class _Fail(Exception):
    def __init__(self, check: str, expected: Any, found: Any, detail: str = "") -> None:
        super().__init__(check)
        self.check = check
        self.expected = _short(expected)
        self.found = _short(found)
        self.detail = detail


def _expect(check: str, expected: Any, found: Any, detail: str = "") -> None:
    if expected != found:
        raise _Fail(check, expected, found, detail)


class ChainAuditor:
    """Replays a chain block by block. :meth:`check_block` verifies the next block and
    advances, or raises :class:`ChainDataError` with the discrepancy (and does not
    advance)."""

    def __init__(self, genesis: Genesis, executor: Executor | None = None) -> None:
        self.genesis = genesis
        self.chain_id = genesis.chain_id
        self.executor = executor if executor is not None else Executor()
        try:
            writes = self.executor.genesis_writes(genesis)
        except ValueError as exc:
            raise AuditError("bad_genesis", f"the chaincode refuses this genesis: {exc}") from None
        self.state = MemoryState((k, v) for k, v in writes if v is not None)
        self.state_root = next_state_root(genesis_state_root(genesis.hash), writes)
        self.history = AppendOnlyMerkleTree()
        self.height = 0
        self.block_hash = genesis.hash
        self.time = genesis.genesis_time
        self.validators = validator_set_for(self.state, 1)
        self.txs = 0
        self.failed_txs = 0
        self._tx_ids: set[bytes] = set()

    def check_block(
        self, block: Block, commit: CommitCertificate, claimed_hash: str | None = None
    ) -> None:
        """Verify ``block`` (with ``commit``) as block ``height + 1`` and advance.
        ``claimed_hash`` is the hash the source indexes or reports for the block; checked
        last, so that a changed block is reported by the check that explains it."""
        height = self.height + 1
        try:
            self._check(height, block, commit, claimed_hash)
        except _Fail as fail:
            raise ChainDataError(
                Discrepancy(height, fail.check, fail.expected, fail.found, fail.detail)
            ) from None

    def _check(
        self, height: int, block: Block, commit: CommitCertificate, claimed_hash: str | None
    ) -> None:
        header = block.header
        _expect("height", height, header.height)
        _expect("chain_id", self.chain_id, header.chain_id)
        _expect("prev_hash", self.block_hash, header.prev_hash)
        if header.time <= self.time:
            raise _Fail("time", f"a time after {self.time}", header.time)
        block_hash = header.hash()
        _expect("commit_height", height, commit.height)
        _expect("commit_block_hash", block_hash, commit.block_hash)
        validators = self.validators
        _expect("validators_hash", validators.hash(), header.validators_hash)
        if validators.power_of(header.proposer) == 0:
            raise _Fail("proposer", "a member of the validator set", header.proposer)
        try:
            commit.verify(self.chain_id, validators)
        except LedgerError as exc:
            raise _Fail(
                "commit_signatures",
                "precommits of more than 2/3 of the power",
                exc.code,
                exc.message,
            ) from None
        _expect("history_root", self.history.root().hex(), header.history_root)
        _expect("txs_root", txs_root(block.txs), header.txs_root)
        found_results = [canonical(r) for r in block.results]
        _expect("results_root", merkle_root(found_results).hex(), header.results_root)
        fresh: set[bytes] = set()
        for index, tx in enumerate(block.txs):
            try:
                tx.verify_signatures()
            except TxError as exc:
                raise _Fail("tx_signature", "valid signatures", exc.code,
                            f"transaction {index} ({tx.tx_id}): {exc.message}") from None
            raw_id = bytes.fromhex(tx.tx_id)
            if raw_id in self._tx_ids or raw_id in fresh:
                raise _Fail("duplicate_tx", "a transaction id not seen before", tx.tx_id,
                            f"transaction {index}")
            fresh.add(raw_id)
        ctx = BlockContext(
            chain_id=self.chain_id, height=height, time=header.time, proposer=header.proposer
        )
        execution = self.executor.execute_block(self.state, ctx, block.txs)
        expected_results = [canonical(r) for r in execution.results]
        for index, (want, got) in enumerate(zip(expected_results, found_results, strict=True)):
            if want != got:
                raise _Fail("results", want.decode(), got.decode(), f"result of transaction {index}")
        writes = list(execution.writes)
        _expect("state_root", next_state_root(self.state_root, writes), header.state_root)
        after = Overlay(self.state)  # the state after this block, without committing it yet
        for key, value in writes:
            if value is None:
                after.delete(key)
            else:
                after.put(key, value)
        try:
            next_set = validator_set_for(after, height + 1)
        except (LookupError, LedgerError) as exc:  # the state itself is broken: say so
            raise _Fail("next_validators_hash", header.next_validators_hash,
                        f"no valid set: {exc}") from None
        _expect("next_validators_hash", next_set.hash(), header.next_validators_hash)
        if claimed_hash is not None and claimed_hash != block_hash:
            raise _Fail("block_hash", block_hash, claimed_hash,
                        "the hash the source indexes or reports for this height")
        # Every check passed: advance.
        self.state.apply(writes)
        self.history.append(bytes.fromhex(block_hash))
        self._tx_ids |= fresh
        self.height = height
        self.block_hash = block_hash
        self.time = header.time
        self.state_root = header.state_root
        self.validators = next_set
        self.txs += len(block.txs)
        self.failed_txs += sum(1 for r in block.results if r.get("code") != "ok")

    def fill(self, report: AuditReport) -> AuditReport:
        """Copy where the replay stands into ``report``."""
        report.blocks = self.height
        report.txs = self.txs
        report.failed_txs = self.failed_txs
        report.final_height = self.height
        report.final_block_hash = self.block_hash
        report.final_state_root = self.state_root
        report.history_root = self.history.root().hex()
        report.next_validators = self.validators
        return report


ProgressCallback = Callable[[AuditProgress], None]
SourcedBlock = tuple[Block, CommitCertificate, str]
"""A block, its commit certificate and the hash the source indexes or reports for it."""
BlockItem = tuple[Block, CommitCertificate] | SourcedBlock


def _replay(
    auditor: ChainAuditor,
    blocks: Iterable[BlockItem],
    report: AuditReport,
    *,
    progress: ProgressCallback | None,
    progress_every: int,
    target_height: int | None,
    started: float,
) -> AuditReport:
    iterator = iter(blocks)
    try:
        for item in iterator:
            auditor.check_block(*item)
            if progress is not None and progress_every > 0 and auditor.height % progress_every == 0:
                progress(AuditProgress(auditor.height, target_height, auditor.txs,
                                       time.monotonic() - started))
    except ChainDataError as exc:
        report.discrepancy = exc.discrepancy
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            close()  # stop a source's prefetching at once
    auditor.fill(report)
    if report.ok and target_height is not None and auditor.height != target_height:
        report.discrepancy = Discrepancy(
            auditor.height + 1, "block_missing", f"blocks up to {target_height}",
            f"blocks up to {auditor.height}",
        )
    report.seconds = time.monotonic() - started
    return report


def audit_chain(
    blocks: Iterable[BlockItem],
    genesis: Genesis,
    *,
    progress: ProgressCallback | None = None,
    progress_every: int = 1000,
    target_height: int | None = None,
    executor: Executor | None = None,
) -> AuditReport:
    """Verify ``blocks`` (heights 1, 2, ... in order, each with its commit certificate)
    from ``genesis``. Stops at the first discrepancy, which the report carries.

    ``progress`` is called every ``progress_every`` blocks. ``target_height``, if given, is
    how many blocks the chain has: fewer is a ``block_missing`` discrepancy. The iterable
    may raise :class:`ChainDataError` for data it cannot deliver as a block."""
    started = time.monotonic()
    report = AuditReport(chain_id=genesis.chain_id, genesis_hash=genesis.hash)
    auditor = ChainAuditor(genesis, executor)
    return _replay(auditor, blocks, report, progress=progress, progress_every=progress_every,
                   target_height=target_height, started=started)


# ----------------------------------------------------------------------------- sources


@dataclass(frozen=True)
class HistoryProof:
    """A consistency proof as a source serves it; the roots are the source's claims."""

    old_size: int
    new_size: int
    old_root: str
    new_root: str
    proof: list[bytes]


class ChainSource(Protocol):
    """Where blocks come from."""

    def describe(self) -> str: ...

    def identity(self) -> tuple[str | None, str]:
        """(genesis hash, chain id) as the source states them."""
        ...

    def latest_height(self) -> int: ...

    def tip_validators(self) -> tuple[int, ValidatorSet]:
        """(latest height H, the set the source says signs block H + 1)."""
        ...

    def block(self, height: int) -> SourcedBlock: ...

    def blocks(self, start: int, end: int) -> Iterator[SourcedBlock]: ...

    def consistency(self, old_size: int, new_size: int) -> HistoryProof: ...

    def final_check(self, auditor: ChainAuditor) -> Discrepancy | None: ...

    def close(self) -> None: ...


def _parse_pair(height: int, block_obj: Any, commit_obj: Any) -> tuple[Block, CommitCertificate]:
    try:
        block = Block.from_json(block_obj)
    except LedgerError as exc:
        raise ChainDataError(
            Discrepancy(height, "block_format", "a well-formed block", exc.code, exc.message)
        ) from None
    try:
        commit = CommitCertificate.from_json(commit_obj)
    except LedgerError as exc:
        raise ChainDataError(
            Discrepancy(height, "block_format", "a well-formed commit certificate", exc.code,
                        exc.message)
        ) from None
    return block, commit


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise ValueError("duplicate object key")
    return out


def _no_float(text: str) -> Any:
    raise ValueError(f"floats are not allowed (found {text})")


def _decode(height: int, raw: bytes, what: str) -> Any:
    """Strict JSON (no floats, NaN or duplicate keys). Unlike ``ledger.encoding.decode`` it
    does not walk the whole value again: every part of a block that is hashed or signed is
    canonically encoded by the checks that follow, which refuse what canonical form
    refuses."""
    try:
        return json.loads(raw, parse_float=_no_float, parse_constant=_no_float,
                          object_pairs_hook=_no_duplicates)
    except (ValueError, RecursionError) as exc:
        raise ChainDataError(
            Discrepancy(height, "block_format", f"valid JSON for the {what}", "invalid JSON",
                        str(exc)[:200])
        ) from None


def _missing(height: int, latest: int) -> ChainDataError:
    return ChainDataError(
        Discrepancy(height, "block_missing", f"block {height} (latest is {latest})", "nothing")
    )


class StoreSource:
    """Blocks from a node's LevelDB data folder. LevelDB allows one process: while the
    node runs, opening fails with ``store_locked`` (audit the running node over HTTP)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._tree: AppendOnlyMerkleTree | None = None

    @classmethod
    def open(cls, data_dir: str | Path) -> StoreSource:
        path = Path(data_dir).expanduser()
        if not (path / "CURRENT").is_file():
            raise AuditError("no_store", f"{path} is not a node data folder (no LevelDB store)")
        try:
            store = Store(path)
        except LedgerError as exc:
            if exc.code == "store_locked":
                raise AuditError(
                    "store_locked",
                    f"the store {path} is in use, probably by the running node; stop the node "
                    "or audit it over HTTP instead: fcl audit --node URL --genesis ...",
                ) from None
            raise AuditError("no_store", exc.message) from None
        if not store.initialised:
            store.close()
            raise AuditError("not_initialised", f"the store {path} has no genesis")
        return cls(store)

    def describe(self) -> str:
        return f"data folder {self.store.path}"

    def identity(self) -> tuple[str | None, str]:
        return self.store.genesis_hash(), self.store.chain_id()

    def latest_height(self) -> int:
        return self.store.latest_height()

    def tip_validators(self) -> tuple[int, ValidatorSet]:
        height = self.store.latest_height()
        return height, validator_set_for(self.store, height + 1)

    def block(self, height: int) -> SourcedBlock:
        raw_block = self.store.get_block_json(height)
        raw_commit = self.store.get_commit_json(height)
        if raw_block is None or raw_commit is None:
            raise _missing(height, self.store.latest_height())
        block, commit = _parse_pair(
            height, _decode(height, raw_block, "block"), _decode(height, raw_commit, "commit")
        )
        return block, commit, str(self.store.get_block_hash(height))

    def blocks(self, start: int, end: int) -> Iterator[SourcedBlock]:
        """Blocks ``start..end``. Once the auditor has accepted a block (the generator is
        resumed), the store's transaction index for it is checked too: the node refuses
        a replayed transaction by that index. An index entry pointing to a later block is
        checked after the last block, so that a transaction committed twice is reported
        as ``duplicate_tx`` where it repeats."""
        later: list[tuple[int, int, str, tuple[int, int]]] = []

        def wrong(height: int, index: int, tx_id: str, location: object) -> ChainDataError:
            return ChainDataError(Discrepancy(
                height, "tx_index", f"({height}, {index})", str(location),
                f"the store's location of transaction {tx_id}",
            ))

        for height in range(start, end + 1):
            item = self.block(height)
            yield item
            for index, tx in enumerate(item[0].txs):
                location = self.store.get_tx_location(tx.tx_id)
                if location is not None and location[0] > height:
                    later.append((height, index, tx.tx_id, location))
                elif location != (height, index):
                    raise wrong(height, index, tx.tx_id, location)
        if later:
            raise wrong(*later[0])

    def consistency(self, old_size: int, new_size: int) -> HistoryProof:
        if self._tree is None or self._tree.size != self.store.latest_height():
            tree = AppendOnlyMerkleTree()
            for block_hash in self.store.block_hashes():
                tree.append(block_hash)
            self._tree = tree
        tree = self._tree
        if not 0 <= old_size <= new_size <= tree.size:
            raise AuditError("bad_source", f"sizes {old_size}..{new_size} beyond {tree.size}")
        return HistoryProof(
            old_size, new_size, tree.root_at(old_size).hex(), tree.root_at(new_size).hex(),
            tree.consistency_proof(old_size, new_size),
        )

    def final_check(self, auditor: ChainAuditor) -> Discrepancy | None:
        """The store's state equals the replayed state, key by key (a value changed in the
        database behind the chain's back is found here)."""
        if self.store.state_root() != auditor.state_root:
            return Discrepancy(auditor.height, "stored_state", auditor.state_root,
                               self.store.state_root(), "the store's latest state root")
        mine = iter(auditor.state.items())
        theirs = self.store.iter_prefix("")
        sentinel = ("\uffff" * 4, b"")
        while True:
            a = next(mine, None)
            b = next(theirs, None)
            if a is None and b is None:
                return None
            if a != b:
                ka, kb = (a or sentinel)[0], (b or sentinel)[0]
                key = min(ka, kb)
                want = auditor.state.get(key)
                got = self.store.get(key)
                return Discrepancy(
                    auditor.height, "stored_state",
                    "absent" if want is None else _short(want.decode("utf-8", "replace")),
                    "absent" if got is None else _short(got.decode("utf-8", "replace")),
                    f"state key {key!r}",
                )

    def close(self) -> None:
        self.store.close()


def _error_of(resp: httpx.Response, body: bytes) -> tuple[str, str]:
    try:
        err = json.loads(body)["error"]
        return str(err["code"]), str(err["message"])
    except (ValueError, KeyError, TypeError):
        return "http_error", body[:200].decode("utf-8", "replace")


class NodeSource:
    """Blocks from a node's HTTP API (``GET /v1/status``, ``/v1/blocks/{h}``,
    ``/v1/history/consistency``). One request per block on a kept-alive connection; a
    background thread fetches up to ``prefetch`` blocks ahead while the auditor replays
    (``prefetch=0``: no thread). Transport errors are retried twice."""

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        prefetch: int = DEFAULT_PREFETCH,
        client: httpx.Client | None = None,
        retries: int = 2,
    ) -> None:
        url = url.rstrip("/")
        if client is None and not re.match(r"^https?://[^/\s]+", url):
            raise AuditError("bad_source", f"{url!r} is not an http:// or https:// URL")
        self.url = url
        self.prefetch = max(0, prefetch)
        self.retries = retries
        self._own_client = client is None
        self.client = client if client is not None else httpx.Client(timeout=timeout_s)
        self._status: dict[str, Any] | None = None

    # -- http --------------------------------------------------------------------------------
    def _get(self, path: str) -> tuple[int, bytes, httpx.Response]:
        target = f"{self.url}{path}"
        attempt = 0
        while True:
            try:
                with self.client.stream("GET", target) as resp:
                    chunks: list[bytes] = []
                    size = 0
                    for chunk in resp.iter_bytes():
                        size += len(chunk)
                        if size > MAX_RESPONSE_BYTES:
                            raise AuditError(
                                "response_too_large", f"GET {path}: more than {MAX_RESPONSE_BYTES} bytes"
                            )
                        chunks.append(chunk)
                    return resp.status_code, b"".join(chunks), resp
            except httpx.TimeoutException as exc:
                if attempt >= self.retries:
                    raise AuditError(
                        "node_timeout", f"GET {target}: no answer in time ({type(exc).__name__})"
                    ) from None
            except httpx.TransportError as exc:
                if attempt >= self.retries:
                    raise AuditError(
                        "node_unreachable", f"cannot reach {target}: {exc or type(exc).__name__}"
                    ) from None
            attempt += 1
            time.sleep(0.2 * attempt)

    def _get_json(self, path: str) -> Any:
        status, body, resp = self._get(path)
        if status != 200:
            code, message = _error_of(resp, body)
            raise AuditError("node_error", f"GET {path}: HTTP {status} {code}: {message}")
        try:
            return json.loads(body)
        except ValueError:
            raise AuditError("bad_response", f"GET {path}: the answer is not JSON") from None

    def status(self, *, refresh: bool = False) -> dict[str, Any]:
        if self._status is None or refresh:
            obj = self._get_json("/v1/status")
            if not isinstance(obj, dict) or type(obj.get("height")) is not int:
                raise AuditError("bad_response", "GET /v1/status: no height in the answer")
            self._status = obj
        return self._status

    # -- ChainSource -------------------------------------------------------------------------
    def describe(self) -> str:
        return f"node {self.url}"

    def identity(self) -> tuple[str | None, str]:
        status = self.status()
        return status.get("genesis_hash"), str(status.get("chain_id"))

    def latest_height(self) -> int:
        return int(self.status()["height"])

    def tip_validators(self) -> tuple[int, ValidatorSet]:
        status = self.status(refresh=True)
        try:
            return int(status["height"]), ValidatorSet.from_json(status.get("validators"))
        except LedgerError as exc:
            raise AuditError("bad_response", f"GET /v1/status: validators: {exc.message}") from None

    def _raw_block(self, height: int) -> bytes:
        path = f"/v1/blocks/{height}"
        status, body, resp = self._get(path)
        if status == 404 and _error_of(resp, body)[0] == "unknown_block":
            raise _missing(height, self.latest_height())
        if status != 200:
            code, message = _error_of(resp, body)
            raise AuditError("node_error", f"GET {path}: HTTP {status} {code}: {message}")
        return body

    def _parse(self, height: int, raw: bytes) -> SourcedBlock:
        obj = _decode(height, raw, "block response")
        if not isinstance(obj, dict) or not {"block", "commit", "hash", "height"} <= set(obj):
            raise ChainDataError(
                Discrepancy(height, "block_format", '{"block", "commit", "hash", "height"}',
                            _short(sorted(obj) if isinstance(obj, dict) else type(obj).__name__))
            )
        block, commit = _parse_pair(height, obj["block"], obj["commit"])
        return block, commit, _short(obj["hash"])

    def block(self, height: int) -> SourcedBlock:
        return self._parse(height, self._raw_block(height))

    def blocks(self, start: int, end: int) -> Iterator[SourcedBlock]:
        if self.prefetch == 0:
            for height in range(start, end + 1):
                yield self.block(height)
            return
        if end < start:
            return
        pipe: queue.Queue[tuple[int, bytes | None, BaseException | None]] = queue.Queue(
            maxsize=self.prefetch
        )
        stop = threading.Event()

        def put(item: tuple[int, bytes | None, BaseException | None]) -> bool:
            while not stop.is_set():
                try:
                    pipe.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        def fetch() -> None:
            for height in range(start, end + 1):
                if stop.is_set():
                    return
                try:
                    item: tuple[int, bytes | None, BaseException | None] = (
                        height, self._raw_block(height), None)
                except BaseException as exc:  # delivered to the consumer, who re-raises
                    put((height, None, exc))
                    return
                if not put(item):
                    return

        worker = threading.Thread(target=fetch, name="audit-fetch", daemon=True)
        worker.start()
        try:
            for _ in range(start, end + 1):
                height, raw, error = pipe.get()
                if error is not None:
                    raise error
                assert raw is not None
                yield self._parse(height, raw)
        finally:
            stop.set()
            worker.join(timeout=DEFAULT_TIMEOUT_S)

    def consistency(self, old_size: int, new_size: int) -> HistoryProof:
        path = f"/v1/history/consistency?old_size={old_size}&new_size={new_size}"
        status, body, resp = self._get(path)
        if status == 404 and _error_of(resp, body)[0] == "not_found":
            raise AuditError(
                "history_unsupported",
                f"{self.url} does not serve /v1/history/consistency; run a full audit instead",
            )
        if status != 200:
            code, message = _error_of(resp, body)
            raise AuditError("node_error", f"GET {path}: HTTP {status} {code}: {message}")
        try:
            obj = json.loads(body)
            proof = obj["proof"]
            if (
                obj["old_size"] != old_size
                or obj["new_size"] != new_size
                or not is_hex_digest(obj["old_root"])
                or not is_hex_digest(obj["new_root"])
                or not isinstance(proof, list)
                or len(proof) > 128
                or not all(is_hex_digest(p) for p in proof)
            ):
                raise ValueError("fields")
        except (ValueError, KeyError, TypeError):
            raise AuditError(
                "bad_response", f"GET {path}: not a consistency proof for these sizes"
            ) from None
        return HistoryProof(old_size, new_size, obj["old_root"], obj["new_root"],
                            [bytes.fromhex(p) for p in proof])

    def final_check(self, auditor: ChainAuditor) -> Discrepancy | None:
        return None

    def close(self) -> None:
        if self._own_client:
            self.client.close()


def open_source(
    *, node: str | None = None, data: str | Path | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S, prefetch: int = DEFAULT_PREFETCH,
) -> StoreSource | NodeSource:
    """A source from exactly one of ``node`` (URL) and ``data`` (data folder)."""
    if (node is None) == (data is None):
        raise AuditError("bad_source", "give exactly one of a node URL and a data folder")
    if node is not None:
        return NodeSource(node, timeout_s=timeout_s, prefetch=prefetch)
    assert data is not None
    return StoreSource.open(data)


def _genesis_discrepancy(source: ChainSource, genesis: Genesis) -> Discrepancy | None:
    genesis_hash, chain_id = source.identity()
    if genesis_hash != genesis.hash:
        return Discrepancy(0, "genesis", genesis.hash, str(genesis_hash),
                           f"{source.describe()} holds another chain")
    if chain_id != genesis.chain_id:
        return Discrepancy(0, "genesis", genesis.chain_id, chain_id, "chain id")
    return None


def run_audit(
    source: ChainSource,
    genesis: Genesis,
    *,
    progress: ProgressCallback | None = None,
    progress_every: int = 1000,
    to_height: int | None = None,
    executor: Executor | None = None,
) -> AuditReport:
    """Full audit of ``source`` from the genesis to its latest block as of the start (or
    ``to_height``). A data folder's stored state is also compared with the replay."""
    started = time.monotonic()
    report = AuditReport(chain_id=genesis.chain_id, genesis_hash=genesis.hash,
                         source=source.describe())
    auditor = ChainAuditor(genesis, executor)
    wrong = _genesis_discrepancy(source, genesis)
    if wrong is not None:
        report.discrepancy = wrong
        auditor.fill(report)
        report.seconds = time.monotonic() - started
        return report
    latest = source.latest_height()
    target = latest if to_height is None else min(to_height, latest)
    if to_height is not None and to_height > latest:
        raise AuditError("bad_source", f"{source.describe()} has {latest} blocks, not {to_height}")
    _replay(auditor, source.blocks(1, target), report, progress=progress,
            progress_every=progress_every, target_height=target, started=started)
    if report.ok and target == latest:
        report.discrepancy = source.final_check(auditor)
    report.seconds = time.monotonic() - started
    return report


# ----------------------------------------------------------------------------- checkpoints


@dataclass
class CheckpointReport:
    """The outcome of a checkpoint check. ``new_checkpoint`` is ``(H - 1,
    header(H).history_root)``, which the verified latest header commits to."""

    checkpoint: Checkpoint
    latest_height: int = 0
    latest_block_hash: str = ""
    history_root: str = ""
    validator_set_source: str = ""  # "checkpoint", "genesis" or "node"
    seconds: float = 0.0
    discrepancy: Discrepancy | None = None
    new_checkpoint: Checkpoint | None = None
    source: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.discrepancy is None

    def to_json(self) -> dict[str, Any]:
        return {
            "checkpoint": self.checkpoint.to_json(),
            "discrepancy": None if self.discrepancy is None else self.discrepancy.to_json(),
            "history_root": self.history_root,
            "latest_block_hash": self.latest_block_hash,
            "latest_height": self.latest_height,
            "new_checkpoint": None if self.new_checkpoint is None else self.new_checkpoint.to_json(),
            "notes": list(self.notes),
            "ok": self.ok,
            "seconds": round(self.seconds, 3),
            "source": self.source,
            "validator_set_source": self.validator_set_source,
        }


def _check_checkpoint_context(checkpoint: Checkpoint, genesis: Genesis) -> None:
    if checkpoint.chain_id is not None and checkpoint.chain_id != genesis.chain_id:
        raise AuditError("checkpoint_mismatch",
                         f"the checkpoint is for chain {checkpoint.chain_id!r}, "
                         f"the genesis for {genesis.chain_id!r}")
    if checkpoint.genesis_hash is not None and checkpoint.genesis_hash != genesis.hash:
        raise AuditError("checkpoint_mismatch", "the checkpoint is for another genesis")
    if checkpoint.height == 0 and checkpoint.history_root != EMPTY_ROOT.hex():
        raise AuditError("bad_checkpoint", "the root of 0 blocks is the empty-tree root")


def verify_checkpoint(
    source: ChainSource, genesis: Genesis, checkpoint: Checkpoint
) -> CheckpointReport:
    """Check that the chain ``source`` serves extends ``checkpoint``.

    The latest block ``H`` is fetched with its commit certificate, which must verify
    against the set that signs ``H``: the checkpoint's set or the genesis set if its hash
    is ``header(H).validators_hash``, else the set the source reports (docs/audit.md
    explains why only a full audit establishes that one). Then an RFC 9162 consistency
    proof from the source between the trees of ``checkpoint.height`` and ``H - 1`` blocks
    must verify from the checkpoint's root to ``header(H).history_root``."""
    started = time.monotonic()
    _check_checkpoint_context(checkpoint, genesis)
    report = CheckpointReport(checkpoint=checkpoint, source=source.describe())

    def done(discrepancy: Discrepancy | None = None) -> CheckpointReport:
        report.discrepancy = discrepancy
        report.seconds = time.monotonic() - started
        return report

    wrong = _genesis_discrepancy(source, genesis)
    if wrong is not None:
        return done(wrong)
    latest, reported_next = source.tip_validators()
    report.latest_height = latest
    if checkpoint.height > latest:
        return done(Discrepancy(
            latest, "chain_length", f"a chain of at least {checkpoint.height + 1} blocks",
            f"{latest} blocks", "the chain is shorter than the checkpoint",
        ))
    if checkpoint.height == latest:
        raise AuditError(
            "checkpoint_too_new",
            f"the root over blocks 1..{latest} is first committed in header {latest + 1}; "
            "retry after the next block",
        )
    try:
        block, commit, claimed_hash = source.block(latest)
    except ChainDataError as exc:
        return done(exc.discrepancy)
    header = block.header
    report.latest_block_hash = header.hash()
    report.history_root = header.history_root
    try:
        _expect("chain_id", genesis.chain_id, header.chain_id)
        _expect("height", latest, header.height)
        _expect("commit_height", latest, commit.height)
        _expect("commit_block_hash", header.hash(), commit.block_hash)
        _expect("block_hash", header.hash(), claimed_hash)
        _expect("next_validators_hash", reported_next.hash(), header.next_validators_hash,
                "the set the source reports for the next block")
    except _Fail as fail:
        return done(Discrepancy(latest, fail.check, fail.expected, fail.found, fail.detail))
    candidates = [("checkpoint", checkpoint.validators), ("genesis", genesis.validators),
                  ("node", reported_next)]
    chosen: tuple[str, ValidatorSet] | None = None
    for name, vset in candidates:
        if vset is not None and vset.hash() == header.validators_hash:
            chosen = (name, vset)
            break
    if chosen is None:
        raise AuditError(
            "validator_set_changed",
            f"the validator set changed at block {latest}, so the set that signed it is "
            "neither the checkpoint's, the genesis's nor the one the node reports; retry "
            "after the next block, or run a full audit",
        )
    report.validator_set_source, vset = chosen
    if report.validator_set_source == "node":
        report.notes.append(
            "the validator set was taken from the node: its commit verifies, but only a full "
            "audit (or a checkpoint file written by one) establishes that set from the genesis"
        )
    try:
        if vset.power_of(header.proposer) == 0:
            raise _Fail("proposer", "a member of the validator set", header.proposer)
        try:
            commit.verify(genesis.chain_id, vset)
        except LedgerError as exc:
            raise _Fail("commit_signatures", "precommits of more than 2/3 of the power",
                        exc.code, exc.message) from None
    except _Fail as fail:
        return done(Discrepancy(latest, fail.check, fail.expected, fail.found, fail.detail))
    new_size = latest - 1
    served = source.consistency(checkpoint.height, new_size)
    if served.old_root != checkpoint.history_root:
        return done(Discrepancy(
            checkpoint.height, "checkpoint_root", checkpoint.history_root, served.old_root,
            f"the source's root over blocks 1..{checkpoint.height}",
        ))
    if not verify_consistency(
        checkpoint.height, new_size, bytes.fromhex(checkpoint.history_root),
        bytes.fromhex(header.history_root), served.proof,
    ):
        return done(Discrepancy(
            latest, "history_consistency",
            f"a proof that blocks 1..{checkpoint.height} are a prefix of blocks 1..{new_size}",
            "a proof that does not verify",
            f"from {checkpoint.history_root} to header {latest}'s history root "
            f"{header.history_root}",
        ))
    report.new_checkpoint = Checkpoint(
        height=new_size,
        history_root=header.history_root,
        chain_id=genesis.chain_id,
        genesis_hash=genesis.hash,
        block_hash=header.prev_hash,
        validators=vset if report.validator_set_source != "node" else None,
    )
    return done()
