"""``fcl bench --validators N --duration SECONDS [--json]``: end-to-end throughput and
commit latency of a real local network.

1. A testnet of N validators is written to a temporary directory (``fcl/testnet/files.py``,
   free ports on 127.0.0.1) and each validator is started as its own process
   (``python -m fcl node start``); the bench waits until every node is connected to
   all the others.
2. A separate load process (``multiprocessing``, spawn) decrypts the operator
   organisations' admin keys, **pre-signs** ``notary.record`` transactions and encodes
   them into ``POST /v1/txs/batch`` bodies before the clock starts.
3. It then submits the batches round-robin to all validators (one connection per
   validator), keeping at most ``max_outstanding`` transactions submitted but not yet
   seen committed: by default as fast as that allows (a closed loop that keeps the
   network saturated without overflowing mempools), or at ``rate`` tx/s (an open loop,
   for the latency at a given load). It follows the chain on node0 (``/v1/status`` every
   20 ms, then the new blocks), noting when it first sees each of its transactions
   committed.
4. The window is ``[warmup, warmup + duration]`` seconds after the first submission.
   ``committed_tx_per_s`` counts transactions first seen committed inside the window,
   divided by its length; latency (seen committed minus the moment its batch was sent;
   the observer adds up to ~20 ms) is over transactions *submitted* inside the window,
   after a drain of up to ``drain_s``. Transactions refused at admission are counted by
   code; transactions never seen committed are reported.

The JSON report has at least ``validators``, ``committed_tx_per_s``, ``latency_p50_ms``
and ``latency_p99_ms``. Figures and their limits: docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import platform
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["BenchError", "percentile", "register", "run_bench"]

STARTUP_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 20.0


class BenchError(RuntimeError):
    """The benchmark could not run (a node failed to start, the load process died...)."""


def percentile(values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile of ``values`` (``fraction`` in 0..1); None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-int(fraction * 1000) * len(ordered) // 1000))
    return ordered[min(rank, len(ordered)) - 1]


def _round1(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def machine() -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 0
    return {"cpu": cpu, "cores": cores, "python": platform.python_version(),
            "system": f"{platform.system()} {platform.release()}"}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux ``/proc``; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    return (int(fields[11]) + int(fields[12])) / ticks


def consensus_summary(metrics_text: str) -> dict[str, Any]:
    """Failed rounds and the mean time per consensus step, from a node's ``/metrics``."""
    sums: dict[str, float] = {}
    counts: dict[str, float] = {}
    rounds = 0.0
    for line in metrics_text.splitlines():
        if line.startswith("fcl_consensus_rounds_total "):
            rounds = float(line.rsplit(" ", 1)[1])
        for kind, target in (("_sum{", sums), ("_count{", counts)):
            prefix = "fcl_consensus_step_duration_seconds" + kind
            if line.startswith(prefix):
                step = line.split('step="', 1)[1].split('"', 1)[0]
                target[step] = float(line.rsplit(" ", 1)[1])
    return {
        "failed_rounds": int(rounds),
        "mean_step_ms": {step: round(1000 * sums[step] / counts[step], 1)
                         for step in sorted(counts) if counts[step]},
    }


def _ports_free(ports: list[int]) -> bool:
    for port in ports:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def pick_base_port(validators: int, attempts: int = 50) -> int:
    """A base port P with P..P+n-1 and P+100..P+100+n-1 free on 127.0.0.1, all below
    32,768: Linux's ephemeral ports start there (``ip_local_port_range`` 32768-60999),
    and a port in that range can be taken by any outbound connection -- a node's own,
    to its peers -- between this check and the node's bind."""
    from fcl.testnet.files import P2P_PORT_OFFSET

    rng = random.Random()
    for _ in range(attempts):
        base = rng.randrange(20000, 32768 - P2P_PORT_OFFSET - validators)
        ports = [base + i for i in range(validators)]
        ports += [base + P2P_PORT_OFFSET + i for i in range(validators)]
        if _ports_free(ports):
            return base
    raise BenchError("no free ports found on 127.0.0.1")


# --------------------------------------------------------------------------- nodes


