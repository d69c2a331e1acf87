"""Checkpoints and the checkpoint check (``fcl audit``, docs/audit.md).

A checkpoint ``(h, r)``: ``r`` is the RFC 9162 root over the hashes of blocks ``1..h``,
which is ``header(h + 1).history_root``. :func:`verify_checkpoint` checks that today's
chain extends it, with the latest header (and its commit) and three proofs, without
downloading blocks: the root over ``1..H`` for the latest height ``H`` is established from
header ``H`` (which signs the root over ``1..H-1``) and block ``H``'s certified hash, so a
checkpoint at the tip -- what a full audit of an idle chain writes -- checks at once.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fcl.audit.checks import (
    AuditError,
    ChainDataError,
    CheckFailed,
    Discrepancy,
    check_signed,
    expect,
    failed_rule,
)
from fcl.audit.sources import ChainSource, genesis_discrepancy
from ledger.block import BlockHeader
from ledger.crypto import is_hex_digest
from ledger.encoding import CanonicalEncodingError, decode
from ledger.errors import LedgerError
from ledger.genesis import Genesis
from ledger.merkle import EMPTY_ROOT, verify_consistency, verify_inclusion
from ledger.next_block import NextBlockError, check_chain_id, check_commit_target
from ledger.validators import ValidatorSet

__all__ = ["Checkpoint", "CheckpointReport", "verify_checkpoint"]

_CHECKPOINT_RE = re.compile(r"^([0-9]{1,18}):([0-9a-f]{64})\Z")


@dataclass(frozen=True)
class Checkpoint:
    """``(height, history_root)``: ``history_root`` is the RFC 9162 root over the hashes of
    blocks ``1..height`` (``header(height + 1).history_root``; the empty-tree root for
    height 0). The other fields are optional context written by ``--write-checkpoint``;
    ``validators`` is the set that signs block ``height + 1``, as the full audit that wrote
    the checkpoint established it."""

    height: int
    history_root: str
    chain_id: str | None = None
    genesis_hash: str | None = None
    block_hash: str | None = None
    validators: ValidatorSet | None = None

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """``HEIGHT:HISTORY_ROOT`` (lowercase hex)."""
        match = _CHECKPOINT_RE.match(text.strip().lower())
        if match is None:
            raise AuditError(
                "bad_checkpoint",
                f"{text!r} is not HEIGHT:HISTORY_ROOT (a whole number, a colon, 64 hex digits) "
                "nor a checkpoint file",
            )
        return cls(height=int(match.group(1)), history_root=match.group(2))

    @classmethod
    def from_json(cls, obj: Any) -> Checkpoint:
        if not isinstance(obj, Mapping):
            raise AuditError("bad_checkpoint", "a checkpoint file holds a JSON object")
        height, root = obj.get("height"), obj.get("history_root")
        if type(height) is not int or height < 0 or not is_hex_digest(root):
            raise AuditError(
                "bad_checkpoint", "a checkpoint has a whole-number height and a hex history_root"
            )
        texts: dict[str, str | None] = {}
        for name in ("chain_id", "genesis_hash", "block_hash"):
            value = obj.get(name)
            if value is not None and not isinstance(value, str):
                raise AuditError("bad_checkpoint", f"checkpoint {name} must be a string")
            texts[name] = value
        validators = None
        if obj.get("validators") is not None:
            try:
                validators = ValidatorSet.from_json(obj["validators"])
            except LedgerError as exc:
                raise AuditError("bad_checkpoint", f"checkpoint validators: {exc.message}") from None
        return cls(height=height, history_root=root, validators=validators, **texts)

    @classmethod
    def load(cls, path: str | Path) -> Checkpoint:
        try:
            data = Path(path).read_bytes()[: 1024 * 1024]
        except OSError as exc:
            raise AuditError("bad_checkpoint", f"cannot read {path}: {exc.strerror}") from None
        try:
            return cls.from_json(decode(data))
        except CanonicalEncodingError as exc:
            raise AuditError("bad_checkpoint", f"{path}: {exc}") from None

    @classmethod
    def from_argument(cls, text: str) -> Checkpoint:
        """``HEIGHT:HISTORY_ROOT``, or the path of a file written by ``--write-checkpoint``."""
        if _CHECKPOINT_RE.match(text.strip().lower()):
            return cls.parse(text)
        if Path(text).is_file():
            return cls.load(text)
        return cls.parse(text)

    def to_json(self) -> dict[str, Any]:
        return {
            "block_hash": self.block_hash,
            "chain_id": self.chain_id,
            "genesis_hash": self.genesis_hash,
            "height": self.height,
            "history_root": self.history_root,
            "validators": None if self.validators is None else self.validators.to_json(),
        }

    def dump(self, path: str | Path) -> None:
        """Write the checkpoint as pretty JSON (via a temporary file and a rename)."""
        target = Path(path)
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=2, sort_keys=True) + "\n")
        tmp.replace(target)


@dataclass
class CheckpointReport:
    """The outcome of a checkpoint check. ``new_checkpoint`` is ``(H, root over 1..H)`` for
    the latest height ``H``, the root established by :func:`_tip_root`; ``history_root`` is
    that root."""

    checkpoint: Checkpoint
    latest_height: int = 0
    latest_block_hash: str = ""
    history_root: str = ""
    validator_set_source: str = ""  # "checkpoint", "genesis" or "node"
    seconds: float = 0.0
    discrepancy: Discrepancy | None = None
    new_checkpoint: Checkpoint | None = None
    source: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.discrepancy is None

    def to_json(self) -> dict[str, Any]:
        return {
            "checkpoint": self.checkpoint.to_json(),
            "discrepancy": None if self.discrepancy is None else self.discrepancy.to_json(),
            "history_root": self.history_root,
            "latest_block_hash": self.latest_block_hash,
            "latest_height": self.latest_height,
            "new_checkpoint": None if self.new_checkpoint is None else self.new_checkpoint.to_json(),
            "notes": list(self.notes),
            "ok": self.ok,
            "seconds": round(self.seconds, 3),
            "source": self.source,
            "validator_set_source": self.validator_set_source,
        }


def _check_checkpoint_context(checkpoint: Checkpoint, genesis: Genesis) -> None:
    if checkpoint.chain_id is not None and checkpoint.chain_id != genesis.chain_id:
        raise AuditError("checkpoint_mismatch",
                         f"the checkpoint is for chain {checkpoint.chain_id!r}, "
                         f"the genesis for {genesis.chain_id!r}")
    if checkpoint.genesis_hash is not None and checkpoint.genesis_hash != genesis.hash:
        raise AuditError("checkpoint_mismatch", "the checkpoint is for another genesis")
    if checkpoint.height == 0 and checkpoint.history_root != EMPTY_ROOT.hex():
        raise AuditError("bad_checkpoint", "the root of 0 blocks is the empty-tree root")


def _signing_set(
    header: BlockHeader,
    latest: int,
    from_checkpoint: ValidatorSet | None,
    from_genesis: ValidatorSet,
    reported_next: ValidatorSet,
) -> tuple[str, ValidatorSet]:
    """(where it comes from, the set) that signs block ``latest``: the first of the
    checkpoint's, the genesis's and the source's sets whose hash the header names."""
    candidates = (("checkpoint", from_checkpoint), ("genesis", from_genesis),
                  ("node", reported_next))
    for name, vset in candidates:
        if vset is not None and vset.hash() == header.validators_hash:
            return name, vset
    raise AuditError(
        "validator_set_changed",
        f"the set that signed block {latest} is neither the checkpoint's nor the "
        f"genesis's, and the node reports another set for block {latest + 1} (a "
        "validator-set change takes effect there); retry after the next block, or run "
        "a full audit",
    )


