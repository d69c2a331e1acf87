"""The certificate index: where a retirement certificate's linear lookups are answered
from, written by the node at commit in the store's ``x/`` space (outside the consensus
state: no state root, block or vote depends on it) and rebuildable from the blocks.

==================================  =======================================================
key (under ``x/``)                  value
==================================  =======================================================
``cert/plot/<plot id UTF-8>``       8-byte height + 4-byte index (big-endian) of the
                                    successful ``carbon.register_plot`` of that plot
``cert/vchange/<8-byte height>``    empty: block ``height`` changes the validator set
                                    (``next_validators_hash != validators_hash``)
``cert/upto``                       8-byte height: blocks ``1..upto`` are indexed
==================================  =======================================================

:func:`entries` gives a block's entries (the application adds them to the block's own
write batch, so the index and the block are committed together); ``cert/upto`` moves only
when it was at the block before, so a block committed without its entries (by a tool
writing the store directly) leaves the index incomplete instead of wrong, and
:func:`catch_up` (run when the application opens the store) indexes every block above
``upto``. A reader (``node.api.certificates``) trusts the index for blocks ``<= upto``
and still scans any block above it.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Protocol

from ledger.block import Block
from node.chain.extraindex import ExtraReader, ExtraStore, height_key, upto_mark

__all__ = ["PLOT", "UPTO", "VCHANGE", "CertificateIndex", "catch_up", "entries"]

PLOT = b"cert/plot/"
VCHANGE = b"cert/vchange/"
UPTO = b"cert/upto"
# a stored block is ``{"header":{...},"results":[...],"txs":[...]}`` (canonical JSON)
_HEADER_PREFIX = b'{"header":'
_HEADER_END = b',"results":'
_REGISTER_PLOT = b'"method":"register_plot"'


class _Extra(ExtraReader, Protocol):
    def iter_extra(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]: ...


class _Writable(_Extra, ExtraStore, Protocol):
    pass


def indexed_upto(store: ExtraReader) -> int:
    """The height up to which every block is indexed (0: none)."""
    return upto_mark(store, UPTO)


def _entries(height: int, header: Mapping[str, Any],
             txs: Iterable[tuple[Any, Any, Any, Any]], upto: int) -> list[tuple[bytes, bytes]]:
    """The entries of block ``height``: ``txs`` are ``(contract, method, args, result
    code)`` in block order."""
    h8 = height_key(height)
    out: list[tuple[bytes, bytes]] = []
    for index, (contract, method, args, code) in enumerate(txs):
        if contract == "carbon" and method == "register_plot" and code == "ok" \
                and isinstance(args, dict) and isinstance(args.get("plot_id"), str):
            out.append((PLOT + args["plot_id"].encode("utf-8"), h8 + struct.pack(">I", index)))
    if header["next_validators_hash"] != header["validators_hash"]:
        out.append((VCHANGE + h8, b""))
    if upto == height - 1:
        out.append((UPTO, h8))
    return out


def entries(block: Block, upto: int) -> list[tuple[bytes, bytes]]:
    """The index entries of ``block`` (``upto``: the index's height before it)."""
    header = block.header
    return _entries(
        header.height,
        {"next_validators_hash": header.next_validators_hash,
         "validators_hash": header.validators_hash},
        ((tx.contract, tx.method, tx.args, result.get("code"))
         for tx, result in zip(block.txs, block.results, strict=True)),
        upto,
    )


def entries_of_stored(height: int, raw: bytes, upto: int) -> list[tuple[bytes, bytes]]:
    """:func:`entries` from a stored block's JSON (the node wrote and verified it when it
    committed it: read as plain JSON, without parsing and checking every transaction)."""
    end = raw.find(_HEADER_END)
    if _REGISTER_PLOT not in raw and raw.startswith(_HEADER_PREFIX) and end > 0:
        block = {"header": json.loads(raw[len(_HEADER_PREFIX):end]), "results": [], "txs": []}
    else:  # a block that may register plots: every transaction is looked at
        block = json.loads(raw)
    if block["header"]["height"] != height:
        raise LookupError(f"the stored block {height} says height {block['header']['height']}")
    return _entries(
        height, block["header"],
        ((tx["payload"]["contract"], tx["payload"]["method"], tx["payload"]["args"],
          result.get("code")) for tx, result in zip(block["txs"], block["results"], strict=True)),
        upto,
    )


def catch_up(store: _Writable, batch_blocks: int = 100) -> int:
    """Index every committed block above ``cert/upto`` (a store written before the index
    existed, or by a tool); returns how many blocks were indexed."""
    upto = indexed_upto(store)
    latest = store.latest_height()
    done = 0
    while upto < latest:
        pending: list[tuple[bytes, bytes]] = []
        for height in range(upto + 1, min(latest, upto + batch_blocks) + 1):
            raw = store.get_block_json(height)
            if raw is None:
                raise LookupError(f"block {height} is missing")
            pending += entries_of_stored(height, raw, height - 1)
            done += 1
        store.put_extra(pending)
        upto = indexed_upto(store)
    return done


class CertificateIndex:
    """Reads of the index over one store."""

    def __init__(self, store: _Extra) -> None:
        self.store = store

    def upto(self) -> int:
        return indexed_upto(self.store)

    def plot_registration(self, plot_id: str) -> tuple[int, int] | None:
        """(height, index) of the successful registration of ``plot_id``, if indexed."""
        raw = self.store.get_extra(PLOT + plot_id.encode("utf-8"))
        if raw is None or len(raw) != 12:
            return None
        height, index = struct.unpack(">QI", raw)
        return int(height), int(index)

    def changes(self, below: int) -> list[int]:
        """Heights ``< below`` of the indexed blocks that change the validator set."""
        out = []
        for key, _value in self.store.iter_extra(VCHANGE):
            height = int(struct.unpack(">Q", key[len(VCHANGE):])[0])
            if height >= below:
                break
            out.append(height)
        return out
