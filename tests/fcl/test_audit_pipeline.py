"""fcl.audit with the state tree in a second process (``pipeline=True``, the default of
``run_audit`` and ``audit_chain``): the same report as the one-process replay for every
tampering, in particular where a block's state root, computed late, must win over a
discrepancy found after it; and the tree process itself (fcl/audit/tree_worker.py)."""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fcl.audit.full import _After
from fcl.audit.run import AuditError, AuditReport, ChainAuditor, ChainDataError, audit_chain
from fcl.audit.tree_worker import TreeWorker
from ledger.block import results_root
from ledger.errors import LedgerError
from ledger.genesis import Genesis
from ledger.replay_store import ReplayStore
from ledger.state import MemoryState, Overlay, WriteSet
from ledger.state_tree import MemoryNodeStore, StateTree
from ledger.store import Store
from ledger.tx import Transaction
from tests.support.audit_chain import (
    BLOCKS,
    FAILING_AT,
    VALIDATOR_KEYS,
    ChainBuilder,
    audit_dir,
    audit_genesis,
    build_chain,
    edit_block,
    h8,
    resign,
    tx,
)


@pytest.fixture(scope="module")
def genesis() -> Genesis:
    return audit_genesis()


@pytest.fixture
def chain_dir(tmp_path: Path, genesis: Genesis) -> Path:
    path = tmp_path / "node0" / "data"
    build_chain(path, genesis).close()
    return path


def same_report(path: Path, genesis: Genesis, **kw: Any) -> AuditReport:
    """The audit of ``path`` in one process and with the pipeline: the same report."""
    one = audit_dir(path, genesis, pipeline=False, **kw).to_json()
    two = audit_dir(path, genesis, pipeline=True, **kw)
    assert {**two.to_json(), "seconds": 0} == {**one, "seconds": 0}
    return two


def forge_state_root(path: Path, height: int, more: Callable[[dict], None] | None = None) -> None:
    """Block ``height`` claims another state root (and ``more``), signed by a quorum."""

    def change(b: dict) -> None:
        b["header"]["state_root"] = "ab" * 32
        if more is not None:
            more(b)

    edit_block(path, height, change)
    resign(path, height, VALIDATOR_KEYS[:3])


def found(report: AuditReport) -> tuple[int, str, int]:
    d = report.discrepancy
    assert d is not None
    return d.height, d.check, report.final_height


def test_an_untouched_chain_gives_the_same_report(chain_dir: Path, genesis: Genesis) -> None:
    report = same_report(chain_dir, genesis)
    assert report.ok and report.final_height == BLOCKS
    with Store(chain_dir) as store:
        assert report.final_state_root == store.state_root()
    assert same_report(chain_dir, genesis, to_height=3).final_height == 3


def test_a_middle_blocks_root_is_found_before_the_next_blocks_link(
    chain_dir: Path, genesis: Genesis
) -> None:
    """Block 3 is accepted before its root is known; block 4 then fails (it links to the
    block as it was): the root of block 3, compared first, is the finding."""
    forge_state_root(chain_dir, 3)
    report = same_report(chain_dir, genesis)
    assert found(report) == (3, "bad_state_root", 2)
    assert report.discrepancy is not None and report.discrepancy.found == "ab" * 32


def test_a_root_still_to_come_wins_over_a_later_unparseable_block(
    chain_dir: Path, genesis: Genesis
) -> None:
    forge_state_root(chain_dir, 3)
    with Store(chain_dir) as store:
        store.db.put(b"b/" + h8(4), b"{not json")
    assert found(same_report(chain_dir, genesis)) == (3, "bad_state_root", 2)


def test_the_last_blocks_root_is_compared_at_the_end(chain_dir: Path, genesis: Genesis) -> None:
    forge_state_root(chain_dir, BLOCKS)
    assert found(same_report(chain_dir, genesis)) == (BLOCKS, "bad_state_root", BLOCKS - 1)
    # stopping there: the last root compared before the report
    assert found(same_report(chain_dir, genesis, to_height=BLOCKS)) == (
        BLOCKS, "bad_state_root", BLOCKS - 1)


def test_the_blocks_own_root_comes_before_its_next_validators_hash(
    chain_dir: Path, genesis: Genesis
) -> None:
    forge_state_root(chain_dir, BLOCKS,
                     lambda b: b["header"].update(next_validators_hash="cd" * 32))
    assert found(same_report(chain_dir, genesis)) == (BLOCKS, "bad_state_root", BLOCKS - 1)


def test_the_blocks_own_root_comes_before_its_indexed_hash(
    chain_dir: Path, genesis: Genesis
) -> None:
    forge_state_root(chain_dir, BLOCKS)
    with Store(chain_dir) as store:
        store.db.put(b"n/" + h8(BLOCKS), b"\xab" * 32)
    assert found(same_report(chain_dir, genesis)) == (BLOCKS, "bad_state_root", BLOCKS - 1)


