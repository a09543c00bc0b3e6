"""rtcstream.relay.peer_connection: a peer connection whose ICE gathering a cancellation does not cut short,
so that every socket it binds closes with it (the server's, and the Python client's)."""

from __future__ import annotations

import asyncio

import pytest

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
