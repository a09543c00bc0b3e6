"""The socket caps: per client (an address, an IPv6 /64, or a user) and per process, each with
its own close code; a thousand addresses against a real daphne."""

from __future__ import annotations

import asyncio
import contextlib
import json

import psutil
import pytest
import websockets
from channels.testing import WebsocketCommunicator

from rtcstream.admission.client_identity import client_network
from rtcstream.client import RtcClient
from rtcstream.signalling.close_codes import CloseCode
from tests.daphne import serve
from tests.refusals import communicator_refusal, socket_refusal

pytestmark = [pytest.mark.django_db(transaction=True)]

ORIGIN = (b"origin", b"http://testserver")


def test_ipv6_clients_are_counted_by_network_and_ipv4_by_address(settings):
    assert client_network("2001:db8:1:2:aaaa::1") == client_network("2001:db8:1:2:bbbb::9") == "2001:db8:1:2::/64"
    assert client_network("2001:db8:1:3::1") == "2001:db8:1:3::/64"
    assert client_network("192.0.2.7") == "192.0.2.7" == client_network("::ffff:192.0.2.7")
    settings.RTCSTREAM = {**settings.RTCSTREAM, "CLIENT_IPV6_PREFIX": 48, "CLIENT_IPV4_PREFIX": 24}
    assert client_network("2001:db8:1:3::1") == "2001:db8:1::/48"
    assert client_network("192.0.2.7") == "192.0.2.0/24"


async def refusal_from(app, path: str, address: str) -> int | None:
    """Connect from ``address``; return the code the server refuses it with, or None if it keeps the socket."""
    communicator = WebsocketCommunicator(app, path, headers=[ORIGIN])
    communicator.scope["client"] = (address, 50000)
    return await communicator_refusal(communicator, quiet=0.3)


async def test_one_ipv6_network_holds_one_clients_share_another_network_is_not_affected(asgi_app, settings):
    settings.RTCSTREAM = {**settings.RTCSTREAM, "MAX_SOCKETS_PER_CLIENT": 3}
    held = []
    try:
        for host in ("2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff::3"):  # one /64, three addresses
            communicator = WebsocketCommunicator(asgi_app, "/ws/rtcstream/t-echo/", headers=[ORIGIN])
            communicator.scope["client"] = (host, 50000)
            assert (await communicator.connect(timeout=5))[0]
            assert (await communicator.receive_json_from(timeout=5))["type"] == "session"
            held.append(communicator)
        refused = await refusal_from(asgi_app, "/ws/rtcstream/t-echo/", "2001:db8:1:2:9999::4")
        assert refused == CloseCode.TOO_MANY_FROM_CLIENT
        assert await refusal_from(asgi_app, "/ws/rtcstream/t-echo/", "2001:db8:1:3::1") is None  # the next /64
    finally:
        for communicator in held:
            await communicator.disconnect()


async def test_a_thousand_addresses_fill_the_process_socket_limit_and_no_more():
    limit = 600
    env = {"RTCSTREAM_TEST_MAX_SOCKETS": str(limit), "RTCSTREAM_TEST_MAX_SESSIONS": "1000"}
    with serve("tests.settings_limits", "daphne-thousand", env=env) as (url, process):
        server = psutil.Process(process.pid)
        owner = await RtcClient.connect(url, "t-echo", local_address="127.0.5.1")  # a live session, 1 socket
        path = owner.session["outputs"]  # its outputs socket stays open once accepted: anyone may hold one here
        ws_url, origin = url.replace("http", "ws", 1) + path, websockets.Origin(url)
        rss_before = server.memory_info().rss
        sockets, refused = [], []
        async with contextlib.AsyncExitStack() as stack:

            async def open_from(n: int) -> None:
                address = f"127.{6 + n // 250}.{n % 250 + 1}.1"
                socket = await stack.enter_async_context(
                    websockets.connect(ws_url, origin=origin, local_addr=(address, 0), open_timeout=30)
                )
                code = await socket_refusal(socket, 1.0 if len(sockets) < limit - 1 else 3.0)
                if code is None:
                    sockets.append(socket)  # accepted and quiet: an outputs socket
                else:
                    refused.append(code)

            for start in range(0, 1000, 50):  # fifty at a time
                await asyncio.gather(*(open_from(n) for n in range(start, start + 50)))
            rss_after = server.memory_info().rss
            per_socket = (rss_after - rss_before) / len(sockets)
            print(f"{len(sockets)} sockets held, {len(refused)} refused; {per_socket / 1024:.0f} KiB of RSS each")
            assert len(sockets) == limit - 1  # with the session's own signalling socket: the limit
            assert refused == [CloseCode.TOO_MANY_SOCKETS] * (1000 - len(sockets))
            assert per_socket < 200 * 1024
        await owner.close()
        # The sockets are given back: a new session opens.
        async with await RtcClient.connect(url, "t-echo", local_address="127.5.0.9") as again:
            assert again.session["endpoint"] == "t-echo"


async def test_an_outputs_socket_only_sends_and_stays_open_whatever_a_client_writes(asgi_app):
    """An outputs socket only sends: whatever a client writes gets a coded error, and it stays open."""
    async with await RtcClient.connect(asgi_app, "t-echo") as client:
        communicator = WebsocketCommunicator(asgi_app, client.session["outputs"], headers=[ORIGIN])
        communicator.scope["client"] = ("127.0.0.1", 50001)
        assert (await communicator.connect(timeout=5))[0]
        await communicator.send_to(text_data=json.dumps({"type": "offer"}))
        assert (await communicator.receive_json_from(timeout=5))["code"] == "unknown_type"
        await communicator.disconnect()
