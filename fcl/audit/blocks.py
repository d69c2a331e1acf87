"""Blocks and history proofs as an audit source serves them: strict JSON,
parsing into a block and its commit certificate, and the ``block_format`` /
``block_missing`` discrepancies for data that cannot be delivered as a block."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from fcl.audit.checks import ChainDataError, Discrepancy, failed_rule
from ledger.block import Block, BlockHeader, CommitCertificate
from ledger.errors import LedgerError
from ledger.next_block import NextBlockError, check_chain_id

__all__ = [
    "HistoryInclusion",
    "HistoryProof",
    "SourcedBlock",
    "block_format_error",
    "decode_strict",
    "missing_block",
    "parse_block",
]

SourcedBlock = tuple[Block, CommitCertificate, str]
"""A block, its commit certificate and the hash the source indexes or reports for it."""


@dataclass(frozen=True)
class HistoryProof:
    """A consistency proof as a source serves it; the roots are the source's claims."""

    old_size: int
    new_size: int
    old_root: str
    new_root: str
    proof: list[bytes]


@dataclass(frozen=True)
class HistoryInclusion:
    """An inclusion proof of leaf ``index`` (the hash of block ``index + 1``) in the tree of
    ``size`` blocks, as a source serves it; ``root`` is the source's claim."""

    index: int
    size: int
    root: str
    proof: list[bytes]


def block_format_error(
    height: int, expected: str, found: str, detail: str = ""
) -> ChainDataError:
    """The ``block_format`` discrepancy at ``height``, as a ChainDataError to raise."""
    return ChainDataError(Discrepancy(height, "block_format", expected, found, detail))


def parse_block(
    height: int, block_obj: Any, commit_obj: Any, chain_id: str | None = None
) -> tuple[Block, CommitCertificate]:
    """The block and commit certificate at ``height`` from their JSON values. With
    ``chain_id``, a block whose header parses but names another chain is that rule's
    failure (``wrong_chain``, ``ledger.next_block.check_chain_id``), not ``block_format``:
    its transactions cannot parse against its header, but the header is what is wrong."""
    try:
        block = Block.from_json(block_obj)
    except LedgerError as exc:
        if chain_id is not None and isinstance(block_obj, dict):
            try:
                check_chain_id(chain_id, BlockHeader.from_json(block_obj.get("header")))
            except NextBlockError as wrong:
                raise ChainDataError(failed_rule(wrong).at(height)) from None
            except LedgerError:
                pass  # the header does not parse either: block_format below
        raise block_format_error(height, "a well-formed block", exc.code, exc.message) from None
    try:
        commit = CommitCertificate.from_json(commit_obj)
    except LedgerError as exc:
        raise block_format_error(
            height, "a well-formed commit certificate", exc.code, exc.message
        ) from None
    return block, commit


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise ValueError("duplicate object key")
    return out


def _no_float(text: str) -> Any:
    raise ValueError(f"floats are not allowed (found {text})")


def decode_strict(height: int, raw: bytes, what: str) -> Any:
    """Strict JSON (no floats, NaN or duplicate keys). Unlike ``ledger.encoding.decode`` it
    does not walk the whole value again: every part of a block that is hashed or signed is
    canonically encoded by the checks that follow, which refuse what canonical form
    refuses."""
    try:
        return json.loads(raw, parse_float=_no_float, parse_constant=_no_float,
                          object_pairs_hook=_no_duplicates)
    except (ValueError, RecursionError) as exc:
        raise block_format_error(
            height, f"valid JSON for the {what}", "invalid JSON", str(exc)[:200]
        ) from None


def missing_block(height: int, latest: int) -> ChainDataError:
    return ChainDataError(
        Discrepancy(height, "block_missing", f"block {height} (latest is {latest})", "nothing")
    )
