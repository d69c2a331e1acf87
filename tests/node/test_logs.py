"""node.ops.logs: one bounded JSON line per record, and the rate limit per kind of line."""

from __future__ import annotations

import json
import logging

from node.ops.logs import MAX_EXC_CHARS, MAX_FIELD_CHARS, MAX_MSG_CHARS, JsonFormatter, RateLimit


def record(msg: str, *args: object, level: int = logging.INFO, **extra: object) -> logging.LogRecord:
    rec = logging.LogRecord("node.test", level, __file__, 1, msg, args, None)
    rec.__dict__.update(extra)
    return rec


def test_every_part_of_a_line_is_bounded() -> None:
    fmt = JsonFormatter()
    rec = record("x" * 10_000, detail="d" * 10_000, height=7, flag=True)
    try:
        raise ValueError("v" * 20_000)
    except ValueError:
        import sys

        rec.exc_info = sys.exc_info()
    line = fmt.format(rec)
    out = json.loads(line)
    assert "\n" not in line
    assert out["msg"].startswith("x" * MAX_MSG_CHARS) and len(out["msg"]) < MAX_MSG_CHARS + 40
    assert len(out["detail"]) < MAX_FIELD_CHARS + 40 and out["height"] == 7 and out["flag"] is True
    assert len(out["exc"]) < MAX_EXC_CHARS + 100
    assert out["exc"].startswith("Traceback") and "characters left out" in out["exc"]
    assert out["exc"].rstrip().endswith("v" * 100)  # the tail, with the exception, is kept
    short = json.loads(fmt.format(record("committed block %d", 12)))
    assert short["msg"] == "committed block 12" and "exc" not in short


def test_the_rate_limit_lets_a_burst_through_per_kind_and_reports_what_it_dropped() -> None:
    now = [0.0]
    limit = RateLimit(burst=3, window_s=10.0, clock=lambda: now[0])
    passed = [limit.filter(record("bad frame from %s", i)) for i in range(10)]
    assert passed == [True] * 3 + [False] * 7
    assert limit.filter(record("another kind"))  # counted apart
    assert limit.filter(record("bad frame", level=logging.WARNING))  # another level
    now[0] = 10.0
    nxt = record("bad frame from %s", "x")
    assert limit.filter(nxt) and nxt.suppressed == 7
    assert not hasattr(record("bad frame from %s", 1), "suppressed")


def test_the_rate_limit_tracks_a_bounded_number_of_kinds() -> None:
    limit = RateLimit(burst=1, window_s=10.0, max_kinds=4, clock=lambda: 0.0)
    for i in range(100):
        assert limit.filter(record(f"kind {i}"))
    assert len(limit._kinds) == 4
