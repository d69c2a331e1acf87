"""Ordered seeks of every StateReader (``iter_prefix(prefix, start)`` and
``last_at_or_before(prefix, key, strict=)``) equal a brute-force answer over the same
keys: MemoryState, the store on LevelDB and in memory, and overlays (with writes and
deletes, nested, committed) over each."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.state import MemoryState, Overlay, StateReader, WriteSet
from ledger.store import MemoryDB, Store, prefix_end

# few characters, so that keys share prefixes; UTF-8 byte order must match str order
ALPHABET = st.sampled_from(["a", "b", "/", "0", "\x00", "\x7f", "é", "\uffff", "\U0010ffff"])
TEXT = st.text(ALPHABET, max_size=4)
KEY = st.text(ALPHABET, min_size=1, max_size=5)


def brute_iter(data: dict[str, bytes], prefix: str, start: str | None) -> list[tuple[str, bytes]]:
    return [(k, data[k]) for k in sorted(data)
            if k.startswith(prefix) and (start is None or k >= start)]


def brute_last(
    data: dict[str, bytes], prefix: str, key: str, strict: bool
) -> tuple[str, bytes] | None:
    keys = [k for k in data if k.startswith(prefix) and (k < key if strict else k <= key)]
    return (max(keys), data[max(keys)]) if keys else None


@contextmanager
def store(items: dict[str, bytes], backend: str) -> Iterator[Store]:
    ws = WriteSet(items.items())
    with tempfile.TemporaryDirectory() as tmp:
        s = Store(tmp) if backend == "leveldb" else Store.in_memory()
        try:
            s.init_genesis("00" * 32, "fcl-test", ws, ws.root_in(s.state_tree, 0))
            yield s
        finally:
            s.close()


@contextmanager
def base_of(kind: str, items: dict[str, bytes]) -> Iterator[StateReader]:
    if kind == "memory-state":
        yield MemoryState(items.items())
    else:
        with store(items, kind) as s:
            yield s


Writes = list[tuple[str, bytes | None]]
WRITES = st.lists(st.tuples(KEY, st.one_of(st.none(), st.binary(min_size=1, max_size=3))),
                  max_size=12)
QUERIES = st.lists(st.tuples(TEXT, TEXT, st.one_of(st.none(), TEXT), st.booleans()),
                   min_size=1, max_size=8)


def apply(data: dict[str, bytes], writes: Writes) -> dict[str, bytes]:
    out = dict(data)
    for k, v in writes:
        if v is None:
            out.pop(k, None)
        else:
            out[k] = v
    return out


def write_into(view: Overlay, writes: Writes) -> None:
    for k, v in writes:
        if v is None:
            view.delete(k)
        else:
            view.put(k, v)


def check(view: StateReader, data: dict[str, bytes], queries: list[Any]) -> None:
    for prefix, rest, start, strict in queries:
        key = prefix + rest
        assert list(view.iter_prefix(prefix)) == brute_iter(data, prefix, None)
        assert list(view.iter_prefix(prefix, start)) == brute_iter(data, prefix, start)
        assert view.last_at_or_before(prefix, key, strict=strict) == brute_last(
            data, prefix, key, strict)


@pytest.mark.parametrize("kind", ["memory-state", "memory", "leveldb"])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(base=st.dictionaries(KEY, st.binary(min_size=1, max_size=3), max_size=16),
       block=WRITES, tx=WRITES, queries=QUERIES, index_first=st.booleans())
def test_seeks_equal_brute_force_on_every_reader(
    kind: str, base: dict[str, bytes], block: Writes, tx: Writes, queries: list[Any],
    index_first: bool,
) -> None:
    with base_of(kind, base) as reader:
        check(reader, base, queries)
        outer = Overlay(reader)
        if index_first:  # the overlay's sorted indexes built before the writes, kept after
            list(outer.iter_prefix(""))
        write_into(outer, block)
        after_block = apply(base, block)
        check(outer, after_block, queries)
        inner = outer.child()
        write_into(inner, tx)
        after_tx = apply(after_block, tx)
        check(inner, after_tx, queries)
        check(outer, after_block, queries)  # the child's writes not yet in its parent
        inner.commit()
        check(outer, after_tx, queries)


def test_a_seek_key_outside_its_prefix_is_refused() -> None:
    readers: list[Callable[[], StateReader]] = [MemoryState, lambda: Overlay(MemoryState())]
    for make in readers:
        with pytest.raises(ValueError):
            make().last_at_or_before("unit/P/", "unit/Q/1")
    with store({}, "memory") as s, pytest.raises(ValueError):
        s.last_at_or_before("unit/P/", "unit/Q/1")


def test_deleted_keys_hide_the_base_in_a_seek() -> None:
    base = MemoryState([("u/1", b"1"), ("u/2", b"2"), ("u/3", b"3"), ("u/4", b"4")])
    view = Overlay(base)
    view.delete("u/3")
    view.delete("u/2")
    assert view.last_at_or_before("u/", "u/3") == ("u/1", b"1")
    assert view.last_at_or_before("u/", "u/9") == ("u/4", b"4")
    assert view.last_at_or_before("u/", "u/4", strict=True) == ("u/1", b"1")
    view.delete("u/1")
    assert view.last_at_or_before("u/", "u/3") is None
    assert list(view.iter_prefix("u/", "u/2")) == [("u/4", b"4")]


def test_memory_db_iterators_read_a_snapshot_and_seek_without_copying() -> None:
    db = MemoryDB()
    for k in (b"a", b"b", b"c"):
        db.put(k, k)
    forward = db.iterator(start=b"b")
    backward = db.iterator(stop=b"c", reverse=True, include_value=False)
    db.put(b"bb", b"x")
    db.delete(b"c")
    db.put(b"b", b"changed")
    assert list(forward) == [(b"b", b"b"), (b"c", b"c")]
    assert list(backward) == [b"b", b"a"]
    assert list(db.iterator(prefix=b"b")) == [(b"b", b"changed"), (b"bb", b"x")]
    assert list(db.iterator(start=b"a", stop=b"bb", reverse=True)) == [
        (b"b", b"changed"), (b"a", b"a")]


def test_prefix_end() -> None:
    assert prefix_end(b"s/a") == b"s/b"
    assert prefix_end(b"s/\xff\xff") == b"s0"
    assert prefix_end(b"\xff") is None
    assert prefix_end(b"") is None
