"""``fcl testnet``: the genesis (one operator organisation per validator, validator
operators, default parameters), the node homes and their configs, encrypted keys, and
the refusals."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from chaincode.executor import Executor
from chaincode.params import DEFAULT_PARAMS
from fcl.testnet.files import create_testnet, load_testnet
from ledger.genesis import Genesis
from node.home import HomeError, NodeHome

PASS = "testnet passphrase"


def test_create_testnet_writes_genesis_homes_and_configs(tmp_path: Path) -> None:
    nodes = create_testnet(tmp_path / "net", validators=4, passphrase=PASS, base_port=31000,
                           scrypt_n=2)
    root = tmp_path / "net"
    genesis = Genesis.load(root / "genesis.json")
    assert [v.name for v in genesis.validators.validators] == ["node0", "node1", "node2", "node3"]
    orgs = {o["id"]: o for o in genesis.app_state["organisations"]}
    assert orgs["regulator"]["roles"] == ["regulator"]
    assert orgs["exchange"]["roles"] == ["exchange"]
    assert orgs["verifier-1"]["accreditation"] == "CNCA-V-001"
    assert orgs["verifier-2"]["roles"] == ["verifier"]
    operators = genesis.app_state["validator_operators"]
    assert [operators[n.validator_key] for n in nodes] == [
        "regulator", "exchange", "verifier-1", "verifier-2"]
    assert genesis.app_state["params"] == DEFAULT_PARAMS
    Executor().genesis_writes(genesis)
    assert load_testnet(root) == nodes
    for i, node in enumerate(nodes):
        home = NodeHome(root / f"node{i}")
        config = home.load_config()
        assert home.load_genesis().hash == genesis.hash
        assert (config.rpc_host, config.rpc_port) == ("127.0.0.1", 31000 + i)
        assert config.p2p_port == 31100 + i
        peers = config.peer_addresses()
        assert len(peers) == 3 and node.validator_key not in {p.pub_key for p in peers}
        assert {p.port for p in peers} == {31100 + j for j in range(4) if j != i}
        # documents (docs/documents.md): fetched from the other validators' APIs
        assert config.document_peers == tuple(f"http://127.0.0.1:{31000 + j}"
                                              for j in range(4) if j != i)
        key_file = (home.keys_dir / "validator.json").read_text()
        assert node.validator_key in key_file and "ciphertext" in key_file
        admin = (home.wallet_dir / f"{node.org_id}.json").read_text()
        assert node.admin_key in admin
        assert orgs[node.org_id]["admins"] == [node.admin_key]


def test_create_testnet_refusals(tmp_path: Path) -> None:
    create_testnet(tmp_path / "net", validators=1, passphrase=PASS, scrypt_n=2)
    with pytest.raises(HomeError) as err:
        create_testnet(tmp_path / "net", validators=1, passphrase=PASS, scrypt_n=2)
    assert err.value.code == "already_initialised"
    for kwargs in ({"validators": 0}, {"validators": 65}, {"validators": 2, "base_port": 65500}):
        with pytest.raises(HomeError) as err:
            create_testnet(tmp_path / "other", passphrase=PASS, scrypt_n=2,
                           **{"validators": 1, **kwargs})
        assert err.value.code == "bad_config"
    assert not (tmp_path / "other" / "genesis.json").exists()


def fcl(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fcl", *args], capture_output=True,
                          text=True, timeout=120, env=env)


def test_fcl_testnet_command(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "FCL_PASSPHRASE"}
    pp = tmp_path / "pp"
    pp.write_text(PASS + "\n")
    out = tmp_path / "net"
    res = fcl("testnet", "--validators", "2", "--out", str(out), "--base-port", "32000",
              "--passphrase-file", str(pp), env=env)
    assert res.returncode == 0, res.stderr
    assert "node1: rpc http://127.0.0.1:32001" in res.stdout and "p2p 127.0.0.1:32101" in res.stdout
    summary = json.loads((out / "testnet.json").read_text())
    assert [n["org_id"] for n in summary["nodes"]] == ["regulator", "exchange"]
    again = fcl("testnet", "--validators", "2", "--out", str(out), "--passphrase-file", str(pp),
                env=env)
    assert again.returncode == 1 and "already_initialised" in again.stderr
    bad = fcl("testnet", "--validators", "0", "--out", str(tmp_path / "x"), env=env)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    helps = fcl("--help", env=env)
    for command in ("testnet", "bench", "node"):
        assert command in helps.stdout
