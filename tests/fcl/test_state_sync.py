"""fcl/state_sync.py over the certificate world's chain (a real chain with a validator-set
change), served through the node's own API: a fresh store starts from a verified
snapshot, the node's Application opens it, follows the next blocks to the same state
roots, refuses a replayed transaction, and builds the same certificates; a dishonest
server is refused; ``fcl snapshot fetch`` writes only what verified."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from chaincode.executor import Executor
from fcl import state_sync as sync
from ledger.errors import BlockError, LedgerError
from ledger.header_chain import TrustedState, advance
from ledger.snapshot import Chunk, Manifest, verify_chunk
from ledger.store import Store, StoreError
from ledger.validators import ValidatorSet
from node.api.certificates import CertificateBuilder, CertificateUnavailable
from node.api.rpc import create_app, node_routers
from node.api.service import Node
from node.chain.app import Application
from node.txpool.mempool import Mempool
from tests.support.certificates import World, contracts, genesis_doc, shared_world
from wallet.errors import ClientError


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return shared_world(tmp_path_factory)


@pytest.fixture(scope="module")
def client(world: World) -> Iterator[TestClient]:
    chain = world.chain
    node = Node(moniker="source", genesis=chain.genesis, store=chain.store, app=chain.app,
                mempool=Mempool(10, 1 << 20))
    with TestClient(create_app(node, routers=node_routers(node))) as c:
        yield c


def getter(client: TestClient, tamper: Callable[[str, Any], Any] | None = None,
           ) -> Callable[[str], Any]:
    def get_json(path: str) -> Any:
        resp = client.get(path)
        if resp.status_code >= 400:
            err = resp.json()["error"]
            raise ClientError(err["code"], err["message"], status=resp.status_code)
        body = resp.json()
        return body if tamper is None else tamper(path, body)
    return get_json


def _replay_blocks(world: World, app: Application, first: int) -> None:
    """Blocks first..latest of the world's chain, checked and committed by ``app``."""
    store = world.chain.store
    for h in range(first, store.latest_height() + 1):
        block, commit = store.get_block(h), store.get_commit(h)
        assert block is not None and commit is not None
        writes = app.validate_block(block)
        app.commit_block(block, commit, writes)
        assert app.tip.state_root == block.header.state_root


@pytest.mark.parametrize("where", ["change", "after_change"])
def test_a_fresh_store_starts_from_the_snapshot_and_follows_the_chain(
        world: World, client: TestClient, tmp_path: Path, where: str) -> None:
    chain = world.chain
    height = world.change_height + (0 if where == "change" else 2)
    store = Store(tmp_path / "synced")
    try:
        snap = sync.state_sync(store, getter(client), chain.genesis, height=height)
        assert snap.height == height == store.latest_height()
        assert store.state_root() == chain.store.get_block(height).header.state_root
        assert store.latest_hash() == chain.store.get_block_hash(height)
        base = store.snapshot_base()
        assert base is not None and base["height"] == height
        assert [c["height"] for c in base["validator_set_changes"]] == [world.change_height]

        app = Application(store, Executor(contracts()), chain.genesis)
        assert app.tip.height == height
        assert app.tip.validators.hash() == \
            chain.store.get_block(height + 1).header.validators_hash
        assert app.history_root() == chain.store.get_block(height + 1).header.history_root
        # a transaction committed before the snapshot is still a duplicate here: a block
        # replaying it is refused, as a full node refuses it
        old_tx = next(tx for h in range(1, height) for tx in chain.store.get_block(h).txs)
        assert store.has_tx(old_tx.tx_id)
        proposer = app.tip.validators.proposer(height + 1, 0).pub_key
        replay, _ = app.build_block([old_tx], app.tip.time + 1, proposer)
        assert [tx.tx_id for tx in replay.txs] == [old_tx.tx_id]
        with pytest.raises(BlockError) as refused:
            app.validate_block(replay)
        assert refused.value.code == "duplicate_tx"

        _replay_blocks(world, app, height + 1)
        assert store.state_root() == chain.store.state_root()
        assert dict(store.iter_prefix("")) == dict(chain.store.iter_prefix(""))

        # certificates built by the synced node are the ones the full node builds: version 1
        # always; version 2 (state proofs at the retirement's block) only of retirements
        # at or above the snapshot, the synced node having no older state
        builder = CertificateBuilder(store, chain.genesis)
        for rid in (world.compliance_id, world.voluntary_id, world.multi_id):
            assert builder.build(rid, 1) == world.cert(rid, 1)
            at = chain.store.get_tx_location(rid)
            assert at is not None
            if at[0] >= height:
                assert builder.build(rid) == world.cert(rid)
            else:
                with pytest.raises(CertificateUnavailable) as unavailable:
                    builder.build(rid)
                assert f"snapshot at block {height}" in str(unavailable.value)
                assert "?version=1" in str(unavailable.value)
        # proofs below the snapshot height are gone, with a clear refusal
        with pytest.raises(LedgerError) as exc:
            store.state_tree.root(height - 1)
        assert exc.value.code == "unknown_version"
        # the synced node serves snapshots itself, from its snapshot height on
        node = Node(moniker="synced", genesis=chain.genesis, store=store, app=app,
                    mempool=Mempool(10, 1 << 20))
        served = TestClient(create_app(node, routers=node_routers(node)))
        below = served.get(f"/v1/snapshots/{height - 1}/manifest")
        assert below.status_code == 503
        assert below.json()["error"]["code"] == "snapshot_unavailable"
        again = Store(tmp_path / "second")
        try:
            second = sync.state_sync(again, getter(served), chain.genesis, height=height + 1)
            assert again.state_root() == chain.store.get_block(height + 1).header.state_root
            assert second.height == height + 1
        finally:
            again.close()
    finally:
        store.close()


