"""The protocol's invariants, asserted by the core at the end of every ``handle`` step.

TigerBeetle style: the checks are always on (plain ``raise``, not ``assert``, so
``python -O`` keeps them) and a violation raises :class:`InvariantViolation`, an
``AssertionError``: it means a bug in the core (or corrupted memory), never bad input,
so the node must stop rather than go on with a state that could make it sign twice.

What is checked after each step (docs/consensus.md, "Invariants"):

* **sign state** -- the last signed ``(height, round, step)`` never goes back, and at one
  position it never changes the signed bytes (never two values for one HRS);
* **one signature per step** -- every message of the batch that this node signed is at
  or below the sign state the batch persists (or one persisted before), and no two of the
  messages it sent at one height carry different signed bytes for one ``(round, step)``;
* **lock** -- ``-1 <= lockedRound <= round``, and ``lockedValue`` is set iff
  ``lockedRound >= 0``; **valid value** -- ``-1 <= validRound <= round``, and
  ``validValue`` is set iff ``validRound >= 0``;
* **progress** -- ``(height, round, step)`` never goes back from one step to the next,
  and a decided height stays decided.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn

from ledger.crypto import sha256_hex
from node.consensus.actions import Ready
from node.consensus.messages import Message, Proposal, Vote
from node.consensus.signstate import SignState, Step

__all__ = ["InvariantViolation", "SignedLedger", "StepView", "check_step"]


class InvariantViolation(AssertionError):
    """A consensus invariant does not hold (a bug: stop the node)."""


def violated(message: str) -> NoReturn:
    raise InvariantViolation(message)


@dataclass(frozen=True, slots=True)
class StepView:
    """What the invariants look at in the core, before or after a step."""

    height: int
    round: int
    step: Step
    decided: bool
    locked_round: int
    locked_hash: str
    valid_round: int
    valid_set: bool
    sign_state: SignState

    @property
    def position(self) -> tuple[int, int, int]:
        return (self.height, self.round, int(self.step))


def message_step(msg: Message) -> Step:
    if isinstance(msg, Proposal):
        return Step.PROPOSE
    assert isinstance(msg, Vote)
    return Step.PREVOTE if msg.kind == "prevote" else Step.PRECOMMIT


class SignedLedger:
    """The signed bytes (digest) of every message this node sent at its current height,
    by ``(round, step)``; forgotten when the height changes."""

    __slots__ = ("height", "digests")

    def __init__(self) -> None:
        self.height = 0
        self.digests: dict[tuple[int, int], str] = {}

    def record(self, msg: Message, height: int) -> None:
        if height != self.height:
            self.height = height
            self.digests = {}
        if msg.height != height:
            violated(f"sent own {msg.kind} of height {msg.height} while at height {height}")
        key = (msg.round, int(message_step(msg)))
        digest = sha256_hex(msg.sign_bytes())
        first = self.digests.setdefault(key, digest)
        if first != digest:
            violated(f"signed two different {msg.kind}s at height {height} round {msg.round}")


def check_step(before: StepView, after: StepView, ready: Ready, me: str | None,
               ledger: SignedLedger) -> None:
    """Raise :class:`InvariantViolation` unless the step ``before -> after`` that produced
    ``ready`` keeps every invariant."""
    _check_sign_state(before.sign_state, after.sign_state, ready)
    _check_sends(after, ready, me, ledger)
    _check_lock_and_valid(after)
    _check_progress(before, after)


def _check_sign_state(old: SignState, new: SignState, ready: Ready) -> None:
    if new.position < old.position:
        violated(f"sign state went back from {old.position} to {new.position}")
    if new.position == old.position and new.sign_digest != old.sign_digest:
        violated(f"sign state at {new.position} changed its signed bytes")
    if ready.persist is not None and ready.persist != new:
        violated("the batch persists a sign state other than the core's")
    if ready.persist is None and new is not old and new != old:
        violated("the sign state changed but the batch does not persist it")


def _check_sends(after: StepView, ready: Ready, me: str | None, ledger: SignedLedger) -> None:
    if me is None:
        return
    covered = after.sign_state.position
    for send in ready.sends:
        msg = send.message
        if msg.signer != me:
            continue
        position = (msg.height, msg.round, int(message_step(msg)))
        if position > covered:
            violated(f"own {msg.kind} at {position} is not covered by the persisted sign "
                     f"state at {covered}")
        ledger.record(msg, after.height)


def _check_lock_and_valid(v: StepView) -> None:
    if not -1 <= v.locked_round <= v.round:
        violated(f"locked round {v.locked_round} outside -1..round {v.round}")
    if (v.locked_round >= 0) != (v.locked_hash != ""):
        violated(f"locked value {'set' if v.locked_hash else 'unset'} with locked round "
                 f"{v.locked_round}")
    if not -1 <= v.valid_round <= v.round:
        violated(f"valid round {v.valid_round} outside -1..round {v.round}")
    if (v.valid_round >= 0) != v.valid_set:
        violated(f"valid value {'set' if v.valid_set else 'unset'} with valid round "
                 f"{v.valid_round}")


def _check_progress(before: StepView, after: StepView) -> None:
    if after.position < before.position:
        violated(f"(height, round, step) went back from {before.position} to "
                 f"{after.position}")
    if before.decided and not after.decided and after.height == before.height:
        violated(f"height {after.height} was decided and no longer is")
