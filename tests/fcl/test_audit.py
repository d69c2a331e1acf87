"""fcl.audit: a full audit of a real chain built with node.chain.app.Application passes, and every
kind of tampering with the stored chain is found at the right height by the right check."""

from __future__ import annotations

import dataclasses
import json
import struct
from pathlib import Path
from typing import Any

import pytest

from fcl.audit.run import (
    CHECKS,
    AuditError,
    AuditProgress,
    ChainAuditor,
    ChainDataError,
    Checkpoint,
    StoreSource,
    audit_chain,
    run_audit,
    verify_checkpoint,
)
from ledger.block import Block, results_root
from ledger.crypto import sha256
from ledger.genesis import Genesis
from ledger.merkle import merkle_root
from ledger.store import TREE_PREFIX, Store
from tests.support.audit_chain import (
    AUDIT_CHAIN,
    BLOCKS,
    FAILING_AT,
    NEW_VALIDATOR,
    STRANGER,
    VALIDATOR_KEYS,
    ChainBuilder,
    audit_dir,
    audit_genesis,
    build_chain,
    call,
    edit_block,
    edit_commit,
    h8,
    resign,
    sign_commit,
    standard_txs,
    tx,
)
from tests.support.common import GENESIS_TIME


@pytest.fixture
def genesis() -> Genesis:
    return audit_genesis()


@pytest.fixture
def chain_dir(tmp_path: Path, genesis: Genesis) -> Path:
    path = tmp_path / "node0" / "data"
    build_chain(path, genesis).close()
    return path


def expect_failure(path: Path, genesis: Genesis, height: int, check: str) -> Any:
    report = audit_dir(path, genesis)
    assert not report.ok
    d = report.discrepancy
    assert (d.height, d.check) == (height, check), d.message()
    assert check in CHECKS
    # checks of the store's own indexes run once the block itself has verified
    after = check in ("stored_state", "tx_index")
    assert report.final_height == (height if after else height - 1)
    return d


# -- the happy path -----------------------------------------------------------------------------


def test_full_audit_of_a_real_chain_passes(chain_dir: Path, genesis: Genesis) -> None:
    seen: list[AuditProgress] = []
    report = audit_dir(chain_dir, genesis, progress=seen.append, progress_every=3)
    assert report.ok, report.discrepancy
    assert report.blocks == report.final_height == BLOCKS
    assert report.txs == 2 * BLOCKS + 2 and report.failed_txs == 2
    with Store(chain_dir) as store:
        assert report.final_block_hash == store.latest_hash()
        assert report.final_state_root == store.state_root()
        hashes = store.block_hashes()
        assert report.history_root == merkle_root(hashes).hex()
        block = store.get_block(FAILING_AT)
    assert [r["code"] for r in block.results] == ["ok", "ok", "already_recorded", "unknown_method"]
    assert [p.height for p in seen] == [3, 6]
    assert all(p.target == BLOCKS for p in seen) and seen[-1].txs == 6 * 2 + 2
    cp = report.checkpoint()
    assert (cp.height, cp.history_root, cp.chain_id) == (BLOCKS, report.history_root, AUDIT_CHAIN)
    assert cp.validators == genesis.validators


def test_audit_chain_over_an_iterable_of_blocks(chain_dir: Path, genesis: Genesis) -> None:
    with Store(chain_dir) as store:
        pairs = [(store.get_block(h), store.get_commit(h)) for h in range(1, BLOCKS + 1)]
    assert audit_chain(pairs, genesis, target_height=BLOCKS).ok
    short = audit_chain(pairs[:5], genesis, target_height=BLOCKS)
    assert (short.discrepancy.height, short.discrepancy.check) == (6, "block_missing")
    swapped = audit_chain([pairs[0], pairs[2], pairs[1]], genesis)
    assert (swapped.discrepancy.height, swapped.discrepancy.check) == (2, "wrong_height")
    assert swapped.final_height == 1


def test_empty_chain_passes(tmp_path: Path, genesis: Genesis) -> None:
    ChainBuilder(tmp_path / "d", genesis).close()
    report = audit_dir(tmp_path / "d", genesis)
    assert report.ok and report.blocks == 0
    assert report.history_root == merkle_root([]).hex()


