"""Policy parameters: ledger state set by the regulator, never constants in rule code.

``DEFAULT_PARAMS`` seeds a genesis (development networks, tests); rule code reads every
value from state through ``TxContext.param(name)``. Decimals are strings with at most
6 fractional digits (see ledger/fixedpoint.py).

Every parameter has a :class:`ParamSpec` in ``PARAM_SPECS`` that validates its value;
genesis values and ``params.set_param`` values pass the same checks. A name without a
spec is refused (``unknown_param``), so a new parameter needs a spec here first.

State::

    param/<name>                      -> value in force (chaincode/framework.py)
    paramhist/<name>/<height:012d>    -> {"height", "reason", "set_by", "tx_id", "value"}

The history has one entry per parameter per block that set it (height 0 = genesis); the
value in force at height ``h`` is the entry with the greatest height <= ``h``
(:func:`param_in_force`). If one block sets a parameter twice, its entry holds the later
value, the one in force after that block.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from chaincode.calculator import CalculationError, load_species_table
from chaincode.framework import PARAM_PREFIX, ChaincodeError, Contract, TxContext, method
from chaincode.schema import Arg
from ledger.encoding import decode_state
from ledger.fixedpoint import FixedPointError, parse_decimal
from ledger.state import StateReader

PARAMHIST_PREFIX = "paramhist/"

DEFAULT_PARAMS: dict[str, Any] = {
    # compliance offsets may cover at most this share of the recorded obligation
    "offset_cap": "0.05",
    # default benefit-sharing split of sale proceeds (owner / farmers / local government)
    "benefit_split_default": {"farmers": "0.3", "government": "0.1", "owner": "0.6"},
    # subsidy per verified tonne, in yuan (regional policy: 20-50)
    "subsidy_rate": "30",
    # share of issuable tonnes that goes to the buffer pool, by non-permanence risk rating
    "buffer_rates": {"high": "0.2", "low": "0.1", "medium": "0.15"},
    # uncertainty deduction applied to emission reductions before issuance
    "uncertainty_deduction": "0",
    # methodology species parameters (wd, bef, r, cf) per species code, and the
    # plausibility ceiling on stand volume, m3/ha †: above what the best stands of the
    # species reach, and on growth, m3/ha a year † (docs/domain.md "Plausibility ceilings").
    "species_table": {
        "chinese_fir": {"bef": "1.634", "cf": "0.520", "r": "0.246", "wd": "0.307",
                        "max_growth_per_ha_year": "35", "max_volume_per_ha": "700"},
        "eucalyptus": {"bef": "1.263", "cf": "0.525", "r": "0.221", "wd": "0.578",
                       "max_growth_per_ha_year": "70", "max_volume_per_ha": "500"},
        "masson_pine": {"bef": "1.472", "cf": "0.460", "r": "0.187", "wd": "0.380",
                        "max_growth_per_ha_year": "25", "max_volume_per_ha": "600"},
    },
    # sampling: fewest sample plots per stratum †, the target relative half-width of the
    # 90 % confidence interval † (wider: the conservative lower bound is used), and
    # Student's t (two-sided 90 %) by degrees of freedom (public t table; the entry of the
    # greatest listed df <= the report's df applies, the last one beyond the table)
    "min_sample_plots": 3,
    "sampling_precision_target": "0.1",
    "sampling_t90": {
        "1": "6.314", "2": "2.920", "3": "2.353", "4": "2.132", "5": "2.015",
        "6": "1.943", "7": "1.895", "8": "1.860", "9": "1.833", "10": "1.812",
        "11": "1.796", "12": "1.782", "13": "1.771", "14": "1.761", "15": "1.753",
        "16": "1.746", "17": "1.740", "18": "1.734", "19": "1.729", "20": "1.725",
        "21": "1.721", "22": "1.717", "23": "1.714", "24": "1.711", "25": "1.708",
        "26": "1.706", "27": "1.703", "28": "1.701", "29": "1.699", "30": "1.697",
        "40": "1.684", "60": "1.671", "120": "1.658",
    },
    # methodologies accepted for registration
    "methodologies": ["CCER-14-001-V01"],
    # declared plot area must match the computed geodesic area within this share
    "area_tolerance": "0.05",
    # smallest parcel, square metres
    "min_parcel_m2": 400,
    # crediting period bounds, years
    "crediting_period_min_years": 20,
    "crediting_period_max_years": 40,
    # years the land must not have been forest before the project
    "non_forest_years": 3,
    # blocks between a validator-set change being approved and taking effect
    "validator_change_delay": 2,
    # independence (DOMAIN.md "Integrity rules"): may the body that validated a project
    # also verify its reports (CCER practice forbids it), and how many consecutive
    # verified reports of one project one body may verify (0 = no limit)
    "verifier_may_validate_and_verify": False,
    "max_consecutive_verifications": 3,
}

#: Parties of a benefit-sharing split.
SPLIT_PARTIES = ("farmers", "government", "owner")
#: Species codes (``chinese_fir``) and risk ratings (``medium``).
CODE_RE = re.compile(r"[a-z][a-z0-9_]{0,63}")
#: Methodology ids, e.g. ``CCER-14-001-V01``.
METHODOLOGY_RE = re.compile(r"[A-Z][A-Z0-9]{0,15}(?:[-.][A-Za-z0-9]{1,16}){0,8}")
#: Plausibility ceilings of species parameters (a typo like "307" for "0.307" is refused).
SPECIES_MAX = {"bef": Fraction(10), "cf": Fraction(1), "r": Fraction(5), "wd": Fraction(2)}
#: Optional per-species plausibility ceilings (m3/ha, m3/ha/yr) and their upper bounds.
CEILING_MAX = {"max_growth_per_ha_year": Fraction(1000), "max_volume_per_ha": Fraction(10000)}

__all__ = [
    "DEFAULT_PARAMS",
    "PARAMHIST_PREFIX",
    "PARAM_SPECS",
    "InvalidParam",
    "ParamSpec",
    "Params",
    "param_history",
    "param_in_force",
    "validate_param",
    "validate_params",
]


class InvalidParam(ValueError):
    """A parameter value is refused; ``path`` names the field (``species_table.x.wd``)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.reason = message


