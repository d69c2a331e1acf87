"""Executes blocks of transactions through the contracts, deterministically.

Every transaction runs in its own child overlay of the block's overlay: all its writes
reach the block, or none do. Its result is recorded either way: ``"ok"`` with the events
it emitted, or a stable error code and a message. The executor never drops a transaction.

Signatures are verified once per node before a transaction reaches the executor (at
admission to the mempool, or when a proposal or a synced block is checked), so the
executor trusts ``tx.signers``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from chaincode.framework import (
    BlockContext,
    ChaincodeError,
    Contract,
    MethodSpec,
    SignerCache,
    TxContext,
)
from chaincode.registry import default_contracts
from chaincode.schema import SchemaError, validate_args
from chaincode.validator_state import VALIDATORS_KEY
from ledger.block import tx_result
from ledger.encoding import canonical, decode_state
from ledger.errors import StorageFailure
from ledger.genesis import Genesis
from ledger.state import MemoryState, Overlay, ReadCache, StateReader
from ledger.tx import Transaction

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class BlockExecution:
    results: list[dict[str, Any]]
    writes: list[tuple[str, bytes | None]]  # sorted by key


class Executor:
    def __init__(self, contracts: Sequence[Contract] | None = None) -> None:
        if contracts is None:
            contracts = default_contracts()
        self.contracts: dict[str, Contract] = {}
        self._methods: dict[tuple[str, str], tuple[Contract, MethodSpec]] = {}
        for c in contracts:
            if not c.name or c.name in self.contracts:
                raise ValueError(f"contract name {c.name!r} is empty or used twice")
            self.contracts[c.name] = c
            for name, spec in c.methods().items():
                self._methods[(c.name, name)] = (c, spec)

    def method_specs(self) -> list[tuple[str, MethodSpec]]:
        return sorted(((c, spec) for (c, _), (_, spec) in self._methods.items()), key=lambda x: (x[0], x[1].name))

    # -- genesis -------------------------------------------------------------------------
    def genesis_writes(self, genesis: Genesis) -> list[tuple[str, bytes | None]]:
        overlay = Overlay(MemoryState())

        def put(key: str, value: Any) -> None:
            overlay.put(key, canonical(value))

        put(VALIDATORS_KEY, {"current": genesis.validators.to_json(), "pending": None})
        for name in sorted(self.contracts):
            self.contracts[name].genesis(genesis.app_state, put)
            self.contracts[name].genesis_validators(genesis.validators, genesis.app_state, put)
        return overlay.write_set()

    # -- blocks --------------------------------------------------------------------------
    def execute_block(
        self, state: StateReader, ctx: BlockContext, txs: Sequence[Transaction]
    ) -> BlockExecution:
        """Run ``txs`` in order on ``state`` (read only, and not changed by anyone while
        this runs: the committed state or a snapshot of it) and return their results and
        the block's write set.

        The block's point reads of ``state`` are remembered for the block
        (:class:`~ledger.state.ReadCache`): most transactions of a block read the same
        few key and organisation records, which then cost one read per block instead of
        one per transaction."""
        block_overlay = Overlay(ReadCache(state))
        self._promote_validators(block_overlay, ctx.height)
        signer_cache = SignerCache()
        results = []
        for index, tx in enumerate(txs):
            results.append(self._execute_tx(block_overlay, ctx, tx, index, signer_cache))
        return BlockExecution(results=results, writes=block_overlay.write_set())

    def _promote_validators(self, overlay: Overlay, height: int) -> None:
        raw = overlay.get(VALIDATORS_KEY)
        if raw is None:
            return
        record = decode_state(raw)
        pending = record.get("pending")
        if pending is not None and height >= pending["height"]:
            overlay.put(
                VALIDATORS_KEY, canonical({"current": pending["validators"], "pending": None})
            )

    def _execute_tx(
        self,
        block_overlay: Overlay,
        ctx: BlockContext,
        tx: Transaction,
        index: int,
        signer_cache: SignerCache | None = None,
    ) -> dict[str, Any]:
        entry = self._methods.get((tx.contract, tx.method))
        if entry is None:
            code = "unknown_contract" if tx.contract not in self.contracts else "unknown_method"
            return tx_result(tx.tx_id, code, f"no method {tx.contract}.{tx.method}", [])
        contract, spec = entry
        try:
            args = validate_args(spec.args, tx.args)
        except SchemaError as exc:
            return tx_result(tx.tx_id, "invalid_args", str(exc), [])
        tx_overlay = block_overlay.child()
        tctx = TxContext(tx_overlay, ctx, tx.tx_id, tx.signers, index, signer_cache=signer_cache)
        try:
            if spec.roles:
                tctx.signer_with_role(*spec.roles)
            elif not tctx.signers():
                # permissioned admission (membership.check_signers) kept every signer out
                # that the block's starting state does not admit; this catches a key
                # revoked, or an organisation suspended, earlier in the same block
                raise ChaincodeError("unauthorized", "no signer is an enrolled, active member key")
            value = spec.fn(contract, tctx, args)
        except ChaincodeError as exc:
            return tx_result(tx.tx_id, exc.code, exc.message, [])
        except StorageFailure:
            raise  # the machine's storage failed: no result of this transaction at all
        except Exception as exc:  # a bug in a contract: deterministic, but never a crash
            log.exception("contract %s.%s raised", tx.contract, tx.method)
            return tx_result(tx.tx_id, "internal_error", f"contract error {type(exc).__name__}", [])
        tx_overlay.commit()
        # tx_result(tx.tx_id, "ok", "", events) without copying the event dicts again:
        # ``emit`` made each of them for this transaction alone, and ``tctx`` ends here
        events = tctx.events
        if value is not None:
            if not isinstance(value, Mapping):
                raise AssertionError("a contract method returns a mapping or None")
            events.append({"type": "return", **dict(value)})
        return {"code": "ok", "events": events, "message": "", "tx_id": tx.tx_id}
