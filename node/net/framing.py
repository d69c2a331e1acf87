"""Peer wire framing: length-prefixed frames over a TCP stream.

A frame is::

    uint32 big-endian  length L of what follows (1 .. max_frame_bytes)
    uint8              frame type (FrameType)
    L - 1 bytes        payload

Payloads are canonical JSON (``ledger.encoding``), except ``CONSENSUS``, whose payload is
an 8-byte big-endian height hint followed by the consensus message's own wire bytes
(``Proposal.to_bytes()`` / ``Vote.to_bytes()``, passed to the core untouched), and
``TXS``/``BLOCKS``, whose JSON is spliced from already canonical pieces.

A frame that announces more than ``max_frame_bytes`` is refused as soon as its length
prefix arrives (:class:`OversizeFrame`): none of its body is read, and the caller closes
the connection -- a peer that sends one is broken or hostile, and reading on would only
spend bandwidth it chooses. See docs/network.md.
"""

from __future__ import annotations

import asyncio
import struct
from enum import IntEnum

__all__ = [
    "FrameTooLarge",
    "FrameType",
    "OversizeFrame",
    "consensus_payload",
    "encode_frame",
    "read_frame",
    "split_consensus_payload",
]

_LEN = struct.Struct(">I")
_HEIGHT = struct.Struct(">Q")
MAX_WIRE_LENGTH = 2**32 - 1


class FrameType(IntEnum):
    """What a frame carries. Handshake frames are valid only before authentication."""

    HELLO = 1
    AUTH = 2
    REFUSE = 3
    CONSENSUS = 16
    TXS = 17
    STATUS = 18
    GET_STATUS = 19
    GET_BLOCKS = 20
    BLOCKS = 21


class FrameTooLarge(ValueError):
    """An outgoing frame exceeds the limit; it is not sent."""


class OversizeFrame(ValueError):
    """An incoming frame announces ``length`` bytes, more than ``limit``; nothing of it
    was read past its length prefix. The connection must be closed."""

    def __init__(self, length: int, limit: int) -> None:
        super().__init__(f"a {length}-byte frame exceeds the {limit}-byte limit")
        self.length = length
        self.limit = limit


def encode_frame(frame_type: int, payload: bytes, max_frame_bytes: int) -> bytes:
    """The wire bytes of one frame."""
    length = len(payload) + 1
    if length > max_frame_bytes:
        raise FrameTooLarge(f"a {length}-byte frame exceeds the {max_frame_bytes}-byte limit")
    return _LEN.pack(length) + bytes((frame_type,)) + payload


async def read_frame(reader: asyncio.StreamReader, max_frame_bytes: int) -> tuple[int, bytes]:
    """The next frame as ``(type, payload)``, ``(0, b"")`` for an empty frame. Raises
    :class:`OversizeFrame` as soon as a length prefix exceeds ``max_frame_bytes`` (the
    frame's body is not read) and ``asyncio.IncompleteReadError`` at end of stream."""
    (length,) = _LEN.unpack(await reader.readexactly(_LEN.size))
    if length == 0:
        return 0, b""
    if length > max_frame_bytes:
        raise OversizeFrame(length, max_frame_bytes)
    data = await reader.readexactly(length)
    return data[0], data[1:]


def consensus_payload(height: int, message: bytes) -> bytes:
    """The payload of a ``CONSENSUS`` frame: the height hint, then the message bytes."""
    return _HEIGHT.pack(height) + message


def split_consensus_payload(payload: bytes) -> tuple[int, bytes] | None:
    """``(height hint, message bytes)``, or None if the payload is too short."""
    if len(payload) < _HEIGHT.size:
        return None
    (height,) = _HEIGHT.unpack_from(payload)
    return height, payload[_HEIGHT.size :]