def test_a_wrong_indexed_hash_alone_is_still_found(chain_dir: Path, genesis: Genesis) -> None:
    with Store(chain_dir) as store:
        store.db.put(b"n/" + h8(5), b"\xab" * 32)
    assert found(same_report(chain_dir, genesis)) == (5, "block_hash", 4)


def test_results_come_before_the_blocks_own_root(chain_dir: Path, genesis: Genesis) -> None:
    def forge(b: dict) -> None:
        b["results"][3] = dict(b["results"][3], code="ok", message="")
        b["header"]["results_root"] = results_root(b["results"])

    forge_state_root(chain_dir, FAILING_AT, forge)
    assert found(same_report(chain_dir, genesis)) == (FAILING_AT, "results_mismatch",
                                                      FAILING_AT - 1)


def test_a_root_still_to_come_wins_over_the_tx_index(chain_dir: Path, genesis: Genesis) -> None:
    forge_state_root(chain_dir, 3)
    with Store(chain_dir) as store:
        tx_id = store.get_block(3).txs[1].tx_id
        # pointing to a later block: the source reports it only after the last block
        store.db.put(b"t/" + bytes.fromhex(tx_id), h8(6) + struct.pack(">I", 0))
    assert found(same_report(chain_dir, genesis)) == (3, "bad_state_root", 2)
    with Store(chain_dir) as store:
        store.db.delete(b"t/" + bytes.fromhex(tx_id))  # reported as soon as 3 is accepted
    assert found(same_report(chain_dir, genesis)) == (3, "bad_state_root", 2)


def test_the_tx_index_alone_is_still_found(chain_dir: Path, genesis: Genesis) -> None:
    with Store(chain_dir) as store:
        tx_id = store.get_block(3).txs[1].tx_id
        store.db.delete(b"t/" + bytes.fromhex(tx_id))
    assert found(same_report(chain_dir, genesis)) == (3, "tx_index", 3)


def _bad(good: Transaction) -> Transaction:
    sig = good.signatures[0]
    return dataclasses.replace(good, signatures=(("0" if sig[0] != "0" else "1") + sig[1:],))


def test_signatures_verified_by_the_other_process_find_the_same_bad_one(
    tmp_path: Path, genesis: Genesis
) -> None:
    """The block's signatures are verified by the other process while it executes: a bad
    one (the second of three, then also a duplicate after it) is reported as the
    one-process audit does."""
    chain = ChainBuilder(tmp_path / "d", genesis)
    chain.add([tx("a")])
    chain.add([tx("b"), _bad(tx("c")), _bad(tx("d"))])
    chain.close()
    report = same_report(tmp_path / "d", genesis)
    assert found(report) == (2, "bad_signature", 1)
    assert report.discrepancy is not None and "transaction 1 " in report.discrepancy.detail
    chain = ChainBuilder(tmp_path / "e", genesis)
    first = tx("a")
    chain.add([first])
    chain.add([tx("b"), _bad(tx("c")), first])  # a replayed transaction: checked first
    chain.close()
    assert found(same_report(tmp_path / "e", genesis)) == (2, "duplicate_tx", 1)


def test_an_earlier_root_wins_over_a_bad_signature(tmp_path: Path, genesis: Genesis) -> None:
    chain = ChainBuilder(tmp_path / "d", genesis)
    chain.add([tx("a")])
    chain.add([tx("b")])
    chain.add([_bad(tx("c"))])
    chain.close()
    forge_state_root(tmp_path / "d", 2)
    # block 3 still links to block 2 as it was: the link breaks too, after the root
    assert found(same_report(tmp_path / "d", genesis)) == (2, "bad_state_root", 1)


def test_audit_chain_over_blocks_with_a_forged_root_and_too_few_blocks(
    chain_dir: Path, genesis: Genesis
) -> None:
    forge_state_root(chain_dir, 2)
    with Store(chain_dir) as store:
        pairs = [(store.get_block(h), store.get_commit(h)) for h in range(1, 3)]
    reports = [audit_chain(pairs, genesis, target_height=BLOCKS, pipeline=p).to_json()
               for p in (False, True)]
    assert [(r["discrepancy"]["height"], r["discrepancy"]["check"]) for r in reports] == [
        (2, "bad_state_root")] * 2
    assert {**reports[0], "seconds": 0} == {**reports[1], "seconds": 0}


