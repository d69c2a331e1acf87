"""The ``fcl keys`` / ``fcl tx`` commands, through wallet.cli.main_for_tests."""

from __future__ import annotations

import argparse
import functools
import io
import json
import os
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

import wallet.cli as cli
import wallet.keystore as keystore_mod
from ledger.crypto import PrivateKey
from ledger.errors import TxError
from ledger.tx import parse_transaction
from wallet.client import NodeClient
from wallet.keystore import Keystore

TEST_N = 2**4
PASS = "correct horse battery"
CHAIN = "fcl-test"
SEED = bytes(range(7, 39))


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FCL_PASSPHRASE", raising=False)
    monkeypatch.delenv("FCL_KEYSTORE", raising=False)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))


@pytest.fixture
def kdir(tmp_path: Path) -> Path:
    return tmp_path / "keys"


def run(*argv: str) -> int:
    return cli.main_for_tests(list(argv), test_scrypt_n=TEST_N)


def _keys(kdir: Path, *names: str) -> dict[str, str]:
    ks = Keystore(kdir, insecure_test_scrypt_n=TEST_N)
    return {n: ks.create(n, PASS) for n in names}


def _sign_argv(kdir: Path, *extra: str, args: str = '{"amount": 5}') -> list[str]:
    return [
        "tx", "sign", "--keystore", str(kdir), "--key", "alice", "--chain-id", CHAIN,
        "--contract", "carbon", "--method", "transfer", "--args", args, *extra,
    ]  # fmt: skip


def _no_traceback(err: str) -> None:
    assert "Traceback" not in err


# --------------------------------------------------------------------------- keys


def test_keys_new_list_show(
    kdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FCL_PASSPHRASE", PASS)
    assert run("keys", "new", "alice", "--keystore", str(kdir)) == 0
    pk = capsys.readouterr().out.strip()
    assert len(pk) == 64 and int(pk, 16) >= 0
    assert run("keys", "new", "bob", "--keystore", str(kdir)) == 0
    pk_bob = capsys.readouterr().out.strip()

    assert run("keys", "list", "--keystore", str(kdir)) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split() for line in lines] == [["alice", pk], ["bob", pk_bob]]

    assert run("keys", "show", "alice", "--keystore", str(kdir)) == 0
    out = capsys.readouterr().out
    assert pk in out and str(kdir / "alice.json") in out
    assert run("keys", "show", pk_bob[:10], "--keystore", str(kdir)) == 0
    assert "bob" in capsys.readouterr().out


