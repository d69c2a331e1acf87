"""Crash safety of the store: a real writer process is killed with SIGKILL at seeded
random moments; after every kill the reopened store must be exactly at a committed block
(never torn), keep every block the writer reported as committed, and hold nothing above
its latest height.

The writer is a plain script run with this interpreter; its block builder is shared with
the checker through ``CHAIN_SRC`` so both know what each height must contain.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from ledger.state import state_root_of
from ledger.state_tree import StateTreeError
from ledger.store import Store

CHAIN_SRC = r'''
import struct
from ledger.block import (Block, BlockHeader, CommitCertificate, results_root, tx_result,
                          txs_root, vote_sign_bytes)
from ledger.crypto import PrivateKey, sha256, sha256_hex
from ledger.state import WriteSet
from ledger.state_tree import MemoryNodeStore, StateTree
from ledger.tx import build_transaction

KEY = PrivateKey(sha256(b"crash-writer"))
CHAIN = "fcl-crash"
GENESIS_HASH = sha256_hex(b"crash-genesis")
GENESIS_WRITES = [("g/0", b'"genesis"')]
ZERO = "00" * 32


def txs_for(h):
    return [build_transaction(chain_id=CHAIN, contract="notary", method="record",
                              args={"h": h, "i": i}, nonce=f"{h}-{i}", keys=[KEY])
            for i in range(1 + h % 3)]


def writes_for(h):
    w = [(f"k/{h:08d}", (b"v%d;" % h) * (1 + (h * 7919) % 3000)),
         (f"ring/{h % 5}", b"%d" % h)]
    if h > 4 and h % 4 == 0:
        w.append((f"k/{h - 4:08d}", None))
    return w


def extra_for(h):
    return [(b"ev/" + struct.pack(">Q", h), b"%d" % h)]


_TREE = StateTree(MemoryNodeStore())  # the chain's state tree, kept apart from the store's
_ROOTS = [_TREE.apply(0, WriteSet(GENESIS_WRITES).tree_changes()).hex()]


def root_for(h):
    """The state root after height h: the chain is fixed, so its state at h is too."""
    while len(_ROOTS) <= h:
        v = len(_ROOTS)
        _ROOTS.append(_TREE.apply(v, WriteSet(writes_for(v)).tree_changes()).hex())
    return _ROOTS[h]


def block_for(h, prev_hash):
    txs = txs_for(h)
    results = [tx_result(t.tx_id, "ok", "", []) for t in txs]
    writes = writes_for(h)
    root = root_for(h)
    header = BlockHeader(chain_id=CHAIN, height=h, time=1000 + h, prev_hash=prev_hash,
                         txs_root=txs_root(txs), results_root=results_root(results),
                         state_root=root, validators_hash=ZERO, next_validators_hash=ZERO,
                         proposer=KEY.public_key_hex, history_root=ZERO)
    block = Block(header=header, txs=tuple(txs), results=tuple(results))
    sig = KEY.sign_hex(vote_sign_bytes("precommit", CHAIN, h, 0, block.hash()))
    commit = CommitCertificate(h, 0, block.hash(), ((KEY.public_key_hex, sig),))
    return block, commit, writes, root
'''

WRITER_MAIN = r'''
import sys
from ledger.store import Store

store = Store(sys.argv[1])
if not store.initialised:
    store.init_genesis(GENESIS_HASH, CHAIN, GENESIS_WRITES, root_for(0))
print("ready", store.latest_height(), flush=True)
while True:
    h = store.latest_height() + 1
    block, commit, writes, root = block_for(h, store.latest_hash())
    store.commit_block(block, commit, writes, root, extra_index=extra_for(h))
    print(h, flush=True)
'''


def chain_module() -> dict[str, Any]:
    """The writer's block builder, with ``block_for`` memoised by height (the chain is
    deterministic, so a height always gets the same block)."""
    ns: dict[str, Any] = {}
    exec(CHAIN_SRC, ns)  # our own source, shared with the writer
    build = ns["block_for"]
    cache: dict[int, Any] = {}

    def block_for(h: int, prev_hash: str) -> Any:
        if h not in cache:
            cache[h] = build(h, prev_hash)
        block = cache[h][0]
        assert block.header.prev_hash == prev_hash
        return cache[h]

    ns["block_for"] = block_for
    return ns


def check_store(path: Path, chain: dict[str, Any], acknowledged: int) -> int:
    """Reopen the store and check it is a whole committed chain; return its height."""
    with Store(path) as store:
        latest = store.latest_height()
        assert latest >= acknowledged, f"lost committed block(s): {latest} < {acknowledged}"
        prev_hash = chain["GENESIS_HASH"]
        assert store.state_tree.root(0).hex() == chain["root_for"](0)
        expected_state: dict[str, bytes] = dict(chain["GENESIS_WRITES"])
        hashes = store.block_hashes()
        assert len(hashes) == latest
        for h in range(1, latest + 1):
            block, commit, writes, block_root = chain["block_for"](h, prev_hash)
            assert store.get_block(h) == block, f"block {h}"
            stored_commit = store.get_commit(h)
            assert stored_commit is not None and stored_commit.block_hash == block.hash()
            assert hashes[h - 1] == bytes.fromhex(block.hash())
            assert store.get_height_of_hash(block.hash()) == h
            for i, tx in enumerate(block.txs):
                assert store.get_tx_location(tx.tx_id) == (h, i)
            assert store.get_block_writes(h) == sorted(writes)
            for key, value in chain["extra_for"](h):
                assert store.get_extra(key) == value
            # the tree's version h is on disk exactly when block h is
            assert store.state_tree.root(h).hex() == block_root
            for key, value in writes:
                if value is None:
                    expected_state.pop(key, None)
                else:
                    expected_state[key] = value
            prev_hash = block.hash()
        assert store.latest_hash() == prev_hash
        assert store.state_tree.latest_version == latest
        assert store.state_root() == chain["root_for"](latest) == state_root_of(expected_state.items())
        assert dict(store.iter_prefix("")) == expected_state
        # nothing of the next heights exists
        for h in range(latest + 1, latest + 4):
            assert store.get_block_json(h) is None
            with pytest.raises(StateTreeError):  # nor any version of the tree after it
                store.state_tree.root(h)
            assert store.get_commit_json(h) is None
            assert store.get_block_hash(h) is None
            assert store.get_block_writes(h) is None
            for tx in chain["txs_for"](h):
                assert store.get_tx_location(tx.tx_id) is None
            for key, _ in chain["extra_for"](h):
                assert store.get_extra(key) is None
        return latest


def run_kills(tmp_path: Path, kills: int, seed: int) -> None:
    chain = chain_module()
    script = tmp_path / "writer.py"
    script.write_text(CHAIN_SRC + WRITER_MAIN)
    db = tmp_path / "db"
    rng = random.Random(seed)
    acknowledged = 0
    heights = []
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    for _ in range(kills):
        proc = subprocess.Popen(
            [sys.executable, str(script), str(db)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        try:
            assert proc.stdout is not None
            first = proc.stdout.readline()
            assert first.startswith("ready"), proc.stderr.read() if proc.stderr else first
            time.sleep(rng.uniform(0.0, 0.08))
        finally:
            proc.send_signal(signal.SIGKILL)
            out, err = proc.communicate(timeout=60)
        assert proc.returncode == -signal.SIGKILL, err
        printed = [int(line) for line in out.split()]
        if printed:
            acknowledged = printed[-1]
        latest = check_store(db, chain, acknowledged)
        heights.append(latest)
        assert latest <= acknowledged + 1, "the store is ahead of what the writer could commit"
        acknowledged = latest
    # the writer made progress between kills, so kills landed among commits
    assert heights[-1] > kills, f"seed {seed}: heights {heights}"


def test_sigkill_during_commits_never_tears_the_store(tmp_path: Path) -> None:
    run_kills(tmp_path, kills=25, seed=int(os.environ.get("FCL_CRASH_SEED", "20240611")))


@pytest.mark.slow
def test_sigkill_long(tmp_path: Path) -> None:
    run_kills(tmp_path, kills=100, seed=int(os.environ.get("FCL_CRASH_SEED", "7")))
