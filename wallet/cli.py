"""The ``fcl keys ...``, ``fcl tx ...`` and ``fcl doc ...`` command groups.

``fcl/main.py`` (the ``fcl`` entry point) calls :func:`register` with its subparsers and
then ``args.func(args)``; every subcommand here sets ``func`` to :func:`handle`, which runs
the command and turns expected errors into ``error: <code>: <message>`` on stderr and an
exit code (2: the command line or an input is invalid or names something that does not
exist; 1: a valid request failed -- the node refused it or could not be reached, or the
transaction failed: ``tx send --wait`` when the committed result is not ``ok``, ``tx
simulate`` when the dry run says it would fail). :func:`main_for_tests` builds a throwaway
parser with just these groups.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ledger.crypto import is_hex_pubkey
from ledger.documents import MAX_DOCUMENT_BYTES, MEDIA_TYPES, TYPE_BY_EXTENSION
from ledger.encoding import CanonicalEncodingError, canonical_str, decode
from ledger.errors import LedgerError
from ledger.tx import parse_transaction
from wallet.builder import build_signed_tx, geojson_to_ledger, load_geojson, parse_args_json
from wallet.client import DEFAULT_TIMEOUT_S, NodeClient
from wallet.documents import get_document, upload_document
from wallet.errors import ClientError, KeystoreError, WalletError
from wallet.keystore import Keystore

__all__ = ["DEFAULT_KEYSTORE", "KEYSTORE_ENV", "handle", "main_for_tests", "register"]

KEYSTORE_ENV = "FCL_KEYSTORE"
DEFAULT_KEYSTORE = "~/.fcl/keys"
_MAX_INPUT_BYTES = 1024 * 1024

# Codes that mean "the command line or an input is invalid, or names something that does
# not exist" (exit 2). Every other error (wrong passphrase, damaged keystore, key name
# taken, I/O failure, anything the node says or not saying anything) exits 1.
INPUT_ERROR_CODES = frozenset(
    {
        "usage",
        "invalid_name",
        "invalid_args",
        "invalid_json",
        "invalid_geojson",
        "invalid_input",
        "invalid_tx",
        "invalid_tx_id",
        "invalid_url",
        "invalid_timeout",
        "invalid_seed",
        "invalid_passphrase",
        "no_passphrase",
        "passphrase_mismatch",
        "weak_passphrase",
        "unknown_key",
        "ambiguous_key",
        "no_signer",
        "duplicate_signer",
        # ledger.tx errors raised while checking a transaction locally
        "malformed_tx",
        "bad_signature",
        "tx_too_large",
        "wrong_chain",
    }
)

Action = Callable[[argparse.Namespace], int]


# --------------------------------------------------------------------------- helpers


def _out(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()


def _note(text: str) -> None:
    sys.stderr.write(text + "\n")


def _keystore(args: argparse.Namespace) -> Keystore:
    directory = args.keystore or os.environ.get(KEYSTORE_ENV) or DEFAULT_KEYSTORE
    return Keystore(directory, insecure_test_scrypt_n=getattr(args, "wallet_test_scrypt_n", None))


def _read_source(source: str, what: str) -> str:
    """Text from a file, or from standard input for ``-``."""
    try:
        if source == "-":
            text = sys.stdin.read(_MAX_INPUT_BYTES + 1)
        else:
            with open(Path(source).expanduser(), encoding="utf-8") as f:
                text = f.read(_MAX_INPUT_BYTES + 1)
    except FileNotFoundError:
        raise WalletError("invalid_input", f"{what} file {source} does not exist") from None
    except UnicodeDecodeError:
        raise WalletError("invalid_input", f"{what} file {source} is not UTF-8 text") from None
    except OSError as exc:
        raise WalletError("invalid_input", f"cannot read {what} {source}: {exc.strerror}") from None
    if len(text) > _MAX_INPUT_BYTES:
        raise WalletError("invalid_input", f"{what} {source} is larger than 1 MiB")
    return text


def _passphrase(args: argparse.Namespace) -> str | None:
    """The passphrase from ``--passphrase-file`` (first line), else None: the keystore then
    uses FCL_PASSPHRASE or a prompt."""
    source = getattr(args, "passphrase_file", None)
    if source is None:
        return None
    text = _read_source(source, "passphrase")
    line = text.split("\n", 1)[0].removesuffix("\r")
    if not line:
        raise KeystoreError("invalid_passphrase", f"the passphrase file {source} is empty")
    return line


def _write_output(path: str, text: str) -> None:
    try:
        with open(Path(path).expanduser(), "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as exc:
        raise WalletError("io_error", f"cannot write {path}: {exc.strerror}") from None


# --------------------------------------------------------------------------- keys


def _keys_new(args: argparse.Namespace) -> int:
    ks = _keystore(args)
    public_key = ks.create(args.name, _passphrase(args))
    _out(public_key)
    _note(f"created key '{args.name}' in {ks.path(args.name)}")
    return 0


def _keys_list(args: argparse.Namespace) -> int:
    ks = _keystore(args)
    entries = ks.list()
    if not entries:
        _note(f"no keys in {ks.directory}")
    width = max((len(e.name) for e in entries), default=0)
    for entry in entries:
        _out(f"{entry.name.ljust(width)}  {entry.public_key}")
    return 0


def _keys_show(args: argparse.Namespace) -> int:
    ks = _keystore(args)
    path = ks.path(args.name)
    public_key = ks.public_key(args.name)
    name = path.name.removesuffix(".json")
    _out(f"name:       {name}\npublic_key: {public_key}\npath:       {path}")
    return 0


# --------------------------------------------------------------------------- tx


def _tx_sign(args: argparse.Namespace) -> int:
    raw = args.args
    tx_args = parse_args_json(_read_source(raw[1:], "args") if raw.startswith("@") else raw)
    names = [args.key, *(args.cosign or [])]
    ks = _keystore(args)
    resolved = [ks.path(n) for n in names]  # fail on an unknown name before any prompt
    if len(set(resolved)) != len(resolved):
        raise WalletError("duplicate_signer", "the same key is named twice (--key/--cosign)")
    passphrase = _passphrase(args)
    keys = [ks.load(n, passphrase) for n in names]
    tx = build_signed_tx(
        chain_id=args.chain_id,
        contract=args.contract,
        method=args.method,
        args=tx_args,
        keys=keys,
        nonce=args.nonce,
    )
    text = canonical_str(tx.to_json()) + "\n"
    if args.out:
        _write_output(args.out, text)
        _out(tx.tx_id)
        _note(f"signed transaction {tx.tx_id} ({len(keys)} signer(s)) written to {args.out}")
    else:
        _out(text)
    return 0


def _read_tx_object(source: str) -> Any:
    text = _read_source(source, "transaction")
    try:
        return decode(text)
    except CanonicalEncodingError as exc:
        raise WalletError("invalid_tx", f"the transaction file is not valid: {exc}") from None


def _result_line(code: str, height: object, tx_id: object) -> str:
    """One result: ``<code or ok> height=<h> tx=<id>``."""
    return f"{code} height={height} tx={tx_id}"


def _committed(record: Any) -> tuple[str, str]:
    """The code and message of a committed transaction's record (``GET /v1/txs/{id}``)."""
    result = record.get("result") if isinstance(record, dict) else None
    code = result.get("code") if isinstance(result, dict) else None
    if not isinstance(code, str) or not code:
        raise ClientError("bad_response", "the node's record of the transaction has no result code")
    message = result.get("message") if isinstance(result, dict) else None
    return code, message if isinstance(message, str) else ""


