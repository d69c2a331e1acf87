"""Membership contract: organisations, roles, accreditations and member keys."""

from __future__ import annotations

import copy

import pytest

from chaincode.executor import Executor
from chaincode.governance import Governance
from chaincode.kv import KeyValue
from chaincode.membership import (
    Membership,
    accreditation_in_force,
    check_signers,
    signer_refusal,
    touches_membership,
)
from chaincode.params import Params
from ledger.crypto import sha256
from ledger.genesis import Genesis
from tests.support.harness import CHAIN_ID, GENESIS_TIME, Harness


def contracts() -> list:
    return [Membership(), Params(), Governance(), KeyValue()]


@pytest.fixture
def h() -> Harness:
    return Harness(executor=Executor(contracts()))


def pk(h: Harness, name: str) -> str:
    return h.key(name).public_key_hex


def enrol_args(h: Harness, org_id: str = "forest-co", **over) -> dict:
    args = {"org_id": org_id, "name": "Forest Co", "roles": ["owner"],
            "admins": [pk(h, f"{org_id}-admin")]}
    args.update(over)
    return args


def notarise(h: Harness, signer: str, name: str) -> dict:
    return h.call(signer, "notary", "record", {"name": name, "sha256": sha256(name.encode()).hex()})


def events(result: dict, kind: str) -> list[dict]:
    return [e for e in result["events"] if e["type"] == kind]


# -- genesis --------------------------------------------------------------------------
def test_genesis_writes_orgs_keys_and_indexes(h):
    org = h.get("org/verifier-a")
    assert org == {
        "accreditation": "CNCA-V-001", "accreditation_valid_until": None, "enrolled_at": 0,
        "id": "verifier-a", "name": "Verifier A", "roles": ["verifier"], "status": "active",
        "updated_at": 0,
    }
    key = pk(h, "verifier-a")
    assert h.get(f"key/{key}") == {"admin": True, "enrolled_at": 0, "org": "verifier-a",
                                   "revoked_at": None, "status": "active"}
    assert h.get(f"orgkey/verifier-a/{key}") == 0
    assert h.get("accrno/CNCA-V-001") == "verifier-a"
    assert h.get("org/owner-farm")["accreditation"] is None


def _genesis_doc(orgs: list[dict]) -> dict:
    return {
        "app_state": {"organisations": orgs, "params": {}},
        "chain_id": CHAIN_ID,
        "genesis_time": GENESIS_TIME,
        "validators": [{"name": "v0", "power": 1, "pub_key": "ab" * 32}],
    }


GOOD_ORG = {"accreditation": None, "admins": ["01" * 32], "id": "reg", "members": ["02" * 32],
            "name": "Regulator", "roles": ["regulator"]}
VERIFIER_ORG = {"accreditation": "CNCA-V-009", "admins": ["03" * 32], "id": "ver",
                "name": "Verifier", "roles": ["verifier"]}


def test_genesis_members_are_not_admins():
    writes = dict(Executor(contracts()).genesis_writes(
        Genesis.from_json(_genesis_doc([GOOD_ORG, VERIFIER_ORG]))))
    assert b'"admin":false' in writes["key/" + "02" * 32]
    assert b'"admin":true' in writes["key/" + "01" * 32]


@pytest.mark.parametrize(
    "mutate, fragment",
    [
        (lambda o: o.update(roles=["king"]), "invalid_role"),
        (lambda o: o.update(roles=[]), "invalid_role"),
        (lambda o: o.update(roles=["owner", "owner"]), "invalid_role"),
        (lambda o: o.update(id="bad id"), "id must be"),
        (lambda o: o.update(name=""), "name"),
        (lambda o: o.update(admins=[]), "admin"),
        (lambda o: o.update(admins=["XYZ"]), "lowercase hex"),
        (lambda o: o.update(members=["02" * 32, "02" * 32]), "twice"),
        (lambda o: o.update(accreditation="CNCA-V-001"), "invalid_accreditation"),
        (lambda o: o.update(roles=["verifier"]), "accreditation_required"),
        (lambda o: o.update(roles=["verifier"], accreditation="bad"), "invalid_accreditation"),
        (lambda o: o.update(extra=1), "unknown field"),
    ],
)
def test_genesis_rejects_bad_organisations(mutate, fragment):
    org = copy.deepcopy(GOOD_ORG)
    mutate(org)
    with pytest.raises(ValueError, match=fragment):
        Executor(contracts()).genesis_writes(Genesis.from_json(_genesis_doc([org])))


