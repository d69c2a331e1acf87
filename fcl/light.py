"""``fcl light``: follow a chain's signed headers from the genesis or a saved checkpoint,
without replaying transactions (docs/light-client.md).

::

    fcl light --node URL (--genesis FILE | --checkpoint FILE) [--to HEIGHT|latest]
              [--follow [--poll S]] [--sequential] [--save FILE] [--timeout S] [--json]

By default it verifies by *skipping*: it fetches the validator-set changes between the
trusted height and the target (``GET /v1/light/changes``), then the target's header,
commit certificate and next validator set (``GET /v1/light/blocks/{h}`` or
``/v1/light/latest``), and trusts the target by ``ledger/header_chain.py``'s rules
(``ledger/light_client.py`` is the pure core). ``--sequential`` fetches and checks every
block in turn instead (each links to the one before by ``prev_hash``, each strictly later).
``--follow`` keeps following the latest block every ``--poll`` seconds until interrupted
(SIGINT or SIGTERM: exit 0). Each newly trusted height prints one line on standard output:
height, block hash, time (UTC) and the size of the validator set that signs the next block
(``--json``: one JSON object per line). ``--save FILE`` writes the trusted state (the
checkpoint, ``fcl-light-checkpoint`` version 1) after every advance, atomically (a
temporary file in the same folder, flushed to disk, then renamed over FILE), so a run
started with ``--checkpoint FILE`` resumes from it. With both ``--genesis`` and
``--checkpoint`` the checkpoint must belong to that genesis.

Exit codes, as ``fcl audit``: 0 the target is trusted (``--follow``: interrupted);
1 the client could not run (node unreachable, timed out, answering an error or not JSON;
the checkpoint cannot be written); 2 bad command line or input file (genesis, checkpoint);
3 the node's answers do not verify (the ``header_chain`` / ``light_client`` code is
printed). Under ``--follow`` a node that becomes unreachable after the first answer is
waited for (one note on standard error per failure); a refused answer always ends the run.
Errors are one line, ``error: <code>: <message>``, on standard error.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from fcl.cliargs import seconds
from ledger.errors import LedgerError
from ledger.genesis import Genesis
from ledger.header_chain import MAX_CHANGES, HeaderChainError, TrustedState, ValidatorSetChange
from ledger.light_client import LightBlock, LightClient, parse_changes_page, parse_light_block

__all__ = [
    "EXIT_FAILED",
    "EXIT_INPUT",
    "EXIT_OK",
    "EXIT_UNABLE",
    "LightInputError",
    "LightNode",
    "LightNodeError",
    "register",
    "run",
    "save_checkpoint",
    "trust",
]

EXIT_OK = 0
EXIT_FAILED = 1  # the node's answers do not verify
EXIT_INPUT = 2
EXIT_UNABLE = 3  # the client could not run (node unreachable, error, behind; checkpoint unwritable)
MAX_CHECKPOINT_BYTES = 1 << 20
#: Largest answer read from a node (a page of 100 changes of 128-validator sets is ~5 MiB).
MAX_ANSWER_BYTES = 16 << 20


class LightNodeError(LedgerError):
    """The node could not be asked: ``node_unreachable``, ``node_timeout``, ``node_error``
    (it answered an error: its code and message are in the message), ``bad_response`` (not
    JSON), ``node_behind`` (its latest block is below the trusted height); ``write_failed``
    for a checkpoint that cannot be written."""


class LightInputError(LedgerError):
    """A bad command line or input file: ``bad_genesis``, ``bad_checkpoint``,
    ``bad_usage``."""


# -- the node -------------------------------------------------------------------------------
class LightNode:
    """The ``/v1/light/*`` routes of one node, over HTTP. ``http`` lets tests plug in a
    client (a ``fastapi.testclient.TestClient`` is one)."""

    def __init__(self, url: str, *, timeout_s: float = 10.0,
                 http: httpx.Client | None = None) -> None:
        self.url = url.rstrip("/")
        self._owned = http is None  # a client given by the caller stays open
        self._http = http if http is not None else httpx.Client(
            base_url=self.url, timeout=httpx.Timeout(timeout_s), follow_redirects=False,
            headers={"accept": "application/json"})
        self._timeout_s = timeout_s

    def close(self) -> None:
        if self._owned:
            self._http.close()

    def _get(self, path: str, params: dict[str, int] | None = None) -> Any:
        try:
            with self._http.stream("GET", path, params=params) as resp:
                chunks: list[bytes] = []
                size = 0
                for chunk in resp.iter_bytes():
                    size += len(chunk)
                    if size > MAX_ANSWER_BYTES:
                        raise LightNodeError(
                            "bad_response", f"GET {path}: the answer is larger than "
                                            f"{MAX_ANSWER_BYTES} bytes")
                    chunks.append(chunk)
                status = resp.status_code
        except httpx.TimeoutException:
            raise LightNodeError("node_timeout", f"GET {self.url}{path}: no answer within "
                                                 f"{self._timeout_s:g} s") from None
        except httpx.HTTPError as exc:
            raise LightNodeError("node_unreachable",
                                 f"cannot reach {self.url}{path}: {exc or type(exc).__name__}") from None
        try:
            body = json.loads(b"".join(chunks).decode("utf-8"))
        except ValueError:  # also UnicodeDecodeError
            raise LightNodeError(
                "bad_response", f"GET {path}: HTTP {status}, the answer is not UTF-8 JSON") from None
        if status != 200:
            error = body.get("error") if isinstance(body, dict) else None
            if isinstance(error, dict):
                raise LightNodeError("node_error", f"GET {path}: HTTP {status} "
                                                   f"{error.get('code')}: {error.get('message')}")
            raise LightNodeError("node_error", f"GET {path}: HTTP {status}")
        return body

    def latest(self) -> LightBlock:
        return parse_light_block(self._get("/v1/light/latest"))

    def block(self, height: int) -> LightBlock:
        return parse_light_block(self._get(f"/v1/light/blocks/{height}"), height)

    def changes(self, above: int, below: int) -> list[ValidatorSetChange]:
        """Every change strictly between ``above`` and ``below``, page after page."""
        out: list[ValidatorSetChange] = []
        low = above
        while True:
            page, complete = parse_changes_page(
                self._get("/v1/light/changes", {"above": low, "below": below}), low, below)
            out.extend(page)
            if len(out) > MAX_CHANGES:
                raise HeaderChainError("too_many_changes",
                                       f"more than {MAX_CHANGES} changes between {above} and {below}")
            if complete:
                return out
            low = page[-1].height


# -- trusting a height ----------------------------------------------------------------------
def trust(
    node: LightNode,
    client: LightClient,
    target: int | None,
    *,
    sequential: bool = False,
    on_trusted: Callable[[TrustedState], None] = lambda _: None,
) -> TrustedState:
    """Move ``client`` to ``target`` (None: the node's latest block), calling
    ``on_trusted`` for each newly trusted height. Raises :class:`HeaderChainError` when an
    answer does not verify, :class:`LightNodeError` when the node cannot be asked."""
    start = client.trusted.height
    tip: LightBlock | None
    if target is None:
        tip = node.latest()
    elif target <= start:
        tip = node.block(target) if target > 0 else None
    else:
        tip = None
    goal = tip.height if tip is not None else (target or 0)
    if goal < start:
        raise LightNodeError(
            "node_behind",
            f"the node's latest block {goal} is below the trusted height {start}: the node is "
            "behind (or serves another history); wait, or ask another node")
    if goal == start:
        if tip is not None:
            client.skip_to(tip, [])  # the trusted block itself: it must be the same block
        return client.trusted
    if sequential:
        for h in range(start + 1, goal + 1):
            on_trusted(client.step(tip if tip is not None and h == goal else node.block(h)))
        return client.trusted
    block = tip if tip is not None else node.block(goal)
    changes = node.changes(start, goal) if goal > start + 1 else []
    on_trusted(client.skip_to(block, changes))
    return client.trusted


# -- files ----------------------------------------------------------------------------------
def save_checkpoint(path: Path, state: TrustedState) -> None:
    """Write ``state`` to ``path`` atomically: a temporary file beside it, flushed to disk,
    then renamed over ``path`` (a reader sees the old file or the new one, never a part)."""
    text = json.dumps(state.to_json(), indent=2, sort_keys=True) + "\n"
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with _quiet():
            tmp.unlink(missing_ok=True)
        raise LightNodeError("write_failed", f"cannot write the checkpoint {path}: "
                                             f"{exc.strerror or exc}") from None


@contextmanager
def _quiet() -> Iterator[None]:
    try:
        yield
    except OSError:
        pass


def load_genesis(path: str) -> Genesis:
    try:
        return Genesis.load(path)
    except OSError as exc:
        raise LightInputError("bad_genesis", f"cannot read {path}: {exc.strerror}") from None
    except LedgerError as exc:
        raise LightInputError("bad_genesis", f"{path}: {exc.code}: {exc.message}") from None


def load_checkpoint(path: str) -> TrustedState:
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_CHECKPOINT_BYTES + 1)
    except OSError as exc:
        raise LightInputError("bad_checkpoint", f"cannot read {path}: {exc.strerror}") from None
    if len(data) > MAX_CHECKPOINT_BYTES:
        raise LightInputError("bad_checkpoint", f"{path} is larger than {MAX_CHECKPOINT_BYTES} bytes")
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise LightInputError("bad_checkpoint", f"{path} is not UTF-8 JSON") from None
    try:
        return TrustedState.from_json(doc)
    except HeaderChainError as exc:
        raise LightInputError("bad_checkpoint", f"{path}: {exc.message}") from None


def _anchor(args: argparse.Namespace) -> tuple[TrustedState, str]:
    genesis = None if args.genesis is None else load_genesis(args.genesis)
    if args.checkpoint is None:
        assert genesis is not None
        return TrustedState.from_genesis(genesis), "the genesis"
    state = load_checkpoint(args.checkpoint)
    if genesis is not None and (state.genesis_hash, state.chain_id) != (genesis.hash, genesis.chain_id):
        raise LightInputError(
            "bad_checkpoint",
            f"{args.checkpoint} is a checkpoint of chain {state.chain_id!r} with genesis "
            f"{state.genesis_hash[:16]}…, not of {args.genesis} ({genesis.chain_id!r}, "
            f"{genesis.hash[:16]}…)")
    return state, f"the checkpoint {args.checkpoint}"


# -- output ---------------------------------------------------------------------------------
def _utc(ms: int) -> str:
    return f"{datetime.fromtimestamp(ms // 1000, UTC):%Y-%m-%dT%H:%M:%S}.{ms % 1000:03d}Z"


def _line(state: TrustedState, as_json: bool) -> str:
    if as_json:
        return json.dumps({"block_hash": state.block_hash, "height": state.height,
                           "time": state.time, "validators": len(state.next_validators.validators)},
                          sort_keys=True)
    return (f"height {state.height}  hash {state.block_hash}  time {_utc(state.time)}  "
            f"validators {len(state.next_validators.validators)}")


def _err(code: str, message: str) -> None:
    sys.stderr.write(f"error: {code}: {message}\n")
    sys.stderr.flush()


def _note(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


# -- the command ----------------------------------------------------------------------------
def _target(text: str) -> int | None:
    if text == "latest":
        return None
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        raise argparse.ArgumentTypeError(f"{text!r} is not a height or 'latest'")
    return int(text)


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``light`` command to the ``fcl`` sub-command set."""
    p = subparsers.add_parser(
        "light",
        help="follow a chain's signed headers from the genesis or a checkpoint (light client)",
        description="Trust a node's latest block (or --to HEIGHT) from the genesis or a saved "
        "checkpoint by commit certificates and validator-set changes, without replaying "
        "transactions (docs/light-client.md). Exit 0 trusted, 1 node unreachable or "
        "answering errors, 2 bad input, 3 the node's answers do not verify.",
    )
    p.add_argument("--node", required=True, metavar="URL", help="a node's RPC address")
    p.add_argument("--genesis", metavar="FILE", help="the network's genesis.json")
    p.add_argument("--checkpoint", metavar="FILE",
                   help="resume from this checkpoint (written by --save)")
    p.add_argument("--to", type=_target, default=None, metavar="HEIGHT|latest",
                   help="the height to trust (default: the latest)")
    p.add_argument("--follow", action="store_true",
                   help="keep following the latest block until interrupted")
    p.add_argument("--poll", type=seconds(3600), default=2.0, metavar="S",
                   help="with --follow: seconds between two polls (default 2)")
    p.add_argument("--sequential", action="store_true",
                   help="verify every block in turn instead of skipping to the target")
    p.add_argument("--save", metavar="FILE",
                   help="write the trusted state here after every advance (atomically)")
    p.add_argument("--timeout", type=seconds(3600), default=10.0, metavar="S",
                   help="per-request timeout (default 10)")
    p.add_argument("--json", action="store_true", help="print each trusted height as JSON")
    p.set_defaults(func=run)
    return p


class _Stop:
    """SIGINT/SIGTERM end a ``--follow`` run between two polls (exit 0)."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def __call__(self, *_: Any) -> None:
        self.event.set()


def _run(args: argparse.Namespace, http: httpx.Client | None, stop: threading.Event) -> int:
    if args.genesis is None and args.checkpoint is None:
        raise LightInputError("bad_usage", "give the network's --genesis FILE or a --checkpoint FILE")
    try:
        url = httpx.URL(args.node)
    except (httpx.InvalidURL, TypeError, ValueError):
        url = None
    if url is None or url.scheme not in ("http", "https") or not url.host or url.query:
        raise LightInputError("bad_usage", f"--node must be http(s)://host[:port], not {args.node!r}")
    if args.follow and args.to is not None:
        raise LightInputError("bad_usage", "--to is for one run; --follow follows the latest block")
    state, origin = _anchor(args)
    if args.to is not None and args.to < state.height:
        raise LightInputError(
            "bad_usage", f"--to {args.to} is below the checkpoint's height {state.height}")
    save = None if args.save is None else Path(args.save)
    client = LightClient(state)
    saved: list[TrustedState] = []

    def trusted(new: TrustedState) -> None:
        print(_line(new, args.json), flush=True)
        if save is not None:
            save_checkpoint(save, new)
            saved.append(new)

    _note(f"light client of {state.chain_id} (genesis {state.genesis_hash[:16]}…): trusting "
          f"height {state.height} from {origin}; node {args.node}")
    node = LightNode(args.node, timeout_s=args.timeout, http=http)
    try:
        trust(node, client, args.to, sequential=args.sequential, on_trusted=trusted)
        if not args.follow:
            if save is not None and not saved:
                save_checkpoint(save, client.trusted)
            return EXIT_OK
        handler = _Stop(stop)
        signals = (signal.SIGINT, signal.SIGTERM)
        main = threading.current_thread() is threading.main_thread()
        previous = [signal.signal(s, handler) for s in signals] if main else []
        try:
            while not stop.wait(args.poll):
                try:
                    trust(node, client, None, sequential=args.sequential, on_trusted=trusted)
                except LightNodeError as exc:
                    if exc.code == "write_failed":
                        raise
                    _note(f"note: {exc.code}: {exc.message}; trying again in {args.poll:g} s")
        finally:
            for s, old in zip(signals, previous, strict=False):
                signal.signal(s, old)
        _note(f"stopped at height {client.trusted.height}")
        return EXIT_OK
    finally:
        node.close()


def run(args: argparse.Namespace, *, http: httpx.Client | None = None,
        stop: threading.Event | None = None) -> int:
    """Run ``fcl light``; returns the exit code (never raises for expected errors).
    ``http`` replaces the HTTP client and ``stop``, once set, ends ``--follow`` (tests)."""
    try:
        return _run(args, http, stop or threading.Event())
    except LightInputError as exc:
        _err(exc.code, exc.message)
        return EXIT_INPUT
    except HeaderChainError as exc:
        _err(exc.code, f"the node's answer does not verify: {exc.message}")
        return EXIT_FAILED
    except LightNodeError as exc:
        _err(exc.code, exc.message)
        return EXIT_UNABLE
    except KeyboardInterrupt:
        _err("interrupted", "the light client was interrupted")
        return 130
