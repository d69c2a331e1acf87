"""The asyncio driver of the BFT consensus core, for any number of validators (n = 1 too).

One task owns the core: it takes events from one queue, calls ``core.handle(event)`` and
performs the returned :class:`~node.consensus.Ready` batch, field by field, before taking
the next event, so each node processes a deterministic sequence. Every field is
dispatched with an exhaustive ``match`` (``assert_never``): a new kind of work that is not
handled is a mypy error and an ``AssertionError``, never silently dropped.

* ``persist`` -- the sign state, written and fsynced (``node.driver.signfile``) on the I/O
  thread and awaited **before anything else of the batch**, so no message it covers
  leaves before it is durable. If the write fails the driver stops (the node halts).
* ``sends``: ``Broadcast`` -- handed to the network (proposal bytes spliced, not
  re-encoded).
* ``timers``: ``ScheduleTimeout`` -- a loop timer that queues ``TimeoutFired`` (with the
  clock).
* ``requests``: ``BuildProposal`` / ``ValidateProposal`` -- run through the :class:`Application` on the
  one application thread (so building, checking and committing never overlap); the
  answer comes back through the queue. A proposal whose time is more than
  ``max_clock_drift_ms`` ahead of the local clock, or not after the previous block, is
  answered ``ok=False`` (this node prevotes nil). The proposer builds from its mempool;
  if the mempool is empty it waits up to ``proposal_wait_ms`` for transactions first, and
  it first admits transactions gossip delivered but had not yet admitted
  (``before_build``).
* ``commits``: ``Commit`` -- the block is checked (unless this node already validated or built it) and
  committed (``Application.commit_block``, which verifies the certificate against the
  validator set) on the application thread, awaited; the committed transactions leave
  the mempool. A failure here halts the node loudly: 2f+1 validators certified a block
  this node cannot apply.
* ``reports``: ``EquivocationDetected`` -- logged as a warning with both messages and
  counted; ``PeerBehind`` / ``PeerAhead`` -- hints passed to block sync;
  ``SyncRefused`` -- a synced block the core refused: logged, counted by reason
  (``fcl_sync_refused_total``) and passed to block sync (``Network.sync_refused``).

Between heights the driver waits for work: the next height starts when the mempool holds
transactions (and ``block_interval_ms`` has passed since the previous height started),
when a peer's consensus message for that height arrives, when block sync has that block,
or at once after a restart in the middle of a height. So an idle network makes no empty
blocks. ``StartHeight`` carries the validator set the application derives from the
committed state (``app.tip.validators``), so a governance change takes effect exactly at
its effective height.

Blocks from block sync enter through :meth:`offer_synced` (with the peer they came from);
each is fed to the core as ``CommitCertificateReceived`` when the core is at its height,
so the certificate is verified against the validator set of that height (the core checks
it, and ``commit_block`` checks it again), then the block is re-executed and committed.
A refusal comes back as a ``SyncRefused`` report in the core's batch.

The application work itself -- building, checking and committing blocks, the mempool's
reaping and clean-up, which synced blocks are kept -- is ``node/driver/appwork.py``
(:class:`AppWork`), which has no asyncio and is what the deterministic simulation runs;
this module adds the event loop, the threads, the timers, the clock and the network.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, TypeVar, assert_never

from ledger.block import Block, CommitCertificate
from ledger.crypto import PrivateKey
from ledger.errors import LedgerError, StorageFailure
from node.chain.app import Application
from node.chain.blockcodec import BlockCodec
from node.consensus import (
    Broadcast,
    BuildProposal,
    Commit,
    CommitCertificateReceived,
    ConsensusConfig,
    ConsensusCore,
    EquivocationDetected,
    Event,
    MessageReceived,
    PeerAhead,
    PeerBehind,
    Proposal,
    ProposalValidated,
    Ready,
    ScheduleTimeout,
    StartHeight,
    Step,
    SyncRefused,
    TimeoutFired,
    ValidateProposal,
)
from node.driver.appwork import AppWork, DriverConfig
from node.driver.signfile import SignStateFile
from node.ops import profiling
from node.ops.metrics import Registry
from node.txpool.mempool import Mempool

__all__ = ["ConsensusDriver", "DriverConfig", "DriverMetrics", "Network", "wall_clock_ms"]

log = logging.getLogger("node.consensus")

T = TypeVar("T")

#: Core counters that mean "a message was dropped" (exported by reason).
CORE_DROP_REASONS = (
    "malformed_message",
    "oversized_message",
    "duplicate",
    "wrong_chain",
    "old_height",
    "after_decision",
    "round_too_far",
    "non_validator",
    "bad_signature",
    "too_many_proposals",
    "too_many_votes",
    "future_too_far",
    "future_buffer_full",
    "wrong_proposer",
    "dropped_not_started",
    "bad_certificate",
)
_STEP_NAMES = {Step.PROPOSE: "propose", Step.PREVOTE: "prevote", Step.PRECOMMIT: "precommit"}


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class Network(Protocol):
    """What the driver needs of the peer-to-peer side."""

    def broadcast_consensus(self, height: int, data: bytes) -> None: ...

    def peer_behind(self, validator: str, height: int) -> None: ...

    def peer_ahead(self, validator: str, height: int) -> None: ...

    def sync_refused(self, height: int, peer: str, reason: str) -> None: ...

    def committed(self, height: int) -> None: ...


class DriverMetrics:
    """The consensus metrics of one node."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.txs_committed = registry.counter(
            "fcl_txs_committed_total", "Transactions committed by this node")
        self.blocks_committed = registry.counter(
            "fcl_blocks_committed_total", "Blocks committed, by how they were decided", "source")
        self.step_seconds = registry.histogram(
            "fcl_consensus_step_duration_seconds",
            "Time spent in each consensus step (propose, prevote, precommit; commit = "
            "executing and storing the decided block; wait = idle between heights)", "step")
        self.block_txs = registry.histogram(
            "fcl_block_txs", "Transactions per committed block",
            buckets=(0, 1, 10, 50, 100, 250, 500, 1000, 2000, 5000))
        self.proposals_rejected = registry.counter(
            "fcl_proposals_rejected_total", "Proposals this node prevoted nil, by reason",
            "reason")
        self.equivocations = registry.counter(
            "fcl_equivocations_total", "Validators caught signing two messages for one step")
        self.rounds = registry.counter(
            "fcl_consensus_rounds_total", "Rounds started above round 0 (failed rounds)")
        self.sync_refused = registry.counter(
            "fcl_sync_refused_total",
            "Blocks with certificates from block sync that the consensus core refused, by "
            "reason", "reason")


