"""The Tendermint consensus state machine, sans I/O.

``ConsensusCore.handle(event) -> Ready``: the core owns no socket, clock, thread or
random source. It implements Algorithm 1 of Buchman, Kwon and Milosevic, "The latest
gossip on BFT consensus" (arXiv:1807.04938); the comments name the paper's line numbers.
docs/consensus.md states every rule, the deviations and the driver's obligations.

Determinism: the output depends only on the constructor arguments and the sequence of
events. Nothing iterates over an unordered set; dictionaries are iterated in insertion
order, which is the order of the events.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ledger.block import CommitCertificate, vote_sign_bytes
from ledger.crypto import PrivateKey, sha256, sha256_hex
from ledger.errors import BlockError
from ledger.validators import ValidatorSet
from node.consensus.actions import (
    AppRequest,
    Broadcast,
    BuildProposal,
    Commit,
    EquivocationDetected,
    PeerAhead,
    PeerBehind,
    Ready,
    Report,
    ScheduleTimeout,
    SyncRefused,
    ValidateProposal,
)
from node.consensus.config import TIMEOUT_KINDS, ConsensusConfig
from node.consensus.events import (
    CommitCertificateReceived,
    Event,
    MessageReceived,
    ProposalBuilt,
    ProposalValidated,
    StartHeight,
    TimeoutFired,
)
from node.consensus.invariants import SignedLedger, StepView, check_step
from node.consensus.messages import (
    NIL,
    PRECOMMIT,
    PREVOTE,
    Message,
    MessageError,
    Proposal,
    Vote,
    decode_message,
    proposal_sign_bytes,
)
from node.consensus.protocol import BlockDecoder, BlockTextDecoder, ConsensusBlock
from node.consensus.signstate import SignState, Step
from node.consensus.votes import RoundState

__all__ = ["ConsensusCore"]


class _Height:
    """The state of one height (consensus instance); replaced by ``StartHeight``."""

    def __init__(self, height: int, validators: ValidatorSet) -> None:
        self.height = height
        self.validators = validators
        self.powers: dict[str, int] = {v.pub_key: v.power for v in validators.validators}
        self.round = 0
        self.step = Step.PROPOSE
        self.rounds: dict[int, RoundState] = {}
        self.locked_round = -1
        self.locked_hash = ""
        self.valid_round = -1
        self.valid_block: ConsensusBlock | None = None
        self.valid_json: Any = None  # valid_block.to_json(), computed once
        self.valid_pol: tuple[dict[str, Any], ...] = ()  # its 2f+1 prevotes (JSON)
        self.blocks: dict[str, ConsensusBlock] = {}  # every proposed block of this height
        self.validity: dict[str, bool | None] = {}  # None: validation requested, no answer
        self.seen_raw: set[bytes] = set()  # digests of wire bytes processed at this height
        self.seen: set[tuple[Any, ...]] = set()  # identities of messages processed
        self.decided = False
        self.build_requested = -1  # last round for which BuildProposal was asked
        self.own: list[Message] = []  # messages this node signed at this height
        self.precommit_quorums: dict[int, str] = {}  # round -> block hash with 2f+1
        self.skip_candidates: dict[int, None] = {}  # rounds above ours with f+1 senders
        self.hinted: dict[str, None] = {}  # PeerBehind/PeerAhead sent this period
        self.periods = 0  # rebroadcast periods spent at this height
        self.reported_invalid: dict[str, None] = {}

    def round_state(self, round_: int) -> RoundState:
        rs = self.rounds.get(round_)
        if rs is None:
            rs = self.rounds[round_] = RoundState()
        return rs


class _Batch:
    """The work of the step being handled, collected by kind (see ``Ready``)."""

    __slots__ = ("persist", "sends", "timers", "requests", "commits", "reports")

    def __init__(self) -> None:
        self.persist: SignState | None = None
        self.sends: list[Broadcast] = []
        self.timers: list[ScheduleTimeout] = []
        self.requests: list[AppRequest] = []
        self.commits: list[Commit] = []
        self.reports: list[Report] = []

    def ready(self) -> Ready:
        return Ready(self.persist, tuple(self.sends), tuple(self.timers),
                     tuple(self.requests), tuple(self.commits), tuple(self.reports))


class ConsensusCore:
    """One validator's (or an observer's) consensus state machine.

    ``private_key`` is ``None`` for a non-validating observer; a key whose validator is not
    in a height's set also only observes that height. ``sign_state`` is the last state the
    driver persisted (``Ready.persist``); pass it after every restart.
    """

    def __init__(
        self,
        *,
        chain_id: str,
        private_key: PrivateKey | None,
        decode_block: BlockDecoder,
        config: ConsensusConfig | None = None,
        sign_state: SignState | None = None,
        decode_block_text: BlockTextDecoder | None = None,
    ) -> None:
        self.chain_id = chain_id
        self.config = config or ConsensusConfig()
        self._key = private_key
        self._me = private_key.public_key_hex if private_key is not None else None
        self._decode_block = decode_block
        self._decode_block_text = decode_block_text  # proposals' fast path (messages.py)
        self._sign_state = sign_state if sign_state is not None else SignState()
        self._hs: _Height | None = None
        self._future: list[Message] = []
        self._future_ids: set[tuple[Any, ...]] = set()
        self._future_per_signer: dict[str, int] = {}
        self._now_ms = 0
        self._stats: dict[str, int] = {}
        self._out = _Batch()
        self._signed_ledger = SignedLedger()

    # -- read-only views ---------------------------------------------------------------
    @property
    def height(self) -> int:
        """The height being decided (0 before the first ``StartHeight``)."""
        return self._hs.height if self._hs is not None else 0

    @property
    def round(self) -> int:
        return self._hs.round if self._hs is not None else 0

    @property
    def step(self) -> Step:
        return self._hs.step if self._hs is not None else Step.NONE

    @property
    def decided(self) -> bool:
        return self._hs is not None and self._hs.decided

    @property
    def locked(self) -> tuple[int, str]:
        """``(lockedRound, lockedValue's hash)``; ``(-1, "")`` when not locked."""
        return (self._hs.locked_round, self._hs.locked_hash) if self._hs else (-1, "")

    @property
    def valid(self) -> tuple[int, str]:
        """``(validRound, validValue's hash)``; ``(-1, "")`` when none."""
        if self._hs is None or self._hs.valid_block is None:
            return (-1, "")
        return (self._hs.valid_round, self._hs.valid_block.hash())

    @property
    def sign_state(self) -> SignState:
        return self._sign_state

    @property
    def stats(self) -> dict[str, int]:
        """Counters (dropped messages by reason, signatures checked, commits, ...)."""
        return dict(sorted(self._stats.items()))

    @property
    def public_key(self) -> str | None:
        return self._me

    # -- the one entry point -----------------------------------------------------------
    def handle(self, event: Event) -> Ready:
        """Apply ``event``; return the batch of work the driver must perform.

        At the end of every step the protocol's invariants are checked
        (``node.consensus.invariants``); a violation raises ``InvariantViolation``."""
        before = self._view()
        self._out = _Batch()
        match event:
            case MessageReceived():
                self._on_message(event.data)
            case TimeoutFired():
                self._on_timeout(event)
            case StartHeight():
                self._on_start_height(event)
            case ProposalBuilt():
                self._on_proposal_built(event)
            case ProposalValidated():
                self._on_proposal_validated(event)
            case CommitCertificateReceived():
                self._on_certificate(event)
            case _:
                raise TypeError(f"not a consensus event: {type(event).__name__}")
        if self._hs is not None:
            self._advance()
        ready = self._out.ready()
        check_step(before, self._view(), ready, self._me, self._signed_ledger)
        return ready

    def _view(self) -> StepView:
        hs = self._hs
        if hs is None:
            return StepView(0, 0, Step.NONE, False, -1, "", -1, False, self._sign_state)
        return StepView(hs.height, hs.round, hs.step, hs.decided, hs.locked_round,
                        hs.locked_hash, hs.valid_round, hs.valid_block is not None,
                        self._sign_state)

    # -- helpers -----------------------------------------------------------------------
    def _count(self, key: str, by: int = 1) -> None:
        self._stats[key] = self._stats.get(key, 0) + by

    def _schedule(self, kind: str, round_: int) -> None:
        hs = self._hs
        assert hs is not None
        duration = self.config.timeout_ms(kind, round_)
        self._out.timers.append(ScheduleTimeout(kind, hs.height, round_, duration))

    def _power(self, key: str | None) -> int:
        assert self._hs is not None
        return self._hs.powers.get(key, 0) if key is not None else 0

    def _is_proposer(self, round_: int) -> bool:
        hs = self._hs
        assert hs is not None
        return self._me is not None and (
            hs.validators.proposer(hs.height, round_).pub_key == self._me
        )

    def _remember(self, seen: set[Any], key: object) -> None:
        if len(seen) < self.config.max_seen_messages:
            seen.add(key)

    # -- StartHeight: lines 10-11 and 52-54 (the driver starts each height) --------------
    def _on_start_height(self, ev: StartHeight) -> None:
        if not isinstance(ev.validators, ValidatorSet) or type(ev.height) is not int:
            raise TypeError("StartHeight needs an int height and a ValidatorSet")
        if ev.height < 1:
            raise ValueError("heights start at 1")
        if self._hs is not None and ev.height <= self._hs.height:
            self._count("stale_start_height")
            return
        self._now_ms = max(self._now_ms, ev.now_ms)
        hs = self._hs = _Height(ev.height, ev.validators)
        start_round = 0
        restored_pol: list[Vote] = []
        ss = self._sign_state
        if ss.height == ev.height:  # restart in the middle of this height
            start_round = ss.round
            hs.locked_round, hs.locked_hash = ss.locked_round, ss.locked_hash
            if ss.valid_block is not None:
                restored_pol = self._restore_valid(ss)
            if hs.valid_block is not None and hs.valid_round >= start_round:
                start_round = hs.valid_round + 1  # so validRound < round when re-proposing
        self._schedule("rebroadcast", start_round)
        self._start_round(start_round)
        if ss.height == ev.height:
            self._restore_own_votes(ss)
        for vote in restored_pol:
            self._on_parsed(vote)
        pending, self._future = self._future, []
        self._future_ids = set()
        self._future_per_signer = {}
        for msg in pending:
            if msg.height == hs.height:
                self._on_parsed(msg)
            elif hs.height < msg.height <= hs.height + self.config.future_height_window:
                self._buffer(msg)

    def _restore_own_votes(self, ss: SignState) -> None:
        """After a restart, take back the votes this validator signed (and persisted) in
        the last rounds of this height, so that they are counted and re-sent; if one is
        in the round we restart in, the step is where that vote left it."""
        hs = self._hs
        assert hs is not None
        for obj in ss.votes:
            try:
                vote = Vote.from_json(obj)
            except MessageError:
                self._count("restore_vote_failed")
                continue
            if (
                vote.validator != self._me
                or vote.height != hs.height
                or vote.chain_id != self.chain_id
                or not vote.verify()
            ):
                self._count("restore_vote_failed")
                continue
            self._add_own_vote(vote)
            step = Step.PREVOTE if vote.kind == PREVOTE else Step.PRECOMMIT
            if vote.round == hs.round and hs.step < step:
                hs.step = step

    def _restore_valid(self, ss: SignState) -> list[Vote]:
        hs = self._hs
        assert hs is not None
        try:
            block = self._decode_block(ss.valid_block)
            block_hash = block.hash()
            votes = [Vote.from_json(v) for v in ss.valid_pol]
        except (ValueError, TypeError, KeyError):
            self._count("restore_valid_failed")
            return []
        if block.height != hs.height:
            self._count("restore_valid_failed")
            return []
        hs.valid_round, hs.valid_block = ss.valid_round, block
        hs.valid_json, hs.valid_pol = ss.valid_block, tuple(dict(v) for v in ss.valid_pol)
        hs.blocks[block_hash] = block
        hs.validity[block_hash] = True  # it was validated before the crash, same state
        return votes

    # -- StartRound: lines 11-21 -------------------------------------------------------
    def _start_round(self, round_: int) -> None:
        hs = self._hs
        assert hs is not None
        hs.round = round_  # line 12
        hs.step = Step.PROPOSE  # line 13
        for r in list(hs.skip_candidates):
            if r <= round_:
                del hs.skip_candidates[r]
        # line 21 (for every node: getValue() is asynchronous here, so the proposer too
        # needs the timeout in case the application does not answer in time)
        self._schedule("propose", round_)
        if not self._is_proposer(round_):  # line 14
            return
        if hs.valid_block is not None:  # lines 15-16
            self._propose(hs.valid_block, hs.valid_round)
        elif hs.build_requested < round_:  # line 18: getValue(), answered by ProposalBuilt
            hs.build_requested = round_
            self._out.requests.append(BuildProposal(hs.height, round_, self._now_ms))

    def _on_proposal_built(self, ev: ProposalBuilt) -> None:
        hs = self._hs
        if (
            hs is None
            or hs.decided
            or ev.height != hs.height
            or ev.round != hs.round
            or hs.step != Step.PROPOSE
            or not self._is_proposer(hs.round)
        ):
            self._count("stale_proposal_built")
            return
        try:
            block_height = ev.block.height
            ev.block.hash()
        except (ValueError, TypeError, AttributeError):
            self._count("bad_proposal_built")
            return
        if block_height != hs.height:
            self._count("bad_proposal_built")
            return
        self._propose(ev.block, -1)

    def _propose(self, block: ConsensusBlock, pol_round: int) -> None:
        """Line 19: broadcast <PROPOSAL, h, round, proposal, validRound>."""
        hs = self._hs
        assert hs is not None
        r = hs.round
        for m in hs.own:
            if isinstance(m, Proposal) and m.round == r:
                return  # already proposed in this round
        block_hash = block.hash()
        body = proposal_sign_bytes(self.chain_id, hs.height, r, block_hash, pol_round)
        if not self._may_sign(Step.PROPOSE, r, body):
            return
        assert self._key is not None and self._me is not None
        prop = Proposal(self.chain_id, hs.height, r, pol_round, block_hash, self._me,
                        self._key.sign_hex(body), block)
        self._signed(Step.PROPOSE, r, body, block_hash)
        self._out.sends.append(Broadcast(prop))
        hs.own.append(prop)
        hs.seen.add(prop.identity)
        rs = hs.round_state(r)
        rs.proposals.setdefault(block_hash, prop)
        hs.blocks.setdefault(block_hash, block)
        if hs.validity.get(block_hash) is None:
            hs.validity[block_hash] = True  # built (or validated) by our own application
        self._participate(rs, r, self._me)

    # -- signing and the sign state ----------------------------------------------------
    def _may_sign(self, step: Step, round_: int, body: bytes) -> bool:
        hs = self._hs
        assert hs is not None
        if self._key is None or self._power(self._me) == 0:
            return False
        if not self._sign_state.permits(hs.height, round_, step, sha256_hex(body)):
            self._count("sign_refused")
            return False
        return True

    def _signed(self, step: Step, round_: int, body: bytes, block_hash: str) -> None:
        """Record a new signature: the batch persists the new sign state before it sends
        anything."""
        hs = self._hs
        assert hs is not None
        self._sign_state = self._with_lock_and_valid(
            SignState(height=hs.height, round=round_, step=step, sign_digest=sha256_hex(body),
                      block_hash=block_hash)
        )
        self._out.persist = self._sign_state
        self._count("signed")

    def _with_lock_and_valid(self, state: SignState) -> SignState:
        hs = self._hs
        assert hs is not None
        has_valid = hs.valid_block is not None
        votes = tuple(
            m.to_json() for m in hs.own if isinstance(m, Vote) and m.round >= state.round - 1
        )
        return replace(
            state,
            votes=votes[-8:],
            locked_round=hs.locked_round,
            locked_hash=hs.locked_hash,
            valid_round=hs.valid_round if has_valid else -1,
            valid_block=hs.valid_json if has_valid else None,
            valid_pol=hs.valid_pol if has_valid else (),
        )

    def _persist_lock_and_valid(self) -> None:
        """Lock or valid value changed without a new signature (line 42-43 while already
        past prevote): persist them for crash recovery (not safety-critical)."""
        hs = self._hs
        assert hs is not None
        if self._key is None or self._sign_state.height != hs.height:
            return
        self._sign_state = self._with_lock_and_valid(self._sign_state)
        self._out.persist = self._sign_state

    def _vote(self, kind: str, block_hash: str) -> None:
        """Broadcast <PREVOTE|PRECOMMIT, h, round, block_hash> (if this node may sign)."""
        hs = self._hs
        assert hs is not None
        r = hs.round
        step = Step.PREVOTE if kind == PREVOTE else Step.PRECOMMIT
        body = vote_sign_bytes(kind, self.chain_id, hs.height, r, block_hash)
        if not self._may_sign(step, r, body):
            return
        assert self._key is not None and self._me is not None
        vote = Vote(kind, self.chain_id, hs.height, r, block_hash, self._me,
                    self._key.sign_hex(body))
        self._add_own_vote(vote)  # first, so that the persisted state includes it
        self._signed(step, r, body, block_hash)
        self._out.sends.append(Broadcast(vote))

    def _add_own_vote(self, vote: Vote) -> None:
        hs = self._hs
        assert hs is not None and self._me is not None
        hs.own.append(vote)
        hs.seen.add(vote.identity)
        rs = hs.round_state(vote.round)
        votes = rs.votes(vote.kind)
        if votes.get(self._me, vote.block_hash) is None:
            votes.add(vote, self._power(self._me))
            self._after_vote_added(rs, vote)
        self._participate(rs, vote.round, self._me)

    # -- incoming messages -------------------------------------------------------------
    def _on_message(self, data: bytes) -> None:
        self._count("messages_received")
        hs = self._hs
        if hs is None:
            self._count("dropped_not_started")
            return
        if not isinstance(data, bytes | bytearray):
            self._count("malformed_message")
            return
        if len(data) > self.config.max_proposal_bytes:
            self._count("oversized_message")
            return
        digest = sha256(bytes(data))
        if digest in hs.seen_raw:
            self._count("duplicate")
            return
        try:
            msg = decode_message(
                bytes(data),
                self._decode_block,
                max_proposal_bytes=self.config.max_proposal_bytes,
                max_vote_bytes=self.config.max_vote_bytes,
                decode_block_text=self._decode_block_text,
            )
        except MessageError as exc:
            self._remember(hs.seen_raw, digest)
            self._count(exc.code)
            return
        height = hs.height
        if self._on_parsed(msg) and msg.height == height:
            # Only bytes whose processing at this height is final are remembered:
            # old-height ones must keep producing PeerBehind hints, future ones are
            # buffered by identity, and ones dropped for lack of room may come again.
            self._remember(hs.seen_raw, digest)

    def _on_parsed(self, msg: Message) -> bool:
        """Process a parsed message; False if it was dropped for a transient reason."""
        hs = self._hs
        assert hs is not None
        if msg.chain_id != self.chain_id:
            self._count("wrong_chain")
            return True
        if msg.height < hs.height:
            self._count("old_height")
            self._hint(msg, PeerBehind(msg.signer, msg.height))
            return False
        if msg.height > hs.height:
            if msg.height > hs.height + 1 or hs.periods > 0:
                self._hint(msg, PeerAhead(msg.signer, msg.height))
            self._buffer(msg)
            return False
        if hs.decided:
            self._count("after_decision")
            return True
        if msg.round > hs.round + self.config.max_round_lookahead:
            self._count("round_too_far")
            return False
        power = hs.powers.get(msg.signer, 0)
        if power == 0:
            self._count("non_validator")
            return True
        if msg.identity in hs.seen:
            self._count("duplicate")
            return True
        rs = hs.round_state(msg.round)
        if isinstance(msg, Proposal):
            final = self._on_proposal(msg, rs)
        else:
            final = self._on_vote(msg, rs, power)
        if final:
            self._remember(hs.seen, msg.identity)
        return final

    def _hint(self, msg: Message, hint: PeerBehind | PeerAhead) -> None:
        hs = self._hs
        assert hs is not None
        signer = msg.signer
        if signer in hs.powers and signer != self._me and signer not in hs.hinted:
            hs.hinted[signer] = None
            self._out.reports.append(hint)

    def _buffer(self, msg: Message) -> None:
        """Keep a message for a future height (unverified: that height's validator set is
        not known yet), within the configured bounds."""
        hs = self._hs
        assert hs is not None
        if msg.height > hs.height + self.config.future_height_window:
            self._count("future_too_far")
            return
        per = self._future_per_signer.get(msg.signer, 0)
        if (
            len(self._future) >= self.config.max_buffered_messages
            or per >= self.config.max_buffered_per_signer
        ):
            self._count("future_buffer_full")
            return
        if msg.identity in self._future_ids:
            self._count("duplicate")
            return
        self._future_ids.add(msg.identity)
        self._future.append(msg)
        self._future_per_signer[msg.signer] = per + 1
        self._count("future_buffered")

    def _on_proposal(self, msg: Proposal, rs: RoundState) -> bool:
        hs = self._hs
        assert hs is not None
        if msg.proposer != hs.validators.proposer(hs.height, msg.round).pub_key:
            self._count("wrong_proposer")
            return True
        existing = rs.proposals.get(msg.block_hash)
        if existing is None and len(rs.proposals) >= self.config.max_proposals_per_round:
            self._count("too_many_proposals")
            return False
        self._count("signatures_checked")
        if not msg.verify():
            self._count("bad_signature")
            return True
        first = next(iter(rs.proposals.values()), None)
        if first is not None and first.sign_bytes() != msg.sign_bytes():
            self._evidence(first, msg)
        if existing is not None:
            return True
        rs.proposals[msg.block_hash] = msg
        if msg.block_hash not in hs.blocks:
            hs.blocks[msg.block_hash] = msg.block
        if msg.block_hash not in hs.validity:
            hs.validity[msg.block_hash] = None
            self._out.requests.append(ValidateProposal(hs.height, msg.round, msg.block))
        self._participate(rs, msg.round, msg.proposer)
        return True

    def _on_vote(self, msg: Vote, rs: RoundState, power: int) -> bool:
        hs = self._hs
        assert hs is not None
        votes = rs.votes(msg.kind)
        if votes.get(msg.validator, msg.block_hash) is not None:
            self._count("duplicate")  # the same statement with another signature
            return True
        earlier = votes.values_of(msg.validator)
        if earlier and msg.block_hash != NIL and msg.block_hash not in hs.blocks:
            unknown = sum(1 for h in earlier if h != NIL and h not in hs.blocks)
            if unknown >= self.config.max_unknown_votes_per_validator:
                self._count("too_many_votes")
                return False
        self._count("signatures_checked")
        if not msg.verify():
            self._count("bad_signature")
            return True
        first = votes.first(msg.validator)
        if first is not None:
            self._evidence(first, msg)
        votes.add(msg, power)
        self._after_vote_added(rs, msg)
        self._participate(rs, msg.round, msg.validator)
        return True

    def _after_vote_added(self, rs: RoundState, vote: Vote) -> None:
        hs = self._hs
        assert hs is not None
        if (
            vote.kind == PRECOMMIT
            and vote.block_hash != NIL
            and vote.round not in hs.precommit_quorums
            and hs.validators.has_quorum(rs.precommits.power_for(vote.block_hash))
        ):
            hs.precommit_quorums[vote.round] = vote.block_hash

    def _participate(self, rs: RoundState, round_: int, validator: str | None) -> None:
        hs = self._hs
        assert hs is not None
        if validator is None:
            return
        rs.participate(validator, self._power(validator))
        if round_ > hs.round and hs.validators.has_one_third(rs.participant_power):
            hs.skip_candidates[round_] = None

    def _evidence(self, first: Message, second: Message) -> None:
        self._count("equivocation")
        self._out.reports.append(
            EquivocationDetected(first.signer, first.height, first.round, first.kind, first,
                                 second)
        )

    # -- application answers -----------------------------------------------------------
    def _on_proposal_validated(self, ev: ProposalValidated) -> None:
        hs = self._hs
        if hs is None or ev.block_hash not in hs.validity or hs.validity[ev.block_hash] is not None:
            self._count("stale_validation")
            return
        hs.validity[ev.block_hash] = bool(ev.ok)
        if not ev.ok:
            self._count("invalid_proposal")

    def _on_certificate(self, ev: CommitCertificateReceived) -> None:
        """Jump ahead with a block and its certificate from block sync. A refusal is
        counted (``stale_certificate`` / ``bad_certificate``) and reported
        (``SyncRefused``)."""
        hs = self._hs
        if hs is None or hs.decided:
            self._refuse(ev, "stale_certificate", "not_started" if hs is None else "decided")
            return
        cert = ev.certificate
        try:
            block_hash = ev.block.hash()
            block_height = ev.block.height
        except (ValueError, TypeError, AttributeError):
            self._refuse(ev, "bad_certificate", "bad_block")
            return
        if block_height != hs.height or cert.height != hs.height:
            self._refuse(ev, "stale_certificate", "wrong_height")
            return
        if cert.block_hash != block_hash:
            self._refuse(ev, "bad_certificate", "block_mismatch")
            return
        try:
            cert.verify(self.chain_id, hs.validators)
        except BlockError:
            self._refuse(ev, "bad_certificate", "bad_certificate")
            return
        self._decide(ev.block, cert)

    def _refuse(self, ev: CommitCertificateReceived, counter: str, reason: str) -> None:
        self._count(counter)
        self._out.reports.append(SyncRefused(ev.certificate.height, ev.peer, reason))

    # -- timeouts: lines 57-67 and the gossip timer ------------------------------------
    def _on_timeout(self, ev: TimeoutFired) -> None:
        if ev.kind not in TIMEOUT_KINDS:
            raise ValueError(f"unknown timeout kind {ev.kind!r}")
        if ev.now_ms is not None:
            self._now_ms = max(self._now_ms, ev.now_ms)
        hs = self._hs
        if hs is None or ev.height != hs.height or hs.decided:
            self._count("stale_timeout")
            return
        if ev.kind == "rebroadcast":
            self._rebroadcast()
            self._schedule("rebroadcast", hs.round)
            return
        if ev.round != hs.round:
            self._count("stale_timeout")
            return
        if ev.kind == "propose":
            if hs.step == Step.PROPOSE:  # line 58
                self._vote(PREVOTE, NIL)  # line 59
                hs.step = Step.PREVOTE  # line 60
                return
        elif ev.kind == "prevote":
            if hs.step == Step.PREVOTE:  # line 62
                self._vote(PRECOMMIT, NIL)  # line 63
                hs.step = Step.PRECOMMIT  # line 64
                return
        else:  # precommit, line 66 (height and round checked above)
            self._start_round(hs.round + 1)  # line 67
            return
        self._count("stale_timeout")

    def _rebroadcast(self) -> None:
        """Re-send this node's messages of the current and previous round, and the proof
        of lock (2f+1 prevotes) of a re-proposed valid value. Messages are re-sent as
        signed before; nothing is signed again."""
        hs = self._hs
        assert hs is not None
        hs.hinted = {}
        hs.periods += 1
        self._count("rebroadcasts")
        for m in hs.own:
            if m.round >= hs.round - 1:
                self._out.sends.append(Broadcast(m))
                if isinstance(m, Proposal) and m.round == hs.round and m.pol_round >= 0:
                    pol = hs.rounds.get(m.pol_round)
                    if pol is not None:
                        for v in pol.prevotes.for_hash(m.block_hash):
                            if v.validator != self._me:
                                self._out.sends.append(Broadcast(v))

    # -- the upon rules ----------------------------------------------------------------
    def _advance(self) -> None:
        """Fire enabled upon rules until none is (the paper's rules run atomically; the
        order among enabled rules does not matter for correctness)."""
        hs = self._hs
        assert hs is not None
        while not hs.decided:
            if self._rule_decide():  # line 49
                continue
            if self._rule_round_skip():  # line 55
                continue
            if self._rule_prevote_on_proposal():  # lines 22 and 28
                continue
            if self._rule_lock():  # line 36
                continue
            if self._rule_precommit_nil():  # line 44
                continue
            if self._rule_prevote_timeout():  # line 34
                continue
            if self._rule_precommit_timeout():  # line 47
                continue
            break

    def _validity(self, block_hash: str) -> bool | None:
        """valid(v): True/False once the application answered, None while waiting."""
        assert self._hs is not None
        return self._hs.validity.get(block_hash)

    def _rule_prevote_on_proposal(self) -> bool:
        """Lines 22-27 (proposal with validRound -1) and 28-33 (with a POL round vr)."""
        hs = self._hs
        assert hs is not None
        if hs.step != Step.PROPOSE:
            return False
        rs = hs.rounds.get(hs.round)
        if rs is None:
            return False
        for prop in rs.proposals.values():
            v = prop.block_hash
            vr = prop.pol_round
            if vr == -1:
                valid = self._validity(v)
                if valid is None:
                    continue
                accept = valid and (hs.locked_round == -1 or hs.locked_hash == v)  # line 23
            else:  # vr >= 0 and vr < round (checked when the message was parsed)
                pol = hs.rounds.get(vr)
                if pol is None or not hs.validators.has_quorum(pol.prevotes.power_for(v)):
                    continue
                valid = self._validity(v)
                if valid is None:
                    continue
                accept = valid and (hs.locked_round <= vr or hs.locked_hash == v)  # line 29
            self._vote(PREVOTE, v if accept else NIL)  # lines 24/26, 30/32
            hs.step = Step.PREVOTE  # lines 27, 33
            return True
        return False

    def _rule_prevote_timeout(self) -> bool:
        """Line 34: 2f+1 prevotes of any kind while step = prevote, first time."""
        hs = self._hs
        assert hs is not None
        if hs.step != Step.PREVOTE:
            return False
        rs = hs.rounds.get(hs.round)
        if rs is None or rs.prevote_timeout_scheduled:
            return False
        if not hs.validators.has_quorum(rs.prevotes.total_power):
            return False
        rs.prevote_timeout_scheduled = True
        self._schedule("prevote", hs.round)  # line 35
        return True

    def _rule_lock(self) -> bool:
        """Line 36: proposal v of this round, 2f+1 prevotes for id(v), valid(v), step >=
        prevote, first time: lock and precommit (if still at prevote), set valid value."""
        hs = self._hs
        assert hs is not None
        if hs.step < Step.PREVOTE:
            return False
        rs = hs.rounds.get(hs.round)
        if rs is None or rs.lock_rule_done:
            return False
        for v, power in rs.prevotes.power_by_hash.items():
            if v == NIL or not hs.validators.has_quorum(power):
                continue
            prop = rs.proposals.get(v)
            if prop is None or self._validity(v) is not True:
                return False
            rs.lock_rule_done = True
            hs.valid_round, hs.valid_block = hs.round, prop.block  # lines 42-43
            hs.valid_json = prop.block.to_json()
            hs.valid_pol = tuple(x.to_json() for x in rs.prevotes.for_hash(v))
            if hs.step == Step.PREVOTE:  # line 37
                hs.locked_round, hs.locked_hash = hs.round, v  # lines 38-39
                hs.step = Step.PRECOMMIT  # line 41
                self._vote(PRECOMMIT, v)  # line 40 (persists lock and valid value first)
                if self._sign_state.height == hs.height and self._sign_state.locked_hash != v:
                    self._persist_lock_and_valid()  # signing was refused: persist anyway
            else:
                self._persist_lock_and_valid()
            return True
        return False

    def _rule_precommit_nil(self) -> bool:
        """Line 44: 2f+1 prevotes for nil while step = prevote."""
        hs = self._hs
        assert hs is not None
        if hs.step != Step.PREVOTE:
            return False
        rs = hs.rounds.get(hs.round)
        if rs is None or not hs.validators.has_quorum(rs.prevotes.power_for(NIL)):
            return False
        self._vote(PRECOMMIT, NIL)  # line 45
        hs.step = Step.PRECOMMIT  # line 46
        return True

    def _rule_precommit_timeout(self) -> bool:
        """Line 47: 2f+1 precommits of any kind in this round, first time."""
        hs = self._hs
        assert hs is not None
        rs = hs.rounds.get(hs.round)
        if rs is None or rs.precommit_timeout_scheduled:
            return False
        if not hs.validators.has_quorum(rs.precommits.total_power):
            return False
        rs.precommit_timeout_scheduled = True
        self._schedule("precommit", hs.round)  # line 48
        return True

    def _rule_decide(self) -> bool:
        """Line 49: a block v and 2f+1 precommits for id(v) in some round r, valid(v)."""
        hs = self._hs
        assert hs is not None
        for r, v in hs.precommit_quorums.items():
            block = hs.blocks.get(v)
            if block is None:
                continue
            valid = self._validity(v)
            if valid is None:
                continue
            if not valid:  # line 50 false: 2f+1 signed a block our application rejects
                if v not in hs.reported_invalid:
                    hs.reported_invalid[v] = None
                    self._count("decided_block_invalid")
                continue
            rs = hs.rounds[r]
            sigs = tuple((x.validator, x.signature) for x in rs.precommits.for_hash(v))
            self._decide(block, CommitCertificate(hs.height, r, v, sigs))
            return True
        return False

    def _decide(self, block: ConsensusBlock, cert: CommitCertificate) -> None:
        """Lines 51-54: decide; the driver executes the block and starts the next height
        (line 53's reset happens in StartHeight)."""
        hs = self._hs
        assert hs is not None
        hs.decided = True
        self._count("commits")
        self._out.commits.append(Commit(hs.height, block, cert))

    def _rule_round_skip(self) -> bool:
        """Line 55: messages of a higher round from more than 1/3 of the voting power."""
        hs = self._hs
        assert hs is not None
        if not hs.skip_candidates:
            return False
        target = max(hs.skip_candidates)
        if target <= hs.round:
            hs.skip_candidates = {}
            return False
        self._count("round_skips")
        self._start_round(target)  # line 56
        return True
