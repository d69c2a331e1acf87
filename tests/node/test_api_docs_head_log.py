"""The node API's documentation page with its assets bundled (node/api/docs.py), HEAD on
every GET route and the access log (ledger/asgi.py; docs/node.md)."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from chaincode.executor import Executor
from ledger.crypto import PrivateKey
from ledger.genesis import Genesis
from ledger.store import Store
from node.api.docs import ASSETS
from node.api.rpc import create_app
from node.api.service import Node
from node.chain.app import Application
from node.driver.solo import SoloDriver
from node.ops.logs import ACCESS_LOGGER, JsonFormatter, RateLimit
from node.txpool.mempool import Mempool
from tests.support.common import notary_tx


@pytest.fixture
def client(tmp_path: Path, genesis: Genesis, validator_key: PrivateKey,
           regulator_key: PrivateKey) -> Iterator[TestClient]:
    store = Store(tmp_path / "db")
    mempool = Mempool(max_txs=100)
    app = Application(store, Executor(), genesis, verified=mempool.verified)
    driver = SoloDriver(app, mempool, validator_key)
    node = Node(moniker="test-node", genesis=genesis, store=store, app=app, mempool=mempool,
                on_admit=driver.notify)
    c = TestClient(create_app(node), raise_server_exceptions=False)
    tx = notary_tx(regulator_key, "docs")
    assert c.post("/v1/txs", content=json.dumps(tx.to_json()).encode()).status_code == 202
    driver.step()
    yield c
    store.close()


# -- /docs ---------------------------------------------------------------------------------
def test_docs_page_loads_nothing_from_another_host(client: TestClient) -> None:
    r = client.get("/docs")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    tags = re.findall(r"<(?:script|link)\b[^>]*>", r.text, flags=re.I)
    assert tags, "the page loads its script and style sheet"
    for tag in tags:
        assert not re.search(r"(?:src|href)\s*=\s*[\"']?(?:https?:)?//", tag, flags=re.I), tag
    assert "https://" not in r.text and "http://" not in r.text
    assert "validatorUrl" in r.text and '"validatorUrl": null' in r.text
    for url in re.findall(r"(?:src|href)=\"([^\"]+)\"", r.text):
        asset = client.get(url)
        assert asset.status_code == 200 and len(asset.content) > 0, url


@pytest.mark.parametrize("name", sorted(ASSETS))
def test_docs_assets_are_served_from_the_package(client: TestClient, name: str) -> None:
    r = client.get(f"/docs/assets/{name}")
    assert r.status_code == 200 and r.headers["content-type"] == ASSETS[name]
    assert r.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("name", ["index.html", "..%2Fpyproject.toml", "swagger-ui.js.map"])
def test_unknown_docs_asset_is_404(client: TestClient, name: str) -> None:
    r = client.get(f"/docs/assets/{name}")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


def test_redoc_is_not_served_and_the_openapi_document_is(client: TestClient) -> None:
    assert client.get("/redoc").status_code == 404
    assert client.get("/openapi.json").json()["info"]["title"] == "Forest Carbon Ledger node"


# -- HEAD ----------------------------------------------------------------------------------
def test_head_on_every_get_route_matches_get(client: TestClient) -> None:
    paths = {"/docs", "/docs/assets/swagger-ui.css", "/openapi.json", "/v1/blocks/1",
             "/v1/blocks/latest", "/v1/blocks/999", "/v1/txs/" + "0" * 64}
    for route in client.app.routes:  # type: ignore[attr-defined]
        if isinstance(route, APIRoute) and "GET" in route.methods and "{" not in route.path:
            paths.add(route.path)
    assert "/v1/status" in paths and "/metrics" in paths
    for path in sorted(paths):
        got, head = client.get(path), client.head(path)
        assert head.status_code == got.status_code, path
        assert head.content == b"", path
        same = {k: v for k, v in got.headers.items() if k != "content-length"}
        assert {k: v for k, v in head.headers.items() if k != "content-length"} == same, path
        if path not in ("/metrics", "/v1/status"):  # these change between two requests
            assert head.headers.get("content-length") == got.headers.get("content-length"), path


def test_head_on_a_post_only_route_is_refused_like_get(client: TestClient) -> None:
    got, head = client.get("/v1/txs"), client.head("/v1/txs")
    assert head.status_code == got.status_code == 405 and head.content == b""


# -- access log -----------------------------------------------------------------------------
def test_one_access_line_per_request_without_the_query(
        client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger=ACCESS_LOGGER):
        client.get("/v1/blocks/1?token=s3cret")
        client.head("/healthz")
        client.get("/v1/blocks/999")
    lines = [r for r in caplog.records if r.name == ACCESS_LOGGER]
    assert [(r.method, r.path, r.status) for r in lines] == [  # type: ignore[attr-defined]
        ("GET", "/v1/blocks/1", 200), ("HEAD", "/healthz", 200), ("GET", "/v1/blocks/999", 404)]
    first = lines[0]
    assert first.bytes > 0 and first.duration_ms >= 0  # type: ignore[attr-defined]
    assert first.client == "testclient"  # type: ignore[attr-defined]
    assert lines[1].bytes == 0  # type: ignore[attr-defined]
    text = JsonFormatter().format(first)
    assert "s3cret" not in text
    out = json.loads(text)
    assert {"method", "path", "status", "duration_ms", "bytes", "client"} <= set(out)
    assert out["logger"] == ACCESS_LOGGER and out["msg"] == "http request"


def test_access_lines_are_not_rate_limited_but_others_are() -> None:
    limit = RateLimit(burst=1, window_s=10.0, clock=lambda: 0.0, exempt=(ACCESS_LOGGER,))

    def record(name: str) -> logging.LogRecord:
        return logging.LogRecord(name, logging.INFO, "", 0, "http request", (), None)

    assert all(limit.filter(record(ACCESS_LOGGER)) for _ in range(50))
    assert [limit.filter(record("node.rpc")) for _ in range(3)] == [True, False, False]
