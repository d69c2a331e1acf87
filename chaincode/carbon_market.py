"""Market half of the "carbon" contract: listings, matched trades, off-exchange transfers,
compliance obligations, retirements, loss events, freezes, invalidation and subsidies
(DOMAIN.md lifecycle steps 9-12). docs/contracts/carbon-market.md describes every record
and error code.

Units move only through chaincode/units.py. Record ids are the id of the transaction that
created the record (``listing/<tx_id>``, ``trade/<tx_id>``, ``retirement/<tx_id>``, ...).

Money: prices are decimal strings in RMB with at most 2 places (fen). A sale's gross is
``quantity x price`` in whole fen (exact). The farmers' and government's shares are
``floor(gross x share)`` in fen; the owner receives the remainder, so the three amounts
always sum to the gross exactly. Subsidies: ``floor(tonnes x rate)`` in fen.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from fractions import Fraction
from typing import Any

from chaincode.carbon_common import (
    batch_key,
    block_date,
    decimal_value,
    load_or_fail,
    project_key,
    require_org_signer,
    serial_string,
    validate_date,
)
from chaincode.evidence import EVIDENCE_ARG, validate_evidence
from chaincode.framework import ORG_PREFIX, ChaincodeError, TxContext, method
from chaincode.pool import cancel_from_pool, record_pool_event
from chaincode.schema import Arg
from chaincode.stock import load_stock, save_stock
from chaincode.units import (
    BUFFER_ACCOUNT,
    RESERVED_ACCOUNTS,
    Slice,
    account_slices,
    move,
    range_quantity,
    select_serial_range,
    select_units,
    set_frozen,
)
from ledger.fixedpoint import floor_int

__all__ = [
    "FREEZE_PREFIX",
    "HOLDER_ROLES",
    "INCOME_PREFIX",
    "INVALIDATION_PREFIX",
    "LISTING_PREFIX",
    "LOSS_PREFIX",
    "MarketMethods",
    "OBLIGATION_PREFIX",
    "OPEN_LISTING_PREFIX",
    "RETIREMENT_BY_PREFIX",
    "RETIREMENT_PREFIX",
    "RETIREMENT_SEQ_PREFIX",
    "SUBSIDY_PREFIX",
    "TRADE_PREFIX",
    "TRANSFER_PREFIX",
    "fen_string",
    "settlement_date_after",
    "split_proceeds",
]

LISTING_PREFIX = "listing/"
OPEN_LISTING_PREFIX = "open_listing/"  # open_listing/<seller>/<listing_id> -> {}
TRADE_PREFIX = "trade/"
TRANSFER_PREFIX = "transfer/"
OBLIGATION_PREFIX = "obligation/"  # obligation/<enterprise>/<period>
RETIREMENT_PREFIX = "retirement/"
#: Chronological indexes of retirements (values are retirement ids):
#: retirement_seq/<height:012d>/<tx_index:05d> and retirement_by/<enterprise>/<height>/<index>
RETIREMENT_SEQ_PREFIX = "retirement_seq/"
RETIREMENT_BY_PREFIX = "retirement_by/"
LOSS_PREFIX = "loss/"
FREEZE_PREFIX = "freeze/"
INVALIDATION_PREFIX = "invalidation/"
SUBSIDY_PREFIX = "subsidy/"  # subsidy/<batch_id>
#: income/<project_id>: the project's sales so far, kept at every sale (whole fen, tonnes):
#: primary_quantity, gross, owner, farmers, government (primary sales: project income),
#: resale_quantity, resale_gross (later holders' sales: not project income)
INCOME_PREFIX = "income/"

#: Organisations that may hold units.
HOLDER_ROLES = ("owner", "buyer")
MAX_QUANTITY = 10**12 - 1
QTY = Arg("int", min=1, max=MAX_QUANTITY)
UNIT_NO = Arg("int", required=False, min=1, max=MAX_QUANTITY)
PRICE = Arg("decimal", places=2)
PERIOD = Arg("str", min=4, max=14, pattern=r"[0-9]{4}(-[0-9A-Za-z]{1,9})?")
REASON = Arg("str", min=1, max=512)
SELECTION = {
    "project_id": Arg("id", required=False),
    "batch_id": Arg("id", required=False),
    "first": UNIT_NO,
    "last": UNIT_NO,
}


# -- small pure helpers -------------------------------------------------------------------
def fen_string(fen: int) -> str:
    """Whole fen as a decimal RMB string with exactly two places (``12345`` -> ``"123.45"``)."""
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}{fen // 100}.{fen % 100:02d}"


def price_fen(price: str) -> int:
    """A validated price string (at most 2 places) in whole fen."""
    value = decimal_value(price, "price", code="invalid_price") * 100
    if value.denominator != 1 or value <= 0:
        raise ChaincodeError("invalid_price", "price must be a positive amount in RMB with at most 2 places")
    return value.numerator


def split_proceeds(gross_fen: int, split: dict[str, Any]) -> dict[str, int]:
    """Split ``gross_fen`` by the benefit-sharing shares ``{owner, farmers, government}``:
    farmers and government get ``floor(gross x share)`` fen, the owner the remainder."""
    farmers = floor_int(gross_fen * decimal_value(split["farmers"], "benefit_split.farmers"))
    government = floor_int(
        gross_fen * decimal_value(split["government"], "benefit_split.government")
    )
    return {"farmers": farmers, "government": government, "owner": gross_fen - farmers - government}


def settlement_date_after(day: str) -> str:
    """T+1: the next weekday after the date ``day`` ("YYYY-MM-DD"; public holidays are not
    modelled, the exchange may name a later settlement date explicitly)."""
    nxt = date.fromisoformat(day) + timedelta(days=1)
    while nxt.weekday() >= 5:
        nxt += timedelta(days=1)
    return nxt.isoformat()


def _subtract(ranges: list[dict[str, Any]], project_id: str, a: int, b: int) -> tuple[list, int]:
    """Remove units ``[a, b]`` of ``project_id`` from a list of ``{project_id, first, last}``
    intervals; return the new list and how many units were removed."""
    out: list[dict[str, Any]] = []
    removed = 0
    for r in ranges:
        if r["project_id"] != project_id or r["last"] < a or r["first"] > b:
            out.append(r)
            continue
        removed += min(r["last"], b) - max(r["first"], a) + 1
        if r["first"] < a:
            out.append({"first": r["first"], "last": a - 1, "project_id": project_id})
        if r["last"] > b:
            out.append({"first": b + 1, "last": r["last"], "project_id": project_id})
    return out, removed


def _range_view(record: dict[str, Any]) -> dict[str, Any]:
    """A unit range as records and events show it (with its printable serial)."""
    return {
        "batch_id": record["batch_id"],
        "first": record["first"],
        "last": record["last"],
        "project_id": record["project_id"],
        "quantity": range_quantity(record),
        "serial": serial_string(
            record["project_id"], record["vintage"], record["first"], record["last"]
        ),
        "vintage": record["vintage"],
    }


def _open_listing_key(seller: str, listing_id: str) -> str:
    return f"{OPEN_LISTING_PREFIX}{seller}/{listing_id}"


def _obligation_key(enterprise: str, period: str) -> str:
    return f"{OBLIGATION_PREFIX}{enterprise}/{period}"


def _stamped(ctx: TxContext, record: dict[str, Any]) -> dict[str, Any]:
    """Set ``tx_id`` and ``height`` of the current transaction on ``record`` (in place).
    Unlike ``carbon_common.stamp`` it adds no ``created_*`` fields: market records are
    named by the transaction that created them."""
    record["tx_id"] = ctx.tx_id
    record["height"] = ctx.block.height
    return record


def _record_range_change(
    ctx: TxContext, prefix: str, event: str, pid: str, first: int, last: int, quantity: int,
    **fields: Any,
) -> dict[str, Any]:
    """Store the record of a regulator's action on units ``first..last`` of ``pid``
    (``prefix`` + tx id; ``fields`` complete it), emit ``event``, return the quantity."""
    ctx.put(prefix + ctx.tx_id, _stamped(ctx, {
        "first": first, "id": ctx.tx_id, "last": last, "project_id": pid, "quantity": quantity,
        **fields,
    }))
    ctx.emit(event, project_id=pid, first=first, last=last, quantity=quantity)
    return {"quantity": quantity}


# -- checks that read state ---------------------------------------------------------------
def _org(ctx: TxContext, org_id: str, roles: tuple[str, ...], what: str) -> dict[str, Any]:
    org = ctx.get(ORG_PREFIX + org_id)
    if org is None or org.get("status") != "active":
        raise ChaincodeError("unknown_org", f"{what} {org_id!r} is not an active organisation")
    if not any(r in org.get("roles", ()) for r in roles):
        raise ChaincodeError("invalid_role", f"{what} {org_id!r} does not hold role {' or '.join(roles)}")
    return org


def _save_listing(ctx: TxContext, listing: dict[str, Any]) -> None:
    ctx.put(LISTING_PREFIX + listing["id"], _stamped(ctx, listing))


def _batch(ctx: TxContext, batch_id: str) -> dict[str, Any]:
    return load_or_fail(ctx, batch_key(batch_id), "unknown_batch", f"no batch {batch_id!r}")


def _project(ctx: TxContext, project_id: str) -> dict[str, Any]:
    return load_or_fail(ctx, project_key(project_id), "unknown_project", f"no project {project_id!r}")


def _selection(ctx: TxContext, args: dict[str, Any]) -> dict[str, Any]:
    """Resolve the optional unit restriction (project / batch / serial range) of a call."""
    project_id, batch_id = args.get("project_id"), args.get("batch_id")
    first, last = args.get("first"), args.get("last")
    if batch_id is not None:
        batch = _batch(ctx, batch_id)
        if project_id is not None and project_id != batch["project_id"]:
            raise ChaincodeError("batch_not_in_project", f"batch {batch_id} is not of project {project_id}")
        project_id = batch["project_id"]
    if (first is None) != (last is None):
        raise ChaincodeError("invalid_range", "give both first and last, or neither")
    if first is not None:
        if project_id is None:
            raise ChaincodeError("invalid_range", "a serial range needs project_id or batch_id")
        if last < first:
            raise ChaincodeError("invalid_range", f"last {last} is before first {first}")
    if project_id is not None:
        _project(ctx, project_id)
    return {"batch_id": batch_id, "first": first, "last": last, "project_id": project_id}


def _listed_units(ctx: TxContext, seller: str, interval: dict[str, Any]) -> list[Slice]:
    """The unfrozen units of one interval of an open listing, in ascending order (every
    unit of an open listing's intervals is listed by the seller)."""
    slices = account_slices(
        ctx, account=seller, state="listed", project_id=interval["project_id"],
        first=interval["first"], last=interval["last"],
    )
    return [s for s in slices if not s.record["frozen"]]


def _never_sold(record: Mapping[str, Any], owner: str) -> bool:
    """True if the units of ``record`` (just moved by a sale, its last history step) never
    left ``owner``'s account before that sale: every earlier step ended at the owner."""
    return all(step["to"] == owner for step in record["history"][:-1])


def _sale_proceeds(
    ctx: TxContext, seller: str, moved: list[dict[str, Any]], unit_fen: int
) -> list[dict[str, Any]]:
    """The benefit-split record of one sale of the ranges ``moved`` at ``unit_fen`` fen per
    unit by ``seller``, shared by ``match_trade`` and a priced ``transfer``: one entry per
    project of the units sold and kind of sale, by project id (a primary entry before a
    resale entry). Units the seller sells as their project's ``owner_org`` that never
    left the owner's account before (their history) are a **primary** sale (project
    income): the entry carries the split of its gross by the project's ``benefit_split``.
    Units sold by a later holder -- the owner too, for units it bought back -- are a
    **resale**: not project income, so ``owner``/``farmers``/``government`` are null."""
    per_sale: dict[tuple[str, str], int] = {}
    projects: dict[str, dict[str, Any]] = {}
    for m in moved:
        pid = m["project_id"]
        if pid not in projects:
            projects[pid] = _project(ctx, pid)
        owner = projects[pid]["owner_org"]
        sale = "primary" if owner == seller and _never_sold(m, owner) else "resale"
        per_sale[(pid, sale)] = per_sale.get((pid, sale), 0) + range_quantity(m)
    proceeds = []
    for pid, sale in sorted(per_sale):
        project = projects[pid]
        quantity = per_sale[(pid, sale)]
        gross = quantity * unit_fen
        entry: dict[str, Any] = {
            "farmers": None,
            "government": None,
            "gross": fen_string(gross),
            "owner": None,
            "owner_org": project["owner_org"],
            "project_id": pid,
            "quantity": quantity,
            "sale": "resale",
        }
        income = ctx.get(INCOME_PREFIX + pid) or {
            "farmers": 0, "government": 0, "gross": 0, "owner": 0, "primary_quantity": 0,
            "project_id": pid, "resale_gross": 0, "resale_quantity": 0,
        }
        if sale == "primary":
            shares = split_proceeds(gross, project["benefit_split"])
            entry.update(
                farmers=fen_string(shares["farmers"]),
                government=fen_string(shares["government"]),
                owner=fen_string(shares["owner"]),
                sale="primary",
            )
            income["primary_quantity"] += quantity
            income["gross"] += gross
            for part in ("farmers", "government", "owner"):
                income[part] += shares[part]
        else:
            income["resale_quantity"] += quantity
            income["resale_gross"] += gross
        ctx.put(INCOME_PREFIX + pid, income)
        proceeds.append(entry)
    return proceeds


def _signer_org(ctx: TxContext, roles: tuple[str, ...]) -> str:
    return ctx.signer_with_role(*roles).org_id


class MarketMethods:
    """Methods of the "carbon" contract for steps 9-12 of the lifecycle (a mixin)."""

    # -- on-exchange trading ------------------------------------------------------------
    @method(
        roles=HOLDER_ROLES,
        args={"quantity": QTY, "price": PRICE, "exchange_org": Arg("id"), **SELECTION},
    )
    def create_listing(self, ctx: TxContext, args: dict) -> dict:
        """List ``quantity`` held units of the signer's organisation at ``price`` (RMB per
        tonne) on ``exchange_org``; the units move held -> listed."""
        seller = _signer_org(ctx, HOLDER_ROLES)
        price_fen(args["price"])
        _org(ctx, args["exchange_org"], ("exchange",), "exchange_org")
        sel = _selection(ctx, args)
        picked = select_units(ctx, account=seller, state="held", quantity=args["quantity"], **sel)
        moved = move(ctx, picked, to_account=seller, to_state="listed", action="list")
        listing_id = ctx.tx_id
        listing = {
            "batch_id": sel["batch_id"],
            "exchange": args["exchange_org"],
            "id": listing_id,
            "price": args["price"],
            "project_id": sel["project_id"],
            "quantity": args["quantity"],
            "ranges": [{"first": r["first"], "last": r["last"], "project_id": r["project_id"]}
                       for r in moved],
            "remaining": args["quantity"],
            "seller": seller,
            "status": "open",
        }
        _save_listing(ctx, listing)
        ctx.put(_open_listing_key(seller, listing_id), {})
        ctx.emit("carbon.listed", listing_id=listing_id, seller=seller,
                 quantity=args["quantity"], price=args["price"])
        return {"listing_id": listing_id}

    @method(args={"listing_id": Arg("id")})
    def cancel_listing(self, ctx: TxContext, args: dict) -> dict:
        """The seller withdraws an open listing; its remaining units go back to held."""
        listing = self._open_listing(ctx, args["listing_id"])
        require_org_signer(ctx, listing["seller"], "unauthorized")
        for r in listing["ranges"]:
            picked = _listed_units(ctx, listing["seller"], r)
            if sum(s.quantity for s in picked) != range_quantity(r):
                raise ChaincodeError("units_frozen", "some units of this listing are frozen")
            move(ctx, picked, to_account=listing["seller"], to_state="held", action="delist")
        withdrawn = listing["remaining"]
        listing.update(ranges=[], remaining=0, status="cancelled", withdrawn=withdrawn)
        _save_listing(ctx, listing)
        ctx.delete(_open_listing_key(listing["seller"], listing["id"]))
        ctx.emit("carbon.listing_cancelled", listing_id=listing["id"], quantity=withdrawn)
        return {"listing_id": listing["id"], "withdrawn": withdrawn}

    @method(
        roles=("exchange",),
        args={
            "listing_id": Arg("id"),
            "buyer_org": Arg("id"),
            "quantity": QTY,
            "price": PRICE,
            "settlement_ref": Arg("str", min=1, max=128),
            "settlement_date": Arg("str", required=False, min=10, max=10),
        },
    )
    def match_trade(self, ctx: TxContext, args: dict) -> dict:
        """The exchange records a matched trade: ``quantity`` units of a listing go to
        ``buyer_org`` at ``price`` (>= the listing's price); settlement is off-ledger, T+1,
        under ``settlement_ref``. Records the proceeds per project: the benefit split for
        units the seller sells as their project's owner, none for resold units."""
        listing = self._open_listing(ctx, args["listing_id"])
        require_org_signer(ctx, listing["exchange"], "wrong_exchange")
        buyer = args["buyer_org"]
        _org(ctx, buyer, HOLDER_ROLES, "buyer_org")
        if buyer == listing["seller"]:
            raise ChaincodeError("self_trade", "the buyer is the seller")
        qty = args["quantity"]
        if qty > listing["remaining"]:
            raise ChaincodeError(
                "exceeds_listing", f"the listing has {listing['remaining']} units left, {qty} asked"
            )
        unit_fen = price_fen(args["price"])
        if unit_fen < price_fen(listing["price"]):
            raise ChaincodeError("price_below_ask", f"price is below the listed {listing['price']}")
        day = block_date(ctx)  # the trade date, China Standard Time
        if args["settlement_date"] is None:
            settle = settlement_date_after(day)
        else:
            settle = validate_date(args["settlement_date"], "settlement_date")
            if settle <= day:
                raise ChaincodeError(
                    "invalid_settlement_date", f"settlement must be after the trade date {day}"
                )
        moved: list[dict[str, Any]] = []
        need = qty
        for r in listing["ranges"]:
            if need == 0:
                break
            picked = []
            for s in _listed_units(ctx, listing["seller"], r):
                if need == 0:
                    break
                take = min(need, s.quantity)
                picked.append(Slice(s.project_id, s.first, s.first + take - 1, s.record))
                need -= take
            moved += move(ctx, picked, to_account=buyer, to_state="held", action="trade")
        if need:
            raise ChaincodeError(
                "units_frozen", f"only {qty - need} of the listing's units are not frozen"
            )
        ranges = listing["ranges"]
        for m in moved:
            ranges, _ = _subtract(ranges, m["project_id"], m["first"], m["last"])
        proceeds = _sale_proceeds(ctx, listing["seller"], moved, unit_fen)
        listing.update(ranges=ranges, remaining=listing["remaining"] - qty)
        if listing["remaining"] == 0:
            listing["status"] = "filled"
            ctx.delete(_open_listing_key(listing["seller"], listing["id"]))
        _save_listing(ctx, listing)
        trade = _stamped(ctx, {
            "buyer": buyer,
            "exchange": listing["exchange"],
            "gross": fen_string(qty * unit_fen),
            "id": ctx.tx_id,
            "listing_id": listing["id"],
            "price": args["price"],
            "proceeds": proceeds,
            "quantity": qty,
            "ranges": [_range_view(m) for m in moved],
            "seller": listing["seller"],
            "settlement_date": settle,
            "settlement_ref": args["settlement_ref"],
            "trade_date": day,
        })
        ctx.put(TRADE_PREFIX + ctx.tx_id, trade)
        ctx.emit("carbon.traded", trade_id=ctx.tx_id, listing_id=listing["id"], buyer=buyer,
                 seller=listing["seller"], quantity=qty, price=args["price"])
        return {"trade_id": ctx.tx_id, "settlement_date": settle, "proceeds": proceeds}

    def _open_listing(self, ctx: TxContext, listing_id: str) -> dict[str, Any]:
        listing = load_or_fail(
            ctx, LISTING_PREFIX + listing_id, "unknown_listing", f"no listing {listing_id!r}"
        )
        if listing["status"] != "open":
            raise ChaincodeError("listing_closed", f"listing {listing_id} is {listing['status']}")
        return listing

    # -- off-exchange transfer ----------------------------------------------------------
    @method(
        args={
            "from_org": Arg("id"),
            "to_org": Arg("id"),
            "quantity": QTY,
            "settlement_ref": Arg("str", required=False, min=1, max=128),
            "price": Arg("decimal", required=False, places=2),
            **SELECTION,
        }
    )
    def transfer(self, ctx: TxContext, args: dict) -> dict:
        """Off-exchange (block) transfer of held units, signed by members of BOTH the
        sending and the receiving organisation (two signers on one transaction). With a
        ``price`` it is an off-exchange sale: the proceeds per project are recorded as for
        a matched trade (the split on the owner's primary units only)."""
        src, dst = args["from_org"], args["to_org"]
        for org_id in (src, dst):
            if org_id in RESERVED_ACCOUNTS:
                raise ChaincodeError(
                    "reserved_account",
                    f"{org_id!r} is the buffer pool, a system account the ledger owns: units"
                    " enter it only by issuance and leave it only by reversals and loss events,"
                    " never by a transfer",
                )
        if src == dst:
            raise ChaincodeError("self_transfer", "sender and receiver are the same organisation")
        for org_id in (src, dst):
            require_org_signer(ctx, org_id, "missing_signature")
        _org(ctx, src, HOLDER_ROLES, "from_org")
        _org(ctx, dst, HOLDER_ROLES, "to_org")
        unit_fen = None if args["price"] is None else price_fen(args["price"])
        sel = _selection(ctx, args)
        picked = select_units(ctx, account=src, state="held", quantity=args["quantity"], **sel)
        moved = move(ctx, picked, to_account=dst, to_state="held", action="transfer")
        # a transfer without a price is not a sale: no gross, no split
        proceeds = [] if unit_fen is None else _sale_proceeds(ctx, src, moved, unit_fen)
        ctx.put(TRANSFER_PREFIX + ctx.tx_id, _stamped(ctx, {
            "from": src,
            "gross": None if unit_fen is None else fen_string(args["quantity"] * unit_fen),
            "id": ctx.tx_id,
            "price": args["price"],
            "proceeds": proceeds,
            "quantity": args["quantity"],
            "ranges": [_range_view(m) for m in moved],
            "settlement_ref": args["settlement_ref"],
            "to": dst,
        }))
        ctx.emit("carbon.transferred", transfer_id=ctx.tx_id, sender=src, receiver=dst,
                 quantity=args["quantity"])
        return {"transfer_id": ctx.tx_id, "proceeds": proceeds}

    # -- compliance and retirement --------------------------------------------------------
    @method(
        roles=("regulator",),
        args={"enterprise_org": Arg("id"), "period": PERIOD,
              "obligation_tonnes": Arg("int", min=1, max=MAX_QUANTITY)},
    )
    def record_obligation(self, ctx: TxContext, args: dict) -> dict:
        """Record (or amend) an enterprise's compliance obligation for a period, in tonnes."""
        enterprise, period = args["enterprise_org"], args["period"]
        _org(ctx, enterprise, ("buyer",), "enterprise_org")
        key = _obligation_key(enterprise, period)
        old = ctx.get(key)
        retired = 0 if old is None else old["retired"]
        cap = self._cap(ctx, args["obligation_tonnes"])
        if retired > cap:
            raise ChaincodeError(
                "obligation_below_retired",
                f"{retired} tonnes are already retired for {period}; the cap would be {cap}",
            )
        ctx.put(key, _stamped(ctx, {
            "enterprise": enterprise,
            "obligation_tonnes": args["obligation_tonnes"],
            "period": period,
            "retired": retired,
        }))
        ctx.emit("carbon.obligation_recorded", enterprise=enterprise, period=period,
                 obligation_tonnes=args["obligation_tonnes"])
        return {"enterprise": enterprise, "period": period, "cap": cap}

    @staticmethod
    def _cap(ctx: TxContext, obligation: int) -> int:
        """floor(obligation x offset_cap) with the offset cap parameter in force now."""
        share = decimal_value(ctx.param("offset_cap"), "param offset_cap", code="invalid_parameter")
        return floor_int(obligation * share)

    @method(roles=("buyer",), args={"period": PERIOD, "quantity": QTY, **SELECTION})
    def retire_compliance(self, ctx: TxContext, args: dict) -> dict:
        """The signer's enterprise retires held units against its obligation for ``period``;
        the total retired for that period may not exceed floor(obligation x offset_cap)."""
        enterprise = _signer_org(ctx, ("buyer",))
        period, qty = args["period"], args["quantity"]
        key = _obligation_key(enterprise, period)
        obligation = load_or_fail(
            ctx, key, "no_obligation", f"no obligation recorded for {enterprise} in {period}"
        )
        cap = self._cap(ctx, obligation["obligation_tonnes"])
        if obligation["retired"] + qty > cap:
            raise ChaincodeError(
                "cap_exceeded",
                f"offsets are capped at {cap} tonnes for {period}; "
                f"{obligation['retired']} already retired, {qty} more asked",
            )
        sel = _selection(ctx, args)
        record = self._retire(ctx, enterprise, qty, sel, purpose="compliance", period=period,
                              beneficiary=enterprise, reason=None)
        obligation["retired"] += qty
        ctx.put(key, _stamped(ctx, obligation))
        return {"retirement_id": record["id"], "retired_for_period": obligation["retired"],
                "cap": cap}

    @method(
        roles=HOLDER_ROLES,
        args={"quantity": QTY, "beneficiary": Arg("str", min=1, max=256), "reason": REASON,
              **SELECTION},
    )
    def retire_voluntary(self, ctx: TxContext, args: dict) -> dict:
        """Retire held units of the signer's organisation for a named beneficiary."""
        holder = _signer_org(ctx, HOLDER_ROLES)
        sel = _selection(ctx, args)
        record = self._retire(ctx, holder, args["quantity"], sel, purpose="voluntary",
                              period=None, beneficiary=args["beneficiary"], reason=args["reason"])
        return {"retirement_id": record["id"]}

    def _retire(
        self, ctx: TxContext, account: str, qty: int, sel: dict[str, Any], *, purpose: str,
        period: str | None, beneficiary: str, reason: str | None,
    ) -> dict[str, Any]:
        picked = select_units(ctx, account=account, state="held", quantity=qty, **sel)
        moved = move(ctx, picked, to_account=account, to_state="retired", action="retire")
        record = _stamped(ctx, {
            "beneficiary": beneficiary,
            "enterprise": account,
            "id": ctx.tx_id,
            "period": period,
            "project_ids": sorted({m["project_id"] for m in moved}),
            "purpose": purpose,
            "quantity": qty,
            "ranges": [_range_view(m) for m in moved],
            "reason": reason,
        })
        ctx.put(RETIREMENT_PREFIX + ctx.tx_id, record)
        seq = f"{ctx.block.height:012d}/{ctx.index:05d}"
        ctx.put(f"{RETIREMENT_SEQ_PREFIX}{seq}", ctx.tx_id)
        ctx.put(f"{RETIREMENT_BY_PREFIX}{account}/{seq}", ctx.tx_id)
        ctx.emit("carbon.retired", retirement_id=ctx.tx_id, enterprise=account, purpose=purpose,
                 quantity=qty, period=period, ranges=record["ranges"])
        return record

    # -- reversals and enforcement ----------------------------------------------------------
    @method(
        roles=("regulator",),
        args={
            "project_id": Arg("id"),
            "quantity": QTY,
            "cause": Arg("str", choices=("fire", "pests", "illegal_felling", "other")),
            "evidence_sha256": Arg("hex32"),
            "description": Arg("str", required=False, max=1024),
            "plot_id": Arg("id", required=False),
            "evidence": EVIDENCE_ARG,
        },
    )
    def record_loss_event(self, ctx: TxContext, args: dict) -> dict:
        """A loss between reports (fire, pests, illegal felling...): cancel the regulator's
        estimate from the buffer pool shared by all projects at once (the project's own
        pool units first); a shortfall becomes the project's compensation obligation. The
        next verified report settles the estimate against the measured stock of the plot
        (``plot_id``; without it, of the project's first plot)."""
        pid = args["project_id"]
        project = _project(ctx, pid)
        if project["status"] != "registered":
            # the stock accounts a loss is settled against start at registration
            raise ChaincodeError("project_not_registered", f"project {pid} is not registered")
        plot_id = args["plot_id"]
        if plot_id is None:
            plot_id = project["plots"][0]
        elif plot_id not in project["plots"]:
            raise ChaincodeError("plot_not_in_project", f"plot {plot_id} is not in project {pid}")
        evidence = None if args["evidence"] is None else validate_evidence(
            args["evidence"], plots=project["plots"], earliest=project["start_date"],
            earliest_label=f"the start date of project {pid}", today=block_date(ctx))
        quantity = args["quantity"]
        moved, shortfall = cancel_from_pool(ctx, pid, quantity, "loss")
        stock = load_stock(ctx, plot_id)
        stock["pending_loss"] += quantity
        save_stock(ctx, stock)
        ctx.put(LOSS_PREFIX + ctx.tx_id, _stamped(ctx, {
            "cancelled": quantity - shortfall,
            "cause": args["cause"],
            "description": args["description"],
            "evidence_sha256": args["evidence_sha256"],
            "id": ctx.tx_id,
            "plot_id": plot_id,
            "project_id": pid,
            "quantity": quantity,
            "ranges": [_range_view(m) for m in moved],
            "shortfall": shortfall,
            # remote-sensing evidence: only when given (records without it are unchanged)
            **({} if evidence is None else {"evidence": evidence}),
        }))
        record_pool_event(ctx, "loss", ctx.tx_id, pid)
        ctx.emit("carbon.loss_recorded", loss_id=ctx.tx_id, project_id=pid, plot_id=plot_id,
                 quantity=quantity, cause=args["cause"], cancelled=quantity - shortfall,
                 compensation=shortfall)
        return {"loss_id": ctx.tx_id, "cancelled": quantity - shortfall,
                "compensation": shortfall}

    def _target_range(self, ctx: TxContext, args: dict) -> tuple[str, int, int]:
        """(project_id, first, last) named by ``batch_id`` or by ``project_id+first+last``."""
        if args["batch_id"] is not None:
            if args["project_id"] is not None or args["first"] is not None:
                raise ChaincodeError("invalid_range", "name either a batch or a serial range")
            batch = _batch(ctx, args["batch_id"])
            return batch["project_id"], batch["first"], batch["last"]
        if args["project_id"] is None or args["first"] is None or args["last"] is None:
            raise ChaincodeError("invalid_range", "name a batch_id, or project_id, first and last")
        if args["last"] < args["first"]:
            raise ChaincodeError("invalid_range", "last is before first")
        _project(ctx, args["project_id"])
        return args["project_id"], args["first"], args["last"]

    def _freeze(self, ctx: TxContext, args: dict, frozen: bool) -> dict:
        pid, first, last = self._target_range(ctx, args)
        changed = set_frozen(ctx, select_serial_range(ctx, pid, first, last), frozen=frozen)
        action = "freeze" if frozen else "unfreeze"
        if not changed:
            raise ChaincodeError(
                f"nothing_to_{action}",
                f"no held or listed units of {pid} {first}..{last} are "
                f"{'unfrozen' if frozen else 'frozen'}",
            )
        return _record_range_change(
            ctx, FREEZE_PREFIX, f"carbon.{action}", pid, first, last,
            sum(range_quantity(r) for r in changed),
            action=action,
            batch_id=args["batch_id"],
            ranges=[_range_view(r) for r in changed],
            reason=args["reason"],
        )

    _TARGET = {"reason": REASON, **SELECTION}

    @method(roles=("regulator",), args=_TARGET)
    def freeze(self, ctx: TxContext, args: dict) -> dict:
        """Freeze held/listed units of a batch or serial range (they cannot move)."""
        return self._freeze(ctx, args, True)

    @method(roles=("regulator",), args=_TARGET)
    def unfreeze(self, ctx: TxContext, args: dict) -> dict:
        """Lift a freeze from units of a batch or serial range."""
        return self._freeze(ctx, args, False)

    @method(
        roles=("regulator",),
        args={"project_id": Arg("id"), "first": Arg("int", min=1, max=MAX_QUANTITY),
              "last": Arg("int", min=1, max=MAX_QUANTITY), "reason": REASON,
              "evidence_sha256": Arg("hex32", required=False)},
    )
    def invalidate(self, ctx: TxContext, args: dict) -> dict:
        """Fraud: cancel every held or listed unit (frozen or not) in a serial range;
        retired units are never touched. Open listings lose the cancelled units."""
        pid, first, last = self._target_range(ctx, {**args, "batch_id": None})
        # units leave the buffer pool only by reversals and loss events
        slices: list[Slice] = [
            s for s in select_serial_range(ctx, pid, first, last)
            if s.record["state"] in ("held", "listed") and s.record["account"] != BUFFER_ACCOUNT
        ]
        if not slices:
            raise ChaincodeError("nothing_to_invalidate", f"no held or listed units of {pid} {first}..{last}")
        moved = []
        for s in slices:
            account = s.record["account"]
            moved += move(ctx, [s], to_account=account, to_state="cancelled",
                          action="invalidate", allow_frozen=True)
            if s.record["state"] == "listed":
                self._drop_from_listings(ctx, account, pid, s.first, s.last)
        return _record_range_change(
            ctx, INVALIDATION_PREFIX, "carbon.invalidated", pid, first, last,
            sum(s.quantity for s in slices),
            evidence_sha256=args["evidence_sha256"],
            ranges=[dict(_range_view(m), account=m["account"]) for m in moved],
            reason=args["reason"],
        )

    @staticmethod
    def _drop_from_listings(ctx: TxContext, seller: str, pid: str, a: int, b: int) -> None:
        for key, _ in list(ctx.scan(f"{OPEN_LISTING_PREFIX}{seller}/")):
            listing_id = key.rsplit("/", 1)[1]
            listing = ctx.get(LISTING_PREFIX + listing_id)
            ranges, removed = _subtract(listing["ranges"], pid, a, b)
            if not removed:
                continue
            listing.update(ranges=ranges, remaining=listing["remaining"] - removed,
                           invalidated=listing.get("invalidated", 0) + removed)
            if listing["remaining"] == 0:
                listing["status"] = "closed"
                ctx.delete(key)
            _save_listing(ctx, listing)

    # -- subsidies -------------------------------------------------------------------------
    @method(roles=("regulator",), args={"batch_id": Arg("id")})
    def accrue_subsidy(self, ctx: TxContext, args: dict) -> dict:
        """Record the subsidy owed for an issued batch: the owner's share of its tonnes
        (``owner_quantity``: neither the buffer share nor compensation repaid to the pool)
        x the ``subsidy_rate`` parameter (RMB per tonne), floored to the fen. Once per
        batch; the regulator records the payment with ``record_subsidy_paid``."""
        batch_id = args["batch_id"]
        batch = _batch(ctx, batch_id)
        key = SUBSIDY_PREFIX + batch_id
        if ctx.exists(key):
            raise ChaincodeError("already_accrued", f"the subsidy of batch {batch_id} is recorded")
        tonnes = batch["owner_quantity"]
        if tonnes == 0:
            raise ChaincodeError(
                "no_owner_share",
                f"batch {batch_id} gave its owner 0 of its {batch['quantity']} t CO2e "
                f"({batch['buffer_quantity']} t to the buffer pool, of which "
                f"{batch['compensation_quantity']} t repaid compensation); a subsidy accrues "
                "only on the owner's share",
            )
        rate_text = ctx.param("subsidy_rate")
        rate = decimal_value(rate_text, "param subsidy_rate", code="invalid_parameter")
        amount = fen_string(floor_int(Fraction(tonnes) * rate * 100))
        project = _project(ctx, batch["project_id"])
        ctx.put(key, _stamped(ctx, {
            "accrued_date": block_date(ctx),
            "amount": amount,
            "batch_id": batch_id,
            "owner_org": project["owner_org"],
            "paid_date": None,
            "paid_height": None,
            "paid_tx_id": None,
            "payment_ref": None,
            "project_id": batch["project_id"],
            "rate": rate_text,
            "status": "accrued",
            "tonnes": tonnes,
        }))
        ctx.emit("carbon.subsidy_accrued", batch_id=batch_id, amount=amount)
        return {"batch_id": batch_id, "amount": amount}

    @method(
        roles=("regulator",),
        args={"batch_id": Arg("id"), "payment_ref": Arg("str", min=1, max=128),
              "paid_date": Arg("str", min=10, max=10)},
    )
    def record_subsidy_paid(self, ctx: TxContext, args: dict) -> dict:
        """Record that the accrued subsidy of a batch was paid to the project owner on
        ``paid_date`` (between the accrual's date and the block's date, inclusive) under
        ``payment_ref``. Once per batch."""
        batch_id = args["batch_id"]
        _batch(ctx, batch_id)
        key = SUBSIDY_PREFIX + batch_id
        subsidy = load_or_fail(
            ctx, key, "subsidy_not_accrued",
            f"no subsidy is accrued for batch {batch_id}; accrue it before recording a payment",
        )
        if subsidy["status"] == "paid":
            raise ChaincodeError(
                "already_paid",
                f"the subsidy of batch {batch_id} ({subsidy['amount']} RMB) was recorded paid "
                f"on {subsidy['paid_date']} under {subsidy['payment_ref']!r}",
            )
        paid = validate_date(args["paid_date"], "paid_date")
        today = block_date(ctx)
        if paid > today:
            raise ChaincodeError(
                "invalid_paid_date",
                f"paid_date {paid} is after the block's date {today}; a payment is recorded "
                "once it is made",
            )
        if paid < subsidy["accrued_date"]:
            raise ChaincodeError(
                "invalid_paid_date",
                f"paid_date {paid} is before the subsidy of batch {batch_id} was accrued "
                f"on {subsidy['accrued_date']}",
            )
        subsidy.update(
            paid_date=paid, paid_height=ctx.block.height, paid_tx_id=ctx.tx_id,
            payment_ref=args["payment_ref"], status="paid",
        )
        ctx.put(key, subsidy)
        ctx.emit("carbon.subsidy_paid", batch_id=batch_id, amount=subsidy["amount"],
                 payment_ref=args["payment_ref"], paid_date=paid)
        return {"batch_id": batch_id, "amount": subsidy["amount"], "paid_date": paid}
