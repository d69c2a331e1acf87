"""Re-verify a chain from its genesis, as an auditor who trusts nothing but the genesis.

Two checks (docs/audit.md):

* **Full audit** (:func:`audit_chain`, :func:`run_audit`): every block from height 1 is
  checked against the previous one and re-executed through the chaincode on a fresh
  in-memory state that starts from the genesis writes. The validator set that must sign
  each block is tracked by replaying (``validator_set_for(state, h)``), so every commit
  certificate is checked against the set that the chain itself put in force. The result
  is a report (blocks, transactions, failed transactions, final height, state root,
  history root) or the *first* discrepancy: height, check name, expected, found.
* **Checkpoint check** (:func:`verify_checkpoint`): an auditor who kept a checkpoint
  ``(h, r)`` -- ``r`` is the RFC 9162 root over the hashes of blocks ``1..h``, which is
  ``header(h + 1).history_root`` -- checks that today's chain extends it, with one
  consistency proof and the latest header (and its commit), without downloading blocks.

Blocks come from a :class:`StoreSource` (a node's data folder) or a :class:`NodeSource`
(a node's HTTP API). Memory is bounded apart from the replayed state, the history tree
(two hashes per block at most) and the set of transaction ids seen (for the replay
check); sources hold at most a few blocks at a time.

Errors: a chain that does not verify gives a :class:`Discrepancy` in the report (never an
exception); an audit that cannot run (node unreachable, store in use, bad checkpoint)
raises :class:`AuditError` with a stable code.

This module gathers the public names of the audit; the code lives in

* ``fcl/audit/checks.py``: check names, :class:`Discrepancy`, the errors, shared checks;
* ``fcl/audit/full.py``: the full audit (:class:`ChainAuditor`, its report);
* ``fcl/audit/checkpoint.py``: :class:`Checkpoint` and the checkpoint check;
* ``fcl/audit/sources.py``: the :class:`ChainSource` protocol, :class:`StoreSource`;
* ``fcl/audit/node_source.py``: :class:`NodeSource` (a node's HTTP API);
* ``fcl/audit/blocks.py``: parsing of served blocks and proofs.
"""

from __future__ import annotations

from fcl.audit.blocks import HistoryProof as HistoryProof
from fcl.audit.blocks import SourcedBlock as SourcedBlock
from fcl.audit.checkpoint import Checkpoint, CheckpointReport, verify_checkpoint
from fcl.audit.checks import CHECKS, AuditError, ChainDataError, Discrepancy
from fcl.audit.full import AuditProgress, AuditReport, ChainAuditor, audit_chain, run_audit
from fcl.audit.full import BlockItem as BlockItem
from fcl.audit.full import ProgressCallback as ProgressCallback
from fcl.audit.node_source import DEFAULT_PREFETCH as DEFAULT_PREFETCH
from fcl.audit.node_source import DEFAULT_TIMEOUT_S as DEFAULT_TIMEOUT_S
from fcl.audit.node_source import MAX_RESPONSE_BYTES as MAX_RESPONSE_BYTES
from fcl.audit.node_source import NodeSource
from fcl.audit.sources import ChainSource, StoreSource, open_source

__all__ = [
    "CHECKS",
    "AuditError",
    "AuditProgress",
    "AuditReport",
    "ChainAuditor",
    "ChainDataError",
    "ChainSource",
    "Checkpoint",
    "CheckpointReport",
    "Discrepancy",
    "NodeSource",
    "StoreSource",
    "audit_chain",
    "open_source",
    "run_audit",
    "verify_checkpoint",
]
