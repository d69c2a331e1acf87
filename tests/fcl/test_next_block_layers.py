"""One tampered block, three parties, one code: the validator (``Application.validate_block``
or ``check_block``, then ``commit_block``), the auditor's replay of a store holding the tampered block (and,
for what it checks, its checkpoint check of the latest header) and the retirement
certificate verifier (library and ``fcl verify --json``) refuse the same tampered block
with the same ``ledger.next_block`` code.

The chain is the certificate tests' carbon lifecycle (``tests/support/certificates.py``);
its last block holds a retirement, so the same tampered block is the anchor of a
certificate too. Every tampering is re-signed by a quorum of the validators in force (a
forger holding their keys), so only the tampered part can give the block away."""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import ledger.next_block as next_block
from chaincode.certificate_links import CARBON_LINKS
from chaincode.executor import Executor
from fcl.audit.run import Checkpoint, StoreSource, audit_chain, run_audit, verify_checkpoint
from fcl.verify import main as fcl_main
from ledger.block import (
    Block,
    BlockHeader,
    CommitCertificate,
    results_root,
    tx_result,
    vote_sign_bytes,
)
from ledger.certificate import verify_certificate
from ledger.crypto import PrivateKey, sha256_hex
from ledger.encoding import canonical
from ledger.genesis import Genesis
from ledger.next_block import CODES, NextBlockError
from ledger.store import Store
from ledger.validators import ValidatorSet
from node.chain.app import Application
from tests.support.audit_chain import h8
from tests.support.certificates import NEW_SET, contracts, lifecycle, validator_key
from tests.support.common import det_key, notary_tx

#: The codes the certificate verifier can find: it holds a block's header and commit, not
#: the previous block (so not the link or history codes) nor the body (only proofs of it).
VERIFIER_CODES = ("wrong_chain", "bad_validators_hash", "unknown_proposer", "commit_wrong_height",
                  "commit_wrong_block", "duplicate_signature", "unknown_validator",
                  "bad_commit_signature", "insufficient_power")
#: The codes the checkpoint check finds in the latest header and its commit.
CHECKPOINT_CODES = ("wrong_chain", "wrong_height", "unknown_proposer", "commit_wrong_height",
                    "commit_wrong_block", "duplicate_signature", "unknown_validator",
                    "bad_commit_signature", "insufficient_power", "bad_next_validators_hash")

STRANGER = det_key("layers-stranger")  # not a validator
SIGNERS = [validator_key(i) for i in (0, 1, 2)]  # three of the four of NEW_SET


@dataclass(frozen=True)
class Chain:
    genesis: Genesis
    full: Path  # blocks 1..height
    prefix: Path  # blocks 1..height - 1, as a validator that followed the chain holds them
    height: int
    block: Block  # the last block (a retirement's) and its commit
    commit: CommitCertificate
    previous: Block
    cert: dict[str, Any]  # the certificate of the retirement in the last block
    pairs: list[tuple[Block, CommitCertificate]]  # blocks 1..height - 1 with their commits


def executor() -> Executor:
    return Executor(contracts())


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Chain:
    root = tmp_path_factory.mktemp("next-block-layers")
    world = lifecycle(root / "full")
    height = world.chain.height
    cert = world.cert(world.multi_id)
    assert cert["retirement"]["height"] == height
    store = world.chain.store
    pairs = []
    for h in range(1, height + 1):
        block, commit = store.get_block(h), store.get_commit(h)
        assert block is not None and commit is not None
        pairs.append((block, commit))
    genesis = world.chain.genesis
    world.chain.close()
    with Store(root / "prefix") as prefix:  # a validator syncing the chain up to height - 1
        app = Application(prefix, executor(), genesis)
        for block, commit in pairs[:-1]:
            app.commit_block(block, commit, app.validate_block(block))
    block, commit = pairs[-1]
    assert ValidatorSet.from_json(NEW_SET).hash() == block.header.validators_hash
    return Chain(genesis, root / "full", root / "prefix", height, block, commit,
                 pairs[-2][0], cert, pairs[:-1])


# -- tamperings ---------------------------------------------------------------------------------


