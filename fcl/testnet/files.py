"""``fcl testnet``: the files of a local multi-validator network on one machine.

``create_testnet(out, validators=n, base_port=P, passphrase=...)`` writes::

    out/genesis.json       the network's genesis (shared by every node)
    out/testnet.json       what was created: per node its moniker, home, RPC URL, p2p
                           address, validator key, operator organisation and admin key
    out/node0 .. node<n-1> node homes, each with
        config.json        RPC on host:P+i, p2p on host:P+100+i, every other node as a peer
        genesis.json       a copy of out/genesis.json
        keys/validator.json   the validator (node) key, encrypted
        wallet/<org>.json     the admin key of the organisation operating this validator,
                              encrypted

One organisation operates each validator: node0 the regulator (``regulator``), node1 the
exchange (``exchange``), node2.. verification bodies (``verifier-1`` .. with
accreditations ``CNCA-V-001`` ..). The genesis enrols them with their admin keys, maps
each validator key to its operator (``app_state.validator_operators``, which governance
uses to count approvals of validator-set changes) and carries the default policy
parameters (``chaincode.params.DEFAULT_PARAMS``). Every validator has power 1.
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaincode.executor import Executor
from chaincode.params import DEFAULT_PARAMS
from ledger.errors import LedgerError
from ledger.genesis import Genesis
from node.home import HomeError, NodeConfig, NodeHome, write_atomic

__all__ = [
    "DEFAULT_BASE_PORT",
    "P2P_PORT_OFFSET",
    "TestnetNode",
    "create_testnet",
    "load_testnet",
    "operator_of",
]

DEFAULT_BASE_PORT = 26657
P2P_PORT_OFFSET = 100
MAX_VALIDATORS = 64
#: Every validator's power. 1, not 10: the proposer ring (``ValidatorSet.proposer``) gives
#: each validator ``power`` consecutive slots, so with power 10 a dead validator would be
#: the proposer of 10 consecutive rounds; with power 1 the next round moves on.
VALIDATOR_POWER = 1
DEFAULT_CHAIN_ID = "fcl-testnet"


@dataclass(frozen=True)
class TestnetNode:
    moniker: str
    home: Path
    rpc_url: str
    rpc_port: int
    p2p_port: int
    validator_key: str
    org_id: str
    admin_key: str

    def to_json(self) -> dict[str, Any]:
        return {"moniker": self.moniker, "home": str(self.home), "rpc_url": self.rpc_url,
                "rpc_port": self.rpc_port, "p2p_port": self.p2p_port,
                "validator_key": self.validator_key, "org_id": self.org_id,
                "admin_key": self.admin_key}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> TestnetNode:
        return cls(obj["moniker"], Path(obj["home"]), obj["rpc_url"], obj["rpc_port"],
                   obj["p2p_port"], obj["validator_key"], obj["org_id"], obj["admin_key"])


def operator_of(index: int) -> dict[str, Any]:
    """The organisation operating validator ``index``: id, name, roles, accreditation."""
    if index == 0:
        return {"id": "regulator", "name": "Provincial ecology and environment bureau",
                "roles": ["regulator"], "accreditation": None}
    if index == 1:
        return {"id": "exchange", "name": "Regional carbon exchange", "roles": ["exchange"],
                "accreditation": None}
    n = index - 1
    return {"id": f"verifier-{n}", "name": f"Verification body {n}", "roles": ["verifier"],
            "accreditation": f"CNCA-V-{n:03d}"}


def create_testnet(
    out: str | Path,
    *,
    validators: int,
    passphrase: str,
    base_port: int = DEFAULT_BASE_PORT,
    host: str = "127.0.0.1",
    chain_id: str = DEFAULT_CHAIN_ID,
    block_interval_ms: int = 100,
    max_block_txs: int = 2000,
    consensus: dict[str, int] | None = None,
    scrypt_n: int | None = None,
    genesis_time_ms: int | None = None,
) -> list[TestnetNode]:
    """Write a testnet into ``out`` (see the module docstring); return its nodes.

    Raises ``HomeError('already_initialised')`` if ``out`` already holds a genesis or an
    initialised node home, ``HomeError('bad_config')`` on bad arguments. ``scrypt_n``
    lowers the keystore's key-derivation cost (tests only)."""
    from wallet.keystore import Keystore

    if not 1 <= validators <= MAX_VALIDATORS:
        raise HomeError("bad_config", f"a testnet has 1..{MAX_VALIDATORS} validators")
    top = base_port + P2P_PORT_OFFSET + validators - 1
    if not 1 <= base_port or top > 65535:
        raise HomeError("bad_config", f"ports {base_port}..{top} are not all valid ports")
    root = Path(out).expanduser().resolve()
    homes = [NodeHome(root / f"node{i}") for i in range(validators)]
    if (root / "genesis.json").exists() or any(h.is_initialised() for h in homes):
        raise HomeError("already_initialised", f"{root} already holds a network")
    root.mkdir(parents=True, exist_ok=True)

    def keystore(directory: Path) -> Keystore:
        if scrypt_n is None:
            return Keystore(directory)
        return Keystore(directory, insecure_test_scrypt_n=scrypt_n)

    def key_in(store: Keystore, name: str) -> str:
        if any(entry.name == name for entry in store.list()):
            return str(store.load(name, passphrase).public_key_hex)  # left by an interrupted run
        return str(store.create(name, passphrase))

    validator_keys: list[str] = []
    admin_keys: list[str] = []
    operators = [operator_of(i) for i in range(validators)]
    for home, operator in zip(homes, operators, strict=True):
        home.root.mkdir(parents=True, exist_ok=True)
        validator_keys.append(key_in(keystore(home.keys_dir), "validator"))
        admin_keys.append(key_in(keystore(home.wallet_dir), operator["id"]))
    doc = {
        "chain_id": chain_id,
        "genesis_time": genesis_time_ms if genesis_time_ms is not None
        else time.time_ns() // 1_000_000,
        "validators": [
            {"name": f"node{i}", "pub_key": validator_keys[i], "power": VALIDATOR_POWER}
            for i in range(validators)
        ],
        "app_state": {
            "organisations": [
                {**operator, "admins": [admin_keys[i]], "members": []}
                for i, operator in enumerate(operators)
            ],
            "params": copy.deepcopy(DEFAULT_PARAMS),
            "validator_operators": {
                validator_keys[i]: operators[i]["id"] for i in range(validators)
            },
        },
    }
    try:
        genesis = Genesis.from_json(doc)
        Executor().genesis_writes(genesis)  # the chaincode accepts it
    except (LedgerError, ValueError) as exc:
        raise HomeError("bad_genesis", f"testnet genesis refused: {exc}") from None
    nodes: list[TestnetNode] = []
    for i, home in enumerate(homes):
        rpc_port = base_port + i
        p2p_port = base_port + P2P_PORT_OFFSET + i
        peers = tuple(
            f"{validator_keys[j]}@{host}:{base_port + P2P_PORT_OFFSET + j}"
            for j in range(validators) if j != i
        )
        config = NodeConfig(
            chain_id=chain_id,
            moniker=f"node{i}",
            rpc_host=host,
            rpc_port=rpc_port,
            block_interval_ms=block_interval_ms,
            max_block_txs=max_block_txs,
            p2p_host=host,
            p2p_port=p2p_port,
            peers=peers,
            consensus=tuple(sorted((consensus or {}).items())),
        )
        home.save_genesis(genesis)
        home.save_config(config)
        nodes.append(TestnetNode(f"node{i}", home.root, f"http://{host}:{rpc_port}", rpc_port,
                                 p2p_port, validator_keys[i], operators[i]["id"],
                                 admin_keys[i]))
    genesis_text = json.dumps(genesis.doc, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    write_atomic(root / "genesis.json", genesis_text)
    summary = {"chain_id": chain_id, "genesis_hash": genesis.hash,
               "nodes": [n.to_json() for n in nodes]}
    write_atomic(root / "testnet.json", json.dumps(summary, indent=2) + "\n")
    return nodes


def load_testnet(out: str | Path) -> list[TestnetNode]:
    """The nodes recorded in ``out/testnet.json``."""
    path = Path(out) / "testnet.json"
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
        return [TestnetNode.from_json(n) for n in obj["nodes"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise HomeError("bad_config", f"cannot read {path}: {exc}") from None
