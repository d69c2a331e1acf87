"""``fcl status --node URL``: one screen on a running node, its JSON form, and the exit
codes for a node that cannot be read (1) or that stopped producing blocks (3)."""

from __future__ import annotations

import argparse
import json
from typing import Any

import httpx
import pytest

from fcl.status import EXIT_HALTED, EXIT_OK, EXIT_UNREACHABLE, cmd_status, register, render
from tests.support.fcl_process import free_port
from tests.support.running_node import RunningNode, node_fixture
from wallet.client import NodeClient

node = node_fixture()


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="fcl")
    register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["status", *argv])


def test_status_of_a_running_node(node: RunningNode, capsys) -> None:
    height = node.block_of_txs(2)
    assert cmd_status(parse("--node", node.url)) == EXIT_OK
    out = capsys.readouterr().out
    status = httpx.get(f"{node.url}/v1/status").json()
    assert f"chain id:      {status['chain_id']}" in out
    assert f"genesis hash:  {status['genesis_hash']}" in out
    assert "producing:     yes" in out and " s ago)" in out
    assert "tx/s over the last 60 s" in out
    validator = status["validators"][0]["name"]
    row = next(line for line in out.splitlines() if line.startswith(validator))
    assert "signing" in row  # a solo validator signs every commit
    assert cmd_status(parse("--node", node.url, "--json")) == EXIT_OK
    both = json.loads(capsys.readouterr().out)
    assert both["status"]["height"] >= height
    assert both["dashboard"]["validators"][0]["status"] == "signing"


def test_unreachable_node_exits_1_with_a_message(capsys) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    assert cmd_status(parse("--node", url, "--timeout", "2")) == EXIT_UNREACHABLE
    err = capsys.readouterr().err
    assert err.startswith("error: unreachable: ") and "Traceback" not in err


@pytest.mark.parametrize("argv", [["--node", "ftp://x"], ["--node", "http://127.0.0.1:1", "--timeout", "0"]])
def test_bad_command_lines_are_refused(argv: list[str], capsys) -> None:
    if "--timeout" in argv:
        with pytest.raises(SystemExit) as exit_:
            parse(*argv)
        assert exit_.value.code == 2
        assert "timeout" in capsys.readouterr().err
    else:
        assert cmd_status(parse(*argv)) == EXIT_UNREACHABLE
        assert "error: invalid_url: " in capsys.readouterr().err


def _fake(routes: dict[str, tuple[int, Any]]) -> Any:
    def handler(request: httpx.Request) -> httpx.Response:
        code, body = routes.get(request.url.path, (404, {"error": {"code": "not_found",
                                                                   "message": "no route"}}))
        return httpx.Response(code, json=body)

    def factory(url: str, timeout_s: float) -> NodeClient:
        return NodeClient(url, timeout_s=timeout_s, transport=httpx.MockTransport(handler))

    return factory


def test_a_halted_node_exits_3_and_a_node_without_explorer_still_shows(capsys) -> None:
    status = {"chain_id": "c", "height": 7, "halted": "state root mismatch at height 8",
              "latest_block_time": 1_700_000_000_000,
              "validators": [{"name": "v0", "power": 10, "pub_key": "ab" * 32}]}
    code = cmd_status(parse("--node", "http://n:1"),
                      client_factory=_fake({"/v1/status": (200, status)}))
    assert code == EXIT_HALTED
    out = capsys.readouterr().out
    assert "halted:        state root mismatch at height 8" in out
    assert "committed:" not in out  # no explorer: no rate
    assert "v0" in out


def test_a_node_answering_an_error_exits_1(capsys) -> None:
    factory = _fake({"/v1/status": (503, {"error": {"code": "not_ready", "message": "syncing"}})})
    assert cmd_status(parse("--node", "http://n:1"), client_factory=factory) == EXIT_UNREACHABLE
    assert "error: not_ready: syncing" in capsys.readouterr().err


def test_render_of_missing_fields_uses_dashes() -> None:
    text = render({"chain_id": "c"}, None, 0.0)
    assert "height:        —" in text and "last block:    —" in text
