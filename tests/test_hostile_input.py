"""Regression tests for what an adversarial run found (issue 10): deep JSON, offers
without what DTLS and ICE need, out-of-range values, internal text in errors,
unknown paths, hosts that are not the site's."""

from __future__ import annotations

import asyncio
import logging
import re

import pytest
from aiortc import RTCPeerConnection
from channels.testing import WebsocketCommunicator

from rtcstream.admission import client_identity
from rtcstream.client import ArrayAudioTrack, RtcClient
from rtcstream.models import StreamSession
from rtcstream.runtime import get_runtime
from rtcstream.signalling import last_word, refusal
from tests.handlers import tone
from tests.lifecycle import assert_nothing_left
from tests.offers import audio_offer_sdp
from tests.refusals import communicator_refusal, refusal_code, socket_refusal

pytestmark = [pytest.mark.django_db(transaction=True)]

ORIGIN = (b"origin", b"http://testserver")
DEEP = '{"type":"ping","x":' + "[" * 2000 + "]" * 2000 + "}"


@pytest.fixture
async def offer_sdp() -> str:
    return await audio_offer_sdp()


async def test_deeply_nested_json_gets_a_coded_error_and_the_socket_lives(asgi_app):
    async with await RtcClient.connect(asgi_app, "t-echo") as client:
        for _ in range(12):  # more than the old cap of 8 sockets an address could leak this way
            await client.send_raw(DEEP)
        await client.wait_until(lambda: len([m for m in client.messages if m["type"] == "error"]) == 12)
        assert {m["code"] for m in client.messages if m["type"] == "error"} == {"invalid_json"}
        await client.send({"type": "ping"})
        await client.wait_for_message("pong")
        assert get_runtime().sockets.open_counts() == {"address:127.0.0.1": 1}
    # The asgi_app fixture then checks the count went back to zero.


def without(sdp: str, prefix: str) -> str:
    return "".join(line for line in sdp.splitlines(keepends=True) if not line.startswith(prefix))


BAD_OFFERS = {
    "no DTLS fingerprint": lambda sdp: without(sdp, "a=fingerprint:"),
    "no ICE ufrag": lambda sdp: without(sdp, "a=ice-ufrag:"),
    "no ICE password": lambda sdp: without(sdp, "a=ice-pwd:"),
    "m= port out of range": lambda sdp: re.sub(r"^m=audio \d+", "m=audio 999999", sdp, flags=re.M),
    "candidate port out of range": lambda sdp: re.sub(
        r"^(a=candidate:\S+ 1 udp \d+ \S+) \d+", r"\1 99999", sdp, count=1, flags=re.M
    ),
    "bad direction line": lambda sdp: sdp.replace("a=sendrecv", "a=sendrecvx"),
    "unparseable port": lambda sdp: re.sub(r"^m=audio \d+", "m=audio x", sdp, flags=re.M),
    "no media": lambda sdp: sdp[: sdp.index("m=")],
}


@pytest.mark.parametrize("kind", BAD_OFFERS)
async def test_an_offer_dtls_or_ice_could_not_use_is_refused_before_any_slot_is_held(asgi_app, offer_sdp, kind, caplog):
    bad = BAD_OFFERS[kind](offer_sdp)
    assert bad != offer_sdp
    async with await RtcClient.connect(asgi_app, "t-echo-one") as client:
        await client.send({"type": "offer", "sdp": bad})
        error = await client.wait_for_message("error")
        assert error["code"] == "bad_sdp"
        assert "Traceback" not in error["message"] and "Error" not in error["message"]
        assert not await StreamSession.objects.aexists()  # no slot was ever taken
        # The socket is still usable: a good offer is answered.
        await client.start(audio=ArrayAudioTrack(tone(440, 1, 48000)))
        await client.wait_for_event("connected")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


async def test_an_offer_refused_after_admission_stops_its_runner_and_frees_the_slot(asgi_app):
    """A video-only offer to an audio endpoint is refused while answering: after the slot was taken."""
    pc = RTCPeerConnection()
    pc.addTransceiver("video", direction="sendrecv")
    await pc.setLocalDescription(await pc.createOffer())
    try:
        async with await RtcClient.connect(asgi_app, "t-echo-one") as client:
            await client.send({"type": "offer", "sdp": pc.localDescription.sdp})
            error = await client.wait_for_message("error")
            assert error["code"] == "bad_sdp" and "sends audio" in error["message"]
            row = await StreamSession.objects.aget(session_id=client.session["session"])
            assert (row.state, row.end_reason) == ("ended", "bad_sdp")
            # The same socket may try again and gets the endpoint's only slot.
            await client.start(audio=ArrayAudioTrack(tone(440, 1, 48000)))
            await client.wait_for_event("connected")
    finally:
        await pc.close()