# -- value checks --------------------------------------------------------------------
def _decimal(value: Any, path: str, *, lo: Fraction, hi: Fraction | None, places: int = 6,
             lo_open: bool = False) -> Fraction:
    if not isinstance(value, str):
        raise InvalidParam(path, "must be a decimal string such as \"0.05\"")
    try:
        q = parse_decimal(value, field=path, max_places=places)
    except FixedPointError as exc:
        raise InvalidParam(path, str(exc).split(": ", 1)[-1]) from None
    if q < lo or (lo_open and q == lo):
        raise InvalidParam(path, f"must be {'>' if lo_open else '>='} {lo}, got {value}")
    if hi is not None and q > hi:
        raise InvalidParam(path, f"must be <= {hi}, got {value}")
    return q


def _rate(value: Any, path: str) -> None:
    _decimal(value, path, lo=Fraction(0), hi=Fraction(1))


def _int_range(lo: int, hi: int) -> Callable[[Any, str], None]:
    def check(value: Any, path: str) -> None:
        if type(value) is not int or not lo <= value <= hi:
            raise InvalidParam(path, f"must be an integer in {lo}..{hi}")

    return check


def _bool(value: Any, path: str) -> None:
    if type(value) is not bool:
        raise InvalidParam(path, "must be true or false")


def _object(value: Any, path: str, *, max_items: int) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidParam(path, "must be an object")
    if not 1 <= len(value) <= max_items:
        raise InvalidParam(path, f"must have 1..{max_items} entries")
    return value


def _split(value: Any, path: str) -> None:
    obj = _object(value, path, max_items=len(SPLIT_PARTIES))
    if sorted(obj) != list(SPLIT_PARTIES):
        raise InvalidParam(path, f"must have exactly the shares {', '.join(SPLIT_PARTIES)}")
    total = sum(
        (_decimal(obj[p], f"{path}.{p}", lo=Fraction(0), hi=Fraction(1)) for p in SPLIT_PARTIES),
        Fraction(0),
    )
    if total != 1:
        raise InvalidParam(path, f"shares must sum to exactly 1, they sum to {total}")


def _buffer_rates(value: Any, path: str) -> None:
    obj = _object(value, path, max_items=16)
    for rating in sorted(obj):
        if not CODE_RE.fullmatch(rating):
            raise InvalidParam(f"{path}.{rating}", "a risk rating is a lower-case code")
        _rate(obj[rating], f"{path}.{rating}")


