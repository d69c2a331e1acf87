"""``fcl testnet``: the files of a local multi-validator network on one machine.

``create_testnet(out, validators=n, observers=k, base_port=P, passphrase=...)`` writes::

    out/genesis.json       the network's genesis (shared by every node)
    out/testnet.json       what was created: per node its moniker, home, RPC URL, p2p
                           address, validator key, operator organisation and admin key
    out/node0 .. node<n-1> node homes, each with
        config.json        RPC on host:P+i, p2p on host:P+100+i, every other node as a peer
        genesis.json       a copy of out/genesis.json
        keys/validator.json   the validator (node) key, encrypted
        wallet/<org>.json     the admin key of the organisation operating this validator,
                              encrypted
    out/observer0 .. observer<k-1>  observer homes (docs/node.md "Observer nodes"), each with
        config.json        ``observer: true``, RPC on host:P+n+j, p2p on host:P+100+n+j,
                           the validators as its peers (they do not list it: they admit it
                           because the genesis enrols its key, ``app_state.observers``)
        genesis.json       a copy of out/genesis.json
        keys/node.json     the observer's node key, encrypted (no wallet)

One organisation operates each validator: node0 the regulator (``regulator``), node1 the
exchange (``exchange``), node2.. verification bodies (``verifier-1`` .. with
accreditations ``CNCA-V-001`` ..). The genesis enrols them with their admin keys, maps
each validator key to its operator (``app_state.validator_operators``, which governance
uses to count approvals of validator-set changes) and carries the default policy
parameters (``chaincode.params.DEFAULT_PARAMS``). Every validator has power 1. The
observers are operated by the regulator.
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
from node.home import OBSERVER_KEY_NAME, HomeError, NodeConfig, NodeHome, write_atomic

__all__ = [
    "DEFAULT_BASE_PORT",
    "MAX_OBSERVERS",
    "P2P_PORT_OFFSET",
    "TestnetNode",
    "create_testnet",
    "load_testnet",
    "operator_of",
]

DEFAULT_BASE_PORT = 26657
P2P_PORT_OFFSET = 100
MAX_VALIDATORS = 64
MAX_OBSERVERS = 32
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
    admin_key: str  # "" for an observer (it has no wallet)
    #: an observer node: ``validator_key`` is then its node key (not a validator's)
    observer: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"moniker": self.moniker, "home": str(self.home), "rpc_url": self.rpc_url,
                "rpc_port": self.rpc_port, "p2p_port": self.p2p_port,
                "validator_key": self.validator_key, "org_id": self.org_id,
                "admin_key": self.admin_key, "observer": self.observer}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> TestnetNode:
        return cls(obj["moniker"], Path(obj["home"]), obj["rpc_url"], obj["rpc_port"],
                   obj["p2p_port"], obj["validator_key"], obj["org_id"], obj["admin_key"],
                   bool(obj.get("observer", False)))


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
    observers: int = 0,
    base_port: int = DEFAULT_BASE_PORT,
    host: str = "127.0.0.1",
    chain_id: str = DEFAULT_CHAIN_ID,
    block_interval_ms: int = 100,
    max_block_txs: int = 2000,
    consensus: dict[str, int] | None = None,
    scrypt_n: int | None = None,
    genesis_time_ms: int | None = None,
) -> list[TestnetNode]:
    """Write a testnet into ``out`` (see the module docstring); return its nodes: the
    validators, then the ``observers`` observer nodes.

    Raises ``HomeError('already_initialised')`` if ``out`` already holds a genesis or an
    initialised node home, ``HomeError('bad_config')`` on bad arguments. ``scrypt_n``
    lowers the keystore's key-derivation cost (tests only)."""
    from wallet.keystore import Keystore

    if not 1 <= validators <= MAX_VALIDATORS:
        raise HomeError("bad_config", f"a testnet has 1..{MAX_VALIDATORS} validators")
    if type(observers) is not int or not 0 <= observers <= MAX_OBSERVERS:
        raise HomeError("bad_config", f"a testnet has 0..{MAX_OBSERVERS} observers")
    nodes_total = validators + observers
    top = base_port + P2P_PORT_OFFSET + nodes_total - 1
    if not 1 <= base_port or top > 65535:
        raise HomeError("bad_config", f"ports {base_port}..{top} are not all valid ports")
    root = Path(out).expanduser().resolve()
    homes = [NodeHome(root / f"node{i}") for i in range(validators)]
    observer_homes = [NodeHome(root / f"observer{j}") for j in range(observers)]
    if (root / "genesis.json").exists() or any(
        h.is_initialised() for h in homes + observer_homes
    ):
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
    observer_keys: list[str] = []
    for home in observer_homes:
        home.root.mkdir(parents=True, exist_ok=True)
        observer_keys.append(key_in(keystore(home.keys_dir), OBSERVER_KEY_NAME))
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
    if observers:
        doc["app_state"]["observers"] = [  # type: ignore[index]
            {"node_key": key, "org_id": operators[0]["id"], "moniker": f"observer{j}"}
            for j, key in enumerate(observer_keys)
        ]
    try:
        genesis = Genesis.from_json(doc)
        Executor().genesis_writes(genesis)  # the chaincode accepts it
    except (LedgerError, ValueError) as exc:
        raise HomeError("bad_genesis", f"testnet genesis refused: {exc}") from None
    nodes: list[TestnetNode] = []
    validator_peers = tuple(
        f"{validator_keys[i]}@{host}:{base_port + P2P_PORT_OFFSET + i}" for i in range(validators)
    )
    # documents (docs/documents.md): every node fetches what it lacks from the validators'
    # APIs (a node listening on every address is reached on the loopback address)
    api_host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    api_host = f"[{api_host}]" if ":" in api_host else api_host
    validator_apis = [f"http://{api_host}:{base_port + i}" for i in range(validators)]
    for i, home in enumerate(homes):
        rpc_port = base_port + i
        p2p_port = base_port + P2P_PORT_OFFSET + i
        peers = tuple(peer for j, peer in enumerate(validator_peers) if j != i)
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
            document_peers=tuple(url for j, url in enumerate(validator_apis) if j != i),
        )
        home.save_genesis(genesis)
        home.save_config(config)
        nodes.append(TestnetNode(f"node{i}", home.root, f"http://{host}:{rpc_port}", rpc_port,
                                 p2p_port, validator_keys[i], operators[i]["id"],
                                 admin_keys[i]))
    for j, home in enumerate(observer_homes):
        rpc_port = base_port + validators + j
        p2p_port = base_port + P2P_PORT_OFFSET + validators + j
        config = NodeConfig(
            chain_id=chain_id,
            moniker=f"observer{j}",
            rpc_host=host,
            rpc_port=rpc_port,
            block_interval_ms=block_interval_ms,
            max_block_txs=max_block_txs,
            validator_key=OBSERVER_KEY_NAME,
            p2p_host=host,
            p2p_port=p2p_port,
            peers=validator_peers,
            consensus=tuple(sorted((consensus or {}).items())),
            observer=True,
            document_peers=tuple(validator_apis),
        )
        home.save_genesis(genesis)
        home.save_config(config)
        nodes.append(TestnetNode(f"observer{j}", home.root, f"http://{host}:{rpc_port}",
                                 rpc_port, p2p_port, observer_keys[j], operators[0]["id"], "",
                                 observer=True))
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
