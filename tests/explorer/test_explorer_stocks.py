"""The devnet sample's stock story as the explorer shows it (HTML and JSON).

The sample (fcl/devnet/sample.py) runs in-process into a real Store (the explorer's test
``Chain``, one block per stage): growth in periods 1-2, a regulator's loss event on
XN-SF-03 and a report whose verified stock falls (the reversal cancels units from the
buffer pool), regrowth below the high-water mark that earns nothing, and growth above the
old peak that earns a new batch. Then the project's stock page, the plot pages, the report
pages and the buffer-pool page are read, and their bad inputs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from chaincode import queries
from fcl.devnet.sample import LOSS_ESTIMATE, LOSS_PLOT, PERIODS, PLOTS, PROJECT_ID, run_sample
from ledger.store import Store
from tests.support.devnet import ChainNode
from tests.support.explorer import Chain, Scenario, StoreMarket, main_of, make_client
from tests.support.harness import Harness
from wallet.keystore import Keystore

PASSPHRASE = "explorer stock test"
#: 2026-11-01 00:00 UTC: after the sample's last site visit (2026-10-20).
BLOCK_TIME_MS = 1_793_491_200_000
STOCKS = f"/explorer/projects/{PROJECT_ID}/stocks"


class _StoreHarness:
    """What ChainNode needs of a Harness, committing each batch as a block of ``chain``."""

    def __init__(self, chain: Chain) -> None:
        self.chain = chain
        self.genesis = chain.h.genesis

    def run_block(self, txs: list[Any]) -> list[dict[str, Any]]:
        return self.chain.block(txs)

    @property
    def height(self) -> int:
        return self.chain.store.latest_height()


@pytest.fixture(scope="module")
def sc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    base = Path(tmp_path_factory.mktemp("stocks"))
    chain = Chain(base / "store")
    chain.time = BLOCK_TIME_MS
    ks = Keystore(base / "wallet", insecure_test_scrypt_n=2**4)
    ks.import_seed("regulator", chain.h.key("regulator").seed_bytes(), PASSPHRASE)
    node = ChainNode(cast(Harness, _StoreHarness(chain)))
    result = run_sample(["http://node0.test:1"], ks, PASSPHRASE, chain.h.genesis,
                        lambda line: None, client_factory=node.client)
    assert result.complete
    scenario = Scenario(chain=chain, store=chain.store, ids={"result": result})
    yield scenario
    chain.store.close()


@pytest.fixture(scope="module")
def client(sc: Scenario) -> Iterator[Any]:
    with make_client(sc) as c:
        yield c


def table(html: str, table_id: str) -> list[list[str]]:
    """The cells of a table's body rows, tags stripped."""
    body = html.split(f'id="{table_id}"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)[1:]
    return [[re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)]
            for r in rows]


def micro(n: int) -> str:
    return f"{n // 10**6:,}.{n % 10**6:06d}"


def stock_of(store: Store, plot_id: str) -> dict[str, Any]:
    return queries.plot_stock(store, plot_id)


# -- the story ---------------------------------------------------------------------------
def test_the_plot_history_shows_growth_fall_zero_credit_regrowth_and_new_credits(
        client: Any, sc: Scenario) -> None:
    page = main_of(client.get(STOCKS).text)
    rows = table(page, f"history-{LOSS_PLOT}")
    assert [r[1] for r in rows] == [f"{p.start} – {p.end}" for p in PERIODS]
    hist = stock_of(sc.store, LOSS_PLOT)["history"]
    fall = hist[2]
    assert fall["end"] < fall["start"] == fall["high_water"]  # period 3: the stock fell
    # start, end, high-water mark and credited in tonnes with all six decimals
    assert rows[2][2:6] == [micro(fall["start"]), micro(fall["end"]), micro(fall["high_water"]),
                            "0.000000"]
    # the plot's fall of 496 t (rounded up): 420 t were cancelled by the loss event, 76 more
    # by the reversal
    assert rows[2][6:9] == ["76", f"{LOSS_ESTIMATE}", "MR-XN-2024"]
    assert 'class="fall"' in page.split(f'id="history-{LOSS_PLOT}"')[1].split("</table>")[0]
    # period 4 regrows below the mark: nothing credited; period 5 still below for this plot
    assert rows[3][5] == rows[4][5] == "0.000000"
    assert hist[3]["end"] > hist[3]["start"] and hist[4]["end"] < hist[4]["high_water"]

    # a plot that grows above its old peak in period 5 earns credits again
    fir = table(page, "history-XN-SF-01")
    h1 = stock_of(sc.store, "XN-SF-01")["history"]
    assert fir[3][5] == "0.000000" and h1[3]["end"] < h1[3]["high_water"]
    assert fir[4][5] == micro(h1[4]["end"] - h1[1]["end"]) != "0.000000"
    assert fir[4][4] == micro(h1[4]["end"])  # the new high-water mark

    # the summary row of each plot: S, H, credited, reversed, pending loss, periods
    summary = {r[0]: r for r in table(page, "plot-stocks")}
    assert list(summary) == [p.plot_id for p in PLOTS]
    acct = stock_of(sc.store, LOSS_PLOT)["account"]
    assert summary[LOSS_PLOT][1:8] == [micro(acct["stock"]), micro(acct["high_water"]),
                                       micro(acct["credited"]), "76", "0", "5", "2026-09-30"]


