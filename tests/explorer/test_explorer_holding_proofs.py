"""The explorer and holding proofs (issue 12): account and trace pages link "prove this
holding" to the node's holding-proof route, and the verification page accepts holding
proofs, showing holder and status per sub-range, or why the proof is not valid."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from chaincode.holding_proof import verify_holding_proof
from fcl.main import api_routers
from ledger.encoding import decode
from node.api.rpc import create_app
from tests.support.proof_world import FROZEN, ProofWorld, proof_world


@pytest.fixture(scope="module")
def pw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProofWorld]:
    with proof_world(tmp_path_factory) as world:
        yield world


@pytest.fixture(scope="module")
def client(pw: ProofWorld) -> Iterator[TestClient]:
    """The node's API with the explorer mounted, as ``fcl node start`` serves them."""
    with TestClient(create_app(pw.node, routers=api_routers(pw.node)),
                    raise_server_exceptions=False) as c:
        yield c


def _proof_links(page: str) -> list[str]:
    return [html.unescape(h) for h in re.findall(r'class="prove-holding" download="[^"]*" href="([^"]*)"', page)]


def test_account_page_links_each_range_to_its_holding_proof(pw: ProofWorld, client: TestClient) -> None:
    page = client.get("/explorer/accounts/owner-farm").text
    links = _proof_links(page)
    assert "/v1/holdings/proof?project_id=AH-0001&first=451&last=460" in links
    proof = client.get(links[0])
    assert proof.status_code == 200
    v = verify_holding_proof(decode(proof.content), genesis=pw.genesis)
    assert v.ok and v.summary is not None
    assert all(r.account == "owner-farm" for r in v.summary.ranges)


def test_trace_page_links_the_current_range(pw: ProofWorld, client: TestClient) -> None:
    page = client.get(f"/explorer/trace/AH-0001:{FROZEN[0] + 2}").text
    assert _proof_links(page) == [f"/v1/holdings/proof?project_id=AH-0001&first={FROZEN[0]}&last={FROZEN[1]}"]
    obj = decode(client.get(_proof_links(page)[0]).content)
    v = verify_holding_proof(obj, genesis=pw.genesis)
    assert v.ok and v.summary is not None and [r.status for r in v.summary.ranges] == ["frozen"]


@pytest.fixture(scope="module")
def proof(client: TestClient) -> dict[str, Any]:
    resp = client.get("/v1/holdings/proof", params={"project_id": "AH-0001", "first": "350", "last": "460"})
    return dict(decode(resp.content))


def test_the_verification_page_accepts_a_holding_proof(client: TestClient, proof: dict[str, Any]) -> None:
    files = {"certificate": ("holding.json", json.dumps(proof).encode(), "application/json")}
    page = client.post("/explorer/verify", files=files)
    assert page.status_code == 200
    text = page.text
    section = text.split('id="verdict"')[1].split("</section>")[0]
    assert 'data-ok="true"' in section.split(">", 1)[0]
    assert "This holding proof is genuine: units 350–460 of project AH-0001" in text
    statuses = re.findall(r'<tr data-status="(\w+)">', text)
    assert statuses == ["retired", "listed", "active", "frozen"]
    assert "CCER-AH-0001-2022-000000451-000000460" in text
    body = client.post("/v1/explorer/verify", json=proof).json()
    assert body["ok"] is True and body["details"]["kind"] == "holding"
    assert [r["status"] for r in body["details"]["ranges"]] == statuses
    assert [c["name"] for c in body["checks"]] == ["claim", "format", "anchor", "header", "proofs", "coverage"]


def test_the_verification_page_says_why_a_holding_proof_fails(client: TestClient, proof: dict[str, Any]) -> None:
    gap = json.loads(json.dumps(proof))
    del gap["state_proof"]["entries"][1]
    body = client.post("/v1/explorer/verify", json=gap).json()
    assert body["ok"] is False and body["code"] == "holding_not_covered"
    page = client.post("/explorer/verify", data={"certificate_json": json.dumps(gap)}).text
    assert "This holding proof is NOT valid: its records do not cover the whole range" in page
    forged = json.loads(json.dumps(proof))
    forged["state_proof"]["entries"][0]["value"]["account"] = "thief"
    body = client.post("/v1/explorer/verify", json=forged).json()
    assert body["ok"] is False and body["code"] == "value_not_proven"
    page = client.post("/explorer/verify", data={"certificate_json": json.dumps(forged)}).text
    assert "This holding proof is NOT valid: a unit record in it is not the one" in page
    broken = dict(proof, version=9)
    body = client.post("/v1/explorer/verify", json=broken).json()
    assert body["ok"] is False and body["code"] == "unsupported_version"
    # a certificate is still verified as a certificate
    assert client.post("/v1/explorer/verify", json={"format": "fcl-retirement-certificate"}).json()[
        "checks"][0]["name"] == "format"
