"""State-proof files served by the node (node/api/proofs.py) and verified offline
(ledger/state_proof.py): genuine files verify against the genesis, its hash or a
checkpoint; absent keys are proven absent; past heights work; every tampering is refused
with its code; every bad request is answered with its code."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.block import BlockHeader
from ledger.encoding import canonical, decode
from ledger.header_chain import TrustedState
from ledger.state_proof import (
    CHECK_NAMES,
    MAX_ENTRIES,
    verify_state_proof,
    verify_state_proof_bytes,
)
from ledger.state_tree import EMPTY_HASH
from tests.support.certificates import shared_world
from tests.support.proof_world import ProofWorld, proof_world

UNIT1 = "unit/AH-0001/000000000001"
ABSENT = "unit/AH-0001/000000000002"  # inside a range: no record starts there


@pytest.fixture(scope="module")
def pw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProofWorld]:
    with proof_world(tmp_path_factory) as world:
        yield world


def fetch(pw: ProofWorld, keys: list[str], height: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"keys": keys}
    if height is not None:
        body["height"] = height
    resp = pw.client.post("/v1/state/proofs", json=body)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    assert resp.content == canonical(json.loads(resp.content))  # canonical bytes
    return dict(decode(resp.content))


@pytest.fixture(scope="module")
def genuine(pw: ProofWorld) -> dict[str, Any]:
    return fetch(pw, [UNIT1, ABSENT, "sys/validators"])


def verdict(pw: ProofWorld, obj: Any, **anchor: Any) -> Any:
    if not anchor:
        anchor = {"genesis": pw.genesis}
    return verify_state_proof(obj, **anchor)


# -- genuine files ------------------------------------------------------------------------
def test_a_genuine_file_verifies_against_genesis_hash_and_checkpoint(
        pw: ProofWorld, genuine: dict[str, Any]) -> None:
    for anchor in ({"genesis": pw.genesis}, {"genesis_hash": pw.genesis.hash},
                   {"checkpoint": TrustedState.from_genesis(pw.genesis)},
                   {"checkpoint": pw.checkpoint(3)},
                   {"checkpoint": pw.checkpoint(pw.world.change_height)},
                   {"checkpoint": pw.checkpoint(pw.chain.height - 1)},
                   {"checkpoint": pw.checkpoint(pw.chain.height)}):
        v = verify_state_proof(copy.deepcopy(genuine), **anchor)
        assert v.ok, (anchor, v.message)
        assert [c.name for c in v.checks] == list(CHECK_NAMES)
    v = verdict(pw, genuine)
    s = v.summary
    assert s is not None and s.height == pw.chain.height == genuine["height"]
    assert s.block_hash == pw.chain.store.get_block_hash(s.height)
    assert s.state_root == pw.chain.store.state_root()
    by_key = {e.key: e for e in s.entries}
    assert by_key[UNIT1].present and by_key[UNIT1].value == decode(pw.chain.store.get(UNIT1))
    assert not by_key[ABSENT].present and by_key[ABSENT].value is None
    assert pw.chain.store.get(ABSENT) is None
    assert genuine["validator_set_changes"][0]["height"] == pw.world.change_height
    assert v.to_json()["ok"] is True and v.message == "VALID"


def test_bytes_are_read_like_certificates(pw: ProofWorld, genuine: dict[str, Any]) -> None:
    data = canonical(genuine)
    assert verify_state_proof_bytes(data, genesis=pw.genesis).ok
    for bad, code in ((b"\xef\xbb\xbf" + data, "byte_order_mark"),
                      (data.decode().encode("utf-16"), "not_utf8"),
                      (b"\xff" + data, "not_utf8"),
                      (data[:-1], "not_json"),
                      (data.replace(b'"height":', b'"height":1.0,"x":', 1), "not_json"),
                      (b" " * (16 * 1024 * 1024 + 1), "file_too_large")):
        v = verify_state_proof_bytes(bad, genesis=pw.genesis)
        assert not v.ok and v.code == code and v.check("format").code == code
        assert all(c.skipped for c in v.checks[1:])


def test_past_heights_prove_the_values_of_then(pw: ProofWorld) -> None:
    store = pw.chain.store
    for height in range(1, pw.chain.height + 1):
        obj = fetch(pw, [UNIT1], height)
        v = verdict(pw, obj)
        assert v.ok and v.summary is not None and v.summary.height == height
        expected = store.state_tree.get(UNIT1.encode(), height)
        entry = v.summary.entries[0]
        assert entry.present == (expected is not None)
        if expected is not None:
            assert canonical(entry.value) == expected
    # the record before and after the retirement differ; both proven
    early = verdict(pw, fetch(pw, [UNIT1], 7)).summary
    late = verdict(pw, fetch(pw, [UNIT1])).summary
    assert early is not None and late is not None
    assert early.entries[0].value["state"] == "held" and late.entries[0].value["state"] == "retired"


def test_the_single_key_route_answers_the_value_or_the_file(pw: ProofWorld) -> None:
    resp = pw.client.get(f"/v1/state/{UNIT1}")
    assert resp.status_code == 200
    body = resp.json()
    assert body == {"height": pw.chain.height, "key": UNIT1, "present": True,
                    "value": decode(pw.chain.store.get(UNIT1))}
    absent = pw.client.get(f"/v1/state/{ABSENT}", params={"height": "5", "prove": "false"}).json()
    assert absent == {"height": 5, "key": ABSENT, "present": False, "value": None}
    proved = pw.client.get(f"/v1/state/{UNIT1}", params={"height": "9", "prove": "true"})
    assert proved.status_code == 200
    v = verify_state_proof_bytes(proved.content, genesis_hash=pw.genesis.hash)
    assert v.ok and v.summary is not None and v.summary.height == 9
    assert [e.key for e in v.summary.entries] == [UNIT1]
    latest = pw.client.get(f"/v1/state/{UNIT1}", params={"height": "latest"}).json()
    assert latest["height"] == pw.chain.height


# -- tampering -------------------------------------------------------------------------------
def _flip(hex_text: str) -> str:
    return ("1" if hex_text[0] == "0" else "0") + hex_text[1:]


def _tampered(genuine: dict[str, Any], change: Any) -> dict[str, Any]:
    obj = copy.deepcopy(genuine)
    change(obj)
    return obj


def _set_unit_state(o: dict[str, Any]) -> None:
    o["entries"][0]["value"]["account"] = "someone-else"


def _absent_claims_present(o: dict[str, Any]) -> None:
    o["entries"][1]["present"] = True
    o["entries"][1]["value"] = {"first": 2}


def _present_claims_absent(o: dict[str, Any]) -> None:
    o["entries"][0]["present"] = False
    o["entries"][0]["value"] = None


def _swap_keys(o: dict[str, Any]) -> None:
    o["entries"][0]["key"], o["entries"][1]["key"] = o["entries"][1]["key"], o["entries"][0]["key"]


def _sibling(o: dict[str, Any]) -> None:
    sib = o["entries"][0]["proof"]["siblings"]
    sib[0] = _flip(sib[0])


def _drop_sibling(o: dict[str, Any]) -> None:
    o["entries"][0]["proof"]["siblings"].pop(0)


def _leaf_hash(o: dict[str, Any]) -> None:
    leaf = o["entries"][0]["proof"]["leaf"]
    leaf["value_hash"] = _flip(leaf["value_hash"])


def _empty_last_sibling(o: dict[str, Any]) -> None:
    o["entries"][0]["proof"]["siblings"].append(EMPTY_HASH.hex())


def _header_field(name: str, value: Any = None) -> Any:
    def change(o: dict[str, Any]) -> None:
        o["header"][name] = value if value is not None else _flip(o["header"][name])
    return change


def _commit_signature(o: dict[str, Any]) -> None:
    sigs = o["commit"]["signatures"]
    sigs[0]["signature"] = _flip(sigs[0]["signature"])


def _commit_drop_two(o: dict[str, Any]) -> None:
    del o["commit"]["signatures"][1:]


def _height(o: dict[str, Any]) -> None:
    o["height"] -= 1


def _remove_change(o: dict[str, Any]) -> None:
    o["validator_set_changes"] = []


def _change_set(o: dict[str, Any]) -> None:
    o["validator_set_changes"][0]["validators"][0]["power"] = 11


def _genesis_edit(o: dict[str, Any]) -> None:
    o["genesis"]["genesis_time"] += 1


def _genesis_hash(o: dict[str, Any]) -> None:
    o["genesis_hash"] = _flip(o["genesis_hash"])


def _chain_id(o: dict[str, Any]) -> None:
    o["chain_id"] = "other-chain"


TAMPERS: list[tuple[str, Any, str, str]] = [
    ("value", _set_unit_state, "proofs", "value_not_proven"),
    ("absent key claimed present", _absent_claims_present, "proofs", "value_not_proven"),
    ("present key claimed absent", _present_claims_absent, "proofs", "value_not_proven"),
    ("keys swapped", _swap_keys, "proofs", "value_not_proven"),
    ("proof sibling", _sibling, "proofs", "value_not_proven"),
    ("proof sibling removed", _drop_sibling, "proofs", "value_not_proven"),
    ("proof leaf", _leaf_hash, "proofs", "value_not_proven"),
    ("empty last sibling", _empty_last_sibling, "proofs", "value_not_proven"),
    ("header state_root", _header_field("state_root"), "header", "commit_wrong_block"),
    ("header time", _header_field("time", 1), "header", "commit_wrong_block"),
    ("header validators_hash", _header_field("validators_hash"), "header", "bad_validators_hash"),
    ("commit signature", _commit_signature, "header", "bad_commit_signature"),
    ("commit without a quorum", _commit_drop_two, "header", "insufficient_power"),
    ("height", _height, "header", "height_mismatch"),
    ("validator-set change removed", _remove_change, "header", "bad_validators_hash"),
    ("validator-set change's set", _change_set, "header", "bad_change_set"),
    ("embedded genesis", _genesis_edit, "anchor", "genesis_hash_mismatch"),
    ("genesis hash", _genesis_hash, "anchor", "genesis_hash_mismatch"),
    ("chain id", _chain_id, "anchor", "chain_id_mismatch"),
]


@pytest.mark.parametrize(("what", "change", "check", "code"), TAMPERS, ids=[t[0] for t in TAMPERS])
def test_every_tampering_is_refused_with_its_code(
        pw: ProofWorld, genuine: dict[str, Any], what: str, change: Any, check: str, code: str) -> None:
    v = verdict(pw, _tampered(genuine, change))
    assert not v.ok
    failure = v.first_failure
    assert failure is not None and failure.name == check, (what, v.message)
    assert failure.code == code, (what, v.message)
    assert v.summary is None
    assert all(c.skipped for c in v.checks[CHECK_NAMES.index(check) + 1:])


def test_commit_codes_are_the_next_block_rules(pw: ProofWorld, genuine: dict[str, Any]) -> None:
    # whatever a commit's fault, the code is one of ledger.next_block's
    v = verdict(pw, _tampered(genuine, _commit_signature))
    assert v.code == "bad_commit_signature" and "does not verify" in v.check("header").detail


def test_wrong_genesis_and_bad_anchors_are_refused(
        pw: ProofWorld, genuine: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> None:
    other = shared_world(tmp_path_factory, "fcl-other-proofs").chain.genesis
    assert verdict(pw, genuine, genesis=other).code == "wrong_genesis"
    assert verdict(pw, genuine, genesis_hash=other.hash).code == "wrong_genesis"
    assert verdict(pw, genuine, genesis_hash="zz" * 32).code == "bad_anchor"
    assert verdict(pw, genuine, genesis=pw.genesis, genesis_hash=other.hash).code == "bad_anchor"
    assert verify_state_proof(genuine).code == "no_anchor"
    assert verdict(pw, genuine, genesis=pw.genesis,
                   checkpoint=pw.checkpoint(3)).code == "bad_anchor"
    other_cp = TrustedState.from_genesis(other)
    assert verdict(pw, genuine, checkpoint=other_cp).code == "checkpoint_mismatch"


def test_a_checkpoint_above_the_height_or_of_another_block_is_refused(
        pw: ProofWorld, genuine: dict[str, Any]) -> None:
    old = fetch(pw, [UNIT1], 5)
    v = verdict(pw, old, checkpoint=pw.checkpoint(6))
    assert v.code == "header_not_after_checkpoint" and v.first_failure is not None
    assert v.first_failure.name == "header"
    cp = pw.checkpoint(5)
    forged = TrustedState(cp.chain_id, cp.genesis_hash, 5, "ab" * 32, cp.time, cp.next_validators)
    assert verdict(pw, old, checkpoint=forged).code == "checkpoint_conflict"
    # a checkpoint after the change: the change below it is not needed, nor checked
    late = pw.checkpoint(pw.world.change_height + 1)
    assert verdict(pw, _tampered(genuine, _change_set), checkpoint=late).ok
    assert verdict(pw, _tampered(genuine, _remove_change), checkpoint=late).ok


def test_malformed_files_fail_the_format_check(pw: ProofWorld, genuine: dict[str, Any]) -> None:
    def code_of(change: Any) -> str | None:
        v = verdict(pw, _tampered(genuine, change))
        assert not v.ok and v.first_failure is not None and v.first_failure.name == "format"
        return v.code

    assert verdict(pw, [genuine]).code == "malformed_state_proof"
    assert code_of(lambda o: o.update(format="fcl-retirement-certificate")) == "wrong_format"
    assert code_of(lambda o: o.update(version=2)) == "unsupported_version"
    assert code_of(lambda o: o.update(version=True)) == "unsupported_version"
    assert code_of(lambda o: o.update(extra=1)) == "malformed_state_proof"
    assert code_of(lambda o: o.pop("commit")) == "malformed_state_proof"
    assert code_of(lambda o: o.update(height=0)) == "malformed_state_proof"
    assert code_of(lambda o: o.update(genesis_hash="x")) == "malformed_state_proof"
    assert code_of(lambda o: o.update(genesis=[])) == "malformed_state_proof"
    assert code_of(lambda o: o.update(entries={})) == "malformed_state_proof"
    assert code_of(lambda o: o["header"].pop("time")) == "malformed_header"
    assert code_of(lambda o: o["commit"].update(round="0")) == "malformed_commit"
    assert code_of(lambda o: o["commit"]["signatures"][0].update(signature=7)) == "malformed_commit"
    assert code_of(lambda o: o.update(validator_set_changes={})) == "malformed_change"
    assert code_of(lambda o: o["validator_set_changes"][0].update(height=o["height"])) \
        == "malformed_change"
    assert code_of(lambda o: o["entries"].append(copy.deepcopy(o["entries"][0]))) == "duplicate_key"
    assert code_of(lambda o: o["entries"][0].update(key="")) == "bad_key"
    assert code_of(lambda o: o["entries"][0].update(key="k" * 513)) == "bad_key"
    assert code_of(lambda o: o["entries"][0].update(key="\ud800")) == "malformed_state_proof"
    assert code_of(lambda o: o["entries"][0].pop("present")) == "malformed_state_proof"
    assert code_of(lambda o: o["entries"][0].update(present=1)) == "malformed_state_proof"
    assert code_of(lambda o: o["entries"][1].update(value=5)) == "malformed_state_proof"
    assert code_of(lambda o: o["entries"][0].update(proof={"leaf": None})) == "malformed_proof"
    assert code_of(lambda o: o["entries"][0]["proof"].update(siblings=["00" * 32] * 257)) \
        == "proof_too_large"
    many = [dict(copy.deepcopy(genuine["entries"][1]), key=f"k{i}") for i in range(MAX_ENTRIES + 1)]
    assert code_of(lambda o: o.update(entries=many)) == "too_many_entries"


def test_an_empty_file_proves_the_header_alone(pw: ProofWorld, genuine: dict[str, Any]) -> None:
    v = verdict(pw, _tampered(genuine, lambda o: o.update(entries=[])))
    assert v.ok and v.summary is not None and v.summary.entries == ()


# -- the API's refusals -------------------------------------------------------------------------
def _refused(resp: Any, status: int, code: str) -> None:
    assert resp.status_code == status, resp.text
    assert resp.json()["error"]["code"] == code, resp.text


def test_bad_requests_are_refused_with_their_codes(pw: ProofWorld) -> None:
    c = pw.client
    latest = pw.chain.height
    _refused(c.get("/v1/state/" + "k" * 513), 400, "bad_key")
    _refused(c.get(f"/v1/state/{UNIT1}", params={"height": "0"}), 400, "bad_height")
    _refused(c.get(f"/v1/state/{UNIT1}", params={"height": "-1"}), 400, "bad_height")
    _refused(c.get(f"/v1/state/{UNIT1}", params={"height": "x"}), 400, "bad_height")
    _refused(c.get(f"/v1/state/{UNIT1}", params={"height": str(latest + 1)}), 404, "beyond_chain")
    _refused(c.get(f"/v1/state/{UNIT1}", params={"prove": "yes"}), 400, "bad_request")
    post = "/v1/state/proofs"
    _refused(c.post(post, content=b"{"), 400, "malformed_json")
    _refused(c.post(post, content=b'{"keys": ["a"], "height": 1.5}'), 400, "malformed_json")
    _refused(c.post(post, json=["a"]), 400, "malformed_request")
    _refused(c.post(post, json={"key": ["a"]}), 400, "malformed_request")
    _refused(c.post(post, json={"keys": ["a"], "extra": 1}), 400, "malformed_request")
    _refused(c.post(post, json={"keys": []}), 400, "malformed_request")
    _refused(c.post(post, json={"keys": "a"}), 400, "malformed_request")
    _refused(c.post(post, json={"keys": ["a", 3]}), 400, "bad_key")
    _refused(c.post(post, json={"keys": ["a", ""]}), 400, "bad_key")
    _refused(c.post(post, json={"keys": [f"k{i}" for i in range(257)]}), 413, "too_many_keys")
    _refused(c.post(post, json={"keys": ["a"], "height": 0}), 400, "bad_height")
    _refused(c.post(post, json={"keys": ["a"], "height": "3"}), 400, "bad_height")
    _refused(c.post(post, json={"keys": ["a"], "height": latest + 1}), 404, "beyond_chain")
    _refused(c.post(post, content=b'{"keys": ["' + b"k" * (1 << 20) + b'"]}'),
             413, "request_too_large")


def test_a_batch_dedupes_keys_and_keeps_their_order(pw: ProofWorld) -> None:
    obj = fetch(pw, ["sys/validators", UNIT1, "sys/validators"], 3)
    assert [e["key"] for e in obj["entries"]] == ["sys/validators", UNIT1]
    assert obj["height"] == 3 and obj["validator_set_changes"] == []
    assert verdict(pw, obj).ok
    assert BlockHeader.from_json(obj["header"]).height == 3


# -- property: any keys at any height agree with the store's state at that height -----------
_KEYS = st.sampled_from([UNIT1, ABSENT, "sys/validators", "unit/AH-0001/000000000121",
                         "unit/AH-0002/000000000001", "project/AH-0001", "no/such/key", "é/ü"])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(keys=st.lists(_KEYS, min_size=1, max_size=5, unique=True), data=st.data())
def test_any_keys_at_any_height_agree_with_the_state_then(pw: ProofWorld, keys: list[str],
                                                          data: st.DataObject) -> None:
    height = data.draw(st.integers(1, pw.chain.height))
    obj = fetch(pw, keys, height)
    v = verdict(pw, obj, genesis_hash=pw.genesis.hash)
    assert v.ok and v.summary is not None and [e.key for e in v.summary.entries] == keys
    tree = pw.chain.store.state_tree
    for e in v.summary.entries:
        stored = tree.get(e.key.encode(), height)
        assert e.present == (stored is not None)
        assert (canonical(e.value) if e.present else None) == stored
    # the same file against another height's header fails
    if height > 1:
        other = fetch(pw, ["sys/validators"], height - 1)
        moved = dict(obj, height=height - 1, header=other["header"], commit=other["commit"],
                     validator_set_changes=other["validator_set_changes"])
        w = verdict(pw, moved)
        same_root = other["header"]["state_root"] == obj["header"]["state_root"]
        assert w.ok if same_root else w.code == "value_not_proven"
