"""``fcl audit`` through fcl.audit.cli.register(): a data folder, checkpoints, and every
bad input (one ``error: <code>: <message>`` line, no traceback, the documented exit code)."""

from __future__ import annotations

import argparse
import json
import socket
from pathlib import Path

import pytest

from fcl.audit.cli import EXIT_FAILED, EXIT_INPUT, EXIT_OK, EXIT_UNABLE, register
from ledger.genesis import Genesis
from ledger.store import Store
from tests.support.audit_chain import (
    BLOCKS,
    ChainBuilder,
    audit_genesis,
    build_chain,
    edit_block,
    standard_txs,
)


def fcl_audit(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="fcl")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["audit", *argv])
    return int(args.func(args))


@pytest.fixture
def genesis() -> Genesis:
    return audit_genesis()


@pytest.fixture
def home(tmp_path: Path, genesis: Genesis) -> Path:
    """A node home as `fcl node init` lays it out: genesis.json and data/."""
    home = tmp_path / "node0"
    build_chain(home / "data", genesis).close()
    genesis.dump(home / "genesis.json")
    return home


def one_error(err: str, code: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and lines[0].startswith(f"error: {code}: "), err
    assert "Traceback" not in err
    return lines[0]


def test_audit_of_a_data_folder_passes_and_writes_a_checkpoint(home: Path, capsys) -> None:
    cp_file = home.parent / "checkpoint.json"
    code = fcl_audit("--data", str(home / "data"), "--genesis", str(home / "genesis.json"),
                     "--progress-every", "3", "--write-checkpoint", str(cp_file))
    out, err = capsys.readouterr()
    assert code == EXIT_OK, err
    assert "audit passed" in out and f"blocks verified:   {BLOCKS}" in out
    assert "transactions:      18 (2 failed)" in out
    progress = [line for line in err.splitlines() if "blocks/s" in line]
    assert len(progress) == 2 and "3/8 blocks" in progress[0] and "6/8 blocks" in progress[1]
    saved = json.loads(cp_file.read_text())
    with Store(home / "data") as store:
        assert saved["height"] == BLOCKS and saved["block_hash"] == store.latest_hash()
        assert f"checkpoint:        {BLOCKS}:{saved['history_root']}" in out
    # a node home works as well as its data folder; --json gives the report
    code = fcl_audit("--data", str(home), "--genesis", str(home / "genesis.json"), "--json",
                     "--progress-every", "0")
    out, err = capsys.readouterr()
    assert code == EXIT_OK and err == ""
    report = json.loads(out)
    assert report["ok"] and report["final_height"] == BLOCKS and report["discrepancy"] is None
    assert report["history_root"] == saved["history_root"]


def test_tampered_chain_exits_3_with_the_first_discrepancy(home: Path, capsys) -> None:
    edit_block(home / "data", 5, lambda b: b["results"][0].update(message="tampered"))
    code = fcl_audit("--data", str(home / "data"), "--genesis", str(home / "genesis.json"),
                     "--write-checkpoint", str(home / "cp.json"))
    out, err = capsys.readouterr()
    assert code == EXIT_FAILED
    line = one_error(err, "audit_failed")
    assert "height 5: bad_results_root: expected " in line and ", found " in line
    assert "audit FAILED" in out and "blocks verified:   4" in out
    assert "first discrepancy: height 5: bad_results_root" in out
    assert not (home / "cp.json").exists()
    code = fcl_audit("--data", str(home / "data"), "--genesis", str(home / "genesis.json"),
                     "--json")
    out, _ = capsys.readouterr()
    assert code == EXIT_FAILED
    assert json.loads(out)["discrepancy"]["check"] == "bad_results_root"


def test_checkpoint_from_a_file_and_from_the_command_line(home: Path, genesis: Genesis,
                                                          capsys) -> None:
    cp_file = home / "cp.json"
    args = ("--data", str(home / "data"), "--genesis", str(home / "genesis.json"))
    assert fcl_audit(*args, "--to-height", "3", "--write-checkpoint", str(cp_file)) == EXIT_OK
    saved = json.loads(cp_file.read_text())
    assert saved["height"] == 3
    capsys.readouterr()
    assert fcl_audit(*args, "--since-checkpoint", str(cp_file)) == EXIT_OK
    out, _ = capsys.readouterr()
    assert "checkpoint check passed" in out and "validator set:     checkpoint" in out
    new_file = home / "cp2.json"
    assert fcl_audit(*args, "--since-checkpoint", f"3:{saved['history_root']}",
                     "--write-checkpoint", str(new_file)) == EXIT_OK
    assert json.loads(new_file.read_text())["height"] == BLOCKS
    capsys.readouterr()
    assert fcl_audit(*args, "--since-checkpoint", f"3:{'ee' * 32}") == EXIT_FAILED
    _, err = capsys.readouterr()
    assert "checkpoint_root" in one_error(err, "audit_failed")
    # at the latest header: the roots must simply be equal
    assert fcl_audit(*args, "--since-checkpoint", str(new_file)) == EXIT_OK
    # what a full audit of the idle chain writes is checked straight back
    chain_tip = home / "tip.json"
    assert fcl_audit(*args, "--write-checkpoint", str(chain_tip)) == EXIT_OK
    assert json.loads(chain_tip.read_text())["height"] == BLOCKS
    capsys.readouterr()
    assert fcl_audit(*args, "--since-checkpoint", str(chain_tip)) == EXIT_OK
    assert "checkpoint check passed" in capsys.readouterr().out


def test_store_in_use_says_so_and_suggests_the_node(home: Path, capsys) -> None:
    with Store(home / "data"):
        code = fcl_audit("--data", str(home / "data"), "--genesis", str(home / "genesis.json"))
    assert code == EXIT_UNABLE
    line = one_error(capsys.readouterr().err, "store_locked")
    assert "--node" in line


@pytest.mark.parametrize(
    ("argv", "code", "exit_code"),
    [
        (["--data", "{home}/nowhere"], "no_store", EXIT_INPUT),
        (["--data", "{home}/data", "--genesis-file-missing"], "bad_genesis", EXIT_INPUT),
        (["--data", "{home}/data", "--genesis-bad-json"], "malformed_genesis", EXIT_INPUT),
        (["--data", "{home}/data", "--since-checkpoint", "3:xyz"], "bad_checkpoint", EXIT_INPUT),
        (["--data", "{home}/data", "--since-checkpoint", "{home}/genesis.json"], "bad_checkpoint",
         EXIT_INPUT),
        (["--node", "not-a-url"], "bad_source", EXIT_INPUT),
        (["--data", "{home}/data", "--since-checkpoint", f"1:{'ab' * 32}", "--to-height", "2"],
         "bad_usage", EXIT_INPUT),
        (["--data", "{home}/data", "--to-height", "99"], "bad_source", EXIT_INPUT),
    ],
)
def test_bad_input(home: Path, capsys, argv: list[str], code: str, exit_code: int) -> None:
    genesis_path = str(home / "genesis.json")
    argv = [a.format(home=home) for a in argv]
    if "--genesis-file-missing" in argv:
        argv.remove("--genesis-file-missing")
        genesis_path = str(home / "missing.json")
    if "--genesis-bad-json" in argv:
        argv.remove("--genesis-bad-json")
        genesis_path = str(home / "bad.json")
        Path(genesis_path).write_text('{"chain_id": 1.5}')
    assert fcl_audit(*argv, "--genesis", genesis_path) == exit_code
    one_error(capsys.readouterr().err, code)
    assert not (home / "nowhere").exists()


def test_another_genesis_fails_at_height_zero(home: Path, genesis: Genesis, capsys) -> None:
    other = Genesis.from_json(dict(genesis.doc, genesis_time=genesis.genesis_time + 1))
    other.dump(home / "other.json")
    assert fcl_audit("--data", str(home), "--genesis", str(home / "other.json")) == EXIT_FAILED
    assert "height 0: genesis" in one_error(capsys.readouterr().err, "audit_failed")


def test_unreachable_node(home: Path, capsys) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = fcl_audit("--node", f"http://127.0.0.1:{port}", "--genesis", str(home / "genesis.json"),
                     "--timeout", "2")
    assert code == EXIT_UNABLE
    one_error(capsys.readouterr().err, "node_unreachable")


@pytest.mark.parametrize("argv", [
    ["--genesis", "g.json"],  # neither --node nor --data
    ["--node", "http://x", "--data", "d", "--genesis", "g.json"],
    ["--data", "d"],  # no genesis
    ["--data", "d", "--genesis", "g", "--to-height", "0"],
    ["--data", "d", "--genesis", "g", "--progress-every", "-1"],
    ["--node", "http://x", "--genesis", "g", "--timeout", "0"],
])
def test_bad_command_lines_exit_2(argv: list[str], capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        fcl_audit(*argv)
    assert exc.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


def test_empty_chain_and_new_blocks(tmp_path: Path, genesis: Genesis, capsys) -> None:
    ChainBuilder(tmp_path / "data", genesis).close()
    genesis.dump(tmp_path / "g.json")
    assert fcl_audit("--data", str(tmp_path / "data"), "--genesis", str(tmp_path / "g.json")) == 0
    assert "blocks verified:   0" in capsys.readouterr().out
    chain = ChainBuilder(tmp_path / "data", genesis)
    chain.add(standard_txs(1))
    chain.close()
    assert fcl_audit("--data", str(tmp_path / "data"), "--genesis", str(tmp_path / "g.json")) == 0


def test_scratch_folder_unavailable_exits_1(home: Path, capsys,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The replay's scratch database goes under $TMPDIR; a folder that cannot hold it is a
    one-line error, not a traceback, and nothing is left behind."""
    import tempfile

    blocked = home.parent / "not-a-folder"
    blocked.write_text("a file, not a folder")
    monkeypatch.setattr(tempfile, "tempdir", str(blocked))
    code = fcl_audit("--data", str(home / "data"), "--genesis", str(home / "genesis.json"))
    assert code == EXIT_UNABLE
    line = one_error(capsys.readouterr().err, "scratch_unavailable")
    assert str(blocked) in line and "TMPDIR" in line


def test_scratch_folder_is_removed_after_the_audit(home: Path, capsys,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    scratch = home.parent / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    edit_block(home / "data", 5, lambda b: b["results"][0].update(message="tampered"))
    assert fcl_audit("--data", str(home / "data"), "--genesis", str(home / "genesis.json"),
                     "--progress-every", "0") == EXIT_FAILED
    assert list(scratch.iterdir()) == []  # deleted after a discrepancy too


def test_a_scratch_database_failure_mid_audit_exits_1(home: Path, capsys,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The scratch file failing while the audit runs (a full disk, say) is the one-line
    ``replay_store`` error, not a traceback."""
    import sqlite3

    from ledger.sqlite_kv import SQLiteDB

    def full(self: SQLiteDB, key: bytes, default: bytes | None = None) -> bytes | None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(SQLiteDB, "get", full)
    code = fcl_audit("--data", str(home / "data"), "--genesis", str(home / "genesis.json"))
    assert code == EXIT_UNABLE
    line = one_error(capsys.readouterr().err, "replay_store")
    assert "disk is full" in line
