"""Governance: validator-set changes need approvals by operators of > 2/3 of current power."""

from __future__ import annotations

import pytest

from chaincode.executor import Executor
from chaincode.governance import Governance, proposal_key, proposal_status
from chaincode.kv import KeyValue
from chaincode.membership import Membership
from chaincode.params import Params
from chaincode.validator_state import validator_set_for
from ledger.genesis import Genesis
from tests.support.harness import CHAIN_ID, GENESIS_TIME, Harness, det_key

OPERATED = {"v-reg": "regulator", "v-exch": "exchange", "v-ver": "verifier-a", "v-own": "owner-farm"}


def contracts() -> list:
    return [Membership(), Params(), Governance(), KeyValue()]


def vkey(name: str) -> str:
    return det_key("validator:" + name).public_key_hex


def vset(*items: tuple[str, int]) -> list[dict]:
    return [{"name": n, "power": p, "pub_key": vkey(n)} for n, p in items]


GENESIS_SET = vset(("v-reg", 10), ("v-exch", 10), ("v-ver", 10), ("v-own", 10))
NEW_SET = vset(("v-reg", 10), ("v-exch", 10), ("v-ver", 10), ("v-new", 10))


def four_operator_harness(operators: dict[str, str] | None = None,
                          validators: list[dict] | None = None) -> Harness:
    ops = OPERATED if operators is None else operators
    return Harness(
        executor=Executor(contracts()),
        validators=validators or GENESIS_SET,
        app_state={"validator_operators": {vkey(n): org for n, org in sorted(ops.items())
                                           if n != "v-reg"}},  # v-reg: default (regulator)
    )


@pytest.fixture
def h() -> Harness:
    return four_operator_harness()


def propose(h: Harness, validators: list[dict] = NEW_SET, *, ahead: int = 10,
            operators: dict | None = None, signer: str = "regulator") -> dict:
    args = {"validators": validators, "effective_height": h.height + 1 + ahead}
    if operators is not None:
        args["operators"] = operators
    return h.call(signer, "governance", "propose_validator_change", args)


def new_op() -> dict[str, str]:
    return {vkey("v-new"): "coop"}


def approve(h: Harness, signers: str | list[str], pid: int = 1) -> dict:
    return h.call(signers, "governance", "approve_validator_change", {"proposal_id": pid})


def ev(result: dict, kind: str) -> list[dict]:
    return [e for e in result["events"] if e["type"] == kind]


# -- genesis -------------------------------------------------------------------------------
def test_genesis_records_operators_with_regulator_default(h):
    for name, org in OPERATED.items():
        assert h.get(f"valop/{vkey(name)}") == org
    assert h.get("gov/valchange_state") == {"next_id": 1, "open": None}


def test_genesis_default_operator_is_first_listed_regulator():
    h = Harness(executor=Executor(contracts()), validators=GENESIS_SET)
    for name in OPERATED:
        assert h.get(f"valop/{vkey(name)}") == "regulator"


def _genesis(app_state: dict) -> Genesis:
    return Genesis.from_json({"app_state": app_state, "chain_id": CHAIN_ID,
                              "genesis_time": GENESIS_TIME, "validators": GENESIS_SET})


ORG = {"accreditation": None, "admins": ["01" * 32], "id": "reg", "name": "R", "roles": ["regulator"]}


@pytest.mark.parametrize(
    "operators, fragment",
    [
        ({vkey("v-reg"): "nobody"}, "unknown organisation"),
        ({"ab" * 32: "reg"}, "is no validator"),
        ([], "must be an object"),
    ],
)
def test_genesis_rejects_bad_operators(operators, fragment):
    with pytest.raises(ValueError, match=fragment):
        Executor(contracts()).genesis_writes(
            _genesis({"organisations": [ORG], "validator_operators": operators}))


def test_genesis_without_regulator_has_no_operators():
    writes = dict(Executor(contracts()).genesis_writes(_genesis({})))
    assert not [k for k in writes if k.startswith("valop/")]


