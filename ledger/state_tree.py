"""An authenticated, versioned key-value map: a binary Jellyfish-style sparse Merkle tree.

The structure follows Gao, Hu and Wu, "Jellyfish Merkle Tree" (Diem, 2021) in its
logical, binary form (the paper's physical nodes are 16-ary): every key sits at the
256-bit path
``SHA-256(key)``; a subtree holding no key is the fixed hash :data:`EMPTY_HASH`; a subtree
holding one key is that key's leaf, moved up as far as it goes; only a subtree holding two
or more keys is an internal node. The tree's shape therefore depends on the set of keys
only, never on the order of the writes. docs/state-proofs.md gives the reasons and the
exact encodings; this docstring is the summary.

Hashing (SHA-256 throughout; ``||`` is concatenation)::

    key_hash   = SHA-256(key)
    value_hash = SHA-256(value)
    leaf       = SHA-256(0x00 || key_hash || value_hash)
    internal   = SHA-256(0x01 || left || right)     (left: bit 0, right: bit 1)
    empty      = 32 zero bytes

Bit ``d`` of a path is bit ``d`` of the key hash read as a 256-bit big-endian number,
bit 0 the most significant: it chooses the child at depth ``d``. The prefixes 0x00 and
0x01 are those of RFC 9162 (ledger/merkle.py): a leaf cannot be passed off as an
internal node, nor the reverse.

Versions are block heights: :meth:`StateTree.apply` writes one batch of changes as a new
version (versions strictly increase) and every earlier version stays readable, because
a node is never rewritten: a changed node is written anew under the new version, keyed
by ``(version, path)``. Nothing is pruned (a later increment may).

The chain's state root: the block header's ``state_root`` at height H is this tree's root
over the whole state after block H, version H (``ledger.state.WriteSet.prepare`` computes
it; ``ledger.store.Store`` keeps the records in the block's write batch).

:func:`verify` checks a :class:`Proof` with nothing but ``hashlib``: it never raises.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import struct
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from ledger.errors import LedgerError

__all__ = [
    "EMPTY_HASH",
    "MAX_PROOF_SIBLINGS",
    "DBNodeStore",
    "LatestNodeStore",
    "MemoryNodeStore",
    "NodeStore",
    "Proof",
    "StateTree",
    "StateTreeError",
    "TreeUpdate",
    "key_hash",
    "leaf_hash",
    "verify",
]

EMPTY_HASH: Final = bytes(32)
"""The hash of an empty subtree, and the root of the empty tree: 32 zero bytes."""

MAX_PROOF_SIBLINGS: Final = 256
"""A path has 256 bits, so a proof has at most 256 siblings."""

_LEAF_PREFIX: Final = b"\x00"
_NODE_PREFIX: Final = b"\x01"
_LEAF: Final = 1
_INTERNAL: Final = 2
_MAX_VERSION: Final = (1 << 64) - 1
_Q = struct.Struct(">Q")
_H = struct.Struct(">H")
_I = struct.Struct(">I")
_LEAF_DEPTH: Final = _H.pack(256)
_CACHE_LIMIT: Final = 1 << 16



class StateTreeError(LedgerError):
    """The state tree refused an input. Codes: ``bad_version``, ``unknown_version``,
    ``bad_key``, ``bad_value``, ``missing_node``, ``stale_update``, ``malformed_proof``,
    ``proof_too_large``."""


def key_hash(key: bytes) -> bytes:
    """A key's path in the tree: ``SHA-256(key)``."""
    return hashlib.sha256(key).digest()


def leaf_hash(key_hash: bytes, value_hash: bytes) -> bytes:
    """``SHA-256(0x00 || key_hash || value_hash)``."""
    return hashlib.sha256(_LEAF_PREFIX + key_hash + value_hash).digest()


