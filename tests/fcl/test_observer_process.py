"""An observer as a real process: ``fcl testnet --validators 4 --observers 1`` and
``fcl node start`` for each home. Under transactions sent to the validators over HTTP the
observer follows, serves /v1/status, the explorer dashboard and the blocks (the same
hashes and state roots as the validators'), and sends no consensus frame. Every wait has
a deadline; every process is killed in teardown."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import fcl.testnet.files as testnet_files
from fcl.bench import pick_base_port
from ledger.crypto import sha256
from ledger.tx import build_transaction
from tests.support.fcl_process import (
    FAST_TIMEOUTS,
    PASSPHRASE,
    clean_env,
    fcl_command,
    run,
    wait_until,
)
from tests.support.network import metric
from wallet.keystore import Keystore

pytestmark = pytest.mark.slow

TIMEOUTS = FAST_TIMEOUTS


def get(node: testnet_files.TestnetNode, path: str) -> httpx.Response:
    return httpx.get(f"{node.rpc_url}{path}", timeout=5)


@pytest.fixture
def network(tmp_path: Path) -> Iterator[tuple[list[testnet_files.TestnetNode], list[subprocess.Popen]]]:
    pp = tmp_path / "pp"
    pp.write_text(PASSPHRASE + "\n")
    pp.chmod(0o600)
    res = run("testnet", "--validators", "4", "--observers", "1", "--out",
              str(tmp_path / "net"), "--base-port", str(pick_base_port(5)),
              "--passphrase-file", str(pp), env=clean_env())
    assert res.returncode == 0, res.stderr
    nodes = testnet_files.load_testnet(tmp_path / "net")
    for node in nodes:
        path = node.home / "config.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), "consensus": TIMEOUTS}))
    procs: list[subprocess.Popen] = []
    try:
        for node in nodes:
            log = open(tmp_path / f"{node.moniker}.log", "wb")  # noqa: SIM115
            procs.append(subprocess.Popen(
                [*fcl_command(), "node", "start", "--home", str(node.home),
                 "--passphrase-file", str(pp)],
                stdout=subprocess.DEVNULL, stderr=log, stdin=subprocess.DEVNULL,
                env=clean_env()))
        for node, proc in zip(nodes, procs, strict=True):
            def healthy(node: testnet_files.TestnetNode = node, proc: subprocess.Popen = proc) -> bool:
                assert proc.poll() is None, (tmp_path / f"{node.moniker}.log").read_text()
                try:
                    return get(node, "/healthz").status_code == 200
                except httpx.HTTPError:
                    return False
            wait_until(healthy, 90, f"{node.moniker} to serve its API")
        yield nodes, procs
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for node, proc in zip(nodes, procs, strict=True):
            assert proc.wait(60) == 0, (tmp_path / f"{node.moniker}.log").read_text()[-2000:]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(30)


def test_an_observer_process_follows_and_serves_reads(network) -> None:
    nodes, _ = network
    validators, observer = nodes[:4], nodes[4]
    assert observer.observer and not any(v.observer for v in validators)
    wait_until(lambda: get(observer, "/v1/status").json()["peer_count"] == 4, 30,
               "the observer connected to the 4 validators")
    key = Keystore(validators[0].home / "wallet").load(validators[0].org_id, PASSPHRASE)
    client = httpx.Client(timeout=10)
    sent: list[str] = []
    lag = 0
    for batch_no in range(16):
        batch = [build_transaction(
            chain_id="fcl-testnet", contract="notary", method="record",
            args={"name": f"obs-{batch_no}-{i}",
                  "sha256": sha256(f"{batch_no}:{i}".encode()).hex()},
            nonce="n", keys=[key]) for i in range(10)]
        target = validators[batch_no % 4]
        resp = client.post(f"{target.rpc_url}/v1/txs/batch",
                           json={"txs": [tx.to_json() for tx in batch]})
        assert resp.status_code == 200, resp.text
        sent += [r["tx_id"] for r in resp.json()["results"] if r["ok"]]
        time.sleep(0.3)
        top = max(get(v, "/v1/status").json()["height"] for v in validators)
        lag = max(lag, top - get(observer, "/v1/status").json()["height"])
    assert len(sent) == 160
    assert lag <= 5, f"the observer fell {lag} blocks behind"
    wait_until(lambda: all(get(observer, f"/v1/txs/{t}").status_code == 200 for t in sent[-10:]),
               60, "the last transactions on the observer")
    status = get(observer, "/v1/status").json()
    assert status["observer"] is True and status["validator"]["power"] == 0
    height = min(status["height"], *(get(v, "/v1/status").json()["height"] for v in validators))
    for h in (1, height // 2 or 1, height):
        mine = get(observer, f"/v1/blocks/{h}").json()
        for v in validators:
            theirs = get(v, f"/v1/blocks/{h}").json()
            assert (mine["hash"], mine["block"]["header"]["state_root"]) == (
                theirs["hash"], theirs["block"]["header"]["state_root"])
    dash = get(observer, "/v1/explorer/dashboard")
    assert dash.status_code == 200 and dash.json()["height"] >= height
    assert get(observer, "/explorer/").status_code == 200
    metrics = get(observer, "/metrics").text
    assert metric(metrics, 'fcl_p2p_frames_sent_total{type="consensus"}') == 0
    assert metric(metrics, 'fcl_p2p_frames_received_total{type="consensus"}') > 0
