"""The pieces of the BFT node around the consensus core: block codec and byte splicing,
check_block's own results, the sign-state file, the driver for one validator (with and
without a network: persist before broadcast), metrics and the extended config."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from pathlib import Path

import pytest

from chaincode.executor import Executor
from ledger.block import Block, CommitCertificate, results_root, vote_sign_bytes
from ledger.encoding import canonical
from ledger.errors import BlockError, LedgerError
from ledger.store import Store
from ledger.tx import build_transaction
from node.chain.app import Application
from node.chain.blockcodec import BlockCodec, tx_json_key
from node.consensus import ConsensusConfig, Proposal, SignState, SignStateError, Step, Vote
from node.consensus.actions import BuildProposal, Commit, ValidateProposal
from node.consensus.events import ProposalBuilt, ProposalValidated
from node.driver.appwork import AppWork
from node.driver.asyncio_driver import ConsensusDriver, DriverConfig, DriverMetrics
from node.driver.signfile import SignStateFile
from node.home import HomeError, NodeConfig
from node.ops.metrics import Registry
from node.runtime import NodeRuntime
from node.txpool.admission import tx_size
from node.txpool.mempool import Mempool
from tests.support.common import GENESIS_TIME, det_key, make_genesis, membership_tx, notary_tx


@pytest.fixture
def app(tmp_path: Path, genesis):
    store = Store(tmp_path / "db")
    yield Application(store, Executor(), genesis)
    store.close()


def built(app: Application, key, n: int = 3, tag: str = "b") -> tuple[Block, list]:
    txs = [notary_tx(det_key("regulator"), f"{tag}{i}") for i in range(n)]
    return app.build_block(txs, GENESIS_TIME + 1, key.public_key_hex)


# -- splicing and decoding ------------------------------------------------------------------


def test_cached_bytes_equal_canonical_encoding(app, validator_key) -> None:
    block, _ = built(app, validator_key, 4)
    for tx in block.txs:
        assert tx.canonical_bytes == canonical(tx.to_json())
    assert block.canonical_bytes == canonical(block.to_json())
    assert block.result_bytes == tuple(canonical(r) for r in block.results)
    for pol in (-1, 0):
        prop = Proposal.sign(validator_key, app.chain_id, 1, block, pol)
        assert prop.to_bytes() == canonical(prop.to_json())


def test_codec_reuses_only_exactly_identical_verified_transactions(app, validator_key) -> None:
    reg = det_key("regulator")
    tx = build_transaction(chain_id=app.chain_id, contract="notary", method="record",
                           args={"name": "x", "sha256": "00" * 32, "flag": 1}, nonce="n",
                           keys=[reg])
    pool = Mempool()
    pool.add(tx, tx_size(tx), tx_json_key(tx.to_json()))
    codec = BlockCodec(app.chain_id, pool.by_json_key)
    block, _ = app.build_block([tx], GENESIS_TIME + 1, validator_key.public_key_hex)
    obj = json.loads(canonical(block.to_json()))
    decoded = codec.decode(obj)
    assert decoded.txs[0] is tx and codec.reused == 1 and decoded.hash() == block.hash()
    # the same JSON but `true` for `1`: not the verified transaction, so parsed; its
    # canonical bytes differ from what the header committed to
    obj["txs"][0]["payload"]["args"]["flag"] = True
    with pytest.raises(BlockError) as err:
        codec.decode(obj)
    assert err.value.code == "bad_txs_root" and codec.parsed == 1


def test_codec_refusals(app, validator_key) -> None:
    block, _ = built(app, validator_key)
    codec = BlockCodec(app.chain_id)
    good = json.loads(canonical(block.to_json()))

    def refused(obj, code: str) -> None:
        with pytest.raises(LedgerError) as err:
            codec.decode(obj)
        assert err.value.code == code

    refused([], "malformed_block")
    refused({**good, "extra": 1}, "malformed_block")
    refused({**good, "results": good["results"][:1]}, "malformed_block")
    refused({**good, "results": [1, 2, 3]}, "malformed_block")
    refused({**good, "txs": good["txs"][:2], "results": good["results"][:2]}, "bad_txs_root")
    refused({**good, "header": {**good["header"], "height": -1}}, "malformed_header")
    other = BlockCodec("other-chain")
    with pytest.raises(BlockError) as err:
        other.decode(good)
    assert err.value.code == "wrong_chain"
    bad_tx = json.loads(json.dumps(good))
    bad_tx["txs"][0]["signatures"] = ["zz"]
    refused(bad_tx, "malformed_tx")


def test_check_block_commits_its_own_results(tmp_path: Path, genesis, validator_key) -> None:
    a = Application(Store(tmp_path / "a"), Executor(), genesis)
    b = Application(Store(tmp_path / "b"), Executor(), genesis)
    try:
        block, writes = built(a, validator_key)
        garbage = tuple(dict(r, message="forged") for r in block.results)
        carried = Block(block.header, block.txs, garbage)  # results the header does not cover
        checked, checked_writes = b.check_block(carried)
        assert checked.results == block.results and checked_writes == writes
        forged_header = dataclasses.replace(block.header, results_root=results_root(garbage))
        with pytest.raises(BlockError) as err:
            b.check_block(Block(forged_header, block.txs, garbage))
        assert err.value.code == "results_mismatch"
    finally:
        a.store.close()
        b.store.close()


# -- sign state file ------------------------------------------------------------------------


def sample_state(block: Block | None, height: int = 3, round_: int = 1) -> SignState:
    vote = Vote.sign(det_key("v"), "prevote", "fcl-test", height, round_, "")
    if block is None:
        return SignState(height=height, round=round_, step=Step.PREVOTE, sign_digest="aa" * 32,
                         votes=(vote.to_json(),))
    return SignState(height=height, round=round_, step=Step.PRECOMMIT, sign_digest="bb" * 32,
                     block_hash=block.hash(), locked_round=round_, locked_hash=block.hash(),
                     valid_round=round_, valid_block=block.to_json(), valid_pol=(),
                     votes=(vote.to_json(),))


def test_sign_state_round_trip_and_torn_writes(tmp_path: Path, app, validator_key) -> None:
    block, _ = built(app, validator_key)
    f = SignStateFile(tmp_path / "ss")
    assert f.load() is None
    first = sample_state(None)
    f.save(first)
    second = sample_state(block, round_=2)
    f.save(second, lambda h: block.canonical_bytes if h == block.hash() else None)
    f.close()
    loaded = SignStateFile(tmp_path / "ss").load()
    assert loaded == second
    assert len(list((tmp_path / "ss").glob("valid-*.json"))) == 1
    # a torn newest record: the previous one is loaded
    newest = tmp_path / "ss" / "sign_state.0"
    newest.write_bytes(newest.read_bytes()[:-5])
    assert SignStateFile(tmp_path / "ss").load() == first
    # saving again after loading continues the sequence (and prunes the unused block file)
    g = SignStateFile(tmp_path / "ss")
    g.load()
    third = sample_state(None, height=4, round_=0)
    g.save(third)
    g.close()
    assert SignStateFile(tmp_path / "ss").load() == third
    assert list((tmp_path / "ss").glob("valid-*.json")) == []


def test_sign_state_refuses_to_forget(tmp_path: Path, app, validator_key) -> None:
    block, _ = built(app, validator_key)
    f = SignStateFile(tmp_path / "ss")
    f.save(sample_state(block))
    f.close()
    for path in (tmp_path / "ss").glob("valid-*.json"):
        path.unlink()
    with pytest.raises(SignStateError) as err:
        SignStateFile(tmp_path / "ss").load()
    assert err.value.code == "malformed_sign_state"
    # an intact record (checksum right) that is not a sign state
    import hashlib
    import struct

    body = canonical({"height": "x"})
    record = b"FCLSS1\n" + struct.pack(">QI32s", 9, len(body), hashlib.sha256(body).digest()) + body
    (tmp_path / "ss" / "sign_state.1").write_bytes(record)
    with pytest.raises(SignStateError):
        SignStateFile(tmp_path / "ss").load()


# -- the driver -----------------------------------------------------------------------------


class RecordingFile(SignStateFile):
    def __init__(self, directory: Path, log: list) -> None:
        super().__init__(directory)
        self.log = log

    def save(self, state, block_wire=lambda h: None) -> None:
        super().save(state, block_wire)
        self.log.append(("persist", state.position))


class RecordingNetwork:
    def __init__(self, log: list) -> None:
        self.log = log
        self.committed_heights: list[int] = []
        self.refused: list[tuple[int, str, str]] = []

    def broadcast_consensus(self, height: int, data: bytes) -> None:
        obj = json.loads(data)
        step = {"proposal": 1, "prevote": 2, "precommit": 3}[obj["type"]]
        self.log.append(("send", (height, obj["round"], step)))

    def peer_behind(self, validator: str, height: int) -> None: ...

    def peer_ahead(self, validator: str, height: int) -> None: ...

    def sync_refused(self, height: int, peer: str, reason: str) -> None:
        self.refused.append((height, peer, reason))

    def committed(self, height: int) -> None:
        self.committed_heights.append(height)


def test_driver_persists_before_sending_and_makes_no_empty_blocks(
    tmp_path: Path, genesis, validator_key, regulator_key
) -> None:
    log: list = []

    async def scenario() -> None:
        store = Store(tmp_path / "db")
        pool = Mempool()
        app = Application(store, Executor(), genesis, verified=pool.verified)
        network = RecordingNetwork(log)
        driver = ConsensusDriver(
            app, pool, validator_key, codec=BlockCodec(app.chain_id, pool.by_json_key),
            sign_file=RecordingFile(tmp_path / "ss", log), metrics=DriverMetrics(Registry()),
            config=DriverConfig(block_interval_ms=5), consensus_config=ConsensusConfig(),
            network=network,
        )
        task = asyncio.create_task(driver.run())
        try:
            await asyncio.sleep(0.2)
            assert app.height == 0  # nothing to do, no block
            for i in range(3):
                tx = notary_tx(regulator_key, f"d{i}")
                pool.add(tx, tx_size(tx), tx_json_key(tx.to_json()))
                driver.notify()
                while store.get_tx_location(tx.tx_id) is None:
                    await asyncio.sleep(0.01)
            height = app.height
            await asyncio.sleep(0.3)
            assert app.height == height  # idle again: no empty blocks
            assert network.committed_heights == list(range(1, height + 1))
        finally:
            driver.stop()
            await asyncio.wait_for(task, 10)
            store.close()

    asyncio.run(asyncio.wait_for(scenario(), 60))
    persisted = (0, 0, 0)
    sends = 0
    for kind, position in log:
        if kind == "persist":
            persisted = max(persisted, position)
        else:
            sends += 1
            assert position <= persisted, f"{position} sent before it was persisted"
    assert sends >= 9  # proposal, prevote, precommit per block


class NotABlock:
    """A decoded proposal value that is not a ``Block`` (the core accepts any
    ``ConsensusBlock``): it has a height and a hash, no transactions."""

    height = 1

    def hash(self) -> str:
        return "ab" * 32


def test_a_proposal_that_is_not_a_block_is_refused_also_with_debug_logging(
    tmp_path: Path, genesis, validator_key, caplog: pytest.LogCaptureFixture
) -> None:
    """The driver's debug line once read ``len(block.txs)`` of any proposal, so with DEBUG
    logging a non-Block proposal raised inside the task and was never answered."""
    metrics = DriverMetrics(Registry())

    async def scenario() -> object:
        store = Store(tmp_path / "db")
        pool = Mempool()
        app = Application(store, Executor(), genesis, verified=pool.verified)
        driver = ConsensusDriver(
            app, pool, validator_key, codec=BlockCodec(app.chain_id, pool.by_json_key),
            sign_file=SignStateFile(tmp_path / "ss"), metrics=metrics,
            config=DriverConfig(block_interval_ms=5), consensus_config=ConsensusConfig(),
            network=RecordingNetwork([]),
        )
        try:
            with caplog.at_level(logging.DEBUG, logger="node.consensus"):
                await driver._validate(ValidateProposal(1, 0, NotABlock()))
            return driver._queue.get_nowait()
        finally:
            store.close()

    answer = asyncio.run(asyncio.wait_for(scenario(), 30))
    assert answer == ProposalValidated("ab" * 32, False)
    assert metrics.proposals_rejected.value("not_a_block") == 1
    checked = [r for r in caplog.records if r.getMessage() == "proposal checked"]
    assert len(checked) == 1 and checked[0].txs is None and checked[0].ok is False


def test_single_validator_runtime_commits_restarts_and_continues(
    tmp_path: Path, genesis, validator_key, regulator_key
) -> None:
    config = NodeConfig(chain_id=genesis.chain_id, moniker="solo", block_interval_ms=5)

    async def session(tag: str) -> tuple[int, str]:
        store = Store(tmp_path / "db")
        rt = NodeRuntime(config=config, genesis=genesis, key=validator_key, store=store,
                         state_dir=tmp_path / "consensus")
        assert rt.peers is None
        task = asyncio.create_task(rt.run())
        try:
            txs = [notary_tx(regulator_key, f"{tag}{i}") for i in range(20)]
            outcome = rt.node.submit_many([t.to_json() for t in txs])
            assert all(o["ok"] for o in outcome)
            while any(store.get_tx_location(t.tx_id) is None for t in txs):
                await asyncio.sleep(0.01)
            status = rt.node.status()
            assert status["peer_count"] == 0 and status["p2p"]["listen"] is None
            return store.latest_height(), store.latest_hash()
        finally:
            rt.stop()
            await asyncio.wait_for(task, 10)
            store.close()

    h1, _ = asyncio.run(asyncio.wait_for(session("one"), 60))
    h2, _ = asyncio.run(asyncio.wait_for(session("two"), 60))
    assert h1 >= 1 and h2 > h1
    with Store(tmp_path / "db") as store:
        for h in range(1, h2 + 1):
            cert = store.get_commit(h)
            cert.verify(genesis.chain_id, genesis.validators)


def test_a_validator_that_is_not_in_the_set_makes_no_blocks(tmp_path: Path, regulator_key) -> None:
    genesis = make_genesis([(det_key("someone-else"), 10)], regulator_key)
    config = NodeConfig(chain_id=genesis.chain_id, moniker="observer", block_interval_ms=5)

    async def scenario() -> int:
        store = Store(tmp_path / "db")
        rt = NodeRuntime(config=config, genesis=genesis, key=det_key("not-a-validator"),
                         store=store, state_dir=tmp_path / "consensus")
        task = asyncio.create_task(rt.run())
        try:
            tx = notary_tx(regulator_key, "o")
            rt.node.submit_many([tx.to_json()])
            await asyncio.sleep(0.5)
            return store.latest_height()
        finally:
            rt.stop()
            await asyncio.wait_for(task, 10)
            store.close()

    assert asyncio.run(scenario()) == 0


# -- metrics and config ---------------------------------------------------------------------


def test_metrics_render_in_prometheus_text_format() -> None:
    r = Registry()
    c = r.counter("fcl_things_total", "Things", "reason")
    c.inc(2, 'a"b')
    c.inc(1, "z")
    r.gauge("fcl_level", "Level", lambda: 7)
    r.gauge("fcl_by", "By label", lambda: {"x": 1, "y": 2.5}, label="kind")
    h = r.histogram("fcl_wait_seconds", "Wait", "step", buckets=(0.1, 1.0))
    for value in (0.05, 0.1, 0.5, 3.0):
        h.observe(value, "propose")
    text = r.render()
    assert '# TYPE fcl_things_total counter\nfcl_things_total{reason="a\\"b"} 2\n' in text
    assert "fcl_level 7\n" in text and 'fcl_by{kind="y"} 2.5' in text
    assert 'fcl_wait_seconds_bucket{step="propose",le="0.1"} 2' in text
    assert 'fcl_wait_seconds_bucket{step="propose",le="1"} 3' in text
    assert 'fcl_wait_seconds_bucket{step="propose",le="+Inf"} 4' in text
    assert 'fcl_wait_seconds_count{step="propose"} 4' in text
    with pytest.raises(ValueError):
        r.counter("fcl_things_total", "again")
    with pytest.raises(ValueError):
        c.inc(-1, "a")


def test_config_p2p_and_consensus_settings_and_refusals() -> None:
    key = "ab" * 32
    cfg = NodeConfig(chain_id="fcl-test", moniker="n", p2p_port=26757,
                     peers=(f"{key}@127.0.0.1:26758",), consensus=(("timeout_propose_ms", 900),),
                     p2p_max_handshakes_per_address=3, p2p_handshake_timeout_ms=2000)
    again = NodeConfig.from_json(json.loads(json.dumps(cfg.to_json())))
    assert again == cfg and again.p2p_max_handshakes_per_address == 3
    assert again.peer_addresses()[0].pub_key == key and again.consensus_overrides() == {
        "timeout_propose_ms": 900}
    old = {"chain_id": "fcl-test", "moniker": "n"}  # written before p2p existed
    assert NodeConfig.from_json(old).p2p_port is None
    for bad in (
        {"p2p": {"peers": ["nokey@127.0.0.1:1"]}},
        {"p2p": {"peers": [f"{key}@127.0.0.1:0"]}},
        {"p2p": {"peers": "x"}},
        {"p2p": {"port": 70000}},
        {"consensus": {"timeout_lunch_ms": 5}},
        {"consensus": {"timeout_propose_ms": 0}},
        {"consensus": []},
        {"max_clock_drift_ms": -1},
        {"public_url": "registry.example.cn"},
        {"public_url": "ftp://registry.example.cn"},
        {"public_url": "https://registry.example.cn/?q=1"},
        {"public_url": "https://user@registry.example.cn"},
        {"public_url": "https://registry.example.cn/#x"},
        {"public_url": "https://" + "a" * 200 + ".cn"},
        {"public_url": 5},
        {"rpc": {"max_connections": 0}},
        {"rpc": {"max_connections_per_address": 0}},
        {"rpc": {"header_timeout_ms": 50}},
        {"rpc": {"body_timeout_ms": "30000"}},
        {"rpc": {"keep_alive_ms": 10**9}},
        {"p2p": {"max_peers": 0}},
        {"p2p": {"max_handshakes": -1}},
        {"p2p": {"max_handshakes_per_address": True}},
        {"p2p": {"handshake_timeout_ms": 10}},
    ):
        with pytest.raises(HomeError) as err:
            NodeConfig.from_json({**old, **bad})
        assert err.value.code == "bad_config", bad


def test_mempool_quota_settings_default_to_a_quarter_and_are_validated() -> None:
    cfg = NodeConfig(chain_id="fcl-test", moniker="n")
    assert cfg.mempool_org_limits() == (2500, 16 * 1024 * 1024)
    assert NodeConfig.from_json(cfg.to_json()) == cfg
    doc = cfg.to_json()
    doc["mempool"] = {"max_txs": 100, "max_bytes": 10_000, "max_txs_per_org": 30,
                      "max_bytes_per_org": 5000}
    custom = NodeConfig.from_json(doc)
    assert custom.mempool_org_limits() == (30, 5000)
    assert NodeConfig.from_json(custom.to_json()) == custom
    for bad in ({"max_txs_per_org": 0}, {"max_txs_per_org": 101}, {"max_bytes_per_org": "1"},
                {"max_bytes_per_org": 10_001}, {"max_txs_per_org": True}):
        doc["mempool"] = {"max_txs": 100, "max_bytes": 10_000, **bad}
        with pytest.raises(HomeError) as err:
            NodeConfig.from_json(doc)
        assert err.value.code == "bad_config" and "per_org" in err.value.message, bad


def test_certificate_links_use_public_url_else_the_rpc_address() -> None:
    cfg = NodeConfig(chain_id="fcl-test", moniker="n", rpc_port=8080)
    assert cfg.base_url() == "http://127.0.0.1:8080"
    assert cfg.base_url("::1", 9000) == "http://[::1]:9000"
    cfg = NodeConfig.from_json({**cfg.to_json(), "public_url": "https://registry.example.cn/"})
    assert cfg.base_url("0.0.0.0", 1) == "https://registry.example.cn"
    assert NodeConfig.from_json(cfg.to_json()) == cfg
    for good in ("http://[::1]:26657", "https://r.example.cn/fcl/", "http://10.0.0.2"):
        assert NodeConfig(chain_id="fcl-test", moniker="n", public_url=good).public_url == good


def test_the_explorer_time_zone_setting() -> None:
    cfg = NodeConfig(chain_id="fcl-test", moniker="n")
    assert cfg.time_zone == "Asia/Shanghai" and cfg.to_json()["time_zone"] == "Asia/Shanghai"
    old = {"chain_id": "fcl-test", "moniker": "n"}  # written before the setting existed
    assert NodeConfig.from_json(old).time_zone == "Asia/Shanghai"
    berlin = NodeConfig.from_json({**old, "time_zone": "Europe/Berlin"})
    assert berlin.time_zone == "Europe/Berlin" and NodeConfig.from_json(berlin.to_json()) == berlin
    for bad in ("Mars/Olympus", "", "UTC+8", "../etc/localtime", 8, None):
        with pytest.raises(HomeError) as err:
            NodeConfig.from_json({**old, "time_zone": bad})
        assert err.value.code == "bad_config" and "time_zone must be" in err.value.message, bad



def test_the_stored_block_bytes_are_the_blocks_own(app, validator_key) -> None:
    block, writes = built(app, validator_key, 3, "wire")
    other = Block(block.header, block.txs, tuple(dict(r, message="x") for r in block.results))
    assert other.canonical_bytes == canonical(other.to_json()) != block.canonical_bytes
    cert = CommitCertificate(1, 0, block.hash(), (
        (validator_key.public_key_hex,
         validator_key.sign_hex(vote_sign_bytes("precommit", app.chain_id, 1, 0, block.hash()))),
    ))
    app.commit_block(block, cert, writes)
    assert app.store.get_block_json(1) == block.canonical_bytes == canonical(block.to_json())


def test_a_transaction_verified_in_a_proposal_is_not_verified_again_at_admission(
    tmp_path: Path, genesis, validator_key, regulator_key, monkeypatch
) -> None:
    from ledger.tx import Transaction
    from node.chain.verified import VerifiedTxs
    from node.txpool.admission import Admission

    cache = VerifiedTxs(max_entries=2)
    proposer = Application(Store(tmp_path / "a"), Executor(), genesis)
    checker = Application(Store(tmp_path / "b"), Executor(), genesis, verified=cache)
    try:
        txs = [notary_tx(regulator_key, f"v{i}") for i in range(3)]
        block, _ = proposer.build_block(txs, GENESIS_TIME + 1, validator_key.public_key_hex)
        checker.check_block(block)  # verifies all three, remembers the last two
        assert txs[0] not in cache and txs[1] in cache and txs[2] in cache
        forged = Transaction(txs[2].payload, ("00" * 64,), txs[2].payload_bytes, txs[2].tx_id)
        assert forged not in cache  # same id, other signatures
        calls: list[str] = []
        original = Transaction.verify_signatures

        def counting(self) -> None:
            calls.append(self.tx_id)
            original(self)

        monkeypatch.setattr(Transaction, "verify_signatures", counting)
        admission = Admission(genesis.chain_id, checker.store, Mempool(verified=cache), cache)
        for tx in reversed(txs):  # the two remembered first: admitting one makes it newest
            admission.admit(tx.to_json())
        assert calls == [txs[0].tx_id]
    finally:
        proposer.store.close()
        checker.store.close()


def test_synced_blocks_commit_only_with_a_valid_certificate(
    tmp_path: Path, genesis, validator_key, regulator_key
) -> None:
    """An observer fed blocks by sync: a forged certificate is refused (the core checks
    it against the height's validator set), the real one commits the re-executed block."""
    from ledger.block import CommitCertificate
    from node.driver.solo import SoloDriver

    source = Store(tmp_path / "source")
    pool = Mempool()
    maker = SoloDriver(Application(source, Executor(), genesis), pool, validator_key,
                       clock_ms=lambda: GENESIS_TIME)
    for i in range(2):
        tx = notary_tx(regulator_key, f"s{i}")
        pool.add(tx, tx_size(tx))
        maker.step()
    blocks = [(source.get_block(h), source.get_commit(h)) for h in (1, 2)]
    source.close()
    config = NodeConfig(chain_id=genesis.chain_id, moniker="observer", block_interval_ms=5)

    async def scenario() -> tuple[int, dict]:
        store = Store(tmp_path / "observer")
        rt = NodeRuntime(config=config, genesis=genesis, key=det_key("observer"), store=store,
                         state_dir=tmp_path / "consensus")
        task = asyncio.create_task(rt.run())
        try:
            block1, cert1 = blocks[0]
            outsider = det_key("outsider")
            forged = CommitCertificate(1, 0, block1.hash(), (
                (outsider.public_key_hex, "00" * 64),))
            refused = rt.driver.metrics.sync_refused
            # the forged block 1 and a genuine block 2, both from peer-key
            assert rt.driver.offer_synced([(block1, forged), blocks[1]], "peer-key") == 2
            for _ in range(500):
                if refused.value("bad_certificate"):
                    break
                await asyncio.sleep(0.01)
            # the refusal is reported explicitly (SyncRefused), not inferred from counters
            assert refused.value("bad_certificate") == 1
            assert rt.driver.core.stats.get("bad_certificate") == 1
            # everything peer-key sent is dropped with its refused block, so the same
            # heights are taken from another peer
            assert store.latest_height() == 0 and not rt.driver.syncing
            assert rt.driver.offer_synced([(block1, cert1), blocks[1]], "other") == 2
            for _ in range(500):
                if store.latest_height() == 2:
                    break
                await asyncio.sleep(0.01)
            return store.latest_height(), rt.driver.core.stats
        finally:
            rt.stop()
            await asyncio.wait_for(task, 10)
            store.close()

    height, stats = asyncio.run(asyncio.wait_for(scenario(), 60))
    assert height == 2 and stats["bad_certificate"] == 1


# -- the driver's application work without asyncio (node/driver/appwork.py) -------------------


def test_appwork_builds_checks_and_commits_in_one_thread(genesis, validator_key) -> None:
    """What the simulation runs: a proposer's AppWork reaps its mempool and builds at the
    given time; another node's AppWork refuses a block too far ahead of its clock, checks
    the proposal, commits it (reusing the checked write set) and empties its mempool."""
    reg = det_key("regulator")
    nodes = []
    for _ in range(2):
        pool = Mempool()
        app = Application(Store.in_memory(), Executor(), genesis, verified=pool.verified)
        nodes.append(AppWork(app, pool, validator_key.public_key_hex, DriverConfig(max_block_txs=2)))
    proposer, other = nodes
    txs = [notary_tx(reg, f"w{i}") for i in range(3)]
    for work in nodes:
        for tx in txs:
            work.mempool.add(tx, tx_size(tx))
    built = proposer.answer(BuildProposal(1, 0, GENESIS_TIME + 5), GENESIS_TIME + 7)
    assert isinstance(built, ProposalBuilt)
    block = built.block
    assert isinstance(block, Block)
    assert [tx.tx_id for tx in block.txs] == [tx.tx_id for tx in txs[:2]]  # max_block_txs
    assert block.header.time == GENESIS_TIME + 7 and block.hash() in proposer.validated
    request = ValidateProposal(1, 0, block)
    answer, reason = other.validate_proposal(request, block.header.time - 2001)
    assert (answer, reason) == (ProposalValidated(block.hash(), False), "time_too_far_ahead")
    assert other.answer(request, GENESIS_TIME) == ProposalValidated(block.hash(), True)
    msg = vote_sign_bytes("precommit", genesis.chain_id, 1, 0, block.hash())
    cert = CommitCertificate(1, 0, block.hash(), ((validator_key.public_key_hex,
                                                   validator_key.sign_hex(msg)),))
    for work in nodes:
        final = work.commit(Commit(1, block, cert))
        assert final.hash() == block.hash() and work.app.height == 1
        assert len(work.mempool) == 1 and not work.validated
    assert nodes[0].app.tip.state_root == nodes[1].app.tip.state_root
    # block sync: kept within the window above the chain, first offer wins
    assert other.offer_synced([(block, cert)], "p") == 0  # already committed
    assert other.next_synced(2) is None


def test_appwork_drops_what_the_state_no_longer_admits(genesis, validator_key) -> None:
    """A proposer's AppWork leaves a transaction of a key no longer admitted out of its
    proposal and out of its mempool; after a block that revokes a key, every AppWork drops
    what that key still has pending (the recheck)."""
    reg = det_key("regulator")
    member = det_key("appwork-member")
    pool = Mempool()
    app = Application(Store.in_memory(), Executor(), genesis, verified=pool.verified)
    work = AppWork(app, pool, validator_key.public_key_hex, DriverConfig(max_block_txs=2))

    def commit(height: int, block: Block, writes) -> None:
        msg = vote_sign_bytes("precommit", genesis.chain_id, height, 0, block.hash())
        cert = CommitCertificate(height, 0, block.hash(), ((validator_key.public_key_hex,
                                                            validator_key.sign_hex(msg)),))
        work.commit_checked(block, cert, writes)
        work.committed(block, writes)

    enrol = membership_tx(reg, "enrol_key", {"org_id": "regulator",
                                             "pub_key": member.public_key_hex})
    commit(1, *app.build_block([enrol], GENESIS_TIME + 1, validator_key.public_key_hex))
    revoke = membership_tx(reg, "revoke_key", {"pub_key": member.public_key_hex})
    pending = [notary_tx(member, f"m{i}") for i in range(2)]
    for tx in (revoke, *pending):
        pool.add(tx, tx_size(tx), orgs=["regulator"])
    # the proposal holds the revocation and the first of the member's (max_block_txs=2):
    # at the state the block starts from, the member is still active
    built = work.answer(BuildProposal(2, 0, GENESIS_TIME + 2), GENESIS_TIME + 2)
    assert isinstance(built, ProposalBuilt)
    assert [tx.tx_id for tx in built.block.txs] == [revoke.tx_id, pending[0].tx_id]
    final, writes = work.validated[built.block.hash()]
    assert [r["code"] for r in final.results] == ["ok", "unauthorized"]
    commit(2, final, writes)
    assert len(pool) == 0  # the block's two left, and the recheck dropped the other
    # a transaction of the revoked key reaped anyway is left out and leaves the mempool
    late = notary_tx(member, "late")
    pool.add(late, tx_size(late), orgs=["regulator"])
    built = work.answer(BuildProposal(3, 0, GENESIS_TIME + 3), GENESIS_TIME + 3)
    assert isinstance(built, ProposalBuilt) and built.block.txs == ()
    assert late.tx_id not in pool and pool.org_usage("regulator") == (0, 0)
