"""Fuzzing the node's HTTP API against its own OpenAPI document (DESIGN.md, "Testing").

The app is assembled as ``fcl node start`` assembles it (``node.api.rpc.create_app`` with
``fcl.main.api_routers``: certificates, history proofs, explorer) over a real store holding
the explorer's lifecycle scenario (30 committed blocks). Schemathesis reads
``/openapi.json`` from the app; every documented operation gets a sweep of the identifiers
that exist on the chain and then generated requests (schema-valid, and schema-violating
where the operation has a body or query parameters).

Properties, for every request:

* never a 5xx;
* every 4xx is exactly ``{"error": {"code": str, "message": str}}`` (an HTML page is also
  accepted from the explorer's HTML routes);
* nothing changes: after the request a solo block maker is stepped, and the height, tip
  hash, state root and mempool must be as before (random bodies are never validly signed
  transactions, so nothing may be admitted, let alone committed);
* the response conforms to the document: documented status code, content type, headers
  and response schema, and schema-violating requests are refused (schemathesis checks).

Every conformance check applies to every operation (no document gap is open); reported
bugs are strict xfails (BUG-n, docs/api-fuzzing.md). Then come the
routes and inputs outside the document (HTML pages, undocumented query parameters, any
JSON, form uploads) and hand-written adversarial requests.

``FCL_FUZZ_EXAMPLES`` (default 25) sets the Hypothesis examples per operation; generation
is derandomised, so a run is reproducible. docs/api-fuzzing.md explains how to run longer.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from chaincode.executor import Executor
from explorer.upload import MAX_BODY_BYTES as UPLOAD_MAX_BODY_BYTES
from fcl.main import api_routers
from ledger.store import Store
from node.api.rpc import MAX_BATCH_TXS, MAX_BODY_BYTES, create_app
from node.api.service import Node
from node.chain.app import Application
from node.driver.solo import SoloDriver
from node.ops.metrics import Registry
from node.txpool.admission import MAX_RAW_TX_BYTES
from node.txpool.mempool import Mempool
from tests.support.explorer import Scenario, build_scenario
from tests.support.harness import Harness

EXAMPLES = int(os.environ.get("FCL_FUZZ_EXAMPLES", "25"))
#: Most swept combinations of known values per operation.
MAX_SWEEP = 400

FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                           HealthCheck.data_too_large],
)

#: The schemathesis checks every documented operation must pass.
CONFORMANCE: dict[str, Callable[..., Any]] = {
    check.__name__: check
    for check in (
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_headers_conformance,
        response_schema_conformance,
        negative_data_rejection,
    )
}



# -- the app under test --------------------------------------------------------------------
def _build_app(node: Node) -> FastAPI:
    return create_app(node, routers=api_routers(node))


def _documented_operations() -> list[str]:
    """'METHOD /path' of every operation in the document, read at collection time from an
    app over an empty chain (the document does not depend on the data)."""
    genesis = Harness().genesis
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "db")
        try:
            node = Node(moniker="doc", genesis=genesis, store=store,
                        app=Application(store, Executor(), genesis), mempool=Mempool(10, 1 << 20))
            doc = _build_app(node).openapi()
        finally:
            store.close()
    return sorted(f"{method.upper()} {path}" for path, ops in doc["paths"].items() for method in ops)


OPERATIONS = _documented_operations()


def _known_values(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _known_values(item)
    elif isinstance(value, list):
        for item in value:
            yield from _known_values(item)
    elif isinstance(value, (str, int)) and not isinstance(value, bool):
        yield str(value)


class Api:
    """A node over ``scenario``'s store, its app, a solo block maker and the schema."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.store = scenario.store
        self.mempool = Mempool(1000, 1 << 24)
        self.driver = SoloDriver(scenario.chain.app, self.mempool, scenario.chain.key,
                                 clock_ms=lambda: 0)
        self.node = Node(moniker="fuzz", genesis=scenario.chain.h.genesis, store=self.store,
                         app=scenario.chain.app, mempool=self.mempool,
                         on_admit=self.driver.notify, metrics=Registry())
        self.routers = api_routers(self.node)
        self.app = create_app(self.node, routers=self.routers)
        self.app.add_middleware(CountAnswers)
        self.client = TestClient(self.app, raise_server_exceptions=False)
        self.schema = schemathesis.openapi.from_asgi("/openapi.json", self.app,
                                                     config=schemathesis.Config())
        latest = self.store.latest_height()
        pool = set(_known_values(scenario.ids)) | set(scenario.chain.h.orgs)
        pool |= {"AH-0001", "AH-0002", "F1", "F2", "C1", "latest", "1", str(latest),
                 str(latest + 1), self.store.get_block_hash(1), self.store.get_block_hash(latest)}
        #: Identifiers that exist on the chain, swept through every path parameter.
        self.known = sorted(pool)
        #: Numbers around the chain's size, swept through every query parameter.
        self.numbers = ["", "0", "1", "2", str(latest - 1), str(latest), str(latest + 1), "-1",
                        "1e3", "9" * 19]

    def snapshot(self) -> tuple[Any, ...]:
        return (self.store.latest_height(), self.store.latest_hash(), self.store.state_root(),
                len(self.mempool), self.mempool.size_bytes)

    def settle(self) -> None:
        """Commit whatever was admitted, as the running node would."""
        self.driver.step()

    def operation(self, label: str) -> Any:
        method, path = label.split(" ", 1)
        return self.schema[path][method]

    def get_routes(self) -> list[str]:
        """Path templates of every GET route, documented or not."""
        core = [r.path for r in self.app.routes if isinstance(r, APIRoute) and "GET" in r.methods]
        mounted = [r.path for router in self.routers for r in router.routes
                   if isinstance(r, APIRoute) and "GET" in r.methods]
        return sorted(set(core + mounted))


