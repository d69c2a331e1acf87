"""Shared builders for the explorer tests (no tests in this module).

``Chain`` commits real blocks to a real ``ledger.store.Store`` through
``node.chain.app.Application`` (tests only: the explorer itself never imports ``node``), with a
one-validator commit certificate signed like ``node/driver/solo.py`` does. ``build_scenario``
runs a lifecycle over it: plots (Anhui polygons and squares), projects, validation,
registration, reports, verification, issuance, an exchange trade, an off-exchange
transfer, compliance and voluntary retirements, a loss event, a freeze, two subsidies (one
recorded paid), a failed transaction and a block with several transactions.

Certificates: most explorer tests use a small stub (a digest over the retirement record
and its block hash) so that the pages are tested whatever the certificate format does;
``real_certificate`` assembles a real ``ledger.certificate`` certificate from the store
(the node's builder, node/api/certificates.py, does not exist yet) for the tests of the real
verifier.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaincode.executor import Executor
from explorer.app import create_explorer_app
from explorer.source import Check, ExplorerSource, Verdict
from ledger.block import CommitCertificate, vote_sign_bytes
from ledger.crypto import PrivateKey, sha256_hex
from ledger.encoding import canonical, decode
from ledger.store import Store
from ledger.tx import Transaction
from node.chain.app import Application
from tests.support.carbon_market import ANHUI_PINE_RING, ANHUI_RING, Market, h256
from tests.support.harness import CHAIN_ID, GENESIS_TIME, Harness

__all__ = ["Chain", "Scenario", "build_scenario", "certificate_functions", "make_source"]


class Chain:
    """Blocks committed to a Store through the real Application."""

    def __init__(self, path: Path, harness: Harness | None = None) -> None:
        self.h = harness or Harness()
        self.store = Store(path)
        self.app = Application(self.store, Executor(), self.h.genesis)
        self.time = GENESIS_TIME
        self.key = self.h.validator_key

    def block(
        self, txs: list[Transaction], signers: list[PrivateKey] | None = None
    ) -> list[dict[str, Any]]:
        """Commit a block of ``txs`` proposed by ``self.key``, its commit signed by
        ``signers`` (default: ``self.key``), sorted by public key as commits are."""
        self.time += 60_000
        block, writes = self.app.build_block(txs, self.time, self.key.public_key_hex)
        # every signer is enrolled (else build_block leaves the transaction out)
        assert len(block.txs) == len(txs), "a fixture signed with a key no organisation enrolled"
        block_hash = block.hash()
        msg = vote_sign_bytes("precommit", CHAIN_ID, block.height, 0, block_hash)
        keys = sorted(signers or [self.key], key=lambda k: k.public_key_hex)
        cert = CommitCertificate(block.height, 0, block_hash,
                                 tuple((k.public_key_hex, k.sign_hex(msg)) for k in keys))
        self.app.commit_block(block, cert, writes)
        return list(block.results)

    def call(self, signers: str | list[str], method: str, args: dict,
             contract: str = "carbon") -> tuple[Transaction, dict[str, Any]]:
        tx = self.h.make_tx(signers, contract, method, args)
        return tx, self.block([tx])[0]

    def ok(self, signers: str | list[str], method: str, args: dict,
           contract: str = "carbon") -> dict[str, Any]:
        tx, result = self.call(signers, method, args, contract)
        assert result["code"] == "ok", result
        out = self.h.returned(result)
        out["_tx_id"] = tx.tx_id
        return out

    def get(self, key: str) -> Any:
        raw = self.store.get(key)
        return None if raw is None else decode(raw)


class StoreMarket(Market):
    """The market test builders, committing through :class:`Chain`."""

    def __init__(self, chain: Chain) -> None:
        super().__init__(harness=chain.h)
        self.chain = chain

    def ok(self, signers: str | list[str], method: str, args: dict) -> dict:
        return self.chain.ok(signers, method, args)

    def call(self, signers: str | list[str], method: str, args: dict) -> dict:
        return self.chain.call(signers, method, args)[1]

    def get(self, key: str) -> Any:
        return self.chain.get(key)


@dataclass
class Scenario:
    chain: Chain
    store: Store
    ids: dict[str, Any] = field(default_factory=dict)


XSS = '<script>alert("x")</script> & Co.'


def build_scenario(path: Path) -> Scenario:
    """The lifecycle described in the module docstring; ``ids`` names what tests look for."""
    chain = Chain(path)
    m = StoreMarket(chain)
    ids: dict[str, Any] = {}
    m.plot("F1", "owner-farm", "chinese_fir", ring=ANHUI_RING)
    m.plot("F2", "owner-farm", "masson_pine", ring=ANHUI_PINE_RING)
    m.project("AH-0001", "owner-farm", [("F1", "chinese_fir"), ("F2", "masson_pine"),
                                        ("F3", "chinese_fir")])
    m.project("AH-0002", "coop", [("C1", "chinese_fir")], risk="high")
    ids["b1"] = m.issue("AH-0001", "B1", volume="13")
    ids["b2"] = m.issue("AH-0001", "B2", volume="13")
    ids["b3"] = m.issue("AH-0002", "B3", volume="13")
    listing = m.ok("owner-farm", "create_listing",
                   {"quantity": 10, "price": "90", "exchange_org": "exchange"})
    ids["list_tx"] = listing["_tx_id"]
    trade = m.ok("exchange", "match_trade", {
        "listing_id": listing["listing_id"], "buyer_org": "buyer-steel", "quantity": 4,
        "price": "90", "settlement_ref": "S-001"})
    ids["trade_tx"] = trade["_tx_id"]
    transfer = m.ok(["owner-farm", "buyer-power"], "transfer", {
        "from_org": "owner-farm", "to_org": "buyer-power", "quantity": 5,
        "settlement_ref": "OTC-7", "price": "80"})
    ids["transfer_tx"] = transfer["_tx_id"]
    m.ok("regulator", "record_obligation",
         {"enterprise_org": "buyer-steel", "period": "2025", "obligation_tonnes": 1000})
    comp = m.ok("buyer-steel", "retire_compliance", {"period": "2025", "quantity": 2})
    ids["compliance"] = comp["retirement_id"]
    vol = m.ok("buyer-power", "retire_voluntary", {
        "quantity": 3, "beneficiary": XSS, "reason": "=HYPERLINK(\"http://x\")"})
    ids["voluntary"] = vol["retirement_id"]
    loss = m.ok("regulator", "record_loss_event", {
        "project_id": "AH-0002", "quantity": 2, "cause": "fire",
        "evidence_sha256": h256("fire")})
    ids["loss_tx"] = loss["_tx_id"]
    m.ok("regulator", "freeze", {"batch_id": "B2", "reason": "under investigation"})
    m.ok("regulator", "accrue_subsidy", {"batch_id": "B1"})
    m.ok("regulator", "accrue_subsidy", {"batch_id": "B3"})
    accrued = decode(chain.store.get("subsidy/B1"))["accrued_date"]
    m.ok("regulator", "record_subsidy_paid",
         {"batch_id": "B1", "payment_ref": "AH-FIN-0001", "paid_date": accrued})
    failed_tx, failed = chain.call("buyer-power", "retire_voluntary", {
        "quantity": 100000, "beneficiary": "nobody", "reason": "too many"})
    assert failed["code"] != "ok"
    ids["failed_tx"] = failed_tx.tx_id
    ids["failed_code"] = failed["code"]
    notary = [chain.h.make_tx("regulator", "notary", "record",
                              {"name": f"doc-{i}", "sha256": h256(f"doc-{i}")})
              for i in range(3)]
    results = chain.block(notary)
    assert [r["code"] for r in results] == ["ok"] * 3
    ids["multi_height"] = chain.store.latest_height()
    ids["multi_txs"] = [t.tx_id for t in notary]
    return Scenario(chain=chain, store=chain.store, ids=ids)


# -- certificates --------------------------------------------------------------------------
def _stub_build(store: Store, genesis_hash: str) -> Callable[[str], dict[str, Any]]:
    def build(retirement_id: str) -> dict[str, Any]:
        raw = store.get(f"retirement/{retirement_id}")
        if raw is None:
            raise LookupError(retirement_id)
        record = decode(raw)
        body = {"block_hash": store.get_block_hash(record["height"]),
                "genesis_hash": genesis_hash, "retirement": record}
        return dict(body, digest=sha256_hex(canonical(body)))

    return build


def _stub_verify(genesis_hash: str) -> Callable[[Mapping[str, Any]], Verdict]:
    def verify(cert: Mapping[str, Any]) -> Verdict:
        body = {k: v for k, v in cert.items() if k != "digest"}
        shape = set(body) == {"block_hash", "genesis_hash", "retirement"}
        checks = [Check("format", shape, "" if shape else "unexpected fields")]
        checks.append(Check("genesis", cert.get("genesis_hash") == genesis_hash,
                            "the certificate names this network's genesis"))
        try:
            ok = shape and sha256_hex(canonical(body)) == cert.get("digest")
        except ValueError:
            ok = False
        checks.append(Check("digest", ok, "the digest covers the retirement and its block"))
        all_ok = all(c.ok for c in checks)
        return Verdict(all_ok, tuple(checks), "valid" if all_ok else "tampered")

    return verify


def certificate_functions(
    scenario: Scenario,
) -> tuple[Callable[[str], dict[str, Any]], Callable[[Mapping[str, Any]], Any]]:
    """(build, verify) of the stub certificate (see the module docstring)."""
    genesis = scenario.chain.h.genesis
    return _stub_build(scenario.store, genesis.hash), _stub_verify(genesis.hash)


# -- a real certificate, assembled the way the node will (tests only) -------------------------
_CUSTODY = {"list": "listing", "delist": "delisting", "trade": "trade", "transfer": "transfer",
            "freeze": "freeze", "unfreeze": "unfreeze"}


def real_certificate(scenario: Scenario, retirement_id: str, version: int = 2) -> dict[str, Any]:
    """A ``ledger.certificate`` certificate (format ``version``) of a retirement, built from
    the store with ``make_entry`` / ``assemble_certificate`` (what node/api/certificates.py
    does; here the creating transactions of reports, projects and plots are found by
    scanning blocks); version 2 adds the retired ranges' unit records with their proofs."""
    from chaincode.units import find_range, unit_key
    from ledger.certificate import assemble_certificate, custody_proof_item, make_entry
    from ledger.merkle import inclusion_proof

    store = scenario.store
    blocks: dict[int, Any] = {}

    def block(height: int) -> Any:
        if height not in blocks:
            blocks[height] = store.get_block(height)
        return blocks[height]

    def find(method: str, key: str, value: str) -> str:
        for height in range(1, store.latest_height() + 1):
            for tx, result in zip(block(height).txs, block(height).results, strict=True):
                if (tx.contract == "carbon" and tx.method == method
                        and tx.args.get(key) == value and result["code"] == "ok"):
                    return tx.tx_id
        raise LookupError((method, key, value))

    entries: list[dict[str, Any]] = []
    seen: set[str] = set()

    def add(role: str, tx_id: str) -> None:
        if tx_id in seen:
            return
        seen.add(tx_id)
        height, index = store.get_tx_location(tx_id)
        entries.append(make_entry(role, block(height), index))

    def get(key: str) -> Any:
        return decode(store.get(key))

    record = get(f"retirement/{retirement_id}")
    for rng in record["ranges"]:
        batch = get(f"batch/{rng['batch_id']}")
        add("issuance", batch["tx_id"])
        add("verification", get(f"attestation/{batch['verification_attestation']}")["tx_id"])
        add("monitoring_report", find("submit_monitoring_report", "report_id", batch["report_id"]))
        project = get(f"project/{batch['project_id']}")
        add("registration", project["registration"]["tx_id"])
        add("validation", get(f"attestation/{project['validation_attestation']}")["tx_id"])
        add("project_submission", find("submit_project", "project_id", project["id"]))
        for plot_id in project["plots"]:
            add("plot_registration", find("register_plot", "plot_id", plot_id))
        for step in find_range(store, rng["project_id"], rng["first"])["history"]:
            if step["action"] in _CUSTODY:
                add(_CUSTODY[step["action"]], step["tx_id"])
    entries.sort(key=lambda e: (e["height"], e["index"]))  # the format's order
    height, index = store.get_tx_location(retirement_id)
    retirement = make_entry("retirement", block(height), index)
    heights = sorted({height} | {e["height"] for e in entries})
    hashes = [bytes.fromhex(store.get_block_hash(h)) for h in range(1, height)]
    proofs = None
    if version == 2:
        tree = store.state_tree
        proofs = []
        for rng in record["ranges"]:
            key = unit_key(rng["project_id"], rng["first"]).encode()
            proofs.append(custody_proof_item(key.decode(), decode(tree.get(key, height)),
                                             tree.prove(key, height)))
    return assemble_certificate(
        genesis=scenario.chain.h.genesis,
        retirement=retirement,
        provenance=entries,
        headers={h: block(h).header.to_json() for h in heights},
        commits={h: store.get_commit(h).to_json() for h in heights},
        history={h: [p.hex() for p in inclusion_proof(hashes, h - 1)] for h in heights if h < height},
        validator_set_changes=[],
        custody_proofs=proofs,
    )


