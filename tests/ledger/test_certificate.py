"""Retirement certificates built from a real 4-validator chain, verified offline; every
tampering names the check that catches it."""

from __future__ import annotations

import copy
import secrets
from typing import Any

import pytest

import ledger.certificate as certificate
from chaincode.carbon_common import serial_string
from chaincode.certificate_links import CARBON_LINKS, make_entry, printable_serial
from ledger.block import vote_sign_bytes
from ledger.certificate import (
    CHECK_NAMES,
    CertificateVerdict,
    Check,
    verify_certificate,
    verify_certificate_bytes,
)
from ledger.encoding import canonical, decode
from ledger.genesis import Genesis
from node.api.certificates import CertificateBuilder, UnknownRetirement, build_certificate
from tests.support.certificates import (
    GENESIS_SET,
    World,
    genesis_doc,
    reseal_block,
    shared_world,
    validator_key,
)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    return shared_world(tmp_path_factory)


def verify(world: World, cert: Any) -> CertificateVerdict:
    return verify_certificate(cert, genesis=world.chain.genesis, links=CARBON_LINKS)


def failure(world: World, cert: Any) -> Check:
    """The first failed check (asserting the certificate is invalid)."""
    verdict = verify(world, cert)
    assert not verdict.ok
    assert verdict.summary is None
    check = verdict.first_failure
    assert check is not None
    return check


def assert_fails(world: World, cert: Any, check: str, *needles: str) -> Check:
    found = failure(world, cert)
    assert found.name == check, found
    for needle in needles:
        assert needle in found.detail, found
    return found


def entries(cert: dict[str, Any]) -> list[dict[str, Any]]:
    return [cert["retirement"], *cert["provenance"]]


def entry_of(cert: dict[str, Any], role: str, **args: Any) -> dict[str, Any]:
    for e in entries(cert):
        if e["role"] == role and all(e["tx"]["payload"]["args"].get(k) == v for k, v in args.items()):
            return e
    raise AssertionError(f"no {role} entry")


def prune(cert: dict[str, Any]) -> dict[str, Any]:
    """Drop headers, commits and history no entry needs any more."""
    used = {str(e["height"]) for e in entries(cert)}
    anchor = cert["retirement"]["height"]
    for key in ("headers", "commits"):
        cert[key] = {h: v for h, v in cert[key].items() if h in used}
    cert["history"] = {h: v for h, v in cert["history"].items() if h in used and int(h) < anchor}
    return cert


def anchor_commit(cert: dict[str, Any]) -> dict[str, Any]:
    commit: dict[str, Any] = cert["commits"][str(cert["retirement"]["height"])]
    return commit


def precommit_signature(cert: dict[str, Any], height: int, key_index: int) -> dict[str, str]:
    """A correct precommit signature for block ``height`` by validator key ``key_index``."""
    commit = cert["commits"][str(height)]
    msg = vote_sign_bytes("precommit", cert["chain_id"], height, commit["round"], commit["block_hash"])
    key = validator_key(key_index)
    return {"signature": key.sign_hex(msg), "validator": key.public_key_hex}


