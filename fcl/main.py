"""The ``fcl`` command: ``fcl node init|start`` here; ``fcl keys ...`` and ``fcl tx ...``
from the wallet (``wallet.cli``); ``fcl verify``, ``fcl query``, ``fcl audit``, ``fcl devnet``,
``fcl testnet``, ``fcl bench``, ``fcl status``, ``fcl light`` and ``fcl snapshot`` from their
modules in ``fcl/``, and ``fcl portal`` from ``portal/cli.py``, imported plainly.

The composition root: it mounts the explorer's routes on the node's API, which no module
of ``node/`` may do (docs/architecture.md, "Layers").

Passphrases: ``--passphrase-file FILE`` (first line) if given, else ``FCL_PASSPHRASE``,
else a prompt on the terminal -- the wallet commands use the same rule. A passphrase is
never logged or printed.

Exit codes: 0 success, 1 a valid request failed (wrong passphrase, store in use, ...),
2 bad command line or input, 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from typing import Any

import fcl.audit.cli
import fcl.bench
import fcl.devnet.cli
import fcl.light
import fcl.query
import fcl.state_sync
import fcl.status
import fcl.testnet.cli
import fcl.verify
import portal.cli
from fcl.passphrase import node_passphrase
from ledger.errors import LedgerError
from node.home import OBSERVER_KEY_NAME, NodeConfig

__all__ = ["build_parser", "main"]

log = logging.getLogger("node.cli")

DEV_CHAIN_ID = "fcl-devnet"
VALIDATOR_POWER = 10


def _note(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


# --------------------------------------------------------------------------- init


def _dev_genesis(chain_id: str, moniker: str, validator_key: str, regulator_key: str) -> Any:
    import time

    from chaincode.params import DEFAULT_PARAMS
    from ledger.genesis import Genesis

    doc = {
        "chain_id": chain_id,
        "genesis_time": time.time_ns() // 1_000_000,
        "validators": [{"name": moniker, "pub_key": validator_key, "power": VALIDATOR_POWER}],
        "app_state": {
            "organisations": [
                {
                    "id": "regulator",
                    "name": "Development regulator",
                    "roles": ["regulator"],
                    "accreditation": None,
                    "admins": [regulator_key],
                    "members": [],
                }
            ],
            "params": dict(DEFAULT_PARAMS),
        },
    }
    return Genesis.from_json(doc)


def _create_or_reuse(keystore: Any, name: str, passphrase: str) -> str:
    """Create key ``name``, or check the passphrase of a key left by an earlier, interrupted
    ``init`` and reuse it."""
    if any(entry.name == name for entry in keystore.list()):
        return str(keystore.load(name, passphrase).public_key_hex)
    return str(keystore.create(name, passphrase))


def cmd_init(args: argparse.Namespace) -> int:
    from chaincode.executor import Executor
    from ledger.genesis import Genesis
    from node.home import HomeError, NodeConfig, NodeHome
    from wallet.keystore import Keystore

    home = NodeHome(args.home)
    if home.is_initialised():
        raise HomeError("already_initialised", f"{home.root} is already initialised")
    if args.observer and args.genesis is None:
        raise HomeError(
            "bad_config", "an observer follows an existing network: --observer needs "
            "--genesis FILE (the network's genesis) and --peer KEY@HOST:PORT (its validators)"
        )
    given: Genesis | None = None
    if args.genesis is not None:
        given = Genesis.load(args.genesis)
        if args.chain_id is not None and args.chain_id != given.chain_id:
            raise HomeError(
                "bad_genesis", f"--chain-id {args.chain_id} but the genesis is {given.chain_id}"
            )
    config = NodeConfig(
        chain_id=given.chain_id if given else (args.chain_id or DEV_CHAIN_ID),
        moniker=args.moniker,
        rpc_host=args.rpc_host,
        rpc_port=args.rpc_port,
        block_interval_ms=args.block_interval_ms,
        p2p_host=args.p2p_host,
        p2p_port=args.p2p_port,
        peers=tuple(args.peer or ()),
        validator_key=OBSERVER_KEY_NAME if args.observer else "validator",
        observer=bool(args.observer),
    )
    passphrase = node_passphrase(args, confirm=True)
    home.root.mkdir(parents=True, exist_ok=True)
    validator_key = _create_or_reuse(Keystore(home.keys_dir), config.validator_key, passphrase)
    if given is None:
        regulator_key = _create_or_reuse(Keystore(home.wallet_dir), "regulator", passphrase)
        genesis = _dev_genesis(config.chain_id, config.moniker, validator_key, regulator_key)
    else:
        genesis = given
    if config.observer and genesis.validators.power_of(validator_key) > 0:
        raise HomeError(
            "observer_is_validator",
            f"the node key {validator_key[:16]}… is a validator of this genesis; an observer "
            "needs its own key (use a new --home)",
        )
    Executor().genesis_writes(genesis)  # refuse a genesis the chaincode cannot apply
    home.save_genesis(genesis)
    home.save_config(config)
    print(f"initialised node home {home.root}")
    print(f"chain id:        {genesis.chain_id}")
    print(f"genesis hash:    {genesis.hash}")
    print("                 (to trust: SHA-256 of the canonical genesis, the value "
          "fcl verify --genesis-hash takes; not sha256sum of the file)")
    if config.observer:
        print(f"node key:        {validator_key} (observer; keystore {home.keys_dir}, "
              f"key '{OBSERVER_KEY_NAME}')")
        print("enrol it (regulator): fcl tx sign --keystore REGULATOR_WALLET --key regulator "
              f"--chain-id {genesis.chain_id} --contract membership --method enrol_observer "
              f"--args '{{\"node_key\": \"{validator_key}\", \"org_id\": \"ORG\", "
              f"\"moniker\": \"{config.moniker}\"}}' | fcl tx send - --node URL --wait")
        if not config.peers:
            _note("warning: an observer with no --peer dials nobody; add the validators' "
                  "KEY@HOST:PORT to p2p.peers in config.json")
    else:
        print(f"validator key:   {validator_key}")
    if given is None:
        print(f"regulator key:   {regulator_key} (keystore {home.wallet_dir}, key 'regulator')")
    elif not config.observer and genesis.validators.power_of(validator_key) == 0:
        _note(
            "warning: this node's validator key is not in the genesis validator set; add it "
            "to the genesis (or replace genesis.json) before `fcl node start`"
        )
    print(f"rpc:             http://{config.rpc_host}:{config.rpc_port}")
    if config.p2p_port is not None:
        print(f"p2p:             {validator_key}@{config.p2p_host}:{config.p2p_port}")
    return 0


# --------------------------------------------------------------------------- start


def cmd_start(args: argparse.Namespace) -> int:
    from ledger.store import Store
    from node.home import HomeError, NodeHome
    from node.ops import profiling
    from node.ops.logs import setup_logging
    from node.runtime import NodeRuntime, tune_gc
    from wallet.keystore import Keystore

    home = NodeHome(args.home)
    config = home.load_config()
    genesis = home.load_genesis()
    if genesis.chain_id != config.chain_id:
        raise HomeError(
            "bad_config", f"config chain id {config.chain_id} differs from genesis {genesis.chain_id}"
        )
    passphrase = node_passphrase(args, confirm=False)
    key = Keystore(home.keys_dir).load(config.validator_key, passphrase)
    del passphrase
    setup_logging(args.log_level)
    if args.profile is not None:
        profiling.set_directory(args.profile)
        profiling.profile_this_thread("main")
    store = Store(home.data_dir)
    try:
        fcl.state_sync.start_from_snapshot(args, store, genesis)
        runtime = NodeRuntime(config=config, genesis=genesis, key=key, store=store,
                              state_dir=home.consensus_dir, documents_dir=home.documents_dir)
        tune_gc()  # once start-up is done: node/runtime.py, docs/performance.md
        host = args.rpc_host or config.rpc_host
        port = args.rpc_port if args.rpc_port is not None else config.rpc_port
        log.info(
            "node starting",
            extra={
                "chain_id": genesis.chain_id,
                "genesis_hash": genesis.hash,
                "height": runtime.app.height,
                "validator": key.public_key_hex,
                "validators": len(runtime.app.tip.validators),
                "rpc": f"http://{host}:{port}",
                "p2p": None if config.p2p_port is None else f"{config.p2p_host}:{config.p2p_port}",
                "peers": len(config.peers),
                "home": str(home.root),
            },
        )
        if config.observer:
            log.info("running as an observer: following the chain, never voting",
                     extra={"node_key": key.public_key_hex})
        elif len(config.peers) == 0 and runtime.app.tip.validators.power_of(key.public_key_hex) == 0:
            log.warning("this node's key is not a validator and it has no peers: it will "
                        "not make blocks")
        if config.public_url is None and host in ("0.0.0.0", "::", ""):
            log.warning("the RPC listens on every address and public_url is not set: "
                        "certificate QR codes will name %s; set public_url in config.json",
                        config.base_url(host, port))
        return _run_loop(_serve(runtime.node, runtime, host, port,
                                public_url=config.base_url(host, port), config=config))
    finally:
        store.close()
        for path in profiling.dump():
            _note(f"profile written: {path}")


def _run_loop(coro: Any) -> int:
    """Run the node's event loop: uvloop when installed (``uvicorn[standard]`` brings it;
    cheaper sockets and timers), else asyncio's own."""
    try:
        import uvloop
    except ImportError:
        return int(asyncio.run(coro))
    return int(uvloop.run(coro))


