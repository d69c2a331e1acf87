"""The next-block rule, written once: is this block the valid next block of the chain?

Every party that follows a chain applies this rule -- the validator before it votes for
and commits a block (``node/chain/app.py``), the auditor that replays a chain
(``fcl/audit``), and the retirement-certificate verifier for the headers a certificate
carries (``ledger/certificate.py``). All of them raise :class:`NextBlockError` with one of
the stable codes of :data:`CODES`, so the same tampered block is refused with the same
code wherever it is checked.

The rule is split into the parts a caller can check with what it has:

1. :func:`check_header` -- the header against what the previous block established
   (:class:`Predecessor`); built from :func:`check_chain_id`, :func:`check_link` and
   :func:`check_validators_hash`;
2. :func:`check_commit` -- a commit certificate for this header, signed by more than 2/3
   of the set in force;
3. :func:`check_body` -- the transactions (and, if trusted, results) against the header's
   roots, replay protection and transaction signatures;
4. :func:`check_outcome` -- what re-executing the block gave (the caller executes) against
   the header's results root, state root and next validators hash.

:func:`check_next_block` runs 1-3 in that order. Codes, in the order they are checked:

==============================  ===========================================================
code                            what failed
==============================  ===========================================================
``wrong_chain``                 ``header.chain_id`` is not the chain's id
``wrong_height``                ``header.height`` is not the previous height + 1
``bad_prev_hash``               ``header.prev_hash`` is not the previous block's hash
                                (the genesis hash for block 1)
``bad_time``                    ``header.time`` is not strictly after the previous block's
                                time (the genesis time for block 1)
``unknown_proposer``            ``header.proposer`` is not a member of the set in force
``bad_validators_hash``         ``header.validators_hash`` is not the hash of the set in force
``bad_history_root``            ``header.history_root`` is not the root over the hashes of
                                blocks ``1..h-1``
``commit_wrong_height``         the commit certificate is for another height
``commit_wrong_block``          the commit certificate is for another block hash
``duplicate_signature``         a validator signed the commit twice
``unknown_validator``           the commit is signed by a key outside the set in force
``bad_commit_signature``        a precommit signature does not verify
``insufficient_power``          the signers hold no more than 2/3 of the voting power
``too_many_txs``                the block holds more than ``MAX_BLOCK_TXS`` transactions
``bad_txs_root``                ``header.txs_root`` is not the root over the transactions
``bad_results_root``            ``header.results_root`` is not the root over the block's
                                results (checked only where the results are read)
``bad_results``                 the block's results are not one per transaction, in order
``duplicate_tx``                a transaction id appears twice in the block or the chain
``unenrolled_signer``           a transaction names a signer that is not an active key of an
                                active organisation in the state the block starts from
``bad_signature``               a transaction is not signed by every signer it names
``results_mismatch``            re-executed results differ from the block's
``bad_state_root``              the re-executed state root differs from ``header.state_root``
``bad_next_validators_hash``    the set in force after the block does not hash to
                                ``header.next_validators_hash``
==============================  ===========================================================

This module is pure: it reads no store and executes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ledger.block import MAX_BLOCK_TXS, BlockHeader, CommitCertificate
from ledger.block import results_root as root_of_results
from ledger.block import txs_root as root_of_txs
from ledger.errors import BlockError, TxError
from ledger.merkle import merkle_root
from ledger.tx import Transaction
from ledger.validators import ValidatorSet

__all__ = [
    "CODES",
    "NextBlockError",
    "Predecessor",
    "check_body",
    "check_chain_id",
    "check_commit",
    "check_commit_target",
    "check_header",
    "check_link",
    "check_next_block",
    "check_outcome",
    "check_proposer",
    "check_validators_hash",
]

#: Every code :class:`NextBlockError` carries, in the order the rule checks them.
CODES: dict[str, str] = {
    "wrong_chain": "header.chain_id is not the chain's id",
    "wrong_height": "header.height is not the previous height + 1",
    "bad_prev_hash": "header.prev_hash is not the previous block's hash",
    "bad_time": "header.time is not strictly after the previous block's time",
    "unknown_proposer": "the proposer is not a member of the validator set in force",
    "bad_validators_hash": "header.validators_hash is not the hash of the set in force",
    "bad_history_root": "header.history_root is not the root over blocks 1..h-1",
    "commit_wrong_height": "the commit certificate is for another height",
    "commit_wrong_block": "the commit certificate is for another block hash",
    "duplicate_signature": "a validator signed the commit twice",
    "unknown_validator": "the commit is signed by a key outside the set in force",
    "bad_commit_signature": "a precommit signature does not verify",
    "insufficient_power": "the commit's signers hold no more than 2/3 of the power",
    "too_many_txs": "the block holds more than MAX_BLOCK_TXS transactions",
    "bad_txs_root": "header.txs_root is not the root over the transactions",
    "bad_results_root": "header.results_root is not the root over the block's results",
    "bad_results": "the block's results are not one per transaction, in order",
    "duplicate_tx": "a transaction id appears twice in the block or the chain",
    "unenrolled_signer": "a signer is not an active key of an active organisation",
    "bad_signature": "a transaction is not signed by every signer it names",
    "results_mismatch": "re-executed results differ from the block's",
    "bad_state_root": "the re-executed state root differs from header.state_root",
    "bad_next_validators_hash": "the next validator set does not hash to the header's",
}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


class NextBlockError(BlockError):
    """A block is not the valid next block. ``code`` is one of :data:`CODES`;
    ``expected`` and ``found`` say what the rule wanted and what the block has."""

    def __init__(self, code: str, message: str, expected: Any = "", found: Any = "") -> None:
        if code not in CODES:
            raise ValueError(f"not a next-block code: {code!r}")
        super().__init__(code, message)
        self.expected = _text(expected)
        self.found = _text(found)


@dataclass(frozen=True)
class Predecessor:
    """What the previous block (the genesis, at height 0) established for the next one."""

    chain_id: str
    height: int
    block_hash: str  # the genesis hash at height 0
    time: int  # ms; the genesis time at height 0
    validators: ValidatorSet  # the set that signs block height + 1
    history_root: str  # the root over the hashes of blocks 1..height


# -- 1. the header ------------------------------------------------------------------------------
def check_chain_id(chain_id: str, header: BlockHeader) -> None:
    """``wrong_chain``."""
    if header.chain_id != chain_id:
        raise NextBlockError(
            "wrong_chain", f"block {header.height} is for chain {header.chain_id!r}, not {chain_id!r}",
            chain_id, header.chain_id,
        )


def check_validators_hash(validators: ValidatorSet, header: BlockHeader) -> None:
    """``bad_validators_hash``: the header names ``validators``, the set in force."""
    expected = validators.hash()
    if header.validators_hash != expected:
        raise NextBlockError(
            "bad_validators_hash",
            f"block {header.height}: validators_hash is not the hash of the validator set in force",
            expected, header.validators_hash,
        )


def check_link(prev: Predecessor, header: BlockHeader) -> None:
    """``wrong_height``, ``bad_prev_hash``, ``bad_time``, ``unknown_proposer``."""
    if header.height != prev.height + 1:
        raise NextBlockError(
            "wrong_height", f"expected height {prev.height + 1}, got {header.height}",
            prev.height + 1, header.height,
        )
    if header.prev_hash != prev.block_hash:
        raise NextBlockError(
            "bad_prev_hash", f"block {header.height} does not link to block {prev.height}",
            prev.block_hash, header.prev_hash,
        )
    if header.time <= prev.time:
        raise NextBlockError(
            "bad_time", f"block time {header.time} is not after {prev.time}",
            f"a time after {prev.time}", header.time,
        )
    check_proposer(prev.validators, header)


def check_proposer(validators: ValidatorSet, header: BlockHeader) -> None:
    """``unknown_proposer``: the proposer is a member of ``validators``, the set in force."""
    if validators.power_of(header.proposer) == 0:
        raise NextBlockError(
            "unknown_proposer", f"block {header.height}: the proposer is not in the validator set",
            "a member of the validator set", header.proposer,
        )


def check_header(prev: Predecessor, header: BlockHeader) -> None:
    """The header follows ``prev``: ``wrong_chain``, ``wrong_height``, ``bad_prev_hash``,
    ``bad_time``, ``unknown_proposer``, ``bad_validators_hash``, ``bad_history_root``."""
    check_chain_id(prev.chain_id, header)
    check_link(prev, header)
    check_validators_hash(prev.validators, header)
    if header.history_root != prev.history_root:
        raise NextBlockError(
            "bad_history_root", f"block {header.height}: history root differs from the chain's",
            prev.history_root, header.history_root,
        )


# -- 2. the commit certificate -----------------------------------------------------------------
def check_commit(
    chain_id: str,
    validators: ValidatorSet,
    header: BlockHeader,
    commit: CommitCertificate,
    *,
    block_hash: str | None = None,
) -> None:
    """``commit`` commits ``header`` (``commit_wrong_height``, ``commit_wrong_block``) and
    distinct members of ``validators`` holding more than 2/3 of its power signed it
    (``duplicate_signature``, ``unknown_validator``, ``bad_commit_signature``,
    ``insufficient_power``). ``block_hash`` is ``header.hash()`` if the caller has it."""
    check_commit_target(header, commit, block_hash=block_hash)
    try:
        commit.verify(chain_id, validators)
    except BlockError as exc:
        raise NextBlockError(
            exc.code, exc.message, "precommits of more than 2/3 of the power", exc.code
        ) from None


def check_commit_target(
    header: BlockHeader, commit: CommitCertificate, *, block_hash: str | None = None
) -> None:
    """``commit_wrong_height``, ``commit_wrong_block``: ``commit`` is for ``header``."""
    if commit.height != header.height:
        raise NextBlockError(
            "commit_wrong_height", f"block {header.height}: the commit is for height {commit.height}",
            header.height, commit.height,
        )
    block_hash = header.hash() if block_hash is None else block_hash
    if commit.block_hash != block_hash:
        raise NextBlockError(
            "commit_wrong_block", f"block {header.height}: the commit is for another block hash",
            block_hash, commit.block_hash,
        )


# -- 3. the body ---------------------------------------------------------------------------------
def _never(tx_id: str) -> bool:
    return False


def _anyone(tx: Transaction) -> str | None:
    return None


def check_body(
    header: BlockHeader,
    txs: Sequence[Transaction],
    results: Sequence[dict[str, Any]] | None = None,
    *,
    check_txs_root: bool = True,
    is_committed: Callable[[str], bool] = _never,
    signer_refusal: Callable[[Transaction], str | None] = _anyone,
    is_verified: Callable[[Transaction], bool] = lambda tx: False,
    on_verified: Callable[[Transaction], None] = lambda tx: None,
    result_bytes: Sequence[bytes] | None = None,
) -> None:
    """The body belongs to ``header``: ``too_many_txs``, ``bad_txs_root`` (unless the
    caller already checked it: ``check_txs_root=False``), ``bad_results_root`` and
    ``bad_results`` (only if ``results`` are given; ``result_bytes`` are their canonical
    bytes if the caller has them), ``duplicate_tx`` (within the block, or
    ``is_committed(tx_id)``), ``unenrolled_signer`` (``signer_refusal(tx)`` is not None:
    the permissioned-admission rule, which lives in chaincode -- ``ledger`` may not import
    it -- and which the validator and the auditor pass over the state the block starts
    from; run for every transaction before any signature is verified, because it is a cheap
    lookup), ``bad_signature`` (transactions for which ``is_verified(tx)`` is false are
    verified, then ``on_verified(tx)`` is told)."""
    height = header.height
    # repeats the parsers' limit (BlockCodec, Block.from_json) so the rule holds for a
    # body from any caller (the auditor runs it on the blocks it reads)
    if len(txs) > MAX_BLOCK_TXS:
        raise NextBlockError(
            "too_many_txs", f"a block holds at most {MAX_BLOCK_TXS} transactions",
            f"at most {MAX_BLOCK_TXS} transactions", len(txs),
        )
    if check_txs_root:
        found = root_of_txs(txs)
        if found != header.txs_root:
            raise NextBlockError(
                "bad_txs_root", f"block {height}: transactions root mismatch",
                found, header.txs_root,
            )
    if results is not None:
        if result_bytes is None:
            found = root_of_results(results)
        else:
            found = merkle_root(list(result_bytes)).hex()
        if found != header.results_root:
            raise NextBlockError(
                "bad_results_root", f"block {height}: results root mismatch",
                found, header.results_root,
            )
        if len(results) != len(txs):
            raise NextBlockError(
                "bad_results", f"block {height}: one result per transaction",
                len(txs), len(results),
            )
        for index, (tx, res) in enumerate(zip(txs, results, strict=True)):
            if res.get("tx_id") != tx.tx_id:
                raise NextBlockError(
                    "bad_results", f"block {height}: result/tx order mismatch at {index}",
                    tx.tx_id, res.get("tx_id"),
                )
    # replay: a peer's or a stored block is untrusted (admission checked only this node's
    # own mempool transactions, and only against the chain as it was then)
    seen: set[str] = set()
    for index, tx in enumerate(txs):
        if tx.tx_id in seen:
            raise NextBlockError(
                "duplicate_tx", f"transaction {index} ({tx.tx_id}) appears twice in the block",
                "a transaction id not seen before", tx.tx_id,
            )
        seen.add(tx.tx_id)
        if is_committed(tx.tx_id):
            raise NextBlockError(
                "duplicate_tx", f"transaction {index} ({tx.tx_id}) is already committed",
                "a transaction id not seen before", tx.tx_id,
            )
    # permissioned admission, before the costly signature checks below
    for index, tx in enumerate(txs):
        refusal = signer_refusal(tx)
        if refusal is not None:
            raise NextBlockError(
                "unenrolled_signer", f"transaction {index} ({tx.tx_id}): {refusal}",
                "signers that are active keys of active organisations", refusal,
            )
    for index, tx in enumerate(txs):
        if is_verified(tx):
            continue
        try:
            tx.verify_signatures()
        except TxError as exc:
            raise NextBlockError(
                "bad_signature", f"transaction {index} ({tx.tx_id}): {exc.message}",
                "valid signatures", exc.code,
            ) from None
        on_verified(tx)


# -- 4. the outcome of re-execution ----------------------------------------------------------------
def check_outcome(
    header: BlockHeader,
    *,
    results_root: str,
    state_root: str,
    next_validators_hash: str,
    results: Sequence[bytes] | None = None,
    block_results: Sequence[bytes] | None = None,
) -> None:
    """What re-executing the block gave, against the header: ``results_mismatch`` (the
    root over the re-executed results against ``header.results_root``; if the canonical
    bytes of the re-executed ``results`` and of the block's own ``block_results`` are
    given, the first differing transaction is named), ``bad_state_root``,
    ``bad_next_validators_hash``."""
    if results is not None and block_results is not None:
        for index, (want, got) in enumerate(zip(results, block_results, strict=True)):
            if want != got:
                raise NextBlockError(
                    "results_mismatch", f"result of transaction {index}",
                    want.decode(), got.decode(),
                )
    if results_root != header.results_root:
        raise NextBlockError(
            "results_mismatch", "re-executed results differ from the block's",
            results_root, header.results_root,
        )
    if state_root != header.state_root:
        raise NextBlockError(
            "bad_state_root", "re-executed state root differs from the block's",
            state_root, header.state_root,
        )
    if next_validators_hash != header.next_validators_hash:
        raise NextBlockError(
            "bad_next_validators_hash", "next validators hash differs",
            next_validators_hash, header.next_validators_hash,
        )


# -- all of it --------------------------------------------------------------------------------------
def check_next_block(
    prev: Predecessor,
    header: BlockHeader,
    txs: Sequence[Transaction] | None = None,
    results: Sequence[dict[str, Any]] | None = None,
    commit: CommitCertificate | None = None,
    *,
    is_committed: Callable[[str], bool] = _never,
    signer_refusal: Callable[[Transaction], str | None] = _anyone,
) -> None:
    """The whole rule short of re-execution: :func:`check_header`, then (if given)
    :func:`check_commit` and :func:`check_body`. Raises :class:`NextBlockError`."""
    check_header(prev, header)
    if commit is not None:
        check_commit(prev.chain_id, prev.validators, header, commit)
    if txs is not None:
        check_body(header, txs, results, is_committed=is_committed,
                   signer_refusal=signer_refusal)
