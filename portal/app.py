"""The portal's web application (Starlette, server-rendered Jinja2, no JavaScript).

Pages::

    GET  /                      unlock page (locked / no session) or the role's steps
    POST /unlock                passphrase -> key in memory, session cookie     (login CSRF)
    POST /lock                  drop the key, the tokens and the drafts          (CSRF)
    GET  /forms/{contract.method}          the method's form
    POST /forms/{contract.method}          read the form, dry-run it on the node  (CSRF)
    POST /drafts/{id}/submit    sign here, submit, wait for commit, show the result (CSRF)
    POST /drafts/{id}/export    sign here, offer the partly signed file + QR     (CSRF)
    GET  /drafts/{id}/file      that file (attachment)
    GET  /certificates/{id}     a retirement's certificate from the node, as a file
    GET  /cosign                import a partly signed transaction
    POST /cosign                check it: what it does, who signed, its dry run  (CSRF)
    GET  /static/portal.css

Security (docs/portal.md): the private key never leaves :class:`portal.session.Session`;
pages, cookies and the node see only public keys, payloads and signatures. Every page
but the unlock page needs the session cookie; every POST also needs the form's CSRF
token (403 otherwise). Responses carry a strict Content-Security-Policy (no script at
all), ``X-Frame-Options: DENY`` and ``Cache-Control: no-store``.
"""

from __future__ import annotations

import datetime
import json
import logging
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chaincode.geometry import GeometryError, geodesic_area_m2_rational, parse_polygon
from chaincode.params import DEFAULT_PARAMS
from ledger.encoding import canonical
from ledger.errors import LedgerError
from ledger.fixedpoint import FixedPointError, format_decimal, parse_decimal
from portal import cosign
from portal.calc import SHOWN_FIGURES, calc_request
from portal.documents import (
    DocumentRefused,
    PendingDocument,
    UploadResult,
    guess_media_type,
    upload_all,
)
from portal.errors import error_text
from portal.forms import (
    FILE_SUFFIX,
    RESTRICTED_SUFFIX,
    FormError,
    MethodForm,
    catalogue,
    document_fields,
    file_sha256,
    forms_for_roles,
    parse_form,
    parse_json_value,
)
from portal.i18n import COOKIE, LANGS, Translator, choose_lang
from portal.picks import panel as pick_panel
from portal.report import has_rows, next_period_start, owned_projects, plot_rows, read_rows
from portal.session import Draft, Session
from portal.svg import plot_preview, qr_svg
from wallet.builder import geojson_to_ledger, load_geojson, new_nonce
from wallet.client import NodeClient
from wallet.errors import ClientError, WalletError

__all__ = ["SESSION_COOKIE", "PortalConfig", "cookie_names", "create_portal_app", "find_org",
           "scan_orgs"]

log = logging.getLogger("portal")

SESSION_COOKIE = "fcl_portal_session"
LOGIN_COOKIE = "fcl_portal_login"


def cookie_names(port: int | None) -> tuple[str, str]:
    """The session and login cookies of the portal answering on ``port``: browsers keep
    cookies per host, not per port, so two portals on one machine (a farm's and a buyer's,
    127.0.0.1:8765 and :8766) would otherwise overwrite each other's session."""
    suffix = f"_{port}" if port else ""
    return SESSION_COOKIE + suffix, LOGIN_COOKIE + suffix
MAX_FORM_BYTES = 8 * 1024 * 1024
MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_FORM_FIELDS = 5000  # a report of many plots posts a few inputs a plot
MAX_PROJECT_PAGES = 20
MAX_ORG_PAGES = 50
_HERE = Path(__file__).resolve().parent
CSP = ("default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
TWO_PARTY = frozenset({"carbon.transfer"})
CALC_FORM = "carbon.submit_monitoring_report"
RETIREMENTS = frozenset({"carbon.retire_compliance", "carbon.retire_voluntary"})
_HEX64 = re.compile(r"[0-9a-f]{64}")
#: a verifier's attestation: the hash argument and the argument naming what is reviewed
REVIEWS = {"carbon.attest_validation": ("pdd_sha256", "project_id"),
           "carbon.attest_verification": ("report_sha256", "report_id")}


#: what a posted form holds: its text inputs, its files' bytes, and each file's name and
#: declared media type (input name -> (file name, content type))
Posted = tuple[dict[str, str], dict[str, bytes], dict[str, tuple[str, str]]]


@dataclass
class PortalConfig:
    """What the portal talks to: ``client`` (the node), ``session`` (the keystore file),
    ``explorer_url`` (the base of explorer links; default the node's URL),
    ``wait_s`` (how long to wait for a commit)."""

    client: NodeClient
    session: Session
    explorer_url: str | None = None
    wait_s: float = 30.0
    org_cache: dict[str, Any] = field(default_factory=dict)

    @property
    def explorer(self) -> str:
        return (self.explorer_url or self.client.base_url).rstrip("/")


class SecurityHeaders:
    """Adds the portal's security headers to every response (pure ASGI)."""

    HEADERS = (
        (b"content-security-policy", CSP.encode()),
        (b"x-frame-options", b"DENY"),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"cache-control", b"no-store"),
    )

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name for name, _ in self.HEADERS}
                headers = [(k, v) for k, v in message.get("headers", []) if k not in names]
                message = dict(message, headers=headers + list(self.HEADERS))
            await send(message)

        await self.app(scope, receive, send_with_headers)