# --------------------------------------------------------------------------------------------
# Proofs
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Proof:
    """The path from the root towards ``SHA-256(key)`` until it ends.

    * ``siblings``: the hashes beside the path, **from the root down**: ``siblings[d]`` is
      the child of the depth-``d`` node that the path does not take (:data:`EMPTY_HASH`
      for an empty one). The path ends at depth ``len(siblings)``.
    * ``leaf``: what the path ends at: ``(key_hash, value_hash)`` of a leaf, or None for
      an empty subtree. A leaf of the key itself proves its value; an empty subtree or
      another key's leaf proves that the key is absent.
    """

    siblings: tuple[bytes, ...]
    leaf: tuple[bytes, bytes] | None

    def to_json(self) -> dict[str, Any]:
        """``{"leaf": null | {"key_hash": hex, "value_hash": hex}, "siblings": [hex, ...]}``
        (lowercase hex; serialise with sorted keys for canonical bytes)."""
        leaf = None
        if self.leaf is not None:
            leaf = {"key_hash": self.leaf[0].hex(), "value_hash": self.leaf[1].hex()}
        return {"leaf": leaf, "siblings": [s.hex() for s in self.siblings]}

    @classmethod
    def from_json(cls, obj: object) -> Proof:
        """The proof in ``obj`` (parsed JSON, as :meth:`to_json` gives), or
        ``StateTreeError``: ``proof_too_large`` for more than 256 siblings,
        ``malformed_proof`` for anything else that is not exactly that shape."""
        if not isinstance(obj, dict) or set(obj) != {"leaf", "siblings"}:
            raise StateTreeError(
                "malformed_proof", 'a state proof is an object with exactly "leaf" and "siblings"'
            )
        siblings = obj["siblings"]
        if not isinstance(siblings, list):
            raise StateTreeError("malformed_proof", "the proof's siblings are not a list")
        if len(siblings) > MAX_PROOF_SIBLINGS:
            raise StateTreeError(
                "proof_too_large",
                f"the proof has {len(siblings)} siblings; a 256-bit path has at most "
                f"{MAX_PROOF_SIBLINGS}",
            )
        parsed = tuple(_digest_from_hex(s, f"sibling {i}") for i, s in enumerate(siblings))
        leaf = obj["leaf"]
        if leaf is None:
            return cls(parsed, None)
        if not isinstance(leaf, dict) or set(leaf) != {"key_hash", "value_hash"}:
            raise StateTreeError(
                "malformed_proof",
                'the proof\'s leaf is null or an object with exactly "key_hash" and "value_hash"',
            )
        return cls(
            parsed,
            (_digest_from_hex(leaf["key_hash"], "key_hash"),
             _digest_from_hex(leaf["value_hash"], "value_hash")),
        )

    def size_bytes(self) -> int:
        """The proof's size in raw bytes: 32 per sibling, 64 for a leaf."""
        return 32 * len(self.siblings) + (64 if self.leaf is not None else 0)


_HEX_DIGITS: Final = frozenset("0123456789abcdef")


def _digest_from_hex(text: object, what: str) -> bytes:
    if not isinstance(text, str) or len(text) != 64 or not _HEX_DIGITS.issuperset(text):
        raise StateTreeError(
            "malformed_proof", f"the proof's {what} is not 64 lowercase hex digits"
        )
    return bytes.fromhex(text)


def _is_digest(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == 32


def verify(root: bytes, key: bytes, value: bytes | None, proof: Proof) -> bool:
    """True iff ``proof`` shows that, in the tree whose root is ``root``, ``key`` holds
    ``value`` (``value`` None: ``key`` is absent). Uses nothing but SHA-256; never raises.

    Steps (docs/state-proofs.md, "Verification"): the proof's shape is checked (at most
    256 siblings of 32 bytes; a leaf of two 32-byte hashes or None; the lowest sibling,
    if any, not empty, as in every tree this module builds); the starting hash is the
    leaf's hash -- which must be the key's own leaf with ``SHA-256(value)`` for a
    membership claim, and for an absence claim either None (start from the empty hash)
    or another key's leaf whose key hash shares the first ``len(siblings)`` bits with the
    key's; then the siblings are folded in from the bottom up, the key hash's bit ``d``
    placing the running hash right (1) or left (0) of ``siblings[d]``; the result must
    equal ``root``."""
    try:
        if not _is_digest(root) or not isinstance(key, bytes):
            return False
        if value is not None and not isinstance(value, bytes):
            return False
        if not isinstance(proof, Proof) or not isinstance(proof.siblings, tuple):
            return False
        siblings = proof.siblings
        n = len(siblings)
        if n > MAX_PROOF_SIBLINGS or not all(_is_digest(s) for s in siblings):
            return False
        if n and siblings[-1] == EMPTY_HASH:
            return False  # the subtree at the path's end would have been moved up
        kh = hashlib.sha256(key).digest()
        leaf = proof.leaf
        if leaf is None:
            if value is not None:
                return False
            running = EMPTY_HASH
        else:
            if not (isinstance(leaf, tuple) and len(leaf) == 2
                    and _is_digest(leaf[0]) and _is_digest(leaf[1])):
                return False
            leaf_key, leaf_value = leaf
            if value is not None:
                if leaf_key != kh or leaf_value != hashlib.sha256(value).digest():
                    return False
            elif leaf_key == kh or _common_prefix_bits(leaf_key, kh) < n:
                return False
            running = hashlib.sha256(_LEAF_PREFIX + leaf_key + leaf_value).digest()
        path = int.from_bytes(kh, "big")
        for depth in range(n - 1, -1, -1):
            if (path >> (255 - depth)) & 1:
                running = hashlib.sha256(_NODE_PREFIX + siblings[depth] + running).digest()
            else:
                running = hashlib.sha256(_NODE_PREFIX + running + siblings[depth]).digest()
        return running == root
    except Exception:  # noqa: BLE001 -- a verifier answers False, whatever it is given
        return False


def _common_prefix_bits(a: bytes, b: bytes) -> int:
    """How many leading bits the 32-byte strings ``a`` and ``b`` share (256 if equal)."""
    diff = int.from_bytes(a, "big") ^ int.from_bytes(b, "big")
    return 256 - diff.bit_length()


# --------------------------------------------------------------------------------------------
# Node storage
# --------------------------------------------------------------------------------------------


class NodeStore(Protocol):
    """Where a :class:`StateTree` keeps its records (byte keys -> byte values)."""

    def get(self, key: bytes) -> bytes | None: ...

    def write(self, items: Sequence[tuple[bytes, bytes]]) -> None:
        """Store ``items`` all together (one batch)."""
        ...


class MemoryNodeStore:
    """Records in a dict (tests, benchmarks, simulation)."""

    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}

    def get(self, key: bytes) -> bytes | None:
        return self.data.get(key)

    def write(self, items: Sequence[tuple[bytes, bytes]]) -> None:
        self.data.update(items)


