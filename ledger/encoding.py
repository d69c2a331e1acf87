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

Speed (every transaction, result, state value and write set passes through here): the
common value -- built only of ``dict``, ``list``, ``str``, ``int``, ``bool`` and ``None``
(exact types), with ASCII object keys -- is checked in one pass that builds nothing, and
``orjson`` then writes it with sorted keys (the bytes ``json.dumps`` writes with
``sort_keys=True``; the writing itself ten times faster): for ASCII keys code-point order *is* UTF-16 order.
Anything else (a non-ASCII key, a subclass, a value that is refused) takes the general
path (``json``), which alone produces the output or the error for such values, so both
paths give the same bytes and the same errors (``tests/node/test_perf_equivalence.py``,
``tests/ledger/test_encoding_fast_path.py``: every code point, generated values, RFC 8785's
reference). The state's own values are read back by :func:`decode_state` (``orjson``,
without :func:`decode`'s checks, which such bytes always pass).
Admission uses a variant of that pass, :func:`canonical_str_measured`, which also sums the
memory the decoded value holds (the mempool's charge, ``node/txpool/admission.py``).
"""

from __future__ import annotations

import json
import sys
import unicodedata
from typing import Any

import orjson

MAX_SAFE_INTEGER = 2**53 - 1
MAX_DEPTH = 64

__all__ = [
    "MAX_SAFE_INTEGER",
    "CanonicalEncodingError",
    "canonical",
    "canonical_str",
    "canonical_str_measured",
    "check_canonical_value",
    "decode",
    "decode_state",
    "decode_canonical_at",
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


_MIN_INT = -MAX_SAFE_INTEGER


def _string_ok(value: str) -> bool:
    """``_check_string`` as a predicate (for non-ASCII strings; ASCII is always fine)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return unicodedata.is_normalized("NFC", value)


def _plain(value: Any, depth: int) -> bool:
    """True if ``value`` is accepted by :func:`_normalise` and is made only of exact
    ``dict``/``list``/``str``/``int``/``bool``/``None`` with ASCII object keys: then
    ``json`` with ``sort_keys=True`` writes exactly its canonical form. False means "take
    the general path" (which raises if the value is refused), never "refused".

    The per-member check is written out in both loops on purpose: this is the hottest
    function of the node (docs/performance.md) and a shared helper costs a call per value."""
    t = type(value)
    if t is dict:
        if not value:
            return True
        if depth >= MAX_DEPTH:  # its members would be deeper than MAX_DEPTH
            return False
        for key, item in value.items():
            if type(key) is not str or not key.isascii():
                return False
            ti = type(item)
            if ti is str:
                if not item.isascii() and not _string_ok(item):
                    return False
            elif ti is int:
                if not _MIN_INT <= item <= MAX_SAFE_INTEGER:
                    return False
            elif ti is dict or ti is list:
                if not _plain(item, depth + 1):
                    return False
            elif item is not None and ti is not bool:
                return False
        return True
    if t is list:
        if not value:
            return True
        if depth >= MAX_DEPTH:
            return False
        for item in value:
            ti = type(item)
            if ti is str:
                if not item.isascii() and not _string_ok(item):
                    return False
            elif ti is int:
                if not _MIN_INT <= item <= MAX_SAFE_INTEGER:
                    return False
            elif ti is dict or ti is list:
                if not _plain(item, depth + 1):
                    return False
            elif item is not None and ti is not bool:
                return False
        return True
    if t is str:
        return value.isascii() or _string_ok(value)
    if t is int:
        return _MIN_INT <= value <= MAX_SAFE_INTEGER
    return value is None or t is bool


_sizeof = sys.getsizeof
#: ``sys.getsizeof`` of an ASCII string is this plus its length (CPython's compact ASCII
#: strings: a fixed header, one byte a character and a terminating zero). Checked here once;
#: if this interpreter counts otherwise, :func:`_plain_measured` asks ``sys.getsizeof``.
_ASCII_STR_BASE = _sizeof("")
_ASCII_STR_EXACT = all(
    _sizeof(text) == _ASCII_STR_BASE + len(text) for text in ("a", "ab" * 40, "x" * 1000)
)


def _plain_measured(value: Any, depth: int) -> int:
    """:func:`_plain` and, in the same walk, the memory the decoded value holds: -1 where
    :func:`_plain` is False, else the sum of ``sys.getsizeof`` over every container, every
    object key, every string and every integer (``True``, ``False`` and ``None`` are shared
    objects and count nothing) -- exactly what ``node.txpool.admission.decoded_size``
    answers for the value, without a second walk (``tests/node/test_admission_measured.py``
    checks both against the separate functions).

    Only for admission (one call per transaction received): the other callers of the
    encoding keep the cheaper :func:`_plain`. ASCII strings, the common leaf, are counted
    by their length (:data:`_ASCII_STR_BASE`) rather than by a ``sys.getsizeof`` call."""
    t = type(value)
    if t is dict:
        total = _sizeof(value)
        if not value:
            return total
        if depth >= MAX_DEPTH:
            return -1
        exact = _ASCII_STR_EXACT
        base = _ASCII_STR_BASE
        for key, item in value.items():
            if type(key) is not str or not key.isascii():
                return -1
            total += base + len(key) if exact else _sizeof(key)
            ti = type(item)
            if ti is str:
                if item.isascii():
                    total += base + len(item) if exact else _sizeof(item)
                elif _string_ok(item):
                    total += _sizeof(item)
                else:
                    return -1
            elif ti is int:
                if not _MIN_INT <= item <= MAX_SAFE_INTEGER:
                    return -1
                total += _sizeof(item)
            elif ti is dict or ti is list:
                size = _plain_measured(item, depth + 1)
                if size < 0:
                    return -1
                total += size
            elif item is not None and ti is not bool:
                return -1
        return total
    if t is list:
        total = _sizeof(value)
        if not value:
            return total
        if depth >= MAX_DEPTH:
            return -1
        exact = _ASCII_STR_EXACT
        base = _ASCII_STR_BASE
        for item in value:
            ti = type(item)
            if ti is str:
                if item.isascii():
                    total += base + len(item) if exact else _sizeof(item)
                elif _string_ok(item):
                    total += _sizeof(item)
                else:
                    return -1
            elif ti is int:
                if not _MIN_INT <= item <= MAX_SAFE_INTEGER:
                    return -1
                total += _sizeof(item)
            elif ti is dict or ti is list:
                size = _plain_measured(item, depth + 1)
                if size < 0:
                    return -1
                total += size
            elif item is not None and ti is not bool:
                return -1
        return total
    if t is str:
        if value.isascii():
            return _ASCII_STR_BASE + len(value) if _ASCII_STR_EXACT else _sizeof(value)
        return _sizeof(value) if _string_ok(value) else -1
    if t is int:
        return _sizeof(value) if _MIN_INT <= value <= MAX_SAFE_INTEGER else -1
    return 0 if value is None or t is bool else -1


# The common value's writer: ``orjson`` with sorted keys writes exactly ``json.dumps(value,
# ensure_ascii=False, separators=(",", ":"), sort_keys=True)`` for every value :func:`_plain`
# accepts -- the same escapes (two-character ones for \b \t \n \f \r, ``\u00xx`` in
# lower case for the other control characters, nothing else escaped: every code point was
# compared), keys sorted by code point, which is UTF-16 order for ASCII keys -- ten times
# faster (tests/ledger/test_encoding_fast_path.py compares the two on generated values).
# Only values that passed ``_plain`` reach it: depth-limited (hence acyclic), and nothing
# in them that orjson refuses.
_fast_bytes = orjson.dumps
_SORT_KEYS = orjson.OPT_SORT_KEYS


def check_canonical_value(value: Any) -> None:
    """Raise :class:`CanonicalEncodingError` unless ``value`` can be canonically encoded."""
    if not _plain(value, 0):
        _normalise(value, "", 0)


def _general_str(value: Any) -> str:
    """The general path: the canonical text of any value :func:`_normalise` accepts; its
    error for any other."""
    return json.dumps(
        _normalise(value, "", 0),
        ensure_ascii=False,
        separators=(",", ":"),
        allow_nan=False,
    )


def canonical_str(value: Any) -> str:
    """The canonical JSON text of ``value``."""
    if _plain(value, 0):
        return _fast_bytes(value, option=_SORT_KEYS).decode("utf-8")
    return _general_str(value)


def canonical_str_measured(value: Any) -> tuple[str, int | None]:
    """``canonical_str(value)`` and, for the common value (:func:`_plain`), the memory it
    holds decoded (see :func:`_plain_measured`), from one walk over it; None for any other
    value (its text then comes from the general path, which raises if it is refused)."""
    size = _plain_measured(value, 0)
    if size >= 0:
        return _fast_bytes(value, option=_SORT_KEYS).decode("utf-8"), size
    return _general_str(value), None


def canonical(value: Any) -> bytes:
    """The canonical UTF-8 bytes of ``value`` (what is hashed and signed)."""
    if _plain(value, 0):
        # copied: orjson's own bytes object keeps the whole buffer it wrote into (4 KiB
        # at least since orjson 3.12), and these bytes are kept -- in write sets, caches,
        # the mempool: 200,000 kept values of ~200 bytes held 800 MB instead of 50 (the
        # copy costs 0.3 us)
        return bytes(memoryview(_fast_bytes(value, option=_SORT_KEYS)))
    return _general_str(value).encode("utf-8")


def _reject_float(text: str) -> Any:
    raise CanonicalEncodingError("", f"floats are not allowed (found {text})")


def _reject_constant(text: str) -> Any:
    raise CanonicalEncodingError("", f"{text} is not allowed")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):  # name the first key that repeats
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise CanonicalEncodingError(key, "duplicate object key")
            seen.add(key)
    return out


