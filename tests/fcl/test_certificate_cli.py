"""``fcl verify CERT.json (--genesis FILE | --genesis-hash HEX) [--json]``: exit 0 only for a
valid certificate; the message names the failed check."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from fcl.verify import main, register
from ledger.encoding import canonical
from ledger.genesis import Genesis
from tests.support.certificates import World, genesis_doc, shared_world


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    return shared_world(tmp_path_factory)


@pytest.fixture
def files(world, tmp_path) -> tuple[Path, Path]:
    cert = tmp_path / "cert.json"
    cert.write_bytes(canonical(world.cert(world.compliance_id)))
    genesis = tmp_path / "genesis.json"
    world.chain.genesis.dump(genesis)
    return cert, genesis


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["verify", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_valid_with_genesis_file(files, capsys):
    cert, genesis = files
    code, out, err = run(capsys, str(cert), "--genesis", str(genesis))
    assert code == 0, out
    assert out.splitlines()[0] == "VALID"
    for needle in ("CCER-AH-0001-2022-000000001-000000120", "120 t CO2e", "beneficiary: buyer-steel",
                   "compliance period 2025", "project:     AH-0001", "plots:       P1, P2",
                   "ok   commits"):
        assert needle in out
    assert err == ""


def test_valid_with_genesis_hash_and_json(world, files, capsys):
    cert, _ = files
    code, out, _ = run(capsys, str(cert), "--genesis-hash", world.chain.genesis.hash.upper(),
                       "--json")
    assert code == 0
    verdict = json.loads(out)
    assert verdict["ok"] is True and verdict["code"] is None
    assert verdict["summary"]["ranges"][0]["serial"] == "CCER-AH-0001-2022-000000001-000000120"
    assert verdict["summary"]["quantity"] == 120


def test_invalid_names_the_failed_check(world, files, capsys):
    cert_path, genesis = files
    cert = world.cert(world.compliance_id)
    cert["commits"][str(cert["retirement"]["height"])]["signatures"].pop()
    cert_path.write_bytes(canonical(cert))
    code, out, _ = run(capsys, str(cert_path), "--genesis", str(genesis))
    assert code == 1
    assert out.splitlines()[0].startswith("INVALID: commits: block ")
    assert "insufficient_power" in out.splitlines()[0]
    assert "FAIL commits" in out and "CCER-" not in out  # no summary for an invalid one
    code, out, _ = run(capsys, str(cert_path), "--genesis", str(genesis), "--json")
    assert code == 1 and json.loads(out)["code"] == "commits"


def test_one_changed_byte(world, files, capsys):
    cert_path, genesis = files
    data = bytearray(cert_path.read_bytes())
    i = data.index(b'"quantity":120') + len(b'"quantity":1')
    data[i] ^= 0x01  # 120 -> 130
    cert_path.write_bytes(bytes(data))
    code, out, _ = run(capsys, str(cert_path), "--genesis", str(genesis))
    assert code == 1 and out.startswith("INVALID: ")


def test_another_networks_genesis(files, tmp_path, capsys):
    cert, _ = files
    other = tmp_path / "other.json"
    Genesis.from_json(genesis_doc("fcl-other")).dump(other)
    code, out, _ = run(capsys, str(cert), "--genesis", str(other))
    assert code == 1 and out.startswith("INVALID: genesis: ")


def test_not_a_certificate(files, tmp_path, capsys):
    _, genesis = files
    junk = tmp_path / "junk.json"
    junk.write_text("not json")
    code, out, _ = run(capsys, str(junk), "--genesis", str(genesis))
    assert code == 1 and out.startswith("INVALID: format: ")


@pytest.mark.parametrize("case", ["missing_cert", "missing_genesis", "bad_genesis", "bad_hash"])
def test_bad_input_exits_2_without_traceback(files, tmp_path, capsys, case):
    cert, genesis = files
    bad = tmp_path / "bad-genesis.json"
    bad.write_text('{"chain_id": 1}')
    argv = {
        "missing_cert": [str(tmp_path / "nope.json"), "--genesis", str(genesis)],
        "missing_genesis": [str(cert), "--genesis", str(tmp_path / "nope.json")],
        "bad_genesis": [str(cert), "--genesis", str(bad)],
        "bad_hash": [str(cert), "--genesis-hash", "abc"],
    }[case]
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and "Traceback" not in err


def test_genesis_or_hash_is_required(files, capsys):
    cert, genesis = files
    with pytest.raises(SystemExit) as exc:
        main(["verify", str(cert)])
    assert exc.value.code == 2
    with pytest.raises(SystemExit):
        main(["verify", str(cert), "--genesis", str(genesis), "--genesis-hash", "00" * 32])
    capsys.readouterr()


def test_register_adds_verify_to_a_parser(files):
    parser = argparse.ArgumentParser(prog="fcl")
    sub = parser.add_subparsers(dest="command", required=True)
    register(sub)
    cert, genesis = files
    args = parser.parse_args(["verify", str(cert), "--genesis", str(genesis)])
    assert args.func(args) == 0


@pytest.mark.parametrize("version", [1, 2])
def test_output_states_the_version_and_whether_custody_is_complete(world, tmp_path, capsys,
                                                                   version):
    cert = tmp_path / "cert.json"
    cert.write_bytes(canonical(world.cert(world.voluntary_id, version)))
    code, out, _ = run(capsys, str(cert), "--genesis-hash", world.chain.genesis.hash)
    assert code == 0 and f"certificate: version {version}" in out
    complete = "custody:     complete, proven from the state at block"
    assert (complete in out) is (version == 2)
    assert ("custody:     at least listing" in out) is (version == 1)
    assert ("ok   custody_proofs" in out) is (version == 2)
    code, out, _ = run(capsys, str(cert), "--genesis-hash", world.chain.genesis.hash, "--json")
    verdict = json.loads(out)
    assert code == 0 and verdict["version"] == version == verdict["summary"]["version"]
    assert verdict["summary"]["custody_complete"] is (version == 2)
