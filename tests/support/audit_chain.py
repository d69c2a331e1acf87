"""A real chain for the auditor's tests: four validators, notary transactions signed by the
regulator's enrolled key (one block holding failing ones), blocks committed through ``node.chain.app.Application`` into a real
store, and helpers that tamper with that store directly."""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chaincode.executor import Executor
from fcl.audit.run import StoreSource, run_audit
from ledger.block import Block, CommitCertificate, vote_sign_bytes
from ledger.crypto import PrivateKey
from ledger.encoding import canonical
from ledger.genesis import Genesis
from ledger.store import Store
from ledger.tx import Transaction, build_transaction
from node.chain.app import Application
from tests.support.common import GENESIS_TIME, det_key, notary_tx

AUDIT_CHAIN = "fcl-audit"
VALIDATOR_KEYS = [det_key(f"audit-validator-{i}") for i in range(4)]
NEW_VALIDATOR = det_key("audit-validator-new")
REGULATOR = det_key("regulator")
STRANGER = det_key("stranger")
ALL_KEYS = {k.public_key_hex: k for k in [*VALIDATOR_KEYS, NEW_VALIDATOR]}
BLOCKS = 8
FAILING_AT = 4  # block holding the failing transaction


def audit_genesis() -> Genesis:
    """Four validators of power 10 (three signatures are a quorum, two are not); the
    regulator operates them all, so it alone can change the set."""
    return Genesis.from_json(
        {
            "chain_id": AUDIT_CHAIN,
            "genesis_time": GENESIS_TIME,
            "validators": [
                {"name": f"val{i}", "pub_key": k.public_key_hex, "power": 10}
                for i, k in enumerate(VALIDATOR_KEYS)
            ],
            "app_state": {
                "organisations": [
                    {
                        "id": "regulator",
                        "name": "Test regulator",
                        "roles": ["regulator"],
                        "accreditation": None,
                        "admins": [REGULATOR.public_key_hex],
                        "members": [],
                    }
                ],
                "params": {"validator_change_delay": 2},
            },
        }
    )


def tx(name: str, *, key: PrivateKey = REGULATOR, nonce: str = "n1") -> Transaction:
    return notary_tx(key, name, chain_id=AUDIT_CHAIN, nonce=nonce)


def unknown_method(nonce: str) -> Transaction:
    """A regulator's transaction calling a method no contract has (fails: ``unknown_method``).
    Every signer here is an enrolled key: a stranger's transaction enters no block."""
    return build_transaction(chain_id=AUDIT_CHAIN, contract="notary", method="erase",
                             args={}, nonce=nonce, keys=[REGULATOR])


def call(method: str, args: dict, nonce: str) -> Transaction:
    return build_transaction(chain_id=AUDIT_CHAIN, contract="governance", method=method,
                             args=args, nonce=nonce, keys=[REGULATOR])


def sign_commit(block: Block, keys: list[PrivateKey], round_: int = 0) -> CommitCertificate:
    msg = vote_sign_bytes("precommit", AUDIT_CHAIN, block.height, round_, block.hash())
    pairs = sorted((k.public_key_hex, k.sign_hex(msg)) for k in keys)
    return CommitCertificate(block.height, round_, block.hash(), tuple(pairs))


class ChainBuilder:
    """Blocks built, signed (by the first three validators of the set in force) and
    committed through node.chain.app.Application into a real store."""

    def __init__(self, path: Path, genesis: Genesis) -> None:
        self.path = path
        self.store = Store(path)
        self.app = Application(self.store, Executor(), genesis)

    def signers(self, count: int = 3) -> list[PrivateKey]:
        return [ALL_KEYS[v.pub_key] for v in self.app.tip.validators.validators[:count]]

    def add(self, txs: list[Transaction]) -> Block:
        tip = self.app.tip
        proposer = tip.validators.proposer(tip.height + 1, 0).pub_key
        block, writes = self.app.build_block(txs, tip.time + 1000, proposer)
        # every signer is enrolled (else build_block leaves the transaction out)
        assert len(block.txs) == len(txs), "a fixture signed with a key no organisation enrolled"
        self.app.commit_block(block, sign_commit(block, self.signers()), writes)
        return block

    def close(self) -> None:
        self.store.close()


def standard_txs(height: int) -> list[Transaction]:
    txs = [tx(f"doc-{height}-{i}") for i in range(2)]
    if height == FAILING_AT:
        txs.append(tx("doc-1-0", nonce="again"))  # already recorded: fails, is kept
        txs.append(unknown_method("no-such-method"))  # a member calls nothing: fails
    return txs


def build_chain(path: Path, genesis: Genesis, blocks: int = BLOCKS) -> ChainBuilder:
    chain = ChainBuilder(path, genesis)
    for height in range(1, blocks + 1):
        chain.add(standard_txs(height))
    return chain


def audit_dir(path: Path, genesis: Genesis, **kw: Any):
    source = StoreSource.open(path)
    try:
        return run_audit(source, genesis, **kw)
    finally:
        source.close()


# -- tampering helpers: write straight into the LevelDB store ---------------------------------


def h8(height: int) -> bytes:
    return struct.pack(">Q", height)


def edit_block(path: Path, height: int, change: Callable[[dict], None]) -> None:
    with Store(path) as store:
        obj = json.loads(store.get_block_json(height))
        change(obj)
        store.db.put(b"b/" + h8(height), canonical(obj))


def edit_commit(path: Path, height: int, change: Callable[[dict], None]) -> None:
    with Store(path) as store:
        obj = json.loads(store.get_commit_json(height))
        change(obj)
        store.db.put(b"c/" + h8(height), canonical(obj))


def resign(path: Path, height: int, keys: list[PrivateKey]) -> None:
    """Re-sign block ``height`` as it is now stored (a forger holding validator keys), and
    fix the store's hash index so only the chain itself can give the forgery away."""
    with Store(path) as store:
        block = store.get_block(height)
        store.db.put(b"c/" + h8(height), canonical(sign_commit(block, keys).to_json()))
        store.db.put(b"n/" + h8(height), bytes.fromhex(block.hash()))
