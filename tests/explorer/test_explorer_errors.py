"""Every bad input to the explorer: a 4xx HTML page or ``{"error": {"code", "message"}}``
with a stable code, never a 500; and the small pure pieces (labels, SVG, verdicts)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from explorer import svg
from explorer.i18n import LABELS, LANGS, VALUES, Translator, choose_lang
from explorer.source import Check, Verdict, normalise_verdict
from tests.support.explorer import module_fixtures

sc, client = module_fixtures("explorer-err")


ZERO = "0" * 64

# (page path, JSON path or None, status, code)
BAD: list[tuple[str, str | None, int, str]] = [
    ("/explorer/blocks/abc", "/v1/explorer/blocks/abc", 400, "bad_height"),
    ("/explorer/blocks/0", "/v1/explorer/blocks/0", 400, "bad_height"),
    ("/explorer/blocks/-1", "/v1/explorer/blocks/-1", 400, "bad_height"),
    ("/explorer/blocks/1234567890123456789", "/v1/explorer/blocks/1234567890123456789", 400,
     "bad_height"),
    ("/explorer/blocks/999999", "/v1/explorer/blocks/999999", 404, "unknown_block"),
    (f"/explorer/blocks/{ZERO}", f"/v1/explorer/blocks/{ZERO}", 404, "unknown_block"),
    ("/explorer/blocks?limit=0", "/v1/explorer/blocks?limit=0", 400, "bad_limit"),
    ("/explorer/blocks?limit=101", "/v1/explorer/blocks?limit=101", 400, "bad_limit"),
    ("/explorer/blocks?limit=ten", "/v1/explorer/blocks?limit=ten", 400, "bad_limit"),
    ("/explorer/blocks?before=x", "/v1/explorer/blocks?before=x", 400, "bad_cursor"),
    ("/explorer/txs/xyz", "/v1/explorer/txs/xyz", 400, "bad_tx_id"),
    ("/explorer/txs/" + "a" * 63, "/v1/explorer/txs/" + "a" * 63, 400, "bad_tx_id"),
    (f"/explorer/txs/{ZERO}", f"/v1/explorer/txs/{ZERO}", 404, "unknown_tx"),
    ("/explorer/orgs?after=%3Cx%3E", "/v1/explorer/orgs?after=%3Cx%3E", 400, "bad_cursor"),
    ("/explorer/accounts/no%20such", "/v1/explorer/accounts/no%20such", 400, "bad_id"),
    ("/explorer/accounts/nobody", "/v1/explorer/accounts/nobody", 404, "unknown_account"),
    ("/explorer/projects/" + "P" * 65, "/v1/explorer/projects/" + "P" * 65, 400, "bad_id"),
    ("/explorer/projects/-bad", "/v1/explorer/projects/-bad", 400, "bad_id"),
    ("/explorer/projects/XX-9999", "/v1/explorer/projects/XX-9999", 404, "unknown_project"),
    ("/explorer/projects/AH-0001?limit=1000", "/v1/explorer/projects/AH-0001?limit=1000", 400,
     "bad_limit"),
    ("/explorer/plots/nope", "/v1/explorer/plots/nope", 404, "unknown_plot"),
    ("/explorer/plots/%E7%8E%8B", "/v1/explorer/plots/%E7%8E%8B", 400, "bad_id"),
    ("/explorer/reports/nope", "/v1/explorer/reports/nope", 404, "unknown_report"),
    ("/explorer/attestations/nope", "/v1/explorer/attestations/nope", 404, "unknown_attestation"),
    ("/explorer/batches/nope", "/v1/explorer/batches/nope", 404, "unknown_batch"),
    ("/explorer/batches/B1?after=x", "/v1/explorer/batches/B1?after=x", 400, "bad_cursor"),
    # digits other than ASCII ones: "²" passes str.isdigit() but not int() (was a 500);
    # "١" (Arabic-Indic one) passes both (was read as 1): a cursor is ASCII digits only
    ("/explorer/batches/B1?after=%C2%B2", "/v1/explorer/batches/B1?after=%C2%B2", 400,
     "bad_cursor"),
    ("/explorer/batches/B1?after=%D9%A1", "/v1/explorer/batches/B1?after=%D9%A1", 400,
     "bad_cursor"),
    ("/explorer/batches?project=%3Cb%3E", "/v1/explorer/batches?project=%3Cb%3E", 400, "bad_id"),
    ("/explorer/retirements?period=soon", "/v1/explorer/retirements?period=soon", 400,
     "bad_period"),
    ("/explorer/retirements?enterprise=a%20b", "/v1/explorer/retirements?enterprise=a%20b", 400,
     "bad_id"),
    (f"/explorer/certificates/{ZERO}", f"/v1/explorer/certificates/{ZERO}", 404,
     "unknown_retirement"),
    ("/explorer/certificates/123", "/v1/explorer/certificates/123", 400, "bad_tx_id"),
    (f"/explorer/verify/{ZERO}", f"/v1/explorer/verify/{ZERO}", 404, "unknown_retirement"),
    ("/explorer/verify/nope", "/v1/explorer/verify/nope", 400, "bad_tx_id"),
    ("/explorer/trace/AH-0001:0", "/v1/explorer/trace/AH-0001:0", 400, "invalid_serial"),
    ("/explorer/trace/garbage", "/v1/explorer/trace/garbage", 400, "invalid_serial"),
    ("/explorer/trace/AH-0001:999999", "/v1/explorer/trace/AH-0001:999999", 404,
     "unknown_serial"),
    ("/explorer/trace/CCER-ZZ-1-2018-000000001-000000002",
     "/v1/explorer/trace/CCER-ZZ-1-2018-000000001-000000002", 404, "unknown_serial"),
    ("/explorer/trace?serial=", None, 400, "invalid_serial"),
    ("/explorer/search?q=", "/v1/explorer/search?q=", 400, "bad_query"),
    ("/explorer/search?q=" + "x" * 201, "/v1/explorer/search?q=" + "x" * 201, 400, "bad_query"),
    ("/explorer/search?q=nothing-like-this", "/v1/explorer/search?q=nothing-like-this", 404,
     "not_found"),
    ("/explorer/search?q=999999", "/v1/explorer/search?q=999999", 404, "not_found"),
    (f"/explorer/search?q={ZERO}", f"/v1/explorer/search?q={ZERO}", 404, "not_found"),
    ("/explorer/search?q=AH-0001:999999", "/v1/explorer/search?q=AH-0001:999999", 404,
     "not_found"),
    ("/explorer/search?q=%3Cscript%3E", "/v1/explorer/search?q=%3Cscript%3E", 404, "not_found"),
    ("/explorer/no/such/page", None, 404, "not_found"),
    ("/explorer/static/missing.js", None, 404, "not_found"),
    (None, "/v1/export/retirements.csv?limit=5001", 400, "bad_limit"),
    (None, "/v1/export/retirements.csv?period=x", 400, "bad_period"),
    (None, "/v1/export/issuances.csv?project=%20", 400, "bad_id"),
    (None, "/v1/export/issuances.csv?after=%22%3B", 400, "bad_cursor"),
]


@pytest.mark.parametrize(("page", "api", "status", "code"), BAD)
def test_bad_input_gives_a_stable_code(client, page: str | None, api: str | None, status: int,
                                       code: str) -> None:
    if page is not None:
        r = client.get(page, follow_redirects=False)
        assert r.status_code == status, (page, r.text[:300])
        if page.startswith("/explorer/static/"):
            assert r.json()["error"]["code"] == code
        else:
            assert r.headers["content-type"].startswith("text/html")
            assert f'data-code="{code}"' in r.text and f'id="error-code">{code}<' in r.text
            assert "<script" not in r.text
    if api is not None:
        r = client.get(api)
        assert r.status_code == status, (api, r.text[:300])
        body = r.json()
        assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
        assert body["error"]["code"] == code and body["error"]["message"]


def test_search_echoes_the_query_escaped(client) -> None:
    r = client.get("/explorer/search", params={"q": '"><script>alert(1)</script>'})
    assert r.status_code == 404
    assert "<script>alert(1)" not in r.text and "&lt;script&gt;" in r.text


@pytest.mark.parametrize(
    "path",
    ["/explorer/blocks/%00", "/explorer/txs/%ff", "/explorer/trace/%3A%3A%3A",
     "/explorer/trace/AH-0001%3A01", "/explorer/accounts/..", "/explorer/projects/%0A",
     "/explorer/search?q=%00", "/explorer/search?q=CCER-AH-0001-2018-000000009-000000001",
     "/v1/explorer/trace/%20", "/explorer/verify/%2F", "/explorer/blocks?before=0",
     "/v1/explorer/retirements?after=000000000001%2F00000"],
)
def test_odd_requests_never_give_a_500(client, path: str) -> None:
    r = client.get(path)
    assert 200 <= r.status_code < 500, (path, r.status_code, r.text[:300])


def test_methods_other_than_get_are_refused(client) -> None:
    assert client.post("/explorer/projects/AH-0001").status_code == 405
    assert client.delete("/v1/explorer/blocks/1").status_code == 405


# -- labels -----------------------------------------------------------------------------
def test_every_label_exists_in_both_languages() -> None:
    for key, entry in LABELS.items():
        assert set(entry) == set(LANGS), key
        assert all(isinstance(entry[lang], str) and entry[lang].strip() for lang in LANGS), key
    for group, values in VALUES.items():
        for value, entry in values.items():
            assert set(entry) == set(LANGS) and all(entry.values()), (group, value)


def test_templates_use_only_known_labels() -> None:
    templates = Path(__file__).resolve().parents[2] / "explorer" / "templates"
    used: set[str] = set()
    for path in templates.glob("*.html"):
        used |= set(re.findall(r"\bt\('([a-z_]+)'", path.read_text()))
        for group in re.findall(r"\bv\('([a-z_]+)'", path.read_text()):
            assert group in VALUES, (path.name, group)
    assert used and used <= set(LABELS), sorted(used - set(LABELS))


def test_chinese_labels_use_the_domain_terms() -> None:
    zh = Translator("zh")
    assert zh("registration") == "备案"
    assert zh.value("project_status", "registered") == "已备案"
    assert zh.value("attestation_kind", "verification") == "核证"
    assert zh.value("attestation_kind", "validation") == "审定"
    assert zh.value("action", "issue") == "签发" and zh("nav_batches") == "签发"
    assert zh.value("action", "retire") == "注销" and zh("retired") == "已注销"
    assert zh.value("purpose", "compliance") == "履约抵消"
    assert zh("buffer") == "缓冲池" and zh("nav_buffer") == "缓冲池"
    assert zh.value("role", "owner") == "项目业主"
    assert zh.value("role", "verifier") == "审定与核查机构"
    assert zh.value("role", "exchange") == "碳交易机构"
    assert "控排企业" in zh.value("role", "buyer")
    assert zh("reports") == "监测期" and zh("report") == "监测报告"
    en = Translator("en")
    assert en("registration") == "Registration" and en.value("purpose", "voluntary") == "voluntary"
    assert en.value("role", "unknown-role") == "unknown-role"  # unknown values pass through
    assert en("no_such_label") == "no_such_label"


def test_language_choice() -> None:
    assert choose_lang("zh", "en", "en") == "zh"
    assert choose_lang(None, "zh", "en") == "zh"
    assert choose_lang("fr", None, "zh-TW,zh;q=0.9") == "zh"
    assert choose_lang(None, "xx", "de-DE") == "en"
    assert choose_lang(None, None, None) == "en"


# -- SVG ----------------------------------------------------------------------------------
def _plot(pid: str, ring: list[list[int]]) -> dict[str, Any]:
    return {"id": pid, "polygon": {"type": "Polygon", "coordinates": [ring + [ring[0]]]}}


def test_plot_map_projection_keeps_shape_and_escapes_ids() -> None:
    # a square of 0.01 x 0.01 degree at latitude 60: cos(60) = 1/2, so twice as tall as wide
    lat = 600_000_000
    square = [[0, lat], [100_000, lat], [100_000, lat + 100_000], [0, lat + 100_000]]
    out = str(svg.plot_map([_plot('<b id="x">', square)]))
    w, h = map(int, re.search(r'viewBox="0 0 (\d+) (\d+)"', out).groups())
    assert h == 1000 and abs((w - 40) * 2 - (h - 40)) <= 2
    assert out.count("<polygon") == 1
    assert "<b id" not in out and "&lt;b id=&#34;x&#34;&gt;" in out
    points = [tuple(map(int, p.split(","))) for p in re.search(r'points="([^"]+)"', out).group(1).split()]
    # north up: the first vertex (south-west) is at the bottom left
    assert points[0] == (20, h - 20) and points[2] == (w - 20, 20)


def test_plot_map_skips_unusable_polygons() -> None:
    good = _plot("A", [[0, 0], [10, 0], [10, 10]])
    bad = {"id": "B", "polygon": {"type": "Polygon", "coordinates": [[[0, 0], [1.5, 2]]]}}
    out = str(svg.plot_map([good, bad, {"id": "C"}]))
    assert out.count("<polygon") == 1
    assert str(svg.plot_map([])) == ""


def test_vintage_chart_bars() -> None:
    rows = [{"issued": 100, "retired": 40, "vintage": 2018}, {"issued": 0, "retired": 0,
                                                              "vintage": 2019}]
    out = str(svg.vintage_chart(rows, issued_label="<i>", retired_label="R"))
    heights = [int(h) for h in re.findall(r'class="bar-\w+" x="\d+" y="\d+" width="\d+" height="(\d+)"', out)]
    assert heights[0] > heights[1] > 0 and heights[2:] == [0, 0]
    assert heights[1] * 100 == pytest.approx(heights[0] * 40, abs=100)
    assert "&lt;i&gt;" in out and "<i>" not in out
    assert str(svg.vintage_chart([], issued_label="a", retired_label="b")) == ""


# -- verdicts ------------------------------------------------------------------------------
def test_verdicts_of_several_shapes_are_normalised() -> None:
    assert normalise_verdict(True).ok is True
    assert normalise_verdict(False).ok is False
    v = normalise_verdict({"ok": True, "checks": [{"name": "a", "ok": True, "message": "m"}],
                           "summary": "fine"})
    assert v == Verdict(True, (Check("a", True, "m"),), "fine")
    # ok claimed but a check failed: not ok
    assert normalise_verdict({"ok": True, "checks": [("a", True), ("b", False, "x")]}).ok is False
    # checks as a mapping and no overall flag
    v = normalise_verdict({"checks": {"sig": True, "proof": {"ok": False, "message": "bad"}}})
    assert v.ok is False and Check("proof", False, "bad") in v.checks

    class Obj:
        valid = True
        checks = [type("C", (), {"name": "n", "passed": "ok", "detail": "d"})()]
        message = "all good"

    v = normalise_verdict(Obj())
    assert v.ok is True and v.checks == (Check("n", True, "d"),) and v.summary == "all good"
    assert normalise_verdict({}).ok is False


def test_times_out_of_range_are_not_errors() -> None:
    from explorer.data import iso_time

    assert iso_time(1_700_000_000_000) == "2023-11-15T06:13:20+08:00"
    assert iso_time(2**53 - 1) is None and iso_time(-(10**18)) is None
    assert iso_time(None) is None and iso_time(True) is None


def test_empty_filters_mean_no_filter(client) -> None:
    every = client.get("/v1/explorer/batches?project=").json()["batches"]
    assert [b["id"] for b in every] == ["B1", "B2", "B3"]
    assert client.get("/explorer/batches?project=&after=").status_code == 200
    assert len(client.get("/v1/explorer/retirements?enterprise=&period=").json()["retirements"]) == 2
