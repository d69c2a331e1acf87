"""The carbon chaincode's provenance links for retirement certificates.

A retirement certificate (``ledger/certificate.py``, docs/certificates.md) proves that a
retirement transaction was committed, and carries the transactions it came from. Which
roles those entries play and how they must link -- retirement -> issued batches ->
verification and monitoring reports -> registered project -> validation -> submission ->
plots, plus the custody steps in between -- is a rule of the carbon contract, so it lives
here: :data:`CARBON_LINKS` is the :class:`ledger.certificate.LinkRules` every verifier of
carbon certificates passes (``fcl verify``, the explorer, the node's certificate builder
and the tests), and :class:`CertificateSummary` is what a valid certificate proves.

Version 2 certificates also carry the retired ranges' unit records
(``unit/<project_id>/<first:012d>``, ``chaincode/units.py``), proven against the state
root of the retirement's block; their ``history`` lists every step the units went
through, so the custody entries must be exactly the histories' custody steps, in the
histories' order (:meth:`_Linker._custody_proven`). Version 1 has no such proof: its
custody list is "at least these steps".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chaincode.carbon_common import serial_string
from chaincode.units import unit_key
from ledger.block import Block
from ledger.certificate import CertificateEntry, LinkContext, LinkError
from ledger.certificate import make_entry as make_any_entry

__all__ = [
    "CARBON_LINKS",
    "CONTRACT",
    "CUSTODY_ACTIONS",
    "CUSTODY_ROLES",
    "LINK_CODES",
    "ROLE_METHODS",
    "SUBJECT_ROLE",
    "CarbonLinks",
    "CertificateSummary",
    "RetiredRange",
    "make_entry",
    "printable_serial",
]

#: The contract whose transactions a certificate links.
CONTRACT = "carbon"
#: The role of the certificate's subject, the retirement.
SUBJECT_ROLE = "retirement"

#: The method(s) of contract ``carbon`` each entry role must be.
ROLE_METHODS: dict[str, tuple[str, ...]] = {
    "retirement": ("retire_compliance", "retire_voluntary"),
    "plot_registration": ("register_plot",),
    "project_submission": ("submit_project",),
    "validation": ("attest_validation",),
    "registration": ("register_project",),
    "monitoring_report": ("submit_monitoring_report",),
    "verification": ("attest_verification",),
    "issuance": ("issue",),
    "listing": ("create_listing",),
    "delisting": ("cancel_listing",),
    "trade": ("match_trade",),
    "transfer": ("transfer",),
    "freeze": ("freeze",),
    "unfreeze": ("unfreeze",),
}
#: Roles of the steps that moved (or froze) the retired units between issuance and
#: retirement: proven committed and successful, shown in the summary.
CUSTODY_ROLES = ("listing", "delisting", "trade", "transfer", "freeze", "unfreeze")
#: The unit-history actions (``chaincode/units.py``) that are custody steps, and the
#: certificate role of each; a retired range's history is ``issue``, then any of these,
#: then ``retire``.
CUSTODY_ACTIONS: dict[str, str] = {
    "delist": "delisting",
    "freeze": "freeze",
    "list": "listing",
    "trade": "trade",
    "transfer": "transfer",
    "unfreeze": "unfreeze",
}
#: The fields of a unit record that must equal its retired range's.
_RANGE_FIELDS = ("project_id", "batch_id", "vintage", "first", "last")

#: The codes the ``links`` check gives for these rules (any other broken link has no
#: code; its detail names the entries): docs/certificates.md §6. The ``custody_*`` codes
#: are version 2's.
LINK_CODES: dict[str, str] = {
    "duplicate_event": "a result carries more than one event of a type the links read"
                       " (carbon.retired, carbon.issued, ...): exactly one is required",
    "registration_project_mismatch": "the registration's carbon.project_registered event"
                                     " names another project than the one it links",
    "custody_record_missing": "a retired range has no proven unit record in custody_proofs",
    "custody_record_mismatch": "a proven unit record is not the retired range's record after"
                               " its retirement (range, state, holder, history's first or"
                               " last step), or custody_proofs proves a key that is no retired"
                               " range's record",
    "custody_incomplete": "a custody step of a retired range's proven history has no custody"
                          " entry in the provenance (a step was left out)",
    "custody_not_in_history": "a custody entry is in no retired range's proven history (it did"
                              " not move these units)",
    "custody_order": "the custody entries' (height, index) order is not the order of a"
                     " proven history",
}


def printable_serial(project_id: str, vintage: int, first: int, last: int) -> str:
    """``CCER-<project>-<vintage>-<first:09d>-<last:09d>`` (inclusive unit range): the
    contract's own ``serial_string``."""
    return serial_string(project_id, vintage, first, last)


