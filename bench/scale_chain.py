"""The chain of the scale benchmark (bench/bench_scale.py): ``n`` transactions of a
carbon market built by driving the node's own :class:`node.chain.app.Application` over a
LevelDB :class:`ledger.store.Store` (no network), every block committed with a commit
certificate of the one genesis validator.

The mix, for ``n`` transactions (``P = max(10, n // 200)`` projects):

* genesis: a regulator, two verifiers, an exchange, ``max(10, P // 2)`` forest owners and
  ``max(50, n // 50)`` buyers (thousands of organisations at 100k);
* first blocks: every project's two plots (0.002 degree squares on a 100-wide grid, 0.001
  degree apart: a crowded area), registered years before their projects are submitted;
* spread evenly through the chain: each project's submission, validation, registration,
  monitoring report, verification and issuance (6,005 units to its owner);
* the rest (about 96 %): transfers owner -> buyer (half of them priced sales) and buyer
  -> buyer, listings and their trades on the exchange, voluntary retirements by buyers,
  freezes each followed by an unfreeze, and notary records. Small quantities (1-20 t)
  split the unit ranges: tens of thousands of ranges at 100k transactions;
* last: the probe retirement -- 1 t transferred from the owner holding the most units to
  ``buyer-probe`` (a buyer of the genesis that nothing else touches), which retires it --
  so its certificate has the same custody at every size (an issuance, a transfer, a
  retirement); then the probe project's submission .. verification, left unissued.

The choices come from ``random.Random(n)``: the same ``n`` builds the same chain. What
the benchmark's probes need (ids, serials, a verified report left unissued, a free gap in
the crowded area) is written to ``meta.json`` next to the store; a folder with a complete
``meta.json`` of the same :data:`BUILD_VERSION` is reused.
"""

from __future__ import annotations

import copy
import json
import random
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaincode.executor import Executor
from ledger.block import CommitCertificate, vote_sign_bytes
from ledger.crypto import PrivateKey, sha256
from ledger.genesis import Genesis
from ledger.store import Store
from ledger.tx import Transaction, build_transaction
from node.chain.app import Application
from tests.support.carbon_market import expected_issuance, monitoring_period
from tests.support.harness import GENESIS_TIME, fixture_params

__all__ = ["BUILD_VERSION", "PROBE_BUYER", "ScaleChain", "build_or_load", "load_genesis"]

#: Changes whenever the mix changes: a cached chain of another version is rebuilt.
BUILD_VERSION = 3
#: The buyer of the probe retirement (in the genesis; no market transaction names it).
PROBE_BUYER = "buyer-probe"
CHAIN_ID = "fcl-scale"
BLOCK_TXS = 1000
BLOCK_MS = 1000
PLOT_SIDE = 20_000  # 0.002 degree (1e-7 degree units): about 4.2 ha here
PLOT_PITCH = 30_000  # plots 0.001 degree apart
GRID = 100  # plots per row
BASE_LON = 1174000000
BASE_LAT = 318000000
VOLUME = "2800"  # m3 per plot at the first verification: 6,673 t issuable, 6,005 to the owner
VALIDATOR = PrivateKey(sha256(b"fcl-scale-validator"))

_KEYS: dict[str, PrivateKey] = {}


def key(org: str) -> PrivateKey:
    if org not in _KEYS:
        _KEYS[org] = PrivateKey(sha256(b"fcl-scale-key:" + org.encode()))
    return _KEYS[org]


def h256(label: str) -> str:
    return sha256(label.encode()).hex()


def square(lon: int, lat: int, side: int) -> list[list[int]]:
    return [[lon, lat], [lon + side, lat], [lon + side, lat + side], [lon, lat + side]]