# -- the happy path -----------------------------------------------------------------------
def test_quorum_of_operators_schedules_the_change(h):
    result = propose(h, operators=new_op())
    assert result["code"] == "ok", result
    assert h.returned(result) == {"proposal_id": 1}
    eff = h.height + 10
    (proposed,) = ev(result, "governance.validator_change_proposed")
    assert proposed["effective_height"] == eff and proposed["operators"] == new_op()
    prop = h.get(proposal_key(1))
    assert prop["status"] == "open" and prop["total_power"] == 40
    assert h.get("gov/valchange_state") == {"next_id": 2, "open": 1}

    r1 = approve(h, "regulator")
    assert h.returned(r1) == {"approved_power": 10, "proposal_id": 1, "scheduled": False,
                              "total_power": 40}
    r2 = approve(h, "exchange")
    assert h.returned(r2)["approved_power"] == 20 and not h.returned(r2)["scheduled"]
    assert h.get("sys/validators")["pending"] is None
    assert validator_set_for(h.state, eff).to_json() == GENESIS_SET

    r3 = approve(h, "verifier-a")
    assert h.returned(r3) == {"approved_power": 30, "proposal_id": 1, "scheduled": True,
                              "total_power": 40}
    assert ev(r3, "governance.validator_change_scheduled")[0]["effective_height"] == eff
    record = h.get("sys/validators")
    assert record == {"current": GENESIS_SET, "pending": {"height": eff, "validators": NEW_SET}}
    assert h.get(f"valop/{vkey('v-new')}") == "coop"
    prop = h.get(proposal_key(1))
    assert prop["status"] == "scheduled" and sorted(prop["approvals"]) == [
        "exchange", "regulator", "verifier-a"]
    assert h.get("gov/valchange_state") == {"next_id": 2, "open": None}

    # the old set signs up to eff - 1, the new set from eff on
    assert validator_set_for(h.state, eff - 1).to_json() == GENESIS_SET
    assert validator_set_for(h.state, eff).to_json() == NEW_SET
    assert validator_set_for(h.state, eff + 5).to_json() == NEW_SET

    while h.height < eff - 1:
        h.run_block([])
    assert h.get("sys/validators")["current"] == GENESIS_SET
    h.run_block([])  # block eff promotes the change
    assert h.get("sys/validators") == {"current": NEW_SET, "pending": None}
    assert proposal_status(h.get(proposal_key(1)), h.height) == "scheduled"


def test_new_operators_count_after_the_change(h):
    propose(h, operators=new_op())
    eff = h.height + 10
    approve(h, ["regulator", "exchange", "verifier-a"])
    while h.height < eff:
        h.run_block([])
    # the owner no longer operates a validator; coop (v-new) now does
    result = propose(h, vset(("v-reg", 10), ("v-exch", 10), ("v-new", 10)))
    assert result["code"] == "ok", result
    h.fails("not_operator", "owner-farm", "governance", "approve_validator_change", {"proposal_id": 2})
    assert h.returned(approve(h, "coop", 2))["approved_power"] == 10


def test_one_tx_may_approve_for_several_organisations(h):
    propose(h, operators=new_op())
    result = approve(h, ["regulator", "exchange", "verifier-a"])
    assert result["code"] == "ok", result
    assert len(ev(result, "governance.validator_change_approved")) == 3
    assert h.returned(result)["scheduled"] is True


def test_member_key_of_operator_may_approve(h):
    clerk = det_key("exchange-clerk").public_key_hex
    h.ok("exchange", "membership", "enrol_key", {"org_id": "exchange", "pub_key": clerk})
    h.keys["exchange-clerk"] = det_key("exchange-clerk")
    propose(h, operators=new_op())
    result = approve(h, "exchange-clerk")
    assert result["code"] == "ok", result
    assert h.get(proposal_key(1))["approvals"]["exchange"]["key"] == clerk


# -- the regulator alone cannot --------------------------------------------------------------
def test_regulator_alone_cannot_change_the_set(h):
    propose(h, operators=new_op())
    eff = h.height + 10
    assert h.returned(approve(h, "regulator"))["scheduled"] is False
    h.fails("already_approved", "regulator", "governance", "approve_validator_change",
            {"proposal_id": 1})
    assert h.get("sys/validators")["pending"] is None
    assert validator_set_for(h.state, eff).to_json() == GENESIS_SET
    while h.height < eff:
        h.run_block([])
    assert h.get("sys/validators")["current"] == GENESIS_SET


