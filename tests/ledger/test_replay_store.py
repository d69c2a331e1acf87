"""ledger/replay_store.py: the auditor's on-disk replay data answers exactly as the
in-memory structures it replaces (MemoryState, LatestNodeStore(leaves=False), a set)."""

from __future__ import annotations

import marshal
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.replay_store import ReplayStore, block_rows
from ledger.sqlite_kv import SQLiteDB
from ledger.state import MemoryState, WriteSet
from ledger.state_tree import LatestNodeStore, StateTree

KEYS = st.sampled_from(["a", "a/1", "a/2", "a/10", "ab", "b", "b/é", "b/z", "c/0", "c/00"])
VALUES = st.one_of(st.none(), st.binary(min_size=1, max_size=6))
BLOCKS = st.lists(st.lists(st.tuples(KEYS, VALUES), max_size=8), max_size=6)
PREFIXES = ["", "a", "a/", "b/", "c/0", "z"]


@pytest.fixture(params=["sqlite", "memory"])
def replay(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ReplayStore]:
    store = (ReplayStore.open(tmp_path, cache_size=3) if request.param == "sqlite"
             else ReplayStore.in_memory(cache_size=3))
    yield store
    store.close()


def _same_reads(replay: ReplayStore, ref: MemoryState) -> None:
    state = replay.state
    assert state.items() == ref.items()
    for prefix in PREFIXES:
        assert list(state.iter_prefix(prefix)) == list(ref.iter_prefix(prefix))
        for start in ["a/1", "b", "c/00", prefix + "0"]:
            assert list(state.iter_prefix(prefix, start)) == list(ref.iter_prefix(prefix, start))
        for key in [prefix, prefix + "0", prefix + "/2", prefix + "\U0010ffff"]:
            for strict in (False, True):
                assert state.last_at_or_before(prefix, key, strict=strict) == \
                    ref.last_at_or_before(prefix, key, strict=strict)
    for key in ["a", "a/1", "a/2", "a/10", "ab", "b", "b/é", "b/z", "c/0", "c/00", "zz"]:
        assert state.get(key) == ref.get(key)


@settings(max_examples=40, deadline=None)
@given(blocks=BLOCKS)
def test_state_answers_as_memory_state(blocks: list[list[tuple[str, bytes | None]]]) -> None:
    for replay in (ReplayStore.in_memory(cache_size=2), ReplayStore.in_memory(cache_size=1000)):
        ref = MemoryState()
        for writes in blocks:
            for key in ["a", "b/z", "c/0"]:  # reads that fill the cache before the writes
                replay.state.get(key)
            replay.state.apply(writes)
            ref.apply(writes)
            _same_reads(replay, ref)
        replay.close()


def test_db_state_and_cache_bound(replay: ReplayStore) -> None:
    ref = MemoryState()
    writes: list[tuple[str, bytes | None]] = [(f"k/{i:03d}", b"%d" % i) for i in range(50)]
    writes += [("k/007", None), ("k/008", b"new"), ("k/999", None)]
    replay.state.apply(writes)
    ref.apply(writes)
    for i in range(60):
        replay.state.get(f"k/{i:03d}")
        assert len(replay.state._cache) <= 3  # the cache never grows past its bound
    _same_reads(replay, ref)


def test_cache_size_refused_below_two() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        ReplayStore.in_memory(cache_size=1)


# (top_depth, page_height, cache_pages): every record in pages of one level with no page
# kept, a few levels in memory and tiny pages, the defaults, the audit tree process's
LAYOUTS = [(0, 1, 0), (2, 3, 1), (0, 4, 2), (16, 4, 1 << 15), (20, 4, 1 << 15)]


@settings(max_examples=25, deadline=None)
@given(blocks=BLOCKS)
def test_tree_roots_equal_the_in_memory_latest_store(
    blocks: list[list[tuple[str, bytes | None]]],
) -> None:
    for top_depth, page_height, cache_pages in LAYOUTS:
        replay = ReplayStore.in_memory(top_depth=top_depth, page_height=page_height,
                                       cache_pages=cache_pages)
        ours, ref = StateTree(replay.nodes), StateTree(LatestNodeStore(leaves=False))
        for version, block in enumerate(blocks):
            writes = list(dict(block).items())  # a block writes each key once
            a = ours.commit(WriteSet(writes).prepare(ours, version))
            b = ref.commit(WriteSet(writes).prepare(ref, version))
            assert a == b
        replay.close()


