"""Actions: everything the consensus core asks its driver to do.

``ConsensusCore.handle`` returns a list of actions that the driver must perform **in list
order**. One ordering rule is about safety: a ``PersistSignState`` must be durable
(written and fsynced) before the driver performs any action that follows it in the list;
the core always places it before the ``Broadcast`` of the message it covers. If persisting
fails the driver must stop without performing the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

from ledger.block import CommitCertificate
from node.consensus.messages import Message
from node.consensus.protocol import ConsensusBlock
from node.consensus.signstate import SignState, Step

__all__ = [
    "Action",
    "Broadcast",
    "BuildProposal",
    "Commit",
    "EquivocationDetected",
    "PeerAhead",
    "PeerBehind",
    "PersistSignState",
    "ScheduleTimeout",
    "ValidateProposal",
]


@dataclass(frozen=True, slots=True)
class PersistSignState:
    """Write ``state`` durably (fsync) before performing any later action of this list."""

    state: SignState

    @property
    def height(self) -> int:
        return self.state.height

    @property
    def round(self) -> int:
        return self.state.round

    @property
    def step(self) -> Step:
        return self.state.step


@dataclass(frozen=True, slots=True)
class Broadcast:
    """Send ``message`` (``message.to_bytes()``) to every other validator of the height.
    Fire and forget: the core re-sends its own messages on the ``rebroadcast`` timer."""

    message: Message


@dataclass(frozen=True, slots=True)
class ScheduleTimeout:
    """After ``duration_ms``, hand back ``TimeoutFired(kind, height, round)``. Timers are
    never cancelled: the core ignores the ones that no longer apply."""

    kind: str
    height: int
    round: int
    duration_ms: int


@dataclass(frozen=True, slots=True)
class BuildProposal:
    """This node proposes at ``(height, round)``: build a block (with a time no earlier
    than ``now_ms``) and answer with ``ProposalBuilt(height, round, block)``."""

    height: int
    round: int
    now_ms: int


@dataclass(frozen=True, slots=True)
class ValidateProposal:
    """Re-execute ``block`` against the committed state and answer with
    ``ProposalValidated(block.hash(), ok)``. Asked once per block per height."""

    height: int
    round: int
    block: ConsensusBlock


@dataclass(frozen=True, slots=True)
class Commit:
    """``block`` is decided at ``height``, with ``certificate`` (2f+1 precommits). The
    driver executes and stores it, then sends ``StartHeight(height + 1, ...)``."""

    height: int
    block: ConsensusBlock
    certificate: CommitCertificate


@dataclass(frozen=True, slots=True)
class EquivocationDetected:
    """``validator`` signed two different messages of one kind for one height and round;
    ``first`` and ``second`` are both validly signed (evidence for the operators)."""

    validator: str
    height: int
    round: int
    kind: str
    first: Message
    second: Message


@dataclass(frozen=True, slots=True)
class PeerBehind:
    """``validator`` is still working on ``height``, below ours: block sync may send it
    the committed blocks and certificates from ``height`` on. A hint, rate-limited to one
    per validator per rebroadcast period; its sender was not authenticated."""

    validator: str
    height: int


@dataclass(frozen=True, slots=True)
class PeerAhead:
    """``validator`` sent a message for ``height``, above ours, and we have not decided our
    height for a whole rebroadcast period (or it is two or more heights ahead): block
    sync may fetch committed blocks and certificates from it, from our height on. A hint,
    rate-limited like ``PeerBehind``; its sender was not authenticated."""

    validator: str
    height: int


Action = (
    PersistSignState
    | Broadcast
    | ScheduleTimeout
    | BuildProposal
    | ValidateProposal
    | Commit
    | EquivocationDetected
    | PeerBehind
    | PeerAhead
)
