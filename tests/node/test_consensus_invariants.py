"""node.consensus.invariants: a real core is driven to a normal state, then a bug is
simulated by corrupting its fields in the middle of a step (or before one); every
invariant the core asserts after a step raises ``InvariantViolation`` naming what broke.
Random sequences of valid events never raise. The ``SyncRefused`` reasons, and how the
asyncio driver performs a ``Ready`` batch (persist before any send; an unknown kind of
work is an assertion, never dropped)."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from chaincode.executor import Executor
from ledger.block import CommitCertificate, vote_sign_bytes
from ledger.crypto import PrivateKey, sha256
from ledger.genesis import Genesis
from ledger.store import Store
from ledger.validators import ValidatorSet
from node.chain.app import Application
from node.chain.blockcodec import BlockCodec
from node.consensus import (
    NIL,
    Broadcast,
    BuildProposal,
    Commit,
    CommitCertificateReceived,
    ConsensusConfig,
    ConsensusCore,
    MessageReceived,
    Proposal,
    ProposalBuilt,
    ProposalValidated,
    Ready,
    SignState,
    StartHeight,
    Step,
    SyncRefused,
    TimeoutFired,
    ValidateProposal,
    Vote,
)
from node.consensus.actions import SYNC_REFUSAL_REASONS, ScheduleTimeout
from node.consensus.invariants import InvariantViolation
from node.driver.asyncio_driver import ConsensusDriver, DriverConfig, DriverMetrics
from node.driver.signfile import SignStateFile
from node.ops.metrics import Registry
from node.txpool.admission import tx_size
from node.txpool.mempool import Mempool
from tests.support.common import det_key, notary_tx
from tests.support.sim.app import FakeApp, FakeBlock

CHAIN = "fcl-invariants"
KEYS = [PrivateKey(sha256(f"invariants-{i}".encode())) for i in range(4)]
PUB = [k.public_key_hex for k in KEYS]
VSET = ValidatorSet.from_json(
    [{"name": f"v{i}", "power": 1, "pub_key": p} for i, p in enumerate(PUB)]
)
CFG = ConsensusConfig(
    timeout_propose_ms=300, timeout_propose_delta_ms=100, timeout_prevote_ms=100,
    timeout_prevote_delta_ms=50, timeout_precommit_ms=100, timeout_precommit_delta_ms=50,
    rebroadcast_ms=1000, max_proposal_bytes=64 * 1024,
)


def proposer_index(height: int, round_: int) -> int:
    return PUB.index(VSET.proposer(height, round_).pub_key)


ME = next(i for i in range(4) if proposer_index(1, 0) != i)  # not the proposer of (1, 0)
OTHERS = [i for i in range(4) if i != ME]


def block_on(app: FakeApp, tag: str) -> FakeBlock:
    return app.build(app.height + 1, 1000 * (app.height + 1), PUB[0], [f"tx-{tag}"])


B = block_on(FakeApp(), "b")
C = block_on(FakeApp(), "c")


def new_core(key: PrivateKey | None = KEYS[ME],
             sign_state: SignState | None = None) -> ConsensusCore:
    return ConsensusCore(chain_id=CHAIN, private_key=key, decode_block=FakeBlock.from_json,
                         config=CFG, sign_state=sign_state)


def proposal(block: FakeBlock, round_: int = 0, pol: int = -1) -> MessageReceived:
    key = KEYS[proposer_index(block.height, round_)]
    return MessageReceived(Proposal.sign(key, CHAIN, round_, block, pol).to_bytes())


def vote(i: int, kind: str, round_: int, block_hash: str, height: int = 1) -> MessageReceived:
    return MessageReceived(Vote.sign(KEYS[i], kind, CHAIN, height, round_, block_hash).to_bytes())


def certificate(block: FakeBlock, round_: int = 0, signers: list[int] | None = None,
                height: int | None = None) -> CommitCertificate:
    height = block.height if height is None else height
    msg = vote_sign_bytes("precommit", CHAIN, height, round_, block.hash())
    pairs = sorted((PUB[i], KEYS[i].sign_hex(msg)) for i in (signers or OTHERS))
    return CommitCertificate(height, round_, block.hash(), tuple(pairs))


def prevoted() -> ConsensusCore:
    """Height 1, round 0: the proposal of B arrived and validated, this node prevoted B."""
    c = new_core()
    c.handle(StartHeight(1, VSET, 1000))
    c.handle(proposal(B))
    ready = c.handle(ProposalValidated(B.hash(), True))
    assert [s.message.kind for s in ready.sends] == ["prevote"] and ready.persist is not None
    assert c.sign_state.position == (1, 0, int(Step.PREVOTE))
    return c


def decided() -> ConsensusCore:
    """``prevoted``, then 2f+1 prevotes and precommits for B: height 1 is decided."""
    c = prevoted()
    for i in OTHERS:
        c.handle(vote(i, "prevote", 0, B.hash()))
    commits = [c.handle(vote(i, "precommit", 0, B.hash())).commits for i in OTHERS]
    assert c.decided and [x.block for batch in commits for x in batch] == [B]
    return c


def harmless() -> TimeoutFired:
    """An event the core ignores (a timer of a later round): the step changes nothing."""
    return TimeoutFired("propose", 1, 99)


def during_next_step(c: ConsensusCore, corrupt: Callable[[ConsensusCore, Any], None]) -> None:
    """Simulate a bug: ``corrupt(core, height_state)`` runs at the end of the next step,
    after the core's own work and before the invariants are checked."""
    advance = c._advance

    def corrupted() -> None:
        advance()
        corrupt(c, c._hs)

    c._advance = corrupted  # type: ignore[method-assign]


