"""Tests for ledger.merkle (RFC 9162 §2.1 Merkle trees, inclusion and consistency proofs).

Oracles used, none of them sharing code with ledger.merkle:

* the published RFC 6962 / RFC 9162 reference vectors used by Certificate Transparency
  implementations (values as in transparency-dev/merkle, proof/verify_test.go);
* a literal recursive transcription of the RFC 9162 §2.1.1 / §2.1.3.1 / §2.1.4.1 definitions
  written below with hashlib only;
* the independent ``pymerkle`` package (its default mode uses the RFC 0x00 / 0x01 prefixes).
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pymerkle import InmemoryTree

from ledger import merkle
from ledger.merkle import (
    EMPTY_ROOT,
    AppendOnlyMerkleTree,
    consistency_proof,
    consistency_proof_from_hashes,
    inclusion_proof,
    inclusion_proof_from_hashes,
    leaf_hash,
    merkle_root,
    node_hash,
    root_from_hashes,
    verify_consistency,
    verify_inclusion,
    verify_inclusion_hash,
)

# ------------------------------------------------------------------------------------------
# Reference vectors (RFC 6962 / 9162 test data, as published by Certificate Transparency)
# ------------------------------------------------------------------------------------------

VECTOR_LEAVES = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]

# VECTOR_ROOTS[n] is the root of the tree of the first n vector leaves.
VECTOR_ROOTS = [
    bytes.fromhex(h)
    for h in [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ]
]


def _hx(*hexes: str) -> list[bytes]:
    return [bytes.fromhex(h) for h in hexes]


# (index (0-based), tree size, proof)
VECTOR_INCLUSION = [
    (0, 1, []),
    (
        0,
        8,
        _hx(
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ),
    ),
    (
        5,
        8,
        _hx(
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ),
    ),
    (2, 3, _hx("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")),
    (
        1,
        5,
        _hx(
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ),
    ),
]

# (old size, new size, proof)
VECTOR_CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        _hx(
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ),
    ),
    (
        6,
        8,
        _hx(
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ),
    ),
    (
        2,
        5,
        _hx(
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ),
    ),
    (
        6,
        7,
        _hx(
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ),
    ),
]

SOME_HASH = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")

# ------------------------------------------------------------------------------------------
# Independent reference: the RFC 9162 definitions transcribed literally (recursive, slow)
# ------------------------------------------------------------------------------------------


def ref_leaf(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def ref_node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def ref_k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(hs: Sequence[bytes]) -> bytes:
    """RFC 9162 §2.1.1 MTH over leaf hashes."""
    if not hs:
        return hashlib.sha256(b"").digest()
    if len(hs) == 1:
        return hs[0]
    k = ref_k(len(hs))
    return ref_node(ref_mth(hs[:k]), ref_mth(hs[k:]))


def ref_path(m: int, hs: Sequence[bytes]) -> list[bytes]:
    """RFC 9162 §2.1.3.1 PATH(m, D[n])."""
    if len(hs) == 1:
        return []
    k = ref_k(len(hs))
    if m < k:
        return ref_path(m, hs[:k]) + [ref_mth(hs[k:])]
    return ref_path(m - k, hs[k:]) + [ref_mth(hs[:k])]


def ref_subproof(m: int, hs: Sequence[bytes], b: bool) -> list[bytes]:
    """RFC 9162 §2.1.4.1 SUBPROOF(m, D[n], b)."""
    if m == len(hs):
        return [] if b else [ref_mth(hs)]
    k = ref_k(len(hs))
    if m <= k:
        return ref_subproof(m, hs[:k], b) + [ref_mth(hs[k:])]
    return ref_subproof(m - k, hs[k:], False) + [ref_mth(hs[:k])]


def ref_proof(m: int, hs: Sequence[bytes]) -> list[bytes]:
    if m == 0 or m == len(hs):
        return []
    return ref_subproof(m, hs, True)


def path_shape(m: int, n: int) -> tuple[str, ...]:
    """Side of each sibling in PATH(m, D[n]), bottom-up ("L": sibling left of the path)."""
    if n == 1:
        return ()
    k = ref_k(n)
    return path_shape(m, k) + ("R",) if m < k else path_shape(m - k, n - k) + ("L",)


def subproof_shape(m: int, n: int, b: bool = True) -> tuple[str, ...]:
    """Shape of SUBPROOF(m, D[n], b): "B" for an explicit base MTH(D[m]), then sibling sides."""
    if m == n:
        return () if b else ("B",)
    k = ref_k(n)
    if m <= k:
        return subproof_shape(m, k, b) + ("R",)
    return subproof_shape(m - k, n - k, False) + ("L",)


def data_leaves(n: int, salt: bytes = b"") -> list[bytes]:
    """Distinct leaf data of varying lengths (including the empty string)."""
    return [salt + (i * 7919).to_bytes(4, "big")[: i % 5] + i.to_bytes(2, "big") for i in range(n)]


N_MAX = 40
LEAVES = data_leaves(N_MAX)
HASHES = [ref_leaf(d) for d in LEAVES]
ROOTS = [ref_mth(HASHES[:n]) for n in range(N_MAX + 1)]


@pytest.fixture(scope="module")
def full_tree() -> AppendOnlyMerkleTree:
    tree = AppendOnlyMerkleTree()
    for d in LEAVES:
        tree.append(d)
    return tree


# ------------------------------------------------------------------------------------------
# Mutations
# ------------------------------------------------------------------------------------------


def flip(b: bytes, bit: int) -> bytes:
    out = bytearray(b)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def proof_mutations(
    proof: Sequence[bytes], extras: Sequence[bytes], all_bits: bool
) -> Iterator[tuple[str, list[bytes]]]:
    """Structurally different proofs: flipped bits, dropped/added/swapped/replaced items."""
    proof = list(proof)
    for i, item in enumerate(proof):
        bits = range(256) if all_bits else range(i % 8, 256, 8)  # every byte at least once
        for bit in bits:
            yield f"flip item {i} bit {bit}", proof[:i] + [flip(item, bit)] + proof[i + 1 :]
        yield f"drop item {i}", proof[:i] + proof[i + 1 :]
        yield f"duplicate item {i}", proof[: i + 1] + proof[i:]
        for e, extra in enumerate(extras):
            yield f"replace item {i} with extra {e}", proof[:i] + [extra] + proof[i + 1 :]
    for e, extra in enumerate(extras):
        for pos in range(len(proof) + 1):
            yield f"insert extra {e} at {pos}", proof[:pos] + [extra] + proof[pos:]
    for i, j in itertools.combinations(range(len(proof)), 2):
        if proof[i] != proof[j]:
            swapped = list(proof)
            swapped[i], swapped[j] = swapped[j], swapped[i]
            yield f"swap items {i},{j}", swapped
    if len(proof) > 1:
        yield "reversed", proof[::-1]


# ------------------------------------------------------------------------------------------
# Hashing primitives and published vectors
# ------------------------------------------------------------------------------------------


def test_leaf_and_node_hash_use_rfc_prefixes() -> None:
    assert leaf_hash(b"") == hashlib.sha256(b"\x00").digest() == VECTOR_ROOTS[1]
    a, b = leaf_hash(b"a"), leaf_hash(b"b")
    assert node_hash(a, b) == hashlib.sha256(b"\x01" + a + b).digest()
    assert node_hash(a, b) != node_hash(b, a)
    assert leaf_hash(bytearray(b"xy")) == leaf_hash(memoryview(b"xy")) == leaf_hash(b"xy")
    assert EMPTY_ROOT == hashlib.sha256(b"").digest()


def test_primitives_reject_bad_input() -> None:
    a = leaf_hash(b"a")
    for bad in (None, "str", 1, [a]):
        with pytest.raises(TypeError):
            leaf_hash(bad)  # type: ignore[arg-type]
    for left, right in ((a[:31], a), (a, a + b"\x00"), ("x" * 32, a), (a, None), (bytearray(a), a)):
        with pytest.raises(ValueError):
            node_hash(left, right)  # type: ignore[arg-type]


@pytest.mark.parametrize("n", range(len(VECTOR_ROOTS)))
def test_vector_roots(n: int) -> None:
    assert merkle_root(VECTOR_LEAVES[:n]) == VECTOR_ROOTS[n]
    assert root_from_hashes([leaf_hash(x) for x in VECTOR_LEAVES[:n]]) == VECTOR_ROOTS[n]
    tree = AppendOnlyMerkleTree()
    for leaf in VECTOR_LEAVES:
        tree.append(leaf)
    assert tree.root_at(n) == VECTOR_ROOTS[n]


def test_vector_interior_node() -> None:
    # 5f08... is MTH(D[2:4]) of the vector tree, 0ebc... is MTH(D[4:6]).
    h = [leaf_hash(x) for x in VECTOR_LEAVES]
    assert node_hash(h[2], h[3]).hex().startswith("5f083f0a")
    assert node_hash(h[4], h[5]).hex().startswith("0ebc5d34")


@pytest.mark.parametrize(("index", "size", "proof"), VECTOR_INCLUSION)
def test_vector_inclusion(index: int, size: int, proof: list[bytes]) -> None:
    leaves = VECTOR_LEAVES[:size]
    assert inclusion_proof(leaves, index) == proof
    tree = AppendOnlyMerkleTree()
    for leaf in VECTOR_LEAVES:
        tree.append(leaf)
    assert tree.inclusion_proof(index, size) == proof
    root = VECTOR_ROOTS[size]
    assert verify_inclusion(VECTOR_LEAVES[index], index, size, proof, root)
    assert verify_inclusion_hash(leaf_hash(VECTOR_LEAVES[index]), index, size, proof, root)


@pytest.mark.parametrize(("old", "new", "proof"), VECTOR_CONSISTENCY)
def test_vector_consistency(old: int, new: int, proof: list[bytes]) -> None:
    assert consistency_proof(VECTOR_LEAVES[:new], old) == proof
    tree = AppendOnlyMerkleTree()
    for leaf in VECTOR_LEAVES:
        tree.append(leaf)
    assert tree.consistency_proof(old, new) == proof
    assert verify_consistency(old, new, VECTOR_ROOTS[old], VECTOR_ROOTS[new], proof)


@pytest.mark.parametrize(("index", "size", "proof"), VECTOR_INCLUSION[1:])
def test_vector_inclusion_mutations_rejected(index: int, size: int, proof: list[bytes]) -> None:
    """The CT corruption set (wrong index/size/leaf/root, garbage, bit flips) is rejected."""
    leaf, root = VECTOR_LEAVES[index], VECTOR_ROOTS[size]
    assert verify_inclusion(leaf, index, size, proof, root)
    probes = [
        (leaf, index - 1, size, proof, root),
        (leaf, index + 1, size, proof, root),
        (leaf, index ^ 2, size, proof, root),
        (leaf, index, size * 2, proof, root),
        (leaf, index, size // 2, proof, root),
        (b"WrongLeaf", index, size, proof, root),
        (leaf, index, size, proof, EMPTY_ROOT),
        (leaf, index, size, proof, SOME_HASH),
        (leaf, index, size, [*proof, b""], root),
        (leaf, index, size, [*proof, root], root),
        (leaf, index, size, [b"", *proof], root),
        (leaf, index, size, [root, *proof], root),
    ]
    for p in probes:
        assert not verify_inclusion(*p), p
    for _, bad in proof_mutations(proof, [root, SOME_HASH, leaf_hash(leaf)], all_bits=True):
        assert not verify_inclusion(leaf, index, size, bad, root)


@pytest.mark.parametrize(("old", "new", "proof"), VECTOR_CONSISTENCY[1:])
def test_vector_consistency_mutations_rejected(old: int, new: int, proof: list[bytes]) -> None:
    r1, r2 = VECTOR_ROOTS[old], VECTOR_ROOTS[new]
    probes = [
        (old - 1, new, r1, r2, proof),
        (old + 1, new, r1, r2, proof),
        (old ^ 2, new, r1, r2, proof),
        (old, new * 2, r1, r2, proof),
        (old, new // 2, r1, r2, proof),
        (old, new, SOME_HASH, r2, proof),
        (old, new, r1, SOME_HASH, proof),
        (old, new, r2, r1, proof),
        (old, new, r1, r2, []),
        (old, new, r1, r2, [*proof, b""]),
        (old, new, r1, r2, [*proof, r1]),
        (old, new, r1, r2, [*proof, r2]),
        (old, new, r1, r2, [b"", *proof]),
        (old, new, r1, r2, [r1, *proof]),
        (old, new, r1, r2, [r2, *proof]),
        (old, new, r1, r2, [proof[0], *proof]),
        (old, new, r1, r2, proof[:-1]),
    ]
    for p in probes:
        assert not verify_consistency(*p), p
    for _, bad in proof_mutations(proof, [r1, r2, SOME_HASH], all_bits=True):
        assert not verify_consistency(old, new, r1, r2, bad)


# ------------------------------------------------------------------------------------------
# Every proof for n in 1..40, against the literal RFC transcription and the tree
# ------------------------------------------------------------------------------------------


def test_roots_match_reference(full_tree: AppendOnlyMerkleTree) -> None:
    for n in range(N_MAX + 1):
        assert merkle_root(LEAVES[:n]) == ROOTS[n]
        assert root_from_hashes(HASHES[:n]) == ROOTS[n]
        assert full_tree.root_at(n) == ROOTS[n]
    assert full_tree.root() == ROOTS[N_MAX]


def test_every_inclusion_proof_verifies(full_tree: AppendOnlyMerkleTree) -> None:
    for n in range(1, N_MAX + 1):
        for i in range(n):
            proof = inclusion_proof_from_hashes(HASHES[:n], i)
            assert proof == ref_path(i, HASHES[:n]), (i, n)
            assert full_tree.inclusion_proof(i, n) == proof, (i, n)
            assert verify_inclusion(LEAVES[i], i, n, proof, ROOTS[n]), (i, n)
            assert verify_inclusion_hash(HASHES[i], i, n, tuple(proof), ROOTS[n]), (i, n)
    assert inclusion_proof(LEAVES[:13], 11) == ref_path(11, HASHES[:13])


def test_every_consistency_proof_verifies(full_tree: AppendOnlyMerkleTree) -> None:
    for n in range(0, N_MAX + 1):
        for m in range(0, n + 1):
            proof = consistency_proof_from_hashes(HASHES[:n], m)
            assert proof == ref_proof(m, HASHES[:n]), (m, n)
            assert full_tree.consistency_proof(m, n) == proof, (m, n)
            assert verify_consistency(m, n, ROOTS[m], ROOTS[n], proof), (m, n)
            assert (proof == []) == (m in (0, n))
    assert consistency_proof(LEAVES[:13], 7) == ref_proof(7, HASHES[:13])


def test_tree_defaults_to_current_size() -> None:
    tree = AppendOnlyMerkleTree()
    assert len(tree) == tree.size == 0
    assert tree.root() == EMPTY_ROOT
    for n, d in enumerate(LEAVES[:20], start=1):
        tree.append(d)
        assert len(tree) == tree.size == n
        assert tree.root() == ROOTS[n]
        assert tree.inclusion_proof(n - 1) == ref_path(n - 1, HASHES[:n])
        assert tree.consistency_proof(n // 2) == ref_proof(n // 2, HASHES[:n])
        assert tree.leaf_hash_at(n - 1) == HASHES[n - 1]


def test_append_hash_matches_append() -> None:
    a, b = AppendOnlyMerkleTree(), AppendOnlyMerkleTree()
    for d in LEAVES:
        a.append(d)
        b.append_hash(ref_leaf(d))
        assert a.root() == b.root()


def test_tree_operations_are_logarithmic(monkeypatch: pytest.MonkeyPatch) -> None:
    """Appends hash each stored subtree once; queries hash only the right edge, O(log n)."""
    calls = 0
    real = merkle._node

    def counting(left: bytes, right: bytes) -> bytes:
        nonlocal calls
        calls += 1
        return real(left, right)

    monkeypatch.setattr(merkle, "_node", counting)
    n = 1000
    tree = AppendOnlyMerkleTree()
    for i in range(n):
        tree.append_hash(ref_leaf(i.to_bytes(2, "big")))
    assert calls == n - bin(n).count("1")  # one hash per complete subtree of size >= 2
    for size in (n, 777, 512, 513, 1):
        for query in (
            lambda s=size: tree.root_at(s),
            lambda s=size: tree.inclusion_proof(s // 3, s),
            lambda s=size: tree.consistency_proof(s // 3, s),
        ):
            calls = 0
            query()
            assert calls < bin(size).count("1"), size  # popcount(size) - 1 fold hashes


# ------------------------------------------------------------------------------------------
# Rejection of mutated proofs and wrong parameters
# ------------------------------------------------------------------------------------------


def test_inclusion_bit_flips_in_every_position() -> None:
    n = 13
    for i in range(n):
        proof = inclusion_proof_from_hashes(HASHES[:n], i)
        for _, bad in proof_mutations(proof, [ROOTS[n], HASHES[i], SOME_HASH], all_bits=True):
            assert not verify_inclusion(LEAVES[i], i, n, bad, ROOTS[n])


def test_consistency_bit_flips_in_every_position() -> None:
    n = 13
    for m in range(1, n):
        proof = consistency_proof_from_hashes(HASHES[:n], m)
        extras = [ROOTS[m], ROOTS[n], SOME_HASH]
        for _, bad in proof_mutations(proof, extras, all_bits=True):
            assert not verify_consistency(m, n, ROOTS[m], ROOTS[n], bad)


def test_inclusion_mutations_rejected_for_all_sizes() -> None:
    for n in range(1, N_MAX + 1):
        for i in range(n):
            proof = inclusion_proof_from_hashes(HASHES[:n], i)
            leaf, root = LEAVES[i], ROOTS[n]
            extras = [root, HASHES[i], SOME_HASH]
            for what, bad in proof_mutations(proof, extras, all_bits=False):
                assert not verify_inclusion(leaf, i, n, bad, root), (i, n, what)
            # wrong leaf, wrong root
            for other in (LEAVES[(i + 1) % N_MAX], leaf + b"\x00", HASHES[i], b"x"):
                assert not verify_inclusion(other, i, n, proof, root), (i, n)
            for bad_root in (ROOTS[n - 1], SOME_HASH, EMPTY_ROOT, flip(root, 255)):
                assert not verify_inclusion(leaf, i, n, proof, bad_root), (i, n)
            if proof:
                assert not verify_inclusion(leaf, i, n, [], root), (i, n)


def test_wrong_index_never_verifies() -> None:
    for n in range(1, 25):
        for i in range(n):
            proof = inclusion_proof_from_hashes(HASHES[:n], i)
            for j in range(-1, n + 2):
                if j != i:
                    assert not verify_inclusion(LEAVES[i], j, n, proof, ROOTS[n]), (i, j, n)
                    assert not verify_inclusion_hash(HASHES[i], j, n, proof, ROOTS[n])


def test_wrong_size_verifies_exactly_when_path_shape_is_identical() -> None:
    """A root does not commit to its size: PATH(i, D[n]) also verifies under a size n' whose
    path has the same shape (e.g. leaf 0 of 3 and of 4 leaves), and under no other size."""
    assert verify_inclusion(LEAVES[0], 0, 4, ref_path(0, HASHES[:3]), ROOTS[3])
    for n in range(1, 21):
        for i in range(n):
            proof = inclusion_proof_from_hashes(HASHES[:n], i)
            for n2 in range(0, 42):
                if n2 == n:
                    continue
                same_shape = i < n2 and path_shape(i, n2) == path_shape(i, n)
                got = verify_inclusion(LEAVES[i], i, n2, proof, ROOTS[n])
                assert got == same_shape, (i, n, n2)


def test_consistency_mutations_rejected_for_all_sizes() -> None:
    for n in range(2, N_MAX + 1):
        for m in range(1, n):
            proof = consistency_proof_from_hashes(HASHES[:n], m)
            r1, r2 = ROOTS[m], ROOTS[n]
            for what, bad in proof_mutations(proof, [r1, r2, SOME_HASH], all_bits=False):
                assert not verify_consistency(m, n, r1, r2, bad), (m, n, what)
            for b1, b2 in (
                (r2, r1),
                (ROOTS[m - 1], r2),
                (r1, ROOTS[n - 1]),
                (flip(r1, 0), r2),
                (r1, flip(r2, 0)),
                (SOME_HASH, r2),
                (r1, SOME_HASH),
            ):
                assert not verify_consistency(m, n, b1, b2, proof), (m, n)
            assert not verify_consistency(m, n, r1, r2, []), (m, n)
            assert not verify_consistency(n, m, r2, r1, proof), (m, n)
            assert not verify_consistency(0, n, EMPTY_ROOT, r2, proof), (m, n)
            assert not verify_consistency(m, m, r1, r1, proof), (m, n)


def test_wrong_sizes_verify_exactly_when_proof_shape_is_identical() -> None:
    """As for inclusion, a consistency proof also verifies under other sizes (m', n') whose
    RFC 9162 §2.1.4.1 proof has the same shape, e.g. PROOF(1, D[2]) == PROOF(2, D[3]) in
    shape, and under no other sizes."""
    for n in range(2, 13):
        for m in range(1, n):
            proof = consistency_proof_from_hashes(HASHES[:n], m)
            shape = subproof_shape(m, n)
            for n2 in range(0, 26):
                for m2 in range(0, n2 + 1):
                    if (m2, n2) == (m, n):
                        continue
                    same = 0 < m2 < n2 and subproof_shape(m2, n2) == shape
                    got = verify_consistency(m2, n2, ROOTS[m], ROOTS[n], proof)
                    assert got == same, (m, n, m2, n2)


def test_trivial_consistency_cases() -> None:
    r = ROOTS[5]
    assert verify_consistency(5, 5, r, r, [])
    assert not verify_consistency(5, 5, r, ROOTS[4], [])
    assert not verify_consistency(5, 5, r, r, [r])
    assert verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    assert not verify_consistency(0, 0, EMPTY_ROOT, r, [])
    assert verify_consistency(0, 5, EMPTY_ROOT, r, [])
    assert not verify_consistency(0, 5, r, r, [])  # the old root must be the empty-tree root
    assert not verify_consistency(0, 5, EMPTY_ROOT, r, [r])
    assert not verify_consistency(1, 0, r, EMPTY_ROOT, [])  # time travel


def test_domain_separation_interior_node_is_not_a_leaf() -> None:
    """Second-preimage: presenting MTH(D[0:2]) as a leaf of a 2-leaf tree must fail."""
    h = HASHES[:4]
    n01, n23 = node_hash(h[0], h[1]), node_hash(h[2], h[3])
    root = ROOTS[4]
    assert node_hash(n01, n23) == root
    # The preimage of the interior node, and variants of it, presented as raw leaf data.
    for forged in (h[0] + h[1], b"\x01" + h[0] + h[1], n01, b"\x00" + h[0] + h[1]):
        assert not verify_inclusion(forged, 0, 2, [n23], root)
        assert not verify_inclusion(forged, 0, 4, [n23], root)
    assert leaf_hash(h[0] + h[1]) != n01
    # The hash-level API cannot tell a node hash from a leaf hash, which is why the raw-data
    # verifier exists: with the node hash itself it "verifies" in a pretend 2-leaf tree.
    assert verify_inclusion_hash(n01, 0, 2, [n23], root)
    # A one-leaf tree whose root is an interior node: the raw-data verifier rejects.
    assert not verify_inclusion(h[0] + h[1], 0, 1, [], n01)


# ------------------------------------------------------------------------------------------
# Malformed input: verifiers return False, never raise; builders raise ValueError/TypeError
# ------------------------------------------------------------------------------------------


class ExplodingSequence(Sequence[bytes]):
    def __len__(self) -> int:
        return 1

    def __getitem__(self, i):  # type: ignore[override]
        raise RuntimeError("boom")


class LyingSequence(Sequence[bytes]):
    def __len__(self) -> int:
        raise OverflowError("len")

    def __getitem__(self, i):  # type: ignore[override]
        raise IndexError


BAD_DIGESTS: list[object] = [
    None,
    "",
    "00" * 32,
    0,
    1.5,
    b"",
    b"\x00" * 31,
    b"\x00" * 33,
    bytearray(32),
    memoryview(bytes(32)),
    [b"\x00"] * 32,
    object(),
]
BAD_INTS: list[object] = [None, -1, 1.0, "1", b"\x01", True, False, 2**64, -(2**64), [1], 10**30]


def test_verify_inclusion_malformed_inputs_return_false() -> None:
    n, i = 11, 6
    proof = inclusion_proof_from_hashes(HASHES[:n], i)
    good = (LEAVES[i], i, n, proof, ROOTS[n])
    assert verify_inclusion(*good)
    cases: list[tuple[object, ...]] = []
    for bad in (None, "leaf", 7, 1.0, [LEAVES[i]], object()):
        cases.append((bad, i, n, proof, ROOTS[n]))
    for bad in BAD_INTS:
        cases.append((LEAVES[i], bad, n, proof, ROOTS[n]))
        cases.append((LEAVES[i], i, bad, proof, ROOTS[n]))
    for bad in BAD_DIGESTS:
        cases.append((LEAVES[i], i, n, proof, bad))
        for pos in range(len(proof)):
            cases.append((LEAVES[i], i, n, proof[:pos] + [bad] + proof[pos + 1 :], ROOTS[n]))
    for bad_proof in (
        None,
        b"",
        b"".join(proof),
        "",
        "".join(p.hex() for p in proof),
        5,
        iter(proof),
        {p: 1 for p in proof},
        ExplodingSequence(),
        LyingSequence(),
        [*proof, None],
        proof * 30,
        [SOME_HASH] * 10_000,
    ):
        cases.append((LEAVES[i], i, n, bad_proof, ROOTS[n]))
    cases += [
        (LEAVES[i], n, n, proof, ROOTS[n]),  # index == size
        (LEAVES[i], n + 5, n, proof, ROOTS[n]),  # index > size
        (LEAVES[0], 0, 0, [], EMPTY_ROOT),  # size 0
        (LEAVES[0], 0, 0, [], ROOTS[0]),
        (LEAVES[0], -1, 1, [], ROOTS[1]),
        (b"", 0, 1, b"", VECTOR_ROOTS[1]),  # bytes is not a proof sequence, even if empty
        (b"", 0, 1, "", VECTOR_ROOTS[1]),
    ]
    for args in cases:
        assert verify_inclusion(*args) is False, args  # type: ignore[arg-type]
        h = leaf_hash(args[0]) if isinstance(args[0], bytes) else args[0]
        assert verify_inclusion_hash(h, *args[1:]) is False, args  # type: ignore[arg-type]
    for bad in BAD_DIGESTS:
        assert verify_inclusion_hash(bad, i, n, proof, ROOTS[n]) is False  # type: ignore[arg-type]
    # Bytes-like leaf data and tuple proofs are fine.
    assert verify_inclusion(bytearray(LEAVES[i]), i, n, tuple(proof), ROOTS[n])
    assert verify_inclusion(memoryview(LEAVES[i]), i, n, proof, ROOTS[n])
    assert verify_inclusion(b"", 0, 1, (), VECTOR_ROOTS[1])


def test_verify_consistency_malformed_inputs_return_false() -> None:
    m, n = 6, 11
    proof = consistency_proof_from_hashes(HASHES[:n], m)
    r1, r2 = ROOTS[m], ROOTS[n]
    assert verify_consistency(m, n, r1, r2, proof)
    cases: list[tuple[object, ...]] = []
    for bad in BAD_INTS:
        cases.append((bad, n, r1, r2, proof))
        cases.append((m, bad, r1, r2, proof))
    for bad in BAD_DIGESTS:
        cases.append((m, n, bad, r2, proof))
        cases.append((m, n, r1, bad, proof))
        cases.append((0, 0, bad, bad, []))
        cases.append((3, 3, bad, bad, []))
        for pos in range(len(proof)):
            cases.append((m, n, r1, r2, proof[:pos] + [bad] + proof[pos + 1 :]))
    for bad_proof in (
        None,
        b"",
        b"".join(proof),
        "",
        7,
        iter(proof),
        ExplodingSequence(),
        LyingSequence(),
        [*proof, None],
        proof * 50,
        [SOME_HASH] * 10_000,
    ):
        cases.append((m, n, r1, r2, bad_proof))
    cases += [
        (n, m, r2, r1, proof),
        (m, n, r1, r2, []),
        (5, 5, r1, r1, b""),
        (0, 4, EMPTY_ROOT, r2, ""),
        (-1, n, r1, r2, proof),
        (m, -1, r1, r2, proof),
    ]
    for args in cases:
        assert verify_consistency(*args) is False, args  # type: ignore[arg-type]


class HugeSequence(Sequence[bytes]):
    """A proof claiming 10**12 valid-looking items, to check verifiers bound their work."""

    def __len__(self) -> int:
        return 10**12

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            raise MemoryError("a verifier tried to copy the whole proof")
        if not 0 <= i < 10**12:
            raise IndexError(i)
        return SOME_HASH


def test_verifiers_bound_work_on_huge_proofs() -> None:
    assert verify_inclusion(LEAVES[0], 0, 2**63, HugeSequence(), SOME_HASH) is False
    assert verify_consistency(3, 2**63, SOME_HASH, SOME_HASH, HugeSequence()) is False


def test_verifiers_reject_bool_and_out_of_uint64_sizes() -> None:
    """Values that would verify arithmetically are still rejected for their type or range."""
    proof = inclusion_proof_from_hashes(HASHES[:2], 1)
    assert verify_inclusion(LEAVES[1], 1, 2, proof, ROOTS[2])
    assert not verify_inclusion(LEAVES[1], True, 2, proof, ROOTS[2])
    assert verify_inclusion(LEAVES[0], 0, 1, [], ROOTS[1])
    assert not verify_inclusion(LEAVES[0], False, 1, [], ROOTS[1])
    assert not verify_inclusion(LEAVES[0], 0, True, [], ROOTS[1])
    assert not verify_consistency(True, True, ROOTS[1], ROOTS[1], [])
    # RFC 9162 sizes are uint64: the last leaf of a (2**64 + 1)-leaf tree has a one-item path.
    x = SOME_HASH
    forged_root = node_hash(x, leaf_hash(b"leaf"))
    assert verify_inclusion(b"leaf", 2**63, 2**63 + 1, [x], forged_root)  # in range: accepted
    assert verify_inclusion(b"leaf", 2**64, 2**64 + 1, [x], forged_root) is False
    assert verify_consistency(2**64 - 1, 2**64 - 1, x, x, [])
    assert verify_consistency(2**64, 2**64, x, x, []) is False


def test_builders_reject_bad_index_and_size(full_tree: AppendOnlyMerkleTree) -> None:
    leaves = LEAVES[:5]
    for bad in (-1, 5, 6, 100):
        with pytest.raises(ValueError, match="index"):
            inclusion_proof(leaves, bad)
        with pytest.raises(ValueError, match="index"):
            inclusion_proof_from_hashes(HASHES[:5], bad)
    for bad in (-1, 6, 100):
        with pytest.raises(ValueError, match="old_size"):
            consistency_proof(leaves, bad)
        with pytest.raises(ValueError, match="old_size"):
            consistency_proof_from_hashes(HASHES[:5], bad)
    for bad in (True, 1.0, "1", None):
        with pytest.raises(ValueError, match="must be an int"):
            inclusion_proof(leaves, bad)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="must be an int"):
            consistency_proof(leaves, bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        inclusion_proof([], 0)
    assert consistency_proof([], 0) == []
    assert consistency_proof(leaves, 0) == consistency_proof(leaves, 5) == []
    with pytest.raises(TypeError):
        merkle_root(["not bytes"])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        merkle_root(b"abc")
    for bad_hashes in ([b"\x00" * 31], [None], ["00" * 32], [bytearray(32)]):
        with pytest.raises(ValueError, match="leaf hash 0"):
            root_from_hashes(bad_hashes)  # type: ignore[arg-type]

    tree = full_tree
    for bad in (-1, N_MAX, N_MAX + 1):
        with pytest.raises(ValueError):
            tree.inclusion_proof(bad)
        with pytest.raises(ValueError):
            tree.leaf_hash_at(bad)
    for bad in (-1, N_MAX + 1):
        with pytest.raises(ValueError):
            tree.root_at(bad)
        with pytest.raises(ValueError):
            tree.inclusion_proof(0, bad)
        with pytest.raises(ValueError):
            tree.consistency_proof(0, bad)
        with pytest.raises(ValueError):
            tree.consistency_proof(bad)
    with pytest.raises(ValueError):
        tree.inclusion_proof(0, 0)
    with pytest.raises(ValueError):
        tree.inclusion_proof(5, 5)
    with pytest.raises(ValueError):
        tree.consistency_proof(6, 5)
    with pytest.raises(ValueError):
        tree.root_at(True)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        tree.append("text")  # type: ignore[arg-type]
    for bad in (b"\x00" * 31, None, bytearray(32), "00" * 32):
        with pytest.raises(ValueError):
            tree.append_hash(bad)  # type: ignore[arg-type]
    assert len(tree) == N_MAX  # failed appends changed nothing
    assert tree.root() == ROOTS[N_MAX]


# ------------------------------------------------------------------------------------------
# Cross-check against the independent pymerkle package
# ------------------------------------------------------------------------------------------


def _pymerkle_tree(leaves: Sequence[bytes]) -> InmemoryTree:
    # pymerkle's default (security on) hashes leaves as H(0x00 || d) and nodes as
    # H(0x01 || l || r), exactly RFC 9162; disable_security would drop the prefixes.
    t = InmemoryTree(algorithm="sha256")
    for d in leaves:
        t.append_entry(d)
    return t


def test_pymerkle_is_configured_for_rfc9162() -> None:
    t = _pymerkle_tree(VECTOR_LEAVES)
    assert t.security and t.leaf_prefix == b"\x00" and t.node_prefix == b"\x01"
    for n in range(len(VECTOR_ROOTS)):
        assert t.get_root(n) == VECTOR_ROOTS[n]


@settings(max_examples=150, deadline=None)
@given(
    leaves=st.lists(st.binary(max_size=12), min_size=1, max_size=70),
    data=st.data(),
)
def test_matches_pymerkle(leaves: list[bytes], data: st.DataObject) -> None:
    n = len(leaves)
    pm = _pymerkle_tree(leaves)
    tree = AppendOnlyMerkleTree()
    for d in leaves:
        tree.append(d)
    for size in range(n + 1):
        assert tree.root_at(size) == pm.get_root(size)
    assert merkle_root(leaves) == pm.get_root()

    # Inclusion: pymerkle's path is [leaf hash] + our RFC 9162 proof (1-based index there).
    size = data.draw(st.integers(1, n), label="size")
    index = data.draw(st.integers(0, size - 1), label="index")
    ours = inclusion_proof(leaves[:size], index)
    assert ours == tree.inclusion_proof(index, size)
    theirs = pm.prove_inclusion(index + 1, size)
    assert theirs.path == [leaf_hash(leaves[index]), *ours]
    theirs.verify(leaf_hash(leaves[index]), tree.root_at(size))  # raises if invalid
    assert verify_inclusion(leaves[index], index, size, theirs.path[1:], pm.get_root(size))

    # Consistency: pymerkle's path layout differs from RFC 9162 (it always spells out the old
    # root's subtrees), so compare the roots each proof commits to and cross-verify.
    old = data.draw(st.integers(1, size), label="old")
    ours_c = consistency_proof(leaves[:size], old)
    assert ours_c == tree.consistency_proof(old, size)
    theirs_c = pm.prove_consistency(old, size)
    assert theirs_c.retrieve_prior_state() == tree.root_at(old)
    assert theirs_c.compute_root() == tree.root_at(size)
    theirs_c.verify(tree.root_at(old), tree.root_at(size))  # raises if invalid
    assert verify_consistency(old, size, pm.get_root(old), pm.get_root(size), ours_c)


@settings(max_examples=100, deadline=None)
@given(n=st.integers(1, 300), data=st.data())
def test_tree_matches_functional_on_larger_trees(n: int, data: st.DataObject) -> None:
    hashes = [ref_leaf(i.to_bytes(3, "big")) for i in range(n)]
    tree = AppendOnlyMerkleTree()
    for h in hashes:
        tree.append_hash(h)
    size = data.draw(st.integers(1, n), label="size")
    index = data.draw(st.integers(0, size - 1), label="index")
    old = data.draw(st.integers(0, size), label="old")
    root = root_from_hashes(hashes[:size])
    assert tree.root_at(size) == root
    proof = tree.inclusion_proof(index, size)
    assert proof == inclusion_proof_from_hashes(hashes[:size], index)
    assert verify_inclusion(index.to_bytes(3, "big"), index, size, proof, root)
    cproof = tree.consistency_proof(old, size)
    assert cproof == consistency_proof_from_hashes(hashes[:size], old)
    assert verify_consistency(old, size, tree.root_at(old), root, cproof)