# -- valid certificates ----------------------------------------------------------------------
def test_compliance_certificate_verifies_and_says_what_it_proves(world):
    cert = world.cert(world.compliance_id)
    verdict = verify(world, cert)
    assert verdict.ok, verdict.message
    assert verdict.message == "VALID" and verdict.code is None
    assert [c.name for c in verdict.checks] == list(CHECK_NAMES)
    assert all(c.passed and not c.skipped for c in verdict.checks)
    s = verdict.summary
    assert s is not None
    record = world.chain.store.get(f"retirement/{world.compliance_id}")
    assert record is not None
    rec = decode(record)
    assert (s.purpose, s.quantity, s.enterprise, s.beneficiary, s.period, s.reason) == (
        "compliance", 120, "buyer-steel", "buyer-steel", "2025", None)
    assert [r.serial for r in s.ranges] == [r["serial"] for r in rec["ranges"]] == [
        "CCER-AH-0001-2022-000000001-000000120"]
    assert s.retirement_id == world.compliance_id and s.height == rec["height"]
    assert [p["project_id"] for p in s.projects] == ["AH-0001"]
    assert s.projects[0]["plots"] == ["P1", "P2"] and s.plot_ids == ("P1", "P2")
    assert s.projects[0]["owner_org"] == "owner-farm"
    assert s.projects[0]["validation"]["verifier_org"] == "verifier-a"
    assert s.batches[0]["verification"]["verifier_org"] == "verifier-b"
    assert [c["role"] for c in s.custody] == ["transfer"]
    assert len(s.signed_by) == 3 and cert["validator_set_changes"] == []
    assert s.time_utc.endswith("Z") and s.chain_id == "fcl-cert-test"
    text = str(s)
    for needle in ("CCER-AH-0001-2022-000000001-000000120", "120 t CO2e", "buyer-steel",
                   "compliance period 2025", "AH-0001", "P1, P2"):
        assert needle in text


def test_roles_of_the_compliance_certificate(world):
    cert = world.cert(world.compliance_id)
    roles = [e["role"] for e in cert["provenance"]]
    assert sorted(roles) == sorted(["plot_registration", "plot_registration", "project_submission",
                                    "validation", "registration", "monitoring_report",
                                    "verification", "issuance", "transfer"])
    assert [(e["height"], e["index"]) for e in cert["provenance"]] == sorted(
        (e["height"], e["index"]) for e in cert["provenance"])
    heights = {e["height"] for e in entries(cert)}
    assert set(cert["headers"]) == set(cert["commits"]) == {str(h) for h in heights}
    assert set(cert["history"]) == {str(h) for h in heights if h < cert["retirement"]["height"]}


def test_voluntary_certificate_after_a_validator_set_change(world):
    cert = world.cert(world.voluntary_id)
    assert [c["height"] for c in cert["validator_set_changes"]] == [world.change_height]
    change = cert["validator_set_changes"][0]
    assert change["header"]["next_validators_hash"] != change["header"]["validators_hash"]
    # the listing's block is the change block: its header appears in both places, equal
    assert cert["headers"][str(world.change_height)] == change["header"]
    verdict = verify_certificate(cert, genesis_hash=world.chain.genesis.hash, links=CARBON_LINKS)
    assert verdict.ok, verdict.message
    s = verdict.summary
    assert s is not None
    assert (s.purpose, s.quantity, s.beneficiary, s.reason, s.enterprise, s.period) == (
        "voluntary", 60, "Hefei Marathon 2024", "event footprint (马拉松)", "buyer-power", None)
    assert [c["role"] for c in s.custody] == ["listing", "trade"]
    assert "val-3" not in s.signed_by  # the retirement block is signed by the new set


def test_retirement_spanning_two_projects(world):
    cert = world.cert(world.multi_id)
    verdict = verify(world, cert)
    assert verdict.ok, verdict.message
    s = verdict.summary
    assert s is not None
    assert s.quantity == 200 == sum(r.quantity for r in s.ranges)
    assert [(r.project_id, r.batch_id) for r in s.ranges] == [
        ("AH-0001", "AH-0001-B1"), ("AH-0002", "AH-0002-B1")]
    assert [p["project_id"] for p in s.projects] == ["AH-0001", "AH-0002"]
    assert s.plot_ids == ("P1", "P2", "P3")
    assert [p["owner_org"] for p in s.projects] == ["owner-farm", "coop"]


def test_canonical_bytes_verify_and_builds_are_deterministic(world):
    cert = world.cert(world.multi_id)
    assert verify_certificate_bytes(canonical(cert), genesis=world.chain.genesis, links=CARBON_LINKS).ok
    builder = CertificateBuilder(world.chain.store, world.chain.genesis)
    for rid in (world.multi_id, world.compliance_id, world.voluntary_id):  # reuses its caches
        assert builder.build(rid) == build_certificate(world.chain.store, world.chain.genesis, rid)