class LatestNodeStore:
    """Only the newest record at each place of the tree, in a dict: for a replay that
    reads nothing but the latest version (the auditor), so that its memory follows the
    state's size, not the chain's history.

    A record's key names its version and its place (depth and path, or the root); this
    store keys records by place alone, so a new version's record replaces the one it
    supersedes. That is exact for the latest version: every record the latest tree
    references is the newest at its place (a version writes new records along the paths
    it changes and keeps its predecessor's references elsewhere, which are the newest at
    their places by induction). Reading an older version through it is wrong -- prove
    from a :class:`MemoryNodeStore` or :class:`DBNodeStore` instead. Places a deletion
    vacated keep their last record until a later version writes there again.

    ``leaves=False`` keeps no leaf record at all (a leaf's record holds its key and whole
    value; the internal records hold every hash an update needs, leaves' included): for
    a replay that only computes roots (:meth:`StateTree.prepare`, :meth:`StateTree.root`),
    as the auditor does, beside a state that has the values already. Its tree answers
    :meth:`StateTree.get`, :meth:`StateTree.prove` and :meth:`StateTree.leaves` of a
    present key with ``missing_node``."""

    def __init__(self, *, leaves: bool = True) -> None:
        self.data: dict[bytes, bytes] = {}
        self.leaves = leaves

    @staticmethod
    def _place(key: bytes) -> bytes:
        kind = key[:1]
        if kind == b"n":  # b"n" + version(8) + depth(2) + path
            return b"n" + key[9:]
        if kind == b"r":  # b"r" + version(8)
            return b"r"
        return key

    def get(self, key: bytes) -> bytes | None:
        return self.data.get(self._place(key))

    def write(self, items: Sequence[tuple[bytes, bytes]]) -> None:
        data = self.data
        leaves = self.leaves
        for key, value in items:
            kind = key[:1]
            if kind == b"n":
                if leaves or key[9:11] != _LEAF_DEPTH:
                    data[b"n" + key[9:]] = value
            elif kind == b"r":
                data[b"r"] = value
            else:
                data[key] = value


class _Database(Protocol):
    """What :class:`DBNodeStore` needs: ``plyvel.DB`` or ``ledger.store.MemoryDB``."""

    def get(self, key: bytes, default: bytes | None = None) -> bytes | None: ...

    def write_batch(self, *, transaction: bool = ..., sync: bool = ...) -> Any: ...


class _Batch(Protocol):
    def put(self, key: bytes, value: bytes) -> None: ...


class DBNodeStore:
    """Records in LevelDB (or ``MemoryDB``) under a reserved key prefix (the block store
    reserves ``a/``: ``ledger.store.TREE_PREFIX``).

    :meth:`write` commits a batch of its own; :meth:`put_into` adds the same records to a
    write batch the caller holds -- the block's, so that a height's tree nodes are on disk
    exactly when its block is."""

    def __init__(self, db: _Database, prefix: bytes) -> None:
        if not prefix:
            raise ValueError("the tree's records need a reserved, non-empty key prefix")
        self._db = db
        self.prefix = prefix

    def get(self, key: bytes) -> bytes | None:
        return self._db.get(self.prefix + key)

    def put_into(self, batch: _Batch, items: Sequence[tuple[bytes, bytes]]) -> None:
        prefix = self.prefix
        for key, value in items:
            batch.put(prefix + key, value)

    def write(self, items: Sequence[tuple[bytes, bytes]]) -> None:
        with self._db.write_batch(transaction=True, sync=True) as wb:
            self.put_into(wb, items)


