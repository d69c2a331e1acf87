"""Canonical JSON on the execution path: µs per call of writing (``canonical``) and reading
back (``decode_state``) the values the chaincode writes most -- a unit range, its holdings
index entry, a counter record -- against the ``json`` module's way of doing the same
(``json`` with sorted keys after the same checks; ``decode`` with its duplicate-key hook and
its walk). Prints one table; every output is checked equal before it is timed. Run::

    .venv/bin/python -m bench.bench_encoding [--repeat 5] [--inner 20000]
"""

from __future__ import annotations

import argparse
import json
from functools import partial
from typing import Any

from bench.benchlib import best_s, machine, pin_one_core
from ledger.encoding import _plain, canonical, decode, decode_state

VALUES: dict[str, Any] = {
    "unit range": {
        "account": "buyer-01234", "batch_id": "PRJ-02500-2019-0001", "first": 123456,
        "frozen": False, "history": [
            {"action": "issue", "from": None, "height": 12, "to": "owner-00042",
             "tx_id": "ab" * 32},
            {"action": "transfer", "from": "owner-00042", "height": 40, "to": "buyer-01234",
             "tx_id": "cd" * 32}],
        "last": 123999, "project_id": "PRJ-02500", "state": "held", "vintage": 2019},
    "holdings entry": {"batch_id": "PRJ-02500-2019-0001", "frozen": False, "last": 123999,
                       "vintage": 2019},
    "counter record": {"buffer": 0, "cancelled": 12, "frozen": 0, "held": 918273,
                       "listed": 4400, "retired": 77120},
}

_JSON_SORTED = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False,
                                sort_keys=True, check_circular=False)


def _json_canonical(value: Any) -> bytes:
    """The writer before: the same check, then ``json`` with sorted keys."""
    assert _plain(value, 0)
    return _JSON_SORTED.encode(value).encode("utf-8")


def measure(repeat: int, inner: int) -> list[tuple[str, float, float, float, float]]:
    """Per value: µs to write with json / orjson, to read with decode / decode_state."""
    rows = []
    for name, value in VALUES.items():
        raw = canonical(value)
        assert raw == _json_canonical(value)
        assert decode_state(raw) == decode(raw) == value
        rows.append((
            name,
            best_s(partial(_json_canonical, value), repeat, inner) * 1e6,
            best_s(partial(canonical, value), repeat, inner) * 1e6,
            best_s(partial(decode, raw), repeat, inner) * 1e6,
            best_s(partial(decode_state, raw), repeat, inner) * 1e6,
        ))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--inner", type=int, default=20_000)
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.inner < 1:
        parser.error("--repeat and --inner are at least 1")
    pin_one_core()
    print(f"# {machine()}")
    print("| value | bytes | write: json | write: canonical | read: decode | read: decode_state |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, js, fast, strict, state in measure(args.repeat, args.inner):
        size = len(canonical(VALUES[name]))
        print(f"| {name} | {size} | {js:.2f} µs | {fast:.2f} µs | {strict:.2f} µs "
              f"| {state:.2f} µs |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
