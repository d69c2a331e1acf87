"""HTTP client for a validator's RPC (``/v1/...``), over httpx, with a timeout on every
request.

A refusal by the node is raised as :class:`ClientError` carrying the node's own error code
from its JSON body ``{"error": {"code", "message"}}``. Failures that never got an answer
are ``unreachable`` or ``timeout``; answers that are not what the API promises are
``bad_response``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx

from ledger.encoding import canonical
from ledger.tx import Transaction
from wallet.errors import ClientError, WalletError

__all__ = ["DEFAULT_TIMEOUT_S", "ClientError", "NodeClient"]

DEFAULT_TIMEOUT_S = 10.0
_TX_ID_RE = re.compile(r"^[0-9a-f]{64}$")
_FAILED_STATUSES = frozenset({"rejected", "failed", "invalid", "dropped"})

TxLike = Transaction | Mapping[str, Any]


def _tx_json(tx: TxLike) -> dict[str, Any]:
    if isinstance(tx, Transaction):
        return tx.to_json()
    if isinstance(tx, Mapping):
        return dict(tx)
    raise WalletError("invalid_tx", "a transaction is a Transaction or its JSON object")


def _check_tx_id(tx_id: str) -> str:
    if not isinstance(tx_id, str) or not _TX_ID_RE.fullmatch(tx_id):
        raise WalletError("invalid_tx_id", "a transaction id is 64 lowercase hex digits")
    return tx_id


def _valid_base_url(base_url: object) -> bool:
    if not isinstance(base_url, str) or any(c.isspace() for c in base_url):
        return False
    try:
        url = httpx.URL(base_url)
    except (httpx.InvalidURL, TypeError, ValueError):
        return False
    return url.scheme in ("http", "https") and bool(url.host) and not url.query


def _snippet(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"


class NodeClient:
    """A client for one node. ``transport`` lets tests plug in ``httpx.MockTransport``."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not _valid_base_url(base_url):
            raise WalletError(
                "invalid_url", f"node URL must be http(s)://host[:port], got {base_url!r}"
            )
        if not timeout_s > 0:
            raise WalletError("invalid_timeout", "the request timeout must be positive")
        self.base_url = base_url.rstrip("/")
        self.timeout_s = float(timeout_s)
        self._sleep = sleep
        self._clock = clock
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=httpx.Timeout(self.timeout_s),
            transport=transport,
            headers={"accept": "application/json"},
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return f"NodeClient({self.base_url!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> NodeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- transport

    def _send(self, method: str, path: str, content: bytes | None, headers: dict[str, str],
              timeout: float) -> httpx.Response:
        """One HTTP exchange: the response of a 2xx or 3xx answer, else ClientError (the
        node's code for a 4xx/5xx, ``timeout``, ``unreachable``)."""
        try:
            resp = self._http.request(method, path, content=content, headers=headers,
                                      timeout=timeout)
        except httpx.TimeoutException:
            raise ClientError(
                "timeout", f"{method} {self.base_url}{path}: no answer within {timeout:g} s"
            ) from None
        except httpx.HTTPError as exc:
            raise ClientError(
                "unreachable", f"{method} {self.base_url}{path}: {type(exc).__name__}: {exc}"
            ) from None
        if resp.status_code >= 400:
            raise self._error_from(resp, method, path)
        return resp

    def _request(
        self, method: str, path: str, body: Any = None, *, timeout_s: float | None = None
    ) -> Any:
        """Send one request; return the decoded JSON of a 2xx answer or raise ClientError."""
        timeout = self.timeout_s if timeout_s is None else timeout_s
        content = None
        headers = {}
        if body is not None:
            content = canonical(body)
            headers["content-type"] = "application/json"
        resp = self._send(method, path, content, headers, timeout)
        if not 200 <= resp.status_code < 300:
            raise ClientError(
                "bad_response",
                f"{method} {path}: unexpected HTTP {resp.status_code}",
                status=resp.status_code,
            )
        try:
            return resp.json()
        except ValueError:
            raise ClientError(
                "bad_response",
                f"{method} {path}: the node's answer is not JSON: {_snippet(resp.text)!r}",
                status=resp.status_code,
            ) from None

    @staticmethod
    def _error_from(resp: httpx.Response, method: str, path: str) -> ClientError:
        status = resp.status_code
        try:
            body = resp.json()
        except ValueError:
            body = None
        err = body.get("error") if isinstance(body, dict) else None
        if isinstance(err, dict) and isinstance(err.get("code"), str) and err["code"]:
            message = err.get("message")
            if not isinstance(message, str):
                message = f"HTTP {status}"
            return ClientError(err["code"], message, status=status)
        kind = "server_error" if status >= 500 else f"http_{status}"
        text = _snippet(resp.text) if resp.text else resp.reason_phrase
        return ClientError(kind, f"{method} {path}: HTTP {status}: {text}", status=status)

    # ----------------------------------------------------------------- API

    def request_raw(self, method: str, path: str, *, content: bytes | None = None,
                    headers: Mapping[str, str] | None = None) -> httpx.Response:
        """One request whose answer is not JSON (documents: ``wallet/documents.py``): the
        response of a 2xx or 3xx answer, else :class:`ClientError` (the node's code, or
        ``unreachable``, ``timeout``)."""
        return self._send(method, path, content, dict(headers or {}), self.timeout_s)

    def get_json(self, path: str) -> Any:
        """``GET path`` (e.g. ``/v1/snapshots/5/manifest``): the decoded JSON of a 2xx
        answer, else :class:`ClientError` (the node's code, or ``unreachable``, ``timeout``,
        ``bad_response``). For read-only routes this client has no method of its own for
        (state sync, ``fcl/state_sync.py``; the portal, ``portal/app.py``)."""
        if not isinstance(path, str) or not path.startswith("/") or path.startswith("//"):
            raise WalletError("invalid_path", f"a request path starts with one '/', not {path!r}")
        return self._request("GET", path)

    def status(self) -> dict[str, Any]:
        """``GET /v1/status``: the node's status, with at least ``chain_id``."""
        data = self._request("GET", "/v1/status")
        if not isinstance(data, dict) or not isinstance(data.get("chain_id"), str):
            raise ClientError("bad_response", "GET /v1/status: the answer has no chain_id")
        return data

    def dashboard(self) -> dict[str, Any] | None:
        """``GET /v1/explorer/dashboard`` (rate, validators' signing status, totals), or None
        if the node serves no explorer."""
        try:
            data = self._request("GET", "/v1/explorer/dashboard")
        except ClientError as exc:
            if exc.status == 404:
                return None
            raise
        if not isinstance(data, dict):
            raise ClientError("bad_response", "GET /v1/explorer/dashboard: not a JSON object")
        return data

    def calculate(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /v1/calculate``: the free calculation service's figures for ``body``."""
        data = self._request("POST", "/v1/calculate", dict(body))
        if not isinstance(data, dict):
            raise ClientError("bad_response", "POST /v1/calculate: not a JSON object")
        return data

    def submit(self, tx: TxLike) -> str:
        """``POST /v1/txs``: submit one signed transaction; return its id."""
        body = _tx_json(tx)
        data = self._request("POST", "/v1/txs", body)
        local_id = tx.tx_id if isinstance(tx, Transaction) else None
        tx_id = data.get("tx_id") if isinstance(data, dict) else None
        if tx_id is None and local_id is not None:
            return local_id
        if not isinstance(tx_id, str) or not _TX_ID_RE.fullmatch(tx_id):
            raise ClientError("bad_response", "POST /v1/txs: the answer has no valid tx_id")
        if local_id is not None and tx_id != local_id:
            raise ClientError(
                "bad_response",
                f"POST /v1/txs: the node reports id {tx_id}, the transaction's id is {local_id}",
            )
        return tx_id

    def submit_batch(self, txs: Sequence[TxLike]) -> list[dict[str, Any]]:
        """``POST /v1/txs/batch`` with ``{"txs": [...]}``: one outcome object per transaction,
        in order. Accepts an answer that is the list itself or ``{"results": [...]}``."""
        bodies = [_tx_json(tx) for tx in txs]
        data = self._request("POST", "/v1/txs/batch", {"txs": bodies})
        results = data.get("results") if isinstance(data, dict) else data
        if (
            not isinstance(results, list)
            or len(results) != len(bodies)
            or not all(isinstance(r, dict) for r in results)
        ):
            raise ClientError(
                "bad_response",
                f"POST /v1/txs/batch: expected {len(bodies)} outcome objects",
            )
        return results

    def simulate(self, tx: TxLike, *, signers: Sequence[str] | None = None) -> dict[str, Any]:
        """``POST /v1/txs/simulate`` with ``{"tx": ...}`` (and ``"signers"`` for an unsigned
        transaction): the would-be result (``ok``, ``code``, ``message``, ``events``,
        ``result``, ``height``, ``writes``, ...). A transaction the contracts would refuse is
        an answer with ``ok`` false, not an error; a request the node cannot run raises
        ``ClientError`` with the node's code."""
        body: dict[str, Any] = {"tx": _tx_json(tx)}
        if signers is not None:
            body["signers"] = list(signers)
        data = self._request("POST", "/v1/txs/simulate", body)
        if (
            not isinstance(data, dict)
            or not isinstance(data.get("ok"), bool)
            or not isinstance(data.get("code"), str)
            or not isinstance(data.get("height"), int)
        ):
            raise ClientError(
                "bad_response", "POST /v1/txs/simulate: the answer has no ok, code and height"
            )
        return data

    def get_tx(self, tx_id: str, *, timeout_s: float | None = None) -> dict[str, Any]:
        """``GET /v1/txs/{id}``: the node's record of a transaction (``status``, ...)."""
        data = self._request("GET", f"/v1/txs/{_check_tx_id(tx_id)}", timeout_s=timeout_s)
        if not isinstance(data, dict):
            raise ClientError("bad_response", f"GET /v1/txs/{tx_id}: expected a JSON object")
        return data

    def wait_committed(
        self, tx_id: str, timeout_s: float = 30.0, *, poll_interval_s: float = 0.2
    ) -> dict[str, Any]:
        """Poll ``GET /v1/txs/{id}`` until its ``status`` is ``committed`` and return that
        JSON (it includes ``result``). A 404, a network error or a non-final status means
        "not yet"; a status of rejected/failed/invalid/dropped raises ``tx_rejected``;
        after ``timeout_s`` it raises ``wait_timeout``."""
        _check_tx_id(tx_id)
        deadline = self._clock() + timeout_s
        interval = poll_interval_s
        last = "no answer yet"
        while True:
            per_request = min(self.timeout_s, max(deadline - self._clock(), 0.5))
            try:
                data = self.get_tx(tx_id, timeout_s=per_request)
            except ClientError as exc:
                if exc.status is not None and exc.status != 404 and exc.status < 500:
                    raise
                last = f"{exc.code}: {exc.message}"
            else:
                status = data.get("status")
                if status == "committed":
                    return data
                if status in _FAILED_STATUSES:
                    err = data.get("error")
                    if isinstance(err, dict) and isinstance(err.get("code"), str):
                        raise ClientError(err["code"], str(err.get("message", status)))
                    raise ClientError("tx_rejected", f"transaction {tx_id} was {status}")
                last = f"status {status!r}"
            remaining = deadline - self._clock()
            if remaining <= 0:
                raise ClientError(
                    "wait_timeout",
                    f"transaction {tx_id} not committed within {timeout_s:g} s ({last})",
                )
            self._sleep(min(interval, remaining))
            interval = min(interval * 1.5, 2.0)
