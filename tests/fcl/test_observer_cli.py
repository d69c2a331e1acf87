"""``fcl node init --observer`` and ``fcl testnet --observers K``: the observer homes
(config ``observer: true``, a node key, the validators as peers), their enrolment in the
genesis, the refusals, and ``fcl node start`` refusing an observer whose key is a
validator's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chaincode.executor import Executor
from fcl.testnet.files import create_testnet, load_testnet
from ledger.genesis import Genesis
from node.home import HomeError, NodeHome
from tests.support.fcl_process import PASSPHRASE, clean_env, run

PASS = "observer passphrase"


def test_create_testnet_with_observers(tmp_path: Path) -> None:
    root = tmp_path / "net"
    nodes = create_testnet(root, validators=4, observers=2, passphrase=PASS,
                           base_port=33000, scrypt_n=2)
    assert [n.moniker for n in nodes] == ["node0", "node1", "node2", "node3",
                                          "observer0", "observer1"]
    assert [n.observer for n in nodes] == [False] * 4 + [True] * 2
    assert load_testnet(root) == nodes
    genesis = Genesis.load(root / "genesis.json")
    validators, observers = nodes[:4], nodes[4:]
    assert genesis.app_state["observers"] == [
        {"node_key": o.validator_key, "org_id": "regulator", "moniker": o.moniker}
        for o in observers]
    assert all(genesis.validators.power_of(o.validator_key) == 0 for o in observers)
    writes = dict(Executor().genesis_writes(genesis))
    for o in observers:
        assert b'"status":"active"' in (writes[f"observer/{o.validator_key}"] or b"")
    validator_peers = {f"{v.validator_key}@127.0.0.1:{v.p2p_port}" for v in validators}
    for j, o in enumerate(observers):
        home = NodeHome(root / f"observer{j}")
        config = home.load_config()
        assert config.observer is True and config.validator_key == "node"
        assert (config.rpc_port, config.p2p_port) == (33004 + j, 33104 + j)
        assert set(config.peers) == validator_peers
        assert config.document_peers == tuple(f"http://127.0.0.1:{33000 + i}" for i in range(4))
        assert home.load_genesis().hash == genesis.hash
        assert o.validator_key in (home.keys_dir / "node.json").read_text()
        assert not home.wallet_dir.exists() and o.admin_key == ""
    for i in range(4):  # the validators do not list the observers: the genesis admits them
        config = NodeHome(root / f"node{i}").load_config()
        assert config.observer is False
        assert not any(o.validator_key in p for o in observers for p in config.peers)


def test_create_testnet_observer_refusals(tmp_path: Path) -> None:
    for kwargs in ({"observers": -1}, {"observers": 33}, {"observers": 2, "base_port": 65434}):
        with pytest.raises(HomeError) as err:
            create_testnet(tmp_path / "x", validators=1, passphrase=PASS, scrypt_n=2,
                           **kwargs)  # type: ignore[arg-type]
        assert err.value.code == "bad_config"
    assert not (tmp_path / "x" / "genesis.json").exists()
    # no observers: the genesis has no observers entry (existing networks unchanged)
    create_testnet(tmp_path / "y", validators=1, passphrase=PASS, scrypt_n=2)
    assert "observers" not in Genesis.load(tmp_path / "y" / "genesis.json").app_state


def test_fcl_testnet_observers_and_node_init_observer(tmp_path: Path) -> None:
    env = clean_env()
    pp = tmp_path / "pp"
    pp.write_text(PASSPHRASE + "\n")
    pp.chmod(0o600)
    out = tmp_path / "net"
    res = run("testnet", "--validators", "2", "--observers", "1", "--out", str(out),
              "--base-port", "34000", "--passphrase-file", str(pp), env=env)
    assert res.returncode == 0, res.stderr
    assert "2 validators and 1 observer" in res.stdout
    assert "observer0: rpc http://127.0.0.1:34002" in res.stdout
    bad = run("testnet", "--validators", "2", "--observers", "99", "--out",
              str(tmp_path / "y"), env=env)
    assert bad.returncode == 2 and "observers" in bad.stderr and "Traceback" not in bad.stderr

    # fcl node init --observer: needs the network's genesis
    no_genesis = run("node", "init", "--home", str(tmp_path / "o0"), "--observer",
                     "--passphrase-file", str(pp), env=env)
    assert no_genesis.returncode == 2 and "bad_config" in no_genesis.stderr
    assert "--genesis" in no_genesis.stderr
    assert not (tmp_path / "o0" / "config.json").exists()
    v0 = load_testnet(out)[0]
    peer = f"{v0.validator_key}@127.0.0.1:{v0.p2p_port}"
    res = run("node", "init", "--home", str(tmp_path / "o1"), "--observer", "--moniker",
              "audit-1", "--genesis", str(out / "genesis.json"), "--peer", peer,
              "--passphrase-file", str(pp), env=env)
    assert res.returncode == 0, res.stderr
    config = json.loads((tmp_path / "o1" / "config.json").read_text())
    assert config["observer"] is True and config["validator_key"] == "node"
    assert config["p2p"]["peers"] == [peer]
    key = json.loads((tmp_path / "o1" / "keys" / "node.json").read_text())["public_key"]
    assert f"node key:        {key}" in res.stdout
    assert "enrol_observer" in res.stdout and key in res.stdout
    assert "validator key" not in res.stdout and "warning" not in res.stderr

    # an observer home whose key is a validator's refuses to start, with a clear error
    path = out / "node1" / "config.json"
    cfg = json.loads(path.read_text())
    path.write_text(json.dumps({**cfg, "observer": True}))
    start = run("node", "start", "--home", str(out / "node1"), "--passphrase-file", str(pp),
                env=env)
    assert start.returncode == 1
    assert "error: observer_is_validator:" in start.stderr and "Traceback" not in start.stderr
    assert load_testnet(out)[1].validator_key[:16] in start.stderr  # names node1's key
