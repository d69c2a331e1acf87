"""``fcl portal --node URL --keystore FILE [--host 127.0.0.1] [--port P]
[--explorer URL]``: run the participants' portal on this machine.

It binds 127.0.0.1 unless ``--host`` names another address explicitly, and then warns
that anyone who can reach that address may try the passphrase. The passphrase is typed on
the unlock page, never on the command line. Exit codes: 0 stopped, 2 bad command line or
keystore file.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys
from pathlib import Path

from portal.app import PortalConfig, create_portal_app
from portal.session import Session
from wallet.client import NodeClient
from wallet.errors import WalletError

__all__ = ["DEFAULT_PORT", "cmd_portal", "is_loopback", "register"]

DEFAULT_PORT = 8765
DEFAULT_HOST = "127.0.0.1"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _port(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number")
    return int(text)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``portal`` command to a top-level ``fcl`` parser."""
    p = subparsers.add_parser(
        "portal",
        help="the participants' portal: forms for your organisation's steps, on this machine",
        description="Run a local web application pointed at a node: unlock one keystore key "
        "in memory, fill in the forms of your organisation's role, see each transaction's "
        "dry run, sign here and submit. Binds 127.0.0.1 unless --host is given.",
    )
    p.add_argument("--node", metavar="URL", required=True, help="the node's API, http://host:port")
    p.add_argument("--keystore", metavar="FILE", required=True,
                   help="the key file (DIR/NAME.json of `fcl keys`) to sign with")
    p.add_argument("--host", metavar="HOST", default=None,
                   help=f"address to listen on (default {DEFAULT_HOST}; another one is "
                   "reachable by others: a warning is printed)")
    p.add_argument("--port", metavar="P", type=_port, default=DEFAULT_PORT,
                   help=f"port (default {DEFAULT_PORT})")
    p.add_argument("--explorer", metavar="URL", default=None,
                   help="base URL of the explorer for links (default: the node's URL)")
    p.set_defaults(func=cmd_portal)


def cmd_portal(args: argparse.Namespace) -> int:
    import uvicorn

    host = args.host if args.host is not None else DEFAULT_HOST
    if args.host is not None and not is_loopback(host):
        sys.stderr.write(
            f"warning: the portal listens on {host}, not only on this machine: anyone who "
            "reaches it can try your passphrase. Use it only on a network you trust.\n")
    path = Path(args.keystore)
    try:
        client = NodeClient(args.node)
        session = Session(path)
        public_key = session.public_key()
    except WalletError as exc:
        sys.stderr.write(f"error: {exc.code}: {exc.message}\n")
        return 2
    app = create_portal_app(PortalConfig(client=client, session=session,
                                         explorer_url=args.explorer))
    sys.stderr.write(f"portal for key {public_key[:16]}… on http://{host}:{args.port}/ "
                     f"(node {client.base_url})\n")
    uvicorn.run(app, host=host, port=args.port, log_level="warning", access_log=False)
    return 0
