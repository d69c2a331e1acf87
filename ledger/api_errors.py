"""The HTTP error vocabulary of the node's API and the explorer: one table from each
stable error code to its HTTP status, the one error body and its JSON schema.

Why here, in ``ledger``: the node (``node/api``) and the explorer (``explorer/``) both
answer errors, and a client must get the same status for the same code from either (a
``not_found`` or ``unknown_tx`` is a 404 wherever it comes from). The explorer may not
import ``node`` and the node may not import ``explorer`` (``tests/test_layers.py``); the
lowest layer both may import is ``ledger``. This module is plain data and functions (no web
framework), so it adds no dependency to ``ledger``; the codes of ``ledger``'s own
``TxError`` (admission's refusals) are listed here next to the others.

Every error answer is ``{"error": {"code": "<stable code>", "message": "<for people>"}}``
with the status :func:`status_of` gives; a code has exactly one status.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = [
    "DEFAULT_STATUS",
    "ERROR_SCHEMA",
    "PASSTHROUGH_CODES",
    "STATUS_BY_CODE",
    "ApiError",
    "error_body",
    "error_responses",
    "safe_text",
    "status_of",
]

#: code -> HTTP status, for every code the node's API (core routes, certificates, history
#: proofs, the HTTP server's own limits) and the explorer answer.
STATUS_BY_CODE: dict[str, int] = {
    # 400: the request is malformed
    "bad_request": 400,
    "client_disconnected": 400,  # never delivered: the client left before its body ended
    "malformed_json": 400,
    "malformed_tx": 400,
    "malformed_request": 400,
    "bad_tx_id": 400,
    "bad_height": 400,
    "missing_parameter": 400,
    "bad_number": 400,
    "bad_range": 400,
    "bad_id": 400,
    "bad_limit": 400,
    "bad_cursor": 400,
    "bad_query": 400,
    "bad_period": 400,
    "bad_date": 400,  # explorer: ?from= / ?to= of an account statement is not a date
    "bad_tz": 400,  # explorer: ?tz= names no time zone of the tz database
    "invalid_serial": 400,
    "no_certificate": 400,
    "not_json": 400,
    "malformed_certificate": 400,
    "malformed_form": 400,
    # proofs of state (node/api/proofs.py, docs/state-proofs.md "The proof API")
    "bad_key": 400,
    # the free calculation service (POST /v1/calculate, the explorer's calculator):
    # chaincode.calc_service.CALCULATION_CODES; a date that is not one is malformed (400),
    # more plots or sample plots than a calculation takes is too large (413), figures the
    # methodology refuses are unprocessable (422)
    "invalid_date": 400,
    "too_many_measurements": 413,
    "invalid_period": 422,
    "duplicate_measurement": 422,
    "invalid_measurement": 422,
    "unknown_species": 422,
    "duplicate_stratum": 422,
    "invalid_strata": 422,
    "strata_area_mismatch": 422,
    "too_few_samples": 422,
    "implausible_volume": 422,
    "implausible_growth": 422,
    "invalid_parameter": 422,
    "unknown_param": 422,
    "invalid_param": 422,
    # 403: the signer may not write (permissioned admission)
    "unenrolled_signer": 403,
    # 404: nothing there
    "not_found": 404,
    "unknown_tx": 404,
    "unknown_block": 404,
    "unknown_retirement": 404,
    "unknown_account": 404,
    "unknown_org": 404,
    "unknown_project": 404,
    "unknown_plot": 404,
    "unknown_report": 404,
    "unknown_attestation": 404,
    "unknown_batch": 404,
    "unknown_serial": 404,
    "beyond_chain": 404,
    "unknown_chunk": 404,  # state sync: no such chunk in the snapshot (node/api/snapshots.py)
    "units_not_found": 404,
    # 405, 408, 409, 413, 415, 422, 429 (too much from one address or one organisation)
    "method_not_allowed": 405,
    "request_timeout": 408,
    "duplicate_tx": 409,
    "tx_too_large": 413,
    "request_too_large": 413,
    "upload_too_large": 413,
    "too_many_keys": 413,
    "too_many_records": 413,
    "answer_too_large": 413,
    "unsupported_media_type": 415,
    "wrong_chain": 422,
    "bad_signature": 422,
    "too_many_connections_from_address": 429,
    "org_quota_exceeded": 429,
    # 5xx
    "internal_error": 500,
    "mempool_full": 503,
    "admission_busy": 503,
    "halted": 503,
    "too_many_connections": 503,
    "certificate_unavailable": 503,
    "light_unavailable": 503,  # /v1/light/*: this node lacks the blocks (docs/light-client.md)
    "verifier_unavailable": 503,
    "verifier_busy": 503,
    "snapshot_unavailable": 503,  # state sync: the height's state or block cannot be read
}

#: The status of a code a lower layer raised (a ``LedgerError`` reaching a route) that
#: is not in :data:`STATUS_BY_CODE`: the request could not be served as asked.
DEFAULT_STATUS = 400

#: Codes whose status is the web framework's own: ``http_error`` is an HTTP error the
#: framework raised that has no code of ours (its router raises only 404 and 405, which
#: become ``not_found`` and ``method_not_allowed``), answered with the framework's status.
PASSTHROUGH_CODES: frozenset[str] = frozenset({"http_error"})

#: The JSON schema of every error body (both OpenAPI documents use it).
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {
        "type": "object",
        "required": ["code", "message"],
        "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
    }},
}


def status_of(code: str) -> int:
    """The HTTP status of ``code`` (:data:`DEFAULT_STATUS` for a code not in the table)."""
    return STATUS_BY_CODE.get(code, DEFAULT_STATUS)


def safe_text(text: str) -> str:
    """``text`` made encodable as UTF-8: a lone surrogate (which a client can put in a JSON
    object key, and which an error message may quote) becomes ``\\udXXX``."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def error_body(code: str, message: str) -> dict[str, Any]:
    """The body of an error answer: ``{"error": {"code", "message"}}``."""
    return {"error": {"code": code, "message": safe_text(message)}}


class ApiError(Exception):
    """A request refused with a stable ``code``, a ``message`` for people and the code's
    one ``status`` (:func:`status_of`)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status_of(code)


def error_responses(codes: Iterable[str]) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` of a route that may answer ``codes``: one entry per status,
    its description the codes it covers, its body :data:`ERROR_SCHEMA`."""
    by_status: dict[int, list[str]] = {}
    for code in codes:
        names = by_status.setdefault(STATUS_BY_CODE[code], [])
        if code not in names:
            names.append(code)
    return {
        status: {"description": "error codes: " + ", ".join(names),
                 "content": {"application/json": {"schema": ERROR_SCHEMA}}}
        for status, names in sorted(by_status.items())
    }
