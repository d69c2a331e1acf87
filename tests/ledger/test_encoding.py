"""Canonical encoding: equals RFC 8785 for every accepted value; refuses the rest."""

from __future__ import annotations

import unicodedata

import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from ledger.encoding import (
    MAX_SAFE_INTEGER,
    CanonicalEncodingError,
    canonical,
    decode,
)

nfc_text = st.text(max_size=12).map(lambda s: unicodedata.normalize("NFC", s))
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-MAX_SAFE_INTEGER, max_value=MAX_SAFE_INTEGER)
    | nfc_text,
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(nfc_text, children, max_size=5),
    max_leaves=30,
)


@given(json_values)
def test_equals_rfc8785(value):
    assert canonical(value) == rfc8785.dumps(value)


@given(json_values)
def test_decode_roundtrip(value):
    assert decode(canonical(value)) == value
    assert canonical(decode(canonical(value))) == canonical(value)


def test_key_order_is_utf16_code_units():
    # U+1F600 (surrogates D83D..) sorts before U+FB01 in UTF-16, after it in code points.
    value = {"\ufb01": 1, "\U0001f600": 2, "a": 3}
    assert canonical(value) == rfc8785.dumps(value)
    assert canonical(value).index("\U0001f600".encode()) < canonical(value).index("\ufb01".encode())


def test_known_bytes():
    assert canonical({"b": [1, True, None], "a": "é"}) == '{"a":"é","b":[1,true,null]}'.encode()


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ({"args": {"area": 1.5}}, "args.area"),
        ({"x": [1, float("nan")]}, "x[1]"),
        ({"x": b"bytes"}, "x"),
        ({1: "non-string key"}, ""),
        ({"big": 2**53}, "big"),
        ({"small": -(2**53)}, "small"),
        ({"s": "e\u0301"}, "s"),  # decomposed: not NFC
        ({"s": "\ud800"}, "s"),  # lone surrogate
        ({"t": (1, 2)}, "t"),
        ({"set": {1}}, "set"),
    ],
)
def test_rejects_with_field_path(value, path):
    with pytest.raises(CanonicalEncodingError) as err:
        canonical(value)
    assert err.value.path == path
    assert (path or "<root>") in str(err.value)


def test_rejects_deep_nesting():
    value: list = []
    for _ in range(100):
        value = [value]
    with pytest.raises(CanonicalEncodingError, match="nesting"):
        canonical(value)


@pytest.mark.parametrize(
    "text",
    ['{"a": 1.0}', '{"a": 1e3}', '{"a": NaN}', '{"a": Infinity}', '{"a":1,"a":2}', "{", '"\\ud800"'],
)
def test_decode_rejects(text):
    with pytest.raises(CanonicalEncodingError):
        decode(text)


def test_integer_bounds_accepted():
    assert canonical([MAX_SAFE_INTEGER, -MAX_SAFE_INTEGER]) == rfc8785.dumps(
        [MAX_SAFE_INTEGER, -MAX_SAFE_INTEGER]
    )
