"""Block headers, blocks, transaction results and commit certificates."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from ledger.crypto import is_hex_digest, is_hex_pubkey, sha256_hex, verify_hex
from ledger.encoding import canonical
from ledger.errors import BlockError
from ledger.merkle import EMPTY_ROOT, merkle_root
from ledger.tx import Transaction, parse_transaction
from ledger.validators import ValidatorSet

HEADER_FIELDS = (
    "chain_id",
    "height",
    "time",
    "prev_hash",
    "txs_root",
    "results_root",
    "state_root",
    "validators_hash",
    "next_validators_hash",
    "proposer",
    "history_root",
)
MAX_BLOCK_TXS = 5000


@dataclass(frozen=True, slots=True)
class BlockHeader:
    chain_id: str
    height: int
    time: int
    prev_hash: str
    txs_root: str
    results_root: str
    state_root: str
    validators_hash: str
    next_validators_hash: str
    proposer: str
    history_root: str
    # canonical(self.to_json()), filled on first use by `canonical_bytes`
    _canonical: bytes | None = field(default=None, init=False, repr=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in HEADER_FIELDS}

    @property
    def canonical_bytes(self) -> bytes:
        """``canonical(self.to_json())``, computed once per header."""
        data = self._canonical
        if data is None:
            data = canonical(self.to_json())
            object.__setattr__(self, "_canonical", data)
        return data

    def hash(self) -> str:
        return sha256_hex(self.canonical_bytes)

    @classmethod
    def from_json(cls, obj: Any) -> BlockHeader:
        if not isinstance(obj, Mapping) or set(obj) != set(HEADER_FIELDS):
            raise BlockError("malformed_header", f"a header has exactly {list(HEADER_FIELDS)}")
        for name in ("height", "time"):
            if type(obj[name]) is not int or obj[name] < 0:
                raise BlockError("malformed_header", f"header.{name} must be a natural number")
        for name in (
            "prev_hash",
            "txs_root",
            "results_root",
            "state_root",
            "validators_hash",
            "next_validators_hash",
            "history_root",
        ):
            if not is_hex_digest(obj[name]):
                raise BlockError("malformed_header", f"header.{name} must be a hex SHA-256")
        if not is_hex_pubkey(obj["proposer"]):
            raise BlockError("malformed_header", "header.proposer must be a hex public key")
        if not isinstance(obj["chain_id"], str):
            raise BlockError("malformed_header", "header.chain_id must be a string")
        return cls(**{name: obj[name] for name in HEADER_FIELDS})


def tx_result(tx_id: str, code: str, message: str, events: Sequence[Mapping[str, Any]]) -> dict:
    """The result of one transaction: ``code`` is ``"ok"`` or a stable error code."""
    return {"code": code, "events": [dict(e) for e in events], "message": message, "tx_id": tx_id}


#: Leaves per chunk of a block's two trees: the roots of each run of ``CHUNK`` leaves (the
#: trees' nodes at height 5, ``ledger.block_layout``'s chunk roots) are kept with a block
#: object, and its roots are computed from them (the same RFC 9162 roots).
CHUNK = 32


def _pair_root(level: list[bytes]) -> bytes:
    """The RFC 9162 root over the hashes ``level`` (not empty), bottom-up: neighbours are
    paired and an unpaired last node is carried up (``ledger.merkle._mth``)."""
    sha = hashlib.sha256
    while len(level) > 1:
        nxt = [sha(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def chunk_roots(leaf_hashes: Sequence[bytes]) -> tuple[bytes, ...]:
    """The root of each run of :data:`CHUNK` leaf hashes (the last run may be shorter)."""
    return tuple(_pair_root(list(leaf_hashes[i:i + CHUNK]))
                 for i in range(0, len(leaf_hashes), CHUNK))


def root_of_chunks(chunks: Sequence[bytes]) -> bytes:
    """The RFC 9162 root of the leaves whose :func:`chunk_roots` are ``chunks``: every run
    of ``CHUNK`` leaves starts at a multiple of ``CHUNK``, so in the bottom-up pairing each
    run becomes its chunk root after five levels and the levels above pair the chunk roots
    (``EMPTY_ROOT`` for none)."""
    return _pair_root(list(chunks)) if chunks else EMPTY_ROOT


def txs_root(txs: Sequence[Transaction]) -> str:
    """The root of the transactions tree: ``merkle_root`` of the transactions' canonical
    bytes, from each transaction's cached leaf hash (``Transaction.leaf_hash``)."""
    return root_of_chunks(chunk_roots([tx.leaf_hash for tx in txs])).hex()


