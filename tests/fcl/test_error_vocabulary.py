"""One HTTP error vocabulary for the node's API and the explorer (ledger/api_errors.py):
every code either answers is in the one table, no code has two statuses, each code keeps
the status it had before the tables were merged, and both services answer a shared code
with the same status. Lives under tests/fcl because it serves node and explorer together,
as ``fcl node start`` does."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from chaincode.executor import Executor
from explorer.inputs import EXPLORER_CODES
from fcl.main import api_routers
from ledger.api_errors import (
    DEFAULT_STATUS,
    ERROR_SCHEMA,
    PASSTHROUGH_CODES,
    STATUS_BY_CODE,
    error_responses,
    status_of,
)
from ledger.genesis import Genesis
from ledger.store import Store
from node.api.history import HISTORY_ERRORS
from node.api.rpc import create_app
from node.api.service import Node
from node.api.snapshots import SNAPSHOT_ERRORS
from node.chain.app import Application
from node.txpool.mempool import Mempool
from tests.support.common import det_key, make_genesis

ROOT = Path(__file__).resolve().parents[2]

#: The tables as they were before they became one (node/api/rpc.py STATUS_BY_CODE,
#: node/api/history.py HISTORY_ERROR_STATUS, explorer/inputs.py STATUS_BY_CODE, and the
#: statuses node/api/http_server.py wrote by hand): the merged table must keep every status.
BEFORE: dict[str, dict[str, int]] = {
    "node": {
        "malformed_json": 400, "malformed_tx": 400, "malformed_request": 400, "bad_tx_id": 400,
        "bad_height": 400, "bad_request": 400, "wrong_chain": 422, "bad_signature": 422,
        "unknown_tx": 404, "unknown_block": 404, "unknown_retirement": 404, "not_found": 404,
        "method_not_allowed": 405, "duplicate_tx": 409, "tx_too_large": 413,
        "request_too_large": 413, "internal_error": 500, "mempool_full": 503, "halted": 503,
        "certificate_unavailable": 503,
    },
    "history": {"missing_parameter": 400, "bad_number": 400, "bad_range": 400,
                "beyond_chain": 404, "internal_error": 500},
    "explorer": {
        "bad_height": 400, "bad_tx_id": 400, "bad_id": 400, "bad_limit": 400, "bad_cursor": 400,
        "bad_query": 400, "bad_period": 400, "invalid_serial": 400, "no_certificate": 400,
        "not_json": 400, "malformed_certificate": 400, "malformed_form": 400,
        "unknown_block": 404, "unknown_tx": 404, "unknown_account": 404, "unknown_org": 404,
        "unknown_project": 404, "unknown_plot": 404, "unknown_report": 404,
        "unknown_attestation": 404, "unknown_batch": 404, "unknown_retirement": 404,
        "unknown_serial": 404, "not_found": 404, "upload_too_large": 413,
        "unsupported_media_type": 415, "certificate_unavailable": 503,
        "verifier_unavailable": 503,
    },
    "http_server": {"too_many_connections": 503, "request_timeout": 408},
    # codes added since, each deliberately (issue 11); permissioned admission: a signer that
    # is not an active key of an active organisation is forbidden, an organisation over its
    # mempool quota is told to slow down
    "added": {"too_many_connections_from_address": 429, "client_disconnected": 400,
              "verifier_busy": 503, "unenrolled_signer": 403, "org_quota_exceeded": 429,
              "admission_busy": 503,
              # issue 14, the free calculation service (chaincode.calc_service): the
              # calculator's refusals (docs/node.md "Calculation service")
              "invalid_date": 400, "too_many_measurements": 413, "invalid_period": 422,
              "duplicate_measurement": 422, "invalid_measurement": 422,
              "unknown_species": 422, "duplicate_stratum": 422, "invalid_strata": 422,
              "strata_area_mismatch": 422, "too_few_samples": 422,
              "implausible_volume": 422, "implausible_growth": 422,
              "invalid_parameter": 422, "unknown_param": 422, "invalid_param": 422,
              # issue 15, account statements and the reader's time zone (docs/explorer.md):
              # ?from= / ?to= that is not a date, ?tz= that names no time zone
              "bad_date": 400, "bad_tz": 400,
              # issue 12, the light-client routes (node/api/light.py): a node that lacks
              # the blocks to list the validator-set changes (it started from a snapshot)
              "light_unavailable": 503,
              # issue 12, state sync (node/api/snapshots.py, docs/state-sync.md): a chunk
              # index past the snapshot's last chunk; a height whose state or block the
              # node cannot read
              "unknown_chunk": 404, "snapshot_unavailable": 503,
              # issue 12, proofs of state (node/api/proofs.py; docs/state-proofs.md "The
              # proof API"): a key that is not a state key, a range not issued at the
              # height, and the bounds on keys, records and the answer's size
              "bad_key": 400, "units_not_found": 404, "too_many_keys": 413,
              "too_many_records": 413, "answer_too_large": 413},
}

#: Calls that carry an error code, and the position of the code among their arguments.
CODE_ARG: dict[str, int] = {
    "ApiError": 0, "ExplorerError": 0, "TxError": 0, "error_response": 0, "_response": 0,
    "_error": 0, "read_body": 2, "_optional": 2, "_record": 1, "_refuse": 0,
}

#: Functions that pass on a code they were given (the code is checked at their callers,
#: which the scan sees) -- a new forwarding site must be added here, deliberately.
FORWARDERS = {
    "read_body", "_optional", "_record", "_refuse",  # callers pass literal codes (scanned)
    "_api_error", "_ledger_error", "_http_error",  # node/api/rpc.py exception handlers
    "_as_explorer_error",
    "submit_raw_async",  # node/api/service.py: re-raises the code admission gave the item  # a lower layer's LedgerError code: status_of() (400 if unlisted)
    "consistency", "inclusion",  # node/api/history.py: answer a refusal raised above
    # node/api/service.py (issue 14, dry runs): re-raises the code parse_transaction or
    # _simulated_tx gave a batch item, its message prefixed with "txs[i]: "
    "parse_simulation",
    # node/api/rpc.py and explorer/app.py (issue 14, the calculation service): answer the
    # code chaincode.calc_service.calculate refused with (CALCULATION_CODES, all listed)
    "calculate", "calculator_page",
    # node/api/snapshots.py (issue 12, state sync): answer a refusal raised above, or the
    # readers pool's admission_busy (SNAPSHOT_ERRORS, all listed)
    "get_manifest", "get_chunk",
}

SCANNED = [*sorted((ROOT / "node" / "api").glob("*.py")), *sorted((ROOT / "node" / "txpool").glob("*.py")),
           ROOT / "ledger" / "tx.py", *sorted((ROOT / "explorer").glob("*.py"))]


def _name(func: ast.expr) -> str:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def _raise_sites() -> Iterator[tuple[str, str | None, str]]:
    """(where, code or None if not a literal, enclosing function) of every call in
    :data:`CODE_ARG` in the scanned files."""
    for path in SCANNED:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        parents: dict[ast.AST, ast.AST] = {}
        for node in ast.walk(tree):
            for child in ast.iter_child_nodes(node):
                parents[child] = node
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or _name(node.func) not in CODE_ARG:
                continue
            index = CODE_ARG[_name(node.func)]
            if len(node.args) <= index:
                continue  # a definition-style call without the code (none today)
            arg = node.args[index]
            up: ast.AST | None = node
            while up is not None and not isinstance(up, ast.FunctionDef | ast.AsyncFunctionDef):
                up = parents.get(up)
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            function = up.name if isinstance(up, ast.FunctionDef | ast.AsyncFunctionDef) else ""
            code = arg.value if isinstance(arg, ast.Constant) and isinstance(arg.value, str) else None
            yield where, code, function


def test_every_code_either_service_raises_is_in_the_table() -> None:
    sites = list(_raise_sites())
    literal = {code for _, code, _ in sites if code is not None}
    assert len(literal) > 40  # the scan sees the raise sites
    missing = sorted(f"{where}: {code}" for where, code, _ in sites
                     if code is not None and code not in STATUS_BY_CODE)
    assert not missing, "codes answered but not in ledger/api_errors.py:\n" + "\n".join(missing)
    unchecked = sorted(f"{where} in {fn}()" for where, code, fn in sites
                       if code is None and fn not in FORWARDERS)
    assert not unchecked, "a code that is not a literal, outside the known forwarders:\n" + "\n".join(
        unchecked)
    # the lists each service documents are in the table too
    for code in (*EXPLORER_CODES, *HISTORY_ERRORS, *SNAPSHOT_ERRORS):
        assert code in STATUS_BY_CODE, code


def test_no_code_has_two_statuses_and_none_changed() -> None:
    for service, table in BEFORE.items():
        for code, status in table.items():
            assert STATUS_BY_CODE[code] == status, (service, code)
    union = {code for table in BEFORE.values() for code in table}
    assert set(STATUS_BY_CODE) == union
    statuses: dict[str, set[int]] = {}
    for table in BEFORE.values():
        for code, status in table.items():
            statuses.setdefault(code, set()).add(status)
    assert {c: s for c, s in statuses.items() if len(s) > 1} == {}
    assert not PASSTHROUGH_CODES & set(STATUS_BY_CODE)
    assert status_of("some_lower_layer_code") == DEFAULT_STATUS == 400


def test_error_responses_list_each_code_under_its_one_status() -> None:
    doc = error_responses(["unknown_tx", "bad_tx_id", "not_found", "bad_tx_id"])
    assert set(doc) == {400, 404}
    assert doc[400]["description"] == "error codes: bad_tx_id"
    assert doc[404]["description"] == "error codes: unknown_tx, not_found"
    assert doc[404]["content"]["application/json"]["schema"] is ERROR_SCHEMA
    with pytest.raises(KeyError):
        error_responses(["no_such_code"])


# -- both services, served together ----------------------------------------------------------
@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory, genesis: Genesis) -> Iterator[TestClient]:
    store = Store(tmp_path_factory.mktemp("vocab") / "db")
    node = Node(moniker="vocab", genesis=genesis, store=store,
                app=Application(store, Executor(), genesis), mempool=Mempool(10, 1 << 20))
    app: FastAPI = create_app(node, routers=api_routers(node))
    with TestClient(app) as c:
        yield c
    store.close()


@pytest.fixture(scope="module")
def genesis() -> Genesis:
    return make_genesis([(det_key("validator-0"), 10)], det_key("regulator"))


def _error(client: TestClient, path: str) -> tuple[int, str]:
    response = client.get(path)
    body: Any = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    return response.status_code, body["error"]["code"]


@pytest.mark.parametrize(("node_path", "explorer_path", "expected"), [
    ("/v1/txs/" + "ab" * 32, "/v1/explorer/txs/" + "ab" * 32, (404, "unknown_tx")),
    ("/v1/txs/xyz", "/v1/explorer/txs/xyz", (400, "bad_tx_id")),
    ("/v1/blocks/0", "/v1/explorer/blocks/0", (400, "bad_height")),
    ("/v1/blocks/7", "/v1/explorer/blocks/7", (404, "unknown_block")),
    ("/v1/no-such-route", "/v1/explorer/static/none.css", (404, "not_found")),
    ("/v1/certificates/" + "cd" * 32, "/v1/explorer/retirements/" + "cd" * 32,
     (404, "unknown_retirement")),
])
def test_node_and_explorer_answer_a_shared_code_with_the_same_status(
    client: TestClient, node_path: str, explorer_path: str, expected: tuple[int, str]
) -> None:
    assert _error(client, node_path) == expected
    assert _error(client, explorer_path) == expected


def test_both_openapi_documents_list_error_bodies(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    seen_node = seen_explorer = 0
    for path, ops in doc["paths"].items():
        for op in ops.values():
            errors = {int(s): r for s, r in op.get("responses", {}).items()
                      if s.isdigit() and int(s) >= 400}
            for status, response in errors.items():
                schema = response["content"]["application/json"]["schema"]
                assert schema == ERROR_SCHEMA or schema.get("$ref"), (path, status)
                codes = response["description"].removeprefix("error codes: ").split(", ")
                assert all(STATUS_BY_CODE.get(c) == status for c in codes if c != "Validation Error"
                           ), (path, status, codes)
            if errors and path.startswith("/v1/explorer"):
                seen_explorer += 1
            elif errors:
                seen_node += 1
    assert seen_node >= 5 and seen_explorer >= 5
