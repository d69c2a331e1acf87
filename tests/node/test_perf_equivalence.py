"""The pipeline's fast paths change no consensus-visible byte.

Two kinds of proof:

* **Golden values** recorded with the code as it was *before* the fast paths went in
  (commit f75d03b plus the working tree of that day): block hashes of fixed scenarios
  (every header commits to its transactions root, results root and state root, and the
  state root to every value written), the canonical bytes of a corpus of values, and a
  node's stored blocks. Each scenario is deterministic (fixed keys, nonces and times;
  Ed25519 signatures are deterministic).
* **Differential tests** against verbatim copies of the previous implementations
  (``_ref_*`` below): canonical encoding and decoding, including every refusal (same
  field path, same reason), and the copy-on-write overlay.

If a consensus rule is changed on purpose, the golden values change with it: regenerate
them with ``python -m tests.node.test_perf_equivalence`` (it prints the new values) and say so
in the change.
"""

from __future__ import annotations

import collections
import enum
import json
import sys
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chaincode.executor import Executor
from chaincode.framework import BlockContext, SignerCache, TxContext, lookup_signer
from chaincode.validator_state import validator_set_for
from ledger.block import Block, BlockHeader, results_root, tx_result, txs_root
from ledger.crypto import PrivateKey, sha256, sha256_hex
from ledger.encoding import (
    MAX_SAFE_INTEGER,
    CanonicalEncodingError,
    canonical,
    canonical_str,
    decode,
)
from ledger.errors import TxError
from ledger.genesis import Genesis
from ledger.merkle import AppendOnlyMerkleTree, merkle_root
from ledger.state import MemoryState, Overlay, WriteSet, state_root_of
from ledger.state_tree import MemoryNodeStore, StateTree
from ledger.store import Store
from ledger.tx import Transaction, build_transaction, parse_transaction
from node.chain.app import Application
from node.driver.solo import SoloDriver
from node.txpool.mempool import Mempool
from tests.support.carbon_market import (
    ANHUI_PINE_RING,
    ANHUI_RING,
    Market,
    area_ha,
    h256,
    polygon,
    square,
)
from tests.support.harness import CHAIN_ID, Harness, det_key

# ---------------------------------------------------------------------------------------
# verbatim copies of the implementations before the fast paths (the reference behaviour)
# ---------------------------------------------------------------------------------------
_REF_MAX_DEPTH = 64