def _tx_send(args: argparse.Namespace) -> int:
    tx = parse_transaction(_read_tx_object(args.file))
    tx.verify_signatures()  # catch a damaged file here rather than at the node
    with NodeClient(args.node, timeout_s=args.request_timeout) as client:
        tx_id = client.submit(tx)
        if not args.wait:
            if args.json:
                _out(json.dumps({"status": "pending", "tx_id": tx_id}, sort_keys=True))
            else:
                _out(tx_id)
            return 0
        _note(f"submitted {tx_id}; waiting for commit")
        record = client.wait_committed(tx_id, args.timeout)
    code, message = _committed(record)
    if args.json:
        _out(json.dumps(record, indent=2, sort_keys=True, ensure_ascii=False))
    else:
        _out(_result_line(code, record.get("height"), tx_id))
    if code != "ok":
        _note(f"error: {code}: {message or 'the committed transaction failed'}")
        return 1
    return 0


def _signer_keys(names: Sequence[str], args: argparse.Namespace) -> list[str]:
    """The ``--signer`` keys: a public key (64 lowercase hex digits) as it is, else the
    public key of that key in the keystore (no passphrase needed)."""
    ks: Keystore | None = None
    out: list[str] = []
    for name in names:
        if is_hex_pubkey(name):
            out.append(name)
            continue
        if ks is None:
            ks = _keystore(args)
        out.append(ks.public_key(name))
    if len(set(out)) != len(out):
        raise WalletError("duplicate_signer", "the same key is named twice (--signer)")
    return out


