"""Following a chain's signed headers without replaying its transactions.

The light-client rules shared by state proofs (``ledger/state_proof.py``), ``fcl query``,
the light client (``fcl light``) and state sync: from a **trusted state** — the genesis,
or a saved checkpoint — a header at a later height is trusted when

1. every validator-set change between the trusted height and that header is given, in
   increasing height order, each one's header naming the set then in force
   (``validators_hash``), committed by that set (more than 2/3 of its power, strict
   Ed25519), changing the set (``next_validators_hash != validators_hash``) and listing
   the new set, whose hash is its ``next_validators_hash``;
2. the header names the set in force at its height, its proposer is a member of it, and
   its commit certificate carries precommits of more than 2/3 of that set's power.

This is the "skipping" verification of a Tendermint light client, restricted to what
this ledger needs: a block is only accepted when the *current* set signed it, and the set
is followed from one change to the next, each authenticated by the set before it
(E. Buchman, J. Kwon, Z. Milosevic, *The latest gossip on BFT consensus*,
arXiv:1807.04938; CometBFT light-client specification, "verifying a header"). The rules
are those of the retirement certificate's steps 4–6 (docs/certificates.md); the codes of a
header or commit failure are those of ``ledger/next_block.py``, the same a validator and
the auditor give.

A :class:`TrustedState` is what a light client keeps between runs (its checkpoint file):
the chain, the height and hash of the last trusted block, and the validator set that
signs the next block. Everything here is pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ledger.block import BlockHeader, CommitCertificate
from ledger.crypto import is_hex_digest
from ledger.errors import LedgerError
from ledger.genesis import Genesis
from ledger.next_block import (
    Predecessor,
    check_chain_id,
    check_commit,
    check_link,
    check_proposer,
    check_validators_hash,
)
from ledger.validators import ValidatorSet

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "MAX_CHANGES",
    "HeaderChainError",
    "TrustedState",
    "advance",
    "advance_next",
    "ValidatorSetChange",
    "parse_changes",
    "verify_header",
]

CHECKPOINT_FORMAT = "fcl-light-checkpoint"
CHECKPOINT_VERSION = 1
MAX_CHANGES = 10_000  # validator-set changes in one answer: a bound on work, not a rule
_MAX_HEIGHT = 2**53 - 1
_CHECKPOINT_FIELDS = frozenset(
    {"format", "version", "chain_id", "genesis_hash", "height", "block_hash", "time",
     "next_validators"}
)
_CHANGE_FIELDS = frozenset({"height", "header", "commit", "validators"})


class HeaderChainError(LedgerError):
    """A header cannot be trusted from the trusted state. ``code`` is a
    ``ledger/next_block.py`` code for a header or commit that breaks the next-block rules,
    or one of: ``bad_checkpoint``, ``malformed_change``, ``change_order``, ``not_a_change``,
    ``bad_change_set``, ``header_not_after_checkpoint``, ``checkpoint_conflict``,
    ``too_many_changes``; and, from the light client's core (``ledger/light_client.py``),
    ``malformed_light_block``, ``unexpected_height``, ``malformed_changes_page``,
    ``bad_time`` (docs/light-client.md)."""


@dataclass(frozen=True)
class TrustedState:
    """The last block a light client trusts, and the set that signs the next one."""

    chain_id: str
    genesis_hash: str
    height: int  # 0: the genesis itself
    block_hash: str  # the genesis hash at height 0
    time: int  # ms; the genesis time at height 0
    next_validators: ValidatorSet

    @classmethod
    def from_genesis(cls, genesis: Genesis) -> TrustedState:
        return cls(genesis.chain_id, genesis.hash, 0, genesis.hash, genesis.genesis_time,
                   genesis.validators)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "chain_id": self.chain_id,
            "genesis_hash": self.genesis_hash,
            "height": self.height,
            "block_hash": self.block_hash,
            "time": self.time,
            "next_validators": self.next_validators.to_json(),
        }

    @classmethod
    def from_json(cls, obj: Any) -> TrustedState:
        """Parse a checkpoint file's object; ``bad_checkpoint`` for anything else."""
        if not isinstance(obj, dict) or set(obj) != _CHECKPOINT_FIELDS:
            raise HeaderChainError(
                "bad_checkpoint", f"a light-client checkpoint has exactly {sorted(_CHECKPOINT_FIELDS)}"
            )
        if obj["format"] != CHECKPOINT_FORMAT or obj["version"] != CHECKPOINT_VERSION:
            raise HeaderChainError(
                "bad_checkpoint",
                f"not a {CHECKPOINT_FORMAT} version {CHECKPOINT_VERSION} file "
                f"(format {obj['format']!r}, version {obj['version']!r})",
            )
        if not isinstance(obj["chain_id"], str) or not obj["chain_id"]:
            raise HeaderChainError("bad_checkpoint", "checkpoint chain_id must be a non-empty string")
        for name in ("genesis_hash", "block_hash"):
            if not is_hex_digest(obj[name]):
                raise HeaderChainError("bad_checkpoint", f"checkpoint {name} must be 64 lowercase hex digits")
        for name in ("height", "time"):
            if type(obj[name]) is not int or not 0 <= obj[name] <= _MAX_HEIGHT:
                raise HeaderChainError("bad_checkpoint", f"checkpoint {name} must be a natural number")
        try:
            validators = ValidatorSet.from_json(obj["next_validators"])
        except LedgerError as exc:
            raise HeaderChainError("bad_checkpoint", f"checkpoint next_validators: {exc.message}") from None
        if obj["height"] == 0 and obj["block_hash"] != obj["genesis_hash"]:
            raise HeaderChainError("bad_checkpoint", "at height 0 the block hash is the genesis hash")
        return cls(obj["chain_id"], obj["genesis_hash"], obj["height"], obj["block_hash"],
                   obj["time"], validators)


