"""The scale benchmark (bench/bench_scale.py) at its 10k size, as CI runs it: every
figure is produced and sane. Never a timing assertion: speed is the benchmark's report,
not a test (the 10k build and measurement take about 15 s)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from bench.bench_scale import FIGURES, measure, table
from bench.scale_chain import BUILD_VERSION, PROBE_BUYER, build_or_load, load_genesis
from ledger.store import Store
from node.api.certificates import CertificateBuilder

pytestmark = pytest.mark.slow

N = 10_000


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("scale") / str(N)
    meta, built = build_or_load(folder, N)
    assert built
    return folder, meta


def test_the_chain_has_the_mix(chain: tuple[Path, dict]) -> None:
    folder, meta = chain
    assert meta["txs"] == N and meta["build_version"] == BUILD_VERSION
    assert sum(meta["failed"].values()) <= N // 100, meta["failed"]
    store = Store(folder / "store")
    try:
        assert store.latest_height() == meta["height"] == math.ceil(N / 1000)
        methods: dict[str, int] = {}
        for h in range(1, store.latest_height() + 1):
            block = store.get_block(h)
            assert block is not None
            for tx in block.txs:
                methods[tx.method] = methods.get(tx.method, 0) + 1
    finally:
        store.close()
    assert sum(methods.values()) == N
    for method in ("register_plot", "issue", "transfer", "create_listing", "match_trade",
                   "retire_voluntary", "freeze", "unfreeze", "record"):
        assert methods.get(method, 0) > 0, (method, methods)
    assert methods["issue"] == meta["projects"]


def test_the_probe_retirement_has_the_same_custody_at_every_size(chain: tuple[Path, dict]) -> None:
    """``cert_next`` certifies the probe retirement: one project's issuance chain, one
    transfer from its owner to the probe buyer, the retirement in the last block -- so
    its certificate is the same size whatever the chain's length."""
    folder, meta = chain
    store = Store(folder / "store")
    try:
        cert = CertificateBuilder(store, load_genesis(folder)).build(meta["probe_retirement"])
        last = store.get_block(store.latest_height())
        assert last is not None
        assert meta["probe_retirement"] in {tx.tx_id for tx in last.txs}
        assert meta["probe_retirement"] != meta["last_retirement"]
    finally:
        store.close()
    methods = [entry["tx"]["payload"]["method"] for entry in cert["provenance"]]
    assert methods == ["register_plot", "register_plot", "submit_project", "attest_validation",
                       "register_project", "submit_monitoring_report", "attest_verification",
                       "issue", "transfer"]
    transfer = cert["provenance"][-1]["tx"]["payload"]["args"]
    assert transfer["to_org"] == PROBE_BUYER and transfer["quantity"] == 1
    assert cert["provenance"][-1]["height"] == meta["height"]
    assert len(cert["headers"]) <= 3  # the plots', the project's, the last block


def test_a_second_run_reuses_the_chain(chain: tuple[Path, dict]) -> None:
    folder, meta = chain
    again, built = build_or_load(folder, N)
    assert not built and again == meta


def test_every_figure_is_produced_and_sane(chain: tuple[Path, dict]) -> None:
    folder, meta = chain
    figures = measure(folder, meta, repeat=1)
    for name, _unit in FIGURES:
        value = figures[name]
        assert isinstance(value, float | int) and math.isfinite(value) and value > 0, (name, value)
    assert figures["export_rows"] >= meta["failed"].get("retire_voluntary", 0)
    assert figures["export_rows"] > N // 10  # a row per retired range: thousands
    assert 10 < figures["audit_rss_mb"] < 100_000 and 10 < figures["startup_rss_mb"] < 100_000
    assert figures["audit_tx_per_s"] < 10**7 and figures["store_bytes_per_tx"] > 100
    text = table({N: figures, 2 * N: figures})
    assert all(f"| {name} | {unit} |" in text for name, unit in FIGURES)
    assert "1.00x" in text
    json.dumps(figures)  # --json can write them


def test_the_table_compares_each_figure_with_the_smallest_size() -> None:
    small = {name: 2.0 for name, _unit in FIGURES}
    large = dict(small, issue=3.0, audit_tx_per_s=float("nan"))
    text = table({10: small, 1000: large})
    assert text.splitlines()[0].startswith("| figure | unit | 10 tx | 1,000 tx | 1,000 / 10 |")
    assert "| issue | ms | 2.00 | 3.00 | 1.50x |" in text
    assert "| audit_tx_per_s | tx/s | 2.00 | - | - |" in text  # not measured (--skip)
