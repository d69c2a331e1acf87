"""node/api/light.py: the light-client routes over a real chain with a validator-set change
(tests/support/certificates.py), served by the node's own app (node_routers), and every
answer verified by the light client's core (ledger/light_client.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ledger.header_chain import TrustedState, parse_changes
from ledger.light_client import LightClient, parse_changes_page, parse_light_block
from ledger.validators import ValidatorSet
from node.api import light
from node.api.certificates import CertificateBuilder
from node.api.rpc import create_app, node_routers
from node.api.service import Node
from node.txpool.mempool import Mempool
from tests.support.certificates import GENESIS_SET, NEW_SET, World, shared_world


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return shared_world(tmp_path_factory)


def _client(world: World, builder: Any = None) -> TestClient:
    chain = world.chain
    node = Node(moniker="light", genesis=chain.genesis, store=chain.store, app=chain.app,
                mempool=Mempool(10, 1 << 20))
    return TestClient(create_app(node, routers=node_routers(node, builder)),
                      raise_server_exceptions=False)


@pytest.fixture(scope="module")
def client(world: World) -> Iterator[TestClient]:
    with _client(world) as c:
        yield c


def _error(resp: Any) -> tuple[int, str]:
    return resp.status_code, resp.json()["error"]["code"]


def test_every_light_block_is_a_header_its_commit_and_the_next_set(world: World, client: TestClient) -> None:
    store = world.chain.store
    for h in range(1, world.chain.height + 1):
        resp = client.get(f"/v1/light/blocks/{h}")
        assert resp.status_code == 200
        body = resp.json()
        assert set(body) == {"height", "hash", "header", "commit", "next_validators"}
        block, commit = store.get_block(h), store.get_commit(h)
        assert block is not None and commit is not None
        assert body["header"] == block.header.to_json() and body["commit"] == commit.to_json()
        assert body["hash"] == block.header.hash() == store.get_block_hash(h)
        expected = GENESIS_SET if h < world.change_height else NEW_SET
        assert ValidatorSet.from_json(body["next_validators"]) == ValidatorSet.from_json(expected)
        assert b'"txs"' not in resp.content and b'"results"' not in resp.content
        parse_light_block(body, h)  # the core accepts the node's own answer


def test_latest_is_the_tip(world: World, client: TestClient) -> None:
    body = client.get("/v1/light/latest").json()
    assert body["height"] == world.chain.height
    assert body == client.get(f"/v1/light/blocks/{world.chain.height}").json()


def test_changes_lists_exactly_the_changes_strictly_between(world: World, client: TestClient) -> None:
    c = world.change_height
    tip = world.chain.height
    body = client.get(f"/v1/light/changes?above=0&below={tip + 1}").json()
    assert body["above"] == 0 and body["below"] == tip + 1 and body["complete"] is True
    (change,) = parse_changes(body["changes"])
    assert change.height == c and change.validators == ValidatorSet.from_json(NEW_SET)
    for above, below, count in [(0, c, 0), (c, tip + 1, 0), (c - 1, c + 1, 1), (0, c + 1, 1)]:
        page = client.get(f"/v1/light/changes?above={above}&below={below}").json()
        assert len(page["changes"]) == count, (above, below)
        parse_changes_page(page, above, below)


def test_a_client_trusts_the_tip_from_the_genesis_with_these_answers(world: World, client: TestClient) -> None:
    tip = world.chain.height
    lc = LightClient(TrustedState.from_genesis(world.chain.genesis))
    block = parse_light_block(client.get("/v1/light/latest").json())
    changes, complete = parse_changes_page(
        client.get(f"/v1/light/changes?above=0&below={tip}").json(), 0, tip)
    assert complete
    state = lc.skip_to(block, changes)
    assert state.height == tip and state.next_validators == ValidatorSet.from_json(NEW_SET)


@pytest.mark.parametrize(("path", "expected"), [
    ("/v1/light/blocks/0", (400, "bad_height")),
    ("/v1/light/blocks/-1", (400, "bad_height")),
    ("/v1/light/blocks/abc", (400, "bad_height")),
    ("/v1/light/blocks/1" + "0" * 18, (400, "bad_height")),
    ("/v1/light/blocks/999", (404, "unknown_block")),
    ("/v1/light/changes", (400, "missing_parameter")),
    ("/v1/light/changes?above=0", (400, "missing_parameter")),
    ("/v1/light/changes?below=3", (400, "missing_parameter")),
    ("/v1/light/changes?above=x&below=3", (400, "bad_number")),
    ("/v1/light/changes?above=0&below=-3", (400, "bad_number")),
    ("/v1/light/changes?above=3&below=3", (400, "bad_range")),
    ("/v1/light/changes?above=5&below=2", (400, "bad_range")),
    ("/v1/light/changes?above=0&below=999", (404, "beyond_chain")),
])
def test_bad_requests_are_refused_with_their_codes(client: TestClient, path: str,
                                                   expected: tuple[int, str]) -> None:
    assert _error(client.get(path)) == expected


def test_the_block_just_above_the_tip_bounds_the_changes(world: World, client: TestClient) -> None:
    tip = world.chain.height
    assert client.get(f"/v1/light/changes?above=0&below={tip + 1}").status_code == 200
    assert _error(client.get(f"/v1/light/changes?above=0&below={tip + 2}")) == (404, "beyond_chain")
    assert _error(client.get(f"/v1/light/blocks/{tip + 1}")) == (404, "unknown_block")


class _NoBlocks:
    """A builder over a store whose old blocks are gone (a node started from a snapshot)."""

    def changes_below(self, height: int) -> list[dict[str, Any]]:
        from node.api.certificates import CertificateUnavailable

        raise CertificateUnavailable("block 1 is missing")


def test_a_node_without_the_old_blocks_says_so(world: World) -> None:
    with _client(world, _NoBlocks()) as c:
        assert _error(c.get("/v1/light/changes?above=0&below=3")) == (503, "light_unavailable")
        assert _error(c.get("/v1/light/blocks/2")) == (503, "light_unavailable")


def test_a_long_list_of_changes_comes_in_pages(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    builder = CertificateBuilder(world.chain.store, world.chain.genesis)
    real = builder.changes_below(world.chain.height + 1)[0]
    fake = [dict(real, height=h) for h in range(1, 6)]

    class Many:
        def changes_below(self, height: int) -> list[dict[str, Any]]:
            return [c for c in fake if c["height"] < height]

    monkeypatch.setattr(light, "MAX_LIGHT_CHANGES", 2)
    with _client(world, Many()) as c:
        first = c.get("/v1/light/changes?above=0&below=7").json()
        assert [x["height"] for x in first["changes"]] == [1, 2] and first["complete"] is False
        last = c.get("/v1/light/changes?above=4&below=7").json()
        assert [x["height"] for x in last["changes"]] == [5] and last["complete"] is True


def test_the_openapi_document_lists_the_light_routes(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/v1/light/blocks/{height}", "/v1/light/latest", "/v1/light/changes"):
        assert path in paths


def test_a_chain_without_blocks_has_no_latest_light_block(tmp_path: Any) -> None:
    from chaincode.executor import Executor
    from ledger.store import Store
    from node.chain.app import Application
    from tests.support.common import det_key, make_genesis

    genesis = make_genesis([(det_key("validator-0"), 10)], det_key("regulator"))
    store = Store(tmp_path / "db")
    try:
        node = Node(moniker="empty", genesis=genesis, store=store,
                    app=Application(store, Executor(), genesis), mempool=Mempool(10, 1 << 20))
        with TestClient(create_app(node, routers=node_routers(node))) as c:
            assert _error(c.get("/v1/light/latest")) == (404, "unknown_block")
            assert _error(c.get("/v1/light/blocks/1")) == (404, "unknown_block")
            assert c.get("/v1/light/changes?above=0&below=1").json()["changes"] == []
            assert _error(c.get("/v1/light/changes?above=0&below=2")) == (404, "beyond_chain")
    finally:
        store.close()


def test_the_shared_change_list_is_built_once_under_concurrent_readers(world: World) -> None:
    import threading

    builder = CertificateBuilder(world.chain.store, world.chain.genesis)
    results: list[list[int]] = []
    barrier = threading.Barrier(8)

    def read() -> None:
        barrier.wait()
        results.append([c["height"] for c in builder.changes_below(world.chain.height + 1)])

    threads = [threading.Thread(target=read) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [[world.change_height]] * 8
