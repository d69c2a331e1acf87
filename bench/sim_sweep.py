"""Sweep the deterministic consensus simulation over many seeds.

    python -m bench.sim_sweep --seeds 5000                  # the long sweep
    python -m bench.sim_sweep --seeds 1 --start 42 --validators 7 -v   # replay one seed
    python -m bench.sim_sweep --seeds 5000 --app fake       # the consensus core alone

Each seed runs n validators (by default a mix of 4, 7 and 1; ``--validators`` fixes n)
running the production application stack (``--app real``, the default: the driver's
application work, the application, mempool, admission and the store in memory) or a
fake application (``--app fake``, faster), with seeded faults (drops, delays, duplicates, partitions, crashes and restarts, up to f
Byzantine validators) and checks the invariants of docs/consensus.md. Prints a summary
and, for every failing seed, a one-line command that reproduces it. Exit status 1 if any
seed failed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor

from tests.support.sim import (
    APP_MODES,
    AppMode,
    SimResult,
    repro_command,
    run_simulation,
    validators_for_seed,
)


def _run(args: tuple[int, int, AppMode]) -> SimResult:
    seed, n, app = args
    return run_simulation(seed, n, app=app)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=300, help="how many seeds (default 300)")
    parser.add_argument("--start", type=int, default=0, help="first seed (default 0)")
    parser.add_argument("--validators", type=int, choices=range(1, 33), metavar="N",
                        help="validators per run (default: mix of 4, 7 and 1 by seed)")
    parser.add_argument("--app", choices=APP_MODES, default="real",
                        help="real: the production application stack (default); fake: the "
                             "fake application")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="worker processes (default: all cores)")
    parser.add_argument("-v", "--verbose", action="store_true", help="one line per seed")
    args = parser.parse_args(argv)
    if args.seeds < 1 or args.jobs < 1:
        parser.error("--seeds and --jobs must be positive")

    work = [(s, args.validators or validators_for_seed(s), args.app)
            for s in range(args.start, args.start + args.seeds)]
    started = time.perf_counter()
    results: list[SimResult] = []

    def report(result: SimResult) -> None:
        results.append(result)
        if args.verbose or not result.ok:
            print(result.summary(), flush=True)
        if not result.ok:
            print(f"  reproduce: {repro_command(result.seed, result.validators, result.app)}", flush=True)

    if args.jobs == 1 or len(work) == 1:
        for item in work:
            report(_run(item))
    else:
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            for result in pool.map(_run, work, chunksize=4):
                report(result)
    elapsed = time.perf_counter() - started

    failed = [r for r in results if not r.ok]
    by_n: dict[int, int] = {}
    for r in results:
        by_n[r.validators] = by_n.get(r.validators, 0) + 1
    heights = sum(r.heights for r in results)
    txs = sum(r.txs for r in results)
    recovery = max(r.recovery_ms for r in results)
    byz = sum(1 for r in results if r.byzantine)
    evidence = sum(r.evidence for r in results)
    restarts = sum(r.restarts for r in results)
    print(
        f"{len(results)} seeds ({', '.join(f'n={n}: {c}' for n, c in sorted(by_n.items()))}) "
        f"app={args.app} in {elapsed:.1f} s with {args.jobs} job(s); {len(failed)} failed"
    )
    print(
        f"  {heights} heights committed ({txs} transactions); {byz} runs with Byzantine validators "
        f"({evidence} equivocations detected); {restarts} crash-restarts; "
        f"slowest recovery after GST {recovery} ms (bound 30000 ms)"
    )
    for r in failed:
        print(f"  FAILED seed {r.seed}: {repro_command(r.seed, r.validators, r.app)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
