"""node.txpool.verifier and ``Node.submit_many_async``: client transactions' signatures
are verified in worker threads, never on the event loop, with the same outcomes as the
synchronous path, and a bounded amount of work accepted (``admission_busy`` beyond it)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

import ledger.tx as ledger_tx
from chaincode.executor import Executor
from ledger.crypto import PrivateKey
from ledger.genesis import Genesis
from ledger.store import Store
from node.api.service import Node
from node.chain.app import Application
from node.txpool.mempool import Mempool
from node.txpool.verifier import BUSY, SignatureVerifier
from tests.support.common import det_key, notary_tx


def make_node(path: Path, genesis: Genesis, verifier: SignatureVerifier | None = None) -> Node:
    store = Store(path)
    mempool = Mempool(max_txs=100)
    app = Application(store, Executor(), genesis, verified=mempool.verified)
    return Node(moniker="v", genesis=genesis, store=store, app=app, mempool=mempool,
                verifier=verifier)


def mixed_batch(regulator: PrivateKey) -> list[dict[str, Any]]:
    good = [notary_tx(regulator, f"good-{i}").to_json() for i in range(5)]
    forged = notary_tx(regulator, "forged").to_json()
    forged["signatures"] = [regulator.sign_hex(b"something else")]
    stranger = notary_tx(det_key("stranger"), "stranger").to_json()
    return [good[0], forged, good[1], good[0], stranger, {"payload": 1}, *good[2:]]


def outcome_codes(out: list[dict[str, Any]]) -> list[str]:
    return ["ok" if o["ok"] else o["error"]["code"] for o in out]


def test_the_async_path_gives_the_same_outcomes_as_the_synchronous_one(
    tmp_path: Path, genesis: Genesis, regulator_key: PrivateKey
) -> None:
    batch = mixed_batch(regulator_key)
    sync_node = make_node(tmp_path / "a", genesis)
    async_node = make_node(tmp_path / "b", genesis)
    try:
        expected = sync_node.submit_many(batch)
        got = asyncio.run(async_node.submit_many_async(batch))
        assert got == expected
        assert outcome_codes(got) == ["ok", "bad_signature", "ok", "duplicate_tx",
                                      "unenrolled_signer", "malformed_tx", "ok", "ok", "ok"]
        assert [tx.tx_id for tx in async_node.mempool.reap(100, 1 << 30)] == [
            tx.tx_id for tx in sync_node.mempool.reap(100, 1 << 30)]
    finally:
        sync_node.store.close()
        async_node.store.close()


def test_signatures_are_checked_in_worker_threads_not_on_the_event_loop(
    tmp_path: Path, genesis: Genesis, regulator_key: PrivateKey,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    threads: list[int] = []
    real = ledger_tx.verify

    def recording(*args: Any) -> bool:
        threads.append(threading.get_ident())
        return real(*args)

    monkeypatch.setattr(ledger_tx, "verify", recording)
    node = make_node(tmp_path / "db", genesis)
    txs = [notary_tx(regulator_key, f"t{i}").to_json() for i in range(40)]

    async def scenario() -> tuple[int, list[dict[str, Any]]]:
        return threading.get_ident(), await node.submit_many_async(txs)

    try:
        loop_thread, out = asyncio.run(scenario())
        assert all(o["ok"] for o in out) and len(threads) == 40
        assert loop_thread not in threads
        # and a transaction this node already verified is not verified again
        threads.clear()
        again = asyncio.run(node.submit_many_async(txs[:3]))
        assert outcome_codes(again) == ["duplicate_tx"] * 3 and threads == []
    finally:
        node.store.close()


def test_a_verifier_without_room_refuses_the_batch_and_recovers(
    tmp_path: Path, genesis: Genesis, regulator_key: PrivateKey,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    release = threading.Event()
    real = ledger_tx.verify

    def slow(*args: Any) -> bool:
        release.wait(10)
        return real(*args)

    verifier = SignatureVerifier(workers=1, max_jobs=1, wait_s=0.2)
    node = make_node(tmp_path / "db", genesis, verifier)
    monkeypatch.setattr(ledger_tx, "verify", slow)

    async def scenario() -> tuple[list[str], list[str], list[str]]:
        first = asyncio.create_task(node.submit_many_async(
            [notary_tx(regulator_key, "first").to_json()]))
        await asyncio.sleep(0.05)
        busy = await node.submit_many_async(
            [notary_tx(regulator_key, f"busy-{i}").to_json() for i in range(3)])
        release.set()
        done = await first
        later = await node.submit_many_async([notary_tx(regulator_key, "later").to_json()])
        return outcome_codes(busy), outcome_codes(done), outcome_codes(later)

    try:
        busy, done, later = asyncio.run(scenario())
        assert busy == [BUSY] * 3 and done == ["ok"] and later == ["ok"]
        assert verifier.refused_jobs == 1 and len(node.mempool) == 2
    finally:
        node.store.close()
        verifier.close()


def test_one_raw_transaction_goes_the_same_way(
    tmp_path: Path, genesis: Genesis, regulator_key: PrivateKey
) -> None:
    import json

    from ledger.errors import TxError

    node = make_node(tmp_path / "db", genesis)
    tx = notary_tx(regulator_key, "raw")
    try:
        assert asyncio.run(node.submit_raw_async(json.dumps(tx.to_json()).encode())) == tx.tx_id
        with pytest.raises(TxError) as err:
            asyncio.run(node.submit_raw_async(b'{"payload": {"x": 1.5}, "signatures": []}'))
        assert err.value.code == "malformed_tx"
    finally:
        node.store.close()


def test_a_full_queue_refuses_at_once(
    tmp_path: Path, genesis: Genesis, regulator_key: PrivateKey,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One batch verifying, one waiting: a third is refused at once, not after the wait
    (so a flood holds a bounded number of decoded bodies)."""
    import time

    release = threading.Event()
    real = ledger_tx.verify

    def slow(*args: Any) -> bool:
        release.wait(10)
        return real(*args)

    verifier = SignatureVerifier(workers=1, max_jobs=1, wait_s=30.0, max_waiting=1)
    node = make_node(tmp_path / "db", genesis, verifier)
    monkeypatch.setattr(ledger_tx, "verify", slow)

    async def scenario() -> tuple[list[str], float, list[str], list[str]]:
        def batch(tag: str) -> list[dict[str, Any]]:
            return [notary_tx(regulator_key, tag).to_json()]

        running = asyncio.create_task(node.submit_many_async(batch("running")))
        await asyncio.sleep(0.05)
        waiting = asyncio.create_task(node.submit_many_async(batch("waiting")))
        await asyncio.sleep(0.05)
        started = time.monotonic()
        third = outcome_codes(await node.submit_many_async(batch("third")))
        took = time.monotonic() - started
        release.set()
        return third, took, outcome_codes(await running), outcome_codes(await waiting)

    try:
        third, took, running, waiting = asyncio.run(scenario())
        assert third == [BUSY] and took < 10.0  # refused at once, not after the 30 s wait
        assert running == ["ok"] and waiting == ["ok"]
    finally:
        node.store.close()
        verifier.close()
