"""A scratch key-value database in one SQLite file, with the subset of ``plyvel.DB``'s
interface that ``ledger.replay_store`` uses (the one ``ledger.store.MemoryDB`` has).

Why not LevelDB for the replay's scratch data (docs/performance.md, "The audit's roots
without records, its state in SQLite"): a replay reads its state at random all over a database that grows
to millions of keys. LevelDB keeps a bounded number of table files open (each mapped
into memory, whose pages read count in the RSS), so past a few hundred files nearly
every read opens, maps and unmaps a table again; and its background compaction of
randomly-placed writes takes a second core from the audit's other process. A SQLite
B-tree read costs a few page reads through a page cache of bounded size (``pread``, no
mapping), and an update is written in place: no compaction.

The file is scratch, so durability is off (no ``fsync``; no journal either, unless
``shared=True``, which needs SQLite's write-ahead log): a crash loses it, which the
replay never reads again. Keys and values are byte strings; keys sort as
bytes (SQLite compares BLOBs with ``memcmp``, LevelDB's default order).

* ``get(key, default=None)``; ``put``; ``delete``;
* ``write_batch(transaction=..., sync=...)``: collects ``put`` / ``delete`` and applies
  them when the ``with`` block ends, in one SQLite transaction (nothing if it raises);
* ``iterator(prefix=, start=, stop=, reverse=, include_value=)``: ``start`` inclusive,
  ``stop`` exclusive, ``prefix`` not combined with either (``TypeError``, as plyvel). It
  reads its rows by short queries, each read to its end (16 rows, then twice as many each
  time): SQLite keeps a read transaction -- and its snapshot -- while a query is
  unfinished, so a scan the caller leaves half-read would hide, from every later read on
  the connection, what another process writes (``shared=True``). Unlike plyvel's, an
  iterator does not read one snapshot: the replay writes only between blocks, never
  while it reads a scan, and with ``shared=True`` every key the other process may write
  meanwhile is pending in the reader (``ledger.replay_store.DBState``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

from ledger.store import prefix_end

__all__ = ["SQLiteDB"]

# 16 KiB pages: of 4, 8, 16, 32 and 64 KiB, the fastest random reads and upserts of 250-byte
# values in a file several times the page cache (docs/performance.md, "The audit's roots
# without records, its state in SQLite")
_PAGE_BYTES = 16384
# an iterator reads this many rows first (most scans of the replay read a few), then twice
# as many each time, up to the last
_FIRST_CHUNK = 16
_MAX_CHUNK = 4096


class _Batch:
    """What :meth:`SQLiteDB.write_batch` returns: the last operation on each key, applied
    when the ``with`` block ends without an exception."""

    def __init__(self, db: SQLiteDB) -> None:
        self._db = db
        self._ops: dict[bytes, bytes | None] = {}

    def put(self, key: bytes, value: bytes) -> None:
        self._ops[bytes(key)] = bytes(value)

    def delete(self, key: bytes) -> None:
        self._ops[bytes(key)] = None

    def __enter__(self) -> _Batch:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if kind is None:
            self._db.apply(self._ops.items())


class SQLiteDB:
    """Keys and values (bytes) in the SQLite file ``path`` (created; it must not exist),
    its page cache bounded to ``cache_bytes``.

    ``shared=True``: the file is in write-ahead-log mode without an exclusive lock, so
    that another process can :meth:`attach` to it and write while this one reads (each
    read sees every write committed before it); otherwise one process holds it alone,
    without a journal."""

    def __init__(self, path: str | Path, *, cache_bytes: int = 32 << 20,
                 shared: bool = False) -> None:
        if Path(path).exists():
            raise FileExistsError(f"{path} exists: a scratch database is always new")
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        try:
            conn.execute(f"PRAGMA page_size={_PAGE_BYTES}")  # before the table is made
            if shared:
                conn.execute("PRAGMA journal_mode=WAL")
            else:
                conn.execute("PRAGMA journal_mode=OFF")
                conn.execute("PRAGMA locking_mode=EXCLUSIVE")
            self._tune(conn, cache_bytes)
            conn.execute("CREATE TABLE kv (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID")
        except BaseException:
            conn.close()
            raise
        self._conn: sqlite3.Connection | None = conn

    @classmethod
    def attach(cls, path: str | Path, *, cache_bytes: int = 32 << 20) -> SQLiteDB:
        """Open the database another process made with ``shared=True`` (an
        ``sqlite3.Error`` if ``path`` holds no such database)."""
        if not Path(path).is_file():
            raise FileNotFoundError(f"{path} is not a database file")
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        try:
            cls._tune(conn, cache_bytes)
            conn.execute("SELECT k FROM kv LIMIT 0")
        except BaseException:
            conn.close()
            raise
        db = cls.__new__(cls)
        db._conn = conn
        return db

    @staticmethod
    def _tune(conn: sqlite3.Connection, cache_bytes: int) -> None:
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute(f"PRAGMA cache_size=-{max(64, cache_bytes >> 10)}")  # in KiB
        conn.execute("PRAGMA mmap_size=0")

    def _live(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("the database is closed")
        return self._conn

    def get(self, key: bytes, default: bytes | None = None) -> bytes | None:
        row = self._live().execute("SELECT v FROM kv WHERE k = ?", (key,)).fetchone()
        return default if row is None else row[0]

    def put(self, key: bytes, value: bytes) -> None:
        self.apply([(key, value)])

    def delete(self, key: bytes) -> None:
        self.apply([(key, None)])

    def apply(self, ops: Any) -> None:
        """Apply ``(key, value)`` puts and ``(key, None)`` deletes in one transaction (of
        several operations on one key, the last)."""
        last = {bytes(k): v for k, v in ops}
        puts = [(k, bytes(v)) for k, v in last.items() if v is not None]
        deletes = [(k,) for k, v in last.items() if v is None] if len(puts) != len(last) else []
        conn = self._live()
        conn.execute("BEGIN")
        try:
            if puts:
                # an upsert rewrites the row in place (REPLACE deletes it, then inserts)
                conn.executemany("INSERT INTO kv (k, v) VALUES (?, ?) "
                                 "ON CONFLICT (k) DO UPDATE SET v = excluded.v", puts)
            if deletes:
                conn.executemany("DELETE FROM kv WHERE k = ?", deletes)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def write_batch(self, *, transaction: bool = False, sync: bool = False) -> _Batch:
        return _Batch(self)

    def iterator(
        self,
        *,
        prefix: bytes | None = None,
        start: bytes | None = None,
        stop: bytes | None = None,
        reverse: bool = False,
        include_value: bool = True,
    ) -> Iterator[Any]:
        if prefix is not None:
            if start is not None or stop is not None:
                raise TypeError("'prefix' cannot be used together with 'start' or 'stop'")
            start, stop = prefix, prefix_end(prefix)
        self._live()
        return self._chunks(None if start is None else bytes(start),
                            None if stop is None else bytes(stop), reverse, include_value)

    def _chunks(self, start: bytes | None, stop: bytes | None, reverse: bool,
                include_value: bool) -> Iterator[Any]:
        """The rows of ``[start, stop)`` in order, read by queries of a few rows each, every
        one read to its end: a query left unfinished would keep its read transaction, and
        with it a snapshot that no longer shows what another process wrote since."""
        columns = "k, v" if include_value else "k"
        order = "DESC" if reverse else "ASC"
        size = _FIRST_CHUNK
        while True:
            where, args = [], []
            if start is not None:
                where.append("k >= ?")
                args.append(start)
            if stop is not None:
                where.append("k < ?")
                args.append(stop)
            sql = (f"SELECT {columns} FROM kv"
                   + (" WHERE " + " AND ".join(where) if where else "")
                   + f" ORDER BY k {order} LIMIT {size}")
            rows = self._live().execute(sql, args).fetchall()
            for row in rows:
                yield row if include_value else row[0]
            if len(rows) < size:
                return
            last = rows[-1][0]
            if reverse:
                stop = last
            else:
                start = last + b"\x00"  # the least key after ``last``
            size = min(size * 2, _MAX_CHUNK)

    def close(self) -> None:
        """Close the connection (idempotent); the file stays for its owner to delete."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
