"""node.chain.app: build, validate on an independent node, commit; refusals; restart."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from chaincode.executor import Executor
from ledger.block import Block, CommitCertificate, results_root, vote_sign_bytes
from ledger.crypto import PrivateKey
from ledger.errors import BlockError
from ledger.genesis import Genesis
from ledger.merkle import merkle_root
from ledger.state import state_root_of
from ledger.state_tree import verify
from ledger.store import TREE_PREFIX, Store
from ledger.tx import Transaction, build_transaction, parse_transaction
from node.chain.app import Application
from node.txpool.mempool import Mempool
from tests.support.common import (
    CHAIN_ID,
    GENESIS_TIME,
    count_verifications,
    det_key,
    make_genesis,
    membership_tx,
    notary_tx,
)


def sign_commit(block: Block, key: PrivateKey, chain_id: str) -> CommitCertificate:
    msg = vote_sign_bytes("precommit", chain_id, block.height, 0, block.hash())
    return CommitCertificate(block.height, 0, block.hash(), ((key.public_key_hex, key.sign_hex(msg)),))


class Chain:
    """An application over its own store, committing with the validator's signature."""

    def __init__(self, path: Path, genesis: Genesis, key: PrivateKey, mempool: Mempool | None = None):
        self.store = Store(path)
        self.key = key
        self.app = Application(
            self.store, Executor(), genesis,
            verified=mempool.verified if mempool is not None else None,
        )

    def build(self, txs: list[Transaction], time_ms: int | None = None) -> tuple[Block, list]:
        t = self.app.tip.time + 1 if time_ms is None else time_ms
        return self.app.build_block(txs, t, self.key.public_key_hex)

    def commit(self, block: Block, writes: list) -> None:
        self.app.commit_block(block, sign_commit(block, self.key, self.app.chain_id), writes)

    def close(self) -> None:
        self.store.close()


@pytest.fixture
def two(tmp_path: Path, genesis: Genesis, validator_key: PrivateKey):
    a = Chain(tmp_path / "a", genesis, validator_key)
    b = Chain(tmp_path / "b", genesis, validator_key)
    yield a, b
    a.close()
    b.close()


def test_genesis_tip(two, genesis: Genesis) -> None:
    a, _ = two
    tip = a.app.tip
    assert tip.height == 0
    assert tip.block_hash == genesis.hash
    assert tip.time == GENESIS_TIME
    writes = Executor().genesis_writes(genesis)
    assert tip.state_root == state_root_of((k, v) for k, v in writes if v is not None)
    assert tip.validators == genesis.validators


def test_build_validate_commit_on_two_independent_nodes(two, regulator_key) -> None:
    a, b = two
    for height in (1, 2, 3):
        txs = [notary_tx(regulator_key, f"doc-{height}-{i}") for i in range(3)]
        block, writes = a.build(txs)
        assert block.height == height
        assert [r["code"] for r in block.results] == ["ok"] * 3
        assert b.app.validate_block(block) == writes
        a.commit(block, writes)
        b.commit(block, writes)
        assert a.app.tip == b.app.tip
        assert a.store.latest_hash() == b.store.latest_hash() == block.hash()
    hashes = [bytes.fromhex(a.store.get_block_hash(h)) for h in (1, 2)]
    assert a.store.get_block(3).header.history_root == merkle_root(hashes).hex()
    assert a.store.get_block(1).header.history_root == merkle_root([]).hex()
    assert a.store.get("notary/doc-2-1") == b.store.get("notary/doc-2-1") is not None


def test_failed_transactions_are_recorded_not_dropped(two, regulator_key) -> None:
    a, b = two
    unknown = build_transaction(chain_id=CHAIN_ID, contract="notary", method="erase",
                                args={}, nonce="n", keys=[regulator_key])
    txs = [notary_tx(regulator_key, "x"), notary_tx(regulator_key, "x", nonce="again"), unknown]
    block, writes = a.build(txs)
    assert [r["code"] for r in block.results] == ["ok", "already_recorded", "unknown_method"]
    b.app.validate_block(block)
    a.commit(block, writes)
    for i, tx in enumerate(txs):
        assert a.store.get_tx_location(tx.tx_id) == (1, i)


def replace_header(block: Block, **changes) -> Block:
    return Block(dataclasses.replace(block.header, **changes), block.txs, block.results)


def expect(app: Application, block: Block, code: str) -> None:
    before = app.tip
    with pytest.raises(BlockError) as err:
        app.validate_block(block)
    assert err.value.code == code, err.value.message
    assert app.tip == before


