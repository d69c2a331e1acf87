"""Wallet library: keystore, transaction building, GeoJSON conversion, node client."""

from __future__ import annotations

import ast
import base64
import io
import json
import logging
import os
import stat
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

import wallet.keystore as keystore_mod
from ledger.crypto import PrivateKey
from ledger.encoding import canonical, canonical_str
from ledger.errors import LedgerError, TxError
from ledger.tx import parse_transaction
from wallet.builder import (
    build_signed_tx,
    geojson_to_ledger,
    load_geojson,
    new_nonce,
    nfc,
    parse_args_json,
    to_e7,
)
from wallet.client import NodeClient
from wallet.errors import ClientError, KeystoreError, WalletError
from wallet.keystore import SCRYPT_N, KeyEntry, Keystore, resolve_passphrase

TEST_N = 2**4  # tests only: keeps scrypt at microseconds; one test below uses the default
PASS = "correct horse battery"
SEED = bytes(range(100, 132))


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FCL_PASSPHRASE", raising=False)
    monkeypatch.delenv("FCL_KEYSTORE", raising=False)
    # Tests are never interactive unless a test says so.
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))


@pytest.fixture
def ks(tmp_path: Path) -> Keystore:
    return Keystore(tmp_path / "keys", insecure_test_scrypt_n=TEST_N)


def _doc(ks: Keystore, name: str) -> dict[str, Any]:
    return json.loads((ks.directory / f"{name}.json").read_text())


def _write_doc(path: Path, doc: dict[str, Any]) -> None:
    path.write_text(json.dumps(doc, indent=2))


def _code(exc: pytest.ExceptionInfo[LedgerError]) -> str:
    return exc.value.code


# --------------------------------------------------------------------------- keystore


def test_create_list_show_load_roundtrip(ks: Keystore) -> None:
    pk_a = ks.create("alice", PASS)
    pk_b = ks.create("bob.ops-2", PASS + "!")
    assert ks.list() == [("alice", pk_a), ("bob.ops-2", pk_b)]
    assert ks.list()[0] == KeyEntry(name="alice", public_key=pk_a)
    assert ks.public_key("alice") == pk_a
    assert ks.path("alice") == ks.directory / "alice.json"
    key = ks.load("alice", PASS)
    assert isinstance(key, PrivateKey) and key.public_key_hex == pk_a
    # by a public key prefix (>= 8 hex digits, any case), and by the whole key
    assert ks.load(pk_b[:8].upper(), PASS + "!").public_key_hex == pk_b
    assert ks.load(pk_b, PASS + "!").public_key_hex == pk_b
    assert ks.public_key(pk_a[:12]) == pk_a
    sig = key.sign(b"msg")
    assert PrivateKey.generate().public_key != key.public_key and len(sig) == 64


def test_import_seed_roundtrip(ks: Keystore) -> None:
    pk = ks.import_seed("imported", SEED, PASS)
    assert pk == PrivateKey(SEED).public_key_hex
    assert ks.load("imported", PASS).seed_bytes() == SEED
    with pytest.raises(KeystoreError) as exc:
        ks.import_seed("short", SEED[:31], PASS)
    assert _code(exc) == "invalid_seed"


def test_file_format(ks: Keystore) -> None:
    pk = ks.create("alice", PASS)
    doc = _doc(ks, "alice")
    assert set(doc) == {"version", "name", "public_key", "kdf", "cipher", "ciphertext", "created"}
    assert doc["version"] == 1 and doc["name"] == "alice" and doc["public_key"] == pk
    kdf = doc["kdf"]
    assert kdf["name"] == "scrypt" and (kdf["n"], kdf["r"], kdf["p"]) == (TEST_N, 8, 1)
    assert len(bytes.fromhex(kdf["salt"])) == 32 and len(bytes.fromhex(kdf["check"])) == 32
    assert doc["cipher"]["name"] == "chacha20-poly1305"
    assert len(bytes.fromhex(doc["cipher"]["nonce"])) == 12
    assert len(bytes.fromhex(doc["ciphertext"])) == 32 + 16
    assert doc["created"].endswith("Z")