def violation(c: ConsensusCore, event: Any, pattern: str) -> InvariantViolation:
    with pytest.raises(InvariantViolation, match=pattern) as err:
        c.handle(event)
    assert isinstance(err.value, AssertionError)
    return err.value


# -- sign state ---------------------------------------------------------------------------------


def test_the_normal_states_keep_every_invariant() -> None:
    c = decided()
    c.handle(StartHeight(2, VSET, 2000))
    assert c.height == 2 and not c.decided


def test_sign_state_never_goes_back() -> None:
    c = prevoted()
    during_next_step(c, lambda core, hs: setattr(core, "_sign_state", SignState()))
    violation(c, harmless(), r"^sign state went back from \(1, 0, 2\) to \(0, 0, 0\)")


def test_sign_state_never_changes_the_bytes_signed_at_one_position() -> None:
    c = prevoted()
    other = dataclasses.replace(c.sign_state, sign_digest="ab" * 32)
    during_next_step(c, lambda core, hs: setattr(core, "_sign_state", other))
    violation(c, harmless(), r"^sign state at \(1, 0, 2\) changed its signed bytes")


def test_the_batch_persists_the_cores_sign_state_and_no_other() -> None:
    c = new_core()
    c.handle(StartHeight(1, VSET, 1000))
    c.handle(proposal(B))
    stale = c.sign_state
    during_next_step(c, lambda core, hs: setattr(core._out, "persist", stale))
    violation(c, ProposalValidated(B.hash(), True),
              r"^the batch persists a sign state other than the core's")


def test_a_changed_sign_state_is_always_persisted() -> None:
    c = new_core()
    c.handle(StartHeight(1, VSET, 1000))
    c.handle(proposal(B))
    during_next_step(c, lambda core, hs: setattr(core._out, "persist", None))
    violation(c, ProposalValidated(B.hash(), True),
              r"^the sign state changed but the batch does not persist it")


# -- one signature per step -------------------------------------------------------------------


def inject_send(c: ConsensusCore, message: Proposal | Vote) -> None:
    during_next_step(c, lambda core, hs: core._out.sends.append(Broadcast(message)))