#: Every answer the app gave in this module, by status (all requests pass the middleware).
ANSWERS: Counter[int] = Counter()


class CountAnswers:
    """ASGI middleware counting every answer by status, for the run's figures."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def counting(message: Any) -> None:
            if message["type"] == "http.response.start":
                ANSWERS[message["status"]] += 1
            await send(message)

        await self.app(scope, receive, counting)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    scenario = build_scenario(Path(tmp_path_factory.mktemp("fuzz")) / "store")
    ANSWERS.clear()
    try:
        yield Api(scenario)
    finally:
        scenario.store.close()
        total = sum(ANSWERS.values())
        by_class = {f"{c}xx": sum(n for s, n in ANSWERS.items() if s // 100 == c)
                    for c in (2, 3, 4, 5)}
        report = os.environ.get("FCL_FUZZ_REPORT")  # the run's figures, as JSON
        if report:
            Path(report).write_text(json.dumps({"examples": EXAMPLES, "answers": total,
                                                **by_class}) + "\n")


# -- properties ----------------------------------------------------------------------------
def _header(headers: Any, name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name:
            return value[0] if isinstance(value, list) else value
    return ""


def assert_error_body(status: int, content: bytes, where: str) -> None:
    """A 4xx carries exactly ``{"error": {"code": str, "message": str}}``."""
    try:
        body = json.loads(content)
    except ValueError:
        raise AssertionError(f"{where}: {status} without a JSON body: {content[:200]!r}") from None
    assert isinstance(body, dict) and set(body) == {"error"}, f"{where}: {body!r}"
    err = body["error"]
    assert isinstance(err, dict) and set(err) == {"code", "message"}, f"{where}: {body!r}"
    assert isinstance(err["code"], str) and err["code"], f"{where}: {body!r}"
    assert isinstance(err["message"], str) and err["message"], f"{where}: {body!r}"


def assert_answer(status: int, headers: Any, content: bytes, where: str, *, html: bool) -> None:
    """No 5xx; a 4xx is an HTML page (``html``) or the JSON error shape; a redirect stays
    on this origin."""
    assert status < 500, f"{where}: server error {status}: {content[:300]!r}"
    if 400 <= status < 500:
        ctype = _header(headers, "content-type")
        if not (html and ctype.startswith("text/html")):
            assert_error_body(status, content, where)
    location = _header(headers, "location")
    if location:
        same_origin = location.startswith("http://testserver/") or (
            location.startswith("/") and not location.startswith(("//", "/\\")))
        assert same_origin, f"{where}: redirect off the origin to {location!r}"


def case_strategy(op: Any) -> st.SearchStrategy[Any]:
    """Schema-valid requests, and schema-violating ones where the operation has a body or
    query parameters (a path parameter documented as any string cannot be violated)."""
    strategies = [op.as_strategy(generation_mode=GenerationMode.POSITIVE)]
    if op.body or op.query:
        strategies.append(op.as_strategy(generation_mode=GenerationMode.NEGATIVE))
    return st.one_of(strategies)


def sweep_cases(api: Api, op: Any) -> Iterator[Any]:
    """Cases a random generator seldom hits: every path parameter set to each identifier
    that exists on the chain, every query parameter to each of a few numbers around the
    chain's size (at most :data:`MAX_SWEEP` combinations)."""
    path_names = [p.name for p in op.path_parameters]
    query_names = [p.name for p in op.query]
    if not path_names and not query_names:
        return
    choices = [api.known] * len(path_names) + [api.numbers] * len(query_names)
    for values in itertools.islice(itertools.product(*choices), MAX_SWEEP):
        yield op.Case(path_parameters=dict(zip(path_names, values, strict=False)),
                      query=dict(zip(query_names, values[len(path_names):], strict=True)))