# What ``json.loads(text, parse_float=..., parse_constant=..., object_pairs_hook=...)``
# builds on every call, built once.
_DECODER = json.JSONDecoder(
    parse_float=_reject_float,
    parse_constant=_reject_constant,
    object_pairs_hook=_no_duplicates,
)


# First bytes after which ``json.detect_encoding`` may answer other than UTF-8 (a byte
# order mark, or a zero byte of UTF-16/32).
_NOT_PLAIN_UTF8_START = frozenset((b"\x00", b"\xef", b"\xfe", b"\xff"))


def _loads(data: bytes | str) -> Any:
    """``json.loads`` with the hooks above, for the two common input types taken the way
    ``json.loads`` takes them (bytes: detected encoding, ``surrogatepass``)."""
    if type(data) is bytes:
        if data[:1] not in _NOT_PLAIN_UTF8_START and data[1:2] != b"\x00":
            encoding = "utf-8"  # what json.detect_encoding answers for such bytes
        else:
            encoding = json.detect_encoding(data)
        return _DECODER.decode(data.decode(encoding, "surrogatepass"))
    if type(data) is str and not data.startswith("\ufeff"):
        return _DECODER.decode(data)
    return json.loads(
        data,
        parse_float=_reject_float,
        parse_constant=_reject_constant,
        object_pairs_hook=_no_duplicates,
    )


