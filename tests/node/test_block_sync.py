"""Block sync against lying peers, deterministically: the peer-choice and demotion policy
(``node.sync.scheduler``) and ``BlockSync`` driven with a fake clock, fake peers and a
fake driver, so a run is the same every time."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.encoding import decode
from node.net.framing import FrameType
from node.ops.metrics import Registry
from node.sync.blocksync import BlockSync
from node.sync.scheduler import SyncScheduler

LIAR, HONEST, OTHER = "aa" * 32, "bb" * 32, "cc" * 32


# -- the policy -----------------------------------------------------------------------------


def test_requests_go_round_the_peers_that_claim_the_height() -> None:
    s = SyncScheduler()
    peers = [(LIAR, 50), (HONEST, 50), (OTHER, 3)]
    asked = []
    for now in range(4):
        key = s.pick(peers, 10, float(now))
        assert key is not None
        s.asked(key, float(now))
        asked.append(key)
    assert asked == [LIAR, HONEST, LIAR, HONEST]  # OTHER does not claim height 10
    assert s.pick(peers, 51, 5.0) is None


def test_failures_demote_doubling_to_a_cap_and_an_answer_ends_the_streak() -> None:
    s = SyncScheduler(demote_s=10.0, max_demote_s=60.0)
    assert [s.failed(LIAR, "empty", 0.0) for _ in range(5)] == [10.0, 20.0, 40.0, 60.0, 60.0]
    assert s.demoted(LIAR, 59.9) and not s.demoted(LIAR, 60.0)
    assert s.pick([(LIAR, 9), (HONEST, 9)], 5, 30.0) == HONEST
    assert s.pick([(LIAR, 9)], 5, 30.0) is None
    assert s.pick([(LIAR, 9)], 5, 60.0) == LIAR
    s.succeeded(LIAR, 4)
    assert not s.demoted(LIAR, 0.0) and s.records[LIAR].failures == 0
    assert s.failed(LIAR, "timeout", 100.0) == 10.0
    with pytest.raises(AssertionError):
        s.failed(LIAR, "bored", 0.0)


def test_hedging_excludes_the_peers_already_asked_and_records_are_bounded() -> None:
    s = SyncScheduler(max_records=2)
    assert s.pick([(LIAR, 9), (HONEST, 9)], 5, 0.0, exclude=[LIAR]) == HONEST
    for i, key in enumerate((LIAR, HONEST, OTHER)):
        s.asked(key, float(i))
    assert sorted(s.records) == [HONEST, OTHER]  # the least recently asked went first


@given(st.lists(st.tuples(st.sampled_from([LIAR, HONEST, OTHER]),
                          st.sampled_from(["ask", "empty", "timeout", "ok"]),
                          st.integers(0, 5)), max_size=60))
def test_the_chosen_peer_always_claims_the_height_and_is_never_demoted(steps) -> None:
    s = SyncScheduler(demote_s=2.0, max_demote_s=8.0)
    now = 0.0
    heights = {LIAR: 100, HONEST: 20, OTHER: 7}
    for key, what, dt in steps:
        now += dt
        if what == "ask":
            s.asked(key, now)
        elif what == "ok":
            s.succeeded(key, 1)
        else:
            s.failed(key, what, now)
        chosen = s.pick(heights.items(), 10, now)
        if chosen is not None:
            assert heights[chosen] >= 10 and not s.demoted(chosen, now)
        else:
            assert all(s.demoted(k, now) for k in (LIAR, HONEST))


# -- BlockSync with fakes -------------------------------------------------------------------


@dataclass
class FakePeer:
    key: str
    status_height: int | None = None
    status_at: float = 0.0
    sent: list[tuple[int, dict]] = field(default_factory=list)

    def send(self, kind: int, payload: bytes) -> bool:
        self.sent.append((kind, decode(payload)))
        return True

    def block_requests(self) -> list[dict]:
        return [p for k, p in self.sent if k == FrameType.GET_BLOCKS]


class FakePeers:
    def __init__(self, *peers: FakePeer) -> None:
        self.peers = {p.key: p for p in peers}
        self.dropped: list[str] = []

    def drop(self, reason: str) -> None:
        self.dropped.append(reason)

    def broadcast(self, kind: int, payload: bytes, exclude: str | None = None) -> int:
        return len(self.peers)

    def send_to(self, key: str, kind: int, payload: bytes) -> bool:
        return key in self.peers


class FakeChain:
    """The app and the driver: blocks offered by sync are kept, then 'committed'."""

    def __init__(self) -> None:
        self.height = 0
        self.synced: dict[int, str] = {}
        self.core = SimpleNamespace(height=1, round=0)

    @property
    def tip(self) -> Any:
        return SimpleNamespace(height=self.height, block_hash="00" * 32)

    def has_synced(self, height: int) -> bool:
        return height in self.synced

    def offer_synced(self, entries: list, peer: str = "") -> int:
        kept = 0
        for block, _cert in entries:
            if block.height > self.height and block.height not in self.synced:
                self.synced[block.height] = peer
                kept += 1
        return kept

    def commit_synced(self) -> int:
        while self.height + 1 in self.synced:
            del self.synced[self.height + 1]
            self.height += 1
        return self.height


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def blocks(start: int, count: int) -> list[tuple[Any, Any]]:
    return [(SimpleNamespace(height=h), None) for h in range(start, start + count)]


def make_sync(*peers: FakePeer) -> tuple[BlockSync, FakeChain, Clock, FakePeers, Registry]:
    chain, clock, network, registry = FakeChain(), Clock(), FakePeers(*peers), Registry()
    sync = BlockSync(store=Any, app=chain, driver=chain, peers=network,  # type: ignore[arg-type]
                     codec=Any, registry=registry, clock=clock, grace_s=2.0)  # type: ignore[arg-type]
    return sync, chain, clock, network, registry


def status(sync: BlockSync, peer: FakePeer, height: int) -> None:
    sync.handle(peer, FrameType.STATUS,  # type: ignore[arg-type]
                b'{"consensus_height":1,"hash":"x","height":' + str(height).encode()
                + b',"round":0}')


def test_an_empty_answer_demotes_the_liar_and_the_next_request_goes_to_an_honest_peer() -> None:
    liar, honest = FakePeer(LIAR), FakePeer(HONEST)
    sync, chain, clock, network, registry = make_sync(liar, honest)
    status(sync, liar, 1000)
    assert liar.block_requests() == [{"count": 16, "from": 1}]  # it claims the most
    status(sync, honest, 40)
    assert honest.block_requests() == []  # one request at a time
    sync.answered(liar, [], 1000)  # type: ignore[arg-type]
    assert honest.block_requests() == [{"count": 16, "from": 1}]
    sync.answered(honest, blocks(1, 16), 40)  # type: ignore[arg-type]
    assert chain.commit_synced() == 16
    sync.committed(16)
    assert honest.block_requests()[-1] == {"count": 16, "from": 17}
    assert len(liar.block_requests()) == 1  # demoted: not asked again
    assert 'fcl_sync_peer_demotions_total{reason="empty"} 1' in registry.render()


def test_a_silent_peer_gets_company_after_the_hedge_delay_and_is_demoted_at_the_timeout() -> None:
    liar, honest = FakePeer(LIAR, status_height=1000), FakePeer(HONEST, status_height=40)
    sync, chain, clock, network, registry = make_sync(liar, honest)
    sync.maybe_request()
    assert len(liar.block_requests()) == 1 and honest.block_requests() == []
    clock.now = 2.9
    sync.maybe_request()
    assert honest.block_requests() == []
    clock.now = 3.0
    sync.maybe_request()
    assert honest.block_requests() == [{"count": 16, "from": 1}]  # the same request
    sync.answered(honest, blocks(1, 16), 40)  # type: ignore[arg-type]
    sync.answered(liar, blocks(1, 16), 1000)  # type: ignore[arg-type]  # too late
    assert network.dropped == ["unsolicited_blocks"]
    assert chain.commit_synced() == 16
    assert 'fcl_sync_peer_demotions_total{reason="slow"} 1' in registry.render()


def test_a_request_nobody_answers_times_out_and_demotes() -> None:
    liar = FakePeer(LIAR, status_height=1000)
    sync, chain, clock, network, registry = make_sync(liar)
    sync.maybe_request()
    clock.now = sync.request_timeout_s
    sync.maybe_request()
    assert 'fcl_sync_peer_demotions_total{reason="timeout"} 1' in registry.render()
    assert len(liar.block_requests()) == 1  # demoted, nobody else to ask
    clock.now += sync.scheduler.demote_s
    sync.maybe_request()
    assert len(liar.block_requests()) == 2  # asked again once the demotion is over


def test_a_refused_block_demotes_its_sender_and_malformed_answers_do_too() -> None:
    liar, honest = FakePeer(LIAR, status_height=1000), FakePeer(HONEST, status_height=40)
    sync, chain, clock, network, registry = make_sync(liar, honest)
    sync.maybe_request()
    sync.answered(liar, blocks(1, 16), 1000)  # type: ignore[arg-type]  # kept ...
    chain.synced.clear()
    sync.sync_refused(1, LIAR, "bad_certificate")  # ... then refused by the core
    assert honest.block_requests() == [{"count": 16, "from": 1}]

    async def malformed() -> None:
        sync.handle(honest, FrameType.BLOCKS, b"not json")  # type: ignore[arg-type]
        for _ in range(200):
            if "malformed" in registry.render():
                return
            await asyncio.sleep(0.01)

    asyncio.run(malformed())
    text = registry.render()
    assert 'fcl_sync_peer_demotions_total{reason="refused"} 1' in text
    assert 'fcl_sync_peer_demotions_total{reason="malformed"} 1' in text


def test_blocks_that_are_not_the_one_asked_for_count_as_empty() -> None:
    liar, honest = FakePeer(LIAR, status_height=1000), FakePeer(HONEST, status_height=40)
    sync, chain, clock, network, registry = make_sync(liar, honest)
    sync.maybe_request()
    sync.answered(liar, blocks(5, 3), 1000)  # type: ignore[arg-type]
    assert 'fcl_sync_peer_demotions_total{reason="empty"} 1' in registry.render()
    assert honest.block_requests() == [{"count": 16, "from": 1}]


@pytest.mark.parametrize("behaviour", ["empty", "silent", "wrong_blocks"])
def test_a_lying_validator_cannot_stall_catch_up(behaviour: str) -> None:
    """A node 400 blocks behind, one honest peer serving 16 blocks per answer at once,
    and a liar that claims a far greater height and answers with nothing, never, or with
    blocks other than those asked for. Sync is driven tick by tick (0.1 s) on a fake
    clock: the node catches up, and the liar costs a bounded share of the time."""
    liar, honest = FakePeer(LIAR, status_height=10**6), FakePeer(HONEST, status_height=400)
    sync, chain, clock, network, registry = make_sync(liar, honest)
    served = 0
    while chain.height < 400 and clock.now < 600:
        sync.maybe_request()
        request = sync._request
        if request is not None:
            if HONEST in request.asked:
                start = request.need
                sync.answered(honest, blocks(start, min(16, 401 - start)), 400)  # type: ignore[arg-type]
                served += 1
            elif LIAR in request.asked and behaviour != "silent":
                answer = [] if behaviour == "empty" else blocks(request.need + 50, 2)
                sync.answered(liar, answer, 10**6)  # type: ignore[arg-type]
        before = chain.height
        if chain.commit_synced() != before:
            sync.committed(chain.height)
        clock.now = round(clock.now + 0.1, 1)
    assert chain.height == 400
    liar_asks = len(liar.block_requests())
    # the honest peer alone needs 25 answers; the liar is asked only as its demotion
    # (10 s, doubling) allows, so it adds at most a few hedge delays of 3 s
    assert served == 25
    assert liar_asks <= 4, liar_asks
    assert clock.now <= 4 * 3.0 + 25 * 0.2, clock.now
