"""What an audit checks and what it finds (``fcl audit``): the stable check names, a
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
from ledger.next_block import CODES as NEXT_BLOCK_CODES
from ledger.next_block import NextBlockError, check_commit, check_proposer
from ledger.replay_store import DBState
from ledger.validators import ValidatorSet

__all__ = [
    "CHECKS",
    "AuditError",
    "ChainDataError",
    "CheckFailed",
    "Discrepancy",
    "check_signed",
    "failed_rule",
    "expect",
    "shorten",
]

# The checks, in the order they run for each block (docs/audit.md). Stable names. The
# checks of the block itself are the next-block rule's codes (ledger.next_block.CODES):
# the validator refuses the same tampered block with the same code.
CHECKS: tuple[str, ...] = (
    "genesis",  # height 0: the source's genesis hash and chain id are the given genesis's
    "block_missing",  # the source has no block at a height up to its latest
    "block_format",  # the block or its certificate does not parse
    *NEXT_BLOCK_CODES,  # the next-block rule, in its order (wrong_chain ... bad_next_validators_hash)
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
    state: DBState



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
    ``checkpoint_mismatch``, ``validator_set_changed``,
    ``bad_source``, ``scratch_unavailable`` (the replay's temporary database cannot be
    made), ``worker_failed`` (the audit's state tree process could not start or ended
    unexpectedly), ``bad_usage``."""


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


def failed_rule(exc: NextBlockError) -> CheckFailed:
    """A failure of the next-block rule as the failed check of the same name."""
    return CheckFailed(exc.code, exc.expected, exc.found, exc.message)


def check_signed(
    header: BlockHeader, commit: CommitCertificate, chain_id: str, validators: ValidatorSet
) -> None:
    """The proposer is a member of ``validators`` (``unknown_proposer``) and ``commit``
    commits ``header`` with the signatures of members holding more than 2/3 of its power
    (``ledger.next_block.check_commit``'s codes)."""
    try:
        check_proposer(validators, header)
        check_commit(chain_id, validators, header, commit)
    except NextBlockError as exc:
        raise failed_rule(exc) from None