def test_a_pipelined_auditor_is_finished_after_a_discrepancy(
    chain_dir: Path, genesis: Genesis
) -> None:
    with Store(chain_dir) as store:
        blocks = [(store.get_block(h), store.get_commit(h)) for h in (1, 2)]
    auditor = ChainAuditor(genesis, pipeline=True)
    try:
        auditor.check_block(*blocks[0])
        with pytest.raises(ChainDataError) as err:
            auditor.check_block(*blocks[0])  # height 1 again
        assert err.value.discrepancy.check == "wrong_height"
        with pytest.raises(AuditError) as refused:
            auditor.check_block(*blocks[1])
        assert refused.value.code == "bad_usage"
    finally:
        auditor.close()


# -- the tree process ---------------------------------------------------------------------------

_writes = st.lists(
    st.tuples(st.sampled_from(["a", "b", "unit/x", "unit/y", "acct/é", "z" * 40]),
              st.one_of(st.none(), st.binary(max_size=20))),
    max_size=12,
)


@settings(max_examples=8, deadline=None)
@given(st.lists(_writes, min_size=1, max_size=5))
def test_the_tree_process_gives_the_roots_of_the_tree_in_memory(
    versions: list[list[tuple[str, bytes | None]]]
) -> None:
    tree = StateTree(MemoryNodeStore())
    worker = TreeWorker()
    try:
        for version, writes in enumerate(versions):
            unique = list(dict(writes).items())
            worker.submit(version, unique)
            want = tree.commit(WriteSet(unique).prepare(tree, version))
            assert worker.result() == (version, want)
    finally:
        worker.close()
    assert worker.cpu_s > 0 and worker.rss_mb > 0


def test_a_tree_error_in_the_process_is_raised_with_its_code() -> None:
    worker = TreeWorker()
    try:
        worker.submit(0, [("a", b"1")])
        assert worker.result()[0] == 0
        worker.submit(0, [("a", b"2")])  # version 0 again
        with pytest.raises(LedgerError) as err:
            worker.result()
        assert err.value.code == "bad_version"
    finally:
        worker.close()


def test_a_dead_tree_process_is_an_audit_error() -> None:
    worker = TreeWorker()
    try:
        worker._process.kill()
        worker._process.wait()
        with pytest.raises(AuditError) as err:
            worker.submit(0, [("a", b"1")])
            worker.result()
        assert err.value.code == "worker_failed" and "exit code -9" in err.value.message
    finally:
        worker.close()


# -- the state after a block, for the next validator set -----------------------------------------

_keys = st.sampled_from(["sys/validators", "unit/a", "unit/b", "unit/c", "org/x", "z"])


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(_keys, st.binary(max_size=4)),
       st.lists(st.tuples(_keys, st.one_of(st.none(), st.binary(max_size=4)))),
       _keys, st.booleans())
def test_the_state_after_a_block_reads_as_the_overlay(
    before: dict[str, bytes], writes: list[tuple[str, bytes | None]], probe: str, strict: bool
) -> None:
    state = MemoryState()
    state.apply(sorted(before.items()))
    overlay = Overlay(state)
    for key, value in writes:
        if value is None:
            overlay.delete(key)
        else:
            overlay.put(key, value)
    after = _After(state, writes)
    for key in ("sys/validators", "unit/a", "org/x", "z", "absent"):
        assert after.get(key) == overlay.get(key)
    for prefix in ("", "unit/", "zz"):
        assert list(after.iter_prefix(prefix)) == list(overlay.iter_prefix(prefix))
    prefix = probe[: probe.index("/") + 1] if "/" in probe else ""
    assert after.last_at_or_before(prefix, probe, strict=strict) == \
        overlay.last_at_or_before(prefix, probe, strict=strict)


def test_a_state_file_the_tree_process_cannot_open_is_an_error(tmp_path: Path) -> None:
    worker = TreeWorker(tmp_path / "missing.sqlite")
    try:
        worker.submit(0, [("a", b"1")])
        with pytest.raises(LedgerError) as err:
            worker.result()
        assert err.value.code == "replay_store" and "missing.sqlite" in err.value.message
    finally:
        worker.close()


def test_the_tree_process_writes_the_state_file_before_it_answers(tmp_path: Path) -> None:
    replay = ReplayStore.open(tmp_path, shared=True)
    path = replay.database_file()
    assert path is not None
    worker = TreeWorker(path)
    try:
        replay.state.apply([("a", b"1"), ("b", b"2")], version=0)
        worker.submit(0, [("a", b"1"), ("b", b"2")])
        assert worker.result()[0] == 0
        # answered: in the file, read through a handle with nothing pending
        assert replay.db.get(b"s/a") == b"1" and replay.db.get(b"s/b") == b"2"
        worker.submit(1, [("a", None)])
        assert worker.result()[0] == 1
        assert replay.db.get(b"s/a") is None and replay.db.get(b"s/b") == b"2"
    finally:
        worker.close()
        replay.close()
