"""The explorer's routes: server-rendered HTML pages, their JSON twins and CSV exports.

:func:`create_explorer_router` returns a FastAPI ``APIRouter`` that the node mounts at
``/``. Pages live under ``/explorer/...`` (``/`` redirects to ``/explorer/``), JSON under
``/v1/explorer/...``, CSV under ``/v1/export/...``; docs/explorer.md lists them.

Every handler catches its own errors: bad input gives a 4xx HTML page (pages) or
``{"error": {"code", "message"}}`` (JSON, CSV) with a stable code
(``ledger.api_errors.STATUS_BY_CODE``, shared with the node's API), never a 500, whatever app mounts the router.
Templates are Jinja2 with autoescaping on: every value from the ledger is untrusted.
The explorer reads committed data only and holds no keys.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import (
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from jinja2 import Environment, FileSystemLoader, Undefined, pass_context
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool

from chaincode.calc_service import calculate, read_parameters
from chaincode.carbon_common import project_key
from chaincode.framework import ORG_PREFIX, ChaincodeError
from chaincode.holding_proof import HOLDING_PROOF_FORMAT, verify_holding_proof
from explorer import svg
from explorer.cadt import DEFAULT_CADT, MAX_CADT, cadt_issuances, cadt_projects, cadt_units
from explorer.calculator import FORM_ROWS, MAX_CALC_UPLOAD, form_fields, form_request
from explorer.data import LINK_KEYS, Reader, url_for
from explorer.export import (
    MAX_EXPORT,
    Export,
    csv_chunks,
    geojson_chunks,
    holdings_export,
    indicators_export,
    issuances_export,
    market_months_export,
    parameter_history_export,
    parameters_export,
    plots_export,
    project_plots_export,
    projects_export,
    retirements_export,
    statement_export,
    take,
    trades_export,
    transfers_export,
)
from explorer.i18n import COOKIE, LANGS, Translator, choose_lang
from explorer.inputs import (
    DEFAULT_PAGE,
    EXPLORER_CODES,
    MAX_PAGE,
    ExplorerError,
    is_hex64,
    parse_after,
    parse_before,
    parse_county,
    parse_eval_period,
    parse_height,
    parse_limit,
    parse_period,
    parse_statement_period,
    parse_tx_id,
)
from explorer.source import ExplorerSource, Verdict, normalise_verdict, verdict_from_error
from explorer.upload import extract_certificate, parse_certificate, read_body
from explorer.zones import DEFAULT_ZONE, TZ_COOKIE, ZONES, choose_zone, local, zone_label
from ledger.api_errors import error_body, error_responses
from ledger.asgi import AccessLogMiddleware, HeadMiddleware, is_head
from ledger.errors import LedgerError

__all__ = ["create_explorer_app", "create_explorer_router"]

log = logging.getLogger("explorer")

_HERE = Path(__file__).parent
#: Transactions per block page (default and most).
MAX_BLOCK_PAGE = 100
#: Uploaded certificates verified at once: verification is CPU work done for anonymous
#: requests (off the event loop, in a worker thread); more uploads wait for a slot at most
#: VERIFY_WAIT_S, then get 503 ``verifier_busy``, so a flood of uploads cannot take every
#: worker thread from the other pages.
MAX_CONCURRENT_VERIFICATIONS = 2
VERIFY_WAIT_S = 5.0
MAX_BLOCK_PAGE_LIMIT = 1000
#: Movements of a statement per page (the account page's, and most of a JSON page).
MAX_STATEMENT_PAGE = 200
#: Movements of one statement's CSV (a period with more: page it with from/to).
MAX_STATEMENT_ROWS = 100_000
STATIC_FILES = {"explorer.css": "text/css; charset=utf-8"}
#: No scripts at all; styles and images only from the explorer itself.
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
_SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


# -- template environment ---------------------------------------------------------------------
def _num(value: Any) -> str:
    if isinstance(value, bool) or value is None or isinstance(value, Undefined):
        return "—" if value is None or isinstance(value, Undefined) else str(value)
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _short(value: Any) -> str:
    text = "" if value is None or isinstance(value, Undefined) else str(value)
    return text if len(text) <= 20 else f"{text[:10]}…{text[-6:]}"


def _zone_of(ctx: Any) -> str:
    zone = ctx.get("tz") if ctx is not None else None
    return zone if isinstance(zone, str) else DEFAULT_ZONE


def _cst_label(ctx: Any) -> str:
    lang = ctx.get("lang") if ctx is not None else None
    return Translator(lang if lang in LANGS else "en")("tz_cst")


@pass_context
def _ts(ctx: Any, value: Any) -> str:
    """Block time (ms) as ``YYYY-MM-DD HH:MM:SS <zone>`` in the reader's zone."""
    moment = local(value, _zone_of(ctx)) if isinstance(value, int) else None
    if moment is None:
        return "—"
    return f"{moment:%Y-%m-%d %H:%M:%S} {zone_label(moment, _zone_of(ctx), _cst_label(ctx))}"


def _micro(value: Any) -> str:
    """Micro-tonnes (an integer, scale 1e-6 t) as decimal tonnes with all six places,
    digits grouped: 2846363139 -> ``2,846.363139``."""
    if not isinstance(value, int) or isinstance(value, bool):
        return "—"
    sign = "-" if value < 0 else ""
    whole, frac = divmod(abs(value), 10**6)
    return f"{sign}{whole:,}.{frac:06d}"


@pass_context
def _iso_ts(ctx: Any, value: Any) -> str:
    """An ISO 8601 time with its offset (``data.iso_time``) as ``YYYY-MM-DD HH:MM`` in the
    reader's zone (filter ``zone`` names the zone)."""
    moment = local(value, _zone_of(ctx)) if isinstance(value, str) else None
    return "—" if moment is None else f"{moment:%Y-%m-%d %H:%M}"


