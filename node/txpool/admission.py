"""Transaction admission: everything a transaction must pass before it enters the
mempool, each refusal with a stable code.

Order (cheapest first, so a flood of bad input costs little):

1. size of the raw bytes (``tx_too_large``): checked once, where the bytes enter -- the
   HTTP route reads at most :data:`MAX_RAW_TX_BYTES` of a body (``node/api/rpc.py``
   ``read_body``); gossip hands over decoded items from frames the p2p layer bounded;
2. JSON decoding: UTF-8, no duplicate keys, no NaN/Infinity (``malformed_json``);
3. no floats anywhere (``malformed_tx``, naming the field, e.g. ``payload.args.area``);
4. structure, canonical encodability and canonical size via
   ``ledger.tx.parse_transaction_measured`` (``parse_transaction``'s checks and errors:
   ``malformed_tx``, ``tx_too_large``) and the chain id (``wrong_chain``); the walk that
   encodes the payload also counts the memory it holds decoded (:func:`tx_size`);
5. replay: the id is neither committed (store index) nor pending (``duplicate_tx``);
6. permissioned admission (``unenrolled_signer``): every signer is an active key of an
   active organisation in the committed state -- the state the next block starts from
   (``chaincode.membership.check_signers``, a few state reads, no signature work); the
   same rule refuses a block carrying such a transaction (``ledger/next_block.py``);
7. room in the mempool (``mempool_full``) and in the quota of each signer's organisation
   (``org_quota_exceeded``), before the costly step;
8. signatures, verified once and never again on this node (``bad_signature``): for client
   requests in worker threads (``node/txpool/verifier.py``, between :meth:`Admission.prepare`
   and :meth:`Admission.enter`), for gossip here in :meth:`Admission.admit` --
   unless this node already verified exactly this transaction (same payload and
   signatures) in a proposal that came before it: the node's one
   :class:`~node.chain.verified.VerifiedTxs`, which the mempool holds and records every
   admitted transaction in.

A refused transaction changes nothing.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from chaincode.membership import SignerCheck, check_signers
from ledger.errors import TxError
from ledger.tx import MAX_TX_BYTES, Transaction, parse_transaction_measured
from node.chain.blockcodec import tx_json_key
from node.chain.verified import VerifiedTxs
from node.txpool.mempool import Mempool

__all__ = [
    "Admission",
    "Candidate",
    "MAX_RAW_TX_BYTES",
    "TxIndex",
    "decode_json",
    "decode_json_flagged",
    "decoded_size",
    "find_float",
    "tx_size",
]

# A client may send a transaction pretty-printed; the canonical form is what is limited to
# MAX_TX_BYTES, the raw text may be up to twice that.
MAX_RAW_TX_BYTES = 2 * MAX_TX_BYTES


class TxIndex(Protocol):
    """What admission needs of the store: its transaction index and its committed state
    (the membership records, ``ledger.state.StateReader.get``)."""

    def get_tx_location(self, tx_id: str) -> tuple[int, int] | None: ...

    def get(self, key: str) -> bytes | None: ...


class _Float:
    """Stands in for a float literal while decoding, so the field can be named later."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def _reject_constant(text: str) -> Any:
    raise ValueError(f"{text} is not allowed")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"duplicate object key {key!r}")
            seen.add(key)
    return out


def decode_json_flagged(raw: bytes) -> tuple[Any, bool]:
    """:func:`decode_json`, and whether the text had any float literal (only then need
    the value be searched with :func:`find_float`)."""
    floats: list[_Float] = []

    def on_float(text: str) -> _Float:
        marker = _Float(text)
        floats.append(marker)
        return marker

    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TxError("malformed_json", f"body is not UTF-8: {exc.reason}") from None
    try:
        value = json.loads(
            text,
            parse_float=on_float,
            parse_constant=_reject_constant,
            object_pairs_hook=_no_duplicates,
        )
    except RecursionError:
        raise TxError("malformed_json", "JSON nested too deeply") from None
    except ValueError as exc:
        raise TxError("malformed_json", f"not valid JSON: {exc}") from None
    return value, bool(floats)


def decode_json(raw: bytes) -> Any:
    """Parse request bytes. Floats become markers (see :func:`find_float`); anything that
    is not strict UTF-8 JSON raises ``TxError('malformed_json')``."""
    return decode_json_flagged(raw)[0]


def find_float(value: Any, root: str = "") -> tuple[str, str] | None:
    """``(field path, literal)`` of the first float in ``value`` (depth first, in document
    order), or None. Iterative, so any nesting JSON decoding accepted is fine."""
    stack: list[tuple[Any, str]] = [(value, root)]
    while stack:
        item, path = stack.pop()
        if isinstance(item, _Float):
            return path or "<root>", item.text
        if isinstance(item, dict):
            children = [(v, f"{path}.{k}" if path else str(k)) for k, v in item.items()]
            stack.extend(reversed(children))
        elif isinstance(item, list):
            stack.extend(reversed([(v, f"{path}[{i}]") for i, v in enumerate(item)]))
    return None


def tx_size(tx: Transaction, held: int | None = None) -> int:
    """The size a transaction is charged in the mempool: the larger of its canonical size
    (estimated as ``parse_transaction`` does, without encoding it again) and the memory it
    takes once decoded (:func:`decoded_size` of its payload, plus its bytes kept beside).
    A transaction packed with small JSON objects takes about 19 times its size decoded;
    charging that keeps ``mempool.max_bytes`` (and the per-organisation quota) a bound on
    memory, not only on bytes received.

    ``held``: ``decoded_size(tx.payload)`` if the caller has it already (what
    ``ledger.tx.parse_transaction_measured`` answers), else None: it is counted here."""
    wire = len(tx.payload_bytes) + 130 * len(tx.signatures) + 32
    if held is None:
        held = decoded_size(tx.payload)
    return max(wire, held + 2 * wire)