class _Nodes:
    """The validator processes of one bench run."""

    def __init__(self, root: Path, nodes: list[Any], passphrase: str,
                 profile_dir: Path | None, log_level: str = "warning") -> None:
        self.root = root
        self.log_level = log_level
        self.nodes = nodes
        self.passphrase = passphrase
        self.profile_dir = profile_dir
        self.procs: list[subprocess.Popen[bytes]] = []
        self.logs: list[Any] = []

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if k != "FCL_KEYSTORE"}
        env["FCL_PASSPHRASE"] = self.passphrase
        env["PYTHONUNBUFFERED"] = "1"
        for node in self.nodes:
            cmd = [sys.executable, "-m", "fcl", "node", "start", "--home", str(node.home),
                   "--log-level", self.log_level]
            if self.profile_dir is not None:
                cmd += ["--profile", str(self.profile_dir / node.moniker)]
            log = open(self.root / f"{node.moniker}.log", "wb")  # noqa: SIM115 - closed in stop
            self.logs.append(log)
            self.procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log,
                                               stdin=subprocess.DEVNULL, env=env))

    def wait_ready(self, timeout_s: float = STARTUP_TIMEOUT_S) -> None:
        import httpx

        deadline = time.monotonic() + timeout_s
        want = len(self.nodes) - 1
        pending = list(range(len(self.nodes)))
        while pending:
            if time.monotonic() > deadline:
                raise BenchError(f"nodes {pending} did not connect to every peer within "
                                 f"{timeout_s:g} s (logs in {self.root})")
            for i, proc in enumerate(self.procs):
                if proc.poll() is not None:
                    tail = (self.root / f"{self.nodes[i].moniker}.log").read_text(
                        errors="replace")[-1500:]
                    raise BenchError(f"{self.nodes[i].moniker} exited with {proc.returncode}: "
                                     f"{tail}")
            still = []
            for i in pending:
                try:
                    status = httpx.get(f"{self.nodes[i].rpc_url}/v1/status", timeout=2).json()
                    if status.get("peer_count", 0) < want:
                        still.append(i)
                except (httpx.HTTPError, ValueError):
                    still.append(i)
            pending = still
            if pending:
                time.sleep(0.2)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for proc in self.procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        for log in self.logs:
            log.close()


# --------------------------------------------------------------------------- load process


def _presign(spec: dict[str, Any]) -> tuple[list[bytes], list[list[str]]]:
    from ledger.crypto import sha256
    from ledger.tx import build_transaction
    from wallet.keystore import Keystore

    keys = [Keystore(Path(home) / "wallet").load(org, spec["passphrase"])
            for home, org in spec["signers"]]
    run = spec["run_id"]
    bodies: list[bytes] = []
    ids: list[list[str]] = []
    batch = spec["batch"]
    for start in range(0, spec["total"], batch):
        parts: list[bytes] = []
        batch_ids: list[str] = []
        for i in range(start, min(start + batch, spec["total"])):
            tx = build_transaction(
                chain_id=spec["chain_id"], contract="notary", method="record",
                args={"name": f"b{run}-{i}", "sha256": sha256(f"{run}:{i}".encode()).hex()},
                nonce="bench", keys=[keys[i % len(keys)]],
            )
            parts.append(tx.canonical_bytes)
            batch_ids.append(tx.tx_id)
        bodies.append(b'{"txs":[' + b",".join(parts) + b"]}")
        ids.append(batch_ids)
    return bodies, ids


