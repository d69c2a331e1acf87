"""``fcl portal`` (issue 14, item 3) against an in-process node: the node's real API with
the explorer mounted (``fcl.main.api_routers``) over a store holding the explorer's
lifecycle scenario, blocks made by a SoloDriver right after each submission. The portal's
NodeClient reaches that app through an httpx transport, so every request the portal makes
is the one it would send over the network.

Covered: unlock (wrong passphrase, login token), the key never in any response, CSRF and
session (403, nothing submitted), the role's forms, every method's form, the dry run's
plain-language refusal (an overlapping plot) then a committed registration with its map
preview and area check, a document's hash computed locally, the two-party transfer across
two portals (export, import, co-sign, submit; a tampered file refused), a retirement's
certificate link, both languages, lock.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from markupsafe import escape
from starlette.testclient import TestClient

from chaincode.executor import Executor
from chaincode.geometry import geodesic_area_m2_rational, parse_polygon
from fcl.main import api_routers, build_parser
from ledger.crypto import PrivateKey, sha256
from ledger.encoding import decode
from ledger.fixedpoint import format_decimal
from node.api.rpc import create_app
from node.api.service import Node
from node.chain.app import Application
from node.driver.solo import SoloDriver
from node.txpool.mempool import Mempool
from portal import cli as portal_cli
from portal.app import SESSION_COOKIE, PortalConfig, create_portal_app
from portal.errors import ERROR_TEXTS, error_text
from portal.forms import FormError, catalogue, forms_for_roles, parse_form
from portal.i18n import METHODS
from portal.session import Session
from tests.support.carbon_market import ANHUI_RING
from tests.support.explorer import build_scenario
from wallet.client import NodeClient
from wallet.keystore import Keystore

ROOT = Path(__file__).resolve().parents[2]
PASS = "correct horse battery"


def plain(code: str, lang: str = "en") -> str:
    """The plain-language text of ``code`` as a page shows it (HTML-escaped)."""
    return str(escape(error_text(code, lang)))


def seed_of(name: str) -> bytes:
    """The seed of tests.support's det_key(name)."""
    return sha256(b"fcl-test-key:" + name.encode())


class NodeEnv:
    """The node's app over the scenario's store; a block is made after each POST /v1/txs."""

    def __init__(self, path: Path) -> None:
        self.scenario = build_scenario(path / "db")
        chain = self.scenario.chain
        self.store = chain.store
        self.genesis = chain.h.genesis
        self.mempool = Mempool(max_txs=100)
        self.app = Application(self.store, Executor(), self.genesis,
                               verified=self.mempool.verified)
        self.driver = SoloDriver(self.app, self.mempool, chain.key)
        self.node = Node(moniker="portal-test", genesis=self.genesis, store=self.store,
                         app=self.app, mempool=self.mempool)
        self.http = TestClient(create_app(self.node, routers=api_routers(self.node)),
                               raise_server_exceptions=True)
        self.requests: list[tuple[str, str, bytes]] = []

    def transport(self) -> httpx.BaseTransport:
        env = self

        class Forward(httpx.BaseTransport):
            def handle_request(self, request: httpx.Request) -> httpx.Response:
                body = request.read()
                target = request.url.raw_path.decode()
                env.requests.append((request.method, target, body))
                resp = env.http.request(request.method, target, content=body,
                                        headers={"content-type": "application/json"})
                if request.method == "POST" and request.url.path == "/v1/txs" \
                        and resp.status_code == 202:
                    env.driver.step()
                return httpx.Response(resp.status_code, headers=resp.headers,
                                      content=resp.content)

        return Forward()

    def get(self, key: str) -> Any:
        raw = self.store.get(key)
        return None if raw is None else decode(raw)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeEnv]:
    e = NodeEnv(tmp_path_factory.mktemp("portal"))
    with e.http:
        yield e
    e.store.close()


@pytest.fixture(scope="module")
def keydir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("keys") / "wallet"
    ks = Keystore(directory, insecure_test_scrypt_n=16)
    for name in ("owner-farm", "buyer-power", "verifier-a", "regulator", "exchange"):
        ks.import_seed(name, seed_of(name), PASS)
    ks.import_seed("stranger", seed_of("nobody-enrolled-this"), PASS)
    return directory


