"""RFC 9162 Merkle costs (ledger/merkle.py): per-block roots, inclusion proofs and their
verification, and the append-only history tree over block hashes. Run::

    .venv/bin/python -m bench.bench_merkle [--repeat 5]

Pinned to one CPU core where the OS allows it; best of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import hashlib
import time

from bench.benchlib import best_s, machine, pin_one_core
from ledger.merkle import (
    AppendOnlyMerkleTree,
    inclusion_proof,
    merkle_root,
    verify_consistency,
    verify_inclusion,
)


def row(n: int, repeat: int) -> None:
    """One line of the per-block table for ``n`` leaves."""
    leaves = [hashlib.sha256(i.to_bytes(4, "big")).digest() * 12 + b"x" * 16 for i in range(n)]
    index = n // 2
    root_s = best_s(lambda: merkle_root(leaves), repeat)
    proof_s = best_s(lambda: inclusion_proof(leaves, index), repeat)
    proof = inclusion_proof(leaves, index)
    root = merkle_root(leaves)
    verify_s = best_s(lambda: verify_inclusion(leaves[index], index, n, proof, root), repeat, 200)
    assert verify_inclusion(leaves[index], index, n, proof, root)
    print(
        f"{n:>8} {root_s * 1e3:>9.3f} ms {root_s / n * 1e6:>7.2f} us "
        f"{proof_s * 1e3:>7.3f} ms {verify_s * 1e6:>7.1f} us {len(proof):>5}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    pin_one_core()
    print(f"machine: {machine()}")
    print("leaves are 400-byte transactions; times are the best of --repeat runs")
    print(f"{'leaves':>8} {'root':>12} {'root/leaf':>10} {'proof':>10} {'verify':>10} {'path':>5}")
    for n in (1, 16, 256, 2000, 5000):
        row(n, args.repeat)

    print("\nhistory tree (AppendOnlyMerkleTree over 32-byte block hashes)")
    hashes = [hashlib.sha256(i.to_bytes(8, "big")).digest() for i in range(100_000)]
    tree = AppendOnlyMerkleTree()
    start = time.perf_counter()
    for h in hashes:
        tree.append(h)
    append_us = (time.perf_counter() - start) / len(hashes) * 1e6
    root_us = best_s(tree.root, args.repeat, 1000) * 1e6
    old_root_us = best_s(lambda: tree.root_at(54_321), args.repeat, 1000) * 1e6
    proof_us = best_s(lambda: tree.inclusion_proof(12_345), args.repeat, 1000) * 1e6
    cons_us = best_s(lambda: tree.consistency_proof(54_321), args.repeat, 1000) * 1e6
    cons = tree.consistency_proof(54_321)
    verify_cons_us = best_s(
        lambda: verify_consistency(54_321, len(hashes), tree.root_at(54_321), tree.root(), cons),
        args.repeat,
        1000,
    ) * 1e6
    print(f"  append (amortised)        {append_us:8.2f} us   (100,000 block hashes)")
    print(f"  root                      {root_us:8.2f} us")
    print(f"  root at an earlier size   {old_root_us:8.2f} us")
    print(f"  inclusion proof           {proof_us:8.2f} us")
    print(f"  consistency proof         {cons_us:8.2f} us")
    print(f"  verify consistency        {verify_cons_us:8.2f} us")
    print(f"  rebuild at startup        {append_us * len(hashes) / 1e3:8.1f} ms for 100,000 blocks")


if __name__ == "__main__":
    main()
