"""Durable storage of the consensus sign state (``node.consensus.SignState``).

The driver must have the state on disk -- written and fsynced -- before the message it
covers leaves the node. Writing it must therefore be quick and crash-safe:

* two slot files, ``sign_state.0`` and ``sign_state.1``, written alternately in place
  (truncate, write, ``fdatasync``: one sync per record). A record is::

      b"FCLSS1\\n" | seq: uint64 BE | length: uint32 BE | sha256(body) | body

  where ``body`` is canonical JSON. Loading takes the intact record with the highest
  sequence number, so a crash in the middle of a write leaves the previous record.
* the valid block of the record (``SignState.valid_block``, possibly a whole block of
  thousands of transactions) is not re-encoded into every record: it is written once per
  block, to ``valid-<block hash>.json`` (atomically: temporary file, fsync, rename, fsync
  of the directory), *before* the record that refers to it. The record stores
  ``{"$block": "<hash>"}`` in its place.

``load`` raises ``SignStateError`` for a record that is intact (checksum right) but does
not parse, rather than silently starting from nothing: a validator that forgot what it
signed could sign twice.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ledger.block import BlockHeader
from ledger.encoding import CanonicalEncodingError, canonical, decode
from ledger.errors import LedgerError
from node.consensus.signstate import SignState, SignStateError

__all__ = ["SignStateFile"]

_MAGIC = b"FCLSS1\n"
_HEAD = struct.Struct(">QI32s")
_REF = "$block"


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class SignStateFile:
    """The sign state of one validator, in ``directory``."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._seq = 0
        self._fds: list[int] = []
        self._written_blocks: set[str] = set()

    def _slot(self, index: int) -> Path:
        return self.directory / f"sign_state.{index}"

    def _block_path(self, block_hash: str) -> Path:
        return self.directory / f"valid-{block_hash}.json"

    # -- reading ----------------------------------------------------------------------------
    def _read_slot(self, index: int) -> tuple[int, bytes] | None:
        try:
            data = self._slot(index).read_bytes()
        except FileNotFoundError:
            return None
        if not data.startswith(_MAGIC) or len(data) < len(_MAGIC) + _HEAD.size:
            return None
        seq, length, digest = _HEAD.unpack_from(data, len(_MAGIC))
        body = data[len(_MAGIC) + _HEAD.size :]
        if len(body) != length or hashlib.sha256(body).digest() != digest:
            return None  # torn write: the other slot has the previous record
        return seq, body

    def load(self) -> SignState | None:
        """The last durably written state, or None if there is none."""
        records = [r for r in (self._read_slot(0), self._read_slot(1)) if r is not None]
        if not records:
            return None
        seq, body = max(records)
        self._seq = seq
        try:
            obj = decode(body)
            valid = obj.get("valid_block") if isinstance(obj, dict) else None
            if isinstance(valid, dict) and set(valid) == {_REF}:
                path = self._block_path(str(valid[_REF]))
                try:
                    obj["valid_block"] = decode(path.read_bytes())
                except FileNotFoundError:
                    raise SignStateError(
                        "malformed_sign_state", f"{path.name} (the valid block) is missing"
                    ) from None
            return SignState.from_json(obj)
        except (CanonicalEncodingError, LedgerError) as exc:
            if isinstance(exc, SignStateError):
                raise
            raise SignStateError("malformed_sign_state", f"sign state: {exc}") from None

    # -- writing ----------------------------------------------------------------------------
    def _open_slots(self) -> None:
        if self._fds:
            return
        created = False
        for index in (0, 1):
            path = self._slot(index)
            created = created or not path.exists()
            self._fds.append(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        if created:
            _fsync_dir(self.directory)

    def _write_block(self, block_hash: str, data: bytes) -> None:
        if block_hash in self._written_blocks:
            return
        path = self._block_path(block_hash)
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(self.directory)
        self._written_blocks.add(block_hash)

    def save(
        self,
        state: SignState,
        block_wire: Callable[[str], bytes | None] = lambda block_hash: None,
    ) -> None:
        """Write ``state`` durably. ``block_wire(hash)`` may supply the valid block's
        canonical bytes (so they need not be encoded again)."""
        obj: dict[str, Any] = state.to_json()
        keep: str | None = None
        if state.valid_block is not None:
            block_hash = BlockHeader.from_json(state.valid_block["header"]).hash()
            data = block_wire(block_hash)
            if data is None:
                data = canonical(state.valid_block)
            self._write_block(block_hash, data)
            obj["valid_block"] = {_REF: block_hash}
            keep = block_hash
        body = canonical(obj)
        self._open_slots()
        self._seq += 1
        record = _MAGIC + _HEAD.pack(self._seq, len(body), hashlib.sha256(body).digest()) + body
        fd = self._fds[self._seq % 2]
        os.ftruncate(fd, 0)
        os.pwrite(fd, record, 0)
        os.fdatasync(fd)
        self._prune(keep)

    def _prune(self, keep: str | None) -> None:
        """Delete valid-block files the latest record no longer needs (after it is durable;
        the other slot may still name one, but only as the older record)."""
        stale = [h for h in self._written_blocks if h != keep]
        if not stale and keep is not None:
            return
        for path in self.directory.glob("valid-*.json"):
            block_hash = path.name[len("valid-") : -len(".json")]
            if block_hash != keep:
                with contextlib.suppress(OSError):
                    path.unlink()
                self._written_blocks.discard(block_hash)

    def close(self) -> None:
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds = []

