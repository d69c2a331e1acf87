"""The peer wire: framing, the authenticated handshake and its refusals, and a node's
frame handling under malformed and oversize input."""

from __future__ import annotations

import asyncio
import json
import struct
from pathlib import Path

import pytest

from ledger.crypto import PrivateKey
from ledger.encoding import canonical
from ledger.store import Store
from node.home import NodeConfig
from node.net.framing import (
    FrameTooLarge,
    FrameType,
    OversizeFrame,
    consensus_payload,
    encode_frame,
    read_frame,
    split_consensus_payload,
)
from node.net.handshake import HandshakeError, LocalIdentity, auth_bytes, handshake
from node.runtime import NodeRuntime
from tests.support.common import det_key
from tests.support.network import free_port, make_genesis, notary, run, validator_key

GENESIS = make_genesis(4)


def identity(key: PrivateKey, chain_id: str = GENESIS.chain_id,
             genesis_hash: str = GENESIS.hash, listen: str = "") -> LocalIdentity:
    return LocalIdentity(key=key, chain_id=chain_id, genesis_hash=genesis_hash, listen=listen,
                         moniker="t")


def reader_of(data: bytes) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    return reader


# -- framing --------------------------------------------------------------------------------


def test_frames_round_trip_and_oversize_frames_are_refused_at_their_length() -> None:
    async def scenario() -> None:
        limit = 1024
        data = (encode_frame(FrameType.STATUS, b'{"a":1}', limit)
                + struct.pack(">I", 0)                            # empty frame
                + encode_frame(FrameType.TXS, b"[]", limit))
        reader = reader_of(data)
        assert await read_frame(reader, limit) == (FrameType.STATUS, b'{"a":1}')
        assert await read_frame(reader, limit) == (0, b"")
        assert await read_frame(reader, limit) == (FrameType.TXS, b"[]")
        with pytest.raises(asyncio.IncompleteReadError):
            await read_frame(reader, limit)
        truncated = reader_of(struct.pack(">I", 500) + b"x" * 10)
        with pytest.raises(asyncio.IncompleteReadError):
            await read_frame(truncated, limit)
        # a 4 GiB announcement is refused at its prefix: not one byte of the body is read
        body = b"x" * 5000
        huge = reader_of(struct.pack(">I", 2**32 - 1) + body)
        with pytest.raises(OversizeFrame) as err:
            await read_frame(huge, limit)
        assert (err.value.length, err.value.limit) == (2**32 - 1, limit)
        assert await huge.read() == body

    run(scenario())
    with pytest.raises(FrameTooLarge):
        encode_frame(FrameType.TXS, b"x" * 1024, 1024)
    payload = consensus_payload(7, b"msg")
    assert split_consensus_payload(payload) == (7, b"msg")
    assert split_consensus_payload(b"\x00\x01") is None


# -- handshake ------------------------------------------------------------------------------