def _deep_blocks() -> list[list[tuple[str, bytes | None]]]:
    """Six blocks over 400 keys (a tree ~10 levels deep): inserts, changes, deletions."""
    blocks: list[list[tuple[str, bytes | None]]] = []
    for version in range(6):
        block: list[tuple[str, bytes | None]] = [
            (f"k/{i}", b"v%d" % version) for i in range(version * 60, version * 60 + 100)]
        block += [(f"k/{i}", None) for i in range(version * 7, 400, 37)]
        blocks.append(list(dict(block).items()))  # each key once, the deletion last
    return blocks


@pytest.mark.parametrize(("top_depth", "page_height", "cache_pages"),
                         LAYOUTS + [(3, 2, 0), (5, 4, 3), (1, 256, 1)])
def test_paged_records_are_the_latest_records_at_every_version(
    tmp_path: Path, top_depth: int, page_height: int, cache_pages: int
) -> None:
    """Whatever the layout (records in memory down to ``top_depth``, pages of
    ``page_height`` levels, ``cache_pages`` of them kept decoded, none at all included:
    a write that touches a page twice must not lose the first change), the records kept
    are exactly the latest store's and every root the same, on SQLite and in memory."""
    for replay in (ReplayStore.open(tmp_path, top_depth=top_depth, page_height=page_height,
                                    cache_pages=cache_pages),
                   ReplayStore.in_memory(top_depth=top_depth, page_height=page_height,
                                         cache_pages=cache_pages)):
        latest = LatestNodeStore(leaves=False)
        ours, ref = StateTree(replay.nodes, cache_records=0), StateTree(latest)
        for version, writes in enumerate(_deep_blocks()):
            assert ours.commit(WriteSet(writes).prepare(ours, version)) == \
                ref.commit(WriteSet(writes).prepare(ref, version))
            assert dict(replay.nodes.places()) == \
                {place: record for place, record in latest.data.items() if place != b"v"}
        assert not ours._cache  # cache_records=0 keeps nothing
        replay.close()


