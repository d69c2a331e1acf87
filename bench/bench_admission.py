"""CPU time per transaction of the admission path (``node/txpool/admission.py``), the
implementation before 2026-12-07 ("old", kept here as it was) and the current one ("new"),
run alternately. Transactions are ``fcl bench``'s (``notary.record`` with a name and a
SHA-256), received as one ``POST /v1/txs/batch`` body and decoded as the route does
(``decode_json_flagged``). Run::

    .venv/bin/python -m bench.bench_admission [--txs 1000] [--runs 7] [--pad 0]

Figures, in µs per transaction (best of ``--runs``):

* ``parse``: shape checks and the canonical encoding of the payload (old:
  ``parse_transaction``; new: ``parse_transaction_measured``, which also counts the
  decoded memory);
* ``size``: what the mempool charges (old: ``tx_size``, a ``sys.getsizeof`` walk; new:
  ``tx_size`` given the count the parse found);
* ``json_key``: the mempool's proposal lookup key (old: ``tx_json_key``, ``json.dumps`` of
  the whole transaction; new: ``Transaction.canonical_text``);
* ``verified``: the lookup in the node's verified set (old: SHA-256 of the canonical bytes
  at every lookup; new: ``Transaction.canonical_digest``, once per object);
* ``schema (exec)``: ``validate_args`` of ``notary.record``'s arguments, which execution
  runs for every transaction on every validator (old: the implementation kept in
  ``tests/chaincode/test_schema_equivalence.py``);
* ``prepare+enter``: ``Admission.prepare`` then ``Admission.enter`` into an empty mempool
  (signatures not verified: that is the worker threads' part; the store's index is a dict
  and the membership check a constant, so the figures are admission's own work).

``--pad N`` adds a list of N empty objects to each transaction's args (the adversarial
"packed with small JSON objects" shape of the memory guard).
The clock is this thread's CPU time (``time.thread_time``), steady on a shared machine.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

from bench.benchlib import machine, pin_one_core
from chaincode.membership import SignerCheck
from chaincode.schema import Arg, validate_args
from ledger.crypto import PrivateKey, sha256
from ledger.errors import TxError
from ledger.tx import Transaction, build_transaction, parse_transaction, parse_transaction_measured
from node.chain.verified import VerifiedTxs
from node.txpool.admission import Admission, Candidate, decode_json_flagged, decoded_size, tx_size
from node.txpool.mempool import Mempool
from tests.chaincode.test_schema_equivalence import old_validate_args  # the oracle

CHAIN_ID = "bench-chain"


# --------------------------------------------------------------- the old implementation


#: the old walk is still ``node.txpool.admission.decoded_size``, unchanged (admission uses it
#: for payloads the measured parse does not measure): the oracle of the one-walk charge
old_decoded_size = decoded_size


def old_tx_size(tx: Transaction) -> int:
    wire = len(tx.payload_bytes) + 130 * len(tx.signatures) + 32
    return max(wire, old_decoded_size(tx.payload) + 2 * wire)


def old_json_key(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def old_verified_key(tx: Transaction) -> bytes:
    return hashlib.sha256(tx.canonical_bytes).digest()


class OldVerifiedTxs(VerifiedTxs):
    """The verified set keyed as before: SHA-256 of the canonical bytes at every use."""

    def __contains__(self, tx: object) -> bool:
        if not isinstance(tx, Transaction):
            return False
        key = old_verified_key(tx)
        with self._lock:
            return key in self._keys

    def add(self, tx: Transaction) -> None:
        key = old_verified_key(tx)
        with self._lock:
            self._keys[key] = None
            self._keys.move_to_end(key)
            while len(self._keys) > self.max_entries:
                self._keys.popitem(last=False)


class OldMempool(Mempool):
    """``Mempool.add`` as it was (the text key decoded from the canonical bytes)."""

    def add(self, tx: Transaction, size: int, json_key: str | None = None,
            orgs: Sequence[str] = ()) -> None:
        if tx.tx_id in self._txs:
            raise TxError("duplicate_tx", f"transaction {tx.tx_id} is already pending")
        orgs = tuple(dict.fromkeys(orgs))
        self.check_room(size, orgs)
        self._txs[tx.tx_id] = (tx, size, orgs)
        self._bytes += size
        for org_id in orgs:
            self._org_txs[org_id] = self._org_txs.get(org_id, 0) + 1
            self._org_bytes[org_id] = self._org_bytes.get(org_id, 0) + size
        self.verified.add(tx)
        self._by_text[tx.canonical_bytes.decode("utf-8")] = tx
        if json_key is not None:
            self._by_json[json_key] = tx
            self._json_of[tx.tx_id] = json_key


class OldAdmission(Admission):
    """``prepare`` as it was (``enter`` is unchanged; the old mempool and verified set
    make its old cost)."""

    def prepare(self, obj: Any, *, floats: bool = True) -> Candidate:
        tx = parse_transaction(obj, chain_id=self.chain_id)
        self._not_duplicate(tx)
        signers = self._signers(tx)
        size = old_tx_size(tx)
        self.mempool.check_room(size, signers.orgs)
        return Candidate(tx, signers.orgs, size, old_json_key(obj), tx in self.verified)


# ----------------------------------------------------------------------------- harness


class Index:
    def get_tx_location(self, tx_id: str) -> tuple[int, int] | None:
        return None

    def get(self, key: str) -> bytes | None:
        return None


def batch_body(n: int, pad: int) -> bytes:
    key = PrivateKey(b"\x07" * 32)
    parts = []
    for i in range(n):
        args: dict[str, Any] = {"name": f"b1-{i}", "sha256": sha256(f"1:{i}".encode()).hex()}
        if pad:
            args["pad"] = [{} for _ in range(pad)]
        tx = build_transaction(chain_id=CHAIN_ID, contract="notary", method="record",
                               args=args, nonce="bench", keys=[key])
        parts.append(tx.canonical_bytes)
    return b'{"txs":[' + b",".join(parts) + b"]}"


def admission(old: bool) -> Admission:
    if old:
        pool: Mempool = OldMempool(max_txs=10**6, max_bytes=10**12, verified=OldVerifiedTxs())
    else:
        pool = Mempool(max_txs=10**6, max_bytes=10**12)
    cls = OldAdmission if old else Admission
    return cls(CHAIN_ID, Index(), pool, signer_check=lambda s: SignerCheck(("org-a",), None))


def cpu_us(fn: Callable[[], object], n: int) -> float:
    start = time.thread_time()
    fn()
    return (time.thread_time() - start) / n * 1e6


def items(body: bytes) -> list[Any]:
    return list(decode_json_flagged(body)[0]["txs"])


def one_run(body: bytes, n: int, record: Callable[[str, str, float], None]) -> None:
    """One measurement of every row, old and new alternately."""
    decode_us = cpu_us(lambda: decode_json_flagged(body), n)
    record("decode (route)", "old", decode_us)
    record("decode (route)", "new", decode_us)
    objs, objs2 = items(body), items(body)
    record("parse", "old", cpu_us(lambda: [parse_transaction(o, chain_id=CHAIN_ID)
                                            for o in objs], n))
    measured: list[tuple[Transaction, int | None]] = []
    record("parse", "new", cpu_us(lambda: measured.extend(
        parse_transaction_measured(o, chain_id=CHAIN_ID) for o in objs2), n))
    txs = [tx for tx, _ in measured]
    record("size", "old", cpu_us(lambda: [old_tx_size(tx) for tx in txs], n))
    record("size", "new", cpu_us(lambda: [tx_size(tx, held) for tx, held in measured], n))
    record("json_key", "old", cpu_us(lambda: [old_json_key(o) for o in objs], n))
    record("json_key", "new", cpu_us(lambda: [tx.canonical_text for tx in txs], n))
    # two uses per admitted transaction: the lookup in prepare, the record in enter
    record("verified (x2)", "old",
           cpu_us(lambda: [(old_verified_key(tx), old_verified_key(tx)) for tx in txs], n))
    record("verified (x2)", "new",
           cpu_us(lambda: [(tx.canonical_digest, tx.canonical_digest) for tx in txs], n))
    # the argument schema of notary.record, as execution checks it (every validator)
    schema = {"name": Arg("id"), "sha256": Arg("hex32"),
              "note": Arg("str", required=False, max=256)}
    record("schema (exec)", "old",
           cpu_us(lambda: [old_validate_args(schema, tx.args) for tx in txs], n))
    record("schema (exec)", "new", cpu_us(lambda: [validate_args(schema, tx.args) for tx in txs], n))
    for which in ("old", "new"):
        adm = admission(which == "old")
        fresh = items(body)

        def run(adm: Admission = adm, fresh: list[Any] = fresh) -> None:
            for obj in fresh:
                adm.enter(adm.prepare(obj, floats=False))

        record("prepare+enter", which, cpu_us(run, n))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--txs", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--pad", type=int, default=0)
    args = parser.parse_args()
    pin_one_core()
    body = batch_body(args.txs, args.pad)

    n = args.txs
    results: dict[str, dict[str, list[float]]] = {}

    def record(name: str, which: str, value: float) -> None:
        results.setdefault(name, {"old": [], "new": []})[which].append(value)

    for _ in range(args.runs):
        one_run(body, n, record)

    print(machine())
    print(f"admission path, {n} txs (pad {args.pad}), best of {args.runs}: CPU µs per tx")
    print(f"{'':16} {'old':>8} {'new':>8} {'saved':>7}")
    for name, row in results.items():
        old, new = min(row["old"]), min(row["new"])
        print(f"{name:16} {old:8.2f} {new:8.2f} {100 * (old - new) / old:6.0f}%"
              f"   (median {statistics.median(row['old']):.2f} / "
              f"{statistics.median(row['new']):.2f})")


if __name__ == "__main__":
    main()
