"""What a form's person picks from, read from the node: the "From the ledger" panel above
the regulator's, verifiers', the exchange's and buyers' forms.

Each panel is a table; a row's **Use** link opens the same form with the row's values
filled in (``GET /forms/{key}?field=value``: no JavaScript). Nothing here decides
anything: the contract still checks every argument through the dry run.

| form | rows |
|---|---|
| ``carbon.register_project`` | projects validated, not yet registered |
| ``carbon.attest_validation`` | projects submitted, with their PDD's SHA-256 on the ledger |
| ``carbon.attest_verification`` | monitoring reports submitted, with the claim and hash |
| ``carbon.issue`` | reports verified, not issued (a batch id is suggested) |
| ``carbon.accrue_subsidy`` | issued batches whose subsidy was not accrued |
| ``carbon.record_subsidy_paid`` | subsidies accrued and not paid (owed) |
| ``carbon.match_trade`` | the exchange's open listings (remaining quantity) |
| ``carbon.record_obligation`` | the buyer organisations, with their obligations |
| ``carbon.retire_compliance`` | the signer's obligations: cap, retired, room left |
| ``carbon.retire_voluntary``, ``carbon.create_listing``, ``carbon.transfer`` | the signer's holdings per project |
| ``carbon.freeze`` / ``unfreeze`` / ``record_loss_event`` / ``exclude_plot`` | batches and their serial ranges / projects and plots |
| ``params.set_param`` | every parameter with its value in force |

``get(path)`` is the node's JSON answer, or None for a 404; a panel reads at most
:data:`MAX_PAGES` pages of a list and :data:`MAX_PROJECTS` projects.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any
from urllib.parse import quote, urlencode

from ledger.fixedpoint import FixedPointError, parse_decimal

__all__ = ["PICK_FORMS", "Panel", "Row", "panel"]

MAX_PAGES = 20
MAX_PROJECTS = 100
Getter = Callable[[str], dict[str, Any] | None]


@dataclass
class Row:
    cells: list[str]
    use: dict[str, str] = field(default_factory=dict)


@dataclass
class Panel:
    """``title``: a label key of portal.i18n; ``headers``: label keys; ``rows``; ``note``:
    a label key (with ``note_values``) shown under the table, e.g. when it is empty."""

    form_key: str
    title: str
    headers: list[str]
    rows: list[Row] = field(default_factory=list)
    note: str = ""
    note_values: dict[str, Any] = field(default_factory=dict)
    held: int | None = None  # the signer's organisation's units held (retirements)

    def use_url(self, row: Row) -> str:
        return f"/forms/{self.form_key}?{urlencode(row.use)}" if row.use else ""


def _pages(get: Getter, path: str, key: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    after: str | None = None
    for _ in range(MAX_PAGES):
        sep = "&" if "?" in path else "?"
        got = get(path + (f"{sep}after={quote(after, safe='')}" if after else ""))
        if got is None:
            break
        out.extend(x for x in got.get(key) or [] if isinstance(x, dict))
        nxt = got.get("next") if key != "listings" else got.get("listings_next")
        after = nxt if isinstance(nxt, str) and nxt else None
        if after is None:
            break
    return out


def _projects(get: Getter, status: str | None = None) -> list[dict[str, Any]]:
    path = "/v1/explorer/projects?limit=100" + (f"&status={status}" if status else "")
    projects = _pages(get, path, "projects")
    return [p for p in projects if status is None or p.get("status") == status][:MAX_PROJECTS]


def _project_detail(get: Getter, project_id: str) -> dict[str, Any] | None:
    return get(f"/v1/explorer/projects/{quote(project_id, safe='')}?limit=100")


def _t(value: Any) -> str:
    return "" if value is None else str(value)


def _register_project(get: Getter, org: Mapping[str, Any], values: Mapping[str, str]) -> Panel:
    p = Panel("carbon.register_project", "pick_validated", ["pk_project", "pk_name", "pk_owner"])
    for pr in _projects(get, "validated"):
        p.rows.append(Row([pr["id"], _t(pr.get("name")), _t(pr.get("owner_org"))],
                          {"project_id": pr["id"]}))
    return p


def _attest_validation(get: Getter, org: Mapping[str, Any], values: Mapping[str, str]) -> Panel:
    p = Panel("carbon.attest_validation", "pick_submitted_projects",
              ["pk_project", "pk_name", "pk_owner", "pk_plots", "pk_pdd_sha256"],
              note="pick_hash_note")
    for pr in _projects(get, "submitted"):
        p.rows.append(Row([pr["id"], _t(pr.get("name")), _t(pr.get("owner_org")),
                           ", ".join(pr.get("plots") or []), _t(pr.get("pdd_sha256"))],
                          {"project_id": pr["id"]}))
    return p


def _open_reports(get: Getter, status: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(project, report) of every report in ``status`` of the registered projects."""
    out = []
    for pr in _projects(get, "registered"):
        if status == "submitted" and not pr.get("open_report"):
            continue
        detail = _project_detail(get, pr["id"]) or {}
        for r in detail.get("reports") or []:
            if isinstance(r, dict) and r.get("status") == status:
                out.append((pr, r))
    return out


