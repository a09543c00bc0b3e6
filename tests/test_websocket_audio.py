"""Audio over the signalling websocket (docs/protocol.md, "Audio over the websocket"), with the Python client:
the same handlers, events, outputs and limits as WebRTC, and the same one teardown."""

from __future__ import annotations

import asyncio
import re
import time

import numpy as np
import pytest

from rtcstream.client import ArrayAudioTrack, RtcClient, RtcError
from rtcstream.models import StreamSession
from tests import speech
from tests.handlers import tone
from tests.lifecycle import assert_nothing_left
from tests.media_checks import dominant_frequency, loud_part, rms

pytestmark = [pytest.mark.django_db(transaction=True)]

CONVERSATION = ["connected", "started_talking", "pause_detected", "response_starting", "response_done", "playback_done"]


@pytest.fixture
def _espeak():
    speech.require_espeak()


async def start_websocket(client: RtcClient, samples: np.ndarray, **audio_format) -> ArrayAudioTrack:
    track = ArrayAudioTrack(samples)
    await client.start(audio=track, transport="websocket", **audio_format)
    return track


@pytest.mark.usefixtures("_espeak")
@pytest.mark.parametrize(
    ("audio_format", "gaps"),
    [
        ({"codec": "pcm16", "rate": 16000}, False),
        ({"codec": "mulaw", "rate": 8000}, False),
        ({"codec": "pcm16", "rate": 48000}, True),
    ],
    ids=["pcm16", "mulaw", "pcm16-silent-gaps"],
)
async def test_a_reply_on_pause_conversation_over_the_websocket(asgi_app, audio_format, gaps):
    """With ``gaps`` the client sends nothing while silent (a frame every 400 ms, as DTX): the pause is heard all the same."""
    recording = speech.utterance(lead=0.5, tail=2.0)
    spoken = (recording.utterances[0][1] - recording.utterances[0][0]) / 48000
    async with await RtcClient.connect(asgi_app, "t-reply-echo") as client:
        track = ArrayAudioTrack(recording.samples, dtx=gaps)
        await client.start(audio=track, transport="websocket", **audio_format)
        reply = await client.wait_for_message("media")
        frame_bytes = audio_format["rate"] // 50 * (2 if audio_format["codec"] == "pcm16" else 1)
        assert reply == {"type": "media", "transport": "websocket", **audio_format, "frame_bytes": frame_bytes}
        output = (await client.wait_for_outputs(1, timeout=15))[0]["values"][0]
        assert output["seconds"] >= spoken  # the handler heard the whole utterance, through the format's rate
        await client.wait_for_event("playback_done", timeout=15)
        assert client.events() == CONVERSATION
        # The reply is the utterance played back: as long, and as loud.
        assert client.audio.audible_seconds() >= 0.8 * spoken, client.audio.audible_seconds()
        assert rms(client.audio.samples()) > 300
        assert (await client.stop())["reason"] == "client_stop"
        assert (track.frames_skipped > 0) == gaps


async def test_a_stream_handler_echoes_over_the_websocket(asgi_app):
    async with await RtcClient.connect(asgi_app, "t-echo") as client:
        await start_websocket(client, tone(440, 3, 48000), codec="pcm16", rate=24000)
        await client.wait_until(lambda: client.audio.audible_seconds() > 1.0, timeout=10)
        assert abs(dominant_frequency(loud_part(client.audio.samples())) - 440) < 5


async def test_the_session_message_names_the_transports_a_page_may_ask_for(asgi_app, settings):
    async with await RtcClient.connect(asgi_app, "t-echo") as client:
        assert client.session["transports"] == ["webrtc", "websocket"]
    async with await RtcClient.connect(asgi_app, "t-invert") as client:  # video: WebRTC only
        assert client.session["transports"] == ["webrtc"]
        with pytest.raises(RtcError) as refused:
            await start_websocket(client, tone(440, 1, 48000))
        assert refused.value.code == "unsupported_transport"
    settings.RTCSTREAM = {**settings.RTCSTREAM, "WEBSOCKET_AUDIO": False}
    async with await RtcClient.connect(asgi_app, "t-echo") as client:
        assert client.session["transports"] == ["webrtc"]
        with pytest.raises(RtcError) as refused:
            await start_websocket(client, tone(440, 1, 48000))
        assert refused.value.code == "unsupported_transport"


async def test_malformed_frames_get_a_coded_error_and_the_session_goes_on(asgi_app):
    async with await RtcClient.connect(asgi_app, "t-echo") as client:
        # Before 'media', a binary frame is refused as on any WebRTC session.
        await client.signalling.send_bytes(b"\x00" * 640)
        assert (await client.wait_for_message("error"))["code"] == "invalid_json"
        bad_formats = [
            {"codec": "pcm16", "rate": 44100},
            {"codec": "mulaw", "rate": 16000},
            {"codec": "opus", "rate": 48000},
            {"codec": "pcm16", "rate": "16000"},
        ]
        for bad in bad_formats:
            await client.send({"type": "media", "transport": "websocket", **bad})
        await client.send({"type": "media", "transport": "carrier-pigeon", "codec": "pcm16", "rate": 16000})
        await client.wait_until(lambda: len([m for m in client.messages if m["type"] == "error"]) >= 6)
        assert [m["code"] for m in client.messages if m["type"] == "error"][1:] == ["invalid_message"] * 5

        await start_websocket(client, tone(440, 5, 48000), codec="pcm16", rate=16000)
        for size in (1, 639, 641, 320, 100_000):
            await client.signalling.send_bytes(b"\x01" * size)
        await client.wait_until(lambda: len([m for m in client.messages if m.get("code") == "bad_audio"]) == 5)
        assert "640 bytes" in next(m for m in client.messages if m.get("code") == "bad_audio")["message"]
        await client.send({"type": "media", "transport": "websocket", "codec": "pcm16", "rate": 16000})
        assert (await client.wait_for_message("error", code="invalid_state"))["message"]
        await client.send({"type": "candidate", "candidate": None})
        await client.wait_until(lambda: len([m for m in client.messages if m.get("code") == "invalid_state"]) == 2)
        # Still a live session: the tone comes back.
        await client.wait_until(lambda: client.audio.audible_seconds() > 1.0, timeout=10)
        assert "closed" not in [m["type"] for m in client.messages]