def make_entry(role: str, block: Block, index: int) -> dict[str, Any]:
    """``ledger.certificate.make_entry`` for a role of :data:`ROLE_METHODS`."""
    if role not in ROLE_METHODS:
        raise ValueError(f"unknown certificate role {role!r}")
    return make_any_entry(role, block, index)


@dataclass(frozen=True)
class RetiredRange:
    project_id: str
    batch_id: str
    vintage: int
    first: int
    last: int

    @property
    def quantity(self) -> int:
        return self.last - self.first + 1

    @property
    def serial(self) -> str:
        return printable_serial(self.project_id, self.vintage, self.first, self.last)

    def to_json(self) -> dict[str, Any]:
        return {"batch_id": self.batch_id, "first": self.first, "last": self.last,
                "project_id": self.project_id, "quantity": self.quantity,
                "serial": self.serial, "vintage": self.vintage}


@dataclass(frozen=True)
class CertificateSummary:
    """What a valid certificate proves, in plain terms (built from verified data only)."""

    chain_id: str
    genesis_hash: str
    retirement_id: str
    height: int
    time_ms: int
    purpose: str  # "compliance" | "voluntary"
    quantity: int
    enterprise: str  # the retiring organisation
    beneficiary: str
    period: str | None  # compliance period
    reason: str | None  # voluntary reason
    ranges: tuple[RetiredRange, ...]
    projects: tuple[dict[str, Any], ...]  # {project_id, name, methodology, owner_org, plots, ...}
    batches: tuple[dict[str, Any], ...]  # {batch_id, report_id, vintage, issued_height, ...}
    plot_ids: tuple[str, ...]
    custody: tuple[dict[str, Any], ...]  # {role, tx_id, height}
    signed_by: tuple[str, ...]  # names of the validators whose precommits commit the block
    #: the certificate's format version
    version: int = 1
    #: True (version 2) when ``custody`` is proven to be every step the retired units went
    #: through; False (version 1): at least these steps
    custody_complete: bool = False

    @property
    def time_utc(self) -> str:
        return _utc(self.time_ms)

    @property
    def serials(self) -> tuple[str, ...]:
        return tuple(r.serial for r in self.ranges)

    def to_json(self) -> dict[str, Any]:
        return {
            "batches": [dict(b) for b in self.batches],
            "beneficiary": self.beneficiary,
            "chain_id": self.chain_id,
            "custody": [dict(c) for c in self.custody],
            "custody_complete": self.custody_complete,
            "enterprise": self.enterprise,
            "genesis_hash": self.genesis_hash,
            "height": self.height,
            "period": self.period,
            "plot_ids": list(self.plot_ids),
            "projects": [dict(p) for p in self.projects],
            "purpose": self.purpose,
            "quantity": self.quantity,
            "ranges": [r.to_json() for r in self.ranges],
            "reason": self.reason,
            "retirement_id": self.retirement_id,
            "signed_by": list(self.signed_by),
            "time_ms": self.time_ms,
            "time_utc": self.time_utc,
            "version": self.version,
        }

    def lines(self) -> list[str]:
        """The summary as ``label: value`` lines for people."""
        out = [
            f"retirement:  {self.retirement_id}",
            f"committed:   block {self.height} at {self.time_utc} on {self.chain_id}",
            f"purpose:     {self.purpose}"
            + (f" (compliance period {self.period})" if self.period is not None else ""),
            f"quantity:    {self.quantity} t CO2e",
        ]
        for i, r in enumerate(self.ranges):
            label = "serials:" if i == 0 else ""
            out.append(f"{label:<12} {r.serial} ({r.quantity} t, batch {r.batch_id})")
        out.append(f"enterprise:  {self.enterprise}")
        out.append(f"beneficiary: {self.beneficiary}")
        if self.reason is not None:
            out.append(f"reason:      {self.reason}")
        for p in self.projects:
            out.append(
                f"project:     {p['project_id']} {p['name']!r} ({p['methodology']}),"
                f" owner {p['owner_org']}, registered in block {p['registration_height']}"
            )
        out.append(f"plots:       {', '.join(self.plot_ids)}")
        for b in self.batches:
            v = b["verification"]
            out.append(
                f"issued:      batch {b['batch_id']} in block {b['issued_height']}: report"
                f" {b['report_id']} ({b['period_start']}..{b['period_end']}) verified by"
                f" {v['verifier_org']} ({v['accreditation']})"
            )
        steps = ", ".join(f"{c['role']} (block {c['height']})" for c in self.custody)
        if self.custody_complete:
            out.append(f"custody:     complete, proven from the state at block {self.height}: "
                       + (steps or "none (no listing, trade, transfer or freeze between"
                          " issuance and retirement)"))
        elif self.custody:
            out.append(f"custody:     at least {steps} (version 1: not proven complete)")
        out.append(f"signed by:   {', '.join(self.signed_by)}")
        out.append(f"certificate: version {self.version}")
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())


