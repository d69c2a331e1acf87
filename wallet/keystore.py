"""Encrypted keystore: one JSON file per Ed25519 key.

File ``<dir>/<name>.json`` (mode 0600, directory 0700)::

    {"version": 1, "name": "alice", "public_key": "<hex>",
     "kdf": {"name": "scrypt", "n": 65536, "r": 8, "p": 1, "salt": "<hex>", "check": "<hex>"},
     "cipher": {"name": "chacha20-poly1305", "nonce": "<hex>"},
     "ciphertext": "<hex>", "created": "2025-01-01T00:00:00Z"}

* ``derived = scrypt(NFC(passphrase), salt, n, r, p, 64 bytes)``;
  the first 32 bytes are the AEAD key, the last 32 key ``check``.
* ``ciphertext = AEAD(key, nonce, seed, ad)`` where ``seed`` is the 32-byte Ed25519 seed
  and ``ad = b"fcl-keystore-v1\\0" + canonical(every field except "ciphertext" and
  "kdf.check")``, so the name, public key, KDF parameters, cipher and creation time are
  authenticated and cannot be swapped between files.
* ``check = HMAC-SHA256(derived[32:], "fcl-keystore-v1 passphrase check")`` tells a wrong
  passphrase (``wrong_passphrase``) from an altered file (``corrupt_keystore``). It gives
  an attacker nothing the ciphertext does not: testing a guess costs one scrypt either way.

Files are written to a temporary file in the same directory, fsynced, then published with
``link`` (which, unlike ``rename``, never replaces an existing key) and the directory is
fsynced. Loading only reads. The seed is never written, logged or put in any message
unencrypted. See ``docs/wallet.md`` for the choice of parameters.
"""

from __future__ import annotations

import contextlib
import datetime
import getpass
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import stat
import sys
import tempfile
import unicodedata
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from ledger.crypto import SEED_SIZE, PrivateKey
from ledger.encoding import CanonicalEncodingError, canonical, decode
from wallet.errors import KeystoreError

__all__ = [
    "DEFAULT_CIPHER",
    "FORMAT_VERSION",
    "NAME_RE",
    "PASSPHRASE_ENV",
    "SCRYPT_N",
    "SCRYPT_P",
    "SCRYPT_R",
    "KeyEntry",
    "Keystore",
    "KeystoreError",
    "resolve_passphrase",
]

log = logging.getLogger("wallet.keystore")

FORMAT_VERSION = 1
# scrypt cost. n = 2**16, r = 8 needs 128 * n * r = 64 MiB and took 0.13-0.17 s on the
# reference machine (0.20-0.24 s with both cores busy), a third to half of the 0.5 s budget.
# 2**17 (OWASP's minimum for password hashing) took 0.33 s idle but up to 0.56 s under load.
SCRYPT_N = 2**16
SCRYPT_R = 8
SCRYPT_P = 1
SALT_SIZE = 32
NONCE_SIZE = 12
KEY_SIZE = 32
TAG_SIZE = 16
DEFAULT_CIPHER = "chacha20-poly1305"
MIN_PASSPHRASE_CHARS = 8
PASSPHRASE_ENV = "FCL_PASSPHRASE"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
PUBKEY_PREFIX_RE = re.compile(r"^[0-9a-fA-F]{8,64}$")
MIN_PREFIX_CHARS = 8

# Limits applied to the parameters read from a file, so that an edited file cannot make
# loading take unbounded memory or time (n * r <= 2**23 is 1 GiB of scrypt memory).
_MAX_N_TIMES_R = 2**23
_MAX_N_R_P = 2**24
_MAX_FILE_BYTES = 16 * 1024

_AD_DOMAIN = b"fcl-keystore-v1\x00"
_CHECK_LABEL = b"fcl-keystore-v1 passphrase check"
_FIELDS = frozenset({"version", "name", "public_key", "kdf", "cipher", "ciphertext", "created"})
_KDF_FIELDS = frozenset({"name", "n", "r", "p", "salt", "check"})
_CIPHER_FIELDS = frozenset({"name", "nonce"})
_CIPHERS: dict[str, Callable[[bytes], AESGCM | ChaCha20Poly1305]] = {
    "chacha20-poly1305": ChaCha20Poly1305,
    "aes-256-gcm": AESGCM,
}
# Always used with fullmatch: "$" alone also matches before a trailing newline.
_HEX_RE = re.compile(r"^(?:[0-9a-f]{2})*$")
_PUBKEY_RE = re.compile(r"^[0-9a-f]{64}$")


