"""The portal uploads the documents behind the hashes it signs (issue 14, items 3+4;
docs/portal.md, "Documents"), against an in-process node with a document store of small
limits (4,096 bytes a document, 8,000 bytes an organisation): the upload before the
transaction, the stored bytes' hash equal to the signed argument, the committed page's
link, the restricted flag (a third organisation cannot read the scan), a refused upload
shown in plain language with nothing submitted, a held document not sent twice, no upload
without an unlocked session, the files held in memory only and bounded.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from ledger.documents import HEADER_NO_FETCH
from node.api.documents import DocumentSettings, DocumentStore
from portal.documents import DocumentRefused, PendingDocument, guess_media_type, upload_all
from portal.session import MAX_HELD_BYTES, Draft, Session
from tests.support.carbon_market import ANHUI_RING
from tests.support.common import det_key
from tests.support.portal import (
    PASS,
    SESSION_COOKIE,
    SESSIONS,
    NodeEnv,
    area_ha,
    degrees,
    draft_action,
    make_keydir,
    make_portal,
    open_portal,
    plain,
    plot_form,
    seed_of,
    unlock,
)
from wallet.client import NodeClient
from wallet.documents import read_headers
from wallet.keystore import Keystore

MAX_BYTES = 4096
QUOTA = 8000
COMMITTED = "Committed: the transaction succeeded."
NOTHING = "Nothing was submitted: the transaction was not signed or sent."


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeEnv]:
    e = NodeEnv(tmp_path_factory.mktemp("portal-docs"),
                DocumentSettings(max_bytes=MAX_BYTES, org_quota_bytes=QUOTA))
    with e.http:
        yield e
    e.store.close()


@pytest.fixture(scope="module")
def keydir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_keydir(tmp_path_factory.mktemp("keys") / "wallet")


def store(env: NodeEnv) -> DocumentStore:
    assert env.node.documents is not None
    return env.node.documents


def pdf(text: str, size: int = 600) -> bytes:
    head = b"%PDF-1.7\n" + text.encode()
    return head + b"\n" + b"x" * max(0, size - len(head) - 1)


def sent(env: NodeEnv, since: int) -> list[tuple[str, str]]:
    return [(m, p.split("?", 1)[0]) for m, p, _b in env.requests[since:]
            if not p.startswith("/v1/txs/") and m != "GET"]


def signed_read(env: NodeEnv, name: str, sha256: str) -> int:
    headers = read_headers(det_key(name), chain_id=env.genesis.chain_id, sha256=sha256)
    return env.http.get(f"/v1/documents/{sha256}", headers=headers).status_code


def test_the_form_offers_a_restricted_checkbox_beside_each_file(
        env: NodeEnv, keydir: Path) -> None:
    portal, _csrf = open_portal(env, keydir, "owner-farm")
    page = portal.get("/forms/carbon.register_plot").text
    for name in ("tenure.scan_sha256", "non_forest_evidence.sha256"):
        assert f'name="{name}__file" type="file"' in page
        assert f'name="{name}__restricted" type="checkbox" value="true"' in page
    assert "restricted (land-tenure scan)" in page


def test_a_plot_s_documents_are_uploaded_then_the_plot_is_committed(
        env: NodeEnv, keydir: Path) -> None:
    portal, csrf = open_portal(env, keydir, "owner-farm")
    scan = pdf("land tenure certificate DOC-1 (scan)")
    evidence = b"\x89PNG\r\n\x1a\n" + bytes(range(200))
    scan_h, evidence_h = (hashlib.sha256(d).hexdigest() for d in (scan, evidence))
    ring = [[x + 3_000_000, y] for x, y in ANHUI_RING]
    form = plot_form("DOC-1", area_ha(ring), csrf)
    del form["tenure.scan_sha256"], form["non_forest_evidence.sha256"]
    form["tenure.scan_sha256__restricted"] = "true"
    before = len(env.requests)
    resp = portal.post("/forms/carbon.register_plot", data=form, files={
        "geojson__file": ("p.geojson", json.dumps(degrees(ring)).encode()),
        "tenure.scan_sha256__file": ("scan.pdf", scan),
        "non_forest_evidence.sha256__file": ("landsat-2015.png", evidence)})
    assert "The ledger would accept this transaction." in resp.text, resp.text
    assert "Documents to upload when you sign" in resp.text
    assert scan_h in resp.text and "scan.pdf" in resp.text and "application/pdf" in resp.text
    assert "image/png" in resp.text
    assert scan_h not in store(env) and evidence_h not in store(env)  # nothing yet
    assert ("POST", "/v1/documents") not in sent(env, before)
    height = env.store.latest_height()

    done = portal.post(draft_action(resp.text, "submit"), data={"csrf": csrf})
    assert COMMITTED in done.text, done.text
    assert env.store.latest_height() == height + 1
    # both uploads, then the transaction
    posts = [x for x in sent(env, before) if x[0] == "POST"]
    assert posts[-3:] == [("POST", "/v1/documents"), ("POST", "/v1/documents"),
                          ("POST", "/v1/txs")]
    plot = env.get("plot/DOC-1")
    assert plot["tenure"]["scan_sha256"] == scan_h
    assert plot["non_forest_evidence_sha256"] == evidence_h
    for digest, data in ((scan_h, scan), (evidence_h, evidence)):
        held = store(env).read(digest)
        assert held == data and hashlib.sha256(held).hexdigest() == digest
        assert f'href="http://explorer.test/v1/documents/{digest}"' in done.text
    scan_meta, evidence_meta = store(env).get(scan_h), store(env).get(evidence_h)
    assert scan_meta is not None and scan_meta.restricted is True
    assert scan_meta.uploader_org == "owner-farm" and scan_meta.media_type == "application/pdf"
    assert evidence_meta is not None and evidence_meta.restricted is False
    assert "uploaded now" in done.text and "restricted" in done.text
    # the restricted scan: the uploader and the regulator read it, a third org cannot
    assert signed_read(env, "owner-farm", scan_h) == 200
    assert signed_read(env, "regulator", scan_h) == 200
    assert signed_read(env, "buyer-power", scan_h) == 403
    unsigned = env.http.get(f"/v1/documents/{scan_h}")
    assert unsigned.status_code == 403
    assert unsigned.json()["error"]["code"] == "document_restricted"
    assert env.http.get(f"/v1/documents/{evidence_h}").content == evidence
    # the files were never in a page or a cookie, and the draft is gone with them
    session = SESSIONS[id(portal)]
    assert not session.drafts and session.held_bytes() == 0
    assert b"(scan)" not in resp.content and b"(scan)" not in done.content
    assert all("scan" not in v for v in portal.cookies.values())


def notary(opened: tuple[TestClient, str], name: str, data: bytes,
           filename: str = "doc.pdf", lang: str = "en") -> tuple[str, str]:
    """Dry-run then sign and submit notary.record with ``data`` as its document: the
    dry-run page and the submit page."""
    portal, csrf = opened
    resp = portal.post(f"/forms/notary.record?lang={lang}", data={"csrf": csrf, "name": name},
                       files={"sha256__file": (filename, data)})
    assert "/submit" in resp.text, resp.text
    done = portal.post(draft_action(resp.text, "submit") + f"?lang={lang}",
                       data={"csrf": csrf})
    return resp.text, done.text


@pytest.mark.parametrize(("filename", "data", "code", "asks_node"), [
    ("big.pdf", pdf("too large", MAX_BYTES + 1), "document_too_large", True),
    ("scan.pdf", b"GIF89a not a pdf at all", "unsupported_document_type", True),
    ("scan.xyz", b"\x00\x01 no type the nodes accept", "unsupported_document_type", False),
])
def test_a_refused_upload_is_shown_in_plain_language_and_nothing_is_submitted(
        env: NodeEnv, keydir: Path, filename: str, data: bytes, code: str,
        asks_node: bool) -> None:
    opened = open_portal(env, keydir, "owner-farm")
    height, root = env.store.latest_height(), env.store.state_root()
    before = len(env.requests)
    for lang in ("en", "zh"):
        _page, done = notary(opened, f"refused-{lang}", data, filename, lang)
        assert plain(code, lang) in done, done
        assert f"<code>{code}</code>" in done and filename in done
        assert (NOTHING if lang == "en" else "未提交任何内容") in done
        assert "Committed" not in done
    assert env.store.latest_height() == height
    assert env.store.state_root() == root
    assert ("POST", "/v1/txs") not in sent(env, before)
    assert (("POST", "/v1/documents") in sent(env, before)) is asks_node
    assert hashlib.sha256(data).hexdigest() not in store(env)


def test_the_quota_refusal_submits_nothing_and_a_retry_after_it_still_can(
        env: NodeEnv, keydir: Path) -> None:
    opened = open_portal(env, keydir, "verifier-a")
    first, second = pdf("quota one", 3900), pdf("quota two", 3900)
    assert COMMITTED in notary(opened, "q1", first)[1]
    height = env.store.latest_height()
    before = len(env.requests)
    assert COMMITTED in notary(opened, "q2", second)[1]  # 7,800 of 8,000 bytes
    third = pdf("quota three", 3900)
    _page, refused = notary(opened, "q3", third)
    assert plain("document_quota_exceeded") in refused and NOTHING in refused
    assert env.store.latest_height() == height + 1
    assert sent(env, before).count(("POST", "/v1/txs")) == 1
    # a document the node already holds is not charged again, nor sent again
    since = len(env.requests)
    _page, again = notary(opened, "q1-again", first)
    assert COMMITTED in again and "the node already held it" in again
    assert ("POST", "/v1/documents") not in sent(env, since)
    assert ("HEAD", "/v1/documents/" + hashlib.sha256(first).hexdigest()) in [
        (m, p) for m, p, _b in env.requests[since:]]


def test_the_held_check_does_not_make_the_node_ask_its_peers(env: NodeEnv) -> None:
    digest = hashlib.sha256(b"never uploaded").hexdigest()
    resp = env.http.head(f"/v1/documents/{digest}", headers={HEADER_NO_FETCH: "1"})
    assert resp.status_code == 404


def test_a_wrong_passphrase_or_a_locked_portal_uploads_nothing(
        env: NodeEnv, keydir: Path) -> None:
    data = pdf("never to be uploaded")
    digest = hashlib.sha256(data).hexdigest()
    before = len(env.requests)
    wrong = make_portal(env, keydir, "owner-farm")
    assert unlock(wrong, "not the passphrase").status_code == 403
    resp = wrong.post("/forms/notary.record", data={"csrf": "x", "name": "n"},
                      files={"sha256__file": ("doc.pdf", data)})
    assert resp.status_code == 403
    # unlocked, dry run, then locked before signing: the draft and its file are dropped
    portal, csrf = open_portal(env, keydir, "owner-farm")
    page = portal.post("/forms/notary.record", data={"csrf": csrf, "name": "locked"},
                       files={"sha256__file": ("doc.pdf", data)}).text
    session = SESSIONS[id(portal)]
    assert session.held_bytes() == len(data)
    portal.post("/lock", data={"csrf": csrf})
    assert session.held_bytes() == 0 and not session.drafts
    assert portal.post(draft_action(page, "submit"), data={"csrf": csrf}).status_code == 403
    # unlocked again: the old draft is gone (404), nothing was uploaded
    home = unlock(portal)
    new_csrf = re.search(r'name="csrf" value="([^"]+)"', home.text)
    assert new_csrf is not None
    gone = portal.post(draft_action(page, "submit"), data={"csrf": new_csrf.group(1)})
    assert gone.status_code == 404
    assert ("POST", "/v1/documents") not in sent(env, before)
    assert digest not in store(env)
    assert SESSION_COOKIE in portal.cookies


def test_drafts_hold_at_most_max_held_bytes_of_files(tmp_path: Path) -> None:
    ks = Keystore(tmp_path / "w", insecure_test_scrypt_n=16)
    ks.import_seed("k", seed_of("k"), PASS)
    session = Session(tmp_path / "w" / "k.json", insecure_test_scrypt_n=16)
    chunk = 4 * 1024 * 1024
    ids = []
    for i in range(MAX_HELD_BYTES // chunk + 2):
        doc = PendingDocument(field="sha256", filename=f"{i}.pdf", sha256=f"{i:064x}",
                              data=bytes(chunk), media_type="application/pdf",
                              restricted=False)
        draft = Draft(draft_id=f"d{i}", form_key="notary.record", payload={},
                      documents=[doc])
        session.add_draft(draft)
        ids.append(draft.draft_id)
        assert session.held_bytes() <= MAX_HELD_BYTES
    assert session.draft(ids[-1]) is not None and session.draft(ids[0]) is None
    session.lock()
    assert session.held_bytes() == 0


@pytest.mark.parametrize(("filename", "declared", "data", "expected"), [
    ("scan.PDF", "", b"anything", "application/pdf"),
    ("plot.geojson", "application/octet-stream", b"{}", "application/geo+json"),
    ("ortho.tif", "", b"II*\x00", "image/tiff"),
    ("C:\\scans\\tenure.jpeg", "", b"", "image/jpeg"),
    ("noext", "text/csv; charset=utf-8", b"a,b\n", "text/csv"),
    ("noext", "", b"\x89PNG\r\n\x1a\n....", "image/png"),
    ("noext", "", b"%PDF-1.4", "application/pdf"),
    ("noext", "application/octet-stream", b"plain bytes", None),
    ("photo.gif", "image/gif", b"GIF89a", None),
])
def test_the_media_type_comes_from_the_name_then_the_browser_then_the_bytes(
        filename: str, declared: str, data: bytes, expected: str | None) -> None:
    assert guess_media_type(filename, declared, data) == expected


def test_the_document_codes_have_plain_texts_in_both_languages() -> None:
    from portal.errors import ERROR_TEXTS
    for code in ("document_restricted", "unknown_document", "replayed_request",
                 "document_too_large", "document_quota_exceeded",
                 "unsupported_document_type", "hash_mismatch", "stale_request",
                 "no_document_store"):
        en, zh = ERROR_TEXTS[code]
        assert en and zh and en != zh


def _client(handler: Callable[[httpx.Request], httpx.Response]) -> NodeClient:
    return NodeClient("http://node.test", transport=httpx.MockTransport(handler),
                      sleep=lambda s: None)


def _doc(data: bytes = b"%PDF-1.7 doc", media_type: str | None = "application/pdf"
         ) -> PendingDocument:
    return PendingDocument(field="pdd_sha256", filename="pdd.pdf",
                           sha256=hashlib.sha256(data).hexdigest(), data=data,
                           media_type=media_type, restricted=False)


def test_a_node_without_a_document_store_is_named_and_nothing_is_sent() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"error": {"code": "not_found",
                                                   "message": "no such route"}})

    with pytest.raises(DocumentRefused) as refused:
        upload_all(_client(handler), det_key("k"), "chain", [_doc()])
    assert refused.value.code == "no_document_store"
    assert "pdd.pdf" in refused.value.message and "pdd_sha256" in refused.value.message
    assert refused.value.document.field == "pdd_sha256"


def test_a_file_of_no_accepted_type_is_not_sent_at_all() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.method)
        return httpx.Response(500)

    with pytest.raises(DocumentRefused) as refused:
        upload_all(_client(handler), det_key("k"), "chain", [_doc(media_type=None)])
    assert refused.value.code == "unsupported_document_type" and seen == []


def test_an_unreachable_node_refuses_with_its_code() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(DocumentRefused) as refused:
        upload_all(_client(handler), det_key("k"), "chain", [_doc()])
    assert refused.value.code == "unreachable"


def test_an_unenrolled_signer_s_upload_is_refused_with_the_node_s_code() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.method)
        if request.method == "HEAD":
            return httpx.Response(404)
        return httpx.Response(403, json={"error": {
            "code": "unenrolled_signer", "message": "key k is not an active key"}})

    with pytest.raises(DocumentRefused) as refused:
        upload_all(_client(handler), det_key("k"), "chain", [_doc()])
    assert refused.value.code == "unenrolled_signer" and seen == ["HEAD", "POST"]
    assert "key k is not an active key" in refused.value.message
