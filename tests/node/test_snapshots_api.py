"""node/api/snapshots.py on the certificate world's chain (a real chain with a
validator-set change): the snapshot of every height is trusted from the genesis (or a
checkpoint), its chunks verify and rebuild exactly the state of that height; refusals."""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import ledger.snapshot
from ledger.header_chain import HeaderChainError, TrustedState, advance, parse_changes
from ledger.snapshot import Chunk, SnapshotError, verify_chunk, verify_manifest_answer
from ledger.state import state_root_of
from ledger.validators import ValidatorSet
from node.api.certificates import CertificateBuilder
from node.api.snapshots import create_snapshot_router
from tests.support.certificates import World, shared_world


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return shared_world(tmp_path_factory)


@pytest.fixture(scope="module")
def client(world: World) -> Iterator[TestClient]:
    chain = world.chain
    api = FastAPI()
    api.include_router(create_snapshot_router(
        chain.store, lambda: chain.app.history, lambda: chain.app.height,
        CertificateBuilder(chain.store, chain.genesis)))
    with TestClient(api) as c:
        yield c


def _fetch(client: TestClient, world: World, height: int) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The manifest answer, and the state rebuilt from its chunks, each verified."""
    resp = client.get(f"/v1/snapshots/{height}/manifest")
    assert resp.status_code == 200, resp.text
    answer = resp.json()
    head = verify_manifest_answer(TrustedState.from_genesis(world.chain.genesis), answer, height)
    state: dict[str, bytes] = {}
    for i in range(len(head.manifest.chunks)):
        resp = client.get(f"/v1/snapshots/{height}/chunks/{i}")
        assert resp.status_code == 200, resp.text
        chunk = Chunk.from_json(resp.json())
        verify_chunk(head.manifest, chunk)
        for key, value in chunk.leaves:
            state[key.decode("utf-8")] = value
    return answer, state


def _state_at(world: World, height: int) -> dict[str, bytes]:
    """The state after ``height`` by replaying the stored write sets (an oracle that does
    not read the state tree)."""
    store = world.chain.store
    state: dict[str, bytes] = {}
    for h in range(height + 1):
        for key, value in store.get_block_writes(h) or []:
            if value is None:
                state.pop(key, None)
            else:
                state[key] = value
    return state


def test_every_height_state_syncs_from_the_genesis(world: World, client: TestClient) -> None:
    store = world.chain.store
    latest = store.latest_height()
    heights = sorted({1, world.change_height - 1, world.change_height, world.change_height + 1,
                      latest})
    for height in heights:
        answer, state = _fetch(client, world, height)
        assert state == _state_at(world, height)
        header = store.get_block(height).header
        assert state_root_of(state.items()) == header.state_root
        assert answer["manifest"]["height"] == height
        changes = [c["height"] for c in answer["validator_set_changes"]]
        assert changes == ([world.change_height] if height > world.change_height else [])
    # the latest snapshot is exactly the node's committed key-value state
    assert _fetch(client, world, latest)[1] == dict(store.iter_prefix(""))


def test_many_chunks(world: World, client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a small chunk target the node cuts the state into 2^k > 1 chunks (a fresh
    router: the manifests are kept per height)."""
    monkeypatch.setattr(ledger.snapshot, "TARGET_CHUNK_LEAVES", 4)
    chain = world.chain
    api = FastAPI()
    api.include_router(create_snapshot_router(
        chain.store, lambda: chain.app.history, lambda: chain.app.height,
        CertificateBuilder(chain.store, chain.genesis)))
    small = TestClient(api)
    height = world.change_height + 1
    answer, state = _fetch(small, world, height)
    k = answer["manifest"]["k"]
    assert k >= 3 and len(answer["manifest"]["chunks"]) == 1 << k
    assert state == _state_at(world, height)
    assert sum(c[0] for c in answer["manifest"]["chunks"]) == len(state)


def test_trusted_from_a_checkpoint(world: World, client: TestClient) -> None:
    """A node that trusts a checkpoint after the validator-set change verifies a later
    snapshot with the changes above the checkpoint only (none): the answer's change list
    (from the genesis) is filtered."""
    store = world.chain.store
    trusted = TrustedState.from_genesis(world.chain.genesis)
    h = world.change_height
    changes = parse_changes(client.get(f"/v1/snapshots/{h + 1}/manifest").json()[
        "validator_set_changes"])
    block = store.get_block(h)
    new_set = ValidatorSet.from_json(changes[0].validators.to_json())
    checkpoint = advance(trusted, [], block.header, store.get_commit(h), new_set)
    latest = store.latest_height()
    answer = client.get(f"/v1/snapshots/{latest}/manifest").json()
    head = verify_manifest_answer(checkpoint, answer, latest)
    assert head.header.height == latest


def _refused(world: World, answer: dict[str, Any], height: int, code: str) -> None:
    with pytest.raises((SnapshotError, HeaderChainError)) as exc:
        verify_manifest_answer(TrustedState.from_genesis(world.chain.genesis), answer, height)
    assert exc.value.code == code, exc.value


