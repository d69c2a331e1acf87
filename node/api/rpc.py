"""The node's HTTP API (FastAPI).

Every error, including FastAPI's own (unknown route, wrong method, bad path parameter),
has one JSON shape: ``{"error": {"code": "<stable code>", "message": "<for people>"}}``,
and each code one HTTP status: the table ``ledger.api_errors.STATUS_BY_CODE``, which the
explorer uses too.
Request bodies are limited to 1 MiB before anything is parsed: by ``Content-Length``
when given, and by counting what is actually read.

Routes::

    POST /v1/txs             one signed transaction            -> 202 {"tx_id", "status"}
    POST /v1/txs/batch       {"txs": [...]} (<= 1000)          -> 200 {"results": [...]}
    POST /v1/txs/simulate    {"tx": ...} or {"txs": [...]} (<= 64), "signers" for unsigned
                             ones: a dry run on the committed state -> 200 {"ok", "code",
                             "message", "events", "result", "height", "writes", ...}
    GET  /v1/txs/{id}        {"status": "pending"|"committed", "tx_id", "tx", "height",
                             "index", "result"}                   (404 unknown_tx)
    GET  /v1/blocks/{height} {"block", "commit", "hash", "height"} (404 unknown_block)
    GET  /v1/blocks/latest   the same for the latest block
    POST /v1/calculate       the free calculation service: a monitoring report's figures
                             (chaincode.calc_service; docs/node.md, "Calculation
                             service"): public, unsigned, changes nothing; body <= 256 KiB
    GET  /v1/status          chain id, node, height, tip hash/time, state root,
                             validator set, mempool size; consensus round and step, peers,
                             last commit time, sync state (docs/node.md)
    GET  /healthz            {"status": "ok"} or 503 halted
    GET  /metrics            Prometheus text format (docs/node.md, "Metrics")
    GET  /docs               the API's documentation (Swagger UI, assets bundled:
                             node/api/docs.py), /openapi.json the document

``HEAD`` is answered on every ``GET`` route (status and headers, no body) and every
request writes one access-log line (``ledger.asgi``; docs/node.md, "Access log").

:func:`node_routers` adds, when their modules are installed, ``GET /v1/certificates/{id}``
(``node.api.certificates``), the history proofs ``/v1/history/*``
(``node.api.history``), the state and holding proofs ``/v1/state/*``,
``/v1/holdings/proof`` (``node.api.proofs``), the light-client routes ``/v1/light/*``
(``node.api.light``) and the state-sync snapshots ``/v1/snapshots/*``
(``node.api.snapshots``); ``fcl node start`` also mounts the explorer (``fcl/main.py``, the
one place that may import it).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from chaincode.calc_service import CALCULATION_CODES, MAX_CALC_PLOTS, MAX_CALC_SAMPLES
from chaincode.framework import ChaincodeError
from chaincode.sampling import MAX_SAMPLES
from chaincode.strata import MAX_STRATA
from ledger.api_errors import (
    PASSTHROUGH_CODES,
    STATUS_BY_CODE,
    ApiError,
    error_body,
    error_responses,
    status_of,
)
from ledger.asgi import AccessLogMiddleware, HeadMiddleware
from ledger.errors import LedgerError
from ledger.tx import MAX_SIGNERS
from node.api import certificates, docs, history, light, proofs, snapshots
from node.api.service import VERSION, Node
from node.chain.dryrun import MAX_DRY_RUN_TXS
from node.ops.logs import ACCESS_LOGGER
from node.ops.metrics import CONTENT_TYPE
from node.txpool.admission import MAX_RAW_TX_BYTES, decode_json_flagged

__all__ = [
    "MAX_BATCH_TXS",
    "MAX_BODY_BYTES",
    "MAX_CALC_BODY_BYTES",
    "STATUS_BY_CODE",
    "ApiError",
    "create_app",
    "node_routers",
]

log = logging.getLogger("node.rpc")

MAX_BODY_BYTES = 1024 * 1024
MAX_BATCH_TXS = 1000
#: Largest body of ``POST /v1/calculate``.
MAX_CALC_BODY_BYTES = 256 * 1024
_TX_ID_RE = re.compile(r"^[0-9a-fA-F]{64}\Z")
_HEIGHT_RE = re.compile(r"^[0-9]{1,18}\Z")


def error_response(code: str, message: str, status: int | None = None) -> JSONResponse:
    """The error answer for ``code``: its one status from the shared table
    (``ledger.api_errors``); ``status`` only for a code whose status is the framework's
    (``PASSTHROUGH_CODES``)."""
    if status is None or code not in PASSTHROUGH_CODES:
        status = status_of(code)
    return JSONResponse(error_body(code, message), status_code=status)


async def read_body(request: Request, limit: int, code: str) -> bytes:
    """The request body, refusing (``code``, a 413 code) anything over ``limit`` bytes: first by
    the declared ``Content-Length``, then by what actually arrives."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not (declared.isascii() and declared.isdigit()):
            raise ApiError("bad_request", "Content-Length is not a number")
        if int(declared) > limit:
            raise ApiError(code, f"request body larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise ApiError(code, f"request body larger than {limit} bytes")
            chunks.append(chunk)
    except ClientDisconnect:  # not an error of ours: no traceback, nothing to answer
        raise ApiError("client_disconnected",
                       "the client closed the connection before sending the whole body") from None
    return b"".join(chunks)


_TX_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["payload", "signatures"],
    "additionalProperties": False,
    "properties": {
        "payload": {
            "type": "object",
            "required": ["chain_id", "contract", "method", "args", "nonce", "signers"],
            "additionalProperties": False,
            "properties": {
                "chain_id": {"type": "string"},
                "contract": {"type": "string"},
                "method": {"type": "string"},
                "args": {"type": "object"},
                "nonce": {"type": "string", "minLength": 1, "maxLength": 64},
                "signers": {"type": "array", "items": {"type": "string"}},
            },
        },
        "signatures": {"type": "array", "items": {"type": "string"}},
    },
}


