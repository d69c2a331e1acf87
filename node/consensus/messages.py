"""Consensus messages: proposals and votes, their wire form and the bytes they sign.

Wire form: the canonical JSON (``ledger.encoding.canonical``) of ``to_json()``.

* Proposal: ``{"type": "proposal", "chain_id", "height", "round", "pol_round",
  "block_hash", "block", "proposer", "signature"}``; the proposer signs
  ``canonical({"type": "proposal", "chain_id", "height", "round", "block_hash",
  "pol_round"})`` (:func:`proposal_sign_bytes`). ``pol_round`` is -1 or a round below
  ``round`` (the paper's ``validRound``).
* Vote: ``{"type": "prevote"|"precommit", "chain_id", "height", "round",
  "block_hash", "validator", "signature"}``; the validator signs
  ``ledger.block.vote_sign_bytes(type, chain_id, height, round, block_hash)``, with
  ``block_hash`` ``""`` for a vote for nil. Precommit signatures are exactly the ones a
  ``ledger.block.CommitCertificate`` carries.

``from_json`` checks every field strictly (exact key set, types, ranges, hex forms) and
raises :class:`MessageError` with a stable code; it does not check signatures (the core
does that, once per distinct message, against the validator set of the height).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ledger.block import MAX_ROUND, vote_sign_bytes
from ledger.crypto import PrivateKey, is_hex_digest, is_hex_pubkey, is_hex_signature, verify_hex
from ledger.encoding import (
    MAX_SAFE_INTEGER,
    CanonicalEncodingError,
    canonical,
    canonical_str,
    decode,
)
from ledger.errors import LedgerError
from ledger.tx import CHAIN_ID_RE
from node.consensus.protocol import BlockDecoder, BlockTextDecoder, ConsensusBlock

__all__ = [
    "MAX_ROUND",
    "NIL",
    "PRECOMMIT",
    "PREVOTE",
    "PROPOSAL",
    "Message",
    "MessageError",
    "Proposal",
    "Vote",
    "decode_message",
    "decode_message_strict",
    "proposal_sign_bytes",
]

PROPOSAL = "proposal"
PREVOTE = "prevote"
PRECOMMIT = "precommit"
VOTE_KINDS = (PREVOTE, PRECOMMIT)
NIL = ""  # the block hash of a vote for nil

_VOTE_KEYS = frozenset({"type", "chain_id", "height", "round", "block_hash", "validator",
                        "signature"})
_PROPOSAL_KEYS = frozenset({"type", "chain_id", "height", "round", "pol_round", "block_hash",
                            "block", "proposer", "signature"})


class MessageError(LedgerError):
    """A consensus message is malformed (``malformed_message``) or too large
    (``oversized_message``)."""


def _bad(message: str) -> MessageError:
    return MessageError("malformed_message", message)


def proposal_sign_bytes(
    chain_id: str, height: int, round_: int, block_hash: str, pol_round: int
) -> bytes:
    """The bytes a proposer signs."""
    return canonical(
        {
            "block_hash": block_hash,
            "chain_id": chain_id,
            "height": height,
            "pol_round": pol_round,
            "round": round_,
            "type": PROPOSAL,
        }
    )


def _check_common(obj: Mapping[str, Any]) -> None:
    chain_id = obj["chain_id"]
    if not isinstance(chain_id, str) or not CHAIN_ID_RE.match(chain_id):
        raise _bad("chain_id must be a chain id string")
    height = obj["height"]
    if type(height) is not int or not 1 <= height <= MAX_SAFE_INTEGER:
        raise _bad("height must be an integer >= 1")
    round_ = obj["round"]
    if type(round_) is not int or not 0 <= round_ <= MAX_ROUND:
        raise _bad(f"round must be an integer in 0..{MAX_ROUND}")
    if not is_hex_signature(obj["signature"]):
        raise _bad("signature must be 128 lowercase hex digits")


@dataclass(frozen=True, slots=True)
class Vote:
    """A prevote or precommit. ``block_hash`` is :data:`NIL` for a vote for nil."""

    kind: str
    chain_id: str
    height: int
    round: int
    block_hash: str
    validator: str
    signature: str

    @property
    def signer(self) -> str:
        return self.validator

    @property
    def identity(self) -> tuple[str, int, int, str, str, str]:
        """Equal for two messages iff they are the same signed statement (used to drop
        duplicates before any signature check)."""
        return (self.kind, self.height, self.round, self.block_hash, self.validator,
                self.signature)

    def sign_bytes(self) -> bytes:
        return vote_sign_bytes(self.kind, self.chain_id, self.height, self.round,
                               self.block_hash)

    def verify(self) -> bool:
        return verify_hex(self.validator, self.sign_bytes(), self.signature)

    @classmethod
    def sign(
        cls, key: PrivateKey, kind: str, chain_id: str, height: int, round_: int,
        block_hash: str,
    ) -> Vote:
        body = vote_sign_bytes(kind, chain_id, height, round_, block_hash)
        return cls(kind, chain_id, height, round_, block_hash, key.public_key_hex,
                   key.sign_hex(body))

    def to_json(self) -> dict[str, Any]:
        return {
            "block_hash": self.block_hash,
            "chain_id": self.chain_id,
            "height": self.height,
            "round": self.round,
            "signature": self.signature,
            "type": self.kind,
            "validator": self.validator,
        }

    def to_bytes(self) -> bytes:
        return canonical(self.to_json())

    @classmethod
    def from_json(cls, obj: Any) -> Vote:
        if not isinstance(obj, Mapping) or set(obj) != _VOTE_KEYS:
            raise _bad(f"a vote has exactly the fields {sorted(_VOTE_KEYS)}")
        if obj["type"] not in VOTE_KINDS:
            raise _bad("vote type must be 'prevote' or 'precommit'")
        _check_common(obj)
        block_hash = obj["block_hash"]
        if block_hash != NIL and not is_hex_digest(block_hash):
            raise _bad("vote block_hash must be a hex SHA-256 or '' (nil)")
        if not is_hex_pubkey(obj["validator"]):
            raise _bad("vote validator must be a hex Ed25519 public key")
        return cls(obj["type"], obj["chain_id"], obj["height"], obj["round"], block_hash,
                   obj["validator"], obj["signature"])


@dataclass(frozen=True)
class Proposal:
    """A proposer's signed suggestion of ``block`` for ``(height, round)``."""

    chain_id: str
    height: int
    round: int
    pol_round: int
    block_hash: str
    proposer: str
    signature: str
    block: ConsensusBlock = field(compare=False, repr=False)
    _wire: list[bytes] = field(default_factory=list, init=False, compare=False, repr=False)

    kind = PROPOSAL

    @property
    def signer(self) -> str:
        return self.proposer

    @property
    def identity(self) -> tuple[str, int, int, int, str, str, str]:
        return (PROPOSAL, self.height, self.round, self.pol_round, self.block_hash,
                self.proposer, self.signature)

    def sign_bytes(self) -> bytes:
        return proposal_sign_bytes(self.chain_id, self.height, self.round, self.block_hash,
                                   self.pol_round)

    def verify(self) -> bool:
        return verify_hex(self.proposer, self.sign_bytes(), self.signature)

    @classmethod
    def sign(
        cls, key: PrivateKey, chain_id: str, round_: int, block: ConsensusBlock, pol_round: int,
    ) -> Proposal:
        block_hash = block.hash()
        body = proposal_sign_bytes(chain_id, block.height, round_, block_hash, pol_round)
        return cls(chain_id, block.height, round_, pol_round, block_hash, key.public_key_hex,
                   key.sign_hex(body), block)

    def to_json(self) -> dict[str, Any]:
        return {
            "block": self.block.to_json(),
            "block_hash": self.block_hash,
            "chain_id": self.chain_id,
            "height": self.height,
            "pol_round": self.pol_round,
            "proposer": self.proposer,
            "round": self.round,
            "signature": self.signature,
            "type": PROPOSAL,
        }

    def to_bytes(self) -> bytes:
        """The wire bytes, ``canonical(self.to_json())`` (computed once: a proposal carries a
        whole block). The block's own canonical bytes are used as they are: ``"block"``
        sorts before every other key of a proposal."""
        if not self._wire:
            rest = canonical({"block_hash": self.block_hash, "chain_id": self.chain_id,
                              "height": self.height, "pol_round": self.pol_round,
                              "proposer": self.proposer, "round": self.round,
                              "signature": self.signature, "type": PROPOSAL})
            self._wire.append(b'{"block":' + self.block.canonical_bytes + b"," + rest[1:])
        return self._wire[0]

    @classmethod
    def from_json(cls, obj: Any, decode_block: BlockDecoder) -> Proposal:
        if not isinstance(obj, Mapping) or set(obj) != _PROPOSAL_KEYS:
            raise _bad(f"a proposal has exactly the fields {sorted(_PROPOSAL_KEYS)}")
        if obj["type"] != PROPOSAL:
            raise _bad("proposal type must be 'proposal'")
        _check_common(obj)
        pol_round = obj["pol_round"]
        if type(pol_round) is not int or not -1 <= pol_round < obj["round"]:
            raise _bad("pol_round must be -1 or a round below the proposal's round")
        if not is_hex_digest(obj["block_hash"]):
            raise _bad("proposal block_hash must be a hex SHA-256")
        if not is_hex_pubkey(obj["proposer"]):
            raise _bad("proposal proposer must be a hex Ed25519 public key")
        try:
            block = decode_block(obj["block"])
            block_hash = block.hash()
            block_height = block.height
        except (ValueError, TypeError, KeyError) as exc:
            raise _bad(f"proposal block does not decode: {exc}") from exc
        if block_height != obj["height"]:
            raise _bad("proposal block height differs from the proposal's height")
        if block_hash != obj["block_hash"]:
            raise _bad("proposal block_hash is not the hash of the block")
        return cls(obj["chain_id"], obj["height"], obj["round"], pol_round, block_hash,
                   obj["proposer"], obj["signature"], block)


