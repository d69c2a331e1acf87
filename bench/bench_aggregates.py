"""Issue 13: the explorer dashboard's aggregates (network totals and the vintage chart)
before — a scan of every unit range (``tests.support.carbon_market.scan_totals`` and
``scan_vintages``, the reference recounts the product code no longer has) — and after —
the counter records the chaincode keeps (``queries.totals``, ``queries.vintages``).
Run::

    .venv/bin/python -m bench.bench_aggregates [--sizes 2000,20000] [--repeat 5]
        [--backend leveldb|memory]

The committed state holds ``n`` ranges of 10 units, written by the real unit-ledger
code (``units.create_range`` then a retirement of half of every fifth range, so the
counters are the chaincode's own; no project or batch records, so those two counts are 0): 100 ranges per batch, ten vintages, one project. Pinned to one CPU
core where the OS allows it; best of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse

from bench.bench_ranges import best_s
from bench.benchlib import committed_store, machine, pin_one_core
from chaincode import queries, units
from chaincode.framework import BlockContext, TxContext
from ledger.state import MemoryState, Overlay
from tests.support.carbon_market import scan_totals, scan_vintages

PROJECT = "P-BENCH"
WIDTH = 10
PER_TX = 500  # ranges per building transaction (within the per-transaction write cap)


def aggregates_state(n: int) -> list[tuple[str, bytes | None]]:
    """The writes of ``n`` issued ranges (every fifth retired) and their counters."""
    state = MemoryState()
    for start in range(0, n, PER_TX):
        ctx = TxContext(Overlay(state).child(), BlockContext("fcl-bench", 2, 0, "p"),
                        f"{start:064d}", (), 0)
        for i in range(start, min(n, start + PER_TX)):
            first = 1 + WIDTH * i
            units.create_range(ctx, project_id=PROJECT, batch_id=f"B-{i // 100:05d}",
                               vintage=2010 + (i // 100) % 10, first=first,
                               last=first + WIDTH - 1, account=("org-a", "org-b")[i % 2])
            if i % 5 == 0:
                units.move(ctx, units.select_serial_range(ctx, PROJECT, first, first + 4),
                           to_account="org-a", to_state="retired", action="retire")
        state.apply(ctx.state.write_set())
    return [(k, v) for k, v in state.items()]


def row(n: int, repeat: int, backend: str) -> None:
    with committed_store(aggregates_state(n), backend) as store:
        assert queries.totals(store) == scan_totals(store)
        assert queries.vintages(store) == scan_vintages(store)

        def before() -> None:
            scan_totals(store)
            scan_vintages(store)

        def after() -> None:
            queries.totals(store)
            queries.vintages(store)

        figures = [best_s(fn, repeat) for fn in (
            lambda: scan_totals(store), lambda: queries.totals(store), before, after)]
    print(f"{n:>8} " + " ".join(f"{s * 1e3:>12.3f}" for s in figures))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="2000,20000")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--backend", choices=("leveldb", "memory"), default="leveldb")
    args = parser.parse_args()
    pin_one_core()
    print(f"machine: {machine()}; backend: {args.backend}")
    print("milliseconds per call, best of --repeat runs; dashboard = totals + vintage chart")
    print(f"{'ranges':>8} {'totals scan':>12} {'totals ctr':>12} {'dash scan':>12} "
          f"{'dash ctr':>12}")
    for n in (int(s) for s in args.sizes.split(",")):
        row(n, args.repeat, args.backend)


if __name__ == "__main__":
    main()
