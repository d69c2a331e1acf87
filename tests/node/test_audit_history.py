"""node.api.history (consistency and inclusion proofs over the history tree) and the audit
through a node's HTTP API (node.api.rpc + the history router, in process)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from fcl.audit.run import AuditError, Checkpoint, NodeSource, run_audit, verify_checkpoint
from ledger.genesis import Genesis
from ledger.merkle import merkle_root, verify_consistency, verify_inclusion
from ledger.store import Store
from node.api.history import create_history_router
from node.api.rpc import create_app
from node.api.service import Node
from node.txpool.mempool import Mempool
from tests.support.audit_chain import (
    AUDIT_CHAIN,
    BLOCKS,
    ChainBuilder,
    audit_genesis,
    build_chain,
    edit_block,
    standard_txs,
)


@pytest.fixture
def genesis() -> Genesis:
    return audit_genesis()


@pytest.fixture
def chain(tmp_path: Path, genesis: Genesis):
    c = build_chain(tmp_path / "data", genesis)
    yield c
    c.close()


def history_client(chain: ChainBuilder, *, own_tree: bool = False,
                   size: int | None = None) -> TestClient:
    api = FastAPI()
    api.include_router(create_history_router(
        lambda: chain.store,
        (lambda: None) if own_tree else (lambda: chain.app.history),
        get_size=None if size is None else (lambda: size),
    ))
    return TestClient(api)


def header_root(chain: ChainBuilder, size: int) -> bytes:
    """The root over blocks 1..size as the chain commits to it: header(size + 1).history_root
    (for the whole chain, which no header covers yet, the application's own tree)."""
    if size == chain.store.latest_height():
        return chain.app.history.root()
    return bytes.fromhex(chain.store.get_block(size + 1).header.history_root)


@pytest.mark.parametrize("own_tree", [False, True])
def test_every_consistency_proof_verifies_against_the_headers(chain, own_tree: bool) -> None:
    client = history_client(chain, own_tree=own_tree)
    hashes = chain.store.block_hashes()
    for new in range(0, BLOCKS + 1):
        for old in range(0, new + 1):
            resp = client.get(f"/v1/history/consistency?old_size={old}&new_size={new}")
            assert resp.status_code == 200, resp.text
            body = resp.json()
            assert set(body) == {"old_size", "new_size", "old_root", "new_root", "proof"}
            assert (body["old_size"], body["new_size"]) == (old, new)
            assert body["old_root"] == merkle_root(hashes[:old]).hex()
            assert body["new_root"] == merkle_root(hashes[:new]).hex()
            proof = [bytes.fromhex(p) for p in body["proof"]]
            new_root, old_root = header_root(chain, new), header_root(chain, old)
            assert body["old_root"] == old_root.hex() and body["new_root"] == new_root.hex()
            assert verify_consistency(old, new, old_root, new_root, proof)
            if 0 < old < new:  # a proof does not carry over to a forged old root
                assert not verify_consistency(old, new, bytes(32), new_root, proof)


@pytest.mark.parametrize("own_tree", [False, True])
def test_every_inclusion_proof_verifies(chain, own_tree: bool) -> None:
    client = history_client(chain, own_tree=own_tree)
    for size in range(1, BLOCKS + 1):
        for index in range(size):
            resp = client.get(f"/v1/history/inclusion?index={index}&size={size}")
            assert resp.status_code == 200, resp.text
            body = resp.json()
            assert body["height"] == index + 1 and body["size"] == size
            assert body["block_hash"] == chain.store.get_block_hash(index + 1)
            root = header_root(chain, size)
            assert body["root"] == root.hex()
            proof = [bytes.fromhex(p) for p in body["proof"]]
            assert verify_inclusion(bytes.fromhex(body["block_hash"]), index, size, proof, root)
            other = chain.store.get_block_hash(1 + (index + 1) % size)
            if size > 1:
                assert not verify_inclusion(bytes.fromhex(other), index, size, proof, root)


def test_own_tree_catches_up_with_new_blocks(chain) -> None:
    client = history_client(chain, own_tree=True)
    assert client.get(f"/v1/history/consistency?old_size=1&new_size={BLOCKS}").status_code == 200
    beyond = f"/v1/history/consistency?old_size=1&new_size={BLOCKS + 1}"
    assert client.get(beyond).json()["error"]["code"] == "beyond_chain"
    chain.add(standard_txs(BLOCKS + 1))
    body = client.get(beyond).json()
    assert body["new_root"] == chain.app.history_root()


BAD_QUERIES = [
    ("consistency?new_size=3", 400, "missing_parameter"),
    ("consistency?old_size=3", 400, "missing_parameter"),
    ("consistency", 400, "missing_parameter"),
    ("consistency?old_size=a&new_size=3", 400, "bad_number"),
    ("consistency?old_size=-1&new_size=3", 400, "bad_number"),
    ("consistency?old_size=1.5&new_size=3", 400, "bad_number"),
    ("consistency?old_size=1&new_size=", 400, "bad_number"),
    ("consistency?old_size=1&new_size=1234567890123456789", 400, "bad_number"),
    ("consistency?old_size=%201&new_size=3", 400, "bad_number"),
    ("consistency?old_size=4&new_size=3", 400, "bad_range"),
    (f"consistency?old_size=1&new_size={BLOCKS + 1}", 404, "beyond_chain"),
    ("consistency?old_size=1&new_size=999999999999999999", 404, "beyond_chain"),
    ("inclusion?size=3", 400, "missing_parameter"),
    ("inclusion?index=0", 400, "missing_parameter"),
    ("inclusion?index=x&size=3", 400, "bad_number"),
    ("inclusion?index=0&size=+3", 400, "bad_number"),
    ("inclusion?index=3&size=3", 400, "bad_range"),
    ("inclusion?index=0&size=0", 400, "bad_range"),
    (f"inclusion?index=0&size={BLOCKS + 1}", 404, "beyond_chain"),
]


@pytest.mark.parametrize(("query", "status", "code"), BAD_QUERIES)
def test_bad_queries_are_refused_with_stable_codes(chain, query: str, status: int,
                                                   code: str) -> None:
    before = (chain.store.latest_height(), chain.app.history.size)
    resp = history_client(chain).get(f"/v1/history/{query}")
    assert resp.status_code == status, resp.text
    err = resp.json()["error"]
    assert set(resp.json()) == {"error"} and err["code"] == code and err["message"]
    assert (chain.store.latest_height(), chain.app.history.size) == before


def test_get_size_bounds_what_is_served(chain) -> None:
    client = history_client(chain, size=5)
    assert client.get("/v1/history/consistency?old_size=1&new_size=5").status_code == 200
    resp = client.get("/v1/history/consistency?old_size=1&new_size=6")
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "beyond_chain"
    resp = client.get("/v1/history/inclusion?index=0&size=6")
    assert resp.status_code == 404


# -- the audit through the node's HTTP API ---------------------------------------------------


def node_client(chain: ChainBuilder, genesis: Genesis, *, with_history: bool = True) -> TestClient:
    node = Node(moniker="audit-node", genesis=genesis, store=chain.store, app=chain.app,
                mempool=Mempool())
    api = create_app(node)
    if with_history:
        api.include_router(create_history_router(
            lambda: node.store, lambda: node.app.history, get_size=lambda: node.app.height))
    return TestClient(api, raise_server_exceptions=False)


@pytest.mark.parametrize("prefetch", [0, 3])
def test_full_audit_over_http_matches_the_store(chain, genesis: Genesis, prefetch: int) -> None:
    client = node_client(chain, genesis)
    source = NodeSource("http://testserver", client=client, prefetch=prefetch)
    report = run_audit(source, genesis)
    assert report.ok, report.discrepancy
    assert report.final_height == BLOCKS
    assert report.final_state_root == chain.store.state_root()
    assert report.history_root == chain.app.history_root()
    assert report.source == "node http://testserver"


def test_tampered_block_over_http_is_found(tmp_path: Path, genesis: Genesis) -> None:
    build_chain(tmp_path / "data", genesis).close()
    edit_block(tmp_path / "data", 5, lambda b: b["results"][1].update(code="nope"))
    with Store(tmp_path / "data") as store:
        from chaincode.executor import Executor
        from node.chain.app import Application

        app = Application(store, Executor(), genesis)
        node = Node(moniker="n", genesis=genesis, store=store, app=app, mempool=Mempool())
        source = NodeSource("http://testserver", client=TestClient(create_app(node)), prefetch=2)
        report = run_audit(source, genesis)
    assert (report.discrepancy.height, report.discrepancy.check) == (5, "bad_results_root")
    assert report.final_height == 4


def test_checkpoint_over_http(tmp_path: Path, genesis: Genesis) -> None:
    chain = build_chain(tmp_path / "data", genesis, blocks=3)
    client = node_client(chain, genesis)
    checkpoint = run_audit(NodeSource("http://testserver", client=client), genesis).checkpoint()
    assert checkpoint.height == 3
    for height in range(4, BLOCKS + 1):
        chain.add(standard_txs(height))
    source = NodeSource("http://testserver", client=client)
    report = verify_checkpoint(source, genesis, checkpoint)
    assert report.ok, report.discrepancy
    assert report.latest_height == BLOCKS and report.validator_set_source == "checkpoint"
    # the root over blocks 1..BLOCKS, established from header BLOCKS and block BLOCKS
    assert report.history_root == run_audit(
        NodeSource("http://testserver", client=client), genesis).history_root
    assert report.new_checkpoint.height == BLOCKS
    forged = Checkpoint(3, "ee" * 32)
    report = verify_checkpoint(source, genesis, forged)
    assert report.discrepancy.check == "checkpoint_root"
    # a node without the history routes: a clear error, no false verdict
    bare = NodeSource("http://testserver", client=node_client(chain, genesis, with_history=False))
    with pytest.raises(AuditError) as err:
        verify_checkpoint(bare, genesis, checkpoint)
    assert err.value.code == "history_unsupported"
    chain.close()


def test_a_node_for_another_chain_is_refused(chain, genesis: Genesis) -> None:
    doc = json.loads(json.dumps(genesis.doc))
    doc["chain_id"] = AUDIT_CHAIN + "-other"
    other = Genesis.from_json(doc)
    report = run_audit(NodeSource("http://testserver", client=node_client(chain, genesis)), other)
    assert (report.discrepancy.height, report.discrepancy.check) == (0, "genesis")


class BrokenTransport(httpx.BaseTransport):
    """Answers per path, to simulate misbehaving nodes; other paths go to a real node
    through ``fallback`` (a TestClient, which runs on httpx2: its answer is copied into
    an httpx response)."""

    def __init__(self, answers: dict[str, httpx.Response], fallback: TestClient):
        self.answers = answers
        self.fallback = fallback
        self.calls = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        answer = self.answers.get(request.url.path)
        if answer is None:
            got = self.fallback.request(
                request.method, request.url.raw_path.decode("ascii"), content=request.read()
            )
            return httpx.Response(got.status_code, content=got.content,
                                  headers={"content-type": got.headers.get("content-type", "")})
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_misbehaving_nodes_give_clear_errors_or_discrepancies(chain, genesis: Genesis) -> None:
    inner = node_client(chain, genesis)

    def source(answers: dict) -> NodeSource:
        client = httpx.Client(base_url="http://n", transport=BrokenTransport(answers, inner))
        return NodeSource("http://n", client=client, prefetch=0, retries=1)

    not_json = httpx.Response(200, content=b"<html>")
    with pytest.raises(AuditError) as err:
        run_audit(source({"/v1/status": not_json}), genesis)
    assert err.value.code == "bad_response"
    with pytest.raises(AuditError) as err:
        run_audit(source({"/v1/status": httpx.Response(500, json={"error": {
            "code": "internal_error", "message": "boom"}})}), genesis)
    assert err.value.code == "node_error" and "internal_error" in err.value.message
    with pytest.raises(AuditError) as err:
        run_audit(source({"/v1/blocks/2": httpx.ConnectError("refused")}), genesis)
    assert err.value.code == "node_unreachable"
    with pytest.raises(AuditError) as err:
        run_audit(source({"/v1/blocks/2": httpx.ReadTimeout("slow")}), genesis)
    assert err.value.code == "node_timeout"
    report = run_audit(source({"/v1/blocks/3": httpx.Response(404, json={"error": {
        "code": "unknown_block", "message": "no"}})}), genesis)
    assert (report.discrepancy.height, report.discrepancy.check) == (3, "block_missing")
    report = run_audit(source({"/v1/blocks/3": httpx.Response(200, content=b"{1")}), genesis)
    assert (report.discrepancy.height, report.discrepancy.check) == (3, "block_format")
    report = run_audit(source({"/v1/blocks/3": httpx.Response(200, json={"block": 1})}), genesis)
    assert (report.discrepancy.height, report.discrepancy.check) == (3, "block_format")
    good = inner.get("/v1/blocks/4").json()
    report = run_audit(source({"/v1/blocks/4": httpx.Response(200, json=dict(good, hash="ab" * 32))}),
                       genesis)
    assert (report.discrepancy.height, report.discrepancy.check) == (4, "block_hash")
    bad_proof = httpx.Response(200, json={"old_size": 3, "new_size": BLOCKS - 1,
                                          "old_root": "zz", "new_root": "aa", "proof": []})
    with pytest.raises(AuditError) as err:
        verify_checkpoint(source({"/v1/history/consistency": bad_proof}), genesis,
                          Checkpoint(3, "aa" * 32))
    assert err.value.code == "bad_response"


def test_unreachable_node_and_bad_urls(genesis: Genesis) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    source = NodeSource(f"http://127.0.0.1:{port}", timeout_s=2, retries=0)
    with pytest.raises(AuditError) as err:
        run_audit(source, genesis)
    assert err.value.code == "node_unreachable" and str(port) in err.value.message
    source.close()
    for url in ("127.0.0.1:1234", "ftp://x", ""):
        with pytest.raises(AuditError) as err:
            NodeSource(url)
        assert err.value.code == "bad_source"