def test_printable_serial_matches_the_contract():
    for args in (("AH-0001", 2024, 1501, 1800), ("X", 1999, 1, 1), ("P.1:2", 2030, 7, 10**10)):
        assert printable_serial(*args) == serial_string(*args)


def test_verdict_reads_in_the_explorer(world):
    from explorer.source import normalise_verdict

    good = normalise_verdict(verify(world, world.cert(world.compliance_id)))
    assert good.ok and [c.name for c in good.checks] == list(CHECK_NAMES)
    assert "CCER-AH-0001-2022" in str(getattr(good, "details", None) or good.summary)
    cert = world.cert(world.compliance_id)
    cert["chain_id"] = "fcl-other"
    bad = normalise_verdict(verify(world, cert))
    assert not bad.ok and bad.code == "chain_id"


# -- the builder's errors -------------------------------------------------------------------
@pytest.mark.parametrize("rid", ["", "xyz", "AB" * 32, secrets.token_hex(32)])
def test_unknown_or_malformed_retirement_id(world, rid):
    with pytest.raises(UnknownRetirement):
        build_certificate(world.chain.store, world.chain.genesis, rid)
    assert issubclass(UnknownRetirement, LookupError)


def test_a_transaction_that_is_not_a_retirement_is_unknown(world):
    issuance = entry_of(world.cert(world.compliance_id), "issuance")
    with pytest.raises(UnknownRetirement):
        build_certificate(world.chain.store, world.chain.genesis, issuance["result"]["tx_id"])


# -- commits and signatures ---------------------------------------------------------------
def test_removed_signature_leaves_too_little_power(world):
    cert = world.cert(world.compliance_id)
    anchor_commit(cert)["signatures"].pop()
    assert_fails(world, cert, "commits", "insufficient_power", "20 of 40")


def test_signature_from_a_non_validator(world):
    cert = world.cert(world.compliance_id)
    h = cert["retirement"]["height"]
    anchor_commit(cert)["signatures"][0] = precommit_signature(cert, h, 5)
    assert_fails(world, cert, "commits", "unknown_validator")


def test_signature_of_a_validator_that_left_the_set(world):
    cert = world.cert(world.voluntary_id)
    h = cert["retirement"]["height"]
    anchor_commit(cert)["signatures"][0] = precommit_signature(cert, h, 3)  # val-3 left
    assert_fails(world, cert, "commits", "unknown_validator")


def test_duplicated_and_forged_signatures(world):
    cert = world.cert(world.compliance_id)
    sigs = anchor_commit(cert)["signatures"]
    sigs.append(copy.deepcopy(sigs[0]))
    assert_fails(world, cert, "commits", "duplicate_signature")
    cert = world.cert(world.compliance_id)
    sig = anchor_commit(cert)["signatures"][1]
    sig["signature"] = ("0" if sig["signature"][0] != "0" else "1") + sig["signature"][1:]
    assert_fails(world, cert, "commits", "bad_commit_signature")


def test_changed_header_breaks_its_commit(world):
    cert = world.cert(world.compliance_id)
    h = next(h for h in cert["headers"] if int(h) < cert["retirement"]["height"])
    cert["headers"][h]["time"] += 1
    assert_fails(world, cert, "commits", "another block hash")


# -- proofs -------------------------------------------------------------------------------
def multi_tx_entry(cert: dict[str, Any]) -> dict[str, Any]:
    return next(e for e in entries(cert) if e["size"] > 1)


def test_wrong_proof_item(world):
    cert = world.cert(world.compliance_id)
    e = multi_tx_entry(cert)
    e["tx_proof"][0] = "00" * 32
    assert_fails(world, cert, "inclusion", "not in the block's txs_root")
    cert = world.cert(world.compliance_id)
    e = multi_tx_entry(cert)
    e["result_proof"].append("11" * 32)
    assert_fails(world, cert, "inclusion", "results_root")


