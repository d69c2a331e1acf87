"""explorer/signing.py: the dashboard's signing record kept incrementally equals the
record recounted from the last commits at every tip, and a new tip reads only the
commits committed since the previous request."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from explorer.signing import SigningTally

KEYS = ["a" * 64, "b" * 64, "c" * 64]


def recount(commits: dict[int, tuple[Sequence[Any], int]], top: int, window: int) -> dict[str, Any]:
    """The record as the dashboard counted it before (every commit of the window read)."""
    heights: list[int] = []
    count: dict[str, int] = {}
    last: dict[str, tuple[int, int]] = {}
    for h in range(top, max(top - window, 0), -1):
        if h not in commits:
            continue
        heights.append(h)
        keys, time_ms = commits[h]
        for key in keys:
            if not isinstance(key, str):
                continue
            count[key] = count.get(key, 0) + 1
            last.setdefault(key, (h, time_ms))
    return {"count": count, "last": last, "window": heights}


chains = st.lists(st.one_of(st.none(), st.lists(st.sampled_from([*KEYS, None]), max_size=4)),
                  min_size=1, max_size=60)


@given(chains, st.integers(1, 12), st.lists(st.integers(0, 60), min_size=1, max_size=12))
@settings(max_examples=200, deadline=None)
def test_the_kept_record_is_the_recounted_record(
        blocks: list[list[Any] | None], window: int, tips: list[int]) -> None:
    commits = {h: (keys, 1000 * h) for h, keys in enumerate(blocks, start=1) if keys is not None}
    tally = SigningTally(window)
    for tip in sorted(min(t, len(blocks)) for t in tips) + [min(t, len(blocks)) for t in tips]:
        assert tally.at(tip, commits.get) == recount(commits, tip, window), tip


def test_a_new_tip_reads_only_the_new_commits() -> None:
    commits = {h: ([KEYS[h % 2]], h) for h in range(1, 1001)}
    tally = SigningTally(100)
    tally.at(500, commits.get)
    assert tally.reads == 100  # the first request reads the window
    tally.at(500, commits.get)
    assert tally.reads == 100  # the same tip: nothing read
    tally.at(501, commits.get)
    assert tally.reads == 101
    tally.at(1000, commits.get)  # a jump past the window: read again from scratch
    assert tally.reads == 201
    tally.at(990, commits.get)  # the tip went back (another store): from scratch too
    assert tally.reads == 301
    assert tally.at(990, commits.get) == recount(commits, 990, 100)


def test_a_window_of_no_block_is_refused() -> None:
    with pytest.raises(ValueError):
        SigningTally(0)