def test_audit_to_height_stops_there(chain_dir: Path, genesis: Genesis) -> None:
    report = audit_dir(chain_dir, genesis, to_height=3)
    assert report.ok and report.final_height == 3
    with pytest.raises(AuditError) as err:
        audit_dir(chain_dir, genesis, to_height=BLOCKS + 1)
    assert err.value.code == "bad_source"


# -- tampering ----------------------------------------------------------------------------------


def test_changed_result_is_found(chain_dir: Path, genesis: Genesis) -> None:
    edit_block(chain_dir, 5, lambda b: b["results"][0].update(message="tampered"))
    d = expect_failure(chain_dir, genesis, 5, "bad_results_root")
    assert d.expected != d.found


def test_changed_tx_arg_is_found(chain_dir: Path, genesis: Genesis) -> None:
    edit_block(chain_dir, 3, lambda b: b["txs"][0]["payload"]["args"].update(sha256="ab" * 32))
    expect_failure(chain_dir, genesis, 3, "bad_txs_root")


def test_changed_header_time_is_found(chain_dir: Path, genesis: Genesis) -> None:
    with Store(chain_dir) as store:
        t5 = store.get_block(5).header.time
    edit_block(chain_dir, 6, lambda b: b["header"].update(time=t5))
    d = expect_failure(chain_dir, genesis, 6, "bad_time")
    assert d.found == str(t5)


def test_changed_header_time_that_still_increases_breaks_the_commit(
    chain_dir: Path, genesis: Genesis
) -> None:
    edit_block(chain_dir, 6, lambda b: b["header"].update(time=b["header"]["time"] + 1))
    expect_failure(chain_dir, genesis, 6, "commit_wrong_block")


def test_tampered_hash_index_is_found(chain_dir: Path, genesis: Genesis) -> None:
    """The store's height -> hash index feeds the node's history tree: it must match."""
    with Store(chain_dir) as store:
        store.db.put(b"n/" + h8(5), bytes.fromhex("ab" * 32))
    d = expect_failure(chain_dir, genesis, 5, "block_hash")
    assert d.found == "ab" * 32


def test_removed_commit_signature_is_found(chain_dir: Path, genesis: Genesis) -> None:
    edit_commit(chain_dir, 4, lambda c: c["signatures"].pop())
    d = expect_failure(chain_dir, genesis, 4, "insufficient_power")
    assert d.found == "insufficient_power"


def test_forged_or_foreign_commit_signatures_are_found(chain_dir: Path, genesis: Genesis) -> None:
    def corrupt(c: dict) -> None:
        sig = c["signatures"][0]["signature"]
        c["signatures"][0]["signature"] = ("0" if sig[0] != "0" else "1") + sig[1:]

    edit_commit(chain_dir, 2, corrupt)
    assert expect_failure(chain_dir, genesis, 2, "bad_commit_signature").found == "bad_commit_signature"
    resign(chain_dir, 2, [*VALIDATOR_KEYS[:2], STRANGER])
    assert expect_failure(chain_dir, genesis, 2, "unknown_validator").found == "unknown_validator"
    resign(chain_dir, 2, VALIDATOR_KEYS[1:])  # another valid quorum: fine
    assert audit_dir(chain_dir, genesis).ok


def test_swapped_blocks_are_found(chain_dir: Path, genesis: Genesis) -> None:
    with Store(chain_dir) as store:
        b3, b4 = store.get_block_json(3), store.get_block_json(4)
        c3, c4 = store.get_commit_json(3), store.get_commit_json(4)
        n3, n4 = store.db.get(b"n/" + h8(3)), store.db.get(b"n/" + h8(4))
        for height, block, commit, index in ((3, b4, c4, n4), (4, b3, c3, n3)):
            store.db.put(b"b/" + h8(height), block)
            store.db.put(b"c/" + h8(height), commit)
            store.db.put(b"n/" + h8(height), index)
    d = expect_failure(chain_dir, genesis, 3, "wrong_height")
    assert (d.expected, d.found) == ("3", "4")