def _attest_verification(get: Getter, org: Mapping[str, Any],
                         values: Mapping[str, str]) -> Panel:
    p = Panel("carbon.attest_verification", "pick_submitted_reports",
              ["pk_report", "pk_project", "pk_period", "pk_claimed", "pk_report_sha256"],
              note="pick_hash_note")
    for pr, r in _open_reports(get, "submitted"):
        p.rows.append(Row([r["id"], pr["id"], f"{r.get('period_start')} … {r.get('period_end')}",
                           _t(r.get("claimed_issuable")), _t(r.get("report_sha256"))],
                          {"report_id": r["id"]}))
    return p


def _issue(get: Getter, org: Mapping[str, Any], values: Mapping[str, str]) -> Panel:
    p = Panel("carbon.issue", "pick_verified_reports",
              ["pk_report", "pk_project", "pk_period", "pk_claimed", "pk_batch"])
    for pr, r in _open_reports(get, "verified"):
        batch = f"{pr['id']}-B{_t(r.get('period_end'))[:4]}"
        p.rows.append(Row([r["id"], pr["id"], f"{r.get('period_start')} … {r.get('period_end')}",
                           _t(r.get("claimed_issuable")), batch],
                          {"report_id": r["id"], "batch_id": batch}))
    return p


def _subsidies(get: Getter, paid: bool) -> Panel:
    key = "carbon.record_subsidy_paid" if paid else "carbon.accrue_subsidy"
    p = Panel(key, "pick_owed" if paid else "pick_unaccrued",
              ["pk_batch", "pk_project", "pk_owner", "pk_tonnes", "pk_amount"])
    for pr in _projects(get, "registered"):
        detail = _project_detail(get, pr["id"]) or {}
        subsidies = {s.get("batch_id"): s for s in detail.get("subsidies") or []
                     if isinstance(s, dict)}
        if paid:
            for bid, s in sorted(subsidies.items(), key=lambda kv: str(kv[0])):
                if s.get("status") == "accrued" and isinstance(bid, str):
                    p.rows.append(Row([bid, pr["id"], _t(s.get("owner_org")),
                                       _t(s.get("tonnes")), _t(s.get("amount"))],
                                      {"batch_id": bid}))
        else:
            for b in detail.get("batches") or []:
                if isinstance(b, dict) and isinstance(b.get("id"), str) \
                        and b["id"] not in subsidies:
                    p.rows.append(Row([b["id"], pr["id"], _t(b.get("owner_org")),
                                       _t(b.get("owner_quantity")), ""], {"batch_id": b["id"]}))
    return p


def _match_trade(get: Getter, org: Mapping[str, Any], values: Mapping[str, str]) -> Panel:
    p = Panel("carbon.match_trade", "pick_listings",
              ["pk_listing", "pk_project", "pk_seller", "pk_remaining", "pk_price"])
    market = get("/v1/explorer/market") or {}
    for li in market.get("listings") or []:
        if not isinstance(li, dict) or li.get("status") != "open":
            continue
        if li.get("exchange") != org.get("id"):
            continue
        p.rows.append(Row([_t(li.get("id")), _t(li.get("project_id")), _t(li.get("seller")),
                           _t(li.get("remaining")), _t(li.get("price"))],
                          {"listing_id": _t(li.get("id")), "quantity": _t(li.get("remaining")),
                           "price": _t(li.get("price"))}))
    return p


def _buyers(get: Getter, org: Mapping[str, Any], values: Mapping[str, str]) -> Panel:
    p = Panel("carbon.record_obligation", "pick_buyers", ["pk_org", "pk_name"])
    for o in _pages(get, "/v1/explorer/orgs?limit=100", "orgs"):
        if "buyer" in (o.get("roles") or []) and isinstance(o.get("id"), str):
            p.rows.append(Row([o["id"], _t(o.get("name"))], {"enterprise_org": o["id"]}))
    return p


def _obligations(get: Getter, org: Mapping[str, Any], values: Mapping[str, str],
                 periods: list[str], offset_cap: str | None) -> Panel:
    p = Panel("carbon.retire_compliance", "pick_obligations",
              ["pk_period", "pk_obligation", "pk_cap", "pk_retired", "pk_room"],
              note="pick_obligation_none", note_values={"periods": ", ".join(periods)})
    share: Fraction | None = None
    try:
        share = Fraction(parse_decimal(offset_cap, field="offset_cap")) if offset_cap else None
    except FixedPointError:
        share = None
    for period in periods:
        state_key = "obligation/" + str(org["id"]) + "/" + period
        got = get("/v1/state/" + quote(state_key, safe="/"))
        value = (got or {}).get("value")
        if not isinstance(value, dict):
            continue
        tonnes = value.get("obligation_tonnes")
        retired = value.get("retired")
        if not isinstance(tonnes, int) or not isinstance(retired, int):
            continue
        cap = int(tonnes * share) if share is not None else None  # floor, as the contract
        room = "" if cap is None else str(max(0, cap - retired))
        p.rows.append(Row([period, str(tonnes), _t(cap), str(retired), room],
                          {"period": period, "quantity": room} if room else {"period": period}))
    if p.rows:
        p.note = "pick_obligation_rule"
        p.note_values = {"cap": offset_cap or "?"}
    account = get(f"/v1/explorer/accounts/{quote(str(org['id']), safe='')}?limit=1") or {}
    held = ((account.get("holdings") or {}).get("totals") or {}).get("held")
    p.held = held if isinstance(held, int) else None
    return p


