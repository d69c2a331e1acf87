"""The node key's passphrase for ``fcl node init|start`` and ``fcl testnet``."""

from __future__ import annotations

import argparse
from pathlib import Path

from wallet.errors import KeystoreError
from wallet.keystore import resolve_passphrase

_MAX_PASSPHRASE_FILE = 64 * 1024


def node_passphrase(args: argparse.Namespace, *, confirm: bool) -> str:
    """``--passphrase-file`` (first line), else ``FCL_PASSPHRASE``, else a prompt."""
    explicit: str | None = None
    source = getattr(args, "passphrase_file", None)
    if source is not None:
        try:
            with open(Path(source).expanduser(), encoding="utf-8") as f:
                text = f.read(_MAX_PASSPHRASE_FILE)
        except (OSError, UnicodeDecodeError) as exc:
            raise KeystoreError(
                "invalid_passphrase", f"cannot read passphrase file {source}: {exc}"
            ) from None
        explicit = text.split("\n", 1)[0].removesuffix("\r")
        if not explicit:
            raise KeystoreError("invalid_passphrase", f"the passphrase file {source} is empty")
    return resolve_passphrase(explicit, prompt="Node key passphrase: ", confirm=confirm)
