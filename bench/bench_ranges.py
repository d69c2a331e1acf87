"""Unit-range operations on the consensus path (chaincode/units.py) against the number of
ranges a project holds: issuance's overlap check (``create_range``), ``find_range`` and a
freeze (``select_serial_range`` + ``set_frozen``). Run::

    .venv/bin/python -m bench.bench_ranges [--sizes 20,2000,20000] [--repeat 5]
        [--backend leveldb|memory]

The committed state is a store (LevelDB in a temporary folder, or the in-memory backend)
holding one project of ``n`` ranges of 10 units each, every range with its holdings-index
entry; each operation runs in a fresh transaction overlay over an empty block overlay, as
the executor runs a transaction. Pinned to one CPU core where the OS allows it; best of
``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from contextlib import AbstractContextManager

from bench.benchlib import best_s as best_of
from bench.benchlib import committed_store, machine, pin_one_core
from chaincode import units
from chaincode.framework import BlockContext, TxContext
from ledger.encoding import canonical
from ledger.state import Overlay
from ledger.store import Store

PROJECT = "P-BENCH"
WIDTH = 10  # units per range
GENESIS = "00" * 32


def ranges_state(n: int) -> list[tuple[str, bytes | None]]:
    """``n`` ranges of :data:`WIDTH` units of one project, held by two accounts in turn,
    with their holdings-index entries."""
    writes: list[tuple[str, bytes | None]] = []
    for i in range(n):
        first = 1 + WIDTH * i
        account = ("org-a", "org-b")[i % 2]
        record = {
            "account": account, "batch_id": f"B-{i // 100}", "first": first, "frozen": False,
            "height": 1, "history": [{"action": "issue", "from": None, "height": 1,
                                      "to": account, "tx_id": "a" * 64}],
            "last": first + WIDTH - 1, "project_id": PROJECT, "state": "held",
            "tx_id": "a" * 64, "vintage": 2020,
        }
        writes.append((units.unit_key(PROJECT, first), canonical(record)))
        writes.append((
            units.holding_key(account, "held", PROJECT, first),
            canonical({"batch_id": record["batch_id"], "frozen": False,
                       "last": record["last"], "vintage": 2020}),
        ))
    return writes


def store_with(n: int, backend: str) -> AbstractContextManager[Store]:
    return committed_store(ranges_state(n), backend)


def tx(store: Store) -> TxContext:
    """A transaction's context: a child overlay of an (empty) block overlay."""
    return TxContext(Overlay(store).child(), BlockContext("fcl-bench", 2, 0, "p"), "b" * 64, (), 0)


def best_s(fn: Callable[[], object], repeat: int) -> float:
    """:func:`bench.benchlib.best_s` with as many calls per run as last about 20 ms."""
    inner = 1
    while True:  # enough calls per run to last about 20 ms
        start = time.perf_counter()
        for _ in range(inner):
            fn()
        if time.perf_counter() - start >= 0.02 or inner >= 10_000:
            break
        inner *= 4
    return best_of(fn, repeat, inner)


def row(n: int, repeat: int, backend: str) -> None:
    with store_with(n, backend) as store:
        end = WIDTH * n  # the last unit issued
        middle = 1 + WIDTH * (n // 2)

        def issue() -> None:
            units.create_range(tx(store), project_id=PROJECT, batch_id="B-new", vintage=2021,
                               first=end + 1, last=end + 100, account="org-a")

        def find() -> None:
            assert units.find_range(store, PROJECT, middle + 3) is not None

        def freeze() -> None:
            ctx = tx(store)
            picked = units.select_serial_range(ctx, PROJECT, middle + 2, middle + 5)
            assert len(units.set_frozen(ctx, picked, frozen=True)) == 1

        figures = [best_s(f, repeat) for f in (issue, find, freeze)]
    print(f"{n:>8} " + " ".join(f"{s * 1e6:>13.1f}" for s in figures))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="20,2000,20000")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--backend", choices=("leveldb", "memory"), default="leveldb")
    args = parser.parse_args()
    pin_one_core()
    print(f"machine: {machine()}; backend: {args.backend}")
    print("microseconds per operation, best of --repeat runs; ranges of one project")
    print(f"{'ranges':>8} {'create_range':>13} {'find_range':>13} {'freeze':>13}")
    for n in (int(s) for s in args.sizes.split(",")):
        row(n, args.repeat, args.backend)


if __name__ == "__main__":
    main()
