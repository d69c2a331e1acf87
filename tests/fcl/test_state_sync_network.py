"""A real 4-validator network (NodeRuntime: store, consensus, p2p on 127.0.0.1, in one
process): validator 3 joins late with an empty data folder, state-syncs it from
validator 0's API (``fcl/state_sync.py``: the snapshot verified from the genesis, chunk
by chunk) instead of replaying from the genesis, then follows the chain by block sync
and votes; its state root equals the others'."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from fcl.state_sync import state_sync
from ledger.store import Store
from node.api.rpc import create_app, node_routers
from tests.node.test_network_cluster import chain_of
from tests.support.network import Cluster, metric, notary, run


def test_a_fresh_validator_state_syncs_then_follows_and_votes(tmp_path: Path) -> None:
    async def scenario() -> None:
        c = Cluster(tmp_path, 4)
        try:
            await c.start(0, 1, 2)  # a quorum of 3 of 4
            await c.wait_connected()
            for b in range(3):
                batch = [notary(i, f"before{b}") for i in range(15)]
                c[b].submit(batch)
                await c.wait_committed(batch)
            height = c[0].height
            api = TestClient(create_app(c[0].rt.node, routers=node_routers(c[0].rt.node)))

            def get_json(path: str) -> Any:
                resp = api.get(path)
                assert resp.status_code == 200, (path, resp.text)
                return resp.json()

            def sync_store() -> int:
                store = Store(c[3].dir / "data")
                try:
                    return state_sync(store, get_json, c.genesis, height=height).height
                finally:
                    store.close()

            synced = await asyncio.to_thread(sync_store)
            assert synced == height
            await c.start(3)
            store = c[3].rt.store
            assert store.snapshot_base() is not None
            assert store.get_block_writes(1) is None  # it executed none of blocks 1..H
            target = c[0].height
            await c.wait_height(target, [c[3]], timeout_s=30)
            assert chain_of(store)[:target] == chain_of(c[0].rt.store)[:target]
            # and then it takes part: with node2 stopped, commits need node3's votes
            await c[2].stop()
            more = [notary(i, "after-state-sync") for i in range(5)]
            c[3].submit(more)
            await c.wait_committed(more, [c[0], c[1], c[3]], timeout_s=30)
            top = min(c[0].height, c[3].height)
            assert store.get_block(top).header.state_root == \
                c[0].rt.store.get_block(top).header.state_root
            text = c[3].rt.registry.render()
            assert metric(text, "fcl_blocks_committed_total") >= 1
        finally:
            await c.stop_all()

    run(scenario(), 120)
