"""HTTP routes serving state-sync snapshots (issue 12, item 5; docs/state-sync.md).

::

    GET /v1/snapshots/{height}/manifest      the manifest of the state after block height,
                                             with what checks it from the genesis
    GET /v1/snapshots/{height}/chunks/{i}    chunk i of that snapshot (its leaves)

``{height}`` is any committed height ``1..latest`` (``bad_height`` for anything that is not
a whole number of at most 18 digits or is 0, ``beyond_chain`` above the latest height);
``{i}`` a chunk index below ``2**k`` (``bad_number``, ``unknown_chunk``). The manifest
answer is::

    {"manifest": {"format": "fcl-snapshot-manifest", "version": 1, "height": H, "k": k,
                  "chunks": [[count, hash hex], ...]},
     "header": header H, "commit": block H's commit certificate,
     "validator_set_changes": [every change of a block below H, as in certificates],
     "history_frontier": [hex, ...]}   # the history tree of blocks 1..H-1

and a chunk ``{"height": H, "k": k, "index": i, "leaves": [[key hex, value hex], ...]}`` in
increasing key-hash order (``ledger.snapshot``). The manifest of a height is computed
with one pass over that version's leaves (in the node's readers pool) and kept for the
last few heights asked; a chunk is one ordered scan of the tree from its prefix.
"""

from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from ledger.api_errors import ApiError, error_body, error_responses, status_of
from ledger.errors import LedgerError
from ledger.merkle import AppendOnlyMerkleTree
from ledger.snapshot import MAX_CHUNK_LEAVES, Chunk, Manifest, chunk_index_of, manifest_of
from ledger.state_tree import StateTree
from ledger.store import Store
from node.api.certificates import CertificateUnavailable

__all__ = ["MANIFEST_CACHE", "SNAPSHOT_ERRORS", "SnapshotSource", "create_snapshot_router"]

#: The codes the snapshot routes answer (statuses: ``ledger.api_errors.STATUS_BY_CODE``).
SNAPSHOT_ERRORS: tuple[str, ...] = (
    "bad_height", "beyond_chain", "bad_number", "unknown_chunk", "snapshot_unavailable",
    "admission_busy",
)
MANIFEST_CACHE = 4
"""How many heights' manifests a node keeps."""

_NUMBER_RE = re.compile(r"^[0-9]{1,18}\Z")
_ERRORS = error_responses(SNAPSHOT_ERRORS)


class _Changes(Protocol):
    def changes_below(self, height: int) -> list[dict[str, Any]]: ...


Runner = Callable[..., Awaitable[Any]]


def _error(code: str, message: str) -> JSONResponse:
    return JSONResponse(error_body(code, message), status_code=status_of(code))


