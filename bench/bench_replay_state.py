"""The auditor's replay state (ledger/state.py ``MemoryState``): cost of one written key as
the state grows, against the plain sorted list it replaced (issue 13 item 2). Run::

    .venv/bin/python -m bench.bench_replay_state [--sizes 10000,100000,1000000]

For each size n: a state of n keys (shaped like the chain's: unit ranges, records, history
entries), then 10 blocks of 1,000 writes each (new keys at random places, overwrites and
deletes, as a block writes) applied with ``MemoryState.apply``; the figure is microseconds
per written key, best of ``--repeat``. "sorted list" is the previous structure
(``bisect.insort`` into one Python list) on the same writes. Pinned to one core where the
OS allows it.
"""

from __future__ import annotations

import argparse
import bisect
import hashlib
import time
from collections.abc import Iterable

from bench.benchlib import machine, pin_one_core
from ledger.state import MemoryState

VALUE = b'{"state":"held"}'


def key_of(i: int) -> str:
    """A chain-shaped key: a project's unit range, a record or a history entry."""
    h = hashlib.sha256(i.to_bytes(8, "big")).hexdigest()
    kind = i % 3
    if kind == 0:
        return f"unit/P-{h[:4]}/{i:012d}"
    if kind == 1:
        return f"trade/{h}"
    return f"stockhist/PLOT-{h[:6]}/{i % 97:04d}"


class SortedListState:
    """The replaced structure: one sorted Python list of keys beside the dict."""

    def __init__(self, items: Iterable[tuple[str, bytes]]) -> None:
        self._data = dict(items)
        self._keys = sorted(self._data)

    def apply(self, writes: Iterable[tuple[str, bytes | None]]) -> None:
        for key, value in writes:
            if value is None:
                if key in self._data:
                    del self._data[key]
                    self._keys.pop(bisect.bisect_left(self._keys, key))
            else:
                if key not in self._data:
                    bisect.insort(self._keys, key)
                self._data[key] = value


def blocks_for(n: int) -> list[list[tuple[str, bytes | None]]]:
    """10 blocks of 1,000 writes: 700 new keys, 200 overwrites, 100 deletes each."""
    out = []
    fresh = n
    for b in range(10):
        block: list[tuple[str, bytes | None]] = []
        for _ in range(700):
            block.append((key_of(fresh), VALUE))
            fresh += 1
        for j in range(200):
            block.append((key_of((b * 7919 + j * 104729) % n), VALUE))
        for j in range(100):
            block.append((key_of((b * 15485863 + j * 32452843) % n), None))
        out.append(block)
    return out


def per_key_us(make: type, n: int, repeat: int) -> float:
    base = [(key_of(i), VALUE) for i in range(n)]
    blocks = blocks_for(n)
    writes = sum(len(b) for b in blocks)
    best = float("inf")
    for _ in range(repeat):
        state = make(base)
        start = time.perf_counter()
        for block in blocks:
            state.apply(block)
        best = min(best, time.perf_counter() - start)
    return best / writes * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    pin_one_core()
    print(f"machine: {machine()}")
    print("microseconds per written key (10 blocks of 1,000 writes), best of --repeat runs")
    print(f"{'keys':>9} {'MemoryState':>12} {'sorted list':>12}")
    for n in (int(s) for s in args.sizes.split(",")):
        ours = per_key_us(MemoryState, n, args.repeat)
        before = per_key_us(SortedListState, n, args.repeat)
        print(f"{n:>9} {ours:>12.2f} {before:>12.2f}", flush=True)


if __name__ == "__main__":
    main()