def _species_table(value: Any, path: str) -> None:
    obj = _object(value, path, max_items=500)
    for species in sorted(obj):
        where = f"{path}.{species}"
        if not CODE_RE.fullmatch(species):
            raise InvalidParam(where, "a species code is lower-case letters, digits and _")
        row = obj[species]
        if not isinstance(row, Mapping) or not set(SPECIES_MAX) <= set(row) <= (
            set(SPECIES_MAX) | set(CEILING_MAX)
        ):
            raise InvalidParam(
                where,
                "must have exactly the keys bef, cf, r, wd and optionally"
                " max_growth_per_ha_year, max_volume_per_ha",
            )
        for key in sorted(SPECIES_MAX):
            _decimal(row[key], f"{where}.{key}", lo=Fraction(0), hi=SPECIES_MAX[key],
                     lo_open=True)
        for key in sorted(set(CEILING_MAX) & set(row)):
            _decimal(row[key], f"{where}.{key}", lo=Fraction(0), hi=CEILING_MAX[key],
                     lo_open=True)
    try:  # the calculator must accept every row the ledger accepts
        load_species_table(obj)
    except CalculationError as exc:
        raise InvalidParam(path, exc.message) from None


def _t_table(value: Any, path: str) -> None:
    obj = _object(value, path, max_items=200)
    previous: Fraction | None = None
    if "1" not in obj:
        raise InvalidParam(path, "must list t for 1 degree of freedom")
    for df in sorted(obj, key=lambda k: (len(k), k)):
        if not isinstance(df, str) or not re.fullmatch(r"[1-9][0-9]{0,5}", df):
            raise InvalidParam(f"{path}.{df}", "degrees of freedom are integers 1..999999")
        t = _decimal(obj[df], f"{path}.{df}", lo=Fraction(1), hi=Fraction(100))
        if previous is not None and t > previous:
            raise InvalidParam(f"{path}.{df}", "t must not grow with the degrees of freedom")
        previous = t


def _open_rate(value: Any, path: str) -> None:
    _decimal(value, path, lo=Fraction(0), hi=Fraction(1), lo_open=True)


def _subsidy_rate(value: Any, path: str) -> None:
    _decimal(value, path, lo=Fraction(0), hi=Fraction(10000), places=2)


def _methodologies(value: Any, path: str) -> None:
    if not isinstance(value, list) or len(value) > 64:
        raise InvalidParam(path, "must be a list of at most 64 methodology ids")
    for i, item in enumerate(value):
        if not isinstance(item, str) or len(item) > 64 or not METHODOLOGY_RE.fullmatch(item):
            raise InvalidParam(f"{path}[{i}]", "must be a methodology id such as CCER-14-001-V01")
    if len(set(value)) != len(value):
        raise InvalidParam(path, "lists a methodology twice")


@dataclass(frozen=True)
class ParamSpec:
    """How one parameter's value is checked, and what it means (for docs and clients)."""

    check: Callable[[Any, str], None]
    doc: str


PARAM_SPECS: dict[str, ParamSpec] = {
    "offset_cap": ParamSpec(_rate, "decimal in [0, 1]: compliance offsets' share cap"),
    "benefit_split_default": ParamSpec(
        _split, "object {owner, farmers, government}: decimals in [0, 1] summing to exactly 1"
    ),
    "subsidy_rate": ParamSpec(
        _subsidy_rate,
        "decimal yuan per verified tonne, 0..10000, at most 2 places (fen)",
    ),
    "buffer_rates": ParamSpec(
        _buffer_rates, "object risk rating (lower-case code) -> decimal in [0, 1]; 1..16 ratings"
    ),
    "uncertainty_deduction": ParamSpec(_rate, "decimal in [0, 1]"),
    "species_table": ParamSpec(
        _species_table,
        "object species code -> {wd in (0,2], bef in (0,10], r in (0,5], cf in (0,1],"
        " optional max_volume_per_ha in (0,10000] m3/ha, optional max_growth_per_ha_year in"
        " (0,1000] m3/ha/yr}; 1..500 species",
    ),
    "min_sample_plots": ParamSpec(
        _int_range(2, 200), "integer, 2..200: fewest sample plots per stratum"
    ),
    "sampling_precision_target": ParamSpec(
        _open_rate, "decimal in (0, 1]: target relative half-width of the 90 % CI"
    ),
    "sampling_t90": ParamSpec(
        _t_table,
        "object degrees of freedom (\"1\"..\"999999\", must include \"1\") -> Student t"
        " (two-sided 90 %) in [1, 100], not growing with df; 1..200 entries",
    ),
    "methodologies": ParamSpec(_methodologies, "list of 0..64 distinct methodology ids"),
    "area_tolerance": ParamSpec(_rate, "decimal in [0, 1]"),
    "min_parcel_m2": ParamSpec(_int_range(1, 1_000_000), "integer square metres, 1..1000000"),
    "crediting_period_min_years": ParamSpec(
        _int_range(1, 100), "integer years, 1..100, <= crediting_period_max_years"
    ),
    "crediting_period_max_years": ParamSpec(
        _int_range(1, 100), "integer years, 1..100, >= crediting_period_min_years"
    ),
    "non_forest_years": ParamSpec(_int_range(0, 100), "integer years, 0..100"),
    "validator_change_delay": ParamSpec(_int_range(1, 100_000), "integer blocks, 1..100000"),
    "verifier_may_validate_and_verify": ParamSpec(
        _bool, "boolean: may the organisation that validated a project verify its reports"
    ),
    "max_consecutive_verifications": ParamSpec(
        _int_range(0, 1000),
        "integer 0..1000: most consecutive verified reports of one project by one"
        " organisation (0 = no limit)",
    ),
}


