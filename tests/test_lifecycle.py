"""One lifecycle: whatever order offer, stop, close, terminate and shutdown arrive in,
a session releases its slot, heartbeat, per-client count, peer connection and tasks
exactly once, and at once (not by heartbeat expiry)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings as django_settings
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rtcstream.admission.backends import DatabaseAdmission
from rtcstream.client import ArrayAudioTrack, RtcClient
from rtcstream.models import StreamSession
from rtcstream.signalling.groups import session_group
from tests.handlers import tone
from tests.lifecycle import assert_nothing_left, open_udp_sockets, udp_sockets_bound_since
from tests.offers import audio_offer_sdp

pytestmark = [pytest.mark.django_db(transaction=True)]

ORIGIN = (b"origin", b"http://testserver")
# "At once": well under the 30 s heartbeat expiry that used to free a leaked slot,
# with room for a loaded machine (the check returns as soon as all is released).
AT_ONCE = 10.0


class SlowAdmission(DatabaseAdmission):
    """The database admission, with a database that takes ``delay`` seconds to answer:
    a wide window for a stop or a close to arrive while ``acquire`` runs in its thread."""

    delay = 0.0

    def acquire_sync(self, *args: Any) -> Any:
        time.sleep(self.delay)
        return super().acquire_sync(*args)


@pytest.fixture
def slow_admission() -> Iterator[type[SlowAdmission]]:
    with override_settings(
        RTCSTREAM={**django_settings.RTCSTREAM, "ADMISSION_BACKEND": "tests.test_lifecycle.SlowAdmission"}
    ):
        yield SlowAdmission
    SlowAdmission.delay = 0.0


@pytest.fixture
async def offer_sdp() -> str:
    return await audio_offer_sdp()


class Errors(logging.Handler):
    """Collects rtcstream's errors: a race must not end in InvalidTransition or a traceback."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def errors() -> Iterator[Errors]:
    handler = Errors()
    logger = logging.getLogger("rtcstream")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


class Socket:
    """A raw signalling socket, in process, with a peer address like a server's."""

    def __init__(self, app: Any, endpoint: str, port: int = 50000) -> None:
        self.communicator = WebsocketCommunicator(app, f"/ws/rtcstream/{endpoint}/", headers=[ORIGIN])
        self.communicator.scope["client"] = ("127.0.0.1", port)
        self.session: dict[str, Any] = {}
        self.gone = False

    async def open(self) -> Socket:
        connected, _ = await self.communicator.connect(timeout=5)
        assert connected
        self.session = await self.communicator.receive_json_from(timeout=5)
        return self

    async def send(self, message: dict[str, Any]) -> None:
        await self.communicator.send_to(text_data=json.dumps(message))

    async def messages_until_closed(self, timeout: float = 10) -> list[dict[str, Any]]:
        """Read until the session's `closed`, the socket's last word (the page then hangs up: ``finish``)."""
        received = []
        async with asyncio.timeout(timeout):
            while True:
                output = await self.communicator.receive_output(timeout=timeout)
                assert output["type"] != "websocket.close", "the server closed before its last word"
                received.append(json.loads(output["text"]))
                if received[-1]["type"] == "closed":
                    return received

    async def drop(self) -> None:
        """The page goes away: the socket closes without a goodbye."""
        if not self.gone:
            self.gone = True
            await self.communicator.send_input({"type": "websocket.disconnect", "code": 1001})

    async def finish(self) -> None:
        """Close if still open and wait until the consumer has ended."""
        await self.drop()
        await self.communicator.wait(timeout=10)


@pytest.fixture
async def sockets(asgi_app: Any) -> AsyncIterator[list[Socket]]:
    opened: list[Socket] = []
    yield opened
    for socket in opened:
        await socket.finish()


async def open_socket(app: Any, sockets: list[Socket], endpoint: str = "t-echo-one") -> Socket:
    socket = Socket(app, endpoint, port=50000 + len(sockets))
    sockets.append(socket)
    return await socket.open()


