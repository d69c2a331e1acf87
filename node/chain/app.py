"""The application side of a validator: what consensus calls to make, check and commit
blocks. It holds the chain tip (height, hash, time, state root, validator set, the
history tree of block hashes) and knows nothing of rounds, votes or networks.

* :meth:`Application.build_block` -- the proposer executes a batch of transactions and
  gets a complete block (every root filled in) and its write set;
* :meth:`Application.validate_block` -- every validator checks a proposed (or synced)
  block against its own chain and re-executes it; it gets the write set back or a
  ``BlockError`` with a stable code (:meth:`Application.check_block` is the same for a
  block whose transactions root the caller already checked, and returns the block with
  the results this node computed);
* :meth:`Application.commit_block` -- with a verified commit certificate, the block, its
  certificate, state changes and indexes (the transaction index, and the certificate
  index of ``node/chain/certindex.py`` and the block-layout index of
  ``node/chain/layoutindex.py``, both outside consensus) go to the store in one atomic
  batch.

The BFT driver (``node/driver/asyncio_driver.py``, for every validator count) and the synchronous
single-node block maker (``node/driver/solo.py``, benchmarks and tests) drive this class. It is
not thread-safe: one thread at a time builds, checks or commits (the driver runs all of
it on one worker thread).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from chaincode.executor import Executor
from chaincode.framework import BlockContext
from chaincode.membership import SignerCheck, check_signers
from chaincode.validator_state import validator_set_for
from ledger.block import MAX_BLOCK_TXS, Block, CommitCertificate
from ledger.errors import BlockError, LedgerError
from ledger.genesis import Genesis
from ledger.merkle import AppendOnlyMerkleTree
from ledger.next_block import (
    NextBlockError,
    Predecessor,
    check_body,
    check_commit,
    check_header,
    check_outcome,
)
from ledger.state import Overlay, StateReader, WriteSet
from ledger.store import Store
from ledger.tx import Transaction
from ledger.validators import ValidatorSet
from node.chain import certindex, layoutindex
from node.chain.verified import VerifiedTxs

__all__ = ["Application", "ChainTip", "Writes", "init_store"]

#: A block's write set; its body and the state root after it are computed once, when the
#: block is executed, and reused by the store at commit.
Writes = WriteSet


#: Signer sets whose membership answer is remembered per committed height (a bound).
_SIGNER_CACHE = 4096


@dataclass(frozen=True)
class ChainTip:
    """The committed chain as of the latest block (height 0: the genesis). Replaced as a
    whole on each commit, so readers on other threads always see a consistent tip."""

    height: int
    block_hash: str  # the genesis hash at height 0
    time: int  # ms; the genesis time at height 0
    state_root: str
    validators: ValidatorSet  # the set that signs block height + 1


def init_store(store: Store, executor: Executor, genesis: Genesis) -> None:
    """Write the genesis state into an empty store, or check that an initialised store
    belongs to this genesis (``BlockError('genesis_mismatch')``)."""
    if store.initialised:
        if store.genesis_hash() != genesis.hash:
            raise BlockError(
                "genesis_mismatch",
                f"the store {store.path} holds chain with genesis {store.genesis_hash()}, "
                f"not {genesis.hash}",
            )
        return
    writes = WriteSet(executor.genesis_writes(genesis))
    root = writes.root_in(store.state_tree, 0)
    store.init_genesis(genesis.hash, genesis.chain_id, writes, root)


class _WritesView:
    """``base`` with ``writes`` applied, for point reads (``validator_set_for``)."""

    def __init__(self, base: StateReader, writes: WriteSet) -> None:
        self._base = base
        self._writes = dict(writes)

    def get(self, key: str) -> bytes | None:
        if key in self._writes:
            return self._writes[key]
        return self._base.get(key)

    def _view(self) -> Overlay:
        view = Overlay(self._base)
        for key, value in self._writes.items():
            if value is None:
                view.delete(key)
            else:
                view.put(key, value)
        return view

    def iter_prefix(self, prefix: str, start: str | None = None) -> Iterator[tuple[str, bytes]]:
        return self._view().iter_prefix(prefix, start)

    def last_at_or_before(
        self, prefix: str, key: str, *, strict: bool = False
    ) -> tuple[str, bytes] | None:
        return self._view().last_at_or_before(prefix, key, strict=strict)


class Application:
    """Deterministic block building, checking and committing over one store."""

    def __init__(
        self,
        store: Store,
        executor: Executor,
        genesis: Genesis,
        *,
        verified: VerifiedTxs | None = None,
    ) -> None:
        """Open the chain in ``store`` (writing the genesis state if it is empty).

        ``verified`` is the node's one :class:`~node.chain.verified.VerifiedTxs` (shared
        with the mempool and admission; a private one if not given): transactions in it
        are not verified again when a block is checked, those a block check does verify
        are recorded in it, and the transactions of each committed block leave it."""
        init_store(store, executor, genesis)
        self.store = store
        # the certificate index (outside consensus) covers every committed block
        certindex.catch_up(store)
        # so does the block-layout index (certificates read only the transactions they cite)
        layoutindex.catch_up(store)
        self.executor = executor
        self.genesis = genesis
        self.chain_id = genesis.chain_id
        self.verified = verified if verified is not None else VerifiedTxs()
        # check_signers answers for the committed height (see signer_check)
        self._signer_checks: tuple[int, dict[tuple[str, ...], SignerCheck]] = (-1, {})
        self.history = AppendOnlyMerkleTree()
        for block_hash in store.block_hashes():
            self.history.append(block_hash)
        height = store.latest_height()
        if self.history.size != height:
            raise BlockError("store_corrupt", f"{self.history.size} block hashes for height {height}")
        time_ms = genesis.genesis_time
        if height > 0:
            raw = store.get_block_json(height)
            if raw is None:
                raise BlockError("store_corrupt", f"block {height} is missing")
            header = json.loads(raw)["header"]
            time_ms = header["time"]
            if header["state_root"] != store.state_root():
                raise BlockError("store_corrupt", "state root of the latest block differs")
        self.tip = ChainTip(
            height=height,
            block_hash=store.latest_hash(),
            time=time_ms,
            state_root=store.state_root(),
            validators=validator_set_for(store, height + 1),
        )

    # -- helpers ---------------------------------------------------------------------------
    @property
    def height(self) -> int:
        return self.tip.height

    def history_root(self) -> str:
        """Merkle root over the hashes of blocks 1..height (the next block's history root)."""
        return self.history.root().hex()

    def _execute(
        self, height: int, time_ms: int, proposer: str, txs: Sequence[Transaction]
    ) -> tuple[list[dict], Writes, str, str]:
        """Run ``txs`` on the committed state; results, writes, state root, next set hash."""
        ctx = BlockContext(chain_id=self.chain_id, height=height, time=time_ms, proposer=proposer)
        execution = self.executor.execute_block(self.store, ctx, txs)
        writes = WriteSet(execution.writes)
        # the state tree update, prepared once: commit_block stores this very update
        state_root = writes.root_in(self.store.state_tree, height)
        next_set = validator_set_for(_WritesView(self.store, writes), height + 1)
        return execution.results, writes, state_root, next_set.hash()

    def signer_refusal(self, tx: Transaction) -> str | None:
        """Why ``tx`` may not enter the next block: a signer that is not an active key of an
        active organisation in the committed state (the state the next block starts from;
        ``chaincode.membership.check_signers``), or None."""
        return self.signer_check(tx.signers).refusal

    def signer_check(self, signers: Sequence[str]) -> SignerCheck:
        """``check_signers`` over the committed state, remembered until the next commit:
        a block's transactions come from a few members, so this is a handful of state reads
        per block instead of four per transaction at admission and again in every block
        check (the answer can change only when a block commits)."""
        key = tuple(signers)
        height = self.tip.height
        cache = self._signer_checks
        if cache[0] != height:
            cache = self._signer_checks = (height, {})
        found = cache[1].get(key)
        if found is None:
            found = check_signers(self.store, key)
            if len(cache[1]) < _SIGNER_CACHE:
                cache[1][key] = found
        return found

    # -- the three operations --------------------------------------------------------------
    def build_block(
        self, txs: Sequence[Transaction], time_ms: int, proposer: str
    ) -> tuple[Block, Writes]:
        """Execute ``txs`` as block ``height + 1`` proposed by ``proposer`` at ``time_ms``
        and return the complete block with its write set. Does not commit.

        Transactions :meth:`signer_refusal` refuses (a signer revoked, or its organisation
        suspended, after the transaction was admitted) are left out, so that this node
        never proposes a block its peers refuse (``unenrolled_signer``); the caller drops
        them from its mempool (the reaped ids that are not in the block)."""
        tip = self.tip
        txs = [tx for tx in txs if self.signer_refusal(tx) is None]
        if time_ms <= tip.time:
            raise NextBlockError("bad_time", f"block time {time_ms} is not after {tip.time}")
        # the drivers reap at most the operator's max_block_txs, which nothing else holds
        # to MAX_BLOCK_TXS: this keeps a block this node makes one its peers accept
        if len(txs) > MAX_BLOCK_TXS:
            raise NextBlockError("too_many_txs", f"a block holds at most {MAX_BLOCK_TXS} transactions")
        height = tip.height + 1
        results, writes, state_root, next_hash = self._execute(height, time_ms, proposer, txs)
        block = Block.assemble(
            txs,
            results,
            chain_id=self.chain_id,
            height=height,
            time=time_ms,
            prev_hash=tip.block_hash,
            state_root=state_root,
            validators_hash=tip.validators.hash(),
            next_validators_hash=next_hash,
            proposer=proposer,
            history_root=self.history_root(),
        )
        return block, writes

    def predecessor(self) -> Predecessor:
        """What the tip established for the next block (``ledger.next_block``)."""
        tip = self.tip
        return Predecessor(
            chain_id=self.chain_id,
            height=tip.height,
            block_hash=tip.block_hash,
            time=tip.time,
            validators=tip.validators,
            history_root=self.history_root(),
        )

    def validate_block(self, block: Block) -> Writes:
        """Check ``block`` as the next block of this chain and re-execute it; return its
        write set. Raises ``ledger.next_block.NextBlockError`` (a ``BlockError``) with one
        of the next-block rule's codes (``ledger.next_block.CODES``): the header's
        (``wrong_chain`` … ``bad_history_root``), the body's (``too_many_txs``,
        ``bad_txs_root``, ``bad_results_root``, ``bad_results``, ``duplicate_tx``,
        ``unenrolled_signer``, ``bad_signature``) and re-execution's (``results_mismatch``, ``bad_state_root``,
        ``bad_next_validators_hash``)."""
        return self._check(block, trust_txs_root=False, results=block.results)[1]

    def check_block(self, block: Block) -> tuple[Block, Writes]:
        """:meth:`validate_block` for a block whose transactions the caller already checked
        against ``header.txs_root`` (``node.chain.blockcodec.BlockCodec`` does): the block's own
        ``results`` are not trusted -- this node's re-executed results must hash to
        ``header.results_root`` (``results_mismatch``) and the returned block carries them.
        Returns that block and its write set."""
        return self._check(block, trust_txs_root=True, results=None)

    def _check(
        self, block: Block, *, trust_txs_root: bool, results: Sequence[dict] | None
    ) -> tuple[Block, Writes]:
        header = block.header
        # the whole next-block rule: its wrong_chain repeats BlockCodec's for peer blocks,
        # but validate_block also takes blocks from any caller (solo, bench, tests)
        check_header(self.predecessor(), header)
        check_body(
            header,
            block.txs,
            results,
            check_txs_root=not trust_txs_root,
            is_committed=lambda tx_id: self.store.get_tx_location(tx_id) is not None,
            signer_refusal=self.signer_refusal,  # the committed state: the predecessor's
            is_verified=self.verified.__contains__,
            on_verified=self.verified.add,
        )
        results_, writes, state_root, next_hash = self._execute(
            header.height, header.time, header.proposer, block.txs
        )
        checked = block.with_results(results_)
        check_outcome(
            header,
            results_root=checked.results_root_hex,
            state_root=state_root,
            next_validators_hash=next_hash,
        )
        return checked, writes

    def commit_block(self, block: Block, certificate: CommitCertificate, writes: Writes) -> None:
        """Verify ``certificate`` for ``block`` against the current validator set
        (``ledger.next_block.check_commit``: ``commit_wrong_height``, ``commit_wrong_block``,
        ``duplicate_signature``, ``unknown_validator``, ``bad_commit_signature``,
        ``insufficient_power``), then
        store block, certificate and ``writes`` atomically and advance the tip. ``writes``
        must be what :meth:`build_block` or :meth:`validate_block` returned for ``block``."""
        tip = self.tip
        block_hash = block.hash()
        check_commit(self.chain_id, tip.validators, block.header, certificate, block_hash=block_hash)
        try:
            self.store.commit_block(
                block, certificate, writes, block.header.state_root,
                extra_index=certindex.entries(block, certindex.indexed_upto(self.store))
                + layoutindex.entries(block, layoutindex.indexed_upto(self.store)))
        except LedgerError as exc:
            raise BlockError(exc.code, exc.message) from exc
        self.verified.discard(block.txs)
        self.history.append(bytes.fromhex(block_hash))
        self.tip = ChainTip(
            height=block.height,
            block_hash=block_hash,
            time=block.header.time,
            state_root=block.header.state_root,
            validators=validator_set_for(self.store, block.height + 1),
        )
