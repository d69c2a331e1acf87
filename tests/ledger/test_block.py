"""Validator sets, headers, blocks and commit certificates."""

from __future__ import annotations

import pytest

from ledger.block import (
    Block,
    BlockHeader,
    CommitCertificate,
    results_root,
    tx_result,
    txs_root,
    vote_sign_bytes,
)
from ledger.crypto import PrivateKey, sha256
from ledger.errors import BlockError
from ledger.merkle import merkle_root
from ledger.tx import build_transaction
from ledger.validators import ValidatorSet

KEYS = [PrivateKey(sha256(bytes([i]))) for i in range(4)]
VSET = ValidatorSet.from_json(
    [{"name": f"v{i}", "power": 10, "pub_key": k.public_key_hex} for i, k in enumerate(KEYS)]
)
CHAIN = "fcl-test"
ZERO = "0" * 64


def test_quorum_arithmetic():
    assert VSET.total_power == 40
    assert not VSET.has_quorum(26) and VSET.has_quorum(27)
    assert VSET.quorum_power() == 27
    assert not VSET.has_one_third(13) and VSET.has_one_third(14)


def test_proposer_rotation_is_weighted_and_deterministic():
    vs = ValidatorSet.from_json(
        [{"name": "a", "power": 2, "pub_key": KEYS[0].public_key_hex},
         {"name": "b", "power": 1, "pub_key": KEYS[1].public_key_hex}]
    )
    seq = [vs.proposer(h, 0).name for h in range(6)]
    assert seq.count("a") == 4 and seq.count("b") == 2
    assert vs.proposer(1, 1) == vs.proposer(2, 0)


@pytest.mark.parametrize(
    "items",
    [
        [],
        "x",
        [{"name": "a", "power": 0, "pub_key": KEYS[0].public_key_hex}],
        [{"name": "a", "power": 1, "pub_key": "nothex"}],
        [{"name": "a", "power": 1}],
        [{"name": "a", "power": 1, "pub_key": KEYS[0].public_key_hex},
         {"name": "b", "power": 1, "pub_key": KEYS[0].public_key_hex}],
        [{"name": "a", "power": True, "pub_key": KEYS[0].public_key_hex}],
    ],
)
def test_bad_validator_sets(items):
    with pytest.raises(BlockError) as err:
        ValidatorSet.from_json(items)
    assert err.value.code == "invalid_validator_set"


def make_block(n_txs=3):
    txs = tuple(
        build_transaction(chain_id=CHAIN, contract="notary", method="record",
                          args={"i": i}, nonce=str(i), keys=[KEYS[0]])
        for i in range(n_txs)
    )
    results = tuple(tx_result(t.tx_id, "ok", "", []) for t in txs)
    header = BlockHeader(
        chain_id=CHAIN, height=1, time=5, prev_hash=ZERO, txs_root=txs_root(txs),
        results_root=results_root(results), state_root=ZERO, validators_hash=VSET.hash(),
        next_validators_hash=VSET.hash(), proposer=KEYS[0].public_key_hex,
        history_root=merkle_root([]).hex(),
    )
    return Block(header, txs, results)


def certify(block, keys, round_=0):
    msg = vote_sign_bytes("precommit", CHAIN, block.height, round_, block.hash())
    return CommitCertificate(block.height, round_, block.hash(),
                             tuple((k.public_key_hex, k.sign_hex(msg)) for k in keys))


def test_block_json_roundtrip_and_roots():
    block = make_block()
    again = Block.from_json(block.to_json())
    assert again.hash() == block.hash()
    again.check_roots()


def test_tampered_block_roots_detected():
    block = make_block()
    obj = block.to_json()
    obj["results"][1]["code"] = "failed"
    with pytest.raises(BlockError) as err:
        Block.from_json(obj).check_roots()
    assert err.value.code == "bad_results_root"
    obj = block.to_json()
    obj["txs"].pop()
    obj["results"].pop()
    with pytest.raises(BlockError) as err:
        Block.from_json(obj).check_roots()
    assert err.value.code == "bad_txs_root"


def test_header_rejects_malformed():
    obj = make_block().header.to_json()
    for field, bad in [("height", -1), ("time", "5"), ("prev_hash", "x"), ("proposer", ZERO[:10])]:
        o = dict(obj)
        o[field] = bad
        with pytest.raises(BlockError):
            BlockHeader.from_json(o)
    with pytest.raises(BlockError):
        BlockHeader.from_json({**obj, "extra": 1})


def test_commit_certificate_quorum():
    block = make_block()
    certify(block, KEYS[:3]).verify(CHAIN, VSET)
    with pytest.raises(BlockError) as err:
        certify(block, KEYS[:2]).verify(CHAIN, VSET)
    assert err.value.code == "insufficient_power"


def test_commit_certificate_rejections():
    block = make_block()
    good = certify(block, KEYS[:3])
    # roundtrip
    CommitCertificate.from_json(good.to_json()).verify(CHAIN, VSET)
    # wrong chain id
    with pytest.raises(BlockError) as err:
        good.verify("other-chain", VSET)
    assert err.value.code == "bad_commit_signature"
    # duplicate signer padding the power
    dup = CommitCertificate(1, 0, block.hash(), good.signatures[:2] + good.signatures[:1])
    with pytest.raises(BlockError) as err:
        dup.verify(CHAIN, VSET)
    assert err.value.code == "duplicate_signature"
    # a non-validator's signature
    outsider = PrivateKey(sha256(b"outsider"))
    bad = certify(block, [*KEYS[:2], outsider])
    with pytest.raises(BlockError) as err:
        bad.verify(CHAIN, VSET)
    assert err.value.code == "unknown_validator"
    # signature over another round
    other = certify(block, KEYS[:3], round_=1)
    moved = CommitCertificate(1, 0, block.hash(), other.signatures)
    with pytest.raises(BlockError) as err:
        moved.verify(CHAIN, VSET)
    assert err.value.code == "bad_commit_signature"


def test_commit_from_json_rejects_malformed():
    for bad in [None, {}, {"block_hash": ZERO, "height": "1", "round": 0, "signatures": []},
                {"block_hash": "x", "height": 1, "round": 0, "signatures": []},
                {"block_hash": ZERO, "height": 1, "round": 0, "signatures": [{"validator": "a"}]}]:
        with pytest.raises(BlockError):
            CommitCertificate.from_json(bad)


def test_a_stored_block_is_read_element_by_element_exactly() -> None:
    """``stored_block_header`` and ``stored_block_elements`` give the header and the
    canonical bytes of each transaction and result of ``canonical(block.to_json())``
    without decoding the rest -- also when strings hold quotes, brackets and the markers."""
    from ledger.block import stored_block_elements, stored_block_header
    from ledger.encoding import canonical

    txs = [{"payload": {"args": {"note": f'x"],"results":[{i}', "n": [[], {}]}}, "signatures": ["s"]}
           for i in range(5)]
    results = [{"code": "ok", "message": '},"results":["', "tx_id": str(i)} for i in range(5)]
    header = {"chain_id": "c", "height": 3, "time": 7}
    raw = canonical({"header": header, "results": results, "txs": txs})
    assert stored_block_header(raw) == header
    assert list(stored_block_elements(raw, "txs")) == [canonical(t) for t in txs]
    assert list(stored_block_elements(raw, "results")) == [canonical(r) for r in results]
    empty = canonical({"header": header, "results": [], "txs": []})
    assert list(stored_block_elements(empty, "txs")) == []