_SIMULATE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "description": 'exactly one of "tx" and "txs"',
    "properties": {
        "tx": {"type": "object", "description": "a transaction as for POST /v1/txs; unsigned: "
               "'signatures' absent or [] and the signers in \"signers\" (or payload.signers)"},
        "txs": {"type": "array", "minItems": 1, "maxItems": MAX_DRY_RUN_TXS,
                "items": {"type": "object"},
                "description": "transactions executed in order on one throw-away state"},
        "signers": {"type": "array", "minItems": 1, "maxItems": MAX_SIGNERS,
                    "items": {"type": "string"},
                    "description": "public keys (hex) an unsigned transaction runs as signed "
                                   "by; each must be an enrolled, active member key"},
    },
}

_SIMULATED_RESULT: dict[str, Any] = {
    "type": "object",
    "required": ["ok", "code", "message", "events", "result", "tx_id"],
    "properties": {
        "ok": {"type": "boolean"}, "code": {"type": "string"}, "message": {"type": "string"},
        "events": {"type": "array", "items": {"type": "object"}},
        "result": {"type": "object"}, "tx_id": {"type": "string"},
        "index": {"type": "integer"},
    },
}

_SIMULATE_ANSWER: dict[str, Any] = {
    "type": "object",
    "required": ["ok", "height", "block_height", "block_time", "writes"],
    "properties": {
        **_SIMULATED_RESULT["properties"],
        "height": {"type": "integer"}, "block_height": {"type": "integer"},
        "block_time": {"type": "integer"}, "writes": {"type": "integer"},
        "results": {"type": "array", "items": _SIMULATED_RESULT},
    },
}


_DEC = {"type": ["string", "integer", "null"],
        "description": "a decimal string (or a whole number), at most 6 places; null = absent"}
