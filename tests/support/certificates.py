"""A real chain for the certificate tests (no tests in this module).

:class:`CertChain` runs the node's own :class:`node.chain.app.Application` over a LevelDB
:class:`ledger.store.Store`: every block is built (all header roots, the history root,
validator hashes), committed with a certificate of precommits signed by 3 of the 4
validators of the set in force, and stored. :func:`lifecycle` drives two projects from
plots to retirements, with a validator-set change through the governance contract in the
middle, and returns the ids the tests certify.

Until ``chaincode/carbon_market.py`` lists the retired ranges in its ``carbon.retired``
event (requested; the certificate needs them in the *result*, which the block commits),
:class:`CarbonWithRetiredRanges` adds them here. It is idempotent: once the contract emits
``ranges`` itself it changes nothing.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaincode.carbon import Carbon
from chaincode.executor import Executor
from chaincode.framework import TxContext
from chaincode.governance import Governance
from chaincode.kv import KeyValue
from chaincode.membership import Membership
from chaincode.params import Params
from ledger.block import Block, BlockHeader, CommitCertificate, vote_sign_bytes
from ledger.certificate import make_entry, result_leaf, tx_leaf
from ledger.crypto import PrivateKey, sha256
from ledger.genesis import Genesis
from ledger.merkle import merkle_root
from ledger.store import Store
from ledger.tx import Transaction, build_transaction
from ledger.validators import ValidatorSet
from node.chain.app import Application
from tests.support.carbon_market import expected_issuance
from tests.support.carbon_registry import Flow, small_ring
from tests.support.harness import DEFAULT_ORGS, GENESIS_TIME, det_key, fixture_params

CHAIN_ID = "fcl-cert-test"
OWNER = "owner-farm"
COOP = "coop"


class CarbonWithRetiredRanges(Carbon):
    """The carbon contract, with ``ranges`` on the ``carbon.retired`` event."""

    def _retire(self, ctx: TxContext, account: str, qty: int, sel: dict[str, Any],
                **kw: Any) -> dict[str, Any]:
        record = super()._retire(ctx, account, qty, sel, **kw)
        for event in ctx.events:
            if event.get("type") == "carbon.retired" and event.get("retirement_id") == record["id"]:
                event.setdefault("ranges", copy.deepcopy(record["ranges"]))
        return record


def contracts() -> list:
    return [Membership(), Params(), KeyValue(), CarbonWithRetiredRanges(), Governance()]


def validator_key(i: int) -> PrivateKey:
    return PrivateKey(sha256(b"fcl-cert-validator:%d" % i))


def validator_json(i: int) -> dict[str, Any]:
    return {"name": f"val-{i}", "power": 10, "pub_key": validator_key(i).public_key_hex}


GENESIS_SET = [validator_json(i) for i in range(4)]
NEW_SET = [validator_json(i) for i in (0, 1, 2, 4)]  # val-3 leaves, val-4 joins


def genesis_doc(chain_id: str = CHAIN_ID) -> dict[str, Any]:
    keys = {org: det_key(org) for org in DEFAULT_ORGS}
    return {
        "app_state": {
            "organisations": [
                {
                    "accreditation": acc,
                    "admins": [keys[org].public_key_hex],
                    "id": org,
                    "members": [],
                    "name": org.replace("-", " ").title(),
                    "roles": roles,
                }
                for org, (roles, acc) in sorted(DEFAULT_ORGS.items())
            ],
            "params": fixture_params(),
        },
        "chain_id": chain_id,
        "genesis_time": GENESIS_TIME,
        "validators": copy.deepcopy(GENESIS_SET),
    }


class CertChain:
    """Blocks built and committed by the node's Application, signed by 3 of 4 validators."""

    def __init__(self, path: Path, chain_id: str = CHAIN_ID) -> None:
        self.genesis = Genesis.from_json(genesis_doc(chain_id))
        self.chain_id = chain_id
        self.store = Store(path)
        self.app = Application(self.store, Executor(contracts()), self.genesis)
        self.validator_keys = {validator_key(i).public_key_hex: validator_key(i) for i in range(6)}
        self.time = GENESIS_TIME
        self._nonce = 0

    def close(self) -> None:
        self.store.close()

    @property
    def height(self) -> int:
        return self.app.height

    def tx(self, signers: str | list[str], method: str, args: dict[str, Any],
           contract: str = "carbon") -> Transaction:
        names = [signers] if isinstance(signers, str) else list(signers)
        self._nonce += 1
        return build_transaction(chain_id=self.chain_id, contract=contract, method=method,
                                 args=args, nonce=f"c{self._nonce}",
                                 keys=[det_key(n) for n in names])

    def sign(self, header: BlockHeader, vset: ValidatorSet, count: int = 3) -> CommitCertificate:
        block_hash = header.hash()
        msg = vote_sign_bytes("precommit", self.chain_id, header.height, 0, block_hash)
        sigs = [(v.pub_key, self.validator_keys[v.pub_key].sign_hex(msg))
                for v in vset.validators[:count]]
        return CommitCertificate(header.height, 0, block_hash, tuple(sorted(sigs)))

    def block(self, txs: list[Transaction]) -> list[dict[str, Any]]:
        tip = self.app.tip
        self.time += 60_000
        proposer = tip.validators.proposer(tip.height + 1, 0).pub_key
        block, writes = self.app.build_block(txs, self.time, proposer)
        # every signer is enrolled (else build_block leaves the transaction out)
        assert len(block.txs) == len(txs), "a fixture signed with a key no organisation enrolled"
        self.app.commit_block(block, self.sign(block.header, tip.validators), writes)
        return list(block.results)

    def ok(self, signers: str | list[str], method: str, args: dict[str, Any],
           contract: str = "carbon") -> dict[str, Any]:
        """One transaction in its own block; its returned values (asserting success)."""
        result = self.block([self.tx(signers, method, args, contract)])[0]
        assert result["code"] == "ok", result
        return returned(result)


