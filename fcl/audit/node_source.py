"""An audit source over a node's HTTP API (``fcl audit``): ``GET /v1/status``,
``/v1/blocks/{h}`` and ``/v1/history/consistency``, with bounded responses, retries and a
prefetching thread."""

from __future__ import annotations

import json
import queue
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx

from fcl.audit.blocks import (
    HistoryInclusion,
    HistoryProof,
    SourcedBlock,
    block_format_error,
    decode_strict,
    missing_block,
    parse_block,
)
from fcl.audit.checks import AuditedChain, AuditError, Discrepancy, shorten
from ledger.crypto import is_hex_digest
from ledger.errors import LedgerError
from ledger.validators import ValidatorSet

__all__ = ["DEFAULT_PREFETCH", "DEFAULT_TIMEOUT_S", "MAX_RESPONSE_BYTES", "NodeSource"]

DEFAULT_TIMEOUT_S = 30.0
DEFAULT_PREFETCH = 4
MAX_RESPONSE_BYTES = 512 * 1024 * 1024


def _error_of(body: bytes) -> tuple[str, str]:
    """(code, message) of a node's error answer."""
    try:
        err = json.loads(body)["error"]
        return str(err["code"]), str(err["message"])
    except (ValueError, KeyError, TypeError):
        return "http_error", body[:200].decode("utf-8", "replace")


def _node_error(path: str, status: int, body: bytes) -> AuditError:
    code, message = _error_of(body)
    return AuditError("node_error", f"GET {path}: HTTP {status} {code}: {message}")


