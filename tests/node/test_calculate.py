"""The free calculation service, ``POST /v1/calculate`` (issue 14 item 1; docs/node.md
"Calculation service"): DOMAIN.md's worked example, agreement with what
``submit_monitoring_report`` computes for the same inputs, the refusals (each a 4xx with
its stable code) and that nothing changes."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from chaincode.calc_service import (
    CALCULATION_CODES,
    MAX_CALC_PLOTS,
    MAX_CALC_SAMPLES,
    calculate,
    read_parameters,
)
from chaincode.executor import Executor
from chaincode.framework import ChaincodeError
from chaincode.params import DEFAULT_PARAMS
from ledger.api_errors import STATUS_BY_CODE
from ledger.crypto import PrivateKey
from ledger.errors import TxError
from ledger.fixedpoint import format_decimal, parse_decimal
from ledger.genesis import Genesis
from ledger.store import Store
from node.api.rpc import MAX_CALC_BODY_BYTES, create_app
from node.api.service import Node
from node.chain.app import Application
from node.driver.solo import SoloDriver
from node.txpool.mempool import Mempool
from tests.support.carbon_registry import Flow, area_ha, small_ring
from tests.support.common import make_genesis, notary_tx


class Env:
    def __init__(self, path: Path, genesis: Genesis, key: PrivateKey) -> None:
        self.store = Store(path)
        self.mempool = Mempool(max_txs=100)
        self.app = Application(self.store, Executor(), genesis, verified=self.mempool.verified)
        self.driver = SoloDriver(self.app, self.mempool, key)
        self.node = Node(moniker="calc-node", genesis=genesis, store=self.store, app=self.app,
                         mempool=self.mempool, on_admit=self.driver.notify)
        self.client = TestClient(create_app(self.node), raise_server_exceptions=False)

    def state(self) -> tuple[int, str, int]:
        return self.store.latest_height(), self.store.state_root(), len(self.mempool)


@pytest.fixture
def env(tmp_path: Path, validator_key: PrivateKey, regulator_key: PrivateKey) -> Any:
    doc = copy.deepcopy(dict(make_genesis([(validator_key, 10)], regulator_key).doc))
    doc["app_state"]["params"] = copy.deepcopy(DEFAULT_PARAMS)  # the production defaults
    e = Env(tmp_path / "db", Genesis.from_json(doc), validator_key)
    yield e
    e.store.close()


def worked(**over: Any) -> dict[str, Any]:
    """DOMAIN.md's worked example: 100 ha of Chinese fir, 0 -> 2,500 m3, baseline 0."""
    body: dict[str, Any] = {
        "plots": [{"plot_id": "XN-SF-01", "species": "chinese_fir", "area_ha": "100",
                   "volume_end": "2500"}],
        "period_start": "2023-01-01", "period_end": "2023-12-31",
        "uncertainty_deduction": "0", "risk_rating": "low",
    }
    body.update(over)
    return body


def post(env: Env, body: Any) -> Any:
    return env.client.post("/v1/calculate", content=json.dumps(body).encode())


def refused(env: Env, body: Any, code: str, *, raw: bytes | None = None) -> str:
    before = env.state()
    resp = env.client.post("/v1/calculate",
                           content=raw if raw is not None else json.dumps(body).encode())
    assert resp.status_code == STATUS_BY_CODE[code], resp.text
    assert 400 <= resp.status_code < 500
    err = resp.json()["error"]
    assert err["code"] == code and err["message"], err
    assert env.state() == before
    return str(err["message"])


