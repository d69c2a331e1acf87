"""Four validators as real processes on 127.0.0.1 (``fcl testnet`` + ``fcl node start``),
under a steady load of signed transactions:

1. SIGKILL one validator: the other three keep committing;
2. restart it: it catches up to the same block hashes and state root;
3. SIGKILL two: commits stop, without a fork and without an error in the survivors;
4. restart one of them: commits resume;
5. at the end every transaction the API ever reported committed is in every node's store,
   and all stores hold the same blocks.

Every wait has a deadline and every process is killed in teardown, whatever happens.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from fcl.bench import pick_base_port
from fcl.testnet.files import load_testnet
from ledger.crypto import sha256
from ledger.store import Store
from ledger.tx import build_transaction
from tests.support.fcl_process import FAST_TIMEOUTS, wait_until
from wallet.keystore import Keystore

pytestmark = pytest.mark.slow

PASSPHRASE = "process test passphrase"
TIMEOUTS = FAST_TIMEOUTS


class Net:
    """The testnet and its node processes."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.pp = root / "passphrase"
        self.pp.write_text(PASSPHRASE + "\n")
        self.pp.chmod(0o600)
        base = pick_base_port(4)
        res = subprocess.run(
            [sys.executable, "-m", "fcl", "testnet", "--validators", "4",
             "--out", str(root / "net"), "--base-port", str(base),
             "--passphrase-file", str(self.pp)],
            capture_output=True, text=True, timeout=120, env=self.env(),
        )
        assert res.returncode == 0, res.stderr
        self.nodes = load_testnet(root / "net")
        for node in self.nodes:  # faster rounds for the test
            path = node.home / "config.json"
            config = json.loads(path.read_text())
            config["consensus"] = TIMEOUTS
            path.write_text(json.dumps(config))
        self.procs: list[subprocess.Popen | None] = [None] * 4
        self.logs: list[list[Path]] = [[] for _ in range(4)]
        self.alive: set[int] = set()
        self.lock = threading.Lock()

    @staticmethod
    def env() -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("FCL_PASSPHRASE", "FCL_KEYSTORE")}
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def url(self, i: int) -> str:
        return self.nodes[i].rpc_url

    def start(self, i: int) -> None:
        log = self.root / f"node{i}-{len(self.logs[i])}.log"
        self.logs[i].append(log)
        with open(log, "wb") as f:
            self.procs[i] = subprocess.Popen(
                [sys.executable, "-m", "fcl", "node", "start", "--home",
                 str(self.nodes[i].home), "--passphrase-file", str(self.pp)],
                stdout=subprocess.DEVNULL, stderr=f, stdin=subprocess.DEVNULL, env=self.env(),
            )
        wait_until(lambda: self.healthy(i), 90, f"node{i} to serve its API")
        with self.lock:
            self.alive.add(i)

    def healthy(self, i: int) -> bool:
        proc = self.procs[i]
        assert proc is not None
        if proc.poll() is not None:
            raise AssertionError(f"node{i} exited with {proc.returncode}: "
                                 f"{self.logs[i][-1].read_text()[-2000:]}")
        try:
            return httpx.get(f"{self.url(i)}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def kill(self, i: int) -> None:
        with self.lock:
            self.alive.discard(i)
        proc = self.procs[i]
        assert proc is not None and proc.poll() is None
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)

    def stop(self, i: int) -> int:
        with self.lock:
            self.alive.discard(i)
        proc = self.procs[i]
        assert proc is not None
        proc.send_signal(signal.SIGTERM)
        return proc.wait(60)

    def kill_all(self) -> None:
        for proc in self.procs:
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(30)

    def status(self, i: int) -> dict:
        return httpx.get(f"{self.url(i)}/v1/status", timeout=5).json()

    def height(self, i: int) -> int:
        return int(self.status(i)["height"])

    def block(self, i: int, height: int) -> dict:
        return httpx.get(f"{self.url(i)}/v1/blocks/{height}", timeout=10).json()