def sign(header: BlockHeader, keys: list[PrivateKey], chain_id: str, *,
         height: int | None = None, block_hash: str | None = None) -> CommitCertificate:
    height = header.height if height is None else height
    block_hash = header.hash() if block_hash is None else block_hash
    msg = vote_sign_bytes("precommit", chain_id, height, 0, block_hash)
    pairs = sorted((k.public_key_hex, k.sign_hex(msg)) for k in keys)
    return CommitCertificate(height, 0, block_hash, tuple(pairs))


Tampered = tuple[Block, CommitCertificate]


def resealed(c: Chain, block: Block) -> Tampered:
    return block, sign(block.header, SIGNERS, c.genesis.chain_id)


def header(c: Chain, **changes: Any) -> Tampered:
    return resealed(c, Block(dataclasses.replace(c.block.header, **changes), c.block.txs,
                             c.block.results))


def body(c: Chain, txs: list[Any], results: list[dict[str, Any]]) -> Tampered:
    """Another body under the genuine header, with its transactions and results roots made
    to match."""
    h = c.block.header
    fields = {k: v for k, v in h.to_json().items() if k not in ("txs_root", "results_root")}
    return resealed(c, Block.assemble(txs, results, **fields))


def commit(c: Chain, change: Callable[[CommitCertificate], CommitCertificate]) -> Tampered:
    return c.block, change(c.commit)


def flip(sig: str) -> str:
    return ("0" if sig[0] != "0" else "1") + sig[1:]


def results_changed(c: Chain, results: list[dict[str, Any]]) -> Tampered:
    return resealed(c, Block(dataclasses.replace(c.block.header, results_root=results_root(results)),
                             c.block.txs, tuple(results)))


def too_many(c: Chain, monkeypatch: pytest.MonkeyPatch) -> Tampered:
    """5000 transactions are the real limit (and a stored block of more does not even
    parse: ``block_format``); the rule's limit is lowered to the largest block's size and
    the tampered block holds one transaction more."""
    limit = max(len(b.txs) for b, _ in [*c.pairs, (c.block, c.commit)])
    monkeypatch.setattr(next_block, "MAX_BLOCK_TXS", limit)
    extra = limit + 1 - len(c.block.txs)
    return body(c, [*c.block.txs, *[c.previous.txs[0]] * extra],
                [*c.block.results, *[c.previous.results[0]] * extra])


def bad_signature(c: Chain) -> Tampered:
    tx = c.block.txs[0]
    bad = dataclasses.replace(tx, signatures=(flip(tx.signatures[0]), *tx.signatures[1:]))
    return body(c, [bad, *c.block.txs[1:]], list(c.block.results))


def unenrolled_signer(c: Chain) -> Tampered:
    """The block also carries a transaction signed (validly) by a key no organisation
    enrolled, with the result execution would give it."""
    outsider = notary_tx(STRANGER, "outsider", chain_id=c.genesis.chain_id)
    result = tx_result(outsider.tx_id, "unauthorized", "not a member", [])
    return body(c, [*c.block.txs, outsider], [*c.block.results, result])


def forged_result(c: Chain) -> Tampered:
    results = [dict(r) for r in c.block.results]
    results[0] = dict(results[0], code="cap_exceeded", message="forged", events=[])
    return results_changed(c, results)


def signature_changed(c: Chain, change: Callable[[tuple[tuple[str, str], ...]],
                                                 tuple[tuple[str, str], ...]]) -> Tampered:
    return commit(c, lambda cc: dataclasses.replace(cc, signatures=change(cc.signatures)))


