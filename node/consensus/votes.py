"""Per-round bookkeeping: proposals, vote tallies by voting power, participation.

Tallies follow the paper's message log: "2f+1 <PREVOTE, h, r, id(v)>" is the voting power
of the distinct validators that signed a prevote for ``id(v)`` in round ``r``. A validator
that equivocates has each of its distinct votes counted for its own value (once per
value) and once in the "any value" total; this is what lets a proof of lock that includes
a faulty validator's vote convince every correct node, as gossip does in the paper. Safety
is unaffected: two values cannot both reach more than 2/3 unless more than 1/3 of the
power is faulty. Tallies are kept incrementally, so every quorum check is a lookup.
"""

from __future__ import annotations

from node.consensus.messages import Proposal, Vote

__all__ = ["RoundState", "VoteSet"]


class VoteSet:
    """The votes of one kind in one round of one height."""

    __slots__ = ("by_validator", "power_by_hash", "total_power")

    def __init__(self) -> None:
        self.by_validator: dict[str, dict[str, Vote]] = {}  # validator -> hash -> vote
        self.power_by_hash: dict[str, int] = {}
        self.total_power = 0

    def first(self, validator: str) -> Vote | None:
        """The first vote counted from ``validator`` (its only one, if it is correct)."""
        votes = self.by_validator.get(validator)
        return next(iter(votes.values())) if votes else None

    def get(self, validator: str, block_hash: str) -> Vote | None:
        return self.by_validator.get(validator, {}).get(block_hash)

    def values_of(self, validator: str) -> list[str]:
        return list(self.by_validator.get(validator, {}))

    def add(self, vote: Vote, power: int) -> None:
        """Count ``vote`` (the caller checked this validator has no vote for this value)."""
        votes = self.by_validator.get(vote.validator)
        if votes is None:
            votes = self.by_validator[vote.validator] = {}
            self.total_power += power
        votes[vote.block_hash] = vote
        self.power_by_hash[vote.block_hash] = self.power_by_hash.get(vote.block_hash, 0) + power

    def power_for(self, block_hash: str) -> int:
        return self.power_by_hash.get(block_hash, 0)

    def for_hash(self, block_hash: str) -> list[Vote]:
        """The votes for ``block_hash``, one per validator, in validator key order."""
        out = [v[block_hash] for v in self.by_validator.values() if block_hash in v]
        return sorted(out, key=lambda v: v.validator)


class RoundState:
    """Everything received or sent in one round of the current height."""

    __slots__ = (
        "proposals",
        "prevotes",
        "precommits",
        "participants",
        "participant_power",
        "prevote_timeout_scheduled",
        "precommit_timeout_scheduled",
        "lock_rule_done",
    )

    def __init__(self) -> None:
        self.proposals: dict[str, Proposal] = {}  # block hash -> proposal, arrival order
        self.prevotes = VoteSet()
        self.precommits = VoteSet()
        self.participants: dict[str, None] = {}  # validators with any message this round
        self.participant_power = 0
        self.prevote_timeout_scheduled = False  # line 34 fired
        self.precommit_timeout_scheduled = False  # line 47 fired
        self.lock_rule_done = False  # line 36 fired

    def votes(self, kind: str) -> VoteSet:
        return self.prevotes if kind == "prevote" else self.precommits

    def participate(self, validator: str, power: int) -> None:
        if validator not in self.participants:
            self.participants[validator] = None
            self.participant_power += power
