"""``fcl light`` (fcl/light.py) against the node's app over a real chain with a
validator-set change (tests/support/certificates.py), through the FastAPI test client:
skipping and sequential verification, checkpoints saved and resumed, lying and unreachable
nodes, bad files -- each with its exit code."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from fcl import light
from fcl.main import build_parser
from ledger.header_chain import TrustedState
from ledger.validators import ValidatorSet
from node.api.rpc import create_app, node_routers
from node.api.service import Node
from node.txpool.mempool import Mempool
from tests.support.certificates import NEW_SET, World, shared_world
from tests.support.fcl_process import free_port

URL = "http://testserver"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return shared_world(tmp_path_factory)


@pytest.fixture(scope="module")
def api(world: World) -> Iterator[TestClient]:
    chain = world.chain
    node = Node(moniker="light", genesis=chain.genesis, store=chain.store, app=chain.app,
                mempool=Mempool(10, 1 << 20))
    with TestClient(create_app(node, routers=node_routers(node)), base_url=URL) as c:
        yield c


@pytest.fixture
def genesis_file(world: World, tmp_path: Path) -> str:
    path = tmp_path / "genesis.json"
    world.chain.genesis.dump(path)
    return str(path)


def fcl_light(http: httpx.Client | None, *argv: str) -> int:
    args = build_parser().parse_args(["light", *argv])
    return light.run(args, http=http)


def heights(out: str) -> list[int]:
    return [int(line.split()[1]) for line in out.splitlines()]


def test_skipping_to_the_latest_block_from_the_genesis(world: World, api: TestClient,
                                                       genesis_file: str, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    cp = tmp_path / "cp.json"
    assert fcl_light(api, "--node", URL, "--genesis", genesis_file, "--save", str(cp)) == 0
    out = capsys.readouterr().out
    tip = world.chain.height
    assert heights(out) == [tip]
    assert world.chain.store.get_block_hash(tip) in out and "validators 4" in out
    state = light.load_checkpoint(str(cp))
    assert state.height == tip and state.next_validators == ValidatorSet.from_json(NEW_SET)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cp.json", "genesis.json"]  # no temp left


def test_sequential_verification_prints_every_height_and_resumes_from_the_checkpoint(
    world: World, api: TestClient, genesis_file: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cp = str(tmp_path / "cp.json")
    assert fcl_light(api, "--node", URL, "--genesis", genesis_file, "--to", "5",
                     "--sequential", "--save", cp) == 0
    assert heights(capsys.readouterr().out) == [1, 2, 3, 4, 5]
    assert light.load_checkpoint(cp).height == 5
    # resumed: only the heights above the checkpoint are fetched and checked
    assert fcl_light(api, "--node", URL, "--checkpoint", cp, "--sequential", "--save", cp,
                     "--json") == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [x["height"] for x in lines] == list(range(6, world.chain.height + 1))
    assert light.load_checkpoint(cp).height == world.chain.height
    # nothing new: the trusted block is checked again and the run succeeds
    assert fcl_light(api, "--node", URL, "--checkpoint", cp, "--genesis", genesis_file) == 0
    assert capsys.readouterr().out == ""


def test_skipping_across_the_validator_set_change_from_a_checkpoint(
    world: World, api: TestClient, genesis_file: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cp = str(tmp_path / "cp.json")
    before = world.change_height - 1
    assert fcl_light(api, "--node", URL, "--genesis", genesis_file, "--to", str(before),
                     "--save", cp) == 0
    assert fcl_light(api, "--node", URL, "--checkpoint", cp, "--to", "latest", "--save", cp) == 0
    assert heights(capsys.readouterr().out) == [before, world.chain.height]
    assert light.load_checkpoint(cp).next_validators == ValidatorSet.from_json(NEW_SET)


def _lying(api: TestClient, lie: Callable[[str, dict[str, Any]], dict[str, Any]]) -> httpx.Client:
    """A node that answers what ``api`` answers, changed by ``lie(path, body)``."""

    def handle(request: httpx.Request) -> httpx.Response:
        resp = api.get(request.url.path, params=dict(request.url.params))
        body = resp.json()
        if resp.status_code == 200:
            body = lie(request.url.path, body)
        return httpx.Response(resp.status_code, json=body)

    return httpx.Client(base_url=URL, transport=httpx.MockTransport(handle))


def _hide_changes(path: str, body: dict[str, Any]) -> dict[str, Any]:
    return dict(body, changes=[]) if path == "/v1/light/changes" else body


def _forge_state_root(path: str, body: dict[str, Any]) -> dict[str, Any]:
    if path.startswith("/v1/light/blocks/") or path == "/v1/light/latest":
        header = dict(body["header"], state_root="ab" * 32)
        from ledger.block import BlockHeader

        return dict(body, header=header, hash=BlockHeader.from_json(header).hash())
    return body


def _wrong_next_set(path: str, body: dict[str, Any]) -> dict[str, Any]:
    if path.startswith("/v1/light/blocks/"):
        return dict(body, next_validators=NEW_SET if body["height"] < 3 else body["next_validators"])
    return body


@pytest.mark.parametrize(("lie", "argv", "code"), [
    (_hide_changes, [], "bad_validators_hash"),
    (_forge_state_root, [], "commit_wrong_block"),
    (_forge_state_root, ["--sequential", "--to", "3"], "commit_wrong_block"),
    (_wrong_next_set, ["--sequential", "--to", "3"], "bad_change_set"),
    (lambda p, b: dict(b, height=2) if p == "/v1/light/blocks/3" else b, ["--to", "3"],
     "malformed_light_block"),
])
def test_a_node_whose_answers_do_not_verify_exits_1(
    api: TestClient, genesis_file: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    lie: Any, argv: list[str], code: str,
) -> None:
    cp = tmp_path / "cp.json"
    status = fcl_light(_lying(api, lie), "--node", URL, "--genesis", genesis_file,
                       "--save", str(cp), *argv)
    err = capsys.readouterr().err
    assert status == light.EXIT_FAILED == 1, err
    assert f"error: {code}:" in err
    if "--sequential" not in argv:
        assert not cp.exists()  # nothing trusted, nothing saved


def test_a_checkpoint_of_another_chain_is_refused(api: TestClient, tmp_path: Path,
                                                  tmp_path_factory: pytest.TempPathFactory,
                                                  genesis_file: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    other = shared_world(tmp_path_factory, "fcl-other")
    cp = tmp_path / "other.json"
    light.save_checkpoint(cp, TrustedState.from_genesis(other.chain.genesis))
    # the node is not of the checkpoint's chain: its headers do not verify
    assert fcl_light(api, "--node", URL, "--checkpoint", str(cp)) == 1
    assert "error: wrong_chain:" in capsys.readouterr().err
    # with the genesis given too, the mismatch is found before asking anyone
    assert fcl_light(api, "--node", URL, "--checkpoint", str(cp), "--genesis", genesis_file) == 2
    assert "error: bad_checkpoint:" in capsys.readouterr().err


def test_an_unreachable_node_or_a_node_answering_errors_exits_3(
    api: TestClient, genesis_file: str, capsys: pytest.CaptureFixture[str],
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    assert fcl_light(None, "--node", url, "--genesis", genesis_file, "--timeout", "2") == 3
    assert "error: node_unreachable:" in capsys.readouterr().err
    assert fcl_light(api, "--node", URL, "--genesis", genesis_file, "--to", "999") == 3
    assert "unknown_block" in capsys.readouterr().err
    not_json = httpx.Client(base_url=URL, transport=httpx.MockTransport(
        lambda r: httpx.Response(200, text="<html>")))
    assert fcl_light(not_json, "--node", URL, "--genesis", genesis_file) == 3
    assert "error: bad_response:" in capsys.readouterr().err


def test_a_checkpoint_that_cannot_be_written_exits_3(api: TestClient, genesis_file: str,
                                                     tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "missing-dir" / "cp.json"
    assert fcl_light(api, "--node", URL, "--genesis", genesis_file, "--save", str(target)) == 3
    assert "error: write_failed:" in capsys.readouterr().err


def test_bad_files_and_command_lines_exit_2(api: TestClient, genesis_file: str, tmp_path: Path,
                                            world: World, capsys: pytest.CaptureFixture[str]) -> None:
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json")
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"format": "fcl-light-checkpoint"}))
    big = tmp_path / "big.json"
    big.write_bytes(b" " * (light.MAX_CHECKPOINT_BYTES + 1))
    cp = tmp_path / "cp.json"
    assert fcl_light(api, "--node", URL, "--genesis", genesis_file, "--to", "6",
                     "--save", str(cp)) == 0
    cases = [
        (["--genesis", str(tmp_path / "none.json")], "bad_genesis"),
        (["--genesis", str(garbage)], "bad_genesis"),
        (["--checkpoint", str(tmp_path / "none.json")], "bad_checkpoint"),
        (["--checkpoint", str(garbage)], "bad_checkpoint"),
        (["--checkpoint", str(wrong)], "bad_checkpoint"),
        (["--checkpoint", str(big)], "bad_checkpoint"),
        ([], "bad_usage"),
        (["--genesis", genesis_file, "--follow", "--to", "3"], "bad_usage"),
        (["--checkpoint", str(cp), "--to", "3"], "bad_usage"),
    ]
    for node in ("127.0.0.1:26657", "ftp://host", "http://", "http://h/?q=1", "http://[::1"):
        assert fcl_light(api, "--node", node, "--genesis", genesis_file) == 2, node
        assert "error: bad_usage: --node" in capsys.readouterr().err
    capsys.readouterr()
    for argv, code in cases:
        assert fcl_light(api, "--node", URL, *argv) == 2, argv
        assert f"error: {code}:" in capsys.readouterr().err, argv
    for argv in (["--to", "x"], ["--to", "-1"], ["--poll", "0"], ["--timeout", "abc"]):
        with pytest.raises(SystemExit) as exc:
            build_parser().parse_args(["light", "--node", URL, "--genesis", genesis_file, *argv])
        assert exc.value.code == 2


def test_follow_ends_when_stopped_and_waits_out_an_unreachable_node(
    world: World, api: TestClient, genesis_file: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import threading

    stop = threading.Event()
    calls = {"n": 0}

    def handle(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if 3 <= calls["n"] <= 4:  # the node goes away for a while after the first answers
            raise httpx.ConnectError("connection refused")
        if calls["n"] >= 8:
            stop.set()
        resp = api.get(request.url.path, params=dict(request.url.params))
        return httpx.Response(resp.status_code, content=resp.content)

    flaky = httpx.Client(base_url=URL, transport=httpx.MockTransport(handle))
    args = build_parser().parse_args(["light", "--node", URL, "--genesis", genesis_file,
                                      "--follow", "--poll", "0.01"])
    assert light.run(args, http=flaky, stop=stop) == 0
    captured = capsys.readouterr()
    assert heights(captured.out) == [world.chain.height]  # one line per newly trusted height
    assert "note: node_unreachable:" in captured.err
    assert f"stopped at height {world.chain.height}" in captured.err


def test_an_answer_larger_than_the_bound_is_not_read(api: TestClient, genesis_file: str,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(light, "MAX_ANSWER_BYTES", 1000)  # a light block is larger
    assert fcl_light(api, "--node", URL, "--genesis", genesis_file) == 3
    assert "larger than 1000 bytes" in capsys.readouterr().err
    monkeypatch.undo()
    assert fcl_light(api, "--node", URL, "--genesis", genesis_file) == 0


def test_a_node_behind_the_checkpoint_exits_3(api: TestClient, genesis_file: str, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    cp = tmp_path / "cp.json"
    assert fcl_light(api, "--node", URL, "--genesis", genesis_file, "--to", "6",
                     "--save", str(cp)) == 0
    behind = _lying(api, lambda p, b: api.get("/v1/light/blocks/3").json()
                    if p == "/v1/light/latest" else b)
    assert fcl_light(behind, "--node", URL, "--checkpoint", str(cp), "--save", str(cp)) == 3
    assert "error: node_behind:" in capsys.readouterr().err
    assert light.load_checkpoint(str(cp)).height == 6  # unchanged
