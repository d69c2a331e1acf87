"""``fcl status --node URL [--json] [--timeout S]``: one screen on a running node.

What an operator checks first: which chain and genesis, the node and its version, the
height and how long ago the last block was committed, the state root, the mempool, the
consensus round and peers, whether block production stopped, the committed rate over the
last minute, and each validator with its power and signing status over its recent commits
(``signing`` / ``lagging`` / ``absent``, from the explorer's dashboard, docs/explorer.md).

Exit codes: 0 the node answered and produces blocks; 1 the node is unreachable, answers
with an error or not as a node does; 3 the node answered but reports that block
production stopped (``halted``). A bad command line exits 2 (argparse).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from fcl.cliargs import seconds
from wallet.client import NodeClient
from wallet.errors import WalletError

__all__ = ["EXIT_HALTED", "EXIT_OK", "EXIT_UNREACHABLE", "cmd_status", "register", "render"]

EXIT_OK = 0
EXIT_UNREACHABLE = 1
EXIT_HALTED = 3


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``status`` command to a top-level ``fcl`` parser."""
    p = subparsers.add_parser(
        "status",
        help="one-screen view of a running node",
        description="Show a node's chain, height and the age of its last block, mempool, "
        "peers, rate and its validators' signing status. Exit 0 if it answers and produces "
        "blocks, 1 if it cannot be read, 3 if block production stopped.",
    )
    p.add_argument("--node", metavar="URL", required=True, help="the node's API, http://host:port")
    p.add_argument("--timeout", metavar="S", type=seconds(600), default=5.0,
                   help="seconds to wait for each answer (default 5)")
    p.add_argument("--json", action="store_true", help="print the status and dashboard as JSON")
    p.set_defaults(func=cmd_status)


def _age(latest_ms: object, now_s: float) -> str:
    if type(latest_ms) is not int:
        return "—"
    seconds = max(0, int(now_s - latest_ms / 1000))
    stamp = datetime.fromtimestamp(latest_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"{stamp} ({seconds} s ago)"


def _text(value: object) -> str:
    return "—" if value is None or value == "" else str(value)


def render(status: Mapping[str, Any], dashboard: Mapping[str, Any] | None, now_s: float) -> str:
    """The one-screen text of a node's ``/v1/status`` and (if it serves one) its
    explorer dashboard, at ``now_s`` (seconds since the epoch)."""
    given = status.get("mempool")
    mempool: Mapping[str, Any] = given if isinstance(given, Mapping) else {}
    peers = status.get("peers")
    lines = [
        f"node:          {_text(status.get('node'))} ({_text(status.get('version'))})",
        f"chain id:      {_text(status.get('chain_id'))}",
        f"genesis hash:  {_text(status.get('genesis_hash'))}",
        f"height:        {_text(status.get('height'))}",
        f"last block:    {_age(status.get('latest_block_time'), now_s)}",
        f"block hash:    {_text(status.get('latest_block_hash'))}",
        f"state root:    {_text(status.get('state_root'))}",
        f"mempool:       {_text(mempool.get('txs'))} transactions, {_text(mempool.get('bytes'))} bytes",
        f"round:         {_text(status.get('round'))}",
        f"peers:         {len(peers) if isinstance(peers, list) else _text(peers)}",
    ]
    halted = status.get("halted")
    lines.append(f"halted:        {halted}" if halted else "producing:     yes")
    validators: list[Any] = list(status.get("validators") or [])
    if dashboard is not None:
        lines.append(f"committed:     {_text(dashboard.get('tx_per_s'))} tx/s over the last "
                     f"{_text(dashboard.get('tx_rate_window_s'))} s")
        validators = list(dashboard.get("validators") or validators)
    lines.append("")
    lines.append(f"{'validator':<20} {'power':>6}  {'status':<8} {'signed':>9}  last seen")
    for v in validators:
        if not isinstance(v, Mapping):
            continue
        signed = (f"{v['signed_recent']}/{v['recent_blocks']}"
                  if "signed_recent" in v and "recent_blocks" in v else "—")
        lines.append(f"{_text(v.get('name'))[:20]:<20} {_text(v.get('power')):>6}  "
                     f"{_text(v.get('status'))[:8]:<8} {signed:>9}  {_text(v.get('last_seen'))}")
    return "\n".join(lines)


def cmd_status(
    args: argparse.Namespace, *, client_factory: Callable[..., NodeClient] = NodeClient
) -> int:
    try:
        with client_factory(args.node, timeout_s=args.timeout) as client:
            status = client.status()
            dashboard = client.dashboard()
    except WalletError as exc:
        sys.stderr.write(f"error: {exc.code}: {exc.message}\n")
        return EXIT_UNREACHABLE
    if args.json:
        print(json.dumps({"dashboard": dashboard, "status": status}, indent=2, sort_keys=True,
                         ensure_ascii=False))
    else:
        print(render(status, dashboard, time.time()))
    return EXIT_HALTED if status.get("halted") else EXIT_OK
