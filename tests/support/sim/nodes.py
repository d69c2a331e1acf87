"""Simulated validators: an honest driver around ``ConsensusCore`` and a Byzantine one.

The honest driver does what the real node's driver must do: performs the core's ``Ready``
batch field by field (its sign state is written to "disk" before anything else), has the
application work done (``chain.py``: with the real application, by the production
``node.driver.appwork.AppWork``) and answers after a simulated delay, keeps committed
blocks on "disk", answers ``PeerBehind`` with committed blocks and certificates (block
sync), gossips client transactions, and after a crash restarts from "disk" alone.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any, assert_never

from ledger.crypto import PrivateKey, sha256, sha256_hex
from ledger.encoding import CanonicalEncodingError, canonical, decode
from ledger.errors import LedgerError
from node.consensus import (
    NIL,
    Action,
    Broadcast,
    BuildProposal,
    Commit,
    CommitCertificateReceived,
    ConsensusCore,
    EquivocationDetected,
    Event,
    Message,
    MessageReceived,
    PeerAhead,
    PeerBehind,
    Proposal,
    ProposalBuilt,
    ProposalValidated,
    Ready,
    ScheduleTimeout,
    SignState,
    StartHeight,
    SyncRefused,
    TimeoutFired,
    ValidateProposal,
    Vote,
)

from .chain import Chain, CommitRefused, Disk, FakeChain, RealChain
from .invariants import Violation

if TYPE_CHECKING:
    from .scenario import World

SYNC_BATCH = 8


def describe_event(ev: Event) -> str:
    if isinstance(ev, MessageReceived):
        return "msg:" + sha256_hex(ev.data)[:16]
    if isinstance(ev, TimeoutFired):
        return f"timeout:{ev.kind}:{ev.height}:{ev.round}"
    if isinstance(ev, StartHeight):
        return f"start:{ev.height}"
    if isinstance(ev, ProposalBuilt):
        return f"built:{ev.height}:{ev.round}:{ev.block.hash()[:16]}"
    if isinstance(ev, ProposalValidated):
        return f"validated:{ev.block_hash[:16]}:{ev.ok}"
    return f"cert:{ev.certificate.height}:{ev.certificate.block_hash[:16]}"


#: One unit of a batch's work, in the order it is performed: the sign state, then actions.
Work = SignState | Action


def work_of(ready: Ready) -> list[Work]:
    """The batch as the sequence of units the simulated driver performs (the sign state
    first, by structure)."""
    head: list[Work] = [ready.persist] if ready.persist is not None else []
    return head + list(ready.actions())


def describe_action(a: Work) -> str:
    if isinstance(a, Broadcast):
        m = a.message
        return f"B:{m.kind}:{m.height}:{m.round}:{m.block_hash[:8]}:{m.signer[:8]}"
    if isinstance(a, SignState):
        return "P:" + ":".join(str(x) for x in a.position)
    if isinstance(a, ScheduleTimeout):
        return f"T:{a.kind}:{a.round}:{a.duration_ms}"
    if isinstance(a, Commit):
        return f"C:{a.height}:{a.block.hash()[:16]}"
    return type(a).__name__


class SimNode:
    """An honest validator process."""

    honest = True

    def __init__(self, world: World, name: str, key: PrivateKey) -> None:
        self.world = world
        self.name = name
        self.key = key
        self.pub = key.public_key_hex
        self.rng = random.Random(world.rng.getrandbits(64))
        self.disk = Disk()
        self.alive = False
        self.incarnation = 0
        self.core: ConsensusCore | None = None
        self.chain: Chain = self._new_chain()
        self.tx_counter = 0
        self.crash_mid = False
        self.restarts = 0
        self.stats_total: dict[str, int] = {}

    # -- life cycle ------------------------------------------------------------------
    def _new_chain(self) -> Chain:
        spec = self.world.spec
        if self.world.real_app:
            return RealChain(self.disk, spec, self.key, self.make_txs)
        return FakeChain(self.disk, spec, self.pub, self.make_txs)

    def start(self) -> None:
        """Start (or restart) from the disk alone."""
        self.incarnation += 1
        self.alive = True
        state = None
        if self.disk.sign_state is not None:
            state = SignState.from_json(decode(self.disk.sign_state))
        self.chain = chain = self._new_chain()  # process memory is rebuilt from disk
        self.core = ConsensusCore(
            chain_id=self.world.chain_id,
            private_key=self.key,
            decode_block=chain.decode_block,
            config=self.world.consensus_config,
            sign_state=state,
        )
        self._start_height(chain.height + 1)

    def _start_height(self, height: int) -> None:
        self.chain.start_height()
        self.handle(StartHeight(height, self.chain.validators(), self.world.now_ms()))

    def committed_txs(self) -> int:
        return self.disk.txs

    def crash(self) -> None:
        if not self.alive:
            return
        self._collect_stats()
        self.alive = False
        self.core = None
        self.incarnation += 1
        self.crash_mid = False
        self.world.clock.trace(f"{self.name} crash")

    def _collect_stats(self) -> None:
        if self.core is not None:
            for k, v in self.core.stats.items():
                self.stats_total[k] = self.stats_total.get(k, 0) + v

    def final_stats(self) -> dict[str, int]:
        """Counters of every incarnation's core (call once, at the end of a run)."""
        self._collect_stats()
        self.core = None
        return self.stats_total

    # -- driving the core ------------------------------------------------------------
    def handle(self, event: Event) -> None:
        if not self.alive or self.core is None:
            return
        work = work_of(self.core.handle(event))
        self.world.clock.trace(
            f"{self.name} {describe_event(event)} -> "
            + ",".join(describe_action(a) for a in work)
        )
        cut = self.rng.randrange(len(work) + 1) if self.crash_mid else None
        for i, unit in enumerate(work):
            if cut is not None and i == cut:
                self.crash()  # a crash in the middle of performing the batch
                return
            self.perform(unit)
        if cut is not None:
            self.crash()

    def _later(self, delay: int, event: Event) -> None:
        self.world.clock.after(delay, self._fire, self.incarnation, event)

    def _fire(self, incarnation: int, event: Event) -> None:
        if incarnation == self.incarnation and self.alive:
            if isinstance(event, TimeoutFired):
                event = TimeoutFired(event.kind, event.height, event.round, self.world.now_ms())
            self.handle(event)

    def persist(self, state: SignState) -> None:
        """The "fsync": durable before anything else of the batch is performed."""
        self.disk.sign_state = canonical(state.to_json())
        self.disk.position = state.position

    def perform(self, unit: Work) -> None:
        world = self.world
        match unit:
            case SignState():
                self.persist(unit)
            case Broadcast():
                self.broadcast(unit.message)
            case ScheduleTimeout():
                self._later(unit.duration_ms, TimeoutFired(unit.kind, unit.height, unit.round))
            case BuildProposal():
                for raw in self.chain.submit():  # clients' transactions, gossiped
                    for other in world.names:
                        if other != self.name:
                            world.network.send(self.name, other, "tx", raw)
                answer = self.chain.answer(unit, world.now_ms())
                if answer is not None:
                    self._later(self.rng.randint(1, world.app_delay_ms), answer)
            case ValidateProposal():
                answer = self.chain.answer(unit, world.now_ms())
                assert isinstance(answer, ProposalValidated)
                self._later(self.rng.randint(1, world.app_delay_ms), answer)
            case Commit():
                self.commit(unit)
            case EquivocationDetected():
                world.evidence += 1
            case PeerBehind():
                self.send_sync(unit.validator, unit.height)
            case PeerAhead():
                peer = world.name_by_key.get(unit.validator)
                if peer is not None and self.core is not None:
                    request = canonical({"height": self.core.height})
                    world.network.send(self.name, peer, "sync-request", request)
            case SyncRefused():
                if self.honest:
                    world.sync_refused += 1
            case _:
                assert_never(unit)

    def make_txs(self) -> list[str]:
        txs = []
        for _ in range(self.rng.randint(0, 3)):
            self.tx_counter += 1
            txs.append(f"tx-{self.name}-{self.tx_counter}")
        return txs

    def broadcast(self, msg: Message) -> None:
        if self.honest and msg.signer == self.pub:
            self.world.checker.on_signed(self.name, msg, self.disk.position)
        data = msg.to_bytes()
        for peer in self.world.names:
            if peer != self.name:
                self.world.network.send(self.name, peer, "consensus", data)

    def commit(self, action: Commit) -> None:
        block = action.block
        try:
            root = self.chain.commit(action)
        except CommitRefused as exc:
            raise Violation(f"{self.name} decided block {block.hash()[:12]} at "
                            f"{action.height} that its application rejects ({exc})") from exc
        if self.honest:
            self.world.checker.on_commit(self.name, action.height, block.hash(),
                                         action.certificate, root)
            self.world.on_commit()
        self.world.clock.after(self.world.commit_delay_ms, self._next_height, self.incarnation,
                               action.height + 1)

    def _next_height(self, incarnation: int, height: int) -> None:
        if incarnation != self.incarnation or not self.alive:
            return
        self._start_height(height)
        self.feed_sync()

    # -- block sync (driver side; the core only hints with PeerBehind) ----------------
    def send_sync(self, validator: str, height: int) -> None:
        peer = self.world.name_by_key.get(validator)
        if peer is None:
            return
        entries = self.chain.sync_entries(height, SYNC_BATCH)
        if not entries:
            return
        payload = canonical({"blocks": entries})
        self.world.network.send(self.name, peer, "sync", payload)

    def receive(self, src: str, kind: str, payload: bytes) -> None:
        if kind == "consensus":
            self.handle(MessageReceived(payload))
            return
        if kind == "tx":
            if self.alive:
                self.chain.admit(payload)
            return
        core = self.core
        if core is None:
            return
        if kind == "sync-request":
            try:
                height = decode(payload)["height"]
            except (CanonicalEncodingError, KeyError, TypeError):
                return
            if type(height) is int and height >= 1:
                self.send_sync(self.world.nodes[self.world.names.index(src)].pub, height)
            return
        try:
            obj = decode(payload)
            entries = obj["blocks"]
            parsed = [self.chain.parse_synced(e) for e in entries]
        except (CanonicalEncodingError, LedgerError, ValueError, KeyError, TypeError):
            return
        self.chain.offer_synced(parsed, src, core)
        self.feed_sync()

    def feed_sync(self) -> None:
        core = self.core
        if core is None:
            return
        entry = self.chain.next_synced(core)
        if entry is not None:
            self.handle(CommitCertificateReceived(*entry))


