"""ledger/root_tree.py: the roots-only tree gives StateTree's root after every update, and
the root the tree's definition gives (docs/state-proofs.md), whatever the bucket depth;
it refuses what StateTree refuses, and a refused update changes nothing."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.errors import LedgerError
from ledger.root_tree import RootTree
from ledger.state_tree import EMPTY_HASH, MemoryNodeStore, StateTree, leaf_hash

KEYS = st.sampled_from([b"a", b"b", b"c", b"unit/1", b"unit/2", b"acct/\xc3\xa9", b"z" * 40]
                       + [b"k%d" % i for i in range(24)])
VALUES = st.one_of(st.none(), st.binary(max_size=6))
BATCHES = st.lists(st.dictionaries(KEYS, VALUES, max_size=12), min_size=1, max_size=8)


def _reference(entries: dict[int, bytes], depth: int = 0) -> bytes:
    """The root over ``{path: leaf hash}`` straight from the definition: no key -> the
    empty hash; one key -> its leaf, moved up; more -> SHA-256(0x01 || left || right),
    split on bit ``depth`` of the 256-bit path."""
    if not entries:
        return EMPTY_HASH
    if len(entries) == 1:
        return next(iter(entries.values()))
    left = {p: h for p, h in entries.items() if not (p >> (255 - depth)) & 1}
    right = {p: h for p, h in entries.items() if (p >> (255 - depth)) & 1}
    return hashlib.sha256(
        b"\x01" + _reference(left, depth + 1) + _reference(right, depth + 1)).digest()


@settings(max_examples=80, deadline=None)
@given(BATCHES, st.sampled_from([1, 2, 3, 8, 20]))
def test_every_root_is_the_state_trees(batches: list[dict[bytes, bytes | None]],
                                       depth: int) -> None:
    tree = StateTree(MemoryNodeStore())
    roots = RootTree(depth)
    state: dict[bytes, bytes] = {}
    for version, changes in enumerate(batches):
        assert roots.apply(version, changes) == tree.apply(version, changes)
        for key, value in changes.items():
            if value is None:
                state.pop(key, None)
            else:
                state[key] = value
        assert roots.keys == len(state)
        assert roots.latest_version == version


# paths that share long prefixes, as keys chosen to collide on their first bits would:
# a common random base with a few low-order bits varied (down to the last bit)
_PATHS = st.integers(0, (1 << 256) - 1).flatmap(
    lambda base: st.lists(
        st.integers(0, 255).map(lambda bit: base ^ (1 << bit)) | st.just(base),
        min_size=1, max_size=10, unique=True))


@settings(max_examples=150, deadline=None)
@given(_PATHS, st.sampled_from([1, 4, 12, 20]), st.data())
def test_keys_that_share_long_prefixes_give_the_defined_root(
    paths: list[int], depth: int, data: st.DataObject
) -> None:
    roots = RootTree(depth)
    entries: dict[int, bytes] = {}
    for _ in range(3):
        chosen = data.draw(st.lists(st.sampled_from(paths), unique=True))
        changes: list[tuple[bytes, bytes | None]] = []
        for path in chosen:
            if path in entries and data.draw(st.booleans()):
                changes.append((path.to_bytes(32, "big"), None))
                del entries[path]
            else:
                leaf = hashlib.sha256(data.draw(st.binary(max_size=4))).digest()
                changes.append((path.to_bytes(32, "big"), leaf))
                entries[path] = leaf
        roots._update(changes)
        assert roots.root == _reference(entries)


def test_the_small_trees_follow_the_rules() -> None:
    roots = RootTree(4)
    assert roots.root == EMPTY_HASH
    root = roots.apply(0, {b"only": b"v"})
    kh = hashlib.sha256(b"only").digest()
    assert root == leaf_hash(kh, hashlib.sha256(b"v").digest())  # a lone leaf moves up
    assert roots.apply(1, {b"absent": None}) == root  # deleting an absent key: nothing
    roots.apply(2, {b"x": b"1", b"y": b"2"})
    assert roots.keys == 3
    assert roots.apply(3, {b"only": None, b"x": None, b"y": None}) == EMPTY_HASH
    assert roots.keys == 0


@pytest.mark.parametrize(
    ("changes", "code"),
    [({b"": b"v"}, "bad_key"), ({"text": b"v"}, "bad_key"), ([(b"a", b"v")], "bad_key"),
     ({b"a": 1}, "bad_value"), ({b"a": "v"}, "bad_value")],
)
def test_a_refused_change_changes_nothing(changes: object, code: str) -> None:
    roots = RootTree(8)
    tree = StateTree(MemoryNodeStore())
    before = roots.apply(0, {b"a": b"1", b"b": b"2"})
    tree.apply(0, {b"a": b"1", b"b": b"2"})
    with pytest.raises(LedgerError) as err:
        roots.apply(1, {b"c": b"3", **changes} if isinstance(changes, dict) else changes)
    assert err.value.code == code
    assert roots.root == before and roots.keys == 2 and roots.latest_version == 0
    assert roots.apply(1, {b"c": b"3"}) == tree.apply(1, {b"c": b"3"})


@pytest.mark.parametrize("version", [0, -1, True, 1.0, "2", 1 << 64])
def test_versions_strictly_increase_within_64_bits(version: object) -> None:
    roots = RootTree(8)
    root = roots.apply(0, {b"a": b"1"})
    with pytest.raises(LedgerError) as err:
        roots.apply(version, {b"a": b"2"})  # type: ignore[arg-type]
    assert err.value.code == "bad_version"
    assert roots.root == root and roots.latest_version == 0


@pytest.mark.parametrize("depth", [0, 25, True, "8"])
def test_the_bucket_depth_is_checked(depth: object) -> None:
    with pytest.raises(ValueError):
        RootTree(depth)  # type: ignore[arg-type]


def test_the_benchmark_times_it_and_checks_its_root() -> None:
    """``python -m bench.bench_state_tree --store roots``: one row per size; the benchmark
    fails if the last root differs from StateTree's."""
    import subprocess
    import sys
    from pathlib import Path

    out = subprocess.run(
        [sys.executable, "-m", "bench.bench_state_tree", "--store", "roots", "--sizes",
         "300,900", "--batch", "50", "--batches", "2"],
        capture_output=True, text=True, timeout=120, check=True,
        cwd=Path(__file__).resolve().parents[2],
    ).stdout
    rows = [line.split() for line in out.splitlines() if line.strip()[:1].isdigit()]
    assert [row[0] for row in rows] == ["300", "900"]
    assert all(len(row) == 11 and float(row[1]) > 0 for row in rows)