def test_genesis_rejects_duplicates_across_orgs():
    ex = Executor(contracts())
    with pytest.raises(ValueError, match="listed twice"):
        ex.genesis_writes(Genesis.from_json(_genesis_doc([GOOD_ORG, GOOD_ORG])))
    other = dict(VERIFIER_ORG, admins=["01" * 32])
    with pytest.raises(ValueError, match="listed twice"):
        ex.genesis_writes(Genesis.from_json(_genesis_doc([GOOD_ORG, other])))
    twin = dict(VERIFIER_ORG, id="ver2", admins=["04" * 32])
    with pytest.raises(ValueError, match="used twice"):
        ex.genesis_writes(Genesis.from_json(_genesis_doc([VERIFIER_ORG, twin])))


# -- enrol_org --------------------------------------------------------------------------
def test_enrol_org_writes_org_and_admin_keys(h):
    args = enrol_args(h, admins=[pk(h, "fc-1"), pk(h, "fc-2")])
    result = h.ok("regulator", "membership", "enrol_org", args)
    assert h.returned(result) == {"org_id": "forest-co"}
    org = h.get("org/forest-co")
    assert org["roles"] == ["owner"] and org["status"] == "active"
    assert org["enrolled_at"] == h.height
    for name in ("fc-1", "fc-2"):
        rec = h.get(f"key/{pk(h, name)}")
        assert rec["org"] == "forest-co" and rec["admin"] and rec["status"] == "active"
        assert h.get(f"orgkey/forest-co/{pk(h, name)}") == h.height
    (ev,) = events(result, "membership.org_enrolled")
    assert ev["org_id"] == "forest-co" and ev["admins"] == [pk(h, "fc-1"), pk(h, "fc-2")]
    # the new admin key can sign right away
    assert notarise(h, "fc-1", "doc-1")["code"] == "ok"


def test_enrol_org_multiple_roles_sorted_and_verifier(h):
    h.ok("regulator", "membership", "enrol_org",
         enrol_args(h, "v-c", roles=["verifier", "owner"], accreditation="CNCA-V-003",
                    accreditation_valid_until=GENESIS_TIME + 10**9))
    org = h.get("org/v-c")
    assert org["roles"] == ["owner", "verifier"]
    assert org["accreditation"] == "CNCA-V-003"
    assert org["accreditation_valid_until"] == GENESIS_TIME + 10**9
    assert h.get("accrno/CNCA-V-003") == "v-c"


def test_enrol_org_may_enrol_another_regulator(h):
    h.ok("regulator", "membership", "enrol_org", enrol_args(h, "forestry-bureau", roles=["regulator"]))
    h.ok("forestry-bureau-admin", "membership", "enrol_org", enrol_args(h, "x-farm"))


@pytest.mark.parametrize("signer", ["owner-farm", "verifier-a", "exchange", "buyer-steel"])
def test_enrol_org_needs_regulator(h, signer):
    h.fails("unauthorized", signer, "membership", "enrol_org", enrol_args(h))


def test_enrol_org_unenrolled_signer(h):
    h.fails("unauthorized", "stranger", "membership", "enrol_org", enrol_args(h))


@pytest.mark.parametrize(
    "over, code",
    [
        ({"org_id": "owner-farm"}, "org_exists"),
        ({"roles": ["king"]}, "invalid_role"),
        ({"roles": ["validator"]}, "invalid_role"),
        ({"roles": ["owner", "owner"]}, "invalid_role"),
        ({"roles": []}, "invalid_args"),
        ({"roles": ["verifier"]}, "accreditation_required"),
        ({"roles": ["verifier"], "accreditation": "cnca-v-1"}, "invalid_accreditation"),
        ({"roles": ["verifier"], "accreditation": "CNCA"}, "invalid_accreditation"),
        ({"roles": ["verifier"], "accreditation": "CNCA-V-001"}, "accreditation_in_use"),
        ({"roles": ["verifier"], "accreditation": "CNCA-V-007",
          "accreditation_valid_until": GENESIS_TIME}, "invalid_accreditation"),
        ({"accreditation": "CNCA-V-007"}, "invalid_accreditation"),
        ({"accreditation_valid_until": GENESIS_TIME + 10**9}, "invalid_accreditation"),
        ({"admins": []}, "invalid_args"),
        ({"admins": ["not-a-key"]}, "invalid_args"),
        ({"admins": ["AB" * 32]}, "invalid_args"),
        ({"org_id": "bad/id"}, "invalid_args"),
        ({"org_id": ""}, "invalid_args"),
        ({"name": ""}, "invalid_args"),
        ({"name": 5}, "invalid_args"),
        ({"extra": 1}, "invalid_args"),
    ],
)
def test_enrol_org_bad_input(h, over, code):
    h.fails(code, "regulator", "membership", "enrol_org", enrol_args(h, **over))


