"""State-sync snapshots: the state at a certified height, cut into chunks that are each
verified on their own against that height's state root (docs/state-sync.md).

A **snapshot of height H** is the set of leaves (key, value) of the state tree
(ledger/state_tree.py, docs/state-proofs.md) at version H, cut into ``2**k`` **chunks** by
the first ``k`` bits of the key hash (``0 <= k <= 16``). The tree's shape depends on the
set of keys only, so the node of the tree at depth ``k`` on path ``p`` is a function of the
keys whose hash starts with ``p``: the **chunk hash** (32 zero bytes for no key; the leaf
hash for one key; otherwise the internal node of the two halves at depth ``k + 1``).

The **manifest** lists, per chunk, its key count and its hash. It is checked by folding
the ``2**k`` (count, hash) pairs up to depth 0 with the tree's shape rule and comparing the
result with header H's ``state_root`` (the header itself is trusted from the genesis or a
checkpoint by ``ledger.header_chain.verify_header``). Each chunk is then checked alone:
its keys all carry the chunk's prefix, are in strictly increasing key-hash order, and
rebuild the manifest's hash and count. This is the scheme of CometBFT's state sync
(a snapshot's chunks checked against a trusted app hash) with the per-chunk proof of the
Jellyfish Merkle Tree paper's state-sync section (a chunk of leaves proved against the
root), made exact for this tree: a chunk is a whole subtree, so it needs no range proof.

The **history frontier** of header H is what continuing the history tree (RFC 9162, of
block hashes) needs: the roots of the complete subtrees of the tree of blocks 1..H-1
(one per 1-bit of H-1, largest first: ``AppendOnlyMerkleTree.frontier``), which fold to header H's ``history_root``.

Everything here is pure: no I/O, no clock, no randomness.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from ledger.block import BlockHeader, CommitCertificate
from ledger.errors import LedgerError
from ledger.header_chain import TrustedState, parse_changes, verify_header
from ledger.state_tree import EMPTY_HASH
from ledger.validators import ValidatorSet

__all__ = [
    "MANIFEST_FORMAT",
    "MANIFEST_VERSION",
    "MAX_CHUNK_BITS",
    "MAX_CHUNK_LEAVES",
    "MAX_KEY_BYTES",
    "TARGET_CHUNK_LEAVES",
    "Chunk",
    "ChunkInfo",
    "Manifest",
    "SnapshotError",
    "SnapshotHead",
    "chunk_bits_for",
    "chunk_index_of",
    "fold_frontier",
    "fold_level",
    "manifest_of",
    "subtree_hash",
    "verify_chunk",
    "verify_manifest_answer",
]

MANIFEST_FORMAT: Final = "fcl-snapshot-manifest"
MANIFEST_VERSION: Final = 1
MAX_CHUNK_BITS: Final = 16
"""At most ``2**16`` chunks: a manifest of at most 65,536 entries (about 5 MB of JSON)."""
TARGET_CHUNK_LEAVES: Final = 2_000
"""The server picks the least ``k`` for which the state's keys, spread evenly, fill a chunk
with at most this many leaves."""
MAX_CHUNK_LEAVES: Final = 100_000
"""A chunk holding more leaves is neither served nor accepted (a bound on one answer;
keys are spread by SHA-256, so an honest chunk holds about 2,000)."""
MAX_KEY_BYTES: Final = 4_096
"""A state key in a chunk is 1..4,096 bytes (the state's keys are far shorter)."""
MAX_VALUE_BYTES: Final = 4 << 20
"""A value in a chunk is at most 4 MiB."""

_LEAF: Final = b"\x00"
_NODE: Final = b"\x01"


class SnapshotError(LedgerError):
    """A snapshot, manifest, chunk or history frontier is refused. Codes:
    ``malformed_manifest``, ``manifest_root_mismatch``, ``malformed_chunk``,
    ``bad_chunk_index``, ``chunk_too_large``, ``chunk_count_mismatch``,
    ``chunk_wrong_prefix``, ``chunk_order``, ``chunk_hash_mismatch``,
    ``malformed_frontier``, ``frontier_mismatch``."""


def chunk_bits_for(leaf_count: int) -> int:
    """The least ``k`` in 0..16 with ``leaf_count <= TARGET_CHUNK_LEAVES * 2**k`` (16 if
    none)."""
    k = 0
    while k < MAX_CHUNK_BITS and leaf_count > TARGET_CHUNK_LEAVES << k:
        k += 1
    return k


def chunk_index_of(key_hash: bytes, k: int) -> int:
    """The chunk of a key at ``k`` bits: the first ``k`` bits of its hash, as a number."""
    return int.from_bytes(key_hash, "big") >> (256 - k)


def _internal(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(_NODE + left + right).digest()


def _leaf(key_hash: bytes, value_hash: bytes) -> bytes:
    return hashlib.sha256(_LEAF + key_hash + value_hash).digest()


def subtree_hash(entries: Sequence[tuple[bytes, bytes]], depth: int) -> bytes:
    """The hash of the tree's node at ``depth`` holding exactly ``entries`` -- ``(key hash,
    leaf hash)`` pairs in strictly increasing key-hash order, all sharing their first
    ``depth`` bits -- by the shape rule of docs/state-proofs.md: empty -> 32 zero bytes;
    one key -> its leaf hash; else ``internal(node of bit depth = 0, node of bit = 1)``."""
    paths = [int.from_bytes(kh, "big") for kh, _ in entries]
    leaves = [lh for _, lh in entries]

    def build(lo: int, hi: int, d: int) -> bytes:
        if lo == hi:
            return EMPTY_HASH
        if hi - lo == 1:
            return leaves[lo]
        # first entry whose bit d is 1 (entries are sorted, and share bits 0..d-1)
        mid = lo
        bit = 1 << (255 - d)
        while mid < hi and not paths[mid] & bit:
            mid += 1
        return _internal(build(lo, mid, d + 1), build(mid, hi, d + 1))

    return build(0, len(entries), depth)


def _combine(left: tuple[int, bytes], right: tuple[int, bytes]) -> tuple[int, bytes]:
    """The parent of two sibling subtrees given as (key count, hash): a set of at most one
    key keeps its lone leaf's (or the empty) hash; otherwise ``internal(left, right)``."""
    count = left[0] + right[0]
    if count == 0:
        return 0, EMPTY_HASH
    if count == 1:
        return 1, left[1] if left[0] == 1 else right[1]
    return count, _internal(left[1], right[1])


def fold_level(level: Sequence[tuple[int, bytes]]) -> list[tuple[int, bytes]]:
    """The level above ``level`` (an even number of (count, hash) pairs, siblings side by
    side): each pair of siblings combined by the shape rule."""
    return [_combine(level[i], level[i + 1]) for i in range(0, len(level), 2)]


@dataclass(frozen=True)
class ChunkInfo:
    """One chunk as the manifest lists it: how many keys, and the hash of their node."""

    count: int
    hash: bytes


@dataclass(frozen=True)
class Manifest:
    """The snapshot of ``height``: ``2**k`` chunks, chunk ``i`` holding the keys whose hash
    starts with the ``k`` bits of ``i``."""

    height: int
    k: int
    chunks: tuple[ChunkInfo, ...]

    @property
    def leaf_count(self) -> int:
        return sum(c.count for c in self.chunks)

    def root(self) -> bytes:
        """The state root the chunks fold to (depth ``k`` up to depth 0)."""
        level = [(c.count, c.hash) for c in self.chunks]
        while len(level) > 1:
            level = fold_level(level)
        return level[0][1]

    def check_root(self, state_root: bytes) -> None:
        """``manifest_root_mismatch`` unless the chunks fold to ``state_root``."""
        root = self.root()
        if root != state_root:
            raise SnapshotError(
                "manifest_root_mismatch",
                f"the manifest of height {self.height} ({len(self.chunks)} chunks, "
                f"{self.leaf_count} keys) folds to the state root {root.hex()}, not to "
                f"header {self.height}'s state root {state_root.hex()}",
            )

    def to_json(self) -> dict[str, Any]:
        return {
            "format": MANIFEST_FORMAT,
            "version": MANIFEST_VERSION,
            "height": self.height,
            "k": self.k,
            "chunks": [[c.count, c.hash.hex()] for c in self.chunks],
        }

    @classmethod
    def from_json(cls, obj: Any) -> Manifest:
        """The manifest in ``obj`` (parsed JSON); ``malformed_manifest`` for anything that is
        not exactly the shape :meth:`to_json` gives."""
        fields = {"format", "version", "height", "k", "chunks"}
        if not isinstance(obj, dict) or set(obj) != fields:
            raise SnapshotError("malformed_manifest", f"a manifest has exactly {sorted(fields)}")
        if obj["format"] != MANIFEST_FORMAT or obj["version"] != MANIFEST_VERSION:
            raise SnapshotError(
                "malformed_manifest",
                f"not a {MANIFEST_FORMAT} version {MANIFEST_VERSION} (format "
                f"{obj['format']!r}, version {obj['version']!r})",
            )
        height, k, chunks = obj["height"], obj["k"], obj["chunks"]
        if type(height) is not int or not 1 <= height <= 2**53 - 1:
            raise SnapshotError("malformed_manifest", f"the manifest's height {height!r} is not a block height")
        if type(k) is not int or not 0 <= k <= MAX_CHUNK_BITS:
            raise SnapshotError("malformed_manifest", f"the manifest's k {k!r} is not an integer in 0..{MAX_CHUNK_BITS}")
        if not isinstance(chunks, list) or len(chunks) != 1 << k:
            raise SnapshotError(
                "malformed_manifest", f"a manifest with k = {k} lists exactly {1 << k} chunks"
            )
        parsed = []
        for i, item in enumerate(chunks):
            if not (isinstance(item, list) and len(item) == 2 and type(item[0]) is int
                    and 0 <= item[0] <= MAX_CHUNK_LEAVES and _is_hex32(item[1])):
                raise SnapshotError(
                    "malformed_manifest",
                    f"chunk {i} of the manifest is not [count 0..{MAX_CHUNK_LEAVES}, 64 lowercase hex digits]",
                )
            count, digest = item[0], bytes.fromhex(item[1])
            if (count == 0) != (digest == EMPTY_HASH):
                raise SnapshotError(
                    "malformed_manifest",
                    f"chunk {i} of the manifest: a chunk has the empty hash exactly when it holds no key",
                )
            parsed.append(ChunkInfo(count, digest))
        return cls(height, k, tuple(parsed))


_HEX: Final = frozenset("0123456789abcdef")


def _is_hex32(text: object) -> bool:
    return isinstance(text, str) and len(text) == 64 and _HEX.issuperset(text)


def manifest_of(leaves: Iterable[tuple[bytes, bytes, bytes]], height: int,
                k: int | None = None) -> Manifest:
    """The manifest of a state given as its leaves ``(key hash, key, value)`` in increasing
    key-hash order (``StateTree.leaves(version)``). ``k`` defaults to
    :func:`chunk_bits_for` the number of leaves. One pass: the nodes at depth 16 are built
    from the leaves, then folded up to depth ``k``."""
    level: list[tuple[int, bytes]] = [(0, EMPTY_HASH)] * (1 << MAX_CHUNK_BITS)
    current = -1
    group: list[tuple[bytes, bytes]] = []

    def close() -> None:
        if group:
            level[current] = (len(group), subtree_hash(group, MAX_CHUNK_BITS))

    for kh, _key, value in leaves:
        index = chunk_index_of(kh, MAX_CHUNK_BITS)
        if index != current:
            close()
            current, group = index, []
        group.append((kh, _leaf(kh, hashlib.sha256(value).digest())))
    close()
    if k is None:
        k = chunk_bits_for(sum(c for c, _ in level))
    if type(k) is not int or not 0 <= k <= MAX_CHUNK_BITS:
        raise SnapshotError("malformed_manifest", f"k is an integer in 0..{MAX_CHUNK_BITS}, not {k!r}")
    for _ in range(MAX_CHUNK_BITS - k):
        level = fold_level(level)
    return Manifest(height, k, tuple(ChunkInfo(c, h) for c, h in level))


@dataclass(frozen=True)
class Chunk:
    """Chunk ``index`` of the snapshot of ``height`` at ``k`` bits: its leaves (key, value),
    in increasing key-hash order."""

    height: int
    k: int
    index: int
    leaves: tuple[tuple[bytes, bytes], ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "height": self.height,
            "k": self.k,
            "index": self.index,
            "leaves": [[key.hex(), value.hex()] for key, value in self.leaves],
        }

    @classmethod
    def from_json(cls, obj: Any) -> Chunk:
        """``malformed_chunk`` for anything that is not exactly :meth:`to_json`'s shape;
        ``chunk_too_large`` for more than :data:`MAX_CHUNK_LEAVES` leaves."""
        fields = {"height", "k", "index", "leaves"}
        if not isinstance(obj, dict) or set(obj) != fields:
            raise SnapshotError("malformed_chunk", f"a chunk has exactly {sorted(fields)}")
        height, k, index, leaves = obj["height"], obj["k"], obj["index"], obj["leaves"]
        for name, value in (("height", height), ("k", k), ("index", index)):
            if type(value) is not int or value < 0:
                raise SnapshotError("malformed_chunk", f"the chunk's {name} {value!r} is not a natural number")
        if not isinstance(leaves, list):
            raise SnapshotError("malformed_chunk", "the chunk's leaves are not a list")
        if len(leaves) > MAX_CHUNK_LEAVES:
            raise SnapshotError(
                "chunk_too_large",
                f"chunk {index} holds {len(leaves)} leaves; at most {MAX_CHUNK_LEAVES} are accepted",
            )
        parsed = []
        for i, item in enumerate(leaves):
            if not (isinstance(item, list) and len(item) == 2):
                raise SnapshotError("malformed_chunk", f"leaf {i} of chunk {index} is not [key hex, value hex]")
            parsed.append((_hex_bytes(item[0], f"leaf {i}'s key", 1, MAX_KEY_BYTES),
                           _hex_bytes(item[1], f"leaf {i}'s value", 0, MAX_VALUE_BYTES)))
        return cls(height, k, index, tuple(parsed))


def _hex_bytes(text: object, what: str, low: int, high: int) -> bytes:
    if not isinstance(text, str) or len(text) % 2 or not _HEX.issuperset(text) \
            or not 2 * low <= len(text) <= 2 * high:
        raise SnapshotError(
            "malformed_chunk", f"{what} is not {low}..{high} bytes in lowercase hex"
        )
    return bytes.fromhex(text)


def verify_chunk(manifest: Manifest, chunk: Chunk) -> None:
    """Check ``chunk`` against a manifest already checked against the header's state root
    (:meth:`Manifest.check_root`). In this order: the chunk names the manifest's height
    and ``k`` and an index below ``2**k`` (``bad_chunk_index``); it holds the manifest's
    count of leaves (``chunk_count_mismatch``); every key's hash starts with the index's
    ``k`` bits (``chunk_wrong_prefix``); the key hashes strictly increase
    (``chunk_order``: also a repeated key); the leaves rebuild the manifest's hash
    (``chunk_hash_mismatch``: an altered value, or a key swapped for another)."""
    if chunk.height != manifest.height or chunk.k != manifest.k \
            or not 0 <= chunk.index < len(manifest.chunks):
        raise SnapshotError(
            "bad_chunk_index",
            f"the chunk is chunk {chunk.index} of height {chunk.height} at k = {chunk.k}; the "
            f"manifest is of height {manifest.height} with k = {manifest.k} "
            f"({len(manifest.chunks)} chunks)",
        )
    expected = manifest.chunks[chunk.index]
    if len(chunk.leaves) != expected.count:
        raise SnapshotError(
            "chunk_count_mismatch",
            f"chunk {chunk.index} holds {len(chunk.leaves)} leaves; the manifest lists "
            f"{expected.count}",
        )
    entries: list[tuple[bytes, bytes]] = []
    previous = b""
    for i, (key, value) in enumerate(chunk.leaves):
        kh = hashlib.sha256(key).digest()
        if chunk_index_of(kh, manifest.k) != chunk.index:
            raise SnapshotError(
                "chunk_wrong_prefix",
                f"leaf {i} of chunk {chunk.index} (key {key[:64]!r}) belongs to chunk "
                f"{chunk_index_of(kh, manifest.k)}, not {chunk.index}",
            )
        if kh <= previous:
            raise SnapshotError(
                "chunk_order",
                f"leaf {i} of chunk {chunk.index} (key {key[:64]!r}) does not follow the leaf "
                "before it in strictly increasing key-hash order",
            )
        previous = kh
        entries.append((kh, _leaf(kh, hashlib.sha256(value).digest())))
    got = subtree_hash(entries, manifest.k)
    if got != expected.hash:
        raise SnapshotError(
            "chunk_hash_mismatch",
            f"the {len(entries)} leaves of chunk {chunk.index} rebuild the hash {got.hex()}, "
            f"not the manifest's {expected.hash.hex()}",
        )


# -- the history frontier --------------------------------------------------------------------


def fold_frontier(size: int, frontier: Sequence[bytes]) -> bytes:
    """The RFC 9162 root of the tree of ``size`` leaves whose maximal complete subtrees
    have the roots ``frontier`` (largest first): folded from the right. ``SHA-256("")``
    for the empty tree. ``malformed_frontier`` unless there is one 32-byte hash per 1-bit
    of ``size``."""
    if type(size) is not int or size < 0 or len(frontier) != bin(size).count("1") \
            or not all(isinstance(h, bytes) and len(h) == 32 for h in frontier):
        raise SnapshotError(
            "malformed_frontier",
            f"the history frontier of {size} blocks is {bin(max(size, 0)).count('1')} "
            "32-byte hashes (one per complete subtree)",
        )
    if size == 0:
        return hashlib.sha256(b"").digest()
    acc = frontier[-1]
    for h in reversed(frontier[:-1]):
        acc = _internal(h, acc)
    return acc


# -- the manifest answer, trusted from the genesis or a checkpoint ----------------------------

_ANSWER_FIELDS: Final = frozenset(
    {"manifest", "header", "commit", "validator_set_changes", "history_frontier"}
)


@dataclass(frozen=True)
class SnapshotHead:
    """A manifest checked against a header trusted from the genesis or a checkpoint: what
    a node needs, beside the chunks, to continue the chain from ``header.height``."""

    manifest: Manifest
    header: BlockHeader
    commit: CommitCertificate
    signed_by: ValidatorSet
    """The validator set that signed ``header`` (and signs the next block, unless the
    header changes it: the state at the height says which)."""
    history_frontier: tuple[bytes, ...]
    """The frontier of the history tree of blocks 1..H-1 (folds to the header's
    ``history_root``); block H's hash is appended next."""


def verify_manifest_answer(trusted: TrustedState, answer: Any, height: int) -> SnapshotHead:
    """Check the answer of ``GET /v1/snapshots/{height}/manifest``, in this order:
    its shape (``malformed_manifest``, ``malformed_frontier``); the header, trusted from
    ``trusted`` through the listed validator-set changes above ``trusted.height`` and its
    commit certificate
    (``ledger.header_chain.verify_header``: a :class:`HeaderChainError` with its code);
    the header and manifest are of ``height`` (``malformed_manifest``); the manifest
    folds to the header's ``state_root`` (``manifest_root_mismatch``); the frontier folds
    to the header's ``history_root`` (``frontier_mismatch``)."""
    if not isinstance(answer, dict) or set(answer) != _ANSWER_FIELDS:
        raise SnapshotError(
            "malformed_manifest", f"the manifest answer has exactly {sorted(_ANSWER_FIELDS)}"
        )
    manifest = Manifest.from_json(answer["manifest"])
    try:
        header = BlockHeader.from_json(answer["header"])
        commit = CommitCertificate.from_json(answer["commit"])
    except LedgerError as exc:
        raise SnapshotError("malformed_manifest", f"the header or commit: {exc.message}") from None
    changes = parse_changes(answer["validator_set_changes"])
    frontier_json = answer["history_frontier"]
    if not isinstance(frontier_json, list) or len(frontier_json) > 64 \
            or not all(_is_hex32(h) for h in frontier_json):
        raise SnapshotError(
            "malformed_frontier", "the history frontier is a list of at most 64 hashes (64 lowercase hex digits)"
        )
    frontier = tuple(bytes.fromhex(h) for h in frontier_json)
    if manifest.height != height or header.height != height:
        raise SnapshotError(
            "malformed_manifest",
            f"asked for the snapshot of height {height}; got a manifest of height "
            f"{manifest.height} and the header of block {header.height}",
        )
    # the answer lists every change below the height; a checkpoint already covers its own
    signed_by = verify_header(trusted, [c for c in changes if c.height > trusted.height],
                              header, commit)
    manifest.check_root(bytes.fromhex(header.state_root))
    root = fold_frontier(height - 1, frontier)
    if root.hex() != header.history_root:
        raise SnapshotError(
            "frontier_mismatch",
            f"the history frontier of blocks 1..{height - 1} folds to {root.hex()}, not to "
            f"header {height}'s history root {header.history_root}",
        )
    return SnapshotHead(manifest, header, commit, signed_by, frontier)
