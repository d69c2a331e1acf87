"""One validator process, assembled: store, application, mempool, consensus driver, peer
transport, transaction gossip, block sync, metrics, and the :class:`~node.api.service.Node`
the HTTP API serves.

``fcl node start`` builds a :class:`NodeRuntime` from a node home and serves it; tests
build several in one process. A runtime with no p2p port and no peers is a lone
validator (the n = 1 case): the same driver, with no network.

An *observer* (``config.observer``, docs/node.md "Observer nodes") runs the same
runtime with no signing key in consensus: its driver follows the chain from the
validators' consensus messages and block sync, verifies every block by its commit
certificate, and never signs or sends a vote or a proposal. It refuses to start if its
key is a validator's (``observer_is_validator``).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chaincode.executor import Executor
from chaincode.membership import OBSERVER_PREFIX, is_active_observer
from chaincode.validator_state import validator_set_for
from ledger.crypto import PrivateKey
from ledger.genesis import Genesis
from ledger.store import Store
from node.api.documents import DocumentSettings, DocumentStore
from node.api.replication import DocumentFetcher
from node.api.service import Node
from node.chain.app import Application
from node.chain.blockcodec import BlockCodec
from node.chain.verified import DEFAULT_MAX_ENTRIES, VerifiedTxs
from node.consensus import ConsensusConfig
from node.driver.asyncio_driver import (
    CORE_DROP_REASONS,
    ConsensusDriver,
    DriverConfig,
    DriverMetrics,
    wall_clock_ms,
)
from node.driver.signfile import SignStateFile
from node.home import HomeError, NodeConfig
from node.net.framing import FrameType, consensus_payload, split_consensus_payload
from node.net.handshake import LocalIdentity
from node.net.p2p import Peer, PeerManager, TransportCounters
from node.ops.metrics import Registry
from node.sync.blocksync import BlockSync
from node.txpool.gossip import TxGossip
from node.txpool.mempool import Mempool

__all__ = ["NodeRuntime", "tune_gc"]

log = logging.getLogger("node.runtime")

_MAX_HEIGHT = 2**53 - 1

def tune_gc() -> None:
    """Make the cyclic garbage collector cheaper for a long-running node process: collect
    once, then move every object alive after start-up (modules, configuration, the opened
    chain) to the permanent generation (``gc.freeze``: never scanned again by a full
    collection). The thresholds stay CPython's (700, 10, 10): raising them (tried:
    50,000 young objects) let garbage cycles that hold refused or read-back payloads wait
    longer for a collection, and a node under the memory-amplifying attack grew to
    0.7–1.1 GiB (``tests/fcl/test_nemesis.py`` bounds it at 400 MiB). Process-wide:
    ``fcl node start`` calls it once the runtime is built, never a library or test that
    builds runtimes in its own process. No effect on what a node computes
    (docs/performance.md, "Block path, 2026-12-07")."""
    gc.collect()
    gc.freeze()


class _Network:
    """The driver's view of the network: the peer manager and block sync."""

    def __init__(self, runtime: NodeRuntime) -> None:
        self.runtime = runtime

    def broadcast_consensus(self, height: int, data: bytes) -> None:
        if self.runtime.config.observer:
            # unreachable (an observer's core has no key, so it signs nothing); a belt
            # to the braces: an observer sends no consensus frame, ever
            self.runtime.dropped.inc(1, "observer_consensus_send")
            return
        peers = self.runtime.peers
        if peers is not None:
            peers.broadcast(FrameType.CONSENSUS, consensus_payload(height, data))

    def peer_behind(self, validator: str, height: int) -> None:
        if self.runtime.sync is not None:
            self.runtime.sync.peer_behind(validator, height)

    def peer_ahead(self, validator: str, height: int) -> None:
        if self.runtime.sync is not None:
            self.runtime.sync.peer_ahead(validator, height)

    def sync_refused(self, height: int, peer: str, reason: str) -> None:
        if self.runtime.sync is not None:
            self.runtime.sync.sync_refused(height, peer, reason)

    def committed(self, height: int) -> None:
        if self.runtime.sync is not None:
            self.runtime.sync.committed(height)
        if self.runtime.peers is not None:
            # a revoked observer is dropped as soon as the revoking block is committed
            self.runtime.peers.disconnect_where(self.runtime.revoked_observer,
                                                "observer_revoked")


