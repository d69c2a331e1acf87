"""Retirement certificate pages (QR code, serial range), the verification page (upload,
pasted JSON, tampered certificates), CSV exports and the language switch."""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

import pytest

from chaincode import queries
from explorer.export import ISSUANCE_COLUMNS, RETIREMENT_COLUMNS
from explorer.upload import MAX_CERT_BYTES
from tests.support.explorer import (
    XSS,
    Scenario,
    certificate_functions,
    make_client,
    make_source,
    module_fixtures,
)

sc, client = module_fixtures("explorer-cert")


@pytest.fixture(scope="module")
def cert(sc: Scenario) -> dict[str, Any]:
    build, _verify = certificate_functions(sc)
    return build(sc.ids["voluntary"])


def tampered(cert: dict[str, Any]) -> dict[str, Any]:
    """The certificate with the retired quantity changed somewhere inside."""
    text = json.dumps(cert)
    changed = text.replace('"quantity": 3', '"quantity": 30', 1)
    assert changed != text
    return json.loads(changed)


# -- certificate page --------------------------------------------------------------------------
def test_certificate_page_has_qr_code_and_serial_range(client, sc: Scenario) -> None:
    rid = sc.ids["voluntary"]
    r = client.get(f"/explorer/certificates/{rid}")
    assert r.status_code == 200
    page = r.text
    record = queries.retirements(sc.store, enterprise="buyer-power")["retirements"][0]
    serials = page.split('id="serials"')[1].split("</dd>")[0]
    for rng in record["ranges"]:
        assert rng["serial"] in serials
    assert "CCER-AH-0001-2018-" in serials
    qr = page.split('id="qr"')[1].split("</figure>")[0]
    assert '<svg' in qr and 'class="qr"' in qr and "<path" in qr
    verify_url = f"http://testserver/explorer/verify/{rid}"
    assert verify_url in qr
    assert "&lt;script&gt;" in page.split('id="beneficiary"')[1].split("</dd>")[0]
    assert sc.store.get_block_hash(record["height"]) in page
    assert sc.chain.h.genesis.hash in page


def test_qr_code_encodes_the_verification_url(client, sc: Scenario) -> None:
    import segno

    rid = sc.ids["voluntary"]
    page = client.get(f"/explorer/certificates/{rid}").text
    qr = page.split('id="qr"')[1].split("</figure>")[0]
    expected = segno.make(f"http://testserver/explorer/verify/{rid}", error="m", micro=False)
    assert expected.svg_inline(scale=4, dark="#000", light="#fff", svgclass="qr") in qr
    other = segno.make(f"http://testserver/explorer/verify/{sc.ids['compliance']}", error="m")
    assert other.svg_inline(scale=4, dark="#000", light="#fff", svgclass="qr") not in qr


def test_public_url_is_used_in_the_qr_code_and_the_host_header_never(sc: Scenario) -> None:
    import segno

    rid = sc.ids["compliance"]
    with make_client(sc, public_url="https://registry.example.cn/") as c:
        page = c.get(f"/explorer/certificates/{rid}", headers={"host": "evil.example"}).text
    assert f"https://registry.example.cn/explorer/verify/{rid}" in page
    assert "evil.example" not in page
    qr = page.split('id="qr"')[1].split("</figure>")[0]
    expected = segno.make(f"https://registry.example.cn/explorer/verify/{rid}", error="m",
                          micro=False)
    assert expected.svg_inline(scale=4, dark="#000", light="#fff", svgclass="qr") in qr
    # no public URL: relative links, no QR code, and still nothing from the Host header
    with make_client(sc, public_url=None) as c:
        page = c.get(f"/explorer/certificates/{rid}", headers={"host": "evil.example"}).text
    assert "evil.example" not in page and "<svg" not in page.split('id="qr"')[1].split(
        "</figure>")[0]
    assert f'href="/explorer/verify/{rid}"' in page and "public_url" in page