async def test_the_concurrency_limit_counts_websocket_sessions_with_webrtc_ones(asgi_app):
    first = await RtcClient.connect(asgi_app, "t-echo-one")
    second = await RtcClient.connect(asgi_app, "t-echo-one")
    try:
        await start_websocket(first, tone(440, 10, 48000))
        with pytest.raises(RtcError) as refused:
            await second.start(audio=ArrayAudioTrack(tone(440, 1, 48000)))  # WebRTC
        assert refused.value.code == "concurrency_limit"
        with pytest.raises(RtcError) as refused:
            await start_websocket(second, tone(440, 1, 48000))
        assert refused.value.code == "concurrency_limit"
        await first.stop()
        await start_websocket(second, tone(440, 10, 48000))  # the slot is free again, on the same socket
        await second.wait_for_event("connected")
    finally:
        await first.close()
        await second.close()


async def test_the_time_limit_ends_a_websocket_session(asgi_app):
    async with await RtcClient.connect(asgi_app, "t-echo-timed") as client:  # 1.5 s
        started = time.monotonic()
        await start_websocket(client, tone(440, 10, 48000))
        closed = await client.wait_closed(timeout=5)
        assert closed["reason"] == "time_limit"
        assert 1.5 <= time.monotonic() - started < 3.0


@pytest.mark.usefixtures("_espeak")
async def test_a_client_that_vanishes_mid_reply_is_cleaned_up(asgi_app):
    recording = speech.utterance(lead=0.5, tail=5.0)
    client = await RtcClient.connect(asgi_app, "t-reply-echo")
    await start_websocket(client, recording.samples)
    await client.wait_for_event("response_starting", timeout=15)
    await client.wait_until(lambda: client.link.frames_received > 10, timeout=5)  # the reply is playing
    session_id = client.session["session"]
    await client.signalling.close()  # the socket goes; no stop
    await client.close()
    await assert_nothing_left()
    row = await StreamSession.objects.aget(session_id=session_id)
    assert (row.state, row.end_reason) == ("ended", "disconnected")


async def test_barge_in_tells_the_page_to_drop_what_it_has_not_played(asgi_app):
    speech.require_espeak()
    first = speech.utterance(lead=0.5, tail=0.0)
    async with await RtcClient.connect(asgi_app, "t-reply-tone") as client:  # a 6 s tone for every turn
        track = await start_websocket(client, np.concatenate([first.samples, speech.silence(10)]))
        await client.wait_until(lambda: client.audio.audible_seconds() > 0.5, timeout=15)
        onset = time.monotonic() + speech.energy_onset(speech.speech()) / 48000
        track.play(np.concatenate([speech.speech(), speech.silence(10)]))
        clear = await client.wait_for_message("clear", timeout=5)
        cleared_at = time.monotonic()
        await client.wait_for_event("interrupted")
        assert clear == {"type": "clear"}
        assert cleared_at - onset < 0.6, cleared_at - onset
        # The tone stops: at most a frame or two were on their way when the clear went out.
        await client.wait_until(lambda: time.monotonic() > cleared_at + 0.5)
        after = [f for f in client.audio.audible() if f[0] > cleared_at + 0.1]
        assert not after, f"{len(after)} audible frames after the clear"


async def test_through_daphne_a_dropped_connection_frees_the_slot(daphne_server, fresh_address):
    """A real socket that goes away without a close handshake (the TCP connection aborted)."""
    first = await RtcClient.connect(daphne_server, "t-echo-one", local_address=fresh_address)
    second = await RtcClient.connect(daphne_server, "t-echo-one", local_address=fresh_address)
    try:
        await start_websocket(first, tone(440, 10, 48000))
        await first.wait_until(lambda: first.audio.audible_seconds() > 0.5, timeout=10)
        with pytest.raises(RtcError) as refused:
            await start_websocket(second, tone(440, 10, 48000))
        assert refused.value.code == "concurrency_limit"
        first.signalling.socket.transport.abort()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 2.0
        while True:
            try:
                await start_websocket(second, tone(440, 10, 48000))
                break
            except RtcError as exc:
                assert exc.code == "concurrency_limit" and loop.time() < deadline, "slot not freed within 2 s"
                await asyncio.sleep(0.05)
        await second.wait_until(lambda: second.audio.audible_seconds() > 0.5, timeout=10)
    finally:
        await first.close()
        await second.close()


def test_the_protocol_doc_lists_the_error_codes_of_audio_over_the_websocket():
    from pathlib import Path

    doc = (Path(__file__).resolve().parent.parent / "docs" / "protocol.md").read_text()
    codes = set(re.findall(r"^\| `([a-z_]+)` \|", doc, re.M))
    assert {"bad_audio", "unsupported_transport"} <= codes
