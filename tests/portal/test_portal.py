"""``fcl portal`` (issue 14, item 3) against an in-process node: the node's real API with
the explorer mounted (``fcl.main.api_routers``) over a store holding the explorer's
lifecycle scenario, blocks made by a SoloDriver right after each submission. The portal's
NodeClient reaches that app through an httpx transport, so every request the portal makes
is the one it would send over the network (the builders: tests/support/portal.py; the
document uploads: tests/portal/test_portal_documents.py).

Covered: unlock (wrong passphrase, login token), the key never in any response, CSRF and
session (403, nothing submitted), the role's forms, every method's form, the dry run's
plain-language refusal (an overlapping plot) then a committed registration with its map
preview and area check, a document's hash computed locally (its file uploaded only when
signed), the two-party transfer across
two portals (export, import, co-sign, submit; a tampered file refused), a retirement's
certificate link, both languages, lock.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from markupsafe import escape
from starlette.testclient import TestClient

from fcl.main import build_parser
from ledger.crypto import PrivateKey
from portal import cli as portal_cli
from portal.app import PortalConfig, cookie_names, create_portal_app
from portal.errors import ERROR_TEXTS, error_text
from portal.forms import FormError, catalogue, forms_for_roles, parse_form
from portal.i18n import METHODS
from portal.session import Session
from tests.support.carbon_market import ANHUI_RING
from tests.support.portal import (
    PASS,
    SESSION_COOKIE,
    SESSIONS,
    NodeEnv,
    area_ha,
    degrees,
    draft_action,
    login_token,
    make_keydir,
    make_portal,
    open_portal,
    plain,
    plot_form,
    seed_of,
    unlock,
)
from wallet.client import NodeClient

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeEnv]:
    e = NodeEnv(tmp_path_factory.mktemp("portal"))
    with e.http:
        yield e
    e.store.close()


@pytest.fixture(scope="module")
def keydir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_keydir(tmp_path_factory.mktemp("keys") / "wallet", stranger=True)


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


def test_a_documents_hash_is_computed_locally_and_the_file_goes_only_to_the_store(
        env: NodeEnv, keydir: Path) -> None:
    portal, csrf = open_portal(env, keydir, "owner-farm")
    doc = b"%PDF-1.7 project design document, version 2 " + bytes(range(256))
    digest = hashlib.sha256(doc).hexdigest()
    before = len(env.requests)
    resp = portal.post("/forms/notary.record", data={"csrf": csrf, "name": "pdd-v2"},
                       files={"sha256__file": ("pdd.pdf", doc)})
    assert digest in resp.text
    # the dry run sent the hash only; the file waits in the portal's memory
    assert all(doc not in body for _m, _p, body in env.requests[before:])
    done = portal.post(draft_action(resp.text, "submit"), data={"csrf": csrf})
    assert "Committed: the transaction succeeded." in done.text
    assert [(m, p) for m, p, body in env.requests[before:] if doc in body] == [
        ("POST", "/v1/documents")]
    assert env.node.documents is not None and digest in env.node.documents


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
    rid = m.group(1)
    assert env.get(f"retirement/{rid}")["beneficiary"] == "Hefei school"
    # the certificate downloads through the portal: the node's canonical JSON, as a file
    assert f'<a class="certificate" href="/certificates/{rid}"' in done.text
    cert = portal.get(f"/certificates/{rid}")
    assert cert.status_code == 200
    assert cert.headers["content-disposition"] == \
        f'attachment; filename="certificate-{rid}.json"'
    assert cert.content == env.http.get(f"/v1/certificates/{rid}").content
    assert rid in cert.text
    # not a retirement id / an unknown one / no session
    assert portal.get("/certificates/not-an-id").status_code == 404
    unknown = portal.get("/certificates/" + "0" * 64)
    assert unknown.status_code == 404 and plain("unknown_retirement") in unknown.text
    assert make_portal(env, keydir, "buyer-power").get(
        f"/certificates/{rid}", follow_redirects=False).status_code == 303


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
    # the period starts from the ledger's verified volume (the contract's own start)
    assert stock is None or plot["volume_start"] == stock["volume"]
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


def test_the_organisation_is_found_in_one_request_to_the_key_route(
        env: NodeEnv, keydir: Path) -> None:
    before = len(env.requests)
    portal, _ = open_portal(env, keydir, "buyer-power")
    asked = [target for _m, target, _b in env.requests[before:]]
    assert [t for t in asked if t.startswith("/v1/keys/")] == [
        f"/v1/keys/{SESSIONS[id(portal)].public_key()}"]
    assert not [t for t in asked if t.startswith(("/v1/explorer/orgs", "/v1/explorer/accounts"))]
    assert 'data-role="buyer"' in portal.get("/").text


def test_an_older_node_without_the_key_route_is_scanned(env: NodeEnv) -> None:
    from portal.app import find_org, scan_orgs

    class NoKeyRoute(httpx.BaseTransport):
        def __init__(self) -> None:
            self.inner = env.transport()

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            if request.url.path.startswith("/v1/keys/"):
                return httpx.Response(404, json={"error": {"code": "not_found",
                                                           "message": "Not Found"}})
            return self.inner.handle_request(request)

    client = NodeClient("http://node.test", transport=NoKeyRoute(), sleep=lambda s: None)
    pub = PrivateKey(seed_of("owner-farm")).public_key_hex
    org = find_org(client, pub)
    assert org is not None and org == scan_orgs(client, pub)
    assert org["id"] == "owner-farm" and "owner" in org["roles"]
    stranger = PrivateKey(seed_of("nobody-enrolled-this")).public_key_hex
    assert find_org(client, stranger) is None
    direct = NodeClient("http://node.test", transport=env.transport(), sleep=lambda s: None)
    assert find_org(direct, stranger) is None
    got = find_org(direct, pub)
    assert got is not None and (got["id"], got["roles"]) == (org["id"], list(org["roles"]))


# -- the monitoring report's hand-tuned form (issue 14, item 3 completion) ------------------
def report_rows_form(csrf: str, volumes: dict[str, str], **extra: str) -> dict[str, str]:
    form = {"csrf": csrf, "project_id": "AH-0001", "report_id": "R-ROWS",
            "period_start": "2020-01-01", "period_end": "2020-12-31",
            "parameters.leakage": "0", "parameters.project_emissions": "0"}
    species = {"F1": "chinese_fir", "F2": "masson_pine", "F3": "chinese_fir"}
    for i, plot in enumerate(("F1", "F2", "F3")):
        form[f"m{i}.plot_id"] = plot
        form[f"m{i}.species"] = species[plot]
        form[f"m{i}.volume_end"] = volumes.get(plot, "")
    form.update(extra)
    return form


def test_the_report_form_lists_the_projects_plots_from_the_ledger(
        env: NodeEnv, keydir: Path) -> None:
    portal, _ = open_portal(env, keydir, "owner-farm")
    page = portal.get("/forms/carbon.submit_monitoring_report").text
    # the owner's projects to pick from (not the cooperative's)
    assert '<option value="AH-0001"' in page and 'value="AH-0002"' not in page
    page = portal.get("/forms/carbon.submit_monitoring_report?project_id=AH-0001").text
    for i, plot in enumerate(("F1", "F2", "F3")):
        assert f'<tr data-plot="{plot}">' in page
        assert f'name="m{i}.plot_id" value="{plot}"' in page
        assert f'name="m{i}.volume_end"' in page
    assert 'name="m1.species" value="masson_pine"' in page
    assert "99.9327" in page  # F1's declared area
    # the period starts the day after the plots' last verified period; leakage 0 filled
    assert re.search(r'name="period_start" type="text" value="2020-01-01"', page)
    assert re.search(r'name="parameters.leakage" type="text" value="0"', page)
    # the JSON input is only the advanced alternative
    assert "<details><summary>" + str(escape(METHODS_EN("rp_json"))) in page
    unknown = portal.get("/forms/carbon.submit_monitoring_report?project_id=NOPE").text
    assert "The ledger has no such project." in unknown


def METHODS_EN(key: str) -> str:
    from portal.i18n import Translator
    return Translator("en")(key)


def test_a_report_from_rows_is_calculated_step_by_step_then_dry_run_and_committed(
        env: NodeEnv, keydir: Path) -> None:
    portal, csrf = open_portal(env, keydir, "owner-farm")
    volumes = {"F1": "60", "F2": "40", "F3": "30"}
    before = len(env.requests)
    calc = portal.post("/forms/carbon.submit_monitoring_report",
                       data=report_rows_form(csrf, volumes, calculate="1"))
    assert calc.status_code == 200
    sent = [json.loads(b) for _m, p, b in env.requests[before:] if p == "/v1/calculate"]
    assert len(sent) == 1
    assert [(p["plot_id"], p["volume_end"]) for p in sent[0]["plots"]] == [
        ("F1", "60"), ("F2", "40"), ("F3", "30")]
    answer = env.http.post("/v1/calculate", content=json.dumps(sent[0])).json()
    text = calc.text
    # step by step: per plot, stocks, deductions; the claim filled in from it
    for step in ("cs_step1", "cs_stocks", "cs_step4"):
        assert str(escape(METHODS_EN(step))) in text
    for plot in answer["plots"]:
        assert f'<tr data-plot="{plot["plot_id"]}"><td>{plot["plot_id"]}</td>' in text
        assert f'{plot["biomass_start"]} → {plot["biomass_end"]}' in text
    assert f'<tr data-figure="er"><th>{METHODS_EN("cs_er")}</th><td>{answer["er"]}</td>' in text
    assert re.search(rf'name="claimed_issuable" type="number"[^>]* value="{answer["issuable"]}"',
                     text)
    # the rows keep what was typed
    assert 'name="m0.volume_end" type="text" inputmode="decimal" aria-label="F1' in text
    assert 'value="60"' in text
    # a report of one plot of three: the contract's reason, in plain language, from the
    # dry run, naming the plots missing
    height = env.store.latest_height()
    short = portal.post("/forms/carbon.submit_monitoring_report", data=report_rows_form(
        csrf, {"F1": "60"}, claimed_issuable="1", report_id="R-SHORT",
        report_sha256=hashlib.sha256(b"r").hexdigest()))
    m = re.search(r'<code>([a-z_]+)</code>', short.text[short.text.find('class="refused"'):])
    assert m is not None and m.group(1) == "missing_plots", m
    assert plain("missing_plots") in short.text and "F2" in short.text
    assert "/submit" not in short.text
    assert env.store.latest_height() == height
    # the dry run: the rows became the measurements; the figures are shown before signing
    form = report_rows_form(csrf, volumes, claimed_issuable=str(answer["issuable"]))
    form_files = {"report_sha256__file": ("report.pdf", b"%PDF-1.7 report R-ROWS", "application/pdf")}
    height = env.store.latest_height()
    dry = portal.post("/forms/carbon.submit_monitoring_report", data=form, files=form_files)
    assert plain("invalid_form") not in dry.text
    assert 'class="ok" role="status"' in dry.text, dry.text
    assert str(escape(METHODS_EN("cs_before_signing"))) in dry.text
    assert f'data-issuable="{answer["issuable"]}"' in dry.text
    assert env.store.latest_height() == height  # nothing submitted by the dry run
    done = portal.post(draft_action(dry.text, "submit"), data={"csrf": csrf})
    assert 'class="ok" role="status"' in done.text, done.text
    report = env.get("report/R-ROWS")
    assert report is not None and report["claimed_issuable"] == answer["issuable"]
    assert [m["volume_end"] for m in report["measurements"]] == ["60", "40", "30"]
    assert report["report_sha256"] == hashlib.sha256(b"%PDF-1.7 report R-ROWS").hexdigest()


def test_bad_report_rows_are_refused_on_the_page_and_nothing_is_sent(
        env: NodeEnv, keydir: Path) -> None:
    portal, csrf = open_portal(env, keydir, "owner-farm")
    before = len(env.requests)
    both = portal.post("/forms/carbon.submit_monitoring_report", data=report_rows_form(
        csrf, {"F1": "60"}, measurements='[{"plot_id": "F1", "species": "chinese_fir", '
                                         '"volume_end": "60"}]'))
    assert plain("invalid_form") in both.text and "not both" in both.text
    # the rows are shown again with what was typed
    assert 'name="m0.volume_end"' in both.text and 'value="60"' in both.text
    sims = [p for _m, p, _b in env.requests[before:] if p in ("/v1/txs/simulate", "/v1/txs")]
    assert sims == []


# -- picks from the ledger, reviews (issue 14, item 3 completion) --------------------------
def test_the_regulator_picks_a_parameter_and_types_a_decimal_without_json(
        env: NodeEnv, keydir: Path) -> None:
    regulator, csrf = open_portal(env, keydir, "regulator")
    page = regulator.get("/forms/params.set_param").text
    assert 'id="picks" data-form="params.set_param"' in page
    m = re.search(r'<a class="use" href="(/forms/params.set_param\?name=offset_cap[^"]*)"', page)
    assert m, page
    filled = regulator.get(m.group(1).replace("&amp;", "&")).text
    assert re.search(r'name="name" type="text" value="offset_cap"', filled)
    # a query parameter that is no input of the form is ignored
    assert "evil" not in regulator.get("/forms/params.set_param?csrf=evil&x=evil").text
    before = len(SESSIONS[id(regulator)].drafts)
    dry = regulator.post("/forms/params.set_param", data={
        "csrf": csrf, "name": "offset_cap", "value": "0.04", "reason": "policy 2027"})
    assert plain("invalid_form") not in dry.text
    drafts = SESSIONS[id(regulator)].drafts
    assert len(drafts) == before + 1
    assert list(drafts.values())[-1].payload["args"]["value"] == "0.04"  # a string, not JSON
    table = regulator.post("/forms/params.set_param", data={
        "csrf": csrf, "name": "buffer_rates", "value": '{"high": "0.2"}'})
    assert list(SESSIONS[id(regulator)].drafts.values())[-1].payload["args"]["value"] == {
        "high": "0.2"}
    assert table.status_code == 200


def test_the_verifier_sees_the_pdd_beside_its_attestation_and_a_wrong_file_is_flagged(
        env: NodeEnv, keydir: Path) -> None:
    verifier, csrf = open_portal(env, keydir, "verifier-a")
    project = env.get("project/AH-0001")
    wrong = b"not the PDD the owner submitted"
    dry = verifier.post("/forms/carbon.attest_validation", data={
        "csrf": csrf, "attestation_id": "VAL-X", "project_id": "AH-0001", "positive": "true",
        "site_visit_date": "2023-01-01"}, files={"pdd_sha256__file": ("pdd.pdf", wrong)})
    assert 'id="review"' in dry.text
    assert project["pdd_sha256"] in dry.text and hashlib.sha256(wrong).hexdigest() in dry.text
    assert 'id="hash-mismatch"' in dry.text and 'id="hash-match"' not in dry.text
    assert str(escape(project["name"])) in dry.text
    # picked (?project_id=): what is under review is on the form, before any file
    form = verifier.get("/forms/carbon.attest_validation?project_id=AH-0001").text
    assert 'id="review"' in form and project["pdd_sha256"] in form and "hash-m" not in form
    assert str(escape(project["name"])) in form
    unknown = verifier.get("/forms/carbon.attest_verification?report_id=NO-SUCH").text
    assert 'id="review"' in unknown and "The ledger has nothing under this id." in unknown
    # typed, not chosen: the ledger's hash is shown, no comparison is claimed
    typed = verifier.post("/forms/carbon.attest_validation", data={
        "csrf": csrf, "attestation_id": "VAL-X", "project_id": "AH-0001", "positive": "true",
        "pdd_sha256": project["pdd_sha256"]})
    assert 'id="review"' in typed.text and "hash-m" not in typed.text


def test_two_portals_on_one_machine_keep_their_own_sessions(env: NodeEnv, keydir: Path) -> None:
    """Browsers keep cookies per host, not per port: each portal names its cookies after
    its port, so unlocking the buyer's portal does not log the farm's out."""
    assert cookie_names(8765) == ("fcl_portal_session_8765", "fcl_portal_login_8765")
    assert cookie_names(8766)[0] != cookie_names(8765)[0]
    farm = make_portal(env, keydir, "owner-farm")
    buyer = TestClient(create_portal_app(PortalConfig(
        client=NodeClient("http://node.test", transport=env.transport(), sleep=lambda s: None),
        session=Session(keydir / "buyer-power.json"))), base_url="http://127.0.0.1:8766")
    assert 'data-role="owner"' in unlock(farm).text
    assert 'data-role="buyer"' in unlock(buyer).text
    # one browser sends every cookie of 127.0.0.1 to both ports
    both = {**dict(farm.cookies.items()), **dict(buyer.cookies.items())}
    assert {"fcl_portal_session_8765", "fcl_portal_session_8766"} <= set(both)
    for name, value in both.items():
        farm.cookies.set(name, value)
        buyer.cookies.set(name, value)
    assert 'data-role="owner"' in farm.get("/").text  # still unlocked
    assert 'data-role="buyer"' in buyer.get("/").text
