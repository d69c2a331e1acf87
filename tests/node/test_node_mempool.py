"""node.txpool.mempool and node.txpool.admission."""

from __future__ import annotations

import json

import pytest

from ledger.errors import TxError
from ledger.tx import MAX_TX_BYTES
from node.txpool.admission import MAX_RAW_TX_BYTES, Admission, decode_json, find_float, tx_size
from node.txpool.mempool import Mempool
from tests.support.common import CHAIN_ID, det_key, notary_tx

KEY = det_key("mempool")


def txs(n: int, prefix: str = "t"):
    return [notary_tx(KEY, f"{prefix}{i}") for i in range(n)]


def test_fifo_reap_does_not_remove_and_respects_limits() -> None:
    pool = Mempool()
    batch = txs(5)
    for tx in batch:
        pool.add(tx, 100)
    assert len(pool) == 5 and pool.size_bytes == 500
    assert pool.reap(3, 10_000) == batch[:3]
    assert pool.reap(10, 250) == batch[:2]
    assert pool.reap(10, 50) == batch[:1]  # always at least one
    assert pool.reap(0, 10_000) == []
    assert len(pool) == 5
    assert pool.remove([batch[0].tx_id, batch[2].tx_id, "ff" * 32]) == 2
    assert pool.reap(10, 10_000) == [batch[1], batch[3], batch[4]]
    assert pool.size_bytes == 300
    assert batch[1].tx_id in pool and batch[0].tx_id not in pool
    assert pool.get(batch[1].tx_id) == batch[1] and pool.get(batch[0].tx_id) is None


def test_dedupe_and_bounds_change_nothing_when_refused() -> None:
    pool = Mempool(max_txs=2, max_bytes=250)
    a, b, c = txs(3)
    pool.add(a, 100)
    with pytest.raises(TxError) as err:
        pool.add(a, 100)
    assert err.value.code == "duplicate_tx"
    with pytest.raises(TxError) as err:
        pool.add(b, 200)
    assert err.value.code == "mempool_full"
    pool.add(b, 100)
    with pytest.raises(TxError) as err:
        pool.add(c, 1)
    assert err.value.code == "mempool_full"
    assert pool.reap(10, 10_000) == [a, b] and pool.size_bytes == 200


def test_a_pooled_transaction_is_verified_by_its_signed_bytes() -> None:
    from ledger.tx import parse_transaction

    pool = Mempool()
    tx = notary_tx(KEY, "v")
    assert tx not in pool.verified
    pool.add(tx, 10)
    assert tx in pool.verified
    other = parse_transaction({"payload": dict(tx.payload), "signatures": ["00" * 64]})
    assert other.tx_id == tx.tx_id and other not in pool.verified


class Index:
    def __init__(self) -> None:
        self.committed: dict[str, tuple[int, int]] = {}

    def get_tx_location(self, tx_id: str):
        return self.committed.get(tx_id)


@pytest.fixture
def adm() -> Admission:
    return Admission(CHAIN_ID, Index(), Mempool(max_txs=3))


def raw(tx) -> bytes:
    return json.dumps(tx.to_json()).encode()


def expect(adm: Admission, body: bytes, code: str, text: str = "") -> None:
    before = (len(adm.mempool), adm.mempool.size_bytes)
    with pytest.raises(TxError) as err:
        adm.admit_raw(body)
    assert err.value.code == code, err.value.message
    assert text in err.value.message
    assert (len(adm.mempool), adm.mempool.size_bytes) == before


def test_admit_good_transaction(adm: Admission) -> None:
    tx = notary_tx(KEY, "ok")
    assert adm.admit_raw(raw(tx)) == tx
    assert adm.mempool.get(tx.tx_id) == tx
    assert adm.mempool.size_bytes == tx_size(tx)
    assert tx in adm.mempool.verified


def test_admission_refusals(adm: Admission) -> None:
    tx = notary_tx(KEY, "r")
    good = tx.to_json()
    # the raw size is bounded where the bytes enter (the HTTP route, tests/node/test_rpc.py);
    # admission still refuses what does not decode
    expect(adm, b"x" * (MAX_RAW_TX_BYTES + 1), "malformed_json")
    expect(adm, b"{not json", "malformed_json")
    expect(adm, b"\xff\xfe", "malformed_json")
    expect(adm, b'{"a": NaN}', "malformed_json")
    expect(adm, b'{"a": 1, "a": 2}', "malformed_json", "duplicate")
    expect(adm, b"[" * 5000 + b"]" * 5000, "malformed_json")
    payload = dict(good["payload"], args={"name": "r", "sha256": "00" * 32, "area": 1.5})
    expect(adm, json.dumps({"payload": payload, "signatures": good["signatures"]}).encode(),
           "malformed_tx", "payload.args.area")
    expect(adm, b"[]", "malformed_tx")
    expect(adm, json.dumps({"payload": good["payload"]}).encode(), "malformed_tx")
    payload = dict(good["payload"], args={"big": 2**60})
    expect(adm, json.dumps({"payload": payload, "signatures": good["signatures"]}).encode(),
           "malformed_tx", "payload.args.big")
    big = {"payload": dict(good["payload"], args={"note": "x" * MAX_TX_BYTES}),
           "signatures": good["signatures"]}
    expect(adm, json.dumps(big).encode(), "tx_too_large")
    expect(adm, raw(notary_tx(KEY, "r", chain_id="fcl-elsewhere")), "wrong_chain")
    forged = {"payload": good["payload"], "signatures": ["11" * 64]}
    expect(adm, json.dumps(forged).encode(), "bad_signature")


def test_replays_are_refused(adm: Admission) -> None:
    tx = notary_tx(KEY, "replay")
    adm.admit_raw(raw(tx))
    expect(adm, raw(tx), "duplicate_tx", "pending")
    committed = notary_tx(KEY, "old")
    adm.index.committed[committed.tx_id] = (7, 0)
    expect(adm, raw(committed), "duplicate_tx", "height 7")


def test_full_mempool_is_refused_before_verifying(adm: Admission) -> None:
    for tx in txs(3, "fill"):
        adm.admit_raw(raw(tx))
    expect(adm, raw(notary_tx(KEY, "one-more")), "mempool_full")


def test_find_float_paths() -> None:
    value = decode_json(b'{"a": [1, {"b": 2.0}], "c": 3e5}')
    assert find_float(value) == ("a[1].b", "2.0")
    assert find_float(decode_json(b"1.5")) == ("<root>", "1.5")
    assert find_float(decode_json(b'{"x": [1, 2, "3.5"]}')) is None