def test_validate_rejects_tampered_headers(two, regulator_key) -> None:
    a, b = two
    block, writes = a.build([notary_tx(regulator_key, "d1")])
    b.app.validate_block(block)
    zero = "00" * 32
    expect(b.app, replace_header(block, chain_id="other-chain"), "wrong_chain")
    expect(b.app, replace_header(block, height=2), "wrong_height")
    expect(b.app, replace_header(block, prev_hash=zero), "bad_prev_hash")
    expect(b.app, replace_header(block, time=GENESIS_TIME), "bad_time")
    expect(b.app, replace_header(block, time=GENESIS_TIME - 5), "bad_time")
    expect(b.app, replace_header(block, proposer=det_key("x").public_key_hex), "unknown_proposer")
    expect(b.app, replace_header(block, validators_hash=zero), "bad_validators_hash")
    expect(b.app, replace_header(block, history_root=zero), "bad_history_root")
    expect(b.app, replace_header(block, txs_root=zero), "bad_txs_root")
    expect(b.app, replace_header(block, results_root=zero), "bad_results_root")
    expect(b.app, replace_header(block, state_root=zero), "bad_state_root")
    expect(b.app, replace_header(block, next_validators_hash=zero), "bad_next_validators_hash")
    # results that commit correctly in the header but are not what execution gives
    fake = [dict(r, code="ok", events=[]) for r in block.results]
    forged = Block(
        dataclasses.replace(block.header, results_root=results_root(fake)), block.txs, tuple(fake)
    )
    expect(b.app, forged, "results_mismatch")
    # and the untampered block still validates and commits
    assert b.app.validate_block(block) == writes
    b.commit(block, writes)


def test_time_must_increase_when_building(two, regulator_key) -> None:
    a, _ = two
    with pytest.raises(BlockError) as err:
        a.build([notary_tx(regulator_key, "t")], time_ms=GENESIS_TIME)
    assert err.value.code == "bad_time"


def test_validate_rejects_duplicate_transactions(two, regulator_key) -> None:
    a, b = two
    tx = notary_tx(regulator_key, "dup")
    twice, _ = a.build([tx, tx])
    expect(b.app, twice, "duplicate_tx")
    block, writes = a.build([tx])
    a.commit(block, writes)
    b.app.validate_block(block)
    b.commit(block, writes)
    again, _ = a.build([tx])
    expect(b.app, again, "duplicate_tx")


def forged_signature(tx: Transaction) -> Transaction:
    sig = tx.signatures[0]
    bad = ("0" if sig[0] != "0" else "1") + sig[1:]
    return parse_transaction({"payload": dict(tx.payload), "signatures": [bad]})


def test_validate_rejects_bad_signatures(two, regulator_key) -> None:
    a, b = two
    bad = forged_signature(notary_tx(regulator_key, "sig"))
    block, _ = a.build([bad])  # the builder trusts its input; validators do not
    expect(b.app, block, "bad_signature")


def test_mempool_verified_transactions_skip_verification_only_if_identical(
    tmp_path: Path, genesis: Genesis, validator_key: PrivateKey, regulator_key: PrivateKey
) -> None:
    pool = Mempool()
    a = Chain(tmp_path / "a", genesis, validator_key)
    b = Chain(tmp_path / "b", genesis, validator_key, mempool=pool)
    try:
        good = notary_tx(regulator_key, "m")
        pool.add(good, 100)
        block, _ = a.build([forged_signature(good)])  # same id, other signature
        expect(b.app, block, "bad_signature")
        block, writes = a.build([good])
        assert b.app.validate_block(block) == writes
    finally:
        a.close()
        b.close()


def test_commit_requires_a_valid_certificate(two, regulator_key) -> None:
    a, _ = two
    block, writes = a.build([notary_tx(regulator_key, "c")])
    stranger = det_key("not-a-validator")
    with pytest.raises(BlockError) as err:
        a.app.commit_block(block, sign_commit(block, stranger, a.app.chain_id), writes)
    assert err.value.code == "unknown_validator"
    other, _ = a.build([notary_tx(regulator_key, "other")])
    with pytest.raises(BlockError) as err:
        a.app.commit_block(block, sign_commit(other, a.key, a.app.chain_id), writes)
    assert err.value.code == "commit_wrong_block"
    assert a.app.height == 0 and a.store.latest_height() == 0
    a.commit(block, writes)
    assert a.app.height == 1


def test_restart_continues_the_chain(tmp_path: Path, genesis, validator_key, regulator_key) -> None:
    ref = Chain(tmp_path / "ref", genesis, validator_key)
    node = Chain(tmp_path / "node", genesis, validator_key)
    for h in range(1, 6):
        block, writes = ref.build([notary_tx(regulator_key, f"r{h}")], time_ms=GENESIS_TIME + h)
        ref.commit(block, writes)
        node.app.validate_block(block)
        node.commit(block, writes)
        if h in (2, 4):  # restart the node from its store
            tip = node.app.tip
            records = list(node.store.db.iterator(prefix=TREE_PREFIX))
            node.close()
            node = Chain(tmp_path / "node", genesis, validator_key)
            assert node.app.tip == tip
            # the state tree continues from its records: nothing rebuilt or rewritten
            assert node.store.state_tree.latest_version == h
            assert node.store.state_tree.root(h).hex() == tip.state_root
            assert list(node.store.db.iterator(prefix=TREE_PREFIX)) == records
            assert node.app.history_root() == ref.app.history_root()
    assert node.app.tip == ref.app.tip
    ref.close()
    node.close()


