"""Consensus messages, sign bytes, the persisted sign state and the configuration."""

from __future__ import annotations

import json

import pytest

from ledger.block import CommitCertificate, vote_sign_bytes
from ledger.crypto import PrivateKey, sha256, sha256_hex
from ledger.encoding import canonical
from ledger.validators import ValidatorSet
from node.consensus import (
    NIL,
    ConsensusConfig,
    MessageError,
    Proposal,
    SignState,
    SignStateError,
    Step,
    Vote,
    decode_message,
    proposal_sign_bytes,
)
from tests.support.sim.app import FakeApp, FakeBlock

CHAIN = "fcl-test"
KEYS = [PrivateKey(sha256(f"msg-test-{i}".encode())) for i in range(4)]
VSET = ValidatorSet.from_json(
    [{"name": f"v{i}", "power": 1, "pub_key": k.public_key_hex} for i, k in enumerate(KEYS)]
)
BLOCK = FakeApp().build(1, 1000, KEYS[1].public_key_hex, ["tx-a"])
HASH = BLOCK.hash()


def decode(data: bytes):
    return decode_message(data, FakeBlock.from_json, max_proposal_bytes=64 * 1024)


def test_vote_round_trip_and_sign_bytes():
    vote = Vote.sign(KEYS[0], "prevote", CHAIN, 3, 2, HASH)
    assert vote.sign_bytes() == vote_sign_bytes("prevote", CHAIN, 3, 2, HASH)
    assert vote.verify()
    data = vote.to_bytes()
    assert data == canonical(vote.to_json())
    assert decode(data) == vote
    nil = Vote.sign(KEYS[0], "precommit", CHAIN, 3, 2, NIL)
    assert decode(nil.to_bytes()) == nil and nil.block_hash == ""


def test_proposal_round_trip_and_sign_bytes():
    prop = Proposal.sign(KEYS[1], CHAIN, 2, BLOCK, 1)
    assert prop.sign_bytes() == canonical(
        {"type": "proposal", "chain_id": CHAIN, "height": 1, "round": 2,
         "block_hash": HASH, "pol_round": 1}
    )
    assert prop.sign_bytes() == proposal_sign_bytes(CHAIN, 1, 2, HASH, 1)
    assert prop.verify()
    back = decode(prop.to_bytes())
    assert isinstance(back, Proposal)
    assert back == prop and back.block == BLOCK and back.identity == prop.identity


def test_precommit_signatures_form_a_valid_commit_certificate():
    votes = [Vote.sign(k, "precommit", CHAIN, 1, 0, HASH) for k in KEYS[:3]]
    cert = CommitCertificate(1, 0, HASH, tuple(sorted((v.validator, v.signature)
                                                      for v in votes)))
    cert.verify(CHAIN, VSET)  # raises if not


def _vote_obj() -> dict:
    return Vote.sign(KEYS[0], "prevote", CHAIN, 1, 0, HASH).to_json()


def _prop_obj() -> dict:
    return Proposal.sign(KEYS[1], CHAIN, 1, BLOCK, -1).to_json()


@pytest.mark.parametrize(
    ("mutate", "what"),
    [
        (lambda o: o.pop("signature"), "missing field"),
        (lambda o: o.update(extra=1), "unknown field"),
        (lambda o: o.update(type="vote"), "unknown type"),
        (lambda o: o.update(chain_id="X"), "bad chain id"),
        (lambda o: o.update(height=0), "height 0"),
        (lambda o: o.update(height=True), "boolean height"),
        (lambda o: o.update(height="1"), "string height"),
        (lambda o: o.update(round=-1), "negative round"),
        (lambda o: o.update(round=2**31), "round too large"),
        (lambda o: o.update(block_hash="ab"), "short hash"),
        (lambda o: o.update(block_hash=HASH.upper()), "uppercase hash"),
        (lambda o: o.update(validator="00"), "bad validator key"),
        (lambda o: o.update(signature="zz" * 64), "non-hex signature"),
    ],
)
def test_vote_from_json_rejects(mutate, what):
    obj = _vote_obj()
    mutate(obj)
    with pytest.raises(MessageError) as err:
        decode(canonical(obj))
    assert err.value.code == "malformed_message", what


