"""The full audit (``fcl audit``, docs/audit.md): every block from height 1 is checked
against the previous one and re-executed through the chaincode on a fresh in-memory
state that starts from the genesis writes. The validator set that must sign each block is
tracked by replaying (``validator_set_for(state, h)``), so every commit certificate is
checked against the set that the chain itself put in force. The result is a report
(blocks, transactions, failed transactions, final height, state root, history root) or
the *first* discrepancy: height, check name, expected, found.
"""

from __future__ import annotations

import gc
import sqlite3
import tempfile
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaincode.executor import Executor
from chaincode.framework import BlockContext
from chaincode.membership import signer_refusal
from chaincode.validator_state import validator_set_for
from fcl.audit.blocks import SourcedBlock
from fcl.audit.checkpoint import Checkpoint
from fcl.audit.checks import (
    AuditError,
    ChainDataError,
    CheckFailed,
    Discrepancy,
    failed_rule,
)
from fcl.audit.sources import ChainSource, genesis_discrepancy
from fcl.audit.tree_worker import TreeWorker
from ledger.block import Block, BlockHeader, CommitCertificate
from ledger.encoding import canonical
from ledger.errors import LedgerError
from ledger.genesis import Genesis
from ledger.merkle import EMPTY_ROOT, AppendOnlyMerkleTree, merkle_root
from ledger.next_block import (
    NextBlockError,
    Predecessor,
    check_body,
    check_commit,
    check_header,
    check_outcome,
)
from ledger.replay_store import ReplayStore
from ledger.state import Overlay, StateReader, WriteSet
from ledger.state_tree import StateTree, TreeUpdate
from ledger.tx import Transaction
from ledger.validators import ValidatorSet

__all__ = [
    "AuditProgress",
    "AuditReport",
    "BlockItem",
    "ChainAuditor",
    "ProgressCallback",
    "audit_chain",
    "run_audit",
]


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


@dataclass(frozen=True)
class _Stand:
    """Where the replay stood before a block (what :meth:`ChainAuditor.fill` reports)."""

    height: int
    block_hash: str
    time: int
    state_root: str
    validators: ValidatorSet
    txs: int
    failed_txs: int


@dataclass(frozen=True)
class _Pending:
    """A block accepted but for its state root, which the tree process computes."""

    height: int
    header: BlockHeader
    before: _Stand


class _After:
    """The state after a block's writes, not committed, for a few reads (the next
    validator set reads one key): a point read looks at the block's writes, then at the
    state; the ordered reads build the whole ``Overlay`` first (once)."""

    def __init__(self, state: StateReader, writes: list[tuple[str, bytes | None]]) -> None:
        self._state = state
        self._writes = writes
        self._changes = dict(writes)  # the last write of a key wins, as in the overlay
        self._overlay: Overlay | None = None

    def get(self, key: str) -> bytes | None:
        changes = self._changes
        if key in changes:
            return changes[key]
        return self._state.get(key)

    def _full(self) -> Overlay:
        if self._overlay is None:
            overlay = Overlay(self._state)
            for key, value in self._writes:
                if value is None:
                    overlay.delete(key)
                else:
                    overlay.put(key, value)
            self._overlay = overlay
        return self._overlay

    def iter_prefix(self, prefix: str, start: str | None = None) -> Iterator[tuple[str, bytes]]:
        return self._full().iter_prefix(prefix, start)

    def last_at_or_before(
        self, prefix: str, key: str, *, strict: bool = False
    ) -> tuple[str, bytes] | None:
        return self._full().last_at_or_before(prefix, key, strict=strict)


# blocks accepted whose state root may be still to come (pipeline): past this many, the
# auditor waits for the oldest root (it bounds the write sets held in the pipe)
MAX_PENDING = 4


