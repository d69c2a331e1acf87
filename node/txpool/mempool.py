"""The mempool: admitted (decoded, well-formed, signature-verified) transactions waiting
for a block, in arrival order.

Bounded by count and by bytes; a transaction id is held at most once. It is not
persisted: after a restart clients resubmit what was not committed (``docs/node.md``).
Not thread-safe: the node touches it only from its event loop.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

from ledger.errors import TxError
from ledger.tx import Transaction
from node.chain.verified import VerifiedTxs

__all__ = ["Mempool"]

DEFAULT_MAX_TXS = 10_000
DEFAULT_MAX_BYTES = 64 * 1024 * 1024


class Mempool:
    """FIFO of verified transactions keyed by tx id.

    ``verified`` is the node's one :class:`~node.chain.verified.VerifiedTxs` (a new one if
    not given): every transaction added here is recorded in it, so that a block carrying
    it is not verified again (``Application``), and admission consults it."""

    def __init__(
        self,
        max_txs: int = DEFAULT_MAX_TXS,
        max_bytes: int = DEFAULT_MAX_BYTES,
        *,
        verified: VerifiedTxs | None = None,
    ) -> None:
        if max_txs < 1 or max_bytes < 1:
            raise ValueError("mempool limits must be positive")
        self.verified = verified if verified is not None else VerifiedTxs()
        self.max_txs = max_txs
        self.max_bytes = max_bytes
        self._txs: OrderedDict[str, tuple[Transaction, int]] = OrderedDict()
        self._bytes = 0
        self._by_json: dict[str, Transaction] = {}  # tx_json_key -> tx (see by_json_key)
        self._json_of: dict[str, str] = {}  # tx id -> its json key

    def __len__(self) -> int:
        return len(self._txs)

    def __contains__(self, tx_id: object) -> bool:
        return tx_id in self._txs

    @property
    def size_bytes(self) -> int:
        """Sum of the canonical sizes of the held transactions."""
        return self._bytes

    def get(self, tx_id: str) -> Transaction | None:
        entry = self._txs.get(tx_id)
        return None if entry is None else entry[0]

    def check_room(self, size: int) -> None:
        """Raise ``TxError('mempool_full')`` unless a transaction of ``size`` bytes fits."""
        if len(self._txs) >= self.max_txs or self._bytes + size > self.max_bytes:
            raise TxError(
                "mempool_full",
                f"the mempool is full ({len(self._txs)} transactions, {self._bytes} bytes); "
                "retry later",
            )

    def by_json_key(self, key: str) -> Transaction | None:
        """The held transaction whose decoded JSON had exactly this
        ``node.chain.blockcodec.tx_json_key`` (given to :meth:`add`), or None. Safe to call from
        another thread (a single dict lookup)."""
        return self._by_json.get(key)

    def add(self, tx: Transaction, size: int, json_key: str | None = None) -> None:
        """Append a verified transaction of canonical size ``size`` (and record it in
        :attr:`verified`); ``json_key`` (its ``tx_json_key``) lets block decoding reuse it.

        Raises ``TxError('duplicate_tx')`` if its id is already held and
        ``TxError('mempool_full')`` if a limit would be exceeded; nothing changes then."""
        # Kept though admission checked both just before: these hold the pool's own
        # invariants (one entry per id, its bounds) for every caller, and admission had to
        # check first, before the costly signature step, for client and gossip input.
        if tx.tx_id in self._txs:
            raise TxError("duplicate_tx", f"transaction {tx.tx_id} is already pending")
        self.check_room(size)
        self._txs[tx.tx_id] = (tx, size)
        self._bytes += size
        self.verified.add(tx)
        if json_key is not None:
            self._by_json[json_key] = tx
            self._json_of[tx.tx_id] = json_key

    def reap(self, max_txs: int, max_bytes: int) -> list[Transaction]:
        """The oldest transactions, in order, up to ``max_txs`` and ``max_bytes`` in total
        (always at least one if any is pending and ``max_txs >= 1``). They stay in the pool
        until :meth:`remove` (after they are committed)."""
        out: list[Transaction] = []
        total = 0
        for tx, size in self._txs.values():
            if len(out) >= max_txs or (out and total + size > max_bytes):
                break
            out.append(tx)
            total += size
        return out

    def remove(self, tx_ids: Iterable[str]) -> int:
        """Drop the given ids (committed transactions); unknown ids are ignored. Returns how
        many were removed."""
        removed = 0
        for tx_id in tx_ids:
            entry = self._txs.pop(tx_id, None)
            if entry is not None:
                self._bytes -= entry[1]
                removed += 1
                key = self._json_of.pop(tx_id, None)
                if key is not None:
                    self._by_json.pop(key, None)
        return removed
