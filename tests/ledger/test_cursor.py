"""``ledger.cursor``: the one key-ordered cursor every list page and export uses. Pages
anywhere in a list return exactly the records a full scan would, and a deep page reads
O(page) keys, never the records before its cursor."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chaincode import queries
from ledger import cursor
from ledger.encoding import canonical
from ledger.errors import LedgerError
from ledger.state import MemoryState

ALPHABET = st.sampled_from(["a", "b", "/", "0", "\x00", "é", "\uffff"])


class Counting(MemoryState):
    """A MemoryState that counts the keys its iterators hand out and records each start."""

    def __init__(self, items: list[tuple[str, bytes]]) -> None:
        super().__init__(items)
        self.read = 0
        self.starts: list[str | None] = []

    def iter_prefix(self, prefix: str, start: str | None = None) -> Iterator[tuple[str, bytes]]:
        self.starts.append(start)
        for item in super().iter_prefix(prefix, start):
            self.read += 1
            yield item


def brute(data: dict[str, bytes], prefix: str, after: str | None) -> list[str]:
    return [k[len(prefix):] for k in sorted(data)
            if k.startswith(prefix) and (after is None or k[len(prefix):] > after)]


@settings(max_examples=200, deadline=None)
@given(keys=st.sets(st.text(ALPHABET, min_size=1, max_size=4), max_size=30),
       prefix=st.text(ALPHABET, max_size=2), after=st.none() | st.text(ALPHABET, max_size=4),
       chunk=st.integers(1, 5), limit=st.integers(1, 7))
def test_seek_and_pages_equal_a_full_scan(keys: set[str], prefix: str, after: str | None,
                                          chunk: int, limit: int) -> None:
    data = {k: canonical({"k": k}) for k in keys}
    state = MemoryState(data.items())
    expected = brute(data, prefix, after)
    assert [s for s, _ in cursor.seek_raw(state, prefix, after, chunk=chunk)] == expected
    assert [v["k"] for _, v in cursor.seek(state, prefix, after, chunk=chunk)] == \
        [prefix + s for s in expected]
    values, nxt = cursor.page(state, prefix, after, limit)
    assert [v["k"] for v in values] == [prefix + s for s in expected[:limit]]
    assert nxt == (expected[limit - 1] if len(expected) > limit else None)
    # following the cursors visits every record once, in order
    seen: list[str] = []
    at = after
    while True:
        values, at = cursor.page(state, prefix, at, limit)
        seen += [v["k"][len(prefix):] for v in values]
        if at is None:
            break
    assert seen == expected


def test_a_deep_page_reads_only_its_page() -> None:
    n = 5000
    state = Counting([(f"r/{i:06d}", canonical(i)) for i in range(n)] + [("s/0", b"0")])
    values, nxt = cursor.page(state, "r/", f"{4000:06d}", 10)
    assert values == list(range(4001, 4011)) and nxt == f"{4010:06d}"
    assert state.read <= 11  # the page and one more, from one seek past the cursor
    assert state.starts == [f"r/{4000:06d}\x00"]


def test_a_long_read_seeks_once_per_chunk_from_the_last_key() -> None:
    state = Counting([(f"r/{i}", b"1") for i in range(7)])
    got = [s for s, _ in cursor.seek_raw(state, "r/", None, chunk=3)]
    assert got == [str(i) for i in range(7)]
    assert state.starts == ["r/", "r/2\x00", "r/5\x00"]
    assert state.read == 7
    with pytest.raises(ValueError):
        list(cursor.seek_raw(state, "r/", None, chunk=0))


def test_take_cuts_any_cursor_ordered_iteration() -> None:
    items = [("a", 1), ("b", 2), ("c", 3)]
    assert cursor.take(items, 2) == ([("a", 1), ("b", 2)], "b")
    assert cursor.take(items, 3) == (items, None)
    assert cursor.take(iter(items), 5) == (items, None)
    assert cursor.take([], 1) == ([], None)
    assert cursor.after_key("p/", None) == "p/" and cursor.after_key("p/", "x") == "p/x\x00"


def test_query_pages_seek_past_their_cursor() -> None:
    """chaincode.queries.retirements and batches: a deep page is the right records and
    reads O(page), not every record before the cursor."""
    from chaincode.carbon_common import BATCH_PREFIX
    from chaincode.carbon_market import RETIREMENT_PREFIX, RETIREMENT_SEQ_PREFIX

    n = 3000
    items: list[tuple[str, bytes]] = []
    for i in range(n):
        rid = f"{i:064x}"
        items.append((f"{RETIREMENT_SEQ_PREFIX}{i:012d}", canonical(rid)))
        items.append((RETIREMENT_PREFIX + rid, canonical({"id": rid, "period": None})))
        items.append((f"{BATCH_PREFIX}B{i:05d}", canonical({"id": f"B{i:05d}",
                                                             "project_id": "P"})))
    state = Counting(items)
    out = queries.retirements(state, after=f"{2500:012d}", limit=5)
    assert [r["id"] for r in out["retirements"]] == [f"{i:064x}" for i in range(2501, 2506)]
    assert out["next"] == f"{2505:012d}"
    assert state.read <= 20
    state.read = 0
    out = queries.batches(state, after=f"{BATCH_PREFIX}B02500", limit=3)
    assert [b["id"] for b in out["batches"]] == ["B02501", "B02502", "B02503"]
    assert out["next"] == f"{BATCH_PREFIX}B02503"
    assert state.read <= 10
    # a batch cursor is a whole key: before the prefix reads from the start, after it ends
    assert queries.batches(state, after="a", limit=1)["batches"][0]["id"] == "B00000"
    assert queries.batches(state, after="zzz", limit=1) == {"batches": [], "next": None}
    for bad in (0, queries.MAX_LIMIT + 1):
        with pytest.raises(LedgerError) as exc:
            queries.batches(state, limit=bad)
        assert exc.value.code == "invalid_query"
    with pytest.raises(LedgerError) as exc:
        queries.retirements(state, after=7, limit=1)  # type: ignore[arg-type]
    assert exc.value.code == "invalid_query"
