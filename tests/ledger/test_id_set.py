"""ledger/id_set.py: the replay's set of transaction ids answers as a Python set, in a
file or in memory, across the dict, its runs and their merges."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ledger.id_set as id_set
from ledger.id_set import IdSet


@pytest.fixture(params=["file", "memory"])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> Path | None:
    return tmp_path / "ids" if request.param == "file" else None


def _ids(n: int, seed: int = 0) -> list[bytes]:
    return [int.to_bytes(seed * 10**9 + i, 8, "big") * 4 for i in range(n)]


def test_membership_through_flushes_and_merges(where: Path | None,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(id_set, "RECENT_MAX", 7)  # many runs and merges from few ids
    ids = IdSet(where)
    added = _ids(500)
    absent = _ids(200, seed=1)
    for start in range(0, 500, 13):
        ids.update(added[start:start + 13])
        assert all(i in ids for i in added[: start + 13])
        assert not any(i in ids for i in added[start + 13:start + 40])
    assert not any(i in ids for i in absent)
    assert len(ids) == 500
    assert len(ids._runs) <= 8  # merged: O(log n) runs
    assert all(list(run) == sorted(run) for run in ids._runs)
    ids.close()


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(st.lists(st.binary(min_size=4, max_size=4), max_size=12), max_size=12),
       probes=st.lists(st.binary(min_size=4, max_size=4), max_size=20))
def test_answers_as_a_set(tmp_path_factory: pytest.TempPathFactory,
                          batches: list[list[bytes]], probes: list[bytes]) -> None:
    path = tmp_path_factory.mktemp("ids") / "ids"
    for ids in (IdSet(path, width=4), IdSet(width=4)):
        ref: set[bytes] = set()
        for batch in batches:
            ids.update(batch)  # duplicates within and across batches included
            ref.update(batch)
            for probe in probes + batch:
                assert (probe in ids) == (probe in ref)
        ids.close()


def test_shared_fingerprints_are_told_apart_by_the_record(where: Path | None,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Every id given the same fingerprint (as a grinding attacker would wish): each is
    still confirmed against its own record, in the dict and in the runs."""
    monkeypatch.setattr(IdSet, "_fingerprint", lambda self, item: 5)
    monkeypatch.setattr(id_set, "RECENT_MAX", 4)
    ids = IdSet(where)
    added = _ids(30)
    ids.update(added[:20])
    ids.update(added[20:])
    assert all(i in ids for i in added)
    assert not any(i in ids for i in _ids(10, seed=2))
    ids.close()


def test_the_salt_differs_per_set() -> None:
    a, b = IdSet(), IdSet()
    probe = b"x" * 32
    assert a._salt != b._salt
    assert a._fingerprint(probe) != b._fingerprint(probe)  # (2^-36 to collide by chance)


def test_the_records_are_appended_in_order(tmp_path: Path) -> None:
    ids = IdSet(tmp_path / "ids")
    added = _ids(100)
    ids.update(added[:40])
    ids.update(added[40:])
    ids.close()
    assert (tmp_path / "ids").read_bytes() == b"".join(added)


def test_bad_input_is_refused_and_changes_nothing(where: Path | None) -> None:
    ids = IdSet(where)
    good = b"g" * 32
    with pytest.raises(ValueError, match="32 bytes"):
        ids.update([good, b"short"])
    with pytest.raises(ValueError, match="32 bytes"):
        ids.update([good, "x" * 32])  # type: ignore[list-item]
    assert len(ids) == 0 and good not in ids
    assert b"short" not in ids and "x" * 32 not in ids and None not in ids
    with pytest.raises(ValueError, match="width"):
        IdSet(width=0)
    ids.close()


def test_the_file_must_be_new(tmp_path: Path) -> None:
    path = tmp_path / "ids"
    path.write_bytes(b"")
    with pytest.raises(FileExistsError):
        IdSet(path)


def test_closed_set(tmp_path: Path) -> None:
    ids = IdSet(tmp_path / "ids")
    ids.update([b"a" * 32])
    ids.close()
    ids.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        ids.update([b"b" * 32])
    with pytest.raises(RuntimeError, match="closed"):
        _ = b"a" * 32 in ids


def test_record_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(id_set, "MAX_RECORDS", 3)
    ids = IdSet()
    ids.update(_ids(3))
    with pytest.raises(ValueError, match="at most 3"):
        ids.update(_ids(1, seed=3))
    assert len(ids) == 3


def test_memory_is_eight_bytes_per_id_past_the_dict() -> None:
    ids = IdSet()
    n = 3 * id_set.RECENT_MAX
    ids.update(os.urandom(32) for _ in range(n))
    in_runs = sum(len(run) for run in ids._runs)
    assert in_runs + len(ids._recent) == n
    assert sum(run.itemsize * len(run) for run in ids._runs) == 8 * in_runs
