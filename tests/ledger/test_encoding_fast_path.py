"""The fast path of canonical encoding (orjson for the common value) writes exactly what the
general path writes, and the state's reader gives back exactly what was written."""

from __future__ import annotations

import tracemalloc
import unicodedata

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.encoding import (
    MAX_SAFE_INTEGER,
    CanonicalEncodingError,
    _general_str,
    _plain,
    canonical,
    canonical_str,
    decode,
    decode_state,
)

# object keys the fast path takes: any ASCII, control characters and punctuation included
ascii_keys = st.text(st.characters(max_codepoint=0x7F), max_size=8)
# strings of any code point but lone surrogates (refused by both paths), normalised to NFC
any_text = st.text(st.characters(blacklist_categories=["Cs"]), max_size=12).map(
    lambda s: unicodedata.normalize("NFC", s))
plain_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-MAX_SAFE_INTEGER, max_value=MAX_SAFE_INTEGER)
    | any_text,
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(ascii_keys, children, max_size=6),
    max_leaves=40,
)


@settings(max_examples=500, deadline=None)
@given(plain_values)
def test_fast_path_writes_what_the_general_path_writes(value: object) -> None:
    assert _plain(value, 0)  # the values generated here all take the fast path
    general = _general_str(value)
    assert canonical(value) == general.encode("utf-8") == rfc8785.dumps(value)
    assert canonical_str(value) == general


def test_every_code_point_is_written_as_the_general_path_writes_it() -> None:
    """Strings of each code point (but surrogates), alone and as a member: the escapes of
    the control characters, '"' and '\\', and everything else written as it is."""
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        text = chr(cp) + "x" + chr(cp)
        if not unicodedata.is_normalized("NFC", text):
            with pytest.raises(CanonicalEncodingError):
                canonical(text)
            continue
        assert canonical(text) == _general_str(text).encode("utf-8"), hex(cp)
    for cp in range(0x80):  # every ASCII character in an object key
        value = {chr(cp): 1, "a" + chr(cp): [chr(cp)]}
        assert canonical(value) == _general_str(value).encode("utf-8"), hex(cp)


def test_keys_sort_by_code_point() -> None:
    value = {"b": 1, "B": 2, "a": 3, "_": 4, "~": 5, "": 6, "aa": 7, "A1": 8}
    assert canonical(value) == b'{"":6,"A1":8,"B":2,"_":4,"a":3,"aa":7,"b":1,"~":5}'


def test_refusals_are_unchanged_by_the_fast_path() -> None:
    for bad in (1.5, {"a": float("nan")}, [2**53], {"a": b"x"}, (1, 2), {1: 2},
                "\ud800", {"a": "e\u0301"}):
        with pytest.raises(CanonicalEncodingError):
            canonical(bad)


def test_written_bytes_do_not_keep_the_writers_buffer() -> None:
    """canonical()'s bytes are kept by the thousand (write sets, caches, the mempool): each
    must hold its own length, not the encoder's whole buffer (orjson's is 4 KiB or more)."""
    values = [{"account": f"a-{i}", "first": i, "last": i + 9, "state": "held"}
              for i in range(2000)]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = [canonical(v) for v in values]
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    payload = sum(len(b) for b in kept)
    assert held < 2 * payload + 100 * len(kept), (held, payload)


@settings(max_examples=300, deadline=None)
@given(plain_values)
def test_decode_state_reads_back_what_canonical_wrote(value: object) -> None:
    raw = canonical(value)
    read = decode_state(raw)
    assert read == decode(raw)
    assert canonical(read) == raw  # types too: True stays True, 1 stays 1


@pytest.mark.parametrize("damaged", [b"", b"{", b'{"a":1', b"\xff\xfe", b"nul", b"[1,]"])
def test_decode_state_of_damaged_bytes_is_a_canonical_encoding_error(damaged: bytes) -> None:
    with pytest.raises(CanonicalEncodingError, match="not valid JSON"):
        decode_state(damaged)


def test_encoding_benchmark_prints_its_table(capsys: pytest.CaptureFixture[str]) -> None:
    from bench import bench_encoding

    assert bench_encoding.main(["--repeat", "1", "--inner", "5"]) == 0
    out = capsys.readouterr().out
    for name in bench_encoding.VALUES:
        assert f"| {name} |" in out
    with pytest.raises(SystemExit) as exc:
        bench_encoding.main(["--inner", "0"])
    assert exc.value.code == 2
