"""What the benchmarks in this folder share: a one-line description of the machine for
their reports, pinning the process to one core (figures per core), and the best-of-N
timing of a call."""

from __future__ import annotations

import os
import platform
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from ledger.state import WriteSet
from ledger.store import Store

__all__ = ["best_s", "committed_store", "machine", "pin_one_core"]

#: The genesis hash of the benchmarks' stores.
BENCH_GENESIS = "00" * 32


def machine() -> str:
    """CPU model, core count, Python version and system, for a figure's caption."""
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}; nproc={os.cpu_count()}; Python {platform.python_version()}; {platform.system()}"


def pin_one_core() -> None:
    """Run on the lowest-numbered allowed core only (where the OS allows pinning)."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def best_s(fn: Callable[[], object], repeat: int, inner: int = 1) -> float:
    """Seconds per call of ``fn``: the best of ``repeat`` runs of ``inner`` calls each."""
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(inner):
            fn()
        runs.append((time.perf_counter() - start) / inner)
    return min(runs)


@contextmanager
def committed_store(
    writes: list[tuple[str, bytes | None]], backend: str = "leveldb"
) -> Iterator[Store]:
    """A store (LevelDB in a temporary folder, or in memory) whose genesis state is
    ``writes``, closed and removed on exit."""
    ws = WriteSet(writes)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(tmp) if backend == "leveldb" else Store.in_memory()
        try:
            store.init_genesis(BENCH_GENESIS, "fcl-bench", ws, ws.root_in(store.state_tree, 0))
            yield store
        finally:
            store.close()
