"""Deterministic simulation of the consensus: safety and liveness under seeded faults.

Honest validators run the production application stack by default (``app="real"``: the
driver's application work ``node/driver/appwork.py``, ``node/chain/app.py``, the mempool
and admission, ``ledger/store.py`` over ``MemoryDB``); ``app="fake"`` runs the fake
application. A failing seed prints a one-line command that replays it
(``bench/sim_sweep.py``).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ledger.block import CommitCertificate
from ledger.crypto import PrivateKey, sha256
from ledger.state import WriteSet
from ledger.store import Store
from ledger.validators import ValidatorSet
from node.consensus import Proposal, SignState, Vote
from node.driver.appwork import AppWork
from tests.support.sim import (
    AppMode,
    SimResult,
    Violation,
    World,
    repro_command,
    run_simulation,
    validators_for_seed,
)
from tests.support.sim.app import FakeApp
from tests.support.sim.invariants import Checker
from tests.support.sim.nodes import SimNode

ROOT = Path(__file__).resolve().parents[2]
CI_SWEEP_SEEDS = 400
CI_SWEEP_REAL = 200  # the first seeds run the real application, the rest the fake one


def assert_all_ok(results: list[SimResult]) -> None:
    failed = [r for r in results if not r.ok]
    lines = [f"{r.summary()}\n    reproduce: {repro_command(r.seed, r.validators, r.app)}"
             for r in failed]
    for line in lines:
        print(line)
    assert not failed, "\n".join(lines)


@pytest.mark.parametrize("app", ["real", "fake"])
def test_same_seed_gives_the_same_trace(app):
    a = run_simulation(11, 4, app=app)
    b = run_simulation(11, 4, app=app)
    assert a.ok and a.trace_hash == b.trace_hash and a.events == b.events
    assert a.txs == b.txs and a.heights == b.heights
    assert run_simulation(12, 4, app=app).trace_hash != a.trace_hash
    assert run_simulation(11, 7, app=app).trace_hash != a.trace_hash


def test_the_real_application_agrees_on_state_through_crashes_and_partitions():
    """Honest validators running the production application over in-memory stores
    commit real signed transactions; through crashes (restarting from the store and the
    sign-state bytes alone) and partitions, every node's store holds the same blocks,
    state roots and write sets at every height."""
    seen_crash = seen_partition = False
    for seed in (101, 7, 13, 21):
        world = World(seed, 4, byzantine=0, app="real")
        world.run()
        seen_crash |= sum(x.restarts for x in world.honest) > 0
        seen_partition |= world.partitions > 0
        stores = [Store.in_memory(x.disk.db) for x in world.honest]
        top = min(s.latest_height() for s in stores)
        assert top >= 3
        for h in range(1, top + 1):
            blocks = [s.get_block(h) for s in stores]
            assert len({b.hash() for b in blocks if b is not None}) == 1
            assert len({b.header.state_root for b in blocks if b is not None}) == 1
            assert len({repr(s.get_block_writes(h)) for s in stores}) == 1
            assert world.checker.committed[h] == blocks[0].hash()  # type: ignore[union-attr]
        assert sum(len(s.get_block(h).txs) for h in range(1, top + 1)  # type: ignore[union-attr]
                   for s in stores[:1]) > 0
        assert any(key.startswith("notary/") for key, _ in stores[0].iter_prefix(""))
    assert seen_crash and seen_partition


def test_a_seed_replays_identically_in_a_fresh_process():
    expected = run_simulation(3, 7)
    out = subprocess.run(
        [sys.executable, "-m", "bench.sim_sweep", "--start", "3", "--seeds", "1",
         "--validators", "7", "-v"],
        capture_output=True, text=True, check=True, timeout=120, cwd=ROOT,
    ).stdout
    assert f"trace={expected.trace_hash[:16]}" in out  # string hashing is randomised per
    assert "0 failed" in out  # process, so this also shows no set/dict-order dependence


@pytest.mark.parametrize("validators", [1, 4, 7])
def test_quick_sweep(validators):
    assert_all_ok([run_simulation(seed, validators) for seed in range(100, 112)])


def test_faulty_validators_input_is_dropped_counted_and_reported():
    results = [run_simulation(seed, 4, byzantine=1) for seed in range(200, 206)]
    assert_all_ok(results)
    stats: dict[str, int] = {}
    for r in results:
        for k, v in r.stats.items():
            stats[k] = stats.get(k, 0) + v
    assert sum(r.evidence for r in results) > 0
    for counter in ("bad_signature", "non_validator", "malformed_message", "wrong_chain",
                    "oversized_message", "wrong_proposer", "round_too_far", "equivocation",
                    "duplicate"):
        assert stats.get(counter, 0) > 0, counter


def test_seven_validators_with_two_faulty():
    assert_all_ok([run_simulation(seed, 7, byzantine=2) for seed in range(300, 304)])


def test_sweep_covers_crashes_partitions_and_recovers_after_gst():
    results = [run_simulation(seed, validators_for_seed(seed)) for seed in range(40)]
    assert_all_ok(results)
    assert sum(r.restarts for r in results) > 20
    assert any("partitions=0" not in r.faults for r in results)
    assert all(r.recovery_ms > 0 for r in results)


@pytest.mark.slow
def test_ci_sweep():
    """The CI sweep: ``CI_SWEEP_SEEDS`` seeds of the default 4/7/1 mix, the first
    ``CI_SWEEP_REAL`` with the production application stack, the others with the fake
    application (about 60 s on one core; ``make test`` runs it).
    ``python -m bench.sim_sweep --seeds 5000`` is the long sweep."""
    results = []
    for seed in range(CI_SWEEP_SEEDS):
        app: AppMode = "real" if seed < CI_SWEEP_REAL else "fake"
        result = run_simulation(seed, validators_for_seed(seed), app=app)
        if not result.ok:
            print(f"FAILED {result.summary()}\n    reproduce: "
                  f"{repro_command(seed, result.validators, app)}")
        results.append(result)
    assert_all_ok(results)
    assert sum(r.txs for r in results[:CI_SWEEP_REAL]) > 0


# -- the harness catches what it claims to catch ------------------------------------------------
KEYS = [PrivateKey(sha256(f"checker-{i}".encode())) for i in range(4)]
VSET = ValidatorSet.from_json(
    [{"name": f"v{i}", "power": 1, "pub_key": k.public_key_hex} for i, k in enumerate(KEYS)]
)
CHAIN = "fcl-sim"
B1 = FakeApp().build(1, 10, KEYS[0].public_key_hex, ["tx-a"])
B2 = FakeApp().build(1, 10, KEYS[0].public_key_hex, ["tx-b"])


def cert_for(block_hash: str, signers: range) -> CommitCertificate:
    sigs = [(KEYS[i].public_key_hex,
             Vote.sign(KEYS[i], "precommit", CHAIN, 1, 0, block_hash).signature)
            for i in signers]
    return CommitCertificate(1, 0, block_hash, tuple(sorted(sigs)))


def test_checker_catches_double_signing_and_unpersisted_sends():
    checker = Checker(CHAIN, VSET)
    v1 = Vote.sign(KEYS[0], "prevote", CHAIN, 1, 0, B1.hash())
    checker.on_signed("v0", v1, (1, 0, 2))
    checker.on_signed("v0", v1, (1, 0, 2))  # the same statement again is fine
    with pytest.raises(Violation, match="double-signed"):
        checker.on_signed("v0", Vote.sign(KEYS[0], "prevote", CHAIN, 1, 0, ""), (1, 0, 2))
    with pytest.raises(Violation, match="before persisting"):
        checker.on_signed("v0", Vote.sign(KEYS[0], "precommit", CHAIN, 1, 0, ""), (1, 0, 2))
    p1 = Proposal.sign(KEYS[1], CHAIN, 0, B1, -1)
    checker.on_signed("v1", p1, (1, 0, 1))
    with pytest.raises(Violation, match="double-signed"):
        checker.on_signed("v1", Proposal.sign(KEYS[1], CHAIN, 0, B2, -1), (1, 0, 1))


def test_checker_catches_disagreement_and_bad_certificates():
    checker = Checker(CHAIN, VSET)
    checker.on_commit("v0", 1, B1.hash(), cert_for(B1.hash(), range(3)), "aa")
    with pytest.raises(Violation, match="committed"):
        checker.on_commit("v1", 1, B2.hash(), cert_for(B2.hash(), range(1, 4)), "aa")
    with pytest.raises(Violation, match="rejected"):
        checker.on_commit("v2", 1, B1.hash(), cert_for(B1.hash(), range(2)), "aa")
    with pytest.raises(Violation, match="state root"):
        checker.on_commit("v3", 1, B1.hash(), cert_for(B1.hash(), range(1, 4)), "bb")


def test_a_driver_that_does_not_persist_its_sign_state_is_caught(monkeypatch):
    """Mutation check: with the batch's sign state not persisted, a restarted validator
    forgets what it signed; the sweep must notice the double signing."""

    def forgetful(self: SimNode, state: SignState) -> None:
        self.disk.position = state.position  # pretend, but keep nothing

    monkeypatch.setattr(SimNode, "persist", forgetful)
    runs = (run_simulation(seed, 4, byzantine=0) for seed in range(40))
    assert any(not r.ok and "double-signed" in (r.violation or "") for r in runs)


def test_a_driver_that_commits_without_the_write_set_is_caught(monkeypatch):
    """Mutation check on the production driver code: ``AppWork`` committing a decided
    block with an empty write set is refused by the real store, and the simulation
    reports it."""
    real = AppWork.commit_checked

    def lossy(self: AppWork, block, certificate, writes) -> None:  # noqa: ANN001
        real(self, block, certificate, WriteSet(()) if block.txs else writes)

    monkeypatch.setattr(AppWork, "commit_checked", lossy)
    result = run_simulation(102, 4, byzantine=0)
    assert not result.ok and "application rejects (state_root_mismatch)" in (result.violation or "")


def test_the_checker_compares_what_the_stores_hold():
    checker = Checker(CHAIN, VSET)
    checker.on_commit("v0", 1, B1.hash(), cert_for(B1.hash(), range(3)), "aa")
    checker.check_stores({"v0": [(B1.hash(), "aa", "w1")], "v1": [(B1.hash(), "aa", "w1")]})
    with pytest.raises(Violation, match="not the committed one"):
        checker.check_stores({"v0": [(B2.hash(), "aa", "w1")]})
    with pytest.raises(Violation, match="stored state root"):
        checker.check_stores({"v0": [(B1.hash(), "bb", "w1")]})
    with pytest.raises(Violation, match="differ from another"):
        checker.check_stores({"v0": [(B1.hash(), "aa", "w1")], "v1": [(B1.hash(), "aa", "w2")]})
