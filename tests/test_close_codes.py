"""Every close code rtcstream sends is one daphne lets through, the widget has words for it,
docs/protocol.md lists it, and a real daphne delivers each to a client."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import websockets

from rtcstream.client import ArrayAudioTrack, RtcClient, RtcError
from rtcstream.reasons import Refusal
from rtcstream.signalling import last_word
from rtcstream.signalling.close_codes import CloseCode, sendable
from tests.daphne import serve
from tests.handlers import tone
from tests.refusals import refusal_code, socket_refusal

ROOT = Path(__file__).resolve().parent.parent


def test_every_code_is_one_an_application_may_send():
    assert all(sendable(code) for code in CloseCode)
    assert not sendable(1011) and not sendable(1006)


def test_the_widget_and_the_protocol_doc_know_every_refusal():
    messages = (ROOT / "rtcstream" / "static" / "rtcstream" / "messages.js").read_text()
    table = messages[messages.index("export const CLOSE_CODES") :]
    table = table[: table.index("};")]
    assert {int(code) for code in re.findall(r"^\s+(\d{4}):", table, re.M)} == set(CloseCode) - {CloseCode.NORMAL}
    protocol = (ROOT / "docs" / "protocol.md").read_text()
    assert {int(code) for code in re.findall(r"^\| `(\d{4})` \|", protocol, re.M)} == set(CloseCode)


async def close_code(url: str, path: str, *, host: str | None = None, linger: float = 5.0) -> int | None:
    """Open ``path`` on daphne at ``url``; return the code the server refuses or closes it with (None: kept open)."""
    address = urlsplit(url)
    # The URL names the Host header; the connection itself goes to daphne's address.
    ws_url = f"ws://{host or address.netloc}{path}"
    connect = websockets.connect(ws_url, origin=websockets.Origin(url), host=address.hostname, port=address.port)
    async with connect as socket:
        return await socket_refusal(socket, linger)


async def test_a_refused_client_that_does_not_hang_up_is_closed_with_the_code(daphne_server):
    """The refusal waits for the client to hang up (what a busy browser reads late is not lost to
    a reset), but not for ever: after the grace, the server closes with the same code."""
    ws_url = daphne_server.replace("http", "ws", 1) + "/ws/rtcstream/no-such-endpoint/"
    async with websockets.connect(ws_url, origin=websockets.Origin(daphne_server)) as socket:
        refused_at = time.monotonic()
        assert refusal_code(await socket.recv()) == CloseCode.NOT_FOUND
        with pytest.raises(websockets.ConnectionClosed) as closed:
            async with asyncio.timeout(last_word.GRACE + 5):
                await socket.recv()
        waited = time.monotonic() - refused_at
    assert closed.value.rcvd is not None and closed.value.rcvd.code == CloseCode.NOT_FOUND
    assert last_word.GRACE - 0.5 <= waited  # it waited for the client first


async def test_daphne_delivers_the_codes_of_the_shared_test_server(daphne_server, fresh_address):
    assert await close_code(daphne_server, "/ws/rtcstream/t-echo/", host="evil.example:80") == CloseCode.BAD_HOST
    assert await close_code(daphne_server, "/ws/rtcstream/no-such-endpoint/") == CloseCode.NOT_FOUND
    assert await close_code(daphne_server, "/ws/rtcstream/a/b/c/") == CloseCode.NOT_FOUND
    assert await close_code(daphne_server, "/ws/rtcstream/outputs/forged:token/") == CloseCode.FORBIDDEN
    async with await RtcClient.connect(daphne_server, "t-echo", local_address=fresh_address) as client:
        outputs = client.session["outputs"]
        await client.start(audio=ArrayAudioTrack(tone(440, 2, 48000)))
        await client.wait_for_event("connected")
        assert (await client.stop())["reason"] == "client_stop"
        await client.wait_until(lambda: client.signalling.close_code is not None)
        assert client.signalling.close_code == CloseCode.NORMAL
    assert await close_code(daphne_server, outputs) == CloseCode.GONE  # the token of an ended session


async def test_a_client_that_reads_late_still_gets_its_last_word_and_hangs_up_itself(daphne_server):
    """A busy client: it asks to stop, then reads nothing for 2 s (twice daphne's fixed 1 s close handshake)
    while it goes on sending. The session's `closed` waits for it, and the close is the client's. (When the
    server closed right after `closed`, daphne aborted the connection after 1 s, the client's next send met
    the reset, and `closed` was lost unread: a flooding client in CI, and Firefox's "interrupted" errors.)"""
    ws_url = daphne_server.replace("http", "ws", 1) + "/ws/rtcstream/t-echo/"
    messages = []
    async with websockets.connect(ws_url, origin=websockets.Origin(daphne_server)) as socket:
        assert json.loads(await socket.recv())["type"] == "session"
        socket.transport.pause_reading()  # what arrives stays in the kernel's buffer, unread
        try:
            await socket.send(json.dumps({"type": "stop"}))
            busy_until = time.monotonic() + 2.0
            while time.monotonic() < busy_until:
                await socket.send(json.dumps({"type": "ping"}))  # 10 a second: within the message budget
                await asyncio.sleep(0.1)
        except websockets.ConnectionClosed:
            pass  # the reset: the assertions below say what was lost
        finally:
            socket.transport.resume_reading()
        try:
            async with asyncio.timeout(10):
                while (message := json.loads(await socket.recv()))["type"] != "closed":
                    messages.append(message)
                messages.append(message)
        except websockets.ConnectionClosed:
            pass
        assert messages and messages[-1] == {
            "type": "closed",
            "reason": "client_stop",
            "message": "Stopped by the client.",
        }
        await socket.close()
    assert socket.protocol.close_rcvd_then_sent is False  # the close is ours, and the server answered it
    assert socket.close_code == CloseCode.NORMAL


@pytest.fixture(scope="module")
def limited_server() -> Iterator[str]:
    """A daphne carrying at most 1 stream and holding at most 4 sockets."""
    env = {"RTCSTREAM_TEST_MAX_SESSIONS": "1", "RTCSTREAM_TEST_MAX_SOCKETS": "4"}
    with serve("tests.settings_limits", "daphne-limits", env=env) as (url, _process):
        yield url


async def test_daphne_delivers_the_process_limits_and_a_failed_connect(limited_server):
    """A stream counts against MAX_SESSIONS from its offer: sockets that never offer do not lock the
    process (32 of them from each of 8 addresses once did), and one opened before the limit was
    reached is refused at its offer, with the socket kept for a retry once a stream has ended."""
    assert await close_code(limited_server, "/ws/rtcstream/t-broken/") == CloseCode.SERVER_ERROR
    async with (
        await RtcClient.connect(limited_server, "t-echo") as waiting,
        await RtcClient.connect(limited_server, "t-echo") as streaming,  # two idle sockets: no stream yet
    ):
        await streaming.start(audio=ArrayAudioTrack(tone(440, 30, 48000)))  # the one stream, and its outputs
        await streaming.wait_for_event("connected")
        assert await close_code(limited_server, "/ws/rtcstream/t-echo/") == CloseCode.TOO_MANY_SESSIONS
        with pytest.raises(RtcError) as refused:
            await waiting.start(audio=ArrayAudioTrack(tone(440, 30, 48000)))  # opens its outputs: 4 sockets
        assert refused.value.code == Refusal.SERVER_BUSY
        assert await close_code(limited_server, "/ws/rtcstream/t-echo/") == CloseCode.TOO_MANY_SOCKETS
        assert (await streaming.stop())["reason"] == "client_stop"  # its stream is over once it says so
        await waiting.start(audio=ArrayAudioTrack(tone(440, 30, 48000)))  # the same socket, again
        await waiting.wait_for_event("connected")
        await waiting.wait_for_audio(0.5)


async def test_daphne_without_a_channel_layer_says_so():
    with serve("tests.settings_limits", "daphne-no-layer", env={"RTCSTREAM_TEST_NO_LAYER": "1"}) as (url, _process):
        assert await close_code(url, "/ws/rtcstream/t-echo/") == CloseCode.NO_CHANNEL_LAYER
