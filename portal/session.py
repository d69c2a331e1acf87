"""The portal's one session: the unlocked key, held only in this process's memory.

* The keystore file is read at unlock with the passphrase typed on the unlock page
  (``wallet.keystore.Keystore.load``); the passphrase is not kept, the private key is
  kept in this object only, and :meth:`Session.lock` drops it.
* Each unlock draws a new random session token (the ``HttpOnly; SameSite=Strict``
  cookie) and a new CSRF token (a hidden input of every POST form); both are compared in
  constant time. Before unlock, the unlock form carries a CSRF token of its own
  (double-submit: a cookie and the same value in the form).
* Drafts (a prepared transaction waiting for "sign and submit") live here, bounded,
  and are dropped on lock; so are the files chosen for their ``…sha256`` arguments,
  waiting to be uploaded (at most :data:`MAX_HELD_BYTES` in all: the oldest drafts go
  first).
"""

from __future__ import annotations

import hmac
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ledger.crypto import PrivateKey
from portal.documents import PendingDocument
from wallet.errors import KeystoreError
from wallet.keystore import Keystore

__all__ = ["MAX_DRAFTS", "MAX_HELD_BYTES", "Draft", "Session"]

MAX_DRAFTS = 64
#: the most bytes of documents the drafts hold together (the files waiting for upload)
MAX_HELD_BYTES = 32 * 1024 * 1024


@dataclass
class Draft:
    """A transaction prepared by a form: its payload (signers included) and the
    signatures collected so far (None where a signer has not signed)."""

    draft_id: str
    form_key: str  # contract.method
    payload: dict[str, Any]
    signatures: list[str | None] = field(default_factory=list)
    simulation: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # what the page shows beside it
    #: the chosen files to upload before submitting (memory only, never in a page)
    documents: list[PendingDocument] = field(default_factory=list)

    @property
    def held_bytes(self) -> int:
        return sum(d.size for d in self.documents)


class Session:
    def __init__(self, keystore_file: str | Path, *, insecure_test_scrypt_n: int | None = None
                 ) -> None:
        path = Path(keystore_file).expanduser()
        self.keystore_file = path
        self._keystore = Keystore(path.parent, insecure_test_scrypt_n=insecure_test_scrypt_n)
        self._name = path.stem
        self._key: PrivateKey | None = None
        self._lock = threading.Lock()
        self.token = ""
        self.csrf = ""
        self.drafts: OrderedDict[str, Draft] = OrderedDict()

    def __repr__(self) -> str:  # never the key
        return f"Session({str(self.keystore_file)!r}, unlocked={self.unlocked})"

    @property
    def key_name(self) -> str:
        return self._name

    def public_key(self) -> str:
        """The key's public key (readable without the passphrase)."""
        return self._keystore.public_key(self._name)

    @property
    def unlocked(self) -> bool:
        return self._key is not None

    def unlock(self, passphrase: str) -> None:
        """Decrypt the key; raises ``KeystoreError`` (``wrong_passphrase``, ...)."""
        if not isinstance(passphrase, str) or passphrase == "":
            raise KeystoreError("no_passphrase", "type the keystore's passphrase")
        key = self._keystore.load(self._name, passphrase)
        with self._lock:
            self._key = key
            self.token = secrets.token_urlsafe(32)
            self.csrf = secrets.token_urlsafe(32)
            self.drafts.clear()

    def lock(self) -> None:
        with self._lock:
            self._key = None
            self.token = ""
            self.csrf = ""
            self.drafts.clear()

    def key(self) -> PrivateKey:
        key = self._key
        if key is None:
            raise KeystoreError("locked", "the portal is locked; unlock it first")
        return key

    # -- tokens ------------------------------------------------------------------------
    def valid_cookie(self, value: str | None) -> bool:
        token = self.token
        return bool(token) and isinstance(value, str) and hmac.compare_digest(
            value.encode(), token.encode())

    def valid_csrf(self, value: str | None) -> bool:
        csrf = self.csrf
        return bool(csrf) and isinstance(value, str) and hmac.compare_digest(
            value.encode(), csrf.encode())

    # -- drafts ------------------------------------------------------------------------
    def add_draft(self, draft: Draft) -> None:
        with self._lock:
            self.drafts[draft.draft_id] = draft
            while len(self.drafts) > MAX_DRAFTS:
                self.drafts.popitem(last=False)
            # the newest draft is kept: one form holds at most its own files
            while len(self.drafts) > 1 and self.held_bytes() > MAX_HELD_BYTES:
                self.drafts.popitem(last=False)

    def held_bytes(self) -> int:
        """The bytes of documents the drafts hold."""
        return sum(d.held_bytes for d in list(self.drafts.values()))

    def draft(self, draft_id: str) -> Draft | None:
        return self.drafts.get(draft_id)

    @staticmethod
    def new_draft_id() -> str:
        return secrets.token_hex(16)