def decode(data: bytes | str) -> Any:
    """Parse JSON text, rejecting floats, NaN and duplicate keys; the value is then checked
    to be canonically encodable. It does not require the input to be in canonical form."""
    try:
        value = _loads(data)
    except CanonicalEncodingError:
        raise
    except (ValueError, UnicodeDecodeError) as exc:
        raise CanonicalEncodingError("", f"not valid JSON: {exc}") from exc
    check_canonical_value(value)
    return value


def decode_state(data: bytes) -> Any:
    """The value of bytes that :func:`canonical` wrote: the state's values, which only the
    execution writes, and only through :func:`canonical` (``chaincode.framework.TxContext``
    ``put``). Such bytes hold no float, no duplicate key, nothing :func:`decode` would
    refuse, so this reads them without its checks, five times faster (the state is read
    several times per transaction). Never for bytes from outside -- a request, a block, a
    file: those take :func:`decode`. Bytes that are not JSON at all (a damaged database)
    are a :class:`CanonicalEncodingError`, as with :func:`decode`."""
    try:
        return _fast_loads(data)
    except ValueError as exc:  # orjson.JSONDecodeError
        raise CanonicalEncodingError("", f"not valid JSON: {exc}") from exc


_fast_loads = orjson.loads


# Without the duplicate-key hook (its per-object call is what it costs): a repeated key
# leaves one member fewer in the value, so the value's canonical text then differs from the
# input and :func:`decode_canonical_at` answers None.
_PIECE_DECODER = json.JSONDecoder(parse_float=_reject_float, parse_constant=_reject_constant)


def decode_canonical_at(text: str, pos: int, depth: int) -> tuple[Any, int] | None:
    """The JSON value starting at ``text[pos]`` and the index just after it, if
    ``text[pos:end]`` is exactly its canonical text and the value is acceptable at nesting
    ``depth`` inside a larger value (what :func:`decode` would check for it there);
    otherwise None, meaning "not shown canonical here", never "refused" (the caller then
    takes the strict path, which gives the refusal if there is one).

    Only for the common value (:func:`_plain`: exact types, ASCII keys): anything else is
    None. Used to decode proposals piece by piece (``node/consensus/messages.py``)."""
    try:
        value, end = _PIECE_DECODER.raw_decode(text, pos)
    except (ValueError, RecursionError):  # CanonicalEncodingError is a ValueError
        return None
    if not _plain(value, depth) \
            or _fast_bytes(value, option=_SORT_KEYS) != text[pos:end].encode("utf-8", "surrogatepass"):
        return None
    return value, end
