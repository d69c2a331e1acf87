"""The light client's core, without I/O: parse what a node answered on ``/v1/light/*``
and move the trusted state forward by the rules of ``ledger/header_chain.py``.

A caller (``fcl light``; anything that must "trust header H from an anchor": state
proofs, state sync) fetches the answers however it likes and hands them here:

* **skipping** (the default): the validator-set changes strictly between the trusted
  height and the target (``/v1/light/changes``, :func:`parse_changes_page`), then the
  target's light block (``/v1/light/blocks/{h}``, :func:`parse_light_block`);
  :meth:`LightClient.skip_to` verifies them (``header_chain.advance``);
* **sequential**: every light block in turn; :meth:`LightClient.step` additionally checks
  the link to the trusted block (``header_chain.advance_next``: height + 1, ``prev_hash``,
  strictly later time).

Both also refuse a target whose time is not after the trusted block's (``bad_time``) and a
``next_validators`` that does not hash to the header's ``next_validators_hash``
(``bad_change_set``). Every refusal is a :class:`~ledger.header_chain.HeaderChainError`; the
codes this module adds are ``malformed_light_block``, ``unexpected_height`` and
``malformed_changes_page`` (docs/light-client.md lists them all). Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ledger.block import BlockHeader, CommitCertificate
from ledger.errors import LedgerError
from ledger.header_chain import (
    MAX_CHANGES,
    HeaderChainError,
    TrustedState,
    ValidatorSetChange,
    advance,
    advance_next,
    parse_changes,
)
from ledger.validators import ValidatorSet

__all__ = [
    "LIGHT_BLOCK_FIELDS",
    "LightBlock",
    "LightClient",
    "parse_changes_page",
    "parse_light_block",
]

LIGHT_BLOCK_FIELDS = frozenset({"height", "hash", "header", "commit", "next_validators"})
_PAGE_FIELDS = frozenset({"above", "below", "changes", "complete"})


@dataclass(frozen=True)
class LightBlock:
    """One answer of ``/v1/light/blocks/{height}``: a header, its commit certificate and
    the set that signs the next block. Nothing here is trusted until verified."""

    header: BlockHeader
    commit: CommitCertificate
    next_validators: ValidatorSet

    @property
    def height(self) -> int:
        return self.header.height

    def to_json(self) -> dict[str, Any]:
        return {"commit": self.commit.to_json(), "hash": self.header.hash(),
                "header": self.header.to_json(), "height": self.header.height,
                "next_validators": self.next_validators.to_json()}


def parse_light_block(obj: Any, height: int | None = None) -> LightBlock:
    """A light block from its JSON; ``height`` is the height asked for (None: the latest).
    ``malformed_light_block`` for a wrong shape (or a ``hash`` that is not the header's),
    ``unexpected_height`` for a block of another height than asked."""
    if not isinstance(obj, dict) or set(obj) != LIGHT_BLOCK_FIELDS:
        raise HeaderChainError(
            "malformed_light_block", f"a light block has exactly {sorted(LIGHT_BLOCK_FIELDS)}")
    try:
        header = BlockHeader.from_json(obj["header"])
        commit = CommitCertificate.from_json(obj["commit"])
        next_validators = ValidatorSet.from_json(obj["next_validators"])
    except LedgerError as exc:
        raise HeaderChainError("malformed_light_block", f"light block: {exc.message}") from None
    if type(obj["height"]) is not int or obj["height"] != header.height:
        raise HeaderChainError(
            "malformed_light_block",
            f"the light block's height {obj['height']!r} is not its header's ({header.height})")
    if obj["hash"] != header.hash():
        raise HeaderChainError(
            "malformed_light_block", f"block {header.height}: the hash given is not the header's hash")
    if height is not None and header.height != height:
        raise HeaderChainError(
            "unexpected_height", f"asked for block {height}, the node answered block {header.height}")
    return LightBlock(header, commit, next_validators)


def parse_changes_page(obj: Any, above: int, below: int) -> tuple[list[ValidatorSetChange], bool]:
    """One answer of ``/v1/light/changes?above=A&below=B``: its changes and whether it is
    complete. ``malformed_changes_page`` for a wrong shape, other bounds than asked, or a
    change outside them; ``malformed_change`` / ``too_many_changes`` for the list."""
    if not isinstance(obj, dict) or set(obj) != _PAGE_FIELDS:
        raise HeaderChainError(
            "malformed_changes_page", f"a page of changes has exactly {sorted(_PAGE_FIELDS)}")
    if obj["above"] != above or obj["below"] != below or type(obj["complete"]) is not bool:
        raise HeaderChainError(
            "malformed_changes_page",
            f"asked for the changes between {above} and {below}; the answer is for "
            f"{obj['above']!r}..{obj['below']!r} (complete {obj['complete']!r})")
    changes = parse_changes(obj["changes"], "changes")
    for change in changes:
        if not above < change.height < below:
            raise HeaderChainError(
                "malformed_changes_page",
                f"the change at block {change.height} is not between {above} and {below}")
    if not obj["complete"] and not changes:
        raise HeaderChainError(
            "malformed_changes_page", "an incomplete page of changes must list at least one")
    return changes, obj["complete"]


class LightClient:
    """The trusted state and the two ways to move it forward. Holds no connection: the
    caller fetches; every method either returns the new trusted state (and keeps it) or
    raises :class:`HeaderChainError` and keeps the old one."""

    def __init__(self, trusted: TrustedState) -> None:
        self._trusted = trusted

    @property
    def trusted(self) -> TrustedState:
        return self._trusted

    def _check_next_set(self, block: LightBlock) -> None:
        if block.next_validators.hash() != block.header.next_validators_hash:
            raise HeaderChainError(
                "bad_change_set",
                f"block {block.height}: the next validator set given does not hash to the "
                "header's next_validators_hash")

    def _check_time(self, block: LightBlock) -> None:
        trusted = self._trusted
        if block.height > trusted.height and block.header.time <= trusted.time:
            raise HeaderChainError(
                "bad_time",
                f"block {block.height}'s time {block.header.time} is not after the trusted "
                f"block {trusted.height}'s time {trusted.time}")

    def skip_to(self, block: LightBlock, changes: Sequence[ValidatorSetChange]) -> TrustedState:
        """Trust ``block`` (above the trusted height, or the trusted block itself) through
        ``changes``: every validator-set change strictly between the two heights."""
        if len(changes) > MAX_CHANGES:
            raise HeaderChainError("too_many_changes", f"more than {MAX_CHANGES} changes")
        new = advance(self._trusted, changes, block.header, block.commit, block.next_validators)
        self._check_time(block)
        self._check_next_set(block)
        self._trusted = new
        return new

    def step(self, block: LightBlock) -> TrustedState:
        """Trust ``block``, the block right after the trusted one (sequential mode)."""
        new = advance_next(self._trusted, block.header, block.commit, block.next_validators)
        self._check_next_set(block)
        self._trusted = new
        return new