@pytest.mark.parametrize("field,delta", [("index", 1), ("index", -1), ("size", 1), ("size", -1)])
def test_wrong_index_or_size(world, field, delta):
    cert = world.cert(world.compliance_id)
    e = next(e for e in entries(cert) if e["size"] == 2)
    e[field] = (e[field] + delta) % 3 if field == "index" else e[field] + delta
    check = failure(world, cert)
    assert check.name in ("inclusion", "format"), check


def test_wrong_history_proof(world):
    cert = world.cert(world.compliance_id)
    h = min(cert["history"], key=int)
    cert["history"][h][0] = "22" * 32
    assert_fails(world, cert, "history", f"block {h} is not proven")


# -- networks and chain ids -----------------------------------------------------------------
def test_wrong_chain_id(world):
    cert = world.cert(world.compliance_id)
    cert["chain_id"] = "fcl-other"
    assert_fails(world, cert, "chain_id", "fcl-other")


def test_verified_against_another_networks_genesis(world, tmp_path_factory):
    cert = world.cert(world.compliance_id)
    other = Genesis.from_json(genesis_doc("fcl-other"))
    verdict = verify_certificate(cert, genesis=other, links=CARBON_LINKS)
    assert verdict.first_failure is not None and verdict.first_failure.name == "genesis"
    assert "not the trusted genesis" in verdict.first_failure.detail
    assert not verify_certificate(cert, genesis_hash=other.hash, links=CARBON_LINKS).ok
    # a certificate of the other network, checked against ours
    other_world = shared_world(tmp_path_factory, "fcl-other")
    foreign = other_world.cert(other_world.compliance_id)
    assert verify_certificate(foreign, genesis=other_world.chain.genesis, links=CARBON_LINKS).ok
    assert_fails(world, foreign, "genesis", "fcl-other")
    # ... with our genesis pasted in, its blocks still name the other chain
    foreign["genesis"] = copy.deepcopy(dict(world.chain.genesis.doc))
    foreign["genesis_hash"] = world.chain.genesis.hash
    assert_fails(world, foreign, "chain_id", "fcl-other")
    foreign["chain_id"] = world.chain.genesis.chain_id
    assert_fails(world, foreign, "chain_id", "block")


def test_trust_anchor_is_required_and_must_agree(world):
    cert = world.cert(world.compliance_id)
    assert verify_certificate(cert, links=CARBON_LINKS).first_failure.name == "genesis"  # type: ignore[union-attr]
    other = Genesis.from_json(genesis_doc("fcl-other"))
    verdict = verify_certificate(cert, genesis=world.chain.genesis, genesis_hash=other.hash, links=CARBON_LINKS)
    assert verdict.first_failure is not None and verdict.first_failure.name == "genesis"
    assert not verify_certificate(cert, genesis_hash="ABC", links=CARBON_LINKS).ok


def test_embedded_genesis_must_hash_to_genesis_hash(world):
    cert = world.cert(world.compliance_id)
    cert["genesis"]["genesis_time"] += 1
    assert_fails(world, cert, "genesis", "not the SHA-256")
    cert = world.cert(world.compliance_id)
    cert["genesis"]["validators"][3]["power"] = 100  # would let val-3 alone commit
    assert_fails(world, cert, "genesis")


# -- results ------------------------------------------------------------------------------
def test_result_changed_from_ok_to_failed(world):
    cert = world.cert(world.compliance_id)
    cert["retirement"]["result"]["code"] = "cap_exceeded"
    assert_fails(world, cert, "inclusion", "results_root")
    # re-sealed by the validators' keys, the result proves the transaction failed
    h = cert["retirement"]["height"]
    i = cert["retirement"]["index"]
    block = world.chain.store.get_block(h)
    result = dict(block.results[i], code="cap_exceeded", events=[], message="forged")
    sealed = reseal_block(world.chain, world.cert(world.compliance_id), h,
                          {i: (block.txs[i].to_json(), result)})
    assert_fails(world, sealed, "results", "failed (cap_exceeded")


