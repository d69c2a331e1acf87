"""Shared builders and invariant checks for the carbon market tests (no tests here).

``Market`` drives the real "carbon" contract through the chaincode Harness: plots,
projects, validation, registration, monitoring reports, verification and issuance are
real signed transactions, so every unit a market test moves was issued the real way.
``check_invariants`` checks the unit ledger's integrity rules on a committed state.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from chaincode.calculator import (
    PlotStock,
    calculate_stock_removals,
    species_params_from_table,
    stock_micro,
)
from chaincode.carbon_market import LISTING_PREFIX, OPEN_LISTING_PREFIX
from chaincode.geometry import geodesic_area_m2_rational, parse_polygon
from chaincode.params import DEFAULT_PARAMS
from chaincode.units import (
    BUFFER_ACCOUNT,
    HOLDING_PREFIX,
    HOLDING_STATS_FIELDS,
    POOL_FIELDS,
    STATES,
    STATS_BATCH_PREFIX,
    STATS_POOL_PREFIX,
    STATS_TOTALS_KEY,
    TERMINAL_STATES,
    TOTALS_FIELDS,
    UNIT_PREFIX,
    VINTAGE_FIELDS,
    count_bucket,
    holding_key,
    holding_stats_key,
    iter_ranges,
    range_quantity,
    unit_key,
    vintage_stats_key,
)
from ledger.crypto import sha256
from ledger.encoding import decode
from ledger.fixedpoint import format_decimal, parse_decimal
from ledger.state import StateReader
from tests.support.harness import Harness

Ring = list[list[int]]

# 0.001 x 0.001 degree squares (about 1.05 ha) east of Hefei, Anhui, in 1e-7 degree.
BASE_LON = 1174000000
BASE_LAT = 318000000
STEP = 10_000

# An irregular ~99.93 ha pentagon near lon 117.30, lat 31.80 (Hefei, Anhui).
ANHUI_RING: Ring = [
    [1173000000, 318000000],
    [1173110000, 318003000],
    [1173113000, 318074000],
    [1173056000, 318099000],
    [1172995000, 318066000],
]
# A ~12 ha quadrilateral of Masson pine a little north (Feidong county hills).
ANHUI_PINE_RING: Ring = [
    [1173300000, 318200000],
    [1173340000, 318201000],
    [1173338000, 318230000],
    [1173301000, 318228000],
]


def h256(label: str) -> str:
    return sha256(label.encode()).hex()


def polygon(ring: Ring) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [[list(p) for p in ring] + [list(ring[0])]]}


def square(i: int) -> Ring:
    lon = BASE_LON + (i % 50) * 2 * STEP
    lat = BASE_LAT + (i // 50) * 2 * STEP
    return [[lon, lat], [lon + STEP, lat], [lon + STEP, lat + STEP], [lon, lat + STEP]]


def area_ha(ring: Ring) -> str:
    return format_decimal(geodesic_area_m2_rational(parse_polygon(polygon(ring))) / 10_000, 4)


def expected_issuance(
    measurements: list[tuple[str, str, str, str]], risk: str
) -> tuple[int, int]:
    """(issuable, to_buffer) the ledger computes for (plot, species, v0, v1) rows, where
    v0 is each plot's verified volume and also its high-water mark (growth from v0)."""
    table = DEFAULT_PARAMS["species_table"]
    stocks = []
    for p, sp, v0, v1 in measurements:
        params = species_params_from_table(table, sp)
        stocks.append(PlotStock(
            p, stock_micro(parse_decimal(v0, field="v0"), params),
            stock_micro(parse_decimal(v0, field="v0"), params),
            stock_micro(parse_decimal(v1, field="v1"), params)))
    calc = calculate_stock_removals(
        stocks,
        baseline=Fraction(0),
        leakage=Fraction(0),
        project_emissions=Fraction(0),
        uncertainty_deduction=parse_decimal(DEFAULT_PARAMS["uncertainty_deduction"], field="u"),
        buffer_rate=parse_decimal(DEFAULT_PARAMS["buffer_rates"][risk], field="b"),
    )
    return calc.issuable, calc.to_buffer