@pytest.mark.parametrize("top_depth", [0, 3, 256])
def test_tree_on_disk_keeps_no_leaf_and_one_record_per_place(tmp_path: Path,
                                                                top_depth: int) -> None:
    replay = ReplayStore.open(tmp_path, top_depth=top_depth, page_height=2)
    latest = LatestNodeStore(leaves=False)
    tree, ref = StateTree(replay.nodes), StateTree(latest)
    for version in range(5):
        writes: list[tuple[str, bytes | None]] = [(f"x/{version}/{i}", b"v") for i in range(20)]
        writes.append(("x/0/0", None if version % 2 else b"w%d" % version))
        assert tree.commit(WriteSet(writes).prepare(tree, version)) == \
            ref.commit(WriteSet(writes).prepare(ref, version))
    on_disk = list(replay.db.iterator(prefix=b"a/", include_value=False))
    in_memory = replay.nodes._top
    places = [place for place, _ in replay.nodes.places()]
    assert len(places) == len(set(places)) == len(latest.data) - 1  # all but b"v"
    assert set(places) == set(latest.data) - {b"v"}
    assert set(on_disk) <= {b"a/v"} | {key for key in on_disk if key.startswith(b"a/p")}
    if top_depth == 0:
        assert list(in_memory) == [b"r"]  # the root only
    if top_depth == 256:  # no page on disk (the latest version's number is)
        assert on_disk == [b"a/v"]
    if top_depth == 3:
        assert len(on_disk) > 1
        assert all(place == b"r" or place[1:3] < b"\x00\x03" for place in in_memory)
        # each page holds the records of 2 levels from depth 3 + 2k, under its path
        for key, raw in replay.db.iterator(prefix=b"a/p"):
            start = int.from_bytes(key[3:5], "big")
            assert (start - 3) % 2 == 0
            for place in marshal.loads(raw):
                assert start <= int.from_bytes(place[1:3], "big") < start + 2
    replay.close()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"page_height": 0}, "1..256"), ({"page_height": 257}, "1..256"),
    ({"cache_pages": -1}, "0 or more"),
])
def test_page_layout_refused_when_meaningless(kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ReplayStore.in_memory(**kwargs)


def test_top_depth_refused_outside_the_tree() -> None:
    with pytest.raises(ValueError, match="0..256"):
        ReplayStore.in_memory(top_depth=257)


def test_seen_set(replay: ReplayStore) -> None:
    ids = [bytes([i]) * 32 for i in range(10)]
    assert ids[0] not in replay.seen
    replay.seen.update(ids[:5])
    assert all(i in replay.seen for i in ids[:5])
    assert not any(i in replay.seen for i in ids[5:])


def test_open_makes_and_close_deletes_a_temporary_folder(tmp_path: Path) -> None:
    store = ReplayStore.open(tmp_path)
    folder = store.folder
    assert folder is not None and folder.parent == tmp_path and folder.is_dir()
    store.state.apply([("a", b"1")])
    other = ReplayStore.open(tmp_path)  # a second replay gets its own folder
    assert other.folder != folder and other.state.get("a") is None
    other.close()
    store.close()
    store.close()  # idempotent
    assert list(tmp_path.iterdir()) == []


# -- pending writes (the audit's tree process writes the state file) ---------------------------


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(blocks=BLOCKS, cache_size=st.sampled_from([2, 1000]), data=st.data())
def test_pending_writes_read_as_if_written(
    tmp_path_factory: pytest.TempPathFactory, blocks: list[list[tuple[str, bytes | None]]],
    cache_size: int, data: st.DataObject,
) -> None:
    """A version's writes kept pending (``apply(..., version=h)``) while another handle
    writes them to the file at its own pace (``block_rows``), and forgotten once settled:
    every read answers as the state with every version applied, whenever each is written
    and settled."""
    replay = ReplayStore.open(tmp_path_factory.mktemp("replay"), cache_size=cache_size,
                              shared=True)
    path = replay.database_file()
    assert path is not None
    writer = SQLiteDB.attach(path)
    ref = MemoryState()
    queued: list[tuple[int, list[tuple[str, bytes | None]]]] = []
    written = settled = 0
    try:
        for version, writes in enumerate(blocks, start=1):
            for key in ["a", "b/z", "c/0"]:  # reads that fill the cache before the writes
                replay.state.get(key)
            replay.state.apply(writes, version=version)
            ref.apply(writes)
            queued.append((version, writes))
            # the writer catches up some versions, in order; the reader settles some of those
            for _ in range(data.draw(st.integers(0, len(queued)), label="write")):
                done, done_writes = queued.pop(0)
                writer.apply(block_rows(done_writes))
                written = done
            if written > settled:
                settled = data.draw(st.integers(settled, written), label="settle")
                replay.state.settle(settled)
            _same_reads(replay, ref)
        for _, done_writes in queued:
            writer.apply(block_rows(done_writes))
        replay.state.settle(len(blocks))
        assert not replay.state._pending.values  # everything in the file now
        _same_reads(replay, ref)
    finally:
        writer.close()
        replay.close()


def test_pending_versions_increase(tmp_path: Path) -> None:
    replay = ReplayStore.open(tmp_path, shared=True)
    replay.state.apply([("a", b"1")], version=3)
    with pytest.raises(ValueError, match="pending version 3 after 3"):
        replay.state.apply([("a", b"2")], version=3)
    replay.close()
    assert replay.database_file() is None


# -- remembered prefix scans ------------------------------------------------------------------

GROUPED_KEYS = st.sampled_from([
    "h/x/1", "h/x/2", "h/x/20", "h/x/", "h/y/1", "h/xy/1", "h/x", "p/c:1/q0/a",
    "p/c:1/q01/b", "p/c:1/q1/a", "p/c:2/q0/a", "p/c:1/", "q",
])
GROUPED_PREFIXES = ["h/x/", "h/x/2", "h/y/", "h/", "p/c:1/q0", "p/c:1/q", "p/c:1/", "p/c:2/q0/",
                    "h/x/1", "zz/a/"]
SCAN_STEPS = st.lists(st.one_of(
    st.tuples(st.just("write"), st.lists(st.tuples(GROUPED_KEYS, VALUES), max_size=4),
              st.booleans()),
    st.tuples(st.just("scan"), st.sampled_from(GROUPED_PREFIXES), st.integers(0, 3)),
), max_size=30)


def test_scan_group() -> None:
    from ledger.replay_store import scan_group

    assert scan_group("holding/acct/held/") == "holding/acct/"
    assert scan_group("plotqt/1:2/q0") == "plotqt/1:2/"
    assert scan_group("holding/acct") is None
    assert scan_group("holding/") is None
    assert scan_group("x") is None
    assert scan_group("a//b") == "a//"


@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=SCAN_STEPS, shared=st.booleans())
def test_remembered_scans_answer_as_memory_state(
    tmp_path_factory: pytest.TempPathFactory, steps: list[tuple], shared: bool,
) -> None:
    """Scans read whole (remembered), scans left after a few rows (not remembered), and
    writes of keys of the same group, of another group, or of none, in any order, the
    writes kept pending (another handle writes them) or not: every scan answers as the
    in-memory state."""
    replay = ReplayStore.open(tmp_path_factory.mktemp("scans"), cache_size=4, shared=shared)
    path = replay.database_file()
    assert path is not None
    writer = SQLiteDB.attach(path) if shared else None
    ref = MemoryState()
    version = 0
    try:
        for step in steps:
            if step[0] == "write":
                _, writes, pending = step
                version += 1
                if shared and pending:
                    replay.state.apply(writes, version=version)
                    assert writer is not None
                    writer.apply(block_rows(writes))
                    replay.state.settle(version)
                else:
                    replay.state.apply(writes)
                ref.apply(writes)
            else:
                _, prefix, stop_after = step
                expected = list(ref.iter_prefix(prefix))
                if stop_after:  # a scan the caller leaves after a few rows
                    got = []
                    for item in replay.state.iter_prefix(prefix):
                        got.append(item)
                        if len(got) == stop_after:
                            break
                    assert got == expected[:stop_after]
                assert list(replay.state.iter_prefix(prefix)) == expected
                assert list(replay.state.iter_prefix(prefix, prefix)) == expected
        for prefix in GROUPED_PREFIXES:
            assert list(replay.state.iter_prefix(prefix)) == list(ref.iter_prefix(prefix))
    finally:
        if writer is not None:
            writer.close()
        replay.close()


