"""``fcl light --follow`` as a real process against a running node (``fcl node start``):
it follows new heights, stops on SIGINT with its checkpoint saved, and a second run resumes
from that checkpoint without verifying from the genesis again. One bounded test."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
from pathlib import Path

from ledger.header_chain import TrustedState
from tests.support.fcl_process import clean_env, fcl_command, run, wait_until
from tests.support.running_node import RunningNode, node_fixture

node = node_fixture()


def _heights(lines: list[str]) -> list[int]:
    return [json.loads(line)["height"] for line in lines]


def test_follow_stop_and_resume_from_the_saved_checkpoint(node: RunningNode, tmp_path: Path) -> None:
    genesis = str(node.home / "genesis.json")
    cp = tmp_path / "light.json"
    first = node.block_of_txs(2)
    proc = subprocess.Popen(
        [*fcl_command(), "light", "--node", node.url, "--genesis", genesis, "--follow",
         "--poll", "0.2", "--sequential", "--save", str(cp), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env(),
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")),
                              daemon=True)
    reader.start()
    try:
        wait_until(lambda: bool(lines) and _heights(lines)[-1] >= first, 30, "the first heights")
        second = node.block_of_txs(2)
        third = node.block_of_txs(1)
        assert first < second < third
        wait_until(lambda: _heights(lines)[-1] >= third, 30, "the client to follow new heights")
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    reader.join(timeout=5)
    assert proc.returncode == 0, err
    assert _heights(lines) == list(range(1, third + 1))  # sequential: every height, once
    saved = TrustedState.from_json(json.loads(cp.read_text()))
    assert saved.height == third and f"stopped at height {third}" in err

    # resumed from the checkpoint: only the new heights are fetched and printed
    fourth = node.block_of_txs(1)
    res = run("light", "--node", node.url, "--checkpoint", str(cp), "--save", str(cp),
              "--sequential", "--json", env=clean_env())
    assert res.returncode == 0, res.stderr
    assert f"trusting height {third} from the checkpoint" in res.stderr
    assert _heights(res.stdout.splitlines()) == list(range(third + 1, fourth + 1))
    assert TrustedState.from_json(json.loads(cp.read_text())).height == fourth
