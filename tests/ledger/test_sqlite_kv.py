"""ledger/sqlite_kv.py: the replay's scratch SQLite database answers every read as
MemoryDB (the plyvel subset the replay uses) does, after any sequence of batches."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.sqlite_kv import SQLiteDB
from ledger.store import MemoryDB

KEYS = st.sampled_from([b"", b"a", b"a/", b"a/1", b"a/2", b"a\xff", b"a\xff\xff", b"b",
                        b"b/\x00", b"s/x", b"\xff", b"\xff\xff", b"t/\x01\x02"])
OPS = st.lists(st.tuples(KEYS, st.one_of(st.none(), st.binary(max_size=5))), max_size=10)
BOUNDS = [None, b"", b"a", b"a/", b"a/1", b"a\xff", b"b", b"\xff"]


def _apply(db: object, ops: list[tuple[bytes, bytes | None]]) -> None:
    with db.write_batch(transaction=True) as wb:  # type: ignore[attr-defined]
        for key, value in ops:
            if value is None:
                wb.delete(key)
            else:
                wb.put(key, value)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(OPS, max_size=5))
def test_every_read_is_memorydbs(tmp_path_factory: pytest.TempPathFactory,
                                 batches: list[list[tuple[bytes, bytes | None]]]) -> None:
    db = SQLiteDB(tmp_path_factory.mktemp("kv") / "db.sqlite")
    ref = MemoryDB()
    try:
        for ops in batches:
            _apply(db, ops)
            _apply(ref, ops)
        for key in [b"", b"a", b"a/1", b"a\xff", b"b", b"\xff", b"zz"]:
            assert db.get(key) == ref.get(key)
            assert db.get(key, b"-") == ref.get(key, b"-")
        for prefix in BOUNDS:
            if prefix is not None:
                for values in (True, False):
                    assert list(db.iterator(prefix=prefix, include_value=values)) == \
                        list(ref.iterator(prefix=prefix, include_value=values))
                    assert list(db.iterator(prefix=prefix, reverse=True)) == \
                        list(ref.iterator(prefix=prefix, reverse=True))
        for start in BOUNDS:
            for stop in BOUNDS:
                for reverse in (False, True):
                    assert list(db.iterator(start=start, stop=stop, reverse=reverse)) == \
                        list(ref.iterator(start=start, stop=stop, reverse=reverse))
    finally:
        db.close()


def test_a_batch_is_all_or_nothing_and_its_last_write_wins(tmp_path: Path) -> None:
    db = SQLiteDB(tmp_path / "db.sqlite")
    db.put(b"a", b"1")
    with pytest.raises(RuntimeError), db.write_batch(transaction=True) as wb:
        wb.put(b"a", b"2")
        wb.put(b"b", b"2")
        raise RuntimeError("stop")
    assert db.get(b"a") == b"1" and db.get(b"b") is None
    with db.write_batch() as wb:
        wb.put(b"c", b"1")
        wb.delete(b"c")
        wb.delete(b"a")
        wb.put(b"a", b"3")
    assert list(db.iterator()) == [(b"a", b"3")]
    db.delete(b"a")
    assert db.get(b"a") is None
    db.close()
    db.close()  # idempotent


def test_misuse_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    db = SQLiteDB(path)
    with pytest.raises(TypeError):
        db.iterator(prefix=b"a", start=b"a")
    db.close()
    with pytest.raises(FileExistsError):
        SQLiteDB(path)  # scratch: never an existing file
    with pytest.raises(RuntimeError):
        db.get(b"a")


def test_iterators_read_in_chunks_that_join_exactly(tmp_path: Path) -> None:
    """Past the first chunk of rows (16, then twice as many each time), forward and
    backward, with and without bounds: every row once, in order."""
    db = SQLiteDB(tmp_path / "db.sqlite")
    ref = MemoryDB()
    rows = [(b"k/%05d" % i, b"%d" % i) for i in range(0, 3000, 3)]
    rows += [(b"k/%05d\xff" % i, b"x") for i in range(0, 3000, 250)]  # keys that share a prefix
    _apply(db, rows)
    _apply(ref, rows)
    for start, stop in [(None, None), (b"k/00010", b"k/02000"), (b"k/00011", None),
                        (None, b"k/00500\xff"), (b"k/01000", b"k/01000\xff\xff")]:
        for reverse in (False, True):
            assert list(db.iterator(start=start, stop=stop, reverse=reverse)) == \
                list(ref.iterator(start=start, stop=stop, reverse=reverse))
    assert list(db.iterator(prefix=b"k/00", include_value=False)) == \
        list(ref.iterator(prefix=b"k/00", include_value=False))
    db.close()


def test_an_unfinished_iterator_does_not_hide_later_writes(tmp_path: Path) -> None:
    """A scan the reader leaves half-read must not keep it on an old snapshot: what the
    other process writes afterwards is read (a pending query would keep its read
    transaction open)."""
    db = SQLiteDB(tmp_path / "db.sqlite", shared=True)
    _apply(db, [(b"k/%03d" % i, b"old") for i in range(100)])
    writer = SQLiteDB.attach(tmp_path / "db.sqlite")
    try:
        scan = db.iterator(prefix=b"k/")
        assert next(scan) == (b"k/000", b"old")
        writer.apply([(b"k/050", b"new"), (b"z", b"1")])
        assert db.get(b"z") == b"1" and db.get(b"k/050") == b"new"
        assert sum(1 for _ in scan) == 99  # the scan itself goes on
    finally:
        writer.close()
        db.close()
    with pytest.raises(FileNotFoundError):
        SQLiteDB.attach(tmp_path / "absent.sqlite")
