"""Where an audit's blocks come from (``fcl audit``): the :class:`ChainSource` protocol, a
node's data folder (:class:`StoreSource`), :func:`open_source` (a data folder or a node's
HTTP API, :class:`fcl.audit.node_source.NodeSource`) and the genesis check both audits
start with."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from chaincode.validator_state import validator_set_for
from fcl.audit.blocks import (
    HistoryInclusion,
    HistoryProof,
    SourcedBlock,
    decode_strict,
    missing_block,
    parse_block,
)
from fcl.audit.checks import AuditedChain, AuditError, ChainDataError, Discrepancy, shorten
from fcl.audit.node_source import DEFAULT_PREFETCH, DEFAULT_TIMEOUT_S, NodeSource
from ledger.errors import LedgerError
from ledger.genesis import Genesis
from ledger.merkle import AppendOnlyMerkleTree
from ledger.store import Store
from ledger.validators import ValidatorSet

__all__ = ["ChainSource", "StoreSource", "genesis_discrepancy", "open_source"]


class ChainSource(Protocol):
    """Where blocks come from."""

    def describe(self) -> str: ...

    def identity(self) -> tuple[str | None, str]:
        """(genesis hash, chain id) as the source states them."""
        ...

    def latest_height(self) -> int: ...

    def tip_validators(self) -> tuple[int, ValidatorSet]:
        """(latest height H, the set the source says signs block H + 1)."""
        ...

    def block(self, height: int) -> SourcedBlock: ...

    def blocks(self, start: int, end: int) -> Iterator[SourcedBlock]: ...

    def consistency(self, old_size: int, new_size: int) -> HistoryProof: ...

    def inclusion(self, index: int, size: int) -> HistoryInclusion:
        """An inclusion proof of block ``index + 1``'s hash in the tree of ``size`` blocks."""
        ...

    def final_check(self, auditor: AuditedChain) -> Discrepancy | None: ...

    def close(self) -> None: ...


AUDIT_OPEN_FILES = 74  # LevelDB's floor (64 table files + 10 of its own)


