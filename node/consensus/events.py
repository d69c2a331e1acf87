"""Events: everything that happens *to* the consensus core.

The driver turns network input, fired timers and finished application work into these
and passes them to :meth:`ConsensusCore.handle`, one at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

from ledger.block import CommitCertificate
from ledger.validators import ValidatorSet
from node.consensus.protocol import ConsensusBlock

__all__ = [
    "CommitCertificateReceived",
    "Event",
    "MessageReceived",
    "ProposalBuilt",
    "ProposalValidated",
    "StartHeight",
    "TimeoutFired",
]


@dataclass(frozen=True, slots=True)
class StartHeight:
    """Begin consensus on ``height`` (the first event after construction, and the answer to
    every ``Commit``). ``validators`` signs this height; ``now_ms`` is the driver's clock,
    used as the time of blocks this node proposes."""

    height: int
    validators: ValidatorSet
    now_ms: int


@dataclass(frozen=True, slots=True)
class MessageReceived:
    """Wire bytes of a consensus message from the network (not yet parsed or verified)."""

    data: bytes


@dataclass(frozen=True, slots=True)
class TimeoutFired:
    """A timer the core asked for with ``ScheduleTimeout`` has expired. ``now_ms``, when
    given, advances the core's notion of the time for later proposals."""

    kind: str
    height: int
    round: int
    now_ms: int | None = None


@dataclass(frozen=True, slots=True)
class ProposalBuilt:
    """The application's answer to ``BuildProposal(height, round)``."""

    height: int
    round: int
    block: ConsensusBlock


@dataclass(frozen=True, slots=True)
class ProposalValidated:
    """The application's answer to ``ValidateProposal``: did re-executing the block give
    exactly the block (roots, results, state root) the proposer claims?"""

    block_hash: str
    ok: bool


@dataclass(frozen=True, slots=True)
class CommitCertificateReceived:
    """A block and a commit certificate for the current height from block sync; the core
    checks the certificate against this height's validator set and decides the block, or
    refuses it with a ``SyncRefused`` report naming ``peer`` (the peer the block came
    from, ``""`` if unknown)."""

    block: ConsensusBlock
    certificate: CommitCertificate
    peer: str = ""


Event = (
    StartHeight
    | MessageReceived
    | TimeoutFired
    | ProposalBuilt
    | ProposalValidated
    | CommitCertificateReceived
)