def _leaf_hashes(leaves: Sequence[bytes]) -> tuple[bytes, ...]:
    """``ledger.merkle.leaf_hash`` of each of ``leaves`` (bytes), in order."""
    sha = hashlib.sha256
    return tuple([sha(b"\x00" + leaf).digest() for leaf in leaves])


def results_root(results: Sequence[Mapping[str, Any]]) -> str:
    return merkle_root([canonical(r) for r in results]).hex()


@dataclass(frozen=True)
class Block:
    """A block. Its canonical bytes (and those of its results) are made here, once per
    object (:attr:`canonical_bytes`, :attr:`result_bytes`): the transactions root, the
    results root, the proposal, the sign state and the store all use these. A block is
    not to be changed after it is made (nor the results dicts it holds)."""

    header: BlockHeader
    txs: tuple[Transaction, ...]
    results: tuple[dict[str, Any], ...] = field(default=())

    @property
    def height(self) -> int:
        return self.header.height

    def hash(self) -> str:
        return self.header.hash()

    @classmethod
    def assemble(
        cls, txs: Sequence[Transaction], results: Sequence[dict[str, Any]], **header: Any
    ) -> Block:
        """A new block over ``txs`` and ``results`` whose header (the other fields given
        by name) gets its transactions and results roots from the canonical bytes this
        block then keeps."""
        encoded = tuple(canonical(r) for r in results)
        result_chunks = chunk_roots(_leaf_hashes(encoded))
        tx_chunks = chunk_roots([tx.leaf_hash for tx in txs])
        block = cls(
            BlockHeader(
                txs_root=root_of_chunks(tx_chunks).hex(),
                results_root=root_of_chunks(result_chunks).hex(),
                **header,
            ),
            tuple(txs),
            tuple(results),
        )
        # what the cached properties would compute
        block.__dict__["result_bytes"] = encoded
        block.__dict__["result_chunk_roots"] = result_chunks
        block.__dict__["tx_chunk_roots"] = tx_chunks
        return block

    def with_results(self, results: Sequence[dict[str, Any]]) -> Block:
        """This block's header and transactions with ``results`` (a follower's own,
        ``Application.check_block``); the transactions' chunk roots, if this block computed
        them, are kept."""
        block = Block(self.header, self.txs, tuple(results))
        if "tx_chunk_roots" in self.__dict__:
            block.__dict__["tx_chunk_roots"] = self.__dict__["tx_chunk_roots"]
        return block

    @cached_property
    def result_bytes(self) -> tuple[bytes, ...]:
        """``canonical(result)`` of each result, in order (the results tree's leaves)."""
        return tuple(canonical(r) for r in self.results)

    @cached_property
    def result_chunk_roots(self) -> tuple[bytes, ...]:
        """:func:`chunk_roots` of the results tree (leaves :attr:`result_bytes`): the results
        root (:attr:`results_root_hex`) and the block layout written at commit
        (``ledger.block_layout.layout_of``) both come from these, so each result leaf and
        each node below the chunk roots is hashed once per block object."""
        return chunk_roots(_leaf_hashes(self.result_bytes))

    @cached_property
    def tx_chunk_roots(self) -> tuple[bytes, ...]:
        """:func:`chunk_roots` of the transactions tree (leaf hashes
        ``Transaction.leaf_hash``), kept like :attr:`result_chunk_roots`."""
        return chunk_roots([tx.leaf_hash for tx in self.txs])

    @property
    def results_root_hex(self) -> str:
        """``merkle_root(self.result_bytes).hex()``, from :attr:`result_chunk_roots`: the
        results root these results hash to (the header's must equal it)."""
        return root_of_chunks(self.result_chunk_roots).hex()

    @property
    def txs_root_hex(self) -> str:
        """``txs_root(self.txs)``, from :attr:`tx_chunk_roots` (the header's must equal it)."""
        return root_of_chunks(self.tx_chunk_roots).hex()

    @cached_property
    def canonical_bytes(self) -> bytes:
        """``canonical(self.to_json())``, joined from the parts' canonical bytes: a block
        object's keys sort ``header`` < ``results`` < ``txs`` and lists join with ``,``."""
        return b"".join(
            (
                b'{"header":', self.header.canonical_bytes,
                b',"results":[', b",".join(self.result_bytes),
                b'],"txs":[', b",".join(tx.canonical_bytes for tx in self.txs),
                b"]}",
            )
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "header": self.header.to_json(),
            "results": list(self.results),
            "txs": [tx.to_json() for tx in self.txs],
        }

    @classmethod
    def from_json(cls, obj: Any) -> Block:
        if not isinstance(obj, Mapping) or set(obj) != {"header", "results", "txs"}:
            raise BlockError("malformed_block", "a block has exactly header, results, txs")
        header = BlockHeader.from_json(obj["header"])
        # blocks read from disk or from a node (auditor, certificates) are untrusted input
        if not isinstance(obj["txs"], list) or len(obj["txs"]) > MAX_BLOCK_TXS:
            raise BlockError("malformed_block", f"a block has at most {MAX_BLOCK_TXS} txs")
        txs = tuple(parse_transaction(t, chain_id=header.chain_id) for t in obj["txs"])
        results = obj["results"]
        if not isinstance(results, list) or len(results) != len(txs):
            raise BlockError("malformed_block", "a block has one result per transaction")
        return cls(header=header, txs=txs, results=tuple(dict(r) for r in results))

    def check_roots(self) -> None:
        """Raise unless the header's roots commit to this block's transactions and results."""
        if self.txs_root_hex != self.header.txs_root:
            raise BlockError("bad_txs_root", f"block {self.height}: transactions root mismatch")
        if self.results_root_hex != self.header.results_root:
            raise BlockError("bad_results_root", f"block {self.height}: results root mismatch")
        for tx, res in zip(self.txs, self.results, strict=True):
            if res.get("tx_id") != tx.tx_id:
                raise BlockError("bad_results", f"block {self.height}: result/tx order mismatch")