def test_missing_and_unparseable_blocks_are_found(chain_dir: Path, genesis: Genesis) -> None:
    with Store(chain_dir) as store:
        saved = store.get_block_json(7)
        store.db.delete(b"b/" + h8(7))
    expect_failure(chain_dir, genesis, 7, "block_missing")
    with Store(chain_dir) as store:
        store.db.put(b"b/" + h8(7), saved[:-5])
    expect_failure(chain_dir, genesis, 7, "block_format")
    with Store(chain_dir) as store:
        store.db.put(b"b/" + h8(7), saved.replace(b'"time":', b'"time":1.5,"x":', 1))
    expect_failure(chain_dir, genesis, 7, "block_format")
    edit_commit(chain_dir, 7, lambda c: c.pop("round"))
    with Store(chain_dir) as store:
        store.db.put(b"b/" + h8(7), saved)
    expect_failure(chain_dir, genesis, 7, "block_format")


def test_results_forged_by_the_validators_themselves_are_found_by_replay(
    chain_dir: Path, genesis: Genesis
) -> None:
    """Even a quorum of validators cannot commit results that execution does not give:
    the failed transaction is passed off as a success, the roots are consistent and the
    commit certificate is valid, yet the replay disagrees."""

    def forge(b: dict) -> None:
        b["results"][3] = dict(b["results"][3], code="ok", message="")
        b["header"]["results_root"] = results_root(b["results"])

    edit_block(chain_dir, FAILING_AT, forge)
    resign(chain_dir, FAILING_AT, VALIDATOR_KEYS[:3])
    d = expect_failure(chain_dir, genesis, FAILING_AT, "results_mismatch")
    assert "unknown_method" in d.expected and '"code":"ok"' in d.found
    assert "transaction 3" in d.detail


def test_forged_state_root_signed_by_the_validators_is_found(
    chain_dir: Path, genesis: Genesis
) -> None:
    edit_block(chain_dir, BLOCKS, lambda b: b["header"].update(state_root="ab" * 32))
    resign(chain_dir, BLOCKS, VALIDATOR_KEYS[:3])
    expect_failure(chain_dir, genesis, BLOCKS, "bad_state_root")


def test_forged_history_and_validator_hashes_are_found(chain_dir: Path, genesis: Genesis) -> None:
    for field, check in (("history_root", "bad_history_root"),
                         ("next_validators_hash", "bad_next_validators_hash"),
                         ("validators_hash", "bad_validators_hash")):
        with Store(chain_dir) as store:
            saved = store.get_block_json(BLOCKS), store.get_commit_json(BLOCKS)
            index = store.db.get(b"n/" + h8(BLOCKS))
        edit_block(chain_dir, BLOCKS, lambda b, f=field: b["header"].update({f: "cd" * 32}))
        resign(chain_dir, BLOCKS, VALIDATOR_KEYS[:3])
        expect_failure(chain_dir, genesis, BLOCKS, check)
        with Store(chain_dir) as store:
            store.db.put(b"b/" + h8(BLOCKS), saved[0])
            store.db.put(b"c/" + h8(BLOCKS), saved[1])
            store.db.put(b"n/" + h8(BLOCKS), index)
    assert audit_dir(chain_dir, genesis).ok


def test_unknown_proposer_and_bad_tx_signature_are_found(chain_dir: Path, genesis: Genesis) -> None:
    edit_block(chain_dir, BLOCKS, lambda b: b["header"].update(proposer=STRANGER.public_key_hex))
    resign(chain_dir, BLOCKS, VALIDATOR_KEYS[:3])
    expect_failure(chain_dir, genesis, BLOCKS, "unknown_proposer")


def test_tx_with_a_bad_signature_is_found(tmp_path: Path, genesis: Genesis) -> None:
    """A block whose transaction signature does not verify, committed by the validators
    (the store does not check signatures; the audit does)."""
    chain = ChainBuilder(tmp_path / "d", genesis)
    chain.add([tx("a")])
    good = tx("b")
    sig = good.signatures[0]
    bad = dataclasses.replace(good, signatures=(("0" if sig[0] != "0" else "1") + sig[1:],))
    chain.add([bad])
    chain.close()
    d = expect_failure(tmp_path / "d", genesis, 2, "bad_signature")
    assert d.found == "bad_signature"


def test_replayed_transaction_is_found(tmp_path: Path, genesis: Genesis) -> None:
    chain = ChainBuilder(tmp_path / "d", genesis)
    first = tx("a")
    chain.add([first])
    chain.add([first])  # the application refuses this in validate_block, not in build_block
    chain.close()
    d = expect_failure(tmp_path / "d", genesis, 2, "duplicate_tx")
    assert d.found == first.tx_id


