"""Which peer block sync asks next, and which peers it stops asking for a while.

A node that is behind must not depend on one peer: a Byzantine validator can claim a
height it will never serve, answer with nothing, answer slowly or send blocks that do not
verify. :class:`SyncScheduler` keeps a record per peer and decides, with no I/O and no
clock of its own (the caller passes ``now``), so the whole policy is tested
deterministically:

* **Spread.** Among the peers that claim the height needed, the one asked least recently
  is asked (then the one with fewer failures, then the smaller key), so successive
  requests go round the peers instead of always to the one claiming the highest height.
* **Demotion.** An answer that is empty (the peer claimed the height but did not send
  its block), malformed, refused by the consensus core (a certificate that does not
  verify, a block for another height) or missing when the request times out demotes the
  peer: it is not asked for ``demote_s`` seconds, doubled for each further consecutive failure up to
  ``max_demote_s``. An answer with the block asked for ends the failure streak.
* **Hedging.** If the peer asked has not answered after ``hedge_s`` seconds, the caller
  asks another eligible peer as well (:meth:`pick` with ``exclude``) and counts the late
  one as ``slow`` (demoted as above; its answer is still taken if it comes first), so a
  silent peer delays catch-up by ``hedge_s`` now and then, never by the whole request
  timeout.

Records are bounded (``max_records``; the least recently asked are forgotten first) and
survive disconnection, so a demoted peer that reconnects stays demoted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["FAILURE_REASONS", "PeerRecord", "SyncScheduler"]

#: why an answer counts against a peer
FAILURE_REASONS = ("empty", "malformed", "refused", "slow", "timeout")


@dataclass
class PeerRecord:
    """What block sync remembers about one peer."""

    failures: int = 0  # consecutive failed answers
    demoted_until: float = float("-inf")
    last_asked: float = float("-inf")
    blocks_kept: int = 0


class SyncScheduler:
    """The peer-choice and demotion policy of block sync (see the module docstring)."""

    def __init__(
        self,
        *,
        demote_s: float = 10.0,
        max_demote_s: float = 300.0,
        hedge_s: float = 3.0,
        max_records: int = 1024,
    ) -> None:
        assert 0 < demote_s <= max_demote_s and hedge_s > 0 and max_records >= 1
        self.demote_s = demote_s
        self.max_demote_s = max_demote_s
        self.hedge_s = hedge_s
        self.max_records = max_records
        self.records: dict[str, PeerRecord] = {}

    def record(self, key: str) -> PeerRecord:
        rec = self.records.get(key)
        if rec is None:
            if len(self.records) >= self.max_records:
                oldest = min(self.records, key=lambda k: (self.records[k].last_asked, k))
                del self.records[oldest]
            rec = self.records[key] = PeerRecord()
        return rec

    def demoted(self, key: str, now: float) -> bool:
        rec = self.records.get(key)
        return rec is not None and now < rec.demoted_until

    def pick(
        self,
        candidates: Iterable[tuple[str, int]],
        need: int,
        now: float,
        exclude: Iterable[str] = (),
    ) -> str | None:
        """The peer to ask for height ``need`` among ``candidates`` (key, claimed height):
        one that claims ``need``, is not demoted and not in ``exclude``; the least recently
        asked first. None if there is none."""
        excluded = set(exclude)
        eligible = [
            key for key, height in candidates
            if height >= need and key not in excluded and not self.demoted(key, now)
        ]
        if not eligible:
            return None

        def order(key: str) -> tuple[float, int, str]:
            rec = self.records.get(key)
            return (rec.last_asked, rec.failures, key) if rec else (float("-inf"), 0, key)

        return min(eligible, key=order)

    def asked(self, key: str, now: float) -> None:
        self.record(key).last_asked = now

    def failed(self, key: str, reason: str, now: float) -> float:
        """Count a failed answer of ``key``; return for how many seconds it is demoted."""
        assert reason in FAILURE_REASONS, reason
        rec = self.record(key)
        rec.failures += 1
        seconds = min(self.max_demote_s, self.demote_s * 2 ** min(rec.failures - 1, 32))
        rec.demoted_until = now + seconds
        return seconds

    def succeeded(self, key: str, blocks_kept: int) -> None:
        """``key`` answered with the block asked for (and ``blocks_kept`` blocks were new to
        the node): its failure streak ends."""
        assert blocks_kept >= 0
        rec = self.record(key)
        rec.failures = 0
        rec.demoted_until = float("-inf")
        rec.blocks_kept += blocks_kept
