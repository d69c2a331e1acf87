"""The rules where docs/certificates.md and the verifier used to differ (issue 12): a genuine
certificate, mutated in one way, is refused by the named check with the named code --
the text encoding, the order of the provenance, the commit round, one event per type,
and the registration event's project."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from chaincode.certificate_links import CARBON_LINKS, LINK_CODES
from fcl.verify import main
from ledger.block import MAX_ROUND, CommitCertificate, vote_sign_bytes
from ledger.certificate import (
    CHECK_CODES,
    CertificateVerdict,
    verify_certificate,
    verify_certificate_bytes,
)
from ledger.encoding import canonical, decode
from ledger.errors import BlockError
from tests.support.certificates import World, reseal_block, shared_world, validator_key

DOC = Path(__file__).resolve().parents[2] / "docs" / "certificates.md"


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    return shared_world(tmp_path_factory)


def verify(world: World, cert: Any) -> CertificateVerdict:
    return verify_certificate(cert, genesis=world.chain.genesis, links=CARBON_LINKS)


def verify_bytes(world: World, data: bytes) -> CertificateVerdict:
    return verify_certificate_bytes(data, genesis=world.chain.genesis, links=CARBON_LINKS)


def refused(verdict: CertificateVerdict, check: str, code: str, *needles: str) -> None:
    assert not verdict.ok and verdict.summary is None
    failure = verdict.first_failure
    assert failure is not None and (failure.name, failure.code) == (check, code), failure
    for needle in needles:
        assert needle in failure.detail, failure


# -- 1. the text: UTF-8, no byte-order mark -------------------------------------------------
def test_genuine_bytes_verify(world):
    assert verify_bytes(world, canonical(world.cert(world.compliance_id))).ok


def test_byte_order_mark_is_refused(world):
    data = canonical(world.cert(world.compliance_id))
    assert decode(data.decode("utf-8-sig").encode("utf-8-sig")) == decode(data)  # JSON-wise the same
    refused(verify_bytes(world, b"\xef\xbb\xbf" + data), "format", "byte_order_mark",
            "byte-order mark")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_utf16_and_utf32_text_is_refused(world, encoding):
    data = canonical(world.cert(world.compliance_id))
    other = data.decode("utf-8").encode(encoding)
    assert json.loads(other) == json.loads(data)  # a JSON library would read it
    refused(verify_bytes(world, other), "format", "not_utf8", "UTF-8")


@pytest.mark.parametrize("junk", [b"\xff", b"\xc3", b"\xed\xa0\x80"])
def test_invalid_utf8_is_refused(world, junk):
    data = canonical(world.cert(world.compliance_id))
    i = data.index(b'"format"')
    refused(verify_bytes(world, data[:i] + junk + data[i:]), "format", "not_utf8")


def test_cli_reports_the_encoding_code(world, tmp_path, capsys):
    cert = tmp_path / "cert.json"
    cert.write_bytes(b"\xef\xbb\xbf" + canonical(world.cert(world.compliance_id)))
    genesis = tmp_path / "genesis.json"
    world.chain.genesis.dump(genesis)
    assert main(["verify", str(cert), "--genesis", str(genesis), "--json"]) == 1
    verdict = json.loads(capsys.readouterr().out)
    assert verdict["code"] == "format"
    assert verdict["checks"][0]["code"] == "byte_order_mark"
    cert.write_bytes(canonical(world.cert(world.compliance_id)).decode().encode("utf-16"))
    assert main(["verify", str(cert), "--genesis", str(genesis)]) == 1
    assert capsys.readouterr().out.startswith("INVALID: format: the certificate is UTF-16")


# -- 2. provenance in (height, index) order ---------------------------------------------------
def test_provenance_entries_swapped(world):
    cert = world.cert(world.compliance_id)
    prov = cert["provenance"]
    i = next(k for k in range(len(prov) - 1) if prov[k]["height"] < prov[k + 1]["height"])
    prov[i], prov[i + 1] = prov[i + 1], prov[i]
    refused(verify(world, cert), "format", "provenance_order", f"provenance[{i + 1}]",
            "comes before", "ordered by (height, index)")


def test_provenance_entries_of_one_block_swapped(world):
    cert = world.cert(world.compliance_id)
    prov = cert["provenance"]
    i = next(k for k in range(len(prov) - 1) if prov[k]["height"] == prov[k + 1]["height"])
    prov[i], prov[i + 1] = prov[i + 1], prov[i]
    refused(verify(world, cert), "format", "provenance_order")


def test_genuine_provenance_is_strictly_ordered(world):
    for rid in (world.compliance_id, world.voluntary_id):
        prov = world.cert(rid)["provenance"]
        positions = [(e["height"], e["index"]) for e in prov]
        assert positions == sorted(set(positions))


# -- 3. commit round within 0..2^31-1 ------------------------------------------------------------
@pytest.mark.parametrize("round_", [-1, MAX_ROUND + 1, 2**53 - 1])
def test_commit_round_outside_consensus_range(world, round_):
    cert = world.cert(world.compliance_id)
    anchor = str(cert["retirement"]["height"])
    cert["commits"][anchor]["round"] = round_
    refused(verify(world, cert), "format", "bad_commit_round", f"commit round {round_}",
            f"0..{MAX_ROUND}")


def test_commit_round_in_a_validator_set_change(world):
    cert = world.cert(world.voluntary_id)
    assert cert["validator_set_changes"]
    cert["validator_set_changes"][0]["commit"]["round"] = -1
    refused(verify(world, cert), "format", "bad_commit_round")


def _resign(cert: dict[str, Any], height: int, round_: int) -> None:
    commit = cert["commits"][str(height)]
    commit["round"] = round_
    msg = vote_sign_bytes("precommit", cert["chain_id"], height, round_, commit["block_hash"])
    keys = {validator_key(i).public_key_hex: validator_key(i) for i in range(12)}
    commit["signatures"] = [{"signature": keys[s["validator"]].sign_hex(msg),
                             "validator": s["validator"]} for s in commit["signatures"]]


def test_largest_round_is_accepted_when_signed(world):
    cert = world.cert(world.compliance_id)
    height = cert["retirement"]["height"]
    _resign(cert, height, MAX_ROUND)
    assert verify(world, cert).ok
    _resign(cert, height, MAX_ROUND + 1)  # honestly signed, but no round consensus reaches
    refused(verify(world, cert), "format", "bad_commit_round")


def test_commit_certificate_parsing_refuses_the_round():
    commit = {"block_hash": "00" * 32, "height": 1, "round": MAX_ROUND, "signatures": []}
    assert CommitCertificate.from_json(commit).round == MAX_ROUND
    for bad in (-1, MAX_ROUND + 1):
        with pytest.raises(BlockError) as info:
            CommitCertificate.from_json(dict(commit, round=bad))
        assert info.value.code == "bad_commit_round"


# -- 4. exactly one carbon.retired / carbon.issued (and every event the links read) ----------
def _resealed_retirement(world: World, mutate: Any) -> dict[str, Any]:
    cert = world.cert(world.compliance_id)
    h, i = cert["retirement"]["height"], cert["retirement"]["index"]
    block = world.chain.store.get_block(h)
    result = copy.deepcopy(block.results[i])
    mutate(result["events"])
    return reseal_block(world.chain, cert, h, {i: (block.txs[i].to_json(), result)})


def _retired(events: list[dict[str, Any]]) -> dict[str, Any]:
    return next(e for e in events if e["type"] == "carbon.retired")


@pytest.mark.parametrize("second", [
    lambda ev: copy.deepcopy(ev),  # an identical copy: still two
    lambda ev: dict(copy.deepcopy(ev), ranges=[]),  # a copy that says something else
    lambda ev: dict(copy.deepcopy(ev), quantity=1),
])
def test_second_retired_event_is_refused(world, second):
    assert verify(world, _resealed_retirement(world, lambda evs: None)).ok
    cert = _resealed_retirement(world, lambda evs: evs.append(second(_retired(evs))))
    refused(verify(world, cert), "links", "duplicate_event", "2 carbon.retired events",
            "exactly one")


def test_second_retired_event_first_in_order_is_refused(world):
    """The old reader took the first event: a forged one placed first is refused too."""
    def put_first(evs: list[dict[str, Any]]) -> None:
        evs.insert(0, dict(copy.deepcopy(_retired(evs)), enterprise="someone-else"))
    refused(verify(world, _resealed_retirement(world, put_first)), "links", "duplicate_event")


def _with_event_edit(world: World, role: str, edit: Any) -> dict[str, Any]:
    """``edit`` applied to the events of the (first) ``role`` entry's result, in place:
    the entry's block is earlier than the retirement's, so its inclusion proof now fails,
    but the links check runs on its own and must refuse the entry as well."""
    cert = world.cert(world.compliance_id)
    entry = next(e for e in cert["provenance"] if e["role"] == role)
    edit(entry["result"]["events"])
    return cert


def test_second_issued_event_is_refused(world):
    def duplicate(evs: list[dict[str, Any]]) -> None:
        issued = next(e for e in evs if e["type"] == "carbon.issued")
        evs.append(dict(copy.deepcopy(issued), last=issued["last"] + 1000))
    verdict = verify(world, _with_event_edit(world, "issuance", duplicate))
    assert not verdict.ok and verdict.code == "inclusion"
    links = verdict.check("links")
    assert not links.passed and not links.skipped
    assert links.code == "duplicate_event" and "2 carbon.issued events" in links.detail


def test_untouched_entries_link(world):
    verdict = verify(world, _with_event_edit(world, "issuance", lambda evs: None))
    assert verdict.ok


# -- 5. the registration event names the project ----------------------------------------------
def test_registration_event_of_another_project(world):
    def other(evs: list[dict[str, Any]]) -> None:
        next(e for e in evs if e["type"] == "carbon.project_registered")["project_id"] = "XX-9"
    verdict = verify(world, _with_event_edit(world, "registration", other))
    links = verdict.check("links")
    assert not links.passed and not links.skipped
    assert links.code == "registration_project_mismatch"
    assert "names project 'XX-9'" in links.detail


# -- the codes are documented -----------------------------------------------------------------
def test_every_verifier_code_is_in_the_document():
    text = DOC.read_text(encoding="utf-8")
    for code in [*CHECK_CODES, *LINK_CODES]:
        assert f"`{code}`" in text, code


@pytest.mark.parametrize("prefix,encoding", [(b"\xef\xbb\xbf", "utf-8"), (b"", "utf-16"),
                                             (b"", "utf-16-le"), (b"", "utf-32")])
def test_the_explorer_reads_the_bytes_as_fcl_verify_does(world, prefix, encoding):
    from explorer.inputs import ExplorerError
    from explorer.upload import parse_certificate

    data = canonical(world.cert(world.compliance_id))
    assert parse_certificate(data) == decode(data)
    with pytest.raises(ExplorerError) as info:
        parse_certificate(prefix + data.decode("utf-8").encode(encoding))
    assert info.value.code == "not_json"
