"""``fcl verify CERT.json (--genesis GENESIS.json | --genesis-hash HEX) [--json]``.

Checks a retirement certificate offline (no network access) with
``ledger.certificate.verify_certificate_bytes`` (with the carbon contract's provenance
links, ``chaincode.certificate_links.CARBON_LINKS``) and prints ``VALID`` with what the
certificate proves, or ``INVALID: <check>: <detail>`` naming the first check that failed.
Both format versions are read: version 2 (custody complete, proven from the state; the
summary's ``custody:`` line says ``complete``) and version 1 (custody "at least these
steps"); the summary ends with ``certificate: version N`` (docs/certificates.md).

Exit codes: 0 the certificate is valid; 1 it is not (including a file that is not a
certificate); 2 bad command line or unreadable input (missing file, malformed genesis,
malformed genesis hash).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from chaincode.certificate_links import CARBON_LINKS, CertificateSummary
from ledger.certificate import MAX_CERT_BYTES, CertificateVerdict, verify_certificate_bytes
from ledger.crypto import is_hex_digest
from ledger.errors import LedgerError
from ledger.genesis import Genesis

__all__ = ["cmd_verify", "main", "register"]

EXIT_VALID = 0
EXIT_INVALID = 1
EXIT_USAGE = 2


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``verify`` command to a top-level ``fcl`` parser."""
    p = subparsers.add_parser(
        "verify",
        help="verify a retirement certificate offline",
        description="Verify a retirement certificate with nothing but the network's genesis "
        "(the file, or its SHA-256). Exit 0 only if every check passes.",
    )
    p.add_argument("certificate", metavar="CERT.json", help="the certificate file")
    anchor = p.add_mutually_exclusive_group(required=True)
    anchor.add_argument("--genesis", metavar="FILE", help="the network's genesis document")
    anchor.add_argument(
        "--genesis-hash", metavar="HEX",
        help="the network's genesis hash (64 hex digits): SHA-256 of the genesis document's "
        "canonical JSON encoding (docs/certificates.md), not of the file's bytes -- as "
        "`fcl node init`, the devnet's banner, the explorer's footer and certificate page "
        "print it",
    )
    p.add_argument("--json", action="store_true", help="print the verdict as JSON")
    p.set_defaults(func=cmd_verify)


def _error(text: str) -> int:
    sys.stderr.write(f"error: {text}\n")
    return EXIT_USAGE


def cmd_verify(args: argparse.Namespace) -> int:
    """Run ``fcl verify``; returns the exit code."""
    genesis: Genesis | None = None
    genesis_hash: str | None = None
    if args.genesis is not None:
        try:
            genesis = Genesis.load(Path(args.genesis).expanduser())
        except OSError as exc:
            return _error(f"cannot read genesis {args.genesis}: {exc.strerror or exc}")
        except LedgerError as exc:
            return _error(f"{exc.code}: {exc.message}")
    else:
        genesis_hash = str(args.genesis_hash).strip().lower()
        if not is_hex_digest(genesis_hash):
            return _error("--genesis-hash must be 64 hex digits (a SHA-256)")
    path = Path(args.certificate).expanduser()
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_CERT_BYTES + 1)
    except OSError as exc:
        return _error(f"cannot read certificate {args.certificate}: {exc.strerror or exc}")
    verdict = verify_certificate_bytes(
        data, genesis=genesis, genesis_hash=genesis_hash, links=CARBON_LINKS
    )
    if args.json:
        sys.stdout.write(json.dumps(verdict.to_json(), indent=2, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(render(verdict))
    return EXIT_VALID if verdict.ok else EXIT_INVALID


def render(verdict: CertificateVerdict[CertificateSummary]) -> str:
    """The verdict as text: VALID / INVALID line, the summary, then every check."""
    lines = [verdict.message]
    if verdict.summary is not None:
        lines.append("")
        lines += ["  " + line for line in verdict.summary.lines()]
    lines.append("")
    lines.append("checks:")
    for c in verdict.checks:
        mark = "ok  " if c.passed else ("skip" if c.skipped else "FAIL")
        lines.append(f"  {mark} {c.name}: {c.detail}")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m fcl.verify verify ...`` (the same command as ``fcl verify``)."""
    parser = argparse.ArgumentParser(prog="fcl", description="Verify retirement certificates.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    register(sub)
    args = parser.parse_args(None if argv is None else list(argv))
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
