"""CPU time of a validator's work on one block's two Merkle trees (transactions and
results), per block of ``--txs`` ``notary.record`` transactions built by
``bench.bench_pipeline``'s single node:

    follower  the transactions root of the decoded proposal (``BlockCodec``), the
              canonical bytes of its own results and their root (``check_block``), then
              the block layout written at commit (``layout_of``, with chunk roots)
    layout    ``layout_of`` alone, on a block whose roots were computed

Fresh transaction and block objects for each repeat (their canonical bytes made before
the clock starts, as admission and decoding make them), best and mean of ``--repeat``.
The same file runs against older code (before ``Block.with_results``: the transactions
root by ``txs_root``, the results root by ``merkle_root``): copy it into an export of
the old tree's ``bench/`` and run it there, then here, with the same command::

    .venv/bin/python -m bench.bench_block_trees [--txs 1000] [--repeat 20]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.bench_pipeline import CHAIN_ID, Node, genesis_for, make_raw_txs
from ledger.block import Block, txs_root
from ledger.block_layout import layout_of
from ledger.crypto import PrivateKey, sha256
from ledger.encoding import decode
from ledger.merkle import merkle_root
from ledger.tx import parse_transaction


def make_block(n: int) -> bytes:
    """The canonical bytes of a block of ``n`` transactions built by a real node."""
    validator, regulator = PrivateKey(sha256(b"v")), PrivateKey(sha256(b"r"))
    with tempfile.TemporaryDirectory() as tmp:
        node = Node(Path(tmp) / "a", genesis_for(validator, regulator), validator, n)
        try:
            txs = [parse_transaction(decode(raw), chain_id=CHAIN_ID)
                   for raw in make_raw_txs(regulator, n, "trees")]
            block, _ = node.app.build_block(txs, node.app.tip.time + 1,
                                            validator.public_key_hex)
            return block.canonical_bytes
        finally:
            node.store.close()


def follower(obj: dict[str, Any]) -> float:
    """One repeat of the follower's tree work; seconds of this thread's CPU."""
    header = Block.from_json(obj).header
    txs = [parse_transaction(t, chain_id=header.chain_id) for t in obj["txs"]]
    for tx in txs:
        assert tx.canonical_bytes
    carried = tuple(dict(r) for r in obj["results"])
    own = [dict(r) for r in obj["results"]]
    start = time.thread_time()
    if hasattr(Block, "with_results"):
        decoded = Block(header, tuple(txs), carried)
        assert decoded.txs_root_hex == header.txs_root
        checked = decoded.with_results(own)
        assert checked.results_root_hex == header.results_root
    else:  # the code before: roots from the leaves' bytes
        assert txs_root(txs) == header.txs_root
        checked = Block(header, tuple(txs), tuple(own))
        assert merkle_root(checked.result_bytes).hex() == header.results_root
    layout_of(checked)
    return time.thread_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--txs", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    obj = decode(make_block(args.txs))
    times = [follower(obj) for _ in range(args.repeat)]
    block = Block.from_json(obj)
    layout_of(block)  # its roots' chunk roots (if it keeps them) are computed once here
    lay = []
    for _ in range(args.repeat):
        start = time.thread_time()
        layout_of(block)
        lay.append(time.thread_time() - start)
    per = 1e3
    print(f"follower  best {min(times) * per:.3f} ms  mean {sum(times) / len(times) * per:.3f} ms"
          f" per block of {args.txs}")
    print(f"layout    best {min(lay) * per:.3f} ms  mean {sum(lay) / len(lay) * per:.3f} ms")


if __name__ == "__main__":
    main()
