"""``fcl audit`` against a real node: ``fcl node init`` and ``fcl node start`` as a process on
a free 127.0.0.1 port, transactions signed with the dev regulator key, then the audit over
HTTP (with the prefetching fetcher), on the data folder while the node runs (refused) and
after it stopped (same verdict as over HTTP)."""

from __future__ import annotations

import argparse
import json

import httpx
import pytest

from fcl.audit.cli import EXIT_OK, EXIT_UNABLE, register
from tests.support.running_node import RunningNode, node_fixture

node = node_fixture()


def fcl_audit(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="fcl")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["audit", *argv])
    return int(args.func(args))


def test_audit_a_running_node_then_its_data_folder(node: RunningNode, capsys) -> None:
    heights = [node.block_of_txs(3, failing=(i == 1)) for i in range(4)]
    assert heights == sorted(set(heights))  # one block per batch
    genesis = str(node.home / "genesis.json")
    checkpoint = node.home.parent / "checkpoint.json"
    assert fcl_audit("--node", node.url, "--genesis", genesis, "--json",
                     "--write-checkpoint", str(checkpoint)) == EXIT_OK
    over_http = json.loads(capsys.readouterr().out)
    assert over_http["ok"] and over_http["final_height"] >= heights[-1]
    assert over_http["txs"] == 13 and over_http["failed_txs"] == 1
    status = httpx.get(f"{node.url}/v1/status").json()
    assert over_http["final_block_hash"] == status["latest_block_hash"]
    assert over_http["final_state_root"] == status["state_root"]
    assert json.loads(checkpoint.read_text())["height"] == over_http["final_height"]

    # LevelDB allows one process: the data folder of a running node is refused, clearly
    assert fcl_audit("--data", str(node.home / "data"), "--genesis", genesis) == EXIT_UNABLE
    err = capsys.readouterr().err
    assert "error: store_locked: " in err and "--node" in err and "Traceback" not in err

    node.stop()
    assert fcl_audit("--data", str(node.home), "--genesis", genesis, "--json") == EXIT_OK
    offline = json.loads(capsys.readouterr().out)
    for key in ("final_height", "final_block_hash", "final_state_root", "history_root", "txs"):
        assert offline[key] == over_http[key], key


def test_checkpoint_check_against_a_running_node(node: RunningNode, capsys) -> None:
    probe = httpx.get(f"{node.url}/v1/history/consistency?old_size=0&new_size=0")
    if probe.status_code == 404 and probe.json()["error"]["code"] == "not_found":
        pytest.skip("node/api/rpc.py does not include the history router yet")
    genesis = str(node.home / "genesis.json")
    for _ in range(3):
        node.block_of_txs(2)
    checkpoint = node.home.parent / "checkpoint.json"
    assert fcl_audit("--node", node.url, "--genesis", genesis, "--write-checkpoint",
                     str(checkpoint)) == EXIT_OK
    for _ in range(3):
        node.block_of_txs(2)
    capsys.readouterr()
    assert fcl_audit("--node", node.url, "--genesis", genesis, "--since-checkpoint",
                     str(checkpoint), "--json") == EXIT_OK
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["validator_set_source"] == "checkpoint"
    assert report["new_checkpoint"]["height"] == report["latest_height"]
    # the new checkpoint, written at the tip of a chain that has gone idle, checks at once
    tip = node.home.parent / "tip.json"
    assert fcl_audit("--node", node.url, "--genesis", genesis, "--since-checkpoint",
                     str(checkpoint), "--write-checkpoint", str(tip)) == EXIT_OK
    capsys.readouterr()
    assert fcl_audit("--node", node.url, "--genesis", genesis, "--since-checkpoint",
                     str(tip), "--json") == EXIT_OK
    assert json.loads(capsys.readouterr().out)["ok"]
    saved = json.loads(checkpoint.read_text())
    forged = f"{saved['height']}:{'ee' * 32}"
    assert fcl_audit("--node", node.url, "--genesis", genesis, "--since-checkpoint",
                     forged) == 3
    assert "checkpoint_root" in capsys.readouterr().err
