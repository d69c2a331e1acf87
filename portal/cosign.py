"""Partly signed transactions: the file two portals pass between them for a step both
organisations sign (an off-exchange transfer).

Format ``fcl-partial-tx v1`` (canonical JSON)::

    {"format": "fcl-partial-tx", "version": 1,
     "payload": {"chain_id", "contract", "method", "args", "nonce", "signers"},
     "signatures": ["<hex>" | null, ...]}   # signatures[i] by payload.signers[i], or null

The payload is exactly the transaction's (its id is SHA-256 of its canonical bytes), so
every party signs the same bytes; the file carries no key material. :func:`read_partial`
checks the form with ``ledger.tx.parse_transaction`` (placeholders where a signature is
missing), that the chain is the node's, and that every signature present verifies: a
forged or altered file is refused before anything is shown as signed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ledger.crypto import PrivateKey, verify_hex
from ledger.encoding import canonical
from ledger.errors import LedgerError
from ledger.tx import Transaction, parse_transaction
from wallet.errors import WalletError

__all__ = ["FORMAT", "MAX_PARTIAL_BYTES", "complete", "partial_json", "read_partial", "sign_own"]

FORMAT = "fcl-partial-tx"
VERSION = 1
MAX_PARTIAL_BYTES = 128 * 1024
_PLACEHOLDER = "0" * 128


def _bad(message: str) -> WalletError:
    return WalletError("bad_partial", message)


def partial_json(payload: dict[str, Any], signatures: Sequence[str | None]) -> bytes:
    return canonical({"format": FORMAT, "payload": payload, "signatures": list(signatures),
                      "version": VERSION})


def _transaction(payload: dict[str, Any], signatures: Sequence[str | None],
                 chain_id: str) -> Transaction:
    sigs = [s if s is not None else _PLACEHOLDER for s in signatures]
    try:
        return parse_transaction({"payload": payload, "signatures": sigs}, chain_id=chain_id)
    except LedgerError as exc:
        raise _bad(f"the transaction in the file is not valid: {exc.message}") from None


def read_partial(data: bytes, chain_id: str) -> tuple[dict[str, Any], list[str | None]]:
    """The payload and signatures of a partly signed transaction file; raises
    ``WalletError('bad_partial')`` naming what is wrong."""
    if len(data) > MAX_PARTIAL_BYTES:
        raise _bad(f"the file is larger than {MAX_PARTIAL_BYTES} bytes")
    try:
        doc = json.loads(data.decode("utf-8"), parse_float=lambda t: _fail_float(t))
    except (UnicodeDecodeError, ValueError) as exc:
        raise _bad(f"the file is not JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or doc.get("version") != VERSION:
        raise _bad(f"the file is not a {FORMAT} version {VERSION} document")
    if set(doc) != {"format", "version", "payload", "signatures"}:
        raise _bad("the file has fields other than format, version, payload and signatures")
    payload, sigs = doc["payload"], doc["signatures"]
    if not isinstance(payload, dict) or not isinstance(sigs, list) or not all(
            s is None or isinstance(s, str) for s in sigs):
        raise _bad("payload must be an object and signatures a list of hex strings or null")
    tx = _transaction(payload, sigs, chain_id)
    if all(s is None for s in sigs):
        raise _bad("nobody has signed this transaction yet")
    for i, (signer, sig) in enumerate(zip(tx.signers, sigs, strict=True)):
        if sig is not None and not verify_hex(signer, tx.payload_bytes, sig):
            raise _bad(f"signature {i} does not verify for signer {signer[:16]}…: the file was "
                       "altered or signed for another transaction")
    return payload, list(sigs)


def _fail_float(token: str) -> Any:
    raise ValueError(f"floats are not allowed (found {token})")


def sign_own(payload: dict[str, Any], signatures: list[str | None], key: PrivateKey,
             chain_id: str) -> list[str | None]:
    """``signatures`` with ``key``'s signature added at its place among the signers."""
    tx = _transaction(payload, signatures, chain_id)
    pub = key.public_key_hex
    if pub not in tx.signers:
        raise WalletError("not_a_signer", f"key {pub[:16]}… is not a signer of this transaction")
    index = tx.signers.index(pub)
    if signatures[index] is not None:
        raise WalletError("already_signed", f"key {pub[:16]}… has already signed it")
    out = list(signatures)
    out[index] = key.sign_hex(tx.payload_bytes)
    return out


def complete(payload: dict[str, Any], signatures: Sequence[str | None],
             chain_id: str) -> Transaction:
    """The signed transaction once every signer has signed."""
    missing = [s for s, sig in zip(payload.get("signers", []), signatures, strict=False)
               if sig is None]
    if missing:
        raise WalletError("unsigned_parties",
                          f"{len(missing)} signer(s) have not signed yet: "
                          + ", ".join(m[:16] + "…" for m in missing))
    tx = _transaction(payload, signatures, chain_id)
    tx.verify_signatures()
    return tx