def test_tampered_tx_index_is_found(chain_dir: Path, genesis: Genesis) -> None:
    """The node refuses a replayed transaction by its tx index: it must be right."""
    with Store(chain_dir) as store:
        tx_id = store.get_block(3).txs[1].tx_id
        store.db.delete(b"t/" + bytes.fromhex(tx_id))
    d = expect_failure(chain_dir, genesis, 3, "tx_index")
    assert (d.expected, d.found) == ("(3, 1)", "None") and tx_id in d.detail
    with Store(chain_dir) as store:
        store.db.put(b"t/" + bytes.fromhex(tx_id), h8(3) + struct.pack(">I", 0))
    assert expect_failure(chain_dir, genesis, 3, "tx_index").found == "(3, 0)"
    with Store(chain_dir) as store:  # pointing to a later block: found after the last block
        store.db.put(b"t/" + bytes.fromhex(tx_id), h8(6) + struct.pack(">I", 0))
    report = audit_dir(chain_dir, genesis)
    assert (report.discrepancy.height, report.discrepancy.check) == (3, "tx_index")
    assert report.discrepancy.found == "(6, 0)" and report.final_height == BLOCKS


def test_tampered_stored_state_is_found(chain_dir: Path, genesis: Genesis) -> None:
    with Store(chain_dir) as store:
        store.db.put(b"s/notary/doc-2-0", b'{"tampered":true}')
    d = expect_failure(chain_dir, genesis, BLOCKS, "stored_state")
    assert "notary/doc-2-0" in d.detail and "tampered" in d.found
    with Store(chain_dir) as store:
        store.db.delete(b"s/notary/doc-2-0")
    d = expect_failure(chain_dir, genesis, BLOCKS, "stored_state")
    assert d.found == "absent"


def test_another_genesis_is_refused_at_height_zero(chain_dir: Path, genesis: Genesis) -> None:
    other = Genesis.from_json(dict(genesis.doc, genesis_time=GENESIS_TIME + 1))
    report = audit_dir(chain_dir, other)
    assert (report.discrepancy.height, report.discrepancy.check) == (0, "genesis")
    assert report.blocks == 0


# -- validator-set changes: the set is tracked by replay -----------------------------------------


def test_validator_set_change_is_tracked(tmp_path: Path, genesis: Genesis) -> None:
    path = tmp_path / "d"
    chain = ChainBuilder(path, genesis)
    new_set = [
        {"name": f"val{i}", "pub_key": k.public_key_hex, "power": 10}
        for i, k in enumerate([*VALIDATOR_KEYS[:3], NEW_VALIDATOR])
    ]
    effective = 5
    b1 = chain.add([call("propose_validator_change",
                         {"validators": new_set, "effective_height": effective,
                          "operators": {NEW_VALIDATOR.public_key_hex: "regulator"}}, "p")])
    assert b1.results[0]["code"] == "ok", b1.results[0]
    b2 = chain.add([call("approve_validator_change", {"proposal_id": 1}, "a")])
    assert b2.results[0]["code"] == "ok", b2.results[0]
    for height in range(3, 8):
        chain.add([tx(f"v-{height}")])
    assert NEW_VALIDATOR.public_key_hex in {v.pub_key for v in chain.app.tip.validators.validators}
    chain.close()
    with Store(path) as store:
        h4, h5 = store.get_block(4).header, store.get_block(5).header
    assert h4.next_validators_hash == h5.validators_hash != h4.validators_hash
    report = audit_dir(path, genesis)
    assert report.ok, report.discrepancy
    assert report.next_validators.hash() == h5.validators_hash
    # block 5 re-signed by the old set (val3 left at height 5): refused
    resign(path, effective, VALIDATOR_KEYS[1:])
    d = expect_failure(path, genesis, effective, "unknown_validator")
    assert d.found == "unknown_validator"
    # block 4 signed by the new set before it took effect: refused as well
    resign(path, effective, [*VALIDATOR_KEYS[:2], NEW_VALIDATOR])
    assert audit_dir(path, genesis).ok
    resign(path, effective - 1, [VALIDATOR_KEYS[0], VALIDATOR_KEYS[1], NEW_VALIDATOR])
    d = expect_failure(path, genesis, effective - 1, "unknown_validator")
    assert d.found == "unknown_validator"