def api_routers(node: Any, public_url: str | None = None,
                time_zone: str = "Asia/Shanghai") -> list[Any]:
    """The routes of the node's API beside the core ones: certificates and history proofs,
    and the explorer, sharing one certificate builder. ``public_url`` is the base of the
    links printed on certificates (None: relative links and no QR code); ``time_zone`` the
    explorer's default zone for dates (config.json ``time_zone``)."""
    from explorer.app import create_explorer_router
    from explorer.source import ExplorerSource
    from node.api.certificates import CertificateBuilder
    from node.api.rpc import node_routers

    builder = CertificateBuilder(node.store, node.genesis)
    routers = node_routers(node, builder)
    documents = getattr(node, "documents", None)

    def document_info(sha256: str) -> dict[str, Any] | None:
        meta = None if documents is None else documents.get(sha256)
        return None if meta is None else meta.to_json()

    source = ExplorerSource(store=node.store, genesis=node.genesis, status=node.status,
                            build_certificate=builder.build, public_url=public_url,
                            time_zone=time_zone, document_info=document_info)
    routers.append(create_explorer_router(source))
    return routers


async def _serve(
    node: Any, driver: Any, host: str, port: int, routers: list[Any] | None = None,
    public_url: str | None = None, config: NodeConfig | None = None,
) -> int:
    """Run the RPC server and the node (``driver``: anything with ``run()`` and ``stop()``,
    normally a ``NodeRuntime``) until a signal or a failure. ``config`` gives the HTTP
    server's limits (defaults: ``NodeConfig``'s)."""
    import uvicorn

    from node.api.http_server import HttpLimits, descriptor_budget, guarded_protocol
    from node.api.rpc import create_app

    settings = config or NodeConfig(chain_id=node.genesis.chain_id, moniker="node")
    max_connections, fd_limit = descriptor_budget(settings.rpc_max_connections)
    if max_connections < settings.rpc_max_connections:
        log.warning("the descriptor limit allows only %d HTTP connections", max_connections,
                    extra={"nofile": fd_limit, "wanted": settings.rpc_max_connections})
    limits = HttpLimits(max_connections=max_connections,
                        max_connections_per_address=settings.rpc_max_connections_per_address,
                        header_timeout_s=settings.rpc_header_timeout_ms / 1000,
                        body_timeout_s=settings.rpc_body_timeout_ms / 1000)

    class _Server(uvicorn.Server):
        def install_signal_handlers(self) -> None:  # uvicorn < 0.29
            pass

        def capture_signals(self) -> Any:  # we handle signals ourselves (graceful stop)
            import contextlib

            return contextlib.nullcontext()

    if routers is None:
        routers = api_routers(node, public_url, settings.time_zone)
    start_network = getattr(driver, "start_network", None)
    if start_network is not None:
        try:
            await start_network()  # bind the p2p port before announcing anything
        except RuntimeError as exc:
            _note(f"error: p2p_failed: {exc}")
            return 1
    server_config = uvicorn.Config(
        create_app(node, routers=routers),
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        lifespan="off",
        server_header=False,
        http=guarded_protocol(limits),
        timeout_keep_alive=max(1, settings.rpc_keep_alive_ms // 1000),
        # only a backstop: the guard refuses connections over its limits before uvicorn
        # counts them; requests in flight never exceed admitted connections
        limit_concurrency=2 * max_connections + 64,
        backlog=min(2048, max_connections),
    )
    server = _Server(server_config)
    loop = asyncio.get_running_loop()

    def stop() -> None:
        log.info("stopping")
        server.should_exit = True
        driver.stop()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop)
    async def serve_rpc() -> None:
        try:
            await server.serve()
        except SystemExit as exc:  # uvicorn exits when it cannot bind
            raise RuntimeError(f"the RPC server could not start (status {exc.code})") from None

    server_task = asyncio.create_task(serve_rpc(), name="rpc")
    driver_task = asyncio.create_task(driver.run(), name="driver")
    await asyncio.wait({server_task, driver_task}, return_when=asyncio.FIRST_COMPLETED)
    code = 0
    if driver_task.done() and not driver_task.cancelled() and driver_task.exception() is not None:
        failure = driver_task.exception()
        node.halted = f"{type(failure).__name__}: {failure}"
        log.critical("block production failed; shutting down", exc_info=failure)
        _note(f"error: halted: {node.halted}")
        code = 1
    stop()
    await asyncio.gather(server_task, driver_task, return_exceptions=True)
    if server_task.exception() is not None:
        log.error("rpc server failed: %s", server_task.exception())
        _note(f"error: rpc_failed: {server_task.exception()} on {host}:{port}")
        code = 1
    if not server.started and code == 0:
        code = 1  # e.g. the port was taken
    log.info("stopped", extra={"height": node.app.height, "exit_code": code})
    return code