def test_exactly_two_thirds_is_not_enough():
    validators = vset(("v-reg", 10), ("v-reg2", 10), ("v-exch", 10))
    h = four_operator_harness({"v-reg": "regulator", "v-reg2": "regulator", "v-exch": "exchange"},
                              validators=validators)
    result = propose(h, vset(("v-reg", 10), ("v-reg2", 10), ("v-exch", 11)))
    assert result["code"] == "ok", result
    assert h.returned(approve(h, "regulator")) == {
        "approved_power": 20, "proposal_id": 1, "scheduled": False, "total_power": 30}
    assert h.get("sys/validators")["pending"] is None
    assert h.returned(approve(h, "exchange"))["scheduled"] is True


def test_single_operator_network_regulator_decides():
    h = Harness(executor=Executor(contracts()), validators=GENESIS_SET)
    propose(h, NEW_SET, operators=new_op())
    assert h.returned(approve(h, "regulator"))["scheduled"] is True


# -- errors -----------------------------------------------------------------------------------
@pytest.mark.parametrize("signer", ["exchange", "verifier-a", "owner-farm", "stranger"])
def test_only_regulator_proposes(h, signer):
    h.fails("unauthorized", signer, "governance", "propose_validator_change",
            {"validators": NEW_SET, "effective_height": 20, "operators": new_op()})


BAD_SETS = [
    [{"name": "x", "power": 10}],
    [{"name": "x", "power": 10, "pub_key": "zz"}],
    [{"name": "x", "power": 0, "pub_key": vkey("x")}],
    [{"name": "x", "power": "10", "pub_key": vkey("x")}],
    [{"name": "bad name", "power": 1, "pub_key": vkey("x")}],
    [{"name": "x", "power": 1, "pub_key": vkey("x"), "extra": 1}],
    vset(("v-reg", 10), ("v-reg", 10)),
    [dict(vset(("v-reg", 10))[0]), dict(vset(("v-reg", 10))[0], name="other")],
    ["v-reg"],
    GENESIS_SET,  # no change
    vset(("v-reg", 10), ("v-unknown", 10)),  # a new validator without an operator
]


@pytest.mark.parametrize("validators", BAD_SETS)
def test_invalid_validator_sets(h, validators):
    h.fails("invalid_validator_set", "regulator", "governance", "propose_validator_change",
            {"validators": validators, "effective_height": 20})


def test_proposal_argument_errors(h):
    h.fails("invalid_args", "regulator", "governance", "propose_validator_change",
            {"validators": [], "effective_height": 20})
    h.fails("invalid_args", "regulator", "governance", "propose_validator_change",
            {"validators": NEW_SET})
    h.fails("invalid_args", "regulator", "governance", "propose_validator_change",
            {"validators": NEW_SET, "effective_height": 0, "operators": new_op()})
    h.fails("invalid_args", "regulator", "governance", "propose_validator_change",
            {"validators": NEW_SET, "effective_height": 20, "operators": [1]})


def test_operator_errors(h):
    base = {"validators": NEW_SET, "effective_height": 20}
    h.fails("unknown_org", "regulator", "governance", "propose_validator_change",
            dict(base, operators={vkey("v-new"): "nobody"}))
    h.fails("invalid_validator_set", "regulator", "governance", "propose_validator_change",
            dict(base, operators={vkey("v-new"): "coop", vkey("v-own"): "coop"}))
    h.fails("invalid_validator_set", "regulator", "governance", "propose_validator_change",
            dict(base, operators={"nothex": "coop"}))
    h.fails("invalid_args", "regulator", "governance", "propose_validator_change",
            dict(base, operators={vkey("v-new"): 7}))
    h.ok("regulator", "membership", "update_org_status", {"org_id": "coop", "status": "suspended"})
    h.fails("org_suspended", "regulator", "governance", "propose_validator_change",
            dict(base, effective_height=h.height + 20, operators={vkey("v-new"): "coop"}))


def test_too_soon(h):
    delay = h.get("param/validator_change_delay")
    h.fails("too_soon", "regulator", "governance", "propose_validator_change",
            {"validators": NEW_SET, "effective_height": h.height + 1 + delay - 1,
             "operators": new_op()})
    h.ok("regulator", "governance", "propose_validator_change",
         {"validators": NEW_SET, "effective_height": h.height + 1 + delay, "operators": new_op()})


def test_too_soon_follows_the_parameter(h):
    h.ok("regulator", "params", "set_param", {"name": "validator_change_delay", "value": 50})
    h.fails("too_soon", "regulator", "governance", "propose_validator_change",
            {"validators": NEW_SET, "effective_height": h.height + 50, "operators": new_op()})
    assert propose(h, ahead=50, operators=new_op())["code"] == "ok"


