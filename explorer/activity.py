"""A derived index of market and policy activity, kept incrementally by the explorer.

The ledger keeps trades by trade id (``trade/<tx id>``: not in time order) and no
aggregate per month or county. The market page (recent trades newest first, price and
volume per month) and the policy indicators (per county and evaluation period) read this
index instead of scanning the chain per request:

* **cold start** (the first request after the explorer starts): one pass over the records
  that carry their own height -- ``trade/``, ``transfer/``, ``retirement/``, ``batch/``,
  ``subsidy/``, ``project/`` -- keeping only what was committed at or below the tip read
  first (O(records), once);
* **after that**, at every request: only the blocks committed since the last request, by
  the events of their successful transactions (``carbon.traded``, ``carbon.transferred``,
  ``carbon.retired``, ``carbon.issued``, ``carbon.subsidy_accrued``,
  ``carbon.subsidy_paid``, ``carbon.project_registered``): O(new blocks).

What it holds (memory O(trades) + O(projects) + O(months x counties)):

* ``trades``: ``(height, tx index, trade id)`` of every exchange trade, ascending, so that
  a newest-first page is one bisection plus the page (O(log n) + O(page));
* per calendar month of China Standard Time (``YYYY-MM``) and county (the project's
  ``county_code``: its first plot's county), the counters of :data:`FACT_FIELDS` (tonnes
  and whole fen, exact integers); the county of each project is read once and kept;
* per month, the exchange price statistics: volume, gross (fen), lowest and highest price
  per tonne (fen), number of trades.

Months: a trade counts in the month of its ``trade_date`` (the block's date, CST), a
priced transfer, a retirement, an issuance and a registration in the month of their
block's date, an accrued subsidy in the month of ``accrued_date``, a payment in the month
of ``paid_date``. Everything here is read-only and outside consensus.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from chaincode.carbon_common import BATCH_PREFIX, PROJECT_PREFIX
from chaincode.carbon_market import (
    RETIREMENT_PREFIX,
    SUBSIDY_PREFIX,
    TRADE_PREFIX,
    TRANSFER_PREFIX,
)
from ledger.block import stored_block_elements
from ledger.encoding import decode

__all__ = ["FACT_FIELDS", "ActivityIndex", "MonthPrices", "fen", "month_of"]

#: Counters kept per (month, county): ``registered`` (projects registered, 0 or 1),
#: ``issued`` (tonnes issued, owner and buffer shares), ``primary_qty`` / ``primary_gross``
#: (tonnes sold by the project's owner and their gross, fen: exchange trades and priced
#: transfers), ``resale_qty`` / ``resale_gross`` (later holders' sales), ``exchange_qty``
#: (tonnes sold on an exchange, primary or resale), ``farmers`` (the farmers' share of the
#: primary sales, fen), ``retired`` (tonnes retired), ``subsidy_owed`` /
#: ``subsidy_paid`` (fen).
FACT_FIELDS = ("registered", "issued", "primary_qty", "primary_gross", "resale_qty",
               "resale_gross", "exchange_qty", "farmers", "retired", "subsidy_owed",
               "subsidy_paid")


def fen(amount: Any) -> int:
    """A decimal RMB string with at most 2 places (as the ledger writes amounts and
    prices) in whole fen; 0 for None."""
    if amount is None:
        return 0
    text = str(amount)
    sign = -1 if text.startswith("-") else 1
    whole, _, frac = text.lstrip("-").partition(".")
    if len(frac) > 2 or not ((whole + frac).isascii() and (whole + frac).isdigit()):
        raise ValueError(f"not an amount in RMB with at most 2 places: {text!r}")
    return sign * (int(whole or "0") * 100 + int((frac + "00")[:2]))


def month_of(day: Any) -> str | None:
    """``YYYY-MM`` of a ``YYYY-MM-DD`` date (None if it is not one)."""
    if isinstance(day, str) and len(day) >= 7 and day[4] == "-":
        return day[:7]
    return None


@dataclass
class MonthPrices:
    """The exchange trades of one month: volume (t), gross (fen), price range (fen/t)."""

    volume: int = 0
    gross: int = 0
    low: int | None = None
    high: int | None = None
    trades: int = 0

    def add(self, quantity: int, price: int) -> None:
        self.volume += quantity
        self.gross += quantity * price
        self.low = price if self.low is None else min(self.low, price)
        self.high = price if self.high is None else max(self.high, price)
        self.trades += 1


@dataclass
class _State:
    height: int | None = None
    trades: list[tuple[int, int, str]] = field(default_factory=list)
    facts: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)
    counties: dict[str, str] = field(default_factory=dict)
    prices: dict[str, MonthPrices] = field(default_factory=dict)


class ActivityIndex:
    """The index over one store; ``block_date(height)`` gives a block's date (CST,
    ``YYYY-MM-DD``) or None."""

    def __init__(self, store: Any, block_date: Callable[[int], str | None]) -> None:
        self.store = store
        self.block_date = block_date
        self._lock = threading.Lock()
        self._s = _State()

    # -- reading ------------------------------------------------------------------------
    def refresh(self) -> int:
        """Bring the index up to the store's tip; return the height it covers."""
        with self._lock:
            tip = self.store.latest_height()
            if self._s.height is None:
                self._cold_start(tip)
            else:
                for height in range(self._s.height + 1, tip + 1):
                    self._block(height)
            self._s.height = tip
            return tip

    def trades_before(self, before: tuple[int, int] | None, limit: int
                      ) -> tuple[list[tuple[int, int, str]], tuple[int, int] | None]:
        """Up to ``limit`` trades before position ``before`` (exclusive; None: the newest),
        newest first, and the position to pass for the next page (None: no more)."""
        self.refresh()
        with self._lock:
            trades = self._s.trades
            end = len(trades) if before is None else bisect.bisect_left(trades, (*before, ""))
            start = max(0, end - limit)
            page = trades[start:end][::-1]
            nxt = (trades[start][0], trades[start][1]) if start > 0 and page else None
        return page, nxt

    def month_prices(self) -> dict[str, MonthPrices]:
        """Exchange price statistics per month (a copy)."""
        self.refresh()
        with self._lock:
            return {m: MonthPrices(p.volume, p.gross, p.low, p.high, p.trades)
                    for m, p in self._s.prices.items()}

    def facts(self, first_month: str, last_month: str) -> dict[tuple[str, str], dict[str, int]]:
        """The counters of every (month, county) with ``first_month <= month <=
        last_month`` (copies; O(months x counties) held)."""
        self.refresh()
        with self._lock:
            return {k: dict(v) for k, v in self._s.facts.items()
                    if first_month <= k[0] <= last_month}

    def counties(self) -> list[str]:
        """Every county with a project that has any counted activity, sorted."""
        self.refresh()
        with self._lock:
            return sorted({county for _month, county in self._s.facts})

    # -- building -------------------------------------------------------------------------
    def _scan(self, prefix: str) -> Iterator[Any]:
        for _key, raw in self.store.iter_prefix(prefix):
            yield decode(raw)

    def _cold_start(self, tip: int) -> None:
        def upto(record: Any, name: str = "height") -> bool:
            h = record.get(name) if isinstance(record, dict) else None
            return isinstance(h, int) and h <= tip

        for t in self._scan(TRADE_PREFIX):
            if upto(t):
                self._trade(t)
        for t in self._scan(TRANSFER_PREFIX):
            if upto(t):
                self._transfer(t)
        for r in self._scan(RETIREMENT_PREFIX):
            if upto(r):
                self._retirement(r)
        for b in self._scan(BATCH_PREFIX):
            if upto(b, "created_height" if "created_height" in b else "height"):
                self._issued(b)
        for s in self._scan(SUBSIDY_PREFIX):
            if upto(s):
                self._subsidy_owed(s)
            if upto(s, "paid_height"):
                self._subsidy_paid(s)
        for p in self._scan(PROJECT_PREFIX):
            if upto(p.get("registration") or {}):
                self._registered(p)
        self._s.trades.sort()

    def _block(self, height: int) -> None:
        raw = self.store.get_block_json(height)
        if raw is None:
            return
        for result_raw in stored_block_elements(raw, "results"):
            result = decode(result_raw)
            if result.get("code") != "ok":
                continue
            for event in result.get("events") or []:
                self._event(event)

    def _get(self, key: str) -> Any:
        raw = self.store.get(key)
        return None if raw is None else decode(raw)

    def _event(self, event: Any) -> None:
        if not isinstance(event, dict):
            return
        kind = event.get("type")
        if kind == "carbon.traded":
            record = self._get(TRADE_PREFIX + str(event.get("trade_id")))
            if record is not None:
                self._trade(record)
        elif kind == "carbon.transferred":
            record = self._get(TRANSFER_PREFIX + str(event.get("transfer_id")))
            if record is not None:
                self._transfer(record)
        elif kind == "carbon.retired":
            record = self._get(RETIREMENT_PREFIX + str(event.get("retirement_id")))
            if record is not None:
                self._retirement(record)
        elif kind == "carbon.issued":
            record = self._get(BATCH_PREFIX + str(event.get("batch_id")))
            if record is not None:
                self._issued(record)
        elif kind in ("carbon.subsidy_accrued", "carbon.subsidy_paid"):
            record = self._get(SUBSIDY_PREFIX + str(event.get("batch_id")))
            if record is not None and kind == "carbon.subsidy_accrued":
                self._subsidy_owed(record)
            elif record is not None:
                self._subsidy_paid(record)
        elif kind == "carbon.project_registered":
            record = self._get(PROJECT_PREFIX + str(event.get("project_id")))
            if record is not None:
                self._registered(record)

    def _county(self, project_id: str) -> str:
        county = self._s.counties.get(project_id)
        if county is None:
            project = self._get(PROJECT_PREFIX + project_id)
            code = project.get("county_code") if isinstance(project, dict) else None
            county = code if isinstance(code, str) and code else "unknown"
            self._s.counties[project_id] = county
        return county

    def _add(self, month: str | None, project_id: Any, **counts: int) -> None:
        if month is None or not isinstance(project_id, str):
            return
        key = (month, self._county(project_id))
        row = self._s.facts.setdefault(key, dict.fromkeys(FACT_FIELDS, 0))
        for name, value in counts.items():
            row[name] += value

    def _block_month(self, height: Any) -> str | None:
        return month_of(self.block_date(height)) if isinstance(height, int) else None

    def _sale(self, month: str | None, record: dict[str, Any], exchange: bool) -> None:
        for p in record.get("proceeds") or []:
            qty, gross = int(p.get("quantity") or 0), fen(p.get("gross"))
            if p.get("sale") == "primary":
                self._add(month, p.get("project_id"), primary_qty=qty, primary_gross=gross,
                          farmers=fen(p.get("farmers")), exchange_qty=qty if exchange else 0)
            else:
                self._add(month, p.get("project_id"), resale_qty=qty, resale_gross=gross,
                          exchange_qty=qty if exchange else 0)

    def _trade(self, t: dict[str, Any]) -> None:
        # heights only grow after the cold start (sorted once at its end): append keeps order
        location = self.store.get_tx_location(t["id"])
        index = location[1] if location is not None else 0
        self._s.trades.append((int(t["height"]), index, str(t["id"])))
        month = month_of(t.get("trade_date")) or self._block_month(t.get("height"))
        if month is not None:
            self._s.prices.setdefault(month, MonthPrices()).add(
                int(t["quantity"]), fen(t["price"]))
        self._sale(month, t, exchange=True)

    def _transfer(self, t: dict[str, Any]) -> None:
        if t.get("price") is not None:  # a transfer without a price is not a sale
            self._sale(self._block_month(t.get("height")), t, exchange=False)

    def _retirement(self, r: dict[str, Any]) -> None:
        month = self._block_month(r.get("height"))
        for rng in r.get("ranges") or []:
            self._add(month, rng.get("project_id"), retired=int(rng.get("quantity") or 0))

    def _issued(self, b: dict[str, Any]) -> None:
        month = self._block_month(b.get("created_height", b.get("height")))
        self._add(month, b.get("project_id"), issued=int(b.get("quantity") or 0))

    def _subsidy_owed(self, s: dict[str, Any]) -> None:
        self._add(month_of(s.get("accrued_date")), s.get("project_id"),
                  subsidy_owed=fen(s.get("amount")))

    def _subsidy_paid(self, s: dict[str, Any]) -> None:
        self._add(month_of(s.get("paid_date")), s.get("project_id"),
                  subsidy_paid=fen(s.get("amount")))

    def _registered(self, p: dict[str, Any]) -> None:
        reg = p.get("registration") or {}
        self._add(self._block_month(reg.get("height")), p.get("id"), registered=1)