@dataclass(frozen=True)
class ValidatorSetChange:
    """Block ``height`` changed the set: ``validators`` signs from ``height + 1`` on."""

    height: int
    header: BlockHeader
    commit: CommitCertificate
    validators: ValidatorSet

    def to_json(self) -> dict[str, Any]:
        return {"height": self.height, "header": self.header.to_json(),
                "commit": self.commit.to_json(), "validators": self.validators.to_json()}

    @classmethod
    def from_json(cls, obj: Any, where: str = "change") -> ValidatorSetChange:
        if not isinstance(obj, dict) or set(obj) != _CHANGE_FIELDS:
            raise HeaderChainError("malformed_change", f"{where} must have exactly {sorted(_CHANGE_FIELDS)}")
        height = obj["height"]
        if type(height) is not int or not 1 <= height <= _MAX_HEIGHT:
            raise HeaderChainError("malformed_change", f"{where}.height must be a block height")
        try:
            header = BlockHeader.from_json(obj["header"])
            commit = CommitCertificate.from_json(obj["commit"])
            validators = ValidatorSet.from_json(obj["validators"])
        except LedgerError as exc:
            raise HeaderChainError("malformed_change", f"{where}: {exc.message}") from None
        if header.height != height:
            raise HeaderChainError(
                "malformed_change", f"{where}.header is the header of block {header.height}, not {height}"
            )
        return cls(height, header, commit, validators)


def parse_changes(items: Any, where: str = "validator_set_changes") -> list[ValidatorSetChange]:
    """A JSON list of changes; ``malformed_change`` / ``too_many_changes``."""
    if not isinstance(items, list):
        raise HeaderChainError("malformed_change", f"{where} must be a list")
    if len(items) > MAX_CHANGES:
        raise HeaderChainError("too_many_changes", f"{where} lists more than {MAX_CHANGES} changes")
    return [ValidatorSetChange.from_json(item, f"{where}[{i}]") for i, item in enumerate(items)]


def _rule(where: str, exc: LedgerError) -> HeaderChainError:
    return HeaderChainError(exc.code, f"{where}: {exc.message}" if where else exc.message)


