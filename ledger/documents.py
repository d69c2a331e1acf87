"""The document store's shared definitions (issue 14, item 4; docs/documents.md): the
media types a node accepts, how their bytes are recognised, the exact bytes an upload or
a read of a restricted document signs, and which transaction arguments name a document.

Here, in ``ledger``, because the node (``node/api/documents.py``, which checks), the
wallet client (``wallet/documents.py``, which signs) and the explorer all need the same
definitions, and ``ledger`` is the layer all of them may import. Plain data and functions:
nothing here reaches consensus (documents live outside the state).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from ledger.encoding import canonical

__all__ = [
    "DOCUMENT_CONTRACTS",
    "HEADER_CHAIN_ID",
    "HEADER_KEY",
    "HEADER_NO_FETCH",
    "HEADER_NONCE",
    "HEADER_RESTRICTED",
    "HEADER_SHA256",
    "HEADER_SIGNATURE",
    "HEADER_TIME",
    "HEADER_UPLOADER_ORG",
    "MAX_DOCUMENT_BYTES",
    "MEDIA_TYPES",
    "NONCE_RE",
    "READ_PURPOSE",
    "SIGNATURE_WINDOW_MS",
    "TYPE_BY_EXTENSION",
    "UPLOAD_PURPOSE",
    "content_problem",
    "read_message",
    "referenced_hashes",
    "upload_message",
]

#: Default largest document (bytes): 20 MiB (config ``documents.max_bytes`` may lower it).
MAX_DOCUMENT_BYTES = 20 * 1024 * 1024
#: A signed request's ``time_ms`` may differ from the node's clock by at most this much.
SIGNATURE_WINDOW_MS = 300_000
#: The ``purpose`` field of the signed objects: a signature over one can never be taken
#: for the other, nor for a transaction (whose payload has no ``purpose``).
UPLOAD_PURPOSE = "fcl-document-upload/1"
READ_PURPOSE = "fcl-document-read/1"
#: An upload's nonce: 1..64 letters, digits, ``-`` or ``_``.
NONCE_RE = re.compile(r"[A-Za-z0-9_-]{1,64}\Z")

HEADER_CHAIN_ID = "x-fcl-chain-id"
HEADER_KEY = "x-fcl-key"
HEADER_SHA256 = "x-fcl-sha256"
HEADER_RESTRICTED = "x-fcl-restricted"
HEADER_NONCE = "x-fcl-nonce"
HEADER_TIME = "x-fcl-time"
HEADER_SIGNATURE = "x-fcl-signature"
#: A peer's replication request: the answering node must not fetch from its own peers.
HEADER_NO_FETCH = "x-fcl-no-fetch"
#: In a document's answer: the organisation whose key uploaded it.
HEADER_UPLOADER_ORG = "x-fcl-uploader-org"

#: The accepted media types, each with its short name (the ``--type`` of ``fcl doc upload``).
MEDIA_TYPES: dict[str, str] = {
    "pdf": "application/pdf",
    "png": "image/png",
    "jpeg": "image/jpeg",
    "tiff": "image/tiff",  # GeoTIFF included: a TIFF with geographic tags
    "json": "application/json",
    "geojson": "application/geo+json",
    "csv": "text/csv",
    "zip": "application/zip",
}

#: File name extensions (lower case) -> short type name.
TYPE_BY_EXTENSION: dict[str, str] = {
    ".pdf": "pdf", ".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".tif": "tiff",
    ".tiff": "tiff", ".geotiff": "tiff", ".json": "json", ".geojson": "geojson",
    ".csv": "csv", ".zip": "zip",
}

_MAGIC: dict[str, tuple[bytes, ...]] = {
    "application/pdf": (b"%PDF-",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/tiff": (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"),  # TIFF and BigTIFF
    "application/zip": (b"PK\x03\x04", b"PK\x05\x06"),
}


def content_problem(media_type: str, data: bytes) -> str | None:
    """Why ``data`` is not a document of ``media_type`` (one of :data:`MEDIA_TYPES`'s
    values), or None. Binary types by their leading signature bytes; JSON and GeoJSON must
    decode as UTF-8 JSON (GeoJSON: an object with a ``type``); CSV must be UTF-8 text
    without NUL bytes."""
    magic = _MAGIC.get(media_type)
    if magic is not None:
        if not data.startswith(magic):
            return (f"the file does not begin as a {media_type} file does "
                    f"(first bytes {data[:8].hex() or 'none'})")
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"the file is not UTF-8 text (byte {exc.start} is not valid UTF-8)"
    if media_type == "text/csv":
        return "the file contains NUL bytes, which CSV text does not" if "\x00" in text else None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return f"the file is not valid JSON, which {media_type} requires"
    if media_type == "application/geo+json" and not (
            isinstance(value, dict) and isinstance(value.get("type"), str)):
        return "the file is JSON but not GeoJSON (an object with a \"type\" member)"
    return None


def upload_message(*, chain_id: str, sha256: str, size: int, media_type: str,
                   restricted: bool, nonce: str, time_ms: int) -> bytes:
    """The bytes an upload's Ed25519 signature covers: canonical JSON (docs/formats.md) of
    ``{"chain_id", "media_type", "nonce", "purpose": UPLOAD_PURPOSE, "restricted",
    "sha256", "size", "time_ms"}``."""
    return canonical({
        "chain_id": chain_id, "media_type": media_type, "nonce": nonce,
        "purpose": UPLOAD_PURPOSE, "restricted": restricted, "sha256": sha256,
        "size": size, "time_ms": time_ms,
    })


def read_message(*, chain_id: str, sha256: str, time_ms: int) -> bytes:
    """The bytes a signed read of a restricted document covers: canonical JSON of
    ``{"chain_id", "purpose": READ_PURPOSE, "sha256", "time_ms"}``."""
    return canonical({"chain_id": chain_id, "purpose": READ_PURPOSE, "sha256": sha256,
                      "time_ms": time_ms})


_HEX64 = re.compile(r"[0-9a-f]{64}\Z")
_MAX_DEPTH = 8


def _walk(value: Any, depth: int) -> Iterator[str]:
    if depth > _MAX_DEPTH:
        return
    if isinstance(value, Mapping):
        for key in sorted(value):
            item = value[key]
            if isinstance(key, str) and key.endswith("sha256") and isinstance(item, str) \
                    and _HEX64.match(item):
                yield item
            else:
                yield from _walk(item, depth + 1)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _walk(item, depth + 1)


#: The contracts whose transactions name registry documents (PDDs, monitoring reports,
#: attestations, loss events and their evidence, plot scans): the only ones a node's
#: document fetcher scans. A ``notary`` record's hash stays a bare hash (any file, kept
#: wherever its owner keeps it); a ``GET`` of it still fetches on demand.
DOCUMENT_CONTRACTS = ("carbon",)


def referenced_hashes(args: Any) -> list[str]:
    """The document hashes a transaction's arguments name: every value of a key ending in
    ``sha256`` (``pdd_sha256``, ``report_sha256``, ``subject_sha256``, ``scan_sha256``,
    ``non_forest_evidence_sha256``, ``imagery_sha256`` ...) that is 64 lowercase hex
    digits, at any depth up to 8, each once, in order of first appearance."""
    seen: dict[str, None] = {}
    for digest in _walk(args, 0):
        seen.setdefault(digest, None)
    return list(seen)