def test_enrol_org_key_conflicts(h):
    h.fails("key_exists", "regulator", "membership", "enrol_org",
            enrol_args(h, admins=[pk(h, "owner-farm")]))
    h.fails("invalid_args", "regulator", "membership", "enrol_org",
            enrol_args(h, admins=[pk(h, "a1"), pk(h, "a1")]))
    h.ok("owner-farm", "membership", "enrol_key", {"org_id": "owner-farm", "pub_key": pk(h, "m")})
    h.ok("owner-farm", "membership", "revoke_key", {"pub_key": pk(h, "m")})
    h.fails("key_revoked", "regulator", "membership", "enrol_org", enrol_args(h, admins=[pk(h, "m")]))


# -- update_org_status ------------------------------------------------------------------
def test_suspend_and_reactivate(h):
    assert notarise(h, "owner-farm", "a")["code"] == "ok"
    result = h.ok("regulator", "membership", "update_org_status",
                  {"org_id": "owner-farm", "status": "suspended", "reason": "audit"})
    (ev,) = events(result, "membership.org_status_changed")
    assert ev == {"type": "membership.org_status_changed", "org_id": "owner-farm",
                  "status": "suspended", "previous": "active", "reason": "audit"}
    assert h.get("org/owner-farm")["status"] == "suspended"
    # a suspended organisation's keys sign nothing
    h.fails("unauthorized", "owner-farm", "notary", "record",
            {"name": "b", "sha256": sha256(b"b").hex()})
    h.fails("unauthorized", "owner-farm", "membership", "enrol_key",
            {"org_id": "owner-farm", "pub_key": pk(h, "x")})
    h.ok("regulator", "membership", "update_org_status", {"org_id": "owner-farm", "status": "active"})
    assert notarise(h, "owner-farm", "c")["code"] == "ok"


def test_update_org_status_errors(h):
    h.fails("unknown_org", "regulator", "membership", "update_org_status",
            {"org_id": "nobody", "status": "suspended"})
    h.fails("status_unchanged", "regulator", "membership", "update_org_status",
            {"org_id": "owner-farm", "status": "active"})
    h.fails("invalid_args", "regulator", "membership", "update_org_status",
            {"org_id": "owner-farm", "status": "revoked"})
    h.fails("unauthorized", "exchange", "membership", "update_org_status",
            {"org_id": "owner-farm", "status": "suspended"})


def test_last_regulator_cannot_be_suspended(h):
    h.fails("last_regulator", "regulator", "membership", "update_org_status",
            {"org_id": "regulator", "status": "suspended"})
    h.ok("regulator", "membership", "enrol_org", enrol_args(h, "bureau-2", roles=["regulator"]))
    h.ok("bureau-2-admin", "membership", "update_org_status",
         {"org_id": "regulator", "status": "suspended"})
    h.fails("last_regulator", "bureau-2-admin", "membership", "update_org_status",
            {"org_id": "bureau-2", "status": "suspended"})


# -- set_accreditation ---------------------------------------------------------------------
def test_accreditation_revoke_grant_renew(h):
    t = h.time
    result = h.ok("regulator", "membership", "set_accreditation",
                  {"org_id": "verifier-a", "action": "revoke"})
    assert h.get("org/verifier-a")["accreditation"] is None
    (ev,) = events(result, "membership.accreditation_changed")
    assert ev["action"] == "revoke" and ev["accreditation"] == "CNCA-V-001"
    assert accreditation_in_force(h.get("org/verifier-a"), t) is None
    # a number stays with its organisation: another org's number is refused, its own is fine
    h.fails("accreditation_in_use", "regulator", "membership", "set_accreditation",
            {"org_id": "verifier-a", "action": "grant", "accreditation": "CNCA-V-002"})
    until = h.time + 10_000
    h.ok("regulator", "membership", "set_accreditation",
         {"org_id": "verifier-a", "action": "grant", "accreditation": "CNCA-V-001",
          "valid_until": until})
    org = h.get("org/verifier-a")
    assert org["accreditation"] == "CNCA-V-001" and org["accreditation_valid_until"] == until
    assert accreditation_in_force(org, until - 1) == "CNCA-V-001"
    assert accreditation_in_force(org, until) is None
    h.ok("regulator", "membership", "set_accreditation",
         {"org_id": "verifier-a", "action": "renew", "accreditation": "CNCA-V-001",
          "valid_until": until + 10**6})
    assert h.get("org/verifier-a")["accreditation_valid_until"] == until + 10**6
    h.ok("regulator", "membership", "set_accreditation", {"org_id": "verifier-a", "action": "renew"})
    assert h.get("org/verifier-a")["accreditation_valid_until"] is None


