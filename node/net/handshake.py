"""The peer handshake: mutual challenge-response authentication of node keys.

Both sides send ``HELLO`` at once::

    {"version": 1, "chain_id", "genesis_hash", "node_key": "<hex Ed25519>",
     "nonce": "<64 hex: 32 fresh random bytes>", "listen": "host:port" | "", "moniker"}

check the other's (same version, chain id and genesis; not their own key or nonce; a key
the node accepts -- a validator of the current or the scheduled set, a configured peer,
or an observer the regulator enrolled on the ledger; for the dialling side exactly the
key it dialled), then send ``AUTH``
``{"signature"}``: an Ed25519 signature by the node key over::

    canonical({"type": "fcl-p2p-auth-v1", "chain_id", "genesis_hash",
               "initiator_nonce", "responder_nonce", "role": "initiator"|"responder",
               "signer": <own key>, "listen": <own listen address>})

Each side verifies the other's signature. Both nonces are in the signed bytes, so a
recorded ``AUTH`` is useless on another connection; the role stops a reflected one. On any
failure the refusing side sends ``REFUSE {"code", "message"}`` and closes. The whole
exchange has a deadline. The transport is not encrypted (see docs/network.md).
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ledger.crypto import PrivateKey, is_hex_digest, is_hex_pubkey, is_hex_signature, verify_hex
from ledger.encoding import CanonicalEncodingError, canonical, decode
from ledger.errors import LedgerError
from node.net.framing import FrameType, OversizeFrame, encode_frame, read_frame

__all__ = [
    "AUTH_DOMAIN",
    "HANDSHAKE_VERSION",
    "HandshakeError",
    "LocalIdentity",
    "PeerIdentity",
    "auth_bytes",
    "handshake",
]

HANDSHAKE_VERSION = 1
AUTH_DOMAIN = "fcl-p2p-auth-v1"
MAX_HANDSHAKE_FRAME = 4096
_HELLO_KEYS = frozenset({"version", "chain_id", "genesis_hash", "node_key", "nonce", "listen",
                         "moniker"})
_LISTEN_RE = re.compile(r"^([A-Za-z0-9.:\[\]_-]{1,253}:[0-9]{1,5})?\Z")
_MONIKER_RE = re.compile(r"^[A-Za-z0-9._-]{0,64}\Z")


class HandshakeError(LedgerError):
    """The handshake failed. Codes: ``malformed_handshake``, ``version_mismatch``,
    ``wrong_chain``, ``wrong_genesis``, ``self_connection``, ``unknown_peer``,
    ``unexpected_key``, ``bad_signature``, ``refused_by_peer``, ``handshake_timeout``,
    ``connection_closed``."""


@dataclass(frozen=True)
class LocalIdentity:
    key: PrivateKey
    chain_id: str
    genesis_hash: str
    listen: str  # "host:port" peers may dial, or ""
    moniker: str


@dataclass(frozen=True)
class PeerIdentity:
    pub_key: str
    moniker: str
    listen: str
    initiator: bool  # True: the remote side dialled us


def auth_bytes(
    *,
    chain_id: str,
    genesis_hash: str,
    initiator_nonce: str,
    responder_nonce: str,
    role: str,
    signer: str,
    listen: str,
) -> bytes:
    """The bytes a node signs to prove it holds ``signer``'s key on this connection."""
    return canonical(
        {
            "chain_id": chain_id,
            "genesis_hash": genesis_hash,
            "initiator_nonce": initiator_nonce,
            "listen": listen,
            "responder_nonce": responder_nonce,
            "role": role,
            "signer": signer,
            "type": AUTH_DOMAIN,
        }
    )


def _frame(frame_type: FrameType, obj: Any) -> bytes:
    return encode_frame(frame_type, canonical(obj), MAX_HANDSHAKE_FRAME)


def _write(writer: asyncio.StreamWriter, data: bytes) -> None:
    """Write to a connection the peer (or the loop) may have closed meanwhile: uvloop
    refuses writes on a closed transport with ``RuntimeError``, the standard loop ignores
    them; either way it is a lost connection (``ConnectionResetError``)."""
    if writer.is_closing():
        raise ConnectionResetError("the connection is closed")
    try:
        writer.write(data)
    except RuntimeError as exc:
        if not writer.is_closing():
            raise
        raise ConnectionResetError(str(exc)) from None


async def _send_refusal(writer: asyncio.StreamWriter, code: str, message: str) -> None:
    try:
        _write(writer, _frame(FrameType.REFUSE, {"code": code, "message": message[:300]}))
        await asyncio.wait_for(writer.drain(), 1)
    except (TimeoutError, OSError, ConnectionError):
        pass


async def _expect(reader: asyncio.StreamReader, frame_type: FrameType) -> dict[str, Any]:
    try:
        kind, payload = await read_frame(reader, MAX_HANDSHAKE_FRAME)
    except OversizeFrame as exc:
        raise HandshakeError("malformed_handshake", f"handshake frame too large: {exc}") from None
    except (asyncio.IncompleteReadError, ConnectionError, OSError):
        raise HandshakeError("connection_closed", "the peer closed the connection") from None
    try:
        obj = decode(payload)
    except CanonicalEncodingError:
        raise HandshakeError("malformed_handshake", "handshake frame is not JSON") from None
    if kind == FrameType.REFUSE:
        code = obj.get("code") if isinstance(obj, dict) else None
        message = obj.get("message") if isinstance(obj, dict) else None
        raise HandshakeError("refused_by_peer", f"peer refused: {code}: {message}")
    if kind != frame_type or not isinstance(obj, dict):
        raise HandshakeError("malformed_handshake", f"expected a {frame_type.name} frame")
    return obj