def _tx_simulate(args: argparse.Namespace) -> int:
    obj = _read_tx_object(args.file)
    if not isinstance(obj, dict) or not isinstance(obj.get("payload"), dict):
        raise WalletError("invalid_tx", "a transaction is a JSON object with a 'payload' object")
    names = args.signer or []
    signers: list[str] | None = None
    if obj.get("signatures", []) != []:  # signed: checked as tx send checks it
        if names:
            raise WalletError("usage", "--signer is for unsigned transactions; this one is "
                              "signed (its signatures name the signers)")
        tx = parse_transaction(obj)
        tx.verify_signatures()
        body: Any = tx
        tx_id = tx.tx_id
    else:
        payload = dict(obj["payload"])
        if names:
            signers = _signer_keys(names, args)
            if "signers" in payload and payload["signers"] != signers:
                raise WalletError("invalid_tx", "payload.signers differs from the --signer keys; "
                                  "name the signers once")
            payload["signers"] = signers
        elif "signers" not in payload:
            raise WalletError("no_signer", "an unsigned transaction needs --signer NAME|PUBKEY "
                              "(or payload.signers)")
        # the checks the node makes, here first: the signed transaction's shape and size
        count = len(payload["signers"]) if isinstance(payload["signers"], list) else 0
        tx_id = parse_transaction({"payload": payload, "signatures": ["0" * 128] * count}).tx_id
        body = {"payload": payload}
    with NodeClient(args.node, timeout_s=args.request_timeout) as client:
        answer = client.simulate(body, signers=signers)
    if args.json:
        _out(json.dumps(answer, indent=2, sort_keys=True, ensure_ascii=False))
    else:
        _out(_result_line(answer["code"], answer["height"], answer.get("tx_id", tx_id)))
    if not answer["ok"]:
        _note(f"error: {answer['code']}: {answer.get('message') or 'the transaction would fail'}")
        return 1
    return 0


def _tx_geojson(args: argparse.Namespace) -> int:
    geometry = geojson_to_ledger(load_geojson(_read_source(args.file, "GeoJSON")))
    _out(canonical_str(geometry))
    return 0


# --------------------------------------------------------------------------- wiring


def handle(args: argparse.Namespace) -> int:
    """Run the wallet command selected in ``args``; return the process exit code.

    Expected errors are printed as ``error: <code>: <message>`` (no traceback)."""
    action: Action | None = getattr(args, "wallet_action", None)
    if action is None:
        _note("error: usage: no wallet command given (try: fcl keys --help, fcl tx --help)")
        return 2
    try:
        return action(args)
    except ClientError as exc:
        _note(f"error: {exc.code}: {exc.message}")
        return 1
    except LedgerError as exc:
        _note(f"error: {exc.code}: {exc.message}")
        return 2 if exc.code in INPUT_ERROR_CODES else 1
    except KeyboardInterrupt:
        _note("error: interrupted")
        return 130
    except BrokenPipeError:
        return 1
    except OSError as exc:
        _note(f"error: io_error: {exc.strerror or exc}")
        return 1


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number of seconds")
    return value


