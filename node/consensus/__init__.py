"""BFT consensus: the Tendermint algorithm as a sans-I/O state machine.

``ConsensusCore.handle(event) -> list[Action]``; see docs/consensus.md. This package
imports only ``ledger`` and the standard library (no clock, socket, thread or randomness).
"""

from node.consensus.actions import (
    Action,
    Broadcast,
    BuildProposal,
    Commit,
    EquivocationDetected,
    PeerAhead,
    PeerBehind,
    PersistSignState,
    ScheduleTimeout,
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
    "TIMEOUT_KINDS",
    "Action",
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
    "Message",
    "MessageError",
    "MessageReceived",
    "PeerAhead",
    "PeerBehind",
    "PersistSignState",
    "Proposal",
    "ProposalBuilt",
    "ProposalValidated",
    "ScheduleTimeout",
    "SignState",
    "SignStateError",
    "StartHeight",
    "Step",
    "TimeoutFired",
    "ValidateProposal",
    "Vote",
    "decode_message",
    "proposal_sign_bytes",
]
