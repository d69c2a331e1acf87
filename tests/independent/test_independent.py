"""The independent verifier (tests/independent/verifier.py, written from docs/ alone) against
the project's verifiers: the same verdict on every genuine file and every tampered variant.

Time-bounded: ``FCL_INDEPENDENT_EXAMPLES`` (default 40) sets the Hypothesis examples per
property; a longer run: ``FCL_INDEPENDENT_EXAMPLES=2000 pytest tests/independent``.
"""

from __future__ import annotations

import ast
import copy
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chaincode.certificate_links import CARBON_LINKS, make_entry
from chaincode.holding_proof import verify_holding_proof_bytes as ref_holding
from ledger.certificate import verify_certificate_bytes as ref_cert_bytes
from ledger.encoding import canonical
from ledger.state_proof import verify_state_proof_bytes as ref_state
from node.api.certificates import CertificateBuilder
from tests.independent import verifier as ind
from tests.support.certificates import (
    GENESIS_SET,
    NEW_SET,
    World,
    custody_world,
    shared_world,
    validator_key,
)
from tests.support.harness import DEFAULT_ORGS, det_key
from tests.support.proof_world import FROZEN, ProofWorld, proof_world

EXAMPLES = int(os.environ.get("FCL_INDEPENDENT_EXAMPLES", "40"))
PROJECT_PACKAGES = {"ledger", "chaincode", "node", "explorer", "wallet", "fcl", "portal", "tests"}
ALLOWED = {"__future__", "hashlib", "json", "re", "unicodedata", "dataclasses", "typing", "nacl"}
Kind = str  # "cert" | "state" | "holding"


# ----------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def pw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProofWorld]:
    with proof_world(tmp_path_factory) as world:
        yield world


class Files(dict[str, tuple[Kind, str, dict[str, Any]]]):
    def __repr__(self) -> str:  # Hypothesis prints the fixture: keep it short
        return f"Files({sorted(self)})"


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, pw: ProofWorld) -> dict[str, tuple[Kind, str, dict[str, Any]]]:
    """name -> (kind, trusted genesis hash, genuine file as JSON value)."""
    out = Files()
    world = shared_world(tmp_path_factory)
    custody = custody_world(tmp_path_factory)
    gh = world.chain.genesis.hash
    for name, w, rid in (("compliance", world, world.compliance_id),
                         ("voluntary", world, world.voluntary_id),
                         ("multi", world, world.multi_id),
                         ("frozen", custody, custody.frozen_id)):
        for version in (1, 2):
            out[f"cert-{name}-v{version}"] = ("cert", w.chain.genesis.hash, w.cert(rid, version))
    pgh = pw.genesis.hash
    keys = ["unit/AH-0001/000000000001", "unit/AH-0001/000000000301", "sys/validators",
            "no/such/key", "unit/AH-0001/000000000451"]
    resp = pw.client.post("/v1/state/proofs", json={"keys": keys})
    assert resp.status_code == 200, resp.text
    out["state-latest"] = ("state", pgh, resp.json())
    resp = pw.client.post("/v1/state/proofs", json={"keys": keys[:3], "height": 3})
    assert resp.status_code == 200, resp.text
    out["state-h3"] = ("state", pgh, resp.json())
    for name, first, last in (("frozen", FROZEN[0], FROZEN[1] + 10), ("retired", 301, 360),
                              ("wide", 1, 1191)):
        resp = pw.client.get("/v1/holdings/proof", params={
            "project_id": "AH-0001", "first": str(first), "last": str(last)})
        assert resp.status_code == 200, resp.text
        out[f"holding-{name}"] = ("holding", pgh, resp.json())
    assert gh  # both worlds share one genesis document
    return out


def ref_verdict(kind: Kind, data: bytes, gh: str) -> Any:
    if kind == "cert":
        return ref_cert_bytes(data, genesis_hash=gh, links=CARBON_LINKS)
    if kind == "state":
        return ref_state(data, genesis_hash=gh)
    return ref_holding(data, genesis_hash=gh)


def reference(kind: Kind, data: bytes, gh: str) -> bool:
    if kind == "cert":
        return ref_cert_bytes(data, genesis_hash=gh, links=CARBON_LINKS).ok
    if kind == "state":
        return ref_state(data, genesis_hash=gh).ok
    return ref_holding(data, genesis_hash=gh).ok


def independent(kind: Kind, data: bytes, gh: ind.Anchor) -> ind.Verdict:
    fn: Callable[[bytes, Any], ind.Verdict] = {
        "cert": ind.verify_certificate_bytes, "state": ind.verify_state_proof_bytes,
        "holding": ind.verify_holding_proof_bytes}[kind]
    return fn(data, gh)


def agree(kind: Kind, data: bytes, gh: str, expect: bool | None = None) -> bool:
    ref = reference(kind, data, gh)
    mine = independent(kind, data, gh)
    assert mine.check != "crash", mine
    if os.environ.get("FCL_INDEPENDENT_DEBUG") and ref != mine.ok:
        print(ref_verdict(kind, data, gh))
    assert ref == mine.ok, f"disagreement: project {ref}, independent {mine}"
    if expect is not None:
        assert ref is expect, mine
    return ref


def dumps(v: Any) -> bytes:
    return json.dumps(v, ensure_ascii=False).encode("utf-8")