def test_accreditation_grant_new_number(h):
    h.ok("regulator", "membership", "set_accreditation", {"org_id": "verifier-b", "action": "revoke"})
    h.ok("regulator", "membership", "set_accreditation",
         {"org_id": "verifier-b", "action": "grant", "accreditation": "GD-CNCA-V-0100"})
    assert h.get("accrno/GD-CNCA-V-0100") == "verifier-b"
    assert h.get("org/verifier-b")["accreditation"] == "GD-CNCA-V-0100"


def test_accreditation_in_force_helper():
    org = {"accreditation": "CNCA-V-001", "accreditation_valid_until": None,
           "roles": ["verifier"], "status": "active"}
    assert accreditation_in_force(org, 0) == "CNCA-V-001"
    assert accreditation_in_force(dict(org, status="suspended"), 0) is None
    assert accreditation_in_force(dict(org, roles=["owner"]), 0) is None
    assert accreditation_in_force(dict(org, accreditation=None), 0) is None
    assert accreditation_in_force(dict(org, accreditation_valid_until=5), 4) == "CNCA-V-001"
    assert accreditation_in_force(dict(org, accreditation_valid_until=5), 5) is None


@pytest.mark.parametrize(
    "args, code",
    [
        ({"org_id": "nobody", "action": "revoke"}, "unknown_org"),
        ({"org_id": "owner-farm", "action": "revoke"}, "invalid_role"),
        ({"org_id": "verifier-a", "action": "suspend"}, "invalid_args"),
        ({"org_id": "verifier-a", "action": "grant"}, "accreditation_required"),
        ({"org_id": "verifier-a", "action": "grant", "accreditation": "CNCA-V-050"},
         "accreditation_exists"),
        ({"org_id": "verifier-a", "action": "renew", "accreditation": "CNCA-V-002"},
         "invalid_accreditation"),
        ({"org_id": "verifier-a", "action": "revoke", "accreditation": "CNCA-V-002"},
         "invalid_accreditation"),
        ({"org_id": "verifier-a", "action": "renew", "valid_until": GENESIS_TIME},
         "invalid_accreditation"),
        ({"org_id": "verifier-a", "action": "revoke", "valid_until": GENESIS_TIME * 2},
         "invalid_args"),
        ({"org_id": "verifier-a", "action": "renew", "valid_until": -1}, "invalid_args"),
    ],
)
def test_set_accreditation_bad_input(h, args, code):
    h.fails(code, "regulator", "membership", "set_accreditation", args)


def test_set_accreditation_when_revoked(h):
    h.ok("regulator", "membership", "set_accreditation", {"org_id": "verifier-a", "action": "revoke"})
    for action in ("renew", "revoke"):
        h.fails("not_accredited", "regulator", "membership", "set_accreditation",
                {"org_id": "verifier-a", "action": action})
    for bad in ("cnca-v-001", "CNCA", "CNCA--V", "-CNCA-V-1"):
        h.fails("invalid_accreditation", "regulator", "membership", "set_accreditation",
                {"org_id": "verifier-a", "action": "grant", "accreditation": bad})
    h.fails("accreditation_in_use", "regulator", "membership", "set_accreditation",
            {"org_id": "verifier-a", "action": "grant", "accreditation": "CNCA-V-002"})
    h.fails("invalid_accreditation", "regulator", "membership", "set_accreditation",
            {"org_id": "verifier-a", "action": "grant", "accreditation": "CNCA-V-001",
             "valid_until": h.time})


def test_set_accreditation_needs_regulator(h):
    h.fails("unauthorized", "verifier-a", "membership", "set_accreditation",
            {"org_id": "verifier-a", "action": "renew"})