def test_forged_manifest_answers_are_refused(world: World, client: TestClient) -> None:
    h = world.change_height + 1
    answer = client.get(f"/v1/snapshots/{h}/manifest").json()
    other = client.get(f"/v1/snapshots/{h - 2}/manifest").json()

    bad = copy.deepcopy(answer)
    count, digest = bad["manifest"]["chunks"][0]
    bad["manifest"]["chunks"][0] = [count, hashlib.sha256(bytes.fromhex(digest)).hexdigest()]
    _refused(world, bad, h, "manifest_root_mismatch")

    bad = copy.deepcopy(answer)  # an older state's manifest under this header
    bad["manifest"] = copy.deepcopy(other["manifest"])
    bad["manifest"]["height"] = h
    _refused(world, bad, h, "manifest_root_mismatch")

    _refused(world, other, h, "malformed_manifest")  # the answer of another height

    bad = copy.deepcopy(answer)
    bad["validator_set_changes"] = []  # the change is needed to trust a later header
    _refused(world, bad, h, "bad_validators_hash")

    bad = copy.deepcopy(answer)
    bad["commit"]["signatures"] = bad["commit"]["signatures"][:1]
    _refused(world, bad, h, "insufficient_power")

    bad = copy.deepcopy(answer)
    bad["history_frontier"][0] = "00" * 32
    _refused(world, bad, h, "frontier_mismatch")

    bad = copy.deepcopy(answer)
    bad["history_frontier"] = bad["history_frontier"][1:]
    _refused(world, bad, h, "malformed_frontier")

    bad = copy.deepcopy(answer)
    del bad["history_frontier"]
    _refused(world, bad, h, "malformed_manifest")


def test_a_chunk_from_a_dishonest_node_is_refused(world: World, client: TestClient) -> None:
    h = world.change_height
    answer = client.get(f"/v1/snapshots/{h}/manifest").json()
    head = verify_manifest_answer(TrustedState.from_genesis(world.chain.genesis), answer, h)
    chunk = Chunk.from_json(client.get(f"/v1/snapshots/{h}/chunks/0").json())
    key, value = chunk.leaves[0]
    altered = Chunk(chunk.height, chunk.k, chunk.index, ((key, value + b" "), *chunk.leaves[1:]))
    with pytest.raises(SnapshotError) as exc:
        verify_chunk(head.manifest, altered)
    assert exc.value.code == "chunk_hash_mismatch"
    # the same chunk of an older height does not match this height's manifest
    older = Chunk.from_json(client.get(f"/v1/snapshots/{h - 1}/chunks/0").json())
    with pytest.raises(SnapshotError) as exc:
        verify_chunk(head.manifest, older)
    assert exc.value.code == "bad_chunk_index"


@pytest.mark.parametrize(("path", "status", "code"), [
    ("/v1/snapshots/0/manifest", 400, "bad_height"),
    ("/v1/snapshots/-1/manifest", 400, "bad_height"),
    ("/v1/snapshots/x/manifest", 400, "bad_height"),
    ("/v1/snapshots/1234567890123456789/manifest", 400, "bad_height"),
    ("/v1/snapshots/999999/manifest", 404, "beyond_chain"),
    ("/v1/snapshots/999999/chunks/0", 404, "beyond_chain"),
    ("/v1/snapshots/2/chunks/x", 400, "bad_number"),
    ("/v1/snapshots/2/chunks/-1", 400, "bad_number"),
    ("/v1/snapshots/2/chunks/1", 404, "unknown_chunk"),
    ("/v1/snapshots/0/chunks/0", 400, "bad_height"),
])
def test_bad_requests(client: TestClient, path: str, status: int, code: str) -> None:
    resp = client.get(path)
    assert resp.status_code == status, resp.text
    error = resp.json()["error"]
    assert error["code"] == code and error["message"]


def test_a_snapshot_with_an_oversized_chunk_is_not_served(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    import node.api.snapshots

    monkeypatch.setattr(node.api.snapshots, "MAX_CHUNK_LEAVES", 3)
    chain = world.chain
    api = FastAPI()
    api.include_router(create_snapshot_router(
        chain.store, lambda: chain.app.history, lambda: chain.app.height,
        CertificateBuilder(chain.store, chain.genesis)))
    resp = TestClient(api).get("/v1/snapshots/2/manifest")
    assert resp.status_code == 503
    error = resp.json()["error"]
    assert error["code"] == "snapshot_unavailable" and "more than the 3" in error["message"]


def test_changes_that_cannot_be_read_make_the_snapshot_unavailable(world: World) -> None:
    from node.api.certificates import CertificateUnavailable

    class Broken:
        def changes_below(self, height: int) -> list[dict[str, Any]]:
            raise CertificateUnavailable(f"block {height - 1} is missing")

    chain = world.chain
    api = FastAPI()
    api.include_router(create_snapshot_router(
        chain.store, lambda: chain.app.history, lambda: chain.app.height, Broken()))
    resp = TestClient(api).get("/v1/snapshots/3/manifest")
    assert resp.status_code == 503
    error = resp.json()["error"]
    assert error["code"] == "snapshot_unavailable" and "block 2 is missing" in error["message"]
