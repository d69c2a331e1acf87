"""Invariants checked continuously while a simulation runs."""

from __future__ import annotations

from ledger.block import CommitCertificate
from ledger.crypto import sha256_hex
from ledger.errors import BlockError
from ledger.validators import ValidatorSet
from node.consensus import Message, Proposal, Step

__all__ = ["Checker", "Violation", "message_position"]


class Violation(AssertionError):
    """A safety or liveness invariant does not hold."""


_STEP = {"proposal": Step.PROPOSE, "prevote": Step.PREVOTE, "precommit": Step.PRECOMMIT}


def message_position(msg: Message) -> tuple[int, int, int]:
    return (msg.height, msg.round, int(_STEP[msg.kind]))


class Checker:
    """Agreement, certificate validity, state-root agreement and no double signing."""

    def __init__(self, chain_id: str, validators: ValidatorSet) -> None:
        self.chain_id = chain_id
        self.validators = validators
        self.committed: dict[int, str] = {}  # height -> block hash (any honest node)
        self.roots: dict[int, str] = {}  # height -> state root after it
        self.signed: dict[tuple[str, str, int, int], str] = {}  # -> sign-bytes digest
        self.commits = 0
        self.signed_messages = 0

    def on_signed(self, node: str, msg: Message, disk_position: tuple[int, int, int]) -> None:
        """An honest node sends a message it signed. It must have persisted a sign state
        at or past the message's position first, and never signed another statement for
        the same (validator, kind, height, round) -- across restarts."""
        self.signed_messages += 1
        position = message_position(msg)
        if disk_position < position:
            raise Violation(
                f"{node} sent {msg.kind} at {position} before persisting its sign state "
                f"(disk at {disk_position})"
            )
        key = (msg.signer, msg.kind, msg.height, msg.round)
        digest = sha256_hex(msg.sign_bytes())
        prev = self.signed.setdefault(key, digest)
        if prev != digest:
            what = f"block {msg.block_hash[:12] or 'nil'}"
            if isinstance(msg, Proposal):
                what += f" pol_round {msg.pol_round}"
            raise Violation(f"{node} double-signed {msg.kind} at h={msg.height} r={msg.round}"
                            f" ({what})")

    def on_commit(
        self, node: str, height: int, block_hash: str, cert: CommitCertificate, root: str
    ) -> None:
        self.commits += 1
        if cert.height != height or cert.block_hash != block_hash:
            raise Violation(f"{node}: certificate for another block at height {height}")
        try:
            cert.verify(self.chain_id, self.validators)
        except BlockError as exc:
            raise Violation(f"{node}: commit certificate at {height} rejected: {exc}") from exc
        prev = self.committed.setdefault(height, block_hash)
        if prev != block_hash:
            raise Violation(f"{node} committed {block_hash[:12]} at height {height}, another "
                            f"honest node committed {prev[:12]}")
        prev_root = self.roots.setdefault(height, root)
        if prev_root != root:
            raise Violation(f"{node}: state root at height {height} differs")

    def check_stores(self, chains: dict[str, list[tuple[str, str, str]]]) -> None:
        """At the end of a run: what every honest node holds on its "disk" -- per height
        the block hash, the state root after it and a digest of its writes -- is what
        was committed, and the same on every node (a divergence that a commit did not
        report, e.g. a write lost between execution and the store, shows here)."""
        seen: dict[int, tuple[str, str, str]] = {}
        for node, chain in sorted(chains.items()):
            for height, entry in enumerate(chain, start=1):
                block_hash, root, _ = entry
                if self.committed.get(height, block_hash) != block_hash:
                    raise Violation(f"{node} stores block {block_hash[:12]} at height "
                                    f"{height}, not the committed one")
                if self.roots.get(height, root) != root:
                    raise Violation(f"{node}: stored state root at height {height} differs")
                if seen.setdefault(height, entry) != entry:
                    raise Violation(f"{node}: stored block, state root or writes at height "
                                    f"{height} differ from another honest node's")