class ByzantineNode(SimNode):
    """A faulty validator: runs a core to take part, but equivocates (different proposals
    and conflicting votes to different peers) and sends garbage, forged and misaddressed
    messages. Never crashes; keeps misbehaving after GST."""

    honest = False

    def __init__(self, world: World, name: str, key: PrivateKey) -> None:
        super().__init__(world, name, key)
        self.known_hashes: list[str] = []
        self.outsider = PrivateKey(sha256(f"outsider-{name}".encode()))
        self.sent_log: list[bytes] = []

    def start(self) -> None:
        super().start()
        self.world.clock.after(self.rng.randint(50, 300), self._mischief, self.incarnation)

    def perform(self, unit: Work) -> None:
        if isinstance(unit, ValidateProposal):
            self._remember(unit.block.hash())
        super().perform(unit)

    def _remember(self, block_hash: str) -> None:
        if block_hash not in self.known_hashes:
            self.known_hashes.append(block_hash)
            del self.known_hashes[:-8]

    def _peers(self) -> list[str]:
        return [p for p in self.world.names if p != self.name]

    def _send(self, peer: str, data: bytes) -> None:
        self.world.network.send(self.name, peer, "consensus", data)

    def _other_hash(self) -> str:
        if self.known_hashes and self.rng.randrange(2):
            return self.rng.choice(self.known_hashes)
        return sha256_hex(self.rng.randbytes(8))

    def broadcast(self, msg: Message) -> None:
        if len(self.sent_log) < 64:
            self.sent_log.append(msg.to_bytes())
        if msg.signer != self.pub or self.rng.randrange(100) < 40:
            super().broadcast(msg)
            return
        chain = self.world.chain_id
        if isinstance(msg, Vote):
            for peer in self._peers():
                choice = self.rng.randrange(3)
                if choice == 0:
                    data = msg.to_bytes()
                else:
                    target = NIL if choice == 1 else self._other_hash()
                    data = Vote.sign(self.key, msg.kind, chain, msg.height, msg.round,
                                     target).to_bytes()
                self._send(peer, data)
            return
        assert isinstance(msg, Proposal)
        block = msg.block
        self.tx_counter += 1
        invalid = self.rng.randrange(100) < 30  # an invalid block (wrong app/state hash)
        alt = self.chain.alt_block(block, f"tx-evil-{self.name}-{self.tx_counter}", invalid)
        if alt is None:
            super().broadcast(msg)
            return
        self._remember(alt.hash())
        other = Proposal.sign(self.key, chain, msg.round, alt, msg.pol_round).to_bytes()
        for peer in self._peers():
            self._send(peer, msg.to_bytes() if self.rng.randrange(2) else other)

    def _mischief(self, incarnation: int) -> None:
        if incarnation != self.incarnation or not self.alive or self.core is None:
            return
        self.world.clock.after(self.rng.randint(50, 400), self._mischief, incarnation)
        core = self.core
        h, r = core.height, core.round
        chain = self.world.chain_id
        peer = self.rng.choice(self._peers())
        kind = self.rng.choice(["prevote", "precommit"])
        choice = self.rng.randrange(11)
        data: bytes
        if choice == 0:  # random bytes
            data = self.rng.randbytes(self.rng.randint(0, 300))
        elif choice == 1:  # a vote with a corrupted signature
            vote = Vote.sign(self.key, kind, chain, h, r, self._other_hash())
            bad = vote.signature[:-2] + ("00" if vote.signature[-2:] != "00" else "11")
            data = Vote(vote.kind, chain, h, r, vote.block_hash, self.pub, bad).to_bytes()
        elif choice == 2:  # a vote from a key outside the validator set
            data = Vote.sign(self.outsider, kind, chain, h, r, self._other_hash()).to_bytes()
        elif choice == 3:  # a vote for another chain
            data = Vote.sign(self.key, kind, "other-chain", h, r, NIL).to_bytes()
        elif choice == 4:  # oversized junk
            data = b"{" + b" " * (self.world.consensus_config.max_proposal_bytes + 1) + b"}"
        elif choice == 5:  # a proposal although not the proposer (or an extra one)
            self.tx_counter += 1
            rogue = self.chain.rogue_block(h, self.world.now_ms(),
                                           f"tx-rogue-{self.name}-{self.tx_counter}")
            data = (b"" if rogue is None
                    else Proposal.sign(self.key, chain, r, rogue, -1).to_bytes())
        elif choice == 6:  # a vote for a far-away round
            data = Vote.sign(self.key, kind, chain, h, r + 1000, NIL).to_bytes()
        elif choice == 7:  # votes for future heights
            data = Vote.sign(self.key, kind, chain, h + self.rng.choice([1, 2, 10]), 0,
                             self._other_hash()).to_bytes()
        elif choice == 8 and self.sent_log:  # replay an old message
            data = self.rng.choice(self.sent_log)
        elif choice == 9:  # well-formed JSON, bad fields
            bogus: dict[str, Any] = {"type": kind, "height": h, "round": -1}
            data = canonical(bogus)
        else:  # a conflicting vote in the current round (equivocation)
            data = Vote.sign(self.key, kind, chain, h, r, self._other_hash()).to_bytes()
        self._send(peer, data)
