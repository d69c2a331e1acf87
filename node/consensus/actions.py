"""Actions: everything the consensus core asks its driver to do, as one typed batch.

``ConsensusCore.handle`` returns one :class:`Ready` per event (in the spirit of etcd raft's
``Ready``): a frozen record whose fields are the kinds of work, in the order the driver
performs them:

1. ``persist`` -- the sign state to write durably (written **and fsynced**), or ``None``;
2. ``sends`` -- the messages to broadcast;
3. ``timers`` -- the timeouts to schedule;
4. ``requests`` -- the application work (build or validate a proposal);
5. ``commits`` -- the decided block, with its certificate;
6. ``reports`` -- what happened, for the operator and block sync (equivocation evidence,
   peers behind or ahead, refused synced certificates).

The safety rule "a signed message never leaves the process before the sign state that
covers it is durable" holds by structure: the batch carries at most one sign state (the
newest, which covers every message of ``sends``), and a driver persists it before it
performs anything else. If persisting fails the driver must stop, performing nothing of
the batch.
"""

from __future__ import annotations

from dataclasses import dataclass

from ledger.block import CommitCertificate
from node.consensus.messages import Message
from node.consensus.protocol import ConsensusBlock
from node.consensus.signstate import SignState

__all__ = [
    "Action",
    "AppRequest",
    "Broadcast",
    "BuildProposal",
    "Commit",
    "EquivocationDetected",
    "PeerAhead",
    "PeerBehind",
    "Ready",
    "Report",
    "SYNC_REFUSAL_REASONS",
    "ScheduleTimeout",
    "SyncRefused",
    "ValidateProposal",
]


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


@dataclass(frozen=True, slots=True)
class SyncRefused:
    """The core refused a block and commit certificate that block sync handed it
    (``CommitCertificateReceived``): nothing was decided. ``height`` is the height the
    certificate claims, ``peer`` the peer it came from (as given in the event; ``""`` if
    unknown) and ``reason`` one of :data:`SYNC_REFUSAL_REASONS`."""

    height: int
    peer: str
    reason: str


#: Why a synced certificate is refused: the core has not started a height or has already
#: decided it (``decided``), the block or certificate is for another height
#: (``wrong_height``), the block cannot be hashed (``bad_block``), the certificate names
#: another block (``block_mismatch``), or it does not verify against the height's
#: validator set (``bad_certificate``).
SYNC_REFUSAL_REASONS = ("not_started", "decided", "wrong_height", "bad_block",
                        "block_mismatch", "bad_certificate")

AppRequest = BuildProposal | ValidateProposal
"""Work for the application; each is answered with an event."""

Report = EquivocationDetected | PeerBehind | PeerAhead | SyncRefused
"""Facts for the operator (logs, metrics) and for block sync; nothing is answered."""

Action = Broadcast | ScheduleTimeout | AppRequest | Commit | Report
"""Any entry of a :class:`Ready` batch other than the sign state."""


@dataclass(frozen=True, slots=True)
class Ready:
    """One step's work, in the order a driver performs it (see the module docstring).

    ``persist`` is the sign state to make durable first (``None``: unchanged). Every
    message of ``sends`` signed by this node is covered by it (or by a state persisted
    in an earlier batch), so persisting before sending is all a driver has to do.
    Within each field, entries keep the order in which the core produced them.
    """

    persist: SignState | None = None
    sends: tuple[Broadcast, ...] = ()
    timers: tuple[ScheduleTimeout, ...] = ()
    requests: tuple[AppRequest, ...] = ()
    commits: tuple[Commit, ...] = ()
    reports: tuple[Report, ...] = ()

    @property
    def empty(self) -> bool:
        """Nothing to do."""
        return (self.persist is None and not self.sends and not self.timers
                and not self.requests and not self.commits and not self.reports)

    def actions(self) -> tuple[Action, ...]:
        """Every entry but the sign state, in the order of the fields (for tests, traces
        and logs; a driver dispatches field by field)."""
        return (*self.sends, *self.timers, *self.requests, *self.commits, *self.reports)
