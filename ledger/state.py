"""State views: the committed key-value state and copy-on-write overlays over it.

Keys are strings, values canonical JSON bytes. Iteration is always in sorted key order,
so chaincode that iterates is deterministic.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator
from json.encoder import encode_basestring as _encode_str
from typing import Any, Protocol

from sortedcontainers import SortedList

from ledger.encoding import canonical, decode_state
from ledger.state_tree import MemoryNodeStore, StateTree, TreeUpdate

MAX_KEY_LEN = 512
MAX_VALUE_BYTES = 256 * 1024
_LAST_CHAR = chr(0x10FFFF)  # no string that starts with a prefix ending in it has an end


class StateReader(Protocol):
    """Point reads and ordered reads of a state.

    * ``iter_prefix(prefix, start)``: the keys that start with ``prefix`` (and are not
      before ``start``, if given), in sorted order, with their values;
    * ``last_at_or_before(prefix, key, strict=False)``: the greatest key that starts with
      ``prefix`` and is ``<= key`` (``< key`` if ``strict``), with its value, or None.
      ``key`` must itself start with ``prefix``.

    Both cost O(log n) in the state's size to find their first key (an ordered seek)."""

    def get(self, key: str) -> bytes | None: ...

    def iter_prefix(
        self, prefix: str, start: str | None = None
    ) -> Iterator[tuple[str, bytes]]: ...

    def last_at_or_before(
        self, prefix: str, key: str, *, strict: bool = False
    ) -> tuple[str, bytes] | None: ...


def check_seek(prefix: str, key: str) -> None:
    """Refuse (``ValueError``) a seek key outside its prefix."""
    if not key.startswith(prefix):
        raise ValueError(f"seek key {key!r} does not start with its prefix {prefix!r}")


def last_index_at_or_before(keys: list[str], prefix: str, key: str, strict: bool) -> int:
    """In the sorted list ``keys``: the index of the greatest key that starts with
    ``prefix`` and is ``<= key`` (``< key`` if ``strict``), or -1. ``key`` starts with
    ``prefix``, so every key in ``[prefix, key]`` does too."""
    check_seek(prefix, key)
    i = (bisect.bisect_left if strict else bisect.bisect_right)(keys, key) - 1
    return i if i >= 0 and keys[i] >= prefix else -1


class MemoryState:
    """A committed state held in memory (tests, simulation, the auditor's replay).

    The keys are kept in a ``sortedcontainers.SortedList`` (a list of sorted chunks with an
    index of their maxima): an insert or a delete costs O(log n) searches plus moving at
    most one chunk's entries, so replaying a chain stays linear however large the state
    grows (a plain sorted list moves half the keys on every insert: 106 µs at 1M keys)."""

    def __init__(self, items: Iterable[tuple[str, bytes]] = ()) -> None:
        self._data: dict[str, bytes] = dict(items)
        self._keys: SortedList = SortedList(self._data)

    def get(self, key: str) -> bytes | None:
        return self._data.get(key)

    def __len__(self) -> int:
        return len(self._data)

    def iter_prefix(self, prefix: str, start: str | None = None) -> Iterator[tuple[str, bytes]]:
        first = prefix if start is None or start < prefix else start
        for key in self._keys.irange(minimum=first):
            if not key.startswith(prefix):
                return
            yield key, self._data[key]

    def last_at_or_before(
        self, prefix: str, key: str, *, strict: bool = False
    ) -> tuple[str, bytes] | None:
        check_seek(prefix, key)
        keys = self._keys
        i = (keys.bisect_left(key) if strict else keys.bisect_right(key)) - 1
        if i < 0:
            return None
        found: str = keys[i]
        return (found, self._data[found]) if found >= prefix else None

    def apply(self, writes: Iterable[tuple[str, bytes | None]]) -> None:
        for key, value in writes:
            if value is None:
                if key in self._data:
                    del self._data[key]
                    self._keys.remove(key)
            else:
                if key not in self._data:
                    self._keys.add(key)
                self._data[key] = value

    def items(self) -> list[tuple[str, bytes]]:
        return [(k, self._data[k]) for k in self._keys]


