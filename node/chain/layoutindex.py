"""The block-layout index: each committed block's :class:`~ledger.block_layout.BlockLayout`
(the byte length of its header and of each result and transaction), written by the node
at commit in the store's ``x/`` space (outside the consensus state: no state root, block
or vote depends on it) and rebuilt from the blocks when missing. A certificate builder
(``node.api.certificates``) reads through it only the transactions and results a
certificate cites, and hashes the others' byte slices for the inclusion proofs, instead
of decoding every transaction of every block it cites.

==================================  =======================================================
key (under ``x/``)                  value
==================================  =======================================================
``layout/b/<8-byte height>``        ``BlockLayout.to_bytes()`` of block ``height``: the
                                    byte lengths of its header, results and transactions,
                                    and the root of each run of 32 results and of 32
                                    transactions (``ledger/block_layout.py``)
``layout/upto``                     8-byte height: blocks ``1..upto`` have their entry
==================================  =======================================================

The index is never trusted: a reader checks every layout it uses against the block's
``txs_root`` and ``results_root`` (``ledger.block_layout.StoredBlock``: the chunk roots'
tree must give them, and a chunk's slices its root before any is read) and, on a mismatch
or a missing entry, finds the layout in the stored block itself (``scan_layout``). So a block
committed without its entry (by a tool writing the store directly) costs a scan, never a
wrong answer; :func:`catch_up` (run when the application opens the store) writes the
entries of every block above ``layout/upto``.
"""

from __future__ import annotations

from ledger.block import Block
from ledger.block_layout import BlockLayout, StoredBlock, layout_of
from node.chain.extraindex import ExtraReader, ExtraStore, height_key, upto_mark

__all__ = ["BLOCK", "UPTO", "LayoutIndex", "catch_up", "entries", "indexed_upto"]

BLOCK = b"layout/b/"
UPTO = b"layout/upto"


def indexed_upto(store: ExtraReader) -> int:
    """The height up to which every block has its layout entry (0: none)."""
    return upto_mark(store, UPTO)


def entries(block: Block, upto: int) -> list[tuple[bytes, bytes]]:
    """The index entries of ``block`` (``upto``: the index's height before it): its layout,
    from the lengths of the canonical parts its stored bytes are joined from."""
    h8 = height_key(block.height)
    out = [(BLOCK + h8, layout_of(block).to_bytes())]
    if upto == block.height - 1:
        out.append((UPTO, h8))
    return out


def catch_up(store: ExtraStore, batch_blocks: int = 50) -> int:
    """Write the layout of every committed block above ``layout/upto`` (a store written
    before the index existed, or by a tool), scanning each stored block once (a block the
    store does not hold, below a state-sync snapshot's height, gets none); returns how
    many blocks were indexed. Each block is checked against its header's roots (a block
    that does not hash to them raises ``BlockError``)."""
    upto = indexed_upto(store)
    latest = store.latest_height()
    done = 0
    while upto < latest:
        pending: list[tuple[bytes, bytes]] = []
        top = min(latest, upto + batch_blocks)
        for height in range(upto + 1, top + 1):
            raw = store.get_block_json(height)
            if raw is None:  # a store started from a state-sync snapshot has no early blocks
                continue
            pending.append((BLOCK + height_key(height), StoredBlock.scan(raw).checked_layout().to_bytes()))
            done += 1
        pending.append((UPTO, height_key(top)))
        store.put_extra(pending)
        upto = top
    return done


class LayoutIndex:
    """Reads of the index over one store."""

    def __init__(self, store: ExtraReader) -> None:
        self.store = store

    def get(self, height: int) -> BlockLayout | None:
        """The indexed layout of block ``height`` (None if there is none or it is not a
        layout)."""
        raw = self.store.get_extra(BLOCK + height_key(height))
        if raw is None:
            return None
        try:
            return BlockLayout.from_bytes(raw)
        except ValueError:
            return None
