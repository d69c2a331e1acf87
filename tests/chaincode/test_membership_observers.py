"""Membership: observer node keys (issue 13) -- ``enrol_observer``, ``revoke_observer``,
genesis ``app_state.observers`` and the ``is_active_observer`` predicate the p2p
handshake uses."""

from __future__ import annotations

import copy

import pytest

from chaincode.executor import Executor
from chaincode.governance import Governance
from chaincode.kv import KeyValue
from chaincode.membership import Membership, is_active_observer
from chaincode.params import Params
from ledger.encoding import canonical
from ledger.genesis import Genesis
from tests.support.common import det_key
from tests.support.harness import CHAIN_ID, GENESIS_TIME, Harness


def contracts() -> list:
    return [Membership(), Params(), Governance(), KeyValue()]


@pytest.fixture
def h() -> Harness:
    return Harness(executor=Executor(contracts()))


def node_key(h: Harness, name: str = "obs-1") -> str:
    return h.key(name).public_key_hex


def enrol(h: Harness, name: str = "obs-1", **over) -> dict:
    args = {"node_key": node_key(h, name), "org_id": "exchange", "moniker": "auditor-1"}
    args.update(over)
    return args


def test_enrol_observer_writes_record_and_event(h):
    key = node_key(h)
    assert not is_active_observer(h.state, key)
    result = h.ok("regulator", "membership", "enrol_observer", enrol(h))
    assert h.returned(result) == {"node_key": key, "org_id": "exchange"}
    (ev,) = [e for e in result["events"] if e["type"] == "membership.observer_enrolled"]
    assert ev == {"type": "membership.observer_enrolled", "node_key": key,
                  "org_id": "exchange", "moniker": "auditor-1"}
    assert h.get(f"observer/{key}") == {
        "enrolled_height": h.height, "moniker": "auditor-1", "org_id": "exchange",
        "revoked_height": None, "status": "active"}
    assert is_active_observer(h.state, key)
    # moniker is optional
    h.ok("regulator", "membership", "enrol_observer",
         {"node_key": node_key(h, "obs-2"), "org_id": "regulator"})
    assert h.get(f"observer/{node_key(h, 'obs-2')}")["moniker"] is None


def test_revoke_observer(h):
    key = node_key(h)
    h.ok("regulator", "membership", "enrol_observer", enrol(h))
    result = h.ok("regulator", "membership", "revoke_observer",
                  {"node_key": key, "reason": "contract ended"})
    (ev,) = [e for e in result["events"] if e["type"] == "membership.observer_revoked"]
    assert ev == {"type": "membership.observer_revoked", "node_key": key, "org_id": "exchange",
                  "reason": "contract ended"}
    record = h.get(f"observer/{key}")
    assert record["status"] == "revoked" and record["revoked_height"] == h.height
    assert not is_active_observer(h.state, key)
    # revoked for good: neither revoked again nor enrolled again
    h.fails("observer_revoked", "regulator", "membership", "revoke_observer", {"node_key": key})
    h.fails("observer_revoked", "regulator", "membership", "enrol_observer", enrol(h))


def test_enrol_observer_refusals(h):
    h.ok("regulator", "membership", "enrol_observer", enrol(h))
    h.fails("observer_exists", "regulator", "membership", "enrol_observer",
            enrol(h, org_id="regulator"))
    h.fails("observer_is_validator", "regulator", "membership", "enrol_observer",
            enrol(h, node_key=h.validator_key.public_key_hex))
    h.fails("unknown_org", "regulator", "membership", "enrol_observer",
            enrol(h, "obs-3", org_id="nobody"))
    for bad in ("XYZ", "AB" * 32, "ab" * 31, 7, None):
        h.fails("invalid_args", "regulator", "membership", "enrol_observer",
                enrol(h, "obs-3", node_key=bad))
    for bad in ("", "-lead", "has space", "x" * 65):
        h.fails("invalid_args", "regulator", "membership", "enrol_observer",
                enrol(h, "obs-3", moniker=bad))
    h.fails("invalid_args", "regulator", "membership", "enrol_observer",
            {**enrol(h, "obs-3"), "extra": 1})
    h.ok("regulator", "membership", "update_org_status",
         {"org_id": "owner-farm", "status": "suspended"})
    h.fails("org_suspended", "regulator", "membership", "enrol_observer",
            enrol(h, "obs-3", org_id="owner-farm"))