# -- checkpoints ----------------------------------------------------------------------------------


def test_checkpoint_at_3_verifies_against_the_chain_at_8(tmp_path: Path, genesis: Genesis) -> None:
    path = tmp_path / "d"
    chain = build_chain(path, genesis, blocks=3)
    chain.close()
    early = audit_dir(path, genesis)
    assert early.ok and early.final_height == 3
    checkpoint = early.checkpoint()
    chain = ChainBuilder(path, genesis)
    for height in range(4, BLOCKS + 1):
        chain.add(standard_txs(height))
    chain.close()
    with Store(path) as store:
        assert store.get_block(4).header.history_root == checkpoint.history_root
    source = StoreSource.open(path)
    try:
        report = verify_checkpoint(source, genesis, checkpoint)
        assert report.ok, report.discrepancy
        assert report.latest_height == BLOCKS
        assert report.validator_set_source == "checkpoint"
        new = report.new_checkpoint
        assert new.height == BLOCKS
        assert new.block_hash == source.store.get_block(BLOCKS).header.hash()
        # the plain HEIGHT:ROOT form: the set comes from the genesis (it never changed)
        plain = Checkpoint.parse(f"3:{checkpoint.history_root}")
        report = verify_checkpoint(source, genesis, plain)
        assert report.ok and report.validator_set_source == "genesis"
        # the new checkpoint is at the tip: nothing to prove but equality
        again = verify_checkpoint(source, genesis, new)
        assert again.ok and again.validator_set_source == "checkpoint"
        # the new checkpoint agrees with a full audit up to that height
        assert audit_dir_open(source, genesis, BLOCKS).history_root == new.history_root
        # one block behind the tip: the root header(BLOCKS) signs
        behind = Checkpoint(height=BLOCKS - 1,
                            history_root=source.store.get_block(BLOCKS).header.history_root)
        assert verify_checkpoint(source, genesis, behind).ok
    finally:
        source.close()


def audit_dir_open(source: StoreSource, genesis: Genesis, height: int):
    return run_audit(source, genesis, to_height=height)


def test_forged_checkpoint_root_fails(chain_dir: Path, genesis: Genesis) -> None:
    source = StoreSource.open(chain_dir)
    try:
        forged = Checkpoint(height=3, history_root="ee" * 32)
        report = verify_checkpoint(source, genesis, forged)
        assert not report.ok
        assert (report.discrepancy.height, report.discrepancy.check) == (3, "checkpoint_root")
        assert report.discrepancy.expected == "ee" * 32
        assert report.new_checkpoint is None
    finally:
        source.close()


def test_a_lying_source_is_caught_by_the_proof(chain_dir: Path, genesis: Genesis) -> None:
    """A source that claims the checkpoint's root but cannot prove consistency with the
    signed header fails ``history_consistency``."""
    good = audit_dir(chain_dir, genesis, to_height=3).checkpoint()

    class Liar(StoreSource):
        def consistency(self, old_size: int, new_size: int):
            real = super().consistency(old_size, new_size)
            return dataclasses.replace(real, proof=[sha256(p) for p in real.proof])

    source = Liar(Store(chain_dir))
    try:
        report = verify_checkpoint(source, genesis, good)
        assert (report.discrepancy.height, report.discrepancy.check) == (
            BLOCKS, "history_consistency")
    finally:
        source.close()


