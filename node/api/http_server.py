"""Limits on the HTTP server's connections, so that no client can exhaust a validator.

The API is served by uvicorn with its ``httptools`` protocol. Left alone, that protocol
keeps a connection that never sends a request open forever and accepts connections until
the process runs out of file descriptors -- which it shares with consensus, the peers and
the store (20,000 idle connections once made a validator exit with ``Too many open
files``). :func:`guarded_protocol` returns the same protocol with limits:

* **connections** -- at most ``max_connections`` at once; one more is answered ``503``
  (``too_many_connections``) and closed at once, so its descriptor is freed;
* **connections per address** -- at most ``max_connections_per_address`` from one client
  address; one more is answered ``429`` (``too_many_connections_from_address``) and
  closed, so a client on a few addresses cannot take every connection;
* **headers** -- a request's head (request line and headers) must arrive within
  ``header_timeout_s`` of the connection opening or of the request's first byte, else
  ``408`` (``request_timeout``) and close: idle and slow-header connections end;
* **body** -- the whole body must arrive within ``body_timeout_s`` of the head, else the
  connection is closed (the handler sees a client disconnect);
* **keep-alive** -- an idle kept-alive connection is closed after uvicorn's
  ``timeout_keep_alive``.

:func:`descriptor_budget` raises the soft descriptor limit to the hard one and says how
many connections the API may hold while keeping a reserve for everything else.
"""

from __future__ import annotations

import asyncio
import json
import logging
import resource
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ledger.api_errors import error_body, status_of

__all__ = ["DESCRIPTOR_RESERVE", "HttpLimits", "descriptor_budget", "guarded_protocol"]

log = logging.getLogger("node.rpc")

#: Descriptors kept back from the API for the store (LevelDB's table cache is capped at
#: 256 files, ledger/store.py), the peer connections and listeners, logs and the rest.
DESCRIPTOR_RESERVE = 512


@dataclass(frozen=True)
class HttpLimits:
    max_connections: int = 1000
    max_connections_per_address: int = 100
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        assert self.max_connections >= 1, "max_connections must be positive"
        assert self.max_connections_per_address >= 1, "the per-address limit is positive"
        assert self.header_timeout_s > 0 and self.body_timeout_s > 0, "timeouts are positive"


def descriptor_budget(wanted: int, reserve: int = DESCRIPTOR_RESERVE) -> tuple[int, int]:
    """Raise the soft ``RLIMIT_NOFILE`` to the hard limit (where allowed) and return
    ``(connections, soft limit)``: ``wanted`` connections, fewer if the limit minus
    ``reserve`` is smaller (but at least 16)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass  # keep the soft limit we have
    return max(16, min(wanted, soft - reserve)), soft


def _response(code: str, message: str) -> bytes:
    """A whole HTTP/1.1 error answer for ``code``, its status from the shared table."""
    status = HTTPStatus(status_of(code))
    body = json.dumps(error_body(code, message)).encode("ascii")
    head = (f"HTTP/1.1 {status.value} {status.phrase}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n")
    return head.encode("ascii") + body


def guarded_protocol(limits: HttpLimits) -> type[asyncio.Protocol]:
    """uvicorn's httptools protocol with ``limits`` (pass it as ``uvicorn.Config(http=...)``)."""

    class GuardedHttpProtocol(HttpToolsProtocol):
        _deadline: asyncio.TimerHandle | None = None
        _address: str | None = None  # counted in ``per_address`` while open
        refused = 0  # connections refused over a limit (for tests and metrics)
        timed_out = 0  # connections closed by the header or body deadline
        per_address: dict[str, int] = {}  # open connections by client address
        open_connections = 0  # connections admitted and not yet closed

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            cls = type(self)
            super().connection_made(transport)
            address = self.client[0] if self.client else ""
            if cls.open_connections >= limits.max_connections:
                self._refuse("too_many_connections",
                             "the node has too many open connections; try again shortly")
                return
            if cls.per_address.get(address, 0) >= limits.max_connections_per_address:
                self._refuse("too_many_connections_from_address",
                             f"at most {limits.max_connections_per_address} connections "
                             "from one address; close some and try again")
                return
            self._address = address
            cls.per_address[address] = cls.per_address.get(address, 0) + 1
            cls.open_connections += 1
            self._arm(limits.header_timeout_s, self._head_too_slow)

        def _refuse(self, code: str, message: str) -> None:
            type(self).refused += 1
            self.transport.write(_response(code, message))
            self.transport.close()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            if self._address is not None:
                cls = type(self)
                left = cls.per_address[self._address] - 1
                if left:
                    cls.per_address[self._address] = left
                else:
                    del cls.per_address[self._address]
                cls.open_connections -= 1
                assert cls.open_connections >= 0
                self._address = None
            super().connection_lost(exc)

        def _arm(self, delay: float, callback: Any) -> None:
            self._disarm()
            self._deadline = self.loop.call_later(delay, callback)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _head_too_slow(self) -> None:
            self._deadline = None
            if not self.transport.is_closing():
                type(self).timed_out += 1
                self.transport.write(_response(
                    "request_timeout",
                    f"no complete request head within {limits.header_timeout_s:g} s"))
                self.transport.close()

        def _body_too_slow(self) -> None:
            self._deadline = None
            if not self.transport.is_closing():
                type(self).timed_out += 1
                log.info("request body too slow; closing the connection",
                         extra={"client": str(self.client)})
                self.transport.close()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            if self._deadline is None:  # a kept-alive connection's next request
                self._arm(limits.header_timeout_s, self._head_too_slow)

        def on_headers_complete(self) -> None:
            self._arm(limits.body_timeout_s, self._body_too_slow)
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            self._disarm()
            super().on_message_complete()

    return GuardedHttpProtocol
