"""The explorer scenario (tests/support/explorer.py) extended with market activity over
three calendar months, for the market page and the policy indicators:

* month 0 (the scenario's): Owner Farm sells 4 t of AH-0001 at 90 on the exchange, and
  5 t off-exchange at 80 (a priced transfer) -- both primary sales;
* month 1 (+31 days): Owner Farm sells 2 more t from its listing at 95 (primary);
* month 2 (+62 days): Buyer Steel lists 1 t at 100 and sells it to Buyer Power (a resale);
  a project in a second county (``XC-0001``, county 341024, one plot) is registered and
  issues batch ``B9``; ``XC-0002`` is validated but not registered, ``XC-0003`` only
  submitted (county 340122).

``ids["months"]`` holds the three months (``YYYY-MM``, China Standard Time),
``ids["market_trades"]`` the exchange trade ids, oldest first.
"""

from __future__ import annotations

from pathlib import Path

from chaincode.carbon_market import TRADE_PREFIX
from explorer.data import iso_time
from tests.support.carbon_market import area_ha, h256, polygon, square
from tests.support.explorer import Scenario, StoreMarket, build_scenario

__all__ = ["DAY_MS", "OTHER_COUNTY", "build_market_scenario", "month_of_height"]

DAY_MS = 86_400_000
OTHER_COUNTY = "341024"


def month_of_height(sc: Scenario, height: int) -> str:
    block = sc.store.get_block(height)
    iso = iso_time(block.header.time)
    assert iso is not None
    return iso[:7]


def build_market_scenario(path: Path) -> Scenario:
    sc = build_scenario(path)
    chain, ids = sc.chain, sc.ids
    trades = [ids["trade_tx"]]
    months = [month_of_height(sc, sc.store.get_tx_location(ids["trade_tx"])[0])]
    listing = chain.get(TRADE_PREFIX + ids["trade_tx"])["listing_id"]
    chain.time += 31 * DAY_MS
    out = chain.ok("exchange", "match_trade", {
        "listing_id": listing, "buyer_org": "buyer-steel", "quantity": 2, "price": "95",
        "settlement_ref": "S-002"})
    trades.append(out["_tx_id"])
    months.append(month_of_height(sc, sc.store.latest_height()))
    chain.time += 31 * DAY_MS
    resale = chain.ok("buyer-steel", "create_listing",
                      {"quantity": 1, "price": "100", "exchange_org": "exchange"})
    ids["resale_listing"] = resale["listing_id"]
    out = chain.ok("exchange", "match_trade", {
        "listing_id": resale["listing_id"], "buyer_org": "buyer-power", "quantity": 1,
        "price": "100", "settlement_ref": "S-003"})
    trades.append(out["_tx_id"])
    months.append(month_of_height(sc, sc.store.latest_height()))
    assert len(set(months)) == 3, months
    m = StoreMarket(chain)
    m._square = 41  # clear of the scenario's squares (X1 takes square 40)
    ring = square(40)
    m.plots["X1"] = {"owner": "owner-farm", "ring": ring, "species": "chinese_fir"}
    chain.ok("owner-farm", "register_plot", {
        "plot_id": "X1", "polygon": polygon(ring), "declared_area_ha": area_ha(ring),
        "county_code": OTHER_COUNTY,
        "tenure": {"doc_type": "forest_right_cert", "doc_number": "皖林权X1",
                   "scan_sha256": h256("scan:X1")},
        "species": "chinese_fir", "planting_date": "2017-11-20",
        "non_forest_evidence": {"sha256": h256("nf:X1"), "years": 3}})
    m.project("XC-0001", "owner-farm", [("X1", "chinese_fir")])
    ids["b9"] = m.issue("XC-0001", "B9", volume="13")
    assert month_of_height(sc, sc.store.latest_height()) == months[-1]
    # the pipeline: one project validated but not registered, one only submitted
    m.project("XC-0002", "owner-farm", [("X2", "chinese_fir")], register=False)
    m.plot("X3", "owner-farm")
    chain.ok("owner-farm", "submit_project", {
        "project_id": "XC-0003", "name": "Afforestation XC-0003",
        "methodology": "CCER-14-001-V01", "plots": ["X3"], "start_date": "2018-01-01",
        "crediting_period_years": 30, "baseline": "0", "risk_rating": "low",
        "pdd_sha256": h256("pdd:XC-0003")})
    ids["market_trades"] = trades
    ids["months"] = months
    ids["open_listing"] = listing
    return sc