def test_default_cost_is_strong(tmp_path: Path) -> None:
    """The only test that pays for the real scrypt parameters (their cost is measured in
    docs/wallet.md, not asserted here: speed belongs to benchmarks)."""
    ks = Keystore(tmp_path / "keys")
    pk = ks.create("real", PASS)
    assert _doc(ks, "real")["kdf"]["n"] == SCRYPT_N == 2**16
    assert ks.load("real", PASS).public_key_hex == pk


def test_seed_never_appears_unencrypted(ks: Keystore, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    forms = [SEED, SEED.hex().encode(), SEED.hex().upper().encode(), base64.b64encode(SEED)]
    ks.import_seed("seeded", SEED, PASS)
    key = ks.load("seeded", PASS)
    seen: list[str] = [repr(key), str(key), repr(ks), str(ks.list()), repr(ks.list()[0])]
    with pytest.raises(KeystoreError) as wrong:
        ks.load("seeded", "wrong passphrase!")
    path = ks.path("seeded")
    doc = json.loads(path.read_text())
    ct = bytearray(bytes.fromhex(doc["ciphertext"]))
    ct[0] ^= 0xFF
    doc["ciphertext"] = ct.hex()
    _write_doc(path, doc)
    with pytest.raises(KeystoreError) as corrupt:
        ks.load("seeded", PASS)
    for exc in (wrong.value, corrupt.value):
        seen += [repr(exc), str(exc), exc.message, repr(exc.__cause__), repr(exc.__context__)]
    files = [p.read_bytes() for p in ks.directory.iterdir()]
    assert files
    blobs = [*files, *(s.encode() for s in seen), caplog.text.encode()]
    assert any(b"seeded" in b for b in blobs)  # the search itself works
    for blob in blobs:
        for form in forms:
            assert form not in blob
            assert form.lower() not in blob.lower()


def test_file_and_directory_modes(ks: Keystore) -> None:
    ks.create("alice", PASS)
    assert stat.S_IMODE(os.stat(ks.directory).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(ks.directory / "alice.json").st_mode) == 0o600
    assert sorted(p.name for p in ks.directory.iterdir()) == ["alice.json"]  # no temp files


def test_wrong_passphrase_touches_nothing(ks: Keystore) -> None:
    ks.create("alice", PASS)
    path = ks.path("alice")
    before = (path.read_bytes(), os.stat(path).st_mtime_ns, sorted(os.listdir(ks.directory)))
    time.sleep(0.01)
    with pytest.raises(KeystoreError) as exc:
        ks.load("alice", "not the passphrase")
    assert _code(exc) == "wrong_passphrase"
    assert "wrong passphrase" in exc.value.message and "alice" in exc.value.message
    after = (path.read_bytes(), os.stat(path).st_mtime_ns, sorted(os.listdir(ks.directory)))
    assert after == before


@pytest.mark.parametrize("position", [0, 31, 32, 47])  # seed bytes and the tag
def test_tampered_ciphertext_is_corrupt(ks: Keystore, position: int) -> None:
    ks.create("alice", PASS)
    doc = _doc(ks, "alice")
    ct = bytearray(bytes.fromhex(doc["ciphertext"]))
    ct[position] ^= 0x01
    doc["ciphertext"] = ct.hex()
    _write_doc(ks.path("alice"), doc)
    with pytest.raises(KeystoreError) as exc:
        ks.load("alice", PASS)
    assert _code(exc) == "corrupt_keystore"


def test_tampered_public_key_is_corrupt(ks: Keystore) -> None:
    ks.create("alice", PASS)
    other = ks.create("bob", PASS)
    doc = _doc(ks, "alice")
    doc["public_key"] = other
    _write_doc(ks.path("alice"), doc)
    with pytest.raises(KeystoreError) as exc:
        ks.load("alice", PASS)
    assert _code(exc) == "corrupt_keystore"


def test_swapped_name_is_corrupt(ks: Keystore) -> None:
    ks.create("alice", PASS)
    doc = _doc(ks, "alice")
    # An attacker re-labels alice's encrypted key as "mallory" (name field and file name).
    doc["name"] = "mallory"
    _write_doc(ks.directory / "mallory.json", doc)
    with pytest.raises(KeystoreError) as exc:
        ks.load("mallory", PASS)
    assert _code(exc) == "corrupt_keystore"
    # Renaming the file alone is caught by the name check.
    os.rename(ks.path("alice"), ks.directory / "eve.json")
    with pytest.raises(KeystoreError) as exc:
        ks.load("eve", PASS)
    assert _code(exc) == "corrupt_keystore"


def test_swapped_ciphertext_is_corrupt(ks: Keystore) -> None:
    ks.create("alice", PASS)
    ks.create("bob", PASS)
    a, b = _doc(ks, "alice"), _doc(ks, "bob")
    a["kdf"], a["cipher"], a["ciphertext"] = b["kdf"], b["cipher"], b["ciphertext"]
    _write_doc(ks.path("alice"), a)
    with pytest.raises(KeystoreError) as exc:
        ks.load("alice", PASS)
    assert _code(exc) == "corrupt_keystore"


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d.update(created="2000-01-01T00:00:00Z"),
        lambda d: d["kdf"].update(check="00" * 32),
        lambda d: d["cipher"].update(name="aes-256-gcm"),
        lambda d: d.update(version=2),
        lambda d: d.update(extra=1),
        lambda d: d["kdf"].update(n=3),
        lambda d: d["kdf"].update(n=2**30),
        lambda d: d["kdf"].update(n=1.5),
        lambda d: d["cipher"].update(nonce="00"),
        lambda d: d.update(ciphertext="zz"),
        lambda d: d.update(public_key="AB" * 32),
    ],
)
def test_tampered_header_is_corrupt(ks: Keystore, edit: Any) -> None:
    ks.create("alice", PASS)
    doc = _doc(ks, "alice")
    edit(doc)
    _write_doc(ks.path("alice"), doc)
    with pytest.raises(KeystoreError) as exc:
        ks.load("alice", PASS)
    assert _code(exc) == "corrupt_keystore"