# -- the worked example -------------------------------------------------------------------
def test_worked_example_gives_2979_tonnes(env: Env) -> None:
    before = env.state()
    resp = post(env, worked())
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert out["issuable"] == 2979
    plot = out["plots"][0]
    assert plot["biomass_end"] == "1562.60237"
    assert plot["carbon_end"] == "812.553232"
    assert plot["co2e"] == out["delta_c_project"] == out["er"] == "2979.361852"
    assert out["stocks"] == [{"end": 2979361852, "fall": 0, "growth": 2979361852,
                              "high_water": 0, "high_water_after": 2979361852,
                              "plot_id": "XN-SF-01", "start": 0}]
    assert out["buffer_rate"] == "0.1" and out["to_buffer"] == 298 and out["to_owner"] == 2681
    assert out["sampling"] is None
    assert out["parameters"]["height"] == env.store.latest_height()
    assert out["parameters"]["risk_rating"] == "low"
    assert out["parameters"]["overridden"] == []
    assert env.state() == before  # nothing written, nothing admitted


def test_worked_example_with_cf_047_gives_2692_tonnes(env: Env) -> None:
    out = post(env, worked(parameters={"species_table": {"chinese_fir": {"cf": "0.47"}}})).json()
    assert out["issuable"] == 2692
    assert out["er"] == "2692.88475"
    assert out["parameters"]["overridden"] == ["species_table"]
    assert out["parameters"]["species"]["chinese_fir"]["cf"] == "0.47"


def test_defaults_are_the_ledger_parameters_at_the_latest_height(env: Env,
                                                                 regulator_key: PrivateKey) -> None:
    env.node.submit(notary_tx(regulator_key, "one block").to_json())
    env.driver.step()
    height = env.store.latest_height()
    assert height >= 1
    out = post(env, worked(risk_rating=None, uncertainty_deduction=None)).json()
    assert out["parameters"]["height"] == height
    with env.store.snapshot() as view:
        ledger = read_parameters(view)
    assert out["parameters"]["values"] == ledger
    rates = {k: parse_decimal(v, field="r") for k, v in ledger["buffer_rates"].items()}
    # no risk rating: the highest buffer rate (the owner's share is never overstated)
    assert parse_decimal(out["buffer_rate"], field="b") == max(rates.values())
    assert out["uncertainty_deduction"] == format_decimal(
        parse_decimal(ledger["uncertainty_deduction"], field="u"))


def test_deduction_baseline_leakage_and_emissions_apply_as_in_the_contract(env: Env) -> None:
    out = post(env, worked(baseline_t_per_year="365", leakage="10", project_emissions="5.5",
                           uncertainty_deduction="0.1", risk_rating="high")).json()
    assert out["baseline"] == "365"  # 365 t a year over the 365 days of 2023
    assert out["er"] == "2598.861852"
    assert out["uncertainty_deduction_amount"] == "259.886185"
    assert out["issuable"] == 2338  # floor(2598.861852 * 0.9)
    assert out["to_buffer"] == 468 and out["to_owner"] == 1870  # ceil(2338 * 0.2)


def test_second_period_credits_only_growth_above_the_high_water_mark(env: Env) -> None:
    plot = {"plot_id": "P1", "species": "chinese_fir", "area_ha": "100",
            "volume_start": "2000", "volume_end": "2500", "high_water": "2900"}
    out = post(env, worked(plots=[plot])).json()
    stock = out["stocks"][0]
    assert stock["start"] == 2383489481  # floor(2000 m3 of fir in micro-tonnes)
    assert stock["high_water"] == 2900 * 10**6
    assert stock["growth"] == 2979361852 - 2900 * 10**6
    assert out["growth"] == "79.361852" and out["issuable"] == 79
    assert out["plots"][0]["volume_start"] == "2000"


# -- sampled: the same figures as submit_monitoring_report ----------------------------------
RING = small_ring(0)
DECLARED = format_decimal(area_ha(RING), 4)
S2_AREA = format_decimal(parse_decimal(DECLARED, field="a") - parse_decimal("0.5", field="b"))
S1 = ["0.2", "1.0", "1.8"]  # imprecise: the conservative lower bound applies
S2 = ["0.8", "0.8", "0.9"]


