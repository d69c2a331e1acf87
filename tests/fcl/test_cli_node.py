"""End to end through the ``fcl`` command, every step a real process: ``node init``,
``node start`` on a free 127.0.0.1 port, ``tx sign | tx simulate``, ``tx sign | tx send
--wait`` (exit 0 when the committed result is ok, 1 when it failed), read back, stop,
restart, and a wrong passphrase."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import httpx
import pytest

from ledger.crypto import sha256_hex
from tests.support.fcl_process import (
    PASSPHRASE,
    clean_env,
    free_port,
    run,
    start_node,
    stop_node,
    wait_healthy,
)


@pytest.fixture
def home(tmp_path: Path):
    port = free_port()
    pp_file = tmp_path / "passphrase"
    pp_file.write_text(PASSPHRASE + "\n")
    pp_file.chmod(0o600)
    home = tmp_path / "node0"
    res = run("node", "init", "--home", str(home), "--chain-id", "fcl-e2e",
              "--rpc-port", str(port), "--passphrase-file", str(pp_file), env=clean_env())
    assert res.returncode == 0, res.stderr
    assert "fcl-e2e" in res.stdout
    return home, pp_file, f"http://127.0.0.1:{port}"


def test_init_start_sign_send_read_back_restart(home) -> None:
    home_dir, pp_file, url = home
    config = json.loads((home_dir / "config.json").read_text())
    assert config["chain_id"] == "fcl-e2e"
    key_file = (home_dir / "keys" / "validator.json").read_text()
    assert PASSPHRASE not in key_file and "seed" not in key_file
    assert (home_dir / "wallet" / "regulator.json").exists()

    proc = start_node(home_dir, pp_file)
    try:
        wait_healthy(url, proc)
        args = json.dumps({"name": "deed-42", "sha256": sha256_hex(b"deed 42")})
        signed = run("tx", "sign", "--keystore", str(home_dir / "wallet"), "--key", "regulator",
                     "--passphrase-file", str(pp_file), "--chain-id", "fcl-e2e",
                     "--contract", "notary", "--method", "record", "--args", args,
                     env=clean_env())
        assert signed.returncode == 0, signed.stderr
        # a dry run first: it would succeed (exit 0, one line), and nothing is submitted
        dry = run("tx", "simulate", "-", "--node", url, stdin=signed.stdout, env=clean_env())
        assert dry.returncode == 0, dry.stderr
        assert dry.stdout.startswith("ok height=") and dry.stdout.count("\n") == 1
        sent = run("tx", "send", "-", "--node", url, "--wait", "--json", "--timeout", "60",
                   stdin=signed.stdout, env=clean_env())
        assert sent.returncode == 0, sent.stderr
        record = json.loads(sent.stdout)
        assert record["status"] == "committed" and record["result"]["code"] == "ok"
        tx_id = record["tx_id"]
        height = record["height"]

        again = httpx.get(f"{url}/v1/txs/{tx_id}").json()
        assert again == record
        block = httpx.get(f"{url}/v1/blocks/{height}").json()
        assert block["block"]["txs"][record["index"]] == json.loads(signed.stdout)
        assert block["commit"]["block_hash"] == block["hash"]
        replay = run("tx", "send", "-", "--node", url, stdin=signed.stdout, env=clean_env())
        assert replay.returncode != 0 and "duplicate_tx" in replay.stderr
        # the same record again (another nonce): the dry run says it would fail (exit 1),
        # and sent, it commits as a failure: one line, exit 1
        again = run("tx", "sign", "--keystore", str(home_dir / "wallet"), "--key", "regulator",
                    "--passphrase-file", str(pp_file), "--chain-id", "fcl-e2e",
                    "--contract", "notary", "--method", "record", "--args", args,
                    "--nonce", "again", env=clean_env())
        assert again.returncode == 0, again.stderr
        dry = run("tx", "simulate", "-", "--node", url, stdin=again.stdout, env=clean_env())
        assert dry.returncode == 1 and dry.stdout.startswith("already_recorded height=")
        failed = run("tx", "send", "-", "--node", url, "--wait", "--timeout", "60",
                     stdin=again.stdout, env=clean_env())
        assert failed.returncode == 1, failed.stderr
        assert failed.stdout.startswith("already_recorded height=")
        assert "error: already_recorded: " in failed.stderr
        second = run("node", "start", "--home", str(home_dir), "--passphrase-file", str(pp_file),
                     "--rpc-port", str(free_port()), env=clean_env())
        assert second.returncode == 1 and "store_locked" in second.stderr
        status = httpx.get(f"{url}/v1/status").json()
    finally:
        if proc.poll() is None:
            logs = stop_node(proc)
    assert "committed block" in logs and PASSPHRASE not in logs
    for line in logs.splitlines():
        json.loads(line)  # structured logs: one JSON object per line

    # restart: the chain continues from the store
    proc = start_node(home_dir, pp_file)
    try:
        wait_healthy(url, proc)
        resumed = httpx.get(f"{url}/v1/status").json()
        assert resumed["height"] == status["height"]
        assert resumed["latest_block_hash"] == status["latest_block_hash"]
        assert httpx.get(f"{url}/v1/txs/{tx_id}").json()["status"] == "committed"
    finally:
        stop_node(proc)


def test_start_with_wrong_passphrase_fails_clearly(home, tmp_path: Path) -> None:
    home_dir, _, _ = home
    wrong = tmp_path / "wrong"
    wrong.write_text("not the passphrase\n")
    res = run("node", "start", "--home", str(home_dir), "--passphrase-file", str(wrong),
              env=clean_env())
    assert res.returncode == 1
    assert "wrong_passphrase" in res.stderr and "Traceback" not in res.stderr
    env = {**clean_env(), "FCL_PASSPHRASE": "also wrong"}
    res = run("node", "start", "--home", str(home_dir), env=env)
    assert res.returncode == 1 and "wrong_passphrase" in res.stderr


def test_init_refuses_an_initialised_home_and_start_an_empty_one(home, tmp_path: Path) -> None:
    home_dir, pp_file, _ = home
    res = run("node", "init", "--home", str(home_dir), "--passphrase-file", str(pp_file),
              env=clean_env())
    assert res.returncode == 1 and "already_initialised" in res.stderr
    res = run("node", "start", "--home", str(tmp_path / "nowhere"),
              "--passphrase-file", str(pp_file), env=clean_env())
    assert res.returncode == 1 and "not_initialised" in res.stderr


def test_start_on_a_busy_port_fails_clearly(home) -> None:
    home_dir, pp_file, url = home
    port = int(url.rsplit(":", 1)[1])
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", port))
        busy.listen()
        res = run("node", "start", "--home", str(home_dir), "--passphrase-file", str(pp_file),
                  env=clean_env())
    assert res.returncode == 1 and "rpc_failed" in res.stderr
    assert "Traceback" not in res.stderr


def test_serve_exits_1_and_reports_halted_when_block_production_fails(
    tmp_path: Path, genesis, validator_key
) -> None:
    import asyncio

    from chaincode.executor import Executor
    from fcl.main import _serve
    from ledger.store import Store
    from node.api.service import Node
    from node.chain.app import Application
    from node.txpool.mempool import Mempool

    class BrokenDriver:
        async def run(self) -> None:
            await asyncio.sleep(0.3)
            raise OSError("disk full")

        def stop(self) -> None:
            pass

    with Store(tmp_path / "db") as store:
        pool = Mempool()
        node = Node(moniker="n", genesis=genesis, store=store,
                    app=Application(store, Executor(), genesis), mempool=pool)
        code = asyncio.run(_serve(node, BrokenDriver(), "127.0.0.1", free_port()))
    assert code == 1
    assert node.halted is not None and "disk full" in node.halted


def test_init_with_p2p_settings_and_refusals(tmp_path: Path) -> None:
    pp_file = tmp_path / "passphrase"
    pp_file.write_text(PASSPHRASE + "\n")
    peer = "ab" * 32 + "@127.0.0.1:26800"
    res = run("node", "init", "--home", str(tmp_path / "n"), "--p2p-port", "26801",
              "--peer", peer, "--passphrase-file", str(pp_file), env=clean_env())
    assert res.returncode == 0, res.stderr
    config = json.loads((tmp_path / "n" / "config.json").read_text())
    assert config["p2p"]["port"] == 26801 and config["p2p"]["peers"] == [peer]
    assert "p2p:" in res.stdout and "@127.0.0.1:26801" in res.stdout
    bad = run("node", "init", "--home", str(tmp_path / "m"), "--peer", "nokey@host:1",
              "--passphrase-file", str(pp_file), env=clean_env())
    assert bad.returncode == 2 and "bad_config" in bad.stderr
    assert not (tmp_path / "m" / "config.json").exists()


def test_colleague_commands_are_registered() -> None:
    res = run("--help", env=clean_env())
    assert res.returncode == 0
    for command in ("node", "testnet", "bench", "keys", "tx", "verify", "audit", "devnet"):
        assert command in res.stdout, command
