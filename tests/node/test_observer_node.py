"""Observer nodes at the node layer: the ``observer`` config flag, the handshake's
``authorise`` predicate (validators, configured peers, enrolled observers; nobody else),
and an observer's runtime that has no signing key and sends no consensus frame."""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from ledger.genesis import Genesis
from ledger.store import Store
from node.home import HomeError, NodeConfig
from node.net.handshake import HandshakeError, LocalIdentity, PeerIdentity, handshake
from node.runtime import NodeRuntime
from tests.support.common import det_key
from tests.support.network import make_genesis, run, validator_key

OBSERVER = det_key("unit-observer")
OUTSIDER = det_key("unit-outsider")
PEER = det_key("unit-configured-peer")


def genesis_with_observer() -> Genesis:
    doc = copy.deepcopy(make_genesis(4).doc)
    doc["app_state"]["observers"] = [{"node_key": OBSERVER.public_key_hex,
                                      "org_id": "regulator"}]
    return Genesis.from_json(doc)


async def pair(server_local: LocalIdentity, client_local: LocalIdentity,
               server_authorise: Callable[[str], bool]
               ) -> tuple[PeerIdentity | HandshakeError, PeerIdentity | HandshakeError]:
    """A real handshake over loopback: (the server's outcome, the client's)."""
    done: asyncio.Future[PeerIdentity | HandshakeError] = (
        asyncio.get_running_loop().create_future())

    async def on_conn(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        result: PeerIdentity | HandshakeError
        try:
            result = await handshake(reader, writer, server_local, initiator=False,
                                     authorise=server_authorise, timeout_s=2)
        except HandshakeError as exc:
            result = exc
        writer.close()
        done.set_result(result)

    server = await asyncio.start_server(on_conn, "127.0.0.1", 0)
    reader, writer = await asyncio.open_connection("127.0.0.1",
                                                   server.sockets[0].getsockname()[1])
    client: PeerIdentity | HandshakeError
    try:
        client = await handshake(reader, writer, client_local, initiator=True,
                                 authorise=lambda k: True, timeout_s=5)
    except HandshakeError as exc:
        client = exc
    writer.close()
    result = await asyncio.wait_for(done, 5)
    server.close()
    return result, client


def test_observer_flag_round_trips_and_is_validated() -> None:
    cfg = NodeConfig(chain_id="fcl-net-test", moniker="obs", observer=True)
    assert cfg.to_json()["observer"] is True
    assert NodeConfig.from_json(json.loads(json.dumps(cfg.to_json()))) == cfg
    plain = NodeConfig(chain_id="fcl-net-test", moniker="v")
    legacy = {k: v for k, v in plain.to_json().items() if k != "observer"}
    assert NodeConfig.from_json(legacy).observer is False  # older config.json files
    for bad in ("yes", 1, None):
        with pytest.raises(HomeError) as err:
            NodeConfig.from_json({**plain.to_json(), "observer": bad})
        assert err.value.code == "bad_config" and "observer" in err.value.message


def test_authorise_admits_validators_peers_and_enrolled_observers_only(tmp_path: Path) -> None:
    genesis = genesis_with_observer()
    store = Store(tmp_path / "data")
    try:
        config = NodeConfig(chain_id=genesis.chain_id, moniker="node0",
                            peers=(f"{PEER.public_key_hex}@127.0.0.1:1",))
        rt = NodeRuntime(config=config, genesis=genesis, key=validator_key(0), store=store,
                         state_dir=tmp_path / "consensus")
        assert rt.authorise(validator_key(3).public_key_hex)
        assert rt.authorise(PEER.public_key_hex)
        assert rt.authorise(OBSERVER.public_key_hex)
        assert not rt.authorise(OUTSIDER.public_key_hex)
        assert not rt.authorise("not a key")

        def local(key):  # type: ignore[no-untyped-def]
            return LocalIdentity(key=key, chain_id=genesis.chain_id,
                                 genesis_hash=genesis.hash, listen="", moniker="t")

        server, client = run(pair(local(validator_key(0)), local(OBSERVER),
                                  server_authorise=rt.authorise))
        assert isinstance(server, PeerIdentity) and server.pub_key == OBSERVER.public_key_hex
        server, client = run(pair(local(validator_key(0)), local(OUTSIDER),
                                  server_authorise=rt.authorise))
        assert isinstance(server, HandshakeError) and server.code == "unknown_peer"
        assert "enrolled observer" in server.message
        assert isinstance(client, HandshakeError) and client.code == "refused_by_peer"
    finally:
        store.close()


def test_an_observer_runtime_signs_nothing_and_sends_no_consensus_frame(tmp_path: Path) -> None:
    genesis = genesis_with_observer()
    store = Store(tmp_path / "data")
    try:
        config = NodeConfig(chain_id=genesis.chain_id, moniker="obs", observer=True,
                            p2p_port=0)
        rt = NodeRuntime(config=config, genesis=genesis, key=OBSERVER, store=store,
                         state_dir=tmp_path / "consensus")
        assert rt.driver.key is None and rt.driver.core.public_key is None
        assert rt.status_extra()["observer"] is True
        sent: list[object] = []
        assert rt.peers is not None
        rt.peers.broadcast = lambda *a, **k: sent.append(a) or 0  # type: ignore[method-assign]
        assert rt.driver.network is not None
        rt.driver.network.broadcast_consensus(1, b"vote")
        assert sent == []
        assert 'fcl_messages_dropped_total{reason="observer_consensus_send"} 1' in (
            rt.registry.render())
    finally:
        store.close()


def test_an_observer_with_a_validator_key_refuses_to_start(tmp_path: Path) -> None:
    genesis = genesis_with_observer()
    store = Store(tmp_path / "data")
    try:
        with pytest.raises(HomeError) as err:
            NodeRuntime(config=NodeConfig(chain_id=genesis.chain_id, moniker="o",
                                          observer=True),
                        genesis=genesis, key=validator_key(2), store=store,
                        state_dir=tmp_path / "consensus")
        assert err.value.code == "observer_is_validator"
        assert "observer: true" in err.value.message
    finally:
        store.close()
