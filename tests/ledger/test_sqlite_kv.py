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
