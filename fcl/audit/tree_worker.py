"""The audit's state tree in a second process (docs/audit.md "Two processes").

The state root of block H depends on the write set the re-execution of block H gave,
and nothing that executes later depends on it: the auditor only compares it with the
header's ``state_root``. So a worker process keeps the replay's state tree and computes
the roots while the auditor goes on executing the next block; the auditor compares
each root when it arrives (``fcl.audit.full.ChainAuditor``, ``pipeline=True``), and
settles every pending one before it reports anything, so that the findings are those of
the one-process replay.

The worker is a fresh interpreter (``python -m fcl.audit.tree_worker``), not a fork of
the auditor, whose LevelDB handles and threads (LevelDB's background compaction thread
is one per process) a fork would copy in an unusable state; nor a ``multiprocessing``
child, which would import the caller's main module again. It keeps no tree records at
all: the roots come from ``ledger.root_tree.RootTree``, which holds the key hashes and
leaf hashes of the state in memory and computes the same root as ``StateTree``
(docs/audit.md "Two processes").

Given the path of the auditor's scratch state file (``python -m fcl.audit.tree_worker
READ_FD WRITE_FD STATE_FILE``; ``ledger.replay_store.ReplayStore.open(shared=True)``), the
worker also writes each version's state writes there, before it answers that version's
root: the auditor keeps them pending in memory until then
(``DBState.apply(..., version=h)``), so that the database writes -- a fifth of the
auditor's time at 1M transactions -- are done on the other core.

Protocol, over one pipe: the auditor sends ``(version, writes)`` (the write set as
``ledger.state.WriteSet`` takes it) and the worker answers, in the same order,
``(version, root)`` or ``("error", code, message)`` for a ``LedgerError`` the tree raised
(re-raised in the auditor as the same code) or a failure of the state file (code
``replay_store``); ``("sigs", height, txs)`` asks for the signatures of a block's
transactions to be verified, answered ``("sigs", height, unverified indexes)``; ``None``
ends the worker, which answers ``("done", cpu_seconds, peak_rss_mb)`` (for the
benchmarks).
"""

from __future__ import annotations

import gc
import os
import pickle
import queue
import resource
import sqlite3
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import NoReturn

from fcl.audit.checks import AuditError
from ledger.crypto import verify
from ledger.errors import LedgerError
from ledger.replay_store import block_rows
from ledger.root_tree import RootTree
from ledger.sqlite_kv import SQLiteDB
from ledger.state import WriteSet

__all__ = ["TreeWorker"]

Writes = Sequence[tuple[str, bytes | None]]
Signed = tuple[Sequence[str], bytes, Sequence[str]]
"""A transaction's signers (hex keys), payload bytes and signatures (hex)."""

# the page cache of the worker's connection to the auditor's state file (it writes there)
STATE_CACHE_BYTES = 64 << 20


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _unverified(txs: Sequence[Signed]) -> list[int]:
    """The indexes of the transactions whose signatures do not all verify (or that are
    not well-formed enough to say): the auditor verifies those itself."""
    bad = []
    for index, (signers, payload, signatures) in enumerate(txs):
        try:
            ok = len(signers) == len(signatures) and all(
                verify(bytes.fromhex(signer), payload, bytes.fromhex(sig))
                for signer, sig in zip(signers, signatures, strict=True)
            )
        except (ValueError, TypeError):
            ok = False
        if not ok:
            bad.append(index)
    return bad


def _drain(conn_in: Connection, inbox: queue.SimpleQueue[bytes | None]) -> None:
    """Read the auditor's messages as they come (a thread of the worker), so that its
    send never waits for the tree to finish the block before."""
    try:
        while True:
            inbox.put(conn_in.recv_bytes())
    except (EOFError, OSError):
        inbox.put(None)


def _serve(conn_in: Connection, conn_out: Connection, state_file: str | None) -> None:
    """The worker's loop (in the worker process)."""
    inbox: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
    threading.Thread(target=_drain, args=(conn_in, inbox), daemon=True).start()
    db = None
    try:
        if state_file is not None:
            try:
                db = SQLiteDB.attach(state_file, cache_bytes=STATE_CACHE_BYTES)
            except (OSError, sqlite3.Error) as exc:
                conn_out.send(("error", "replay_store", f"cannot open {state_file}: {exc}"))
                return
        tree = RootTree()
        # the tree's 2^20 buckets, one list, stay alive to the end: frozen, the cyclic
        # collector's full collections no longer walk them (4.7 % of this process at
        # 100k transactions, 0.8 % frozen; they hold bytes only, which it never collects)
        gc.collect()
        gc.freeze()
        while True:
            raw = inbox.get()
            if raw is None:
                raise EOFError  # the auditor is gone
            message = pickle.loads(raw)
            if message is None:
                conn_out.send(("done", time.process_time(), _peak_rss_mb()))
                return
            if message[0] == "sigs":
                conn_out.send(("sigs", message[1], _unverified(message[2])))
                continue
            version, writes = message
            try:
                root = tree.apply(version, WriteSet(writes).tree_changes())
            except LedgerError as exc:
                conn_out.send(("error", exc.code, exc.message))
                return
            if db is not None:
                # the replayed state's writes, in the database before the root is
                # answered: the auditor reads them there from then on
                try:
                    db.apply(block_rows(writes))
                except sqlite3.Error as exc:
                    conn_out.send(("error", "replay_store",
                                   f"cannot write version {version} to {state_file}: {exc}"))
                    return
            conn_out.send((version, root))
    except (EOFError, BrokenPipeError, KeyboardInterrupt):
        return  # the auditor is gone, or the user stopped both
    finally:
        if db is not None:
            db.close()