def plot_ring(i: int) -> list[list[int]]:
    return square(BASE_LON + (i % GRID) * PLOT_PITCH, BASE_LAT + (i // GRID) * PLOT_PITCH,
                  PLOT_SIDE)


def gap_ring(i: int) -> list[list[int]]:
    """A 0.0005 degree square in the gap right of plot ``i`` (touching no plot)."""
    lon = BASE_LON + (i % GRID) * PLOT_PITCH + PLOT_SIDE + 2_500
    lat = BASE_LAT + (i // GRID) * PLOT_PITCH + 2_500
    return square(lon, lat, 5_000)


def plot_args(plot_id: str, ring: list[list[int]], area_ha: str) -> dict[str, Any]:
    return {
        "plot_id": plot_id,
        "polygon": {"type": "Polygon", "coordinates": [[list(p) for p in ring] + [list(ring[0])]]},
        "declared_area_ha": area_ha,
        "county_code": "340122",
        "tenure": {"doc_type": "forest_right_cert", "doc_number": f"皖林权{plot_id}",
                   "scan_sha256": h256("scan:" + plot_id)},
        "species": "chinese_fir",
        "planting_date": "2017-11-20",
        "non_forest_evidence": {"sha256": h256("nf:" + plot_id), "years": 3},
    }


def _area_ha(ring: list[list[int]]) -> str:
    from chaincode.geometry import geodesic_area_m2_rational, parse_polygon
    from ledger.fixedpoint import format_decimal

    poly = {"type": "Polygon", "coordinates": [[list(p) for p in ring] + [list(ring[0])]]}
    return format_decimal(geodesic_area_m2_rational(parse_polygon(poly)) / 10_000, 4)


@dataclass
class Mix:
    """Sizes of the mix for ``n`` transactions."""

    n: int
    projects: int = 0
    owners: int = 0
    buyers: int = 0

    def __post_init__(self) -> None:
        self.projects = max(10, self.n // 200)
        self.owners = max(10, self.projects // 2)
        self.buyers = max(50, self.n // 50)

    def owner(self, i: int) -> str:
        return f"owner-{i:05d}"

    def buyer(self, i: int) -> str:
        return f"buyer-{i:05d}"

    def project_owner(self, p: int) -> str:
        return self.owner(p % self.owners)


def genesis_doc(mix: Mix) -> dict[str, Any]:
    orgs: list[tuple[str, list[str], str | None]] = [
        ("regulator", ["regulator"], None),
        ("verifier-a", ["verifier"], "CNCA-V-001"),
        ("verifier-b", ["verifier"], "CNCA-V-002"),
        ("exchange", ["exchange"], None),
    ]
    orgs += [(mix.owner(i), ["owner"], None) for i in range(mix.owners)]
    orgs += [(mix.buyer(i), ["buyer"], None) for i in range(mix.buyers)]
    orgs.append((PROBE_BUYER, ["buyer"], None))
    return {
        "app_state": {
            "organisations": [
                {"accreditation": acc, "admins": [key(org).public_key_hex], "id": org,
                 "members": [], "name": org, "roles": roles}
                for org, roles, acc in sorted(orgs)
            ],
            "params": fixture_params(),
        },
        "chain_id": CHAIN_ID,
        "genesis_time": GENESIS_TIME,
        "validators": [{"name": "val-0", "power": 10, "pub_key": VALIDATOR.public_key_hex}],
    }


@dataclass
class _Model:
    """What the generator knows of balances (a model: a transaction it gets wrong fails
    with its error code, which the build counts)."""

    held: dict[str, int] = field(default_factory=dict)
    funded_owners: list[str] = field(default_factory=list)
    funded_buyers: list[str] = field(default_factory=list)
    listings: list[list[Any]] = field(default_factory=list)  # [listing_id, remaining]
    issued: list[tuple[str, str, int]] = field(default_factory=list)  # (project, batch, owner units)

    def credit(self, org: str, qty: int, funded: list[str]) -> None:
        if self.held.get(org, 0) == 0:
            funded.append(org)
        self.held[org] = self.held.get(org, 0) + qty

    def busiest(self, funded: list[str]) -> str:
        """The organisation of ``funded`` holding the most units (ties: the greatest id)."""
        return max(funded, key=lambda o: (self.held.get(o, 0), o))

    def pick(self, rng: random.Random, funded: list[str], qty: int) -> str | None:
        for _ in range(4):
            if not funded:
                return None
            i = rng.randrange(len(funded))
            org = funded[i]
            if self.held.get(org, 0) >= qty:
                return org
            if self.held.get(org, 0) == 0:
                funded[i] = funded[-1]
                funded.pop()
        return None


class ScaleChain:
    """Builds the chain into ``folder`` (``store/``, ``genesis.json``, ``meta.json``)."""

    def __init__(self, folder: Path, n: int) -> None:
        self.folder = folder
        self.n = n
        self.mix = Mix(n)
        self.genesis_json = genesis_doc(self.mix)
        self.genesis = Genesis.from_json(self.genesis_json)
        self.rng = random.Random(n)
        self.model = _Model()
        self._nonce = 0
        self.failed: dict[str, int] = {}
        self.meta: dict[str, Any] = {}

    # -- transactions ----------------------------------------------------------------------
    def tx(self, signers: str | list[str], method: str, args: dict[str, Any],
           contract: str = "carbon") -> Transaction:
        names = [signers] if isinstance(signers, str) else signers
        self._nonce += 1
        return build_transaction(chain_id=CHAIN_ID, contract=contract, method=method,
                                 args=args, nonce=f"s{self._nonce}",
                                 keys=[key(s) for s in names])

    def _project_txs(self, p: int, probe: bool = False) -> list[Transaction]:
        """Submission .. verification of project ``p`` (its plots are already registered)
        and, unless ``probe``, its issuance."""
        pid = f"PRJ-{p:05d}"
        owner = self.mix.project_owner(p)
        plots = [f"PL-{2 * p:06d}", f"PL-{2 * p + 1:06d}"]
        start, end, visit = monitoring_period(0)
        rows = [(pl, "chinese_fir", "0", VOLUME) for pl in plots]
        issuable, _ = expected_issuance(rows, "low")
        report_id = f"{pid}-R1"
        txs = [
            self.tx(owner, "submit_project", {
                "project_id": pid, "name": f"Afforestation {pid}",
                "methodology": "CCER-14-001-V01", "plots": plots, "start_date": "2018-01-01",
                "crediting_period_years": 30, "baseline": "0", "risk_rating": "low",
                "pdd_sha256": h256("pdd:" + pid)}),
            self.tx("verifier-a", "attest_validation", {
                "attestation_id": f"VAL-{pid}", "project_id": pid,
                "pdd_sha256": h256("pdd:" + pid), "positive": True,
                "site_visit_date": "2018-06-01"}),
            self.tx("regulator", "register_project", {"project_id": pid}),
            self.tx(owner, "submit_monitoring_report", {
                "report_id": report_id, "project_id": pid, "period_start": start,
                "period_end": end,
                "measurements": [{"plot_id": pl, "species": "chinese_fir",
                                  "volume_start": "0", "volume_end": VOLUME} for pl in plots],
                "parameters": {"baseline": "0", "leakage": "0", "project_emissions": "0"},
                "claimed_issuable": issuable, "report_sha256": h256("report:" + report_id)}),
            self.tx("verifier-b", "attest_verification", {
                "attestation_id": f"VER-{report_id}", "report_id": report_id,
                "report_sha256": h256("report:" + report_id), "verified_quantity": issuable,
                "site_visit_date": visit}),
        ]
        if not probe:
            txs.append(self.tx("regulator", "issue",
                               {"report_id": report_id, "batch_id": f"{pid}-B1"}))
        return txs

    def _probe_retirement(self) -> list[Transaction]:
        """1 t from the owner holding the most units to :data:`PROBE_BUYER`, who retires
        it: a retirement whose certificate cites the same custody whatever ``n`` is (an
        owner receives units only by issuance, so its lowest serial was never transferred
        before)."""
        m = self.model
        owner = m.busiest(m.funded_owners)
        m.held[owner] -= 1
        retire = self.tx(PROBE_BUYER, "retire_voluntary", {
            "quantity": 1, "beneficiary": "probe", "reason": "the scale benchmark's probe"})
        self.meta["probe_retirement"] = retire.tx_id
        return [self.tx([owner, PROBE_BUYER], "transfer",
                        {"from_org": owner, "to_org": PROBE_BUYER, "quantity": 1}), retire]

    def _market_tx(self) -> list[Transaction]:
        """One market step (one or two transactions)."""
        rng, m = self.rng, self.model
        roll = rng.randrange(100)
        if roll < 30:  # owner -> buyer, half of them priced sales
            qty = rng.randint(1, 20)
            owner = m.pick(rng, m.funded_owners, qty)
            if owner is not None:
                buyer = self.mix.buyer(rng.randrange(self.mix.buyers))
                m.held[owner] -= qty
                m.credit(buyer, qty, m.funded_buyers)
                args: dict[str, Any] = {"from_org": owner, "to_org": buyer, "quantity": qty}
                if roll % 2:
                    args.update(price=str(40 + roll), settlement_ref=f"OTC-{self._nonce}")
                return [self.tx([owner, buyer], "transfer", args)]
        elif roll < 40:  # buyer -> buyer
            qty = rng.randint(1, 5)
            seller = m.pick(rng, m.funded_buyers, qty)
            if seller is not None:
                buyer = self.mix.buyer(rng.randrange(self.mix.buyers))
                if buyer != seller:
                    m.held[seller] -= qty
                    m.credit(buyer, qty, m.funded_buyers)
                    return [self.tx([seller, buyer], "transfer",
                                    {"from_org": seller, "to_org": buyer, "quantity": qty})]
        elif roll < 50:  # a listing
            qty = rng.randint(5, 20)
            owner = m.pick(rng, m.funded_owners, qty)
            if owner is not None:
                m.held[owner] -= qty
                tx = self.tx(owner, "create_listing",
                             {"quantity": qty, "price": "50", "exchange_org": "exchange"})
                m.listings.append([tx.tx_id, qty])
                return [tx]
        elif roll < 60:  # a trade on an open listing
            if m.listings:
                i = rng.randrange(len(m.listings))
                listing = m.listings[i]
                qty = rng.randint(1, listing[1])
                buyer = self.mix.buyer(rng.randrange(self.mix.buyers))
                listing[1] -= qty
                if listing[1] == 0:
                    m.listings[i] = m.listings[-1]
                    m.listings.pop()
                m.credit(buyer, qty, m.funded_buyers)
                return [self.tx("exchange", "match_trade", {
                    "listing_id": listing[0], "buyer_org": buyer, "quantity": qty,
                    "price": "55", "settlement_ref": f"EX-{self._nonce}"})]
        elif roll < 94:  # a voluntary retirement
            qty = rng.randint(1, 3)
            buyer = m.pick(rng, m.funded_buyers, qty)
            if buyer is not None:
                m.held[buyer] -= qty
                return [self.tx(buyer, "retire_voluntary", {
                    "quantity": qty, "beneficiary": f"{buyer} staff travel",
                    "reason": f"2024 footprint #{self._nonce}"})]
        elif roll < 95 and m.issued:  # a freeze and its unfreeze
            pid, _batch, units = m.issued[rng.randrange(len(m.issued))]
            first = units - rng.randint(3, 600)  # low serials are sold first
            sel = {"project_id": pid, "first": first, "last": first + 2}
            return [self.tx("regulator", "freeze", dict(sel, reason="court order 17")),
                    self.tx("regulator", "unfreeze", dict(sel, reason="order lifted"))]
        return [self.tx("regulator", "record", {
            "name": f"minutes-{self._nonce}", "sha256": h256(f"minutes-{self._nonce}")},
            contract="notary")]

    def transactions(self) -> Iterator[Transaction]:
        mix, m = self.mix, self.model
        area = _area_ha(plot_ring(0))
        plots = 2 * (mix.projects + 1)  # and the probe project's
        for i in range(plots):
            owner = mix.project_owner(i // 2)
            yield self.tx(owner, "register_plot", plot_args(f"PL-{i:06d}", plot_ring(i), area))
        count = plots
        reserve = 7  # the probe retirement (2), then the probe project (5), last
        market = self.n - count - 6 * mix.projects - reserve
        every = max(1, market // mix.projects)
        issued, since = 0, every  # the first project right away
        while count < self.n - reserve:
            if issued < mix.projects and (since >= every or self.n - count - reserve <= 6 * (mix.projects - issued)):
                txs = self._project_txs(issued)
                pid = f"PRJ-{issued:05d}"
                owner = mix.project_owner(issued)
                m.credit(owner, 6005, m.funded_owners)
                m.issued.append((pid, f"{pid}-B1", 6005))
                issued += 1
                since = 0
            else:
                txs = self._market_tx()[: self.n - reserve - count]
                since += len(txs)
            for tx in txs:
                count += 1
                yield tx
        yield from self._probe_retirement()
        for tx in self._project_txs(mix.projects, probe=True):
            yield tx
        self.meta["probe_project"] = f"PRJ-{mix.projects:05d}"

    # -- blocks -------------------------------------------------------------------------------
    def build(self, progress: bool = False) -> dict[str, Any]:
        store_dir = self.folder / "store"
        if self.folder.exists():
            shutil.rmtree(self.folder)
        self.folder.mkdir(parents=True)
        (self.folder / "genesis.json").write_text(json.dumps(self.genesis_json, indent=1))
        store = Store(store_dir)
        started = time.perf_counter()
        try:
            app = Application(store, Executor(), self.genesis)
            block: list[Transaction] = []
            total = 0
            for tx in self.transactions():
                block.append(tx)
                if len(block) == BLOCK_TXS:
                    total += self._commit(app, block)
                    block = []
                    if progress and app.height % 50 == 0:
                        print(f"  built {total:,} txs ({time.perf_counter() - started:.0f} s)",
                              flush=True)
            if block:
                total += self._commit(app, block)
            self._probes(store)
            self.meta.update(
                build_version=BUILD_VERSION, n=self.n, txs=total, height=app.height,
                failed=self.failed, build_s=round(time.perf_counter() - started, 1),
                projects=self.mix.projects, owners=self.mix.owners, buyers=self.mix.buyers,
            )
        finally:
            store.close()
        (self.folder / "meta.json").write_text(json.dumps(self.meta, indent=1, sort_keys=True))
        return self.meta

    def _commit(self, app: Application, txs: list[Transaction]) -> int:
        tip = app.tip
        built, writes = app.build_block(txs, tip.time + BLOCK_MS, VALIDATOR.public_key_hex)
        assert len(built.txs) == len(txs), "a transaction signed by an unenrolled key"
        header = built.header
        msg = vote_sign_bytes("precommit", CHAIN_ID, header.height, 0, header.hash())
        cert = CommitCertificate(header.height, 0, header.hash(),
                                 ((VALIDATOR.public_key_hex, VALIDATOR.sign_hex(msg)),))
        app.commit_block(built, cert, writes)
        for result, tx in zip(built.results, built.txs, strict=True):
            if result["code"] != "ok":
                name = f"{tx.method}:{result['code']}"
                self.failed[name] = self.failed.get(name, 0) + 1
                self.meta.setdefault("failure_examples", {}).setdefault(name, result["message"])
            elif tx.method in ("retire_voluntary",) and "deep_retirement" not in self.meta:
                self.meta["deep_retirement"] = tx.tx_id  # the first: its project is the oldest
            elif tx.method == "retire_voluntary" and tx.tx_id != self.meta.get("probe_retirement"):
                self.meta["last_retirement"] = tx.tx_id  # the newest of the market's
        return len(txs)

    def _probes(self, store: Store) -> None:
        """What the benchmark's probes read, chosen from the committed chain."""
        from chaincode.queries import holdings

        m = self.model
        # the busiest owner that still holds units, and a buyer with many ranges
        owner = m.busiest(m.funded_owners)
        buyer = m.busiest(m.funded_buyers)
        self.meta["owner"] = owner
        self.meta["buyer"] = buyer
        self.meta["transfer_to"] = self.mix.buyer(0)
        pid, _batch, _units = m.issued[len(m.issued) // 2]
        self.meta["project"] = pid
        self.meta["freeze"] = {"project_id": pid, "first": 101, "last": 104}
        ranges = holdings(store, buyer, limit=1)["ranges"]
        self.meta["serial"] = ranges[0]["serial"] if ranges else None
        self.meta["gap_plot"] = self.mix.projects  # the middle of the crowded area
        self.meta["plot_area_ha"] = _area_ha(gap_ring(0))


def build_or_load(folder: Path, n: int, progress: bool = False) -> tuple[dict[str, Any], bool]:
    """The chain of ``n`` transactions in ``folder`` (built unless a complete one of this
    version is there); returns its meta and whether it was built now."""
    meta_file = folder / "meta.json"
    if meta_file.exists():
        meta = json.loads(meta_file.read_text())
        if meta.get("build_version") == BUILD_VERSION and meta.get("n") == n:
            return meta, False
    chain = ScaleChain(folder, n)
    return chain.build(progress), True


def load_genesis(folder: Path) -> Genesis:
    return Genesis.from_json(copy.deepcopy(json.loads((folder / "genesis.json").read_text())))
