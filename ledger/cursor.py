"""Key-ordered cursors: the one way every list page and export reads committed state.

A list is the records under one key prefix, in key order; a record's **cursor** is its key
suffix under that prefix, and a page's ``next`` is the cursor of its last record when more
remain. :func:`seek` starts each read with one seek just past ``after`` (O(log n)) and
reads on in chunks, each chunk again one seek from the last key read, so a page costs
O(log n) + O(page) wherever it is in the list, and a long export never re-reads from the
first record nor holds one store iterator open while its output is written.

:func:`take` cuts a page (``limit`` records and the ``next`` cursor) from any cursor-ordered
iteration, e.g. :func:`seek`'s with records filtered or transformed on the way;
:func:`page` is both for a plain prefix.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import Any, TypeVar

from ledger.encoding import decode
from ledger.state import StateReader

__all__ = ["CHUNK", "after_key", "page", "seek", "seek_raw", "take"]

#: Records read per seek.
CHUNK = 500

T = TypeVar("T")


def after_key(prefix: str, after: str | None) -> str:
    """The first key a read of ``prefix`` after cursor ``after`` may return: the prefix
    itself, or the smallest key greater than ``prefix + after``."""
    return prefix if after is None else prefix + after + "\x00"


def seek_raw(
    state: StateReader, prefix: str, after: str | None = None, *, chunk: int = CHUNK
) -> Iterator[tuple[str, bytes]]:
    """``(suffix, raw value)`` of the keys under ``prefix`` whose suffix is > ``after``,
    in key order, read ``chunk`` keys per seek."""
    if chunk < 1:
        raise ValueError("chunk must be at least 1")
    cursor = after
    while True:
        got = list(islice(state.iter_prefix(prefix, after_key(prefix, cursor)), chunk))
        for key, raw in got:
            yield key[len(prefix):], raw
        if len(got) < chunk:
            return
        cursor = got[-1][0][len(prefix):]


def seek(
    state: StateReader, prefix: str, after: str | None = None, *, chunk: int = CHUNK
) -> Iterator[tuple[str, Any]]:
    """:func:`seek_raw` with every value decoded (canonical JSON)."""
    for suffix, raw in seek_raw(state, prefix, after, chunk=chunk):
        yield suffix, decode(raw)


def take(items: Iterable[tuple[str, T]], limit: int) -> tuple[list[tuple[str, T]], str | None]:
    """The first ``limit`` ``(cursor, record)`` pairs of ``items`` and the cursor of the
    last one when more remain (one pair more is read to know), else None."""
    it = iter(items)
    out = list(islice(it, limit))
    more = next(it, None) is not None
    return out, (out[-1][0] if more and out else None)


def page(
    state: StateReader,
    prefix: str,
    after: str | None,
    limit: int,
    view: Callable[[str, Any], T] | None = None,
) -> tuple[list[Any], str | None]:
    """Up to ``limit`` decoded records under ``prefix`` after cursor ``after`` (each
    passed through ``view(suffix, value)`` if given) and the ``next`` cursor."""
    items = seek(state, prefix, after, chunk=limit + 1)
    got, nxt = take(items, limit)
    if view is None:
        return [value for _suffix, value in got], nxt
    return [view(suffix, value) for suffix, value in got], nxt