async def _drive(spec: dict[str, Any], bodies: list[bytes], ids: list[list[str]]) -> dict[str, Any]:
    import httpx

    urls: list[str] = spec["urls"]
    warmup, duration, drain = spec["warmup_s"], spec["duration_s"], spec["drain_s"]
    max_outstanding = spec["max_outstanding"]
    submitted: dict[str, float] = {}  # tx id -> time its batch was sent
    committed: dict[str, float] = {}  # tx id -> time first seen committed
    rejected: dict[str, int] = {}
    blocks: list[tuple[float, int, int]] = []  # (seen at, height, txs)
    state = {"next": 0, "outstanding": 0, "errors": 0}
    t0 = time.monotonic()
    window_start, window_end = t0 + warmup, t0 + warmup + duration
    limits = httpx.Limits(max_connections=4, max_keepalive_connections=4)
    clients = [httpx.AsyncClient(base_url=u, timeout=30, limits=limits) for u in urls]
    observer = httpx.AsyncClient(base_url=urls[0], timeout=30)
    submitting = True

    rate = spec["rate"]
    pace = {"next": t0}

    async def submit(client: httpx.AsyncClient) -> None:
        while submitting and time.monotonic() < window_end:
            if state["outstanding"] >= max_outstanding or state["next"] >= len(bodies):
                await asyncio.sleep(0.005)
                continue
            if rate:
                delay = pace["next"] - time.monotonic()
                pace["next"] = max(pace["next"], time.monotonic() - 1.0) + len(
                    ids[state["next"]]) / rate
                if delay > 0:
                    await asyncio.sleep(delay)
            index = state["next"]
            state["next"] += 1
            batch_ids = ids[index]
            state["outstanding"] += len(batch_ids)
            sent = time.monotonic()
            for tx_id in batch_ids:
                submitted[tx_id] = sent
            try:
                resp = await client.post("/v1/txs/batch", content=bodies[index],
                                         headers={"content-type": "application/json"})
                results = resp.json()["results"]
            except (httpx.HTTPError, ValueError, KeyError):
                state["errors"] += 1
                results = [{"ok": False, "error": {"code": "request_failed"}}] * len(batch_ids)
            for tx_id, result in zip(batch_ids, results, strict=False):
                if not result.get("ok"):
                    code = result.get("error", {}).get("code", "unknown")
                    rejected[code] = rejected.get(code, 0) + 1
                    if submitted.pop(tx_id, None) is not None and tx_id not in committed:
                        state["outstanding"] -= 1

    async def observe() -> None:
        height = (await observer.get("/v1/status")).json()["height"]
        while True:
            now = time.monotonic()
            if now > window_end and (
                not any(t >= window_start and i not in committed for i, t in submitted.items())
                or now > window_end + drain
            ):
                return
            try:
                latest = (await observer.get("/v1/status")).json()["height"]
            except (httpx.HTTPError, ValueError, KeyError):
                await asyncio.sleep(0.02)
                continue
            while height < latest:
                height += 1
                block = (await observer.get(f"/v1/blocks/{height}")).json()["block"]
                seen = time.monotonic()
                mine = 0
                for result in block["results"]:
                    tx_id = result["tx_id"]
                    if tx_id not in committed:
                        committed[tx_id] = seen
                        if tx_id in submitted:
                            mine += 1
                state["outstanding"] -= mine
                blocks.append((seen, height, len(block["results"])))
            await asyncio.sleep(0.02)

    tasks = [asyncio.create_task(submit(c)) for c in clients]
    await observe()
    submitting = False
    await asyncio.gather(*tasks, return_exceptions=True)
    for c in [*clients, observer]:
        await c.aclose()
    in_window = sum(1 for i, t in committed.items() if window_start <= t <= window_end
                    and i in submitted)
    latencies = [(committed[i] - t) * 1000 for i, t in submitted.items()
                 if window_start <= t <= window_end and i in committed]
    lost = sum(1 for i, t in submitted.items() if window_start <= t <= window_end
               and i not in committed)
    window_blocks = [b for b in blocks if window_start <= b[0] <= window_end]
    return {
        "committed_in_window": in_window,
        "committed_tx_per_s": round(in_window / duration, 1),
        "latency_p50_ms": _round1(percentile(latencies, 0.50)),
        "latency_p99_ms": _round1(percentile(latencies, 0.99)),
        "latency_samples": len(latencies),
        "submitted": len(submitted),
        "not_seen_committed": lost,
        "rejected": dict(sorted(rejected.items())),
        "request_errors": state["errors"],
        "blocks_in_window": len(window_blocks),
        "avg_block_txs": round(sum(b[2] for b in window_blocks) / len(window_blocks), 1)
        if window_blocks else 0,
        "presigned": sum(len(x) for x in ids),
    }


def _load_main(conn: Any, spec: dict[str, Any]) -> None:
    """The load process: pre-sign, report ready, wait for go, drive, report results."""
    try:
        started = time.monotonic()
        bodies, ids = _presign(spec)
        conn.send({"ready": True, "presign_s": round(time.monotonic() - started, 2)})
        if conn.recv() != "go":
            return
        try:
            import uvloop

            runner: Any = uvloop.run
        except ImportError:
            runner = asyncio.run
        result = runner(_drive(spec, bodies, ids))
        conn.send({"result": result})
    except Exception as exc:  # report, never hang the parent
        conn.send({"error": f"{type(exc).__name__}: {exc}"})


# --------------------------------------------------------------------------- the run