def make_source(scenario: Scenario, **over: Any) -> ExplorerSource:
    build, verify = certificate_functions(scenario)
    genesis = scenario.chain.h.genesis
    status_extra = {"round": 0, "peers": ["node1", "node2"], "node": "node0", "version": "test"}

    def status() -> dict[str, Any]:
        return {"chain_id": genesis.chain_id, "height": scenario.store.latest_height(),
                "validators": genesis.validators.to_json(), **status_extra}

    tip = scenario.store.get_block(scenario.store.latest_height())
    kwargs: dict[str, Any] = {"store": scenario.store, "genesis": genesis, "status": status,
                              "build_certificate": build, "verify_certificate": verify,
                              "public_url": "http://testserver",
                              # "now" is the tip's time: the dashboard's rate window ends there
                              "clock": lambda: tip.header.time / 1000}
    kwargs.update(over)
    return ExplorerSource(**kwargs)


def make_client(scenario: Scenario, **over: Any) -> Any:
    from fastapi.testclient import TestClient

    return TestClient(create_explorer_app(make_source(scenario, **over)))


def main_of(html: str) -> str:
    """The ``<main>`` element's content of an explorer page."""
    return html.split("<main>", 1)[1].split("</main>", 1)[0]


def module_fixtures(
    name: str, build: Callable[[Path], Scenario] | None = None
) -> tuple[Any, Any]:
    """The module-scoped ``sc`` (a scenario built by ``build``, default
    :func:`build_scenario`, in a temporary store named ``name``) and ``client`` (a test
    client over it) fixtures that the explorer test modules share:
    ``sc, client = module_fixtures("explorer")``."""
    import pytest

    make = build_scenario if build is None else build

    @pytest.fixture(scope="module")
    def sc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
        scenario = make(Path(tmp_path_factory.mktemp(name)) / "store")
        yield scenario
        scenario.store.close()

    @pytest.fixture(scope="module")
    def client(sc: Scenario) -> Iterator[Any]:
        with make_client(sc) as c:
            yield c

    return sc, client