def verify_header(
    trusted: TrustedState,
    changes: Sequence[ValidatorSetChange],
    header: BlockHeader,
    commit: CommitCertificate,
) -> ValidatorSet:
    """Trust ``header`` (at a height above ``trusted``, or the trusted block itself) from
    ``trusted`` through ``changes`` (every validator-set change at heights
    ``trusted.height < c < header.height``, in increasing order) and ``commit``.
    Returns the set that signed ``header``; raises :class:`HeaderChainError`."""
    current = trusted.next_validators
    try:
        check_chain_id(trusted.chain_id, header)
    except LedgerError as exc:
        raise _rule("", exc) from None
    if header.height < trusted.height or header.height == 0:
        raise HeaderChainError(
            "header_not_after_checkpoint",
            f"block {header.height} is below the trusted height {trusted.height}; "
            "start from an older checkpoint or the genesis",
        )
    if header.height == trusted.height:
        if header.hash() != trusted.block_hash:
            raise HeaderChainError(
                "checkpoint_conflict",
                f"block {header.height} is not the block the checkpoint trusts "
                f"({trusted.block_hash[:16]}…): two histories, or a wrong checkpoint",
            )
        if changes:
            raise HeaderChainError("change_order", "no change can lie between a block and itself")
        return current  # the checkpoint's own block: already trusted
    previous = trusted.height
    for ch in changes:
        where = f"validator-set change at block {ch.height}"
        if not previous < ch.height < header.height:
            raise HeaderChainError(
                "change_order",
                f"{where}: changes lie strictly between the trusted height {trusted.height} and "
                f"block {header.height}, in increasing height order",
            )
        previous = ch.height
        try:
            check_chain_id(trusted.chain_id, ch.header)
            check_validators_hash(current, ch.header)
            check_proposer(current, ch.header)
            check_commit(trusted.chain_id, current, ch.header, ch.commit)
        except LedgerError as exc:
            raise _rule(where, exc) from None
        if ch.header.next_validators_hash == ch.header.validators_hash:
            raise HeaderChainError("not_a_change", f"{where}: the block does not change the validator set")
        if ch.validators.hash() != ch.header.next_validators_hash:
            raise HeaderChainError(
                "bad_change_set", f"{where}: the listed set does not hash to the block's next_validators_hash"
            )
        current = ch.validators
    try:
        check_validators_hash(current, header)
        check_proposer(current, header)
        check_commit(trusted.chain_id, current, header, commit)
    except LedgerError as exc:
        hint = " (is a validator-set change missing?)" if exc.code == "bad_validators_hash" else ""
        raise HeaderChainError(exc.code, f"{exc.message}{hint}") from None
    return current


def advance(
    trusted: TrustedState,
    changes: Sequence[ValidatorSetChange],
    header: BlockHeader,
    commit: CommitCertificate,
    next_validators: ValidatorSet | None = None,
) -> TrustedState:
    """The new trusted state after verifying ``header`` (:func:`verify_header`). When the
    header changes the set (``next_validators_hash != validators_hash``), the new set must
    be given (``bad_change_set`` otherwise, or if it does not hash to the header's)."""
    signed_by = verify_header(trusted, changes, header, commit)
    if header.next_validators_hash == header.validators_hash:
        following = signed_by
    elif next_validators is None or next_validators.hash() != header.next_validators_hash:
        raise HeaderChainError(
            "bad_change_set",
            f"block {header.height} changes the validator set: the new set must be given "
            "and hash to its next_validators_hash",
        )
    else:
        following = next_validators
    return TrustedState(trusted.chain_id, trusted.genesis_hash, header.height, header.hash(),
                        header.time, following)


def advance_next(
    trusted: TrustedState,
    header: BlockHeader,
    commit: CommitCertificate,
    next_validators: ValidatorSet | None = None,
) -> TrustedState:
    """Sequential verification: trust the block right after ``trusted``. Besides
    :func:`advance`'s rules, the header must be at ``trusted.height + 1``
    (``wrong_height``), link to the trusted block (``prev_hash``; ``bad_prev_hash``) and be
    strictly later (``bad_time``) -- the next-block rule's ``check_link``. The history root
    is not checked (the trusted state does not keep the history tree)."""
    try:
        check_chain_id(trusted.chain_id, header)
        check_link(
            Predecessor(trusted.chain_id, trusted.height, trusted.block_hash, trusted.time,
                        trusted.next_validators, ""),
            header,
        )
    except LedgerError as exc:
        raise _rule("", exc) from None
    return advance(trusted, [], header, commit, next_validators)