def monitoring_period(k: int) -> tuple[str, str, str]:
    """(start, end, site visit) of a project's k-th monitoring period (k = 0, 1, ...):
    calendar years 2018..2022, then months of 2023 (the harness's blocks are dated
    2023-11-14, and every period ends before the block's date)."""
    if k < 5:
        year = 2018 + k
        return f"{year}-01-01", f"{year}-12-31", f"{year + 1}-03-15"
    month = k - 4
    if month > 10:
        raise ValueError("the test calendar has room for 15 monitoring periods a project")
    last_day = 30 if month in (4, 6, 9) else (28 if month == 2 else 31)
    return f"2023-{month:02d}-01", f"2023-{month:02d}-{last_day}", "2023-11-01"


class Market:
    """A Harness running the default contracts, with builders for whole lifecycle steps."""

    def __init__(self, params: dict | None = None, harness: Harness | None = None) -> None:
        self.h = harness or Harness(params=params)
        self.plots: dict[str, dict[str, Any]] = {}  # plot_id -> {ring, species, owner}
        self.projects: dict[str, dict[str, Any]] = {}  # project_id -> {plots, risk, year}
        self._square = 0

    # -- calls ------------------------------------------------------------------------
    def ok(self, signers: str | list[str], method: str, args: dict) -> dict:
        return self.h.returned(self.h.ok(signers, "carbon", method, args))

    def fails(self, code: str, signers: str | list[str], method: str, args: dict) -> dict:
        return self.h.fails(code, signers, "carbon", method, args)

    def call(self, signers: str | list[str], method: str, args: dict) -> dict:
        return self.h.call(signers, "carbon", method, args)

    def get(self, key: str) -> Any:
        return self.h.get(key)

    # -- lifecycle steps --------------------------------------------------------------------
    def plot(self, plot_id: str, owner: str, species: str = "chinese_fir",
             ring: Ring | None = None) -> dict:
        if ring is None:
            ring = square(self._square)
            self._square += 1
        self.plots[plot_id] = {"owner": owner, "ring": ring, "species": species}
        return self.ok(owner, "register_plot", {
            "plot_id": plot_id,
            "polygon": polygon(ring),
            "declared_area_ha": area_ha(ring),
            "county_code": "340122",
            "tenure": {"doc_type": "forest_right_cert", "doc_number": f"皖林权{plot_id}",
                       "scan_sha256": h256("scan:" + plot_id)},
            "species": species,
            "planting_date": "2017-11-20",
            "non_forest_evidence": {"sha256": h256("nf:" + plot_id), "years": 3},
        })

    def project(
        self,
        project_id: str,
        owner: str = "owner-farm",
        plots: list[tuple[str, str]] | None = None,
        risk: str = "low",
        split: dict[str, str] | None = None,
        register: bool = True,
        baseline: str = "0",
        baseline_stocks: list[dict[str, str]] | None = None,
    ) -> None:
        """Plots (``(plot_id, species)``, registered unless known), PDD, validation by
        verifier-a (with ``baseline_stocks`` if given), registration by the regulator."""
        plots = plots or [(f"{project_id}-P1", "chinese_fir")]
        for plot_id, species in plots:
            if plot_id not in self.plots:
                self.plot(plot_id, owner, species)
        args = {
            "project_id": project_id,
            "name": f"Afforestation {project_id}",
            "methodology": "CCER-14-001-V01",
            "plots": [p for p, _ in plots],
            "start_date": "2018-01-01",
            "crediting_period_years": 30,
            "baseline": baseline,
            "risk_rating": risk,
            "pdd_sha256": h256("pdd:" + project_id),
        }
        if split is not None:
            args["benefit_split"] = split
        self.ok(owner, "submit_project", args)
        self.projects[project_id] = {"owner": owner, "plots": [p for p, _ in plots],
                                     "risk": risk, "year": 2018}
        self.ok("verifier-a", "attest_validation", {
            "attestation_id": f"VAL-{project_id}", "project_id": project_id,
            "pdd_sha256": h256("pdd:" + project_id), "positive": True,
            "site_visit_date": "2018-06-01",
            **({} if baseline_stocks is None else {"baseline_stocks": baseline_stocks}),
        })
        if register:
            self.ok("regulator", "register_project", {"project_id": project_id})

    def volume(self, plot_id: str) -> str:
        """The plot's last verified stand volume (m3) as the ledger keeps it."""
        stock = self.get(f"stock/{plot_id}")
        return "0" if stock is None else stock["volume"]

    def next_rows(self, project_id: str, volume: str) -> list[tuple[str, str, str, str]]:
        """(plot, species, v0, v1) of the next report: every plot grows ``volume`` m3."""
        p = self.projects[project_id]
        rows = []
        for pl in p["plots"]:
            v0 = self.volume(pl)
            v1 = format_decimal(parse_decimal(v0, field="v0") + parse_decimal(volume, field="v"))
            rows.append((pl, self.plots[pl]["species"], v0, v1))
        return rows

    def expected(self, project_id: str, volume: str) -> tuple[int, int]:
        """(issuable, to_buffer) of the next :meth:`issue` (growth above the ledger's
        verified stock, which tests here keep at its high-water mark)."""
        return expected_issuance(self.next_rows(project_id, volume), self.projects[project_id]["risk"])

    def issue(self, project_id: str, batch_id: str, volume: str = "25.2") -> dict[str, Any]:
        """A monitoring report (every plot grows ``volume`` m3 from its verified volume;
        periods from :func:`monitoring_period`), its verification by verifier-b, and
        issuance; returns the batch record."""
        p = self.projects[project_id]
        k = p["year"] - 2018
        p["year"] += 1
        start, end, visit = monitoring_period(k)
        rows = self.next_rows(project_id, volume)
        issuable, _ = expected_issuance(rows, p["risk"])
        report_id = f"{batch_id}-R"
        self.ok(p["owner"], "submit_monitoring_report", {
            "report_id": report_id,
            "project_id": project_id,
            "period_start": start,
            "period_end": end,
            "measurements": [{"plot_id": pl, "species": sp, "volume_start": v0,
                              "volume_end": v1} for pl, sp, v0, v1 in rows],
            "parameters": {"baseline": "0", "leakage": "0", "project_emissions": "0"},
            "claimed_issuable": issuable,
            "report_sha256": h256("report:" + report_id),
        })
        self.ok("verifier-b", "attest_verification", {
            "attestation_id": f"VER-{report_id}", "report_id": report_id,
            "report_sha256": h256("report:" + report_id), "verified_quantity": issuable,
            "site_visit_date": visit,
        })
        self.ok("regulator", "issue", {"report_id": report_id, "batch_id": batch_id})
        return self.get(f"batch/{batch_id}")

    # -- reading ------------------------------------------------------------------------
    def ranges(self, project_id: str) -> list[dict[str, Any]]:
        return [decode(v) for _, v in self.h.state.iter_prefix(f"unit/{project_id}/")]

    def count(self, account: str, state: str = "held", project_id: str | None = None) -> int:
        prefix = f"holding/{account}/{state}/" + (f"{project_id}/" if project_id else "")
        return sum(decode(v)["last"] - int(k.rsplit("/", 1)[1]) + 1
                   for k, v in self.h.state.iter_prefix(prefix))


