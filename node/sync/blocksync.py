"""Block sync: a node that is behind fetches committed blocks and their certificates
from its peers, over the same connections as consensus.

Frames (canonical JSON)::

    STATUS      {"height": <latest committed>, "hash": <its block hash>,
                 "consensus_height", "round"}
    GET_STATUS  {}
    GET_BLOCKS  {"from": h, "count": n}                          (n <= 64)
    BLOCKS      {"blocks": [{"block", "certificate"}, ...], "height": <sender's latest>}

Every node sends ``STATUS`` when a connection opens, after each commit and every
``status_interval_s`` (which also keeps idle connections alive). Knowing its peers'
heights, a node whose next height ``h`` a peer has already committed asks that peer for
blocks from ``h``: at once if the peer is two or more blocks ahead, otherwise after
``grace_s`` without deciding ``h`` itself (a node one block behind usually catches up
through consensus). One request is outstanding at a time; which peer it goes to, when
another peer is asked too and which peers are left alone for a while is the policy of
:class:`~node.sync.scheduler.SyncScheduler`: requests go round the peers that claim the
height; an empty, malformed, refused or missing answer demotes the peer (10 s, doubling
up to 5 min); a peer that has not answered within ``hedge_s`` (3 s) gets company -- the
same request goes to another peer, the first useful answer wins and the late peer is
demoted as ``slow``. A peer that claims
heights it never serves therefore cannot stall a node's catch-up.

Nothing a peer sends is trusted. Received blocks are decoded (transactions must match
the header's root) off the event loop and handed to the driver, which feeds each one to
the consensus core when the core reaches its height (only an answer from the peer asked is read; others are
dropped as ``unsolicited_blocks``): the core verifies the certificate
against the validator set of *that* height (which the driver derives from the committed
state, so a governance change of the set is followed block by block), then the block is
re-executed and committed through the application, which verifies the certificate again.
The core's ``PeerBehind``/``PeerAhead`` hints make a node send its status to a lagging
peer, or ask a leading one for its status, at once. When the core refuses a synced block (a ``SyncRefused``
report: wrong height, a certificate for another block, or one that does not verify), the
driver tells block sync which peer sent it; that peer is demoted and the next request
goes to another.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ledger.block import CommitCertificate
from ledger.encoding import CanonicalEncodingError, canonical, decode
from ledger.errors import LedgerError
from ledger.store import Store
from node.chain.app import Application
from node.chain.blockcodec import BlockCodec
from node.driver.asyncio_driver import ConsensusDriver
from node.net.framing import FrameType
from node.net.p2p import Peer, PeerManager
from node.ops.metrics import Registry
from node.sync.scheduler import SyncScheduler

__all__ = ["BlockSync"]

log = logging.getLogger("node.sync")

MAX_REQUEST_BLOCKS = 64


@dataclass
class _Request:
    """The outstanding request: blocks from ``need``; the peers asked, with deadlines."""

    need: int
    count: int
    asked: dict[str, float] = field(default_factory=dict)  # peer -> answer deadline
    last_ask: float = 0.0


class BlockSync:
    """Serves and fetches committed blocks."""

    def __init__(
        self,
        *,
        store: Store,
        app: Application,
        driver: ConsensusDriver,
        peers: PeerManager,
        codec: BlockCodec,
        registry: Registry,
        batch_blocks: int = 16,
        max_batch_bytes: int = 8 * 1024 * 1024,
        status_interval_s: float = 2.0,
        grace_s: float = 2.0,
        request_timeout_s: float = 15.0,
        scheduler: SyncScheduler | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.app = app
        self.driver = driver
        self.peers = peers
        self.codec = codec
        self.batch_blocks = batch_blocks
        self.max_batch_bytes = max_batch_bytes
        self.status_interval_s = status_interval_s
        self.grace_s = grace_s
        self.request_timeout_s = request_timeout_s
        self.scheduler = scheduler or SyncScheduler()
        self.clock = clock
        self._request: _Request | None = None
        self._behind_since: float | None = None
        self._stopping = False
        self._tasks: set[asyncio.Task[None]] = set()
        self.blocks_received = registry.counter(
            "fcl_sync_blocks_received_total", "Blocks received through block sync")
        self.blocks_served = registry.counter(
            "fcl_sync_blocks_served_total", "Blocks sent to peers through block sync")
        self.requests = registry.counter("fcl_sync_requests_total", "Block requests sent")
        self.demotions = registry.counter(
            "fcl_sync_peer_demotions_total",
            "Peers block sync stopped asking for a while, by reason", "reason")

    # -- status -----------------------------------------------------------------------------
    def status_payload(self) -> bytes:
        core = self.driver.core
        tip = self.app.tip
        return canonical({"consensus_height": core.height, "hash": tip.block_hash,
                          "height": tip.height, "round": core.round})

    def on_connect(self, peer: Peer) -> None:
        peer.send(FrameType.STATUS, self.status_payload())

    def committed(self, height: int) -> None:
        """This node committed ``height``: tell the peers, and fetch more if behind."""
        self._behind_since = None
        if self._request is not None and self._request.need <= height:
            self._request = None
        self.peers.broadcast(FrameType.STATUS, self.status_payload())
        self.maybe_request()

    def peer_behind(self, validator: str, height: int) -> None:
        self.peers.send_to(validator, FrameType.STATUS, self.status_payload())

    def peer_ahead(self, validator: str, height: int) -> None:
        self.peers.send_to(validator, FrameType.GET_STATUS, b"{}")

    def sync_refused(self, height: int, peer: str, reason: str) -> None:
        """The consensus core refused block ``height`` that ``peer`` sent (a
        ``SyncRefused`` report, logged and counted by the driver): demote that peer and
        forget the request it answered, so the next one goes to another peer."""
        self._failed(peer, "refused")
        if self._request is not None:
            self._request.asked.pop(peer, None)
            if not self._request.asked:
                self._request = None
        self.maybe_request()

    def _failed(self, peer: str, reason: str) -> None:
        seconds = self.scheduler.failed(peer, reason, self.clock())
        self.demotions.inc(1, reason)
        log.info("sync peer demoted", extra={"peer": peer[:16], "reason": reason,
                                              "seconds": seconds})

    # -- frames -----------------------------------------------------------------------------
    def handle(self, peer: Peer, kind: int, payload: bytes) -> None:
        if kind == FrameType.STATUS:
            self._on_status(peer, payload)
        elif kind == FrameType.GET_STATUS:
            peer.send(FrameType.STATUS, self.status_payload())
        elif kind == FrameType.GET_BLOCKS:
            self._on_get_blocks(peer, payload)
        elif kind == FrameType.BLOCKS:
            self._spawn(self._on_blocks(peer, payload))

    def _on_status(self, peer: Peer, payload: bytes) -> None:
        try:
            obj = decode(payload)
            height = obj["height"]
        except (CanonicalEncodingError, KeyError, TypeError):
            self.peers.drop("malformed_status")
            return
        if type(height) is not int or height < 0:
            self.peers.drop("malformed_status")
            return
        peer.status_height = height
        peer.status_at = self.clock()
        self.maybe_request()

    def _on_get_blocks(self, peer: Peer, payload: bytes) -> None:
        try:
            obj = decode(payload)
            start, count = obj["from"], obj["count"]
        except (CanonicalEncodingError, KeyError, TypeError):
            self.peers.drop("malformed_get_blocks")
            return
        if type(start) is not int or type(count) is not int or start < 1 or not (
            1 <= count <= MAX_REQUEST_BLOCKS
        ):
            self.peers.drop("malformed_get_blocks")
            return
        parts: list[bytes] = []
        size = 0
        for height in range(start, start + count):
            block = self.store.get_block_json(height)
            commit = self.store.get_commit_json(height)
            if block is None or commit is None:
                break
            if parts and size + len(block) + len(commit) > self.max_batch_bytes:
                break
            parts.append(b'{"block":' + block + b',"certificate":' + commit + b"}")
            size += len(block) + len(commit)
        body = (b'{"blocks":[' + b",".join(parts) + b'],"height":'
                + str(self.app.height).encode() + b"}")
        if peer.send(FrameType.BLOCKS, body):
            self.blocks_served.inc(len(parts))

    def _decode_blocks(self, payload: bytes) -> tuple[list[tuple[Any, CommitCertificate]], int]:
        obj = decode(payload)
        if not isinstance(obj, dict) or set(obj) != {"blocks", "height"}:
            raise ValueError("a BLOCKS frame has exactly blocks, height")
        entries = obj["blocks"]
        if not isinstance(entries, list) or len(entries) > MAX_REQUEST_BLOCKS:
            raise ValueError("blocks must be a list")
        out = []
        for entry in entries:
            if not isinstance(entry, dict) or set(entry) != {"block", "certificate"}:
                raise ValueError("each entry has exactly block, certificate")
            block = self.codec.decode(entry["block"])
            cert = CommitCertificate.from_json(entry["certificate"])
            if cert.height != block.height or cert.block_hash != block.hash():
                raise ValueError(f"certificate does not name block {block.height}")
            out.append((block, cert))
        height = obj["height"]
        return out, height if type(height) is int else 0

    async def _on_blocks(self, peer: Peer, payload: bytes) -> None:
        request = self._request
        if request is None or peer.key not in request.asked:
            self.peers.drop("unsolicited_blocks")  # only answers to our request are read
            return
        loop = asyncio.get_running_loop()
        try:
            entries, height = await loop.run_in_executor(None, self._decode_blocks, payload)
        except (CanonicalEncodingError, LedgerError, ValueError, TypeError, KeyError) as exc:
            self.peers.drop("malformed_blocks")
            log.warning("bad BLOCKS frame", extra={"peer": peer.key[:16], "detail": str(exc)})
            self.answered(peer, None, 0)
            return
        self.answered(peer, entries, height)

    def answered(
        self, peer: Peer, entries: list[tuple[Any, CommitCertificate]] | None, height: int
    ) -> None:
        """``peer`` answered the outstanding request with ``entries`` (None: malformed)."""
        request = self._request
        if request is None or peer.key not in request.asked:
            self.peers.drop("unsolicited_blocks")  # e.g. another peer answered first
            return
        del request.asked[peer.key]
        if entries is None:
            self._failed(peer.key, "malformed")
        elif not entries:
            self._failed(peer.key, "empty")  # it claimed the height, and sent nothing
        else:
            if height > (peer.status_height or 0):
                peer.status_height = height
            self.blocks_received.inc(len(entries))
            kept = self.driver.offer_synced(entries, peer.key)
            log.info("blocks received", extra={"peer": peer.key[:16], "count": len(entries),
                                               "from": entries[0][0].height, "kept": kept})
            if self.driver.has_synced(request.need):
                self.scheduler.succeeded(peer.key, kept)
                self._request = None  # answered; the next request follows the commits
                return
            self._failed(peer.key, "empty")  # blocks, but not the one asked for
        if not request.asked:
            self._request = None
        self.maybe_request()

    # -- fetching ---------------------------------------------------------------------------
    def maybe_request(self) -> None:
        """Ask a peer for blocks if one has committed the height this node needs next;
        ask another one as well if the one asked is late (``SyncScheduler.hedge_s``)."""
        now = self.clock()
        need = self.app.height + 1
        request = self._request
        if request is not None:
            for key, deadline in list(request.asked.items()):
                if key not in self.peers.peers:
                    del request.asked[key]
                elif now >= deadline:
                    del request.asked[key]
                    self._failed(key, "timeout")
            if not request.asked or request.need != need:
                self._request = request = None
        if self.driver.has_synced(need):
            return
        candidates = [(p.key, p.status_height) for p in self.peers.peers.values()
                      if p.status_height is not None]  # (key, claimed height)
        if request is not None:
            if now - request.last_ask < self.scheduler.hedge_s:
                return
            extra = self.scheduler.pick(candidates, need, now, exclude=request.asked)
            if extra is not None:
                for late in request.asked:  # still welcome to answer, but not asked next
                    self._failed(late, "slow")
                self._ask(extra, request, now, hedge=True)
            return
        claimed = [h for k, h in candidates if h >= need]
        if not claimed:
            self._behind_since = None
            return
        best = max(claimed)
        if best < need + 1:
            if self._behind_since is None:
                self._behind_since = now
                return
            if now - self._behind_since < self.grace_s:
                return
        chosen = self.scheduler.pick(candidates, need, now)
        if chosen is None:
            return  # every peer that claims the height is demoted for now
        peer_height = dict(candidates)[chosen]
        request = _Request(need=need, count=min(self.batch_blocks, peer_height - need + 1))
        self._ask(chosen, request, now, hedge=False)
        if request.asked:
            self._request = request

    def _ask(self, key: str, request: _Request, now: float, *, hedge: bool) -> None:
        peer = self.peers.peers[key]
        body = canonical({"count": request.count, "from": request.need})
        if peer.send(FrameType.GET_BLOCKS, body):
            request.asked[key] = now + self.request_timeout_s
            request.last_ask = now
            self.scheduler.asked(key, now)
            self.requests.inc()
            log.info("requesting blocks", extra={"peer": key[:16], "from": request.need,
                                                 "count": request.count, "hedge": hedge,
                                                 "peer_height": peer.status_height})

    async def run(self) -> None:
        """Announce the status periodically and retry requests."""
        while not self._stopping:
            await asyncio.sleep(min(self.status_interval_s, self.grace_s / 2))
            self.peers.broadcast(FrameType.STATUS, self.status_payload())
            self.maybe_request()

    def stop(self) -> None:
        self._stopping = True
        for task in list(self._tasks):
            task.cancel()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
