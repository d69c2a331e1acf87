"""A synchronous one-validator block maker (benchmarks and unit tests).

When transactions are pending (and at most once every ``block_interval_ms``) it reaps a
batch from the mempool, builds a block through the :class:`~node.chain.app.Application`, signs
its own precommit (``ledger.block.vote_sign_bytes``, round 0) to form a one-signature
commit certificate, and commits. Blocks are cut only when there is something to put in
them (no empty blocks).

``fcl node start`` does not use it: a lone validator runs the BFT driver
(``node/driver/asyncio_driver.py``) as the n = 1 case, so one code path serves every network size. This
module remains because it makes blocks without timers, threads or a sign state, which is
what ``bench/bench_pipeline.py`` and API unit tests need.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from chaincode.membership import touches_membership
from ledger.block import MAX_BLOCK_TXS, Block, CommitCertificate, vote_sign_bytes
from ledger.crypto import PrivateKey
from ledger.errors import BlockError
from node.chain.app import Application
from node.txpool.mempool import Mempool

__all__ = ["SoloDriver", "wall_clock_ms"]

log = logging.getLogger("node.solo")

DEFAULT_BLOCK_INTERVAL_MS = 100
DEFAULT_MAX_BLOCK_TXS = 2000
DEFAULT_MAX_BLOCK_BYTES = 16 * 1024 * 1024


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class SoloDriver:
    """Makes and commits blocks for a chain whose validator set this node's key controls."""

    def __init__(
        self,
        app: Application,
        mempool: Mempool,
        key: PrivateKey,
        *,
        block_interval_ms: int = DEFAULT_BLOCK_INTERVAL_MS,
        max_block_txs: int = DEFAULT_MAX_BLOCK_TXS,
        max_block_bytes: int = DEFAULT_MAX_BLOCK_BYTES,
        clock_ms: Callable[[], int] = wall_clock_ms,
    ) -> None:
        if not 1 <= max_block_txs <= MAX_BLOCK_TXS:
            raise ValueError(f"max_block_txs must be 1..{MAX_BLOCK_TXS}")
        self.app = app
        self.mempool = mempool
        self.key = key
        self.block_interval_ms = block_interval_ms
        self.max_block_txs = max_block_txs
        self.max_block_bytes = max_block_bytes
        self.clock_ms = clock_ms
        self._wake = asyncio.Event()
        self._stopping = False
        self._recheck = False  # the last block changed keys or organisations
        self.check_can_sign()

    def check_can_sign(self) -> None:
        """Raise ``BlockError('not_sole_validator')`` unless this key alone holds more
        than 2/3 of the power of the set that signs the next block."""
        vset = self.app.tip.validators
        if not vset.has_quorum(vset.power_of(self.key.public_key_hex)):
            raise BlockError(
                "not_sole_validator",
                f"single-node mode needs this node's key ({self.key.public_key_hex[:16]}…) to "
                f"hold more than 2/3 of the validator set's power ({len(vset)} validators); "
                "a multi-validator network needs the BFT consensus",
            )

    def notify(self) -> None:
        """A transaction was admitted: wake the loop."""
        self._wake.set()

    # -- one block, synchronously (also used by tests and benchmarks) ----------------------
    def sign_commit(self, block: Block) -> CommitCertificate:
        block_hash = block.hash()
        msg = vote_sign_bytes("precommit", self.app.chain_id, block.height, 0, block_hash)
        return CommitCertificate(
            height=block.height,
            round=0,
            block_hash=block_hash,
            signatures=((self.key.public_key_hex, self.key.sign_hex(msg)),),
        )

    def make_block(self, txs: list) -> Block:
        """Build, sign and commit one block holding ``txs`` (already in the mempool);
        does not touch the mempool, so it can run off the event loop."""
        time_ms = max(self.clock_ms(), self.app.tip.time + 1)
        block, writes = self.app.build_block(txs, time_ms, self.key.public_key_hex)
        certificate = self.sign_commit(block)
        self.app.commit_block(block, certificate, writes)
        self._recheck = touches_membership(writes)
        return block

    def _prune(self, txs: list) -> None:
        """After a block: the reaped transactions leave the mempool (committed, or left out
        by ``build_block`` because a signer is no longer admitted), and if the block changed
        keys or organisations, so does whatever their signers still have pending."""
        self.mempool.remove(tx.tx_id for tx in txs)
        if self._recheck:
            self.mempool.recheck(self.app.signer_refusal)

    def step(self) -> Block | None:
        """Reap, commit a block and prune the mempool; None if nothing was pending."""
        txs = self.mempool.reap(self.max_block_txs, self.max_block_bytes)
        if not txs:
            return None
        block = self.make_block(txs)
        self._prune(txs)
        return block

    # -- the loop --------------------------------------------------------------------------
    def stop(self) -> None:
        """Ask :meth:`run` to return after the block in progress, if any."""
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        """Cut blocks until :meth:`stop`. A block is never abandoned half way: ``stop``
        waits for the commit in progress. An error that stops a block from committing
        propagates (the node then shuts down rather than run on a chain it cannot
        extend)."""
        loop = asyncio.get_running_loop()
        last_cut = loop.time() - self.block_interval_ms / 1000
        while not self._stopping:
            if not len(self.mempool):
                self._wake.clear()
                await self._wake.wait()
                continue
            wait_s = last_cut + self.block_interval_ms / 1000 - loop.time()
            if wait_s > 0:
                await asyncio.sleep(wait_s)
                continue
            last_cut = loop.time()
            txs = self.mempool.reap(self.max_block_txs, self.max_block_bytes)
            started = time.perf_counter()
            block = await asyncio.to_thread(self.make_block, txs)
            self._prune(txs)
            log.info(
                "committed block",
                extra={
                    "height": block.height,
                    "hash": block.hash(),
                    "txs": len(txs),
                    "ms": round((time.perf_counter() - started) * 1000, 1),
                    "mempool": len(self.mempool),
                },
            )
            self.check_can_sign()
