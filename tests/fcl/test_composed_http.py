"""The node's app with the explorer mounted, as ``fcl node start`` serves them: HEAD on the
explorer's GET routes and exports, one access-log line per request (on ``node.access``,
not twice), and the export routes in the OpenAPI document that /docs shows."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from chaincode.executor import Executor
from fcl.main import api_routers
from ledger.genesis import Genesis
from ledger.store import Store
from node.api.rpc import create_app
from node.api.service import Node
from node.chain.app import Application
from node.ops.logs import ACCESS_LOGGER
from node.txpool.mempool import Mempool
from tests.support.common import det_key, make_genesis


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    genesis: Genesis = make_genesis([(det_key("validator-0"), 10)], det_key("regulator"))
    store = Store(tmp_path_factory.mktemp("composed") / "db")
    node = Node(moniker="composed", genesis=genesis, store=store,
                app=Application(store, Executor(), genesis), mempool=Mempool(10, 1 << 20))
    with TestClient(create_app(node, routers=api_routers(node))) as c:
        yield c
    store.close()


@pytest.mark.parametrize("path", [
    "/explorer/", "/v1/explorer/dashboard", "/v1/export/parameters.csv",
    "/v1/explorer/plots.geojson", "/v1/export/cadt/projects", "/v1/explorer/projects/NOPE",
    "/docs", "/v1/status",
])
def test_head_matches_get_on_the_composed_app(client: TestClient, path: str) -> None:
    got, head = client.get(path), client.head(path)
    assert head.status_code == got.status_code and head.content == b""
    drop = {"content-length"} if path == "/v1/status" else set()
    assert ({k: v for k, v in head.headers.items() if k not in drop}
            == {k: v for k, v in got.headers.items() if k not in drop})


def test_one_access_line_per_explorer_request(client: TestClient,
                                              caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        client.get("/v1/export/parameters.csv?after=offset_cap")
    lines = [r for r in caplog.records if r.name.endswith(".access")]
    assert [(r.name, r.path, r.status) for r in lines] == [  # type: ignore[attr-defined]
        (ACCESS_LOGGER, "/v1/export/parameters.csv", 200)]


def test_the_openapi_document_lists_every_export(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for name in ("projects", "plots", "issuances", "retirements", "holdings", "trades",
                 "transfers", "parameters", "parameter-history"):
        assert "text/csv" in paths[f"/v1/export/{name}.csv"]["get"]["responses"]["200"]["content"]
    for path in ("/v1/explorer/plots.geojson", "/v1/explorer/projects/{project_id}/plots.geojson"):
        assert "application/geo+json" in paths[path]["get"]["responses"]["200"]["content"]
    for kind in ("projects", "issuances", "units"):
        assert f"/v1/export/cadt/{kind}" in paths