def check_invariants(state: StateReader) -> None:
    """The integrity rules of DOMAIN.md on a committed state; AssertionError if broken.

    * ranges of a project never overlap, keys match records, states are known,
      only held/listed units are frozen, and history steps carry tx id and height;
    * every unit of every batch is in exactly one range of that batch (so no serial is
      in two states) and per-batch conservation holds;
    * the holdings index has exactly one entry per range, with matching values;
    * open listings: remaining = units in their intervals, all listed by the seller;
    * the derived counters (``stats/...``) equal a full recount (:func:`recount_stats`);
    * the pool-event indexes and the pool accounts' split charges match the reversal and
      loss records, and ``queries.buffer_pool`` equals the full scan it replaced.
    """
    check_stats(state)
    check_pool_indexes(state)
    ranges: dict[str, dict[str, Any]] = {}
    per_batch: dict[str, int] = {}
    last_seen: dict[str, int] = {}
    for key, raw in state.iter_prefix(UNIT_PREFIX):
        r = decode(raw)
        pid = r["project_id"]
        assert key == unit_key(pid, r["first"]), key
        assert 1 <= r["first"] <= r["last"], r
        assert r["first"] > last_seen.get(pid, 0), f"overlapping ranges at {key}"
        last_seen[pid] = r["last"]
        assert r["state"] in STATES, r
        assert not (r["frozen"] and r["state"] in TERMINAL_STATES), r
        assert r["history"] and r["history"][0]["action"] == "issue", r
        assert all(isinstance(s["tx_id"], str) and s["height"] >= 1 for s in r["history"])
        if r["account"] == BUFFER_ACCOUNT:
            assert r["state"] in ("held", "cancelled"), r
        ranges[key] = r
        per_batch[r["batch_id"]] = per_batch.get(r["batch_id"], 0) + r["last"] - r["first"] + 1
    batches = {decode(v)["id"]: decode(v) for _, v in state.iter_prefix("batch/")}
    for batch_id, batch in batches.items():
        # conservation: issued = held + listed + retired + cancelled + buffer, and every
        # unit of the batch lies in its [first, last] (checked per range below)
        assert per_batch.get(batch_id, 0) == batch["quantity"], (batch_id, per_batch, batch)
    for r in ranges.values():
        b = batches[r["batch_id"]]
        assert b["project_id"] == r["project_id"]
        assert b["first"] <= r["first"] and r["last"] <= b["last"], r
        assert r["vintage"] == b["vintage"]
    expected_index = {
        holding_key(r["account"], r["state"], r["project_id"], r["first"]): {
            "batch_id": r["batch_id"], "frozen": r["frozen"], "last": r["last"],
            "vintage": r["vintage"],
        }
        for r in ranges.values()
    }
    index = {k: decode(v) for k, v in state.iter_prefix(HOLDING_PREFIX)}
    assert index == expected_index, "holdings index out of step with the unit ranges"
    for key, _ in state.iter_prefix(OPEN_LISTING_PREFIX):
        listing = decode(state.get(LISTING_PREFIX + key.rsplit("/", 1)[1]))
        assert listing["status"] == "open"
        assert listing["remaining"] == sum(i["last"] - i["first"] + 1 for i in listing["ranges"])
        for i in listing["ranges"]:
            covered = sum(
                min(r["last"], i["last"]) - max(r["first"], i["first"]) + 1
                for r in ranges.values()
                if r["project_id"] == i["project_id"] and r["first"] <= i["last"]
                and r["last"] >= i["first"] and r["state"] == "listed"
                and r["account"] == listing["seller"]
            )
            assert covered == i["last"] - i["first"] + 1, (listing, i)
    for _, raw in state.iter_prefix(LISTING_PREFIX):
        listing = decode(raw)
        open_key = f"{OPEN_LISTING_PREFIX}{listing['seller']}/{listing['id']}"
        assert (state.get(open_key) is not None) == (listing["status"] == "open")


