"""chaincode/queries.py over committed state built by real transactions."""

from __future__ import annotations

import pytest

from chaincode import queries
from ledger.encoding import canonical
from ledger.errors import LedgerError
from tests.support.carbon_market import Market, h256


@pytest.fixture
def m() -> Market:
    """AH-0001 (owner-farm): B1 units 1-30 (buffer 28-30) and B2 units 31-60 (buffer
    58-60); buyer-steel bought 1-4 on the exchange and retired 1-2 for 2025; coop's
    AH-0002 B3 (units 1-30, buffer 28-30) lost 2 buffer units to fire."""
    mk = Market()
    mk.project("AH-0001", "owner-farm", [("F1", "chinese_fir"), ("F2", "masson_pine")])
    mk.project("AH-0002", "coop", [("C1", "chinese_fir")])
    b1 = mk.issue("AH-0001", "B1", volume="13")
    mk.issue("AH-0001", "B2", volume="13")
    mk.issue("AH-0002", "B3")
    assert (b1["first"], b1["last"], b1["buffer_quantity"]) == (1, 30, 3)
    lid = mk.ok("owner-farm", "create_listing",
                {"quantity": 10, "price": "90", "exchange_org": "exchange"})["listing_id"]
    mk.ok("exchange", "match_trade", {"listing_id": lid, "buyer_org": "buyer-steel",
                                      "quantity": 4, "price": "90", "settlement_ref": "S1"})
    mk.ok("regulator", "record_obligation",
          {"enterprise_org": "buyer-steel", "period": "2025", "obligation_tonnes": 1000})
    mk.ok("buyer-steel", "retire_compliance", {"period": "2025", "quantity": 2})
    mk.ok("regulator", "record_loss_event", {"project_id": "AH-0002", "quantity": 2,
                                             "cause": "fire", "evidence_sha256": h256("fire")})
    mk.ok("regulator", "accrue_subsidy", {"batch_id": "B1"})
    return mk


def test_holdings_totals_and_ranges(m: Market) -> None:
    out = queries.holdings(m.h.state, "owner-farm")
    assert out["totals"] == {"cancelled": 0, "frozen": 0, "held": 44, "listed": 6, "retired": 0}
    assert out["projects"] == {"AH-0001": out["totals"]}
    assert out["batches"]["B1"]["held"] == 17 and out["batches"]["B1"]["listed"] == 6
    assert out["batches"]["B2"]["held"] == 27 and out["batches"]["B2"]["vintage"] == 2019
    assert [(r["first"], r["last"], r["state"]) for r in out["ranges"]] == [
        (11, 27, "held"), (31, 57, "held"), (5, 10, "listed")]
    assert out["ranges"][0]["serial"] == "CCER-AH-0001-2018-000000011-000000027"
    assert out["next"] is None
    steel = queries.holdings(m.h.state, "buyer-steel")
    assert steel["totals"]["retired"] == 2 and steel["totals"]["held"] == 2
    assert queries.holdings(m.h.state, "nobody")["totals"]["held"] == 0
    canonical(out)  # plain JSON values only


def test_holdings_pagination_and_project_filter(m: Market) -> None:
    first = queries.holdings(m.h.state, "owner-farm", limit=2)
    assert len(first["ranges"]) == 2 and first["next"] is not None
    assert first["totals"]["held"] == 44  # totals cover everything, not the page
    rest = queries.holdings(m.h.state, "owner-farm", limit=2, after=first["next"])
    assert [(r["first"], r["state"]) for r in rest["ranges"]] == [(5, "listed")]
    assert rest["next"] is None
    only = queries.holdings(m.h.state, "coop", project_id="AH-0002")
    assert only["totals"]["held"] == 27
    assert queries.holdings(m.h.state, "coop", project_id="AH-0001")["ranges"] == []
    with pytest.raises(LedgerError) as exc:
        queries.holdings(m.h.state, "coop", limit=0)
    assert exc.value.code == "invalid_query"
    with pytest.raises(LedgerError):
        queries.holdings(m.h.state, "coop", limit=queries.MAX_LIMIT + 1)


def test_project_view(m: Market) -> None:
    out = queries.project(m.h.state, "AH-0001")
    assert out["project"]["id"] == "AH-0001"
    assert [p["id"] for p in out["plots"]] == ["F1", "F2"]
    assert [r["id"] for r in out["reports"]] == ["B1-R", "B2-R"]
    assert [a["id"] for a in out["attestations"]] == ["VAL-AH-0001", "VER-B1-R", "VER-B2-R"]
    assert [b["id"] for b in out["batches"]] == ["B1", "B2"]
    assert out["batches"][0]["counts"]["issued"] == 30
    assert out["totals"] == {"buffer": 6, "cancelled": 0, "frozen": 0, "held": 46,
                             "issued": 60, "listed": 6, "retired": 2}
    assert [s["batch_id"] for s in out["subsidies"]] == ["B1"]
    other = queries.project(m.h.state, "AH-0002")
    assert other["totals"]["cancelled"] == 2 and other["totals"]["buffer"] == 1
    with pytest.raises(LedgerError) as exc:
        queries.project(m.h.state, "AH-9")
    assert exc.value.code == "not_found"