def test_changed_salt_is_refused(ks: Keystore) -> None:
    """A changed salt derives another key: indistinguishable from a wrong passphrase."""
    ks.create("alice", PASS)
    doc = _doc(ks, "alice")
    doc["kdf"]["salt"] = "11" * 32
    _write_doc(ks.path("alice"), doc)
    with pytest.raises(KeystoreError) as exc:
        ks.load("alice", PASS)
    assert _code(exc) == "wrong_passphrase"


@pytest.mark.parametrize("content", [b"", b"{", b"[]", b"\xff\xfe", b'{"a": 1.5}', b"x" * 20000])
def test_garbage_file_is_corrupt_and_skipped_by_list(
    ks: Keystore, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    pk = ks.create("good", PASS)
    (ks.directory / "bad.json").write_bytes(content)
    with pytest.raises(KeystoreError) as exc:
        ks.load("bad", PASS)
    assert _code(exc) == "corrupt_keystore"
    with caplog.at_level(logging.WARNING, logger="wallet.keystore"):
        assert ks.list() == [("good", pk)]
    assert "bad.json" in caplog.text


def test_unknown_duplicate_and_invalid_names(ks: Keystore) -> None:
    pk = ks.create("alice", PASS)
    before = ks.path("alice").read_bytes()
    for bad in ("nobody", "deadbeef", "abc"):
        with pytest.raises(KeystoreError) as exc:
            ks.load(bad, PASS)
        assert _code(exc) == "unknown_key"
    with pytest.raises(KeystoreError) as exc:
        ks.public_key(pk[:7])  # too short to be a prefix, and a valid name that does not exist
    assert _code(exc) == "unknown_key"
    with pytest.raises(KeystoreError) as exc:
        ks.create("alice", PASS + "x")
    assert _code(exc) == "key_exists"
    assert ks.path("alice").read_bytes() == before
    with pytest.raises(KeystoreError) as exc:
        ks.load("../alice", PASS)
    assert _code(exc) == "invalid_name"


def test_ambiguous_prefix(ks: Keystore, monkeypatch: pytest.MonkeyPatch) -> None:
    ks.create("alice", PASS)
    ks.create("bob", PASS)
    fake = [KeyEntry("alice", "ab" * 32), KeyEntry("bob", "ab" * 31 + "cd")]
    monkeypatch.setattr(Keystore, "list", lambda self: fake)
    with pytest.raises(KeystoreError) as exc:
        ks.path("abababab")
    assert _code(exc) == "ambiguous_key"


@pytest.mark.parametrize("name", ["a", "A1", "key.with-dots_and-dashes", "x" * 64, "0"])
def test_valid_names(ks: Keystore, name: str) -> None:
    ks.create(name, PASS)
    assert [e.name for e in ks.list()] == [name]


@pytest.mark.parametrize(
    "name", ["", ".hidden", "-dash", "_u", "x" * 65, "a/b", "a b", "ä", "a\n", "..", "a\\b"]
)
def test_invalid_names(ks: Keystore, name: str) -> None:
    with pytest.raises(KeystoreError) as exc:
        ks.create(name, PASS)
    assert _code(exc) == "invalid_name"
    assert not ks.directory.exists() or not any(ks.directory.iterdir())


def test_weak_passphrase_refused(ks: Keystore) -> None:
    with pytest.raises(KeystoreError) as exc:
        ks.create("alice", "short")
    assert _code(exc) == "weak_passphrase"
    assert ks.list() == []


def test_refuses_to_replace_existing_file(ks: Keystore) -> None:
    """Publication uses link(), so a file that appears after the existence check survives."""
    ks.create("alice", PASS)
    original = ks.path("alice").read_bytes()
    with pytest.raises(KeystoreError) as exc:
        ks._write_new(ks.path("alice"), "alice", b"{}")
    assert _code(exc) == "key_exists"
    assert ks.path("alice").read_bytes() == original
    assert sorted(os.listdir(ks.directory)) == ["alice.json"]


def test_passphrase_nfc_normalised(ks: Keystore) -> None:
    ks.create("alice", "caf\u00e9 passphrase")
    assert ks.load("alice", "cafe\u0301 passphrase").public_key_hex == ks.public_key("alice")


def test_passphrase_from_env(ks: Keystore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FCL_PASSPHRASE", PASS)
    pk = ks.create("alice")
    assert ks.load("alice").public_key_hex == pk
    assert ks.load("alice", PASS).public_key_hex == pk  # explicit wins, same here
    with pytest.raises(KeystoreError) as exc:
        ks.load("alice", "explicit but wrong")  # explicit beats the environment
    assert _code(exc) == "wrong_passphrase"


def test_no_tty_no_env_is_no_passphrase(ks: Keystore) -> None:
    with pytest.raises(KeystoreError) as exc:
        ks.create("alice")
    assert _code(exc) == "no_passphrase" and "FCL_PASSPHRASE" in exc.value.message
    assert ks.list() == []
    ks.create("alice", PASS)
    with pytest.raises(KeystoreError) as exc:
        ks.load("alice")
    assert _code(exc) == "no_passphrase"


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_interactive_prompt_confirms_twice(ks: Keystore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", _Tty())
    answers = iter([PASS, PASS, PASS, "a", "b"])
    prompts: list[str] = []

    def fake_getpass(prompt: str = "") -> str:
        prompts.append(prompt)
        return next(answers)

    monkeypatch.setattr(keystore_mod.getpass, "getpass", fake_getpass)
    pk = ks.create("alice")
    assert len(prompts) == 2 and "alice" in prompts[0]
    assert ks.load("alice").public_key_hex == pk
    assert len(prompts) == 3
    with pytest.raises(KeystoreError) as exc:
        ks.create("bob")
    assert _code(exc) == "passphrase_mismatch"
    assert [e.name for e in ks.list()] == ["alice"]


def test_resolve_passphrase_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FCL_PASSPHRASE", "from env")
    assert resolve_passphrase("explicit") == "explicit"
    assert resolve_passphrase(None) == "from env"
    monkeypatch.setenv("FCL_PASSPHRASE", "")
    with pytest.raises(KeystoreError):
        resolve_passphrase(None)


def test_test_cost_parameter_validated(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        Keystore(tmp_path, insecure_test_scrypt_n=1000)


# --------------------------------------------------------------------------- builder

CHAIN = "fcl-test"


@pytest.fixture(scope="module")
def keys3() -> list[PrivateKey]:
    return [PrivateKey(bytes([i]) * 32) for i in (1, 2, 3)]


def _roundtrip(tx_json: dict[str, Any]) -> Any:
    return parse_transaction(json.loads(canonical_str(tx_json)), chain_id=CHAIN)


def test_sign_and_cosign_verify(keys3: list[PrivateKey]) -> None:
    tx = build_signed_tx(
        chain_id=CHAIN,
        contract="carbon",
        method="transfer",
        args={"to": "org/b", "amount": 5},
        keys=keys3,
    )
    parsed = _roundtrip(tx.to_json())
    parsed.verify_signatures()
    assert parsed.signers == tuple(k.public_key_hex for k in keys3)
    assert parsed.tx_id == tx.tx_id and len(tx.nonce) == 32


def test_any_signature_byte_change_fails(keys3: list[PrivateKey]) -> None:
    tx = build_signed_tx(
        chain_id=CHAIN, contract="carbon", method="transfer", args={"amount": 5}, keys=keys3[:2]
    )
    base = tx.to_json()
    for i in range(2):
        sig = bytes.fromhex(base["signatures"][i])
        for pos in range(64):
            bad = bytearray(sig)
            bad[pos] ^= 0x01
            tampered = json.loads(json.dumps(base))
            tampered["signatures"][i] = bad.hex()
            with pytest.raises(TxError) as exc:
                _roundtrip(tampered).verify_signatures()
            assert exc.value.code == "bad_signature"
    swapped = json.loads(json.dumps(base))
    swapped["signatures"].reverse()
    with pytest.raises(TxError):
        _roundtrip(swapped).verify_signatures()


@pytest.mark.parametrize(
    "edit",
    [
        lambda p: p["args"].update(amount=6),
        lambda p: p["args"].update(extra="x"),
        lambda p: p.update(nonce=p["nonce"] + "0"),
        lambda p: p.update(method="retire"),
    ],
)
def test_payload_change_fails(keys3: list[PrivateKey], edit: Any) -> None:
    tx = build_signed_tx(
        chain_id=CHAIN, contract="carbon", method="transfer", args={"amount": 5}, keys=keys3
    )
    tampered = json.loads(json.dumps(tx.to_json()))
    edit(tampered["payload"])
    with pytest.raises(TxError) as exc:
        _roundtrip(tampered).verify_signatures()
    assert exc.value.code == "bad_signature"


def test_args_are_nfc_normalised(keys3: list[PrivateKey]) -> None:
    tx = build_signed_tx(
        chain_id=CHAIN,
        contract="carbon",
        method="register",
        args={"name": "Cafe\u0301", "tags": ("e\u0301",), "nested": {"ke\u0301y": ["x\u0301"]}},
        keys=keys3[:1],
        nonce="n-e\u0301",
    )
    assert tx.args == {"name": "Caf\u00e9", "tags": ["\u00e9"], "nested": {"k\u00e9y": ["x\u0301"]}}
    assert tx.nonce == "n-\u00e9"
    _roundtrip(tx.to_json()).verify_signatures()
    with pytest.raises(WalletError) as exc:
        nfc({"\u00e9": 1, "e\u0301": 2})
    assert exc.value.code == "invalid_args"


def test_unencodable_args_name_the_field(keys3: list[PrivateKey]) -> None:
    with pytest.raises(WalletError) as exc:
        build_signed_tx(
            chain_id=CHAIN, contract="carbon", method="m", args={"a": {"b": [1, 1.5]}}, keys=keys3
        )
    assert exc.value.code == "invalid_args" and "args.a.b[1]" in exc.value.message
    with pytest.raises(WalletError) as exc:
        build_signed_tx(chain_id=CHAIN, contract="carbon", method="m", args={}, keys=[])
    assert exc.value.code == "no_signer"
    with pytest.raises(WalletError) as exc:
        build_signed_tx(
            chain_id=CHAIN, contract="carbon", method="m", args={}, keys=[keys3[0], keys3[0]]
        )
    assert exc.value.code == "duplicate_signer"
    with pytest.raises(TxError) as txexc:
        build_signed_tx(chain_id="X", contract="carbon", method="m", args={}, keys=keys3[:1])
    assert txexc.value.code == "malformed_tx"


def test_nonce_is_random_hex() -> None:
    a, b = new_nonce(), new_nonce()
    assert a != b and len(a) == 32 and int(a, 16) >= 0


def test_parse_args_json() -> None:
    assert parse_args_json('{"q": "0.307", "n": 5, "s": "e\u0301"}') == {
        "q": "0.307",
        "n": 5,
        "s": "\u00e9",
    }
    for text, code in [
        ('{"a": 1.5}', "invalid_args"),
        ('{"a": 1e3}', "invalid_args"),
        ('{"a": NaN}', "invalid_json"),
        ('{"a": 1, "a": 2}', "invalid_json"),
        ("[1]", "invalid_args"),
        ("{", "invalid_json"),
    ]:
        with pytest.raises(WalletError) as exc:
            parse_args_json(text)
        assert exc.value.code == code, text


# --------------------------------------------------------------------------- geojson

LON = 1_800_000_000
LAT = 900_000_000


def _square(x0: Any, y0: Any, x1: Any, y1: Any) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}


def test_geojson_exact_conversion() -> None:
    out = geojson_to_ledger(_square(117.1234567, -0.5123456, 117.2, -0.5))
    assert out == {
        "type": "Polygon",
        "coordinates": [
            [
                [1171234567, -5123456],
                [1172000000, -5123456],
                [1172000000, -5000000],
                [1171234567, -5000000],
                [1171234567, -5123456],
            ]
        ],
    }
    canonical(out)  # exact integers only: encodable
    assert all(type(v) is int for ring in out["coordinates"] for p in ring for v in p)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (117.1234567, 1171234567),
        (-117.1234567, -1171234567),
        (0.1, 1_000_000),
        (180, 1_800_000_000),
        (-180.0, -1_800_000_000),
        (0.00000005, 0),  # exactly half: to even
        (0.00000015, 2),
        (0.00000025, 2),
        (-0.00000015, -2),
        (117.12345675, 1171234568),
        (117.12345665, 1171234566),
        (Decimal("1.000000049999999999999999"), 10_000_000),
        (Decimal("1.00000005"), 10_000_000),
        (-0.0, 0),
        (12, 120_000_000),
    ],
)
def test_to_e7_rounding(value: Any, expected: int) -> None:
    assert to_e7(value, limit_e7=LON) == expected


@given(st.integers(min_value=-LON, max_value=LON))
def test_to_e7_inverts_float_degrees(e7: int) -> None:
    assert to_e7(e7 / 1e7, limit_e7=LON) == e7


@pytest.mark.parametrize(
    "value",
    [float("nan"), float("inf"), float("-inf"), Decimal("NaN"), Decimal("sNaN"),
     Decimal("Infinity"), 180.0000001, -180.00000001, True, "117.1", None, [1]],
)  # fmt: skip
def test_to_e7_rejects(value: Any) -> None:
    with pytest.raises(WalletError) as exc:
        to_e7(value, limit_e7=LON)
    assert exc.value.code == "invalid_geojson"


@pytest.mark.parametrize(
    "geo",
    [
        _square(10, 90.0000001, 11, 12),  # latitude out of range
        _square(181, 1, 182, 2),
        _square(float("nan"), 1, 2, 3),
        {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0.5]]]},  # not closed
        {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [0, 0]]]},  # too few
        {"type": "Polygon", "coordinates": [[[0, 0, 5], [1, 0, 5], [1, 1, 5], [0, 0, 5]]]},
        {"type": "Polygon", "coordinates": []},
        {"type": "Point", "coordinates": [0, 0]},
        {"type": "Feature", "geometry": None},
        {**_square(0, 0, 1, 1), "crs": {"type": "name", "properties": {"name": "EPSG:3857"}}},
        [],
    ],
)
def test_geojson_rejects(geo: Any) -> None:
    with pytest.raises(WalletError) as exc:
        geojson_to_ledger(geo)
    assert exc.value.code == "invalid_geojson"


