"""The genesis document: the network's chain id, first validator set and initial
application state. Its hash anchors every certificate and audit."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from ledger.crypto import sha256_hex
from ledger.encoding import CanonicalEncodingError, canonical, decode
from ledger.errors import BlockError
from ledger.tx import CHAIN_ID_RE
from ledger.validators import ValidatorSet

GENESIS_FIELDS = {"chain_id", "genesis_time", "validators", "app_state"}
MAX_GENESIS_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class Genesis:
    chain_id: str
    genesis_time: int
    validators: ValidatorSet
    app_state: Mapping[str, Any]
    doc: Mapping[str, Any]

    @cached_property
    def hash(self) -> str:
        """SHA-256 of the canonical genesis document (``prev_hash`` of block 1); computed
        once (the explorer's dashboard and status ask for it on every request, and a
        genesis of thousands of organisations takes tens of ms to encode)."""
        return sha256_hex(canonical(self.doc))

    @classmethod
    def from_json(cls, obj: Any) -> Genesis:
        if not isinstance(obj, Mapping) or set(obj) != GENESIS_FIELDS:
            raise BlockError("malformed_genesis", f"genesis has exactly {sorted(GENESIS_FIELDS)}")
        chain_id = obj["chain_id"]
        if not isinstance(chain_id, str) or not CHAIN_ID_RE.match(chain_id):
            raise BlockError("malformed_genesis", "genesis chain_id is not a valid chain id")
        if type(obj["genesis_time"]) is not int or obj["genesis_time"] < 0:
            raise BlockError("malformed_genesis", "genesis_time is milliseconds since the epoch")
        if not isinstance(obj["app_state"], Mapping):
            raise BlockError("malformed_genesis", "app_state must be an object")
        try:
            canonical(obj)
        except CanonicalEncodingError as exc:
            raise BlockError("malformed_genesis", str(exc)) from exc
        return cls(
            chain_id=chain_id,
            genesis_time=obj["genesis_time"],
            validators=ValidatorSet.from_json(obj["validators"]),
            app_state=obj["app_state"],
            doc=obj,
        )

    @classmethod
    def load(cls, path: str | Path) -> Genesis:
        data = Path(path).read_bytes()
        if len(data) > MAX_GENESIS_BYTES:
            raise BlockError("malformed_genesis", "genesis file is too large")
        try:
            return cls.from_json(decode(data))
        except CanonicalEncodingError as exc:
            raise BlockError("malformed_genesis", f"{path}: {exc}") from exc

    def dump(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.doc, indent=2, ensure_ascii=False, sort_keys=True))