def _extension_discrepancy(
    source: ChainSource, checkpoint: Checkpoint, latest: int, tip_root: str
) -> Discrepancy | None:
    """None if the source proves that blocks ``1..checkpoint.height`` (the checkpoint's
    root) are a prefix of blocks ``1..latest`` (``tip_root``, established). At the tip the
    roots must simply be equal: nothing to fetch."""
    if checkpoint.height == latest:
        if checkpoint.history_root == tip_root:
            return None
        return Discrepancy(latest, "checkpoint_root", checkpoint.history_root, tip_root,
                           f"the root over blocks 1..{latest}")
    served = source.consistency(checkpoint.height, latest)
    if served.old_root != checkpoint.history_root:
        return Discrepancy(
            checkpoint.height, "checkpoint_root", checkpoint.history_root, served.old_root,
            f"the source's root over blocks 1..{checkpoint.height}",
        )
    if not verify_consistency(
        checkpoint.height, latest, bytes.fromhex(checkpoint.history_root),
        bytes.fromhex(tip_root), served.proof,
    ):
        return Discrepancy(
            latest, "history_consistency",
            f"a proof that blocks 1..{checkpoint.height} are a prefix of blocks 1..{latest}",
            "a proof that does not verify",
            f"from {checkpoint.history_root} to the root over blocks 1..{latest} {tip_root}",
        )
    return None


