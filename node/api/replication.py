"""Document replication (docs/documents.md, "Replication"): a node fetches the documents
the ledger references, and that it lacks, from the API of its document peers (config
``documents.peers``), and keeps them only if their SHA-256 is the hash asked for.

* **What.** After each committed block (polled: the fetcher follows the store's height) it
  scans the block's successful transactions of the document contracts
  (``ledger.documents.DOCUMENT_CONTRACTS``: ``carbon``) for document hashes
  (``ledger.documents.referenced_hashes``: every ``...sha256`` argument) and queues those
  this node lacks. A ``GET /v1/documents/{sha256}`` that misses fetches on demand too.
* **Bounded.** At most ``max_queue`` hashes wait (more are dropped, and counted); a scan
  reads at most ``max_blocks_per_scan`` blocks; a document is read up to the node's size
  limit and no further; at most ``max_on_demand`` on-demand fetches run at once (more
  are answered 404 at once).
* **Retry with backoff.** A hash no peer has is tried again after 2, 4, 8 ... s (at most
  ``max_backoff_s``), at most ``max_attempts`` times, then dropped (a later ``GET`` can
  still fetch it).
* **Never trusted.** The bytes are hashed; a peer serving other bytes is skipped (counted
  as ``hash_mismatch``) and the next peer asked. A replication request carries
  ``X-FCL-No-Fetch``, so a peer that lacks the document does not in turn ask its peers.
* **Restricted documents are not replicated** in this increment: a peer answers 403
  ``document_restricted`` to an unsigned read, and the fetcher stops asking for that hash.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from ledger.crypto import sha256_hex
from ledger.documents import (
    DOCUMENT_CONTRACTS,
    HEADER_NO_FETCH,
    HEADER_RESTRICTED,
    HEADER_UPLOADER_ORG,
    MEDIA_TYPES,
    referenced_hashes,
)
from ledger.store import Store
from node.api.documents import DocumentMeta, DocumentStore
from node.ops.metrics import Registry

__all__ = ["DocumentFetcher", "FETCH_OUTCOMES"]

_CONTRACT_MARKS = tuple(f'"contract":"{c}"'.encode() for c in DOCUMENT_CONTRACTS)

log = logging.getLogger("node.documents")

#: The outcomes ``fcl_documents_fetched_total{outcome}`` counts.
FETCH_OUTCOMES = ("stored", "not_found", "restricted", "hash_mismatch", "bad_answer",
                  "unreachable", "queue_full", "gave_up")


@dataclass
class _Pending:
    attempts: int = 0
    due: float = 0.0


class DocumentFetcher:
    """Fetches missing documents from ``peers`` (API base URLs) into ``documents``."""

    def __init__(
        self,
        documents: DocumentStore,
        store: Callable[[], Store],
        peers: list[str] | tuple[str, ...],
        *,
        max_bytes: int,
        registry: Registry | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout_s: float = 30.0,
        max_queue: int = 1024,
        max_attempts: int = 8,
        base_backoff_s: float = 2.0,
        max_backoff_s: float = 300.0,
        max_blocks_per_scan: int = 200,
        max_on_demand: int = 2,
        poll_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        wall_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    ) -> None:
        self.documents = documents
        self.store = store
        self.peers = [p.rstrip("/") for p in peers]
        self.max_bytes = max_bytes
        self.max_queue = max_queue
        self.max_attempts = max_attempts
        self.base_backoff_s = base_backoff_s
        self.max_backoff_s = max_backoff_s
        self.max_blocks_per_scan = max_blocks_per_scan
        self.poll_s = poll_s
        self.clock = clock
        self.wall_ms = wall_ms
        self.scanned = 0  # the last height whose block was scanned
        self.queue: OrderedDict[str, _Pending] = OrderedDict()
        self._on_demand = asyncio.Semaphore(max_on_demand)
        self._transport = transport
        self._timeout_s = timeout_s
        self._client: httpx.AsyncClient | None = None
        self._stopped = False
        self._wake = asyncio.Event()
        self.counts: dict[str, int] = dict.fromkeys(FETCH_OUTCOMES, 0)
        self._counter = None if registry is None else registry.counter(
            "fcl_documents_fetched_total",
            "Document fetches from peers, by outcome (docs/documents.md)", "outcome")
        if registry is not None:
            registry.gauge("fcl_documents_queued", "Document hashes waiting to be fetched",
                           lambda: len(self.queue))
            registry.gauge("fcl_documents_stored", "Documents this node holds",
                           lambda: len(self.documents))

    def _count(self, outcome: str) -> None:
        self.counts[outcome] += 1
        if self._counter is not None:
            self._counter.inc(1, outcome)

    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(transport=self._transport,
                                             timeout=httpx.Timeout(self._timeout_s),
                                             follow_redirects=False)
        return self._client

    # -- what to fetch ---------------------------------------------------------------------
    def enqueue(self, sha256: str) -> bool:
        """Queue ``sha256`` unless this node holds it or it is queued; False if the queue
        is full (the hash is dropped and counted)."""
        if sha256 in self.documents or sha256 in self.queue:
            return True
        if len(self.queue) >= self.max_queue:
            self._count("queue_full")
            return False
        self.queue[sha256] = _Pending(due=self.clock())
        return True

    def scan_blocks(self) -> list[str]:
        """Read the blocks committed since the last scan (at most ``max_blocks_per_scan``)
        and return the document hashes their successful transactions name, in order.
        Blocks this node does not hold (below a state-sync snapshot) are skipped."""
        store = self.store()
        top = min(store.latest_height(), self.scanned + self.max_blocks_per_scan)
        found: list[str] = []
        for height in range(self.scanned + 1, top + 1):
            raw = store.get_block_json(height)
            # a block with no transaction of a document contract is not parsed at all (in
            # canonical JSON that key and value can only be a payload's: a quote inside a
            # string is escaped)
            if raw is not None and any(mark in raw for mark in _CONTRACT_MARKS):
                block = store.get_block(height)
                for index, tx in enumerate(block.txs if block is not None else ()):
                    result = block.results[index] if block and index < len(block.results) else {}
                    if tx.contract in DOCUMENT_CONTRACTS and result.get("code") == "ok":
                        found.extend(referenced_hashes(tx.args))
            self.scanned = height
        return found

    # -- fetching --------------------------------------------------------------------------
    async def fetch(self, sha256: str) -> str:
        """Ask each peer in turn for ``sha256``; store the first answer whose bytes hash to
        it. The outcome: ``stored``, ``restricted`` (a peer holds it restricted),
        ``not_found`` (no peer had it, or none could be reached or answered well)."""
        if sha256 in self.documents:
            return "stored"
        outcome = "not_found"
        for peer in self.peers:
            got = await self._fetch_from(peer, sha256)
            if got == "stored":
                self._count("stored")
                return "stored"
            if got == "restricted":
                outcome = "restricted"
        return outcome

    async def _fetch_from(self, peer: str, sha256: str) -> str:
        url = f"{peer}/v1/documents/{sha256}"
        try:
            async with self.client().stream("GET", url, headers={HEADER_NO_FETCH: "1"}) as resp:
                if resp.status_code == 404:
                    self._count("not_found")
                    return "not_found"
                if resp.status_code == 403:
                    self._count("restricted")
                    return "restricted"
                media_type = resp.headers.get("content-type", "").split(";", 1)[0].strip()
                if resp.status_code != 200 or media_type not in MEDIA_TYPES.values() \
                        or resp.headers.get(HEADER_RESTRICTED) == "true":
                    self._count("bad_answer")
                    return "bad_answer"
                chunks: list[bytes] = []
                size = 0
                async for chunk in resp.aiter_bytes():
                    size += len(chunk)
                    if size > self.max_bytes:
                        self._count("bad_answer")
                        log.warning("a document peer sent more than the size limit",
                                    extra={"peer": peer, "sha256": sha256})
                        return "bad_answer"
                    chunks.append(chunk)
                org = resp.headers.get(HEADER_UPLOADER_ORG)
        except httpx.HTTPError as exc:
            self._count("unreachable")
            log.info("document peer unreachable", extra={"peer": peer, "error": str(exc)})
            return "unreachable"
        data = b"".join(chunks)
        if await asyncio.to_thread(sha256_hex, data) != sha256:
            self._count("hash_mismatch")
            log.warning("a document peer served bytes that are not the document asked for",
                        extra={"peer": peer, "sha256": sha256, "got": sha256_hex(data)})
            return "hash_mismatch"
        await asyncio.to_thread(self.documents.put, data, DocumentMeta(
            sha256=sha256, size=len(data), media_type=media_type, restricted=False,
            uploader_org=org if org and len(org) <= 64 else None, uploader_key=None,
            stored_ms=self.wall_ms(), source="peer"))
        return "stored"

    async def fetch_now(self, sha256: str) -> bool:
        """On-demand fetch for a ``GET`` that missed: True if the node now holds the
        document. At most ``max_on_demand`` at once; when all are busy, False at once."""
        if not self.peers:
            return False
        if self._on_demand.locked():
            return sha256 in self.documents
        async with self._on_demand:
            return await self.fetch(sha256) == "stored"

    async def step(self) -> int:
        """One round: scan new blocks, queue what is missing, fetch every hash that is
        due. Returns how many hashes were tried."""
        for digest in await asyncio.to_thread(self.scan_blocks):
            self.enqueue(digest)
        now = self.clock()
        due = [h for h, p in self.queue.items() if p.due <= now]
        for digest in due:
            if self._stopped:
                break
            outcome = await self.fetch(digest)
            pending = self.queue.get(digest)
            if pending is None:
                continue
            if outcome in ("stored", "restricted"):
                del self.queue[digest]
                continue
            pending.attempts += 1
            if pending.attempts >= self.max_attempts:
                del self.queue[digest]
                self._count("gave_up")
                continue
            pending.due = self.clock() + min(self.max_backoff_s,
                                             self.base_backoff_s * 2 ** (pending.attempts - 1))
        return len(due)

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Follow the chain until :meth:`stop`."""
        try:
            while not self._stopped:
                try:
                    await self.step()
                except Exception:  # a bad block read or peer must not stop the node
                    log.exception("document replication step failed")
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), self.poll_s)
                except TimeoutError:
                    pass
        finally:
            if self._client is not None:
                await self._client.aclose()
                self._client = None

    def stop(self) -> None:
        self._stopped = True
        self._wake.set()
