"""Merkle trees, inclusion proofs and consistency proofs as in RFC 9162 (CT v2), section 2.1.

Hashing (RFC 9162 §2.1.1), with SHA-256 throughout:

* the hash of the empty list is ``SHA-256(b"")``;
* the hash of one leaf is ``SHA-256(0x00 || data)``;
* an interior node is ``SHA-256(0x01 || left || right)``; a list of ``n > 1`` leaves is split
  at ``k``, the largest power of two strictly smaller than ``n``.

The distinct 0x00 / 0x01 prefixes give domain separation: an interior node can never be
passed off as a leaf (second-preimage protection).

Two families of builders are provided:

* functions over a list (``merkle_root``, ``inclusion_proof``, ``consistency_proof`` and their
  ``*_from_hashes`` variants), used for per-block roots such as ``txs_root``;
* :class:`AppendOnlyMerkleTree`, which stores every complete subtree and serves roots and proofs
  for the current or any earlier size in O(log n); it is the history tree over block hashes.

The verifiers (``verify_inclusion``, ``verify_inclusion_hash``, ``verify_consistency``) follow
RFC 9162 §2.1.3.2 and §2.1.4.2, return ``bool`` and never raise, whatever they are given.

Note on tree sizes: a root hash does not commit to the tree size on its own. For example the
inclusion proof of leaf 0 in a 3-leaf tree also verifies against the same root when the claimed
size is 4, because both paths have the same shape. A verifier must therefore take the size and
the root from the same authenticated source (a signed block header or tree head), never the size
from the prover.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Sequence
from typing import Final

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "AppendOnlyMerkleTree",
    "consistency_proof",
    "consistency_proof_from_hashes",
    "inclusion_proof",
    "inclusion_proof_from_hashes",
    "leaf_hash",
    "merkle_root",
    "node_hash",
    "root_from_hashes",
    "verify_consistency",
    "verify_inclusion",
    "verify_inclusion_hash",
]

HASH_SIZE: Final = 32
"""Length in bytes of every digest (roots, leaf hashes, proof items)."""

EMPTY_ROOT: Final = hashlib.sha256(b"").digest()
"""Root of the empty tree, ``SHA-256(b"")`` (RFC 9162 §2.1.1)."""

_LEAF_PREFIX: Final = b"\x00"
_NODE_PREFIX: Final = b"\x01"

# RFC 9162 tree sizes and indices are 64-bit unsigned integers. A proof for a tree with fewer than
# 2**64 leaves has at most 64 inclusion items and fewer than 2 * 64 consistency items; these
# bounds are only an early, cheap rejection, the verification algorithms are exact on their own.
_MAX_SIZE: Final = 1 << 64
_MAX_INCLUSION_ITEMS: Final = 64
_MAX_CONSISTENCY_ITEMS: Final = 2 * 64

_BytesLike = bytes | bytearray | memoryview
_NodeLookup = Callable[[int, int], bytes]


# --------------------------------------------------------------------------------------------
# Hashing primitives (RFC 9162 §2.1.1)
# --------------------------------------------------------------------------------------------


def leaf_hash(data: bytes) -> bytes:
    """Return the leaf hash ``SHA-256(0x00 || data)`` of raw leaf data (RFC 9162 §2.1.1).

    ``data`` may be any bytes-like object (``bytes``, ``bytearray``, ``memoryview``).

    Raises:
        TypeError: if ``data`` is not bytes-like.
    """
    if not isinstance(data, _BytesLike):
        raise TypeError(f"leaf data must be bytes, not {type(data).__name__}")
    return hashlib.sha256(_LEAF_PREFIX + bytes(data)).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return the interior node hash ``SHA-256(0x01 || left || right)`` (RFC 9162 §2.1.1).

    Raises:
        ValueError: if ``left`` or ``right`` is not a 32-byte ``bytes`` digest.
    """
    if not _is_digest(left):
        raise ValueError(f"left child must be a {HASH_SIZE}-byte digest")
    if not _is_digest(right):
        raise ValueError(f"right child must be a {HASH_SIZE}-byte digest")
    return _node(left, right)


