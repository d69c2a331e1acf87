"""HTTP routes serving proofs of state: state-proof files and holding proofs.

Routes::

    GET  /v1/state/{key}?height=H           {"key", "height", "present", "value"}
    GET  /v1/state/{key}?height=H&prove=true the state-proof file of that one key
    POST /v1/state/proofs  {"keys": [...], "height": H?}  one state-proof file, every key
    GET  /v1/holdings/proof?project_id=P&first=F&last=L&height=H
                                             the holding proof of units F..L of project P

``height`` defaults to the latest committed height. A state-proof file
(``ledger/state_proof.py``, format ``fcl-state-proof`` v1) carries the genesis, the header
and commit of ``H``, every validator-set change below ``H`` and one entry per key with its
proof against ``header.state_root``; a holding proof (``chaincode/holding_proof.py``,
``fcl-holding-proof`` v1) wraps one whose entries are the unit records covering the
range. Both are answered as canonical JSON and are built in the node's readers pool
(``Node.readers``: ``admission_busy`` when it is full). docs/state-proofs.md, "The proof
API", lists every answer.

Errors (the node's one shape; statuses ``ledger.api_errors``): 400 ``bad_key`` (a key that
is not 1..512 characters of valid Unicode), ``bad_height`` (not a whole number from 1, or
``latest``), ``bad_request`` (``prove`` other than true/false), ``malformed_json`` /
``malformed_request`` (a body that is not JSON / not ``{"keys": [...], "height"?}``),
``missing_parameter``, ``bad_number``, ``bad_range``, ``bad_id``; 404 ``beyond_chain`` (a
height above the latest), ``units_not_found`` (a unit of the range not issued at that
height); 413 ``too_many_keys`` (more than :data:`MAX_KEYS`), ``too_many_records`` (a range
held in more than :data:`~chaincode.holding_proof.MAX_HOLDING_RECORDS` records),
``answer_too_large`` (a file above 16 MiB), ``request_too_large``; 503 ``admission_busy``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.requests import ClientDisconnect

from chaincode.holding_proof import MAX_HOLDING_RECORDS, assemble_holding_proof
from chaincode.schema import ID_RE
from chaincode.units import MAX_UNIT, unit_key, unit_prefix
from ledger.api_errors import ApiError, error_responses
from ledger.block import stored_block_header
from ledger.encoding import CanonicalEncodingError, canonical, decode
from ledger.genesis import Genesis
from ledger.state_proof import (
    MAX_FILE_BYTES,
    StateProofError,
    assemble_state_proof,
    check_key,
    make_entry,
)
from ledger.store import Store

__all__ = ["MAX_KEYS", "MAX_PROOFS_BODY_BYTES", "ProofSource", "create_proofs_router"]

#: Most keys in one ``POST /v1/state/proofs``.
MAX_KEYS = 256
#: Largest body of ``POST /v1/state/proofs`` (256 keys of 512 characters fit).
MAX_PROOFS_BODY_BYTES = 1024 * 1024
_NUMBER_RE = re.compile(r"^[0-9]{1,18}\Z")
_BODY_FIELDS = frozenset({"keys", "height"})


class ProofSource:
    """What the proofs are built from: the committed store, the genesis, the latest
    published height and the validator-set changes below a height (a long-lived
    ``CertificateBuilder.changes_below``)."""

    def __init__(self, store: Store, genesis: Genesis, latest: Callable[[], int],
                 changes: Callable[[int], list[dict[str, Any]]]) -> None:
        self.store = store
        self.genesis = genesis
        self.latest = latest
        self.changes = changes

    def height(self, text: str | None) -> int:
        """The height asked for (default: the latest), refused with ``bad_height`` /
        ``beyond_chain``."""
        latest = self.latest()
        if text is None or text == "latest":
            if latest < 1:
                raise ApiError("beyond_chain", "no block is committed yet: nothing to prove against")
            return latest
        if not _NUMBER_RE.match(text) or int(text) < 1:
            raise ApiError("bad_height", "a height is a whole number from 1, or 'latest'")
        height = int(text)
        if height > latest:
            raise ApiError("beyond_chain", f"no block at height {height} (latest is {latest})")
        return height

    def state_proof(self, keys: Sequence[str], height: int) -> dict[str, Any]:
        """The state-proof file of ``keys`` at ``height`` (committed)."""
        raw_block = self.store.get_block_json(height)
        raw_commit = self.store.get_commit_json(height)
        if raw_block is None or raw_commit is None:
            raise ApiError("internal_error", f"block {height} or its commit is not stored")
        tree = self.store.state_tree
        entries = []
        for key in keys:
            kb = key.encode("utf-8")
            try:
                entries.append(make_entry(key, tree.get(kb, height), tree.prove(kb, height)))
            except (StateProofError, CanonicalEncodingError, ValueError) as exc:
                raise ApiError("internal_error", f"the value of {key!r} is not canonical JSON: {exc}") from None
        return assemble_state_proof(
            genesis=self.genesis, height=height, header=stored_block_header(raw_block),
            commit=decode(raw_commit), validator_set_changes=self.changes(height), entries=entries)

    def holding_keys(self, project_id: str, first: int, last: int, height: int) -> list[str]:
        """The keys of the unit records of ``project_id`` covering ``[first, last]`` at
        ``height``, ascending. Records are only split, never merged or deleted, so a key
        of ``height`` is a key of today's state: the record holding ``first`` then is the
        nearest of today's keys at or before ``first`` that existed then; each next record
        starts at the unit after the previous one's last."""
        tree = self.store.state_tree
        prefix = unit_prefix(project_id)

        def at_height(key: str) -> dict[str, Any] | None:
            raw = tree.get(key.encode("utf-8"), height)
            return None if raw is None else dict(decode(raw))

        start: dict[str, Any] | None = None
        with self.store.snapshot() as view:
            cursor, strict = unit_key(project_id, first), False
            for _ in range(MAX_HOLDING_RECORDS + 1):
                hit = view.last_at_or_before(prefix, cursor, strict=strict)
                if hit is None:
                    break
                start = at_height(hit[0])
                if start is not None:
                    break
                cursor, strict = hit[0], True
            else:
                raise ApiError("too_many_records", f"unit {first} of {project_id}: more than"
                               f" {MAX_HOLDING_RECORDS} records to search at height {height}")
        if start is None or start["last"] < first:
            raise ApiError("units_not_found", f"unit {first} of project {project_id} was not"
                           f" issued at height {height}")
        keys, record = [unit_key(project_id, start["first"])], start
        while record["last"] < last:
            if len(keys) >= MAX_HOLDING_RECORDS:
                raise ApiError("too_many_records", f"units {first}..{last} of {project_id} are"
                               f" held in more than {MAX_HOLDING_RECORDS} records; ask for a"
                               " shorter range")
            key = unit_key(project_id, record["last"] + 1)
            following = at_height(key)
            if following is None:
                raise ApiError("units_not_found", f"unit {record['last'] + 1} of project"
                               f" {project_id} was not issued at height {height}")
            keys.append(key)
            record = following
        return keys