class SnapshotSource:
    """Manifests and chunks read from a store (no web framework: the tests call it too)."""

    def __init__(self, store: Store, get_history: Callable[[], AppendOnlyMerkleTree],
                 get_height: Callable[[], int], changes: _Changes) -> None:
        self.store = store
        self.get_history = get_history
        self.get_height = get_height
        self.changes = changes
        self._lock = threading.Lock()
        self._manifests: OrderedDict[int, Manifest] = OrderedDict()

    def _tree(self) -> StateTree:
        # a tree object of our own over the same records (never rewritten): its node cache
        # is not shared with the committing thread's
        return StateTree(self.store.state_tree_nodes())

    def height(self, text: str) -> int:
        if not _NUMBER_RE.match(text) or int(text) == 0:
            raise ApiError(
                "bad_height",
                f"a snapshot height is a block height 1..{self.get_height()}, not {text[:40]!r}",
            )
        height = int(text)
        latest = self.get_height()
        if height > latest:
            raise ApiError("beyond_chain", f"height {height}: the chain has {latest} blocks")
        return height

    def manifest(self, height: int) -> Manifest:
        with self._lock:
            known = self._manifests.get(height)
            if known is not None:
                self._manifests.move_to_end(height)
                return known
            try:
                made = manifest_of(self._tree().leaves(height), height)
            except LedgerError as exc:
                raise ApiError(
                    "snapshot_unavailable",
                    f"the state of height {height} cannot be read: {exc.message}",
                ) from None
            largest = max(c.count for c in made.chunks)
            if largest > MAX_CHUNK_LEAVES:
                raise ApiError(
                    "snapshot_unavailable",
                    f"a chunk of the snapshot of height {height} holds {largest} keys, more "
                    f"than the {MAX_CHUNK_LEAVES} a chunk may hold: sync by blocks",
                )
            self._manifests[height] = made
            while len(self._manifests) > MANIFEST_CACHE:
                self._manifests.popitem(last=False)
            return made

    def manifest_answer(self, height: int) -> dict[str, Any]:
        manifest = self.manifest(height)
        block = self.store.get_block(height)
        commit = self.store.get_commit_json(height)
        if block is None or commit is None:
            raise ApiError(
                "snapshot_unavailable", f"block {height} or its commit certificate is not stored"
            )
        return {
            "manifest": manifest.to_json(),
            "header": block.header.to_json(),
            "commit": json.loads(commit),
            "validator_set_changes": self._changes_below(height),
            "history_frontier": [h.hex() for h in self.get_history().frontier(height - 1)],
        }

    def _changes_below(self, height: int) -> list[dict[str, Any]]:
        try:
            return self.changes.changes_below(height)
        except CertificateUnavailable as exc:
            raise ApiError(
                "snapshot_unavailable",
                f"the validator-set changes below height {height} cannot be read: {exc}",
            ) from None

    def chunk(self, height: int, index_text: str) -> Chunk:
        if not _NUMBER_RE.match(index_text):
            raise ApiError("bad_number", f"a chunk index is a whole number, not {index_text[:40]!r}")
        index = int(index_text)
        manifest = self.manifest(height)
        if index >= len(manifest.chunks):
            raise ApiError(
                "unknown_chunk",
                f"the snapshot of height {height} has {len(manifest.chunks)} chunks "
                f"(0..{len(manifest.chunks) - 1}); there is no chunk {index}",
            )
        k = manifest.k
        count = manifest.chunks[index].count
        leaves: list[tuple[bytes, bytes]] = []
        if count:
            start = (index << (256 - k)).to_bytes(32, "big")
            for kh, key, value in self._tree().leaves(height, start):
                if chunk_index_of(kh, k) != index or len(leaves) == count:
                    break
                leaves.append((key, value))
        return Chunk(height, k, index, tuple(leaves))


def create_snapshot_router(
    store: Store,
    get_history: Callable[[], AppendOnlyMerkleTree],
    get_height: Callable[[], int],
    changes: _Changes,
    run: Runner | None = None,
) -> APIRouter:
    """The ``/v1/snapshots/*`` routes over ``store``. ``get_history()`` is the node's tree of
    block hashes (``Application.history``), ``get_height()`` the height whose block is
    committed and in that tree (``node.app.height``), ``changes`` the node's
    ``CertificateBuilder``; ``run(fn, *args)`` runs the reading off the event loop (the
    node's ``readers.run``; without it, the reading runs inline)."""
    source = SnapshotSource(store, get_history, get_height, changes)
    router = APIRouter(tags=["snapshots"])

    async def call(fn: Callable[..., Any], *args: Any) -> Any:
        if run is None:
            return fn(*args)
        return await run(fn, *args)

    @router.get(
        "/v1/snapshots/{height}/manifest",
        summary="State-sync manifest of the state after block height (docs/state-sync.md)",
        responses=_ERRORS,
    )
    async def get_manifest(height: str) -> JSONResponse:
        try:
            h = source.height(height)
            body = await call(source.manifest_answer, h)
        except (ApiError, LedgerError) as exc:
            return _error(exc.code, exc.message)
        return JSONResponse(body)

    @router.get(
        "/v1/snapshots/{height}/chunks/{index}",
        summary="One chunk (its leaves) of the state-sync snapshot of block height",
        responses=_ERRORS,
    )
    async def get_chunk(height: str, index: str) -> JSONResponse:
        try:
            h = source.height(height)
            chunk = await call(source.chunk, h, index)
        except (ApiError, LedgerError) as exc:
            return _error(exc.code, exc.message)
        return JSONResponse(chunk.to_json())

    return router