def test_an_own_message_beyond_the_persisted_sign_state_is_refused() -> None:
    c = prevoted()  # persisted: (1, 0, prevote)
    inject_send(c, Vote.sign(KEYS[ME], "precommit", CHAIN, 1, 0, B.hash()))
    violation(c, harmless(), r"^own precommit at \(1, 0, 3\) is not covered by the persisted "
                             r"sign state at \(1, 0, 2\)")


def test_another_validators_message_is_not_this_nodes_signature() -> None:
    c = prevoted()
    inject_send(c, Vote.sign(KEYS[OTHERS[0]], "precommit", CHAIN, 1, 0, B.hash()))
    assert c.handle(harmless()).sends  # re-sent, not signed here: no invariant concerned


def test_two_different_own_votes_for_one_round_and_step_are_refused() -> None:
    c = prevoted()  # it sent its prevote for B in round 0
    inject_send(c, Vote.sign(KEYS[ME], "prevote", CHAIN, 1, 0, NIL))
    violation(c, harmless(), r"^signed two different prevotes at height 1 round 0")


def test_the_same_own_vote_sent_again_is_one_signature() -> None:
    c = prevoted()
    inject_send(c, Vote.sign(KEYS[ME], "prevote", CHAIN, 1, 0, B.hash()))
    c.handle(harmless())  # byte-identical: no violation


def test_an_own_message_of_another_height_is_refused() -> None:
    c = decided()
    c.handle(StartHeight(2, VSET, 2000))  # persisted (1, 0, precommit) covers height 1
    inject_send(c, Vote.sign(KEYS[ME], "prevote", CHAIN, 1, 0, B.hash()))
    violation(c, TimeoutFired("propose", 2, 99),
              r"^sent own prevote of height 1 while at height 2")


def test_an_observer_signs_nothing_and_is_not_checked_for_signatures() -> None:
    c = new_core(key=None)
    c.handle(StartHeight(1, VSET, 1000))
    inject_send(c, Vote.sign(KEYS[ME], "precommit", CHAIN, 1, 5, B.hash()))
    c.handle(harmless())


# -- lock and valid value ------------------------------------------------------------------------


LOCK_AND_VALID: dict[str, tuple[dict[str, Any], str]] = {
    "locked round above the round": (
        {"locked_round": 1, "locked_hash": B.hash()}, r"^locked round 1 outside -1\.\.round 0"),
    "locked round below -1": (
        {"locked_round": -2}, r"^locked round -2 outside -1\.\.round 0"),
    "locked value without a locked round": (
        {"locked_round": -1, "locked_hash": B.hash()},
        r"^locked value set with locked round -1"),
    "locked round without a locked value": (
        {"locked_round": 0, "locked_hash": ""}, r"^locked value unset with locked round 0"),
    "valid round above the round": (
        {"valid_round": 1, "valid_block": B}, r"^valid round 1 outside -1\.\.round 0"),
    "valid round below -1": (
        {"valid_round": -2}, r"^valid round -2 outside -1\.\.round 0"),
    "valid value without a valid round": (
        {"valid_round": -1, "valid_block": B}, r"^valid value set with valid round -1"),
    "valid round without a valid value": (
        {"valid_round": 0, "valid_block": None}, r"^valid value unset with valid round 0"),
}


@pytest.mark.parametrize("case", list(LOCK_AND_VALID))
def test_lock_and_valid_value_rules(case: str) -> None:
    fields, pattern = LOCK_AND_VALID[case]
    c = prevoted()

    def corrupt(core: ConsensusCore, hs: Any) -> None:
        for name, value in fields.items():
            setattr(hs, name, value)

    during_next_step(c, corrupt)
    violation(c, harmless(), pattern)


