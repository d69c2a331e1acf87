"""Issue 15: account statements (the account page's ``#statement``, its JSON twin and CSV),
the reader's time zone (``?tz=``, cookie ``fcl_tz``) and the plot map's labels, legend and
scale bar.

The market scenario (tests/support/market_scenario.py) spans three months of China
Standard Time: 2023-11 (the explorer scenario), 2023-12 and 2024-01. Hand computation of
Owner Farm's statement for 2023-11: batch B1 gives it units 1-40 (+40), batch B2 units
46-85 (+40), it lists units 1-10 (a note: listed units are still its own), sells 1-4 to
Buyer Steel (-4), transfers 11-15 to Buyer Power (-5), and B2 is frozen (a note):
0 + 40 + 40 - 4 - 5 = 71. In 2023-12 it sells 2 more (5-6) to Buyer Steel: 71 - 2 = 69.
"""

from __future__ import annotations

import csv
import io
import math
import re
from datetime import date
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chaincode import queries
from explorer import svg
from explorer.data import Reader
from explorer.inputs import ExplorerError, parse_statement_period
from explorer.statements import (
    Movement,
    StatementMismatch,
    check_balances,
    day_start_ms,
    merge_ranges,
    period_label,
    period_of,
)
from explorer.zones import choose_zone, zone_label
from tests.support.explorer import (
    Scenario,
    StoreMarket,
    build_scenario,
    main_of,
    make_source,
    module_fixtures,
)
from tests.support.market_scenario import build_market_scenario

sc, client = module_fixtures("explorer-statements", build_market_scenario)

ACCOUNTS = ("owner-farm", "buyer-steel", "buyer-power", "coop", "buffer-pool")