def _ledger_report() -> tuple[dict[str, Any], dict[str, Any]]:
    """Submit a sampled report on a Harness; (its stored calculation, the parameters)."""
    f = Flow()
    strata = [{"stratum_id": "S1", "species": "chinese_fir", "age_class": "I", "area_ha": "0.5"},
              {"stratum_id": "S2", "species": "masson_pine", "area_ha": S2_AREA}]
    f.ok("owner-farm", "register_plot", f.plot_args("P1", RING, strata=strata))
    f.ok("owner-farm", "submit_project", f.project_args("AH-0001", ["P1"], baseline="0.5"))
    f.ok("verifier-a", "attest_validation", f.validation_args("VAL-AH-0001", "AH-0001"))
    f.ok("regulator", "register_project", {"project_id": "AH-0001"})
    args = Flow.report_args("R1", "AH-0001", [], 0)
    args["measurements"] = [{"plot_id": "P1", "species": "chinese_fir", "strata": [
        {"stratum_id": "S1", "sample_plot_area_ha": "0.01", "samples": S1},
        {"stratum_id": "S2", "sample_plot_area_ha": "0.01", "samples": S2}]}]
    args["parameters"]["baseline"] = None
    res = f.h.call("owner-farm", "carbon", "submit_monitoring_report", args)
    assert res["code"] == "claim_mismatch", res
    claimed = int(res["message"].split("computes ")[1].split(" ")[0])
    f.ok("owner-farm", "submit_monitoring_report", dict(args, claimed_issuable=claimed))
    return f.get("report/R1")["calculation"], read_parameters(f.h.state)


def test_sampled_calculation_agrees_with_submit_monitoring_report() -> None:
    ledger, params = _ledger_report()
    body = {
        "plots": [{"plot_id": "P1", "species": "chinese_fir", "area_ha": DECLARED, "strata": [
            {"stratum_id": "S1", "species": "chinese_fir", "area_ha": "0.5",
             "sample_plot_area_ha": "0.01", "samples": S1},
            {"stratum_id": "S2", "species": "masson_pine", "area_ha": S2_AREA,
             "sample_plot_area_ha": "0.01", "samples": S2}]}],
        "period_start": "2018-01-01", "period_end": "2022-12-31",
        "baseline_t_per_year": "0.5", "risk_rating": "low",
    }
    out = calculate(body, params, height=7)
    assert ledger["sampling"]["conservative"] is True
    for key in ("stocks", "growth", "fall", "baseline", "leakage", "project_emissions", "er",
                "uncertainty_deduction", "uncertainty_deduction_amount", "issuable",
                "buffer_rate", "to_buffer", "to_owner", "carbon_start", "carbon_end",
                "plots", "sampling"):
        assert out[key] == ledger[key], key
    assert out["issuable"] > 0
    assert out["parameters"]["height"] == 7


def test_sampled_figures_through_the_api(env: Env) -> None:
    body = {"plots": [{"plot_id": "P1", "species": "chinese_fir", "area_ha": "2", "strata": [
        {"stratum_id": "S1", "species": "chinese_fir", "area_ha": "2",
         "sample_plot_area_ha": "0.01", "samples": ["1.0", "1.01", "0.99"]}]}],
        "period_start": "2018-01-01", "period_end": "2022-12-31"}
    out = post(env, body).json()
    sampling = out["sampling"]
    assert sampling["strata"][0]["n"] == 3 and sampling["df"] == 2
    assert sampling["t"] == "2.92" and sampling["strata"][0]["volume_per_ha"] == "100"
    assert sampling["conservative"] is False and sampling["factor"] == "1"
    assert out["plots"][0]["volume_end"] == "200"


# -- refusals ---------------------------------------------------------------------------------
def _plot(**over: Any) -> dict[str, Any]:
    return {"plot_id": "P1", "species": "chinese_fir", "area_ha": "100", "volume_end": "2500",
            **over}


def _stratified(samples: list[str]) -> dict[str, Any]:
    return {"plot_id": "P1", "species": "chinese_fir", "area_ha": "1", "strata": [
        {"stratum_id": "S1", "species": "chinese_fir", "area_ha": "1",
         "sample_plot_area_ha": "0.01", "samples": samples}]}


