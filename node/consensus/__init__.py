"""BFT consensus: the Tendermint algorithm as a sans-I/O state machine.

``ConsensusCore.handle(event) -> Ready`` (one typed batch of work per event); see
docs/consensus.md. This package
imports only ``ledger`` and the standard library (no clock, socket, thread or randomness).
"""

from node.consensus.actions import (
    SYNC_REFUSAL_REASONS,
    Action,
    AppRequest,
    Broadcast,
    BuildProposal,
    Commit,
    EquivocationDetected,
    PeerAhead,
    PeerBehind,
    Ready,
    Report,
    ScheduleTimeout,
    SyncRefused,
    ValidateProposal,
)
from node.consensus.config import TIMEOUT_KINDS, ConsensusConfig
from node.consensus.core import ConsensusCore
from node.consensus.events import (
    CommitCertificateReceived,
    Event,
    MessageReceived,
    ProposalBuilt,
    ProposalValidated,
    StartHeight,
    TimeoutFired,
)
from node.consensus.invariants import InvariantViolation
from node.consensus.messages import (
    NIL,
    PRECOMMIT,
    PREVOTE,
    PROPOSAL,
    Message,
    MessageError,
    Proposal,
    Vote,
    decode_message,
    proposal_sign_bytes,
)
from node.consensus.protocol import BlockDecoder, ConsensusBlock
from node.consensus.signstate import SignState, SignStateError, Step

__all__ = [
    "NIL",
    "PRECOMMIT",
    "PREVOTE",
    "PROPOSAL",
    "SYNC_REFUSAL_REASONS",
    "TIMEOUT_KINDS",
    "Action",
    "AppRequest",
    "BlockDecoder",
    "Broadcast",
    "BuildProposal",
    "Commit",
    "CommitCertificateReceived",
    "ConsensusBlock",
    "ConsensusConfig",
    "ConsensusCore",
    "EquivocationDetected",
    "Event",
    "InvariantViolation",
    "Message",
    "MessageError",
    "MessageReceived",
    "PeerAhead",
    "PeerBehind",
    "Proposal",
    "ProposalBuilt",
    "ProposalValidated",
    "Ready",
    "Report",
    "ScheduleTimeout",
    "SignState",
    "SignStateError",
    "StartHeight",
    "Step",
    "SyncRefused",
    "TimeoutFired",
    "ValidateProposal",
    "Vote",
    "decode_message",
    "proposal_sign_bytes",
]
