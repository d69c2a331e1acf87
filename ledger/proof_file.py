"""What every self-contained proof file shares: its bytes and its embedded genesis.

A retirement certificate (``ledger/certificate.py``), a state-proof file
(``ledger/state_proof.py``) and a holding proof (``chaincode/holding_proof.py``) are JSON
files checked offline against a genesis the verifier trusts. They are read the same way
and anchored the same way; this module is that one way, so that the formats cannot drift
apart (docs/certificates.md §2, docs/state-proofs.md "State-proof files").

* :func:`decode_json_file`: UTF-8 JSON text without a byte-order mark (RFC 8259 §8.1), no
  floats, no duplicate keys; UTF-16/UTF-32 refused even where a JSON library would detect
  it.
* :func:`anchor_genesis`: the embedded genesis document, checked to be well formed, to
  hash to the file's ``genesis_hash`` and to be the genesis the verifier trusts.
"""

from __future__ import annotations

from typing import Any

from ledger.crypto import is_hex_digest
from ledger.encoding import CanonicalEncodingError, decode
from ledger.errors import LedgerError
from ledger.genesis import Genesis

__all__ = ["ANCHOR_CODES", "anchor_genesis", "decode_json_file"]

#: The codes :func:`anchor_genesis` raises.
ANCHOR_CODES = ("no_anchor", "bad_anchor", "malformed_genesis", "genesis_hash_mismatch",
                "wrong_genesis")


def decode_json_file(data: bytes, what: str) -> Any:
    """The JSON value of a proof file's bytes (``what`` names the file in messages, e.g.
    "certificate"). Raises ``LedgerError`` with code ``byte_order_mark``, ``not_utf8`` or
    ``not_json``; the value's shape is not checked."""
    if data.startswith(b"\xef\xbb\xbf"):
        raise LedgerError("byte_order_mark", f"the {what} starts with a UTF-8 byte-order"
                          f" mark; a {what} is UTF-8 JSON text without one")
    if data[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in data:
        raise LedgerError("not_utf8", f"the {what} is UTF-16 or UTF-32 text (it has a"
                          f" UTF-16 byte-order mark or NUL bytes); a {what} is UTF-8 JSON"
                          " text")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LedgerError("not_utf8", f"the {what} is not UTF-8 text (byte {exc.start}:"
                          f" {exc.reason}); a {what} is UTF-8 JSON text") from None
    try:
        return decode(text)
    except (CanonicalEncodingError, ValueError, RecursionError) as exc:
        raise LedgerError("not_json", f"not a valid JSON {what}: {exc}") from None


def anchor_genesis(
    document: Any,
    declared_hash: Any,
    *,
    genesis: Genesis | None,
    genesis_hash: str | None,
    what: str,
) -> Genesis:
    """The embedded genesis ``document`` of a ``what`` (e.g. "certificate"), once it is
    shown to be the trusted one: the trusted ``genesis`` document or its ``genesis_hash``
    (both may be given; they must agree). Raises ``LedgerError``: ``no_anchor`` (neither
    given), ``bad_anchor`` (a hash that is not 64 lowercase hex digits, or a document and a
    hash that disagree), ``malformed_genesis`` (the embedded document),
    ``genesis_hash_mismatch`` (``declared_hash`` is not its SHA-256), ``wrong_genesis``
    (another network's genesis)."""
    trusted = genesis_hash
    if trusted is not None and not is_hex_digest(trusted):
        raise LedgerError("bad_anchor", "the trusted genesis hash must be 64 lowercase hex digits")
    if genesis is not None:
        if trusted is not None and trusted != genesis.hash:
            raise LedgerError("bad_anchor", "the genesis document and the genesis hash given disagree")
        trusted = genesis.hash
    if trusted is None:
        raise LedgerError("no_anchor", "no trusted genesis given (a genesis document or its hash)")
    try:
        embedded = Genesis.from_json(document)
    except LedgerError as exc:
        raise LedgerError("malformed_genesis",
                          f"the embedded genesis document is malformed: {exc.message}") from None
    if embedded.hash != declared_hash:
        raise LedgerError("genesis_hash_mismatch",
                          "genesis_hash is not the SHA-256 of the embedded genesis document")
    if embedded.hash != trusted:
        raise LedgerError(
            "wrong_genesis",
            f"the {what} is for the network with genesis {embedded.hash[:16]}…"
            f" ({embedded.chain_id}), not the trusted genesis {trusted[:16]}…",
        )
    return embedded