def check_case(api: Api, case: Any, checks: list[Callable[..., Any]]) -> None:
    """The properties every request must have (module docstring)."""
    before = api.snapshot()
    where = case.as_curl_command()
    try:
        response = case.call()
    except Exception as exc:  # the ASGI transport re-raises what the app answered 500 for
        raise AssertionError(f"{where}: server error, the app raised {exc!r}") from exc
    assert_answer(response.status_code, response.headers, response.content, where, html=False)
    api.settle()
    assert api.snapshot() == before, f"{where} changed the chain or the mempool"
    case.validate_response(response, checks=checks)


def test_every_operation_is_fuzzed_and_gaps_name_real_operations() -> None:
    assert {"POST /v1/txs", "POST /v1/txs/batch", "GET /v1/txs/{tx_id}", "GET /v1/status",
            "GET /v1/explorer/dashboard", "GET /v1/history/inclusion"} <= set(OPERATIONS)


@pytest.mark.parametrize("label", OPERATIONS)
def test_operation(api: Api, label: str) -> None:
    """The sweep of known identifiers, then generated requests: no 5xx, error shape,
    nothing changed, every conformance check."""
    op = api.operation(label)
    checks = list(CONFORMANCE.values())
    for case in sweep_cases(api, op):
        check_case(api, case, checks)

    @FUZZ
    @given(case=case_strategy(op))
    def run(case: Any) -> None:
        check_case(api, case, checks)

    run()


def test_the_unchanged_check_notices_an_admitted_transaction(tmp_path: Path) -> None:
    """Positive control for the 'nothing changed' property: a validly signed transaction
    is admitted and, after settling, changes the height and the state root."""
    api = Api(build_scenario(tmp_path / "store"))
    try:
        h = api.scenario.chain.h
        tx = h.make_tx("regulator", "notary", "record",
                       {"name": "fuzz-control", "sha256": "ab" * 32})
        before = api.snapshot()
        resp = api.client.post("/v1/txs", content=json.dumps(tx.to_json()).encode())
        assert resp.status_code == 202, resp.text
        api.settle()
        after = api.snapshot()
        assert after != before
        assert after[0] == before[0] + 1 and after[2] != before[2]
    finally:
        api.store.close()


# -- what the document does not describe ---------------------------------------------------
#: Path segments sent as they are (already percent-encoded) ...
_RAW = ["%2e%2e", "..%2f..%2fapp.py", "%00", "%ff", "%c0%af", "%2F%2Fevil.example"]
#: ... and percent-encoded before sending.
_NASTY = ["", "..", "../../etc/passwd", "\u202e12", "１２", "٣", "𝟙", "ǅ", "1e3", " 1", "-1", "0",
          "9" * 40, "//evil.example", "/\\evil.example", "http://evil.example", "<script>",
          "a" * 300]
_QUERY_NAMES = ["limit", "after", "before", "project", "enterprise", "period", "q", "serial",
                "lang", "old_size", "new_size", "index", "size"]
_QUERY_VALUES = ["", "-1", "0", "1", "1001", "9" * 30, "1e400", "nan", "2025", "2025-01", "zh",
                 "en", "x" * 3000, "\x00", "<b>"]


