"""chaincode/schema.py's checks made cheaper (2026-12-07, docs/performance.md "Admission
path"): the same result and the same ``SchemaError`` (path and message) as the
implementation before, kept here as the oracle, for random schemas and values."""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chaincode.schema import Arg, SchemaError, validate_args
from ledger.crypto import is_hex_digest, is_hex_pubkey
from ledger.fixedpoint import FixedPointError, parse_decimal

ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}\Z")


def old_check(spec: Arg, value: Any, path: str) -> Any:
    kind = spec.kind
    if kind in ("str", "id"):
        if not isinstance(value, str):
            raise SchemaError(path, "must be a string")
        lo = spec.min if spec.min is not None else (1 if kind == "id" else 0)
        hi = spec.max if spec.max is not None else (64 if kind == "id" else 1024)
        if not lo <= len(value) <= hi:
            raise SchemaError(path, f"must be {lo}..{hi} characters long")
        if kind == "id" and not ID_RE.match(value):
            raise SchemaError(path, "must be an identifier (letters, digits, . _ : -)")
        if spec.pattern is not None and not re.fullmatch(spec.pattern, value):
            raise SchemaError(path, f"must match {spec.pattern}")
        if spec.choices is not None and value not in spec.choices:
            raise SchemaError(path, f"must be one of {', '.join(spec.choices)}")
        return value
    if kind == "int":
        if type(value) is not int:
            raise SchemaError(path, "must be an integer")
        if spec.min is not None and value < spec.min:
            raise SchemaError(path, f"must be at least {spec.min}")
        if spec.max is not None and value > spec.max:
            raise SchemaError(path, f"must be at most {spec.max}")
        return value
    if kind == "bool":
        if type(value) is not bool:
            raise SchemaError(path, "must be true or false")
        return value
    if kind == "decimal":
        try:
            parse_decimal(value, field=path, max_places=spec.places, allow_negative=spec.signed)
        except FixedPointError as exc:
            raise SchemaError(path, str(exc)) from exc
        return value
    if kind == "hex32":
        if not is_hex_digest(value):
            raise SchemaError(path, "must be 64 lowercase hex digits (a SHA-256)")
        return value
    if kind == "pubkey":
        if not is_hex_pubkey(value):
            raise SchemaError(path, "must be a lowercase hex Ed25519 public key")
        return value
    if kind == "list":
        if not isinstance(value, list):
            raise SchemaError(path, "must be a list")
        lo = spec.min if spec.min is not None else 0
        hi = spec.max if spec.max is not None else 1000
        if not lo <= len(value) <= hi:
            raise SchemaError(path, f"must have {lo}..{hi} items")
        if spec.item is not None:
            return [old_check(spec.item, v, f"{path}[{i}]") for i, v in enumerate(value)]
        return value
    if kind == "object":
        if not isinstance(value, dict):
            raise SchemaError(path, "must be an object")
        if spec.fields is not None:
            return old_validate_args(spec.fields, value, prefix=path)
        return value
    if kind == "any":
        return value
    raise AssertionError(f"unknown schema kind {kind}")


def old_validate_args(schema: Mapping[str, Arg], args: Mapping[str, Any], prefix: str = "") -> dict:
    """Check ``args`` against ``schema``; return a dict with defaults filled in."""
    if not isinstance(args, Mapping):
        raise SchemaError(prefix or "args", "must be an object")
    unknown = sorted(set(args) - set(schema))
    if unknown:
        raise SchemaError(prefix or "args", f"unknown field(s) {', '.join(unknown)}")
    out: dict[str, Any] = {}
    for name in sorted(schema):
        spec = schema[name]
        path = f"{prefix}.{name}" if prefix else name
        if name not in args or args[name] is None:
            if spec.required:
                raise SchemaError(path, "is required")
            out[name] = spec.default
            continue
        out[name] = old_check(spec, args[name], path)
    return out


names = st.sampled_from(["a", "b", "name", "sha256", "note", "qty", "x.y"])
small = st.none() | st.integers(0, 5)


def specs(depth: int = 2) -> st.SearchStrategy[Arg]:
    leaf = st.one_of(
        st.builds(Arg, kind=st.sampled_from(["str", "id"]), required=st.booleans(), min=small,
                  max=small | st.just(None), pattern=st.sampled_from([None, r"[a-c]+"]),
                  choices=st.sampled_from([None, ("a", "bb")]), default=st.sampled_from([None, "d"])),
        st.builds(Arg, kind=st.just("int"), required=st.booleans(), min=small, max=small),
        st.builds(Arg, kind=st.sampled_from(["bool", "hex32", "pubkey", "any"]),
                  required=st.booleans()),
        st.builds(Arg, kind=st.just("decimal"), places=st.integers(0, 3), signed=st.booleans()),
    )
    if depth == 0:
        return leaf
    inner = specs(depth - 1)
    return st.one_of(
        leaf,
        st.builds(Arg, kind=st.just("list"), min=small, max=small | st.just(None),
                  item=st.none() | inner, required=st.booleans()),
        st.builds(Arg, kind=st.just("object"), required=st.booleans(),
                  fields=st.none() | st.dictionaries(names, inner, max_size=3)),
    )


values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 7)
    | st.sampled_from(["", "a", "bb", "abc", "1.5", "-2", "0.001", "x" * 70, "y" * 65, "z" * 64, "w" * 1025, "a b", "ab" * 32,
                       "AB" * 32, "é"]),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(names, c, max_size=3),
    max_leaves=8,
)


def outcome(fn: Any, *args: Any) -> Any:
    try:
        return ("ok", fn(*args))
    except SchemaError as exc:
        return ("refused", exc.path, exc.reason, str(exc))


@settings(max_examples=600, deadline=None)
@given(st.dictionaries(names, specs(), max_size=4), values, st.sampled_from(["", "args.x"]))
def test_validate_args_is_unchanged(schema: dict[str, Arg], args: Any, prefix: str) -> None:
    assert outcome(validate_args, schema, args, prefix) == outcome(
        old_validate_args, schema, args, prefix)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(names, specs(1), max_size=3), st.dictionaries(names, values, max_size=3))
def test_mappings_that_are_not_dicts_take_the_same_path(schema: dict[str, Arg],
                                                         args: dict[str, Any]) -> None:
    """A Mapping that is no dict (and a schema that is no dict) is checked as before."""
    for a, s in ((OrderedDict(args), schema), (args, OrderedDict(schema))):
        assert outcome(validate_args, s, a) == outcome(old_validate_args, s, a)


def test_an_unknown_kind_is_still_an_error() -> None:
    with pytest.raises(AssertionError, match="unknown schema kind blob"):
        validate_args({"a": Arg("blob")}, {"a": 1})


LEAF_VALUES: list[Any] = [None, True, 0, 5, -1, "", "a", "bb", "1.5", "-2", "0.0001", "é",
                          "x" * 63, "y" * 64, "y" * 65, "z" * 1024, "w" * 1025, "a b",
                          "ab" * 32, "AB" * 32, [], [1, "a"], {}, {"a": 1}]


@pytest.mark.parametrize("kind", ["str", "id", "int", "bool", "decimal", "hex32", "pubkey",
                                  "list", "object", "any"])
@pytest.mark.parametrize("required", [True, False])
def test_every_kind_with_its_defaults(kind: str, required: bool) -> None:
    schema = {"f": Arg(kind, required=required)}
    for value in LEAF_VALUES:
        for args in ({"f": value}, {"f": value, "g": 1}, {}):
            assert outcome(validate_args, schema, args) == outcome(old_validate_args, schema, args)
