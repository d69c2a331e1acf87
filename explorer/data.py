"""The explorer's read model: plain JSON-able dicts built from committed data only.

HTML pages and JSON endpoints render the same dicts. Every function reads through the
store (blocks, commits, the transaction index) or through ``chaincode.queries`` over the
committed state; nothing here writes. Unknown or malformed input raises
:class:`explorer.inputs.ExplorerError` with a stable code.
"""

from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

import ledger.cursor as key_cursor
from chaincode import queries
from chaincode.carbon_common import (
    BATCH_PREFIX,
    PROJECT_PREFIX,
    attestation_key,
    batch_key,
    parse_serial_string,
    plot_key,
    project_key,
    report_key,
    serial_string,
)
from chaincode.carbon_market import (
    LISTING_PREFIX,
    OPEN_LISTING_PREFIX,
    RETIREMENT_BY_PREFIX,
    RETIREMENT_PREFIX,
    RETIREMENT_SEQ_PREFIX,
    TRADE_PREFIX,
    fen_string,
)
from chaincode.framework import KEY_PREFIX, ORG_PREFIX, PARAM_PREFIX
from chaincode.membership import ORGKEY_PREFIX, accreditation_in_force
from chaincode.params import PARAMHIST_PREFIX
from chaincode.stock import reversal_key
from chaincode.units import BUFFER_ACCOUNT, MAX_UNIT, batch_stats, unit_key, unit_prefix
from chaincode.validator_state import VALIDATORS_KEY
from explorer.activity import FACT_FIELDS, ActivityIndex, MonthPrices
from explorer.inputs import ExplorerError, RetirementFilters, is_hex64, parse_id, parse_vintage
from explorer.signing import SigningTally
from explorer.source import ExplorerSource
from explorer.statements import (
    Movement,
    MovementIndex,
    day_start_ms,
    period_label,
    period_of,
)
from ledger.block import stored_block_element, stored_block_elements, stored_block_header
from ledger.encoding import decode
from ledger.errors import LedgerError

__all__ = ["CST", "LINK_KEYS", "Reader", "iso_time", "url_for"]

CST = timezone(timedelta(hours=8))
RECENT_BLOCKS = 10
#: The dashboard's rate: committed transactions over the last 60 s (at most 4,096 blocks
#: read: as many as the block-summary cache holds).
RATE_WINDOW_S = 60
RATE_MAX_BLOCKS = 4096
#: Validators' signing record: the last 100 commits; "lagging" = signed one of the last 10.
SIGNING_WINDOW = 100
LAGGING_BLOCKS = 10
SUMMARY_CACHE = 4096
VALOP_PREFIX = "valop/"

#: Argument / event keys that name records, and the page kind each leads to.
LINK_KEYS: dict[str, str] = {
    "project_id": "project",
    "project_ids": "project",
    "batch_id": "batch",
    "report_id": "report",
    "attestation_id": "attestation",
    "validation_attestation": "attestation",
    "verification_attestation": "attestation",
    "plot_id": "plot",
    "plots": "plot",
    "org_id": "account",
    "from_org": "account",
    "to_org": "account",
    "buyer_org": "account",
    "enterprise_org": "account",
    "exchange_org": "account",
    "owner_org": "account",
    "seller": "account",
    "buyer": "account",
    "enterprise": "account",
    "sender": "account",
    "receiver": "account",
    "verifier_org": "account",
    "retirement_id": "certificate",
    "serial": "trace",
}


def iso_time(ms: int | None) -> str | None:
    """Block time (ms since the epoch) as ISO 8601 in China Standard Time."""
    if not isinstance(ms, int) or isinstance(ms, bool):
        return None
    try:
        moment = datetime.fromtimestamp(ms / 1000, tz=UTC).astimezone(CST)
    except (OverflowError, OSError, ValueError):  # out of the calendar's range
        return None
    return moment.isoformat(timespec="seconds")


def url_for(kind: str, ident: str | int) -> str:
    """The explorer page of a record."""
    ident = quote(str(ident), safe="")
    paths = {
        "block": "/explorer/blocks/{}",
        "tx": "/explorer/txs/{}",
        "project": "/explorer/projects/{}",
        "plot": "/explorer/plots/{}",
        "report": "/explorer/reports/{}",
        "attestation": "/explorer/attestations/{}",
        "batch": "/explorer/batches/{}",
        "account": "/explorer/accounts/{}",
        "certificate": "/explorer/certificates/{}",
        "verify": "/explorer/verify/{}",
        "trace": "/explorer/trace/{}",
        "stocks": "/explorer/projects/{}/stocks",
        "validator": "/explorer/#validator-{}",
    }
    return paths[kind].format(ident)


def _loads(raw: bytes | None) -> Any:
    return None if raw is None else json.loads(raw)


