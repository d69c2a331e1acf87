"""A growing set of fixed-width byte strings in little memory: the replay's transaction
ids (``fcl audit``, ``ledger.replay_store.ReplayStore.seen``).

The replay asks of every transaction whether its id was committed before (replay
protection), and adds a block's ids after the block. A B-tree keyed by the ids (the
scratch SQLite file, before) puts every one of a block's thousand ids on a random page
of the file, and the audit's tree process wrote them all through the write-ahead log;
nothing here is random I/O:

* the ids themselves are **appended** to a file (or a ``bytearray`` in memory), one
  ``width``-byte record each, in the order they were added: record ``r`` at byte
  ``r * width``;
* in memory, each id is one 64-bit integer: a 36-bit *fingerprint* of the id (a
  BLAKE2b-64 of it, keyed by a salt drawn when the set is made, so that nobody can
  choose ids that share one) above its 28-bit record number. The newest ids are in a
  ``dict`` (fingerprint -> record); the older in a few sorted ``array('Q')`` *runs*:
  when the dict reaches RECENT_MAX entries it becomes a run, and a run is merged with
  the one before it while that one is at most MERGE_RATIO times larger (so there are
  O(log n) runs, and each id is merged O(log n) times).

A membership test hashes the id, looks in the dict, and bisects each run for its
fingerprint; only a fingerprint found is confirmed by reading the record back (one
``pread``): a false match costs one read, never a wrong answer. Memory: 8 bytes per id
in the runs (~8 MB at a million transactions), at most RECENT_MAX dict entries
(~10 MB); disk: ``width`` bytes per id. Nothing here reaches consensus: the answers are
exactly those of a Python set (tests/ledger/test_id_set.py).
"""

from __future__ import annotations

import bisect
import hashlib
import heapq
import os
from array import array
from collections.abc import Iterable
from pathlib import Path
from typing import Final

from ledger.errors import StorageFailure

__all__ = ["IdSet"]

FINGERPRINT_BITS: Final = 36
RECORD_BITS: Final = 64 - FINGERPRINT_BITS
MAX_RECORDS: Final = 1 << RECORD_BITS
"""2^28 ids (268 million) at most in one set."""
RECENT_MAX: Final = 1 << 16
MERGE_RATIO: Final = 4
_RECORD_MASK: Final = MAX_RECORDS - 1


class IdSet:
    """A set of ``width``-byte strings (``in``, :meth:`update`), its records in the file
    ``path`` (made, it must not exist; the owner deletes it after :meth:`close`) or, with
    ``path=None``, in memory."""

    def __init__(self, path: str | Path | None = None, *, width: int = 32) -> None:
        if type(width) is not int or not 1 <= width <= 4096:
            raise ValueError("the width of an id is 1..4096 bytes")
        self.width = width
        self._salt = os.urandom(16)
        self._fd: int | None = None
        self._memory: bytearray | None = None
        if path is None:
            self._memory = bytearray()
        else:
            self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        self._count = 0
        self._recent: dict[int, int] = {}
        self._runs: list[array[int]] = []

    def __len__(self) -> int:
        """How many ids were added (an id added twice counts twice)."""
        return self._count

    def _fingerprint(self, item: bytes) -> int:
        digest = hashlib.blake2b(item, digest_size=8, key=self._salt).digest()
        return int.from_bytes(digest, "big") >> RECORD_BITS

    def _record(self, number: int) -> bytes:
        width = self.width
        if self._memory is not None:
            return bytes(self._memory[number * width:(number + 1) * width])
        if self._fd is None:
            raise RuntimeError("the id set is closed")
        try:
            return os.pread(self._fd, width, number * width)
        except OSError as exc:
            raise StorageFailure("replay_store", f"cannot read the id file: {exc}") from exc

    def __contains__(self, item: object) -> bool:
        if not isinstance(item, bytes) or len(item) != self.width:
            return False
        fingerprint = self._fingerprint(item)
        number = self._recent.get(fingerprint)
        if number is not None and self._record(number) == item:
            return True
        low = fingerprint << RECORD_BITS
        for run in self._runs:
            at = bisect.bisect_left(run, low)
            end = len(run)
            while at < end and run[at] >> RECORD_BITS == fingerprint:
                if self._record(run[at] & _RECORD_MASK) == item:
                    return True
                at += 1
        return False

    def update(self, items: Iterable[bytes]) -> None:
        """Add ``items`` (each ``width`` bytes; ``ValueError`` and nothing added
        otherwise)."""
        batch = list(items)
        width = self.width
        for item in batch:
            if not isinstance(item, bytes) or len(item) != width:
                raise ValueError(f"an id of this set is {width} bytes, not {item!r}")
        if self._count + len(batch) > MAX_RECORDS:
            raise ValueError(f"an id set holds at most {MAX_RECORDS} ids")
        if not batch:
            return
        data = b"".join(batch)
        if self._memory is not None:
            self._memory += data
        elif self._fd is None:
            raise RuntimeError("the id set is closed")
        else:
            try:
                written = os.pwrite(self._fd, data, self._count * width)
            except OSError as exc:
                raise StorageFailure("replay_store", f"cannot write the id file: {exc}") from exc
            if written != len(data):
                raise StorageFailure("replay_store", "cannot write the id file: short write")
        recent = self._recent
        for item in batch:
            fingerprint = self._fingerprint(item)
            if fingerprint in recent or len(recent) >= RECENT_MAX:
                self._flush()  # (the dict keeps one record per fingerprint)
            recent[fingerprint] = self._count
            self._count += 1

    def _flush(self) -> None:
        """The dict becomes the newest run; runs merge while the one before is at most
        MERGE_RATIO times larger."""
        recent = self._recent
        if not recent:
            return
        runs = self._runs
        runs.append(array("Q", sorted(f << RECORD_BITS | n for f, n in recent.items())))
        recent.clear()
        while len(runs) > 1 and len(runs[-2]) <= MERGE_RATIO * len(runs[-1]):
            newer = runs.pop()
            older = runs.pop()
            runs.append(array("Q", heapq.merge(older, newer)))

    def close(self) -> None:
        """Close the file (idempotent); a closed set answers nothing more."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