@pass_context
def _local_iso(ctx: Any, value: Any) -> str:
    """An ISO 8601 time (or block time in ms) as ISO 8601 with the reader's zone's offset
    (a ``<time datetime>``)."""
    moment = local(value, _zone_of(ctx))
    return "" if moment is None else moment.isoformat(timespec="seconds")


@pass_context
def _zone(ctx: Any, value: Any) -> str:
    """The label of the reader's zone at the time ``value`` (ISO 8601 or ms): CST /
    北京时间, an abbreviation, or UTC±hh:mm."""
    moment = local(value, _zone_of(ctx))
    return "" if moment is None else zone_label(moment, _zone_of(ctx), _cst_label(ctx))


@pass_context
def _date(ctx: Any, value: Any) -> str:
    """Block time (ms since the epoch) as its date in the reader's zone, ``YYYY-MM-DD``."""
    moment = local(value, _zone_of(ctx)) if isinstance(value, int) else None
    return "—" if moment is None else f"{moment:%Y-%m-%d}"


def _columns(rows: Any) -> list[str]:
    """The sorted union of the keys of a list of objects (a sub-table's columns)."""
    keys: set[str] = set()
    for row in rows if isinstance(rows, list) else []:
        if isinstance(row, dict):
            keys.update(k for k in row if isinstance(k, str))
    return sorted(keys)


def _pretty(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True)


def make_environment() -> Environment:
    """Jinja2 with autoescaping on for every template."""
    env = Environment(
        loader=FileSystemLoader(str(_HERE / "templates")),
        autoescape=True,
        undefined=Undefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(num=_num, short=_short, ts=_ts, pretty=_pretty, micro=_micro,
                       iso_ts=_iso_ts, columns=_columns, date=_date, zone=_zone,
                       local_iso=_local_iso)
    env.globals.update(url=url_for, link_keys=LINK_KEYS)
    return env


# -- responses -------------------------------------------------------------------------------
class CSVResponse(Response):
    """A CSV body (the OpenAPI document then lists ``text/csv`` for the route)."""

    media_type = "text/csv"


GEOJSON = "application/geo+json"


class GeoJSONResponse(Response):
    """A GeoJSON body (the OpenAPI document then lists ``application/geo+json``)."""

    media_type = GEOJSON


#: The OpenAPI answer of the GeoJSON routes: an RFC 7946 FeatureCollection of polygons.
_GEOJSON_DOC: dict[int | str, dict[str, Any]] = {200: {
    "description": "An RFC 7946 FeatureCollection, one Polygon Feature per plot",
    "content": {GEOJSON: {"schema": {
        "type": "object", "required": ["type", "features"],
        "properties": {
            "type": {"const": "FeatureCollection"},
            "features": {"type": "array", "items": {
                "type": "object", "required": ["type", "id", "geometry", "properties"],
                "properties": {
                    "type": {"const": "Feature"},
                    "id": {"type": "string"},
                    "geometry": {"type": "object", "required": ["type", "coordinates"],
                                 "properties": {"type": {"const": "Polygon"},
                                                "coordinates": {"type": "array"}}},
                    "properties": {"type": "object"},
                },
            }},
        },
    }}},
}}


def _error_responses() -> dict[int | str, dict[str, Any]]:
    """The error answers of the JSON and CSV routes, by status, each with its stable codes
    (:data:`explorer.inputs.EXPLORER_CODES`), for the OpenAPI document."""
    return error_responses(sorted(EXPLORER_CODES))


#: The request body of ``POST /v1/explorer/verify``: a certificate as JSON, a form upload
#: with the certificate in its ``certificate`` file field, or a form with the pasted JSON in
#: ``certificate_json`` (explorer/upload.py).
_VERIFY_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"type": "object"}},
            "multipart/form-data": {"schema": {
                "type": "object", "required": ["certificate"],
                "properties": {"certificate": {"type": "string", "format": "binary"}},
            }},
            "application/x-www-form-urlencoded": {"schema": {
                "type": "object", "required": ["certificate_json"],
                "properties": {"certificate_json": {"type": "string"}},
            }},
        },
    },
}


def _error_json(exc: ExplorerError) -> JSONResponse:
    return JSONResponse(
        error_body(exc.code, exc.message),
        status_code=exc.status,
        headers={"X-Content-Type-Options": "nosniff"},
    )


def _as_explorer_error(exc: LedgerError) -> ExplorerError:
    if exc.code == "not_found":
        return ExplorerError("not_found", exc.message)
    if exc.code == "invalid_serial":
        return ExplorerError("invalid_serial", exc.message)
    if exc.code == "invalid_query":
        return ExplorerError("bad_cursor", exc.message)
    # any other code from a lower layer: its status in the shared table (400 if unlisted)
    return ExplorerError(exc.code, exc.message)


def _json_url(kind: str, ident: str | int) -> str:
    """The JSON twin (``/v1/explorer/...``) of a record's page."""
    return "/v1" + url_for(kind, ident)


def _page_links(request: Request, next_cursor: Any, param: str = "after") -> dict[str, Any]:
    """URLs of the next and first pages, keeping the other query parameters."""
    params = {k: v for k, v in request.query_params.items() if k not in (param, "lang")}
    base = request.url.path
    next_url = None
    if next_cursor is not None:
        next_url = f"{base}?{urlencode({**params, param: str(next_cursor)})}"
    first_url = None
    if request.query_params.get(param):
        first_url = f"{base}?{urlencode(params)}" if params else base
    return {"first_url": first_url, "next_url": next_url}