def test_one_change_at_a_time(h):
    propose(h, operators=new_op())
    other = vset(("v-reg", 10), ("v-exch", 10), ("v-ver", 10), ("v-own", 20))
    h.fails("change_pending", "regulator", "governance", "propose_validator_change",
            {"validators": other, "effective_height": h.height + 20})
    approve(h, ["regulator", "exchange", "verifier-a"])  # scheduled, not yet effective
    h.fails("change_pending", "regulator", "governance", "propose_validator_change",
            {"validators": other, "effective_height": h.height + 20})


def test_approval_errors(h):
    h.fails("unknown_proposal", "regulator", "governance", "approve_validator_change",
            {"proposal_id": 1})
    h.fails("invalid_args", "regulator", "governance", "approve_validator_change",
            {"proposal_id": 0})
    propose(h, operators=new_op())
    h.fails("not_operator", "coop", "governance", "approve_validator_change", {"proposal_id": 1})
    h.fails("not_operator", "buyer-steel", "governance", "approve_validator_change",
            {"proposal_id": 1})
    h.fails("unauthorized", "stranger", "governance", "approve_validator_change",
            {"proposal_id": 1})
    approve(h, "exchange")
    # all-or-nothing: a tx for an org that already approved changes nothing
    h.fails("already_approved", ["exchange", "verifier-a"], "governance",
            "approve_validator_change", {"proposal_id": 1})
    approve(h, ["regulator", "verifier-a"])
    h.fails("proposal_closed", "owner-farm", "governance", "approve_validator_change",
            {"proposal_id": 1})


def test_suspended_operator_cannot_approve(h):
    propose(h, operators=new_op())
    h.ok("regulator", "membership", "update_org_status", {"org_id": "exchange", "status": "suspended"})
    h.fails("unauthorized", "exchange", "governance", "approve_validator_change", {"proposal_id": 1})


def test_expiry(h):
    result = propose(h, ahead=3, operators=new_op())  # proposed at 1, effective 4
    assert result["code"] == "ok", result
    assert approve(h, "regulator")["code"] == "ok"  # height 2 = eff - 2: still open
    h.fails("expired", "exchange", "governance", "approve_validator_change", {"proposal_id": 1})
    assert proposal_status(h.get(proposal_key(1)), h.height) == "expired"
    # an expired proposal does not block a new one, and is marked expired
    result = propose(h, operators=new_op())
    assert result["code"] == "ok", result
    assert h.returned(result) == {"proposal_id": 2}
    assert ev(result, "governance.validator_change_expired")[0]["proposal_id"] == 1
    assert h.get(proposal_key(1))["status"] == "expired"
    h.fails("expired", "exchange", "governance", "approve_validator_change",
            {"proposal_id": 1})


def test_withdraw(h):
    propose(h, operators=new_op())
    h.fails("unauthorized", "exchange", "governance", "withdraw_validator_change",
            {"proposal_id": 1})
    h.fails("unknown_proposal", "regulator", "governance", "withdraw_validator_change",
            {"proposal_id": 9})
    result = h.ok("regulator", "governance", "withdraw_validator_change",
                  {"proposal_id": 1, "reason": "typo"})
    assert ev(result, "governance.validator_change_withdrawn")[0]["reason"] == "typo"
    assert h.get(proposal_key(1))["status"] == "withdrawn"
    h.fails("proposal_closed", "exchange", "governance", "approve_validator_change",
            {"proposal_id": 1})
    h.fails("proposal_closed", "regulator", "governance", "withdraw_validator_change",
            {"proposal_id": 1})
    assert propose(h, operators=new_op())["code"] == "ok"


def test_withdraw_expired_is_refused(h):
    propose(h, ahead=2, operators=new_op())
    h.run_block([])
    h.fails("expired", "regulator", "governance", "withdraw_validator_change", {"proposal_id": 1})


def test_operator_reassignment_applies_when_scheduled(h):
    changed = vset(("v-reg", 10), ("v-exch", 10), ("v-ver", 10), ("v-own", 12))
    propose(h, changed, operators={vkey("v-own"): "coop"})
    assert h.get(f"valop/{vkey('v-own')}") == "owner-farm"
    approve(h, ["regulator", "exchange", "verifier-a"])
    assert h.get(f"valop/{vkey('v-own')}") == "coop"
