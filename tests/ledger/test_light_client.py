"""ledger/light_client.py and header_chain.advance_next: the light client's sans-IO core
on a real chain with a validator-set change, fed genuine and forged node answers."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.block import BlockHeader, CommitCertificate
from ledger.header_chain import (
    HeaderChainError,
    TrustedState,
    ValidatorSetChange,
    advance_next,
)
from ledger.light_client import LightBlock, LightClient, parse_changes_page, parse_light_block
from ledger.validators import ValidatorSet
from tests.support.certificates import GENESIS_SET, NEW_SET, World, shared_world


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return shared_world(tmp_path_factory)


def _set_named(validators_hash: str) -> ValidatorSet:
    for doc in (GENESIS_SET, NEW_SET):
        vset = ValidatorSet.from_json(doc)
        if vset.hash() == validators_hash:
            return vset
    raise AssertionError("no such set")


def light_block(world: World, height: int) -> LightBlock:
    """What an honest node answers on /v1/light/blocks/{height}."""
    block = world.chain.store.get_block(height)
    commit = world.chain.store.get_commit(height)
    assert block is not None and commit is not None
    return LightBlock(block.header, commit, _set_named(block.header.next_validators_hash))


def changes(world: World, above: int, below: int) -> list[ValidatorSetChange]:
    out = []
    for h in range(above + 1, below):
        b = light_block(world, h)
        if b.header.next_validators_hash != b.header.validators_hash:
            out.append(ValidatorSetChange(h, b.header, b.commit, b.next_validators))
    return out


def genesis(world: World) -> TrustedState:
    return TrustedState.from_genesis(world.chain.genesis)


def refused(code: str, fn: Callable[[], Any]) -> HeaderChainError:
    with pytest.raises(HeaderChainError) as exc:
        fn()
    assert exc.value.code == code, exc.value.message
    return exc.value


# -- the happy paths ----------------------------------------------------------------------
def test_skipping_from_the_genesis_to_every_height(world: World) -> None:
    for h in range(1, world.chain.height + 1):
        lc = LightClient(genesis(world))
        state = lc.skip_to(light_block(world, h), changes(world, 0, h))
        assert state == lc.trusted
        assert (state.height, state.block_hash) == (h, light_block(world, h).header.hash())
        expected = GENESIS_SET if h < world.change_height else NEW_SET
        assert state.next_validators == ValidatorSet.from_json(expected)


def test_sequential_steps_reach_the_same_state_as_one_skip(world: World) -> None:
    tip = world.chain.height
    lc = LightClient(genesis(world))
    for h in range(1, tip + 1):
        lc.step(light_block(world, h))
    skipped = LightClient(genesis(world)).skip_to(light_block(world, tip), changes(world, 0, tip))
    assert lc.trusted == skipped


@settings(max_examples=25, deadline=None)
@given(st.data())
def test_any_path_of_skips_reaches_the_same_state(world: World, data: st.DataObject) -> None:
    tip = world.chain.height
    stops = sorted(data.draw(st.sets(st.integers(1, tip), max_size=6))) + [tip]
    lc = LightClient(genesis(world))
    for stop in stops:
        lc.skip_to(light_block(world, stop), changes(world, lc.trusted.height, stop))
    assert lc.trusted == LightClient(genesis(world)).skip_to(
        light_block(world, tip), changes(world, 0, tip))


def test_the_trusted_block_itself_changes_nothing(world: World) -> None:
    lc = LightClient(genesis(world))
    state = lc.skip_to(light_block(world, 5), [])
    assert lc.skip_to(light_block(world, 5), []) == state


# -- forged answers -----------------------------------------------------------------------
def test_a_skipped_change_is_refused(world: World) -> None:
    lc = LightClient(genesis(world))
    before = lc.trusted
    refused("bad_validators_hash", lambda: lc.skip_to(light_block(world, world.chain.height), []))
    assert lc.trusted == before  # a refusal changes nothing


def test_a_node_lying_about_a_change_is_refused(world: World) -> None:
    tip = world.chain.height
    (change,) = changes(world, 0, tip)
    lc = LightClient(genesis(world))
    # the change lists another set than the one its block committed to
    other = ValidatorSetChange(change.height, change.header, change.commit,
                               ValidatorSet.from_json(GENESIS_SET))
    refused("bad_change_set", lambda: lc.skip_to(light_block(world, tip), [other]))
    # the change's block is not committed by the set then in force
    weak = ValidatorSetChange(change.height, change.header, CommitCertificate(
        change.commit.height, change.commit.round, change.commit.block_hash,
        change.commit.signatures[:2]), change.validators)
    err = refused("insufficient_power", lambda: lc.skip_to(light_block(world, tip), [weak]))
    assert f"change at block {change.height}" in err.message
    # a plain block passed off as a change
    plain = light_block(world, 3)
    fake = ValidatorSetChange(3, plain.header, plain.commit, ValidatorSet.from_json(NEW_SET))
    refused("not_a_change", lambda: lc.skip_to(light_block(world, tip), [fake, change]))
    assert lc.trusted == genesis(world)


def test_a_header_that_was_not_committed_is_refused(world: World) -> None:
    lc = LightClient(genesis(world))
    real = light_block(world, 4)
    forged = BlockHeader.from_json(dict(real.header.to_json(), state_root="ab" * 32))
    refused("commit_wrong_block",
            lambda: lc.skip_to(LightBlock(forged, real.commit, real.next_validators), []))
    # the genuine header with the commit of another block
    other_commit = light_block(world, 3).commit
    refused("commit_wrong_height",
            lambda: lc.skip_to(LightBlock(real.header, other_commit, real.next_validators), []))
    weak = CommitCertificate(real.commit.height, real.commit.round, real.commit.block_hash,
                             real.commit.signatures[:1])
    refused("insufficient_power", lambda: lc.skip_to(LightBlock(real.header, weak,
                                                                real.next_validators), []))


def test_a_wrong_next_set_is_refused_even_when_the_block_changes_nothing(world: World) -> None:
    lc = LightClient(genesis(world))
    real = light_block(world, 2)
    wrong = LightBlock(real.header, real.commit, ValidatorSet.from_json(NEW_SET))
    refused("bad_change_set", lambda: lc.skip_to(wrong, []))
    lc.step(light_block(world, 1))
    refused("bad_change_set", lambda: lc.step(wrong))
    # at the change block a missing/wrong new set is refused too
    c = world.change_height
    at_change = light_block(world, c)
    lc2 = LightClient(genesis(world))
    refused("bad_change_set", lambda: lc2.skip_to(
        LightBlock(at_change.header, at_change.commit, ValidatorSet.from_json(GENESIS_SET)),
        changes(world, 0, c)))


def test_a_checkpoint_from_another_chain_is_refused(world: World,
                                                     tmp_path_factory: pytest.TempPathFactory) -> None:
    other = shared_world(tmp_path_factory, "fcl-other")
    lc = LightClient(TrustedState.from_genesis(other.chain.genesis))
    refused("wrong_chain", lambda: lc.skip_to(light_block(world, 3), []))
    refused("wrong_chain", lambda: lc.step(light_block(world, 1)))
    # the same chain id with another history: the checkpoint's block differs
    mine = LightClient(genesis(world)).skip_to(light_block(world, 3), [])
    forked = TrustedState.from_json(dict(mine.to_json(), block_hash="cd" * 32))
    refused("checkpoint_conflict", lambda: LightClient(forked).skip_to(light_block(world, 3), []))
    refused("bad_prev_hash", lambda: LightClient(forked).step(light_block(world, 4)))


def test_sequential_steps_must_link_to_the_trusted_block(world: World) -> None:
    lc = LightClient(genesis(world))
    refused("wrong_height", lambda: lc.step(light_block(world, 2)))
    lc.step(light_block(world, 1))
    refused("wrong_height", lambda: lc.step(light_block(world, 1)))
    late = TrustedState.from_json(dict(lc.trusted.to_json(), time=light_block(world, 2).header.time))
    refused("bad_time", lambda: LightClient(late).step(light_block(world, 2)))
    refused("bad_time", lambda: LightClient(late).skip_to(light_block(world, 2), []))
    assert advance_next(lc.trusted, light_block(world, 2).header, light_block(world, 2).commit
                        ).height == 2


def test_a_header_below_the_checkpoint_is_refused(world: World) -> None:
    lc = LightClient(genesis(world))
    lc.skip_to(light_block(world, 6), [])
    refused("header_not_after_checkpoint", lambda: lc.skip_to(light_block(world, 2), []))


# -- parsing answers ----------------------------------------------------------------------
def _answer(world: World, height: int) -> dict[str, Any]:
    return copy.deepcopy(light_block(world, height).to_json())


@pytest.mark.parametrize(("change", "code"), [
    (lambda b: b.pop("hash"), "malformed_light_block"),
    (lambda b: b.update(txs=[]), "malformed_light_block"),
    (lambda b: b.update(hash="00" * 32), "malformed_light_block"),
    (lambda b: b.update(height=b["height"] + 1), "malformed_light_block"),
    (lambda b: b.update(height=True), "malformed_light_block"),
    (lambda b: b["header"].pop("time"), "malformed_light_block"),
    (lambda b: b.update(commit={}), "malformed_light_block"),
    (lambda b: b.update(next_validators=[]), "malformed_light_block"),
])
def test_malformed_light_blocks_are_refused(world: World, change: Any, code: str) -> None:
    doc = _answer(world, 3)
    change(doc)
    refused(code, lambda: parse_light_block(doc, 3))


def test_a_block_of_another_height_than_asked_is_refused(world: World) -> None:
    assert parse_light_block(_answer(world, 3), 3) == light_block(world, 3)
    assert parse_light_block(_answer(world, 3)) == light_block(world, 3)
    refused("unexpected_height", lambda: parse_light_block(_answer(world, 3), 4))
    refused("malformed_light_block", lambda: parse_light_block([], 4))


def _page(world: World, above: int, below: int, complete: bool = True) -> dict[str, Any]:
    return {"above": above, "below": below, "complete": complete,
            "changes": [c.to_json() for c in changes(world, above, below)]}


def test_pages_of_changes_are_checked_against_what_was_asked(world: World) -> None:
    tip = world.chain.height
    got, complete = parse_changes_page(_page(world, 0, tip), 0, tip)
    assert got == changes(world, 0, tip) and complete
    refused("malformed_changes_page", lambda: parse_changes_page(_page(world, 0, tip), 1, tip))
    refused("malformed_changes_page", lambda: parse_changes_page(_page(world, 0, tip), 0, tip - 1))
    refused("malformed_changes_page", lambda: parse_changes_page({"changes": []}, 0, tip))
    refused("malformed_changes_page", lambda: parse_changes_page(
        dict(_page(world, 0, tip), complete="yes"), 0, tip))
    # a change outside the bounds asked for
    c = world.change_height
    refused("malformed_changes_page", lambda: parse_changes_page(
        dict(_page(world, 0, tip), below=c), 0, c))
    # an incomplete page that lists nothing would never end
    refused("malformed_changes_page", lambda: parse_changes_page(
        {"above": 0, "below": 3, "changes": [], "complete": False}, 0, 3))
    refused("malformed_change", lambda: parse_changes_page(
        {"above": 0, "below": 3, "changes": [{}], "complete": True}, 0, 3))
