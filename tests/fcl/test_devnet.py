"""The devnet's sample (fcl/devnet/sample.py) and the ``fcl devnet`` command.

Fast tests run the sample in-process through the real chaincode (``ChainNode`` over the
Harness): its data, the whole lifecycle, resuming after an interruption, the marker and
the errors. The ``slow`` tests run ``fcl devnet ... --once`` as real processes on free
127.0.0.1 ports: a fresh run writes two certificates that verify offline, a second run
resumes without re-running the sample, a busy port is reported, and SIGTERM stops the
nodes cleanly.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import stat
from pathlib import Path

import pytest
from shapely.geometry import Polygon as ShapelyPolygon

from chaincode import queries
from chaincode.certificate_links import CARBON_LINKS
from chaincode.holding_proof import verify_holding_proof_bytes
from chaincode.params import DEFAULT_PARAMS
from fcl.devnet.cli import register
from fcl.devnet.sample import (
    COUNTY_CODE,
    ORGS,
    PERIODS,
    PLOTS,
    PROJECT_ID,
    SampleError,
    SampleResult,
    declared_area_ha,
    issuable_for,
    plot_polygon,
    resolve_parties,
    run_sample,
    sample_key_names,
)
from ledger.certificate import verify_certificate_bytes
from ledger.fixedpoint import parse_decimal
from ledger.genesis import Genesis
from tests.support.carbon_market import check_invariants
from tests.support.devnet import (
    ChainNode,
    ServingDevnet,
    free_base_port,
    run_devnet_once,
    sample_marker,
)
from tests.support.harness import DEFAULT_ORGS, Harness, det_key
from wallet.keystore import Keystore

PASSPHRASE = "devnet test passphrase"
TEST_SCRYPT_N = 2**4
# the organisations a `fcl testnet` genesis of 4 validators has (fcl/testnet/files.py)
TESTNET_ORGS = {"regulator": (["regulator"], None), "exchange": (["exchange"], None),
                "verifier-1": (["verifier"], "CNCA-V-001"),
                "verifier-2": (["verifier"], "CNCA-V-002")}


# --------------------------------------------------------------------------- fixtures


#: 2026-11-01 00:00 UTC: the sample's monitoring periods, site visits and issuances are
#: business dates the ledger checks against block time, so its blocks come after them
#: (the last period ends 2026-09-30, its site visit is 2026-10-20).
SAMPLE_BLOCK_TIME_MS = 1_793_491_200_000


def regulator_only_harness(params: dict | None = None) -> Harness:
    h = Harness(orgs={"regulator": DEFAULT_ORGS["regulator"]}, params=params)
    h.time = SAMPLE_BLOCK_TIME_MS
    return h


def keystore_with_regulator(tmp_path: Path, h: Harness,
                            orgs: tuple[str, ...] = ("regulator",)) -> Keystore:
    """A keystore holding the admin keys of the genesis organisations ``orgs`` (named by
    organisation id, as fcl devnet copies them)."""
    ks = Keystore(tmp_path / "wallet", insecure_test_scrypt_n=TEST_SCRYPT_N)
    for org in orgs:
        ks.import_seed(org, h.key(org).seed_bytes(), PASSPHRASE)
    return ks


def key_map(ks: Keystore) -> dict[str, str]:
    return {e.public_key: e.name for e in ks.list()}


def run(h: Harness, node: ChainNode, ks: Keystore, state: Path | None,
        lines: list[str] | None = None) -> SampleResult:
    out = lines if lines is not None else []
    return run_sample(["http://node0.test:1"], ks, PASSPHRASE, h.genesis, out.append,
                      state_file=state, client_factory=node.client)


# --------------------------------------------------------------------------- sample data


def test_plots_are_valid_disjoint_and_declared_consistently() -> None:
    tolerance = parse_decimal(DEFAULT_PARAMS["area_tolerance"], field="t")
    shapes = []
    for plot in PLOTS:
        ring = plot_polygon(plot)["coordinates"][0]
        shape = ShapelyPolygon([(x / 1e7, y / 1e7) for x, y in ring])
        assert shape.is_valid, plot.plot_id
        assert all(not shape.intersects(other) for other in shapes), plot.plot_id
        shapes.append(shape)
        declared = parse_decimal(declared_area_ha(plot), field="a")
        assert declared >= 5, f"{plot.plot_id}: {declared} ha is not 'a few ha'"
        # Xiuning County, south of Huangshan: lon 117.6..118.5, lat 29.4..30.0
        assert 117.6 < shape.centroid.x < 118.5 and 29.4 < shape.centroid.y < 30.0
        from chaincode.geometry import geodesic_area_m2_rational, parse_polygon

        exact = geodesic_area_m2_rational(parse_polygon(plot_polygon(plot))) / 10_000
        assert abs(declared - exact) <= tolerance * exact
        assert abs(declared - exact) < parse_decimal("0.01", field="x")
    assert {p.species for p in PLOTS} == {"chinese_fir", "masson_pine"}
    assert COUNTY_CODE == "341022"


def test_parties_come_from_the_genesis_when_their_keys_are_held(tmp_path: Path) -> None:
    roles = [r for org in ORGS for r in org.roles]
    assert roles.count("verifier") == 3 and roles.count("buyer") == 2
    assert {"owner", "exchange"} <= set(roles)
    assert all((o.accreditation is not None) == ("verifier" in o.roles) for o in ORGS)

    # a dev genesis with only a regulator: the sample enrols everybody else
    h = regulator_only_harness()
    parties = resolve_parties(h.genesis, key_map(keystore_with_regulator(tmp_path / "a", h)))
    assert parties["regulator"].org_id == "regulator" and parties["regulator"].enrol is None
    assert {s: p.org_id for s, p in parties.items() if p.enrol is not None} == {
        "owner": "xiuning-farm", "coop": "longtian-coop", "verifier_a": "ecfv",
        "verifier_b": "wjcert", "verifier_c": "hlcert", "exchange": "ahcee", "cement": "wanjiang-cement",
        "fund": "huangshan-fund"}
    names = sample_key_names(parties)
    assert len(names) == len(set(names)) == 12 and names[0] == "regulator"

    # a testnet genesis: its exchange and verification bodies take part
    t = Harness(orgs=TESTNET_ORGS)
    t.time = SAMPLE_BLOCK_TIME_MS
    ks = keystore_with_regulator(tmp_path / "b", t, tuple(TESTNET_ORGS))
    parties = resolve_parties(t.genesis, key_map(ks))
    assert [parties[s].org_id for s in ("exchange", "verifier_a", "verifier_b", "verifier_c")] == [
        "exchange", "verifier-1", "verifier-2", "hlcert"]
    assert parties["verifier_c"].enrol is not None  # a testnet genesis has two verifiers
    assert parties["exchange"].members == {"matching": "exchange-matching"}
    assert parties["exchange"].enrol is None and parties["owner"].enrol is not None
    # ... but not when the keystore does not hold their keys
    ks = keystore_with_regulator(tmp_path / "c", t, ("regulator", "verifier-2"))
    parties = resolve_parties(t.genesis, key_map(ks))
    assert [parties[s].org_id for s in ("exchange", "verifier_a", "verifier_b")] == [
        "ahcee", "verifier-2", "wjcert"]


def test_claims_follow_the_genesis_species_table() -> None:
    genesis = regulator_only_harness().genesis
    # growth, growth, the fall (nothing), regrowth below the peak (nothing), above the peak
    assert [issuable_for(p, genesis) for p in PERIODS] == [2671, 3893, 0, 0, 855]
    # a genesis with other parameters gives other claims (they are not constants)
    table = json.loads(json.dumps(DEFAULT_PARAMS["species_table"]))
    table["chinese_fir"]["cf"] = "0.47"
    other = regulator_only_harness({"species_table": table}).genesis
    assert issuable_for(PERIODS[0], other) < 2671


# --------------------------------------------------------------------------- the lifecycle


def test_sample_runs_the_whole_lifecycle_through_the_chaincode(tmp_path: Path) -> None:
    h = regulator_only_harness()
    node = ChainNode(h)
    lines: list[str] = []
    result = run(h, node, keystore_with_regulator(tmp_path, h), tmp_path / "sample.json", lines)

    assert result.complete and result.project_id == PROJECT_ID
    assert result.batch_ids == ["AH-XN-0001-B2020", "AH-XN-0001-B2023", "AH-XN-0001-B2026"]
    assert any("[19/27] subsidy accrual: 2 tx ok" in line for line in lines)
    assert any("[27/27] issuance of vintage 2026: 1 tx ok" in line for line in lines)
    # every committed transaction of the sample succeeded, one stage per block
    assert len(node.submitted) == len(result.tx_ids) == 42
    assert all(rec["result"]["code"] == "ok" for rec in node.committed.values())
    assert h.height == 27 == result.final_height
    check_invariants(h.state)

    totals = queries.totals(h.state)
    assert totals["issued"] == 2671 + 3815 + 855 and totals["retired"] == 1250
    assert totals["issued"] == sum(totals[k] for k in
                                   ("held", "listed", "retired", "cancelled", "buffer"))
    rets = queries.retirements(h.state)["retirements"]
    assert [(r["purpose"], r["quantity"], r["enterprise"]) for r in rets] == [
        ("compliance", 1000, "wanjiang-cement"), ("voluntary", 250, "huangshan-fund")]
    assert [r["id"] for r in rets] == [result.compliance_retirement_id,
                                       result.voluntary_retirement_id]
    assert h.get("obligation/wanjiang-cement/2025")["retired"] == 1000  # cap 2400

    # the compliance retirement was signed by the clerk's member key enrolled by its admin
    trace = queries.trace(h.state, f"{PROJECT_ID}:1")
    assert [s["action"] for s in trace["steps"]] == ["issue", "list", "trade", "retire"]
    assert trace["plots"] == [p.plot_id for p in PLOTS]
    clerk = node.committed[result.compliance_retirement_id]["tx"]["payload"]["signers"]
    assert clerk == [Keystore(tmp_path / "wallet").public_key("wanjiang-cement-clerk")]
    # the off-exchange transfers carry both parties' signatures
    fund_tx = node.committed[result.tx_ids["transfer:fund"]]["tx"]["payload"]
    assert len(fund_tx["signers"]) == 2
    # the subsidy accrues on the owner's share: 2671 t less 401 t to the buffer pool, x 30
    assert h.get(f"batch/{result.batch_ids[0]}")["owner_quantity"] == 2270
    assert h.get("subsidy/AH-XN-0001-B2020")["amount"] == "68100.00"
    # both sales by the owner (1200 t at 62.50 on the exchange, 600 t at 58.00 off it) are
    # primary: 109800.00 split 60/30/10
    assert queries.benefit_shares(h.state, PROJECT_ID)["farmers"] == "32940.00"
    marker = json.loads((tmp_path / "sample.json").read_text())
    assert marker["complete"] is True and marker["genesis_hash"] == h.genesis.hash


def test_sample_on_a_testnet_genesis_uses_its_operators(tmp_path: Path) -> None:
    """With a `fcl testnet` genesis the exchange and verification bodies that operate the
    validators take part; the sample enrols only the owner, cooperative and buyers."""
    h = Harness(orgs=TESTNET_ORGS)
    h.time = SAMPLE_BLOCK_TIME_MS
    node = ChainNode(h)
    ks = keystore_with_regulator(tmp_path, h, tuple(TESTNET_ORGS))
    result = run(h, node, ks, None)
    assert result.complete
    enrolled = sorted(k.split(":", 1)[1] for k in result.tx_ids if k.startswith("enrol_org:"))
    assert enrolled == ["hlcert", "huangshan-fund", "longtian-coop", "wanjiang-cement",
                        "xiuning-farm"]
    assert h.get("attestation/VAL-2023-077")["verifier_org"] == "verifier-1"
    # the validating body verifies none of the periods; no body verifies three in a row
    verifiers = [h.get(f"attestation/{p.attestation_id}")["verifier_org"] for p in PERIODS]
    assert verifiers == ["verifier-2", "verifier-2", "hlcert", "hlcert", "verifier-2"]
    trade = h.get(f"trade/{result.trade_id}")
    assert trade["exchange"] == "exchange" and trade["buyer"] == "wanjiang-cement"
    matcher = node.committed[result.trade_id]["tx"]["payload"]["signers"]
    assert matcher == [ks.public_key("exchange-matching")]
    assert h.get(f"key/{matcher[0]}")["org"] == "exchange"
    check_invariants(h.state)


def test_a_completed_sample_is_not_run_again(tmp_path: Path) -> None:
    h = regulator_only_harness()
    node = ChainNode(h)
    ks = keystore_with_regulator(tmp_path, h)
    first = run(h, node, ks, tmp_path / "sample.json")
    height = h.height
    lines: list[str] = []
    again = run(h, ChainNode(h, fail_after_batches=0), ks, tmp_path / "sample.json", lines)
    assert h.height == height
    assert again.to_json() == first.to_json()
    assert any("already ran" in line for line in lines)


def test_an_interrupted_sample_resumes_where_it_stopped(tmp_path: Path) -> None:
    h = regulator_only_harness()
    ks = keystore_with_regulator(tmp_path, h)
    state = tmp_path / "sample.json"
    with pytest.raises(SampleError) as err:
        run(h, ChainNode(h, fail_after_batches=8), ks, state)
    assert err.value.code == "sample_unreachable"
    partial = SampleResult.from_json(json.loads(state.read_text()))
    assert not partial.complete and h.height == 8

    node = ChainNode(h)
    node.committed = {}  # the new node knows nothing of the earlier blocks' records
    lines: list[str] = []
    result = run(h, node, ks, state, lines)
    assert result.complete
    assert sum("done earlier" in line for line in lines) == 8
    assert node.duplicates == []  # nothing was sent twice
    check_invariants(h.state)


def test_resuming_without_progress_file_reuses_the_same_transactions(tmp_path: Path) -> None:
    """Deterministic nonces: a lost progress file re-sends the same transactions, which the
    node answers with duplicate_tx, and the sample reads their committed results."""
    h = regulator_only_harness()
    ks = keystore_with_regulator(tmp_path, h)
    node = ChainNode(h)
    first = run(h, node, ks, tmp_path / "a.json")
    height = h.height
    again = run(h, node, ks, tmp_path / "b.json")
    assert h.height == height
    assert again.tx_ids == first.tx_ids
    assert len(node.duplicates) == len(first.tx_ids)
    assert again.compliance_retirement_id == first.compliance_retirement_id


def test_a_failing_step_is_named(tmp_path: Path) -> None:
    h = regulator_only_harness({"methodologies": ["CCER-14-002-V01"]})
    with pytest.raises(SampleError) as err:
        run(h, ChainNode(h), keystore_with_regulator(tmp_path, h), None)
    assert err.value.code == "sample_step_failed"
    assert "submit the project design document" in err.value.message
    assert "unknown_methodology" in err.value.message


def test_a_refused_transaction_is_named(tmp_path: Path) -> None:
    h = regulator_only_harness()
    ks = keystore_with_regulator(tmp_path, h)
    other = Genesis.from_json(dict(h.genesis.doc, chain_id="fcl-other"))
    node = ChainNode(h)
    with pytest.raises(SampleError) as err:
        run_sample(["http://node0.test:1"], ks, PASSPHRASE, other, lambda s: None,
                   client_factory=node.client)
    assert err.value.code == "sample_step_failed"
    assert "enrol the sample's organisations" in err.value.message
    assert "wrong_chain" in err.value.message
    assert h.height == 0


def test_setup_errors(tmp_path: Path) -> None:
    h = regulator_only_harness()
    node = ChainNode(h)
    empty = Keystore(tmp_path / "empty", insecure_test_scrypt_n=TEST_SCRYPT_N)
    with pytest.raises(SampleError) as err:
        run(h, node, empty, None)
    assert err.value.code == "sample_setup" and "regulator" in err.value.message

    stranger = Keystore(tmp_path / "stranger", insecure_test_scrypt_n=TEST_SCRYPT_N)
    stranger.import_seed("regulator", det_key("not-the-regulator").seed_bytes(), PASSPHRASE)
    with pytest.raises(SampleError) as err:
        run(h, node, stranger, None)
    assert err.value.code == "sample_setup" and "regulator" in err.value.message

    # a genesis organisation with a sample id whose key is not ours
    taken = Harness(orgs={"regulator": DEFAULT_ORGS["regulator"], "huangshan-fund": (["buyer"], None)})
    with pytest.raises(SampleError) as err:
        run(taken, ChainNode(taken), keystore_with_regulator(tmp_path / "t", taken), None)
    assert err.value.code == "sample_setup" and "huangshan-fund" in err.value.message

    state = tmp_path / "sample.json"
    state.write_text(json.dumps(SampleResult(chain_id="x", genesis_hash="0" * 64).to_json()))
    with pytest.raises(SampleError) as err:
        run(h, node, keystore_with_regulator(tmp_path, h), state)
    assert err.value.code == "sample_setup" and "another network" in err.value.message
    state.write_text("{not json")
    with pytest.raises(SampleError) as err:
        run(h, node, keystore_with_regulator(tmp_path / "x", h), state)
    assert err.value.code == "sample_setup"
    assert h.height == 0 and node.submitted == []


def test_cli_registers_devnet_with_its_options() -> None:
    parser = argparse.ArgumentParser(prog="fcl")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["devnet"])
    assert (args.data, args.base_port, args.validators, args.once) == ("devnet", 26657, 4, False)
    args = parser.parse_args(["devnet", "--data", "d", "--base-port", "30000", "--once",
                              "--validators", "1"])
    assert (args.data, args.base_port, args.validators, args.once) == ("d", 30000, 1, True)
    assert callable(args.func)
    for bad in (["--base-port", "80"], ["--base-port", "x"], ["--validators", "0"]):
        with pytest.raises(SystemExit):
            parser.parse_args(["devnet", *bad])


# --------------------------------------------------------------------------- processes


def port_free(port: int) -> bool:
    """Nothing listens on ``port``. With SO_REUSEADDR, as the nodes' servers bind: without
    it a connection the server closed first (its TIME_WAIT, for a minute) makes the port
    look taken though no process holds it."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def node_ports(data: Path) -> list[int]:
    return [json.loads((home / "config.json").read_text())["rpc"]["port"]
            for home in sorted(data.glob("node*")) if (home / "config.json").exists()]