_ABSENT = object()


class ReadCache:
    """``base`` with its point reads remembered: each key's value (or its absence) is read
    from ``base`` once. Only for a base that does not change while this is used (the
    committed state during one block's execution, or a snapshot); ordered reads
    (``iter_prefix``, ``last_at_or_before``) go to ``base`` each time."""

    __slots__ = ("_base", "_got")

    def __init__(self, base: StateReader) -> None:
        self._base = base
        self._got: dict[str, bytes | None] = {}

    def get(self, key: str) -> bytes | None:
        got = self._got.get(key, _ABSENT)
        if got is _ABSENT:
            got = self._got[key] = self._base.get(key)
        return got  # type: ignore[return-value]

    def iter_prefix(self, prefix: str, start: str | None = None) -> Iterator[tuple[str, bytes]]:
        return self._base.iter_prefix(prefix, start)

    def last_at_or_before(
        self, prefix: str, key: str, *, strict: bool = False
    ) -> tuple[str, bytes] | None:
        return self._base.last_at_or_before(prefix, key, strict=strict)


def _prefix_slice(keys: list[str], prefix: str, start: str | None = None) -> list[str]:
    """The keys of the sorted list ``keys`` that start with ``prefix`` and are not before
    ``start`` (a copy)."""
    lo = bisect.bisect_left(keys, prefix if start is None or start < prefix else start)
    if prefix and prefix[-1] < _LAST_CHAR:
        # the keys that start with the prefix are exactly those in [prefix, after)
        after = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        return keys[lo : bisect.bisect_left(keys, after, lo)]
    hi, end = lo, len(keys)
    while hi < end and keys[hi].startswith(prefix):
        hi += 1
    return keys[lo:hi]