# -- reference recounts (the whole-state scans the counters replace; tests only) ---------
def scan_batch_counts(state: StateReader, project_id: str) -> dict[str, dict[str, int]]:
    """Per batch of a project, by reading every range of the project: units ``held``
    (outside the buffer), ``listed``, ``retired``, ``cancelled``, ``buffer``, ``frozen``."""
    out: dict[str, dict[str, int]] = {}
    for r in iter_ranges(state, project_id):
        c = out.setdefault(
            r["batch_id"],
            {"buffer": 0, "cancelled": 0, "frozen": 0, "held": 0, "listed": 0, "retired": 0},
        )
        n = range_quantity(r)
        c[count_bucket(r)] += n
        if r["frozen"]:
            c["frozen"] += n
    return out


def scan_totals(state: StateReader) -> dict[str, int]:
    """Network-wide unit totals by reading every unit range, project and batch."""
    out = dict.fromkeys(TOTALS_FIELDS, 0)
    for _key, raw in state.iter_prefix(UNIT_PREFIX):
        r = decode(raw)
        n = range_quantity(r)
        out["issued"] += n
        out[count_bucket(r)] += n
        if r["frozen"]:
            out["frozen"] += n
    out["projects"] = sum(1 for _ in state.iter_prefix("project/"))
    out["batches"] = sum(1 for _ in state.iter_prefix("batch/"))
    return out


