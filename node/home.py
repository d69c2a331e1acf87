"""The node home directory::

    <home>/config.json    chain id, moniker, RPC host/port, block interval, limits,
                          validator key name, p2p listen address and peers, consensus
                          timeouts
    <home>/genesis.json   the network's genesis document
    <home>/keys/          wallet keystore holding the validator key (encrypted); an
                          observer's (``observer: true``) node key, under the same name
    <home>/wallet/        dev networks only: keystore with the genesis regulator admin key
                          (``fcl testnet``: the admin key of this node's operator organisation)
    <home>/data/          the LevelDB store
    <home>/consensus/     the validator's sign state (what it last signed; never delete it
                          while the validator key is in use)

``config.json`` is written last by ``fcl node init``: its presence means "initialised".
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ledger.errors import LedgerError
from ledger.genesis import Genesis
from ledger.tx import CHAIN_ID_RE

__all__ = ["CONSENSUS_TUNABLES", "OBSERVER_KEY_NAME", "HomeError", "NodeConfig", "NodeHome",
           "PeerAddress"]

_MONIKER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")
_PEER_RE = re.compile(r"^([0-9a-f]{64})@([A-Za-z0-9.:\[\]_-]{1,253}):([0-9]{1,5})\Z")
DEFAULT_MAX_FRAME_BYTES = 17 * 1024 * 1024
#: the keystore name (``validator_key``) of an observer's node key in its home
OBSERVER_KEY_NAME = "node"
#: ``config.json`` ``consensus`` keys (``node.consensus.ConsensusConfig`` fields) an operator
#: may set; the others keep the core's defaults.
CONSENSUS_TUNABLES = (
    "timeout_propose_ms",
    "timeout_propose_delta_ms",
    "timeout_prevote_ms",
    "timeout_prevote_delta_ms",
    "timeout_precommit_ms",
    "timeout_precommit_delta_ms",
    "rebroadcast_ms",
)


@dataclass(frozen=True)
class PeerAddress:
    """``<hex node key>@<host>:<port>``: whom to dial, and the key it must prove it holds."""

    pub_key: str
    host: str
    port: int

    @classmethod
    def parse(cls, text: Any) -> PeerAddress:
        match = _PEER_RE.match(text) if isinstance(text, str) else None
        if match is None or not 1 <= int(match.group(3)) <= 65535:
            raise HomeError(
                "bad_config", f"peer {text!r} is not <64 hex digit node key>@<host>:<port>"
            )
        return cls(match.group(1), match.group(2), int(match.group(3)))

    def __str__(self) -> str:
        return f"{self.pub_key}@{self.host}:{self.port}"


class HomeError(LedgerError):
    """The node home is missing, incomplete or invalid: ``not_initialised``,
    ``already_initialised``, ``bad_config``, ``bad_genesis``; ``observer_is_validator`` (an
    observer node whose key is a validator's, refused at start)."""


@dataclass(frozen=True)
class NodeConfig:
    """The settings in ``config.json``."""

    chain_id: str
    moniker: str
    rpc_host: str = "127.0.0.1"
    rpc_port: int = 26657
    #: HTTP server limits (node/api/http_server.py): connections at once (fewer if the
    #: descriptor limit is lower), time for a request's head and body, idle keep-alive
    rpc_max_connections: int = 1000
    rpc_max_connections_per_address: int = 100
    rpc_header_timeout_ms: int = 10_000
    rpc_body_timeout_ms: int = 30_000
    rpc_keep_alive_ms: int = 5_000
    block_interval_ms: int = 100
    max_block_txs: int = 2000
    validator_key: str = "validator"
    mempool_max_txs: int = 10_000
    mempool_max_bytes: int = 64 * 1024 * 1024
    #: what one organisation may have pending (the organisations of a transaction's
    #: signers); None: a quarter of the total limit (``mempool_org_limits``)
    mempool_max_txs_per_org: int | None = None
    mempool_max_bytes_per_org: int | None = None
    #: p2p listen address; ``p2p_port`` None: no listener and no peers (a lone validator)
    p2p_host: str = "127.0.0.1"
    p2p_port: int | None = None
    peers: tuple[str, ...] = ()
    max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES
    #: authenticated peers at most; connections in their handshake have their own slots:
    #: at most ``p2p_max_handshakes`` at once (configured peers' addresses not counted),
    #: ``p2p_max_handshakes_per_address`` from one address, each ``p2p_handshake_timeout_ms``
    p2p_max_peers: int = 64
    p2p_max_handshakes: int = 64
    p2p_max_handshakes_per_address: int = 8
    p2p_handshake_timeout_ms: int = 5000
    #: proposals whose time is more than this ahead of the local clock get a nil prevote
    max_clock_drift_ms: int = 2000
    #: ``node.consensus.ConsensusConfig`` overrides (keys in ``CONSENSUS_TUNABLES``)
    consensus: tuple[tuple[str, int], ...] = ()
    #: the base URL printed on certificates (QR code, verify link); None: the RPC address.
    #: A request's ``Host`` header never chooses it.
    public_url: str | None = None
    #: an observer node (docs/node.md "Observer nodes"): follows the chain, never signs a
    #: vote or a proposal; refuses to start if its key is a validator's. The key
    #: ``validator_key`` names is then its p2p node key, which the regulator enrols
    #: (``membership.enrol_observer``) so that validators accept its connections.
    observer: bool = False
    #: the time zone the explorer's pages show dates in unless the reader chooses another
    #: (an IANA name of the tz database; docs/explorer.md "The reader's time zone")
    time_zone: str = "Asia/Shanghai"

    def __post_init__(self) -> None:
        def bad(why: str) -> HomeError:
            return HomeError("bad_config", f"config.json: {why}")

        if not isinstance(self.chain_id, str) or not CHAIN_ID_RE.match(self.chain_id):
            raise bad("chain_id is not a valid chain id")
        if not isinstance(self.moniker, str) or not _MONIKER_RE.match(self.moniker):
            raise bad("moniker must be 1..64 letters, digits, '.', '_', '-'")
        if not isinstance(self.rpc_host, str) or not self.rpc_host:
            raise bad("rpc.host must be a host name or address")
        for name, lo, hi in (
            ("rpc_port", 0, 65535),
            ("rpc_max_connections", 1, 100_000),
            ("rpc_max_connections_per_address", 1, 100_000),
            ("rpc_header_timeout_ms", 100, 600_000),
            ("rpc_body_timeout_ms", 100, 600_000),
            ("rpc_keep_alive_ms", 100, 600_000),
            ("block_interval_ms", 1, 60_000),
            ("max_block_txs", 1, 5000),
            ("mempool_max_txs", 1, 10_000_000),
            ("mempool_max_bytes", 1, 2**40),
            ("max_frame_bytes", 64 * 1024, 2**31),
            ("p2p_max_peers", 1, 10_000),
            ("p2p_max_handshakes", 1, 10_000),
            ("p2p_max_handshakes_per_address", 1, 10_000),
            ("p2p_handshake_timeout_ms", 100, 600_000),
            ("max_clock_drift_ms", 0, 3_600_000),
        ):
            value = getattr(self, name)
            if type(value) is not int or not lo <= value <= hi:
                raise bad(f"{name} must be an integer in {lo}..{hi}")
        for name, total in (("mempool_max_txs_per_org", self.mempool_max_txs),
                            ("mempool_max_bytes_per_org", self.mempool_max_bytes)):
            value = getattr(self, name)
            if value is not None and (type(value) is not int or not 1 <= value <= total):
                raise bad(f"mempool.{name.removeprefix('mempool_')} must be null or an integer "
                          f"in 1..{total} (the total limit)")
        if not isinstance(self.validator_key, str) or not _MONIKER_RE.match(self.validator_key):
            raise bad("validator_key must be a key name")
        if not isinstance(self.p2p_host, str) or not self.p2p_host:
            raise bad("p2p.host must be a host name or address")
        if self.p2p_port is not None and (
            type(self.p2p_port) is not int or not 0 <= self.p2p_port <= 65535
        ):
            raise bad("p2p.port must be null or an integer in 0..65535")
        if not isinstance(self.peers, tuple):
            raise bad("p2p.peers must be a list")
        for peer in self.peers:
            PeerAddress.parse(peer)
        for name, value in self.consensus:
            if name not in CONSENSUS_TUNABLES:
                raise bad(f"consensus.{name} is not a setting ({', '.join(CONSENSUS_TUNABLES)})")
            if type(value) is not int or not 1 <= value <= 3_600_000:
                raise bad(f"consensus.{name} must be an integer in 1..3600000 (milliseconds)")

        if type(self.observer) is not bool:
            raise bad("observer must be true or false")
        if not is_time_zone(self.time_zone):
            raise bad(f"time_zone must be a time zone name of the tz database such as "
                      f"Asia/Shanghai or UTC, not {str(self.time_zone)[:40]!r}")
        if self.public_url is not None and not is_public_url(self.public_url):
            raise bad("public_url must be an http:// or https:// URL with a host and no "
                      "query or fragment, at most 200 characters")

    def base_url(self, host: str | None = None, port: int | None = None) -> str:
        """The base URL of certificate links: ``public_url``, else the RPC address
        (``host``/``port`` override the configured ones, as ``fcl node start`` flags do)."""
        if self.public_url is not None:
            return self.public_url.rstrip("/")
        host = host or self.rpc_host
        port = self.rpc_port if port is None else port
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def mempool_org_limits(self) -> tuple[int, int]:
        """(transactions, bytes) one organisation may have pending in the mempool: the
        settings, else a quarter of the total limits (at least 1), so that at least four
        members can fill the pool before any of them is refused."""
        txs = self.mempool_max_txs_per_org
        size = self.mempool_max_bytes_per_org
        return (max(1, self.mempool_max_txs // 4) if txs is None else txs,
                max(1, self.mempool_max_bytes // 4) if size is None else size)

    def peer_addresses(self) -> list[PeerAddress]:
        return [PeerAddress.parse(p) for p in self.peers]

    def consensus_overrides(self) -> dict[str, int]:
        return dict(self.consensus)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        return {
            "chain_id": d["chain_id"],
            "moniker": d["moniker"],
            "rpc": {"host": d["rpc_host"], "port": d["rpc_port"],
                    "max_connections": d["rpc_max_connections"],
                    "max_connections_per_address": d["rpc_max_connections_per_address"],
                    "header_timeout_ms": d["rpc_header_timeout_ms"],
                    "body_timeout_ms": d["rpc_body_timeout_ms"],
                    "keep_alive_ms": d["rpc_keep_alive_ms"]},
            "block_interval_ms": d["block_interval_ms"],
            "max_block_txs": d["max_block_txs"],
            "validator_key": d["validator_key"],
            "mempool": {"max_txs": d["mempool_max_txs"], "max_bytes": d["mempool_max_bytes"],
                        "max_txs_per_org": d["mempool_max_txs_per_org"],
                        "max_bytes_per_org": d["mempool_max_bytes_per_org"]},
            "p2p": {
                "host": self.p2p_host,
                "port": self.p2p_port,
                "peers": list(self.peers),
                "max_frame_bytes": self.max_frame_bytes,
                "max_peers": self.p2p_max_peers,
                "max_handshakes": self.p2p_max_handshakes,
                "max_handshakes_per_address": self.p2p_max_handshakes_per_address,
                "handshake_timeout_ms": self.p2p_handshake_timeout_ms,
            },
            "max_clock_drift_ms": self.max_clock_drift_ms,
            "consensus": dict(self.consensus),
            "public_url": self.public_url,
            "observer": self.observer,
            "time_zone": self.time_zone,
        }

    @classmethod
    def from_json(cls, obj: Any) -> NodeConfig:
        if not isinstance(obj, dict):
            raise HomeError("bad_config", "config.json must hold an object")
        try:
            rpc = obj.get("rpc", {})
            mempool = obj.get("mempool", {})
            p2p = obj.get("p2p", {})
            peers = p2p.get("peers", [])
            consensus = obj.get("consensus", {})
            if not isinstance(peers, list):
                raise HomeError("bad_config", "config.json: p2p.peers must be a list")
            if not isinstance(consensus, dict):
                raise HomeError("bad_config", "config.json: consensus must be an object")
            return cls(
                chain_id=obj["chain_id"],
                moniker=obj["moniker"],
                rpc_host=rpc.get("host", "127.0.0.1"),
                rpc_port=rpc.get("port", 26657),
                rpc_max_connections=rpc.get("max_connections", 1000),
                rpc_max_connections_per_address=rpc.get("max_connections_per_address", 100),
                rpc_header_timeout_ms=rpc.get("header_timeout_ms", 10_000),
                rpc_body_timeout_ms=rpc.get("body_timeout_ms", 30_000),
                rpc_keep_alive_ms=rpc.get("keep_alive_ms", 5_000),
                block_interval_ms=obj.get("block_interval_ms", 100),
                max_block_txs=obj.get("max_block_txs", 2000),
                validator_key=obj.get("validator_key", "validator"),
                mempool_max_txs=mempool.get("max_txs", 10_000),
                mempool_max_bytes=mempool.get("max_bytes", 64 * 1024 * 1024),
                mempool_max_txs_per_org=mempool.get("max_txs_per_org"),
                mempool_max_bytes_per_org=mempool.get("max_bytes_per_org"),
                p2p_host=p2p.get("host", "127.0.0.1"),
                p2p_port=p2p.get("port"),
                peers=tuple(peers),
                max_frame_bytes=p2p.get("max_frame_bytes", DEFAULT_MAX_FRAME_BYTES),
                p2p_max_peers=p2p.get("max_peers", 64),
                p2p_max_handshakes=p2p.get("max_handshakes", 64),
                p2p_max_handshakes_per_address=p2p.get("max_handshakes_per_address", 8),
                p2p_handshake_timeout_ms=p2p.get("handshake_timeout_ms", 5000),
                max_clock_drift_ms=obj.get("max_clock_drift_ms", 2000),
                consensus=tuple(sorted(consensus.items())),
                public_url=obj.get("public_url"),
                observer=obj.get("observer", False),
                time_zone=obj.get("time_zone", "Asia/Shanghai"),
            )
        except (KeyError, AttributeError, TypeError) as exc:
            raise HomeError("bad_config", f"config.json: missing or invalid {exc}") from None


_PUBLIC_URL_RE = re.compile(r"https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~\-/]*)?")
_IPV6_URL_RE = re.compile(r"https?://\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?(/[A-Za-z0-9._~\-/]*)?")


_ZONE_RE = re.compile(r"[A-Za-z][A-Za-z0-9_+-]{0,29}(/[A-Za-z0-9_+-]{1,30}){0,2}")


def is_time_zone(value: object) -> bool:
    """An IANA time zone name the tz database (``zoneinfo``) knows; ``Asia/Shanghai``
    (China Standard Time, a fixed UTC+8) is accepted even without a tz database."""
    if not isinstance(value, str) or not _ZONE_RE.fullmatch(value):
        return False
    if value == "Asia/Shanghai":
        return True
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def is_public_url(value: object) -> bool:
    """An absolute http(s) URL of a host (name, IPv4 or [IPv6]) with an optional port and
    path, no user info, query or fragment, at most 200 characters."""
    return (isinstance(value, str) and len(value) <= 200
            and (_PUBLIC_URL_RE.fullmatch(value) is not None
                 or _IPV6_URL_RE.fullmatch(value) is not None))


def write_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    """Write ``text`` to ``path`` via a synced temporary file and a rename."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            os.fchmod(f.fileno(), mode)
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class NodeHome:
    """Paths and files of one node home."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()

    @property
    def config_path(self) -> Path:
        return self.root / "config.json"

    @property
    def genesis_path(self) -> Path:
        return self.root / "genesis.json"

    @property
    def keys_dir(self) -> Path:
        return self.root / "keys"

    @property
    def wallet_dir(self) -> Path:
        return self.root / "wallet"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def consensus_dir(self) -> Path:
        return self.root / "consensus"

    def is_initialised(self) -> bool:
        return self.config_path.is_file()

    def load_config(self) -> NodeConfig:
        if not self.is_initialised():
            raise HomeError(
                "not_initialised", f"{self.root} is not a node home; run: fcl node init --home ..."
            )
        try:
            obj = json.loads(self.config_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise HomeError("bad_config", f"cannot read {self.config_path}: {exc}") from None
        return NodeConfig.from_json(obj)

    def save_config(self, config: NodeConfig) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        write_atomic(self.config_path, json.dumps(config.to_json(), indent=2) + "\n")

    def load_genesis(self) -> Genesis:
        try:
            return Genesis.load(self.genesis_path)
        except FileNotFoundError:
            raise HomeError("bad_genesis", f"{self.genesis_path} is missing") from None
        except LedgerError as exc:
            raise HomeError("bad_genesis", exc.message) from None

    def save_genesis(self, genesis: Genesis) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        text = json.dumps(genesis.doc, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
        write_atomic(self.genesis_path, text)
