"""Through daphne, however a session ends, its outputs socket gets what was queued, then
``end`` with the session's reason, then a close with 1000: none outlives its session.

(``media_error`` needs a fault injected into the server's media path: tests/test_output_tracks.py
does that in process, through the same close path. On ``server_shutdown`` daphne itself drops
its sockets.)"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
from collections.abc import Awaitable, Callable, Iterator

import pytest
import websockets

from rtcstream.client import ArrayAudioTrack, RtcClient
from rtcstream.signalling import last_word
from rtcstream.signalling.close_codes import CloseCode
from tests.daphne import OUTPUT, serve
from tests.handlers import tone
from tests.offers import audio_offer_sdp
from tests.workers import admin_terminate, create_admin


async def outputs_end(url: str, path: str, timeout: float = 10, hang_up: bool = True) -> tuple[list[dict], int | None]:
    """Read the outputs socket ``path`` until it closes: the page hangs up after `end`, as the widget does
    (``hang_up`` False: it never does, and the server closes it); return its messages and the close code."""
    messages = []
    async with websockets.connect(url.replace("http", "ws", 1) + path, origin=websockets.Origin(url)) as socket:
        try:
            async with asyncio.timeout(timeout):
                while True:
                    messages.append(json.loads(await socket.recv()))
                    if hang_up and messages[-1]["type"] == "end":
                        await socket.close()
        except websockets.ConnectionClosed as closed:
            return messages, closed.rcvd.code if closed.rcvd is not None else None
    raise AssertionError("unreachable")


async def stop(client: RtcClient) -> None:
    await client.stop()


async def drop_the_socket(client: RtcClient) -> None:
    await client.signalling.close()  # the case that left outputs sockets open: the page's signalling socket goes


async def wait(client: RtcClient) -> None:
    await client.wait_closed(timeout=10)


ENDINGS: dict[str, tuple[str, Callable[[RtcClient], Awaitable[None]]]] = {
    "client_stop": ("t-echo", stop),
    "disconnected": ("t-echo", drop_the_socket),
    "time_limit": ("t-echo-timed", wait),
    "handler_closed": ("t-closing", wait),
    "handler_error": ("t-failing", wait),
    "stream_ended": ("t-tones", wait),
}


@pytest.mark.parametrize("reason", list(ENDINGS))
async def test_the_outputs_socket_ends_with_its_session(daphne_server, fresh_address, reason):
    endpoint, end = ENDINGS[reason]
    client = await RtcClient.connect(daphne_server, endpoint, local_address=fresh_address)
    try:
        reading = asyncio.ensure_future(outputs_end(daphne_server, client.session["outputs"]))
        await client.start(audio=ArrayAudioTrack(tone(440, 10, 48000)), inputs=[2])
        await client.wait_for_event("connected")
        await end(client)
        messages, code = await reading
    finally:
        await client.close()
    assert messages[-1] == {"type": "end", "reason": reason}, messages
    assert code == CloseCode.NORMAL


async def test_an_outputs_socket_whose_page_never_hangs_up_is_closed_after_the_grace(daphne_server, fresh_address):
    """`end` is the socket's last word; a page that does not hang up after it is not kept for ever."""
    async with await RtcClient.connect(daphne_server, "t-echo", local_address=fresh_address) as client:
        reading = asyncio.ensure_future(
            outputs_end(daphne_server, client.session["outputs"], timeout=last_word.GRACE + 10, hang_up=False)
        )
        await client.start(audio=ArrayAudioTrack(tone(440, 10, 48000)))
        await client.wait_for_event("connected")
        await client.stop()
        messages, code = await reading
    assert messages[-1] == {"type": "end", "reason": "client_stop"}
    assert code == CloseCode.NORMAL


@pytest.fixture(scope="module")
def impatient_server() -> Iterator[str]:
    """A daphne that gives a session 2 s for its media to connect."""
    with serve("tests.settings_limits", "daphne-impatient", env={"RTCSTREAM_TEST_CONNECT_TIMEOUT": "2"}) as (url, _):
        yield url


async def test_the_outputs_socket_ends_when_the_media_never_connects(impatient_server):
    async with await RtcClient.connect(impatient_server, "t-echo") as client:
        reading = asyncio.ensure_future(outputs_end(impatient_server, client.session["outputs"]))
        await client.send({"type": "offer", "sdp": await audio_offer_sdp()})  # from a peer that is gone
        await client.wait_for_message("answer")
        messages, code = await reading
    assert messages[-1] == {"type": "end", "reason": "connection_failed"}, messages
    assert code == CloseCode.NORMAL


async def test_the_outputs_socket_ends_when_an_administrator_terminates_the_session(daphne_server, fresh_address):
    """Through the admin's own page, as staff would do it."""
    database = OUTPUT / "daphne.sqlite3"  # tests.daphne.serve gave the shared daphne this database
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "RTCSTREAM_TEST_DB": str(database)}
    await asyncio.to_thread(create_admin, env)
    client = await RtcClient.connect(daphne_server, "t-echo", local_address=fresh_address)
    try:
        reading = asyncio.ensure_future(outputs_end(daphne_server, client.session["outputs"], timeout=20))
        await client.start(audio=ArrayAudioTrack(tone(440, 20, 48000)))
        await client.wait_for_event("connected")
        with sqlite3.connect(database) as db:
            (row_id,) = db.execute(
                "SELECT id FROM rtcstream_streamsession WHERE session_id = ?", [client.session["session"]]
            ).fetchone()
        await asyncio.to_thread(admin_terminate, daphne_server, row_id)
        messages, code = await reading
    finally:
        await client.close()
    assert messages[-1] == {"type": "end", "reason": "terminated"}, messages
    assert code == CloseCode.NORMAL


@pytest.mark.django_db
async def test_an_end_for_a_client_that_has_just_hung_up_is_dropped_not_logged_as_a_failure(caplog):
    """The client closed its outputs socket while the session's ``end`` was on its way: daphne raises
    when the consumer sends to it (its disconnect is still queued). Nobody is left to tell; that is no error."""
    from autobahn.exception import Disconnected
    from channels.exceptions import StopConsumer

    from rtcstream.signalling.consumers import OutputsConsumer

    closes = []

    async def daphne_send(message: dict) -> None:
        if message["type"] == "websocket.send":
            raise Disconnected("Attempt to send on a closed protocol")
        closes.append(message)

    consumer = OutputsConsumer()
    consumer.base_send = daphne_send
    await consumer.dispatch({"type": "rtcstream.end", "reason": "client_stop"})
    with pytest.raises(StopConsumer):
        await consumer.dispatch({"type": "websocket.disconnect", "code": 1001})  # the queued disconnect
    assert closes == []  # the close waited for the client (``last_word``), which had gone
    assert consumer._closing is not None and consumer._closing.cancelled()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
