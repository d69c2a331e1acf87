"""The exports (explorer/export.py, explorer/cadt.py; docs/explorer.md, "Exports"): CSV with
a byte order mark and RFC 4180 quoting, the formula guard, streaming in key order with one
seek per internal page, cursors, GeoJSON validity, CAD Trust field names, HEAD, the
explorer's access log and the export links of the list pages."""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from chaincode.carbon_common import PLOT_PREFIX
from explorer import export
from explorer.export import (
    HOLDING_COLUMNS,
    PARAMETER_COLUMNS,
    PLOT_COLUMNS,
    PROJECT_COLUMNS,
    TRADE_COLUMNS,
    TRANSFER_COLUMNS,
    csv_chunks,
    decimal_degrees,
    plot_feature,
)
from tests.support.carbon_market import h256, square
from tests.support.explorer import Scenario, StoreMarket, build_scenario, make_client

TRICKY = '=林场 "一号", 安徽'
CSV_EXPORTS = {
    "/v1/export/orgs.csv": export.ORG_COLUMNS,
    "/v1/export/projects.csv": PROJECT_COLUMNS,
    "/v1/export/plots.csv": PLOT_COLUMNS,
    "/v1/export/issuances.csv": export.ISSUANCE_COLUMNS,
    "/v1/export/retirements.csv": export.RETIREMENT_COLUMNS,
    "/v1/export/holdings.csv": HOLDING_COLUMNS,
    "/v1/export/holdings.csv?account=buyer-steel": HOLDING_COLUMNS,
    "/v1/export/trades.csv": TRADE_COLUMNS,
    "/v1/export/transfers.csv": TRANSFER_COLUMNS,
    "/v1/export/parameters.csv": PARAMETER_COLUMNS,
    "/v1/export/parameter-history.csv": export.PARAMETER_HISTORY_COLUMNS,
}


@pytest.fixture(scope="module")
def sc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    """The explorer scenario plus a project whose name has a formula start, a quote, a
    comma and Chinese characters, and a plot registered with a clockwise ring."""
    scenario = build_scenario(Path(tmp_path_factory.mktemp("exports")) / "store")
    m = StoreMarket(scenario.chain)
    m._square = 77
    m.plot("ZH1", "coop", "chinese_fir")
    m.plot("CW1", "coop", "chinese_fir", ring=square(79)[::-1])
    scenario.chain.ok("coop", "submit_project", {
        "project_id": "ZH-0001", "name": TRICKY, "methodology": "CCER-14-001-V01",
        "plots": ["ZH1", "CW1"], "start_date": "2018-01-01", "crediting_period_years": 30,
        "baseline": "0", "risk_rating": "low", "pdd_sha256": h256("pdd:ZH-0001")})
    yield scenario
    scenario.store.close()


@pytest.fixture(scope="module")
def client(sc: Scenario) -> Iterator[TestClient]:
    with make_client(sc) as c:
        yield c


def rows_of(body: bytes) -> list[list[str]]:
    assert body.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(body[3:].decode("utf-8"), newline="")))


# -- CSV ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("url", "columns"), CSV_EXPORTS.items())
def test_every_csv_export_has_a_bom_header_and_attachment_name(client: TestClient, url: str,
                                                               columns: tuple[str, ...]) -> None:
    r = client.get(url)
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.headers["content-disposition"].startswith('attachment; filename="')
    assert r.content[:3] == b"\xef\xbb\xbf"
    rows = rows_of(r.content)
    assert tuple(rows[0]) == columns
    assert len(rows) > 1 and all(len(row) == len(columns) for row in rows)
    assert r.content.endswith(b"\r\n")


def test_rfc4180_quoting_of_comma_quote_and_chinese_with_the_formula_guard(
        client: TestClient) -> None:
    r = client.get("/v1/export/projects.csv")
    # quoted because of the comma and the quote; quotes doubled; ' before the leading =
    assert '"\'=林场 ""一号"", 安徽"'.encode() in r.content
    rows = rows_of(r.content)
    row = next(row for row in rows if row[0] == "ZH-0001")
    assert row[rows[0].index("name")] == "'" + TRICKY
    plots = rows_of(client.get("/v1/export/plots.csv").content)
    assert "皖林权F1" in [row[plots[0].index("tenure_doc_number")] for row in plots]


def test_formula_guard_and_cell_forms() -> None:
    rows = [{"a": "=1+1", "b": "+86 555", "c": "-2", "d": "@SUM(A1)", "e": "\tx"},
            {"a": -5, "b": True, "c": None, "d": {"k": "v"}, "e": "plain"}]
    text = b"".join(csv_chunks("abcde", [("1", rows)])).decode("utf-8")
    assert text == ("\ufeffa,b,c,d,e\r\n'=1+1,'+86 555,'-2,'@SUM(A1),'\tx\r\n"
                    '-5,true,,"{""k"":""v""}",plain\r\n')


