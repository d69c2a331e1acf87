"""node/chain/certindex.py: the certificate index the node writes at commit (outside
consensus) and rebuilds from the blocks, and a CertificateBuilder that answers from it
without scanning blocks and without a global lock."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from chaincode.executor import Executor
from ledger.block import Block
from ledger.encoding import decode
from node.api.certificates import CertificateBuilder, build_certificate
from node.chain import certindex
from node.chain.app import Application
from tests.support.certificates import World, contracts, lifecycle, shared_world


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return shared_world(tmp_path_factory)


def index_entries(store: Any) -> list[tuple[bytes, bytes]]:
    return list(store.iter_extra(b"cert/"))


class Counting:
    """The store with the blocks read counted; ``get_extra`` hidden if ``no_index``;
    plot records without ``created_tx_id`` if ``no_plot_hint``."""

    def __init__(self, store: Any, no_index: bool = False, no_plot_hint: bool = False) -> None:
        self.store = store
        self.no_index = no_index
        self.no_plot_hint = no_plot_hint
        self.block_reads: list[int] = []

    def get(self, key: str) -> bytes | None:
        raw = self.store.get(key)
        if self.no_plot_hint and key.startswith("plot/") and raw is not None:
            from ledger.encoding import canonical

            value = decode(raw)
            value.pop("created_tx_id", None)
            return canonical(value)
        return raw

    def get_block(self, height: int) -> Block | None:
        self.block_reads.append(height)
        return self.store.get_block(height)

    def get_block_json(self, height: int) -> bytes | None:
        self.block_reads.append(height)
        return self.store.get_block_json(height)

    def __getattr__(self, name: str) -> Any:
        if self.no_index and name in ("get_extra", "iter_extra"):
            raise AttributeError(name)
        return getattr(self.store, name)


def test_commit_writes_the_index(world: World) -> None:
    store = world.chain.store
    index = certindex.CertificateIndex(store)
    assert index.upto() == store.latest_height() == world.chain.height
    for plot_id in ("P1", "P2", "P9", "P3"):
        loc = index.plot_registration(plot_id)
        assert loc is not None
        block = store.get_block(loc[0])
        assert block is not None
        tx = block.txs[loc[1]]
        assert (tx.method, tx.args["plot_id"]) == ("register_plot", plot_id)
        assert block.results[loc[1]]["code"] == "ok"
    assert index.plot_registration("NOPE") is None
    assert index.changes(world.chain.height + 1) == [world.change_height]
    assert index.changes(world.change_height) == []


def test_certificates_from_the_index_read_no_other_blocks(world: World) -> None:
    """Without the plot records' hints, the index still finds every registration: the
    blocks read are the certificate's own and the validator-set change's, where the
    builder without the index scans every header and block."""
    for rid in (world.compliance_id, world.voluntary_id, world.multi_id):
        expected = world.cert(rid)
        indexed = Counting(world.chain.store, no_plot_hint=True)
        assert build_certificate(indexed, world.chain.genesis, rid) == expected
        wanted = {int(h) for h in expected["headers"]} | {
            c["height"] for c in expected["validator_set_changes"]}
        assert set(indexed.block_reads) <= wanted, (rid, sorted(set(indexed.block_reads)))
        scanning = Counting(world.chain.store, no_index=True, no_plot_hint=True)
        assert build_certificate(scanning, world.chain.genesis, rid) == expected
        assert len(scanning.block_reads) > len(indexed.block_reads)


def test_a_missing_index_is_rebuilt_when_the_node_opens_the_store(tmp_path: Any) -> None:
    w = lifecycle(tmp_path / "db", "fcl-index-rebuild")
    store = w.chain.store
    try:
        before = index_entries(store)
        expected = build_certificate(store, w.chain.genesis, w.multi_id)
        with store.db.write_batch(transaction=True, sync=True) as wb:
            for key, _value in before:
                wb.delete(b"x/" + key)
        assert index_entries(store) == []
        # a builder over the store without index falls back to scanning: same certificate
        assert build_certificate(store, w.chain.genesis, w.multi_id) == expected
        Application(store, Executor(contracts()), w.chain.genesis)  # the node's start
        assert index_entries(store) == before
        assert build_certificate(store, w.chain.genesis, w.multi_id) == expected
    finally:
        w.chain.close()


def test_an_index_with_a_gap_is_not_trusted_above_it(world: World) -> None:
    """``upto`` moves only from the block before: a block committed without its entries
    stops it there, and entries of later blocks do not claim the gap."""
    store = world.chain.store
    block = store.get_block(world.change_height)
    assert block is not None
    h = block.header.height
    with_upto = certindex.entries(block, h - 1)
    assert (certindex.UPTO, h.to_bytes(8, "big")) in with_upto
    assert (certindex.VCHANGE + h.to_bytes(8, "big"), b"") in with_upto
    assert all(k != certindex.UPTO for k, _ in certindex.entries(block, h - 2))


def test_certificates_built_at_once_by_one_builder_are_identical(world: World) -> None:
    ids = [world.compliance_id, world.voluntary_id, world.multi_id]
    expected = {rid: world.cert(rid) for rid in ids}
    builder = CertificateBuilder(world.chain.store, world.chain.genesis)
    results: list[tuple[str, Any]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(9)

    def work(k: int) -> None:
        try:
            start.wait()
            for j in range(6):
                rid = ids[(k + j) % len(ids)]
                results.append((rid, builder.build(rid)))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(9)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(results) == 54
    for rid, cert in results:
        assert cert == expected[rid]


def test_entries_from_stored_json_equal_those_of_the_parsed_block(world: World) -> None:
    store = world.chain.store
    for h in range(1, store.latest_height() + 1):
        block = store.get_block(h)
        raw = store.get_block_json(h)
        assert block is not None and raw is not None
        assert certindex.entries_of_stored(h, raw, h - 1) == certindex.entries(block, h - 1)
    raw = store.get_block_json(2)
    assert raw is not None
    with pytest.raises(LookupError):
        certindex.entries_of_stored(3, raw, 2)
