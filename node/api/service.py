"""The running node as the RPC sees it: admission into the mempool, and read-only
queries over the committed chain. Everything here runs on the event loop thread; block
production (``node/driver/asyncio_driver.py``) commits through the application on its own.

Admitted transactions are announced through ``on_admit()`` (wake the block maker) and,
for transactions that clients sent to this node, ``on_txs(txs)`` (gossip them to peers).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

from chaincode.calc_service import calculate, read_parameters
from ledger.block import stored_block_element
from ledger.errors import LedgerError, TxError
from ledger.genesis import Genesis
from ledger.store import Store
from ledger.tx import MAX_SIGNERS, Transaction, parse_transaction
from node.api.documents import DocumentSettings, DocumentStore
from node.api.replication import DocumentFetcher
from node.chain.app import Application
from node.chain.dryrun import MAX_DRY_RUN_TXS, DryRunTx, dry_run
from node.ops.metrics import Counter, Registry
from node.txpool.admission import Admission, Candidate, decode_json_flagged, find_float
from node.txpool.mempool import Mempool
from node.txpool.verifier import SignatureVerifier

__all__ = ["Node", "VERSION", "parse_simulation"]

VERSION = "0.1.0"


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
        on_txs: Callable[[list[Transaction]], None] = lambda txs: None,
        status_extra: Callable[[], dict[str, Any]] | None = None,
        metrics: Registry | None = None,
        verifier: SignatureVerifier | None = None,
    ) -> None:
        self.moniker = moniker
        self.genesis = genesis
        self.chain_id = genesis.chain_id
        self.store = store
        self.app = app
        self.mempool = mempool
        self.admission = Admission(genesis.chain_id, store, mempool,
                                   signer_check=app.signer_check)
        #: client transactions' signatures are checked here, off the event loop
        self.verifier = verifier or SignatureVerifier()
        #: dry runs and calculations run here: a pool of their own, so that public read
        #: jobs can never take the places submissions' signature checks need
        self.readers = SignatureVerifier(workers=1, max_jobs=2, max_waiting=2)
        self.on_admit = on_admit
        self.on_txs = on_txs
        self.status_extra = status_extra
        self.metrics = metrics
        self.halted: str | None = None  # why block production stopped, if it did
        #: the document store (docs/documents.md), its limits and the fetcher of what it
        #: lacks: set by the runtime when the node has a home (None: no document routes)
        self.documents: DocumentStore | None = None
        self.document_settings = DocumentSettings()
        self.document_fetcher: DocumentFetcher | None = None
        self._admitted: Counter | None = None
        self._refused: Counter | None = None
        if metrics is not None:
            self._admitted = metrics.counter(
                "fcl_txs_admitted_total", "Transactions admitted to the mempool, by source",
                "source")
            self._refused = metrics.counter(
                "fcl_txs_refused_total", "Transactions refused at admission, by code", "code")
            metrics.gauge("fcl_mempool_txs", "Transactions in the mempool", lambda: len(mempool))
            metrics.gauge("fcl_mempool_bytes", "Bytes of transactions in the mempool",
                          lambda: mempool.size_bytes)
            metrics.gauge("fcl_height", "Latest committed height", lambda: app.height)

    def _count(self, source: str, admitted: int, refused: list[str]) -> None:
        if self._admitted is not None and admitted:
            self._admitted.inc(admitted, source)
        if self._refused is not None:
            for code in refused:
                self._refused.inc(1, code)

    # -- writes ----------------------------------------------------------------------------
    def submit(self, obj: Any) -> str:
        """Admit one decoded transaction; return its id. Raises ``LedgerError``."""
        return self._submit_one(self.admission.admit, obj)

    def _submit_one(self, admit: Callable[[Any], Transaction], value: Any) -> str:
        try:
            tx = admit(value)
        except LedgerError as exc:
            self._count("rpc", 0, [exc.code])
            raise
        self._count("rpc", 1, [])
        self.on_admit()
        self.on_txs([tx])
        return tx.tx_id

    def submit_many(
        self, items: list[Any], *, source: str = "rpc", floats: bool = True
    ) -> list[dict[str, Any]]:
        """Admit each decoded transaction independently; one outcome per item. Only
        transactions from clients (``source="rpc"``) are passed on to ``on_txs``.
        ``floats=False``: the items hold no float markers (``Admission.prepare``)."""
        return self._outcomes(
            source, [functools.partial(self.admission.admit, obj, floats=floats) for obj in items])

    def _outcomes(
        self, source: str, attempts: list[Callable[[], Transaction] | dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """Run each attempt (or take its refusal, already made); one outcome per item, the
        counters, and the callbacks for what was admitted."""
        out: list[dict[str, Any]] = []
        admitted: list[Transaction] = []
        refused: list[str] = []
        for index, attempt in enumerate(attempts):
            if isinstance(attempt, dict):
                refused.append(attempt["error"]["code"])
                out.append(attempt)
                continue
            try:
                tx = attempt()
            except LedgerError as exc:
                refused.append(exc.code)
                out.append(_refusal(index, exc))
            else:
                admitted.append(tx)
                out.append({"index": index, "ok": True, "tx_id": tx.tx_id})
        self._count(source, len(admitted), refused)
        if admitted:
            self.on_admit()
            if source == "rpc":
                self.on_txs(admitted)
        return out

    async def submit_raw_async(self, raw: bytes) -> str:
        """Admit one transaction from request bytes and return its id, the signatures
        verified off the event loop (:meth:`submit_many_async`)."""
        obj, floats = decode_json_flagged(raw)
        outcome = (await self.submit_many_async([obj], floats=floats))[0]
        if not outcome["ok"]:
            error = outcome["error"]
            raise TxError(error["code"], error["message"])
        return str(outcome["tx_id"])

    async def submit_many_async(
        self, items: list[Any], *, source: str = "rpc", floats: bool = True
    ) -> list[dict[str, Any]]:
        """:meth:`submit_many` for requests served on the event loop: every check but the
        signatures runs here, the signatures of the candidates this node has not verified
        before in :attr:`verifier`'s worker threads, then the candidates enter the mempool
        in order (what may have changed meanwhile is checked again). Same outcomes, same
        codes, plus ``admission_busy`` when the verifier has no room."""
        outcomes: list[dict[str, Any] | Candidate] = []
        for index, obj in enumerate(items):
            try:
                outcomes.append(self.admission.prepare(obj, floats=floats))
            except LedgerError as exc:
                outcomes.append(_refusal(index, exc))
        waiting = [c for c in outcomes if isinstance(c, Candidate) and not c.verified]
        errors = await self.verifier.verify([c.tx for c in waiting])
        failed = {id(c): e for c, e in zip(waiting, errors, strict=True) if e is not None}
        return self._outcomes(source, [
            item if isinstance(item, dict)
            else functools.partial(self._enter, item, failed.get(id(item)))
            for item in outcomes
        ])

    def _enter(self, candidate: Candidate, error: LedgerError | None) -> Transaction:
        if error is not None:
            raise error
        return self.admission.enter(candidate)

    # -- dry runs --------------------------------------------------------------------------
    async def simulate_async(self, body: Any, *, floats: bool = True) -> dict[str, Any]:
        """``POST /v1/txs/simulate``: the decoded request ``{"tx": <tx>}`` or ``{"txs":
        [...]}``, with ``"signers"`` for unsigned transactions, checked here (structure,
        chain id, pending duplicates), then dry-run in one of :attr:`readers`' worker
        places (``node.chain.dryrun``: committed duplicates, membership, signatures,
        execution) on a snapshot of the committed state. Returns the answer (docs/node.md,
        "Dry runs"); raises ``LedgerError`` for a request that cannot be run. Touches
        neither the mempool nor the store."""
        items, batch = parse_simulation(
            body, self.chain_id, floats=floats,
            is_verified=self.mempool.verified.__contains__,
        )
        for index, item in enumerate(items):
            if item.tx.tx_id in self.mempool:
                where = f"txs[{index}]: " if batch else ""
                raise TxError("duplicate_tx",
                              f"{where}transaction {item.tx.tx_id} is already pending")
        tip = self.app.tip
        run = await self.readers.run(functools.partial(
            dry_run, self.store, self.app.executor, self.chain_id, items,
            genesis_time=self.genesis.genesis_time, tip=(tip.height, tip.time), batch=batch))
        answers = [
            {"ok": result["code"] == "ok", "code": result["code"],
             "message": result["message"], "events": result["events"], "result": result,
             "tx_id": result["tx_id"]}
            for result in run.results
        ]
        common = {"height": run.height, "block_height": run.block_height,
                  "block_time": run.block_time, "writes": run.writes}
        if batch:
            return {"ok": all(a["ok"] for a in answers),
                    "results": [{"index": i, **a} for i, a in enumerate(answers)], **common}
        return {**answers[0], **common}

    # -- the free calculation service ---------------------------------------------------------
    def calculate(self, body: Any) -> dict[str, Any]:
        """``POST /v1/calculate``: ``chaincode.calc_service.calculate`` of the decoded
        request with the parameters in force at the latest committed height (one snapshot
        of the store: the height and the parameters agree). Reads only; raises
        ``ChaincodeError``. Runs in a worker place (``readers.run``), off the event loop."""
        with self.store.snapshot() as view:
            height = view.latest_height()
            params = read_parameters(view)
        return calculate(body, params, height=height)

    # -- reads -----------------------------------------------------------------------------
    def tx_status(self, tx_id: str) -> bytes | None:
        """JSON bytes ``{"height", "index", "result", "status": "committed"|"pending",
        "tx", "tx_id"}`` or None if the node does not know the id. Committed data is
        checked first. A committed transaction and its result are cut out of the stored
        block's canonical bytes, one element decoded at a time and nothing kept, so a
        request never holds a whole decoded block (a block of small JSON objects takes
        about 19 times its size decoded)."""
        location = self.store.get_tx_location(tx_id)
        if location is not None:
            height, index = location
            raw = self.store.get_block_json(height)
            if raw is not None:
                tx = stored_block_element(raw, "txs", index)
                result = stored_block_element(raw, "results", index)
                return b"".join((
                    b'{"height":', str(height).encode(), b',"index":', str(index).encode(),
                    b',"result":', result, b',"status":"committed","tx":', tx,
                    b',"tx_id":"', tx_id.encode(), b'"}',
                ))
        pending = self.mempool.get(tx_id)
        if pending is not None:
            return b"".join((
                b'{"height":null,"index":null,"result":null,"status":"pending","tx":',
                pending.canonical_bytes, b',"tx_id":"', tx_id.encode(), b'"}',
            ))
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
            **(self.status_extra() if self.status_extra is not None else {}),
        }


def parse_simulation(
    body: Any, chain_id: str, *, floats: bool = True,
    is_verified: Callable[[Transaction], bool] = lambda tx: False,
) -> tuple[list[DryRunTx], bool]:
    """The transactions of a ``POST /v1/txs/simulate`` request and whether it is the batch
    form. Raises ``TxError``: ``malformed_request`` (the envelope), ``malformed_tx``,
    ``tx_too_large``, ``wrong_chain`` (a transaction, as admission checks it),
    ``duplicate_tx`` (the same transaction twice in a batch)."""
    if not isinstance(body, dict) or not body.keys() <= {"tx", "txs", "signers"} or (
            ("tx" in body) == ("txs" in body)):
        raise TxError("malformed_request", 'a dry run is {"tx": <transaction>} or '
                      '{"txs": [<transaction>, ...]}, with "signers" for unsigned ones')
    signers = body.get("signers")
    if "signers" in body and (
            not isinstance(signers, list) or not 1 <= len(signers) <= MAX_SIGNERS
            or not all(isinstance(key, str) for key in signers)):
        raise TxError("malformed_request",
                      f'"signers" lists 1..{MAX_SIGNERS} public keys (hex strings)')
    batch = "txs" in body
    if batch:
        objs = body["txs"]
        if not isinstance(objs, list) or not 1 <= len(objs) <= MAX_DRY_RUN_TXS:
            raise TxError("malformed_request",
                          f'"txs" is a list of 1..{MAX_DRY_RUN_TXS} transactions')
    else:
        objs = [body["tx"]]
    items: list[DryRunTx] = []
    seen: set[str] = set()
    for index, obj in enumerate(objs):
        where = f"txs[{index}]: " if batch else ""
        try:
            item = _simulated_tx(obj, signers, chain_id, floats=floats,
                                 is_verified=is_verified)
        except TxError as exc:
            raise TxError(exc.code, where + exc.message) from None
        if item.tx.tx_id in seen:
            raise TxError("duplicate_tx", f"{where}transaction {item.tx.tx_id} is in the "
                          "batch twice; a block holds a transaction once")
        seen.add(item.tx.tx_id)
        items.append(item)
    return items, batch


def _simulated_tx(
    obj: Any, signers: list[str] | None, chain_id: str, *, floats: bool,
    is_verified: Callable[[Transaction], bool],
) -> DryRunTx:
    """One transaction of a dry run. Signed (a non-empty ``signatures``): parsed as
    admission parses it, signatures verified later unless this node already verified
    them. Unsigned (no ``signatures``, or ``[]``): its payload gets the request's
    ``signers`` (or keeps its own ``payload.signers``) and is parsed as the signed
    transaction would be -- the same id, the same size (one signature per signer counted)."""
    if floats:
        found = find_float(obj)
        if found is not None:
            path, literal = found
            raise TxError("malformed_tx", f"{path}: floats are not allowed (found {literal}); "
                          "use an integer or a decimal string")
    if not isinstance(obj, dict):
        raise TxError("malformed_tx", "a transaction is a JSON object with 'payload' and "
                      "'signatures'")
    if obj.get("signatures", []) != []:
        if signers is not None:
            raise TxError("malformed_request", '"signers" is for unsigned transactions; this '
                          "one is signed (its signatures name the signers)")
        tx = parse_transaction(obj, chain_id=chain_id)
        return DryRunTx(tx, verify=not is_verified(tx))
    if not obj.keys() <= {"payload", "signatures"} or "payload" not in obj:
        raise TxError("malformed_tx", "an unsigned transaction is {\"payload\": {...}} "
                      "with 'signatures' absent or []")
    payload = obj["payload"]
    if not isinstance(payload, dict):
        raise TxError("malformed_tx", "'payload' must be an object")
    if signers is not None:
        own = payload.get("signers")
        if own is not None and own != signers:
            raise TxError("malformed_request", 'payload.signers differs from the request\'s '
                          '"signers"; give the signers once')
        payload = {**payload, "signers": signers}
    elif "signers" not in payload:
        raise TxError("malformed_request", 'an unsigned transaction runs as if signed by the '
                      'keys in the request\'s "signers" (or its payload.signers); none given')
    count = len(payload["signers"]) if isinstance(payload["signers"], list) else 0
    tx = parse_transaction({"payload": payload, "signatures": [_NO_SIGNATURE] * count},
                           chain_id=chain_id)
    return DryRunTx(dataclasses.replace(tx, signatures=()), verify=False)


#: What stands in for each signature while an unsigned transaction is parsed (only its
#: form and size count; the transaction that runs has no signatures).
_NO_SIGNATURE = "0" * 128


def _refusal(index: int, exc: LedgerError) -> dict[str, Any]:
    message = exc.message.encode("utf-8", "backslashreplace").decode("utf-8")
    return {"index": index, "ok": False, "error": {"code": exc.code, "message": message}}
