"""Observer nodes (issue 13): a real 4-validator network (NodeRuntime: store, consensus
driver, p2p on 127.0.0.1) plus one observer whose node key the genesis enrols. Under a
steady load of transactions sent to the validators the observer follows the chain (within
a few blocks), serves /v1/status and the explorer, agrees on every block and state root,
and sends no consensus frame, and forwards transactions submitted to it; an unenrolled node key is refused (``unknown_peer``); a
revoked observer is disconnected and refused from then on. Lives under tests/fcl because
the observer serves the explorer, as ``fcl node start`` composes it."""

from __future__ import annotations

import asyncio
import copy
import time
from pathlib import Path

import httpx
import pytest

from fcl.main import api_routers
from ledger.crypto import PrivateKey
from ledger.genesis import Genesis
from ledger.store import Store
from ledger.tx import build_transaction
from node.api.rpc import create_app
from node.home import HomeError, NodeConfig
from node.runtime import NodeRuntime
from tests.support.common import det_key
from tests.support.network import Cluster, Member, admin_key, make_genesis, metric, notary, run

OBSERVER = det_key("net-observer-0")
OUTSIDER = det_key("net-outsider-0")


def observer_genesis(validators: int = 4) -> Genesis:
    doc = copy.deepcopy(make_genesis(validators).doc)
    doc["app_state"]["observers"] = [
        {"node_key": OBSERVER.public_key_hex, "org_id": "exchange", "moniker": "observer0"}]
    return Genesis.from_json(doc)


class ObserverMember(Member):
    """A node that dials the validators only (they do not list it as a peer) and runs
    with ``observer`` set as configured."""

    def __init__(self, cluster: Cluster, index: int, key: PrivateKey, observer: bool) -> None:
        super().__init__(cluster, index, key)
        self.observer = observer

    def config(self) -> NodeConfig:
        peers = tuple(f"{m.key.public_key_hex}@127.0.0.1:{m.p2p_port}"
                      for m in self.cluster.members[:4])
        return NodeConfig(chain_id=self.cluster.genesis.chain_id, moniker=f"obs{self.index}",
                          block_interval_ms=20, p2p_port=self.p2p_port, peers=peers,
                          consensus=tuple(sorted(self.cluster.consensus.items())),
                          max_block_txs=self.cluster.max_block_txs, observer=self.observer)


def revoke_observer_tx(chain_id: str) -> object:
    return build_transaction(
        chain_id=chain_id, contract="membership", method="revoke_observer",
        args={"node_key": OBSERVER.public_key_hex, "reason": "test"}, nonce="revoke",
        keys=[admin_key(0)],  # node0's operator is the regulator
    )