# Record keys (docs/state-proofs.md, "Storage"):
#   b"n" + version(8) + depth(2) + path   a node written at that version; an internal node
#                                         at depth 0..255 has the depth's bits of its path,
#                                         left-aligned in ceil(depth / 8) bytes; a leaf has
#                                         depth 256 and the full key hash as its path
#   b"r" + version(8)                     the root reference of that version
#   b"v"                                  the latest version (8 bytes)
_LATEST_KEY: Final = b"v"


# per depth 0..255: the depth's two bytes, the path's length in bytes, the left shift that
# aligns a depth-bit path to it
_DEPTHS: Final = tuple(
    (_H.pack(d), (d + 7) >> 3, (((d + 7) >> 3) << 3) - d) for d in range(256)
)


def _node_key(version8: bytes, depth: int, prefix: int) -> bytes:
    """The record key of the internal node at ``depth`` (path ``prefix``, ``depth`` bits)
    written at the version whose 8 bytes are ``version8``."""
    depth_bytes, nbytes, shift = _DEPTHS[depth]
    return b"n" + version8 + depth_bytes + (prefix << shift).to_bytes(nbytes, "big")


def _root_key(version: int) -> bytes:
    return b"r" + _Q.pack(version)


# A reference to a non-empty child is its encoding in the parent's record (bytes, so that
# millions of them cost the garbage collector nothing):
#   0x01 version(8) hash(32) key_hash(32)   a leaf
#   0x02 version(8) hash(32)                an internal node
# and an empty child is None (encoded 0x00). An internal node's record is the encodings
# of its left and right children, one after the other.
_Ref = bytes
_REF_SIZE: Final = {_LEAF: 73, _INTERNAL: 41}


_CHILD_SIZE: Final = (1, 73, 41) + (0,) * 253
"""The size of a child's encoding by its tag byte (0: no such tag)."""


def _encode_ref(ref: _Ref | None) -> bytes:
    return b"\x00" if ref is None else ref


def _ref_hash(ref: _Ref | None) -> bytes:
    return EMPTY_HASH if ref is None else ref[9:41]


def _ref_version(ref: _Ref) -> int:
    version: int = _Q.unpack_from(ref, 1)[0]
    return version


def _decode_ref(data: bytes, at: int) -> tuple[_Ref | None, int]:
    """The reference at ``data[at:]`` and the offset after it."""
    tag = data[at]
    if tag == 0:
        return None, at + 1
    size = _REF_SIZE.get(tag)
    if size is None or len(data) < at + size:
        raise StateTreeError("missing_node", f"a node record is damaged (child tag {tag})")
    return data[at : at + size], at + size


def _split_record(raw: bytes) -> tuple[_Ref | None, _Ref | None]:
    """The children in a record already checked by :func:`_decode_children`."""
    tag = raw[0]
    if not tag:
        return None, raw[1:]
    cut = 73 if tag == _LEAF else 41
    right = raw[cut:]
    return raw[:cut], None if right == b"\x00" else right


def _decode_children(raw: bytes) -> tuple[_Ref | None, _Ref | None]:
    left, at = _decode_ref(raw, 0)
    right, end = _decode_ref(raw, at)
    if end != len(raw):
        raise StateTreeError("missing_node", "an internal node record is damaged (its length)")
    return left, right


@dataclass(frozen=True)
class TreeUpdate:
    """One version's changes, computed (:meth:`StateTree.prepare`) and not yet stored:
    the version before it, its version and root, and the records to write, sorted by
    key."""

    base_version: int | None
    version: int
    root: bytes
    writes: tuple[tuple[bytes, bytes], ...]
    internal: tuple[tuple[bytes, bytes], ...] = field(default=(), repr=False, compare=False)
    """The internal node records among ``writes`` (for the tree's cache)."""


# --------------------------------------------------------------------------------------------
# The tree
# --------------------------------------------------------------------------------------------