def _file(obj: dict[str, Any]) -> Response:
    data = canonical(obj)
    if len(data) > MAX_FILE_BYTES:
        raise ApiError("answer_too_large", f"the proof would be {len(data)} bytes; a proof file is"
                       f" at most {MAX_FILE_BYTES}: ask for fewer keys")
    return Response(data, media_type="application/json")


def _whole(name: str, text: str | None) -> int:
    if text is None:
        raise ApiError("missing_parameter", f"the query parameter {name} is required")
    if not _NUMBER_RE.match(text):
        raise ApiError("bad_number", f"{name} must be a whole number (at most 18 digits)")
    return int(text)


async def _body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isascii() and declared.isdigit() \
            and int(declared) > MAX_PROOFS_BODY_BYTES:
        raise ApiError("request_too_large", f"request body larger than {MAX_PROOFS_BODY_BYTES} bytes")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_PROOFS_BODY_BYTES:
                raise ApiError("request_too_large", f"request body larger than {MAX_PROOFS_BODY_BYTES} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        raise ApiError("client_disconnected", "the client closed the connection before sending"
                       " the whole body") from None
    return b"".join(chunks)


def _keys(value: Any) -> list[str]:
    if not isinstance(value, list) or not value:
        raise ApiError("malformed_request", "keys must be a non-empty list of state keys")
    if len(value) > MAX_KEYS:
        raise ApiError("too_many_keys", f"{len(value)} keys asked; one request proves at most {MAX_KEYS}")
    out: list[str] = []
    for i, key in enumerate(value):
        try:
            check_key(key)
        except StateProofError as exc:
            raise ApiError("bad_key", f"keys[{i}]: {exc.message}") from None
        if key not in out:
            out.append(key)
    return out