class ConsensusDriver:
    """Runs one node's consensus: the core, its actions, the application and block sync."""

    def __init__(
        self,
        app: Application,
        mempool: Mempool,
        key: PrivateKey | None,
        *,
        codec: BlockCodec,
        sign_file: SignStateFile,
        metrics: DriverMetrics,
        config: DriverConfig | None = None,
        consensus_config: ConsensusConfig | None = None,
        network: Network | None = None,
        clock_ms: Callable[[], int] = wall_clock_ms,
        before_build: Callable[[int], object] = lambda limit: None,
    ) -> None:
        self.app = app
        self.before_build = before_build
        self.mempool = mempool
        self.key = key
        self.codec = codec
        self.sign_file = sign_file
        self.metrics = metrics
        self.config = config or DriverConfig()
        self.consensus_config = consensus_config or ConsensusConfig()
        self.network = network
        self.clock_ms = clock_ms
        self.core = ConsensusCore(
            chain_id=app.chain_id,
            private_key=key,
            decode_block=codec.decode,
            decode_block_text=codec.decode_text,
            config=self.consensus_config,
            sign_state=sign_file.load(),
        )
        self.last_commit_time_ms: int | None = None
        self.halted: str | None = None
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._app_pool = ThreadPoolExecutor(1, thread_name_prefix="fcl-app",
                                            initializer=profiling.profile_this_thread)
        self._io_pool = ThreadPoolExecutor(1, thread_name_prefix="fcl-signstate",
                                           initializer=profiling.profile_this_thread)
        self._stopping = False
        self._waiting = True  # between heights: the core decided, the next has not started
        self._start_scheduled = False
        self._last_start = 0.0
        self._height_started = time.perf_counter()
        self.work = AppWork(app, mempool, key.public_key_hex if key is not None else "",
                            self.config)
        self._wire: dict[tuple[Any, ...], bytes] = {}  # proposal identity -> wire bytes
        self._tasks: set[asyncio.Task[None]] = set()
        self._mempool_event = asyncio.Event()
        self._app_jobs = 0
        #: set while no block is being built, checked or committed (gossip admission waits
        #: for it, briefly, so that consensus work gets the CPU first)
        self.app_idle = asyncio.Event()
        self.app_idle.set()
        self._step_state: tuple[int, int, int, bool] = (0, 0, 0, False)
        self._step_since = time.perf_counter()
        self._from_sync = False
        self._early: list[bytes] = []  # consensus messages that arrived before height 1
        self._started_once = False
        registry = metrics.registry
        registry.gauge("fcl_consensus_height", "Height being decided",
                       lambda: self.core.height)
        registry.gauge("fcl_consensus_round", "Round of the height being decided",
                       lambda: self.core.round)
        registry.gauge("fcl_consensus_step", "Step: 1 propose, 2 prevote, 3 precommit",
                       lambda: int(self.core.step))
        registry.gauge("fcl_consensus_events", "Consensus core counters, by event",
                       lambda: dict(self.core.stats), label="event")

    # -- inputs from the rest of the node (event loop thread) -------------------------------
    def notify(self) -> None:
        """Transactions were admitted to the mempool."""
        self._mempool_event.set()
        if self._waiting and len(self.mempool):
            self._trigger_start()

    def on_consensus_message(self, data: bytes, height_hint: int) -> bool:
        """A consensus message from a peer; False if it was dropped (queue full)."""
        if self._queue.qsize() >= self.config.max_queue:
            return False
        if self.core.height == 0 and not self._started_once:
            # the core drops everything before its first height: keep it until then
            if len(self._early) >= self.config.max_early_messages:
                return False
            self._early.append(data)
        else:
            self._queue.put_nowait(MessageReceived(data))
        if self._waiting and height_hint == self.app.height + 1:
            self._trigger_start(immediately=True)
        return True

    def offer_synced(self, entries: list[tuple[Block, CommitCertificate]], peer: str = "") -> int:
        """Blocks with certificates from block sync, sent by ``peer`` (verified when fed
        to the core, in height order; a refusal is reported naming ``peer``). Returns how
        many were kept."""
        kept = self.work.offer_synced(entries, peer)
        if kept:
            if self._waiting and self.app.height + 1 in self.work.synced:
                self._trigger_start(immediately=True)
            self._queue.put_nowait(_FeedSync())
        return kept

    @property
    def syncing(self) -> bool:
        return bool(self.work.synced)

    def has_synced(self, height: int) -> bool:
        """Block sync already delivered ``height`` (not yet committed)."""
        return height in self.work.synced

    def stop(self) -> None:
        """Ask :meth:`run` to return (after the action in progress)."""
        self._stopping = True
        self._queue.put_nowait(_Stop())

    # -- the loop ---------------------------------------------------------------------------
    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        try:
            self._waiting = True
            self._last_start = 0.0
            signed = self.core.sign_state
            if (signed.height == self.app.height + 1  # resume a height we were voting in
                    or len(self.mempool) or self.app.height + 1 in self.work.synced):
                self._trigger_start(immediately=True)
            while not self._stopping:
                event = await self._queue.get()
                if isinstance(event, _Stop):
                    break
                await self._dispatch(event)
        except Exception as exc:
            self.halted = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await asyncio.get_running_loop().run_in_executor(None, self._shutdown_pools)

    def _shutdown_pools(self) -> None:
        self._app_pool.shutdown(wait=True)
        self._io_pool.shutdown(wait=True)
        self.sign_file.close()

    async def _dispatch(self, event: Any) -> None:
        if isinstance(event, _StartNext):
            self._start_scheduled = False
            if self._waiting and event.height == self.app.height + 1:
                await self._start_height(event.height)
            return
        if isinstance(event, _FeedSync):
            await self._feed_sync()
            return
        if isinstance(event, _Failed):
            raise event.failure  # run() records it as the reason the node halted
        await self._handle(event)

    async def _start_height(self, height: int) -> None:
        now = time.perf_counter()
        self.metrics.step_seconds.observe(now - self._step_since, "wait")
        self._step_since = now
        self._waiting = False
        self._last_start = now
        self._height_started = now
        self.work.start_height()
        self._wire.clear()
        await self._handle(StartHeight(height, self.app.tip.validators, self.clock_ms()))
        if not self._started_once:
            self._started_once = True
            early, self._early = self._early, []
            for data in early:
                await self._handle(MessageReceived(data))
        await self._feed_sync()

    async def _feed_sync(self) -> None:
        core = self.core
        if self._waiting or core.decided:
            self.work.next_synced(0)  # only forgets what is committed
            return
        entry = self.work.next_synced(core.height)
        if entry is not None:
            self._from_sync = True
            try:
                await self._handle(CommitCertificateReceived(*entry))
            finally:
                self._from_sync = False

    async def _handle(self, event: Event) -> None:
        ready = self.core.handle(event)
        self._observe_step()
        await self._perform(ready)

    def _observe_step(self) -> None:
        core = self.core
        state = (core.height, core.round, int(core.step), core.decided)
        if state == self._step_state:
            return
        previous = self._step_state
        now = time.perf_counter()
        if not previous[3] and previous[2] in (1, 2, 3):
            self.metrics.step_seconds.observe(now - self._step_since, _STEP_NAMES[Step(previous[2])])
        if state[0] == previous[0] and state[1] > previous[1]:
            self.metrics.rounds.inc()
        if log.isEnabledFor(logging.DEBUG):
            log.debug("consensus step", extra={"height": state[0], "round": state[1],
                                               "step": core.step.label, "decided": state[3],
                                               "ms": round((now - self._step_since) * 1000, 1)})
        self._step_state = state
        self._step_since = now

    async def _perform(self, ready: Ready) -> None:
        """Perform one batch, field by field (see the module docstring)."""
        if ready.persist is not None:
            # durable before anything of the batch is performed; a failure raises (halt)
            await self._in_io(self.sign_file.save, ready.persist, self.work.block_wire)
        for send in ready.sends:
            match send:
                case Broadcast():
                    self._broadcast(send)
                case _:
                    assert_never(send)
        for timer in ready.timers:
            match timer:
                case ScheduleTimeout():
                    self._schedule(timer)
                case _:
                    assert_never(timer)
        for request in ready.requests:
            match request:
                case BuildProposal():
                    self._spawn(self._build(request))
                case ValidateProposal():
                    log.debug("validating proposal", extra={"height": request.height,
                                                            "round": request.round})
                    self._spawn(self._validate(request))
                case _:
                    assert_never(request)
        for commit in ready.commits:
            match commit:
                case Commit():
                    await self._commit(commit.block, commit.certificate)
                case _:
                    assert_never(commit)
        for report in ready.reports:
            match report:
                case EquivocationDetected():
                    self._equivocation(report)
                case PeerBehind():
                    if self.network is not None:
                        self.network.peer_behind(report.validator, report.height)
                case PeerAhead():
                    if self.network is not None:
                        self.network.peer_ahead(report.validator, report.height)
                case SyncRefused():
                    self._sync_refused(report)
                case _:
                    assert_never(report)

    def _equivocation(self, report: EquivocationDetected) -> None:
        self.metrics.equivocations.inc()
        log.warning(
            "equivocation detected",
            extra={"validator": report.validator, "height": report.height,
                   "round": report.round, "kind": report.kind,
                   "first": report.first.to_json() if report.kind != "proposal"
                   else report.first.block_hash,
                   "second": report.second.to_json() if report.kind != "proposal"
                   else report.second.block_hash},
        )

    def _sync_refused(self, report: SyncRefused) -> None:
        self.metrics.sync_refused.inc(1, report.reason)
        dropped = self.work.forget_synced_from(report.peer) if report.peer else 0
        log.warning("synced block refused", extra={"height": report.height,
                                                   "peer": report.peer[:16],
                                                   "reason": report.reason,
                                                   "dropped": dropped})
        if self.network is not None:
            self.network.sync_refused(report.height, report.peer, report.reason)

    # -- helpers ----------------------------------------------------------------------------
    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        """A proposal built or checked in a task ended. A failure of this machine's storage
        halts the node (through the loop, as a failed commit does): going on would leave it
        voting without being able to check what it votes on. Any other exception is a bug,
        logged; the core's timeouts carry the height on."""
        self._tasks.discard(task)
        if task.cancelled():
            return
        failure = task.exception()
        if failure is None:
            return
        if isinstance(failure, StorageFailure):
            log.critical("the store failed; halting",
                         extra={"code": failure.code, "detail": failure.message})
            self._queue.put_nowait(_Failed(failure))
        else:
            log.error("a proposal task failed", exc_info=failure)

    async def _in_app(self, fn: Callable[..., T], *args: Any) -> T:
        assert self._loop is not None
        self._app_jobs += 1
        self.app_idle.clear()
        try:
            return await self._loop.run_in_executor(self._app_pool, fn, *args)
        finally:
            self._app_jobs -= 1
            if self._app_jobs == 0:
                self.app_idle.set()

    async def _in_io(self, fn: Callable[..., T], *args: Any) -> T:
        assert self._loop is not None
        return await self._loop.run_in_executor(self._io_pool, fn, *args)

    def _broadcast(self, action: Broadcast) -> None:
        if self.network is None:
            return
        msg = action.message
        if isinstance(msg, Proposal):
            data = self._wire.get(msg.identity)
            if data is None:
                data = self._wire[msg.identity] = msg.to_bytes()
        else:
            data = msg.to_bytes()
        self.network.broadcast_consensus(msg.height, data)

    def _schedule(self, action: ScheduleTimeout) -> None:
        assert self._loop is not None

        def fire() -> None:
            if not self._stopping:
                self._queue.put_nowait(
                    TimeoutFired(action.kind, action.height, action.round, self.clock_ms())
                )

        self._loop.call_later(action.duration_ms / 1000, fire)

    def _trigger_start(self, immediately: bool = False) -> None:
        if not self._waiting or self._start_scheduled or self._stopping or self._loop is None:
            return
        self._start_scheduled = True
        height = self.app.height + 1
        delay = 0.0
        if not immediately:
            delay = max(0.0, self._last_start + self.config.block_interval_ms / 1000
                        - time.perf_counter())
        self._loop.call_later(delay, self._queue.put_nowait, _StartNext(height))

    # -- application work -------------------------------------------------------------------
    async def _build(self, action: BuildProposal) -> None:
        if not len(self.mempool) and self.config.proposal_wait_ms > 0:
            self._mempool_event.clear()
            try:
                await asyncio.wait_for(self._mempool_event.wait(),
                                       self.config.proposal_wait_ms / 1000)
            except TimeoutError:
                pass
        if self.core.height != action.height or self.core.decided:
            return
        # admit what peers already sent (gossip waiting for an idle moment) so the block
        # can carry it
        self.before_build(self.config.max_block_txs)
        work = self.work
        txs = work.reap()
        time_ms = work.proposal_time(self.clock_ms())
        try:
            block, writes = await self._in_app(work.build, action.height, txs, time_ms)
        except LedgerError as exc:
            log.error("building a proposal failed", extra={"code": exc.code,
                                                           "detail": exc.message})
            return
        if block is None:
            return
        built = work.built(action, block, writes, txs)  # drops what build_block left out
        log.debug("proposal built", extra={"height": action.height, "round": action.round,
                                           "txs": len(block.txs)})
        self._queue.put_nowait(built)

    async def _validate(self, action: ValidateProposal) -> None:
        started = time.perf_counter()
        block = action.block
        block_hash = block.hash()
        work = self.work
        reason = work.precheck(block, self.clock_ms())
        if reason is None:
            assert isinstance(block, Block)
            try:
                checked, writes = await self._in_app(work.check, block)
            except LedgerError as exc:
                reason = exc.code
            else:
                work.checked(block_hash, checked, writes)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("proposal checked", extra={"height": action.height, "round": action.round,
                                                 "ok": reason is None,
                                                 "txs": len(block.txs) if isinstance(block, Block)
                                                 else None,
                                                 "ms": round((time.perf_counter() - started)
                                                             * 1000, 1)})
        if reason is not None:
            self.metrics.proposals_rejected.inc(1, reason)
            log.warning("proposal rejected", extra={"height": action.height,
                                                    "round": action.round, "reason": reason,
                                                    "block_hash": block_hash})
        self._queue.put_nowait(ProposalValidated(block_hash, reason is None))

    async def _commit(self, block: Any, certificate: CommitCertificate) -> None:
        started = time.perf_counter()
        block_hash = block.hash()
        work = self.work
        source = "sync" if self._from_sync else "consensus"
        try:
            entry = work.decided(block)
            if entry is None:
                entry = await self._in_app(work.check, block)
            final, writes = entry
            await self._in_app(work.commit_checked, final, certificate, writes)
        except LedgerError as exc:
            log.critical(
                "cannot commit a decided block; halting",
                extra={"height": block.height, "block_hash": block_hash, "code": exc.code,
                       "detail": exc.message},
            )
            raise
        work.committed(final, writes)  # and the recheck after a membership change
        now = time.perf_counter()
        self.metrics.step_seconds.observe(now - started, "commit")
        self._step_since = now
        self.metrics.txs_committed.inc(len(final.txs))
        self.metrics.blocks_committed.inc(1, source)
        self.metrics.block_txs.observe(len(final.txs))
        self.last_commit_time_ms = self.clock_ms()
        log.info(
            "committed block",
            extra={"height": final.height, "hash": block_hash, "txs": len(final.txs),
                   "round": certificate.round, "source": source,
                   "ms": round((now - self._height_started) * 1000, 1),
                   "commit_ms": round((now - started) * 1000, 1),
                   "mempool": len(self.mempool)},
        )
        self._wire.clear()
        self._waiting = True
        if self.network is not None:
            self.network.committed(final.height)
        if self.app.height + 1 in self.work.synced:
            self._trigger_start(immediately=True)
        elif len(self.mempool):
            self._trigger_start()


class _StartNext:
    __slots__ = ("height",)

    def __init__(self, height: int) -> None:
        self.height = height


class _FeedSync:
    __slots__ = ()


class _Stop:
    __slots__ = ()


class _Failed:
    __slots__ = ("failure",)

    def __init__(self, failure: StorageFailure) -> None:
        self.failure = failure
