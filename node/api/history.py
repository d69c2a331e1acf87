"""HTTP routes over the history tree (the RFC 9162 Merkle tree of block hashes).

Leaf ``i`` (0-based) of the history tree is the 32-byte hash of block ``i + 1``; the tree of
the first ``n`` leaves has root ``header(n + 1).history_root``. So an auditor who holds a
signed header ``H`` checks, with these proofs and nothing else:

* that an old checkpoint ``(n, root over blocks 1..n)`` is a prefix of today's chain
  (consistency proof from ``n`` to ``H - 1``), and
* that block ``i + 1`` is in the chain (inclusion proof of leaf ``i`` in the tree of
  ``H - 1`` leaves).

Routes::

    GET /v1/history/consistency?old_size=N&new_size=M
        -> {"old_size", "new_size", "old_root", "new_root", "proof": [hex, ...]}
    GET /v1/history/inclusion?index=I&size=M
        -> {"index", "size", "height", "block_hash", "root", "proof": [hex, ...]}

Errors have the node's one shape, ``{"error": {"code", "message"}}``: 400
``missing_parameter``, 400 ``bad_number`` (not a whole number of at most 18 digits),
400 ``bad_range`` (``old_size > new_size``; ``index >= size``; ``size`` 0 for an
inclusion proof), 404 ``beyond_chain`` (a size larger than the number of committed blocks).
The roots in an answer are the node's claims: a verifier takes the root it checks against
from a header whose commit it verified (``ledger.merkle`` module notes).
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Callable

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from ledger.api_errors import ApiError, error_body, error_responses, status_of
from ledger.merkle import AppendOnlyMerkleTree
from ledger.store import Store

__all__ = ["HISTORY_ERRORS", "create_history_router"]

_NUMBER_RE = re.compile(r"^[0-9]{1,18}\Z")

#: The codes the history routes answer (statuses: ``ledger.api_errors.STATUS_BY_CODE``).
HISTORY_ERRORS: tuple[str, ...] = ("missing_parameter", "bad_number", "bad_range", "beyond_chain")

_ERRORS = error_responses(HISTORY_ERRORS)


def _error(code: str, message: str) -> JSONResponse:
    return JSONResponse(error_body(code, message), status_code=status_of(code))


def _number(name: str, text: str | None) -> int:
    if text is None:
        raise ApiError("missing_parameter", f"the query parameter {name} is required")
    if not _NUMBER_RE.match(text):
        raise ApiError("bad_number", f"{name} must be a whole number (at most 18 digits)")
    return int(text)


class _StoreTree:
    """A history tree rebuilt from the store and extended as blocks are committed, for
    nodes that do not keep one."""

    def __init__(self) -> None:
        self.tree = AppendOnlyMerkleTree()
        self.lock = threading.Lock()

    def catch_up(self, store: Store) -> int:
        with self.lock:
            height = store.latest_height()
            if self.tree.size == 0 and height > 0:
                for raw_hash in store.block_hashes()[:height]:
                    self.tree.append(raw_hash)
            while self.tree.size < height:
                hex_hash = store.get_block_hash(self.tree.size + 1)
                if hex_hash is None:
                    break
                self.tree.append(bytes.fromhex(hex_hash))
            return self.tree.size


def create_history_router(
    get_store: Callable[[], Store],
    get_history_tree: Callable[[], AppendOnlyMerkleTree | None],
    *,
    get_size: Callable[[], int] | None = None,
) -> APIRouter:
    """The ``/v1/history/*`` routes.

    ``get_history_tree()`` returns the node's tree of block hashes (``Application.history``),
    or None to have the router keep its own, rebuilt from ``get_store()``.

    ``get_size()`` returns how many leaves of that tree are safe to read: on a node whose
    blocks are committed on another thread, pass the application's tip height
    (``lambda: node.app.height``), which is published only after the tree has been
    appended to. Without it the tree's own size is used, which is right only when nothing
    appends concurrently."""
    router = APIRouter(tags=["history"])
    own = _StoreTree()

    def tree_and_size() -> tuple[AppendOnlyMerkleTree, int]:
        tree = get_history_tree()
        if tree is None:
            size = own.catch_up(get_store())
            return own.tree, size
        size = tree.size if get_size is None else min(get_size(), tree.size)
        return tree, size

    @router.get(
        "/v1/history/consistency",
        summary="RFC 9162 consistency proof between two sizes of the history tree",
        responses=_ERRORS,
    )
    def consistency(old_size: str | None = None, new_size: str | None = None) -> JSONResponse:
        try:
            old = _number("old_size", old_size)
            new = _number("new_size", new_size)
            if old > new:
                raise ApiError("bad_range", f"old_size {old} is larger than new_size {new}")
            tree, size = tree_and_size()
            if new > size:
                raise ApiError("beyond_chain", f"new_size {new}: the chain has {size} blocks")
            with own.lock if tree is own.tree else contextlib.nullcontext():
                body = {
                    "old_size": old,
                    "new_size": new,
                    "old_root": tree.root_at(old).hex(),
                    "new_root": tree.root_at(new).hex(),
                    "proof": [p.hex() for p in tree.consistency_proof(old, new)],
                }
        except ApiError as exc:
            return _error(exc.code, exc.message)
        return JSONResponse(body)

    @router.get(
        "/v1/history/inclusion",
        summary="RFC 9162 inclusion proof of block index+1's hash in the history tree",
        responses=_ERRORS,
    )
    def inclusion(index: str | None = None, size: str | None = None) -> JSONResponse:
        try:
            i = _number("index", index)
            n = _number("size", size)
            if n == 0:
                raise ApiError("bad_range", "the tree of size 0 has no leaves")
            if i >= n:
                raise ApiError("bad_range", f"index {i} is not below size {n}")
            tree, chain = tree_and_size()
            if n > chain:
                raise ApiError("beyond_chain", f"size {n}: the chain has {chain} blocks")
            block_hash = get_store().get_block_hash(i + 1)
            if block_hash is None:
                raise ApiError("internal_error", f"block {i + 1} has no stored hash")
            with own.lock if tree is own.tree else contextlib.nullcontext():
                body = {
                    "index": i,
                    "size": n,
                    "height": i + 1,
                    "block_hash": block_hash,
                    "root": tree.root_at(n).hex(),
                    "proof": [p.hex() for p in tree.inclusion_proof(i, n)],
                }
        except ApiError as exc:
            return _error(exc.code, exc.message)
        return JSONResponse(body)

    return router
