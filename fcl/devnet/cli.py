"""``fcl devnet``: a local multi-validator network with the explorer and a sample
lifecycle (fcl/devnet/network.py, docs/devnet.md). ``fcl/main.py`` calls :func:`register`."""

from __future__ import annotations

import argparse

from fcl.devnet.network import DEFAULT_BASE_PORT, DEFAULT_VALIDATORS, run_devnet

__all__ = ["register"]


def _port(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 1024 <= int(text) <= 65000:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number in 1024..65000")
    return int(text)


def _validators(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 16:
        raise argparse.ArgumentTypeError(f"{text!r}: the devnet runs 1..16 validators")
    return int(text)


def cmd_devnet(args: argparse.Namespace) -> int:
    """Run ``fcl devnet``; returns the exit code."""
    return run_devnet(
        args.data,
        base_port=args.base_port,
        validators=args.validators,
        once=args.once,
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``devnet`` to the ``fcl`` command's subparsers."""
    p = subparsers.add_parser(
        "devnet",
        help="run a local development network with the explorer and a sample lifecycle",
        description="Create (or resume) a local network of validators on 127.0.0.1 in "
        "--data, run the sample lifecycle once (a Xiuning County afforestation project from "
        "plots to retirements), write and verify its two retirement certificates, print the "
        "explorer's URL and serve until Ctrl-C. A second run on the same --data restarts the "
        "same network and does not repeat a finished sample. See docs/devnet.md.",
    )
    p.add_argument("--data", default="devnet", metavar="DIR",
                   help="devnet directory (default ./devnet)")
    p.add_argument("--base-port", type=_port, default=DEFAULT_BASE_PORT, metavar="PORT",
                   help=f"first RPC port of a new network (default {DEFAULT_BASE_PORT}); an "
                   "existing network keeps its ports")
    p.add_argument("--validators", type=_validators, default=DEFAULT_VALIDATORS, metavar="N",
                   help=f"validators of a new network (default {DEFAULT_VALIDATORS})")
    p.add_argument("--once", action="store_true",
                   help="stop the nodes and exit after the sample instead of serving")
    p.set_defaults(func=cmd_devnet)
