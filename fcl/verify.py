"""``fcl verify FILE (--genesis GENESIS.json | --genesis-hash HEX | --checkpoint FILE) [--json]``.

Dispatches on the file's ``format``: a holding proof (``fcl-holding-proof``,
``chaincode.holding_proof``) or a state-proof file (``fcl-state-proof``,
``ledger.state_proof``) is verified against the genesis or a light-client checkpoint and
prints, for a holding proof, the holder and status of every sub-range; anything else is
read as a retirement certificate (a checkpoint is not an anchor for certificates: exit 2).

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
from chaincode.holding_proof import (
    HOLDING_PROOF_FORMAT,
    HoldingVerdict,
    verify_holding_proof_bytes,
)
from ledger.certificate import MAX_CERT_BYTES, CertificateVerdict, verify_certificate_bytes
from ledger.crypto import is_hex_digest
from ledger.errors import LedgerError
from ledger.genesis import Genesis
from ledger.proof_file import decode_json_file
from ledger.state_proof import MAX_FILE_BYTES, STATE_PROOF_FORMAT, verify_state_proof_bytes

__all__ = ["cmd_verify", "main", "register", "render_holding"]

EXIT_VALID = 0
EXIT_INVALID = 1
EXIT_USAGE = 2


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``verify`` command to a top-level ``fcl`` parser."""
    p = subparsers.add_parser(
        "verify",
        help="verify a retirement certificate or a holding proof offline",
        description="Verify a retirement certificate with nothing but the network's genesis "
        "(the file, or its SHA-256). Exit 0 only if every check passes.",
    )
    p.add_argument("certificate", metavar="FILE",
                   help="the certificate, holding proof or state-proof file")
    anchor = p.add_mutually_exclusive_group(required=True)
    anchor.add_argument("--genesis", metavar="FILE", help="the network's genesis document")
    anchor.add_argument(
        "--genesis-hash", metavar="HEX",
        help="the network's genesis hash (64 hex digits): SHA-256 of the genesis document's "
        "canonical JSON encoding (docs/certificates.md), not of the file's bytes -- as "
        "`fcl node init`, the devnet's banner, the explorer's footer and certificate page "
        "print it",
    )
    anchor.add_argument("--checkpoint", metavar="FILE",
                        help="a light-client checkpoint you trust (holding and state proofs only)")
    p.add_argument("--json", action="store_true", help="print the verdict as JSON")
    p.set_defaults(func=cmd_verify)


def _error(text: str) -> int:
    sys.stderr.write(f"error: {text}\n")
    return EXIT_USAGE


def cmd_verify(args: argparse.Namespace) -> int:
    """Run ``fcl verify``; returns the exit code."""
    genesis: Genesis | None = None
    genesis_hash: str | None = None
    if getattr(args, "checkpoint", None) is not None:
        return _verify_proof_file(args)
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
    if _proof_format(data) is not None:
        return _verify_proof_file(args)
    verdict = verify_certificate_bytes(
        data, genesis=genesis, genesis_hash=genesis_hash, links=CARBON_LINKS
    )
    if args.json:
        sys.stdout.write(json.dumps(verdict.to_json(), indent=2, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(render(verdict))
    return EXIT_VALID if verdict.ok else EXIT_INVALID


def _proof_format(data: bytes) -> str | None:
    """The ``format`` of a holding-proof or state-proof file, else None (a certificate, or
    bytes that the certificate verifier will refuse with its own reason)."""
    try:
        obj = decode_json_file(data, "file")
    except LedgerError:
        return None
    fmt = obj.get("format") if isinstance(obj, dict) else None
    return fmt if fmt in (HOLDING_PROOF_FORMAT, STATE_PROOF_FORMAT) else None


def _verify_proof_file(args: argparse.Namespace) -> int:
    """``fcl verify`` of a holding proof or a state-proof file (any anchor)."""
    from fcl.query import _Usage, load_anchor
    from fcl.query import render as render_state

    try:
        anchor = load_anchor(args)
    except _Usage as exc:
        return _error(str(exc))
    try:
        with open(Path(args.certificate).expanduser(), "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        return _error(f"cannot read {args.certificate}: {exc.strerror or exc}")
    fmt = _proof_format(data)
    if fmt is None:
        return _error("a checkpoint anchors holding proofs and state-proof files only;"
                      " verify a certificate with --genesis or --genesis-hash")
    if fmt == STATE_PROOF_FORMAT:
        state = verify_state_proof_bytes(data, **anchor.kwargs())
        text = json.dumps(state.to_json(), indent=2, ensure_ascii=False) + "\n" if args.json \
            else render_state(state)
        sys.stdout.write(text)
        return EXIT_VALID if state.ok else EXIT_INVALID
    holding = verify_holding_proof_bytes(data, **anchor.kwargs())
    if args.json:
        sys.stdout.write(json.dumps(holding.to_json(), indent=2, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(render_holding(holding))
    return EXIT_VALID if holding.ok else EXIT_INVALID


def render_holding(verdict: HoldingVerdict) -> str:
    """A holding proof's verdict: VALID / INVALID, holder and status per sub-range, checks."""
    lines = [verdict.message]
    if verdict.summary is not None:
        lines.append("")
        lines += ["  " + line for line in verdict.summary.lines()]
    lines.append("")
    lines.append("checks:")
    for c in verdict.checks:
        mark = "ok  " if c.passed else ("skip" if c.skipped else "FAIL")
        code = f" [{c.code}]" if c.code and not c.passed else ""
        lines.append(f"  {mark} {c.name}: {c.detail}{code}")
    return "\n".join(lines) + "\n"


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
