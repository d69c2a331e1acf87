"""Policy parameters: validation of every parameter, set_param, history, genesis."""

from __future__ import annotations

import copy
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chaincode.executor import Executor
from chaincode.framework import ChaincodeError
from chaincode.governance import Governance
from chaincode.kv import KeyValue
from chaincode.membership import Membership
from chaincode.params import (
    DEFAULT_PARAMS,
    PARAM_SPECS,
    Params,
    param_history,
    param_in_force,
    validate_param,
    validate_params,
)
from ledger.genesis import Genesis
from tests.support.harness import CHAIN_ID, GENESIS_TIME, Harness, fixture_params


def contracts() -> list:
    return [Membership(), Params(), Governance(), KeyValue()]


@pytest.fixture
def h() -> Harness:
    return Harness(executor=Executor(contracts()))


FIR = {"bef": "1.634", "cf": "0.520", "r": "0.246", "wd": "0.307"}

GOOD_VALUES = [
    ("offset_cap", "0"), ("offset_cap", "1"), ("offset_cap", "0.1"),
    ("benefit_split_default", {"farmers": "0.25", "government": "0.05", "owner": "0.7"}),
    ("benefit_split_default", {"farmers": "0", "government": "0", "owner": "1"}),
    ("benefit_split_default", {"farmers": "0.333333", "government": "0.333333", "owner": "0.333334"}),
    ("subsidy_rate", "0"), ("subsidy_rate", "50"), ("subsidy_rate", "22.5"), ("subsidy_rate", "10000"),
    ("buffer_rates", {"low": "0"}), ("buffer_rates", {"a1": "1", "very_high": "0.3"}),
    ("uncertainty_deduction", "0.15"),
    ("species_table", {"chinese_fir": FIR}),
    ("species_table", {"oak_2": {"bef": "10", "cf": "1", "r": "5", "wd": "2"}}),
    ("species_table", {"chinese_fir": dict(FIR, max_volume_per_ha="700")}),
    ("species_table", {"chinese_fir": dict(FIR, max_growth_per_ha_year="35",
                                           max_volume_per_ha="10000")}),
    ("min_sample_plots", 2), ("min_sample_plots", 200),
    ("sampling_precision_target", "0.1"), ("sampling_precision_target", "1"),
    ("sampling_t90", {"1": "6.314"}), ("sampling_t90", {"1": "6.314", "2": "2.92", "10": "2.92"}),
    ("methodologies", []), ("methodologies", ["CCER-14-001-V01", "CCER-14-002-V02"]),
    ("area_tolerance", "0.02"),
    ("min_parcel_m2", 1), ("min_parcel_m2", 1_000_000),
    ("crediting_period_min_years", 20), ("crediting_period_max_years", 40),
    ("non_forest_years", 0), ("non_forest_years", 100),
    ("validator_change_delay", 1), ("validator_change_delay", 100_000),
    ("verifier_may_validate_and_verify", True), ("verifier_may_validate_and_verify", False),
    ("max_consecutive_verifications", 0), ("max_consecutive_verifications", 1000),
]

