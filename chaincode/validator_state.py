"""The validator set in the chain's state: where it is kept and which set signs a height."""

from __future__ import annotations

from ledger.encoding import decode_state
from ledger.state import StateReader
from ledger.validators import ValidatorSet

VALIDATORS_KEY = "sys/validators"  # {"current": [...], "pending": null | {"height", "validators"}}


def validator_set_for(state: StateReader, height: int) -> ValidatorSet:
    """The validator set that signs block ``height``, from committed state at ``height-1``
    or later (a pending change applies from its effective height on)."""
    raw = state.get(VALIDATORS_KEY)
    if raw is None:
        raise LookupError("state has no validator set (genesis not applied)")
    record = decode_state(raw)
    pending = record.get("pending")
    if pending is not None and height >= pending["height"]:
        return ValidatorSet.from_json(pending["validators"])
    return ValidatorSet.from_json(record["current"])
