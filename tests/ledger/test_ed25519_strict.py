"""Ed25519 strictness (docs/formats.md, "Ed25519"): what every node refuses beyond plain
RFC 8032 -- ``S >= L``, small-order public keys and ``R``, non-canonical key encodings.

The small-order list is derived here from first principles with a small pure-Python
Edwards25519 implementation (for the test only), and a plain cofactorless RFC 8032
verifier written with it shows why the rules matter: it accepts the identity key with the
signature ``R = identity, S = 0`` for any message. ``ledger.crypto.verify`` refuses every
vector, and so does libsodium on its own (the two agree)."""

from __future__ import annotations

import hashlib

import nacl.bindings
import nacl.exceptions
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.crypto import (
    ED25519_L,
    ED25519_P,
    SMALL_ORDER_Y,
    PrivateKey,
    strictness_violation,
    verify,
)

P = ED25519_P
L = ED25519_L
D = (-121665 * pow(121666, P - 2, P)) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)
Point = tuple[int, int, int, int]  # extended coordinates (X, Y, Z, T)
IDENTITY: Point = (0, 1, 1, 0)


def add(a: Point, b: Point) -> Point:
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    aa = (y1 - x1) * (y2 - x2) % P
    bb = (y1 + x1) * (y2 + x2) % P
    c = 2 * t1 * t2 * D % P
    dd = 2 * z1 * z2 % P
    e, f, g, h = bb - aa, dd - c, dd + c, bb + aa
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def mul(k: int, q: Point) -> Point:
    r = IDENTITY
    while k:
        if k & 1:
            r = add(r, q)
        q = add(q, q)
        k >>= 1
    return r


def same(a: Point, b: Point) -> bool:
    return (a[0] * b[2] - b[0] * a[2]) % P == 0 and (a[1] * b[2] - b[1] * a[2]) % P == 0


