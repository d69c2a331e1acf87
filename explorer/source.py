"""What the explorer reads: :class:`ExplorerSource`, supplied by the node.

The explorer is read-only and holds no keys. It reads committed data from the store
(blocks, commits, the transaction index, committed state through
``ledger.state.StateReader``), the genesis, and asks the node for three things it cannot
know on its own: the live status (round, peers, tx/s), the retirement certificate of a
retirement id, and -- by default from ``ledger.certificate`` -- how to verify one.

Verdicts: whatever ``verify_certificate`` returns is read by :func:`normalise_verdict`
into a :class:`Verdict` (ok, named checks, summary); an object or mapping with ``ok`` (or
``valid``), ``checks`` and ``summary`` (or ``message``), or a plain bool, all work.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from chaincode.certificate_links import CARBON_LINKS
from ledger.certificate import verify_certificate
from ledger.errors import LedgerError
from ledger.genesis import Genesis
from ledger.store import Store

__all__ = [
    "Check",
    "ExplorerSource",
    "Verdict",
    "default_verify_certificate",
    "normalise_verdict",
    "store_status",
]


def store_status(store: Store, genesis: Genesis) -> dict[str, Any]:
    """A minimal status from committed data only (when the node supplies none)."""
    return {
        "chain_id": genesis.chain_id,
        "genesis_hash": genesis.hash,
        "height": store.latest_height(),
        "latest_block_hash": store.latest_hash(),
    }


def _no_certificates(retirement_id: str) -> dict[str, Any]:
    raise NotImplementedError("this node does not build retirement certificates")


def default_verify_certificate(cert: Mapping[str, Any], genesis: Genesis) -> Any:
    """``verify_certificate(cert, genesis=genesis, links=CARBON_LINKS)``: the offline
    verification a buyer runs, with the carbon contract's provenance links."""
    return verify_certificate(cert, genesis=genesis, links=CARBON_LINKS)


@dataclass
class ExplorerSource:
    """Everything the explorer reads. ``store`` holds committed data only.

    * ``status()`` -- live node status; keys the dashboard shows when present:
      ``height``, ``round``, ``peers`` (a count or a list), ``tx_per_s``, ``validators``
      (list of ``{name, pub_key, power, ...}``; any extra key such as ``online`` is
      shown), ``mempool``, ``halted``, ``node``, ``version``.
    * ``build_certificate(retirement_id)`` -- the certificate (a JSON object) of a
      retirement; raises ``LookupError`` for an unknown id.
    * ``verify_certificate(cert)`` -- a verdict (see :func:`normalise_verdict`); default:
      ``ledger.certificate.verify_certificate(cert, genesis=self.genesis,
      links=CARBON_LINKS)``.
    * ``public_url`` -- the base URL of the links printed on certificates (QR code, verify
      link). None: relative links and no QR code. The request's ``Host`` header is never
      used: whoever sends a request must not choose where a printed certificate points.
    * ``clock()`` -- now, in seconds since the epoch (the dashboard's rate window and the
      validators' "last seen"; a read-only view, never consensus). Default: the wall clock.
    * ``evaluation_years`` -- the length in calendar years of a policy evaluation period
      (政策评估期) on the indicators page: an explorer setting, default 2 (the regional
      plan's two-year evaluation). Periods end with the year of the tip and go back in
      steps of this length.
    * ``time_zone`` -- the IANA time zone (``zoneinfo``) pages show dates in when the
      reader has not chosen one (``?tz=``, cookie ``fcl_tz``): the deployment's zone,
      default ``Asia/Shanghai`` (China Standard Time, UTC+8, the regional market's).
    """

    store: Store
    genesis: Genesis
    status: Callable[[], dict[str, Any]] | None = None
    build_certificate: Callable[[str], dict[str, Any]] = _no_certificates
    verify_certificate: Callable[[Mapping[str, Any]], Any] | None = None
    public_url: str | None = None
    clock: Callable[[], float] = time.time
    evaluation_years: int = 2
    time_zone: str = "Asia/Shanghai"

    def get_status(self) -> dict[str, Any]:
        if self.status is None:
            return store_status(self.store, self.genesis)
        return dict(self.status())

    def verify(self, cert: Mapping[str, Any]) -> Any:
        if self.verify_certificate is None:
            return default_verify_certificate(cert, self.genesis)
        return self.verify_certificate(cert)


