"""The block store: committed blocks, their commit certificates, indexes and the
committed key-value state, in one LevelDB database (plyvel).

Everything a height adds -- block, certificate, hash and transaction indexes, state
changes, the block's write set and the new chain tip -- is written in **one**
synchronous ``WriteBatch``: after a crash the store is at some committed height, never
between two. The store knows nothing of consensus: it checks only that a block extends
the chain it holds (height, previous hash, certificate and state root agree).

Key layout (binary prefixes; heights are 8-byte big-endian so keys sort by height)::

    b/<h8>          canonical JSON of Block.to_json() (``Block.canonical_bytes``)
    c/<h8>          canonical JSON of the commit certificate
    n/<h8>          block hash (32 raw bytes), for rebuilding the history tree
    h/<hash32>      height of a block hash (h8)
    t/<txid32>      location of a transaction: h8 || index (4-byte big-endian)
    w/<h8>          the write set of height h: canonical ``[[key, value-hex|null], ...]``
                    (height 0 holds the genesis writes; ``WriteSet.body``)
    s/<key utf-8>   committed state value
    x/<bytes>       extra index entries given by the caller of ``commit_block``
    m/<name>        meta: height, hash, state_root, genesis_hash, chain_id; snapshot (a
                    store started from a state-sync snapshot: :meth:`Store.init_from_snapshot`)
    a/<record>      the authenticated state tree (ledger/state_tree.py,
                    docs/state-proofs.md): version h is the state after height h, its
                    root the header's ``state_root``; a height's records are written in
                    its block's batch, every version is kept (proofs at past heights)

A data folder written before the state root became the tree's root (it has a chain but
no ``a/`` records) is refused on opening: ``StoreError("store_format_changed")``. Its
headers carry the old roots, so the chain cannot be continued: start a new one.

One process, one handle: LevelDB's ``LOCK`` file refuses a second open, which is
reported as ``StoreError("store_locked")``.

``Store.in_memory()`` runs the same ``Store`` over :class:`MemoryDB`, a dict-backed
stand-in for exactly the part of plyvel the store uses (``get``, ``write_batch`` with
transaction semantics, ordered ``iterator``). Keys are kept sorted as bytes, as LevelDB's
default comparator orders them, so every read is deterministic. The deterministic
simulation (``tests/support/sim``) keeps a node's ``MemoryDB`` across a simulated crash
as its "disk".
"""

from __future__ import annotations

import bisect
import json
import struct
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import plyvel

from ledger.block import Block, CommitCertificate
from ledger.crypto import is_hex_digest
from ledger.encoding import canonical
from ledger.errors import LedgerError, StorageFailure, guarded_rows
from ledger.state import WriteSet, check_seek
from ledger.state_tree import DBNodeStore, StateTree, StateTreeError, TreeUpdate

__all__ = ["TREE_PREFIX", "MemoryDB", "Store", "StoreError", "Writes"]

Writes = Iterable[tuple[str, bytes | None]]

_BLOCK = b"b/"
_COMMIT = b"c/"
_HEIGHT_HASH = b"n/"
_HASH_HEIGHT = b"h/"
_TX = b"t/"
_WRITES = b"w/"
_STATE = b"s/"
_EXTRA = b"x/"
_META_HEIGHT = b"m/height"
_META_HASH = b"m/hash"
_META_STATE_ROOT = b"m/state_root"
_META_GENESIS = b"m/genesis_hash"
_META_CHAIN_ID = b"m/chain_id"
_META_SNAPSHOT = b"m/snapshot"
TREE_PREFIX = b"a/"
"""The key prefix reserved for the state tree's records (:meth:`Store.state_tree_nodes`)."""
_WRITE_BUFFER_BYTES = 64 << 20  # LevelDB's memtable (its default: 4 MiB)


class StoreError(LedgerError):
    """The store refused an operation. Codes: ``store_locked``, ``store_open_failed``,
    ``not_initialised``, ``already_initialised``, ``wrong_height``, ``wrong_prev_hash``,
    ``wrong_chain``, ``commit_mismatch``, ``state_root_mismatch``, ``bad_write``,
    ``store_closed``, ``read_only`` (a :meth:`Store.snapshot`), ``store_format_changed``
    (a data folder written with the old state root format), ``bad_prefix`` (a hash
    prefix that is not 8 to 64 lowercase hex digits)."""