def test_a_real_lock_and_valid_value_keep_the_rules() -> None:
    c = prevoted()
    for i in OTHERS[:2]:
        c.handle(vote(i, "prevote", 0, B.hash()))  # with its own: 2f+1 prevotes for B
    assert c.locked == (0, B.hash()) and c.valid == (0, B.hash())


def test_a_valid_value_found_after_precommitting_nil_is_persisted_without_a_signature() -> None:
    """A sequence in which the sign state changes although nothing is signed: had the core
    not persisted it, the step would break "the sign state changed but the batch does not
    persist it"."""
    c = prevoted()  # prevoted B
    c.handle(vote(OTHERS[0], "prevote", 0, NIL))
    c.handle(vote(OTHERS[1], "prevote", 0, NIL))
    c.handle(TimeoutFired("prevote", 1, 0))  # 2f+1 prevotes, no quorum: precommit nil
    assert c.step == Step.PRECOMMIT and c.sign_state.block_hash == ""
    c.handle(vote(OTHERS[2], "prevote", 0, B.hash()))
    ready = c.handle(vote(OTHERS[0], "prevote", 0, B.hash()))  # equivocating: B has 2f+1
    assert c.valid == (0, B.hash()) and c.locked == (-1, "")
    assert ready.sends == () and ready.persist is not None
    assert ready.persist.valid_round == 0 and ready.persist.position == (1, 0, 3)


# -- progress ---------------------------------------------------------------------------------------


PROGRESS: dict[str, tuple[Callable[[ConsensusCore, Any], None], str]] = {
    "step goes back": (lambda core, hs: setattr(hs, "step", Step.PROPOSE),
                       r"^\(height, round, step\) went back from \(1, 0, 2\) to \(1, 0, 1\)"),
    "height goes back": (lambda core, hs: setattr(hs, "height", 0),
                         r"^\(height, round, step\) went back from \(1, 0, 2\) to \(0, 0, 2\)"),
}


@pytest.mark.parametrize("case", list(PROGRESS))
def test_height_round_and_step_never_go_back(case: str) -> None:
    corrupt, pattern = PROGRESS[case]
    c = prevoted()
    during_next_step(c, corrupt)
    violation(c, harmless(), pattern)


def test_the_round_never_goes_back() -> None:
    c = prevoted()
    for i in OTHERS:  # 2f+1 nil precommits, then the precommit timeout: round 1
        c.handle(vote(i, "precommit", 0, NIL))
    c.handle(TimeoutFired("precommit", 1, 0))
    assert c.round == 1
    during_next_step(c, lambda core, hs: setattr(hs, "round", 0))
    violation(c, harmless(), r"^\(height, round, step\) went back from \(1, 1, \d\) to \(1, 0, \d\)")


def test_a_decided_height_stays_decided() -> None:
    c = decided()
    during_next_step(c, lambda core, hs: setattr(hs, "decided", False))
    violation(c, harmless(), r"^height 1 was decided and no longer is")


# -- random valid event sequences ---------------------------------------------------------------


