"""Issue 15: the policy parameter register (/explorer/params, /explorer/params/<name>) and
its JSON twins: every parameter's value in force and its history, each setting with its
block (date and link), the organisation that set it (by name), the reason and the tx."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from chaincode.params import DEFAULT_PARAMS
from explorer.i18n import LABELS
from tests.support.explorer import Scenario, build_scenario, main_of, module_fixtures


def build_params_scenario(path: Path) -> Scenario:
    """The shared scenario, then the regulator sets the subsidy rate twice and the buffer
    rates once (three later blocks)."""
    scenario = build_scenario(path)
    ids = scenario.ids
    for value, reason in (("35", "2026 budget"), ("40", "2027 budget <b>")):
        out = scenario.chain.ok("regulator", "set_param",
                                {"name": "subsidy_rate", "value": value, "reason": reason},
                                contract="params")
        ids.setdefault("subsidy_txs", []).append(out["_tx_id"])
        ids.setdefault("subsidy_heights", []).append(scenario.store.latest_height())
    out = scenario.chain.ok("regulator", "set_param", {
        "name": "buffer_rates", "value": {"high": "0.25", "low": "0.1", "medium": "0.15"}},
        contract="params")
    ids["buffer_tx"] = out["_tx_id"]
    return scenario


sc, client = module_fixtures("explorer-params", build_params_scenario)


def test_register_lists_every_parameter_in_force_with_its_setting(client, sc: Scenario) -> None:
    d = client.get("/v1/explorer/params", params={"limit": 100}).json()
    by_name = {p["name"]: p for p in d["params"]}
    assert sorted(by_name) == sorted(DEFAULT_PARAMS) and d["next"] is None
    assert [p["name"] for p in d["params"]] == sorted(by_name)
    sub = by_name["subsidy_rate"]
    assert sub["value"] == "40" and sub["height"] == sc.ids["subsidy_heights"][1]
    assert sub["set_by_org"] == "regulator" and sub["tx_id"] == sc.ids["subsidy_txs"][1]
    assert sub["reason"] == "2027 budget <b>" and sub["time_iso"].startswith("20")
    assert by_name["buffer_rates"]["value"]["high"] == "0.25"
    cap = by_name["offset_cap"]  # never changed: the genesis setting
    assert cap["height"] == 0 and cap["set_by"] is None and cap["reason"] == "genesis"


def test_register_pages_by_name_with_a_cursor(client) -> None:
    names: list[str] = []
    after = None
    while True:
        params: dict[str, Any] = {"limit": 5} | ({} if after is None else {"after": after})
        d = client.get("/v1/explorer/params", params=params).json()
        assert len(d["params"]) <= 5
        names += [p["name"] for p in d["params"]]
        after = d["next"]
        if after is None:
            break
    assert names == sorted(DEFAULT_PARAMS)


def test_parameter_history_oldest_first_with_heights_orgs_and_reasons(client, sc: Scenario) -> None:
    d = client.get("/v1/explorer/params/subsidy_rate").json()
    assert [e["value"] for e in d["history"]] == ["30", "35", "40"]
    assert [e["height"] for e in d["history"]] == [0, *sc.ids["subsidy_heights"]]
    assert [e["tx_id"] for e in d["history"]] == [None, *sc.ids["subsidy_txs"]]
    assert [e["set_by_org"] for e in d["history"]] == [None, "regulator", "regulator"]
    assert d["in_force"]["value"] == "40" and d["in_force"]["height"] == sc.ids["subsidy_heights"][1]
    first = client.get("/v1/explorer/params/subsidy_rate", params={"limit": 2}).json()
    assert [e["value"] for e in first["history"]] == ["30", "35"]
    rest = client.get("/v1/explorer/params/subsidy_rate",
                      params={"limit": 2, "after": first["next"]}).json()
    assert [e["value"] for e in rest["history"]] == ["40"] and rest["next"] is None


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_register_pages_in_both_languages(client, sc: Scenario, lang: str) -> None:
    main = main_of(client.get(f"/explorer/params?lang={lang}&limit=100").text)
    assert LABELS["params"][lang] in main
    row = main.split('data-param="subsidy_rate"')[1].split("</tr>")[0]
    h = sc.ids["subsidy_heights"][1]
    assert f'href="/explorer/blocks/{h}"' in row and "<code>40</code>" in row
    assert 'href="/explorer/accounts/regulator"' in row
    assert "2027 budget &lt;b&gt;" in row and "<b>" not in row  # escaped
    assert f'href="/explorer/txs/{sc.ids["subsidy_txs"][1]}"' in row
    genesis_row = main.split('data-param="offset_cap"')[1].split("</tr>")[0]
    assert LABELS["param_genesis"][lang] in genesis_row
    assert 'href="/explorer/params/species_table"' in main
    assert 'href="/v1/export/parameter-history.csv"' in main
    page = main_of(client.get(f"/explorer/params/subsidy_rate?lang={lang}").text)
    history = page.split('id="history"')[1].split("</table>")[0]
    assert history.count("<tr data-height=") == 3
    for height in sc.ids["subsidy_heights"]:
        assert f'href="/explorer/blocks/{height}"' in history
    assert LABELS["param_history"][lang] in page
    table = main_of(client.get(f"/explorer/params/buffer_rates?lang={lang}").text)
    assert 'data-field="high"' in table and "0.25" in table


@pytest.mark.parametrize(("url", "status", "code"), [
    ("/v1/explorer/params/no_such_param", 404, "not_found"),
    ("/v1/explorer/params/bad%20name", 400, "bad_id"),
    ("/v1/explorer/params/" + "x" * 65, 400, "bad_id"),
    ("/v1/explorer/params/subsidy_rate?after=12", 400, "bad_cursor"),
    ("/v1/explorer/params/subsidy_rate?after=abcdefghijkl", 400, "bad_cursor"),
    ("/v1/explorer/params/subsidy_rate?limit=0", 400, "bad_limit"),
    ("/v1/explorer/params?limit=101", 400, "bad_limit"),
    ("/v1/explorer/params?after=%3Cx%3E", 400, "bad_cursor"),
])
def test_bad_register_requests(client, url: str, status: int, code: str) -> None:
    r = client.get(url)
    assert r.status_code == status and r.json()["error"]["code"] == code
    page = client.get(url.removeprefix("/v1"))
    assert page.status_code == status and code in page.text
