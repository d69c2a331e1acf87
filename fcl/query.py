"""``fcl query``: state keys' values at a height, proven against an anchor you trust.

    fcl query KEY... --node URL (--genesis FILE | --genesis-hash HEX | --checkpoint FILE)
              [--height H] [--save FILE] [--json] [--timeout S]
    fcl query --file PROOF.json (--genesis FILE | --genesis-hash HEX | --checkpoint FILE)
              [--json]

The first form fetches one state-proof file for every key (``POST /v1/state/proofs``) and
verifies it **offline**, with ``ledger.state_proof.verify_state_proof_bytes``, against the
anchor given on the command line -- the node's word is never taken for the genesis, the
validator sets or the values; the second re-verifies a saved file. It prints each key's
value (canonical JSON) or ``absent``, with the height and the block hash. docs/state-proofs.md
("State-proof files") specifies the checks.

Exit codes: 0 every key proven; 1 the proof does not verify (or proves other keys or
another height than asked); 2 bad command line or unreadable input (a key that is not a
state key, a missing or malformed genesis, checkpoint or proof file); 3 the node could not
be asked (unreachable, timeout, or it refused the request: its error code is printed).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from fcl.cliargs import seconds
from ledger.crypto import is_hex_digest
from ledger.encoding import canonical_str, decode
from ledger.errors import LedgerError
from ledger.genesis import Genesis
from ledger.header_chain import TrustedState
from ledger.state_proof import (
    MAX_FILE_BYTES,
    StateProofError,
    StateProofVerdict,
    check_key,
    verify_state_proof_bytes,
)

__all__ = ["EXIT_INVALID", "EXIT_NODE", "EXIT_OK", "EXIT_USAGE", "Anchor", "add_anchor_options",
           "cmd_query", "load_anchor", "register", "render"]

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2
EXIT_NODE = 3
_MAX_KEYS = 256  # the node's bound (node/api/proofs.py MAX_KEYS)


class _Usage(Exception):
    """A bad command line or unreadable input (exit 2)."""


class Anchor:
    """What the user trusts: a genesis document, its hash, or a checkpoint."""

    def __init__(self, genesis: Genesis | None = None, genesis_hash: str | None = None,
                 checkpoint: TrustedState | None = None) -> None:
        self.genesis = genesis
        self.genesis_hash = genesis_hash
        self.checkpoint = checkpoint

    def kwargs(self) -> dict[str, Any]:
        return {"genesis": self.genesis, "genesis_hash": self.genesis_hash,
                "checkpoint": self.checkpoint}


def add_anchor_options(p: argparse.ArgumentParser, *, checkpoint: bool = True) -> None:
    """The mutually exclusive, required ``--genesis | --genesis-hash | --checkpoint``."""
    anchor = p.add_mutually_exclusive_group(required=True)
    anchor.add_argument("--genesis", metavar="FILE", help="the network's genesis document")
    anchor.add_argument("--genesis-hash", metavar="HEX",
                        help="the network's genesis hash (64 hex digits, as `fcl node init` prints it)")
    if checkpoint:
        anchor.add_argument("--checkpoint", metavar="FILE",
                            help="a light-client checkpoint file (fcl-light-checkpoint v1) you trust")


def load_anchor(args: argparse.Namespace) -> Anchor:
    """The anchor named on the command line; raises ``_Usage``."""
    if getattr(args, "genesis", None) is not None:
        try:
            return Anchor(genesis=Genesis.load(Path(args.genesis).expanduser()))
        except OSError as exc:
            raise _Usage(f"cannot read genesis {args.genesis}: {exc.strerror or exc}") from None
        except LedgerError as exc:
            raise _Usage(f"{exc.code}: {exc.message}") from None
    if getattr(args, "checkpoint", None) is not None:
        path = Path(args.checkpoint).expanduser()
        try:
            data = path.read_bytes()[: 1 << 20]
            return Anchor(checkpoint=TrustedState.from_json(decode(data)))
        except OSError as exc:
            raise _Usage(f"cannot read checkpoint {args.checkpoint}: {exc.strerror or exc}") from None
        except (LedgerError, ValueError) as exc:
            message = exc.message if isinstance(exc, LedgerError) else str(exc)
            raise _Usage(f"bad_checkpoint: {args.checkpoint}: {message}") from None
    genesis_hash = str(args.genesis_hash).strip().lower()
    if not is_hex_digest(genesis_hash):
        raise _Usage("--genesis-hash must be 64 hex digits (a SHA-256)")
    return Anchor(genesis_hash=genesis_hash)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``query`` command to a top-level ``fcl`` parser."""
    p = subparsers.add_parser(
        "query",
        help="read state keys with a proof, verified offline against your anchor",
        description="Fetch state keys' values (or their absence) with a state-proof file from "
        "a node and verify it offline against the genesis or a checkpoint you trust; or "
        "re-verify a saved file (--file). Exit 0 proven, 1 not proven, 2 bad input, 3 node "
        "not reachable or refused.",
    )
    p.add_argument("keys", metavar="KEY", nargs="*", help="state keys, e.g. unit/AH-0001/000000000001")
    p.add_argument("--node", metavar="URL", help="the node's API, http://host:port")
    p.add_argument("--file", metavar="PROOF.json", help="verify a saved state-proof file instead")
    add_anchor_options(p)
    p.add_argument("--height", metavar="H", type=int, help="the height (default: the latest)")
    p.add_argument("--save", metavar="FILE", help="write the fetched proof file here")
    p.add_argument("--json", action="store_true", help="print the verdict as JSON")
    p.add_argument("--timeout", metavar="S", type=seconds(600), default=30.0,
                   help="seconds to wait for the node (default 30)")
    p.set_defaults(func=cmd_query)


