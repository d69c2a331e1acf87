"""Signature checks of client transactions, off the event loop.

Verifying a batch of 1,000 signatures takes tens of milliseconds of CPU. Done on the event
loop, an anonymous burst of batches stalls everything the loop serves -- consensus
messages, block sync, every other request (a burst once cut block production about 8×).
:class:`SignatureVerifier` runs the checks in a small pool of worker threads instead:
PyNaCl calls libsodium through cffi, which releases the interpreter lock, so the threads
verify in parallel with each other and with the loop.

It bounds what it accepts: at most ``max_jobs`` batches are verified at once and at most
``max_waiting`` more wait for a place; a batch that finds the queue full, or no place
within ``wait_s`` seconds, is refused as a whole (``admission_busy``, 503: try again). So
a flood queues a bounded amount of work -- and holds a bounded number of decoded request
bodies while it waits -- and the clients that caused it are the ones told to slow down. A batch is split across the
workers. Everything else admission does -- parsing, the membership and quota checks, the
mempool -- stays on the loop, before and after.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from ledger.errors import TxError
from ledger.tx import Transaction

__all__ = ["BUSY", "SignatureVerifier"]

T = TypeVar("T")

#: The code of a transaction refused because the verifier had no room for its batch.
BUSY = "admission_busy"


def _verify_all(txs: Sequence[Transaction]) -> list[TxError | None]:
    out: list[TxError | None] = []
    for tx in txs:
        try:
            tx.verify_signatures()
        except TxError as exc:
            out.append(exc)
        else:
            out.append(None)
    return out


class SignatureVerifier:
    """Verifies transactions' signatures in worker threads, with bounded waiting."""

    def __init__(self, workers: int = 2, max_jobs: int = 8, wait_s: float = 5.0,
                 max_waiting: int = 8) -> None:
        assert workers >= 1 and max_jobs >= 1 and wait_s > 0 and max_waiting >= 0
        self.workers = workers
        self.max_jobs = max_jobs
        self.max_waiting = max_waiting
        self._waiting = 0
        self.wait_s = wait_s
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fcl-verify")
        self._slots: dict[int, asyncio.Semaphore] = {}  # per event loop (tests run several)
        self.refused_jobs = 0

    def _slot(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        slot = self._slots.get(id(loop))
        if slot is None:
            slot = self._slots[id(loop)] = asyncio.Semaphore(self.max_jobs)
        return slot

    async def _acquire(self) -> asyncio.Semaphore | None:
        """A place for one job (the semaphore to release after it), or None: no room."""
        slot = self._slot()
        if slot.locked() and self._waiting >= self.max_waiting:
            return None
        self._waiting += 1
        try:
            await asyncio.wait_for(slot.acquire(), self.wait_s)
        except TimeoutError:
            return None
        finally:
            self._waiting -= 1
        return slot

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in one worker thread, under the same bounds as a batch of
        signatures (one of the ``max_jobs`` places, at most ``max_waiting`` waiting, at most
        ``wait_s`` seconds): the dry runs of ``POST /v1/txs/simulate``. Raises
        ``TxError('admission_busy')`` when there is no room."""
        slot = await self._acquire()
        if slot is None:
            self.refused_jobs += 1
            raise TxError("admission_busy", "the node is busy checking transactions; "
                                            "try again in a few seconds")
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)
        finally:
            slot.release()

    async def verify(self, txs: Sequence[Transaction]) -> list[TxError | None]:
        """One entry per transaction: None if every signature verifies, else the error
        (``bad_signature``; ``admission_busy`` for all of them if there was no room)."""
        if not txs:
            return []
        slot = await self._acquire()
        if slot is None:
            return self._busy(len(txs))
        try:
            loop = asyncio.get_running_loop()
            size = -(-len(txs) // self.workers)  # ceiling: one chunk per worker
            chunks = [txs[i:i + size] for i in range(0, len(txs), size)]
            parts = await asyncio.gather(
                *(loop.run_in_executor(self._pool, _verify_all, chunk) for chunk in chunks))
            return [result for part in parts for result in part]
        finally:
            slot.release()

    def _busy(self, n: int) -> list[TxError | None]:
        self.refused_jobs += 1
        busy = TxError("admission_busy", "the node is verifying too many transactions; "
                                         "try again in a few seconds")
        return [busy] * n

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
