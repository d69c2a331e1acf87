"""ledger/block_layout.py: a stored block's layout (byte lengths, chunk roots), the
level-by-level Merkle tree, and the reader that decodes and hashes only what it is asked
for while checking everything against the header's roots."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.block import HEADER_FIELDS
from ledger.block_layout import (
    CHUNK,
    BlockLayout,
    MerkleLevels,
    StoredBlock,
    chunk_roots,
    scan_layout,
)
from ledger.encoding import canonical
from ledger.errors import BlockError
from ledger.merkle import (
    EMPTY_ROOT,
    inclusion_proof,
    inclusion_proof_from_hashes,
    merkle_root,
    root_from_hashes,
    verify_inclusion,
)

SIZES = [0, 1, 2, 3, 31, 32, 33, 64, 65, 100]


def make_block(n: int, note: str = "t") -> tuple[bytes, list[dict[str, Any]], list[dict[str, Any]]]:
    """Stored bytes of a block of ``n`` transaction-like objects (some non-ASCII, some
    holding JSON-looking strings) and their results, with the header's roots right."""
    txs = [{"payload": {"args": {"note": f"{note}-{i}" + ("é森林" if i % 3 else '],"txs":[{}'),
                                  "n": i * 7}, "method": "m"}, "signatures": []}
           for i in range(n)]
    results = [{"code": "ok" if i % 4 else "bad", "events": [{"txs": [i]}], "message": "",
                "tx_id": f"{i:064x}"} for i in range(n)]
    header: dict[str, Any] = {name: "0" * 64 for name in HEADER_FIELDS}
    header.update(chain_id="c,\"results\":[", height=7, time=1, proposer="ab" * 32,
                  txs_root=merkle_root([canonical(t) for t in txs]).hex(),
                  results_root=merkle_root([canonical(r) for r in results]).hex())
    raw = canonical({"header": header, "results": results, "txs": txs})
    return raw, txs, results


def lengths_of(txs: list[dict[str, Any]], results: list[dict[str, Any]], raw: bytes) -> BlockLayout:
    header_len = raw.index(b',"results":[') - len(b'{"header":')
    return BlockLayout(header_len, tuple(len(canonical(r)) for r in results),
                       tuple(len(canonical(t)) for t in txs))


@given(st.lists(st.binary(min_size=32, max_size=32), max_size=300), st.data())
@settings(max_examples=150, deadline=None)
def test_merkle_levels_agree_with_ledger_merkle(hashes: list[bytes], data: Any) -> None:
    tree = MerkleLevels(hashes)
    assert tree.root() == root_from_hashes(hashes)
    if hashes:
        index = data.draw(st.integers(0, len(hashes) - 1))
        assert tree.proof(index) == inclusion_proof_from_hashes(hashes, index)
    for bad in (-1, len(hashes), True, "0"):
        with pytest.raises(IndexError):
            tree.proof(bad)  # type: ignore[arg-type]


