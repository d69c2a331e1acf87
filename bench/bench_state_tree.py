"""Costs of the authenticated state map (ledger/state_tree.py): the per-block batch update
per written key, proof size, proof generation and verification, at several tree sizes.
Run::

    .venv/bin/python -m bench.bench_state_tree [--sizes 10000,100000,1000000]
        [--batch 1000] [--batches 20] [--store memory|leveldb|roots] [--repeat 5]

For each size the tree is first filled (in batches of 50,000 keys, not timed), then
``--batches`` blocks of ``--batch`` written keys each are applied as consecutive versions
(two thirds overwrite existing keys, one third insert new ones, as blocks write records
and add a few); each is timed from ``prepare`` to the records stored. Proofs are taken for
present and absent keys at the latest version. Pinned to one CPU core where the OS allows
it; wall-clock and CPU (process) time are both given, because the machine may be shared.
``--store roots`` times ``ledger.root_tree.RootTree`` (the audit's roots-only tree, which
keeps no records and proves nothing) on the same blocks, and checks its last root against
the ``StateTree``'s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator

from bench.benchlib import best_s, machine, pin_one_core
from ledger.root_tree import RootTree
from ledger.state_tree import DBNodeStore, MemoryNodeStore, NodeStore, StateTree, verify

FILL_BATCH = 50_000


def _key(i: int) -> bytes:
    return b"plot/XN-%08d/stock" % i


def _value(i: int, version: int) -> bytes:
    return b'{"owner":"org-%d","stock_t":"%d.000","version":%d}' % (i % 97, i, version)


def _open(kind: str, workdir: str) -> tuple[NodeStore, object]:
    if kind == "memory":
        return MemoryNodeStore(), None
    import plyvel

    db = plyvel.DB(workdir, create_if_missing=True)
    return DBNodeStore(db, b"a/"), db


def row(size: int, batch: int, batches: int, kind: str, repeat: int) -> None:
    if kind == "roots":
        _roots_row(size, batch, batches)
        return
    with tempfile.TemporaryDirectory() as workdir:
        nodes, db = _open(kind, workdir)
        try:
            _row(StateTree(nodes), size, batch, batches, repeat)
        finally:
            if db is not None:
                db.close()  # type: ignore[attr-defined]


def _blocks(size: int, batch: int, batches: int) -> Iterator[dict[bytes, bytes | None]]:
    """The fill (``FILL_BATCH`` keys a version), then the ``batches`` timed blocks."""
    version = 0
    for lo in range(0, size, FILL_BATCH):
        yield {_key(i): _value(i, 0) for i in range(lo, min(size, lo + FILL_BATCH))}
        version += 1
    next_new = size
    step = 0
    for _ in range(batches):
        changes: dict[bytes, bytes | None] = {}
        while len(changes) < batch:
            if len(changes) % 3 == 2:
                changes[_key(next_new)] = _value(next_new, version)
                next_new += 1
            else:
                i = (step * 7_919) % size
                step += 1
                changes[_key(i)] = _value(i, version)
        yield changes
        version += 1


def _timed(apply: Callable[[int, dict[bytes, bytes | None]], bytes], size: int, batch: int,
           batches: int) -> tuple[float, list[float], list[float], int]:
    """Fill, then apply the timed blocks: (fill seconds, wall and CPU per key, versions)."""
    fills = -(-size // FILL_BATCH)
    wall: list[float] = []
    cpu: list[float] = []
    fill_start = time.perf_counter()
    fill_s = 0.0
    for version, changes in enumerate(_blocks(size, batch, batches)):
        if version < fills:
            apply(version, changes)
            fill_s = time.perf_counter() - fill_start
            continue
        w0, c0 = time.perf_counter(), time.process_time()
        apply(version, changes)
        wall.append((time.perf_counter() - w0) / len(changes))
        cpu.append((time.process_time() - c0) / len(changes))
    return fill_s, wall, cpu, fills + batches


def _roots_row(size: int, batch: int, batches: int) -> None:
    roots = RootTree()
    fill_s, wall, cpu, versions = _timed(roots.apply, size, batch, batches)
    reference = StateTree(MemoryNodeStore())
    for version, changes in enumerate(_blocks(size, batch, batches)):
        reference.apply(version, changes)
    assert reference.root(versions - 1) == roots.root, "RootTree and StateTree disagree"
    print(
        f"{size:>9,} {statistics.median(wall) * 1e6:>8.1f} {min(wall) * 1e6:>8.1f} "
        f"{statistics.median(cpu) * 1e6:>8.1f} {'-':>6} {'-':>4} {'-':>7} {'-':>7} "
        f"{'-':>8} {'-':>8} {fill_s:>8.1f}",
        flush=True,
    )


def _row(tree: StateTree, size: int, batch: int, batches: int, repeat: int) -> None:
    fill_s, wall, cpu, versions = _timed(tree.apply, size, batch, batches)
    latest = versions - 1
    root = tree.root(latest)
    present = [_key((j * 104_729) % size) for j in range(200)]
    absent = [b"absent/%d" % j for j in range(200)]
    sizes = []
    json_sizes = []
    siblings = []
    for key in present + absent:
        proof = tree.prove(key, latest)
        assert verify(root, key, tree.get(key, latest), proof)
        siblings.append(len(proof.siblings))
        sizes.append(proof.size_bytes())
        json_sizes.append(len(json.dumps(proof.to_json(), separators=(",", ":"))))
    probe = present[7]
    probe_value = tree.get(probe, latest)
    proof = tree.prove(probe, latest)
    prove_us = best_s(lambda: tree.prove(probe, latest), repeat, 200) * 1e6
    verify_us = best_s(lambda: verify(root, probe, probe_value, proof), repeat, 200) * 1e6
    print(
        f"{size:>9,} {statistics.median(wall) * 1e6:>8.1f} {min(wall) * 1e6:>8.1f} "
        f"{statistics.median(cpu) * 1e6:>8.1f} {statistics.mean(siblings):>6.1f} "
        f"{max(siblings):>4} {statistics.mean(sizes):>7.0f} {statistics.mean(json_sizes):>7.0f} "
        f"{prove_us:>8.1f} {verify_us:>8.1f} {fill_s:>8.1f}",
        flush=True,
    )


def _sizes(text: str) -> list[int]:
    sizes = [int(part) for part in text.split(",") if part]
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError("sizes are positive integers, comma-separated")
    return sizes


def header() -> Iterator[str]:
    yield (f"{'keys':>9} {'upd/key':>8} {'best':>8} {'cpu/key':>8} {'sibs':>6} {'max':>4} "
           f"{'bytes':>7} {'json':>7} {'prove':>8} {'verify':>8} {'fill s':>8}")
    yield (f"{'':>9} {'us wall':>8} {'us wall':>8} {'us':>8} {'mean':>6} {'':>4} "
           f"{'raw':>7} {'bytes':>7} {'us':>8} {'us':>8} {'':>8}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=_sizes, default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--batch", type=int, default=1_000, help="keys written per block")
    parser.add_argument("--batches", type=int, default=20, help="blocks timed per size")
    parser.add_argument("--store", choices=["memory", "leveldb", "roots"], default="memory")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    pin_one_core()
    print(f"machine: {machine()}")
    print(f"store: {args.store}; {args.batches} blocks of {args.batch} written keys per size "
          "(2/3 overwrites, 1/3 inserts); per-key times are the median (and best) block")
    for line in header():
        print(line)
    for size in args.sizes:
        row(size, args.batch, args.batches, args.store, args.repeat)


if __name__ == "__main__":
    main()
