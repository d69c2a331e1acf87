"""Issue 15: the explorer reads like a public registry -- dates with heights as links,
labelled tables where raw JSON stood (raw JSON one click away), organisations by name, the
trace worded step by step, the verification page verdict first in the page's language."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from markupsafe import Markup, escape

from chaincode.carbon_common import plot_key
from chaincode.queries import STEP_STATES
from explorer.data import _step_price, iso_time
from explorer.i18n import LABELS, VALUES, Translator
from ledger.certificate import CHECK_NAMES
from tests.support.explorer import Scenario, main_of, make_client, module_fixtures

sc, client = module_fixtures("explorer-pages")

LANG_TEXT = {"en": {"buyer": "Buyer", "raw": "raw JSON", "cst": "CST"},
             "zh": {"buyer": "买方", "raw": "原始 JSON", "cst": "北京时间"}}


def outside_details(html: str) -> str:
    return re.sub(r"<details.*?</details>", "", html, flags=re.S)


def block_time_text(sc: Scenario, height: int) -> str:
    """The CST text a page shows for block ``height``: ``YYYY-MM-DD HH:MM``."""
    raw = sc.store.get_block_json(height)
    assert raw is not None
    iso = iso_time(json.loads(raw)["header"]["time"])
    assert iso is not None
    return iso[:16].replace("T", " ")


def assert_dated(html: str, sc: Scenario, height: int, lang: str) -> None:
    """``html`` shows block ``height`` as a <time> in CST with the height linked."""
    raw = sc.store.get_block_json(height)
    assert raw is not None
    iso = iso_time(json.loads(raw)["header"]["time"])
    text = block_time_text(sc, height)
    assert f'<time datetime="{iso}">{text} {LANG_TEXT[lang]["cst"]}</time>' in html, (height, html)
    assert f'href="/explorer/blocks/{height}"' in html


# -- transaction page -----------------------------------------------------------------------------
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_tx_page_labels_arguments_result_and_events(client, sc: Scenario, lang: str) -> None:
    tx = client.get(f"/v1/explorer/txs/{sc.ids['trade_tx']}").json()
    main = main_of(client.get(f"/explorer/txs/{sc.ids['trade_tx']}?lang={lang}").text)
    visible = outside_details(main)
    assert '<pre class="json">' not in visible  # raw JSON only behind <details>
    assert main.count(f"<summary>{LANG_TEXT[lang]['raw']}</summary>") == 3  # args, result, events
    args = visible.split('id="args"')[1].split("</table>")[0]
    buyer = args.split('data-field="buyer_org">')[1].split("</tr>")[0]
    assert buyer.startswith(LANG_TEXT[lang]["buyer"] + "</th>")
    # the organisation by name, linked to its account, the id as title and secondary text
    assert ('<a class="org" href="/explorer/accounts/buyer-steel" title="buyer-steel">'
            'Buyer Steel</a> <small class="org-id">buyer-steel</small>') in buyer
    assert 'data-field="price"' in args and ">90<" in args
    # the listing is a transaction: linked
    assert f'href="/explorer/txs/{tx["args"]["listing_id"]}"' in args
    # the return value's nested proceeds list is a sub-table with a column per field
    returned = visible.split('id="returned"')[1]
    assert 'class="fields rows"' in returned and 'data-field="farmers"' in returned
    assert 'data-field="type"' not in visible.split('id="returned"')[1].split("</table></div>\n")[0]
    event = visible.split('id="event-1"')[1].split("</table>")[0]
    assert "carbon.traded" in visible and 'data-field="seller"' in event and "Owner Farm" in event
    when = visible.split('id="when"')[1].split("</dd>")[0]
    assert_dated(when, sc, tx["height"], lang)


def test_tx_page_lists_nested_values_and_marks_missing_ones(client, sc: Scenario) -> None:
    """A list of objects whose keys differ: one column per key, empty cells where absent;
    booleans and nulls in words."""
    main = main_of(client.get(f"/explorer/txs/{sc.ids['failed_tx']}").text)
    assert "<table" in main and 'id="args"' in main
    env_text = Translator("zh")
    assert env_text.field("buyer_org") == "买方" and env_text.field("no_such_field") == "no_such_field"
    assert env_text.field("chinese_fir") == "杉木"  # species keys fall back to their names
    assert env_text.field(7) == "7"


# -- monitoring report page ------------------------------------------------------------------------
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_report_page_tables_for_parameters_and_calculation(client, sc: Scenario, lang: str) -> None:
    body = client.get("/v1/explorer/reports/B1-R").json()["report"]
    main = main_of(client.get(f"/explorer/reports/B1-R?lang={lang}").text)
    visible = outside_details(main)
    assert '<pre class="json">' not in visible
    params = visible.split('id="parameters"')[1]
    calc = visible.split('id="calculation"')[1]
    label = {"en": "Uncertainty deduction", "zh": "不确定性扣减"}[lang]
    assert f'data-field="uncertainty_deduction">{label}</th>' in params
    fir = {"en": "Chinese fir", "zh": "杉木"}[lang]
    assert f'data-field="chinese_fir">{fir}</th>' in params
    issuable = calc.split('data-field="issuable">')[1].split("</tr>")[0]
    assert f"<td>{body['calculation']['issuable']}</td>" in issuable
    plots = calc.split('data-field="plots">')[1]
    assert 'class="fields rows"' in plots and 'href="/explorer/plots/F1"' in plots
    # raw JSON of measurements, parameters and calculation one click away
    assert main.count(f"<summary>{LANG_TEXT[lang]['raw']}</summary>") == 3
    assert_dated(main.split('id="created"')[1].split("</dd>")[0], sc, body["created_height"], lang)
    assert_dated(main.split('id="changed"')[1].split("</dd>")[0], sc, body["height"], lang)


# -- trace page ------------------------------------------------------------------------------------
def _steps(main: str) -> dict[str, list[str]]:
    timeline = main.split('id="timeline"')[1].split("</ol>")[0]
    out: dict[str, list[str]] = {}
    for action, li in re.findall(r'data-action="(\w+)">(.*?)</li>', timeline, flags=re.S):
        out.setdefault(action, []).append(li)
    return out


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_trace_shows_the_last_change_of_a_record_not_its_creation(
    client, sc: Scenario, lang: str
) -> None:
    plot = sc.chain.get(plot_key("F1"))
    assert plot["created_height"] < plot["height"]  # assigned to its project later
    steps = _steps(main_of(client.get(f"/explorer/trace/AH-0001:1?lang={lang}").text))
    f1 = next(li for li in steps["plot"] if "/explorer/plots/F1" in li)
    created = f1.split('class="tx created"')[1].split("</div>")[0]
    changed = f1.split('class="tx updated"')[1].split("</div>")[0]
    assert f'href="/explorer/txs/{plot["created_tx_id"]}"' in created
    assert_dated(created, sc, plot["created_height"], lang)
    assert f'href="/explorer/txs/{plot["tx_id"]}"' in changed
    assert_dated(changed, sc, plot["height"], lang)
    assert LABELS["last_updated"][lang] in changed
    # a record never changed after its creation has no "last changed" line
    assert all('class="tx updated"' not in li for li in steps["validation"])
    body = client.get("/v1/explorer/trace/AH-0001:1").json()
    entry = next(e for e in body["timeline"] if e["action"] == "plot" and e["id"] == "F1")
    assert (entry["tx_id"], entry["height"]) == (plot["created_tx_id"], plot["created_height"])
    assert (entry["changed_tx_id"], entry["changed_height"]) == (plot["tx_id"], plot["height"])
    assert entry["changed_time_iso"] and entry["time_iso"]


@pytest.mark.parametrize(("lang", "words"), [
    ("en", ["40 t issued to <a class=\"org\" href=\"/explorer/accounts/owner-farm\"",
            "4 t sold by <a class=\"org\" href=\"/explorer/accounts/owner-farm\"",
            "to <a class=\"org\" href=\"/explorer/accounts/buyer-steel\"", "at 90.00 RMB/t",
            "2 t retired by <a class=\"org\" href=\"/explorer/accounts/buyer-steel\""]),
    ("zh", ["40 吨签发给 <a class=\"org\" href=\"/explorer/accounts/owner-farm\"",
            "出售 4 吨 单价 90.00 元/吨", "注销 2 吨"]),
])
def test_trace_words_each_step_with_quantity_price_date_and_names(
    client, sc: Scenario, lang: str, words: list[str]
) -> None:
    main = main_of(client.get(f"/explorer/trace/AH-0001:1?lang={lang}").text)
    steps = _steps(main)
    text = "".join(li for action in ("issue", "list", "trade", "retire") for li in steps[action])
    for w in words:
        assert w in text, (w, text)
    assert "Owner Farm" in steps["trade"][0] and "Buyer Steel" in steps["trade"][0]
    body = client.get("/v1/explorer/trace/AH-0001:1").json()
    for e in body["timeline"]:
        if e["action"] in ("issue", "list", "trade", "retire"):
            [li] = steps[e["action"]]
            assert_dated(li, sc, e["height"], lang)
    assert "From" not in outside_details(main).split('id="timeline"')[1]


def test_trace_of_an_off_exchange_transfer_names_both_parties_and_price(
    client, sc: Scenario
) -> None:
    ranges = client.get("/v1/explorer/accounts/buyer-power").json()["holdings"]["ranges"]
    serial = next(f"{r['project_id']}:{r['first']}" for r in ranges if r["project_id"] == "AH-0001")
    steps = _steps(main_of(client.get(f"/explorer/trace/{serial}?lang=en").text))
    [li] = steps["transfer"]
    assert "5 t transferred from" in li and "at 80.00 RMB/t" in li
    assert li.index("Owner Farm") < li.index("Buyer Power")


def test_step_price_has_two_decimal_places() -> None:
    assert _step_price("trade", {"price": "58"}) == "58.00"
    assert _step_price("transfer", {"price": "58.5"}) == "58.50"
    assert _step_price("list", {"price": "58.25"}) == "58.25"
    assert _step_price("transfer", {"price": None}) is None  # a transfer that is no sale
    assert _step_price("retire", {"price": "1"}) is None
    assert _step_price("trade", None) is None


def test_every_history_action_is_worded_in_both_languages() -> None:
    template = (__import__("pathlib").Path(__file__).resolve().parents[2]
                / "explorer" / "templates" / "macros.html").read_text()
    words = template.split("macro step_words")[1].split("endmacro")[0]
    for action in STEP_STATES:
        assert f"'{action}'" in words, action
    for key in re.findall(r"t\.html\('([a-z_]+)'", words):
        assert key in LABELS, key


def test_labels_fill_in_escaped_values() -> None:
    tr = Translator("en")
    out = tr.html("step_transfer", qty="5", from_="<b>", to=Markup("<a>B</a>"))
    assert out == "5 t transferred from &lt;b&gt; to <a>B</a>"
    assert tr.html("no_such_label") == "no_such_label"
    assert tr.known("check", "inclusion") and not tr.known("check", "nope")


# -- organisations by name -------------------------------------------------------------------------
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_organisations_are_shown_by_name_with_their_id(client, sc: Scenario, lang: str) -> None:
    retirements = main_of(client.get(f"/explorer/retirements?lang={lang}").text)
    assert ('<a class="org" href="/explorer/accounts/buyer-steel" title="buyer-steel">Buyer Steel'
            '</a> <small class="org-id">buyer-steel</small>') in retirements
    orgs = main_of(client.get(f"/explorer/orgs?lang={lang}").text)
    assert '<a class="org" href="/explorer/accounts/verifier-b">Verifier B</a>' in orgs
    assert "CNCA-V-001" in orgs
    project = main_of(client.get(f"/explorer/projects/AH-0001?lang={lang}").text)
    assert ">Owner Farm</a>" in project.split('id="project"')[1].split("</dl>")[0]
    batch = main_of(client.get(f"/explorer/batches/B1?lang={lang}").text)
    assert ">Owner Farm</a>" in batch and "Buyer Steel" in batch
    trace = main_of(client.get(f"/explorer/trace/AH-0001:1?lang={lang}").text)
    assert "Buyer Steel" in trace.split('id="holder"')[1].split("</dd>")[0]
    buffer = main_of(client.get(f"/explorer/batches/B1?lang={lang}").text)
    assert f'title="buffer-pool">{LABELS["buffer"][lang]}</a>' in buffer


def test_an_account_without_a_membership_record_is_shown_by_id(client) -> None:
    page = main_of(client.get("/explorer/accounts/buffer-pool").text)
    assert "<h1>" in page  # the buffer pool has no membership record; nothing breaks


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_lists_show_dates_with_heights_as_links(client, sc: Scenario, lang: str) -> None:
    rows = client.get("/v1/explorer/retirements").json()["retirements"]
    page = main_of(client.get(f"/explorer/retirements?lang={lang}").text)
    for r in rows:
        assert_dated(page, sc, r["height"], lang)
    batches = client.get("/v1/explorer/batches").json()["batches"]
    page = main_of(client.get(f"/explorer/batches?lang={lang}").text)
    for b in batches:
        assert_dated(page, sc, b["height"], lang)
    cert = main_of(client.get(f"/explorer/certificates/{sc.ids['compliance']}?lang={lang}").text)
    height = client.get(f"/v1/explorer/retirements/{sc.ids['compliance']}").json()["retirement"]["height"]
    assert_dated(cert.split('id="retired-at"')[1].split("</dd>")[0], sc, height, lang)


def test_project_page_links_each_batch_serial_range_to_its_trace(client) -> None:
    body = client.get("/v1/explorer/projects/AH-0001").json()
    page = main_of(client.get("/explorer/projects/AH-0001").text)
    table = page.split('id="batches"')[1].split("</table>")[0]
    for b in body["batches"]:
        link = f'href="/explorer/trace/AH-0001%3A{b["first"]}"'
        assert link in table and b["serial"] in table.split(link)[1].split("</a>")[0]
    r = client.get(f"/explorer/trace/AH-0001:{body['batches'][0]['first']}")
    assert r.status_code == 200


# -- the verification page ---------------------------------------------------------------------------
def _verdict_first(html: str) -> str:
    """The <main> of a verify page, asserting the verdict is its first element and the
    verdict sentence the first thing in it."""
    main = main_of(html).lstrip()
    assert main.startswith('<section class="verdict'), main[:200]
    section = main.split("</section>")[0]
    assert section.split(">", 1)[1].lstrip().startswith('<h1 id="verdict-line">')
    return main


def _details(sc: Scenario) -> dict[str, Any]:
    return {"quantity": 1000, "enterprise": "buyer-steel", "time_ms": 1_772_417_640_000,
            "height": 3, "ranges": [{"serial": "CCER-AH-0001-2018-000000001-000001000"}],
            "purpose": "compliance", "period": "2025", "beneficiary": "Buyer Steel",
            "projects": [{"project_id": "AH-0001", "name": "Anhui"}], "plot_ids": ["F1"],
            "signed_by": ["validator-0"]}


@pytest.mark.parametrize(("lang", "sentence"), [
    ("en", "This certificate is genuine: 1,000 t CO₂e retired by Buyer Steel on 2026-03-02 (CST)."),
    ("zh", "该注销证明真实有效：Buyer Steel 于 2026-03-02（北京时间）注销了 1,000 吨二氧化碳当量。"),
])
def test_a_genuine_certificate_is_stated_first_in_plain_language(
    sc: Scenario, lang: str, sentence: str
) -> None:
    checks = [{"name": n, "ok": True, "message": f"{n} ok"} for n in CHECK_NAMES]
    verdict = {"ok": True, "checks": checks, "summary": _details(sc)}
    with make_client(sc, verify_certificate=lambda _c: verdict) as c:
        html = c.get(f"/explorer/verify/{sc.ids['compliance']}?lang={lang}").text
    main = _verdict_first(html)
    line = main.split('<h1 id="verdict-line">')[1].split("</h1>")[0]
    assert sentence in line
    # then what it proves, then the checks collapsed, each named in the page's language
    assert main.index('id="proves"') < main.index('<details class="technical"')
    assert LABELS["what_it_proves"][lang] in main
    technical = main.split('<details class="technical" id="technical">')[1].split("</details>")[0]
    assert f"({len(CHECK_NAMES)}" in technical.split("</summary>")[0] or \
           f"{len(CHECK_NAMES)} 项" in technical.split("</summary>")[0]
    assert 'id="checks"' in technical
    for n in CHECK_NAMES:
        assert str(escape(VALUES["check"][n][lang])) in technical
    visible = outside_details(main)
    assert "ok</span>" not in visible and "VALID" not in visible


@pytest.mark.parametrize(("tz", "date"), [
    # 2026-03-01T18:14:00Z: 03-02 02:14 in Beijing, 03:14 in Tokyo, 03-01 19:14 in Berlin
    ("Asia/Shanghai", "2026-03-02 (CST)"),
    ("Asia/Tokyo", "2026-03-02 (JST)"),
    ("Europe/Berlin", "2026-03-01 (CET)"),
    ("UTC", "2026-03-01 (UTC)"),
])
def test_the_verdict_date_names_the_readers_time_zone(sc: Scenario, tz: str, date: str) -> None:
    checks = [{"name": n, "ok": True, "message": f"{n} ok"} for n in CHECK_NAMES]
    details = dict(_details(sc), time_ms=1_772_388_840_000)  # 2026-03-01T18:14:00Z
    verdict = {"ok": True, "checks": checks, "summary": details}
    with make_client(sc, verify_certificate=lambda _c: verdict) as c:
        html = c.get(f"/explorer/verify/{sc.ids['compliance']}?lang=en&tz={tz}").text
    line = _verdict_first(html).split('<h1 id="verdict-line">')[1].split("</h1>")[0]
    assert f"retired by Buyer Steel on {date}." in line, line


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_tampered_certificate_is_refused_first_with_the_plain_reason(
    sc: Scenario, lang: str
) -> None:
    from tests.support.explorer import real_certificate

    cert = real_certificate(sc, sc.ids["voluntary"])
    forged = json.loads(json.dumps(cert))
    forged["retirement"]["tx"]["payload"]["args"]["beneficiary"] = "Someone else"
    with make_client(sc, verify_certificate=None) as c:
        html = c.post(f"/explorer/verify?lang={lang}",
                      data={"certificate_json": json.dumps(forged)}).text
    main = _verdict_first(html)
    line = main.split('<h1 id="verdict-line">')[1].split("</h1>")[0]
    reason = str(escape(VALUES["check_failure"]["inclusion"][lang]))
    expected = LABELS["verdict_not_valid"][lang].format(reason=reason)
    assert expected in line
    visible = outside_details(main)
    reasons = visible.split('id="reasons"')[1].split("</ul>")[0]
    assert 'data-reason="inclusion"' in reasons and reason in reasons
    # the English technical message stays, inside the collapsed details only
    assert "txs_root" not in visible and "txs_root" in main
    assert 'class="fail" data-check="inclusion" data-ok="false"' in main
    if lang == "zh":
        words = re.sub(r"<[^>]+>", " ", visible)  # the text a reader sees, tags removed
        assert not re.search(r"valid|passed|failed|check", words, flags=re.I), words


def test_an_unknown_failure_code_still_gives_a_plain_sentence(sc: Scenario) -> None:
    def odd(_cert: Any) -> Any:
        return {"ok": False, "code": "weird", "checks": [{"name": "weird", "ok": False,
                                                          "message": "<b>odd</b>"}]}

    with make_client(sc, verify_certificate=odd) as c:
        html = c.get(f"/explorer/verify/{sc.ids['compliance']}?lang=zh").text
    line = _verdict_first(html).split('<h1 id="verdict-line">')[1].split("</h1>")[0]
    assert "该注销证明无效：未通过技术核验" in line
    assert "&lt;b&gt;odd&lt;/b&gt;" in html and "<b>odd" not in html


def test_every_certificate_check_has_a_name_and_a_plain_failure_in_both_languages() -> None:
    for n in CHECK_NAMES:
        assert n in VALUES["check"] and n in VALUES["check_failure"], n


def test_the_verify_form_alone_has_its_title_first(client) -> None:
    main = main_of(client.get("/explorer/verify?lang=zh").text).lstrip()
    assert main.startswith(f"<h1>{LABELS['verify']['zh']}</h1>")
