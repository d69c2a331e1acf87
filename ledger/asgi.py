"""Two ASGI middlewares that the node's API and the stand-alone explorer both wrap their
app in: ``HEAD`` for every ``GET`` route, and one access-log line per request.

Why here, in ``ledger``: the node (``node/api``) and the explorer both serve HTTP, and
neither may import the other (``tests/test_layers.py``). Like ``ledger.api_errors`` this is
plain Python (the ASGI interface is dicts and callables), so it adds no dependency to
``ledger``. Nothing here reaches consensus: the access log's duration uses the monotonic
clock.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = ["HEAD_REQUEST", "AccessLogMiddleware", "HeadMiddleware", "is_head"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Scope key set on a ``HEAD`` request that is served by its ``GET`` route.
HEAD_REQUEST = "fcl.head_request"


def is_head(scope: Scope) -> bool:
    """Whether the request was a ``HEAD`` (a route that streams its body can then skip
    producing it: the middleware drops it anyway)."""
    return bool(scope.get(HEAD_REQUEST))


class HeadMiddleware:
    """``HEAD`` on any route that answers ``GET``: the request is routed as a ``GET``
    (marked with :data:`HEAD_REQUEST`), the status and headers (``Content-Length``
    included) are sent as the ``GET`` would send them, the body is not. A path without a
    ``GET`` route answers as a ``GET`` would (404, or 405 with its ``Allow``)."""

    def __init__(self, app: App) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http" or scope.get("method") != "HEAD":
            await self.app(scope, receive, send)
            return
        inner = dict(scope, method="GET")
        inner[HEAD_REQUEST] = True
        done = False

        async def send_head(message: Message) -> None:
            nonlocal done
            if message.get("type") == "http.response.body":
                if not done:
                    done = True
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            await send(message)

        await self.app(inner, receive, send_head)


class AccessLogMiddleware:
    """One log line per HTTP request, after its response: ``method``, ``path`` (never the
    query string, which may carry what a client would not want logged), ``status``,
    ``duration_ms``, ``bytes`` (of the body sent) and ``client`` (the peer's address), as
    fields of the message ``"http request"`` on ``logger``."""

    def __init__(self, app: App, logger: str = "node.access") -> None:
        self.app = app
        self.log = logging.getLogger(logger)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        status = 0
        sent = 0

        async def counting(message: Message) -> None:
            nonlocal status, sent
            if message.get("type") == "http.response.start":
                status = int(message.get("status", 0))
            elif message.get("type") == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, counting)
        finally:
            client = scope.get("client")
            self.log.info("http request", extra={
                "method": scope.get("method"),
                "path": scope.get("path"),
                "status": status or 500,
                "duration_ms": int((time.monotonic() - started) * 1000),
                "bytes": sent,
                "client": client[0] if client else None,
            })