def test_a_store_that_holds_a_chain_is_not_synced(world: World, client: TestClient) -> None:
    with pytest.raises(sync.StateSyncError) as exc:
        sync.state_sync(world.chain.store, getter(client), world.chain.genesis)
    assert exc.value.code == "store_not_empty"


def _tampered(path_part: str, change: Callable[[Any], None]) -> Callable[[str, Any], Any]:
    def tamper(path: str, body: Any) -> Any:
        if path_part in path:
            body = copy.deepcopy(body)
            change(body)
        return body
    return tamper


def _alter_value(body: Any) -> None:
    key, value = body["leaves"][0]
    body["leaves"][0] = [key, value + "20"]


def _alter_block_result(body: Any) -> None:
    body["block"]["results"][0]["message"] = "forged"


def _other_block(body: Any) -> None:
    body["block"]["header"]["time"] += 1


def _drop_signatures(body: Any) -> None:
    body["commit"]["signatures"] = body["commit"]["signatures"][:1]


@pytest.mark.parametrize(("path_part", "change", "code"), [
    ("/chunks/0", _alter_value, "chunk_hash_mismatch"),
    ("/blocks/2", _alter_block_result, "bad_block_chain"),
    ("/blocks/3", _other_block, "bad_block_chain"),
    ("/blocks/4", _drop_signatures, "bad_block_chain"),
    ("/manifest", lambda b: b.update(history_frontier=["00" * 32] * len(b["history_frontier"])),
     "frontier_mismatch"),
])
def test_a_dishonest_server_is_refused_and_nothing_is_written(
        world: World, client: TestClient, tmp_path: Path,
        path_part: str, change: Callable[[Any], None], code: str) -> None:
    store = Store(tmp_path / "synced")
    try:
        with pytest.raises(LedgerError) as exc:
            sync.state_sync(store, getter(client, _tampered(path_part, change)),
                            world.chain.genesis, height=world.change_height + 1)
        assert exc.value.code == code, exc.value
        assert not store.initialised
    finally:
        store.close()


