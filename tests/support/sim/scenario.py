"""One simulation run: n validators, a seeded fault schedule, invariants checked as it runs.

Everything random comes from ``random.Random(seed)``, so a seed alone reproduces a run
(``run_simulation(seed, n).trace_hash`` is identical every time).

``app="real"`` (the default) runs the production application stack on every validator
(``chain.RealChain``); ``app="fake"`` the fake application (``chain.FakeChain``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Literal

from ledger.crypto import PrivateKey, sha256
from ledger.validators import ValidatorSet
from node.consensus import ConsensusConfig, InvariantViolation
from tests.support.common import GENESIS_TIME, make_genesis

from .chain import SimChainSpec
from .invariants import Checker, Violation
from .nodes import ByzantineNode, SimNode
from .world import Clock, FaultPlan, Network

__all__ = ["SimResult", "World", "repro_command", "run_simulation", "validators_for_seed"]

CHAIN_ID = "fcl-sim"
SIM_CONSENSUS = ConsensusConfig(
    timeout_propose_ms=300,
    timeout_propose_delta_ms=100,
    timeout_prevote_ms=150,
    timeout_prevote_delta_ms=75,
    timeout_precommit_ms=150,
    timeout_precommit_delta_ms=75,
    rebroadcast_ms=250,
    max_proposal_bytes=64 * 1024,
)
LIVENESS_HEIGHTS = 3  # heights every honest node must commit after GST ...
LIVENESS_BOUND_MS = 30_000  # ... within this much simulated time
MAX_SIM_MS = 200_000
AppMode = Literal["real", "fake"]
APP_MODES: tuple[AppMode, ...] = ("real", "fake")


def validators_for_seed(seed: int) -> int:
    """The default mix of the sweep: mostly 4 and 7 validators, some single-node runs."""
    return (4, 7, 4, 7, 1)[seed % 5]


def repro_command(seed: int, validators: int, app: AppMode = "real") -> str:
    return (f"python -m bench.sim_sweep --start {seed} --seeds 1 --validators {validators} "
            f"--app {app} -v")


_KEYS: dict[int, PrivateKey] = {}


def _key(i: int) -> PrivateKey:
    if i not in _KEYS:
        _KEYS[i] = PrivateKey(sha256(f"fcl-sim-validator-{i}".encode()))
    return _KEYS[i]


CLIENT_KEY = PrivateKey(sha256(b"fcl-sim-client"))


@dataclass
class SimResult:
    seed: int
    validators: int
    byzantine: int
    app: AppMode = "real"
    trace_hash: str = ""
    violation: str | None = None
    faults: str = ""
    sim_ms: int = 0
    gst_ms: int = 0
    heights: int = 0  # lowest committed height among honest nodes at the end
    recovery_ms: int = 0  # simulated time from GST to the liveness target
    events: int = 0
    messages: int = 0
    evidence: int = 0
    sync_refused: int = 0
    restarts: int = 0
    stats: dict[str, int] = field(default_factory=dict)
    txs: int = 0  # transactions committed (lowest among honest nodes; real app only)

    @property
    def ok(self) -> bool:
        return self.violation is None

    def summary(self) -> str:
        status = "ok" if self.ok else f"VIOLATION: {self.violation}"
        return (f"seed={self.seed} n={self.validators} app={self.app} byz={self.byzantine} "
                f"{self.faults} txs={self.txs} "
                f"heights={self.heights} gst={self.gst_ms} recovery={self.recovery_ms}ms "
                f"events={self.events} evidence={self.evidence} restarts={self.restarts} "
                f"trace={self.trace_hash[:16]} {status}")


class World:
    """Clock, network, nodes and the invariant checker of one run."""

    def __init__(self, seed: int, n: int, byzantine: int | None = None,
                 app: AppMode = "real") -> None:
        self.rng = random.Random(seed)
        rng = self.rng
        self.real_app = app == "real"
        self.epoch_ms = GENESIS_TIME if self.real_app else 0  # simulated time 0, as a date
        self.chain_id = CHAIN_ID
        self.consensus_config = SIM_CONSENSUS
        self.clock = Clock()
        f = (n - 1) // 3
        self.byzantine = rng.randint(0, f) if byzantine is None else byzantine
        if self.byzantine > f:
            raise ValueError(f"at most f={f} Byzantine validators for n={n}")
        gst = rng.randint(2_000, 8_000)
        self.plan = FaultPlan(
            gst_ms=gst,
            drop_pct=rng.choice([0, 5, 15, 30]),
            dup_pct=rng.choice([0, 5, 20]),
            max_delay_ms=rng.choice([20, 100, 400, 1500]),
            delay_after_gst_ms=rng.randint(1, 40),
        )
        self.network = Network(self.clock, rng, self.plan)
        self.app_delay_ms = rng.randint(1, 30)
        self.commit_delay_ms = rng.randint(20, 150)
        keys = [_key(i) for i in range(n)]
        self.names = [f"v{i}" for i in range(n)]
        if self.real_app:
            genesis = make_genesis([(k, 1) for k in keys], CLIENT_KEY, chain_id=CHAIN_ID)
            self.validators = genesis.validators
            self.spec = SimChainSpec(CHAIN_ID, genesis.validators, genesis, CLIENT_KEY)
        else:
            self.validators = ValidatorSet.from_json(
                [{"name": name, "power": 1, "pub_key": k.public_key_hex}
                 for name, k in zip(self.names, keys, strict=True)]
            )
            self.spec = SimChainSpec(CHAIN_ID, self.validators)
        self.name_by_key = {k.public_key_hex: name for name, k in zip(self.names, keys,
                                                                     strict=True)}
        byz = sorted(rng.sample(range(n), self.byzantine))
        self.nodes: list[SimNode] = []
        for i, (name, key) in enumerate(zip(self.names, keys, strict=True)):
            cls = ByzantineNode if i in byz else SimNode
            node = cls(self, name, key)
            self.nodes.append(node)
            self.network.nodes[name] = node
        self.honest = [x for x in self.nodes if x.honest]
        self.checker = Checker(self.chain_id, self.validators)
        self.evidence = 0
        self.sync_refused = 0  # SyncRefused reports of honest cores
        self.target: int | None = None
        self.reached_at: int | None = None
        self.partitions = 0
        self.crashes = 0
        self._schedule_faults()

    def _schedule_faults(self) -> None:
        rng, gst = self.rng, self.plan.gst_ms
        n = len(self.nodes)
        if n > 1 and rng.randrange(2):
            t = rng.randint(0, gst // 2)
            while t < gst - 100:
                end = min(gst, t + rng.randint(200, 3000))
                sides = {name: rng.randrange(2) for name in self.names}
                self.clock.at(t, self._partition, sides)
                self.clock.at(end, self._partition, None)
                self.partitions += 1
                t = end + rng.randint(100, 2000)
        if rng.randrange(100) < 70:
            for node in self.honest:
                t = rng.randint(0, gst)
                while rng.randrange(2) and t < gst - 50:
                    down = rng.randint(50, 2500)
                    mid = rng.randrange(2) == 1
                    self.clock.at(t, self._crash, node, mid)
                    restart = min(gst, t + down)
                    self.clock.at(restart, self._restart, node)
                    self.crashes += 1
                    t = restart + rng.randint(50, 2000)
        self.clock.at(gst, self._at_gst)

    def now_ms(self) -> int:
        """The simulated clock as the nodes see it (block times, ``now_ms`` of events)."""
        return self.epoch_ms + self.clock.now

    def _partition(self, sides: dict[str, int] | None) -> None:
        self.network.partition = sides
        self.clock.trace(f"partition {sides}")

    def _crash(self, node: SimNode, mid: bool) -> None:
        if not node.alive:
            return
        if mid:
            node.crash_mid = True  # crashes while performing its next action list
        else:
            node.crash()

    def _restart(self, node: SimNode) -> None:
        if node.alive:
            node.crash()
        node.restarts += 1
        node.start()

    def _at_gst(self) -> None:
        for node in self.honest:
            if not node.alive:
                node.restarts += 1
                node.start()
            node.crash_mid = False
        self.target = max(x.disk.height for x in self.honest) + LIVENESS_HEIGHTS
        self.clock.trace(f"gst target={self.target}")
        self.on_commit()

    def on_commit(self) -> None:
        if self.target is not None and self.reached_at is None:
            if all(x.disk.height >= self.target for x in self.honest):
                self.reached_at = self.clock.now

    def faults(self) -> str:
        p = self.plan
        return (f"drop={p.drop_pct}% dup={p.dup_pct}% delay<={p.max_delay_ms}ms "
                f"partitions={self.partitions} crashes={self.crashes}")

    def run(self) -> None:
        for node in self.nodes:
            node.start()
        gst = self.plan.gst_ms
        while self.reached_at is None:
            if not self.clock.step():
                raise Violation("the simulation ran out of events")
            if self.clock.now > gst + LIVENESS_BOUND_MS or self.clock.now > MAX_SIM_MS:
                heights = [x.disk.height for x in self.honest]
                raise Violation(f"liveness: honest nodes at heights {heights}, target "
                                f"{self.target} not reached {LIVENESS_BOUND_MS} ms after GST")


def run_simulation(seed: int, validators: int, *, byzantine: int | None = None,
                   app: AppMode = "real") -> SimResult:
    """Run one seeded simulation; a violated invariant is reported in ``violation``."""
    world = World(seed, validators, byzantine, app)
    result = SimResult(seed=seed, validators=validators, byzantine=world.byzantine, app=app,
                       faults=world.faults(), gst_ms=world.plan.gst_ms)
    try:
        world.run()
        world.checker.check_stores({x.name: x.chain.stored_chain() for x in world.honest})
    except Violation as exc:
        result.violation = str(exc)
    except InvariantViolation as exc:  # asserted by a core at the end of a step
        result.violation = f"core invariant: {exc}"
    result.trace_hash = world.clock.trace_hash
    result.sim_ms = world.clock.now
    result.heights = min(x.disk.height for x in world.honest)
    result.txs = min(x.committed_txs() for x in world.honest)
    if world.reached_at is not None:
        result.recovery_ms = world.reached_at - world.plan.gst_ms
    result.events = world.clock.events
    result.messages = world.network.sent
    result.evidence = world.evidence
    result.sync_refused = world.sync_refused
    result.restarts = sum(x.restarts for x in world.honest)
    stats: dict[str, int] = {}
    for node in world.honest:
        for k, v in node.final_stats().items():
            stats[k] = stats.get(k, 0) + v
    result.stats = dict(sorted(stats.items()))
    return result
