"""The market half of the "carbon" contract: listings, trades, transfers, obligations,
retirements, loss events, freezes, invalidation and subsidies, each through signed
transactions on the Harness, with every refusal checked for its code and for changing
nothing (``Harness.fails``)."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chaincode.carbon_market import settlement_date_after, split_proceeds
from chaincode.schema import SchemaError, validate_args
from chaincode.units import BUFFER_ACCOUNT
from ledger.encoding import CanonicalEncodingError
from tests.support.carbon_market import Market, check_invariants, h256
from tests.support.harness import DEFAULT_ORGS, Harness

EXCHANGE = "exchange"
EVIDENCE = h256("fire-report")


@pytest.fixture
def m() -> Market:
    """AH-0001 (owner-farm, Chinese fir, low risk): batch B1 = units 1-30, 1-27 to
    owner-farm, 28-30 to the buffer pool. AH-0002 (coop, Masson pine, high risk): batch
    B2 = units 1-28, 1-22 to coop, 23-28 to the buffer pool."""
    mk = Market()
    mk.project("AH-0001", "owner-farm", [("F1", "chinese_fir")], risk="low")
    mk.project("AH-0002", "coop", [("M1", "masson_pine")], risk="high")
    b1 = mk.issue("AH-0001", "B1")
    b2 = mk.issue("AH-0002", "B2")
    assert (b1["first"], b1["last"], b1["owner_quantity"]) == (1, 30, 27)
    assert (b2["first"], b2["last"], b2["owner_quantity"]) == (1, 28, 22)
    return mk


def listing(m: Market, seller: str = "owner-farm", quantity: int = 10, price: str = "80",
            **extra: object) -> str:
    args = {"quantity": quantity, "price": price, "exchange_org": EXCHANGE, **extra}
    return m.ok(seller, "create_listing", args)["listing_id"]


def trade_args(listing_id: str, quantity: int = 4, price: str = "80", buyer: str = "buyer-steel",
               **extra: object) -> dict:
    return {"listing_id": listing_id, "buyer_org": buyer, "quantity": quantity, "price": price,
            "settlement_ref": "AHEX-2023-0001", **extra}


def transfer_args(quantity: int = 5, src: str = "owner-farm", dst: str = "buyer-power",
                  **extra: object) -> dict:
    return {"from_org": src, "to_org": dst, "quantity": quantity, **extra}


def unit_of(m: Market, project_id: str, n: int) -> dict:
    for r in m.ranges(project_id):
        if r["first"] <= n <= r["last"]:
            return r
    raise AssertionError(f"no unit {n}")


# -- listings -----------------------------------------------------------------------------
def test_listing_moves_units_held_to_listed_in_order(m: Market) -> None:
    lid = listing(m, quantity=10, price="85.50")
    rec = m.get(f"listing/{lid}")
    assert rec["status"] == "open" and rec["remaining"] == 10 and rec["seller"] == "owner-farm"
    assert rec["ranges"] == [{"first": 1, "last": 10, "project_id": "AH-0001"}]
    assert m.count("owner-farm", "listed") == 10 and m.count("owner-farm", "held") == 17
    assert unit_of(m, "AH-0001", 10)["history"][-1]["action"] == "list"
    check_invariants(m.h.state)


def test_listing_restricted_to_batch_and_serial_range(m: Market) -> None:
    lid = listing(m, quantity=3, batch_id="B1", first=5, last=20)
    assert m.get(f"listing/{lid}")["ranges"] == [{"first": 5, "last": 7, "project_id": "AH-0001"}]
    assert [(r["first"], r["last"], r["state"]) for r in m.ranges("AH-0001")][:3] == [
        (1, 4, "held"), (5, 7, "listed"), (8, 27, "held")]
    check_invariants(m.h.state)


@pytest.mark.parametrize(
    ("code", "signer", "args"),
    [
        ("unauthorized", "regulator", {}),
        ("unauthorized", "verifier-a", {}),
        ("unauthorized", "exchange", {}),
        ("insufficient_units", "owner-farm", {"quantity": 28}),
        ("insufficient_units", "buyer-steel", {"quantity": 1}),
        ("unknown_org", "owner-farm", {"exchange_org": "no-such-exchange"}),
        ("invalid_role", "owner-farm", {"exchange_org": "buyer-steel"}),
        ("invalid_price", "owner-farm", {"price": "0"}),
        ("invalid_price", "owner-farm", {"price": "0.00"}),
        ("invalid_args", "owner-farm", {"price": "1.234"}),
        ("invalid_args", "owner-farm", {"price": "-5"}),
        ("invalid_args", "owner-farm", {"price": "80.5.0"}),
        ("invalid_args", "owner-farm", {"quantity": 0}),
        ("invalid_args", "owner-farm", {"quantity": -3}),
        ("invalid_args", "owner-farm", {"quantity": "5"}),
        ("invalid_args", "owner-farm", {"quantity": True}),
        ("invalid_args", "owner-farm", {"colour": "green"}),
        ("unknown_project", "owner-farm", {"project_id": "AH-9999"}),
        ("unknown_batch", "owner-farm", {"batch_id": "B9"}),
        ("batch_not_in_project", "owner-farm", {"batch_id": "B1", "project_id": "AH-0002"}),
        ("invalid_range", "owner-farm", {"project_id": "AH-0001", "first": 3}),
        ("invalid_range", "owner-farm", {"first": 3, "last": 5}),
        ("invalid_range", "owner-farm", {"project_id": "AH-0001", "first": 5, "last": 3}),
        ("units_not_available", "owner-farm", {"project_id": "AH-0001", "first": 25, "last": 30}),
        ("insufficient_units", "owner-farm", {"project_id": "AH-0002"}),
    ],
)
def test_create_listing_refusals(m: Market, code: str, signer: str, args: dict) -> None:
    base = {"quantity": 5, "price": "80", "exchange_org": EXCHANGE}
    m.fails(code, signer, "create_listing", {**base, **args})


def test_float_quantity_cannot_even_be_signed_and_schema_refuses_it(m: Market) -> None:
    with pytest.raises(CanonicalEncodingError):
        m.h.make_tx("owner-farm", "carbon", "create_listing",
                    {"quantity": 5.0, "price": "80", "exchange_org": EXCHANGE})
    spec = m.h.executor.contracts["carbon"].methods()["create_listing"].args
    with pytest.raises(SchemaError, match="quantity"):
        validate_args(spec, {"quantity": 5.0, "price": "80", "exchange_org": EXCHANGE})


def test_cancel_listing_returns_units(m: Market) -> None:
    lid = listing(m, quantity=10)
    m.fails("unauthorized", "coop", "cancel_listing", {"listing_id": lid})
    m.fails("unauthorized", "exchange", "cancel_listing", {"listing_id": lid})
    m.fails("unknown_listing", "owner-farm", "cancel_listing", {"listing_id": "nope"})
    out = m.ok("owner-farm", "cancel_listing", {"listing_id": lid})
    assert out["withdrawn"] == 10
    assert m.get(f"listing/{lid}")["status"] == "cancelled"
    assert m.count("owner-farm", "held") == 27 and m.count("owner-farm", "listed") == 0
    assert [s["action"] for s in unit_of(m, "AH-0001", 1)["history"]] == ["issue", "list", "delist"]
    m.fails("listing_closed", "owner-farm", "cancel_listing", {"listing_id": lid})
    m.fails("listing_closed", EXCHANGE, "match_trade", trade_args(lid))
    check_invariants(m.h.state)


# -- matched trades -----------------------------------------------------------------------------
def test_match_trade_moves_units_and_records_proceeds(m: Market) -> None:
    lid = listing(m, quantity=10, price="85.50")
    out = m.ok(EXCHANGE, "match_trade", trade_args(lid, quantity=4, price="86.01"))
    assert out["settlement_date"] == "2023-11-16"  # block date 2023-11-15 (Wed) CST, T+1
    trade = m.get(f"trade/{out['trade_id']}")
    assert trade["quantity"] == 4 and trade["buyer"] == "buyer-steel"
    assert trade["seller"] == "owner-farm" and trade["settlement_ref"] == "AHEX-2023-0001"
    assert trade["trade_date"] == "2023-11-15" and trade["gross"] == "344.04"
    # 34404 fen: farmers floor(0.3 x) = 10321, government floor(0.1 x) = 3440, owner rest
    assert trade["proceeds"] == [{
        "farmers": "103.21", "government": "34.40", "gross": "344.04", "owner": "206.43",
        "owner_org": "owner-farm", "project_id": "AH-0001", "quantity": 4, "sale": "primary",
    }]
    assert trade["ranges"][0]["serial"] == "CCER-AH-0001-2018-000000001-000000004"
    assert m.count("buyer-steel", "held") == 4
    rec = m.get(f"listing/{lid}")
    assert rec["remaining"] == 6 and rec["ranges"] == [
        {"first": 5, "last": 10, "project_id": "AH-0001"}]
    hist = unit_of(m, "AH-0001", 2)["history"]
    assert [s["action"] for s in hist] == ["issue", "list", "trade"]
    assert hist[-1]["from"] == "owner-farm" and hist[-1]["to"] == "buyer-steel"
    # fill the rest: the listing closes
    m.ok(EXCHANGE, "match_trade", trade_args(lid, quantity=6, price="85.50", buyer="buyer-power",
                                              settlement_date="2023-11-20"))
    rec = m.get(f"listing/{lid}")
    assert rec["status"] == "filled" and rec["remaining"] == 0 and rec["ranges"] == []
    m.fails("listing_closed", EXCHANGE, "match_trade", trade_args(lid, quantity=1))
    check_invariants(m.h.state)


def test_trade_proceeds_follow_the_projects_own_split() -> None:
    mk = Market()
    mk.project("AH-0003", "coop", [("S1", "chinese_fir")],
               split={"owner": "0.5", "farmers": "0.33", "government": "0.17"})
    mk.issue("AH-0003", "B3")
    lid = listing(mk, seller="coop", quantity=7, price="1.11")
    out = mk.ok(EXCHANGE, "match_trade", trade_args(lid, quantity=7, price="1.11"))
    # 777 fen: farmers floor(256.41) = 256, government floor(132.09) = 132, owner 389
    assert out["proceeds"][0] == {
        "farmers": "2.56", "government": "1.32", "gross": "7.77", "owner": "3.89",
        "owner_org": "coop", "project_id": "AH-0003", "quantity": 7, "sale": "primary"}


def test_listing_spanning_two_projects_splits_proceeds_per_project(m: Market) -> None:
    m.ok(["owner-farm", "buyer-power"], "transfer", transfer_args(5, dst="buyer-power"))
    m.ok(["coop", "buyer-power"], "transfer", transfer_args(5, src="coop", dst="buyer-power"))
    lid = listing(m, seller="buyer-power", quantity=10, price="50")
    rec = m.get(f"listing/{lid}")
    assert [(r["project_id"], r["first"], r["last"]) for r in rec["ranges"]] == [
        ("AH-0001", 1, 5), ("AH-0002", 1, 5)]
    out = m.ok(EXCHANGE, "match_trade", trade_args(lid, quantity=7, price="50"))
    assert [(p["project_id"], p["quantity"], p["gross"], p["owner_org"], p["sale"], p["farmers"])
            for p in out["proceeds"]] == [
        ("AH-0001", 5, "250.00", "owner-farm", "resale", None),
        ("AH-0002", 2, "100.00", "coop", "resale", None)]
    check_invariants(m.h.state)


@pytest.mark.parametrize(
    ("code", "signer", "over"),
    [
        ("unauthorized", "owner-farm", {}),
        ("unauthorized", "buyer-steel", {}),
        ("unauthorized", "regulator", {}),
        ("unknown_listing", EXCHANGE, {"listing_id": "L-none"}),
        ("unknown_org", EXCHANGE, {"buyer_org": "nobody"}),
        ("invalid_role", EXCHANGE, {"buyer_org": "verifier-a"}),
        ("self_trade", EXCHANGE, {"buyer_org": "owner-farm"}),
        ("exceeds_listing", EXCHANGE, {"quantity": 11}),
        ("price_below_ask", EXCHANGE, {"price": "79.99"}),
        ("invalid_price", EXCHANGE, {"price": "0"}),
        ("invalid_args", EXCHANGE, {"quantity": 0}),
        ("invalid_args", EXCHANGE, {"settlement_ref": ""}),
        ("invalid_date", EXCHANGE, {"settlement_date": "2023-02-30"}),
        ("invalid_settlement_date", EXCHANGE, {"settlement_date": "2023-11-15"}),
        ("invalid_settlement_date", EXCHANGE, {"settlement_date": "2023-11-01"}),
    ],
)
def test_match_trade_refusals(m: Market, code: str, signer: str, over: dict) -> None:
    lid = listing(m, quantity=10)
    m.fails(code, signer, "match_trade", {**trade_args(lid), **over})


def test_trade_on_another_exchange_is_refused() -> None:
    orgs = dict(DEFAULT_ORGS, **{"exchange-2": (["exchange"], None)})
    mk = Market(harness=Harness(orgs=orgs))
    mk.project("AH-0001")
    mk.issue("AH-0001", "B1")
    lid = listing(mk, quantity=5)
    mk.fails("wrong_exchange", "exchange-2", "match_trade", trade_args(lid))


def test_frozen_listed_units_cannot_trade_or_be_withdrawn(m: Market) -> None:
    lid = listing(m, quantity=10)
    m.ok("regulator", "freeze", {"project_id": "AH-0001", "first": 3, "last": 4, "reason": "probe"})
    # units 1-2 are before the frozen ones: they still trade
    m.ok(EXCHANGE, "match_trade", trade_args(lid, quantity=2))
    # 6 unfrozen units remain (5-10): asking for 8 cannot be met without the frozen ones
    m.fails("units_frozen", EXCHANGE, "match_trade", trade_args(lid, quantity=8))
    m.fails("units_frozen", "owner-farm", "cancel_listing", {"listing_id": lid})
    # 6 skips the frozen units 3-4
    out = m.ok(EXCHANGE, "match_trade", trade_args(lid, quantity=6))
    assert [(r["first"], r["last"]) for r in m.get(f"trade/{out['trade_id']}")["ranges"]] == [(5, 10)]
    rec = m.get(f"listing/{lid}")
    assert rec["remaining"] == 2 and rec["ranges"] == [{"first": 3, "last": 4, "project_id": "AH-0001"}]
    m.ok("regulator", "unfreeze", {"project_id": "AH-0001", "first": 1, "last": 30, "reason": "ok"})
    m.ok("owner-farm", "cancel_listing", {"listing_id": lid})
    assert m.count("owner-farm", "held") == 19
    check_invariants(m.h.state)


def test_settlement_date_skips_weekends() -> None:
    assert settlement_date_after("2023-11-15") == "2023-11-16"  # Wednesday -> Thursday
    assert settlement_date_after("2023-11-17") == "2023-11-20"  # Friday -> Monday
    assert settlement_date_after("2023-11-18") == "2023-11-20"  # Saturday -> Monday


@settings(max_examples=200, deadline=None)
@given(
    gross=st.integers(min_value=0, max_value=10**15),
    farmers=st.integers(min_value=0, max_value=1000),
    government=st.integers(min_value=0, max_value=1000),
)
def test_split_proceeds_sums_exactly_and_floors(gross: int, farmers: int, government: int) -> None:
    if farmers + government > 1000:
        farmers, government = farmers // 2, government // 2
    split = {"farmers": f"0.{farmers:03d}" if farmers < 1000 else "1",
             "government": f"0.{government:03d}" if government < 1000 else "1",
             "owner": "0"}
    out = split_proceeds(gross, split)
    assert out["farmers"] + out["government"] + out["owner"] == gross
    for part, share in (("farmers", farmers), ("government", government)):
        exact = Fraction(gross * share, 1000)
        assert exact - 1 < out[part] <= exact
    assert out["owner"] >= 0


# -- off-exchange transfers ------------------------------------------------------------------
def test_transfer_needs_both_parties(m: Market) -> None:
    out = m.ok(["owner-farm", "buyer-power"], "transfer",
               transfer_args(12, settlement_ref="OTC-77", price="70"))
    rec = m.get(f"transfer/{out['transfer_id']}")
    assert rec["from"] == "owner-farm" and rec["to"] == "buyer-power" and rec["quantity"] == 12
    assert rec["settlement_ref"] == "OTC-77" and rec["price"] == "70"
    assert m.count("buyer-power") == 12 and m.count("owner-farm") == 15
    # receiver's signature first works as well
    m.ok(["buyer-power", "owner-farm"], "transfer", transfer_args(1))
    check_invariants(m.h.state)


@pytest.mark.parametrize(
    ("code", "signers", "over"),
    [
        ("missing_signature", ["owner-farm"], {}),
        ("missing_signature", ["buyer-power"], {}),
        ("missing_signature", ["owner-farm", "buyer-steel"], {}),
        ("missing_signature", ["regulator", "buyer-power"], {}),
        ("self_transfer", ["owner-farm"], {"to_org": "owner-farm"}),
        ("insufficient_units", ["owner-farm", "buyer-power"], {"quantity": 28}),
        ("invalid_role", ["owner-farm", "exchange"], {"to_org": "exchange"}),
        ("invalid_args", ["owner-farm", "buyer-power"], {"quantity": -1}),
        ("invalid_args", ["owner-farm", "buyer-power"], {"price": "1.001"}),
        ("invalid_price", ["owner-farm", "buyer-power"], {"price": "0"}),
        ("unknown_project", ["owner-farm", "buyer-power"], {"project_id": "ZZ"}),
        ("units_not_available", ["owner-farm", "buyer-power"],
         {"project_id": "AH-0001", "first": 28, "last": 30}),
    ],
)
def test_transfer_refusals(m: Market, code: str, signers: list[str], over: dict) -> None:
    m.fails(code, signers, "transfer", {**transfer_args(), **over})


def test_unsigned_by_any_member_is_refused(m: Market) -> None:
    m.fails("unauthorized", "stranger", "transfer", transfer_args())


# -- obligations and compliance retirement ----------------------------------------------------
def obligation(m: Market, tonnes: int = 200, org: str = "buyer-steel", period: str = "2025") -> None:
    m.ok("regulator", "record_obligation",
         {"enterprise_org": org, "period": period, "obligation_tonnes": tonnes})


def test_compliance_retirement_under_cap(m: Market) -> None:
    m.ok(["owner-farm", "buyer-steel"], "transfer", transfer_args(20, dst="buyer-steel"))
    obligation(m, 200)  # cap floor(200 x 0.05) = 10
    out = m.ok("buyer-steel", "retire_compliance", {"period": "2025", "quantity": 6})
    assert out["cap"] == 10 and out["retired_for_period"] == 6
    rec = m.get(f"retirement/{out['retirement_id']}")
    assert rec["purpose"] == "compliance" and rec["period"] == "2025"
    assert rec["enterprise"] == "buyer-steel" and rec["quantity"] == 6
    assert rec["project_ids"] == ["AH-0001"] and rec["height"] == m.h.height
    assert rec["tx_id"] == out["retirement_id"]
    assert rec["ranges"][0]["serial"] == "CCER-AH-0001-2018-000000001-000000006"
    assert m.count("buyer-steel", "retired") == 6
    m.fails("cap_exceeded", "buyer-steel", "retire_compliance", {"period": "2025", "quantity": 5})
    m.ok("buyer-steel", "retire_compliance", {"period": "2025", "quantity": 4})
    m.fails("cap_exceeded", "buyer-steel", "retire_compliance", {"period": "2025", "quantity": 1})
    # a different period has its own obligation
    m.fails("no_obligation", "buyer-steel", "retire_compliance", {"period": "2026", "quantity": 1})
    assert m.get("obligation/buyer-steel/2025")["retired"] == 10
    check_invariants(m.h.state)


def test_cap_follows_the_offset_cap_parameter() -> None:
    mk = Market(params={"offset_cap": "0.1"})
    mk.project("AH-0001")
    mk.issue("AH-0001", "B1")
    mk.ok(["owner-farm", "buyer-steel"], "transfer", transfer_args(20, dst="buyer-steel"))
    obligation(mk, 119)  # floor(11.9) = 11
    mk.fails("cap_exceeded", "buyer-steel", "retire_compliance", {"period": "2025", "quantity": 12})
    mk.ok("buyer-steel", "retire_compliance", {"period": "2025", "quantity": 11})


def test_obligation_amendment(m: Market) -> None:
    m.ok(["owner-farm", "buyer-steel"], "transfer", transfer_args(20, dst="buyer-steel"))
    obligation(m, 200)
    m.ok("buyer-steel", "retire_compliance", {"period": "2025", "quantity": 8})
    m.fails("obligation_below_retired", "regulator", "record_obligation",
            {"enterprise_org": "buyer-steel", "period": "2025", "obligation_tonnes": 100})
    obligation(m, 400)
    rec = m.get("obligation/buyer-steel/2025")
    assert rec["obligation_tonnes"] == 400 and rec["retired"] == 8


@pytest.mark.parametrize(
    ("code", "signer", "args"),
    [
        ("unauthorized", "buyer-steel", {}),
        ("unauthorized", "exchange", {}),
        ("unknown_org", "regulator", {"enterprise_org": "ghost"}),
        ("invalid_role", "regulator", {"enterprise_org": "owner-farm"}),
        ("invalid_args", "regulator", {"period": "25"}),
        ("invalid_args", "regulator", {"period": "2025/H1"}),
        ("invalid_args", "regulator", {"obligation_tonnes": 0}),
        ("invalid_args", "regulator", {"obligation_tonnes": "100"}),
    ],
)
def test_record_obligation_refusals(m: Market, code: str, signer: str, args: dict) -> None:
    base = {"enterprise_org": "buyer-steel", "period": "2025", "obligation_tonnes": 100}
    m.fails(code, signer, "record_obligation", {**base, **args})


def test_compliance_retirement_refusals(m: Market) -> None:
    m.ok(["owner-farm", "buyer-steel"], "transfer", transfer_args(20, dst="buyer-steel"))
    obligation(m, 10_000)  # cap 500
    r = {"period": "2025", "quantity": 3}
    m.fails("unauthorized", "owner-farm", "retire_compliance", r)
    m.fails("unauthorized", "regulator", "retire_compliance", r)
    m.fails("no_obligation", "buyer-power", "retire_compliance", r)
    m.fails("insufficient_units", "buyer-steel", "retire_compliance", {**r, "quantity": 21})
    m.fails("invalid_args", "buyer-steel", "retire_compliance", {**r, "quantity": 0})
    m.fails("invalid_args", "buyer-steel", "retire_compliance", {**r, "quantity": -2})
    m.ok("buyer-steel", "retire_compliance", {**r, "project_id": "AH-0001", "first": 1, "last": 3})
    # the same serials again: retired is terminal
    m.fails("units_not_available", "buyer-steel", "retire_compliance",
            {**r, "project_id": "AH-0001", "first": 1, "last": 3})
    m.fails("units_not_available", "buyer-steel", "retire_voluntary",
            {"quantity": 1, "beneficiary": "x", "reason": "y", "project_id": "AH-0001",
             "first": 2, "last": 2})
    # and they can move nowhere
    m.fails("units_not_available", ["buyer-steel", "buyer-power"], "transfer",
            transfer_args(1, src="buyer-steel", project_id="AH-0001", first=1, last=1))
    m.fails("units_not_available", "buyer-steel", "create_listing",
            {"quantity": 1, "price": "1", "exchange_org": EXCHANGE, "project_id": "AH-0001",
             "first": 1, "last": 3})


# -- voluntary retirement -----------------------------------------------------------------
def test_voluntary_retirement(m: Market) -> None:
    out = m.ok("coop", "retire_voluntary", {
        "quantity": 4, "beneficiary": "合肥市第一中学", "reason": "2024 school sports day",
        "batch_id": "B2"})
    rec = m.get(f"retirement/{out['retirement_id']}")
    assert rec["purpose"] == "voluntary" and rec["beneficiary"] == "合肥市第一中学"
    assert rec["reason"] == "2024 school sports day" and rec["period"] is None
    assert rec["enterprise"] == "coop" and rec["project_ids"] == ["AH-0002"]
    assert m.count("coop", "retired") == 4
    m.fails("unauthorized", "regulator", "retire_voluntary",
            {"quantity": 1, "beneficiary": "x", "reason": "y"})
    m.fails("unauthorized", "verifier-b", "retire_voluntary",
            {"quantity": 1, "beneficiary": "x", "reason": "y"})
    m.fails("invalid_args", "coop", "retire_voluntary", {"quantity": 1, "reason": "y"})
    m.fails("invalid_args", "coop", "retire_voluntary", {"quantity": 1, "beneficiary": "",
                                                         "reason": "y"})
    m.fails("insufficient_units", "coop", "retire_voluntary",
            {"quantity": 19, "beneficiary": "x", "reason": "y"})
    check_invariants(m.h.state)


# -- loss events ---------------------------------------------------------------------------------
def test_loss_event_cancels_from_the_shared_pool_own_units_first(m: Market) -> None:
    out = m.ok("regulator", "record_loss_event", {
        "project_id": "AH-0002", "quantity": 4, "cause": "pests", "evidence_sha256": EVIDENCE,
        "description": "pine wilt nematode, compartment 12"})
    rec = m.get(f"loss/{out['loss_id']}")
    assert rec["quantity"] == 4 and rec["cause"] == "pests"
    assert rec["ranges"][0]["serial"] == "CCER-AH-0002-2018-000000023-000000026"
    assert m.count(BUFFER_ACCOUNT, "held", "AH-0002") == 2
    assert m.count(BUFFER_ACCOUNT, "cancelled", "AH-0002") == 4
    assert m.count(BUFFER_ACCOUNT, "held", "AH-0001") == 3  # other project untouched
    # one pool for all projects: AH-0002's last 2 units, then 1 of AH-0001's
    out = m.ok("regulator", "record_loss_event", {
        "project_id": "AH-0002", "quantity": 3, "cause": "fire", "evidence_sha256": EVIDENCE})
    assert (out["cancelled"], out["compensation"]) == (3, 0)
    assert m.count(BUFFER_ACCOUNT, "held", "AH-0002") == 0
    assert m.count(BUFFER_ACCOUNT, "held", "AH-0001") == 2
    # the pool cannot cover 5: 2 cancelled, 3 become AH-0002's compensation obligation
    out = m.ok("regulator", "record_loss_event", {
        "project_id": "AH-0002", "quantity": 5, "cause": "fire", "evidence_sha256": EVIDENCE})
    assert (out["cancelled"], out["compensation"]) == (2, 3)
    assert m.count(BUFFER_ACCOUNT, "held") == 0
    assert m.get("compensation/AH-0002") == {
        "incurred": 3, "outstanding": 3, "project_id": "AH-0002", "repaid": 0}
    check_invariants(m.h.state)


@pytest.mark.parametrize(
    ("code", "signer", "over"),
    [
        ("unauthorized", "owner-farm", {}),
        ("unauthorized", "verifier-a", {}),
        ("unknown_project", "regulator", {"project_id": "AH-0404"}),
        ("plot_not_in_project", "regulator", {"plot_id": "M1"}),
        ("invalid_args", "regulator", {"cause": "flood"}),
        ("invalid_args", "regulator", {"evidence_sha256": "abc"}),
        ("invalid_args", "regulator", {"quantity": 0}),
    ],
)
def test_loss_event_refusals(m: Market, code: str, signer: str, over: dict) -> None:
    base = {"project_id": "AH-0001", "quantity": 1, "cause": "fire", "evidence_sha256": EVIDENCE}
    m.fails(code, signer, "record_loss_event", {**base, **over})


# -- freeze / unfreeze / invalidate ----------------------------------------------------------------
def test_freeze_blocks_every_move_until_unfrozen(m: Market) -> None:
    out = m.ok("regulator", "freeze", {"batch_id": "B1", "reason": "tenure dispute"})
    assert out["quantity"] == 30
    rec = next(v for k, v in m.h.state.items() if k.startswith("freeze/"))
    assert b'"tenure dispute"' in rec
    obligation(m, 10_000, org="buyer-steel")
    m.fails("units_frozen", ["owner-farm", "buyer-power"], "transfer", transfer_args(1))
    m.fails("units_frozen", "owner-farm", "create_listing",
            {"quantity": 1, "price": "1", "exchange_org": EXCHANGE})
    m.fails("units_frozen", "owner-farm", "retire_voluntary",
            {"quantity": 1, "beneficiary": "b", "reason": "r"})
    # frozen pool units are never cancelled: the loss takes AH-0002's pool units
    m.ok("regulator", "record_loss_event", {
        "project_id": "AH-0001", "quantity": 1, "cause": "fire", "evidence_sha256": EVIDENCE})
    assert m.count(BUFFER_ACCOUNT, "cancelled", "AH-0002") == 1
    assert m.count(BUFFER_ACCOUNT, "cancelled", "AH-0001") == 0
    m.fails("nothing_to_freeze", "regulator", "freeze", {"batch_id": "B1", "reason": "again"})
    m.ok("regulator", "unfreeze", {"project_id": "AH-0001", "first": 1, "last": 10, "reason": "ok"})
    m.ok(["owner-farm", "buyer-power"], "transfer", transfer_args(10))
    m.fails("units_frozen", ["owner-farm", "buyer-power"], "transfer", transfer_args(1))
    assert [s["action"] for s in unit_of(m, "AH-0001", 1)["history"]] == [
        "issue", "freeze", "unfreeze", "transfer"]
    check_invariants(m.h.state)


def test_freeze_splits_ranges_and_skips_retired_units(m: Market) -> None:
    m.ok("owner-farm", "retire_voluntary", {"quantity": 5, "beneficiary": "b", "reason": "r"})
    retired_before = unit_of(m, "AH-0001", 3)
    out = m.ok("regulator", "freeze", {"project_id": "AH-0001", "first": 3, "last": 8,
                                       "reason": "probe"})
    assert out["quantity"] == 3  # 6-8; 3-5 are retired and untouched
    assert unit_of(m, "AH-0001", 3) == retired_before
    assert [(r["first"], r["last"], r["frozen"]) for r in m.ranges("AH-0001")][:3] == [
        (1, 5, False), (6, 8, True), (9, 27, False)]
    check_invariants(m.h.state)


@pytest.mark.parametrize(
    ("code", "signer", "args"),
    [
        ("unauthorized", "owner-farm", {"batch_id": "B1"}),
        ("unauthorized", EXCHANGE, {"batch_id": "B1"}),
        ("unknown_batch", "regulator", {"batch_id": "B404"}),
        ("unknown_project", "regulator", {"project_id": "AH-0404", "first": 1, "last": 2}),
        ("invalid_range", "regulator", {}),
        ("invalid_range", "regulator", {"project_id": "AH-0001"}),
        ("invalid_range", "regulator", {"project_id": "AH-0001", "first": 5, "last": 1}),
        ("invalid_range", "regulator", {"batch_id": "B1", "project_id": "AH-0001", "first": 1,
                                        "last": 2}),
        ("nothing_to_freeze", "regulator", {"project_id": "AH-0001", "first": 31, "last": 90}),
        ("invalid_args", "regulator", {"batch_id": "B1", "reason": ""}),
    ],
)
def test_freeze_refusals(m: Market, code: str, signer: str, args: dict) -> None:
    m.fails(code, signer, "freeze", {"reason": "r", **args})


def test_unfreeze_refusals(m: Market) -> None:
    m.fails("nothing_to_unfreeze", "regulator", "unfreeze", {"batch_id": "B1", "reason": "r"})
    m.fails("unauthorized", "buyer-steel", "unfreeze", {"batch_id": "B1", "reason": "r"})


def test_invalidate_cancels_held_and_listed_but_never_retired(m: Market) -> None:
    m.ok("owner-farm", "retire_voluntary", {"quantity": 2, "beneficiary": "b", "reason": "r"})
    lid = listing(m, quantity=6)  # 3-8
    m.ok(["owner-farm", "buyer-power"], "transfer", transfer_args(4))  # 9-12
    m.ok("regulator", "freeze", {"project_id": "AH-0001", "first": 10, "last": 10, "reason": "p"})
    retired = unit_of(m, "AH-0001", 1)
    out = m.ok("regulator", "invalidate", {"project_id": "AH-0001", "first": 1, "last": 10,
                                           "reason": "double-counted plot",
                                           "evidence_sha256": EVIDENCE})
    assert out["quantity"] == 8  # 3-10: listed 3-8, held 9-10 (10 frozen); 1-2 retired
    assert unit_of(m, "AH-0001", 1) == retired
    for n in range(3, 11):
        r = unit_of(m, "AH-0001", n)
        assert r["state"] == "cancelled" and not r["frozen"]
        assert r["history"][-1]["action"] == "invalidate"
    assert unit_of(m, "AH-0001", 9)["account"] == "buyer-power"
    rec = m.get(f"listing/{lid}")
    assert rec["status"] == "closed" and rec["remaining"] == 0 and rec["invalidated"] == 6
    m.fails("listing_closed", EXCHANGE, "match_trade", trade_args(lid, quantity=1))
    m.fails("nothing_to_invalidate", "regulator", "invalidate",
            {"project_id": "AH-0001", "first": 1, "last": 10, "reason": "again"})
    check_invariants(m.h.state)


def test_invalidate_part_of_a_listing_keeps_the_rest_open(m: Market) -> None:
    lid = listing(m, quantity=10)
    m.ok("regulator", "invalidate", {"project_id": "AH-0001", "first": 4, "last": 5,
                                     "reason": "fraud"})
    rec = m.get(f"listing/{lid}")
    assert rec["status"] == "open" and rec["remaining"] == 8
    assert rec["ranges"] == [{"first": 1, "last": 3, "project_id": "AH-0001"},
                             {"first": 6, "last": 10, "project_id": "AH-0001"}]
    out = m.ok(EXCHANGE, "match_trade", trade_args(lid, quantity=5))
    got = m.get(f"trade/{out['trade_id']}")["ranges"]
    assert [(r["first"], r["last"]) for r in got] == [(1, 3), (6, 7)]
    check_invariants(m.h.state)


@pytest.mark.parametrize(
    ("code", "signer", "over"),
    [
        ("unauthorized", "owner-farm", {}),
        ("unauthorized", "verifier-a", {}),
        ("unknown_project", "regulator", {"project_id": "AH-0404"}),
        ("invalid_range", "regulator", {"first": 9, "last": 2}),
        ("invalid_args", "regulator", {"first": 0}),
        ("invalid_args", "regulator", {"evidence_sha256": "zz"}),
        ("nothing_to_invalidate", "regulator", {"first": 100, "last": 200}),
    ],
)
def test_invalidate_refusals(m: Market, code: str, signer: str, over: dict) -> None:
    base = {"project_id": "AH-0001", "first": 1, "last": 2, "reason": "fraud"}
    m.fails(code, signer, "invalidate", {**base, **over})


# -- subsidies ---------------------------------------------------------------------------------
def test_subsidy_accrues_once_per_batch(m: Market) -> None:
    out = m.ok("regulator", "accrue_subsidy", {"batch_id": "B1"})
    assert out["amount"] == "810.00"  # the owner's 27 t (not the buffer's 3) x 30 RMB/t
    rec = m.get("subsidy/B1")
    assert rec["tonnes"] == 27 and rec["rate"] == "30" and rec["owner_org"] == "owner-farm"
    m.fails("already_accrued", "regulator", "accrue_subsidy", {"batch_id": "B1"})
    m.fails("unknown_batch", "regulator", "accrue_subsidy", {"batch_id": "B9"})
    m.fails("unauthorized", "owner-farm", "accrue_subsidy", {"batch_id": "B2"})
    m.fails("unauthorized", "verifier-b", "accrue_subsidy", {"batch_id": "B2"})


def test_subsidy_rate_is_a_parameter() -> None:
    mk = Market(params={"subsidy_rate": "22.33"})
    mk.project("AH-0001")
    mk.issue("AH-0001", "B1")
    # the owner's 27 t x 22.33 RMB/t = 602.91 (the rate has at most 2 places: exact)
    assert mk.ok("regulator", "accrue_subsidy", {"batch_id": "B1"})["amount"] == "602.91"