async def test_an_offer_aiortc_cannot_apply_gets_a_fixed_message(asgi_app, offer_sdp, caplog):
    # Parses, has all DTLS/ICE needs, but names a codec line aiortc refuses.
    bad = offer_sdp.replace("a=rtpmap:96 opus/48000/2", "a=rtpmap:96 opus/notarate/2")
    async with await RtcClient.connect(asgi_app, "t-echo") as client:
        await client.send({"type": "offer", "sdp": bad})
        error = await client.wait_for_message("error")
        assert error == {"type": "error", "code": "bad_sdp", "message": error["message"]}
        assert "notarate" not in error["message"] and "invalid literal" not in error["message"]


@pytest.mark.parametrize("path", ["/ws/rtcstream/os.system/", "/ws/rtcstream/a/b/", "/elsewhere/", "/ws/"])
async def test_unknown_paths_are_refused_with_4404_and_no_traceback(asgi_app, path, caplog):
    communicator = WebsocketCommunicator(asgi_app, path, headers=[ORIGIN])
    assert await communicator_refusal(communicator) == 4404  # accepted, then told a code a browser can read
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


@pytest.mark.parametrize(("host", "code"), [(b"evil.example", 4400), (b"testserver", None), (b"localhost:8000", None)])
async def test_the_host_header_must_name_the_site(asgi_app, host, code, settings):
    settings.ALLOWED_HOSTS = ["testserver", "localhost"]
    communicator = WebsocketCommunicator(asgi_app, "/ws/rtcstream/t-echo/", headers=[ORIGIN, (b"host", host)])
    assert await communicator_refusal(communicator) == code  # None: served (its first message is the session)


@pytest.mark.parametrize(
    ("path", "host", "code"),
    [("/ws/rtcstream/t-echo/", b"evil.example", 4400), ("/ws/rtcstream/no-such-endpoint/", b"testserver", 4404)],
    ids=["in-middleware", "in-a-consumer"],
)
async def test_a_refused_client_that_talks_on_and_never_hangs_up_is_closed_after_the_grace(
    asgi_app, monkeypatch, settings, path, host, code, caplog
):
    settings.ALLOWED_HOSTS = ["testserver"]
    monkeypatch.setattr(last_word, "GRACE", 0.5)
    communicator = WebsocketCommunicator(asgi_app, path, headers=[ORIGIN, (b"host", host)])
    assert (await communicator.connect(timeout=5))[0]
    assert refusal_code((await communicator.receive_output(timeout=5))["text"]) == code
    for frame in ('{"type": "offer", "sdp": "v=0"}', "[" * 100_000, '{"type": "ping"}'):
        await communicator.send_to(text_data=frame)  # dropped: no answer, no session, no traceback
    await communicator.send_to(bytes_data=b"\x00" * 640)
    assert await communicator.receive_output(timeout=5) == {"type": "websocket.close", "code": code}
    await communicator.disconnect()
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert get_runtime().sockets.open_counts() == {}


@pytest.mark.parametrize(
    ("path", "host", "code"),
    [("/ws/rtcstream/t-echo/", b"evil.example", 4400), ("/ws/rtcstream/no-such-endpoint/", b"testserver", 4404)],
    ids=["in-middleware", "in-a-consumer"],
)
async def test_refused_sockets_left_open_are_bounded_past_which_a_refusal_closes_at_once(
    asgi_app, monkeypatch, settings, path, host, code
):
    """A client that opens sockets in a loop and never hangs up holds at most MAX_WAITING refused ones."""
    settings.ALLOWED_HOSTS = ["testserver"]
    monkeypatch.setattr(refusal, "MAX_WAITING", 2)

    async def refused():
        communicator = WebsocketCommunicator(asgi_app, path, headers=[ORIGIN, (b"host", host)])
        assert (await communicator.connect(timeout=5))[0]
        return communicator, await communicator.receive_output(timeout=5)

    waiting = []
    for _ in range(2):
        communicator, first = await refused()
        assert refusal_code(first["text"]) == code  # told why, and left open for its client to hang up
        waiting.append(communicator)
    assert get_runtime().refusals_waiting == 2
    communicator, first = await refused()
    assert first == {"type": "websocket.close", "code": code}  # the bound: closed at once, with the code
    await communicator.disconnect()
    assert get_runtime().refusals_waiting == 2
    await waiting.pop(0).disconnect()  # one hangs up: its place is free again
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while get_runtime().refusals_waiting != 1 and loop.time() < deadline:
        await asyncio.sleep(0.02)
    communicator, first = await refused()
    assert refusal_code(first["text"]) == code
    waiting.append(communicator)
    for communicator in waiting:
        await communicator.disconnect()
    await assert_nothing_left(rows=False)  # no refused socket left counted as waiting


def test_the_client_address_comes_from_a_trusted_proxy_only(settings):
    headers = [(b"x-forwarded-for", b"203.0.113.9, 10.0.0.7")]
    scope = {"client": ("10.0.0.2", 5555), "headers": headers}
    settings.RTCSTREAM = {**settings.RTCSTREAM, "TRUSTED_PROXIES": []}
    assert client_identity.client_host(scope) == "10.0.0.2"  # nobody is trusted: the header is ignored
    settings.RTCSTREAM = {**settings.RTCSTREAM, "TRUSTED_PROXIES": ["10.0.0.0/24"]}
    assert client_identity.client_host(scope) == "203.0.113.9"  # both proxies vouch; the hop before them is the client
    spoofed = {"client": ("198.51.100.4", 5555), "headers": headers}
    assert client_identity.client_host(spoofed) == "198.51.100.4"  # not a proxy: its header is worth nothing
    chained = {"client": ("10.0.0.2", 1), "headers": [(b"x-forwarded-for", b"1.2.3.4, 203.0.113.9")]}
    assert client_identity.client_host(chained) == "203.0.113.9"  # what the client itself wrote is not believed
    assert client_identity.client_host({"client": ("10.0.0.2", 1), "headers": []}) == "10.0.0.2"