def create_proofs_router(node: Any, changes: Callable[[int], list[dict[str, Any]]]) -> APIRouter:
    """The proof routes over ``node`` (a ``node.api.service.Node``); ``changes(h)`` lists
    the validator-set changes below ``h`` (``CertificateBuilder.changes_below``)."""
    router = APIRouter(tags=["proofs"])
    source = ProofSource(node.store, node.genesis, lambda: int(node.app.height), changes)

    @router.post(
        "/v1/state/proofs",
        summary="One state-proof file for up to 256 keys at a height (fcl query)",
        responses=error_responses(("malformed_json", "malformed_request", "bad_key", "too_many_keys",
                                   "bad_height", "beyond_chain", "request_too_large",
                                   "answer_too_large", "admission_busy")),
    )
    async def state_proofs(request: Request) -> Response:
        raw = await _body(request)
        try:
            body = decode(raw)
        except (CanonicalEncodingError, ValueError, RecursionError):
            raise ApiError("malformed_json", "the body is not JSON (no floats, no duplicate names)") from None
        if not isinstance(body, dict) or "keys" not in body or not set(body) <= _BODY_FIELDS:
            raise ApiError("malformed_request", 'the body is {"keys": [...], "height": H} (height optional)')
        keys = _keys(body["keys"])
        height_value = body.get("height")
        if height_value is not None and (type(height_value) is not int or height_value < 1):
            raise ApiError("bad_height", "height is a whole number from 1 (or absent: the latest)")
        height = source.height(None if height_value is None else str(height_value))
        proof = await node.readers.run(source.state_proof, keys, height)
        return _file(proof)

    @router.get(
        "/v1/state/{key:path}",
        summary="A state key's value at a height; with prove=true its state-proof file",
        responses=error_responses(("bad_key", "bad_height", "beyond_chain", "bad_request",
                                   "admission_busy")),
    )
    async def state_value(key: str, height: str | None = None, prove: str | None = None) -> Response:
        try:
            check_key(key)
        except StateProofError as exc:
            raise ApiError("bad_key", exc.message) from None
        if prove not in (None, "true", "false"):
            raise ApiError("bad_request", "prove is true or false")
        h = source.height(height)
        if prove == "true":
            proof = await node.readers.run(source.state_proof, [key], h)
            return _file(proof)
        raw = node.store.state_tree.get(key.encode("utf-8"), h)
        return JSONResponse({"height": h, "key": key, "present": raw is not None,
                             "value": None if raw is None else decode(raw)})

    @router.get(
        "/v1/holdings/proof",
        summary="Holding proof: who holds units first..last of a project, and their status",
        responses=error_responses(("missing_parameter", "bad_id", "bad_number", "bad_range",
                                   "bad_height", "beyond_chain", "units_not_found",
                                   "too_many_records", "answer_too_large", "admission_busy")),
    )
    async def holding_proof(project_id: str | None = None, first: str | None = None,
                            last: str | None = None, height: str | None = None) -> Response:
        if project_id is None:
            raise ApiError("missing_parameter", "the query parameter project_id is required")
        if not ID_RE.match(project_id):
            raise ApiError("bad_id", f"{project_id[:80]!r} is not a project id")
        lo, hi = _whole("first", first), _whole("last", last)
        if not 1 <= lo <= hi <= MAX_UNIT:
            raise ApiError("bad_range", f"first {lo} and last {hi}: units are numbered 1..{MAX_UNIT}"
                           " and first is at most last")
        h = source.height(height)

        def build() -> dict[str, Any]:
            keys = source.holding_keys(project_id, lo, hi, h)
            return assemble_holding_proof(project_id, lo, hi, source.state_proof(keys, h))

        return _file(await node.readers.run(build))

    return router