def _fill(template: str, segments: list[str]) -> str:
    out, rest = [], template
    for segment in segments:
        head, sep, tail = rest.partition("{")
        out.append(head)
        if not sep:
            return "".join(out)
        rest = tail.partition("}")[2]
        out.append(segment if segment in _RAW else quote(segment, safe=""))
    out.append(rest.split("{", 1)[0])
    return "".join(out)


def test_every_get_route_with_any_path_and_query(api: Api) -> None:
    """GET routes outside the document too (explorer HTML pages, undocumented query
    parameters, cookies, Accept-Language): no 5xx; errors are HTML pages under /explorer/
    and the JSON shape elsewhere; redirects stay on this origin; nothing changes."""
    routes = api.get_routes()
    assert "/explorer/blocks/{height}" in routes and "/v1/explorer/blocks" in routes
    segment = st.one_of(st.sampled_from(api.known), st.sampled_from(_RAW + _NASTY),
                        st.text(max_size=24))
    query = st.lists(st.tuples(st.sampled_from(_QUERY_NAMES),
                               st.one_of(st.sampled_from(_QUERY_VALUES + api.known),
                                         st.text(max_size=16))), max_size=4)
    latin1 = st.text(st.characters(min_codepoint=32, max_codepoint=255), max_size=24)

    @settings(FUZZ, max_examples=EXAMPLES * 40)
    @given(route=st.sampled_from(routes), segments=st.lists(segment, min_size=3, max_size=3),
           query=query, lang=st.one_of(st.none(), latin1), cookie=st.one_of(
               st.none(), st.text(st.characters(min_codepoint=33, max_codepoint=126,
                                                exclude_characters=';,"\\'), max_size=12)))
    def run(route: str, segments: list[str], query: list[tuple[str, str]], lang: str | None,
            cookie: str | None) -> None:
        path = _fill(route, segments)
        headers = {} if lang is None else {"accept-language": lang.encode("latin-1")}
        api.client.cookies.clear()
        if cookie is not None:
            api.client.cookies.set("lang", cookie)
        before = api.snapshot()
        resp = api.client.get(path, params=query, headers=headers, follow_redirects=False)
        where = f"GET {path} {query} {headers} lang-cookie={cookie!r}"
        assert_answer(resp.status_code, resp.headers, resp.content, where,
                      html=path.startswith("/explorer/"))
        api.settle()
        assert api.snapshot() == before, where

    run()
    api.client.cookies.clear()


def test_every_method_on_every_route(api: Api) -> None:
    """Methods a route does not have: 405 (or 404) with the JSON shape, never a 5xx."""
    for route in api.get_routes() + ["/v1/txs", "/v1/txs/batch", "/v1/explorer/verify"]:
        path = _fill(route, ["1", "1", "1"])
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD", "TRACE"):
            resp = api.client.request(method, path, content=b"{}", follow_redirects=False)
            if method == "HEAD":  # no body to look at
                assert resp.status_code < 500, path
                continue
            assert_answer(resp.status_code, resp.headers, resp.content, f"{method} {path}",
                          html=path.startswith("/explorer/"))
    assert api.client.request("PUT", "/v1/txs").json()["error"]["code"] == "method_not_allowed"


# -- hand-written adversarial requests ---------------------------------------------------------
JSON_POSTS = [("/v1/txs", "tx_too_large"), ("/v1/txs/batch", "request_too_large"),
              ("/v1/txs/simulate", "request_too_large"),
              ("/v1/explorer/verify", "upload_too_large")]
#: The body limit of each POST route.
LIMITS = {"/v1/txs": min(MAX_BODY_BYTES, MAX_RAW_TX_BYTES), "/v1/txs/batch": MAX_BODY_BYTES,
          "/v1/txs/simulate": MAX_BODY_BYTES,
          "/v1/explorer/verify": UPLOAD_MAX_BODY_BYTES, "/explorer/verify": UPLOAD_MAX_BODY_BYTES}


def post(api: Api, path: str, body: Any, **headers: str) -> Any:
    """POST ``body`` (bytes, or an iterator of bytes for a chunked body); the answer must
    satisfy the general properties and leave the chain and the mempool as they were."""
    before = api.snapshot()
    resp = api.client.post(path, content=body,
                           headers={"content-type": "application/json", **headers})
    assert_answer(resp.status_code, resp.headers, resp.content, f"POST {path}",
                  html=path.startswith("/explorer/"))
    api.settle()
    assert api.snapshot() == before
    return resp


