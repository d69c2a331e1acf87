"""Plot registration in a crowded area (issue 13 item 1): the cost of finding the plots a
new plot may overlap, with the loose quadtree (chaincode/plot_index.py) and with the
previous index (every plot of the 0.01-degree grid cell, read and box-tested). Run::

    .venv/bin/python -m bench.bench_plot_index [--sizes 25,400,2500] [--backend leveldb]

For each size n: n plots of 20 m x 20 m (400 m2, the smallest parcel) side by side in one
grid cell, indexed in a committed store; then the lookup for one more plot in the middle
of them, in a transaction overlay; microseconds per lookup, best of ``--repeat``.
"""

from __future__ import annotations

import argparse
from math import isqrt

from bench.benchlib import best_s, committed_store, machine, pin_one_core
from chaincode.framework import BlockContext, TxContext
from chaincode.plot_index import GRID_CELL_E7, candidate_plots, index_entries
from ledger.encoding import canonical
from ledger.state import Overlay

ORIGIN, LAT0 = 1_174_000_000, 318_000_000
STEP = 2_000  # 0.0002 degree ~ 20 m
Box = tuple[int, int, int, int]


def crowd(n: int) -> dict[str, Box]:
    side = isqrt(n - 1) + 1
    out: dict[str, Box] = {}
    for k in range(n):
        i, j = divmod(k, side)
        x, y = ORIGIN + i * STEP, LAT0 + j * STEP
        out[f"C{k:05d}"] = (x, y, x + STEP, y + STEP)
    return out


def index_writes(plots: dict[str, Box]) -> list[tuple[str, bytes | None]]:
    """The quadtree's entries and, beside them, the previous index's (one entry per grid
    cell, read whole by a lookup)."""
    writes: list[tuple[str, bytes | None]] = []
    for pid, box in sorted(plots.items()):
        writes += [(k, canonical(v)) for k, v in index_entries(pid, box)]
        cell = f"{box[0] // GRID_CELL_E7}:{box[1] // GRID_CELL_E7}"
        writes.append((f"plotidx/{cell}/{pid}", canonical({"bbox": list(box), "plot_id": pid})))
    return sorted(writes)


def grid_scan(ctx: TxContext, query: Box) -> dict[str, list[int]]:
    """The previous lookup: every entry of the query's grid cell, box-tested."""
    cell = f"{query[0] // GRID_CELL_E7}:{query[1] // GRID_CELL_E7}"
    out = {}
    for _key, entry in ctx.scan(f"plotidx/{cell}/"):
        b = entry["bbox"]
        if max(b[0], query[0]) <= min(b[2], query[2]) and max(b[1], query[1]) <= min(b[3], query[3]):
            out[entry["plot_id"]] = b
    return out


def row(n: int, repeat: int, backend: str) -> None:
    plots = crowd(n)
    middle = plots[f"C{n // 2:05d}"]
    query = (middle[0] + 500, middle[1] + 500, middle[0] + 1_500, middle[1] + 1_500)
    with committed_store(index_writes(plots), backend) as store:
        def tx() -> TxContext:
            return TxContext(Overlay(store).child(), BlockContext("fcl-bench", 2, 0, "p"),
                             "b" * 64, (), 0)

        found = candidate_plots(tx(), query)
        assert set(grid_scan(tx(), query)) <= set(found)
        tree_s = best_s(lambda: candidate_plots(tx(), query), repeat)
        grid_s = best_s(lambda: grid_scan(tx(), query), repeat)
    print(f"{n:>7} {tree_s * 1e6:>12.1f} {len(found):>11} {grid_s * 1e6:>12.1f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="25,400,2500")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--backend", choices=("leveldb", "memory"), default="leveldb")
    args = parser.parse_args()
    pin_one_core()
    print(f"machine: {machine()}; backend: {args.backend}")
    print("microseconds per lookup of a new plot's neighbours, best of --repeat runs")
    print(f"{'plots':>7} {'quadtree':>12} {'candidates':>11} {'grid cell':>12}")
    for n in (int(s) for s in args.sizes.split(",")):
        row(n, args.repeat, args.backend)


if __name__ == "__main__":
    main()