class StoreSource:
    """Blocks from a node's LevelDB data folder. LevelDB allows one process: while the
    node runs, opening fails with ``store_locked`` (audit the running node over HTTP)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._tree: AppendOnlyMerkleTree | None = None

    @classmethod
    def open(cls, data_dir: str | Path) -> StoreSource:
        path = Path(data_dir).expanduser()
        if not (path / "CURRENT").is_file():
            raise AuditError("no_store", f"{path} is not a node data folder (no LevelDB store)")
        try:
            # the audit reads each block once: LevelDB's smallest table cache bounds the
            # mapped table files, which count in the audit's RSS (docs/audit.md)
            store = Store(path, max_open_files=AUDIT_OPEN_FILES)
        except LedgerError as exc:
            if exc.code == "store_locked":
                raise AuditError(
                    "store_locked",
                    f"the store {path} is in use, probably by the running node; stop the node "
                    "or audit it over HTTP instead: fcl audit --node URL --genesis ...",
                ) from None
            raise AuditError("no_store", exc.message) from None
        if not store.initialised:
            store.close()
            raise AuditError("not_initialised", f"the store {path} has no genesis")
        return cls(store)

    def describe(self) -> str:
        return f"data folder {self.store.path}"

    def identity(self) -> tuple[str | None, str]:
        return self.store.genesis_hash(), self.store.chain_id()

    def latest_height(self) -> int:
        return self.store.latest_height()

    def tip_validators(self) -> tuple[int, ValidatorSet]:
        height = self.store.latest_height()
        return height, validator_set_for(self.store, height + 1)

    def block(self, height: int) -> SourcedBlock:
        raw_block = self.store.get_block_json(height)
        raw_commit = self.store.get_commit_json(height)
        if raw_block is None or raw_commit is None:
            raise missing_block(height, self.store.latest_height())
        block, commit = parse_block(
            height, decode_strict(height, raw_block, "block"),
            decode_strict(height, raw_commit, "commit"), self.store.chain_id(),
        )
        return block, commit, str(self.store.get_block_hash(height))

    def blocks(self, start: int, end: int) -> Iterator[SourcedBlock]:
        """Blocks ``start..end``. Once the auditor has accepted a block (the generator is
        resumed), the store's transaction index for it is checked too: the node refuses
        a replayed transaction by that index. An index entry pointing to a later block is
        checked after the last block, so that a transaction committed twice is reported
        as ``duplicate_tx`` where it repeats."""
        later: list[tuple[int, int, str, tuple[int, int]]] = []

        def wrong(height: int, index: int, tx_id: str, location: object) -> ChainDataError:
            return ChainDataError(Discrepancy(
                height, "tx_index", f"({height}, {index})", str(location),
                f"the store's location of transaction {tx_id}",
            ))

        for height in range(start, end + 1):
            item = self.block(height)
            yield item
            for index, tx in enumerate(item[0].txs):
                location = self.store.get_tx_location(tx.tx_id)
                if location is not None and location[0] > height:
                    later.append((height, index, tx.tx_id, location))
                elif location != (height, index):
                    raise wrong(height, index, tx.tx_id, location)
        if later:
            raise wrong(*later[0])

    def _history(self) -> AppendOnlyMerkleTree:
        if self._tree is None or self._tree.size != self.store.latest_height():
            tree = AppendOnlyMerkleTree()
            for block_hash in self.store.block_hashes():
                tree.append(block_hash)
            self._tree = tree
        return self._tree

    def consistency(self, old_size: int, new_size: int) -> HistoryProof:
        tree = self._history()
        if not 0 <= old_size <= new_size <= tree.size:
            raise AuditError("bad_source", f"sizes {old_size}..{new_size} beyond {tree.size}")
        return HistoryProof(
            old_size, new_size, tree.root_at(old_size).hex(), tree.root_at(new_size).hex(),
            tree.consistency_proof(old_size, new_size),
        )

    def inclusion(self, index: int, size: int) -> HistoryInclusion:
        tree = self._history()
        if not 0 <= index < size <= tree.size:
            raise AuditError("bad_source", f"leaf {index} of {size} beyond {tree.size}")
        return HistoryInclusion(index, size, tree.root_at(size).hex(),
                                tree.inclusion_proof(index, size))

    def final_check(self, auditor: AuditedChain) -> Discrepancy | None:
        """The store's state equals the replayed state, key by key (a value changed in the
        database behind the chain's back is found here)."""
        stored_root = self.store.state_root()
        if stored_root != auditor.state_root:
            return Discrepancy(auditor.height, "stored_state", auditor.state_root,
                               stored_root, "the store's latest state root")
        mine = auditor.state.iter_prefix("")  # a stream: the state may not fit in memory
        theirs = self.store.iter_prefix("")
        sentinel = ("\uffff" * 4, b"")
        while True:
            a = next(mine, None)
            b = next(theirs, None)
            if a is None and b is None:
                return None
            if a != b:
                ka, kb = (a or sentinel)[0], (b or sentinel)[0]
                key = min(ka, kb)
                want = auditor.state.get(key)
                got = self.store.get(key)
                return Discrepancy(
                    auditor.height, "stored_state",
                    "absent" if want is None else shorten(want.decode("utf-8", "replace")),
                    "absent" if got is None else shorten(got.decode("utf-8", "replace")),
                    f"state key {key!r}",
                )

    def close(self) -> None:
        self.store.close()


def open_source(
    *, node: str | None = None, data: str | Path | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S, prefetch: int = DEFAULT_PREFETCH,
) -> StoreSource | NodeSource:
    """A source from exactly one of ``node`` (URL) and ``data`` (data folder)."""
    if (node is None) == (data is None):
        raise AuditError("bad_source", "give exactly one of a node URL and a data folder")
    if node is not None:
        return NodeSource(node, timeout_s=timeout_s, prefetch=prefetch)
    assert data is not None
    return StoreSource.open(data)


def genesis_discrepancy(source: ChainSource, genesis: Genesis) -> Discrepancy | None:
    """The ``genesis`` discrepancy if ``source`` holds another chain than ``genesis``'s."""
    genesis_hash, chain_id = source.identity()
    if genesis_hash != genesis.hash:
        return Discrepancy(0, "genesis", genesis.hash, str(genesis_hash),
                           f"{source.describe()} holds another chain")
    if chain_id != genesis.chain_id:
        return Discrepancy(0, "genesis", genesis.chain_id, chain_id, "chain id")
    return None
