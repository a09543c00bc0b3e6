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
from django.conf import settings
from django.test import override_settings

from rtcstream.client import ArrayAudioTrack, RtcClient
from rtcstream.relay import silent_servers
from rtcstream.relay.ice_servers import ice_configuration
from rtcstream.relay.peer_connection import PeerConnection
from tests.handlers import tone
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
    test's process has left out no server and warned of none yet. Returns the log of rtcstream.relay."""
    monkeypatch.setattr(aioice.Connection.get_component_candidates, "__defaults__", (1,))
    monkeypatch.setattr(silent_servers, "SLOW_GATHERING", 0.5)
    monkeypatch.setattr(silent_servers, "process_servers", silent_servers.SilentServers())
    caplog.set_level(logging.WARNING, "rtcstream.relay")
    return caplog


async def gather(servers: list[dict[str, str]], policy: str = "all", skip_silent: bool = False) -> tuple[float, str]:
    """Gather an offer's candidates with ``servers``; return how long it took and the offer."""
    pc = PeerConnection(ice_configuration(servers, policy), skip_silent=skip_silent)
    pc.addTransceiver("audio")
    started = time.monotonic()
    try:
        await pc.setLocalDescription(await pc.createOffer())
        return time.monotonic() - started, pc.localDescription.sdp
    finally:
        await pc.close()


async def test_a_gathering_that_waited_for_silent_ice_servers_names_them_once_in_a_while(slow_gatherings, silent_port):
    servers = [
        {"urls": f"stun:127.0.0.1:{silent_port}"},
        {"urls": f"turn:127.0.0.1:{silent_port}", "username": "u", "credential": "p"},
    ]
    assert (await gather(servers))[0] >= 1.0  # what each session's answer waited
    (record,) = slow_gatherings.records
    message = record.getMessage()
    assert f"the STUN server 127.0.0.1:{silent_port} gave no address" in message, message
    assert f"the TURN server 127.0.0.1:{silent_port} gave no relay address" in message, message
    assert "leave it out" not in message  # the Python client tries every server it is given
    assert (await gather(servers))[0] >= 1.0
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


async def test_the_servers_gatherings_leave_a_silent_server_out_for_a_while_then_try_it_again(
    slow_gatherings, silent_port
):
    servers = [
        {"urls": f"stun:127.0.0.1:{silent_port}"},
        {"urls": f"turn:127.0.0.1:{silent_port}", "username": "u", "credential": "p"},
    ]
    waited, _ = await gather(servers, skip_silent=True)
    left_out_at = time.monotonic()
    assert waited >= 1.0
    assert "The next 60 s of sessions leave it out" in slow_gatherings.text
    quick, offer = await gather(servers, skip_silent=True)  # the same candidates, without the wait
    assert quick < 1.0 and " typ host" in offer
    configuration = ice_configuration(servers)
    assert silent_servers.process_servers.usable(configuration).iceServers == []
    later = left_out_at + silent_servers.SKIP_SECONDS + 0.1
    assert silent_servers.process_servers.usable(configuration, now=later) is configuration  # tried again


async def test_a_silent_stun_server_left_out_gives_way_to_the_next_one(slow_gatherings, silent_port):
    other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    other.bind(("127.0.0.1", 0))
    with other:
        second = other.getsockname()[1]
        servers = [{"urls": [f"stun:127.0.0.1:{silent_port}", f"stun:127.0.0.1:{second}"]}]
        await gather(servers, skip_silent=True)
        used = silent_servers.process_servers.usable(ice_configuration(servers))
        assert [s.urls for s in used.iceServers] == [[f"stun:127.0.0.1:{second}"]]
        assert (await gather(servers, skip_silent=True))[0] >= 1.0  # the second is asked (and is silent too)
        used = silent_servers.process_servers.usable(ice_configuration(servers))
        assert used.iceServers == []


@pytest.mark.django_db(transaction=True)
async def test_a_sites_sessions_wait_for_a_silent_stun_server_once_not_each_time(
    asgi_app, slow_gatherings, silent_port, monkeypatch
):
    monkeypatch.setattr(aioice.Connection.get_component_candidates, "__defaults__", (3,))  # 3 s: a clear margin
    stun = [{"urls": f"stun:127.0.0.1:{silent_port}"}]
    answered_in = []
    with override_settings(RTCSTREAM={**settings.RTCSTREAM, "ICE_SERVERS": stun}):
        for _ in range(2):
            async with await RtcClient.connect(asgi_app, "t-echo") as client:
                assert client.session["ice_servers"] == stun
                client.session["ice_servers"] = []  # the client's own gathering: host candidates, no wait
                started = time.monotonic()
                await client.start(audio=ArrayAudioTrack(tone(440, 10, 48000)))
                answered_in.append(time.monotonic() - started)
                await client.wait_for_audio(seconds=0.3)  # and the media flows: host candidates suffice here
    assert answered_in[0] >= 3.0 and answered_in[1] < 3.0, answered_in
    assert f"the STUN server 127.0.0.1:{silent_port} gave no address" in slow_gatherings.text