def scan_vintages(state: StateReader) -> list[dict[str, int]]:
    """Per vintage, ascending: units issued and retired, by reading every range (ranges
    are never destroyed, and check_invariants ties them to the batches' quantities)."""
    per: dict[int, dict[str, int]] = {}
    for _key, raw in state.iter_prefix(UNIT_PREFIX):
        r = decode(raw)
        row = per.setdefault(r["vintage"], dict.fromkeys(VINTAGE_FIELDS, 0))
        row["issued"] += range_quantity(r)
        if r["state"] == "retired":
            row["retired"] += range_quantity(r)
    return [dict(per[v], vintage=v) for v in sorted(per)]


def recount_stats(state: StateReader) -> dict[str, dict[str, Any]]:
    """Every derived counter record recomputed from the unit ranges, projects and batches
    (only the records with a non-zero figure; the holding counters of every account and
    batch it has units of)."""
    out: dict[str, dict[str, Any]] = {STATS_TOTALS_KEY: scan_totals(state)}
    for row in scan_vintages(state):
        out[vintage_stats_key(row["vintage"])] = {f: row[f] for f in VINTAGE_FIELDS}
    projects = sorted({decode(raw)["project_id"] for _k, raw in state.iter_prefix(UNIT_PREFIX)})
    for pid in projects:
        for batch_id, counts in scan_batch_counts(state, pid).items():
            out[STATS_BATCH_PREFIX + batch_id] = counts
        pool = dict.fromkeys(POOL_FIELDS, 0)
        for r in iter_ranges(state, pid):
            if r["account"] == BUFFER_ACCOUNT:
                pool[r["state"]] += range_quantity(r)
                if r["frozen"]:
                    pool["frozen"] += range_quantity(r)
        if any(pool.values()):
            out[STATS_POOL_PREFIX + pid] = pool
    holding: dict[str, dict[str, Any]] = {}
    for _k, raw in state.iter_prefix(UNIT_PREFIX):
        r = decode(raw)
        key = holding_stats_key(r["account"], r["batch_id"])
        row = holding.setdefault(key, dict(dict.fromkeys(HOLDING_STATS_FIELDS, 0),
                                           project_id=r["project_id"], vintage=r["vintage"]))
        row[r["state"]] += range_quantity(r)
        if r["frozen"]:
            row["frozen"] += range_quantity(r)
    out = {k: v for k, v in out.items() if k == STATS_TOTALS_KEY or any(v.values())}
    out.update(holding)
    return out


def check_stats(state: StateReader) -> None:
    """The counter records the chaincode keeps equal a full recount (a counter record
    whose figures are all zero may exist or not)."""
    expected = recount_stats(state)
    stored = {k: decode(v) for k, v in state.iter_prefix("stats/")}
    stored.setdefault(STATS_TOTALS_KEY, dict.fromkeys(TOTALS_FIELDS, 0))
    for key, value in stored.items():
        if not any(value.values()):
            continue
        assert value == expected.get(key), (key, value, expected.get(key))
    for key, value in expected.items():
        assert stored.get(key) == value, (key, stored.get(key), value)


