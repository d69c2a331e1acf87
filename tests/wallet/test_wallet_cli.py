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
from ledger.crypto import PrivateKey, sha256_hex
from ledger.encoding import canonical
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
        self.simulated = []
        self.failing = {}

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
            self.failing[tx.tx_id] = self._fails(dict(tx.payload))
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
                    "result": self.result_of(tx_id),
                }
            return httpx.Response(200, json=self.txs[tx_id])
        if request.method == "POST" and path == "/v1/txs/simulate":
            return self.simulate(json.loads(request.content))
        return httpx.Response(404, text="no route")

    #: transactions whose amount is 6 fail in the (fake) contract
    def _fails(self, payload: dict[str, Any]) -> bool:
        return payload.get("args", {}).get("amount") == 6

    def result_of(self, tx_id: str) -> dict[str, Any]:
        if self.failing.get(tx_id):
            return {"code": "insufficient_balance", "events": [], "tx_id": tx_id,
                    "message": "balance 5 is less than the amount 6"}
        return {"code": "ok", "events": [], "tx_id": tx_id, "message": ""}

    failing: dict[str, bool] = {}

    def simulate(self, body: dict[str, Any]) -> httpx.Response:
        self.simulated.append(body)
        if self.refuse_simulation is not None:
            return httpx.Response(403, json={"error": {"code": self.refuse_simulation,
                                                       "message": "not a member"}})
        payload = dict(body["tx"]["payload"])
        if "signers" in body:
            payload["signers"] = body["signers"]
        fails = self._fails(payload)
        code = "insufficient_balance" if fails else "ok"
        message = "balance 5 is less than the amount 6" if fails else ""
        tx_id = sha256_hex(canonical(payload))
        result = {"code": code, "events": [], "message": message, "tx_id": tx_id}
        return httpx.Response(200, json={
            "ok": not fails, "code": code, "message": message, "events": [], "result": result,
            "tx_id": tx_id, "height": 3, "block_height": 4, "block_time": 1, "writes": 1})

    simulated: list[dict[str, Any]]
    refuse_simulation: str | None = None


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
    assert run(*argv, "--wait", "--timeout", "5", "--json") == 0
    record = json.loads(capsys.readouterr().out)
    assert record["status"] == "committed" and record["result"]["code"] == "ok"
    assert record["tx_id"] == tx_id
    # Sending it again: the node's refusal is reported with its own code, exit 1.
    assert run(*argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: duplicate_tx: already known")
    _no_traceback(err)


def test_send_wait_prints_one_line_and_exits_0_when_the_result_is_ok(
    node: FakeNode, signed_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    tx_id = parse_transaction(json.loads(signed_file.read_text())).tx_id
    argv = ["tx", "send", str(signed_file), "--node", "http://node.test:8080", "--wait"]
    assert run(*argv, "--timeout", "5") == 0
    captured = capsys.readouterr()
    assert captured.out == f"ok height=4 tx={tx_id}\n"
    assert "error" not in captured.err


def test_send_wait_exits_1_when_the_committed_transaction_failed(
    node: FakeNode, kdir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _keys(kdir, "alice")
    monkeypatch.setenv("FCL_PASSPHRASE", PASS)
    out = tmp_path / "fails.json"
    assert run(*_sign_argv(kdir, "--out", str(out), args='{"amount": 6}')) == 0
    tx_id = capsys.readouterr().out.strip()
    argv = ["tx", "send", str(out), "--node", "http://node.test:8080", "--wait", "--timeout", "5"]
    assert run(*argv) == 1
    captured = capsys.readouterr()
    assert captured.out == f"insufficient_balance height=4 tx={tx_id}\n"
    assert "error: insufficient_balance: balance 5 is less than the amount 6" in captured.err
    _no_traceback(captured.err)
    # --json: the committed record instead of the line, and still exit 1
    other = tmp_path / "fails-too.json"
    assert run(*_sign_argv(kdir, "--out", str(other), "--nonce", "n2", args='{"amount": 6}')) == 0
    other_id = capsys.readouterr().out.strip()
    node.polls = 0
    argv[2] = str(other)
    assert run(*argv, "--json") == 1
    captured = capsys.readouterr()
    record = json.loads(captured.out)
    assert record["tx_id"] == other_id and record["result"]["code"] == "insufficient_balance"
    assert "error: insufficient_balance: " in captured.err


def test_send_json_without_wait_and_a_missing_file(
    node: FakeNode, signed_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert run("tx", "send", str(signed_file), "--node", "http://node.test:8080", "--json") == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["status"] == "pending" and answer["tx_id"] in node.txs
    assert run("tx", "send", str(tmp_path / "nope.json"), "--node", "http://node.test:8080") == 2
    assert capsys.readouterr().err.startswith("error: invalid_input: ")


def test_send_wait_with_a_record_without_result_is_a_bad_response(
    signed_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    tx_id = parse_transaction(json.loads(signed_file.read_text())).tx_id

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(202, json={"tx_id": tx_id})
        return httpx.Response(200, json={"status": "committed", "height": 2, "result": None})

    transport = httpx.MockTransport(handler)
    monkeypatch.setattr(cli, "NodeClient", functools.partial(NodeClient, transport=transport))
    capsys.readouterr()
    argv = ["tx", "send", str(signed_file), "--node", "http://node.test:8080", "--wait"]
    assert run(*argv) == 1
    assert "error: bad_response: " in capsys.readouterr().err


# --------------------------------------------------------------------------- tx simulate


def _unsigned_file(tmp_path: Path, *, amount: int = 5, signers: list[str] | None = None) -> Path:
    payload: dict[str, Any] = {"chain_id": CHAIN, "contract": "carbon", "method": "transfer",
                               "args": {"amount": amount}, "nonce": "u1"}
    if signers is not None:
        payload["signers"] = signers
    out = tmp_path / f"unsigned-{amount}.json"
    out.write_text(json.dumps({"payload": payload}))
    return out


def test_simulate_a_signed_transaction(
    node: FakeNode, signed_file: Path, kdir: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    capsys.readouterr()
    tx_id = parse_transaction(json.loads(signed_file.read_text())).tx_id
    argv = ["tx", "simulate", str(signed_file), "--node", "http://node.test:8080"]
    assert run(*argv) == 0
    assert capsys.readouterr().out == f"ok height=3 tx={tx_id}\n"
    assert node.simulated == [{"tx": json.loads(signed_file.read_text())}]
    assert node.txs == {}  # nothing submitted
    assert run(*argv, "--json") == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True
    # one that would fail: exit 1, its code on the line and the message on stderr
    failing = tmp_path / "fails.json"
    assert run(*_sign_argv(kdir, "--out", str(failing), args='{"amount": 6}')) == 0
    capsys.readouterr()
    assert run("tx", "simulate", str(failing), "--node", "http://node.test:8080") == 1
    captured = capsys.readouterr()
    assert captured.out.startswith("insufficient_balance height=3 tx=")
    assert captured.err.startswith("error: insufficient_balance: balance 5")
    # --signer beside signatures is a usage error (2), nothing sent
    sent = len(node.simulated)
    assert run(*argv, "--signer", "alice", "--keystore", str(kdir)) == 2
    assert capsys.readouterr().err.startswith("error: usage: ")
    # a damaged signed file is refused locally (2), as tx send refuses it
    doc = json.loads(signed_file.read_text())
    doc["payload"]["args"]["amount"] = 7
    signed_file.write_text(json.dumps(doc))
    assert run(*argv) == 2
    assert capsys.readouterr().err.startswith("error: bad_signature: ")
    assert len(node.simulated) == sent


def test_simulate_an_unsigned_transaction_with_signers(
    node: FakeNode, kdir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    alice = _keys(kdir, "alice")["alice"]
    bob = PrivateKey(SEED).public_key_hex
    file = _unsigned_file(tmp_path)
    base = ["tx", "simulate", str(file), "--node", "http://node.test:8080", "--keystore", str(kdir)]
    assert run(*base, "--signer", "alice") == 0  # a keystore name: no passphrase asked
    assert node.simulated[-1]["signers"] == [alice]
    assert "signatures" not in node.simulated[-1]["tx"]
    assert run(*base, "--signer", "alice", "--signer", bob) == 0  # or a public key
    assert node.simulated[-1]["signers"] == [alice, bob]
    line = capsys.readouterr().out.splitlines()[-1]
    assert line.startswith("ok height=3 tx=")
    # the payload's own signers, without --signer
    own = _unsigned_file(tmp_path, amount=6, signers=[alice])
    assert run("tx", "simulate", str(own), "--node", "http://node.test:8080") == 1
    assert "signers" not in node.simulated[-1]
    sent = len(node.simulated)
    capsys.readouterr()
    # bad input: exit 2, nothing sent
    assert run("tx", "simulate", str(file), "--node", "http://node.test:8080") == 2
    assert capsys.readouterr().err.startswith("error: no_signer: ")
    assert run(*base, "--signer", "carol") == 2
    assert capsys.readouterr().err.startswith("error: unknown_key: ")
    assert run(*base, "--signer", "alice", "--signer", alice) == 2
    assert capsys.readouterr().err.startswith("error: duplicate_signer: ")
    assert run("tx", "simulate", str(own), "--node", "http://node.test:8080", "--keystore",
               str(kdir), "--signer", bob) == 2
    assert capsys.readouterr().err.startswith("error: invalid_tx: ")
    file.write_text('{"payload": {"chain_id": "fcl-test"}}')
    assert run(*base, "--signer", "alice") == 2
    assert capsys.readouterr().err.startswith("error: malformed_tx: ")
    file.write_text("[1, 2]")
    assert run(*base, "--signer", "alice") == 2
    assert capsys.readouterr().err.startswith("error: invalid_tx: ")
    assert len(node.simulated) == sent


def test_simulate_refused_or_unreachable_is_1(
    node: FakeNode, signed_file: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    capsys.readouterr()
    node.refuse_simulation = "unenrolled_signer"
    argv = ["tx", "simulate", str(signed_file), "--node", "http://node.test:8080"]
    assert run(*argv) == 1
    assert capsys.readouterr().err.startswith("error: unenrolled_signer: not a member")

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    transport = httpx.MockTransport(refuse)
    monkeypatch.setattr(cli, "NodeClient", functools.partial(NodeClient, transport=transport))
    assert run(*argv) == 1
    assert capsys.readouterr().err.startswith("error: unreachable: ")


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
    # keys new/list/show, tx sign/send/simulate/geojson, doc upload/get, node
    assert len(leaves) == 10
    for leaf in leaves:
        if leaf.prog != "fcl node":
            assert leaf.get_default("func") is cli.handle, leaf.prog
    monkeypatch.setenv("FCL_PASSPHRASE", PASS)
    monkeypatch.setenv("FCL_KEYSTORE", str(kdir))
    _keys(kdir, "alice")
    args = parser.parse_args(["keys", "list"])
    assert args.func(args) == 0
    assert cli.handle(argparse.Namespace()) == 2