# ------------------------------------------------------------------------------ the verifier
def test_the_verifier_imports_nothing_of_the_project() -> None:
    tree = ast.parse(Path(ind.__file__).read_text("utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "no relative imports"
            found.add((node.module or "").split(".")[0])
        elif isinstance(node, ast.Call) and getattr(node.func, "id", "") in ("__import__",
                                                                             "exec", "eval"):
            raise AssertionError("no dynamic imports")
    assert found <= ALLOWED, found - ALLOWED
    assert not found & PROJECT_PACKAGES


def test_genuine_files_are_valid_for_both(files: dict[str, Any]) -> None:
    assert len(files) == 13
    for name, (kind, gh, obj) in files.items():
        for data in (canonical(obj), dumps(obj), json.dumps(obj, indent=2).encode()):
            assert agree(kind, data, gh, expect=True), name
        assert not independent(kind, canonical(obj), "ab" * 32).ok, name  # another genesis
        assert not reference(kind, canonical(obj), "ab" * 32), name


# --------------------------------------------------------------------------- random tampering
def paths(v: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every position in a JSON value (the root included), in a fixed order."""
    out = [prefix]
    if isinstance(v, dict):
        for k in sorted(v):
            out += paths(v[k], (*prefix, k))
    elif isinstance(v, list):
        for i, x in enumerate(v):
            out += paths(x, (*prefix, i))
    return out


def get(v: Any, path: tuple[Any, ...]) -> Any:
    for p in path:
        v = v[p]
    return v


def put(v: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    get(v, path[:-1])[path[-1]] = new
    return v


SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-2**60, 2**60),
                    st.text(max_size=8), st.sampled_from(["00" * 32, "ff" * 32, "ok", "2"]))
JSONS = st.recursive(SCALARS, lambda c: st.lists(c, max_size=3)
                     | st.dictionaries(st.text(max_size=5), c, max_size=3), max_leaves=6)


def mutate(value: Any, where: int, how: str, new: Any) -> Any:
    value = copy.deepcopy(value)
    every = paths(value)
    path = every[where % len(every)]
    old = get(value, path)
    if how == "replace":
        return put(value, path, new)
    if how == "nudge":
        if isinstance(old, bool):
            return put(value, path, not old)
        if isinstance(old, int):
            return put(value, path, old + (1 if where % 2 else -1))
        if isinstance(old, str):
            i = where % max(1, len(old))
            flipped = "0" if old[i:i + 1] != "0" else "1"
            return put(value, path, old[:i] + flipped + old[i + 1:])
        return put(value, path, new)
    if how == "float" and isinstance(old, int) and not isinstance(old, bool):
        return put(value, path, float(old) + 0.5)
    if how == "drop" and path:
        parent = get(value, path[:-1])
        del parent[path[-1]]
        return value
    if how == "dup" and path and isinstance(get(value, path[:-1]), list):
        get(value, path[:-1]).insert(path[-1], copy.deepcopy(old))
        return value
    if how == "add" and isinstance(old, dict):
        old["extra"] = new
        return value
    return put(value, path, new)


HOW = st.sampled_from(["replace", "nudge", "nudge", "float", "drop", "dup", "add"])
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow, HealthCheck.data_too_large])


@SETTINGS
@given(which=st.integers(0, 12), where=st.integers(0, 10**9), how=HOW, new=JSONS)
def test_tampered_json_values_get_the_same_verdict(files: dict[str, Any], which: int, where: int,
                                                   how: str, new: Any) -> None:
    name = sorted(files)[which % len(files)]
    kind, gh, obj = files[name]
    mutated = mutate(obj, where, how, new)
    agree(kind, dumps(mutated), gh)


@SETTINGS
@given(which=st.integers(0, 12), where=st.integers(0, 10**9), byte=st.integers(0, 255))
def test_tampered_bytes_get_the_same_verdict(files: dict[str, Any], which: int, where: int,
                                             byte: int) -> None:
    name = sorted(files)[which % len(files)]
    kind, gh, obj = files[name]
    data = bytearray(canonical(obj))
    i = where % len(data)
    if data[i] == byte:
        byte ^= 1
    data[i] = byte
    agree(kind, bytes(data), gh, expect=None)


# ------------------------------------------------------------------------- targeted tampering
VALIDATOR_KEYS = {validator_key(i).public_key_hex: validator_key(i) for i in range(5)}
IDENTITY = "01" + "00" * 31
TRIVIAL_SIG = "01" + "00" * 31 + "00" * 32


def flip(hex_digest: str) -> str:
    return ("1" if hex_digest[0] != "1" else "2") + hex_digest[1:]


def resign(commit: dict[str, Any], chain_id: str, round_: int) -> None:
    """Set a commit's round and sign it again with the same validators (the tests hold the keys)."""
    msg = canonical({"block_hash": commit["block_hash"], "chain_id": chain_id,
                     "height": commit["height"], "round": round_, "type": "precommit"})
    commit["round"] = round_
    for s in commit["signatures"]:
        s["signature"] = VALIDATOR_KEYS[s["validator"]].sign_hex(msg)


def prune(cert: dict[str, Any]) -> dict[str, Any]:
    used = {str(e["height"]) for e in [cert["retirement"], *cert["provenance"]]}
    anchor = cert["retirement"]["height"]
    for key in ("headers", "commits"):
        cert[key] = {h: v for h, v in cert[key].items() if h in used}
    cert["history"] = {h: v for h, v in cert["history"].items() if h in used and int(h) < anchor}
    return cert


def without_roles(cert: dict[str, Any], *roles: str) -> dict[str, Any]:
    cert["provenance"] = [e for e in cert["provenance"] if e["role"] not in roles]
    return prune(cert)


def with_entry(world: World, cert: dict[str, Any], role: str, method: str,
               **args: Any) -> dict[str, Any]:
    """``cert`` with the first successful committed ``method`` with ``args`` added as a
    ``role`` entry, with its header, commit and history proof (built by the project)."""
    store = world.chain.store
    for height in range(1, world.chain.height + 1):
        block = store.get_block(height)
        assert block is not None
        for index, tx in enumerate(block.txs):
            if tx.method == method and all(tx.args.get(k) == v for k, v in args.items()) \
                    and block.results[index]["code"] == "ok":
                commit = store.get_commit(height)
                assert commit is not None
                cert["provenance"].append(make_entry(role, block, index))
                cert["provenance"].sort(key=lambda e: (e["height"], e["index"]))
                anchor = cert["retirement"]["height"]
                cert["headers"][str(height)] = block.header.to_json()
                cert["commits"][str(height)] = commit.to_json()
                cert["history"][str(height)] = CertificateBuilder(
                    store, world.chain.genesis).history_proof(height, anchor)
                return cert
    raise AssertionError(f"no {method}")


def _swap(seq: list[Any], i: int, j: int) -> None:
    seq[i], seq[j] = seq[j], seq[i]


def _role(cert: dict[str, Any], role: str) -> dict[str, Any]:
    return next(e for e in cert["provenance"] if e["role"] == role)


def _ret_commit(cert: dict[str, Any]) -> dict[str, Any]:
    commit: dict[str, Any] = cert["commits"][str(cert["retirement"]["height"])]
    return commit


def _ret_header(cert: dict[str, Any]) -> dict[str, Any]:
    header: dict[str, Any] = cert["headers"][str(cert["retirement"]["height"])]
    return header


Edit = Callable[[dict[str, Any]], Any]
HEADER_FIELDS = ["chain_id", "height", "time", "prev_hash", "txs_root", "results_root",
                 "state_root", "validators_hash", "next_validators_hash", "proposer",
                 "history_root"]


def _nudge_header(field: str) -> Edit:
    def edit(c: dict[str, Any]) -> None:
        h = _ret_header(c)
        h[field] = h[field] + 1 if isinstance(h[field], int) else flip(h[field])
    return edit


#: (name, certificate, edit) — the edit changes the certificate in place (or returns a new one)
CERT_EDITS: list[tuple[str, str, Edit]] = [
    ("custody step removed (trade)", "voluntary", lambda c: without_roles(c, "trade")),
    ("custody step removed (listing)", "voluntary", lambda c: without_roles(c, "listing")),
    ("custody steps removed (transfers)", "multi", lambda c: without_roles(c, "transfer")),
    ("freeze and unfreeze removed", "frozen", lambda c: without_roles(c, "freeze", "unfreeze")),
    ("custody entries swapped", "voluntary",
     lambda c: _swap(c["provenance"], c["provenance"].index(_role(c, "listing")),
                     c["provenance"].index(_role(c, "trade")))),
    ("provenance entry twice", "voluntary",
     lambda c: c["provenance"].insert(0, copy.deepcopy(c["provenance"][0]))),
    ("entry role changed", "voluntary", lambda c: _role(c, "trade").__setitem__("role", "transfer")),
    ("entry index changed", "voluntary", lambda c: _role(c, "trade").__setitem__("index", 1)),
    ("entry size changed", "voluntary", lambda c: _role(c, "trade").__setitem__("size", 2)),
    ("entry height changed", "voluntary", lambda c: _role(c, "trade").__setitem__("height", 13)),
    ("tx proof sibling added", "voluntary", lambda c: c["retirement"]["tx_proof"].append("00" * 32)),
    ("history proof sibling changed", "voluntary",
     lambda c: c["history"]["7"].__setitem__(0, flip(c["history"]["7"][0]))),
    ("history proof removed", "voluntary", lambda c: c["history"].pop("7")),
    ("custody proof sibling changed", "voluntary",
     lambda c: c["custody_proofs"][0]["proof"]["siblings"].__setitem__(
         0, flip(c["custody_proofs"][0]["proof"]["siblings"][0]))),
    ("custody proof sibling removed", "voluntary",
     lambda c: c["custody_proofs"][0]["proof"]["siblings"].pop()),
    ("custody proof sibling zero", "voluntary",
     lambda c: c["custody_proofs"][0]["proof"]["siblings"].append("00" * 32)),
    ("custody proof leaf null", "voluntary",
     lambda c: c["custody_proofs"][0]["proof"].__setitem__("leaf", None)),
    ("custody value changed", "voluntary",
     lambda c: c["custody_proofs"][0]["value"].__setitem__("account", "buyer-steel")),
    ("custody history reordered", "voluntary",
     lambda c: _swap(c["custody_proofs"][0]["value"]["history"], 1, 2)),
    ("custody key changed", "voluntary",
     lambda c: c["custody_proofs"][0].__setitem__("key", "unit/AH-0001/000000000300")),
    ("custody proof removed", "multi", lambda c: c["custody_proofs"].pop()),
    ("custody proofs swapped", "multi", lambda c: _swap(c["custody_proofs"], 0, 1)),
    ("custody proofs in version 1", "voluntary",
     lambda c: c.update(custody_proofs=[], version=1)),
    ("version 2 without custody_proofs", "voluntary", lambda c: c.pop("custody_proofs")),
    ("version true", "voluntary", lambda c: c.__setitem__("version", True)),
    ("version '2'", "voluntary", lambda c: c.__setitem__("version", "2")),
    ("version 3", "voluntary", lambda c: c.__setitem__("version", 3)),
    *[(f"header {f} changed", "voluntary", _nudge_header(f)) for f in HEADER_FIELDS],
    ("header field removed", "voluntary", lambda c: _ret_header(c).pop("proposer")),
    ("header field added", "voluntary", lambda c: _ret_header(c).__setitem__("tx_count", 1)),
    ("commit signature flipped", "voluntary",
     lambda c: _ret_commit(c)["signatures"][0].__setitem__(
         "signature", flip(_ret_commit(c)["signatures"][0]["signature"]))),
    ("commit signature dropped", "voluntary", lambda c: _ret_commit(c)["signatures"].pop()),
    ("commit signature duplicated", "voluntary",
     lambda c: _ret_commit(c)["signatures"].append(_ret_commit(c)["signatures"][0])),
    ("commit signatures reversed", "voluntary", lambda c: _ret_commit(c)["signatures"].reverse()),
    ("commit signer not a member", "voluntary",
     lambda c: _ret_commit(c)["signatures"].append(
         {"validator": validator_key(3).public_key_hex,  # left the set at the change
          "signature": _ret_commit(c)["signatures"][0]["signature"]})),
    ("identity key, trivial signature", "voluntary",
     lambda c: _ret_commit(c)["signatures"].append({"validator": IDENTITY,
                                                    "signature": TRIVIAL_SIG})),
    ("commit signature uppercase", "voluntary",
     lambda c: _ret_commit(c)["signatures"][0].__setitem__(
         "signature", _ret_commit(c)["signatures"][0]["signature"].upper())),
    ("commit validator uppercase", "voluntary",
     lambda c: _ret_commit(c)["signatures"][0].__setitem__(
         "validator", _ret_commit(c)["signatures"][0]["validator"].upper())),
    ("commit signature not a string", "voluntary",
     lambda c: _ret_commit(c)["signatures"][0].__setitem__("signature", 1)),
    ("commit without signatures", "voluntary", lambda c: _ret_commit(c).__setitem__("signatures", [])),
    ("commit height a string", "voluntary",
     lambda c: _ret_commit(c).__setitem__("height", str(_ret_commit(c)["height"]))),
    ("commit round true", "voluntary", lambda c: _ret_commit(c).__setitem__("round", False)),
    *[(f"compliance retirement size {n}{' (valid)' if n in (4,) else ''}", "compliance",
       lambda c, n=n: c["retirement"].__setitem__("size", n)) for n in (2, 4, 5, 8, 5000, 5001)],
    ("compliance retirement index 2", "compliance",
     lambda c: c["retirement"].update(index=2, size=4)),
    ("compliance retirement index 0", "compliance", lambda c: c["retirement"].update(index=0)),
    ("commit block hash changed", "voluntary",
     lambda c: _ret_commit(c).__setitem__("block_hash", flip(_ret_commit(c)["block_hash"]))),
    ("round 2^31 re-signed", "voluntary",
     lambda c: resign(_ret_commit(c), c["chain_id"], 2**31)),
    ("round 2^53-1 re-signed", "compliance",
     lambda c: resign(_ret_commit(c), c["chain_id"], 2**53 - 1)),
    ("round -1 re-signed", "voluntary", lambda c: resign(_ret_commit(c), c["chain_id"], -1)),
    ("round 2^31-1 re-signed (valid)", "voluntary",
     lambda c: resign(_ret_commit(c), c["chain_id"], 2**31 - 1)),
    ("round 7 re-signed (valid)", "compliance", lambda c: resign(_ret_commit(c), c["chain_id"], 7)),
    ("validator-set change removed", "voluntary", lambda c: c["validator_set_changes"].clear()),
    ("validator-set change reordered set", "voluntary",
     lambda c: c["validator_set_changes"][0]["validators"].reverse()),
    ("validator-set change power", "voluntary",
     lambda c: c["validator_set_changes"][0]["validators"][0].__setitem__("power", 11)),
    ("validator-set change twice", "voluntary",
     lambda c: c["validator_set_changes"].append(copy.deepcopy(c["validator_set_changes"][0]))),
    ("validator-set change added", "compliance",
     lambda c: c.__setitem__("validator_set_changes", [])),  # nothing to add before: stays valid
    ("genesis changed", "voluntary", lambda c: c["genesis"].__setitem__("genesis_time", 1)),
    ("genesis hash changed", "voluntary",
     lambda c: c.__setitem__("genesis_hash", flip(c["genesis_hash"]))),
    ("chain id changed", "voluntary", lambda c: c.__setitem__("chain_id", "fcl-other")),
    ("retirement id changed", "voluntary",
     lambda c: c.__setitem__("retirement_id", flip(c["retirement_id"]))),
    ("header height key with a leading zero", "voluntary",
     lambda c: c["headers"].__setitem__("0" + str(c["retirement"]["height"]),
                                        c["headers"].pop(str(c["retirement"]["height"])))),
    ("unknown top-level field", "voluntary", lambda c: c.__setitem__("note", "x")),
]


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("name,which,edit", CERT_EDITS, ids=[e[0] for e in CERT_EDITS])
def test_targeted_certificate_tampering(files: dict[str, Any], name: str, which: str, edit: Edit,
                                        version: int) -> None:
    kind, gh, obj = files[f"cert-{which}-v{version}"]
    cert = copy.deepcopy(obj)
    try:
        out = edit(cert)
    except KeyError:
        assert version == 1, name
        pytest.skip("a version-2 field")
    cert = out if isinstance(out, dict) else cert
    valid = agree(kind, dumps(cert), gh)
    custody_v1 = version == 1 and name.startswith(("custody step", "freeze and"))
    expect_valid = "(valid)" in name or "reversed" in name or custody_v1 \
        or name == "validator-set change added"
    assert valid is expect_valid, name


def test_inserted_custody_step_of_other_units(files: dict[str, Any],
                                              tmp_path_factory: pytest.TempPathFactory) -> None:
    world = shared_world(tmp_path_factory)
    custody = custody_world(tmp_path_factory)
    for version, expect in ((1, True), (2, False)):  # version 1: "at least these steps"
        _, gh, obj = files[f"cert-voluntary-v{version}"]
        cert = with_entry(world, copy.deepcopy(obj), "transfer", "transfer", settlement_ref="OTC-1")
        assert agree("cert", dumps(cert), gh) is expect
        _, gh, obj = files[f"cert-frozen-v{version}"]
        cert = with_entry(custody, copy.deepcopy(obj), "transfer", "transfer",
                          to_org="buyer-steel")
        assert agree("cert", dumps(cert), gh) is expect
        # inserted, and the genuine step of the same kind omitted
        _, gh, obj = files[f"cert-voluntary-v{version}"]
        cert = with_entry(world, without_roles(copy.deepcopy(obj), "trade"), "transfer",
                          "transfer", settlement_ref="OTC-1")
        assert agree("cert", dumps(cert), gh) is expect


def _forge_record(edit: Edit) -> Edit:
    def forge(r: dict[str, Any]) -> None:
        edit(r["custody_proofs"][0]["value"])
    return forge


FORGED_RECORDS: list[tuple[str, Edit]] = [
    ("not retired", lambda r: r.__setitem__("state", "held")),
    ("other holder", lambda r: r.__setitem__("account", "buyer-steel")),
    ("other range", lambda r: r.__setitem__("last", 359)),
    ("other batch", lambda r: r.__setitem__("batch_id", "AH-0002-B1")),
    ("not a record", lambda r: r.clear()),
    ("no history", lambda r: r.__setitem__("history", [])),
    ("bad step", lambda r: r["history"].__setitem__(1, "list")),
    ("starts elsewhere", lambda r: r["history"].pop(0)),
    ("ends elsewhere", lambda r: r["history"].pop()),
    ("loss on the way", lambda r: r["history"][1].__setitem__("action", "loss")),
    ("step of another role", lambda r: r["history"][1].__setitem__("action", "transfer")),
    ("step in another block", lambda r: r["history"][1].__setitem__("height", 12)),
    ("step height a string", lambda r: r["history"][1].__setitem__("height", "13")),
    ("history out of order", lambda r: _swap(r["history"], 1, 2)),
    ("history step omitted", lambda r: r["history"].pop(1)),
    ("record of other units", lambda r: r.__setitem__("first", 302)),
    ("unchanged (valid)", lambda r: None),
]


@pytest.mark.parametrize("name,edit", FORGED_RECORDS, ids=[f[0] for f in FORGED_RECORDS])
def test_forged_records_with_the_proof_check_off(files: dict[str, Any], name: str, edit: Edit,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The record rules that a valid proof guards, reached as if a node could forge state
    (both verifiers' state-proof check switched off)."""
    import ledger.certificate as project_certificate

    monkeypatch.setattr(project_certificate, "verify_state_proof", lambda *a: True)
    monkeypatch.setattr(ind, "smt_verify", lambda *a: True)
    kind, gh, obj = files["cert-voluntary-v2"]
    cert = copy.deepcopy(obj)
    edit(cert["custody_proofs"][0]["value"])
    assert agree(kind, dumps(cert), gh) is ("(valid)" in name)


ENCODINGS: list[tuple[str, Callable[[bytes], bytes]]] = [
    ("utf-8 bom", lambda b: b"\xef\xbb\xbf" + b),
    ("utf-16-le bom", lambda b: b.decode().encode("utf-16")),
    ("utf-16-be", lambda b: b.decode().encode("utf-16-be")),
    ("utf-16-le", lambda b: b.decode().encode("utf-16-le")),
    ("utf-32", lambda b: b.decode().encode("utf-32")),
    ("latin-1 byte", lambda b: b.replace(b'"format":"', b'"format":"\xe9', 1)),
    ("nul byte", lambda b: b + b"\x00"),
    ("truncated", lambda b: b[:-1]),
    ("float version", lambda b: b.replace(b'"version":', b'"version":1.0,"x":', 1)),
    ("exponent", lambda b: b.replace(b'"height":', b'"height":1e1,"y":', 1)),
    ("NaN", lambda b: b.replace(b'"version":', b'"nan":NaN,"version":', 1)),
    ("duplicate key", lambda b: b[:-1] + b',"format":' + b[b.index(b'"format":') + 9:].split(b",")[0] + b"}"),
    ("trailing garbage", lambda b: b + b"x"),
    ("whitespace (valid)", lambda b: b"  \n" + b + b"\n\t "),
    ("escaped slash (valid)", lambda b: b.replace(b'"format"', b'"form\\u0061t"', 1)),
]


@pytest.mark.parametrize("name,encode", ENCODINGS, ids=[e[0] for e in ENCODINGS])
def test_encodings_floats_and_duplicate_keys(files: dict[str, Any], name: str,
                                             encode: Callable[[bytes], bytes]) -> None:
    for file in ("cert-voluntary-v2", "cert-compliance-v1", "state-latest", "holding-frozen"):
        kind, gh, obj = files[file]
        data = encode(canonical(obj))
        assert agree(kind, data, gh) is ("(valid)" in name), (name, file)


def _entry(sp: dict[str, Any], key: str) -> dict[str, Any]:
    return next(e for e in sp["entries"] if e["key"] == key)


def _state(holding: dict[str, Any]) -> dict[str, Any]:
    sp: dict[str, Any] = holding["state_proof"]
    return sp


def _swap_keys(a: dict[str, Any], b: dict[str, Any]) -> None:
    a["key"], b["key"] = b["key"], a["key"]


U1, U301, ABSENT = "unit/AH-0001/000000000001", "unit/AH-0001/000000000301", "no/such/key"
STATE_EDITS: list[tuple[str, Edit]] = [
    ("value changed", lambda s: _entry(s, U301)["value"].__setitem__("account", "x")),
    ("value replaced by another key's", lambda s: _entry(s, U301).__setitem__(
        "value", copy.deepcopy(_entry(s, U1)["value"]))),
    ("key changed", lambda s: _entry(s, U301).__setitem__("key", "unit/AH-0001/000000000302")),
    ("keys swapped", lambda s: _swap_keys(_entry(s, U1), _entry(s, U301))),
    ("absent claimed present", lambda s: _entry(s, ABSENT).__setitem__("present", True)),
    ("present claimed absent", lambda s: _entry(s, U1).update(present=False, value=None)),
    ("absent key renamed", lambda s: _entry(s, ABSENT).__setitem__("key", U1 + "x")),
    ("absent with a value", lambda s: _entry(s, ABSENT).__setitem__("value", 1)),
    ("present null", lambda s: _entry(s, U1).__setitem__("value", None)),
    ("entry removed (valid)", lambda s: s["entries"].pop()),
    ("no entries (valid)", lambda s: s.__setitem__("entries", [])),
    ("entries reversed (valid)", lambda s: s["entries"].reverse()),
    ("entry twice", lambda s: s["entries"].append(copy.deepcopy(s["entries"][0]))),
    ("sibling changed", lambda s: s["entries"][0]["proof"]["siblings"].__setitem__(
        0, flip(s["entries"][0]["proof"]["siblings"][0]))),
    ("sibling uppercase", lambda s: s["entries"][0]["proof"]["siblings"].__setitem__(
        0, s["entries"][0]["proof"]["siblings"][0].upper())),
    ("siblings of another entry", lambda s: s["entries"][0].__setitem__(
        "proof", copy.deepcopy(s["entries"][1]["proof"]))),
    ("height changed", lambda s: s.__setitem__("height", s["height"] - 1)),
    ("header height changed", lambda s: s["header"].__setitem__("height", s["height"] - 1)),
    ("header state root changed", lambda s: s["header"].__setitem__(
        "state_root", flip(s["header"]["state_root"]))),
    ("header time changed", lambda s: s["header"].__setitem__("time", s["header"]["time"] + 1)),
    ("commit signature flipped", lambda s: s["commit"]["signatures"][0].__setitem__(
        "signature", flip(s["commit"]["signatures"][0]["signature"]))),
    ("commit signature dropped", lambda s: s["commit"]["signatures"].pop()),
    ("identity key, trivial signature", lambda s: s["commit"]["signatures"].append(
        {"validator": IDENTITY, "signature": TRIVIAL_SIG})),
    ("round 2^31 re-signed", lambda s: resign(s["commit"], s["chain_id"], 2**31)),
    ("round -1 re-signed", lambda s: resign(s["commit"], s["chain_id"], -1)),
    ("round 2^31-1 re-signed (valid)", lambda s: resign(s["commit"], s["chain_id"], 2**31 - 1)),
    ("validator-set change removed", lambda s: s["validator_set_changes"].clear()),
    ("validator-set change twice", lambda s: s["validator_set_changes"].append(
        copy.deepcopy(s["validator_set_changes"][0]))),
    ("validator-set change set reordered", lambda s: s["validator_set_changes"][0][
        "validators"].reverse()),
    ("genesis changed", lambda s: s["genesis"].__setitem__("genesis_time", 1)),
    ("chain id changed", lambda s: s.__setitem__("chain_id", "fcl-other")),
    ("version 2", lambda s: s.__setitem__("version", 2)),
    ("extra field", lambda s: s.__setitem__("note", 1)),
    ("key of 513 characters", lambda s: _entry(s, ABSENT).__setitem__("key", "k" * 513)),
]


@pytest.mark.parametrize("name,edit", STATE_EDITS, ids=[e[0] for e in STATE_EDITS])
def test_targeted_state_proof_tampering(files: dict[str, Any], name: str, edit: Edit) -> None:
    kind, gh, obj = files["state-latest"]
    sp = copy.deepcopy(obj)
    edit(sp)
    assert agree(kind, dumps(sp), gh) is ("(valid)" in name), name
    # the same edit inside a holding proof's state proof is refused by both (its coverage
    # needs the unit records; a state-proof edit that stays valid may break coverage)
    if "key" not in name and "entr" not in name and "value" not in name and "absent" not in name \
            and "present" not in name and "sibling" not in name:
        kind, gh, obj = files["holding-frozen"]
        hp = copy.deepcopy(obj)
        edit(_state(hp))
        assert agree(kind, dumps(hp), gh) is ("(valid)" in name), name


HOLDING_EDITS: list[tuple[str, Edit]] = [
    ("claim first moved back", lambda h: h["claim"].__setitem__("first", h["claim"]["first"] - 1)),
    ("claim last moved on", lambda h: h["claim"].__setitem__("last", h["claim"]["last"] + 1)),
    ("claim narrowed (valid)", lambda h: h["claim"].__setitem__("last", h["claim"]["first"])),
    ("claim other project", lambda h: h["claim"].__setitem__("project_id", "AH-0002")),
    ("claim bad project id", lambda h: h["claim"].__setitem__("project_id", "-AH")),
    ("claim first > last", lambda h: h["claim"].update(first=5, last=4)),
    ("claim first 0", lambda h: h["claim"].__setitem__("first", 0)),
    ("claim last 10^12", lambda h: h["claim"].__setitem__("last", 10**12)),
    ("claim extra field", lambda h: h["claim"].__setitem__("note", 1)),
    ("record removed", lambda h: _state(h)["entries"].pop()),
    ("first record removed", lambda h: _state(h)["entries"].pop(0)),
    ("records reversed", lambda h: _state(h)["entries"].reverse()),
    ("record twice", lambda h: _state(h)["entries"].append(copy.deepcopy(_state(h)["entries"][0]))),
    ("format", lambda h: h.__setitem__("format", "fcl-state-proof")),
    ("version", lambda h: h.__setitem__("version", 2)),
    ("extra field", lambda h: h.__setitem__("note", 1)),
]


@pytest.mark.parametrize("name,edit", HOLDING_EDITS, ids=[e[0] for e in HOLDING_EDITS])
@pytest.mark.parametrize("which", ["holding-frozen", "holding-retired", "holding-wide"])
def test_targeted_holding_proof_tampering(files: dict[str, Any], which: str, name: str,
                                          edit: Edit) -> None:
    kind, gh, obj = files[which]
    hp = copy.deepcopy(obj)
    edit(hp)
    agree(kind, dumps(hp), gh)


# ------------------------------------------------------- blocks re-signed by the validators
def reseal(header: dict[str, Any], commit: dict[str, Any], chain: str, signers: int = 3,
           **fields: Any) -> None:
    """Change ``header`` fields, then commit it again: new block hash, precommits of the
    first ``signers`` members that signed (and, for 4, one more validator of the set)."""
    header.update(fields)
    try:
        commit["block_hash"] = ind.hhex(header)
    except ValueError:  # not canonically encodable: no block hash to sign
        return
    members = [s["validator"] for s in commit["signatures"]]
    if signers > len(members):
        others = [k for k in VALIDATOR_KEYS if k not in members]
        members += [k for k in others if ind.hhex(_set_of(header)) == header["validators_hash"]
                    and k in {v["pub_key"] for v in _set_of(header)}][:signers - len(members)]
    commit["signatures"] = [{"validator": k, "signature": ""} for k in sorted(members[:signers])]
    resign(commit, chain, commit["round"])


def _set_of(header: dict[str, Any]) -> list[dict[str, Any]]:
    for vs in (GENESIS_SET, NEW_SET):
        if ind.hhex(vs) == header["validators_hash"]:
            return vs
    raise AssertionError("unknown set")


def _other_member(header: dict[str, Any]) -> str:
    return next(v["pub_key"] for v in _set_of(header) if v["pub_key"] != header["proposer"])


RESEALS: list[tuple[str, Callable[[dict[str, Any]], dict[str, Any]], bool | None]] = [
    ("nothing changed (valid)", lambda h: {}, True),
    ("four signatures (valid)", lambda h: {"signers": 4}, True),
    ("two signatures", lambda h: {"signers": 2}, False),
    ("proposer another member", lambda h: {"proposer": _other_member(h)}, None),
    ("proposer not a member", lambda h: {"proposer": validator_key(3).public_key_hex
                                         if h["proposer"] != validator_key(3).public_key_hex
                                         and validator_key(3).public_key_hex not in
                                         {v["pub_key"] for v in _set_of(h)} else "ab" * 32}, False),
    ("time not after the previous block", lambda h: {"time": 0}, None),
    ("time negative", lambda h: {"time": -1}, None),
    ("prev_hash changed", lambda h: {"prev_hash": flip(h["prev_hash"])}, None),
    ("state_root changed", lambda h: {"state_root": flip(h["state_root"])}, None),
    ("next_validators_hash changed", lambda h: {"next_validators_hash": flip(
        h["next_validators_hash"])}, None),
    ("history_root changed", lambda h: {"history_root": flip(h["history_root"])}, None),
    ("chain_id changed", lambda h: {"chain_id": "fcl-other"}, False),
    ("proposer uppercase", lambda h: {"proposer": h["proposer"].upper()}, False),
    ("time a string", lambda h: {"time": str(h["time"])}, False),
    ("time 2^53 (too large)", lambda h: {"time": 2**53}, False),
    ("time 2^53-1", lambda h: {"time": 2**53 - 1}, None),
]


@pytest.mark.parametrize("name,change,expect", RESEALS, ids=[r[0] for r in RESEALS])
@pytest.mark.parametrize("which", ["cert-voluntary-v1", "cert-voluntary-v2", "state-latest",
                                   "holding-retired"])
def test_resealed_blocks(files: dict[str, Any], which: str, name: str,
                         change: Callable[[dict[str, Any]], dict[str, Any]],
                         expect: bool | None) -> None:
    """The block a file proves, changed and committed again by the validators in force (the
    tests hold their keys): what each verifier checks in a header beyond its commit."""
    kind, gh, obj = files[which]
    f = copy.deepcopy(obj)
    if kind == "cert":
        height = str(f["retirement"]["height"])
        header, commit, chain_id = f["headers"][height], f["commits"][height], f["chain_id"]
    else:
        sp = f if kind == "state" else f["state_proof"]
        header, commit, chain_id = sp["header"], sp["commit"], sp["chain_id"]
    fields = change(header)
    signers = fields.pop("signers", 3)
    reseal(header, commit, chain_id, signers, **fields)
    agree(kind, dumps(f), gh, expect)


# ---------------------------------------------------------------------------------- Ed25519
P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493


def _enc(y: int, sign: int = 0) -> bytes:
    return (y | (sign << 255)).to_bytes(32, "little")


def ed25519_vectors() -> list[tuple[str, bytes, bytes, bytes]]:
    key = validator_key(0)
    pub = bytes.fromhex(key.public_key_hex)
    msg = b"precommit"
    sig = key.sign(msg)
    s = int.from_bytes(sig[32:], "little")
    out = [("genuine", pub, sig, msg),
           ("S + L", pub, sig[:32] + (s + L).to_bytes(32, "little"), msg),
           ("S = L", pub, sig[:32] + L.to_bytes(32, "little"), msg),
           ("other message", pub, sig, b"prevote"),
           ("key sign bit flipped", bytes(pub[:31]) + bytes([pub[31] ^ 0x80]), sig, msg),
           ("identity key, trivial signature", _enc(1), _enc(1) + bytes(32), msg)]
    small = [0, 1, 2707385501144840649318225287225658788936804267575313519463743609750303402022,
             P - 2707385501144840649318225287225658788936804267575313519463743609750303402022,
             P - 1, P, P + 1]
    for y in small:
        for sign in (0, 1):
            out.append((f"small-order key y={y % 1000} sign={sign}", _enc(y, sign),
                        _enc(1) + bytes(32), msg))
            out.append((f"small-order R y={y % 1000} sign={sign} (key genuine)", pub,
                        _enc(y, sign) + sig[32:], msg))
    for i in range(19):  # non-canonical encodings y = p + i
        out.append((f"non-canonical key p+{i}", _enc(P + i), sig, msg))
        out.append((f"non-canonical R p+{i}", pub, _enc(P + i) + sig[32:], msg))
        out.append((f"non-canonical key p+{i} trivial", _enc(P + i), _enc(1) + bytes(32), msg))
    for y in range(2, 12):  # keys that may not decode to a point
        out.append((f"key y={y}", _enc(y), sig, msg))
    return out


def test_ed25519_strictness_agrees_with_the_project() -> None:
    from ledger.crypto import verify as project_verify

    for name, pub, sig, msg in ed25519_vectors():
        assert ind.ed25519_verify(pub, sig, msg) == project_verify(pub, msg, sig), name
    assert ind.ed25519_verify(*ed25519_vectors()[0][1:])


@SETTINGS
@given(pub=st.binary(min_size=32, max_size=32), sig=st.binary(min_size=64, max_size=64))
def test_ed25519_on_random_bytes(pub: bytes, sig: bytes) -> None:
    from ledger.crypto import verify as project_verify

    assert ind.ed25519_verify(pub, sig, b"m") == project_verify(pub, b"m", sig)
    assert ind._decodes(pub) in (True, False)


# ------------------------------------------------------------------------- the state tree
@SETTINGS
@given(state=st.dictionaries(st.binary(min_size=1, max_size=6), st.binary(max_size=4),
                             max_size=40),
       later=st.dictionaries(st.binary(min_size=1, max_size=6),
                             st.none() | st.binary(max_size=4), max_size=10),
       probe=st.lists(st.binary(min_size=1, max_size=6), max_size=5),
       where=st.integers(0, 10**6), byte=st.integers(0, 255))
def test_state_tree_proofs_agree(state: dict[bytes, bytes], later: dict[bytes, bytes | None],
                                 probe: list[bytes], where: int, byte: int) -> None:
    """Proofs the project's tree makes, for random maps at two versions, checked by the
    independent transcription of docs/state-proofs.md: members, absent keys, another
    version's root, and every proof with one byte changed."""
    from ledger.state_tree import MemoryNodeStore, Proof, StateTree
    from ledger.state_tree import verify as project_verify

    tree = StateTree(MemoryNodeStore())
    roots = [tree.apply(1, dict(state)), tree.apply(2, dict(later))]
    model = [dict(state), {k: v for k, v in {**state, **later}.items() if v is not None}]
    for version, (root, kv) in enumerate(zip(roots, model, strict=True), start=1):
        for key in [*sorted(kv), *probe, *sorted(later)]:
            proof = tree.prove(key, version).to_json()
            parsed = ind.parse_state_proof(proof)
            value = kv.get(key)
            assert ind.smt_verify(root, key, value, parsed)
            assert project_verify(root, key, value, Proof.from_json(proof))
            for claim in (b"\xff" + (value or b""), None if value is not None else b""):
                assert not ind.smt_verify(root, key, claim, parsed)
                assert not project_verify(root, key, claim, Proof.from_json(proof))
            other = roots[2 - version]
            assert ind.smt_verify(other, key, value, parsed) == project_verify(
                other, key, value, Proof.from_json(proof))
            # one byte of the proof's JSON changed
            text = bytearray(json.dumps(proof).encode())
            i = where % len(text)
            text[i] = byte if text[i] != byte else byte ^ 1
            try:
                bad = json.loads(bytes(text))
            except ValueError:
                continue
            try:
                mine = ind.smt_verify(root, key, value, ind.parse_state_proof(bad))
            except ValueError:
                mine = False
            try:
                theirs = project_verify(root, key, value, Proof.from_json(bad))
            except Exception:  # noqa: BLE001 -- from_json refuses: a refusal
                theirs = False
            assert mine == theirs, bad


# -------------------------------------------- transaction rules, on a re-signed retirement
def _retirement_with(world: World, cert: dict[str, Any], payload_edit: Edit,
                     signatures: Callable[[bytes], list[str]] | None = None) -> dict[str, Any]:
    """``cert`` (version 1) whose retirement transaction is re-built with ``payload_edit``,
    re-signed by the retiring organisation, and re-committed in its block."""
    entry = cert["retirement"]
    payload = copy.deepcopy(entry["tx"]["payload"])
    payload_edit(payload)
    body = canonical(payload)
    sigs = signatures(body) if signatures else [det_key("buyer-steel").sign_hex(body)]
    tx = {"payload": payload, "signatures": sigs}
    tx_id = ind.sha256(body).hex()
    result = copy.deepcopy(entry["result"])
    result["tx_id"] = tx_id
    for event in result["events"]:
        if "retirement_id" in event:
            event["retirement_id"] = tx_id
    cert = reseal_raw(world, cert, entry["height"], entry["index"], tx, result)
    cert["retirement_id"] = tx_id
    return cert


def reseal_raw(world: World, cert: dict[str, Any], height: int, index: int, tx: dict[str, Any],
               result: dict[str, Any]) -> dict[str, Any]:
    """Like ``reseal_block`` for the retirement's block, but for any JSON transaction (the
    project's helper parses it first): roots, header, commit and the entry's proofs."""
    from ledger.merkle import inclusion_proof, merkle_root

    block = world.chain.store.get_block(height)
    assert block is not None
    txs = [t.to_json() for t in block.txs]
    results = [dict(r) for r in block.results]
    txs[index], results[index] = tx, result
    tx_leaves = [ind.canonical(t) for t in txs]  # ValueError: not committable at all
    result_leaves = [ind.canonical(r) for r in results]
    cert = copy.deepcopy(cert)
    header = cert["headers"][str(height)]
    commit = cert["commits"][str(height)]
    reseal(header, commit, cert["chain_id"], 3, txs_root=merkle_root(tx_leaves).hex(),
           results_root=merkle_root(result_leaves).hex())
    entry = cert["retirement"]
    entry.update(tx=tx, result=result,
                 tx_proof=[h.hex() for h in inclusion_proof(tx_leaves, index)],
                 result_proof=[h.hex() for h in inclusion_proof(result_leaves, index)])
    return cert


def _pad_to(total: int) -> Edit:
    """args.pad such that len(canonical(payload)) + 130 + 32 == total."""
    def edit(p: dict[str, Any]) -> None:
        p["args"]["pad"] = ""
        p["args"]["pad"] = "x" * (total - 162 - len(canonical(p)))
    return edit


TX_EDITS: list[tuple[str, Edit, bool]] = [
    ("unchanged", lambda p: None, True),
    ("nonce of 64 characters", lambda p: p.__setitem__("nonce", "n" * 64), True),
    ("nonce of 65 characters", lambda p: p.__setitem__("nonce", "n" * 65), False),
    ("nonce of 64 two-byte characters", lambda p: p.__setitem__("nonce", "é" * 64), True),
    ("nonce of 64 astral characters", lambda p: p.__setitem__("nonce", "😀" * 64), True),
    ("nonce empty", lambda p: p.__setitem__("nonce", ""), False),
    ("nonce a number", lambda p: p.__setitem__("nonce", 7), False),
    ("nonce not NFC", lambda p: p.__setitem__("nonce", "cafe\u0301"), False),
    ("payload of exactly 65536 bytes", _pad_to(65536), True),
    ("payload of 65537 bytes", _pad_to(65537), False),
    ("chain id of another network", lambda p: p.__setitem__("chain_id", "fcl-other"), False),
    ("extra payload field", lambda p: p.__setitem__("memo", "x"), False),
    ("args a list", lambda p: p.__setitem__("args", []), False),
    ("method with a capital", lambda p: p.__setitem__("method", "Retire_compliance"), False),
    ("integer beyond 2^53", lambda p: p["args"].__setitem__("pad", 2**53), False),
]


@pytest.mark.parametrize("name,edit,expect", TX_EDITS, ids=[t[0] for t in TX_EDITS])
def test_transaction_rules_on_a_resigned_retirement(files: dict[str, Any], name: str, edit: Edit,
                                                    expect: bool,
                                                    tmp_path_factory: pytest.TempPathFactory
                                                    ) -> None:
    world = shared_world(tmp_path_factory)
    _, gh, obj = files["cert-compliance-v1"]
    try:
        cert = _retirement_with(world, copy.deepcopy(obj), edit)
    except ValueError:  # not canonically encodable: no block can hold it
        assert name in ("nonce not NFC", "integer beyond 2^53"), name
        return
    assert agree("cert", dumps(cert), gh) is expect, name


def test_signature_rules_on_a_resigned_retirement(files: dict[str, Any],
                                                  tmp_path_factory: pytest.TempPathFactory) -> None:
    world = shared_world(tmp_path_factory)
    _, gh, obj = files["cert-compliance-v1"]
    steel = det_key("buyer-steel")
    s_plus_l = lambda body: [(bytes.fromhex(steel.sign_hex(body))[:32] + (  # noqa: E731
        int.from_bytes(bytes.fromhex(steel.sign_hex(body))[32:], "little") + L).to_bytes(
        32, "little")).hex()]
    cases: list[tuple[str, Edit, Callable[[bytes], list[str]], bool]] = [
        ("S + L", lambda p: None, s_plus_l, False),
        ("signature uppercase", lambda p: None, lambda b: [steel.sign_hex(b).upper()], False),
        ("two signatures for one signer", lambda p: None, lambda b: [steel.sign_hex(b)] * 2, False),
        ("identity signer, trivial signature",
         lambda p: p["signers"].append(IDENTITY), lambda b: [steel.sign_hex(b), TRIVIAL_SIG], False),
        ("second signer of another organisation (valid per the format)",
         lambda p: p["signers"].append(det_key("regulator").public_key_hex),
         lambda b: [steel.sign_hex(b), det_key("regulator").sign_hex(b)], True),
        ("signer twice", lambda p: p["signers"].append(p["signers"][0]),
         lambda b: [steel.sign_hex(b)] * 2, False),
    ]
    for name, edit, sign, expect in cases:
        cert = _retirement_with(world, copy.deepcopy(obj), edit, sign)
        assert agree("cert", dumps(cert), gh) is expect, name


# ------------------------------------ results and events, on a re-committed retirement block
def _retired(result: dict[str, Any]) -> dict[str, Any]:
    event: dict[str, Any] = next(e for e in result["events"] if e["type"] == "carbon.retired")
    return event


def _split_range(result: dict[str, Any], overlap: int = 0) -> None:
    ev = _retired(result)
    r = ev["ranges"][0]
    mid = (r["first"] + r["last"]) // 2
    a = dict(r, last=mid, quantity=mid - r["first"] + 1)
    b = dict(r, first=mid + 1 - overlap, quantity=r["last"] - mid + overlap)
    for x in (a, b):
        x["serial"] = f"CCER-{x['project_id']}-{x['vintage']}-{x['first']:09d}-{x['last']:09d}"
    ev["ranges"] = [a, b]
    ev["quantity"] += overlap


RESULT_EDITS: list[tuple[str, Edit]] = [
    ("unchanged", lambda r: None),
    ("retired event twice", lambda r: r["events"].append(copy.deepcopy(_retired(r)))),
    ("retired event removed", lambda r: r["events"].remove(_retired(r))),
    ("ranges removed", lambda r: _retired(r).pop("ranges")),
    ("ranges empty", lambda r: _retired(r).__setitem__("ranges", [])),
    ("range quantity wrong", lambda r: _retired(r)["ranges"][0].__setitem__("quantity", 1)),
    ("range serial wrong", lambda r: _retired(r)["ranges"][0].__setitem__("serial", "CCER-x")),
    ("range without quantity and serial", lambda r: [_retired(r)["ranges"][0].pop(k)
                                                     for k in ("quantity", "serial")]),
    ("range with an extra field", lambda r: _retired(r)["ranges"][0].__setitem__("note", 1)),
    ("range vintage wrong", lambda r: _retired(r)["ranges"][0].__setitem__("vintage", 2021)),
    ("range first 0", lambda r: _retired(r)["ranges"][0].__setitem__("first", 0)),
    ("range a list", lambda r: _retired(r)["ranges"].__setitem__(0, [1, 2])),
    ("range split in two", _split_range),
    ("range split in two overlapping", lambda r: _split_range(r, 1)),
    ("event quantity wrong", lambda r: _retired(r).__setitem__("quantity", 1)),
    ("purpose wrong", lambda r: _retired(r).__setitem__(
        "purpose", "voluntary" if _retired(r)["purpose"] == "compliance" else "compliance")),
    ("period wrong", lambda r: _retired(r).__setitem__("period", "1999")),
    ("enterprise changed", lambda r: _retired(r).__setitem__("enterprise", "buyer-power")),
    ("enterprise a number", lambda r: _retired(r).__setitem__("enterprise", 7)),
    ("enterprise missing", lambda r: _retired(r).pop("enterprise")),
    ("event retirement id wrong", lambda r: _retired(r).__setitem__("retirement_id", "ab" * 32)),
    ("code not ok", lambda r: r.__setitem__("code", "cap_exceeded")),
    ("message a number", lambda r: r.__setitem__("message", 1)),
    ("message text", lambda r: r.__setitem__("message", "done")),
    ("unrelated event added", lambda r: r["events"].append({"type": "notary.recorded"})),
    ("event without a type", lambda r: r["events"].append({"name": "x"})),
    ("event type a number", lambda r: r["events"].append({"type": 1})),
    ("event not an object", lambda r: r["events"].append("carbon.retired")),
    ("return event removed", lambda r: r.__setitem__(
        "events", [e for e in r["events"] if e["type"] != "return"])),
    ("result extra field", lambda r: r.__setitem__("note", 1)),
    ("result tx id wrong", lambda r: r.__setitem__("tx_id", "ab" * 32)),
]


@pytest.mark.parametrize("which,version", [("compliance", 1), ("multi", 2)])
@pytest.mark.parametrize("name,edit", RESULT_EDITS, ids=[e[0] for e in RESULT_EDITS])
def test_results_and_events_on_a_recommitted_block(files: dict[str, Any], name: str, edit: Edit,
                                                   which: str, version: int,
                                                   tmp_path_factory: pytest.TempPathFactory
                                                   ) -> None:
    world = shared_world(tmp_path_factory)
    _, gh, obj = files[f"cert-{which}-v{version}"]
    entry = obj["retirement"]
    result = copy.deepcopy(entry["result"])
    edit(result)
    cert = reseal_raw(world, obj, entry["height"], entry["index"], entry["tx"], result)
    valid = agree("cert", dumps(cert), gh)
    if name in ("unchanged", "range without quantity and serial", "message text",
                "unrelated event added", "return event removed"):
        assert valid, name


# ------------------------------------------------------------- light-client checkpoints
def _checkpoints(pw: ProofWorld) -> dict[str, dict[str, Any]]:
    from ledger.header_chain import TrustedState

    top = pw.chain.height
    change = pw.world.change_height
    cps = {"genesis": TrustedState.from_genesis(pw.genesis).to_json()}
    for h in (1, 3, 6, change - 1, change, change + 1, top - 1, top):
        cps[f"h{h}"] = pw.checkpoint(h).to_json()
    forged = dict(cps["h3"], block_hash=flip(cps["h3"]["block_hash"]))
    cps["h3 of another block"] = forged
    cps["h3 of another genesis"] = dict(cps["h3"], genesis_hash=flip(cps["h3"]["genesis_hash"]))
    cps["h3 of another chain"] = dict(cps["h3"], chain_id="fcl-other")
    cps[f"h{top} with the old set"] = dict(cps[f"h{top}"],
                                           next_validators=cps["genesis"]["next_validators"])
    return cps


def _ref_with_checkpoint(kind: Kind, data: bytes, cp: dict[str, Any]) -> bool:
    from ledger.errors import LedgerError
    from ledger.header_chain import TrustedState

    try:
        trusted = TrustedState.from_json(cp)
    except LedgerError:
        return False
    if kind == "state":
        return ref_state(data, checkpoint=trusted).ok
    return ref_holding(data, checkpoint=trusted).ok


@pytest.mark.parametrize("edit", ["none", "change removed", "change set reordered",
                                  "sibling changed", "commit signature dropped"])
def test_checkpoint_anchors(files: dict[str, Any], pw: ProofWorld, edit: str) -> None:
    for name in ("state-latest", "state-h3", "holding-frozen", "holding-retired"):
        kind, _, obj = files[name]
        f = copy.deepcopy(obj)
        sp = f if kind == "state" else f["state_proof"]
        if edit == "change removed":
            sp["validator_set_changes"].clear()
        elif edit == "change set reordered" and sp["validator_set_changes"]:
            sp["validator_set_changes"][0]["validators"].reverse()
        elif edit == "sibling changed" and sp["entries"]:
            siblings = sp["entries"][0]["proof"]["siblings"]
            siblings[0] = flip(siblings[0])
        elif edit == "commit signature dropped":
            sp["commit"]["signatures"].pop()
        data = dumps(f)
        for cp_name, cp in _checkpoints(pw).items():
            mine = independent(kind, data, cp)
            assert mine.check != "crash", mine
            assert _ref_with_checkpoint(kind, data, cp) == mine.ok, (name, edit, cp_name, mine)


@pytest.mark.parametrize("field,value", [
    ("format", "fcl-checkpoint"), ("version", 2), ("height", -1), ("time", 1.5),
    ("block_hash", "AB" * 32), ("next_validators", []), ("note", 1), ("height", 0)])
def test_malformed_checkpoints_are_refused_by_both(files: dict[str, Any], pw: ProofWorld,
                                                   field: str, value: Any) -> None:
    kind, _, obj = files["state-latest"]
    cp = dict(pw.checkpoint(3).to_json(), **{field: value})
    mine = independent(kind, dumps(obj), cp)
    assert not mine.ok and not _ref_with_checkpoint(kind, dumps(obj), cp)


# ------------------------------------------------------------------ the genesis schema
#: edits of the embedded genesis document; the file then names its new hash and the verifier
#: trusts that hash: nothing but the genesis rules can refuse it (block 1's prev_hash is not
#: in these files, and the validators stay those that signed).
GENESIS_EDITS: list[tuple[str, Edit]] = [
    ("unchanged", lambda g: None),
    ("app_state unknown field", lambda g: g["app_state"].__setitem__("note", 1)),
    ("app_state empty", lambda g: g.__setitem__("app_state", {})),
    ("app_state a list", lambda g: g.__setitem__("app_state", [])),
    ("organisations not a list", lambda g: g["app_state"].__setitem__("organisations", "x")),
    ("organisation without admins", lambda g: g["app_state"]["organisations"][0].pop("admins")),
    ("organisation id twice", lambda g: g["app_state"]["organisations"].append(
        copy.deepcopy(g["app_state"]["organisations"][0]))),
    ("organisation role unknown", lambda g: g["app_state"]["organisations"][0].__setitem__(
        "roles", ["king"])),
    ("params unknown", lambda g: g["app_state"]["params"].__setitem__("no_such_param", 1)),
    ("param invalid", lambda g: g["app_state"]["params"].__setitem__("offset_cap", "x")),
    ("observers malformed", lambda g: g["app_state"].__setitem__("observers", [1])),
    ("validator_operators malformed", lambda g: g["app_state"].__setitem__(
        "validator_operators", {"ab" * 32: "nobody"})),
    ("genesis_time 0", lambda g: g.__setitem__("genesis_time", 0)),
    ("genesis_time negative", lambda g: g.__setitem__("genesis_time", -1)),
    ("genesis_time after block 1", lambda g: g.__setitem__("genesis_time", 2 * 10**12)),
    ("genesis_time a string", lambda g: g.__setitem__("genesis_time", "0")),
    ("extra field", lambda g: g.__setitem__("note", 1)),
    ("field missing", lambda g: g.pop("app_state")),
]


@pytest.mark.parametrize("name,edit", GENESIS_EDITS, ids=[e[0] for e in GENESIS_EDITS])
@pytest.mark.parametrize("which", ["cert-voluntary-v2", "holding-frozen"])
def test_genesis_schema(files: dict[str, Any], which: str, name: str, edit: Edit) -> None:
    kind, _, obj = files[which]
    f = copy.deepcopy(obj)
    holder = f["state_proof"] if kind == "holding" else f
    edit(holder["genesis"])
    gh = ind.hhex(holder["genesis"])
    holder["genesis_hash"] = gh
    agree(kind, dumps(f), gh)


def test_the_entry_limit_of_state_proof_files(files: dict[str, Any], pw: ProofWorld) -> None:
    """1,024 entries verify, 1,025 do not (``too_many_entries``), for both."""
    kind, gh, obj = files["state-h3"]
    entries: list[dict[str, Any]] = []
    for batch in range(5):
        keys = [f"absent/{batch}/{i}" for i in range(205)]
        resp = pw.client.post("/v1/state/proofs", json={"keys": keys, "height": 3})
        assert resp.status_code == 200, resp.text
        entries += resp.json()["entries"]
    for n, expect in ((1024, True), (1025, False)):
        f = dict(copy.deepcopy(obj), entries=entries[:n])
        assert agree(kind, dumps(f), gh) is expect


# ------------------------------ older blocks forged, with the retirement's history re-rooted
ORG_KEYS = {det_key(org).public_key_hex: det_key(org) for org in DEFAULT_ORGS}


def forge_older(world: World, cert: dict[str, Any], role: str,
                payload_edit: Edit | None = None, result_edit: Edit | None = None
                ) -> dict[str, Any]:
    """``cert`` with the transaction or result of its ``role`` entry changed in its (older)
    block: the transaction re-signed by its signers, the block's roots, header and commit
    re-made by the validators, and the retirement's block re-committed with a history root
    over the changed block hash (every history proof re-made). Only signatures the tests
    hold stand behind it: what remains to refuse it is the links."""
    from ledger.merkle import inclusion_proof, merkle_root

    cert = copy.deepcopy(cert)
    entry = next(e for e in cert["provenance"] if e["role"] == role)
    height, index = entry["height"], entry["index"]
    store = world.chain.store
    block = store.get_block(height)
    assert block is not None
    txs = [t.to_json() for t in block.txs]
    results = [dict(r) for r in block.results]
    tx, result = copy.deepcopy(txs[index]), copy.deepcopy(results[index])
    if payload_edit is not None:
        payload_edit(tx["payload"])
        body = ind.canonical(tx["payload"])
        tx["signatures"] = [ORG_KEYS[k].sign_hex(body) for k in tx["payload"]["signers"]]
        result["tx_id"] = ind.sha256(body).hex()
    if result_edit is not None:
        result_edit(result)
    txs[index], results[index] = tx, result
    tx_leaves = [ind.canonical(t) for t in txs]
    result_leaves = [ind.canonical(r) for r in results]
    header, commit = cert["headers"][str(height)], cert["commits"][str(height)]
    reseal(header, commit, cert["chain_id"], 3, txs_root=merkle_root(tx_leaves).hex(),
           results_root=merkle_root(result_leaves).hex())
    for e in cert["provenance"]:
        if e["height"] == height:
            i = e["index"]
            e.update(tx=txs[i], result=results[i],
                     tx_proof=[h.hex() for h in inclusion_proof(tx_leaves, i)],
                     result_proof=[h.hex() for h in inclusion_proof(result_leaves, i)])
    a = cert["retirement"]["height"]
    hashes = []
    for h in range(1, a):
        stored = store.get_block(h)
        assert stored is not None
        hashes.append(bytes.fromhex(ind.hhex(header) if h == height else stored.header.hash()))
    reseal(cert["headers"][str(a)], cert["commits"][str(a)], cert["chain_id"], 3,
           history_root=merkle_root(hashes).hex())
    cert["history"] = {k: [p.hex() for p in inclusion_proof(hashes, int(k) - 1)]
                       for k in cert["history"]}
    return cert


def _ev(typ: str, **changes: Any) -> Edit:
    def edit(result: dict[str, Any]) -> None:
        for e in result["events"]:
            if e["type"] == typ:
                e.update(changes)
    return edit


def _ev_twice(typ: str) -> Edit:
    def edit(result: dict[str, Any]) -> None:
        result["events"].append(copy.deepcopy(next(e for e in result["events"]
                                                   if e["type"] == typ)))
    return edit


def _ev_drop(typ: str) -> Edit:
    def edit(result: dict[str, Any]) -> None:
        result["events"] = [e for e in result["events"] if e["type"] != typ]
    return edit


#: (name, role, payload edit, result edit)
OLDER: list[tuple[str, str, Edit | None, Edit | None]] = [
    ("nothing changed (valid)", "registration", None, lambda r: None),
    ("registration event of another project", "registration", None,
     _ev("carbon.project_registered", project_id="AH-0002")),
    ("registration event names another attestation", "registration", None,
     _ev("carbon.project_registered", validation_attestation="VAL-X")),
    ("registration event twice", "registration", None, _ev_twice("carbon.project_registered")),
    ("registration event missing", "registration", None, _ev_drop("carbon.project_registered")),
    ("registration event other owner", "registration", None,
     _ev("carbon.project_registered", owner_org="coop")),
    ("validation event negative", "validation", None,
     _ev("carbon.validation_attested", positive=False)),
    ("validation event of another project", "validation", None,
     _ev("carbon.validation_attested", project_id="AH-0002")),
    ("validation event other attestation id", "validation", None,
     _ev("carbon.validation_attested", attestation_id="VAL-X")),
    ("validation event missing", "validation", None, _ev_drop("carbon.validation_attested")),
    ("validation args negative", "validation", lambda p: p["args"].__setitem__("positive", False),
     None),
    ("validation args of another project", "validation",
     lambda p: p["args"].__setitem__("project_id", "AH-0002"), None),
    ("submission event other owner", "project_submission", None,
     _ev("carbon.project_submitted", owner_org="coop")),
    ("submission event other plots", "project_submission", None,
     _ev("carbon.project_submitted", plots=["P1"])),
    ("submission event other project", "project_submission", None,
     _ev("carbon.project_submitted", project_id="AH-0002")),
    ("submission event twice", "project_submission", None,
     _ev_twice("carbon.project_submitted")),
    ("submission args one more plot", "project_submission",
     lambda p: p["args"]["plots"].append("P9"), None),
    ("submission args one plot less", "project_submission",
     lambda p: p["args"].__setitem__("plots", p["args"]["plots"][:1]), None),
    ("plot event other owner", "plot_registration", None,
     _ev("carbon.plot_registered", owner_org="coop")),
    ("plot event other plot", "plot_registration", None,
     _ev("carbon.plot_registered", plot_id="P7")),
    ("plot event twice", "plot_registration", None, _ev_twice("carbon.plot_registered")),
    ("plot event missing", "plot_registration", None, _ev_drop("carbon.plot_registered")),
    ("report event other period end", "monitoring_report", None,
     _ev("carbon.report_submitted", period_end="2019-12-31")),
    ("report event other sha", "monitoring_report", None,
     _ev("carbon.report_submitted", report_sha256="00" * 32)),
    ("report event other project", "monitoring_report", None,
     _ev("carbon.report_submitted", project_id="AH-0002")),
    ("report event missing", "monitoring_report", None, _ev_drop("carbon.report_submitted")),
    ("report args period end in another year", "monitoring_report",
     lambda p: p["args"].__setitem__("period_end", "2021-12-31"), None),
    ("report args period end in Arabic-Indic digits", "monitoring_report",
     lambda p: p["args"].__setitem__("period_end", "\u0662\u0660\u0662\u0662-12-31"), None),
    ("report args period end with a superscript digit", "monitoring_report",
     lambda p: p["args"].__setitem__("period_end", "\u00b2022-12-31"), None),
    ("report args period end a number", "monitoring_report",
     lambda p: p["args"].__setitem__("period_end", 2022), None),
    ("report args other sha", "monitoring_report",
     lambda p: p["args"].__setitem__("report_sha256", "00" * 32), None),
    ("report args other project", "monitoring_report",
     lambda p: p["args"].__setitem__("project_id", "AH-0002"), None),
    ("report args a plot of no project", "monitoring_report",
     lambda p: p["args"]["measurements"][0].__setitem__("plot_id", "P9"), None),
    ("verification event other quantity", "verification", None,
     _ev("carbon.verification_attested", verified_quantity=1)),
    ("verification event other report", "verification", None,
     _ev("carbon.verification_attested", report_id="R9")),
    ("verification event other project", "verification", None,
     _ev("carbon.verification_attested", project_id="AH-0002")),
    ("verification event twice", "verification", None,
     _ev_twice("carbon.verification_attested")),
    ("verification event missing", "verification", None,
     _ev_drop("carbon.verification_attested")),
    ("verification args other quantity", "verification",
     lambda p: p["args"].__setitem__("verified_quantity", 1), None),
    ("verification args other sha", "verification",
     lambda p: p["args"].__setitem__("report_sha256", "00" * 32), None),
    ("issued event other vintage", "issuance", None, _ev("carbon.issued", vintage=2021)),
    ("issued event other report", "issuance", None, _ev("carbon.issued", report_id="R9")),
    ("issued event other batch", "issuance", None, _ev("carbon.issued", batch_id="B9")),
    ("issued event other project", "issuance", None, _ev("carbon.issued", project_id="AH-0002")),
    ("issued event range shorter", "issuance", None, _ev("carbon.issued", last=100)),
    ("issued event range later", "issuance", None, _ev("carbon.issued", first=400)),
    ("issued event other quantity", "issuance", None, _ev("carbon.issued", quantity=1)),
    ("issued event other owner", "issuance", None, _ev("carbon.issued", owner_org="coop")),
    ("issued event twice", "issuance", None, _ev_twice("carbon.issued")),
    ("issued event quantity a string", "issuance", None, _ev("carbon.issued", quantity="1191")),
    ("issued event owner missing", "issuance", None, lambda r: [
        e.pop("owner_org") for e in r["events"] if e["type"] == "carbon.issued"]),
    ("issued event missing", "issuance", None, _ev_drop("carbon.issued")),
    ("listing result failed", "listing", None, lambda r: r.update(code="bad", events=[])),
    ("trade event removed", "trade", None, _ev_drop("carbon.traded")),
]


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("name,role,payload_edit,result_edit", OLDER, ids=[o[0] for o in OLDER])
def test_links_on_forged_older_blocks(files: dict[str, Any], name: str, role: str,
                                      payload_edit: Edit | None, result_edit: Edit | None,
                                      version: int, tmp_path_factory: pytest.TempPathFactory
                                      ) -> None:
    world = shared_world(tmp_path_factory)
    _, gh, obj = files[f"cert-voluntary-v{version}"]
    cert = forge_older(world, obj, role, payload_edit, result_edit)
    valid = agree("cert", dumps(cert), gh)
    if name == "nothing changed (valid)":
        assert valid
    if "args period end" in name:  # the project read "٢٠٢٢" as 2022 and crashed on "²022" (fixed)
        assert not valid


# -------------------------- holding records forged under a state root the validators re-sign
def forge_records(hp: dict[str, Any], edit: Callable[[list[dict[str, Any]]], Any]
                  ) -> dict[str, Any]:
    """``hp`` whose entries are edited, then proven in a fresh tree over exactly them; the
    tree's root becomes the header's ``state_root`` and the block is committed again."""
    from ledger.state_tree import MemoryNodeStore, StateTree

    hp = copy.deepcopy(hp)
    sp = hp["state_proof"]
    edit(sp["entries"])
    tree = StateTree(MemoryNodeStore())
    root = tree.apply(1, {e["key"].encode(): ind.canonical(e["value"])
                          for e in sp["entries"] if e["present"]} or {b"k": b"v"})
    for e in sp["entries"]:
        e["proof"] = tree.prove(e["key"].encode(), 1).to_json()
    reseal(sp["header"], sp["commit"], sp["chain_id"], 3, state_root=root.hex())
    return hp


def _rec(i: int, **changes: Any) -> Callable[[list[dict[str, Any]]], None]:
    def edit(entries: list[dict[str, Any]]) -> None:
        entries[i]["value"].update(changes)
    return edit


def _add_after(entries: list[dict[str, Any]]) -> None:
    last = entries[-1]["value"]
    value = dict(last, first=last["last"] + 1, last=last["last"] + 5)
    entries.append({"key": f"unit/{value['project_id']}/{value['first']:012d}",
                    "present": True, "value": value, "proof": {}})


def _shift(i: int, by: int) -> Callable[[list[dict[str, Any]]], None]:
    def edit(entries: list[dict[str, Any]]) -> None:
        v = entries[i]["value"]
        v["first"] += by
        entries[i]["key"] = f"unit/{v['project_id']}/{v['first']:012d}"
    return edit


RECORD_EDITS: list[tuple[str, Callable[[list[dict[str, Any]]], Any]]] = [
    ("unchanged (valid)", lambda es: None),
    ("frozen a string", _rec(0, frozen="yes")),
    ("state unknown", _rec(0, state="active")),
    ("state cancelled (valid)", _rec(0, state="cancelled")),
    ("vintage a boolean", _rec(0, vintage=True)),
    ("vintage a string", _rec(0, vintage="2022")),
    ("first after last", _rec(0, last=1)),
    ("last 10^12", _rec(-1, last=10**12)),
    ("account a number", _rec(0, account=5)),
    ("batch_id missing", lambda es: es[0]["value"].pop("batch_id")),
    ("history missing (valid)", lambda es: es[0]["value"].pop("history")),
    ("extra field (valid)", _rec(0, note="x")),
    ("other project", _rec(0, project_id="AH-0002")),
    ("first changed, key kept", _rec(0, first=452)),
    ("gap", _shift(1, 1)),
    ("overlap", _shift(1, -1)),
    ("record after the claim", _add_after),
    ("value a list", lambda es: es[0].__setitem__("value", [1])),
    ("value null, present", lambda es: es[0].__setitem__("value", None)),
    ("record claimed absent", lambda es: es[0].update(present=False, value=None)),
    ("records reversed", lambda es: es.reverse()),
]


@pytest.mark.parametrize("name,edit", RECORD_EDITS, ids=[r[0] for r in RECORD_EDITS])
def test_holding_records_forged_under_a_resigned_root(files: dict[str, Any], name: str,
                                                      edit: Callable[[list[dict[str, Any]]], Any]
                                                      ) -> None:
    kind, gh, obj = files["holding-frozen"]
    assert len(obj["state_proof"]["entries"]) >= 2
    hp = forge_records(obj, edit)
    assert agree(kind, dumps(hp), gh) is ("(valid)" in name), name


# ------------------------- a validator-set change's block forged and re-signed by its set
CHANGE_FORGERIES: list[tuple[str, Callable[[dict[str, Any]], dict[str, Any]], bool | None]] = [
    ("re-signed unchanged (valid)", lambda h: {}, True),
    ("four signatures (valid)", lambda h: {"signers": 4}, True),
    ("two signatures", lambda h: {"signers": 2}, False),
    ("proposer another member", lambda h: {"proposer": _other_member(h)}, None),
    ("proposer not a member", lambda h: {"proposer": "ab" * 32}, False),
    ("time changed", lambda h: {"time": h["time"] + 1}, None),
    ("prev_hash changed", lambda h: {"prev_hash": flip(h["prev_hash"])}, None),
    ("not a change", lambda h: {"next_validators_hash": h["validators_hash"]}, False),
    ("another chain", lambda h: {"chain_id": "fcl-other"}, False),
]


@pytest.mark.parametrize("name,change,expect", CHANGE_FORGERIES, ids=[c[0] for c in CHANGE_FORGERIES])
@pytest.mark.parametrize("which", ["state-latest", "holding-retired", "cert-multi-v1",
                                   "cert-multi-v2"])
def test_forged_change_blocks(files: dict[str, Any], which: str, name: str,
                              change: Callable[[dict[str, Any]], dict[str, Any]],
                              expect: bool | None) -> None:
    kind, gh, obj = files[which]
    f = copy.deepcopy(obj)
    holder = f["state_proof"] if kind == "holding" else f
    ch = holder["validator_set_changes"][0]
    assert kind != "cert" or str(ch["height"]) not in f["headers"]
    fields = change(ch["header"])
    signers = fields.pop("signers", 3)
    reseal(ch["header"], ch["commit"], holder["chain_id"], signers, **fields)
    agree(kind, dumps(f), gh, expect)


def test_a_change_block_whose_proposer_is_no_member_is_refused_by_the_project(
        files: dict[str, Any]) -> None:
    """Found here: the certificate verifier checked the proposer of every header (step 5) but
    not of a validator-set change's block (step 4), which the light client refuses."""
    for which in ("cert-multi-v1", "cert-multi-v2"):
        _, gh, obj = files[which]
        cert = copy.deepcopy(obj)
        ch = cert["validator_set_changes"][0]
        reseal(ch["header"], ch["commit"], cert["chain_id"], 3, proposer="ab" * 32)
        verdict = ref_cert_bytes(dumps(cert), genesis_hash=gh, links=CARBON_LINKS)
        failed = verdict.first_failure
        assert failed is not None and failed.name == "validator_set_changes", verdict
        assert failed.code == "unknown_proposer" and "block" in failed.detail, failed