BAD_VALUES = [
    ("offset_cap", "1.01"), ("offset_cap", "-0.1"), ("offset_cap", 0), ("offset_cap", "5%"),
    ("offset_cap", "0.0000001"), ("offset_cap", ".05"), ("offset_cap", None), ("offset_cap", True),
    ("benefit_split_default", {"farmers": "0.3", "government": "0.1", "owner": "0.5"}),
    ("benefit_split_default", {"farmers": "0.3", "government": "0.2", "owner": "0.6"}),
    ("benefit_split_default", {"farmers": "0.4", "owner": "0.6"}),
    ("benefit_split_default", {"farmers": "0.3", "government": "0.1", "owner": "0.6", "x": "0"}),
    ("benefit_split_default", {"farmers": "-0.1", "government": "0.5", "owner": "0.6"}),
    ("benefit_split_default", {"farmers": "1.2", "government": "0", "owner": "-0.2"}),
    ("benefit_split_default", {"farmers": 0, "government": "0", "owner": "1"}),
    ("benefit_split_default", ["0.6", "0.3", "0.1"]),
    ("benefit_split_default", {}),
    ("subsidy_rate", "-1"), ("subsidy_rate", "10000.01"), ("subsidy_rate", "20.005"),
    ("subsidy_rate", 30),
    ("buffer_rates", {}), ("buffer_rates", {"low": "1.5"}), ("buffer_rates", {"Low": "0.1"}),
    ("buffer_rates", {"low": 0}), ("buffer_rates", "0.1"),
    ("buffer_rates", {f"r{i}": "0.1" for i in range(17)}),
    ("uncertainty_deduction", "2"),
    ("species_table", {}),
    ("species_table", {"chinese_fir": dict(FIR, wd="0")}),
    ("species_table", {"chinese_fir": dict(FIR, r="0")}),
    ("species_table", {"chinese_fir": dict(FIR, cf="1.1")}),
    ("species_table", {"chinese_fir": dict(FIR, wd="307")}),
    ("species_table", {"chinese_fir": dict(FIR, bef="10.5")}),
    ("species_table", {"chinese_fir": dict(FIR, r="6")}),
    ("species_table", {"chinese_fir": dict(FIR, wd=1)}),
    ("species_table", {"chinese_fir": dict(FIR, wd="-0.3")}),
    ("species_table", {"chinese_fir": {"bef": "1", "cf": "0.5", "r": "0.2"}}),
    ("species_table", {"chinese_fir": dict(FIR, extra="1")}),
    ("species_table", {"Chinese Fir": FIR}),
    ("species_table", {"chinese_fir": "0.3"}),
    ("species_table", ["chinese_fir"]),
    ("species_table", {"chinese_fir": dict(FIR, max_volume_per_ha="0")}),
    ("species_table", {"chinese_fir": dict(FIR, max_volume_per_ha="10001")}),
    ("species_table", {"chinese_fir": dict(FIR, max_growth_per_ha_year="1000.5")}),
    ("species_table", {"chinese_fir": dict(FIR, max_growth_per_ha_year=35)}),
    ("species_table", {"chinese_fir": dict(FIR, max_volume="700")}),
    ("min_sample_plots", 1), ("min_sample_plots", 201), ("min_sample_plots", "3"),
    ("sampling_precision_target", "0"), ("sampling_precision_target", "1.1"),
    ("sampling_precision_target", 0.1),
    ("sampling_t90", {}), ("sampling_t90", {"2": "2.92"}), ("sampling_t90", {"1": "0.5"}),
    ("sampling_t90", {"1": "2", "2": "2.5"}), ("sampling_t90", {"1": "6.314", "0": "7"}),
    ("sampling_t90", {"1": "6.314", "x": "2"}), ("sampling_t90", {"1": 6}),
    ("sampling_t90", ["6.314"]),
    ("methodologies", "CCER-14-001-V01"), ("methodologies", ["ccer-14"]),
    ("methodologies", ["CCER-14-001-V01", "CCER-14-001-V01"]), ("methodologies", [1]),
    ("methodologies", ["CCER 14"]), ("methodologies", [f"M-{i}" for i in range(65)]),
    ("area_tolerance", "1.5"),
    ("min_parcel_m2", 0), ("min_parcel_m2", 1_000_001), ("min_parcel_m2", "400"),
    ("min_parcel_m2", True),
    ("crediting_period_min_years", 0), ("crediting_period_max_years", 101),
    ("non_forest_years", -1), ("non_forest_years", 101),
    ("validator_change_delay", 0), ("validator_change_delay", 100_001),
    ("validator_change_delay", "2"),
    ("verifier_may_validate_and_verify", 0), ("verifier_may_validate_and_verify", "false"),
    ("max_consecutive_verifications", -1), ("max_consecutive_verifications", 1001),
    ("max_consecutive_verifications", True),
]


def test_every_default_param_has_a_spec_and_is_valid():
    assert sorted(PARAM_SPECS) == sorted(DEFAULT_PARAMS)
    validate_params(DEFAULT_PARAMS)


@pytest.mark.parametrize("name, value", GOOD_VALUES)
def test_good_values_validate(name, value):
    validate_param(name, value)


@pytest.mark.parametrize("name, value", BAD_VALUES)
def test_bad_values_are_refused(name, value):
    with pytest.raises(ChaincodeError) as exc:
        validate_param(name, value)
    assert exc.value.code == "invalid_param"
    assert name in exc.value.message


