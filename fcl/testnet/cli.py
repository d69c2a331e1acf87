"""``fcl testnet --validators N [--observers K] --out DIR [--base-port P]``: write a local
network (``fcl/testnet/files.py``); start each node with ``fcl node start --home
DIR/node<i>`` (observers: ``DIR/observer<j>``)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from fcl.passphrase import node_passphrase
from ledger.errors import LedgerError

__all__ = ["register"]


def _count(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 64:
        raise argparse.ArgumentTypeError(f"{text!r}: a testnet has 1..64 validators")
    return int(text)


def _observers(text: str) -> int:
    from fcl.testnet.files import MAX_OBSERVERS

    if not (text.isascii() and text.isdigit()) or not 0 <= int(text) <= MAX_OBSERVERS:
        raise argparse.ArgumentTypeError(f"{text!r}: a testnet has 0..{MAX_OBSERVERS} observers")
    return int(text)


def _base_port(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number")
    return int(text)


def cmd_testnet(args: argparse.Namespace) -> int:
    from fcl.testnet.files import create_testnet

    try:
        passphrase = node_passphrase(args, confirm=True)
        nodes = create_testnet(
            args.out,
            validators=args.validators,
            observers=args.observers,
            passphrase=passphrase,
            base_port=args.base_port,
            host=args.host,
            chain_id=args.chain_id,
            block_interval_ms=args.block_interval_ms,
        )
    except LedgerError as exc:
        sys.stderr.write(f"error: {exc.code}: {exc.message}\n")
        return 2 if exc.code in ("bad_config", "bad_genesis") else 1
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        return 130
    n = sum(1 for node in nodes if not node.observer)
    k = len(nodes) - n
    print(f"testnet of {n} validator{'s' if n != 1 else ''}"
          + (f" and {k} observer{'s' if k != 1 else ''}" if k else "") + f" in {args.out}")
    for node in nodes:
        role = "observer " if node.observer else "validator"
        print(f"  {node.moniker}: rpc {node.rpc_url}  p2p {args.host}:{node.p2p_port}  "
              f"operator {node.org_id}  {role} {node.validator_key[:16]}…")
    print("start each node with: fcl node start --home DIR/node<i> (same passphrase)"
          + ("; observers: --home DIR/observer<j>" if k else ""))
    return 0


def register(sub: Any, secret: argparse.ArgumentParser) -> None:
    """Add ``testnet`` to the ``fcl`` command (``secret``: the passphrase options)."""
    from fcl.testnet.files import DEFAULT_BASE_PORT, DEFAULT_CHAIN_ID

    p = sub.add_parser(
        "testnet",
        parents=[secret],
        help="write the homes and genesis of a local multi-validator network",
        description="Write DIR/genesis.json and node homes DIR/node0..DIR/node<N-1> for a "
        "network on one machine: node i serves its API on BASE_PORT+i and talks to the "
        "others on BASE_PORT+100+i. One organisation operates each validator (regulator, "
        "exchange, verification bodies); their admin keys are in DIR/node<i>/wallet. "
        "Observers (--observers K) are in DIR/observer0..DIR/observer<K-1>, on BASE_PORT+N+j "
        "and BASE_PORT+100+N+j, enrolled in the genesis and dialling the validators.",
    )
    p.add_argument("--validators", type=_count, required=True, metavar="N")
    p.add_argument("--observers", type=_observers, default=0, metavar="K",
                   help="observer nodes beside the validators (default 0): they follow the "
                   "chain and serve reads, never vote")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--base-port", type=_base_port, default=DEFAULT_BASE_PORT, metavar="P",
                   help=f"first RPC port (default {DEFAULT_BASE_PORT})")
    p.add_argument("--host", default="127.0.0.1", metavar="HOST",
                   help="address every node listens on (default 127.0.0.1)")
    p.add_argument("--chain-id", default=DEFAULT_CHAIN_ID, metavar="ID")
    p.add_argument("--block-interval-ms", type=int, default=100, metavar="MS")
    p.set_defaults(func=cmd_testnet)