def create_explorer_router(source: ExplorerSource) -> APIRouter:
    """The explorer's routes over ``source`` (mount at ``/``)."""
    reader = Reader(source)
    verify_slots = asyncio.Semaphore(MAX_CONCURRENT_VERIFICATIONS)
    env = make_environment()
    # dates of heights and names of organisations, read from committed data
    env.globals.update(block_iso=reader.block_iso, org_name=reader.org_name)
    router = APIRouter(responses=_error_responses())
    genesis = source.genesis

    # -- plumbing --------------------------------------------------------------------------
    def lang_of(request: Request) -> tuple[str, bool]:
        query = request.query_params.get("lang")
        lang = choose_lang(
            query, request.cookies.get(COOKIE), request.headers.get("accept-language")
        )
        return lang, query in LANGS

    def zone_of(request: Request, strict: bool = True) -> tuple[str, bool]:
        """The reader's time zone and whether to remember it; ``strict``: a bad ``?tz=``
        is refused (``bad_tz``), else ignored (an error page must still render)."""
        query = request.query_params.get("tz")
        cookie = request.cookies.get(TZ_COOKIE)
        try:
            return choose_zone(query, cookie, source.time_zone)
        except ExplorerError:
            if strict:
                raise
            return choose_zone(None, cookie, source.time_zone)

    def render(request: Request, template: str, http_status: int = 200, *,
               strict_tz: bool = True, **context: Any) -> Response:
        lang, set_cookie = lang_of(request)
        zone, set_zone = zone_of(request, strict_tz)
        other = "en" if lang == "zh" else "zh"
        params = {k: v for k, v in request.query_params.items() if k != "lang"}
        params["lang"] = other
        tr = Translator(lang)
        body = env.get_template(template).render(
            t=tr,
            v=tr.value,
            lang=lang,
            tz=zone,
            tz_choices=ZONES if zone in ZONES else (zone, *ZONES),
            tz_keep=[(k, v) for k, v in request.query_params.items() if k not in ("tz", "lang")],
            page_path=request.url.path,
            lang_switch_url=f"{request.url.path}?{urlencode(params)}",
            chain_id=genesis.chain_id,
            footer_genesis_hash=genesis.hash,
            search_q=context.pop("search_q", None),
            **context,
        )
        headers = dict(_SECURITY_HEADERS)
        headers["Content-Language"] = "zh-CN" if lang == "zh" else "en"
        headers["Vary"] = "Cookie, Accept-Language"
        response = HTMLResponse(body, status_code=http_status, headers=headers)
        if set_cookie:
            response.set_cookie(COOKIE, lang, max_age=365 * 86400, samesite="lax", httponly=True)
        if set_zone:
            response.set_cookie(TZ_COOKIE, zone, max_age=365 * 86400, samesite="lax",
                                httponly=True)
        return response

    def error_page(request: Request, exc: ExplorerError) -> Response:
        return render(
            request, "error.html", exc.status, strict_tz=False, code=exc.code,
            message=exc.message, status=exc.status, search_q=request.query_params.get("q"),
        )

    def html(request: Request, build: Callable[[], Response]) -> Response:
        try:
            return build()
        except ExplorerError as exc:
            return error_page(request, exc)
        except LedgerError as exc:
            return error_page(request, _as_explorer_error(exc))

    def api(build: Callable[[], Any]) -> Response:
        try:
            value = build()
        except ExplorerError as exc:
            return _error_json(exc)
        except LedgerError as exc:
            return _error_json(_as_explorer_error(exc))
        if isinstance(value, Response):
            return value
        return JSONResponse(value)

    def q(request: Request, name: str) -> str | None:
        return request.query_params.get(name)

    def limit_of(request: Request, default: int = DEFAULT_PAGE, maximum: int = MAX_PAGE) -> int:
        return parse_limit(q(request, "limit"), default, maximum)

    def _list_routes(
        name: str,
        summary: str,
        read: Callable[[Request], dict[str, Any]],
        cursor: str = "after",
        extra: Callable[[Request], dict[str, Any]] | None = None,
    ) -> None:
        """A paged list: the page ``/explorer/<name>`` (``<name>.html``, plus ``extra``'s
        context) and its JSON twin ``/v1/explorer/<name>``, both from ``read(request)``;
        ``cursor`` is the query parameter that pages."""

        def page(request: Request) -> Response:
            def build() -> Response:
                d = read(request)
                more = {} if extra is None else extra(request)
                return render(request, f"{name}.html", d=d, json_url=f"/v1/explorer/{name}",
                              **more, **_page_links(request, d["next"], cursor))

            return html(request, build)

        def as_json(request: Request) -> Response:
            return api(lambda: read(request))

        router.add_api_route(f"/explorer/{name}", page, methods=["GET"], name=f"{name}_page",
                             include_in_schema=False)
        router.add_api_route(f"/v1/explorer/{name}", as_json, methods=["GET"],
                             name=f"{name}_json", summary=summary)

    # -- entry points ------------------------------------------------------------------------
    @router.get("/", include_in_schema=False)
    def root() -> Response:
        return RedirectResponse("/explorer/", status_code=307)

    @router.get("/explorer", include_in_schema=False)
    def explorer_root() -> Response:
        return RedirectResponse("/explorer/", status_code=307)

    @router.get("/explorer/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        media = STATIC_FILES.get(name)
        if media is None:
            return _error_json(ExplorerError("not_found", f"no static file {name!r}"))
        data = (_HERE / "static" / name).read_bytes()
        return Response(data, media_type=media, headers={"Cache-Control": "public, max-age=3600",
                                                         "X-Content-Type-Options": "nosniff"})

    # -- dashboard ---------------------------------------------------------------------------
    def chart(rows: list[dict[str, int]], tr: Translator) -> Markup:
        return svg.vintage_chart(rows, issued_label=tr("issued"), retired_label=tr("retired"))

    @router.get("/explorer/", include_in_schema=False)
    def dashboard_page(request: Request) -> Response:
        def build() -> Response:
            d = reader.dashboard()
            tr = Translator(lang_of(request)[0])
            return render(request, "dashboard.html", d=d, chart=chart(d["vintages"], tr))

        return html(request, build)

    @router.get("/v1/explorer/dashboard", summary="Explorer: height, totals, validators, recent blocks")
    def dashboard_json() -> Response:
        return api(reader.dashboard)

    # -- blocks and transactions ---------------------------------------------------------------
    _list_routes(
        "blocks", "Explorer: block summaries, newest first",
        lambda r: reader.blocks(parse_before(q(r, "before")), limit_of(r)), cursor="before",
    )

    @router.get("/explorer/blocks/{height}", include_in_schema=False)
    def block_page(request: Request, height: str) -> Response:
        def build() -> Response:
            b = reader.block(_height_or_hash(height), parse_after(q(request, "after")),
                             limit_of(request, MAX_BLOCK_PAGE, MAX_BLOCK_PAGE_LIMIT))
            return render(request, "block.html", b=b, json_url=f"/v1/explorer/blocks/{b['height']}",
                          **_page_links(request, b["next"]))

        return html(request, build)

    @router.get("/v1/explorer/blocks/{height}", summary="Explorer: one block with its txs and commit")
    def block_json(request: Request, height: str) -> Response:
        return api(lambda: reader.block(_height_or_hash(height), parse_after(q(request, "after")),
                                        limit_of(request, MAX_BLOCK_PAGE, MAX_BLOCK_PAGE_LIMIT)))

    def _height_or_hash(text: str) -> int:
        if is_hex64(text):
            found = reader.block_by_hash(text)
            if found is None:
                raise ExplorerError("unknown_block", f"no block with hash {text.lower()}")
            return found
        return parse_height(text)

    @router.get("/explorer/txs/{tx_id}", include_in_schema=False)
    def tx_page(request: Request, tx_id: str) -> Response:
        def build() -> Response:
            x = reader.tx(parse_tx_id(tx_id))
            return render(request, "tx.html", x=x, json_url=f"/v1/explorer/txs/{x['tx_id']}")

        return html(request, build)

    @router.get("/v1/explorer/txs/{tx_id}", summary="Explorer: one committed transaction")
    def tx_json(tx_id: str) -> Response:
        return api(lambda: reader.tx(parse_tx_id(tx_id)))

    # -- organisations and accounts ----------------------------------------------------------
    _list_routes(
        "orgs", "Explorer: organisations with their roles",
        lambda r: reader.orgs(parse_after(q(r, "after")), limit_of(r)),
    )

    def read_statement(request: Request, account: str, cursor: str = "after",
                       limit: int | None = None) -> dict[str, Any]:
        kind, first, last = parse_statement_period(q(request, "period"), q(request, "from"),
                                                   q(request, "to"))
        return reader.statement(
            account, kind, first, last, parse_after(q(request, cursor)),
            limit if limit is not None else limit_of(request, MAX_STATEMENT_PAGE,
                                                     MAX_STATEMENT_PAGE))

    def statement_query(s: dict[str, Any], **over: str) -> str:
        """The query string of a statement (its period, or the ``over`` values)."""
        params = ({"from": s["from"], "to": s["to"]} if s["period"] == "custom"
                  else {"period": s["period"], "from": s["from"]})
        return urlencode({**params, **over})

    @router.get("/explorer/accounts/{account}", include_in_schema=False)
    def account_page(request: Request, account: str) -> Response:
        def build() -> Response:
            a = reader.account(account, parse_after(q(request, "after")), limit_of(request))
            st = read_statement(request, account, "moves_after", MAX_STATEMENT_PAGE)
            keep = {k: v for k, v in request.query_params.items()
                    if k not in ("moves_after", "lang", "tz")}
            more_url = (None if st["next"] is None else
                        f"{request.url.path}?{urlencode({**keep, 'moves_after': st['next']})}"
                        "#statement")
            base = request.url.path

            def period_url(day: str | None) -> str | None:
                if day is None:
                    return None
                return f"{base}?{urlencode({'period': st['period'], 'from': day})}#statement"

            return render(request, "account.html", a=a, st=st,
                          json_url=_json_url("account", a["account"]),
                          statement_json_url=f"{_json_url('account', a['account'])}/statement?"
                                             + statement_query(st),
                          statement_csv_url="/v1/export/statement.csv?"
                                            + urlencode({"account": a["account"]}) + "&"
                                            + statement_query(st),
                          statement_more_url=more_url,
                          previous_period_url=period_url(st["previous"]),
                          next_period_url=period_url(st["following"]),
                          **_page_links(request, a["holdings"]["next"]))

        return html(request, build)

    @router.get("/v1/explorer/accounts/{account}/statement",
                summary="Explorer: an account's statement for a period "
                        "(?period=month|quarter|year, ?from=, ?to=, ?after=, ?limit=)")
    def statement_json(request: Request, account: str) -> Response:
        return api(lambda: read_statement(request, account))

    @router.get("/v1/explorer/accounts/{account}", summary="Explorer: an account's organisation and holdings")
    def account_json(request: Request, account: str) -> Response:
        return api(lambda: reader.account(account, parse_after(q(request, "after")), limit_of(request)))

    @router.get("/explorer/buffer-pool", include_in_schema=False)
    def buffer_page(request: Request) -> Response:
        def build() -> Response:
            d = reader.buffer_pool(limit_of(request))
            return render(request, "buffer_pool.html", d=d,
                          json_url="/v1/explorer/buffer-pool")

        return html(request, build)

    @router.get("/v1/explorer/buffer-pool",
                summary="Explorer: the buffer pool per project, reversals, loss events, compensation")
    def buffer_json(request: Request) -> Response:
        return api(lambda: reader.buffer_pool(limit_of(request)))

    # -- projects, plots, reports, attestations --------------------------------------------------
    _list_routes(
        "projects", "Explorer: projects by id with their pipeline (?status=, ?county=)",
        lambda r: reader.projects(parse_after(q(r, "after")), limit_of(r),
                                  q(r, "status") or None, parse_county(q(r, "county"))),
        extra=lambda r: {"status": q(r, "status") or "", "county": q(r, "county") or ""},
    )

    def legend(plots: list[dict[str, Any]], tr: Translator) -> Markup:
        return svg.map_legend(plots, plot_label=tr("map_plot"), scale_label=tr("map_scale"),
                              title=tr("map_legend"))

    @router.get("/explorer/projects/{project_id}", include_in_schema=False)
    def project_page(request: Request, project_id: str) -> Response:
        def build() -> Response:
            d = reader.project(project_id, limit_of(request, MAX_PAGE))
            tr = Translator(lang_of(request)[0])
            plots = reader.plots_of(d["project"], svg.MAX_MAP_PLOTS)
            return render(
                request, "project.html", d=d,
                plot_map=svg.plot_map(plots), map_legend=legend(plots, tr),
                chart=chart(d["vintages"], tr),
                json_url=_json_url("project", d["project"]["id"]),
            )

        return html(request, build)

    @router.get("/v1/explorer/projects/{project_id}", summary="Explorer: a project with plots, periods, attestations, batches")
    def project_json(request: Request, project_id: str) -> Response:
        return api(lambda: reader.project(project_id, limit_of(request, MAX_PAGE)))

    @router.get("/v1/explorer/projects/{project_id}/stocks",
                summary="Explorer: a project's plot stocks, high-water marks, reversals and compensation")
    def project_stocks_json(request: Request, project_id: str) -> Response:
        return api(lambda: reader.project_stocks(project_id, parse_after(q(request, "after")),
                                                 limit_of(request)))

    @router.get("/explorer/projects/{project_id}/stocks", include_in_schema=False)
    def project_stocks_page(request: Request, project_id: str) -> Response:
        def build() -> Response:
            d = reader.project_stocks(project_id, parse_after(q(request, "after")),
                                      limit_of(request))
            return render(request, "stocks.html", d=d,
                          json_url="/v1" + url_for("stocks", d["project_id"]),
                          **_page_links(request, d["next"]))

        return html(request, build)

    def _record_routes(kind: str, template: str, read: Callable[[str], dict[str, Any]]) -> None:
        plural = f"{kind}s"

        def page(request: Request, ident: str) -> Response:
            def build() -> Response:
                d = read(ident)
                extra: dict[str, Any] = {}
                if kind == "plot":
                    extra["plot_map"] = svg.plot_map([d["plot"]])
                    extra["map_legend"] = legend([d["plot"]], Translator(lang_of(request)[0]))
                return render(request, template, d=d,
                              json_url=_json_url(kind, ident),
                              **extra)

            return html(request, build)

        def as_json(ident: str) -> Response:
            return api(lambda: read(ident))

        router.add_api_route(f"/explorer/{plural}/{{ident}}", page, methods=["GET"],
                             include_in_schema=False)
        router.add_api_route(f"/v1/explorer/{plural}/{{ident}}", as_json, methods=["GET"],
                             summary=f"Explorer: one {kind}")

    _record_routes("plot", "plot.html", reader.plot)
    _record_routes("report", "report.html", reader.report)
    _record_routes("attestation", "attestation.html", reader.attestation)

    # -- issuance --------------------------------------------------------------------------------
    def vintage_context(request: Request) -> dict[str, Any]:
        vintages = reader.vintages()
        return {"chart": chart(vintages, Translator(lang_of(request)[0])), "vintages": vintages}

    _list_routes(
        "batches", "Explorer: issuance batches with unit counts",
        lambda r: reader.batches(q(r, "project") or None, parse_after(q(r, "after")), limit_of(r)),
        extra=vintage_context,
    )

    @router.get("/v1/explorer/vintages", summary="Explorer: units issued and retired per vintage")
    def vintages_json() -> Response:
        return api(lambda: {"vintages": reader.vintages()})

    @router.get("/explorer/batches/{batch_id}", include_in_schema=False)
    def batch_page(request: Request, batch_id: str) -> Response:
        def build() -> Response:
            d = reader.batch(batch_id, parse_after(q(request, "after")), limit_of(request))
            return render(request, "batch.html", d=d,
                          json_url=_json_url("batch", d["batch"]["id"]),
                          **_page_links(request, d["next"]))

        return html(request, build)

    @router.get("/v1/explorer/batches/{batch_id}", summary="Explorer: one issuance batch and its ranges")
    def batch_json(request: Request, batch_id: str) -> Response:
        return api(lambda: reader.batch(batch_id, parse_after(q(request, "after")), limit_of(request)))

    # -- retirements, certificates, trace -----------------------------------------------------
    def _retirement_filters(request: Request) -> tuple[str | None, str | None]:
        enterprise = q(request, "enterprise") or None
        return enterprise, parse_period(q(request, "period"))

    _list_routes(
        "retirements", "Explorer: retirements in commit order",
        lambda r: reader.retirements(*_retirement_filters(r), parse_after(q(r, "after")),
                                     limit_of(r)),
    )

    @router.get("/v1/explorer/retirements/{retirement_id}", summary="Explorer: one retirement record")
    def retirement_json(retirement_id: str) -> Response:
        return api(lambda: reader.retirement(retirement_id))

    # the configured base URL, never the request's Host header (a client must not choose
    # where a printed certificate's QR code and verify link point)
    public_base = source.public_url.rstrip("/") if source.public_url else ""

    @router.get("/explorer/certificates/{retirement_id}", include_in_schema=False)
    def certificate_page(request: Request, retirement_id: str) -> Response:
        def build() -> Response:
            d = reader.retirement(retirement_id)
            r = d["retirement"]
            verify_url = f"{public_base}{url_for('verify', r['id'])}"
            projects = {pid: reader.state(project_key(pid)) for pid in r.get("project_ids", [])}
            org = reader.state(ORG_PREFIX + r["enterprise"]) or {}
            return render(
                request, "certificate.html", d=d,
                qr=svg.qr_svg(verify_url) if public_base else None,
                verify_url=verify_url, projects=projects, enterprise_name=org.get("name"),
                block_hash=source.store.get_block_hash(r["height"]),
                genesis_hash=genesis.hash,
                download_url=f"/v1/explorer/certificates/{r['id']}",
            )

        return html(request, build)

    def build_certificate(retirement_id: str) -> dict[str, Any]:
        rid = reader.retirement(retirement_id)["retirement"]["id"]
        try:
            cert = source.build_certificate(rid)
        except LookupError as exc:
            raise ExplorerError("unknown_retirement", f"no retirement {rid}: {exc}") from None
        except LedgerError as exc:
            if exc.code in ("not_found", "unknown_retirement", "unknown_tx"):
                raise ExplorerError("unknown_retirement", exc.message) from None
            raise ExplorerError("certificate_unavailable", exc.message) from None
        except NotImplementedError as exc:
            raise ExplorerError("certificate_unavailable", str(exc) or "no certificates") from None
        if not isinstance(cert, Mapping):
            raise ExplorerError("certificate_unavailable", "the node built no certificate object")
        return dict(cert)

    @router.get("/v1/explorer/certificates/{retirement_id}", summary="The retirement certificate (JSON, for offline verification)")
    def certificate_json(retirement_id: str) -> Response:
        def build() -> Response:
            cert = build_certificate(retirement_id)
            rid = retirement_id.lower()
            return JSONResponse(cert, headers={
                "Content-Disposition": f'attachment; filename="retirement-{rid}.json"',
            })

        return api(build)

    def run_verify(cert: dict[str, Any]) -> Verdict:
        if cert.get("format") == HOLDING_PROOF_FORMAT:  # docs/state-proofs.md "Holding proofs"
            held = normalise_verdict(verify_holding_proof(cert, genesis=genesis))
            details = None if held.details is None else dict(held.details, kind="holding")
            return Verdict(held.ok, held.checks, held.summary, held.code, details)
        try:
            return normalise_verdict(source.verify(cert))
        except NotImplementedError as exc:
            raise ExplorerError("verifier_unavailable", str(exc) or "no verifier") from None
        except (LedgerError, ValueError, KeyError, TypeError, IndexError) as exc:
            return verdict_from_error(exc)

    @router.get("/explorer/verify", include_in_schema=False)
    def verify_form(request: Request) -> Response:
        return html(request, lambda: render(request, "verify.html", verdict=None,
                                            genesis_hash=genesis.hash))

    async def _uploaded(request: Request) -> Verdict:
        body = await read_body(request)
        cert = parse_certificate(
            extract_certificate(request.headers.get("content-type", ""), body)
        )
        try:
            await asyncio.wait_for(verify_slots.acquire(), VERIFY_WAIT_S)
        except TimeoutError:
            raise ExplorerError("verifier_busy", "too many certificates are being verified; "
                                "try again in a few seconds") from None
        try:
            return await run_in_threadpool(run_verify, cert)
        finally:
            verify_slots.release()

    @router.post("/explorer/verify", include_in_schema=False)
    async def verify_upload_page(request: Request) -> Response:
        try:
            verdict = await _uploaded(request)
        except ExplorerError as exc:
            return error_page(request, exc)
        return render(request, "verify.html", verdict=verdict.to_json(), genesis_hash=genesis.hash)

    @router.post("/v1/explorer/verify", openapi_extra=_VERIFY_BODY,
                 summary="Verify a retirement certificate (JSON body or multipart upload)")
    async def verify_upload_json(request: Request) -> Response:
        try:
            verdict = await _uploaded(request)
        except ExplorerError as exc:
            return _error_json(exc)
        return JSONResponse(dict(verdict.to_json(), genesis_hash=genesis.hash))

    def verify_by_id(retirement_id: str) -> dict[str, Any]:
        cert = build_certificate(retirement_id)
        return dict(run_verify(cert).to_json(), retirement_id=retirement_id.lower(),
                    genesis_hash=genesis.hash)

    @router.get("/explorer/verify/{retirement_id}", include_in_schema=False)
    def verify_id_page(request: Request, retirement_id: str) -> Response:
        def build() -> Response:
            out = verify_by_id(retirement_id)
            return render(request, "verify.html", verdict=out, subject=out["retirement_id"],
                          genesis_hash=genesis.hash)

        return html(request, build)

    @router.get("/v1/explorer/verify/{retirement_id}", summary="Build and verify the certificate of a retirement")
    def verify_id_json(retirement_id: str) -> Response:
        return api(lambda: verify_by_id(retirement_id))

    @router.get("/explorer/trace/{serial}", include_in_schema=False)
    def trace_page(request: Request, serial: str) -> Response:
        def build() -> Response:
            d = reader.trace(serial)
            return render(request, "trace.html", d=d,
                          json_url=_json_url("trace", d["serial"]))

        return html(request, build)

    @router.get("/explorer/trace", include_in_schema=False)
    def trace_query(request: Request) -> Response:
        serial = q(request, "serial") or ""
        return html(request, lambda: RedirectResponse(url_for("trace", reader.trace(serial)["serial"]), 303))

    @router.get("/v1/explorer/trace/{serial}", summary="Explorer: the trace of one unit")
    def trace_json(serial: str) -> Response:
        return api(lambda: reader.trace(serial))

    # -- search ------------------------------------------------------------------------------
    @router.get("/explorer/search", include_in_schema=False)
    def search_page(request: Request) -> Response:
        return html(request, lambda: RedirectResponse(reader.search(q(request, "q") or "")["url"], 303))

    @router.get("/v1/explorer/search", summary="Explorer: where a search leads")
    def search_json(request: Request) -> Response:
        return api(lambda: reader.search(q(request, "q") or ""))

    # -- the parameter register ------------------------------------------------------------
    _list_routes(
        "params", "Explorer: policy parameters in force, each with the setting that set it",
        lambda r: reader.params(parse_after(q(r, "after")), limit_of(r)),
    )

    @router.get("/explorer/params/{name}", include_in_schema=False)
    def param_page(request: Request, name: str) -> Response:
        def build() -> Response:
            d = reader.param(name, parse_after(q(request, "after")), limit_of(request))
            return render(request, "param.html", d=d, json_url=f"/v1/explorer/params/{d['name']}",
                          **_page_links(request, d["next"]))

        return html(request, build)

    @router.get("/v1/explorer/params/{name}",
                summary="Explorer: one policy parameter, its value in force and its history")
    def param_json(request: Request, name: str) -> Response:
        return api(lambda: reader.param(name, parse_after(q(request, "after")), limit_of(request)))

    # -- the market --------------------------------------------------------------------------
    def read_market(request: Request) -> dict[str, Any]:
        return reader.market(parse_after(q(request, "listings_after")),
                             q(request, "trades_before"), limit_of(request))

    @router.get("/explorer/market", include_in_schema=False)
    def market_page(request: Request) -> Response:
        def build() -> Response:
            d = read_market(request)
            tr = Translator(lang_of(request)[0])
            chart = svg.market_chart(d["months"], volume_label=tr("market_volume"),
                                     price_label=tr("market_avg_price"))
            return render(request, "market.html", d=d, chart=chart,
                          json_url="/v1/explorer/market",
                          listings=_page_links(request, d["listings_next"], "listings_after"),
                          trades=_page_links(request, d["trades_next"], "trades_before"))

        return html(request, build)

    @router.get("/v1/explorer/market",
                summary="Explorer: open listings, trades newest first, price and volume per month")
    def market_json(request: Request) -> Response:
        return api(lambda: read_market(request))

    # -- policy indicators -------------------------------------------------------------------
    def read_indicators(request: Request) -> dict[str, Any]:
        return reader.indicators(parse_eval_period(q(request, "period")),
                                 parse_county(q(request, "county")))

    @router.get("/explorer/indicators", include_in_schema=False)
    def indicators_page(request: Request) -> Response:
        def build() -> Response:
            d = read_indicators(request)
            tr = Translator(lang_of(request)[0])
            series = [tr("ind_issued"), tr("ind_traded"), tr("ind_retired")]

            def bars(rows: list[dict[str, Any]], key: str) -> list[tuple[str, list[int]]]:
                return [(str(r[key] or tr("ind_all_counties")),
                         [r["issued"], r["traded"], r["retired"]]) for r in rows]

            params = {"county": d["county"]} if d["county"] else {}
            return render(
                request, "indicators.html", d=d,
                county_chart=svg.bar_chart(bars(d["counties"], "county"), series,
                                           label=tr("ind_by_county")),
                period_chart=svg.bar_chart(bars(d["periods"], "period"), series,
                                           label=tr("ind_by_period")),
                json_url="/v1/explorer/indicators?" + urlencode({"period": d["period"], **params}),
                csv_url="/v1/export/indicators.csv?" + urlencode({"period": d["period"], **params}),
            )

        return html(request, build)

    @router.get("/v1/explorer/indicators",
                summary="Explorer: policy indicators per county for an evaluation period")
    def indicators_json(request: Request) -> Response:
        return api(lambda: read_indicators(request))

    # -- exports: CSV, GeoJSON, CAD Trust JSON (explorer/export.py, explorer/cadt.py) ----------
    def stream(request: Request, export: Export, media_type: str,
               render_chunks: Callable[[Iterable[tuple[str, Any]]], Iterator[bytes]],
               filename: str | None = None) -> Response:
        """The export streamed as it is read: everything after ``?after=``, or with
        ``?limit=`` one page of that many records and ``X-Next-Cursor``."""
        after = parse_after(q(request, "after"))
        if after is not None and not export.cursor_ok(after):
            raise ExplorerError("bad_cursor", "after is a cursor returned as X-Next-Cursor")
        headers = {"Content-Disposition": f'attachment; filename="{filename or export.filename}"',
                   "X-Content-Type-Options": "nosniff"}
        records: Iterable[tuple[str, Any]]
        if q(request, "limit"):
            try:
                records, cursor = take(export.records(after),
                                       limit_of(request, MAX_EXPORT, MAX_EXPORT))
            except LedgerError as exc:
                raise _as_explorer_error(exc) from None
            if cursor is not None:
                headers["X-Next-Cursor"] = cursor
        else:
            records = export.records(after)
        if is_head(request.scope):  # the same status and headers, no body to produce
            return StreamingResponse(iter(()), media_type=media_type, headers=headers)

        def body() -> Iterator[bytes]:
            try:
                yield from render_chunks(records)
            except Exception:  # the status is sent: the file ends short; say so in the log
                log.exception("export %s failed while streaming", export.filename)

        return StreamingResponse(body(), media_type=media_type, headers=headers)

    def csv_route(path: str, summary: str, make: Callable[[Request], Export]) -> None:
        def route(request: Request) -> Response:
            def build() -> Response:
                export = make(request)
                return stream(request, export, "text/csv; charset=utf-8",
                              lambda records: csv_chunks(export.columns, records))

            return api(build)

        router.add_api_route(path, route, methods=["GET"], response_class=CSVResponse,
                             summary=summary, name=path.rsplit("/", 1)[-1])

    csv_route("/v1/export/projects.csv", "CSV: projects by id", lambda r: projects_export(reader))
    csv_route("/v1/export/plots.csv", "CSV: plots by id", lambda r: plots_export(reader))
    csv_route("/v1/export/issuances.csv", "CSV: issuance batches with current unit counts",
              lambda r: issuances_export(reader, q(r, "project") or None))
    csv_route("/v1/export/retirements.csv", "CSV: retirements, one row per serial range",
              lambda r: retirements_export(reader, *_retirement_filters(r)))
    csv_route("/v1/export/holdings.csv",
              "CSV: unit ranges held, per account and state (?account= for one account)",
              lambda r: holdings_export(reader, q(r, "account") or None))
    def statement_csv(request: Request) -> Export:
        account = q(request, "account")
        if not account:
            raise ExplorerError("bad_id", "give the account: ?account=<organisation id>")
        return statement_export(reader, read_statement(request, account, "_", MAX_STATEMENT_ROWS))

    csv_route("/v1/export/statement.csv",
              "CSV: an account's statement for a period: opening balance, every movement, "
              "closing balance (?account=, ?period=, ?from=, ?to=)", statement_csv)
    csv_route("/v1/export/trades.csv", "CSV: exchange trades, one row per serial range",
              lambda r: trades_export(reader))
    csv_route("/v1/export/transfers.csv", "CSV: off-exchange transfers, one row per serial range",
              lambda r: transfers_export(reader))
    csv_route("/v1/export/market-months.csv",
              "CSV: exchange volume and prices per month (every month with a trade)",
              lambda r: market_months_export(reader))
    csv_route("/v1/export/indicators.csv",
              "CSV: policy indicators per county for an evaluation period, and the total",
              lambda r: indicators_export(read_indicators(r)))
    csv_route("/v1/export/parameters.csv", "CSV: policy parameters in force",
              lambda r: parameters_export(reader))
    csv_route("/v1/export/parameter-history.csv", "CSV: every change of every policy parameter",
              lambda r: parameter_history_export(reader))

    def geojson(request: Request, export: Export) -> Response:
        name = export.filename.removesuffix(".csv") + ".geojson"
        return stream(request, export, GEOJSON, geojson_chunks, name)

    @router.get("/v1/explorer/plots.geojson", response_class=GeoJSONResponse,
                responses=_GEOJSON_DOC, summary="GeoJSON (RFC 7946): every plot as a Feature")
    def plots_geojson(request: Request) -> Response:
        return api(lambda: geojson(request, plots_export(reader)))

    @router.get("/v1/explorer/projects/{project_id}/plots.geojson",
                response_class=GeoJSONResponse, responses=_GEOJSON_DOC,
                summary="GeoJSON (RFC 7946): the plots of one project")
    def project_plots_geojson(request: Request, project_id: str) -> Response:
        return api(lambda: geojson(request, project_plots_export(reader, project_id)))

    def cadt_limit(request: Request) -> int:
        return limit_of(request, DEFAULT_CADT, MAX_CADT)

    @router.get("/v1/export/cadt/projects",
                summary="CAD Trust-shaped JSON: projects (data model v2 field names)")
    def cadt_projects_json(request: Request) -> Response:
        return api(lambda: cadt_projects(reader, public_base, parse_after(q(request, "after")),
                                         cadt_limit(request)))

    @router.get("/v1/export/cadt/issuances",
                summary="CAD Trust-shaped JSON: issuances (data model v2 field names)")
    def cadt_issuances_json(request: Request) -> Response:
        return api(lambda: cadt_issuances(reader, public_base, q(request, "project") or None,
                                          parse_after(q(request, "after")), cadt_limit(request)))

    @router.get("/v1/export/cadt/units",
                summary="CAD Trust-shaped JSON: unit blocks (data model v2 field names)")
    def cadt_units_json(request: Request) -> Response:
        return api(lambda: cadt_units(reader, public_base, q(request, "project") or None,
                                      parse_after(q(request, "after")), cadt_limit(request)))

    # -- the free calculator (issue 14; explorer/calculator.py, docs/explorer.md) ----------------
    calc_slots = asyncio.Semaphore(MAX_CONCURRENT_VERIFICATIONS)

    def ledger_parameters() -> tuple[dict[str, Any], int]:
        with source.store.snapshot() as view:
            return read_parameters(view), view.latest_height()

    def run_calculation(body: dict[str, Any]) -> dict[str, Any]:
        params, height = ledger_parameters()
        return calculate(body, params, height=height)

    def calculator_render(request: Request, http_status: int = 200, *,
                          result: dict[str, Any] | None = None,
                          error: ExplorerError | None = None,
                          fields: dict[str, str] | None = None) -> Response:
        params, height = ledger_parameters()
        table, rates = params.get("species_table"), params.get("buffer_rates")
        return render(request, "calculator.html", http_status, result=result, error=error,
                      form=fields or {}, rows=range(FORM_ROWS), height=height,
                      species=sorted(table) if isinstance(table, dict) else [],
                      ratings=sorted(rates) if isinstance(rates, dict) else [])

    @router.get("/explorer/calculator", include_in_schema=False)
    def calculator_form(request: Request) -> Response:
        return html(request, lambda: calculator_render(request))

    @router.post("/explorer/calculator", include_in_schema=False)
    async def calculator_page(request: Request) -> Response:
        fields: dict[str, str] = {}
        try:
            try:
                body = await read_body(request, MAX_CALC_UPLOAD)
            except ExplorerError as exc:
                if exc.code != "upload_too_large":
                    raise
                raise ExplorerError("upload_too_large", "the calculator's form with its upload"
                                    f" is at most {MAX_CALC_UPLOAD} bytes") from None
            fields = form_fields(request.headers.get("content-type", ""), body)
            calc_request = form_request(fields)
            try:
                await asyncio.wait_for(calc_slots.acquire(), VERIFY_WAIT_S)
            except TimeoutError:
                raise ExplorerError("verifier_busy", "too many calculations are running; try"
                                    " again in a few seconds") from None
            try:
                result = await run_in_threadpool(run_calculation, calc_request)
            finally:
                calc_slots.release()
        except ExplorerError as exc:
            return calculator_render(request, exc.status, error=exc, fields=fields)
        except ChaincodeError as exc:
            refusal = ExplorerError(exc.code, exc.message)
            return calculator_render(request, refusal.status, error=refusal, fields=fields)
        return calculator_render(request, result=result, fields=fields)

    # -- anything else under /explorer/ --------------------------------------------------------
    @router.get("/explorer/{rest:path}", include_in_schema=False)
    def not_found_page(request: Request, rest: str) -> Response:
        return error_page(request, ExplorerError("not_found", "no such page"))

    return router


def create_explorer_app(source: ExplorerSource) -> FastAPI:
    """A stand-alone app serving only the explorer (tests, or a read-only mirror)."""
    app = FastAPI(title="Forest Carbon Ledger explorer", docs_url=None, redoc_url=None)
    app.include_router(create_explorer_router(source))
    app.add_middleware(HeadMiddleware)
    app.add_middleware(AccessLogMiddleware, logger="explorer.access")
    return app