#: The largest consensus round (node/consensus/messages.py reads it from here): a vote, a
#: proposal or a commit certificate with a round outside ``0..MAX_ROUND`` is malformed.
MAX_ROUND = 2**31 - 1


def vote_sign_bytes(kind: str, chain_id: str, height: int, round_: int, block_hash: str) -> bytes:
    """The bytes a validator signs for a prevote or precommit. ``block_hash`` is ``""`` for
    a vote for nil."""
    if kind not in ("prevote", "precommit"):
        raise ValueError(f"unknown vote kind {kind!r}")
    return canonical(
        {
            "block_hash": block_hash,
            "chain_id": chain_id,
            "height": height,
            "round": round_,
            "type": kind,
        }
    )


@dataclass(frozen=True)
class CommitCertificate:
    """More than 2/3 of the voting power's precommits for one block at one height/round."""

    height: int
    round: int
    block_hash: str
    signatures: tuple[tuple[str, str], ...]  # (validator pub key, signature), sorted by key

    def to_json(self) -> dict[str, Any]:
        return {
            "block_hash": self.block_hash,
            "height": self.height,
            "round": self.round,
            "signatures": [{"signature": s, "validator": v} for v, s in self.signatures],
        }

    @classmethod
    def from_json(cls, obj: Any) -> CommitCertificate:
        if not isinstance(obj, Mapping) or set(obj) != {
            "block_hash",
            "height",
            "round",
            "signatures",
        }:
            raise BlockError("malformed_commit", "a commit has block_hash, height, round, signatures")
        if type(obj["height"]) is not int or type(obj["round"]) is not int:
            raise BlockError("malformed_commit", "commit height and round are integers")
        if not 0 <= obj["round"] <= MAX_ROUND:
            raise BlockError(
                "bad_commit_round",
                f"commit round {obj['round']} is outside 0..{MAX_ROUND}, the rounds consensus"
                " can reach",
            )
        if not is_hex_digest(obj["block_hash"]):
            raise BlockError("malformed_commit", "commit block_hash must be a hex SHA-256")
        sigs = obj["signatures"]
        if not isinstance(sigs, list) or len(sigs) > 1000:
            raise BlockError("malformed_commit", "commit signatures must be a list")
        pairs = []
        for s in sigs:
            if not isinstance(s, Mapping) or set(s) != {"signature", "validator"}:
                raise BlockError("malformed_commit", "each commit signature has validator, signature")
            pairs.append((s["validator"], s["signature"]))
        return cls(obj["height"], obj["round"], obj["block_hash"], tuple(pairs))

    def verify(self, chain_id: str, validators: ValidatorSet) -> None:
        """Raise ``BlockError`` unless distinct validators of ``validators`` with more than
        2/3 of its power signed the precommit for this block."""
        msg = vote_sign_bytes("precommit", chain_id, self.height, self.round, self.block_hash)
        seen: set[str] = set()
        power = 0
        for key, sig in self.signatures:
            if key in seen:
                raise BlockError("duplicate_signature", f"validator {key[:16]}… signed twice")
            seen.add(key)
            v_power = validators.power_of(key) if isinstance(key, str) else 0
            if v_power == 0:
                raise BlockError(
                    "unknown_validator", f"commit signed by {str(key)[:16]}…, not a validator"
                )
            if not verify_hex(key, msg, sig):
                raise BlockError(
                    "bad_commit_signature", f"precommit signature of {key[:16]}… does not verify"
                )
            power += v_power
        if not validators.has_quorum(power):
            raise BlockError(
                "insufficient_power",
                f"commit has power {power} of {validators.total_power}; more than 2/3 needed",
            )


