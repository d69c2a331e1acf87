"""The monitoring-period overlap check of ``submit_monitoring_report`` (a defensive
check: the stock rules refuse an overlapping period first) finds an overlap by one seek
per plot and names the earliest stored period that overlaps, as a scan did. The stored
periods are written into the state directly, since no sequence of calls leaves a plot
with a period the stock rules have not seen."""

from __future__ import annotations

import pytest

from chaincode.carbon_common import period_key
from ledger.encoding import canonical
from tests.support.carbon_registry import Flow

PERIODS = [("2018-03-01", "2019-02-28", "RA"), ("2019-06-01", "2020-05-31", "RB"),
           ("2021-01-01", "2021-12-31", "RC")]
RA, RB, RC = (f"{s}..{e} of report {r}" for s, e, r in PERIODS)


@pytest.mark.parametrize(("start", "end", "named"), [
    ("2019-01-01", "2021-06-30", RA),  # overlaps all three
    ("2020-01-01", "2021-01-01", RB),  # RB and RC
    ("2018-01-01", "2018-03-01", RA),  # closed intervals: one shared day
    ("2020-05-31", "2022-12-31", RB),
    ("2021-12-31", "2022-12-31", RC),
    ("2019-03-01", "2021-06-30", RB),  # starts in a gap, overlaps RB and RC
    ("2018-01-01", "2019-07-01", RA),  # starts before every period
    ("2019-03-01", "2019-05-31", None),  # the gaps, and after the last
    ("2020-06-01", "2020-12-31", None),
    ("2022-01-01", "2023-06-30", None),
])
def test_the_overlap_named_is_the_earliest(start: str, end: str, named: str | None) -> None:
    f = Flow()
    f.registered_project()
    f.h.state.apply([
        (period_key("P1", s), canonical({"period_end": e, "report_id": r}))
        for s, e, r in PERIODS
    ])
    args = f.report_args("R1", "AH-0001", [("P1", "0", "25.2")], 30, start=start, end=end)
    if named is None:
        f.ok("owner-farm", "submit_monitoring_report", args)
    else:
        result = f.fails("period_overlap", "owner-farm", "submit_monitoring_report", args)
        assert result["message"] == f"plot P1: period {start}..{end} overlaps {named}"
