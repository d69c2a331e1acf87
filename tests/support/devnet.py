"""Helpers shared by the devnet and browser tests (no tests in this module).

* :class:`ChainNode` -- an in-process stand-in for a node's RPC (``POST /v1/txs/batch``,
  ``GET /v1/txs/{id}``) over the chaincode ``Harness``: every batch becomes one block
  executed by the real Executor, so the sample runs through the real contracts without
  any process or socket.
* ``fcl devnet`` as a subprocess: :func:`devnet_argv`, :func:`free_base_port`,
  :func:`run_devnet_once`, :class:`ServingDevnet`.
"""

from __future__ import annotations

import json
import os
import queue
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from ledger.encoding import canonical, decode
from ledger.errors import LedgerError
from ledger.tx import Transaction, parse_transaction
from tests.support.harness import Harness
from wallet.client import NodeClient

# --------------------------------------------------------------------------- in-process node


class ChainNode:
    """A fake node RPC over a Harness. ``fail_after_batches`` makes the N+1st batch request
    answer 503 (a node going away), to test resuming."""

    def __init__(self, harness: Harness, fail_after_batches: int | None = None) -> None:
        self.h = harness
        self.committed: dict[str, dict[str, Any]] = {}
        self.batches = 0
        self.submitted: list[str] = []
        self.duplicates: list[str] = []
        self.fail_after_batches = fail_after_batches

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def client(self, url: str) -> NodeClient:
        return NodeClient(url, transport=self.transport(), sleep=lambda s: None)

    @staticmethod
    def _error(status: int, code: str, message: str) -> httpx.Response:
        return httpx.Response(status, json={"error": {"code": code, "message": message}})

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.method == "POST" and path == "/v1/txs/batch":
            if self.fail_after_batches is not None and self.batches >= self.fail_after_batches:
                return self._error(503, "unavailable", "the node is stopping")
            self.batches += 1
            return self._batch(decode(request.content)["txs"])
        match = re.fullmatch(r"/v1/txs/([0-9a-f]{64})", path)
        if request.method == "GET" and match:
            record = self.committed.get(match.group(1))
            if record is None:
                return self._error(404, "unknown_tx", "no such transaction")
            return httpx.Response(200, content=canonical(record),
                                  headers={"content-type": "application/json"})
        return self._error(404, "not_found", f"{request.method} {path}")

    def _batch(self, bodies: list[Any]) -> httpx.Response:
        outcomes: list[dict[str, Any]] = []
        admitted: list[Transaction] = []
        for index, body in enumerate(bodies):
            try:
                tx = parse_transaction(body, chain_id=self.h.genesis.chain_id)
                tx.verify_signatures()
            except LedgerError as exc:
                outcomes.append({"index": index, "ok": False,
                                 "error": {"code": exc.code, "message": exc.message}})
                continue
            if tx.tx_id in self.committed or any(t.tx_id == tx.tx_id for t in admitted):
                self.duplicates.append(tx.tx_id)
                outcomes.append({"index": index, "ok": False, "error": {
                    "code": "duplicate_tx", "message": "already committed"}})
                continue
            admitted.append(tx)
            self.submitted.append(tx.tx_id)
            outcomes.append({"index": index, "ok": True, "tx_id": tx.tx_id})
        if admitted:
            results = self.h.run_block(admitted)
            for i, (tx, result) in enumerate(zip(admitted, results, strict=True)):
                self.committed[tx.tx_id] = {"status": "committed", "tx_id": tx.tx_id,
                                            "tx": tx.to_json(), "height": self.h.height,
                                            "index": i, "result": result}
        return httpx.Response(200, json={"results": outcomes})


# --------------------------------------------------------------------------- processes


def devnet_argv() -> list[str]:
    """The ``fcl devnet`` command: the installed ``fcl`` script, else ``python -m fcl``."""
    script = Path(sys.executable).with_name("fcl")
    if script.exists():
        return [str(script), "devnet"]
    return [sys.executable, "-m", "fcl", "devnet"]


def free_base_port(span: int = 40) -> int:
    """A port P such that P .. P + span - 1 are all free on 127.0.0.1 right now, all below
    Linux's ephemeral ports (32768-60999), which any outbound connection may take between
    this check and a node's bind."""
    rng = random.Random(os.getpid() ^ time.monotonic_ns())
    for _ in range(200):
        base = rng.randrange(20_000, 32_768 - span)
        ok = True
        for port in range(base, base + span):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise RuntimeError("no free port range")


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("FCL_PASSPHRASE", "FCL_KEYSTORE")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_devnet_once(data: Path, base_port: int, timeout_s: float = 300,
                    extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*devnet_argv(), "--data", str(data), "--base-port", str(base_port), "--once", *extra],
        capture_output=True, text=True, timeout=timeout_s, env=child_env(),
        stdin=subprocess.DEVNULL,
    )


class ServingDevnet:
    """``fcl devnet --data DIR --base-port P`` running in the background until :meth:`stop`."""

    def __init__(self, data: Path, base_port: int, extra: tuple[str, ...] = ()) -> None:
        self.data = data
        self.base_port = base_port
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [*devnet_argv(), "--data", str(data), "--base-port", str(base_port), *extra],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=child_env(),
            stdin=subprocess.DEVNULL,
        )
        self.explorer_url = ""
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_line(self, text: str, timeout_s: float = 300) -> str:
        """Read the output until a line contains ``text``; return that line (the lines
        read are kept: :meth:`wait_ready` goes on after them)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=1.0)
            except queue.Empty:
                continue
            if line is None:
                self._queue.put(None)
                break
            self.lines.append(line)
            if line.startswith("explorer:"):
                self.explorer_url = line.split(":", 1)[1].strip()
            if text in line:
                return line
        raise AssertionError(f"the devnet never printed {text!r}:\n" + "\n".join(self.lines[-40:]))

    def wait_ready(self, timeout_s: float = 300) -> str:
        """Read the output until the devnet says it is serving; return the explorer URL."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=1.0)
            except queue.Empty:
                continue
            if line is None:
                break
            self.lines.append(line)
            if line.startswith("explorer:"):
                self.explorer_url = line.split(":", 1)[1].strip()
            if line.startswith("serving;"):
                return self.explorer_url
        raise AssertionError("the devnet did not start serving:\n" + "\n".join(self.lines[-40:]))

    @property
    def base_url(self) -> str:
        return self.explorer_url.removesuffix("/explorer/")

    def stop(self, timeout_s: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(timeout=10)
        while True:
            try:
                line = self._queue.get_nowait()
            except queue.Empty:
                break
            if line is not None:
                self.lines.append(line)
        return int(self.proc.returncode)


def sample_marker(data: Path) -> dict[str, Any]:
    return json.loads((data / "sample.json").read_text(encoding="utf-8"))