class MemoryDB:
    """The subset of ``plyvel.DB`` the store uses, in memory: deterministic and ordered
    (keys sorted as bytes, LevelDB's default order).

    * ``get(key, default=None)``; ``put``; ``delete``;
    * ``write_batch(transaction=..., sync=...)``: a context manager collecting ``put`` /
      ``delete`` in order, applied when the block ends; with ``transaction=True`` nothing
      is applied if the block raises (plyvel's semantics);
    * ``iterator(prefix=, start=, stop=, reverse=, include_value=)``: ``start`` inclusive,
      ``stop`` exclusive, ``prefix`` not combined with either (``TypeError``, as plyvel);
      it reads a snapshot taken when it is created.

    ``close()`` closes this handle only; the data stays (it is the "disk"), and a new
    ``Store.in_memory(db)`` reopens it.
    """

    def __init__(self) -> None:
        self._data: dict[bytes, bytes] = {}
        self._keys: list[bytes] = []  # sorted
        self._shared = False  # an iterator holds _keys and _data: copy them before writing
        self._lock = threading.Lock()  # readers take a snapshot while one thread writes

    def get(self, key: bytes, default: bytes | None = None) -> bytes | None:
        return self._data.get(bytes(key), default)

    def put(self, key: bytes, value: bytes) -> None:
        with self._lock:
            self._put(bytes(key), bytes(value))

    def delete(self, key: bytes) -> None:
        with self._lock:
            self._delete(bytes(key))

    def _put(self, key: bytes, value: bytes) -> None:  # the caller holds the lock
        self._unshare()
        if key not in self._data:
            bisect.insort(self._keys, key)
        self._data[key] = value

    def _delete(self, key: bytes) -> None:  # the caller holds the lock
        self._unshare()
        if self._data.pop(key, None) is not None:
            del self._keys[bisect.bisect_left(self._keys, key)]

    def apply(self, ops: Iterable[tuple[bytes, bytes | None]]) -> None:
        """Apply a batch's puts (value) and deletes (None) as one step: a
        :meth:`snapshot` sees all of them or none (as a LevelDB write batch)."""
        with self._lock:
            for key, value in ops:
                if value is None:
                    self._delete(key)
                else:
                    self._put(key, value)

    def snapshot(self) -> _MemorySnapshot:
        """A consistent read-only view as of now (``plyvel.DB.snapshot``)."""
        with self._lock:
            self._shared = True
            return _MemorySnapshot(self._keys, self._data)

    def write_batch(self, *, transaction: bool = False, sync: bool = False) -> _MemoryBatch:
        return _MemoryBatch(self, transaction)

    def iterator(
        self,
        *,
        prefix: bytes | None = None,
        start: bytes | None = None,
        stop: bytes | None = None,
        reverse: bool = False,
        include_value: bool = True,
    ) -> Iterator[Any]:
        # over a snapshot: these very objects, which a later write copies before changing
        return self.snapshot().iterator(prefix=prefix, start=start, stop=stop,
                                        reverse=reverse, include_value=include_value)

    def _unshare(self) -> None:
        """Copy the keys and values before a write if an iterator may be reading them."""
        if self._shared:
            self._keys = list(self._keys)
            self._data = dict(self._data)
            self._shared = False

    def close(self) -> None:
        """Nothing to release: the data outlives the handle."""


