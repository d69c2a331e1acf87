"""ledger.state_tree: the versioned sparse Merkle tree, its proofs and its storage.

The oracles share no code with the module: a plain dict per version (the model), and
``reference_root`` below, a literal transcription of the definition in
docs/state-proofs.md written with hashlib only."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import plyvel
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import state_tree as state_tree_module
from ledger.state_tree import (
    EMPTY_HASH,
    MAX_PROOF_SIBLINGS,
    DBNodeStore,
    LatestNodeStore,
    MemoryNodeStore,
    Proof,
    StateTree,
    StateTreeError,
    verify,
)
from ledger.store import TREE_PREFIX, MemoryDB, Store

Model = dict[bytes, bytes]


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def reference_root(model: Model) -> bytes:
    """The root by the definition: a subtree with no key is 32 zero bytes, with one key
    that key's leaf SHA-256(0x00 || SHA-256(key) || SHA-256(value)), with more
    SHA-256(0x01 || left || right), split on the next bit of SHA-256(key)."""

    def node(entries: list[tuple[int, bytes, bytes]], depth: int) -> bytes:
        if not entries:
            return bytes(32)
        if len(entries) == 1:
            _, kh, vh = entries[0]
            return _h(b"\x00" + kh + vh)
        left = [e for e in entries if not (e[0] >> (255 - depth)) & 1]
        right = [e for e in entries if (e[0] >> (255 - depth)) & 1]
        return _h(b"\x01" + node(left, depth + 1) + node(right, depth + 1))

    return node(
        [(int.from_bytes(_h(k), "big"), _h(k), _h(v)) for k, v in sorted(model.items())], 0
    )


def reference_verify(root: bytes, key: bytes, value: bytes | None, proof: Proof) -> bool:
    """docs/state-proofs.md, "Verification, step by step", transcribed with hashlib only
    (bits read from a string of '0'/'1', not by shifting, to share nothing with the
    module)."""
    sibs, leaf = proof.siblings, proof.leaf
    if len(root) != 32 or len(sibs) > 256 or any(len(s) != 32 for s in sibs):
        return False
    if leaf is not None and (len(leaf[0]) != 32 or len(leaf[1]) != 32):
        return False
    if sibs and sibs[-1] == bytes(32):
        return False
    h = _h(key)
    bits = "".join(format(byte, "08b") for byte in h)
    if value is not None:
        if leaf is None or leaf[0] != h or leaf[1] != _h(value):
            return False
        x = _h(b"\x00" + leaf[0] + leaf[1])
    elif leaf is None:
        x = bytes(32)
    else:
        other = "".join(format(byte, "08b") for byte in leaf[0])
        if leaf[0] == h or other[: len(sibs)] != bits[: len(sibs)]:
            return False
        x = _h(b"\x00" + leaf[0] + leaf[1])
    for d in reversed(range(len(sibs))):
        x = _h(b"\x01" + sibs[d] + x) if bits[d] == "1" else _h(b"\x01" + x + sibs[d])
    return x == root


def tree() -> StateTree:
    return StateTree(MemoryNodeStore())


def mutations(proof: Proof) -> Iterator[Proof]:
    """Every single-bit flip, truncation, extension and leaf swap of ``proof``."""
    sibs = proof.siblings
    for i, sib in enumerate(sibs):
        for byte in range(32):
            for bit in (0, 7):
                flipped = bytearray(sib)
                flipped[byte] ^= 1 << bit
                yield Proof(sibs[:i] + (bytes(flipped),) + sibs[i + 1 :], proof.leaf)
        if sib != EMPTY_HASH:
            yield Proof(sibs[:i] + (EMPTY_HASH,) + sibs[i + 1 :], proof.leaf)
    if sibs:
        yield Proof(sibs[:-1], proof.leaf)
        yield Proof(sibs[1:], proof.leaf)
    yield Proof((*sibs, EMPTY_HASH), proof.leaf)
    yield Proof((*sibs, _h(b"x")), proof.leaf)
    yield Proof((_h(b"x"), *sibs), proof.leaf)
    if proof.leaf is None:
        yield Proof(sibs, (_h(b"k"), _h(b"v")))
    else:
        kh, vh = proof.leaf
        yield Proof(sibs, None)
        for byte in (0, 31):
            yield Proof(sibs, (bytes([kh[0] ^ 1]) + kh[1:] if byte == 0 else kh[:31]
                               + bytes([kh[31] ^ 1]), vh))
            yield Proof(sibs, (kh, bytes([vh[byte] ^ 1]) + vh[1:] if byte == 0 else vh[:31]
                               + bytes([vh[31] ^ 1])))


# -- small keys so that updates overwrite and delete existing keys -------------------------
KEYS = [b"k%d" % i for i in range(24)]
values = st.binary(min_size=0, max_size=6)
batches = st.dictionaries(st.sampled_from(KEYS), st.none() | values, max_size=12)


def run(sequence: list[dict[bytes, bytes | None]]) -> tuple[StateTree, list[Model]]:
    t, model, history = tree(), {}, []
    for version, batch in enumerate(sequence):
        t.apply(version, batch)
        for k, v in batch.items():
            if v is None:
                model.pop(k, None)
            else:
                model[k] = v
        history.append(dict(model))
    return t, history


# -- the model ------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(st.lists(batches, min_size=1, max_size=8))
def test_every_version_agrees_with_a_dict_and_the_definition(
    sequence: list[dict[bytes, bytes | None]],
) -> None:
    t, history = run(sequence)
    assert t.latest_version == len(sequence) - 1
    roots = [t.root(v) for v in range(len(sequence))]
    for version, model in enumerate(history):
        assert roots[version] == reference_root(model)
        for key in KEYS:
            assert t.get(key, version) == model.get(key)
            proof = t.prove(key, version)
            assert verify(roots[version], key, model.get(key), proof)
            assert reference_verify(roots[version], key, model.get(key), proof)
            # a wrong value, a wrong presence, another version's different root
            assert not verify(roots[version], key, model.get(key, b"") + b"!", proof)
            if key in model:
                assert not verify(roots[version], key, None, proof)
            for other, root in enumerate(roots):
                if root != roots[version]:
                    assert not verify(root, key, model.get(key), proof), other
        assert [kh for kh, _, _ in t.leaves(version)] == sorted(_h(k) for k in model)
        assert {k: v for _, k, v in t.leaves(version)} == model


@settings(max_examples=25, deadline=None)
@given(st.dictionaries(st.sampled_from(KEYS), values, min_size=1, max_size=10), st.data())
def test_every_mutated_proof_is_refused(model: Model, data: st.DataObject) -> None:
    t = tree()
    t.apply(0, dict(model))
    root = t.root(0)
    key = data.draw(st.sampled_from(KEYS))
    proof = t.prove(key, 0)
    value = model.get(key)
    assert verify(root, key, value, proof)
    assert reference_verify(root, key, value, proof)
    for bad in mutations(proof):
        assert bad != proof
        assert not verify(root, key, value, bad), bad
        assert not reference_verify(root, key, value, bad)
    for other, other_value in model.items():
        if proof.leaf is None or proof.leaf[0] != _h(other):
            # only the key of the leaf it ends at can be proved present with it
            assert not verify(root, other, other_value, proof)


@settings(max_examples=40, deadline=None)
@given(st.dictionaries(st.binary(min_size=1, max_size=8), values, max_size=30), st.randoms())
def test_the_root_depends_on_the_final_map_only(model: Model, rnd: object) -> None:
    import random

    assert isinstance(rnd, random.Random)
    items = list(model.items())
    one = tree()
    one.apply(0, dict(items))
    # the same map reached in shuffled batches, through extra keys later deleted
    rnd.shuffle(items)
    other, version = tree(), 0
    extra = {b"extra-%d" % i: b"x" for i in range(rnd.randint(0, 5))}
    other.apply(version, extra)
    while items:
        cut = rnd.randint(1, len(items))
        batch: dict[bytes, bytes | None] = dict(items[:cut])
        items = items[cut:]
        version += 1
        other.apply(version, batch)
    version += 1
    other.apply(version, dict.fromkeys(extra))
    assert one.root(0) == other.root(version) == reference_root(model)


def test_the_empty_tree_and_deleting_back_to_it() -> None:
    t = tree()
    t.apply(0, {})
    assert t.root(0) == EMPTY_HASH == bytes(32)
    proof = t.prove(b"anything", 0)
    assert proof == Proof((), None)
    assert verify(EMPTY_HASH, b"anything", None, proof)
    assert not verify(EMPTY_HASH, b"anything", b"", proof)
    t.apply(1, {b"a": b"1", b"b": b"2", b"c": b"3"})
    assert t.root(1) != EMPTY_HASH
    t.apply(2, {b"a": None, b"b": None})
    assert t.root(2) == _h(b"\x00" + _h(b"c") + _h(b"3"))  # a lone leaf is the root
    assert t.prove(b"c", 2).siblings == ()
    t.apply(3, {b"c": None, b"never": None})
    assert t.root(3) == EMPTY_HASH
    assert t.get(b"c", 3) is None and t.get(b"c", 2) == b"3" and t.get(b"a", 1) == b"1"
    assert list(t.leaves(3)) == []


def test_absence_is_proved_by_an_empty_subtree_or_by_another_leaf() -> None:
    t = tree()
    present = {b"key-%d" % i: b"v%d" % i for i in range(12)}
    t.apply(7, dict(present))
    root = t.root(7)
    kinds = set()
    for i in range(12, 400):
        key = b"key-%d" % i
        proof = t.prove(key, 7)
        assert verify(root, key, None, proof)
        assert not verify(root, key, b"v", proof)
        if proof.leaf is None:
            kinds.add("empty")
        else:
            kinds.add("other leaf")
            assert proof.leaf[0] != _h(key)
            # the other leaf's proof of absence cannot be replayed for its own key
            owner = next(k for k in present if _h(k) == proof.leaf[0])
            assert not verify(root, owner, None, proof)
            assert verify(root, owner, present[owner], proof)
    assert kinds == {"empty", "other leaf"}


def test_an_absence_proof_with_a_leaf_off_the_path_is_refused() -> None:
    t = tree()
    t.apply(0, {b"a": b"1", b"b": b"2", b"c": b"3", b"d": b"4"})
    root = t.root(0)
    for key in (b"a", b"b", b"c", b"d"):
        proof = t.prove(key, 0)
        for absent in (b"x%d" % i for i in range(200)):
            if len(proof.siblings) and (int.from_bytes(_h(absent), "big") ^ int.from_bytes(
                    _h(key), "big")).bit_length() > 256 - len(proof.siblings):
                # the leaf is not on the absent key's path: the claim must fail
                assert not verify(root, absent, None, proof)


def test_a_proof_whose_lowest_sibling_is_empty_is_refused() -> None:
    # such a path ends in a subtree that the tree would have moved up: not canonical
    t = tree()
    t.apply(0, {b"a": b"1"})
    leaf = t.prove(b"a", 0).leaf
    assert leaf is not None
    up = _h(b"\x00" + leaf[0] + leaf[1])
    bit = int.from_bytes(_h(b"a"), "big") >> 255
    fake_root = _h(b"\x01" + (EMPTY_HASH + up if bit else up + EMPTY_HASH))
    assert not verify(fake_root, b"a", b"1", Proof((EMPTY_HASH,), leaf))


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=40), st.binary(max_size=8), st.none() | st.binary(max_size=8),
       st.lists(st.binary(max_size=40), max_size=4),
       st.none() | st.tuples(st.binary(max_size=33), st.binary(max_size=33)))
def test_verify_answers_false_to_junk_and_never_raises(
    root: bytes, key: bytes, value: bytes | None, sibs: list[bytes],
    leaf: tuple[bytes, bytes] | None,
) -> None:
    answer = verify(root, key, value, Proof(tuple(sibs), leaf))
    assert answer in (True, False)
    if len(root) != 32 or any(len(s) != 32 for s in sibs) or (
            leaf is not None and (len(leaf[0]) != 32 or len(leaf[1]) != 32)):
        assert answer is False
    if answer:  # only the empty tree's proof of absence can be guessed
        assert root == EMPTY_HASH and not sibs and leaf is None and value is None


@pytest.mark.parametrize("args", [
    ("root", b"k", None, Proof((), None)),
    (bytes(32), "k", None, Proof((), None)),
    (bytes(32), b"k", "v", Proof((), None)),
    (bytes(32), b"k", None, {"leaf": None, "siblings": []}),
    (bytes(32), b"k", None, Proof([], None)),  # type: ignore[arg-type]
    (bytes(32), b"k", None, Proof((bytes(32),) * 257, None)),
    (bytes(32), b"k", None, Proof((b"x",), None)),
    (bytes(32), b"k", None, Proof((), (b"x", b"y"))),  # type: ignore[arg-type]
    (bytes(32), b"k", None, Proof((), "leaf")),  # type: ignore[arg-type]
])
def test_verify_refuses_ill_typed_input(args: tuple[object, ...]) -> None:
    assert verify(*args) is False  # type: ignore[arg-type]


# -- JSON -----------------------------------------------------------------------------------


def test_proofs_round_trip_through_canonical_json() -> None:
    t = tree()
    t.apply(0, {b"k%d" % i: b"v" for i in range(50)})
    for key in (b"k3", b"absent", b"k49"):
        proof = t.prove(key, 0)
        text = json.dumps(proof.to_json(), sort_keys=True, separators=(",", ":"))
        again = Proof.from_json(json.loads(text))
        assert again == proof
        assert json.dumps(again.to_json(), sort_keys=True, separators=(",", ":")) == text
        assert proof.size_bytes() == 32 * len(proof.siblings) + (64 if proof.leaf else 0)


GOOD = "ab" * 32


@pytest.mark.parametrize(("obj", "code"), [
    ([], "malformed_proof"),
    ("{}", "malformed_proof"),
    ({"siblings": []}, "malformed_proof"),
    ({"leaf": None}, "malformed_proof"),
    ({"leaf": None, "siblings": [], "extra": 1}, "malformed_proof"),
    ({"leaf": None, "siblings": GOOD}, "malformed_proof"),
    ({"leaf": None, "siblings": [GOOD[:-2]]}, "malformed_proof"),
    ({"leaf": None, "siblings": [GOOD + "ab"]}, "malformed_proof"),
    ({"leaf": None, "siblings": [GOOD.upper()]}, "malformed_proof"),
    ({"leaf": None, "siblings": ["zz" * 32]}, "malformed_proof"),
    ({"leaf": None, "siblings": [32]}, "malformed_proof"),
    ({"leaf": None, "siblings": [GOOD] * (MAX_PROOF_SIBLINGS + 1)}, "proof_too_large"),
    ({"leaf": None, "siblings": [GOOD] * 100_000}, "proof_too_large"),
    ({"leaf": [GOOD, GOOD], "siblings": []}, "malformed_proof"),
    ({"leaf": {"key_hash": GOOD}, "siblings": []}, "malformed_proof"),
    ({"leaf": {"key_hash": GOOD, "value_hash": GOOD, "x": 1}, "siblings": []},
     "malformed_proof"),
    ({"leaf": {"key_hash": GOOD, "value_hash": None}, "siblings": []}, "malformed_proof"),
    ({"leaf": {"key_hash": "ab", "value_hash": GOOD}, "siblings": []}, "malformed_proof"),
])
def test_malformed_or_oversized_json_proofs_are_refused(obj: object, code: str) -> None:
    with pytest.raises(StateTreeError) as info:
        Proof.from_json(obj)
    assert info.value.code == code
    assert "proof" in info.value.message


def test_the_largest_json_proof_is_accepted() -> None:
    proof = Proof.from_json({"leaf": None, "siblings": [GOOD] * MAX_PROOF_SIBLINGS})
    assert len(proof.siblings) == MAX_PROOF_SIBLINGS


# -- refusals -------------------------------------------------------------------------------


@pytest.mark.parametrize("version", [-1, 1 << 64, True, 1.0, "1", None])
def test_a_version_must_be_a_64_bit_unsigned_integer(version: object) -> None:
    with pytest.raises(StateTreeError) as info:
        tree().apply(version, {})  # type: ignore[arg-type]
    assert info.value.code == "bad_version"
    with pytest.raises(StateTreeError) as info:
        tree().root(version)  # type: ignore[arg-type]
    assert info.value.code == "bad_version"


def test_versions_strictly_increase_and_a_refusal_changes_nothing() -> None:
    t = tree()
    t.apply(5, {b"a": b"1"})
    root = t.root(5)
    for version in (5, 4, 0):
        with pytest.raises(StateTreeError) as info:
            t.apply(version, {b"a": b"2"})
        assert info.value.code == "bad_version"
        assert f"version {version} does not follow the latest version 5" in info.value.message
    assert t.latest_version == 5 and t.root(5) == root and t.get(b"a", 5) == b"1"
    t.apply(9, {})  # gaps are allowed; an empty batch keeps the root
    assert t.root(9) == root
    for missing in (6, 8, 10):
        with pytest.raises(StateTreeError) as info:
            t.root(missing)
        assert info.value.code == "unknown_version"
        assert f"no version {missing}" in info.value.message
    with pytest.raises(StateTreeError) as info:
        t.get(b"a", 6)
    assert info.value.code == "unknown_version"
    with pytest.raises(StateTreeError) as info:
        t.prove(b"a", 10)
    assert info.value.code == "unknown_version"


@pytest.mark.parametrize(("changes", "code"), [
    ({"a": b"1"}, "bad_key"),
    ({b"": b"1"}, "bad_key"),
    ({1: b"1"}, "bad_key"),
    ({b"a": "1"}, "bad_value"),
    ({b"a": 1}, "bad_value"),
    ({b"a": bytearray(b"1")}, "bad_value"),
    ([(b"a", b"1")], "bad_key"),
])
def test_bad_keys_and_values_are_refused_and_change_nothing(changes: object, code: str) -> None:
    t = tree()
    t.apply(0, {b"a": b"0"})
    with pytest.raises(StateTreeError) as info:
        t.apply(1, {b"ok": b"1", **changes} if isinstance(changes, dict) else changes)  # type: ignore[arg-type]
    assert info.value.code == code
    assert t.latest_version == 0 and t.get(b"a", 0) == b"0"
    with pytest.raises(StateTreeError):
        t.root(1)


@pytest.mark.parametrize("key", ["a", b"", 1])
def test_reads_refuse_a_bad_key(key: object) -> None:
    t = tree()
    t.apply(0, {b"a": b"0"})
    for read in (t.get, t.prove):
        with pytest.raises(StateTreeError) as info:
            read(key, 0)  # type: ignore[operator]
        assert info.value.code == "bad_key"
    with pytest.raises(StateTreeError) as info:
        list(t.leaves(0, start=b"short"))
    assert info.value.code == "bad_key"


def test_an_update_prepared_over_an_older_version_is_refused() -> None:
    t = tree()
    t.apply(0, {b"a": b"0"})
    first = t.prepare(1, {b"a": b"1"})
    second = t.prepare(2, {b"a": b"2"})
    assert t.commit(first) == t.root(1)
    with pytest.raises(StateTreeError) as info:
        t.commit(second)
    assert info.value.code == "stale_update"
    assert "prepared over version 0" in info.value.message
    with pytest.raises(StateTreeError) as info:
        t.adopt(second)
    assert info.value.code == "stale_update"
    assert t.latest_version == 1 and t.get(b"a", 1) == b"1"


def test_a_missing_node_is_reported_not_misread() -> None:
    nodes = MemoryNodeStore()
    t = StateTree(nodes)
    t.apply(0, {b"k%d" % i: b"v" for i in range(10)})
    for key in [k for k in nodes.data if k.startswith(b"n")]:
        del nodes.data[key]
    fresh = StateTree(nodes)  # no cached nodes
    with pytest.raises(StateTreeError) as info:
        fresh.get(b"k1", 0)
    assert info.value.code == "missing_node"
    assert "not in the store" in info.value.message


@pytest.mark.parametrize("damage", [b"\x05", b"\x02", b"", b"\x00\x00\x00"])
def test_a_damaged_node_record_is_reported_not_misread(damage: bytes) -> None:
    nodes = MemoryNodeStore()
    StateTree(nodes).apply(0, {b"k%d" % i: b"v" for i in range(10)})
    top = next(k for k in sorted(nodes.data) if k.startswith(b"n") and k[9:11] == b"\x00\x00")
    nodes.data[top] = damage if damage else nodes.data[top][:-1]
    for read in (lambda t: t.get(b"k1", 0), lambda t: t.prove(b"k1", 0),
                 lambda t: t.apply(1, {b"k1": b"w"})):
        with pytest.raises(StateTreeError) as info:
            read(StateTree(nodes))
        assert info.value.code == "missing_node"
        assert "damaged" in info.value.message


# -- storage --------------------------------------------------------------------------------


def test_updates_are_deterministic_and_their_records_sorted() -> None:
    changes = {b"k%d" % i: b"v%d" % i for i in range(300)}
    a, b = tree(), tree()
    one = a.prepare(0, changes)
    two = b.prepare(0, dict(reversed(list(changes.items()))))
    assert one.writes == two.writes and one.root == two.root
    assert [k for k, _ in one.writes] == sorted(k for k, _ in one.writes)
    assert a.latest_version is None  # prepare stores nothing


def _db_roundtrip(db: object) -> None:
    nodes = DBNodeStore(db, b"a/")  # type: ignore[arg-type]
    t = StateTree(nodes)
    for version in range(6):
        batch: dict[bytes, bytes | None] = {b"k%d" % (version * 3 + i): b"v%d" % version
                                            for i in range(20)}
        batch[b"k%d" % version] = None
        t.apply(version, batch)
    reopened = StateTree(nodes)
    assert reopened.latest_version == 5
    for version in range(6):
        assert reopened.root(version) == t.root(version)
        for i in range(40):
            key = b"k%d" % i
            assert reopened.get(key, version) == t.get(key, version)
            assert verify(t.root(version), key, t.get(key, version), reopened.prove(key, version))
    assert reopened.get(b"k3", 5) is None and reopened.get(b"k3", 0) == b"v0"


def test_a_tree_over_memorydb_reopens_with_every_version() -> None:
    db = MemoryDB()
    _db_roundtrip(db)
    assert all(k.startswith(b"a/") for k in db._keys)


def test_a_tree_over_leveldb_reopens_with_every_version(tmp_path: Path) -> None:
    db = plyvel.DB(str(tmp_path / "db"), create_if_missing=True)
    try:
        _db_roundtrip(db)
    finally:
        db.close()


def test_records_written_in_the_callers_batch_then_adopted() -> None:
    db = MemoryDB()
    nodes = DBNodeStore(db, b"a/")
    t = StateTree(nodes)
    update = t.prepare(1, {b"a": b"1", b"b": b"2"})
    with db.write_batch(transaction=True, sync=True) as wb:
        wb.put(b"b/other", b"block bytes")
        nodes.put_into(wb, update.writes)
    assert t.adopt(update) == update.root == t.root(1)
    assert StateTree(nodes).get(b"b", 1) == b"2"
    # a batch that fails writes none of the records
    failed = t.prepare(2, {b"a": None})
    with pytest.raises(RuntimeError), db.write_batch(transaction=True) as wb:
        nodes.put_into(wb, failed.writes)
        raise RuntimeError("the block did not commit")
    assert StateTree(nodes).latest_version == 1
    with pytest.raises(ValueError):
        DBNodeStore(db, b"")


def test_the_block_store_keeps_the_tree_under_its_reserved_prefix() -> None:
    db = MemoryDB()
    store = Store.in_memory(db)
    assert not list(db.iterator(prefix=TREE_PREFIX))
    root = StateTree(MemoryNodeStore()).apply(0, {b"org/a": b"1"}).hex()
    store.init_genesis("00" * 32, "fcl-test", [("org/a", b"1")], root)
    assert TREE_PREFIX == b"a/"
    tree_keys = [k for k in db._keys if k.startswith(TREE_PREFIX)]
    assert tree_keys  # the genesis wrote version 0, and nothing else uses the prefix
    assert {k[:2] for k in db._keys if k not in tree_keys} == {b"m/", b"s/", b"w/"}
    store.close()
    again = Store.in_memory(db).state_tree
    assert again.latest_version == 0 and again.get(b"org/a", 0) == b"1"
    assert again.root(0).hex() == root


def test_leaves_resume_from_a_key_hash() -> None:
    t = tree()
    model = {b"k%d" % i: b"v%d" % i for i in range(64)}
    t.apply(0, dict(model))
    every = list(t.leaves(0))
    assert [kh for kh, _, _ in every] == sorted(_h(k) for k in model)
    for cut in (0, 1, 31, 63):
        assert list(t.leaves(0, start=every[cut][0])) == every[cut:]
    after_last = (int.from_bytes(every[-1][0], "big") + 1).to_bytes(32, "big")
    assert list(t.leaves(0, start=after_last)) == []


# -- the benchmark, in bounded form -------------------------------------------------------------


def test_the_benchmark_runs_at_a_small_size() -> None:
    """``python -m bench.bench_state_tree`` with a small ``--sizes`` (CI's form): one row
    per size, each proof verified inside the benchmark."""
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "bench.bench_state_tree", "--sizes", "300,900", "--batch", "50",
         "--batches", "2", "--repeat", "1"],
        capture_output=True, text=True, timeout=120, check=True,
        cwd=Path(__file__).resolve().parents[2],
    ).stdout
    rows = [line.split() for line in out.splitlines() if line.strip()[:1].isdigit()]
    assert [row[0] for row in rows] == ["300", "900"]
    assert all(len(row) == 11 for row in rows)
    with pytest.raises(subprocess.CalledProcessError):
        subprocess.run([sys.executable, "-m", "bench.bench_state_tree", "--sizes", "0"],
                       capture_output=True, check=True, timeout=60,
                       cwd=Path(__file__).resolve().parents[2])


# -- the auditor's store: only the newest record at each place ------------------------------


@settings(max_examples=80, deadline=None)
@given(st.lists(batches, min_size=1, max_size=20))
def test_latest_only_store_gives_the_same_roots_and_latest_reads(
    sequence: list[dict[bytes, bytes | None]],
) -> None:
    """A replay over LatestNodeStore computes every version's root exactly as a full
    store does, and reads and proves the latest version correctly."""
    full, model = tree(), {}
    latest = StateTree(LatestNodeStore())
    for version, batch in enumerate(sequence):
        assert latest.apply(version, batch) == full.apply(version, batch)
        for k, v in batch.items():
            if v is None:
                model.pop(k, None)
            else:
                model[k] = v
        root = latest.root(version)
        for key in KEYS:
            assert latest.get(key, version) == model.get(key)
            assert verify(root, key, model.get(key), latest.prove(key, version))


@settings(max_examples=60, deadline=None)
@given(st.lists(batches, min_size=1, max_size=20))
def test_a_latest_store_without_leaves_gives_the_same_roots(
    sequence: list[dict[bytes, bytes | None]],
) -> None:
    """The auditor's store keeps no leaf record: every version's root (and every record
    but the leaves) is still the full store's; reading a present key's value or proof
    is refused as missing_node, an absent key is still proved absent."""
    full_nodes, bare_nodes = MemoryNodeStore(), LatestNodeStore(leaves=False)
    full, bare, model = StateTree(full_nodes), StateTree(bare_nodes), {}
    for version, batch in enumerate(sequence):
        assert bare.apply(version, batch) == full.apply(version, batch)
        for k, v in batch.items():
            if v is None:
                model.pop(k, None)
            else:
                model[k] = v
    assert not any(k.startswith(b"n\x01\x00") for k in bare_nodes.data)
    latest = len(sequence) - 1
    root = bare.root(latest)
    for key in KEYS:
        full_proof = full.prove(key, latest)
        if full_proof.leaf is None:  # the path ends at an empty subtree: no leaf read
            assert bare.prove(key, latest) == full_proof
            assert bare.get(key, latest) is None
            assert verify(root, key, None, full_proof)
        else:  # the key's leaf, or another key's: its record is not kept
            reads = (bare.get, bare.prove) if key in model else (bare.prove,)
            for read in reads:
                with pytest.raises(StateTreeError) as info:
                    read(key, latest)
                assert info.value.code == "missing_node"
            if key not in model:
                assert bare.get(key, latest) is None  # the leaf's key hash says so


def test_latest_only_store_does_not_grow_with_history() -> None:
    """1,000 versions overwriting the same 24 keys: the full store keeps every version's
    records, the latest-only store about one tree's worth."""
    full_nodes, latest_nodes = MemoryNodeStore(), LatestNodeStore()
    full, latest = StateTree(full_nodes), StateTree(latest_nodes)
    for version in range(1_000):
        batch = {k: b"%d" % version for k in KEYS[version % 3 :: 3]}
        assert latest.apply(version, batch) == full.apply(version, batch)
    assert len(full_nodes.data) > 10_000
    assert len(latest_nodes.data) < 100


# -- the batch update's record cache and its single-change path -------------------------------

_WIDE_KEYS = [b"w%d" % i for i in range(200)]
_wide_batches = st.dictionaries(st.sampled_from(_WIDE_KEYS + KEYS), st.none() | values,
                                max_size=40)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from([0, 3, 40, 1 << 16]), st.lists(st.tuples(_wide_batches, st.booleans()),
                                                      min_size=1, max_size=12))