def returned(result: dict[str, Any]) -> dict[str, Any]:
    for e in result["events"]:
        if e["type"] == "return":
            return {k: v for k, v in e.items() if k != "type"}
    return {}


def notary(chain: CertChain, name: str) -> Transaction:
    return chain.tx("regulator", "record", {"name": name, "sha256": sha256(name.encode()).hex()},
                    contract="notary")


@dataclass
class World:
    chain: CertChain
    compliance_id: str = ""
    voluntary_id: str = ""
    multi_id: str = ""
    failed_retirement: tuple[int, int] = (0, 0)  # (height, index) of a failed retirement
    change_height: int = 0
    frozen_id: str = ""  # custody_world only: units frozen, unfrozen, transferred, retired
    issued: dict[str, int] = field(default_factory=dict)
    certs: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)

    def cert(self, retirement_id: str, version: int = 2) -> dict[str, Any]:
        """A fresh copy of the certificate of ``retirement_id`` in format ``version`` (the
        node's default, 2, or 1), built once."""
        if (retirement_id, version) not in self.certs:
            from node.api.certificates import build_certificate

            self.certs[(retirement_id, version)] = build_certificate(
                self.chain.store, self.chain.genesis, retirement_id, version)
        return copy.deepcopy(self.certs[(retirement_id, version)])


_WORLDS: dict[str, World] = {}


def shared_world(factory: Any, chain_id: str = CHAIN_ID) -> World:
    """One lifecycle chain per chain id for the whole test session (built in ~0.5 s)."""
    if chain_id not in _WORLDS:
        _WORLDS[chain_id] = lifecycle(factory.mktemp(f"certchain-{chain_id}") / "db", chain_id)
    return _WORLDS[chain_id]