def test_a_lying_source_cannot_move_the_tip_root(chain_dir: Path, genesis: Genesis) -> None:
    """The root over 1..H comes from the signed header H (root over 1..H-1) and block H's
    certified hash: a source that serves another old root, a proof that does not extend
    the signed one, or a last leaf that is not block H is caught."""
    good = audit_dir(chain_dir, genesis, to_height=3).checkpoint()

    class OtherOldRoot(StoreSource):
        def consistency(self, old_size: int, new_size: int):
            real = super().consistency(old_size, new_size)
            if old_size == BLOCKS - 1:
                return dataclasses.replace(real, old_root="ab" * 32)
            return real

    class ForgedExtension(StoreSource):
        def consistency(self, old_size: int, new_size: int):
            real = super().consistency(old_size, new_size)
            if old_size == BLOCKS - 1:
                return dataclasses.replace(real, new_root="cd" * 32)
            return real

    class OtherLastLeaf(StoreSource):
        def inclusion(self, index: int, size: int):
            real = super().inclusion(index, size)
            return dataclasses.replace(real, proof=[sha256(p) for p in real.proof])

    for liar, check in ((OtherOldRoot, "history_root"),
                        (ForgedExtension, "history_consistency"),
                        (OtherLastLeaf, "tip_inclusion")):
        source = liar(Store(chain_dir))
        try:
            report = verify_checkpoint(source, genesis, good)
            assert not report.ok and report.new_checkpoint is None, liar
            assert (report.discrepancy.height, report.discrepancy.check) == (BLOCKS, check)
        finally:
            source.close()


def test_checkpoint_heights_at_or_beyond_the_tip(chain_dir: Path, genesis: Genesis) -> None:
    source = StoreSource.open(chain_dir)
    try:
        # what a full audit of an idle chain writes checks at once
        full = run_audit(source, genesis)
        report = verify_checkpoint(source, genesis, full.checkpoint())
        assert report.ok and report.latest_height == BLOCKS
        assert report.new_checkpoint.height == BLOCKS
        assert report.new_checkpoint.history_root == full.history_root
        wrong_tip = Checkpoint(height=BLOCKS, history_root="ee" * 32)
        report = verify_checkpoint(source, genesis, wrong_tip)
        assert (report.discrepancy.height, report.discrepancy.check) == (
            BLOCKS, "checkpoint_root")
        beyond = Checkpoint(height=BLOCKS + 5, history_root="aa" * 32)
        report = verify_checkpoint(source, genesis, beyond)
        assert report.discrepancy.check == "chain_length"
        zero = Checkpoint(height=0, history_root=merkle_root([]).hex())
        assert verify_checkpoint(source, genesis, zero).ok
        with pytest.raises(AuditError) as err:
            verify_checkpoint(source, genesis, Checkpoint(height=0, history_root="aa" * 32))
        assert err.value.code == "bad_checkpoint"
        other = dataclasses.replace(full.checkpoint(), height=3, chain_id="other-chain")
        with pytest.raises(AuditError) as err:
            verify_checkpoint(source, genesis, other)
        assert err.value.code == "checkpoint_mismatch"
    finally:
        source.close()


def test_checkpoint_check_verifies_the_latest_commit(chain_dir: Path, genesis: Genesis) -> None:
    checkpoint = audit_dir(chain_dir, genesis, to_height=3).checkpoint()
    edit_commit(chain_dir, BLOCKS, lambda c: c["signatures"].pop())
    source = StoreSource.open(chain_dir)
    try:
        report = verify_checkpoint(source, genesis, checkpoint)
        assert (report.discrepancy.height, report.discrepancy.check) == (
            BLOCKS, "insufficient_power")
    finally:
        source.close()


def test_checkpoint_after_a_set_change_names_where_the_set_came_from(
    tmp_path: Path, genesis: Genesis
) -> None:
    path = tmp_path / "d"
    chain = ChainBuilder(path, genesis)
    new_set = [{"name": f"val{i}", "pub_key": k.public_key_hex, "power": 10}
               for i, k in enumerate([*VALIDATOR_KEYS[:3], NEW_VALIDATOR])]
    b1 = chain.add([call("propose_validator_change",
                         {"validators": new_set, "effective_height": 4,
                          "operators": {NEW_VALIDATOR.public_key_hex: "regulator"}}, "p")])
    assert b1.results[0]["code"] == "ok", b1.results[0]
    chain.add([call("approve_validator_change", {"proposal_id": 1}, "a")])
    chain.add([tx("x3")])
    chain.close()
    before = audit_dir(path, genesis, to_height=2).checkpoint()
    chain = ChainBuilder(path, genesis)
    for height in range(4, 7):
        chain.add([tx(f"x{height}")])
    chain.close()
    source = StoreSource.open(path)
    try:
        report = verify_checkpoint(source, genesis, before)
        assert report.ok and report.validator_set_source == "node"
        assert report.notes and "full audit" in report.notes[0]
        assert report.new_checkpoint.validators is None  # not established: not recorded
        established = run_audit(source, genesis, to_height=4).checkpoint()
        report = verify_checkpoint(source, genesis, established)
        assert report.ok and report.validator_set_source == "checkpoint"
    finally:
        source.close()


