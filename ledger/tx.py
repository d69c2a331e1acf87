"""Transactions: a canonical payload signed by one or more Ed25519 keys.

Wire form (JSON)::

    {"payload": {"chain_id", "contract", "method", "args", "nonce", "signers"},
     "signatures": ["<hex>", ...]}

The transaction id is SHA-256 of the canonical payload bytes; each signer signs those
same bytes, and ``signatures[i]`` belongs to ``payload.signers[i]``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ledger.crypto import PrivateKey, is_hex_pubkey, is_hex_signature, sha256_hex, verify
from ledger.encoding import CanonicalEncodingError, canonical
from ledger.errors import TxError

MAX_TX_BYTES = 64 * 1024
MAX_SIGNERS = 8
MAX_NONCE_LEN = 64
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}\Z")
CHAIN_ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}\Z")
PAYLOAD_KEYS = frozenset({"chain_id", "contract", "method", "args", "nonce", "signers"})

__all__ = ["MAX_TX_BYTES", "Transaction", "build_transaction", "parse_transaction"]


@dataclass(frozen=True, slots=True)
class Transaction:
    payload: Mapping[str, Any]
    signatures: tuple[str, ...]
    payload_bytes: bytes
    tx_id: str
    # canonical(self.to_json()), filled on first use by `canonical_bytes`
    _canonical: bytes | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def chain_id(self) -> str:
        return str(self.payload["chain_id"])

    @property
    def contract(self) -> str:
        return str(self.payload["contract"])

    @property
    def method(self) -> str:
        return str(self.payload["method"])

    @property
    def args(self) -> Mapping[str, Any]:
        return self.payload["args"]

    @property
    def nonce(self) -> str:
        return str(self.payload["nonce"])

    @property
    def signers(self) -> tuple[str, ...]:
        return tuple(self.payload["signers"])

    def to_json(self) -> dict[str, Any]:
        return {"payload": dict(self.payload), "signatures": list(self.signatures)}

    @property
    def canonical_bytes(self) -> bytes:
        """``canonical(self.to_json())``: the transaction's leaf in the block's transactions
        tree, its part of the block's bytes and what gossip sends. The one place these
        bytes are made; computed once per object.

        Spliced from ``payload_bytes`` (which is ``canonical(payload)``) when every
        signature is lowercase hex, as ``parse_transaction`` requires: the object's keys
        sort ``"payload"`` < ``"signatures"`` and hex strings need no escaping."""
        data = self._canonical
        if data is None:
            sigs = self.signatures
            if all(map(is_hex_signature, sigs)):
                data = b"".join(
                    (b'{"payload":', self.payload_bytes, b',"signatures":[',
                     ",".join(f'"{sig}"' for sig in sigs).encode("ascii"), b"]}")
                )
            else:
                data = canonical(self.to_json())
            object.__setattr__(self, "_canonical", data)
        return data

    def verify_signatures(self) -> None:
        """Raise ``TxError('bad_signature')`` unless every signer signed the payload."""
        for i, (signer, sig) in enumerate(zip(self.signers, self.signatures, strict=True)):
            if not verify(bytes.fromhex(signer), self.payload_bytes, bytes.fromhex(sig)):
                raise TxError(
                    "bad_signature", f"signature {i} does not verify for signer {signer[:16]}…"
                )


def _fail(message: str) -> TxError:
    return TxError("malformed_tx", message)


def parse_transaction(obj: Any, *, chain_id: str | None = None) -> Transaction:
    """Check the structure, size and (optionally) chain id of a decoded transaction.

    Signatures are checked separately by :meth:`Transaction.verify_signatures`, so a
    node verifies each signature once, when the transaction first reaches it.
    """
    if not isinstance(obj, dict):
        raise _fail("a transaction is a JSON object with 'payload' and 'signatures'")
    if set(obj) != {"payload", "signatures"}:
        raise _fail("a transaction has exactly the fields 'payload' and 'signatures'")
    payload, sigs = obj["payload"], obj["signatures"]
    if not isinstance(payload, dict):
        raise _fail("'payload' must be an object")
    missing = PAYLOAD_KEYS - set(payload)
    extra = set(payload) - PAYLOAD_KEYS
    if missing:
        raise _fail(f"payload is missing {sorted(missing)}")
    if extra:
        raise _fail(f"payload has unknown fields {sorted(extra)}")
    if not isinstance(payload["chain_id"], str) or not CHAIN_ID_RE.match(payload["chain_id"]):
        raise _fail("payload.chain_id must be a chain id string")
    if chain_id is not None and payload["chain_id"] != chain_id:
        raise TxError(
            "wrong_chain",
            f"transaction is for chain {payload['chain_id']!r}, this network is {chain_id!r}",
        )
    for name in ("contract", "method"):
        if not isinstance(payload[name], str) or not NAME_RE.match(payload[name]):
            raise _fail(f"payload.{name} must match {NAME_RE.pattern}")
    if not isinstance(payload["args"], dict):
        raise _fail("payload.args must be an object")
    nonce = payload["nonce"]
    if not isinstance(nonce, str) or not 1 <= len(nonce) <= MAX_NONCE_LEN:
        raise _fail(f"payload.nonce must be a string of 1..{MAX_NONCE_LEN} characters")
    signers = payload["signers"]
    if not isinstance(signers, list) or not 1 <= len(signers) <= MAX_SIGNERS:
        raise _fail(f"payload.signers must list 1..{MAX_SIGNERS} public keys")
    if not all(map(is_hex_pubkey, signers)):
        raise _fail("payload.signers must be lowercase hex Ed25519 public keys")
    if len(set(signers)) != len(signers):
        raise _fail("payload.signers lists a key twice")
    if not isinstance(sigs, list) or len(sigs) != len(signers):
        raise _fail("'signatures' must hold one signature per signer, in the same order")
    if not all(map(is_hex_signature, sigs)):
        raise _fail("signatures must be lowercase hex Ed25519 signatures (128 hex digits)")
    try:
        payload_bytes = canonical(payload)
    except CanonicalEncodingError as exc:
        raise _fail(f"payload.{exc.path}: {exc.reason}" if exc.path else exc.reason) from exc
    if len(payload_bytes) + 130 * len(sigs) + 32 > MAX_TX_BYTES:
        raise TxError("tx_too_large", f"transaction exceeds {MAX_TX_BYTES} bytes")
    return Transaction(
        payload=payload,
        signatures=tuple(sigs),
        payload_bytes=payload_bytes,
        tx_id=sha256_hex(payload_bytes),
    )


def build_transaction(
    *,
    chain_id: str,
    contract: str,
    method: str,
    args: Mapping[str, Any],
    nonce: str,
    keys: Sequence[PrivateKey],
) -> Transaction:
    """Build and sign a transaction; every key in ``keys`` signs the same payload."""
    payload = {
        "chain_id": chain_id,
        "contract": contract,
        "method": method,
        "args": dict(args),
        "nonce": nonce,
        "signers": [k.public_key_hex for k in keys],
    }
    body = canonical(payload)
    tx = parse_transaction({"payload": payload, "signatures": [k.sign_hex(body) for k in keys]})
    return tx
