"""The monitoring report's rows (portal/report.py): the ledger's plots as rows, the rows
back as the ``measurements`` argument (census and sampled strata), and every bad row
refused with the input named."""

from __future__ import annotations

import pytest

from portal.forms import FormError
from portal.report import has_rows, next_period_start, owned_projects, plot_rows, read_rows

PROJECT = {"project": {"id": "P"}, "plots": [
    {"id": "A", "species": "chinese_fir", "declared_area_ha": "10", "strata": None},
    {"id": "B", "species": "masson_pine", "declared_area_ha": "20", "strata": [
        {"stratum_id": "young", "species": "masson_pine", "area_ha": "12"},
        {"stratum_id": "old", "species": "chinese_fir", "area_ha": "8"}]},
    {"id": "C", "species": "chinese_fir", "declared_area_ha": "5"},
]}
STOCKS = {"plots": [
    {"plot_id": "A", "excluded": False, "account": {"volume": "26", "stock_t": "30.9",
     "high_water_t": "31", "last_period_end": "2019-12-31"}},
    {"plot_id": "B", "excluded": False, "account": {"volume": "0", "stock_t": "0",
     "high_water_t": "0", "last_period_end": "2020-06-30"}},
    {"plot_id": "C", "excluded": True, "account": {"last_period_end": "2024-01-01"}},
]}


def test_the_ledgers_plots_become_rows_with_their_strata_and_stock() -> None:
    rows = plot_rows(PROJECT, STOCKS)
    assert [(r.name, r.plot_id, r.species, r.declared_area_ha) for r in rows] == [
        ("m0", "A", "chinese_fir", "10"), ("m1", "B", "masson_pine", "20"),
        ("m2", "C", "chinese_fir", "5")]
    assert [(s.stratum_id, s.species, s.area_ha) for s in rows[1].strata] == [
        ("young", "masson_pine", "12"), ("old", "chinese_fir", "8")]
    assert (rows[0].volume, rows[0].stock_t, rows[0].high_water_t) == ("26", "30.9", "31")
    assert rows[2].excluded and not rows[0].excluded
    # the day after the latest verified period of the plots still reported (C is excluded)
    assert next_period_start(rows) == "2020-07-01"
    assert next_period_start(plot_rows(PROJECT, None)) is None
    assert plot_rows(None, None) == []


def test_only_the_signers_projects_are_offered() -> None:
    pages = [{"projects": [{"id": "Z", "owner_org": "me"}, {"id": "Y", "owner_org": "other"}]},
             {"projects": [{"id": "X", "owner_org": "me"}, "junk"]}]
    assert [p["id"] for p in owned_projects(pages, "me")] == ["X", "Z"]


def rows_form(**over: str) -> dict[str, str]:
    form = {"m0.plot_id": "A", "m0.species": "chinese_fir", "m0.volume_end": "60",
            "m1.plot_id": "B", "m1.species": "masson_pine", "m1.volume_end": "",
            "m1.s0.stratum_id": "young", "m1.s0.sample_plot_area_ha": "0.0667",
            "m1.s0.samples": "5.1\n6.2\r\n 4.9 \n\n",
            "m1.s1.stratum_id": "old", "m1.s1.sample_plot_area_ha": "0.0667",
            "m1.s1.samples": "7.0, 7.5; 8.1",
            "m2.plot_id": "C", "m2.species": "chinese_fir", "m2.volume_end": ""}
    form.update(over)
    return form


def test_rows_become_the_measurements_census_and_sampled() -> None:
    assert has_rows(rows_form()) and not has_rows({"measurements": "[]"})
    assert read_rows(rows_form()) == [
        {"plot_id": "A", "species": "chinese_fir", "volume_end": "60"},
        {"plot_id": "B", "species": "masson_pine", "strata": [
            {"stratum_id": "young", "sample_plot_area_ha": "0.0667",
             "samples": ["5.1", "6.2", "4.9"]},
            {"stratum_id": "old", "sample_plot_area_ha": "0.0667",
             "samples": ["7.0", "7.5", "8.1"]}]},
    ]  # C left empty: left out


def test_rows_are_read_in_row_order_not_text_order() -> None:
    form = {f"m{i}.plot_id": f"P{i}" for i in (10, 2, 1)}
    form.update({f"m{i}.species": "chinese_fir" for i in (10, 2, 1)})
    form.update({f"m{i}.volume_end": str(i) for i in (10, 2, 1)})
    assert [m["plot_id"] for m in read_rows(form)] == ["P1", "P2", "P10"]


@pytest.mark.parametrize(("over", "field", "words"), [
    ({"m1.volume_end": "50"}, "m1.volume_end", "not both"),
    ({"m1.s0.samples": ""}, "m1.s0.samples", "no sample plot volume"),
    ({"m1.s1.sample_plot_area_ha": ""}, "m1.s1.sample_plot_area_ha", "area of one sample plot"),
])
def test_bad_rows_are_refused_naming_the_input(over: dict[str, str], field: str,
                                               words: str) -> None:
    with pytest.raises(FormError) as err:
        read_rows(rows_form(**over))
    assert err.value.field == field and words in err.value.message
    assert "plot B" in err.value.message