class KeyEntry(NamedTuple):
    """One key in a keystore listing; compares equal to ``(name, public_key)``."""

    name: str
    public_key: str


# --------------------------------------------------------------------------- passphrases


def _stdin_is_tty() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (AttributeError, ValueError, OSError):
        return False


def resolve_passphrase(
    explicit: str | None = None,
    *,
    prompt: str = "Passphrase: ",
    confirm: bool = False,
) -> str:
    """The passphrase to use: ``explicit`` if given, else the environment variable
    ``FCL_PASSPHRASE`` (if non-empty), else an interactive prompt (asked twice when
    ``confirm``). Raises ``KeystoreError('no_passphrase')`` when there is no terminal to
    ask on, and ``passphrase_mismatch`` when the two entries differ."""
    if explicit is not None:
        return explicit
    from_env = os.environ.get(PASSPHRASE_ENV)
    if from_env:
        return from_env
    if not _stdin_is_tty():
        raise KeystoreError(
            "no_passphrase",
            f"a passphrase is needed: set {PASSPHRASE_ENV} or run from a terminal to be asked",
        )
    try:
        first = getpass.getpass(prompt)
        if confirm:
            second = getpass.getpass("Repeat passphrase: ")
            if not hmac.compare_digest(first.encode("utf-8"), second.encode("utf-8")):
                raise KeystoreError("passphrase_mismatch", "the two passphrases differ")
    except EOFError:
        raise KeystoreError("no_passphrase", "no passphrase was entered") from None
    return first


def _passphrase_bytes(passphrase: str) -> bytes:
    if not isinstance(passphrase, str):
        raise KeystoreError("invalid_passphrase", "a passphrase is a string")
    # NFC so that the same passphrase typed on systems that compose differently unlocks.
    try:
        return unicodedata.normalize("NFC", passphrase).encode("utf-8")
    except UnicodeEncodeError:
        raise KeystoreError("invalid_passphrase", "the passphrase is not valid Unicode") from None


# --------------------------------------------------------------------------- crypto


def _derive(passphrase: bytes, salt: bytes, n: int, r: int, p: int) -> tuple[bytes, bytes]:
    derived = Scrypt(salt=salt, length=2 * KEY_SIZE, n=n, r=r, p=p).derive(passphrase)
    return derived[:KEY_SIZE], derived[KEY_SIZE:]


def _check_value(check_key: bytes) -> str:
    return hmac.new(check_key, _CHECK_LABEL, hashlib.sha256).hexdigest()


def _associated_data(doc: Mapping[str, Any]) -> bytes:
    """Every field except the ciphertext and the passphrase check (left out so that an
    altered check value is told apart from a wrong passphrase: the AEAD still opens)."""
    header = {k: v for k, v in doc.items() if k != "ciphertext"}
    header["kdf"] = {k: v for k, v in doc["kdf"].items() if k != "check"}
    return _AD_DOMAIN + canonical(header)


# --------------------------------------------------------------------------- parsing


class _Parsed(NamedTuple):
    doc: dict[str, Any]
    name: str
    public_key: str
    n: int
    r: int
    p: int
    salt: bytes
    check: str
    cipher: str
    nonce: bytes
    ciphertext: bytes


def _hex_field(value: Any, field: str, path: Path, sizes: range) -> bytes:
    if not isinstance(value, str) or not _HEX_RE.fullmatch(value) or len(value) // 2 not in sizes:
        raise _corrupt(path, f"field '{field}' is not lowercase hex of the expected length")
    return bytes.fromhex(value)


