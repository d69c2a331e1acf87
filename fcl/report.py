"""How the offline verifiers' verdicts are printed: ``fcl verify`` (certificates, holding
proofs, state-proof files) and ``fcl query``."""

from __future__ import annotations

from collections.abc import Sequence

from ledger.verdict import Check

__all__ = ["render_report"]


def render_report(first: str, summary: Sequence[str], checks: Sequence[Check], *,
                  codes: bool) -> str:
    """A verifier's report as text: its first line (VALID / INVALID ...), the summary's
    lines indented (if any), then one line per check (``ok``, ``FAIL``, ``skip``), with a
    failed check's code in brackets when ``codes``."""
    lines = [first]
    if summary:
        lines.append("")
        lines += ["  " + line for line in summary]
    lines.append("")
    lines.append("checks:")
    for c in checks:
        mark = "ok  " if c.passed else ("skip" if c.skipped else "FAIL")
        code = f" [{c.code}]" if codes and c.code and not c.passed else ""
        lines.append(f"  {mark} {c.name}: {c.detail}{code}")
    return "\n".join(lines) + "\n"