_OPT_STR = {"type": ["string", "null"], "description": "null = absent"}
_CALC_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["plots", "period_start", "period_end"],
    "additionalProperties": False,
    "properties": {
        "plots": {"type": "array", "minItems": 1, "maxItems": MAX_CALC_PLOTS, "items": {
            "type": "object",
            "required": ["plot_id", "species", "area_ha"],
            "additionalProperties": False,
            "description": 'exactly one of "volume_end" (census) and "strata" (sampled)',
            "properties": {
                "plot_id": {"type": "string"}, "species": {"type": "string"},
                "area_ha": _DEC, "volume_start": _DEC, "stock_start": _DEC,
                "high_water": _DEC, "volume_end": _DEC,
                "strata": {"type": ["array", "null"], "minItems": 1, "maxItems": MAX_STRATA,
                           "items": {
                    "type": "object",
                    "required": ["stratum_id", "species", "area_ha", "sample_plot_area_ha",
                                 "samples"],
                    "additionalProperties": False,
                    "properties": {
                        "stratum_id": {"type": "string"}, "species": {"type": "string"},
                        "area_ha": _DEC, "sample_plot_area_ha": _DEC, "volume_start": _DEC,
                        "samples": {"type": "array", "minItems": 1, "maxItems": MAX_SAMPLES,
                                    "items": {"type": ["string", "integer"]}},
                    },
                }},
            },
        }},
        "period_start": {"type": "string", "description": "YYYY-MM-DD"},
        "period_end": {"type": "string", "description": "YYYY-MM-DD"},
        "baseline_t_per_year": _DEC, "leakage": _DEC, "project_emissions": _DEC,
        "uncertainty_deduction": _DEC,
        "risk_rating": _OPT_STR,
        "parameters": {"type": ["object", "null"], "description": "overrides of buffer_rates, "
                       "min_sample_plots, sampling_precision_target, sampling_t90, "
                       "species_table (merged by species and field), uncertainty_deduction"},
    },
}


def _error_doc(*codes: str) -> dict[int | str, dict[str, Any]]:
    return error_responses(codes)


def certificate_router(node: Node, builder: Any) -> APIRouter:
    """``GET /v1/certificates/{retirement_id}``: the retirement certificate (canonical JSON)
    built by ``builder`` (a ``node.api.certificates.CertificateBuilder``)."""
    router = APIRouter(tags=["certificates"])

    @router.get(
        "/v1/certificates/{retirement_id}",
        summary="The retirement certificate, for offline verification (fcl verify)",
        description="Format version 2 (custody complete by state proofs) unless"
                    " `version=1` asks for the version-1 format (docs/certificates.md).",
        responses=_error_doc("bad_request", "unknown_retirement", "certificate_unavailable"),
    )
    def get_certificate(retirement_id: str, version: str | None = None) -> Response:
        if version is None:
            chosen = certificates.CERT_VERSION
        elif version in ("1", "2"):
            chosen = int(version)
        else:
            raise ApiError("bad_request", f"version {version[:20]!r} is not a certificate"
                                          " format version: give 1 or 2 (default 2)")
        try:
            cert = builder.build(retirement_id, chosen)
        except certificates.UnknownRetirement as exc:
            raise ApiError("unknown_retirement", str(exc) or "no such retirement") from None
        except certificates.CertificateUnavailable as exc:
            raise ApiError("certificate_unavailable", str(exc)) from None
        return Response(certificates.certificate_bytes(cert), media_type="application/json")

    return router


def node_routers(node: Node, certificate_builder: Any = None) -> list[APIRouter]:
    """The node's routes beside the core ones: certificates and history proofs."""
    builder = certificate_builder or certificates.CertificateBuilder(node.store, node.genesis)
    return [
        certificate_router(node, builder),
        history.create_history_router(
            lambda: node.store, lambda: node.app.history, get_size=lambda: node.app.height
        ),
        proofs.create_proofs_router(node, builder.changes_below),
        light.create_light_router(node.store, builder, node.genesis.validators,
                                  lambda: node.app.height, run=node.readers.run),
        snapshots.create_snapshot_router(
            node.store, lambda: node.app.history, lambda: node.app.height, builder, node.readers.run
        ),
    ]