class NodeRuntime:
    """Everything one node runs. ``run()`` until ``stop()``; both may be called once."""

    def __init__(
        self,
        *,
        config: NodeConfig,
        genesis: Genesis,
        key: PrivateKey,
        store: Store,
        state_dir: str | Path,
        executor: Executor | None = None,
        clock_ms: Callable[[], int] = wall_clock_ms,
        driver_config: DriverConfig | None = None,
        documents_dir: str | Path | None = None,
        document_transport: Any = None,
    ) -> None:
        self.config = config
        self.genesis = genesis
        self.key = key
        self.store = store
        self.registry = Registry()
        # The one verified-transaction set: the mempool (and its admission) and the
        # application share it; room for a full mempool and as much again of proposals.
        self.verified = VerifiedTxs(max(DEFAULT_MAX_ENTRIES, 2 * config.mempool_max_txs))
        org_txs, org_bytes = config.mempool_org_limits()
        self.mempool = Mempool(config.mempool_max_txs, config.mempool_max_bytes,
                               verified=self.verified, max_txs_per_org=org_txs,
                               max_bytes_per_org=org_bytes)
        self.app = Application(store, executor or Executor(), genesis, verified=self.verified)
        if config.observer and self.is_validator_key(key.public_key_hex):
            raise HomeError(
                "observer_is_validator",
                f"this node is configured as an observer (config.json observer: true) but "
                f"its key {key.public_key_hex[:16]}… is in the current or scheduled validator "
                "set; start it as a validator (observer: false) or give the observer its own "
                "node key",
            )
        self.codec = BlockCodec(genesis.chain_id, self.mempool.by_json_key,
                                self.mempool.by_canonical_text)
        self.dropped = self.registry.counter(
            "fcl_messages_dropped_total",
            "Peer frames and consensus messages dropped, by reason", "reason")
        networked = config.p2p_port is not None or bool(config.peers)
        self.peers: PeerManager | None = None
        self.gossip: TxGossip | None = None
        self.sync: BlockSync | None = None
        self.driver = ConsensusDriver(
            self.app,
            self.mempool,
            None if config.observer else key,  # an observer's core signs nothing
            codec=self.codec,
            sign_file=SignStateFile(state_dir),
            metrics=DriverMetrics(self.registry),
            config=driver_config or DriverConfig(
                block_interval_ms=config.block_interval_ms,
                max_block_txs=config.max_block_txs,
                max_clock_drift_ms=config.max_clock_drift_ms,
            ),
            consensus_config=ConsensusConfig(**config.consensus_overrides()),
            network=_Network(self) if networked else None,
            clock_ms=clock_ms,
            before_build=self._admit_gossip,
        )
        self.node = Node(
            moniker=config.moniker,
            genesis=genesis,
            store=store,
            app=self.app,
            mempool=self.mempool,
            on_admit=self.driver.notify,
            on_txs=self._gossip_txs,
            status_extra=self.status_extra,
            metrics=self.registry,
        )
        self.document_fetcher: DocumentFetcher | None = None
        if documents_dir is not None:
            self._open_documents(documents_dir, document_transport)
        self._peer_keys = frozenset(p.pub_key for p in config.peer_addresses())
        if networked:
            self.peers = PeerManager(
                local=LocalIdentity(
                    key=key,
                    chain_id=genesis.chain_id,
                    genesis_hash=genesis.hash,
                    listen="" if config.p2p_port is None
                    else f"{config.p2p_host}:{config.p2p_port}",
                    moniker=config.moniker,
                ),
                listen_host=config.p2p_host,
                listen_port=config.p2p_port,
                peers=config.peer_addresses(),
                authorise=self.authorise,
                on_frame=self._on_frame,
                counters=TransportCounters.register(self.registry, self.dropped),
                on_connect=self._on_connect,
                max_frame_bytes=config.max_frame_bytes,
                max_peers=config.p2p_max_peers,
                max_handshakes=config.p2p_max_handshakes,
                max_handshakes_per_address=config.p2p_max_handshakes_per_address,
                handshake_timeout_s=config.p2p_handshake_timeout_ms / 1000,
            )
            self.gossip = TxGossip(
                self.peers,
                lambda items: self.node.submit_many(items, source="peer", floats=False),
                self.registry,
                idle=self.driver.app_idle,
            )
            self.sync = BlockSync(
                store=store, app=self.app, driver=self.driver, peers=self.peers,
                codec=self.codec, registry=self.registry,
            )
        self.registry.gauge("fcl_peers", "Connected, authenticated peers",
                            lambda: len(self.peers.peers) if self.peers is not None else 0)
        self.registry.gauge("fcl_last_commit_time_ms",
                            "Wall-clock time (ms) this node last committed a block",
                            lambda: self.driver.last_commit_time_ms or 0)
        self.registry.before_render(self._collect_core_drops)
        self._stopped = False

    # -- wiring -----------------------------------------------------------------------------
    def _open_documents(self, folder: str | Path, transport: Any) -> None:
        """The document store under ``folder`` (outside consensus; docs/documents.md) and,
        with ``documents.peers`` configured, the fetcher of what it lacks."""
        config = self.config
        self.node.documents = DocumentStore(folder)
        self.node.document_settings = DocumentSettings(
            max_bytes=config.documents_max_bytes,
            org_quota_bytes=config.documents_org_quota_bytes)
        if config.document_peers:
            self.document_fetcher = DocumentFetcher(
                self.node.documents, lambda: self.store, config.document_peers,
                max_bytes=config.documents_max_bytes, registry=self.registry,
                transport=transport)
            self.node.document_fetcher = self.document_fetcher

    def _collect_core_drops(self) -> None:
        stats = self.driver.core.stats
        self.dropped.set_from({r: stats[r] for r in CORE_DROP_REASONS if r in stats})

    def _admit_gossip(self, limit: int) -> None:
        if self.gossip is not None:
            self.gossip.admit_pending(limit)

    def _gossip_txs(self, txs: list[Any]) -> None:
        if self.gossip is not None:
            self.gossip.queue(txs)

    def is_validator_key(self, key: str) -> bool:
        """Is ``key`` in the current validator set or a scheduled one (committed state)?"""
        if self.app.tip.validators.power_of(key) > 0:
            return True
        try:
            return validator_set_for(self.store, _MAX_HEIGHT).power_of(key) > 0
        except LookupError:
            return False

    def authorise(self, key: str) -> bool:
        """May a peer holding ``key`` connect? Validators of the current set or of a
        scheduled change, configured peers, and observers the regulator enrolled
        (an active ``observer/<key>`` record in the committed state). Anyone else is
        refused (``unknown_peer``)."""
        return (key in self._peer_keys or self.is_validator_key(key)
                or is_active_observer(self.store, key))

    def revoked_observer(self, key: str) -> bool:
        """Is ``key`` an observer whose enrolment was revoked and which this node no longer
        admits (not a validator, not a configured peer)? Its connection is dropped. (A
        validator removed from the set keeps its connections: docs/network.md.)"""
        # one point read per peer per block: a key with no observer record (a validator, a
        # configured peer) is never dropped here, so the admission check runs only for
        # observers
        if self.store.get(OBSERVER_PREFIX + key) is None:
            return False
        return not self.authorise(key)

    def _on_connect(self, peer: Peer) -> None:
        if self.sync is not None:
            self.sync.on_connect(peer)

    def _on_frame(self, peer: Peer, kind: int, payload: bytes) -> None:
        if kind == FrameType.CONSENSUS:
            split = split_consensus_payload(payload)
            if split is None:
                self.dropped.inc(1, "malformed_consensus_frame")
                return
            height, data = split
            if len(data) > 100_000 and log.isEnabledFor(logging.DEBUG):
                log.debug("proposal frame received", extra={"height": height,
                                                            "bytes": len(data)})
            if not self.driver.on_consensus_message(data, height):
                self.dropped.inc(1, "consensus_queue_full")
        elif kind == FrameType.TXS:
            assert self.gossip is not None
            self.gossip.handle(peer, payload)
        else:
            assert self.sync is not None
            self.sync.handle(peer, kind, payload)

    def status_extra(self) -> dict[str, Any]:
        core = self.driver.core
        me = self.key.public_key_hex
        peers = sorted((p.info() for p in self.peers.peers.values()),
                       key=lambda info: str(info["pub_key"])) if self.peers else []
        return {
            "round": core.round,
            "consensus": {"height": core.height, "round": core.round,
                          "step": core.step.label, "decided": core.decided},
            "last_commit_time": self.driver.last_commit_time_ms,
            "peers": peers,
            "peer_count": len(peers),
            "validator": {"pub_key": me, "power": self.app.tip.validators.power_of(me)},
            "observer": self.config.observer,
            "syncing": self.driver.syncing,
            "p2p": {
                "listen": self.peers.local.listen if self.peers is not None else None,
                "configured_peers": len(self.config.peers),
            },
        }

    @property
    def p2p_port(self) -> int | None:
        return self.peers.listen_port if self.peers is not None else None

    # -- life cycle -------------------------------------------------------------------------
    async def start_network(self) -> None:
        """Open the p2p listener and start dialling (raises if the port is taken)."""
        if self.peers is None:
            return
        try:
            await self.peers.start()
        except OSError as exc:
            raise RuntimeError(
                f"the p2p listener could not start on {self.config.p2p_host}:"
                f"{self.config.p2p_port}: {exc.strerror or exc}"
            ) from None

    async def run(self) -> None:
        """Run until :meth:`stop` (or a failure, which propagates: the node halts)."""
        tasks: list[asyncio.Task[None]] = []
        try:
            if self.peers is not None and not self.peers.running:
                await self.start_network()
            if self.gossip is not None:
                tasks.append(asyncio.create_task(self.gossip.run(), name="gossip"))
            if self.sync is not None:
                tasks.append(asyncio.create_task(self.sync.run(), name="sync"))
            if self.document_fetcher is not None:
                tasks.append(asyncio.create_task(self.document_fetcher.run(), name="documents"))
            if self._stopped:
                return
            await self.driver.run()
        finally:
            if self.gossip is not None:
                self.gossip.stop()
            if self.sync is not None:
                self.sync.stop()
            if self.document_fetcher is not None:
                self.document_fetcher.stop()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if self.peers is not None:
                with contextlib.suppress(Exception):
                    await self.peers.stop()
            self.node.halted = self.driver.halted or self.node.halted

    def stop(self) -> None:
        self._stopped = True
        self.driver.stop()
