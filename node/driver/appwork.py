"""The driver's application work, without asyncio: what a validator does with the
consensus core's requests (``BuildProposal``, ``ValidateProposal``), its decisions
(``Commit``) and the blocks block sync brings, over the real :class:`Application`, the
mempool and the store.

No event loop, thread, socket or wall clock here: the time is a parameter (``now_ms``)
and every method runs to completion. Two hosts call it:

* ``node/driver/asyncio_driver.py`` (production) performs each ``Ready`` batch and calls
  these steps, running the application ones (:meth:`AppWork.build`,
  :meth:`AppWork.check`, :meth:`AppWork.commit_checked`) on its one application thread
  and the others on the event loop thread (the mempool is the loop's);
* the deterministic simulation (``tests/support/sim``) calls the same steps in one
  thread, with its simulated clock, through the composed forms :meth:`AppWork.answer`
  (a request to the event that answers it) and :meth:`AppWork.commit`.

So the decisions -- what a proposal holds and when it is built, which proposal is
refused and why, which block is committed with which write set, which synced block is
kept and offered to the core -- are made by one piece of code in both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import assert_never

from chaincode.membership import touches_membership
from ledger.block import Block, CommitCertificate
from ledger.errors import BlockError, LedgerError
from ledger.tx import Transaction
from node.chain.app import Application, Writes
from node.consensus import (
    AppRequest,
    BuildProposal,
    Commit,
    ConsensusBlock,
    ProposalBuilt,
    ProposalValidated,
    ValidateProposal,
)
from node.txpool.mempool import Mempool

__all__ = ["AppWork", "DriverConfig", "SyncedEntry"]

#: A block from block sync with its certificate and the peer that sent it.
SyncedEntry = tuple[Block, CommitCertificate, str]


@dataclass(frozen=True)
class DriverConfig:
    block_interval_ms: int = 100
    max_block_txs: int = 2000
    max_block_bytes: int = 4 * 1024 * 1024
    max_clock_drift_ms: int = 2000
    proposal_wait_ms: int = 50
    max_queue: int = 20_000
    sync_window: int = 32
    max_early_messages: int = 1024


class AppWork:
    """One validator's application work for the height being decided.

    ``validated`` holds the blocks this node built or checked at this height (hash ->
    the block with this node's own results, and its write set), so a decided block is
    not executed twice and its canonical bytes are shared with the sign state file.
    ``synced`` holds blocks from block sync, by height, until the core reaches them."""

    def __init__(
        self, app: Application, mempool: Mempool, proposer: str, config: DriverConfig
    ) -> None:
        self.app = app
        self.mempool = mempool
        self.proposer = proposer
        self.config = config
        self.validated: dict[str, tuple[Block, Writes]] = {}
        self.synced: dict[int, SyncedEntry] = {}

    def start_height(self) -> None:
        """A new height begins: what was checked for the previous one is forgotten."""
        self.validated.clear()

    def block_wire(self, block_hash: str) -> bytes | None:
        """Canonical bytes of a block this node built or checked at this height."""
        entry = self.validated.get(block_hash)
        return None if entry is None else entry[0].canonical_bytes

    # -- BuildProposal ------------------------------------------------------------------
    def reap(self) -> list[Transaction]:
        """The transactions of the next proposal: the oldest of the mempool, within the
        block limits (they stay in the mempool until committed)."""
        return self.mempool.reap(self.config.max_block_txs, self.config.max_block_bytes)

    def proposal_time(self, now_ms: int) -> int:
        """The time of a block proposed at ``now_ms``: after the previous block's."""
        return max(now_ms, self.app.tip.time + 1)

    def build(
        self, height: int, txs: list[Transaction], time_ms: int
    ) -> tuple[Block | None, Writes]:
        """Application step: execute ``txs`` as block ``height`` (None if the chain has
        moved meanwhile). Raises ``LedgerError`` if the application refuses."""
        if self.app.height + 1 != height:
            return None, Writes(())
        return self.app.build_block(txs, self.proposal_time(time_ms), self.proposer)

    def built(
        self,
        request: BuildProposal,
        block: Block,
        writes: Writes,
        reaped: Sequence[Transaction] = (),
    ) -> ProposalBuilt:
        """Remember a built block (it is valid by construction) and answer the core.

        Of the ``reaped`` transactions, those ``build_block`` left out -- their signers the
        committed state no longer admits (revoked, or the organisation suspended, since
        admission) -- leave the mempool: else every later reap would offer them again."""
        if len(block.txs) != len(reaped):
            kept = {tx.tx_id for tx in block.txs}
            self.mempool.remove(tx.tx_id for tx in reaped if tx.tx_id not in kept)
        self.validated[block.hash()] = (block, writes)
        return ProposalBuilt(request.height, request.round, block)

    def build_proposal(self, request: BuildProposal, now_ms: int) -> ProposalBuilt | None:
        """:meth:`reap`, :meth:`build` and :meth:`built` in one call; None if nothing
        could be built (the core's propose timeout then takes over)."""
        txs = self.reap()
        block, writes = self.build(request.height, txs, self.proposal_time(now_ms))
        return None if block is None else self.built(request, block, writes, txs)

    # -- ValidateProposal ---------------------------------------------------------------
    def precheck(self, block: ConsensusBlock, now_ms: int) -> str | None:
        """The checks made before executing a proposal; the refusal's reason or None. A
        block more than ``max_clock_drift_ms`` ahead of this node's clock is refused."""
        if not isinstance(block, Block):
            return "not_a_block"
        if block.header.time > now_ms + self.config.max_clock_drift_ms:
            return "time_too_far_ahead"
        return None

    def check(self, block: Block) -> tuple[Block, Writes]:
        """Application step: re-execute ``block`` as the next block (``check_block``);
        raises ``LedgerError`` with the reason if it is not valid."""
        return self.app.check_block(block)

    def checked(self, block_hash: str, block: Block, writes: Writes) -> None:
        """Remember a block that passed :meth:`check`."""
        self.validated[block_hash] = (block, writes)

    def validate_proposal(
        self, request: ValidateProposal, now_ms: int
    ) -> tuple[ProposalValidated, str | None]:
        """:meth:`precheck`, :meth:`check` and :meth:`checked` in one call: the answer
        to the core and the reason of a refusal (None: valid)."""
        block = request.block
        block_hash = block.hash()
        reason = self.precheck(block, now_ms)
        if reason is None:
            assert isinstance(block, Block)
            try:
                checked, writes = self.check(block)
            except LedgerError as exc:
                reason = exc.code
            else:
                self.checked(block_hash, checked, writes)
        return ProposalValidated(block_hash, reason is None), reason

    def answer(self, request: AppRequest, now_ms: int) -> ProposalBuilt | ProposalValidated | None:
        """The event that answers ``request`` (None: no proposal could be built)."""
        match request:
            case BuildProposal():
                return self.build_proposal(request, now_ms)
            case ValidateProposal():
                return self.validate_proposal(request, now_ms)[0]
            case _:
                assert_never(request)

    # -- Commit ---------------------------------------------------------------------------
    def decided(self, block: ConsensusBlock) -> tuple[Block, Writes] | None:
        """The checked form of a decided block, if this node built or checked it at this
        height; None if it must be checked first. ``BlockError('not_a_block')`` if the
        decided value is not a block."""
        entry = self.validated.get(block.hash())
        if entry is None and not isinstance(block, Block):
            raise BlockError("not_a_block", "decided value is not a block")
        return entry

    def commit_checked(self, block: Block, certificate: CommitCertificate, writes: Writes) -> None:
        """Application step: verify the certificate and store the block atomically."""
        self.app.commit_block(block, certificate, writes)

    def committed(self, block: Block, writes: Writes) -> None:
        """After the commit: its transactions leave the mempool; the height is over. If the
        block wrote key or organisation records, the pending transactions whose signers
        the new state no longer admits leave too (CometBFT's "recheck")."""
        self.mempool.remove(tx.tx_id for tx in block.txs)
        if touches_membership(writes):
            self.mempool.recheck(self.app.signer_refusal)
        self.validated.clear()

    def commit(self, action: Commit) -> Block:
        """:meth:`decided`, :meth:`check` if needed, :meth:`commit_checked` and
        :meth:`committed` in one call; the committed block. Raises ``LedgerError`` if this
        node cannot apply the decided block (the host must halt)."""
        entry = self.decided(action.block)
        if entry is None:
            assert isinstance(action.block, Block)
            entry = self.check(action.block)
        final, writes = entry
        self.commit_checked(final, action.certificate, writes)
        self.committed(final, writes)
        return final

    # -- block sync -------------------------------------------------------------------------
    def offer_synced(self, entries: list[tuple[Block, CommitCertificate]], peer: str) -> int:
        """Keep blocks from block sync within ``sync_window`` heights above the chain
        (the first one offered for a height wins); how many were kept."""
        base = self.app.height + 1
        kept = 0
        for block, cert in entries:
            if base <= block.height < base + self.config.sync_window:
                if block.height not in self.synced:
                    self.synced[block.height] = (block, cert, peer)
                    kept += 1
        return kept

    def forget_synced_from(self, peer: str) -> int:
        """Drop every buffered synced block ``peer`` sent (the core refused one of them: its
        others are not trusted to wait, so the same heights can come from another peer);
        how many were dropped."""
        heights = [h for h in sorted(self.synced) if self.synced[h][2] == peer]
        for h in heights:
            del self.synced[h]
        return len(heights)

    def next_synced(self, core_height: int) -> SyncedEntry | None:
        """Forget synced blocks at or below the committed height; the one for the height
        the core is deciding, taken out (the host feeds it to the core as
        ``CommitCertificateReceived``), or None."""
        for h in [h for h in sorted(self.synced) if h <= self.app.height]:
            del self.synced[h]
        return self.synced.pop(core_height, None)
