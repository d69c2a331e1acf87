"""A chaincode test harness: genesis, keys per organisation, blocks executed through the
real Executor over an in-memory state, with the same state-root rule as the node."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from typing import Any

from chaincode.executor import Executor
from chaincode.framework import BlockContext
from chaincode.params import DEFAULT_PARAMS
from ledger.crypto import PrivateKey, sha256
from ledger.encoding import decode
from ledger.genesis import Genesis
from ledger.state import MemoryState, WriteSet
from ledger.state_tree import MemoryNodeStore, StateTree
from ledger.tx import Transaction, build_transaction

CHAIN_ID = "fcl-test"
GENESIS_TIME = 1_700_000_000_000

# org id -> (roles, accreditation)
DEFAULT_ORGS: dict[str, tuple[list[str], str | None]] = {
    "regulator": (["regulator"], None),
    "verifier-a": (["verifier"], "CNCA-V-001"),
    "verifier-b": (["verifier"], "CNCA-V-002"),
    "owner-farm": (["owner"], None),
    "coop": (["owner"], None),
    "exchange": (["exchange"], None),
    "buyer-steel": (["buyer"], None),
    "buyer-power": (["buyer"], None),
}


def det_key(name: str) -> PrivateKey:
    """A deterministic key for tests (never for real use)."""
    return PrivateKey(sha256(b"fcl-test-key:" + name.encode()))


def fixture_params() -> dict[str, Any]:
    """The test genesis's parameters: ``DEFAULT_PARAMS`` without the species' growth
    ceilings (``max_growth_per_ha_year``). The fixtures model monthly periods in which a
    1-ha plot grows by hundreds of m3, to exercise stock accounting in a few blocks --
    far above any real stand, which the ceilings of a production genesis refuse
    (``implausible_growth``). Tests of the ceilings set them explicitly
    (tests/chaincode/test_strata_sampling.py, test_growth_ceilings.py)."""
    params = copy.deepcopy(DEFAULT_PARAMS)
    for row in params["species_table"].values():
        row.pop("max_growth_per_ha_year", None)
    return params


class Harness:
    def __init__(
        self,
        orgs: dict[str, tuple[list[str], str | None]] | None = None,
        params: dict[str, Any] | None = None,
        executor: Executor | None = None,
        validators: list[dict[str, Any]] | None = None,
        app_state: dict[str, Any] | None = None,
    ) -> None:
        """``validators`` replaces the one-validator genesis set; ``app_state`` adds (or
        replaces) top-level genesis app_state entries, e.g. ``validator_operators``."""
        self.orgs = dict(DEFAULT_ORGS if orgs is None else orgs)
        self.keys: dict[str, PrivateKey] = {org: det_key(org) for org in self.orgs}
        self.validator_key = det_key("validator-0")
        app_params = fixture_params()
        app_params.update(params or {})
        doc = {
            "app_state": {
                "organisations": [
                    {
                        "accreditation": acc,
                        "admins": [self.keys[org].public_key_hex],
                        "id": org,
                        "members": [],
                        "name": org.replace("-", " ").title(),
                        "roles": roles,
                    }
                    for org, (roles, acc) in sorted(self.orgs.items())
                ],
                "params": app_params,
                **copy.deepcopy(app_state or {}),
            },
            "chain_id": CHAIN_ID,
            "genesis_time": GENESIS_TIME,
            "validators": copy.deepcopy(validators)
            if validators is not None
            else [{"name": "validator-0", "power": 10, "pub_key": self.validator_key.public_key_hex}],
        }
        self.genesis = Genesis.from_json(doc)
        self.executor = executor or Executor()
        self.state = MemoryState()
        writes = self.executor.genesis_writes(self.genesis)
        self.state.apply(writes)
        self.tree = StateTree(MemoryNodeStore())
        self.state_root = self.tree.commit(WriteSet(writes).prepare(self.tree, 0)).hex()
        self.height = 0
        self.time = GENESIS_TIME
        self._nonce = 0
        self.blocks: list[tuple[list[Transaction], list[dict[str, Any]]]] = []

    def key(self, name: str) -> PrivateKey:
        if name not in self.keys:
            self.keys[name] = det_key(name)
        return self.keys[name]

    def make_tx(self, signers: str | Sequence[str], contract: str, method: str, args: dict) -> Transaction:
        names = [signers] if isinstance(signers, str) else list(signers)
        self._nonce += 1
        return build_transaction(
            chain_id=CHAIN_ID,
            contract=contract,
            method=method,
            args=args,
            nonce=f"n{self._nonce}",
            keys=[self.key(n) for n in names],
        )

    def run_block(self, txs: Iterable[Transaction], time_step_ms: int = 1000) -> list[dict[str, Any]]:
        txs = list(txs)
        self.height += 1
        self.time += time_step_ms
        ctx = BlockContext(CHAIN_ID, self.height, self.time, self.validator_key.public_key_hex)
        execution = self.executor.execute_block(self.state, ctx, txs)
        self.state.apply(execution.writes)
        self.state_root = self.tree.commit(
            WriteSet(execution.writes).prepare(self.tree, self.height)
        ).hex()
        self.blocks.append((txs, execution.results))
        return execution.results

    def call(self, signers: str | Sequence[str], contract: str, method: str, args: dict) -> dict[str, Any]:
        """Run one transaction in its own block and return its result."""
        return self.run_block([self.make_tx(signers, contract, method, args)])[0]

    def ok(self, signers: str | Sequence[str], contract: str, method: str, args: dict) -> dict[str, Any]:
        result = self.call(signers, contract, method, args)
        assert result["code"] == "ok", result
        return result

    def fails(
        self, code: str, signers: str | Sequence[str], contract: str, method: str, args: dict
    ) -> dict[str, Any]:
        """Assert the transaction fails with ``code`` and changes no state."""
        before = self.state.items()
        result = self.call(signers, contract, method, args)
        assert result["code"] == code, result
        assert self.state.items() == before, "a failed transaction changed state"
        return result

    def get(self, key: str) -> Any:
        raw = self.state.get(key)
        return None if raw is None else decode(raw)

    def returned(self, result: dict[str, Any]) -> dict[str, Any]:
        for e in result["events"]:
            if e["type"] == "return":
                return {k: v for k, v in e.items() if k != "type"}
        return {}