def scan_buffer_pool(state: StateReader) -> dict[str, Any]:
    """The buffer pool's per-project units and totals by reading every pool range, and its
    loss events and reversals by reading every record (newest first by height, then id)."""
    projects: dict[str, dict[str, int]] = {}
    total = dict.fromkeys(POOL_FIELDS, 0)
    for _key, raw in state.iter_prefix(UNIT_PREFIX):
        r = decode(raw)
        if r["account"] != BUFFER_ACCOUNT:
            continue
        n = range_quantity(r)
        for bucket in (total, projects.setdefault(r["project_id"], dict.fromkeys(POOL_FIELDS, 0))):
            bucket[r["state"]] += n
            if r["frozen"]:
                bucket["frozen"] += n
    losses = sorted((decode(v) for _k, v in state.iter_prefix("loss/")),
                    key=lambda r: (-r["height"], r["id"]))
    reversals = sorted((decode(v) for _k, v in state.iter_prefix("reversal/")),
                       key=lambda r: (-r["height"], r["id"]))
    return {"losses": losses, "projects": projects, "reversals": reversals, "totals": total}


def check_pool_indexes(state: StateReader) -> None:
    """Every reversal and loss record has exactly one chronological index entry (reversals
    also one per-project entry) at its height; the pool accounts' split charges add up to
    their totals and the loss charges to the loss records; ``queries.buffer_pool`` (read
    from the counters and indexes) equals :func:`scan_buffer_pool`."""
    from chaincode import queries  # the layer under test; imported late (tests only)

    reference = scan_buffer_pool(state)
    for kind, records in (("loss", reference["losses"]), ("reversal", reference["reversals"])):
        entries = [(k, decode(v)) for k, v in state.iter_prefix(f"poolevent/{kind}/")]
        assert sorted(e["id"] for _k, e in entries) == sorted(r["id"] for r in records), kind
        by_id = {r["id"]: r for r in records}
        for key, e in entries:
            r = by_id[e["id"]]
            assert e == {"height": r["height"], "id": r["id"], "kind": kind,
                         "project_id": r["project_id"]}, (key, e)
            assert int(key.split("/")[2]) == r["height"], key
    by_project = sorted((k.split("/")[1], decode(v)["id"])
                        for k, v in state.iter_prefix("reversal_by/"))
    assert by_project == sorted((r["project_id"], r["id"]) for r in reference["reversals"])
    loss_charges: dict[str, list[int]] = {}
    for r in reference["losses"]:
        c = loss_charges.setdefault(r["project_id"], [0, 0, 0])
        c[0] += r["quantity"]
        c[1] += r["cancelled"]
        c[2] += r["shortfall"]
    for _k, raw in state.iter_prefix("poolacct/"):
        a = decode(raw)
        assert a["charged"] == a["reversal_quantity"] + a["loss_quantity"], a
        assert a["covered"] == a["reversal_cancelled"] + a["loss_cancelled"], a
        assert a["shortfall"] == a["reversal_shortfall"] + a["loss_shortfall"], a
        assert [a["loss_quantity"], a["loss_cancelled"], a["loss_shortfall"]] == \
            loss_charges.get(a["project_id"], [0, 0, 0]), a
    out = queries.buffer_pool(state, limit=queries.MAX_LIMIT)
    assert out["projects"] == reference["projects"]
    assert out["totals"] == reference["totals"]
    for name in ("losses", "reversals"):
        got = out[name]
        want = reference[name][:queries.MAX_LIMIT]
        assert sorted(r["id"] for r in got) == sorted(r["id"] for r in want), name
        heights = [r["height"] for r in got]
        assert heights == sorted(heights, reverse=True), name