def test_an_observer_follows_four_validators_under_load_and_serves_reads(tmp_path: Path) -> None:
    async def scenario() -> None:
        c = Cluster(tmp_path, 4, genesis=observer_genesis())
        validators = list(c.members)
        obs = ObserverMember(c, 4, OBSERVER, observer=True)
        outsider = ObserverMember(c, 5, OUTSIDER, observer=True)
        try:
            # the validators list only each other as peers: the observer is admitted by
            # its enrolment alone
            await c.start()
            c.members += [obs, outsider]
            assert all(m.rt.config.peers and OBSERVER.public_key_hex not in
                       " ".join(m.rt.config.peers) for m in validators)
            await obs.start()
            await c.wait_connected(validators)
            await c.wait_for(lambda: len(obs.rt.peers.peers) == 4, 15,  # type: ignore[union-attr]
                             "the observer connected to the 4 validators")
            # a steady load sent to the validators (never to the observer)
            lag = 0
            sent = []
            for round_ in range(12):
                batch = [notary(i, f"load-{round_}", signer=round_ % 4) for i in range(15)]
                results = validators[round_ % 4].submit(batch)
                assert all(r["ok"] for r in results), results
                sent += batch
                await asyncio.sleep(0.25)
                lag = max(lag, max(m.height for m in validators) - obs.height)
            await c.wait_committed(sent, validators + [obs], timeout_s=60)
            assert lag <= 5, f"the observer fell {lag} blocks behind"
            top = min(m.height for m in validators + [obs])
            assert top >= 3
            for h in range(1, top + 1):
                blocks = [m.rt.store.get_block(h) for m in validators + [obs]]
                assert all(b is not None for b in blocks)
                assert len({(b.hash(), b.header.state_root) for b in blocks}) == 1  # type: ignore[union-attr]
            # it never voted nor proposed: no consensus frame, no signature, power 0
            text = obs.rt.registry.render()
            assert metric(text, 'fcl_p2p_frames_sent_total{type="consensus"}') == 0
            assert metric(text, 'fcl_p2p_frames_received_total{type="consensus"}') > 0
            assert obs.rt.driver.core.stats.get("signed", 0) == 0
            assert obs.rt.driver.key is None
            for m in validators:  # and no commit certificate carries its key
                for h in range(1, top + 1):
                    cert = m.rt.store.get_commit(h)
                    assert cert is not None
                    assert OBSERVER.public_key_hex not in {v for v, _ in cert.signatures}
            # a transaction submitted to the observer reaches the validators (gossip)
            via = notary(0, "via-observer", signer=2)
            assert obs.submit([via])[0]["ok"]
            await c.wait_committed([via], validators + [obs])
            # it serves the API and the explorer
            app = create_app(obs.rt.node, routers=api_routers(obs.rt.node))
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                         base_url="http://observer") as client:
                status = (await client.get("/v1/status")).json()
                assert status["height"] >= top and status["observer"] is True
                assert status["validator"]["power"] == 0 and status["peer_count"] == 4
                dash = await client.get("/v1/explorer/dashboard")
                assert dash.status_code == 200 and dash.json()["height"] >= top
                page = await client.get("/explorer/")
                assert page.status_code == 200
            # an unenrolled node key is refused by every validator
            await outsider.start()
            await c.wait_for(lambda: all(metric(m.rt.registry.render(),
                                                'fcl_p2p_handshake_failures_total'
                                                '{reason="unknown_peer"}') > 0
                                         for m in validators), 15, "unknown_peer refusals")
            assert len(outsider.rt.peers.peers) == 0  # type: ignore[union-attr]
            assert all(OUTSIDER.public_key_hex not in m.rt.peers.peers  # type: ignore[union-attr]
                       for m in validators)
            await outsider.stop()
            # the regulator revokes the observer: validators drop it and refuse it again
            tx = revoke_observer_tx(c.genesis.chain_id)
            assert validators[0].submit([tx])[0]["ok"]
            await c.wait_committed([tx], validators)
            await c.wait_for(lambda: all(OBSERVER.public_key_hex not in m.rt.peers.peers  # type: ignore[union-attr]
                                         for m in validators), 15, "the observer dropped")
            assert all(metric(m.rt.registry.render(),
                              'fcl_messages_dropped_total{reason="observer_revoked"}') >= 1
                       for m in validators)
            refused = metric(validators[0].rt.registry.render(),
                             'fcl_p2p_handshake_failures_total{reason="unknown_peer"}')
            await c.wait_for(lambda: metric(validators[0].rt.registry.render(),
                                            'fcl_p2p_handshake_failures_total'
                                            '{reason="unknown_peer"}') > refused,
                             20, "the revoked observer's redial refused")
            assert len(obs.rt.peers.peers) == 0  # type: ignore[union-attr]
        finally:
            await c.stop_all()

    started = time.monotonic()
    run(scenario(), timeout_s=150)
    assert time.monotonic() - started < 150


def test_an_observer_whose_key_is_a_validator_refuses_to_start(tmp_path: Path) -> None:
    genesis = observer_genesis()
    validator = det_key("net-validator-1")
    config = NodeConfig(chain_id=genesis.chain_id, moniker="obs", observer=True)
    store = Store(tmp_path / "data")
    try:
        with pytest.raises(HomeError) as err:
            NodeRuntime(config=config, genesis=genesis, key=validator, store=store,
                        state_dir=tmp_path / "consensus")
        assert err.value.code == "observer_is_validator"
        assert validator.public_key_hex[:16] in err.value.message
        # the same key, not an observer, starts; an observer key starts as an observer
        NodeRuntime(config=NodeConfig(chain_id=genesis.chain_id, moniker="v"),
                    genesis=genesis, key=validator, store=store,
                    state_dir=tmp_path / "consensus")
        rt = NodeRuntime(config=config, genesis=genesis, key=OBSERVER, store=store,
                         state_dir=tmp_path / "consensus2")
        assert rt.driver.key is None
    finally:
        store.close()
