"""A real 4-validator network (NodeRuntime: store, consensus, p2p on 127.0.0.1, in one
process, as tests/fcl/test_observer_network.py): validator 3 joins late with an empty
data folder and an enrolled observer joins with one too; each state-syncs it from
validator 0's API (``fcl/state_sync.py``: the snapshot verified from the genesis, chunk
by chunk) instead of replaying from the genesis, then follows the chain by block sync;
the validator then votes. Their blocks and state roots equal the others'."""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from fcl.state_sync import state_sync
from ledger.genesis import Genesis
from ledger.store import Store
from node.api.rpc import create_app, node_routers
from node.home import NodeConfig
from tests.support.common import det_key
from tests.support.network import Cluster, Member, make_genesis, notary, run

OBSERVER = det_key("sync-observer-0")


def observer_genesis() -> Genesis:
    """Four validators, and OBSERVER enrolled as an observer node of the exchange."""
    doc = copy.deepcopy(make_genesis(4).doc)
    doc["app_state"]["observers"] = [
        {"node_key": OBSERVER.public_key_hex, "org_id": "exchange", "moniker": "observer0"}]
    return Genesis.from_json(doc)


class ObserverMember(Member):
    """An observer node dialling the four validators."""

    def config(self) -> NodeConfig:
        peers = tuple(f"{m.key.public_key_hex}@127.0.0.1:{m.p2p_port}"
                      for m in self.cluster.members[:4])
        return NodeConfig(chain_id=self.cluster.genesis.chain_id, moniker=f"obs{self.index}",
                          block_interval_ms=20, p2p_port=self.p2p_port, peers=peers,
                          consensus=tuple(sorted(self.cluster.consensus.items())),
                          max_block_txs=self.cluster.max_block_txs, observer=True)


def chain_of(store: Store) -> list[tuple[str, str]]:
    """(block hash, state root) of every committed height."""
    out = []
    for h in range(1, store.latest_height() + 1):
        block = store.get_block(h)
        assert block is not None
        out.append((block.hash(), block.header.state_root))
    return out


def test_a_fresh_validator_and_observer_state_sync_then_follow(tmp_path: Path) -> None:
    async def scenario() -> None:
        c = Cluster(tmp_path, 4, genesis=observer_genesis())
        obs = ObserverMember(c, 4, OBSERVER)
        try:
            await c.start(0, 1, 2)  # a quorum of 3 of 4
            await c.wait_connected()
            for b in range(3):
                batch = [notary(i, f"before{b}") for i in range(15)]
                c[b].submit(batch)
                await c.wait_committed(batch)
            api = TestClient(create_app(c[0].rt.node, routers=node_routers(c[0].rt.node)))

            def get_json(path: str) -> Any:
                resp = api.get(path)
                assert resp.status_code == 200, (path, resp.text)
                return resp.json()

            def sync_store(member: Member, height: int) -> int:
                store = Store(member.dir / "data")
                try:
                    return state_sync(store, get_json, c.genesis, height=height).height
                finally:
                    store.close()

            for member in (c[3], obs):
                height = c[0].height
                assert await asyncio.to_thread(sync_store, member, height) == height
                if member is obs:
                    c.members.append(obs)
                await member.start()
                store = member.rt.store
                base = store.snapshot_base()
                assert base is not None and base["height"] == height
                assert store.get_block_writes(1) is None  # it executed none of blocks 1..H
                target = c[0].height
                await c.wait_height(target, [member], timeout_s=30)
                assert chain_of(store)[:target] == chain_of(c[0].rt.store)[:target]
            # the synced validator takes part: with node2 stopped (and the observer never
            # voting), a commit needs node3's votes
            await c[2].stop()
            more = [notary(i, "after-state-sync") for i in range(5)]
            c[3].submit(more)
            await c.wait_committed(more, [c[0], c[1], c[3], obs], timeout_s=30)
            top = min(m.height for m in (c[0], c[1], c[3], obs))
            roots = {m.rt.store.get_block(top).header.state_root for m in (c[0], c[1], c[3], obs)}
            assert len(roots) == 1
        finally:
            await c.stop_all()

    run(scenario(), 120)
