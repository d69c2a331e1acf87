"""Certificates version 2: custody complete by proof (issue 12, item 4).

A version-2 certificate carries each retired range's unit record with a state-tree proof
against the retirement block's ``state_root``; the custody entries must be exactly the
custody steps of those proven histories, in their order. Omitting, inserting or
reordering a custody step, and changing a proof, record or key, each fails a named check;
version-1 certificates still verify as version 1 (with their documented limitation)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

import ledger.certificate as certificate
from chaincode.certificate_links import CARBON_LINKS, CUSTODY_ACTIONS, LINK_CODES, make_entry
from chaincode.units import unit_key
from ledger.certificate import (
    CHECK_CODES,
    CHECK_NAMES,
    CHECK_NAMES_V1,
    CertificateVerdict,
    Check,
    custody_proof_item,
    verify_certificate,
)
from ledger.encoding import canonical
from node.api.certificates import CertificateBuilder, build_certificate
from tests.support.certificates import World, custody_world, shared_world


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    return shared_world(tmp_path_factory)


@pytest.fixture(scope="module")
def frozen(tmp_path_factory) -> World:
    return custody_world(tmp_path_factory)


def verify(world: World, cert: Any) -> CertificateVerdict:
    return verify_certificate(cert, genesis=world.chain.genesis, links=CARBON_LINKS)


def refused(world: World, cert: Any, check: str, code: str | None, *needles: str) -> Check:
    verdict = verify(world, cert)
    assert not verdict.ok and verdict.summary is None
    found = verdict.first_failure
    assert found is not None and found.name == check and found.code == code, found
    for needle in needles:
        assert needle in found.detail, found
    return found


def entries(cert: dict[str, Any]) -> list[dict[str, Any]]:
    return [cert["retirement"], *cert["provenance"]]


def prune(cert: dict[str, Any]) -> dict[str, Any]:
    """Drop the headers, commits and history proofs no entry needs any more."""
    used = {str(e["height"]) for e in entries(cert)}
    anchor = cert["retirement"]["height"]
    for key in ("headers", "commits"):
        cert[key] = {h: v for h, v in cert[key].items() if h in used}
    cert["history"] = {h: v for h, v in cert["history"].items() if h in used and int(h) < anchor}
    return cert


def without_roles(cert: dict[str, Any], *roles: str) -> dict[str, Any]:
    cert["provenance"] = [e for e in cert["provenance"] if e["role"] not in roles]
    return prune(cert)


def with_entry(world: World, cert: dict[str, Any], role: str, height: int, index: int) -> dict[str, Any]:
    """``cert`` with the genuine committed transaction ``index`` of block ``height`` added as
    a ``role`` entry, with its block's header, commit and history proof, in order."""
    store = world.chain.store
    block = store.get_block(height)
    commit = store.get_commit(height)
    assert block is not None and commit is not None
    cert["provenance"].append(make_entry(role, block, index))
    cert["provenance"].sort(key=lambda e: (e["height"], e["index"]))
    anchor = cert["retirement"]["height"]
    cert["headers"][str(height)] = block.header.to_json()
    cert["commits"][str(height)] = commit.to_json()
    cert["history"][str(height)] = CertificateBuilder(store, world.chain.genesis).history_proof(
        height, anchor)
    return cert


def locate(world: World, method: str, **args: Any) -> tuple[int, int]:
    """(height, index) of the first successful ``carbon.<method>`` with ``args``."""
    store = world.chain.store
    for h in range(1, world.chain.height + 1):
        block = store.get_block(h)
        assert block is not None
        for i, tx in enumerate(block.txs):
            if (tx.method == method and all(tx.args.get(k) == v for k, v in args.items())
                    and block.results[i]["code"] == "ok"):
                return h, i
    raise AssertionError(f"no {method}")


def proven_record(cert: dict[str, Any], i: int = 0) -> dict[str, Any]:
    value: dict[str, Any] = cert["custody_proofs"][i]["value"]
    return value


