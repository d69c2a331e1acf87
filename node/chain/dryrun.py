"""Dry runs: transactions executed against the latest committed state and thrown away
(``POST /v1/txs/simulate``, docs/node.md "Dry runs").

:func:`dry_run` runs in a worker thread while block production may commit on another, so
it reads one :meth:`ledger.store.Store.snapshot`: the admission checks, the block context
and the execution all answer for the same committed height ``H``. The transactions run as
block ``H + 1`` would run them (``Executor.execute_block``: the same contracts, the same
copy-on-write overlay per block and per transaction, the transactions at indexes
``0..n-1`` in order, so a later one sees an earlier one's writes) and the overlay is
dropped: nothing reaches the store, the mempool or consensus.

The block context is deterministic, so a dry run of the same transactions on the same
state always gives the same answer: height ``H + 1``, time = the time of block ``H`` (the
genesis time at ``H = 0``) + 1 ms -- the earliest time the next block may have, never the
wall clock -- and as proposer the set's round-0 proposer of ``H + 1`` (no contract reads it).
A real block comes later, so a rule that depends on the block time may answer differently
when the transaction is committed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from chaincode.executor import Executor
from chaincode.framework import BlockContext
from chaincode.membership import check_signers
from chaincode.validator_state import validator_set_for
from ledger.errors import TxError
from ledger.store import Store
from ledger.tx import Transaction

__all__ = ["MAX_DRY_RUN_TXS", "DryRun", "DryRunTx", "dry_run"]

#: At most this many transactions in one dry run (``{"txs": [...]}``): with each at most
#: ``ledger.tx.MAX_TX_BYTES``, this bounds the work of one request.
MAX_DRY_RUN_TXS = 64


@dataclass(frozen=True)
class DryRunTx:
    """A transaction to dry-run; ``verify``: check its signatures first (a signed one this
    node has not verified before), False for an unsigned one (run as if signed by
    ``tx.signers``) or one already verified."""

    tx: Transaction
    verify: bool


@dataclass(frozen=True)
class DryRun:
    height: int  # the committed height whose state the transactions ran on
    block_height: int  # the height they ran as (height + 1)
    block_time: int  # ms, the block time they ran with
    results: list[dict[str, Any]]  # one tx_result each, as a block records it
    writes: int  # state keys the transactions together would write


def _refuse(index: int | None, code: str, message: str) -> TxError:
    return TxError(code, message if index is None else f"txs[{index}]: {message}")


def dry_run(
    store: Store,
    executor: Executor,
    chain_id: str,
    items: Sequence[DryRunTx],
    *,
    genesis_time: int,
    tip: tuple[int, int] | None = None,
    batch: bool = False,
) -> DryRun:
    """Check ``items`` as admission would against one snapshot of ``store`` (committed
    already: ``duplicate_tx``; a signer not an active key of an active organisation:
    ``unenrolled_signer``; a signature that does not verify: ``bad_signature``) and
    execute them as the next block. Raises ``TxError`` with those codes (the message
    names the item, ``txs[i]``, when ``batch``); a transaction the contracts refuse is
    not an error: its result says so. Changes nothing.

    ``tip`` is ``(height, block time)`` of the chain tip as the caller last saw it: the
    block time is taken from it when the snapshot is at that height, else read from the
    stored block (a block committed meanwhile)."""
    with store.snapshot() as view:
        height = view.latest_height()
        for index, item in enumerate(items):
            where = index if batch else None
            tx = item.tx
            location = view.get_tx_location(tx.tx_id)
            if location is not None:
                raise _refuse(where, "duplicate_tx",
                              f"transaction {tx.tx_id} is already committed at height "
                              f"{location[0]}")
            refusal = check_signers(view, tx.signers).refusal
            if refusal is not None:
                raise _refuse(where, "unenrolled_signer", refusal)
            if item.verify:
                try:
                    tx.verify_signatures()
                except TxError as exc:
                    raise _refuse(where, exc.code, exc.message) from None
        if height == 0:
            time_ms = genesis_time + 1
        elif tip is not None and tip[0] == height:
            time_ms = tip[1] + 1
        else:
            time_ms = _block_time(view, height) + 1
        next_height = height + 1
        validators = validator_set_for(view, next_height)
        ctx = BlockContext(chain_id=chain_id, height=next_height, time=time_ms,
                           proposer=validators.proposer(next_height, 0).pub_key)
        execution = executor.execute_block(view, ctx, [item.tx for item in items])
    return DryRun(height=height, block_height=next_height, block_time=time_ms,
                  results=execution.results, writes=len(execution.writes))


def _block_time(view: Store, height: int) -> int:
    """The header time of block ``height`` in ``view``."""
    raw_block = view.get_block_json(height)
    if raw_block is None:
        raise TxError("internal_error", f"block {height} is missing from the store")
    return int(json.loads(raw_block)["header"]["time"])