class Scenario:
    """Valid events for one core: the proposals of the right proposers, the answers of the
    application to what the core asked, votes of the other validators (honest or not; one
    at a time or a quorum at once),
    timers of the current height, certificates from block sync, ``StartHeight`` after
    each ``Commit``, and crashes: a new core from the last persisted sign state."""

    def __init__(self) -> None:
        self.core = new_core()
        self.persisted = SignState()  # what the "disk" holds
        self.app = FakeApp()
        self.blocks = {"b": block_on(self.app, "b"), "c": block_on(self.app, "c")}
        self.requests: list[BuildProposal | ValidateProposal] = []
        self.perform(self.core.handle(StartHeight(1, VSET, 1000)))

    def restart(self) -> None:
        self.core = new_core(sign_state=self.persisted)
        self.requests = []
        height = self.app.height + 1
        self.perform(self.core.handle(StartHeight(height, VSET, 1000 * height)))

    def perform(self, ready: Ready) -> None:
        if ready.persist is not None:
            self.persisted = ready.persist
        self.requests.extend(ready.requests)
        for commit in ready.commits:
            assert isinstance(commit, Commit)
            assert isinstance(commit.block, FakeBlock)
            self.app.apply(commit.block)
            self.blocks = {"b": block_on(self.app, "b"), "c": block_on(self.app, "c")}
            self.requests = []
            self.perform(self.core.handle(StartHeight(commit.height + 1, VSET,
                                                      1000 * (commit.height + 1))))

    def events(self, draw: st.DrawFn) -> Iterator[Any]:
        c = self.core
        h, r = c.height, c.round
        kind = draw(st.sampled_from(["proposal", "answer", "answer", "vote", "vote", "quorum",
                                     "timeout", "certificate", "restart"]))
        if kind == "restart":
            self.restart()
            return
        block = self.blocks[draw(st.sampled_from(["b", "c"]))]
        round_ = draw(st.integers(max(0, r - 1), r + 1))
        if kind == "proposal":
            pol = draw(st.integers(-1, round_ - 1))
            yield proposal(block, round_, pol)
        elif kind == "answer" and self.requests:
            request = self.requests.pop(draw(st.integers(0, len(self.requests) - 1)))
            if isinstance(request, BuildProposal):
                yield ProposalBuilt(request.height, request.round, self.blocks["b"])
            else:  # the application finds "c" blocks invalid
                yield ProposalValidated(request.block.hash(),
                                        request.block.hash() == self.blocks["b"].hash())
        elif kind == "vote":
            signer = draw(st.sampled_from(OTHERS))
            vote_kind = draw(st.sampled_from(["prevote", "precommit"]))
            target = draw(st.sampled_from([block.hash(), NIL]))
            yield MessageReceived(Vote.sign(KEYS[signer], vote_kind, CHAIN, h, round_,
                                            target).to_bytes())
        elif kind == "quorum":  # the other three send the same vote, one after the other
            vote_kind = draw(st.sampled_from(["prevote", "precommit"]))
            target = draw(st.sampled_from([block.hash(), NIL]))
            for signer in OTHERS:
                yield MessageReceived(Vote.sign(KEYS[signer], vote_kind, CHAIN, h, round_,
                                                target).to_bytes())
        elif kind == "timeout":
            yield TimeoutFired(draw(st.sampled_from(["propose", "prevote", "precommit",
                                                     "rebroadcast"])), h, round_)
        elif kind == "certificate":
            yield CommitCertificateReceived(block, certificate(block, round_), "peer")


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_random_valid_event_sequences_never_break_an_invariant(data: st.DataObject) -> None:
    scenario = Scenario()
    for _ in range(data.draw(st.integers(10, 60), label="steps")):
        for ev in scenario.events(data.draw):
            scenario.perform(scenario.core.handle(ev))
    assert scenario.core.height >= 1
    event(f"reached height {scenario.core.height}, round {scenario.core.round}")


# -- SyncRefused ----------------------------------------------------------------------------------


class NoHash:
    height = 1

    def hash(self) -> str:
        raise ValueError("cannot be hashed")


def refusal(reason: str) -> tuple[ConsensusCore, CommitCertificateReceived]:
    c = new_core()
    if reason == "not_started":
        return c, CommitCertificateReceived(B, certificate(B), "peer-x")
    c.handle(StartHeight(1, VSET, 1000))
    if reason == "decided":
        c.handle(CommitCertificateReceived(B, certificate(B), "peer-y"))
        return c, CommitCertificateReceived(B, certificate(B), "peer-x")
    if reason == "wrong_height":
        return c, CommitCertificateReceived(B, certificate(B, height=2), "peer-x")
    if reason == "bad_block":
        return c, CommitCertificateReceived(NoHash(), certificate(B), "peer-x")  # type: ignore[arg-type]
    if reason == "block_mismatch":
        return c, CommitCertificateReceived(C, certificate(B), "peer-x")
    if reason == "bad_certificate":
        return c, CommitCertificateReceived(B, certificate(B, signers=OTHERS[:2]), "peer-x")
    pytest.fail(f"no test makes the core refuse a synced certificate for {reason!r}")