def custody_world(factory: Any) -> World:
    """A second chain (same genesis) for custody completeness: the regulator freezes and
    unfreezes exactly the units that are later transferred and retired
    (``World.frozen_id``: units 1..25); other units of the batch are transferred in
    between (a custody step of other units)."""
    if "custody" not in _WORLDS:
        chain = CertChain(factory.mktemp("certchain-custody") / "db")
        world = World(chain)
        _project(chain, world, "AH-0001", OWNER, [("P1", 0), ("P2", 1)], "R1", "500")
        # exactly the units retired below: 1..25
        chain.ok("regulator", "freeze", {"project_id": "AH-0001", "first": 1, "last": 25,
                                         "reason": "suspected double counting"})
        chain.ok([OWNER, "buyer-steel"], "transfer",
                 {"from_org": OWNER, "to_org": "buyer-steel", "quantity": 30})  # 26..55
        chain.ok("regulator", "unfreeze", {"project_id": "AH-0001", "first": 1, "last": 25,
                                           "reason": "cleared by the inspection"})
        chain.ok([OWNER, "buyer-power"], "transfer",
                 {"from_org": OWNER, "to_org": "buyer-power", "quantity": 40})  # 1..25, 56..70
        world.frozen_id = chain.ok("buyer-power", "retire_voluntary", {
            "quantity": 25, "beneficiary": "Chaohu wetland day", "reason": "frozen once"})[
            "retirement_id"]
        _WORLDS["custody"] = world
    return _WORLDS["custody"]


def _project(chain: CertChain, world: World, pid: str, owner: str, plots: list[tuple[str, int]],
             report_id: str, volume: str) -> None:
    txs = [chain.tx(owner, "register_plot", Flow.plot_args(p, small_ring(i))) for p, i in plots]
    if pid == "AH-0001":  # a plot of the same owner that no project uses, in the same block
        txs.append(chain.tx(owner, "register_plot", Flow.plot_args("P9", small_ring(9))))
    chain.block(txs)
    chain.ok(owner, "submit_project", Flow.project_args(pid, [p for p, _ in plots]))
    chain.ok("verifier-a", "attest_validation", Flow.validation_args(f"VAL-{pid}", pid))
    chain.block([chain.tx("regulator", "register_project", {"project_id": pid}),
                 notary(chain, f"minutes-{pid}")])
    rows = [(p, "chinese_fir", "0", volume) for p, _ in plots]
    issuable, _ = expected_issuance(rows, "low")
    chain.ok(owner, "submit_monitoring_report",
             Flow.report_args(report_id, pid, [(p, "0", volume) for p, _ in plots], issuable))
    chain.ok("verifier-b", "attest_verification",
             Flow.verification_args(f"VER-{report_id}", report_id, issuable))
    chain.ok("regulator", "issue", {"report_id": report_id, "batch_id": f"{pid}-B1"})
    world.issued[pid] = issuable


