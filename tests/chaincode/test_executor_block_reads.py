"""``Executor.execute_block`` remembers the block's point reads of the committed state
(``ledger.state.ReadCache``) and builds an ``ok`` result without copying its events again:
neither changes what a block computes."""

from __future__ import annotations

from typing import Any

import pytest

from chaincode.executor import Executor
from chaincode.framework import BlockContext
from ledger.block import tx_result
from ledger.crypto import sha256
from ledger.errors import StorageFailure
from ledger.state import MemoryState
from tests.support.harness import CHAIN_ID, Harness


class CountingState(MemoryState):
    """A committed state that counts its point reads, by key."""

    def __init__(self, items: list[tuple[str, bytes]]) -> None:
        super().__init__(items)
        self.reads: dict[str, int] = {}

    def get(self, key: str) -> bytes | None:
        self.reads[key] = self.reads.get(key, 0) + 1
        return super().get(key)


def notary(h: Harness, name: str, signer: str = "owner-farm") -> Any:
    return h.make_tx(signer, "notary", "record",
                     {"name": name, "sha256": sha256(name.encode()).hex()})


def ctx_of(h: Harness) -> BlockContext:
    return BlockContext(CHAIN_ID, h.height + 1, h.time + 1000, h.validator_key.public_key_hex)


def test_a_block_reads_each_committed_key_once_and_its_results_are_unchanged() -> None:
    h = Harness()
    txs = [notary(h, f"doc-{i}") for i in range(20)] + [notary(h, "doc-3")]
    state = CountingState(h.state.items())
    execution = Executor().execute_block(state, ctx_of(h), txs)
    signer = h.key("owner-farm").public_key_hex
    assert state.reads[f"key/{signer}"] == 1
    assert state.reads["org/owner-farm"] == 1
    assert state.reads["notary/doc-3"] == 1  # the second record of it reads the block's write
    assert max(state.reads.values()) == 1
    # the same transactions one block each, on a fresh executor: the same results
    one_by_one = [Executor().execute_block(h.state, ctx_of(h), [tx]).results[0] for tx in txs[:20]]
    assert execution.results[:20] == one_by_one
    assert execution.results[20]["code"] == "already_recorded"
    first = execution.results[0]
    assert first == tx_result(txs[0].tx_id, "ok", "", [
        {"type": "notary.recorded", "name": "doc-0", "sha256": sha256(b"doc-0").hex()},
        {"type": "return", "name": "doc-0"}])
    assert list(first) == ["code", "events", "message", "tx_id"]  # tx_result's key order
    assert first["events"] is not execution.results[1]["events"]


def test_a_key_revoked_earlier_in_the_block_is_seen_by_later_transactions() -> None:
    """The remembered reads are of the committed state only: a write earlier in the
    block (here a revocation) wins over them for every later transaction."""
    h = Harness()
    member = h.key("farm-clerk")
    h.ok("owner-farm", "membership", "enrol_key",
         {"org_id": "owner-farm", "pub_key": member.public_key_hex})
    txs = [
        notary(h, "before", "farm-clerk"),
        h.make_tx("owner-farm", "membership", "revoke_key", {"pub_key": member.public_key_hex}),
        notary(h, "after", "farm-clerk"),
    ]
    results = Executor().execute_block(CountingState(h.state.items()), ctx_of(h), txs).results
    assert [r["code"] for r in results] == ["ok", "ok", "unauthorized"]


class FailingState(MemoryState):
    """A committed state whose reads of one key fail: ``StorageFailure`` (a disk fault)
    or a plain exception (as a contract bug would raise)."""

    def __init__(self, items: list[tuple[str, bytes]], key: str, exc: Exception) -> None:
        super().__init__(items)
        self.key = key
        self.exc = exc

    def get(self, key: str) -> bytes | None:
        if key == self.key:
            raise self.exc
        return super().get(key)


def test_a_storage_failure_is_no_transaction_result() -> None:
    """A contract bug is the transaction's deterministic ``internal_error``; the
    machine's storage failing under a read is not a result at all: it reaches the
    caller (the audit then exits with ``replay_store`` instead of reporting the chain's
    recorded result as a discrepancy)."""
    h = Harness()
    tx = notary(h, "doc-x")
    bug = FailingState(h.state.items(), "notary/doc-x", KeyError("a bug"))
    assert Executor().execute_block(bug, ctx_of(h), [tx]).results[0]["code"] == "internal_error"
    disk = FailingState(h.state.items(), "notary/doc-x",
                        StorageFailure("replay_store", "disk full"))
    with pytest.raises(StorageFailure, match="disk full"):
        Executor().execute_block(disk, ctx_of(h), [tx])
