"""The document store (issue 14, item 4; docs/documents.md): uploads by enrolled keys
through signed, replay-protected requests with size, type and quota limits; documents
served by hash; restricted documents served only to the regulator and the uploader's
organisation; the store's own crash safety."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.crypto import sha256_hex
from ledger.documents import (
    HEADER_KEY,
    HEADER_NONCE,
    HEADER_RESTRICTED,
    HEADER_SIGNATURE,
    HEADER_TIME,
    MEDIA_TYPES,
    SIGNATURE_WINDOW_MS,
    content_problem,
    read_message,
    referenced_hashes,
    upload_message,
)
from node.api.documents import (
    DocumentMeta,
    DocumentSettings,
    DocumentStore,
    QuotaExceeded,
    ReplayGuard,
    create_documents_router,
)
from node.api.rpc import create_app, node_routers
from node.home import HomeError, NodeConfig
from tests.support.documents import (
    CHAIN_ID,
    FARM_A,
    FARM_A2,
    FARM_B,
    MAX_BYTES,
    NOW,
    PDF,
    PNG,
    QUOTA,
    REG,
    STRANGER,
    URL,
    Env,
)
from wallet.documents import read_headers, upload_headers


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return Env(tmp_path)


def _refused_changes_nothing(env: Env, before: int) -> None:
    assert len(env.documents) == before
    assert list((env.documents.root / "tmp").iterdir()) == []


# -- uploads ------------------------------------------------------------------------------
def test_an_enrolled_key_uploads_and_anyone_reads_it_back_by_its_hash(env: Env) -> None:
    digest = sha256_hex(PDF)
    answer = env.upload(FARM_A2, PDF)
    assert answer == {"sha256": digest, "size": len(PDF), "media_type": "application/pdf",
                      "restricted": False, "uploader_org": "farm-a", "stored_ms": NOW,
                      "url": f"/v1/documents/{digest}", "stored": True}
    resp = env.get(digest)
    assert resp.status_code == 200
    assert resp.content == PDF
    assert resp.headers["content-type"] == "application/pdf"
    assert resp.headers["etag"] == f'"{digest}"'
    assert resp.headers["x-fcl-uploader-org"] == "farm-a"
    assert resp.headers["x-fcl-restricted"] == "false"
    head = env.client.head(f"{URL}/{digest}")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(PDF))
    assert env.get(digest, **{"if-none-match": f'"{digest}"'}).status_code == 304
    meta = env.documents.get(digest)
    assert meta == DocumentMeta(sha256=digest, size=len(PDF), media_type="application/pdf",
                                restricted=False, uploader_org="farm-a",
                                uploader_key=FARM_A2.public_key_hex, stored_ms=NOW,
                                source="upload")
    assert env.documents.usage("farm-a") == len(PDF)
    # the same bytes again (a new signed request): already held, not charged twice
    again = env.upload(FARM_A, PDF, status=200)
    assert again["stored"] is False and env.documents.usage("farm-a") == len(PDF)


def test_every_allowed_type_is_accepted_when_its_bytes_are_of_that_type(env: Env) -> None:
    samples = {
        "application/pdf": PDF, "image/png": PNG, "image/jpeg": b"\xff\xd8\xff\xe0jfif",
        "image/tiff": b"II*\x00geotiff", "application/json": b'{"plots": [1, 2]}',
        "application/geo+json": b'{"type": "FeatureCollection", "features": []}',
        "text/csv": b"plot,volume\nXN-SF-01,12.5\n", "application/zip": b"PK\x03\x04zip",
    }
    assert set(samples) == set(MEDIA_TYPES.values())
    for media_type, data in samples.items():
        assert env.upload(FARM_A, data, media_type)["media_type"] == media_type
        assert env.get(sha256_hex(data)).headers["content-type"].startswith(media_type)


def test_an_unenrolled_key_is_refused(env: Env) -> None:
    answer = env.upload(STRANGER, PDF, status=403, code="unenrolled_signer")
    assert STRANGER.public_key_hex in answer["error"]["message"]
    _refused_changes_nothing(env, 0)


def test_a_bad_signature_is_refused(env: Env) -> None:
    headers = upload_headers(FARM_B, chain_id=CHAIN_ID, data=PDF,
                             media_type="application/pdf", time_ms=NOW)
    headers[HEADER_KEY] = FARM_A.public_key_hex  # signed by B, claimed as A's
    env.upload(FARM_A, PDF, headers=headers, status=422, code="bad_signature")
    tampered = upload_headers(FARM_A, chain_id=CHAIN_ID, data=PDF,
                              media_type="application/pdf", time_ms=NOW)
    tampered[HEADER_RESTRICTED] = "true"  # not what was signed
    env.upload(FARM_A, PDF, headers=tampered, status=422, code="bad_signature")
    _refused_changes_nothing(env, 0)


def test_a_replayed_request_is_refused(env: Env) -> None:
    headers = upload_headers(FARM_A, chain_id=CHAIN_ID, data=PDF,
                             media_type="application/pdf", time_ms=NOW)
    env.upload(FARM_A, PDF, headers=headers)
    env.upload(FARM_A, PDF, headers=headers, status=409, code="replayed_request")


def test_a_request_for_another_chain_is_refused(env: Env) -> None:
    answer = env.upload(FARM_A, PDF, chain_id="fcl-other", status=422, code="wrong_chain")
    assert "fcl-other" in answer["error"]["message"]
    _refused_changes_nothing(env, 0)


def test_a_request_signed_too_far_from_the_clock_is_refused(env: Env) -> None:
    for time_ms in (NOW - SIGNATURE_WINDOW_MS - 1, NOW + SIGNATURE_WINDOW_MS + 1):
        env.upload(FARM_A, PDF, time_ms=time_ms, status=422, code="stale_request")
    env.upload(FARM_A, PDF, time_ms=NOW - SIGNATURE_WINDOW_MS)  # the edge is inside
    _refused_changes_nothing(env, 1)


def test_a_body_whose_hash_is_not_the_signed_one_is_refused(env: Env) -> None:
    other = PDF.replace(b"XN-SF-01", b"XN-SF-02")
    answer = env.upload(FARM_A, PDF, body=other, status=422, code="hash_mismatch")
    assert sha256_hex(other) in answer["error"]["message"]
    assert sha256_hex(PDF) in answer["error"]["message"]
    _refused_changes_nothing(env, 0)
    assert env.get(sha256_hex(PDF)).status_code == 404
    assert env.get(sha256_hex(other)).status_code == 404


def test_an_oversize_document_is_refused(env: Env) -> None:
    big = b"%PDF-" + b"x" * MAX_BYTES
    answer = env.upload(FARM_A, big, status=413, code="document_too_large")
    assert str(MAX_BYTES) in answer["error"]["message"]
    _refused_changes_nothing(env, 0)
    assert env.upload(FARM_A, big[:MAX_BYTES])["size"] == MAX_BYTES


def test_a_type_not_allowed_or_bytes_not_of_the_type_are_refused(env: Env) -> None:
    html = upload_headers(FARM_A, chain_id=CHAIN_ID, data=b"<html></html>",
                          media_type="text/csv", time_ms=NOW)
    html["content-type"] = "text/html"  # the client refuses to sign it; the node too
    env.upload(FARM_A, b"<html></html>", headers=html, status=415,
               code="unsupported_document_type")
    answer = env.upload(FARM_A, PNG, "application/pdf", status=415,
                        code="unsupported_document_type")
    assert "application/pdf" in answer["error"]["message"]
    env.upload(FARM_A, b"{not json", "application/json", status=415,
               code="unsupported_document_type")
    env.upload(FARM_A, b"[1, 2]", "application/geo+json", status=415,
               code="unsupported_document_type")
    env.upload(FARM_A, b"a,b\x00", "text/csv", status=415, code="unsupported_document_type")
    env.upload(FARM_A, b"\xff\xfe", "text/csv", status=415, code="unsupported_document_type")
    _refused_changes_nothing(env, 0)


def test_an_organisation_over_its_quota_is_refused_others_are_not(env: Env) -> None:
    first = b"%PDF-" + b"a" * 3995  # 4000 bytes
    second = b"%PDF-" + b"b" * 2995  # 3000: 7000 > 6000
    env.upload(FARM_A, first)
    answer = env.upload(FARM_A2, second, status=413, code="document_quota_exceeded")
    assert "farm-a" in answer["error"]["message"] and str(QUOTA) in answer["error"]["message"]
    _refused_changes_nothing(env, 1)
    env.upload(FARM_B, second)  # another organisation has its own quota
    assert env.documents.usage("farm-a") == 4000 and env.documents.usage("farm-b") == 3000


def test_uploads_beyond_the_concurrent_limit_are_told_to_retry(tmp_path: Path) -> None:
    env = Env(tmp_path)
    busy = create_documents_router(env.documents, lambda: env.store, CHAIN_ID,
                                   settings=DocumentSettings(max_concurrent_uploads=0),
                                   clock_ms=lambda: NOW)
    client = TestClient(create_app(env.node, routers=[busy]), raise_server_exceptions=False)
    headers = upload_headers(FARM_A, chain_id=CHAIN_ID, data=PDF,
                             media_type="application/pdf", time_ms=NOW)
    resp = client.post(URL, content=PDF, headers=headers)
    assert resp.status_code == 503 and resp.json()["error"]["code"] == "admission_busy"
    assert len(env.documents) == 0


def test_the_quota_is_checked_again_under_the_stores_lock(tmp_path: Path) -> None:
    store = DocumentStore(tmp_path / "documents")

    def meta(data: bytes, org: str = "farm-a", source: str = "upload") -> DocumentMeta:
        return DocumentMeta(sha256=sha256_hex(data), size=len(data),
                            media_type="application/pdf", restricted=False, uploader_org=org,
                            uploader_key=None, stored_ms=1, source=source)

    first, second = b"%PDF-" + b"1" * 95, b"%PDF-" + b"2" * 95
    assert store.put(first, meta(first), org_quota=150)
    with pytest.raises(QuotaExceeded, match="farm-a has uploaded 100 bytes"):
        store.put(second, meta(second), org_quota=150)
    assert store.put(second, meta(second, "farm-b"), org_quota=150)  # another organisation
    assert store.put(b"%PDF-3", meta(b"%PDF-3", source="peer"), org_quota=1)  # a replica
    assert store.usage("farm-a") == 100 and store.usage("farm-b") == 100
    assert store.get(sha256_hex(second)) == meta(second, "farm-b")


@pytest.mark.parametrize("drop", [HEADER_KEY, HEADER_NONCE, HEADER_TIME, HEADER_SIGNATURE,
                                  HEADER_RESTRICTED, "x-fcl-sha256", "x-fcl-chain-id"])
def test_a_request_without_one_of_its_headers_is_malformed(env: Env, drop: str) -> None:
    headers = upload_headers(FARM_A, chain_id=CHAIN_ID, data=PDF,
                             media_type="application/pdf", time_ms=NOW)
    del headers[drop]
    answer = env.upload(FARM_A, PDF, headers=headers, status=400, code="malformed_request")
    assert drop in answer["error"]["message"]


@pytest.mark.parametrize(("header", "value"), [
    (HEADER_NONCE, "no spaces"), (HEADER_NONCE, "n" * 65), (HEADER_TIME, "-5"),
    (HEADER_TIME, "12.5"), (HEADER_RESTRICTED, "yes"), (HEADER_KEY, "ab" * 16),
    (HEADER_SIGNATURE, "00"), ("x-fcl-sha256", "A" * 64),
])
def test_a_malformed_header_is_refused(env: Env, header: str, value: str) -> None:
    headers = upload_headers(FARM_A, chain_id=CHAIN_ID, data=PDF,
                             media_type="application/pdf", time_ms=NOW)
    headers[header] = value
    env.upload(FARM_A, PDF, headers=headers, status=400, code="malformed_request")


def test_an_empty_file_is_not_a_document(env: Env) -> None:
    env.upload(FARM_A, b"", "text/csv", status=400, code="malformed_request")


# -- restricted documents ------------------------------------------------------------------
def test_a_restricted_document_is_served_only_to_the_regulator_and_the_uploader(
        env: Env) -> None:
    digest = sha256_hex(PDF)
    assert env.upload(FARM_A, PDF, restricted=True)["restricted"] is True
    unsigned = env.get(digest)
    assert unsigned.status_code == 403
    assert unsigned.json()["error"]["code"] == "document_restricted"
    assert env.client.head(f"{URL}/{digest}").status_code == 403
    third = env.get(digest, FARM_B)
    assert third.status_code == 403 and third.json()["error"]["code"] == "document_restricted"
    assert "farm-b" in third.json()["error"]["message"]
    for reader in (REG, FARM_A, FARM_A2):  # the regulator, the uploader, its colleague
        resp = env.get(digest, reader)
        assert resp.status_code == 200 and resp.content == PDF
        assert resp.headers["cache-control"] == "private, no-store"
    stranger = env.get(digest, STRANGER)
    assert stranger.json()["error"]["code"] == "unenrolled_signer"
    # a read signature over another document, or at another time, does not verify
    forged = read_headers(REG, chain_id=CHAIN_ID, sha256="0" * 64, time_ms=NOW)
    resp = env.client.get(f"{URL}/{digest}", headers=forged)
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "bad_signature"
    late = read_headers(REG, chain_id=CHAIN_ID, sha256=digest, time_ms=NOW - 10 * 60_000)
    resp = env.client.get(f"{URL}/{digest}", headers=late)
    assert resp.json()["error"]["code"] == "stale_request"


def test_unknown_and_malformed_hashes(env: Env) -> None:
    resp = env.get("ab" * 32)
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "unknown_document"
    for bad in ("xyz", "AB" * 32, "ab" * 31):
        resp = env.get(bad)
        assert resp.status_code == 400 and resp.json()["error"]["code"] == "bad_id"


def test_the_node_routes_include_documents_only_when_the_node_has_a_store(tmp_path: Path) -> None:
    env = Env(tmp_path)
    paths = {getattr(r, "path", "") for router in node_routers(env.node) for r in router.routes}
    assert "/v1/documents" not in paths
    env.node.documents = env.documents
    paths = {getattr(r, "path", "") for router in node_routers(env.node) for r in router.routes}
    assert {"/v1/documents", "/v1/documents/{sha256}"} <= paths


# -- the signed formats --------------------------------------------------------------------
def test_the_signed_messages_are_canonical_json_with_a_purpose() -> None:
    message = upload_message(chain_id="c", sha256="ab" * 32, size=3, media_type="text/csv",
                             restricted=False, nonce="n", time_ms=5)
    assert message == (b'{"chain_id":"c","media_type":"text/csv","nonce":"n","purpose":'
                       b'"fcl-document-upload/1","restricted":false,"sha256":"' + b"ab" * 32
                       + b'","size":3,"time_ms":5}')
    read = read_message(chain_id="c", sha256="ab" * 32, time_ms=5)
    assert json.loads(read) == {"chain_id": "c", "purpose": "fcl-document-read/1",
                                "sha256": "ab" * 32, "time_ms": 5}


def test_referenced_hashes_finds_every_sha256_argument_once() -> None:
    a, b, c = "a" * 64, "b" * 64, "c" * 64
    args = {"pdd_sha256": a, "plots": [{"tenure": {"scan_sha256": b}}, {"x": 1}],
            "report_sha256": a, "name_sha256": "not-hex", "other": c,
            "evidence": {"imagery_sha256": c}, "upper_sha256": "A" * 64}
    assert referenced_hashes(args) == [c, a, b]
    assert referenced_hashes([]) == [] and referenced_hashes(None) == []


@given(st.binary(max_size=64))
@settings(max_examples=200, deadline=None)
def test_content_problem_never_raises_and_binary_types_need_their_signature(data: bytes) -> None:
    for media_type in MEDIA_TYPES.values():
        problem = content_problem(media_type, data)
        assert problem is None or isinstance(problem, str)
    if not data.startswith(b"%PDF-"):
        assert content_problem("application/pdf", data) is not None


# -- the store -----------------------------------------------------------------------------
def test_the_store_survives_a_reopen_and_drops_half_written_files(tmp_path: Path) -> None:
    root = tmp_path / "documents"
    store = DocumentStore(root)
    digest = sha256_hex(PDF)
    meta = DocumentMeta(sha256=digest, size=len(PDF), media_type="application/pdf",
                        restricted=True, uploader_org="farm-a", uploader_key=None,
                        stored_ms=1, source="upload")
    assert store.put(PDF, meta) is True
    assert store.put(PDF, meta) is False
    with pytest.raises(ValueError):
        store.put(PNG, meta)
    # a crash after writing the bytes of another document but before its metadata
    orphan = sha256_hex(PNG)
    (root / "objects" / orphan[:2]).mkdir(parents=True, exist_ok=True)
    (root / "objects" / orphan[:2] / orphan).write_bytes(PNG)
    (root / "tmp" / "x.tmp").write_bytes(b"partial")
    reopened = DocumentStore(root)
    assert reopened.get(digest) == meta and reopened.read(digest) == PDF
    assert reopened.usage("farm-a") == len(PDF)
    assert orphan not in reopened and not (root / "objects" / orphan[:2] / orphan).exists()
    assert list((root / "tmp").iterdir()) == []
    assert reopened.read(orphan) is None


def test_the_replay_guard_forgets_old_pairs_and_refuses_what_it_forgot() -> None:
    guard = ReplayGuard(window_ms=1000, max_entries=2)
    assert guard.check_and_record("k", "n1", 100, 100) is None
    assert guard.check_and_record("k", "n1", 100, 100) == "replayed"
    assert guard.check_and_record("k", "n2", 150, 150) is None
    assert guard.check_and_record("k", "n3", 200, 200) is None  # full: n1 forgotten
    assert guard.check_and_record("k", "n1", 100, 200) == "stale"  # ... and refused
    assert guard.check_and_record("k", "n9", 99, 200) == "stale"  # so is anything older
    # pairs whose signed time left the window are forgotten without raising the floor
    assert guard.check_and_record("k", "n4", 5000, 5000) is None
    assert guard.check_and_record("k", "n4", 5000, 5000) == "replayed"
    assert guard.check_and_record("j", "n1", 4500, 5000) is None


# -- configuration -------------------------------------------------------------------------
def test_the_documents_config_round_trips_and_bad_values_are_refused() -> None:
    config = NodeConfig.from_json({"chain_id": CHAIN_ID, "moniker": "n", "documents": {
        "max_bytes": 1000, "org_quota_bytes": 5000, "peers": ["http://127.0.0.1:26658"]}})
    assert config.document_peers == ("http://127.0.0.1:26658",)
    assert NodeConfig.from_json(config.to_json()) == config
    assert NodeConfig.from_json({"chain_id": CHAIN_ID, "moniker": "n"}).documents_max_bytes \
        == 20 * 1024 * 1024
    for documents in ({"peers": "http://a"}, {"peers": ["ftp://a"]}, {"max_bytes": 0},
                      {"org_quota_bytes": -1}, {"peers": ["http://a?x=1"]}):
        with pytest.raises(HomeError) as info:
            NodeConfig.from_json({"chain_id": CHAIN_ID, "moniker": "n", "documents": documents})
        assert info.value.code == "bad_config"

