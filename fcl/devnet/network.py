"""A local development network in one directory: validators as subprocesses on
127.0.0.1, the sample lifecycle of :mod:`fcl.devnet.sample`, its two retirement
certificates verified offline, and the explorer's URL.

Layout of ``DIR`` (docs/devnet.md)::

    DIR/passphrase        dev passphrase of every key below (mode 0600; a development
                          convenience, never a way to run a real node)
    DIR/genesis.json      the network's genesis
    DIR/node0 .. nodeN-1  node homes (config.json, genesis.json, keys/, data/), each with
                          node.log, the node's log while the devnet runs it
    DIR/wallet/           encrypted keystore with the sample participants' keys
    DIR/devnet.json       how the network was created (validators, ports)
    DIR/sample.json       the sample's progress; "complete": true is the marker that it ran
    DIR/certificates/     compliance-<id>.json and voluntary-<id>.json

A second run on the same ``DIR`` restarts the same nodes and does not run a finished
sample again. The network is created with ``fcl testnet`` when the installed ``fcl`` has
it; otherwise (an older build) with one validator through ``fcl node init``.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import httpx

from ledger.errors import LedgerError
from ledger.genesis import Genesis
from fcl.devnet.sample import SampleResult, load_result, run_sample
from node.home import NodeHome

__all__ = [
    "DEFAULT_BASE_PORT",
    "DEFAULT_VALIDATORS",
    "Devnet",
    "DevnetError",
    "run_devnet",
]

DEFAULT_BASE_PORT = 26657
DEFAULT_VALIDATORS = 4
HEALTH_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 20.0
TESTNET_TIMEOUT_S = 300.0

Out = Callable[[str], None]


class DevnetError(LedgerError):
    """The devnet could not be created, started or checked: ``devnet_exists``,
    ``devnet_init_failed``, ``port_in_use``, ``node_failed``, ``node_timeout``,
    ``certificate_unavailable``, ``certificate_invalid``, ``bad_devnet``."""


def _print(text: str) -> None:
    print(text, flush=True)


def fcl_command() -> list[str]:
    """How to run ``fcl`` with this interpreter (no dependence on PATH)."""
    return [sys.executable, "-m", "fcl"]


def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("FCL_PASSPHRASE", "FCL_KEYSTORE")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: the node gets SIGTERM if the devnet process dies, even by SIGKILL."""
    with contextlib.suppress(Exception):
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _tail(path: Path, lines: int = 12) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join("    " + line for line in text.splitlines()[-lines:])