Message = Proposal | Vote


_PROPOSAL_START = b'{"block":'


def _proposal_fast(
    data: bytes, decode_block_text: BlockTextDecoder
) -> Proposal | None:
    """The proposal whose canonical bytes are exactly ``data``, decoded piece by piece
    (the block by ``decode_block_text``, the small tail after it strictly), or None when
    that cannot be shown: then :func:`decode_message_strict` decides. Sound because every
    piece is checked to be the canonical text of its value and the pieces are joined as
    ``canonical`` joins them (``"block"`` sorts before every other key of a proposal), so
    ``data`` is the canonical form of the value this answers for, and the strict path,
    which accepts every canonical form, decodes that value the same way."""
    if not data.startswith(_PROPOSAL_START):
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    try:
        got = decode_block_text(text, len(_PROPOSAL_START))
    except (ValueError, TypeError, KeyError):  # what from_json turns into a refusal
        return None
    if got is None:
        return None
    block, end = got
    if not text.startswith(',"', end):
        return None
    tail_text = "{" + text[end + 1:]
    try:
        tail = decode(tail_text)
    except CanonicalEncodingError:
        return None
    if type(tail) is not dict or "block" in tail or canonical_str(tail) != tail_text:
        return None
    tail["block"] = None  # decoded already: the decoder below answers it
    try:
        msg = Proposal.from_json(tail, lambda _: block)
    except MessageError:
        return None
    msg._wire.append(data)
    return msg


