"""Per-transaction cost of the single-node pipeline, stage by stage, on one core:

    decode    request bytes -> JSON value (node.txpool.admission.decode_json)
    validate  float scan, structure, canonical payload, chain id, replay check
              (find_float, parse_transaction, store tx index, mempool)
    verify    Ed25519 signature check (ledger.crypto via Transaction.verify_signatures)
    pool      mempool insert
    execute   block building: chaincode execution + txs/results/state roots
              (node.chain.app.Application.build_block)
    commit    commit certificate check + one synced LevelDB batch
              (node.chain.app.Application.commit_block -> ledger.store.Store.commit_block)

and, for a follower, ``replay`` = validate_block of the same blocks on a second node (roots,
signatures skipped for transactions already verified in its mempool: here not, so it
verifies them), ``follow`` = check_block + commit of the same blocks on a third node whose
mempool had verified their transactions (what a validator does with a proposal in
``fcl bench``), plus end-to-end throughput through Admission + SoloDriver.step.

Transactions are ``notary.record`` signed by one key (about 420 canonical bytes). Run::

    .venv/bin/python -m bench.bench_pipeline [--txs 20000] [--block 2000] [--runs 3]
        [--dir DIR] [--clock wall|cpu] [--json FILE]

``--dir`` puts the LevelDB stores there (default: a temporary directory; the storage
medium matters for the synced writes, so the report names it). ``--clock cpu`` measures
this thread's CPU time instead of wall time: on a machine shared with other work it is far
steadier, but it leaves out the time the synced writes wait for the disk (``commit``).
``--json`` also writes the best figures (µs/tx per stage) to FILE.

``--carbon N`` instead times ``Executor.execute_block`` on one block of N carbon-market
transactions (alternately a one-tonne listing and a two-party one-tonne transfer, all
from one owner's holdings, which is what makes later transactions scan the block's
earlier writes), built with the test fixtures (``tests/test_carbon_market_fixtures.py``).

The "of which" lines of ``execute`` run that part again on its own, on the same block:
``chaincode`` (``Executor.execute_block``), ``state_root`` (the state tree update over
the write set, ``WriteSet.root_in``), ``txs_root`` and ``results_root`` (``ledger.block``).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from bench.benchlib import machine, pin_one_core
from chaincode.executor import Executor
from chaincode.framework import BlockContext
from ledger.block import results_root, txs_root
from ledger.crypto import PrivateKey, sha256
from ledger.genesis import Genesis
from ledger.state import WriteSet
from ledger.store import Store
from ledger.tx import build_transaction, parse_transaction
from node.chain.app import Application
from node.driver.solo import SoloDriver
from node.txpool.admission import Admission, decode_json, find_float, tx_size
from node.txpool.mempool import Mempool

CHAIN_ID = "fcl-bench"
EXECUTE_PARTS = ("chaincode", "state_root", "txs_root", "results_root")
clock = time.perf_counter  # --clock cpu: time.thread_time


def genesis_for(validator: PrivateKey, regulator: PrivateKey) -> Genesis:
    return Genesis.from_json(
        {
            "chain_id": CHAIN_ID,
            "genesis_time": 1_700_000_000_000,
            "validators": [{"name": "v0", "pub_key": validator.public_key_hex, "power": 1}],
            "app_state": {
                "organisations": [
                    {"id": "regulator", "name": "R", "roles": ["regulator"],
                     "accreditation": None, "admins": [regulator.public_key_hex],
                     "members": []}
                ],
                "params": {},
            },
        }
    )


def make_raw_txs(key: PrivateKey, n: int, tag: str) -> list[bytes]:
    out = []
    for i in range(n):
        tx = build_transaction(
            chain_id=CHAIN_ID, contract="notary", method="record",
            args={"name": f"{tag}-{i}", "note": "survey of plot 17, spring campaign",
                  "sha256": sha256(f"{tag}-{i}".encode()).hex()},
            nonce=f"{tag}-{i}", keys=[key],
        )
        out.append(json.dumps(tx.to_json()).encode())
    return out


class Node:
    def __init__(self, path: Path, genesis: Genesis, key: PrivateKey, block: int) -> None:
        self.store = Store(path)
        self.mempool = Mempool(max_txs=10**7, max_bytes=2**40)
        self.app = Application(self.store, Executor(), genesis, verified=self.mempool.verified)
        self.admission = Admission(CHAIN_ID, self.store, self.mempool)
        self.driver = SoloDriver(self.app, self.mempool, key, max_block_txs=block)


def stages(node: Node, raws: list[bytes], block_size: int) -> tuple[dict[str, float], list]:
    t: dict[str, float] = {}
    c = clock
    s = c()
    values = [decode_json(r) for r in raws]
    t["decode"] = c() - s

    s = c()
    txs = []
    for v in values:
        if find_float(v) is not None:
            raise AssertionError("no floats expected")
        tx = parse_transaction(v, chain_id=CHAIN_ID)
        if node.store.get_tx_location(tx.tx_id) is not None or tx.tx_id in node.mempool:
            raise AssertionError("no replays expected")
        txs.append(tx)
    t["validate"] = c() - s

    s = c()
    for tx in txs:
        tx.verify_signatures()
    t["verify"] = c() - s

    s = c()
    for tx in txs:
        node.mempool.add(tx, tx_size(tx))
    t["pool"] = c() - s

    t["execute"] = t["commit"] = 0.0
    for part in EXECUTE_PARTS:
        t[part] = 0.0
    blocks = []
    while len(node.mempool):
        batch = node.mempool.reap(block_size, 2**40)
        time_ms = node.app.tip.time + 1
        proposer = node.driver.key.public_key_hex
        s = c()
        block, writes = node.app.build_block(batch, time_ms, proposer)
        t["execute"] += c() - s
        # of which (each measured again on its own, on the same block):
        ctx = BlockContext(CHAIN_ID, block.height, time_ms, proposer)
        s = c()
        execution = node.app.executor.execute_block(node.store, ctx, batch)
        t["chaincode"] += c() - s
        s = c()
        WriteSet(execution.writes).root_in(node.store.state_tree, block.height)
        t["state_root"] += c() - s
        s = c()
        txs_root(batch)
        t["txs_root"] += c() - s
        s = c()
        results_root(block.results)
        t["results_root"] += c() - s
        cert = node.driver.sign_commit(block)  # the validator's own vote: not a per-tx cost
        s = c()
        node.app.commit_block(block, cert, writes)
        t["commit"] += c() - s
        node.mempool.remove(tx.tx_id for tx in batch)
        blocks.append((block, cert))
    return t, blocks


def one_run(tmp: Path, genesis: Genesis, validator: PrivateKey, raws: list[bytes],
            raws_e2e: list[bytes], block_size: int) -> dict[str, float]:
    """Seconds per stage for one fresh pair of stores."""
    a = Node(tmp / "a", genesis, validator, block_size)
    b = Node(tmp / "b", genesis, validator, block_size)
    c = Node(tmp / "c", genesis, validator, block_size)
    try:
        times, blocks = stages(a, raws, block_size)
        s = clock()
        for block, cert in blocks:
            writes = b.app.validate_block(block)
            b.app.commit_block(block, cert, writes)
        times["replay"] = clock() - s
        assert b.app.tip == a.app.tip
        # a consensus follower: the proposal's transactions are already verified (its
        # mempool had them), so check_block re-executes and commit stores
        for block, _ in blocks:
            for tx in block.txs:
                c.app.verified.add(tx)
        s = clock()
        for block, cert in blocks:
            checked, writes = c.app.check_block(block)
            c.app.commit_block(checked, cert, writes)
        times["follow"] = clock() - s
        assert c.app.tip == a.app.tip
        s = clock()
        for raw in raws_e2e:
            a.admission.admit_raw(raw)
        while a.driver.step() is not None:
            pass
        times["end-to-end"] = clock() - s
        return times
    finally:
        a.store.close()
        b.store.close()
        c.store.close()


def carbon_block(n: int, runs: int) -> None:
    """µs per transaction of one block of ``n`` carbon transactions (see the module doc)."""
    from tests.support.carbon_market import Market
    from tests.support.harness import Harness

    h = Harness()
    m = Market(harness=h)
    m.project("PRJ-1", plots=[("SQ-1", "chinese_fir"), ("SQ-3", "chinese_fir")])
    m.issue("PRJ-1", "PRJ-1-B1", volume="2500")
    txs = []
    for i in range(n):
        if i % 2 == 0:
            txs.append(h.make_tx("owner-farm", "carbon", "create_listing",
                                 {"quantity": 1, "price": "50", "exchange_org": "exchange"}))
        else:
            txs.append(h.make_tx(["owner-farm", "buyer-power"], "carbon", "transfer",
                                 {"from_org": "owner-farm", "to_org": "buyer-power",
                                  "quantity": 1}))
    ctx = BlockContext("fcl-test", h.height + 1, h.time + 1000, h.validator_key.public_key_hex)
    best = float("inf")
    for _ in range(runs):
        s = clock()
        execution = h.executor.execute_block(h.state, ctx, txs)
        best = min(best, clock() - s)
    codes = sorted({r["code"] for r in execution.results})
    print(f"machine: {machine()}")
    print(f"one block of {n} carbon transactions (result codes {codes}); best of {runs}")
    print(f"execute_block {best / n * 1e6:8.1f} us/tx")


def main() -> None:
    global clock
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--txs", type=int, default=20000)
    parser.add_argument("--block", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3, help="report the best of RUNS runs")
    parser.add_argument("--dir", default=None, help="directory for the stores")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="wall time (default) or this thread's CPU time")
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    parser.add_argument("--carbon", type=int, default=0, metavar="N",
                        help="time one block of N carbon transactions instead")
    args = parser.parse_args()
    clock = time.thread_time if args.clock == "cpu" else time.perf_counter
    pin_one_core()
    if args.carbon:
        carbon_block(args.carbon, args.runs)
        return
    validator = PrivateKey(sha256(b"bench-validator"))
    regulator = PrivateKey(sha256(b"bench-regulator"))
    genesis = genesis_for(validator, regulator)
    raws = make_raw_txs(regulator, args.txs, "a")
    raws_e2e = make_raw_txs(regulator, args.txs, "b")
    n = args.txs
    runs: list[dict[str, float]] = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
            runs.append(one_run(Path(tmp), genesis, validator, raws, raws_e2e, args.block))
    best = {name: min(r[name] for r in runs) for name in runs[0]}
    print(f"machine: {machine()}")
    print(f"stores under {args.dir or tempfile.gettempdir()}; {n} notary.record txs, blocks of "
          f"{args.block}; raw tx {sum(map(len, raws)) // n} bytes; best of {args.runs} runs; "
          f"{args.clock} clock")
    print(f"\n{'stage':10s} {'us/tx':>8s} {'share':>6s}")
    pipeline = ("decode", "validate", "verify", "pool", "execute", "commit")
    total = sum(best[name] for name in pipeline)
    for name in pipeline:
        print(f"{name:10s} {best[name] / n * 1e6:8.1f} {best[name] / total:6.0%}")
        if name == "execute":
            for part in EXECUTE_PARTS:
                print(f"  of which {part:12s} {best[part] / n * 1e6:6.1f}")
    print(f"{'total':10s} {total / n * 1e6:8.1f}   -> {n / total:,.0f} tx/s on one core")
    print(f"{'replay':10s} {best['replay'] / n * 1e6:8.1f}   (a follower: validate_block with "
          "signatures + re-execution, then commit)")
    print(f"{'follow':10s} {best['follow'] / n * 1e6:8.1f}   (a consensus follower: check_block of "
          "transactions already verified in its mempool, then commit)")
    print(f"{'end-to-end':10s} {best['end-to-end'] / n * 1e6:8.1f}   -> "
          f"{n / best['end-to-end']:,.0f} tx/s (Admission.admit_raw + SoloDriver.step)")
    if args.json:
        figures = {name: best[name] / n * 1e6 for name in best}
        figures["total"] = total / n * 1e6
        Path(args.json).write_text(json.dumps(figures, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