# -- genuine certificates, both versions ---------------------------------------------------------
def test_every_genuine_certificate_verifies_in_both_versions(world, frozen):
    cases = [(world, world.compliance_id, ["transfer"]),
             (world, world.voluntary_id, ["listing", "trade"]),
             (world, world.multi_id, ["transfer", "transfer"]),
             (frozen, frozen.frozen_id, ["freeze", "unfreeze", "transfer"])]
    for w, rid, custody in cases:
        for version, names in ((1, CHECK_NAMES_V1), (2, CHECK_NAMES)):
            cert = w.cert(rid, version)
            assert cert["version"] == version and ("custody_proofs" in cert) == (version == 2)
            verdict = verify(w, cert)
            assert verdict.ok, verdict.message
            assert verdict.version == version and verdict.to_json()["version"] == version
            assert [c.name for c in verdict.checks] == list(names)
            s = verdict.summary
            assert s is not None and s.version == version
            assert [c["role"] for c in s.custody] == custody
            assert s.custody_complete is (version == 2)
            assert s.to_json()["custody_complete"] is (version == 2)
            text = str(s)
            assert f"certificate: version {version}" in text
            assert ("custody:     complete, proven from the state" in text) is (version == 2)
            assert ("not proven complete" in text) is (version == 1)


def test_version_2_has_one_proof_per_retired_range(world):
    cert = world.cert(world.multi_id)
    ranges = next(e for e in cert["retirement"]["result"]["events"]
                  if e["type"] == "carbon.retired")["ranges"]
    assert [p["key"] for p in cert["custody_proofs"]] == sorted(
        unit_key(r["project_id"], r["first"]) for r in ranges)
    for item in cert["custody_proofs"]:
        assert item["value"]["state"] == "retired"
        assert [s["action"] for s in item["value"]["history"]][::len(item["value"]["history"]) - 1] == [
            "issue", "retire"]
    assert build_certificate(world.chain.store, world.chain.genesis, world.multi_id) == cert


def test_version_2_without_custody_steps_says_none(world, frozen):
    """A range issued to the retiring holder and retired with no step in between: the
    complete custody list is empty, and the summary says so."""
    cert = frozen.cert(frozen.frozen_id)
    # pretend nothing happened: only reachable with the proof check off (the record is
    # forged), so this is the links' wording, not a certificate a node could build
    record = proven_record(cert)
    record["history"] = [record["history"][0], record["history"][-1]]
    cert = without_roles(cert, *CUSTODY_ACTIONS.values())
    verdict = _unchecked_proofs(frozen, cert)
    assert verdict.ok, verdict.message
    assert verdict.summary is not None and verdict.summary.custody == ()
    assert "complete, proven from the state at block" in str(verdict.summary)
    assert "none (no listing, trade, transfer or freeze" in str(verdict.summary)


def test_the_versions_have_their_own_fields(world):
    v1 = world.cert(world.compliance_id, 1)
    v1["custody_proofs"] = world.cert(world.compliance_id)["custody_proofs"]
    refused(world, v1, "format", None, "version 1", "unknown ['custody_proofs']")
    v2 = world.cert(world.compliance_id)
    del v2["custody_proofs"]
    refused(world, v2, "format", None, "version 2", "missing ['custody_proofs']")
    for version in (0, 3, True, "2", None):
        cert = dict(world.cert(world.compliance_id), version=version)
        verdict = verify(world, cert)
        assert not verdict.ok and verdict.version is None
        assert [c.name for c in verdict.checks] == list(CHECK_NAMES)
        assert verdict.first_failure is not None and "unsupported version" in verdict.first_failure.detail


def test_builder_versions(world):
    builder = CertificateBuilder(world.chain.store, world.chain.genesis)
    assert builder.build(world.voluntary_id) == world.cert(world.voluntary_id, 2)
    assert builder.build(world.voluntary_id, 1) == world.cert(world.voluntary_id, 1)
    for bad in (0, 3, True, "2"):
        with pytest.raises(ValueError, match="certificate version"):
            builder.build(world.voluntary_id, bad)  # type: ignore[arg-type]


# -- omission -----------------------------------------------------------------------------------
@pytest.mark.parametrize("role", ["listing", "trade"])
def test_omitted_custody_step(world, role):
    v1 = without_roles(world.cert(world.voluntary_id, 1), role)
    assert verify(world, v1).ok  # version 1: "at least these steps"
    v2 = without_roles(world.cert(world.voluntary_id), role)
    action = {"listing": "list", "trade": "trade"}[role]
    refused(world, v2, "links", "custody_incomplete", f"{action} in block", f"no {role} entry")