def decoded_size(value: Any) -> int:
    """The bytes CPython holds for a decoded JSON value: every container and string (their
    ``sys.getsizeof``); integers too, but ``True``, ``False`` and ``None`` are shared. A
    local accounting figure (it may differ between interpreters), never consensus data."""
    total = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if item is None or item is True or item is False:
            continue
        total += sys.getsizeof(item)
        if isinstance(item, dict):
            total += sum(sys.getsizeof(k) for k in item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return total


@dataclass(frozen=True)
class Candidate:
    """A transaction that passed every admission check but its signatures."""

    tx: Transaction
    orgs: tuple[str, ...]  # the signers' organisations (for the quotas)
    size: int  # what the mempool charges it (:func:`tx_size`)
    json_key: str  # ``tx_json_key`` of the decoded value (the mempool's proposal lookup)
    verified: bool  # this node already verified exactly these signatures


class Admission:
    """Checks transactions for one chain against one store and mempool."""

    def __init__(
        self,
        chain_id: str,
        index: TxIndex,
        mempool: Mempool,
        verified: VerifiedTxs | None = None,
        signer_check: Callable[[Sequence[str]], SignerCheck] | None = None,
    ) -> None:
        """``verified`` is the node's one verified set; it must be the mempool's (the
        default), so that what admission verifies and pools is known to block checks."""
        if verified is not None and verified is not mempool.verified:
            raise ValueError("admission and the mempool must share one VerifiedTxs")
        self.chain_id = chain_id
        self.index = index
        self.mempool = mempool
        self.verified = mempool.verified
        #: the membership rule over the committed state (the node passes the application's
        #: remembered ``Application.signer_check``)
        self.signer_check = signer_check or (lambda signers: check_signers(index, signers))

    def prepare(self, obj: Any, *, floats: bool = True) -> Candidate:
        """Every check but the signatures (steps 3-7 above), on the event loop; the signatures
        are then verified (:meth:`admit` here, ``node/txpool/verifier.py`` in worker
        threads) unless ``candidate.verified``, and the candidate is pooled.

        ``floats=False`` skips the search for float markers: the caller knows the value
        has none (:func:`decode_json_flagged` said so), or it was decoded by plain
        ``json.loads``, whose ``float`` values ``parse_transaction`` refuses anyway."""
        if floats:
            found = find_float(obj)
            if found is not None:
                path, literal = found
                raise TxError(
                    "malformed_tx",
                    f"{path}: floats are not allowed (found {literal}); use an integer or "
                    "a decimal string",
                )
        # the boundary for client and gossip transactions: shape, canonical size, chain id;
        # the walk that encodes the payload also counts what it holds decoded
        tx, held = parse_transaction_measured(obj, chain_id=self.chain_id)
        self._not_duplicate(tx)
        # who may write: before any signature work, so an outsider's flood costs lookups only
        signers = self._signers(tx)
        size = tx_size(tx, held)
        # before the costly step; Mempool.add holds both too
        self.mempool.check_room(size, signers.orgs)
        # ``tx_json_key(obj)`` is the transaction's canonical text when the payload is the
        # common value (``held`` known): both are ``json`` with sorted keys and the same
        # separators, the signatures are lowercase hex (docs/performance.md)
        json_key = tx.canonical_text if held is not None else tx_json_key(obj)
        return Candidate(tx, signers.orgs, size, json_key, tx in self.verified)

    def enter(self, candidate: Candidate) -> Transaction:
        """Pool a candidate whose signatures verified elsewhere. What may have changed
        while they were checked is checked again: committed or pending meanwhile
        (``duplicate_tx``), the signer's membership (``unenrolled_signer``), room
        (``mempool_full``, ``org_quota_exceeded``, in ``Mempool.add``)."""
        tx = candidate.tx
        self._not_duplicate(tx)
        self.mempool.add(tx, candidate.size, candidate.json_key, self._signers(tx).orgs)
        return tx

    def _signers(self, tx: Transaction) -> SignerCheck:
        signers = self.signer_check(tx.signers)
        if signers.refusal is not None:
            raise TxError("unenrolled_signer", signers.refusal)
        return signers

    def _not_duplicate(self, tx: Transaction) -> None:
        location = self.index.get_tx_location(tx.tx_id)
        if location is not None:
            raise TxError(
                "duplicate_tx",
                f"transaction {tx.tx_id} is already committed at height {location[0]}",
            )
        if tx.tx_id in self.mempool:
            raise TxError("duplicate_tx", f"transaction {tx.tx_id} is already pending")

    def admit(self, obj: Any, *, floats: bool = True) -> Transaction:
        """Check a decoded transaction, verify its signatures here (gossip, tests) and add
        it to the mempool."""
        candidate = self.prepare(obj, floats=floats)
        if not candidate.verified:
            candidate.tx.verify_signatures()  # recorded in self.verified by Mempool.add
        self.mempool.add(candidate.tx, candidate.size, candidate.json_key, candidate.orgs)
        return candidate.tx

    def admit_raw(self, raw: bytes) -> Transaction:
        """Check raw bytes of one transaction and add it to the mempool. The caller bounds
        ``raw`` (step 1: the HTTP route reads at most :data:`MAX_RAW_TX_BYTES`)."""
        obj, floats = decode_json_flagged(raw)
        return self.admit(obj, floats=floats)
