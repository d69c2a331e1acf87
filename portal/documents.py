"""The documents behind the hashes a portal form signs (issue 14, items 3+4;
docs/portal.md, "Documents").

A file chosen for a ``…sha256`` argument is hashed in the portal at the dry run (its
SHA-256 is the argument) and kept in the draft, in this process's memory only, as a
:class:`PendingDocument`. When the person signs and submits, :func:`upload_all` sends
each one to the node's document store (``POST /v1/documents``, signed by the unlocked
key through ``wallet.documents``) *before* the transaction; the first refusal raises
:class:`DocumentRefused` and the transaction is not submitted. A document the node
already holds (``HEAD /v1/documents/{sha256}`` answers 200, or 403 for a restricted one)
is not sent again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

from ledger.crypto import PrivateKey
from ledger.documents import HEADER_NO_FETCH, MEDIA_TYPES, TYPE_BY_EXTENSION, content_problem
from wallet.client import NodeClient
from wallet.documents import upload_document
from wallet.errors import ClientError, WalletError

__all__ = ["BINARY_TYPES", "DocumentRefused", "PendingDocument", "UploadResult",
           "guess_media_type", "upload_all"]

#: the binary media types recognised by their first bytes when the file name says nothing
BINARY_TYPES = ("application/pdf", "image/png", "image/jpeg", "image/tiff", "application/zip")


@dataclass(frozen=True)
class PendingDocument:
    """A chosen file waiting for its upload: the argument it is the hash of (the input's
    dotted name), the file name the browser gave, its bytes and SHA-256, the media type
    (None: not one the nodes accept) and the "restricted (land-tenure scan)" choice."""

    field: str
    filename: str
    sha256: str
    data: bytes
    media_type: str | None
    restricted: bool

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(frozen=True)
class UploadResult:
    """What the node holds after :func:`upload_all`: ``stored`` True when this upload
    stored it, False when the node already held it (then ``restricted`` is the flag of
    its first upload, as the node keeps it)."""

    field: str
    filename: str
    sha256: str
    size: int
    media_type: str
    restricted: bool
    stored: bool


class DocumentRefused(WalletError):
    """An upload the node refused (or one the portal cannot send): ``document`` names it.
    The code is the node's (``document_too_large``, ``unenrolled_signer``, ...) or the
    portal's (``unsupported_document_type`` for a file of no accepted type,
    ``no_document_store`` for a node without document routes)."""

    def __init__(self, code: str, message: str, document: PendingDocument) -> None:
        super().__init__(code, message)
        self.document = document


def guess_media_type(filename: str, declared: str, data: bytes) -> str | None:
    """The media type of an uploaded file: by its name's extension (``.pdf``, ``.tif``,
    ... as ``fcl doc upload``), else the browser's declared type if the nodes accept it,
    else the first bytes of a binary type; None when none fits (the node would refuse
    it: the portal does not send it)."""
    suffix = PurePosixPath(filename.replace("\\", "/")).suffix.lower()
    short = TYPE_BY_EXTENSION.get(suffix)
    if short is not None:
        return MEDIA_TYPES[short]
    declared = declared.split(";", 1)[0].strip().lower()
    if declared in MEDIA_TYPES.values():
        return declared
    for media_type in BINARY_TYPES:
        if content_problem(media_type, data) is None:
            return media_type
    return None


def _held(client: NodeClient, sha256: str) -> bool | None:
    """Whether the node holds ``sha256``: None (no), False (yes, public) or True (yes,
    restricted). Asked with ``X-FCL-No-Fetch`` so the node does not ask its peers."""
    try:
        client.request_raw("HEAD", f"/v1/documents/{sha256}", headers={HEADER_NO_FETCH: "1"})
    except ClientError as exc:
        return True if exc.status == 403 else None
    return False


def upload_all(client: NodeClient, key: PrivateKey, chain_id: str,
               documents: list[PendingDocument]) -> list[UploadResult]:
    """Upload each document the node does not hold yet, signed by ``key``; raises
    :class:`DocumentRefused` at the first refusal (the documents before it stay stored:
    they are content-addressed, and a later try finds them held)."""
    results: list[UploadResult] = []
    for doc in documents:
        if doc.media_type is None:
            accepted = ", ".join(sorted(TYPE_BY_EXTENSION))
            raise DocumentRefused(
                "unsupported_document_type",
                f"{doc.filename!r} (for {doc.field}) is of no type the nodes accept: name it "
                f"with one of the extensions {accepted}", doc)
        held = _held(client, doc.sha256)
        if held is not None:
            results.append(UploadResult(doc.field, doc.filename, doc.sha256, doc.size,
                                        doc.media_type, held, False))
            continue
        try:
            answer = upload_document(client, key, doc.data, media_type=doc.media_type,
                                     restricted=doc.restricted, chain_id=chain_id)
        except ClientError as exc:
            if exc.code in ("not_found", "method_not_allowed"):
                raise DocumentRefused(
                    "no_document_store",
                    f"the node answers {exc.code} to POST /v1/documents: it keeps no "
                    f"documents, so {doc.filename!r} ({doc.field}) cannot be stored there",
                    doc) from None
            raise DocumentRefused(exc.code, f"{doc.filename!r} ({doc.field}): {exc.message}",
                                  doc) from None
        except WalletError as exc:
            raise DocumentRefused(exc.code, f"{doc.filename!r} ({doc.field}): {exc.message}",
                                  doc) from None
        results.append(UploadResult(doc.field, doc.filename, doc.sha256, doc.size,
                                    doc.media_type, answer.get("restricted") is True,
                                    answer.get("stored") is True))
    return results