def test_geojson_feature_holes_and_decimal_text() -> None:
    outer = [[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]]
    hole = [[1, 1], [2, 1], [2, 2], [1, 1]]
    feature = {
        "type": "Feature",
        "properties": {"name": "plot 7"},
        "geometry": {"type": "Polygon", "coordinates": [outer, hole]},
    }
    out = geojson_to_ledger(feature)
    assert len(out["coordinates"]) == 2 and out["coordinates"][1][1] == [20_000_000, 10_000_000]
    # Text with more digits than a float holds is read exactly (Decimal), then rounded.
    text = (
        '{"type":"Polygon","coordinates":[[[117.12345674999999999999,1],[2,1],[2,2],'
        "[117.12345674999999999999,1]]]}"
    )
    assert geojson_to_ledger(load_geojson(text))["coordinates"][0][0] == [1171234567, 10_000_000]
    with pytest.raises(WalletError):
        load_geojson('{"type": NaN}')


# --------------------------------------------------------------------------- client

TX_ID = "ab" * 32


def _client(handler: Any, **kw: Any) -> NodeClient:
    return NodeClient("http://node.test:8080/", transport=httpx.MockTransport(handler), **kw)


def _error(status: int, code: str, message: str) -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": code, "message": message}})


def test_submit_posts_canonical_tx(keys3: list[PrivateKey]) -> None:
    tx = build_signed_tx(chain_id=CHAIN, contract="carbon", method="m", args={}, keys=keys3[:1])
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(202, json={"tx_id": tx.tx_id, "status": "pending"})

    with _client(handler) as client:
        assert client.submit(tx) == tx.tx_id
        assert client.submit(tx.to_json()) == tx.tx_id
    req = seen[0]
    assert req.method == "POST" and req.url.path == "/v1/txs"
    assert req.content == canonical(tx.to_json())
    assert req.headers["content-type"] == "application/json"
    assert req.extensions["timeout"]["read"] == 10.0  # a timeout on every request