def test_batches_and_totals(m: Market) -> None:
    out = queries.batches(m.h.state)
    assert [b["id"] for b in out["batches"]] == ["B1", "B2", "B3"]
    assert out["batches"][2]["counts"]["cancelled"] == 2
    assert [b["id"] for b in queries.batches(m.h.state, "AH-0002")["batches"]] == ["B3"]
    page = queries.batches(m.h.state, limit=2)
    assert page["next"] == "batch/B2"
    assert [b["id"] for b in queries.batches(m.h.state, after=page["next"])["batches"]] == ["B3"]
    assert queries.totals(m.h.state) == {
        "batches": 3, "buffer": 7, "cancelled": 2, "frozen": 0, "held": 73, "issued": 90,
        "listed": 6, "projects": 2, "retired": 2}


def test_buffer_pool(m: Market) -> None:
    out = queries.buffer_pool(m.h.state)
    assert out["totals"] == {"cancelled": 2, "frozen": 0, "held": 7}
    assert out["projects"] == {"AH-0001": {"cancelled": 0, "frozen": 0, "held": 6},
                               "AH-0002": {"cancelled": 2, "frozen": 0, "held": 1}}
    assert [(loss["project_id"], loss["quantity"], loss["cause"]) for loss in out["losses"]] == [
        ("AH-0002", 2, "fire")]


def test_retirements_filters(m: Market) -> None:
    m.ok("coop", "retire_voluntary", {"quantity": 3, "beneficiary": "Hefei marathon 2024",
                                      "reason": "event footprint"})
    everything = queries.retirements(m.h.state)["retirements"]
    assert [(r["enterprise"], r["purpose"]) for r in everything] == [
        ("buyer-steel", "compliance"), ("coop", "voluntary")]  # commit order
    assert [r["enterprise"] for r in queries.retirements(m.h.state, enterprise="coop")
            ["retirements"]] == ["coop"]
    assert len(queries.retirements(m.h.state, period="2025")["retirements"]) == 1
    assert queries.retirements(m.h.state, enterprise="coop", period="2025")["retirements"] == []
    page = queries.retirements(m.h.state, limit=1)
    assert page["next"] is not None
    assert [r["enterprise"] for r in queries.retirements(m.h.state, after=page["next"])
            ["retirements"]] == ["coop"]


def test_trace_of_a_retired_unit_back_to_the_plots(m: Market) -> None:
    out = queries.trace(m.h.state, "AH-0001:2")
    assert out["serial"] == "AH-0001:2"
    assert out["printable"] == "CCER-AH-0001-2018-000000002-000000002"
    assert out["range"]["state"] == "retired" and out["range"]["account"] == "buyer-steel"
    kinds = [p["kind"] for p in out["provenance"]]
    assert kinds == ["batch", "verification", "report", "validation", "registration", "project",
                     "plot", "plot"]
    assert all(p["tx_id"] and p["height"] for p in out["provenance"])
    assert [p["id"] for p in out["provenance"] if p["kind"] == "plot"] == ["F1", "F2"]
    assert out["plots"] == ["F1", "F2"]
    assert [s["action"] for s in out["steps"]] == ["issue", "list", "trade", "retire"]
    assert [s["state"] for s in out["steps"]] == ["held", "listed", "held", "retired"]
    heights = [s["height"] for s in out["steps"]]
    assert heights == sorted(heights) and all(s["tx_id"] for s in out["steps"])
    assert out["steps"][2]["record"]["settlement_ref"] == "S1"
    assert out["retirement"]["purpose"] == "compliance"
    assert out["retirement"]["tx_id"] == out["steps"][3]["tx_id"]
    # the printable serial of a range traces its first unit
    again = queries.trace(m.h.state, "CCER-AH-0001-2018-000000002-000000004")
    assert again["unit"] == 2 and again["steps"] == out["steps"]
    canonical(out)


@pytest.mark.parametrize(
    ("serial", "code"),
    [("AH-0001:999", "not_found"), ("AH-0404:1", "not_found"), ("AH-0001", "invalid_serial"),
     ("AH-0001:0x1", "invalid_serial"), ("AH-0001:01", "invalid_serial"), (":5", "invalid_serial"),
     ("", "invalid_serial")],
)
def test_trace_bad_serials(m: Market, serial: str, code: str) -> None:
    with pytest.raises(LedgerError) as exc:
        queries.trace(m.h.state, serial)
    assert exc.value.code == code
