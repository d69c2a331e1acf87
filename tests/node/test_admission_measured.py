"""The admission path's one walk (2026-12-07, docs/performance.md "Admission path") against
the separate steps it replaced, kept here as oracles:

* ``ledger.encoding._plain_measured`` answers ``_plain`` and ``decoded_size`` at once;
* ``parse_transaction_measured`` accepts and refuses exactly as ``parse_transaction`` (same
  code, same message), gives an equal transaction with the same bytes, and the decoded
  size the old ``tx_size`` walk found;
* the candidate's ``json_key`` is ``tx_json_key`` of the received value, and the mempool
  charges the same size as before;
* ``Transaction.canonical_text`` / ``canonical_digest`` are the canonical bytes decoded /
  hashed, whichever way the transaction was made.
"""

from __future__ import annotations

import copy
import hashlib
import json
import sys
import unicodedata
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chaincode.membership import SignerCheck
from ledger.crypto import PrivateKey, sha256
from ledger.encoding import MAX_DEPTH, MAX_SAFE_INTEGER, _plain, _plain_measured
from ledger.errors import TxError
from ledger.tx import Transaction, build_transaction, parse_transaction, parse_transaction_measured
from node.chain.blockcodec import tx_json_key
from node.txpool.admission import Admission, decode_json, decoded_size, tx_size
from node.txpool.mempool import Mempool

CHAIN_ID = "fcl-test"
KEY = PrivateKey(sha256(b"measured-a"))
KEY_B = PrivateKey(sha256(b"measured-b"))


#: the old walk is still ``node.txpool.admission.decoded_size``, unchanged (admission uses it
#: for payloads the measured parse does not measure): the oracle of the one-walk charge
old_decoded_size = decoded_size


def old_tx_size(tx: Transaction) -> int:
    wire = len(tx.payload_bytes) + 130 * len(tx.signatures) + 32
    return max(wire, old_decoded_size(tx.payload) + 2 * wire)


# strings of every kind: ASCII, non-ASCII NFC, non-NFC ("e" + combining acute), a lone
# surrogate; integers in and out of the safe range; floats and other refused leaves
any_text = st.text(max_size=10) | st.sampled_from(["", "a", "é", "e\u0301", "\ud800", "😀", "\u00ff" * 3])
leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-MAX_SAFE_INTEGER - 2, max_value=MAX_SAFE_INTEGER + 2)
    | st.sampled_from([0, 1, -1, 2**30 - 1, 2**30, -(2**30), 2**53 - 1])
    | any_text
    | st.floats(allow_nan=False)
    | st.sampled_from([b"x", (1,), 1.5])
)
values = st.recursive(
    leaves,
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(any_text, children, max_size=5)
    | st.dictionaries(st.integers(0, 3), children, min_size=1, max_size=2),
    max_leaves=25,
)


@settings(max_examples=400, deadline=None)
@given(values, st.integers(0, MAX_DEPTH + 1))
def test_plain_measured_is_plain_and_decoded_size(value: Any, depth: int) -> None:
    size = _plain_measured(value, depth)
    assert (size >= 0) == _plain(value, depth)
    if size >= 0:
        assert size == old_decoded_size(value)


def test_plain_measured_at_the_depth_limit() -> None:
    deep: Any = {}
    for _ in range(MAX_DEPTH):
        deep = {"a": deep}
    assert _plain(deep, 0) and _plain_measured(deep, 0) == old_decoded_size(deep)
    assert not _plain({"a": {"a": deep}}, 0) and _plain_measured({"a": {"a": deep}}, 0) == -1
    assert _plain_measured([[1]], MAX_DEPTH) == -1 and not _plain([[1]], MAX_DEPTH)
    assert _plain_measured([], MAX_DEPTH) == sys.getsizeof([])


@pytest.mark.parametrize("text", ["", "a", "plot XN-SF-01", "x" * 5000, "é", "e\u0301", "😀"])
def test_plain_measured_counts_a_string_as_getsizeof(text: str) -> None:
    got = _plain_measured({"k": text, "l": [text]}, 0)
    if unicodedata.is_normalized("NFC", text):
        assert got == old_decoded_size({"k": text, "l": [text]})
    else:
        assert got == -1


# transactions: a valid one, then mutated (every refusal of parse_transaction)
ARGS = st.dictionaries(
    st.text(max_size=6), st.recursive(
        st.none() | st.booleans() | st.integers(-(2**60), 2**60) | st.text(max_size=8)
        | st.floats(allow_nan=False, allow_infinity=False),
        lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=4), c, max_size=3),
        max_leaves=10,
    ), max_size=4,
)


def wire(args: dict[str, Any], keys: list[PrivateKey], nonce: str = "n") -> dict[str, Any]:
    """A signed transaction's JSON for any ``args`` (signed over the payload as the old
    ``canonical`` would encode it; a refused payload gets a fixed dummy signature)."""
    payload = {"chain_id": CHAIN_ID, "contract": "notary", "method": "record", "args": args,
               "nonce": nonce, "signers": [k.public_key_hex for k in keys]}
    try:
        body = parse_transaction({"payload": payload, "signatures": ["00" * 64] * len(keys)})
        sigs = [k.sign_hex(body.payload_bytes) for k in keys]
    except TxError:
        sigs = ["00" * 64] * len(keys)
    return {"payload": payload, "signatures": sigs}


