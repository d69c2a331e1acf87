"""What an audit checks and what it finds (node.audit): the stable check names, a
:class:`Discrepancy`, the errors, and the checks that the full audit and the checkpoint
check both run on a block's commit certificate.

A check that fails raises :class:`CheckFailed` inside the audit; the caller turns it into
the :class:`Discrepancy` at the height it checks. docs/audit.md describes every check.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

from ledger.block import BlockHeader, CommitCertificate
from ledger.errors import LedgerError
from ledger.state import MemoryState
from ledger.validators import ValidatorSet

__all__ = [
    "CHECKS",
    "AuditError",
    "ChainDataError",
    "CheckFailed",
    "Discrepancy",
    "check_signed",
    "expect",
    "shorten",
]

# The checks, in the order they run for each block (docs/audit.md). Stable names.
CHECKS: tuple[str, ...] = (
    "genesis",  # height 0: the source's genesis hash and chain id are the given genesis's
    "block_missing",  # the source has no block at a height up to its latest
    "block_format",  # the block or its certificate does not parse
    "height",  # heights are consecutive from 1
    "chain_id",  # header chain id is the genesis chain id
    "prev_hash",  # header links to the previous block (the genesis hash for block 1)
    "time",  # time strictly increases (block 1: after the genesis time)
    "commit_height",  # the certificate is for this height
    "commit_block_hash",  # the certificate is for this block
    "validators_hash",  # header names the set in force at this height (from the replay)
    "proposer",  # the proposer is a member of that set
    "commit_signatures",  # distinct members with > 2/3 of the power signed the precommit
    "history_root",  # root over the hashes of blocks 1..h-1
    "txs_root",  # root over the block's transactions
    "results_root",  # root over the block's results
    "tx_signature",  # every transaction is signed by all its signers
    "duplicate_tx",  # no transaction id appears twice in the chain
    "results",  # re-executed results equal the block's
    "state_root",  # re-executed state root equals the header's
    "next_validators_hash",  # the set for h+1 after executing h equals the header's
    "block_hash",  # the hash the source indexes/reports for the block is its header's hash
    "tx_index",  # data folder only: the store's tx id -> (height, index) index is right
    "stored_state",  # data folder only, after the last block: the store's state = replay
    "chain_length",  # checkpoint check: the chain is longer than the checkpoint
    "checkpoint_root",  # checkpoint check: the node's old root is the checkpoint's root
    "history_consistency",  # checkpoint check: the consistency proof verifies
)

_MAX_SHOWN = 240


class AuditedChain(Protocol):
    """What a source's final check reads from the auditor: the height reached, the state
    root it recomputed, and the state itself (``full.ChainAuditor`` is one)."""

    height: int
    state_root: str
    state: MemoryState



def shorten(value: Any) -> str:
    """``value`` as text, cut to a readable length."""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 1] + "…"


@dataclass(frozen=True)
class Discrepancy:
    """The first thing found wrong: at ``height`` the check ``check`` expected ``expected``
    and found ``found``."""

    height: int
    check: str
    expected: str
    found: str
    detail: str = ""

    def message(self) -> str:
        text = f"height {self.height}: {self.check}: expected {self.expected}, found {self.found}"
        return f"{text} ({self.detail})" if self.detail else text

    def to_json(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "detail": self.detail,
            "expected": self.expected,
            "found": self.found,
            "height": self.height,
        }


class ChainDataError(Exception):
    """Raised by a source for data that fails a check; the audit turns it into its
    discrepancy."""

    def __init__(self, discrepancy: Discrepancy) -> None:
        super().__init__(discrepancy.message())
        self.discrepancy = discrepancy


class AuditError(LedgerError):
    """The audit could not run. Codes: ``node_unreachable``, ``node_timeout``,
    ``node_error``, ``bad_response``, ``response_too_large``, ``history_unsupported``,
    ``no_store``, ``store_locked``, ``not_initialised``, ``bad_checkpoint``,
    ``checkpoint_mismatch``, ``checkpoint_too_new``, ``validator_set_changed``,
    ``bad_source``."""


class CheckFailed(Exception):
    """A check failed at the height being checked (which the caller knows)."""

    def __init__(self, check: str, expected: Any, found: Any, detail: str = "") -> None:
        super().__init__(check)
        self.check = check
        self.expected = shorten(expected)
        self.found = shorten(found)
        self.detail = detail

    def at(self, height: int) -> Discrepancy:
        """This failure as the discrepancy at ``height``."""
        return Discrepancy(height, self.check, self.expected, self.found, self.detail)


def expect(check: str, expected: Any, found: Any, detail: str = "") -> None:
    if expected != found:
        raise CheckFailed(check, expected, found, detail)


def check_signed(
    header: BlockHeader, commit: CommitCertificate, chain_id: str, validators: ValidatorSet
) -> None:
    """The proposer is a member of ``validators`` and members with more than 2/3 of its
    power signed ``commit`` (checks ``proposer`` and ``commit_signatures``)."""
    if validators.power_of(header.proposer) == 0:
        raise CheckFailed("proposer", "a member of the validator set", header.proposer)
    try:
        commit.verify(chain_id, validators)
    except LedgerError as exc:
        raise CheckFailed(
            "commit_signatures", "precommits of more than 2/3 of the power", exc.code, exc.message
        ) from None