class ChainAuditor:
    """Replays a chain block by block. :meth:`check_block` verifies the next block and
    advances, or raises :class:`ChainDataError` with the discrepancy (and does not
    advance).

    ``pipeline=True``: the state tree is kept by a second process
    (``fcl.audit.tree_worker``), which computes each block's state root while this one
    executes the next block. A block is accepted before its root is known; the root is
    compared when it arrives, and every root still to come is compared before a
    discrepancy is reported (:meth:`settle`), so the findings are the one-process
    replay's: the first discrepancy, at the same height with the same check. Once one is
    found the auditor is finished (its state may hold later blocks' writes); ``fill``
    reports where the replay stood before that block. :meth:`close` ends the process."""

    def __init__(
        self,
        genesis: Genesis,
        executor: Executor | None = None,
        *,
        replay: ReplayStore | None = None,
        pipeline: bool = False,
    ) -> None:
        self.genesis = genesis
        self.chain_id = genesis.chain_id
        self.executor = executor if executor is not None else Executor()
        try:
            writes = self.executor.genesis_writes(genesis)
        except ValueError as exc:
            raise AuditError("bad_genesis", f"the chaincode refuses this genesis: {exc}") from None
        # the replay's working data (state, state tree records) lives in a scratch
        # database with bounded caches in front, the replayed tx ids in an append-only
        # file (ledger/replay_store.py), so the auditor's memory does not grow with the
        # state: ``replay`` (``ReplayStore.open()`` for SQLite in a temporary folder), or
        # a ``MemoryDB`` one; :meth:`close` ends it
        self.replay = replay if replay is not None else ReplayStore.in_memory()
        self.state = self.replay.state
        self._tx_ids = self.replay.seen
        # with the pipeline and a shared scratch file, the tree process writes each
        # block's state writes to it, and they stay pending here until it has (the
        # version's root answered): ``_written``
        state_file = self.replay.database_file() if pipeline and self.replay.shared else None
        self._deferred = state_file is not None
        self.state.apply(((k, v) for k, v in writes if v is not None),
                         version=0 if self._deferred else None)
        # the state tree of the replay: version h is the state after block h; only the
        # newest internal record at each place is kept (the replay reads nothing older);
        # here or in the tree process
        self.tree: StateTree | None = None
        self._worker: TreeWorker | None = None
        self._pending: deque[_Pending] = deque()
        self._finished = False
        if pipeline:
            self._worker = TreeWorker(state_file)
            self._worker.submit(0, writes)
            version, root = self._worker.result()
            self._written(version)
            self.state_root = root.hex()
        else:
            self.tree = StateTree(self.replay.nodes)
            self.state_root = self.tree.commit(WriteSet(writes).prepare(self.tree, 0)).hex()
        self.history = AppendOnlyMerkleTree()
        self.height = 0
        self.block_hash = genesis.hash
        self.time = genesis.genesis_time
        self.validators = validator_set_for(self.state, 1)
        self.txs = 0
        self.failed_txs = 0

    def close(self) -> None:
        """End the tree process, if any, and release the replay's scratch database (a
        temporary folder is deleted)."""
        if self._worker is not None:
            self._worker.close()
            self._worker = None
        self.replay.close()

    # -- the pipeline's state roots ----------------------------------------------------------
    def _stand(self) -> _Stand:
        return _Stand(self.height, self.block_hash, self.time, self.state_root,
                      self.validators, self.txs, self.failed_txs)

    def _next_root(self) -> tuple[_Pending, str]:
        """The oldest pending block and its root (hex), waiting for it if need be."""
        assert self._worker is not None
        version, root = self._worker.result()
        self._written(version)
        entry = self._pending.popleft()
        assert version == entry.height, (version, entry.height)
        return entry, root.hex()

    def _written(self, version: int) -> None:
        """The tree process has answered ``version``'s root: with a shared scratch file,
        its writes are in the file now, no longer pending here."""
        if self._deferred:
            self.state.settle(version)

    def _confirm(self, entry: _Pending, root: str) -> None:
        """Compare a pending block's root with its header's: on a mismatch, the auditor
        goes back to before that block and raises its ``bad_state_root``."""
        header = entry.header
        try:
            check_outcome(header, results_root=header.results_root, state_root=root,
                          next_validators_hash=header.next_validators_hash)
        except NextBlockError as exc:
            before = entry.before
            self.height, self.block_hash, self.time = before.height, before.block_hash, before.time
            self.state_root, self.validators = before.state_root, before.validators
            self.txs, self.failed_txs = before.txs, before.failed_txs
            self._pending.clear()
            self._finished = True
            raise ChainDataError(failed_rule(exc).at(entry.height)) from None

    def _settle_below(self, height: int, *, wait: bool = True) -> None:
        """Compare the roots of the pending blocks below ``height`` (only those already
        computed unless ``wait``); the first mismatch is raised (:meth:`_confirm`)."""
        while self._pending and self._pending[0].height < height:
            if not wait and not (self._worker is not None and self._worker.ready()):
                return
            self._confirm(*self._next_root())

    def settle(self) -> None:
        """Wait for every state root still to come and compare it: raises
        ``ChainDataError`` for the first block whose root differs (nothing to do without
        the pipeline)."""
        self._settle_below(self.height + 1)

    def settled(self, found: Discrepancy) -> Discrepancy:
        """``found`` (a discrepancy a source raised), or an earlier block's
        ``bad_state_root`` if a root still to come differs: with one process, that block
        would have stopped the replay before ``found``."""
        try:
            self.settle()
        except ChainDataError as exc:
            return exc.discrepancy
        return found

    def _own_root(self, height: int) -> str:
        """The root of block ``height`` itself (pending, the newest): the older ones are
        compared first."""
        self._settle_below(height)
        entry, root = self._next_root()
        assert entry.height == height
        return root

    def check_block(
        self, block: Block, commit: CommitCertificate, claimed_hash: str | None = None
    ) -> None:
        """Verify ``block`` (with ``commit``) as block ``height + 1`` and advance.
        ``claimed_hash`` is the hash the source indexes or reports for the block; checked
        last, so that a changed block is reported by the check that explains it."""
        if self._finished:
            raise AuditError("bad_usage", "this pipelined audit found a discrepancy already")
        height = self.height + 1
        if self._worker is not None:
            # the roots already computed; and past MAX_PENDING blocks, wait for the oldest
            self._settle_below(height, wait=False)
            self._settle_below(height - MAX_PENDING)
        try:
            self._check(height, block, commit, claimed_hash)
        except CheckFailed as fail:
            if self._worker is not None:
                # an earlier block's root that differs stopped the replay before this
                self._settle_below(height)
                self._pending.clear()
                self._finished = True
            raise ChainDataError(fail.at(height)) from None

    def _check(
        self, height: int, block: Block, commit: CommitCertificate, claimed_hash: str | None
    ) -> None:
        header = block.header
        block_hash = header.hash()
        prev = Predecessor(
            chain_id=self.chain_id,
            height=self.height,
            block_hash=self.block_hash,
            time=self.time,
            validators=self.validators,
            history_root=self.history.root().hex(),
        )
        try:
            writes, update, next_set = self._check_rule(prev, height, block, commit,
                                                        block_hash)
            if claimed_hash is not None and claimed_hash != block_hash and self._pending \
                    and self._pending[-1].height == height:
                # the block's own state root is checked before its hash: wait for it
                self._outcome_again(height, header)
        except NextBlockError as exc:
            raise failed_rule(exc) from None
        if claimed_hash is not None and claimed_hash != block_hash:
            raise CheckFailed("block_hash", block_hash, claimed_hash,
                              "the hash the source indexes or reports for this height")
        # Every check passed: advance.
        written = height if self._deferred else None  # pending until the tree process wrote
        self.state.apply(writes, version=written)
        if update is not None:
            assert self.tree is not None
            self.tree.commit(update)
        self.history.append(bytes.fromhex(block_hash))
        self._tx_ids.update(bytes.fromhex(tx.tx_id) for tx in block.txs)
        self.height = height
        self.block_hash = block_hash
        self.time = header.time
        self.state_root = header.state_root
        self.validators = next_set
        self.txs += len(block.txs)
        self.failed_txs += sum(1 for r in block.results if r.get("code") != "ok")

    def _check_rule(
        self,
        prev: Predecessor,
        height: int,
        block: Block,
        commit: CommitCertificate,
        block_hash: str,
    ) -> tuple[list[tuple[str, bytes | None]], TreeUpdate | None, ValidatorSet]:
        """The next-block rule (``ledger.next_block``) with this replay as the chain:
        header, commit, body, then re-execution. Returns the write set, the state tree
        update (not stored yet; None with the pipeline: the tree process has the block's
        version, its root pending) and the next set."""
        header = block.header
        check_header(prev, header)
        check_commit(self.chain_id, self.validators, header, commit, block_hash=block_hash)
        found_results = [canonical(r) for r in block.results]
        refusals: dict[tuple[str, ...], str | None] = {}  # per signer set, for this block

        def refusal(tx: Transaction) -> str | None:
            key = tuple(tx.signers)
            if key not in refusals:
                refusals[key] = signer_refusal(self.state, key)
            return refusals[key]

        worker = self._worker
        if worker is not None:
            # the signatures are verified by the other process while this one executes
            worker.submit_signatures(
                height, [(tx.signers, tx.payload_bytes, tx.signatures) for tx in block.txs])

        def body(is_verified: Callable[[Transaction], bool]) -> None:
            check_body(
                header,
                block.txs,
                block.results,
                result_bytes=found_results,
                is_committed=lambda tx_id: bytes.fromhex(tx_id) in self._tx_ids,
                # permissioned admission over the replayed state before this block, as
                # the validator checks it over its committed state (node/chain/app.py)
                signer_refusal=refusal,
                is_verified=is_verified,
            )

        # with the pipeline, every check of the body but the signatures (its last one)
        body(lambda tx: worker is not None)
        ctx = BlockContext(
            chain_id=self.chain_id, height=height, time=header.time, proposer=header.proposer
        )
        execution = self.executor.execute_block(self.state, ctx, block.txs)
        if worker is not None:
            unverified = worker.unverified(height)
            if unverified:
                # nothing is applied yet: the body again, verifying here the transactions
                # the other process could not: its bad_signature, as without the pipeline
                suspects = {id(block.txs[i]) for i in unverified}
                body(lambda tx: id(tx) not in suspects)
        expected_results = [canonical(r) for r in execution.results]
        writes = list(execution.writes)
        update: TreeUpdate | None = None
        if self._worker is None:
            assert self.tree is not None
            update = WriteSet(writes).prepare(self.tree, height)
            state_root = update.root.hex()
        else:
            # the tree process computes it; the header's, until then (_outcome_again)
            self._worker.submit(height, writes)
            self._pending.append(_Pending(height, header, self._stand()))
            state_root = header.state_root
        try:
            next_set = self._outcome(height, header, writes, expected_results, found_results,
                                     state_root)
        except NextBlockError as exc:
            if self._worker is not None and exc.code != "results_mismatch":
                # the block's own root is checked before what failed: wait for it
                self._outcome_again(height, header)
            raise
        return writes, update, next_set

    def _outcome_again(self, height: int, header: BlockHeader) -> None:
        """(Pipeline) the root of block ``height``, waited for, against its header: its
        ``bad_state_root`` if it differs."""
        check_outcome(header, results_root=header.results_root,
                      state_root=self._own_root(height),
                      next_validators_hash=header.next_validators_hash)

    def _outcome(
        self,
        height: int,
        header: BlockHeader,
        writes: list[tuple[str, bytes | None]],
        expected_results: list[bytes],
        found_results: list[bytes],
        state_root: str,
    ) -> ValidatorSet:
        """The re-execution's outcome against the header; the next validator set."""
        after = _After(self.state, writes)  # the state after this block, not committed
        try:
            next_set: ValidatorSet | None = validator_set_for(after, height + 1)
            broken = ""
        except (LookupError, LedgerError) as exc:  # the state itself is broken: say so
            next_set, broken = None, f"no valid set: {exc}"
        check_outcome(
            header,
            results_root=merkle_root(expected_results).hex(),
            state_root=state_root,
            next_validators_hash=header.next_validators_hash if next_set is None else next_set.hash(),
            results=expected_results,
            block_results=found_results,
        )
        if next_set is None:
            raise NextBlockError(
                "bad_next_validators_hash", "the state after the block holds no valid set",
                header.next_validators_hash, broken,
            )
        return next_set

    def fill(self, report: AuditReport) -> AuditReport:
        """Copy where the replay stands into ``report``."""
        report.blocks = self.height
        report.txs = self.txs
        report.failed_txs = self.failed_txs
        report.final_height = self.height
        report.final_block_hash = self.block_hash
        report.final_state_root = self.state_root
        report.history_root = self.history.root_at(self.height).hex()
        report.next_validators = self.validators
        return report


