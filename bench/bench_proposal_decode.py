"""CPU time per transaction of decoding a proposal as a follower does: ``decode_message``
with the node's ``BlockCodec`` (node/consensus/messages.py, node/chain/blockcodec.py), the
mempool holding every transaction of the block (as after gossip), strict path and fast path
run alternately. Transactions are ``notary.record`` as in ``bench.bench_pipeline``; each
result carries one event, like the notary's. Run::

    .venv/bin/python -m bench.bench_proposal_decode [--txs 1000] [--runs 7] [--unknown 0]

``--unknown N`` leaves N of the block's transactions out of the mempool (they are parsed).
The clock is this thread's CPU time (``time.thread_time``), steady on a shared machine.
Each run starts from transactions without their kept leaf hash (``Transaction.leaf_hash``,
as a follower's gossiped transactions are), so the transactions root hashes every leaf.
"""

from __future__ import annotations

import argparse
import statistics
import time

from bench.bench_pipeline import CHAIN_ID
from ledger.block import Block, tx_result
from ledger.crypto import PrivateKey, sha256
from ledger.tx import Transaction, build_transaction
from node.chain.blockcodec import BlockCodec, tx_json_key
from node.consensus.messages import Proposal, decode_message, decode_message_strict
from node.txpool.admission import tx_size
from node.txpool.mempool import Mempool


def make_txs(key: PrivateKey, n: int) -> list[Transaction]:
    return [
        build_transaction(
            chain_id=CHAIN_ID, contract="notary", method="record",
            args={"name": f"doc-{i}", "note": "survey of plot 17, spring campaign",
                  "sha256": sha256(f"doc-{i}".encode()).hex()},
            nonce=f"n-{i}", keys=[key],
        )
        for i in range(n)
    ]


def proposal_bytes(key: PrivateKey, txs: list[Transaction]) -> bytes:
    results = [
        tx_result(tx.tx_id, "ok", "", [{"type": "notary.recorded",
                                        "attributes": {"name": tx.args["name"]}}])
        for tx in txs
    ]
    block = Block.assemble(
        txs, results, chain_id=CHAIN_ID, height=7, time=1_700_000_000_000,
        prev_hash="aa" * 32, state_root="bb" * 32, validators_hash="cc" * 32,
        next_validators_hash="cc" * 32, proposer=key.public_key_hex, history_root="dd" * 32,
    )
    return Proposal.sign(key, CHAIN_ID, 0, block, -1).to_bytes()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--txs", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--unknown", type=int, default=0)
    args = parser.parse_args()
    key = PrivateKey(bytes(range(32)))
    txs = make_txs(key, args.txs)
    data = proposal_bytes(key, txs)
    pool = Mempool(max_txs=10**7, max_bytes=2**40)
    for tx in txs[args.unknown:]:
        pool.add(tx, tx_size(tx), tx_json_key(tx.to_json()))
    codec = BlockCodec(CHAIN_ID, pool.by_json_key, pool.by_canonical_text)
    strict = decode_message_strict(data, codec.decode)
    fast = decode_message(data, codec.decode, decode_block_text=codec.decode_text)
    assert fast == strict and fast.block.canonical_bytes == strict.block.canonical_bytes
    times: dict[str, list[float]] = {"strict": [], "fast": []}
    for _ in range(args.runs):
        for name in ("strict", "fast"):
            for tx in txs:  # a follower's mempool transactions have no leaf hash yet
                if getattr(tx, "_leaf", None) is not None:
                    object.__setattr__(tx, "_leaf", None)
            s = time.thread_time()
            if name == "strict":
                msg = decode_message_strict(data, codec.decode)
            else:
                msg = decode_message(data, codec.decode, decode_block_text=codec.decode_text)
            assert isinstance(msg, Proposal)
            times[name].append(time.thread_time() - s)
    print(f"{args.txs} txs ({args.unknown} not in the mempool), {len(data)} bytes, "
          f"{args.runs} runs alternately, thread CPU time")
    for name, ts in times.items():
        print(f"{name:>6}: median {statistics.median(ts) / args.txs * 1e6:6.1f} µs/tx, "
              f"best {min(ts) / args.txs * 1e6:6.1f} µs/tx")


if __name__ == "__main__":
    main()