def test_omitted_transfers_of_a_two_project_retirement(world):
    cert = world.cert(world.multi_id)
    transfers = [e for e in cert["provenance"] if e["role"] == "transfer"]
    for victim in transfers:
        cert = world.cert(world.multi_id)
        cert["provenance"] = [e for e in cert["provenance"] if e["tx"] != victim["tx"]]
        refused(world, prune(cert), "links", "custody_incomplete", f"block {victim['height']}")


def test_omitted_freeze_and_unfreeze_of_exactly_the_retired_units(frozen):
    """The issue's example: a regulator froze and unfroze the very units later retired;
    whoever serves the certificate leaves both steps out, with their blocks."""
    v1 = without_roles(frozen.cert(frozen.frozen_id, 1), "freeze", "unfreeze")
    verdict = verify(frozen, v1)
    assert verdict.ok and verdict.summary is not None
    assert [c["role"] for c in verdict.summary.custody] == ["transfer"]
    v2 = without_roles(frozen.cert(frozen.frozen_id), "freeze", "unfreeze")
    refused(frozen, v2, "links", "custody_incomplete", "freeze in block")
    only_unfreeze = without_roles(frozen.cert(frozen.frozen_id), "unfreeze")
    refused(frozen, only_unfreeze, "links", "custody_incomplete", "unfreeze in block")


# -- insertion ------------------------------------------------------------------------------------
def test_inserted_custody_step_of_other_units(world):
    """The OTC transfer of block 8 moved units 1..300; the voluntary retirement retired
    units 301..360 (listed and traded later). It lies between issuance and retirement."""
    h, i = locate(world, "transfer", settlement_ref="OTC-1")
    v1 = with_entry(world, world.cert(world.voluntary_id, 1), "transfer", h, i)
    verdict = verify(world, v1)
    assert verdict.ok and verdict.summary is not None  # version 1 accepts the stranger
    assert [c["role"] for c in verdict.summary.custody] == ["transfer", "listing", "trade"]
    v2 = with_entry(world, world.cert(world.voluntary_id), "transfer", h, i)
    refused(world, v2, "links", "custody_not_in_history", "is in no retired range's proven history")


def test_inserted_transfer_in_the_frozen_scenario(frozen):
    """The transfer of units 51..80 to buyer-steel happened while 1..50 were frozen."""
    h, i = locate(frozen, "transfer", to_org="buyer-steel")
    assert verify(frozen, with_entry(frozen, frozen.cert(frozen.frozen_id, 1), "transfer", h, i)).ok
    v2 = with_entry(frozen, frozen.cert(frozen.frozen_id), "transfer", h, i)
    refused(frozen, v2, "links", "custody_not_in_history", f"block {h}")


def test_inserted_and_omitted_step_at_once(world):
    """Swapping the voluntary retirement's trade for another custody step (of other units)
    is caught as the omission it also is."""
    cert = world.cert(world.voluntary_id)
    h, i = locate(world, "transfer", settlement_ref="OTC-1")
    cert = with_entry(world, without_roles(cert, "trade"), "transfer", h, i)
    refused(world, cert, "links", "custody_incomplete", "trade in block")


# -- reordering ------------------------------------------------------------------------------------
def test_reordered_custody_entries(world):
    cert = world.cert(world.voluntary_id)
    prov = cert["provenance"]
    a = next(k for k, e in enumerate(prov) if e["role"] == "listing")
    b = next(k for k, e in enumerate(prov) if e["role"] == "trade")
    prov[a], prov[b] = prov[b], prov[a]
    refused(world, cert, "format", "provenance_order", "ordered by (height, index)")


def test_reordered_history_steps_break_the_proof(world):
    cert = world.cert(world.voluntary_id)
    history = proven_record(cert)["history"]
    history[1], history[2] = history[2], history[1]
    refused(world, cert, "custody_proofs", "custody_proof_invalid", "does not show",
            "state after block")


# -- the proof, the record, the key ------------------------------------------------------------------
def _flip(hex_digest: str) -> str:
    return ("1" if hex_digest[0] == "0" else "0") + hex_digest[1:]


PROOF_MUTATIONS: list[tuple[str, Callable[[dict[str, Any]], None]]] = [
    ("first sibling", lambda p: p["siblings"].__setitem__(0, _flip(p["siblings"][0]))),
    ("last sibling", lambda p: p["siblings"].__setitem__(-1, _flip(p["siblings"][-1]))),
    ("sibling dropped", lambda p: p["siblings"].pop()),
    ("sibling added", lambda p: p["siblings"].append("11" * 32)),
    ("siblings reversed", lambda p: p["siblings"].reverse()),
    ("value hash", lambda p: p["leaf"].__setitem__("value_hash", _flip(p["leaf"]["value_hash"]))),
    ("key hash", lambda p: p["leaf"].__setitem__("key_hash", _flip(p["leaf"]["key_hash"]))),
    ("leaf removed", lambda p: p.__setitem__("leaf", None)),
]