def _cross_checks(params: Mapping[str, Any]) -> None:
    """Constraints between parameters (checked on the values in force after a change)."""
    lo, hi = params.get("crediting_period_min_years"), params.get("crediting_period_max_years")
    if isinstance(lo, int) and isinstance(hi, int) and lo > hi:
        raise InvalidParam(
            "crediting_period_min_years",
            f"minimum ({lo}) must not exceed crediting_period_max_years ({hi})",
        )


#: Names whose cross-checks read other parameters.
_CROSS_NAMES = ("crediting_period_max_years", "crediting_period_min_years")


def validate_param(name: str, value: Any) -> None:
    """ChaincodeError ``unknown_param`` or ``invalid_param`` unless ``value`` is valid for
    ``name`` on its own (cross-parameter checks: :func:`validate_params`)."""
    spec = PARAM_SPECS.get(name)
    if spec is None:
        raise ChaincodeError("unknown_param", f"no policy parameter {name!r}")
    try:
        spec.check(value, name)
    except InvalidParam as exc:
        raise ChaincodeError("invalid_param", str(exc)) from None


def validate_params(params: Mapping[str, Any]) -> None:
    """Validate a set of parameters (e.g. a genesis), each alone and together."""
    for name in sorted(params):
        validate_param(name, params[name])
    try:
        _cross_checks(params)
    except InvalidParam as exc:
        raise ChaincodeError("invalid_param", str(exc)) from None


# -- reading history -----------------------------------------------------------------
def param_history(state: StateReader, name: str) -> list[dict[str, Any]]:
    """Every recorded setting of ``name``, oldest first."""
    return [decode_state(raw) for _, raw in state.iter_prefix(f"{PARAMHIST_PREFIX}{name}/")]


def param_in_force(state: StateReader, name: str, height: int) -> Any:
    """The value of ``name`` in force after block ``height`` (None if it was not set)."""
    value = None
    for entry in param_history(state, name):
        if entry["height"] > height:
            break
        value = entry["value"]
    return value


def _history_key(name: str, height: int) -> str:
    return f"{PARAMHIST_PREFIX}{name}/{height:012d}"


class Params(Contract):
    name = "params"

    def genesis(self, app_state: Mapping[str, Any], put: Callable[[str, Any], None]) -> None:
        """Write the genesis parameters (validated; ValueError on a bad one) and their
        history entries at height 0."""
        params = app_state.get("params", {})
        if not isinstance(params, Mapping):
            raise ValueError("genesis app_state.params must be an object")
        try:
            validate_params(params)
        except ChaincodeError as exc:
            raise ValueError(f"genesis params: {exc.code}: {exc.message}") from None
        for name in sorted(params):
            put(PARAM_PREFIX + name, params[name])
            put(_history_key(name, 0),
                {"height": 0, "reason": "genesis", "set_by": None, "tx_id": None,
                 "value": params[name]})

    @method(
        roles=("regulator",),
        args={
            "name": Arg("str", min=1, max=64),
            "value": Arg("any"),
            "reason": Arg("str", required=False, max=512),
        },
    )
    def set_param(self, ctx: TxContext, args: dict) -> dict:
        """Set one policy parameter; the value is validated for that parameter."""
        name, value = args["name"], args["value"]
        validate_param(name, value)
        if name in _CROSS_NAMES:
            after = {n: ctx.get(PARAM_PREFIX + n) for n in _CROSS_NAMES}
            after[name] = value
            try:
                _cross_checks(after)
            except InvalidParam as exc:
                raise ChaincodeError("invalid_param", str(exc)) from None
        signer = ctx.signer_with_role("regulator")
        previous = ctx.get(PARAM_PREFIX + name)
        ctx.put(PARAM_PREFIX + name, value)
        ctx.put(_history_key(name, ctx.block.height),
                {"height": ctx.block.height, "reason": args["reason"] or "",
                 "set_by": signer.key, "tx_id": ctx.tx_id, "value": value})
        ctx.emit("params.param_set", name=name, value=value, previous=previous,
                 reason=args["reason"] or "")
        return {"name": name}