# --------------------------------------------------------------------------- parser


def _run_node_command(args: argparse.Namespace) -> int:
    try:
        return int(args.node_action(args))
    except LedgerError as exc:
        _note(f"error: {exc.code}: {exc.message}")
        return 2 if exc.code in ("bad_config", "bad_genesis", "malformed_genesis") else 1
    except KeyboardInterrupt:
        _note("error: interrupted")
        return 130


def _port(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    """The ``fcl`` argument parser with every command group."""
    from wallet.cli import register as register_wallet

    parser = argparse.ArgumentParser(
        prog="fcl", description="Forest Carbon Ledger: node, keys and transactions."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    node = sub.add_parser("node", help="run a validator node", description="Run a node.")
    node_sub = node.add_subparsers(dest="node_command", metavar="COMMAND", required=True)

    secret = argparse.ArgumentParser(add_help=False)
    secret.add_argument(
        "--passphrase-file",
        metavar="FILE",
        help="read the key passphrase from the first line of FILE "
        "(default: $FCL_PASSPHRASE, else ask on the terminal)",
    )

    p = node_sub.add_parser(
        "init",
        parents=[secret],
        help="create a node home: validator key, genesis, config",
        description="Create a node home. Without --genesis, writes a single-validator "
        "development genesis that enrols a 'regulator' organisation whose admin key is "
        "created in HOME/wallet (key name 'regulator').",
    )
    p.add_argument("--home", required=True, metavar="DIR")
    p.add_argument("--chain-id", metavar="ID", help=f"chain id (default {DEV_CHAIN_ID})")
    p.add_argument("--genesis", metavar="FILE", help="use this genesis instead of a dev genesis")
    p.add_argument("--moniker", default="node0", metavar="NAME", help="node name (default node0)")
    p.add_argument("--rpc-host", default="127.0.0.1", metavar="HOST")
    p.add_argument("--rpc-port", type=_port, default=26657, metavar="PORT")
    p.add_argument("--block-interval-ms", type=int, default=100, metavar="MS")
    p.add_argument("--p2p-host", default="127.0.0.1", metavar="HOST",
                   help="p2p listen address (default 127.0.0.1)")
    p.add_argument("--p2p-port", type=_port, metavar="PORT",
                   help="p2p listen port (default: none, a lone validator)")
    p.add_argument("--peer", action="append", metavar="KEY@HOST:PORT",
                   help="a peer to dial: its node key and p2p address (repeatable)")
    p.add_argument("--observer", action="store_true",
                   help="an observer node: follows the chain and serves reads, never votes "
                   "(needs --genesis; the regulator enrols the printed node key with "
                   "membership.enrol_observer)")
    p.set_defaults(func=_run_node_command, node_action=cmd_init)

    p = node_sub.add_parser(
        "start", parents=[secret], help="run the node", description="Run the node."
    )
    p.add_argument("--home", required=True, metavar="DIR")
    p.add_argument("--rpc-host", metavar="HOST", help="override config.json's rpc.host")
    p.add_argument("--rpc-port", type=_port, metavar="PORT", help="override config.json")
    p.add_argument(
        "--log-level", default="info", choices=("debug", "info", "warning", "error")
    )
    p.add_argument("--profile", metavar="DIR",
                   help="profile the node's threads (cProfile) and write the stats to DIR "
                   "when it stops")
    fcl.state_sync.add_start_options(p)
    p.set_defaults(func=_run_node_command, node_action=cmd_start)

    fcl.testnet.cli.register(sub, secret)
    fcl.bench.register(sub)
    register_wallet(sub)
    fcl.verify.register(sub)
    fcl.query.register(sub)
    fcl.audit.cli.register(sub)
    fcl.devnet.cli.register(sub)
    fcl.status.register(sub)
    portal.cli.register(sub)
    fcl.light.register(sub)
    fcl.state_sync.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point of ``fcl``."""
    parser = build_parser()
    args = parser.parse_args(None if argv is None else list(argv))
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
