"""HTTP routes for light clients: signed headers, their commit certificates and the
validator-set changes, without transactions (docs/light-client.md).

A light client (``fcl light``, ``ledger/light_client.py``) trusts a header from the genesis
or a saved checkpoint by the rules of ``ledger/header_chain.py``; these routes serve exactly
what those rules need::

    GET /v1/light/blocks/{height}
        -> {"height", "hash", "header", "commit", "next_validators"}
    GET /v1/light/latest
        -> the same for the latest committed block
    GET /v1/light/changes?above=A&below=B
        -> {"above", "below", "changes": [change, ...], "complete"}

``next_validators`` is always given: the validator set (``ValidatorSet`` JSON) that signs
block ``height + 1``; it hashes to ``header.next_validators_hash``. A change is the JSON of
``ledger.header_chain.ValidatorSetChange``, ``{"height", "header", "commit",
"validators"}``: block ``height`` changed the set, ``validators`` signs from ``height + 1``.
``changes`` lists the changes ``c`` with ``A < c < B`` in increasing height order, at most
:data:`MAX_LIGHT_CHANGES`; ``complete`` is false when more remain (ask again with ``above``
the last height listed).

Errors have the node's one shape, ``{"error": {"code", "message"}}``: 400 ``bad_height``
(a height that is not a whole number from 1), 404 ``unknown_block`` (no committed block at
that height), 400 ``missing_parameter``, 400 ``bad_number`` (``above``/``below`` not a
whole number of at most 18 digits), 400 ``bad_range`` (``above >= below``), 404
``beyond_chain`` (``below`` more than one above the latest height: those blocks are not
committed yet), 503 ``light_unavailable`` (this node lacks the blocks to answer, e.g. it
started from a state-sync snapshot), 503 ``admission_busy`` (the node's reader workers are
all busy; try again).

Every answer is read from committed data only, up to the application's published tip, so
it never shows a block whose commit is not stored yet.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from fastapi import APIRouter
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from ledger.api_errors import ApiError, error_responses
from ledger.block import stored_block_header
from ledger.encoding import canonical
from ledger.errors import LedgerError
from ledger.validators import ValidatorSet

__all__ = ["LIGHT_ERRORS", "MAX_LIGHT_CHANGES", "create_light_router"]

#: Validator-set changes in one answer of ``/v1/light/changes``.
MAX_LIGHT_CHANGES = 100

#: The codes the light-client routes answer (statuses: ``ledger.api_errors``).
LIGHT_ERRORS: tuple[str, ...] = (
    "bad_height", "unknown_block", "missing_parameter", "bad_number", "bad_range",
    "beyond_chain", "light_unavailable", "admission_busy",
)

_NUMBER_RE = re.compile(r"^[0-9]{1,18}\Z")

T = TypeVar("T")
Runner = Callable[[Callable[[], Any]], Awaitable[Any]]


class LightStore(Protocol):
    """The read API of ``ledger.store.Store`` these routes use."""

    def get_block_json(self, height: int) -> bytes | None: ...

    def get_commit_json(self, height: int) -> bytes | None: ...

    def get_block_hash(self, height: int) -> str | None: ...


class ChangeSource(Protocol):
    """``node.api.certificates.CertificateBuilder``: its cached validator-set changes."""

    def changes_below(self, height: int) -> list[dict[str, Any]]: ...


def _number(name: str, text: str | None) -> int:
    if text is None:
        raise ApiError("missing_parameter", f"the query parameter {name} is required")
    if not _NUMBER_RE.match(text):
        raise ApiError("bad_number", f"{name} must be a whole number (at most 18 digits)")
    return int(text)


def create_light_router(
    store: LightStore,
    changes: ChangeSource,
    genesis_validators: ValidatorSet,
    get_height: Callable[[], int],
    *,
    run: Runner | None = None,
) -> APIRouter:
    """The ``/v1/light/*`` routes over ``store``.

    ``changes`` lists the chain's validator-set changes (the node's long-lived certificate
    builder), ``genesis_validators`` is the genesis set, ``get_height()`` the latest height
    whose block and commit are stored (``lambda: node.app.height``). ``run`` runs a reading
    function off the event loop (the node's ``readers.run``; a thread of the web server's
    pool if None)."""
    router = APIRouter(tags=["light client"])

    async def off_loop(fn: Callable[[], T]) -> T:
        if run is None:
            return await run_in_threadpool(fn)
        result: T = await run(fn)
        return result

    def changes_below(height: int) -> list[dict[str, Any]]:
        try:
            return changes.changes_below(height)
        except (RuntimeError, LedgerError) as exc:  # CertificateUnavailable: blocks missing
            raise ApiError(
                "light_unavailable",
                f"this node cannot list the validator-set changes below block {height}: {exc}",
            ) from None

    def light_block(height: int) -> bytes:
        tip = get_height()
        raw = store.get_block_json(height) if height <= tip else None
        commit = store.get_commit_json(height) if raw is not None else None
        block_hash = store.get_block_hash(height) if raw is not None else None
        if raw is None or commit is None or block_hash is None:
            raise ApiError("unknown_block", f"no committed block at height {height} (latest is {tip})")
        header = stored_block_header(raw)
        following = changes_below(height + 1)
        if following and following[-1]["height"] <= height:
            next_validators = following[-1]["validators"]
        else:
            next_validators = genesis_validators.to_json()
        return b"".join((
            b'{"commit":', commit, b',"hash":"', block_hash.encode(), b'","header":',
            canonical(header), b',"height":', str(height).encode(), b',"next_validators":',
            canonical(next_validators), b"}",
        ))

    @router.get(
        "/v1/light/latest",
        summary="The latest block's header, commit certificate and next validator set",
        responses=error_responses(("unknown_block", "light_unavailable", "admission_busy")),
    )
    async def light_latest() -> Response:
        body = await off_loop(lambda: light_block(get_height()))
        return Response(body, media_type="application/json")

    @router.get(
        "/v1/light/blocks/{height}",
        summary="A block's header, commit certificate and next validator set (no transactions)",
        responses=error_responses(("bad_height", "unknown_block", "light_unavailable",
                                   "admission_busy")),
    )
    async def light_block_at(height: str) -> Response:
        if not _NUMBER_RE.match(height) or int(height) < 1:
            raise ApiError("bad_height", f"a height is a whole number from 1, not {height[:40]!r}")
        number = int(height)
        body = await off_loop(lambda: light_block(number))
        return Response(body, media_type="application/json")

    @router.get(
        "/v1/light/changes",
        summary="The validator-set changes strictly between two heights",
        description=f"At most {MAX_LIGHT_CHANGES} changes per answer, in height order; "
        "complete is false when more remain (ask again from the last height listed).",
        responses=error_responses(("missing_parameter", "bad_number", "bad_range",
                                   "beyond_chain", "light_unavailable", "admission_busy")),
    )
    async def light_changes(above: str | None = None, below: str | None = None) -> Response:
        low = _number("above", above)
        high = _number("below", below)
        if low >= high:
            raise ApiError("bad_range", f"above ({low}) must be smaller than below ({high})")
        tip = get_height()
        if high > tip + 1:
            raise ApiError(
                "beyond_chain",
                f"below {high}: the chain has {tip} blocks, so changes are known below {tip + 1} only",
            )
        listed = await off_loop(lambda: changes_below(high))
        between = [c for c in listed if c["height"] > low]
        page = between[:MAX_LIGHT_CHANGES]
        body = {"above": low, "below": high, "changes": page,
                "complete": len(page) == len(between)}
        return Response(canonical(body), media_type="application/json")

    return router
