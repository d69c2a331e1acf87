"""``GET /v1/keys/{pub_key}`` (issue 14): the organisation and roles that enrolled a key,
read from the committed membership state, so a participant's portal finds its
organisation in one request; 404 ``unknown_key`` for a key no organisation enrolled,
400 ``bad_request`` for a text that is not a public key. A revoked key still names its
organisation (a key belongs to one organisation forever) and says it cannot sign."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from chaincode.executor import Executor
from ledger.crypto import PrivateKey
from ledger.genesis import Genesis
from ledger.store import Store
from ledger.tx import build_transaction
from node.api.rpc import create_app
from node.api.service import Node
from node.chain.app import Application
from node.driver.solo import SoloDriver
from node.txpool.mempool import Mempool
from tests.support.common import CHAIN_ID, det_key


class Env:
    def __init__(self, path: Path, genesis: Genesis, key: PrivateKey) -> None:
        self.store = Store(path)
        self.mempool = Mempool(max_txs=100)
        self.app = Application(self.store, Executor(), genesis, verified=self.mempool.verified)
        self.driver = SoloDriver(self.app, self.mempool, key)
        self.node = Node(moniker="key-node", genesis=genesis, store=self.store, app=self.app,
                         mempool=self.mempool)
        self.client = TestClient(create_app(self.node), raise_server_exceptions=False)

    def run(self, key: PrivateKey, method: str, args: dict[str, Any], nonce: str) -> None:
        tx = build_transaction(chain_id=CHAIN_ID, contract="membership", method=method,
                               args=args, nonce=nonce, keys=[key])
        self.node.submit(tx.to_json())
        self.driver.step()
        record = self.client.get(f"/v1/txs/{tx.tx_id}").json()
        assert record["result"]["code"] == "ok", record


@pytest.fixture
def env(tmp_path: Path, genesis: Genesis, validator_key: PrivateKey) -> Iterator[Env]:
    e = Env(tmp_path / "db", genesis, validator_key)
    yield e
    e.store.close()


def test_the_genesis_regulator_key_names_its_organisation(
        env: Env, regulator_key: PrivateKey) -> None:
    pub = regulator_key.public_key_hex
    resp = env.client.get(f"/v1/keys/{pub}")
    assert resp.status_code == 200
    body = resp.json()
    assert body["pub_key"] == pub and body["org_id"] == "regulator"
    assert body["name"] == "Test regulator" and body["roles"] == ["regulator"]
    assert body["org_status"] == "active" and body["can_sign"] is True
    assert body["key"] == {"admin": True, "status": "active", "enrolled_at": 0,
                           "revoked_at": None}
    assert body["height"] == env.store.latest_height()
    # upper-case hex is the same key
    assert env.client.get(f"/v1/keys/{pub.upper()}").json()["org_id"] == "regulator"


def test_an_unknown_key_is_404_unknown_key_naming_it(env: Env) -> None:
    pub = det_key("never-enrolled").public_key_hex
    resp = env.client.get(f"/v1/keys/{pub}")
    assert resp.status_code == 404
    err = resp.json()["error"]
    assert err["code"] == "unknown_key" and pub in err["message"]


@pytest.mark.parametrize("text", ["abc", "g" * 64, "0" * 63, "0" * 65, "%20" + "0" * 61])
def test_a_text_that_is_not_a_public_key_is_400(env: Env, text: str) -> None:
    resp = env.client.get(f"/v1/keys/{text}")
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "bad_request"


def test_an_enrolled_then_revoked_key_keeps_its_organisation_and_cannot_sign(
        env: Env, regulator_key: PrivateKey) -> None:
    admin = det_key("farm-admin")
    member = det_key("farm-member")
    env.run(regulator_key, "enrol_org", {"org_id": "farm-1", "name": "Farm one",
                                         "roles": ["owner"],
                                         "admins": [admin.public_key_hex]}, "n1")
    env.run(admin, "enrol_key", {"org_id": "farm-1", "pub_key": member.public_key_hex}, "n2")
    body = env.client.get(f"/v1/keys/{member.public_key_hex}").json()
    assert (body["org_id"], body["name"], body["roles"]) == ("farm-1", "Farm one", ["owner"])
    assert body["key"]["admin"] is False and body["can_sign"] is True
    enrolled = body["key"]["enrolled_at"]
    env.run(admin, "revoke_key", {"pub_key": member.public_key_hex, "reason": "lost"}, "n3")
    body = env.client.get(f"/v1/keys/{member.public_key_hex}").json()
    assert body["org_id"] == "farm-1" and body["key"]["status"] == "revoked"
    assert body["key"]["enrolled_at"] == enrolled and body["key"]["revoked_at"] is not None
    assert body["can_sign"] is False