@pytest.mark.parametrize(("over", "code", "fragment"), [
    ({"plots": [_plot(species="oak")]}, "unknown_species", "oak"),
    ({"plots": [_plot(volume_end="12,5")]}, "malformed_request", "plots[0].volume_end"),
    ({"plots": [_plot(volume_end="1e3")]}, "malformed_request", "volume_end"),
    ({"plots": [_plot(volume_end="-5")]}, "malformed_request", "volume_end"),
    ({"plots": [_plot(volume_end="0.0000001")]}, "malformed_request", "volume_end"),
    ({"plots": [_plot(area_ha="0")]}, "invalid_measurement", "area of 0 ha"),
    ({"plots": [_plot(volume_end=None)]}, "invalid_measurement", "either volume_end"),
    ({"plots": [_plot(strata=_stratified(["1", "1", "1"])["strata"])]},
     "invalid_measurement", "not both"),
    ({"plots": [_plot(), _plot()]}, "duplicate_measurement", "P1"),
    ({"plots": [_plot(volume_end="80000")]}, "implausible_volume", "800 m3/ha"),
    ({"plots": [_plot(high_water="1", stock_start="2")]}, "invalid_measurement",
     "high-water mark"),
    ({"plots": [_stratified(["1", "1"])]}, "too_few_samples", "minimum is 3"),
    ({"plots": [_stratified(["1", "1", "1"]) | {"area_ha": "2"}]}, "strata_area_mismatch",
     "2 ha"),
    ({"plots": []}, "malformed_request", "plots"),
    ({"plots": "P1"}, "malformed_request", "plots"),
    ({"plots": [_plot(colour="green")]}, "malformed_request", "colour"),
    ({"period_end": "2022-02-30"}, "invalid_date", "calendar date"),
    ({"period_end": "2022-12-31"}, "invalid_period", "start before"),
    ({"risk_rating": "extreme"}, "invalid_parameter", "extreme"),
    ({"uncertainty_deduction": "1.5"}, "invalid_parameter", "uncertainty_deduction"),
    ({"parameters": {"offset_cap": "0.1"}}, "unknown_param", "offset_cap"),
    ({"parameters": {"species_table": {"chinese_fir": {"cf": "1.5"}}}}, "invalid_param", "cf"),
    ({"parameters": {"min_sample_plots": "3"}}, "invalid_param", "min_sample_plots"),
    ({"parameters": {"species_table": {"chinese_fir": 3}}}, "invalid_param", "object"),
])
def test_bad_input_is_a_4xx_with_a_stable_code(env: Env, over: dict[str, Any], code: str,
                                               fragment: str) -> None:
    assert fragment in refused(env, worked(**over), code)


def test_growth_faster_than_the_ceiling_is_refused(env: Env) -> None:
    table = copy.deepcopy(read_parameters(env.store)["species_table"])
    table["chinese_fir"]["max_growth_per_ha_year"] = "20"
    message = refused(env, worked(parameters={"species_table": table}), "implausible_growth")
    assert "25 m3/ha a year" in message


def test_not_json_and_not_an_object(env: Env) -> None:
    refused(env, None, "malformed_json", raw=b"{nope")
    refused(env, None, "malformed_json", raw=b"\xff\xfe")
    refused(env, [1, 2], "malformed_request")
    refused(env, worked(plots=[_plot(volume_end=2500.5)]), "malformed_request")


