"""``fcl bench``: a real 4-validator run produces one JSON report (not a speed test: it
asserts the report's shape and that something was committed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from fcl.bench import percentile

pytestmark = pytest.mark.slow


def test_fcl_bench_json_report() -> None:
    env = {k: v for k, v in os.environ.items() if k != "FCL_PASSPHRASE"}
    res = subprocess.run(
        [sys.executable, "-m", "fcl", "bench", "--validators", "4", "--duration", "5",
         "--json"],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    lines = [line for line in res.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, res.stdout
    report = json.loads(lines[0])
    assert report["validators"] == 4
    assert report["committed_tx_per_s"] > 0
    for key in ("latency_p50_ms", "latency_p99_ms"):
        assert isinstance(report[key], int | float) and report[key] > 0
    assert report["latency_p50_ms"] <= report["latency_p99_ms"]
    assert report["duration_s"] == 5
    assert report["machine"]["cores"] >= 1


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 0.5) is None
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile([3.0, 1.0, 2.0], 0.99) == 3.0
    assert percentile([5.0], 0.5) == 5.0