TAMPERINGS: dict[str, Callable[[Chain], Tampered]] = {
    "wrong_chain": lambda c: header(c, chain_id="another-chain"),
    "wrong_height": lambda c: header(c, height=c.height + 1),
    "bad_prev_hash": lambda c: header(c, prev_hash=sha256_hex(b"another block")),
    "bad_time": lambda c: header(c, time=c.previous.header.time),
    "unknown_proposer": lambda c: header(c, proposer=STRANGER.public_key_hex),
    "bad_validators_hash": lambda c: header(c, validators_hash=sha256_hex(b"another set")),
    "bad_history_root": lambda c: header(c, history_root=sha256_hex(b"another history")),
    "commit_wrong_height": lambda c: commit(c, lambda cc: sign(
        c.block.header, SIGNERS, c.genesis.chain_id, height=c.height + 1)),
    "commit_wrong_block": lambda c: commit(c, lambda cc: sign(
        c.block.header, SIGNERS, c.genesis.chain_id, block_hash=sha256_hex(b"another block"))),
    "duplicate_signature": lambda c: signature_changed(c, lambda s: (*s, s[0])),
    "unknown_validator": lambda c: commit(c, lambda cc: sign(
        c.block.header, [*SIGNERS[:2], STRANGER], c.genesis.chain_id)),
    "bad_commit_signature": lambda c: signature_changed(
        c, lambda s: ((s[0][0], flip(s[0][1])), *s[1:])),
    "insufficient_power": lambda c: signature_changed(c, lambda s: s[:2]),
    "bad_txs_root": lambda c: header(c, txs_root=sha256_hex(b"other transactions")),
    "bad_results_root": lambda c: (Block(c.block.header, c.block.txs, tuple(
        dict(r, message="tampered") for r in c.block.results)), c.commit),
    "bad_results": lambda c: results_changed(  # a result for another transaction
        c, [dict(c.block.results[0], tx_id=c.previous.txs[0].tx_id), *c.block.results[1:]]),
    "duplicate_tx": lambda c: body(c, [*c.block.txs, c.previous.txs[0]],
                                   [*c.block.results, c.previous.results[0]]),
    "unenrolled_signer": unenrolled_signer,
    "bad_signature": bad_signature,
    "results_mismatch": forged_result,
    "bad_state_root": lambda c: header(c, state_root=sha256_hex(b"another state")),
    "bad_next_validators_hash": lambda c: header(
        c, next_validators_hash=sha256_hex(b"another next set")),
}


def tampered(c: Chain, code: str, monkeypatch: pytest.MonkeyPatch) -> Tampered:
    if code == "too_many_txs":
        return too_many(c, monkeypatch)
    make = TAMPERINGS.get(code)
    if make is None:
        pytest.fail(f"no tampering in this test produces the next-block code {code!r}")
    return make(c)


# -- the three parties ------------------------------------------------------------------------


#: ``Application.check_block`` is for a block whose transactions the caller (the block
#: codec) already checked against ``txs_root``: it neither checks that root nor reads the
#: block's own results (it re-executes and compares with ``results_root``).
CHECK_BLOCK_SKIPS = ("bad_txs_root", "bad_results_root", "bad_results")


def validator_code(c: Chain, block: Block, cert: CommitCertificate, tmp: Path,
                   *, trusted_txs: bool = False) -> str | None:
    """What a validator at height - 1 says: ``validate_block`` (or ``check_block``) then
    ``commit_block``."""
    path = tmp / ("checker" if trusted_txs else "validator")
    shutil.copytree(c.prefix, path)
    with Store(path) as store:
        app = Application(store, executor(), c.genesis)
        try:
            if trusted_txs:
                checked, writes = app.check_block(block)
                app.commit_block(checked, cert, writes)
            else:
                app.commit_block(block, cert, app.validate_block(block))
        except NextBlockError as exc:
            assert app.height == c.height - 1  # nothing was committed
            return exc.code
    return None


def store_tampered(c: Chain, block: Block, cert: CommitCertificate, tmp: Path) -> Path:
    """A copy of the full chain whose stored last block (and commit, and the hash index)
    are the tampered ones."""
    path = tmp / "audited"
    shutil.copytree(c.full, path)
    with Store(path) as store:
        store.db.put(b"b/" + h8(c.height), canonical(block.to_json()))
        store.db.put(b"c/" + h8(c.height), canonical(cert.to_json()))
        store.db.put(b"n/" + h8(c.height), bytes.fromhex(block.hash()))
    return path