async def terminate(socket: Socket) -> None:
    await get_channel_layer().group_send(session_group(socket.session["session"]), {"type": "rtcstream.terminate"})


async def admitted_again(app: Any) -> None:
    """A new client gets the (single) slot at once and connects."""
    async with await RtcClient.connect(app, "t-echo-one") as client:
        await client.start(audio=ArrayAudioTrack(tone(440, 1, 48000)))
        await client.wait_for_event("connected")


async def test_offer_and_stop_in_one_write_leak_nothing(asgi_app, sockets, offer_sdp, slow_admission, errors):
    slow_admission.delay = 0.2  # the stop arrives while acquire is in its database thread
    for _ in range(3):
        socket = await open_socket(asgi_app, sockets)
        await socket.send({"type": "offer", "sdp": offer_sdp})
        await socket.send({"type": "stop"})
        messages = await socket.messages_until_closed()
        assert messages[-1]["type"] == "closed" and messages[-1]["reason"] == "client_stop"
        assert "answer" not in [m["type"] for m in messages]
        await socket.finish()
        await assert_nothing_left(timeout=AT_ONCE)
    rows = [row async for row in StreamSession.objects.values_list("state", "end_reason")]
    assert rows == [("ended", "client_stop")] * 3
    slow_admission.delay = 0.0
    await admitted_again(asgi_app)
    assert errors.records == []


@pytest.mark.parametrize("ending", ["stop", "close", "terminate"])
async def test_an_offer_answered_then_ended_at_once_frees_the_slot_at_once(
    asgi_app, sockets, offer_sdp, errors, ending
):
    socket = await open_socket(asgi_app, sockets)
    await socket.send({"type": "offer", "sdp": offer_sdp})
    answer = await socket.communicator.receive_json_from(timeout=10)
    assert answer["type"] == "answer"
    assert await StreamSession.objects.filter(state="live").acount() == 1
    if ending == "stop":
        await socket.send({"type": "stop"})
    elif ending == "close":
        await socket.drop()
    else:
        await terminate(socket)
    if ending != "close":
        closed = (await socket.messages_until_closed())[-1]
        assert closed["type"] == "closed" and closed["reason"] == {"stop": "client_stop"}.get(ending, "terminated")
    await socket.finish()
    await assert_nothing_left(timeout=AT_ONCE)
    await admitted_again(asgi_app)
    assert errors.records == []


async def test_a_close_during_admission_gives_the_granted_slot_back(asgi_app, sockets, offer_sdp, slow_admission):
    slow_admission.delay = 0.3
    socket = await open_socket(asgi_app, sockets)
    await socket.send({"type": "offer", "sdp": offer_sdp})
    await asyncio.sleep(0.1)  # acquire is in its thread now
    await socket.drop()
    await assert_nothing_left(timeout=AT_ONCE)
    row = await StreamSession.objects.aget(session_id=socket.session["session"])
    assert (row.state, row.end_reason) == ("ended", "disconnected")


async def test_a_hang_up_while_the_answer_gathers_candidates_leaves_no_socket_open(
    asgi_app, sockets, offer_sdp, many_host_addresses, errors
):
    """A host with many addresses: aioice binds a socket for each, one after the other, while the server
    answers. The visitor hangs up halfway; every socket bound so far closes with the session (aioice 0.13
    leaks them when its gathering is cancelled: rtcstream.relay.peer_connection)."""
    addresses = many_host_addresses
    before = open_udp_sockets()
    socket = await open_socket(asgi_app, sockets)
    await socket.send({"type": "offer", "sdp": offer_sdp})
    bound = await udp_sockets_bound_since(before, 2)
    await socket.drop()
    assert 2 <= len(bound) < addresses, f"the hang-up came with {len(bound)} of {addresses} sockets bound, not halfway"
    await assert_nothing_left(timeout=AT_ONCE)
    left = open_udp_sockets() - before
    assert not left, f"{len(left)} UDP sockets left open by the session"
    row = await StreamSession.objects.aget(session_id=socket.session["session"])
    assert (row.state, row.end_reason) == ("ended", "disconnected")
    assert errors.records == []