def _corrupt(path: Path, why: str) -> KeystoreError:
    return KeystoreError(
        "corrupt_keystore", f"keystore file {path} is damaged or was altered: {why}"
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _parse(data: bytes, path: Path, expected_name: str) -> _Parsed:
    if len(data) > _MAX_FILE_BYTES:
        raise _corrupt(path, "file is too large")
    try:
        doc = decode(data)
    except CanonicalEncodingError as exc:
        raise _corrupt(path, f"not valid keystore JSON ({exc.reason})") from None
    if not isinstance(doc, dict) or set(doc) != _FIELDS:
        raise _corrupt(path, f"expected exactly the fields {sorted(_FIELDS)}")
    if not _is_int(doc["version"]) or doc["version"] != FORMAT_VERSION:
        raise _corrupt(path, f"unsupported version {doc['version']!r}")
    name = doc["name"]
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise _corrupt(path, "field 'name' is not a valid key name")
    if name != expected_name:
        raise _corrupt(path, f"it holds key '{name}' but its file name says '{expected_name}'")
    public_key = doc["public_key"]
    if not isinstance(public_key, str) or not _PUBKEY_RE.fullmatch(public_key):
        raise _corrupt(path, "field 'public_key' is not a lowercase hex Ed25519 public key")
    if not isinstance(doc["created"], str) or len(doc["created"]) > 64:
        raise _corrupt(path, "field 'created' is not a timestamp string")
    kdf, cipher = doc["kdf"], doc["cipher"]
    if not isinstance(kdf, dict) or set(kdf) != _KDF_FIELDS or kdf["name"] != "scrypt":
        raise _corrupt(path, f"field 'kdf' must be scrypt with the fields {sorted(_KDF_FIELDS)}")
    n, r, p = kdf["n"], kdf["r"], kdf["p"]
    if not (_is_int(n) and _is_int(r) and _is_int(p)):
        raise _corrupt(path, "scrypt parameters n, r, p must be integers")
    if n < 2 or n & (n - 1) or not 1 <= r <= 64 or not 1 <= p <= 64:
        raise _corrupt(path, "scrypt parameters out of range (n a power of two >= 2)")
    if n * r > _MAX_N_TIMES_R or n * r * p > _MAX_N_R_P:
        raise _corrupt(path, "scrypt cost exceeds the limits this wallet accepts")
    salt = _hex_field(kdf["salt"], "kdf.salt", path, range(16, 65))
    _hex_field(kdf["check"], "kdf.check", path, range(32, 33))
    if not isinstance(cipher, dict) or set(cipher) != _CIPHER_FIELDS:
        raise _corrupt(path, f"field 'cipher' must have the fields {sorted(_CIPHER_FIELDS)}")
    if cipher["name"] not in _CIPHERS:
        raise _corrupt(path, f"unknown cipher {cipher['name']!r}")
    nonce = _hex_field(cipher["nonce"], "cipher.nonce", path, range(NONCE_SIZE, NONCE_SIZE + 1))
    size = SEED_SIZE + TAG_SIZE
    ciphertext = _hex_field(doc["ciphertext"], "ciphertext", path, range(size, size + 1))
    return _Parsed(
        doc, name, public_key, n, r, p, salt, kdf["check"], cipher["name"], nonce, ciphertext
    )


# --------------------------------------------------------------------------- keystore


class Keystore:
    """A directory of encrypted key files.

    ``insecure_test_scrypt_n`` lowers the scrypt cost of *newly written* files; it exists
    only so that the test suite runs fast and must never be used otherwise. Loading always
    uses the parameters stored in the file.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        insecure_test_scrypt_n: int | None = None,
    ) -> None:
        self._dir = Path(directory).expanduser()
        n = SCRYPT_N if insecure_test_scrypt_n is None else insecure_test_scrypt_n
        if not _is_int(n) or n < 2 or n & (n - 1):
            raise ValueError("scrypt n must be a power of two >= 2")
        self._n = n

    @property
    def directory(self) -> Path:
        return self._dir

    def __repr__(self) -> str:
        return f"Keystore({str(self._dir)!r})"

    # ----------------------------------------------------------------- lookup

    def _file_for(self, name: str) -> Path:
        return self._dir / f"{name}.json"

    def _resolve(self, name_or_prefix: str) -> tuple[str, Path]:
        if not isinstance(name_or_prefix, str):
            raise KeystoreError("invalid_name", "a key is named by a string")
        if NAME_RE.fullmatch(name_or_prefix):
            path = self._file_for(name_or_prefix)
            if path.is_file():
                return name_or_prefix, path
        if PUBKEY_PREFIX_RE.fullmatch(name_or_prefix):
            prefix = name_or_prefix.lower()
            matches = [e for e in self.list() if e.public_key.startswith(prefix)]
            if len(matches) == 1:
                return matches[0].name, self._file_for(matches[0].name)
            if len(matches) > 1:
                names = ", ".join(e.name for e in matches)
                raise KeystoreError(
                    "ambiguous_key", f"public key prefix {prefix} matches several keys: {names}"
                )
        elif not NAME_RE.fullmatch(name_or_prefix):
            raise KeystoreError(
                "invalid_name",
                f"{name_or_prefix!r} is neither a key name ({NAME_RE.pattern}) nor a public "
                f"key prefix of at least {MIN_PREFIX_CHARS} hex digits",
            )
        raise KeystoreError(
            "unknown_key",
            f"no key named or with public key prefix {name_or_prefix!r} in {self._dir}",
        )

    def _read(self, name: str, path: Path) -> _Parsed:
        try:
            with open(path, "rb") as f:
                data = f.read(_MAX_FILE_BYTES + 1)
        except FileNotFoundError:
            raise KeystoreError("unknown_key", f"no key named {name!r} in {self._dir}") from None
        except OSError as exc:
            raise KeystoreError("keystore_io", f"cannot read {path}: {exc.strerror}") from None
        return _parse(data, path, name)

    def path(self, name_or_prefix: str) -> Path:
        """The file that holds a key (by name, or by a unique public key prefix)."""
        return self._resolve(name_or_prefix)[1]

    def public_key(self, name_or_prefix: str) -> str:
        """The hex public key of a key; needs no passphrase."""
        name, path = self._resolve(name_or_prefix)
        return self._read(name, path).public_key

    # ----------------------------------------------------------------- unlock

    def load(self, name_or_prefix: str, passphrase: str | None = None) -> PrivateKey:
        """Decrypt a key (by name, or by a unique public key prefix of >= 8 hex digits).

        ``passphrase`` defaults to ``FCL_PASSPHRASE`` or a prompt. Raises
        ``wrong_passphrase`` or ``corrupt_keystore``; never writes anything."""
        name, path = self._resolve(name_or_prefix)
        parsed = self._read(name, path)
        secret = _passphrase_bytes(
            resolve_passphrase(passphrase, prompt=f"Passphrase for key '{name}': ")
        )
        enc_key, check_key = _derive(secret, parsed.salt, parsed.n, parsed.r, parsed.p)
        check_ok = hmac.compare_digest(_check_value(check_key), parsed.check)
        aead = _CIPHERS[parsed.cipher](enc_key)
        try:
            seed = aead.decrypt(parsed.nonce, parsed.ciphertext, _associated_data(parsed.doc))
        except InvalidTag:
            if check_ok:
                raise _corrupt(
                    path, "the passphrase is right but the ciphertext or a header field changed"
                ) from None
            raise KeystoreError(
                "wrong_passphrase", f"wrong passphrase for key '{name}' ({path})"
            ) from None
        if not check_ok:
            raise _corrupt(path, "its passphrase check value was changed")
        key = PrivateKey(seed)
        if key.public_key_hex != parsed.public_key:
            raise _corrupt(path, "the decrypted key does not match the stored public key")
        log.debug("unlocked key %s (%s)", name, parsed.public_key)
        return key

    # ----------------------------------------------------------------- write

    def create(self, name: str, passphrase: str | None = None) -> str:
        """Generate a new key, store it encrypted, and return its hex public key.

        ``passphrase`` defaults to ``FCL_PASSPHRASE`` or a prompt asked twice."""
        return self._store(name, None, passphrase)

    def import_seed(self, name: str, seed: bytes, passphrase: str | None = None) -> str:
        """Store an existing 32-byte Ed25519 seed encrypted; return its hex public key."""
        if not isinstance(seed, bytes) or len(seed) != SEED_SIZE:
            raise KeystoreError("invalid_seed", f"an Ed25519 seed is {SEED_SIZE} bytes")
        return self._store(name, seed, passphrase)

    def _store(self, name: str, seed: bytes | None, passphrase: str | None) -> str:
        if not isinstance(name, str) or not NAME_RE.fullmatch(name):
            raise KeystoreError(
                "invalid_name", f"key names must match {NAME_RE.pattern}, got {name!r}"
            )
        path = self._file_for(name)
        if path.exists():
            raise KeystoreError("key_exists", f"a key named '{name}' already exists ({path})")
        passphrase = resolve_passphrase(
            passphrase, prompt=f"Passphrase for new key '{name}': ", confirm=True
        )
        if len(passphrase) < MIN_PASSPHRASE_CHARS:
            raise KeystoreError(
                "weak_passphrase",
                f"a passphrase must have at least {MIN_PASSPHRASE_CHARS} characters",
            )
        key = PrivateKey(seed) if seed is not None else PrivateKey.generate()
        salt = secrets.token_bytes(SALT_SIZE)
        nonce = secrets.token_bytes(NONCE_SIZE)
        enc_key, check_key = _derive(
            _passphrase_bytes(passphrase), salt, self._n, SCRYPT_R, SCRYPT_P
        )
        doc: dict[str, Any] = {
            "version": FORMAT_VERSION,
            "name": name,
            "public_key": key.public_key_hex,
            "kdf": {
                "name": "scrypt",
                "n": self._n,
                "r": SCRYPT_R,
                "p": SCRYPT_P,
                "salt": salt.hex(),
                "check": _check_value(check_key),
            },
            "cipher": {"name": DEFAULT_CIPHER, "nonce": nonce.hex()},
            "created": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        ciphertext = _CIPHERS[DEFAULT_CIPHER](enc_key).encrypt(
            nonce, key.seed_bytes(), _associated_data(doc)
        )
        doc["ciphertext"] = ciphertext.hex()
        body = _pretty(doc)
        self._write_new(path, name, body)
        log.info("stored key %s (%s) in %s", name, key.public_key_hex, path)
        return key.public_key_hex

    def _ensure_dir(self) -> None:
        try:
            if not self._dir.is_dir():
                self._dir.mkdir(mode=0o700, parents=True, exist_ok=True)
                os.chmod(self._dir, 0o700)
            else:
                mode = stat.S_IMODE(self._dir.stat().st_mode)
                if mode & 0o077:
                    log.warning(
                        "keystore directory %s is accessible by other users (mode %o); "
                        "consider chmod 700",
                        self._dir,
                        mode,
                    )
        except OSError as exc:
            raise KeystoreError(
                "keystore_io", f"cannot create keystore directory {self._dir}: {exc.strerror}"
            ) from None

    def _write_new(self, path: Path, name: str, body: bytes) -> None:
        """Publish ``body`` at ``path`` atomically and durably, never replacing a file."""
        self._ensure_dir()
        tmp: str | None = None
        try:
            fd, tmp = tempfile.mkstemp(dir=self._dir, prefix=".tmp-", suffix=".json")
            with os.fdopen(fd, "wb") as f:
                os.fchmod(f.fileno(), 0o600)
                f.write(body)
                f.flush()
                os.fsync(f.fileno())
            try:
                os.link(tmp, path)  # fails if the name is taken: no race with another writer
            except FileExistsError:
                raise KeystoreError(
                    "key_exists", f"a key named '{name}' already exists ({path})"
                ) from None
            except OSError:
                # A file system without hard links: check, then rename.
                if path.exists():
                    raise KeystoreError(
                        "key_exists", f"a key named '{name}' already exists ({path})"
                    ) from None
                os.replace(tmp, path)
                tmp = None
        except OSError as exc:
            raise KeystoreError("keystore_io", f"cannot write {path}: {exc.strerror}") from None
        finally:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
        _fsync_dir(self._dir)

    # ----------------------------------------------------------------- listing

    def list(self) -> list[KeyEntry]:
        """``[(name, public_key)]`` sorted by name; needs no passphrase. A damaged file is
        left out with a warning in the log (loading it reports why)."""
        if not self._dir.is_dir():
            return []
        out: list[KeyEntry] = []
        for path in sorted(self._dir.glob("*.json")):
            name = path.name[: -len(".json")]
            if not NAME_RE.fullmatch(name) or not path.is_file():
                continue
            try:
                parsed = self._read(name, path)
            except KeystoreError as exc:
                log.warning("skipping %s: %s", path, exc.message)
                continue
            out.append(KeyEntry(parsed.name, parsed.public_key))
        return out


def _pretty(doc: Mapping[str, Any]) -> bytes:
    return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode("ascii")


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
