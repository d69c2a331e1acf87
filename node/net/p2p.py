"""Peer connections: listen, dial, authenticate, and move frames.

:class:`PeerManager` keeps at most one authenticated connection per peer key. It dials
every configured peer (retrying with backoff while it is unreachable), accepts inbound
connections from keys the node accepts (``authorise``), and hands every data frame to
``on_frame(peer, type, payload)`` on the event loop. When two connections to the same
peer exist (both sides dialled at once), both ends keep the one whose *initiator* has the
smaller key, so they agree without talking about it.

Each peer has a writer task draining two bounded queues: consensus and control frames
first, bulk frames (transactions, blocks) after. A frame that does not fit is dropped and
counted (``send_queue_full``); consensus messages are re-sent by the core anyway.

Nothing a peer sends can stop the reader: an oversize frame is skipped, an unknown type
or a handler error is counted (``fcl_messages_dropped_total{reason}``) and the loop goes
on. A peer silent for ``idle_timeout_s`` is disconnected (status frames flow every few
seconds on a live connection).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, replace
from typing import Any

from node.home import PeerAddress
from node.net.framing import (
    FrameTooLarge,
    FrameType,
    OversizeFrame,
    encode_frame,
    read_frame,
)
from node.net.handshake import HandshakeError, LocalIdentity, PeerIdentity, handshake
from node.ops.metrics import Counter, Registry

__all__ = ["BULK_TYPES", "Peer", "PeerManager", "TransportCounters"]

log = logging.getLogger("node.p2p")

#: Frames that go behind consensus and control traffic.
BULK_TYPES = frozenset({FrameType.TXS, FrameType.BLOCKS})
_DATA_TYPES = frozenset(
    {FrameType.CONSENSUS, FrameType.TXS, FrameType.STATUS, FrameType.GET_STATUS,
     FrameType.GET_BLOCKS, FrameType.BLOCKS}
)
_TYPE_NAMES = {int(t): t.name.lower() for t in FrameType}


@dataclass
class TransportCounters:
    """The metrics the transport keeps (registered once per node)."""

    dropped: Counter
    frames_in: Counter
    frames_out: Counter
    bytes_in: Counter
    bytes_out: Counter
    handshake_failures: Counter
    connections: Counter

    @classmethod
    def register(cls, registry: Registry, dropped: Counter) -> TransportCounters:
        return cls(
            dropped=dropped,
            frames_in=registry.counter("fcl_p2p_frames_received_total",
                                       "Frames received from peers, by type", "type"),
            frames_out=registry.counter("fcl_p2p_frames_sent_total",
                                        "Frames queued to peers, by type", "type"),
            bytes_in=registry.counter("fcl_p2p_bytes_received_total", "Frame bytes received"),
            bytes_out=registry.counter("fcl_p2p_bytes_sent_total", "Frame bytes written"),
            handshake_failures=registry.counter(
                "fcl_p2p_handshake_failures_total", "Refused or failed handshakes, by reason",
                "reason"),
            connections=registry.counter("fcl_p2p_connections_total",
                                         "Authenticated connections, by direction", "direction"),
        )


class Peer:
    """One authenticated connection."""

    def __init__(
        self,
        manager: PeerManager,
        identity: PeerIdentity,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        outbound: bool,
    ) -> None:
        self.manager = manager
        self.key = identity.pub_key
        self.moniker = identity.moniker
        self.listen = identity.listen
        self.outbound = outbound
        self.reader = reader
        self.writer = writer
        peername = writer.get_extra_info("peername")
        self.remote = f"{peername[0]}:{peername[1]}" if isinstance(peername, tuple) else "?"
        self.connected_at = time.time()
        self.last_recv = time.monotonic()
        self.status_height: int | None = None  # latest committed height it reported
        self.status_at = 0.0
        self._high: deque[bytes] = deque()
        self._low: deque[bytes] = deque()
        self._queued = 0
        self._wake = asyncio.Event()
        self._closed = False
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def initiator_key(self) -> str:
        return self.manager.local.key.public_key_hex if self.outbound else self.key

    @property
    def closed(self) -> bool:
        return self._closed

    def info(self) -> dict[str, object]:
        return {
            "pub_key": self.key,
            "moniker": self.moniker,
            "direction": "outbound" if self.outbound else "inbound",
            "address": self.remote,
            "listen": self.listen,
            "height": self.status_height,
            "connected_since_ms": int(self.connected_at * 1000),
        }

    # -- sending ----------------------------------------------------------------------------
    def send_raw(self, frame_type: int, frame: bytes) -> bool:
        """Queue an encoded frame; False (and counted) if the queue is full or closed."""
        if self._closed:
            return False
        if self._queued + len(frame) > self.manager.max_send_queue_bytes:
            self.manager.drop("send_queue_full")
            return False
        (self._low if frame_type in BULK_TYPES else self._high).append(frame)
        self._queued += len(frame)
        self.manager.counters.frames_out.inc(1, _TYPE_NAMES.get(frame_type, "unknown"))
        self._wake.set()
        return True

    def send(self, frame_type: FrameType, payload: bytes) -> bool:
        try:
            frame = encode_frame(frame_type, payload, self.manager.max_frame_bytes)
        except FrameTooLarge:
            self.manager.drop("outgoing_frame_too_large")
            return False
        return self.send_raw(frame_type, frame)

    async def _write_loop(self) -> None:
        writer = self.writer
        while not self._closed:
            if not self._high and not self._low:
                self._wake.clear()
                await self._wake.wait()
                continue
            frame = self._high.popleft() if self._high else self._low.popleft()
            self._queued -= len(frame)
            writer.write(frame)
            self.manager.counters.bytes_out.inc(len(frame))
            await writer.drain()

    async def _read_loop(self) -> None:
        manager = self.manager
        limit = manager.max_frame_bytes
        while not self._closed:
            try:
                kind, payload = await read_frame(self.reader, limit)
            except OversizeFrame as exc:
                # refused at its length prefix: nothing more is read, the connection ends
                manager.counters.frames_in.inc(1, "oversize")
                manager.drop("oversize_frame")
                log.warning("peer sent an oversized frame; disconnecting",
                            extra={"peer": self.key[:16], "bytes": exc.length})
                return
            self.last_recv = time.monotonic()
            manager.counters.bytes_in.inc(len(payload) + 5)
            manager.counters.frames_in.inc(1, _TYPE_NAMES.get(kind, "unknown"))
            if kind not in _DATA_TYPES:
                manager.drop("unexpected_frame_type")
                continue
            try:
                manager.on_frame(self, kind, payload)
            except Exception:  # a handler bug must not take the connection down
                log.exception("frame handler failed", extra={"peer": self.key[:16],
                                                             "type": _TYPE_NAMES.get(kind)})
                manager.drop("handler_error")

    async def run(self) -> None:
        """Read and write until the connection ends; then unregister."""
        self._tasks = [asyncio.create_task(self._write_loop()),
                       asyncio.create_task(self._read_loop())]
        try:
            await asyncio.wait(self._tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in self._tasks:
                if task.done() and not task.cancelled():
                    exc = task.exception()
                    if exc is not None and not isinstance(
                        exc, asyncio.IncompleteReadError | ConnectionError | OSError
                    ):
                        log.warning("peer connection failed: %r", exc,
                                    extra={"peer": self.key[:16]})
        finally:
            self.close()
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            self.manager._unregister(self)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        with contextlib.suppress(Exception):
            self.writer.close()
        for task in self._tasks:
            if task is not asyncio.current_task():
                task.cancel()


def _remote_address(writer: asyncio.StreamWriter) -> str:
    """The remote IP address of a connection ("" if the transport does not say)."""
    peername = writer.get_extra_info("peername")
    if isinstance(peername, tuple) and peername and isinstance(peername[0], str):
        return peername[0]
    return ""


class PeerManager:
    """All peer connections of one node."""

    def __init__(
        self,
        *,
        local: LocalIdentity,
        listen_host: str,
        listen_port: int | None,
        peers: list[PeerAddress],
        authorise: Callable[[str], bool],
        on_frame: Callable[[Peer, int, bytes], None],
        counters: TransportCounters,
        on_connect: Callable[[Peer], None] = lambda peer: None,
        on_disconnect: Callable[[Peer], None] = lambda peer: None,
        max_frame_bytes: int = 17 * 1024 * 1024,
        max_peers: int = 64,
        max_handshakes: int = 64,
        max_handshakes_per_address: int = 8,
        max_send_queue_bytes: int = 96 * 1024 * 1024,
        idle_timeout_s: float = 30.0,
        handshake_timeout_s: float = 5.0,
    ) -> None:
        """``max_peers`` bounds authenticated peers. Connections still in their handshake
        have slots of their own: at most ``max_handshakes`` at once, at most
        ``max_handshakes_per_address`` from one remote address, each for at most
        ``handshake_timeout_s``. Addresses of configured ``peers`` are not counted against
        ``max_handshakes`` (only against the per-address limit), so strangers filling the
        handshake slots cannot keep a configured validator out."""
        assert max_peers >= 1 and max_handshakes >= 1 and max_handshakes_per_address >= 1
        self.local = local
        self.listen_host = listen_host
        self.listen_port = listen_port
        self.addresses = list(peers)
        self.authorise = authorise
        self.on_frame = on_frame
        self.on_connect = on_connect
        self.on_disconnect = on_disconnect
        self.counters = counters
        self.max_frame_bytes = max_frame_bytes
        self.max_peers = max_peers
        self.max_handshakes = max_handshakes
        self.max_handshakes_per_address = max_handshakes_per_address
        self.max_send_queue_bytes = max_send_queue_bytes
        self.idle_timeout_s = idle_timeout_s
        self.handshake_timeout_s = handshake_timeout_s
        self.peers: dict[str, Peer] = {}
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._reserved_hosts = frozenset(a.host for a in self.addresses)
        self._handshaking: dict[str, int] = {}  # remote address -> connections in handshake
        self._handshaking_unreserved = 0
        self._running = False
        self._changed = asyncio.Event()

    # -- life cycle -------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._running

    async def start(self) -> None:
        self._running = True
        if self.listen_port is not None:
            self._server = await asyncio.start_server(
                self._accept, self.listen_host, self.listen_port, limit=2**20
            )
            sock = self._server.sockets[0]
            self.listen_port = int(sock.getsockname()[1])
            self.local = replace(self.local, listen=f"{self.listen_host}:{self.listen_port}")
        for address in self.addresses:
            self._spawn(self._dial_loop(address))
        self._spawn(self._idle_loop())

    async def stop(self) -> None:
        self._running = False
        if self._server is not None:
            self._server.close()
        for peer in list(self.peers.values()):
            peer.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def drop(self, reason: str) -> None:
        """Count a dropped frame or message."""
        self.counters.dropped.inc(1, reason)

    # -- sending ----------------------------------------------------------------------------
    def broadcast(self, frame_type: FrameType, payload: bytes, exclude: str | None = None) -> int:
        """Queue one frame to every connected peer (but ``exclude``); how many took it."""
        if not self.peers:
            return 0
        try:
            frame = encode_frame(frame_type, payload, self.max_frame_bytes)
        except FrameTooLarge:
            self.drop("outgoing_frame_too_large")
            return 0
        sent = 0
        for key, peer in list(self.peers.items()):
            if key != exclude and peer.send_raw(frame_type, frame):
                sent += 1
        return sent

    def disconnect_where(self, drop: Callable[[str], bool], reason: str) -> list[str]:
        """Close every connection whose peer key ``drop`` selects (e.g. an observer revoked
        on the ledger), counting ``fcl_messages_dropped_total{reason}``; return their keys,
        sorted."""
        gone = sorted(key for key in self.peers if drop(key))
        for key in gone:
            peer = self.peers[key]
            log.info("disconnecting peer", extra={"peer": key[:16], "moniker": peer.moniker,
                                                  "reason": reason})
            self.counters.dropped.inc(1, reason)
            peer.close()
        return gone

    def send_to(self, key: str, frame_type: FrameType, payload: bytes) -> bool:
        peer = self.peers.get(key)
        return peer is not None and peer.send(frame_type, payload)

    # -- connections ------------------------------------------------------------------------
    @property
    def handshaking(self) -> int:
        """Inbound connections in their handshake now."""
        return sum(self._handshaking.values())

    def _handshake_slot(self, address: str) -> str | None:
        """Why a new inbound connection from ``address`` gets no handshake slot, or None."""
        if self._handshaking.get(address, 0) >= self.max_handshakes_per_address:
            return "too_many_from_address"
        if (address not in self._reserved_hosts
                and self._handshaking_unreserved >= self.max_handshakes):
            return "too_many_handshakes"
        return None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self._running:
            writer.close()
            return
        address = _remote_address(writer)
        refused = self._handshake_slot(address)
        if refused is not None:
            self.counters.handshake_failures.inc(1, refused)
            writer.close()
            return
        reserved = address in self._reserved_hosts
        self._handshaking[address] = self._handshaking.get(address, 0) + 1
        self._handshaking_unreserved += 0 if reserved else 1
        try:
            identity = await handshake(
                reader, writer, self.local, initiator=False, authorise=self.authorise,
                timeout_s=self.handshake_timeout_s,
            )
        except HandshakeError as exc:
            self._refused(exc, writer.get_extra_info("peername"))
            writer.close()
            return
        except Exception:  # a bug in one handshake must not go unnoticed or stay open
            log.exception("accepting a peer failed",
                          extra={"remote": str(writer.get_extra_info("peername"))})
            self.counters.handshake_failures.inc(1, "accept_error")
            writer.close()
            return
        finally:
            left = self._handshaking[address] - 1
            if left:
                self._handshaking[address] = left
            else:
                del self._handshaking[address]
            self._handshaking_unreserved -= 0 if reserved else 1
            assert self._handshaking_unreserved >= 0
        if len(self.peers) >= self.max_peers and identity.pub_key not in self.peers:
            self.counters.handshake_failures.inc(1, "too_many_peers")
            writer.close()
            return
        await self._adopt(identity, reader, writer, outbound=False)

    def _refused(self, exc: HandshakeError, where: object) -> None:
        self.counters.handshake_failures.inc(1, exc.code)
        log.info("handshake failed", extra={"reason": exc.code, "detail": exc.message,
                                            "remote": str(where)})

    async def _adopt(
        self,
        identity: PeerIdentity,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        outbound: bool,
    ) -> None:
        peer = Peer(self, identity, reader, writer, outbound)
        existing = self.peers.get(peer.key)
        if existing is not None:
            # keep the connection whose initiator has the smaller key (both ends agree)
            if existing.initiator_key <= peer.initiator_key:
                writer.close()
                return
            existing.close()
        self.peers[peer.key] = peer
        self.counters.connections.inc(1, "outbound" if outbound else "inbound")
        log.info("peer connected", extra={"peer": peer.key[:16], "moniker": peer.moniker,
                                           "direction": "outbound" if outbound else "inbound"})
        self._changed.set()
        try:
            self.on_connect(peer)
        except Exception:
            log.exception("on_connect failed")
        await peer.run()

    def _unregister(self, peer: Peer) -> None:
        if self.peers.get(peer.key) is peer:
            del self.peers[peer.key]
            log.info("peer disconnected", extra={"peer": peer.key[:16], "moniker": peer.moniker})
            self._changed.set()
            try:
                self.on_disconnect(peer)
            except Exception:
                log.exception("on_disconnect failed")

    async def _dial_loop(self, address: PeerAddress) -> None:
        """Keep one connection to ``address``: dial, handshake, serve; after a failure,
        wait with a jittered exponential back-off (0.2 s doubling to 5 s). Nothing that
        goes wrong with one attempt ends the loop -- an unexpected error is logged and
        counted (``fcl_p2p_handshake_failures_total{reason="dial_error"}``) and the next
        attempt follows the back-off."""
        backoff = 0.2
        while self._running:
            if address.pub_key in self.peers:
                self._changed.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), 2)
                backoff = 0.2
                continue
            try:
                connected = await self._dial_once(address)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("dialling a peer failed",
                              extra={"remote": f"{address.host}:{address.port}"})
                self.counters.handshake_failures.inc(1, "dial_error")
                connected = False
            if connected:
                backoff = 0.2
                continue
            await asyncio.sleep(backoff * (1 + random.random() / 2))
            backoff = min(backoff * 2, 5.0)

    async def _dial_once(self, address: PeerAddress) -> bool:
        """One attempt: False if no authenticated connection came of it, True after the
        connection it made has ended."""
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(address.host, address.port, limit=2**20), 3
            )
        except (TimeoutError, OSError):
            return False
        try:
            identity = await handshake(
                reader, writer, self.local, initiator=True, authorise=self.authorise,
                expected_key=address.pub_key, timeout_s=self.handshake_timeout_s,
            )
        except BaseException as exc:
            writer.close()
            if not isinstance(exc, HandshakeError):
                raise
            self._refused(exc, f"{address.host}:{address.port}")
            return False
        await self._adopt(identity, reader, writer, outbound=True)
        return True

    async def _idle_loop(self) -> None:
        while self._running:
            await asyncio.sleep(min(5.0, self.idle_timeout_s / 2))
            now = time.monotonic()
            for peer in list(self.peers.values()):
                if now - peer.last_recv > self.idle_timeout_s:
                    log.info("peer idle; disconnecting", extra={"peer": peer.key[:16]})
                    self.drop("idle_peer")
                    peer.close()