def _leaf(
    group: argparse._SubParsersAction,
    name: str,
    action: Action,
    help_text: str,
    parents: Sequence[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    parser = group.add_parser(name, help=help_text, description=help_text, parents=list(parents))
    parser.set_defaults(func=handle, wallet_action=action)
    return parser


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``keys`` and ``tx`` command groups to a top-level ``fcl`` parser."""
    store = argparse.ArgumentParser(add_help=False)
    store.add_argument(
        "--keystore",
        metavar="DIR",
        default=None,
        help=f"keystore directory (default: ${KEYSTORE_ENV}, else {DEFAULT_KEYSTORE})",
    )
    secret = argparse.ArgumentParser(add_help=False)
    secret.add_argument(
        "--passphrase-file",
        metavar="FILE",
        default=None,
        help="read the passphrase from the first line of FILE "
        "(default: $FCL_PASSPHRASE, else ask on the terminal)",
    )

    keys = subparsers.add_parser(
        "keys", help="manage encrypted signing keys", description="Manage encrypted keys."
    )
    keys_sub = keys.add_subparsers(dest="wallet_keys_command", metavar="COMMAND", required=True)
    p = _leaf(keys_sub, "new", _keys_new, "create a key; prints its public key", [store, secret])
    p.add_argument("name", metavar="NAME", help="key name: letters, digits, '.', '_', '-'")
    _leaf(keys_sub, "list", _keys_list, "list keys: name and public key", [store])
    p = _leaf(keys_sub, "show", _keys_show, "show a key's public key and file", [store])
    p.add_argument("name", metavar="NAME", help="key name or public key prefix (>= 8 hex)")

    tx = subparsers.add_parser(
        "tx", help="sign and send transactions", description="Sign and send transactions."
    )
    tx_sub = tx.add_subparsers(dest="wallet_tx_command", metavar="COMMAND", required=True)
    p = _leaf(tx_sub, "sign", _tx_sign, "build and sign a transaction", [store, secret])
    p.add_argument("--key", required=True, metavar="NAME", help="the main signer")
    p.add_argument("--chain-id", required=True, metavar="ID")
    p.add_argument("--contract", required=True, metavar="C")
    p.add_argument("--method", required=True, metavar="M")
    p.add_argument(
        "--args",
        required=True,
        metavar="JSON|@FILE",
        help="arguments as a JSON object, or @FILE (@- for stdin)",
    )
    p.add_argument(
        "--cosign",
        action="append",
        metavar="NAME",
        help="another key that signs the same payload (repeatable)",
    )
    p.add_argument("--nonce", default=None, help="nonce (default: 32 random hex digits)")
    p.add_argument("--out", metavar="FILE", help="write the transaction to FILE; print its id")

    p = _leaf(
        tx_sub,
        "send",
        _tx_send,
        "submit a signed transaction to a node; with --wait, exit 1 if the committed "
        "transaction failed",
        [],
    )
    p.add_argument("file", metavar="FILE", help="signed transaction JSON, or - for stdin")
    p.add_argument("--node", required=True, metavar="URL", help="node RPC, e.g. http://h:26657")
    p.add_argument("--wait", action="store_true", help="wait for the commit; print the result")
    p.add_argument(
        "--timeout",
        type=_positive_float,
        default=30.0,
        metavar="S",
        help="with --wait: give up after S seconds (default 30)",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print the node's JSON (with --wait: the committed record) instead of one line",
    )
    _request_timeout(p)

    p = _leaf(
        tx_sub,
        "simulate",
        _tx_simulate,
        "dry-run a transaction (signed, or unsigned with --signer) on a node's latest state; "
        "exit 0 if it would succeed, 1 if it would fail",
        [store],
    )
    p.add_argument("file", metavar="FILE", help="transaction JSON, or - for stdin")
    p.add_argument("--node", required=True, metavar="URL", help="node RPC, e.g. http://h:26657")
    p.add_argument(
        "--signer",
        action="append",
        metavar="NAME|PUBKEY",
        help="for an unsigned transaction: run it as signed by this key (a keystore name or "
        "a public key; repeatable)",
    )
    p.add_argument("--json", action="store_true", help="print the node's JSON answer")
    _request_timeout(p)

    p = _leaf(
        tx_sub,
        "geojson",
        _tx_geojson,
        "convert a GeoJSON Polygon (decimal degrees) to the ledger form (1e-7 degree ints)",
        [],
    )
    p.add_argument("file", metavar="FILE", help="GeoJSON file, or - for stdin")


    doc = subparsers.add_parser(
        "doc", help="upload and fetch documents (the store behind the ledger's hashes)",
        description="Upload a document to a node's document store (signed by an enrolled "
        "key) and fetch one by its SHA-256, checked (docs/documents.md).")
    doc_sub = doc.add_subparsers(dest="wallet_doc_command", metavar="COMMAND", required=True)
    p = _leaf(doc_sub, "upload", _doc_upload,
              "upload FILE signed by an enrolled key; print its SHA-256, the hash to record "
              "on the ledger", [store, secret])
    p.add_argument("file", metavar="FILE", help="the document")
    p.add_argument("--node", required=True, metavar="URL", help="node RPC, e.g. http://h:26657")
    p.add_argument("--key", required=True, metavar="NAME", help="the enrolled key that signs")
    p.add_argument("--restricted", action="store_true",
                   help="a land-tenure record: served only to the regulator and your "
                   "organisation, on signed reads")
    p.add_argument("--type", choices=sorted(MEDIA_TYPES), default=None,
                   help="the document's type (default: from the file name's extension)")
    p.add_argument("--json", action="store_true", help="print the node's JSON answer")
    _request_timeout(p, 120.0)

    p = _leaf(doc_sub, "get", _doc_get,
              "fetch a document by its SHA-256 and check the bytes against it", [store, secret])
    p.add_argument("sha256", metavar="SHA256", help="the document's SHA-256 (64 hex digits)")
    p.add_argument("--node", required=True, metavar="URL", help="node RPC, e.g. http://h:26657")
    p.add_argument("--out", metavar="FILE",
                   help="write the document to FILE (default: standard output)")
    p.add_argument("--key", metavar="NAME",
                   help="sign the read with this key (needed for a restricted document)")
    _request_timeout(p, 120.0)


def _media_type(args: argparse.Namespace) -> str:
    if args.type is not None:
        return MEDIA_TYPES[str(args.type)]
    short = TYPE_BY_EXTENSION.get(Path(args.file).suffix.lower())
    if short is None:
        raise WalletError("invalid_input",
                          f"cannot tell the type of {args.file} from its extension; give "
                          f"--type ({', '.join(sorted(MEDIA_TYPES))})")
    return MEDIA_TYPES[short]


def _doc_upload(args: argparse.Namespace) -> int:
    media_type = _media_type(args)
    try:
        with open(Path(args.file).expanduser(), "rb") as f:
            data = f.read(MAX_DOCUMENT_BYTES + 1)
    except FileNotFoundError:
        raise WalletError("invalid_input", f"document file {args.file} does not exist") from None
    if len(data) > MAX_DOCUMENT_BYTES:
        raise WalletError("invalid_input", f"{args.file} is larger than the "
                                           f"{MAX_DOCUMENT_BYTES} bytes a node takes")
    key = _keystore(args).load(args.key, _passphrase(args))
    with NodeClient(args.node, timeout_s=args.request_timeout) as client:
        answer = upload_document(client, key, data, media_type=media_type,
                                 restricted=bool(args.restricted))
    if args.json:
        print(canonical_str(answer))
    else:
        print(answer["sha256"])
        _note(f"{'stored' if answer.get('stored') else 'already held'}: {len(data)} bytes, "
              f"{media_type}{', restricted' if answer.get('restricted') else ''}")
    return 0


def _doc_get(args: argparse.Namespace) -> int:
    key = None if args.key is None else _keystore(args).load(args.key, _passphrase(args))
    with NodeClient(args.node, timeout_s=args.request_timeout) as client:
        document = get_document(client, str(args.sha256), key=key)
    if args.out is None:
        sys.stdout.buffer.write(document.data)
        sys.stdout.flush()
    else:
        try:
            with open(Path(args.out).expanduser(), "wb") as f:
                f.write(document.data)
        except OSError as exc:
            raise WalletError("io_error", f"cannot write {args.out}: {exc.strerror}") from None
        _note(f"{document.sha256}: {len(document.data)} bytes, {document.media_type}, "
              f"hash checked, written to {args.out}")
    return 0


def _request_timeout(p: argparse.ArgumentParser, default: float = DEFAULT_TIMEOUT_S) -> None:
    p.add_argument(
        "--request-timeout",
        type=_positive_float,
        default=default,
        metavar="S",
        help=f"timeout of each HTTP request (default {default:g})",
    )


def main_for_tests(argv: Sequence[str], *, test_scrypt_n: int | None = None) -> int:
    """Parse ``argv`` with a parser holding only the wallet groups and run it.

    ``test_scrypt_n`` lowers the scrypt cost of keys created by ``keys new`` (tests only).
    Returns the exit code, including argparse's 2 for a bad command line."""
    parser = argparse.ArgumentParser(prog="fcl")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    register(sub)
    try:
        args = parser.parse_args(list(argv))
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    args.wallet_test_scrypt_n = test_scrypt_n
    func: Callable[[argparse.Namespace], Any] = args.func
    return int(func(args))
