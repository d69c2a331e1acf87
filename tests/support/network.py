"""In-process clusters of real nodes for the network tests: each node is a
``node.runtime.NodeRuntime`` with its own LevelDB store, sign-state directory and p2p port
on 127.0.0.1, all in one event loop. (No tests here: helpers only.)"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fcl.testnet.files import operator_of
from ledger.crypto import PrivateKey, sha256
from ledger.genesis import Genesis
from ledger.store import Store
from ledger.tx import Transaction, build_transaction
from node.home import NodeConfig
from node.runtime import NodeRuntime
from tests.support.common import det_key
from tests.support.harness import fixture_params

CHAIN = "fcl-net-test"
GENESIS_TIME = 1_700_000_000_000
FAST_CONSENSUS = {
    "timeout_propose_ms": 1500,
    "timeout_prevote_ms": 500,
    "timeout_precommit_ms": 500,
    "rebroadcast_ms": 500,
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def validator_key(i: int) -> PrivateKey:
    return det_key(f"net-validator-{i}")


def admin_key(i: int) -> PrivateKey:
    return det_key(f"net-admin-{i}")


def make_genesis(validators: int, chain_id: str = CHAIN) -> Genesis:
    """``validators`` validators of power 1, each operated by its own organisation
    (``fcl.testnet.files.operator_of``), the default parameters."""
    orgs = [operator_of(i) for i in range(validators)]
    return Genesis.from_json({
        "chain_id": chain_id,
        "genesis_time": GENESIS_TIME,
        "validators": [{"name": f"node{i}", "pub_key": validator_key(i).public_key_hex,
                        "power": 1} for i in range(validators)],
        "app_state": {
            "organisations": [{**org, "admins": [admin_key(i).public_key_hex], "members": []}
                              for i, org in enumerate(orgs)],
            "params": fixture_params(),
            "validator_operators": {validator_key(i).public_key_hex: orgs[i]["id"]
                                    for i in range(validators)},
        },
    })


def notary(i: int, tag: str, signer: int = 0, chain_id: str = CHAIN) -> Transaction:
    return build_transaction(
        chain_id=chain_id, contract="notary", method="record",
        args={"name": f"{tag}-{i}", "sha256": sha256(f"{tag}:{i}".encode()).hex()},
        nonce="n", keys=[admin_key(signer)],
    )


class Member:
    """One node of a cluster (started or not)."""

    def __init__(self, cluster: Cluster, index: int, key: PrivateKey) -> None:
        self.cluster = cluster
        self.index = index
        self.key = key
        self.p2p_port = free_port()
        self.dir = cluster.root / f"node{index}"
        self.runtime: NodeRuntime | None = None
        self.store: Store | None = None
        self.task: asyncio.Task[None] | None = None
        self.clock_offset_ms = 0

    @property
    def rt(self) -> NodeRuntime:
        assert self.runtime is not None, f"node{self.index} is not running"
        return self.runtime

    def config(self) -> NodeConfig:
        peers = tuple(f"{m.key.public_key_hex}@127.0.0.1:{m.p2p_port}"
                      for m in self.cluster.members if m is not self)
        return NodeConfig(chain_id=self.cluster.genesis.chain_id, moniker=f"node{self.index}",
                          block_interval_ms=20, p2p_port=self.p2p_port, peers=peers,
                          consensus=tuple(sorted(self.cluster.consensus.items())),
                          max_block_txs=self.cluster.max_block_txs)

    async def start(self) -> None:
        assert self.runtime is None
        self.store = Store(self.dir / "data")
        offset = self.clock_offset_ms
        self.runtime = NodeRuntime(
            config=self.config(), genesis=self.cluster.genesis, key=self.key, store=self.store,
            state_dir=self.dir / "consensus",
            clock_ms=lambda: time.time_ns() // 1_000_000 + offset,
        )
        await self.runtime.start_network()
        self.task = asyncio.create_task(self.runtime.run())

    async def stop(self) -> None:
        """Stop gracefully and close the store (the process equivalent of SIGTERM)."""
        if self.runtime is None:
            return
        self.runtime.stop()
        assert self.task is not None
        try:
            await asyncio.wait_for(self.task, 20)
        finally:
            assert self.store is not None
            self.store.close()
            self.runtime = None
            self.task = None

    def submit(self, txs: list[Transaction]) -> list[dict[str, Any]]:
        return self.rt.node.submit_many([tx.to_json() for tx in txs])

    @property
    def height(self) -> int:
        return self.rt.app.height


class Cluster:
    """``validators`` validators (keys 0..n-1) plus ``extra`` nodes with keys n..n+extra-1
    (not in the genesis set), all listing each other as peers."""

    def __init__(
        self,
        root: Path,
        validators: int,
        extra: int = 0,
        *,
        consensus: dict[str, int] | None = None,
        max_block_txs: int = 500,
        genesis: Genesis | None = None,
    ) -> None:
        self.root = root
        self.genesis = genesis or make_genesis(validators)
        self.consensus = dict(FAST_CONSENSUS if consensus is None else consensus)
        self.max_block_txs = max_block_txs
        self.members = [Member(self, i, validator_key(i)) for i in range(validators + extra)]

    def __getitem__(self, index: int) -> Member:
        return self.members[index]

    async def start(self, *indices: int) -> None:
        for i in indices or range(len(self.members)):
            await self.members[i].start()

    async def stop_all(self) -> None:
        for m in self.members:
            await m.stop()

    def running(self) -> list[Member]:
        return [m for m in self.members if m.runtime is not None]

    async def wait_for(self, predicate: Callable[[], bool], timeout_s: float = 30,
                       what: str = "condition") -> None:
        deadline = time.monotonic() + timeout_s
        while not predicate():
            for m in self.running():
                if m.task is not None and m.task.done():
                    raise AssertionError(f"node{m.index} stopped: {m.task.exception()!r}")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            await asyncio.sleep(0.02)

    async def wait_height(self, height: int, members: list[Member] | None = None,
                          timeout_s: float = 30) -> None:
        targets = members if members is not None else self.running()
        await self.wait_for(lambda: all(m.height >= height for m in targets), timeout_s,
                            f"height {height} on {[m.index for m in targets]}")

    async def wait_connected(self, members: list[Member] | None = None,
                             timeout_s: float = 15) -> None:
        targets = members if members is not None else self.running()
        want = {m.key.public_key_hex for m in targets}

        def connected() -> bool:
            for m in targets:
                assert m.rt.peers is not None
                if not (want - {m.key.public_key_hex}) <= set(m.rt.peers.peers):
                    return False
            return True

        await self.wait_for(connected, timeout_s, "peer connections")

    async def wait_committed(self, txs: list[Transaction], members: list[Member] | None = None,
                             timeout_s: float = 30) -> None:
        targets = members if members is not None else self.running()
        await self.wait_for(
            lambda: all(m.rt.store.get_tx_location(tx.tx_id) is not None
                        for m in targets for tx in txs),
            timeout_s, f"{len(txs)} transactions committed")


def run(coro: Any, timeout_s: float = 120) -> Any:
    """Run a test coroutine with an overall deadline."""
    return asyncio.run(asyncio.wait_for(coro, timeout_s))


def metric(text: str, name: str) -> float:
    """The sum of the samples of metric ``name`` (with or without labels) in a
    Prometheus text exposition."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            head, value = line.rsplit(" ", 1)
            if head == name or head.startswith(name + "{"):
                total += float(value)
    return total