def decode_message(
    data: bytes,
    decode_block: BlockDecoder,
    *,
    max_proposal_bytes: int = 16 * 1024 * 1024,
    max_vote_bytes: int = 1024,
    decode_block_text: BlockTextDecoder | None = None,
) -> Message:
    """Parse wire bytes into a message; raise :class:`MessageError` otherwise. Signatures
    are not checked here.

    With ``decode_block_text`` a proposal in canonical form is first decoded by
    :func:`_proposal_fast` (mempool transactions found by their canonical text, not parsed);
    whatever it does not answer is decoded by :func:`decode_message_strict`, so the result,
    or the refusal's code, is always the strict path's
    (tests/node/test_proposal_fast_decode.py)."""
    if (
        decode_block_text is not None
        and type(data) is bytes
        and len(data) <= max_proposal_bytes
    ):
        msg = _proposal_fast(data, decode_block_text)
        if msg is not None:
            return msg
    return decode_message_strict(
        data, decode_block, max_proposal_bytes=max_proposal_bytes, max_vote_bytes=max_vote_bytes
    )


def decode_message_strict(
    data: bytes,
    decode_block: BlockDecoder,
    *,
    max_proposal_bytes: int = 16 * 1024 * 1024,
    max_vote_bytes: int = 1024,
) -> Message:
    """Parse wire bytes into a message, strictly (any JSON form, then every field checked);
    raise :class:`MessageError` otherwise. Signatures are not checked here."""
    if not isinstance(data, bytes | bytearray):
        raise _bad("a message is bytes")
    if len(data) > max_proposal_bytes:
        raise MessageError("oversized_message", f"message exceeds {max_proposal_bytes} bytes")
    try:
        obj = decode(bytes(data))
    except CanonicalEncodingError as exc:
        raise _bad(f"not canonical JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise _bad("a message is a JSON object")
    kind = obj.get("type")
    if kind == PROPOSAL:
        return Proposal.from_json(obj, decode_block)
    if kind in VOTE_KINDS:
        if len(data) > max_vote_bytes:
            raise MessageError("oversized_message", f"a vote exceeds {max_vote_bytes} bytes")
        return Vote.from_json(obj)
    raise _bad("message type must be 'proposal', 'prevote' or 'precommit'")
