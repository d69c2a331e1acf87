"""DOMAIN.md "Integrity rules": the benefit split is recorded on every primary sale by the
project owner (on the exchange or off it, whenever a price is recorded) and never on a
resale by a later holder; subsidies accrue on the owner's share of a batch and the
regulator records, once, when they are paid. Every refusal is checked for its code and for
changing nothing (``Harness.fails``)."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chaincode import queries
from ledger.encoding import decode
from tests.support.carbon_market import Market, check_invariants, h256

EXCHANGE = "exchange"
DAY_MS = 86_400_000


@pytest.fixture
def m() -> Market:
    """AH-0001 (owner-farm, low risk): B1 = units 1-30, 1-27 to owner-farm. AH-0002
    (coop, high risk): B2 = units 1-28, 1-22 to coop. Blocks are dated 2023-11-15 (CST)."""
    mk = Market()
    mk.project("AH-0001", "owner-farm", [("F1", "chinese_fir")], risk="low")
    mk.project("AH-0002", "coop", [("M1", "masson_pine")], risk="high")
    mk.issue("AH-0001", "B1")
    mk.issue("AH-0002", "B2")
    return mk


def sell_on_exchange(m: Market, seller: str, buyer: str, quantity: int, price: str,
                     **selection: object) -> dict:
    lid = m.ok(seller, "create_listing", {"quantity": quantity, "price": price,
                                          "exchange_org": EXCHANGE, **selection})["listing_id"]
    return m.ok(EXCHANGE, "match_trade", {
        "listing_id": lid, "buyer_org": buyer, "quantity": quantity, "price": price,
        "settlement_ref": f"AHEX-{seller}-{buyer}"})


def shares(m: Market, project_id: str = "AH-0001") -> dict:
    return queries.benefit_shares(m.h.state, project_id)


# -- the benefit split -----------------------------------------------------------------------
def test_owner_sale_on_the_exchange_records_the_split(m: Market) -> None:
    out = sell_on_exchange(m, "owner-farm", "buyer-steel", 10, "80")
    # 800.00 RMB: farmers 30 % = 240.00, government 10 % = 80.00, owner the rest 480.00
    assert out["proceeds"] == [{
        "farmers": "240.00", "government": "80.00", "gross": "800.00", "owner": "480.00",
        "owner_org": "owner-farm", "project_id": "AH-0001", "quantity": 10, "sale": "primary"}]
    assert m.get(f"trade/{out['trade_id']}")["proceeds"] == out["proceeds"]
    assert shares(m) == {"farmers": "240.00", "government": "80.00", "gross": "800.00",
                         "owner": "480.00", "primary_quantity": 10, "resale_gross": "0.00",
                         "resale_quantity": 0}


def test_resale_on_the_exchange_records_no_split_and_farmers_total_is_unchanged(
    m: Market,
) -> None:
    sell_on_exchange(m, "owner-farm", "buyer-steel", 10, "80")
    before = shares(m)
    out = sell_on_exchange(m, "buyer-steel", "buyer-power", 6, "95.50")
    assert out["proceeds"] == [{
        "farmers": None, "government": None, "gross": "573.00", "owner": None,
        "owner_org": "owner-farm", "project_id": "AH-0001", "quantity": 6, "sale": "resale"}]
    after = shares(m)
    for part in ("farmers", "government", "owner", "gross", "primary_quantity"):
        assert after[part] == before[part]
    assert (after["resale_quantity"], after["resale_gross"]) == (6, "573.00")
    check_invariants(m.h.state)


def test_one_listing_mixing_own_and_bought_units_splits_only_the_owners(m: Market) -> None:
    # coop buys 5 units of AH-0001 from its owner, then lists them with 5 of its own AH-0002
    m.ok(["owner-farm", "coop"], "transfer",
         {"from_org": "owner-farm", "to_org": "coop", "quantity": 5})
    out = sell_on_exchange(m, "coop", "buyer-steel", 10, "10")
    by_project = {p["project_id"]: p for p in out["proceeds"]}
    assert list(by_project) == ["AH-0001", "AH-0002"]
    assert by_project["AH-0001"]["sale"] == "resale" and by_project["AH-0001"]["farmers"] is None
    assert by_project["AH-0002"] == {
        "farmers": "15.00", "government": "5.00", "gross": "50.00", "owner": "30.00",
        "owner_org": "coop", "project_id": "AH-0002", "quantity": 5, "sale": "primary"}
    assert shares(m, "AH-0001")["farmers"] == "0.00"
    assert shares(m, "AH-0002")["farmers"] == "15.00"


def test_owner_off_exchange_sale_with_price_records_the_split(m: Market) -> None:
    out = m.ok(["owner-farm", "buyer-power"], "transfer", {
        "from_org": "owner-farm", "to_org": "buyer-power", "quantity": 12, "price": "70.05",
        "settlement_ref": "OTC-77"})
    # 12 x 70.05 = 840.60: farmers floor(252.18) = 252.18, government 84.06, owner 504.36
    expected = [{
        "farmers": "252.18", "government": "84.06", "gross": "840.60", "owner": "504.36",
        "owner_org": "owner-farm", "project_id": "AH-0001", "quantity": 12, "sale": "primary"}]
    assert out["proceeds"] == expected
    rec = m.get(f"transfer/{out['transfer_id']}")
    assert rec["proceeds"] == expected and rec["gross"] == "840.60"
    assert rec["settlement_ref"] == "OTC-77" and rec["price"] == "70.05"
    assert shares(m)["farmers"] == "252.18" and shares(m)["primary_quantity"] == 12


def test_holder_off_exchange_sale_with_price_records_no_split(m: Market) -> None:
    m.ok(["owner-farm", "buyer-power"], "transfer", {
        "from_org": "owner-farm", "to_org": "buyer-power", "quantity": 12, "price": "70"})
    before = shares(m)
    out = m.ok(["buyer-power", "buyer-steel"], "transfer", {
        "from_org": "buyer-power", "to_org": "buyer-steel", "quantity": 4, "price": "99.99",
        "settlement_ref": "OTC-78"})
    assert out["proceeds"] == [{
        "farmers": None, "government": None, "gross": "399.96", "owner": None,
        "owner_org": "owner-farm", "project_id": "AH-0001", "quantity": 4, "sale": "resale"}]
    after = shares(m)
    assert after["farmers"] == before["farmers"] == "252.00"
    assert (after["resale_quantity"], after["resale_gross"]) == (4, "399.96")


def test_transfer_without_price_records_no_sale(m: Market) -> None:
    out = m.ok(["owner-farm", "coop"], "transfer", {
        "from_org": "owner-farm", "to_org": "coop", "quantity": 3,
        "settlement_ref": "BENEFIT-SHARE"})
    assert out["proceeds"] == []
    rec = m.get(f"transfer/{out['transfer_id']}")
    assert rec["proceeds"] == [] and rec["gross"] is None and rec["price"] is None
    assert shares(m) == {"farmers": "0.00", "government": "0.00", "gross": "0.00",
                         "owner": "0.00", "primary_quantity": 0, "resale_gross": "0.00",
                         "resale_quantity": 0}


def test_refused_priced_transfer_records_nothing(m: Market) -> None:
    m.fails("insufficient_units", ["owner-farm", "buyer-power"], "transfer", {
        "from_org": "owner-farm", "to_org": "buyer-power", "quantity": 28, "price": "70"})
    m.fails("invalid_price", ["owner-farm", "buyer-power"], "transfer", {
        "from_org": "owner-farm", "to_org": "buyer-power", "quantity": 2, "price": "0.00"})
    assert shares(m)["primary_quantity"] == 0


# -- subsidies ---------------------------------------------------------------------------------
def test_subsidy_is_the_owner_share_times_the_rate(m: Market) -> None:
    b1 = m.get("batch/B1")
    assert (b1["quantity"], b1["owner_quantity"], b1["buffer_quantity"]) == (30, 27, 3)
    out = m.ok("regulator", "accrue_subsidy", {"batch_id": "B1"})
    assert out["amount"] == "810.00"  # 27 t (the owner's share, not 30) x 30 RMB/t
    rec = m.get("subsidy/B1")
    assert (rec["tonnes"], rec["rate"], rec["status"], rec["accrued_date"]) == (
        27, "30", "accrued", "2023-11-15")
    assert rec["paid_date"] is None and rec["payment_ref"] is None


def test_subsidy_excludes_compensation_repaid_to_the_pool() -> None:
    mk = Market()
    mk.project("AH-0001", "owner-farm", [("F1", "chinese_fir")], risk="low")
    mk.issue("AH-0001", "B1")  # 27 t to the owner, 3 t to the buffer pool
    # a loss larger than the pool: the shortfall is repaid by the next issuance
    loss = mk.ok("regulator", "record_loss_event", {
        "project_id": "AH-0001", "quantity": 10, "cause": "fire",
        "evidence_sha256": h256("fire"), "plot_id": "F1"})
    assert loss["compensation"] == 7
    mk.issue("AH-0001", "B2")
    b2 = mk.get("batch/B2")
    assert b2["compensation_quantity"] == 7
    assert b2["owner_quantity"] == b2["quantity"] - b2["buffer_quantity"]
    assert b2["buffer_quantity"] > b2["compensation_quantity"] > 0
    out = mk.ok("regulator", "accrue_subsidy", {"batch_id": "B2"})
    assert mk.get("subsidy/B2")["tonnes"] == b2["owner_quantity"]
    assert out["amount"] == f"{b2['owner_quantity'] * 30}.00"


def test_subsidy_of_a_batch_without_owner_share_is_refused() -> None:
    mk = Market()
    mk.project("AH-0001", "owner-farm", [("F1", "chinese_fir")], risk="low")
    mk.issue("AH-0001", "B1")
    # a loss far beyond the pool: the whole next batch goes to repay the compensation
    mk.ok("regulator", "record_loss_event", {
        "project_id": "AH-0001", "quantity": 1000, "cause": "fire",
        "evidence_sha256": h256("fire"), "plot_id": "F1"})
    mk.issue("AH-0001", "B2")
    b2 = mk.get("batch/B2")
    assert b2["owner_quantity"] == 0 and b2["compensation_quantity"] > 0
    result = mk.fails("no_owner_share", "regulator", "accrue_subsidy", {"batch_id": "B2"})
    assert "owner 0 of its" in result["message"] and "owner's share" in result["message"]
    assert mk.get("subsidy/B2") is None


def test_subsidy_paid_is_recorded_once(m: Market) -> None:
    m.ok("regulator", "accrue_subsidy", {"batch_id": "B1"})
    m.h.time += 20 * DAY_MS  # blocks now dated 2023-12-05
    args = {"batch_id": "B1", "payment_ref": "WJ-FIN-2023-118", "paid_date": "2023-12-01"}
    result = m.h.ok("regulator", "carbon", "record_subsidy_paid", args)
    assert m.h.returned(result) == {"amount": "810.00", "batch_id": "B1",
                                    "paid_date": "2023-12-01"}
    paid_events = [e for e in result["events"] if e["type"] == "carbon.subsidy_paid"]
    assert paid_events == [{"type": "carbon.subsidy_paid", "batch_id": "B1", "amount": "810.00",
                            "payment_ref": "WJ-FIN-2023-118", "paid_date": "2023-12-01"}]
    rec = m.get("subsidy/B1")
    assert (rec["status"], rec["paid_date"], rec["payment_ref"]) == (
        "paid", "2023-12-01", "WJ-FIN-2023-118")
    assert rec["paid_tx_id"] not in (None, rec["tx_id"]) and rec["paid_height"] > rec["height"]
    assert rec["amount"] == "810.00" and rec["tonnes"] == 27  # the accrual is unchanged
    result = m.fails("already_paid", "regulator", "record_subsidy_paid",
                     {**args, "payment_ref": "AGAIN"})
    assert "2023-12-01" in result["message"] and "WJ-FIN-2023-118" in result["message"]


def test_subsidy_paid_on_the_accrual_day_and_on_the_block_day(m: Market) -> None:
    m.ok("regulator", "accrue_subsidy", {"batch_id": "B1"})
    m.ok("regulator", "accrue_subsidy", {"batch_id": "B2"})
    m.ok("regulator", "record_subsidy_paid",
         {"batch_id": "B1", "payment_ref": "P-1", "paid_date": "2023-11-15"})
    m.h.time += 3 * DAY_MS  # 2023-11-18
    m.ok("regulator", "record_subsidy_paid",
         {"batch_id": "B2", "payment_ref": "P-2", "paid_date": "2023-11-18"})


def test_project_query_shows_accrued_and_paid(m: Market) -> None:
    m.ok("regulator", "accrue_subsidy", {"batch_id": "B1"})
    out = queries.project(m.h.state, "AH-0001")
    assert out["subsidy_totals"] == {"accrued": "810.00", "outstanding": "810.00",
                                     "paid": "0.00"}
    m.ok("regulator", "record_subsidy_paid",
         {"batch_id": "B1", "payment_ref": "P-1", "paid_date": "2023-11-15"})
    out = queries.project(m.h.state, "AH-0001")
    assert out["subsidy_totals"] == {"accrued": "810.00", "outstanding": "0.00",
                                     "paid": "810.00"}
    assert out["subsidies"][0]["status"] == "paid"


@pytest.mark.parametrize(
    ("code", "signer", "over"),
    [
        ("unauthorized", "owner-farm", {}),
        ("unauthorized", "exchange", {}),
        ("unknown_batch", "regulator", {"batch_id": "B9"}),
        ("subsidy_not_accrued", "regulator", {"batch_id": "B2"}),
        ("invalid_paid_date", "regulator", {"paid_date": "2023-11-16"}),  # after the block
        ("invalid_paid_date", "regulator", {"paid_date": "2024-01-01"}),
        ("invalid_paid_date", "regulator", {"paid_date": "2023-11-14"}),  # before accrual
        ("invalid_date", "regulator", {"paid_date": "2023-02-30"}),
        ("invalid_args", "regulator", {"paid_date": "2023-1-5"}),
        ("invalid_args", "regulator", {"payment_ref": ""}),
        ("invalid_args", "regulator", {"payment_ref": "x" * 129}),
        ("invalid_args", "regulator", {"payment_ref": 7}),
        ("invalid_args", "regulator", {"colour": "green"}),
    ],
)
def test_record_subsidy_paid_refusals(m: Market, code: str, signer: str, over: dict) -> None:
    m.ok("regulator", "accrue_subsidy", {"batch_id": "B1"})
    args = {"batch_id": "B1", "payment_ref": "P-1", "paid_date": "2023-11-15", **over}
    m.fails(code, signer, "record_subsidy_paid", args)
    assert m.get("subsidy/B1")["status"] == "accrued"


def test_paid_date_messages_name_the_dates(m: Market) -> None:
    m.ok("regulator", "accrue_subsidy", {"batch_id": "B1"})
    m.h.time += 5 * DAY_MS  # 2023-11-20
    late = m.fails("invalid_paid_date", "regulator", "record_subsidy_paid",
                   {"batch_id": "B1", "payment_ref": "P", "paid_date": "2023-11-21"})
    assert "2023-11-21" in late["message"] and "2023-11-20" in late["message"]
    early = m.fails("invalid_paid_date", "regulator", "record_subsidy_paid",
                    {"batch_id": "B1", "payment_ref": "P", "paid_date": "2023-11-14"})
    assert "2023-11-14" in early["message"] and "2023-11-15" in early["message"]


# -- property: resales never change the project's income ----------------------------------------
SALE = st.tuples(st.sampled_from(["owner-farm", "buyer-steel", "buyer-power"]),
                 st.integers(min_value=1, max_value=4), st.integers(min_value=1, max_value=99999),
                 st.booleans())


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sales=st.lists(SALE, min_size=1, max_size=6))
def test_only_the_owners_sales_add_to_the_farmers_income(sales: list) -> None:
    """Random sales by the owner and by later holders, on and off the exchange: the
    project's income is exactly the split of the owner's sales; each resale only adds to
    the resale figures."""
    mk = Market()
    mk.project("AH-0001", "owner-farm", [("F1", "chinese_fir")], risk="low")
    mk.issue("AH-0001", "B1")
    buyers = {"owner-farm": "buyer-steel", "buyer-steel": "buyer-power",
              "buyer-power": "buyer-steel"}
    farmers = primary = resale = 0
    for seller, qty, cents, on_exchange in sales:
        held = mk.count(seller, "held")
        if held == 0:
            continue
        qty = min(qty, held)
        price = f"{cents // 100}.{cents % 100:02d}"
        buyer = buyers[seller]
        if on_exchange:
            out = sell_on_exchange(mk, seller, buyer, qty, price)
        else:
            out = mk.ok([seller, buyer], "transfer", {"from_org": seller, "to_org": buyer,
                                                      "quantity": qty, "price": price})
        [entry] = out["proceeds"]
        assert entry["sale"] == ("primary" if seller == "owner-farm" else "resale")
        if seller == "owner-farm":
            farmers += qty * cents * 3 // 10
            primary += qty
        else:
            resale += qty
            assert entry["farmers"] is None
    got = queries.benefit_shares(mk.h.state, "AH-0001")
    assert got["farmers"] == f"{farmers // 100}.{farmers % 100:02d}"
    assert (got["primary_quantity"], got["resale_quantity"]) == (primary, resale)
    # the income record kept at every sale is the sum of every sale's proceeds entries
    summed = {"primary": 0, "resale": 0, "gross": 0, "resale_gross": 0}
    for prefix in ("trade/", "transfer/"):
        for _key, raw in mk.h.state.iter_prefix(prefix):
            for entry in decode(raw)["proceeds"]:
                cents = round(Fraction(entry["gross"]) * 100)
                if entry["sale"] == "primary":
                    summed["primary"] += entry["quantity"]
                    summed["gross"] += cents
                else:
                    summed["resale"] += entry["quantity"]
                    summed["resale_gross"] += cents
    stored = mk.h.state.get("income/AH-0001")
    income = {} if stored is None else decode(stored)
    assert (income.get("primary_quantity", 0), income.get("resale_quantity", 0)) == (
        summed["primary"], summed["resale"])
    assert (income.get("gross", 0), income.get("resale_gross", 0)) == (
        summed["gross"], summed["resale_gross"])
    check_invariants(mk.h.state)
