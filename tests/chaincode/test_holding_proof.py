"""The carbon reading of a holding proof's records (chaincode/holding_proof.py), on proven
entries built by hand: statuses, and the coverage codes a genuine chain cannot produce
(a record under another unit's key, malformed records)."""

from __future__ import annotations

from typing import Any

import pytest

from chaincode.holding_proof import _coverage, _Fail, status_of
from ledger.state_proof import ProvenEntry, StateProofSummary


def record(first: int, last: int, **kw: Any) -> dict[str, Any]:
    base = {"account": "owner", "batch_id": "B1", "first": first, "frozen": False, "last": last,
            "project_id": "AH-0001", "state": "held", "vintage": 2022}
    return {**base, **kw}


def proven(*entries: tuple[str, dict[str, Any] | None]) -> StateProofSummary:
    return StateProofSummary("c", "00" * 32, 9, "11" * 32, 0, "22" * 32,
                             tuple(ProvenEntry(k, v is not None, v) for k, v in entries))


def key(first: int) -> str:
    return f"unit/AH-0001/{first:012d}"


@pytest.mark.parametrize(("state", "frozen", "status"), [
    ("held", False, "active"), ("held", True, "frozen"), ("listed", False, "listed"),
    ("listed", True, "frozen"), ("retired", False, "retired"), ("retired", True, "retired"),
    ("cancelled", False, "cancelled"), ("cancelled", True, "cancelled")])
def test_status_of_each_state(state: str, frozen: bool, status: str) -> None:
    assert status_of(record(1, 2, state=state, frozen=frozen)) == status


def test_contiguous_records_are_clipped_to_the_claim() -> None:
    out = _coverage("AH-0001", 5, 25, proven((key(1), record(1, 10)),
                                             (key(11), record(11, 30, account="b", state="retired"))))
    assert [(r.first, r.last, r.account, r.status, r.serial) for r in out] == [
        (5, 10, "owner", "active", "CCER-AH-0001-2022-000000005-000000010"),
        (11, 25, "b", "retired", "CCER-AH-0001-2022-000000011-000000025")]


def code(first: int, last: int, *entries: tuple[str, dict[str, Any] | None]) -> str:
    with pytest.raises(_Fail) as exc:
        _coverage("AH-0001", first, last, proven(*entries))
    return exc.value.code


def test_coverage_codes() -> None:
    assert code(1, 5, (key(2), record(1, 10))) == "key_mismatch"
    assert code(1, 5, (key(1), record(1, 10, project_id="AH-0002"))) == "wrong_project"
    assert code(1, 5, (key(1), None)) == "record_absent"
    assert code(1, 5) == "holding_not_covered"
    assert code(1, 20, (key(1), record(1, 10)), (key(12), record(12, 20))) == "holding_not_covered"
    assert code(1, 20, (key(1), record(1, 10)), (key(5), record(5, 20))) == "holding_not_covered"
    assert code(1, 5, (key(1), record(1, 10)), (key(11), record(11, 20))) == "extra_record"
    for bad in ({"first": "1"}, {"last": 0}, {"state": "lost"}, {"frozen": 0}, {"account": 5},
                {"vintage": None}, {"first": 11}):
        assert code(1, 5, (key(1), {**record(1, 10), **bad})) in ("malformed_unit_record", "key_mismatch")
    assert code(1, 5, (key(1), [1])) == "malformed_unit_record"