class StateTree:
    """A versioned sparse Merkle tree over a :class:`NodeStore`.

    * :meth:`apply` ``(version, changes)`` -> root: one batch (None deletes a key);
      versions strictly increase; :meth:`prepare` then :meth:`commit` (or :meth:`adopt`,
      when the caller wrote the records in a batch of its own) do the same in two steps;
    * :meth:`root`, :meth:`get`, :meth:`prove`, :meth:`leaves` read any stored version.

    Keys are non-empty ``bytes``, values ``bytes``. One writer at a time.

    ``cache_records``: how many internal node records the tree keeps in memory (about
    200 bytes each); past it, the older half goes. A tree larger than its cache reads the
    missing records from its store on every block, so a process that has the memory gives
    a larger one; 0 caches nothing (for a store that keeps its records in memory itself,
    as the audit's tree process does: ``ledger.replay_store.LatestDBNodeStore``)."""

    def __init__(self, nodes: NodeStore, *, cache_records: int = _CACHE_LIMIT) -> None:
        if cache_records < 0:
            raise ValueError("the tree's record cache holds 0 or more records")
        self._nodes = nodes
        self._cache_limit = cache_records
        raw = nodes.get(_LATEST_KEY)
        self._latest: int | None = None if raw is None else _Q.unpack(raw)[0]
        # internal node records lately written or read, by record key (they never
        # change): the top of the tree is read again at every block. Bounded: when full,
        # the older half goes (in insertion order), so the top levels, written anew at
        # every block, stay (_trim).
        self._cache: dict[bytes, bytes] = {}

    @property
    def latest_version(self) -> int | None:
        """The last version stored, or None before the first."""
        return self._latest

    # -- writing ---------------------------------------------------------------------------
    def apply(self, version: int, changes: Mapping[bytes, bytes | None]) -> bytes:
        """Store ``changes`` as ``version`` over the latest version; return its root."""
        return self.commit(self.prepare(version, changes))

    def commit(self, update: TreeUpdate) -> bytes:
        """Write a prepared update to the node store; return its root."""
        self._check_current(update)
        self._nodes.write(update.writes)
        return self.adopt(update)

    def adopt(self, update: TreeUpdate) -> bytes:
        """Take note that ``update.writes`` are in the node store: the caller wrote them
        itself (for instance with :meth:`DBNodeStore.put_into` in a block's write batch).
        """
        self._check_current(update)
        self._latest = update.version
        # the internal nodes written (not the leaves: a leaf is read once, to prove it)
        if self._cache_limit:
            self._cache.update(update.internal)
            _trim(self._cache, self._cache_limit)
        return update.root

    def _check_current(self, update: TreeUpdate) -> None:
        if update.base_version != self._latest:
            raise StateTreeError(
                "stale_update",
                f"the update to version {update.version} was prepared over version "
                f"{update.base_version}, but the tree is now at version {self._latest}",
            )

    def prepare(self, version: int, changes: Mapping[bytes, bytes | None]) -> TreeUpdate:
        """Compute ``version`` = the latest version with ``changes`` applied, without
        storing it. ``StateTreeError``: ``bad_version`` unless ``version`` is an int in
        0..2**64-1 above the latest version; ``bad_key`` / ``bad_value`` for a key that is
        not non-empty bytes or a value that is neither bytes nor None."""
        _check_version(version)
        if self._latest is not None and version <= self._latest:
            raise StateTreeError(
                "bad_version",
                f"version {version} does not follow the latest version {self._latest}; "
                "versions strictly increase",
            )
        if not isinstance(changes, Mapping):
            raise StateTreeError("bad_key", "the changes are a mapping of key -> value or None")
        staged: list[tuple[bytes, bytes, bytes | None]] = []
        for key, value in changes.items():
            if not isinstance(key, bytes) or not key:
                raise StateTreeError("bad_key", f"a state tree key is non-empty bytes, not {key!r}")
            if value is not None and not isinstance(value, bytes):
                raise StateTreeError(
                    "bad_value",
                    f"the value of key {key!r} is bytes or None (delete), not "
                    f"{type(value).__name__}",
                )
            staged.append((hashlib.sha256(key).digest(), key, value))
        staged.sort()
        base = None if self._latest is None else self._root_ref(self._latest)
        batcher = _Batcher(self, version, staged)
        root_ref = batcher.update(base, 0, 0, len(staged))
        # Sorted by key without a sort: a record key is b"n" + version + depth + path, so
        # the records sort by depth (leaves, depth 256, last), then by path; each depth's
        # records were made in path order (the update goes left before right), and every
        # place is written at most once. b"n" < b"r" (the root) < b"v" (the latest).
        writes = [item for bucket in batcher.buckets if bucket for item in bucket]
        writes.append((_root_key(version), _encode_ref(root_ref)))
        writes.append((_LATEST_KEY, _Q.pack(version)))
        return TreeUpdate(self._latest, version, _ref_hash(root_ref), tuple(writes),
                          tuple(batcher.internal))

    # -- reading ---------------------------------------------------------------------------
    def _root_ref(self, version: int) -> _Ref | None:
        _check_version(version)
        raw = self._nodes.get(_root_key(version))
        if raw is None:
            raise StateTreeError(
                "unknown_version",
                f"the state tree has no version {version} (latest: {self._latest})",
            )
        ref, end = _decode_ref(raw, 0)
        if end != len(raw):
            raise StateTreeError("missing_node", f"the root record of version {version} is damaged")
        return ref

    def _record(self, key: bytes, ref: _Ref, depth: int) -> bytes:
        """The record of an internal node, from the cache or the store (then checked and
        cached)."""
        raw = self._cache.get(key)
        if raw is None:
            raw = self._nodes.get(key)
            if raw is None:
                raise StateTreeError(
                    "missing_node",
                    f"the internal node at depth {depth} of version {_ref_version(ref)} is "
                    "not in the store",
                )
            # refuses a damaged record: two child encodings (0x00, or 0x01 / 0x02 and
            # their 72 / 40 bytes), nothing after them (as _decode_children, faster)
            size = len(raw)
            first = _CHILD_SIZE[raw[0]] if size else 0
            if not first or size <= first or _CHILD_SIZE[raw[first]] != size - first:
                _decode_children(raw)  # names the damage
                raise StateTreeError("missing_node", "an internal node record is damaged")
            if self._cache_limit:
                self._cache[key] = raw
                _trim(self._cache, self._cache_limit)
        return raw

    def _children(self, ref: _Ref, depth: int, prefix: int) -> tuple[_Ref | None, _Ref | None]:
        return _split_record(self._record(_node_key(ref[1:9], depth, prefix), ref, depth))

    def _leaf_record(self, ref: _Ref) -> tuple[bytes, bytes, bytes]:
        """``(value_hash, key, value)`` of a leaf."""
        raw = self._nodes.get(b"n" + ref[1:9] + _LEAF_DEPTH + ref[41:73])
        if raw is None or len(raw) < 36:
            raise StateTreeError(
                "missing_node",
                f"the leaf {ref[41:73].hex()} of version {_ref_version(ref)} is not in the store",
            )
        klen = _I.unpack_from(raw, 32)[0]
        return raw[:32], raw[36 : 36 + klen], raw[36 + klen :]

    def root(self, version: int) -> bytes:
        """The root hash of ``version`` (``unknown_version`` if it was never stored)."""
        return _ref_hash(self._root_ref(version))

    def _walk(self, key: bytes, version: int) -> tuple[list[bytes], _Ref | None, bytes]:
        """Siblings from the root down, the node the key's path ends at, the key hash."""
        if not isinstance(key, bytes) or not key:
            raise StateTreeError("bad_key", f"a state tree key is non-empty bytes, not {key!r}")
        kh = hashlib.sha256(key).digest()
        path = int.from_bytes(kh, "big")
        ref = self._root_ref(version)
        siblings: list[bytes] = []
        depth = 0
        while ref is not None and ref[0] == _INTERNAL:
            left, right = self._children(ref, depth, path >> (256 - depth))
            if (path >> (255 - depth)) & 1:
                siblings.append(_ref_hash(left))
                ref = right
            else:
                siblings.append(_ref_hash(right))
                ref = left
            depth += 1
        return siblings, ref, kh

    def get(self, key: bytes, version: int) -> bytes | None:
        """The value of ``key`` at ``version``, or None if it is absent there."""
        _, ref, kh = self._walk(key, version)
        if ref is None or ref[41:73] != kh:
            return None
        return self._leaf_record(ref)[2]

    def prove(self, key: bytes, version: int) -> Proof:
        """A proof of ``key``'s value, or of its absence, at ``version`` (:func:`verify`)."""
        siblings, ref, _ = self._walk(key, version)
        if ref is None:
            return Proof(tuple(siblings), None)
        return Proof(tuple(siblings), (ref[41:73], self._leaf_record(ref)[0]))

    def leaves(
        self, version: int, start: bytes | None = None
    ) -> Iterator[tuple[bytes, bytes, bytes]]:
        """``(key_hash, key, value)`` of every key at ``version`` in key-hash order, from
        key hash ``start`` on (inclusive; a 32-byte string) -- the order in which a state
        sync would send chunks, each bounded by proofs of its first and last keys."""
        if start is not None and not _is_digest(start):
            raise StateTreeError("bad_key", "the start of a leaf scan is a 32-byte key hash")
        low = 0 if start is None else int.from_bytes(start, "big")
        yield from self._leaves(self._root_ref(version), 0, 0, low)

    def _leaves(
        self, ref: _Ref | None, depth: int, prefix: int, low: int
    ) -> Iterator[tuple[bytes, bytes, bytes]]:
        if ref is None:
            return
        if ref[0] == _LEAF:
            if int.from_bytes(ref[41:73], "big") >= low:
                _, key, value = self._leaf_record(ref)
                yield ref[41:73], key, value
            return
        if (prefix + 1) << (256 - depth) <= low:
            return  # the whole subtree is before the start
        left, right = self._children(ref, depth, prefix)
        yield from self._leaves(left, depth + 1, prefix << 1, low)
        yield from self._leaves(right, depth + 1, (prefix << 1) | 1, low)


