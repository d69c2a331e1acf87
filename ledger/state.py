"""State views: the committed key-value state and copy-on-write overlays over it.

Keys are strings, values canonical JSON bytes. Iteration is always in sorted key order,
so chaincode that iterates is deterministic.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from ledger.crypto import sha256, sha256_hex
from ledger.encoding import canonical, decode

MAX_KEY_LEN = 512
MAX_VALUE_BYTES = 256 * 1024


class StateReader(Protocol):
    def get(self, key: str) -> bytes | None: ...

    def iter_prefix(self, prefix: str) -> Iterator[tuple[str, bytes]]: ...


class MemoryState:
    """A committed state held in memory (tests, simulation)."""

    def __init__(self, items: Iterable[tuple[str, bytes]] = ()) -> None:
        self._data: dict[str, bytes] = dict(items)
        self._keys: list[str] = sorted(self._data)

    def get(self, key: str) -> bytes | None:
        return self._data.get(key)

    def iter_prefix(self, prefix: str) -> Iterator[tuple[str, bytes]]:
        i = bisect.bisect_left(self._keys, prefix)
        keys = self._keys
        while i < len(keys) and keys[i].startswith(prefix):
            yield keys[i], self._data[keys[i]]
            i += 1

    def apply(self, writes: Iterable[tuple[str, bytes | None]]) -> None:
        for key, value in writes:
            if value is None:
                if key in self._data:
                    del self._data[key]
                    self._keys.pop(bisect.bisect_left(self._keys, key))
            else:
                if key not in self._data:
                    bisect.insort(self._keys, key)
                self._data[key] = value

    def items(self) -> list[tuple[str, bytes]]:
        return [(k, self._data[k]) for k in self._keys]


class Overlay:
    """Copy-on-write writes over a base state. ``child()`` makes a nested overlay whose
    writes reach this one only on ``commit()`` (all of a transaction's writes, or none)."""

    def __init__(self, base: StateReader) -> None:
        self._base = base
        self._writes: dict[str, bytes | None] = {}

    def get(self, key: str) -> bytes | None:
        if key in self._writes:
            return self._writes[key]
        return self._base.get(key)

    def get_json(self, key: str) -> Any:
        raw = self.get(key)
        return None if raw is None else decode(raw)

    def put(self, key: str, value: bytes) -> None:
        if not isinstance(key, str) or not 0 < len(key) <= MAX_KEY_LEN:
            raise ValueError(f"state keys are strings of 1..{MAX_KEY_LEN} characters")
        if not isinstance(value, bytes) or len(value) > MAX_VALUE_BYTES:
            raise ValueError(f"state values are bytes of at most {MAX_VALUE_BYTES}")
        self._writes[key] = value

    def put_json(self, key: str, value: Any) -> None:
        self.put(key, canonical(value))

    def delete(self, key: str) -> None:
        self._writes[key] = None

    def iter_prefix(self, prefix: str) -> Iterator[tuple[str, bytes]]:
        """Merge base and overlay, in sorted key order, skipping deleted keys."""
        mine = sorted(k for k in self._writes if k.startswith(prefix))
        j = 0
        for key, value in self._base.iter_prefix(prefix):
            while j < len(mine) and mine[j] < key:
                v = self._writes[mine[j]]
                if v is not None:
                    yield mine[j], v
                j += 1
            if j < len(mine) and mine[j] == key:
                v = self._writes[key]
                if v is not None:
                    yield key, v
                j += 1
            else:
                yield key, value
        while j < len(mine):
            v = self._writes[mine[j]]
            if v is not None:
                yield mine[j], v
            j += 1

    def child(self) -> Overlay:
        return Overlay(self)

    def commit(self) -> None:
        """Write a child overlay's writes into its parent overlay."""
        parent = self._base
        if not isinstance(parent, Overlay):
            raise TypeError("commit() merges a child overlay into its parent overlay")
        parent._writes.update(self._writes)
        self._writes = {}

    def write_set(self) -> list[tuple[str, bytes | None]]:
        return sorted(self._writes.items())


def genesis_state_root(genesis_hash: str) -> str:
    return sha256_hex(b"fcl/state/v1" + bytes.fromhex(genesis_hash))


def next_state_root(prev_root: str, writes: Iterable[tuple[str, bytes | None]]) -> str:
    """State root after a block: SHA-256(prev_root || SHA-256(canonical(write set))).

    The write set is the sorted list of ``[key, value-hex-or-null]`` pairs the block wrote.
    """
    body = canonical([[k, None if v is None else v.hex()] for k, v in sorted(writes)])
    return sha256_hex(bytes.fromhex(prev_root) + sha256(body))