def _holdings(key: str, get: Getter, org: Mapping[str, Any], values: Mapping[str, str]) -> Panel:
    p = Panel(key, "pick_holdings", ["pk_project", "pk_held", "pk_listed", "pk_retired"])
    account = get(f"/v1/explorer/accounts/{quote(str(org['id']), safe='')}?limit=1") or {}
    projects = (account.get("holdings") or {}).get("projects") or {}
    for pid in sorted(projects):
        counts = projects[pid]
        if not isinstance(counts, dict):
            continue
        p.rows.append(Row([pid, _t(counts.get("held")), _t(counts.get("listed")),
                           _t(counts.get("retired"))], {"project_id": pid}))
    return p


def _batches(key: str, get: Getter, org: Mapping[str, Any], values: Mapping[str, str]) -> Panel:
    p = Panel(key, "pick_batches", ["pk_batch", "pk_project", "pk_serial", "pk_held", "pk_frozen"])
    for pr in _projects(get, "registered"):
        detail = _project_detail(get, pr["id"]) or {}
        for b in detail.get("batches") or []:
            if not isinstance(b, dict) or not isinstance(b.get("id"), str):
                continue
            counts: dict[str, Any] = b["counts"] if isinstance(b.get("counts"), dict) else {}
            p.rows.append(Row([b["id"], pr["id"], _t(b.get("serial")), _t(counts.get("held")),
                               _t(counts.get("frozen"))],
                              {"project_id": pr["id"], "batch_id": b["id"]}))
    return p


def _plots(key: str, get: Getter, org: Mapping[str, Any], values: Mapping[str, str]) -> Panel:
    p = Panel(key, "pick_plots", ["pk_project", "pk_plot", "pk_owner"])
    for pr in _projects(get, "registered"):
        for plot_id in pr.get("plots") or []:
            p.rows.append(Row([pr["id"], str(plot_id), _t(pr.get("owner_org"))],
                              {"project_id": pr["id"], "plot_id": str(plot_id)}))
    return p


def _params(get: Getter, org: Mapping[str, Any], values: Mapping[str, str]) -> Panel:
    p = Panel("params.set_param", "pick_params", ["pk_param", "pk_value", "pk_height"],
              note="pick_param_note")
    for prm in _pages(get, "/v1/explorer/params?limit=100", "params"):
        if not isinstance(prm.get("name"), str):
            continue
        value = prm.get("value")
        shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False,
                                                                 sort_keys=True)
        p.rows.append(Row([prm["name"], shown, _t(prm.get("height"))],
                          {"name": prm["name"], "value": shown}))
    return p


#: the forms that have a panel
PICK_FORMS = frozenset({
    "carbon.register_project", "carbon.attest_validation", "carbon.attest_verification",
    "carbon.issue", "carbon.accrue_subsidy", "carbon.record_subsidy_paid",
    "carbon.match_trade", "carbon.record_obligation", "carbon.retire_compliance",
    "carbon.retire_voluntary", "carbon.create_listing", "carbon.transfer", "carbon.freeze",
    "carbon.unfreeze", "carbon.invalidate", "carbon.record_loss_event", "carbon.exclude_plot",
    "params.set_param",
})


def panel(form_key: str, get: Getter, org: Mapping[str, Any] | None,
          values: Mapping[str, str], *, periods: list[str] | None = None,
          offset_cap: str | None = None) -> Panel | None:
    """The panel of ``form_key`` for the signer's organisation ``org`` (None: no panel)."""
    if form_key not in PICK_FORMS:
        return None
    me: Mapping[str, Any] = org or {"id": ""}
    simple: dict[str, Callable[[Getter, Mapping[str, Any], Mapping[str, str]], Panel]] = {
        "carbon.register_project": _register_project,
        "carbon.attest_validation": _attest_validation,
        "carbon.attest_verification": _attest_verification,
        "carbon.issue": _issue,
        "carbon.match_trade": _match_trade,
        "carbon.record_obligation": _buyers,
        "params.set_param": _params,
    }
    if form_key in simple:
        return simple[form_key](get, me, values)
    if form_key == "carbon.accrue_subsidy":
        return _subsidies(get, paid=False)
    if form_key == "carbon.record_subsidy_paid":
        return _subsidies(get, paid=True)
    if form_key == "carbon.retire_compliance":
        return _obligations(get, me, values, periods or [], offset_cap)
    if form_key in ("carbon.retire_voluntary", "carbon.create_listing", "carbon.transfer"):
        return _holdings(form_key, get, me, values)
    if form_key in ("carbon.freeze", "carbon.unfreeze", "carbon.invalidate"):
        return _batches(form_key, get, me, values)
    return _plots(form_key, get, me, values)
