"""A deterministic fake application for the simulation.

A block carries a few fake transactions and an ``app_hash`` (the fake state after the
block: a hash chain over the transactions), so a proposal is validated by recomputing it,
as the real node re-executes a proposal. The node-level "state root" is a hash chain of
the committed block hashes; the invariant checker compares it across nodes per height.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ledger.crypto import is_hex_digest, is_hex_pubkey, sha256_hex
from ledger.encoding import canonical

GENESIS_HASH = sha256_hex(b"sim/genesis")
GENESIS_APP_HASH = sha256_hex(b"sim/app")
GENESIS_ROOT = sha256_hex(b"sim/root")
MAX_TXS = 16
TX_RE = re.compile(r"^tx-[a-z0-9-]{1,60}$")
_KEYS = frozenset({"height", "time", "prev_hash", "proposer", "txs", "app_hash"})


def next_app_hash(prev: str, txs: Sequence[str]) -> str:
    return sha256_hex(bytes.fromhex(prev) + canonical(list(txs)))


def next_root(prev: str, block_hash: str) -> str:
    return sha256_hex(bytes.fromhex(prev) + bytes.fromhex(block_hash))


@dataclass(frozen=True)
class FakeBlock:
    height: int
    time: int
    prev_hash: str
    proposer: str
    txs: tuple[str, ...]
    app_hash: str
    _cache: list[str] = field(default_factory=list, init=False, compare=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "app_hash": self.app_hash,
            "height": self.height,
            "prev_hash": self.prev_hash,
            "proposer": self.proposer,
            "time": self.time,
            "txs": list(self.txs),
        }

    @property
    def canonical_bytes(self) -> bytes:
        return canonical(self.to_json())

    def hash(self) -> str:
        if not self._cache:
            self._cache.append(sha256_hex(self.canonical_bytes))
        return self._cache[0]

    @classmethod
    def from_json(cls, obj: Any) -> FakeBlock:
        """Strict: raises ValueError on anything but a well-formed fake block."""
        if not isinstance(obj, Mapping) or set(obj) != _KEYS:
            raise ValueError("a fake block has exactly " + ", ".join(sorted(_KEYS)))
        for name in ("height", "time"):
            if type(obj[name]) is not int or obj[name] < 0:
                raise ValueError(f"{name} must be a natural number")
        for name in ("prev_hash", "app_hash"):
            if not is_hex_digest(obj[name]):
                raise ValueError(f"{name} must be a hex digest")
        if not is_hex_pubkey(obj["proposer"]):
            raise ValueError("proposer must be a public key")
        txs = obj["txs"]
        if not isinstance(txs, list) or len(txs) > MAX_TXS:
            raise ValueError(f"txs is a list of at most {MAX_TXS}")
        if not all(isinstance(t, str) and TX_RE.match(t) for t in txs):
            raise ValueError("bad fake transaction")
        return cls(obj["height"], obj["time"], obj["prev_hash"], obj["proposer"], tuple(txs),
                   obj["app_hash"])


class FakeApp:
    """The committed chain of one node, rebuilt from its "disk" after a restart."""

    def __init__(self) -> None:
        self.height = 0
        self.last_hash = GENESIS_HASH
        self.last_time = 0
        self.app_hash = GENESIS_APP_HASH
        self.state_root = GENESIS_ROOT

    def build(self, height: int, now_ms: int, proposer: str, txs: Sequence[str]) -> FakeBlock:
        return FakeBlock(height, max(now_ms, self.last_time + 1), self.last_hash, proposer,
                         tuple(txs), next_app_hash(self.app_hash, txs))

    def check(self, block: FakeBlock) -> str:
        """'' if ``block`` is the valid next block, else the reason."""
        if block.height != self.height + 1:
            return "height"
        if block.prev_hash != self.last_hash:
            return "prev_hash"
        if block.time <= self.last_time:
            return "time"
        if block.app_hash != next_app_hash(self.app_hash, block.txs):
            return "app_hash"
        return ""

    def apply(self, block: FakeBlock) -> None:
        reason = self.check(block)
        if reason:
            raise AssertionError(f"applying an invalid block ({reason})")
        self.height = block.height
        self.last_hash = block.hash()
        self.last_time = block.time
        self.app_hash = block.app_hash
        self.state_root = next_root(self.state_root, block.hash())
