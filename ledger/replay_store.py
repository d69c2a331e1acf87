"""A replay's working data kept in a scratch key-value database (SQLite, or
``ledger.store.MemoryDB`` for tests) instead of Python objects, so that a replay of a long
chain (``fcl audit``) holds in memory only bounded caches, not the chain's state.

One database, two key spaces:

* ``s/<key>``: the replayed state (:class:`DBState`, a ``StateReader`` with ``apply``),
  with bounded caches of point reads (values and absences) and of short prefix scans in
  front;
* ``a/p<page>``: the state tree's newest record at each place below depth
  ``top_depth`` (16 unless said), grouped in pages of ``page_height`` levels, those above
  in a dict (:class:`LatestDBNodeStore`, the on-disk twin of
  ``state_tree.LatestNodeStore``) -- for the one-process replay: the audit's tree process
  computes roots without records (``ledger.root_tree``);

and beside it the ids of the transactions replayed so far (``seen``, a
``ledger.id_set.IdSet``: appended to a file of the same folder, fingerprints in memory).

The database is scratch: :meth:`ReplayStore.open` makes it in a fresh temporary folder
and :meth:`ReplayStore.close` deletes it. ``open(shared=True)``: another process (the
audit's tree process) writes each block's state writes (:func:`block_rows`) while they
are pending here (``DBState.apply(..., version=h)`` until ``settle(h)``). Nothing here
reaches consensus; the values, roots and verdicts are those of the in-memory replay
(tests/ledger/test_replay_store.py).
"""

from __future__ import annotations

import bisect
import itertools
import marshal
import shutil
import sqlite3
import tempfile
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from ledger.errors import StorageFailure, guarded_rows
from ledger.id_set import IdSet
from ledger.sqlite_kv import SQLiteDB
from ledger.state import check_seek
from ledger.state_tree import _H
from ledger.store import MemoryDB, iter_state, last_state_at_or_before

__all__ = ["DBState", "LatestDBNodeStore", "ReplayStore", "block_rows"]

_STATE = b"s/"
_TREE = b"a/"
_PAGE = b"p"  # under _TREE: a page of the tree's records (LatestDBNodeStore)

# entries in DBState's read cache: ~250 B of value + ~150 B of key and dict slot each,
# so ~25 MB at most (docs/performance.md "The auditor's memory")
DEFAULT_STATE_CACHE = 65_536
# completed prefix scans kept (DBState.iter_prefix): a scan of at most this many rows is
# remembered, and past this many rows in all the oldest groups are dropped down to half
SCAN_CACHE_MAX_ROWS = 32
DEFAULT_SCAN_CACHE_ROWS = 65_536
# the scratch database is one SQLite file (ledger/sqlite_kv.py: no mapped files, no
# compaction); its page cache holds at most this much
_PAGE_CACHE_BYTES = 64 << 20
DATABASE_FILE = "replay.sqlite"
IDS_FILE = "tx-ids"
# the state tree's records above this depth stay in memory (LatestDBNodeStore); those
# below, in pages of this many levels, at most this many kept decoded
DEFAULT_TOP_DEPTH = 16
DEFAULT_PAGE_HEIGHT = 4
DEFAULT_PAGE_CACHE = 1 << 15


class _Pending:
    """Writes made but not yet in the database, because another process writes them
    there (the audit's tree process, docs/audit.md "Two processes"): the newest value of
    each key, and per version the keys it wrote, sorted. :meth:`settle` forgets a version
    once its writes are known to be in the database."""

    __slots__ = ("layers", "values", "version_of")

    def __init__(self) -> None:
        self.values: dict[str, bytes | None] = {}
        self.version_of: dict[str, int] = {}
        self.layers: deque[tuple[int, list[str]]] = deque()

    def add(self, version: int, writes: list[tuple[str, bytes | None]]) -> None:
        if self.layers and version <= self.layers[-1][0]:
            raise ValueError(f"pending version {version} after {self.layers[-1][0]}")
        values, version_of = self.values, self.version_of
        for key, value in writes:
            values[key] = value
            version_of[key] = version
        self.layers.append((version, sorted({key for key, _ in writes})))

    def settle(self, version: int) -> None:
        values, version_of = self.values, self.version_of
        while self.layers and self.layers[0][0] <= version:
            done, keys = self.layers.popleft()
            for key in keys:
                if version_of.get(key) == done:  # not written again by a later version
                    del values[key]
                    del version_of[key]

    def between(self, prefix: str, low: str, high: str | None = None) -> list[str]:
        """The pending keys under ``prefix`` from ``low`` on (and at most ``high``),
        sorted, deleted or not."""
        found: set[str] = set()
        for _, keys in self.layers:
            i = bisect.bisect_left(keys, low)
            while i < len(keys) and keys[i].startswith(prefix) \
                    and (high is None or keys[i] <= high):
                found.add(keys[i])
                i += 1
        return sorted(found)


