"""Where each part of a stored block lies in its bytes, and a reader of a stored block that
decodes only the transactions and results asked for.

A stored block is ``canonical(block.to_json())`` (``Block.canonical_bytes``)::

    {"header":<header>,"results":[<r0>,<r1>,...],"txs":[<t0>,<t1>,...]}

and each ``<ri>`` / ``<ti>`` is exactly the leaf data of the block's results / transactions
tree (RFC 9162; ``ledger.certificate.result_leaf`` / ``tx_leaf`` are ``canonical`` of the
element). So a block's leaf hashes, roots and inclusion proofs can be computed from byte
slices of the stored block, without decoding its other transactions: what a retirement
certificate needs from each block it cites (docs/performance.md, "The scale benchmark").

:class:`BlockLayout` is the byte length of the header and of every element; it is known
for free when a block is committed (:func:`layout_of`: the lengths of the canonical parts
the block's bytes are joined from) and can be found again in a stored block
(:func:`scan_layout`, which decodes it once, element by element). :class:`StoredBlock`
reads a stored block through a layout and checks it against the header's two roots (with
the layout's chunk roots, hashing only the chunks of 32 leaves it reads; without, every
leaf once), so a wrong or stale layout is detected and replaced by the block's own, never
trusted.
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

from ledger.block import CHUNK, Block, BlockHeader, chunk_roots
from ledger.errors import BlockError
from ledger.merkle import EMPTY_ROOT
from ledger.tx import Transaction, parse_transaction

__all__ = ["CHUNK", "LAYOUT_VERSION", "BlockLayout", "MerkleLevels", "StoredBlock", "chunk_roots",
           "layout_of", "scan_layout"]

#: The first byte of :meth:`BlockLayout.to_bytes`.
LAYOUT_VERSION = 1
# Leaves per chunk (``ledger.block.CHUNK``, 32): a layout may carry the root of each run of
# ``CHUNK`` leaves (the tree's nodes at height 5, ``ledger.block.chunk_roots``), so that a
# proof hashes one chunk's leaves, not the block's.

_OPEN = b'{"header":'
_RESULTS = b',"results":['
_TXS = b'],"txs":['
_CLOSE = b"]}"
_DECODER = json.JSONDecoder()
_LEAF = b"\x00"
_NODE = b"\x01"
_MAX_ELEMENTS = 1 << 20


class MerkleLevels:
    """Every node of the RFC 9162 tree over some leaf hashes, level by level, so that its
    root and any number of inclusion proofs cost the n - 1 node hashes once (``ledger.merkle``
    rebuilds the subtrees for each proof). Built bottom-up: neighbours are paired and an
    unpaired last node is carried up unchanged, which is exactly RFC 9162's left-balanced
    tree (``ledger.merkle._mth`` says the same); a proof then takes, level by level, the
    node paired with the path's node, and nothing where that node is carried up. Node
    ``j`` of level ``L`` is the root of leaves ``j * 2**L .. min((j + 1) * 2**L, n) - 1``:
    so the tree over the roots of consecutive runs of ``2**L`` leaves is the top of the
    whole tree (what :class:`StoredBlock` uses with :data:`CHUNK` = 2**5)."""

    def __init__(self, leaf_hashes: list[bytes]) -> None:
        self.levels = [leaf_hashes]
        level = leaf_hashes
        sha = hashlib.sha256
        while len(level) > 1:
            nxt = [sha(_NODE + level[i] + level[i + 1]).digest()
                   for i in range(0, len(level) - 1, 2)]
            if len(level) % 2:
                nxt.append(level[-1])
            self.levels.append(nxt)
            level = nxt

    @property
    def size(self) -> int:
        return len(self.levels[0])

    def root(self) -> bytes:
        """The Merkle Tree Hash (``EMPTY_ROOT`` for no leaves)."""
        return self.levels[-1][0] if self.levels[0] else EMPTY_ROOT

    def proof(self, index: int) -> list[bytes]:
        """``PATH(index, D[n])`` (RFC 9162 §2.1.3.1), bottom-up: what
        ``ledger.merkle.inclusion_proof_from_hashes`` gives."""
        if type(index) is not int or not 0 <= index < self.size:
            raise IndexError(f"index {index!r} out of range for a tree of {self.size} leaves")
        path = []
        for level in self.levels[:-1]:
            if index % 2:
                path.append(level[index - 1])
            elif index + 1 < len(level):
                path.append(level[index + 1])
            index //= 2
        return path


@dataclass(frozen=True, slots=True)
class BlockLayout:
    """The byte lengths of a stored block's header and of each of its results and
    transactions (in block order), and, optionally, the roots of each :data:`CHUNK` of
    results and of transactions (:func:`chunk_roots`; empty when not known)."""

    header: int
    results: tuple[int, ...]
    txs: tuple[int, ...]
    result_chunks: tuple[bytes, ...] = ()
    tx_chunks: tuple[bytes, ...] = ()

    def __post_init__(self) -> None:
        if len(self.results) != len(self.txs):
            raise ValueError("a block layout has one result per transaction")
        chunks = -(-len(self.txs) // CHUNK)
        if (self.result_chunks or self.tx_chunks) and not (
                len(self.result_chunks) == len(self.tx_chunks) == chunks
                and all(len(h) == 32 for h in self.result_chunks + self.tx_chunks)):
            raise ValueError(f"a block layout of {len(self.txs)} transactions has {chunks}"
                             " chunk roots of 32 bytes per tree, or none")

    @property
    def size(self) -> int:
        """The number of transactions."""
        return len(self.txs)

    def total(self) -> int:
        """The length of the stored block this layout describes."""
        n = len(self.txs)
        commas = 2 * max(0, n - 1)
        return (len(_OPEN) + self.header + len(_RESULTS) + sum(self.results) + len(_TXS)
                + sum(self.txs) + commas + len(_CLOSE))

    def offsets(self) -> tuple[tuple[int, list[int]], tuple[int, list[int]]]:
        """``((first, prefix), (first, prefix))`` for the results and the transactions:
        element ``i`` starts at ``first + prefix[i] + i`` (the ``i`` elements before it and
        their commas) and ends at its start plus its length."""
        first = len(_OPEN) + self.header + len(_RESULTS)
        results = list(accumulate(self.results, initial=0))
        after = first + results[-1] + max(0, len(self.results) - 1)
        return (first, results), (after + len(_TXS), list(accumulate(self.txs, initial=0)))

    def to_bytes(self) -> bytes:
        """``LAYOUT_VERSION``, then big-endian uint32s: the header's length, the number of
        transactions n, the n result lengths, the n transaction lengths; then the chunk
        roots, if known: the results' then the transactions' (32 bytes each)."""
        n = len(self.txs)
        return (struct.pack(f">BII{2 * n}I", LAYOUT_VERSION, self.header, n,
                            *self.results, *self.txs)
                + b"".join(self.result_chunks) + b"".join(self.tx_chunks))

    @classmethod
    def from_bytes(cls, data: bytes) -> BlockLayout:
        """The layout :meth:`to_bytes` wrote; ``ValueError`` for anything else."""
        if len(data) < 9 or data[0] != LAYOUT_VERSION:
            raise ValueError("not a block layout of version 1")
        header, n = struct.unpack_from(">II", data, 1)
        chunks = -(-n // CHUNK)
        plain = 9 + 8 * n
        if len(data) not in (plain, plain + 64 * chunks):
            raise ValueError(f"a block layout of {n} transactions has {plain} or"
                             f" {plain + 64 * chunks} bytes, not {len(data)}")
        lengths = struct.unpack_from(f">{2 * n}I", data, 9)
        roots = [data[i:i + 32] for i in range(plain, len(data), 32)]
        return cls(header, tuple(lengths[:n]), tuple(lengths[n:]),
                   tuple(roots[:chunks]) if roots else (), tuple(roots[chunks:]))


def layout_of(block: Block, *, chunks: bool = True) -> BlockLayout:
    """The layout of ``block.canonical_bytes`` from the lengths of the parts it is joined
    from (nothing is encoded again: those parts are the block's cached bytes); with
    ``chunks``, the chunk roots too, from the leaf hashes the block and its transactions
    keeps (``Block.result_chunk_roots``, ``Block.tx_chunk_roots``: computed once per block
    object, so not again when its roots were computed or checked)."""
    return BlockLayout(
        len(block.header.canonical_bytes),
        tuple(len(r) for r in block.result_bytes),
        tuple(len(tx.canonical_bytes) for tx in block.txs),
        block.result_chunk_roots if chunks else (),
        block.tx_chunk_roots if chunks else (),
    )


def scan_layout(raw: bytes) -> BlockLayout:
    """The layout of the stored block ``raw`` (without chunk roots), found by decoding it
    element by element (each element once, then dropped); ``BlockError('malformed_block')``
    if ``raw`` is not a canonical stored block of that shape."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BlockError("malformed_block", "a stored block is UTF-8 JSON") from None
    ascii_only = len(text) == len(raw)

    def nbytes(start: int, end: int) -> int:
        return end - start if ascii_only else len(text[start:end].encode("utf-8"))

    def expect(pos: int, literal: bytes) -> int:
        if not text.startswith(literal.decode(), pos):
            raise BlockError("malformed_block",
                             f"a stored block has {literal.decode()!r} at character {pos}")
        return pos + len(literal)

    def elements(pos: int) -> tuple[list[int], int]:
        """The byte lengths of an array's elements from ``pos`` (after its ``[``), and the
        position of its closing ``]``."""
        lengths: list[int] = []
        if text.startswith("]", pos):
            return lengths, pos
        while True:
            start = pos
            try:
                _, pos = _DECODER.raw_decode(text, pos)
            except json.JSONDecodeError:
                raise BlockError("malformed_block",
                                 f"a stored block has no JSON value at character {start}") from None
            lengths.append(nbytes(start, pos))
            if len(lengths) > _MAX_ELEMENTS:
                raise BlockError("malformed_block", "a stored block has too many elements")
            if text.startswith(",", pos):
                pos += 1
            elif text.startswith("]", pos):
                return lengths, pos
            else:
                raise BlockError("malformed_block",
                                 f"a stored block's array continues oddly at character {pos}")

    pos = expect(0, _OPEN)
    try:
        header, end = _DECODER.raw_decode(text, pos)
    except json.JSONDecodeError:
        raise BlockError("malformed_block", "a stored block starts with its header") from None
    if not isinstance(header, dict):
        raise BlockError("malformed_block", "a stored block's header is an object")
    header_len = nbytes(pos, end)
    results, pos = elements(expect(end, _RESULTS))
    txs, pos = elements(expect(pos, _TXS))
    if text[pos:] != _CLOSE.decode():
        raise BlockError("malformed_block", "a stored block ends after its transactions")
    if len(results) != len(txs):
        raise BlockError("malformed_block", "a stored block has one result per transaction")
    return BlockLayout(header_len, tuple(results), tuple(txs))


class StoredBlock:
    """A stored block read through a layout: the header, the transactions and results
    asked for (each decoded once), and the two trees' roots and inclusion proofs, hashed
    from slices of the stored bytes. Nothing is trusted: with chunk roots, their trees
    must give the header's roots and a chunk's slices must give its root before any of
    them is read or proven (so reading one transaction hashes :data:`CHUNK` leaves, not
    the block's); without, every slice is hashed once and the roots compared. A layout
    found wrong (``layout_mismatch``) is replaced by the block's own (:func:`scan_layout`)
    once; a block that still does not hash to its header raises ``BlockError``
    (``bad_txs_root`` / ``bad_results_root``). Not thread-safe (one per reader)."""

    def __init__(self, raw: bytes, layout: BlockLayout) -> None:
        self.raw = raw
        self._view = memoryview(raw)
        self._txs: dict[int, Transaction] = {}
        start, end = len(_OPEN), len(_OPEN)
        if raw.startswith(_OPEN):
            end = raw.find(_RESULTS)  # the header is a flat object of scalars
        if end < start:
            raise BlockError("malformed_block", "a stored block starts with its header")
        self.header = BlockHeader.from_json(json.loads(raw[start:end]))
        self.rescanned = False
        self._use(layout)

    def _use(self, layout: BlockLayout) -> None:
        if layout.total() != len(self.raw) or len(_OPEN) + layout.header != self.raw.find(_RESULTS):
            layout = self._rescan()
        self.layout = layout
        results, txs = layout.offsets()
        self._offsets = {"results": results, "txs": txs}
        self._lengths = {"results": layout.results, "txs": layout.txs}
        self._chunks: dict[tuple[str, int], MerkleLevels] = {}
        self._upper: dict[str, MerkleLevels] = {}
        if layout.tx_chunks:
            self._upper = {"results": MerkleLevels(list(layout.result_chunks)),
                           "txs": MerkleLevels(list(layout.tx_chunks))}
            if not self._roots_match():
                self._use(self._rescan())
        else:  # hash every leaf once: the chunk roots come from them
            hashes = {kind: self._hashes(kind, 0, self.size) for kind in ("results", "txs")}
            self._upper = {kind: MerkleLevels(list(chunk_roots(h))) for kind, h in hashes.items()}
            for kind, h in hashes.items():
                for c in range(len(self._upper[kind].levels[0])):
                    self._chunks[(kind, c)] = MerkleLevels(h[c * CHUNK:(c + 1) * CHUNK])
            if not self._roots_match():
                if not self.rescanned:
                    self._use(self._rescan())
                    return
                if self._upper["txs"].root().hex() != self.header.txs_root:
                    raise BlockError("bad_txs_root", f"block {self.height}: the stored"
                                     " transactions do not hash to the header's txs_root")
                raise BlockError("bad_results_root", f"block {self.height}: the stored results"
                                 " do not hash to the header's results_root")

    def _rescan(self) -> BlockLayout:
        if self.rescanned:
            raise BlockError("layout_mismatch", f"block {self.height}: the block's own layout"
                             " does not describe it")
        self.rescanned = True
        return scan_layout(self.raw)

    def _roots_match(self) -> bool:
        return (self._upper["txs"].root().hex() == self.header.txs_root
                and self._upper["results"].root().hex() == self.header.results_root)

    def checked_layout(self) -> BlockLayout:
        """The layout in use with its chunk roots (checked: their trees give the header's
        roots), for an index to keep."""
        upper = self._upper
        return BlockLayout(self.layout.header, self.layout.results, self.layout.txs,
                           tuple(upper["results"].levels[0]), tuple(upper["txs"].levels[0]))

    @classmethod
    def scan(cls, raw: bytes) -> StoredBlock:
        """A reader whose layout is found in ``raw`` (:func:`scan_layout`)."""
        return cls(raw, scan_layout(raw))

    @property
    def size(self) -> int:
        return self.layout.size

    @property
    def height(self) -> int:
        return self.header.height

    def _index(self, index: int) -> int:
        if type(index) is not int or not 0 <= index < self.size:
            raise IndexError(f"block {self.height} has no transaction {index!r} (it has {self.size})")
        return index

    def _hashes(self, kind: str, lo: int, hi: int) -> list[bytes]:
        view, (first, prefix), lengths = self._view, self._offsets[kind], self._lengths[kind]
        out = []
        for i in range(lo, hi):
            start = first + prefix[i] + i
            h = hashlib.sha256(_LEAF)
            h.update(view[start:start + lengths[i]])
            out.append(h.digest())
        return out

    def _chunk(self, kind: str, index: int) -> MerkleLevels:
        """The checked tree of the chunk holding element ``index`` of ``kind``."""
        c = self._index(index) // CHUNK
        tree = self._chunks.get((kind, c))
        if tree is None:
            tree = MerkleLevels(self._hashes(kind, c * CHUNK, min(self.size, (c + 1) * CHUNK)))
            if tree.root() != self._upper[kind].levels[0][c]:
                self._use(self._rescan())  # hashes every leaf, checks the roots
                return self._chunk(kind, index)
            self._chunks[(kind, c)] = tree
        return tree

    def _element(self, kind: str, index: int) -> bytes:
        self._chunk(kind, index)
        first, prefix = self._offsets[kind]
        start = first + prefix[index] + index
        return self.raw[start:start + self._lengths[kind][index]]

    def tx_bytes(self, index: int) -> bytes:
        """The canonical bytes of transaction ``index`` (checked against the txs root)."""
        return self._element("txs", index)

    def result_bytes(self, index: int) -> bytes:
        """The canonical bytes of result ``index`` (checked against the results root)."""
        return self._element("results", index)

    def tx(self, index: int) -> Transaction:
        """Transaction ``index``, parsed as ``Block.from_json`` parses it (once)."""
        tx = self._txs.get(index)
        if tx is None:
            tx = parse_transaction(json.loads(self.tx_bytes(index)), chain_id=self.header.chain_id)
            self._txs[index] = tx
        return tx

    def result(self, index: int) -> dict[str, Any]:
        """Result ``index`` (a new dict on every call)."""
        result = json.loads(self.result_bytes(index))
        if not isinstance(result, dict):
            raise BlockError("malformed_block", f"block {self.height}: result {index} is not an object")
        return result

    def _proof(self, kind: str, index: int) -> list[bytes]:
        inner = self._chunk(kind, index).proof(index % CHUNK)
        return inner + self._upper[kind].proof(index // CHUNK)

    def tx_proof(self, index: int) -> list[bytes]:
        """RFC 9162 inclusion proof of transaction ``index`` in the block's ``txs_root``."""
        return self._proof("txs", index)

    def result_proof(self, index: int) -> list[bytes]:
        """RFC 9162 inclusion proof of result ``index`` in the block's ``results_root``."""
        return self._proof("results", index)
