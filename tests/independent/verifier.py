"""An independent verifier of the ledger's proof files, written from the docs alone.

Sources (nothing else was read while writing it): docs/certificates.md, docs/state-proofs.md,
docs/formats.md, docs/light-client.md, docs/architecture.md "Blocks". It uses only the standard
library (``hashlib``, ``json``, ``re``, ``unicodedata``) and PyNaCl for the Ed25519 equation; the
strictness rules of docs/formats.md "Ed25519" are implemented here. It must not import any package
of the project (``tests/independent/test_independent.py`` checks its imports).

Three kinds of file: retirement certificates (versions 1 and 2), state-proof files
(``fcl-state-proof``) and holding proofs (``fcl-holding-proof``). Each ``verify_*`` answers a
:class:`Verdict`: valid, or the first failed check with a code of our own choosing (compare
verdicts, not messages or codes, with the project's verifier).
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

import nacl.exceptions
import nacl.signing

MAX_FILE_BYTES = 16 * 1024 * 1024
MAX_SAFE = 2**53 - 1
HEX64 = re.compile(r"[0-9a-f]{64}\Z")
HEX128 = re.compile(r"[0-9a-f]{128}\Z")
CHAIN_ID = re.compile(r"[a-z0-9][a-z0-9._-]{2,63}\Z")
IDENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}\Z")
VNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")
CONTRACT = re.compile(r"[a-z][a-z0-9_]{0,63}\Z")
HEIGHT_KEY = re.compile(r"[1-9][0-9]*\Z")
MAX_ROUND = 2**31 - 1
EMPTY32 = bytes(32)


class Invalid(Exception):
    def __init__(self, check: str, code: str, detail: str = "") -> None:
        super().__init__(f"{check}: {code}: {detail}")
        self.check = check
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class Verdict:
    ok: bool
    check: str | None = None
    code: str | None = None
    detail: str = ""


def _run(fn: Any, *args: Any, **kw: Any) -> Verdict:
    try:
        fn(*args, **kw)
    except Invalid as e:
        return Verdict(False, e.check, e.code, e.detail)
    except (TypeError, KeyError, ValueError, AttributeError, IndexError, RecursionError) as e:
        # a verifier never crashes: input it did not foresee is refused (the tests fail on it)
        return Verdict(False, "crash", type(e).__name__, str(e))
    return Verdict(True)


# --------------------------------------------------------------------------------- bytes, JSON
def _no_float(text: str) -> Any:
    raise ValueError(f"float {text}")


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate name {k!r}")
        out[k] = v
    return out


def decode(data: bytes, check: str = "format", limit: int = MAX_FILE_BYTES) -> Any:
    """certificates.md §2: UTF-8 without BOM, no NUL, no floats, no duplicate names, <= 16 MiB."""
    if not isinstance(data, bytes | bytearray):
        raise Invalid(check, "not_bytes")
    data = bytes(data)
    if len(data) > limit:
        raise Invalid(check, "file_too_large")
    if data.startswith(b"\xef\xbb\xbf"):
        raise Invalid(check, "byte_order_mark")
    if b"\x00" in data or data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise Invalid(check, "not_utf8")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise Invalid(check, "not_utf8", str(e)) from None
    try:
        return json.loads(text, object_pairs_hook=_pairs, parse_float=_no_float,
                          parse_constant=_no_float)
    except (ValueError, RecursionError) as e:
        raise Invalid(check, "not_json", str(e)) from None


def _utf16_key(k: str) -> bytes:
    return k.encode("utf-16-be", "surrogatepass")


_ESC = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _string(s: str) -> str:
    if unicodedata.normalize("NFC", s) != s:
        raise ValueError("string not NFC")
    out = ['"']
    for ch in s:
        if ch in _ESC:
            out.append(_ESC[ch])
        elif ord(ch) < 0x20:
            out.append(f"\\u{ord(ch):04x}")
        elif 0xD800 <= ord(ch) <= 0xDFFF:
            raise ValueError("lone surrogate")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _canon(v: Any, out: list[str]) -> None:
    if v is None:
        out.append("null")
    elif v is True:
        out.append("true")
    elif v is False:
        out.append("false")
    elif isinstance(v, int):
        if not -MAX_SAFE <= v <= MAX_SAFE:
            raise ValueError("integer out of range")
        out.append(str(v))
    elif isinstance(v, str):
        out.append(_string(v))
    elif isinstance(v, list):
        out.append("[")
        for i, x in enumerate(v):
            if i:
                out.append(",")
            _canon(x, out)
        out.append("]")
    elif isinstance(v, dict):
        out.append("{")
        for i, k in enumerate(sorted(v, key=_utf16_key)):
            if not isinstance(k, str):
                raise ValueError("non-string key")
            if i:
                out.append(",")
            out.append(_string(k))
            out.append(":")
            _canon(v[k], out)
        out.append("}")
    else:
        raise ValueError(f"not canonical JSON: {type(v).__name__}")


def canonical(v: Any) -> bytes:
    """RFC 8785 restricted as certificates.md §1 says (raises ValueError otherwise)."""
    out: list[str] = []
    _canon(v, out)
    return "".join(out).encode("utf-8")


def sha256(b: bytes) -> bytes:
    return hashlib.sha256(b).digest()


def hhex(v: Any) -> str:
    return sha256(canonical(v)).hex()


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_hex64(v: Any) -> bool:
    return isinstance(v, str) and HEX64.match(v) is not None


def _exact(obj: Any, fields: set[str]) -> bool:
    return isinstance(obj, dict) and set(obj) == fields


# --------------------------------------------------------------------------------------- Ed25519
P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = (-121665 * pow(121666, P - 2, P)) % P
_ORDER8_Y = 2707385501144840649318225287225658788936804267575313519463743609750303402022
SMALL_ORDER_Y = {0, 1, _ORDER8_Y, P - _ORDER8_Y, P - 1, P, P + 1}


def _decodes(enc: bytes) -> bool:
    """formats.md Ed25519 rule 2: y < p and the point exists (x^2 = (y^2-1)/(d y^2+1))."""
    y = int.from_bytes(enc, "little") & ((1 << 255) - 1)
    sign = enc[31] >> 7
    if y >= P:
        return False
    u = (y * y - 1) % P
    v = (D * y * y + 1) % P
    x2 = u * pow(v, P - 2, P) % P
    if x2 == 0:
        return sign == 0
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P != 0:
        x = x * pow(2, (P - 1) // 4, P) % P
    return (x * x - x2) % P == 0


def ed25519_verify(pub: bytes, sig: bytes, msg: bytes) -> bool:
    if len(pub) != 32 or len(sig) != 64:
        return False
    r, s = sig[:32], sig[32:]
    if int.from_bytes(s, "little") >= L:  # rule 1
        return False
    if not _decodes(pub):  # rule 2
        return False
    low = (1 << 255) - 1
    for enc in (pub, r):  # rule 3
        if int.from_bytes(enc, "little") & low in SMALL_ORDER_Y:
            return False
    try:  # rule 4 (libsodium, cofactorless)
        nacl.signing.VerifyKey(pub).verify(msg, sig)
    except (nacl.exceptions.BadSignatureError, ValueError, TypeError):
        return False
    return True


def verify_hex_sig(pub_hex: str, sig_hex: str, msg: bytes) -> bool:
    return ed25519_verify(bytes.fromhex(pub_hex), bytes.fromhex(sig_hex), msg)


# ---------------------------------------------------------------------------------------- Merkle
def merkle_inclusion(leaf: bytes, index: int, size: int, proof: list[bytes], root: bytes) -> bool:
    """RFC 9162 §2.1.3.2, leaf = raw data."""
    if not 0 <= index < size:
        return False
    fn, sn = index, size - 1
    r = sha256(b"\x00" + leaf)
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = sha256(b"\x01" + p + r)
            if not fn & 1:
                while fn != 0 and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = sha256(b"\x01" + r + p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def _bit(h: bytes, d: int) -> int:
    return (h[d // 8] >> (7 - d % 8)) & 1


def parse_state_proof(obj: Any) -> tuple[tuple[bytes, bytes] | None, list[bytes]]:
    """state-proofs.md "Proofs": exactly {leaf, siblings}; raises ValueError otherwise."""
    if not _exact(obj, {"leaf", "siblings"}):
        raise ValueError("malformed_proof")
    sib = obj["siblings"]
    if not isinstance(sib, list):
        raise ValueError("malformed_proof")
    if len(sib) > 256:
        raise ValueError("proof_too_large")
    if not all(_is_hex64(s) for s in sib):
        raise ValueError("malformed_proof")
    leaf = obj["leaf"]
    if leaf is None:
        parsed = None
    elif _exact(leaf, {"key_hash", "value_hash"}) and _is_hex64(leaf["key_hash"]) \
            and _is_hex64(leaf["value_hash"]):
        parsed = (bytes.fromhex(leaf["key_hash"]), bytes.fromhex(leaf["value_hash"]))
    else:
        raise ValueError("malformed_proof")
    return parsed, [bytes.fromhex(s) for s in sib]


def smt_verify(root: bytes, key: bytes, value: bytes | None,
               proof: tuple[tuple[bytes, bytes] | None, list[bytes]]) -> bool:
    """state-proofs.md "Verification, step by step"."""
    leaf, sib = proof
    n = len(sib)
    if len(root) != 32 or n > 256:
        return False
    if n > 0 and sib[-1] == EMPTY32:
        return False
    h = sha256(key)
    if value is not None:
        if leaf is None or leaf[0] != h or leaf[1] != sha256(value):
            return False
        x = sha256(b"\x00" + leaf[0] + leaf[1])
    elif leaf is None:
        x = EMPTY32
    else:
        if leaf[0] == h or any(_bit(leaf[0], d) != _bit(h, d) for d in range(n)):
            return False
        x = sha256(b"\x00" + leaf[0] + leaf[1])
    for d in range(n - 1, -1, -1):
        x = sha256(b"\x01" + sib[d] + x) if _bit(h, d) else sha256(b"\x01" + x + sib[d])
    return x == root


# ------------------------------------------------------------------------ genesis, sets, headers
def valid_set(vs: Any) -> bool:
    """formats.md "Validator sets"."""
    if not isinstance(vs, list) or not 1 <= len(vs) <= 128:
        return False
    names: set[str] = set()
    keys: set[str] = set()
    for v in vs:
        if not _exact(v, {"name", "power", "pub_key"}):
            return False
        if not isinstance(v["name"], str) or not VNAME.match(v["name"]) or v["name"] in names:
            return False
        if not _is_int(v["power"]) or not 1 <= v["power"] <= 10**9:
            return False
        if not _is_hex64(v["pub_key"]) or v["pub_key"] in keys:
            return False
        names.add(v["name"])
        keys.add(v["pub_key"])
    return True


def valid_genesis(g: Any) -> bool:
    """formats.md "Genesis document" (app_state: only that it is an object)."""
    if not _exact(g, {"chain_id", "genesis_time", "validators", "app_state"}):
        return False
    if not isinstance(g["chain_id"], str) or not CHAIN_ID.match(g["chain_id"]):
        return False
    if not _is_int(g["genesis_time"]) or g["genesis_time"] < 0:
        return False
    if not isinstance(g["app_state"], dict) or not valid_set(g["validators"]):
        return False
    try:
        canonical(g)
    except ValueError:
        return False
    return True


HEADER_HEX = ("prev_hash", "txs_root", "results_root", "state_root", "validators_hash",
              "next_validators_hash", "proposer", "history_root")
HEADER_FIELDS = {"chain_id", "height", "time", *HEADER_HEX}


def header_ok(h: Any) -> bool:
    return (_exact(h, HEADER_FIELDS) and isinstance(h["chain_id"], str)
            and _is_int(h["height"]) and h["height"] >= 0 and _is_int(h["time"]) and h["time"] >= 0
            and all(_is_hex64(h[f]) for f in HEADER_HEX))


def commit_shape(c: Any, check: str) -> None:
    if not _exact(c, {"block_hash", "height", "round", "signatures"}):
        raise Invalid(check, "malformed_commit")
    if not _is_int(c["height"]) or not _is_hex64(c["block_hash"]) or not _is_int(c["round"]):
        raise Invalid(check, "malformed_commit")
    sigs = c["signatures"]
    if not isinstance(sigs, list) or len(sigs) > 1000:
        raise Invalid(check, "malformed_commit")
    for s in sigs:
        if not _exact(s, {"validator", "signature"}) or not _is_hex64(s["validator"]) \
                or not isinstance(s["signature"], str) or not HEX128.match(s["signature"]):
            raise Invalid(check, "malformed_commit")
    if not 0 <= c["round"] <= MAX_ROUND:
        raise Invalid(check, "bad_commit_round")


def commit_valid(check: str, header: dict[str, Any], commit: dict[str, Any],
                 vset: list[dict[str, Any]], chain_id: str) -> None:
    """certificates.md step 6 (and light-client.md 3.3's commit rule)."""
    if commit["height"] != header["height"]:
        raise Invalid(check, "commit_wrong_height")
    block_hash = hhex(header)
    if commit["block_hash"] != block_hash:
        raise Invalid(check, "commit_wrong_block")
    power = {v["pub_key"]: v["power"] for v in vset}
    total = sum(power.values())
    msg = canonical({"block_hash": block_hash, "chain_id": chain_id, "height": header["height"],
                     "round": commit["round"], "type": "precommit"})
    seen: set[str] = set()
    signed = 0
    for s in commit["signatures"]:
        if s["validator"] not in power:
            raise Invalid(check, "unknown_validator")
        if s["validator"] in seen:
            raise Invalid(check, "duplicate_signature")
        seen.add(s["validator"])
        if not verify_hex_sig(s["validator"], s["signature"], msg):
            raise Invalid(check, "bad_commit_signature")
        signed += power[s["validator"]]
    if not 3 * signed > 2 * total:
        raise Invalid(check, "insufficient_power")


def header_under(check: str, header: dict[str, Any], commit: dict[str, Any],
                 vset: list[dict[str, Any]], chain_id: str) -> None:
    """A header signed by ``vset``: names it, proposer a member, commit valid."""
    if header["chain_id"] != chain_id:
        raise Invalid(check, "wrong_chain")
    if header["validators_hash"] != hhex(vset):
        raise Invalid(check, "bad_validators_hash")
    if header["proposer"] not in {v["pub_key"] for v in vset}:
        raise Invalid(check, "unknown_proposer")
    commit_valid(check, header, commit, vset, chain_id)


def change_shape(ch: Any, check: str) -> None:
    if not _exact(ch, {"height", "header", "commit", "validators"}) or not _is_int(ch["height"]):
        raise Invalid(check, "malformed_change")
    if not header_ok(ch["header"]) or ch["header"]["height"] != ch["height"]:
        raise Invalid(check, "malformed_change")
    commit_shape(ch["commit"], check)


def walk_changes(check: str, vset: list[dict[str, Any]], changes: list[dict[str, Any]],
                 chain_id: str, after: int = 0) -> list[tuple[int, list[dict[str, Any]]]]:
    """certificates.md step 4: returns [(from height, set in force)], starting with (after+1, vset)."""
    sets = [(after + 1, vset)]
    prev = after
    for ch in changes:
        if ch["height"] <= prev:
            raise Invalid(check, "change_order")
        prev = ch["height"]
        header_under(check, ch["header"], ch["commit"], vset, chain_id)
        if ch["header"]["next_validators_hash"] == ch["header"]["validators_hash"]:
            raise Invalid(check, "not_a_change")
        if not valid_set(ch["validators"]) or hhex(ch["validators"]) != \
                ch["header"]["next_validators_hash"]:
            raise Invalid(check, "bad_change_set")
        vset = ch["validators"]
        sets.append((ch["height"] + 1, vset))
    return sets


def set_at(sets: list[tuple[int, list[dict[str, Any]]]], h: int) -> list[dict[str, Any]]:
    current = sets[0][1]
    for start, vs in sets:
        if start <= h:
            current = vs
    return current


# ---------------------------------------------------------------------------------- transactions
def tx_well_formed(tx: Any, chain_id: str) -> str | None:
    """formats.md "Transactions": None if well formed and signed, else a reason."""
    if not _exact(tx, {"payload", "signatures"}):
        return "malformed_tx"
    p, sigs = tx["payload"], tx["signatures"]
    if not _exact(p, {"args", "chain_id", "contract", "method", "nonce", "signers"}):
        return "malformed_tx"
    if not isinstance(p["chain_id"], str) or not CHAIN_ID.match(p["chain_id"]):
        return "malformed_tx"
    for f in ("contract", "method"):
        if not isinstance(p[f], str) or not CONTRACT.match(p[f]):
            return "malformed_tx"
    if not isinstance(p["args"], dict):
        return "malformed_tx"
    if not isinstance(p["nonce"], str) or not 1 <= len(p["nonce"]) <= 64:
        return "malformed_tx"
    signers = p["signers"]
    if not isinstance(signers, list) or not 1 <= len(signers) <= 8 \
            or not all(_is_hex64(s) for s in signers) or len(set(signers)) != len(signers):
        return "malformed_tx"
    if not isinstance(sigs, list) or len(sigs) != len(signers) \
            or not all(isinstance(s, str) and HEX128.match(s) for s in sigs):
        return "malformed_tx"
    try:
        body = canonical(p)
    except ValueError:
        return "malformed_tx"
    if len(body) + 130 * len(sigs) + 32 > 65536:
        return "tx_too_large"
    if p["chain_id"] != chain_id:
        return "wrong_chain"
    for k, s in zip(signers, sigs, strict=True):
        if not verify_hex_sig(k, s, body):
            return "bad_signature"
    return None


# ----------------------------------------------------------------------------- retirement certs
ROLE_METHOD = {
    "retirement": ("retire_compliance", "retire_voluntary"),
    "issuance": ("issue",), "verification": ("attest_verification",),
    "monitoring_report": ("submit_monitoring_report",), "registration": ("register_project",),
    "validation": ("attest_validation",), "project_submission": ("submit_project",),
    "plot_registration": ("register_plot",), "listing": ("create_listing",),
    "delisting": ("cancel_listing",), "trade": ("match_trade",), "transfer": ("transfer",),
    "freeze": ("freeze",), "unfreeze": ("unfreeze",),
}
CUSTODY_ROLES = ("listing", "delisting", "trade", "transfer", "freeze", "unfreeze")
ACTION_ROLE = {"list": "listing", "delist": "delisting", "trade": "trade",
               "transfer": "transfer", "freeze": "freeze", "unfreeze": "unfreeze"}
LINK_EVENTS = ("carbon.retired", "carbon.issued", "carbon.verification_attested",
               "carbon.project_registered", "carbon.validation_attested",
               "carbon.project_submitted", "carbon.plot_registered")
ENTRY_FIELDS = {"role", "height", "index", "size", "tx", "result", "tx_proof", "result_proof"}
CERT_FIELDS_V1 = {"format", "version", "chain_id", "genesis_hash", "genesis", "retirement_id",
                  "retirement", "provenance", "headers", "commits", "history",
                  "validator_set_changes"}


def _hex_list(v: Any, limit: int = 64) -> bool:
    return isinstance(v, list) and len(v) <= limit and all(_is_hex64(x) for x in v)


def _entry_shape(e: Any, subject: bool) -> None:
    F = "format"
    if not _exact(e, ENTRY_FIELDS):
        raise Invalid(F, "malformed_entry")
    if not isinstance(e["role"], str) or e["role"] not in ROLE_METHOD or (e["role"] == "retirement") != subject:
        raise Invalid(F, "bad_role")
    if not all(_is_int(e[f]) for f in ("height", "index", "size")):
        raise Invalid(F, "malformed_entry")
    if e["height"] < 1 or not 1 <= e["size"] <= 5000 or not 0 <= e["index"] < e["size"]:
        raise Invalid(F, "malformed_entry")
    if not isinstance(e["tx"], dict) or not isinstance(e["result"], dict):
        raise Invalid(F, "malformed_entry")
    if not _hex_list(e["tx_proof"]) or not _hex_list(e["result_proof"]):
        raise Invalid(F, "malformed_entry")


def _heights_obj(v: Any) -> bool:
    return isinstance(v, dict) and all(HEIGHT_KEY.match(k) for k in v)


def _cert_format(c: Any) -> int:
    F = "format"
    if not isinstance(c, dict):
        raise Invalid(F, "not_an_object")
    version = c.get("version")
    if not _is_int(version) or version not in (1, 2):
        raise Invalid(F, "unsupported_version")
    fields = CERT_FIELDS_V1 | ({"custody_proofs"} if version == 2 else set())
    if set(c) != fields or c["format"] != "fcl-retirement-certificate":
        raise Invalid(F, "fields")
    try:
        size = len(canonical(c))
    except ValueError as e:
        raise Invalid(F, "not_canonical", str(e)) from None
    if size > MAX_FILE_BYTES:
        raise Invalid(F, "file_too_large")
    if not isinstance(c["chain_id"], str) or not _is_hex64(c["genesis_hash"]) \
            or not isinstance(c["genesis"], dict) or not _is_hex64(c["retirement_id"]):
        raise Invalid(F, "types")
    _entry_shape(c["retirement"], True)
    if not isinstance(c["provenance"], list):
        raise Invalid(F, "types")
    for item in c["provenance"]:
        _entry_shape(item, False)
    positions = [(x["height"], x["index"]) for x in c["provenance"]]
    if any(a >= b for a, b in zip(positions, positions[1:], strict=False)):
        raise Invalid(F, "provenance_order")
    a = c["retirement"]["height"]
    heights = {e["height"] for e in [c["retirement"], *c["provenance"]]}
    for name in ("headers", "commits", "history"):
        if not _heights_obj(c[name]):
            raise Invalid(F, "types")
    if {int(k) for k in c["headers"]} != heights or {int(k) for k in c["commits"]} != heights:
        raise Invalid(F, "heights")
    if {int(k) for k in c["history"]} != {h for h in heights if h < a}:
        raise Invalid(F, "heights")
    for k, h in c["headers"].items():
        if not header_ok(h) or h["height"] != int(k):
            raise Invalid(F, "malformed_header")
    for k, cm in c["commits"].items():
        commit_shape(cm, F)
        if cm["height"] != int(k):
            raise Invalid(F, "malformed_commit")
    for p in c["history"].values():
        if not _hex_list(p):
            raise Invalid(F, "types")
    if not isinstance(c["validator_set_changes"], list):
        raise Invalid(F, "types")
    for ch in c["validator_set_changes"]:
        change_shape(ch, F)
        if ch["height"] >= a:
            raise Invalid(F, "malformed_change")
    if version == 2:
        items = c["custody_proofs"]
        if not isinstance(items, list) or len(items) > 5000:
            raise Invalid(F, "malformed_custody_proof")
        prev: bytes | None = None
        for it in items:
            if not _exact(it, {"key", "value", "proof"}) or not isinstance(it["key"], str):
                raise Invalid(F, "malformed_custody_proof")
            kb = it["key"].encode("utf-8")
            if not 1 <= len(kb) <= 1024 or (prev is not None and kb <= prev) or it["value"] is None:
                raise Invalid(F, "malformed_custody_proof")
            prev = kb
            try:
                parse_state_proof(it["proof"])
            except ValueError:
                raise Invalid(F, "malformed_custody_proof") from None
    return version


def _events(entry: dict[str, Any], typ: str) -> list[dict[str, Any]]:
    return [e for e in entry["result"]["events"] if e.get("type") == typ]


def _one_event(entry: dict[str, Any], typ: str) -> dict[str, Any]:
    found = _events(entry, typ)
    if len(found) != 1:
        raise Invalid("links", "duplicate_event" if found else "missing_event", typ)
    return found[0]


def _pos(e: dict[str, Any]) -> tuple[int, int]:
    return (e["height"], e["index"])


def _serial(project: str, vintage: int, first: int, last: int) -> str:
    return f"CCER-{project}-{vintage}-{first:09d}-{last:09d}"


def _links(c: dict[str, Any], version: int, proven: dict[str, Any]) -> None:  # noqa: C901
    K = "links"
    ret = c["retirement"]
    entries = [ret, *c["provenance"]]
    for e in entries:
        p = e["tx"]["payload"]
        if p["contract"] != "carbon" or p["method"] not in ROLE_METHOD[e["role"]]:
            raise Invalid(K, "wrong_method", e["role"])
    # every event the rules read occurs at most once (exactly once checked where read)
    for e in entries:
        for typ in LINK_EVENTS:
            if len(_events(e, typ)) > 1:
                raise Invalid(K, "duplicate_event", typ)
    by_role: dict[str, list[dict[str, Any]]] = {}
    for e in c["provenance"]:
        by_role.setdefault(e["role"], []).append(e)
    used: set[int] = set()

    def pick(role: str, pred: Any, before: tuple[int, int], what: str) -> dict[str, Any]:
        found = [e for e in by_role.get(role, []) if pred(e)]
        if len(found) != 1:
            raise Invalid(K, "link_count", f"{what}: {len(found)}")
        if not _pos(found[0]) < before:
            raise Invalid(K, "link_order", what)
        used.add(id(found[0]))
        return found[0]

    pargs = ret["tx"]["payload"]["args"]
    ev = _one_event(ret, "carbon.retired")
    if ev.get("retirement_id") != c["retirement_id"]:
        raise Invalid(K, "retired_event")
    ranges = ev.get("ranges")
    if not isinstance(ranges, list) or not ranges:
        raise Invalid(K, "no_ranges")
    total = 0
    for r in ranges:
        if not isinstance(r, dict) or not {"project_id", "batch_id", "vintage", "first",
                                           "last"} <= set(r):
            raise Invalid(K, "bad_range")
        if not all(_is_int(r[f]) for f in ("vintage", "first", "last")) \
                or not isinstance(r["project_id"], str) or not isinstance(r["batch_id"], str):
            raise Invalid(K, "bad_range")
        if not 1 <= r["first"] <= r["last"]:
            raise Invalid(K, "bad_range")
        q = r["last"] - r["first"] + 1
        if "quantity" in r and r["quantity"] != q:
            raise Invalid(K, "bad_range")
        if "serial" in r and r["serial"] != _serial(r["project_id"], r["vintage"], r["first"],
                                                     r["last"]):
            raise Invalid(K, "bad_range")
        total += q
    for i, r in enumerate(ranges):
        for s in ranges[i + 1:]:
            if r["project_id"] == s["project_id"] and not (r["last"] < s["first"]
                                                           or s["last"] < r["first"]):
                raise Invalid(K, "overlap")
    if total != pargs.get("quantity") or total != ev.get("quantity"):
        raise Invalid(K, "quantity")
    if not isinstance(ev.get("enterprise"), str):
        raise Invalid(K, "enterprise")
    method = ret["tx"]["payload"]["method"]
    if method == "retire_compliance":
        if ev.get("purpose") != "compliance" or ev.get("period") != pargs.get("period"):
            raise Invalid(K, "purpose")
    else:
        if ev.get("purpose") != "voluntary" or not isinstance(pargs.get("beneficiary"), str) \
                or not isinstance(pargs.get("reason"), str):
            raise Invalid(K, "purpose")
    rpos = _pos(ret)
    issuances: dict[str, dict[str, Any]] = {}
    projects: dict[str, list[dict[str, Any]]] = {}  # project -> issuances
    reports_of: dict[str, list[dict[str, Any]]] = {}  # project -> monitoring report entries
    for r in ranges:
        b = r["batch_id"]
        if b not in issuances:
            iss = pick("issuance", lambda e, b=b: e["tx"]["payload"]["args"].get("batch_id") == b,
                       rpos, f"issuance of {b}")
            issuances[b] = iss
        iss = issuances[b]
        iev = _one_event(iss, "carbon.issued")
        if not all(isinstance(iev.get(f), str) for f in ("batch_id", "project_id", "report_id",
                                                        "owner_org")) \
                or not all(_is_int(iev.get(f)) for f in ("vintage", "first", "last", "quantity")):
            raise Invalid(K, "issued_event")
        rid = iss["tx"]["payload"]["args"].get("report_id")
        if iev.get("batch_id") != b or iev.get("report_id") != rid \
                or iev.get("project_id") != r["project_id"] or iev.get("vintage") != r["vintage"]:
            raise Invalid(K, "issuance_mismatch")
        if not (_is_int(iev.get("first")) and _is_int(iev.get("last"))
                and iev["first"] <= r["first"] <= r["last"] <= iev["last"]):
            raise Invalid(K, "issuance_range")
        if iss in projects.get(r["project_id"], []):
            continue
        projects.setdefault(r["project_id"], []).append(iss)
        ver = pick("verification",
                   lambda e, rid=rid: e["tx"]["payload"]["args"].get("report_id") == rid,
                   _pos(iss), f"verification of {rid}")
        _one_event(ver, "carbon.verification_attested")
        vargs = ver["tx"]["payload"]["args"]
        if vargs.get("verified_quantity") != iev.get("quantity"):
            raise Invalid(K, "verified_quantity")
        rep = pick("monitoring_report",
                   lambda e, rid=rid: e["tx"]["payload"]["args"].get("report_id") == rid,
                   _pos(ver), f"report {rid}")
        margs = rep["tx"]["payload"]["args"]
        if margs.get("project_id") != r["project_id"] \
                or margs.get("report_sha256") != vargs.get("report_sha256"):
            raise Invalid(K, "report_mismatch")
        pend = margs.get("period_end")
        if not isinstance(pend, str) or not re.match(r"[0-9]{4}", pend) \
                or int(pend[:4]) != r["vintage"]:
            raise Invalid(K, "vintage")
        reports_of.setdefault(r["project_id"], []).append(rep)
    for pid, isss in projects.items():
        first_report = min(_pos(e) for e in reports_of[pid])
        reg = pick("registration",
                   lambda e, pid=pid: e["tx"]["payload"]["args"].get("project_id") == pid,
                   first_report, f"registration of {pid}")
        rev = _one_event(reg, "carbon.project_registered")
        if rev.get("project_id") != pid:
            raise Invalid(K, "registration_project_mismatch")
        att = rev.get("validation_attestation")
        val = pick("validation",
                   lambda e, att=att: e["tx"]["payload"]["args"].get("attestation_id") == att,
                   _pos(reg), f"validation {att}")
        _one_event(val, "carbon.validation_attested")  # read by the summary only
        vargs = val["tx"]["payload"]["args"]
        if vargs.get("positive") is not True or vargs.get("project_id") != pid:
            raise Invalid(K, "validation")
        sub = pick("project_submission",
                   lambda e, pid=pid: e["tx"]["payload"]["args"].get("project_id") == pid,
                   _pos(val), f"submission of {pid}")
        sev = _one_event(sub, "carbon.project_submitted")
        owner = sev.get("owner_org")
        for iss in isss:
            if _one_event(iss, "carbon.issued").get("owner_org") != owner:
                raise Invalid(K, "owner")
        plots = sub["tx"]["payload"]["args"].get("plots")
        if not isinstance(plots, list) or not plots or not all(isinstance(p, str) for p in plots):
            raise Invalid(K, "plots")
        for plot in plots:
            pr = pick("plot_registration",
                      lambda e, plot=plot: e["tx"]["payload"]["args"].get("plot_id") == plot,
                      _pos(sub), f"plot {plot}")
            if _one_event(pr, "carbon.plot_registered").get("owner_org") != owner:
                raise Invalid(K, "plot_owner")
        for rep in reports_of[pid]:
            ms = rep["tx"]["payload"]["args"].get("measurements")
            if not isinstance(ms, list) or any(
                    not isinstance(m, dict) or m.get("plot_id") not in plots for m in ms):
                raise Invalid(K, "report_plots")
    custody = [e for e in c["provenance"] if e["role"] in CUSTODY_ROLES]
    first_iss = min(_pos(e) for e in issuances.values())
    for e in custody:
        if not first_iss < _pos(e) < rpos:
            raise Invalid(K, "custody_outside")
        used.add(id(e))
    if version == 2:
        _custody_complete(c, ranges, ev, issuances, custody, proven)
    if any(id(e) not in used for e in c["provenance"]):
        raise Invalid(K, "unlinked")


def _custody_complete(c: dict[str, Any], ranges: list[dict[str, Any]], ev: dict[str, Any],
                      issuances: dict[str, dict[str, Any]], custody: list[dict[str, Any]],
                      proven: dict[str, Any]) -> None:
    K = "links"
    a = c["retirement"]["height"]
    want = {f"unit/{r['project_id']}/{r['first']:012d}": r for r in ranges}
    for k in want:
        if k not in proven:
            raise Invalid(K, "custody_record_missing", k)
    for k in proven:
        if k not in want:
            raise Invalid(K, "custody_record_mismatch", k)
    by_tx = {hhex(e["tx"]["payload"]): e for e in custody}
    stepped: set[str] = set()
    for k in sorted(want, key=lambda s: s.encode("utf-8")):
        r, v = want[k], proven[k]
        if not isinstance(v, dict) or any(v.get(f) != r[f] for f in
                                          ("project_id", "batch_id", "vintage", "first", "last")):
            raise Invalid(K, "custody_record_mismatch", "fields")
        if v.get("state") != "retired" or v.get("account") != ev.get("enterprise"):
            raise Invalid(K, "custody_record_mismatch", "state")
        hist = v.get("history")
        if not isinstance(hist, list) or len(hist) < 2:
            raise Invalid(K, "custody_record_mismatch", "history")
        for s in hist:
            if not isinstance(s, dict) or not isinstance(s.get("action"), str) \
                    or not isinstance(s.get("tx_id"), str) or not _is_int(s.get("height")):
                raise Invalid(K, "custody_record_mismatch", "step")
        iss = issuances[r["batch_id"]]
        h0, hn = hist[0], hist[-1]
        if (h0["action"], h0["tx_id"], h0["height"]) != ("issue", hhex(iss["tx"]["payload"]),
                                                          iss["height"]):
            raise Invalid(K, "custody_record_mismatch", "first step")
        if (hn["action"], hn["tx_id"], hn["height"]) != ("retire", c["retirement_id"], a):
            raise Invalid(K, "custody_record_mismatch", "last step")
        for s in hist[1:-1]:
            if s["action"] not in ACTION_ROLE:
                raise Invalid(K, "custody_record_mismatch", "action")
        prev = _pos(iss)
        for s in hist[1:-1]:
            e = by_tx.get(s["tx_id"])
            if e is None:
                raise Invalid(K, "custody_incomplete", s["tx_id"])
            if e["role"] != ACTION_ROLE[s["action"]] or e["height"] != s["height"]:
                raise Invalid(K, "custody_record_mismatch", "step entry")
            if not _pos(e) > prev:
                raise Invalid(K, "custody_order")
            prev = _pos(e)
            stepped.add(s["tx_id"])
    for t in by_tx:
        if t not in stepped:
            raise Invalid(K, "custody_not_in_history", t)


def _verify_cert(c: Any, genesis_hash: str) -> None:
    version = _cert_format(c)
    # 2 genesis
    g = c["genesis"]
    if not valid_genesis(g) or hhex(g) != c["genesis_hash"] or c["genesis_hash"] != genesis_hash:
        raise Invalid("genesis", "genesis")
    chain = g["chain_id"]
    # 3 chain_id
    entries = [c["retirement"], *c["provenance"]]
    if c["chain_id"] != chain or any(h["chain_id"] != chain for h in c["headers"].values()) \
            or any(ch["header"]["chain_id"] != chain for ch in c["validator_set_changes"]) \
            or any(e["tx"].get("payload", {}).get("chain_id") != chain
                   if isinstance(e["tx"].get("payload"), dict) else True for e in entries):
        raise Invalid("chain_id", "wrong_chain")
    # 4 validator-set changes
    changes = c["validator_set_changes"]
    sets = walk_changes("validator_set_changes", g["validators"], changes, chain)
    change_at = {ch["height"]: ch for ch in changes}
    a = c["retirement"]["height"]
    # 5 headers
    for k, h in c["headers"].items():
        height = int(k)
        vs = set_at(sets, height)
        if h["validators_hash"] != hhex(vs):
            raise Invalid("headers", "bad_validators_hash", k)
        if h["proposer"] not in {v["pub_key"] for v in vs}:
            raise Invalid("headers", "unknown_proposer", k)
        if height in change_at:
            if change_at[height]["header"] != h:
                raise Invalid("headers", "change_header", k)
        elif height < a and h["next_validators_hash"] != h["validators_hash"]:
            raise Invalid("headers", "unlisted_change", k)
    # 6 commits
    for k, h in c["headers"].items():
        commit_valid("commits", h, c["commits"][k], set_at(sets, int(k)), chain)
    # 7 history
    root_a = bytes.fromhex(c["headers"][str(a)]["history_root"])
    for k in c["headers"]:
        if int(k) > a:
            raise Invalid("history", "above_retirement")
    for k, proof in c["history"].items():
        leaf = bytes.fromhex(hhex(c["headers"][k]))
        if not merkle_inclusion(leaf, int(k) - 1, a - 1, [bytes.fromhex(p) for p in proof], root_a):
            raise Invalid("history", "not_included", k)
    # 8 inclusion
    sizes: dict[int, int] = {}
    for e in entries:
        if sizes.setdefault(e["height"], e["size"]) != e["size"]:
            raise Invalid("inclusion", "size")
        h = c["headers"][str(e["height"])]
        try:
            tx_leaf, res_leaf = canonical(e["tx"]), canonical(e["result"])
        except ValueError:
            raise Invalid("inclusion", "not_canonical") from None
        if not merkle_inclusion(tx_leaf, e["index"], e["size"],
                                [bytes.fromhex(p) for p in e["tx_proof"]],
                                bytes.fromhex(h["txs_root"])):
            raise Invalid("inclusion", "tx")
        if not merkle_inclusion(res_leaf, e["index"], e["size"],
                                [bytes.fromhex(p) for p in e["result_proof"]],
                                bytes.fromhex(h["results_root"])):
            raise Invalid("inclusion", "result")
    # 8a custody proofs
    proven: dict[str, Any] = {}
    if version == 2:
        root = bytes.fromhex(c["headers"][str(a)]["state_root"])
        for it in c["custody_proofs"]:
            if not smt_verify(root, it["key"].encode("utf-8"), canonical(it["value"]),
                              parse_state_proof(it["proof"])):
                raise Invalid("custody_proofs", "custody_proof_invalid", it["key"])
            proven[it["key"]] = it["value"]
    # 9 transactions
    ids: set[str] = set()
    for e in entries:
        why = tx_well_formed(e["tx"], chain)
        if why:
            raise Invalid("transactions", why)
        t = hhex(e["tx"]["payload"])
        if t in ids:
            raise Invalid("transactions", "duplicate_tx")
        ids.add(t)
    if hhex(c["retirement"]["tx"]["payload"]) != c["retirement_id"]:
        raise Invalid("transactions", "retirement_id")
    # 10 results
    for e in entries:
        r = e["result"]
        if not _exact(r, {"code", "events", "message", "tx_id"}) \
                or r["tx_id"] != hhex(e["tx"]["payload"]) or r["code"] != "ok" \
                or not isinstance(r["events"], list) \
                or not all(isinstance(x, dict) and isinstance(x.get("type"), str)
                           for x in r["events"]):
            raise Invalid("results", "result")
    # 11 links
    _links(c, version, proven)


def verify_certificate(cert: Any, genesis_hash: str) -> Verdict:
    return _run(_verify_cert, cert, genesis_hash)


def verify_certificate_bytes(data: bytes, genesis_hash: str) -> Verdict:
    def go() -> None:
        _verify_cert(decode(data), genesis_hash)
    return _run(go)


# ---------------------------------------------------------------------------- state-proof files
SP_FIELDS = {"format", "version", "chain_id", "genesis_hash", "genesis", "height", "header",
             "commit", "validator_set_changes", "entries"}


def _state_key_ok(k: Any) -> bool:
    if not isinstance(k, str) or not 1 <= len(k) <= 512:
        return False
    try:
        k.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


CHECKPOINT_FIELDS = {"format", "version", "chain_id", "genesis_hash", "height", "block_hash",
                     "time", "next_validators"}


def checkpoint_ok(cp: Any) -> bool:
    """light-client.md §3: exactly eight fields; else ``bad_checkpoint``."""
    return (_exact(cp, CHECKPOINT_FIELDS) and cp["format"] == "fcl-light-checkpoint"
            and _is_int(cp["version"]) and cp["version"] == 1
            and isinstance(cp["chain_id"], str) and CHAIN_ID.match(cp["chain_id"]) is not None
            and _is_hex64(cp["genesis_hash"]) and _is_hex64(cp["block_hash"])
            and all(_is_int(cp[f]) and 0 <= cp[f] <= MAX_SAFE for f in ("height", "time"))
            and valid_set(cp["next_validators"])
            and (cp["height"] != 0 or cp["block_hash"] == cp["genesis_hash"]))


Anchor = str | dict[str, Any]  # a trusted genesis hash, or a light-client checkpoint (JSON)


def _verify_sp(sp: Any, anchor: Anchor) -> list[dict[str, Any]]:
    F = "format"
    if not isinstance(sp, dict):
        raise Invalid(F, "malformed_state_proof")
    if sp.get("format") != "fcl-state-proof":
        raise Invalid(F, "wrong_format")
    if not _is_int(sp.get("version")) or sp["version"] != 1:
        raise Invalid(F, "unsupported_version")
    if set(sp) != SP_FIELDS or not isinstance(sp["chain_id"], str) \
            or not _is_hex64(sp["genesis_hash"]) or not isinstance(sp["genesis"], dict) \
            or not _is_int(sp["height"]) or not 1 <= sp["height"] <= MAX_SAFE:
        raise Invalid(F, "malformed_state_proof")
    if not header_ok(sp["header"]):
        raise Invalid(F, "malformed_header")
    commit_shape(sp["commit"], F)
    changes = sp["validator_set_changes"]
    if not isinstance(changes, list):
        raise Invalid(F, "malformed_state_proof")
    for ch in changes:
        change_shape(ch, F)
        if ch["height"] >= sp["height"]:
            raise Invalid(F, "malformed_change")
    if len(changes) > 10_000:
        raise Invalid(F, "too_many_changes")
    entries = sp["entries"]
    if not isinstance(entries, list):
        raise Invalid(F, "malformed_state_proof")
    if len(entries) > 1024:
        raise Invalid(F, "too_many_entries")
    keys: set[str] = set()
    parsed = []
    for e in entries:
        if not _exact(e, {"key", "present", "value", "proof"}):
            raise Invalid(F, "malformed_state_proof")
        if not _state_key_ok(e["key"]):
            raise Invalid(F, "bad_key")
        if e["key"] in keys:
            raise Invalid(F, "duplicate_key")
        keys.add(e["key"])
        if not isinstance(e["present"], bool) or (not e["present"] and e["value"] is not None):
            raise Invalid(F, "malformed_state_proof")
        try:
            parsed.append(parse_state_proof(e["proof"]))
        except ValueError as x:
            raise Invalid(F, str(x)) from None
    try:
        canonical(sp)
    except ValueError:
        raise Invalid(F, "not_canonical") from None
    # anchor
    g = sp["genesis"]
    if not valid_genesis(g):
        raise Invalid("anchor", "malformed_genesis")
    if hhex(g) != sp["genesis_hash"]:
        raise Invalid("anchor", "genesis_hash_mismatch")
    if isinstance(anchor, str):
        if not _is_hex64(anchor):
            raise Invalid("anchor", "bad_anchor")
        if sp["genesis_hash"] != anchor:
            raise Invalid("anchor", "wrong_genesis")
        trusted_height, trusted_set, trusted_hash = 0, g["validators"], sp["genesis_hash"]
    else:
        if not checkpoint_ok(anchor):
            raise Invalid("anchor", "bad_anchor")
        if anchor["genesis_hash"] != sp["genesis_hash"] or anchor["chain_id"] != sp["chain_id"]:
            raise Invalid("anchor", "checkpoint_mismatch")
        trusted_height, trusted_set = anchor["height"], anchor["next_validators"]
        trusted_hash = anchor["block_hash"]
    if sp["chain_id"] != g["chain_id"]:
        raise Invalid("anchor", "chain_id_mismatch")
    # header
    header = sp["header"]
    if header["height"] != sp["height"]:
        raise Invalid("header", "height_mismatch")
    chain = g["chain_id"]
    if header["chain_id"] != chain:
        raise Invalid("header", "wrong_chain")
    if header["height"] < trusted_height:
        raise Invalid("header", "header_not_after_checkpoint")
    if header["height"] == trusted_height and trusted_height > 0:
        if hhex(header) != trusted_hash:
            raise Invalid("header", "checkpoint_conflict")
    # only the changes above the trusted height are needed (and checked)
    above = [ch for ch in changes if ch["height"] > trusted_height]
    sets = walk_changes("header", trusted_set, above, chain, after=trusted_height)
    if header["height"] == trusted_height and trusted_height > 0:
        return _check_entries(entries, parsed, header)
    header_under("header", header, sp["commit"], sets[-1][1], chain)
    return _check_entries(entries, parsed, header)


def _check_entries(entries: list[dict[str, Any]],
                   parsed: list[tuple[tuple[bytes, bytes] | None, list[bytes]]],
                   header: dict[str, Any]) -> list[dict[str, Any]]:
    # proofs
    root = bytes.fromhex(header["state_root"])
    for e, proof in zip(entries, parsed, strict=True):
        value = canonical(e["value"]) if e["present"] else None
        if not smt_verify(root, e["key"].encode("utf-8"), value, proof):
            raise Invalid("proofs", "value_not_proven", e["key"])
    return entries


def verify_state_proof(obj: Any, anchor: Anchor) -> Verdict:
    """``anchor``: the trusted genesis hash, or a checkpoint (the decoded checkpoint file)."""
    return _run(_verify_sp, obj, anchor)


def verify_state_proof_bytes(data: bytes, anchor: Anchor) -> Verdict:
    return _run(lambda: _verify_sp(decode(data), anchor))


# ------------------------------------------------------------------------------- holding proofs
MAX_UNIT = 10**12 - 1
STATES = ("held", "listed", "retired", "cancelled")


def _verify_holding(obj: Any, genesis_hash: Anchor) -> None:
    C = "claim"
    if not isinstance(obj, dict):
        raise Invalid(C, "malformed_holding_proof")
    if obj.get("format") != "fcl-holding-proof":
        raise Invalid(C, "wrong_format")
    if not _is_int(obj.get("version")) or obj["version"] != 1:
        raise Invalid(C, "unsupported_version")
    if set(obj) != {"format", "version", "claim", "state_proof"}:
        raise Invalid(C, "malformed_holding_proof")
    cl = obj["claim"]
    if not _exact(cl, {"project_id", "first", "last"}) or not isinstance(cl["project_id"], str) \
            or not IDENT.match(cl["project_id"]) or not _is_int(cl["first"]) \
            or not _is_int(cl["last"]) or not 1 <= cl["first"] <= cl["last"] <= MAX_UNIT:
        raise Invalid(C, "malformed_holding_proof")
    sp = obj["state_proof"]
    if isinstance(sp, dict) and isinstance(sp.get("entries"), list) and len(sp["entries"]) > 1000:
        raise Invalid(C, "too_many_records")
    entries = _verify_sp(sp, genesis_hash)
    V = "coverage"
    pid, first, last = cl["project_id"], cl["first"], cl["last"]
    covered: int | None = None  # last unit covered so far
    for e in entries:
        if covered is not None and covered >= last:
            raise Invalid(V, "extra_record")
        if not e["present"]:
            raise Invalid(V, "record_absent")
        v = e["value"]
        if not isinstance(v, dict) or not all(_is_int(v.get(f)) for f in ("first", "last",
                                                                         "vintage")) \
                or not 1 <= v["first"] <= v["last"] <= MAX_UNIT \
                or not all(isinstance(v.get(f), str) for f in ("project_id", "account",
                                                              "batch_id")) \
                or v.get("state") not in STATES or not isinstance(v.get("frozen"), bool):
            raise Invalid(V, "malformed_unit_record")
        if v["project_id"] != pid:
            raise Invalid(V, "wrong_project")
        if e["key"] != f"unit/{pid}/{v['first']:012d}":
            raise Invalid(V, "key_mismatch")
        if covered is None:
            if not v["first"] <= first <= v["last"]:
                raise Invalid(V, "holding_not_covered")
        elif v["first"] != covered + 1:
            raise Invalid(V, "holding_not_covered")
        covered = v["last"]
    if covered is None or covered < last:
        raise Invalid(V, "holding_not_covered")


def verify_holding_proof(obj: Any, genesis_hash: Anchor) -> Verdict:
    return _run(_verify_holding, obj, genesis_hash)


def verify_holding_proof_bytes(data: bytes, genesis_hash: Anchor) -> Verdict:
    return _run(lambda: _verify_holding(decode(data, "claim"), genesis_hash))


def verify_file(data: bytes, genesis_hash: str) -> Verdict:
    """Dispatch on ``format`` as ``fcl verify`` does."""
    try:
        obj = decode(data)
    except Invalid as e:
        return Verdict(False, e.check, e.code, e.detail)
    fmt = obj.get("format") if isinstance(obj, dict) else None
    if fmt == "fcl-holding-proof":
        return verify_holding_proof(obj, genesis_hash)
    if fmt == "fcl-state-proof":
        return verify_state_proof(obj, genesis_hash)
    return verify_certificate(obj, genesis_hash)