def find_org(client: NodeClient, pub_key: str) -> dict[str, Any] | None:
    """The organisation that enrolled ``pub_key`` (``id``, ``name``, ``roles``,
    ``status``, and ``key``: that key's record), or None when no organisation enrolled it.
    One request: the node's ``GET /v1/keys/{pub_key}`` (404 ``unknown_key``: None). A node
    without that route (older than issue 14's portal increment) answers another 404; then
    the explorer's organisations are scanned (:func:`scan_orgs`)."""
    try:
        found = client.get_json(f"/v1/keys/{quote(pub_key, safe='')}")
    except ClientError as exc:
        if exc.code == "unknown_key":
            return None
        if exc.status == 404:
            return scan_orgs(client, pub_key)
        raise
    if not isinstance(found, dict) or not isinstance(found.get("org_id"), str):
        raise ClientError("bad_response", f"GET /v1/keys/{pub_key}: no org_id in the answer")
    return {"id": found["org_id"], "name": found.get("name"),
            "roles": list(found.get("roles") or []), "status": found.get("org_status"),
            "key": dict(found.get("key") or {}, pub_key=pub_key)}


def scan_orgs(client: NodeClient, pub_key: str) -> dict[str, Any] | None:
    """The organisation record whose member keys include ``pub_key`` (with ``key``: that
    key's record), read from the node's explorer API (``/v1/explorer/orgs`` and
    ``/v1/explorer/accounts/{id}``), or None: one request per organisation, for nodes
    without ``GET /v1/keys/{pub_key}``."""
    after: str | None = None
    for _ in range(MAX_ORG_PAGES):
        path = "/v1/explorer/orgs?limit=100" + (f"&after={quote(after, safe='')}"
                                                 if after else "")
        page = client.get_json(path)
        for org in page.get("orgs", []):
            if not isinstance(org, dict) or not isinstance(org.get("id"), str):
                continue
            account = client.get_json(
                f"/v1/explorer/accounts/{quote(org['id'], safe='')}?limit=1")
            for key in account.get("member_keys", []):
                if isinstance(key, dict) and key.get("pub_key") == pub_key:
                    return dict(org, key=key)
        after = page.get("next")
        if not after:
            return None
    return None