def test_certificate_page_has_print_css(client, sc: Scenario) -> None:
    page = client.get(f"/explorer/certificates/{sc.ids['compliance']}").text
    assert 'href="/explorer/static/explorer.css"' in page and "no-print" in page
    css = client.get("/explorer/static/explorer.css").text
    print_rules = css.split("@media print", 1)[1]
    assert ".no-print" in print_rules and "display: none" in print_rules


def test_certificate_json_download(client, sc: Scenario, cert: dict[str, Any]) -> None:
    r = client.get(f"/v1/explorer/certificates/{sc.ids['voluntary']}")
    assert r.status_code == 200
    assert r.json() == cert
    assert "attachment" in r.headers["content-disposition"]


# -- verification ------------------------------------------------------------------------------
def _verdict(page: str) -> tuple[bool, dict[str, bool]]:
    section = page.split('id="verdict"')[1].split("</section>")[0]
    ok = 'data-ok="true"' in section.split(">", 1)[0]
    checks = {name: flag == "true"
              for name, flag in re.findall(r'data-check="([^"]*)" data-ok="(\w+)"', section)}
    return ok, checks


def test_verify_page_accepts_a_good_uploaded_certificate(client, cert: dict[str, Any]) -> None:
    files = {"certificate": ("cert.json", json.dumps(cert).encode(), "application/json")}
    r = client.post("/explorer/verify", files=files)
    assert r.status_code == 200
    ok, checks = _verdict(r.text)
    assert ok and checks and all(checks.values())
    assert "This certificate is genuine." in r.text


def test_verify_page_rejects_a_tampered_certificate(client, cert: dict[str, Any]) -> None:
    files = {"certificate": ("cert.json", json.dumps(tampered(cert)).encode(), "application/json")}
    r = client.post("/explorer/verify", files=files)
    assert r.status_code == 200
    ok, checks = _verdict(r.text)
    assert not ok and not all(checks.values())
    assert "NOT valid" in r.text
    assert 'class="fail"' in r.text


def test_verify_accepts_pasted_json(client, cert: dict[str, Any]) -> None:
    text = json.dumps(cert, indent=2)
    # multipart form with an empty file input and the textarea filled (what browsers send)
    files = {"certificate": ("", b"", "application/octet-stream")}
    r = client.post("/explorer/verify", files=files, data={"certificate_json": text})
    assert r.status_code == 200 and _verdict(r.text)[0]
    # a url-encoded form (no file input)
    r = client.post("/explorer/verify", data={"certificate_json": text})
    assert r.status_code == 200 and _verdict(r.text)[0]
    r = client.post("/explorer/verify", data={"certificate_json": json.dumps(tampered(cert))})
    assert r.status_code == 200 and not _verdict(r.text)[0]


def test_verify_json_api(client, cert: dict[str, Any], sc: Scenario) -> None:
    good = client.post("/v1/explorer/verify", json=cert).json()
    assert good["ok"] is True and good["checks"] and good["genesis_hash"] == sc.chain.h.genesis.hash
    bad = client.post("/v1/explorer/verify", json=tampered(cert)).json()
    assert bad["ok"] is False and any(not c["ok"] for c in bad["checks"])
    files = {"certificate": ("c.json", json.dumps(cert).encode(), "application/json")}
    assert client.post("/v1/explorer/verify", files=files).json()["ok"] is True


