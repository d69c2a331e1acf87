"""The running node as the RPC sees it: admission into the mempool, and read-only
queries over the committed chain. Everything here runs on the event loop thread; block
production (``node/solo.py`` or, later, the BFT consensus) commits through the
application on its own.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from ledger.errors import LedgerError
from ledger.genesis import Genesis
from ledger.store import Store
from node.admission import Admission
from node.app import Application
from node.mempool import Mempool

__all__ = ["Node", "VERSION"]

VERSION = "0.1.0"
_BLOCK_CACHE = 64


class Node:
    """The pieces a serving node is made of, and the queries the RPC answers."""

    def __init__(
        self,
        *,
        moniker: str,
        genesis: Genesis,
        store: Store,
        app: Application,
        mempool: Mempool,
        on_admit: Callable[[], None] = lambda: None,
    ) -> None:
        self.moniker = moniker
        self.genesis = genesis
        self.chain_id = genesis.chain_id
        self.store = store
        self.app = app
        self.mempool = mempool
        self.admission = Admission(genesis.chain_id, store, mempool)
        self.on_admit = on_admit
        self.halted: str | None = None  # why block production stopped, if it did
        self._blocks: OrderedDict[int, dict[str, Any]] = OrderedDict()

    # -- writes ----------------------------------------------------------------------------
    def submit(self, obj: Any) -> str:
        """Admit one decoded transaction; return its id. Raises ``LedgerError``."""
        tx = self.admission.admit(obj)
        self.on_admit()
        return tx.tx_id

    def submit_raw(self, raw: bytes) -> str:
        """Admit one transaction from request bytes; return its id."""
        tx = self.admission.admit_raw(raw)
        self.on_admit()
        return tx.tx_id

    def submit_many(self, items: list[Any]) -> list[dict[str, Any]]:
        """Admit each decoded transaction independently; one outcome per item."""
        out: list[dict[str, Any]] = []
        for index, obj in enumerate(items):
            try:
                tx = self.admission.admit(obj)
            except LedgerError as exc:
                out.append(
                    {"index": index, "ok": False,
                     "error": {"code": exc.code, "message": exc.message}}
                )
            else:
                out.append({"index": index, "ok": True, "tx_id": tx.tx_id})
        if any(item["ok"] for item in out):
            self.on_admit()
        return out

    # -- reads -----------------------------------------------------------------------------
    def _block_dict(self, height: int) -> dict[str, Any] | None:
        cached = self._blocks.get(height)
        if cached is not None:
            self._blocks.move_to_end(height)
            return cached
        raw = self.store.get_block_json(height)
        if raw is None:
            return None
        block = json.loads(raw)
        self._blocks[height] = block
        if len(self._blocks) > _BLOCK_CACHE:
            self._blocks.popitem(last=False)
        return block

    def tx_status(self, tx_id: str) -> dict[str, Any] | None:
        """``{"status": "committed"|"pending", "tx_id", "tx", "height", "index", "result"}``
        or None if the node does not know the id. Committed data is checked first."""
        location = self.store.get_tx_location(tx_id)
        if location is not None:
            height, index = location
            block = self._block_dict(height)
            if block is not None:
                return {
                    "status": "committed",
                    "tx_id": tx_id,
                    "tx": block["txs"][index],
                    "height": height,
                    "index": index,
                    "result": block["results"][index],
                }
        pending = self.mempool.get(tx_id)
        if pending is not None:
            return {
                "status": "pending",
                "tx_id": tx_id,
                "tx": pending.to_json(),
                "height": None,
                "index": None,
                "result": None,
            }
        return None

    def block_response(self, height: int) -> bytes | None:
        """JSON bytes ``{"block", "commit", "hash", "height"}`` for a committed height,
        spliced from the stored canonical bytes without decoding them."""
        block = self.store.get_block_json(height)
        commit = self.store.get_commit_json(height)
        block_hash = self.store.get_block_hash(height)
        if block is None or commit is None or block_hash is None:
            return None
        return b"".join(
            (
                b'{"block":', block, b',"commit":', commit,
                b',"hash":"', block_hash.encode(), b'","height":', str(height).encode(), b"}",
            )
        )

    def status(self) -> dict[str, Any]:
        tip = self.app.tip
        return {
            "chain_id": self.chain_id,
            "node": self.moniker,
            "version": VERSION,
            "genesis_hash": self.genesis.hash,
            "height": tip.height,
            "latest_block_hash": tip.block_hash,
            "latest_block_time": tip.time,
            "state_root": tip.state_root,
            "validators": tip.validators.to_json(),
            "validators_hash": tip.validators.hash(),
            "mempool": {"txs": len(self.mempool), "bytes": self.mempool.size_bytes},
            "halted": self.halted,
        }
