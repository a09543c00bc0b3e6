"""rtcstream.relay.peer_connection: a peer connection whose ICE gathering a cancellation does not cut short,
so that every socket it binds closes with it (the server's, and the Python client's); and a gathering that
waited for a STUN or TURN server that never answered is logged."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Iterator

import aioice
import pytest

from rtcstream.operations.throttle import Throttle
from rtcstream.relay import peer_connection
from rtcstream.relay.ice_servers import ice_configuration
from rtcstream.relay.peer_connection import PeerConnection
from tests.lifecycle import open_udp_sockets, udp_sockets_bound_since


async def test_a_cancelled_offer_stops_its_caller_at_once_and_its_sockets_close_with_the_connection(
    many_host_addresses,
):
    addresses = many_host_addresses
    before = open_udp_sockets()
    pc = PeerConnection(ice_configuration([]))  # no STUN server: host candidates only, as the demo's
    pc.addTransceiver("audio")
    offering = asyncio.ensure_future(pc.setLocalDescription(await pc.createOffer()))
    bound = await udp_sockets_bound_since(before, 2)
    offering.cancel()
    with pytest.raises(asyncio.CancelledError):
        await offering
    assert 2 <= len(bound) < addresses, f"cancelled with {len(bound)} of {addresses} sockets bound, not halfway"
    await pc.close()
    assert open_udp_sockets() - before == set()
    assert pc.connectionState == "closed"


async def test_an_offer_that_is_not_cancelled_gathers_every_address_and_closes_them(many_host_addresses):
    addresses = many_host_addresses
    before = open_udp_sockets()
    pc = PeerConnection(ice_configuration([]))  # no STUN server: host candidates only, as the demo's
    pc.addTransceiver("audio")
    await pc.setLocalDescription(await pc.createOffer())
    assert len(open_udp_sockets() - before) == addresses
    assert pc.localDescription.sdp.count("typ host") == addresses
    await pc.close()
    assert open_udp_sockets() - before == set()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A UDP port on loopback that takes whatever it is sent and never answers (a firewall that drops it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.fixture
def slow_gatherings(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """aioice waits 1 s for STUN and TURN servers (5 s otherwise), a gathering is slow past 0.5 s, and this
    test's process has warned of none yet. Returns the log of rtcstream.relay."""
    monkeypatch.setattr(aioice.Connection.get_component_candidates, "__defaults__", (1,))
    monkeypatch.setattr(peer_connection, "SLOW_GATHERING", 0.5)
    monkeypatch.setattr(peer_connection, "slow_gathering_warnings", Throttle(peer_connection.SLOW_GATHERING_LOG_EVERY))
    caplog.set_level(logging.WARNING, "rtcstream.relay")
    return caplog


async def gather(servers: list[dict[str, str]], policy: str = "all") -> float:
    """Gather an offer's candidates with ``servers``; return how long it took."""
    pc = PeerConnection(ice_configuration(servers, policy))
    pc.addTransceiver("audio")
    started = time.monotonic()
    try:
        await pc.setLocalDescription(await pc.createOffer())
        return time.monotonic() - started
    finally:
        await pc.close()


async def test_a_gathering_that_waited_for_silent_ice_servers_names_them_once_in_a_while(slow_gatherings, silent_port):
    servers = [
        {"urls": f"stun:127.0.0.1:{silent_port}"},
        {"urls": f"turn:127.0.0.1:{silent_port}", "username": "u", "credential": "p"},
    ]
    assert await gather(servers) >= 1.0  # what each session's answer waited
    (record,) = slow_gatherings.records
    message = record.getMessage()
    assert f"the STUN server 127.0.0.1:{silent_port} gave no address" in message, message
    assert f"the TURN server 127.0.0.1:{silent_port} gave no relay address" in message, message
    await gather(servers)
    assert len(slow_gatherings.records) == 1  # not one warning a session


async def test_a_relay_only_gathering_names_its_turn_server_alone(slow_gatherings, silent_port):
    servers = [
        {"urls": f"stun:127.0.0.1:{silent_port}"},
        {"urls": f"turn:127.0.0.1:{silent_port}", "username": "u", "credential": "p"},
    ]
    await gather(servers, "relay")
    (record,) = slow_gatherings.records
    assert "the TURN server" in record.getMessage() and "the STUN server" not in record.getMessage()


async def test_a_gathering_with_no_ice_server_is_quick_and_quiet(slow_gatherings):
    await gather([])
    assert slow_gatherings.records == []