def test_verify_by_retirement_id_is_where_the_qr_code_leads(client, sc: Scenario) -> None:
    rid = sc.ids["compliance"]
    page = client.get(f"/explorer/verify/{rid}")
    assert page.status_code == 200 and _verdict(page.text)[0]
    assert f'href="/explorer/certificates/{rid}"' in page.text
    body = client.get(f"/v1/explorer/verify/{rid}").json()
    assert body["ok"] is True and body["retirement_id"] == rid


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (b"this is not json", "application/json", 400, "not_json"),
        (b'{"a": NaN}', "application/json", 400, "not_json"),
        (b"[1, 2, 3]", "application/json", 400, "malformed_certificate"),
        (b"   ", "application/json", 400, "no_certificate"),
        (b"<cert/>", "application/xml", 415, "unsupported_media_type"),
        (b"certificate_json=", "application/x-www-form-urlencoded", 400, "no_certificate"),
        (b"--x\r\nbroken", "multipart/form-data; boundary=zzz", 400, "malformed_form"),
        (b"abc", "multipart/form-data", 400, "malformed_form"),
        (b"--zzz\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\n{}\r\n--zzz--\r\n",
         "multipart/form-data; boundary=zzz", 400, "no_certificate"),
        (b"\xff\xfe", "application/x-www-form-urlencoded", 400, "malformed_form"),
        # a 60 KB crafted Content-Disposition once froze the node's event loop for ~26 s
        (b"--zzz\r\nContent-Disposition: form-data" + b"; a=b" * 12_000
         + b"\r\n\r\nv\r\n--zzz--\r\n", "multipart/form-data; boundary=zzz", 400,
         "malformed_form"),
        # deep nesting once answered 500 (RecursionError): a part's content is opaque now
        (b"--zzz\r\nContent-Disposition: form-data; name=\"certificate\"\r\n"
         b"Content-Type: multipart/mixed; boundary=a\r\n\r\n"
         + b"--a\r\nContent-Type: multipart/mixed; boundary=a\r\n\r\n" * 3000
         + b"\r\n--zzz--\r\n", "multipart/form-data; boundary=zzz", 400, "not_json"),
    ],
)
def test_verify_bad_uploads(client, body: bytes, content_type: str, status: int, code: str) -> None:
    r = client.post("/v1/explorer/verify", content=body, headers={"content-type": content_type})
    assert r.status_code == status and r.json()["error"]["code"] == code, r.text
    page = client.post("/explorer/verify", content=body, headers={"content-type": content_type})
    assert page.status_code == status and f'data-code="{code}"' in page.text
    assert page.headers["content-type"].startswith("text/html")