def test_failed_retirement_changed_to_ok(world):
    h, i = world.failed_retirement
    block = world.chain.store.get_block(h)
    assert block.results[i]["code"] == "cap_exceeded"
    cert = world.cert(world.compliance_id)
    cert["retirement"] = make_entry("retirement", block, i)
    cert["retirement_id"] = block.txs[i].tx_id
    assert_fails(world, cert, "results", "cap_exceeded")
    cert["retirement"]["result"]["code"] = "ok"
    assert_fails(world, cert, "inclusion", "results_root")


# -- links between the transactions ---------------------------------------------------------
PROVENANCE_ROLES = ["plot_registration", "project_submission", "validation", "registration",
                    "monitoring_report", "verification", "issuance"]


@pytest.mark.parametrize("role", PROVENANCE_ROLES)
def test_removed_provenance_entry(world, role):
    cert = world.cert(world.compliance_id)
    victim = next(e for e in cert["provenance"] if e["role"] == role)
    cert["provenance"].remove(victim)
    if all(e["height"] != victim["height"] for e in entries(cert)):
        assert failure(world, cert).name == "format"  # its block is now unreferenced
    assert_fails(world, prune(cert), "links", f"no {role} entry")


def test_removed_custody_step_is_less_information_not_a_lie(world):
    """Version 1's known limitation, pinned: its custody list is "at least these steps"."""
    cert = world.cert(world.voluntary_id, version=1)
    cert["provenance"] = [e for e in cert["provenance"] if e["role"] != "listing"]
    verdict = verify(world, prune(cert))
    assert verdict.ok and verdict.summary is not None and verdict.version == 1
    assert [c["role"] for c in verdict.summary.custody] == ["trade"]
    assert not verdict.summary.custody_complete


def test_removed_custody_step_is_refused_in_version_2(world):
    """The same omission in a version-2 certificate: the proven history names the listing."""
    cert = world.cert(world.voluntary_id)
    cert["provenance"] = [e for e in cert["provenance"] if e["role"] != "listing"]
    found = assert_fails(world, prune(cert), "links", "list in block", "leaves out a step")
    assert found.code == "custody_incomplete"


def test_unrelated_entry_is_refused(world):
    cert = world.cert(world.compliance_id)
    p1 = entry_of(cert, "plot_registration", plot_id="P1")
    block = world.chain.store.get_block(p1["height"])
    index = next(i for i, tx in enumerate(block.txs) if tx.args.get("plot_id") == "P9")
    cert["provenance"].append(make_entry("plot_registration", block, index))
    assert_fails(world, cert, "format", "ordered by (height, index)")
    cert["provenance"].sort(key=lambda e: (e["height"], e["index"]))
    assert_fails(world, cert, "links", "is not linked to the retirement")


def test_entry_with_the_wrong_role(world):
    cert = world.cert(world.compliance_id)
    entry_of(cert, "validation")["role"] = "verification"
    assert_fails(world, cert, "links")


def test_duplicated_entry(world):
    cert = world.cert(world.compliance_id)
    cert["provenance"].insert(1, copy.deepcopy(cert["provenance"][0]))
    found = assert_fails(world, cert, "format", "provenance[1] (block", "same position as",
                         "each transaction once")
    assert found.code == "provenance_order"


def _resealed_retirement(world: World, **event_changes: Any) -> dict[str, Any]:
    cert = world.cert(world.compliance_id)
    h, i = cert["retirement"]["height"], cert["retirement"]["index"]
    block = world.chain.store.get_block(h)
    result = copy.deepcopy(block.results[i])
    event = next(e for e in result["events"] if e["type"] == "carbon.retired")
    for key, value in event_changes.items():
        if value is None:
            del event[key]
        elif callable(value):
            event[key] = value(event[key])
        else:
            event[key] = value
    return reseal_block(world.chain, cert, h, {i: (block.txs[i].to_json(), result)})


def test_resealing_helper_keeps_an_unchanged_block_valid(world):
    assert verify(world, _resealed_retirement(world)).ok


