"""Declarative argument schemas for contract methods.

A deliberately small validator: every rule is exact and deterministic, every refusal
names the field, and it never coerces (``"5"`` is not an integer, ``5.0`` never reaches
it because the canonical encoding refuses floats).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ledger.crypto import is_hex_digest, is_hex_pubkey
from ledger.fixedpoint import FixedPointError, parse_decimal

ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}\Z")


class SchemaError(ValueError):
    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.reason = message


@dataclass(frozen=True)
class Arg:
    """One argument. ``kind`` is one of: str, id, int, bool, decimal, hex32, pubkey,
    list, object, any."""

    kind: str
    required: bool = True
    min: int | None = None  # int value / str length / list length minimum
    max: int | None = None  # int value / str length / list length maximum
    pattern: str | None = None
    choices: tuple[str, ...] | None = None
    item: Arg | None = None  # list items
    fields: Mapping[str, Arg] | None = None  # object fields (closed: no extras)
    places: int = 6  # decimal places allowed
    signed: bool = False  # decimal may be negative
    default: Any = field(default=None)


def _check_str(spec: Arg, value: Any, path: str) -> Any:  # kinds "str" and "id"
    if not isinstance(value, str):
        raise SchemaError(path, "must be a string")
    is_id = spec.kind == "id"
    lo = spec.min if spec.min is not None else (1 if is_id else 0)
    hi = spec.max if spec.max is not None else (64 if is_id else 1024)
    if not lo <= len(value) <= hi:
        raise SchemaError(path, f"must be {lo}..{hi} characters long")
    if is_id and not ID_RE.match(value):
        raise SchemaError(path, "must be an identifier (letters, digits, . _ : -)")
    if spec.pattern is not None and not re.fullmatch(spec.pattern, value):
        raise SchemaError(path, f"must match {spec.pattern}")
    if spec.choices is not None and value not in spec.choices:
        raise SchemaError(path, f"must be one of {', '.join(spec.choices)}")
    return value


def _check_int(spec: Arg, value: Any, path: str) -> Any:
    if type(value) is not int:
        raise SchemaError(path, "must be an integer")
    if spec.min is not None and value < spec.min:
        raise SchemaError(path, f"must be at least {spec.min}")
    if spec.max is not None and value > spec.max:
        raise SchemaError(path, f"must be at most {spec.max}")
    return value


def _check_bool(spec: Arg, value: Any, path: str) -> Any:
    if type(value) is not bool:
        raise SchemaError(path, "must be true or false")
    return value


def _check_decimal(spec: Arg, value: Any, path: str) -> Any:
    try:
        parse_decimal(value, field=path, max_places=spec.places, allow_negative=spec.signed)
    except FixedPointError as exc:
        raise SchemaError(path, str(exc)) from exc
    return value


def _check_hex32(spec: Arg, value: Any, path: str) -> Any:
    if not is_hex_digest(value):
        raise SchemaError(path, "must be 64 lowercase hex digits (a SHA-256)")
    return value


def _check_pubkey(spec: Arg, value: Any, path: str) -> Any:
    if not is_hex_pubkey(value):
        raise SchemaError(path, "must be a lowercase hex Ed25519 public key")
    return value


def _check_list(spec: Arg, value: Any, path: str) -> Any:
    if not isinstance(value, list):
        raise SchemaError(path, "must be a list")
    lo = spec.min if spec.min is not None else 0
    hi = spec.max if spec.max is not None else 1000
    if not lo <= len(value) <= hi:
        raise SchemaError(path, f"must have {lo}..{hi} items")
    if spec.item is not None:
        return [_check(spec.item, v, f"{path}[{i}]") for i, v in enumerate(value)]
    return value


def _check_object(spec: Arg, value: Any, path: str) -> Any:
    if not isinstance(value, dict):
        raise SchemaError(path, "must be an object")
    if spec.fields is not None:
        return validate_args(spec.fields, value, prefix=path)
    return value


def _check_any(spec: Arg, value: Any, path: str) -> Any:
    return value


#: One check per kind, looked up rather than compared in turn (execution validates the
#: arguments of every transaction on every validator: docs/performance.md).
_CHECKS: dict[str, Callable[[Arg, Any, str], Any]] = {
    "str": _check_str,
    "id": _check_str,
    "int": _check_int,
    "bool": _check_bool,
    "decimal": _check_decimal,
    "hex32": _check_hex32,
    "pubkey": _check_pubkey,
    "list": _check_list,
    "object": _check_object,
    "any": _check_any,
}


def _check(spec: Arg, value: Any, path: str) -> Any:
    check = _CHECKS.get(spec.kind)
    if check is None:
        raise AssertionError(f"unknown schema kind {spec.kind}")
    return check(spec, value, path)


def validate_args(schema: Mapping[str, Arg], args: Mapping[str, Any], prefix: str = "") -> dict:
    """Check ``args`` against ``schema``; return a dict with defaults filled in."""
    if type(args) is dict and type(schema) is dict:
        # the common case, without building sets: no unknown field iff the keys are a subset
        if not args.keys() <= schema.keys():
            unknown = sorted(set(args) - set(schema))
            raise SchemaError(prefix or "args", f"unknown field(s) {', '.join(unknown)}")
    else:
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
        out[name] = _check(spec, args[name], path)
    return out
