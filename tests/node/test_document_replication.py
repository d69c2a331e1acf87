"""Document replication (docs/documents.md, "Replication"): a node fetches the documents
its ledger references, and those a GET misses, from its document peers, and keeps only
bytes whose SHA-256 is the hash asked for. Two in-process nodes: the peer's API is served
to the fetcher through ``httpx.ASGITransport``."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from ledger.crypto import sha256_hex
from ledger.store import Store
from ledger.tx import build_transaction
from node.api.documents import DocumentStore, create_documents_router
from node.api.replication import DocumentFetcher
from node.api.rpc import create_app, node_routers
from node.driver.solo import SoloDriver
from node.home import NodeConfig
from node.runtime import NodeRuntime
from tests.support.carbon_registry import Flow, small_ring
from tests.support.documents import CHAIN_ID, FARM_A, PDF, PNG, Env, det_key, doc_genesis

PEER = "http://peer-a.test"
OTHER = "http://peer-b.test"


class Pair:
    """Node A holds documents; node B fetches from A (and optionally from a second peer)."""

    def __init__(self, root: Path, extra: dict[str, httpx.AsyncBaseTransport] | None = None,
                 **fetcher_options: object) -> None:
        self.a = Env(root / "a")
        self.b = Env(root / "b")
        routes: dict[str, httpx.AsyncBaseTransport] = {
            PEER: httpx.ASGITransport(app=self.a.client.app)}
        routes.update(extra or {})
        self.requests: list[httpx.Request] = []

        async def route(request: httpx.Request) -> httpx.Response:
            self.requests.append(request)
            base = f"{request.url.scheme}://{request.url.host}"
            return await routes[base].handle_async_request(request)

        self.t = 0.0
        self.fetcher = DocumentFetcher(
            self.b.documents, lambda: self.b.store, [*(extra or {}), PEER],
            max_bytes=4096, transport=httpx.MockTransport(route), clock=lambda: self.t,
            wall_ms=lambda: 7, **fetcher_options)  # type: ignore[arg-type]
        router = create_documents_router(self.b.documents, lambda: self.b.store, CHAIN_ID,
                                         fetch_missing=self.fetcher.fetch_now,
                                         clock_ms=lambda: self.b.now)
        self.b_client = TestClient(create_app(self.b.node, routers=[router]),
                                   raise_server_exceptions=False)

    def run(self, coro: object) -> object:
        async def main() -> object:
            try:
                return await coro  # type: ignore[misc]
            finally:
                if self.fetcher._client is not None:
                    await self.fetcher._client.aclose()
                    self.fetcher._client = None
        return asyncio.run(main())


def _bad_peer(body: bytes, status: int = 200, media_type: str = "application/pdf"
              ) -> httpx.AsyncBaseTransport:
    async def serve(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body, headers={"content-type": media_type})
    return httpx.MockTransport(serve)


def test_a_missing_document_is_fetched_from_a_peer_and_verified(tmp_path: Path) -> None:
    pair = Pair(tmp_path)
    pair.a.upload(FARM_A, PDF)
    digest = sha256_hex(PDF)
    assert digest not in pair.b.documents
    assert pair.run(pair.fetcher.fetch(digest)) == "stored"
    assert pair.b.documents.read(digest) == PDF
    meta = pair.b.documents.get(digest)
    assert meta is not None and meta.source == "peer" and meta.uploader_org == "farm-a"
    assert meta.media_type == "application/pdf" and meta.uploader_key is None
    assert pair.b.documents.usage("farm-a") == 0  # replicas are charged to nobody
    # a replication request tells the peer not to fetch in its turn
    assert all(r.headers.get("x-fcl-no-fetch") == "1" for r in pair.requests)
    assert pair.b.get(digest).content == PDF


def test_a_peer_serving_wrong_bytes_is_refused_and_the_next_peer_asked(tmp_path: Path) -> None:
    digest = sha256_hex(PDF)
    forged = PDF.replace(b"XN-SF-01", b"XN-SF-99")
    pair = Pair(tmp_path, extra={OTHER: _bad_peer(forged)})
    assert pair.run(pair.fetcher.fetch(digest)) == "not_found"  # A lacks it too
    assert digest not in pair.b.documents
    assert pair.fetcher.counts["hash_mismatch"] == 1
    pair.a.upload(FARM_A, PDF)
    assert pair.run(pair.fetcher.fetch(digest)) == "stored"
    assert pair.fetcher.counts["hash_mismatch"] == 2
    assert pair.b.documents.read(digest) == PDF


@pytest.mark.parametrize(("body", "status", "media_type", "outcome"), [
    (b"x" * 5000, 200, "application/pdf", "bad_answer"),  # over the size limit
    (PDF, 200, "text/html", "bad_answer"),  # a type the store does not take
    (PDF, 500, "application/json", "bad_answer"),
])
def test_bad_answers_store_nothing(tmp_path: Path, body: bytes, status: int, media_type: str,
                                   outcome: str) -> None:
    pair = Pair(tmp_path, extra={OTHER: _bad_peer(body, status, media_type)})
    digest = sha256_hex(body)
    assert pair.run(pair.fetcher.fetch(digest)) == "not_found"
    assert pair.fetcher.counts[outcome] == 1 and len(pair.b.documents) == 0


def test_a_get_that_misses_fetches_on_demand(tmp_path: Path) -> None:
    pair = Pair(tmp_path)
    pair.a.upload(FARM_A, PNG, "image/png")
    digest = sha256_hex(PNG)
    resp = pair.b_client.get(f"/v1/documents/{digest}")
    assert resp.status_code == 200 and resp.content == PNG
    assert resp.headers["content-type"] == "image/png"
    # a peer's own request does not trigger a fetch (no loops between nodes)
    other = sha256_hex(b"absent")
    resp = pair.b_client.get(f"/v1/documents/{other}", headers={"x-fcl-no-fetch": "1"})
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "unknown_document"
    assert not any(other in str(r.url) for r in pair.requests)
    resp = pair.b_client.get(f"/v1/documents/{other}")
    assert resp.status_code == 404 and any(other in str(r.url) for r in pair.requests)


def test_restricted_documents_are_not_replicated(tmp_path: Path) -> None:
    pair = Pair(tmp_path)
    pair.a.upload(FARM_A, PDF, restricted=True)
    digest = sha256_hex(PDF)
    assert pair.run(pair.fetcher.fetch(digest)) == "restricted"
    assert digest not in pair.b.documents
    assert pair.b_client.get(f"/v1/documents/{digest}").status_code == 404


def _plot_naming(digest: str, plot_id: str) -> dict[str, Any]:
    """A carbon ``register_plot`` whose land-tenure scan and non-forest evidence are both the
    document ``digest`` (so it names that one document)."""
    args = Flow.plot_args(plot_id, small_ring(len(plot_id)))
    args["tenure"] = dict(args["tenure"], scan_sha256=digest)
    args["non_forest_evidence"] = dict(args["non_forest_evidence"], sha256=digest)
    return args


def _commit_reference(pair: Pair, digest: str, name: str, contract: str = "carbon") -> None:
    if contract == "carbon":
        tx = build_transaction(chain_id=CHAIN_ID, contract="carbon", method="register_plot",
                               args=_plot_naming(digest, name.upper()), nonce=name,
                               keys=[FARM_A])
    else:
        tx = build_transaction(chain_id=CHAIN_ID, contract="notary", method="record",
                               args={"name": name, "sha256": digest}, nonce=name,
                               keys=[FARM_A])
    driver = SoloDriver(pair.b.app, pair.b.node.mempool, det_key("doc-val"))
    assert pair.b.client.post("/v1/txs", content=json.dumps(tx.to_json())).status_code == 202
    block = driver.step()
    assert block is not None and block.results[0]["code"] == "ok", block.results


def test_hashes_committed_on_the_ledger_are_queued_and_fetched(tmp_path: Path) -> None:
    pair = Pair(tmp_path)
    pair.a.upload(FARM_A, PDF)
    digest = sha256_hex(PDF)
    _commit_reference(pair, digest, "pdd-1")
    assert pair.run(pair.fetcher.step()) == 1
    assert pair.b.documents.read(digest) == PDF
    assert pair.fetcher.scanned == pair.b.store.latest_height() and not pair.fetcher.queue
    assert pair.run(pair.fetcher.step()) == 0  # nothing new


def test_only_the_carbon_contracts_hashes_are_fetched_ahead(tmp_path: Path) -> None:
    """A notary record's hash is a bare hash: the fetcher does not chase it (a chain of
    notary records costs it nothing, not even parsing their blocks); a GET still fetches
    it on demand."""
    pair = Pair(tmp_path)
    pair.a.upload(FARM_A, PDF)
    digest = sha256_hex(PDF)
    _commit_reference(pair, digest, "minutes-1", contract="notary")
    assert pair.fetcher.scan_blocks() == []
    assert pair.fetcher.scanned == pair.b.store.latest_height()
    assert digest not in pair.b.documents
    assert pair.b_client.get(f"/v1/documents/{digest}").status_code == 200  # on demand


def test_a_document_no_peer_has_is_retried_with_backoff_then_dropped(tmp_path: Path) -> None:
    pair = Pair(tmp_path, max_attempts=3, base_backoff_s=2.0)
    digest = sha256_hex(PDF)
    _commit_reference(pair, digest, "pdd-2")
    assert pair.run(pair.fetcher.step()) == 1
    assert pair.fetcher.queue[digest].attempts == 1 and pair.fetcher.queue[digest].due == 2.0
    assert pair.run(pair.fetcher.step()) == 0  # not due yet
    pair.t = 2.0
    assert pair.run(pair.fetcher.step()) == 1
    assert pair.fetcher.queue[digest].due == 6.0  # 2 s, then 4 s
    pair.a.upload(FARM_A, PDF)  # the peer gets it meanwhile
    pair.t = 6.0
    assert pair.run(pair.fetcher.step()) == 1
    assert digest in pair.b.documents and not pair.fetcher.queue
    other = sha256_hex(PNG)
    _commit_reference(pair, other, "pdd-3")
    for t in (6.0, 8.0, 12.0):
        pair.t = t
        pair.run(pair.fetcher.step())
    assert other not in pair.fetcher.queue and pair.fetcher.counts["gave_up"] == 1


def test_the_queue_is_bounded(tmp_path: Path) -> None:
    pair = Pair(tmp_path, max_queue=2)
    assert pair.fetcher.enqueue("a" * 64) and pair.fetcher.enqueue("b" * 64)
    assert pair.fetcher.enqueue("a" * 64)  # already queued
    assert not pair.fetcher.enqueue("c" * 64)
    assert list(pair.fetcher.queue) == ["a" * 64, "b" * 64]
    assert pair.fetcher.counts["queue_full"] == 1


def test_an_unreachable_peer_is_counted_not_fatal(tmp_path: Path) -> None:
    async def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)
    pair = Pair(tmp_path, extra={OTHER: httpx.MockTransport(down)})
    pair.a.upload(FARM_A, PDF)
    assert pair.run(pair.fetcher.fetch(sha256_hex(PDF))) == "stored"
    assert pair.fetcher.counts["unreachable"] == 1


def test_a_running_node_fetches_what_its_blocks_reference(tmp_path: Path) -> None:
    """The runtime wiring: ``fcl node start`` gives the runtime its home's documents/
    folder; with ``documents.peers`` the fetcher runs beside consensus and, after a block
    that references a document, fetches it from the peer."""
    peer = Env(tmp_path / "peer")
    peer.upload(FARM_A, PDF)
    digest = sha256_hex(PDF)
    config = NodeConfig(chain_id=CHAIN_ID, moniker="b", block_interval_ms=5,
                        document_peers=(PEER,))
    store = Store(tmp_path / "db")
    runtime = NodeRuntime(config=config, genesis=doc_genesis(), key=det_key("doc-val"),
                          store=store, state_dir=tmp_path / "consensus",
                          documents_dir=tmp_path / "documents",
                          document_transport=httpx.ASGITransport(app=peer.client.app))
    assert runtime.node.documents is not None and runtime.document_fetcher is not None
    paths = {getattr(r, "path", "") for rt in node_routers(runtime.node) for r in rt.routes}
    assert "/v1/documents/{sha256}" in paths

    async def session() -> None:
        task = asyncio.create_task(runtime.run())
        try:
            tx = build_transaction(chain_id=CHAIN_ID, contract="carbon", method="register_plot",
                                   args=_plot_naming(digest, "XN-DOC-01"), nonce="n",
                                   keys=[FARM_A])
            assert runtime.node.submit_many([tx.to_json()])[0]["ok"]
            while digest not in runtime.node.documents:  # type: ignore[operator]
                await asyncio.sleep(0.05)
        finally:
            runtime.stop()
            await asyncio.wait_for(task, 10)

    try:
        asyncio.run(asyncio.wait_for(session(), 30))
    finally:
        store.close()
    assert DocumentStore(tmp_path / "documents").read(digest) == PDF
    lone = NodeRuntime(config=NodeConfig(chain_id=CHAIN_ID, moniker="c"), genesis=doc_genesis(),
                       key=det_key("doc-val"), store=Store.in_memory(),
                       state_dir=tmp_path / "c", documents_dir=tmp_path / "c-docs")
    assert lone.node.documents is not None and lone.document_fetcher is None
