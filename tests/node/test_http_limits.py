"""node.api.http_server: the HTTP server's connection limit and its header, body and
keep-alive deadlines, on a real uvicorn server over 127.0.0.1; the descriptor budget."""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
from collections.abc import AsyncIterator

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from node.api.http_server import HttpLimits, descriptor_budget, guarded_protocol


async def echo(request: Request) -> JSONResponse:
    body = await request.body()
    return JSONResponse({"bytes": len(body)})


APP = Starlette(routes=[Route("/", echo, methods=["GET", "POST"])])


@contextlib.asynccontextmanager
async def serving(limits: HttpLimits) -> AsyncIterator[tuple[int, type]]:
    protocol = guarded_protocol(limits)
    config = uvicorn.Config(APP, host="127.0.0.1", port=0, log_config=None, access_log=False,
                            lifespan="off", http=protocol, timeout_keep_alive=1)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield port, protocol
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


async def request(port: int, raw: bytes, source: str = "127.0.0.1") -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    writer.write(raw)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    return answer


GET = b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"


def status_and_code(answer: bytes) -> tuple[int, str | None]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    try:
        return status, json.loads(body)["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return status, None


def test_requests_are_served_and_connections_over_the_limit_get_503() -> None:
    async def scenario() -> None:
        limits = HttpLimits(max_connections=4, header_timeout_s=0.5, body_timeout_s=0.5)
        async with serving(limits) as (port, protocol):
            assert status_and_code(await request(port, GET)) == (200, None)
            idle = [await asyncio.open_connection("127.0.0.1", port) for _ in range(4)]
            await asyncio.sleep(0.05)
            # the fifth is answered at once and closed: its descriptor is free again
            assert status_and_code(await request(port, GET)) == (503, "too_many_connections")
            assert protocol.refused == 1
            # the idle ones reach their header deadline: 408, closed
            for reader, _writer in idle:
                answer = await asyncio.wait_for(reader.read(), 5)
                assert status_and_code(answer) == (408, "request_timeout")
            assert status_and_code(await request(port, GET)) == (200, None)

    asyncio.run(scenario())


def test_one_address_gets_at_most_its_share_of_connections() -> None:
    """Over ``max_connections_per_address`` from one address: 429, closed; other addresses
    are still served, and the address gets its share back when its connections close."""

    async def scenario() -> None:
        limits = HttpLimits(max_connections=10, max_connections_per_address=2,
                            header_timeout_s=5, body_timeout_s=5)
        async with serving(limits) as (port, protocol):
            held = [await asyncio.open_connection("127.0.0.1", port, local_addr=("127.0.0.2", 0))
                    for _ in range(2)]
            await asyncio.sleep(0.05)
            assert status_and_code(await request(port, GET, "127.0.0.2")) == (
                429, "too_many_connections_from_address")
            assert status_and_code(await request(port, GET, "127.0.0.3")) == (200, None)
            assert protocol.per_address == {"127.0.0.2": 2}
            for _reader, writer in held:
                writer.close()
            for _ in range(100):
                if not protocol.per_address:
                    break
                await asyncio.sleep(0.01)
            assert protocol.per_address == {} and protocol.open_connections == 0
            assert status_and_code(await request(port, GET, "127.0.0.2")) == (200, None)

    asyncio.run(scenario())


def test_slow_heads_and_slow_bodies_are_cut_off() -> None:
    async def scenario() -> None:
        limits = HttpLimits(max_connections=10, header_timeout_s=0.4, body_timeout_s=0.4)
        async with serving(limits) as (port, protocol):
            # a head that never ends (slowloris)
            answer = await request(port, b"GET / HTTP/1.1\r\nhost: x\r\n")
            assert status_and_code(answer) == (408, "request_timeout")
            # a body that never arrives in full: the connection is closed
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n" + b"x" * 10)
            await writer.drain()
            answer = await asyncio.wait_for(reader.read(), 5)
            writer.close()
            assert not answer.startswith(b"HTTP/1.1 200")
            assert protocol.timed_out == 2
            # a body sent in time is served, and a kept-alive connection serves again
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            for _ in range(2):
                writer.write(b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\n\r\nabc")
                await writer.drain()
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
                assert head.startswith(b"HTTP/1.1 200")
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                assert json.loads(await reader.readexactly(length)) == {"bytes": 3}
            # idle after a response: uvicorn's keep-alive timeout closes it
            assert await asyncio.wait_for(reader.read(), 5) == b""
            writer.close()

    asyncio.run(scenario())


def test_limits_are_checked() -> None:
    with pytest.raises(AssertionError):
        HttpLimits(max_connections=0)
    with pytest.raises(AssertionError):
        HttpLimits(header_timeout_s=0)
    with pytest.raises(AssertionError):
        HttpLimits(max_connections_per_address=0)


def test_the_descriptor_budget_raises_the_soft_limit_and_keeps_a_reserve(monkeypatch) -> None:
    calls: list[tuple[int, int]] = []
    monkeypatch.setattr(resource, "getrlimit", lambda _which: (1024, 4096))
    monkeypatch.setattr(resource, "setrlimit", lambda _which, limits: calls.append(limits))
    assert descriptor_budget(1000) == (1000, 4096) and calls == [(4096, 4096)]
    assert descriptor_budget(5000, reserve=512) == (4096 - 512, 4096)

    def refuse(_which: int, _limits: tuple[int, int]) -> None:
        raise ValueError("not permitted")

    monkeypatch.setattr(resource, "setrlimit", refuse)
    assert descriptor_budget(1000) == (1024 - 512, 1024)  # the soft limit stays
    monkeypatch.setattr(resource, "getrlimit", lambda _which: (300, 300))
    assert descriptor_budget(1000) == (16, 300)  # never below 16


def test_a_client_that_leaves_mid_body_is_not_an_error(caplog: pytest.LogCaptureFixture) -> None:
    """The node's and the explorer's body readers turn a client disconnect into the
    ``client_disconnected`` refusal (never delivered) -- no traceback, no 5xx."""
    from starlette.requests import Request as StarletteRequest

    from explorer.inputs import ExplorerError
    from explorer.upload import read_body as explorer_read_body
    from ledger.api_errors import ApiError, status_of
    from node.api.rpc import read_body as node_read_body

    def leaving_request() -> StarletteRequest:
        messages = [{"type": "http.request", "body": b"x" * 1000, "more_body": True},
                    {"type": "http.disconnect"}]

        async def receive() -> dict:
            return messages.pop(0)

        scope = {"type": "http", "method": "POST", "path": "/", "headers": [
            (b"content-length", b"100000")]}
        return StarletteRequest(scope, receive)

    async def scenario() -> list[str]:
        codes = []
        for reader in (lambda r: node_read_body(r, 1 << 20, "request_too_large"),
                       explorer_read_body):
            with pytest.raises(ApiError) as err:
                await reader(leaving_request())
            codes.append(err.value.code)
        return codes

    with caplog.at_level("DEBUG"):
        assert asyncio.run(scenario()) == ["client_disconnected", "client_disconnected"]
    assert issubclass(ExplorerError, ApiError) and status_of("client_disconnected") == 400
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL") or r.exc_info]