def encode(q: Point) -> bytes:
    zi = pow(q[2], P - 2, P)
    x, y = q[0] * zi % P, q[1] * zi % P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def decode_lax(s: bytes) -> Point | None:
    """Decode as lax libraries do: y taken mod p (a non-canonical y >= p is accepted)."""
    n = int.from_bytes(s, "little")
    y, sign = (n & ((1 << 255) - 1)) % P, n >> 255
    u, v = (y * y - 1) % P, (D * y * y + 1) % P
    x = (u * pow(v, 3, P) * pow(u * pow(v, 7, P), (P - 5) // 8, P)) % P
    if (v * x * x - u) % P != 0:
        x = x * SQRT_M1 % P
    if (v * x * x - u) % P != 0:
        return None
    if x == 0 and sign:
        return None
    if x & 1 != sign:
        x = P - x
    return (x, y, 1, x * y % P)


BASE = decode_lax((4 * pow(5, P - 2, P) % P).to_bytes(32, "little"))
assert BASE is not None


def plain_verify(pub: bytes, msg: bytes, sig: bytes) -> bool:
    """Cofactorless RFC 8032 equation with no extra checks: [S]B == R + [k]A."""
    a, r = decode_lax(pub), decode_lax(sig[:32])
    if a is None or r is None:
        return False
    s = int.from_bytes(sig[32:], "little")
    k = int.from_bytes(hashlib.sha512(sig[:32] + pub + msg).digest(), "little") % L
    return same(mul(s, BASE), add(r, mul(k, a)))


def libsodium_accepts(pub: bytes, msg: bytes, sig: bytes) -> bool:
    try:
        nacl.bindings.crypto_sign_open(sig + msg, pub)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, ValueError):
        return False
    return True


def encodings_of_y(y: int) -> list[bytes]:
    return [(y | (sign << 255)).to_bytes(32, "little") for sign in (0, 1)]


SMALL_ORDER_ENCODINGS = [e for y in sorted(SMALL_ORDER_Y) for e in encodings_of_y(y)]
IDENTITY_ENC = bytes([1]) + bytes(31)
KEY = PrivateKey(bytes(range(32)))
MSG = b"precommit bytes"
GOOD = KEY.sign(MSG)


def test_the_model_agrees_with_libsodium_on_a_genuine_signature():
    assert encode(mul(L + 1, BASE)) == encode(BASE) and same(mul(L, BASE), IDENTITY)
    assert encode(mul(int.from_bytes(hashlib.sha512(bytes(range(32))).digest()[:32], "little")
                      & ((1 << 254) - 8) | (1 << 254), BASE)) == KEY.public_key
    assert plain_verify(KEY.public_key, MSG, GOOD) and verify(KEY.public_key, MSG, GOOD)
    assert not plain_verify(KEY.public_key, MSG + b"!", GOOD)


def test_small_order_list_is_exactly_the_torsion_subgroup():
    points = [q for e in SMALL_ORDER_ENCODINGS if (q := decode_lax(e)) is not None]
    for q in points:
        assert same(mul(8, q), IDENTITY)  # order divides 8
    distinct = {encode(q) for q in points}
    assert len(distinct) == 8  # the whole torsion subgroup: all eight points, no other
    assert IDENTITY_ENC in distinct
    # no other canonical y below 2^255 with order dividing 8: the 8 points above are all
    assert {int.from_bytes(e, "little") & ((1 << 255) - 1) for e in distinct} < SMALL_ORDER_Y


def test_identity_key_with_trivial_signature():
    """The reason for the rules: a plain verifier accepts it for any message."""
    sig = IDENTITY_ENC + bytes(32)  # R = identity, S = 0
    for msg in (b"", b"transfer everything", MSG):
        assert plain_verify(IDENTITY_ENC, msg, sig)
        assert not verify(IDENTITY_ENC, msg, sig)
        assert not libsodium_accepts(IDENTITY_ENC, msg, sig)
    assert strictness_violation(IDENTITY_ENC, sig) == "the public key is a point of small order"


@pytest.mark.parametrize("pub", SMALL_ORDER_ENCODINGS, ids=lambda b: b.hex()[:8] + b.hex()[-2:])
def test_small_order_public_keys_are_refused(pub):
    for s in (0, 1, 5):
        sig = pub + s.to_bytes(32, "little")  # R = A: [S]B == A + [k]A holds for some
        assert not verify(pub, MSG, sig)
        assert not libsodium_accepts(pub, MSG, sig)
        assert strictness_violation(pub, sig) is not None


def test_some_small_order_key_forgeries_pass_a_plain_verifier():
    """With a small-order A, [k]A cycles through at most 8 points: with R = -[k]A... the
    simplest case, R = identity and S = 0, verifies whenever [k]A is the identity."""
    forged = 0
    for pub in SMALL_ORDER_ENCODINGS:
        a = decode_lax(pub)
        if a is None:
            continue
        for i in range(64):
            msg = b"m%d" % i
            sig = IDENTITY_ENC + bytes(32)
            if plain_verify(pub, msg, sig):
                forged += 1
                assert not verify(pub, msg, sig)
    assert forged > 0


@pytest.mark.parametrize("r", SMALL_ORDER_ENCODINGS, ids=lambda b: b.hex()[:8] + b.hex()[-2:])
def test_small_order_r_is_refused(r):
    sig = r + GOOD[32:]
    assert not verify(KEY.public_key, MSG, sig)
    assert not libsodium_accepts(KEY.public_key, MSG, sig)
    assert strictness_violation(KEY.public_key, sig) == "the signature's R is a point of small order"


@pytest.mark.parametrize("extra", [L, 2 * L, 7 * L, (2**256 - 1) // L * L])
def test_non_canonical_s_is_refused(extra):
    s = int.from_bytes(GOOD[32:], "little") + extra
    if s >= 2**256:
        s -= L
    sig = GOOD[:32] + s.to_bytes(32, "little")
    assert s >= L
    assert plain_verify(KEY.public_key, MSG, sig)  # the equation only sees S mod L
    assert not verify(KEY.public_key, MSG, sig)
    assert not libsodium_accepts(KEY.public_key, MSG, sig)
    assert strictness_violation(KEY.public_key, sig) == (
        "non-canonical signature: S is not below the group order L")


NON_CANONICAL_KEYS = [(y + P).to_bytes(32, "little") for y in range(2, 19)
                      if decode_lax(y.to_bytes(32, "little")) is not None]


@pytest.mark.parametrize("pub", NON_CANONICAL_KEYS, ids=lambda b: b.hex()[:4])
def test_non_canonical_public_key_encodings_are_refused(pub):
    assert int.from_bytes(pub, "little") >= P and decode_lax(pub) is not None
    sig = GOOD
    assert not verify(pub, MSG, sig)
    assert not libsodium_accepts(pub, MSG, sig)
    assert strictness_violation(pub, sig) == (
        "the public key is not a canonical point encoding (y is not below p)")


def test_non_canonical_public_key_list_is_not_empty():
    assert len(NON_CANONICAL_KEYS) >= 1


def test_non_canonical_r_encoding_is_refused():
    """R given as a non-canonical encoding (y >= p): no signer writes one; refused."""
    for r_bytes in NON_CANONICAL_KEYS:
        sig = r_bytes + GOOD[32:]
        assert not verify(KEY.public_key, MSG, sig)
        assert not libsodium_accepts(KEY.public_key, MSG, sig)


@settings(max_examples=50, deadline=None)
@given(seed=st.binary(min_size=32, max_size=32), msg=st.binary(max_size=64))
def test_honest_signatures_never_break_the_rules(seed, msg):
    key = PrivateKey(seed)
    sig = key.sign(msg)
    assert strictness_violation(key.public_key, sig) is None
    assert verify(key.public_key, msg, sig)
