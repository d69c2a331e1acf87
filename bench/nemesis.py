"""The nemesis: a real network of validator processes under genuine signed load, attacked
in turn the ways docs/security.md lists, with what each attack did to the network measured.

    python -m bench.nemesis                         # every attack, 20 s each, a table
    python -m bench.nemesis --attacks upload_bomb,idle_flood --seconds 10 --json
    python -m bench.nemesis --code ../before      # validators from another checkout

For each attack the report gives the network's figures during it -- the longest time any
running validator went without a new height (``max_stall_s``), the heights per second
of the slowest validator, each validator's largest RSS, how many ``/healthz`` and
``/v1/status`` probes failed, how many answers were 5xx (and with which error codes),
whether a validator exited -- and the attacker's own figures (requests sent, answers by
status, bytes accepted). ``tests/fcl/test_nemesis.py`` runs it in a bounded form in CI
and asserts the bounds docs/security.md states. Only 127.0.0.0/8 is used: attackers
connect from 127.0.0.2 and above, so they never share an address with the validators.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import resource
import secrets
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from fcl.bench import pick_base_port
from fcl.testnet.files import TestnetNode, create_testnet
from ledger.crypto import PrivateKey, sha256
from ledger.encoding import canonical
from ledger.tx import build_transaction
from wallet.keystore import Keystore

CHAIN_ID = "fcl-nemesis"
#: shorter consensus timeouts so a round lost to an attack costs seconds, not minutes
TIMEOUTS = {"timeout_propose_ms": 1500, "timeout_prevote_ms": 500,
            "timeout_precommit_ms": 500, "rebroadcast_ms": 1000}


def _rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def raise_fd_limit() -> int:
    """Raise this process's soft descriptor limit to the hard one; return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# --------------------------------------------------------------------------- the network


class Cluster:
    """A testnet of validator processes that can be stopped and restarted one by one."""

    def __init__(self, root: Path, validators: int = 4, code: Path | None = None) -> None:
        self.root = root
        self.code = code  # run the validators from this checkout (``--code``)
        self.passphrase = secrets.token_urlsafe(12)
        base = pick_base_port(validators)
        self.nodes: list[TestnetNode] = create_testnet(
            root / "net", validators=validators, passphrase=self.passphrase,
            base_port=base, chain_id=CHAIN_ID, consensus=TIMEOUTS, scrypt_n=2**10)
        self.procs: list[subprocess.Popen[bytes] | None] = [None] * validators
        self.exits: list[str] = []
        self.lock = threading.Lock()

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "FCL_KEYSTORE"}
        env["FCL_PASSPHRASE"] = self.passphrase
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def start(self, i: int) -> None:
        node = self.nodes[i]
        log = open(self.root / f"{node.moniker}.log", "ab")  # noqa: SIM115 - child owns it
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "fcl", "node", "start", "--home", str(node.home),
                 "--log-level", "warning"],
                stdout=subprocess.DEVNULL, stderr=log, stdin=subprocess.DEVNULL, env=self.env(),
                cwd=self.code)  # ``python -m`` imports from the working directory first
        finally:
            log.close()
        with self.lock:
            self.procs[i] = proc

    def stop(self, i: int) -> None:
        with self.lock:
            proc, self.procs[i] = self.procs[i], None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)

    def stop_all(self) -> None:
        for i in range(len(self.nodes)):
            self.stop(i)

    def running(self) -> list[int]:
        with self.lock:
            return [i for i, p in enumerate(self.procs) if p is not None]

    def pid(self, i: int) -> int | None:
        proc = self.procs[i]
        return proc.pid if proc is not None else None

    def exited(self) -> list[str]:
        """Validators that exited without being stopped (with their exit status)."""
        with self.lock:
            return [f"{self.nodes[i].moniker} (exit {p.returncode})"
                    for i, p in enumerate(self.procs) if p is not None and p.poll() is not None]

    def url(self, i: int) -> str:
        return self.nodes[i].rpc_url

    def keys_public(self) -> list[str]:
        """The operators' admin public keys (enrolled in the genesis)."""
        return [Keystore(n.home / "wallet").load(n.org_id, self.passphrase).public_key_hex
                for n in self.nodes]

    def status(self, i: int, timeout: float = 3.0) -> dict[str, Any]:
        return httpx.get(f"{self.url(i)}/v1/status", timeout=timeout).json()

    def wait_connected(self, i: int, timeout_s: float = 90.0) -> float:
        """Wait until validator ``i`` has every other validator as a peer; seconds taken."""
        start = time.monotonic()
        want = len(self.nodes) - 1
        while time.monotonic() - start < timeout_s:
            if self.exited():
                raise RuntimeError(f"validators exited: {self.exited()}")
            try:
                if self.status(i, 2).get("peer_count", 0) >= want:
                    return time.monotonic() - start
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.nodes[i].moniker} did not reach {want} peers in {timeout_s} s")