def test_submit_maps_node_errors(keys3: list[PrivateKey]) -> None:
    tx = build_signed_tx(chain_id=CHAIN, contract="carbon", method="m", args={}, keys=keys3[:1])
    answers = [
        (_error(409, "duplicate_tx", "already committed"), "duplicate_tx", "already committed"),
        (_error(400, "bad_signature", "signature 0"), "bad_signature", "signature 0"),
        (httpx.Response(404, text="no such route"), "http_404", "no such route"),
        (httpx.Response(400, json={"detail": "x"}), "http_400", "HTTP 400"),
        (httpx.Response(503, text="overloaded"), "server_error", "overloaded"),
        (_error(503, "mempool_full", "try later"), "mempool_full", "try later"),
        (httpx.Response(200, text="not json"), "bad_response", "not JSON"),
        (httpx.Response(200, json={"tx_id": "cd" * 32}), "bad_response", "reports id"),
    ]
    for response, code, fragment in answers:
        with _client(lambda request, r=response: r) as client:
            with pytest.raises(ClientError) as exc:
                client.submit(tx)
        assert exc.value.code == code and fragment in exc.value.message
        if code != "bad_response" or response.status_code != 200:
            assert exc.value.status == response.status_code


def test_network_failures() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(ClientError) as exc:
        _client(refuse).status()
    assert exc.value.code == "unreachable" and exc.value.status is None
    with pytest.raises(ClientError) as exc:
        _client(slow, timeout_s=0.5).status()
    assert exc.value.code == "timeout" and "0.5" in exc.value.message
    with pytest.raises(WalletError) as wexc:
        NodeClient("ftp://x")
    assert wexc.value.code == "invalid_url"


