"""Issue 15: policy indicators (政策评估) per county and evaluation period, checked against
figures computed by hand from the market scenario (tests/support/market_scenario.py)."""

from __future__ import annotations

import csv
import io
from fractions import Fraction
from typing import Any

import pytest
from markupsafe import escape

from explorer.i18n import LABELS
from tests.support.explorer import Scenario, make_client, module_fixtures
from tests.support.market_scenario import OTHER_COUNTY, build_market_scenario

COUNTY = "340122"


sc, client = module_fixtures("explorer-ind", build_market_scenario)


def rmb(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def by_hand(sc: Scenario) -> dict[str, dict[str, Any]]:
    """The indicators of the whole scenario (it fits in one two-year period), by county."""
    split = Fraction(sc.chain.get("project/AH-0001")["benefit_split"]["farmers"])
    # Owner Farm's primary sales of AH-0001: 4 t at 90 (exchange), 5 t at 80 (priced
    # transfer), 2 t at 95 (exchange); Buyer Steel's resale: 1 t at 100 (exchange)
    primary = [(4, 9000), (5, 8000), (2, 9500)]
    farmers = sum(int(q * p * split) for q, p in primary)  # floor per sale, in fen
    primary_gross = sum(q * p for q, p in primary)
    subsidy = {b: sc.chain.get(f"subsidy/{b}") for b in ("B1", "B3")}
    owed = sum(s["tonnes"] * 30 * 100 for s in subsidy.values())  # 30 RMB/t at genesis
    assert rmb(owed) == rmb(sum(int(s["amount"].replace(".", "")) for s in subsidy.values()))
    return {
        COUNTY: {
            "projects_registered": 2,
            "issued": sum(sc.ids[b]["quantity"] for b in ("b1", "b2", "b3")),
            "traded": 12, "traded_primary": 11, "traded_resale": 1, "traded_exchange": 7,
            "retired": 2 + 3,
            "primary_gross": rmb(primary_gross), "resale_gross": "100.00",
            "average_price": "87.50",  # (950 + 100) / 12
            "primary_average_price": "86.36",  # 950 / 11 = 86.3636...
            "farmers_income": rmb(farmers),
            "subsidy_owed": rmb(owed), "subsidy_paid": rmb(subsidy["B1"]["tonnes"] * 3000),
        },
        OTHER_COUNTY: {
            "projects_registered": 1, "issued": sc.ids["b9"]["quantity"], "traded": 0,
            "traded_primary": 0, "traded_resale": 0, "traded_exchange": 0, "retired": 0,
            "primary_gross": "0.00", "resale_gross": "0.00", "average_price": None,
            "primary_average_price": None, "farmers_income": "0.00", "subsidy_owed": "0.00",
            "subsidy_paid": "0.00",
        },
    }


def tip_year(sc: Scenario) -> int:
    return int(sc.ids["months"][-1][:4])


def test_indicators_match_a_hand_computation(client, sc: Scenario) -> None:
    expected = by_hand(sc)
    assert expected[COUNTY]["farmers_income"] == "285.00"  # 30 % of 360 + 400 + 190
    d = client.get("/v1/explorer/indicators").json()
    year = tip_year(sc)
    assert d["period"] == f"{year - 1}-{year}" and d["evaluation_years"] == 2
    assert all(m[:4] in (str(year - 1), str(year)) for m in sc.ids["months"])
    rows = {r["county"]: r for r in d["counties"]}
    assert sorted(rows) == [COUNTY, OTHER_COUNTY]
    for county, figures in expected.items():
        for name, value in figures.items():
            assert rows[county][name] == value, (county, name)
    total = d["total"]
    assert total["issued"] == expected[COUNTY]["issued"] + expected[OTHER_COUNTY]["issued"]
    assert total["projects_registered"] == 3 and total["traded"] == 12
    assert total["farmers_income"] == "285.00"


def test_one_county_and_the_periods_table(client, sc: Scenario) -> None:
    d = client.get("/v1/explorer/indicators", params={"county": OTHER_COUNTY}).json()
    assert [r["county"] for r in d["counties"]] == [OTHER_COUNTY]
    assert d["total"]["issued"] == sc.ids["b9"]["quantity"] and d["total"]["traded"] == 0
    year = tip_year(sc)
    assert [p["period"] for p in d["periods"]] == [
        f"{y - 1}-{y}" for y in range(year - 8, year + 1, 2)]
    assert d["periods"][-1]["projects_registered"] == 1
    assert all(p["projects_registered"] == 0 for p in d["periods"][:-1])
    # a county without any activity: zeros, not an error
    none = client.get("/v1/explorer/indicators", params={"county": "110101"}).json()
    assert none["total"]["issued"] == 0 and none["total"]["average_price"] is None


def test_a_period_counts_only_its_own_months(client, sc: Scenario) -> None:
    year = tip_year(sc)
    d = client.get("/v1/explorer/indicators", params={"period": f"{year}-{year}"}).json()
    months = [m for m in sc.ids["months"] if m.startswith(str(year))]
    total = d["total"]
    if sc.ids["months"][-1] in months and len(months) == 1:
        # only the last month: the resale (1 t at 100), XC-0001's registration and B9
        assert (total["traded"], total["traded_resale"], total["average_price"]) == (1, 1, "100.00")
        assert total["projects_registered"] == 1 and total["issued"] == sc.ids["b9"]["quantity"]
    later = client.get("/v1/explorer/indicators",
                       params={"period": f"{year + 1}-{year + 2}"}).json()["total"]
    assert later["issued"] == later["traded"] == later["retired"] == 0
    assert later["subsidy_owed"] == "0.00"


def test_evaluation_period_length_is_a_setting(sc: Scenario) -> None:
    with make_client(sc, evaluation_years=3) as c:
        d = c.get("/v1/explorer/indicators").json()
    year = tip_year(sc)
    assert d["evaluation_years"] == 3 and d["period"] == f"{year - 2}-{year}"
    assert d["periods"][-2]["period"] == f"{year - 5}-{year - 3}"


def test_csv_has_bom_a_row_per_county_and_the_total(client, sc: Scenario) -> None:
    r = client.get("/v1/export/indicators.csv")
    assert r.status_code == 200 and r.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert [row["county"] for row in rows] == [COUNTY, OTHER_COUNTY, "all"]
    expected = by_hand(sc)[COUNTY]
    assert rows[0]["farmers_income"] == expected["farmers_income"]
    assert rows[0]["average_price"] == "87.50" and rows[1]["average_price"] == ""
    one = client.get("/v1/export/indicators.csv", params={"county": OTHER_COUNTY})
    assert 'indicators-' in one.headers["content-disposition"]
    assert [row["county"] for row in csv.DictReader(
        io.StringIO(one.content.decode("utf-8-sig")))] == [OTHER_COUNTY, "all"]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_indicators_page_in_both_languages(client, sc: Scenario, lang: str) -> None:
    html = client.get(f"/explorer/indicators?lang={lang}").text
    main = html.split("<main>", 1)[1].split("</main>", 1)[0]
    assert LABELS["indicators"][lang] in main and str(escape(LABELS["ind_farmers"][lang])) in main
    table = main.split('id="by-county"')[1].split("</table>")[0]
    row = table.split(f'data-county="{COUNTY}"')[1].split("</tr>")[0]
    assert "285.00" in row and "87.50" in row
    assert 'data-county="all"' in table and LABELS["ind_total"][lang] in table
    assert main.count('<figure class="chart"') == 2 and "<rect" in main
    assert main.split('id="by-period"')[1].split("</table>")[0].count("<tr data-period=") == 5
    assert 'href="/v1/export/indicators.csv?period=' in main
    assert '<form class="filters no-print" action="/explorer/indicators" method="get">' in main


@pytest.mark.parametrize(("query", "code"), [
    ("period=2024", "bad_period"),
    ("period=2025-2024", "bad_period"),
    ("period=2000-2030", "bad_period"),
    ("period=20x4-2025", "bad_period"),
    ("county=12", "bad_id"),
    ("county=abcdef", "bad_id"),
    ("county=%3Cscript%3E", "bad_id"),
])
def test_bad_indicator_requests(client, query: str, code: str) -> None:
    for url in ("/v1/explorer/indicators", "/v1/export/indicators.csv"):
        r = client.get(f"{url}?{query}")
        assert r.status_code == 400 and r.json()["error"]["code"] == code
    page = client.get(f"/explorer/indicators?{query}")
    assert page.status_code == 400 and code in page.text


def test_the_periods_table_has_its_csv(client, sc: Scenario) -> None:
    """Per evaluation period (issue 15: "per county and per evaluation period ... with
    CSV"): the by-period table as CSV with a BOM, the same figures as the JSON, the last
    period's total by hand."""
    year = tip_year(sc)
    for params, county in (({}, "all"), ({"county": COUNTY}, COUNTY)):
        d = client.get("/v1/explorer/indicators", params=params).json()
        r = client.get("/v1/export/indicator-periods.csv", params=params)
        assert r.status_code == 200 and r.content.startswith(b"\xef\xbb\xbf")
        rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
        assert [row["period"] for row in rows] == [p["period"] for p in d["periods"]] == [
            f"{y - 1}-{y}" for y in range(year - 8, year + 1, 2)]
        assert all(row["county"] == county for row in rows)
        for row, p in zip(rows, d["periods"], strict=True):
            assert row["issued"] == str(p["issued"])
            assert row["farmers_income"] == p["farmers_income"]
    expected = by_hand(sc)[COUNTY]
    last = rows[-1]
    assert last["farmers_income"] == expected["farmers_income"] == "285.00"
    assert last["traded"] == str(expected["traded"]) and last["average_price"] == "87.50"
    assert all(row["issued"] == "0" for row in rows[:-1])
    page = client.get("/explorer/indicators", params={"county": COUNTY}).text
    link = page.split('id="periods-csv"><a href="')[1].split('"')[0].replace("&amp;", "&")
    assert client.get(link).content == r.content
    # paged by its cursor, the period; a cursor of another form is refused
    first = client.get("/v1/export/indicator-periods.csv", params={"limit": 2})
    assert first.headers["x-next-cursor"] == rows[1]["period"]
    rest = client.get("/v1/export/indicator-periods.csv",
                      params={"after": first.headers["x-next-cursor"]})
    periods = [row["period"] for body in (first, rest) for row in
               csv.DictReader(io.StringIO(body.content.decode("utf-8-sig")))]
    assert periods == [row["period"] for row in rows] and "x-next-cursor" not in rest.headers
    bad = client.get("/v1/export/indicator-periods.csv", params={"after": "x/y"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_cursor"
    bad = client.get("/v1/export/indicator-periods.csv", params={"period": "2025"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_period"