@pytest.mark.parametrize("reason", SYNC_REFUSAL_REASONS)
def test_every_sync_refusal_reason_is_reported(reason: str) -> None:
    c, event = refusal(reason)
    was_decided = c.decided
    ready = c.handle(event)
    assert ready.persist is None and ready.sends == () and ready.commits == ()
    assert ready.reports == (SyncRefused(event.certificate.height, "peer-x", reason),)
    assert c.decided == was_decided


# -- the driver performs a Ready ---------------------------------------------------------------------


class SlowFile(SignStateFile):
    """Records when a save starts and ends; the save takes a while (an fsync)."""

    def __init__(self, directory: Path, log: list[str], fail: bool = False) -> None:
        super().__init__(directory)
        self.log = log
        self.fail = fail

    def save(self, state: SignState, block_wire: Any = lambda h: None) -> None:
        self.log.append("persist:start")
        time.sleep(0.05)
        if self.fail:
            raise OSError("disk full")
        super().save(state, block_wire)
        self.log.append("persist:done")


class LoggingNetwork:
    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.refused: list[tuple[int, str, str]] = []

    def broadcast_consensus(self, height: int, data: bytes) -> None:
        self.log.append("send")

    def peer_behind(self, validator: str, height: int) -> None: ...

    def peer_ahead(self, validator: str, height: int) -> None: ...

    def sync_refused(self, height: int, peer: str, reason: str) -> None:
        self.refused.append((height, peer, reason))

    def committed(self, height: int) -> None: ...


def run_driver(tmp_path: Path, genesis: Genesis, key: PrivateKey, log: list[str],
               body: Callable[[ConsensusDriver], Any], *, fail: bool = False) -> Any:
    async def scenario() -> Any:
        store = Store(tmp_path / "db")
        pool = Mempool()
        app = Application(store, Executor(), genesis)
        driver = ConsensusDriver(
            app, pool, key, codec=BlockCodec(app.chain_id), sign_file=SlowFile(
                tmp_path / "ss", log, fail), metrics=DriverMetrics(Registry()),
            config=DriverConfig(block_interval_ms=5), consensus_config=ConsensusConfig(),
            network=LoggingNetwork(log),
        )
        driver._loop = asyncio.get_running_loop()
        try:
            return await body(driver)
        finally:
            driver._io_pool.shutdown(wait=True)
            driver._app_pool.shutdown(wait=True)
            store.close()

    return asyncio.run(asyncio.wait_for(scenario(), 30))


def signed_batch(driver: ConsensusDriver, key: PrivateKey) -> Ready:
    """A real batch of the driver's core: the sign state and the signed messages it covers
    (one validator: proposal, prevote and precommit of height 1)."""
    core = driver.core
    started = core.handle(StartHeight(1, driver.app.tip.validators, 2_000_000_000_000))
    (build,) = started.requests
    assert isinstance(build, BuildProposal)
    block, _ = driver.app.build_block([], build.now_ms, key.public_key_hex)
    ready = core.handle(ProposalBuilt(1, 0, block))
    assert ready.persist is not None and len(ready.sends) >= 1
    assert all(s.message.signer == key.public_key_hex for s in ready.sends)
    return Ready(persist=ready.persist, sends=ready.sends)


def test_the_driver_persists_the_sign_state_before_any_send_of_the_batch(
    tmp_path: Path, genesis: Genesis, validator_key: PrivateKey
) -> None:
    log: list[str] = []

    async def body(driver: ConsensusDriver) -> int:
        batch = signed_batch(driver, validator_key)
        await driver._perform(batch)
        assert driver.sign_file.load() == batch.persist
        return len(batch.sends)

    sends = run_driver(tmp_path, genesis, validator_key, log, body)
    assert log == ["persist:start", "persist:done", *["send"] * sends]