def code_of(resp: Any) -> str:
    return resp.json()["error"]["code"]


@pytest.mark.parametrize(("path", "code"), JSON_POSTS + [("/explorer/verify", "")])
@pytest.mark.parametrize("declared", ["limit+1", str(10**30), str(2**64)])
def test_huge_content_length_with_a_small_body(api: Api, path: str, code: str,
                                               declared: str) -> None:
    if declared == "limit+1":
        declared = str(LIMITS[path] + 1)
    resp = post(api, path, b"{}", **{"content-length": declared})
    assert resp.status_code == 413
    if code:
        assert code_of(resp) == code
    else:
        assert 'data-code="upload_too_large"' in resp.text


@pytest.mark.parametrize(("path", "code"), JSON_POSTS + [("/explorer/verify", "")])
def test_chunked_body_over_the_limit(api: Api, path: str, code: str) -> None:
    chunks = (b" " * 65536 for _ in range(LIMITS[path] // 65536 + 2))
    resp = post(api, path, chunks)
    assert resp.status_code == 413
    if code:
        assert code_of(resp) == code
    else:
        assert 'data-code="upload_too_large"' in resp.text


NOT_A_NUMBER = {"/v1/txs": "bad_request", "/v1/txs/batch": "bad_request",
                "/v1/txs/simulate": "bad_request",
                "/v1/explorer/verify": "malformed_form"}


@pytest.mark.parametrize("path", sorted(NOT_A_NUMBER))
def test_content_length_that_is_not_a_number(api: Api, path: str) -> None:
    for declared in (b"abc", b"-1", b"+5", b" 5", b"5 ", b"0x10", b"1_0", b"1e3", b""):
        status, body = asgi_post(api.app, path, declared, b"{}")
        assert status == 400, (declared, body)
        assert json.loads(body)["error"]["code"] == NOT_A_NUMBER[path]


@pytest.mark.parametrize("path", sorted(NOT_A_NUMBER))
def test_content_length_with_unicode_digits(api: Api, path: str) -> None:
    for declared in ("²", "³", "¹"):  # headers are latin-1; these are str.isdigit()
        status, body = asgi_post(api.app, path, declared.encode("latin-1"), b"{}")
        assert status == 400, (declared, body)
        assert json.loads(body)["error"]["code"] == NOT_A_NUMBER[path]


def asgi_post(app: FastAPI, path: str, content_length: bytes, body: bytes) -> tuple[int, bytes]:
    """POST through the raw ASGI interface, so that header bytes no HTTP client would send
    reach the app; an exception the app lets escape counts as the 500 it answered."""
    messages: list[dict[str, Any]] = []
    received = False

    async def receive() -> dict[str, Any]:
        nonlocal received
        if received:
            return {"type": "http.disconnect"}
        received = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(),
             "query_string": b"", "root_path": "", "client": ("127.0.0.1", 1),
             "server": ("testserver", 80),
             "headers": [(b"host", b"testserver"), (b"content-type", b"application/json"),
                         (b"content-length", content_length)]}

    async def call() -> None:
        try:
            await app(scope, receive, send)
        except Exception:  # noqa: BLE001 - Starlette re-raises after answering 500
            pass

    asyncio.run(call())
    start = next(m for m in messages if m["type"] == "http.response.start")
    return start["status"], b"".join(m.get("body", b"") for m in messages
                                     if m["type"] == "http.response.body")


def _tx_with_args(nested: str) -> str:
    return ('{"payload": {"chain_id": "fcl-test", "contract": "notary", "method": "record", '
            '"args": {"x": ' + nested + '}, "nonce": "n1", "signers": ["' + "ab" * 32 + '"]}, '
            '"signatures": ["' + "cd" * 64 + '"]}')


@pytest.mark.parametrize("depth", [64, 999, 1000, 5000, 50_000])
def test_deeply_nested_json(api: Api, depth: int) -> None:
    arrays = "[" * depth + "]" * depth
    objects = '{"a":' * depth + "1" + "}" * depth
    for nested in (arrays, objects):
        resp = post(api, "/v1/txs", _tx_with_args(nested).encode())
        assert resp.status_code in (400, 413, 422)
        resp = post(api, "/v1/txs/batch", ('{"txs": [' + _tx_with_args(nested) + "]}").encode())
        assert resp.status_code in (200, 400, 413)
        if resp.status_code == 200:
            assert [r["ok"] for r in resp.json()["results"]] == [False]
        resp = post(api, "/v1/explorer/verify", nested.encode())
        assert resp.status_code in (200, 400, 413)
        if resp.status_code == 200:
            assert resp.json()["ok"] is False


INVALID_UTF8 = [b'{"payload": "\xff\xfe"}', b'"\xed\xa0\x80"', b'{"a": "\xc0\xaf"}', b"\x80",
                b'{"a": "\xed\xa0\x80"}']


@pytest.mark.parametrize("body", INVALID_UTF8)
def test_invalid_utf8(api: Api, body: bytes) -> None:
    assert code_of(post(api, "/v1/txs", body)) == "malformed_json"
    assert code_of(post(api, "/v1/txs/batch", body)) == "malformed_json"
    resp = post(api, "/v1/explorer/verify", body)  # json.loads(bytes) lets surrogates through
    assert resp.status_code == 400 or resp.json()["ok"] is False


def test_a_number_too_large_for_a_float(api: Api) -> None:
    resp = post(api, "/v1/txs", _tx_with_args("1e400").encode())
    assert resp.status_code == 400 and code_of(resp) == "malformed_tx"
    assert "payload.args.x" in resp.json()["error"]["message"]
    resp = post(api, "/v1/txs/batch", ('{"txs": [' + _tx_with_args("1e400") + "]}").encode())
    assert resp.status_code == 200
    [result] = resp.json()["results"]
    assert result["ok"] is False and result["error"]["code"] == "malformed_tx"
    for huge in (b"1e400", b"-1e400"):
        [result] = post(api, "/v1/txs/batch", b'{"txs": [' + huge + b"]}").json()["results"]
        assert result["ok"] is False and result["error"]["code"] == "malformed_tx"
    assert code_of(post(api, "/v1/txs", b"1" * 5000)) == "malformed_json"
    resp = post(api, "/v1/explorer/verify", b'{"format": 1e400}')
    assert resp.status_code == 400 or resp.json()["ok"] is False


def test_duplicate_keys_in_transactions(api: Api) -> None:
    tx = _tx_with_args('"v"')
    dup = tx.replace('"nonce": "n1"', '"nonce": "n1", "nonce": "n2"')
    assert code_of(post(api, "/v1/txs", dup.encode())) == "malformed_json"
    assert code_of(post(api, "/v1/txs/batch", b'{"txs": [], "txs": [' + dup.encode() + b"]}")) \
        == "malformed_json"
    assert code_of(post(api, "/v1/txs/batch", ('{"txs": [' + dup + "]}").encode())) \
        == "malformed_json"


def test_duplicate_keys_in_an_uploaded_certificate(api: Api) -> None:
    rid = api.scenario.ids["compliance"]
    cert = api.client.get(f"/v1/certificates/{rid}")
    assert cert.status_code == 200
    assert post(api, "/v1/explorer/verify", cert.content).json()["ok"] is True
    forged = b'{"retirement_id": "' + b"00" * 32 + b'", ' + cert.content.lstrip()[1:]
    resp = post(api, "/v1/explorer/verify", forged)
    assert resp.status_code == 400 or resp.json()["ok"] is False, resp.text[:300]


def json_values(text: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    leaves = (st.none() | st.booleans() | st.integers(-(2**70), 2**70) | text
              | st.floats(allow_nan=False, allow_infinity=False))
    return st.recursive(leaves, lambda kids: st.lists(kids, max_size=4)
                        | st.dictionaries(text, kids, max_size=4), max_leaves=12)


def tx_bodies(api: Api, text: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    """Transaction-shaped JSON: each field plausible (real chain id, contracts, signer
    keys, signature-sized hex) or anything at all; sometimes a field more or less."""
    any_json = json_values(text)
    keys = sorted(k.public_key_hex for k in api.scenario.chain.h.keys.values())
    hex_sig = st.binary(min_size=64, max_size=64).map(bytes.hex)
    payload = st.fixed_dictionaries({
        "chain_id": st.sampled_from([api.node.chain_id, "fcl-elsewhere"]) | any_json,
        "contract": st.sampled_from(["notary", "carbon", "membership", "governance"]) | any_json,
        "method": st.sampled_from(["record", "register_plot", "retire_voluntary"]) | any_json,
        "args": st.dictionaries(text, any_json, max_size=4) | any_json,
        "nonce": text | any_json,
        "signers": st.lists(st.sampled_from(keys), max_size=3) | any_json,
    })
    tx = st.fixed_dictionaries({"payload": payload,
                                "signatures": st.lists(hex_sig, max_size=3) | any_json})
    extra = st.dictionaries(text, any_json, max_size=2)
    return st.one_of(tx, st.tuples(tx, extra).map(lambda te: {**te[1], **te[0]}),
                     tx.map(lambda t: {k: v for k, v in t.items() if k != "signatures"}))


def test_json_bodies_with_any_values(api: Api) -> None:
    """Arbitrary and transaction-shaped JSON to every JSON POST: no 5xx, the error shape,
    nothing admitted or committed, and a batch answers one refusal per item."""
    text = st.text(max_size=10)
    body = st.one_of(tx_bodies(api, text), json_values(text))

    @settings(FUZZ, max_examples=EXAMPLES * 8)
    @given(item=body, batch=st.lists(tx_bodies(api, text), min_size=1, max_size=5))
    def run(item: Any, batch: list[Any]) -> None:
        raw = json.dumps(item).encode()
        post(api, "/v1/txs", raw)
        post(api, "/v1/explorer/verify", raw)
        post(api, "/explorer/verify", raw)
        resp = post(api, "/v1/txs/batch", json.dumps({"txs": batch}).encode())
        assert resp.status_code == 200, resp.text[:300]
        results = resp.json()["results"]
        assert [r["index"] for r in results] == list(range(len(batch)))
        assert all(r["ok"] is False and set(r["error"]) == {"code", "message"} for r in results)
        # a dry run of the same: an error answer or a would-be result, never a change
        post(api, "/v1/txs/simulate", json.dumps({"tx": item}).encode())
        post(api, "/v1/txs/simulate", json.dumps({"txs": batch}).encode())

    run()


_UPLOAD_TYPES = ["multipart/form-data; boundary=XyZ", "multipart/form-data",
                 "multipart/form-data; boundary=", 'multipart/form-data; boundary="a b"',
                 "multipart/mixed; boundary=XyZ", "application/x-www-form-urlencoded",
                 "application/x-www-form-urlencoded; charset=latin-1", "application/json",
                 "text/plain", "multipart/form-data; boundary=XyZ; charset=utf-16"]
_PAYLOADS = [b"{}", b"[1]", b'{"format": 1}', b"\xff", b"", b'{"a": 1e400}', b'{"a": "\\udfff"}']


def _part(name: str, filename: str | None, ctype: str, payload: bytes) -> bytes:
    head = f'--XyZ\r\nContent-Disposition: form-data; name="{name}"'
    if filename is not None:
        head += f'; filename="{filename}"'
    if ctype:
        head += f"\r\nContent-Type: {ctype}"
    return head.encode() + b"\r\n\r\n" + payload + b"\r\n"


def test_certificate_uploads_in_any_form(api: Api) -> None:
    """Multipart and urlencoded forms, broken or not, to both verify routes: no 5xx, an
    HTML page or the JSON error shape for every refusal, nothing changed."""
    names = st.sampled_from(["certificate", "certificate_json", "x"]) | st.text(
        st.characters(min_codepoint=32, max_codepoint=126, exclude_characters='"\\'), max_size=5)
    part = st.builds(_part, names, st.none() | st.sampled_from(["", "c.json", "../x"]),
                     st.sampled_from(["", "application/json", "text/plain; charset=utf-16",
                                      "text/plain; charset=bogus"]),
                     st.sampled_from(_PAYLOADS) | st.binary(max_size=24))
    forms = st.lists(part, max_size=3).map(lambda parts: b"".join(parts) + b"--XyZ--\r\n")
    urlencoded = st.lists(st.sampled_from([b"certificate_json=%7B%7D", b"certificate_json=%ff",
                                           b"certificate_json=%5B1%5D", b"x=1", b"%%", b"="]),
                          max_size=3).map(b"&".join)

    @settings(FUZZ, max_examples=EXAMPLES * 8)
    @given(ctype=st.sampled_from(_UPLOAD_TYPES), body=forms | urlencoded | st.binary(max_size=48),
           path=st.sampled_from(["/v1/explorer/verify", "/explorer/verify"]))
    def run(ctype: str, body: bytes, path: str) -> None:
        resp = post(api, path, body, **{"content-type": ctype})
        assert resp.status_code in (200, 400, 413, 415), (path, ctype, body, resp.status_code)
        if resp.status_code == 200 and path.startswith("/v1/"):
            assert resp.json()["ok"] is False

    run()


SURROGATE_KEYS = ['{"\\ud800": 1}', '{"x": {"\\udfff": "v"}}']


@pytest.mark.parametrize("path", ["/v1/txs", "/v1/txs/batch", "/v1/explorer/verify",
                                  "/explorer/verify"])
def test_lone_surrogate_object_keys(api: Api, path: str) -> None:
    for args in SURROGATE_KEYS:
        tx = _tx_with_args(args)
        body = {"/v1/txs": tx, "/v1/txs/batch": '{"txs": [' + tx + "]}"}.get(path, args)
        resp = post(api, path, body.encode())
        assert resp.status_code in (200, 400)


@pytest.mark.parametrize("count", [MAX_BATCH_TXS + 1, 10_000])
def test_batch_over_the_limit(api: Api, count: int) -> None:
    body = ('{"txs": [' + ",".join([_tx_with_args("1")] * count) + "]}").encode()
    resp = post(api, "/v1/txs/batch", body)
    assert resp.status_code in (400, 413)
    assert code_of(resp) == ("malformed_request" if len(body) <= MAX_BODY_BYTES
                             else "request_too_large")
    resp = post(api, "/v1/txs/batch", b'{"txs": [' + b",".join([b"{}"] * count) + b"]}")
    assert code_of(resp) == "malformed_request"


def test_a_full_batch_of_junk_is_refused_item_by_item(api: Api) -> None:
    resp = post(api, "/v1/txs/batch", b'{"txs": [' + b",".join([b"{}"] * MAX_BATCH_TXS) + b"]}")
    results = resp.json()["results"]
    assert len(results) == MAX_BATCH_TXS
    assert {(r["ok"], r["error"]["code"]) for r in results} == {(False, "malformed_tx")}


TRAVERSALS = ["..%2f..%2fetc%2fpasswd", "%2e%2e%2f%2e%2e%2fnode%2frpc.py", "..%5c..%5capp.py",
              "%2e%2e", "....//....//etc//passwd", "%252e%252e%252f"]
ID_ROUTES = ["/v1/txs/{}", "/v1/blocks/{}", "/v1/certificates/{}", "/v1/explorer/txs/{}",
             "/v1/explorer/blocks/{}", "/v1/explorer/projects/{}", "/v1/explorer/trace/{}",
             "/v1/explorer/accounts/{}", "/v1/explorer/batches/{}",
             "/v1/explorer/certificates/{}", "/v1/explorer/verify/{}", "/explorer/static/{}",
             "/explorer/txs/{}", "/explorer/projects/{}"]


@pytest.mark.parametrize("route", ID_ROUTES)
def test_path_traversal_in_ids(api: Api, route: str) -> None:
    for ident in TRAVERSALS:
        path = route.format(ident)
        resp = api.client.get(path, follow_redirects=False)
        assert resp.status_code in (307, 400, 404), (path, resp.status_code)
        assert_answer(resp.status_code, resp.headers, resp.content, path,
                      html=path.startswith("/explorer/"))
        for leak in (b"root:", b"import ", b"def "):
            assert leak not in resp.content, path
    assert api.client.get("/explorer/static/explorer.css").status_code == 200


UNICODE_IDS = ["１２", "٣", "𝟙", "ǅ", "\u202e12", "1\u200b", "Ａ" * 64, "é" * 64, "日本",
               "\U0001f332", "\ufeff1", "AH\u20110001"]


@pytest.mark.parametrize("route", ID_ROUTES)
def test_unicode_in_path_parameters(api: Api, route: str) -> None:
    """Look-alike digits and letters are never read as ids or heights."""
    for ident in UNICODE_IDS:
        path = route.format(quote(ident, safe=""))
        resp = api.client.get(path, follow_redirects=False)
        assert resp.status_code in (400, 404), (path, resp.status_code)
        assert_answer(resp.status_code, resp.headers, resp.content, path,
                      html=path.startswith("/explorer/"))