def test_retirement_quantity_changed(world):
    cert = world.cert(world.compliance_id)
    cert["retirement"]["tx"]["payload"]["args"]["quantity"] = 121
    assert_fails(world, cert, "inclusion", "txs_root")
    # the event's quantity resealed into a valid block: the message names the event's
    # figure and the sum, which differ (not "1000 is not the sum of its ranges (1000)")
    assert_fails(world, _resealed_retirement(world, quantity=121), "links",
                 "the retirement event's quantity 121 is not the sum of its retired ranges")


def test_retired_range_quantity_changed_names_both_figures(world):
    def bump(ranges: list[dict[str, Any]]) -> list[dict[str, Any]]:
        r = ranges[0]
        assert r["quantity"] == r["last"] - r["first"] + 1
        return [dict(r, quantity=r["quantity"] + 1), *ranges[1:]]

    cert = _resealed_retirement(world, ranges=bump)
    r = cert["retirement"]["result"]["events"]
    first = next(e for e in r if e["type"] == "carbon.retired")["ranges"][0]
    n = first["last"] - first["first"] + 1
    assert first["quantity"] == n + 1
    assert_fails(world, cert, "links",
                 f"retired range 0: quantity {n + 1} is not the {n} units "
                 f"{first['first']}..{first['last']} it names")


ISSUED_LAST = 1191  # last unit of batch AH-0001-B1 (checked in the test)