def test_status_and_get_tx() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/status":
            return httpx.Response(200, json={"chain_id": CHAIN, "height": 7})
        if request.url.path == f"/v1/txs/{TX_ID}":
            return httpx.Response(200, json={"tx_id": TX_ID, "status": "pending"})
        return _error(404, "not_found", "unknown transaction")

    client = _client(handler)
    assert client.status()["chain_id"] == CHAIN
    assert client.get_tx(TX_ID)["status"] == "pending"
    with pytest.raises(ClientError) as exc:
        client.get_tx("cd" * 32)
    assert exc.value.code == "not_found" and exc.value.status == 404
    with pytest.raises(WalletError) as wexc:
        client.get_tx("../status")
    assert wexc.value.code == "invalid_tx_id"
    with pytest.raises(ClientError) as exc:
        _client(lambda r: httpx.Response(200, json={"height": 1})).status()
    assert exc.value.code == "bad_response"


class _FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def test_wait_committed_polls_until_committed() -> None:
    answers = iter(
        [
            _error(404, "not_found", "not yet"),
            httpx.Response(200, json={"status": "pending"}),
            httpx.Response(503, text="busy"),
            httpx.Response(200, json={"status": "committed", "height": 3, "result": {"ok": True}}),
        ]
    )
    fake = _FakeTime()
    client = _client(lambda r: next(answers), sleep=fake.sleep, clock=fake.clock)
    record = client.wait_committed(TX_ID, timeout_s=10)
    assert record["result"] == {"ok": True} and record["height"] == 3
    assert len(fake.sleeps) == 3