async def test_a_stop_for_the_websocket_fallback_ends_the_session_as_fell_back(asgi_app, sockets, offer_sdp):
    """The widget hangs up a WebRTC session that did not connect to go on over the websocket: the
    ledger says so (``fell_back``), not that the visitor stopped; a stop with another reason is refused."""
    socket = await open_socket(asgi_app, sockets)
    await socket.send({"type": "offer", "sdp": offer_sdp})
    await socket.send({"type": "stop", "reason": "bored"})
    await socket.send({"type": "stop", "reason": "fallback"})
    messages = await socket.messages_until_closed()
    errors = [m for m in messages if m["type"] == "error"]
    assert [e["code"] for e in errors] == ["invalid_message"] and "fallback" in errors[0]["message"]
    assert [m["reason"] for m in messages if m["type"] == "closed"] == ["fell_back"]
    await socket.finish()
    await assert_nothing_left(timeout=AT_ONCE)
    row = await StreamSession.objects.aget(session_id=socket.session["session"])
    assert (row.state, row.end_reason) == ("ended", "fell_back")


async def test_server_shutdown_during_negotiation_ends_the_session(asgi_app, sockets, offer_sdp, slow_admission):
    """daphne cancels every application on shutdown, without a disconnect."""
    slow_admission.delay = 0.2
    socket = await open_socket(asgi_app, sockets)
    await socket.send({"type": "offer", "sdp": offer_sdp})
    await asyncio.sleep(0.05)
    socket.communicator.future.cancel()
    socket.gone = True
    await asyncio.wait([socket.communicator.future])
    await assert_nothing_left(timeout=AT_ONCE)
    row = await StreamSession.objects.aget(session_id=socket.session["session"])
    assert (row.state, row.end_reason) == ("ended", "server_shutdown")


ACTIONS = ["stop", "close", "terminate", "ping", "candidate", "audio"]
# A WebRTC offer, or audio over the websocket (docs/protocol.md, section 4): the lifecycle is one.
MEDIA_REQUEST = {"type": "media", "transport": "websocket", "codec": "pcm16", "rate": 16000}


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    admission_delay=st.sampled_from([0.0, 0.02, 0.1]),
    websocket_audio=st.booleans(),
    steps=st.lists(
        st.tuples(st.sampled_from([0.0, 0.0, 0.005, 0.03, 0.1]), st.sampled_from(ACTIONS)), min_size=1, max_size=4
    ),
)
async def test_any_interleaving_of_offer_stop_close_and_terminate_leaves_nothing(
    asgi_app, offer_sdp, slow_admission, errors, admission_delay, websocket_audio, steps
):
    slow_admission.delay = admission_delay
    socket = Socket(asgi_app, "t-echo-one")
    await socket.open()
    try:
        await socket.send(MEDIA_REQUEST if websocket_audio else {"type": "offer", "sdp": offer_sdp})
        for delay, action in steps:
            if delay:
                await asyncio.sleep(delay)
            if action == "stop":
                await socket.send({"type": "stop"})
            elif action == "close":
                await socket.drop()
                break
            elif action == "terminate":
                await terminate(socket)
            elif action == "ping":
                await socket.send({"type": "ping"})
            elif action == "audio":
                await socket.communicator.send_to(bytes_data=b"\x01\x00" * 320)
            else:
                await socket.send({"type": "candidate", "candidate": None})
    finally:
        await socket.finish()
    await assert_nothing_left(timeout=AT_ONCE)
    assert await StreamSession.objects.filter(state="live").acount() == 0
    assert [r.getMessage() for r in errors.records] == []
