"""The mempool: admitted (decoded, well-formed, signature-verified) transactions waiting
for a block, in arrival order.

Bounded by count and by bytes, in total and per organisation (the organisations of a
transaction's signer keys, which admission looks up: a transaction signed by members of
several organisations counts against each), so that one member cannot crowd out the
others; a transaction id is held at most once. It is not persisted: after a restart clients resubmit what was not committed (``docs/node.md``).
Not thread-safe: the node touches it only from its event loop.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence

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
        max_txs_per_org: int | None = None,
        max_bytes_per_org: int | None = None,
    ) -> None:
        """``max_txs_per_org`` and ``max_bytes_per_org`` bound what one organisation has
        pending (None: the total limit; the node's settings default to a quarter of it,
        ``node/home.py``)."""
        max_txs_per_org = max_txs if max_txs_per_org is None else max_txs_per_org
        max_bytes_per_org = max_bytes if max_bytes_per_org is None else max_bytes_per_org
        if min(max_txs, max_bytes, max_txs_per_org, max_bytes_per_org) < 1:
            raise ValueError("mempool limits must be positive")
        self.verified = verified if verified is not None else VerifiedTxs()
        self.max_txs = max_txs
        self.max_bytes = max_bytes
        self.max_txs_per_org = max_txs_per_org
        self.max_bytes_per_org = max_bytes_per_org
        # tx id -> (tx, its charged size, the organisations it counts against)
        self._txs: OrderedDict[str, tuple[Transaction, int, tuple[str, ...]]] = OrderedDict()
        self._bytes = 0
        self._org_txs: dict[str, int] = {}
        self._org_bytes: dict[str, int] = {}
        self._by_json: dict[str, Transaction] = {}  # tx_json_key -> tx (see by_json_key)
        self._json_of: dict[str, str] = {}  # tx id -> its json key
        # canonical text -> tx (see by_canonical_text); a tx's text is its canonical bytes
        # decoded, so it is found again from its id
        self._by_text: dict[str, Transaction] = {}

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

    def org_usage(self, org_id: str) -> tuple[int, int]:
        """(transactions, bytes) pending that count against organisation ``org_id``."""
        return self._org_txs.get(org_id, 0), self._org_bytes.get(org_id, 0)

    def check_room(self, size: int, orgs: Sequence[str] = ()) -> None:
        """Raise ``TxError('mempool_full')`` unless a transaction of ``size`` bytes fits,
        and ``TxError('org_quota_exceeded')`` unless it fits in the quota of each of
        ``orgs`` (the organisations of its signers)."""
        if len(self._txs) >= self.max_txs or self._bytes + size > self.max_bytes:
            raise TxError(
                "mempool_full",
                f"the mempool is full ({len(self._txs)} transactions, {self._bytes} bytes); "
                "retry later",
            )
        for org_id in orgs:
            txs, used = self.org_usage(org_id)
            if txs >= self.max_txs_per_org or used + size > self.max_bytes_per_org:
                raise TxError(
                    "org_quota_exceeded",
                    f"organisation {org_id} has {txs} transactions ({used} bytes) pending, "
                    f"its quota is {self.max_txs_per_org} ({self.max_bytes_per_org} bytes); "
                    "retry after some are committed",
                )

    def by_json_key(self, key: str) -> Transaction | None:
        """The held transaction whose decoded JSON had exactly this
        ``node.chain.blockcodec.tx_json_key`` (given to :meth:`add`), or None. Safe to call from
        another thread (a single dict lookup)."""
        return self._by_json.get(key)

    def by_canonical_text(self, text: str) -> Transaction | None:
        """The held transaction whose canonical bytes, decoded as UTF-8, are ``text``, or
        None (what a proposal's fast decoding looks up, ``BlockCodec.decode_text``). Safe to
        call from another thread (a single dict lookup)."""
        return self._by_text.get(text)

    def add(
        self,
        tx: Transaction,
        size: int,
        json_key: str | None = None,
        orgs: Sequence[str] = (),
    ) -> None:
        """Append a verified transaction of canonical size ``size`` (and record it in
        :attr:`verified`); ``json_key`` (its ``tx_json_key``) lets block decoding reuse it;
        ``orgs`` are the organisations of its signers, whose quotas it counts against.

        Raises ``TxError('duplicate_tx')`` if its id is already held and
        ``TxError('mempool_full')`` or ``TxError('org_quota_exceeded')`` if a limit would be
        exceeded; nothing changes then."""
        # Kept though admission checked both just before: these hold the pool's own
        # invariants (one entry per id, its bounds) for every caller, and admission had to
        # check first, before the costly signature step, for client and gossip input.
        if tx.tx_id in self._txs:
            raise TxError("duplicate_tx", f"transaction {tx.tx_id} is already pending")
        orgs = tuple(dict.fromkeys(orgs))
        self.check_room(size, orgs)
        self._txs[tx.tx_id] = (tx, size, orgs)
        self._bytes += size
        for org_id in orgs:
            self._org_txs[org_id] = self._org_txs.get(org_id, 0) + 1
            self._org_bytes[org_id] = self._org_bytes.get(org_id, 0) + size
        self.verified.add(tx)
        self._by_text[tx.canonical_text] = tx
        if json_key is not None:
            self._by_json[json_key] = tx
            self._json_of[tx.tx_id] = json_key

    def reap(self, max_txs: int, max_bytes: int) -> list[Transaction]:
        """The oldest transactions, in order, up to ``max_txs`` and ``max_bytes`` in total
        (always at least one if any is pending and ``max_txs >= 1``). They stay in the pool
        until :meth:`remove` (after they are committed)."""
        out: list[Transaction] = []
        total = 0
        for tx, size, _ in self._txs.values():
            if len(out) >= max_txs or (out and total + size > max_bytes):
                break
            out.append(tx)
            total += size
        return out

    def remove(self, tx_ids: Iterable[str]) -> int:
        """Drop the given ids (committed transactions, or ones a block may no longer carry);
        unknown ids are ignored. Returns how many were removed."""
        removed = 0
        for tx_id in tx_ids:
            entry = self._txs.pop(tx_id, None)
            if entry is not None:
                _, size, orgs = entry
                self._bytes -= size
                for org_id in orgs:
                    left = self._org_txs[org_id] - 1
                    if left:
                        self._org_txs[org_id] = left
                        self._org_bytes[org_id] -= size
                    else:
                        del self._org_txs[org_id]
                        del self._org_bytes[org_id]
                removed += 1
                tx = entry[0]
                self._by_text.pop(tx.canonical_text, None)
                key = self._json_of.pop(tx_id, None)
                if key is not None:
                    self._by_json.pop(key, None)
        return removed

    def recheck(self, refusal: Callable[[Transaction], str | None]) -> list[str]:
        """Drop every held transaction ``refusal`` refuses (CometBFT's "recheck": after a
        block revoked a key or suspended an organisation, what its signers still have
        pending can no longer enter a block). Returns the dropped ids, in arrival order."""
        dropped = [tx_id for tx_id, (tx, _, _) in self._txs.items() if refusal(tx) is not None]
        self.remove(dropped)
        return dropped