class TreeWorker:
    """A worker process that keeps a state tree: :meth:`submit` the write set of each
    version in turn, read the roots back in the same order with :meth:`result`."""

    def __init__(self, state_file: Path | None = None) -> None:
        to_child, from_parent = os.pipe()[::-1]
        from_child, to_parent = os.pipe()
        # the package's folder first on the path: the worker runs this very code
        root = str(Path(__file__).resolve().parent.parent.parent)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "fcl.audit.tree_worker", str(from_parent),
                 str(to_parent)] + ([] if state_file is None else [str(state_file)]),
                pass_fds=(from_parent, to_parent), env=env, stdin=subprocess.DEVNULL,
            )
        except OSError as exc:
            os.close(to_child)
            os.close(from_child)
            raise AuditError(
                "worker_failed", f"cannot start the audit's state tree process: {exc}"
            ) from None
        finally:
            os.close(from_parent)
            os.close(to_parent)
        self._out = Connection(to_child, readable=False)
        self._in = Connection(from_child, writable=False)
        self.submitted = 0
        self.answered = 0
        self._roots: deque[tuple[int, bytes]] = deque()  # read while waiting for others
        self._sigs: dict[int, list[int]] = {}
        self.cpu_s = 0.0
        """The worker's CPU seconds and peak RSS, once :meth:`close` has ended it."""
        self.rss_mb = 0.0

    def submit(self, version: int, writes: Writes) -> None:
        """Send ``version``'s write set (the tree applies it over the previous one; with a
        state file, it is written there before the root is answered)."""
        try:
            self._out.send((version, list(writes)))
        except OSError:
            self._failed()
        self.submitted += 1

    def submit_signatures(self, height: int, txs: Sequence[Signed]) -> None:
        """Send block ``height``'s transactions for their signatures to be verified
        (:meth:`unverified` reads the answer)."""
        try:
            self._out.send(("sigs", height, list(txs)))
        except OSError:
            self._failed()

    def unverified(self, height: int) -> list[int]:
        """The indexes of block ``height``'s transactions whose signatures the worker
        could not verify (waiting for the answer; roots read meanwhile are kept)."""
        while height not in self._sigs:
            self._read()
        return self._sigs.pop(height)

    def ready(self) -> bool:
        """True if a root can be read without waiting."""
        if self._roots:
            return True
        while self.answered < self.submitted and self._in.poll():
            self._read()
            if self._roots:
                return True
        return False

    def result(self) -> tuple[int, bytes]:
        """The next root: ``(version, root)``; a tree error is re-raised as it was."""
        while not self._roots:
            self._read()
        return self._roots.popleft()

    def _read(self) -> None:
        try:
            answer = self._in.recv()
        except (EOFError, OSError):
            self._failed()
        if answer[0] == "sigs":
            self._sigs[answer[1]] = answer[2]
            return
        self.answered += 1
        if answer[0] == "error":
            raise LedgerError(answer[1], answer[2])
        self._roots.append((answer[0], answer[1]))

    def _failed(self) -> NoReturn:
        try:
            code = self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            code = None
        raise AuditError(
            "worker_failed",
            f"the audit's state tree process ended unexpectedly (exit code {code}); run "
            "the audit again",
        )

    def close(self) -> None:
        """End the worker (it deletes its scratch folder) and wait for it."""
        try:
            self._out.send(None)
            while True:  # past the answers nobody waited for
                answer = self._in.recv()
                if answer[0] == "done":
                    self.cpu_s, self.rss_mb = answer[1], answer[2]
                    break
        except (OSError, EOFError):
            pass
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=5)
        self._out.close()
        self._in.close()


def main(argv: list[str]) -> int:
    """``python -m fcl.audit.tree_worker READ_FD WRITE_FD [STATE_FILE]``."""
    conn_in = Connection(int(argv[0]), writable=False)
    conn_out = Connection(int(argv[1]), readable=False)
    _serve(conn_in, conn_out, argv[2] if len(argv) > 2 else None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