MUTATIONS = [
    lambda t: None,
    lambda t: t.pop("signatures"),
    lambda t: t.update(extra=1),
    lambda t: t["payload"].pop("nonce"),
    lambda t: t["payload"].update(gas=1),
    lambda t: t["payload"].update(chain_id="other-chain"),
    lambda t: t["payload"].update(chain_id="X"),
    lambda t: t["payload"].update(contract="Bad-Name"),
    lambda t: t["payload"].update(args=[]),
    lambda t: t["payload"].update(nonce=""),
    lambda t: t["payload"].update(nonce=7),
    lambda t: t["payload"].update(signers=[]),
    lambda t: t["payload"].update(signers=["zz"]),
    lambda t: t.update(signatures=[]),
    lambda t: t.update(signatures=["AB" * 64]),
    lambda t: t["payload"]["args"].update(big="x" * 70_000),
    lambda t: t["payload"]["args"].update(area=1.5),
    lambda t: t["payload"]["args"].update({"ключ": "значение", "\U0001f600": 1, "\uff5e": 2}),
    lambda t: t["payload"]["args"].update(deep=json.loads("[" * 70 + "]" * 70)),
    lambda t: t["payload"].update(args={"n": 2**53}),
    lambda t: t["payload"].update(nonce="e\u0301"),
]


def outcome(parse: Any, obj: Any) -> Any:
    try:
        return parse(obj)
    except TxError as exc:
        return (exc.code, str(exc))


@settings(max_examples=300, deadline=None)
@given(ARGS, st.sampled_from(range(len(MUTATIONS))), st.booleans())
def test_parse_measured_agrees_with_parse(args: dict[str, Any], mutation: int, two: bool) -> None:
    obj = wire(args, [KEY, KEY_B] if two else [KEY])
    MUTATIONS[mutation](obj)
    old = outcome(lambda o: parse_transaction(o, chain_id=CHAIN_ID), copy.deepcopy(obj))
    new = outcome(lambda o: parse_transaction_measured(o, chain_id=CHAIN_ID), obj)
    if isinstance(old, tuple):
        assert new == old  # the same refusal: code and message
        return
    tx, held = new
    assert tx == old and tx.payload_bytes == old.payload_bytes and tx.tx_id == old.tx_id
    assert tx.canonical_bytes == old.canonical_bytes
    assert tx.canonical_text == old.canonical_bytes.decode("utf-8") == old.canonical_text
    assert tx.canonical_digest == hashlib.sha256(old.canonical_bytes).digest()
    assert tx_size(tx, held) == old_tx_size(old) == tx_size(old)
    if held is None:  # only an unusual payload has no count
        assert not _plain(obj["payload"], 0)
    else:
        assert held == old_decoded_size(obj["payload"])
        # the candidate's json key, spliced: exactly what tx_json_key answered
        assert tx.canonical_text == tx_json_key(obj)


class _Index:
    def get_tx_location(self, tx_id: str) -> tuple[int, int] | None:
        return None

    def get(self, key: str) -> bytes | None:
        return None


def _admission() -> Admission:
    return Admission(CHAIN_ID, _Index(), Mempool(max_txs=100, max_bytes=10**9),
                     signer_check=lambda signers: SignerCheck(("org-a",), None))


@settings(max_examples=150, deadline=None)
@given(ARGS)
def test_candidate_json_key_and_size_are_as_before(args: dict[str, Any]) -> None:
    raw = json.dumps(wire(args, [KEY])).encode()
    obj = decode_json(raw)
    adm = _admission()
    try:
        candidate = adm.prepare(obj)
    except TxError as exc:
        assert exc.code in {"malformed_tx", "tx_too_large"}
        return
    again = parse_transaction(decode_json(raw), chain_id=CHAIN_ID)
    assert candidate.json_key == tx_json_key(decode_json(raw))
    assert candidate.size == old_tx_size(again)
    tx = adm.enter(candidate)
    # the mempool finds it by both keys, and a proposal's decoding reuses it
    assert adm.mempool.by_json_key(tx_json_key(obj)) is tx
    assert adm.mempool.by_canonical_text(again.canonical_bytes.decode("utf-8")) is tx
    assert tx in adm.verified and again in adm.verified
    adm.mempool.remove([tx.tx_id])
    assert adm.mempool.by_canonical_text(again.canonical_bytes.decode("utf-8")) is None
    assert adm.mempool.by_json_key(tx_json_key(obj)) is None


def test_non_ascii_keys_take_the_general_path_with_the_same_key() -> None:
    """A key beyond the BMP sorts differently in UTF-16 (canonical) and in code points
    (tx_json_key): the json key is then tx_json_key's, not the canonical text."""
    obj = wire({"\U0001f600": 1, "\uff5e": 2, "a": "ü"}, [KEY])
    adm = _admission()
    candidate = adm.prepare(copy.deepcopy(obj))
    assert candidate.json_key == tx_json_key(obj) != candidate.tx.canonical_text
    assert candidate.size == old_tx_size(parse_transaction(obj))


def test_built_and_parsed_transactions_share_text_and_digest() -> None:
    built = build_transaction(chain_id=CHAIN_ID, contract="notary", method="record",
                              args={"name": "x"}, nonce="1", keys=[KEY])
    parsed, held = parse_transaction_measured(copy.deepcopy(built.to_json()))
    assert held is not None
    assert built.canonical_text == parsed.canonical_text == built.canonical_bytes.decode()
    assert built.canonical_digest == parsed.canonical_digest
    assert built.canonical_digest == hashlib.sha256(built.canonical_bytes).digest()
