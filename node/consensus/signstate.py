"""The validator's persisted signing state: what stops it ever signing twice.

A validator must never sign two different messages for the same height, round and step,
even across a crash. The core keeps a :class:`SignState` and, before any new signature
leaves the process, asks the driver to persist it (``Ready.persist``, which the driver
must complete durably -- written and fsynced -- before it performs anything else of the
same batch). After a restart the core is constructed from the last persisted state and
refuses to sign anything at or below it, except byte-identical statements (Ed25519 is
deterministic, so re-signing the same bytes yields the same signature: no conflict).

The record also keeps the lock and the valid value of its height (the paper's
``lockedRound/lockedValue`` and ``validRound/validValue``, with the 2f+1 prevotes that
justify the valid value). Forgetting the lock in a crash would make a restarted honest
validator behave like a faulty one (it could prevote a conflicting block), and forgetting
the valid value and its proof of lock could leave every validator locked on a block no one
can re-propose. It also keeps this validator's own signed votes of the last two rounds of
the height: after a restart they are sent again (the paper's liveness assumes every message
a correct process sent is eventually delivered; a crash must not lose them). See
docs/consensus.md, "Crash recovery".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from ledger.crypto import is_hex_digest
from ledger.encoding import MAX_SAFE_INTEGER
from ledger.errors import LedgerError

__all__ = ["SignState", "SignStateError", "Step"]


class Step(IntEnum):
    """Signing steps within a round, in the order a correct validator signs them."""

    NONE = 0
    PROPOSE = 1
    PREVOTE = 2
    PRECOMMIT = 3

    @property
    def label(self) -> str:
        return self.name.lower()


_STEP_BY_LABEL = {s.label: s for s in Step}
_KEYS = frozenset({"height", "round", "step", "sign_digest", "block_hash", "locked_round",
                   "locked_hash", "valid_round", "valid_block", "valid_pol", "votes"})
MAX_POL_VOTES = 256
MAX_OWN_VOTES = 8


class SignStateError(LedgerError):
    """A persisted sign state does not parse (``malformed_sign_state``)."""


def _bad(message: str) -> SignStateError:
    return SignStateError("malformed_sign_state", message)


def _hash_or_empty(value: Any) -> bool:
    return value == "" or is_hex_digest(value)


@dataclass(frozen=True)
class SignState:
    """The last signed ``(height, round, step)`` and the height's lock and valid value.

    ``sign_digest`` is the SHA-256 (hex) of the last signed bytes, ``block_hash`` the block
    it was for (``""``: nil or nothing). ``valid_block`` is the valid block's JSON and
    ``valid_pol`` the JSON of the prevotes that made it valid, ``votes`` the JSON of this
    validator's own votes of the last two rounds (all three only for ``height``).
    """

    height: int = 0
    round: int = 0
    step: Step = Step.NONE
    sign_digest: str = ""
    block_hash: str = ""
    locked_round: int = -1
    locked_hash: str = ""
    valid_round: int = -1
    valid_block: Any = None
    valid_pol: tuple[Mapping[str, Any], ...] = ()
    votes: tuple[Mapping[str, Any], ...] = ()

    @property
    def position(self) -> tuple[int, int, int]:
        return (self.height, self.round, int(self.step))

    def permits(self, height: int, round_: int, step: Step, sign_digest: str) -> bool:
        """May a message at ``(height, round_, step)`` with these sign bytes be signed?

        Yes if it is strictly later than the last signed position, or it is the very same
        statement again (same position and same bytes). Never otherwise.
        """
        position = (height, round_, int(step))
        if position > self.position:
            return True
        return position == self.position and sign_digest == self.sign_digest

    def to_json(self) -> dict[str, Any]:
        return {
            "block_hash": self.block_hash,
            "height": self.height,
            "locked_hash": self.locked_hash,
            "locked_round": self.locked_round,
            "round": self.round,
            "sign_digest": self.sign_digest,
            "step": self.step.label,
            "valid_block": self.valid_block,
            "valid_pol": [dict(v) for v in self.valid_pol],
            "valid_round": self.valid_round,
            "votes": [dict(v) for v in self.votes],
        }

    @classmethod
    def from_json(cls, obj: Any) -> SignState:
        """Parse a persisted record strictly; raise :class:`SignStateError` otherwise."""
        if not isinstance(obj, Mapping) or set(obj) != _KEYS:
            raise _bad(f"a sign state has exactly the fields {sorted(_KEYS)}")
        for name in ("height", "round"):
            if type(obj[name]) is not int or not 0 <= obj[name] <= MAX_SAFE_INTEGER:
                raise _bad(f"{name} must be a natural number")
        for name in ("locked_round", "valid_round"):
            if type(obj[name]) is not int or not -1 <= obj[name] <= MAX_SAFE_INTEGER:
                raise _bad(f"{name} must be -1 or a round")
        if obj["step"] not in _STEP_BY_LABEL:
            raise _bad(f"step must be one of {sorted(_STEP_BY_LABEL)}")
        for name in ("sign_digest", "block_hash", "locked_hash"):
            if not _hash_or_empty(obj[name]):
                raise _bad(f"{name} must be a hex SHA-256 or ''")
        if (obj["locked_round"] == -1) != (obj["locked_hash"] == ""):
            raise _bad("locked_round and locked_hash are set together")
        if (obj["valid_round"] == -1) != (obj["valid_block"] is None):
            raise _bad("valid_round and valid_block are set together")
        pol = obj["valid_pol"]
        if not isinstance(pol, list) or len(pol) > MAX_POL_VOTES:
            raise _bad(f"valid_pol must be a list of at most {MAX_POL_VOTES} votes")
        if not all(isinstance(v, Mapping) for v in pol):
            raise _bad("valid_pol holds vote objects")
        votes = obj["votes"]
        if not isinstance(votes, list) or len(votes) > MAX_OWN_VOTES:
            raise _bad(f"votes must be a list of at most {MAX_OWN_VOTES} votes")
        if not all(isinstance(v, Mapping) for v in votes):
            raise _bad("votes holds vote objects")
        return cls(
            height=obj["height"],
            round=obj["round"],
            step=_STEP_BY_LABEL[obj["step"]],
            sign_digest=obj["sign_digest"],
            block_hash=obj["block_hash"],
            locked_round=obj["locked_round"],
            locked_hash=obj["locked_hash"],
            valid_round=obj["valid_round"],
            valid_block=obj["valid_block"],
            valid_pol=tuple(dict(v) for v in pol),
            votes=tuple(dict(v) for v in votes),
        )
