"""Transactions: a canonical payload signed by one or more Ed25519 keys.

Wire form (JSON)::

    {"payload": {"chain_id", "contract", "method", "args", "nonce", "signers"},
     "signatures": ["<hex>", ...]}

The transaction id is SHA-256 of the canonical payload bytes; each signer signs those
same bytes, and ``signatures[i]`` belongs to ``payload.signers[i]``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ledger.crypto import PrivateKey, is_hex_pubkey, is_hex_signature, sha256_hex, verify
from ledger.encoding import CanonicalEncodingError, canonical, canonical_str_measured
from ledger.errors import TxError

MAX_TX_BYTES = 64 * 1024
MAX_SIGNERS = 8
MAX_NONCE_LEN = 64
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}\Z")
CHAIN_ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}\Z")
PAYLOAD_KEYS = frozenset({"chain_id", "contract", "method", "args", "nonce", "signers"})

__all__ = [
    "MAX_TX_BYTES",
    "Transaction",
    "build_transaction",
    "parse_transaction",
    "parse_transaction_measured",
]


@dataclass(frozen=True, slots=True)
class Transaction:
    payload: Mapping[str, Any]
    signatures: tuple[str, ...]
    payload_bytes: bytes
    tx_id: str
    # canonical(self.to_json()), filled on first use by `canonical_bytes`
    _canonical: bytes | None = field(default=None, init=False, repr=False, compare=False)
    # the same as text (`canonical_text`) and its SHA-256 (`canonical_digest`), on first use
    _text: str | None = field(default=None, init=False, repr=False, compare=False)
    _digest: bytes | None = field(default=None, init=False, repr=False, compare=False)
    # SHA-256(0x00 || canonical bytes): its leaf hash (`leaf_hash`), on first use
    _leaf: bytes | None = field(default=None, init=False, repr=False, compare=False)

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

    @property
    def canonical_text(self) -> str:
        """:attr:`canonical_bytes` decoded (UTF-8): the key of the mempool's lookup by
        text. Computed once per object."""
        text = self._text
        if text is None:
            text = self.canonical_bytes.decode("utf-8")
            object.__setattr__(self, "_text", text)
        return text

    @property
    def canonical_digest(self) -> bytes:
        """SHA-256 of :attr:`canonical_bytes` (payload *and* signatures): the key of the
        node's set of verified transactions (``node/chain/verified.py``). Computed once per
        object."""
        digest = self._digest
        if digest is None:
            digest = hashlib.sha256(self.canonical_bytes).digest()
            object.__setattr__(self, "_digest", digest)
        return digest

    @property
    def leaf_hash(self) -> bytes:
        """RFC 9162's leaf hash of :attr:`canonical_bytes`, ``SHA-256(0x00 || bytes)``
        (``ledger.merkle.leaf_hash``): this transaction's leaf in a block's transactions
        tree. Computed once per object, so the transactions root a follower checks when it
        decodes a proposal and the block-layout chunk roots written at commit hash it once.
        Not :attr:`canonical_digest` (no 0x00 prefix: a different hash of the same bytes)."""
        leaf = self._leaf
        if leaf is None:
            leaf = hashlib.sha256(b"\x00" + self.canonical_bytes).digest()
            object.__setattr__(self, "_leaf", leaf)
        return leaf

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
    payload, sigs = _check_shape(obj, chain_id)
    try:
        payload_bytes = canonical(payload)
    except CanonicalEncodingError as exc:
        raise _fail(f"payload.{exc.path}: {exc.reason}" if exc.path else exc.reason) from exc
    return _transaction(payload, sigs, payload_bytes)


def parse_transaction_measured(
    obj: Any, *, chain_id: str | None = None
) -> tuple[Transaction, int | None]:
    """:func:`parse_transaction` (the same checks, the same errors, an equal transaction)
    for admission, which also needs what the payload holds in memory decoded: the second
    item, ``sys.getsizeof`` summed over the payload as ``node.txpool.admission.decoded_size``
    counts it, found in the walk that encodes the payload (None for an unusual payload --
    a non-ASCII object key, say -- whose size the caller then counts itself).

    For the usual payload the transaction's canonical text and bytes are made here, from
    the payload's text, and kept in the object (:attr:`Transaction.canonical_text`)."""
    payload, sigs = _check_shape(obj, chain_id)
    try:
        text, size = canonical_str_measured(payload)
    except CanonicalEncodingError as exc:
        raise _fail(f"payload.{exc.path}: {exc.reason}" if exc.path else exc.reason) from exc
    tx = _transaction(payload, sigs, text.encode("utf-8"))
    if size is not None:
        # what `canonical_bytes` splices, as text: every signature is lowercase hex
        whole = "".join(('{"payload":', text, ',"signatures":[',
                         ",".join(f'"{sig}"' for sig in sigs), "]}"))
        object.__setattr__(tx, "_text", whole)
        object.__setattr__(tx, "_canonical", whole.encode("utf-8"))
    return tx, size


def _transaction(payload: dict[str, Any], sigs: list[str], payload_bytes: bytes) -> Transaction:
    if len(payload_bytes) + 130 * len(sigs) + 32 > MAX_TX_BYTES:
        raise TxError("tx_too_large", f"transaction exceeds {MAX_TX_BYTES} bytes")
    return Transaction(
        payload=payload,
        signatures=tuple(sigs),
        payload_bytes=payload_bytes,
        tx_id=sha256_hex(payload_bytes),
    )


def _check_shape(obj: Any, chain_id: str | None) -> tuple[dict[str, Any], list[str]]:
    """Every check of :func:`parse_transaction` before the payload is encoded; returns the
    payload and the signatures."""
    if not isinstance(obj, dict):
        raise _fail("a transaction is a JSON object with 'payload' and 'signatures'")
    if set(obj) != {"payload", "signatures"}:
        raise _fail("a transaction has exactly the fields 'payload' and 'signatures'")
    payload, sigs = obj["payload"], obj["signatures"]
    if not isinstance(payload, dict):
        raise _fail("'payload' must be an object")
    # a set comparison, which builds no sets when it holds (any subclass: the long way)
    if type(payload) is not dict or payload.keys() != PAYLOAD_KEYS:
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
    return payload, sigs


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