def run_bench(
    validators: int,
    duration_s: float,
    *,
    batch: int = 250,
    warmup_s: float = 2.0,
    drain_s: float = 15.0,
    max_outstanding: int = 3000,
    rate: int | None = None,
    max_rate: int = 3000,
    block_txs: int = 1000,
    timeout_propose_ms: int = 3000,
    keep: bool = False,
    profile_dir: Path | None = None,
    log_level: str = "warning",
    progress: Any = None,
) -> dict[str, Any]:
    """Run one benchmark and return the report (see the module docstring)."""
    from fcl.testnet.files import create_testnet

    def say(text: str) -> None:
        if progress is not None:
            progress(text)

    root = Path(tempfile.mkdtemp(prefix="fcl-bench-"))
    passphrase = secrets.token_urlsafe(18)
    nodes_proc: _Nodes | None = None
    load: Any = None
    try:
        base = pick_base_port(validators)
        say(f"writing a {validators}-validator testnet in {root} (base port {base})")
        nodes = create_testnet(root / "net", validators=validators, passphrase=passphrase,
                               base_port=base, chain_id="fcl-bench", max_block_txs=block_txs,
                               consensus={"timeout_propose_ms": timeout_propose_ms})
        nodes_proc = _Nodes(root, nodes, passphrase, profile_dir, log_level)
        nodes_proc.start()
        total = min(int((rate or max_rate) * (warmup_s + duration_s + 3) * 1.1), 400_000)
        spec = {
            "urls": [n.rpc_url for n in nodes],
            "signers": [(str(n.home), n.org_id) for n in nodes],
            "passphrase": passphrase,
            "chain_id": "fcl-bench",
            "run_id": secrets.token_hex(4),
            "batch": batch,
            "total": total,
            "warmup_s": warmup_s,
            "duration_s": duration_s,
            "drain_s": drain_s,
            "max_outstanding": max_outstanding,
            "rate": rate,
        }
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        load = ctx.Process(target=_load_main, args=(child, spec), daemon=True)
        load.start()
        say("starting validators; the load process pre-signs transactions")
        nodes_proc.wait_ready()
        if not parent.poll(300):
            raise BenchError("the load process did not finish pre-signing in 300 s")
        ready = parent.recv()
        if "error" in ready:
            raise BenchError(f"load process failed: {ready['error']}")
        say(f"pre-signed {total} transactions in {ready['presign_s']} s; "
            f"driving for {warmup_s:g} s warm-up + {duration_s:g} s")
        node_pids = [p.pid for p in nodes_proc.procs]
        cpu_before = [cpu_seconds(pid) for pid in [*node_pids, load.pid]]
        wall_before = time.monotonic()
        parent.send("go")
        if not parent.poll(warmup_s + duration_s + drain_s + 120):
            raise BenchError("the load process did not report")
        message = parent.recv()
        wall = time.monotonic() - wall_before
        cpu_used = [cpu_seconds(pid) - before for pid, before
                    in zip([*node_pids, load.pid], cpu_before, strict=True)]
        if "error" in message:
            raise BenchError(f"load process failed: {message['error']}")
        result = message["result"]
        import httpx

        try:
            node0 = consensus_summary(httpx.get(f"{nodes[0].rpc_url}/metrics", timeout=10).text)
        except httpx.HTTPError:
            node0 = {}
        dead = [n.moniker for n, p in zip(nodes, nodes_proc.procs, strict=True)
                if p.poll() is not None]
        if dead:
            raise BenchError(f"validators exited during the run: {', '.join(dead)}")
        report = {
            "validators": validators,
            "duration_s": duration_s,
            "warmup_s": warmup_s,
            "window": f"transactions first seen committed between {warmup_s:g} s and "
                      f"{warmup_s + duration_s:g} s after the first submission",
            "batch_txs": batch,
            "max_block_txs": block_txs,
            "timeout_propose_ms": timeout_propose_ms,
            "max_outstanding": max_outstanding,
            **result,
            "node0_consensus": node0,
            "cpu": {
                "wall_s": round(wall, 1),
                "validators_s": round(sum(cpu_used[:-1]), 1),
                "load_s": round(cpu_used[-1], 1),
                "validator_ms_per_tx": round(1000 * sum(cpu_used[:-1]) / result["submitted"], 2)
                if result["submitted"] else None,
            },
            "machine": machine(),
            "command": f"fcl bench --validators {validators} --duration {duration_s:g}",
        }
        return report
    finally:
        if load is not None and load.is_alive():
            load.kill()
        if nodes_proc is not None:
            nodes_proc.stop()
        if profile_dir is not None:
            from node.ops.profiling import summarise

            files = sorted(profile_dir.rglob("*.prof"))
            if files:
                (profile_dir / "summary.txt").write_text(summarise(files, top=40))
        if keep:
            say(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


# --------------------------------------------------------------------------- CLI


def _positive(kind: type, lo: float, hi: float) -> Any:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"{text!r} is not in {lo:g}..{hi:g}")
        return value

    return parse