def _ref_join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _ref_check_string(value: str, path: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise CanonicalEncodingError(path, "string is not valid Unicode (lone surrogate)") from exc
    if not unicodedata.is_normalized("NFC", value):
        raise CanonicalEncodingError(path, "string is not in Unicode normalisation form NFC")


def _ref_normalise(value: Any, path: str, depth: int) -> Any:
    if depth > _REF_MAX_DEPTH:
        raise CanonicalEncodingError(path, f"nesting deeper than {_REF_MAX_DEPTH} levels")
    if value is None or value is True or value is False:
        return value
    if isinstance(value, int):
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            raise CanonicalEncodingError(path, "integer outside +/-(2^53-1)")
        return int(value)
    if isinstance(value, str):
        _ref_check_string(value, path)
        return value
    if isinstance(value, float):
        raise CanonicalEncodingError(
            path, "floats are not allowed; use an integer or a decimal string"
        )
    if isinstance(value, list):
        return [_ref_normalise(item, _ref_join(path, i), depth + 1) for i, item in enumerate(value)]
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise CanonicalEncodingError(path, f"object key {key!r} is not a string")
            _ref_check_string(key, _ref_join(path, key))
        ordered = sorted(value, key=lambda k: k.encode("utf-16-be"))
        return {key: _ref_normalise(value[key], _ref_join(path, key), depth + 1) for key in ordered}
    raise CanonicalEncodingError(path, f"values of type {type(value).__name__} are not allowed")


def _ref_canonical(value: Any) -> bytes:
    return json.dumps(
        _ref_normalise(value, "", 0), ensure_ascii=False, separators=(",", ":"), allow_nan=False
    ).encode("utf-8")


def _ref_reject_float(text: str) -> Any:
    raise CanonicalEncodingError("", f"floats are not allowed (found {text})")


def _ref_reject_constant(text: str) -> Any:
    raise CanonicalEncodingError("", f"{text} is not allowed")


def _ref_decode(data: bytes | str) -> Any:
    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, val in pairs:
            if key in out:
                raise CanonicalEncodingError(key, "duplicate object key")
            out[key] = val
        return out

    try:
        value = json.loads(
            data,
            parse_float=_ref_reject_float,
            parse_constant=_ref_reject_constant,
            object_pairs_hook=no_duplicates,
        )
    except CanonicalEncodingError:
        raise
    except (ValueError, UnicodeDecodeError) as exc:
        raise CanonicalEncodingError("", f"not valid JSON: {exc}") from exc
    _ref_normalise(value, "", 0)
    return value


class _RefOverlay:
    """The overlay before the sorted index (iter_prefix sorted every write per call)."""

    def __init__(self, base: Any) -> None:
        self._base = base
        self._writes: dict[str, bytes | None] = {}

    def get(self, key: str) -> bytes | None:
        if key in self._writes:
            return self._writes[key]
        return self._base.get(key)

    def put(self, key: str, value: bytes) -> None:
        self._writes[key] = value

    def delete(self, key: str) -> None:
        self._writes[key] = None

    def iter_prefix(self, prefix: str) -> Any:
        mine = sorted(k for k in self._writes if k.startswith(prefix))
        j = 0
        for key, value in self._base.iter_prefix(prefix):
            while j < len(mine) and mine[j] < key:
                v = self._writes[mine[j]]
                if v is not None:
                    yield mine[j], v
                j += 1
            if j < len(mine) and mine[j] == key:
                v = self._writes[key]
                if v is not None:
                    yield key, v
                j += 1
            else:
                yield key, value
        while j < len(mine):
            v = self._writes[mine[j]]
            if v is not None:
                yield mine[j], v
            j += 1

    def child(self) -> _RefOverlay:
        return _RefOverlay(self)

    def commit(self) -> None:
        self._base._writes.update(self._writes)
        self._writes = {}

    def write_set(self) -> list[tuple[str, bytes | None]]:
        return sorted(self._writes.items())


def _outcome(fn: Any, *args: Any) -> tuple[str, Any]:
    """``("ok", value)`` or ``("error", (type, path, reason))`` -- comparable across
    implementations."""
    try:
        return "ok", fn(*args)
    except CanonicalEncodingError as exc:
        return "error", ("CanonicalEncodingError", exc.path, exc.reason, str(exc))


# ---------------------------------------------------------------------------------------
# scenarios
# ---------------------------------------------------------------------------------------
class Color(enum.IntEnum):
    RED = 1


class Text(str):
    pass


class Items(list):  # type: ignore[type-arg]
    pass


CORPUS: list[Any] = [
    None, True, False, 0, 1, -1, MAX_SAFE_INTEGER, -MAX_SAFE_INTEGER, "", "a", "é", "\u00e9\u4e2d",
    "\U0001f600", '"\\\n\t\x00\x1f\x7f\u2028', [], {}, [[]], {"": {}},
    {"b": [1, True, None], "a": "é"},
    {"\ufb01": 1, "\U0001f600": 2, "a": 3, "\u00e9": 4, "Z": 5, "\uffff": 6, "\ud7ff": 7},
    {"payload": {"args": {"k": "v"}, "chain_id": "c"}, "signatures": ["ab", "cd"]},
    {"nested": {"z": [{"y": 1, "x": [2, {"w": "中文"}]}], "a": None}},
    [Color.RED, Text("sub"), Items([1, 2]), collections.OrderedDict([("b", 1), ("a", 2)])],
    {"x": True, "y": False, "n": None, "i": -(2**40), "s": "\u212b"[0:0] + "\u00c5"},
]


def _deep(levels: int, leaf: Any) -> Any:
    value = leaf
    for _ in range(levels):
        value = [value]
    return value


CORPUS += [_deep(64, 1), _deep(64, []), _deep(63, {"a": 1}), _deep(64, {})]

BAD_CORPUS: list[Any] = [
    {"args": {"area": 1.5}}, {"x": [1, float("nan")]}, {"x": b"bytes"}, {1: "non-string key"},
    {"big": 2**53}, {"small": -(2**53)}, {"s": "e\u0301"}, {"s": "\ud800"}, {"t": (1, 2)},
    {"set": {1}}, {"k\u0301": 1}, {"\udc00": 1}, _deep(65, 1), _deep(65, []), _deep(100, 1),
    {"a": {"b": [0, {"c": 2**60}]}}, {"é": {"ü": 1.0}}, [{"ok": 1}, {"z": object()}],
    {"a": 1, 2: 3}, 1.0, b"", Color, [True, 2**53 + 1],
]


def corpus_digest() -> dict[str, Any]:
    ok = [sha256_hex(canonical(v)) for v in CORPUS]
    errors = [list(_outcome(canonical, v)[1][1:3]) for v in BAD_CORPUS]
    return {"ok": ok, "errors": errors}


class HeaderHarness(Harness):
    """A Harness that also builds each block's header the way a node does."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.prev_hash = self.genesis.hash
        self.history = AppendOnlyMerkleTree()
        self.headers: list[BlockHeader] = []

    def run_block(self, txs: Any, time_step_ms: int = 1000) -> list[dict[str, Any]]:
        txs = list(txs)
        validators = validator_set_for(self.state, self.height + 1)
        results = super().run_block(txs, time_step_ms)
        header = BlockHeader(
            chain_id=CHAIN_ID,
            height=self.height,
            time=self.time,
            prev_hash=self.prev_hash,
            txs_root=txs_root(txs),
            results_root=results_root(results),
            state_root=self.state_root,
            validators_hash=validators.hash(),
            next_validators_hash=validator_set_for(self.state, self.height + 1).hash(),
            proposer=self.validator_key.public_key_hex,
            history_root=self.history.root().hex(),
        )
        self.headers.append(header)
        self.prev_hash = header.hash()
        self.history.append(bytes.fromhex(self.prev_hash))
        return results


def lifecycle_scenario() -> list[str]:
    """The carbon lifecycle (enrolment to retirement, with refusals), one transaction per
    block; returns the block hashes."""
    h = HeaderHarness()
    m = Market(harness=h)
    cement, clerk = "buyer-cement", "buyer-cement-clerk"
    h.call("regulator", "membership", "enrol_org", {
        "org_id": cement, "name": "Anhui Conch Cement (test)", "roles": ["buyer"],
        "admins": [h.key(cement).public_key_hex]})
    h.call(cement, "membership", "enrol_key", {"org_id": cement,
                                               "pub_key": h.key(clerk).public_key_hex})
    plots = ["AH-FIR-01", "AH-PINE-01"]
    for plot_id, ring, species, doc in ((plots[0], ANHUI_RING, "chinese_fir", "皖(2019)第0001号"),
                                        (plots[1], ANHUI_PINE_RING, "masson_pine", "皖第0002号")):
        m.call("owner-farm", "register_plot", {
            "plot_id": plot_id, "polygon": polygon(ring), "declared_area_ha": area_ha(ring),
            "county_code": "340122",
            "tenure": {"doc_type": "forest_right_cert", "doc_number": doc,
                       "scan_sha256": h256("tenure-scan:" + plot_id)},
            "species": species, "planting_date": "2017-11-20",
            "non_forest_evidence": {"sha256": h256("landsat:" + plot_id), "years": 4}})
    m.call("owner-farm", "submit_project", {
        "project_id": "AH-0001", "name": "肥东县造林碳汇项目 (Feidong afforestation)",
        "methodology": "CCER-14-001-V01", "plots": plots, "start_date": "2018-01-01",
        "crediting_period_years": 30, "baseline": "0", "risk_rating": "medium",
        "pdd_sha256": h256("pdd"),
        "comment_window": {"start_date": "2023-09-01", "end_date": "2023-09-28"}})
    m.call("verifier-a", "attest_validation", {
        "attestation_id": "VAL-2023-017", "project_id": "AH-0001", "pdd_sha256": h256("pdd"),
        "positive": True, "site_visit_date": "2023-06-20"})
    m.call("verifier-a", "register_project", {"project_id": "AH-0001"})  # unauthorized
    m.call("regulator", "register_project", {"project_id": "AH-0001"})
    rows = [(plots[0], "chinese_fir", "0", "2500"), (plots[1], "masson_pine", "0", "300")]
    m.call("owner-farm", "submit_monitoring_report", {
        "report_id": "MR-2022", "project_id": "AH-0001", "period_start": "2018-01-01",
        "period_end": "2022-12-31",
        "measurements": [{"plot_id": p, "species": s, "volume_start": a, "volume_end": b}
                         for p, s, a, b in rows],
        "parameters": {"baseline": "0", "leakage": "0", "project_emissions": "0"},
        "claimed_issuable": 3315, "report_sha256": h256("mr")})
    m.call("verifier-b", "attest_verification", {
        "attestation_id": "VER-2023-044", "report_id": "MR-2022", "report_sha256": h256("mr"),
        "verified_quantity": 3315, "site_visit_date": "2023-07-11"})
    m.call("regulator", "issue", {"report_id": "MR-2022", "batch_id": "AH-0001-B1"})
    lid = h.returned(m.call("owner-farm", "create_listing", {
        "quantity": 800, "price": "68.50", "exchange_org": "exchange"})).get("listing_id", "x")
    m.call("exchange", "match_trade", {
        "listing_id": lid, "buyer_org": "buyer-steel", "quantity": 500, "price": "68.50",
        "settlement_ref": "AHEX-20231115-0001"})
    m.call("owner-farm", "cancel_listing", {"listing_id": lid})
    m.call("owner-farm", "transfer", {"from_org": "owner-farm", "to_org": cement,
                                      "quantity": 1000})  # missing signature
    m.call(["owner-farm", clerk], "transfer", {
        "from_org": "owner-farm", "to_org": cement, "quantity": 1000,
        "settlement_ref": "OTC-2023-0042", "price": "66"})
    h.call("regulator", "carbon", "record_obligation",
           {"enterprise_org": cement, "period": "2025", "obligation_tonnes": 12_000})
    m.call(clerk, "retire_compliance", {"period": "2025", "quantity": 450})
    m.call(clerk, "retire_compliance", {"period": "2025", "quantity": 151})  # cap
    m.call("buyer-steel", "retire_voluntary", {"quantity": 100, "beneficiary": "Ma'anshan Steel",
                                               "reason": "2023 product carbon label"})
    m.call("regulator", "record_loss_event", {
        "project_id": "AH-0001", "quantity": 60, "cause": "fire",
        "evidence_sha256": h256("fire"), "description": "compartment 7"})
    m.call("regulator", "freeze", {"project_id": "AH-0001", "first": 2001, "last": 2100,
                                   "reason": "tenure dispute"})
    m.call("regulator", "unfreeze", {"project_id": "AH-0001", "first": 2001, "last": 2100,
                                     "reason": "settled"})
    m.call("regulator", "invalidate", {"project_id": "AH-0001", "first": 2801, "last": 2810,
                                       "reason": "double-counted parcel",
                                       "evidence_sha256": h256("audit")})
    m.call("regulator", "accrue_subsidy", {"batch_id": "AH-0001-B1"})
    m.call(clerk, "retire_compliance", {"period": "2025", "quantity": 150})
    m.call("buyer-steel", "retire_voluntary", {
        "quantity": 50, "beneficiary": "Hefei Marathon 2024", "reason": "event footprint"})
    return [header.hash() for header in h.headers]


def notary_blocks_scenario() -> list[str]:
    """Blocks of many transactions: notary records that succeed and fail (duplicates in
    one block, unknown signers, bad and non-ASCII arguments, unknown methods), key
    enrolment and revocation with later use of those keys in the same block, an
    organisation suspended mid-block, and parameter and carbon calls that iterate state."""
    h = HeaderHarness()
    m = Market(harness=h)
    stranger = det_key("stranger")

    def notary(signer: str, name: str, note: Any = None, **extra: Any) -> Transaction:
        args: dict[str, Any] = {"name": name, "sha256": h256(name), **extra}
        if note is not None:
            args["note"] = note
        return h.make_tx(signer, "notary", "record", args)

    clerk = "owner-farm-clerk"
    block1 = [
        notary("regulator", "doc-1", "survey of plot 17"),
        notary("owner-farm", "doc-2", "林权证扫描件 🌲 Å"),
        notary("owner-farm", "doc-1"),  # already recorded in this block
        h.make_tx("owner-farm", "membership", "enrol_key",
                  {"org_id": "owner-farm", "pub_key": h.key(clerk).public_key_hex}),
        notary(clerk, "doc-3", "by the new clerk key"),
        h.make_tx("owner-farm", "notary", "record", {"name": "doc-4", "sha256": "00" * 32,
                                                     "\ufb01": 1, "\U0001f600": 2}),
        h.make_tx("owner-farm", "notary", "nope", {}),
        h.make_tx("owner-farm", "nocontract", "record", {}),
        notary("verifier-a", "doc-5", "x" * 300),  # note too long
    ]
    block1.append(build_transaction(
        chain_id=CHAIN_ID, contract="notary", method="record",
        args={"name": "doc-6", "sha256": h256("doc-6")}, nonce="stranger-1", keys=[stranger]))
    h.run_block(block1)
    block2 = [
        h.make_tx(clerk, "membership", "revoke_key", {"pub_key": h.key(clerk).public_key_hex}),
        h.make_tx("owner-farm", "membership", "revoke_key",
                  {"pub_key": h.key(clerk).public_key_hex, "reason": "left the company"}),
        notary(clerk, "doc-7"),  # revoked in this block
        h.make_tx("regulator", "membership", "update_org_status",
                  {"org_id": "coop", "status": "suspended", "reason": "audit"}),
        notary("coop", "doc-8"),  # suspended in this block
        h.make_tx("regulator", "params", "set_param",
                  {"name": "subsidy_rate", "value": "35", "reason": "2024 policy"}),
        h.make_tx("regulator", "membership", "update_org_status",
                  {"org_id": "coop", "status": "active"}),
        notary("coop", "doc-9", "back again"),
    ]
    block2 += [notary("buyer-steel", f"bulk-{i:03d}", f"note {i} ü") for i in range(40)]
    h.run_block(block2)
    # carbon calls that scan state (plots overlap checks, unit ranges) in one block
    block3 = []
    for i in range(6):
        plot_id = f"SQ-{i}"
        ring = square(i)
        block3.append(h.make_tx("owner-farm" if i % 2 else "coop", "carbon", "register_plot", {
            "plot_id": plot_id, "polygon": polygon(ring), "declared_area_ha": area_ha(ring),
            "county_code": "340122",
            "tenure": {"doc_type": "forest_right_cert", "doc_number": f"皖林权{plot_id}",
                       "scan_sha256": h256("scan:" + plot_id)},
            "species": "chinese_fir", "planting_date": "2017-11-20",
            "non_forest_evidence": {"sha256": h256("nf:" + plot_id), "years": 3}}))
    block3.append(block3[0])  # the same transaction twice: plot exists
    h.run_block(block3)
    m.plots.update({f"SQ-{i}": {"owner": "owner-farm", "ring": square(i),
                                "species": "chinese_fir"} for i in (1, 3)})
    m.project("PRJ-1", plots=[("SQ-1", "chinese_fir"), ("SQ-3", "chinese_fir")])
    m.issue("PRJ-1", "PRJ-1-B1", volume="250")
    block4 = []
    for i in range(5):
        block4.append(h.make_tx("owner-farm", "carbon", "create_listing",
                                {"quantity": 3 + i, "price": "50", "exchange_org": "exchange"}))
        block4.append(h.make_tx(["owner-farm", "buyer-power"], "carbon", "transfer",
                                {"from_org": "owner-farm", "to_org": "buyer-power",
                                 "quantity": 2 + i}))
    block4.append(h.make_tx("buyer-power", "carbon", "retire_voluntary",
                            {"quantity": 3, "beneficiary": "Power Co", "reason": "test"}))
    h.run_block(block4)
    return [header.hash() for header in h.headers]


def node_scenario(tmp: Path) -> dict[str, Any]:
    """A node (Application over a LevelDB store) building and committing notary blocks:
    block hashes, the stored block bytes and the state root."""
    validator = _equiv_key("node-validator")
    regulator = _equiv_key("node-regulator")
    genesis = Genesis.from_json({
        "chain_id": "fcl-equiv", "genesis_time": 1_700_000_000_000,
        "validators": [{"name": "v0", "pub_key": validator.public_key_hex, "power": 1}],
        "app_state": {"organisations": [
            {"id": "regulator", "name": "R", "roles": ["regulator"], "accreditation": None,
             "admins": [regulator.public_key_hex], "members": []}], "params": {}}})
    store = Store(tmp / "store")
    try:
        mempool = Mempool(max_txs=10**6, max_bytes=2**30)
        app = Application(store, Executor(), genesis, verified=mempool.verified)
        driver = SoloDriver(app, mempool, validator, max_block_txs=25)
        hashes = []
        stored = []
        for b in range(3):
            for i in range(25):
                n = b * 25 + i
                tx = build_transaction(
                    chain_id="fcl-equiv", contract="notary", method="record",
                    args={"name": f"n-{n % 60}", "note": f"survey {n} ünïcode",
                          "sha256": sha256(str(n).encode()).hex()},
                    nonce=f"nonce-{n}", keys=[regulator])
                tx = parse_transaction(json.loads(json.dumps(tx.to_json())), chain_id="fcl-equiv")
                tx.verify_signatures()
                mempool.add(tx, len(tx.payload_bytes))
            batch = mempool.reap(25, 2**30)
            block, writes = app.build_block(batch, app.tip.time + 1000,
                                            validator.public_key_hex)
            cert = driver.sign_commit(block)
            app.commit_block(block, cert, writes)
            mempool.remove(tx.tx_id for tx in batch)
            hashes.append(block.hash())
            raw = store.get_block_json(block.height)
            stored.append(sha256_hex(raw if isinstance(raw, bytes) else raw.encode("utf-8")))
        return {"hashes": hashes, "stored": stored, "state_root": app.tip.state_root}
    finally:
        store.close()


def _equiv_key(name: str) -> PrivateKey:
    return PrivateKey(sha256(b"fcl-equiv:" + name.encode()))


def golden_now(tmp: Path) -> dict[str, Any]:
    return {
        "corpus": corpus_digest(),
        "lifecycle": lifecycle_scenario(),
        "notary_blocks": notary_blocks_scenario(),
        "node": node_scenario(tmp),
    }


# ---------------------------------------------------------------------------------------
# golden values, recorded before the fast paths; lifecycle, notary_blocks and node
# regenerated when the state root became the state tree's root (issue 12), and again
# when the per-account holding counters were added (issue 13:
# stats/holding/<account>/<batch_id>)
# ---------------------------------------------------------------------------------------
GOLDEN: dict[str, Any] = {
    "corpus": {
        "ok": [
            "74234e98afe7498fb5daf1f36ac2d78acc339464f950703b8c019892f982b90b",
            "b5bea41b6c623f7c09f1bf24dcae58ebab3c0cdd90ad966bc43a45b44867e12b",
            "fcbcf165908dd18a9e49f7ff27810176db8e9f63b4352213741664245224f8aa",
            "5feceb66ffc86f38d952786c6d696c79c2dbc239dd4e91b46729d73a27fb57e9",
            "6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b",
            "1bad6b8cf97131fceab8543e81f7757195fbb1d36b376ee994ad1cf17699c464",
            "f40b423c2dd95ff2b2f027e22208f438cf7242862e5e746860e697308c9add26",
            "4c933a456bb8f2e9894b2d0b26480439cd72d52fb8a27cbf8fd7f323f22c7815",
            "12ae32cb1ec02d01eda3581b127c1fee3b0dc53572ed6baf239721a03d82e126",
            "ac8d8342bbb2362d13f0a559a3621bb407011368895164b628a54f7fc33fc43c",
            "f2886017e9c7abacf804b54d64787dce2b611c9544ba21f3affdd126a6e50086",
            "19baed9542afa72e04fdd2b845b9354f0067bfd47cb6f5723354d37fc8f73e0c",
            "7a0c50b92434b015545fe93ab723db2d4b2cdd14a441405624a9ce8be29f1d5a",
            "e07b8f0872807ba4bf0a9a5068f0be9b0567163ffb1f5d5736ef7701863b25f2",
            "4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945",
            "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
            "cf1cbb66a638b4860a516671fb74850e6ccf787fe6c4c8d29e9c04efe880bd05",
            "53ed392aab7233d10f2fc1915f8d15da641501c8b04ee20cb89ab851380188ec",
            "170409917e32971e79e71df2c0a04cc84c3c089ef0c7c2a94dbde72cafebd52d",
            "e1cfa7b470ef077b6162816758beb4144183f4638b934dde7d0bcba454b8aa22",
            "b632334ac44c144f4ba190dd386a4170aeb6deae03912e398d8400392b719d06",
            "3e878534b9320ca477f4bb01d8679eabcc7f9e24b5d6cb828df26991baa9c083",
            "f0a961bd666fbee5b871a8bb01a8b0d4ca1c811cc10cc638d7251d2a83824466",
            "2c7aab83d596ba09b23b5e6ac2e5b02a7ac5015b27d07c12b24c9d0e98d67279",
            "36127fd491fb6253bca865d070b1c735abaf9d9b4d8a225ea3392e9c36ad193a",
            "d3ee90dfd8c7ae285b99965bc228314571a3a09deb168b69aa871a2d5bcef236",
            "d3c4abd407fedd37ac45d9deca6ef9ad95da0d002ea15e1e7b9168bb73507d92",
            "3147a2c3832a9f5fc4543bd86c66e410caa35f1f980e8a42c7f293d7a8de5410"
        ],
        "errors": [
            [
                "args.area",
                "floats are not allowed; use an integer or a decimal string"
            ],
            [
                "x[1]",
                "floats are not allowed; use an integer or a decimal string"
            ],
            [
                "x",
                "values of type bytes are not allowed"
            ],
            [
                "",
                "object key 1 is not a string"
            ],
            [
                "big",
                "integer outside +/-(2^53-1)"
            ],
            [
                "small",
                "integer outside +/-(2^53-1)"
            ],
            [
                "s",
                "string is not in Unicode normalisation form NFC"
            ],
            [
                "s",
                "string is not valid Unicode (lone surrogate)"
            ],
            [
                "t",
                "values of type tuple are not allowed"
            ],
            [
                "set",
                "values of type set are not allowed"
            ],
            [
                "k\u0301",
                "string is not in Unicode normalisation form NFC"
            ],
            [
                "\udc00",
                "string is not valid Unicode (lone surrogate)"
            ],
            [
                "[0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0]",
                "nesting deeper than 64 levels"
            ],
            [
                "[0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0]",
                "nesting deeper than 64 levels"
            ],
            [
                "[0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0]",
                "nesting deeper than 64 levels"
            ],
            [
                "a.b[1].c",
                "integer outside +/-(2^53-1)"
            ],
            [
                "\u00e9.\u00fc",
                "floats are not allowed; use an integer or a decimal string"
            ],
            [
                "[1].z",
                "values of type object are not allowed"
            ],
            [
                "",
                "object key 2 is not a string"
            ],
            [
                "",
                "floats are not allowed; use an integer or a decimal string"
            ],
            [
                "",
                "values of type bytes are not allowed"
            ],
            [
                "",
                "values of type EnumType are not allowed"
            ],
            [
                "[1]",
                "integer outside +/-(2^53-1)"
            ]
        ]
    },
    "lifecycle": [
        "61f7a9fbfe95a1ce62b8fcd71b97ddd004da6ec1fbb932b2df58a2b45a6fa611",
        "65346f340ce09a1a1290631cca6d91554b302df66826b358a65e7f50e3499efb",
        "4c8e7b27970a1c6360b47905f13af9c0c49dd38af6be51695bb7ff26be262bfc",
        "93c85b56e099a94dd559bbf9aefa4d16d3a0daba0051c14902192f42a13110ad",
        "558a3e8990bc9a435b3b692bef751448966ff55674daa9308118cf237801286f",
        "82a291e961074092c0f36d870ca64fed4ad7ee7f2cedbbb101aeee50c0669061",
        "9e0a82583fca54ffdc2b4469bfb75cf287fdf5aa6a1f8bd036b14ac98436b23a",
        "1aeaaa23da74fa123eb8565dad7d5f3277d4a5846776824f91ba10a5baae8f3e",
        "3ecb844199dc6fc2c37e6147d921ccf7fad1f4e6cc39f4b93b31b46b47b1b34b",
        "0e175d1ca9d3175b9a445223fb682569b0d5b38d03044071aef3f7b7501aac2c",
        "df33ef63e253b6d33d8db3c601efe8b6d2a47c2e1dce931cc75b39d310b6719a",
        "f05b043adc603d137fc24d7e00afd5db49995aac614879ffc18a44953d9e29b2",
        "ae795a6b6aff5d2020143c36c6df2169f979ab24b40ea51c7e82d3346b7ec1c9",
        "a6f598fb1f3a21d7a199561b5ebba1c8068b9dd9e1b45f232d7232ab793daeba",
        "5c4f5bc8b3c0cc55346ff45e37467777aca4d7d81ff1c7f4431048523a2f39ce",
        "2700a1deaae5546e2bed970e40c60e8e58c3713f79c5e6f405fdd32d466bfcf0",
        "d7804bbc7d967e3bc74851a846c345a64aefeb85afd9c326c40c473a64ed03f6",
        "4270924a94469fa46565639e6b6694436a7150fd48866fa3a2a47ab566b0208b",
        "807de92077ce6c93d980d880b86a7791f401bc5eda02d6eaafdd6fe40f40609e",
        "880cb8c5c00e3bb1fd6ba4483d96001d3ce31e784024aba1b656be7f395ea02f",
        "47fa4bf08f076dcdb3644cce15c0ca8ed35e2ab9315f051697dff466674d40a3",
        "d088a88bd92ba5ac7991e3febe9a209506bf9b5c2d877132511cbec59ba04b25",
        "e3d4c0601c2329410246304c7d903ecde54c63e2341ec65d29811cefec6f48dd",
        "f9516cde3aa3ced14297bd6da80de1fe81dbb8bcf9530474f798d18293b4133a",
        "dc3aca44b0aee7c9dce9c499848313e097fa17e2ef2a47a55683aa8a564c9ec3",
        "2523b6edce19140668f0320e73470cebd1d9d30df6cc8432066ac8caedf2dc7f",
        "ea5e273cc1bb45edb135e072ca4805c02407b4407ff9f32fc597276512b8dd04"
    ],
    "notary_blocks": [
        "8210af2df6536e82e528b4a176362128db266241134a38dbc4cfc59da85bf3d1",
        "ea84fe1ed1b16e54058fe9d6495cec684f2df7ed3c4501a6701b30664eaa1c94",
        "39082290fff24e8ee3529096eb283c6f744e908bc117a661d70b3c6f4535c67f",
        "4ea18dcb84543beac91be38e7f18a73a21e62b3be6dd218466112ba976a451b8",
        "0f0676698f4f39c9a9e2c81ef50dd576baa7dde0889ff1bfb562a186b71bcbc9",
        "dfe0ede7e50110846850e1dee3db5d075e539029246ea1cadb4f0031a5a73ffb",
        "fd36f6a2bf304ca2db6c661c779cafed54062a4281371c1fe791f3d7473502da",
        "ed51a3db6dcf3fa0482d29c65286abfe7fe77a653779197ea1a613924d2a9e85",
        "31b4b0d2f64adba96873fe8cb9b07caa9d617307ec34ee81cbcb4f09479c9346",
        "56978246eeb0f82054530ab66a973db29ade5eda2b220524b866b1ccb54d4d75"
    ],
    "node": {
        "hashes": [
            "c00dff239deac2eb447116d04fcab87282bf7e8421d994328cecb4aaddf4d6f7",
            "3ff7f3f5cad50a1c49d0b11879a54fec3f3b47745ff0c5ea21007e601084f53a",
            "f32930bb3bd0716b1376b8382367f7e32bcf8d139bcd7fce19d18ac53c7a132c"
        ],
        "stored": [
            "b531520a18b2deb7b19ae5166045727a11cc70692747690c01b5e13fd7c4d116",
            "f8bf08080e2b33a6622a4f540e7dde12cb4b3497543096077ec1a35b54eb3160",
            "c0bc3479d599899a3eab67431eb2db153c6c4a90e54a6d4b325478f43dcf3236"
        ],
        "state_root": "8735bbb517abfdbadffc3002db8e594a5f25fe88ce5bce7a995b67d7c9d66030"
    }
}


# ---------------------------------------------------------------------------------------
# the tests
# ---------------------------------------------------------------------------------------
def test_corpus_bytes_and_refusals_are_unchanged() -> None:
    assert corpus_digest() == GOLDEN["corpus"]


def test_lifecycle_block_hashes_are_unchanged() -> None:
    assert lifecycle_scenario() == GOLDEN["lifecycle"]


def test_multi_transaction_block_hashes_are_unchanged() -> None:
    assert notary_blocks_scenario() == GOLDEN["notary_blocks"]


def test_node_blocks_and_state_root_are_unchanged(tmp_path: Path) -> None:
    assert node_scenario(tmp_path) == GOLDEN["node"]


@pytest.mark.parametrize("value", CORPUS + BAD_CORPUS)
def test_corpus_matches_reference(value: Any) -> None:
    assert _outcome(canonical, value) == _outcome(_ref_canonical, value)
    assert _outcome(lambda v: canonical_str(v).encode("utf-8"), value) == _outcome(
        _ref_canonical, value
    )


# keys and strings that exercise the UTF-16 key order, NFC, escapes and lone surrogates
any_text = st.text(
    alphabet=st.sampled_from(
        ["a", "b", "Z", "_", "\x00", "\x1f", '"', "\\", "\x7f", "é", "e", "\u0301", "\u00c5",
         "\u212b", "中", "\ud7ff", "\ue000", "\ufb01", "\uffff", "\U0001f600", "\U00010000",
         "\ud800", "\udfff"]
    ),
    max_size=6,
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**54), max_value=2**54)
    | st.integers(min_value=-MAX_SAFE_INTEGER, max_value=MAX_SAFE_INTEGER)
    | any_text
    | st.text(max_size=8)
    | st.sampled_from([Color.RED, Text("sub"), 1.0, float("nan"), b"x", (1,), frozenset()])
)
values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(any_text | st.text(max_size=4), children, max_size=4)
    | st.dictionaries(st.integers(0, 3), children, min_size=1, max_size=2)
    | st.lists(children, max_size=3).map(Items)
    | st.dictionaries(any_text, children, max_size=3).map(collections.OrderedDict),
    max_leaves=25,
)


@settings(max_examples=400, deadline=None)
@given(values)
def test_canonical_matches_reference(value: Any) -> None:
    assert _outcome(canonical, value) == _outcome(_ref_canonical, value)


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=60, max_value=70), st.sampled_from([1, [], {}, "x", {"a": 1}]),
       st.booleans())
def test_depth_limit_matches_reference(levels: int, leaf: Any, dicts: bool) -> None:
    value = leaf
    for i in range(levels):
        value = {"k": value} if dicts and i % 2 else [value]
    assert _outcome(canonical, value) == _outcome(_ref_canonical, value)


json_texts = (
    values.map(lambda v: json.dumps(v, ensure_ascii=False, default=repr))
    | values.map(lambda v: json.dumps(v, ensure_ascii=True, default=repr))
) | st.sampled_from(
    [
        '{"a": 1.0}', '{"a": 1e3}', '{"a": NaN}', '{"a": -Infinity}', '{"a":1,"a":2}',
        '{"a":{"b":1,"c":2,"b":3}}', '[{"x":1},{"x":1,"y":2,"x":3}]', "{", '"\\ud800"',
        '{"\\ud83d\\ude00":1,"\\ufb01":2}', '{"s":"e\\u0301"}', "[9007199254740992]",
        "[-9007199254740991]", '{"a":[1,2,{"b":null}]}', " [true , false] ", "",
        "[" * 64 + "]" * 64, "[" * 65 + "]" * 65, "[" * 65 + "1" + "]" * 65, '"\\u00e9"',
        '{"k":"v"} x', "\ufeff[1]", "[999999999999999]", "[-999999999999999]",
        "[1000000000000000]", "[12345678901234567]", '"\\\\u00e9"', '{"a":"\\u0041"}',
        '{"a":"ab\\u0000"}', '[{"a":' * 32 + "1" + "}]" * 32, '[{"a":' * 33 + "1" + "}]" * 33, '[{"a":[{"b":[]}]}]',
        '["a","a","\\/"]', "[01]", "[-0]", "[1,]", '{"a":1,}',
    ]
)


@settings(max_examples=300, deadline=None)
@given(json_texts)
def test_decode_matches_reference(text: str) -> None:
    assert _outcome(decode, text) == _outcome(_ref_decode, text)
    raw = text.encode("utf-8", "surrogatepass")
    assert _outcome(decode, raw) == _outcome(_ref_decode, raw)


@pytest.mark.parametrize(
    "encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32",
                 "utf-32-le", "utf-32-be"]
)
@pytest.mark.parametrize("text", ['{"a":[1,"é"]}', "[]", '"x"', "1", "", " {}", "[1,2.5]", "{}"])
def test_decode_of_other_encodings_matches_reference(encoding: str, text: str) -> None:
    raw = text.encode(encoding)
    assert _outcome(decode, raw) == _outcome(_ref_decode, raw)
    assert _outcome(decode, raw[:3]) == _outcome(_ref_decode, raw[:3])
    assert _outcome(decode, bytearray(raw)) == _outcome(_ref_decode, bytearray(raw))


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(any_text | st.text(max_size=5), values, max_size=4),
    st.integers(min_value=1, max_value=3),
)
def test_transaction_bytes_match_reference(args: dict[str, Any], n_keys: int) -> None:
    keys = [det_key(f"k{i}") for i in range(n_keys)]
    try:
        tx = build_transaction(chain_id=CHAIN_ID, contract="notary", method="record",
                               args=args, nonce="n", keys=keys)
    except (TxError, CanonicalEncodingError) as exc:  # refused: so is the reference
        assert _outcome(_ref_canonical, {"args": args})[0] == "error", exc
        return
    expected = _ref_canonical(tx.to_json())
    assert tx.canonical_bytes == expected
    assert tx.canonical_bytes is tx.canonical_bytes  # computed once
    assert tx.payload_bytes == _ref_canonical(dict(tx.payload))
    assert tx.tx_id == sha256_hex(_ref_canonical(dict(tx.payload)))
    odd = Transaction(tx.payload, ("NOT-HEX", "\u00e9") [:n_keys], tx.payload_bytes, tx.tx_id)
    assert odd.canonical_bytes == _ref_canonical(odd.to_json())
    assert txs_root([tx, odd]) == txs_root([tx, odd])
    # a block's bytes, and its results', are joined from the parts' cached bytes
    results = ({"code": "ok", "events": [dict(args)], "message": "", "tx_id": tx.tx_id},
               {"code": "x", "events": [], "message": "\u00e9\"", "tx_id": odd.tx_id})
    header = BlockHeader(CHAIN_ID, 1, 2, "00" * 32, txs_root([tx, odd]), "11" * 32, "22" * 32,
                         "33" * 32, "44" * 32, keys[0].public_key_hex, "55" * 32)
    for block in (Block(header, (tx, odd), results), Block(header, (), ())):
        assert block.canonical_bytes == _ref_canonical(block.to_json())
        assert block.result_bytes == tuple(_ref_canonical(r) for r in block.results)
        assert block.header.canonical_bytes == _ref_canonical(header.to_json())
    built = Block.assemble([tx, odd], list(results), chain_id=CHAIN_ID, height=1, time=2,
                           prev_hash="00" * 32, state_root="22" * 32, validators_hash="33" * 32,
                           next_validators_hash="44" * 32, proposer=keys[0].public_key_hex,
                           history_root="55" * 32)
    assert built.canonical_bytes == _ref_canonical(built.to_json())
    assert built.header.results_root == results_root(list(results))
    assert built.header.txs_root == txs_root([tx, odd])


def test_roots_match_reference() -> None:
    keys = [det_key("a"), det_key("b")]
    txs = [build_transaction(chain_id=CHAIN_ID, contract="notary", method="record",
                             args={"name": f"n{i}", "note": "ü" * i, "\U0001f600": i},
                             nonce=f"{i}", keys=keys[: 1 + i % 2]) for i in range(7)]
    results = [tx_result(tx.tx_id, "ok" if i % 2 else "already_recorded", "m\u00e9",
                         [{"type": "x", "n": i, "\ufb01": [i, None, True]}])
               for i, tx in enumerate(txs)]
    assert txs_root(txs) == merkle_root([_ref_canonical(tx.to_json()) for tx in txs]).hex()
    assert results_root(results) == merkle_root([_ref_canonical(r) for r in results]).hex()
    writes: list[tuple[str, bytes | None]] = [("b", b"1"), ("a", None), ("\u00e9", b"{}")]
    body = _ref_canonical([[k, None if v is None else v.hex()] for k, v in sorted(writes)])
    ws = WriteSet(writes)
    assert ws.body == body and list(ws) == sorted(writes)
    # the state root: the state tree's root over the whole state (docs/state-proofs.md)
    tree = StateTree(MemoryNodeStore())
    tree.apply(0, {b"a": b"0", b"c": b"2"})
    state = {"b": b"1", "c": b"2", "\u00e9": b"{}"}
    assert ws.root_in(tree, 1) == _ref_tree_root(state).hex() == state_root_of(state.items())
    many = {f"k/{i}": str(i).encode() for i in range(200)}
    assert state_root_of(many.items()) == _ref_tree_root(many).hex()
    assert _ref_tree_root({}) == bytes(32)


def _ref_tree_root(state: dict[str, bytes]) -> bytes:
    """The state tree's root straight from its definition: keys at SHA-256(key), an
    empty subtree 32 zero bytes, one key its leaf, two or more an internal node."""
    leaves = sorted((sha256(k.encode("utf-8")), sha256(v)) for k, v in state.items())

    def node(part: list[tuple[bytes, bytes]], depth: int) -> bytes:
        if not part:
            return bytes(32)
        if len(part) == 1:
            return sha256(b"\x00" + part[0][0] + part[0][1])
        bit = [(int.from_bytes(kh, "big") >> (255 - depth)) & 1 for kh, _ in part]
        left = [leaf for leaf, b in zip(part, bit, strict=True) if not b]
        right = [leaf for leaf, b in zip(part, bit, strict=True) if b]
        return sha256(b"\x01" + node(left, depth + 1) + node(right, depth + 1))

    return node(leaves, 0)


ops = st.lists(
    st.tuples(
        st.sampled_from(["put", "delete", "child", "commit", "scan", "scan_put", "get"]),
        st.sampled_from(["", "a", "a/", "a/b", "a/c", "a0", "a.", "ab", "b", "b/1", "b/2", "é",
                         "a/\U0001f600", "a/\U0010ffff", "a/\U0010ffffz", "\U0010ffff",
                         "\U0010ffff\U0010ffff", "\U0010ffffa"]),
        st.integers(0, 3),
    ),
    max_size=60,
)


@settings(max_examples=500, deadline=None)
@given(ops)
def test_overlay_matches_reference(script: list[tuple[str, str, int]]) -> None:
    base_items = [("a/b", b"0"), ("a/x", b"1"), ("a0", b"4"), ("b/1", b"2"), ("c", b"3"),
                  ("\U0010ffff", b"5"), ("\U0010ffffb", b"6")]
    new_stack: list[Any] = [Overlay(MemoryState(base_items))]
    ref_stack: list[Any] = [_RefOverlay(MemoryState(base_items))]
    for op, key, n in script:
        new, ref = new_stack[-1], ref_stack[-1]
        value = bytes([48 + n])
        if op == "put" and key:
            new.put(key, value)
            ref.put(key, value)
        elif op == "delete":
            new.delete(key)
            ref.delete(key)
        elif op == "child" and len(new_stack) < 4:
            new_stack.append(new.child())
            ref_stack.append(ref.child())
        elif op == "commit" and len(new_stack) > 1:
            new.commit()
            ref.commit()
            new_stack.pop()
            ref_stack.pop()
        elif op == "get":
            assert new.get(key) == ref.get(key)
        elif op in ("scan", "scan_put"):
            # writes while a scan is under way: both see the keys of the scan's start
            got, want = [], []
            for out, ov in ((got, new), (want, ref)):
                for i, item in enumerate(ov.iter_prefix(key)):
                    out.append(item)
                    if op == "scan_put" and i == n:
                        ov.put(item[0] + "/z", b"9")
                        ov.put("a/0", b"8")
            assert got == want
        for o1, o2 in zip(new_stack, ref_stack, strict=True):
            assert list(o1.iter_prefix("")) == list(o2.iter_prefix(""))
            assert o1.write_set() == o2.write_set()


@pytest.mark.parametrize("during", ["nothing", "resurrect", "delete_ahead", "put_new", "child"])
@pytest.mark.parametrize("at", [0, 3, 7])
def test_overlay_scan_over_runs_of_deleted_keys_matches_reference(during: str, at: int) -> None:
    """Runs of deleted keys (some of them shadowing base keys) are passed in one step while
    nothing is written; a write during the scan makes it look at every key again."""
    base_items = [(f"p/{i:03d}", b"b%d" % i) for i in range(0, 40, 2)]
    base_items += [("p/200", b"b200"), ("q", b"q")]
    overlays = [Overlay(MemoryState(base_items)), _RefOverlay(MemoryState(base_items))]
    for ov in overlays:
        for i in range(1, 39):
            if i % 7 == 0:
                ov.put(f"p/{i:03d}", b"w%d" % i)
            else:
                ov.delete(f"p/{i:03d}")
        # long runs of deleted keys with no base key among them: before the base's last
        # key (p/1..) and after it (p/3..)
        for i in [*range(100, 140), *range(300, 340)]:
            ov.delete(f"p/{i:03d}")
        ov.put("p/120", b"live")
        ov.put("p/321", b"live")
        list(ov.iter_prefix("p/"))  # build the indexes, then change them
        ov.delete("p/014")
        ov.put("p/005", b"again")
    outs = []
    for ov in overlays:
        out = []
        for i, (key, value) in enumerate(ov.iter_prefix("p/")):
            out.append((key, value))
            if i == at:
                if during == "resurrect":
                    for key in ("p/033", "p/020", "p/110", "p/131", "p/310", "p/333"):
                        ov.put(key, b"back")
                elif during == "delete_ahead":
                    for key in ("p/035", "p/038", "p/120", "p/321"):
                        ov.delete(key)
                elif during == "put_new":
                    ov.put("p/0255", b"new")
                    ov.put("p/1255", b"new")
                elif during == "child":
                    child = ov.child()
                    child.put("p/031", b"c")
                    child.put("p/125", b"c")
                    child.put("p/335", b"c")
                    child.delete("p/028")
                    child.commit()
        outs.append(out)
        outs.append(list(ov.iter_prefix("p/")))
        outs.append(list(ov.iter_prefix("")))
    assert outs[:3] == outs[3:]


def test_signer_lookup_sees_writes_of_the_same_transaction() -> None:
    h = Harness()
    key = h.key("owner-farm").public_key_hex
    ctx = TxContext(Overlay(h.state).child(), BlockContext(CHAIN_ID, 1, 1, key), "t", (key,), 0)
    assert [s.org_id for s in ctx.signers()] == ["owner-farm"]
    member = ctx.get("key/" + key)
    ctx.put("key/" + key, {**member, "status": "revoked"})
    assert ctx.signers() == []
    ctx.put("key/" + key, member)
    assert [s.org_id for s in ctx.signers()] == ["owner-farm"]
    org = ctx.get("org/owner-farm")
    ctx.put("org/owner-farm", {**org, "status": "suspended"})
    assert ctx.signers() == []
    ctx.put("org/owner-farm", {**org, "roles": ["buyer"]})
    assert ctx.signers()[0].roles == ("buyer",)
    ctx.delete("key/" + key)
    assert ctx.signers() == []


def test_signer_cache_hands_out_fresh_records() -> None:
    h = Harness()
    key = h.key("verifier-a").public_key_hex
    cache = SignerCache()
    view = Overlay(h.state)
    first = lookup_signer(view, key, cache)
    assert first is not None and first == lookup_signer(view, key)
    first.org["roles"].append("regulator")  # type: ignore[attr-defined]
    first.org["status"] = "changed"  # type: ignore[index]
    second = lookup_signer(view, key, cache)
    assert second == lookup_signer(view, key)
    assert second is not None and second.roles == ("verifier",)
    assert list(second.org) == list(decode(h.state.get("org/verifier-a") or b""))
    # inactive records are remembered as such, and a changed record is looked up afresh
    view.put("org/verifier-a", canonical({**second.org, "status": "suspended"}))
    assert lookup_signer(view, key, cache) is None
    assert lookup_signer(view, key, cache) is None
    view.put("org/verifier-a", canonical({**second.org, "name": "Renamed"}))
    renamed = lookup_signer(view, key, cache)
    assert renamed is not None and renamed.org["name"] == "Renamed"
    view.put("key/" + key, canonical({**decode(h.state.get("key/" + key) or b""),
                                       "status": "revoked"}))
    assert lookup_signer(view, key, cache) is None


def test_executor_results_do_not_depend_on_block_grouping() -> None:
    """The signer cache lives for one block: the same transactions executed one block each
    or all in one block give the same results where no earlier transaction interferes."""
    grouped, single = Harness(), Harness()
    txs = [grouped.make_tx(org, "notary", "record", {"name": f"{org}-{i}", "sha256": h256(org)})
           for i in range(3) for org in ("regulator", "verifier-a", "owner-farm", "coop")]
    together = grouped.run_block(txs)
    apart = [single.run_block([tx])[0] for tx in txs]
    assert together == apart
    assert isinstance(grouped.executor, Executor)


if __name__ == "__main__":
    import tempfile

    sys.setrecursionlimit(10_000)
    with tempfile.TemporaryDirectory() as d:
        print(json.dumps(golden_now(Path(d)), indent=1, ensure_ascii=True))
