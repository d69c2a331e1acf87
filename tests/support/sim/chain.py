"""The application side of a simulated honest validator, in two modes.

* :class:`RealChain` (``app="real"``, the default) -- the production code: the driver's
  application work (``node.driver.appwork.AppWork``) over the real ``Application``
  (``node.chain.app``: chaincode executor, state overlay, state root, next-block rules,
  certificate check), the block codec (``node.chain.blockcodec``), the mempool and
  transaction admission (``node.txpool``) and ``ledger.store.Store`` over an in-memory
  ``MemoryDB``. The genesis holds the simulated validators' keys and one organisation
  whose key signs real ``notary.record`` transactions. The ``MemoryDB`` is the node's
  "disk": it survives a crash; the application, mempool and codec do not.
* :class:`FakeChain` (``app="fake"``) -- the small fake application of ``app.py``, about
  ten times cheaper, for long sweeps of the consensus core alone.

A chain is built afresh from the node's :class:`Disk` at every (re)start.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from chaincode.executor import Executor
from ledger.block import Block, CommitCertificate
from ledger.crypto import PrivateKey, sha256_hex
from ledger.encoding import canonical
from ledger.errors import LedgerError
from ledger.genesis import Genesis
from ledger.store import MemoryDB, Store
from ledger.validators import ValidatorSet
from node.chain.app import Application
from node.chain.blockcodec import BlockCodec
from node.consensus import (
    AppRequest,
    BuildProposal,
    Commit,
    ConsensusBlock,
    ConsensusCore,
    Event,
    ProposalBuilt,
    ProposalValidated,
)
from node.driver.appwork import AppWork, DriverConfig
from node.txpool.admission import Admission
from node.txpool.mempool import Mempool
from tests.support.common import notary_tx

from .app import FakeApp, FakeBlock

__all__ = ["Chain", "Disk", "FakeChain", "RealChain", "SimChainSpec"]

SYNC_WINDOW = 16  # the fake chain's sync buffer, in heights above the core's
#: the driver's limits in the simulation (proposals small enough for SIM_CONSENSUS)
SIM_DRIVER = DriverConfig(max_block_txs=16, max_block_bytes=48 * 1024, sync_window=16)


@dataclass
class Disk:
    """What survives a crash: the last persisted sign state, the committed chain (the
    fake chain's list of blocks, or the real store's ``MemoryDB``), and its height."""

    sign_state: bytes | None = None
    position: tuple[int, int, int] = (0, 0, 0)
    height: int = 0
    txs: int = 0  # transactions in the committed blocks
    blocks: list[tuple[FakeBlock, CommitCertificate]] = field(default_factory=list)
    db: MemoryDB = field(default_factory=MemoryDB)


@dataclass(frozen=True)
class SimChainSpec:
    """What every node of a run shares: the chain id, the validator set, and for the real
    application its genesis and the key that signs client transactions."""

    chain_id: str
    validators: ValidatorSet
    genesis: Genesis | None = None
    client_key: PrivateKey | None = None


class Chain(Protocol):
    """What the simulated driver asks of the application side."""

    @property
    def height(self) -> int: ...

    @property
    def state_root(self) -> str: ...

    def validators(self) -> ValidatorSet: ...

    def decode_block(self, obj: Any) -> ConsensusBlock: ...

    def start_height(self) -> None: ...

    def submit(self) -> list[bytes]: ...

    def admit(self, raw: bytes) -> None: ...

    def answer(self, request: AppRequest, now_ms: int) -> Event | None: ...

    def commit(self, action: Commit) -> str: ...

    def stored_chain(self) -> list[tuple[str, str, str]]: ...

    def sync_entries(self, height: int, count: int) -> list[dict[str, Any]]: ...

    def parse_synced(self, entry: Any) -> tuple[ConsensusBlock, CommitCertificate]: ...

    def offer_synced(self, entries: list[tuple[ConsensusBlock, CommitCertificate]], src: str,
                     core: ConsensusCore) -> None: ...

    def next_synced(self, core: ConsensusCore) -> tuple[Any, CommitCertificate, str] | None: ...

    def alt_block(self, block: ConsensusBlock, tx_name: str, invalid: bool
                  ) -> ConsensusBlock | None: ...

    def rogue_block(self, height: int, now_ms: int, tx_name: str) -> ConsensusBlock | None: ...


class CommitRefused(Exception):
    """The application cannot apply a decided block (the reason in ``args[0]``)."""


# -- the fake application -----------------------------------------------------------------------
class FakeChain:
    def __init__(self, disk: Disk, spec: SimChainSpec, pub: str,
                 make_txs: Callable[[], list[str]]) -> None:
        self.disk = disk
        self.spec = spec
        self.pub = pub
        self.make_txs = make_txs
        self.app = FakeApp()
        for block, _ in disk.blocks:
            self.app.apply(block)
        self.sync_buffer: dict[int, tuple[FakeBlock, CommitCertificate, str]] = {}

    @property
    def height(self) -> int:
        return self.app.height

    @property
    def state_root(self) -> str:
        return self.app.state_root

    def validators(self) -> ValidatorSet:
        return self.spec.validators

    def decode_block(self, obj: Any) -> ConsensusBlock:
        return FakeBlock.from_json(obj)

    def start_height(self) -> None:
        return None

    def submit(self) -> list[bytes]:
        return []  # the fake proposer makes its transactions up when it builds

    def admit(self, raw: bytes) -> None:
        return None

    def answer(self, request: AppRequest, now_ms: int) -> Event | None:
        if isinstance(request, BuildProposal):
            built = self.app.build(request.height, request.now_ms, self.pub, self.make_txs())
            return ProposalBuilt(request.height, request.round, built)
        block = request.block
        ok = isinstance(block, FakeBlock) and self.app.check(block) == ""
        return ProposalValidated(block.hash(), ok)

    def commit(self, action: Commit) -> str:
        block = action.block
        assert isinstance(block, FakeBlock)
        reason = self.app.check(block)
        if reason:
            raise CommitRefused(reason)
        self.app.apply(block)
        self.disk.blocks.append((block, action.certificate))
        self.disk.height = self.app.height
        self.disk.txs += len(block.txs)
        return self.app.state_root

    def stored_chain(self) -> list[tuple[str, str, str]]:
        """(block hash, state root, transactions digest) per height, replayed from disk."""
        app = FakeApp()
        out = []
        for block, _ in self.disk.blocks:
            app.apply(block)
            out.append((block.hash(), app.state_root, block.app_hash))
        return out

    def sync_entries(self, height: int, count: int) -> list[dict[str, Any]]:
        return [{"block": b.to_json(), "certificate": c.to_json()}
                for b, c in self.disk.blocks[height - 1 : height - 1 + count]]

    def parse_synced(self, entry: Any) -> tuple[ConsensusBlock, CommitCertificate]:
        return FakeBlock.from_json(entry["block"]), CommitCertificate.from_json(
            entry["certificate"])

    def offer_synced(self, entries: list[tuple[ConsensusBlock, CommitCertificate]], src: str,
                     core: ConsensusCore) -> None:
        for block, cert in entries:
            if core.height <= block.height < core.height + SYNC_WINDOW:
                assert isinstance(block, FakeBlock)
                self.sync_buffer[block.height] = (block, cert, src)

    def next_synced(self, core: ConsensusCore) -> tuple[Any, CommitCertificate, str] | None:
        if core.decided:
            return None
        for h in [h for h in sorted(self.sync_buffer) if h < core.height]:
            del self.sync_buffer[h]
        return self.sync_buffer.pop(core.height, None)

    def alt_block(self, block: ConsensusBlock, tx_name: str, invalid: bool
                  ) -> ConsensusBlock | None:
        assert isinstance(block, FakeBlock)
        alt = self.app.build(block.height, block.time + 1, self.pub, [tx_name])
        if invalid:  # a wrong app hash
            alt = FakeBlock(alt.height, alt.time, alt.prev_hash, alt.proposer, alt.txs,
                            sha256_hex(b"wrong"))
        return alt

    def rogue_block(self, height: int, now_ms: int, tx_name: str) -> ConsensusBlock | None:
        return self.app.build(height, now_ms, self.pub, [tx_name])


# -- the real application ---------------------------------------------------------------------
class RealChain:
    """The production application stack of one node over its in-memory store."""

    def __init__(self, disk: Disk, spec: SimChainSpec, key: PrivateKey,
                 make_txs: Callable[[], list[str]]) -> None:
        assert spec.genesis is not None and spec.client_key is not None
        self.disk = disk
        self.spec = spec
        self.pub = key.public_key_hex
        self.make_txs = make_txs
        self.store = Store.in_memory(disk.db)  # the "disk"; the rest is process memory
        self.mempool = Mempool(max_txs=256)  # its verified set is the node's one
        self.app = Application(self.store, Executor(), spec.genesis,
                               verified=self.mempool.verified)
        self.codec = BlockCodec(spec.chain_id, self.mempool.by_json_key)
        self.work = AppWork(self.app, self.mempool, self.pub, SIM_DRIVER)
        self.admission = Admission(spec.chain_id, self.store, self.mempool)
        self.disk.height = self.app.height

    @property
    def height(self) -> int:
        return self.app.height

    @property
    def state_root(self) -> str:
        return self.store.state_root()

    def validators(self) -> ValidatorSet:
        return self.app.tip.validators  # as the asyncio driver passes to StartHeight

    def decode_block(self, obj: Any) -> ConsensusBlock:
        return self.codec.decode(obj)

    def start_height(self) -> None:
        self.work.start_height()

    def submit(self) -> list[bytes]:
        """Clients send 0-3 signed ``notary.record`` transactions to this validator (the
        proposer, just before it builds); they are admitted here and their bytes are
        returned to be gossiped to the others."""
        assert self.spec.client_key is not None
        out = []
        for name in self.make_txs():
            raw = canonical(notary_tx(self.spec.client_key, name, chain_id=self.spec.chain_id,
                                      nonce=name).to_json())
            self.admit(raw)
            out.append(raw)
        return out

    def admit(self, raw: bytes) -> None:
        try:
            self.admission.admit_raw(raw)
        except LedgerError:
            pass  # duplicate (pending or committed) or a full mempool: as in production

    def answer(self, request: AppRequest, now_ms: int) -> Event | None:
        return self.work.answer(request, now_ms)

    def commit(self, action: Commit) -> str:
        try:
            final = self.work.commit(action)
        except LedgerError as exc:
            raise CommitRefused(exc.code) from exc
        self.disk.height = self.app.height
        self.disk.txs += len(final.txs)
        return self.store.state_root()

    def stored_chain(self) -> list[tuple[str, str, str]]:
        """(block hash, state root, write-set digest) per height, read from the "disk"
        through a new store handle (not this process's application)."""
        store = Store.in_memory(self.disk.db)
        out = []
        for h in range(1, store.latest_height() + 1):
            block = store.get_block(h)
            assert block is not None
            writes = canonical([[k, None if v is None else v.hex()]
                                for k, v in store.get_block_writes(h) or []])
            out.append((block.hash(), block.header.state_root, sha256_hex(writes)))
        if out:
            assert out[-1][1] == store.state_root()
        return out

    def sync_entries(self, height: int, count: int) -> list[dict[str, Any]]:
        out = []
        for h in range(max(1, height), height + count):
            block, cert = self.store.get_block_json(h), self.store.get_commit_json(h)
            if block is None or cert is None:
                break
            out.append({"block": json.loads(block), "certificate": json.loads(cert)})
        return out

    def parse_synced(self, entry: Any) -> tuple[ConsensusBlock, CommitCertificate]:
        return self.codec.decode(entry["block"]), CommitCertificate.from_json(
            entry["certificate"])

    def offer_synced(self, entries: list[tuple[ConsensusBlock, CommitCertificate]], src: str,
                     core: ConsensusCore) -> None:
        blocks = [(b, c) for b, c in entries if isinstance(b, Block)]
        self.work.offer_synced(blocks, src)

    def next_synced(self, core: ConsensusCore) -> tuple[Any, CommitCertificate, str] | None:
        if core.decided:  # between heights, as the asyncio driver's _feed_sync
            self.work.next_synced(0)
            return None
        return self.work.next_synced(core.height)

    def alt_block(self, block: ConsensusBlock, tx_name: str, invalid: bool
                  ) -> ConsensusBlock | None:
        if not isinstance(block, Block) or block.height != self.app.height + 1:
            return None
        return self._build(block.header.time + 1, tx_name, invalid)

    def rogue_block(self, height: int, now_ms: int, tx_name: str) -> ConsensusBlock | None:
        if height != self.app.height + 1:
            return None
        return self._build(now_ms, tx_name, False)

    def _build(self, time_ms: int, tx_name: str, invalid: bool) -> Block:
        assert self.spec.client_key is not None
        tx = notary_tx(self.spec.client_key, tx_name, chain_id=self.spec.chain_id,
                       nonce=tx_name)
        block, _ = self.app.build_block([tx], max(time_ms, self.app.tip.time + 1), self.pub)
        if invalid:  # a state root that re-execution refutes
            header = dataclasses.replace(block.header, state_root=sha256_hex(b"wrong"))
            block = Block(header=header, txs=block.txs, results=block.results)
        return block