@pytest.mark.slow
def test_devnet_once_certificates_and_resume(tmp_path: Path) -> None:
    data = tmp_path / "devnet"
    port = free_base_port()
    first = run_devnet_once(data, port)
    assert first.returncode == 0, first.stdout + first.stderr
    out = first.stdout
    assert "explorer:" in out and f"http://127.0.0.1:{port}" in out
    assert "[19/27] subsidy accrual" in out and "[27/27] issuance of vintage 2026" in out

    # files in DIR
    assert stat.S_IMODE(os.stat(data / "passphrase").st_mode) == 0o600
    genesis = Genesis.load(data / "genesis.json")
    marker = sample_marker(data)
    assert marker["complete"] and marker["genesis_hash"] == genesis.hash
    assert (data / "node0" / "node.log").stat().st_size > 0
    ks = Keystore(data / "wallet")
    parties = resolve_parties(genesis, key_map(ks))
    assert set(sample_key_names(parties)) <= {e.name for e in ks.list()}
    if len(genesis.validators.to_json()) == 4:  # fcl testnet: operators take part
        assert parties["exchange"].org_id == "exchange"
        assert parties["verifier_b"].org_id == "verifier-2"
    certs = sorted((data / "certificates").glob("*.json"))
    assert [c.name.split("-", 1)[0] for c in certs] == ["compliance", "voluntary"]
    assert certs[0].name == f"compliance-{marker['compliance_retirement_id']}.json"
    for cert in certs:
        verdict = verify_certificate_bytes(cert.read_bytes(), genesis=genesis, links=CARBON_LINKS)
        assert verdict.ok, verdict.message
    # a tampered certificate does not verify against the same genesis
    doc = json.loads(certs[1].read_text())
    text = json.dumps(doc).replace("Huangshan Scenic Area", "Huangshan Scen1c Area")
    assert text != json.dumps(doc)
    assert not verify_certificate_bytes(text.encode(), genesis=genesis, links=CARBON_LINKS).ok
    height = [line for line in out.splitlines() if line.startswith("chain height:")]
    assert all(port_free(p) for p in node_ports(data)), "nodes left running"

    # a second run resumes: same network, the sample is not run again
    cert_bytes = [c.read_bytes() for c in certs]
    second = run_devnet_once(data, port)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "resuming the devnet" in second.stdout
    assert "not running it again" in second.stdout
    assert "enrol the sample's organisations" not in second.stdout
    assert [line for line in second.stdout.splitlines()
            if line.startswith("chain height:")] == height
    assert [c.read_bytes() for c in certs] == cert_bytes
    assert sample_marker(data) == marker
    assert all(port_free(p) for p in node_ports(data)), "nodes left running"

    # a busy RPC port is reported before anything starts
    with socket.socket() as s:
        s.bind(("127.0.0.1", node_ports(data)[0]))
        s.listen()
        busy = run_devnet_once(data, port)
    assert busy.returncode == 1
    assert "error: port_in_use" in busy.stderr

    # serving: SIGTERM stops every node cleanly, exit 0, ports free again
    serving = ServingDevnet(data, port)
    try:
        url = serving.wait_ready()
        assert url.endswith("/explorer/")
        _holding_proof_from_a_validator(data, genesis, json.loads(certs[0].read_text()))
    finally:
        code = serving.stop()
    assert code == 0, "\n".join(serving.lines[-30:])
    assert any("stopping" in line for line in serving.lines)
    assert all(port_free(p) for p in node_ports(data)), "nodes left running"