def test_a_failed_persist_performs_nothing_of_the_batch(
    tmp_path: Path, genesis: Genesis, validator_key: PrivateKey
) -> None:
    log: list[str] = []

    async def body(driver: ConsensusDriver) -> None:
        with pytest.raises(OSError):
            await driver._perform(signed_batch(driver, validator_key))

    run_driver(tmp_path, genesis, validator_key, log, body, fail=True)
    assert log == ["persist:start"]


class Unknown:
    """A kind of work no driver knows."""


@pytest.mark.parametrize("field", ["sends", "timers", "requests", "commits", "reports"])
def test_an_unknown_kind_of_work_is_an_assertion_not_dropped(
    tmp_path: Path, genesis: Genesis, validator_key: PrivateKey, field: str
) -> None:
    async def body(driver: ConsensusDriver) -> None:
        batch = Ready(**{field: (Unknown(),)})  # type: ignore[arg-type]
        with pytest.raises(AssertionError, match=re.escape("Unknown")):
            await driver._perform(batch)

    run_driver(tmp_path, genesis, validator_key, [], body)


def test_a_sync_refusal_is_counted_by_reason_and_passed_to_block_sync(
    tmp_path: Path, genesis: Genesis, validator_key: PrivateKey
) -> None:
    async def body(driver: ConsensusDriver) -> tuple[Any, ...]:
        await driver._perform(Ready(
            timers=(ScheduleTimeout("rebroadcast", 1, 0, 60_000),),
            reports=(SyncRefused(7, "peer-key", "bad_certificate"),
                     SyncRefused(8, "peer-key", "wrong_height"),
                     SyncRefused(9, "other", "bad_certificate"))))
        network = driver.network
        assert isinstance(network, LoggingNetwork)
        metric = driver.metrics.sync_refused
        return (network.refused, metric.value("bad_certificate"), metric.value("wrong_height"),
                driver.metrics.registry.render())

    refused, bad, wrong, text = run_driver(tmp_path, genesis, validator_key, [], body)
    assert refused == [(7, "peer-key", "bad_certificate"), (8, "peer-key", "wrong_height"),
                       (9, "other", "bad_certificate")]
    assert (bad, wrong) == (2, 1)
    assert 'fcl_sync_refused_total{reason="bad_certificate"} 2' in text


def test_the_proposer_leaves_out_and_drops_transactions_of_signers_no_longer_admitted(
    tmp_path: Path, genesis: Genesis, validator_key: PrivateKey, regulator_key: PrivateKey
) -> None:
    """A pending transaction whose signer the committed state does not admit (revoked
    since admission: here, never enrolled) is not proposed -- every validator would refuse
    the block -- and leaves the mempool, so it is not reaped again."""
    member = notary_tx(regulator_key, "member")
    gone = notary_tx(det_key("no-longer-admitted"), "gone")

    async def body(driver: ConsensusDriver) -> Any:
        for tx in (gone, member):
            driver.mempool.add(tx, tx_size(tx), orgs=["regulator"])
        started = driver.core.handle(StartHeight(1, driver.app.tip.validators,
                                                 2_000_000_000_000))
        (build,) = started.requests
        assert isinstance(build, BuildProposal)
        await driver._build(build)
        built = driver._queue.get_nowait()
        assert isinstance(built, ProposalBuilt)
        return built.block, driver.mempool

    block, pool = run_driver(tmp_path, genesis, validator_key, [], body)
    assert list(block.txs) == [member]
    assert gone.tx_id not in pool and member.tx_id in pool  # the member's waits for commit
    assert pool.org_usage("regulator") == (1, tx_size(member))
