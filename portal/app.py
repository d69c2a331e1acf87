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

import json
import logging
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
from ledger.errors import LedgerError
from ledger.fixedpoint import FixedPointError, format_decimal, parse_decimal
from portal import cosign
from portal.calc import SHOWN_FIGURES, calc_request
from portal.errors import error_text
from portal.forms import FILE_SUFFIX, FormError, MethodForm, catalogue, forms_for_roles, parse_form
from portal.i18n import COOKIE, LANGS, Translator, choose_lang
from portal.session import Draft, Session
from portal.svg import plot_preview, qr_svg
from wallet.builder import geojson_to_ledger, load_geojson, new_nonce
from wallet.client import NodeClient
from wallet.errors import WalletError

__all__ = ["SESSION_COOKIE", "PortalConfig", "create_portal_app", "find_org"]

log = logging.getLogger("portal")

SESSION_COOKIE = "fcl_portal_session"
LOGIN_COOKIE = "fcl_portal_login"
MAX_FORM_BYTES = 8 * 1024 * 1024
MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_ORG_PAGES = 50
_HERE = Path(__file__).resolve().parent
CSP = ("default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
TWO_PARTY = frozenset({"carbon.transfer"})
CALC_FORM = "carbon.submit_monitoring_report"
RETIREMENTS = frozenset({"carbon.retire_compliance", "carbon.retire_voluntary"})


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
    """The organisation record whose member keys include ``pub_key`` (with ``key``: that
    key's record), read from the node's explorer API (``/v1/explorer/orgs`` and
    ``/v1/explorer/accounts/{id}``), or None when no organisation enrolled it."""
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
        return session.unlocked and session.valid_cookie(request.cookies.get(SESSION_COOKIE))

    def forbidden(request: Request) -> HTMLResponse:
        return page(request, "error.html", 403, message=Translator(lang_of(request))("forbidden"))

    async def read_form(request: Request) -> tuple[dict[str, str], dict[str, bytes]] | None:
        size = request.headers.get("content-length")
        if size is not None and (not size.isdigit() or int(size) > MAX_FORM_BYTES):
            return None
        form = await request.form(max_files=16, max_fields=500, max_part_size=MAX_FILE_BYTES)
        texts: dict[str, str] = {}
        files: dict[str, bytes] = {}
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                data = await value.read(MAX_FILE_BYTES + 1)
                if len(data) > MAX_FILE_BYTES:
                    return None
                if data:
                    files[name] = data
            else:
                texts[name] = value
        await form.close()
        return texts, files

    async def posted(request: Request) -> tuple[dict[str, str], dict[str, bytes]] | Response:
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
            resp.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="strict")
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
        texts, _ = got
        cookie = request.cookies.get(LOGIN_COOKIE)
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
        done.set_cookie(SESSION_COOKIE, session.token, httponly=True, samesite="strict",
                        path="/")
        done.delete_cookie(LOGIN_COOKIE)
        return done

    async def lock(request: Request) -> Response:
        got = await posted(request)
        if isinstance(got, Response):
            return got
        session.lock()
        resp = RedirectResponse("/", status_code=303)
        resp.delete_cookie(SESSION_COOKIE, path="/")
        return resp

    def form_of(request: Request) -> MethodForm | None:
        return forms.get(request.path_params["key"])

    def form_context(method_form: MethodForm, values: Mapping[str, str]) -> dict[str, Any]:
        org = config.org_cache.get(session.public_key())
        defaults = dict(values)
        if method_form.key in TWO_PARTY and org and "from_org" not in defaults:
            defaults["from_org"] = org["id"]
        return {"form": method_form, "values": defaults, "file_suffix": FILE_SUFFIX,
                "two_party": method_form.key in TWO_PARTY,
                "geojson": method_form.key == "carbon.register_plot",
                "calculator": method_form.key == CALC_FORM,
                "explorer": config.explorer}

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
        return page(request, "form.html", **form_context(method_form, {}))

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
        texts, files = got
        method_form = form_of(request)
        if method_form is None:
            return problem(request, "unknown_form", Translator(lang_of(request))("unknown_form"),
                           404)
        extra: dict[str, Any] = {}
        try:
            args = parse_form(method_form, texts, files)
            if method_form.key == "carbon.register_plot" and files.get("geojson" + FILE_SUFFIX):
                args["polygon"] = geojson_to_ledger(load_geojson(files["geojson" + FILE_SUFFIX]))
            cosigners = [line.strip() for line in texts.get("co_signers", "").splitlines()
                         if line.strip()]
        except FormError as exc:
            return page(request, "form.html", 200, failure={"code": "invalid_form",
                        "message": str(exc)}, **form_context(method_form, texts))
        except WalletError as exc:
            return page(request, "form.html", 200, failure={"code": exc.code,
                        "message": exc.message}, **form_context(method_form, texts))
        if method_form.key == CALC_FORM and "calculate" in texts:
            return await calculator(request, method_form, texts, args)
        if method_form.key == "carbon.register_plot":
            extra["plot"] = await run_in_threadpool(plot_check, args)
        for name in sorted(files):
            if name.endswith(FILE_SUFFIX) and name != "geojson" + FILE_SUFFIX:
                extra.setdefault("hashed", []).append(name[: -len(FILE_SUFFIX)])
        signers = [session.public_key(), *cosigners]
        try:
            cid = await run_in_threadpool(chain_id)
        except WalletError as exc:
            return problem(request, exc.code, exc.message)
        payload = {"chain_id": cid, "contract": method_form.contract,
                   "method": method_form.method, "args": args, "nonce": new_nonce(),
                   "signers": signers}
        draft = Draft(draft_id=session.new_draft_id(), form_key=method_form.key,
                      payload=payload, signatures=[None] * len(signers), extra=extra)
        return await simulate_and_show(request, draft)

    def ledger_json(path: str) -> dict[str, Any] | None:
        try:
            data = client.get_json(path)
        except WalletError as exc:
            if getattr(exc, "status", None) == 404:
                return None
            raise
        return data if isinstance(data, dict) else None

    async def calculator(request: Request, method_form: MethodForm, texts: dict[str, str],
                         args: dict[str, Any]) -> Response:
        """The monitoring-report form again, with the calculation service's answer for its
        inputs (``claimed_issuable`` filled in with the ``issuable`` it gives)."""
        project_id = args.get("project_id")
        values = dict(texts)
        try:
            project = stocks = None
            if isinstance(project_id, str) and project_id:
                quoted = quote(project_id, safe="")
                project = await run_in_threadpool(
                    ledger_json, f"/v1/explorer/projects/{quoted}")
                stocks = await run_in_threadpool(
                    ledger_json, f"/v1/explorer/projects/{quoted}/stocks")
            body = calc_request(args, project, stocks)
            answer = await run_in_threadpool(client.calculate, body)
        except WalletError as exc:
            return page(request, "form.html", failure={"code": exc.code,
                        "message": exc.message}, **form_context(method_form, values))
        if isinstance(answer.get("issuable"), int):
            values["claimed_issuable"] = str(answer["issuable"])
        figures = [(name, answer.get(name)) for name in SHOWN_FIGURES if name in answer]
        return page(request, "form.html", calculation=answer, figures=figures,
                    **form_context(method_form, values))

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
            cid = await run_in_threadpool(chain_id)
            sigs = draft.signatures
            if session.public_key() in draft.payload["signers"] and \
                    sigs[draft.payload["signers"].index(session.public_key())] is None:
                sigs = cosign.sign_own(draft.payload, sigs, session.key(), cid)
            tx = cosign.complete(draft.payload, sigs, cid)
            tx_id = await run_in_threadpool(client.submit, tx)
            session.drafts.pop(draft.draft_id, None)
            record = await run_in_threadpool(client.wait_committed, tx_id, config.wait_s)
        except WalletError as exc:
            return problem(request, exc.code, exc.message)
        except LedgerError as exc:
            return problem(request, exc.code, exc.message)
        result = record.get("result") if isinstance(record.get("result"), dict) else {}
        events = _events(result)
        retirement = _find(events, "retirement_id") if draft.form_key in RETIREMENTS else None
        return page(request, "committed.html", tx_id=tx_id, result=result, events=events,
                    record=record, explorer=config.explorer, node_url=client.base_url,
                    retirement_id=retirement, title=t.method(draft.form_key))

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
            cid = await run_in_threadpool(chain_id)
            pub = session.public_key()
            if draft.signatures[draft.payload["signers"].index(pub)] is None:
                draft.signatures = cosign.sign_own(draft.payload, draft.signatures,
                                                   session.key(), cid)
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

    async def cosign_page(request: Request) -> Response:
        if not authed(request):
            return RedirectResponse("/", status_code=303)
        return page(request, "cosign.html")

    async def cosign_check(request: Request) -> Response:
        got = await posted(request)
        if isinstance(got, Response):
            return got
        texts, files = got
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
        Route("/cosign", cosign_page, methods=["GET"]),
        Route("/cosign", cosign_check, methods=["POST"]),
    ]
    return Starlette(routes=routes, middleware=[Middleware(SecurityHeaders)])