class Load:
    """Submits signed transactions to live validators and records, from the blocks the
    API serves, every transaction id reported committed."""

    def __init__(self, net: Net) -> None:
        self.net = net
        node0 = net.nodes[0]
        self.key = Keystore(node0.home / "wallet").load(node0.org_id, PASSPHRASE)
        self.submitted: set[str] = set()
        self.committed: set[str] = set()
        self.seen_height = 0
        self.errors: list[str] = []
        self.running = True
        self.threads = [threading.Thread(target=self._submit, daemon=True),
                        threading.Thread(target=self._watch, daemon=True)]
        self.counter = 0

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def stop(self) -> None:
        self.running = False
        for t in self.threads:
            t.join(30)

    def _targets(self) -> list[int]:
        with self.net.lock:
            return sorted(self.net.alive)

    def _submit(self) -> None:
        client = httpx.Client(timeout=10)
        turn = 0
        while self.running:
            targets = self._targets()
            if not targets:
                time.sleep(0.1)
                continue
            i = targets[turn % len(targets)]
            turn += 1
            batch = []
            for _ in range(15):
                self.counter += 1
                batch.append(build_transaction(
                    chain_id="fcl-testnet", contract="notary", method="record",
                    args={"name": f"p-{self.counter}",
                          "sha256": sha256(str(self.counter).encode()).hex()},
                    nonce="n", keys=[self.key]))
            try:
                resp = client.post(f"{self.net.url(i)}/v1/txs/batch",
                                   json={"txs": [tx.to_json() for tx in batch]})
                for result in resp.json()["results"]:
                    if result["ok"]:
                        self.submitted.add(result["tx_id"])
            except (httpx.HTTPError, ValueError, KeyError):
                pass  # the node may just have been killed
            time.sleep(0.1)
        client.close()

    def _watch(self) -> None:
        client = httpx.Client(timeout=10)
        while self.running:
            for i in self._targets():
                try:
                    latest = client.get(f"{self.net.url(i)}/v1/status").json()["height"]
                    while self.seen_height < latest:
                        h = self.seen_height + 1
                        block = client.get(f"{self.net.url(i)}/v1/blocks/{h}").json()["block"]
                        self.committed.update(r["tx_id"] for r in block["results"])
                        self.seen_height = h
                    break
                except (httpx.HTTPError, ValueError, KeyError):
                    continue
            time.sleep(0.1)
        client.close()


@pytest.fixture
def net(tmp_path: Path):
    network = Net(tmp_path)
    try:
        yield network
    finally:
        network.kill_all()


def test_kill_restart_and_no_committed_transaction_lost(net: Net) -> None:
    load = Load(net)
    try:
        for i in range(4):
            net.start(i)
        wait_until(lambda: all(net.status(i)["peer_count"] == 3 for i in range(4)), 60,
                   "a full mesh")
        load.start()
        wait_until(lambda: len(load.committed) >= 150, 60, "the first commits")

        # 1. one validator dies: the other three keep committing
        net.kill(3)
        h = net.height(0)
        before = len(load.committed)
        wait_until(lambda: net.height(0) >= h + 3 and len(load.committed) > before + 100, 90,
                   "commits with node3 down")

        # 2. it comes back and catches up to the same chain
        net.start(3)
        target = net.height(0)
        wait_until(lambda: net.height(3) >= target, 90, "node3 to catch up")
        top = net.height(3)
        for height in range(1, top + 1, max(1, top // 10)):
            assert net.block(3, height)["hash"] == net.block(0, height)["hash"]
        assert net.block(3, top)["block"]["header"]["state_root"] == \
            net.block(0, top)["block"]["header"]["state_root"]

        # 3. two die: no quorum, commits stop; the survivors neither fork nor fail
        net.kill(2)
        net.kill(3)
        time.sleep(2)  # a block already decided may still be committed
        stalled = (net.height(0), net.height(1))
        time.sleep(6)
        assert (net.height(0), net.height(1)) == stalled
        assert stalled[0] == stalled[1] or abs(stalled[0] - stalled[1]) == 1
        common = min(stalled)
        assert net.block(0, common)["hash"] == net.block(1, common)["hash"]
        for i in (0, 1):
            assert httpx.get(f"{net.url(i)}/healthz", timeout=5).status_code == 200

        # 4. one returns: commits resume
        net.start(2)
        wait_until(lambda: net.height(0) > max(stalled) + 1, 120, "commits to resume")
    finally:
        load.stop()

    # 5. bring node3 back, let everyone agree, stop cleanly, and check every store
    net.start(3)
    final = net.height(0)
    wait_until(lambda: min(net.height(i) for i in range(4)) >= final, 120,
               "all four at the same height")
    assert len(load.committed & load.submitted) >= 300, "the load did not get through"
    for i in range(4):
        assert net.stop(i) == 0, net.logs[i][-1].read_text()[-2000:]
    stores = [Store(node.home / "data") for node in net.nodes]
    try:
        top = min(s.latest_height() for s in stores)
        assert top >= final
        for height in range(1, top + 1):
            hashes = {s.get_block_hash(height) for s in stores}
            assert len(hashes) == 1, f"fork at height {height}"
        roots = {s.get_block(top).header.state_root for s in stores}
        assert len(roots) == 1
        for s in stores:
            missing = [t for t in load.committed if s.get_tx_location(t) is None]
            assert not missing, f"{len(missing)} committed transactions missing"
    finally:
        for s in stores:
            s.close()
    for i in range(4):
        for log in net.logs[i]:
            lines = log.read_text().splitlines()
            for n, line in enumerate(lines):
                try:
                    entry = json.loads(line)
                except ValueError:
                    assert n == len(lines) - 1, (log.name, line)  # cut by SIGKILL
                    continue
                assert entry["level"] not in ("error", "critical"), (log.name, entry)
