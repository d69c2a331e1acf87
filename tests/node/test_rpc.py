"""node.api.rpc through FastAPI's TestClient: the happy path and every bad input, each of
which must leave the store and the mempool unchanged."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from chaincode.executor import Executor
from ledger.crypto import PrivateKey
from ledger.genesis import Genesis
from ledger.store import Store
from ledger.tx import MAX_TX_BYTES
from node.api.rpc import MAX_BODY_BYTES, create_app
from node.api.service import Node
from node.chain.app import Application
from node.driver.solo import SoloDriver
from node.txpool.mempool import Mempool
from tests.support.common import count_verifications, det_key, notary_tx


class Env:
    def __init__(self, path: Path, genesis: Genesis, key: PrivateKey, max_txs: int = 100):
        self.store = Store(path)
        self.mempool = Mempool(max_txs=max_txs)
        self.app = Application(self.store, Executor(), genesis, verified=self.mempool.verified)
        self.driver = SoloDriver(self.app, self.mempool, key)
        self.node = Node(
            moniker="test-node", genesis=genesis, store=self.store, app=self.app,
            mempool=self.mempool, on_admit=self.driver.notify,
        )
        self.client = TestClient(create_app(self.node), raise_server_exceptions=False)

    def state(self) -> tuple:
        return (
            self.store.latest_height(),
            self.store.state_root(),
            [tx.tx_id for tx in self.mempool.reap(10**6, 10**12)],
            self.mempool.size_bytes,
        )


@pytest.fixture
def env(tmp_path: Path, genesis: Genesis, validator_key: PrivateKey):
    e = Env(tmp_path / "db", genesis, validator_key)
    yield e
    e.store.close()


def body_of(tx) -> bytes:
    return json.dumps(tx.to_json()).encode()


def refused(env: Env, method: str, url: str, status: int, code: str, **kw) -> dict:
    before = env.state()
    resp = env.client.request(method, url, **kw)
    assert resp.status_code == status, resp.text
    err = resp.json()["error"]
    assert err["code"] == code and isinstance(err["message"], str) and err["message"]
    assert set(resp.json()) == {"error"} and set(err) == {"code", "message"}
    assert env.state() == before
    return err


def test_happy_path_submit_commit_read_back(env: Env, regulator_key) -> None:
    tx = notary_tx(regulator_key, "happy")
    resp = env.client.post("/v1/txs", content=body_of(tx))
    assert resp.status_code == 202
    assert resp.json() == {"status": "pending", "tx_id": tx.tx_id}
    pending = env.client.get(f"/v1/txs/{tx.tx_id}").json()
    assert pending["status"] == "pending" and pending["height"] is None
    assert pending["tx"] == tx.to_json()

    block = env.driver.step()
    assert block is not None
    record = env.client.get(f"/v1/txs/{tx.tx_id}").json()
    assert record["status"] == "committed"
    assert (record["height"], record["index"]) == (1, 0)
    assert record["result"]["code"] == "ok" and record["result"]["tx_id"] == tx.tx_id
    assert record["tx"] == tx.to_json()
    assert env.client.get(f"/v1/txs/{tx.tx_id.upper()}").json() == record

    got = env.client.get("/v1/blocks/1")
    assert got.status_code == 200 and got.headers["content-type"] == "application/json"
    data = got.json()
    assert data["height"] == 1 and data["hash"] == block.hash()
    assert data["block"] == block.to_json()
    assert data["commit"]["block_hash"] == block.hash()
    assert len(data["commit"]["signatures"]) == 1
    assert env.client.get("/v1/blocks/latest").json() == data

    status = env.client.get("/v1/status").json()
    assert status["chain_id"] == env.node.chain_id and status["node"] == "test-node"
    assert status["height"] == 1 and status["latest_block_hash"] == block.hash()
    assert status["latest_block_time"] == block.header.time
    assert status["state_root"] == block.header.state_root
    assert status["validators"] == env.app.tip.validators.to_json()
    assert status["mempool"] == {"txs": 0, "bytes": 0}
    assert env.client.get("/healthz").json() == {"status": "ok", "height": 1}


def test_batch_gives_one_outcome_per_transaction(env: Env, regulator_key) -> None:
    good = [notary_tx(regulator_key, f"b{i}") for i in range(2)]
    wrong = notary_tx(regulator_key, "w", chain_id="fcl-elsewhere")
    items = [good[0].to_json(), wrong.to_json(), good[1].to_json(), good[0].to_json(),
             {"payload": dict(good[0].to_json()["payload"], args={"x": 0.5}), "signatures": []}]
    raw = json.dumps({"txs": items}).encode()
    resp = env.client.post("/v1/txs/batch", content=raw)
    assert resp.status_code == 200
    results = resp.json()["results"]
    assert [r["ok"] for r in results] == [True, False, True, False, False]
    assert [r["index"] for r in results] == [0, 1, 2, 3, 4]
    assert results[0]["tx_id"] == good[0].tx_id
    assert results[1]["error"]["code"] == "wrong_chain"
    assert results[3]["error"]["code"] == "duplicate_tx"
    assert results[4]["error"]["code"] == "malformed_tx"
    assert "payload.args.x" in results[4]["error"]["message"]
    assert [tx.tx_id for tx in env.mempool.reap(10, 10**9)] == [good[0].tx_id, good[1].tx_id]


def test_bad_batches(env: Env, regulator_key) -> None:
    tx = notary_tx(regulator_key, "bb").to_json()
    refused(env, "POST", "/v1/txs/batch", 400, "malformed_json", content=b"{")
    refused(env, "POST", "/v1/txs/batch", 400, "malformed_request", content=b"[]")
    refused(env, "POST", "/v1/txs/batch", 400, "malformed_request", content=b'{"txs": []}')
    refused(env, "POST", "/v1/txs/batch", 400, "malformed_request",
            content=json.dumps({"txs": [tx], "more": 1}).encode())
    refused(env, "POST", "/v1/txs/batch", 400, "malformed_request",
            content=json.dumps({"txs": [tx] * 1001}).encode())
    refused(env, "POST", "/v1/txs/batch", 413, "request_too_large",
            content=b" " * (MAX_BODY_BYTES + 1))


def test_oversized_bodies(env: Env, regulator_key) -> None:
    refused(env, "POST", "/v1/txs", 413, "tx_too_large", content=b"x" * (MAX_BODY_BYTES + 10))
    # no Content-Length (chunked): counted while reading
    chunks = (b"x" * 65536 for _ in range(40))
    refused(env, "POST", "/v1/txs", 413, "tx_too_large", content=chunks)
    # declared length over the limit, refused before reading
    refused(env, "POST", "/v1/txs", 413, "tx_too_large", content=b"{}",
            headers={"content-length": str(MAX_BODY_BYTES + 1)})
    # a well-formed transaction whose canonical form is over 64 KiB
    tx = notary_tx(regulator_key, "big").to_json()
    tx["payload"]["args"]["note"] = "n" * MAX_TX_BYTES
    refused(env, "POST", "/v1/txs", 413, "tx_too_large", content=json.dumps(tx).encode())


def test_bad_transactions(env: Env, regulator_key) -> None:
    tx = notary_tx(regulator_key, "bad")
    good = tx.to_json()
    refused(env, "POST", "/v1/txs", 400, "malformed_json", content=b"{\"payload\": ")
    refused(env, "POST", "/v1/txs", 400, "malformed_json", content=b"")
    with_float = {"payload": dict(good["payload"], args={"name": "f", "sha256": "00" * 32,
                                                         "amount": 12.5}),
                  "signatures": good["signatures"]}
    err = refused(env, "POST", "/v1/txs", 400, "malformed_tx",
                  content=json.dumps(with_float).encode())
    assert "payload.args.amount" in err["message"]
    refused(env, "POST", "/v1/txs", 400, "malformed_tx", content=b'{"payload": {}}')
    refused(env, "POST", "/v1/txs", 422, "wrong_chain",
            content=body_of(notary_tx(regulator_key, "bad", chain_id="fcl-elsewhere")))
    forged = {"payload": good["payload"], "signatures": ["22" * 64]}
    refused(env, "POST", "/v1/txs", 422, "bad_signature", content=json.dumps(forged).encode())
    other_signer = {"payload": good["payload"],
                    "signatures": [det_key("x").sign_hex(tx.payload_bytes)]}
    refused(env, "POST", "/v1/txs", 422, "bad_signature",
            content=json.dumps(other_signer).encode())


def test_replays(env: Env, regulator_key) -> None:
    tx = notary_tx(regulator_key, "again")
    assert env.client.post("/v1/txs", content=body_of(tx)).status_code == 202
    refused(env, "POST", "/v1/txs", 409, "duplicate_tx", content=body_of(tx))
    env.driver.step()
    err = refused(env, "POST", "/v1/txs", 409, "duplicate_tx", content=body_of(tx))
    assert "committed" in err["message"]
    # the same payload with different signature bytes is the same transaction id
    forged = {"payload": tx.to_json()["payload"], "signatures": ["33" * 64]}
    refused(env, "POST", "/v1/txs", 409, "duplicate_tx", content=json.dumps(forged).encode())


def test_full_mempool(tmp_path: Path, genesis, validator_key, regulator_key) -> None:
    e = Env(tmp_path / "db", genesis, validator_key, max_txs=1)
    try:
        assert e.client.post("/v1/txs", content=body_of(notary_tx(regulator_key, "1"))).status_code == 202
        refused(e, "POST", "/v1/txs", 503, "mempool_full",
                content=body_of(notary_tx(regulator_key, "2")))
    finally:
        e.store.close()


def test_bad_lookups(env: Env, regulator_key) -> None:
    refused(env, "GET", "/v1/txs/" + "ab" * 32, 404, "unknown_tx")
    for bad in ("abc", "zz" * 32, "ab" * 33, "ab" * 32 + "%0A"):
        refused(env, "GET", f"/v1/txs/{bad}", 400, "bad_tx_id")
    refused(env, "GET", "/v1/blocks/latest", 404, "unknown_block")
    for bad in ("abc", "0", "-1", "1.5", "1e3", "9" * 30, "1%0A", "%201"):
        refused(env, "GET", f"/v1/blocks/{bad}", 400, "bad_height")
    refused(env, "GET", "/v1/blocks/1", 404, "unknown_block")
    env.client.post("/v1/txs", content=body_of(notary_tx(regulator_key, "one")))
    env.driver.step()
    assert env.client.get("/v1/blocks/1").status_code == 200
    refused(env, "GET", "/v1/blocks/2", 404, "unknown_block")


def test_framework_errors_have_the_same_shape(env: Env) -> None:
    refused(env, "GET", "/v1/nothing-here", 404, "not_found")
    refused(env, "DELETE", "/v1/txs", 405, "method_not_allowed")
    refused(env, "POST", "/v1/txs", 400, "bad_request", content=b"{}",
            headers={"content-length": "abc"})


def test_a_halted_node_reports_it_and_takes_no_transactions(env: Env, regulator_key) -> None:
    env.node.halted = "disk full"
    refused(env, "GET", "/healthz", 503, "halted")
    tx = notary_tx(regulator_key, "late")
    refused(env, "POST", "/v1/txs", 503, "halted", content=body_of(tx))
    refused(env, "POST", "/v1/txs/batch", 503, "halted",
            content=json.dumps({"txs": [tx.to_json()]}).encode())


def test_openapi_document_is_served(env: Env) -> None:
    doc = env.client.get("/openapi.json").json()
    assert {"/v1/txs", "/v1/txs/batch", "/v1/txs/{tx_id}", "/v1/blocks/{height}",
            "/v1/blocks/latest", "/v1/status", "/healthz"} <= set(doc["paths"])


def asgi_post(app, path: str, content_length: bytes, body: bytes) -> int:
    """POST through raw ASGI (header bytes no HTTP client sends); the status answered."""
    import asyncio

    messages: list[dict] = []
    sent = False

    async def receive() -> dict:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict) -> None:
        messages.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(),
             "query_string": b"", "root_path": "", "client": ("127.0.0.1", 1),
             "server": ("testserver", 80),
             "headers": [(b"content-length", content_length),
                         (b"content-type", b"application/json")]}
    asyncio.run(app(scope, receive, send))
    return next(m["status"] for m in messages if m["type"] == "http.response.start")


def test_content_length_must_be_ascii_digits(env: Env) -> None:
    from node.api.rpc import create_app

    app = create_app(env.node)
    for path in ("/v1/txs", "/v1/txs/batch"):
        for declared in ("²", "¹"):  # str.isdigit() is true for these; int() is not
            before = env.state()
            assert asgi_post(app, path, declared.encode("latin-1"), b"{}") == 400
            assert env.state() == before


def test_lone_surrogate_keys_are_refused_with_an_encodable_message(
    env: Env, regulator_key
) -> None:
    good = notary_tx(regulator_key, "sur").to_json()
    text = json.dumps({"payload": dict(good["payload"], args={"x": 1}),
                       "signatures": good["signatures"]})
    text = text.replace('"x"', '"\\ud800"')
    err = refused(env, "POST", "/v1/txs", 400, "malformed_tx", content=text.encode())
    assert "\\ud800" in err["message"]
    resp = env.client.post("/v1/txs/batch", content=('{"txs": [' + text + "]}").encode())
    assert resp.status_code == 200
    result = resp.json()["results"][0]
    assert result["ok"] is False and result["error"]["code"] == "malformed_tx"


def test_metrics_route_and_optional_routers(env: Env, regulator_key) -> None:
    from fcl.main import api_routers
    from node.api.rpc import create_app, node_routers
    from node.ops.metrics import Registry

    plain = env.client.get("/metrics")
    assert plain.status_code == 200 and plain.headers["content-type"].startswith("text/plain")
    env.node.metrics = Registry()
    env.node.metrics.counter("fcl_probe_total", "probe").inc(3)
    assert "fcl_probe_total 3" in env.client.get("/metrics").text
    routers = node_routers(env.node)
    assert routers, "node.api.certificates / node.api.history are installed in this tree"
    client = TestClient(create_app(env.node, routers=api_routers(env.node)),
                        raise_server_exceptions=False)
    resp = client.get("/v1/certificates/no-such-retirement")
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "unknown_retirement"
    env.client.post("/v1/txs", content=body_of(notary_tx(regulator_key, "hist")))
    env.driver.step()
    history = client.get("/v1/history/inclusion?index=0&size=1")
    assert history.status_code == 200 and history.json()["height"] == 1
    assert client.get("/v1/explorer/dashboard").status_code == 200
    assert client.get("/explorer").status_code in (200, 307)


_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30).map(
    lambda s: unicodedata.normalize("NFC", s))  # what canonical JSON accepts


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(_TEXT, _TEXT), min_size=1, max_size=8))
def test_a_transaction_is_cut_out_of_the_stored_block_exactly(items) -> None:
    """``ledger.block.stored_block_element`` finds element i of ``txs`` and ``results`` in canonical block
    bytes without decoding the block -- also when strings hold quotes, brackets, commas,
    the markers themselves or any Unicode."""
    from ledger.block import stored_block_element as block_element
    from ledger.encoding import canonical

    txs = [{"payload": {"args": {"name": a, "note": f',"txs":[{b}'}}, "signatures": [b]}
           for a, b in items]
    results = [{"code": "ok", "message": f'],"results":["{a}', "tx_id": str(i)}
               for i, (a, _) in enumerate(items)]
    raw = canonical({"header": {"chain_id": "x", "note": ',"txs":[1]'}, "results": results,
                     "txs": txs})
    for i in range(len(items)):
        assert block_element(raw, "txs", i) == canonical(txs[i])
        assert block_element(raw, "results", i) == canonical(results[i])


def test_an_unenrolled_signer_is_refused_by_every_path_and_counted(
    tmp_path: Path, genesis: Genesis, validator_key: PrivateKey, regulator_key: PrivateKey,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from node.ops.metrics import Registry

    registry = Registry()
    e = Env(tmp_path / "m", genesis, validator_key)
    e.node = Node(moniker="test-node", genesis=genesis, store=e.store, app=e.app,
                  mempool=e.mempool, metrics=registry)
    e.client = TestClient(create_app(e.node), raise_server_exceptions=False)
    verified = count_verifications(monkeypatch)
    try:
        stranger = det_key("rpc-stranger")
        err = refused(e, "POST", "/v1/txs", 403, "unenrolled_signer",
                      content=body_of(notary_tx(stranger, "one")))
        assert stranger.public_key_hex in err["message"]
        before = e.state()
        resp = e.client.post("/v1/txs/batch", json={"txs": [
            notary_tx(stranger, "two").to_json(), notary_tx(regulator_key, "member").to_json()]})
        assert resp.status_code == 200
        outcomes = resp.json()["results"]
        assert outcomes[0]["error"]["code"] == "unenrolled_signer" and outcomes[1]["ok"]
        assert len(e.mempool) == len(before[2]) + 1
        # a peer's gossip goes through the same admission
        gossip = e.node.submit_many([notary_tx(stranger, "three").to_json()], source="peer")
        assert gossip[0]["error"]["code"] == "unenrolled_signer"
        assert verified == [notary_tx(regulator_key, "member").tx_id]
        text = registry.render()
        assert 'fcl_txs_refused_total{code="unenrolled_signer"} 3' in text
        # the OpenAPI document lists the new codes for POST /v1/txs
        doc = e.client.get("/openapi.json").json()
        responses = doc["paths"]["/v1/txs"]["post"]["responses"]
        assert "unenrolled_signer" in responses["403"]["description"]
        assert "org_quota_exceeded" in responses["429"]["description"]
    finally:
        e.store.close()