@pytest.mark.parametrize("name,mutate", PROOF_MUTATIONS, ids=[n for n, _ in PROOF_MUTATIONS])
def test_mutated_proof(world, name, mutate):
    cert = world.cert(world.compliance_id)
    mutate(cert["custody_proofs"][0]["proof"])
    refused(world, cert, "custody_proofs", "custody_proof_invalid", "custody_proofs[0]")


RECORD_MUTATIONS: list[tuple[str, Callable[[dict[str, Any]], None]]] = [
    ("custody step removed", lambda r: r["history"].pop(1)),
    ("step's block", lambda r: r["history"][1].__setitem__("height", r["history"][1]["height"] + 1)),
    ("holder", lambda r: r.__setitem__("account", "buyer-power")),
    ("last unit", lambda r: r.__setitem__("last", r["last"] - 1)),
    ("state", lambda r: r.__setitem__("state", "held")),
    ("extra field", lambda r: r.__setitem__("note", "")),
]


@pytest.mark.parametrize("name,mutate", RECORD_MUTATIONS, ids=[n for n, _ in RECORD_MUTATIONS])
def test_mutated_record(world, name, mutate):
    cert = world.cert(world.compliance_id)
    mutate(proven_record(cert))
    refused(world, cert, "custody_proofs", "custody_proof_invalid")


def test_mutated_key(world):
    cert = world.cert(world.compliance_id)
    item = cert["custody_proofs"][0]
    item["key"] = unit_key("AH-0001", 2)
    refused(world, cert, "custody_proofs", "custody_proof_invalid", "unit/AH-0001/000000000002")
    cert = world.cert(world.compliance_id)
    cert["custody_proofs"][0]["key"] += " "
    refused(world, cert, "custody_proofs", "custody_proof_invalid")


def test_proof_of_another_height(world):
    """The record proven at the retirement's height, with a proof of the state after the
    block before: not the retirement block's state root."""
    cert = world.cert(world.compliance_id)
    h = cert["retirement"]["height"]
    key = cert["custody_proofs"][0]["key"]
    earlier = world.chain.store.state_tree.prove(key.encode(), h - 1)
    cert["custody_proofs"][0]["proof"] = earlier.to_json()
    refused(world, cert, "custody_proofs", "custody_proof_invalid")


def test_missing_proof_of_a_retired_range(world):
    cert = world.cert(world.multi_id)
    gone = cert["custody_proofs"].pop(1)
    refused(world, cert, "links", "custody_record_missing", gone["key"], "CCER-AH-0002")
    cert = world.cert(world.multi_id)
    cert["custody_proofs"] = []
    refused(world, cert, "links", "custody_record_missing")


def test_genuine_proof_of_a_record_that_is_no_retired_range(world):
    """A genuinely proven record of other units (the buyer's remaining units) added."""
    cert = world.cert(world.compliance_id)
    h = cert["retirement"]["height"]
    key = unit_key("AH-0001", 121)
    tree = world.chain.store.state_tree
    raw = tree.get(key.encode(), h)
    assert raw is not None
    from ledger.encoding import decode

    cert["custody_proofs"].append(custody_proof_item(key, decode(raw), tree.prove(key.encode(), h)))
    assert verify(world, cert).check("custody_proofs").passed
    refused(world, cert, "links", "custody_record_mismatch", key, "no retired range's unit record")


# -- the carbon rules over proven records (the proof check is switched off: as if a node --------
# -- could forge state, to reach each rule the proof otherwise guards) ---------------------------
def _unchecked_proofs(world: World, cert: dict[str, Any]) -> CertificateVerdict:
    real = certificate.verify_state_proof
    certificate.verify_state_proof = lambda *args: True  # type: ignore[assignment]
    try:
        return verify(world, cert)
    finally:
        certificate.verify_state_proof = real


def _forged(world: World, rid: str, edit: Callable[[dict[str, Any]], None]) -> CertificateVerdict:
    cert = world.cert(rid)
    edit(proven_record(cert))
    verdict = _unchecked_proofs(world, cert)
    assert not verdict.ok and verdict.summary is None
    return verdict


