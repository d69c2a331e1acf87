"""The full audit (``fcl audit``, docs/audit.md): every block from height 1 is checked
against the previous one and re-executed through the chaincode on a fresh in-memory
state that starts from the genesis writes. The validator set that must sign each block is
tracked by replaying (``validator_set_for(state, h)``), so every commit certificate is
checked against the set that the chain itself put in force. The result is a report
(blocks, transactions, failed transactions, final height, state root, history root) or
the *first* discrepancy: height, check name, expected, found.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import plyvel

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
from ledger.block import Block, CommitCertificate
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
from ledger.state import Overlay, WriteSet
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


class ChainAuditor:
    """Replays a chain block by block. :meth:`check_block` verifies the next block and
    advances, or raises :class:`ChainDataError` with the discrepancy (and does not
    advance)."""

    def __init__(
        self,
        genesis: Genesis,
        executor: Executor | None = None,
        *,
        replay: ReplayStore | None = None,
    ) -> None:
        self.genesis = genesis
        self.chain_id = genesis.chain_id
        self.executor = executor if executor is not None else Executor()
        try:
            writes = self.executor.genesis_writes(genesis)
        except ValueError as exc:
            raise AuditError("bad_genesis", f"the chaincode refuses this genesis: {exc}") from None
        # the replay's working data (state, state tree records, replayed tx ids) lives in
        # a scratch database with bounded caches in front (ledger/replay_store.py), so the
        # auditor's memory does not grow with the chain: ``replay`` (``ReplayStore.open()``
        # for LevelDB in a temporary folder), or a ``MemoryDB`` one; :meth:`close` ends it
        self.replay = replay if replay is not None else ReplayStore.in_memory()
        self.state = self.replay.state
        self.state.apply((k, v) for k, v in writes if v is not None)
        # the state tree of the replay: version h is the state after block h; only the
        # newest internal record at each place is kept (the replay reads nothing older)
        self.tree = StateTree(self.replay.nodes)
        self.state_root = self.tree.commit(WriteSet(writes).prepare(self.tree, 0)).hex()
        self.history = AppendOnlyMerkleTree()
        self.height = 0
        self.block_hash = genesis.hash
        self.time = genesis.genesis_time
        self.validators = validator_set_for(self.state, 1)
        self.txs = 0
        self.failed_txs = 0
        self._tx_ids = self.replay.seen

    def close(self) -> None:
        """Release the replay's scratch database (a temporary folder is deleted)."""
        self.replay.close()

    def check_block(
        self, block: Block, commit: CommitCertificate, claimed_hash: str | None = None
    ) -> None:
        """Verify ``block`` (with ``commit``) as block ``height + 1`` and advance.
        ``claimed_hash`` is the hash the source indexes or reports for the block; checked
        last, so that a changed block is reported by the check that explains it."""
        height = self.height + 1
        try:
            self._check(height, block, commit, claimed_hash)
        except CheckFailed as fail:
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
            writes, update, next_set = self._check_rule(prev, height, block, commit, block_hash)
        except NextBlockError as exc:
            raise failed_rule(exc) from None
        if claimed_hash is not None and claimed_hash != block_hash:
            raise CheckFailed("block_hash", block_hash, claimed_hash,
                              "the hash the source indexes or reports for this height")
        # Every check passed: advance.
        self.state.apply(writes)
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
    ) -> tuple[list[tuple[str, bytes | None]], TreeUpdate, ValidatorSet]:
        """The next-block rule (``ledger.next_block``) with this replay as the chain:
        header, commit, body, then re-execution. Returns the write set, the state tree
        update (not stored yet) and the next set."""
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

        check_body(
            header,
            block.txs,
            block.results,
            result_bytes=found_results,
            is_committed=lambda tx_id: bytes.fromhex(tx_id) in self._tx_ids,
            # permissioned admission over the replayed state before this block, as the
            # validator checks it over its committed state (node/chain/app.py)
            signer_refusal=refusal,
        )
        ctx = BlockContext(
            chain_id=self.chain_id, height=height, time=header.time, proposer=header.proposer
        )
        execution = self.executor.execute_block(self.state, ctx, block.txs)
        expected_results = [canonical(r) for r in execution.results]
        writes = list(execution.writes)
        update = WriteSet(writes).prepare(self.tree, height)
        state_root = update.root.hex()
        after = Overlay(self.state)  # the state after this block, without committing it yet
        for key, value in writes:
            if value is None:
                after.delete(key)
            else:
                after.put(key, value)
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
        return writes, update, next_set

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


def open_replay(replay_dir: str | Path | None) -> ReplayStore:
    """The replay's scratch database in a new temporary folder under ``replay_dir`` (the
    system's temporary folder if None); ``scratch_unavailable`` if it cannot be made."""
    try:
        return ReplayStore.open(replay_dir)
    except (OSError, plyvel.Error) as exc:
        where = tempfile.gettempdir() if replay_dir is None else str(replay_dir)
        raise AuditError(
            "scratch_unavailable",
            f"cannot make the audit's scratch database in a new folder under {where} "
            f"(set TMPDIR to a writable folder with room for about the state's size): {exc}",
        ) from None


ProgressCallback = Callable[[AuditProgress], None]
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
    replay_dir: str | Path | None = None,
) -> AuditReport:
    """Verify ``blocks`` (heights 1, 2, ... in order, each with its commit certificate)
    from ``genesis``. Stops at the first discrepancy, which the report carries.

    ``progress`` is called every ``progress_every`` blocks. ``target_height``, if given, is
    how many blocks the chain has: fewer is a ``block_missing`` discrepancy. The iterable
    may raise :class:`ChainDataError` for data it cannot deliver as a block. The replay
    keeps its working data in a temporary LevelDB folder under ``replay_dir`` (the
    system's temporary folder if None), deleted at the end."""
    started = time.monotonic()
    report = AuditReport(chain_id=genesis.chain_id, genesis_hash=genesis.hash)
    replay = open_replay(replay_dir)
    try:
        auditor = ChainAuditor(genesis, executor, replay=replay)
        return _replay(auditor, blocks, report, progress=progress,
                       progress_every=progress_every, target_height=target_height,
                       started=started)
    finally:
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
) -> AuditReport:
    """Full audit of ``source`` from the genesis to its latest block as of the start (or
    ``to_height``). A data folder's stored state is also compared with the replay. The
    replay's working data is in a temporary LevelDB folder under ``replay_dir`` (the
    system's temporary folder if None), deleted at the end."""
    started = time.monotonic()
    report = AuditReport(chain_id=genesis.chain_id, genesis_hash=genesis.hash,
                         source=source.describe())
    replay = open_replay(replay_dir)
    try:
        auditor = ChainAuditor(genesis, executor, replay=replay)
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
        replay.close()
    report.seconds = time.monotonic() - started
    return report