def test_verify_refuses_oversize_uploads(client) -> None:
    big = b'{"pad": "' + b"x" * (MAX_CERT_BYTES + 100) + b'"}'
    files = {"certificate": ("big.json", big, "application/json")}
    r = client.post("/explorer/verify", files=files)
    assert r.status_code == 413 and 'data-code="upload_too_large"' in r.text
    r = client.post("/v1/explorer/verify", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "upload_too_large"
    # a certificate just over 1 MiB inside a small enough form is refused as well
    just_over = b'{"pad": "' + b"x" * (MAX_CERT_BYTES - 8) + b'"}'
    assert len(just_over) > MAX_CERT_BYTES
    files = {"certificate": ("c.json", just_over, "application/json")}
    assert client.post("/v1/explorer/verify", files=files).status_code == 413


def test_verify_form_page_works_without_javascript(client) -> None:
    page = client.get("/explorer/verify").text
    assert '<form class="verify no-print" action="/explorer/verify" method="post" enctype="multipart/form-data">' in page
    assert 'type="file" name="certificate"' in page and 'name="certificate_json"' in page
    assert "<script" not in page


def test_missing_certificate_services_give_503(sc: Scenario, cert: dict[str, Any]) -> None:
    def no_build(_rid: str) -> dict[str, Any]:
        raise NotImplementedError("not wired")

    def no_verify(_cert: Any) -> Any:
        raise NotImplementedError("not wired")

    with make_client(sc, build_certificate=no_build, verify_certificate=no_verify) as c:
        rid = sc.ids["compliance"]
        assert c.get(f"/explorer/certificates/{rid}").status_code == 200  # the page needs neither
        r = c.get(f"/v1/explorer/certificates/{rid}")
        assert r.status_code == 503 and r.json()["error"]["code"] == "certificate_unavailable"
        r = c.post("/v1/explorer/verify", json=cert)
        assert r.status_code == 503 and r.json()["error"]["code"] == "verifier_unavailable"


def test_a_verifier_that_raises_gives_a_failed_verdict(sc: Scenario, cert: dict[str, Any]) -> None:
    from ledger.errors import LedgerError

    def raising(_cert: Any) -> Any:
        raise LedgerError("bad_proof", "inclusion proof does not verify")

    with make_client(sc, verify_certificate=raising) as c:
        body = c.post("/v1/explorer/verify", json=cert).json()
    assert body["ok"] is False and body["code"] == "bad_proof"
    assert body["checks"] == [{"code": "bad_proof", "message": "inclusion proof does not verify",
                               "name": "bad_proof",
                               "ok": False, "skipped": False}]


# -- CSV ----------------------------------------------------------------------------------------
def _csv(text: str) -> list[list[str]]:
    """Rows of an export (which starts with a byte order mark: tests/explorer/test_exports.py)."""
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


def test_retirements_csv(client, sc: Scenario) -> None:
    r = client.get("/v1/export/retirements.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = _csv(r.text)
    assert tuple(rows[0]) == RETIREMENT_COLUMNS
    records = queries.retirements(sc.store)["retirements"]
    expected = [(rec["id"], rng["serial"]) for rec in records for rng in rec["ranges"]]
    col = {name: i for i, name in enumerate(rows[0])}
    assert [(row[col["retirement_id"]], row[col["serial"]]) for row in rows[1:]] == expected
    voluntary = next(row for row in rows[1:] if row[col["retirement_id"]] == sc.ids["voluntary"])
    assert voluntary[col["beneficiary"]] == XSS
    assert voluntary[col["reason"]] == "'=HYPERLINK(\"http://x\")"  # no formula injection
    assert voluntary[col["purpose"]] == "voluntary" and voluntary[col["time"]].endswith("+08:00")
    compliance = next(row for row in rows[1:] if row[col["retirement_id"]] == sc.ids["compliance"])
    assert compliance[col["compliance_period"]] == "2025"
    assert compliance[col["enterprise"]] == "buyer-steel"
    assert compliance[col["retirement_quantity"]] == "2"


def test_retirements_csv_pagination_and_filter(client, sc: Scenario) -> None:
    first = client.get("/v1/export/retirements.csv?limit=1")
    cursor = first.headers["x-next-cursor"]
    rest = client.get("/v1/export/retirements.csv", params={"limit": 1, "after": cursor})
    assert "x-next-cursor" not in rest.headers
    ids = [_csv(t)[1][0] for t in (first.text, rest.text)]
    assert ids == [sc.ids["compliance"], sc.ids["voluntary"]]
    only = _csv(client.get("/v1/export/retirements.csv?enterprise=buyer-power").text)
    assert [row[0] for row in only[1:]] == [sc.ids["voluntary"]]


def test_issuances_csv(client, sc: Scenario) -> None:
    rows = _csv(client.get("/v1/export/issuances.csv").text)
    assert tuple(rows[0]) == ISSUANCE_COLUMNS
    col = {name: i for i, name in enumerate(rows[0])}
    assert [row[col["batch_id"]] for row in rows[1:]] == ["B1", "B2", "B3"]
    b1 = rows[1]
    batch = sc.ids["b1"]
    assert b1[col["serial"]] == batch["serial"] and int(b1[col["quantity"]]) == batch["quantity"]
    assert int(b1[col["retired"]]) == 5 and b1[col["tx_id"]] == batch["tx_id"]
    assert int(b1[col["buffer_quantity"]]) == batch["buffer_quantity"]
    only = _csv(client.get("/v1/export/issuances.csv?project=AH-0002").text)
    assert [row[0] for row in only[1:]] == ["B3"]
    assert int(only[1][col["cancelled"]]) == 2  # the loss event
    paged = client.get("/v1/export/issuances.csv?limit=2")
    assert paged.headers["x-next-cursor"] == "B2" and len(_csv(paged.text)) == 3


# -- languages ----------------------------------------------------------------------------------
def test_language_switch_changes_labels_and_sticks_in_a_cookie(sc: Scenario) -> None:
    with make_client(sc) as c:
        en = c.get("/explorer/retirements")
        assert "Retirements" in en.text and "注销记录" not in en.text
        assert en.headers["content-language"] == "en"
        assert 'href="/explorer/retirements?lang=zh"' in en.text
        zh = c.get("/explorer/retirements?lang=zh")
        assert zh.headers["content-language"] == "zh-CN"
        assert "注销记录" in zh.text and "履约抵消" in zh.text and "自愿注销" in zh.text
        assert 'lang="zh-CN"' in zh.text and "fcl_lang=zh" in zh.headers["set-cookie"]
        again = c.get("/explorer/projects/AH-0001")  # the cookie keeps Chinese
        assert "已备案" in again.text and "项目业主" in again.text and "核证" in again.text
        back = c.get("/explorer/projects/AH-0001?lang=en")
        assert "registered" in back.text and "已备案" not in back.text
        assert "Owner" in c.get("/explorer/projects/AH-0001").text


def test_accept_language_picks_chinese_without_a_cookie(sc: Scenario) -> None:
    with make_client(sc) as c:
        r = c.get("/explorer/accounts/buffer-pool", headers={"accept-language": "zh-CN,zh;q=0.9"})
        assert "缓冲池" in r.text and "损失事件" in r.text
        r = c.get("/explorer/", headers={"accept-language": "en-GB"})
        assert "Dashboard" in r.text
        r = c.get("/explorer/?lang=fr")  # unknown language: the default, no cookie
        assert "Dashboard" in r.text and "set-cookie" not in r.headers


def test_chinese_certificate_and_error_pages(client, sc: Scenario) -> None:
    page = client.get(f"/explorer/certificates/{sc.ids['compliance']}?lang=zh").text
    assert "注销证明" in page and "履约抵消" in page and "序列号" in page
    err = client.get("/explorer/blocks/999999?lang=zh")
    assert err.status_code == 404 and "错误" in err.text and 'data-code="unknown_block"' in err.text


# -- the real verifier (ledger.certificate), through the explorer's default --------------------
def _real_client(sc: Scenario) -> Any:
    from tests.support.explorer import real_certificate

    return make_client(sc, build_certificate=lambda rid: real_certificate(sc, rid),
                       verify_certificate=None)


def _assert_real_good(body: dict[str, Any]) -> None:
    from ledger.certificate import CHECK_NAMES

    checks = {c["name"]: c for c in body["checks"]}
    assert list(checks) == list(CHECK_NAMES)
    assert all(checks[n]["ok"] for n in CHECK_NAMES if n != "links"), body
    if checks["links"]["ok"]:
        assert body["ok"] is True and body["details"]["quantity"] == 3
    else:  # chaincode's carbon.retired event does not list the ranges yet
        assert "ranges" in checks["links"]["message"] and body["ok"] is False


def test_real_certificate_through_the_default_verifier(sc: Scenario) -> None:
    pytest.importorskip("ledger.certificate")
    from tests.support.explorer import real_certificate

    rid = sc.ids["voluntary"]
    cert = real_certificate(sc, rid)
    with _real_client(sc) as c:
        _assert_real_good(c.post("/v1/explorer/verify", json=cert).json())
        _assert_real_good(c.get(f"/v1/explorer/verify/{rid}").json())
        assert c.get(f"/v1/explorer/certificates/{rid}").json() == cert
        files = {"certificate": ("cert.json", json.dumps(cert).encode(), "application/json")}
        page = c.post("/explorer/verify", files=files).text
        _ok, checks = _verdict(page)
        assert checks["inclusion"] and checks["commits"] and checks["transactions"]


def test_real_certificate_tampered_fails_its_checks(sc: Scenario) -> None:
    pytest.importorskip("ledger.certificate")
    from tests.support.explorer import real_certificate

    cert = real_certificate(sc, sc.ids["voluntary"])
    forged = json.loads(json.dumps(cert))
    forged["retirement"]["tx"]["payload"]["args"]["beneficiary"] = "Someone else"
    with _real_client(sc) as c:
        body = c.post("/v1/explorer/verify", json=forged).json()
        assert body["ok"] is False
        checks = {ch["name"]: ch for ch in body["checks"]}
        assert not checks["inclusion"]["ok"] and "txs_root" in checks["inclusion"]["message"]
        files = {"certificate": ("cert.json", json.dumps(forged).encode(), "application/json")}
        page = c.post("/explorer/verify", files=files).text
        ok, page_checks = _verdict(page)
        assert not ok and page_checks["inclusion"] is False and page_checks["format"] is True
        other = json.loads(json.dumps(cert))
        other["genesis_hash"] = "0" * 64
        checks = {ch["name"]: ch for ch in c.post("/v1/explorer/verify", json=other).json()["checks"]}
        assert not checks["genesis"]["ok"] and checks["chain_id"]["skipped"]


def test_uploads_beyond_the_verification_slots_wait_then_get_verifier_busy(
    sc: Scenario, cert: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Verification of uploads is bounded: one slot here; a second upload waits for it
    (at most VERIFY_WAIT_S) and is answered 503 ``verifier_busy`` if it never frees; once
    the slot is free, uploads are verified again."""
    import asyncio
    import threading

    import httpx

    import explorer.app as explorer_app

    monkeypatch.setattr(explorer_app, "MAX_CONCURRENT_VERIFICATIONS", 1)
    monkeypatch.setattr(explorer_app, "VERIFY_WAIT_S", 0.3)
    release = threading.Event()
    base = make_source(sc)

    def slow_verify(doc: dict[str, Any]) -> Any:
        release.wait(10)
        return base.verify(doc)

    app = explorer_app.create_explorer_app(make_source(sc, verify_certificate=slow_verify))

    async def scenario() -> list[tuple[int, str | None]]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            first = asyncio.create_task(c.post("/v1/explorer/verify", json=cert))
            await asyncio.sleep(0.1)
            busy = await c.post("/v1/explorer/verify", json=cert)
            release.set()
            done = await first
            again = await c.post("/v1/explorer/verify", json=cert)
        out = []
        for r in (busy, done, again):
            body = r.json()
            out.append((r.status_code, body["error"]["code"] if "error" in body else None))
        return out

    assert asyncio.run(scenario()) == [(503, "verifier_busy"), (200, None), (200, None)]


@pytest.mark.parametrize("version", [1, 2])
def test_verify_page_states_the_version_and_custody_completeness(sc: Scenario, version: int) -> None:
    """Both versions verify on the page; its summary says whether the custody list is
    complete (version 2, proven from the state) or only "at least" (version 1)."""
    from explorer.i18n import VALUES
    from ledger.certificate import check_names
    from tests.support.explorer import real_certificate

    cert = real_certificate(sc, sc.ids["voluntary"], version)
    with _real_client(sc) as c:
        body = c.post("/v1/explorer/verify", json=cert).json()
        assert [ch["name"] for ch in body["checks"]] == list(check_names(version))
        assert all(ch["ok"] for ch in body["checks"]), body
        page = c.post("/explorer/verify", data={"certificate_json": json.dumps(cert)}).text
    assert f'<dd id="certificate-version">{version}</dd>' in page
    custody = page.split('<dd id="custody"')[1].split("</dd>")[0]
    assert f'data-complete="{"true" if version == 2 else "false"}"' in custody
    roles = [step["role"] for step in body["details"]["custody"]]
    assert roles and body["details"]["custody_complete"] is (version == 2)
    for role in roles:
        action = {"listing": "list", "delisting": "delist"}.get(role, role)
        assert VALUES["action"][action]["en"] in custody
    assert ("proven from the ledger&#39;s state" in custody) is (version == 2)
    assert ("does not prove that the list is complete" in custody) is (version == 1)
    assert ('data-check="custody_proofs"' in page) is (version == 2)
