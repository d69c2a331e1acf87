"""State sync: start a node from a snapshot at a certified height instead of replaying the
chain from its genesis (issue 12, item 5; docs/state-sync.md).

::

    fcl snapshot fetch --node URL --genesis FILE [--checkpoint FILE] [--height H] --out DIR
    fcl node start ... --state-sync URL [--state-sync-height H] [--state-sync-checkpoint FILE]

:func:`fetch_snapshot` downloads the manifest of height H from a node
(``GET /v1/snapshots/{H}/manifest``), trusts its header from the genesis (or a
light-client checkpoint) through the validator-set changes and its commit certificate
(``ledger.header_chain``), checks that the manifest folds to the header's state root and
the history frontier to its history root, then downloads every chunk and checks each on
its own against the manifest (``ledger.snapshot``). Nothing unverified is kept.

:func:`state_sync` does that and then starts an empty store at H
(``Store.init_from_snapshot``). It also downloads blocks 1..H (``GET /v1/blocks/{h}``),
trusted by the hash chain back from header H (each block's hash is the next header's
``prev_hash``; block 1's is the genesis hash) and their roots (transactions and results),
and checks each commit certificate against the validator set then in force. Executing
none of them. Why the blocks: a transaction is refused as a duplicate because the store's
index of committed transaction ids holds it (``ledger.next_block.check_body``), not
because of anything in the state -- a node without that index could accept a replayed
transaction and leave the chain (docs/state-sync.md, "Replay protection").

Exit codes of ``fcl snapshot fetch``: 0 the snapshot verified and was written; 1 it did
not verify (the first failed check is printed); 2 bad command line or input (genesis,
checkpoint, output folder); 3 the node is unreachable or answered with an error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chaincode.validator_state import validator_set_for
from ledger.block import Block, CommitCertificate
from ledger.errors import LedgerError
from ledger.genesis import Genesis
from ledger.header_chain import HeaderChainError, TrustedState
from ledger.next_block import check_commit, check_validators_hash
from ledger.snapshot import Chunk, SnapshotError, SnapshotHead, verify_chunk, verify_manifest_answer
from ledger.state import MemoryState
from ledger.store import Store
from ledger.validators import ValidatorSet

__all__ = [
    "EXIT_INPUT",
    "EXIT_INVALID",
    "EXIT_OK",
    "EXIT_UNREACHABLE",
    "GetJson",
    "StateSyncError",
    "SyncedSnapshot",
    "fetch_blocks",
    "fetch_snapshot",
    "register",
    "state_sync",
]

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_INPUT = 2
EXIT_UNREACHABLE = 3

GetJson = Callable[[str], Any]
"""``get_json(path)``: the decoded JSON of a node's 2xx answer to ``GET path``; raises a
``LedgerError`` (``wallet.client.ClientError``) otherwise."""


class StateSyncError(LedgerError):
    """State sync refused what a node served. Codes: ``bad_block_chain`` (a block that is
    not the one the trusted header chain names, or whose roots or certificate do not
    verify), ``bad_status`` (a status without a height), ``store_not_empty``."""


class SyncedSnapshot:
    """A verified snapshot: its head (manifest, header, commit, history frontier) and its
    chunks, each verified."""

    def __init__(self, head: SnapshotHead, answer: dict[str, Any], chunks: list[Chunk]) -> None:
        self.head = head
        self.answer = answer
        self.chunks = chunks

    @property
    def height(self) -> int:
        return self.head.header.height

    def state(self) -> list[tuple[str, bytes]]:
        """The state's (key, value) pairs (keys as the ledger's UTF-8 strings)."""
        out: list[tuple[str, bytes]] = []
        for chunk in self.chunks:
            for key, value in chunk.leaves:
                try:
                    out.append((key.decode("utf-8"), value))
                except UnicodeDecodeError:
                    raise SnapshotError(
                        "malformed_chunk", f"chunk {chunk.index} holds a key that is not UTF-8 text"
                    ) from None
        return out


def _latest_height(get_json: GetJson) -> int:
    status = get_json("/v1/status")
    height = status.get("height") if isinstance(status, dict) else None
    if type(height) is not int or height < 1:
        raise StateSyncError("bad_status", "the node's status has no committed height from 1 on")
    return height


def fetch_snapshot(
    get_json: GetJson,
    trusted: TrustedState,
    height: int | None = None,
    on_chunk: Callable[[Chunk], None] | None = None,
) -> SyncedSnapshot:
    """Download and verify the snapshot of ``height`` (default: the node's latest height)
    with the manifest's header trusted from ``trusted``. Raises ``SnapshotError`` /
    ``HeaderChainError`` (verification) or the ``get_json`` error (the node)."""
    if height is None:
        height = _latest_height(get_json)
    answer = get_json(f"/v1/snapshots/{height}/manifest")
    head = verify_manifest_answer(trusted, answer, height)
    chunks: list[Chunk] = []
    for index in range(len(head.manifest.chunks)):
        chunk = Chunk.from_json(get_json(f"/v1/snapshots/{height}/chunks/{index}"))
        verify_chunk(head.manifest, chunk)
        chunks.append(chunk)
        if on_chunk is not None:
            on_chunk(chunk)
    return SyncedSnapshot(head, answer, chunks)


def _bad(message: str) -> StateSyncError:
    return StateSyncError("bad_block_chain", message)


def fetch_blocks(get_json: GetJson, genesis: Genesis, snap: SyncedSnapshot,
                 ) -> list[tuple[Block, CommitCertificate]]:
    """Blocks 1..H with their certificates, each trusted by the hash chain back from the
    snapshot's header, checked against its roots, and its certificate checked against the
    validator set in force (the genesis set, then each listed change's)."""
    height = snap.height
    changes = {c["height"]: c for c in snap.answer["validator_set_changes"]}
    blocks: list[tuple[Block, CommitCertificate]] = []
    for h in range(1, height + 1):
        body = get_json(f"/v1/blocks/{h}")
        try:
            block = Block.from_json(body["block"])
            commit = CommitCertificate.from_json(body["commit"])
            block.check_roots()
        except (LedgerError, KeyError, TypeError) as exc:
            raise _bad(f"block {h} as served does not parse or verify: {exc}") from None
        if block.height != h:
            raise _bad(f"asked for block {h}, got block {block.height}")
        blocks.append((block, commit))
    # the hash chain, from the trusted header down to the genesis
    expected = snap.head.header.hash()
    for block, _ in reversed(blocks):
        if block.hash() != expected:
            raise _bad(
                f"block {block.height} as served is not the block the trusted chain names "
                f"(hash {block.hash()[:16]}…, expected {expected[:16]}…)"
            )
        expected = block.header.prev_hash
    if expected != genesis.hash:
        raise _bad(f"block 1 does not follow the genesis {genesis.hash[:16]}…")
    # every certificate, by the set in force
    current = genesis.validators
    for block, commit in blocks:
        header = block.header
        try:
            check_validators_hash(current, header)
            check_commit(genesis.chain_id, current, header, commit)
        except LedgerError as exc:
            raise _bad(f"block {header.height}: {exc.message}") from None
        if header.next_validators_hash != header.validators_hash and header.height < height:
            change = changes.get(header.height)
            if change is None:
                raise _bad(f"block {header.height} changes the validator set, which the manifest does not list")
            current = ValidatorSet.from_json(change["validators"])
            if current.hash() != header.next_validators_hash:  # a change below a checkpoint
                raise _bad(f"the set listed for the change at block {header.height} does not hash "
                           "to its next_validators_hash")
    return blocks


def _changes_of(blocks: list[tuple[Block, CommitCertificate]], listed: list[dict[str, Any]],
                ) -> list[dict[str, Any]]:
    """The validator-set changes of blocks below H, rebuilt from the verified blocks (not
    the answer's JSON, whose entries below a checkpoint no signature check covered)."""
    sets = {c["height"]: c["validators"] for c in listed}
    out = []
    for block, commit in blocks[:-1]:
        header = block.header
        if header.next_validators_hash != header.validators_hash:
            out.append({"commit": commit.to_json(), "header": header.to_json(),
                        "height": header.height, "validators": sets[header.height]})
    return out


def state_sync(
    store: Store,
    get_json: GetJson,
    genesis: Genesis,
    *,
    checkpoint: TrustedState | None = None,
    height: int | None = None,
) -> SyncedSnapshot:
    """Start the empty ``store`` at ``height`` (default: the node's latest) from a snapshot
    served by ``get_json``'s node, trusted from ``checkpoint`` or else the genesis."""
    if store.initialised:
        raise StateSyncError(
            "store_not_empty", f"the store {store.path} already holds a chain; state sync starts an empty one"
        )
    trusted = checkpoint or TrustedState.from_genesis(genesis)
    if trusted.genesis_hash != genesis.hash or trusted.chain_id != genesis.chain_id:
        raise HeaderChainError("bad_checkpoint", "the checkpoint is of another chain than the genesis")
    snap = fetch_snapshot(get_json, trusted, height)
    blocks = fetch_blocks(get_json, genesis, snap)
    state = snap.state()
    changes = _changes_of(blocks, snap.answer["validator_set_changes"])
    header = snap.head.header
    if header.next_validators_hash != header.validators_hash:  # block H changes the set
        try:
            new_set = validator_set_for(MemoryState(state), header.height + 1)
        except (LookupError, LedgerError):
            new_set = None
        if new_set is None or new_set.hash() != header.next_validators_hash:
            raise SnapshotError(
                "manifest_root_mismatch",
                f"the snapshot's validator set for block {header.height + 1} does not hash to "
                f"header {header.height}'s next_validators_hash",
            )
        changes.append({"commit": snap.head.commit.to_json(), "header": header.to_json(),
                        "height": header.height, "validators": new_set.to_json()})
    store.init_from_snapshot(genesis.hash, genesis.chain_id, blocks, state,
                             {"height": header.height, "validator_set_changes": changes})
    return snap


# --------------------------------------------------------------------------- the CLI


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``fcl snapshot fetch`` to a top-level ``fcl`` parser."""
    p = subparsers.add_parser(
        "snapshot", help="state-sync snapshots",
        description="Download and verify a state-sync snapshot (docs/state-sync.md).")
    sub = p.add_subparsers(dest="snapshot_command", required=True)
    f = sub.add_parser(
        "fetch", help="download a snapshot and verify it chunk by chunk",
        description="Download the snapshot of a height from a node, trust its header from the "
        "genesis (or a light-client checkpoint), verify the manifest against the header's "
        "state root and every chunk against the manifest, and write them to a folder. "
        "Exit 0 verified, 1 not verified, 2 bad input, 3 node unreachable.")
    f.add_argument("--node", metavar="URL", required=True, help="the node's API, http://host:port")
    f.add_argument("--genesis", metavar="FILE", required=True, help="the network's genesis document")
    f.add_argument("--checkpoint", metavar="FILE",
                   help="a light-client checkpoint (fcl-light-checkpoint v1) to trust instead of the genesis")
    f.add_argument("--height", metavar="H", type=int, help="the snapshot's height (default: the node's latest)")
    f.add_argument("--out", metavar="DIR", required=True, help="where to write manifest.json and chunks/")
    f.add_argument("--timeout", metavar="S", type=float, default=30.0,
                   help="seconds to wait for each answer (default 30)")
    f.set_defaults(func=cmd_fetch)


def _error(code: str, message: str) -> None:
    print(f"error: {code}: {message}", file=sys.stderr)


def load_trust(genesis_path: str, checkpoint_path: str | None) -> tuple[Genesis, TrustedState]:
    """The genesis and the trusted state (its own, or the checkpoint's); ``LedgerError`` /
    ``OSError`` for bad input."""
    genesis = Genesis.load(Path(genesis_path).expanduser())
    if checkpoint_path is None:
        return genesis, TrustedState.from_genesis(genesis)
    return genesis, load_checkpoint(genesis, checkpoint_path)


def load_checkpoint(genesis: Genesis, checkpoint_path: str) -> TrustedState:
    """A light-client checkpoint file of ``genesis``'s chain (``bad_checkpoint``)."""
    try:
        obj = json.loads(Path(checkpoint_path).expanduser().read_text(encoding="utf-8"))
    except ValueError:
        raise HeaderChainError("bad_checkpoint", f"{checkpoint_path} is not JSON") from None
    trusted = TrustedState.from_json(obj)
    if trusted.genesis_hash != genesis.hash:
        raise HeaderChainError("bad_checkpoint", "the checkpoint is of another chain than the genesis")
    return trusted


def cmd_fetch(args: argparse.Namespace) -> int:
    from wallet.client import ClientError, NodeClient
    from wallet.errors import WalletError

    try:
        _genesis, trusted = load_trust(args.genesis, args.checkpoint)
    except (OSError, ValueError) as exc:
        code = exc.code if isinstance(exc, LedgerError) else "bad_input"
        _error(code, str(getattr(exc, "message", exc)))
        return EXIT_INPUT
    if args.height is not None and args.height < 1:
        _error("bad_height", "--height is a block height from 1")
        return EXIT_INPUT
    out = Path(args.out).expanduser()
    try:
        (out / "chunks").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _error("bad_output", f"cannot create {out}: {exc}")
        return EXIT_INPUT
    try:
        client = NodeClient(args.node, timeout_s=args.timeout)
    except WalletError as exc:
        _error(exc.code, exc.message)
        return EXIT_INPUT

    def write_chunk(chunk: Chunk) -> None:
        (out / "chunks" / f"{chunk.index:05d}.json").write_text(
            json.dumps(chunk.to_json(), sort_keys=True), encoding="utf-8")

    try:
        with client:
            snap = fetch_snapshot(client.get_json, trusted, args.height, write_chunk)
    except ClientError as exc:
        _error(exc.code, exc.message)
        return EXIT_UNREACHABLE
    except LedgerError as exc:
        print(f"INVALID: {exc.code}: {exc.message}")
        return EXIT_INVALID
    (out / "manifest.json").write_text(json.dumps(snap.answer, sort_keys=True), encoding="utf-8")
    manifest = snap.head.manifest
    print(f"VERIFIED: snapshot of height {snap.height}: {manifest.leaf_count} keys in "
          f"{len(manifest.chunks)} chunks, state root {snap.head.header.state_root}")
    return EXIT_OK


# --------------------------------------------------------------------------- fcl node start


def add_start_options(p: argparse.ArgumentParser) -> None:
    """``fcl node start``'s state-sync options."""
    p.add_argument("--state-sync", metavar="URL",
                   help="if the node's data folder is empty, start it from a snapshot served by "
                   "the node at URL (verified from the genesis, docs/state-sync.md) instead of "
                   "replaying from the genesis")
    p.add_argument("--state-sync-height", metavar="H", type=int,
                   help="the snapshot's height (default: that node's latest)")
    p.add_argument("--state-sync-checkpoint", metavar="FILE",
                   help="trust this light-client checkpoint instead of the genesis alone")


def start_from_snapshot(args: argparse.Namespace, store: Store, genesis: Genesis) -> None:
    """For ``fcl node start --state-sync URL``: state-sync the empty ``store`` (nothing if
    the option is absent or the store already holds a chain). Raises ``LedgerError``
    (a verification failure, or ``ClientError`` for the serving node)."""
    url = getattr(args, "state_sync", None)
    if url is None or store.initialised:
        return
    from wallet.client import NodeClient

    checkpoint = None
    if args.state_sync_checkpoint is not None:
        checkpoint = load_checkpoint(genesis, args.state_sync_checkpoint)
    with NodeClient(url, timeout_s=60.0) as client:
        snap = state_sync(store, client.get_json, genesis, checkpoint=checkpoint,
                          height=args.state_sync_height)
    print(f"state sync: started at height {snap.height} from {url} "
          f"({snap.head.manifest.leaf_count} keys, state root {snap.head.header.state_root})",
          file=sys.stderr)