def _events(result: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    events = result.get("events") if isinstance(result, Mapping) else None
    return [e for e in events if isinstance(e, dict)] if isinstance(events, list) else []


def _find(events: list[dict[str, Any]], name: str) -> Any:
    for event in events:
        if name in event:
            return event[name]
    return None


def create_portal_app(config: PortalConfig) -> Starlette:
    session = config.session
    client = config.client
    forms = catalogue()
    env = Environment(loader=FileSystemLoader(str(_HERE / "templates")),
                      autoescape=select_autoescape(["html"]), auto_reload=False)
    env.filters["pretty"] = lambda v: json.dumps(v, ensure_ascii=False, indent=2, sort_keys=True)
    css = (_HERE / "static" / "portal.css").read_bytes()

    # -- helpers -----------------------------------------------------------------------
    def lang_of(request: Request) -> str:
        return choose_lang(request.query_params.get("lang"), request.cookies.get(COOKIE),
                           request.headers.get("accept-language"))

    def page(request: Request, template: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        lang = lang_of(request)
        t = Translator(lang)
        other = "zh" if lang == "en" else "en"
        body = env.get_template(template).render(
            t=t, lang=lang, lang_switch_url=f"{request.url.path}?lang={other}",
            csrf=session.csrf, unlocked=session.unlocked and authed(request),
            error_text=lambda code: error_text(code, lang), **ctx)
        resp = HTMLResponse(body, status_code=status)
        if request.query_params.get("lang") in LANGS:
            resp.set_cookie(COOKIE, lang, max_age=365 * 86400, samesite="strict",
                            httponly=True)
        return resp

    def authed(request: Request) -> bool:
        return session.unlocked and session.valid_cookie(
            request.cookies.get(cookie_names(request.url.port)[0]))

    def forbidden(request: Request) -> HTMLResponse:
        return page(request, "error.html", 403, message=Translator(lang_of(request))("forbidden"))

    async def read_form(request: Request) -> Posted | None:
        size = request.headers.get("content-length")
        if size is not None and (not (size.isascii() and size.isdigit()) or int(size) > MAX_FORM_BYTES):
            return None
        form = await request.form(max_files=16, max_fields=MAX_FORM_FIELDS, max_part_size=MAX_FILE_BYTES)
        texts: dict[str, str] = {}
        files: dict[str, bytes] = {}
        names: dict[str, tuple[str, str]] = {}
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                data = await value.read(MAX_FILE_BYTES + 1)
                if len(data) > MAX_FILE_BYTES:
                    return None
                if data:
                    files[name] = data
                    names[name] = (value.filename or "", value.content_type or "")
            else:
                texts[name] = value
        await form.close()
        return texts, files, names

    async def posted(request: Request) -> Posted | Response:
        """The posted form of an authenticated request with a valid CSRF token, or a
        403 page."""
        if not authed(request):
            return forbidden(request)
        got = await read_form(request)
        if got is None:
            return page(request, "error.html", 413, message="the form is too large")
        if not session.valid_csrf(got[0].get("csrf")):
            return forbidden(request)
        return got

    def problem(request: Request, code: str, message: str, status: int = 200,
                **ctx: Any) -> HTMLResponse:
        return page(request, "error.html", status, code=code, message=message, **ctx)

    def org_of() -> dict[str, Any] | None:
        pub = session.public_key()
        if pub not in config.org_cache:
            config.org_cache[pub] = find_org(client, pub)
        org: dict[str, Any] | None = config.org_cache[pub]
        return org

    def chain_id() -> str:
        cid = config.org_cache.get("_chain_id")
        if not isinstance(cid, str):
            cid = client.status()["chain_id"]
            config.org_cache["_chain_id"] = cid
        return cid

    def param(name: str) -> Any:
        try:
            data = client.get_json(f"/v1/explorer/params/{name}")
            return data["in_force"]["value"]
        except (WalletError, KeyError, TypeError):
            return DEFAULT_PARAMS.get(name)

    # -- pages -------------------------------------------------------------------------
    async def static_css(request: Request) -> Response:
        return Response(css, media_type="text/css")

    async def home(request: Request) -> Response:
        if not authed(request):
            token = secrets.token_urlsafe(32)
            resp = page(request, "unlock.html", login_csrf=token,
                        keystore_file=str(session.keystore_file),
                        public_key=await run_in_threadpool(session.public_key))
            resp.set_cookie(cookie_names(request.url.port)[1], token, httponly=True,
                            samesite="strict")
            return resp
        if request.query_params.get("refresh"):
            config.org_cache.clear()
        try:
            org = await run_in_threadpool(org_of)
            status = await run_in_threadpool(client.status)
        except WalletError as exc:
            return problem(request, exc.code, exc.message)
        roles = tuple(org.get("roles", ())) if org else ()
        shown = forms_for_roles(roles) if org else list(forms.values())
        return page(request, "home.html", org=org, roles=roles, forms=shown, node=status,
                    public_key=session.public_key(), node_url=client.base_url)

    async def unlock(request: Request) -> Response:
        got = await read_form(request)
        if got is None:
            return forbidden(request)
        texts = got[0]
        session_name, login_name = cookie_names(request.url.port)
        cookie = request.cookies.get(login_name)
        token = texts.get("login_csrf", "")
        if not cookie or not secrets.compare_digest(cookie.encode(), token.encode()):
            return forbidden(request)
        try:
            await run_in_threadpool(session.unlock, texts.get("passphrase", ""))
        except WalletError as exc:
            log.info("unlock refused: %s", exc.code)  # never the passphrase
            resp = page(request, "unlock.html", 403, login_csrf=token, failed=exc.code,
                        keystore_file=str(session.keystore_file),
                        public_key=session.public_key())
            return resp
        config.org_cache.clear()
        done = RedirectResponse("/", status_code=303)
        done.set_cookie(session_name, session.token, httponly=True, samesite="strict",
                        path="/")
        done.delete_cookie(login_name)
        return done

    async def lock(request: Request) -> Response:
        got = await posted(request)
        if isinstance(got, Response):
            return got
        session.lock()
        resp = RedirectResponse("/", status_code=303)
        resp.delete_cookie(cookie_names(request.url.port)[0], path="/")
        return resp

    def form_of(request: Request) -> MethodForm | None:
        return forms.get(request.path_params["key"])

    def form_context(method_form: MethodForm, values: Mapping[str, str],
                     report: dict[str, Any] | None = None) -> dict[str, Any]:
        org = config.org_cache.get(session.public_key())
        defaults = dict(values)
        if method_form.key in TWO_PARTY and org and "from_org" not in defaults:
            defaults["from_org"] = org["id"]
        return {"form": method_form, "values": defaults, "file_suffix": FILE_SUFFIX,
                "restricted_suffix": RESTRICTED_SUFFIX,
                "report": report or {},
                "two_party": method_form.key in TWO_PARTY,
                "geojson": method_form.key == "carbon.register_plot",
                "calculator": method_form.key == CALC_FORM,
                "explorer": config.explorer}

    def prefilled(method_form: MethodForm, request: Request) -> dict[str, str]:
        """The form's inputs given in the query (a panel's **Use** link:
        ``/forms/{key}?field=value``); other parameters are ignored."""
        names = {f.name for f in method_form.fields} | {
            c.name for f in method_form.fields for c in f.children}
        return {k: v for k, v in request.query_params.items()
                if k in names and len(v) <= 4096}

    def panel_of(form_key: str, values: dict[str, str]) -> Any:
        """The "From the ledger" panel of the form (portal/picks.py), or None."""
        org = org_of()
        periods: list[str] = []
        offset_cap: str | None = None
        if form_key == "carbon.retire_compliance":
            if values.get("period"):
                periods.append(values["period"])
            time_ms = client.status().get("latest_block_time")
            if isinstance(time_ms, int) and time_ms > 0:
                year = datetime.datetime.fromtimestamp(time_ms / 1000, datetime.UTC).year
                periods += [p for p in (str(year), str(year - 1)) if p not in periods]
            cap = param("offset_cap")
            offset_cap = cap if isinstance(cap, str) else None
        return pick_panel(form_key, ledger_json, org, values, periods=periods,
                          offset_cap=offset_cap)

    def report_context(project_id: str | None, values: dict[str, str]) -> dict[str, Any]:
        """The report form's ledger data: the signer's projects, the chosen project's
        plots as rows (each with its stock account), and defaults filled into ``values``
        (the project, the period's first day, leakage and project emissions 0)."""
        org = org_of()
        projects: list[dict[str, Any]] = []
        if org is not None:
            pages: list[Mapping[str, Any]] = []
            after: str | None = None
            for _ in range(MAX_PROJECT_PAGES):
                path = "/v1/explorer/projects?limit=100" + (
                    f"&after={quote(after, safe='')}" if after else "")
                got = ledger_json(path)
                if got is None:
                    break
                pages.append(got)
                after = got.get("next") if isinstance(got.get("next"), str) else None
                if not after:
                    break
            projects = owned_projects(pages, org["id"])
        if not project_id and len(projects) == 1:
            project_id = projects[0]["id"]
        rows: list[Any] = []
        unknown = False
        if project_id:
            quoted = quote(project_id, safe="")
            project = ledger_json(f"/v1/explorer/projects/{quoted}?limit=100")
            stocks = ledger_json(f"/v1/explorer/projects/{quoted}/stocks?limit=100") \
                if project is not None else None
            unknown = project is None
            rows = plot_rows(project, stocks)
            values.setdefault("project_id", project_id)
            start = next_period_start(rows)
            if start:
                values.setdefault("period_start", start)
            values.setdefault("parameters.leakage", "0")
            values.setdefault("parameters.project_emissions", "0")
        return {"projects": projects, "project_id": project_id or "", "rows": rows,
                "unknown_project": unknown}

    async def show_form(request: Request) -> Response:
        if not authed(request):
            return RedirectResponse("/", status_code=303)
        method_form = form_of(request)
        if method_form is None:
            return problem(request, "unknown_form", Translator(lang_of(request))("unknown_form"),
                           404)
        if method_form.key in TWO_PARTY:
            try:  # the signer's organisation fills in from_org
                await run_in_threadpool(org_of)
            except WalletError:
                pass
        values: dict[str, str] = prefilled(method_form, request)
        if method_form.key == CALC_FORM:
            try:
                report = await run_in_threadpool(
                    report_context, request.query_params.get("project_id", "").strip(), values)
            except WalletError as exc:
                return problem(request, exc.code, exc.message)
            return page(request, "form.html", **form_context(method_form, values, report))
        try:
            panel = await run_in_threadpool(panel_of, method_form.key, values)
            # a verifier sees what is under review as soon as it is picked
            review = await run_in_threadpool(review_of, method_form.key, values, {}) \
                if method_form.key in REVIEWS else None
        except WalletError as exc:
            return problem(request, exc.code, exc.message)
        return page(request, "form.html", panel=panel, review=review,
                    **form_context(method_form, values))

    def plot_check(args: dict[str, Any]) -> dict[str, Any] | None:
        """The map preview and the contract's area check of a register_plot form."""
        polygon = args.get("polygon")
        if not isinstance(polygon, dict):
            return None
        try:
            poly = parse_polygon(polygon)
        except GeometryError as exc:
            return {"code": exc.code, "message": exc.message}
        area = geodesic_area_m2_rational(poly)
        out: dict[str, Any] = {"svg": plot_preview(polygon["coordinates"][0]),
                               "area_m2": format_decimal(area, 2),
                               "area_ha": format_decimal(area / 10_000, 4)}
        try:
            min_parcel = Fraction(parse_decimal(str(param("min_parcel_m2")), field="min"))
            tolerance = Fraction(parse_decimal(str(param("area_tolerance")), field="tol"))
        except (FixedPointError, TypeError, ValueError):
            return out
        out["min_parcel"] = format_decimal(min_parcel)
        out["tolerance_pct"] = format_decimal(tolerance * 100)
        out["too_small"] = area < min_parcel
        declared = args.get("declared_area_ha")
        if isinstance(declared, str):
            try:
                ha = Fraction(parse_decimal(declared, field="declared_area_ha"))
            except FixedPointError:
                return out
            out["declared_ha"] = declared
            out["within"] = abs(ha * 10_000 - area) <= tolerance * area
        return out

    async def dry_run(request: Request) -> Response:
        got = await posted(request)
        if isinstance(got, Response):
            return got
        texts, files, file_names = got
        method_form = form_of(request)
        if method_form is None:
            return problem(request, "unknown_form", Translator(lang_of(request))("unknown_form"),
                           404)
        extra: dict[str, Any] = {}
        if method_form.key == "params.set_param" and texts.get("value", "").strip():
            # a decimal or text parameter is typed as shown (0.05); JSON for the others
            try:
                parse_json_value(texts["value"].strip(), "value")
            except FormError:
                texts = dict(texts, value=json.dumps(texts["value"].strip(), ensure_ascii=False))
        try:
            args = parse_form(method_form, texts, files)
            if method_form.key == "carbon.register_plot" and files.get("geojson" + FILE_SUFFIX):
                args["polygon"] = geojson_to_ledger(load_geojson(files["geojson" + FILE_SUFFIX]))
            if method_form.key == CALC_FORM and has_rows(texts):
                rows = read_rows(texts)
                if "measurements" in args and rows:
                    raise FormError("measurements", "give the measurements either in the "
                                    "plots' rows or as JSON, not both")
                if rows:
                    args["measurements"] = rows
            cosigners = [line.strip() for line in texts.get("co_signers", "").splitlines()
                         if line.strip()]
        except (FormError, WalletError) as exc:
            failure = ({"code": "invalid_form", "message": str(exc)} if isinstance(exc, FormError)
                       else {"code": exc.code, "message": exc.message})
            report = None
            if method_form.key == CALC_FORM:
                try:
                    report = await run_in_threadpool(
                        report_context, texts.get("project_id", "").strip(), dict(texts))
                except WalletError:
                    report = None
            return page(request, "form.html", 200, failure=failure,
                        **form_context(method_form, texts, report))
        if method_form.key == CALC_FORM and "calculate" in texts:
            return await calculator(request, method_form, texts, args)
        if method_form.key == CALC_FORM:
            # the calculation service's figures are shown with the dry run, before signing
            try:
                extra["calculation"] = await run_in_threadpool(calculation_of, args)
            except WalletError as exc:
                extra["calculation_refused"] = {"code": exc.code, "message": exc.message}
        if method_form.key == "carbon.register_plot":
            extra["plot"] = await run_in_threadpool(plot_check, args)
        if method_form.key in REVIEWS:
            try:
                extra["review"] = await run_in_threadpool(review_of, method_form.key, args, files)
            except WalletError:
                extra["review"] = None
        documents = pending_documents(method_form, texts, files, file_names)
        signers = [session.public_key(), *cosigners]
        try:
            cid = await run_in_threadpool(chain_id)
        except WalletError as exc:
            return problem(request, exc.code, exc.message)
        payload = {"chain_id": cid, "contract": method_form.contract,
                   "method": method_form.method, "args": args, "nonce": new_nonce(),
                   "signers": signers}
        draft = Draft(draft_id=session.new_draft_id(), form_key=method_form.key,
                      payload=payload, signatures=[None] * len(signers), extra=extra,
                      documents=documents)
        return await simulate_and_show(request, draft)

    def pending_documents(method_form: MethodForm, texts: Mapping[str, str],
                          files: Mapping[str, bytes],
                          names: Mapping[str, tuple[str, str]]) -> list[PendingDocument]:
        """The files chosen for the form's SHA-256 arguments: the documents to upload when
        the person signs (held in the draft, in memory only)."""
        out: list[PendingDocument] = []
        for f in document_fields(method_form):
            data = files.get(f.name + FILE_SUFFIX)
            if not data:
                continue
            filename, declared = names.get(f.name + FILE_SUFFIX, ("", ""))
            out.append(PendingDocument(
                field=f.name, filename=filename or f.name, sha256=file_sha256(data),
                data=data, media_type=guess_media_type(filename, declared, data),
                restricted=texts.get(f.name + RESTRICTED_SUFFIX) == "true"))
        return out

    async def upload_documents(draft: Draft) -> list[UploadResult]:
        """Upload the draft's documents with the unlocked key (raises DocumentRefused,
        KeystoreError ``locked``); the draft then holds them no longer."""
        if not draft.documents:
            return []
        cid = await run_in_threadpool(chain_id)
        done = await run_in_threadpool(upload_all, client, session.key(), cid,
                                       list(draft.documents))
        draft.documents = []
        draft.extra["uploaded"] = done
        return done

    def review_of(form_key: str, args: Mapping[str, Any],
                  files: Mapping[str, bytes]) -> dict[str, Any] | None:
        """What a verifier attests to, from the ledger (the project and its PDD's hash, or
        the report with its figures and hash), and whether the chosen file is that
        document (its SHA-256 computed here)."""
        field_name, subject = REVIEWS[form_key]
        ident = args.get(subject)
        if not isinstance(ident, str) or not ident:
            return None
        quoted = quote(ident, safe="")
        if form_key == "carbon.attest_validation":
            got = ledger_json(f"/v1/explorer/projects/{quoted}?limit=100")
            record = (got or {}).get("project")
            figures = {} if not isinstance(record, dict) else {
                "name": record.get("name"), "owner_org": record.get("owner_org"),
                "plots": ", ".join(record.get("plots") or []),
                "baseline": record.get("baseline"), "risk_rating": record.get("risk_rating"),
                "start_date": record.get("start_date"),
                "crediting_period_years": record.get("crediting_period_years"),
                "methodology": record.get("methodology")}
            recorded = record.get("pdd_sha256") if isinstance(record, dict) else None
        else:
            got = ledger_json(f"/v1/explorer/reports/{quoted}")
            record = (got or {}).get("report")
            figures = {} if not isinstance(record, dict) else {
                "project_id": record.get("project_id"),
                "monitoring_period": f"{record.get('period_start')} … "
                                     f"{record.get('period_end')}",
                "claimed_issuable": record.get("claimed_issuable"),
                "measured": ", ".join(f"{m.get('plot_id')} {m.get('volume_start')} → "
                                   f"{m.get('volume_end')} m³"
                                   for m in record.get("measurements") or []
                                   if isinstance(m, dict)),
                "status": record.get("status")}
            recorded = record.get("report_sha256") if isinstance(record, dict) else None
        data = files.get(field_name + FILE_SUFFIX)
        chosen = file_sha256(data) if data else None
        return {"id": ident, "found": isinstance(record, dict), "figures": figures,
                "ledger": recorded, "file": chosen,
                "match": None if chosen is None or recorded is None else chosen == recorded}

    def ledger_json(path: str) -> dict[str, Any] | None:
        try:
            data = client.get_json(path)
        except WalletError as exc:
            if getattr(exc, "status", None) == 404:
                return None
            raise
        return data if isinstance(data, dict) else None

    def calculation_of(args: Mapping[str, Any]) -> dict[str, Any]:
        """The calculation service's answer for a report's ``args`` with what the ledger
        holds about its project (``portal/calc.py``)."""
        project_id = args.get("project_id")
        project = stocks = None
        if isinstance(project_id, str) and project_id:
            quoted = quote(project_id, safe="")
            project = ledger_json(f"/v1/explorer/projects/{quoted}?limit=100")
            stocks = ledger_json(f"/v1/explorer/projects/{quoted}/stocks?limit=100")
        answer: dict[str, Any] = client.calculate(calc_request(args, project, stocks))
        return answer

    async def calculator(request: Request, method_form: MethodForm, texts: dict[str, str],
                         args: dict[str, Any]) -> Response:
        """The monitoring-report form again, with the calculation service's answer for its
        inputs, step by step (``claimed_issuable`` filled in with the ``issuable`` it
        gives)."""
        values = dict(texts)
        try:
            report = await run_in_threadpool(
                report_context, str(args.get("project_id") or ""), values)
        except WalletError:
            report = None
        try:
            answer = await run_in_threadpool(calculation_of, args)
        except WalletError as exc:
            return page(request, "form.html", failure={"code": exc.code,
                        "message": exc.message}, **form_context(method_form, values, report))
        if isinstance(answer.get("issuable"), int):
            values["claimed_issuable"] = str(answer["issuable"])
        figures = [(name, answer.get(name)) for name in SHOWN_FIGURES if name in answer]
        return page(request, "form.html", calculation=answer, figures=figures,
                    **form_context(method_form, values, report))

    async def simulate_and_show(request: Request, draft: Draft) -> Response:
        unsigned = {k: v for k, v in draft.payload.items() if k != "signers"}
        try:
            sim = await run_in_threadpool(
                client.simulate, {"payload": unsigned}, signers=draft.payload["signers"])
        except WalletError as exc:
            sim = {"ok": False, "code": exc.code, "message": exc.message, "events": []}
        except LedgerError as exc:
            sim = {"ok": False, "code": exc.code, "message": exc.message, "events": []}
        draft.simulation = sim
        session.add_draft(draft)
        return page(request, "dry_run.html", draft=draft, sim=sim, pub=session.public_key(),
                    title=Translator(lang_of(request)).method(draft.form_key))

    def draft_of(request: Request) -> Draft | None:
        return session.draft(request.path_params["draft_id"])

    async def submit(request: Request) -> Response:
        got = await posted(request)
        if isinstance(got, Response):
            return got
        draft = draft_of(request)
        t = Translator(lang_of(request))
        if draft is None:
            return problem(request, "unknown_draft", t("unknown_draft"), 404)
        sim = draft.simulation or {}
        if sim.get("ok") is not True:
            # only what the dry run accepted is signed (the page offers no button otherwise)
            return problem(request, str(sim.get("code") or "unknown_draft"),
                           str(sim.get("message") or t("dry_run_refused")))
        try:
            # the documents first: if the node refuses one, nothing is submitted
            await upload_documents(draft)
            uploaded = draft.extra.get("uploaded", [])
            cid = await run_in_threadpool(chain_id)
            sigs = draft.signatures
            if session.public_key() in draft.payload["signers"] and \
                    sigs[draft.payload["signers"].index(session.public_key())] is None:
                sigs = cosign.sign_own(draft.payload, sigs, session.key(), cid)
            tx = cosign.complete(draft.payload, sigs, cid)
            tx_id = await run_in_threadpool(client.submit, tx)
            session.drafts.pop(draft.draft_id, None)
            record = await run_in_threadpool(client.wait_committed, tx_id, config.wait_s)
        except DocumentRefused as exc:
            return problem(request, exc.code, exc.message, document=exc.document,
                           nothing_submitted=True)
        except WalletError as exc:
            return problem(request, exc.code, exc.message)
        except LedgerError as exc:
            return problem(request, exc.code, exc.message)
        result = record.get("result") if isinstance(record.get("result"), dict) else {}
        events = _events(result)
        retirement = _find(events, "retirement_id") if draft.form_key in RETIREMENTS else None
        return page(request, "committed.html", tx_id=tx_id, result=result, events=events,
                    record=record, explorer=config.explorer, node_url=client.base_url,
                    retirement_id=retirement, title=t.method(draft.form_key),
                    uploaded=uploaded)

    async def export(request: Request) -> Response:
        got = await posted(request)
        if isinstance(got, Response):
            return got
        draft = draft_of(request)
        t = Translator(lang_of(request))
        if draft is None:
            return problem(request, "unknown_draft", t("unknown_draft"), 404)
        if (draft.simulation or {}).get("ok") is not True:
            sim = draft.simulation or {}
            return problem(request, str(sim.get("code") or "unknown_draft"),
                           str(sim.get("message") or t("dry_run_refused")))
        try:
            await upload_documents(draft)  # the other parties never see the files
            cid = await run_in_threadpool(chain_id)
            pub = session.public_key()
            if draft.signatures[draft.payload["signers"].index(pub)] is None:
                draft.signatures = cosign.sign_own(draft.payload, draft.signatures,
                                                   session.key(), cid)
        except DocumentRefused as exc:
            return problem(request, exc.code, exc.message, document=exc.document,
                           nothing_submitted=True)
        except (WalletError, ValueError) as exc:
            code = exc.code if isinstance(exc, WalletError) else "not_a_signer"
            return problem(request, code, str(exc))
        text = cosign.partial_json(draft.payload, draft.signatures).decode()
        return page(request, "export.html", draft=draft, qr=qr_svg(text), text=text,
                    title=t.method(draft.form_key))

    async def export_file(request: Request) -> Response:
        if not authed(request):
            return forbidden(request)
        draft = draft_of(request)
        if draft is None or all(s is None for s in draft.signatures):
            return problem(request, "unknown_draft",
                           Translator(lang_of(request))("unknown_draft"), 404)
        data = cosign.partial_json(draft.payload, draft.signatures)
        name = f"{draft.payload['method']}-{draft.draft_id[:8]}.fcl-partial.json"
        return Response(data, media_type="application/json",
                        headers={"content-disposition": f'attachment; filename="{name}"'})

    async def certificate_file(request: Request) -> Response:
        """The retirement certificate from the node (``GET /v1/certificates/{id}``), as a
        file to save (``certificate-<id>.json``, the node's canonical JSON)."""
        if not authed(request):
            return RedirectResponse("/", status_code=303)
        rid = request.path_params["retirement_id"]
        if not isinstance(rid, str) or not _HEX64.fullmatch(rid):
            return problem(request, "unknown_retirement",
                           f"{rid[:80]!r} is not a retirement id (64 hex digits)", 404)
        try:
            cert = await run_in_threadpool(client.get_json, f"/v1/certificates/{rid}")
        except WalletError as exc:
            status = getattr(exc, "status", None)
            return problem(request, exc.code, exc.message,
                           status if isinstance(status, int) and status >= 400 else 502)
        return Response(canonical(cert), media_type="application/json", headers={
            "content-disposition": f'attachment; filename="certificate-{rid}.json"'})

    async def cosign_page(request: Request) -> Response:
        if not authed(request):
            return RedirectResponse("/", status_code=303)
        return page(request, "cosign.html")

    async def cosign_check(request: Request) -> Response:
        got = await posted(request)
        if isinstance(got, Response):
            return got
        texts, files, _names = got
        data = files.get("partial" + FILE_SUFFIX) or texts.get("partial", "").encode()
        try:
            cid = await run_in_threadpool(chain_id)
            payload, sigs = cosign.read_partial(data, cid)
        except WalletError as exc:
            return page(request, "cosign.html", failure={"code": exc.code,
                                                         "message": exc.message})
        key = f"{payload['contract']}.{payload['method']}"
        draft = Draft(draft_id=session.new_draft_id(), form_key=key, payload=payload,
                      signatures=sigs, extra={"imported": True})
        return await simulate_and_show(request, draft)

    routes = [
        Route("/", home, methods=["GET"]),
        Route("/static/portal.css", static_css, methods=["GET"]),
        Route("/unlock", unlock, methods=["POST"]),
        Route("/lock", lock, methods=["POST"]),
        Route("/forms/{key}", show_form, methods=["GET"]),
        Route("/forms/{key}", dry_run, methods=["POST"]),
        Route("/drafts/{draft_id}/submit", submit, methods=["POST"]),
        Route("/drafts/{draft_id}/export", export, methods=["POST"]),
        Route("/drafts/{draft_id}/file", export_file, methods=["GET"]),
        Route("/certificates/{retirement_id}", certificate_file, methods=["GET"]),
        Route("/cosign", cosign_page, methods=["GET"]),
        Route("/cosign", cosign_check, methods=["POST"]),
    ]
    return Starlette(routes=routes, middleware=[Middleware(SecurityHeaders)])