def scan_group(text: str) -> str | None:
    """A key's or a prefix's *scan group*: its text up to and including its second
    ``/`` (``holding/<account>/``, ``plotqt/<cell>/``), or None if it has fewer. Every key
    under a prefix that has a group is in that group (the key starts with the prefix, so
    with the group, and its second ``/`` is the group's): a write can only change the
    scans of its own key's group."""
    first = text.find("/")
    if first < 0:
        return None
    second = text.find("/", first + 1)
    return None if second < 0 else text[: second + 1]


def _failure(exc: BaseException) -> StorageFailure:
    return StorageFailure("replay_store", f"the replay's scratch database failed: {exc}")


def _guarded(rows: Iterator[tuple[str, bytes]]) -> Iterator[tuple[str, bytes]]:
    """``rows`` with a failure of the database as the ``StorageFailure`` it is."""
    return guarded_rows(rows, sqlite3.Error, _failure)


class DBState:
    """The replayed state under ``s/`` of ``db``: point reads through a bounded cache,
    ordered reads (``iter_prefix``, ``last_at_or_before``) by one seek of the database,
    writes by :meth:`apply` (one write batch per block). UTF-8 byte order of the keys is
    code point order, Python's ``str`` order, so the order is ``MemoryState``'s.

    A prefix scan read to its end that found at most SCAN_CACHE_MAX_ROWS rows is
    remembered (by its prefix, under its :func:`scan_group`; a prefix without a group is
    never remembered) until a write of a key of that group: the replay scans an
    account's holdings and the plot index's cells over and over, and most of those scans
    find nothing or a few rows.

    ``apply(writes, version=h)`` does not write: another process writes version ``h`` to
    the database (``SQLiteDB(shared=True)``), and until :meth:`settle` ``(h)`` says it
    has, every read looks at those writes first, as if they were in the database."""

    def __init__(self, db: Any, *, cache_size: int = DEFAULT_STATE_CACHE) -> None:
        if cache_size < 2:
            raise ValueError("the state cache needs room for at least 2 entries")
        self._db = db
        self._cache: dict[str, bytes | None] = {}
        self._cache_size = cache_size
        self._pending = _Pending()
        # scan group -> prefix -> the scan's rows; how many rows they hold in all; a
        # number that changes with every apply (a scan read across one is not kept)
        self._scans: dict[str, dict[str, tuple[tuple[str, bytes], ...]]] = {}
        self._scan_rows = 0
        self._epoch = 0

    def _remember(self, key: str, value: bytes | None) -> None:
        cache = self._cache
        if len(cache) >= self._cache_size and key not in cache:
            # drop the older half (dicts keep insertion order): the recent reads stay
            for old in list(cache)[: len(cache) // 2]:
                del cache[old]
        cache[key] = value

    def get(self, key: str) -> bytes | None:
        cache = self._cache
        if key in cache:
            return cache[key]
        pending = self._pending.values
        if key in pending:
            value = pending[key]
        else:
            try:
                value = self._db.get(_STATE + key.encode("utf-8"))
            except sqlite3.Error as exc:
                raise _failure(exc) from exc
        self._remember(key, value)
        return value

    def iter_prefix(self, prefix: str, start: str | None = None) -> Iterator[tuple[str, bytes]]:
        if start is None or start <= prefix:
            group = scan_group(prefix)
            if group is not None:
                scans = self._scans.get(group)
                rows = None if scans is None else scans.get(prefix)
                if rows is not None:
                    return iter(rows)
                return self._remembered(prefix, group)
        return self._read(prefix, start)

    def _remembered(self, prefix: str, group: str) -> Iterator[tuple[str, bytes]]:
        """The scan of ``prefix``, kept if it is read to its end, is short enough, and no
        apply came in between."""
        epoch = self._epoch
        rows: list[tuple[str, bytes]] | None = []
        for item in self._read(prefix, None):
            if rows is not None:
                rows.append(item)
                if len(rows) > SCAN_CACHE_MAX_ROWS:
                    rows = None
            yield item
        if rows is None or epoch != self._epoch:
            return
        if self._scan_rows + len(rows) > DEFAULT_SCAN_CACHE_ROWS:
            # drop the oldest groups (dicts keep insertion order) down to half the rows
            for old in list(self._scans):
                if self._scan_rows <= DEFAULT_SCAN_CACHE_ROWS // 2:
                    break
                self._drop_scans(old)
        self._scans.setdefault(group, {})[prefix] = tuple(rows)
        self._scan_rows += len(rows)

    def _drop_scans(self, group: str) -> None:
        """Forget the remembered scans of ``group`` (if any)."""
        dropped = self._scans.pop(group, None)
        if dropped is not None:
            self._scan_rows -= sum(len(rows) for rows in dropped.values())

    def _forget_scans(self, keys: Iterable[str]) -> None:
        """Drop the remembered scans of the groups of ``keys`` (written)."""
        self._epoch += 1
        if not self._scans:
            return
        for key in keys:
            group = scan_group(key)
            if group is not None:
                self._drop_scans(group)

    def _read(self, prefix: str, start: str | None) -> Iterator[tuple[str, bytes]]:
        if not self._pending.layers:
            return _guarded(iter_state(self._db, prefix, start))
        low = prefix if start is None or start <= prefix else start
        return _guarded(self._merged(iter_state(self._db, prefix, start),
                                     self._pending.between(prefix, low)))

    def _merged(self, stored: Iterator[tuple[str, bytes]],
                keys: list[str]) -> Iterator[tuple[str, bytes]]:
        """The database's ``stored`` items with the pending ``keys`` (sorted) over them;
        their values as they are now, whatever is settled while the caller reads on."""
        values = self._pending.values
        mine = [(key, values[key]) for key in keys]
        at, end = 0, len(mine)
        for key, value in stored:
            while at < end and mine[at][0] <= key:
                pending_key, pending_value = mine[at]
                at += 1
                if pending_value is not None:
                    yield pending_key, pending_value
                if pending_key == key:
                    break  # pending over the stored value: deleted or changed
            else:
                yield key, value
        for pending_key, pending_value in mine[at:]:
            if pending_value is not None:
                yield pending_key, pending_value

    def last_at_or_before(
        self, prefix: str, key: str, *, strict: bool = False
    ) -> tuple[str, bytes] | None:
        try:
            return self._last_at_or_before(prefix, key, strict)
        except sqlite3.Error as exc:
            raise _failure(exc) from exc

    def _last_at_or_before(self, prefix: str, key: str,
                           strict: bool) -> tuple[str, bytes] | None:
        if not self._pending.layers:
            return last_state_at_or_before(self._db, prefix, key, strict=strict)
        check_seek(prefix, key)
        values = self._pending.values
        best: tuple[str, bytes] | None = None
        for candidate in reversed(self._pending.between(prefix, prefix, key)):
            mine = values[candidate]
            if mine is not None and not (strict and candidate == key):
                best = (candidate, mine)
                break
        bound = _STATE + key.encode("utf-8")
        for raw, value in self._db.iterator(start=_STATE + prefix.encode("utf-8"),
                                            stop=bound if strict else bound + b"\x00",
                                            reverse=True):
            found = raw[len(_STATE):].decode("utf-8")
            if found in values:
                continue  # pending: deleted, or among ``mine`` already
            if best is None or found > best[0]:
                best = (found, value)
            break
        return best

    def apply(self, writes: Iterable[tuple[str, bytes | None]], *,
              version: int | None = None) -> None:
        """Write ``writes`` in order (None deletes), all in one batch; with ``version``,
        keep them pending instead (see the class)."""
        staged = list(writes)
        self._forget_scans(key for key, _ in staged)
        if version is not None:
            self._pending.add(version, staged)
            for key, value in staged:
                self._remember(key, value)
            return
        with self._db.write_batch(transaction=True) as wb:
            for key, value in staged:
                raw = _STATE + key.encode("utf-8")
                if value is None:
                    wb.delete(raw)
                else:
                    wb.put(raw, value)
                self._remember(key, value)

    def settle(self, version: int) -> None:
        """The writes of every version up to ``version`` are in the database now."""
        self._pending.settle(version)

    def items(self) -> list[tuple[str, bytes]]:
        """Every key and value, in key order, as a list (as ``MemoryState.items``; a
        stream of them is ``iter_prefix("")``)."""
        return list(self.iter_prefix(""))


class LatestDBNodeStore:
    """``state_tree.LatestNodeStore(leaves=False)`` with its deeper records in ``db``
    instead of a dict: the newest internal record at each place of the tree (keyed by
    place, so a version's record replaces the one it supersedes) and the root. Exact for
    the latest version only, and without leaf records: for a replay that computes roots
    (see ``LatestNodeStore``).

    The records above depth ``top_depth`` (at most 2^top_depth places: ~13 MB at 16) stay
    in a dict: nearly every block rewrites them, and writing them to the database would only
    make it compact them away again.

    The deeper records are kept in *pages*, one database value each under ``a/p``: a
    page holds every record of the subtree ``page_height`` levels deep that starts at a
    depth ``top_depth + k * page_height`` (its key: ``p`` + that depth (2 bytes) + the
    path's first bits). An update reads and rewrites a key's path top-down, so one read
    and one write of the database serve ``page_height`` levels of it, where a record per
    value needed one each (docs/performance.md, "The audit's tree in pages"). The pages
    last read or written (at most ``cache_pages``) are kept decoded; a page's encoding is
    ``marshal``'s (the database is scratch, read by the same interpreter that wrote it).
    """

    def __init__(
        self, db: Any, *, top_depth: int = DEFAULT_TOP_DEPTH,
        page_height: int = DEFAULT_PAGE_HEIGHT, cache_pages: int = DEFAULT_PAGE_CACHE,
    ) -> None:
        if not 0 <= top_depth <= 256:
            raise ValueError("top_depth is a tree depth, 0..256")
        if not 1 <= page_height <= 256:
            raise ValueError("page_height is a number of tree levels, 1..256")
        if cache_pages < 0:
            raise ValueError("the page cache holds 0 or more pages")
        self._db = db
        self._top: dict[bytes, bytes] = {}
        self._top_depth = top_depth
        self._pages: dict[bytes, dict[bytes, bytes]] = {}
        self._cache_pages = cache_pages
        # per depth top_depth..255: the key of its page's depth, the bytes of the path the
        # page key keeps, the mask of the last of them
        pages: list[tuple[bytes, int, int]] = []
        for depth in range(256):
            start = top_depth + max(0, depth - top_depth) // page_height * page_height
            nbytes = (start + 7) >> 3
            pages.append((_PAGE + _H.pack(start), nbytes, (0xFF << (nbytes * 8 - start)) & 0xFF))
        self._page_of = tuple(pages)

    def _page_key(self, key: bytes, depth: int) -> bytes:
        """The page of the record ``key`` (b"n" + version(8) + depth(2) + path) at
        ``depth`` (top_depth..255)."""
        head, nbytes, mask = self._page_of[depth]
        path = key[11 : 11 + nbytes]
        if mask != 0xFF and nbytes:
            path = path[:-1] + bytes((path[-1] & mask,))
        return head + path

    def _read(self, page_key: bytes) -> dict[bytes, bytes]:
        """The page as stored (empty if it was never written)."""
        raw = self._db.get(_TREE + page_key)
        return {} if raw is None else marshal.loads(raw)

    def _remember(self, page_key: bytes, page: dict[bytes, bytes]) -> None:
        pages = self._pages
        pages[page_key] = page
        if len(pages) > self._cache_pages:
            # drop the older half (insertion order); every cached page is as stored
            for old in list(itertools.islice(pages, len(pages) - self._cache_pages // 2)):
                del pages[old]

    def get(self, key: bytes) -> bytes | None:
        kind = key[:1]
        if kind == b"n":  # b"n" + version(8) + depth(2) + path
            depth = (key[9] << 8) | key[10]
            if depth < self._top_depth:
                return self._top.get(b"n" + key[9:])
            if depth >= 256:
                return None  # no leaf record is kept
            page_key = self._page_key(key, depth)
            page = self._pages.get(page_key)
            if page is None:
                page = self._read(page_key)
                self._remember(page_key, page)
            return page.get(b"n" + key[9:])
        if kind == b"r":  # b"r" + version(8)
            return self._top.get(b"r")
        value: bytes | None = self._db.get(_TREE + key)
        return value

    def write(self, items: Sequence[tuple[bytes, bytes]]) -> None:
        memory = self._top
        top_depth = self._top_depth
        touched: dict[bytes, dict[bytes, bytes]] = {}  # loaded here: nothing evicts them
        others: list[tuple[bytes, bytes]] = []
        for key, value in items:
            kind = key[:1]
            if kind == b"n":
                depth = (key[9] << 8) | key[10]
                if depth < top_depth:
                    memory[b"n" + key[9:]] = value
                elif depth < 256:  # (no leaf record is kept)
                    page_key = self._page_key(key, depth)
                    page = touched.get(page_key)
                    if page is None:
                        page = self._pages.get(page_key)
                        if page is None:
                            page = self._read(page_key)
                        touched[page_key] = page
                    page[b"n" + key[9:]] = value
            elif kind == b"r":
                memory[b"r"] = value
            else:
                others.append((key, value))
        with self._db.write_batch(transaction=True) as wb:
            for page_key, page in touched.items():
                wb.put(_TREE + page_key, marshal.dumps(page))
            for key, value in others:
                wb.put(_TREE + key, value)
        for page_key, page in touched.items():
            self._remember(page_key, page)

    def places(self) -> Iterator[tuple[bytes, bytes]]:
        """Every record kept, as ``(place, record)`` (the root's place is ``b"r"``), in
        memory first, then page by page (tests and diagnostics)."""
        yield from self._top.items()
        for _, raw in self._db.iterator(prefix=_TREE + _PAGE):
            yield from marshal.loads(raw).items()


def block_rows(writes: Iterable[tuple[str, bytes | None]]) -> list[tuple[bytes, bytes | None]]:
    """A block's state writes as ``SQLiteDB.apply`` takes them (None deletes): for the
    process that writes what ``DBState`` keeps pending."""
    return [(_STATE + key.encode("utf-8"), value) for key, value in writes]


class ReplayStore:
    """The scratch database of one replay with its three views (``state``, ``nodes``,
    ``seen``). :meth:`open`: one SQLite file (``ledger.sqlite_kv``) in a new temporary
    folder (under ``parent`` if given), deleted by :meth:`close`; :meth:`in_memory`: a
    ``MemoryDB``."""

    def __init__(
        self, db: Any, folder: Path | None, *, cache_size: int,
        top_depth: int = DEFAULT_TOP_DEPTH, page_height: int = DEFAULT_PAGE_HEIGHT,
        cache_pages: int = DEFAULT_PAGE_CACHE, shared: bool = False,
    ) -> None:
        self.db = db
        self.folder = folder
        self.shared = shared
        """Another process may write the database file too (:meth:`open`)."""
        self.state = DBState(db, cache_size=cache_size)
        self.nodes = LatestDBNodeStore(db, top_depth=top_depth, page_height=page_height,
                                       cache_pages=cache_pages)
        self.seen = IdSet(None if folder is None else folder / IDS_FILE)

    @classmethod
    def open(
        cls, parent: str | Path | None = None, *, cache_size: int = DEFAULT_STATE_CACHE,
        top_depth: int = DEFAULT_TOP_DEPTH, page_height: int = DEFAULT_PAGE_HEIGHT,
        cache_pages: int = DEFAULT_PAGE_CACHE, shared: bool = False,
    ) -> ReplayStore:
        """``shared``: another process may write the file too (``SQLiteDB(shared=True)``;
        its path is :meth:`database_file`)."""
        folder = Path(tempfile.mkdtemp(prefix="fcl-replay-", dir=parent))
        try:
            db = SQLiteDB(folder / DATABASE_FILE, cache_bytes=_PAGE_CACHE_BYTES, shared=shared)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return cls(db, folder, cache_size=cache_size, top_depth=top_depth,
                   page_height=page_height, cache_pages=cache_pages, shared=shared)

    @classmethod
    def in_memory(
        cls, *, cache_size: int = DEFAULT_STATE_CACHE, top_depth: int = DEFAULT_TOP_DEPTH,
        page_height: int = DEFAULT_PAGE_HEIGHT, cache_pages: int = DEFAULT_PAGE_CACHE,
    ) -> ReplayStore:
        return cls(MemoryDB(), None, cache_size=cache_size, top_depth=top_depth,
                   page_height=page_height, cache_pages=cache_pages)

    def database_file(self) -> Path | None:
        """The SQLite file (None in memory, or once closed)."""
        return None if self.folder is None else self.folder / DATABASE_FILE

    def close(self) -> None:
        """Close the database and delete its folder (idempotent)."""
        self.db.close()
        self.seen.close()
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def __enter__(self) -> ReplayStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
