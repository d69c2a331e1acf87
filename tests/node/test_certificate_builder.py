"""node.api.certificates: finding every transaction of a certificate in the committed store,
with and without the hints the state records give."""

from __future__ import annotations

from typing import Any

import pytest

from chaincode.certificate_links import CARBON_LINKS
from ledger.certificate import verify_certificate
from ledger.encoding import canonical, decode
from node.api.certificates import CertificateBuilder, CertificateUnavailable, build_certificate
from tests.support.certificates import World, shared_world


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    return shared_world(tmp_path_factory)


class Proxy:
    """The store, with some state records replaced or some blocks/commits hidden, and a
    count of the blocks read."""

    def __init__(self, store: Any, state: dict[str, Any] | None = None,
                 hide_commits: set[int] | None = None, hide_writes: bool = False) -> None:
        self.store = store
        self.state = state or {}
        self.hide_commits = hide_commits or set()
        self.hide_writes = hide_writes
        self.block_reads = 0

    def get(self, key: str) -> bytes | None:
        if key in self.state:
            value = self.state[key]
            return None if value is None else canonical(value)
        return self.store.get(key)

    def get_block(self, height: int) -> Any:
        self.block_reads += 1
        return self.store.get_block(height)

    def get_block_json(self, height: int) -> Any:
        self.block_reads += 1
        return self.store.get_block_json(height)

    def get_commit(self, height: int) -> Any:
        return None if height in self.hide_commits else self.store.get_commit(height)

    def get_block_writes(self, height: int) -> Any:
        return None if self.hide_writes else self.store.get_block_writes(height)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


def record(world: World, key: str) -> dict[str, Any]:
    raw = world.chain.store.get(key)
    assert raw is not None
    value: dict[str, Any] = decode(raw)
    return value


def test_wrong_hints_fall_back_to_scanning(world):
    """Records that do not point at the creating transaction (here: all of them point at
    the retirement) are detected; the scan finds the same transactions."""
    store = world.chain.store
    expected = world.cert(world.compliance_id)
    wrong = world.compliance_id
    state = {}
    for key in ("batch/AH-0001-B1", "attestation/VER-R1", "attestation/VAL-AH-0001",
                "plot/P1", "period/P1/2018-01-01"):
        state[key] = dict(record(world, key), tx_id=wrong)
    project = record(world, "project/AH-0001")
    state["project/AH-0001"] = dict(project, registration={"height": 1, "tx_id": wrong})
    proxy = Proxy(store, state)
    assert build_certificate(proxy, world.chain.genesis, world.compliance_id) == expected


def test_hints_keep_block_reads_small(world):
    proxy = Proxy(world.chain.store)
    cert = build_certificate(proxy, world.chain.genesis, world.multi_id)
    assert verify_certificate(cert, genesis=world.chain.genesis, links=CARBON_LINKS).ok
    blocks = len(cert["headers"])
    # each referenced block once, the header scan for validator-set changes, and the
    # downward scans for plot registrations (a byte filter skips blocks without the id)
    assert proxy.block_reads <= blocks + world.chain.height + 5


def test_missing_commit_or_records(world):
    h = world.cert(world.compliance_id)["retirement"]["height"]
    with pytest.raises(CertificateUnavailable, match=f"block {h} has no commit"):
        build_certificate(Proxy(world.chain.store, hide_commits={h}), world.chain.genesis,
                          world.compliance_id)
    with pytest.raises(CertificateUnavailable, match="batch/AH-0001-B1"):
        build_certificate(Proxy(world.chain.store, {"batch/AH-0001-B1": None}),
                          world.chain.genesis, world.compliance_id)
    plot = dict(record(world, "project/AH-0001"), plots=["P1", "NOPE"])
    with pytest.raises(CertificateUnavailable, match="plot_registration"):
        build_certificate(Proxy(world.chain.store, {"project/AH-0001": plot}),
                          world.chain.genesis, world.compliance_id)


def test_new_validator_set_needs_the_write_history(world):
    with pytest.raises(CertificateUnavailable, match="validator set"):
        build_certificate(Proxy(world.chain.store, hide_writes=True), world.chain.genesis,
                          world.voluntary_id)


def test_builder_caches_are_consistent_in_any_order(world):
    ids = [world.multi_id, world.compliance_id, world.voluntary_id]
    builder = CertificateBuilder(world.chain.store, world.chain.genesis)
    for rid in ids:
        assert builder.build(rid) == world.cert(rid)
    assert [c["height"] for c in builder.changes_below(world.chain.height + 1)] == [
        world.change_height]


def test_rpc_serves_version_2_by_default_and_version_1_on_request(world):
    """``GET /v1/certificates/{id}[?version=1|2]``: canonical bytes of the builder's
    certificate; any other version is ``400 bad_request`` naming the allowed values."""
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from ledger.api_errors import ApiError
    from node.api.rpc import certificate_router, error_response

    app = FastAPI()

    @app.exception_handler(ApiError)
    async def _api_error(_: Any, exc: ApiError) -> Any:
        return error_response(exc.code, exc.message)

    builder = CertificateBuilder(world.chain.store, world.chain.genesis)
    app.include_router(certificate_router(None, builder))  # type: ignore[arg-type]
    client = TestClient(app)
    rid = world.voluntary_id
    for query, version in (("", 2), ("?version=2", 2), ("?version=1", 1)):
        resp = client.get(f"/v1/certificates/{rid}{query}")
        assert resp.status_code == 200 and resp.content == canonical(world.cert(rid, version))
        verdict = verify_certificate(resp.json(), genesis=world.chain.genesis, links=CARBON_LINKS)
        assert verdict.ok and verdict.version == version
    for bad in ("0", "3", "01", "v2", "", "2.0"):
        resp = client.get(f"/v1/certificates/{rid}?version={bad}")
        assert resp.status_code == 400, bad
        error = resp.json()["error"]
        assert error["code"] == "bad_request" and "give 1 or 2" in error["message"]
    assert client.get(f"/v1/certificates/{'ab' * 32}?version=1").status_code == 404


def test_version_2_refuses_a_record_that_is_not_the_retired_range(world):
    """The builder reads unit records from the state tree at the retirement's height and
    refuses what would not verify, rather than serving it."""

    class Tree:
        def __init__(self, tree: Any, drop: bool) -> None:
            self.tree, self.drop = tree, drop

        def get(self, key: bytes, version: int) -> Any:
            return None if self.drop else canonical(dict(decode(self.tree.get(key, version)), last=1))

        def prove(self, key: bytes, version: int) -> Any:
            return self.tree.prove(key, version)

    for drop, needle in ((True, "has no unit/AH-0001"), (False, "not proven")):
        proxy = Proxy(world.chain.store)
        proxy.state_tree = Tree(world.chain.store.state_tree, drop)  # type: ignore[attr-defined]
        with pytest.raises(CertificateUnavailable, match=needle):
            build_certificate(proxy, world.chain.genesis, world.compliance_id)
        assert build_certificate(proxy, world.chain.genesis, world.compliance_id, 1) == \
            world.cert(world.compliance_id, 1)