# -- verdicts -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    message: str = ""
    skipped: bool = False
    #: the failure's stable code when the verifier gives one (``ledger.certificate.Check.code``)
    code: str | None = None


@dataclass(frozen=True)
class Verdict:
    """``ok``; every ``check``; ``summary``: one line for people; ``details``: what a valid
    certificate proves (``chaincode.certificate_links.CertificateSummary.to_json()``), if given."""

    ok: bool
    checks: tuple[Check, ...]
    summary: str
    code: str | None = None
    details: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "checks": [{"code": c.code, "message": c.message, "name": c.name, "ok": c.ok,
                        "skipped": c.skipped} for c in self.checks],
            "code": self.code,
            "details": self.details,
            "ok": self.ok,
            "summary": self.summary,
        }


def _get(obj: Any, *names: str) -> Any:
    for name in names:
        if isinstance(obj, Mapping):
            if name in obj:
                return obj[name]
        elif hasattr(obj, name):
            return getattr(obj, name)
    return None


def _first_text(obj: Any, *names: str) -> str | None:
    for name in names:
        value = _get(obj, name)
        if isinstance(value, str):
            return value
    return None


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        low = value.lower()
        if low in ("ok", "pass", "passed", "valid", "true"):
            return True
        if low in ("fail", "failed", "invalid", "false", "error"):
            return False
    return None


def _checks(raw: Any) -> list[Check]:
    out: list[Check] = []
    if isinstance(raw, Mapping):  # {"name": bool | {...}}
        items: Iterable[Any] = [
            (dict(v, name=k) if isinstance(v, Mapping) else {"name": k, "ok": v})
            for k, v in raw.items()
        ]
    elif isinstance(raw, (list, tuple)):
        items = raw
    else:
        return out
    for item in items:
        skipped = False
        code: Any = None
        if isinstance(item, (list, tuple)) and len(item) >= 2:
            name, ok = item[0], item[1]
            message: Any = item[2] if len(item) > 2 else ""
        else:
            name = _get(item, "name", "check", "id")
            ok = _get(item, "ok", "passed", "valid", "status", "result")
            message = _first_text(item, "message", "detail", "reason", "error", "code")
            skipped = _get(item, "skipped") is True
            code = _get(item, "code")
        flag = _as_bool(ok)
        out.append(Check(str(name), bool(flag), "" if message is None else str(message), skipped,
                         code if isinstance(code, str) else None))
    return out


def _details(raw: Any) -> dict[str, Any] | None:
    value = _get(raw, "summary", "details")
    to_json = getattr(value, "to_json", None)
    if callable(to_json):
        value = to_json()
    return dict(value) if isinstance(value, Mapping) else None


def normalise_verdict(raw: Any) -> Verdict:
    """A :class:`Verdict` from what a verifier returned (see the module docstring)."""
    if isinstance(raw, Verdict):
        return raw
    if isinstance(raw, bool):
        return Verdict(raw, (), "")
    checks = tuple(_checks(_get(raw, "checks", "results", "steps")))
    flag = _as_bool(_get(raw, "ok", "valid", "verified", "passed", "status"))
    if flag is None:
        flag = bool(checks) and all(c.ok for c in checks)
    code = _get(raw, "code", "error_code")
    return Verdict(
        ok=flag and all(c.ok for c in checks),
        checks=checks,
        summary=_first_text(raw, "message", "summary", "reason") or "",
        code=None if code is None else str(code),
        details=_details(raw),
    )


def verdict_from_error(exc: Exception) -> Verdict:
    """A failed verdict from an exception raised by a verifier."""
    code = exc.code if isinstance(exc, LedgerError) else "invalid_certificate"
    message = exc.message if isinstance(exc, LedgerError) else str(exc)
    return Verdict(False, (Check(code, False, message, code=code),), message, code)