# -- enrol_key -------------------------------------------------------------------------------
def test_admin_enrols_member_and_admin_keys(h):
    result = h.ok("owner-farm", "membership", "enrol_key",
                  {"org_id": "owner-farm", "pub_key": pk(h, "clerk")})
    (ev,) = events(result, "membership.key_enrolled")
    assert ev == {"type": "membership.key_enrolled", "org_id": "owner-farm",
                  "pub_key": pk(h, "clerk"), "admin": False}
    rec = h.get(f"key/{pk(h, 'clerk')}")
    assert rec == {"admin": False, "enrolled_at": h.height, "org": "owner-farm",
                   "revoked_at": None, "status": "active"}
    assert notarise(h, "clerk", "x")["code"] == "ok"
    # a non-admin member cannot enrol keys
    h.fails("unauthorized", "clerk", "membership", "enrol_key",
            {"org_id": "owner-farm", "pub_key": pk(h, "k2")})
    h.ok("owner-farm", "membership", "enrol_key",
         {"org_id": "owner-farm", "pub_key": pk(h, "boss"), "admin": True})
    h.ok("boss", "membership", "enrol_key", {"org_id": "owner-farm", "pub_key": pk(h, "k2")})
    assert h.get(f"key/{pk(h, 'k2')}")["org"] == "owner-farm"


def test_admin_of_a_cannot_enrol_into_b(h):
    h.fails("unauthorized", "owner-farm", "membership", "enrol_key",
            {"org_id": "coop", "pub_key": pk(h, "x")})
    # not even the regulator enrols keys into another organisation
    h.fails("unauthorized", "regulator", "membership", "enrol_key",
            {"org_id": "coop", "pub_key": pk(h, "x")})


def test_enrol_key_errors(h):
    h.fails("unknown_org", "owner-farm", "membership", "enrol_key",
            {"org_id": "nobody", "pub_key": pk(h, "x")})
    h.fails("key_exists", "owner-farm", "membership", "enrol_key",
            {"org_id": "owner-farm", "pub_key": pk(h, "owner-farm")})
    # a key belongs to one organisation forever
    h.fails("key_exists", "coop", "membership", "enrol_key",
            {"org_id": "coop", "pub_key": pk(h, "owner-farm")})
    h.fails("invalid_args", "owner-farm", "membership", "enrol_key",
            {"org_id": "owner-farm", "pub_key": "zz"})
    h.fails("invalid_args", "owner-farm", "membership", "enrol_key",
            {"org_id": "owner-farm", "pub_key": pk(h, "x"), "admin": "yes"})
    h.fails("unauthorized", "stranger", "membership", "enrol_key",
            {"org_id": "owner-farm", "pub_key": pk(h, "x")})


# -- revoke_key --------------------------------------------------------------------------
def test_admin_revokes_member_key(h):
    h.ok("owner-farm", "membership", "enrol_key", {"org_id": "owner-farm", "pub_key": pk(h, "c")})
    result = h.ok("owner-farm", "membership", "revoke_key", {"pub_key": pk(h, "c"), "reason": "left"})
    (ev,) = events(result, "membership.key_revoked")
    assert ev == {"type": "membership.key_revoked", "org_id": "owner-farm", "pub_key": pk(h, "c"),
                  "admin": False, "by": "admin", "reason": "left"}
    rec = h.get(f"key/{pk(h, 'c')}")
    assert rec["status"] == "revoked" and rec["revoked_at"] == h.height and rec["org"] == "owner-farm"
    # a revoked key's transactions fail unauthorized
    h.fails("unauthorized", "c", "notary", "record", {"name": "n", "sha256": sha256(b"n").hex()})
    # and it can never be re-enrolled, in its organisation or another
    h.fails("key_revoked", "owner-farm", "membership", "enrol_key",
            {"org_id": "owner-farm", "pub_key": pk(h, "c")})
    h.fails("key_revoked", "coop", "membership", "enrol_key", {"org_id": "coop", "pub_key": pk(h, "c")})
    h.fails("key_revoked", "owner-farm", "membership", "revoke_key", {"pub_key": pk(h, "c")})


def test_regulator_revokes_any_key(h):
    h.ok("owner-farm", "membership", "enrol_key",
         {"org_id": "owner-farm", "pub_key": pk(h, "a2"), "admin": True})
    result = h.ok("regulator", "membership", "revoke_key", {"pub_key": pk(h, "owner-farm")})
    assert events(result, "membership.key_revoked")[0]["by"] == "regulator"
    h.fails("unauthorized", "owner-farm", "membership", "enrol_key",
            {"org_id": "owner-farm", "pub_key": pk(h, "z")})
    h.ok("a2", "membership", "enrol_key", {"org_id": "owner-farm", "pub_key": pk(h, "z")})


