"""Real nodes (NodeRuntime: store, consensus driver, p2p on 127.0.0.1) in one process:
agreement, transaction gossip, block sync of a late node, a governance change of the
validator set followed by consensus and by sync, the proposer-time bound, restarts,
status and metrics."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient

from chaincode.validator_state import validator_set_for
from ledger.store import Store
from ledger.tx import build_transaction
from ledger.validators import ValidatorSet
from node.api.rpc import create_app
from tests.support.network import (
    Cluster,
    admin_key,
    make_genesis,
    metric,
    notary,
    run,
    validator_key,
)


def chain_of(store: Store) -> list[tuple[str, str]]:
    """(block hash, state root in the header) of every committed height."""
    out = []
    for h in range(1, store.latest_height() + 1):
        block = store.get_block(h)
        assert block is not None
        out.append((block.hash(), block.header.state_root))
    return out


def test_four_validators_agree_and_gossip(tmp_path: Path) -> None:
    async def scenario() -> None:
        c = Cluster(tmp_path, 4)
        try:
            await c.start()
            await c.wait_connected()
            txs = [notary(i, "agree") for i in range(60)]
            results = c[1].submit(txs)
            assert all(r["ok"] for r in results)
            await c.wait_committed(txs)
            top = min(m.height for m in c.members)
            chains = [chain_of(m.rt.store)[:top] for m in c.members]
            assert all(ch == chains[0] for ch in chains)
            genesis = c.genesis
            for h in range(1, top + 1):
                cert = c[0].rt.store.get_commit(h)
                assert cert is not None
                cert.verify(genesis.chain_id, genesis.validators)
            # every other node admitted the transactions from gossip (verified once there)
            for m in (c[0], c[2], c[3]):
                text = m.rt.registry.render()
                assert metric(text, 'fcl_gossip_txs_received_total{outcome="admitted"}') > 0
            # the receiving node does not get them back
            text = c[1].rt.registry.render()
            assert metric(text, 'fcl_gossip_txs_received_total{outcome="admitted"}') == 0
        finally:
            await c.stop_all()

    run(scenario())


def test_gossip_fills_a_peer_mempool_without_quorum(tmp_path: Path) -> None:
    async def scenario() -> None:
        c = Cluster(tmp_path, 4)
        try:
            await c.start(0, 1)  # 2 of 4: no quorum, nothing commits
            await c.wait_connected()
            txs = [notary(i, "pending") for i in range(25)]
            assert all(r["ok"] for r in c[0].submit(txs))
            await c.wait_for(lambda: all(tx.tx_id in c[1].rt.mempool for tx in txs),
                             10, "gossip to node1")
            raw = c[1].rt.node.tx_status(txs[0].tx_id)
            assert raw is not None and json.loads(raw)["status"] == "pending"
            assert c[0].height == 0 and c[1].height == 0
            text = c[1].rt.registry.render()
            assert metric(text, 'fcl_txs_admitted_total{source="peer"}') == 25
            # a resubmission to node1 is a duplicate, refused before any signature check
            again = c[1].submit(txs[:1])
            assert again[0]["error"]["code"] == "duplicate_tx"
        finally:
            await c.stop_all()

    run(scenario())


def test_a_node_started_late_syncs_blocks_and_certificates(tmp_path: Path) -> None:
    async def scenario() -> None:
        c = Cluster(tmp_path, 4)
        try:
            await c.start(0, 1, 2)  # a quorum of 3 of 4
            await c.wait_connected()
            batches = [[notary(i, f"late{b}") for i in range(20)] for b in range(4)]
            for b, batch in enumerate(batches):
                c[b % 3].submit(batch)
                await c.wait_committed(batch)
            height = c[0].height
            assert height >= 4
            await c.start(3)
            await c.wait_height(height, [c[3]], timeout_s=30)
            assert chain_of(c[3].rt.store)[:height] == chain_of(c[0].rt.store)[:height]
            text = c[3].rt.registry.render()
            assert metric(text, 'fcl_blocks_committed_total{source="sync"}') >= 1
            assert metric(text, "fcl_sync_blocks_received_total") >= 1
            # and then it takes part: with node2 stopped, commits need node3's votes
            await c[2].stop()
            more = [notary(i, "after-sync") for i in range(5)]
            c[3].submit(more)
            await c.wait_committed(more, [c[0], c[1], c[3]], timeout_s=30)
        finally:
            await c.stop_all()

    run(scenario(), 150)


def test_governance_changes_the_set_and_sync_follows_it(tmp_path: Path) -> None:
    """Replace validator 3 by a new validator 4 through governance: the change takes
    effect exactly at its height, the new validator syncs across it and then votes."""

    async def scenario() -> None:
        c = Cluster(tmp_path, 4, extra=1)
        chain = c.genesis.chain_id
        try:
            await c.start(0, 1, 2, 3)
            await c.wait_connected([c[0], c[1], c[2], c[3]])
            warm = [notary(0, "warm")]
            c[0].submit(warm)
            await c.wait_committed(warm)
            h0 = c[0].height
            effective = h0 + 6
            new_set = [
                {"name": f"node{i}", "power": 1, "pub_key": validator_key(i).public_key_hex}
                for i in (0, 1, 2, 4)
            ]
            propose = build_transaction(
                chain_id=chain, contract="governance", method="propose_validator_change",
                args={"validators": new_set, "effective_height": effective,
                      "operators": {validator_key(4).public_key_hex: "verifier-2"},
                      "reason": "replace node3"},
                nonce="p1", keys=[admin_key(0)],
            )
            c[0].submit([propose])
            await c.wait_committed([propose])
            approvals = [
                build_transaction(chain_id=chain, contract="governance",
                                  method="approve_validator_change", args={"proposal_id": 1},
                                  nonce=f"a{i}", keys=[admin_key(i)])
                for i in (0, 1, 2)
            ]
            c[1].submit(approvals)
            await c.wait_committed(approvals)
            store = c[0].rt.store
            results = [json.loads(c[0].rt.node.tx_status(a.tx_id) or b"null")["result"]
                       for a in approvals]
            assert all(r["code"] == "ok" for r in results), results
            assert c[0].height < effective - 1
            # drive the chain past the effective height, one block at a time
            i = 0
            while c[0].height < effective + 1:
                tx = notary(i, "drive")
                i += 1
                c[i % 4].submit([tx])
                await c.wait_committed([tx], [c[0], c[1], c[2]])
            old = c.genesis.validators
            new = ValidatorSet.from_json(new_set)
            before = store.get_block(effective - 1)
            at = store.get_block(effective)
            assert before is not None and at is not None
            assert before.header.validators_hash == old.hash()
            assert before.header.next_validators_hash == new.hash()
            assert at.header.validators_hash == new.hash()
            cert = store.get_commit(effective)
            assert cert is not None
            cert.verify(chain, new)
            assert validator_key(3).public_key_hex not in {k for k, _ in cert.signatures}
            assert validator_set_for(store, effective).hash() == new.hash()
            # the new validator starts from genesis and syncs across the change
            height = c[0].height
            await c.start(4)
            await c.wait_height(height, [c[4]], timeout_s=40)
            top = min(c[0].height, c[4].height)
            assert chain_of(c[4].rt.store)[:top] == chain_of(store)[:top]
            # with node1 down, the new set's quorum needs node4's votes
            await c[1].stop()
            final = [notary(j, "new-set") for j in range(5)]
            c[4].submit(final)
            await c.wait_committed(final, [c[0], c[2], c[4]], timeout_s=40)
            last = c[0].rt.store.get_commit(c[0].height)
            assert last is not None
            assert validator_key(4).public_key_hex in {k for k, _ in last.signatures}
        finally:
            await c.stop_all()

    run(scenario(), 200)


def test_a_proposal_far_ahead_of_the_clock_gets_a_nil_prevote(tmp_path: Path) -> None:
    async def scenario() -> None:
        c = Cluster(tmp_path, 4)
        c[0].clock_offset_ms = 3_600_000  # node0's clock runs an hour ahead
        try:
            await c.start()
            await c.wait_connected()
            txs = [notary(i, "clock") for i in range(8)]
            for k, tx in enumerate(txs):  # one block each, so node0 is asked to propose
                c[k % 4].submit([tx])
                await c.wait_committed([tx], timeout_s=40)
            node0 = validator_key(0).public_key_hex
            store = c[1].rt.store
            proposers = {store.get_block(h).header.proposer for h in range(1, c[1].height + 1)}
            assert node0 not in proposers
            text = c[1].rt.registry.render()
            assert metric(text,
                          'fcl_proposals_rejected_total{reason="time_too_far_ahead"}') >= 1
            # and block times never came from the fast clock
            latest = store.get_block(c[1].height)
            assert latest.header.time < c[1].rt.driver.clock_ms() + 60_000
        finally:
            await c.stop_all()

    run(scenario(), 200)


def test_restart_resumes_and_status_and_metrics(tmp_path: Path) -> None:
    async def scenario() -> tuple[str, dict, str]:
        c = Cluster(tmp_path, 4)
        try:
            await c.start()
            await c.wait_connected()
            first = [notary(i, "before") for i in range(10)]
            c[2].submit(first)
            await c.wait_committed(first)
            await c[3].stop()
            second = [notary(i, "during") for i in range(10)]
            c[0].submit(second)
            await c.wait_committed(second, [c[0], c[1], c[2]])
            await c[3].start()  # graceful restart: catches up from its store onwards
            await c.wait_height(c[0].height, [c[3]])
            await c.wait_committed(second, [c[3]])
            third = [notary(i, "after") for i in range(10)]
            c[3].submit(third)
            await c.wait_committed(third)
            # the store shows a block's transactions as soon as the app thread has written
            # them; the driver counts them when it resumes after that write, a moment later
            # (reading the counter at once made this test fail once: 10 where 20 were due)
            await c.wait_for(
                lambda: metric(c[3].rt.registry.render(), "fcl_txs_committed_total") >= 20,
                10, "node 3 counting the 20 transactions it committed since its restart")
            status = c[3].rt.node.status()
            text = c[3].rt.registry.render()
            client = TestClient(create_app(c[3].rt.node))
            body = client.get("/metrics")
            assert body.status_code == 200
            assert body.headers["content-type"].startswith("text/plain")
            api_status = client.get("/v1/status").json()
            assert api_status["height"] >= status["height"]
            return text, status, body.text
        finally:
            await c.stop_all()

    text, status, body = run(scenario(), 150)
    assert status["peer_count"] == 3 and len(status["peers"]) == 3
    assert {p["moniker"] for p in status["peers"]} == {"node0", "node1", "node2"}
    assert status["consensus"]["height"] >= status["height"]
    assert status["last_commit_time"] is not None
    assert status["validator"]["power"] == 1
    assert [v["name"] for v in status["validators"]] == ["node0", "node1", "node2", "node3"]
    for name in ("fcl_height", "fcl_consensus_height", "fcl_consensus_round",
                 "fcl_txs_committed_total", "fcl_mempool_txs", "fcl_peers",
                 "fcl_consensus_step_duration_seconds_bucket", "fcl_messages_dropped_total",
                 "fcl_p2p_frames_received_total", "fcl_blocks_committed_total"):
        # every metric is declared; a labelled counter with no event yet (no drops on a
        # healthy cluster) has no sample line, as Prometheus exposition allows
        assert f"# TYPE {name.removesuffix('_bucket')} " in body, name
    for name in ("fcl_height", "fcl_consensus_height", "fcl_txs_committed_total",
                 "fcl_mempool_txs", "fcl_peers"):
        assert f"\n{name} " in "\n" + body, name
    assert 'fcl_consensus_step_duration_seconds_count{step="propose"}' in body
    assert 'fcl_consensus_step_duration_seconds_count{step="commit"}' in body
    assert metric(body, "fcl_peers") == 3
    assert metric(text, "fcl_txs_committed_total") >= 20  # since its restart
    assert "# TYPE fcl_consensus_step_duration_seconds histogram" in body


def test_genesis_of_the_harness_is_valid() -> None:
    genesis = make_genesis(4)
    assert len(genesis.validators) == 4
    assert genesis.app_state["validator_operators"][validator_key(3).public_key_hex] == "verifier-2"
