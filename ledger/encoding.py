"""Canonical encoding: one deterministic byte form for everything hashed or signed.

The form is JSON as RFC 8785 (JSON Canonicalization Scheme) produces it, restricted to
the values that have exactly one meaning on every platform:

* objects with string keys, sorted by their UTF-16 code units (RFC 8785 section 3.2.3);
* strings, which must be valid Unicode (no lone surrogates) and NFC-normalised;
* integers within +/-(2**53 - 1) (the interoperable range of RFC 7493 / I-JSON);
* ``true``, ``false``, ``null`` and lists.

Floats (including NaN and infinities), bytes, tuples, sets and non-string keys are
rejected with :class:`CanonicalEncodingError`, whose message names the offending field
path (``args.plots[2].area``). For every value accepted here the output is byte-identical
to RFC 8785; ``tests/test_encoding.py`` checks that against an independent implementation.
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any

MAX_SAFE_INTEGER = 2**53 - 1
MAX_DEPTH = 64

__all__ = [
    "MAX_SAFE_INTEGER",
    "CanonicalEncodingError",
    "canonical",
    "canonical_str",
    "check_canonical_value",
    "decode",
]


class CanonicalEncodingError(ValueError):
    """A value cannot be canonically encoded; ``path`` names the field."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path or '<root>'}: {message}")
        self.path = path
        self.reason = message


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _check_string(value: str, path: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise CanonicalEncodingError(path, "string is not valid Unicode (lone surrogate)") from exc
    if not unicodedata.is_normalized("NFC", value):
        raise CanonicalEncodingError(path, "string is not in Unicode normalisation form NFC")


def _utf16_key(key: str) -> bytes:
    return key.encode("utf-16-be")


def _normalise(value: Any, path: str, depth: int) -> Any:
    """Validate ``value`` and return it with object keys in RFC 8785 order."""
    if depth > MAX_DEPTH:
        raise CanonicalEncodingError(path, f"nesting deeper than {MAX_DEPTH} levels")
    if value is None or value is True or value is False:
        return value
    if isinstance(value, int):
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            raise CanonicalEncodingError(path, "integer outside +/-(2^53-1)")
        return int(value)
    if isinstance(value, str):
        _check_string(value, path)
        return value
    if isinstance(value, float):
        raise CanonicalEncodingError(
            path, "floats are not allowed; use an integer or a decimal string"
        )
    if isinstance(value, list):
        return [_normalise(item, _join(path, i), depth + 1) for i, item in enumerate(value)]
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise CanonicalEncodingError(path, f"object key {key!r} is not a string")
            _check_string(key, _join(path, key))
        ordered = sorted(value, key=_utf16_key)
        return {key: _normalise(value[key], _join(path, key), depth + 1) for key in ordered}
    raise CanonicalEncodingError(path, f"values of type {type(value).__name__} are not allowed")


def check_canonical_value(value: Any) -> None:
    """Raise :class:`CanonicalEncodingError` unless ``value`` can be canonically encoded."""
    _normalise(value, "", 0)


def canonical_str(value: Any) -> str:
    """The canonical JSON text of ``value``."""
    return json.dumps(
        _normalise(value, "", 0),
        ensure_ascii=False,
        separators=(",", ":"),
        allow_nan=False,
    )


def canonical(value: Any) -> bytes:
    """The canonical UTF-8 bytes of ``value`` (what is hashed and signed)."""
    return canonical_str(value).encode("utf-8")


def _reject_float(text: str) -> Any:
    raise CanonicalEncodingError("", f"floats are not allowed (found {text})")


def _reject_constant(text: str) -> Any:
    raise CanonicalEncodingError("", f"{text} is not allowed")


def decode(data: bytes | str) -> Any:
    """Parse JSON text, rejecting floats, NaN and duplicate keys; the value is then checked
    to be canonically encodable. It does not require the input to be in canonical form."""

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, val in pairs:
            if key in out:
                raise CanonicalEncodingError(key, "duplicate object key")
            out[key] = val
        return out

    try:
        value = json.loads(
            data,
            parse_float=_reject_float,
            parse_constant=_reject_constant,
            object_pairs_hook=no_duplicates,
        )
    except CanonicalEncodingError:
        raise
    except (ValueError, UnicodeDecodeError) as exc:
        raise CanonicalEncodingError("", f"not valid JSON: {exc}") from exc
    check_canonical_value(value)
    return value