def audit_code(c: Chain, path: Path) -> str | None:
    source = StoreSource.open(path)
    try:
        report = run_audit(source, c.genesis, executor=executor())
    finally:
        source.close()
    if report.ok:
        return None
    d = report.discrepancy
    assert d is not None and d.height == c.height, d
    assert report.final_height == c.height - 1
    return d.check


def replay_code(c: Chain, block: Block, cert: CommitCertificate) -> str | None:
    """The auditor's replay over blocks already parsed (``audit_chain``)."""
    report = audit_chain([*c.pairs, (block, cert)], c.genesis, executor=executor())
    if report.ok:
        return None
    assert report.discrepancy is not None and report.discrepancy.height == c.height
    return report.discrepancy.check


def checkpoint_code(c: Chain, path: Path) -> str | None:
    checkpoint = Checkpoint(c.height - 2, c.previous.header.history_root)
    source = StoreSource.open(path)
    try:
        report = verify_checkpoint(source, c.genesis, checkpoint)
    finally:
        source.close()
    if report.ok:
        return None
    assert report.discrepancy is not None and report.discrepancy.height == c.height
    return report.discrepancy.check


def certificate_with(c: Chain, block: Block, cert: CommitCertificate) -> dict[str, Any]:
    doc = json.loads(json.dumps(c.cert))
    doc["headers"][str(c.height)] = block.header.to_json()
    doc["commits"][str(c.height)] = cert.to_json()
    return doc


def verifier_code(c: Chain, doc: dict[str, Any]) -> str | None:
    verdict = verify_certificate(doc, genesis=c.genesis, links=CARBON_LINKS)
    failure = verdict.first_failure
    return None if failure is None else failure.code


def cli_code(c: Chain, doc: dict[str, Any], tmp: Path, capsys: pytest.CaptureFixture[str]) -> str:
    (tmp / "cert.json").write_bytes(canonical(doc))
    c.genesis.dump(tmp / "genesis.json")
    capsys.readouterr()
    exit_code = fcl_main(["verify", str(tmp / "cert.json"), "--genesis", str(tmp / "genesis.json"),
                          "--json"])
    verdict = json.loads(capsys.readouterr().out)
    assert exit_code == 1 and verdict["ok"] is False
    failed = [ch for ch in verdict["checks"] if not ch["passed"] and not ch["skipped"]]
    return str(failed[0]["code"])


# -- the tests ----------------------------------------------------------------------------------


def test_the_genuine_block_passes_everywhere(chain: Chain, tmp_path: Path) -> None:
    assert validator_code(chain, chain.block, chain.commit, tmp_path) is None
    assert validator_code(chain, chain.block, chain.commit, tmp_path, trusted_txs=True) is None
    path = store_tampered(chain, chain.block, chain.commit, tmp_path)
    assert audit_code(chain, path) is None
    assert checkpoint_code(chain, path) is None
    assert verifier_code(chain, certificate_with(chain, chain.block, chain.commit)) is None


def test_there_is_a_tampering_for_every_code_and_no_other() -> None:
    assert {*TAMPERINGS, "too_many_txs"} == set(CODES)
    assert set(VERIFIER_CODES) <= set(CODES) and set(CHECKPOINT_CODES) <= set(CODES)


@pytest.mark.parametrize("code", list(CODES))
def test_validator_and_auditor_refuse_the_same_tampered_block_with_the_same_code(
    chain: Chain, code: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    block, cert = tampered(chain, code, monkeypatch)
    assert validator_code(chain, block, cert, tmp_path) == code
    if code not in CHECK_BLOCK_SKIPS:
        assert validator_code(chain, block, cert, tmp_path, trusted_txs=True) == code
    assert replay_code(chain, block, cert) == code
    path = store_tampered(chain, block, cert, tmp_path)
    # (a stored header of another chain does not parse as a block -- its transactions
    # are for this chain -- and is still reported as the rule's wrong_chain)
    assert audit_code(chain, path) == code
    if code in CHECKPOINT_CODES:
        assert checkpoint_code(chain, path) == code
    if code in VERIFIER_CODES:
        doc = certificate_with(chain, block, cert)
        assert verifier_code(chain, doc) == code
        assert cli_code(chain, doc, tmp_path, capsys) == code