def test_checkpoint_parsing_and_files(tmp_path: Path, genesis: Genesis) -> None:
    root = "ab" * 32
    assert Checkpoint.parse(f"12:{root}") == Checkpoint(12, root)
    assert Checkpoint.parse(f" 12:{root.upper()} ") == Checkpoint(12, root)
    for bad in ("", "12", f"-1:{root}", f"x:{root}", f"12:{root[:-1]}", f"12:{root}00",
                f"1.5:{root}", f"1234567890123456789:{root}"):
        with pytest.raises(AuditError) as err:
            Checkpoint.from_argument(bad)
        assert err.value.code == "bad_checkpoint", bad
    full = Checkpoint(5, root, AUDIT_CHAIN, genesis.hash, "cd" * 32, genesis.validators)
    path = tmp_path / "cp.json"
    full.dump(path)
    assert Checkpoint.from_argument(str(path)) == full
    for text in ("[]", "{}", '{"height": -1, "history_root": "' + root + '"}',
                 '{"height": 1, "history_root": "xyz"}', '{"height": 1.0}', "not json",
                 '{"height": 1, "history_root": "' + root + '", "validators": [1]}',
                 '{"height": 1, "history_root": "' + root + '", "chain_id": 5}'):
        path.write_text(text)
        with pytest.raises(AuditError) as err:
            Checkpoint.from_argument(str(path))
        assert err.value.code == "bad_checkpoint", text


# -- sources ------------------------------------------------------------------------------------


def test_store_source_refuses_a_missing_locked_or_empty_store(
    tmp_path: Path, chain_dir: Path
) -> None:
    with pytest.raises(AuditError) as err:
        StoreSource.open(tmp_path / "nowhere")
    assert err.value.code == "no_store"
    assert not (tmp_path / "nowhere").exists()  # nothing created
    with Store(chain_dir):
        with pytest.raises(AuditError) as err:
            StoreSource.open(chain_dir)
    assert err.value.code == "store_locked" and "--node" in err.value.message
    Store(tmp_path / "empty").close()
    with pytest.raises(AuditError) as err:
        StoreSource.open(tmp_path / "empty")
    assert err.value.code == "not_initialised"


def test_store_source_refuses_a_data_folder_with_the_old_state_root_format(
    tmp_path: Path, chain_dir: Path
) -> None:
    """A data folder written before the state root became the state tree's root (a chain,
    no ``a/`` tree records) cannot be audited: its headers carry the old roots."""
    with Store(chain_dir) as store:
        with store.db.write_batch() as wb:
            for key, _ in store.db.iterator(prefix=TREE_PREFIX):
                wb.delete(key)
    with pytest.raises(AuditError) as err:
        StoreSource.open(chain_dir)
    assert err.value.code == "no_store"
    assert "old state root format" in err.value.message


def test_auditor_refuses_a_genesis_the_chaincode_refuses(genesis: Genesis) -> None:
    doc = json.loads(json.dumps(genesis.doc))
    doc["app_state"]["params"] = {"validator_change_delay": 0}
    with pytest.raises(AuditError) as err:
        ChainAuditor(Genesis.from_json(doc))
    assert err.value.code == "bad_genesis"


def test_auditor_does_not_advance_on_a_discrepancy(chain_dir: Path, genesis: Genesis) -> None:
    with Store(chain_dir) as store:
        b1, c1 = store.get_block(1), store.get_commit(1)
    forged = Block(dataclasses.replace(b1.header, next_validators_hash="cd" * 32), b1.txs,
                   b1.results)
    auditor = ChainAuditor(genesis)
    untouched = auditor.state.items()
    with pytest.raises(ChainDataError) as err:
        auditor.check_block(forged, sign_commit(forged, VALIDATOR_KEYS[:3]))
    assert err.value.discrepancy.check == "bad_next_validators_hash"
    with pytest.raises(ChainDataError) as err:
        auditor.check_block(b1, c1, "ab" * 32)
    assert err.value.discrepancy.check == "block_hash"
    assert auditor.height == 0 and auditor.txs == 0 and auditor.state.items() == untouched
    auditor.check_block(b1, c1, b1.hash())
    assert auditor.height == 1 and auditor.state.items() != untouched