def test_sync_trusting_a_checkpoint(world: World, client: TestClient, tmp_path: Path) -> None:
    chain = world.chain
    h = world.change_height
    new_set = ValidatorSet.from_json(
        client.get(f"/v1/snapshots/{h + 1}/manifest").json()["validator_set_changes"][0]["validators"])
    checkpoint = advance(TrustedState.from_genesis(chain.genesis), [],
                         chain.store.get_block(h).header, chain.store.get_commit(h), new_set)
    store = Store(tmp_path / "synced")
    try:
        snap = sync.state_sync(store, getter(client), chain.genesis, checkpoint=checkpoint)
        assert snap.height == chain.store.latest_height()
        base = store.snapshot_base()
        assert base is not None
        full = CertificateBuilder(chain.store, chain.genesis)
        assert base["validator_set_changes"] == full.changes_below(snap.height + 1)
    finally:
        store.close()

    # below the checkpoint no signature check covers the listed change: its set is checked
    # against the (hash-chained) change block's next_validators_hash
    def forge(body: Any) -> None:
        body["validator_set_changes"][0]["validators"] = chain.genesis.validators.to_json()

    store = Store(tmp_path / "forged")
    try:
        with pytest.raises(LedgerError) as exc:
            sync.state_sync(store, getter(client, _tampered("/manifest", forge)), chain.genesis,
                            checkpoint=checkpoint)
        assert exc.value.code == "bad_block_chain"
        assert f"change at block {h}" in exc.value.message
        assert not store.initialised
    finally:
        store.close()


def test_init_from_snapshot_refuses_what_does_not_chain(world: World, tmp_path: Path) -> None:
    chain = world.chain
    blocks = [(chain.store.get_block(h), chain.store.get_commit(h)) for h in (1, 2, 3)]
    state = list(chain.store.iter_prefix(""))  # the latest state, not block 3's
    info = {"height": 3, "validator_set_changes": []}
    cases = [
        (blocks[1:], state, "wrong_height"),
        ([blocks[0], blocks[2]], state, "wrong_height"),
        ([blocks[0], (blocks[1][0], blocks[2][1]), blocks[2]], state, "commit_mismatch"),
        (blocks, state, "state_root_mismatch"),
        (blocks, [("k", None)], "bad_write"),
        ([], state, "bad_write"),
    ]
    for given, st, code in cases:
        store = Store(tmp_path / f"s-{code}-{len(given)}")
        try:
            with pytest.raises(StoreError) as exc:
                store.init_from_snapshot(chain.genesis.hash, chain.chain_id, given, st, info)
            assert exc.value.code == code
            assert not store.initialised
        finally:
            store.close()
    store = Store(tmp_path / "wrong-genesis")
    try:
        with pytest.raises(StoreError) as exc:
            store.init_from_snapshot("ab" * 32, chain.chain_id, blocks, state, info)
        assert exc.value.code == "wrong_prev_hash"
    finally:
        store.close()


# -- fcl snapshot fetch ----------------------------------------------------------------------


