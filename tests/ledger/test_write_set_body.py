"""``WriteSet.body`` / ``write_set_body``: the direct writer for ASCII keys gives exactly
the bytes of ``canonical([[key, value-hex or null], ...])``, and everything else falls
back to ``canonical`` itself (the same bytes, or the same refusal)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.encoding import CanonicalEncodingError, canonical
from ledger.state import WriteSet, write_set_body


def reference(items: list[tuple[str, bytes | None]]) -> bytes:
    return canonical([[k, None if v is None else v.hex()] for k, v in items])


# every ASCII character (control characters, quotes and backslashes need escapes), and
# some that are not ASCII, NFC or not
keys = st.text(alphabet=st.characters(max_codepoint=0x7F), min_size=1, max_size=12) | st.text(
    min_size=1, max_size=6
)
values = st.none() | st.binary(max_size=24)


@given(st.dictionaries(keys, values, max_size=12))
def test_body_is_the_canonical_encoding(writes: dict[str, bytes | None]) -> None:
    items = sorted(writes.items())
    try:
        expected = reference(items)
    except CanonicalEncodingError as exc:  # a key that is not NFC: refused the same way
        with pytest.raises(CanonicalEncodingError) as got:
            write_set_body(items)
        assert str(got.value) == str(exc)
        return
    assert write_set_body(items) == expected
    assert WriteSet(items).body == expected


def test_body_of_escapes_and_deletes() -> None:
    items = [("a\"b\\c\n\x01\x7f", b"\x00\xff"), ("k/2", None), ("z", b"")]
    body = write_set_body(items)
    assert body == b'[["a\\"b\\\\c\\n\\u0001\x7f","00ff"],["k/2",null],["z",""]]'
    assert body == reference(items)
    assert write_set_body([]) == b"[]" == reference([])


def test_non_ascii_keys_take_the_canonical_path() -> None:
    items = [("caf\u00e9", b"\x01"), ("plot/\u6797", None)]
    assert write_set_body(items) == reference(items)
    assert "café".encode() in write_set_body(items)
    # not NFC ("e" + combining acute): refused, as canonical refuses it
    with pytest.raises(CanonicalEncodingError, match="NFC"):
        write_set_body([("cafe\u0301", b"\x01")])


def test_values_that_are_not_bytes_take_the_canonical_path() -> None:
    items = [("a", bytearray(b"\x02"))]
    assert write_set_body(items) == b'[["a","02"]]' == reference(items)  # type: ignore[arg-type]
