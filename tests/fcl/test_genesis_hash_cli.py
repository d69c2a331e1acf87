"""Issue 15, "the genesis hash to trust is printed by `fcl node init` ... and
`--genesis-hash` says what it hashes": `fcl node init` prints the SHA-256 of the canonical
genesis (what `fcl verify --genesis-hash` takes), which is not `sha256sum genesis.json`,
and the help of every `--genesis-hash` says so."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import pytest

from fcl.main import main as fcl_main
from ledger.encoding import canonical
from ledger.genesis import Genesis


def test_node_init_prints_the_genesis_hash_to_trust(tmp_path: Path, capsys: Any) -> None:
    pp = tmp_path / "passphrase"
    pp.write_text("correct horse battery staple\n")
    pp.chmod(0o600)
    home = tmp_path / "node"
    assert fcl_main(["node", "init", "--home", str(home), "--chain-id", "fcl-gh",
                     "--passphrase-file", str(pp)]) == 0
    out = capsys.readouterr().out
    printed = re.search(r"^genesis hash: +([0-9a-f]{64})$", out, flags=re.M)
    assert printed is not None, out
    genesis = Genesis.load(home / "genesis.json")
    assert printed.group(1) == genesis.hash
    assert printed.group(1) == hashlib.sha256(canonical(genesis.doc)).hexdigest()
    # what a buyer would try first gives another value, and the output says so
    file_digest = hashlib.sha256((home / "genesis.json").read_bytes()).hexdigest()
    assert file_digest != printed.group(1)
    assert "canonical genesis" in out and "not sha256sum" in out


@pytest.mark.parametrize("command", ["verify", "query"])
def test_every_genesis_hash_option_says_what_it_hashes(command: str, capsys: Any) -> None:
    with pytest.raises(SystemExit) as done:
        fcl_main([command, "--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    option = text.split("--genesis-hash HEX", 2)[-1]
    assert "SHA-256 of the genesis document's canonical JSON encoding" in option
    assert "not of the file's bytes" in option
