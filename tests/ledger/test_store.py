"""ledger.store: round trips, atomic commits, refusals, locking."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import plyvel
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.block import (
    Block,
    BlockHeader,
    CommitCertificate,
    results_root,
    tx_result,
    txs_root,
    vote_sign_bytes,
)
from ledger.crypto import sha256_hex
from ledger.encoding import canonical
from ledger.state import MemoryState, WriteSet, state_root_of
from ledger.state_tree import MemoryNodeStore, StateTree, verify
from ledger.store import TREE_PREFIX, MemoryDB, Store, StoreError
from ledger.tx import build_transaction
from tests.support.common import det_key

CHAIN = "fcl-store-test"
KEY = det_key("store-test")
GENESIS_HASH = sha256_hex(b"store-test-genesis")
GENESIS_WRITES = [("g/a", b'"alpha"'), ("g/b", b'"beta"')]
ZERO = "00" * 32


def genesis_root() -> str:
    return state_root_of(GENESIS_WRITES)


def root_after(store: Store | None, writes: list[tuple[str, bytes | None]]) -> str:
    """The state root of a block with ``writes`` on ``store``'s committed state (None, or
    a store without a genesis: on the genesis state)."""
    if store is not None and store.initialised:
        return store.state_root_after(writes)
    state = MemoryState(GENESIS_WRITES)
    state.apply(writes)
    return state_root_of(state.iter_prefix(""))


def make_block(
    height: int,
    prev_hash: str,
    on: Store | None,
    writes: list[tuple[str, bytes | None]],
    n_txs: int = 2,
) -> tuple[Block, CommitCertificate, str]:
    txs = [
        build_transaction(
            chain_id=CHAIN, contract="notary", method="record",
            args={"h": height, "i": i}, nonce=f"{height}-{i}", keys=[KEY],
        )
        for i in range(n_txs)
    ]
    results = [tx_result(tx.tx_id, "ok", "", []) for tx in txs]
    root = root_after(on, writes)
    header = BlockHeader(
        chain_id=CHAIN, height=height, time=1000 + height, prev_hash=prev_hash,
        txs_root=txs_root(txs), results_root=results_root(results), state_root=root,
        validators_hash=ZERO, next_validators_hash=ZERO, proposer=KEY.public_key_hex,
        history_root=ZERO,
    )
    block = Block(header=header, txs=tuple(txs), results=tuple(results))
    sig = KEY.sign_hex(vote_sign_bytes("precommit", CHAIN, height, 0, block.hash()))
    commit = CommitCertificate(height, 0, block.hash(), ((KEY.public_key_hex, sig),))
    return block, commit, root


@pytest.fixture
def store(tmp_path: Path):
    s = Store(tmp_path / "db")
    s.init_genesis(GENESIS_HASH, CHAIN, GENESIS_WRITES, genesis_root())
    yield s
    s.close()


def append(store: Store, writes: list[tuple[str, bytes | None]], n_txs: int = 2) -> Block:
    block, commit, root = make_block(
        store.latest_height() + 1, store.latest_hash(), store, writes, n_txs
    )
    store.commit_block(block, commit, writes, root)
    return block


def snapshot(store: Store) -> list[tuple[bytes, bytes]]:
    return list(store.db.iterator())


def test_genesis_round_trip(store: Store) -> None:
    assert store.initialised
    assert store.latest_height() == 0
    assert store.latest_hash() == GENESIS_HASH
    assert store.genesis_hash() == GENESIS_HASH
    assert store.chain_id() == CHAIN
    assert store.state_root() == genesis_root()
    assert store.get("g/a") == b'"alpha"'
    assert store.get_block_writes(0) == sorted(GENESIS_WRITES)
    assert store.block_hashes() == []
    assert store.get_block(1) is None


def test_empty_store_is_not_initialised(tmp_path: Path) -> None:
    with Store(tmp_path / "db") as s:
        assert not s.initialised
        assert s.genesis_hash() is None
        with pytest.raises(StoreError) as err:
            s.latest_height()
        assert err.value.code == "not_initialised"
        block, commit, root = make_block(1, GENESIS_HASH, None, [])
        with pytest.raises(StoreError) as err:
            s.commit_block(block, commit, [], root)
        assert err.value.code == "not_initialised"


def test_genesis_only_once_and_root_checked(tmp_path: Path, store: Store) -> None:
    with pytest.raises(StoreError) as err:
        store.init_genesis(GENESIS_HASH, CHAIN, GENESIS_WRITES, genesis_root())
    assert err.value.code == "already_initialised"
    with Store(tmp_path / "other") as s:
        with pytest.raises(StoreError) as err:
            s.init_genesis(GENESIS_HASH, CHAIN, GENESIS_WRITES, ZERO)
        assert err.value.code == "state_root_mismatch"
        assert not s.initialised
        assert list(s.db.iterator()) == []


def test_block_round_trip_and_indexes(store: Store) -> None:
    writes = [("k/1", b'"one"'), ("g/a", None), ("k/2", b'"two"')]
    block = append(store, writes)
    assert store.latest_height() == 1
    assert store.latest_hash() == block.hash()
    assert store.state_root() == block.header.state_root
    assert store.get_block_json(1) == canonical(block.to_json())
    assert store.get_block(1) == block
    commit = store.get_commit(1)
    assert commit is not None and commit.block_hash == block.hash() and commit.height == 1
    assert store.get_block_hash(1) == block.hash()
    assert store.get_height_of_hash(block.hash()) == 1
    assert store.block_hashes() == [bytes.fromhex(block.hash())]
    for i, tx in enumerate(block.txs):
        assert store.get_tx_location(tx.tx_id) == (1, i)
        assert store.has_tx(tx.tx_id)
    assert store.get_tx_location("ab" * 32) is None
    assert store.get_tx_location("not hex") is None
    assert store.get("g/a") is None
    assert store.get("k/2") == b'"two"'
    assert store.get_block_writes(1) == sorted(writes)


def test_hashes_by_prefix(store: Store) -> None:
    """Transaction ids and block hashes by their first 8+ hex digits (odd lengths too),
    at most ``limit``; a prefix that is not 8 to 64 lowercase hex digits is refused."""
    block = append(store, [("k/1", b'"one"')], n_txs=3)
    ids = sorted(tx.tx_id for tx in block.txs)
    for tx_id in ids:
        for n in (8, 9, 13, 64):
            assert store.tx_ids_with_prefix(tx_id[:n]) == [tx_id]
    assert store.block_hashes_with_prefix(block.hash()[:11]) == [block.hash()]
    assert store.tx_ids_with_prefix(block.hash()[:10]) == []  # a block hash is no tx id
    absent = "0" * 8 if not any(i.startswith("0" * 8) for i in ids) else "f" * 8
    assert store.tx_ids_with_prefix(absent) == []
    for bad in ("abc", "ABCDEF12", "zz" * 5, "a" * 65, ""):
        with pytest.raises(StoreError) as err:
            store.tx_ids_with_prefix(bad)
        assert err.value.code == "bad_prefix"


def test_state_reader_is_sorted_like_memory_state(store: Store) -> None:
    keys = ["p/b", "p/a", "p/é", "p/z", "p/\u4e2d", "p/A", "q/x", "p", "p/a/b"]
    writes = [(k, k.encode()) for k in keys]
    append(store, writes)
    mem = MemoryState(GENESIS_WRITES)
    mem.apply(writes)
    for prefix in ("p/", "p", "", "q/", "zz"):
        assert list(store.iter_prefix(prefix)) == list(mem.iter_prefix(prefix))


def test_state_root_matches_ledger_rule_over_many_blocks(store: Store) -> None:
    mem = MemoryState(GENESIS_WRITES)
    roots = [genesis_root()]
    for h in range(1, 6):
        writes = [(f"k/{h}", str(h).encode()), (f"k/{h - 1}", None), ("g/a", None)]
        block = append(store, writes)
        mem.apply(writes)
        # the state tree's root over the whole state after the block
        assert store.state_root() == block.header.state_root == state_root_of(mem.iter_prefix(""))
        assert store.state_tree.latest_version == h
        roots.append(store.state_root())
    # and replaying the stored write sets into a fresh tree gives every height's root
    tree = StateTree(MemoryNodeStore())
    for h in range(0, 6):
        assert tree.apply(h, WriteSet(store.get_block_writes(h) or []).tree_changes()).hex() \
            == roots[h] == store.state_tree.root(h).hex()
    # proofs from the store's tree at past heights verify against those heights' roots
    for h in range(0, 6):
        value = None if h == 0 else str(h).encode()
        for key, expected in ((f"k/{h}", value), (f"k/{h - 1}", None), ("g/b", b'"beta"')):
            proof = store.state_tree.prove(key.encode(), h)
            assert verify(bytes.fromhex(roots[h]), key.encode(), expected, proof)
            assert not verify(bytes.fromhex(roots[h]), key.encode(), b"forged", proof)


def test_state_root_after_prepares_without_storing(store: Store) -> None:
    before = snapshot(store)
    root = store.state_root_after([("k/1", b"1")])
    assert root == state_root_of([*GENESIS_WRITES, ("k/1", b"1")])
    assert snapshot(store) == before and store.state_tree.latest_version == 0


def test_reopen_keeps_everything(tmp_path: Path) -> None:
    path = tmp_path / "db"
    with Store(path) as s:
        s.init_genesis(GENESIS_HASH, CHAIN, GENESIS_WRITES, genesis_root())
        b1 = append(s, [("k/1", b"1")])
        b2 = append(s, [("k/2", b"2")])
    with Store(path) as s:
        assert s.latest_height() == 2
        assert s.latest_hash() == b2.hash()
        assert s.get_block(1) == b1
        assert s.block_hashes() == [bytes.fromhex(b1.hash()), bytes.fromhex(b2.hash())]
        b3 = append(s, [("k/3", b"3")])
        assert b3.header.prev_hash == b2.hash()


@pytest.mark.parametrize(
    "tamper, code",
    [
        ("height", "wrong_height"),
        ("prev_hash", "wrong_prev_hash"),
        # the chain id is checked before a block reaches the store (check_header); a header
        # for another chain is another block, which the certificate does not name
        ("chain", "commit_mismatch"),
        ("commit_hash", "commit_mismatch"),
        ("commit_height", "commit_mismatch"),
        ("state_root_arg", "state_root_mismatch"),
        ("writes", "state_root_mismatch"),
        ("dup_write", "bad_write"),
        ("bad_value", "bad_write"),
    ],
)
def test_commit_refusals_change_nothing(store: Store, tamper: str, code: str) -> None:
    append(store, [("k/1", b"1")])
    before = snapshot(store)
    height, prev = 2, store.latest_hash()
    writes: list = [("k/2", b"2")]
    if tamper == "height":
        height = 3
    if tamper == "prev_hash":
        prev = GENESIS_HASH
    block, commit, root = make_block(height, prev, store, writes)
    if tamper == "chain":
        header = BlockHeader(**{**block.header.to_json(), "chain_id": "other-chain"})
        block = Block(header, block.txs, block.results)
    if tamper == "commit_hash":
        commit = CommitCertificate(2, 0, ZERO, commit.signatures)
    if tamper == "commit_height":
        commit = CommitCertificate(3, 0, commit.block_hash, commit.signatures)
    if tamper == "state_root_arg":
        root = ZERO
    if tamper == "writes":
        writes = [("k/2", b"other")]
    if tamper == "dup_write":
        writes = [("k/2", b"2"), ("k/2", b"2")]
    if tamper == "bad_value":
        writes = [("k/2", "not bytes")]
    with pytest.raises(StoreError) as err:
        store.commit_block(block, commit, writes, root)
    assert err.value.code == code
    assert snapshot(store) == before
    assert store.latest_height() == 1


def test_commit_is_all_or_nothing_when_the_batch_fails(store: Store) -> None:
    """An error while the batch is being filled (here: a bad extra index entry, the last
    thing added) leaves no trace of the block."""
    before = snapshot(store)
    block, commit, root = make_block(1, GENESIS_HASH, None, [("k/1", b"1")])
    with pytest.raises(TypeError):
        store.commit_block(block, commit, [("k/1", b"1")], root, extra_index=[(b"e", "text")])
    assert snapshot(store) == before
    assert store.latest_height() == 0
    store.commit_block(block, commit, [("k/1", b"1")], root, extra_index=[(b"e/1", b"v")])
    assert store.get_extra(b"e/1") == b"v"
    assert list(store.iter_extra(b"e/")) == [(b"e/1", b"v")]


def test_key_layout_heights_sort_numerically(store: Store) -> None:
    for _ in range(3):
        append(store, [], n_txs=0)
    raw_heights = [k[2:] for k, _ in store.db.iterator(prefix=b"b/")]
    assert raw_heights == [struct.pack(">Q", h) for h in (1, 2, 3)]


def test_second_open_in_process_is_refused(tmp_path: Path, store: Store) -> None:
    with pytest.raises(StoreError) as err:
        Store(store.path)
    assert err.value.code == "store_locked"
    assert "in use" in err.value.message


def test_second_open_in_another_process_is_refused(store: Store) -> None:
    code = (
        "import sys\n"
        "from ledger.store import MemoryDB, Store, StoreError\n"
        "try:\n"
        f"    Store({str(store.path)!r})\n"
        "except StoreError as e:\n"
        "    print(e.code); sys.exit(3)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout.strip() == "store_locked"


def test_closed_store_refuses_use(tmp_path: Path) -> None:
    s = Store(tmp_path / "db")
    s.close()
    s.close()  # idempotent
    with pytest.raises(StoreError) as err:
        s.get("x")
    assert err.value.code == "store_closed"
    # the lock is released: it opens again
    Store(tmp_path / "db").close()


def test_write_set_body_and_tree_update_equal_ledger_rule() -> None:
    writes = [("b", None), ("a", b"\x00\xff"), ("c", b"{}"), ("\u00e9", b"1")]
    ws = WriteSet(writes)
    assert ws.body == canonical([[k, None if v is None else v.hex()] for k, v in sorted(writes)])
    assert ws.tree_changes() == {b"a": b"\x00\xff", b"b": None, b"c": b"{}",
                                 "\u00e9".encode(): b"1"}
    tree = StateTree(MemoryNodeStore())
    update = ws.prepare(tree, 0)
    assert ws.prepare(tree, 0) is update  # remembered
    assert ws.root_in(tree, 0) == update.root.hex() == state_root_of(
        [("a", b"\x00\xff"), ("c", b"{}"), ("\u00e9", b"1")])
    other = StateTree(MemoryNodeStore())
    assert ws.prepare(other, 0) is not update  # another tree: computed again
    tree.commit(ws.prepare(tree, 0))
    assert ws.prepare(tree, 1) is not update and ws.prepare(tree, 1).base_version == 0
    assert ws.root_in(tree, 1) == update.root.hex()  # the same state again, the same root


def test_block_bytes_equal_canonical_encoding() -> None:
    from ledger.block import Block
    from ledger.tx import Transaction

    keys = [det_key("a"), det_key("b")]
    tx = build_transaction(
        chain_id=CHAIN, contract="notary", method="record",
        args={"z": [1, {"é": "中文", "a": None}], "A": True, "quote": '"\\\n'},
        nonce="ü-1", keys=keys,
    )
    block, _, _ = make_block(1, GENESIS_HASH, None, [], n_txs=3)
    mixed = Block(block.header, (*block.txs, tx), (*block.results, tx_result(tx.tx_id, "ok", "", [{"k": "ä"}])))
    assert mixed.canonical_bytes == canonical(mixed.to_json())
    empty = Block(block.header, (), ())
    assert empty.canonical_bytes == canonical(empty.to_json())
    odd = Transaction(tx.payload, ("NOT-HEX", "x"), tx.payload_bytes, tx.tx_id)
    weird = Block(block.header, (odd,), (tx_result(tx.tx_id, "ok", "", []),))
    assert weird.canonical_bytes == canonical(weird.to_json())


def test_commit_reuses_the_write_sets_root_and_the_blocks_bytes(store: Store, monkeypatch) -> None:
    """Block bytes and the state root are computed once per commit: the store's check
    reuses the root a WriteSet already computed from the same previous root, and stores
    the bytes the block already holds."""
    ws = WriteSet([("k", b"1"), ("a", None)])
    block, commit, root = make_block(1, GENESIS_HASH, store, list(ws))
    assert ws.root_in(store.state_tree, 1) == root
    body, data = ws.body, block.canonical_bytes

    def no_prepare(*_: object) -> None:
        raise AssertionError("the state root was computed again")

    monkeypatch.setattr(StateTree, "prepare", no_prepare)
    store.commit_block(block, commit, ws, root)
    assert store.get_block_json(1) is not None and store.get_block_json(1) == data
    assert ws.body is body and block.canonical_bytes is data
    assert store.state_tree.latest_version == 1 and store.state_tree.root(1).hex() == root
    # the tree moved on: the memo is stale and a new prepare is needed
    with pytest.raises(AssertionError):
        ws.prepare(store.state_tree, 2)


@pytest.mark.parametrize("backend", ["leveldb", "memory"])
def test_a_store_written_with_the_old_state_root_is_refused(tmp_path: Path, backend: str) -> None:
    """A data folder with a chain but no state tree records (as every store written before
    the state root became the tree's root) cannot be continued: its headers carry the old
    roots."""
    db = MemoryDB()
    with (Store(tmp_path / "db") if backend == "leveldb" else Store.in_memory(db)) as s:
        s.init_genesis(GENESIS_HASH, CHAIN, GENESIS_WRITES, genesis_root())
        append(s, [("k/1", b"1")])
        with s.db.write_batch() as wb:  # what an old store looks like: no a/ records
            for key, _ in s.db.iterator(prefix=TREE_PREFIX):
                wb.delete(key)
    for _ in range(2):  # refused, and the handle released: refused again, not locked
        with pytest.raises(StoreError) as err:
            Store(tmp_path / "db") if backend == "leveldb" else Store.in_memory(db)
        assert err.value.code == "store_format_changed"
        assert "old state root format" in err.value.message and "height 1" in err.value.message
    # an empty data folder is not an old one
    with Store(tmp_path / "empty") as fresh:
        assert not fresh.initialised


def test_a_store_whose_tree_is_not_at_its_height_is_refused() -> None:
    db = MemoryDB()
    with Store.in_memory(db) as s:
        s.init_genesis(GENESIS_HASH, CHAIN, GENESIS_WRITES, genesis_root())
        append(s, [("k/1", b"1")])
    db.put(b"m/height", struct.pack(">Q", 2))
    with pytest.raises(StoreError) as err:
        Store.in_memory(db)
    assert err.value.code == "store_open_failed" and "version 1" in err.value.message


# -- the in-memory backend: the same results as LevelDB ------------------------------------

_KEYS = st.binary(min_size=0, max_size=3).map(lambda b: b"k" + b)  # plyvel refuses b""
_OP = st.tuples(st.sampled_from(["put", "delete"]), _KEYS, st.binary(max_size=4))
_BATCH = st.tuples(st.lists(_OP, max_size=12), st.booleans())  # (ops, raise inside)
_BOUND = st.one_of(st.none(), st.binary(max_size=4))
_READ = st.tuples(st.one_of(st.none(), st.binary(max_size=2)), _BOUND, _BOUND,
                  st.booleans(), st.booleans())


class _Abort(Exception):
    pass


def _apply(db: object, batches: list[tuple[list[tuple[str, bytes, bytes]], bool]]) -> None:
    for ops, abort in batches:
        try:
            with db.write_batch(transaction=True, sync=False) as wb:  # type: ignore[attr-defined]
                for op, key, value in ops:
                    if op == "put":
                        wb.put(key, value)
                    else:
                        wb.delete(key)
                if abort:
                    raise _Abort
        except _Abort:
            pass


def _read(db: object, read: tuple[bytes | None, bytes | None, bytes | None, bool, bool]) -> object:
    prefix, start, stop, reverse, include_value = read
    kwargs: dict[str, object] = {"reverse": reverse, "include_value": include_value}
    if prefix is not None:
        kwargs["prefix"] = prefix
    else:
        kwargs.update(start=start, stop=stop)
    return list(db.iterator(**kwargs))  # type: ignore[attr-defined]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(_BATCH, max_size=6), reads=st.lists(_READ, min_size=1, max_size=6),
       probes=st.lists(_KEYS, max_size=6))
def test_memory_backend_matches_leveldb(tmp_path_factory: pytest.TempPathFactory, batches: list,
                                        reads: list, probes: list[bytes]) -> None:
    """Random write batches (some aborted by an exception: nothing of them is written),
    then ordered range reads (prefix, start/stop, reverse, keys only) and point reads:
    LevelDB and MemoryDB answer the same."""
    level = plyvel.DB(str(tmp_path_factory.mktemp("level")), create_if_missing=True)
    memory = MemoryDB()
    try:
        _apply(level, batches)
        _apply(memory, batches)
        assert list(level.iterator()) == list(memory.iterator())
        for read in reads:
            assert _read(level, read) == _read(memory, read)
        for key in probes:
            assert level.get(key) == memory.get(key)
    finally:
        level.close()


def test_memory_backend_refuses_prefix_with_bounds_as_leveldb_does() -> None:
    with pytest.raises(TypeError):
        MemoryDB().iterator(prefix=b"a", start=b"a")


def test_the_store_gives_the_same_bytes_on_leveldb_and_in_memory(tmp_path: Path) -> None:
    level = Store(tmp_path / "db")
    memory = Store.in_memory()
    try:
        for s in (level, memory):
            s.init_genesis(GENESIS_HASH, CHAIN, GENESIS_WRITES, genesis_root())
            append(s, [("g/a", None), ("g/c", b'"gamma"')])
            append(s, [("g/b", b'"beta2"'), ("h/x", b"1")], n_txs=3)
        assert snapshot(level) == snapshot(memory)
        assert list(level.iter_prefix("g/")) == list(memory.iter_prefix("g/"))
        assert level.block_hashes() == memory.block_hashes()
        block, commit, root = make_block(5, memory.latest_hash(), memory, [])
        with pytest.raises(StoreError) as err:  # the same refusals, from the same code
            memory.commit_block(block, commit, [], root)
        assert err.value.code == "wrong_height" and memory.latest_height() == 2
    finally:
        level.close()
        memory.close()


def test_an_in_memory_store_reopens_what_was_committed() -> None:
    db = MemoryDB()
    first = Store.in_memory(db)
    first.init_genesis(GENESIS_HASH, CHAIN, GENESIS_WRITES, genesis_root())
    block = append(first, [("g/c", b'"gamma"')])
    first.close()
    again = Store.in_memory(db)  # a "restart": a new handle over the same data
    assert again.latest_height() == 1 and again.latest_hash() == block.hash()
    assert again.get("g/c") == b'"gamma"' and again.get_block(1) == block
    assert not Store.in_memory().initialised


_STATE_KEYS = st.sampled_from(["g/a", "g/b", "k/1", "k/2", "k/\u00e9", "z", "\U0001f600"])
_BLOCK_WRITES = st.dictionaries(_STATE_KEYS, st.none() | st.binary(min_size=0, max_size=8),
                                max_size=5)


@settings(max_examples=40, deadline=None)
@given(blocks=st.lists(_BLOCK_WRITES, min_size=1, max_size=6))
def test_every_committed_root_is_the_trees_root_over_the_whole_state(blocks: list) -> None:
    """Random blocks of puts and deletes (of present and absent keys): after each commit
    the header's root equals the root of a fresh tree over the store's whole state, every
    key's value or absence is proved against it, and a reopened store continues."""
    db = MemoryDB()
    store = Store.in_memory(db)
    store.init_genesis(GENESIS_HASH, CHAIN, GENESIS_WRITES, genesis_root())
    for i, writes in enumerate(blocks):
        if i == len(blocks) // 2:  # a restart half-way: the tree continues from the "disk"
            store.close()
            store = Store.in_memory(db)
        block = append(store, sorted(writes.items()))
        state = list(store.iter_prefix(""))
        assert block.header.state_root == store.state_root() == state_root_of(state)
        root = bytes.fromhex(block.header.state_root)
        values = dict(state)
        for key in ["g/a", "g/b", "k/1", "k/2", "k/\u00e9", "z", "\U0001f600"]:
            proof = store.state_tree.prove(key.encode(), block.height)
            assert verify(root, key.encode(), values.get(key), proof)
    store.close()