def open_replay(replay_dir: str | Path | None, *, shared: bool = True) -> ReplayStore:
    """The replay's scratch database in a new temporary folder under ``replay_dir`` (the
    system's temporary folder if None); ``scratch_unavailable`` if it cannot be made.
    ``shared``: the tree process writes it too (the pipeline)."""
    try:
        return ReplayStore.open(replay_dir, shared=shared)
    except (OSError, sqlite3.Error) as exc:
        where = tempfile.gettempdir() if replay_dir is None else str(replay_dir)
        raise AuditError(
            "scratch_unavailable",
            f"cannot make the audit's scratch database in a new folder under {where} "
            f"(set TMPDIR to a writable folder with room for about the state's size): {exc}",
        ) from None


ProgressCallback = Callable[[AuditProgress], None]
BlockItem = tuple[Block, CommitCertificate] | SourcedBlock

# the cyclic garbage collector during a replay (docs/performance.md "The replay's
# transaction ids, scans and collector"): young collections every this many container allocations (CPython's
# default is 700) and a middle one every this many young ones; the full collection,
# whose cost grows with every object alive, only every FULL_COLLECTION_BLOCKS blocks
YOUNG_THRESHOLD = 10_000
MIDDLE_THRESHOLD = 100
FULL_COLLECTION_BLOCKS = 100