def test_fetch_command_writes_a_verified_snapshot(
        world: World, client: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    import wallet.client

    chain = world.chain
    genesis_file = tmp_path / "genesis.json"
    genesis_file.write_text(json.dumps(genesis_doc(chain.chain_id)), encoding="utf-8")

    class FakeClient:
        def __init__(self, url: str, timeout_s: float) -> None:
            self.get_json = getter(client)

        def __enter__(self) -> FakeClient:
            return self

        def __exit__(self, *exc: object) -> None:
            pass

    monkeypatch.setattr(wallet.client, "NodeClient", FakeClient)
    from fcl.main import build_parser

    out = tmp_path / "snap"
    args = build_parser().parse_args(["snapshot", "fetch", "--node", "http://127.0.0.1:1",
                                      "--genesis", str(genesis_file), "--height", "3",
                                      "--out", str(out)])
    assert args.func(args) == sync.EXIT_OK
    assert "VERIFIED: snapshot of height 3" in capsys.readouterr().out
    answer = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    manifest = Manifest.from_json(answer["manifest"])
    files = sorted((out / "chunks").iterdir())
    assert len(files) == len(manifest.chunks)
    for f in files:
        verify_chunk(manifest, Chunk.from_json(json.loads(f.read_text(encoding="utf-8"))))

    # a bad genesis file is bad input; a node that cannot serve the height is unreachable
    bad = build_parser().parse_args(["snapshot", "fetch", "--node", "http://127.0.0.1:1",
                                     "--genesis", str(tmp_path / "missing.json"),
                                     "--out", str(out)])
    assert bad.func(bad) == sync.EXIT_INPUT
    beyond = build_parser().parse_args(["snapshot", "fetch", "--node", "http://127.0.0.1:1",
                                        "--genesis", str(genesis_file), "--height", "99999",
                                        "--out", str(tmp_path / "x")])
    assert beyond.func(beyond) == sync.EXIT_UNREACHABLE
    assert "beyond_chain" in capsys.readouterr().err


def test_fetch_command_reports_a_snapshot_that_does_not_verify(
        world: World, client: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    import wallet.client

    chain = world.chain
    genesis_file = tmp_path / "genesis.json"
    genesis_file.write_text(json.dumps(genesis_doc(chain.chain_id)), encoding="utf-8")

    class FakeClient:
        def __init__(self, url: str, timeout_s: float) -> None:
            self.get_json = getter(client, _tampered("/chunks/0", _alter_value))

        def __enter__(self) -> FakeClient:
            return self

        def __exit__(self, *exc: object) -> None:
            pass

    monkeypatch.setattr(wallet.client, "NodeClient", FakeClient)
    from fcl.main import build_parser

    out = tmp_path / "snap"
    args = build_parser().parse_args(["snapshot", "fetch", "--node", "http://127.0.0.1:1",
                                      "--genesis", str(genesis_file), "--out", str(out)])
    assert args.func(args) == sync.EXIT_INVALID
    assert "INVALID: chunk_hash_mismatch" in capsys.readouterr().out
    assert not (out / "manifest.json").exists()
    assert list((out / "chunks").iterdir()) == []


def test_node_start_state_sync_option(world: World, client: TestClient, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    """``fcl node start --state-sync URL``: an empty store is state-synced before the node
    is assembled; a store that holds a chain, or no option, is left alone."""
    import wallet.client
    from fcl.main import build_parser

    chain = world.chain
    urls: list[str] = []

    class FakeClient:
        def __init__(self, url: str, timeout_s: float) -> None:
            urls.append(url)
            self.get_json = getter(client)

        def __enter__(self) -> FakeClient:
            return self

        def __exit__(self, *exc: object) -> None:
            pass

    monkeypatch.setattr(wallet.client, "NodeClient", FakeClient)
    plain = build_parser().parse_args(["node", "start", "--home", str(tmp_path)])
    args = build_parser().parse_args(["node", "start", "--home", str(tmp_path), "--state-sync",
                                      "http://peer:26657", "--state-sync-height", "4"])
    store = Store(tmp_path / "data")
    try:
        sync.start_from_snapshot(plain, store, chain.genesis)
        assert not store.initialised and urls == []
        sync.start_from_snapshot(args, store, chain.genesis)
        assert urls == ["http://peer:26657"] and store.latest_height() == 4
        assert "state sync: started at height 4" in capsys.readouterr().err
        sync.start_from_snapshot(args, store, chain.genesis)  # holds a chain now: no-op
        assert urls == ["http://peer:26657"]
    finally:
        store.close()
    # a checkpoint of another chain is refused before anything is fetched
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**TrustedState.from_genesis(chain.genesis).to_json(),
                                 "genesis_hash": "ab" * 32}), encoding="utf-8")
    bad = build_parser().parse_args(["node", "start", "--home", str(tmp_path), "--state-sync",
                                     "http://peer:26657", "--state-sync-checkpoint", str(other)])
    fresh = Store(tmp_path / "data2")
    try:
        with pytest.raises(LedgerError) as exc:
            sync.start_from_snapshot(bad, fresh, chain.genesis)
        assert exc.value.code == "bad_checkpoint" and not fresh.initialised
    finally:
        fresh.close()


@pytest.mark.parametrize("status", [{"height": 0}, {"height": "5"}, {}, []])
def test_a_status_without_a_height_is_refused(world: World, status: Any) -> None:
    def get_json(path: str) -> Any:
        assert path == "/v1/status"
        return status

    with pytest.raises(sync.StateSyncError) as exc:
        sync.fetch_snapshot(get_json, TrustedState.from_genesis(world.chain.genesis))
    assert exc.value.code == "bad_status"
