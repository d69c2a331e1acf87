"""A real chain served by the node's API for the proof tests (no tests in this module).

:func:`proof_world` runs :func:`tests.support.certificates.lifecycle` (two projects, a
validator-set change, retirements, a listing) on a chain of its own, then freezes units
451..460 of AH-0001 (held by the owner) in one more block, and serves the store through
the node's FastAPI app (``node_routers``: certificates, history and proofs)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient

from ledger.header_chain import TrustedState
from ledger.validators import ValidatorSet
from node.api.rpc import create_app, node_routers
from node.api.service import Node
from node.txpool.mempool import Mempool
from tests.support.certificates import GENESIS_SET, NEW_SET, World, lifecycle

CHAIN_ID = "fcl-proof-test"
FROZEN = (451, 460)


@dataclass
class ProofWorld:
    world: World
    node: Node
    client: TestClient
    freeze_height: int

    @property
    def chain(self) -> Any:
        return self.world.chain

    @property
    def genesis(self) -> Any:
        return self.world.chain.genesis

    def checkpoint(self, height: int) -> TrustedState:
        """A checkpoint trusting block ``height`` (what a light client would have saved)."""
        block = self.chain.store.get_block(height)
        assert block is not None
        following = NEW_SET if height >= self.world.change_height else GENESIS_SET
        return TrustedState(self.genesis.chain_id, self.genesis.hash, height, block.header.hash(),
                            block.header.time, ValidatorSet.from_json(following))


    def close(self) -> None:
        self.client.close()
        self.node.readers.close()
        self.node.verifier.close()
        self.chain.close()


@contextmanager
def proof_world(factory: Any) -> Iterator[ProofWorld]:
    """The world, for one test module (its worker threads and store closed after)."""
    world = lifecycle(factory.mktemp("proofchain") / "db", CHAIN_ID)
    chain = world.chain
    chain.ok("regulator", "freeze", {"project_id": "AH-0001", "first": FROZEN[0],
                                     "last": FROZEN[1], "reason": "tenure dispute"})
    node = Node(moniker="proofs", genesis=chain.genesis, store=chain.store, app=chain.app,
                mempool=Mempool(10, 1 << 20))
    client = TestClient(create_app(node, routers=node_routers(node)),
                        raise_server_exceptions=False)
    pw = ProofWorld(world, node, client, chain.height)
    try:
        yield pw
    finally:
        pw.close()
