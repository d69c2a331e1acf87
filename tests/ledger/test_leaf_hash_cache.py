"""Leaf hashes and chunk roots kept on the objects (``Transaction.leaf_hash``,
``Block.result_chunk_roots``/``tx_chunk_roots``, the roots computed from them) against
the definitions they replace: RFC 9162's ``merkle.leaf_hash`` of the canonical bytes,
``merkle_root`` of the bytes, and the block layout's chunk roots hashed from the bytes
(the code before, kept here as the oracle). Same roots, same bytes: no consensus byte
changes."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.block import (
    CHUNK,
    Block,
    BlockHeader,
    chunk_roots,
    results_root,
    root_of_chunks,
    tx_result,
    txs_root,
)
from ledger.block_layout import BlockLayout, layout_of, scan_layout
from ledger.crypto import PrivateKey, sha256
from ledger.errors import BlockError
from ledger.merkle import leaf_hash, merkle_root, root_from_hashes
from ledger.tx import Transaction, build_transaction, parse_transaction

KEY = PrivateKey(sha256(b"leaf"))
CHAIN = "fcl-test"
ZERO = "0" * 64

_json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**53) + 1, 2**53 - 1),
    st.text(max_size=12).filter(lambda s: s.isascii()),
    st.sampled_from(["森林", "é", '"],"txs":[', "\\u0000"]),
)
_json = st.recursive(
    _json_leaf,
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(st.characters(min_codepoint=97, max_codepoint=122), max_size=5),
                      inner, max_size=3),
    max_leaves=8,
)


def _tx(i: int, arg: Any) -> Transaction:
    return build_transaction(chain_id=CHAIN, contract="notary", method="record",
                             args={"v": arg}, nonce=f"n{i}", keys=[KEY])


def _old_chunk_roots(hashes: list[bytes]) -> tuple[bytes, ...]:
    """The chunk roots as ``ledger.block_layout`` computed them: ``merkle`` over each run."""
    return tuple(root_from_hashes(hashes[i:i + CHUNK]) for i in range(0, len(hashes), CHUNK))


def _old_layout(block: Block) -> BlockLayout:
    """``layout_of`` as it was: every leaf hashed from the bytes."""
    def hashes(parts: list[bytes]) -> list[bytes]:
        return [hashlib.sha256(b"\x00" + p).digest() for p in parts]
    results = list(block.result_bytes)
    txs = [tx.canonical_bytes for tx in block.txs]
    return BlockLayout(len(block.header.canonical_bytes), tuple(map(len, results)),
                       tuple(map(len, txs)), _old_chunk_roots(hashes(results)),
                       _old_chunk_roots(hashes(txs)))


@given(st.lists(st.binary(min_size=32, max_size=32), max_size=300))
@settings(max_examples=200, deadline=None)
def test_the_root_of_the_chunk_roots_is_the_root(hashes: list[bytes]) -> None:
    chunks = chunk_roots(hashes)
    assert chunks == _old_chunk_roots(hashes)
    assert len(chunks) == -(-len(hashes) // CHUNK)
    assert root_of_chunks(chunks) == root_from_hashes(hashes)


def _block(txs: list[Transaction], results: list[dict[str, Any]], *, assemble: bool) -> Block:
    fields: dict[str, Any] = dict(
        chain_id=CHAIN, height=3, time=9, prev_hash=ZERO, state_root=ZERO,
        validators_hash=ZERO, next_validators_hash=ZERO, proposer=KEY.public_key_hex,
        history_root=ZERO)
    if assemble:
        return Block.assemble(txs, results, **fields)
    header = BlockHeader(txs_root=txs_root(txs), results_root=results_root(results), **fields)
    return Block(header, tuple(txs), tuple(results))


@given(st.lists(_json, max_size=70), st.booleans())
@settings(max_examples=60, deadline=None)
def test_cached_leaf_hashes_give_the_roots_and_layout_of_the_bytes(args: list[Any],
                                                                   assemble: bool) -> None:
    txs = [_tx(i, a) for i, a in enumerate(args)]
    results = [tx_result(tx.tx_id, "ok" if i % 3 else "bad_thing", f"m{a!r}"[:20],
                         [{"n": i, "v": a}]) for i, (tx, a) in enumerate(zip(txs, args, strict=True))]
    block = _block(txs, results, assemble=assemble)
    for tx in txs:
        assert tx.leaf_hash == leaf_hash(tx.canonical_bytes)
        assert tx.leaf_hash != tx.canonical_digest  # not the verified-set digest
    assert block.header.txs_root == merkle_root([tx.canonical_bytes for tx in txs]).hex()
    assert block.results_root_hex == merkle_root(list(block.result_bytes)).hex()
    assert block.header.results_root == block.results_root_hex
    assert block.txs_root_hex == block.header.txs_root
    layout = layout_of(block)
    assert layout == _old_layout(block)
    assert layout_of(block, chunks=False) == scan_layout(block.canonical_bytes)
    block.check_roots()
    # a follower's block with its own results (check_block) keeps the transactions' tree
    again = block.with_results([dict(r) for r in results])
    assert again == block and again.txs is block.txs
    assert layout_of(again) == layout
    assert again.results_root_hex == block.results_root_hex


def test_a_parsed_transaction_hashes_its_own_bytes_once() -> None:
    tx = _tx(1, {"a": [1, "森林"]})
    again = parse_transaction(tx.to_json(), chain_id=CHAIN)
    assert again.leaf_hash == tx.leaf_hash == hashlib.sha256(b"\x00" + tx.canonical_bytes).digest()
    assert again.leaf_hash is again.leaf_hash  # kept, not recomputed
    assert again == tx  # the cache does not take part in equality


def test_a_wrong_result_or_transaction_still_changes_the_root() -> None:
    txs = [_tx(i, i) for i in range(5)]
    results = [tx_result(tx.tx_id, "ok", "", []) for tx in txs]
    block = _block(txs, results, assemble=True)
    other = [dict(r) for r in results]
    other[2]["code"] = "failed"
    changed = block.with_results(other)
    assert changed.results_root_hex != block.header.results_root
    assert changed.txs_root_hex == block.header.txs_root
    with pytest.raises(BlockError) as err:
        changed.check_roots()
    assert err.value.code == "bad_results_root"
    wrong_txs = Block(block.header, block.txs[:4] + (_tx(9, 9),), block.results)
    with pytest.raises(BlockError) as err:
        wrong_txs.check_roots()
    assert err.value.code == "bad_txs_root"
    assert txs_root(txs[:4] + [_tx(9, 9)]) != block.header.txs_root
    assert txs_root([]) == merkle_root([]).hex()
