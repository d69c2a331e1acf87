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

A proposal's block also has a faster decoding, :meth:`BlockCodec.decode_text`, from the
block's canonical text inside the proposal's: each transaction's canonical text is looked
up among the mempool's verified transactions (``known_text``, keyed by their canonical
text), so a known transaction is neither parsed nor encoded again; the header, the results
and unknown transactions are parsed strictly and must be exactly canonical. It answers
None whenever it cannot show that, and the caller then decodes strictly (:meth:`decode`).

Canonical bytes are not made here: a transaction and a block own theirs
(``Transaction.canonical_bytes``, ``Block.canonical_bytes``), each computed once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from ledger.block import MAX_BLOCK_TXS, Block, BlockHeader
from ledger.encoding import MAX_DEPTH, decode_canonical_at
from ledger.errors import BlockError
from ledger.tx import Transaction, parse_transaction

__all__ = ["BlockCodec", "tx_json_key"]

# A transaction of a block in a proposal sits at depth 3 (proposal, block, txs); one whose
# text has at most this many brackets in all is within MAX_DEPTH wherever its brackets are.
_TX_BRACKETS = MAX_DEPTH - 3
# How many ``"]}`` ends a known transaction's text is looked up at before it is parsed.
_TX_END_TRIES = 4


def tx_json_key(obj: Any) -> str:
    """A text that is equal for two decoded JSON values iff they are the same value with
    the same types (``json.dumps`` with sorted keys: ``true`` and ``1`` differ)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class BlockCodec:
    """Decodes block JSON for one chain. ``known(json_key)`` returns an already verified
    transaction with exactly that JSON (the mempool's index), or None; ``known_text(text)``
    the verified transaction whose canonical text is ``text`` (the mempool's other index),
    or None."""

    def __init__(
        self,
        chain_id: str,
        known: Callable[[str], Transaction | None] = lambda key: None,
        known_text: Callable[[str], Transaction | None] = lambda text: None,
    ) -> None:
        self.chain_id = chain_id
        self.known = known
        self.known_text = known_text
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
        block = Block(header=header, txs=tuple(txs), results=tuple(dict(r) for r in results))
        if block.txs_root_hex != header.txs_root:  # its chunk roots are kept for the commit
            raise BlockError("bad_txs_root", f"block {header.height}: transactions root mismatch")
        return block

    __call__ = decode

    def decode_text(self, text: str, start: int) -> tuple[Block, int] | None:
        """The block whose canonical text starts at ``text[start]``, and the index just
        after it, or None if that cannot be shown cheaply (the text is not canonical, a
        value is unusual, or the block would be refused): then :meth:`decode` of the parsed
        JSON gives the answer. When it answers, :meth:`decode` of the same value (at the
        depth of a proposal's block) gives an equal block (tests/node/test_proposal_fast_decode.py)."""
        if not text.startswith('{"header":', start):
            return None
        got = decode_canonical_at(text, start + 10, 2)
        if got is None:
            return None
        header_obj, i = got
        if not text.startswith(',"results":', i):
            return None
        got = decode_canonical_at(text, i + 11, 2)
        if got is None:
            return None
        results, i = got
        if not text.startswith(',"txs":[', i) or type(results) is not list:
            return None
        if not all(type(r) is dict for r in results):
            return None
        try:
            header = BlockHeader.from_json(header_obj)
        except (ValueError, TypeError, KeyError):
            return None
        if header.chain_id != self.chain_id:
            return None
        pos = i + 8
        txs: list[Transaction] = []
        reused = 0
        known_text = self.known_text
        chain_id = self.chain_id
        if text.startswith("]", pos):
            pos += 1
        else:
            while True:
                tx = None
                end = pos
                for _ in range(_TX_END_TRIES):
                    end = text.find('"]}', end) + 3
                    if end < 3:
                        break
                    tx = known_text(text[pos:end])
                    if tx is not None:
                        break
                if tx is not None and tx.chain_id == chain_id and (
                    text.count("{", pos, end) + text.count("[", pos, end) <= _TX_BRACKETS
                ):
                    reused += 1
                else:  # not known (or unusual): parse this one strictly
                    got = decode_canonical_at(text, pos, 3)
                    if got is None:
                        return None
                    raw, end = got
                    tx = known_text(text[pos:end])
                    if tx is not None and tx.chain_id == chain_id:
                        reused += 1
                    else:
                        try:
                            tx = parse_transaction(raw, chain_id=chain_id)
                        except (ValueError, TypeError, KeyError):
                            return None
                txs.append(tx)
                if len(txs) > MAX_BLOCK_TXS:
                    return None
                sep = text[end:end + 1]
                pos = end + 1
                if sep == "]":
                    break
                if sep != ",":
                    return None
        if not text.startswith("}", pos) or len(results) != len(txs):
            return None
        block = Block(header=header, txs=tuple(txs), results=tuple(results))
        if block.txs_root_hex != header.txs_root:  # its chunk roots are kept for the commit
            return None
        self.reused += reused
        self.parsed += len(txs) - reused
        return block, pos + 1