@given(st.lists(st.text(), min_size=1, max_size=5))
def test_any_text_reads_back_from_the_csv(cells: list[str]) -> None:
    """RFC 4180 round trip: every text cell reads back as written, with the ``'`` of the
    formula guard exactly when it starts like a formula."""
    columns = [f"c{i}" for i in range(len(cells))]
    body = b"".join(csv_chunks(columns, [("k", [dict(zip(columns, cells, strict=True))])]))
    rows = rows_of(body)
    expected = ["'" + c if c.startswith(("=", "+", "-", "@", "\t", "\r")) else c for c in cells]
    assert rows == [columns, expected]


@given(st.integers(min_value=-180 * 10**7, max_value=180 * 10**7))
def test_decimal_degrees_are_exact(e7: int) -> None:
    text = decimal_degrees(e7)
    assert Decimal(text) * 10**7 == e7 and len(text.split(".")[1]) == 7


def test_retirement_reason_formula_is_guarded(client: TestClient, sc: Scenario) -> None:
    rows = rows_of(client.get("/v1/export/retirements.csv").content)
    col = rows[0].index("reason")
    assert "'=HYPERLINK(\"http://x\")" in [row[col] for row in rows[1:]]


def test_streaming_reads_in_key_order_one_seek_per_page(
        client: TestClient, sc: Scenario, monkeypatch: pytest.MonkeyPatch) -> None:
    """With one record per internal page every row still comes, in key order, and each
    page seeks from the last key of the page before (never from the first record)."""
    full = rows_of(client.get("/v1/export/plots.csv").content)
    keys = [k for k, _ in sc.store.iter_prefix(PLOT_PREFIX)]
    starts: list[str | None] = []
    real = sc.store.iter_prefix

    def recording(prefix: str, start: str | None = None) -> Any:
        if prefix == PLOT_PREFIX:
            starts.append(start)
        return real(prefix, start)

    monkeypatch.setattr(export, "EXPORT_PAGE", 1)
    monkeypatch.setattr(sc.store, "iter_prefix", recording)
    paged = rows_of(client.get("/v1/export/plots.csv").content)
    assert paged == full
    assert [row[0] for row in paged[1:]] == [k[len(PLOT_PREFIX):] for k in keys]
    assert starts == [PLOT_PREFIX] + [k + "\x00" for k in keys]


@pytest.mark.parametrize("url", [u for u in CSV_EXPORTS if "?" not in u])
def test_pages_with_cursors_give_the_whole_export(client: TestClient, url: str) -> None:
    full = rows_of(client.get(url).content)
    got: list[list[str]] = []
    cursor: str | None = None
    pages = 0
    while True:
        params = {"limit": "1"} if cursor is None else {"limit": "1", "after": cursor}
        r = client.get(url, params=params)
        rows = rows_of(r.content)
        assert rows[0] == full[0]
        got += rows[1:]
        pages += 1
        cursor = r.headers.get("x-next-cursor")
        if cursor is None:
            break
    assert got == full[1:]
    assert pages == len(full) - 1  # one record a page (each record here has one row)


@pytest.mark.parametrize(("url", "status", "code"), [
    ("/v1/export/issuances.csv?project=NOPE", 404, "unknown_project"),
    ("/v1/export/issuances.csv?project=%20", 400, "bad_id"),
    ("/v1/export/holdings.csv?account=nobody-here", 404, "unknown_account"),
    ("/v1/export/holdings.csv?account=a%2Fb", 400, "bad_id"),
    ("/v1/export/projects.csv?limit=0", 400, "bad_limit"),
    ("/v1/export/trades.csv?limit=5001", 400, "bad_limit"),
    ("/v1/export/transfers.csv?after=%3Cx%3E", 400, "bad_cursor"),
    ("/v1/explorer/projects/NOPE/plots.geojson", 404, "unknown_project"),
    ("/v1/explorer/projects/%20/plots.geojson", 400, "bad_id"),
    ("/v1/explorer/projects/AH-0001/plots.geojson?after=F1", 400, "bad_cursor"),
    ("/v1/export/cadt/issuances?project=NOPE", 404, "unknown_project"),
    ("/v1/export/cadt/units?project=AH-0001&after=AH-0002/000000000001", 400, "bad_cursor"),
    ("/v1/export/cadt/projects?limit=1001", 400, "bad_limit"),
])
def test_bad_export_input_gives_a_stable_code(client: TestClient, url: str, status: int,
                                              code: str) -> None:
    r = client.get(url)
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code and r.json()["error"]["message"]
    head = client.head(url)
    assert head.status_code == status and head.content == b""