def statement(client: Any, account: str, **params: str) -> dict[str, Any]:
    r = client.get(f"/v1/explorer/accounts/{account}/statement", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def kinds(st_: dict[str, Any]) -> list[tuple[str, int, int]]:
    return [(m["kind"], m["change"], m["balance"]) for m in st_["movements"]]


# -- the arithmetic against the hand computation ----------------------------------------
def test_owner_statement_for_the_first_month_by_hand(client, sc: Scenario) -> None:
    s = statement(client, "owner-farm", period="month", **{"from": "2023-11-20"})
    assert (s["label"], s["from"], s["to"], s["period"]) == ("2023-11", "2023-11-01",
                                                              "2023-11-30", "month")
    assert s["opening"] == 0 and s["closing"] == 71 and s["complete"] is True
    assert kinds(s) == [("issued", 40, 40), ("issued", 40, 80), ("listed", 0, 80),
                        ("sold", -4, 76), ("transfer_out", -5, 71), ("frozen", 0, 71)]
    issued, _, listed, sold, transfer, frozen = s["movements"]
    assert [r["serial"] for r in issued["ranges"]] == ["CCER-AH-0001-2018-000000001-000000040"]
    assert [(r["first"], r["last"]) for r in listed["ranges"]] == [(1, 10)]
    assert (sold["counterparty"], sold["quantity"], sold["ranges"][0]["last"]) == ("buyer-steel", 4, 4)
    assert sold["tx_id"] == sc.ids["trade_tx"] and sold["height"] == sc.store.get_tx_location(sc.ids["trade_tx"])[0]
    assert (transfer["counterparty"], [(r["first"], r["last"]) for r in transfer["ranges"]]) == \
        ("buyer-power", [(11, 15)])
    assert frozen["quantity"] == 40 and frozen["tx_id"] != sold["tx_id"]
    assert (s["credits"], s["debits"]) == (80, 9)
    assert s["totals"] == {"frozen": 40, "issued": 80, "listed": 10, "sold": 4, "transfer_out": 5}


def test_the_next_month_opens_with_the_closing_balance(client) -> None:
    nov = statement(client, "owner-farm", **{"from": "2023-11-01"})
    dec = statement(client, "owner-farm", **{"from": "2023-12-31"})
    assert dec["opening"] == nov["closing"] == 71
    assert kinds(dec) == [("sold", -2, 69)] and dec["closing"] == 69
    assert dec["movements"][0]["counterparty"] == "buyer-steel"
    assert [(r["first"], r["last"]) for r in dec["movements"][0]["ranges"]] == [(5, 6)]


def test_buyer_statements_by_hand(client) -> None:
    steel = [statement(client, "buyer-steel", **{"from": d}) for d in ("2023-11-01", "2023-12-01", "2024-01-01")]
    assert [(s["opening"], s["closing"]) for s in steel] == [(0, 2), (2, 4), (4, 3)]
    assert kinds(steel[0]) == [("bought", 4, 4), ("retired", -2, 2)]
    assert kinds(steel[2]) == [("listed", 0, 4), ("sold", -1, 3)]
    power = statement(client, "buyer-power", period="quarter", **{"from": "2023-11-01"})
    assert (power["label"], power["from"], power["to"]) == ("2023-Q4", "2023-10-01", "2023-12-31")
    assert kinds(power) == [("transfer_in", 5, 5), ("retired", -3, 2)]
    assert power["movements"][1]["counterparty"] is None


def test_opening_plus_movements_is_closing_and_closing_is_the_holdings(client, sc: Scenario) -> None:
    for account in ACCOUNTS:
        total = 0
        for day in ("2023-11-01", "2023-12-01", "2024-01-01"):
            s = statement(client, account, **{"from": day})
            assert s["opening"] == total
            assert s["opening"] + sum(m["change"] for m in s["movements"]) == s["closing"]
            assert s["credits"] - s["debits"] == s["closing"] - s["opening"]
            total = s["closing"]
        held = queries.holdings(sc.store, account, limit=1, after=None)["totals"]
        assert total == held["held"] + held["listed"], account


def test_year_and_custom_periods_and_navigation(client, sc: Scenario) -> None:
    year = statement(client, "owner-farm", period="year", **{"from": "2023-06-01"})
    assert (year["label"], year["from"], year["to"]) == ("2023", "2023-01-01", "2023-12-31")
    assert year["closing"] == 69 and year["previous"] == "2022-01-01"
    assert year["following"] == "2024-01-01"  # the tip is in 2024
    custom = statement(client, "owner-farm", **{"from": "2023-12-01", "to": "2024-01-31"})
    assert custom["period"] == "custom" and custom["opening"] == 71
    assert custom["previous"] is None and custom["following"] is None
    assert custom["movements"][0]["kind"] == "sold"
    # without dates: the period holding the tip's date (2024-01), not yet ended
    now = statement(client, "owner-farm")
    assert now["label"] == "2024-01" and now["complete"] is False
    assert now["tip"] == sc.store.latest_height() and now["following"] is None
    # a page of one movement at a time, with the balance of each
    first = statement(client, "owner-farm", **{"from": "2023-11-01", "limit": "2"})
    assert len(first["movements"]) == 2 and first["next"] == "2" and first["count"] == 6
    second = statement(client, "owner-farm", **{"from": "2023-11-01", "limit": "2", "after": "2"})
    assert [m["balance"] for m in second["movements"]] == [80, 76]
    assert second["opening"] == 0 and second["closing"] == 71


def test_an_account_without_movements_in_the_period(client) -> None:
    s = statement(client, "coop", **{"from": "2023-12-01"})
    assert s["movements"] == [] and s["opening"] == s["closing"] == 12


# -- the page ---------------------------------------------------------------------------------
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_statement_on_the_account_page(client, lang: str) -> None:
    try:
        page = client.get("/explorer/accounts/owner-farm",
                          params={"from": "2023-11-01", "lang": lang}).text
    finally:
        client.cookies.clear()
    assert "<script" not in page
    main = main_of(page)
    section = main.split('<section id="statement"')[1].split("</section>")[0]
    assert 'data-opening="0" data-closing="71"' in section
    rows = re.findall(r'data-kind="([a-z_]+)" data-change="(-?\d+)" data-balance="(\d+)"', section)
    assert rows == [("issued", "40", "40"), ("issued", "40", "80"), ("listed", "0", "80"),
                    ("sold", "-4", "76"), ("transfer_out", "-5", "71"), ("frozen", "0", "71")]
    assert 'href="/explorer/accounts/buyer-steel"' in section  # the counterparty by name
    assert "Buyer Steel" in section
    assert 'href="/explorer/blocks/' in section and "<time datetime=" in section
    assert 'href="/explorer/trace/AH-0001%3A1"' in section
    assert 'id="previous-period" href="/explorer/accounts/owner-farm?period=month&amp;from=2023-10-01#statement"' in section
    assert 'id="next-period" href="/explorer/accounts/owner-farm?period=month&amp;from=2023-12-01#statement"' in section
    assert "/v1/export/statement.csv?account=owner-farm&amp;period=month&amp;from=2023-11-01" in section
    words = {"en": ("Opening balance", "Closing balance", "sold", "transfer out"),
             "zh": ("期初余额", "期末余额", "卖出", "转出")}[lang]
    for word in words:
        assert word in section


def test_account_page_pages_long_statements(client) -> None:
    page = main_of(client.get("/explorer/accounts/owner-farm",
                              params={"from": "2023-11-01", "moves_after": "4"}).text)
    rows = re.findall(r'data-kind="([a-z_]+)"', page.split('id="statement-table"')[1])
    assert rows == ["transfer_out", "frozen"]


# -- CSV --------------------------------------------------------------------------------------
def test_statement_csv_has_a_bom_and_adds_up(client) -> None:
    r = client.get("/v1/export/statement.csv",
                   params={"account": "buyer-steel", "period": "quarter", "from": "2023-10-05"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.content.startswith(b"\xef\xbb\xbf")
    assert 'filename="statement-buyer-steel-2023-Q4.csv"' in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert [row["row"] for row in rows] == ["opening", "1", "2", "3", "closing"]
    assert rows[0]["balance"] == "0" and rows[-1]["balance"] == "4"
    assert rows[0]["time"] == "2023-10-01T00:00:00+08:00"
    assert rows[-1]["time"] == "2023-12-31T23:59:59+08:00"
    assert sum(int(row["change"]) for row in rows[1:-1]) == 4 - 0
    assert [row["movement"] for row in rows[1:-1]] == ["bought", "retired", "bought"]
    assert rows[1]["counterparty"] == "owner-farm" and rows[1]["counterparty_name"] == "Owner Farm"
    assert rows[1]["serials"] == "CCER-AH-0001-2018-000000001-000000004"
    # paged like every export
    page = client.get("/v1/export/statement.csv", params={
        "account": "buyer-steel", "period": "quarter", "from": "2023-10-05", "limit": "2"})
    assert page.headers["x-next-cursor"] == "1"
    rest = client.get("/v1/export/statement.csv", params={
        "account": "buyer-steel", "period": "quarter", "from": "2023-10-05", "after": "1"})
    assert [row["row"] for row in csv.DictReader(io.StringIO(rest.content.decode("utf-8-sig")))] \
        == ["2", "3", "closing"]


# -- bad inputs -------------------------------------------------------------------------------
@pytest.mark.parametrize(("params", "code", "words"), [
    ({"period": "week"}, "bad_period", "statement period 'week' is not one of month, quarter, year"),
    ({"from": "2023-02-30"}, "bad_date", "from '2023-02-30' is not a date"),
    ({"to": "yesterday"}, "bad_date", "to 'yesterday' is not a date"),
    ({"from": "1969-12-31"}, "bad_date", "from 1970"),
    ({"from": "2024-01-02", "to": "2024-01-01"}, "bad_period",
     "the statement's last day 2024-01-01 (to) is before its first day 2024-01-02 (from)"),
    ({"after": "x"}, "bad_cursor", "after is the 'next' of the statement page before"),
    ({"limit": "0"}, "bad_limit", "limit is a whole number"),
])
def test_bad_statement_inputs(client, params: dict[str, str], code: str, words: str) -> None:
    r = client.get("/v1/explorer/accounts/owner-farm/statement", params=params)
    assert r.status_code == 400 and r.json()["error"]["code"] == code
    assert words in r.json()["error"]["message"]
    csv_params = {k: v for k, v in params.items() if k not in ("after", "limit")}
    if csv_params:
        r = client.get("/v1/export/statement.csv", params={"account": "owner-farm", **csv_params})
        assert r.status_code == 400 and r.json()["error"]["code"] == code
        page = client.get("/explorer/accounts/owner-farm", params=csv_params)
        assert page.status_code == 400 and f'data-code="{code}"' in page.text


def test_unknown_account_and_missing_account(client) -> None:
    r = client.get("/v1/explorer/accounts/nobody-here/statement")
    assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_account"
    r = client.get("/v1/export/statement.csv")
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_id"
    r = client.get("/v1/explorer/accounts/bad%20id/statement")
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_id"


def test_parse_statement_period_defaults() -> None:
    assert parse_statement_period(None, None, None) == ("month", None, None)
    assert parse_statement_period("year", "2024-02-29", "") == ("year", date(2024, 2, 29), None)
    with pytest.raises(ExplorerError) as err:
        parse_statement_period("", "2023-02-29", None)
    assert err.value.code == "bad_date"


# -- the index: incremental equals a cold start ----------------------------------------------
def test_incremental_index_equals_a_cold_start(tmp_path: Path) -> None:
    scenario = build_scenario(tmp_path / "store")
    try:
        live = Reader(make_source(scenario))
        before = live.statement("buyer-steel", "year", date(2023, 1, 1), None, None, 100)
        m = StoreMarket(scenario.chain)
        m.ok(["buyer-steel", "buyer-power"], "transfer", {
            "from_org": "buyer-steel", "to_org": "buyer-power", "quantity": 1})
        listed = m.ok("owner-farm", "create_listing",
                      {"quantity": 3, "price": "91", "exchange_org": "exchange"})
        m.ok("owner-farm", "cancel_listing", {"listing_id": listed["listing_id"]})
        m.ok("regulator", "unfreeze", {"batch_id": "B2", "reason": "cleared"})
        for account in ACCOUNTS:
            cold = Reader(make_source(scenario))
            a = live.statement(account, "year", date(2023, 1, 1), None, None, 100)
            b = cold.statement(account, "year", date(2023, 1, 1), None, None, 100)
            assert a == b, account
        after = live.statement("buyer-steel", "year", date(2023, 1, 1), None, None, 100)
        assert after["closing"] == before["closing"] - 1
        assert after["movements"][-1]["kind"] == "transfer_out"
        owner = live.statement("owner-farm", "year", date(2023, 1, 1), None, None, 100)
        assert [m["kind"] for m in owner["movements"][-3:]] == ["listed", "delisted", "unfrozen"]
        assert owner["movements"][-1]["change"] == 0
    finally:
        scenario.store.close()


# -- the pure parts -----------------------------------------------------------------------------
@given(st.lists(st.tuples(st.sampled_from(["B1", "B2"]), st.integers(1, 60), st.integers(0, 5)),
                max_size=12))
def test_merge_ranges_keeps_every_unit(raw: list[tuple[str, int, int]]) -> None:
    # non-overlapping ranges per batch, as unit ranges are
    taken: set[tuple[str, int]] = set()
    ranges = []
    for batch, first, extra in raw:
        units = {(batch, u) for u in range(first, first + extra + 1)}
        if units & taken:
            continue
        taken |= units
        ranges.append(("P", batch, 2020, first, first + extra))
    merged = merge_ranges(ranges)
    assert {(r[1], u) for r in merged for u in range(r[3], r[4] + 1)} == taken
    for a, b in zip(merged, merged[1:], strict=False):  # sorted, no two contiguous left
        assert a < b and not (a[:3] == b[:3] and a[4] + 1 == b[3])


def test_check_balances_refuses_a_mismatch() -> None:
    m = Movement(0, 1, 0, "t", "issued", "issue", None, 5, 5, ())
    check_balances(3, [m], 8)
    with pytest.raises(StatementMismatch, match="opening balance 3 plus the period's movements gives 8, not the closing balance 9"):
        check_balances(3, [m], 9)


@given(st.dates(min_value=date(1970, 1, 1), max_value=date(2200, 12, 31)),
       st.sampled_from(["month", "quarter", "year"]))
def test_periods_hold_their_day_and_tile(day: date, kind: str) -> None:
    start, stop = period_of(kind, day)
    assert start <= day < stop and start.day == 1
    assert period_of(kind, stop)[0] == stop  # the next period starts where this one stops
    assert day_start_ms(stop) - day_start_ms(start) == (stop - start).days * 86_400_000


def test_period_labels_and_cst_midnight() -> None:
    assert period_label("month", date(2024, 3, 1)) == "2024-03"
    assert period_label("quarter", date(2024, 10, 1)) == "2024-Q4"
    assert period_label("year", date(2024, 1, 1)) == "2024"
    assert period_of("quarter", date(2024, 12, 31)) == (date(2024, 10, 1), date(2025, 1, 1))
    # 2023-11-01 00:00 China Standard Time is 2023-10-31 16:00 UTC
    assert day_start_ms(date(2023, 11, 1)) == 1_698_768_000_000


# -- time zones ---------------------------------------------------------------------------------
def block_21_time(html: str) -> str:
    return re.search(r'<time datetime="([^"]+)">([^<]+)</time> · <a class="height" '
                     r'href="/explorer/blocks/21">', html).groups()


def test_tz_query_sets_a_cookie_and_dates_follow_it(client, sc: Scenario) -> None:
    height = sc.store.get_tx_location(sc.ids["trade_tx"])[0]
    assert height == 21
    try:
        default = main_of(client.get("/explorer/blocks/21").text)
        assert '<time datetime="2023-11-15T06:34:20+08:00">2023-11-15 06:34 CST</time>' in default
        r = client.get("/explorer/txs/" + sc.ids["trade_tx"], params={"tz": "Asia/Tokyo"})
        assert r.status_code == 200
        assert r.headers["set-cookie"].startswith('fcl_tz="Asia/Tokyo"; ')  # quoted: a "/"
        assert block_21_time(r.text) == ("2023-11-15T07:34:20+09:00", "2023-11-15 07:34 JST")
        # remembered: the next page without ?tz= is in Tokyo time too
        again = client.get("/explorer/txs/" + sc.ids["trade_tx"])
        assert "set-cookie" not in again.headers
        assert block_21_time(again.text)[1] == "2023-11-15 07:34 JST"
        assert '<option value="Asia/Tokyo" selected>' in again.text
        utc = client.get("/explorer/txs/" + sc.ids["trade_tx"], params={"tz": "UTC"}).text
        assert block_21_time(utc) == ("2023-11-14T22:34:20+00:00", "2023-11-14 22:34 UTC")
        dubai = client.get("/explorer/txs/" + sc.ids["trade_tx"], params={"tz": "Asia/Dubai"}).text
        assert block_21_time(dubai)[1] == "2023-11-15 02:34 UTC+04:00"
        zh = client.get("/explorer/txs/" + sc.ids["trade_tx"],
                        params={"tz": "Asia/Shanghai", "lang": "zh"}).text
        assert block_21_time(zh)[1] == "2023-11-15 06:34 北京时间"
    finally:
        client.cookies.clear()


def test_the_footer_selector_keeps_the_page_and_its_query(client) -> None:
    page = client.get("/explorer/accounts/owner-farm", params={"period": "year"}).text
    form = page.split('<form class="tz" id="tz-form"')[1].split("</form>")[0]
    assert 'action="/explorer/accounts/owner-farm"' in form and 'method="get"' in form
    assert '<input type="hidden" name="period" value="year">' in form
    assert '<option value="Asia/Shanghai" selected>' in form
    assert '<select name="tz">' in form and '<button type="submit">' in form


@pytest.mark.parametrize("bad", ["Mars/Olympus", "../../etc/passwd", "Asia/Shanghai\n", "x" * 300])
def test_a_bad_tz_is_refused_with_a_clear_message(client, bad: str) -> None:
    r = client.get("/explorer/blocks/21", params={"tz": bad})
    assert r.status_code == 400 and 'data-code="bad_tz"' in r.text
    assert "is not a time zone name of the tz database" in r.text
    assert "set-cookie" not in r.headers


def test_a_bad_tz_cookie_is_ignored_and_the_default_is_the_deployments(sc: Scenario) -> None:
    from fastapi.testclient import TestClient

    from explorer.app import create_explorer_app
    with TestClient(create_explorer_app(make_source(sc, time_zone="Europe/Berlin"))) as c:
        c.cookies.set("fcl_tz", "Not/AZone")
        r = c.get("/explorer/txs/" + sc.ids["trade_tx"])
        assert r.status_code == 200
        assert block_21_time(r.text) == ("2023-11-14T23:34:20+01:00", "2023-11-14 23:34 CET")
        block = c.get("/explorer/blocks/21").text
        assert '<time datetime="2023-11-14T23:34:20+01:00">2023-11-14 23:34 CET</time>' in block
        assert '<option value="Europe/Berlin" selected>' in block
    assert choose_zone(None, None, "Nowhere/Else") == ("Asia/Shanghai", False)


def test_zone_label_falls_back_to_the_offset() -> None:
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo
    moment = datetime(2024, 1, 1, tzinfo=UTC).astimezone(ZoneInfo("Asia/Kolkata"))
    assert zone_label(moment, "Asia/Kolkata", "CST") == "IST"
    moment = datetime(2024, 1, 1, tzinfo=UTC).astimezone(ZoneInfo("America/Sao_Paulo"))
    assert zone_label(moment, "America/Sao_Paulo", "CST") == "UTC-03:00"


# -- the plot map: labels, legend, scale bar ----------------------------------------------------
def test_scale_bar_by_hand_at_the_equator() -> None:
    # a square 0.01 degree wide on the equator: one degree of longitude is 111412.84 - 93.5
    # + 0.118 = 111319.458 m, so the square is 1113.19458 m across 960 map units (1000 - 2 x
    # 20 padding): 1.159578 m a unit; a quarter of the map (250 units) is 289.9 m, so the
    # bar is 200 m, 200 / 1.159578 = 172.47 -> 172 units
    assert svg.metres_per_degree_lon(0) == Fraction("111319.458")
    ring = [[0, 0], [100_000, 0], [100_000, 100_000], [0, 100_000]]
    out = str(svg.plot_map([{"id": "Q", "polygon": {"coordinates": [ring + [ring[0]]]}}]))
    bar = re.search(r'<g class="scale-bar" data-metres="(\d+)" data-units="(\d+)" data-km="([0-9.]+)"', out)
    assert bar.groups() == ("200", "172", "0.2")
    assert "0.2 km</text>" in out
    assert '<text class="plot-label" x="500" y="500"' in out and 'data-plot="Q">Q</text>' in out


def test_scale_bar_at_latitude_60() -> None:
    # 0.02 degree of longitude at 60 N: 111412.84 x 1/2 - 93.5 x cos 180 + 0.118 x cos 300
    # = 55706.42 + 93.5 + 0.059 = 55799.979 m a degree, 1115.99958 m across 960 units (the
    # square is 0.01 tall: half as many metres, so the width fills the map); a quarter of
    # the map: 250 x 1.1625 = 290.6 m -> 200 m bar, 200 / 1.16249956 = 172.04 -> 172
    assert abs(svg.metres_per_degree_lon(600_000_000) - Fraction("55799.979")) < Fraction(1, 10**9)
    lat = 600_000_000
    ring = [[0, lat], [200_000, lat], [200_000, lat + 100_000], [0, lat + 100_000]]
    out = str(svg.plot_map([{"id": "N", "polygon": {"coordinates": [ring + [ring[0]]]}}]))
    assert re.search(r'data-metres="(\d+)" data-units="(\d+)"', out).groups() == ("200", "172")


@given(st.fractions(min_value=Fraction(1, 1000), max_value=Fraction(10**6)), st.integers(1, 2000))
def test_map_scale_is_the_longest_nice_bar_that_fits(metres_per_unit: Fraction, max_units: int) -> None:
    metres, units = svg.map_scale(metres_per_unit, max_units)
    digits = str(metres)
    assert digits[0] in "125" and set(digits[1:]) <= {"0"}
    if metres > 1:
        assert metres / metres_per_unit <= max_units
    # drawn rounded half up to whole units, at least one unit long
    assert units == max(1, math.floor(metres / metres_per_unit + Fraction(1, 2)))
    nicer = [m * 10**k for k in range(10) for m in (1, 2, 5) if m * 10**k > metres]
    assert min(nicer) / metres_per_unit > max_units


def test_km_text_and_cos() -> None:
    assert [svg.km_text(m) for m in (1, 20, 500, 1000, 2000, 5500)] == \
        ["0.001", "0.02", "0.5", "1", "2", "5.5"]
    assert abs(svg.cos_e7(600_000_000) - Fraction(1, 2)) < Fraction(1, 10**14)
    assert abs(svg.cos_e7(900_000_000)) < Fraction(1, 10**14)
    assert abs(svg.cos_e7(-1_800_000_000) + 1) < Fraction(1, 10**14)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_project_and_plot_maps_have_labels_legend_and_scale(client, lang: str) -> None:
    try:
        project = main_of(client.get("/explorer/projects/AH-0001", params={"lang": lang}).text)
        plot = main_of(client.get("/explorer/plots/F1").text)
    finally:
        client.cookies.clear()
    figure = project.split('id="plot-map"')[1].split("</figure>")[0]
    for plot_id in ("F1", "F2", "F3"):
        assert '<text class="plot-label"' in figure and f'data-plot="{plot_id}">{plot_id}</text>' in figure
        assert f'<li data-plot="{plot_id}" data-colour="#' in figure
    assert figure.count('class="scale-bar"') == 1 and " km</text>" in figure
    legend = figure.split('id="map-legend"')[1]
    assert {"en": "Plot boundary (label: plot id)", "zh": "地块边界（标注：地块编号）"}[lang] in legend
    assert {"en": "Scale bar", "zh": "比例尺"}[lang] in legend
    assert 'class="scale-bar"' in plot and 'data-plot="F1">F1</text>' in plot
    assert 'id="map-legend"' in plot


def test_legend_swatches_have_the_map_colours() -> None:
    css = (Path(svg.__file__).parent / "static" / "explorer.css").read_text(encoding="utf-8")
    for i, colour in enumerate(svg.PALETTE):
        assert f".swatch-{i} {{ background: {colour}8c; }}" in css  # 8c: the map's 0.55 opacity


# -- screenshots ----------------------------------------------------------------------------------
def test_screenshots_are_small_listed_and_referenced() -> None:
    root = Path(svg.__file__).resolve().parent.parent
    shots = root / "docs" / "screenshots"
    listing = (shots / "README.md").read_text(encoding="utf-8")
    explorer_doc = (root / "docs" / "explorer.md").read_text(encoding="utf-8")
    pngs = sorted(p.name for p in shots.glob("*.png"))
    for page in ("dashboard", "project", "statement", "market", "indicators", "verify-phone"):
        for lang in ("en", "zh"):
            assert f"{page}-{lang}.png" in pngs
            assert f"(screenshots/{page}-{lang}.png)" in explorer_doc
    for name in pngs:
        assert (shots / name).stat().st_size < 300_000, name
        assert f"`{name}`" in listing, name
        assert (shots / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