def test_a_scan_read_across_a_write_is_not_remembered(replay: ReplayStore) -> None:
    replay.state.apply([("h/x/1", b"1"), ("h/x/2", b"2")])
    scan = replay.state.iter_prefix("h/x/")
    assert next(scan) == ("h/x/1", b"1")
    replay.state.apply([("h/x/3", b"3")])  # while the scan is half-read
    list(scan)  # finished: it began before the write, so it must not be kept
    assert list(replay.state.iter_prefix("h/x/")) == [
        ("h/x/1", b"1"), ("h/x/2", b"2"), ("h/x/3", b"3")]


def test_remembered_scans_are_bounded(replay: ReplayStore,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import ledger.replay_store as replay_store

    monkeypatch.setattr(replay_store, "DEFAULT_SCAN_CACHE_ROWS", 10)
    replay.state.apply([(f"h/{a:02d}/{i}", b"v") for a in range(20) for i in range(3)]
                       + [(f"h/big/{i:03d}", b"v") for i in range(40)])
    for a in range(20):
        assert len(list(replay.state.iter_prefix(f"h/{a:02d}/"))) == 3
        # and scans of several prefixes in one group (one group of many rows)
        assert list(replay.state.iter_prefix(f"h/{a:02d}/1")) == [(f"h/{a:02d}/1", b"v")]
        kept = replay.state._scans
        assert replay.state._scan_rows == sum(len(r) for g in kept.values() for r in g.values())
        assert replay.state._scan_rows <= 10
    # a scan longer than SCAN_CACHE_MAX_ROWS is read whole, not kept
    assert len(list(replay.state.iter_prefix("h/big/"))) == 40
    assert "h/big/" not in replay.state._scans
