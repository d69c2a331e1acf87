"""The node's content-addressed document store and its routes (issue 14, item 4;
docs/documents.md).

Documents -- PDDs, monitoring and verification reports, land-tenure scans, imagery --
are kept **outside consensus state**, under the node home's ``documents/`` folder: the
bytes at ``objects/<aa>/<sha256>`` and a metadata record (JSON) at ``meta/<aa>/<sha256>
.json``, where ``<sha256>`` is the SHA-256 of the bytes (the hash the ledger records) and
``<aa>`` its first two hex digits. Nothing of it reaches a block, the state root or
another node's execution; each node holds what it was given or fetched.

Routes::

    POST /v1/documents            an upload by an enrolled key: the raw bytes as the body,
                                  the signed request in X-FCL-* headers -> 201 (or 200 if
                                  the node already holds it) {"sha256", "size", ...}
    GET  /v1/documents/{sha256}   the bytes (Content-Type, ETag = the hash), HEAD too;
                                  404 unknown_document, 403 document_restricted

A restricted document (a land-tenure scan) is served only to a signed read by a key of
the regulator or of the uploader's organisation. Checks are ordered cheapest first; a
refused upload stores nothing.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.requests import ClientDisconnect
from starlette.responses import FileResponse

from chaincode.framework import KEY_PREFIX, ORG_PREFIX
from chaincode.membership import check_signers
from ledger.api_errors import ApiError, error_responses
from ledger.crypto import is_hex_digest, is_hex_pubkey, is_hex_signature, sha256_hex, verify_hex
from ledger.documents import (
    HEADER_CHAIN_ID,
    HEADER_KEY,
    HEADER_NO_FETCH,
    HEADER_NONCE,
    HEADER_RESTRICTED,
    HEADER_SHA256,
    HEADER_SIGNATURE,
    HEADER_TIME,
    HEADER_UPLOADER_ORG,
    MAX_DOCUMENT_BYTES,
    MEDIA_TYPES,
    NONCE_RE,
    SIGNATURE_WINDOW_MS,
    content_problem,
    read_message,
    upload_message,
)
from ledger.store import Store

__all__ = [
    "DEFAULT_ORG_QUOTA_BYTES",
    "DOCUMENT_ERRORS",
    "DocumentMeta",
    "DocumentSettings",
    "DocumentStore",
    "QuotaExceeded",
    "ReplayGuard",
    "create_documents_router",
]

#: Default bytes one organisation may upload to one node (config
#: ``documents.org_quota_bytes``): 1 GiB.
DEFAULT_ORG_QUOTA_BYTES = 1024 * 1024 * 1024
#: The codes ``POST /v1/documents`` answers, and every code the document routes answer
#: (all in ``ledger.api_errors``).
UPLOAD_ERRORS = (
    "malformed_request", "wrong_chain", "stale_request", "unsupported_document_type",
    "document_too_large", "unenrolled_signer", "bad_signature", "replayed_request",
    "document_quota_exceeded", "hash_mismatch", "client_disconnected", "admission_busy",
)
READ_ERRORS = ("bad_id", "unknown_document", "document_restricted", "unenrolled_signer",
               "bad_signature", "stale_request", "malformed_request")
DOCUMENT_ERRORS = (*UPLOAD_ERRORS, "bad_id", "unknown_document", "document_restricted")
_MAX_TIME_MS = 2**53 - 1


@dataclass(frozen=True)
class DocumentMeta:
    """The metadata record of one document (``meta/<aa>/<sha256>.json``)."""

    sha256: str
    size: int
    media_type: str
    restricted: bool
    uploader_org: str | None  # None: not known (fetched from a peer that did not say)
    uploader_key: str | None  # None: fetched from a peer
    stored_ms: int  # this node's wall clock when it stored the bytes
    source: str  # "upload", or "peer" (replicated)

    def to_json(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "size": self.size, "media_type": self.media_type,
                "restricted": self.restricted, "uploader_org": self.uploader_org,
                "uploader_key": self.uploader_key, "stored_ms": self.stored_ms,
                "source": self.source}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> DocumentMeta:
        return cls(sha256=str(obj["sha256"]), size=int(obj["size"]),
                   media_type=str(obj["media_type"]), restricted=bool(obj["restricted"]),
                   uploader_org=obj.get("uploader_org"), uploader_key=obj.get("uploader_key"),
                   stored_ms=int(obj["stored_ms"]), source=str(obj["source"]))


class QuotaExceeded(Exception):
    """An upload would take its organisation past its quota on this node."""


class DocumentStore:
    """Files under ``root`` (the node home's ``documents/``), addressed by their SHA-256.

    Writes are atomic (a temporary file, fsync, rename; the bytes before the metadata), so
    a crash leaves a document whole or absent: on opening, bytes without metadata and
    stray temporary files are removed. The metadata of every document is kept in memory
    (its size is bounded by what uploads and replication may store) with each
    organisation's uploaded bytes, for the quota. Thread-safe."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._objects = self.root / "objects"
        self._meta = self.root / "meta"
        self._tmp = self.root / "tmp"
        for folder in (self._objects, self._meta, self._tmp):
            folder.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._index: dict[str, DocumentMeta] = {}
        self._usage: dict[str, int] = {}
        for stray in sorted(self._tmp.iterdir()):
            stray.unlink(missing_ok=True)
        for path in sorted(self._meta.glob("*/*.json")):
            try:
                meta = DocumentMeta.from_json(json.loads(path.read_text(encoding="utf-8")))
            except (ValueError, KeyError, TypeError, OSError):
                continue
            if meta.sha256 == path.stem and self.path_of(meta.sha256).is_file():
                self._remember(meta)
        for path in sorted(self._objects.glob("*/*")):
            if path.name not in self._index:
                path.unlink(missing_ok=True)  # bytes whose metadata was never written

    def path_of(self, sha256: str) -> Path:
        return self._objects / sha256[:2] / sha256

    def _meta_path(self, sha256: str) -> Path:
        return self._meta / sha256[:2] / f"{sha256}.json"

    def _remember(self, meta: DocumentMeta) -> None:
        self._index[meta.sha256] = meta
        if meta.source == "upload" and meta.uploader_org is not None:
            self._usage[meta.uploader_org] = self._usage.get(meta.uploader_org, 0) + meta.size

    def get(self, sha256: str) -> DocumentMeta | None:
        with self._lock:
            return self._index.get(sha256)

    def __contains__(self, sha256: object) -> bool:
        with self._lock:
            return sha256 in self._index

    def __len__(self) -> int:
        with self._lock:
            return len(self._index)

    def usage(self, org_id: str) -> int:
        """Bytes the keys of ``org_id`` uploaded to this node."""
        with self._lock:
            return self._usage.get(org_id, 0)

    def read(self, sha256: str) -> bytes | None:
        if self.get(sha256) is None:
            return None
        try:
            return self.path_of(sha256).read_bytes()
        except OSError:
            return None

    def _write_atomic(self, path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._tmp / f"{path.name}.{threading.get_ident()}.tmp"
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    def put(self, data: bytes, meta: DocumentMeta, *, org_quota: int | None = None) -> bool:
        """Store ``data`` under ``meta.sha256`` (which the caller checked is its hash);
        return False if the node already held it (its metadata is kept, not replaced).
        ``org_quota``: refuse (:class:`QuotaExceeded`) an upload that would take its
        organisation's uploaded bytes past it -- checked under the lock, so concurrent
        uploads cannot pass it together."""
        if sha256_hex(data) != meta.sha256 or len(data) != meta.size:
            raise ValueError("the bytes do not match the metadata")
        with self._lock:
            if meta.sha256 in self._index:
                return False
            org = meta.uploader_org
            if org_quota is not None and org is not None and meta.source == "upload":
                used = self._usage.get(org, 0)
                if used + meta.size > org_quota:
                    raise QuotaExceeded(
                        f"organisation {org} has uploaded {used} bytes to this node; "
                        f"{meta.size} more would pass its quota of {org_quota} bytes")
            self._write_atomic(self.path_of(meta.sha256), data)
            self._write_atomic(self._meta_path(meta.sha256),
                               json.dumps(meta.to_json(), sort_keys=True).encode("utf-8"))
            self._remember(meta)
            return True


class ReplayGuard:
    """The (key, nonce) pairs of the uploads accepted within the signature window: the
    same signed request is refused a second time (``replayed_request``). A pair whose
    signed time has left the window is forgotten (a request that old is refused as stale
    anyway). At most ``max_entries`` are kept: when full, the oldest received goes, and
    every request signed at or before its time is refused from then on (``stale``), so a
    forgotten pair can never be replayed."""

    def __init__(self, window_ms: int = SIGNATURE_WINDOW_MS, max_entries: int = 100_000) -> None:
        self.window_ms = window_ms
        self.max_entries = max_entries
        self._seen: OrderedDict[tuple[str, str], int] = OrderedDict()  # -> signed time
        self._floor_ms = -1  # requests signed at or before this are refused as stale
        self._lock = threading.Lock()

    def check_and_record(self, key: str, nonce: str, time_ms: int, now_ms: int) -> str | None:
        """None if new (it is recorded), else why it is refused: ``replayed`` or
        ``stale``."""
        with self._lock:
            while self._seen:
                oldest, signed_ms = next(iter(self._seen.items()))
                if signed_ms >= now_ms - self.window_ms and len(self._seen) < self.max_entries:
                    break
                del self._seen[oldest]
                if signed_ms >= now_ms - self.window_ms:  # evicted for room, not age
                    self._floor_ms = max(self._floor_ms, signed_ms)
            if time_ms <= self._floor_ms:
                return "stale"
            if (key, nonce) in self._seen:
                return "replayed"
            self._seen[(key, nonce)] = time_ms
            return None


def _header(request: Request, name: str) -> str:
    value = request.headers.get(name)
    if value is None or not value:
        raise ApiError("malformed_request", f"the request has no {name} header")
    return value


def _time_header(request: Request, now_ms: int) -> int:
    text = _header(request, HEADER_TIME)
    if not (text.isascii() and text.isdigit()) or len(text) > 16 or int(text) > _MAX_TIME_MS:
        raise ApiError("malformed_request",
                       f"{HEADER_TIME} must be a time in whole milliseconds since 1970, "
                       f"not {text[:20]!r}")
    time_ms = int(text)
    if abs(time_ms - now_ms) > SIGNATURE_WINDOW_MS:
        raise ApiError("stale_request",
                       f"the request was signed at {time_ms} ms, {abs(time_ms - now_ms)} ms "
                       f"from this node's clock ({now_ms} ms); a signed request must be "
                       f"within {SIGNATURE_WINDOW_MS // 1000} s of it: sign it again")
    return time_ms


def _signer(store: Store, request: Request) -> tuple[str, str]:
    """The request's key (``X-FCL-Key``) and its organisation: an active key of an active
    organisation in the committed state, else ``unenrolled_signer``."""
    key = _header(request, HEADER_KEY)
    if not is_hex_pubkey(key):
        raise ApiError("malformed_request", f"{HEADER_KEY} must be a public key: 64 lowercase "
                                            "hex digits")
    check = check_signers(store, [key])
    if check.refusal is not None:
        raise ApiError("unenrolled_signer", f"{check.refusal}: only enrolled keys may do this")
    return key, check.orgs[0]


def _signature(request: Request) -> str:
    signature = _header(request, HEADER_SIGNATURE)
    if not is_hex_signature(signature):
        raise ApiError("malformed_request", f"{HEADER_SIGNATURE} must be an Ed25519 "
                                            "signature: 128 lowercase hex digits")
    return signature


def _roles(store: Store, org_id: str) -> list[str]:
    raw = store.get(ORG_PREFIX + org_id)
    roles = [] if raw is None else json.loads(raw).get("roles", [])
    return [str(r) for r in roles] if isinstance(roles, list) else []


def _key_org(store: Store, key: str) -> str | None:
    raw = store.get(KEY_PREFIX + key)
    return None if raw is None else str(json.loads(raw).get("org"))


def _answer_meta(meta: DocumentMeta) -> dict[str, Any]:
    return {"sha256": meta.sha256, "size": meta.size, "media_type": meta.media_type,
            "restricted": meta.restricted, "uploader_org": meta.uploader_org,
            "stored_ms": meta.stored_ms, "url": f"/v1/documents/{meta.sha256}"}


@dataclass
class DocumentSettings:
    """A node's document limits (config ``documents``, docs/documents.md)."""

    max_bytes: int = MAX_DOCUMENT_BYTES
    org_quota_bytes: int = DEFAULT_ORG_QUOTA_BYTES
    #: at most this many upload bodies are received and checked at once (more:
    #: ``admission_busy``), so uploads hold at most this many times ``max_bytes``
    max_concurrent_uploads: int = 4


def create_documents_router(
    documents: DocumentStore,
    store: Callable[[], Store],
    chain_id: str,
    *,
    settings: DocumentSettings | None = None,
    fetch_missing: Callable[[str], Awaitable[bool]] | None = None,
    clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    replay: ReplayGuard | None = None,
) -> APIRouter:
    """``POST /v1/documents`` and ``GET /v1/documents/{sha256}`` over ``documents``;
    ``store()`` the committed state (membership), ``fetch_missing(sha256)`` (optional)
    fetches a document this node lacks from its peers and says whether it now has it."""
    limits = settings or DocumentSettings()
    guard = replay or ReplayGuard()
    #: uploads whose bodies are being received and checked at once: bounds the memory
    #: they hold (each at most limits.max_bytes)
    uploads = asyncio.Semaphore(limits.max_concurrent_uploads)
    router = APIRouter(tags=["documents"])
    allowed = ", ".join(sorted(MEDIA_TYPES.values()))
    binary = {media_type: {"schema": {"type": "string", "format": "binary"}}
              for media_type in sorted(MEDIA_TYPES.values())}

    def header(name: str, description: str, pattern: str | None = None) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "string"}
        if pattern is not None:
            schema["pattern"] = pattern
        return {"name": name, "in": "header", "required": True, "description": description,
                "schema": schema}

    upload_parameters = [
        header(HEADER_CHAIN_ID, "the chain id (signed)"),
        header(HEADER_KEY, "the enrolled signing key", "^[0-9a-f]{64}$"),
        header(HEADER_SHA256, "SHA-256 of the body (signed)", "^[0-9a-f]{64}$"),
        header(HEADER_RESTRICTED, "true: a land-tenure record (signed)", "^(true|false)$"),
        header(HEADER_NONCE, "a new nonce for every upload (signed)", "^[A-Za-z0-9_-]{1,64}$"),
        header(HEADER_TIME, "signing time, ms since 1970 (signed; within 300 s)", "^[0-9]{1,16}$"),
        header(HEADER_SIGNATURE, "Ed25519 over the canonical JSON of the signed fields "
               "(docs/documents.md, \"Signing\")", "^[0-9a-f]{128}$"),
    ]
    read_parameters = [
        {**p, "required": False, "description": p["description"] + "; only for a restricted "
         "document (a signed read)"}
        for p in (header(HEADER_KEY, "the reading key", "^[0-9a-f]{64}$"),
                  header(HEADER_TIME, "signing time, ms since 1970", "^[0-9]{1,16}$"),
                  header(HEADER_SIGNATURE, "Ed25519 over {chain_id, purpose, sha256, time_ms}",
                         "^[0-9a-f]{128}$"))
    ]

    @router.post(
        "/v1/documents",
        status_code=201,
        summary="Upload a document (an enrolled key's signed request); its SHA-256 is the "
                "hash the ledger records",
        description="The body is the file's bytes; `Content-Type` its media type; the "
                    "signed request is in the X-FCL-* headers (docs/documents.md, "
                    "\"Signing\").",
        openapi_extra={"parameters": upload_parameters,
                       "requestBody": {"required": True, "content": binary}},
        responses={200: {"description": "the node already held the document"},
                   **error_responses(UPLOAD_ERRORS)},
    )
    async def upload(request: Request) -> JSONResponse:
        now_ms = clock_ms()
        chain = _header(request, HEADER_CHAIN_ID)
        if chain != chain_id:
            raise ApiError("wrong_chain", f"the request is signed for chain {chain[:64]!r}; "
                                          f"this node serves {chain_id!r}")
        time_ms = _time_header(request, now_ms)
        digest = _header(request, HEADER_SHA256)
        if not is_hex_digest(digest):
            raise ApiError("malformed_request",
                           f"{HEADER_SHA256} must be a SHA-256: 64 lowercase hex digits")
        nonce = _header(request, HEADER_NONCE)
        if not NONCE_RE.match(nonce):
            raise ApiError("malformed_request", f"{HEADER_NONCE} must be 1..64 letters, "
                                                "digits, '-' or '_'")
        flag = _header(request, HEADER_RESTRICTED)
        if flag not in ("true", "false"):
            raise ApiError("malformed_request", f"{HEADER_RESTRICTED} must be true or false")
        restricted = flag == "true"
        media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media_type not in MEDIA_TYPES.values():
            raise ApiError("unsupported_document_type",
                           f"media type {media_type[:60]!r} is not accepted; the node takes "
                           f"{allowed}")
        declared = request.headers.get("content-length")
        if declared is None or not (declared.isascii() and declared.isdigit()):
            raise ApiError("malformed_request", "an upload needs a Content-Length header: "
                                                "the size is part of what is signed")
        size = int(declared)
        if size > limits.max_bytes:
            raise ApiError("document_too_large",
                           f"the document is {size} bytes; this node takes at most "
                           f"{limits.max_bytes} bytes per document")
        if size == 0:
            raise ApiError("malformed_request", "an empty file is not a document")
        state = store()
        key, org = _signer(state, request)
        signature = _signature(request)
        message = upload_message(chain_id=chain_id, sha256=digest, size=size,
                                 media_type=media_type, restricted=restricted, nonce=nonce,
                                 time_ms=time_ms)
        if not verify_hex(key, message, signature):
            raise ApiError("bad_signature",
                           f"the signature does not verify for key {key} over the upload of "
                           f"{digest} ({size} bytes, {media_type}, restricted {flag}, nonce "
                           f"{nonce}, time {time_ms}) on chain {chain_id}")
        existing = documents.get(digest)
        if existing is None and documents.usage(org) + size > limits.org_quota_bytes:
            raise ApiError("document_quota_exceeded",
                           f"organisation {org} has uploaded {documents.usage(org)} bytes to "
                           f"this node; {size} more would pass its quota of "
                           f"{limits.org_quota_bytes} bytes")
        if uploads.locked():
            raise ApiError("admission_busy",
                           f"this node is receiving {limits.max_concurrent_uploads} uploads "
                           "already; try again shortly")
        refusal = guard.check_and_record(key, nonce, time_ms, now_ms)
        if refusal == "replayed":
            raise ApiError("replayed_request",
                           f"this signed upload (key {key}, nonce {nonce}) was already "
                           "received; sign a new request with a new nonce")
        if refusal is not None:
            raise ApiError("stale_request", f"the request signed at {time_ms} ms is older "
                                            "than the requests this node still remembers")
        async with uploads:
            data = await _read_exact(request, size)
            meta = DocumentMeta(sha256=digest, size=size, media_type=media_type,
                                restricted=restricted, uploader_org=org, uploader_key=key,
                                stored_ms=now_ms, source="upload")
            # hashing, content checks and the fsynced writes run off the event loop
            stored = await asyncio.to_thread(_check_and_store, documents, data, meta,
                                             limits.org_quota_bytes)
        final = documents.get(digest) or meta
        return JSONResponse({**_answer_meta(final), "stored": stored},
                            status_code=201 if stored else 200)

    def _check_restricted_read(request: Request, meta: DocumentMeta) -> None:
        if request.headers.get(HEADER_SIGNATURE) is None:
            raise ApiError("document_restricted",
                           f"document {meta.sha256} is restricted (a land-tenure record): it "
                           "is served only to a signed read by a key of the regulator or of "
                           "the organisation that uploaded it")
        time_ms = _time_header(request, clock_ms())
        state = store()
        key, org = _signer(state, request)
        signature = _signature(request)
        if not verify_hex(key, read_message(chain_id=chain_id, sha256=meta.sha256,
                                            time_ms=time_ms), signature):
            raise ApiError("bad_signature", f"the read signature does not verify for key {key} "
                                            f"over document {meta.sha256} at time {time_ms} "
                                            f"on chain {chain_id}")
        if org != meta.uploader_org and "regulator" not in _roles(state, org):
            raise ApiError("document_restricted",
                           f"document {meta.sha256} is restricted: organisation {org} is "
                           f"neither the regulator nor its uploader {meta.uploader_org}")

    @router.get(
        "/v1/documents/{sha256}",
        summary="A document by its SHA-256 (Content-Type, ETag = the hash; HEAD too)",
        response_class=Response,
        openapi_extra={"parameters": read_parameters},
        responses={200: {"description": "the document's bytes", "content": binary,
                         "headers": {"ETag": {"description": "the SHA-256, quoted",
                                              "schema": {"type": "string"}}}},
                   304: {"description": "If-None-Match named this document"},
                   **error_responses(READ_ERRORS)},
    )
    async def get_document(sha256: str, request: Request) -> Response:
        if not is_hex_digest(sha256):
            raise ApiError("bad_id", "a document is named by its SHA-256: 64 lowercase hex "
                                     "digits")
        meta = documents.get(sha256)
        if meta is None and fetch_missing is not None \
                and request.headers.get(HEADER_NO_FETCH) is None:
            if await fetch_missing(sha256):
                meta = documents.get(sha256)
        if meta is None:
            raise ApiError("unknown_document", f"this node has no document {sha256}")
        if meta.restricted:
            _check_restricted_read(request, meta)
        headers = {"ETag": f'"{sha256}"', "X-Content-Type-Options": "nosniff",
                   "Cache-Control": "private, no-store" if meta.restricted
                   else "public, max-age=31536000, immutable",
                   "Content-Disposition": f'inline; filename="{sha256}"'}
        if meta.uploader_org is not None:
            headers[HEADER_UPLOADER_ORG] = meta.uploader_org
        headers[HEADER_RESTRICTED] = "true" if meta.restricted else "false"
        if request.headers.get("if-none-match") == f'"{sha256}"':
            return Response(status_code=304, headers=headers)
        return FileResponse(documents.path_of(sha256), media_type=meta.media_type,
                            headers=headers)

    return router


def _check_and_store(documents: DocumentStore, data: bytes, meta: DocumentMeta,
                     quota: int) -> bool:
    """The checks of an upload's bytes (hash, content), then the write with the quota
    checked again under the store's lock; True if stored, False if already held."""
    actual = sha256_hex(data)
    if actual != meta.sha256:
        raise ApiError("hash_mismatch",
                       f"the body's SHA-256 is {actual}, not the {meta.sha256} the request "
                       "claims and signs")
    problem = content_problem(meta.media_type, data)
    if problem is not None:
        raise ApiError("unsupported_document_type",
                       f"not a {meta.media_type} document: {problem}")
    try:
        return documents.put(data, meta, org_quota=quota)
    except QuotaExceeded as exc:
        raise ApiError("document_quota_exceeded", str(exc)) from None


async def _read_exact(request: Request, size: int) -> bytes:
    """The body, which must be exactly ``size`` bytes (its ``Content-Length``)."""
    chunks: list[bytes] = []
    got = 0
    try:
        async for chunk in request.stream():
            got += len(chunk)
            if got > size:
                raise ApiError("document_too_large",
                               f"the body is longer than its Content-Length of {size} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        raise ApiError("client_disconnected",
                       "the client closed the connection before sending the whole body") from None
    if got != size:
        raise ApiError("malformed_request", f"the body has {got} bytes, not the {size} of its "
                                            "Content-Length")
    return b"".join(chunks)

