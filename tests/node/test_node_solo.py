"""node.driver.solo: the single-validator driver."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from chaincode.executor import Executor
from chaincode.validator_state import validator_set_for
from ledger.errors import BlockError
from ledger.store import Store
from node.chain.app import Application
from node.driver.solo import SoloDriver
from node.txpool.admission import Admission, tx_size
from node.txpool.mempool import Mempool
from tests.support.common import GENESIS_TIME, det_key, make_genesis, membership_tx, notary_tx


@pytest.fixture
def store(tmp_path: Path):
    s = Store(tmp_path / "db")
    yield s
    s.close()


def driver_for(store, genesis, key, clock=lambda: GENESIS_TIME, **kw) -> SoloDriver:
    pool = Mempool()
    app = Application(store, Executor(), genesis, verified=pool.verified)
    return SoloDriver(app, pool, key, clock_ms=clock, **kw)


def test_step_commits_pending_transactions_with_a_valid_certificate(
    store, genesis, validator_key, regulator_key
) -> None:
    d = driver_for(store, genesis, validator_key, max_block_txs=2)
    assert d.step() is None and store.latest_height() == 0
    txs = [notary_tx(regulator_key, f"s{i}") for i in range(3)]
    for tx in txs:
        d.mempool.add(tx, tx_size(tx))
    b1 = d.step()
    assert b1 is not None and b1.height == 1 and list(b1.txs) == txs[:2]
    # the wall clock (frozen here) never makes time go backwards
    assert b1.header.time == GENESIS_TIME + 1
    assert len(d.mempool) == 1
    b2 = d.step()
    assert b2 is not None and list(b2.txs) == txs[2:] and b2.header.time == GENESIS_TIME + 2
    assert d.step() is None
    for h in (1, 2):
        cert = store.get_commit(h)
        assert cert is not None and cert.round == 0
        cert.verify(genesis.chain_id, validator_set_for(store, h))
    assert b2.header.proposer == validator_key.public_key_hex


def test_uses_wall_clock_when_it_is_ahead(store, genesis, validator_key, regulator_key) -> None:
    d = driver_for(store, genesis, validator_key, clock=lambda: GENESIS_TIME + 5000)
    tx = notary_tx(regulator_key, "w")
    d.mempool.add(tx, tx_size(tx))
    block = d.step()
    assert block is not None and block.header.time == GENESIS_TIME + 5000


def test_refuses_a_set_it_cannot_sign_alone(store, validator_key, regulator_key) -> None:
    other = det_key("validator-1")
    genesis = make_genesis([(validator_key, 10), (other, 10)], regulator_key)
    with pytest.raises(BlockError) as err:
        driver_for(store, genesis, validator_key)
    assert err.value.code == "not_sole_validator"


def test_a_key_with_more_than_two_thirds_may_drive(store, validator_key, regulator_key) -> None:
    genesis = make_genesis([(validator_key, 7), (det_key("small"), 3)], regulator_key)
    d = driver_for(store, genesis, validator_key)
    tx = notary_tx(regulator_key, "q")
    d.mempool.add(tx, tx_size(tx))
    assert d.step() is not None


def test_run_loop_cuts_blocks_when_woken_and_stops(store, genesis, validator_key, regulator_key) -> None:
    async def scenario() -> None:
        d = driver_for(store, genesis, validator_key, block_interval_ms=5)
        task = asyncio.create_task(d.run())
        for i in range(3):
            tx = notary_tx(regulator_key, f"loop{i}")
            d.mempool.add(tx, tx_size(tx))
            d.notify()
            while store.get_tx_location(tx.tx_id) is None or len(d.mempool):
                await asyncio.sleep(0.005)
        d.stop()
        await asyncio.wait_for(task, 10)

    asyncio.run(asyncio.wait_for(scenario(), 30))
    assert store.latest_height() >= 1
    assert all(store.get(f"notary/loop{i}") is not None for i in range(3))


def _admit(d: SoloDriver, tx) -> None:
    Admission(d.app.chain_id, d.app.store, d.mempool).admit(tx.to_json())


def test_a_transaction_whose_key_was_revoked_after_admission_is_dropped_and_leaves(
    store, genesis, validator_key, regulator_key
) -> None:
    d = driver_for(store, genesis, validator_key)
    member = det_key("solo-member")
    d.make_block([membership_tx(regulator_key, "enrol_key",
                                {"org_id": "regulator", "pub_key": member.public_key_hex})])
    pending = notary_tx(member, "pending")
    _admit(d, pending)
    assert pending.tx_id in d.mempool
    # revoked behind the mempool's back (the block does not go through step)
    d.make_block([membership_tx(regulator_key, "revoke_key",
                                {"pub_key": member.public_key_hex})])
    other = notary_tx(regulator_key, "other")
    _admit(d, other)
    block = d.step()
    assert block is not None and list(block.txs) == [other]
    assert len(d.mempool) == 0 and d.mempool.org_usage("regulator") == (0, 0)
    assert store.get_tx_location(pending.tx_id) is None


def test_after_a_block_that_revokes_a_key_its_pending_transactions_leave(
    store, genesis, validator_key, regulator_key
) -> None:
    d = driver_for(store, genesis, validator_key, max_block_txs=1)
    member = det_key("solo-recheck")
    d.make_block([membership_tx(regulator_key, "enrol_key",
                                {"org_id": "regulator", "pub_key": member.public_key_hex})])
    revoke = membership_tx(regulator_key, "revoke_key", {"pub_key": member.public_key_hex})
    _admit(d, revoke)
    pending = [notary_tx(member, f"p{i}") for i in range(2)]
    for tx in pending:
        _admit(d, tx)
    block = d.step()  # one transaction per block: the revocation alone
    assert block is not None and list(block.txs) == [revoke]
    assert len(d.mempool) == 0  # the recheck dropped what the revoked key had pending
    assert d.step() is None