def test_keystore_from_env(
    kdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FCL_KEYSTORE", str(kdir))
    monkeypatch.setenv("FCL_PASSPHRASE", PASS)
    assert run("keys", "new", "alice") == 0
    assert (kdir / "alice.json").is_file()
    assert run("keys", "list") == 0
    assert "alice" in capsys.readouterr().out


def test_keys_new_default_dir_under_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("FCL_PASSPHRASE", PASS)
    assert run("keys", "new", "alice") == 0
    assert (tmp_path / ".fcl" / "keys" / "alice.json").is_file()
    assert oct(os.stat(tmp_path / ".fcl" / "keys").st_mode & 0o777) == "0o700"


def test_keys_new_prompts_twice(
    kdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stdin", Tty())
    answers = iter([PASS, PASS, PASS, PASS + "x"])
    monkeypatch.setattr(keystore_mod.getpass, "getpass", lambda prompt="": next(answers))
    assert run("keys", "new", "alice", "--keystore", str(kdir)) == 0
    assert run("keys", "new", "bob", "--keystore", str(kdir)) == 2
    err = capsys.readouterr().err
    assert "error: passphrase_mismatch:" in err
    assert not (kdir / "bob.json").exists()


def test_no_passphrase_without_tty(kdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("keys", "new", "alice", "--keystore", str(kdir)) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no_passphrase: ") and "FCL_PASSPHRASE" in err
    _no_traceback(err)
    assert not (kdir / "alice.json").exists()


def test_passphrase_file(kdir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pf = tmp_path / "pass.txt"
    pf.write_text(PASS + "\n")
    assert run("keys", "new", "alice", "--keystore", str(kdir), "--passphrase-file", str(pf)) == 0
    capsys.readouterr()
    assert run(*_sign_argv(kdir, "--passphrase-file", str(pf))) == 0
    pf.write_text("")
    assert run("keys", "new", "bob", "--keystore", str(kdir), "--passphrase-file", str(pf)) == 2


def test_key_errors_exit_codes(
    kdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _keys(kdir, "alice")
    monkeypatch.setenv("FCL_PASSPHRASE", PASS)
    cases = [
        (["keys", "new", "alice"], 1, "key_exists"),
        (["keys", "new", "../evil"], 2, "invalid_name"),
        (["keys", "show", "nobody"], 2, "unknown_key"),
    ]
    for argv, code, err_code in cases:
        assert run(*argv, "--keystore", str(kdir)) == code, argv
        err = capsys.readouterr().err
        assert err.startswith(f"error: {err_code}: "), err
        _no_traceback(err)
    assert run("keys") == 2  # argparse: missing subcommand
    assert run("keys", "bogus") == 2


def test_corrupt_keystore_exit_1(
    kdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _keys(kdir, "alice")
    (kdir / "alice.json").write_text("{}")
    monkeypatch.setenv("FCL_PASSPHRASE", PASS)
    assert run(*_sign_argv(kdir)) == 1
    assert capsys.readouterr().err.startswith("error: corrupt_keystore: ")


# --------------------------------------------------------------------------- tx sign


def test_sign_with_cosigners_verifies(
    kdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pks = _keys(kdir, "alice", "bob", "carol")
    monkeypatch.setenv("FCL_PASSPHRASE", PASS)
    args = '{"to": "org/e\u0301", "amount": 5}'
    argv = _sign_argv(kdir, "--cosign", "bob", "--cosign", pks["carol"][:8], args=args)
    assert run(*argv) == 0
    out = capsys.readouterr().out
    tx = parse_transaction(json.loads(out), chain_id=CHAIN)
    tx.verify_signatures()
    assert tx.signers == (pks["alice"], pks["bob"], pks["carol"])
    assert tx.args == {"to": "org/\u00e9", "amount": 5}  # NFC
    # Any changed byte of any signature, or of the args, breaks verification.
    for i in range(3):
        for pos in (0, 17, 63):
            bad = json.loads(out)
            sig = bytearray(bytes.fromhex(bad["signatures"][i]))
            sig[pos] ^= 0x80
            bad["signatures"][i] = sig.hex()
            with pytest.raises(TxError):
                parse_transaction(bad).verify_signatures()
    bad = json.loads(out)
    bad["payload"]["args"]["amount"] = 50
    with pytest.raises(TxError):
        parse_transaction(bad).verify_signatures()


def test_sign_out_file_and_args_from_file(
    kdir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _keys(kdir, "alice")
    monkeypatch.setenv("FCL_PASSPHRASE", PASS)
    args_file = tmp_path / "args.json"
    args_file.write_text('{"batch": "b-1", "quantity": 12}')
    out_file = tmp_path / "tx.json"
    argv = _sign_argv(kdir, "--out", str(out_file), "--nonce", "n1", args=f"@{args_file}")
    assert run(*argv) == 0
    tx_id = capsys.readouterr().out.strip()
    tx = parse_transaction(json.loads(out_file.read_text()))
    tx.verify_signatures()
    assert tx.tx_id == tx_id and tx.nonce == "n1" and tx.args["quantity"] == 12
    monkeypatch.setattr(sys, "stdin", io.StringIO('{"from_stdin": true}'))
    assert run(*_sign_argv(kdir, args="@-")) == 0
    assert parse_transaction(json.loads(capsys.readouterr().out)).args == {"from_stdin": True}


@pytest.mark.parametrize(
    ("args", "code"),
    [
        ('{"amount": 1.5}', "invalid_args"),
        ("[1, 2]", "invalid_args"),
        ("{not json", "invalid_json"),
        ("@/nonexistent/args.json", "invalid_input"),
    ],
)
def test_sign_bad_args_exit_2(
    kdir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: str,
    code: str,
) -> None:
    _keys(kdir, "alice")
    monkeypatch.setenv("FCL_PASSPHRASE", PASS)
    assert run(*_sign_argv(kdir, args=args)) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(f"error: {code}: ") and captured.out == ""
    _no_traceback(captured.err)


def test_sign_rejects_same_key_twice_and_bad_chain(
    kdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pks = _keys(kdir, "alice")
    monkeypatch.setenv("FCL_PASSPHRASE", PASS)
    assert run(*_sign_argv(kdir, "--cosign", pks["alice"][:8])) == 2
    assert "duplicate_signer" in capsys.readouterr().err
    argv = _sign_argv(kdir)
    argv[argv.index(CHAIN)] = "Bad Chain"
    assert run(*argv) == 2
    assert "error: malformed_tx:" in capsys.readouterr().err


def test_wrong_passphrase_cli(
    kdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _keys(kdir, "alice")
    path = kdir / "alice.json"
    before = (path.read_bytes(), os.stat(path).st_mtime_ns, sorted(os.listdir(kdir)))
    monkeypatch.setenv("FCL_PASSPHRASE", "not the passphrase")
    assert run(*_sign_argv(kdir)) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith("error: wrong_passphrase: ") and captured.out == ""
    _no_traceback(captured.err)
    assert (path.read_bytes(), os.stat(path).st_mtime_ns, sorted(os.listdir(kdir))) == before


def test_seed_not_in_cli_output(
    kdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    Keystore(kdir, insecure_test_scrypt_n=TEST_N).import_seed("alice", SEED, PASS)
    monkeypatch.setenv("FCL_PASSPHRASE", PASS)
    for argv in (["keys", "list"], ["keys", "show", "alice"]):
        assert run(*argv, "--keystore", str(kdir)) == 0
    assert run(*_sign_argv(kdir)) == 0
    monkeypatch.setenv("FCL_PASSPHRASE", "wrong passphrase")
    assert run(*_sign_argv(kdir)) == 1
    captured = capsys.readouterr()
    text = (captured.out + captured.err).lower()
    assert PrivateKey(SEED).public_key_hex in text
    assert SEED.hex() not in text


# --------------------------------------------------------------------------- tx send


class FakeNode:
    """A node RPC behind httpx.MockTransport."""

    def __init__(self) -> None:
        self.txs: dict[str, dict[str, Any]] = {}
        self.polls = 0
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if request.method == "POST" and path == "/v1/txs":
            tx = parse_transaction(json.loads(request.content))
            if tx.tx_id in self.txs:
                return httpx.Response(
                    409,
                    json={"error": {"code": "duplicate_tx", "message": "already known"}},
                )
            self.txs[tx.tx_id] = {"tx_id": tx.tx_id, "status": "pending"}
            return httpx.Response(202, json={"tx_id": tx.tx_id})
        if request.method == "GET" and path.startswith("/v1/txs/"):
            tx_id = path.rsplit("/", 1)[1]
            self.polls += 1
            if tx_id not in self.txs:
                return httpx.Response(404, json={"error": {"code": "not_found", "message": "?"}})
            if self.polls >= 2:
                self.txs[tx_id] = {
                    "tx_id": tx_id,
                    "status": "committed",
                    "height": 4,
                    "result": {"code": "ok", "events": []},
                }
            return httpx.Response(200, json=self.txs[tx_id])
        return httpx.Response(404, text="no route")


@pytest.fixture
def node(monkeypatch: pytest.MonkeyPatch) -> FakeNode:
    fake = FakeNode()
    factory = functools.partial(NodeClient, transport=httpx.MockTransport(fake))
    monkeypatch.setattr(cli, "NodeClient", factory)
    return fake


@pytest.fixture
def signed_file(kdir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    _keys(kdir, "alice")
    monkeypatch.setenv("FCL_PASSPHRASE", PASS)
    out = tmp_path / "tx.json"
    assert run(*_sign_argv(kdir, "--out", str(out))) == 0
    return out


def test_send_and_wait(
    node: FakeNode, signed_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    tx_id = parse_transaction(json.loads(signed_file.read_text())).tx_id
    argv = ["tx", "send", str(signed_file), "--node", "http://node.test:8080"]
    assert run(*argv, "--wait", "--timeout", "5") == 0
    record = json.loads(capsys.readouterr().out)
    assert record["status"] == "committed" and record["result"]["code"] == "ok"
    assert record["tx_id"] == tx_id
    # Sending it again: the node's refusal is reported with its own code, exit 1.
    assert run(*argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: duplicate_tx: already known")
    _no_traceback(err)


def test_send_from_stdin_without_wait(
    node: FakeNode,
    signed_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    capsys.readouterr()
    monkeypatch.setattr(sys, "stdin", io.StringIO(signed_file.read_text()))
    assert run("tx", "send", "-", "--node", "http://node.test:8080") == 0
    tx_id = capsys.readouterr().out.strip()
    assert tx_id in node.txs and node.txs[tx_id]["status"] == "pending"


def test_send_refuses_damaged_file_locally(
    node: FakeNode, signed_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    doc = json.loads(signed_file.read_text())
    doc["payload"]["args"]["amount"] = 6
    signed_file.write_text(json.dumps(doc))
    assert run("tx", "send", str(signed_file), "--node", "http://node.test:8080") == 2
    assert capsys.readouterr().err.startswith("error: bad_signature: ")
    signed_file.write_text('{"payload": 1.5}')
    assert run("tx", "send", str(signed_file), "--node", "http://node.test:8080") == 2
    assert capsys.readouterr().err.startswith("error: invalid_tx: ")
    assert node.requests == []


def test_send_unreachable_and_bad_url(
    signed_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert run("tx", "send", str(signed_file), "--node", "not a url") == 2
    assert capsys.readouterr().err.startswith("error: invalid_url: ")

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    transport = httpx.MockTransport(refuse)
    monkeypatch.setattr(cli, "NodeClient", functools.partial(NodeClient, transport=transport))
    argv = ["tx", "send", str(signed_file), "--node", "http://node.test:1", "--wait"]
    assert run(*argv, "--request-timeout", "2") == 1
    err = capsys.readouterr().err
    assert err.startswith("error: unreachable: ") and "connection refused" in err
    _no_traceback(err)
    assert run(*argv, "--timeout", "0") == 2  # argparse refuses a non-positive timeout


def test_geojson_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "plot.geojson"
    src.write_text(
        '{"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates":'
        " [[[117.1234567, -0.5], [117.2, -0.5], [117.2, -0.4], [117.1234567, -0.5]]]}}"
    )
    assert run("tx", "geojson", str(src)) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["coordinates"][0][0] == [1171234567, -5000000]
    src.write_text('{"type": "Polygon", "coordinates": [[[200, 0], [1, 0], [1, 1], [200, 0]]]}')
    assert run("tx", "geojson", str(src)) == 2
    assert capsys.readouterr().err.startswith("error: invalid_geojson: ")


# --------------------------------------------------------------------------- wiring


def _leaves(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        return [parser]
    return [leaf for sub in subs for p in sub.choices.values() for leaf in _leaves(p)]


def test_register_into_a_host_parser(kdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What fcl/main.py does: register, parse, call args.func(args) -> int."""
    parser = argparse.ArgumentParser(prog="fcl")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("node").set_defaults(func=lambda args: 0)
    cli.register(sub)
    leaves = _leaves(parser)
    assert len(leaves) == 7  # keys new/list/show, tx sign/send/geojson, node
    for leaf in leaves:
        if leaf.prog != "fcl node":
            assert leaf.get_default("func") is cli.handle, leaf.prog
    monkeypatch.setenv("FCL_PASSPHRASE", PASS)
    monkeypatch.setenv("FCL_KEYSTORE", str(kdir))
    _keys(kdir, "alice")
    args = parser.parse_args(["keys", "list"])
    assert args.func(args) == 0
    assert cli.handle(argparse.Namespace()) == 2
