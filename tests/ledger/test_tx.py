"""Transactions: structure, size, chain id and signature checks."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.crypto import PrivateKey, sha256, sha256_hex
from ledger.encoding import canonical
from ledger.errors import TxError
from ledger.tx import MAX_TX_BYTES, build_transaction, parse_transaction

A = PrivateKey(sha256(b"a"))
B = PrivateKey(sha256(b"b"))


def make(**kw):
    base = dict(chain_id="fcl-test", contract="notary", method="record",
                args={"name": "x", "sha256": "0" * 64}, nonce="1", keys=[A])
    base.update(kw)
    return build_transaction(**base)


def test_id_is_sha256_of_canonical_payload():
    tx = make()
    assert tx.tx_id == sha256_hex(canonical(tx.to_json()["payload"]))
    tx.verify_signatures()


def test_roundtrip_through_json():
    tx = make(keys=[A, B])
    again = parse_transaction(copy.deepcopy(tx.to_json()), chain_id="fcl-test")
    assert again.tx_id == tx.tx_id and again.signers == tx.signers
    again.verify_signatures()


def test_wrong_chain():
    with pytest.raises(TxError) as err:
        parse_transaction(make().to_json(), chain_id="other-chain")
    assert err.value.code == "wrong_chain"


@pytest.mark.parametrize(
    "mutate",
    [
        lambda t: t.pop("signatures"),
        lambda t: t.update(extra=1),
        lambda t: t["payload"].pop("nonce"),
        lambda t: t["payload"].update(gas=1),
        lambda t: t["payload"].update(contract="Bad-Name"),
        lambda t: t["payload"].update(args=[]),
        lambda t: t["payload"].update(nonce=""),
        lambda t: t["payload"].update(nonce="x" * 65),
        lambda t: t["payload"].update(signers=[]),
        lambda t: t["payload"].update(signers=["zz"]),
        lambda t: t["payload"].update(signers=[A.public_key_hex, A.public_key_hex]),
        lambda t: t.update(signatures=[]),
        lambda t: t.update(signatures=["00"]),
        lambda t: t["payload"]["args"].update(amount=1.5),
        lambda t: t["payload"].update(chain_id="X"),
    ],
)
def test_malformed(mutate):
    obj = copy.deepcopy(make().to_json())
    mutate(obj)
    with pytest.raises(TxError) as err:
        parse_transaction(obj)
    assert err.value.code == "malformed_tx"


def test_float_error_names_field():
    obj = copy.deepcopy(make().to_json())
    obj["payload"]["args"]["area"] = 1.5
    with pytest.raises(TxError, match=r"args\.area"):
        parse_transaction(obj)


def test_too_large():
    with pytest.raises(TxError) as err:
        make(args={"blob": "x" * MAX_TX_BYTES})
    assert err.value.code == "tx_too_large"


def test_not_an_object():
    for bad in (None, [], "tx", 3):
        with pytest.raises(TxError):
            parse_transaction(bad)


@given(st.integers(min_value=0, max_value=127), st.integers(min_value=1, max_value=15))
def test_any_flipped_signature_digit_fails(pos, delta):
    obj = make().to_json()
    sig = obj["signatures"][0]
    flipped = sig[:pos] + format((int(sig[pos], 16) ^ delta) & 15, "x") + sig[pos + 1 :]
    obj["signatures"] = [flipped]
    tx = parse_transaction(obj)
    with pytest.raises(TxError) as err:
        tx.verify_signatures()
    assert err.value.code == "bad_signature"


def test_changed_args_break_signature():
    obj = make().to_json()
    obj["payload"]["args"]["name"] = "y"
    with pytest.raises(TxError):
        parse_transaction(obj).verify_signatures()


def test_cosigner_signature_swapped_fails():
    obj = make(keys=[A, B]).to_json()
    obj["signatures"].reverse()
    with pytest.raises(TxError):
        parse_transaction(obj).verify_signatures()


def test_private_key_repr_hides_secret():
    assert A.seed_bytes().hex() not in repr(A)


def test_trailing_newline_is_not_accepted_anywhere():
    """A relay must not be able to alter a signed transaction's bytes (``$`` matches before
    a trailing newline; every pattern must anchor at the true end)."""
    obj = make().to_json()
    obj["signatures"] = [obj["signatures"][0] + "\n"]
    with pytest.raises(TxError):
        parse_transaction(obj)
    for field, value in [("contract", "notary\n"), ("method", "record\n"), ("chain_id", "fcl-test\n")]:
        obj = make().to_json()
        obj["payload"][field] = value
        with pytest.raises(TxError):
            parse_transaction(obj)
    obj = make().to_json()
    obj["payload"]["signers"] = [obj["payload"]["signers"][0] + "\n"]
    with pytest.raises(TxError):
        parse_transaction(obj)