def test_wait_committed_timeout_and_rejection() -> None:
    fake = _FakeTime()
    client = _client(
        lambda r: httpx.Response(200, json={"status": "pending"}),
        sleep=fake.sleep,
        clock=fake.clock,
    )
    with pytest.raises(ClientError) as exc:
        client.wait_committed(TX_ID, timeout_s=5)
    assert exc.value.code == "wait_timeout" and "pending" in exc.value.message
    assert fake.now == pytest.approx(5)
    rejected = httpx.Response(
        200, json={"status": "rejected", "error": {"code": "insufficient_balance", "message": "m"}}
    )
    with pytest.raises(ClientError) as exc:
        _client(lambda r: rejected, sleep=fake.sleep, clock=fake.clock).wait_committed(TX_ID, 5)
    assert exc.value.code == "insufficient_balance"
    with pytest.raises(ClientError) as exc:
        _client(
            lambda r: httpx.Response(200, json={"status": "failed"}),
            sleep=fake.sleep,
            clock=fake.clock,
        ).wait_committed(TX_ID, 5)
    assert exc.value.code == "tx_rejected"
    with pytest.raises(ClientError) as exc:  # a 4xx other than 404 stops the wait
        _client(lambda r: _error(400, "bad_request", "no"), sleep=fake.sleep).wait_committed(TX_ID)
    assert exc.value.code == "bad_request"


def test_submit_batch(keys3: list[PrivateKey]) -> None:
    txs = [
        build_signed_tx(
            chain_id=CHAIN, contract="carbon", method="m", args={"i": i}, keys=keys3[:1]
        )
        for i in range(3)
    ]
    outcomes = [{"tx_id": t.tx_id, "ok": True} for t in txs]
    bodies: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/txs/batch"
        bodies.append(json.loads(request.content))
        return httpx.Response(200, json={"results": outcomes})

    assert _client(handler).submit_batch(txs) == outcomes
    assert bodies[0] == {"txs": [t.to_json() for t in txs]}
    assert _client(lambda r: httpx.Response(200, json=outcomes)).submit_batch(txs) == outcomes
    with pytest.raises(ClientError) as exc:
        _client(lambda r: httpx.Response(200, json=outcomes[:2])).submit_batch(txs)
    assert exc.value.code == "bad_response"


# --------------------------------------------------------------------------- layering


def test_wallet_imports_only_ledger() -> None:
    root = Path(__file__).resolve().parents[2] / "wallet"
    forbidden = {"node", "chaincode", "explorer"}
    for path in sorted(root.glob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in forbidden, f"{path.name} imports {name}"