def _holding_proof_from_a_validator(data: Path, genesis: Genesis, cert: dict) -> None:
    """Issue 12: a holding proof of the compliance retirement's first range, fetched from
    validator 2 of the running 4-validator devnet, verifies offline against the genesis
    (retired, held by the enterprise), and fails once any byte of it changes."""
    import httpx

    (event,) = [e for e in cert["retirement"]["result"]["events"] if e["type"] == "carbon.retired"]
    r = event["ranges"][0]
    api = f"http://127.0.0.1:{node_ports(data)[2]}"
    answer = httpx.get(f"{api}/v1/holdings/proof", timeout=30, params={
        "project_id": r["project_id"], "first": r["first"], "last": r["last"]})
    assert answer.status_code == 200, answer.text
    raw = answer.content
    verdict = verify_holding_proof_bytes(raw, genesis=genesis)
    assert verdict.ok, verdict.message
    assert verdict.summary is not None
    assert [(x.status, x.account, x.first, x.last) for x in verdict.summary.ranges] == [
        ("retired", event["enterprise"], r["first"], r["last"])]
    # any changed byte (a digit, a letter of a hash, a quote) breaks it
    step = max(1, len(raw) // 97)
    for at in range(0, len(raw), step):
        flipped = raw[:at] + bytes([raw[at] ^ 0x01]) + raw[at + 1:]
        assert not verify_holding_proof_bytes(flipped, genesis=genesis).ok, at