def _beyond_batch(ranges: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same quantity, shifted to end 60 units after the batch's last unit."""
    first, last = ISSUED_LAST - 59, ISSUED_LAST + 60
    r = dict(ranges[0], first=first, last=last)
    r["serial"] = printable_serial(r["project_id"], r["vintage"], first, last)
    return [r]


@pytest.mark.parametrize("changes,needle", [
    ({"ranges": None}, "does not list the retired ranges"),
    ({"ranges": []}, "does not list the retired ranges"),
    ({"ranges": lambda rs: [dict(rs[0], serial="CCER-X-2022-000000001-000000120")]}, "serial"),
    ({"ranges": lambda rs: [dict(rs[0], batch_id="AH-0002-B1")]}, "no issuance entry for batch"),
    ({"ranges": lambda rs: [dict(rs[0], vintage=2023, serial=printable_serial(
        "AH-0001", 2023, rs[0]["first"], rs[0]["last"]))]}, "project and vintage"),
    ({"ranges": _beyond_batch}, "outside batch"),
    ({"ranges": lambda rs: [dict(rs[0], first=1, last=60, quantity=60,
                                 serial=printable_serial("AH-0001", 2022, 1, 60)),
                            dict(rs[0], first=50, last=109, quantity=60,
                                 serial=printable_serial("AH-0001", 2022, 50, 109))]},
     "overlap"),
    ({"purpose": "voluntary"}, "purpose"),
    ({"period": "2026"}, "period"),
    ({"retirement_id": "00" * 32}, "another retirement"),
])
def test_semantic_links_of_a_resealed_retirement(world, changes, needle):
    assert world.issued["AH-0001"] == ISSUED_LAST
    assert_fails(world, _resealed_retirement(world, **changes), "links", needle)


# -- validator-set changes ------------------------------------------------------------------
def test_missing_validator_set_change(world):
    cert = world.cert(world.voluntary_id)
    cert["validator_set_changes"] = []
    assert_fails(world, cert, "headers", "change")


def test_change_block_commit_without_power(world):
    cert = world.cert(world.voluntary_id)
    cert["validator_set_changes"][0]["commit"]["signatures"] = []
    assert_fails(world, cert, "validator_set_changes", "insufficient_power")
    cert = world.cert(world.voluntary_id)
    del cert["validator_set_changes"][0]["commit"]
    assert_fails(world, cert, "format", "validator_set_changes[0]")


def test_change_to_another_validator_set(world):
    cert = world.cert(world.voluntary_id)
    cert["validator_set_changes"][0]["validators"] = copy.deepcopy(GENESIS_SET)
    assert_fails(world, cert, "validator_set_changes", "next_validators_hash")


def test_change_block_signed_by_the_new_set_is_refused(world):
    cert = world.cert(world.voluntary_id)
    change = cert["validator_set_changes"][0]
    h = change["height"]
    # val-4 joins only after the change block: its signature there is not a validator's
    msg = vote_sign_bytes("precommit", cert["chain_id"], h, 0, change["commit"]["block_hash"])
    change["commit"]["signatures"][0] = {"signature": validator_key(4).sign_hex(msg),
                                         "validator": validator_key(4).public_key_hex}
    assert_fails(world, cert, "validator_set_changes", "unknown_validator")


# -- structure ------------------------------------------------------------------------------
@pytest.mark.parametrize("mutate,needle", [
    (lambda c: c.update(extra=1), "unknown ['extra']"),
    (lambda c: c.pop("history"), "missing ['history']"),
    (lambda c: c.update(version=3), "unsupported version"),
    (lambda c: c.update(version=1.0), "floats"),
    (lambda c: c.update(format="x"), "format must be"),
    (lambda c: c.update(retirement_id="AB" * 32), "retirement_id"),
    (lambda c: c["headers"].update({"01": {}}), "not a block height"),
    (lambda c: c["retirement"].update(role="issuance"), "role must be 'retirement'"),
    (lambda c: c["retirement"].pop("tx_proof"), "retirement must have exactly"),
    (lambda c: c["provenance"].append(c["retirement"]), "subject only"),
    (lambda c: c["provenance"][0].update(role="owner"), "unknown role"),
    (lambda c: c["provenance"][0].update(height=0), "height"),
    (lambda c: c["provenance"][0].update(tx_proof="00"), "tx_proof"),
    (lambda c: c["provenance"][0].update(result_proof=["zz" * 32]), "hex"),
    (lambda c: c.update(validator_set_changes={}), "validator_set_changes"),
    (lambda c: c.update(genesis=[]), "genesis"),
])
def test_malformed_structure(world, mutate, needle):
    cert = world.cert(world.compliance_id)
    mutate(cert)
    assert_fails(world, cert, "format", needle)


@pytest.mark.parametrize("value", [None, [], "cert", 7, {"format": certificate.CERT_FORMAT}])
def test_not_a_certificate(world, value):
    verdict = verify(world, value)
    assert not verdict.ok and verdict.first_failure.name == "format"  # type: ignore[union-attr]
    assert all(c.skipped for c in verdict.checks[1:])


def test_size_limit(world, monkeypatch):
    data = canonical(world.cert(world.compliance_id))
    monkeypatch.setattr(certificate, "MAX_CERT_BYTES", len(data) - 1)
    verdict = verify_certificate_bytes(data, genesis=world.chain.genesis, links=CARBON_LINKS)
    assert verdict.first_failure is not None and verdict.first_failure.name == "format"
    assert not verify(world, decode(data)).ok


@pytest.mark.parametrize("data", [b"", b"{", b"[]", b'{"a":1.5}', b'{"a":1,"a":2}', b"\xff",
                                  "null"])
def test_undecodable_bytes(world, data):
    verdict = verify_certificate_bytes(data, genesis=world.chain.genesis, links=CARBON_LINKS)  # type: ignore[arg-type]
    assert not verdict.ok and verdict.first_failure.name == "format"  # type: ignore[union-attr]


def test_skipped_checks_name_their_cause(world):
    cert = world.cert(world.compliance_id)
    cert["genesis_hash"] = "00" * 32
    verdict = verify(world, cert)
    by_name = {c.name: c for c in verdict.checks}
    assert verdict.first_failure is by_name["genesis"]
    assert by_name["commits"].skipped and "genesis failed" in by_name["commits"].detail
    assert by_name["inclusion"].passed and by_name["history"].passed
    assert verdict.to_json()["code"] == "genesis"