@given(st.lists(st.binary(min_size=32, max_size=32), max_size=200))
@settings(max_examples=100, deadline=None)
def test_the_tree_over_chunk_roots_is_the_top_of_the_whole_tree(hashes: list[bytes]) -> None:
    top = MerkleLevels(list(chunk_roots(hashes)))
    assert top.root() == (root_from_hashes(hashes) if hashes else EMPTY_ROOT)
    for index in range(0, len(hashes), 7):
        inner = MerkleLevels(hashes[index - index % CHUNK:][:CHUNK]).proof(index % CHUNK)
        assert inner + top.proof(index // CHUNK) == inclusion_proof_from_hashes(hashes, index)


@pytest.mark.parametrize("n", SIZES)
def test_scan_finds_the_lengths_and_the_reader_proves_every_element(n: int) -> None:
    raw, txs, results = make_block(n)
    layout = scan_layout(raw)
    assert layout == lengths_of(txs, results, raw)
    assert layout.total() == len(raw)
    block = StoredBlock(raw, layout)
    assert (block.size, block.height, block.rescanned) == (n, 7, False)
    checked = block.checked_layout()
    assert len(checked.tx_chunks) == len(checked.result_chunks) == -(-n // CHUNK)
    tx_leaves = [canonical(t) for t in txs]
    result_leaves = [canonical(r) for r in results]
    for reader in (block, StoredBlock(raw, checked)):
        for i in range(n):
            assert reader.tx_bytes(i) == tx_leaves[i]
            assert reader.result(i) == results[i]
            assert reader.tx_proof(i) == inclusion_proof(tx_leaves, i)
            assert reader.result_proof(i) == inclusion_proof(result_leaves, i)
            assert verify_inclusion(tx_leaves[i], i, n, reader.tx_proof(i),
                                    bytes.fromhex(reader.header.txs_root))
        for bad in (-1, n, "0"):
            with pytest.raises(IndexError):
                reader.tx_bytes(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("n", [0, 5, 40])
def test_layout_bytes_round_trip_and_bad_bytes_are_refused(n: int) -> None:
    raw, _, _ = make_block(n)
    plain = scan_layout(raw)
    full = StoredBlock(raw, plain).checked_layout()
    for layout in (plain, full):
        assert BlockLayout.from_bytes(layout.to_bytes()) == layout
    data = full.to_bytes()
    for bad in (b"", data[:8], b"\x02" + data[1:], data + b"x", data[:-1], plain.to_bytes() + b"\x00" * 32):
        with pytest.raises(ValueError):
            BlockLayout.from_bytes(bad)
    with pytest.raises(ValueError):
        BlockLayout(1, (1,), ())
    with pytest.raises(ValueError):
        BlockLayout(1, (1,), (1,), (b"x" * 32,), ())
    with pytest.raises(ValueError):
        BlockLayout(1, (1,), (1,), (b"x" * 31,), (b"x" * 32,))


def test_a_wrong_layout_is_replaced_by_the_blocks_own() -> None:
    raw, txs, results = make_block(70)
    good = StoredBlock(raw, scan_layout(raw)).checked_layout()
    tx_leaves = [canonical(t) for t in txs]
    # lengths shifted between two elements (same total): caught when a chunk is read
    shifted = BlockLayout(good.header, good.results,
                          (good.txs[0] + 1, good.txs[1] - 1) + good.txs[2:],
                          good.result_chunks, good.tx_chunks)
    reader = StoredBlock(raw, shifted)
    assert reader.tx_bytes(0) == tx_leaves[0] and reader.rescanned
    assert reader.tx_proof(69) == inclusion_proof(tx_leaves, 69)
    # chunk roots that do not give the header's roots: caught when the reader is made
    wrong_roots = BlockLayout(good.header, good.results, good.txs, good.result_chunks,
                              (hashlib.sha256(b"x").digest(),) + good.tx_chunks[1:])
    reader = StoredBlock(raw, wrong_roots)
    assert reader.rescanned and reader.tx_bytes(40) == tx_leaves[40]
    # lengths of another block: the total differs
    reader = StoredBlock(raw, scan_layout(make_block(3)[0]))
    assert reader.rescanned and reader.size == 70


def test_a_block_that_does_not_hash_to_its_header_is_refused() -> None:
    raw, _, _ = make_block(40)
    tampered = raw.replace(b'"t-5\xc3\xa9', b'"T-5\xc3\xa9', 1)
    assert tampered != raw
    with pytest.raises(BlockError) as err:
        StoredBlock.scan(tampered)
    assert err.value.code == "bad_txs_root"
    results_tampered = raw.replace(b'"code":"bad"', b'"code":"bed"', 1)
    with pytest.raises(BlockError) as err:
        StoredBlock(results_tampered, scan_layout(raw))
    assert err.value.code == "bad_results_root"


@pytest.mark.parametrize("raw", [
    b"",
    b'{"header":[1],"results":[],"txs":[]}',
    b'{"header":{},"results":[],"txs":[]}x',
    b'{"header":{},"results":[{}],"txs":[]}',
    b'{"header":{},"results":[{} ],"txs":[]}',
    b'{"header":{},"results":[{],"txs":[]}',
    b'{"header":{},"txs":[],"results":[]}',
    b'{"header":{}}',
    b'\xff{"header":{},"results":[],"txs":[]}',
])
def test_scan_refuses_what_is_not_a_stored_block(raw: bytes) -> None:
    with pytest.raises(BlockError) as err:
        scan_layout(raw)
    assert err.value.code == "malformed_block"