#: each portal's session, by id() of its test client (to reach drafts the page never links)
SESSIONS: dict[int, Session] = {}


def make_portal(env: NodeEnv, keydir: Path, name: str) -> TestClient:
    client = NodeClient("http://node.test", transport=env.transport(),
                        sleep=lambda s: None)
    session = Session(keydir / f"{name}.json")
    app = create_portal_app(PortalConfig(client=client, session=session,
                                         explorer_url="http://explorer.test", wait_s=5))
    client_ = TestClient(app, base_url="http://127.0.0.1:8765")
    SESSIONS[id(client_)] = session
    return client_


def login_token(page: str) -> str:
    m = re.search(r'name="login_csrf" value="([^"]+)"', page)
    assert m, page
    return m.group(1)


def csrf_of(page: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', page)
    assert m, page
    return m.group(1)


def unlock(portal: TestClient, passphrase: str = PASS) -> httpx.Response:
    first = portal.get("/")
    return portal.post("/unlock", data={"login_csrf": login_token(first.text),
                                        "passphrase": passphrase}, follow_redirects=True)


def open_portal(env: NodeEnv, keydir: Path, name: str) -> tuple[TestClient, str]:
    portal = make_portal(env, keydir, name)
    home = unlock(portal)
    assert home.status_code == 200, home.text
    return portal, csrf_of(home.text)


def draft_action(page: str, action: str) -> str:
    m = re.search(rf'action="(/drafts/[0-9a-f]+/{action})"', page)
    assert m, page
    return m.group(1)


def degrees(ring: list[list[int]]) -> dict[str, Any]:
    """A GeoJSON Feature of a ledger ring (1e-7 degree integers), closed."""
    pos = [[float(Decimal(x) / 10**7), float(Decimal(y) / 10**7)] for x, y in ring]
    return {"type": "Feature", "properties": {},
            "geometry": {"type": "Polygon", "coordinates": [pos + [pos[0]]]}}


def area_ha(ring: list[list[int]]) -> str:
    poly = parse_polygon({"type": "Polygon", "coordinates": [[*ring, ring[0]]]})
    return format_decimal(geodesic_area_m2_rational(poly) / 10_000, 4)


def plot_form(plot_id: str, declared: str, csrf: str) -> dict[str, str]:
    return {
        "csrf": csrf, "plot_id": plot_id, "declared_area_ha": declared,
        "county_code": "340122", "tenure.doc_type": "forest_right_cert",
        "tenure.doc_number": f"皖林权{plot_id}", "species": "chinese_fir",
        "tenure.scan_sha256": hashlib.sha256(b"scan").hexdigest(),
        "planting_date": "2017-11-20", "non_forest_evidence.years": "3",
        "non_forest_evidence.sha256": hashlib.sha256(b"nf").hexdigest(),
    }


# -- unlock, session, CSRF -------------------------------------------------------------------
def test_a_wrong_passphrase_is_refused_and_nothing_is_unlocked(env: NodeEnv, keydir: Path) -> None:
    portal = make_portal(env, keydir, "owner-farm")
    resp = unlock(portal, "not the passphrase")
    assert resp.status_code == 403
    assert plain("wrong_passphrase", "en") in resp.text
    assert SESSION_COOKIE not in resp.cookies and SESSION_COOKIE not in portal.cookies
    again = portal.get("/")
    assert 'name="passphrase"' in again.text and "/forms/" not in again.text


def test_unlock_needs_the_login_token(env: NodeEnv, keydir: Path) -> None:
    portal = make_portal(env, keydir, "owner-farm")
    portal.get("/")
    resp = portal.post("/unlock", data={"login_csrf": "forged", "passphrase": PASS})
    assert resp.status_code == 403 and SESSION_COOKIE not in portal.cookies
    fresh = make_portal(env, keydir, "owner-farm")  # no login cookie at all
    resp = fresh.post("/unlock", data={"login_csrf": "x", "passphrase": PASS})
    assert resp.status_code == 403


def test_the_session_cookie_is_httponly_and_samesite_strict(env: NodeEnv, keydir: Path) -> None:
    portal = make_portal(env, keydir, "owner-farm")
    first = portal.get("/")
    resp = portal.post("/unlock", data={"login_csrf": login_token(first.text),
                                        "passphrase": PASS}, follow_redirects=False)
    assert resp.status_code == 303
    cookie = resp.headers["set-cookie"]
    assert SESSION_COOKIE in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "script-src" not in resp.headers["content-security-policy"]
    assert "default-src 'none'" in resp.headers["content-security-policy"]


def test_posts_without_the_csrf_token_or_the_session_are_forbidden(
        env: NodeEnv, keydir: Path) -> None:
    portal, csrf = open_portal(env, keydir, "owner-farm")
    height = env.store.latest_height()
    form = {"name": "doc-x", "sha256": hashlib.sha256(b"x").hexdigest()}
    assert portal.post("/forms/notary.record", data=form).status_code == 403
    assert portal.post("/forms/notary.record", data={**form, "csrf": "wrong"}).status_code == 403
    other = make_portal(env, keydir, "owner-farm")  # no session cookie
    assert other.post("/forms/notary.record", data={**form, "csrf": csrf}).status_code == 403
    assert other.post("/lock", data={"csrf": csrf}).status_code == 403
    assert not [r for r in env.requests if r[1] == "/v1/txs/simulate" and b"doc-x" in r[2]]
    assert env.store.latest_height() == height
    # with both, the same form is dry-run
    ok = portal.post("/forms/notary.record", data={**form, "csrf": csrf})
    assert ok.status_code == 200 and plain("unauthorized", "en") not in ok.text


def test_lock_drops_the_key_and_the_session(env: NodeEnv, keydir: Path) -> None:
    portal, csrf = open_portal(env, keydir, "owner-farm")
    resp = portal.post("/lock", data={"csrf": csrf}, follow_redirects=True)
    assert 'name="passphrase"' in resp.text
    assert portal.post("/forms/notary.record", data={"csrf": csrf}).status_code == 403
    assert portal.get("/forms/carbon.transfer", follow_redirects=False).status_code == 303


def test_the_key_never_appears_in_any_response(env: NodeEnv, keydir: Path) -> None:
    portal, csrf = open_portal(env, keydir, "owner-farm")
    pages = [portal.get("/"), portal.get("/forms/notary.record"), portal.get("/cosign")]
    dry = portal.post("/forms/notary.record", data={
        "csrf": csrf, "name": "key-check", "sha256": hashlib.sha256(b"k").hexdigest()})
    pages += [dry, portal.post(draft_action(dry.text, "submit"), data={"csrf": csrf})]
    seed = seed_of("owner-farm")
    secrets_ = [seed.hex(), seed.hex().upper(), PASS]
    for resp in pages:
        assert resp.status_code == 200, resp.text
        blob = resp.text + json.dumps(dict(resp.headers)) + json.dumps(dict(resp.cookies))
        assert not [s for s in secrets_ if s in blob]
        assert seed not in resp.content
    for _method, _path, body in env.requests:
        assert seed.hex().encode() not in body and seed not in body and PASS.encode() not in body


# -- role and forms ---------------------------------------------------------------------------
def test_the_portal_knows_the_role_and_shows_its_forms(env: NodeEnv, keydir: Path) -> None:
    portal, _ = open_portal(env, keydir, "owner-farm")
    home = portal.get("/").text
    assert "owner-farm" in home and 'data-role="owner"' in home
    for key in ("carbon.register_plot", "carbon.submit_project", "carbon.transfer",
                "carbon.create_listing", "carbon.submit_monitoring_report"):
        assert f'href="/forms/{key}"' in home
    for key in ("carbon.issue", "carbon.attest_validation", "carbon.match_trade"):
        assert f'href="/forms/{key}"' not in home
    verifier, _ = open_portal(env, keydir, "verifier-a")
    page = verifier.get("/").text
    assert 'data-role="verifier"' in page and 'href="/forms/carbon.attest_verification"' in page
    assert 'href="/forms/carbon.register_plot"' not in page


def test_an_unenrolled_key_is_told_so(env: NodeEnv, keydir: Path) -> None:
    portal, csrf = open_portal(env, keydir, "stranger")
    assert "not enrolled" in portal.get("/").text
    dry = portal.post("/forms/notary.record", data={
        "csrf": csrf, "name": "x", "sha256": hashlib.sha256(b"x").hexdigest()})
    assert plain("unenrolled_signer", "en") in dry.text
    assert "/submit" not in dry.text


def test_every_method_has_a_form_a_title_and_a_page(env: NodeEnv, keydir: Path) -> None:
    forms = catalogue()
    assert set(forms) == set(METHODS)
    portal, _ = open_portal(env, keydir, "owner-farm")
    for key, form in forms.items():
        page = portal.get(f"/forms/{key}")
        assert page.status_code == 200, key
        for field in form.fields:
            assert f'name="{field.name}' in page.text or field.widget == "group", (key, field.name)
    assert portal.get("/forms/carbon.nothing").status_code == 404
    roles = {r for f in forms.values() for r in f.roles}
    for role in roles:  # every role has its steps, and the member-key ones
        keys = {f.key for f in forms_for_roles((role,))}
        assert "carbon.transfer" in keys and any(forms[k].roles for k in keys)


def test_parse_form_converts_shapes_and_names_bad_inputs() -> None:
    forms = catalogue()
    listing = forms["carbon.create_listing"]
    args = parse_form(listing, {"quantity": "5", "price": "90.5", "exchange_org": "exchange",
                                "first": ""})
    assert args == {"quantity": 5, "price": "90.5", "exchange_org": "exchange"}
    with pytest.raises(FormError, match="quantity"):
        parse_form(listing, {"quantity": "5.0"})
    enrol = forms["membership.enrol_org"]
    assert parse_form(enrol, {"roles": "owner\n\nbuyer\n", "admin": ""})["roles"] == [
        "owner", "buyer"]
    report = forms["carbon.submit_monitoring_report"]
    with pytest.raises(FormError, match="floats"):
        parse_form(report, {"measurements": '[{"volume_end": 1.5}]'})
    with pytest.raises(FormError, match="not valid JSON"):
        parse_form(report, {"measurements": "[{"})
    assert parse_form(report, {"measurements": '[{"volume_end": "1.5"}]'})["measurements"] == [
        {"volume_end": "1.5"}]
    project = forms["carbon.submit_project"]
    split = parse_form(project, {"benefit_split.owner": "0.6", "benefit_split.farmers": "0.4"})
    assert split == {"benefit_split": {"farmers": "0.4", "owner": "0.6"}}
    notary = forms["notary.record"]
    doc = b"%PDF-1.7 the PDD"
    digest = hashlib.sha256(doc).hexdigest()
    assert parse_form(notary, {"name": "d"}, {"sha256__file": doc})["sha256"] == digest
    with pytest.raises(FormError, match="not the chosen file"):
        parse_form(notary, {"sha256": "0" * 64}, {"sha256__file": doc})
    attest = forms["carbon.attest_validation"]
    with pytest.raises(FormError, match="true or false"):
        parse_form(attest, {"positive": "yes"})


# -- dry run, sign and submit ---------------------------------------------------------------
def test_an_overlapping_plot_shows_the_contracts_reason_then_a_good_plot_commits(
        env: NodeEnv, keydir: Path) -> None:
    portal, csrf = open_portal(env, keydir, "owner-farm")
    height = env.store.latest_height()
    overlapping = [[x + 1000, y + 1000] for x, y in ANHUI_RING]  # over F1, in project AH-0001
    resp = portal.post("/forms/carbon.register_plot", data=plot_form(
        "NEW-1", area_ha(overlapping), csrf),
        files={"geojson__file": ("p.geojson", json.dumps(degrees(overlapping)).encode())})
    assert resp.status_code == 200
    assert plain("plot_overlap", "en") in resp.text, resp.text[resp.text.find("<main>"):]
    assert "F1" in resp.text  # the contract's message names the plot
    assert "/submit" not in resp.text and "/export" not in resp.text
    assert "<svg" in resp.text and 'class="plot-map"' in resp.text
    assert env.store.latest_height() == height and env.get("plot/NEW-1") is None

    far = [[x + 2_000_000, y] for x, y in ANHUI_RING]  # 0.2 degree east: free land
    declared = area_ha(far)
    resp = portal.post("/forms/carbon.register_plot", data=plot_form("NEW-2", declared, csrf),
                       files={"geojson__file": ("p.geojson", json.dumps(degrees(far)).encode())})
    assert plain("plot_overlap", "en") not in resp.text
    assert "The ledger would accept this transaction." in resp.text
    assert f"= {declared} ha" in resp.text and "within the tolerance of 5 %" in resp.text
    done = portal.post(draft_action(resp.text, "submit"), data={"csrf": csrf})
    assert "Committed: the transaction succeeded." in done.text, done.text
    tx_id = re.search(r'explorer.test/explorer/txs/([0-9a-f]{64})', done.text)
    assert tx_id is not None
    plot = env.get("plot/NEW-2")
    assert plot["owner_org"] == "owner-farm" and plot["polygon"]["coordinates"][0][0] == far[0]
    assert env.store.latest_height() == height + 1
    # the draft is used up: submitting it again does nothing
    again = portal.post(draft_action(resp.text, "submit"), data={"csrf": csrf})
    assert again.status_code == 404 and env.store.latest_height() == height + 1


def test_a_declared_area_off_the_polygon_is_shown_before_signing(
        env: NodeEnv, keydir: Path) -> None:
    portal, csrf = open_portal(env, keydir, "owner-farm")
    far = [[x + 3_000_000, y] for x, y in ANHUI_RING]
    resp = portal.post("/forms/carbon.register_plot", data=plot_form("NEW-3", "50", csrf),
                       files={"geojson__file": ("p.geojson", json.dumps(degrees(far)).encode())})
    assert "differs by more than the tolerance of 5 %" in resp.text, resp.text[resp.text.find("<main>"):resp.text.find("<pre")]
    assert plain("area_mismatch", "en") in resp.text and "/submit" not in resp.text
    bad = portal.post("/forms/carbon.register_plot", data=plot_form("NEW-3", "1", csrf),
                      files={"geojson__file": ("p.geojson", b'{"type": "Point"}')})
    assert plain("invalid_geojson", "en") in bad.text


def test_a_documents_hash_is_computed_locally_and_the_file_is_not_sent(
        env: NodeEnv, keydir: Path) -> None:
    portal, csrf = open_portal(env, keydir, "owner-farm")
    doc = b"%PDF-1.7 project design document, version 2 " + bytes(range(256))
    digest = hashlib.sha256(doc).hexdigest()
    before = len(env.requests)
    resp = portal.post("/forms/notary.record", data={"csrf": csrf, "name": "pdd-v2"},
                       files={"sha256__file": ("pdd.pdf", doc)})
    assert digest in resp.text
    done = portal.post(draft_action(resp.text, "submit"), data={"csrf": csrf})
    assert "Committed: the transaction succeeded." in done.text
    assert all(doc not in body for _m, _p, body in env.requests[before:])


# -- two parties ------------------------------------------------------------------------------
def test_a_transfer_is_prepared_in_one_portal_and_cosigned_in_the_other(
        env: NodeEnv, keydir: Path) -> None:
    seller, s_csrf = open_portal(env, keydir, "owner-farm")
    buyer, b_csrf = open_portal(env, keydir, "buyer-power")
    buyer_pub = PrivateKey(seed_of("buyer-power")).public_key_hex
    form = seller.get("/forms/carbon.transfer").text
    assert 'value="owner-farm"' in form  # from_org filled in with the signer's organisation
    resp = seller.post("/forms/carbon.transfer", data={
        "csrf": s_csrf, "from_org": "owner-farm", "to_org": "buyer-power", "quantity": "2",
        "settlement_ref": "OTC-9", "co_signers": buyer_pub})
    assert "The ledger would accept this transaction." in resp.text, resp.text
    assert "/submit" not in resp.text
    exported = seller.post(draft_action(resp.text, "export"), data={"csrf": s_csrf})
    assert '<svg' in exported.text and 'class="qr"' in exported.text
    link = re.search(r'href="(/drafts/[0-9a-f]+/file)"', exported.text)
    assert link is not None
    file = seller.get(link.group(1))
    assert file.headers["content-disposition"].startswith("attachment")
    partial = json.loads(file.content)
    assert partial["format"] == "fcl-partial-tx" and partial["signatures"][1] is None
    assert isinstance(partial["signatures"][0], str)

    # a tampered file is refused before anything is shown as signed
    forged = dict(partial, payload=dict(partial["payload"],
                                        args=dict(partial["payload"]["args"], quantity=3)))
    bad = buyer.post("/cosign", data={"csrf": b_csrf},
                     files={"partial__file": ("t.json", json.dumps(forged).encode())})
    assert plain("bad_partial", "en") in bad.text and "/submit" not in bad.text

    height = env.store.latest_height()
    checked = buyer.post("/cosign", data={"csrf": b_csrf},
                         files={"partial__file": ("t.json", file.content)})
    assert "The ledger would accept this transaction." in checked.text
    assert "OTC-9" in checked.text and "Co-sign and submit" in checked.text
    done = buyer.post(draft_action(checked.text, "submit"), data={"csrf": b_csrf})
    assert "Committed: the transaction succeeded." in done.text, done.text
    assert env.store.latest_height() == height + 1
    tx_id = re.search(r'explorer.test/explorer/txs/([0-9a-f]{64})', done.text)
    assert tx_id is not None
    record = env.get(f"transfer/{tx_id.group(1)}")
    assert (record["from"], record["to"], record["quantity"], record["settlement_ref"]) == (
        "owner-farm", "buyer-power", 2, "OTC-9")


def test_a_retirement_links_to_its_certificate(env: NodeEnv, keydir: Path) -> None:
    portal, csrf = open_portal(env, keydir, "buyer-power")
    resp = portal.post("/forms/carbon.retire_voluntary", data={
        "csrf": csrf, "quantity": "1", "beneficiary": "Hefei school", "reason": "offset"})
    assert "The ledger would accept this transaction." in resp.text, resp.text
    done = portal.post(draft_action(resp.text, "submit"), data={"csrf": csrf})
    m = re.search(r'href="http://node.test/v1/certificates/([^"]+)"', done.text)
    assert m, done.text
    assert env.get(f"retirement/{m.group(1)}")["beneficiary"] == "Hefei school"


# -- languages and texts ----------------------------------------------------------------------
def test_both_languages(env: NodeEnv, keydir: Path) -> None:
    portal, csrf = open_portal(env, keydir, "owner-farm")
    zh = portal.get("/?lang=zh")
    assert "您可办理的业务" in zh.text and "登记林地地块" in zh.text and 'lang="zh-CN"' in zh.text
    assert portal.cookies.get("fcl_lang") == "zh"
    refused = portal.post("/forms/carbon.transfer", data={
        "csrf": csrf, "from_org": "owner-farm", "to_org": "owner-farm", "quantity": "1"})
    assert plain("self_transfer", "zh") in refused.text and "账本将拒绝该交易" in refused.text
    en = portal.get("/?lang=en")
    assert "Your steps" in en.text and "Register a forest plot" in en.text
    unlock_zh = make_portal(env, keydir, "owner-farm").get("/", headers={
        "accept-language": "zh-CN,zh;q=0.9"})
    assert "解锁密钥" in unlock_zh.text


#: codes the contracts raise through a variable or a helper, as docs/contracts lists them
VIA_HELPERS = {
    "already_verified", "insufficient_units", "missing_signature", "no_obligation",
    "nothing_to_freeze", "nothing_to_unfreeze", "subsidy_not_accrued", "unknown_batch",
    "unknown_listing", "unknown_plot", "unknown_project", "unknown_report",
    "unknown_risk_rating", "wrong_exchange", "unknown_contract", "unknown_method",
    "unenrolled_signer", "bad_signature", "duplicate_tx", "wrong_chain",
}


def _raised_codes() -> set[str]:
    codes: set[str] = set()
    for path in sorted((ROOT / "chaincode").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and node.args and isinstance(
                    node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                name = getattr(node.func, "id", getattr(node.func, "attr", ""))
                if name in ("ChaincodeError", "GeometryError"):
                    codes.add(node.args[0].value)
    return codes


def test_every_error_code_has_a_plain_text_in_both_languages() -> None:
    codes = _raised_codes() | VIA_HELPERS
    assert len(codes) > 100 and "plot_overlap" in codes
    missing = sorted(c for c in codes if c not in ERROR_TEXTS)
    assert not missing, missing
    for code, (en, zh) in ERROR_TEXTS.items():
        assert en and zh and en != zh, code
        assert re.search(r"[\u4e00-\u9fff]", zh), code
    assert "ZZZ_new" in error_text("ZZZ_new", "en") and "ZZZ_new" in error_text("ZZZ_new", "zh")


# -- the command --------------------------------------------------------------------------
def test_the_command_binds_loopback_unless_told_and_warns(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        keydir: Path) -> None:
    import uvicorn

    calls: list[tuple[str, int]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, host, port, **kw: calls.append((host, port)))
    keyfile = str(keydir / "owner-farm.json")
    parser = build_parser()
    args = parser.parse_args(["portal", "--node", "http://127.0.0.1:1", "--keystore", keyfile])
    assert args.func(args) == 0 and calls[-1] == ("127.0.0.1", portal_cli.DEFAULT_PORT)
    assert "warning" not in capsys.readouterr().err
    args = parser.parse_args(["portal", "--node", "http://127.0.0.1:1", "--keystore", keyfile,
                              "--host", "0.0.0.0", "--port", "9000"])
    assert args.func(args) == 0 and calls[-1] == ("0.0.0.0", 9000)
    assert "warning" in capsys.readouterr().err
    args = parser.parse_args(["portal", "--node", "http://127.0.0.1:1", "--keystore",
                              str(keydir / "missing.json")])
    assert args.func(args) == 2 and "unknown_key" in capsys.readouterr().err
    assert portal_cli.is_loopback("::1") and portal_cli.is_loopback("localhost")
    assert not portal_cli.is_loopback("192.168.1.4")


# -- the monitoring report's live calculator -----------------------------------------------
def test_the_report_form_calculates_with_the_ledgers_plots_and_fills_the_claim(
        env: NodeEnv, keydir: Path) -> None:
    portal, csrf = open_portal(env, keydir, "owner-farm")
    f1 = env.get("plot/F1")
    stock = env.get("stock/F1")
    project = env.get("project/AH-0001")
    before = len(env.requests)
    measurements = [{"plot_id": "F1", "species": "chinese_fir", "volume_end": "2500"}]
    resp = portal.post("/forms/carbon.submit_monitoring_report", data={
        "csrf": csrf, "calculate": "1", "project_id": "AH-0001", "report_id": "R-NEW",
        "period_start": "2030-01-01", "period_end": "2030-12-31",
        "measurements": json.dumps(measurements), "parameters.leakage": "0",
        "parameters.project_emissions": "0"})
    assert resp.status_code == 200
    sent = [json.loads(body) for method, path, body in env.requests[before:]
            if path == "/v1/calculate"]
    assert len(sent) == 1
    plot = sent[0]["plots"][0]
    assert plot["area_ha"] == f1["declared_area_ha"] and plot["volume_end"] == "2500"
    assert sent[0]["risk_rating"] == project["risk_rating"]
    assert stock is None or "stock_start" in plot
    answer = env.http.post("/v1/calculate", content=json.dumps(sent[0])).json()
    assert f'<tr data-figure="issuable"><th>Issuable (whole t)</th><td>{answer["issuable"]}</td>' \
        in resp.text
    assert re.search(rf'name="claimed_issuable" type="number"[^>]* value="{answer["issuable"]}"',
                     resp.text)
    assert env.store.latest_height() == env.app.height  # nothing submitted
    bad = portal.post("/forms/carbon.submit_monitoring_report", data={
        "csrf": csrf, "calculate": "1", "project_id": "AH-0001",
        "period_start": "2030-12-31", "period_end": "2030-01-01",
        "measurements": json.dumps(measurements)})
    assert plain("invalid_period") in bad.text and 'data-figure="issuable"' not in bad.text


# -- the other roles' generated forms ------------------------------------------------------
def test_the_verifier_attests_with_the_reviewed_documents_hash_computed_here(
        env: NodeEnv, keydir: Path) -> None:
    portal, csrf = open_portal(env, keydir, "verifier-a")
    report = b"monitoring report under review, period 2030"
    resp = portal.post("/forms/carbon.attest_verification", data={
        "csrf": csrf, "attestation_id": "V-NEW", "report_id": "NO-SUCH-REPORT",
        "verified_quantity": "1", "site_visit_date": "2023-01-01"},
        files={"report_sha256__file": ("report.pdf", report)})
    assert hashlib.sha256(report).hexdigest() in resp.text
    assert "The ledger would refuse this transaction" in resp.text and "/submit" not in resp.text
    assert re.search(r'<code>(unknown_report|not_accredited|invalid_args)</code>', resp.text)


def test_the_regulator_freezes_and_the_exchange_is_refused_in_plain_language(
        env: NodeEnv, keydir: Path) -> None:
    regulator, csrf = open_portal(env, keydir, "regulator")
    home = regulator.get("/").text
    for key in ("membership.enrol_org", "carbon.register_project", "carbon.issue",
                "params.set_param", "carbon.record_obligation", "carbon.record_loss_event",
                "carbon.freeze", "carbon.record_subsidy_paid"):
        assert f'href="/forms/{key}"' in home, key
    height = env.store.latest_height()
    resp = regulator.post("/forms/carbon.freeze", data={
        "csrf": csrf, "batch_id": "B3", "reason": "court order 2026-17"})
    assert "The ledger would accept this transaction." in resp.text, resp.text
    done = regulator.post(draft_action(resp.text, "submit"), data={"csrf": csrf})
    assert "Committed: the transaction succeeded." in done.text
    assert env.store.latest_height() == height + 1
    exchange, x_csrf = open_portal(env, keydir, "exchange")
    refused = exchange.post("/forms/carbon.match_trade", data={
        "csrf": x_csrf, "listing_id": "NO-LISTING", "buyer_org": "buyer-steel",
        "quantity": "1", "price": "90", "settlement_ref": "S-9"})
    assert plain("unknown_listing") in refused.text and "NO-LISTING" in refused.text
    # a refused dry run is never signed, even if its draft is posted to directly
    assert "/drafts/" not in refused.text
    draft_id = list(SESSIONS[id(exchange)].drafts)[-1]
    height = env.store.latest_height()
    direct = exchange.post(f"/drafts/{draft_id}/submit", data={"csrf": x_csrf})
    assert plain("unknown_listing") in direct.text
    assert env.store.latest_height() == height


def test_inputs_say_their_rule_in_the_pages_language(env: NodeEnv, keydir: Path) -> None:
    portal, _ = open_portal(env, keydir, "owner-farm")
    en = portal.get("/forms/carbon.create_listing?lang=en").text
    assert "a whole number from 1 to" in en and "a decimal number, at most 2 places" in en
    zh = portal.get("/forms/carbon.create_listing?lang=zh").text
    assert "整数，1 至" in zh and "挂牌出售" in zh and "数量（吨二氧化碳当量）" in zh


def test_a_transaction_imported_by_a_non_signer_cannot_be_signed_there(
        env: NodeEnv, keydir: Path) -> None:
    seller, s_csrf = open_portal(env, keydir, "owner-farm")
    buyer_pub = PrivateKey(seed_of("buyer-power")).public_key_hex
    resp = seller.post("/forms/carbon.transfer", data={
        "csrf": s_csrf, "from_org": "owner-farm", "to_org": "buyer-power", "quantity": "1",
        "co_signers": buyer_pub})
    exported = seller.post(draft_action(resp.text, "export"), data={"csrf": s_csrf})
    link = re.search(r'href="(/drafts/[0-9a-f]+/file)"', exported.text)
    assert link is not None
    third, t_csrf = open_portal(env, keydir, "verifier-a")
    checked = third.post("/cosign", data={"csrf": t_csrf,
                                          "partial": seller.get(link.group(1)).text})
    assert plain("not_a_signer") in checked.text
    assert "/submit" not in checked.text and "/export" not in checked.text
    # the seller cannot submit it alone either
    alone = seller.post(f"/drafts/{link.group(1).split('/')[2]}/submit", data={"csrf": s_csrf})
    assert plain("unsigned_parties") in alone.text