class NodeSource:
    """Blocks from a node's HTTP API (``GET /v1/status``, ``/v1/blocks/{h}``,
    ``/v1/history/consistency``). One request per block on a kept-alive connection; a
    background thread fetches up to ``prefetch`` blocks ahead while the auditor replays
    (``prefetch=0``: no thread). Transport errors are retried twice."""

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        prefetch: int = DEFAULT_PREFETCH,
        client: httpx.Client | None = None,
        retries: int = 2,
    ) -> None:
        url = url.rstrip("/")
        if client is None and not re.match(r"^https?://[^/\s]+", url):
            raise AuditError("bad_source", f"{url!r} is not an http:// or https:// URL")
        self.url = url
        self.prefetch = max(0, prefetch)
        self.retries = retries
        self._own_client = client is None
        self.client = client if client is not None else httpx.Client(timeout=timeout_s)
        self._status: dict[str, Any] | None = None

    # -- http --------------------------------------------------------------------------------
    def _get(self, path: str) -> tuple[int, bytes]:
        """(HTTP status, body) of ``GET path``."""
        target = f"{self.url}{path}"
        attempt = 0
        while True:
            try:
                with self.client.stream("GET", target) as resp:
                    chunks: list[bytes] = []
                    size = 0
                    for chunk in resp.iter_bytes():
                        size += len(chunk)
                        if size > MAX_RESPONSE_BYTES:
                            raise AuditError(
                                "response_too_large", f"GET {path}: more than {MAX_RESPONSE_BYTES} bytes"
                            )
                        chunks.append(chunk)
                    return resp.status_code, b"".join(chunks)
            except httpx.TimeoutException as exc:
                if attempt >= self.retries:
                    raise AuditError(
                        "node_timeout", f"GET {target}: no answer in time ({type(exc).__name__})"
                    ) from None
            except httpx.TransportError as exc:
                if attempt >= self.retries:
                    raise AuditError(
                        "node_unreachable", f"cannot reach {target}: {exc or type(exc).__name__}"
                    ) from None
            attempt += 1
            time.sleep(0.2 * attempt)

    def _get_json(self, path: str) -> Any:
        status, body = self._get(path)
        if status != 200:
            raise _node_error(path, status, body)
        try:
            return json.loads(body)
        except ValueError:
            raise AuditError("bad_response", f"GET {path}: the answer is not JSON") from None

    def status(self, *, refresh: bool = False) -> dict[str, Any]:
        if self._status is None or refresh:
            obj = self._get_json("/v1/status")
            if not isinstance(obj, dict) or type(obj.get("height")) is not int:
                raise AuditError("bad_response", "GET /v1/status: no height in the answer")
            self._status = obj
        return self._status

    # -- ChainSource -------------------------------------------------------------------------
    def describe(self) -> str:
        return f"node {self.url}"

    def identity(self) -> tuple[str | None, str]:
        status = self.status()
        return status.get("genesis_hash"), str(status.get("chain_id"))

    def latest_height(self) -> int:
        return int(self.status()["height"])

    def tip_validators(self) -> tuple[int, ValidatorSet]:
        status = self.status(refresh=True)
        try:
            return int(status["height"]), ValidatorSet.from_json(status.get("validators"))
        except LedgerError as exc:
            raise AuditError("bad_response", f"GET /v1/status: validators: {exc.message}") from None

    def _raw_block(self, height: int) -> bytes:
        path = f"/v1/blocks/{height}"
        status, body = self._get(path)
        if status == 404 and _error_of(body)[0] == "unknown_block":
            raise missing_block(height, self.latest_height())
        if status != 200:
            raise _node_error(path, status, body)
        return body

    def _parse(self, height: int, raw: bytes) -> SourcedBlock:
        obj = decode_strict(height, raw, "block response")
        if not isinstance(obj, dict) or not {"block", "commit", "hash", "height"} <= set(obj):
            raise block_format_error(
                height, '{"block", "commit", "hash", "height"}',
                shorten(sorted(obj) if isinstance(obj, dict) else type(obj).__name__),
            )
        block, commit = parse_block(height, obj["block"], obj["commit"], self.identity()[1])
        return block, commit, shorten(obj["hash"])

    def block(self, height: int) -> SourcedBlock:
        return self._parse(height, self._raw_block(height))

    def blocks(self, start: int, end: int) -> Iterator[SourcedBlock]:
        if self.prefetch == 0:
            for height in range(start, end + 1):
                yield self.block(height)
            return
        if end < start:
            return
        pipe: queue.Queue[tuple[int, bytes | None, BaseException | None]] = queue.Queue(
            maxsize=self.prefetch
        )
        stop = threading.Event()

        def put(item: tuple[int, bytes | None, BaseException | None]) -> bool:
            while not stop.is_set():
                try:
                    pipe.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        def fetch() -> None:
            for height in range(start, end + 1):
                if stop.is_set():
                    return
                try:
                    item: tuple[int, bytes | None, BaseException | None] = (
                        height, self._raw_block(height), None)
                except BaseException as exc:  # delivered to the consumer, who re-raises
                    put((height, None, exc))
                    return
                if not put(item):
                    return

        worker = threading.Thread(target=fetch, name="audit-fetch", daemon=True)
        worker.start()
        try:
            for _ in range(start, end + 1):
                height, raw, error = pipe.get()
                if error is not None:
                    raise error
                assert raw is not None
                yield self._parse(height, raw)
        finally:
            stop.set()
            worker.join(timeout=DEFAULT_TIMEOUT_S)

    def _history_get(self, path: str) -> bytes:
        """The body of a 200 answer to a ``/v1/history/...`` request."""
        status, body = self._get(path)
        if status == 404 and _error_of(body)[0] == "not_found":
            raise AuditError(
                "history_unsupported",
                f"{self.url} does not serve {path.split('?')[0]}; run a full audit instead",
            )
        if status != 200:
            raise _node_error(path, status, body)
        return body

    def consistency(self, old_size: int, new_size: int) -> HistoryProof:
        path = f"/v1/history/consistency?old_size={old_size}&new_size={new_size}"
        body = self._history_get(path)
        try:
            obj = json.loads(body)
            proof = obj["proof"]
            if (
                obj["old_size"] != old_size
                or obj["new_size"] != new_size
                or not is_hex_digest(obj["old_root"])
                or not is_hex_digest(obj["new_root"])
                or not isinstance(proof, list)
                or len(proof) > 128
                or not all(is_hex_digest(p) for p in proof)
            ):
                raise ValueError("fields")
        except (ValueError, KeyError, TypeError):
            raise AuditError(
                "bad_response", f"GET {path}: not a consistency proof for these sizes"
            ) from None
        return HistoryProof(old_size, new_size, obj["old_root"], obj["new_root"],
                            [bytes.fromhex(p) for p in proof])

    def inclusion(self, index: int, size: int) -> HistoryInclusion:
        path = f"/v1/history/inclusion?index={index}&size={size}"
        body = self._history_get(path)
        try:
            obj = json.loads(body)
            proof = obj["proof"]
            if (
                obj["index"] != index
                or obj["size"] != size
                or not is_hex_digest(obj["root"])
                or not isinstance(proof, list)
                or len(proof) > 64
                or not all(is_hex_digest(p) for p in proof)
            ):
                raise ValueError("fields")
        except (ValueError, KeyError, TypeError):
            raise AuditError(
                "bad_response", f"GET {path}: not an inclusion proof for this leaf and size"
            ) from None
        return HistoryInclusion(index, size, obj["root"], [bytes.fromhex(p) for p in proof])

    def final_check(self, auditor: AuditedChain) -> Discrepancy | None:
        return None

    def close(self) -> None:
        if self._own_client:
            self.client.close()