def _check_hello(
    hello: dict[str, Any],
    local: LocalIdentity,
    my_nonce: str,
    authorise: Callable[[str], bool],
    expected_key: str | None,
) -> PeerIdentity:
    if set(hello) != _HELLO_KEYS:
        raise HandshakeError("malformed_handshake", f"HELLO has exactly {sorted(_HELLO_KEYS)}")
    if type(hello["version"]) is not int or hello["version"] != HANDSHAKE_VERSION:
        raise HandshakeError("version_mismatch", f"protocol version {hello['version']!r}")
    if hello["chain_id"] != local.chain_id:
        raise HandshakeError("wrong_chain", f"peer is on chain {str(hello['chain_id'])[:64]!r}")
    if hello["genesis_hash"] != local.genesis_hash:
        raise HandshakeError("wrong_genesis", "peer has another genesis")
    key, nonce = hello["node_key"], hello["nonce"]
    if not is_hex_pubkey(key) or not is_hex_digest(nonce):
        raise HandshakeError("malformed_handshake", "node_key and nonce are 64 hex digits")
    listen, moniker = hello["listen"], hello["moniker"]
    if not isinstance(listen, str) or not _LISTEN_RE.match(listen):
        raise HandshakeError("malformed_handshake", "listen is host:port or ''")
    if not isinstance(moniker, str) or not _MONIKER_RE.match(moniker):
        raise HandshakeError("malformed_handshake", "bad moniker")
    if key == local.key.public_key_hex or nonce == my_nonce:
        raise HandshakeError("self_connection", "connected to ourselves")
    if expected_key is not None and key != expected_key:
        raise HandshakeError("unexpected_key", f"dialled {expected_key[:16]}…, got {key[:16]}…")
    if not authorise(key):
        raise HandshakeError(
            "unknown_peer",
            f"{key[:16]}… is neither a validator, an enrolled observer nor a configured peer",
        )
    return PeerIdentity(pub_key=key, moniker=moniker, listen=listen, initiator=False)


async def _run(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    local: LocalIdentity,
    *,
    initiator: bool,
    authorise: Callable[[str], bool],
    expected_key: str | None,
) -> PeerIdentity:
    my_nonce = os.urandom(32).hex()
    _write(
        writer,
        _frame(
            FrameType.HELLO,
            {
                "chain_id": local.chain_id,
                "genesis_hash": local.genesis_hash,
                "listen": local.listen,
                "moniker": local.moniker,
                "node_key": local.key.public_key_hex,
                "nonce": my_nonce,
                "version": HANDSHAKE_VERSION,
            },
        )
    )
    await writer.drain()
    hello = await _expect(reader, FrameType.HELLO)
    try:
        peer = _check_hello(hello, local, my_nonce, authorise, expected_key)
    except HandshakeError as exc:
        await _send_refusal(writer, exc.code, exc.message)
        raise
    their_nonce = hello["nonce"]
    init_nonce, resp_nonce = (my_nonce, their_nonce) if initiator else (their_nonce, my_nonce)
    my_role, their_role = ("initiator", "responder") if initiator else ("responder", "initiator")
    common = {"chain_id": local.chain_id, "genesis_hash": local.genesis_hash,
              "initiator_nonce": init_nonce, "responder_nonce": resp_nonce}
    mine = auth_bytes(**common, role=my_role, signer=local.key.public_key_hex,
                      listen=local.listen)
    _write(writer, _frame(FrameType.AUTH, {"signature": local.key.sign_hex(mine)}))
    await writer.drain()
    auth = await _expect(reader, FrameType.AUTH)
    signature = auth.get("signature")
    theirs = auth_bytes(**common, role=their_role, signer=peer.pub_key, listen=peer.listen)
    if set(auth) != {"signature"} or not is_hex_signature(signature) or not verify_hex(
        peer.pub_key, theirs, signature
    ):
        await _send_refusal(writer, "bad_signature", "the AUTH signature does not verify")
        raise HandshakeError("bad_signature", f"AUTH of {peer.pub_key[:16]}… does not verify")
    return PeerIdentity(pub_key=peer.pub_key, moniker=peer.moniker, listen=peer.listen,
                        initiator=not initiator)


async def handshake(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    local: LocalIdentity,
    *,
    initiator: bool,
    authorise: Callable[[str], bool],
    expected_key: str | None = None,
    timeout_s: float = 5.0,
) -> PeerIdentity:
    """Authenticate both ends of a fresh connection; raise :class:`HandshakeError`."""
    try:
        return await asyncio.wait_for(
            _run(reader, writer, local, initiator=initiator, authorise=authorise,
                 expected_key=expected_key),
            timeout_s,
        )
    except TimeoutError:
        raise HandshakeError("handshake_timeout", f"no handshake within {timeout_s} s") from None
    except (ConnectionError, OSError) as exc:
        raise HandshakeError("connection_closed", f"connection lost: {exc}") from None
