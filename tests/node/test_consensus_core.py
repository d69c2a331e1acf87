"""The consensus core's rules (Algorithm 1 of arXiv:1807.04938), driven event by event."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from ledger.block import CommitCertificate
from ledger.crypto import PrivateKey, sha256, sha256_hex
from ledger.encoding import canonical
from ledger.validators import ValidatorSet
from node.consensus import (
    NIL,
    BuildProposal,
    Commit,
    CommitCertificateReceived,
    ConsensusConfig,
    ConsensusCore,
    EquivocationDetected,
    MessageReceived,
    PeerAhead,
    PeerBehind,
    Proposal,
    ProposalBuilt,
    ProposalValidated,
    Ready,
    ScheduleTimeout,
    SignState,
    StartHeight,
    Step,
    SyncRefused,
    TimeoutFired,
    ValidateProposal,
    Vote,
)
from tests.support.sim.app import FakeApp, FakeBlock

CHAIN = "fcl-test"
KEYS = [PrivateKey(sha256(f"core-test-{i}".encode())) for i in range(4)]
PUB = [k.public_key_hex for k in KEYS]
VSET = ValidatorSet.from_json(
    [{"name": f"v{i}", "power": 1, "pub_key": p} for i, p in enumerate(PUB)]
)
CFG = ConsensusConfig(
    timeout_propose_ms=300, timeout_propose_delta_ms=100, timeout_prevote_ms=100,
    timeout_prevote_delta_ms=50, timeout_precommit_ms=100, timeout_precommit_delta_ms=50,
    rebroadcast_ms=1000, max_proposal_bytes=64 * 1024,
)
OUTSIDER = PrivateKey(sha256(b"not-a-validator"))


def blk(tag: str, height: int = 1) -> FakeBlock:
    """A valid block at ``height`` on an empty chain (height 1) with one tx."""
    app = FakeApp()
    if height > 1:
        raise AssertionError("only height 1 blocks here")
    return app.build(height, 1000, PUB[0], [f"tx-{tag}"])


B = blk("b")
C = blk("c")


def proposer(h: int, r: int) -> int:
    return PUB.index(VSET.proposer(h, r).pub_key)


def core(i: int = 0, sign_state: SignState | None = None, vset: ValidatorSet = VSET,
         key: PrivateKey | None = None) -> ConsensusCore:
    return ConsensusCore(chain_id=CHAIN, private_key=key or KEYS[i],
                         decode_block=FakeBlock.from_json, config=CFG, sign_state=sign_state)


def start(c: ConsensusCore, h: int = 1, vset: ValidatorSet = VSET) -> list[Ready]:
    return [c.handle(StartHeight(h, vset, 1000))]


def prop(block: FakeBlock, r: int, pol: int = -1, signer: int | None = None) -> MessageReceived:
    key = KEYS[proposer(block.height, r) if signer is None else signer]
    return MessageReceived(Proposal.sign(key, CHAIN, r, block, pol).to_bytes())


def vote(i: int, kind: str, r: int, block_hash: str, h: int = 1,
         key: PrivateKey | None = None) -> MessageReceived:
    return MessageReceived(Vote.sign(key or KEYS[i], kind, CHAIN, h, r, block_hash).to_bytes())


Out = Ready | list[Ready]  # one batch, or the batches of several events in order


def batches(out: Out) -> list[Ready]:
    return [out] if isinstance(out, Ready) else out


def actions(out: Out) -> list:
    return [a for r in batches(out) for a in r.actions()]


def persisted(out: Out) -> list[SignState]:
    return [r.persist for r in batches(out) if r.persist is not None]


def sent(out: Out) -> list:
    return [a.message for r in batches(out) for a in r.sends]


def sent_votes(out: Out, kind: str) -> list[str]:
    return [m.block_hash for m in sent(out) if isinstance(m, Vote) and m.kind == kind]


def of(out: Out, cls: type) -> list:
    return [a for a in actions(out) if isinstance(a, cls)]


def feed(c: ConsensusCore, *events) -> list[Ready]:
    return [c.handle(ev) for ev in events]


def validated(block: FakeBlock, ok: bool = True) -> ProposalValidated:
    return ProposalValidated(block.hash(), ok)


def to_round(c: ConsensusCore, r: int) -> list:
    """Move ``c`` (height 1) to round ``r`` via nil prevotes/precommits and timeouts."""
    out: list = []
    while c.round < r:
        cur = c.round
        others = [i for i in range(4) if PUB[i] != c.public_key][:3]
        out += feed(c, TimeoutFired("propose", 1, cur))
        out += feed(c, *[vote(i, "prevote", cur, NIL) for i in others])
        out += feed(c, *[vote(i, "precommit", cur, NIL) for i in others])
        out += feed(c, TimeoutFired("precommit", 1, cur))
    return out


def check_persist_before_broadcast(out: Out, me: str) -> None:
    """Every own signed message is covered by the sign state its batch persists (which a
    driver makes durable before sending anything), or by one persisted in an earlier batch
    of ``out``, at or past its position."""
    covered = (0, 0, 0)
    steps = {"proposal": 1, "prevote": 2, "precommit": 3}
    for ready in batches(out):
        if ready.persist is not None:
            covered = ready.persist.position
        for a in ready.sends:
            m = a.message
            if m.signer == me:
                assert covered >= (m.height, m.round, steps[m.kind])


# -- the happy path ------------------------------------------------------------------------
def test_single_validator_commits_alone_in_order():
    solo_key = KEYS[0]
    solo = ValidatorSet.from_json([{"name": "solo", "power": 1, "pub_key": PUB[0]}])
    c = core(0)
    out = start(c, 1, solo)
    assert of(out, BuildProposal) == [BuildProposal(1, 0, 1000)]
    out = c.handle(ProposalBuilt(1, 0, B))
    # one sign state to persist (the last signed step, covering all three messages), then
    # the proposal, the prevote and the precommit, then the commit
    assert out.persist is not None and out.persist.position == (1, 0, int(Step.PRECOMMIT))
    kinds = [type(a).__name__ for a in out.actions()]
    assert kinds == ["Broadcast", "Broadcast", "Broadcast", "Commit"]
    assert [m.kind for m in sent(out)] == ["proposal", "prevote", "precommit"]
    check_persist_before_broadcast(out, solo_key.public_key_hex)
    commit = of(out, Commit)[0]
    assert commit.height == 1 and commit.block == B
    commit.certificate.verify(CHAIN, solo)
    assert c.decided and c.stats["commits"] == 1
    out = c.handle(StartHeight(2, solo, 2000))
    assert of(out, BuildProposal) == [BuildProposal(2, 0, 2000)]


def test_four_validators_happy_path_from_one_node():
    c = core(0)
    out = start(c)
    assert proposer(1, 0) != 0 and not of(out, BuildProposal)
    assert of(out, ScheduleTimeout)[-1] == ScheduleTimeout("propose", 1, 0, 300)
    out = c.handle(prop(B, 0))
    assert of(out, ValidateProposal) == [ValidateProposal(1, 0, B)]
    assert not sent(out)  # waits for the application
    out = c.handle(validated(B))
    assert sent_votes(out, "prevote") == [B.hash()]
    check_persist_before_broadcast(out, PUB[0])
    out = feed(c, vote(1, "prevote", 0, B.hash()), vote(2, "prevote", 0, B.hash()))
    assert sent_votes(out, "precommit") == [B.hash()]
    assert c.locked == (0, B.hash()) and c.valid == (0, B.hash())
    assert c.sign_state.locked_hash == B.hash()  # the lock is persisted with the vote
    out = feed(c, vote(1, "precommit", 0, B.hash()), vote(3, "precommit", 0, B.hash()))
    [commit] = of(out, Commit)
    assert commit.block == B and len(commit.certificate.signatures) == 3
    commit.certificate.verify(CHAIN, VSET)
    assert c.stats["signatures_checked"] == 5


def test_invalid_proposal_gets_a_nil_prevote():
    c = core(0)
    start(c)
    out = feed(c, prop(B, 0), validated(B, ok=False))
    assert sent_votes(out, "prevote") == [NIL]
    assert c.stats["invalid_proposal"] == 1


def test_validation_is_requested_once_per_block():
    c = core(0)
    start(c)
    feed(c, prop(B, 0), validated(B))
    to_round(c, 1)
    out = c.handle(prop(B, 1, pol=-1))
    assert not of(out, ValidateProposal)  # the answer for B is remembered
    assert sent_votes(out, "prevote") == [B.hash()]  # not locked, B valid: line 24
    assert c.stats.get("stale_validation", 0) == 0
    c.handle(validated(B))  # an answer nobody asked for (any more) is ignored
    assert c.stats["stale_validation"] == 1


# -- timeouts ------------------------------------------------------------------------------
def test_timeouts_rise_and_drive_rounds():
    c = core(0)
    out = start(c)
    durations = [a.duration_ms for a in of(out, ScheduleTimeout) if a.kind == "propose"]
    out = c.handle(TimeoutFired("propose", 1, 0))  # line 57-60
    assert sent_votes(out, "prevote") == [NIL] and c.step == Step.PREVOTE
    out = feed(c, vote(1, "prevote", 0, B.hash()), vote(2, "prevote", 0, NIL))
    assert of(out, ScheduleTimeout) == [ScheduleTimeout("prevote", 1, 0, 100)]  # line 34
    out = c.handle(TimeoutFired("prevote", 1, 0))  # line 61-64
    assert sent_votes(out, "precommit") == [NIL] and c.step == Step.PRECOMMIT
    out = feed(c, vote(1, "precommit", 0, NIL), vote(2, "precommit", 0, B.hash()))
    assert of(out, ScheduleTimeout) == [ScheduleTimeout("precommit", 1, 0, 100)]  # line 47
    out = c.handle(TimeoutFired("precommit", 1, 0))  # line 65-67
    assert c.round == 1 and c.step == Step.PROPOSE
    durations += [a.duration_ms for a in of(out, ScheduleTimeout) if a.kind == "propose"]
    to_round(c, 2)
    assert c.round == 2
    out = to_round(c, 3)
    durations += [a.duration_ms for a in of(out, ScheduleTimeout) if a.kind == "propose"]
    assert durations == [300, 400, 600]  # base + round * delta


def test_stale_timeouts_are_ignored():
    c = core(0)
    start(c)
    for ev in (TimeoutFired("propose", 1, 5), TimeoutFired("prevote", 1, 0),
               TimeoutFired("precommit", 2, 0), TimeoutFired("propose", 0, 0)):
        assert not sent(c.handle(ev))
    assert c.round == 0 and c.step == Step.PROPOSE
    assert c.stats["stale_timeout"] == 4
    with pytest.raises(ValueError):
        c.handle(TimeoutFired("commit", 1, 0))


# -- locking and the valid value -----------------------------------------------------------
def lock_on_b_in_round_0(c: ConsensusCore) -> None:
    feed(c, prop(B, 0), validated(B), vote(1, "prevote", 0, B.hash()),
         vote(2, "prevote", 0, B.hash()))
    assert c.locked == (0, B.hash())
    feed(c, vote(1, "precommit", 0, NIL), vote(2, "precommit", 0, NIL),
         TimeoutFired("precommit", 1, 0))
    assert c.round == 1


def test_locked_node_prevotes_nil_for_another_block():
    c = core(0)
    start(c)
    lock_on_b_in_round_0(c)
    out = feed(c, prop(C, 1), validated(C))  # lines 22-26: locked on B, C has no POL
    assert sent_votes(out, "prevote") == [NIL]


def test_locked_node_prevotes_its_locked_block_again():
    c = core(0)
    start(c)
    lock_on_b_in_round_0(c)
    out = c.handle(prop(B, 1))  # line 23: lockedValue = v
    assert sent_votes(out, "prevote") == [B.hash()]


def test_locked_node_accepts_a_proof_of_lock_from_a_later_round():
    c = core(0)
    start(c)
    lock_on_b_in_round_0(c)
    # round 1: the others prevote C (a POL for C at round 1 >= lockedRound 0) ...
    feed(c, prop(C, 1), validated(C))
    feed(c, *[vote(i, "prevote", 1, C.hash()) for i in (1, 2, 3)])
    feed(c, *[vote(i, "precommit", 1, NIL) for i in (1, 2, 3)], TimeoutFired("precommit", 1, 1))
    assert c.round == 2
    # ... so a round-2 proposal of C with pol_round 1 gets our prevote (lines 28-30)
    out = c.handle(prop(C, 2, pol=1))
    assert sent_votes(out, "prevote") == [C.hash()]


def test_locked_node_rejects_a_proof_of_lock_older_than_its_lock():
    c = core(0)
    start(c)
    # round 0: 2f+1 prevote C, but we miss C's proposal, so we do not lock on C
    feed(c, TimeoutFired("propose", 1, 0),
         *[vote(i, "prevote", 0, C.hash()) for i in (1, 2, 3)])
    feed(c, TimeoutFired("prevote", 1, 0), *[vote(i, "precommit", 0, NIL) for i in (1, 2)],
         TimeoutFired("precommit", 1, 0))
    # round 1: we lock on B
    feed(c, prop(B, 1), validated(B), vote(1, "prevote", 1, B.hash()),
         vote(2, "prevote", 1, B.hash()))
    assert c.locked == (1, B.hash())
    feed(c, vote(1, "precommit", 1, NIL), vote(2, "precommit", 1, NIL),
         TimeoutFired("precommit", 1, 1))
    # round 2: C re-proposed with its round-0 POL: 0 < lockedRound 1 -> nil (line 32)
    out = feed(c, prop(C, 2, pol=0), validated(C))
    assert sent_votes(out, "prevote") == [NIL]


def test_proof_of_lock_must_be_present_before_prevoting():
    c = core(0)
    start(c)
    to_round(c, 1)
    out = feed(c, prop(C, 1, pol=0), validated(C))
    assert not sent_votes(out, "prevote")  # line 28 needs 2f+1 prevotes at round 0
    out = feed(c, *[vote(i, "prevote", 0, C.hash()) for i in (1, 2, 3)])
    assert sent_votes(out, "prevote") == [C.hash()]


def test_valid_value_is_re_proposed_with_its_round():
    c = core(0)
    start(c)
    # round 0: B is proposed, we time out on prevote first (step precommit, nil) ...
    feed(c, TimeoutFired("propose", 1, 0), vote(1, "prevote", 0, NIL),
         vote(2, "prevote", 0, NIL), TimeoutFired("prevote", 1, 0))
    assert c.step == Step.PRECOMMIT
    # ... then the proposal and 2f+1 prevotes for B arrive: valid value, no lock (36-43)
    feed(c, prop(B, 0), validated(B), vote(3, "prevote", 0, B.hash()))
    assert c.valid == (-1, "")  # only 1 prevote for B so far
    other = PrivateKey(sha256(b"spare"))  # not a validator: does not count
    feed(c, vote(0, "prevote", 0, B.hash(), key=other))
    assert c.valid == (-1, "")
    c2 = core(0)
    start(c2)
    feed(c2, TimeoutFired("propose", 1, 0), vote(1, "prevote", 0, B.hash()),
         vote(2, "prevote", 0, B.hash()), TimeoutFired("prevote", 1, 0))
    feed(c2, prop(B, 0), validated(B), vote(3, "prevote", 0, B.hash()))
    assert c2.valid == (0, B.hash()) and c2.locked == (-1, "")
    # the node proposes in a later round: validValue with validRound, no BuildProposal
    out = to_round(c2, 3)  # proposer(1, 3) = v0
    assert proposer(1, 3) == 0
    proposals = [m for m in sent(out) if isinstance(m, Proposal)]
    assert [(p.block_hash, p.pol_round, p.round) for p in proposals] == [(B.hash(), 0, 3)]
    assert not of(out, BuildProposal)


# -- round skip, proposer rotation ------------------------------------------------------------
def test_round_skip_on_f_plus_one_messages_of_a_higher_round():
    c = core(0)
    start(c)
    c.handle(vote(1, "prevote", 5, NIL))
    assert c.round == 0  # f = 1 message: not enough
    out = c.handle(vote(2, "precommit", 5, NIL))  # f+1 = 2 validators in round 5
    assert c.round == 5 and c.step == Step.PROPOSE
    assert ScheduleTimeout("propose", 1, 5, 800) in out.timers
    assert c.stats["round_skips"] == 1


def test_messages_too_many_rounds_ahead_are_dropped():
    c = core(0)
    start(c)
    c.handle(vote(1, "prevote", CFG.max_round_lookahead + 1, NIL))
    assert c.stats["round_too_far"] == 1


def test_proposer_rotation_and_only_the_proposer_builds():
    for h in (1, 2):
        for r in range(6):
            assert proposer(h, r) == (h + r) % 4
    weighted = ValidatorSet.from_json(
        [{"name": "a", "power": 2, "pub_key": PUB[0]}, {"name": "b", "power": 1,
                                                      "pub_key": PUB[1]}]
    )
    assert [weighted.proposer(1, r).name for r in range(6)] == ["a", "b", "a", "a", "b", "a"]
    c = core(3)  # proposer(1, 2) = v3
    out = start(c)
    assert not of(out, BuildProposal)
    out = to_round(c, 2)
    assert of(out, BuildProposal) == [BuildProposal(1, 2, 1000)]
    out = c.handle(ProposalBuilt(1, 2, C))
    assert [m.block_hash for m in sent(out) if isinstance(m, Proposal)] == [C.hash()]
    assert sent_votes(out, "prevote") == [C.hash()]  # its own block, validated by building


def test_proposal_from_the_wrong_proposer_is_dropped():
    c = core(0)
    start(c)
    out = c.handle(prop(B, 0, signer=2))
    assert not of(out, ValidateProposal)
    assert c.stats["wrong_proposer"] == 1
    assert c.stats.get("signatures_checked", 0) == 0


def test_stale_proposal_built_is_ignored():
    c = core(1)  # proposer of (1, 0)
    start(c)
    c.handle(TimeoutFired("propose", 1, 0))
    out = c.handle(ProposalBuilt(1, 0, B))
    assert not sent(out) and c.stats["stale_proposal_built"] == 1


# -- Byzantine input ----------------------------------------------------------------------
def test_equivocating_proposer_is_detected():
    c = core(0)
    start(c)
    c.handle(prop(B, 0))
    out = c.handle(prop(C, 0))
    [ev] = of(out, EquivocationDetected)
    assert ev.validator == PUB[proposer(1, 0)] and ev.kind == "proposal"
    assert {ev.first.block_hash, ev.second.block_hash} == {B.hash(), C.hash()}
    assert c.stats["equivocation"] == 1
    # we prevote for at most one of them
    out = feed(c, validated(B), validated(C))
    assert len(sent_votes(out, "prevote")) == 1


def test_conflicting_votes_are_evidence_and_both_counted_once_per_value():
    c = core(0)
    start(c)
    c.handle(vote(1, "prevote", 0, B.hash()))
    out = c.handle(vote(1, "prevote", 0, C.hash()))
    assert len(of(out, EquivocationDetected)) == 1
    out = c.handle(vote(1, "prevote", 0, C.hash()))  # exact duplicate: dropped unverified
    assert not of(out, EquivocationDetected)
    assert c.stats["signatures_checked"] == 2 and c.stats["duplicate"] == 1
    # v1 counts once towards "2f+1 prevotes of any value": v1 + v2 is not a quorum
    out = c.handle(vote(2, "prevote", 0, NIL))
    assert not [a for a in of(out, ScheduleTimeout) if a.kind == "prevote"]


def test_messages_from_non_validators_are_dropped_and_counted():
    c = core(0)
    start(c)
    out = feed(c, vote(0, "prevote", 0, B.hash(), key=OUTSIDER),
               vote(0, "precommit", 5, NIL, key=OUTSIDER),
               MessageReceived(Proposal.sign(OUTSIDER, CHAIN, 0, B, -1).to_bytes()))
    assert not of(out, ValidateProposal) and c.round == 0
    assert c.stats["non_validator"] == 3
    assert c.stats.get("signatures_checked", 0) == 0


def test_bad_signatures_are_dropped_and_counted_once():
    c = core(0)
    start(c)
    good = Vote.sign(KEYS[1], "prevote", CHAIN, 1, 0, B.hash())
    forged = Vote(good.kind, CHAIN, 1, 0, C.hash(), PUB[1], good.signature)
    data = forged.to_bytes()
    feed(c, MessageReceived(data), MessageReceived(data))
    assert c.stats["bad_signature"] == 1 and c.stats["duplicate"] == 1
    assert c.stats["signatures_checked"] == 1
    bad_prop = Proposal.sign(KEYS[1], CHAIN, 0, B, -1)
    bad_prop = Proposal(CHAIN, 1, 0, -1, B.hash(), bad_prop.proposer, "00" * 64, B)
    out = c.handle(MessageReceived(bad_prop.to_bytes()))
    assert not of(out, ValidateProposal) and c.stats["bad_signature"] == 2
    # the genuine vote is still accepted afterwards
    c.handle(MessageReceived(good.to_bytes()))
    assert c.stats["signatures_checked"] == 3 and c.stats["bad_signature"] == 2


def test_garbage_wrong_chain_and_oversized_are_dropped_and_counted():
    c = core(0)
    start(c)
    other_chain = Vote.sign(KEYS[1], "prevote", "other-chain", 1, 0, NIL).to_bytes()
    feed(c, MessageReceived(b"\x00garbage"), MessageReceived(other_chain),
         MessageReceived(b" " * (CFG.max_proposal_bytes + 1)),
         MessageReceived(canonical({"type": "prevote"})))
    stats = c.stats
    assert stats["malformed_message"] == 2
    assert stats["wrong_chain"] == 1
    assert stats["oversized_message"] == 1
    assert c.round == 0 and c.step == Step.PROPOSE


# -- heights, sync, buffering --------------------------------------------------------------
def test_future_height_messages_are_buffered_and_replayed():
    c = core(0)
    start(c)
    out = feed(c, vote(1, "prevote", 0, B.hash(), h=2), vote(2, "prevote", 0, B.hash(), h=2))
    assert c.stats["future_buffered"] == 2
    assert not of(out, PeerAhead)  # one height ahead, and we have not been waiting
    c.handle(vote(1, "prevote", 0, NIL, h=9))
    assert c.stats["future_too_far"] == 1
    cert = CommitCertificate(1, 0, B.hash(), tuple(sorted(
        (PUB[i], Vote.sign(KEYS[i], "precommit", CHAIN, 1, 0, B.hash()).signature)
        for i in (1, 2, 3))))
    out = c.handle(CommitCertificateReceived(B, cert))
    assert of(out, Commit)[0].block == B
    c.handle(StartHeight(2, VSET, 2000))
    assert c.height == 2 and c.stats["signatures_checked"] == 2  # replayed and verified


def test_future_buffer_is_bounded():
    small = ConsensusConfig(max_buffered_messages=3, max_buffered_per_signer=2)
    c = ConsensusCore(chain_id=CHAIN, private_key=KEYS[0], decode_block=FakeBlock.from_json,
                      config=small)
    start(c)
    feed(c, *[vote(1, "prevote", r, NIL, h=2) for r in range(3)])
    assert c.stats["future_buffered"] == 2 and c.stats["future_buffer_full"] == 1
    feed(c, *[vote(i, "prevote", 0, NIL, h=2) for i in (2, 3)])
    assert c.stats["future_buffered"] == 3 and c.stats["future_buffer_full"] == 2


def test_jump_ahead_with_a_commit_certificate_and_bad_certificates():
    c = core(0)
    start(c)
    sigs = [(PUB[i], Vote.sign(KEYS[i], "precommit", CHAIN, 1, 4, B.hash()).signature)
            for i in (1, 2, 3)]
    weak = CommitCertificate(1, 4, B.hash(), tuple(sorted(sigs[:2])))
    other = CommitCertificate(1, 4, C.hash(), tuple(sorted(sigs)))
    out = feed(c, CommitCertificateReceived(B, weak), CommitCertificateReceived(C, other))
    assert not of(out, Commit) and c.stats["bad_certificate"] == 2
    cert = CommitCertificate(1, 4, B.hash(), tuple(sorted(sigs)))
    [commit] = of(c.handle(CommitCertificateReceived(B, cert)), Commit)
    assert commit.certificate == cert and c.decided
    again = c.handle(CommitCertificateReceived(B, cert, "peer-x"))
    assert again.persist is None and again.actions() == (SyncRefused(1, "peer-x", "decided"),)
    assert c.stats["stale_certificate"] == 1


def test_decision_via_precommits_of_an_earlier_round():
    c = core(0)
    start(c)
    c.handle(prop(B, 0))
    to_round(c, 2)
    out = feed(c, validated(B), *[vote(i, "precommit", 0, B.hash()) for i in (1, 2, 3)])
    [commit] = of(out, Commit)  # line 49 for r = 0 < round 2
    assert commit.certificate.round == 0


def test_peer_behind_hint_is_rate_limited():
    c = core(0)
    start(c, 3)
    out = feed(c, vote(1, "prevote", 0, NIL, h=1), vote(1, "precommit", 0, NIL, h=1),
               vote(0, "prevote", 0, NIL, h=1, key=OUTSIDER))
    assert of(out, PeerBehind) == [PeerBehind(PUB[1], 1)]
    out = feed(c, TimeoutFired("rebroadcast", 3, 0), vote(1, "prevote", 1, NIL, h=2))
    assert of(out, PeerBehind) == [PeerBehind(PUB[1], 2)]
    out = c.handle(vote(2, "prevote", 0, NIL, h=5))
    assert of(out, PeerAhead) == [PeerAhead(PUB[2], 5)]


def test_validator_set_changes_per_height():
    c = core(0)
    start(c)
    cert = CommitCertificate(1, 0, B.hash(), tuple(sorted(
        (PUB[i], Vote.sign(KEYS[i], "precommit", CHAIN, 1, 0, B.hash()).signature)
        for i in (1, 2, 3))))
    c.handle(CommitCertificateReceived(B, cert))
    new_key = PrivateKey(sha256(b"new-validator"))
    new_set = ValidatorSet.from_json(
        [{"name": "v0", "power": 1, "pub_key": PUB[0]},
         {"name": "n", "power": 1, "pub_key": new_key.public_key_hex}]
    )
    c.handle(StartHeight(2, new_set, 2000))
    c.handle(vote(1, "prevote", 0, NIL, h=2))  # v1 is no longer a validator
    c.handle(vote(0, "prevote", 0, NIL, h=2, key=new_key))
    assert c.stats["non_validator"] == 1 and c.stats["signatures_checked"] == 1


def test_observer_without_key_decides_but_never_signs():
    c = ConsensusCore(chain_id=CHAIN, private_key=None, decode_block=FakeBlock.from_json,
                      config=CFG)
    out = start(c)
    out += feed(c, prop(B, 0), validated(B), TimeoutFired("propose", 1, 0),
                *[vote(i, "prevote", 0, B.hash()) for i in (1, 2, 3)],
                *[vote(i, "precommit", 0, B.hash()) for i in (1, 2, 3)])
    assert not sent(out) and not persisted(out)
    assert of(out, Commit)[0].block == B


# -- crash and restart: no double signing ------------------------------------------------------
def test_restart_never_signs_a_conflicting_vote():
    c = core(0)
    start(c)
    feed(c, prop(B, 0), validated(B))  # prevoted B at (1, 0)
    saved = SignState.from_json(c.sign_state.to_json())
    assert saved.position == (1, 0, int(Step.PREVOTE)) and saved.block_hash == B.hash()
    # restart: memory is gone, the proposal now seen is C (an equivocating proposer)
    r = core(0, sign_state=saved)
    out = start(r)
    out += feed(r, prop(C, 0), validated(C), TimeoutFired("propose", 1, 0))
    assert all(v == B.hash() for v in sent_votes(out, "prevote"))
    assert r.step == Step.PREVOTE  # its prevote from before the crash was taken back
    # 2f+1 prevotes for C now arrive: it may lock on C and precommit C (a new step)
    out = feed(r, *[vote(i, "prevote", 0, C.hash()) for i in (1, 2, 3)])
    assert sent_votes(out, "precommit") == [C.hash()]
    check_persist_before_broadcast(out, PUB[0])


def test_restart_re_sends_its_persisted_votes_without_new_signatures():
    c = core(0)
    start(c)
    feed(c, prop(B, 0), validated(B), TimeoutFired("propose", 1, 0))
    before = list(c.handle(TimeoutFired("rebroadcast", 1, 0)).sends)
    r = core(0, sign_state=SignState.from_json(c.sign_state.to_json()))
    start(r)
    out = r.handle(TimeoutFired("rebroadcast", 1, 0))
    assert [a.message for a in out.sends] == [b.message for b in before]
    assert not persisted(out) and r.stats.get("signed", 0) == 0


def test_lock_survives_a_restart():
    c = core(0)
    start(c)
    lock_on_b_in_round_0(c)
    r = core(0, sign_state=SignState.from_json(c.sign_state.to_json()))
    start(r)
    assert r.locked == (0, B.hash()) and r.valid == (0, B.hash())
    assert r.round == 1  # restarts after its valid round
    out = feed(r, prop(C, 1), validated(C))
    assert sent_votes(out, "prevote") == [NIL]


def test_restart_with_persisted_valid_value_re_proposes_it():
    c = core(2)  # proposer(1, 1) = v2
    start(c)
    feed(c, prop(B, 0), validated(B), vote(1, "prevote", 0, B.hash()),
         vote(3, "prevote", 0, B.hash()))
    assert c.locked == (0, B.hash())
    saved = SignState.from_json(c.sign_state.to_json())
    assert len(saved.valid_pol) == 3
    r = core(2, sign_state=saved)
    out = start(r)
    proposals = [m for m in sent(out) if isinstance(m, Proposal)]
    assert [(p.round, p.block_hash, p.pol_round) for p in proposals] == [(1, B.hash(), 0)]
    assert sent_votes(out, "prevote") == [B.hash()]  # line 28 with the restored POL


def test_restart_at_a_later_height_than_the_store_refuses_to_sign():
    saved = SignState(height=5, round=0, step=Step.PRECOMMIT, sign_digest=sha256_hex(b"x"))
    c = core(1, sign_state=saved)  # proposer of (1, 0)
    out = start(c, 1)
    out += [c.handle(ProposalBuilt(1, 0, B))]
    out += feed(c, TimeoutFired("propose", 1, 0))
    assert not sent(out) and c.stats["sign_refused"] >= 2


# -- the package's own rules --------------------------------------------------------------------
CONSENSUS_DIR = Path(__file__).resolve().parents[2] / "node" / "consensus"
FORBIDDEN = {"asyncio", "socket", "time", "random", "threading", "chaincode", "node.store",
             "node.chain.app", "node.api.rpc", "secrets", "os", "datetime", "multiprocessing"}


def test_consensus_package_imports_only_ledger_and_stdlib_and_has_no_floats():
    files = sorted(CONSENSUS_DIR.glob("*.py"))
    assert files
    for path in files:
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            for name in names:
                root = name.split(".")[0]
                assert name not in FORBIDDEN and root not in FORBIDDEN, (path.name, name)
                if root == "node":
                    assert name.startswith("node.consensus"), (path.name, name)
            if isinstance(node, ast.Constant):
                assert not isinstance(node.value, float), (path.name, node.value)


def test_same_events_give_the_same_actions():
    def run() -> list[str]:
        c = core(0)
        out = start(c)
        out += feed(c, prop(B, 0), validated(B), *[vote(i, "prevote", 0, B.hash())
                                                   for i in (1, 2)])
        return [repr(a) for a in out]

    assert run() == run()