# --------------------------------------------------------------------------- load and watch


class Load:
    """Genuine signed load: ``notary.record`` by the operators' admin keys, submitted in
    small batches to the running validators in turn; remembers every id acknowledged."""

    def __init__(self, cluster: Cluster, per_second: int = 60) -> None:
        self.cluster = cluster
        self.keys = [Keystore(n.home / "wallet").load(n.org_id, cluster.passphrase)
                     for n in cluster.nodes]
        self.per_second = per_second
        self.acknowledged: list[str] = []
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, name="load", daemon=True)
        self.n = 0

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(30)

    def _run(self) -> None:
        batch = max(1, self.per_second // 5)
        run_id = secrets.token_hex(4)
        with httpx.Client(timeout=10) as client:
            turn = 0
            while not self.stop_event.wait(0.2):
                running = self.cluster.running()
                if not running:
                    continue
                i = running[turn % len(running)]
                turn += 1
                txs = []
                for _ in range(batch):
                    self.n += 1
                    txs.append(build_transaction(
                        chain_id=CHAIN_ID, contract="notary", method="record",
                        args={"name": f"n{run_id}-{self.n}",
                              "sha256": sha256(f"{run_id}:{self.n}".encode()).hex()},
                        nonce="nemesis", keys=[self.keys[self.n % len(self.keys)]]))
                try:
                    resp = client.post(f"{self.cluster.url(i)}/v1/txs/batch",
                                       json={"txs": [t.to_json() for t in txs]})
                    if resp.status_code == 200:
                        self.acknowledged += [r["tx_id"] for r in resp.json()["results"]
                                              if r.get("ok")]
                except (httpx.HTTPError, ValueError, KeyError):
                    pass


@dataclass
class Sample:
    t: float
    heights: list[int | None]
    rss_mib: list[float | None]
    health: list[int | None]  # /healthz status code, None: no answer


@dataclass
class Watch:
    """Probes every validator every ``interval_s``: height, /healthz, RSS, 5xx answers."""

    cluster: Cluster
    interval_s: float = 0.25
    samples: list[Sample] = field(default_factory=list)
    errors_5xx: Counter[str] = field(default_factory=Counter)
    stop_event: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, name="watch", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(30)

    def _probe(self, client: httpx.Client, i: int) -> tuple[int | None, int | None]:
        url = self.cluster.url(i)
        height = health = None
        try:
            r = client.get(f"{url}/healthz")
            health = r.status_code
            self._count(r)
            r = client.get(f"{url}/v1/status")
            self._count(r)
            if r.status_code == 200:
                height = int(r.json()["height"])
        except (httpx.HTTPError, ValueError, KeyError):
            pass
        return height, health

    def _count(self, r: httpx.Response) -> None:
        if r.status_code >= 500:
            try:
                code = r.json()["error"]["code"]
            except (ValueError, KeyError, TypeError):
                code = "?"
            self.errors_5xx[f"{r.status_code} {code}"] += 1

    def _run(self) -> None:
        n = len(self.cluster.nodes)
        with httpx.Client(timeout=2) as client:
            while not self.stop_event.is_set():
                t = time.monotonic()
                running = set(self.cluster.running())
                heights: list[int | None] = [None] * n
                health: list[int | None] = [None] * n
                rss: list[float | None] = [None] * n
                for i in range(n):
                    if i in running:
                        heights[i], health[i] = self._probe(client, i)
                        pid = self.cluster.pid(i)
                        rss[i] = _rss_mib(pid) if pid is not None else None
                self.samples.append(Sample(t, heights, rss, health))
                self.stop_event.wait(max(0.0, self.interval_s - (time.monotonic() - t)))

    def figures(self, start: float, end: float, nodes: list[int]) -> dict[str, Any]:
        """The network's figures between ``start`` and ``end`` for validators ``nodes``."""
        window = [s for s in self.samples if start <= s.t <= end]
        out: dict[str, Any] = {"samples": len(window)}
        stalls, rates, rss, failed = [], [], [], 0
        for i in nodes:
            seen = [(s.t, s.heights[i]) for s in window if s.heights[i] is not None]
            failed += sum(1 for s in window if s.health[i] != 200)
            rss += [s.rss_mib[i] for s in window if s.rss_mib[i] is not None]
            if len(seen) < 2:
                stalls.append(end - start)
                rates.append(0.0)
                continue
            last_t, last_h = start, seen[0][1]
            worst = 0.0
            for t, h in seen[1:]:
                assert h is not None and last_h is not None
                if h > last_h:
                    worst = max(worst, t - last_t)
                    last_t, last_h = t, h
            worst = max(worst, end - last_t)
            stalls.append(worst)
            first_h, final_h = seen[0][1], seen[-1][1]
            assert first_h is not None and final_h is not None
            rates.append((final_h - first_h) / max(1e-9, seen[-1][0] - seen[0][0]))
        out["max_stall_s"] = round(max(stalls), 2) if stalls else None
        out["min_heights_per_s"] = round(min(rates), 2) if rates else None
        out["max_rss_mib"] = round(max(rss), 1) if rss else None
        out["failed_health_probes"] = failed
        return out


# --------------------------------------------------------------------------- attacks


@dataclass
class Attack:
    """One attack: ``run(cluster, stop_event)`` attacks until the event is set and returns
    the attacker's figures. ``targets`` are the validators it is aimed at."""

    name: str
    what: str
    run: Callable[[Cluster, threading.Event], dict[str, Any]]
    defended: bool = True  # False: no defence yet; run by hand for the "before" figures
    restarts: tuple[int, ...] = ()  # validators the attack itself restarts (not in figures)


def _upload_bomb(cluster: Cluster, stop: threading.Event) -> dict[str, Any]:
    """Certificate uploads whose multipart part header is 60 KB of semicolons (the
    ``email`` package's header parser took 0.94 s for 20 KB of them, growing with the
    square of the length), to two validators from four threads."""
    disposition = b"form-data" + b";" * 60_000
    body = (b"--zzz\r\nContent-Disposition: " + disposition
            + b"\r\n\r\n{}\r\n--zzz--\r\n")
    headers = {"content-type": "multipart/form-data; boundary=zzz"}
    statuses: Counter[int] = Counter()
    codes: Counter[str] = Counter()
    slowest = [0.0]

    def worker(i: int) -> None:
        with httpx.Client(timeout=60) as client:
            while not stop.is_set():
                t = time.monotonic()
                try:
                    r = client.post(f"{cluster.url(i)}/v1/explorer/verify", content=body,
                                    headers=headers)
                    statuses[r.status_code] += 1
                    codes[_error_code(r)] += 1
                except httpx.HTTPError:
                    statuses[0] += 1
                slowest[0] = max(slowest[0], time.monotonic() - t)

    threads = [threading.Thread(target=worker, args=(i % 2,), daemon=True) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"requests": sum(statuses.values()), "statuses": dict(sorted(statuses.items())),
            "codes": dict(sorted(codes.items())),
            "slowest_answer_s": round(slowest[0], 3), "body_bytes": len(body)}


def _error_code(r: httpx.Response) -> str:
    try:
        return str(r.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return "-"


def _idle_flood(cluster: Cluster, stop: threading.Event) -> dict[str, Any]:
    """As many idle TCP connections to one validator's HTTP port as this process may
    open (up to 5,000), from 127.0.0.2..127.0.0.13 (more than the per-address limit
    allows, and more in all than the node's connection limit), reopened when closed."""
    limit = min(5000, raise_fd_limit() - 300)
    port = cluster.nodes[0].rpc_port
    held: list[socket.socket] = []
    opened = refused = 0
    peak = 0
    while not stop.is_set():
        held = [s for s in held if _still_open(s)]
        while len(held) < limit and not stop.is_set():
            s = socket.socket()
            s.setblocking(True)
            s.settimeout(1)
            try:
                s.bind((f"127.0.0.{2 + len(held) % 12}", 0))
                s.connect(("127.0.0.1", port))
                held.append(s)
                opened += 1
            except OSError:
                s.close()
                refused += 1
                break
        peak = max(peak, len(held))
        stop.wait(0.5)
    for s in held:
        s.close()
    return {"connections_opened": opened, "connect_failures": refused, "peak_held": peak,
            "limit": limit}


def _still_open(s: socket.socket) -> bool:
    """True while the node has neither answered (a refusal, a timeout) nor closed ``s``;
    otherwise ``s`` is closed."""
    try:
        s.setblocking(False)
        s.recv(1, socket.MSG_PEEK)
        alive = False  # an answer (429/503/408) or the end of the stream
    except BlockingIOError:
        alive = True
    except OSError:
        alive = False
    if not alive:
        s.close()
    return alive


def _p2p_slot_flood(cluster: Cluster, stop: threading.Event) -> dict[str, Any]:
    """Silent connections to every validator's p2p port from 127.0.0.2..127.0.0.17 (what
    an unauthenticated stranger can hold), reopened when closed; meanwhile the last
    validator restarts, and the time until it has all its peers again is measured."""
    held: list[socket.socket] = []
    opened = 0

    def flood() -> None:
        nonlocal opened, held
        while not stop.is_set():
            held = [s for s in held if _still_open(s)]
            for node in cluster.nodes:
                for a in range(2, 18):
                    if stop.is_set() or len(held) >= 2000:
                        break
                    s = socket.socket()
                    s.settimeout(1)
                    try:
                        s.bind((f"127.0.0.{a}", 0))
                        s.connect(("127.0.0.1", node.p2p_port))
                        held.append(s)
                        opened += 1
                    except OSError:
                        s.close()
            stop.wait(0.2)

    thread = threading.Thread(target=flood, daemon=True)
    thread.start()
    stop.wait(2)
    last = 3
    cluster.stop(last)
    cluster.start(last)
    try:
        reconnect = round(cluster.wait_connected(last, 60), 2)
    except RuntimeError:
        reconnect = None
    stop.wait()
    thread.join()
    for s in held:
        s.close()
    return {"connections_opened": opened, "restarted_validator_all_peers_s": reconnect}


def _oversized_handshake(cluster: Cluster, stop: threading.Event) -> dict[str, Any]:
    """A handshake frame announcing 2 GiB, then zeros as fast as the node takes them;
    repeated against every validator. Figure: bytes the node accepted before closing."""
    accepted: list[int] = []
    zeros = b"\0" * 65536
    while not stop.is_set():
        for node in cluster.nodes:
            s = socket.socket()
            s.settimeout(2)
            sent = 0
            try:
                s.bind(("127.0.0.2", 0))
                s.connect(("127.0.0.1", node.p2p_port))
                s.sendall(struct.pack(">I", 2**31 - 1) + b"\x01")
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline and not stop.is_set():
                    sent += s.send(zeros)
            except OSError:
                pass
            finally:
                s.close()
            accepted.append(sent)
    return {"attempts": len(accepted), "max_bytes_accepted": max(accepted, default=0)}


def _post_batches(
    url: str, batch: Callable[[], list[dict[str, Any]]], stop: threading.Event,
    lock: threading.Lock, statuses: Counter[int], codes: Counter[str],
    acknowledged: list[str] | None = None,
) -> None:
    """POST ``batch()`` to ``url``/v1/txs/batch until ``stop``; count answers by status and
    items by outcome (``admitted`` or the refusal's code); the admitted ids are appended
    to ``acknowledged`` if given."""
    with httpx.Client(timeout=60) as client:
        while not stop.is_set():
            try:
                r = client.post(f"{url}/v1/txs/batch", json={"txs": batch()})
            except httpx.HTTPError:
                with lock:
                    statuses[0] += 1
                continue
            with lock:
                statuses[r.status_code] += 1
                if r.status_code != 200:
                    continue
                for item in r.json()["results"]:
                    if item.get("ok"):
                        codes["admitted"] += 1
                        if acknowledged is not None:
                            acknowledged.append(item["tx_id"])
                    else:
                        codes[item["error"]["code"]] += 1


def _unenrolled_writer(cluster: Cluster, stop: threading.Event) -> dict[str, Any]:
    """Batches of 25 validly signed ``notary.record`` transactions (each with a 32 KB note)
    by a key no organisation enrolled, from four threads against two validators: before
    permissioned admission they were admitted and committed (4.7 MB/s of store growth per
    node); now each is refused with ``unenrolled_signer`` at a state lookup, before its
    signature is looked at."""
    key = PrivateKey.generate()
    counter = itertools.count()
    statuses: Counter[int] = Counter()
    codes: Counter[str] = Counter()
    lock = threading.Lock()

    def batch() -> list[dict[str, Any]]:
        return [build_transaction(chain_id=CHAIN_ID, contract="notary", method="record",
                                  args={"name": f"intruder-{n}", "note": "x" * 32_000,
                                        "sha256": sha256(b"%d" % n).hex()},
                                  nonce="intruder", keys=[key]).to_json()
                for n in itertools.islice(counter, 25)]

    def worker(i: int) -> None:
        _post_batches(cluster.url(i), batch, stop, lock, statuses, codes)

    threads = [threading.Thread(target=worker, args=(i % 2,), daemon=True) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"batches": sum(statuses.values()), "statuses": dict(sorted(statuses.items())),
            "outcomes": dict(sorted(codes.items()))}


def _bad_signature_batches(cluster: Cluster, stop: threading.Event) -> dict[str, Any]:
    """``POST /v1/txs/batch`` of 1,000 well-formed transactions that name an enrolled
    member's key (public, in the genesis) as their signer but carry signatures by another
    key, from four threads against two validators: they pass the membership check, so
    every signature must be verified before it is refused ``bad_signature``."""
    key = PrivateKey.generate()
    member = cluster.keys_public()[0]
    txs = []
    for n in range(1000):
        payload = {"args": {"name": f"bad-{n}", "sha256": sha256(b"%d" % n).hex()},
                   "chain_id": CHAIN_ID, "contract": "notary", "method": "record",
                   "nonce": "x", "signers": [member]}
        txs.append({"payload": payload, "signatures": [key.sign_hex(canonical(payload))]})
    body = json.dumps({"txs": txs}).encode()
    statuses: Counter[int] = Counter()

    def worker(i: int) -> None:
        with httpx.Client(timeout=60) as client:
            while not stop.is_set():
                try:
                    r = client.post(f"{cluster.url(i)}/v1/txs/batch", content=body,
                                    headers={"content-type": "application/json"})
                    statuses[r.status_code] += 1
                except httpx.HTTPError:
                    statuses[0] += 1

    threads = [threading.Thread(target=worker, args=(i % 2,), daemon=True) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"batches": sum(statuses.values()), "statuses": dict(sorted(statuses.items()))}


def _memory_amplifier(cluster: Cluster, stop: threading.Event) -> dict[str, Any]:
    """An enrolled member's transactions, each about 55 KB of empty JSON objects (about 19
    times that once decoded), in batches of 8 from one thread, while two more threads
    read back every one acknowledged with ``GET /v1/txs/{id}``: what the mempool holds and
    what reads decode must stay bounded in memory, not only in bytes received."""
    insider = Keystore(cluster.nodes[1].home / "wallet").load(cluster.nodes[1].org_id,
                                                                cluster.passphrase)
    counter = itertools.count()
    acknowledged: list[str] = []
    statuses: Counter[int] = Counter()
    codes: Counter[str] = Counter()
    reads: Counter[int] = Counter()
    lock = threading.Lock()

    def batch() -> list[dict[str, Any]]:
        return [build_transaction(chain_id=CHAIN_ID, contract="notary", method="record",
                                  args={"name": f"pad-{n}", "pad": [{}] * 18_000},
                                  nonce="pad", keys=[insider]).to_json()
                for n in itertools.islice(counter, 8)]

    def writer(i: int) -> None:
        _post_batches(cluster.url(i), batch, stop, lock, statuses, codes, acknowledged)

    def reader(i: int) -> None:
        with httpx.Client(timeout=60) as client:
            n = 0
            while not stop.is_set():
                with lock:
                    ids = list(acknowledged[-32:])
                if not ids:
                    stop.wait(0.2)
                    continue
                try:
                    r = client.get(f"{cluster.url(i)}/v1/txs/{ids[n % len(ids)]}")
                    reads[r.status_code] += 1
                except httpx.HTTPError:
                    reads[0] += 1
                n += 1

    threads = [threading.Thread(target=writer, args=(0,), daemon=True)]
    threads += [threading.Thread(target=reader, args=(i,), daemon=True) for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"batches": sum(statuses.values()), "statuses": dict(sorted(statuses.items())),
            "outcomes": dict(sorted(codes.items())), "reads": dict(sorted(reads.items()))}


#: How long validator 2 is down before it restarts behind the liar (sync_liar).
LIAR_OUTAGE_S = 20.0


class _LyingValidator:
    """Validator 3's key in a process of ours: it authenticates as validator 3 (on its p2p
    port, and dialling the others), tells every peer it has committed a height far ahead,
    answers every block request with no blocks, and never votes."""

    CLAIM = 10**9

    def __init__(self, cluster: Cluster, index: int) -> None:
        from node.home import NodeHome, PeerAddress

        node = cluster.nodes[index]
        self.genesis = NodeHome(node.home).load_genesis()
        self.key = Keystore(node.home / "keys").load("validator", cluster.passphrase)
        self.port = node.p2p_port
        self.peers = [PeerAddress(
            Keystore(n.home / "keys").load("validator", cluster.passphrase).public_key_hex,
            "127.0.0.1", n.p2p_port) for i, n in enumerate(cluster.nodes) if i != index]
        self.answered = 0
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.manager: Any = None
        self._announcer: Any = None

    def _status(self) -> bytes:
        return canonical({"consensus_height": self.CLAIM + 1, "hash": "00" * 32,
                          "height": self.CLAIM, "round": 0})

    def _on_frame(self, peer: Any, kind: int, payload: bytes) -> None:
        from node.net.framing import FrameType

        if kind == FrameType.GET_STATUS:
            peer.send(FrameType.STATUS, self._status())
        elif kind == FrameType.GET_BLOCKS:
            self.answered += 1
            peer.send(FrameType.BLOCKS, canonical({"blocks": [], "height": self.CLAIM}))

    async def _start(self) -> None:
        from node.net.framing import FrameType
        from node.net.handshake import LocalIdentity
        from node.net.p2p import PeerManager, TransportCounters
        from node.ops.metrics import Registry

        registry = Registry()
        counters = TransportCounters.register(
            registry, registry.counter("fcl_dropped_total", "dropped", "reason"))
        self.manager = PeerManager(
            local=LocalIdentity(key=self.key, chain_id=self.genesis.chain_id,
                                genesis_hash=self.genesis.hash,
                                listen=f"127.0.0.1:{self.port}", moniker="liar"),
            listen_host="127.0.0.1", listen_port=self.port, peers=self.peers,
            authorise=lambda key: True, on_frame=self._on_frame, counters=counters,
            on_connect=lambda peer: peer.send(FrameType.STATUS, self._status()))
        await self.manager.start()

    async def _announce(self) -> None:
        from node.net.framing import FrameType

        while True:
            await asyncio.sleep(1)
            self.manager.broadcast(FrameType.STATUS, self._status())

    def start(self) -> None:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(30)
        self._announcer = asyncio.run_coroutine_threadsafe(self._announce(), self.loop)

    def stop(self) -> None:
        if self._announcer is not None:
            self._announcer.cancel()
        if self.manager is not None:
            asyncio.run_coroutine_threadsafe(self.manager.stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def _sync_liar(cluster: Cluster, stop: threading.Event) -> dict[str, Any]:
    """A lagging validator catches up while another lies to it. Validator 2 stops while
    0, 1 and 3 go on committing; then validator 3 is replaced by a liar holding its key
    (:class:`_LyingValidator`: claims a height far ahead, answers every block request with
    nothing, never votes) and validator 2 restarts. Until 2 has caught up, only 0 and 1
    vote, so the chain waits for it: the figure is how long 2 takes to reach the height it
    missed. Then the real validator 3 returns."""
    cluster.stop(2)
    start_height = int(cluster.status(0)["height"])
    time.sleep(LIAR_OUTAGE_S)  # long enough that catching up takes several requests
    target = int(cluster.status(0)["height"])
    cluster.stop(3)
    liar = _LyingValidator(cluster, 3)
    liar.start()
    restarted = time.monotonic()
    cluster.start(2)
    caught_up = None
    while time.monotonic() - restarted < 90:
        try:
            if int(cluster.status(2, 2)["height"]) >= target:
                caught_up = round(time.monotonic() - restarted, 2)
                break
        except (httpx.HTTPError, ValueError, KeyError):
            pass
        time.sleep(0.1)
    stop.wait()
    liar.stop()
    cluster.start(3)
    try:
        cluster.wait_connected(3, 60)
    except RuntimeError:
        pass
    return {"blocks_missed": target - start_height, "restarted_validator_caught_up_s": caught_up,
            "empty_answers_given": liar.answered}


ATTACKS: dict[str, Attack] = {a.name: a for a in (
    Attack("upload_bomb", "crafted 60 KB multipart headers to the certificate upload",
           _upload_bomb),
    Attack("idle_flood", "thousands of idle HTTP connections to one validator", _idle_flood),
    Attack("p2p_slot_flood", "silent unauthenticated p2p connections while a validator "
           "restarts", _p2p_slot_flood, restarts=(3,)),
    Attack("oversized_handshake", "a handshake frame announcing 2 GiB",
           _oversized_handshake),
    Attack("unenrolled_writer", "validly signed transactions by a key no organisation "
           "enrolled", _unenrolled_writer),
    Attack("bad_signature_batches", "batches of 1,000 bad signatures naming a member's key",
           _bad_signature_batches),
    Attack("memory_amplifier", "a member's transactions of small JSON objects, read back",
           _memory_amplifier),
    Attack("sync_liar", "a validator that claims a far height and answers sync with nothing, "
           "while another catches up", _sync_liar, restarts=(0, 1, 2, 3)),
)}


# --------------------------------------------------------------------------- the run


def run_nemesis(attacks: list[str], seconds: float, *, calm_s: float = 5.0,
                code: Path | None = None,
                progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Start a 4-validator network under load; run each attack for ``seconds`` with
    ``calm_s`` of calm before and after; return the report."""
    say = progress or (lambda text: None)
    root = Path(tempfile.mkdtemp(prefix="fcl-nemesis-"))
    cluster = Cluster(root, code=code)
    report: dict[str, Any] = {"machine": _machine(), "seconds_per_attack": seconds,
                              "attacks": {}}
    load = watch = None
    try:
        for i in range(len(cluster.nodes)):
            cluster.start(i)
        for i in range(len(cluster.nodes)):
            cluster.wait_connected(i)
        load, watch = Load(cluster), Watch(cluster)
        load.start()
        watch.start()
        time.sleep(calm_s)
        t0 = time.monotonic()
        report["calm"] = watch.figures(t0 - calm_s + 1, t0, cluster.running())
        for name in attacks:
            attack = ATTACKS[name]
            say(f"attack {name}: {attack.what}")
            before = dict(watch.errors_5xx)
            stop = threading.Event()
            box: dict[str, Any] = {}
            thread = threading.Thread(target=lambda a=attack, s=stop, b=box: b.update(
                attacker=a.run(cluster, s)), daemon=True)
            start = time.monotonic()
            thread.start()
            time.sleep(seconds)
            stop.set()
            thread.join(120)
            end = time.monotonic()
            time.sleep(calm_s)
            after = time.monotonic()
            watched = [i for i in cluster.running() if i not in attack.restarts]
            entry = {"what": attack.what, "defended": attack.defended,
                     "during": watch.figures(start, end, watched),
                     "after": watch.figures(end + 1, after, cluster.running()),
                     "attacker": box.get("attacker"),
                     "exited": cluster.exited(),
                     "errors_5xx": dict(Counter(watch.errors_5xx) - Counter(before))}
            report["attacks"][name] = entry
            say(f"  {json.dumps(entry)}")
        load.stop()
        watch.stop()
        report["acknowledged"] = len(load.acknowledged)
        report["missing"] = _missing(cluster, load.acknowledged)
    finally:
        if load is not None:
            load.stop()
        if watch is not None:
            watch.stop()
        cluster.stop_all()
    report["logs"] = str(root)
    return report


def _missing(cluster: Cluster, acknowledged: list[str], sample: int = 200) -> dict[str, int]:
    """Of the acknowledged transactions (the last ``sample``, which had the least time),
    how many each validator does not hold as committed after a settling wait."""
    ids = acknowledged[-sample:]
    missing: dict[str, int] = {}
    deadline = time.monotonic() + 30
    with httpx.Client(timeout=5) as client:
        for i in cluster.running():
            node = cluster.nodes[i].moniker
            left = list(ids)
            while left and time.monotonic() < deadline:
                left = [t for t in left
                        if _status(client, cluster.url(i), t) != "committed"]
                if left:
                    time.sleep(0.5)
            missing[node] = len(left)
    return missing


def _status(client: httpx.Client, url: str, tx_id: str) -> str | None:
    try:
        r = client.get(f"{url}/v1/txs/{tx_id}")
        return r.json().get("status") if r.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None


def _machine() -> dict[str, Any]:
    return {"python": platform.python_version(), "cpus": os.cpu_count(),
            "platform": platform.platform()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.nemesis", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--attacks", default=",".join(ATTACKS),
                        help=f"comma-separated, of: {', '.join(ATTACKS)}")
    parser.add_argument("--seconds", type=float, default=20.0, help="per attack")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--code", type=Path, default=None,
                        help="run the validators from this checkout (e.g. a worktree of an "
                             "older commit, for before/after figures)")
    args = parser.parse_args(argv)
    names = [a for a in args.attacks.split(",") if a]
    unknown = [a for a in names if a not in ATTACKS]
    if unknown or not 1 <= args.seconds <= 600:
        parser.error(f"unknown attack {unknown}" if unknown else "--seconds is 1..600")
    report = run_nemesis(names, args.seconds, code=args.code,
                         progress=None if args.json else lambda s: print(s, flush=True))
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"calm: {report['calm']}")
        for name, entry in report["attacks"].items():
            d = entry["during"]
            print(f"{name:24} stall {d['max_stall_s']} s, {d['min_heights_per_s']} heights/s, "
                  f"RSS {d['max_rss_mib']} MiB, 5xx {entry['errors_5xx']}, "
                  f"exited {entry['exited']}")
        print(f"acknowledged {report['acknowledged']}, missing {report['missing']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