def test_logged_in_users_are_counted_as_themselves_not_by_their_shared_address():
    class User:
        is_authenticated = True
        pk = 7

    assert client_identity.client_key({"client": ("192.0.2.1", 1), "user": User()}) == "user:7"
    assert client_identity.client_key({"client": ("192.0.2.1", 1), "headers": []}) == "address:192.0.2.1"


async def test_on_daphne_unknown_paths_cost_no_traceback_and_each_log_line_prints_once(daphne_server):
    import asyncio

    import websockets

    from tests.daphne import OUTPUT

    ws_base = daphne_server.replace("http", "ws", 1)
    async with websockets.connect(f"{ws_base}/ws/rtcstream/os.system/", origin=daphne_server) as socket:
        assert await socket_refusal(socket, linger=5) == 4404
    async with await RtcClient.connect(daphne_server, "t-echo") as client:
        session_id = client.session["session"]
        await client.start(audio=ArrayAudioTrack(tone(440, 2, 48000)))
        await client.wait_for_event("connected")
        await client.stop()
    log = OUTPUT / "daphne.log"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while f"Session {session_id} on 't-echo' ended" not in log.read_text() and loop.time() < deadline:
        await asyncio.sleep(0.05)
    text = log.read_text()
    assert text.count(f"Session {session_id} started") == 1
    assert text.count(f"Session {session_id} on 't-echo' ended") == 1
    assert "No route found" not in text and "HTTP 500" not in text
    # The unknown path shows only in daphne's access log: connected, then closed.
    assert {
        re.search(r'"(\w+) /ws/rtcstream/os.system/"', line).group(1)
        for line in text.splitlines()
        if "os.system" in line
    } <= {
        "WSCONNECTING",
        "WSCONNECT",
        "WSDISCONNECT",
    }


@pytest.mark.parametrize(
    "candidate",
    [
        "candidate:1 1 udp 2130706431 192.0.2.2 99999 typ host",
        "candidate:1 1 udp 2130706431 192.0.2.2 5000 typ srflx raddr 192.0.2.3 rport 70000",
        "candidate:1 1 udp nope",
    ],
)
async def test_a_trickled_candidate_out_of_range_or_garbled_gets_bad_candidate_with_a_fixed_message(
    asgi_app, candidate
):
    async with await RtcClient.connect(asgi_app, "t-echo") as client:
        await client.send({"type": "candidate", "candidate": candidate, "sdpMLineIndex": 0})
        error = await client.wait_for_message("error")
        assert error["code"] == "bad_candidate"
        assert error["message"] in (
            "The ICE candidate could not be parsed.",
            "The ICE candidate's port is outside 0-65535.",
        )
        await client.send({"type": "ping"})
        await client.wait_for_message("pong")


async def test_an_exception_in_a_consumer_is_logged_and_the_socket_refused_not_left_dying(
    asgi_app, monkeypatch, caplog
):
    from rtcstream.signalling import consumers

    def broken(slug):
        raise RuntimeError("database is gone")

    monkeypatch.setattr(consumers, "get_endpoint", broken)
    communicator = WebsocketCommunicator(asgi_app, "/ws/rtcstream/t-echo/", headers=[ORIGIN])
    communicator.scope["client"] = ("127.0.0.1", 1)
    assert (await communicator.connect(timeout=5))[0]
    refused = await communicator.receive_output(timeout=5)
    assert refusal_code(refused["text"]) == 4500
    assert get_runtime().sockets.open_counts() == {"address:127.0.0.1": 1}  # until the client hangs up
    await communicator.disconnect()
    assert get_runtime().sockets.open_counts() == {}
    assert "database is gone" in caplog.text


@pytest.mark.parametrize(
    "path", ["/static/../../etc/passwd", "/static/rtcstream/../../../../etc/passwd", "/static/%2e%2e/x"]
)
async def test_on_daphne_a_static_path_out_of_the_static_folders_is_a_404_without_a_traceback(daphne_server, path):
    """Sent as it is written (what curl --path-as-is does); a browser would have folded the dots."""
    import asyncio
    from urllib.parse import urlsplit

    from tests.daphne import OUTPUT

    log = OUTPUT / "daphne.log"
    before = len(log.read_text())
    url = urlsplit(daphne_server)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {url.netloc}\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    status = (await reader.readline()).decode()
    writer.close()
    assert status.split()[1] == "404", status
    text = log.read_text()[before:]
    assert "Traceback" not in text and "HTTP 500" not in text, text
