"""Issue 15: the project pipeline (/explorer/projects): each project's status and the date
of each step (submitted, validated, registered), filterable by status and county."""

from __future__ import annotations

from typing import Any

import pytest

from explorer.i18n import LABELS, VALUES
from tests.support.explorer import Scenario, module_fixtures
from tests.support.market_scenario import OTHER_COUNTY, build_market_scenario

sc, client = module_fixtures("explorer-pipe", build_market_scenario)


def height_of_tx(sc: Scenario, tx_id: str) -> int:
    location = sc.store.get_tx_location(tx_id)
    assert location is not None
    return location[0]


def test_pipeline_steps_have_the_heights_of_their_transactions(client, sc: Scenario) -> None:
    d = client.get("/v1/explorer/projects").json()
    by_id = {p["id"]: p for p in d["projects"]}
    assert sorted(by_id) == ["AH-0001", "AH-0002", "XC-0001", "XC-0002", "XC-0003"]
    for pid, p in by_id.items():
        project = sc.chain.get(f"project/{pid}")
        pipe = p["pipeline"]
        assert pipe["submitted"]["height"] == project["created_height"]
        if project["validation_attestation"]:
            att = sc.chain.get(f"attestation/{project['validation_attestation']}")
            assert pipe["validated"]["height"] == att["created_height"]
            assert pipe["submitted"]["height"] < pipe["validated"]["height"]
        else:
            assert pipe["validated"] is None
        if project["registration"]:
            assert pipe["registered"]["height"] == project["registration"]["height"]
            assert pipe["registered"]["height"] > pipe["validated"]["height"]
            assert pipe["registered"]["time_iso"].startswith("20")
        else:
            assert pipe["registered"] is None
    assert [by_id[p]["status"] for p in ("XC-0001", "XC-0002", "XC-0003")] == [
        "registered", "validated", "submitted"]


@pytest.mark.parametrize(("query", "ids"), [
    ({"status": "registered"}, ["AH-0001", "AH-0002", "XC-0001"]),
    ({"status": "validated"}, ["XC-0002"]),
    ({"status": "submitted"}, ["XC-0003"]),
    ({"county": OTHER_COUNTY}, ["XC-0001"]),
    ({"county": OTHER_COUNTY, "status": "submitted"}, []),
    ({"county": "340122", "status": "registered"}, ["AH-0001", "AH-0002"]),
])
def test_pipeline_filters(client, query: dict[str, str], ids: list[str]) -> None:
    d = client.get("/v1/explorer/projects", params=query).json()
    assert [p["id"] for p in d["projects"]] == ids


def test_filtered_pages_with_a_cursor(client) -> None:
    seen: list[str] = []
    after = None
    while True:
        params: dict[str, Any] = {"status": "registered", "limit": 1}
        if after is not None:
            params["after"] = after
        d = client.get("/v1/explorer/projects", params=params).json()
        seen += [p["id"] for p in d["projects"]]
        after = d["next"]
        if after is None:
            break
    assert seen == ["AH-0001", "AH-0002", "XC-0001"]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_pipeline_page_in_both_languages(client, sc: Scenario, lang: str) -> None:
    html = client.get(f"/explorer/projects?lang={lang}").text
    main = html.split("<main>", 1)[1].split("</main>", 1)[0]
    assert LABELS["pipeline_registered"][lang] in main
    row = main.split('data-project="XC-0002"')[1].split("</tr>")[0]
    assert VALUES["project_status"]["validated"][lang] in row
    validated = row.split('data-step="validated">')[1].split("</td>")[0]
    registered = row.split('data-step="registered">')[1].split("</td>")[0]
    assert "/explorer/blocks/" in validated and registered == "—"
    page = client.get(f"/explorer/projects?lang={lang}&status=submitted").text
    assert page.count("<tr data-project=") == 1 and 'value="submitted" selected' in page


@pytest.mark.parametrize(("query", "code"), [
    ("status=issued", "bad_query"),
    ("county=34012", "bad_id"),
    ("after=%3Cx%3E", "bad_cursor"),
])
def test_bad_pipeline_requests(client, query: str, code: str) -> None:
    r = client.get(f"/v1/explorer/projects?{query}")
    assert r.status_code == 400 and r.json()["error"]["code"] == code
    assert client.get(f"/explorer/projects?{query}").status_code == 400


def test_a_filtered_page_reads_a_bounded_number_of_records(client, monkeypatch) -> None:
    """With the scan bound at 2 records, a filter that matches only the last project
    returns empty pages with a cursor where the scan stopped, and paging on reaches it."""
    import explorer.data

    monkeypatch.setattr(explorer.data, "PIPELINE_SCAN", 2)
    first = client.get("/v1/explorer/projects", params={"status": "submitted"}).json()
    assert first["projects"] == [] and first["next"] == "AH-0002"
    second = client.get("/v1/explorer/projects",
                        params={"status": "submitted", "after": first["next"]}).json()
    assert second["projects"] == [] and second["next"] == "XC-0002"
    third = client.get("/v1/explorer/projects",
                       params={"status": "submitted", "after": second["next"]}).json()
    assert [p["id"] for p in third["projects"]] == ["XC-0003"] and third["next"] is None