@contextmanager
def _replay_collector() -> Generator[None, None, None]:
    """The collector tuned for a replay, and as it was again afterwards. A block's
    objects (its decoded transactions, overlays, write set) live as long as the block,
    so with the default thresholds they outlive two young collections, reach the oldest
    generation and make it collect in full every few blocks -- walking every object
    alive each time -- only to die at the block's end. Here the automatic full
    collection is off (``_replay`` runs one every FULL_COLLECTION_BLOCKS blocks, so
    garbage in cycles still goes) and the young ones are rarer."""
    old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, MIDDLE_THRESHOLD, 1 << 30)
    try:
        yield
    finally:
        gc.set_threshold(*old)


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
        with _replay_collector():
            for item in iterator:
                auditor.check_block(*item)
                if auditor.height % FULL_COLLECTION_BLOCKS == 0:
                    gc.collect()
                if progress is not None and progress_every > 0 \
                        and auditor.height % progress_every == 0:
                    progress(AuditProgress(auditor.height, target_height, auditor.txs,
                                           time.monotonic() - started))
        auditor.settle()  # the state roots still to come (pipeline)
    except ChainDataError as exc:
        # a source's discrepancy comes after any block whose root still to come differs
        report.discrepancy = auditor.settled(exc.discrepancy)
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
    replay_dir: str | Path | None = None,
    pipeline: bool = True,
) -> AuditReport:
    """Verify ``blocks`` (heights 1, 2, ... in order, each with its commit certificate)
    from ``genesis``. Stops at the first discrepancy, which the report carries.

    ``progress`` is called every ``progress_every`` blocks. ``target_height``, if given, is
    how many blocks the chain has: fewer is a ``block_missing`` discrepancy. The iterable
    may raise :class:`ChainDataError` for data it cannot deliver as a block. The replay
    keeps its working data in a temporary SQLite file in a folder under ``replay_dir`` (the
    system's temporary folder if None), deleted at the end; ``pipeline``: the state tree
    in a second process (``ChainAuditor``), same findings."""
    started = time.monotonic()
    report = AuditReport(chain_id=genesis.chain_id, genesis_hash=genesis.hash)
    replay = open_replay(replay_dir, shared=pipeline)
    auditor: ChainAuditor | None = None
    try:
        auditor = ChainAuditor(genesis, executor, replay=replay, pipeline=pipeline)
        return _replay(auditor, blocks, report, progress=progress,
                       progress_every=progress_every, target_height=target_height,
                       started=started)
    finally:
        if auditor is not None:
            auditor.close()
        replay.close()


