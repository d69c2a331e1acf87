"""The client side of the document store (docs/documents.md): signing an upload or a read
of a restricted document with a wallet key, sending it, and fetching a document with its
hash checked. ``fcl doc`` (``fcl/doc.py``) and the portal use it.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from ledger.crypto import PrivateKey, is_hex_digest, sha256_hex
from ledger.documents import (
    HEADER_CHAIN_ID,
    HEADER_KEY,
    HEADER_NONCE,
    HEADER_RESTRICTED,
    HEADER_SHA256,
    HEADER_SIGNATURE,
    HEADER_TIME,
    HEADER_UPLOADER_ORG,
    MEDIA_TYPES,
    read_message,
    upload_message,
)
from wallet.client import NodeClient
from wallet.errors import ClientError, WalletError

__all__ = ["FetchedDocument", "get_document", "read_headers", "upload_document",
           "upload_headers"]


def _now_ms() -> int:
    return int(time.time() * 1000)


def upload_headers(key: PrivateKey, *, chain_id: str, data: bytes, media_type: str,
                   restricted: bool = False, nonce: str | None = None,
                   time_ms: int | None = None) -> dict[str, str]:
    """The headers of a signed upload of ``data`` (``Content-Type`` included): the key
    signs :func:`ledger.documents.upload_message` of the file's SHA-256 and size."""
    if media_type not in MEDIA_TYPES.values():
        raise WalletError("invalid_input", f"media type {media_type!r} is not one the nodes "
                                           f"accept ({', '.join(sorted(MEDIA_TYPES.values()))})")
    digest = sha256_hex(data)
    nonce = nonce or secrets.token_hex(16)
    time_ms = _now_ms() if time_ms is None else time_ms
    message = upload_message(chain_id=chain_id, sha256=digest, size=len(data),
                             media_type=media_type, restricted=restricted, nonce=nonce,
                             time_ms=time_ms)
    return {
        "content-type": media_type,
        HEADER_CHAIN_ID: chain_id,
        HEADER_KEY: key.public_key_hex,
        HEADER_SHA256: digest,
        HEADER_RESTRICTED: "true" if restricted else "false",
        HEADER_NONCE: nonce,
        HEADER_TIME: str(time_ms),
        HEADER_SIGNATURE: key.sign_hex(message),
    }


def read_headers(key: PrivateKey, *, chain_id: str, sha256: str,
                 time_ms: int | None = None) -> dict[str, str]:
    """The headers of a signed read of restricted document ``sha256``."""
    time_ms = _now_ms() if time_ms is None else time_ms
    return {
        HEADER_KEY: key.public_key_hex,
        HEADER_TIME: str(time_ms),
        HEADER_SIGNATURE: key.sign_hex(read_message(chain_id=chain_id, sha256=sha256,
                                                    time_ms=time_ms)),
    }


def upload_document(client: NodeClient, key: PrivateKey, data: bytes, *, media_type: str,
                    restricted: bool = False, chain_id: str | None = None) -> dict[str, object]:
    """``POST /v1/documents``: upload ``data`` signed by ``key``; the node's answer
    (``sha256``, ``size``, ``media_type``, ``restricted``, ``stored`` ...). ``chain_id``
    defaults to the node's own (``/v1/status``)."""
    chain = chain_id or str(client.status()["chain_id"])
    headers = upload_headers(key, chain_id=chain, data=data, media_type=media_type,
                             restricted=restricted)
    resp = client.request_raw("POST", "/v1/documents", content=data, headers=headers)
    try:
        answer = resp.json()
    except ValueError:
        answer = None
    if not isinstance(answer, dict) or answer.get("sha256") != headers[HEADER_SHA256]:
        raise ClientError("bad_response", "POST /v1/documents: the answer does not name the "
                                          "uploaded document's SHA-256")
    return answer


@dataclass(frozen=True)
class FetchedDocument:
    sha256: str
    data: bytes
    media_type: str
    restricted: bool
    uploader_org: str | None


def get_document(client: NodeClient, sha256: str, *, key: PrivateKey | None = None,
                 chain_id: str | None = None) -> FetchedDocument:
    """``GET /v1/documents/{sha256}``, the bytes checked against the hash (a node serving
    other bytes: ``hash_mismatch``). With ``key``, the read is signed (restricted
    documents)."""
    sha256 = sha256.lower()
    if not is_hex_digest(sha256):
        raise WalletError("invalid_input", "a document is named by its SHA-256: 64 hex digits")
    headers: dict[str, str] = {}
    if key is not None:
        chain = chain_id or str(client.status()["chain_id"])
        headers = read_headers(key, chain_id=chain, sha256=sha256)
    path = f"/v1/documents/{sha256}"
    resp = client.request_raw("GET", path, headers=headers)
    data = resp.content
    actual = sha256_hex(data)
    if actual != sha256:
        raise ClientError("hash_mismatch", f"the node served bytes whose SHA-256 is {actual}, "
                                           f"not {sha256}: they are not the document")
    return FetchedDocument(
        sha256=sha256, data=data,
        media_type=resp.headers.get("content-type", "").split(";", 1)[0].strip(),
        restricted=resp.headers.get(HEADER_RESTRICTED) == "true",
        uploader_org=resp.headers.get(HEADER_UPLOADER_ORG))