def test_revoke_key_authorisation(h):
    h.ok("owner-farm", "membership", "enrol_key", {"org_id": "owner-farm", "pub_key": pk(h, "c")})
    h.fails("unauthorized", "coop", "membership", "revoke_key", {"pub_key": pk(h, "c")})
    h.fails("unauthorized", "c", "membership", "revoke_key", {"pub_key": pk(h, "owner-farm")})
    h.fails("unauthorized", "verifier-a", "membership", "revoke_key", {"pub_key": pk(h, "c")})
    h.fails("unauthorized", "stranger", "membership", "revoke_key", {"pub_key": pk(h, "c")})


def test_last_admin_cannot_be_revoked(h):
    h.fails("last_admin", "owner-farm", "membership", "revoke_key", {"pub_key": pk(h, "owner-farm")})
    h.fails("last_admin", "regulator", "membership", "revoke_key", {"pub_key": pk(h, "owner-farm")})
    # non-admin members do not count as admins
    h.ok("owner-farm", "membership", "enrol_key", {"org_id": "owner-farm", "pub_key": pk(h, "m")})
    h.fails("last_admin", "owner-farm", "membership", "revoke_key", {"pub_key": pk(h, "owner-farm")})
    h.ok("owner-farm", "membership", "enrol_key",
         {"org_id": "owner-farm", "pub_key": pk(h, "a2"), "admin": True})
    # an admin may revoke itself while another admin remains
    h.ok("owner-farm", "membership", "revoke_key", {"pub_key": pk(h, "owner-farm")})
    h.fails("last_admin", "a2", "membership", "revoke_key", {"pub_key": pk(h, "a2")})


def test_revoke_key_errors(h):
    h.fails("unknown_key", "regulator", "membership", "revoke_key", {"pub_key": pk(h, "never")})
    h.fails("invalid_args", "regulator", "membership", "revoke_key", {"pub_key": "00"})
    h.fails("invalid_args", "regulator", "membership", "revoke_key", {})


def test_regulator_revokes_key_of_suspended_org(h):
    h.ok("owner-farm", "membership", "enrol_key", {"org_id": "owner-farm", "pub_key": pk(h, "m")})
    h.ok("regulator", "membership", "update_org_status",
         {"org_id": "owner-farm", "status": "suspended"})
    h.ok("regulator", "membership", "revoke_key", {"pub_key": pk(h, "m")})
    assert h.get(f"key/{pk(h, 'm')}")["status"] == "revoked"


def test_default_registry_runs_membership_and_governance():
    from chaincode.registry import default_contracts

    names = {c.name for c in default_contracts()}
    assert {"membership", "params", "governance"} <= names


# -- permissioned admission: check_signers over the records the contract writes ----------
def test_check_signers_follows_enrolment_revocation_and_suspension(h):
    farm, verifier = pk(h, "owner-farm"), pk(h, "verifier-a")
    assert check_signers(h.state, [farm, verifier, farm]).orgs == ("owner-farm", "verifier-a")
    assert check_signers(h.state, [farm]).refusal is None
    assert check_signers(h.state, []).refusal is None  # parse_transaction requires a signer
    stranger = pk(h, "m")
    assert signer_refusal(h.state, [stranger]) == f"signer {stranger} is not an enrolled key"
    # the first signer refused is named, whatever the others are
    assert stranger in (signer_refusal(h.state, [farm, stranger]) or "")
    h.ok("owner-farm", "membership", "enrol_key", {"org_id": "owner-farm", "pub_key": stranger})
    assert signer_refusal(h.state, [farm, stranger]) is None
    h.ok("owner-farm", "membership", "revoke_key", {"pub_key": stranger})
    assert signer_refusal(h.state, [stranger]) == f"signer {stranger} is a revoked key of owner-farm"
    h.ok("regulator", "membership", "update_org_status",
         {"org_id": "owner-farm", "status": "suspended"})
    assert signer_refusal(h.state, [verifier, farm]) == (
        f"signer {farm} belongs to organisation owner-farm, which is not active")
    h.ok("regulator", "membership", "update_org_status", {"org_id": "owner-farm", "status": "active"})
    assert signer_refusal(h.state, [farm]) is None
    assert not touches_membership([("notary/x", b"{}"), ("orgkey/o/k", None)])
    assert touches_membership([("org/owner-farm", None)])
    assert touches_membership([("key/" + stranger, b"{}")])
