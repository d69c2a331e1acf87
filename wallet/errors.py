"""Wallet errors. Every one carries a stable machine-readable ``code`` (see
``ledger.errors.LedgerError``) and a message for people; none ever contains key material."""

from __future__ import annotations

from ledger.errors import LedgerError

__all__ = ["ClientError", "KeystoreError", "WalletError"]


class WalletError(LedgerError):
    """A wallet operation was refused (bad input, bad file, ...)."""


class KeystoreError(WalletError):
    """A keystore operation failed: ``wrong_passphrase``, ``corrupt_keystore``,
    ``unknown_key``, ``key_exists``, ``invalid_name``, ``no_passphrase``, ..."""


class ClientError(WalletError):
    """A node refused a request or could not be reached. ``code`` is the node's own error
    code when it sent one (``{"error": {"code", "message"}}``); ``status`` is the HTTP
    status, or ``None`` when no response arrived."""

    def __init__(self, code: str, message: str, *, status: int | None = None) -> None:
        super().__init__(code, message)
        self.status = status