def test_too_many_plots_and_samples(env: Env) -> None:
    plots = [_plot(plot_id=f"P{i}") for i in range(MAX_CALC_PLOTS + 1)]
    assert "101 plots" in refused(env, worked(plots=plots), "too_many_measurements")
    per = 200
    big = [{"plot_id": f"P{i}", "species": "chinese_fir", "area_ha": "1", "strata": [
        {"stratum_id": "S1", "species": "chinese_fir", "area_ha": "1",
         "sample_plot_area_ha": "0.01", "samples": ["1"] * per}]}
        for i in range(MAX_CALC_SAMPLES // per + 1)]
    assert "sample plots" in refused(env, worked(plots=big), "too_many_measurements")


def test_oversize_body_is_refused_before_parsing(env: Env) -> None:
    raw = b'{"pad": "' + b"x" * MAX_CALC_BODY_BYTES + b'"}'
    refused(env, None, "request_too_large", raw=raw)


def test_calculation_runs_in_the_readers_worker_places(env: Env,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = env.node.readers.run

    async def run(fn: Any, *args: Any) -> Any:
        calls.append(fn.__name__)
        return await real(fn, *args)

    monkeypatch.setattr(env.node.readers, "run", run)
    assert post(env, worked()).status_code == 200
    assert calls == ["calculate"]

    async def busy(fn: Any, *args: Any) -> Any:
        raise TxError("admission_busy", "the node is busy checking transactions")

    monkeypatch.setattr(env.node.readers, "run", busy)
    resp = post(env, worked())
    assert resp.status_code == 503 and resp.json()["error"]["code"] == "admission_busy"


def test_every_calculation_code_has_a_4xx_status() -> None:
    for code in CALCULATION_CODES:
        assert 400 <= STATUS_BY_CODE[code] < 500, code


def test_service_refuses_with_chaincode_errors_only() -> None:
    with pytest.raises(ChaincodeError) as info:
        calculate(worked(), {}, height=0)
    assert info.value.code == "missing_parameter"


def test_openapi_documents_the_route(env: Env) -> None:
    doc = env.client.get("/openapi.json").json()
    op = doc["paths"]["/v1/calculate"]["post"]
    assert "requestBody" in op
    assert {"400", "413", "422"} <= set(op["responses"])


# -- any input: a result or a ChaincodeError with a listed code, never anything else ------
_KEYS = ["plots", "period_start", "period_end", "plot_id", "species", "area_ha", "volume_end",
         "volume_start", "strata", "stratum_id", "samples", "sample_plot_area_ha",
         "high_water", "stock_start", "parameters", "species_table", "risk_rating", "cf"]
_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                     st.sampled_from(["0", "1", "2.5", "100", "-1", "1e3", "chinese_fir",
                                      "2023-01-01", "2023-12-31", "S1", "P1", "low", ""]))
_JSON = st.recursive(_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(_KEYS), inner, max_size=5)),
    max_leaves=25)


@settings(max_examples=300, deadline=None)
@given(body=_JSON)
def test_any_input_is_answered_or_refused_with_a_listed_code(body: Any) -> None:
    try:
        out = calculate(body, DEFAULT_PARAMS, height=1)
    except ChaincodeError as exc:
        assert exc.code in CALCULATION_CODES, (exc.code, exc.message)
        assert exc.message
    else:
        assert isinstance(out["issuable"], int) and out["issuable"] >= 0


@settings(max_examples=100, deadline=None)
@given(end=st.integers(0, 70000), start=st.integers(0, 70000), mark=st.integers(0, 3000))
def test_census_issuable_is_growth_above_the_mark_rounded_down(end: int, start: int,
                                                              mark: int) -> None:
    body = worked(plots=[_plot(volume_start=str(start), volume_end=str(end),
                               high_water=str(mark))])
    body["parameters"] = {"species_table": {"chinese_fir": {"max_growth_per_ha_year": "1000",
                                                            "max_volume_per_ha": "10000"}}}
    try:
        out = calculate(body, DEFAULT_PARAMS, height=1)
    except ChaincodeError as exc:  # a mark below the start stock
        assert exc.code == "invalid_measurement" and "high-water" in exc.message
        return
    stock = out["stocks"][0]
    assert stock["growth"] == max(0, stock["end"] - stock["high_water"])
    assert out["issuable"] == stock["growth"] // 10**6
    assert out["to_buffer"] + out["to_owner"] == out["issuable"]


def test_busy_read_jobs_never_take_the_places_of_submissions(env: Env) -> None:
    """Dry runs and calculations have their own pool: while it is full, transactions are
    still admitted (their signatures are checked in the verifier's places)."""
    assert env.node.readers is not env.node.verifier
    assert env.node.readers._pool is not env.node.verifier._pool
