"""node.chain.verified: the one verified-transaction set shared by admission, the mempool
and the application."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaincode.executor import Executor
from ledger.block import Block, CommitCertificate, txs_root, vote_sign_bytes
from ledger.crypto import PrivateKey
from ledger.errors import BlockError, TxError
from ledger.genesis import Genesis
from ledger.store import Store
from ledger.tx import Transaction, parse_transaction
from node.chain.app import Application, Writes
from node.chain.verified import VerifiedTxs
from node.txpool.admission import Admission
from node.txpool.mempool import Mempool
from tests.support.common import GENESIS_TIME, count_verifications, notary_tx


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[Store, Store]]:
    a, b = Store(tmp_path / "proposer"), Store(tmp_path / "validator")
    yield a, b
    a.close()
    b.close()


def _forged(tx: Transaction) -> Transaction:
    """Same payload and id, another (invalid) signature."""
    return parse_transaction({"payload": dict(tx.payload), "signatures": ["00" * 64]})


def _commit(app: Application, block: Block, writes: Writes, key: PrivateKey) -> None:
    block_hash = block.hash()
    sig = key.sign_hex(vote_sign_bytes("precommit", app.chain_id, block.height, 0, block_hash))
    cert = CommitCertificate(block.height, 0, block_hash, ((key.public_key_hex, sig),))
    app.commit_block(block, cert, writes)


def test_verified_at_admission_is_not_verified_again_when_its_block_is_validated(
    stores: tuple[Store, Store], genesis: Genesis, validator_key: PrivateKey,
    regulator_key: PrivateKey, monkeypatch: pytest.MonkeyPatch,
) -> None:
    verified = VerifiedTxs()
    pool = Mempool(verified=verified)
    proposer = Application(stores[0], Executor(), genesis)
    validator = Application(stores[1], Executor(), genesis, verified=verified)
    admission = Admission(genesis.chain_id, stores[1], pool, verified)
    txs = [notary_tx(regulator_key, f"a{i}") for i in range(3)]
    block, _ = proposer.build_block(txs, GENESIS_TIME + 1, validator_key.public_key_hex)
    calls = count_verifications(monkeypatch)
    for tx in txs:
        admission.admit(tx.to_json())
    assert calls == [tx.tx_id for tx in txs]  # once each, at admission
    writes = validator.validate_block(block)
    assert calls == [tx.tx_id for tx in txs]  # not again for the block
    assert all(tx in verified for tx in txs)
    _commit(validator, block, writes, validator_key)
    assert len(verified) == 0 and not any(tx in verified for tx in txs)  # committed: gone


def test_same_id_other_signature_is_verified_again_and_refused(
    stores: tuple[Store, Store], genesis: Genesis, validator_key: PrivateKey,
    regulator_key: PrivateKey, monkeypatch: pytest.MonkeyPatch,
) -> None:
    verified = VerifiedTxs()
    pool = Mempool(verified=verified)
    validator = Application(stores[1], Executor(), genesis, verified=verified)
    admission = Admission(genesis.chain_id, stores[1], pool)
    tx = notary_tx(regulator_key, "f")
    admission.admit(tx.to_json())
    forged = _forged(tx)
    assert forged.tx_id == tx.tx_id and forged not in verified
    # a block carrying the forged copy (a proposer's txs root over it) is verified, refused
    proposer = Application(stores[0], Executor(), genesis)
    good, _ = proposer.build_block([tx], GENESIS_TIME + 1, validator_key.public_key_hex)
    bad = Block(dataclasses.replace(good.header, txs_root=txs_root([forged])), (forged,),
                good.results)
    calls = count_verifications(monkeypatch)
    with pytest.raises(BlockError) as err:
        validator.check_block(bad)
    assert err.value.code == "bad_signature"
    assert calls == [tx.tx_id]
    assert forged not in verified
    # and at admission of another node's pool (the id is already pending here)
    other = Admission(genesis.chain_id, stores[0], Mempool(verified=verified))
    with pytest.raises(TxError) as terr:
        other.admit(forged.to_json())
    assert terr.value.code == "bad_signature"
    assert calls == [tx.tx_id, tx.tx_id]


def test_the_bound_holds_oldest_first(regulator_key: PrivateKey) -> None:
    verified = VerifiedTxs(max_entries=3)
    txs = [notary_tx(regulator_key, f"b{i}") for i in range(5)]
    for tx in txs:
        verified.add(tx)
        assert len(verified) <= 3
    assert [tx in verified for tx in txs] == [False, False, True, True, True]
    verified.add(txs[2])  # recorded again: now the newest
    verified.add(txs[0])
    assert [tx in verified for tx in txs] == [True, False, True, False, True]
    with pytest.raises(ValueError):
        VerifiedTxs(max_entries=0)


def test_committed_entries_leave_and_admission_shares_the_mempools_set(
    regulator_key: PrivateKey, genesis: Genesis,
) -> None:
    verified = VerifiedTxs()
    txs = [notary_tx(regulator_key, f"c{i}") for i in range(3)]
    for tx in txs:
        verified.add(tx)
    verified.discard(txs[:2])
    assert [tx in verified for tx in txs] == [False, False, True]
    verified.discard(txs)  # unknown ones are ignored
    assert len(verified) == 0

    class Index:
        def get_tx_location(self, tx_id: str) -> tuple[int, int] | None:
            return None

    with pytest.raises(ValueError):
        Admission(genesis.chain_id, Index(), Mempool(), VerifiedTxs())