class Overlay:
    """Copy-on-write writes over a base state. ``child()`` makes a nested overlay whose
    writes reach this one only on ``commit()`` (all of a transaction's writes, or none).

    The first ``iter_prefix`` builds two sorted indexes, of the written keys and of those
    among them not deleted, which later writes keep up to date (``bisect``), so a scan of a
    block overlay with thousands of writes neither sorts them again for every transaction
    nor steps over every deleted key. ``version`` changes on every write, so a reader can
    tell that a value it derived from this view may be stale."""

    def __init__(self, base: StateReader) -> None:
        self._base = base
        self._writes: dict[str, bytes | None] = {}
        # once a scan needed them: the sorted keys of _writes, and of those not deleted
        self._index: list[str] | None = None
        self._live: list[str] = []
        self._version = 0

    @property
    def version(self) -> int:
        """A number that changes whenever this overlay's writes change (put, delete, the
        commit of a child into it, or its own commit)."""
        return self._version

    def get(self, key: str) -> bytes | None:
        if key in self._writes:
            return self._writes[key]
        return self._base.get(key)

    def get_json(self, key: str) -> Any:
        raw = self.get(key)
        return None if raw is None else decode_state(raw)

    def _index_write(self, key: str, value: bytes | None) -> None:
        """Keep the indexes (if built) right for ``_writes[key] = value``, before it."""
        writes = self._writes
        if key not in writes:
            bisect.insort(self._index, key)  # type: ignore[arg-type]
            if value is not None:
                bisect.insort(self._live, key)
        elif (writes[key] is None) != (value is None):
            if value is None:
                del self._live[bisect.bisect_left(self._live, key)]
            else:
                bisect.insort(self._live, key)

    def put(self, key: str, value: bytes) -> None:
        if not isinstance(key, str) or not 0 < len(key) <= MAX_KEY_LEN:
            raise ValueError(f"state keys are strings of 1..{MAX_KEY_LEN} characters")
        if not isinstance(value, bytes) or len(value) > MAX_VALUE_BYTES:
            raise ValueError(f"state values are bytes of at most {MAX_VALUE_BYTES}")
        if self._index is not None:
            self._index_write(key, value)
        self._writes[key] = value
        self._version += 1

    def put_json(self, key: str, value: Any) -> None:
        self.put(key, canonical(value))

    def delete(self, key: str) -> None:
        if self._index is not None:
            self._index_write(key, None)
        self._writes[key] = None
        self._version += 1

    def _build_index(self) -> None:
        if self._index is None:
            self._index = sorted(self._writes)
            self._live = sorted(k for k, v in self._writes.items() if v is not None)

    def last_at_or_before(
        self, prefix: str, key: str, *, strict: bool = False
    ) -> tuple[str, bytes] | None:
        """The greatest key of the merged view under ``prefix`` at or before ``key``:
        the greater of this overlay's last live write there and the base's last key there
        that this overlay did not delete (base keys it deleted are passed one seek each)."""
        if not self._writes:
            return self._base.last_at_or_before(prefix, key, strict=strict)
        self._build_index()
        i = last_index_at_or_before(self._live, prefix, key, strict)
        mine = self._live[i] if i >= 0 else None
        writes = self._writes
        while True:
            found = self._base.last_at_or_before(prefix, key, strict=strict)
            if found is None or (mine is not None and found[0] <= mine):
                break
            if found[0] not in writes:
                return found
            # written here and after the last live write at or before key: deleted
            key, strict = found[0], True
        if mine is None:
            return None
        value = writes[mine]
        assert value is not None
        return mine, value

    def iter_prefix(self, prefix: str, start: str | None = None) -> Iterator[tuple[str, bytes]]:
        """Merge base and overlay, in sorted key order, skipping deleted keys (from
        ``start`` on, if given). The written keys are those at the first step of the
        iteration; their values are read as the iteration reaches them.

        While nothing is written to this overlay during the scan, a run of deleted keys is
        passed in one step (to the next key not deleted, or the next key of the base);
        after a write, every key is looked at."""
        self._build_index()
        assert self._index is not None
        mine = _prefix_slice(self._index, prefix, start)
        if not mine:
            yield from self._base.iter_prefix(prefix, start)
            return
        live = _prefix_slice(self._live, prefix, start)
        n, n_live = len(mine), len(live)
        j = li = 0
        version = self._version
        bisect_left, bisect_right = bisect.bisect_left, bisect.bisect_right
        for key, value in self._base.iter_prefix(prefix, start):
            while j < n and mine[j] < key:
                k = mine[j]
                v = self._writes[k]
                if v is not None:
                    yield k, v
                    j += 1
                elif self._version == version:
                    # every key up to the next live one is deleted (still: no write since
                    # the scan began); stop at `key` too, which may be one of them
                    li = bisect_right(live, k, li)
                    stop = bisect_left(mine, key, j + 1)
                    j = min(bisect_left(mine, live[li], j + 1), stop) if li < n_live else stop
                else:
                    j += 1
            if j < n and mine[j] == key:
                v = self._writes[key]
                if v is not None:
                    yield key, v
                j += 1
            else:
                yield key, value
        while j < n:
            k = mine[j]
            v = self._writes[k]
            if v is not None:
                yield k, v
                j += 1
            elif self._version == version:
                li = bisect_right(live, k, li)
                j = bisect_left(mine, live[li], j + 1) if li < n_live else n
            else:
                j += 1

    def child(self) -> Overlay:
        return Overlay(self)

    def commit(self) -> None:
        """Write a child overlay's writes into its parent overlay."""
        parent = self._base
        if not isinstance(parent, Overlay):
            raise TypeError("commit() merges a child overlay into its parent overlay")
        if parent._index is not None:
            for key, value in self._writes.items():
                parent._index_write(key, value)
                parent._writes[key] = value
        else:
            parent._writes.update(self._writes)
        parent._version += 1
        self._writes = {}
        self._index = None
        self._live = []
        self._version += 1

    def write_set(self) -> list[tuple[str, bytes | None]]:
        return sorted(self._writes.items())