def _trim(cache: dict[bytes, bytes], limit: int) -> None:
    """Bound the record cache: past ``limit`` records (:data:`_CACHE_LIMIT` unless the
    tree says), drop the oldest (first inserted) down to half of it."""
    if len(cache) > limit:
        # proof and read requests may use the tree from other threads: tolerate a key
        # another one dropped already, and a cache changed while it is listed
        try:
            stale = list(itertools.islice(cache, max(0, len(cache) - limit // 2)))
        except RuntimeError:
            cache.clear()
            return
        for key in stale:
            cache.pop(key, None)


def _check_version(version: object) -> None:
    if not isinstance(version, int) or isinstance(version, bool) \
            or not 0 <= version <= _MAX_VERSION:
        raise StateTreeError(
            "bad_version", f"a version is an integer in 0..2**64-1, not {version!r}"
        )


class _Batcher:
    """One :meth:`StateTree.prepare`: the changes sorted by key hash, merged into the
    tree top-down; every subtree no change reaches is kept as it is (its reference).

    Below the depth where the changes part ways, a subtree holds one change: its path is
    walked down in a loop (:meth:`_one`) and rebuilt bottom-up in another, without the
    recursion and the search for where the changes split that :meth:`update` needs.
    The records written go to one list per depth (``buckets``, the leaves at 256): each
    list is in path order, which makes the update's records sorted by key."""

    __slots__ = ("buckets", "cache", "internal", "internal_head", "items", "leaf_head",
                 "node_key", "paths", "tree")

    def __init__(
        self,
        tree: StateTree,
        version: int,
        items: list[tuple[bytes, bytes, bytes | None]],
    ) -> None:
        self.tree = tree
        version8 = _Q.pack(version)
        self.node_key = b"n" + version8
        self.internal_head = b"\x02" + version8
        self.leaf_head = b"\x01" + version8
        self.cache = tree._cache
        self.items = items
        self.paths = [int.from_bytes(kh, "big") for kh, _, _ in items]
        self.buckets: list[list[tuple[bytes, bytes]]] = [[] for _ in range(257)]
        # the internal node records written, for the tree's cache once stored
        self.internal: list[tuple[bytes, bytes]] = []

    def _read(self, ref: _Ref, depth: int, where: bytes) -> bytes:
        """The record of the internal node ``ref`` at ``where`` (depth ``depth``)."""
        key = b"n" + ref[1:9] + where
        raw = self.cache.get(key)
        if raw is None:
            raw = self.tree._record(key, ref, depth)
        return raw

    def update(self, ref: _Ref | None, depth: int, lo: int, hi: int) -> _Ref | None:
        """The subtree at ``depth`` that was ``ref``, with changes ``lo:hi`` applied."""
        if lo == hi:
            return ref
        if hi - lo == 1:
            return self._one(ref, depth, lo)
        if ref is None or ref[0] == _LEAF:
            return self._rebuild(ref, depth, lo, hi)
        paths = self.paths
        prefix = paths[lo] >> (256 - depth)
        depth_bytes, nbytes, shift = _DEPTHS[depth]
        where = depth_bytes + (prefix << shift).to_bytes(nbytes, "big")
        raw = self._read(ref, depth, where)
        # _split_record, inline
        tag = raw[0]
        left: _Ref | None
        right: _Ref | None
        if tag:
            cut = 73 if tag == _LEAF else 41
            left, right = raw[:cut], raw[cut:]
            if right == b"\x00":
                right = None
        else:
            left, right = None, raw[1:]
        # the first change whose bit `depth` is 1
        mid = bisect.bisect_left(paths, ((prefix << 1) | 1) << (255 - depth), lo, hi)
        new_left = self.update(left, depth + 1, lo, mid) if lo < mid else left
        new_right = self.update(right, depth + 1, mid, hi) if mid < hi else right
        if new_left is left and new_right is right:
            return ref  # only deletions of absent keys reached it
        return self._internal(new_left, new_right, where)

    def _one(self, ref: _Ref | None, depth: int, i: int) -> _Ref | None:
        """:meth:`update` with the one change ``i``: down the path of its key from
        ``ref`` at ``depth`` to the leaf or empty subtree it ends at, the change applied
        there, then up again, each node on the way rewritten (:meth:`_internal`,
        inline)."""
        path = self.paths[i]
        cache = self.cache
        down: list[tuple[bytes, _Ref | None, int]] = []  # (where, sibling, bit)
        node = ref
        left: _Ref | None
        right: _Ref | None
        while node is not None and node[0] == _INTERNAL:
            depth_bytes, nbytes, shift = _DEPTHS[depth]
            where = depth_bytes + ((path >> (256 - depth)) << shift).to_bytes(nbytes, "big")
            raw = cache.get(b"n" + node[1:9] + where)
            if raw is None:
                raw = self._read(node, depth, where)
            tag = raw[0]
            if tag:
                cut = 73 if tag == _LEAF else 41
                left, right = raw[:cut], raw[cut:]
                if right == b"\x00":
                    right = None
            else:
                left, right = None, raw[1:]
            if (path >> (255 - depth)) & 1:
                down.append((where, left, 1))
                node = right
            else:
                down.append((where, right, 0))
                node = left
            depth += 1
        kh, _, value = self.items[i]
        if node is None:
            if value is None:
                return ref  # the deletion of an absent key
            new: _Ref | None = self._leaf(i)
        elif node[41:73] == kh:  # the key's own leaf
            new = None if value is None else self._leaf(i)
        elif value is None:
            return ref  # the deletion of an absent key
        else:
            new = self._rebuild(node, depth, i, i + 1)
        buckets, internal = self.buckets, self.internal
        node_key, head = self.node_key, self.internal_head
        sha256 = hashlib.sha256
        for where, sibling, bit in reversed(down):
            depth -= 1
            # _internal, inline: a lone leaf (or nothing) moves up
            if sibling is None:
                if new is None or new[0] == _LEAF:
                    continue
                sibling_hash, sibling_rec = EMPTY_HASH, b"\x00"
                new_hash, new_rec = new[9:41], new
            elif new is None:
                if sibling[0] == _LEAF:
                    new = sibling
                    continue
                sibling_hash, sibling_rec = sibling[9:41], sibling
                new_hash, new_rec = EMPTY_HASH, b"\x00"
            else:
                sibling_hash, sibling_rec = sibling[9:41], sibling
                new_hash, new_rec = new[9:41], new
            key = node_key + where
            if bit:
                record = sibling_rec + new_rec
                new = head + sha256(_NODE_PREFIX + sibling_hash + new_hash).digest()
            else:
                record = new_rec + sibling_rec
                new = head + sha256(_NODE_PREFIX + new_hash + sibling_hash).digest()
            item = (key, record)
            buckets[depth].append(item)
            internal.append(item)
        return new

    def _leaf(self, i: int) -> _Ref:
        """The leaf of change ``i`` (a value, not a deletion), its record written."""
        kh, key, value = self.items[i]
        assert value is not None
        vh = hashlib.sha256(value).digest()
        self.buckets[256].append(
            (self.node_key + _LEAF_DEPTH + kh, vh + _I.pack(len(key)) + key + value))
        return self.leaf_head + hashlib.sha256(_LEAF_PREFIX + kh + vh).digest() + kh

    def _internal(self, left: _Ref | None, right: _Ref | None, where: bytes) -> _Ref | None:
        """The node over ``left`` and ``right`` at ``where`` (its depth and path, as in its
        record key): a lone leaf (or nothing) moves up."""
        if left is None:
            if right is None or right[0] == _LEAF:
                return right
            left_hash, left = EMPTY_HASH, b"\x00"
        else:
            if right is None and left[0] == _LEAF:
                return left
            left_hash = left[9:41]
        if right is None:
            right_hash, right = EMPTY_HASH, b"\x00"
        else:
            right_hash = right[9:41]
        key = self.node_key + where
        record = left + right
        ref = self.internal_head + hashlib.sha256(_NODE_PREFIX + left_hash + right_hash).digest()
        item = (key, record)
        self.buckets[where[1]].append(item)  # where[0:2] is the depth, below 256
        self.internal.append(item)
        return ref

    def _rebuild(self, ref: _Ref | None, depth: int, lo: int, hi: int) -> _Ref | None:
        """The subtree at ``depth`` holding at most the leaf ``ref`` before the changes:
        the keys it holds after them, built anew (the old leaf, unless changed, is reused
        as it is: a leaf's record does not depend on its depth)."""
        paths, items = self.paths, self.items
        old_path = -1 if ref is None else int.from_bytes(ref[41:73], "big")
        keep = ref is not None
        entries: list[int] = []
        payload: list[_Ref | int] = []
        for i in range(lo, hi):
            if paths[i] == old_path:
                keep = False
            if items[i][2] is not None:
                entries.append(paths[i])
                payload.append(i)
        if keep:
            assert ref is not None
            if not entries:
                return ref
            at = bisect.bisect_left(entries, old_path)
            entries.insert(at, old_path)
            payload.insert(at, ref)
        return self._build(depth, entries, payload, 0, len(entries))

    def _build(self, depth: int, entries: list[int], payload: list[_Ref | int],
               lo: int, hi: int) -> _Ref | None:
        if lo == hi:
            return None
        if hi - lo == 1:
            one = payload[lo]
            if isinstance(one, bytes):
                return one
            return self._leaf(one)
        prefix = entries[lo] >> (256 - depth)
        mid = bisect.bisect_left(entries, ((prefix << 1) | 1) << (255 - depth), lo, hi)
        depth_bytes, nbytes, shift = _DEPTHS[depth]
        return self._internal(
            self._build(depth + 1, entries, payload, lo, mid),
            self._build(depth + 1, entries, payload, mid, hi),
            depth_bytes + (prefix << shift).to_bytes(nbytes, "big"),
        )
