"""Audio over the signalling websocket (docs/protocol.md, "Audio over the websocket"), with the Python client."""

from __future__ import annotations

import pytest

from rtcstream.client import ArrayAudioTrack, RtcClient
from tests import speech
from tests.media_checks import rms

pytestmark = [pytest.mark.django_db(transaction=True)]


async def test_a_reply_on_pause_conversation_over_the_websocket(asgi_app):
    recording = speech.utterance(lead=0.5, tail=2.0)
    async with await RtcClient.connect(asgi_app, "t-reply-echo") as client:
        assert client.session["transports"] == ["webrtc", "websocket"]
        await client.start(audio=ArrayAudioTrack(recording.samples), transport="websocket", codec="pcm16", rate=16000)
        output = (await client.wait_for_outputs(1, timeout=15))[0]["values"][0]
        await client.wait_for_event("playback_done", timeout=15)
        names = [n for n in client.events()]
        print(names, output, client.audio.seconds(), client.link.frames_sent, client.link.frames_received)
        assert names[:6] == [
            "connected",
            "started_talking",
            "pause_detected",
            "response_starting",
            "response_done",
            "playback_done",
        ]
        reply = client.audio.samples()
        assert rms(reply) > 300
        await client.stop()