# -- GeoJSON --------------------------------------------------------------------------------
def _twice_area(ring: list[list[Decimal]]) -> Decimal:
    return sum((a[0] * b[1] - b[0] * a[1] for a, b in zip(ring, ring[1:], strict=False)),
               Decimal(0))


def _check_collection(doc: dict[str, Any]) -> None:
    assert doc["type"] == "FeatureCollection" and isinstance(doc["features"], list)
    for f in doc["features"]:
        assert f["type"] == "Feature" and f["geometry"]["type"] == "Polygon"
        rings = f["geometry"]["coordinates"]
        assert len(rings) == 1 and len(rings[0]) >= 4
        ring = rings[0]
        assert ring[0] == ring[-1]  # closed
        for lon, lat in ring:
            assert -180 <= lon <= 180 and -90 <= lat <= 90
        assert _twice_area(ring) > 0  # counterclockwise: the right-hand rule
        assert {"plot_id", "project_id", "owner_org", "area_ha", "species", "county_code",
                "planting_date"} <= set(f["properties"])


def test_plots_geojson_is_a_valid_feature_collection(client: TestClient, sc: Scenario) -> None:
    r = client.get("/v1/explorer/plots.geojson")
    assert r.status_code == 200 and r.headers["content-type"] == "application/geo+json"
    doc = json.loads(r.content, parse_float=Decimal)
    _check_collection(doc)
    assert [f["id"] for f in doc["features"]] == [
        k[len(PLOT_PREFIX):] for k, _ in sc.store.iter_prefix(PLOT_PREFIX)]
    f1 = next(f for f in doc["features"] if f["id"] == "F1")
    stored = sc.chain.get("plot/F1")
    assert [[int(c * 10**7) for c in p] for p in f1["geometry"]["coordinates"][0]] == \
        stored["polygon"]["coordinates"][0]  # exact, longitude first
    assert f1["properties"]["area_ha"] == "99.9327" and f1["properties"]["project_id"] == "AH-0001"


def test_a_clockwise_ring_is_written_counterclockwise(client: TestClient, sc: Scenario) -> None:
    doc = json.loads(client.get("/v1/explorer/projects/ZH-0001/plots.geojson").content,
                     parse_float=Decimal)
    _check_collection(doc)
    assert [f["id"] for f in doc["features"]] == ["ZH1", "CW1"]
    stored = sc.chain.get("plot/CW1")["polygon"]["coordinates"][0]
    written = [[int(c * 10**7) for c in p] for p in doc["features"][1]["geometry"]["coordinates"][0]]
    assert written == stored[::-1]


def test_plot_feature_closes_and_orients_a_ring() -> None:
    plot = {"id": "X", "area_m2": 12345, "polygon": {"type": "Polygon", "coordinates": [
        [[0, 0], [0, 10_000_000], [-1_800_000_000, 10_000_000], [0, 0]]]}}
    f = json.loads(plot_feature(plot), parse_float=Decimal)
    ring = f["geometry"]["coordinates"][0]
    assert ring[0] == ring[-1] and _twice_area(ring) > 0
    assert [-180, 1] in ring and f["properties"]["area_ha"] == "1.2345"


def test_project_plots_geojson_pages_by_position(client: TestClient) -> None:
    first = client.get("/v1/explorer/projects/AH-0001/plots.geojson?limit=1")
    assert first.headers["x-next-cursor"] == "0"
    rest = client.get("/v1/explorer/projects/AH-0001/plots.geojson?after=0")
    ids = [f["id"] for r in (first, rest) for f in json.loads(r.content)["features"]]
    assert ids == ["F1", "F2", "F3"]


# -- CAD Trust --------------------------------------------------------------------------------
def test_cadt_projects_use_the_data_model_field_names(client: TestClient) -> None:
    doc = client.get("/v1/export/cadt/projects").json()
    p = next(p for p in doc["projects"] if p["projectId"] == "AH-0001")
    for name in ("warehouseProjectId", "projectId", "projectName", "projectLink",
                 "projectDeveloper", "sector", "projectType", "methodology", "projectStatus",
                 "unitMetric", "projectLocations"):
        assert name in p
    assert p["projectStatus"] == "Registered" and p["projectDeveloper"] == "Owner Farm"
    assert p["projectLink"].endswith("/explorer/projects/AH-0001")