@dataclass
class NodeProcess:
    """One validator of the devnet and, while it runs, its process."""

    name: str
    home: Path
    rpc_url: str
    rpc_port: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.home / "node.log"

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class Devnet:
    """The devnet in ``data_dir``: create or resume, start, sample, certificates, stop."""

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        *,
        base_port: int = DEFAULT_BASE_PORT,
        validators: int = DEFAULT_VALIDATORS,
        out: Out = _print,
        fcl: Sequence[str] | None = None,
    ) -> None:
        self.root = Path(data_dir).expanduser().resolve()
        self.base_port = base_port
        self.validators = validators
        self.out = out
        self.fcl = list(fcl) if fcl is not None else fcl_command()
        self.nodes: list[NodeProcess] = []
        self._passphrase: str | None = None

    # ----------------------------------------------------------------- paths

    @property
    def passphrase_path(self) -> Path:
        return self.root / "passphrase"

    @property
    def genesis_path(self) -> Path:
        return self.root / "genesis.json"

    @property
    def wallet_dir(self) -> Path:
        return self.root / "wallet"

    @property
    def certificates_dir(self) -> Path:
        return self.root / "certificates"

    @property
    def sample_path(self) -> Path:
        return self.root / "sample.json"

    @property
    def info_path(self) -> Path:
        return self.root / "devnet.json"

    def homes(self) -> list[Path]:
        """The initialised node homes ``DIR/node<i>``, in index order."""
        found = []
        for path in self.root.glob("node*"):
            suffix = path.name[4:]
            if suffix.isascii() and suffix.isdigit() and NodeHome(path).is_initialised():
                found.append((int(suffix), path))
        return [p for _, p in sorted(found)]

    def exists(self) -> bool:
        return bool(self.homes())

    # ----------------------------------------------------------------- setup

    def passphrase(self) -> str:
        """The dev passphrase, created (0600) on first use."""
        if self._passphrase is not None:
            return self._passphrase
        path = self.passphrase_path
        if not path.exists():
            self.root.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(secrets.token_urlsafe(24) + "\n")
            self.out(f"created {path} (mode 0600): the dev passphrase of every key in this "
                     "devnet -- a development convenience only")
        elif os.stat(path).st_mode & 0o077:
            self.out(f"warning: {path} is readable by other users; chmod 600 it")
        # the first line, as `fcl node start --passphrase-file` reads it
        text = path.read_text(encoding="utf-8").split("\n", 1)[0].removesuffix("\r")
        if not text:
            raise DevnetError("bad_devnet", f"{path} is empty")
        self._passphrase = text
        return text

    def _run_fcl(self, args: Sequence[str], what: str, timeout_s: float) -> str:
        try:
            proc = subprocess.run(
                [*self.fcl, *args], capture_output=True, text=True, timeout=timeout_s,
                env=_child_env(), stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            raise DevnetError("devnet_init_failed", f"{what} took over {timeout_s:g} s") from None
        if proc.returncode != 0:
            raise DevnetError(
                "devnet_init_failed",
                f"{what} failed (exit {proc.returncode}): "
                f"{(proc.stderr or proc.stdout).strip()[-2000:]}",
            )
        return proc.stdout

    def has_testnet_command(self) -> bool:
        """Whether the installed ``fcl`` has ``testnet`` (the multi-validator setup)."""
        try:
            proc = subprocess.run([*self.fcl, "testnet", "--help"], capture_output=True,
                                  timeout=60, env=_child_env(), stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired):
            return False
        return proc.returncode == 0

    def create(self) -> None:
        """Create the network: passphrase, validators' homes, DIR/genesis.json."""
        if self.root.exists() and any(p.name.startswith("node") for p in self.root.iterdir()):
            raise DevnetError(
                "devnet_exists",
                f"{self.root} holds node directories but no initialised node home; remove "
                "it (make clean-devnet) and run again",
            )
        passphrase_file = str(self.passphrase_path)
        self.passphrase()
        if self.has_testnet_command():
            self.out(f"creating a {self.validators}-validator network in {self.root} "
                     f"(fcl testnet, base port {self.base_port}) ...")
            self._run_fcl(
                ["testnet", "--validators", str(self.validators), "--out", str(self.root),
                 "--base-port", str(self.base_port), "--passphrase-file", passphrase_file],
                "fcl testnet", TESTNET_TIMEOUT_S,
            )
            mode = "testnet"
        else:
            if self.validators != 1:
                self.out("note: this build of fcl has no `testnet` command; the devnet runs "
                         "one validator")
            self.out(f"creating a 1-validator network in {self.root} (fcl node init) ...")
            self._run_fcl(
                ["node", "init", "--home", str(self.root / "node0"), "--moniker", "node0",
                 "--rpc-port", str(self.base_port), "--passphrase-file", passphrase_file],
                "fcl node init", 120,
            )
            mode = "single"
        homes = self.homes()
        if not homes:
            raise DevnetError("devnet_init_failed", f"no node home was created in {self.root}")
        if not self.genesis_path.exists():
            self.genesis_path.write_bytes((homes[0] / "genesis.json").read_bytes())
        info = {"mode": mode, "validators": len(homes), "base_port": self.base_port,
                "created_ms": int(time.time() * 1000)}
        self.info_path.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")

    def load_genesis(self) -> Genesis:
        homes = self.homes()
        if not self.genesis_path.exists() and homes:
            self.genesis_path.write_bytes((homes[0] / "genesis.json").read_bytes())
        try:
            genesis = Genesis.load(self.genesis_path)
        except (OSError, LedgerError) as exc:
            raise DevnetError("bad_devnet", f"cannot read {self.genesis_path}: {exc}") from None
        for home in homes:
            theirs = NodeHome(home).load_genesis()
            if theirs.hash != genesis.hash:
                raise DevnetError("bad_devnet", f"{home}/genesis.json differs from "
                                  f"{self.genesis_path}")
        return genesis

    def prepare(self) -> Genesis:
        """Create the network, or resume the one already in ``DIR``."""
        if self.exists():
            homes = self.homes()
            self.out(f"resuming the devnet in {self.root} ({len(homes)} validator"
                     f"{'s' if len(homes) != 1 else ''})")
            if not self.passphrase_path.exists():
                raise DevnetError("bad_devnet", f"{self.passphrase_path} is missing")
        else:
            self.create()
        genesis = self.load_genesis()
        self.nodes = []
        for home in self.homes():
            config = NodeHome(home).load_config()
            host = "127.0.0.1" if config.rpc_host in ("0.0.0.0", "") else config.rpc_host
            self.nodes.append(NodeProcess(home.name, home, f"http://{host}:{config.rpc_port}",
                                          config.rpc_port))
        self.import_genesis_keys(genesis)
        return genesis

    def import_genesis_keys(self, genesis: Genesis) -> None:
        """Copy the admin keys of the genesis organisations (regulator, and with ``fcl
        testnet`` the exchange and verification bodies operating the validators) from the
        node homes' keystores into ``DIR/wallet``, named by organisation id, so the sample
        can sign with them. The regulator's is required."""
        from wallet.keystore import Keystore

        wallet = Keystore(self.wallet_dir)
        have = {e.public_key for e in wallet.list()}
        names = {e.name for e in wallet.list()}
        sources: dict[str, tuple[Path, str]] = {}
        for directory in sorted(self.root.glob("*/wallet")):
            if directory.is_dir() and directory.resolve() != self.wallet_dir.resolve():
                for entry in Keystore(directory).list():
                    sources.setdefault(entry.public_key, (directory, entry.name))
        regulator_held = False
        for org in genesis.app_state.get("organisations", []) or []:
            if not isinstance(org, dict):
                continue
            for pub in org.get("admins", []) or []:
                if pub not in have and pub in sources:
                    directory, name = sources[pub]
                    key = Keystore(directory).load(name, self.passphrase())
                    target = str(org["id"]) if str(org["id"]) not in names else f"{org['id']}-{pub[:8]}"
                    wallet.import_seed(target, key.seed_bytes(), self.passphrase())
                    have.add(pub)
                    names.add(target)
                    self.out(f"admin key of genesis organisation {org['id']} copied to "
                             f"{self.wallet_dir} as '{target}'")
                if pub in have and "regulator" in (org.get("roles") or []):
                    regulator_held = True
        if not regulator_held:
            raise DevnetError(
                "bad_devnet",
                f"no keystore in {self.root} holds the admin key of a genesis regulator "
                "organisation",
            )

    # ----------------------------------------------------------------- processes

    def start_nodes(self, timeout_s: float = HEALTH_TIMEOUT_S) -> None:
        """Start every node (logs to DIR/nodeI/node.log) and wait for /healthz."""
        busy = [n for n in self.nodes if not port_is_free(n.rpc_port)]
        if busy:
            names = ", ".join(f"{n.name} ({n.rpc_port})" for n in busy)
            raise DevnetError(
                "port_in_use",
                f"RPC port(s) already in use: {names}. Is this devnet already running? "
                "Otherwise use --base-port on a new --data directory",
            )
        self.out(f"starting {len(self.nodes)} node(s); logs in {self.root}/node*/node.log")
        for node in self.nodes:
            log = open(node.log_path, "ab")  # handed to the child, closed below
            try:
                node.proc = subprocess.Popen(
                    [*self.fcl, "node", "start", "--home", str(node.home),
                     "--passphrase-file", str(self.passphrase_path)],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    env=_child_env(), start_new_session=True,
                    preexec_fn=_die_with_parent if sys.platform == "linux" else None,
                )
            finally:
                log.close()
        self.wait_healthy(timeout_s)

    def wait_healthy(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        pending = list(self.nodes)
        with httpx.Client(timeout=2.0) as http:
            while pending:
                for node in list(pending):
                    if node.proc is not None and node.proc.poll() is not None:
                        raise DevnetError(
                            "node_failed",
                            f"{node.name} exited with status {node.proc.returncode} while "
                            f"starting; the end of {node.log_path}:\n{_tail(node.log_path)}",
                        )
                    try:
                        if http.get(f"{node.rpc_url}/healthz").status_code == 200:
                            pending.remove(node)
                            self.out(f"  {node.name} is up at {node.rpc_url}")
                    except httpx.HTTPError:
                        pass
                if pending and time.monotonic() > deadline:
                    names = ", ".join(n.name for n in pending)
                    raise DevnetError("node_timeout",
                                      f"{names} not healthy within {timeout_s:g} s; see "
                                      f"{pending[0].log_path}")
                if pending:
                    time.sleep(0.2)

    def stop_nodes(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """SIGTERM every running node, wait, then SIGKILL what is left."""
        running = [n for n in self.nodes if n.alive()]
        if not running:
            return
        self.out(f"stopping {len(running)} node(s) ...")
        for node in running:
            with contextlib.suppress(ProcessLookupError):
                assert node.proc is not None
                node.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for node in running:
            assert node.proc is not None
            try:
                node.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.out(f"  {node.name} did not stop in {timeout_s:g} s; killing it")
                with contextlib.suppress(ProcessLookupError):
                    node.proc.kill()
                node.proc.wait(timeout=10)
            code = node.proc.returncode
            if code not in (0, -signal.SIGTERM):
                self.out(f"  {node.name} exited with status {code}; see {node.log_path}")

    def kill_nodes(self) -> None:
        """Last resort (atexit): kill any node still running."""
        for node in self.nodes:
            if node.alive():
                assert node.proc is not None
                with contextlib.suppress(ProcessLookupError):
                    node.proc.kill()

    # ----------------------------------------------------------------- sample

    def run_sample(self, genesis: Genesis) -> SampleResult:
        from wallet.keystore import Keystore

        done = load_result(self.sample_path)
        if done is not None and done.complete and done.genesis_hash == genesis.hash:
            self.out(f"the sample already ran on this network (marker {self.sample_path}); "
                     "not running it again")
            return done
        self.out("running the sample lifecycle (project AH-XN-0001, Xiuning County, Anhui)")
        return run_sample(
            [n.rpc_url for n in self.nodes],
            Keystore(self.wallet_dir),
            self.passphrase(),
            genesis,
            lambda line: self.out("  " + line),
            state_file=self.sample_path,
        )

    def certificate_paths(self, result: SampleResult) -> dict[str, Path]:
        return {purpose: self.certificates_dir / f"{purpose}-{rid}.json"
                for purpose, rid in result.retirement_ids.items()}

    def fetch_certificates(self, result: SampleResult) -> dict[str, Path]:
        """Write each retirement's certificate (GET /v1/certificates/{id}) to
        DIR/certificates/ unless it is already there."""
        paths = self.certificate_paths(result)
        self.certificates_dir.mkdir(parents=True, exist_ok=True)
        with httpx.Client(timeout=60.0) as http:
            for purpose, path in paths.items():
                if path.exists():
                    continue
                rid = result.retirement_ids[purpose]
                path.write_bytes(self._fetch_certificate(http, rid))
                self.out(f"wrote the {purpose} retirement certificate {path}")
        return paths

    def _fetch_certificate(self, http: httpx.Client, retirement_id: str) -> bytes:
        problems = []
        for node in self.nodes:
            if not node.alive() and node.proc is not None:
                continue
            for route in (f"/v1/certificates/{retirement_id}",
                          f"/v1/explorer/certificates/{retirement_id}"):
                try:
                    resp = http.get(node.rpc_url + route)
                except httpx.HTTPError as exc:
                    problems.append(f"{node.name} {route}: {exc}")
                    continue
                if resp.status_code == 200:
                    return resp.content
                problems.append(f"{node.name} {route}: HTTP {resp.status_code}")
        raise DevnetError("certificate_unavailable",
                          f"no node served the certificate of {retirement_id}: "
                          + "; ".join(problems[:4]))

    def verify_certificates(self, paths: dict[str, Path], genesis: Genesis) -> None:
        """Verify every certificate offline against DIR/genesis.json."""
        from chaincode.certificate_links import CARBON_LINKS
        from ledger.certificate import verify_certificate_bytes

        for purpose, path in paths.items():
            verdict = verify_certificate_bytes(path.read_bytes(), genesis=genesis,
                                               links=CARBON_LINKS)
            if not verdict.ok:
                raise DevnetError("certificate_invalid",
                                  f"{path} does not verify: {verdict.message}")
            self.out(f"verified offline: {path.name} ({purpose}) against genesis "
                     f"{genesis.hash[:16]}…")
            summary = verdict.summary
            if summary is not None:
                for line in summary.lines():
                    self.out("    " + line)

    # ----------------------------------------------------------------- serving

    @property
    def explorer_url(self) -> str:
        return f"{self.nodes[0].rpc_url}/explorer/" if self.nodes else ""

    def chain_height(self) -> int | None:
        for node in self.nodes:
            try:
                resp = httpx.get(f"{node.rpc_url}/v1/status", timeout=5.0)
                if resp.status_code == 200:
                    return int(resp.json()["height"])
            except (httpx.HTTPError, ValueError, KeyError, TypeError):
                continue
        return None

    def serve(self, should_stop: Callable[[], bool]) -> int:
        """Wait while the nodes run; 0 when asked to stop, 1 if every node died."""
        reported: set[str] = set()
        while not should_stop():
            for node in self.nodes:
                if not node.alive() and node.name not in reported:
                    reported.add(node.name)
                    code = node.proc.returncode if node.proc is not None else None
                    self.out(f"warning: {node.name} exited with status {code}; the end of "
                             f"{node.log_path}:\n{_tail(node.log_path)}")
            if self.nodes and all(not n.alive() for n in self.nodes):
                self.out("error: node_failed: every node has stopped")
                return 1
            time.sleep(0.5)
        return 0


class _StopRequested(Exception):
    """SIGTERM (or SIGINT) arrived."""


def run_devnet(
    data_dir: str | os.PathLike[str],
    *,
    base_port: int = DEFAULT_BASE_PORT,
    validators: int = DEFAULT_VALIDATORS,
    once: bool = False,
    out: Out = _print,
) -> int:
    """``fcl devnet``: create or resume, start, sample, certificates, then serve until
    Ctrl-C / SIGTERM (or, with ``once``, stop and return). Returns the exit code."""
    import atexit

    devnet = Devnet(data_dir, base_port=base_port, validators=validators, out=out)
    atexit.register(devnet.kill_nodes)
    stop = {"requested": False}

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if stop["requested"]:
            return
        stop["requested"] = True
        raise _StopRequested(signal.Signals(signum).name)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    started = time.monotonic()
    try:
        genesis = devnet.prepare()
        out(f"chain id {genesis.chain_id}, genesis {genesis.hash} ({devnet.genesis_path})")
        devnet.start_nodes()
        result = devnet.run_sample(genesis)
        paths = devnet.fetch_certificates(result)
        devnet.verify_certificates(paths, genesis)
        height = devnet.chain_height()
        out("")
        out(f"chain height:  {height}")
        out(f"explorer:      {devnet.explorer_url}")
        out(f"node RPC:      {', '.join(n.rpc_url for n in devnet.nodes)}")
        out(f"certificates:  {devnet.certificates_dir}")
        out(f"genesis hash:  {genesis.hash} (to trust: SHA-256 of the canonical genesis)")
        out(f"verify one:    fcl verify {next(iter(paths.values()), '<certificate>')} "
            f"--genesis-hash {genesis.hash}")
        out(f"ready in {time.monotonic() - started:.1f} s")
        if once:
            return 0
        out("serving; press Ctrl-C to stop")
        return devnet.serve(lambda: stop["requested"])
    except _StopRequested as exc:
        out(f"\n{exc} received; stopping")
        return 0 if not once else 130
    except LedgerError as exc:
        sys.stderr.write(f"error: {exc.code}: {exc.message}\n")
        sys.stderr.flush()
        return 1
    finally:
        # a second signal while stopping must not interrupt the clean shutdown
        for s in previous:
            signal.signal(s, signal.SIG_IGN)
        try:
            devnet.stop_nodes()
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
        atexit.unregister(devnet.kill_nodes)