def test_every_param_has_good_and_bad_cases():
    assert {n for n, _ in GOOD_VALUES} == set(PARAM_SPECS)
    assert {n for n, _ in BAD_VALUES} == set(PARAM_SPECS)


def test_unknown_param():
    with pytest.raises(ChaincodeError) as exc:
        validate_param("offset_kap", "0.05")
    assert exc.value.code == "unknown_param"


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10**6), st.integers(0, 10**6))
def test_split_sums_must_be_exactly_one(a, b):
    c = 10**6 - a - b
    split = {"farmers": f"0.{a:06d}" if a < 10**6 else "1",
             "government": f"0.{b:06d}" if b < 10**6 else "1",
             "owner": (f"0.{c:06d}" if c < 10**6 else "1") if c >= 0 else "0"}
    if c >= 0:
        validate_param("benefit_split_default", split)
    else:
        with pytest.raises(ChaincodeError):
            validate_param("benefit_split_default", split)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2 * 10**6))
def test_rate_bounds(n):
    text = f"{n // 10**6}.{n % 10**6:06d}"
    if Fraction(n, 10**6) <= 1:
        validate_param("offset_cap", text)
    else:
        with pytest.raises(ChaincodeError):
            validate_param("offset_cap", text)


# -- set_param ----------------------------------------------------------------------------
def test_set_param_updates_value_history_and_event(h):
    result = h.ok("regulator", "params", "set_param",
                  {"name": "offset_cap", "value": "0.08", "reason": "policy 2025"})
    assert h.get("param/offset_cap") == "0.08"
    entry = h.get(f"paramhist/offset_cap/{h.height:012d}")
    assert entry == {"height": h.height, "reason": "policy 2025",
                     "set_by": h.key("regulator").public_key_hex, "tx_id": result["tx_id"],
                     "value": "0.08"}
    ev = [e for e in result["events"] if e["type"] == "params.param_set"]
    assert ev == [{"type": "params.param_set", "name": "offset_cap", "value": "0.08",
                   "previous": "0.05", "reason": "policy 2025"}]


def test_history_shows_what_was_in_force_when(h):
    h.run_block([])  # height 1
    h.ok("regulator", "params", "set_param", {"name": "subsidy_rate", "value": "40"})  # 2
    h.run_block([])  # 3
    h.ok("regulator", "params", "set_param", {"name": "subsidy_rate", "value": "45.5"})  # 4
    hist = param_history(h.state, "subsidy_rate")
    assert [(e["height"], e["value"]) for e in hist] == [(0, "30"), (2, "40"), (4, "45.5")]
    assert [param_in_force(h.state, "subsidy_rate", x) for x in range(6)] == [
        "30", "30", "40", "40", "45.5", "45.5"]
    assert param_in_force(h.state, "offset_cap", 4) == "0.05"
    assert param_in_force(h.state, "no_such", 4) is None


def test_two_settings_in_one_block_keep_the_later(h):
    txs = [h.make_tx("regulator", "params", "set_param", {"name": "offset_cap", "value": v})
           for v in ("0.06", "0.07")]
    results = h.run_block(txs)
    assert [r["code"] for r in results] == ["ok", "ok"]
    assert h.get("param/offset_cap") == "0.07"
    assert h.get(f"paramhist/offset_cap/{h.height:012d}")["value"] == "0.07"


def test_set_param_structured_values(h):
    table = copy.deepcopy(DEFAULT_PARAMS["species_table"])
    table["ipcc_default"] = {"bef": "1.5", "cf": "0.47", "r": "0.25", "wd": "0.5"}
    h.ok("regulator", "params", "set_param", {"name": "species_table", "value": table})
    assert h.get("param/species_table")["ipcc_default"]["cf"] == "0.47"
    h.ok("regulator", "params", "set_param",
         {"name": "methodologies", "value": ["CCER-14-001-V01", "CCER-14-002-V01"]})
    h.ok("regulator", "params", "set_param",
         {"name": "buffer_rates", "value": {"high": "0.25", "low": "0.1", "medium": "0.15"}})
    assert h.get("param/buffer_rates")["high"] == "0.25"


@pytest.mark.parametrize("name, value", [nv for nv in BAD_VALUES[::3] if nv[1] is not None])
def test_set_param_refuses_bad_values(h, name, value):
    h.fails("invalid_param", "regulator", "params", "set_param", {"name": name, "value": value})


