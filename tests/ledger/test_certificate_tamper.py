"""Tampering with a certificate at any place: a single changed byte of its canonical bytes,
or any value replaced by another, makes verification fail -- or changes nothing the
certificate proves. ``verify_certificate`` never raises."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chaincode.certificate_links import CARBON_LINKS
from ledger.certificate import CertificateVerdict, verify_certificate, verify_certificate_bytes
from ledger.encoding import CanonicalEncodingError, canonical, decode
from tests.support.certificates import World, shared_world

SETTINGS = settings(max_examples=250, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    return shared_world(tmp_path_factory)


@pytest.fixture(scope="module")
def originals(world) -> dict[str, tuple[bytes, CertificateVerdict]]:
    out = {}
    for name, rid in (("compliance", world.compliance_id), ("voluntary", world.voluntary_id)):
        data = canonical(world.cert(rid))
        verdict = verify_certificate_bytes(data, genesis=world.chain.genesis, links=CARBON_LINKS)
        assert verdict.ok and verdict.summary is not None
        out[name] = (data, verdict)
    return out


def _strip_positions(cert: Any) -> Any:
    """The certificate without the entries' ``index`` and ``size``: RFC 9162 proofs verify
    against a root for every (index, size) with the same path shape, and a block header
    does not commit to its number of transactions (see docs/certificates.md)."""
    cert = copy.deepcopy(cert)
    if isinstance(cert, dict):
        for e in [cert.get("retirement"), *(cert.get("provenance") or [])]:
            if isinstance(e, dict):
                e.pop("index", None)
                e.pop("size", None)
    return cert


def assert_rejected_or_harmless(world: World, original: bytes, base: CertificateVerdict,
                                mutated: bytes) -> None:
    verdict = verify_certificate_bytes(mutated, genesis=world.chain.genesis, links=CARBON_LINKS)
    if not verdict.ok:
        assert verdict.first_failure is not None
        return
    # accepted: then it must prove exactly what the original proves
    assert _strip_positions(decode(mutated)) == _strip_positions(decode(original))
    assert verdict.summary == base.summary


@pytest.mark.parametrize("which", ["compliance", "voluntary"])
def test_every_single_byte_change_fails(world, originals, which):
    data, base = originals[which]

    @SETTINGS
    # any byte, or a hex digit (most bytes are hex: the change then reaches past "format")
    @given(position=st.integers(0, len(data) - 1),
           value=st.integers(0, 255) | st.sampled_from(list(b"0123456789abcdef")))
    def check(position: int, value: int) -> None:
        if value == data[position]:
            value ^= 0x01
        mutated = data[:position] + bytes([value]) + data[position + 1:]
        assert_rejected_or_harmless(world, data, base, mutated)

    check()


def test_byte_changes_across_the_whole_certificate(world, originals):
    """Deterministic sweep: one position in every 127 bytes, changed to a neighbour byte
    (keeps most ASCII text decodable, so the checks past ``format`` are exercised)."""
    data, base = originals["voluntary"]
    for position in range(0, len(data), 127):
        mutated = data[:position] + bytes([data[position] ^ 0x01]) + data[position + 1:]
        assert_rejected_or_harmless(world, data, base, mutated)


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(value, dict):
        for k in sorted(value):
            out += _paths(value[k], (*prefix, k))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out += _paths(item, (*prefix, i))
    return out


def _replace(value: Any, path: tuple, new: Any) -> Any:
    if not path:
        return new
    value = copy.deepcopy(value)
    target = value
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = new
    return value


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.text(max_size=12) | st.sampled_from(["ok", "00" * 32, "retirement", "1"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)


def test_any_value_replaced_fails_and_nothing_raises(world, originals):
    data, base = originals["voluntary"]
    cert = decode(data)
    paths = _paths(cert)

    @SETTINGS
    @given(path=st.sampled_from(paths), new=JSON)
    def check(path: tuple, new: Any) -> None:
        mutated = _replace(cert, path, new)
        try:
            mutated_bytes = canonical(mutated)
        except CanonicalEncodingError:
            verdict = verify_certificate(mutated, genesis=world.chain.genesis, links=CARBON_LINKS)
            assert not verdict.ok and verdict.first_failure.name == "format"  # type: ignore[union-attr]
            return
        assert_rejected_or_harmless(world, data, base, mutated_bytes)

    check()


@SETTINGS
@given(value=JSON)
def test_arbitrary_json_is_not_a_certificate(value):
    verdict = verify_certificate(value, genesis_hash="00" * 32, links=CARBON_LINKS)
    assert isinstance(verdict, CertificateVerdict) and not verdict.ok


def test_tree_size_is_not_committed_by_the_header(world):
    """The known RFC 9162 caveat, pinned: the retirement is transaction 1 of 3 in its block,
    and its proofs also verify as transaction 1 of a 4-leaf tree. The claim proves the same
    transaction and result, so nothing the certificate states changes."""
    cert = world.cert(world.compliance_id)
    assert (cert["retirement"]["index"], cert["retirement"]["size"]) == (1, 3)
    base = verify_certificate(cert, genesis=world.chain.genesis, links=CARBON_LINKS)
    cert["retirement"]["size"] = 4
    verdict = verify_certificate(cert, genesis=world.chain.genesis, links=CARBON_LINKS)
    assert verdict.ok and verdict.summary == base.summary
    cert["retirement"]["size"] = 5
    assert verify_certificate(cert, genesis=world.chain.genesis, links=CARBON_LINKS).code == "inclusion"