def prefix_end(prefix: bytes) -> bytes | None:
    """The least byte string after every string that starts with ``prefix`` (None: no
    such bound, the prefix is empty or all 0xff bytes)."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes([stripped[-1] + 1])


class _MemorySnapshot:
    """What ``MemoryDB.snapshot()`` returns: ``get`` and ``iterator`` over the keys and
    values as they were (a later write to the database copies them first)."""

    def __init__(self, keys: list[bytes], data: dict[bytes, bytes]) -> None:
        self._keys = keys
        self._data = data

    def get(self, key: bytes, default: bytes | None = None) -> bytes | None:
        return self._data.get(bytes(key), default)

    def iterator(
        self,
        *,
        prefix: bytes | None = None,
        start: bytes | None = None,
        stop: bytes | None = None,
        reverse: bool = False,
        include_value: bool = True,
    ) -> Iterator[Any]:
        return _memory_range(self._keys, self._data, prefix, start, stop, reverse, include_value)

    def close(self) -> None:
        """Nothing to release."""


def _memory_range(
    keys: list[bytes],
    data: dict[bytes, bytes],
    prefix: bytes | None,
    start: bytes | None,
    stop: bytes | None,
    reverse: bool,
    values: bool,
) -> Iterator[Any]:
    if prefix is not None:
        if start is not None or stop is not None:
            raise TypeError("'prefix' cannot be used together with 'start' or 'stop'")
        start, stop = prefix, prefix_end(prefix)
    lo = 0 if start is None else bisect.bisect_left(keys, start)
    hi = len(keys) if stop is None else bisect.bisect_left(keys, stop)
    return _memory_iter(keys, data, lo, hi, reverse, values)


def _memory_iter(
    keys: list[bytes], data: dict[bytes, bytes], lo: int, hi: int, reverse: bool, values: bool
) -> Iterator[Any]:
    """``keys[lo:hi]`` (reversed if ``reverse``), with their values if ``values``, one
    at a time: a seek costs the two bisections, not a copy of the range."""
    indexes = range(hi - 1, lo - 1, -1) if reverse else range(lo, hi)
    for i in indexes:
        yield (keys[i], data[keys[i]]) if values else keys[i]


class _MemoryBatch:
    def __init__(self, db: MemoryDB, transaction: bool) -> None:
        self._db = db
        self._transaction = transaction
        self._ops: list[tuple[bytes, bytes | None]] = []

    def put(self, key: bytes, value: bytes) -> None:
        self._ops.append((bytes(key), bytes(value)))

    def delete(self, key: bytes) -> None:
        self._ops.append((bytes(key), None))

    def write(self) -> None:
        self._db.apply(self._ops)
        self._ops = []

    def __enter__(self) -> _MemoryBatch:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None or not self._transaction:
            self.write()
        self._ops = []


class _Backend(Protocol):
    """What the store needs of its database: plyvel.DB or :class:`MemoryDB`."""

    def get(self, key: bytes, default: bytes | None = None) -> bytes | None: ...

    def write_batch(self, *, transaction: bool = ..., sync: bool = ...) -> Any: ...

    def iterator(
        self,
        *,
        prefix: bytes | None = ...,
        start: bytes | None = ...,
        stop: bytes | None = ...,
        reverse: bool = ...,
    ) -> Iterator[Any]: ...

    def snapshot(self) -> Any: ...

    def close(self) -> None: ...


class _SnapshotBackend:
    """A database snapshot as a read-only :class:`_Backend` (``Store.snapshot``)."""

    def __init__(self, snapshot: Any) -> None:
        self._snapshot = snapshot

    def get(self, key: bytes, default: bytes | None = None) -> bytes | None:
        result: bytes | None = self._snapshot.get(key, default)
        return result

    def write_batch(self, *, transaction: bool = False, sync: bool = False) -> Any:
        raise StoreError("read_only", "a store snapshot is read-only")

    def iterator(
        self,
        *,
        prefix: bytes | None = None,
        start: bytes | None = None,
        stop: bytes | None = None,
        reverse: bool = False,
    ) -> Iterator[Any]:
        if prefix is not None:
            it: Iterator[Any] = self._snapshot.iterator(prefix=prefix, reverse=reverse)
        else:
            it = self._snapshot.iterator(start=start, stop=stop, reverse=reverse)
        return it

    def snapshot(self) -> Any:
        raise StoreError("read_only", "a store snapshot is already one")

    def close(self) -> None:
        self._snapshot.close()


def _h8(height: int) -> bytes:
    return struct.pack(">Q", height)


def _checked(writes: Writes) -> WriteSet:
    """``writes`` as a :class:`~ledger.state.WriteSet`, refused (``bad_write``) unless its
    keys are distinct non-empty strings and its values bytes or None."""
    ws = WriteSet.of(writes)
    previous: str | None = None
    for key, value in ws.items:
        if not isinstance(key, str) or not key:
            raise StoreError("bad_write", "state keys are non-empty strings")
        if key == previous:
            raise StoreError("bad_write", "a write set names a key twice")
        if value is not None and not isinstance(value, bytes):
            raise StoreError("bad_write", f"value of {key!r} is not bytes")
        previous = key
    return ws


class Store:
    """A LevelDB store for one node. Not to be shared between processes; one handle per
    process (a second ``Store(path)`` on the same path raises ``store_locked``).

    Reads are safe from several threads while one thread commits; commits must come from
    one writer at a time.
    """

    def __init__(self, path: str | Path, *, max_open_files: int = 256) -> None:
        """``max_open_files``: LevelDB's table cache (it raises values below 74 to 74).
        LevelDB maps each open table file into memory, and the pages read stay in the
        process's RSS while the file is open: a reader that passes once over the whole
        store (``fcl audit --data``) keeps it small to bound that (docs/audit.md)."""
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        try:
            # the table cache holds at most 256 files open (by default): the node keeps its descriptors
            # for peers and clients (node/api/http_server.py reserves room for these).
            # Each block adds ~10 state tree records (~1 KB of hashes) per written key:
            # a 64 MiB memtable and no Snappy compression (hashes do not compress) halve
            # the CPU LevelDB spends flushing and compacting them (docs/performance.md)
            self._db: _Backend | None = plyvel.DB(
                str(self.path), create_if_missing=True, max_open_files=max_open_files,
                write_buffer_size=_WRITE_BUFFER_BYTES, compression=None,
            )
        except plyvel.IOError as exc:
            text = str(exc)
            if "lock" in text.lower():
                raise StoreError(
                    "store_locked",
                    f"the store {self.path} is in use by another process (or handle)",
                ) from exc
            raise StoreError("store_open_failed", f"cannot open {self.path}: {text}") from exc
        except plyvel.Error as exc:
            raise StoreError("store_open_failed", f"cannot open {self.path}: {exc}") from exc
        try:
            self._load_height()
        except StoreError:
            self.close()
            raise

    @classmethod
    def in_memory(cls, db: MemoryDB | None = None) -> Store:
        """A store over ``db`` (a new, empty :class:`MemoryDB` if None): the same code as
        on LevelDB, nothing on the file system. Reopening the same ``db`` after
        :meth:`close` (or after dropping the handle) finds what was committed."""
        store = cls.__new__(cls)
        store.path = Path(":memory:")
        store._db = db if db is not None else MemoryDB()
        store._load_height()
        return store

    def _load_height(self) -> None:
        raw_height = self.db.get(_META_HEIGHT)
        self._height: int | None = None if raw_height is None else struct.unpack(">Q", raw_height)[0]
        # the state tree continues from its stored records (no rebuild)
        self._tree = StateTree(DBNodeStore(self.db, TREE_PREFIX))
        latest = self._tree.latest_version
        if self._height is not None and latest is None:
            raise StoreError(
                "store_format_changed",
                f"the store {self.path} holds a chain up to height {self._height} written "
                "with the old state root format (a hash chain of write sets, before issue "
                "12); the state root is now the state tree's root (docs/state-proofs.md), "
                "so this chain cannot be continued: start a new data folder",
            )
        if latest != self._height:
            raise StoreError(
                "store_open_failed",
                f"the store {self.path} is at height {self._height} but its state tree at "
                f"version {latest}",
            )

    # -- lifecycle -------------------------------------------------------------------------
    @property
    def db(self) -> _Backend:
        if self._db is None:
            raise StoreError("store_closed", "the store is closed")
        return self._db

    def close(self) -> None:
        """Close the database (idempotent)."""
        if self._db is not None:
            self._db.close()
            self._db = None

    def snapshot(self) -> Store:
        """A read-only view of the store as committed at this moment: every read of the
        view (state, indexes, meta) answers for one height even while another thread
        commits, as LevelDB's snapshots do (``plyvel.DB.snapshot``; ``MemoryDB.snapshot``
        in memory, whose write batches a snapshot sees whole or not at all). Close it
        (``with store.snapshot() as view:``) to release it; it cannot commit."""
        view = Store.__new__(Store)
        view.path = self.path
        view._db = _SnapshotBackend(self.db.snapshot())
        try:
            view._load_height()
        except StoreError:
            view.close()
            raise
        return view

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def initialised(self) -> bool:
        """True once :meth:`init_genesis` has been committed."""
        return self._height is not None

    # -- writes ----------------------------------------------------------------------------
    def init_genesis(
        self, genesis_hash: str, chain_id: str, genesis_writes: Writes, state_root: str
    ) -> None:
        """Record the genesis (height 0): its hash, chain id, initial state and the state
        root after it. Allowed once; ``state_root`` must equal the state tree's root over
        ``genesis_writes`` as version 0 (``WriteSet.root_in(store.state_tree, 0)``, as the
        caller computed it) -- the store checks that it matches the writes given."""
        if self._height is not None:
            raise StoreError("already_initialised", f"the store {self.path} already has a genesis")
        if not is_hex_digest(genesis_hash) or not is_hex_digest(state_root):
            raise StoreError("bad_write", "genesis hash and state root are hex SHA-256 digests")
        ws = _checked(genesis_writes)
        update = self._prepare(ws, 0)
        if state_root != update.root.hex():
            raise StoreError(
                "state_root_mismatch",
                f"the genesis state root {state_root} is not the state tree's root over the "
                f"genesis writes, {update.root.hex()}",
            )
        nodes = self.state_tree_nodes()
        with self.db.write_batch(transaction=True, sync=True) as wb:
            self._put_state(wb, ws)
            nodes.put_into(wb, update.writes)
            wb.put(_WRITES + _h8(0), ws.body)
            wb.put(_META_GENESIS, bytes.fromhex(genesis_hash))
            wb.put(_META_CHAIN_ID, chain_id.encode("utf-8"))
            wb.put(_META_HASH, bytes.fromhex(genesis_hash))
            wb.put(_META_STATE_ROOT, bytes.fromhex(state_root))
            wb.put(_META_HEIGHT, _h8(0))
        self._tree.adopt(update)
        self._height = 0

    def init_from_snapshot(
        self,
        genesis_hash: str,
        chain_id: str,
        blocks: Sequence[tuple[Block, CommitCertificate]],
        state: Writes,
        snapshot_info: dict[str, Any],
    ) -> None:
        """Start this empty store at height H = ``len(blocks)`` from a state-sync snapshot
        (docs/state-sync.md) instead of the genesis: ``blocks`` are blocks 1..H with their
        certificates, ``state`` the whole key-value state after block H (no deletes),
        ``snapshot_info`` what the store keeps about the snapshot (``{"height": H,
        "validator_set_changes": [...]}``, :meth:`snapshot_base`). The caller verified
        everything (``fcl/state_sync.py``: the header of H from the genesis, each chunk
        against its state root, the hash chain of blocks H..1); the store checks again
        what it checks of any block -- the chain links (``wrong_height``,
        ``wrong_prev_hash``, ``commit_mismatch``) and that the state tree over ``state``
        as version H has block H's state root (``state_root_mismatch``) -- and writes it
        all in one batch. The state tree holds version H only (no proofs below H) and no
        write sets are stored for heights 0..H."""
        if self._height is not None:
            raise StoreError("already_initialised", f"the store {self.path} already has a chain")
        if not is_hex_digest(genesis_hash) or not blocks:
            raise StoreError("bad_write", "a snapshot start needs the genesis hash and blocks 1..H")
        ws = _checked(state)
        if any(value is None for _, value in ws.items):
            raise StoreError("bad_write", "a snapshot's state has values only, no deletes")
        previous = genesis_hash
        for expected, (block, commit) in enumerate(blocks, start=1):
            if block.height != expected:
                raise StoreError("wrong_height", f"block {block.height} is not block {expected}")
            if block.header.prev_hash != previous:
                raise StoreError("wrong_prev_hash", f"block {expected} does not link to block {expected - 1}")
            previous = block.hash()
            if commit.height != expected or commit.block_hash != previous:
                raise StoreError("commit_mismatch", f"the certificate of block {expected} is for another block")
        top = blocks[-1][0]
        height = top.height
        update = self._prepare(ws, height)
        if update.root.hex() != top.header.state_root:
            raise StoreError(
                "state_root_mismatch",
                f"the snapshot's state has the state root {update.root.hex()}, not block "
                f"{height}'s {top.header.state_root}",
            )
        info = canonical(snapshot_info)
        nodes = self.state_tree_nodes()
        with self.db.write_batch(transaction=True, sync=True) as wb:
            for block, commit in blocks:
                _put_block(wb, block, commit, block.hash())
            self._put_state(wb, ws)
            nodes.put_into(wb, update.writes)
            wb.put(_META_SNAPSHOT, info)
            wb.put(_META_GENESIS, bytes.fromhex(genesis_hash))
            wb.put(_META_CHAIN_ID, chain_id.encode("utf-8"))
            wb.put(_META_HASH, bytes.fromhex(previous))
            wb.put(_META_STATE_ROOT, bytes.fromhex(top.header.state_root))
            wb.put(_META_HEIGHT, _h8(height))
        self._tree.adopt(update)
        self._height = height

    def snapshot_base(self) -> dict[str, Any] | None:
        """What :meth:`init_from_snapshot` recorded (``{"height": H,
        "validator_set_changes": [...]}``), or None for a store started from the genesis.
        Below H the store has blocks, certificates and indexes but no state-tree versions
        and no write sets."""
        raw = self.db.get(_META_SNAPSHOT)
        if raw is None:
            return None
        info: dict[str, Any] = json.loads(raw)
        return info

    def commit_block(
        self,
        block: Block,
        commit: CommitCertificate,
        writes: Writes,
        state_root: str,
        extra_index: Iterable[tuple[bytes, bytes]] = (),
    ) -> None:
        """Append ``block`` with its certificate, state changes and indexes, atomically.

        Checks (``StoreError`` with the code named): the store is initialised
        (``not_initialised``); ``block.height == latest_height() + 1`` (``wrong_height``);
        ``prev_hash`` is the latest block hash (``wrong_prev_hash``); the certificate names
        this height and block hash
        (``commit_mismatch``); ``state_root`` equals the header's and the state tree's
        root with ``writes`` applied as version ``height`` (``state_root_mismatch``);
        the tree's records go into the block's write batch. Signatures
        are the caller's business (the application verifies the certificate). The
        chain id is not checked here: the one caller, ``Application.commit_block``, passes
        a block whose header ``check_header`` checked (``wrong_chain``) or that it built
        itself, under a certificate verified for this chain's id.

        ``extra_index`` entries are stored under the ``x/`` prefix in the same batch.
        """
        db = self.db
        if self._height is None:
            raise StoreError("not_initialised", "init_genesis first")
        header = block.header
        if header.height != self._height + 1:
            raise StoreError(
                "wrong_height", f"block {header.height} does not follow height {self._height}"
            )
        if header.prev_hash != self.latest_hash():
            raise StoreError(
                "wrong_prev_hash", f"block {header.height} does not link to the latest block"
            )
        block_hash = block.hash()
        if commit.height != header.height or commit.block_hash != block_hash:
            raise StoreError("commit_mismatch", "the certificate is for another block")
        # the tree update: prepared when the application executed the block, if it passes
        # the same WriteSet (then this check costs nothing)
        ws = _checked(writes)
        update = self._prepare(ws, header.height)
        root = update.root.hex()
        if state_root != header.state_root or state_root != root:
            raise StoreError(
                "state_root_mismatch",
                f"block {header.height}: the header's state root {header.state_root} (given "
                f"{state_root}) is not the state tree's root after the block's writes, {root}",
            )
        h8 = _h8(header.height)
        nodes = self.state_tree_nodes()
        with db.write_batch(transaction=True, sync=True) as wb:
            _put_block(wb, block, commit, block_hash)
            self._put_state(wb, ws)
            nodes.put_into(wb, update.writes)
            wb.put(_WRITES + h8, ws.body)
            for key, value in extra_index:
                wb.put(_EXTRA + bytes(key), bytes(value))
            wb.put(_META_HASH, bytes.fromhex(block_hash))
            wb.put(_META_STATE_ROOT, bytes.fromhex(state_root))
            wb.put(_META_HEIGHT, h8)
        self._tree.adopt(update)
        self._height = header.height

    def _prepare(self, ws: WriteSet, version: int) -> TreeUpdate:
        """The tree update of ``ws`` as ``version`` (``bad_write`` if the tree refuses it:
        a key it cannot hold)."""
        try:
            return ws.prepare(self._tree, version)
        except StateTreeError as exc:
            raise StoreError("bad_write", f"the state tree refuses the writes: {exc}") from exc

    def state_root_after(self, writes: Writes) -> str:
        """The state root a block with ``writes`` on the committed state would have: the
        state tree's root as version ``latest_height() + 1`` (prepared, not stored; pass
        the same ``WriteSet`` to :meth:`commit_block` to reuse the work)."""
        return self._prepare(WriteSet.of(writes), self.latest_height() + 1).root.hex()

    @property
    def state_tree(self) -> StateTree:
        """The authenticated state tree: version h is the state after height h (its root
        ``state_root()`` at the latest height); ``prove``/``get``/``leaves`` read any
        committed height."""
        return self._tree

    @staticmethod
    def _put_state(wb: Any, ws: WriteSet) -> None:
        for key, value in ws.items:
            skey = _STATE + key.encode("utf-8")
            if value is None:
                wb.delete(skey)
            else:
                wb.put(skey, value)

    def state_tree_nodes(self) -> DBNodeStore:
        """The state tree's records in this store's database, under :data:`TREE_PREFIX`
        (:attr:`state_tree` reads them). Its ``put_into`` adds a version's records to a
        write batch of the caller's."""
        return DBNodeStore(self.db, TREE_PREFIX)

    # -- meta ------------------------------------------------------------------------------
    def latest_height(self) -> int:
        """Height of the latest committed block (0: only the genesis)."""
        if self._height is None:
            raise StoreError("not_initialised", "the store has no genesis")
        return self._height

    def latest_hash(self) -> str:
        """Hash of the latest block (the genesis hash at height 0)."""
        return self._meta_hex(_META_HASH)

    def state_root(self) -> str:
        """State root after the latest block."""
        return self._meta_hex(_META_STATE_ROOT)

    def genesis_hash(self) -> str | None:
        """The genesis hash, or None before :meth:`init_genesis`."""
        raw = self.db.get(_META_GENESIS)
        return None if raw is None else raw.hex()

    def chain_id(self) -> str:
        raw = self.db.get(_META_CHAIN_ID)
        if raw is None:
            raise StoreError("not_initialised", "the store has no genesis")
        return raw.decode("utf-8")

    def _meta_hex(self, key: bytes) -> str:
        raw = self.db.get(key)
        if raw is None:
            raise StoreError("not_initialised", "the store has no genesis")
        return raw.hex()

    # -- blocks ----------------------------------------------------------------------------
    def get_block_json(self, height: int) -> bytes | None:
        """Canonical JSON bytes of block ``height``, or None."""
        if not isinstance(height, int) or height < 1:
            return None
        return self.db.get(_BLOCK + _h8(height))

    def get_block(self, height: int) -> Block | None:
        """Block ``height`` parsed, or None."""
        raw = self.get_block_json(height)
        return None if raw is None else Block.from_json(json.loads(raw))

    def get_commit_json(self, height: int) -> bytes | None:
        if not isinstance(height, int) or height < 1:
            return None
        return self.db.get(_COMMIT + _h8(height))

    def get_commit(self, height: int) -> CommitCertificate | None:
        """The commit certificate of block ``height``, or None."""
        raw = self.get_commit_json(height)
        return None if raw is None else CommitCertificate.from_json(json.loads(raw))

    def get_block_hash(self, height: int) -> str | None:
        if not isinstance(height, int) or height < 1:
            return None
        raw = self.db.get(_HEIGHT_HASH + _h8(height))
        return None if raw is None else raw.hex()

    def get_height_of_hash(self, block_hash: str) -> int | None:
        if not is_hex_digest(block_hash):
            return None
        raw = self.db.get(_HASH_HEIGHT + bytes.fromhex(block_hash))
        return None if raw is None else struct.unpack(">Q", raw)[0]

    def block_hashes(self) -> list[bytes]:
        """Raw 32-byte hashes of blocks 1..latest, in height order (the history tree's
        leaves)."""
        return [value for _, value in self.db.iterator(prefix=_HEIGHT_HASH)]

    def get_block_writes(self, height: int) -> list[tuple[str, bytes | None]] | None:
        """The write set of ``height`` (0: the genesis writes), sorted by key, or None."""
        if not isinstance(height, int) or height < 0:
            return None
        raw = self.db.get(_WRITES + _h8(height))
        if raw is None:
            return None
        return [(k, None if v is None else bytes.fromhex(v)) for k, v in json.loads(raw)]

    # -- transactions ----------------------------------------------------------------------
    def get_tx_location(self, tx_id: str) -> tuple[int, int] | None:
        """``(height, index)`` of a committed transaction, or None."""
        if not is_hex_digest(tx_id):
            return None
        raw = self.db.get(_TX + bytes.fromhex(tx_id))
        if raw is None:
            return None
        height, index = struct.unpack(">QI", raw)
        return height, index

    def has_tx(self, tx_id: str) -> bool:
        return self.get_tx_location(tx_id) is not None

    def tx_ids_with_prefix(self, hex_prefix: str, *, limit: int = 16) -> list[str]:
        """Committed transaction ids that start with ``hex_prefix`` (lowercase hex, at
        least 8 digits), in order, at most ``limit``: one ordered seek."""
        return self._hex_keys(_TX, hex_prefix, limit)

    def block_hashes_with_prefix(self, hex_prefix: str, *, limit: int = 16) -> list[str]:
        """Block hashes that start with ``hex_prefix`` (as above)."""
        return self._hex_keys(_HASH_HEIGHT, hex_prefix, limit)

    def _hex_keys(self, tag: bytes, hex_prefix: str, limit: int) -> list[str]:
        if not 8 <= len(hex_prefix) <= 64 or any(c not in "0123456789abcdef" for c in hex_prefix):
            raise StoreError("bad_prefix", "a hash prefix is 8 to 64 lowercase hex digits")
        whole = bytes.fromhex(hex_prefix[: len(hex_prefix) // 2 * 2])
        out: list[str] = []
        for key, _value in self.db.iterator(prefix=tag + whole):
            digest = key[len(tag) :].hex()
            if digest.startswith(hex_prefix):
                out.append(digest)
                if len(out) >= limit:
                    break
        return out

    def get_extra(self, key: bytes) -> bytes | None:
        """An entry written through ``commit_block(..., extra_index=...)``."""
        return self.db.get(_EXTRA + key)

    def iter_extra(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        for key, value in self.db.iterator(prefix=_EXTRA + prefix):
            yield key[len(_EXTRA) :], value

    def put_extra(self, entries: Iterable[tuple[bytes, bytes]]) -> None:
        """Write ``x/`` entries outside a block commit, in one synced batch: for
        rebuilding a derived index of committed blocks (never consensus data; the writer
        is the one thread that commits)."""
        with self.db.write_batch(transaction=True, sync=True) as wb:
            for key, value in entries:
                wb.put(_EXTRA + bytes(key), bytes(value))

    # -- state (ledger.state.StateReader) --------------------------------------------------
    # A failure of the database under these reads (a damaged table file, a full or vanished
    # disk) is this machine's fault, not a transaction's: it is raised as StorageFailure,
    # which the executor lets through instead of turning it into the transaction's
    # ``internal_error`` -- a result no other validator computes -- and which halts the
    # node (node/driver/asyncio_driver.py).
    def get(self, key: str) -> bytes | None:
        """Committed value of state key ``key``."""
        try:
            return self.db.get(_STATE + key.encode("utf-8"))
        except plyvel.Error as exc:
            raise _store_failure(exc) from exc

    def iter_prefix(self, prefix: str, start: str | None = None) -> Iterator[tuple[str, bytes]]:
        """Committed state under ``prefix`` (from ``start`` on, if given), in sorted key
        order (UTF-8 byte order equals code point order, which is Python's ``str`` order)."""
        return guarded_rows(iter_state(self.db, prefix, start), plyvel.Error, _store_failure)

    def last_at_or_before(
        self, prefix: str, key: str, *, strict: bool = False
    ) -> tuple[str, bytes] | None:
        """The committed key under ``prefix`` at or before ``key`` (before, if ``strict``),
        with its value: one reverse seek."""
        try:
            return last_state_at_or_before(self.db, prefix, key, strict=strict)
        except plyvel.Error as exc:
            raise _store_failure(exc) from exc


def _store_failure(exc: BaseException) -> StorageFailure:
    return StorageFailure("store_error", f"the store cannot be read: {exc}")


# -- state reads over a database (the store's, and the auditor's scratch one) -------------
def iter_state(db: Any, prefix: str, start: str | None = None) -> Iterator[tuple[str, bytes]]:
    """The state keys (under ``s/`` in ``db``) under ``prefix``, from ``start`` on if given,
    with their values, in key order."""
    skip = len(_STATE)
    low = _STATE + prefix.encode("utf-8")
    if start is None or start <= prefix:
        it = db.iterator(prefix=low)
    else:
        it = db.iterator(start=_STATE + start.encode("utf-8"), stop=prefix_end(low))
    for key, value in it:
        yield key[skip:].decode("utf-8"), value


def last_state_at_or_before(
    db: Any, prefix: str, key: str, *, strict: bool = False
) -> tuple[str, bytes] | None:
    """The state key (under ``s/`` in ``db``) under ``prefix`` at or before ``key`` (before,
    if ``strict``), with its value: one reverse seek."""
    check_seek(prefix, key)
    bound = _STATE + key.encode("utf-8")
    # no ``start``: plyvel 1.5 yields nothing backwards when the only key in
    # [start, stop) is ``start`` itself; a key found below the prefix means none in it
    low = _STATE + prefix.encode("utf-8")
    for found, value in db.iterator(stop=bound if strict else bound + b"\x00", reverse=True):
        if found.startswith(low):
            return found[len(_STATE):].decode("utf-8"), value
        break
    return None


def _put_block(wb: Any, block: Block, commit: CommitCertificate, block_hash: str) -> None:
    """A committed block's records in write batch ``wb``: its bytes, its commit, the
    height <-> hash maps and its transactions' locations."""
    h8 = _h8(block.height)
    wb.put(_BLOCK + h8, block.canonical_bytes)
    wb.put(_COMMIT + h8, canonical(commit.to_json()))
    wb.put(_HEIGHT_HASH + h8, bytes.fromhex(block_hash))
    wb.put(_HASH_HEIGHT + bytes.fromhex(block_hash), h8)
    for index, tx in enumerate(block.txs):
        wb.put(_TX + bytes.fromhex(tx.tx_id), h8 + struct.pack(">I", index))