def test_set_param_errors(h):
    h.fails("unknown_param", "regulator", "params", "set_param", {"name": "offset_kap", "value": "0"})
    h.fails("invalid_args", "regulator", "params", "set_param", {"name": "offset_cap"})
    h.fails("invalid_args", "regulator", "params", "set_param",
            {"name": "offset_cap", "value": None})
    h.fails("invalid_args", "regulator", "params", "set_param",
            {"name": "offset_cap", "value": "0.1", "extra": 1})
    h.fails("invalid_args", "regulator", "params", "set_param", {"name": "", "value": "0.1"})


@pytest.mark.parametrize("signer", ["owner-farm", "verifier-a", "exchange", "buyer-steel", "nobody"])
def test_set_param_needs_regulator(h, signer):
    h.fails("unauthorized", signer, "params", "set_param", {"name": "offset_cap", "value": "0.5"})


def test_crediting_period_bounds_cross_check(h):
    h.fails("invalid_param", "regulator", "params", "set_param",
            {"name": "crediting_period_min_years", "value": 41})
    h.fails("invalid_param", "regulator", "params", "set_param",
            {"name": "crediting_period_max_years", "value": 19})
    h.ok("regulator", "params", "set_param", {"name": "crediting_period_max_years", "value": 20})
    h.ok("regulator", "params", "set_param", {"name": "crediting_period_min_years", "value": 20})


def test_suspended_regulator_cannot_set(h):
    h.ok("regulator", "membership", "enrol_org",
         {"org_id": "bureau-2", "name": "B2", "roles": ["regulator"],
          "admins": [h.key("b2").public_key_hex]})
    h.ok("b2", "membership", "update_org_status", {"org_id": "regulator", "status": "suspended"})
    h.fails("unauthorized", "regulator", "params", "set_param", {"name": "offset_cap", "value": "0.1"})
    h.ok("b2", "params", "set_param", {"name": "offset_cap", "value": "0.1"})


# -- genesis ------------------------------------------------------------------------------
def test_genesis_writes_params_and_history(h):
    given = fixture_params()  # the test genesis: DEFAULT_PARAMS without growth ceilings
    assert sorted(given) == sorted(DEFAULT_PARAMS)
    for name in sorted(given):
        assert h.get(f"param/{name}") == given[name]
        assert h.get(f"paramhist/{name}/{0:012d}") == {
            "height": 0, "reason": "genesis", "set_by": None, "tx_id": None,
            "value": given[name]}


def test_the_default_genesis_sets_every_species_ceiling() -> None:
    """A production genesis (DEFAULT_PARAMS, what `fcl node init` and `fcl testnet`
    write) refuses implausible volumes and growth for every species it lists."""
    for species, row in DEFAULT_PARAMS["species_table"].items():
        assert Fraction(row["max_volume_per_ha"]) > 0, species
        assert Fraction(row["max_growth_per_ha_year"]) > 0, species
    validate_param("species_table", DEFAULT_PARAMS["species_table"])


def _genesis(params: object) -> Genesis:
    return Genesis.from_json({
        "app_state": {"params": params},
        "chain_id": CHAIN_ID,
        "genesis_time": GENESIS_TIME,
        "validators": [{"name": "v0", "power": 1, "pub_key": "ab" * 32}],
    })


def test_genesis_may_omit_params():
    writes = dict(Executor(contracts()).genesis_writes(_genesis({"offset_cap": "0.05"})))
    assert "param/offset_cap" in writes and "param/subsidy_rate" not in writes


@pytest.mark.parametrize(
    "params, fragment",
    [
        ({"offset_kap": "0.05"}, "unknown_param"),
        ({"offset_cap": "1.5"}, "invalid_param"),
        ({"benefit_split_default": {"farmers": "0.3", "government": "0.3", "owner": "0.6"}},
         "invalid_param"),
        ({"crediting_period_min_years": 30, "crediting_period_max_years": 25}, "invalid_param"),
        (["offset_cap"], "must be an object"),
    ],
)
def test_genesis_rejects_bad_params(params, fragment):
    with pytest.raises(ValueError, match=fragment):
        Executor(contracts()).genesis_writes(_genesis(params))


def test_harness_refuses_invalid_param_override():
    with pytest.raises(ValueError, match="invalid_param"):
        Harness(executor=Executor(contracts()), params={"offset_cap": "2"})
