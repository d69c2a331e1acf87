"""The verdict of an offline verifier: its checks in order, and a summary when all passed.

Shared by retirement certificates (``ledger/certificate.py``), state-proof files
(``ledger/state_proof.py``) and holding proofs (``chaincode/holding_proof.py``): each
verifier runs named checks in a fixed order; a check that fails makes every later one
*skipped* (reported, not passed); the file is valid only when every check passed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

__all__ = ["Check", "SummaryT", "Verdict", "refused_checks"]

SummaryT = TypeVar("SummaryT")


@dataclass(frozen=True)
class Check:
    """One verification step: ``passed``; ``skipped`` when an earlier check it depends on
    failed (then ``passed`` is False too); ``detail`` says what was found; ``code`` is the
    stable code of a failure (the ``ledger.next_block`` code when a header or commit breaks
    the next-block rule, or the verifier's own), else None."""

    name: str
    passed: bool
    detail: str
    skipped: bool = False
    code: str | None = None

    @property
    def ok(self) -> bool:
        return self.passed

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "detail": self.detail, "name": self.name,
                "passed": self.passed, "skipped": self.skipped}


def summary_json(summary: Any) -> Any:
    """``summary.to_json()`` when it has one, else the summary itself."""
    to_json = getattr(summary, "to_json", None)
    return to_json() if callable(to_json) else summary


@dataclass(frozen=True)
class Verdict(Generic[SummaryT]):
    """Every check, and the summary when every check passed. ``code`` is the code of the
    first failed check; ``message`` ``VALID`` or ``INVALID: <check>: <code>: <detail>``."""

    checks: tuple[Check, ...]
    summary: SummaryT | None = None

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)

    @property
    def first_failure(self) -> Check | None:
        """The first failed check that was run (skipped checks failed only because of it)."""
        for c in self.checks:
            if not c.passed and not c.skipped:
                return c
        return None

    @property
    def code(self) -> str | None:
        failure = self.first_failure
        return None if failure is None else failure.code

    @property
    def message(self) -> str:
        failure = self.first_failure
        if failure is None:
            return "VALID"
        return f"INVALID: {failure.name}: {failure.code}: {failure.detail}"

    def check(self, name: str) -> Check:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        return {"checks": [c.to_json() for c in self.checks], "code": self.code,
                "message": self.message, "ok": self.ok,
                "summary": None if self.summary is None else summary_json(self.summary)}


def refused_checks(names: Sequence[str], failed: str, code: str | None, detail: str) -> tuple[Check, ...]:
    """The checks of a file refused at check ``failed``: those before it passed, it failed
    with ``code`` and ``detail``, those after it were skipped."""
    if failed not in names:
        raise ValueError(f"{failed!r} is not one of the checks {list(names)}")
    out: list[Check] = []
    at = names.index(failed)
    for i, n in enumerate(names):
        if i < at:
            out.append(Check(n, True, "passed"))
        elif i == at:
            out.append(Check(n, False, detail, code=code))
        else:
            out.append(Check(n, False, f"not checked: {failed} failed", True))
    return tuple(out)
