"""Shared builders for the document-store tests (no tests in this module): a genesis
with the regulator and two owner organisations, and ``Env``, a node serving only the
document routes over an in-memory store and a document folder, with a fixed clock."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from chaincode.executor import Executor
from ledger.crypto import PrivateKey
from ledger.genesis import Genesis
from ledger.store import Store
from node.api.documents import DocumentSettings, DocumentStore, create_documents_router
from node.api.rpc import create_app
from node.api.service import Node
from node.chain.app import Application
from node.txpool.mempool import Mempool
from tests.support.common import CHAIN_ID, GENESIS_TIME, det_key
from tests.support.harness import fixture_params
from wallet.documents import read_headers, upload_headers

__all__ = ["CHAIN_ID", "FARM_A", "FARM_A2", "FARM_B", "MAX_BYTES", "NOW", "PDF", "PNG",
           "QUOTA", "REG", "STRANGER", "URL", "Env", "det_key", "doc_genesis"]

NOW = 1_765_000_000_000
URL = "/v1/documents"
REG = det_key("doc-regulator")
FARM_A = det_key("doc-farm-a")
FARM_A2 = det_key("doc-farm-a-member")
FARM_B = det_key("doc-farm-b")
STRANGER = det_key("doc-stranger")
PDF = b"%PDF-1.7\n" + b"land tenure certificate XN-SF-01\n" * 20
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
MAX_BYTES = 4096
QUOTA = 6000


def doc_genesis(*, farm_a_members: tuple[str, ...] = ()) -> Genesis:
    """Organisations regulator, farm-a (admin FARM_A, member FARM_A2 and
    ``farm_a_members``) and farm-b (FARM_B); STRANGER is enrolled nowhere."""
    def org(org_id: str, roles: list[str], admin: PrivateKey,
            members: list[PrivateKey], more: tuple[str, ...] = ()) -> dict[str, Any]:
        return {"id": org_id, "name": org_id, "roles": roles, "accreditation": None,
                "admins": [admin.public_key_hex],
                "members": [m.public_key_hex for m in members] + list(more)}

    return Genesis.from_json({
        "chain_id": CHAIN_ID, "genesis_time": GENESIS_TIME,
        "validators": [{"name": "val0", "pub_key": det_key("doc-val").public_key_hex,
                        "power": 10}],
        "app_state": {"organisations": [
            org("regulator", ["regulator"], REG, []),
            org("farm-a", ["owner"], FARM_A, [FARM_A2], farm_a_members),
            org("farm-b", ["owner"], FARM_B, []),
        ], "params": fixture_params()},  # the methodology's tables: carbon plots can register
    })


class Env:
    def __init__(self, root: Path, genesis: Genesis | None = None) -> None:
        genesis = genesis or doc_genesis()
        self.store = Store.in_memory()
        self.app = Application(self.store, Executor(), genesis)
        self.node = Node(moniker="docs", genesis=genesis, store=self.store, app=self.app,
                         mempool=Mempool(10, 1 << 20))
        self.documents = DocumentStore(root / "documents")
        self.now = NOW
        router = create_documents_router(
            self.documents, lambda: self.store, CHAIN_ID,
            settings=DocumentSettings(max_bytes=MAX_BYTES, org_quota_bytes=QUOTA),
            clock_ms=lambda: self.now)
        self.client = TestClient(create_app(self.node, routers=[router]),
                                 raise_server_exceptions=False)

    def upload(self, key: PrivateKey, data: bytes, media_type: str = "application/pdf", *,
               restricted: bool = False, status: int = 201, code: str | None = None,
               body: bytes | None = None, chain_id: str = CHAIN_ID, time_ms: int = NOW,
               nonce: str | None = None, headers: dict[str, str] | None = None,
               ) -> dict[str, Any]:
        sent = headers or upload_headers(key, chain_id=chain_id, data=data,
                                         media_type=media_type, restricted=restricted,
                                         nonce=nonce, time_ms=time_ms)
        resp = self.client.post(URL, content=data if body is None else body, headers=sent)
        assert resp.status_code == status, resp.text
        answer: dict[str, Any] = resp.json()
        if code is not None:
            assert answer["error"]["code"] == code, answer
            assert answer["error"]["message"]
        return answer

    def get(self, sha256: str, key: PrivateKey | None = None, **extra: str) -> Any:
        headers = {} if key is None else read_headers(key, chain_id=CHAIN_ID, sha256=sha256,
                                                      time_ms=self.now)
        return self.client.get(f"{URL}/{sha256}", headers={**headers, **extra})
