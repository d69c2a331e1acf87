"""``fcl doc upload`` and ``fcl doc get`` (docs/documents.md) against a node's API served
over real HTTP (uvicorn in a thread): the upload is signed by a keystore key, the fetched
bytes are checked against the hash, restricted documents need a signed read."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from ledger.crypto import sha256_hex
from tests.support.documents import PDF, Env, doc_genesis
from tests.support.fcl_process import free_port
from wallet.cli import main_for_tests
from wallet.keystore import Keystore

PASS = "doc cli passphrase"


class World:
    def __init__(self, root: Path) -> None:
        self.keys = root / "keys"
        ks = Keystore(self.keys, insecure_test_scrypt_n=16)
        self.member = ks.create("farm", PASS)
        ks.create("nobody", PASS)
        self.env = Env(root / "node", doc_genesis(farm_a_members=(self.member,)))
        self.pp = root / "pp"
        self.pp.write_text(PASS + "\n")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(
            self.env.client.app, host="127.0.0.1", port=self.port, log_level="warning",
            lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.05)
        raise AssertionError("the test server did not start")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)

    def fcl(self, *argv: str) -> int:
        return main_for_tests(["doc", *argv, "--node", self.url])

    def keyed(self, key: str) -> list[str]:
        return ["--keystore", str(self.keys), "--key", key, "--passphrase-file", str(self.pp)]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path)
    w.env.now = int(time.time() * 1000)  # the CLI signs with the wall clock
    w.start()
    yield w
    w.stop()


def test_upload_then_get_checks_the_hash(world: World, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "pdd.pdf"
    source.write_bytes(PDF)
    assert world.fcl("upload", str(source), *world.keyed("farm")) == 0
    out, err = capsys.readouterr()
    assert out.strip() == sha256_hex(PDF) and "stored" in err
    meta = world.env.documents.get(sha256_hex(PDF))
    assert meta is not None and meta.uploader_key == world.member
    target = tmp_path / "copy.pdf"
    assert world.fcl("get", sha256_hex(PDF), "--out", str(target)) == 0
    assert target.read_bytes() == PDF
    assert "hash checked" in capsys.readouterr().err


def test_refusals_exit_1_with_the_nodes_code_and_bad_input_exits_2(
        world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "scan.pdf"
    source.write_bytes(PDF)
    assert world.fcl("upload", str(source), *world.keyed("nobody")) == 1
    assert "error: unenrolled_signer:" in capsys.readouterr().err
    unknown = tmp_path / "notes.txt"
    unknown.write_bytes(b"x")
    assert world.fcl("upload", str(unknown), *world.keyed("farm")) == 2
    assert "error: invalid_input:" in capsys.readouterr().err
    assert world.fcl("upload", str(source), "--type", "png", *world.keyed("farm")) == 1
    assert "error: unsupported_document_type:" in capsys.readouterr().err
    assert world.fcl("get", "ab" * 32) == 1
    assert "error: unknown_document:" in capsys.readouterr().err
    assert world.fcl("get", "xyz") == 2


def test_a_restricted_upload_needs_a_signed_read(world: World, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "tenure.pdf"
    source.write_bytes(PDF)
    assert world.fcl("upload", str(source), "--restricted", *world.keyed("farm")) == 0
    digest = capsys.readouterr().out.strip()
    assert world.fcl("get", digest, "--out", str(tmp_path / "x")) == 1
    assert "error: document_restricted:" in capsys.readouterr().err
    assert world.fcl("get", digest, "--out", str(tmp_path / "y"), *world.keyed("farm")) == 0
    assert (tmp_path / "y").read_bytes() == PDF


def test_get_refuses_bytes_that_are_not_the_document(
        world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "r.pdf"
    source.write_bytes(PDF)
    assert world.fcl("upload", str(source), *world.keyed("farm")) == 0
    digest = capsys.readouterr().out.strip()
    world.env.documents.path_of(digest).write_bytes(PDF + b"tampered on disk")
    out = tmp_path / "never"
    assert world.fcl("get", digest, "--out", str(out)) == 1
    assert "error: hash_mismatch:" in capsys.readouterr().err and not out.exists()
