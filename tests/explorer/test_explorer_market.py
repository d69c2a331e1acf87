"""Issue 15: the market page (/explorer/market, /v1/explorer/market, the monthly CSV):
open listings, trades newest first with cursors, price and volume per month."""

from __future__ import annotations

import csv
import io
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from explorer.activity import fen
from explorer.data import average_fen, month_range
from explorer.i18n import LABELS, VALUES
from tests.support.explorer import Scenario, main_of, make_client, module_fixtures
from tests.support.market_scenario import build_market_scenario

sc, client = module_fixtures("explorer-market", build_market_scenario)


def test_trades_newest_first_with_sale_kind_and_parties(client, sc: Scenario) -> None:
    d = client.get("/v1/explorer/market").json()
    assert [t["id"] for t in d["trades"]] == sc.ids["market_trades"][::-1]
    newest, middle, oldest = d["trades"]
    assert (newest["sale"], newest["seller"], newest["buyer"]) == ("resale", "buyer-steel", "buyer-power")
    assert (newest["quantity"], newest["price"], newest["gross"]) == (1, "100.00", "100.00")
    assert (middle["sale"], middle["quantity"], middle["price"]) == ("primary", 2, "95.00")
    assert (oldest["sale"], oldest["quantity"], oldest["price"]) == ("primary", 4, "90.00")
    assert all(t["project_ids"] == ["AH-0001"] for t in d["trades"])
    assert [t["trade_date"][:7] for t in d["trades"]] == sc.ids["months"][::-1]


def test_trades_page_with_a_cursor(client, sc: Scenario) -> None:
    seen: list[str] = []
    before = None
    while True:
        params: dict[str, Any] = {"limit": 1} | ({} if before is None else {"trades_before": before})
        d = client.get("/v1/explorer/market", params=params).json()
        assert len(d["trades"]) <= 1
        seen += [t["id"] for t in d["trades"]]
        before = d["trades_next"]
        if before is None:
            break
    assert seen == sc.ids["market_trades"][::-1]


def test_open_listings_only(client, sc: Scenario) -> None:
    d = client.get("/v1/explorer/market").json()
    # Owner Farm's listing (10 t, 6 sold) is open; Buyer Steel's 1 t listing is filled
    assert [x["id"] for x in d["listings"]] == [sc.ids["open_listing"]]
    listing = d["listings"][0]
    assert (listing["remaining"], listing["quantity"], listing["price"]) == (4, 10, "90.00")
    assert listing["listed_height"] == sc.store.get_tx_location(sc.ids["open_listing"])[0]
    assert listing["listed_height"] < listing["height"]  # re-stamped by the fills


def test_months_volume_weighted_average_and_range(client, sc: Scenario) -> None:
    d = client.get("/v1/explorer/market").json()
    months = d["months"]
    assert len(months) == 24 and months[-1]["month"] == sc.ids["months"][-1]
    assert [m["month"] for m in months] == sorted(m["month"] for m in months)
    by = {m["month"]: m for m in months}
    m0, m1, m2 = (by[m] for m in sc.ids["months"])
    assert (m0["trades"], m0["volume"], m0["gross"], m0["average_price"]) == (1, 4, "360.00", "90.00")
    assert (m1["volume"], m1["average_price"], m1["low_price"], m1["high_price"]) == (2, "95.00", "95.00", "95.00")
    assert (m2["volume"], m2["average_price"]) == (1, "100.00")
    assert sum(m["volume"] for m in months) == 7  # exchange trades only, not the transfer
    empty = [m for m in months if m["month"] not in sc.ids["months"]]
    assert all(m["trades"] == 0 and m["average_price"] is None for m in empty)


def test_average_price_is_weighted_and_rounded_half_up() -> None:
    # 4 t at 90.00 and 2 t at 95.01: (36000 + 19002) / 6 = 9167 fen
    assert average_fen(4 * 9000 + 2 * 9501, 6) == 9167
    assert average_fen(3, 2) == 2 and average_fen(5, 2) == 3  # 1.5 -> 2, 2.5 -> 3
    assert average_fen(0, 0) is None
    assert month_range("2024-02", 3) == ["2023-12", "2024-01", "2024-02"]


