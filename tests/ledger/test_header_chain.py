"""The light-client rules (ledger/header_chain.py) on a real chain with a validator-set
change (tests/support/certificates.py): every header is trusted from the genesis or from a
checkpoint through the changes, and every forged or missing piece is refused with its code."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from ledger.block import BlockHeader, CommitCertificate
from ledger.encoding import canonical, decode
from ledger.header_chain import (
    HeaderChainError,
    TrustedState,
    ValidatorSetChange,
    advance,
    parse_changes,
    verify_header,
)
from ledger.validators import ValidatorSet
from tests.support.certificates import GENESIS_SET, NEW_SET, World, shared_world


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return shared_world(tmp_path_factory)


def _block(world: World, height: int) -> tuple[BlockHeader, CommitCertificate]:
    block = world.chain.store.get_block(height)
    commit = world.chain.store.get_commit(height)
    assert block is not None and commit is not None
    return block.header, commit


def _set_named(validators_hash: str) -> ValidatorSet:
    for doc in (GENESIS_SET, NEW_SET):
        vset = ValidatorSet.from_json(doc)
        if vset.hash() == validators_hash:
            return vset
    raise AssertionError("no such set")


def _changes(world: World, above: int, below: int) -> list[ValidatorSetChange]:
    out = []
    for h in range(above + 1, below):
        header, commit = _block(world, h)
        if header.next_validators_hash != header.validators_hash:
            out.append(ValidatorSetChange(h, header, commit, _set_named(header.next_validators_hash)))
    return out


def _genesis(world: World) -> TrustedState:
    return TrustedState.from_genesis(world.chain.genesis)


def test_every_header_is_trusted_from_the_genesis_through_the_changes(world: World) -> None:
    anchor = _genesis(world)
    tip = world.chain.height
    assert world.change_height < tip
    for h in range(1, tip + 1):
        header, commit = _block(world, h)
        signed = verify_header(anchor, _changes(world, 0, h), header, commit)
        expected = GENESIS_SET if h <= world.change_height else NEW_SET
        assert signed == ValidatorSet.from_json(expected)


def test_a_missing_change_or_a_change_out_of_order_is_refused(world: World) -> None:
    anchor = _genesis(world)
    header, commit = _block(world, world.chain.height)
    with pytest.raises(HeaderChainError) as exc:
        verify_header(anchor, [], header, commit)
    assert exc.value.code == "bad_validators_hash"
    assert "change missing" in exc.value.message
    change = _changes(world, 0, world.chain.height)
    with pytest.raises(HeaderChainError) as exc:
        verify_header(anchor, change + change, header, commit)
    assert exc.value.code == "change_order"
    # a change at or after the header's height is not "between"
    later = _changes(world, 0, world.chain.height)
    h, c = _block(world, world.change_height)
    with pytest.raises(HeaderChainError) as exc:
        verify_header(anchor, later, h, c)
    assert exc.value.code == "change_order"


def test_a_change_listing_another_set_or_a_block_that_changes_nothing_is_refused(world: World) -> None:
    anchor = _genesis(world)
    header, commit = _block(world, world.chain.height)
    (change,) = _changes(world, 0, world.chain.height)
    wrong = ValidatorSetChange(change.height, change.header, change.commit,
                               ValidatorSet.from_json(GENESIS_SET))
    with pytest.raises(HeaderChainError) as exc:
        verify_header(anchor, [wrong], header, commit)
    assert exc.value.code == "bad_change_set"
    plain_h, plain_c = _block(world, 3)
    fake = ValidatorSetChange(3, plain_h, plain_c, ValidatorSet.from_json(NEW_SET))
    with pytest.raises(HeaderChainError) as exc:
        verify_header(anchor, [fake, change], header, commit)
    assert exc.value.code == "not_a_change"


def test_forged_commits_and_headers_are_refused_with_the_next_block_codes(world: World) -> None:
    anchor = _genesis(world)
    header, commit = _block(world, 5)
    weak = CommitCertificate(commit.height, commit.round, commit.block_hash, commit.signatures[:2])
    with pytest.raises(HeaderChainError) as exc:
        verify_header(anchor, [], header, weak)
    assert exc.value.code == "insufficient_power"
    forged = BlockHeader.from_json(dict(header.to_json(), state_root="00" * 32))
    with pytest.raises(HeaderChainError) as exc:
        verify_header(anchor, [], forged, commit)
    assert exc.value.code == "commit_wrong_block"
    other_chain = BlockHeader.from_json(dict(header.to_json(), chain_id="another"))
    with pytest.raises(HeaderChainError) as exc:
        verify_header(anchor, [], other_chain, commit)
    assert exc.value.code == "wrong_chain"
    # a change whose commit is signed by too little power
    (change,) = _changes(world, 0, world.chain.height)
    tip_h, tip_c = _block(world, world.chain.height)
    bad = ValidatorSetChange(change.height, change.header, CommitCertificate(
        change.commit.height, change.commit.round, change.commit.block_hash,
        change.commit.signatures[:1]), change.validators)
    with pytest.raises(HeaderChainError) as exc:
        verify_header(anchor, [bad], tip_h, tip_c)
    assert exc.value.code == "insufficient_power"
    assert f"change at block {change.height}" in exc.value.message


def test_a_light_client_advances_block_by_block_and_resumes_from_its_checkpoint(world: World) -> None:
    state = _genesis(world)
    for h in range(1, world.change_height + 2):
        header, commit = _block(world, h)
        new_set = _set_named(header.next_validators_hash)
        if h == world.change_height:
            with pytest.raises(HeaderChainError) as exc:
                advance(state, [], header, commit)  # the new set must be given
            assert exc.value.code == "bad_change_set"
        state = advance(state, [], header, commit, new_set)
        assert state.height == h and state.block_hash == header.hash()
    assert state.next_validators == ValidatorSet.from_json(NEW_SET)
    # saved as a file and read back, it trusts the tip without the (older) change
    saved = decode(canonical(state.to_json()))
    resumed = TrustedState.from_json(saved)
    assert resumed == state
    tip_h, tip_c = _block(world, world.chain.height)
    assert verify_header(resumed, [], tip_h, tip_c) == ValidatorSet.from_json(NEW_SET)
    # its own block again is fine; an older block or another block at its height is not
    own_h, own_c = _block(world, state.height)
    verify_header(resumed, [], own_h, own_c)
    older_h, older_c = _block(world, 2)
    with pytest.raises(HeaderChainError) as exc:
        verify_header(resumed, [], older_h, older_c)
    assert exc.value.code == "header_not_after_checkpoint"
    conflicting = TrustedState.from_json(dict(saved, block_hash="ab" * 32))
    with pytest.raises(HeaderChainError) as exc:
        verify_header(conflicting, [], own_h, own_c)
    assert exc.value.code == "checkpoint_conflict"


@pytest.mark.parametrize("change", [
    lambda c: c.pop("time"),
    lambda c: c.update(extra=1),
    lambda c: c.update(format="fcl-retirement-certificate"),
    lambda c: c.update(version=2),
    lambda c: c.update(height=-1),
    lambda c: c.update(height=True),
    lambda c: c.update(block_hash="AB" * 32),
    lambda c: c.update(chain_id=""),
    lambda c: c.update(next_validators=[]),
    lambda c: c.update(height=0),  # at height 0 the block hash must be the genesis hash
])
def test_bad_checkpoints_are_refused(world: World, change: Any) -> None:
    state = advance(_genesis(world), [], *_block(world, 1))
    doc = copy.deepcopy(state.to_json())
    change(doc)
    with pytest.raises(HeaderChainError) as exc:
        TrustedState.from_json(doc)
    assert exc.value.code == "bad_checkpoint"


@pytest.mark.parametrize("items,code", [
    ({}, "malformed_change"),
    ([{"height": 1}], "malformed_change"),
    ([None], "malformed_change"),
])
def test_malformed_change_lists_are_refused(items: Any, code: str) -> None:
    with pytest.raises(HeaderChainError) as exc:
        parse_changes(items)
    assert exc.value.code == code


def test_a_change_under_another_height_is_refused(world: World) -> None:
    (change,) = _changes(world, 0, world.chain.height)
    doc = dict(change.to_json(), height=change.height + 1)
    with pytest.raises(HeaderChainError) as exc:
        parse_changes([doc])
    assert exc.value.code == "malformed_change"
    assert parse_changes([change.to_json()]) == [change]