def run_audit(
    source: ChainSource,
    genesis: Genesis,
    *,
    progress: ProgressCallback | None = None,
    progress_every: int = 1000,
    to_height: int | None = None,
    executor: Executor | None = None,
    replay_dir: str | Path | None = None,
    pipeline: bool = True,
) -> AuditReport:
    """Full audit of ``source`` from the genesis to its latest block as of the start (or
    ``to_height``). A data folder's stored state is also compared with the replay. The
    replay's working data is in a temporary SQLite file in a folder under ``replay_dir`` (the
    system's temporary folder if None), deleted at the end; ``pipeline``: the state tree
    in a second process (``ChainAuditor``), same findings."""
    started = time.monotonic()
    report = AuditReport(chain_id=genesis.chain_id, genesis_hash=genesis.hash,
                         source=source.describe())
    replay = open_replay(replay_dir, shared=pipeline)
    auditor: ChainAuditor | None = None
    try:
        auditor = ChainAuditor(genesis, executor, replay=replay, pipeline=pipeline)
        wrong = genesis_discrepancy(source, genesis)
        if wrong is not None:
            report.discrepancy = wrong
            auditor.fill(report)
            report.seconds = time.monotonic() - started
            return report
        latest = source.latest_height()
        target = latest if to_height is None else min(to_height, latest)
        if to_height is not None and to_height > latest:
            raise AuditError("bad_source",
                             f"{source.describe()} has {latest} blocks, not {to_height}")
        _replay(auditor, source.blocks(1, target), report, progress=progress,
                progress_every=progress_every, target_height=target, started=started)
        if report.ok and target == latest:
            report.discrepancy = source.final_check(auditor)
    finally:
        if auditor is not None:
            auditor.close()
        replay.close()
    report.seconds = time.monotonic() - started
    return report
