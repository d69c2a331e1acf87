"""Issue 15, "issuance and retirement lists ... filterable and paged": the retirement list
by project, vintage, use, beneficiary, reason (plus enterprise and compliance period), the
issuance list by project and vintage; each filter as a GET form (no JavaScript), in the
JSON twin, paged without skipping or repeating a match, and every bad value refused with
a stable code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import explorer.data
from explorer.data import accreditation_state
from explorer.i18n import LABELS, VALUES
from tests.support.explorer import (
    Scenario,
    StoreMarket,
    build_scenario,
    main_of,
    module_fixtures,
)

BENEFICIARY = "Green Village 绿色村"
REASON = "Annual offset of the village school"


def build_list_scenario(path: Path) -> Scenario:
    """The explorer scenario (a compliance retirement of buyer-steel and a voluntary one of
    buyer-power, both of AH-0001) plus two voluntary retirements by the coop of AH-0002
    units, one with a beneficiary and reason of its own."""
    scenario = build_scenario(path)
    m = StoreMarket(scenario.chain)
    # verifier-a's accreditation renewed to expire one minute from the next block (blocks
    # here are a minute apart): expired at the tip; verifier-b's renewed for a year
    chain = scenario.chain
    chain.ok("regulator", "set_accreditation", {
        "org_id": "verifier-a", "action": "renew", "valid_until": chain.time + 90_000},
        contract="membership")
    chain.ok("regulator", "set_accreditation", {
        "org_id": "verifier-b", "action": "renew",
        "valid_until": chain.time + 365 * 86_400_000}, contract="membership")
    one = m.ok("coop", "retire_voluntary", {"quantity": 1, "beneficiary": BENEFICIARY,
                                            "reason": REASON})
    two = m.ok("coop", "retire_voluntary", {"quantity": 2, "beneficiary": "Coop members",
                                            "reason": "members' pledge"})
    scenario.ids["coop_1"] = one["retirement_id"]
    scenario.ids["coop_2"] = two["retirement_id"]
    return scenario


sc, client = module_fixtures("explorer-lists", build_list_scenario)


def ids(body: dict[str, Any]) -> list[str]:
    return [r["id"] for r in body["retirements"]]


def everything(client: Any) -> list[dict[str, Any]]:
    body = client.get("/v1/explorer/retirements?limit=100").json()
    assert body["next"] is None
    return list(body["retirements"])


def model(rows: list[dict[str, Any]], **want: Any) -> list[str]:
    """The hand-written filter the explorer must agree with."""
    out = []
    for r in rows:
        if "project" in want and want["project"] not in r["project_ids"]:
            continue
        if "vintage" in want and want["vintage"] not in {g["vintage"] for g in r["ranges"]}:
            continue
        if "purpose" in want and r["purpose"] != want["purpose"]:
            continue
        if "beneficiary" in want and want["beneficiary"].lower() not in (r["beneficiary"] or "").lower():
            continue
        if "reason" in want and want["reason"].lower() not in (r["reason"] or "").lower():
            continue
        out.append(r["id"])
    return out


def test_the_scenario_has_what_the_filters_tell_apart(client, sc: Scenario) -> None:
    rows = everything(client)
    assert len(rows) == 4
    assert {p for r in rows for p in r["project_ids"]} == {"AH-0001", "AH-0002"}
    assert {r["purpose"] for r in rows} == {"compliance", "voluntary"}


@pytest.mark.parametrize("want", [
    {"project": "AH-0002"},
    {"project": "AH-0001"},
    {"purpose": "compliance"},
    {"purpose": "voluntary"},
    {"beneficiary": "GREEN village"},
    {"beneficiary": "绿色"},
    {"reason": "annual OFFSET"},
    {"reason": "pledge", "project": "AH-0002"},
    {"purpose": "voluntary", "project": "AH-0001"},
    {"beneficiary": "nobody at all"},
])
def test_each_retirement_filter_keeps_exactly_the_matching_records(client, want: dict[str, str]) -> None:
    rows = everything(client)
    expected = model(rows, **want)
    got = client.get("/v1/explorer/retirements", params=want).json()
    assert ids(got) == expected and got["next"] is None
    page = main_of(client.get("/explorer/retirements", params=want).text)
    table = page.split('id="retirements"')[1].split("</table>")[0]
    assert table.count("data-retirement=") == len(expected)
    for rid in expected:
        assert f'data-retirement="{rid}"' in table


def test_vintage_filter_matches_a_retired_range_of_that_vintage(client) -> None:
    rows = everything(client)
    vintages = sorted({g["vintage"] for r in rows for g in r["ranges"]})
    assert vintages
    for year in vintages:
        got = client.get(f"/v1/explorer/retirements?vintage={year}").json()
        assert ids(got) == model(rows, vintage=year) != []
    assert ids(client.get("/v1/explorer/retirements?vintage=1999").json()) == []


def test_filters_combine_with_the_enterprise_and_period_indexes(client, sc: Scenario) -> None:
    got = client.get("/v1/explorer/retirements?enterprise=coop&reason=annual").json()
    assert ids(got) == [sc.ids["coop_1"]]
    got = client.get("/v1/explorer/retirements?period=2025&purpose=voluntary").json()
    assert ids(got) == []
    got = client.get("/v1/explorer/retirements?period=2025&purpose=compliance").json()
    assert ids(got) == [sc.ids["compliance"]]


def test_filtered_pages_walk_every_match_once(client) -> None:
    expected = model(everything(client), purpose="voluntary")
    seen: list[str] = []
    after = None
    for _ in range(10):
        params = {"purpose": "voluntary", "limit": "1"} | ({"after": after} if after else {})
        body = client.get("/v1/explorer/retirements", params=params).json()
        seen += ids(body)
        after = body["next"]
        if after is None:
            break
    assert seen == expected and len(expected) == 3


def test_a_filtered_page_reads_at_most_list_scan_records(client, monkeypatch) -> None:
    monkeypatch.setattr(explorer.data, "LIST_SCAN", 1)
    expected = model(everything(client), project="AH-0002")
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        params = {"project": "AH-0002"} | ({"after": after} if after else {})
        body = client.get("/v1/explorer/retirements", params=params).json()
        pages += 1
        assert len(body["retirements"]) <= 1
        seen += ids(body)
        after = body["next"]
        if after is None:
            break
    assert seen == expected
    assert pages >= 4  # one record read per request: short pages, never a skipped match


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_retirement_list_shows_project_vintage_quantity_use_and_keeps_the_form(
    client, sc: Scenario, lang: str
) -> None:
    page = main_of(client.get(f"/explorer/retirements?lang={lang}&beneficiary=green").text)
    form = page.split('id="retirement-filters"')[1].split("</form>")[0]
    assert 'method="get"' in page.split('id="retirement-filters"')[0][-80:] + form[:80]
    for name in ("project", "vintage", "purpose", "enterprise", "period", "beneficiary",
                 "reason"):
        assert f'name="{name}"' in form
    assert 'name="beneficiary" value="green"' in form
    head = page.split('id="retirements"')[1].split("</tr>")[0]
    for label in ("project", "vintage", "quantity", "purpose", "beneficiary", "reason"):
        assert LABELS[label][lang] in head, label
    row = page.split(f'data-retirement="{sc.ids["coop_1"]}"')[1].split("</tr>")[0]
    assert 'href="/explorer/projects/AH-0002"' in row
    assert REASON in row and "Green Village" in row
    assert 'class="serial-trace" href="/explorer/trace/AH-0002%3A' in row


@pytest.mark.parametrize(("query", "code"), [
    ("vintage=20x4", "bad_query"),
    ("vintage=1850", "bad_query"),
    ("purpose=gift", "bad_query"),
    ("project=not%20an%20id", "bad_id"),
    ("beneficiary=" + "x" * 201, "bad_query"),
    ("reason=" + "y" * 201, "bad_query"),
    ("purpose=voluntary&after=%2F%2F..%00", "bad_cursor"),
])
def test_bad_retirement_filters_are_refused_with_a_stable_code(client, query: str,
                                                                code: str) -> None:
    r = client.get(f"/v1/explorer/retirements?{query}")
    assert r.status_code == 400 and r.json()["error"]["code"] == code
    page = client.get(f"/explorer/retirements?{query}")
    assert page.status_code == 400 and f'data-code="{code}"' in page.text


# -- issuance batches --------------------------------------------------------------------------
def test_batches_filter_by_vintage_and_project(client) -> None:
    every = client.get("/v1/explorer/batches?limit=100").json()["batches"]
    vintages = sorted({b["vintage"] for b in every})
    assert len(vintages) >= 2
    for year in vintages:
        got = client.get(f"/v1/explorer/batches?vintage={year}").json()
        assert [b["id"] for b in got["batches"]] == [b["id"] for b in every if b["vintage"] == year]
        assert all(b["counts"] == next(e["counts"] for e in every if e["id"] == b["id"])
                   for b in got["batches"])
        both = client.get(f"/v1/explorer/batches?vintage={year}&project=AH-0002").json()
        assert [b["id"] for b in both["batches"]] == [
            b["id"] for b in every if b["vintage"] == year and b["project_id"] == "AH-0002"]
    page = main_of(client.get(f"/explorer/batches?vintage={vintages[0]}").text)
    form = page.split('id="batch-filters"')[1].split("</form>")[0]
    assert f'name="vintage" value="{vintages[0]}"' in form and 'name="project"' in form
    table = page.split('id="batches"')[1].split("</table>")[0]
    assert table.count("data-batch=") == sum(b["vintage"] == vintages[0] for b in every)


def test_batches_by_vintage_page_without_repeats(client, monkeypatch) -> None:
    monkeypatch.setattr(explorer.data, "LIST_SCAN", 1)
    every = client.get("/v1/explorer/batches?limit=100").json()["batches"]
    year = every[0]["vintage"]
    seen: list[str] = []
    after = None
    while True:
        params = {"vintage": str(year)} | ({"after": after} if after else {})
        body = client.get("/v1/explorer/batches", params=params).json()
        seen += [b["id"] for b in body["batches"]]
        after = body["next"]
        if after is None:
            break
    assert seen == [b["id"] for b in every if b["vintage"] == year]


@pytest.mark.parametrize(("query", "code"), [
    ("vintage=abcd", "bad_query"), ("vintage=12345", "bad_query"),
    ("project=bad%20id&vintage=2020", "bad_id"),
])
def test_bad_batch_filters_are_refused(client, query: str, code: str) -> None:
    r = client.get(f"/v1/explorer/batches?{query}")
    assert r.status_code == 400 and r.json()["error"]["code"] == code


# -- organisations: roles and accreditations ---------------------------------------------------
def test_orgs_show_each_verifiers_accreditation_state_at_the_tip(client) -> None:
    orgs = {o["id"]: o for o in client.get("/v1/explorer/orgs?limit=100").json()["orgs"]}
    assert orgs["verifier-a"]["accreditation_state"] == "expired"
    assert orgs["verifier-b"]["accreditation_state"] == "in_force"
    assert orgs["buyer-steel"]["accreditation_state"] is None
    assert orgs["regulator"]["accreditation_state"] is None


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_orgs_page_shows_roles_number_expiry_and_state(client, lang: str) -> None:
    page = main_of(client.get(f"/explorer/orgs?lang={lang}&limit=100").text)
    rows = {r.split('<code>')[1].split("</code>")[0]: r
            for r in page.split('id="orgs"')[1].split("</table>")[0].split("<tr>")[2:]}
    a, b = rows["verifier-a"], rows["verifier-b"]
    assert VALUES["role"]["verifier"][lang] in a
    assert 'data-accreditation="expired"' in a and "CNCA-V-001" in a
    assert VALUES["accreditation_state"]["expired"][lang] in a
    assert 'data-accreditation="in_force"' in b and "CNCA-V-002" in b
    assert VALUES["accreditation_state"]["in_force"][lang] in b
    assert LABELS["accr_valid_until"][lang] in b
    assert 'data-accreditation=""' in rows["buyer-steel"]


@pytest.mark.parametrize(("org", "now", "state"), [
    ({"roles": ["buyer"]}, 10, None),
    ({"roles": ["verifier"], "accreditation": None, "status": "active"}, 10, "none"),
    ({"roles": ["verifier"], "accreditation": "CNCA-V-009", "status": "suspended"}, 10,
     "suspended"),
    ({"roles": ["verifier"], "accreditation": "CNCA-V-009", "status": "active",
      "accreditation_valid_until": 10}, 10, "expired"),
    ({"roles": ["verifier"], "accreditation": "CNCA-V-009", "status": "active",
      "accreditation_valid_until": 11}, 10, "in_force"),
    ({"roles": ["verifier"], "accreditation": "CNCA-V-009", "status": "active",
      "accreditation_valid_until": None}, 10, "in_force"),
])
def test_accreditation_state_agrees_with_the_contracts_rule(org: dict[str, Any], now: int,
                                                            state: str | None) -> None:
    assert accreditation_state(org, now) == state


# -- heights as links where a sentence names one ------------------------------------------------
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_sentences_naming_a_height_link_it(client, sc: Scenario, lang: str) -> None:
    tip = sc.store.latest_height()
    link = f'<a href="/explorer/blocks/{tip}">{tip}</a>'
    # the statement of the period still running: "the closing balance is at block <tip>"
    account = main_of(client.get(f"/explorer/accounts/buyer-steel?lang={lang}").text)
    assert link in account.split('id="statement-open"')[1].split("</p>")[0]
    # the calculator reads the parameters in force at the tip
    calc = main_of(client.get(f"/explorer/calculator?lang={lang}").text)
    assert link in calc.split("</p>")[0]


# -- labelled tables: no field shown by its raw name ------------------------------------------
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_transaction_and_block_field_has_a_label(client, sc: Scenario, lang: str) -> None:
    """Every field of every transaction's arguments, returned value and events, and every
    block header field, reads as a label in the page's language (the raw name only as the
    ``data-field`` attribute and as small code text)."""
    import re

    unlabelled: dict[str, str] = {}
    for height in range(1, sc.store.latest_height() + 1):
        block = client.get(f"/v1/explorer/blocks/{height}").json()
        for tx in block["txs"]:
            html = client.get(f"/explorer/txs/{tx['tx_id']}?lang={lang}").text
            for field, label in re.findall(r'data-field="([^"]+)">([^<]*)<', html):
                if label == field and re.search(r"[a-z]", field):
                    unlabelled[field] = f"{tx['contract']}.{tx['method']}"
    assert unlabelled == {}
    header = main_of(client.get(f"/explorer/blocks/1?lang={lang}").text).split(
        'id="header"')[1].split("</dl>")[0]
    for field, label in re.findall(r'<dt data-field="([^"]+)">([^<]*)<', header):
        assert label.strip() and label.strip() != field, field
    assert ("State root" if lang == "en" else "状态根哈希") in header


# -- the exports follow the lists' filters ------------------------------------------------------
def csv_rows(body: bytes) -> list[dict[str, str]]:
    import csv
    import io

    assert body.startswith(b"\xef\xbb\xbf")
    return list(csv.DictReader(io.StringIO(body[3:].decode("utf-8"), newline="")))


@pytest.mark.parametrize("want", [{"project": "AH-0002"}, {"purpose": "compliance"},
                                  {"beneficiary": "GREEN", "reason": "school"}])
def test_the_retirement_export_takes_the_lists_filters(client, want: dict[str, str]) -> None:
    expected = model(everything(client), **want)
    r = client.get("/v1/export/retirements.csv", params=want)
    assert r.status_code == 200
    assert list(dict.fromkeys(row["retirement_id"] for row in csv_rows(r.content))) == expected
    page = client.get("/explorer/retirements", params=want).text
    link = page.split('<p class="no-print"><a href="')[1].split('"')[0].replace("&amp;", "&")
    assert link.startswith("/v1/export/retirements.csv?")
    assert client.get(link).content == r.content


def test_the_issuance_export_takes_the_vintage(client) -> None:
    every = client.get("/v1/explorer/batches?limit=100").json()["batches"]
    year = every[-1]["vintage"]
    r = client.get(f"/v1/export/issuances.csv?vintage={year}")
    assert [row["batch_id"] for row in csv_rows(r.content)] == [
        b["id"] for b in every if b["vintage"] == year]
    assert f'href="/v1/export/issuances.csv?vintage={year}"' in client.get(
        f"/explorer/batches?vintage={year}").text
    bad = client.get("/v1/export/issuances.csv?vintage=20x4")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_query"
    bad = client.get("/v1/export/retirements.csv?purpose=gift")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_query"


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_parameter_field_has_a_label(client, lang: str) -> None:
    """The parameter register's structured values (buffer rates by risk, the species table
    with its ceilings, ...) read as labelled tables, no key shown as its raw name."""
    import re

    html = client.get(f"/explorer/params?lang={lang}&limit=100").text
    fields = re.findall(r'data-field="([^"]+)">([^<]*)<', html)
    assert len(fields) > 10
    assert [f for f, label in fields if label == f and re.search(r"[a-z]", f)] == []
    if lang == "zh":
        assert "高风险" in html and "蓄积量合理上限" in html


def test_the_organisations_export_has_roles_and_accreditations(client) -> None:
    r = client.get("/v1/export/orgs.csv")
    assert r.status_code == 200 and r.headers["content-disposition"].endswith(
        'filename="organisations.csv"')
    rows = {row["org_id"]: row for row in csv_rows(r.content)}
    assert rows["verifier-a"]["accreditation"] == "CNCA-V-001"
    assert rows["verifier-a"]["accreditation_state"] == "expired"
    assert rows["verifier-b"]["accreditation_state"] == "in_force"
    assert rows["verifier-b"]["accreditation_valid_until"].endswith("+08:00")
    assert rows["buyer-steel"]["roles"] == "buyer" and rows["buyer-steel"]["accreditation"] == ""
    orgs = client.get("/v1/explorer/orgs?limit=100").json()["orgs"]
    assert list(rows) == [o["id"] for o in orgs]
    assert all(rows[o["id"]]["name"] == o["name"] for o in orgs)


def test_the_certificate_page_prints_the_genesis_hash_to_trust(client, sc: Scenario) -> None:
    for lang in ("en", "zh"):
        page = main_of(client.get(f"/explorer/certificates/{sc.ids['compliance']}?lang={lang}").text)
        assert f'<code class="hash">{sc.store.genesis_hash()}</code>' in page
        assert LABELS["genesis_hash"][lang] in page