def _swap_steps(r: dict[str, Any]) -> None:
    r["history"][1], r["history"][2] = r["history"][2], r["history"][1]


FORGED: list[tuple[str, Callable[[dict[str, Any]], None], str, str]] = [
    ("not retired", lambda r: r.__setitem__("state", "held"), "custody_record_mismatch", "not 'retired'"),
    ("other holder", lambda r: r.__setitem__("account", "buyer-steel"), "custody_record_mismatch",
     "not by the retiring enterprise"),
    ("other range", lambda r: r.__setitem__("last", 359), "custody_record_mismatch", "its last is 359"),
    ("other batch", lambda r: r.__setitem__("batch_id", "AH-0002-B1"), "custody_record_mismatch",
     "its batch_id"),
    ("not a record", lambda r: r.clear(), "custody_record_mismatch", "its project_id is None"),
    ("no history", lambda r: r.__setitem__("history", []), "custody_record_mismatch",
     "does not run from an issuance"),
    ("bad step", lambda r: r["history"].__setitem__(1, "list"), "custody_record_mismatch",
     "history step 1 is not"),
    ("starts elsewhere", lambda r: r["history"].pop(0), "custody_record_mismatch",
     "not with the issuance"),
    ("ends elsewhere", lambda r: r["history"].pop(), "custody_record_mismatch",
     "not with this retirement"),
    ("cancelled on the way", lambda r: r["history"][1].__setitem__("action", "loss"),
     "custody_record_mismatch", "('loss') is not a custody step"),
    ("step of another role", lambda r: r["history"][1].__setitem__("action", "transfer"),
     "custody_record_mismatch", "a listing in block"),
    ("step in another block", lambda r: r["history"][1].__setitem__("height", 12),
     "custody_record_mismatch", "a listing in block"),
    ("history out of order", _swap_steps, "custody_order", "does not come after"),
]


@pytest.mark.parametrize("name,edit,code,needle", FORGED, ids=[f[0] for f in FORGED])
def test_links_refuse_a_record_that_is_not_the_retired_range(world, name, edit, code, needle):
    verdict = _forged(world, world.voluntary_id, edit)
    found = verdict.first_failure
    assert found is not None and found.name == "links" and found.code == code, found
    assert needle in found.detail, found


def test_links_accept_the_genuine_records_with_the_proof_check_off(world):
    """The control of the tests above: with nothing forged the links pass, so each
    refusal comes from its edit."""
    assert _unchecked_proofs(world, world.cert(world.voluntary_id)).ok


# -- structure ----------------------------------------------------------------------------------------
STRUCTURE: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("not a list", lambda c: c.__setitem__("custody_proofs", {}), "must be a list"),
    ("item not an object", lambda c: c["custody_proofs"].__setitem__(0, []), "must have exactly"),
    ("field missing", lambda c: c["custody_proofs"][0].pop("proof"), "must have exactly"),
    ("field added", lambda c: c["custody_proofs"][0].__setitem__("height", 9), "must have exactly"),
    ("key not a string", lambda c: c["custody_proofs"][0].__setitem__("key", 7), "non-empty string"),
    ("empty key", lambda c: c["custody_proofs"][0].__setitem__("key", ""), "non-empty string"),
    ("long key", lambda c: c["custody_proofs"][0].__setitem__("key", "k" * 1025), "longer than 1024"),
    ("null value", lambda c: c["custody_proofs"][0].__setitem__("value", None), "not null"),
    ("proof not hex", lambda c: c["custody_proofs"][0]["proof"]["siblings"].__setitem__(0, "xy"),
     "malformed_proof"),
    ("proof too long", lambda c: c["custody_proofs"][0]["proof"].__setitem__(
        "siblings", ["00" * 32] * 257), "proof_too_large"),
    ("key twice", lambda c: c["custody_proofs"].append(copy.deepcopy(c["custody_proofs"][0])),
     "each key once"),
    ("keys unordered", lambda c: c["custody_proofs"].reverse(), "ordered by key"),
]


@pytest.mark.parametrize("name,mutate,needle", STRUCTURE, ids=[s[0] for s in STRUCTURE])
def test_malformed_custody_proofs(world, name, mutate, needle):
    cert = world.cert(world.multi_id)
    mutate(cert)
    refused(world, cert, "format", "malformed_custody_proof", needle)


