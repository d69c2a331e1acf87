"""The state tree's root and nothing else: for a replay that only compares roots.

``ledger.state_tree.StateTree`` keeps every node of the tree as a record, so that it can
prove any key at any version. A replay that only checks each block's ``state_root``
(``fcl audit``) needs none of that: it needs the root of the latest version after each
block. :class:`RootTree` computes exactly that root -- the same bytes as ``StateTree`` for
the same set of keys and values (docs/state-proofs.md; tests/ledger/test_root_tree.py
compares the two, and a reference written from the definition) -- from two things held in
flat arrays instead of records:

* the **buckets**: the keys are grouped by the first ``bucket_depth`` bits (B) of their key
  hash; a bucket is one ``bytes`` of 64-byte entries ``key_hash || leaf_hash``, sorted by
  key hash. Its subtree (depth B and below) is computed from its entries when a change
  reaches it; with 2^B buckets over n keys a bucket holds about n / 2^B entries.
* the **top**: the complete binary tree of depths 0..B over the buckets, as one
  ``bytearray`` of 32-byte hashes (node ``i`` of depth ``d`` at index ``2^d + i``, its
  children at ``2n`` and ``2n + 1``, so a parent hashes one 64-byte slice) and one byte per
  node saying whether its subtree holds no key, one key, or more. That byte is what the
  tree's one rule needs: a subtree of one key *is* that key's leaf, moved up; an empty
  one is :data:`~ledger.state_tree.EMPTY_HASH`; only a subtree of two or more keys is an
  internal node ``SHA-256(0x01 || left || right)``.

An update re-hashes each changed bucket, then each level of the top bottom-up, each node
once however many changes lie under it. Memory: ``2^(B+1) * 33`` bytes for the top
(66 MiB at B = 20) and 64 bytes per key plus ~33 bytes per non-empty bucket for the
entries (docs/audit.md gives the figures). Nothing is on disk; nothing here reaches
consensus except through the roots it returns, which the caller compares with the
chain's.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Mapping
from typing import Final

from ledger.state_tree import EMPTY_HASH, StateTreeError

__all__ = ["DEFAULT_BUCKET_DEPTH", "RootTree"]

DEFAULT_BUCKET_DEPTH: Final = 20
"""2^20 buckets: ~4 keys each at the 4M state keys of the 1M-transaction scale chain."""

_MAX_VERSION: Final = (1 << 64) - 1
_EMPTY: Final = 0
_ONE: Final = 1
_MANY: Final = 2
_NODE: Final = b"\x01"
_LEAF: Final = b"\x00"
_ENTRY: Final = 64


def _subtree(paths: list[int], hashes: list[bytes], lo: int, hi: int, depth: int) -> bytes:
    """The hash of the subtree at ``depth`` holding the ``hi - lo >= 2`` keys whose paths
    (key hashes as integers, sorted, all sharing their first ``depth`` bits) are
    ``paths[lo:hi]`` and leaf hashes ``hashes[lo:hi]``."""
    sha256 = hashlib.sha256
    first = paths[lo]
    top = (first ^ paths[hi - 1]).bit_length() - 1  # the highest bit where they differ
    split = 255 - top  # ... as a depth: the keys part ways at the node of this depth
    mid = bisect.bisect_left(paths, ((first >> top) | 1) << top, lo, hi)
    left = hashes[lo] if mid - lo == 1 else _subtree(paths, hashes, lo, mid, split + 1)
    right = hashes[mid] if hi - mid == 1 else _subtree(paths, hashes, mid, hi, split + 1)
    digest = sha256(_NODE + left + right).digest()
    # above the split, down from ``depth``, every node has the keys on one side and an
    # empty subtree on the other: an internal node over EMPTY_HASH
    for level in range(split - 1, depth - 1, -1):
        if (first >> (255 - level)) & 1:
            digest = sha256(_NODE + EMPTY_HASH + digest).digest()
        else:
            digest = sha256(_NODE + digest + EMPTY_HASH).digest()
    return digest


class RootTree:
    """The root of the state tree over the latest state (see the module's docstring).

    :meth:`apply` ``(version, changes)`` -> root, with the refusals of
    ``StateTree.prepare``: ``bad_version`` unless versions strictly increase within
    0..2**64-1, ``bad_key`` / ``bad_value`` for a key that is not non-empty bytes or a
    value that is neither bytes nor None (delete). A refused update changes nothing."""

    def __init__(self, bucket_depth: int = DEFAULT_BUCKET_DEPTH) -> None:
        if type(bucket_depth) is not int or not 1 <= bucket_depth <= 24:
            raise ValueError("the bucket depth is an integer in 1..24")
        self.bucket_depth = bucket_depth
        self._first = 1 << bucket_depth  # the top's index of bucket 0
        self._hashes = bytearray(32 << (bucket_depth + 1))
        self._kinds = bytearray(1 << (bucket_depth + 1))
        self._buckets: list[bytes] = [b""] * (1 << bucket_depth)
        self.keys = 0
        """How many keys the tree holds."""
        self.latest_version: int | None = None

    @property
    def root(self) -> bytes:
        """The root of the latest version (:data:`EMPTY_HASH` for the empty tree)."""
        return bytes(self._hashes[32:64])

    def apply(self, version: int, changes: Mapping[bytes, bytes | None]) -> bytes:
        """Make ``version`` the latest version with ``changes`` applied; return its root."""
        self._check_version(version)
        if not isinstance(changes, Mapping):
            raise StateTreeError("bad_key", "the changes are a mapping of key -> value or None")
        sha256 = hashlib.sha256
        hashed: list[tuple[bytes, bytes | None]] = []
        for key, value in changes.items():
            if not isinstance(key, bytes) or not key:
                raise StateTreeError("bad_key", f"a state tree key is non-empty bytes, not {key!r}")
            kh = sha256(key).digest()
            if value is None:
                hashed.append((kh, None))
            elif isinstance(value, bytes):
                hashed.append((kh, sha256(_LEAF + kh + sha256(value).digest()).digest()))
            else:
                raise StateTreeError(
                    "bad_value",
                    f"the value of key {key!r} is bytes or None (delete), not "
                    f"{type(value).__name__}",
                )
        # nothing refused: from here on the update is made
        self._update(hashed)
        self.latest_version = version
        return self.root

    def _update(self, hashed: list[tuple[bytes, bytes | None]]) -> None:
        """Apply ``(key hash, leaf hash or None)`` changes, at most one per key hash."""
        shift = 256 - self.bucket_depth
        by_bucket: dict[int, list[tuple[bytes, bytes | None]]] = {}
        for kh, leaf in hashed:
            bucket = int.from_bytes(kh, "big") >> shift
            pending = by_bucket.get(bucket)
            if pending is None:
                by_bucket[bucket] = [(kh, leaf)]
            else:
                pending.append((kh, leaf))
        level = [self._rebucket(bucket, pending) for bucket, pending in by_bucket.items()]
        self._rehash(level)

    def _check_version(self, version: object) -> None:
        if not isinstance(version, int) or isinstance(version, bool) \
                or not 0 <= version <= _MAX_VERSION:
            raise StateTreeError(
                "bad_version", f"a version is an integer in 0..2**64-1, not {version!r}"
            )
        if self.latest_version is not None and version <= self.latest_version:
            raise StateTreeError(
                "bad_version",
                f"version {version} does not follow the latest version "
                f"{self.latest_version}; versions strictly increase",
            )

    def _rebucket(self, bucket: int, changes: list[tuple[bytes, bytes | None]]) -> int:
        """Apply ``changes`` (key hash, leaf hash or None) to ``bucket``; set its node in
        the top; return that node's index."""
        old = self._buckets[bucket]
        entries = {old[at:at + 32]: old[at + 32:at + _ENTRY] for at in range(0, len(old), _ENTRY)}
        before = len(entries)
        for kh, leaf in changes:
            if leaf is None:
                entries.pop(kh, None)
            else:
                entries[kh] = leaf
        self.keys += len(entries) - before
        node = self._first + bucket
        at = 32 * node
        if not entries:
            self._buckets[bucket] = b""
            self._kinds[node] = _EMPTY
            self._hashes[at:at + 32] = EMPTY_HASH
        elif len(entries) == 1:
            (kh, leaf), = entries.items()
            self._buckets[bucket] = kh + leaf
            self._kinds[node] = _ONE
            self._hashes[at:at + 32] = leaf
        else:
            ordered = sorted(entries.items())
            self._buckets[bucket] = b"".join(kh + leaf for kh, leaf in ordered)
            paths = [int.from_bytes(kh, "big") for kh, _ in ordered]
            leaves = [leaf for _, leaf in ordered]
            self._kinds[node] = _MANY
            self._hashes[at:at + 32] = _subtree(
                paths, leaves, 0, len(paths), self.bucket_depth)
        return node

    def _rehash(self, level: list[int]) -> None:
        """Re-hash the top above the nodes ``level`` (of the bucket depth), bottom-up,
        each parent once."""
        hashes, kinds = self._hashes, self._kinds
        sha256 = hashlib.sha256
        for _ in range(self.bucket_depth):
            parents = list(dict.fromkeys(node >> 1 for node in level))
            for parent in parents:
                child = parent << 1
                left, right = kinds[child], kinds[child + 1]
                at = parent << 5
                if left == _EMPTY and right != _MANY:
                    kinds[parent] = right
                    hashes[at:at + 32] = hashes[at + at + 32:at + at + 64]
                elif right == _EMPTY and left == _ONE:
                    kinds[parent] = _ONE
                    hashes[at:at + 32] = hashes[at + at:at + at + 32]
                else:
                    kinds[parent] = _MANY
                    hashes[at:at + 32] = sha256(_NODE + hashes[at + at:at + at + 64]).digest()
            level = parents
