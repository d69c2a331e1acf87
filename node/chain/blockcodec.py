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

The splicing helpers produce ``canonical(...)`` bytes from pieces that are already
canonical (payload bytes, hex signatures, block bytes) instead of re-encoding whole
blocks; tests check them byte for byte against ``ledger.encoding.canonical``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ledger.block import MAX_BLOCK_TXS, Block, BlockHeader
from ledger.crypto import is_hex_signature
from ledger.encoding import canonical
from ledger.errors import BlockError
from ledger.merkle import merkle_root
from ledger.store import block_bytes
from ledger.tx import Transaction, parse_transaction
from node.consensus.messages import Proposal

__all__ = [
    "BlockCodec",
    "block_bytes",
    "proposal_bytes",
    "tx_bytes",
    "tx_json_key",
    "txs_root_fast",
]


def tx_json_key(obj: Any) -> str:
    """A text that is equal for two decoded JSON values iff they are the same value with
    the same types (``json.dumps`` with sorted keys: ``true`` and ``1`` differ)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def tx_bytes(tx: Transaction) -> bytes:
    """``canonical(tx.to_json())`` spliced from the canonical payload bytes: the object's
    keys are ``payload`` < ``signatures`` and hex signatures need no escaping."""
    if all(is_hex_signature(sig) for sig in tx.signatures):
        sigs = ",".join(f'"{sig}"' for sig in tx.signatures).encode("ascii")
        return b'{"payload":' + tx.payload_bytes + b',"signatures":[' + sigs + b"]}"
    return canonical(tx.to_json())


def txs_root_fast(txs: Sequence[Transaction]) -> str:
    """``ledger.block.txs_root(txs)`` without re-encoding every transaction."""
    return merkle_root([tx_bytes(tx) for tx in txs]).hex()


def proposal_bytes(prop: Proposal, block_wire: bytes) -> bytes:
    """``prop.to_bytes()`` spliced around ``block_wire`` (the block's canonical bytes).
    Keys in canonical order; chain ids, hex strings and integers need no escaping."""
    return b"".join(
        (
            b'{"block":', block_wire,
            b',"block_hash":"', prop.block_hash.encode("ascii"),
            b'","chain_id":"', prop.chain_id.encode("ascii"),
            b'","height":', str(prop.height).encode("ascii"),
            b',"pol_round":', str(prop.pol_round).encode("ascii"),
            b',"proposer":"', prop.proposer.encode("ascii"),
            b'","round":', str(prop.round).encode("ascii"),
            b',"signature":"', prop.signature.encode("ascii"),
            b'","type":"proposal"}',
        )
    )


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
        if header.chain_id != self.chain_id:
            raise BlockError("wrong_chain", f"block is for chain {header.chain_id!r}")
        raw_txs, results = obj["txs"], obj["results"]
        if not isinstance(raw_txs, list) or len(raw_txs) > MAX_BLOCK_TXS:
            raise BlockError("malformed_block", f"a block has at most {MAX_BLOCK_TXS} txs")
        if not isinstance(results, list) or len(results) != len(raw_txs):
            raise BlockError("malformed_block", "a block has one result per transaction")
        if not all(isinstance(r, Mapping) for r in results):
            raise BlockError("malformed_block", "each result is an object")
        txs: list[Transaction] = []
        for raw in raw_txs:
            tx = self.known(tx_json_key(raw)) if isinstance(raw, dict) else None
            if tx is None:
                tx = parse_transaction(raw, chain_id=self.chain_id)
                self.parsed += 1
            else:
                self.reused += 1
            txs.append(tx)
        if txs_root_fast(txs) != header.txs_root:
            raise BlockError("bad_txs_root", f"block {header.height}: transactions root mismatch")
        return Block(header=header, txs=tuple(txs), results=tuple(dict(r) for r in results))

    __call__ = decode