# -- reading stored blocks without decoding them whole ------------------------------------------
# A stored block is ``canonical(block.to_json())``: ``{"header":{...},"results":[...],
# "txs":[...]}``. A block of small JSON objects takes about 19 times its size decoded, so
# readers that need its header, one transaction or a count take them element by element,
# never holding the whole block decoded.

_DECODER = json.JSONDecoder()
_HEADER_MARK = b'{"header":'


def stored_block_header(raw: bytes) -> dict[str, Any]:
    """The header of a stored block, decoding nothing else."""
    if not raw.startswith(_HEADER_MARK):
        raise BlockError("malformed_block", "a stored block starts with its header")
    end = raw.find(b'},"results":[')
    if end < 0:
        raise BlockError("malformed_block", "a stored block has no results array")
    header = json.loads(raw[len(_HEADER_MARK):end + 1])
    if not isinstance(header, dict):
        raise BlockError("malformed_block", "a stored block's header is an object")
    return header


def stored_block_elements(raw: bytes, key: str) -> Iterator[bytes]:
    """The canonical bytes of each element of the top-level array ``key`` (``"txs"`` or
    ``"results"``) of a stored block, in order, one decoded at a time and dropped. The
    array is found by its key: inside a JSON string a quote is escaped, so ``,"<key>":[``
    can only be the top-level key; canonical JSON has no whitespace, so an element's bytes
    are exactly the span the decoder consumed."""
    if key not in ("txs", "results"):
        raise ValueError(f"a stored block has no array {key!r}")
    marker = f',"{key}":['.encode()
    at = raw.find(marker)
    if at < 0:
        raise BlockError("malformed_block", f"a stored block has no {key} array")
    text = raw[at + len(marker):].decode("utf-8")
    if text.startswith("]"):
        return
    pos = 0
    while True:
        start = pos
        _, pos = _DECODER.raw_decode(text, pos)
        yield text[start:pos].encode("utf-8")
        if text[pos:pos + 1] != ",":
            return
        pos += 1


def stored_block_element(raw: bytes, key: str, index: int) -> bytes:
    """The canonical bytes of element ``index`` of the array ``key`` of a stored block
    (:func:`stored_block_elements`); ``BlockError('malformed_block')`` if there is none."""
    for i, element in enumerate(stored_block_elements(raw, key)):
        if i == index:
            return element
    raise BlockError("malformed_block", f"the stored block's {key} has no element {index}")