def _node(left: bytes, right: bytes) -> bytes:
    """Unchecked :func:`node_hash` for internal hot paths."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """Return ``k``, the largest power of two strictly smaller than ``n`` (``n >= 2``)."""
    assert n >= 2
    return 1 << ((n - 1).bit_length() - 1)


def _is_digest(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == HASH_SIZE


def _is_uint(value: object) -> bool:
    """True for a non-negative ``int`` below 2**64 (``bool`` is rejected)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < _MAX_SIZE


def _is_item_sequence(value: object) -> bool:
    """True for a sequence of proof items (a str or a bytes-like object is not one)."""
    return isinstance(value, Sequence) and not isinstance(value, str | bytes | bytearray)


def _check_int(name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{name} must be an int, not {type(value).__name__}")
    return value


def _check_hashes(hashes: Sequence[bytes]) -> list[bytes]:
    """Copy ``hashes`` into a list, checking that every item is a 32-byte digest."""
    if not _is_item_sequence(hashes):
        raise TypeError("leaf hashes must be a sequence of 32-byte digests")
    out = list(hashes)
    for i, h in enumerate(out):
        if not _is_digest(h):
            raise ValueError(f"leaf hash {i} is not a {HASH_SIZE}-byte bytes digest")
    return out


def _leaf_hashes(leaves: Sequence[bytes]) -> list[bytes]:
    if not _is_item_sequence(leaves):
        raise TypeError("leaves must be a sequence of bytes objects")
    return [leaf_hash(leaf) for leaf in leaves]


# --------------------------------------------------------------------------------------------
# Tree hash and proof builders over a list (RFC 9162 §2.1.1, §2.1.3.1, §2.1.4.1)
# --------------------------------------------------------------------------------------------


def _mth(hashes: Sequence[bytes], lo: int, hi: int) -> bytes:
    """Merkle Tree Hash of the leaf hashes ``hashes[lo:hi]`` (RFC 9162 §2.1.1), in O(hi - lo).

    Computed bottom-up: neighbours are paired level by level and an unpaired last node is carried
    up unchanged. This gives exactly the RFC's left-balanced tree (split at the largest power of
    two below the size), without recursion.
    """
    if hi == lo:
        return EMPTY_ROOT
    level = list(hashes[lo:hi])
    while len(level) > 1:
        nxt = [_node(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def _inclusion_path(index: int, size: int, subtree: _NodeLookup) -> list[bytes]:
    """RFC 9162 §2.1.3.1 ``PATH(index, D[size])``, written as a top-down loop.

    ``subtree(lo, hi)`` must return ``MTH(D[lo:hi])`` for the nodes of the size-``size`` tree.
    Items are returned bottom-up (sibling of the leaf first), as the RFC orders them.
    """
    assert 0 <= index < size
    lo, hi = 0, size
    path: list[bytes] = []
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:  # PATH(m, D[0:k]) : MTH(D[k:n])
            path.append(subtree(lo + k, hi))
            hi = lo + k
        else:  # PATH(m - k, D[k:n]) : MTH(D[0:k])
            path.append(subtree(lo, lo + k))
            lo += k
    path.reverse()
    return path


def _consistency_path(old_size: int, new_size: int, subtree: _NodeLookup) -> list[bytes]:
    """RFC 9162 §2.1.4.1 ``PROOF(m, D[n]) = SUBPROOF(m, D[n], true)`` as a top-down loop.

    ``subtree`` is as for :func:`_inclusion_path`, for the size-``new_size`` tree. Returns ``[]``
    when ``old_size`` is 0 or equal to ``new_size`` (nothing to prove).
    """
    assert 0 <= old_size <= new_size
    if old_size == 0 or old_size == new_size:
        return []
    m, lo, hi = old_size, 0, new_size
    flag = True  # the RFC's "b": whether D[0:m] so far is the whole old tree
    path: list[bytes] = []
    while True:
        n = hi - lo
        if m == n:
            # SUBPROOF(m, D[m], true) = {}; SUBPROOF(m, D[m], false) = {MTH(D[m])}
            if not flag:
                path.append(subtree(lo, hi))
            break
        k = _split(n)
        if m <= k:  # SUBPROOF(m, D[0:k], b) : MTH(D[k:n])
            path.append(subtree(lo + k, hi))
            hi = lo + k
        else:  # SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])
            path.append(subtree(lo, lo + k))
            lo += k
            m -= k
            flag = False
    path.reverse()
    return path


def root_from_hashes(hashes: Sequence[bytes]) -> bytes:
    """Merkle Tree Hash (RFC 9162 §2.1.1) of a list of precomputed leaf hashes.

    Returns :data:`EMPTY_ROOT` for an empty list.

    Raises:
        TypeError: if ``hashes`` is not a sequence.
        ValueError: if an item is not a 32-byte ``bytes`` digest.
    """
    hs = _check_hashes(hashes)
    return _mth(hs, 0, len(hs))


def inclusion_proof_from_hashes(hashes: Sequence[bytes], index: int) -> list[bytes]:
    """Inclusion proof ``PATH(index, D[n])`` (RFC 9162 §2.1.3.1) over precomputed leaf hashes.

    The proof lists sibling subtree hashes from the leaf up to the root; it is empty for a
    one-leaf tree.

    Raises:
        ValueError: if ``index`` is not an int with ``0 <= index < len(hashes)``, or an item is
            not a 32-byte digest.
    """
    hs = _check_hashes(hashes)
    _check_int("index", index)
    if not 0 <= index < len(hs):
        raise ValueError(f"index {index} out of range for a tree of {len(hs)} leaves")
    return _inclusion_path(index, len(hs), lambda lo, hi: _mth(hs, lo, hi))


def consistency_proof_from_hashes(hashes: Sequence[bytes], old_size: int) -> list[bytes]:
    """Consistency proof ``PROOF(old_size, D[n])`` (RFC 9162 §2.1.4.1) over leaf hashes.

    Proves that the tree of the first ``old_size`` hashes is a prefix of the tree of all of them.
    Returns ``[]`` when ``old_size`` is 0 or ``len(hashes)``.

    Raises:
        ValueError: if ``old_size`` is not an int with ``0 <= old_size <= len(hashes)``, or an
            item is not a 32-byte digest.
    """
    hs = _check_hashes(hashes)
    _check_int("old_size", old_size)
    if not 0 <= old_size <= len(hs):
        raise ValueError(f"old_size {old_size} out of range for a tree of {len(hs)} leaves")
    return _consistency_path(old_size, len(hs), lambda lo, hi: _mth(hs, lo, hi))


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """Merkle Tree Hash (RFC 9162 §2.1.1) of a list of raw leaf data.

    ``merkle_root([]) == SHA-256(b"")``.

    Raises:
        TypeError: if ``leaves`` is not a sequence of bytes-like objects.
    """
    return root_from_hashes(_leaf_hashes(leaves))


def inclusion_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """Inclusion proof (RFC 9162 §2.1.3.1) for ``leaves[index]`` in the tree of ``leaves``.

    Raises:
        TypeError: if ``leaves`` is not a sequence of bytes-like objects.
        ValueError: if ``index`` is not an int with ``0 <= index < len(leaves)``.
    """
    return inclusion_proof_from_hashes(_leaf_hashes(leaves), index)


def consistency_proof(leaves: Sequence[bytes], old_size: int) -> list[bytes]:
    """Consistency proof (RFC 9162 §2.1.4.1) between ``leaves[:old_size]`` and ``leaves``.

    Returns ``[]`` when ``old_size`` is 0 or ``len(leaves)``.

    Raises:
        TypeError: if ``leaves`` is not a sequence of bytes-like objects.
        ValueError: if ``old_size`` is not an int with ``0 <= old_size <= len(leaves)``.
    """
    return consistency_proof_from_hashes(_leaf_hashes(leaves), old_size)


# --------------------------------------------------------------------------------------------
# Verifiers (RFC 9162 §2.1.3.2, §2.1.4.2). They return bool and never raise.
# --------------------------------------------------------------------------------------------


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """Check that raw leaf data ``leaf`` is leaf ``index`` of the size-``size`` tree ``root``.

    Hashes ``leaf`` as a leaf (0x00 prefix) and runs the RFC 9162 §2.1.3.2 algorithm; see
    :func:`verify_inclusion_hash`. ``leaf`` may be any bytes-like object. Returns ``False``
    (never raises) on any malformed input.
    """
    try:
        if not isinstance(leaf, _BytesLike):
            return False
        return verify_inclusion_hash(leaf_hash(leaf), index, size, proof, root)
    except Exception:
        return False


def verify_inclusion_hash(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """Verify an inclusion proof for a precomputed leaf hash (RFC 9162 §2.1.3.2).

    ``leaf_hash`` must be ``SHA-256(0x00 || data)``; the function cannot tell a leaf hash from
    an interior node hash, so callers holding the raw data should use :func:`verify_inclusion`,
    which keeps the leaf/node domain separation. ``size`` and ``root`` must come from the same
    authenticated tree head (see the module docstring).

    Returns ``True`` only if all of these hold: ``index`` and ``size`` are ints with
    ``0 <= index < size < 2**64``; ``leaf_hash`` and ``root`` are 32-byte ``bytes``; ``proof`` is
    a sequence (not str/bytes) of 32-byte ``bytes`` items of exactly the right length; and the
    path hashes up to ``root``. Never raises.
    """
    try:
        if not (_is_uint(index) and _is_uint(size) and index < size):
            return False
        if not (_is_digest(leaf_hash) and _is_digest(root) and _is_item_sequence(proof)):
            return False
        if len(proof) > _MAX_INCLUSION_ITEMS:
            return False
        # RFC 9162 §2.1.3.2, steps 2-5.
        fn, sn = index, size - 1
        r = leaf_hash
        for p in proof:
            if not _is_digest(p) or sn == 0:
                return False
            if fn & 1 or fn == sn:
                r = _node(p, r)
                if not fn & 1:
                    while fn and not fn & 1:
                        fn >>= 1
                        sn >>= 1
            else:
                r = _node(r, p)
            fn >>= 1
            sn >>= 1
        return sn == 0 and hmac.compare_digest(r, root)
    except Exception:
        return False


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Verify that the tree ``(old_size, old_root)`` is a prefix of ``(new_size, new_root)``.

    Implements RFC 9162 §2.1.4.2 for ``0 < old_size < new_size``, and defines the cases the RFC
    leaves out to match :func:`consistency_proof`, which returns ``[]`` for them:

    * ``old_size == new_size``: valid iff ``proof`` is empty and ``old_root == new_root``;
    * ``old_size == 0``: valid iff ``proof`` is empty and ``old_root`` is the empty-tree root
      ``SHA-256(b"")`` (and, if ``new_size`` is 0 too, ``new_root`` is as well).

    Sizes must be ints with ``0 <= old_size <= new_size < 2**64``, roots and proof items
    32-byte ``bytes``, ``proof`` a sequence that is not str/bytes. Returns ``False`` (never
    raises) on anything else.
    """
    try:
        if not (_is_uint(old_size) and _is_uint(new_size) and old_size <= new_size):
            return False
        if not (_is_digest(old_root) and _is_digest(new_root) and _is_item_sequence(proof)):
            return False
        if len(proof) > _MAX_CONSISTENCY_ITEMS:
            return False
        if old_size == 0:
            return (
                len(proof) == 0
                and hmac.compare_digest(old_root, EMPTY_ROOT)
                and (new_size > 0 or hmac.compare_digest(new_root, EMPTY_ROOT))
            )
        if old_size == new_size:
            return len(proof) == 0 and hmac.compare_digest(old_root, new_root)
        # RFC 9162 §2.1.4.2, for 0 < old_size < new_size.
        path = list(proof)  # step 1: an empty path fails
        if not path or not all(_is_digest(c) for c in path):
            return False
        if old_size & (old_size - 1) == 0:  # step 2: old_size is an exact power of two
            path.insert(0, old_root)
        fn, sn = old_size - 1, new_size - 1  # step 3
        while fn & 1:  # step 4
            fn >>= 1
            sn >>= 1
        fr = sr = path[0]  # step 5
        for c in path[1:]:  # step 6
            if sn == 0:
                return False
            if fn & 1 or fn == sn:
                fr = _node(c, fr)
                sr = _node(c, sr)
                if not fn & 1:
                    while fn and not fn & 1:
                        fn >>= 1
                        sn >>= 1
            else:
                sr = _node(sr, c)
            fn >>= 1
            sn >>= 1
        # step 7
        return sn == 0 and hmac.compare_digest(fr, old_root) and hmac.compare_digest(sr, new_root)
    except Exception:
        return False


# --------------------------------------------------------------------------------------------
# Append-only tree with stored complete subtrees
# --------------------------------------------------------------------------------------------


class AppendOnlyMerkleTree:
    """An append-only RFC 9162 Merkle tree serving roots and proofs in O(log n).

    Storage: ``levels[i][j]`` is the hash of the complete subtree of size ``2**i`` over leaves
    ``j * 2**i .. (j + 1) * 2**i - 1``; level 0 holds the leaf hashes. Invariant:
    ``len(levels[i]) == size >> i``. Every node of the RFC 9162 tree of any size ``s <= size``
    is either such a complete subtree, or lies on the right edge of that tree (a suffix
    ``D[lo:s]`` starting where a maximal complete subtree of ``s`` starts); the right-edge
    hashes are recomputed on demand from at most ``log2(s)`` stored subtrees. Hence
    :meth:`root_at`, :meth:`inclusion_proof` and :meth:`consistency_proof` cost O(log n) hashes
    and lookups for any earlier size, and their output is byte-identical to the functional
    builders :func:`root_from_hashes`, :func:`inclusion_proof_from_hashes` and
    :func:`consistency_proof_from_hashes` over the same leaf hashes.

    Not thread-safe: callers that append and read concurrently must serialise access.
    """

    __slots__ = ("_levels",)

    def __init__(self) -> None:
        """Create an empty tree."""
        self._levels: list[list[bytes]] = [[]]

    # -- mutation ----------------------------------------------------------------------------

    def append(self, data: bytes) -> None:
        """Append a leaf with raw data ``data`` (hashed as ``SHA-256(0x00 || data)``).

        Amortised O(1), worst case O(log n) node hashes.

        Raises:
            TypeError: if ``data`` is not bytes-like.
        """
        self.append_hash(leaf_hash(data))

    def append_hash(self, leaf_hash: bytes) -> None:
        """Append a leaf given its precomputed leaf hash.

        Completes the stored subtrees that the new leaf closes (one per trailing 1-bit of the
        old size): amortised O(1), worst case O(log n) node hashes.

        Raises:
            ValueError: if ``leaf_hash`` is not a 32-byte ``bytes`` digest.
        """
        if not _is_digest(leaf_hash):
            raise ValueError(f"leaf hash must be a {HASH_SIZE}-byte bytes digest")
        levels = self._levels
        levels[0].append(leaf_hash)
        i = 0
        while len(levels[i]) % 2 == 0:
            row = levels[i]
            if i + 1 == len(levels):
                levels.append([])
            levels[i + 1].append(_node(row[-2], row[-1]))
            i += 1
        assert all(len(levels[j]) == len(levels[0]) >> j for j in range(i + 1))

    # -- queries -----------------------------------------------------------------------------

    @property
    def size(self) -> int:
        """Number of leaves."""
        return len(self._levels[0])

    def __len__(self) -> int:
        """Number of leaves."""
        return len(self._levels[0])

    def __repr__(self) -> str:
        return f"AppendOnlyMerkleTree(size={self.size})"

    def leaf_hash_at(self, index: int) -> bytes:
        """Return the stored leaf hash of leaf ``index``.

        Raises:
            ValueError: if ``index`` is not an int with ``0 <= index < size``.
        """
        _check_int("index", index)
        if not 0 <= index < self.size:
            raise ValueError(f"index {index} out of range for a tree of {self.size} leaves")
        return self._levels[0][index]

    def root(self) -> bytes:
        """Merkle Tree Hash (RFC 9162 §2.1.1) of the current tree, in O(log n)."""
        return self.root_at(self.size)

    def root_at(self, size: int) -> bytes:
        """Merkle Tree Hash (RFC 9162 §2.1.1) of the first ``size`` leaves, in O(log n).

        Raises:
            ValueError: if ``size`` is not an int with ``0 <= size <= self.size``.
        """
        self._check_size("size", size)
        if size == 0:
            return EMPTY_ROOT
        return self._right_edge(size)[0]

    def frontier(self, size: int) -> list[bytes]:
        """The roots of the maximal complete subtrees of the tree of the first ``size``
        leaves, largest (leftmost) first: one per 1-bit of ``size``. Folded from the right
        they give :meth:`root_at` ``(size)``; with them alone the tree can be continued
        (``ledger.snapshot.fold_frontier``; state sync, docs/state-sync.md).

        Raises:
            ValueError: if ``size`` is not an int with ``0 <= size <= self.size``.
        """
        self._check_size("size", size)
        out: list[bytes] = []
        start = 0
        for level in range(size.bit_length() - 1, -1, -1):
            if size >> level & 1:
                out.append(self._levels[level][start >> level])
                start += 1 << level
        return out

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """Inclusion proof (RFC 9162 §2.1.3.1) of leaf ``index`` in the tree of ``size`` leaves.

        ``size`` defaults to the current size. O(log n).

        Raises:
            ValueError: if ``size`` is out of ``1..self.size`` or ``index`` out of ``0..size-1``.
        """
        if size is None:
            size = self.size
        self._check_size("size", size)
        _check_int("index", index)
        if not 0 <= index < size:
            raise ValueError(f"index {index} out of range for a tree of {size} leaves")
        return _inclusion_path(index, size, self._lookup(size))

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """Consistency proof (RFC 9162 §2.1.4.1) between the trees of ``old_size`` and
        ``new_size`` leaves (``new_size`` defaults to the current size). O(log n).

        Returns ``[]`` when ``old_size`` is 0 or equal to ``new_size``.

        Raises:
            ValueError: unless ``0 <= old_size <= new_size <= self.size``.
        """
        if new_size is None:
            new_size = self.size
        self._check_size("new_size", new_size)
        _check_int("old_size", old_size)
        if not 0 <= old_size <= new_size:
            raise ValueError(f"old_size {old_size} out of range 0..{new_size}")
        if old_size == 0 or old_size == new_size:
            return []  # nothing to prove (and no tree to look nodes up in when new_size is 0)
        return _consistency_path(old_size, new_size, self._lookup(new_size))

    # -- internals ---------------------------------------------------------------------------

    def _check_size(self, name: str, size: object) -> None:
        _check_int(name, size)
        assert isinstance(size, int)
        if not 0 <= size <= self.size:
            raise ValueError(f"{name} {size} out of range 0..{self.size}")

    def _right_edge(self, size: int) -> dict[int, bytes]:
        """Hashes of the right-edge nodes of the size-``size`` tree, keyed by first leaf.

        ``size`` decomposes into maximal complete subtrees ``2**a1 + 2**a2 + ...`` with
        ``a1 > a2 > ...`` (its binary digits). The right-edge node starting at the i-th of them
        is the hash of all of them from the i-th on, folded from the right; the root is the one
        starting at 0. O(log size) hashes.
        """
        assert 0 < size <= self.size
        peaks: list[tuple[int, bytes]] = []
        start = 0
        for level in range(size.bit_length() - 1, -1, -1):
            if size >> level & 1:
                peaks.append((start, self._levels[level][start >> level]))
                start += 1 << level
        assert start == size
        edge: dict[int, bytes] = {}
        acc = b""
        for lo, h in reversed(peaks):
            acc = h if not acc else _node(h, acc)
            edge[lo] = acc
        return edge

    def _lookup(self, size: int) -> _NodeLookup:
        """``subtree(lo, hi)`` returning ``MTH(D[lo:hi])`` for nodes of the size-``size`` tree."""
        edge = self._right_edge(size)
        levels = self._levels

        def subtree(lo: int, hi: int) -> bytes:
            width = hi - lo
            if width & (width - 1) == 0:  # complete subtree of 2**level leaves
                level = width.bit_length() - 1
                assert lo % width == 0 and hi <= size
                return levels[level][lo >> level]
            assert hi == size and lo in edge  # an incomplete node lies on the right edge
            return edge[lo]

        return subtree