def test_checkpoint_check_when_the_set_changes_at_the_next_block(
    tmp_path: Path, genesis: Genesis
) -> None:
    """Two changes: genesis set -> N1 at 4 -> N2 at 7. At height 6 the set that signed the
    latest block (N1) is neither the genesis's nor the checkpoint's, and the node reports
    N2: the check cannot pick a set and says so. One block later it can (from the node)."""
    path = tmp_path / "d"
    chain = ChainBuilder(path, genesis)
    keys = [*VALIDATOR_KEYS[:3], NEW_VALIDATOR]
    n1 = [{"name": f"val{i}", "pub_key": k.public_key_hex, "power": 10}
          for i, k in enumerate(keys)]
    n2 = [dict(v, power=20) if i == 0 else v for i, v in enumerate(n1)]
    ops = {NEW_VALIDATOR.public_key_hex: "regulator"}
    chain.add([call("propose_validator_change",
                    {"validators": n1, "effective_height": 4, "operators": ops}, "p1")])
    chain.add([call("approve_validator_change", {"proposal_id": 1}, "a1")])
    chain.add([tx("c3")])
    b4 = chain.add([call("propose_validator_change", {"validators": n2, "effective_height": 7},
                         "p2")])
    assert b4.results[0]["code"] == "ok", b4.results[0]
    b5 = chain.add([call("approve_validator_change", {"proposal_id": 2}, "a2")])
    assert b5.results[0]["code"] == "ok", b5.results[0]
    chain.add([tx("c6")])
    chain.close()
    source = StoreSource.open(path)
    try:
        full = run_audit(source, genesis)
        assert full.ok, full.discrepancy
        early = run_audit(source, genesis, to_height=2).checkpoint()
        with pytest.raises(AuditError) as err:
            verify_checkpoint(source, genesis, early)
        assert err.value.code == "validator_set_changed"
        mid = run_audit(source, genesis, to_height=5).checkpoint()  # knows N1
        report = verify_checkpoint(source, genesis, mid)
        assert report.ok and report.validator_set_source == "checkpoint"
    finally:
        source.close()
    chain = ChainBuilder(path, genesis)
    chain.add([tx("c7")])
    chain.close()
    source = StoreSource.open(path)
    try:
        report = verify_checkpoint(source, genesis, early)
        assert report.ok and report.validator_set_source == "node"
        assert run_audit(source, genesis).ok
    finally:
        source.close()


def test_a_block_carrying_an_unenrolled_signer_is_found(
    tmp_path: Path, genesis: Genesis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Validators that ignore permissioned admission commit a stranger's transaction (it
    fails in execution, but it is written): the audit refuses the block with the code a
    validator refuses it with, before looking at any signature."""
    chain = ChainBuilder(tmp_path / "d", genesis)
    chain.add([tx("a")])
    monkeypatch.setattr(chain.app, "signer_refusal", lambda t: None)
    stranger = tx("by-stranger", key=STRANGER)
    block = chain.add([tx("b"), stranger])
    assert [r["code"] for r in block.results] == ["ok", "unauthorized"]
    chain.close()
    d = expect_failure(tmp_path / "d", genesis, 2, "unenrolled_signer")
    assert STRANGER.public_key_hex in d.found and "not an enrolled key" in d.found


def test_checkpoint_of_a_chain_with_no_block_yet(tmp_path: Path, genesis: Genesis) -> None:
    path = tmp_path / "empty"
    build_chain(path, genesis, blocks=0).close()
    source = StoreSource.open(path)
    try:
        full = run_audit(source, genesis)
        report = verify_checkpoint(source, genesis, full.checkpoint())
        assert report.ok and report.latest_height == 0
        assert report.new_checkpoint.height == 0
        assert report.new_checkpoint.history_root == merkle_root([]).hex()
        report = verify_checkpoint(source, genesis, Checkpoint(height=1, history_root="aa" * 32))
        assert report.discrepancy.check == "chain_length"
    finally:
        source.close()
