"""Hashes and Ed25519 signatures.

One verification implementation on every node: libsodium through PyNaCl
(``crypto_sign_open`` over signature || message). It is the faster of the two candidates measured
(``bench/bench_signatures.py``) and it rejects non-canonical signature scalars and
small-order public keys, so every validator accepts exactly the same signatures.
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
    "PrivateKey",
    "is_hex_pubkey",
    "is_hex_signature",
    "is_hex_digest",
    "sha256",
    "sha256_hex",
    "verify",
    "verify_hex",
]


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