def test_the_reversal_and_its_effect_on_the_pool(client: Any, sc: Scenario) -> None:
    page = main_of(client.get(STOCKS).text)
    [rev] = table(page, "reversals")
    assert rev[0] == "MR-XN-2024" and rev[3:6] == ["342", "342", "0"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d CST", rev[1])  # the block's date, its zone
    assert f"{LOSS_PLOT}: " in rev[6] and "496" in rev[6]

    body = client.get(f"/v1{STOCKS}").json()
    assert [r["quantity"] for r in body["reversals"]] == [342]
    assert body["reversals"][0]["time_iso"].endswith("+08:00")
    assert body["pool"]["charged"] == LOSS_ESTIMATE + 342 and body["pool"]["shortfall"] == 0
    assert body["compensation"]["outstanding"] == 0 and body["next"] is None
    sf03 = next(p for p in body["plots"] if p["plot_id"] == LOSS_PLOT)
    assert [e["credited"] for e in sf03["history"]][2:] == [0, 0, 0]
    assert [e["reversed"] for e in sf03["history"]] == [0, 0, 76, 0, 0]

    # the buffer pool page: per project, contributed, cancelled by each kind, balance
    pool = main_of(client.get("/explorer/buffer-pool").text)
    [row] = table(pool, "pool-projects")
    data = queries.buffer_pool(sc.store)
    acct = data["accounts"][PROJECT_ID]
    held = data["projects"][PROJECT_ID]["held"]
    assert row[0].startswith(PROJECT_ID)
    assert row[1:] == [f"{acct['contributed']:,}", "0", "342", f"{LOSS_ESTIMATE}",
                       f"{LOSS_ESTIMATE + 342}", f"{held:,}"]
    assert acct["contributed"] == held + LOSS_ESTIMATE + 342
    events = table(pool, "pool-events")
    assert [(e[0], e[2].split(" ")[0], e[5], e[6], e[7]) for e in events] == [
        ("reversal (verified stock fell)", "MR-XN-2024", "342", "342", "0"),
        ("loss event (reversal)", "fire,", f"{LOSS_ESTIMATE}", f"{LOSS_ESTIMATE}", "0")]
    assert table(pool, "obligations") == [["None"]]
    as_json = client.get("/v1/explorer/buffer-pool").json()
    assert as_json["charges"][PROJECT_ID] == {
        "loss_cancelled": LOSS_ESTIMATE, "loss_quantity": LOSS_ESTIMATE, "loss_shortfall": 0,
        "reversal_cancelled": 342, "reversal_quantity": 342, "reversal_shortfall": 0}
    assert [e["kind"] for e in as_json["events"]] == ["reversal", "loss"]


def test_the_report_pages_show_their_reversal_or_none(client: Any, sc: Scenario) -> None:
    page = main_of(client.get("/explorer/reports/MR-XN-2024").text)
    assert 'id="reversal"' in page
    plots = {r[0]: r[1:] for r in table(page, "reversal-plots")}
    assert plots[LOSS_PLOT] == ["496", f"{LOSS_ESTIMATE}", "76"]
    assert sum(int(r[2]) for r in plots.values()) == 342
    ranges = table(page, "reversal-ranges")
    assert sum(int(r[2]) for r in ranges) == 342 and ranges[0][0].startswith("CCER-AH-XN-0001")
    assert f'href="{STOCKS}"' in page and 'href="/explorer/buffer-pool"' in page
    assert client.get("/v1/explorer/reports/MR-XN-2024").json()["reversal"]["cancelled"] == 342
    for quiet in ("MR-XN-2025", "MR-XN-2026"):
        assert 'id="reversal"' not in main_of(client.get(f"/explorer/reports/{quiet}").text)
        assert client.get(f"/v1/explorer/reports/{quiet}").json()["reversal"] is None
    # the regrowth report verified 0 t and issued nothing; the next one issued a batch
    zero = client.get("/v1/explorer/reports/MR-XN-2025").json()["report"]
    assert zero["calculation"]["issuable"] == 0 and zero["batch_id"] is None
    assert client.get("/v1/explorer/reports/MR-XN-2026").json()["report"]["batch_id"] == \
        "AH-XN-0001-B2026"


def test_pages_link_to_the_stock_pages(client: Any) -> None:
    project = main_of(client.get(f"/explorer/projects/{PROJECT_ID}").text)
    assert f'href="{STOCKS}"' in project
    plot = main_of(client.get(f"/explorer/plots/{LOSS_PLOT}").text)
    assert len(table(plot, "stock-history")) == 5 and f'href="{STOCKS}"' in plot
    assert client.get(f"/v1/explorer/plots/{LOSS_PLOT}").json()["stock"]["account"]["periods"] == 5
    nav = client.get("/explorer/").text
    assert 'href="/explorer/buffer-pool"' in nav
    # both languages
    zh = client.get(STOCKS, params={"lang": "zh"}).text
    assert "历史最高储量" in zh and "逆转" in zh
    assert "缓冲池" in client.get("/explorer/buffer-pool", params={"lang": "zh"}).text


def test_stock_pages_are_paged(client: Any) -> None:
    first = client.get(f"/v1{STOCKS}", params={"limit": 2}).json()
    assert [p["plot_id"] for p in first["plots"]] == ["XN-SF-01", "XN-SF-02"]
    assert first["next"] == "XN-SF-02"
    rest = client.get(f"/v1{STOCKS}", params={"after": first["next"], "limit": 10}).json()
    assert [p["plot_id"] for p in rest["plots"]] == ["XN-SF-03", "XN-MP-01", "XN-MP-02"]
    assert rest["next"] is None
    page = client.get(STOCKS, params={"limit": 2}).text
    assert f"{STOCKS}?limit=2&amp;after=XN-SF-02" in page


# -- bad input ---------------------------------------------------------------------------
@pytest.mark.parametrize(("path", "status", "code"), [
    ("/explorer/projects/NOPE/stocks", 404, "unknown_project"),
    ("/explorer/plots/NOPE", 404, "unknown_plot"),
    ("/explorer/reports/NOPE", 404, "unknown_report"),
    ("/explorer/projects/a%20b/stocks", 400, "bad_id"),
    (f"{STOCKS}?after=XN-NOT-MINE", 400, "bad_cursor"),
    (f"{STOCKS}?limit=0", 400, "bad_limit"),
    (f"{STOCKS}?limit=x", 400, "bad_limit"),
    ("/explorer/buffer-pool?limit=1001", 400, "bad_limit"),
])
def test_bad_input_gives_a_stable_code(client: Any, path: str, status: int, code: str) -> None:
    page = client.get(path)
    assert page.status_code == status and code in page.text
    api = client.get("/v1" + path)
    assert api.status_code == status
    assert api.json()["error"]["code"] == code


def test_an_open_compensation_obligation_and_its_repayment_are_shown(tmp_path: Path) -> None:
    """A loss event larger than the pool: the shortfall is the project's compensation
    obligation, listed on the buffer-pool page and the project's stock page, and the next
    issuance's repayment shows there too (issue 10 review: the sample's pool never runs
    short, so its pages only ever show no obligation)."""
    chain = Chain(tmp_path / "store")
    m = StoreMarket(chain)
    m.project("AH-0001", "owner-farm", [("F1", "chinese_fir")], risk="low")
    m.issue("AH-0001", "B1")  # 30 t: 3 to the pool
    out = m.ok("regulator", "record_loss_event", {
        "project_id": "AH-0001", "quantity": 50, "cause": "fire", "evidence_sha256": "ab" * 32})
    assert (out["cancelled"], out["compensation"]) == (3, 47)
    sc = Scenario(chain=chain, store=chain.store)
    with make_client(sc) as c:
        pool = main_of(c.get("/explorer/buffer-pool").text)
        assert table(pool, "obligations") == [["AH-0001", "47", "0", "47"]]
        page = main_of(c.get("/explorer/projects/AH-0001/stocks").text)
        comp = page.split('id="compensation"', 1)[1].split("</dl>", 1)[0]
        assert re.findall(r"<dd>(.*?)</dd>", comp) == ["47", "0", "47"]
        assert c.get("/v1/explorer/projects/AH-0001/stocks").json()["compensation"] == {
            "incurred": 47, "outstanding": 47, "project_id": "AH-0001", "repaid": 0}
    batch = m.issue("AH-0001", "B2")  # its owner share repays the obligation first
    assert batch["compensation_quantity"] == 27 and batch["owner_quantity"] == 0
    with make_client(sc) as c:
        pool = main_of(c.get("/explorer/buffer-pool").text)
        assert table(pool, "obligations") == [["AH-0001", "47", "27", "20"]]
        assert c.get("/v1/explorer/projects/AH-0001/stocks").json()["compensation"][
            "outstanding"] == 20
