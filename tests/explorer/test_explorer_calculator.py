"""The explorer's calculator page (issue 14 item 1; docs/explorer.md "Calculator"): a form
that works without JavaScript, in both languages, posting census rows or an uploaded CSV /
JSON, answered with the figures step by step; refusals re-render the form with the code."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chaincode.calc_service import calculate, read_parameters
from explorer.calculator import MAX_CALC_UPLOAD
from explorer.i18n import LABELS
from ledger.api_errors import STATUS_BY_CODE
from tests.support.explorer import Scenario, main_of, module_fixtures

sc, client = module_fixtures("explorer-calculator")

WORKED = {"period_start": "2023-01-01", "period_end": "2023-12-31", "risk_rating": "low",
          "uncertainty_deduction": "0", "plot_id_0": "XN-SF-01", "species_0": "chinese_fir",
          "area_ha_0": "100", "volume_end_0": "2500"}


def state_of(sc: Scenario) -> tuple[int, str]:
    return sc.store.latest_height(), sc.store.state_root()


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_form_renders_in_both_languages_without_scripts(client: Any, lang: str) -> None:
    resp = client.get(f"/explorer/calculator?lang={lang}")
    assert resp.status_code == 200
    html = resp.text
    assert "<script" not in html
    assert LABELS["calc_title"][lang] in html
    assert LABELS["nav_calculator"][lang] in html  # linked from the navigation
    assert 'href="/explorer/calculator"' in html
    assert 'enctype="multipart/form-data"' in html and 'name="measurements"' in html
    assert 'name="plot_id_4"' in html and 'value="chinese_fir"' in html
    assert "script-src" not in resp.headers["content-security-policy"]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_worked_example_form_shows_every_step(client: Any, sc: Scenario, lang: str) -> None:
    before = state_of(sc)
    resp = client.post(f"/explorer/calculator?lang={lang}", data=WORKED)
    assert resp.status_code == 200, resp.text
    html = main_of(resp.text)
    assert 'data-issuable="2979"' in html
    for figure in ("1562.60237", "812.553232", "2979.361852", "2,979", "2,681", "298"):
        assert figure in html, figure
    for key in ("calc_step1", "calc_step1_help", "calc_stocks", "calc_step4", "calc_step4_help"):
        assert LABELS[key][lang].split("{")[0] in html, key
    assert "calc-strata" not in html  # no sampling block for a census
    assert 'value="XN-SF-01"' in html  # the form keeps what was typed
    assert state_of(sc) == before


def _all_fields(**values: str) -> dict[str, str]:
    """Every field of the rows form, as a browser sends it (empty ones included)."""
    names = ["period_start", "period_end", "baseline_t_per_year", "baseline_from", "leakage",
             "project_emissions", "uncertainty_deduction", "risk_rating", "measurements_text"]
    names += [f"{k}_{i}" for i in range(5) for k in ("plot_id", "species", "area_ha",
                                                     "volume_start", "high_water", "volume_end")]
    fields = {n: "" for n in names}
    fields.update({f"species_{i}": "chinese_fir" for i in range(5)})
    fields.update(values)
    return fields


def test_both_forms_as_a_browser_sends_them(client: Any) -> None:
    resp = client.get("/explorer/calculator")
    rows_form = resp.text.split('id="calc-form"', 1)[1].split("</form>", 1)[0]
    upload_form = resp.text.split('id="calc-upload"', 1)[1].split("</form>", 1)[0]
    assert "enctype" not in rows_form.split(">", 1)[0]  # url-encoded: any number of fields
    assert rows_form.count("name=") == len(_all_fields())
    # the upload form is multipart: it stays within the multipart reader's 16 parts
    assert upload_form.count("name=") <= 15
    resp = client.post("/explorer/calculator", data=_all_fields(**WORKED))
    assert resp.status_code == 200 and 'data-issuable="2979"' in resp.text
    general = {k: v for k, v in _all_fields(**WORKED).items()
               if f'name="{k}"' in upload_form}
    text = "plot_id,species,area_ha,volume_end\nA,chinese_fir,100,2500\n"
    resp = client.post("/explorer/calculator", data=general,
                       files={"measurements": ("m.csv", text.encode(), "text/csv")})
    assert resp.status_code == 200 and 'data-issuable="2979"' in resp.text


def test_page_figures_are_the_services(client: Any, sc: Scenario) -> None:
    body = {"plots": [{"plot_id": "XN-SF-01", "species": "chinese_fir", "area_ha": "100",
                       "volume_end": "2500"}],
            "period_start": "2023-01-01", "period_end": "2023-12-31",
            "parameters": {"species_table": {"chinese_fir": {"cf": "0.47"}}}}
    resp = client.post("/explorer/calculator", files={
        "measurements": ("request.json", json.dumps(body).encode(), "application/json")})
    assert resp.status_code == 200, resp.text
    expected = calculate(body, read_parameters(sc.store), height=sc.store.latest_height())
    assert expected["issuable"] == 2692
    html = main_of(resp.text)
    assert f'data-issuable="{expected["issuable"]}"' in html
    assert expected["er"] in html and "species_table" in html


def test_csv_upload_with_sample_plots(client: Any) -> None:
    rows = ["plot_id,species,area_ha,stratum_id,stratum_species,stratum_area_ha,"
            "sample_plot_area_ha,sample"]
    rows += [f"P1,chinese_fir,2,S1,chinese_fir,2,0.01,{v}" for v in ("1.0", "1.01", "0.99")]
    csv_text = "\n".join(rows) + "\n"
    resp = client.post("/explorer/calculator?lang=en", data={
        "period_start": "2018-01-01", "period_end": "2022-12-31"},
        files={"measurements": ("m.csv", csv_text.encode(), "text/csv")})
    assert resp.status_code == 200, resp.text
    html = main_of(resp.text)
    assert 'id="calc-strata"' in html and 'id="calc-precision"' in html
    assert "<td>S1</td>" in html and "2.92" in html


def test_census_csv_pasted(client: Any) -> None:
    text = "plot_id,species,area_ha,volume_start,volume_end\nA,chinese_fir,100,0,2500\n"
    resp = client.post("/explorer/calculator", data={
        "period_start": "2023-01-01", "period_end": "2023-12-31", "risk_rating": "low",
        "uncertainty_deduction": "0", "measurements_text": text})
    assert resp.status_code == 200, resp.text
    assert 'data-issuable="2979"' in resp.text


@pytest.mark.parametrize(("data", "code"), [
    (dict(WORKED, species_0="oak"), "unknown_species"),
    (dict(WORKED, volume_end_0="12,5"), "malformed_request"),
    (dict(WORKED, period_end="2023-02-30"), "invalid_date"),
    ({"period_start": "2023-01-01", "period_end": "2023-12-31"}, "malformed_request"),
    (dict(WORKED, measurements_text="plot_id,colour\nA,green\n"), "malformed_form"),
    (dict(WORKED, measurements_text="{nope"), "malformed_form"),
    (dict(WORKED, measurements_text='{"plots": []}'), "malformed_form"),
])
def test_refusals_rerender_the_form_with_the_code(client: Any, sc: Scenario,
                                                  data: dict[str, str], code: str) -> None:
    before = state_of(sc)
    resp = client.post("/explorer/calculator?lang=zh", data=data)
    assert resp.status_code == STATUS_BY_CODE[code], resp.text
    html = main_of(resp.text)
    assert f'data-code="{code}"' in html and LABELS["calc_refused"]["zh"] in html
    assert 'id="calc-form"' in html
    assert state_of(sc) == before


def test_too_few_samples_in_a_csv(client: Any) -> None:
    text = ("plot_id,species,area_ha,stratum_id,sample_plot_area_ha,sample\n"
            "P1,chinese_fir,1,S1,0.01,1\nP1,chinese_fir,1,S1,0.01,1\n")
    resp = client.post("/explorer/calculator", data={
        "period_start": "2018-01-01", "period_end": "2022-12-31", "measurements_text": text})
    assert resp.status_code == 422
    assert 'data-code="too_few_samples"' in resp.text


def test_oversize_and_wrong_media_type(client: Any) -> None:
    resp = client.post("/explorer/calculator", files={
        "measurements": ("big.csv", b"x" * (MAX_CALC_UPLOAD + 1), "text/csv")})
    assert resp.status_code == 413 and 'data-code="upload_too_large"' in resp.text
    resp = client.post("/explorer/calculator", content=b"{}",
                       headers={"content-type": "application/json"})
    assert resp.status_code == 415 and 'data-code="unsupported_media_type"' in resp.text


def test_gb18030_csv_from_a_spreadsheet(client: Any) -> None:
    """An uploaded file that is not UTF-8 is read as GB18030: the plot id comes through
    (and is then refused as no ledger identifier, the message quoting it)."""
    text = "plot_id,species,area_ha,volume_end\n杉木-01,chinese_fir,100,2500\n"
    resp = client.post("/explorer/calculator", data={"period_start": "2023-01-01",
                                                     "period_end": "2023-12-31"},
                       files={"measurements": ("m.csv", text.encode("gb18030"), "text/csv")})
    assert resp.status_code == 400, resp.text
    assert 'data-code="malformed_request"' in resp.text and "plots[0].plot_id" in resp.text
    resp = client.post("/explorer/calculator", data={"period_start": "2023-01-01"},
                       files={"measurements": ("m.csv", b"\xff\xfe\x00\x81", "text/csv")})
    assert resp.status_code == 400 and "neither UTF-8 nor GB18030" in resp.text
