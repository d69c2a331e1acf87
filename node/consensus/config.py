"""Tunable parameters of the consensus core: timeouts and resource bounds.

Every figure is an integer (milliseconds or a count); the core never reads a clock, it
only asks the driver to schedule timeouts of these lengths.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

__all__ = ["ConsensusConfig", "TIMEOUT_KINDS"]

#: The kinds of timeout the core schedules. ``propose``/``prevote``/``precommit`` are the
#: three timeouts of the paper; ``rebroadcast`` is the gossip timer (see docs/consensus.md).
TIMEOUT_KINDS = ("propose", "prevote", "precommit", "rebroadcast")


@dataclass(frozen=True, slots=True)
class ConsensusConfig:
    """Timeouts follow the paper: ``timeoutX(r) = initTimeoutX + r * timeoutDelta``.

    The defaults are CometBFT's (3 s / 1 s / 1 s, +500 ms per round). ``max_timeout_ms``
    caps the growth far above any realistic network delay, so a long outage cannot make
    a round last hours.
    """

    timeout_propose_ms: int = 3000
    timeout_propose_delta_ms: int = 500
    timeout_prevote_ms: int = 1000
    timeout_prevote_delta_ms: int = 500
    timeout_precommit_ms: int = 1000
    timeout_precommit_delta_ms: int = 500
    max_timeout_ms: int = 300_000
    #: How often the core re-sends its own messages of the current height (gossip).
    rebroadcast_ms: int = 2000
    #: Messages for rounds above ``round + max_round_lookahead`` are dropped.
    max_round_lookahead: int = 64
    #: Messages for heights ``h+1 .. h+future_height_window`` are buffered until then.
    future_height_window: int = 2
    #: Bound on buffered future-height messages, in total and per claimed signer.
    max_buffered_messages: int = 1024
    max_buffered_per_signer: int = 64
    #: Distinct proposals kept per round (more than one only from an equivocator).
    max_proposals_per_round: int = 4
    #: Votes a validator may have counted per round and kind for values no proposal of
    #: this height carries (only an equivocator has more than one vote).
    max_unknown_votes_per_validator: int = 2
    #: Size limits of a message's wire bytes.
    max_proposal_bytes: int = 16 * 1024 * 1024
    max_vote_bytes: int = 1024
    #: Bound on the per-height set of message identities already seen.
    max_seen_messages: int = 65_536

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if type(value) is not int or value < 0:
                raise ValueError(f"ConsensusConfig.{f.name} must be a non-negative integer")
        for name in ("timeout_propose_ms", "timeout_prevote_ms", "timeout_precommit_ms",
                     "rebroadcast_ms", "max_timeout_ms", "max_proposals_per_round",
                     "max_proposal_bytes", "max_vote_bytes"):
            if getattr(self, name) == 0:
                raise ValueError(f"ConsensusConfig.{name} must be positive")

    def timeout_ms(self, kind: str, round_: int) -> int:
        """The duration of timeout ``kind`` in round ``round_`` (rising with the round)."""
        if kind == "propose":
            base, delta = self.timeout_propose_ms, self.timeout_propose_delta_ms
        elif kind == "prevote":
            base, delta = self.timeout_prevote_ms, self.timeout_prevote_delta_ms
        elif kind == "precommit":
            base, delta = self.timeout_precommit_ms, self.timeout_precommit_delta_ms
        elif kind == "rebroadcast":
            return self.rebroadcast_ms
        else:
            raise ValueError(f"unknown timeout kind {kind!r}")
        return min(base + round_ * delta, self.max_timeout_ms)