def _fail(text: str, code: int) -> int:
    sys.stderr.write(f"error: {text}\n")
    return code


def _fetch(url: str, keys: list[str], height: int | None, timeout: float) -> bytes:
    body: dict[str, Any] = {"keys": keys}
    if height is not None:
        body["height"] = height
    try:
        resp = httpx.post(url.rstrip("/") + "/v1/state/proofs", json=body, timeout=timeout)
    except httpx.HTTPError as exc:
        raise ConnectionError(f"{url}: {type(exc).__name__}: {exc}") from None
    if resp.status_code != 200:
        try:
            err = resp.json()["error"]
            text = f"{err['code']}: {err['message']}"
        except (ValueError, KeyError, TypeError):
            text = f"HTTP {resp.status_code}"
        raise ConnectionError(f"the node refused: {text}")
    return resp.content[: MAX_FILE_BYTES + 1]


def cmd_query(args: argparse.Namespace) -> int:
    """Run ``fcl query``; returns the exit code."""
    try:
        anchor = load_anchor(args)
        if args.file is not None:
            if args.keys or args.node or args.save or args.height is not None:
                raise _Usage("--file verifies a saved file: no KEY, --node, --height or --save")
            try:
                with open(Path(args.file).expanduser(), "rb") as f:
                    data = f.read(MAX_FILE_BYTES + 1)
            except OSError as exc:
                raise _Usage(f"cannot read {args.file}: {exc.strerror or exc}") from None
            keys: list[str] | None = None
        else:
            if not args.keys or not args.node:
                raise _Usage("give one or more KEYs and --node URL (or --file PROOF.json)")
            keys = []
            for key in args.keys:
                try:
                    check_key(key)
                except StateProofError as exc:
                    raise _Usage(f"{key[:80]!r}: {exc.message}") from None
                if key not in keys:
                    keys.append(key)
            if len(keys) > _MAX_KEYS:
                raise _Usage(f"at most {_MAX_KEYS} keys in one query")
            if args.height is not None and args.height < 1:
                raise _Usage("--height is a block height (1 or more)")
            try:
                data = _fetch(args.node, keys, args.height, args.timeout)
            except ConnectionError as exc:
                return _fail(str(exc), EXIT_NODE)
            if args.save:
                try:
                    Path(args.save).expanduser().write_bytes(data)
                except OSError as exc:
                    raise _Usage(f"cannot write {args.save}: {exc.strerror or exc}") from None
    except _Usage as exc:
        return _fail(str(exc), EXIT_USAGE)
    verdict = verify_state_proof_bytes(data, **anchor.kwargs())
    problem = _mismatch(verdict, keys, None if args.file else args.height)
    if args.json:
        out = verdict.to_json()
        out["asked"] = {"keys": keys, "height": None if args.file else args.height, "problem": problem}
        sys.stdout.write(json.dumps(out, indent=2, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(render(verdict, problem))
    return EXIT_OK if verdict.ok and problem is None else EXIT_INVALID


def _mismatch(verdict: StateProofVerdict, keys: list[str] | None, height: int | None) -> str | None:
    """Why a valid file does not answer the question asked (None: it does)."""
    if verdict.summary is None:
        return None
    if keys is not None and [e.key for e in verdict.summary.entries] != keys:
        return "the node's proof is for other keys than those asked"
    if height is not None and verdict.summary.height != height:
        return f"the node's proof is for height {verdict.summary.height}, not {height}"
    return None


def render(verdict: StateProofVerdict, problem: str | None = None) -> str:
    """The verdict as text: VALID / INVALID, each key's value or absence, every check."""
    lines = [verdict.message if problem is None else f"INVALID: {problem}"]
    s = verdict.summary
    if s is not None:
        lines.append("")
        lines.append(f"  height {s.height} of {s.chain_id}, block {s.block_hash}")
        for e in s.entries:
            lines.append(f"  {e.key} = {canonical_str(e.value)}" if e.present else f"  {e.key}: absent")
    lines.append("")
    lines.append("checks:")
    for c in verdict.checks:
        mark = "ok  " if c.passed else ("skip" if c.skipped else "FAIL")
        code = f" [{c.code}]" if c.code and not c.passed else ""
        lines.append(f"  {mark} {c.name}: {c.detail}{code}")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m fcl.query query ...`` (the same command as ``fcl query``)."""
    parser = argparse.ArgumentParser(prog="fcl")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    register(sub)
    args = parser.parse_args(None if argv is None else list(argv))
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