def _utc(ms: int) -> str:
    seconds, millis = divmod(ms, 1000)
    stamp = datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{millis:03d}Z"


def _arg_equals(name: str, value: object) -> Callable[[CertificateEntry], bool]:
    """A match on one argument of an entry's transaction."""
    return lambda entry: entry.args.get(name) == value


class _Linker:
    def __init__(self, entries: Sequence[CertificateEntry], chain: LinkContext) -> None:
        self.entries = list(entries)
        self.chain = chain
        self.used: set[int] = set()  # ids of entries a link uses
        self.by_role: dict[str, list[CertificateEntry]] = {}
        for e in self.entries[1:]:
            self.by_role.setdefault(e.role, []).append(e)
        self.report_of: dict[str, CertificateEntry] = {}
        self.verification_of: dict[str, CertificateEntry] = {}
        self.batches: list[dict[str, Any]] = []
        self.projects: list[dict[str, Any]] = []
        self.plots: list[str] = []
        self.custody: list[dict[str, Any]] = []

    # helpers -------------------------------------------------------------------------------------
    def _one(self, role: str, what: str, match: Callable[[CertificateEntry], bool]) -> CertificateEntry:
        found = [e for e in self.by_role.get(role, []) if match(e)]
        if not found:
            raise LinkError(f"no {role} entry for {what}")
        if len(found) > 1:
            raise LinkError(f"two {role} entries for {what}")
        self.used.add(id(found[0]))
        return found[0]

    @staticmethod
    def _event(e: CertificateEntry, event_type: str) -> dict[str, Any]:
        """The one ``event_type`` event of ``e``'s result. The contract emits exactly one
        per transaction; a result with two could say two different things (two range
        lists, two batches), so it is refused rather than read by position."""
        found = e.events(event_type)
        if not found:
            raise LinkError(f"{e.label}: the result has no {event_type} event")
        if len(found) > 1:
            raise LinkError(
                f"{e.label}: the result carries {len(found)} {event_type} events; exactly one"
                " is required",
                "duplicate_event",
            )
        return found[0]

    @staticmethod
    def _before(a: CertificateEntry, b: CertificateEntry) -> None:
        if not a.position < b.position:
            raise LinkError(f"{a.label} must come before {b.label}")

    # the walk ------------------------------------------------------------------------------------
    def run(self) -> CertificateSummary:
        for e in self.entries:
            if e.payload.get("contract") != CONTRACT or e.method not in ROLE_METHODS[e.role]:
                raise LinkError(
                    f"{e.label}: a {e.role} entry is a {CONTRACT}.{'/'.join(ROLE_METHODS[e.role])}"
                    f" transaction, not {e.payload.get('contract')}.{e.method}"
                )
        ret = self.entries[0]
        ranges = self._retirement(ret)
        issuances: dict[str, CertificateEntry] = {}
        for batch_id in sorted({r.batch_id for r in ranges}):
            issuances[batch_id] = self._batch(batch_id, [r for r in ranges if r.batch_id == batch_id], ret)
        owners: dict[str, set[str]] = {}
        reports: dict[str, list[CertificateEntry]] = {}
        for batch_id, iss in issuances.items():
            iev = self._event(iss, "carbon.issued")
            owners.setdefault(iev["project_id"], set()).add(iev["owner_org"])
            reports.setdefault(iev["project_id"], []).append(self.report_of[batch_id])
        for project_id in sorted(owners):
            self._project(project_id, owners[project_id], reports[project_id])
        self._custody(ret, list(issuances.values()))
        if self.chain.version >= 2:
            self._custody_proven(ret, ranges, issuances)
        unused = [e for e in self.entries[1:] if id(e) not in self.used]
        if unused:
            raise LinkError(f"{unused[0].label} is not linked to the retirement")
        return self._summary(ret, ranges, issuances)

    def _retirement(self, ret: CertificateEntry) -> list[RetiredRange]:
        ev = self._event(ret, "carbon.retired")
        if ev.get("retirement_id") != ret.tx_id:
            raise LinkError("the carbon.retired event names another retirement")
        raw = ev.get("ranges")
        if not isinstance(raw, list) or not raw:
            raise LinkError(
                "the retirement result does not list the retired ranges"
                " (its carbon.retired event needs 'ranges')"
            )
        ranges: list[RetiredRange] = []
        for i, r in enumerate(raw):
            where = f"retired range {i}"
            if not isinstance(r, dict):
                raise LinkError(f"{where} is not an object")
            pid, bid, vintage = r.get("project_id"), r.get("batch_id"), r.get("vintage")
            first, last = r.get("first"), r.get("last")
            if not (isinstance(pid, str) and isinstance(bid, str) and type(vintage) is int
                    and type(first) is int and type(last) is int and 1 <= first <= last):
                raise LinkError(f"{where}: needs project_id, batch_id, vintage, first <= last")
            rr = RetiredRange(pid, bid, vintage, first, last)
            if "quantity" in r and r["quantity"] != rr.quantity:
                raise LinkError(
                    f"{where}: quantity {r['quantity']!r} is not the {rr.quantity} units"
                    f" {first}..{last} it names (last - first + 1)"
                )
            if "serial" in r and r["serial"] != rr.serial:
                raise LinkError(f"{where}: serial {r['serial']!r} does not match the range")
            ranges.append(rr)
        ordered = sorted(ranges, key=lambda r: (r.project_id, r.first))
        for a, b in zip(ordered, ordered[1:], strict=False):
            if a.project_id == b.project_id and b.first <= a.last:
                raise LinkError(f"retired ranges {a.serial} and {b.serial} overlap")
        total = sum(r.quantity for r in ranges)
        args = ret.args
        if args.get("quantity") != total:
            raise LinkError(
                f"the retirement transaction's quantity {args.get('quantity')!r} is not the"
                f" sum of its retired ranges ({total})"
            )
        if ev.get("quantity") != total:
            raise LinkError(
                f"the retirement event's quantity {ev.get('quantity')!r} is not the sum of"
                f" its retired ranges ({total})"
            )
        purpose = "compliance" if ret.method == "retire_compliance" else "voluntary"
        if ev.get("purpose") != purpose:
            raise LinkError(f"the retirement event's purpose is not {purpose}")
        if purpose == "compliance" and ev.get("period") != args.get("period"):
            raise LinkError("the retirement event's period is not the transaction's")
        if purpose == "voluntary" and not (
            isinstance(args.get("beneficiary"), str) and isinstance(args.get("reason"), str)
        ):
            raise LinkError("a voluntary retirement names its beneficiary and reason")
        if not isinstance(ev.get("enterprise"), str):
            raise LinkError("the retirement event does not name the retiring enterprise")
        return ranges

    def _batch(self, batch_id: str, ranges: list[RetiredRange], ret: CertificateEntry) -> CertificateEntry:
        iss = self._one("issuance", f"batch {batch_id}", lambda e: e.args.get("batch_id") == batch_id)
        iev = self._event(iss, "carbon.issued")
        for name, kind in (("batch_id", str), ("project_id", str), ("report_id", str),
                           ("owner_org", str), ("vintage", int), ("first", int),
                           ("last", int), ("quantity", int)):
            if type(iev.get(name)) is not kind:
                raise LinkError(f"{iss.label}: the carbon.issued event lacks {name}")
        if iev["batch_id"] != batch_id or iev["report_id"] != iss.args.get("report_id"):
            raise LinkError(f"{iss.label}: the carbon.issued event is for another batch or report")
        for r in ranges:
            if r.project_id != iev["project_id"] or r.vintage != iev["vintage"]:
                raise LinkError(f"retired range {r.serial} is not of batch {batch_id}'s project and vintage")
            if not iev["first"] <= r.first <= r.last <= iev["last"]:
                raise LinkError(
                    f"retired range {r.serial} lies outside batch {batch_id}"
                    f" ({iev['first']}..{iev['last']})"
                )
        self._before(iss, ret)
        report_id = iev["report_id"]
        ver = self._one("verification", f"report {report_id}",
                        lambda e: e.args.get("report_id") == report_id)
        self._before(ver, iss)
        if ver.args.get("verified_quantity") != iev["quantity"]:
            raise LinkError(f"{iss.label}: issued {iev['quantity']} t, but {ver.label} verified"
                           f" {ver.args.get('verified_quantity')!r} t")
        rep = self._one("monitoring_report", f"report {report_id}",
                        lambda e: e.args.get("report_id") == report_id)
        self._before(rep, ver)
        if rep.args.get("project_id") != iev["project_id"]:
            raise LinkError(f"{rep.label}: the report is of another project")
        if rep.args.get("report_sha256") != ver.args.get("report_sha256"):
            raise LinkError(f"{ver.label}: the attested report hash is not the report's")
        end = rep.args.get("period_end")
        if not isinstance(end, str) or not end[:4].isdigit() or int(end[:4]) != iev["vintage"]:
            raise LinkError(f"{iss.label}: vintage {iev['vintage']} is not the year the period ends")
        self.report_of[batch_id] = rep
        self.verification_of[batch_id] = ver
        return iss

    def _project(self, project_id: str, owners: set[str], reports: list[CertificateEntry]) -> None:
        reg = self._one("registration", f"project {project_id}",
                        lambda e: e.args.get("project_id") == project_id)
        for rep in reports:
            self._before(reg, rep)
        rev = self._event(reg, "carbon.project_registered")
        if rev.get("project_id") != project_id:
            raise LinkError(
                f"{reg.label}: its carbon.project_registered event names project"
                f" {rev.get('project_id')!r}, not {project_id!r}, the project its transaction"
                " registers",
                "registration_project_mismatch",
            )
        att_id = rev.get("validation_attestation")
        val = self._one("validation", f"attestation {att_id!r}",
                        lambda e: e.args.get("attestation_id") == att_id)
        self._before(val, reg)
        if val.args.get("project_id") != project_id or val.args.get("positive") is not True:
            raise LinkError(f"{val.label}: not a positive validation of project {project_id}")
        sub = self._one("project_submission", f"project {project_id}",
                        lambda e: e.args.get("project_id") == project_id)
        self._before(sub, val)
        sev = self._event(sub, "carbon.project_submitted")
        owner = sev.get("owner_org")
        if owners != {owner}:
            raise LinkError(f"{sub.label}: the project's owner {owner!r} did not receive its issuance")
        plots = sub.args.get("plots")
        if not isinstance(plots, list) or not plots or not all(isinstance(p, str) for p in plots):
            raise LinkError(f"{sub.label}: the project lists no plots")
        for plot_id in plots:
            plot = self._one("plot_registration", f"plot {plot_id}", _arg_equals("plot_id", plot_id))
            self._before(plot, sub)
            if self._event(plot, "carbon.plot_registered").get("owner_org") != owner:
                raise LinkError(f"{plot.label}: plot {plot_id} was registered by another owner")
        for rep in reports:
            measured = rep.args.get("measurements")
            ids = [m.get("plot_id") for m in measured] if isinstance(measured, list) else [None]
            if not all(isinstance(m, str) and m in plots for m in ids):
                raise LinkError(f"{rep.label}: the report measures a plot outside project {project_id}")
        self.plots.extend(p for p in plots if p not in self.plots)
        args = sub.args
        self.projects.append({
            "methodology": args.get("methodology"),
            "name": args.get("name"),
            "owner_org": owner,
            "pdd_sha256": val.args.get("pdd_sha256"),
            "plots": list(plots),
            "project_id": project_id,
            "registration_height": reg.height,
            "registration_tx": reg.tx_id,
            "validation": {
                "accreditation": self._event(val, "carbon.validation_attested").get("accreditation"),
                "attestation_id": att_id,
                "verifier_org": self._event(val, "carbon.validation_attested").get("verifier_org"),
            },
        })

    def _custody(self, ret: CertificateEntry, issuances: list[CertificateEntry]) -> None:
        earliest = min(e.position for e in issuances)
        for role in CUSTODY_ROLES:
            for e in self.by_role.get(role, []):
                if not earliest < e.position < ret.position:
                    raise LinkError(f"{e.label}: a custody step must lie between issuance and retirement")
                self.used.add(id(e))
                self.custody.append({"height": e.height, "role": role, "tx_id": e.tx_id})
        self.custody.sort(key=lambda c: (c["height"], c["tx_id"]))

    def _custody_proven(
        self, ret: CertificateEntry, ranges: list[RetiredRange],
        issuances: dict[str, CertificateEntry],
    ) -> None:
        """Version 2: each retired range's unit record, proven in the state after the
        retirement's block, is that range retired by this retirement; its history runs
        from the batch's issuance to this retirement; the custody entries are exactly the
        histories' custody steps, each in the histories' order."""
        state = self.chain.state
        enterprise = self._event(ret, "carbon.retired").get("enterprise")
        wanted = {unit_key(r.project_id, r.first): r for r in ranges}
        for key, r in sorted(wanted.items()):
            if key not in state:
                raise LinkError(
                    f"retired range {r.serial} has no proven unit record: custody_proofs"
                    f" needs {key!r}", "custody_record_missing")
        extra = sorted(k for k in state if k not in wanted)
        if extra:
            raise LinkError(f"custody_proofs proves {extra[0]!r}, which is no retired range's"
                            " unit record", "custody_record_mismatch")
        custody = {e.tx_id: e for role in CUSTODY_ROLES for e in self.by_role.get(role, [])}
        in_history: set[str] = set()
        for key, r in sorted(wanted.items()):
            steps = self._proven_steps(key, r, state[key], ret, issuances[r.batch_id],
                                       enterprise)
            previous = issuances[r.batch_id]
            for i, step in steps:
                role = CUSTODY_ACTIONS[step["action"]]
                e = custody.get(step["tx_id"])
                what = (f"unit record {key}, history step {i} ({step['action']} in block"
                        f" {step['height']}, transaction {step['tx_id'][:16]}…)")
                if e is None:
                    raise LinkError(f"{what} has no {role} entry in the provenance: the"
                                    " certificate leaves out a step these units went through",
                                    "custody_incomplete")
                if e.role != role or e.height != step["height"]:
                    raise LinkError(f"{what} is {e.label}, a {e.role} in block {e.height}",
                                    "custody_record_mismatch")
                if not previous.position < e.position:
                    raise LinkError(f"{what}: {e.label} does not come after {previous.label},"
                                    " the step before it in the history", "custody_order")
                previous = e
                in_history.add(e.tx_id)
        for e in sorted(custody.values(), key=lambda e: e.position):
            if e.tx_id not in in_history:
                raise LinkError(
                    f"{e.label}: transaction {e.tx_id[:16]}… is in no retired range's proven"
                    " history: it did not move or freeze these units", "custody_not_in_history")

    @staticmethod
    def _proven_steps(
        key: str, r: RetiredRange, record: Any, ret: CertificateEntry, iss: CertificateEntry,
        enterprise: Any,
    ) -> list[tuple[int, dict[str, Any]]]:
        """The custody steps ``(index in history, step)`` of the proven ``record`` of
        retired range ``r``, after checking that it is ``r`` as retired by ``ret``."""
        def mismatch(message: str) -> LinkError:
            return LinkError(f"unit record {key}: {message}", "custody_record_mismatch")

        if not isinstance(record, dict):
            raise mismatch("the proven value is not a unit record")
        for name in _RANGE_FIELDS:
            if record.get(name) != getattr(r, name):
                raise mismatch(f"its {name} is {record.get(name)!r}, the retired range"
                               f" {r.serial} has {getattr(r, name)!r}")
        if record.get("state") != "retired":
            raise mismatch(f"its state is {record.get('state')!r}, not 'retired'")
        if record.get("account") != enterprise:
            raise mismatch(f"it is held by {record.get('account')!r}, not by the retiring"
                           f" enterprise {enterprise!r}")
        history = record.get("history")
        if not isinstance(history, list) or len(history) < 2:
            raise mismatch("its history does not run from an issuance to a retirement")
        for i, step in enumerate(history):
            if not (isinstance(step, dict) and isinstance(step.get("action"), str)
                    and isinstance(step.get("tx_id"), str) and type(step.get("height")) is int):
                raise mismatch(f"history step {i} is not {{action, tx_id, height, from, to}}")
        first, last = history[0], history[-1]
        if (first["action"], first["tx_id"], first["height"]) != ("issue", iss.tx_id, iss.height):
            raise mismatch(f"its history starts with {first['action']} by transaction"
                           f" {first['tx_id'][:16]}…, not with the issuance {iss.label}")
        if (last["action"], last["tx_id"], last["height"]) != ("retire", ret.tx_id, ret.height):
            raise mismatch(f"its history ends with {last['action']} by transaction"
                           f" {last['tx_id'][:16]}…, not with this retirement")
        out = []
        for i, step in enumerate(history[1:-1], start=1):
            if step["action"] not in CUSTODY_ACTIONS:
                raise mismatch(f"history step {i} ({step['action']!r}) is not a custody step"
                               f" ({', '.join(sorted(CUSTODY_ACTIONS))})")
            out.append((i, step))
        return out

    def _summary(
        self, ret: CertificateEntry, ranges: list[RetiredRange], issuances: dict[str, CertificateEntry]
    ) -> CertificateSummary:
        chain = self.chain
        ev = self._event(ret, "carbon.retired")
        args = ret.args
        purpose = ev["purpose"]
        enterprise = ev["enterprise"]
        for batch_id, iss in sorted(issuances.items()):
            iev = self._event(iss, "carbon.issued")
            ver = self.verification_of[batch_id]
            vev = self._event(ver, "carbon.verification_attested")
            rep = self.report_of[batch_id]
            self.batches.append({
                "batch_id": batch_id,
                "issued_height": iss.height,
                "period_end": rep.args.get("period_end"),
                "period_start": rep.args.get("period_start"),
                "project_id": iev["project_id"],
                "quantity": iev["quantity"],
                "report_id": iev["report_id"],
                "serial": printable_serial(iev["project_id"], iev["vintage"], iev["first"], iev["last"]),
                "verification": {
                    "accreditation": vev.get("accreditation"),
                    "attestation_id": ver.args.get("attestation_id"),
                    "verifier_org": vev.get("verifier_org"),
                },
                "vintage": iev["vintage"],
            })
        anchor = chain.header(ret.height)
        return CertificateSummary(
            chain_id=chain.chain_id,
            genesis_hash=chain.genesis_hash,
            retirement_id=ret.tx_id,
            height=ret.height,
            time_ms=anchor.time,
            purpose=purpose,
            quantity=sum(r.quantity for r in ranges),
            enterprise=enterprise,
            beneficiary=args["beneficiary"] if purpose == "voluntary" else enterprise,
            period=args.get("period") if purpose == "compliance" else None,
            reason=args.get("reason") if purpose == "voluntary" else None,
            ranges=tuple(sorted(ranges, key=lambda r: (r.project_id, r.first))),
            projects=tuple(self.projects),
            batches=tuple(self.batches),
            plot_ids=tuple(self.plots),
            custody=tuple(self.custody),
            signed_by=chain.signed_by(ret.height),
            version=chain.version,
            custody_complete=chain.version >= 2,
        )


class CarbonLinks:
    """The carbon contract's :class:`ledger.certificate.LinkRules`."""

    subject_role = SUBJECT_ROLE
    roles: frozenset[str] = frozenset(ROLE_METHODS)

    def link(
        self, entries: Sequence[CertificateEntry], chain: LinkContext
    ) -> tuple[str, CertificateSummary]:
        linker = _Linker(entries, chain)
        summary = linker.run()
        detail = (
            f"{len(linker.batches)} batch(es) of {len(linker.projects)} project(s),"
            f" {len(linker.plots)} plot(s), {len(linker.custody)} custody step(s)"
            + (" (complete: the proven histories' steps)" if chain.version >= 2 else "")
        )
        return detail, summary


#: The rules every verifier of carbon retirement certificates passes.
CARBON_LINKS = CarbonLinks()
