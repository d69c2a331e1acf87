"""The explorer's pages and JSON over a real store filled with committed blocks."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from chaincode import queries
from chaincode.units import find_range
from explorer.app import create_explorer_app
from explorer.source import ExplorerSource
from tests.support.common import det_key
from tests.support.explorer import XSS, Chain, Scenario, main_of, make_client, module_fixtures
from tests.support.harness import Harness

sc, client = module_fixtures("explorer")


# -- dashboard ----------------------------------------------------------------------------
def test_root_redirects_to_the_explorer(client) -> None:
    r = client.get("/", follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"] == "/explorer/"
    r = client.get("/explorer", follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"] == "/explorer/"


def test_dashboard_totals_match_queries_totals(client, sc: Scenario) -> None:
    r = client.get("/explorer/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    cells = dict(re.findall(r'data-total="(\w+)">([\d,]+)<', r.text))
    expected = queries.totals(sc.store)
    assert {k: int(v.replace(",", "")) for k, v in cells.items()} == expected
    assert expected["issued"] > 0 and expected["retired"] == 5 and expected["buffer"] > 0
    body = client.get("/v1/explorer/dashboard").json()
    assert body["totals"] == expected
    assert body["height"] == sc.store.latest_height()


def test_every_page_footer_prints_the_genesis_hash_to_trust(client, sc: Scenario) -> None:
    """The hash a buyer passes to ``fcl verify --genesis-hash`` is on every page, in both
    languages, with what it hashes."""
    expected = sc.store.genesis_hash()
    for path in ("/explorer/", "/explorer/verify", f"/explorer/blocks/{sc.store.latest_height()}"):
        for lang in ("en", "zh"):
            footer = client.get(f"{path}?lang={lang}").text.split("<footer")[1]
            assert '<code class="hash" title="' in footer and f">{expected}</code>" in footer
            assert "--genesis-hash" in footer
    client.cookies.clear()  # ?lang= set the language cookie of the shared client


def test_dashboard_shows_height_blocks_validators_and_rate(client, sc: Scenario) -> None:
    page = client.get("/explorer/").text
    height = sc.store.latest_height()
    assert f'id="height"><a href="/explorer/blocks/{height}">{height}</a><' in page
    recent = re.findall(r'href="/explorer/blocks/(\d+)"', page.split('id="recent-blocks"')[1])
    assert recent == [str(h) for h in range(height, height - 10, -1)]
    validators = page.split('id="validators"')[1].split("</table>")[0]
    assert "validator-0" in validators and ">yes<" in validators  # signed the latest block
    body = client.get("/v1/explorer/dashboard").json()
    assert body["validators"][0]["signed_latest"] is True
    assert body["peers"] == 2 and body["round"] == 0
    assert body["tx_per_s"] is not None and body["tx_per_s"] > 0
    assert [b["height"] for b in body["recent_blocks"]] == list(range(height, height - 10, -1))


def test_dashboard_rate_is_over_the_last_minute_and_falls_to_zero_when_idle(
    sc: Scenario,
) -> None:
    tip = sc.store.get_block(sc.store.latest_height()).header.time
    now_s = tip / 1000 + 30
    expected = 0
    for h in range(sc.store.latest_height(), 0, -1):
        block = sc.store.get_block(h)
        if block.header.time <= now_s * 1000 - 60_000:
            break
        expected += len(block.txs)
    assert expected > 0  # the fixture's last blocks carry transactions
    with make_client(sc, clock=lambda: now_s) as busy:
        body = busy.get("/v1/explorer/dashboard").json()
        assert body["tx_per_s"] == round(expected / 60, 2) and body["tx_rate_window_s"] == 60
        assert body["tip_age_s"] == 30
    with make_client(sc, clock=lambda: tip / 1000 + 3600) as idle:
        body = idle.get("/v1/explorer/dashboard").json()
        assert body["tx_per_s"] == 0 and body["tx_rate_blocks"] == 0
        assert body["tip_age_s"] == 3600
        assert "last block 3600 s ago" in idle.get("/explorer/?lang=en").text


def test_validators_status_from_their_recent_commits(tmp_path) -> None:
    """signing (signed the latest commit), lagging (one of the last 10, not the latest),
    absent (none of the last 10), with how many of the last blocks each signed and when it
    was last seen."""
    old_key, new_key = det_key("validator-old"), det_key("validator-new")
    never = det_key("validator-never").public_key_hex
    listed = [
        {"name": "old", "power": 1, "pub_key": old_key.public_key_hex},
        {"name": "new", "power": 10, "pub_key": new_key.public_key_hex},
        {"name": "never", "power": 1, "pub_key": never},
    ]
    chain = Chain(tmp_path / "store", Harness(validators=listed))
    chain.key = new_key
    try:
        for _ in range(3):
            chain.block([], signers=[old_key, new_key])
        chain.block([], signers=[new_key])  # 10 of 12: more than 2/3 without the old key
        source = ExplorerSource(store=chain.store, genesis=chain.h.genesis,
                                status=lambda: {"validators": listed},
                                clock=lambda: chain.time / 1000)
        with TestClient(create_explorer_app(source)) as c:
            rows = {v["name"]: v for v in c.get("/v1/explorer/dashboard").json()["validators"]}
            assert rows["new"]["status"] == "signing" and rows["new"]["signed_latest"] is True
            assert rows["old"]["status"] == "lagging" and rows["old"]["signed_latest"] is False
            assert rows["old"]["signed_recent"] == 3 and rows["old"]["recent_blocks"] == 4
            assert rows["old"]["last_signed_height"] == 3
            assert rows["never"]["status"] == "absent" and rows["never"]["last_seen"] is None
            page = c.get("/explorer/?lang=en").text.split('id="validators"')[1]
            assert 'data-status="lagging"' in page and "signed 3 of the last 4 blocks" in page
            assert 'data-status="absent"' in page and 'data-status="signing"' in page
            for _ in range(10):  # ten more blocks without the old key: it is absent
                chain.block([], signers=[new_key])
            rows = {v["name"]: v for v in c.get("/v1/explorer/dashboard").json()["validators"]}
            assert rows["old"]["status"] == "absent" and rows["old"]["last_signed_height"] == 3
    finally:
        chain.store.close()


def test_vintage_chart_is_server_rendered_svg(client, sc: Scenario) -> None:
    page = client.get("/explorer/batches").text
    chart = page.split('id="vintage-chart"')[1].split("</figure>")[0]
    assert "<svg" in chart and "bar-issued" in chart and "bar-retired" in chart
    vintages = client.get("/v1/explorer/vintages").json()["vintages"]
    b = sc.ids
    assert vintages == [
        {"issued": b["b1"]["quantity"] + b["b3"]["quantity"], "retired": 5, "vintage": 2018},
        {"issued": b["b2"]["quantity"], "retired": 0, "vintage": 2019},
    ]
    assert chart.count('class="bar-issued"') == 2 and chart.count('class="bar-retired"') == 2


# -- blocks and transactions -------------------------------------------------------------
def test_block_page_lists_its_transactions_and_commit(client, sc: Scenario) -> None:
    h = sc.ids["multi_height"]
    r = client.get(f"/explorer/blocks/{h}")
    assert r.status_code == 200
    main = main_of(r.text)
    block_hash = sc.store.get_block_hash(h)
    assert block_hash in main
    txs = main.split('id="txs"')[1].split("</table>")[0]
    assert [m for m in re.findall(r'/explorer/txs/([0-9a-f]{64})', txs)] == sc.ids["multi_txs"]
    assert "notary.record" in txs
    commit = main.split('id="commit"')[1].split("</table>")[0]
    assert "validator-0" in commit
    body = client.get(f"/v1/explorer/blocks/{h}").json()
    assert body["hash"] == block_hash and len(body["txs"]) == 3
    assert body["commit"]["signatures"][0]["name"] == "validator-0"
    # a block can also be opened by its hash
    assert client.get(f"/explorer/blocks/{block_hash}").status_code == 200


def test_block_list_is_paginated_newest_first(client, sc: Scenario) -> None:
    top = sc.store.latest_height()
    body = client.get("/v1/explorer/blocks?limit=3").json()
    assert [b["height"] for b in body["blocks"]] == [top, top - 1, top - 2]
    assert body["next"] == top - 2
    more = client.get(f"/v1/explorer/blocks?limit=3&before={body['next']}").json()
    assert [b["height"] for b in more["blocks"]] == [top - 3, top - 4, top - 5]
    page = client.get("/explorer/blocks?limit=3").text
    assert f'href="/explorer/blocks?limit=3&amp;before={top - 2}"' in page
    last = client.get("/v1/explorer/blocks?limit=100").json()
    assert len(last["blocks"]) == top and last["next"] is None


def test_tx_page_shows_signers_result_and_related_records(client, sc: Scenario) -> None:
    tx_id = sc.ids["trade_tx"]
    r = client.get(f"/explorer/txs/{tx_id.upper()}")  # ids are case-insensitive
    assert r.status_code == 200
    main = main_of(r.text)
    assert "carbon.match_trade" in main
    assert 'href="/explorer/accounts/exchange"' in main  # the signer's organisation
    related = main.split('id="related"')[1].split("</ul>")[0]
    assert 'href="/explorer/accounts/buyer-steel"' in related
    body = client.get(f"/v1/explorer/txs/{tx_id}").json()
    assert body["method"] == "match_trade" and body["result"]["code"] == "ok"
    assert body["signers"][0]["org"] == "exchange"


def test_failed_transaction_is_shown_with_its_code(client, sc: Scenario) -> None:
    main = main_of(client.get(f"/explorer/txs/{sc.ids['failed_tx']}").text)
    result = main.split('id="result"')[1].split("</dd>")[0]
    assert sc.ids["failed_code"] in result and "failed" in result


def test_retirement_tx_links_to_its_certificate(client, sc: Scenario) -> None:
    rid = sc.ids["voluntary"]
    body = client.get(f"/v1/explorer/txs/{rid}").json()
    assert {"id": rid, "kind": "certificate", "url": f"/explorer/certificates/{rid}"} in body["links"]


# -- organisations and accounts ------------------------------------------------------------
def test_orgs_page_lists_every_organisation_with_roles(client, sc: Scenario) -> None:
    main = main_of(client.get("/explorer/orgs").text)
    for org in sc.chain.h.orgs:
        assert f'href="/explorer/accounts/{org}"' in main
    assert "verifier" in main and "CNCA-V-001" in main
    page1 = client.get("/v1/explorer/orgs?limit=3").json()
    page2 = client.get(f"/v1/explorer/orgs?limit=3&after={page1['next']}").json()
    ids = [o["id"] for o in page1["orgs"] + page2["orgs"]]
    assert ids == sorted(sc.chain.h.orgs)[:6]


def test_account_page_shows_holdings(client, sc: Scenario) -> None:
    r = client.get("/explorer/accounts/buyer-steel")
    main = main_of(r.text)
    holdings = queries.holdings(sc.store, "buyer-steel")
    assert holdings["totals"]["retired"] == 2 and holdings["totals"]["held"] == 2
    totals = main.split('id="holdings-totals"')[1].split("</table>")[0]
    assert re.search(r"Σ</th><td class=\"num\">2</td><td class=\"num\">0</td><td class=\"num\">2</td>",
                     totals)
    for rng in holdings["ranges"]:
        assert rng["serial"] in main
    assert sc.chain.h.key("buyer-steel").public_key_hex in main  # its member key
    body = client.get("/v1/explorer/accounts/buyer-steel").json()
    assert body["holdings"]["totals"] == holdings["totals"]
    assert body["org"]["roles"] == ["buyer"]


def test_buffer_pool_account_shows_losses(client, sc: Scenario) -> None:
    main = main_of(client.get("/explorer/accounts/buffer-pool").text)
    losses = main.split('id="losses"')[1].split("</table>")[0]
    assert sc.ids["loss_tx"][:10] in losses and "fire" in losses
    pool = client.get("/v1/explorer/buffer-pool").json()
    assert pool["totals"]["cancelled"] == 2
    # the query's figures, plus the page's merged event list and open obligations
    extra = {k: pool.pop(k) for k in ("events", "obligations")}
    assert pool == queries.buffer_pool(sc.store, limit=25)
    assert [(e["kind"], e["id"]) for e in extra["events"]] == [("loss", sc.ids["loss_tx"])]
    assert extra["events"][0]["time_iso"].endswith("+08:00") and extra["obligations"] == []


# -- projects, plots, reports, attestations, batches -----------------------------------------
def test_project_page_draws_one_polygon_per_plot(client, sc: Scenario) -> None:
    main = main_of(client.get("/explorer/projects/AH-0001").text)
    svg = main.split('id="plot-map"')[1].split("</figure>")[0]
    assert svg.count("<svg") == 1
    assert main.count("<polygon") == svg.count("<polygon") == 3
    for plot_id in ("F1", "F2", "F3"):
        assert f'data-plot="{plot_id}"' in svg and f'href="/explorer/plots/{plot_id}"' in svg
    view_w, view_h = map(int, re.search(r'viewBox="0 0 (\d+) (\d+)"', svg).groups())
    assert max(view_w, view_h) == 1000
    for points in re.findall(r'points="([^"]+)"', svg):
        for pair in points.split():
            x, y = map(int, pair.split(","))
            assert 0 <= x <= view_w and 0 <= y <= view_h
    reports = main.split('id="reports"')[1].split("</table>")[0]
    assert "B1-R" in reports and "B2-R" in reports and "2018-01-01" in reports
    atts = main.split('id="attestations"')[1].split("</table>")[0]
    assert "VAL-AH-0001" in atts and "VER-B1-R" in atts and "VER-B2-R" in atts
    batches = main.split('id="batches"')[1].split("</table>")[0]
    assert sc.ids["b1"]["serial"] in batches and sc.ids["b2"]["serial"] in batches
    assert 'id="status">registered<' in main


def test_project_page_shows_subsidies_accrued_and_paid(client, sc: Scenario) -> None:
    b1 = client.get("/v1/explorer/projects/AH-0001").json()
    owner_share = b1["batches"][0]["owner_quantity"]
    amount = f"{owner_share * 30}.00"  # the owner's share x 30 RMB/t
    assert [(s["batch_id"], s["tonnes"], s["status"], s["payment_ref"]) for s in b1["subsidies"]] == [
        ("B1", owner_share, "paid", "AH-FIN-0001")]
    assert b1["subsidy_totals"] == {"accrued": amount, "outstanding": "0.00", "paid": amount}
    main = main_of(client.get("/explorer/projects/AH-0001").text)
    table = main.split('id="subsidies"')[1].split("</table>")[0]
    assert ">paid<" in table and "AH-FIN-0001" in table and amount in table
    totals = main.split('id="subsidy-totals"')[1].split("</dl>")[0]
    assert totals.count(amount) == 2 and "0.00" in totals
    other = client.get("/v1/explorer/projects/AH-0002").json()
    assert other["subsidies"][0]["status"] == "accrued"
    assert other["subsidy_totals"]["paid"] == "0.00"
    assert other["subsidy_totals"]["outstanding"] == other["subsidies"][0]["amount"]
    page = main_of(client.get("/explorer/projects/AH-0002",
                              headers={"Accept-Language": "zh-CN"}).text)
    assert "已计提，未支付" in page.split('id="subsidies"')[1]


def test_project_page_shows_primary_sales_and_their_split(client, sc: Scenario) -> None:
    # the owner sold 4 t at 90 on the exchange and 5 t at 80 off it: 760.00, split 60/30/10
    shares = client.get("/v1/explorer/projects/AH-0001").json()["benefit_shares"]
    assert shares == {"farmers": "228.00", "government": "76.00", "gross": "760.00",
                      "owner": "456.00", "primary_quantity": 9, "resale_gross": "0.00",
                      "resale_quantity": 0}
    assert shares == queries.benefit_shares(sc.store, "AH-0001")
    main = main_of(client.get("/explorer/projects/AH-0001").text)
    row = main.split('id="benefit-shares"')[1].split("</table>")[0]
    assert "760.00" in row and "228.00" in row
    # AH-0002's units were never sold: no section
    assert 'id="benefit-shares"' not in main_of(client.get("/explorer/projects/AH-0002").text)


def test_plot_pages_and_projects_list(client, sc: Scenario) -> None:
    main = main_of(client.get("/explorer/plots/F1").text)
    assert main.count("<polygon") == 1 and 'href="/explorer/projects/AH-0001"' in main
    listing = client.get("/v1/explorer/projects").json()
    assert [p["id"] for p in listing["projects"]] == ["AH-0001", "AH-0002"]
    assert client.get("/v1/explorer/plots/F1").json()["plot"]["project_id"] == "AH-0001"
    page = main_of(client.get("/explorer/projects").text)
    assert 'href="/explorer/projects/AH-0002"' in page


def test_report_attestation_and_batch_pages(client, sc: Scenario) -> None:
    report = main_of(client.get("/explorer/reports/B1-R").text)
    assert "2018-01-01" in report and 'href="/explorer/batches/B1"' in report
    assert "VER-B1-R" in report
    att = main_of(client.get("/explorer/attestations/VAL-AH-0001").text)
    assert "CNCA-V-001" in att and 'href="/explorer/accounts/verifier-a"' in att
    batch = client.get("/explorer/batches/B1").text
    assert sc.ids["b1"]["serial"] in batch
    body = client.get("/v1/explorer/batches/B1").json()
    ranges = body["ranges"]
    assert sum(r["last"] - r["first"] + 1 for r in ranges) == sc.ids["b1"]["quantity"]
    assert body["counts"]["retired"] == 5
    first = client.get("/v1/explorer/batches/B1?limit=2").json()
    rest = client.get(f"/v1/explorer/batches/B1?limit=100&after={first['next']}").json()
    assert first["ranges"] + rest["ranges"] == ranges
    for batch_id in ("B2", "B3"):  # later batches: the page seeks to the batch's first unit
        other = client.get(f"/v1/explorer/batches/{batch_id}").json()
        got = sorted((r["first"], r["last"]) for r in other["ranges"])
        assert got[0][0] == other["batch"]["first"] and got[-1][1] == other["batch"]["last"]
        assert sum(b - a + 1 for a, b in got) == other["batch"]["quantity"]


def test_batches_list_and_project_filter(client, sc: Scenario) -> None:
    every = client.get("/v1/explorer/batches").json()["batches"]
    assert [b["id"] for b in every] == ["B1", "B2", "B3"]
    only = client.get("/v1/explorer/batches?project=AH-0002").json()["batches"]
    assert [b["id"] for b in only] == ["B3"]
    page = client.get("/v1/explorer/batches?limit=2").json()
    assert page["next"] == "B2"
    assert [b["id"] for b in client.get("/v1/explorer/batches?after=B2").json()["batches"]] == ["B3"]


# -- search ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("7", "/explorer/blocks/7"),
        ("AH-0001", "/explorer/projects/AH-0001"),
        ("buyer-steel", "/explorer/accounts/buyer-steel"),
        ("buffer-pool", "/explorer/accounts/buffer-pool"),
        ("B2", "/explorer/batches/B2"),
        ("B1-R", "/explorer/reports/B1-R"),
        ("VAL-AH-0001", "/explorer/attestations/VAL-AH-0001"),
        ("F2", "/explorer/plots/F2"),
        ("AH-0001:3", "/explorer/trace/AH-0001%3A3"),
        ("CCER-AH-0001-2018-000000003-000000009", "/explorer/trace/AH-0001%3A3"),
        ("  AH-0002  ", "/explorer/projects/AH-0002"),
        # a search is not case-sensitive; the page is the identifier's own spelling
        ("ah-0001", "/explorer/projects/AH-0001"),
        ("Buyer-Steel", "/explorer/accounts/buyer-steel"),
        ("b1-r", "/explorer/reports/B1-R"),
        ("f2", "/explorer/plots/F2"),
        ("ah-0001:3", "/explorer/trace/AH-0001%3A3"),
        ("ccer-ah-0001-2018-000000003-000000045", "/explorer/trace/AH-0001%3A3"),
        ("Ccer-Ah-0001-2018-000000003-000000045", "/explorer/trace/AH-0001%3A3"),
    ],
)
def test_search_routes_each_kind_to_its_page(client, query: str, expected: str) -> None:
    r = client.get("/explorer/search", params={"q": query}, follow_redirects=False)
    assert r.status_code == 303, r.text
    assert r.headers["location"] == expected
    assert client.get(r.headers["location"]).status_code == 200


def test_search_by_tx_id_and_block_hash(client, sc: Scenario) -> None:
    tx_id = sc.ids["trade_tx"]
    r = client.get("/explorer/search", params={"q": tx_id}, follow_redirects=False)
    assert r.headers["location"] == f"/explorer/txs/{tx_id}"
    block_hash = sc.store.get_block_hash(5)
    r = client.get("/explorer/search", params={"q": block_hash.upper()}, follow_redirects=False)
    assert r.headers["location"] == "/explorer/blocks/5"
    assert client.get("/v1/explorer/search", params={"q": "AH-0001"}).json() == {
        "id": "AH-0001", "kind": "project", "url": "/explorer/projects/AH-0001"}


def test_search_by_a_shortened_hash_as_the_explorer_prints_it(client, sc: Scenario) -> None:
    """``b650e5ac39…3b6e31`` (the explorer's short form, also typed with ``...``) or the
    first 8+ digits find the one transaction or block; an ambiguous or unknown one says
    so."""
    tx_id = sc.ids["trade_tx"]
    for query in (f"{tx_id[:10]}…{tx_id[-6:]}", f"{tx_id[:10]}...{tx_id[-6:]}",
                  tx_id[:12].upper(), tx_id[:9]):
        r = client.get("/explorer/search", params={"q": query}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == f"/explorer/txs/{tx_id}", query
    block_hash = sc.store.get_block_hash(5)
    short = f"{block_hash[:10]}…{block_hash[-6:]}"
    page = client.get("/explorer/blocks", params={"before": 6, "limit": 1}).text
    assert short in page  # what the explorer shows is what the search takes
    r = client.get("/explorer/search", params={"q": short}, follow_redirects=False)
    assert r.headers["location"] == "/explorer/blocks/5"
    wrong_tail = f"{tx_id[:10]}…{'0' * 6 if tx_id[-6:] != '0' * 6 else '1' * 6}"
    r = client.get("/v1/explorer/search", params={"q": wrong_tail})
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert "no transaction, block or public key starts with" in r.json()["error"]["message"]


def test_search_by_a_public_key_full_or_shortened(client, sc: Scenario) -> None:
    """The signers' and validators' keys the explorer prints shortened (block commits,
    proposers, parameter setters, the dashboard) lead to the key's organisation, or to the
    validator's row on the dashboard."""
    member = next(k.split("/")[-1] for k, _ in sc.store.iter_prefix("orgkey/buyer-steel/"))
    for query in (member, member.upper(), f"{member[:10]}…{member[-6:]}", member[:12]):
        r = client.get("/explorer/search", params={"q": query}, follow_redirects=False)
        assert r.status_code == 303, (query, r.text)
        assert r.headers["location"] == "/explorer/accounts/buyer-steel", query
    validator = sc.chain.key.public_key_hex
    short = f"{validator[:10]}…{validator[-6:]}"
    assert short in client.get("/explorer/blocks/1").text  # its commit signature row
    hit = client.get("/v1/explorer/search", params={"q": short}).json()
    assert hit["kind"] in ("account", "validator")
    if hit["kind"] == "validator":
        assert hit["url"] == f"/explorer/#validator-{validator}"
        assert f'id="validator-{validator}"' in client.get(hit["url"].split("#")[0]).text
    assert client.get("/v1/explorer/search", params={"q": validator}).json() == hit
    unknown = "ab" * 32
    r = client.get("/v1/explorer/search", params={"q": unknown})
    assert r.status_code == 404 and "public key" in r.json()["error"]["message"]


def test_search_by_a_validator_key_without_membership_leads_to_its_row(client, monkeypatch) -> None:
    import explorer.data

    node_key = "cd" * 32  # a validator's node key: no key/ record, no operator
    monkeypatch.setattr(explorer.data.Reader, "validator_names",
                        lambda self: {node_key: "validator-9"})
    for query in (node_key, f"{node_key[:10]}…{node_key[-6:]}", node_key[:8].upper()):
        assert client.get("/v1/explorer/search", params={"q": query}).json() == {
            "id": node_key, "kind": "validator", "url": f"/explorer/#validator-{node_key}"}


def test_search_by_organisation_name(client) -> None:
    """Names are matched without regard to case: the exact name, else the one name that
    contains the query; several are listed."""
    for query in ("Buyer Steel", "buyer steel", "steel", "OWNER FARM"):
        r = client.get("/explorer/search", params={"q": query}, follow_redirects=False)
        assert r.status_code == 303, (query, r.text)
    assert client.get("/v1/explorer/search", params={"q": "steel"}).json()["url"] == (
        "/explorer/accounts/buyer-steel")
    r = client.get("/v1/explorer/search", params={"q": "buyer"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_query"
    message = r.json()["error"]["message"]
    assert "Buyer Steel" in message and "Buyer Power" in message and "type more" in message
    r = client.get("/v1/explorer/search", params={"q": "no such cooperative"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


# -- trace ----------------------------------------------------------------------------------
def test_trace_lists_steps_in_order_with_tx_ids(client, sc: Scenario) -> None:
    # unit 1 of AH-0001: issued to owner-farm, listed, traded to buyer-steel, retired
    r = client.get("/explorer/trace/AH-0001:1")
    assert r.status_code == 200
    main = main_of(r.text)
    timeline = main.split('id="timeline"')[1].split("</ol>")[0]
    actions = re.findall(r'data-action="(\w+)"', timeline)
    assert actions == ["plot", "plot", "plot", "project", "validation", "registration", "report",
                       "verification", "issue", "list", "trade", "retire"]
    tx_ids = re.findall(r'class="tx-link" href="/explorer/txs/([0-9a-f]{64})"', timeline)
    unit_range = find_range(sc.store, "AH-0001", 1)
    history = [step["tx_id"] for step in unit_range["history"]]
    assert tx_ids[-4:] == history
    assert history == [sc.ids["b1"]["tx_id"], sc.ids["list_tx"], sc.ids["trade_tx"],
                       sc.ids["compliance"]]
    heights = [int(h) for h in re.findall(r'class="tx-link".*?/explorer/blocks/(\d+)"', timeline)]
    assert heights == sorted(heights)  # created-by transactions come in commit order
    assert f'href="/explorer/certificates/{sc.ids["compliance"]}"' in main
    assert 'id="state">retired<' in main
    body = client.get("/v1/explorer/trace/AH-0001:1").json()
    assert [s["tx_id"] for s in body["steps"]] == history


def test_trace_by_printable_serial_and_query_form(client) -> None:
    printable = client.get("/explorer/trace/CCER-AH-0001-2018-000000001-000000004")
    assert printable.status_code == 200 and "AH-0001:1" in printable.text
    r = client.get("/explorer/trace", params={"serial": "AH-0002:1"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/explorer/trace/AH-0002%3A1"


# -- retirements ------------------------------------------------------------------------------
def test_retirements_page_and_filters(client, sc: Scenario) -> None:
    main = main_of(client.get("/explorer/retirements").text)
    assert sc.ids["compliance"][:10] in main and sc.ids["voluntary"][:10] in main
    assert "compliance offset" in main and "voluntary" in main
    body = client.get("/v1/explorer/retirements?enterprise=buyer-steel&period=2025").json()
    assert [r["id"] for r in body["retirements"]] == [sc.ids["compliance"]]
    one = client.get(f"/v1/explorer/retirements/{sc.ids['voluntary']}").json()
    assert one["retirement"]["beneficiary"] == XSS and one["time_iso"].endswith("+08:00")


def test_untrusted_ledger_text_is_escaped(client, sc: Scenario) -> None:
    for path in ("/explorer/retirements", f"/explorer/certificates/{sc.ids['voluntary']}",
                 f"/explorer/txs/{sc.ids['voluntary']}"):
        page = client.get(path).text
        assert "<script" not in page, path
        assert "&lt;script&gt;" in page, path
    assert "script-src" not in client.get("/explorer/").headers["content-security-policy"]
    assert "default-src 'none'" in client.get("/explorer/").headers["content-security-policy"]


# -- read-only --------------------------------------------------------------------------------
def test_browsing_never_changes_the_store(client, sc: Scenario) -> None:
    before = (sc.store.latest_height(), sc.store.state_root(), sc.store.latest_hash())
    for path in ("/explorer/", "/explorer/blocks", "/explorer/projects/AH-0001",
                 "/explorer/accounts/buffer-pool", "/explorer/trace/AH-0001:1",
                 f"/explorer/certificates/{sc.ids['compliance']}", "/v1/export/retirements.csv",
                 f"/explorer/verify/{sc.ids['compliance']}"):
        assert client.get(path).status_code == 200, path
    assert (sc.store.latest_height(), sc.store.state_root(), sc.store.latest_hash()) == before


def test_static_css_is_served(client) -> None:
    r = client.get("/explorer/static/explorer.css")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/css")
    assert "@media print" in r.text
    assert client.get("/explorer/static/../app.py").status_code == 404
    assert client.get("/explorer/static/nope.css").status_code == 404


def test_project_map_draws_every_plot_whatever_the_page_limit(client) -> None:
    main = main_of(client.get("/explorer/projects/AH-0001?limit=1").text)
    assert main.count("<polygon") == 3
    plots_table = main.split('id="plots"')[1].split("</table>")[0]
    assert plots_table.count('href="/explorer/plots/') == 1
    assert len(client.get("/v1/explorer/projects/AH-0001?limit=1").json()["plots"]) == 1


def test_router_mounted_in_the_node_app(sc: Scenario) -> None:
    """Mounted into node/api/rpc.py's app (its error handlers in place), as the node will."""
    from fastapi.testclient import TestClient

    from explorer.app import create_explorer_router
    from explorer.source import ExplorerSource
    from node.api.rpc import create_app
    from node.api.service import Node
    from node.txpool.mempool import Mempool

    node = Node(moniker="node0", genesis=sc.chain.h.genesis, store=sc.store, app=sc.chain.app,
                mempool=Mempool(100, 1 << 20))
    app = create_app(node)
    app.include_router(create_explorer_router(
        ExplorerSource(store=node.store, genesis=node.genesis, status=node.status)))
    with TestClient(app) as c:
        assert c.get("/v1/status").json()["height"] == sc.store.latest_height()
        dash = c.get("/v1/explorer/dashboard").json()
        assert dash["node"] == "node0" and dash["validators"][0]["signed_latest"] is True
        assert c.get("/explorer/projects/AH-0001").status_code == 200
        r = c.get("/explorer/blocks/abc")
        assert r.status_code == 400 and 'data-code="bad_height"' in r.text
        r = c.get("/v1/explorer/no-such-thing")
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
        r = c.get(f"/v1/explorer/certificates/{sc.ids['compliance']}")
        assert r.status_code == 503 and r.json()["error"]["code"] == "certificate_unavailable"


def test_block_transactions_are_paginated(client, sc: Scenario) -> None:
    h = sc.ids["multi_height"]
    first = client.get(f"/v1/explorer/blocks/{h}?limit=2").json()
    assert [t["tx_id"] for t in first["txs"]] == sc.ids["multi_txs"][:2]
    assert first["next"] == "1" and first["tx_count"] == 3
    rest = client.get(f"/v1/explorer/blocks/{h}?limit=2&after={first['next']}").json()
    assert [t["tx_id"] for t in rest["txs"]] == sc.ids["multi_txs"][2:] and rest["next"] is None
    page = client.get(f"/explorer/blocks/{h}?limit=2").text
    assert f'href="/explorer/blocks/{h}?limit=2&amp;after=1"' in page
    r = client.get(f"/v1/explorer/blocks/{h}?after=x")
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_cursor"