def test_months_csv_has_bom_and_every_traded_month(client, sc: Scenario) -> None:
    r = client.get("/v1/export/market-months.csv")
    assert r.status_code == 200 and r.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert [row["month"] for row in rows] == sc.ids["months"]
    assert [row["average_price"] for row in rows] == ["90.00", "95.00", "100.00"]
    page = client.get("/v1/export/market-months.csv", params={"limit": 1})
    assert page.headers["x-next-cursor"] == sc.ids["months"][0]
    assert client.get("/v1/export/market-months.csv",
                      params={"after": "nope"}).json()["error"]["code"] == "bad_cursor"


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_market_page_in_both_languages(client, sc: Scenario, lang: str) -> None:
    main = main_of(client.get(f"/explorer/market?lang={lang}").text)
    assert LABELS["market"][lang] in main
    chart = main.split('id="market-chart"')[1].split("</figure>")[0]
    assert chart.count('class="bar-volume"') == 3 and chart.count('class="dot-price"') == 3
    trades = main.split('id="trades"')[1].split("</table>")[0]
    assert trades.count("<tr data-trade=") == 3
    assert VALUES["sale"]["resale"][lang] in trades and VALUES["sale"]["primary"][lang] in trades
    assert "Buyer Steel" in trades and 'href="/explorer/projects/AH-0001"' in trades
    months = main.split('id="months"')[1].split("</table>")[0]
    assert months.count("<tr data-month=") == 3
    assert 'href="/v1/export/market-months.csv"' in main
    listings = main.split('id="listings"')[1].split("</table>")[0]
    assert listings.count("<tr data-listing=") == 1


def test_market_page_pager_keeps_the_other_cursor(client) -> None:
    main = main_of(client.get("/explorer/market?limit=1").text)
    nxt = main.split('id="trades"')[1].split('rel="next" href="')[1].split('"')[0]
    assert nxt.startswith("/explorer/market?") and "trades_before=" in nxt and "limit=1" in nxt


def test_market_follows_new_blocks(tmp_path: Path) -> None:
    """The index is kept up to date incrementally: a trade and a retirement committed
    after the first request show up on the next one, exactly as a cold start counts them."""
    scenario = build_market_scenario(tmp_path / "store")
    try:
        with make_client(scenario) as c:
            before = c.get("/v1/explorer/market").json()
            listing = scenario.ids["open_listing"]
            out = scenario.chain.ok("exchange", "match_trade", {
                "listing_id": listing, "buyer_org": "buyer-steel", "quantity": 1,
                "price": "99.99", "settlement_ref": "S-004"})
            scenario.chain.ok("buyer-steel", "retire_voluntary",
                              {"quantity": 1, "beneficiary": "B", "reason": "r"})
            after = c.get("/v1/explorer/market").json()
            indicators = c.get("/v1/explorer/indicators").json()
        # the incrementally kept index equals one built from scratch at the same tip
        with make_client(scenario) as fresh:
            assert fresh.get("/v1/explorer/market").json() == after
            assert fresh.get("/v1/explorer/indicators").json() == indicators
        assert indicators["total"]["retired"] == 6 and indicators["total"]["traded"] == 13
        assert after["trades"][0]["id"] == out["_tx_id"]
        assert len(after["trades"]) == len(before["trades"]) + 1
        last = after["months"][-1]
        assert last["volume"] == before["months"][-1]["volume"] + 1
        assert last["high_price"] == "100.00" and last["low_price"] == "99.99"
        # (100.00 + 99.99) / 2 = 99.995 -> 100.00 (half up)
        assert last["average_price"] == "100.00"
    finally:
        scenario.store.close()


@pytest.mark.parametrize(("query", "code"), [
    ("trades_before=abc", "bad_cursor"),
    ("trades_before=1-", "bad_cursor"),
    ("trades_before=1-123456", "bad_cursor"),
    ("listings_after=noslash", "bad_cursor"),
    ("listings_after=%3Cx%3E", "bad_cursor"),
    ("limit=0", "bad_limit"),
    ("limit=101", "bad_limit"),
])
def test_bad_market_requests(client, query: str, code: str) -> None:
    r = client.get(f"/v1/explorer/market?{query}")
    assert r.status_code == 400 and r.json()["error"]["code"] == code
    page = client.get(f"/explorer/market?{query}")
    assert page.status_code == 400 and code in page.text


@given(st.integers(min_value=0, max_value=10**15), st.integers(min_value=1, max_value=10**9))
def test_average_fen_is_the_exact_quotient_rounded_half_up(gross: int, quantity: int) -> None:
    exact = Fraction(gross, quantity)
    avg = average_fen(gross, quantity)
    assert avg is not None and abs(Fraction(avg) - exact) <= Fraction(1, 2)
    assert Fraction(avg) - exact != Fraction(-1, 2)  # a tie goes up


@pytest.mark.parametrize(("text", "value"), [("90", 9000), ("0.5", 50), ("12.34", 1234),
                                             (None, 0), ("-1.05", -105)])
def test_fen_reads_ledger_amounts(text: str | None, value: int) -> None:
    assert fen(text) == value


@pytest.mark.parametrize("text", ["1.234", "abc", "1.x", ""])
def test_fen_refuses_what_is_not_an_amount(text: str) -> None:
    with pytest.raises(ValueError):
        fen(text)