def test_observer_methods_need_the_regulator(h):
    for signer in ("exchange", "owner-farm", "verifier-a"):
        h.fails("unauthorized", signer, "membership", "enrol_observer", enrol(h))
    h.ok("regulator", "membership", "enrol_observer", enrol(h))
    h.fails("unauthorized", "exchange", "membership", "revoke_observer",
            {"node_key": node_key(h)})
    assert is_active_observer(h.state, node_key(h))


def test_revoke_observer_refusals(h):
    h.fails("unknown_observer", "regulator", "membership", "revoke_observer",
            {"node_key": node_key(h)})
    h.fails("invalid_args", "regulator", "membership", "revoke_observer", {"node_key": "nope"})


def test_a_scheduled_validator_cannot_be_enrolled():
    h = Harness(executor=Executor(contracts()),
                validators=[{"name": "v0", "power": 1, "pub_key": det_pub("v0")},
                            {"name": "v1", "power": 1, "pub_key": det_pub("v1")}])
    record = h.get("sys/validators")
    pending_key = det_pub("v2")
    record["pending"] = {"height": 99, "validators": [
        *record["current"], {"name": "v2", "power": 1, "pub_key": pending_key}]}
    h.state.apply([("sys/validators", canonical(record))])
    h.fails("observer_is_validator", "regulator", "membership", "enrol_observer",
            {"node_key": pending_key, "org_id": "exchange"})


def det_pub(name: str) -> str:
    return det_key(name).public_key_hex


def test_is_active_observer_ignores_malformed_keys(h):
    assert not is_active_observer(h.state, "../key")
    assert not is_active_observer(h.state, "")


# -- genesis ----------------------------------------------------------------------------
ORG = {"accreditation": None, "admins": ["01" * 32], "id": "reg", "members": [],
       "name": "Regulator", "roles": ["regulator"]}
VALIDATOR = "ab" * 32


def _doc(observers: object) -> dict:
    return {"app_state": {"organisations": [ORG], "params": {}, "observers": observers},
            "chain_id": CHAIN_ID, "genesis_time": GENESIS_TIME,
            "validators": [{"name": "v0", "power": 1, "pub_key": VALIDATOR}]}


def test_genesis_observers_are_enrolled():
    writes = dict(Executor(contracts()).genesis_writes(Genesis.from_json(_doc(
        [{"node_key": "0c" * 32, "org_id": "reg", "moniker": "obs0"},
         {"node_key": "0d" * 32, "org_id": "reg"}]))))
    assert writes["observer/" + "0c" * 32] == (
        b'{"enrolled_height":0,"moniker":"obs0","org_id":"reg","revoked_height":null,'
        b'"status":"active"}')
    assert b'"moniker":null' in writes["observer/" + "0d" * 32]
    without = dict(Executor(contracts()).genesis_writes(Genesis.from_json(_doc([]))))
    assert not any(k.startswith("observer/") for k in without)


@pytest.mark.parametrize(
    "observers, fragment",
    [
        ({"node_key": "0c" * 32}, "must be a list"),
        (["0c" * 32], "must be an object"),
        ([{"node_key": "0c" * 32, "org_id": "reg", "power": 1}], "unknown field"),
        ([{"node_key": "XY", "org_id": "reg"}], "lowercase hex"),
        ([{"node_key": "0c" * 32, "org_id": "nobody"}], "not a genesis organisation"),
        ([{"node_key": "0c" * 32, "org_id": "reg", "moniker": "a b"}], "moniker"),
        ([{"node_key": VALIDATOR, "org_id": "reg"}], "is a genesis validator"),
        ([{"node_key": "0c" * 32, "org_id": "reg"}] * 2, "listed twice"),
    ],
)
def test_genesis_rejects_bad_observers(observers, fragment):
    with pytest.raises(ValueError, match=fragment):
        Executor(contracts()).genesis_writes(Genesis.from_json(_doc(copy.deepcopy(observers))))
