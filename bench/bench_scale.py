"""Issue 13's scale benchmark: per chain size, what each operation costs. Run::

    .venv/bin/python -m bench.bench_scale [--sizes 10000,100000] [--dir DIR]
        [--repeat 3] [--json FILE]

For each size ``n`` a chain of ``n`` transactions with a carbon-market mix is built (see
``bench/scale_chain.py``) into ``DIR/<n>/`` (default ``/tmp/fcl-scale``), or reused when
a complete one of the same build version is there (``--rebuild`` forces a new one). Then,
against its committed store:

===================== ==================================================================
figure                what is measured (ms of CPU, the median of ``--repeat`` calls,
                      unless said)
===================== ==================================================================
issue                 ``carbon.issue`` of a verified report, executed against the state
                      (``Executor.execute_block`` of one transaction; nothing committed)
transfer              ``carbon.transfer`` of 1 t from the owner holding the most units
freeze                ``carbon.freeze`` of 4 units that owner still holds
plot_crowded          ``carbon.register_plot`` in a gap of the crowded plot grid
dashboard             ``Reader.dashboard()`` with its per-height caches emptied (the
                      first request at a height; the signing record, kept from tip to
                      tip, is then current: a tip one block further reads one commit)
project_page          ``Reader.project`` (its first page)
account_page          ``Reader.account`` of the buyer with the most units (first page)
serial_trace          ``Reader.trace`` of one of that buyer's serials
search                ``Reader.search`` of a project id, then of a transaction id
export_retirements    the whole retirements CSV (``retirements_export`` + ``csv_chunks``);
                      ``export_per_1000`` is the same per 1,000 rows
cert_first            the first certificate after a start: in a fresh process, the store
                      opened, its indexes caught up and the genesis hash computed (what a
                      node does when it starts), a certificate of the oldest retirement
                      by a fresh ``CertificateBuilder``; the median of ``--repeat``
                      processes
cert_next             then, by the same builder, a certificate of the probe retirement:
                      the chain's last retirement, of 1 t its buyer received by one
                      transfer from the owner it was issued to -- the same custody (an
                      issuance, a transfer, a retirement) at every size, so what changes
                      between sizes is the chain, not the certificate
cert_newest           then a certificate of the newest market retirement (random
                      custody: in a longer chain its units went through more transfers
                      and trades, so it cites more blocks and transactions)
cert_blocks           the number of blocks ``cert_newest`` cites (its ``headers``: the
                      retirement's and its provenance's), a count
cert_entries          the transactions ``cert_newest`` cites (retirement + provenance), a
                      count
cert_per_block        ``cert_newest`` / ``cert_blocks``: its cost per cited block (fixed
                      costs included)
audit_tx_per_s        ``fcl audit --data`` (``run_audit``) of the whole chain, in a child
                      process, once: transactions per CPU second (the auditor's and its
                      state tree process's); ``audit_tx_per_wall_s`` per wall second (on
                      a shared machine, also the neighbours' measure);
                      ``audit_rss_mb`` the two processes' peak resident memory, added
                      (``VmHWM`` and the tree process's ``ru_maxrss``)
startup_s             a child process opening the store and constructing the node
                      (``NodeRuntime``) and its API routes (certificates, explorer), in
                      CPU seconds; ``startup_rss_mb`` its peak resident memory; each the
                      median of ``--repeat`` processes
store_bytes_per_tx    the LevelDB folder's size / ``n``
===================== ==================================================================

The operations are the same at every size (same code, same kind of argument), so a
figure that grows with ``n`` is a scan. ``--json FILE`` writes every figure. Timings are
this thread's CPU time (``time.thread_time``: on a shared machine wall time measures
the neighbours); the process is pinned to one core.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.benchlib import machine, pin_one_core
from bench.scale_chain import (
    CHAIN_ID,
    VALIDATOR,
    ScaleChain,
    build_or_load,
    gap_ring,
    load_genesis,
    plot_args,
)

__all__ = ["FIGURES", "measure", "main"]

#: Every figure a size reports, in table order, with its unit.
FIGURES: tuple[tuple[str, str], ...] = (
    ("issue", "ms"), ("transfer", "ms"), ("freeze", "ms"), ("plot_crowded", "ms"),
    ("dashboard", "ms"), ("project_page", "ms"), ("account_page", "ms"),
    ("serial_trace", "ms"), ("search", "ms"), ("export_retirements", "ms"),
    ("export_per_1000", "ms"), ("cert_first", "ms"), ("cert_next", "ms"),
    ("cert_newest", "ms"), ("cert_blocks", "blocks"), ("cert_entries", "txs"),
    ("cert_per_block", "ms"),
    ("audit_tx_per_s", "tx/s"), ("audit_tx_per_wall_s", "tx/s"), ("audit_rss_mb", "MB"),
    ("startup_s", "s"),
    ("startup_rss_mb", "MB"), ("store_bytes_per_tx", "B"),
)


#: The clock of every in-process figure: the measuring thread's CPU time. On a machine
#: shared with other work (the one in docs/performance.md is), wall time measures the
#: neighbours; CPU time measures the code. Not the process's CPU time: it also counts
#: LevelDB's background compaction thread, which runs for minutes after a large store is
#: opened and written to (the index catch-up below writes to it), and charged that work
#: to whichever operation was being measured (up to 3x at 1M). Disk waits are left out:
#: the stores are read from the page cache after the first of the repetitions anyway.
clock = time.thread_time


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    """Milliseconds of CPU per call of ``fn``: the median of ``repeat`` calls."""
    runs = []
    for _ in range(repeat):
        start = clock()
        fn()
        runs.append(clock() - start)
    return statistics.median(runs) * 1e3


def _folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.iterdir() if p.is_file())


def _child(kind: str, folder: Path) -> dict[str, Any]:
    """Run ``kind`` (audit | cert-first | startup) in a fresh process; its JSON answer."""
    out = subprocess.run(
        [sys.executable, "-m", "bench.bench_scale", "--child", kind, str(folder)],
        capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parent.parent,
    )
    answer: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return answer


def _peak_rss_mb() -> float:
    """This process's peak resident memory: ``VmHWM`` (``ru_maxrss`` would also count
    the parent's, inherited across fork and exec)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _children_cpu_s() -> float:
    """CPU seconds of this process's finished child processes (the audit's worker)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def child_audit(folder: Path, *, pipeline: bool = True) -> dict[str, Any]:
    """``run_audit`` of the chain in ``folder``: CPU seconds of this process and of the
    state tree's process (``children_cpu_s``), wall seconds, peak RSS of each, tx/s per
    wall second and per CPU second (both processes)."""
    from fcl.audit.full import run_audit
    from fcl.audit.sources import open_source

    genesis = load_genesis(folder)
    source = open_source(data=folder / "store")
    try:
        start = time.process_time()
        wall_start = time.perf_counter()
        report = run_audit(source, genesis, progress_every=0, pipeline=pipeline)
        wall = time.perf_counter() - wall_start
        seconds = time.process_time() - start
        children = _children_cpu_s()
    finally:
        source.close()
    if not report.ok:
        raise SystemExit(f"audit failed: {report.discrepancy}")
    return {"txs": report.txs, "seconds": seconds, "wall_s": round(wall, 2),
            "children_cpu_s": round(children, 2),
            "tx_per_wall_s": round(report.txs / wall, 1),
            "tx_per_cpu_s": round(report.txs / (seconds + children), 1),
            "rss_mb": _peak_rss_mb(),
            "children_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}


def child_startup(folder: Path) -> dict[str, Any]:
    from fcl.main import api_routers
    from ledger.store import Store
    from node.home import NodeConfig
    from node.runtime import NodeRuntime

    genesis = load_genesis(folder)
    start = time.process_time()
    store = Store(folder / "store")
    with tempfile.TemporaryDirectory() as state_dir:
        runtime = NodeRuntime(config=NodeConfig(chain_id=CHAIN_ID, moniker="scale"),
                              genesis=genesis, key=VALIDATOR, store=store, state_dir=state_dir)
        api_routers(runtime.node)
        seconds = time.process_time() - start
        height = runtime.app.height
    store.close()
    return {"height": height, "seconds": seconds, "rss_mb": _peak_rss_mb()}


def child_cert_first(folder: Path) -> dict[str, Any]:
    """What the first certificate after a start costs: the store opened, its indexes
    caught up and the genesis hash computed, as a node does when it starts; then the
    measuring thread's CPU time of a fresh builder's certificate of the oldest retirement."""
    from ledger.store import Store
    from node.api.certificates import CertificateBuilder
    from node.chain import certindex, layoutindex

    meta = json.loads((folder / "meta.json").read_text())
    genesis = load_genesis(folder)
    store = Store(folder / "store")
    try:
        certindex.catch_up(store)
        layoutindex.catch_up(store)
        assert genesis.hash == store.genesis_hash()
        start = clock()
        CertificateBuilder(store, genesis).build(meta["deep_retirement"])
        ms = (clock() - start) * 1e3
    finally:
        store.close()
    return {"ms": ms}


def _held_units(store: Any, account: str) -> dict[str, Any]:
    """Four units ``account`` still holds (its first held range): what the freeze probe
    freezes (chosen at measuring time: the units named when the chain was built may have
    been sold and retired since)."""
    from chaincode.queries import holdings

    for r in holdings(store, account, limit=50)["ranges"]:
        if r["state"] == "held" and not r["frozen"] and r["quantity"] >= 4:
            return {"project_id": r["project_id"], "first": r["first"], "last": r["first"] + 3}
    raise AssertionError(f"{account} holds no range of 4 unfrozen units")


def measure(folder: Path, meta: dict[str, Any], repeat: int,
            skip: frozenset[str] = frozenset()) -> dict[str, float]:
    """Every figure of :data:`FIGURES` for the chain in ``folder`` (but the child
    processes named in ``skip``: ``audit``, ``startup``; their figures are then NaN)."""
    from chaincode.executor import Executor
    from chaincode.framework import BlockContext
    from explorer.data import Reader
    from explorer.export import csv_chunks, retirements_export
    from explorer.source import ExplorerSource
    from ledger.store import Store
    from node.api.certificates import CertificateBuilder
    from node.chain import certindex, layoutindex

    figures: dict[str, float] = {}
    n = int(meta["n"])
    genesis = load_genesis(folder)
    store = Store(folder / "store")
    try:
        # what the node does when it opens a store (a chain cached before an index existed)
        certindex.catch_up(store)
        layoutindex.catch_up(store)
        maker = ScaleChain(folder / "unused", n)  # signs the probes with the chain's keys
        executor = Executor()
        ctx = BlockContext(CHAIN_ID, store.latest_height() + 1,
                           1_700_000_000_000 + 10**9, VALIDATOR.public_key_hex)
        pid = meta["probe_project"]
        owner = meta["owner"]
        probes = {
            "issue": maker.tx("regulator", "issue",
                              {"report_id": f"{pid}-R1", "batch_id": f"{pid}-B1"}),
            "transfer": maker.tx([owner, meta["transfer_to"]], "transfer",
                                 {"from_org": owner, "to_org": meta["transfer_to"],
                                  "quantity": 1}),
            "freeze": maker.tx("regulator", "freeze", dict(_held_units(store, owner), reason="probe")),
            "plot_crowded": maker.tx(
                "owner-00000", "register_plot",
                plot_args("PL-PROBE", gap_ring(int(meta["gap_plot"])), meta["plot_area_ha"])),
        }
        for name, tx in probes.items():
            def run(tx: Any = tx, name: str = name) -> None:
                result = executor.execute_block(store, ctx, [tx]).results[0]
                if result["code"] != "ok":
                    raise AssertionError(f"probe {name} failed: {result}")
            figures[name] = median_ms(run, repeat)

        reader = Reader(ExplorerSource(store=store, genesis=genesis))
        reader.dashboard()  # the reader's own start (indexes it keeps) is not a page's cost

        def dashboard() -> None:
            reader._cache.clear()
            reader.dashboard()

        figures["dashboard"] = median_ms(dashboard, repeat)
        figures["project_page"] = median_ms(lambda: reader.project(meta["project"], 100), repeat)
        figures["account_page"] = median_ms(lambda: reader.account(meta["buyer"], None, 100), repeat)
        figures["serial_trace"] = median_ms(lambda: reader.trace(meta["serial"]), repeat)

        def search() -> None:
            reader.search(meta["project"])
            reader.search(meta["last_retirement"])

        figures["search"] = median_ms(search, repeat)

        rows = 0

        def export() -> None:
            nonlocal rows
            exp = retirements_export(reader, None, None)
            chunks = csv_chunks(exp.columns, exp.records(None))
            rows = sum(chunk.count(b"\n") for chunk in chunks) - 1  # less the header
        figures["export_retirements"] = median_ms(export, repeat)
        figures["export_rows"] = rows
        figures["export_per_1000"] = figures["export_retirements"] * 1000 / max(1, rows)

        builder = CertificateBuilder(store, genesis)
        builder.build(meta["deep_retirement"])  # (cert_first: in fresh processes, below)
        figures["cert_next"] = median_ms(lambda: builder.build(meta["probe_retirement"]), repeat)
        figures["cert_newest"] = median_ms(lambda: builder.build(meta["last_retirement"]), repeat)
        cert = builder.build(meta["last_retirement"])
        figures["cert_blocks"] = len(cert["headers"])
        figures["cert_entries"] = 1 + len(cert["provenance"])
        figures["cert_per_block"] = figures["cert_newest"] / figures["cert_blocks"]
    finally:
        store.close()

    figures["cert_first"] = statistics.median(
        _child("cert-first", folder)["ms"] for _ in range(repeat))
    nan = float("nan")
    audit = None if "audit" in skip else _child("audit", folder)
    figures["audit_tx_per_s"] = nan if audit is None else audit["tx_per_cpu_s"]
    figures["audit_tx_per_wall_s"] = nan if audit is None else audit["tx_per_wall_s"]
    figures["audit_rss_mb"] = nan if audit is None else audit["rss_mb"] + audit["children_rss_mb"]
    starts = [] if "startup" in skip else [_child("startup", folder) for _ in range(repeat)]
    figures["startup_s"] = statistics.median(r["seconds"] for r in starts) if starts else nan
    figures["startup_rss_mb"] = statistics.median(r["rss_mb"] for r in starts) if starts else nan
    figures["store_bytes_per_tx"] = _folder_bytes(folder / "store") / n
    return figures


def _fmt(value: float) -> str:
    if value != value:  # nan: not measured
        return "-"
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def table(results: dict[int, dict[str, float]]) -> str:
    """A markdown table: one row per figure, one column per size, and the ratio of the
    largest size to the smallest."""
    sizes = sorted(results)
    head = "| figure | unit | " + " | ".join(f"{n:,} tx" for n in sizes)
    lines = [head + (f" | {sizes[-1]:,} / {sizes[0]:,} |" if len(sizes) > 1 else " |")]
    lines.append("|---|---|" + "---:|" * (len(sizes) + (len(sizes) > 1)))
    for name, unit in FIGURES:
        cells = [_fmt(results[n][name]) for n in sizes]
        ratio = ""
        if len(sizes) > 1:
            low = results[sizes[0]][name]
            high = results[sizes[-1]][name]
            ratio = f" | {high / low:.2f}x" if low and low == low and high == high else " | -"
        lines.append(f"| {name} | {unit} | " + " | ".join(cells) + ratio + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--dir", default=os.path.join(tempfile.gettempdir(), "fcl-scale"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rebuild", action="store_true", help="build the chains again")
    parser.add_argument("--json", default=None, metavar="FILE", help="write the figures here")
    parser.add_argument("--skip", default="", metavar="audit,startup",
                        help="leave out these child-process measurements (shown as nan)")
    parser.add_argument("--child", nargs=2, metavar=("KIND", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        kind, folder = args.child
        if kind in ("audit", "audit-one-process"):
            answer = child_audit(Path(folder), pipeline=kind == "audit")
        elif kind == "cert-first":
            answer = child_cert_first(Path(folder))
        else:
            answer = child_startup(Path(folder))
        print(json.dumps(answer))
        return 0
    pin_one_core()
    print(f"machine: {machine()}")
    results: dict[int, dict[str, float]] = {}
    builds: dict[int, dict[str, Any]] = {}
    for n in (int(s) for s in args.sizes.split(",")):
        folder = Path(args.dir) / str(n)
        if args.rebuild and (folder / "meta.json").exists():
            (folder / "meta.json").unlink()
        meta, built = build_or_load(folder, n, progress=True)
        print(f"{n:,} txs: {'built' if built else 'reused'} {folder} (height {meta['height']}, "
              f"built in {meta['build_s']} s; failed txs {meta['failed']})", flush=True)
        results[n] = measure(folder, meta, args.repeat,
                             frozenset(x for x in args.skip.split(",") if x))
        builds[n] = {k: meta[k] for k in ("height", "build_s", "failed", "projects", "owners",
                                          "buyers")}
    print(table(results))
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"machine": machine(), "builds": {str(n): b for n, b in builds.items()},
             "figures": {str(n): f for n, f in results.items()}}, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
