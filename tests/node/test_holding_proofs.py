"""Holding proofs served by the node (GET /v1/holdings/proof) and verified offline
(chaincode/holding_proof.py): who holds a serial range and its status at a height; gaps,
extra, reordered, foreign or absent records are refused; the route's bad inputs."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from chaincode.holding_proof import (
    CHECK_NAMES,
    MAX_HOLDING_RECORDS,
    assemble_holding_proof,
    verify_holding_proof,
    verify_holding_proof_bytes,
)
from ledger.encoding import canonical, decode
from tests.support.proof_world import FROZEN, ProofWorld, proof_world


@pytest.fixture(scope="module")
def pw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProofWorld]:
    with proof_world(tmp_path_factory) as world:
        yield world


def holding(pw: ProofWorld, first: int, last: int, height: int | None = None,
            project_id: str = "AH-0001") -> dict[str, Any]:
    params = {"project_id": project_id, "first": str(first), "last": str(last)}
    if height is not None:
        params["height"] = str(height)
    resp = pw.client.get("/v1/holdings/proof", params=params)
    assert resp.status_code == 200, resp.text
    return dict(decode(resp.content))


def ranges(pw: ProofWorld, obj: dict[str, Any]) -> list[tuple[int, int, str, str]]:
    v = verify_holding_proof(obj, genesis=pw.genesis)
    assert v.ok, v.message
    assert [c.name for c in v.checks] == list(CHECK_NAMES)
    assert v.summary is not None
    return [(r.first, r.last, r.account, r.status) for r in v.summary.ranges]


def test_retired_held_listed_and_frozen_units(pw: ProofWorld) -> None:
    assert ranges(pw, holding(pw, 1, 120)) == [(1, 120, "buyer-steel", "retired")]
    assert ranges(pw, holding(pw, 401, 420)) == [(401, 420, "owner-farm", "active")]
    assert ranges(pw, holding(pw, 361, 400)) == [(361, 400, "owner-farm", "listed")]
    assert ranges(pw, holding(pw, FROZEN[0], FROZEN[1])) == [
        (FROZEN[0], FROZEN[1], "owner-farm", "frozen")]
    # a range across records: each sub-range clipped to the claim, in unit order
    assert ranges(pw, holding(pw, 100, 455)) == [
        (100, 120, "buyer-steel", "retired"), (121, 300, "buyer-steel", "retired"),
        (301, 360, "buyer-power", "retired"), (361, 400, "owner-farm", "listed"),
        (401, 450, "owner-farm", "active"), (451, 455, "owner-farm", "frozen")]


def test_summary_has_serials_batches_and_the_block(pw: ProofWorld) -> None:
    v = verify_holding_proof_bytes(canonical(holding(pw, 451, 470)), genesis_hash=pw.genesis.hash)
    assert v.ok and v.summary is not None
    first = v.summary.ranges[0]
    assert first.serial == f"CCER-AH-0001-{first.vintage}-000000451-000000460"
    assert first.batch_id == "AH-0001-B1" and first.quantity == 10 and first.frozen
    assert v.summary.chain.height == pw.chain.height == pw.freeze_height
    assert v.summary.chain.block_hash == pw.chain.store.get_block_hash(pw.chain.height)
    text = "\n".join(v.summary.lines())
    assert "frozen" in text and "owner-farm" in text and "CCER-AH-0001" in text


def test_past_heights(pw: ProofWorld) -> None:
    before_freeze = pw.freeze_height - 1
    assert ranges(pw, holding(pw, FROZEN[0], FROZEN[1], before_freeze)) == [
        (FROZEN[0], FROZEN[1], "owner-farm", "active")]
    # before the transfer the whole batch was the owner's and active, in one record
    issued = ranges(pw, holding(pw, 1, 500, 7))
    assert issued == [(1, 500, "owner-farm", "active")]
    assert ranges(pw, holding(pw, 1, 10, 8)) == [(1, 10, "buyer-steel", "active")]
    resp = pw.client.get("/v1/holdings/proof", params={"project_id": "AH-0001", "first": "1",
                                                        "last": "10", "height": "6"})
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "units_not_found"


def _refused(pw: ProofWorld, params: dict[str, str], status: int, code: str) -> None:
    resp = pw.client.get("/v1/holdings/proof", params=params)
    assert resp.status_code == status, resp.text
    assert resp.json()["error"]["code"] == code


def test_bad_requests(pw: ProofWorld) -> None:
    ok = {"project_id": "AH-0001", "first": "1", "last": "10"}
    _refused(pw, {"first": "1", "last": "2"}, 400, "missing_parameter")
    _refused(pw, {"project_id": "AH-0001", "last": "2"}, 400, "missing_parameter")
    _refused(pw, dict(ok, project_id="bad id"), 400, "bad_id")
    _refused(pw, dict(ok, first="x"), 400, "bad_number")
    _refused(pw, dict(ok, first="0"), 400, "bad_range")
    _refused(pw, dict(ok, first="11"), 400, "bad_range")
    _refused(pw, dict(ok, last=str(10**12)), 400, "bad_range")
    _refused(pw, dict(ok, height="0"), 400, "bad_height")
    _refused(pw, dict(ok, height=str(pw.chain.height + 1)), 404, "beyond_chain")
    _refused(pw, dict(ok, project_id="NO-SUCH"), 404, "units_not_found")
    _refused(pw, dict(ok, last="100000"), 404, "units_not_found")  # beyond what was issued
    total = pw.world.issued["AH-0001"]
    _refused(pw, dict(ok, first=str(total + 1), last=str(total + 5)), 404, "units_not_found")


# -- tampering -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def across(pw: ProofWorld) -> dict[str, Any]:
    obj = holding(pw, 100, 455)
    assert len(obj["state_proof"]["entries"]) == 6
    return obj


def _code(pw: ProofWorld, obj: Any) -> tuple[str | None, str | None]:
    v = verify_holding_proof(obj, genesis=pw.genesis)
    assert not v.ok and v.summary is None
    failure = v.first_failure
    assert failure is not None
    return failure.name, failure.code


def _edit(obj: dict[str, Any], change: Any) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    change(out)
    return out


def test_gaps_extra_and_reordered_records_are_refused(pw: ProofWorld, across: dict[str, Any]) -> None:
    entries = lambda o: o["state_proof"]["entries"]  # noqa: E731
    assert _code(pw, _edit(across, lambda o: entries(o).pop(2))) == ("coverage", "holding_not_covered")
    assert _code(pw, _edit(across, lambda o: entries(o).pop(0))) == ("coverage", "holding_not_covered")
    assert _code(pw, _edit(across, lambda o: entries(o).pop())) == ("coverage", "holding_not_covered")
    assert _code(pw, _edit(across, lambda o: entries(o).reverse())) == ("coverage", "holding_not_covered")
    swap = lambda o: entries(o).insert(1, entries(o).pop(2))  # noqa: E731
    assert _code(pw, _edit(across, swap)) == ("coverage", "holding_not_covered")
    assert _code(pw, _edit(across, lambda o: o.update(state_proof=dict(o["state_proof"], entries=[])))) \
        == ("coverage", "holding_not_covered")
    # a genuine record after the range: extra
    more = holding(pw, 100, 470)
    assert _code(pw, _edit(more, lambda o: o["claim"].update(last=455))) == ("coverage", "extra_record")
    # a claim wider than the records
    assert _code(pw, _edit(across, lambda o: o["claim"].update(last=480))) == ("coverage", "holding_not_covered")
    # a claim moved inside the first record is still proven by the same records
    assert ranges(pw, _edit(across, lambda o: o["claim"].update(first=50)))[0] == (
        50, 120, "buyer-steel", "retired")
    assert _code(pw, _edit(across, lambda o: o["claim"].update(first=121))) \
        == ("coverage", "holding_not_covered")  # the first record ends before the claim
    # a tampered record fails the state proof, not coverage
    bad = _edit(across, lambda o: entries(o)[0]["value"].update(account="thief"))
    assert _code(pw, bad) == ("proofs", "value_not_proven")


def test_foreign_and_absent_records_are_refused(pw: ProofWorld) -> None:
    resp = pw.client.post("/v1/state/proofs", json={"keys": ["unit/AH-0002/000000000001"]})
    other = decode(resp.content)
    assert _code(pw, assemble_holding_proof("AH-0001", 1, 10, other)) == ("coverage", "wrong_project")
    resp = pw.client.post("/v1/state/proofs", json={"keys": ["unit/AH-0001/000000000002"]})
    absent = decode(resp.content)
    assert _code(pw, assemble_holding_proof("AH-0001", 2, 2, absent)) == ("coverage", "record_absent")
    resp = pw.client.post("/v1/state/proofs", json={"keys": ["sys/validators"]})
    not_units = decode(resp.content)
    assert _code(pw, assemble_holding_proof("AH-0001", 2, 2, not_units)) \
        == ("coverage", "malformed_unit_record")


def test_malformed_envelopes_fail_the_claim_check(pw: ProofWorld, across: dict[str, Any]) -> None:
    assert _code(pw, []) == ("claim", "malformed_holding_proof")
    assert _code(pw, _edit(across, lambda o: o.update(format="fcl-state-proof"))) == ("claim", "wrong_format")
    assert _code(pw, _edit(across, lambda o: o.update(version=2))) == ("claim", "unsupported_version")
    assert _code(pw, _edit(across, lambda o: o.update(x=1))) == ("claim", "malformed_holding_proof")
    assert _code(pw, _edit(across, lambda o: o["claim"].update(first=0))) == ("claim", "malformed_holding_proof")
    assert _code(pw, _edit(across, lambda o: o["claim"].update(first=500))) == ("claim", "malformed_holding_proof")
    assert _code(pw, _edit(across, lambda o: o["claim"].update(project_id="a b"))) \
        == ("claim", "malformed_holding_proof")
    assert _code(pw, _edit(across, lambda o: o["claim"].pop("last"))) == ("claim", "malformed_holding_proof")
    many = _edit(across, lambda o: o["state_proof"].update(
        entries=o["state_proof"]["entries"] * (MAX_HOLDING_RECORDS // 6 + 1)))
    assert _code(pw, many) == ("claim", "too_many_records")
    assert _code(pw, _edit(across, lambda o: o.update(state_proof=[]))) == ("format", "malformed_state_proof")
    data = canonical(across)
    v = verify_holding_proof_bytes(b"\xef\xbb\xbf" + data, genesis=pw.genesis)
    assert v.code == "byte_order_mark" and all(c.skipped for c in v.checks[1:])
    assert verify_holding_proof_bytes(data[:-2], genesis=pw.genesis).code == "not_json"


def test_the_anchor_is_the_verifiers(pw: ProofWorld, across: dict[str, Any]) -> None:
    assert verify_holding_proof(across, checkpoint=pw.checkpoint(pw.world.change_height + 2)).ok
    v = verify_holding_proof(across, genesis_hash="ab" * 32)
    assert (v.first_failure.name, v.code) == ("anchor", "wrong_genesis")  # type: ignore[union-attr]
    v = verify_holding_proof(across, checkpoint=pw.checkpoint(pw.chain.height + 0))
    assert v.ok