def test_cadt_issuances_and_units(client: TestClient, sc: Scenario) -> None:
    issuances = client.get("/v1/export/cadt/issuances?project=AH-0002").json()["issuances"]
    assert [i["fcl"]["batch_id"] for i in issuances] == ["B3"]
    assert {"id", "warehouseProjectId", "startDate", "endDate", "verificationBody"} <= set(
        issuances[0])
    units = client.get("/v1/export/cadt/units", params={"limit": 1000}).json()["units"]
    total = sum(u["unitCount"] for u in units)
    assert total == sum(b["quantity"] for b in (sc.ids["b1"], sc.ids["b2"], sc.ids["b3"]))
    for u in units:
        assert {"warehouseUnitId", "issuanceId", "serialNumberBlock", "unitCount", "vintageYear",
                "unitStatus", "unitOwner"} <= set(u)
    assert {u["unitStatus"] for u in units} >= {"Held", "Retired", "Cancelled", "Buffer"}


def test_cadt_units_page_with_cursors(client: TestClient) -> None:
    whole = client.get("/v1/export/cadt/units?project=AH-0001&limit=1000").json()
    assert whole["next"] is None
    got, after = [], None
    while True:
        params: dict[str, Any] = {"project": "AH-0001", "limit": 3}
        if after:
            params["after"] = after
        page = client.get("/v1/export/cadt/units", params=params).json()
        got += page["units"]
        after = page["next"]
        if after is None:
            break
    assert got == whole["units"]


# -- HEAD, access log, links --------------------------------------------------------------------
@pytest.mark.parametrize("url", [
    "/v1/explorer/dashboard", "/explorer/projects", "/v1/explorer/projects/AH-0001",
    "/v1/export/projects.csv", "/v1/explorer/plots.geojson", "/v1/export/cadt/units",
    "/explorer/static/explorer.css", "/explorer/no/such/page", "/v1/explorer/blocks/999999",
])
def test_head_gives_the_get_status_and_headers_without_a_body(client: TestClient,
                                                              url: str) -> None:
    got, head = client.get(url), client.head(url)
    assert head.status_code == got.status_code
    assert head.content == b""
    assert dict(head.headers) == dict(got.headers)


def test_head_of_an_export_reads_no_records(client: TestClient, sc: Scenario,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[str] = []
    real = sc.store.iter_prefix

    def recording(prefix: str, start: str | None = None) -> Any:
        reads.append(prefix)
        return real(prefix, start)

    monkeypatch.setattr(sc.store, "iter_prefix", recording)
    assert client.head("/v1/export/plots.csv").status_code == 200
    assert PLOT_PREFIX not in reads
    client.get("/v1/export/plots.csv")
    assert PLOT_PREFIX in reads


def test_the_explorer_app_writes_an_access_log_line(client: TestClient,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="explorer.access"):
        client.get("/v1/export/trades.csv?limit=1&secret=abc")
    lines = [r for r in caplog.records if r.name == "explorer.access"]
    assert len(lines) == 1
    line = lines[0].__dict__
    assert line["method"] == "GET" and line["path"] == "/v1/export/trades.csv"
    assert line["status"] == 200 and line["bytes"] > 3 and line["duration_ms"] >= 0
    assert "secret" not in json.dumps({k: str(v) for k, v in line.items()})


@pytest.mark.parametrize(("page", "links"), [
    ("/explorer/projects", ["/v1/export/projects.csv", "/v1/export/plots.csv",
                            "/v1/explorer/plots.geojson", "/v1/export/cadt/projects"]),
    ("/explorer/projects/AH-0001", ["/v1/explorer/projects/AH-0001/plots.geojson",
                                    "/v1/export/issuances.csv?project=AH-0001"]),
    ("/explorer/batches", ["/v1/export/issuances.csv", "/v1/export/cadt/issuances",
                           "/v1/export/cadt/units"]),
    ("/explorer/retirements", ["/v1/export/retirements.csv"]),
    ("/explorer/orgs", ["/v1/export/orgs.csv", "/v1/export/holdings.csv"]),
    ("/explorer/accounts/buyer-steel", ["/v1/export/holdings.csv?account=buyer-steel"]),
    ("/explorer/", ["/v1/export/trades.csv", "/v1/export/transfers.csv",
                    "/v1/export/parameters.csv", "/v1/export/parameter-history.csv"]),
])
def test_list_pages_link_to_their_exports(client: TestClient, page: str,
                                          links: list[str]) -> None:
    html = client.get(page).text
    for link in links:
        assert f'href="{link}"' in html, link
        assert client.get(link).status_code == 200
