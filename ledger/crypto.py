"""Hashes and Ed25519 signatures.

One verification implementation on every node: libsodium through PyNaCl
(``crypto_sign_open`` over signature || message). It is the faster of the two candidates measured
(``bench/bench_signatures.py``) and it rejects non-canonical signature scalars and
small-order public keys, so every validator accepts exactly the same signatures.

Those strictness rules are a consensus rule, so they are also written here
(:func:`strictness_violation`, checked before libsodium runs) rather than left to how
libsodium was built: docs/formats.md, "Ed25519", states them for third-party verifiers.
"""

from __future__ import annotations

import hashlib
import re
from typing import TypeGuard

import nacl.bindings
import nacl.exceptions

PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64
SEED_SIZE = 32
_HEX64 = re.compile(r"^[0-9a-f]{64}\Z")
_HEX128 = re.compile(r"^[0-9a-f]{128}\Z")

__all__ = [
    "ED25519_L",
    "ED25519_P",
    "SMALL_ORDER_Y",
    "PrivateKey",
    "is_hex_pubkey",
    "is_hex_signature",
    "is_hex_digest",
    "sha256",
    "sha256_hex",
    "strictness_violation",
    "verify",
    "verify_hex",
]


#: The order of the Ed25519 base point (RFC 8032 §5.1: ``L``).
ED25519_L = 2**252 + 27742317777372353535851937790883648493
#: The field prime ``p = 2^255 - 19``.
ED25519_P = 2**255 - 19
_Y8 = 2707385501144840649318225287225658788936804267575313519463743609750303402022
#: The y-coordinates (the 255 low bits of an encoding, sign bit ignored) that encode a
#: point of small order -- the eight points of the torsion subgroup: the identity (y = 1),
#: the point of order 2 (y = p - 1), the two of order 4 (y = 0) and the four of order 8
#: (y = _Y8, p - _Y8) -- and the non-canonical aliases p and p + 1 of y = 0 and y = 1.
#: libsodium refuses exactly these as a public key or as R.
SMALL_ORDER_Y = frozenset({0, 1, _Y8, ED25519_P - _Y8, ED25519_P - 1, ED25519_P, ED25519_P + 1})
_Y_MASK = (1 << 255) - 1


def strictness_violation(public_key: bytes, signature: bytes) -> str | None:
    """Why a (32-byte key, 64-byte signature) pair breaks the strict rules every node
    applies on top of RFC 8032 (as libsodium does), or None: ``S`` (the signature's last
    32 bytes, little-endian) must be below ``L``; the key must be a canonical encoding
    (``y < p``) and neither the key nor ``R`` (the first 32 bytes) may encode a point of
    small order (:data:`SMALL_ORDER_Y`). RFC 8032 verification then does the rest (it
    also refuses a non-canonical ``R``: the recomputed ``R`` is compared as bytes)."""
    if int.from_bytes(signature[32:], "little") >= ED25519_L:
        return "non-canonical signature: S is not below the group order L"
    key_y = int.from_bytes(public_key, "little") & _Y_MASK
    if key_y in SMALL_ORDER_Y:
        return "the public key is a point of small order"
    if key_y >= ED25519_P:
        return "the public key is not a canonical point encoding (y is not below p)"
    if int.from_bytes(signature[:32], "little") & _Y_MASK in SMALL_ORDER_Y:
        return "the signature's R is a point of small order"
    return None


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def is_hex_pubkey(value: object) -> TypeGuard[str]:
    """A lowercase hex Ed25519 public key (64 hex digits)."""
    return isinstance(value, str) and _HEX64.match(value) is not None


is_hex_digest = is_hex_pubkey


def is_hex_signature(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and _HEX128.match(value) is not None


def verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """True iff ``signature`` is a valid Ed25519 signature of ``message`` by ``public_key``.
    Never raises on malformed input."""
    if not (
        isinstance(public_key, bytes)
        and isinstance(signature, bytes)
        and isinstance(message, bytes)
        and len(public_key) == PUBLIC_KEY_SIZE
        and len(signature) == SIGNATURE_SIZE
    ):
        return False
    if strictness_violation(public_key, signature) is not None:
        return False
    try:
        nacl.bindings.crypto_sign_open(signature + message, public_key)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, ValueError, TypeError):
        return False
    return True


def verify_hex(public_key_hex: str, message: bytes, signature_hex: str) -> bool:
    if not (is_hex_pubkey(public_key_hex) and is_hex_signature(signature_hex)):
        return False
    return verify(bytes.fromhex(public_key_hex), message, bytes.fromhex(signature_hex))


class PrivateKey:
    """An Ed25519 signing key. ``repr`` never shows the secret."""

    __slots__ = ("_seed", "_secret", "public_key")

    def __init__(self, seed: bytes) -> None:
        if not isinstance(seed, bytes) or len(seed) != SEED_SIZE:
            raise ValueError("an Ed25519 seed is 32 bytes")
        pk, sk = nacl.bindings.crypto_sign_seed_keypair(seed)
        self._seed = seed
        self._secret = sk
        self.public_key: bytes = pk

    @classmethod
    def generate(cls) -> PrivateKey:
        return cls(nacl.bindings.randombytes(SEED_SIZE))

    @property
    def public_key_hex(self) -> str:
        return self.public_key.hex()

    def seed_bytes(self) -> bytes:
        """The 32-byte seed, for the keystore to encrypt. Handle with care."""
        return self._seed

    def sign(self, message: bytes) -> bytes:
        return nacl.bindings.crypto_sign(message, self._secret)[:SIGNATURE_SIZE]

    def sign_hex(self, message: bytes) -> str:
        return self.sign(message).hex()

    def __repr__(self) -> str:
        return f"PrivateKey(public_key={self.public_key_hex})"
