"""The portal tests' shared builders (no tests in this module): ``NodeEnv``, the node's
real API with the explorer mounted (``fcl.main.api_routers``) and a document store over a
store holding the explorer's lifecycle scenario, a block made by a SoloDriver right after
each submission; portals whose NodeClient reaches that app through an httpx transport
(every request the portal makes is recorded in ``NodeEnv.requests``); and the helpers
that unlock a portal and fill in its forms."""

from __future__ import annotations

import hashlib
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from markupsafe import escape
from starlette.testclient import TestClient

from chaincode.executor import Executor
from chaincode.geometry import geodesic_area_m2_rational, parse_polygon
from fcl.main import api_routers
from ledger.crypto import sha256
from ledger.encoding import decode
from ledger.fixedpoint import format_decimal
from node.api.documents import DocumentSettings, DocumentStore
from node.api.rpc import create_app
from node.api.service import Node
from node.chain.app import Application
from node.driver.solo import SoloDriver
from node.txpool.mempool import Mempool
from portal.app import PortalConfig, cookie_names, create_portal_app
from portal.errors import error_text
from portal.session import Session
from tests.support.explorer import build_scenario
from wallet.client import NodeClient

__all__ = ["PASS", "SESSIONS", "SESSION_COOKIE", "NodeEnv", "area_ha", "csrf_of", "degrees",
           "draft_action", "login_token", "make_portal", "open_portal", "plain", "plot_form",
           "seed_of", "unlock"]

#: the test portals answer on 127.0.0.1:8765: their session cookie's name
SESSION_COOKIE = cookie_names(8765)[0]
PASS = "correct horse battery"


def plain(code: str, lang: str = "en") -> str:
    """The plain-language text of ``code`` as a page shows it (HTML-escaped)."""
    return str(escape(error_text(code, lang)))


def seed_of(name: str) -> bytes:
    """The seed of tests.support's det_key(name)."""
    return sha256(b"fcl-test-key:" + name.encode())


class NodeEnv:
    """The node's app over the scenario's store; a block is made after each POST /v1/txs."""

    def __init__(self, path: Path, documents: DocumentSettings | None = None) -> None:
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
        # the node keeps documents (docs/documents.md): the portal uploads the chosen files
        self.node.documents = DocumentStore(path / "documents")
        self.node.document_settings = documents or DocumentSettings()
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
                headers = {k: v for k, v in request.headers.items()
                           if k.lower() not in ("host", "content-length")}
                headers.setdefault("content-type", "application/json")
                resp = env.http.request(request.method, target, content=body,
                                        headers=headers)
                if request.method == "POST" and request.url.path == "/v1/txs" \
                        and resp.status_code == 202:
                    env.driver.step()
                return httpx.Response(resp.status_code, headers=resp.headers,
                                      content=resp.content)

        return Forward()

    def get(self, key: str) -> Any:
        raw = self.store.get(key)
        return None if raw is None else decode(raw)



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


def make_keydir(directory: Path, *, stranger: bool = False) -> Path:
    """A keystore folder with the portal tests' keys (fast scrypt), all under ``PASS``;
    with ``stranger``, also a key no organisation enrolled."""
    from wallet.keystore import Keystore

    ks = Keystore(directory, insecure_test_scrypt_n=16)
    for name in ("owner-farm", "buyer-power", "verifier-a", "regulator", "exchange"):
        ks.import_seed(name, seed_of(name), PASS)
    if stranger:
        ks.import_seed("stranger", seed_of("nobody-enrolled-this"), PASS)
    return directory
