"""node/chain/layoutindex.py: the block-layout index the node writes at commit (outside
consensus) and rebuilds from the blocks; the certificate builder reads through it only the
transactions and results a certificate cites, and the certificates stay byte for byte
what the whole-block builder made."""

from __future__ import annotations

from typing import Any

import pytest

import ledger.block_layout as block_layout
from chaincode.certificate_links import CARBON_LINKS, make_entry
from chaincode.executor import Executor
from ledger.block import Block
from ledger.block_layout import BlockLayout, StoredBlock, layout_of
from ledger.certificate import verify_certificate
from node.api.certificates import CertificateBuilder, build_certificate, certificate_bytes
from node.chain import layoutindex
from node.chain.app import Application
from tests.support.certificates import World, contracts, lifecycle, shared_world


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return shared_world(tmp_path_factory)


def layout_entries(store: Any) -> list[tuple[bytes, bytes]]:
    return list(store.iter_extra(b"layout/"))


class NoWholeBlocks:
    """The store with whole-block parsing forbidden."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def get_block(self, height: int) -> Block | None:
        raise AssertionError(f"block {height} was parsed whole")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


def test_commit_writes_every_blocks_layout_with_its_chunk_roots(world: World) -> None:
    store = world.chain.store
    assert layoutindex.indexed_upto(store) == store.latest_height()
    index = layoutindex.LayoutIndex(store)
    for h in range(1, store.latest_height() + 1):
        block = store.get_block(h)
        assert block is not None
        layout, raw = index.get(h), store.get_block_json(h)
        assert raw is not None
        assert layout == layout_of(block) == StoredBlock.scan(raw).checked_layout()
        assert layout is not None and len(layout.tx_chunks) == -(-layout.size // 32)
    assert index.get(store.latest_height() + 1) is None


def test_certificate_entries_are_the_whole_block_entries(world: World) -> None:
    """Every entry equals what ``make_entry`` makes from the block parsed whole (the
    builder before the index), and the certificate verifies."""
    store = world.chain.store
    for rid in (world.compliance_id, world.voluntary_id, world.multi_id):
        for version in (1, 2):
            cert = build_certificate(NoWholeBlocks(store), world.chain.genesis, rid, version)
            assert cert == world.cert(rid, version)
            for entry in [cert["retirement"], *cert["provenance"]]:
                block = store.get_block(entry["height"])
                assert block is not None
                assert entry == make_entry(entry["role"], block, entry["index"])
            assert verify_certificate(cert, genesis=world.chain.genesis, links=CARBON_LINKS).ok


def test_a_certificate_decodes_only_the_transactions_it_cites(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    parsed: list[int] = []
    real = block_layout.parse_transaction

    def counting(obj: Any, **kw: Any) -> Any:
        parsed.append(1)
        return real(obj, **kw)

    monkeypatch.setattr(block_layout, "parse_transaction", counting)
    store = world.chain.store
    for rid in (world.compliance_id, world.multi_id):
        parsed.clear()
        cert = CertificateBuilder(NoWholeBlocks(store), world.chain.genesis).build(rid)
        cited = 1 + len(cert["provenance"])
        sizes = {e["height"]: e["size"] for e in [cert["retirement"], *cert["provenance"]]}
        # each cited transaction once, none of the other transactions of their blocks
        assert len(parsed) == cited < sum(sizes.values()), (len(parsed), cited, sizes)


def test_a_missing_or_wrong_index_gives_the_same_certificate(tmp_path: Any) -> None:
    w = lifecycle(tmp_path / "db", "fcl-layout-rebuild")
    store = w.chain.store
    try:
        before = layout_entries(store)
        expected = certificate_bytes(build_certificate(store, w.chain.genesis, w.multi_id))
        with store.db.write_batch(transaction=True, sync=True) as wb:
            for key, _value in before:
                wb.delete(b"x/" + key)
        assert layout_entries(store) == []
        # without the index: each cited block's own layout is found in it
        assert certificate_bytes(build_certificate(store, w.chain.genesis, w.multi_id)) == expected
        # wrong entries (every length moved by one byte, chunk roots of another block)
        wrong = []
        for h in range(1, store.latest_height() + 1):
            good = BlockLayout.from_bytes(dict(before)[layoutindex.BLOCK + h.to_bytes(8, "big")])
            other = BlockLayout.from_bytes(before[0][1])
            bad = BlockLayout(good.header + 1, good.results, good.txs,
                              other.result_chunks, other.tx_chunks) \
                if len(other.tx_chunks) == len(good.tx_chunks) else \
                BlockLayout(good.header + 1, good.results, good.txs)
            wrong.append((layoutindex.BLOCK + h.to_bytes(8, "big"), bad.to_bytes()))
        store.put_extra(wrong + [(layoutindex.BLOCK + b"\x00" * 7 + b"\x01", b"junk")])
        assert certificate_bytes(build_certificate(store, w.chain.genesis, w.multi_id)) == expected
        with store.db.write_batch(transaction=True, sync=True) as wb:
            for key, _value in layout_entries(store):
                wb.delete(b"x/" + key)
        Application(store, Executor(contracts()), w.chain.genesis)  # the node's start
        assert layout_entries(store) == before
        assert layoutindex.catch_up(store) == 0
        assert certificate_bytes(build_certificate(store, w.chain.genesis, w.multi_id)) == expected
    finally:
        w.chain.close()


def test_entries_move_upto_only_from_the_block_before(world: World) -> None:
    block = world.chain.store.get_block(2)
    assert block is not None
    with_upto = layoutindex.entries(block, 1)
    assert (layoutindex.UPTO, (2).to_bytes(8, "big")) in with_upto
    assert [k for k, _ in layoutindex.entries(block, 0)] == [layoutindex.BLOCK + (2).to_bytes(8, "big")]


def test_catch_up_skips_blocks_the_store_does_not_hold() -> None:
    class Holes:
        def __init__(self) -> None:
            self.extra: dict[bytes, bytes] = {}

        def get_extra(self, key: bytes) -> bytes | None:
            return self.extra.get(key)

        def latest_height(self) -> int:
            return 3

        def get_block_json(self, height: int) -> bytes | None:
            return None

        def put_extra(self, entries: list[tuple[bytes, bytes]]) -> None:
            self.extra.update(entries)

    store = Holes()
    assert layoutindex.catch_up(store) == 0
    assert layoutindex.indexed_upto(store) == 3
