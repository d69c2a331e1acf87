"""The one set of transactions whose signatures this node has verified.

A transaction's signatures are verified at most once on a node: when admission admits it
(``node/txpool/admission.py``; the mempool records it, ``node/txpool/mempool.py``) or when a
proposal or synced block carrying it is checked before the gossip brought it
(``node/chain/app.py`` through ``ledger.next_block.check_body``). Whichever comes first
records it here; the others look it up instead of verifying again.

* **Key**: SHA-256 of the transaction's exact signed bytes
  (``Transaction.canonical_bytes``: payload *and* signatures). The tx id covers the payload
  only, so a transaction with the same id but other signatures has another key and is
  verified (and refused) on its own.
* **Bound**: at most ``max_entries``. When full, the entry recorded longest ago is dropped
  (first in, first out; recording an entry again makes it the newest). Dropping an entry
  only costs one more verification later; it never lets an unverified signature through.
* **Leaving**: :meth:`VerifiedTxs.discard` is called with the transactions of every
  committed block (``Application.commit_block``): a committed id can never be admitted or
  included again (``duplicate_tx``), so its entry has no further use.

One object per node, made by ``node/runtime.py`` and passed to the mempool (and through it
to admission) and to the application. It lives in ``node.chain`` because every user may
import that stage (``tests/test_layers.py``). Filled from the event loop (admission) and the
application's worker thread (block checks and commits), so it takes a lock.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable

from ledger.tx import Transaction

__all__ = ["DEFAULT_MAX_ENTRIES", "VerifiedTxs"]

#: Enough for a full default mempool (10,000) and several blocks of proposals verified
#: before their gossip arrived.
DEFAULT_MAX_ENTRIES = 50_000


def _key(tx: Transaction) -> bytes:
    return tx.canonical_digest  # SHA-256 of tx.canonical_bytes, computed once per object


class VerifiedTxs:
    """Transactions (exact signed bytes) whose signatures verified on this node; bounded,
    oldest dropped first; committed ones removed."""

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be positive")
        self.max_entries = max_entries
        self._keys: OrderedDict[bytes, None] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, tx: object) -> bool:
        if not isinstance(tx, Transaction):
            return False
        key = _key(tx)
        with self._lock:
            return key in self._keys

    def add(self, tx: Transaction) -> None:
        """Record ``tx`` as verified (the caller verified it, or it came from the mempool,
        which holds only verified transactions)."""
        key = _key(tx)
        with self._lock:
            self._keys[key] = None
            self._keys.move_to_end(key)
            while len(self._keys) > self.max_entries:
                self._keys.popitem(last=False)

    def discard(self, txs: Iterable[Transaction]) -> None:
        """Forget ``txs`` (the transactions of a committed block); unknown ones are ignored."""
        keys = [_key(tx) for tx in txs]
        with self._lock:
            for key in keys:
                self._keys.pop(key, None)