def _tip_root(
    source: ChainSource, latest: int, signed_root: str, block_hash: str
) -> tuple[str, Discrepancy | None]:
    """(the root over blocks ``1..latest``, None) or ("", the discrepancy).

    Header ``latest`` signs ``signed_root``, the root over blocks ``1..latest-1``, and its
    commit certifies ``block_hash``. The source serves the root over ``1..latest`` with a
    consistency proof from ``signed_root`` (the first ``latest - 1`` leaves are the signed
    ones) and an inclusion proof of ``block_hash`` as leaf ``latest - 1`` (the last leaf is
    the certified block): together they leave one possible root."""
    served = source.consistency(latest - 1, latest)
    if served.old_root != signed_root:
        return "", Discrepancy(
            latest, "history_root", signed_root, served.old_root,
            f"the source's root over blocks 1..{latest - 1} against header {latest}'s",
        )
    if not verify_consistency(latest - 1, latest, bytes.fromhex(signed_root),
                              bytes.fromhex(served.new_root), served.proof):
        return "", Discrepancy(
            latest, "history_consistency",
            f"a proof that blocks 1..{latest - 1} are a prefix of blocks 1..{latest}",
            "a proof that does not verify",
            f"from header {latest}'s history root {signed_root} to {served.new_root}",
        )
    included = source.inclusion(latest - 1, latest)
    if included.root != served.new_root or not verify_inclusion(
        bytes.fromhex(block_hash), latest - 1, latest, included.proof,
        bytes.fromhex(served.new_root),
    ):
        return "", Discrepancy(
            latest, "tip_inclusion",
            f"a proof that block {latest} ({block_hash}) is the last of blocks 1..{latest}",
            "a proof that does not verify",
            f"in the tree with root {served.new_root}",
        )
    return served.new_root, None


def verify_checkpoint(
    source: ChainSource, genesis: Genesis, checkpoint: Checkpoint
) -> CheckpointReport:
    """Check that the chain ``source`` serves extends ``checkpoint``.

    The latest block ``H`` is fetched with its commit certificate, which must verify
    against the set that signs ``H``: the checkpoint's set or the genesis set if its hash
    is ``header(H).validators_hash``, else the set the source reports (docs/audit.md
    explains why only a full audit establishes that one). The root over blocks ``1..H`` is
    established from that header (:func:`_tip_root`); then an RFC 9162 consistency proof
    from the source between the trees of ``checkpoint.height`` and ``H`` blocks must verify
    from the checkpoint's root to it. ``checkpoint.height == H`` needs no more than the
    roots being equal."""
    started = time.monotonic()
    _check_checkpoint_context(checkpoint, genesis)
    report = CheckpointReport(checkpoint=checkpoint, source=source.describe())

    def done(discrepancy: Discrepancy | None = None) -> CheckpointReport:
        report.discrepancy = discrepancy
        report.seconds = time.monotonic() - started
        return report

    wrong = genesis_discrepancy(source, genesis)
    if wrong is not None:
        return done(wrong)
    latest, reported_next = source.tip_validators()
    report.latest_height = latest
    if checkpoint.height > latest:
        return done(Discrepancy(
            latest, "chain_length", f"a chain of at least {checkpoint.height + 1} blocks",
            f"{latest} blocks", "the chain is shorter than the checkpoint",
        ))
    if latest == 0:  # only the genesis: the checkpoint (0, empty root) was checked above
        report.history_root = EMPTY_ROOT.hex()
        report.validator_set_source = "genesis"
        report.new_checkpoint = Checkpoint(
            height=0, history_root=EMPTY_ROOT.hex(), chain_id=genesis.chain_id,
            genesis_hash=genesis.hash, validators=genesis.validators,
        )
        return done()
    try:
        block, commit, claimed_hash = source.block(latest)
    except ChainDataError as exc:
        return done(exc.discrepancy)
    header = block.header
    block_hash = header.hash()
    report.latest_block_hash = block_hash
    try:
        check_chain_id(genesis.chain_id, header)
        if header.height != latest:
            raise NextBlockError("wrong_height", f"the latest block is {latest}", latest,
                                 header.height)
        check_commit_target(header, commit, block_hash=block_hash)
        expect("block_hash", block_hash, claimed_hash)
        if header.next_validators_hash != reported_next.hash():
            raise NextBlockError("bad_next_validators_hash",
                                 "the set the source reports for the next block",
                                 reported_next.hash(), header.next_validators_hash)
    except NextBlockError as exc:
        return done(failed_rule(exc).at(latest))
    except CheckFailed as fail:
        return done(fail.at(latest))
    report.validator_set_source, vset = _signing_set(
        header, latest, checkpoint.validators, genesis.validators, reported_next
    )
    if report.validator_set_source == "node":
        report.notes.append(
            "the validator set was taken from the node: its commit verifies, but only a full "
            "audit (or a checkpoint file written by one) establishes that set from the genesis"
        )
    try:
        check_signed(header, commit, genesis.chain_id, vset)
    except CheckFailed as fail:
        return done(fail.at(latest))
    tip_root, wrong = _tip_root(source, latest, header.history_root, block_hash)
    if wrong is not None:
        return done(wrong)
    report.history_root = tip_root
    wrong = _extension_discrepancy(source, checkpoint, latest, tip_root)
    if wrong is not None:
        return done(wrong)
    # the set that signs block H + 1 is the one header H names (checked above); it is as
    # established as the set that signed header H
    report.new_checkpoint = Checkpoint(
        height=latest,
        history_root=tip_root,
        chain_id=genesis.chain_id,
        genesis_hash=genesis.hash,
        block_hash=block_hash,
        validators=reported_next if report.validator_set_source != "node" else None,
    )
    return done()
