"""What the node's local indexes share (``node/chain/certindex.py``,
``node/chain/layoutindex.py``): the store methods they use, heights as 8-byte big-endian
keys, and each index's "indexed up to" mark. Both live in the store's ``x/`` space,
outside the consensus state, and are rebuilt from the blocks when missing."""

from __future__ import annotations

import struct
from typing import Protocol

__all__ = ["ExtraReader", "ExtraStore", "height_key", "upto_mark"]


class ExtraReader(Protocol):
    def get_extra(self, key: bytes) -> bytes | None: ...


class ExtraStore(ExtraReader, Protocol):
    def latest_height(self) -> int: ...

    def get_block_json(self, height: int) -> bytes | None: ...

    def put_extra(self, entries: list[tuple[bytes, bytes]]) -> None: ...


def height_key(height: int) -> bytes:
    """``height`` as the 8 big-endian bytes the indexes' keys and marks use."""
    return struct.pack(">Q", height)


def upto_mark(store: ExtraReader, key: bytes) -> int:
    """The height stored under the mark ``key``: every block ``1..height`` is indexed
    (0: none)."""
    raw = store.get_extra(key)
    return 0 if raw is None else int(struct.unpack(">Q", raw)[0])