def test_new_codes_are_registered_where_the_document_lists_them():
    assert CHECK_CODES["malformed_custody_proof"] == "format"
    assert CHECK_CODES["custody_proof_invalid"] == "custody_proofs"
    for code in ("custody_record_missing", "custody_record_mismatch", "custody_incomplete",
                 "custody_not_in_history", "custody_order"):
        assert code in LINK_CODES


def test_size_of_version_2(world, frozen):
    """docs/certificates.md §5 quotes these figures: the proofs add a few KB."""
    for w, rid in ((world, world.compliance_id), (world, world.voluntary_id),
                   (world, world.multi_id), (frozen, frozen.frozen_id)):
        v1, v2 = len(canonical(w.cert(rid, 1))), len(canonical(w.cert(rid)))
        assert 25_000 < v1 < v2 < v1 + 2_500 * len(w.cert(rid)["custody_proofs"]) < 70_000


# -- exhaustive: every omission, every insertion ----------------------------------------------------
def test_every_omission_of_custody_steps_is_refused(frozen):
    """Each non-empty subset of the three steps (freeze, unfreeze, transfer) left out, with
    the blocks only they needed: version 1 accepts every one, version 2 none."""
    import itertools

    roles = ["freeze", "unfreeze", "transfer"]
    for n in range(1, len(roles) + 1):
        for gone in itertools.combinations(roles, n):
            v1 = verify(frozen, without_roles(frozen.cert(frozen.frozen_id, 1), *gone))
            assert v1.ok, gone
            v2 = verify(frozen, without_roles(frozen.cert(frozen.frozen_id), *gone))
            assert not v2.ok and v2.first_failure is not None, gone
            assert v2.first_failure.code == "custody_incomplete", (gone, v2.first_failure)


def test_every_foreign_custody_transaction_is_refused(world, frozen):
    """Every successful custody transaction of either chain that lies between a
    retirement's issuance and itself but is not in its units' history: version 1 takes it
    as one more step, version 2 refuses it."""
    role_of = {m: role for role, m in (("listing", "create_listing"), ("delisting", "cancel_listing"),
                                       ("trade", "match_trade"), ("transfer", "transfer"),
                                       ("freeze", "freeze"), ("unfreeze", "unfreeze"))}
    tried = 0
    for w, rid in ((world, world.compliance_id), (world, world.voluntary_id),
                   (world, world.multi_id), (frozen, frozen.frozen_id)):
        cert = w.cert(rid)
        own = {e["tx"]["payload"]["nonce"] for e in entries(cert)}
        first_issue = min(e["height"] for e in cert["provenance"] if e["role"] == "issuance")
        anchor = cert["retirement"]["height"]
        for h in range(first_issue + 1, anchor):
            block = w.chain.store.get_block(h)
            assert block is not None
            for i, tx in enumerate(block.txs):
                role = role_of.get(tx.method)
                if (role is None or tx.contract != "carbon" or tx.nonce in own
                        or block.results[i]["code"] != "ok"):
                    continue
                tried += 1
                assert verify(w, with_entry(w, w.cert(rid, 1), role, h, i)).ok
                refused(w, with_entry(w, w.cert(rid), role, h, i), "links", "custody_not_in_history")
    assert tried >= 4  # the OTC transfer (voluntary), listing+trade (multi), a transfer (frozen)


def test_any_byte_of_the_custody_proofs_changed_is_refused(world):
    """Hypothesis: one byte anywhere in the ``custody_proofs`` part of the canonical bytes
    changed (to any byte, or to a hex digit so that more mutants decode) is refused; the
    verifier never raises."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from ledger.certificate import verify_certificate_bytes

    data = canonical(world.cert(world.voluntary_id))
    start = data.index(b'"custody_proofs":')
    end = data.index(b',"format":')  # the next top-level field in canonical order
    assert start < end

    @settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(position=st.integers(start, end - 1),
           value=st.integers(0, 255) | st.sampled_from(list(b"0123456789abcdef")))
    def check(position: int, value: int) -> None:
        if value == data[position]:
            value ^= 0x01
        mutated = data[:position] + bytes([value]) + data[position + 1:]
        verdict = verify_certificate_bytes(mutated, genesis=world.chain.genesis, links=CARBON_LINKS)
        assert not verdict.ok and verdict.first_failure is not None

    check()