def test_state_root_is_the_state_trees_root_with_proofs_at_every_height(
    tmp_path: Path, genesis, validator_key, regulator_key
) -> None:
    chain = Chain(tmp_path / "c", genesis, validator_key)
    states: dict[int, dict[str, bytes]] = {0: dict(chain.store.iter_prefix(""))}
    roots = {0: chain.app.tip.state_root}
    assert roots[0] == state_root_of(states[0].items())
    for h in range(1, 5):
        txs = [notary_tx(regulator_key, f"doc-{h}-{i}") for i in range(h)]
        block, writes = chain.build(txs)
        chain.commit(block, writes)
        states[h] = dict(chain.store.iter_prefix(""))
        roots[h] = block.header.state_root
        # independently: a fresh in-memory tree over the store's whole state
        assert roots[h] == state_root_of(states[h].items())
        assert chain.store.state_root() == roots[h] != roots[h - 1]
    tree = chain.store.state_tree
    key = b"notary/doc-2-1"
    for h in range(5):
        root = bytes.fromhex(roots[h])
        value = states[h].get(key.decode())
        assert (value is None) == (h < 2)
        proof = tree.prove(key, h)
        assert verify(root, key, value, proof)  # present from height 2, absent before
        assert not verify(root, key, b"other" if value is None else None, proof)
        for other, other_value in list(states[h].items())[:20]:
            assert verify(root, other.encode(), other_value, tree.prove(other.encode(), h))
        if h >= 2:  # a proof at one height does not verify against another height's root
            assert not verify(bytes.fromhex(roots[h - 1]), key, value, proof)
    chain.close()


def test_store_of_another_genesis_is_refused(tmp_path: Path, genesis, validator_key, regulator_key) -> None:
    Chain(tmp_path / "s", genesis, validator_key).close()
    other = make_genesis([(validator_key, 10)], regulator_key, chain_id="fcl-other")
    with Store(tmp_path / "s") as store:
        with pytest.raises(BlockError) as err:
            Application(store, Executor(), other)
        assert err.value.code == "genesis_mismatch"
        assert store.genesis_hash() == genesis.hash


def test_keys_sign_from_the_block_after_their_enrolment_until_revoked(two, regulator_key) -> None:
    a, b = two
    member = det_key("app-member")
    enrol = membership_tx(regulator_key, "enrol_key",
                          {"org_id": "regulator", "pub_key": member.public_key_hex})
    early = notary_tx(member, "early")
    # the enrolment and the member's first transaction in one block: the block starts from
    # a state without the key, so the proposer leaves the transaction out
    block, writes = a.build([enrol, early])
    assert list(block.txs) == [enrol] and block.results[0]["code"] == "ok"
    b.app.validate_block(block)
    a.commit(block, writes)
    b.commit(block, writes)
    assert a.app.signer_refusal(early) is None
    block, writes = a.build([early])
    assert list(block.txs) == [early] and block.results[0]["code"] == "ok"
    b.app.validate_block(block)
    a.commit(block, writes)
    b.commit(block, writes)
    revoke = membership_tx(regulator_key, "revoke_key", {"pub_key": member.public_key_hex})
    late = notary_tx(member, "late")
    # revoked inside the block: the executor's own check refuses it, committed as failed
    block, writes = a.build([revoke, late])
    assert [r["code"] for r in block.results] == ["ok", "unauthorized"]
    b.app.validate_block(block)
    a.commit(block, writes)
    b.commit(block, writes)
    # revoked before the block: left out, and a block carrying it is refused
    after = notary_tx(member, "after")
    assert "revoked" in (a.app.signer_refusal(after) or "")
    block, _ = a.build([after, notary_tx(regulator_key, "still")])
    assert [tx.signers for tx in block.txs] == [(regulator_key.public_key_hex,)]


def test_a_block_carrying_an_unenrolled_signer_is_refused(
    two, regulator_key, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = two
    outsider = notary_tx(det_key("app-outsider"), "outsider")
    # a proposer that ignores the rule (its own check switched off)
    monkeypatch.setattr(a.app, "signer_refusal", lambda tx: None)
    block, _ = a.build([notary_tx(regulator_key, "fine"), outsider])
    assert [r["code"] for r in block.results] == ["ok", "unauthorized"]
    verified = count_verifications(monkeypatch)
    for check in (b.app.validate_block, b.app.check_block):
        with pytest.raises(BlockError) as err:
            check(block)
        assert err.value.code == "unenrolled_signer"
        assert "not an enrolled key" in err.value.message
    assert verified == []  # refused before any signature was verified
    assert b.app.tip.height == 0
