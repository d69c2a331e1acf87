"""Transaction gossip between mempools.

A transaction a client sends to this node is admitted (and its signatures verified) here,
then queued for the peers. Every ``flush_ms`` (or as soon as ``max_batch_txs`` or
``max_batch_bytes`` are queued) the queue goes out as one ``TXS`` frame to every
connected peer::

    {"txs": [<transaction>, ...]}        (canonical JSON, spliced)

A receiving node admits each transaction through the same checks as ``POST /v1/txs``
(one signature verification per node; a transaction already pending or committed is
refused as ``duplicate_tx`` before its signatures are looked at) and does not forward
it: validators are fully meshed, so the first hop reaches all of them. Refusals are
counted, not answered.

Received transactions are admitted in chunks, preferably while the node's application
thread is idle (``idle`` event): building, checking and committing blocks is the critical
path of consensus, and in CPython admission on the event loop would otherwise take half
of the interpreter from it. No transaction waits longer than ``max_defer_ms`` for that,
and at most ``max_incoming`` wait at all (beyond, they are dropped and counted).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

from ledger.tx import Transaction
from node.net.framing import FrameType
from node.net.p2p import Peer, PeerManager
from node.ops.metrics import Registry

__all__ = ["TxGossip"]

log = logging.getLogger("node.gossip")


class TxGossip:
    """Batches outgoing transactions and admits incoming ones."""

    def __init__(
        self,
        peers: PeerManager,
        admit_many: Callable[[list[Any]], list[dict[str, Any]]],  # float-free items
        registry: Registry,
        *,
        idle: asyncio.Event | None = None,
        flush_ms: int = 10,
        max_batch_txs: int = 1000,
        max_batch_bytes: int = 1024 * 1024,
        max_pending_bytes: int = 32 * 1024 * 1024,
        max_incoming: int = 50_000,
        max_defer_ms: int = 250,
        admit_chunk: int = 250,
    ) -> None:
        self.peers = peers
        self.admit_many = admit_many
        self.idle = idle
        self.max_incoming = max_incoming
        self.max_defer_ms = max_defer_ms
        self.admit_chunk = admit_chunk
        self._incoming: deque[tuple[float, Any]] = deque()
        self._incoming_wake = asyncio.Event()
        self.flush_ms = flush_ms
        self.max_batch_txs = max_batch_txs
        self.max_batch_bytes = max_batch_bytes
        self.max_pending_bytes = max_pending_bytes
        self._pending: deque[bytes] = deque()
        self._pending_bytes = 0
        self._wake = asyncio.Event()
        self._stopping = False
        self.sent = registry.counter("fcl_gossip_txs_sent_total",
                                     "Transactions sent to peers (per batch, not per peer)")
        self.received = registry.counter(
            "fcl_gossip_txs_received_total", "Transactions received from peers, by outcome",
            "outcome")

    def queue(self, txs: list[Transaction]) -> None:
        """Queue newly admitted client transactions for the peers."""
        if not self.peers.peers:
            return
        for tx in txs:
            data = tx.canonical_bytes
            if self._pending_bytes + len(data) > self.max_pending_bytes:
                self.peers.drop("gossip_queue_full")
                continue
            self._pending.append(data)
            self._pending_bytes += len(data)
        if self._pending:
            self._wake.set()

    def _take_batch(self) -> list[bytes]:
        batch: list[bytes] = []
        size = 0
        pending = self._pending
        while pending and len(batch) < self.max_batch_txs:
            if batch and size + len(pending[0]) > self.max_batch_bytes:
                break
            item = pending.popleft()
            batch.append(item)
            size += len(item)
        self._pending_bytes -= size
        return batch

    def flush(self) -> int:
        """Send everything queued now; returns the number of transactions sent."""
        sent = 0
        while self._pending:
            batch = self._take_batch()
            payload = b'{"txs":[' + b",".join(batch) + b"]}"
            self.peers.broadcast(FrameType.TXS, payload)
            self.sent.inc(len(batch))
            sent += len(batch)
        return sent

    async def run(self) -> None:
        admitter = asyncio.create_task(self._admit_loop())
        try:
            while not self._stopping:
                await self._wake.wait()
                self._wake.clear()
                if (self._pending_bytes < self.max_batch_bytes
                        and len(self._pending) < self.max_batch_txs):
                    await asyncio.sleep(self.flush_ms / 1000)
                self.flush()
        finally:
            admitter.cancel()
            await asyncio.gather(admitter, return_exceptions=True)

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        self._incoming_wake.set()

    async def _admit_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._stopping:
            if not self._incoming:
                self._incoming_wake.clear()
                await self._incoming_wake.wait()
                continue
            if self.idle is not None and not self.idle.is_set():
                oldest = self._incoming[0][0]
                wait_s = oldest + self.max_defer_ms / 1000 - loop.time()
                if wait_s > 0:
                    try:
                        await asyncio.wait_for(self.idle.wait(), wait_s)
                    except TimeoutError:
                        pass
            self.admit_pending(self.admit_chunk)
            await asyncio.sleep(0)

    def admit_pending(self, limit: int | None = None) -> int:
        """Admit up to ``limit`` received transactions now; returns how many were tried."""
        items: list[Any] = []
        while self._incoming and (limit is None or len(items) < limit):
            items.append(self._incoming.popleft()[1])
        if not items:
            return 0
        outcomes = self.admit_many(items)
        admitted = 0
        for outcome in outcomes:
            if outcome["ok"]:
                admitted += 1
            else:
                self.received.inc(1, outcome["error"]["code"])
        if admitted:
            self.received.inc(admitted, "admitted")
        return len(items)

    # -- incoming ---------------------------------------------------------------------------
    def handle(self, peer: Peer, payload: bytes) -> None:
        """A ``TXS`` frame from ``peer``. Decoded with plain ``json.loads``: a float, NaN
        or non-canonical string in a transaction makes ``parse_transaction`` refuse it, and
        with duplicate keys the transaction is simply what was decoded (its id and
        signatures are computed from the canonical re-encoding, never from these bytes)."""
        try:
            body = json.loads(payload)
        except (ValueError, RecursionError):
            self.peers.drop("malformed_txs_frame")
            return
        if not isinstance(body, dict) or set(body) != {"txs"} or not isinstance(body["txs"], list):
            self.peers.drop("malformed_txs_frame")
            return
        now = asyncio.get_running_loop().time()
        for item in body["txs"]:
            if len(self._incoming) >= self.max_incoming:
                self.peers.drop("gossip_incoming_full")
                continue
            self._incoming.append((now, item))
        self._incoming_wake.set()
