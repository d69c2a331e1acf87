"""Blocks on the wire: decoding proposals and synced blocks, and splicing canonical bytes.

Decoding (:class:`BlockCodec`, the consensus core's ``BlockDecoder``) checks what the
block hash commits to before anyone relies on it: the header (``BlockHeader.from_json``),
the chain id, and that the transactions match ``header.txs_root``. A transaction whose
JSON is exactly that of one already verified in the mempool (same value, same types,
same signatures: compared as ``json.dumps(..., sort_keys=True)`` text, which tells
``true`` from ``1``) reuses the mempool's parsed object instead of being parsed again.

The block's ``results`` are carried but never trusted: every validator re-executes the
block and commits its own results, after checking that they hash to
``header.results_root`` (``Application.check_block``). So the decoded block is fully
determined by its hash, as the core requires.

Canonical bytes are not made here: a transaction and a block own theirs
(``Transaction.canonical_bytes``, ``Block.canonical_bytes``), each computed once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from ledger.block import MAX_BLOCK_TXS, Block, BlockHeader, txs_root
from ledger.errors import BlockError
from ledger.tx import Transaction, parse_transaction

__all__ = ["BlockCodec", "tx_json_key"]


def tx_json_key(obj: Any) -> str:
    """A text that is equal for two decoded JSON values iff they are the same value with
    the same types (``json.dumps`` with sorted keys: ``true`` and ``1`` differ)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class BlockCodec:
    """Decodes block JSON for one chain. ``known(json_key)`` returns an already verified
    transaction with exactly that JSON (the mempool's index), or None."""

    def __init__(
        self,
        chain_id: str,
        known: Callable[[str], Transaction | None] = lambda key: None,
    ) -> None:
        self.chain_id = chain_id
        self.known = known
        self.reused = 0
        self.parsed = 0

    def decode(self, obj: Any) -> Block:
        """A block whose header and transactions agree; ``BlockError``/``TxError`` (both
        ``ValueError``) otherwise."""
        if not isinstance(obj, Mapping) or set(obj) != {"header", "results", "txs"}:
            raise BlockError("malformed_block", "a block has exactly header, results, txs")
        header = BlockHeader.from_json(obj["header"])
        # a peer's proposal or synced block is untrusted: refuse another chain before parsing
        if header.chain_id != self.chain_id:
            raise BlockError("wrong_chain", f"block is for chain {header.chain_id!r}")
        raw_txs, results = obj["txs"], obj["results"]
        # bound the work before parsing a peer's transactions (check_body repeats it later)
        if not isinstance(raw_txs, list) or len(raw_txs) > MAX_BLOCK_TXS:
            raise BlockError("malformed_block", f"a block has at most {MAX_BLOCK_TXS} txs")
        if not isinstance(results, list) or len(results) != len(raw_txs):
            raise BlockError("malformed_block", "a block has one result per transaction")
        if not all(isinstance(r, Mapping) for r in results):
            raise BlockError("malformed_block", "each result is an object")
        txs: list[Transaction] = []
        for raw in raw_txs:
            tx = self.known(tx_json_key(raw)) if isinstance(raw, dict) else None
            if tx is None:  # a peer's transaction: shape, size and chain id, as at admission
                tx = parse_transaction(raw, chain_id=self.chain_id)
                self.parsed += 1
            else:
                self.reused += 1
            txs.append(tx)
        if txs_root(txs) != header.txs_root:
            raise BlockError("bad_txs_root", f"block {header.height}: transactions root mismatch")
        return Block(header=header, txs=tuple(txs), results=tuple(dict(r) for r in results))

    __call__ = decode
