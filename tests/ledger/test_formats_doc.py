"""docs/formats.md states what the code does: the event tables list exactly the events
``chaincode/`` emits (an AST scan of every ``ctx.emit`` call) with their field names, and
the constants, patterns and rules it states are the code's."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chaincode.framework import MAX_EVENTS_PER_TX, ROLES
from chaincode.schema import ID_RE
from ledger.block import MAX_BLOCK_TXS
from ledger.crypto import ED25519_L, ED25519_P, SMALL_ORDER_Y, PrivateKey
from ledger.encoding import canonical
from ledger.errors import BlockError, TxError
from ledger.genesis import GENESIS_FIELDS, MAX_GENESIS_BYTES, Genesis
from ledger.tx import (
    CHAIN_ID_RE,
    MAX_NONCE_LEN,
    MAX_SIGNERS,
    MAX_TX_BYTES,
    NAME_RE,
    build_transaction,
    parse_transaction,
)
from ledger.validators import MAX_POWER, MAX_VALIDATORS, VALIDATOR_NAME_RE, ValidatorSet

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "formats.md").read_text(encoding="utf-8")

#: ``ctx.emit`` calls whose event type or fields are not literal, resolved by hand:
#: (file, enclosing function) -> {event type: extra fields}. A new dynamic call fails
#: :func:`test_every_dynamic_emit_is_resolved` until it is listed here.
DYNAMIC_TYPES: dict[tuple[str, str], tuple[str, ...]] = {
    # _record_range_change(ctx, prefix, event, ...): f"carbon.{action}" and "carbon.invalidated"
    ("carbon_market.py", "_record_range_change"): ("carbon.freeze", "carbon.unfreeze",
                                                   "carbon.invalidated"),
}
DYNAMIC_FIELDS: dict[tuple[str, str], tuple[str, ...]] = {
    # **window: _comment_window() returns {"end_date", "start_date"}
    ("carbon_registry.py", "record_comment_window"): ("end_date", "start_date"),
}


def _emit_sites() -> list[tuple[str, str, ast.Call]]:
    out = []
    for path in sorted((ROOT / "chaincode").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for fn in ast.walk(tree):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(fn):
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                        and node.func.attr == "emit"):
                    out.append((path.name, fn.name, node))
    return out


def emitted_events() -> dict[str, set[str]]:
    """Every event type ``chaincode/`` emits, with the union of its field names."""
    events: dict[str, set[str]] = {}
    seen: set[int] = set()
    for file, fn, call in _emit_sites():
        if id(call) in seen:  # nested functions are walked twice
            continue
        seen.add(id(call))
        first = call.args[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            types: tuple[str, ...] = (first.value,)
        else:
            types = DYNAMIC_TYPES[(file, fn)]
        fields = {k.arg for k in call.keywords if k.arg is not None}
        if any(k.arg is None for k in call.keywords):
            fields |= set(DYNAMIC_FIELDS[(file, fn)])
        for t in types:
            events.setdefault(t, set()).update(fields)
    return events


def documented_events() -> dict[str, set[str]]:
    events: dict[str, set[str]] = {}
    section = DOC.split("## Results and events", 1)[1].split("\n## ", 1)[0]
    for line in section.splitlines():
        m = re.match(r"^\| `([a-z_]+\.[a-z_]+)` \| (.*) \|$", line)
        if m:
            assert m.group(1) not in events, f"{m.group(1)} documented twice"
            # field names are the backticked words not inside a {...} description
            cell = re.sub(r"\{[^}]*\}", "", m.group(2))
            events[m.group(1)] = set(re.findall(r"`([a-z_0-9]+)`", cell))
    return events


def test_every_dynamic_emit_is_resolved():
    for file, fn, call in _emit_sites():
        first = call.args[0]
        if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
            assert (file, fn) in DYNAMIC_TYPES, f"{file}:{call.lineno} emits a computed type"
        if any(k.arg is None for k in call.keywords):
            assert (file, fn) in DYNAMIC_FIELDS, f"{file}:{call.lineno} emits **fields"
    market = (ROOT / "chaincode" / "carbon_market.py").read_text(encoding="utf-8")
    assert 'f"carbon.{action}"' in market and '"carbon.invalidated"' in market
    assert 'action = "freeze" if frozen else "unfreeze"' in market


def test_event_tables_list_exactly_the_emitted_events():
    code, doc = emitted_events(), documented_events()
    assert sorted(set(code) - set(doc)) == [], "emitted but not documented in docs/formats.md"
    assert sorted(set(doc) - set(code)) == [], "documented but never emitted"
    for event in sorted(code):
        assert doc[event] == code[event], event


def test_the_scan_finds_the_events_a_certificate_reads():
    code = emitted_events()
    assert {"ranges", "retirement_id", "quantity", "purpose"} <= code["carbon.retired"]
    assert {"project_id", "validation_attestation"} <= code["carbon.project_registered"]
    assert code["carbon.comment_window_recorded"] == {"project_id", "start_date", "end_date"}


def _pattern(regex: re.Pattern[str]) -> str:
    return regex.pattern.removeprefix("^").removesuffix("\\Z")


@pytest.mark.parametrize("regex", [CHAIN_ID_RE, NAME_RE, VALIDATOR_NAME_RE, ID_RE])
def test_patterns_are_the_codes(regex):
    assert f"`{_pattern(regex)}`" in DOC


def test_constants_are_the_codes():
    assert sorted(GENESIS_FIELDS) == ["app_state", "chain_id", "genesis_time", "validators"]
    assert MAX_GENESIS_BYTES == 16 * 1024 * 1024 and "16 MiB" in DOC
    assert f"1..{MAX_VALIDATORS} (`MAX_VALIDATORS`)" in DOC
    assert MAX_POWER == 10**9 and "`1 ≤ power ≤ 10^9` (`MAX_POWER`)" in DOC
    assert f"1..{MAX_NONCE_LEN} characters (`MAX_NONCE_LEN`)" in DOC
    assert f"1..{MAX_SIGNERS} (`MAX_SIGNERS`)" in DOC
    assert f"≤ {MAX_TX_BYTES}`" in DOC
    assert f"at most {MAX_BLOCK_TXS} transactions" in DOC
    assert f"at most {MAX_EVENTS_PER_TX}" in DOC
    for role in ROLES:
        assert f"`{role}`" in DOC
    assert ED25519_L == 2**252 + 27742317777372353535851937790883648493
    assert "`L = 2^252 + 27742317777372353535851937790883648493`" in DOC
    assert ED25519_P == 2**255 - 19
    y8 = min(y for y in SMALL_ORDER_Y if 1 < y < ED25519_P - 1)
    assert f"`{y8}`" in DOC and f"`p − {y8}`" in DOC
    assert SMALL_ORDER_Y == {0, 1, y8, ED25519_P - y8, ED25519_P - 1, ED25519_P, ED25519_P + 1}


# -- behaviour the document states ---------------------------------------------------------
KEY = PrivateKey(bytes(range(32)))


def _tx(nonce: str = "n", args: dict | None = None, keys: int = 1) -> dict:
    ks = [PrivateKey(bytes([i]) * 32) for i in range(1, keys + 1)]
    return build_transaction(chain_id="fcl-test", contract="carbon", method="issue",
                             args=args or {}, nonce=nonce, keys=ks).to_json()


def test_nonce_length():
    assert parse_transaction(_tx(nonce="é" * MAX_NONCE_LEN))  # characters, not bytes
    for bad in ("", "x" * (MAX_NONCE_LEN + 1)):
        with pytest.raises(TxError) as info:
            _tx(nonce=bad)
        assert info.value.code == "malformed_tx"


def test_size_formula_is_exact():
    for keys in (1, 3):
        tx = _tx(keys=keys)
        over = len(canonical(tx["payload"])) + 130 * keys + 32 - MAX_TX_BYTES
        pad = "x" * (-over)  # exactly at the limit
        tx = _tx(args={"p": pad[: len(pad) - len('"p":""')]}, keys=keys)
        size = len(canonical(tx["payload"])) + 130 * keys + 32
        assert size == MAX_TX_BYTES
        parse_transaction(tx)
        with pytest.raises(TxError) as info:
            _tx(args={"p": pad[: len(pad) - len('"p":""')] + "x"}, keys=keys)
        assert info.value.code == "tx_too_large"


@pytest.mark.parametrize("name", ["Carbon", "1carbon", "car-bon", "c" * 65, ""])
def test_contract_and_method_syntax(name):
    tx = _tx()
    for field in ("contract", "method"):
        bad = dict(tx, payload=dict(tx["payload"], **{field: name}))
        with pytest.raises(TxError):
            parse_transaction(bad)


def test_chain_id_must_be_the_networks():
    with pytest.raises(TxError) as info:
        parse_transaction(_tx(), chain_id="fcl-other")
    assert info.value.code == "wrong_chain"


@settings(max_examples=200, deadline=None)
@given(powers=st.lists(st.integers(1, MAX_POWER), min_size=1, max_size=7))
def test_quorum_and_proposer_as_documented(powers):
    vset = ValidatorSet.from_json([
        {"name": f"v{i}", "power": p, "pub_key": f"{i:064x}"} for i, p in enumerate(powers)])
    total = sum(powers)
    assert vset.has_quorum(total * 2 // 3 + 1) and not vset.has_quorum(total * 2 // 3)
    assert vset.quorum_power() == total * 2 // 3 + 1
    for height, round_ in ((1, 0), (7, 3), (10**6, 5)):
        slot, owner = (height + round_) % total, None
        for i, p in enumerate(powers):
            if slot < p:
                owner = f"v{i}"
                break
            slot -= p
        assert vset.proposer(height, round_).name == owner


@pytest.mark.parametrize("items", [
    [],
    [{"name": f"v{i}", "power": 1, "pub_key": f"{i:064x}"} for i in range(MAX_VALIDATORS + 1)],
    [{"name": "v", "power": 0, "pub_key": "00" * 32}],
    [{"name": "v", "power": MAX_POWER + 1, "pub_key": "00" * 32}],
    [{"name": "v", "power": 1, "pub_key": "00" * 32}, {"name": "v", "power": 1, "pub_key": "11" * 32}],
    [{"name": "v", "power": 1, "pub_key": "00" * 32}, {"name": "w", "power": 1, "pub_key": "00" * 32}],
    [{"name": "-v", "power": 1, "pub_key": "00" * 32}],
    [{"name": "v", "power": 1, "pub_key": "AA" * 32}],
    [{"name": "v", "power": 1, "pub_key": "00" * 32, "extra": 1}],
])
def test_invalid_validator_sets(items):
    with pytest.raises(BlockError) as info:
        ValidatorSet.from_json(items)
    assert info.value.code == "invalid_validator_set"


def test_genesis_fields():
    good = {"app_state": {}, "chain_id": "fcl-test", "genesis_time": 0,
            "validators": [{"name": "v", "power": 1, "pub_key": KEY.public_key_hex}]}
    assert Genesis.from_json(good).chain_id == "fcl-test"
    for bad in (dict(good, extra=1), dict(good, chain_id="ab"), dict(good, genesis_time=-1),
                dict(good, app_state=[]), {k: v for k, v in good.items() if k != "app_state"}):
        with pytest.raises(BlockError) as info:
            Genesis.from_json(bad)
        assert info.value.code == "malformed_genesis"
