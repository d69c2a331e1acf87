"""Simulated time and network: an event queue ordered by (time, sequence number)."""

from __future__ import annotations

import hashlib
import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["Clock", "FaultPlan", "Network", "Receiver"]


class Clock:
    """Integer milliseconds; callbacks run in (time, insertion) order, so a run is fully
    determined by the seed."""

    def __init__(self) -> None:
        self.now = 0
        self._queue: list[tuple[int, int, Callable[..., None], tuple[Any, ...]]] = []
        self._seq = 0
        self.events = 0
        self._trace = hashlib.sha256()

    def at(self, time: int, fn: Callable[..., None], *args: Any) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (max(time, self.now), self._seq, fn, args))

    def after(self, delay: int, fn: Callable[..., None], *args: Any) -> None:
        self.at(self.now + delay, fn, *args)

    def step(self) -> bool:
        if not self._queue:
            return False
        time, _, fn, args = heapq.heappop(self._queue)
        self.now = time
        self.events += 1
        fn(*args)
        return True

    def trace(self, line: str) -> None:
        self._trace.update(f"{self.now}|{line}\n".encode())

    @property
    def trace_hash(self) -> str:
        return self._trace.hexdigest()


class Receiver(Protocol):
    name: str
    alive: bool

    def receive(self, src: str, kind: str, payload: bytes) -> None: ...


@dataclass
class FaultPlan:
    """Network faults before GST (global stabilisation time); after GST every message
    between live nodes arrives within ``delay_after_gst_ms``."""

    gst_ms: int
    drop_pct: int
    dup_pct: int
    max_delay_ms: int
    delay_after_gst_ms: int


class Network:
    def __init__(self, clock: Clock, rng: random.Random, plan: FaultPlan) -> None:
        self.clock = clock
        self.rng = rng
        self.plan = plan
        self.nodes: dict[str, Receiver] = {}
        self.partition: dict[str, int] | None = None  # node -> side
        self.sent = 0
        self.dropped = 0
        self.delivered = 0

    def connected(self, a: str, b: str) -> bool:
        return self.partition is None or self.partition[a] == self.partition[b]

    def send(self, src: str, dst: str, kind: str, payload: bytes) -> None:
        self.sent += 1
        plan = self.plan
        before_gst = self.clock.now < plan.gst_ms
        if not self.connected(src, dst) or (
            before_gst and self.rng.randrange(100) < plan.drop_pct
        ):
            self.dropped += 1
            return
        copies = 1
        if before_gst and self.rng.randrange(100) < plan.dup_pct:
            copies = 2
        for _ in range(copies):
            if before_gst:
                delay = self.rng.randint(1, plan.max_delay_ms)
            else:
                delay = self.rng.randint(1, plan.delay_after_gst_ms)
            self.clock.after(delay, self._deliver, src, dst, kind, payload)

    def _deliver(self, src: str, dst: str, kind: str, payload: bytes) -> None:
        node = self.nodes[dst]
        if node.alive:
            self.delivered += 1
            node.receive(src, kind, payload)