def lifecycle(path: Path, chain_id: str = CHAIN_ID) -> World:
    """Two projects from plots to retirements; a validator-set change in the middle."""
    chain = CertChain(path, chain_id)
    world = World(chain)
    _project(chain, world, "AH-0001", OWNER, [("P1", 0), ("P2", 1)], "R1", "500")
    chain.block([
        chain.tx([OWNER, "buyer-steel"], "transfer",
                 {"from_org": OWNER, "to_org": "buyer-steel", "quantity": 300,
                  "settlement_ref": "OTC-1", "price": "60"}),
        chain.tx("regulator", "record_obligation",
                 {"enterprise_org": "buyer-steel", "period": "2025", "obligation_tonnes": 10_000}),
    ])
    results = chain.block([
        notary(chain, "before-retirement"),
        chain.tx("buyer-steel", "retire_compliance", {"period": "2025", "quantity": 120}),
        chain.tx("buyer-steel", "retire_compliance", {"period": "2025", "quantity": 900}),
    ])
    assert [r["code"] for r in results] == ["ok", "ok", "cap_exceeded"], results
    world.compliance_id = results[1]["tx_id"]
    world.failed_retirement = (chain.height, 2)

    # governance: the regulator (operator of every genesis validator) replaces val-3
    new_set = copy.deepcopy(NEW_SET)
    effective = chain.height + 5  # proposal in block h+1, approval h+2, change block h+4
    pid = chain.ok("regulator", "propose_validator_change",
                   {"validators": new_set, "effective_height": effective,
                    "operators": {validator_key(4).public_key_hex: "regulator"}}, "governance")
    assert chain.ok("regulator", "approve_validator_change",
                    {"proposal_id": pid["proposal_id"]}, "governance")["scheduled"]
    chain.block([])
    # the change block (next_validators_hash differs) also lists units on the exchange
    listing = chain.ok(OWNER, "create_listing",
                       {"quantity": 100, "price": "70", "exchange_org": "exchange"})
    world.change_height = chain.height
    assert chain.app.tip.validators.hash() == ValidatorSet.from_json(new_set).hash()
    chain.ok("exchange", "match_trade",
             {"listing_id": listing["listing_id"], "buyer_org": "buyer-power", "quantity": 60,
              "price": "70", "settlement_ref": "AHEX-1"})
    world.voluntary_id = chain.ok("buyer-power", "retire_voluntary", {
        "quantity": 60, "beneficiary": "Hefei Marathon 2024",
        "reason": "event footprint (马拉松)"})["retirement_id"]

    _project(chain, world, "AH-0002", COOP, [("P3", 3)], "R2", "300")
    chain.ok([COOP, "buyer-steel"], "transfer",
             {"from_org": COOP, "to_org": "buyer-steel", "quantity": 40})
    world.multi_id = chain.ok("buyer-steel", "retire_voluntary", {
        "quantity": 200, "beneficiary": "Ma'anshan Steel", "reason": "2024 product label"})[
        "retirement_id"]
    return world


# -- forging helpers (the tests hold the validator keys, so they can re-seal a block) ------
def reseal_block(chain: CertChain, cert: dict[str, Any], height: int,
                 change: dict[int, tuple[dict[str, Any], dict[str, Any]]]) -> dict[str, Any]:
    """A copy of ``cert`` in which block ``height`` (the retirement's block: no later
    header commits to its hash) has some transactions/results replaced, ``change`` maps
    index -> (tx json, result); roots, header, commit and the proofs of every entry of
    that block are recomputed and re-signed by the validators in force."""
    cert = copy.deepcopy(cert)
    block = chain.store.get_block(height)
    assert block is not None
    txs = [tx.to_json() for tx in block.txs]
    results = [dict(r) for r in block.results]
    for index, (tx, result) in change.items():
        txs[index], results[index] = tx, result
    header = BlockHeader.from_json(dict(
        block.header.to_json(),
        txs_root=merkle_root([tx_leaf(t) for t in txs]).hex(),
        results_root=merkle_root([result_leaf(r) for r in results]).hex()))
    vset = ValidatorSet.from_json(_set_in_force(chain, height))
    cert["headers"][str(height)] = header.to_json()
    cert["commits"][str(height)] = chain.sign(header, vset).to_json()
    fake = _FakeBlock(header, txs, results)
    for key in ("retirement",):
        if cert[key]["height"] == height:
            cert[key] = fake.entry(cert[key]["role"], cert[key]["index"])
    cert["provenance"] = [fake.entry(e["role"], e["index"]) if e["height"] == height else e
                          for e in cert["provenance"]]
    return cert


def _set_in_force(chain: CertChain, height: int) -> list[dict[str, Any]]:
    stored = chain.store.get_block(height)
    assert stored is not None
    for vs in (GENESIS_SET, NEW_SET):
        if ValidatorSet.from_json(vs).hash() == stored.header.validators_hash:
            return vs
    raise AssertionError("unknown validator set")


@dataclass
class _FakeBlock:
    header: BlockHeader
    txs: list[dict[str, Any]]
    results: list[dict[str, Any]]

    def entry(self, role: str, index: int) -> dict[str, Any]:
        from ledger.tx import parse_transaction

        block = Block(self.header, tuple(parse_transaction(t) for t in self.txs),
                      tuple(self.results))
        return make_entry(role, block, index)
