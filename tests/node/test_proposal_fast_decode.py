"""The fast decoding of proposals (``decode_message`` with ``decode_block_text``, i.e.
``BlockCodec.decode_text``, mempool transactions found by their canonical text) against the
strict path (``decode_message_strict``): for valid and mutated messages the result, or the
refusal's code, is the same; and whenever the fast path itself answers, the strict path
accepts the same message with the same block."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.block import Block, tx_result
from ledger.crypto import PrivateKey, sha256
from ledger.encoding import MAX_DEPTH, decode_canonical_at
from ledger.tx import Transaction, build_transaction
from node.chain.blockcodec import BlockCodec, tx_json_key
from node.consensus.messages import (
    MessageError,
    Proposal,
    Vote,
    _proposal_fast,
    decode_message,
    decode_message_strict,
)
from node.txpool.admission import tx_size
from node.txpool.mempool import Mempool

CHAIN = "fcl-fast"
KEY = PrivateKey(sha256(b"fast-decode-key"))
OTHER = PrivateKey(sha256(b"fast-decode-other"))


def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = [value]
    return value


def _tx(i: int, **extra: Any) -> Transaction:
    args: dict[str, Any] = {"name": f"doc-{i}", "note": "survey of plot 17 — 春季",
                            "sha256": sha256(f"doc-{i}".encode()).hex()}
    args.update(extra)
    return build_transaction(chain_id=CHAIN, contract="notary", method="record", args=args,
                             nonce=f"n-{i}", keys=[KEY])


# tx args sit at depth 2 in the payload, 6 in a proposal (proposal, block, txs, tx,
# payload, args): nested lists of depth 58 put the leaf at 64 (accepted), 59 at 65 (not)
TXS = [_tx(i) for i in range(6)] + [
    _tx(6, deep=_nested(58)),
    _tx(7, deep=_nested(59)),
    _tx(8, brackets=[{"a": [i]} for i in range(20)]),  # many brackets, shallow
    _tx(9, tricky=['"]}', {"x": ['"]},{"payload":']}]),  # looks like a tx end
]
IN_POOL = {tx.tx_id for i, tx in enumerate(TXS) if i % 5 != 4}  # 4 and 9 are not known


def _codec() -> BlockCodec:
    pool = Mempool(max_txs=100, max_bytes=2**30)
    for tx in TXS:
        if tx.tx_id in IN_POOL:
            pool.add(tx, tx_size(tx), tx_json_key(tx.to_json()))
    return BlockCodec(CHAIN, pool.by_json_key, pool.by_canonical_text)


json_leaf = (
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.text(alphabet="ab\"\\/\n\u00e9\u6625\U0001f332]}{[,:", max_size=4)
)
json_value = st.recursive(
    json_leaf,
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text("abkz", max_size=3), c,
                                                         max_size=3),
    max_leaves=6,
)


def _proposal(
    picks: list[int], extras: list[Any], round_: int, pol: int, chain: str = CHAIN
) -> bytes:
    txs = [TXS[i] for i in picks]
    results = [
        tx_result(tx.tx_id, "ok", "", [{"type": "notary.recorded", "v": extras[k % len(extras)]}])
        for k, tx in enumerate(txs)
    ] if extras else [tx_result(tx.tx_id, "ok", "", []) for tx in txs]
    block = Block.assemble(
        txs, results, chain_id=chain, height=5, time=1_700_000_000_000, prev_hash="ab" * 32,
        state_root="cd" * 32, validators_hash="ef" * 32, next_validators_hash="ef" * 32,
        proposer=KEY.public_key_hex, history_root="01" * 32,
    )
    return Proposal.sign(KEY, CHAIN, round_, block, pol).to_bytes()


def _reorder(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _reorder(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [_reorder(v) for v in value]
    return value


def _inject(text: str, where: str, what: str) -> str:
    return text.replace(where, where + what, 1)


MUTATIONS: dict[str, Any] = {
    "none": lambda t, r: t,
    "spacing": lambda t, r: json.dumps(json.loads(t), indent=1, ensure_ascii=False),
    "key_order": lambda t, r: json.dumps(_reorder(json.loads(t)), separators=(",", ":"),
                                         ensure_ascii=False),
    "ascii_escapes": lambda t, r: json.dumps(json.loads(t), separators=(",", ":"),
                                             sort_keys=True),
    "escaped_key": lambda t, r: t.replace('"tx_id":', '"tx_i\\u0064":', 1),
    "escaped_slash": lambda t, r: t.replace('"ok"', '"o\\/k"', 1),
    "float_result": lambda t, r: t.replace('"code":"ok"', '"code":1.5', 1),
    "float_exp": lambda t, r: t.replace('"time":1700000000000', '"time":1.7e12', 1),
    "minus_zero": lambda t, r: _inject(t, '{"code":', '-0,"code2":'),
    "dup_header_key": lambda t, r: _inject(t, '{"header":{', '"chain_id":"fcl-fast",'),
    "dup_tail_key": lambda t, r: _inject(t, '"type":"proposal"', ',"type":"proposal"'),
    "dup_tx_key": lambda t, r: _inject(t, '{"payload":', '{"args":{},'),
    "unknown_tail": lambda t, r: t[:-1] + ',"zz":1}',
    "block_in_tail": lambda t, r: t[:-1] + ',"block":1}',
    "unknown_block": lambda t, r: t.replace(',"results":', ',"r":1,"results":', 1),
    "unknown_result": lambda t, r: t.replace('{"code":', '{"a":1,"code":', 1),
    "unknown_tx_field": lambda t, r: t.replace('{"payload":', '{"extra":1,"payload":', 1),
    "altered_tx": lambda t, r: t.replace('"nonce":"n-', '"nonce":"m-', 1),
    "big_int": lambda t, r: t.replace('{"code":', '{"a":9007199254740992,"code":', 1),
    "max_int": lambda t, r: t.replace('{"code":', '{"a":-9007199254740991,"code":', 1),
    "non_nfc": lambda t, r: t.replace('{"code":', '{"a":"e\u0301","code":', 1),
    "deep_result": lambda t, r: t.replace('{"code":', '{"a":' + json.dumps(_nested(r % 66))
                                          + ',"code":', 1),
    "control_char": lambda t, r: t.replace('"ok"', '"o\tk"', 1),
    "lone_surrogate": lambda t, r: t.replace('"ok"', '"o\\ud800k"', 1),
    "trailing_space": lambda t, r: t + " ",
    "leading_space": lambda t, r: " " + t,
    "truncated": lambda t, r: t[: r % max(1, len(t))],
    "byte_flip": None,  # on the bytes, below
}


def outcome(fn: Any) -> tuple[Any, ...]:
    try:
        msg = fn()
    except MessageError as exc:
        return ("refused", exc.code)
    if isinstance(msg, Proposal):
        block = msg.block
        assert isinstance(block, Block)
        return ("proposal", msg, block.canonical_bytes, block.txs, block.results, block.header)
    return ("vote", msg)


def check_same(data: bytes, limit: int = 16 * 1024 * 1024) -> tuple[Any, ...]:
    codec = _codec()
    strict = outcome(lambda: decode_message_strict(data, codec.decode,
                                                   max_proposal_bytes=limit))
    fast = outcome(lambda: decode_message(data, codec.decode, max_proposal_bytes=limit,
                                          decode_block_text=codec.decode_text))
    assert fast == strict
    direct = _proposal_fast(data, codec.decode_text) if len(data) <= limit else None
    if direct is not None:  # the fast path answered on its own: the strict path agrees
        assert strict[0] == "proposal" and strict[1] == direct
        assert strict[2] == direct.block.canonical_bytes and strict[3] == direct.block.txs
    return strict


picks_st = st.lists(st.integers(0, len(TXS) - 1), max_size=7, unique=True)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(picks=picks_st, extras=st.lists(json_value, max_size=3),
       round_=st.integers(0, 3), mutation=st.sampled_from(sorted(MUTATIONS)),
       r=st.integers(0, 10**6), flip=st.integers(0, 255), oversize=st.booleans())
def test_fast_path_equals_strict_path(
    picks: list[int], extras: list[Any], round_: int, mutation: str, r: int, flip: int,
    oversize: bool,
) -> None:
    data = _proposal(picks, extras, round_, round_ - 1)
    fn = MUTATIONS[mutation]
    if fn is None:
        pos = r % len(data)
        data = data[:pos] + bytes([flip]) + data[pos + 1:]
    else:
        data = fn(data.decode("utf-8"), r).encode("utf-8", "surrogatepass")
    check_same(data, len(data) - 1 if oversize else 16 * 1024 * 1024)


def test_valid_proposals_take_the_fast_path_and_reuse_the_mempool() -> None:
    data = _proposal([0, 1, 2, 3, 5, 6, 8], [{"k": [1, None, "é"]}], 1, 0)
    codec = _codec()
    msg = _proposal_fast(data, codec.decode_text)
    assert msg is not None and msg.to_bytes() == data
    assert (codec.reused, codec.parsed) == (7, 0)
    strict = decode_message_strict(data, _codec().decode)
    assert msg == strict and msg.block.canonical_bytes == strict.block.canonical_bytes
    assert isinstance(msg.block, Block)
    assert msg.block.txs == tuple(TXS[i] for i in (0, 1, 2, 3, 5, 6, 8))


def test_unknown_transactions_are_parsed_strictly() -> None:
    data = _proposal([4, 0, 9], [], 0, -1)  # 4 and 9 are not in the mempool
    codec = _codec()
    msg = _proposal_fast(data, codec.decode_text)
    assert msg is not None and (codec.reused, codec.parsed) == (1, 2)
    assert check_same(data)[0] == "proposal"


def test_a_mempool_transaction_too_deep_for_a_proposal_is_refused_as_strictly() -> None:
    data = _proposal([0, 7], [], 0, -1)
    assert _proposal_fast(data, _codec().decode_text) is None
    assert check_same(data) == ("refused", "malformed_message")
    assert check_same(_proposal([6], [], 0, -1))[0] == "proposal"  # one level less: fine


@pytest.mark.parametrize("mutation", sorted(m for m in MUTATIONS if m not in ("none",
                                                                              "byte_flip")))
def test_each_mutation_agrees(mutation: str) -> None:
    data = _proposal([0, 4, 8, 9], [{"k": "é"}, [1, 2]], 2, 1)
    fn = MUTATIONS[mutation]
    mutated = fn(data.decode("utf-8"), 65).encode("utf-8", "surrogatepass")
    result = check_same(mutated)
    if mutated != data:  # the fast path never answers a non-canonical or refused message
        assert _proposal_fast(mutated, _codec().decode_text) is None or result[0] == "proposal"


def test_wrong_chain_block_and_votes() -> None:
    assert check_same(_proposal([0], [], 0, -1, chain="fcl-other")) == (
        "refused", "malformed_message")
    vote = Vote.sign(OTHER, "prevote", CHAIN, 5, 0, "ab" * 32).to_bytes()
    assert check_same(vote) == ("vote", Vote.sign(OTHER, "prevote", CHAIN, 5, 0, "ab" * 32))
    assert check_same(b'{"block":') == ("refused", "malformed_message")
    data = _proposal([0], [], 0, -1)
    assert check_same(data, len(data) - 1) == ("refused", "oversized_message")


def test_decode_canonical_at() -> None:
    text = 'x{"a":[1,"b"],"c":null}y'
    assert decode_canonical_at(text, 1, 0) == ({"a": [1, "b"], "c": None}, len(text) - 1)
    for bad in ('x{"c":1,"a":2}', 'x{"a":1,"a":1}', 'x{"a": 1}', 'x{"a":1.0}',
                'x{"a":9007199254740992}', 'x{"\\u0061":1}', 'x{"a":"e\u0301"}', "x{"):
        assert decode_canonical_at(bad, 1, 0) is None, bad
    deep = json.dumps(_nested(10), separators=(",", ":"))
    assert decode_canonical_at(deep, 0, MAX_DEPTH - 10) is not None
    assert decode_canonical_at(deep, 0, MAX_DEPTH - 9) is None
