"""Reading an uploaded certificate: a size-limited body, then the JSON text out of a
``multipart/form-data`` form (file field ``certificate`` or text field
``certificate_json``), an ``application/x-www-form-urlencoded`` form (``certificate_json``)
or a plain ``application/json`` body.

The body is refused past :data:`MAX_BODY_BYTES` before any parsing; multipart bodies are
then read by the strict, linear-time reader of :mod:`explorer.multipart`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from starlette.requests import ClientDisconnect, Request

from explorer.inputs import ExplorerError
from explorer.multipart import MultipartError, parse_form
from ledger.certificate import decode_certificate

__all__ = ["MAX_BODY_BYTES", "MAX_CERT_BYTES", "extract_certificate", "parse_certificate", "read_body"]

#: Largest certificate accepted (the JSON itself).
MAX_CERT_BYTES = 1024 * 1024
#: Largest request body (a certificate plus the form's own overhead).
MAX_BODY_BYTES = MAX_CERT_BYTES + 16 * 1024
FILE_FIELD = "certificate"
TEXT_FIELD = "certificate_json"


def _too_large() -> ExplorerError:
    return ExplorerError("upload_too_large", f"a certificate is at most {MAX_CERT_BYTES} bytes (1 MiB)")


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The request body; ``upload_too_large`` (413) past ``limit`` bytes, judged first by
    Content-Length and then by what actually arrives."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not (declared.isascii() and declared.isdigit()):
            raise ExplorerError("malformed_form", "Content-Length is not a number")
        if int(declared) > limit:
            raise _too_large()
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _too_large()
            chunks.append(chunk)
    except ClientDisconnect:  # not an error of ours: no traceback, nothing to answer
        raise ExplorerError("client_disconnected",
                            "the client closed the connection before sending the whole body"
                            ) from None
    return b"".join(chunks)


def _multipart(content_type: str, body: bytes) -> dict[str, bytes]:
    try:
        return parse_form(content_type, body)
    except MultipartError as exc:
        raise ExplorerError("malformed_form", f"the multipart form could not be read: {exc}") from None


def extract_certificate(content_type: str, body: bytes) -> bytes:
    """The certificate's JSON bytes from a request body of ``content_type``.

    Errors: ``unsupported_media_type`` (415), ``malformed_form`` (400), ``no_certificate``
    (400: nothing uploaded or pasted), ``upload_too_large`` (413).
    """
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "application/json":
        text = body
    elif media == "multipart/form-data":
        fields = _multipart(content_type, body)
        upload = fields.get(FILE_FIELD, b"")
        text = upload if upload.strip() else fields.get(TEXT_FIELD, b"")
    elif media == "application/x-www-form-urlencoded":
        try:
            form = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=10)
        except (UnicodeDecodeError, ValueError):
            raise ExplorerError("malformed_form", "the form is not valid UTF-8 form data") from None
        text = (form.get(TEXT_FIELD) or [""])[0].encode("utf-8")
    else:
        raise ExplorerError(
            "unsupported_media_type",
            "send the certificate as multipart/form-data, a url-encoded form or application/json",
        )
    if not text.strip():
        raise ExplorerError("no_certificate", "choose a certificate file or paste its JSON")
    if len(text) > MAX_CERT_BYTES:
        raise _too_large()
    return text


def parse_certificate(text: bytes) -> dict[str, Any]:
    """The certificate object from JSON bytes: ``not_json`` unless the bytes are JSON,
    ``malformed_certificate`` unless the JSON is an object."""
    try:
        # the same strict reader as `fcl verify` (ledger.certificate.decode_certificate):
        # UTF-8 without a byte-order mark; duplicate keys, floats and lone surrogates are
        # refused, so the browser and the command line never read one file two ways
        value = decode_certificate(text)
    except (ValueError, RecursionError):
        raise ExplorerError(
            "not_json", "the certificate is not valid JSON (UTF-8, no duplicate keys)"
        ) from None
    if not isinstance(value, dict):
        raise ExplorerError("malformed_certificate", "a certificate is a JSON object")
    return value