def create_app(node: Node, *, routers: Sequence[APIRouter] = ()) -> FastAPI:
    """The FastAPI application serving ``node``, with ``routers`` mounted after the core
    routes (see :func:`node_routers`)."""
    app = FastAPI(
        title="Forest Carbon Ledger node",
        version=VERSION,
        description="Submit signed transactions and read committed blocks.",
        docs_url=None,  # served by node.api.docs with its assets bundled
        redoc_url=None,  # ReDoc would load its script from a CDN
    )
    docs.add_docs(app, "Forest Carbon Ledger node")
    # HEAD on every GET route; one access-log line per request (docs/node.md)
    app.add_middleware(HeadMiddleware)
    app.add_middleware(AccessLogMiddleware, logger=ACCESS_LOGGER)

    # -- errors: one shape for everything --------------------------------------------------
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.code, exc.message)

    @app.exception_handler(LedgerError)
    async def _ledger_error(_: Request, exc: LedgerError) -> JSONResponse:
        return error_response(exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        where = ".".join(str(p) for p in errors[0].get("loc", ())) if errors else ""
        what = errors[0].get("msg", "invalid") if errors else "invalid request"
        return error_response("bad_request", f"{where}: {what}" if where else str(what))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(code, str(exc.detail), exc.status_code)

    @app.exception_handler(Exception)
    async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error in %s %s", request.method, request.url.path)
        return error_response("internal_error", "internal error; see the node's log")

    # -- transactions ----------------------------------------------------------------------
    def _accepting() -> None:
        if node.halted is not None:
            raise ApiError("halted", f"the node stopped making blocks: {node.halted}")

    @app.post(
        "/v1/txs",
        status_code=202,
        summary="Submit one signed transaction",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _TX_SCHEMA}},
            }
        },
        responses=_error_doc(
            "malformed_json", "wrong_chain", "duplicate_tx", "tx_too_large", "mempool_full",
            "unenrolled_signer", "org_quota_exceeded", "admission_busy",
        ),
    )
    async def submit_tx(request: Request) -> JSONResponse:
        _accepting()
        # the one raw-size check of a client's transaction (admission relies on it)
        raw = await read_body(request, min(MAX_BODY_BYTES, MAX_RAW_TX_BYTES), "tx_too_large")
        tx_id = await node.submit_raw_async(raw)
        return JSONResponse({"status": "pending", "tx_id": tx_id}, status_code=202)

    @app.post(
        "/v1/txs/batch",
        summary="Submit up to 1000 signed transactions; one outcome each",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["txs"],
                            "additionalProperties": False,
                            "properties": {
                                # any item: a bad one is refused in its own outcome
                                # (200), not by failing the whole batch
                                "txs": {"type": "array", "minItems": 1,
                                        "maxItems": MAX_BATCH_TXS,
                                        "items": {"description": "a signed transaction, "
                                                  "as for POST /v1/txs"}}
                            },
                        }
                    }
                },
            }
        },
        responses=_error_doc("malformed_json", "malformed_request", "request_too_large"),
    )
    async def submit_batch(request: Request) -> JSONResponse:
        _accepting()
        raw = await read_body(request, MAX_BODY_BYTES, "request_too_large")
        body, floats = decode_json_flagged(raw)
        if not isinstance(body, dict) or set(body) != {"txs"} or not isinstance(body["txs"], list):
            raise ApiError("malformed_request", 'a batch is {"txs": [<transaction>, ...]}')
        if not 1 <= len(body["txs"]) <= MAX_BATCH_TXS:
            raise ApiError("malformed_request", f"a batch holds 1..{MAX_BATCH_TXS} transactions")
        return JSONResponse(
            {"results": await node.submit_many_async(body["txs"], floats=floats)})

    @app.post(
        "/v1/txs/simulate",
        summary="Dry run: execute transactions on the latest committed state and throw "
                "the result away",
        description=(
            "A transaction (signed, or unsigned with the request's `signers`), or up to "
            f"{MAX_DRY_RUN_TXS} of them in order on one throw-away overlay, executed as the "
            "next block would execute them (docs/node.md, \"Dry runs\"). A transaction the "
            "contracts refuse is a 200 with `ok: false` and its code; a request that cannot "
            "run is a 4xx. Nothing reaches the mempool, the store or consensus."),
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _SIMULATE_SCHEMA}},
            }
        },
        responses={
            200: {"description": "the would-be result(s)",
                  "content": {"application/json": {"schema": _SIMULATE_ANSWER}}},
            **_error_doc(
                "malformed_json", "malformed_request", "malformed_tx", "wrong_chain",
                "bad_signature", "tx_too_large", "request_too_large", "unenrolled_signer",
                "duplicate_tx", "admission_busy",
            ),
        },
    )
    async def simulate_txs(request: Request) -> JSONResponse:
        raw = await read_body(request, MAX_BODY_BYTES, "request_too_large")
        body, floats = decode_json_flagged(raw)
        return JSONResponse(await node.simulate_async(body, floats=floats))

    @app.get(
        "/v1/txs/{tx_id}",
        summary="A transaction: pending, or committed with its block height, index, result",
        responses=_error_doc("bad_tx_id", "unknown_tx"),
    )
    async def get_tx(tx_id: str) -> Response:
        if not _TX_ID_RE.match(tx_id):
            raise ApiError("bad_tx_id", "a transaction id is 64 hex digits")
        record = node.tx_status(tx_id.lower())
        if record is None:
            raise ApiError("unknown_tx", f"no pending or committed transaction {tx_id.lower()}")
        return Response(record, media_type="application/json")

    # -- blocks ----------------------------------------------------------------------------
    def _block(height: int) -> Response:
        body = node.block_response(height)
        if body is None:
            raise ApiError("unknown_block", f"no block at height {height} (latest is {node.app.height})")
        return Response(body, media_type="application/json")

    @app.get(
        "/v1/blocks/latest",
        summary="The latest committed block with its commit certificate",
        responses=_error_doc("unknown_block"),
    )
    async def latest_block() -> Response:
        return _block(node.app.height)

    @app.get(
        "/v1/blocks/{height}",
        summary="A committed block with its commit certificate",
        responses=_error_doc("bad_height", "unknown_block"),
    )
    async def get_block(height: str) -> Response:
        if not _HEIGHT_RE.match(height) or int(height) < 1:
            raise ApiError("bad_height", "a height is a whole number from 1, or 'latest'")
        return _block(int(height))

    # -- the free calculation service ---------------------------------------------------------
    @app.post(
        "/v1/calculate",
        summary="The free calculation service: a monitoring report's figures, step by step",
        description=(
            "Public and unsigned; changes nothing. The methodology's inputs (plots measured "
            "by census or by sample plots per stratum, the period, baseline, leakage, "
            "project emissions, deduction, risk rating, parameter overrides) in; every "
            "intermediate figure out, computed by the code submit_monitoring_report runs, "
            "with the parameters in force at the latest committed height (docs/node.md, "
            f"\"Calculation service\"). At most {MAX_CALC_PLOTS} plots, "
            f"{MAX_CALC_SAMPLES} sample plots, {MAX_CALC_BODY_BYTES} bytes."),
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _CALC_SCHEMA}},
            }
        },
        responses=_error_doc("malformed_json", "request_too_large", "admission_busy",
                             *CALCULATION_CODES),
    )
    async def calculate(request: Request) -> JSONResponse:
        raw = await read_body(request, MAX_CALC_BODY_BYTES, "request_too_large")
        body, _ = decode_json_flagged(raw)
        try:
            answer = await node.readers.run(node.calculate, body)
        except ChaincodeError as exc:
            raise ApiError(exc.code, exc.message) from None
        return JSONResponse(answer)

    # -- node ------------------------------------------------------------------------------
    @app.get("/v1/status", summary="Chain and node status")
    async def status() -> JSONResponse:
        return JSONResponse(node.status())

    @app.get("/healthz", summary="Liveness: 200 while the node makes progress")
    async def healthz() -> JSONResponse:
        if node.halted is not None:
            raise ApiError("halted", f"block production stopped: {node.halted}")
        return JSONResponse({"status": "ok", "height": node.app.height})

    @app.get(
        "/metrics",
        summary="Metrics in the Prometheus text format",
        response_class=Response,
        responses={200: {"content": {"text/plain": {}}}},
    )
    async def metrics() -> Response:
        registry = node.metrics
        body = registry.render() if registry is not None else ""
        return Response(body, media_type=CONTENT_TYPE)

    for router in routers:
        app.include_router(router)
    return app
