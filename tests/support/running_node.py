"""A solo node started with ``fcl node init`` and ``fcl node start`` in a subprocess (the
``node`` fixture), and a way to commit blocks of notary records on it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ledger.crypto import sha256_hex
from ledger.tx import build_transaction
from tests.support.fcl_process import (
    PASSPHRASE,
    clean_env,
    free_port,
    run,
    start_node,
    stop_node,
    wait_healthy,
)
from wallet.keystore import Keystore

CHAIN = "fcl-audit-e2e"


class RunningNode:
    def __init__(self, home: Path, pp_file: Path, url: str) -> None:
        self.home, self.pp_file, self.url = home, pp_file, url
        self.key = Keystore(home / "wallet").load("regulator", PASSPHRASE)
        self.proc = start_node(home, pp_file)
        wait_healthy(url, self.proc)
        self.sent = 0

    def block_of_txs(self, count: int, *, failing: bool = False) -> int:
        """Send ``count`` notary records in one batch, wait until they are committed, and
        return the height. ``failing`` adds a record of an already recorded name."""
        names = [f"audit-{self.sent + i}" for i in range(count)]
        self.sent += count
        if failing:
            names.append("audit-0")
        txs = [
            build_transaction(chain_id=CHAIN, contract="notary", method="record",
                              args={"name": n, "sha256": sha256_hex(n.encode())},
                              nonce=f"{n}-{self.sent}", keys=[self.key])
            for n in names
        ]
        resp = httpx.post(f"{self.url}/v1/txs/batch",
                          json={"txs": [t.to_json() for t in txs]}, timeout=30)
        assert resp.status_code == 200 and all(r["ok"] for r in resp.json()["results"]), resp.text
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            record = httpx.get(f"{self.url}/v1/txs/{txs[-1].tx_id}", timeout=10).json()
            if record["status"] == "committed":
                return int(record["height"])
            time.sleep(0.05)
        raise AssertionError("transactions were not committed")

    def stop(self) -> None:
        if self.proc.poll() is None:
            stop_node(self.proc)


def node_fixture() -> object:
    """The ``node`` fixture (a fresh solo node per test): ``node = node_fixture()``."""

    @pytest.fixture
    def node(tmp_path: Path) -> Iterator[RunningNode]:
        port = free_port()
        pp_file = tmp_path / "passphrase"
        pp_file.write_text(PASSPHRASE + "\n")
        pp_file.chmod(0o600)
        home = tmp_path / "node0"
        res = run("node", "init", "--home", str(home), "--chain-id", CHAIN, "--rpc-port",
                  str(port), "--passphrase-file", str(pp_file), env=clean_env())
        assert res.returncode == 0, res.stderr
        running = RunningNode(home, pp_file, f"http://127.0.0.1:{port}")
        yield running
        running.stop()

    return node