def test_the_record_cache_changes_no_record(
    cache_limit: int, steps: list[tuple[dict[bytes, bytes | None], bool]]
) -> None:
    """Whatever the cache keeps (nothing past the limit, a few records, every record), a
    long-lived tree writes exactly the records -- and so the roots -- of a tree opened
    afresh over the same store at every version (nothing cached), sorted by key and each
    once; an update prepared and abandoned (a proposal that did not commit) changes
    nothing; every root is the definition's."""
    nodes = MemoryNodeStore()
    kept, model = StateTree(nodes, cache_records=cache_limit), {}
    for version, (batch, abandon_first) in enumerate(steps):
        if abandon_first:  # another block's update, prepared over the same version
            kept.prepare(version, {k: b"other" for k in list(batch)[:5]} or {b"x": b"y"})
        fresh = StateTree(nodes).prepare(version, batch)
        update = kept.prepare(version, batch)
        assert update.writes == fresh.writes
        assert [k for k, _ in update.writes] == sorted(k for k, _ in update.writes)
        assert len({k for k, _ in update.writes}) == len(update.writes)
        kept.commit(update)
        assert len(kept._cache) <= cache_limit
        for k, v in batch.items():
            if v is None:
                model.pop(k, None)
            else:
                model[k] = v
        assert update.root == reference_root(model)
    for key in _WIDE_KEYS[:20] + KEYS[:4]:
        assert kept.get(key, len(steps) - 1) == model.get(key)


