"""``fcl audit``: re-verify a chain from its genesis, or check that it extends a checkpoint.

::

    fcl audit (--node URL | --data DIR) --genesis FILE [--to-height H]
              [--write-checkpoint FILE] [--progress-every N] [--timeout S] [--json]
    fcl audit --node URL --genesis FILE --since-checkpoint HEIGHT:HISTORY_ROOT|FILE
              [--write-checkpoint FILE] [--json]

Exit codes: 0 the chain verifies; 1 the audit could not run (node unreachable, store in
use, ...); 2 bad command line or input (genesis, checkpoint); 3 the chain does not verify
(the first discrepancy is printed). Errors are one line, ``error: <code>: <message>``, on
standard error; progress goes to standard error, the summary to standard output.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from pathlib import Path
from typing import Any

import plyvel

from fcl.audit.run import (
    AuditError,
    AuditProgress,
    AuditReport,
    Checkpoint,
    CheckpointReport,
    open_source,
    run_audit,
    verify_checkpoint,
)
from fcl.cliargs import seconds
from ledger.errors import LedgerError, StorageFailure
from ledger.genesis import Genesis

__all__ = ["EXIT_FAILED", "EXIT_INPUT", "EXIT_OK", "EXIT_UNABLE", "register", "run"]

EXIT_OK = 0
EXIT_UNABLE = 1
EXIT_INPUT = 2
EXIT_FAILED = 3
_INPUT_CODES = frozenset(
    {"bad_genesis", "malformed_genesis", "bad_checkpoint", "checkpoint_mismatch", "bad_source",
     "no_store", "bad_usage"}
)


def _err(code: str, message: str) -> None:
    sys.stderr.write(f"error: {code}: {message}\n")
    sys.stderr.flush()


def _note(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def _whole(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number")
    return int(text)


def _height(text: str) -> int:
    value = _whole(text)
    if value < 1:
        raise argparse.ArgumentTypeError("a height is at least 1")
    return value


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``audit`` command to the ``fcl`` sub-command set."""
    p = subparsers.add_parser(
        "audit",
        help="re-verify the whole chain from the genesis, or check it extends a checkpoint",
        description="Re-verify a chain from its genesis: header links, commit certificates "
        "against the replayed validator sets, transaction/result/history roots, and every "
        "transaction re-executed on a fresh state (docs/audit.md). With --since-checkpoint, "
        "check only that today's chain extends a saved checkpoint (one consistency proof).",
    )
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--node", metavar="URL", help="a node's RPC address (http://host:port)")
    where.add_argument(
        "--data", metavar="DIR",
        help="a node's data folder (HOME/data) or home; the node must be stopped",
    )
    p.add_argument("--genesis", required=True, metavar="FILE", help="the network's genesis.json")
    p.add_argument(
        "--since-checkpoint", metavar="HEIGHT:ROOT|FILE",
        help="check that the chain extends this checkpoint instead of a full audit",
    )
    p.add_argument(
        "--write-checkpoint", metavar="FILE",
        help="after success, write the checkpoint (height, history root) the audit established",
    )
    p.add_argument("--to-height", type=_height, metavar="H", help="audit blocks 1..H only")
    p.add_argument(
        "--progress-every", type=_whole, default=1000, metavar="N",
        help="report progress on stderr every N blocks (0: never; default 1000)",
    )
    p.add_argument("--timeout", type=seconds(3600), default=30.0, metavar="S",
                   help="per-request timeout for --node (default 30)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=run)
    return p


def _load_genesis(path: str) -> Genesis:
    try:
        return Genesis.load(path)
    except OSError as exc:
        raise AuditError("bad_genesis", f"cannot read {path}: {exc.strerror}") from None


def _data_dir(text: str) -> Path:
    path = Path(text).expanduser()
    if not (path / "CURRENT").is_file() and (path / "data" / "CURRENT").is_file():
        return path / "data"  # a node home was given
    return path


class _Progress:
    def __init__(self, label: str) -> None:
        self.label = label

    def __call__(self, p: AuditProgress) -> None:
        rate = p.height / p.seconds if p.seconds > 0 else 0.0
        text = f"{self.label}: {p.height}"
        if p.target:
            text += f"/{p.target} blocks ({100 * p.height / p.target:.1f}%)"
        else:
            text += " blocks"
        text += f", {p.txs} txs, {rate:.0f} blocks/s"
        if p.target and rate > 0:
            text += f", about {(p.target - p.height) / rate:.0f} s left"
        _note(text)


def _print_report(report: AuditReport) -> None:
    print(f"audit {'passed' if report.ok else 'FAILED'}: chain {report.chain_id}")
    print(f"source:            {report.source}")
    print(f"genesis hash:      {report.genesis_hash}")
    print(f"blocks verified:   {report.blocks}")
    print(f"transactions:      {report.txs} ({report.failed_txs} failed)")
    print(f"final height:      {report.final_height}")
    print(f"final block hash:  {report.final_block_hash}")
    print(f"final state root:  {report.final_state_root}")
    print(f"history root:      {report.history_root} (blocks 1..{report.final_height})")
    if report.discrepancy is None:
        print(f"checkpoint:        {report.final_height}:{report.history_root}")
    else:
        print(f"first discrepancy: {report.discrepancy.message()}")
    print(f"time:              {report.seconds:.2f} s")


def _print_checkpoint_report(report: CheckpointReport) -> None:
    cp = report.checkpoint
    print(f"checkpoint check {'passed' if report.ok else 'FAILED'}: "
          f"{cp.height}:{cp.history_root}")
    print(f"source:            {report.source}")
    print(f"latest height:     {report.latest_height}")
    print(f"latest block hash: {report.latest_block_hash}")
    print(f"history root:      {report.history_root} (blocks 1..{max(report.latest_height - 1, 0)})")
    print(f"validator set:     {report.validator_set_source or '-'}")
    if report.new_checkpoint is not None:
        new = report.new_checkpoint
        print(f"new checkpoint:    {new.height}:{new.history_root}")
    for note in report.notes:
        print(f"note:              {note}")
    if report.discrepancy is not None:
        print(f"first discrepancy: {report.discrepancy.message()}")
    print(f"time:              {report.seconds:.2f} s")


def _write_checkpoint(path: str, checkpoint: Checkpoint) -> None:
    try:
        checkpoint.dump(path)
    except OSError as exc:
        raise AuditError("write_failed", f"cannot write {path}: {exc.strerror}") from None


def _audit(args: argparse.Namespace) -> int:
    genesis = _load_genesis(args.genesis)
    checkpoint = None
    if args.since_checkpoint is not None and args.to_height is not None:
        raise AuditError("bad_usage", "--to-height is for a full audit, not --since-checkpoint")
    if args.since_checkpoint is not None:
        checkpoint = Checkpoint.from_argument(args.since_checkpoint)
    data = None if args.data is None else _data_dir(args.data)
    source = open_source(node=args.node, data=data, timeout_s=args.timeout)
    try:
        if checkpoint is not None:
            cp_report = verify_checkpoint(source, genesis, checkpoint)
            if args.json:
                print(json.dumps(cp_report.to_json(), indent=2, sort_keys=True))
            else:
                _print_checkpoint_report(cp_report)
            if cp_report.discrepancy is not None:
                _err("audit_failed", cp_report.discrepancy.message())
                return EXIT_FAILED
            if args.write_checkpoint is not None and cp_report.new_checkpoint is not None:
                _write_checkpoint(args.write_checkpoint, cp_report.new_checkpoint)
            return EXIT_OK
        label = f"audit {genesis.chain_id}"
        progress = _Progress(label) if args.progress_every > 0 else None
        if progress is not None:
            _note(f"{label}: auditing {source.describe()} up to height "
                  f"{args.to_height or source.latest_height()}")
        report = run_audit(source, genesis, progress=progress,
                           progress_every=args.progress_every, to_height=args.to_height)
        if args.json:
            print(json.dumps(report.to_json(), indent=2, sort_keys=True))
        else:
            _print_report(report)
        if report.discrepancy is not None:
            _err("audit_failed", report.discrepancy.message())
            return EXIT_FAILED
        if args.write_checkpoint is not None:
            _write_checkpoint(args.write_checkpoint, report.checkpoint())
        return EXIT_OK
    finally:
        source.close()


def run(args: argparse.Namespace) -> int:
    """Run ``fcl audit``; returns the exit code (never raises for expected errors)."""
    try:
        return _audit(args)
    except LedgerError as exc:
        _err(exc.code, exc.message)
        return EXIT_INPUT if exc.code in _INPUT_CODES else EXIT_UNABLE
    except plyvel.Error as exc:
        _err("store_error", f"the store cannot be read: {exc}")
        return EXIT_UNABLE
    except sqlite3.Error as exc:
        _err("replay_store", f"the audit's scratch database failed: {exc}")
        return EXIT_UNABLE
    except StorageFailure as exc:
        _err(exc.code, exc.message)
        return EXIT_UNABLE
    except KeyboardInterrupt:
        _err("interrupted", "the audit was interrupted")
        return 130
