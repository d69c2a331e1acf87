"""Validator sets and voting power."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ledger.crypto import is_hex_pubkey, sha256_hex
from ledger.encoding import canonical
from ledger.errors import BlockError

MAX_VALIDATORS = 128
MAX_POWER = 10**9
VALIDATOR_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")


@dataclass(frozen=True, slots=True)
class Validator:
    name: str
    pub_key: str
    power: int

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "power": self.power, "pub_key": self.pub_key}


@dataclass(frozen=True)
class ValidatorSet:
    """An ordered set of validators. The order is the proposer rotation order."""

    validators: tuple[Validator, ...]

    def __post_init__(self) -> None:
        if not 1 <= len(self.validators) <= MAX_VALIDATORS:
            raise BlockError("invalid_validator_set", f"a set has 1..{MAX_VALIDATORS} validators")
        keys = [v.pub_key for v in self.validators]
        if len(set(keys)) != len(keys):
            raise BlockError("invalid_validator_set", "a validator key appears twice")
        names = [v.name for v in self.validators]
        if len(set(names)) != len(names):
            raise BlockError("invalid_validator_set", "a validator name appears twice")

    @classmethod
    def from_json(cls, items: Any) -> ValidatorSet:
        if not isinstance(items, list):
            raise BlockError("invalid_validator_set", "a validator set is a list")
        out = []
        for i, item in enumerate(items):
            if not isinstance(item, Mapping) or set(item) != {"name", "pub_key", "power"}:
                raise BlockError(
                    "invalid_validator_set", f"validator {i} needs exactly name, pub_key, power"
                )
            name, key, power = item["name"], item["pub_key"], item["power"]
            if not isinstance(name, str) or not VALIDATOR_NAME_RE.match(name):
                raise BlockError("invalid_validator_set", f"validator {i}: bad name")
            if not is_hex_pubkey(key):
                raise BlockError("invalid_validator_set", f"validator {i}: bad pub_key")
            if type(power) is not int or not 1 <= power <= MAX_POWER:
                raise BlockError("invalid_validator_set", f"validator {i}: power 1..{MAX_POWER}")
            out.append(Validator(name=name, pub_key=key, power=power))
        return cls(tuple(out))

    def to_json(self) -> list[dict[str, Any]]:
        return [v.to_json() for v in self.validators]

    def hash(self) -> str:
        return sha256_hex(canonical(self.to_json()))

    @property
    def total_power(self) -> int:
        return sum(v.power for v in self.validators)

    def quorum_power(self) -> int:
        """Smallest power that is more than two thirds of the total."""
        return self.total_power * 2 // 3 + 1

    def has_quorum(self, power: int) -> bool:
        return 3 * power > 2 * self.total_power

    def has_one_third(self, power: int) -> bool:
        """More than one third: at least one honest validator among them."""
        return 3 * power > self.total_power

    def power_of(self, pub_key: str) -> int:
        for v in self.validators:
            if v.pub_key == pub_key:
                return v.power
        return 0

    def by_key(self, pub_key: str) -> Validator | None:
        for v in self.validators:
            if v.pub_key == pub_key:
                return v
        return None

    def index_of(self, pub_key: str) -> int:
        for i, v in enumerate(self.validators):
            if v.pub_key == pub_key:
                return i
        return -1

    def power_sum(self, keys: Iterable[str]) -> int:
        return sum(self.power_of(k) for k in set(keys))

    def __len__(self) -> int:
        return len(self.validators)

    def proposer(self, height: int, round_: int) -> Validator:
        """Weighted round-robin proposer: deterministic in (height, round).

        Each validator holds ``power`` consecutive slots in a ring of ``total_power``
        slots; height and round advance the position by one slot each.
        """
        slot = (height + round_) % self.total_power
        for v in self.validators:
            if slot < v.power:
                return v
            slot -= v.power
        raise AssertionError("unreachable: slot within total power")
