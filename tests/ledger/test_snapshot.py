"""ledger.snapshot: manifests and chunks of the state at a height, checked against the
state root; the history frontier.

Oracles: ``state_root_of`` and a ``StateTree`` (the roots the chain uses), and plain dicts."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.merkle import AppendOnlyMerkleTree
from ledger.snapshot import (
    MAX_CHUNK_BITS,
    MAX_CHUNK_LEAVES,
    TARGET_CHUNK_LEAVES,
    Chunk,
    ChunkInfo,
    Manifest,
    SnapshotError,
    chunk_bits_for,
    chunk_index_of,
    fold_frontier,
    manifest_of,
    verify_chunk,
)
from ledger.state import state_root_of
from ledger.state_tree import EMPTY_HASH, MemoryNodeStore, StateTree

Model = dict[bytes, bytes]

keys = st.binary(min_size=1, max_size=12)
models = st.dictionaries(keys, st.binary(max_size=8), max_size=60)


def leaves_of(model: Model) -> list[tuple[bytes, bytes, bytes]]:
    return sorted((hashlib.sha256(k).digest(), k, v) for k, v in model.items())


def chunks_of(model: Model, height: int, k: int) -> list[Chunk]:
    groups: list[list[tuple[bytes, bytes]]] = [[] for _ in range(1 << k)]
    for kh, key, value in leaves_of(model):
        groups[chunk_index_of(kh, k)].append((key, value))
    return [Chunk(height, k, i, tuple(g)) for i, g in enumerate(groups)]


def _tree_root(model: Model) -> bytes:
    tree = StateTree(MemoryNodeStore())
    return tree.apply(0, dict(model))


def test_state_root_of_is_the_tree_root() -> None:
    state = [("a/1", b"x"), ("b/2", b"yy"), ("c", b"")]
    assert state_root_of(state) == _tree_root({k.encode(): v for k, v in state}).hex()


@settings(max_examples=150, deadline=None)
@given(models, st.integers(0, 6))
def test_manifest_folds_to_the_root_and_every_chunk_verifies(model: Model, k: int) -> None:
    manifest = manifest_of(leaves_of(model), 7, k)
    assert manifest.k == k and len(manifest.chunks) == 1 << k
    assert manifest.leaf_count == len(model)
    manifest.check_root(_tree_root(model))
    for chunk in chunks_of(model, 7, k):
        verify_chunk(manifest, chunk)
    # the JSON forms round-trip
    assert Manifest.from_json(manifest.to_json()) == manifest
    for chunk in chunks_of(model, 7, k):
        assert Chunk.from_json(chunk.to_json()) == chunk


@settings(max_examples=60, deadline=None)
@given(models, st.integers(0, 5), st.integers(1, 4))
def test_manifest_from_a_versioned_tree(model: Model, k: int, extra: int) -> None:
    """The manifest of a past version, read with StateTree.leaves, folds to that version's
    root even after later versions changed the tree."""
    tree = StateTree(MemoryNodeStore())
    root = tree.apply(0, dict(model))
    for v in range(1, extra + 1):
        tree.apply(v, {b"later-%d" % v: b"v", **{key: None for key in list(model)[:v]}})
    manifest = manifest_of(tree.leaves(0), 1, k)
    manifest.check_root(root)


def test_chunk_bits_rule() -> None:
    assert chunk_bits_for(0) == 0
    assert chunk_bits_for(TARGET_CHUNK_LEAVES) == 0
    assert chunk_bits_for(TARGET_CHUNK_LEAVES + 1) == 1
    assert chunk_bits_for(TARGET_CHUNK_LEAVES * 1024) == 10
    assert chunk_bits_for(TARGET_CHUNK_LEAVES * 1024 + 1) == 11
    assert chunk_bits_for(10**12) == MAX_CHUNK_BITS


def test_default_k_follows_the_rule_and_empty_state() -> None:
    model = {b"k%d" % i: b"v" for i in range(5)}
    assert manifest_of(leaves_of(model), 1).k == 0
    empty = manifest_of([], 1)
    assert empty.k == 0 and empty.chunks == (ChunkInfo(0, EMPTY_HASH),)
    assert empty.root() == EMPTY_HASH


@settings(max_examples=80, deadline=None)
@given(models.filter(lambda m: len(m) >= 2), st.integers(0, 4), st.data())
def test_a_manifest_for_another_state_is_refused(model: Model, k: int, data: st.DataObject) -> None:
    victim = data.draw(st.sampled_from(sorted(model)))
    other = dict(model)
    other[victim] = other[victim] + b"!"
    manifest = manifest_of(leaves_of(other), 3, k)
    with pytest.raises(SnapshotError) as exc:
        manifest.check_root(_tree_root(model))
    assert exc.value.code == "manifest_root_mismatch"
    assert "folds to the state root" in exc.value.message


def _one_chunk(model: Model, k: int = 2) -> tuple[Manifest, Chunk]:
    manifest = manifest_of(leaves_of(model), 5, k)
    chunk = max(chunks_of(model, 5, k), key=lambda c: len(c.leaves))
    return manifest, chunk


MODEL = {b"key-%d" % i: b"value-%d" % i for i in range(40)}


def _refused(manifest: Manifest, chunk: Chunk, code: str) -> None:
    with pytest.raises(SnapshotError) as exc:
        verify_chunk(manifest, chunk)
    assert exc.value.code == code, exc.value
    assert f"chunk {chunk.index}" in exc.value.message


def test_chunk_missing_leaf() -> None:
    manifest, chunk = _one_chunk(MODEL)
    _refused(manifest, Chunk(5, 2, chunk.index, chunk.leaves[1:]), "chunk_count_mismatch")


def test_chunk_extra_leaf_of_this_prefix() -> None:
    manifest, chunk = _one_chunk(MODEL)
    i = 0
    while True:
        key = b"intruder-%d" % i
        kh = hashlib.sha256(key).digest()
        if chunk_index_of(kh, 2) == chunk.index:
            break
        i += 1
    leaves = sorted([*chunk.leaves, (key, b"x")], key=lambda kv: hashlib.sha256(kv[0]).digest())
    _refused(manifest, Chunk(5, 2, chunk.index, tuple(leaves)), "chunk_count_mismatch")


def test_chunk_altered_value() -> None:
    manifest, chunk = _one_chunk(MODEL)
    key, value = chunk.leaves[0]
    leaves = ((key, value + b"0"), *chunk.leaves[1:])
    _refused(manifest, Chunk(5, 2, chunk.index, leaves), "chunk_hash_mismatch")


def test_chunk_key_swapped_for_another_key_of_the_prefix() -> None:
    manifest, chunk = _one_chunk(MODEL)
    i = 0
    while True:
        key = b"stranger-%d" % i
        if chunk_index_of(hashlib.sha256(key).digest(), 2) == chunk.index:
            break
        i += 1
    leaves = sorted([(key, b"x"), *chunk.leaves[1:]], key=lambda kv: hashlib.sha256(kv[0]).digest())
    _refused(manifest, Chunk(5, 2, chunk.index, tuple(leaves)), "chunk_hash_mismatch")


def test_chunk_reordered_and_repeated_leaves() -> None:
    manifest, chunk = _one_chunk(MODEL)
    assert len(chunk.leaves) >= 2
    swapped = (chunk.leaves[1], chunk.leaves[0], *chunk.leaves[2:])
    _refused(manifest, Chunk(5, 2, chunk.index, swapped), "chunk_order")
    repeated = (chunk.leaves[0], *chunk.leaves[:-1])
    _refused(manifest, Chunk(5, 2, chunk.index, repeated), "chunk_order")


def test_chunk_of_another_prefix() -> None:
    """Chunk a's genuine leaves served as chunk b (whose listed count is made equal, so
    that the prefix check is what refuses)."""
    manifest = manifest_of(leaves_of(MODEL), 5, 2)
    a = next(c for c in chunks_of(MODEL, 5, 2) if c.leaves)
    target = (a.index + 1) % 4
    forged = Manifest(5, 2, tuple(
        ChunkInfo(len(a.leaves), manifest.chunks[a.index].hash) if i == target else c
        for i, c in enumerate(manifest.chunks)))
    _refused(forged, Chunk(5, 2, target, a.leaves), "chunk_wrong_prefix")


def test_chunk_index_height_and_k_must_match_the_manifest() -> None:
    manifest, chunk = _one_chunk(MODEL)
    for bad in (Chunk(5, 2, 4, ()), Chunk(6, 2, 0, ()), Chunk(5, 3, 0, ())):
        with pytest.raises(SnapshotError) as exc:
            verify_chunk(manifest, bad)
        assert exc.value.code == "bad_chunk_index"


@pytest.mark.parametrize("obj", [
    None, [], {"format": "fcl-snapshot-manifest"},
    {"format": "other", "version": 1, "height": 1, "k": 0, "chunks": [[0, "00" * 32]]},
    {"format": "fcl-snapshot-manifest", "version": 2, "height": 1, "k": 0, "chunks": [[0, "00" * 32]]},
    {"format": "fcl-snapshot-manifest", "version": 1, "height": 0, "k": 0, "chunks": [[0, "00" * 32]]},
    {"format": "fcl-snapshot-manifest", "version": 1, "height": True, "k": 0, "chunks": [[0, "00" * 32]]},
    {"format": "fcl-snapshot-manifest", "version": 1, "height": 1, "k": 17, "chunks": []},
    {"format": "fcl-snapshot-manifest", "version": 1, "height": 1, "k": 1, "chunks": [[0, "00" * 32]]},
    {"format": "fcl-snapshot-manifest", "version": 1, "height": 1, "k": 0, "chunks": [[0, "AA" * 32]]},
    {"format": "fcl-snapshot-manifest", "version": 1, "height": 1, "k": 0, "chunks": [[-1, "00" * 32]]},
    {"format": "fcl-snapshot-manifest", "version": 1, "height": 1, "k": 0, "chunks": [[0, "11" * 32]]},
    {"format": "fcl-snapshot-manifest", "version": 1, "height": 1, "k": 0, "chunks": [[1, "00" * 32]]},
    {"format": "fcl-snapshot-manifest", "version": 1, "height": 1, "k": 0,
     "chunks": [[MAX_CHUNK_LEAVES + 1, "11" * 32]]},
    {"format": "fcl-snapshot-manifest", "version": 1, "height": 1, "k": 0, "chunks": [[0, "00" * 32]], "x": 1},
])
def test_malformed_manifests(obj: object) -> None:
    with pytest.raises(SnapshotError) as exc:
        Manifest.from_json(obj)
    assert exc.value.code == "malformed_manifest"


@pytest.mark.parametrize("obj", [
    None, {"height": 1, "k": 0, "index": 0},
    {"height": 1, "k": 0, "index": -1, "leaves": []},
    {"height": 1, "k": 0, "index": 0, "leaves": {}},
    {"height": 1, "k": 0, "index": 0, "leaves": [["", "00"]]},
    {"height": 1, "k": 0, "index": 0, "leaves": [["6b"]]},
    {"height": 1, "k": 0, "index": 0, "leaves": [["6B", "00"]]},
    {"height": 1, "k": 0, "index": 0, "leaves": [["6b", "0"]]},
    {"height": 1, "k": 0, "index": 0, "leaves": [["6b", 5]]},
])
def test_malformed_chunks(obj: object) -> None:
    with pytest.raises(SnapshotError) as exc:
        Chunk.from_json(obj)
    assert exc.value.code == "malformed_chunk"


def test_oversized_chunk_refused_before_parsing_leaves() -> None:
    with pytest.raises(SnapshotError) as exc:
        Chunk.from_json({"height": 1, "k": 0, "index": 0, "leaves": [None] * (MAX_CHUNK_LEAVES + 1)})
    assert exc.value.code == "chunk_too_large"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=4), max_size=70))
def test_frontier_folds_to_the_history_root(blocks: list[bytes]) -> None:
    tree = AppendOnlyMerkleTree()
    for b in blocks:
        tree.append(b)
    size = len(blocks)
    frontier = tree.frontier(size)
    assert len(frontier) == bin(size).count("1")
    assert fold_frontier(size, frontier) == tree.root_at(size)
    for smaller in range(size):
        assert fold_frontier(smaller, tree.frontier(smaller)) == tree.root_at(smaller)
    if size:
        with pytest.raises(SnapshotError) as exc:
            fold_frontier(size, frontier[:-1])
        assert exc.value.code == "malformed_frontier"
        altered = [bytes(32)] + frontier[1:]
        assert fold_frontier(size, altered) != tree.root_at(size)
