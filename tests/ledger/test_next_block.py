"""ledger.next_block: every code of the next-block rule is produced by some tampering of a
genuine block or commit (parametrised over ``CODES``: a new code without a tampering here
fails), and no single-field change of a genuine header is ever accepted."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import ledger.next_block as next_block
from ledger.block import (
    HEADER_FIELDS,
    Block,
    BlockHeader,
    CommitCertificate,
    results_root,
    tx_result,
    vote_sign_bytes,
)
from ledger.crypto import PrivateKey, sha256_hex
from ledger.encoding import MAX_SAFE_INTEGER
from ledger.errors import BlockError, LedgerError
from ledger.merkle import merkle_root
from ledger.next_block import (
    CODES,
    NextBlockError,
    Predecessor,
    check_header,
    check_next_block,
    check_outcome,
)
from ledger.tx import Transaction
from ledger.validators import ValidatorSet
from tests.support.common import GENESIS_TIME, count_verifications, det_key, notary_tx

CHAIN = "fcl-next-block"
KEYS = [det_key(f"next-block-validator-{i}") for i in range(4)]
STRANGER = det_key("next-block-stranger")
USER = det_key("next-block-user")
VSET = ValidatorSet.from_json(
    [{"name": f"v{i}", "power": 10, "pub_key": k.public_key_hex} for i, k in enumerate(KEYS)]
)
BLOCK_1 = sha256_hex(b"block 1")
PREV = Predecessor(
    chain_id=CHAIN,
    height=1,
    block_hash=BLOCK_1,
    time=GENESIS_TIME + 1000,
    validators=VSET,
    history_root=merkle_root([bytes.fromhex(BLOCK_1)]).hex(),
)
COMMITTED = notary_tx(USER, "in-block-1", chain_id=CHAIN)  # committed in block 1
#: the keys the state the block starts from admits (the validator and the auditor pass
#: chaincode.membership's rule as the callback; this module is pure)
ENROLLED = frozenset({USER.public_key_hex})


def signer_refusal(tx: Transaction) -> str | None:
    for key in tx.signers:
        if key not in ENROLLED:
            return f"signer {key} is not an enrolled key"
    return None


def ok_result(tx: Transaction) -> dict[str, Any]:
    return tx_result(tx.tx_id, "ok", "", [])


def assemble(txs: list[Transaction], results: list[dict[str, Any]], **changes: Any) -> Block:
    header: dict[str, Any] = dict(
        chain_id=CHAIN,
        height=PREV.height + 1,
        time=PREV.time + 1000,
        prev_hash=PREV.block_hash,
        state_root=sha256_hex(b"state after block 2"),
        validators_hash=VSET.hash(),
        next_validators_hash=VSET.hash(),
        proposer=VSET.proposer(PREV.height + 1, 0).pub_key,
        history_root=PREV.history_root,
    )
    header.update(changes)
    return Block.assemble(txs, results, **header)


def sign(header: BlockHeader, keys: list[PrivateKey], *, height: int | None = None,
         block_hash: str | None = None) -> CommitCertificate:
    height = header.height if height is None else height
    block_hash = header.hash() if block_hash is None else block_hash
    msg = vote_sign_bytes("precommit", CHAIN, height, 0, block_hash)
    pairs = sorted((k.public_key_hex, k.sign_hex(msg)) for k in keys)
    return CommitCertificate(height, 0, block_hash, tuple(pairs))


GENUINE_TXS = [notary_tx(USER, f"doc-{i}", chain_id=CHAIN) for i in range(3)]
GENUINE = assemble(GENUINE_TXS, [ok_result(t) for t in GENUINE_TXS])


@dataclass
class Case:
    """A block, its commit and what re-executing it gave, as the rule sees them."""

    header: BlockHeader
    txs: list[Transaction]
    results: list[dict[str, Any]]
    commit: CommitCertificate
    outcome: dict[str, str] = field(default_factory=dict)

    def check(self) -> None:
        check_next_block(PREV, self.header, self.txs, self.results, self.commit,
                         is_committed=lambda tx_id: tx_id == COMMITTED.tx_id,
                         signer_refusal=signer_refusal)
        check_outcome(self.header, **self.outcome)


def genuine() -> Case:
    header = GENUINE.header
    return Case(
        header=header,
        txs=list(GENUINE.txs),
        results=list(GENUINE.results),
        commit=sign(header, KEYS[:3]),
        outcome={"results_root": header.results_root, "state_root": header.state_root,
                 "next_validators_hash": header.next_validators_hash},
    )


def header_changed(**changes: Any) -> Case:
    """The genuine block with ``changes`` to its header, re-signed by a quorum (so only
    the changed field can give it away)."""
    case = genuine()
    case.header = dataclasses.replace(case.header, **changes)
    case.commit = sign(case.header, KEYS[:3])
    return case


def body_changed(txs: list[Transaction], results: list[dict[str, Any]]) -> Case:
    """Another body under a consistent header (roots recomputed), re-signed by a quorum."""
    case = genuine()
    block = assemble(txs, results)
    case.header, case.txs, case.results = block.header, list(block.txs), list(block.results)
    case.commit = sign(case.header, KEYS[:3])
    case.outcome = {"results_root": case.header.results_root,
                    "state_root": case.header.state_root,
                    "next_validators_hash": case.header.next_validators_hash}
    return case


def commit_changed(change: Callable[[Case], CommitCertificate]) -> Case:
    case = genuine()
    case.commit = change(case)
    return case


def flip(sig: str) -> str:
    return ("0" if sig[0] != "0" else "1") + sig[1:]


def too_many_txs(monkeypatch: pytest.MonkeyPatch) -> Case:
    # the real limit is 5000; the rule's limit is lowered below the genuine block's size
    monkeypatch.setattr(next_block, "MAX_BLOCK_TXS", len(GENUINE_TXS) - 1)
    return genuine()


def forged_results() -> Case:
    """The validators pass a result off as another one (consistent roots, valid commit):
    only re-execution can tell."""
    forged = [dict(r) for r in GENUINE.results]
    forged[1] = dict(forged[1], code="unauthorized", message="forged")
    case = header_changed(results_root=results_root(forged))
    case.results = forged
    return case


def misordered_results() -> Case:
    results = [dict(r) for r in reversed(GENUINE.results)]
    case = header_changed(results_root=results_root(results))
    case.results = results
    return case


def dropped_result() -> Case:
    results = [dict(r) for r in GENUINE.results[:-1]]
    case = header_changed(results_root=results_root(results))
    case.results = results
    return case


def bad_tx_signature() -> Case:
    tx = GENUINE_TXS[0]
    bad = dataclasses.replace(tx, signatures=(flip(tx.signatures[0]),))
    return body_changed([bad, *GENUINE_TXS[1:]], [ok_result(t) for t in [bad, *GENUINE_TXS[1:]]])


def unenrolled_signer() -> Case:
    """A transaction signed (validly) by a key the state does not admit."""
    txs = [*GENUINE_TXS, notary_tx(STRANGER, "outsider", chain_id=CHAIN)]
    return body_changed(txs, [ok_result(t) for t in txs])


TAMPERINGS: dict[str, Callable[..., Case]] = {
    "wrong_chain": lambda: header_changed(chain_id="another-chain"),
    "wrong_height": lambda: header_changed(height=PREV.height + 2),
    "bad_prev_hash": lambda: header_changed(prev_hash=sha256_hex(b"another block")),
    "bad_time": lambda: header_changed(time=PREV.time),
    "unknown_proposer": lambda: header_changed(proposer=STRANGER.public_key_hex),
    "bad_validators_hash": lambda: header_changed(validators_hash=sha256_hex(b"another set")),
    "bad_history_root": lambda: header_changed(history_root=sha256_hex(b"another history")),
    "commit_wrong_height": lambda: commit_changed(
        lambda c: sign(c.header, KEYS[:3], height=c.header.height + 1)),
    "commit_wrong_block": lambda: commit_changed(
        lambda c: sign(c.header, KEYS[:3], block_hash=sha256_hex(b"another block"))),
    "duplicate_signature": lambda: commit_changed(
        lambda c: dataclasses.replace(c.commit, signatures=(*c.commit.signatures,
                                                            c.commit.signatures[0]))),
    "unknown_validator": lambda: commit_changed(
        lambda c: sign(c.header, [*KEYS[:2], STRANGER])),
    "bad_commit_signature": lambda: commit_changed(
        lambda c: dataclasses.replace(c.commit, signatures=(
            (c.commit.signatures[0][0], flip(c.commit.signatures[0][1])),
            *c.commit.signatures[1:]))),
    "insufficient_power": lambda: commit_changed(lambda c: sign(c.header, KEYS[:2])),
    "too_many_txs": too_many_txs,
    "bad_txs_root": lambda: header_changed(txs_root=sha256_hex(b"other transactions")),
    "bad_results_root": lambda: dataclasses.replace(
        genuine(), results=[dict(GENUINE.results[0], message="tampered"), *GENUINE.results[1:]]),
    "bad_results": misordered_results,
    "duplicate_tx": lambda: body_changed([*GENUINE_TXS, COMMITTED],
                                         [ok_result(t) for t in [*GENUINE_TXS, COMMITTED]]),
    "unenrolled_signer": unenrolled_signer,
    "bad_signature": bad_tx_signature,
    "results_mismatch": forged_results,
    "bad_state_root": lambda: header_changed(state_root=sha256_hex(b"another state")),
    "bad_next_validators_hash": lambda: header_changed(
        next_validators_hash=sha256_hex(b"another next set")),
}


def test_the_genuine_block_passes() -> None:
    genuine().check()


@pytest.mark.parametrize("code", list(CODES))
def test_every_code_is_produced_by_a_tampering(code: str, monkeypatch: pytest.MonkeyPatch) -> None:
    make = TAMPERINGS.get(code)
    if make is None:
        pytest.fail(f"no tampering in this test produces the next-block code {code!r}")
    case = make(monkeypatch) if make is too_many_txs else make()
    with pytest.raises(NextBlockError) as err:
        case.check()
    exc = err.value
    assert exc.code == code, exc.message
    assert isinstance(exc, BlockError) and exc.message
    assert exc.expected != exc.found, (exc.expected, exc.found)


def test_there_is_no_tampering_for_a_code_that_does_not_exist() -> None:
    assert set(TAMPERINGS) == set(CODES)


def test_the_codes_are_listed_in_the_docstring_in_the_order_they_are_checked() -> None:
    doc = next_block.__doc__ or ""
    table = re.findall(r"^``([a-z_]+)``\s{2,}", doc, re.M)
    assert table == list(CODES)


def test_a_code_outside_the_rule_is_refused() -> None:
    with pytest.raises(ValueError):
        NextBlockError("malformed_block", "not a next-block code")
    exc = NextBlockError("bad_time", "m", expected=3, found=2)
    assert (exc.code, exc.expected, exc.found) == ("bad_time", "3", "2")


@pytest.mark.parametrize("make", [dropped_result, misordered_results])
def test_results_must_be_one_per_transaction_in_order(make: Callable[[], Case]) -> None:
    with pytest.raises(NextBlockError) as err:
        make().check()
    assert err.value.code == "bad_results"


def test_a_block_replaying_a_transaction_of_its_own_is_refused() -> None:
    tx = GENUINE_TXS[0]
    case = body_changed([*GENUINE_TXS, tx], [ok_result(t) for t in [*GENUINE_TXS, tx]])
    with pytest.raises(NextBlockError) as err:
        case.check()
    assert err.value.code == "duplicate_tx" and err.value.found == tx.tx_id


# -- random single-field header mutations ------------------------------------------------------

HEX_FIELDS = ("prev_hash", "txs_root", "results_root", "state_root", "validators_hash",
              "next_validators_hash", "history_root")
# what check_header compares with the predecessor; a later time or another member as the
# proposer is a different, still valid, header (the commit tells them apart)
LINKED = ("chain_id", "height", "time", "prev_hash", "proposer", "validators_hash",
          "history_root")
UNIQUE = ("chain_id", "height", "prev_hash", "validators_hash", "history_root")
HEX64 = st.text("0123456789abcdef", min_size=64, max_size=64)
NATURAL = st.integers(0, MAX_SAFE_INTEGER)


def field_values(name: str) -> st.SearchStrategy[Any]:
    if name in ("height", "time"):
        near = PREV.height if name == "height" else PREV.time
        return NATURAL | st.integers(max(0, near - 2), near + 2)
    if name in HEX_FIELDS:
        return HEX64
    if name == "proposer":
        return st.sampled_from([k.public_key_hex for k in [*KEYS, STRANGER]]) | HEX64
    return st.text(max_size=40)


@st.composite
def mutated_headers(draw: st.DrawFn, names: tuple[str, ...]) -> tuple[str, BlockHeader]:
    name = draw(st.sampled_from(names))
    value = draw(field_values(name))
    obj = GENUINE.header.to_json()
    assume(obj[name] != value)
    obj[name] = value
    try:
        header = BlockHeader.from_json(obj)  # a header as it arrives: parsed, well-formed
    except LedgerError:
        assume(False)
        raise
    return name, header


MUTATIONS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@MUTATIONS
@given(mutated_headers(UNIQUE))
def test_a_changed_linked_header_field_is_always_refused_by_check_header(
    mutation: tuple[str, BlockHeader],
) -> None:
    name, header = mutation
    with pytest.raises(NextBlockError) as err:
        check_header(PREV, header)
    assert err.value.code in CODES


@MUTATIONS
@given(mutated_headers(tuple(HEADER_FIELDS)))
def test_any_changed_header_field_is_always_refused_by_check_next_block(
    mutation: tuple[str, BlockHeader],
) -> None:
    """The genuine commit no longer matches, whatever else the header still agrees with."""
    name, header = mutation
    case = genuine()
    with pytest.raises(NextBlockError) as err:
        check_next_block(PREV, header, case.txs, case.results, case.commit)
    assert err.value.code in CODES
    if name not in LINKED:
        assert err.value.code == "commit_wrong_block"


def test_unenrolled_signer_is_refused_before_any_signature_is_verified(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the outsider's transaction is last and its signature is forged: the rule names the
    # signer, not the signature, and verified no signature at all
    outsider = notary_tx(STRANGER, "outsider", chain_id=CHAIN)
    forged = dataclasses.replace(outsider, signatures=(flip(outsider.signatures[0]),))
    case = body_changed([*GENUINE_TXS, forged], [ok_result(t) for t in [*GENUINE_TXS, forged]])
    verified = count_verifications(monkeypatch)
    with pytest.raises(NextBlockError) as err:
        case.check()
    assert err.value.code == "unenrolled_signer"
    assert STRANGER.public_key_hex in err.value.message
    assert verified == []
    # and with the outsider enrolled, the same block fails only on its signature
    monkeypatch.setattr(f"{__name__}.ENROLLED", ENROLLED | {STRANGER.public_key_hex})
    with pytest.raises(NextBlockError) as err:
        case.check()
    assert err.value.code == "bad_signature"
    assert len(verified) == len(GENUINE_TXS) + 1