async def pair(server_local: LocalIdentity, client_local: LocalIdentity, *,
               server_authorise=lambda k: True, client_authorise=lambda k: True,
               expected_key: str | None = None, client_timeout: float = 5.0):
    """Run a handshake between a server and a client; return both outcomes (identity or
    the HandshakeError)."""
    done: asyncio.Future = asyncio.get_running_loop().create_future()

    async def on_conn(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            result = await handshake(reader, writer, server_local, initiator=False,
                                     authorise=server_authorise, timeout_s=2)
        except HandshakeError as exc:
            result = exc
        writer.close()
        if not done.done():
            done.set_result(result)

    server = await asyncio.start_server(on_conn, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        client = await handshake(reader, writer, client_local, initiator=True,
                                 authorise=client_authorise, expected_key=expected_key,
                                 timeout_s=client_timeout)
    except HandshakeError as exc:
        client = exc
    writer.close()
    server_result = await asyncio.wait_for(done, 5)
    server.close()
    return server_result, client


def test_handshake_authenticates_both_keys() -> None:
    a, b = validator_key(0), validator_key(1)
    server, client = run(pair(identity(a, listen="127.0.0.1:1"), identity(b),
                              expected_key=a.public_key_hex))
    assert server.pub_key == b.public_key_hex and server.initiator is True
    assert client.pub_key == a.public_key_hex and client.listen == "127.0.0.1:1"


def test_handshake_refuses_a_key_that_is_not_a_validator_or_peer() -> None:
    outsider = det_key("outsider")
    validators = {validator_key(i).public_key_hex for i in range(4)}
    server, client = run(pair(identity(validator_key(0)), identity(outsider),
                              server_authorise=lambda k: k in validators))
    assert isinstance(server, HandshakeError) and server.code == "unknown_peer"
    assert isinstance(client, HandshakeError) and client.code == "refused_by_peer"
    assert "unknown_peer" in client.message


@pytest.mark.parametrize(
    ("client_local", "code"),
    [
        (identity(validator_key(1), chain_id="another-chain"), "wrong_chain"),
        (identity(validator_key(1), genesis_hash="ab" * 32), "wrong_genesis"),
        (identity(validator_key(0)), "self_connection"),
    ],
)
def test_handshake_refuses_another_network_or_itself(client_local, code) -> None:
    server, client = run(pair(identity(validator_key(0)), client_local))
    assert isinstance(server, HandshakeError) and server.code == code
    assert isinstance(client, HandshakeError)


def test_dialler_refuses_a_peer_with_another_key_than_dialled() -> None:
    server, client = run(pair(identity(validator_key(0)), identity(validator_key(1)),
                              expected_key=validator_key(2).public_key_hex))
    assert isinstance(client, HandshakeError) and client.code == "unexpected_key"
    assert isinstance(server, HandshakeError) and server.code == "refused_by_peer"


def test_a_claimed_key_without_its_private_key_is_refused() -> None:
    """A client announces validator 1's key but signs AUTH with another key."""

    async def scenario():
        done: asyncio.Future = asyncio.get_running_loop().create_future()
        server_local = identity(validator_key(0))

        async def on_conn(reader, writer) -> None:
            try:
                await handshake(reader, writer, server_local, initiator=False,
                                authorise=lambda k: True, timeout_s=2)
            except HandshakeError as exc:
                done.set_result(exc)
            writer.close()

        server = await asyncio.start_server(on_conn, "127.0.0.1", 0)
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", server.sockets[0].getsockname()[1])
        claimed = validator_key(1).public_key_hex
        nonce = "11" * 32
        writer.write(encode_frame(FrameType.HELLO, canonical({
            "chain_id": GENESIS.chain_id, "genesis_hash": GENESIS.hash, "listen": "",
            "moniker": "liar", "node_key": claimed, "nonce": nonce, "version": 1}), 4096))
        kind, payload = await read_frame(reader, 4096)
        assert kind == FrameType.HELLO
        their = json.loads(payload)["nonce"]
        forged = det_key("forger").sign_hex(auth_bytes(
            chain_id=GENESIS.chain_id, genesis_hash=GENESIS.hash, initiator_nonce=nonce,
            responder_nonce=their, role="initiator", signer=claimed, listen=""))
        writer.write(encode_frame(FrameType.AUTH, canonical({"signature": forged}), 4096))
        result = await asyncio.wait_for(done, 5)
        server.close()
        writer.close()
        return result

    result = run(scenario())
    assert isinstance(result, HandshakeError) and result.code == "bad_signature"


def test_a_silent_client_times_out_and_garbage_is_malformed() -> None:
    async def scenario():
        outcomes: list[HandshakeError] = []

        async def on_conn(reader, writer) -> None:
            try:
                await handshake(reader, writer, identity(validator_key(0)), initiator=False,
                                authorise=lambda k: True, timeout_s=0.5)
            except HandshakeError as exc:
                outcomes.append(exc)
            writer.close()

        server = await asyncio.start_server(on_conn, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        _, silent = await asyncio.open_connection("127.0.0.1", port)
        _, garbage = await asyncio.open_connection("127.0.0.1", port)
        garbage.write(encode_frame(FrameType.HELLO, b"not json", 4096))
        await asyncio.sleep(1.0)
        silent.close()
        garbage.close()
        server.close()
        return sorted(e.code for e in outcomes)

    assert run(scenario()) == ["handshake_timeout", "malformed_handshake"]


def test_an_oversized_handshake_frame_is_refused_without_reading_it() -> None:
    """A client announcing a 2 GB HELLO is refused at the length prefix, at once (the
    node once read and discarded 2.1 GB in 4 s before refusing)."""
    async def scenario() -> tuple[list[str], bytes]:
        outcomes: list[str] = []

        async def on_conn(reader, writer) -> None:
            try:
                await handshake(reader, writer, identity(validator_key(0)), initiator=False,
                                authorise=lambda k: True, timeout_s=30)
            except HandshakeError as exc:
                outcomes.append(exc.code)
            writer.close()

        server = await asyncio.start_server(on_conn, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(struct.pack(">I", 2_000_000_000) + bytes([FrameType.HELLO]) + b"x" * 1000)
        await writer.drain()
        # the server refuses and closes long before its 30 s handshake timeout
        answer = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        server.close()
        return outcomes, answer

    outcomes, answer = run(scenario())
    assert outcomes == ["malformed_handshake"]
    assert len(answer) < 4096  # at most the server's own HELLO, then end of stream


@pytest.mark.parametrize("loop_factory", ["asyncio", "uvloop"])
def test_a_connection_closed_under_the_handshake_is_a_handshake_error(loop_factory) -> None:
    """uvloop (the nodes' loop) raises RuntimeError on a write to a closed transport; the
    handshake reports it as a lost connection, like the standard loop's silence."""
    import uvloop

    async def scenario() -> HandshakeError | None:
        server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", server.sockets[0].getsockname()[1])
        writer.close()
        await asyncio.sleep(0.05)  # the transport is now closed
        try:
            await handshake(reader, writer, identity(validator_key(0)), initiator=True,
                            authorise=lambda k: True, timeout_s=2)
        except HandshakeError as exc:
            return exc
        finally:
            server.close()
        return None

    factory = uvloop.new_event_loop if loop_factory == "uvloop" else asyncio.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        result = runner.run(asyncio.wait_for(scenario(), 10))
    assert isinstance(result, HandshakeError) and result.code == "connection_closed"


def test_the_dialler_survives_an_unexpected_error(monkeypatch) -> None:
    """An error no one planned for in one dial attempt is logged and counted; the dialler
    keeps trying and connects once the error is gone."""
    import node.net.p2p as p2p
    from node.home import PeerAddress
    from node.ops.metrics import Registry

    real = p2p.handshake
    calls = {"n": 0, "accepted": 0}

    async def flaky(*args, **kwargs):
        if kwargs["initiator"]:
            calls["n"] += 1
            if calls["n"] <= 2:
                raise RuntimeError("a bug in one attempt")
        else:
            calls["accepted"] += 1
            if calls["accepted"] == 1:
                raise RuntimeError("a bug on the accepting side")
        return await real(*args, **kwargs)

    monkeypatch.setattr(p2p, "handshake", flaky)

    def manager(i: int, peers: list, registry: Registry) -> p2p.PeerManager:
        counters = p2p.TransportCounters.register(
            registry, registry.counter("fcl_dropped_total", "dropped", "reason"))
        return p2p.PeerManager(
            local=identity(validator_key(i)), listen_host="127.0.0.1", listen_port=0,
            peers=peers, authorise=lambda k: True, on_frame=lambda *a: None,
            counters=counters)

    async def scenario() -> tuple[int, int, str, str]:
        registry, server_registry = Registry(), Registry()
        server = manager(0, [], server_registry)
        await server.start()
        address = PeerAddress(validator_key(0).public_key_hex, "127.0.0.1", server.listen_port)
        client = manager(1, [address], registry)
        await client.start()
        try:
            for _ in range(500):
                if client.peers:
                    break
                await asyncio.sleep(0.01)
            return len(client.peers), calls["n"], registry.render(), server_registry.render()
        finally:
            await client.stop()
            await server.stop()

    peers, attempts, metrics, server_metrics = run(scenario(), 60)
    assert peers == 1 and attempts == 3
    assert 'fcl_p2p_handshake_failures_total{reason="dial_error"} 2' in metrics, metrics
    assert 'fcl_p2p_handshake_failures_total{reason="accept_error"} 1' in server_metrics


def _manager(i: int, peers: list, registry, **limits):
    import node.net.p2p as p2p

    counters = p2p.TransportCounters.register(
        registry, registry.counter("fcl_dropped_total", "dropped", "reason"))
    return p2p.PeerManager(
        local=identity(validator_key(i)), listen_host="127.0.0.1", listen_port=0,
        peers=peers, authorise=lambda k: True, on_frame=lambda *a: None,
        counters=counters, **limits)


async def _stranger(port: int, source: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter,
                                                     bool]:
    """A connection from ``source`` that never authenticates; True if the node gave it a
    handshake slot (it sends its HELLO at once), False if it closed the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    try:
        first = await asyncio.wait_for(reader.read(1), 5)
    except (ConnectionError, TimeoutError):
        first = b""
    return reader, writer, first != b""


def test_handshake_slots_are_bounded_per_address_and_in_total_and_keep_peers_reachable() -> None:
    """Strangers that connect and never authenticate get at most
    ``max_handshakes_per_address`` slots per address and ``max_handshakes`` in all; a
    configured peer's address is not counted against the total, so it still connects while
    the slots are full. Slots are given back when those connections end."""
    from node.home import PeerAddress
    from node.ops.metrics import Registry

    async def scenario() -> tuple[list[bool], int, int, int, str]:
        registry = Registry()
        configured = PeerAddress(validator_key(1).public_key_hex, "127.0.0.1", free_port())
        server = _manager(0, [configured], registry, max_handshakes=3,
                          max_handshakes_per_address=2, handshake_timeout_s=30.0)
        await server.start()
        assert server.listen_port is not None
        held = []
        slots = []
        for source in ("127.0.0.2", "127.0.0.2", "127.0.0.2", "127.0.0.3", "127.0.0.4"):
            reader, writer, slot = await _stranger(server.listen_port, source)
            held.append(writer)
            slots.append(slot)
        address = PeerAddress(validator_key(0).public_key_hex, "127.0.0.1", server.listen_port)
        client = _manager(1, [address], Registry())
        await client.start()
        try:
            for _ in range(500):
                if server.peers:
                    break
                await asyncio.sleep(0.01)
            in_handshake = server.handshaking
            connected = len(server.peers)
            for writer in held:
                writer.close()
            for _ in range(500):
                if server.handshaking == 0:
                    break
                await asyncio.sleep(0.01)
            return slots, in_handshake, connected, server.handshaking, registry.render()
        finally:
            await client.stop()
            await server.stop()

    slots, in_handshake, connected, after, metrics = run(scenario(), 60)
    # 127.0.0.2: two slots, the third refused (per address); 127.0.0.3: the third slot in
    # all; 127.0.0.4: refused (all taken) -- and the configured peer still connects
    assert slots == [True, True, False, True, False]
    assert in_handshake == 3 and connected == 1 and after == 0
    assert 'fcl_p2p_handshake_failures_total{reason="too_many_from_address"} 1' in metrics
    assert 'fcl_p2p_handshake_failures_total{reason="too_many_handshakes"} 1' in metrics


def test_authenticated_peers_are_bounded_by_max_peers() -> None:
    from node.home import PeerAddress
    from node.ops.metrics import Registry

    async def scenario() -> tuple[int, str]:
        registry = Registry()
        server = _manager(0, [], registry, max_peers=1)
        await server.start()
        address = PeerAddress(validator_key(0).public_key_hex, "127.0.0.1", server.listen_port)
        clients = [_manager(i, [address], Registry()) for i in (1, 2)]
        for client in clients:
            await client.start()
        try:
            for _ in range(500):
                if server.peers and "too_many_peers" in registry.render():
                    break
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.2)
            return len(server.peers), registry.render()
        finally:
            for client in clients:
                await client.stop()
            await server.stop()

    peers, metrics = run(scenario(), 60)
    assert peers == 1
    assert 'fcl_p2p_handshake_failures_total{reason="too_many_peers"}' in metrics


# -- a node under bad frames ----------------------------------------------------------------


def test_malformed_and_oversize_frames_are_dropped_and_counted(tmp_path: Path) -> None:
    peer_key = det_key("configured-peer")

    async def scenario() -> dict[str, float]:
        port = free_port()
        config = NodeConfig(
            chain_id=GENESIS.chain_id, moniker="node0", p2p_port=port,
            peers=(f"{peer_key.public_key_hex}@127.0.0.1:{free_port()}",),
            max_frame_bytes=64 * 1024,
        )
        store = Store(tmp_path / "data")
        runtime = NodeRuntime(config=config, genesis=GENESIS, key=validator_key(0),
                              store=store, state_dir=tmp_path / "consensus")
        await runtime.start_network()
        task = asyncio.create_task(runtime.run())
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            await handshake(reader, writer, identity(peer_key), initiator=True,
                            authorise=lambda k: True,
                            expected_key=validator_key(0).public_key_hex)
            limit = 1 << 20
            frames = [
                encode_frame(99, b"{}", limit),                           # unknown type
                encode_frame(FrameType.HELLO, b"{}", limit),              # handshake is over
                encode_frame(FrameType.TXS, b"{not json", limit),         # malformed JSON
                encode_frame(FrameType.TXS, b'{"txs": 5}', limit),        # wrong shape
                encode_frame(FrameType.CONSENSUS, b"\x00\x01", limit),    # no height hint
                encode_frame(FrameType.CONSENSUS, consensus_payload(1, b"garbage"), limit),
                encode_frame(FrameType.GET_BLOCKS, b'{"from": 0}', limit),
                encode_frame(FrameType.STATUS, b'{"height": -1}', limit),
                encode_frame(FrameType.BLOCKS, b'{"blocks": [], "height": 9}', limit),
            ]
            for frame in frames:
                writer.write(frame)
            # the connection and its handler are still alive: it answers, and admits txs
            tx = notary(0, "after-garbage")
            body = b'{"txs":[' + canonical(tx.to_json()) + b"]}"
            writer.write(encode_frame(FrameType.TXS, body, limit))
            writer.write(encode_frame(FrameType.GET_STATUS, b"{}", limit))
            await writer.drain()
            while True:
                kind, payload = await asyncio.wait_for(read_frame(reader, limit), 10)
                if kind == FrameType.STATUS:
                    break
            assert json.loads(payload)["height"] == 0
            for _ in range(200):
                if tx.tx_id in runtime.mempool or store.get_tx_location(tx.tx_id):
                    break
                await asyncio.sleep(0.02)
            assert tx.tx_id in runtime.mempool or store.get_tx_location(tx.tx_id)
            for _ in range(200):  # the transaction starts height 1; early messages replay
                if runtime.driver.core.stats.get("malformed_message"):
                    break
                await asyncio.sleep(0.02)
            assert len(runtime.peers.peers) == 1
            # a frame over the 64 KiB limit: refused at its length, the connection closed
            writer.write(struct.pack(">I", 100 * 1024) + bytes([FrameType.TXS]) + b"x" * 1000)
            await writer.drain()
            while await asyncio.wait_for(reader.read(65536), 10):
                pass  # drain what the node still sent, up to its close
            for _ in range(200):
                if not runtime.peers.peers:
                    break
                await asyncio.sleep(0.02)
            assert not runtime.peers.peers
            text = runtime.registry.render()
            writer.close()
        finally:
            runtime.stop()
            await asyncio.wait_for(task, 20)
            store.close()
        counts: dict[str, float] = {}
        for line in text.splitlines():
            if line.startswith("fcl_messages_dropped_total{"):
                reason = line.split('reason="')[1].split('"')[0]
                counts[reason] = float(line.rsplit(" ", 1)[1])
        return counts

    counts = run(scenario())
    for reason in ("unexpected_frame_type", "malformed_txs_frame", "malformed_consensus_frame",
                   "malformed_message", "malformed_get_blocks", "malformed_status",
                   "oversize_frame", "unsolicited_blocks"):
        assert counts.get(reason, 0) >= 1, (reason, counts)
    assert counts["unexpected_frame_type"] == 2