class WriteSet:
    """The write set of a block: ``(key, value or None)`` pairs sorted by key, with its
    canonical body (``[[key, value-hex|null], ...]``, stored as the block's write set) and
    the state tree update it makes -- the one place the state root is computed.

    The state root at height H is the root of the state tree (ledger/state_tree.py,
    docs/state-proofs.md) over the whole key-value state after block H, as version H:
    :meth:`prepare` computes that update over the tree's latest version without storing
    it; the application prepares it when it executes a block, and the store, given the
    same object at commit, finds it remembered (the same tree, version and base version)
    and writes its records in the block's batch at no further cost."""

    __slots__ = ("_body", "_update", "items")

    def __init__(self, writes: Iterable[tuple[str, bytes | None]]) -> None:
        self.items: tuple[tuple[str, bytes | None], ...] = tuple(sorted(writes))
        self._body: bytes | None = None
        self._update: tuple[StateTree, TreeUpdate] | None = None

    @classmethod
    def of(cls, writes: Iterable[tuple[str, bytes | None]]) -> WriteSet:
        """``writes`` itself if it is a ``WriteSet``, else a new one over it."""
        return writes if isinstance(writes, WriteSet) else cls(writes)

    def __iter__(self) -> Iterator[tuple[str, bytes | None]]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, WriteSet):
            return self.items == other.items
        if isinstance(other, list | tuple):
            return list(self.items) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"WriteSet({list(self.items)!r})"

    @property
    def body(self) -> bytes:
        """``canonical([[key, value-hex or null], ...])`` in key order (:func:`write_set_body`)."""
        body = self._body
        if body is None:
            body = self._body = write_set_body(self.items)
        return body

    def tree_changes(self) -> dict[bytes, bytes | None]:
        """The changes as the state tree takes them: the key's UTF-8 bytes -> the value's
        stored bytes, or None for a delete."""
        return {key.encode("utf-8"): value for key, value in self.items}

    def prepare(self, tree: StateTree, version: int) -> TreeUpdate:
        """The update that makes ``version`` of ``tree`` = its latest version with these
        writes, not stored (``StateTree.prepare``); remembered, so that asking again for
        the same tree and version over the same latest version costs nothing."""
        known = self._update
        if known is not None and known[0] is tree:
            update = known[1]
            if update.version == version and update.base_version == tree.latest_version:
                return update
        update = tree.prepare(version, self.tree_changes())
        self._update = (tree, update)
        return update

    def root_in(self, tree: StateTree, version: int) -> str:
        """The state root (hex) of :meth:`prepare` ``(tree, version)``."""
        return self.prepare(tree, version).root.hex()


def write_set_body(items: Iterable[tuple[str, bytes | None]]) -> bytes:
    """``canonical([[key, value.hex() or None], ...])`` of ``items``, in their order.

    Written out directly when every key is an ASCII ``str`` and every value ``bytes`` or
    None (the usual write set: state keys are built from identifiers): the canonical text of an ASCII string is what
    ``json.encoder.encode_basestring`` writes (the encoder ``canonical`` uses, with
    ``ensure_ascii=False``), a hex string needs no escape, and lists join with ``,``.
    Anything else is encoded by ``canonical`` itself (tests/ledger/test_write_set_body.py
    checks both give the same bytes)."""
    pairs = list(items)
    parts = []
    for key, value in pairs:
        if type(key) is not str or not key.isascii():
            break
        if value is None:
            parts.append(f"[{_encode_str(key)},null]")
        elif type(value) is bytes:
            parts.append(f'[{_encode_str(key)},"{value.hex()}"]')
        else:
            break
    else:
        return ("[" + ",".join(parts) + "]").encode("ascii")
    return canonical([[k, None if v is None else v.hex()] for k, v in pairs])


def state_root_of(state: Iterable[tuple[str, bytes]]) -> str:
    """The state root of a state holding exactly ``state`` (key, value) pairs: the root of
    a fresh state tree over them. A tree's root depends on its keys and values only, not
    on the versions or the order that wrote them, so this equals the root of any chain
    whose state is ``state`` (a check independent of how a store got there)."""
    tree = StateTree(MemoryNodeStore())
    return WriteSet(state).root_in(tree, 0)