def test_the_record_cache_size_is_the_trees_own() -> None:
    small, large = (StateTree(MemoryNodeStore(), cache_records=n) for n in (4, 10_000))
    default = StateTree(MemoryNodeStore())
    batch = {b"k%d" % i: b"v" for i in range(200)}
    roots = {tree.apply(0, batch) for tree in (small, large, default)}
    assert len(roots) == 1
    assert len(small._cache) <= 4 < len(large._cache) == len(default._cache)
    with pytest.raises(ValueError):
        StateTree(MemoryNodeStore(), cache_records=-1)


def test_a_full_cache_drops_its_oldest_half() -> None:
    cache = {b"%d" % i: b"r" for i in range(state_tree_module._CACHE_LIMIT + 1)}
    state_tree_module._trim(cache, state_tree_module._CACHE_LIMIT)
    assert len(cache) == state_tree_module._CACHE_LIMIT // 2
    assert b"%d" % state_tree_module._CACHE_LIMIT in cache and b"0" not in cache


def test_trimming_tolerates_keys_another_reader_dropped() -> None:
    """Readers on other threads trim the same cache: a key already gone is no error."""
    limit = state_tree_module._CACHE_LIMIT
    cache = {b"%d" % i: b"r" for i in range(limit + 1)}
    original = dict.pop
    calls = []

    class Racing(dict):  # type: ignore[type-arg]
        def pop(self, key: bytes, default: object = None) -> object:
            if not calls:  # another thread drops the first stale key first
                calls.append(key)
                original(self, key)
            return original(self, key, default)

    racing = Racing(cache)
    state_tree_module._trim(racing, limit)
    assert len(racing) == limit // 2 and calls
