"""``fcl query`` (fcl/query.py) and ``fcl verify`` of holding proofs: proofs fetched from a
node's API (served over HTTP from a thread) are verified offline against the user's anchor;
exit 0 proven, 1 not proven, 2 bad input, 3 node unreachable or refusing."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

import fcl.query
from fcl.main import main as fcl_main
from ledger.encoding import canonical, decode
from tests.support.fcl_process import fcl_command, free_port
from tests.support.proof_world import FROZEN, ProofWorld, proof_world

UNIT1 = "unit/AH-0001/000000000001"
ABSENT = "unit/AH-0001/000000000002"


@pytest.fixture(scope="module")
def pw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProofWorld]:
    with proof_world(tmp_path_factory) as world:
        yield world


@pytest.fixture(scope="module")
def url(pw: ProofWorld) -> Iterator[str]:
    """The node's API over real HTTP (uvicorn in a thread)."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(pw.client.app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code in (200, 503):
                break
        except httpx.HTTPError:
            time.sleep(0.05)
    yield base
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def files(pw: ProofWorld, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("query-files")
    genesis = d / "genesis.json"
    pw.genesis.dump(genesis)
    checkpoint = d / "checkpoint.json"
    checkpoint.write_text(json.dumps(pw.checkpoint(pw.world.change_height + 1).to_json()))
    future = d / "future.json"
    future.write_text(json.dumps(pw.checkpoint(pw.chain.height).to_json()))
    holding = d / "holding.json"
    resp = pw.client.get("/v1/holdings/proof", params={"project_id": "AH-0001",
                                                        "first": "350", "last": "460"})
    holding.write_bytes(resp.content)
    state = d / "state.json"
    state.write_bytes(pw.client.post("/v1/state/proofs", json={"keys": [UNIT1], "height": 5}).content)
    return {"genesis": genesis, "checkpoint": checkpoint, "future": future, "holding": holding,
            "state": state, "dir": d}


def run(capsys: Any, *argv: str) -> tuple[int, str, str]:
    code = fcl_main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_query_prints_values_and_absence_proven_from_the_genesis(
        pw: ProofWorld, url: str, files: dict[str, Path], capsys: Any, tmp_path: Path) -> None:
    saved = tmp_path / "proof.json"
    code, out, err = run(capsys, "query", UNIT1, ABSENT, "--node", url, "--genesis",
                         str(files["genesis"]), "--save", str(saved))
    assert code == 0, out + err
    lines = out.splitlines()
    assert lines[0] == "VALID"
    height = pw.chain.height
    assert f"height {height} of {pw.genesis.chain_id}, block {pw.chain.store.get_block_hash(height)}" in out
    assert f"  {UNIT1} = {{" in out and '"state":"retired"' in out
    assert f"  {ABSENT}: absent" in out
    # the saved file re-verifies offline, against a checkpoint too
    code, out, _ = run(capsys, "query", "--file", str(saved), "--checkpoint", str(files["checkpoint"]))
    assert code == 0 and out.startswith("VALID")
    code, out, _ = run(capsys, "query", "--file", str(saved), "--genesis-hash", pw.genesis.hash,
                       "--json")
    verdict = json.loads(out)
    assert code == 0 and verdict["ok"] and verdict["summary"]["entries"][1] == {
        "key": ABSENT, "present": False, "value": None}


def test_query_at_a_past_height(pw: ProofWorld, url: str, files: dict[str, Path], capsys: Any) -> None:
    code, out, _ = run(capsys, "query", UNIT1, "--node", url, "--genesis-hash", pw.genesis.hash,
                       "--height", "8", "--json")
    verdict = json.loads(out)
    assert code == 0 and verdict["summary"]["height"] == 8
    assert verdict["summary"]["entries"][0]["value"]["account"] == "buyer-steel"
    assert verdict["summary"]["entries"][0]["value"]["state"] == "held"


def test_a_tampered_or_foreign_file_exits_1(
        pw: ProofWorld, files: dict[str, Path], capsys: Any, tmp_path: Path) -> None:
    obj = decode(files["state"].read_bytes())
    obj["entries"][0].update(present=True, value={"account": "thief"})  # absent at height 5
    bad = tmp_path / "bad.json"
    bad.write_bytes(canonical(obj))
    code, out, _ = run(capsys, "query", "--file", str(bad), "--genesis", str(files["genesis"]))
    assert code == 1 and out.startswith("INVALID: proofs: value_not_proven")
    # a checkpoint above the file's height
    code, out, _ = run(capsys, "query", "--file", str(files["state"]), "--checkpoint", str(files["future"]))
    assert code == 1 and "header_not_after_checkpoint" in out
    # another network's genesis hash
    code, out, _ = run(capsys, "query", "--file", str(files["state"]), "--genesis-hash", "ab" * 32)
    assert code == 1 and "wrong_genesis" in out
    junk = tmp_path / "junk.json"
    junk.write_bytes(b"\xef\xbb\xbf{}")
    code, out, _ = run(capsys, "query", "--file", str(junk), "--genesis", str(files["genesis"]))
    assert code == 1 and "byte_order_mark" in out


def test_a_node_answering_other_keys_or_another_height_exits_1(
        pw: ProofWorld, url: str, files: dict[str, Path], capsys: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    other = pw.client.post("/v1/state/proofs", json={"keys": [ABSENT], "height": 5}).content
    monkeypatch.setattr(fcl.query, "_fetch", lambda *a: other)
    code, out, _ = run(capsys, "query", UNIT1, "--node", url, "--genesis", str(files["genesis"]))
    assert code == 1 and out.startswith("INVALID: the node's proof is for other keys")
    code, out, _ = run(capsys, "query", ABSENT, "--node", url, "--genesis", str(files["genesis"]),
                       "--height", "6")
    assert code == 1 and out.startswith("INVALID: the node's proof is for height 5, not 6")


def test_bad_input_exits_2(url: str, files: dict[str, Path], capsys: Any, tmp_path: Path) -> None:
    g = str(files["genesis"])
    assert run(capsys, "query", UNIT1, "--genesis", g)[0] == 2  # no --node
    assert run(capsys, "query", "--node", url, "--genesis", g)[0] == 2  # no key
    assert run(capsys, "query", "k" * 513, "--node", url, "--genesis", g)[0] == 2
    assert run(capsys, "query", UNIT1, "--node", url, "--genesis", g, "--height", "0")[0] == 2
    assert run(capsys, "query", UNIT1, "--node", url, "--genesis-hash", "xyz")[0] == 2
    assert run(capsys, "query", UNIT1, "--node", url, "--genesis", str(tmp_path / "none"))[0] == 2
    bad_cp = tmp_path / "cp.json"
    bad_cp.write_text('{"format": "fcl-light-checkpoint"}')
    code, _, err = run(capsys, "query", UNIT1, "--node", url, "--checkpoint", str(bad_cp))
    assert code == 2 and "bad_checkpoint" in err
    assert run(capsys, "query", "--file", str(tmp_path / "none"), "--genesis", g)[0] == 2
    assert run(capsys, "query", "--file", str(files["state"]), UNIT1, "--genesis", g)[0] == 2
    with pytest.raises(SystemExit) as exc:
        fcl_main(["query", UNIT1, "--node", url])  # no anchor
    assert exc.value.code == 2
    with pytest.raises(SystemExit):
        fcl_main(["query", UNIT1, "--node", url, "--genesis", g, "--genesis-hash", "ab" * 32])
    capsys.readouterr()


def test_an_unreachable_or_refusing_node_exits_3(url: str, files: dict[str, Path], capsys: Any) -> None:
    g = str(files["genesis"])
    code, _, err = run(capsys, "query", UNIT1, "--node", f"http://127.0.0.1:{free_port()}",
                       "--genesis", g, "--timeout", "2")
    assert code == 3 and "error:" in err
    code, _, err = run(capsys, "query", UNIT1, "--node", url, "--genesis", g, "--height", "99999")
    assert code == 3 and "beyond_chain" in err


# -- fcl verify of holding proofs ---------------------------------------------------------------
def test_verify_prints_holder_and_status_of_a_holding_proof(
        pw: ProofWorld, files: dict[str, Path], capsys: Any, tmp_path: Path) -> None:
    code, out, err = run(capsys, "verify", str(files["holding"]), "--genesis", str(files["genesis"]))
    assert code == 0, out + err
    assert out.splitlines()[0] == "VALID"
    assert "CCER-AH-0001-2022-000000350-000000360  11 t  retired    held by buyer-power" in out
    assert "CCER-AH-0001-2022-000000361-000000400  40 t  listed     held by owner-farm" in out
    assert "CCER-AH-0001-2022-000000401-000000450  50 t  active     held by owner-farm" in out
    assert f"CCER-AH-0001-2022-{FROZEN[0]:09d}-{FROZEN[1]:09d}  10 t  frozen" in out
    code, out, _ = run(capsys, "verify", str(files["holding"]), "--checkpoint", str(files["checkpoint"]),
                       "--json")
    assert code == 0 and json.loads(out)["summary"]["ranges"][0]["status"] == "retired"
    # one byte changed: invalid
    data = files["holding"].read_bytes().replace(b'"buyer-power"', b'"buyer-powez"', 1)
    bad = tmp_path / "bad.json"
    bad.write_bytes(data)
    code, out, _ = run(capsys, "verify", str(bad), "--genesis-hash", pw.genesis.hash)
    assert code == 1 and out.startswith("INVALID: proofs: value_not_proven")
    # a gap: one record removed
    obj = decode(files["holding"].read_bytes())
    del obj["state_proof"]["entries"][1]
    bad.write_bytes(canonical(obj))
    code, out, _ = run(capsys, "verify", str(bad), "--genesis-hash", pw.genesis.hash)
    assert code == 1 and out.startswith("INVALID: coverage: holding_not_covered")
    # a state-proof file is verified as one; a certificate may not use a checkpoint
    code, out, _ = run(capsys, "verify", str(files["state"]), "--genesis", str(files["genesis"]))
    assert code == 0 and f"{UNIT1}: absent" in out
    cert = tmp_path / "cert.json"
    cert.write_text('{"format": "fcl-retirement-certificate"}')
    code, _, err = run(capsys, "verify", str(cert), "--checkpoint", str(files["checkpoint"]))
    assert code == 2 and "checkpoint" in err
    code, _, _ = run(capsys, "verify", str(cert), "--genesis", str(files["genesis"]))
    assert code == 1


def test_fcl_query_process_against_the_served_node(pw: ProofWorld, url: str, files: dict[str, Path]) -> None:
    """The real command in its own process, against the node's API over HTTP."""
    proc = subprocess.run([*fcl_command(), "query", UNIT1, ABSENT, "--node", url,
                           "--genesis-hash", pw.genesis.hash, "--json"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    verdict = json.loads(proc.stdout)
    assert verdict["ok"] and [e["present"] for e in verdict["summary"]["entries"]] == [True, False]
    proc = subprocess.run([*fcl_command(), "query", UNIT1, "--node", url, "--genesis-hash", "ab" * 32],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "wrong_genesis" in proc.stdout
