"""Ed25519 verification: libsodium through PyNaCl vs OpenSSL through ``cryptography``.

Backs the choice in docs/architecture.md (every node verifies with PyNaCl). Run::

    .venv/bin/python -m bench.bench_signatures [--n 20000] [--repeat 5]

Prints the best time per operation over ``--repeat`` runs of ``--n`` operations each,
pinned to one CPU core where the OS allows it.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import cryptography
import nacl
import nacl.bindings
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from bench.benchlib import machine, pin_one_core
from ledger.crypto import verify


def per_op_us(fn: Callable[[], None], n: int, repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        runs.append((time.perf_counter() - start) / n * 1e6)
    return min(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    pin_one_core()

    seed = bytes(range(32))
    message = b"x" * 300  # about the size of a small transaction payload
    pk, sk = nacl.bindings.crypto_sign_seed_keypair(seed)
    nacl_sig = nacl.bindings.crypto_sign(message, sk)[:64]
    c_priv = Ed25519PrivateKey.from_private_bytes(seed)
    c_sig = c_priv.sign(message)
    assert c_sig == nacl_sig  # Ed25519 signatures are deterministic: same bytes
    pub_bytes = pk

    def nacl_verify() -> None:
        nacl.bindings.crypto_sign_open(nacl_sig + message, pub_bytes)

    def ledger_verify() -> None:  # what a node runs: ledger.crypto.verify (PyNaCl + checks)
        if not verify(pub_bytes, message, nacl_sig):
            raise AssertionError("signature must verify")

    def crypto_verify() -> None:  # as a node would: the key arrives as bytes each time
        Ed25519PublicKey.from_public_bytes(pub_bytes).verify(c_sig, message)

    c_pub = Ed25519PublicKey.from_public_bytes(pub_bytes)

    def crypto_verify_cached_key() -> None:
        c_pub.verify(c_sig, message)

    def nacl_sign() -> None:
        nacl.bindings.crypto_sign(message, sk)

    def crypto_sign() -> None:
        c_priv.sign(message)

    print(f"machine: {machine()}")
    print(f"PyNaCl {nacl.__version__} (libsodium), cryptography {cryptography.__version__} "
          f"(OpenSSL); message {len(message)} bytes; best of {args.repeat} x {args.n}")
    rows = [
        ("verify  PyNaCl crypto_sign_open", nacl_verify),
        ("verify  ledger.crypto.verify (PyNaCl)", ledger_verify),
        ("verify  cryptography (key parsed per call)", crypto_verify),
        ("verify  cryptography (key object reused)", crypto_verify_cached_key),
        ("sign    PyNaCl", nacl_sign),
        ("sign    cryptography", crypto_sign),
    ]
    for label, fn in rows:
        us = per_op_us(fn, args.n, args.repeat)
        print(f"{label:46s} {us:8.1f} us/op  {1e6 / us:10.0f} ops/s")


if __name__ == "__main__":
    main()