def cmd_bench(args: argparse.Namespace) -> int:
    def progress(text: str) -> None:
        if not args.json:
            sys.stderr.write(text + "\n")
            sys.stderr.flush()

    try:
        report = run_bench(
            args.validators, args.duration, batch=args.batch, warmup_s=args.warmup,
            max_outstanding=args.max_outstanding, rate=args.rate, block_txs=args.block_txs,
            timeout_propose_ms=args.timeout_propose_ms, keep=args.keep,
            profile_dir=Path(args.profile).resolve() if args.profile else None,
            log_level=args.log_level, progress=progress,
        )
    except BenchError as exc:
        sys.stderr.write(f"error: bench_failed: {exc}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        return 130
    if args.json:
        print(json.dumps(report, sort_keys=True))
        return 0
    print(f"validators:          {report['validators']}")
    print(f"window:              {report['window']} ({report['duration_s']:g} s)")
    print(f"committed tx/s:      {report['committed_tx_per_s']}")
    print(f"commit latency p50:  {report['latency_p50_ms']} ms")
    print(f"commit latency p99:  {report['latency_p99_ms']} ms")
    print(f"blocks in window:    {report['blocks_in_window']} "
          f"(avg {report['avg_block_txs']} txs)")
    print(f"submitted:           {report['submitted']} (refused: {report['rejected'] or 0}, "
          f"never seen committed: {report['not_seen_committed']})")
    consensus = report.get("node0_consensus") or {}
    if consensus:
        steps = ", ".join(f"{k} {v} ms" for k, v in consensus["mean_step_ms"].items())
        print(f"node0 consensus:     {consensus['failed_rounds']} failed rounds; mean {steps}")
    cpu = report["cpu"]
    print(f"cpu:                 validators {cpu['validators_s']} s, load {cpu['load_s']} s "
          f"in {cpu['wall_s']} s ({cpu['validator_ms_per_tx']} ms of validator CPU per "
          f"submitted tx)")
    print(f"machine:             {report['machine']['cpu']}, {report['machine']['cores']} cores")
    if args.profile:
        print(f"profile:             {Path(args.profile) / 'summary.txt'}")
    return 0


def register(sub: Any) -> None:
    """Add ``bench`` to the ``fcl`` command."""
    p = sub.add_parser(
        "bench",
        help="measure committed tx/s and commit latency of a local multi-validator network",
        description="Start VALIDATORS validators as separate processes on 127.0.0.1 (a "
        "temporary testnet), drive pre-signed transactions at them from a separate load "
        "process through POST /v1/txs/batch, and report committed tx/s and commit latency "
        "p50/p99 over the measurement window.",
    )
    p.add_argument("--validators", type=_positive(int, 1, 16), default=4, metavar="N")
    p.add_argument("--duration", type=_positive(float, 1, 3600), default=10, metavar="SECONDS",
                   help="length of the measurement window (default 10)")
    p.add_argument("--warmup", type=_positive(float, 0, 600), default=2, metavar="SECONDS",
                   help="load before the window opens (default 2)")
    p.add_argument("--batch", type=_positive(int, 1, 1000), default=250, metavar="TXS",
                   help="transactions per POST /v1/txs/batch (default 250)")
    p.add_argument("--max-outstanding", type=_positive(int, 1, 1_000_000), default=3000,
                   metavar="TXS", help="submitted but not yet committed (default 3000)")
    p.add_argument("--rate", type=_positive(int, 1, 100_000), metavar="TX_PER_S",
                   help="offer this many tx/s (open loop, still capped by --max-outstanding); "
                   "default: as fast as the cap allows (closed loop)")
    p.add_argument("--block-txs", type=_positive(int, 1, 5000), default=1000, metavar="TXS",
                   help="validators' max_block_txs (default 1000)")
    p.add_argument("--timeout-propose-ms", type=_positive(int, 100, 600_000), default=3000,
                   metavar="MS", help="validators' consensus.timeout_propose_ms (default 3000)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--log-level", default="warning",
                   choices=("debug", "info", "warning", "error"),
                   help="validators' log level; logs go to the temporary directory")
    p.add_argument("--keep", action="store_true", help="keep the temporary network")
    p.add_argument("--profile", metavar="DIR",
                   help="cProfile every validator thread; write stats and DIR/summary.txt")
    p.set_defaults(func=cmd_bench)
