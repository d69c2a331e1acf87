"""``POST /v1/txs/simulate`` (issue 14, dry runs) through FastAPI's TestClient: the
would-be result of a transaction, signed or not, on the committed state -- and never a
change to the store, the mempool or the chain."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from chaincode.executor import Executor
from ledger.crypto import PrivateKey
from ledger.errors import TxError
from ledger.genesis import Genesis
from ledger.store import MemoryDB, Store, StoreError
from ledger.tx import Transaction
from node.api.rpc import MAX_BODY_BYTES, create_app
from node.api.service import Node
from node.chain.app import Application
from node.chain.dryrun import MAX_DRY_RUN_TXS
from node.driver.solo import SoloDriver
from node.txpool.mempool import Mempool
from node.txpool.verifier import SignatureVerifier
from tests.support.common import CHAIN_ID, count_verifications, det_key, make_genesis, notary_tx

URL = "/v1/txs/simulate"


class Env:
    def __init__(self, store: Store, genesis: Genesis, key: PrivateKey) -> None:
        self.store = store
        self.mempool = Mempool(max_txs=100)
        self.app = Application(self.store, Executor(), genesis, verified=self.mempool.verified)
        self.driver = SoloDriver(self.app, self.mempool, key)
        self.node = Node(
            moniker="test-node", genesis=genesis, store=self.store, app=self.app,
            mempool=self.mempool, on_admit=self.driver.notify,
        )
        self.client = TestClient(create_app(self.node), raise_server_exceptions=False)

    def state(self) -> tuple[Any, ...]:
        """Everything a dry run must leave as it was."""
        return (
            self.store.latest_height(),
            self.store.latest_hash(),
            self.store.state_root(),
            self.app.tip,
            [tx.tx_id for tx in self.mempool.reap(10**6, 10**12)],
            self.mempool.size_bytes,
        )

    def simulate(self, body: Any, status: int = 200) -> dict[str, Any]:
        before = self.state()
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        resp = self.client.post(URL, content=raw)
        assert resp.status_code == status, resp.text
        assert self.state() == before
        data: dict[str, Any] = resp.json()
        return data

    def refused(self, body: Any, status: int, code: str) -> str:
        err = self.simulate(body, status)["error"]
        assert err["code"] == code, err
        assert isinstance(err["message"], str) and err["message"]
        return str(err["message"])

    def submit_and_commit(self, *txs: Transaction) -> list[dict[str, Any]]:
        for tx in txs:
            assert self.client.post("/v1/txs", content=json.dumps(tx.to_json())).status_code == 202
        assert self.driver.step() is not None
        records = [self.client.get(f"/v1/txs/{tx.tx_id}").json() for tx in txs]
        assert all(r["status"] == "committed" for r in records)
        return records


@pytest.fixture
def env(tmp_path: Path, genesis: Genesis, validator_key: PrivateKey):
    e = Env(Store(tmp_path / "db"), genesis, validator_key)
    yield e
    e.store.close()


def unsigned(tx: Transaction, *, keep_signers: bool = False) -> dict[str, Any]:
    payload = dict(tx.payload)
    if not keep_signers:
        del payload["signers"]
    return {"payload": payload}


# -- the would-be result -------------------------------------------------------------------
def test_a_successful_dry_run_matches_the_real_commit(env: Env, regulator_key) -> None:
    tx = notary_tx(regulator_key, "deed-1")
    sim = env.simulate({"tx": tx.to_json()})
    assert sim["ok"] is True and sim["code"] == "ok" and sim["message"] == ""
    assert sim["tx_id"] == tx.tx_id
    assert (sim["height"], sim["block_height"]) == (0, 1)
    assert sim["block_time"] == env.app.tip.time + 1  # the genesis time + 1 ms
    assert sim["writes"] >= 1
    assert [e["type"] for e in sim["events"]] == ["notary.recorded", "return"]
    assert sim["result"] == {"code": "ok", "events": sim["events"], "message": "",
                             "tx_id": tx.tx_id}
    # the same dry run again: the same answer (nothing was written, nothing is random)
    assert env.simulate({"tx": tx.to_json()}) == sim
    # it was not admitted: it can be submitted, and gets the result the dry run said
    [record] = env.submit_and_commit(tx)
    assert record["result"] == sim["result"]
    assert record["height"] == sim["block_height"]


def test_a_failing_transaction_is_a_200_with_its_code(env: Env, regulator_key) -> None:
    env.submit_and_commit(notary_tx(regulator_key, "deed-2"))
    again = notary_tx(regulator_key, "deed-2", nonce="n2")
    sim = env.simulate({"tx": again.to_json()})
    assert sim["ok"] is False and sim["code"] == "already_recorded"
    assert "deed-2" in sim["message"] and sim["events"] == []
    assert sim["writes"] == 0 and (sim["height"], sim["block_height"]) == (1, 2)
    assert sim["block_time"] == env.app.tip.time + 1  # the last block's time + 1 ms
    [record] = env.submit_and_commit(again)
    assert record["result"] == sim["result"]


def test_a_contract_refusal_before_execution_is_reported_too(env: Env, regulator_key) -> None:
    bad_args = notary_tx(regulator_key, "x").payload
    from ledger.tx import build_transaction
    tx = build_transaction(chain_id=CHAIN_ID, contract="notary", method="record",
                           args={**bad_args["args"], "sha256": "nothex"}, nonce="a",
                           keys=[regulator_key])
    sim = env.simulate({"tx": tx.to_json()})
    assert (sim["ok"], sim["code"]) == (False, "invalid_args")
    tx = build_transaction(chain_id=CHAIN_ID, contract="notary", method="nope", args={},
                           nonce="a", keys=[regulator_key])
    assert env.simulate({"tx": tx.to_json()})["code"] == "unknown_method"


# -- unsigned transactions -----------------------------------------------------------------
def test_unsigned_with_the_requests_signers(env: Env, regulator_key, monkeypatch) -> None:
    tx = notary_tx(regulator_key, "deed-3")
    verified = count_verifications(monkeypatch)
    sim = env.simulate({"tx": unsigned(tx), "signers": [regulator_key.public_key_hex]})
    assert sim["ok"] is True and sim["tx_id"] == tx.tx_id  # the id the signed one has
    # signatures: [] and the signers in the payload
    body = {"tx": {**unsigned(tx, keep_signers=True), "signatures": []}}
    assert env.simulate(body)["result"] == sim["result"]
    # both, agreeing
    body["signers"] = [regulator_key.public_key_hex]
    assert env.simulate(body)["result"] == sim["result"]
    assert verified == []  # nothing to verify
    # a signed transaction: its signatures are verified
    assert env.simulate({"tx": tx.to_json()})["result"] == sim["result"]
    assert verified == [tx.tx_id]


def test_unsigned_needs_enrolled_signers(env: Env, regulator_key) -> None:
    tx = notary_tx(regulator_key, "deed-4")
    stranger = det_key("stranger").public_key_hex
    message = env.refused({"tx": unsigned(tx), "signers": [stranger]}, 403, "unenrolled_signer")
    assert stranger in message
    env.refused({"tx": unsigned(tx), "signers": [regulator_key.public_key_hex, stranger]},
                403, "unenrolled_signer")
    # a signed transaction of an outsider too
    env.refused({"tx": notary_tx(det_key("stranger"), "x").to_json()}, 403,
                "unenrolled_signer")
    # no signers at all, signers that do not agree, signers beside signatures
    env.refused({"tx": unsigned(tx)}, 400, "malformed_request")
    env.refused({"tx": {**unsigned(tx, keep_signers=True), "signatures": []},
                 "signers": [stranger]}, 400, "malformed_request")
    env.refused({"tx": tx.to_json(), "signers": [regulator_key.public_key_hex]}, 400,
                "malformed_request")
    for signers in ([], ["ab"] * 9, "ab", [1], None):
        env.refused({"tx": unsigned(tx), "signers": signers}, 400, "malformed_request")
    env.refused({"tx": unsigned(tx), "signers": ["not hex"]}, 400, "malformed_tx")
    env.refused({"tx": {**unsigned(tx), "extra": 1}, "signers": [regulator_key.public_key_hex]},
                400, "malformed_tx")
    env.refused({"tx": {"payload": 5}, "signers": [regulator_key.public_key_hex]}, 400,
                "malformed_tx")


# -- requests that cannot run --------------------------------------------------------------
def test_structural_errors_are_4xx_from_the_one_table(env: Env, regulator_key) -> None:
    tx = notary_tx(regulator_key, "deed-5")
    tampered = tx.to_json()
    tampered["payload"]["args"]["name"] = "deed-6"
    env.refused({"tx": tampered}, 422, "bad_signature")
    env.refused({"tx": notary_tx(regulator_key, "w", chain_id="fcl-other").to_json()}, 422,
                "wrong_chain")
    big = notary_tx(regulator_key, "big").to_json()
    big["payload"]["args"]["note"] = "x" * 70_000
    env.refused({"tx": big}, 413, "tx_too_large")
    env.refused(b'{"tx": ' + b" " * MAX_BODY_BYTES + b"}", 413, "request_too_large")
    env.refused(b"{not json", 400, "malformed_json")
    env.refused(b'{"tx": {}, "tx": {}}', 400, "malformed_json")
    floaty = tx.to_json()
    floaty["payload"]["args"]["name"] = 1.5
    assert "payload.args.name" in env.refused({"tx": floaty}, 400, "malformed_tx")
    for body in ({}, {"tx": tx.to_json(), "txs": [tx.to_json()]}, {"tx": 1, "other": 2}, [],
                 {"txs": []}, {"txs": {}}, {"txs": [tx.to_json()] * (MAX_DRY_RUN_TXS + 1)}):
        env.refused(body, 400, "malformed_request")
    env.refused({"tx": 7}, 400, "malformed_tx")


def test_replays_are_refused_as_admission_refuses_them(env: Env, regulator_key) -> None:
    done = notary_tx(regulator_key, "deed-7")
    env.submit_and_commit(done)
    assert "height 1" in env.refused({"tx": done.to_json()}, 409, "duplicate_tx")
    pending = notary_tx(regulator_key, "deed-8")
    assert env.client.post("/v1/txs", content=json.dumps(pending.to_json())).status_code == 202
    assert "pending" in env.refused({"tx": pending.to_json()}, 409, "duplicate_tx")
    # the same transaction twice in a batch
    other = notary_tx(regulator_key, "deed-9")
    assert "txs[1]" in env.refused({"txs": [other.to_json()] * 2}, 409, "duplicate_tx")


# -- batches -------------------------------------------------------------------------------
def test_a_batch_runs_in_order_on_one_overlay(env: Env, regulator_key) -> None:
    first = notary_tx(regulator_key, "deed-10", nonce="1")
    second = notary_tx(regulator_key, "deed-10", nonce="2")  # the same name: refused after
    third = notary_tx(regulator_key, "deed-11", nonce="3")
    sim = env.simulate({"txs": [first.to_json(), second.to_json(), third.to_json()]})
    assert sim["ok"] is False
    assert [r["index"] for r in sim["results"]] == [0, 1, 2]
    assert [r["code"] for r in sim["results"]] == ["ok", "already_recorded", "ok"]
    assert [r["tx_id"] for r in sim["results"]] == [first.tx_id, second.tx_id, third.tx_id]
    alone = env.simulate({"tx": first.to_json()})
    assert sim["writes"] == 2 * alone["writes"]
    # in the other order the second one wins
    swapped = env.simulate({"txs": [second.to_json(), first.to_json()]})
    assert [r["code"] for r in swapped["results"]] == ["ok", "already_recorded"]
    # a bad item refuses the whole batch, naming it
    bad = {"txs": [first.to_json(), {"payload": {}, "signatures": ["00"]}]}
    assert env.refused(bad, 400, "malformed_tx").startswith("txs[1]: ")
    # the real block records what the batch dry run said
    records = env.submit_and_commit(first, second, third)
    assert [r["result"] for r in records] == [r["result"] for r in sim["results"]]


def test_unsigned_batch_items_share_the_requests_signers(env: Env, regulator_key) -> None:
    txs = [notary_tx(regulator_key, f"u{i}") for i in range(3)]
    sim = env.simulate({"txs": [unsigned(tx) for tx in txs],
                        "signers": [regulator_key.public_key_hex]})
    assert sim["ok"] is True and [r["tx_id"] for r in sim["results"]] == [t.tx_id for t in txs]


def test_a_halted_node_still_answers_dry_runs(env: Env, regulator_key) -> None:
    env.node.halted = "test"
    assert env.simulate({"tx": notary_tx(regulator_key, "h").to_json()})["ok"] is True


@settings(max_examples=12, deadline=None, database=None)
@given(st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=6))
def test_property_a_batch_dry_run_is_what_the_block_commits(names: list[str]) -> None:
    """Any sequence of records (repeats fail): the dry run of the batch gives, item by
    item, the results the block with the same transactions records."""
    validator, regulator = det_key("validator-0"), det_key("regulator")
    genesis = make_genesis([(validator, 10)], regulator)
    env = Env(Store.in_memory(), genesis, validator)
    txs = [notary_tx(regulator, name, nonce=str(i)) for i, name in enumerate(names)]
    sim = env.simulate({"txs": [tx.to_json() for tx in txs]})
    records = env.submit_and_commit(*txs)
    assert [r["index"] for r in records] == list(range(len(txs)))
    assert [r["result"] for r in records] == [r["result"] for r in sim["results"]]
    assert sim["ok"] == (len(set(names)) == len(names))


# -- the pieces underneath -----------------------------------------------------------------
@pytest.mark.parametrize("backend", ["leveldb", "memory"])
def test_a_store_snapshot_reads_one_height(backend: str, genesis, validator_key, regulator_key,
                                           tmp_path: Path) -> None:
    store = Store(tmp_path / "db") if backend == "leveldb" else Store.in_memory(MemoryDB())
    env = Env(store, genesis, validator_key)
    try:
        view = store.snapshot()
        root, tip_hash = store.state_root(), store.latest_hash()
        env.submit_and_commit(notary_tx(regulator_key, "snap"))
        assert store.latest_height() == 1 and store.get("notary/snap") is not None
        assert (view.latest_height(), view.state_root(), view.latest_hash()) == (0, root, tip_hash)
        assert view.get("notary/snap") is None
        assert list(view.iter_prefix("notary/")) == []
        block, commit = store.get_block(1), store.get_commit(1)
        assert block is not None and commit is not None
        with pytest.raises(StoreError, match="read_only"):
            view.commit_block(block, commit, store.get_block_writes(1) or [],
                              block.header.state_root)
        assert view.latest_height() == 0
        with pytest.raises(StoreError, match="read_only"):
            view.snapshot()
        view.close()
    finally:
        store.close()


def test_a_memory_snapshot_never_sees_half_a_batch() -> None:
    db = MemoryDB()
    with db.write_batch(transaction=True) as wb:
        wb.put(b"a", b"0")
        wb.put(b"b", b"0")
    stop = threading.Event()
    seen: list[tuple[bytes | None, bytes | None]] = []

    def writer() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            with db.write_batch(transaction=True) as wb:
                wb.put(b"a", str(n).encode())
                wb.put(b"b", str(n).encode())

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for _ in range(2000):
            snap = db.snapshot()
            seen.append((snap.get(b"a"), snap.get(b"b")))
            assert [v for _, v in snap.iterator(prefix=b"")] == [snap.get(b"a"), snap.get(b"b")]
    finally:
        stop.set()
        thread.join()
    assert all(a == b for a, b in seen)


def test_dry_runs_share_the_verifiers_bounds() -> None:
    verifier = SignatureVerifier(workers=1, max_jobs=1, wait_s=0.05, max_waiting=0)
    release = threading.Event()

    async def scenario() -> None:
        held = asyncio.ensure_future(verifier.run(release.wait, 5))
        await asyncio.sleep(0.01)
        with pytest.raises(TxError) as err:
            await verifier.run(lambda: 1)
        assert err.value.code == "admission_busy"
        busy = await verifier.verify([notary_tx(det_key("regulator"), "v")])
        assert busy[0] is not None and busy[0].code == "admission_busy"
        release.set()
        assert await held is True
        assert await verifier.run(lambda x: x + 1, 1) == 2

    try:
        asyncio.run(scenario())
    finally:
        verifier.close()
    assert verifier.refused_jobs == 2


def test_the_route_is_in_the_openapi_document(env: Env) -> None:
    doc = env.client.get("/openapi.json").json()
    op = doc["paths"][URL]["post"]
    assert set(op["responses"]) >= {"200", "400", "403", "409", "413", "422", "503"}
    schema = op["requestBody"]["content"]["application/json"]["schema"]
    assert schema["properties"]["txs"]["maxItems"] == MAX_DRY_RUN_TXS