@pytest.mark.parametrize(
    ("mutate", "what"),
    [
        (lambda o: o.update(pol_round=1), "pol_round not below round"),
        (lambda o: o.update(pol_round=-2), "pol_round below -1"),
        (lambda o: o.update(block_hash=sha256_hex(b"x")), "hash of another block"),
        (lambda o: o["block"].update(height=2), "block of another height"),
        (lambda o: o["block"].update(txs=["not a tx"]), "block does not decode"),
        (lambda o: o.update(block=[]), "block is not an object"),
        (lambda o: o.update(proposer="x"), "bad proposer key"),
    ],
)
def test_proposal_from_json_rejects(mutate, what):
    obj = _prop_obj()
    mutate(obj)
    with pytest.raises(MessageError) as err:
        decode(canonical(obj))
    assert err.value.code == "malformed_message", what


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xff\xfe",
        b"[]",
        b"null",
        b'{"type": "prevote", "height": 1.5}',
        b'{"type": "prevote", "type": "prevote"}',
        json.dumps({"type": "precommit"}).encode(),
    ],
)
def test_garbage_is_malformed(data):
    with pytest.raises(MessageError) as err:
        decode(data)
    assert err.value.code == "malformed_message"


def test_size_limits():
    vote = Vote.sign(KEYS[0], "prevote", CHAIN, 1, 0, HASH)
    padded = json.dumps(vote.to_json(), indent=200).encode()  # same vote, > 1 KiB
    assert len(padded) > 1024
    with pytest.raises(MessageError) as err:
        decode_message(padded, FakeBlock.from_json)
    assert err.value.code == "oversized_message"
    with pytest.raises(MessageError) as err:
        decode_message(b" " * 70_000, FakeBlock.from_json, max_proposal_bytes=65_536)
    assert err.value.code == "oversized_message"


def test_sign_state_round_trip_and_permits():
    st = SignState(height=5, round=2, step=Step.PREVOTE, sign_digest=sha256_hex(b"a"),
                   block_hash=HASH, locked_round=1, locked_hash=HASH, valid_round=1,
                   valid_block=BLOCK.to_json(), valid_pol=(_vote_obj(),),
                   votes=(_vote_obj(),))
    assert SignState.from_json(json.loads(json.dumps(st.to_json()))) == st
    assert st.permits(5, 2, Step.PRECOMMIT, "anything")
    assert st.permits(5, 3, Step.PROPOSE, "anything")
    assert st.permits(6, 0, Step.PROPOSE, "anything")
    assert st.permits(5, 2, Step.PREVOTE, sha256_hex(b"a"))  # the very same statement
    assert not st.permits(5, 2, Step.PREVOTE, sha256_hex(b"b"))
    assert not st.permits(5, 2, Step.PROPOSE, sha256_hex(b"a"))
    assert not st.permits(5, 1, Step.PRECOMMIT, "anything")
    assert not st.permits(4, 9, Step.PRECOMMIT, "anything")
    assert SignState().permits(1, 0, Step.PROPOSE, "x")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("height", -1),
        ("height", "1"),
        ("step", "commit"),
        ("sign_digest", "abc"),
        ("locked_round", -2),
        ("locked_hash", HASH),  # set without locked_round
        ("valid_block", {"x": 1}),  # set without valid_round
        ("valid_pol", {}),
        ("votes", [1]),
        ("votes", [_vote_obj()] * 9),
    ],
)
def test_sign_state_from_json_rejects(field, value):
    obj = SignState().to_json()
    obj[field] = value
    with pytest.raises(SignStateError) as err:
        SignState.from_json(obj)
    assert err.value.code == "malformed_sign_state"
    with pytest.raises(SignStateError):
        SignState.from_json({**SignState().to_json(), "extra": 1})


def test_config_timeouts_rise_with_the_round_and_are_capped():
    cfg = ConsensusConfig()
    assert [cfg.timeout_ms("propose", r) for r in range(3)] == [3000, 3500, 4000]
    assert [cfg.timeout_ms("prevote", r) for r in range(3)] == [1000, 1500, 2000]
    assert [cfg.timeout_ms("precommit", r) for r in range(3)] == [1000, 1500, 2000]
    assert cfg.timeout_ms("rebroadcast", 7) == cfg.rebroadcast_ms
    assert cfg.timeout_ms("propose", 10**6) == cfg.max_timeout_ms
    with pytest.raises(ValueError):
        cfg.timeout_ms("commit", 0)
    with pytest.raises(ValueError):
        ConsensusConfig(timeout_propose_ms=0)
    with pytest.raises(ValueError):
        ConsensusConfig(rebroadcast_ms=-5)
