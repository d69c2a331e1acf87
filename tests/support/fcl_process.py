"""Real ``fcl`` processes for end-to-end tests: the command, free loopback ports, a node
started from its home and stopped with SIGTERM."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

PASSPHRASE = "correct horse battery staple"


def fcl_command() -> list[str]:
    script = Path(sys.executable).with_name("fcl")
    if script.exists():
        return [str(script)]
    found = shutil.which("fcl")
    return [found] if found else [sys.executable, "-m", "fcl"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(*args: str, stdin: str | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*fcl_command(), *args], input=stdin, capture_output=True, text=True, timeout=120,
        env=env,
    )


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("FCL_PASSPHRASE", "FCL_KEYSTORE")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def wait_healthy(url: str, proc: subprocess.Popen, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"node exited with {proc.returncode}: {proc.stderr.read()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError("node did not become healthy")


def start_node(home: Path, pp_file: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [*fcl_command(), "node", "start", "--home", str(home), "--passphrase-file", str(pp_file)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=clean_env(),
    )


def stop_node(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return err


#: Faster rounds than the defaults, so the heights a dead validator should propose pass
#: quickly (operators tune these in config.json the same way).
FAST_TIMEOUTS = {"timeout_propose_ms": 1500, "timeout_prevote_ms": 500,
                 "timeout_precommit_ms": 500, "rebroadcast_ms": 1000}


def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll ``predicate`` every 0.1 s until it holds; AssertionError naming ``what`` after
    ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(0.1)