class Reader:
    """Read-only views over one :class:`ExplorerSource`; caches whole-state aggregates
    (totals, the vintage chart) per committed height."""

    def __init__(self, source: ExplorerSource) -> None:
        self.source = source
        self.store = source.store
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[int, Any]] = {}
        # committed blocks never change: their summaries are cached by height
        self._summaries: OrderedDict[int, dict[str, Any]] = OrderedDict()
        self._times: OrderedDict[int, int] = OrderedDict()  # block header times, by height
        # trades in time order and monthly / per-project aggregates, kept incrementally
        self.activity = ActivityIndex(self.store, self.block_date)
        # every account's movements in commit order with balances (account statements)
        self.movements = MovementIndex(self.store, self.block_time)
        # the validators' signing record over the last SIGNING_WINDOW commits, moved with
        # the tip (a request at a new tip reads only the commits since the previous one)
        self._signing = SigningTally(SIGNING_WINDOW)

    # -- small helpers ---------------------------------------------------------------------
    def height(self) -> int:
        return self.store.latest_height()

    def _cached(self, name: str, build: Any) -> Any:
        height = self.height()
        with self._lock:
            hit = self._cache.get(name)
            if hit is not None and hit[0] == height:
                return hit[1]
        value = build()
        with self._lock:
            self._cache[name] = (height, value)
        return value

    def state(self, key: str) -> Any:
        raw = self.store.get(key)
        return None if raw is None else decode(raw)

    def _scan(self, prefix: str) -> Iterator[tuple[str, Any]]:
        for key, raw in self.store.iter_prefix(prefix):
            yield key, decode(raw)

    def _page_by_key(
        self, prefix: str, after: str | None, limit: int
    ) -> tuple[list[Any], str | None]:
        """Values under ``prefix`` whose key suffix is > ``after`` (one seek:
        :func:`ledger.cursor.page`); ``next`` is the last suffix returned when more
        remain."""
        return key_cursor.page(self.store, prefix, after, limit)

    def block_time(self, height: int) -> int | None:
        """The header time of committed block ``height`` (None if there is none); only the
        header is decoded (``ledger.block.stored_block_header``), once: committed blocks
        never change, so the times are kept (the newest ``SUMMARY_CACHE``)."""
        with self._lock:
            known = self._times.get(height)
        if known is not None:
            return known
        raw = self.store.get_block_json(height)
        if raw is None:
            return None
        time_ms = int(stored_block_header(raw)["time"])
        with self._lock:
            self._times[height] = time_ms
            while len(self._times) > SUMMARY_CACHE:
                self._times.popitem(last=False)
        return time_ms

    def validator_names(self) -> dict[str, str]:
        names = {v.pub_key: v.name for v in self.source.genesis.validators.validators}
        record = self.state(VALIDATORS_KEY) or {}
        for group in (record.get("current") or [], (record.get("pending") or {}).get("validators") or []):
            for v in group:
                if isinstance(v, dict) and "pub_key" in v:
                    names[v["pub_key"]] = v.get("name", "")
        return names

    def block_iso(self, height: Any) -> str | None:
        """The time of committed block ``height`` as ISO 8601 in China Standard Time (None
        for no such block or a height that is not a positive integer)."""
        if not isinstance(height, int) or isinstance(height, bool) or height < 1:
            return None
        return iso_time(self.block_time(height))

    def block_date(self, height: int) -> str | None:
        """The date (China Standard Time, ``YYYY-MM-DD``) of committed block ``height``."""
        iso = self.block_iso(height)
        return None if iso is None else iso[:10]

    def org_name(self, org_id: Any) -> str | None:
        """The name in the membership record of organisation ``org_id`` (None if there is
        no such organisation or it has no name)."""
        if not isinstance(org_id, str) or not org_id:
            return None
        try:
            record = self.state(ORG_PREFIX + org_id)
        except (LedgerError, ValueError):
            return None
        name = record.get("name") if isinstance(record, dict) else None
        return name if isinstance(name, str) and name else None

    def key_org(self, pub_key: str) -> str | None:
        record = self.state(KEY_PREFIX + pub_key) if is_hex64(pub_key) else None
        return None if record is None else record.get("org")

    # -- blocks ----------------------------------------------------------------------------
    def _block_summary(self, height: int, raw: bytes, names: dict[str, str]) -> dict:
        # element by element: a block is never held decoded whole (ledger.block)
        header = stored_block_header(raw)
        count = failed = 0
        for result in stored_block_elements(raw, "results"):
            count += 1
            failed += decode(result).get("code") != "ok"
        return {
            "failed": failed,
            "hash": self.store.get_block_hash(height),
            "height": height,
            "proposer": header["proposer"],
            "proposer_name": names.get(header["proposer"]),
            "time": header["time"],
            "time_iso": iso_time(header["time"]),
            "tx_count": count,
        }

    def block_summary(self, height: int) -> dict[str, Any] | None:
        with self._lock:
            hit = self._summaries.get(height)
            if hit is not None:
                self._summaries.move_to_end(height)
                return hit
        raw = self.store.get_block_json(height)
        if raw is None:
            return None
        summary = self._block_summary(height, raw, self.validator_names())
        with self._lock:
            self._summaries[height] = summary
            while len(self._summaries) > SUMMARY_CACHE:
                self._summaries.popitem(last=False)
        return summary

    def blocks(self, before: int | None, limit: int) -> dict[str, Any]:
        """Block summaries, newest first, below ``before`` (exclusive; default: the tip)."""
        top = self.height() if before is None else min(before - 1, self.height())
        out: list[dict[str, Any]] = []
        h = top
        while h >= 1 and len(out) < limit:
            summary = self.block_summary(h)
            if summary is not None:
                out.append(summary)
            h -= 1
        return {"blocks": out, "height": self.height(), "next": h + 1 if h >= 1 else None}

    def block(self, height: int, after: str | None = None, limit: int = 100) -> dict[str, Any]:
        """A block with a page of its transactions (``after``: the index of the last
        transaction of the previous page)."""
        if after is not None and not (after.isascii() and after.isdigit() and len(after) <= 5):
            raise ExplorerError("bad_cursor", "after is a transaction index")
        start = 0 if after is None else int(after) + 1
        raw = self.store.get_block_json(height)
        commit = _loads(self.store.get_commit_json(height))
        if raw is None or commit is None:
            raise ExplorerError(
                "unknown_block", f"no block at height {height} (latest is {self.height()})"
            )
        names = self.validator_names()
        header = stored_block_header(raw)
        txs = []
        count = 0  # the block is read element by element, only the page decoded
        for index, (tx_raw, result_raw) in enumerate(zip(
                stored_block_elements(raw, "txs"), stored_block_elements(raw, "results"),
                strict=True)):
            count += 1
            if not start <= index < start + limit:
                continue
            tx, result = decode(tx_raw), decode(result_raw)
            payload = tx["payload"]
            txs.append({
                "code": result.get("code"),
                "contract": payload.get("contract"),
                "index": index,
                "method": payload.get("method"),
                "signers": [{"key": k, "org": self.key_org(k)} for k in payload.get("signers", [])],
                "tx_id": result.get("tx_id"),
            })
        signatures = [
            {"name": names.get(s["validator"]), "signature": s["signature"],
             "validator": s["validator"]}
            for s in commit["signatures"]
        ]
        return {
            "commit": {"block_hash": commit["block_hash"], "round": commit["round"],
                       "signatures": signatures},
            "hash": self.store.get_block_hash(height),
            "header": header,
            "height": height,
            "latest": self.height(),
            "next": str(start + limit - 1) if start + limit < count else None,
            "proposer_name": names.get(header["proposer"]),
            "time_iso": iso_time(header["time"]),
            "tx_count": count,
            "txs": txs,
        }

    def block_by_hash(self, block_hash: str) -> int | None:
        return self.store.get_height_of_hash(block_hash.lower())

    def tx(self, tx_id: str) -> dict[str, Any]:
        location = self.store.get_tx_location(tx_id)
        if location is None:
            raise ExplorerError("unknown_tx", f"no committed transaction {tx_id}")
        height, index = location
        raw = self.store.get_block_json(height)
        if raw is None:
            raise ExplorerError("unknown_tx", f"no committed transaction {tx_id}")
        # only this transaction, its result and the header are decoded (ledger.block)
        header_time = stored_block_header(raw)["time"]
        tx = decode(stored_block_element(raw, "txs", index))
        result = decode(stored_block_element(raw, "results", index))
        payload = tx["payload"]
        signers = [{"key": k, "org": self.key_org(k)} for k in payload.get("signers", [])]
        links = _links(payload.get("args", {}), result.get("events", []))
        return {
            "args": payload.get("args", {}),
            "block_hash": self.store.get_block_hash(height),
            "chain_id": payload.get("chain_id"),
            "contract": payload.get("contract"),
            "height": height,
            "index": index,
            "links": links,
            "method": payload.get("method"),
            "nonce": payload.get("nonce"),
            "result": result,
            "signatures": tx.get("signatures", []),
            "signers": signers,
            "time": header_time,
            "time_iso": iso_time(header_time),
            "tx_id": tx_id,
        }

    # -- dashboard -------------------------------------------------------------------------
    def tx_rate(self) -> dict[str, Any]:
        """Committed transactions per second over the last ``RATE_WINDOW_S`` seconds up to
        now (the source's clock): an idle chain's rate falls to 0 instead of repeating the
        last busy blocks' figure. Also the tip's age. At most ``RATE_MAX_BLOCKS`` blocks
        are read."""
        now_ms = int(self.source.clock() * 1000)
        since_ms = now_ms - RATE_WINDOW_S * 1000
        count = blocks = read = 0
        tip_time = None
        h = self.height()
        while h >= 1 and read < RATE_MAX_BLOCKS:  # blocks read, counted or not
            summary = self.block_summary(h)
            h -= 1
            read += 1
            if summary is None:
                continue
            if tip_time is None:
                tip_time = summary["time"]
            if summary["time"] <= since_ms:
                break
            if summary["time"] <= now_ms:
                count += summary["tx_count"]
                blocks += 1
        return {
            "blocks": blocks,
            "tip_age_s": None if tip_time is None else max(0, (now_ms - tip_time) // 1000),
            "tx_per_s": round(count / RATE_WINDOW_S, 2),
            "window_s": RATE_WINDOW_S,
        }

    def validators(self, status: dict[str, Any]) -> list[dict[str, Any]]:
        """The validator set with, from the last ``SIGNING_WINDOW`` commits: whether each
        signed the latest, how many it signed, the last height it signed and when (last
        seen), and a status -- ``signing`` (signed the latest commit), ``lagging`` (one of
        the last ``LAGGING_BLOCKS`` but not the latest), ``absent`` (none of those) -- plus
        any per-validator fields the node's status gives."""
        given = status.get("validators")
        if isinstance(given, list) and all(isinstance(v, dict) for v in given):
            validators = [dict(v) for v in given]
        else:
            record = self.state(VALIDATORS_KEY) or {}
            validators = [dict(v) for v in record.get("current") or []]
        signing = self._cached("signing", self._signing_record)
        window = signing["window"]
        for v in validators:
            key = v.get("pub_key")
            v["operator"] = self.state(VALOP_PREFIX + key) if is_hex64(key) else None
            seen = signing["last"].get(key) if isinstance(key, str) else None
            v["signed_latest"] = None if not window else seen is not None and seen[0] == window[0]
            v["signed_recent"] = signing["count"].get(key, 0) if isinstance(key, str) else 0
            v["recent_blocks"] = len(window)
            v["last_signed_height"] = None if seen is None else seen[0]
            v["last_seen"] = None if seen is None else iso_time(seen[1])
            if not window:
                v["status"] = None
            elif v["signed_latest"]:
                v["status"] = "signing"
            elif seen is not None and seen[0] > window[0] - LAGGING_BLOCKS:
                v["status"] = "lagging"
            else:
                v["status"] = "absent"
        return validators

    def _signing_record(self) -> dict[str, Any]:
        """Over the commits of the last ``SIGNING_WINDOW`` blocks (newest first in
        ``window``): per validator key, how many it signed and (height, block time) of the
        newest it signed. Kept incrementally (``explorer/signing.py``): a new tip reads
        only the commits committed since the previous request."""
        return self._signing.at(self.height(), self._commit_signers)

    def _commit_signers(self, height: int) -> tuple[list[str], int] | None:
        commit = _loads(self.store.get_commit_json(height))
        summary = self.block_summary(height)
        if commit is None or summary is None:
            return None
        return [sig.get("validator") for sig in commit.get("signatures", [])], summary["time"]

    def totals(self) -> dict[str, int]:
        return self._cached("totals", lambda: queries.totals(self.store))

    def vintages(self) -> list[dict[str, int]]:
        """Per vintage: units issued and retired (over every batch), ascending; from the
        chaincode's per-vintage counters (no batch is read)."""
        return self._cached("vintages", lambda: queries.vintages(self.store))

    def dashboard(self) -> dict[str, Any]:
        status = self.source.get_status()
        recent = self.blocks(None, RECENT_BLOCKS)["blocks"]
        rate = self.tx_rate()
        peers = status.get("peers")
        return {
            "chain_id": self.source.genesis.chain_id,
            "genesis_hash": self.source.genesis.hash,
            "halted": status.get("halted"),
            "height": self.height(),
            "mempool": status.get("mempool"),
            "node": status.get("node"),
            "peers": len(peers) if isinstance(peers, list) else peers,
            "recent_blocks": recent,
            "round": status.get("round"),
            "totals": self.totals(),
            "tip_age_s": rate["tip_age_s"],
            "tx_per_s": status.get("tx_per_s", rate["tx_per_s"]),
            "tx_rate_blocks": rate["blocks"],
            "tx_rate_window_s": rate["window_s"],
            "validators": self.validators(status),
            "version": status.get("version"),
            "vintages": self.vintages(),
        }

    # -- organisations and accounts -------------------------------------------------------
    def orgs(self, after: str | None, limit: int) -> dict[str, Any]:
        """Organisations by id; each verifier's accreditation with ``accreditation_state``
        at the tip's block time: ``in_force`` (``chaincode.membership.accreditation_in_force``),
        ``expired`` (``accreditation_valid_until`` passed), ``suspended`` (the organisation
        is not active), ``none`` (a verifier holding none: revoked or never granted); null
        for organisations that are not verifiers."""
        page, nxt = self._page_by_key(ORG_PREFIX, after, limit)
        tip = self.height()
        now = self.block_time(tip) if tip > 0 else None
        for org in page:
            org["accreditation_state"] = accreditation_state(org, now)
        return {"next": nxt, "orgs": page}

    def org_keys(self, org_id: str, limit: int = 100) -> list[dict[str, Any]]:
        out = []
        prefix = f"{ORGKEY_PREFIX}{org_id}/"
        for key, _height in self._scan(prefix):
            pub_key = key[len(prefix):]
            record = self.state(KEY_PREFIX + pub_key) or {}
            out.append(dict(record, pub_key=pub_key))
            if len(out) >= limit:
                break
        return out

    def account(self, account: str, after: str | None, limit: int) -> dict[str, Any]:
        account = parse_id(account, "account")
        org = self.state(ORG_PREFIX + account)
        try:
            holdings = queries.holdings(self.store, account, limit=limit, after=after)
        except LedgerError as exc:
            raise ExplorerError("bad_cursor", exc.message) from None
        has_units = any(holdings["totals"].values())
        if org is None and account != BUFFER_ACCOUNT and not has_units:
            raise ExplorerError("unknown_account", f"no organisation or account {account!r}")
        out: dict[str, Any] = {
            "account": account,
            "holdings": holdings,
            "member_keys": self.org_keys(account) if org is not None else [],
            "org": org,
        }
        if account == BUFFER_ACCOUNT:
            out["buffer_pool"] = queries.buffer_pool(self.store, limit=limit)
        return out

    def statement(self, account: str, kind: str, first_day: date | None,
                  last_day: date | None, after: str | None, limit: int) -> dict[str, Any]:
        """The statement of ``account`` for one period: the ``kind`` period (month,
        quarter, year of China Standard Time) holding ``first_day`` or ``last_day``, or,
        with both, the days ``first_day..last_day``; without either, the period holding
        the tip's date. Opening balance, the period's movements (a page of ``limit`` after
        the ``after``-th, each with the balance after it), totals in and out, closing
        balance (checked: opening + movements = closing). O(log n + movements in the
        period) after the movement index is built."""
        account = parse_id(account, "account")
        known = (account == BUFFER_ACCOUNT or self.state(ORG_PREFIX + account) is not None
                 or self.movements.balance(account) != 0
                 or next(iter(self.store.iter_prefix(f"holding/{account}/")), None))
        if not known:
            raise ExplorerError("unknown_account", f"no organisation or account {account!r}")
        skip = 0
        if after is not None:
            if not (after.isascii() and after.isdigit()) or len(after) > 9:
                raise ExplorerError("bad_cursor", "after is the 'next' of the statement "
                                    "page before (a count of movements)")
            skip = int(after)
        tip = self.movements.refresh()
        tip_ms = self.block_time(tip) if tip >= 1 else None
        tip_day = date.fromisoformat(self.block_date(tip) or "1970-01-01")
        if first_day is not None and last_day is not None:
            start, stop = first_day, last_day + timedelta(days=1)
            shown_kind, label = "custom", f"{first_day.isoformat()} – {last_day.isoformat()}"
        else:
            start, stop = period_of(kind, first_day or last_day or tip_day)
            shown_kind, label = kind, period_label(kind, start)
        start_ms, stop_ms = day_start_ms(start), day_start_ms(stop)
        opening, closing, rows = self.movements.period(account, start_ms, stop_ms)
        totals: dict[str, int] = {}
        for m, _balance in rows:
            totals[m.kind] = totals.get(m.kind, 0) + m.quantity
        page = rows[skip:skip + limit]
        nav: dict[str, Any] = {"previous": None, "following": None}
        if shown_kind != "custom":
            nav["previous"] = period_of(kind, start - timedelta(days=1))[0].isoformat()
            if stop <= tip_day:
                nav["following"] = stop.isoformat()
        return {
            "account": account,
            "period": shown_kind,
            "label": label,
            "from": start.isoformat(),
            "to": (stop - timedelta(days=1)).isoformat(),
            "time_zone": "Asia/Shanghai (UTC+08:00)",
            "start_ms": start_ms,
            "end_ms": stop_ms,
            "complete": tip_ms is not None and stop_ms <= tip_ms,
            "tip": tip,
            "opening": opening,
            "closing": closing,
            "credits": sum(m.change for m, _ in rows if m.change > 0),
            "debits": -sum(m.change for m, _ in rows if m.change < 0),
            "totals": dict(sorted(totals.items())),
            "count": len(rows),
            "movements": [self._movement_row(m, balance) for m, balance in page],
            "next": str(skip + limit) if skip + limit < len(rows) else None,
            **nav,
        }

    def _movement_row(self, m: Movement, balance: int) -> dict[str, Any]:
        return {
            "action": m.action,
            "balance": balance,
            "change": m.change,
            "counterparty": m.counterparty,
            "height": m.height,
            "index": m.index,
            "kind": m.kind,
            "quantity": m.quantity,
            "ranges": [{"batch_id": b, "first": f, "last": la, "project_id": p,
                        "quantity": la - f + 1, "serial": serial_string(p, v, f, la),
                        "vintage": v} for p, b, v, f, la in m.ranges],
            "time": m.time,
            "time_iso": iso_time(m.time),
            "tx_id": m.tx_id,
        }

    def _dated(self, record: dict[str, Any]) -> dict[str, Any]:
        """``record`` with the ``time`` and ``time_iso`` of the block at its ``height``."""
        time_ms = self.block_time(record["height"]) if isinstance(record.get("height"), int) \
            else None
        return dict(record, time=time_ms, time_iso=iso_time(time_ms))

    def buffer_pool(self, limit: int) -> dict[str, Any]:
        """``chaincode.queries.buffer_pool`` plus ``events``: the most recent ``limit``
        reversals and loss events in one list (newest first, each with ``kind``
        ``reversal`` or ``loss`` and its block's date), and ``obligations``: the
        compensation obligations still outstanding, by project id."""
        out = queries.buffer_pool(self.store, limit=limit)
        events = [dict(r, kind="reversal") for r in out["reversals"]]
        events += [dict(r, kind="loss") for r in out["losses"]]
        events.sort(key=lambda r: (-r["height"], r["kind"], r["id"]))
        out["events"] = [self._dated(r) for r in events[:limit]]
        out["obligations"] = [c for _pid, c in sorted(out["compensation"].items())
                              if c["outstanding"] > 0]
        return out

    # -- policy parameters (the parameter register) ----------------------------------------
    def _seek(self, prefix: str, after: str | None, limit: int) -> tuple[list[tuple[str, Any]], str | None]:
        """Up to ``limit`` ``(suffix, value)`` pairs under ``prefix`` whose suffix is >
        ``after`` (:func:`ledger.cursor.seek`: O(log n) + O(limit)); ``next`` is the last
        suffix returned when more remain."""
        return key_cursor.take(key_cursor.seek(self.store, prefix, after, chunk=limit + 1), limit)

    def _setting(self, name: str, entry: dict[str, Any]) -> dict[str, Any]:
        """A history entry of parameter ``name`` as the register shows it: the value, the
        height and its date, the signer's key, organisation and its name, reason, tx."""
        key = entry.get("set_by")
        org = self.key_org(key) if isinstance(key, str) else None
        height = entry.get("height")
        return {
            "height": height,
            "name": name,
            "reason": entry.get("reason"),
            "set_by": key,
            "set_by_name": self.org_name(org),
            "set_by_org": org,
            "time_iso": self.block_iso(height),
            "tx_id": entry.get("tx_id"),
            "value": entry.get("value"),
        }

    def _last_setting(self, name: str) -> dict[str, Any] | None:
        prefix = f"{PARAMHIST_PREFIX}{name}/"
        found = self.store.last_at_or_before(prefix, prefix + "9" * 12)
        return None if found is None else decode(found[1])

    def params(self, after: str | None, limit: int) -> dict[str, Any]:
        """A page of the policy parameters by name: each one's value in force and the
        setting that put it in force (its newest ``paramhist/`` entry: one seek each)."""
        page, nxt = self._seek(PARAM_PREFIX, after, limit)
        out = []
        for name, value in page:
            last = self._last_setting(name) or {}
            out.append(dict(self._setting(name, last), value=value))
        return {"next": nxt, "params": out}

    def param(self, name: str, after: str | None, limit: int) -> dict[str, Any]:
        """One parameter: its value in force and a page of its history, oldest first
        (``after``: the 12-digit height of the last entry of the previous page)."""
        if not isinstance(name, str) or not 1 <= len(name) <= 64 or not all(
                c.isascii() and (c.isalnum() or c == "_") for c in name):
            raise ExplorerError("bad_id", "a parameter name is 1..64 letters, digits or '_'")
        if after is not None and not (after.isascii() and after.isdigit() and len(after) == 12):
            raise ExplorerError("bad_cursor", "after is the 12-digit height of a history entry")
        value = self.state(PARAM_PREFIX + name)
        last = self._last_setting(name)
        if value is None and last is None:
            raise ExplorerError("not_found", f"no policy parameter {name!r}")
        page, nxt = self._seek(f"{PARAMHIST_PREFIX}{name}/", after, limit)
        history = [self._setting(name, entry) for _height, entry in page]
        return {"history": history, "name": name, "next": nxt,
                "in_force": self._setting(name, last or {}) | {"value": value}}

    # -- the market ----------------------------------------------------------------------------
    def listings(self, after: str | None, limit: int) -> tuple[list[dict[str, Any]], str | None]:
        """A page of the open listings by seller then listing id (``open_listing/``; the
        cursor is ``<seller>/<listing id>``), each listing record with its block's date."""
        if after is not None and after.count("/") != 1:
            raise ExplorerError("bad_cursor", "listings_after is a <seller>/<listing id> cursor")
        page, nxt = self._seek(OPEN_LISTING_PREFIX, after, limit)
        out = []
        for suffix, _marker in page:
            listing = self.state(LISTING_PREFIX + suffix.split("/", 1)[1])
            if isinstance(listing, dict):
                # the record is re-stamped by every partial fill: its creation is the
                # transaction named by its id
                where = self.store.get_tx_location(str(listing.get("id")))
                listed = where[0] if where is not None else listing.get("height")
                listing = dict(listing, price=_step_price("list", listing), listed_height=listed,
                               time_iso=self.block_iso(listed),
                               project_ids=sorted({str(r.get("project_id"))
                                                   for r in listing.get("ranges") or []}))
                out.append(listing)
        return out, nxt

    def trade_row(self, height: int, index: int, trade_id: str) -> dict[str, Any] | None:
        """A trade as the market page lists it: date, projects, quantity, price, gross,
        seller, buyer, exchange and ``sale``: ``primary`` (sold by the project's owner),
        ``resale`` or ``mixed`` (both in one trade)."""
        t = self.state(TRADE_PREFIX + trade_id)
        if not isinstance(t, dict):
            return None
        kinds = sorted({str(p.get("sale")) for p in t.get("proceeds") or []})
        return {
            "buyer": t.get("buyer"), "exchange": t.get("exchange"), "gross": t.get("gross"),
            "height": height, "id": trade_id, "index": index,
            "listing_id": t.get("listing_id"), "price": _step_price("trade", t),
            "project_ids": sorted({str(r.get("project_id")) for r in t.get("ranges") or []}),
            "quantity": t.get("quantity"),
            "sale": kinds[0] if len(kinds) == 1 else "mixed", "seller": t.get("seller"),
            "settlement_date": t.get("settlement_date"),
            "time_iso": self.block_iso(height), "trade_date": t.get("trade_date"),
        }

    def market(self, listings_after: str | None, trades_before: str | None,
               limit: int) -> dict[str, Any]:
        """The market page: a page of open listings, a page of trades newest first
        (``trades_before``: ``<height>-<tx index>``, as ``trades_next``), and per month of
        the last :data:`MARKET_MONTHS` months up to the tip's month: exchange volume,
        trades, gross, average price weighted by quantity (gross / volume, rounded half up
        to the fen), lowest and highest price."""
        before = _trade_cursor(trades_before)
        listings, listings_next = self.listings(listings_after, limit)
        page, nxt = self.activity.trades_before(before, limit)
        trades = [row for row in (self.trade_row(*t) for t in page) if row is not None]
        tip_date = self.block_date(self.height())
        months = [] if tip_date is None else month_range(tip_date[:7], MARKET_MONTHS)
        prices = self.activity.month_prices()
        return {
            "listings": listings, "listings_next": listings_next,
            "months": [month_row(m, prices.get(m)) for m in months],
            "trades": trades, "trades_next": None if nxt is None else f"{nxt[0]}-{nxt[1]}",
        }

    def market_months(self) -> list[dict[str, Any]]:
        """Every month with an exchange trade, ascending (the market CSV)."""
        return [month_row(m, p) for m, p in sorted(self.activity.month_prices().items())]

    # -- policy indicators ---------------------------------------------------------------------
    def indicators(self, period: tuple[int, int] | None, county: str | None) -> dict[str, Any]:
        """The policy indicators (政策评估) of one evaluation period (default: the
        ``evaluation_years`` ending with the tip's year): one row per county (or only
        ``county``) and a total; and, for the same counties, one row per period for the
        last :data:`INDICATOR_PERIODS` periods. Reads the activity index: O(months x
        counties)."""
        years = max(1, int(self.source.evaluation_years))
        tip_date = self.block_date(self.height())
        tip_year = int(tip_date[:4]) if tip_date else 1970
        first, last = period if period is not None else (tip_year - years + 1, tip_year)
        facts = self.activity.facts(f"{first:04d}-01", f"{last:04d}-12")
        counties = self.activity.counties() if county is None else [county]
        rows = [indicator_row(_sum_facts(facts, {c}), county=c) for c in counties]
        total = indicator_row(_sum_facts(facts, set(counties)), county=None)
        periods = []
        end = tip_year
        for _ in range(INDICATOR_PERIODS):
            start = end - years + 1
            span = self.activity.facts(f"{start:04d}-01", f"{end:04d}-12")
            periods.append(dict(indicator_row(_sum_facts(span, set(counties)), county=county),
                                period=f"{start:04d}-{end:04d}"))
            end = start - 1
        return {
            "county": county, "counties": rows, "evaluation_years": years,
            "first_year": first, "last_year": last, "period": f"{first:04d}-{last:04d}",
            "periods": periods[::-1], "total": total,
            "all_counties": self.activity.counties(),
        }

    # -- projects ---------------------------------------------------------------------------
    def projects(self, after: str | None, limit: int, status: str | None = None,
                 county: str | None = None) -> dict[str, Any]:
        """A page of projects by id, each with its ``pipeline``: the height and date of
        each step -- ``submitted`` (the project's creation), ``validated`` (its current
        validation attestation), ``registered`` (备案). With ``status`` / ``county`` only
        the projects in that status / county: the page reads on in id order from one seek,
        at most :data:`PIPELINE_SCAN` records per request; if the page is not full by then,
        ``next`` is where the scan stopped (the next page goes on from there)."""
        if status is not None and status not in PIPELINE_STEPS:
            raise ExplorerError("bad_query", f"status is one of {', '.join(PIPELINE_STEPS)}")
        start = PROJECT_PREFIX if after is None else PROJECT_PREFIX + after + "\x00"
        out: list[dict[str, Any]] = []
        nxt: str | None = None
        scanned = 0
        last_seen: str | None = None  # the suffix of the last record read
        for key, raw in self.store.iter_prefix(PROJECT_PREFIX, start):
            if len(out) == limit or scanned == PIPELINE_SCAN:
                nxt = last_seen  # more records remain after it
                break
            scanned += 1
            last_seen = key[len(PROJECT_PREFIX):]
            p = decode(raw)
            if status is not None and p.get("status") != status:
                continue
            if county is not None and p.get("county_code") != county:
                continue
            out.append(dict(p, pipeline=self._pipeline(p)))
        return {"next": nxt, "projects": out}

    def _pipeline(self, p: dict[str, Any]) -> dict[str, Any]:
        """Height and date (CST, ISO 8601) of each step of a project's pipeline; a step
        not reached is null."""
        att_id = p.get("validation_attestation")
        att = self.state(attestation_key(att_id)) if isinstance(att_id, str) else None
        heights = {
            "submitted": p.get("created_height"),
            "validated": (att.get("created_height", att.get("height"))
                          if isinstance(att, dict) else None),
            "registered": (p.get("registration") or {}).get("height"),
        }
        return {step: {"height": h, "time_iso": self.block_iso(h) if isinstance(h, int) else None}
                if isinstance(h, int) else None for step, h in heights.items()}

    def project(self, project_id: str, limit: int) -> dict[str, Any]:
        project_id = parse_id(project_id, "project id")
        try:
            out = queries.project(self.store, project_id, limit=limit)
        except LedgerError as exc:
            if exc.code == "not_found":
                raise ExplorerError("unknown_project", f"no project {project_id!r}") from None
            raise
        out["vintages"] = _per_vintage(out["batches"])
        return out

    def plots_of(self, project: dict[str, Any], limit: int = 1000) -> list[dict[str, Any]]:
        """Every plot of a project (at most ``limit``; a project has at most 1000), for
        its map."""
        out = []
        for plot_id in project.get("plots", [])[:limit]:
            plot = self.state(plot_key(plot_id)) if isinstance(plot_id, str) else None
            if plot is not None:
                out.append(plot)
        return out

    def _record(self, key: str, code: str, what: str, ident: str) -> dict[str, Any]:
        record = self.state(key)
        if record is None:
            raise ExplorerError(code, f"no {what} {ident!r}")
        return record

    def project_stocks(self, project_id: str, after: str | None = None,
                       limit: int = queries.DEFAULT_LIMIT) -> dict[str, Any]:
        """Stock accounting of a project: a page of its plots, each with its verified
        stock, high-water mark and history; its reversals (each with its block's date),
        pool account and compensation obligation; ``project`` is the project record."""
        project_id = parse_id(project_id, "project id")
        try:
            out = queries.project_stocks(self.store, project_id, limit=limit, after=after)
        except LedgerError as exc:
            if exc.code == "not_found":
                raise ExplorerError("unknown_project", f"no project {project_id!r}") from None
            if exc.code == "invalid_query":
                raise ExplorerError("bad_cursor", exc.message) from None
            raise
        out["reversals"] = [self._dated(r) for r in out["reversals"]]
        out["project"] = self.state(project_key(project_id))
        return out

    def plot(self, plot_id: str) -> dict[str, Any]:
        """A plot and its stock account with one history entry per verified period
        (``chaincode.queries.plot_stock``)."""
        plot_id = parse_id(plot_id, "plot id")
        plot = self._record(plot_key(plot_id), "unknown_plot", "plot", plot_id)
        return {"plot": plot, "stock": queries.plot_stock(self.store, plot_id)}

    def report(self, report_id: str) -> dict[str, Any]:
        report_id = parse_id(report_id, "report id")
        record = self._record(report_key(report_id), "unknown_report", "monitoring report",
                              report_id)
        att_id = record.get("verification_attestation")
        reversal = self.state(reversal_key(report_id))
        return {
            "attestation": self.state(attestation_key(att_id)) if att_id else None,
            "report": record,
            "reversal": None if reversal is None else self._dated(reversal),
        }

    def attestation(self, attestation_id: str) -> dict[str, Any]:
        attestation_id = parse_id(attestation_id, "attestation id")
        return {
            "attestation": self._record(
                attestation_key(attestation_id), "unknown_attestation", "attestation",
                attestation_id,
            )
        }

    # -- issuance ----------------------------------------------------------------------------
    def batches(self, project_id: str | None, after: str | None, limit: int,
                vintage: str | None = None) -> dict[str, Any]:
        """Issuance batches by batch id, each with its unit counts; with ``project_id`` /
        ``vintage`` only those of that project / vintage: the filtered page reads on in
        batch-id order from one seek, at most :data:`LIST_SCAN` records per request (a page
        not full by then ends with ``next`` at the last record read)."""
        if project_id is not None:
            project_id = parse_id(project_id, "project id")
        year = parse_vintage(vintage)
        if year is None:
            cursor = None if after is None else BATCH_PREFIX + after
            out = queries.batches(self.store, project_id, limit=limit, after=cursor)
            nxt = out["next"]
            return {"batches": out["batches"],
                    "next": None if nxt is None else nxt[len(BATCH_PREFIX):]}

        def match(b: dict[str, Any]) -> bool:
            return (project_id is None or b.get("project_id") == project_id) and \
                b.get("vintage") == year

        found, nxt = self._filtered_page(BATCH_PREFIX, after, limit, match)
        for b in found:
            counts = batch_stats(self.store, b["id"])
            counts["issued"] = sum(counts[k] for k in
                                   ("buffer", "cancelled", "held", "listed", "retired"))
            b["counts"] = counts
        return {"batches": found, "next": nxt}

    def _filtered_page(
        self, prefix: str, after: str | None, limit: int, match: Any,
        load: Any = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Up to ``limit`` records under ``prefix`` (key suffix > ``after``, key order) for
        which ``match(record)`` holds, reading at most :data:`LIST_SCAN` records from one
        seek; ``next`` is the suffix of the last record read when more may remain (the page
        may then be short, never skips a match). ``load(value)`` turns an index value into
        the record (None: the value is the record)."""
        start = prefix if after is None else prefix + after + "\x00"
        out: list[dict[str, Any]] = []
        nxt: str | None = None
        scanned = 0
        last_seen: str | None = None
        for key, raw in self.store.iter_prefix(prefix, start):
            if len(out) == limit or scanned == LIST_SCAN:
                nxt = last_seen
                break
            scanned += 1
            last_seen = key[len(prefix):]
            value = decode(raw)
            record = value if load is None else load(value)
            if isinstance(record, dict) and match(record):
                out.append(dict(record))
        return out, nxt

    def batch(self, batch_id: str, after: str | None, limit: int) -> dict[str, Any]:
        batch_id = parse_id(batch_id, "batch id")
        batch = self._record(batch_key(batch_id), "unknown_batch", "issuance batch", batch_id)
        counts = batch_stats(self.store, batch_id)
        if after is not None and not (after.isascii() and after.isdigit()):
            raise ExplorerError("bad_cursor", "after is a unit number")
        start = 0 if after is None else int(after)
        ranges: list[dict[str, Any]] = []
        nxt = None
        # a batch's units are consecutive and no range crosses a batch: seek to the batch's
        # first unit (or past the cursor) and stop after its last one
        pid = batch["project_id"]
        begin = unit_key(pid, max(int(batch["first"]), min(start + 1, MAX_UNIT)))
        for _key, raw in self.store.iter_prefix(unit_prefix(pid), begin):
            r = decode(raw)
            if r["first"] > batch["last"]:
                break
            if r["batch_id"] != batch_id or r["first"] <= start:
                continue
            if len(ranges) == limit:
                nxt = str(ranges[-1]["first"])
                break
            ranges.append({k: r[k] for k in ("account", "first", "frozen", "last", "state",
                                                "tx_id", "height")})
        return {"batch": batch, "counts": counts, "next": nxt, "ranges": ranges}

    # -- retirements and trace --------------------------------------------------------------
    def retirements(
        self, enterprise: str | None, period: str | None, after: str | None, limit: int,
        filters: RetirementFilters | None = None,
    ) -> dict[str, Any]:
        """Retirements in commit order, optionally of one enterprise and compliance period
        (the ledger's indexes) and by ``filters``: project, vintage (of any retired range),
        use (``compliance`` / ``voluntary``), beneficiary and reason (each: contains the
        text, case-insensitively). With filters the page reads on from one seek, at most
        :data:`LIST_SCAN` records per request (``next`` then at the last record read)."""
        if enterprise is not None:
            enterprise = parse_id(enterprise, "enterprise")
        if filters is None or filters.empty():
            return queries.retirements(
                self.store, enterprise=enterprise, period=period, limit=limit, after=after
            )
        prefix = (RETIREMENT_SEQ_PREFIX if enterprise is None
                  else f"{RETIREMENT_BY_PREFIX}{enterprise}/")
        f = filters

        def load(retirement_id: Any) -> Any:
            return self.state(RETIREMENT_PREFIX + retirement_id) \
                if isinstance(retirement_id, str) else None

        def match(r: dict[str, Any]) -> bool:
            return (period is None or r.get("period") == period) and f.match(r)

        found, nxt = self._filtered_page(prefix, after, limit, match, load)
        return {"next": nxt, "retirements": found}

    def retirement(self, retirement_id: str) -> dict[str, Any]:
        if not is_hex64(retirement_id):
            raise ExplorerError("bad_tx_id", "a retirement id is the 64-hex id of its transaction")
        retirement_id = retirement_id.lower()
        record = self.state(RETIREMENT_PREFIX + retirement_id)
        if record is None:
            raise ExplorerError("unknown_retirement", f"no retirement {retirement_id}")
        time_ms = self.block_time(record["height"])
        return {"retirement": record, "time": time_ms, "time_iso": iso_time(time_ms)}

    def trace(self, serial: str) -> dict[str, Any]:
        try:
            out = queries.trace(self.store, serial)
        except LedgerError as exc:
            if exc.code == "not_found":
                raise ExplorerError("unknown_serial", exc.message) from None
            raise ExplorerError("invalid_serial", exc.message) from None
        timeline = _timeline(out)
        for entry in timeline:
            entry["time_iso"] = self.block_iso(entry["height"])
            entry["changed_time_iso"] = self.block_iso(entry["changed_height"])
        out["timeline"] = timeline
        return out

    # -- search ------------------------------------------------------------------------------
    def search(self, query: str) -> dict[str, Any]:
        """Where ``query`` leads: ``{"kind", "id", "url"}``; ``not_found`` / ``bad_query``."""
        q = query.strip() if isinstance(query, str) else ""
        if not q:
            raise ExplorerError("bad_query", "type a transaction id, height, serial, project or account")
        if len(q) > 200:
            raise ExplorerError("bad_query", "a search is at most 200 characters")
        if q.isascii() and q.isdigit() and len(q) <= 18:
            height = int(q)
            if 1 <= height <= self.height():
                return _hit("block", height)
            if len(q) < 8:
                raise ExplorerError(
                    "not_found", f"no block at height {q} (latest is {self.height()})")
        short = _SHORT_HASH_RE.fullmatch(q)
        if short is not None and not is_hex64(q):
            return self._search_short_hash(short.group(1).lower(), (short.group(2) or "").lower())
        if is_hex64(q):
            tx_id = q.lower()
            if self.store.get_tx_location(tx_id) is not None:
                return _hit("tx", tx_id)
            block_height = self.block_by_hash(tx_id)
            if block_height is not None:
                return _hit("block", block_height)
            key_hit = self._public_key_hit(tx_id)
            if key_hit is not None:
                return key_hit
            raise ExplorerError("not_found", f"no transaction, block or public key {tx_id}")
        if q[:5].casefold() == "ccer-" and parse_serial_string("CCER-" + q[5:]) is not None:
            q = "CCER-" + q[5:]  # a printable serial typed in lower case
        if parse_serial_string(q) is not None or (":" in q and q.rsplit(":", 1)[1].isascii() and q.rsplit(":", 1)[1].isdigit()):
            try:
                project_id, unit = queries.parse_serial(q)
            except LedgerError as exc:
                raise ExplorerError("invalid_serial", exc.message) from None
            # identifiers are case-sensitive on the ledger; a search is not: the exact
            # spelling first, then upper and lower case
            for project in _spellings(project_id):
                serial = f"{project}:{unit}"
                try:
                    queries.trace(self.store, serial)
                except LedgerError:
                    continue
                return _hit("trace", serial)
            raise ExplorerError("not_found", f"unit {project_id}:{unit} was never issued")
        try:
            ident: str | None = parse_id(q)
        except ExplorerError:
            ident = None
        for spelling in _spellings(ident) if ident is not None else ():
            for kind, key in (
                ("project", project_key(spelling)),
                ("account", ORG_PREFIX + spelling),
                ("batch", batch_key(spelling)),
                ("report", report_key(spelling)),
                ("attestation", attestation_key(spelling)),
                ("plot", plot_key(spelling)),
            ):
                if self.store.get(key) is not None:
                    return _hit(kind, spelling)
            if spelling == BUFFER_ACCOUNT:
                return _hit("account", spelling)
        return self._search_org_name(q)

    def _search_short_hash(self, head: str, tail: str) -> dict[str, Any]:
        """A transaction or block by a shortened hash as the explorer prints it
        (``b650e5ac39…3b6e31``: the first digits, an ellipsis, the last) or by its first 8+
        digits: one ordered seek each in the transaction and block-hash indexes."""
        found = [("tx", h) for h in self.store.tx_ids_with_prefix(head)
                 if h.endswith(tail)]
        found += [("block", h) for h in self.store.block_hashes_with_prefix(head)
                  if h.endswith(tail)]
        found += [("key", h) for h in self._public_keys_with_prefix(head) if h.endswith(tail)]
        shown = head + ("…" + tail if tail else "")
        if not found:
            raise ExplorerError(
                "not_found", f"no transaction, block or public key starts with {shown}")
        if len(found) > 1:
            raise ExplorerError(
                "bad_query",
                f"{shown} matches {len(found)} transactions, blocks or public keys; "
                "type more of the hash")
        kind, full = found[0]
        if kind == "tx":
            return _hit("tx", full)
        if kind == "key":
            hit = self._public_key_hit(full)
            assert hit is not None  # the seek just named it
            return hit
        height = self.block_by_hash(full)
        assert height is not None  # the index just named it
        return _hit("block", height)

    def _public_keys_with_prefix(self, head: str, limit: int = 16) -> list[str]:
        """Public keys (lowercase hex) that start with ``head``: member keys (one ordered
        seek in ``key/``) and the validators' keys (the validator set: a few), in order."""
        keys: set[str] = set()
        for key, _raw in self.store.iter_prefix(KEY_PREFIX + head):
            keys.add(key[len(KEY_PREFIX):])
            if len(keys) >= limit:
                break
        keys.update(k for k in self.validator_names() if isinstance(k, str) and k.startswith(head))
        return sorted(keys)[:limit]

    def _public_key_hit(self, pub_key: str) -> dict[str, Any] | None:
        """Where a public key leads: a member key to its organisation's account, else a
        validator's key to its operator's account, else to its row on the dashboard
        (``/explorer/#validator-<key>``); None for a key the ledger does not know."""
        record = self.state(KEY_PREFIX + pub_key)
        if isinstance(record, dict) and isinstance(record.get("org"), str):
            return _hit("account", record["org"])
        if pub_key in self.validator_names():
            operator = self.state(VALOP_PREFIX + pub_key)
            if isinstance(operator, str) and operator:
                return _hit("account", operator)
            return _hit("validator", pub_key)
        return None

    def _org_names(self) -> list[tuple[str, str, str]]:
        """(case-folded name, name, org id) of every organisation, by id; built once per
        height (organisations are few: one record each)."""
        def build() -> list[tuple[str, str, str]]:
            out = []
            for key, raw in self.store.iter_prefix(ORG_PREFIX):
                name = str(decode(raw).get("name") or "")
                if name:
                    out.append((name.casefold(), name, key[len(ORG_PREFIX):]))
            return out

        names: list[tuple[str, str, str]] = self._cached("org_names", build)
        return names

    def _search_org_name(self, q: str) -> dict[str, Any]:
        """An organisation by its name, case-insensitively: the exact name, else the one
        name that contains ``q``; several -> ``bad_query`` naming some of them."""
        wanted = q.casefold()
        names = self._org_names()
        exact = [org_id for folded, _name, org_id in names if folded == wanted]
        if len(exact) == 1:
            return _hit("account", exact[0])
        partial = [(name, org_id) for folded, name, org_id in names if wanted in folded]
        if len(partial) == 1:
            return _hit("account", partial[0][1])
        if partial:
            listed = "; ".join(name for name, _ in partial[:5])
            raise ExplorerError(
                "bad_query",
                f"{len(partial)} organisations' names contain {q!r} ({listed}"
                f"{'; …' if len(partial) > 5 else ''}): type more of the name")
        raise ExplorerError("not_found", f"nothing matches {q!r}")


#: A shortened hash as the explorer prints it (``b650e5ac39…3b6e31``, also with ``...``),
#: or the first 8 to 63 digits of one.
_SHORT_HASH_RE = re.compile(r"([0-9A-Fa-f]{8,63})(?:(?:…|\.\.\.)([0-9A-Fa-f]{1,56}))?")

#: Months of the market page's price and volume table and chart.
MARKET_MONTHS = 24


def _trade_cursor(text: str | None) -> tuple[int, int] | None:
    """``trades_before``: ``<height>-<tx index>`` as returned in ``trades_next``."""
    if text is None or text == "":
        return None
    height, _, index = text.partition("-")
    if not (height.isascii() and height.isdigit() and index.isascii() and index.isdigit()
            and len(height) <= 18 and len(index) <= 5):
        raise ExplorerError("bad_cursor", "trades_before is a <height>-<index> cursor returned "
                            "as trades_next")
    return int(height), int(index)


def month_range(last: str, count: int) -> list[str]:
    """The ``count`` months (``YYYY-MM``) ending with ``last``, ascending."""
    year, month = int(last[:4]), int(last[5:7])
    out = []
    for _ in range(count):
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return out[::-1]


def average_fen(gross: int, quantity: int) -> int | None:
    """``gross / quantity`` (fen per tonne) rounded half up to the fen; None for 0 t."""
    return None if quantity <= 0 else (2 * gross + quantity) // (2 * quantity)


def month_row(month: str, p: MonthPrices | None) -> dict[str, Any]:
    """One month of the market table: amounts as RMB strings with two places."""
    p = p or MonthPrices()
    avg = average_fen(p.gross, p.volume)
    return {
        "average_price": None if avg is None else fen_string(avg),
        "gross": fen_string(p.gross), "high_price": None if p.high is None else fen_string(p.high),
        "low_price": None if p.low is None else fen_string(p.low), "month": month,
        "trades": p.trades, "volume": p.volume,
        "average_fen": avg,
    }


#: The steps of a project's pipeline, in order, and the most project records one filtered
#: page of the pipeline reads.
PIPELINE_STEPS = ("submitted", "validated", "registered")
PIPELINE_SCAN = 2000

#: The most records one filtered page of the issuance or retirement list reads.
LIST_SCAN = 2000

#: Evaluation periods in the indicators' by-period table and chart.
INDICATOR_PERIODS = 5


def _sum_facts(facts: dict[tuple[str, str], dict[str, int]], counties: set[str]) -> dict[str, int]:
    out = dict.fromkeys(FACT_FIELDS, 0)
    for (_month, county), row in facts.items():
        if county in counties:
            for name in FACT_FIELDS:
                out[name] += row[name]
    return out


def indicator_row(f: dict[str, int], county: str | None) -> dict[str, Any]:
    """The indicators of summed counters ``f``: tonnes as integers, money as RMB strings
    with two places; average prices weighted by quantity, rounded half up to the fen."""
    sold = f["primary_qty"] + f["resale_qty"]
    avg = average_fen(f["primary_gross"] + f["resale_gross"], sold)
    primary_avg = average_fen(f["primary_gross"], f["primary_qty"])
    return {
        "average_price": None if avg is None else fen_string(avg),
        "county": county,
        "farmers_income": fen_string(f["farmers"]),
        "issued": f["issued"],
        "primary_average_price": None if primary_avg is None else fen_string(primary_avg),
        "primary_gross": fen_string(f["primary_gross"]),
        "projects_registered": f["registered"],
        "resale_gross": fen_string(f["resale_gross"]),
        "retired": f["retired"],
        "subsidy_owed": fen_string(f["subsidy_owed"]),
        "subsidy_paid": fen_string(f["subsidy_paid"]),
        "traded": sold,
        "traded_exchange": f["exchange_qty"],
        "traded_primary": f["primary_qty"],
        "traded_resale": f["resale_qty"],
    }


def accreditation_state(org: dict[str, Any], now_ms: int | None) -> str | None:
    """A verifier's accreditation at block time ``now_ms``: ``in_force``, ``expired``,
    ``suspended`` (the organisation is not active) or ``none``; None for other roles."""
    if "verifier" not in (org.get("roles") or []):
        return None
    if not org.get("accreditation"):
        return "none"
    if org.get("status") != "active":
        return "suspended"
    if now_ms is not None and accreditation_in_force(org, now_ms) is None:
        return "expired"
    return "in_force"


def _spellings(ident: str) -> list[str]:
    """``ident`` as typed, then in upper and in lower case (each once, in that order)."""
    return list(dict.fromkeys((ident, ident.upper(), ident.lower())))


def _per_vintage(batches: Iterable[dict[str, Any]]) -> list[dict[str, int]]:
    """Per vintage, ascending: units issued and retired over ``batches`` (each with the
    ``counts`` that ``chaincode.queries`` gives it)."""
    per: dict[int, dict[str, int]] = {}
    for b in batches:
        row = per.setdefault(b["vintage"], {"issued": 0, "retired": 0})
        row["issued"] += b["quantity"]
        row["retired"] += (b.get("counts") or {}).get("retired", 0)
    return [dict(per[v], vintage=v) for v in sorted(per)]


def _hit(kind: str, ident: str | int) -> dict[str, Any]:
    return {"id": ident, "kind": kind, "url": url_for(kind, ident)}


def _links(args: Any, events: Any) -> list[dict[str, Any]]:
    """Pages of the records a transaction names (arguments and result events)."""
    seen: set[tuple[str, str]] = set()
    out: list[dict[str, Any]] = []

    def add(kind: str, value: Any) -> None:
        if kind == "trace":
            parsed = parse_serial_string(value) if isinstance(value, str) else None
            if parsed is None:
                return
            value = f"{parsed[0]}:{parsed[2]}"
        elif kind == "certificate":
            if not is_hex64(value):
                return
        else:
            try:
                parse_id(value)
            except ExplorerError:
                return
        if (kind, value) not in seen:
            seen.add((kind, value))
            out.append({"id": value, "kind": kind, "url": url_for(kind, value)})

    def walk(obj: Any, depth: int) -> None:
        if depth > 4 or not isinstance(obj, dict):
            return
        for key in sorted(obj):
            value = obj[key]
            kind = LINK_KEYS.get(key)
            if kind is not None:
                for item in value if isinstance(value, list) else [value]:
                    if isinstance(item, str):
                        add(kind, item)
            elif isinstance(value, dict):
                walk(value, depth + 1)

    walk(args if isinstance(args, dict) else {}, 0)
    for event in events if isinstance(events, list) else []:
        walk(event, 0)
    return out


def _timeline(trace: dict[str, Any]) -> list[dict[str, Any]]:
    """The trace as one list in the order things happened: plots, project, validation,
    registration, monitoring report, verification, then every step of the unit's history
    (issuance, trades, transfers, freezes, retirement or cancellation)."""
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for ref in trace["provenance"]:
        by_kind.setdefault(ref["kind"], []).append(ref)
    out: list[dict[str, Any]] = []
    for kind in ("plot", "project", "validation", "registration", "report", "verification"):
        for ref in by_kind.get(kind, []):
            if ref["tx_id"] is None and ref["record"] is None:
                continue
            link_kind = {"validation": "attestation", "verification": "attestation",
                         "registration": "project"}.get(kind, kind)
            ident = ref["id"]
            # ``tx_id``/``height``: the transaction that created the record (``_ref`` reads
            # ``created_*``); plots, projects and reports are re-stamped when they change
            # later (project assignment, issuance): the record's own ``tx_id``/``height``
            # is then its last change
            record = ref["record"] if isinstance(ref["record"], dict) else {}
            changed_tx = record.get("tx_id")
            changed = isinstance(changed_tx, str) and changed_tx != ref["tx_id"]
            out.append({
                "action": kind,
                "changed_height": record.get("height") if changed else None,
                "changed_tx_id": changed_tx if changed else None,
                "from": None,
                "height": ref["height"],
                "id": ident,
                "price": None,
                "quantity": None,
                "record": ref["record"],
                "to": None,
                "tx_id": ref["tx_id"],
                "url": url_for(link_kind, ident) if isinstance(ident, str) else None,
            })
    for step in trace["steps"]:
        record = step.get("record") or {}
        ident = record.get("id") if isinstance(record, dict) else None
        url = None
        if step["action"] == "issue" and ident:
            url = url_for("batch", ident)
        elif step["action"] == "retire" and ident:
            url = url_for("certificate", ident)
        out.append({
            "action": step["action"],
            "changed_height": None,
            "changed_tx_id": None,
            "exchange": record.get("exchange") if isinstance(record, dict) else None,
            "from": step.get("from"),
            "height": step.get("height"),
            "id": ident,
            "price": _step_price(step["action"], record),
            "quantity": _step_quantity(step, record),
            "record": step.get("record"),
            "to": step.get("to"),
            "tx_id": step.get("tx_id"),
            "url": url,
        })
    return out


def _step_quantity(step: dict[str, Any], record: Any) -> int | None:
    """Tonnes the step's transaction moved: an issuance's share for the step's account
    (the owner's or the buffer pool's), else the quantity of the step's record."""
    if not isinstance(record, dict):
        return None
    value = record.get("quantity")
    if step["action"] == "issue":
        share = "buffer_quantity" if step.get("to") == BUFFER_ACCOUNT else "owner_quantity"
        value = record.get(share, value)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _step_price(action: str, record: Any) -> str | None:
    """The price per tonne (a decimal string, RMB) of a sale or listing step."""
    if action not in ("list", "trade", "transfer") or not isinstance(record, dict):
        return None
    price = record.get("price")
    if not isinstance(price, str) or not price:
        return None
    whole, _, frac = price.partition(".")
    # a price argument has at most two decimal places: shown with exactly two
    return f"{whole}.{frac:0<2}" if len(frac) <= 2 else price
