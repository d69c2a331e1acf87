"""Helpers that the clean-up made shared: chaincode.queries.page (the explorer pages with
it too), the unit-range tallies of chaincode.units, the audit's shared checks, and the
names fcl.audit (the package) exports from its modules."""

from __future__ import annotations

import pytest

import fcl.audit.run as audit
from chaincode import queries
from chaincode.units import BUFFER_ACCOUNT, count_bucket, range_quantity
from fcl.audit import blocks as audit_blocks
from fcl.audit import checks as audit_checks
from fcl.audit import full as audit_full
from fcl.audit import node_source as audit_node_source
from fcl.audit import sources as audit_sources
from ledger.errors import LedgerError

ITEMS = [("a", 1), ("b", 2), ("c", 3), ("d", 4)]


# -- queries.page ---------------------------------------------------------------------------
def test_page_cuts_after_the_cursor_and_names_the_next_one() -> None:
    assert queries.page(ITEMS, None, 2) == ([1, 2], "b")
    assert queries.page(ITEMS, "b", 2) == ([3, 4], None)
    assert queries.page(ITEMS, "b", 3) == ([3, 4], None)
    assert queries.page(ITEMS, "bb", 1) == ([3], "c")  # a cursor need not be a key
    assert queries.page(ITEMS, "d", 5) == ([], None)
    assert queries.page(iter(ITEMS), None, 4) == ([1, 2, 3, 4], None)


@pytest.mark.parametrize("limit", [0, -1, queries.MAX_LIMIT + 1, "2", 2.0, True, None])
def test_page_refuses_a_bad_limit(limit: object) -> None:
    with pytest.raises(LedgerError) as err:
        queries.page(ITEMS, None, limit)  # type: ignore[arg-type]
    assert err.value.code == "invalid_query"


@pytest.mark.parametrize("after", [1, b"a", ["a"]])
def test_page_refuses_a_cursor_that_is_not_a_string(after: object) -> None:
    with pytest.raises(LedgerError) as err:
        queries.page(ITEMS, after, 2)  # type: ignore[arg-type]
    assert err.value.code == "invalid_query"


# -- unit tallies ---------------------------------------------------------------------------
def test_range_quantity_counts_both_ends() -> None:
    assert range_quantity({"first": 5, "last": 5}) == 1
    assert range_quantity({"first": 1, "last": 300}) == 300


@pytest.mark.parametrize(
    ("state", "account", "bucket"),
    [
        ("held", BUFFER_ACCOUNT, "buffer"),
        ("held", "owner-farm", "held"),
        ("listed", "owner-farm", "listed"),
        ("cancelled", BUFFER_ACCOUNT, "cancelled"),  # a loss cancels buffer units
        ("retired", "buyer-steel", "retired"),
    ],
)
def test_count_bucket_sets_the_buffer_pool_apart(state: str, account: str, bucket: str) -> None:
    assert count_bucket({"account": account, "state": state}) == bucket


# -- the audit's shared pieces ---------------------------------------------------------------
def test_check_failed_becomes_the_discrepancy_at_a_height() -> None:
    with pytest.raises(audit_checks.CheckFailed) as err:
        audit_checks.expect("state_root", "aa", "bb", "replayed")
    d = err.value.at(7)
    assert d == audit.Discrepancy(7, "state_root", "aa", "bb", "replayed")
    assert d.message() == "height 7: state_root: expected aa, found bb (replayed)"
    audit_checks.expect("state_root", "aa", "aa")  # equal: no failure


def test_long_values_are_shortened_in_discrepancies() -> None:
    with pytest.raises(audit_checks.CheckFailed) as err:
        audit_checks.expect("results", "x" * 1000, {"k": "y" * 1000})
    assert len(err.value.expected) == 240 and err.value.expected.endswith("…")
    assert err.value.found.startswith('{"k": "yyy') and len(err.value.found) == 240


def test_malformed_served_blocks_are_block_format_discrepancies() -> None:
    with pytest.raises(audit.ChainDataError) as err:
        audit_blocks.decode_strict(3, b'{"a": 1.5}', "block")
    assert (err.value.discrepancy.height, err.value.discrepancy.check) == (3, "block_format")
    with pytest.raises(audit.ChainDataError) as err:
        audit_blocks.decode_strict(4, b'{"a": 1, "a": 2}', "commit")
    assert err.value.discrepancy.expected == "valid JSON for the commit"
    with pytest.raises(audit.ChainDataError) as err:
        audit_blocks.parse_block(5, {"header": {}}, {})
    assert err.value.discrepancy.expected == "a well-formed block"
    missing = audit_blocks.missing_block(9, 8).discrepancy
    assert (missing.check, missing.expected, missing.found) == (
        "block_missing", "block 9 (latest is 8)", "nothing")


def test_the_audit_package_exports_every_name_from_its_home_module() -> None:
    homes = {
        "CHECKS": audit_checks, "AuditError": audit_checks, "ChainDataError": audit_checks,
        "Discrepancy": audit_checks, "AuditProgress": audit_full, "AuditReport": audit_full,
        "ChainAuditor": audit_full, "audit_chain": audit_full, "run_audit": audit_full,
        "BlockItem": audit_full, "ProgressCallback": audit_full,
        "ChainSource": audit_sources, "StoreSource": audit_sources,
        "open_source": audit_sources, "NodeSource": audit_node_source,
        "DEFAULT_TIMEOUT_S": audit_node_source, "DEFAULT_PREFETCH": audit_node_source,
        "MAX_RESPONSE_BYTES": audit_node_source, "HistoryProof": audit_blocks,
        "SourcedBlock": audit_blocks,
    }
    for name, home in homes.items():
        assert getattr(audit, name) is getattr(home, name), name
    assert set(audit.__all__) <= set(homes) | {"Checkpoint", "CheckpointReport",
                                               "verify_checkpoint"}
    assert len(audit.__all__) == 16
