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
