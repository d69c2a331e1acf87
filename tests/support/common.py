"""Test helpers every layer uses: deterministic keys, a small genesis, signed notary
transactions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ledger.crypto import PrivateKey, sha256
from ledger.genesis import Genesis
from ledger.tx import Transaction, build_transaction

CHAIN_ID = "fcl-test"
GENESIS_TIME = 1_700_000_000_000


def det_key(name: str) -> PrivateKey:
    """A deterministic key for tests (never for real use)."""
    return PrivateKey(sha256(b"fcl-test-key:" + name.encode()))


def make_genesis(
    validators: Sequence[tuple[PrivateKey, int]],
    regulator: PrivateKey,
    chain_id: str = CHAIN_ID,
) -> Genesis:
    """A genesis with the given validators (key, power) and one 'regulator' organisation
    whose admin key is ``regulator``."""
    return Genesis.from_json(
        {
            "chain_id": chain_id,
            "genesis_time": GENESIS_TIME,
            "validators": [
                {"name": f"val{i}", "pub_key": key.public_key_hex, "power": power}
                for i, (key, power) in enumerate(validators)
            ],
            "app_state": {
                "organisations": [
                    {
                        "id": "regulator",
                        "name": "Test regulator",
                        "roles": ["regulator"],
                        "accreditation": None,
                        "admins": [regulator.public_key_hex],
                        "members": [],
                    }
                ],
                "params": {},
            },
        }
    )


def notary_tx(
    key: PrivateKey, name: str, *, chain_id: str = CHAIN_ID, nonce: str = "n1"
) -> Transaction:
    """A signed ``notary.record`` transaction."""
    return build_transaction(
        chain_id=chain_id,
        contract="notary",
        method="record",
        args={"name": name, "sha256": sha256(name.encode()).hex()},
        nonce=nonce,
        keys=[key],
    )


def membership_tx(
    key: PrivateKey, method: str, args: dict[str, Any], *, chain_id: str = CHAIN_ID,
    nonce: str = "m1",
) -> Transaction:
    """A signed ``membership.<method>`` transaction (enrol or revoke a key, suspend an
    organisation: what permissioned admission reads)."""
    return build_transaction(
        chain_id=chain_id, contract="membership", method=method, args=args, nonce=nonce,
        keys=[key],
    )


def count_verifications(monkeypatch: Any) -> list[str]:
    """From now on, record the id of every transaction whose signatures are verified
    (``Transaction.verify_signatures``), in order; the verification still happens."""
    verified: list[str] = []
    real = Transaction.verify_signatures

    def counting(tx: Transaction) -> None:
        verified.append(tx.tx_id)
        real(tx)

    monkeypatch.setattr(Transaction, "verify_signatures", counting)
    return verified
