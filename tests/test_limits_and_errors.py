"""Limits, server-side endings, bad input and cleanup, end to end in process."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest

from rtcstream.client import ArrayAudioTrack, RtcClient, RtcError
from rtcstream.models import StreamSession
from rtcstream.runtime import get_runtime
from tests.handlers import tone
from tests.lifecycle import rtcstream_tasks

pytestmark = [pytest.mark.django_db(transaction=True)]


def speech_like() -> ArrayAudioTrack:
    return ArrayAudioTrack(tone(440, 30, 48000))


async def test_time_limit_closes_the_session(asgi_app):
    async with await RtcClient.connect(asgi_app, "t-echo-timed") as client:
        assert client.session["time_limit"] == 1.5
        await client.start(audio=speech_like())
        await client.wait_for_event("connected")
        closed = await client.wait_closed(timeout=5)
        assert closed["reason"] == "time_limit" and "1.5" in closed["message"]


async def test_concurrency_limit_refuses_before_media_and_frees_the_slot_on_stop(asgi_app):
    first = await RtcClient.connect(asgi_app, "t-echo-one")
    second = await RtcClient.connect(asgi_app, "t-echo-one")
    try:
        await first.start(audio=speech_like())
        await first.wait_for_event("connected")
        with pytest.raises(RtcError) as refused:
            await second.start(audio=speech_like())
        assert refused.value.code == "concurrency_limit"
        assert "connected" not in second.events()
        refusal = await StreamSession.objects.aget(session_id=second.session["session"])
        assert (refusal.state, refusal.end_reason) == ("refused", "concurrency_limit")
        await first.stop()
        # The socket stayed usable: the same client may try again, and now it is admitted.
        await second.start(audio=speech_like())
        await second.wait_for_event("connected")
    finally:
        await first.close()
        await second.close()
    first_row = await StreamSession.objects.aget(session_id=first.session["session"])
    assert (first_row.state, first_row.end_reason) == ("ended", "client_stop")


async def test_close_stream_ends_the_session_from_the_server(asgi_app):
    async with await RtcClient.connect(asgi_app, "t-closing") as client:
        await client.start(audio=speech_like())
        closed = await client.wait_closed(timeout=5)
        assert closed == {"type": "closed", "reason": "handler_closed", "message": "done after 10 frames"}


async def test_a_handler_that_raises_ends_only_its_own_session(asgi_app, caplog):
    healthy = await RtcClient.connect(asgi_app, "t-echo")
    failing = await RtcClient.connect(asgi_app, "t-failing")
    try:
        await healthy.start(audio=speech_like())
        await failing.start(audio=speech_like())
        error = await failing.wait_for_message("error", timeout=5)
        # The page gets a fixed message (tests/test_disclosure.py); the exception's text goes to the log only.
        assert error["code"] == "handler_error" and "boom" not in error["message"]
        closed = await failing.wait_closed()
        assert closed["reason"] == "handler_error" and "boom" not in closed["message"]
        assert "boom at frame 25" in caplog.text and "Traceback" in caplog.text
        mark = healthy.audio.seconds()
        await healthy.wait_for_audio(seconds=mark + 0.5, timeout=5)
        assert "closed" not in [m["type"] for m in healthy.messages]
    finally:
        await healthy.close()
        await failing.close()


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json", "invalid_json"),
        ("[1, 2]", "invalid_json"),
        ('{"no": "type"}', "invalid_message"),
        ('{"type": "dance"}', "unknown_type"),
        ('{"type": "offer"}', "invalid_message"),
        ('{"type": "offer", "sdp": 5}', "invalid_message"),
        ('{"type": "offer", "sdp": "hello"}', "bad_sdp"),
        ('{"type": "offer", "sdp": "v=0\\r\\nnonsense"}', "bad_sdp"),
        ('{"type": "inputs", "values": "x"}', "invalid_message"),
        ('{"type": "candidate", "candidate": "candidate:garbage", "sdpMLineIndex": 0}', "bad_candidate"),
        (json.dumps({"type": "inputs", "values": ["x" * 300_000]}), "message_too_large"),
    ],
)
async def test_bad_messages_get_an_error_and_the_socket_stays_usable(asgi_app, frame, code):
    async with await RtcClient.connect(asgi_app, "t-echo") as client:
        await client.send_raw(frame)
        if code is not None:
            error = await client.wait_for_message("error")
            assert error["code"] == code and error["message"]
        await client.send({"type": "ping"})
        await client.wait_for_message("pong")
        # Still a working session after the bad message.
        await client.start(audio=speech_like())
        await client.wait_for_audio(seconds=0.3)


async def test_a_garbage_candidate_after_the_offer_is_refused(asgi_app):
    async with await RtcClient.connect(asgi_app, "t-echo") as client:
        await client.start(audio=speech_like())
        await client.send({"type": "candidate", "candidate": "candidate:1 1 udp nope", "sdpMLineIndex": 0})
        error = await client.wait_for_message("error")
        assert error["code"] == "bad_candidate"
        await client.wait_for_audio(seconds=0.3)


async def test_a_second_offer_is_refused(asgi_app):
    async with await RtcClient.connect(asgi_app, "t-echo") as client:
        await client.start(audio=speech_like())
        await client.send({"type": "offer", "sdp": client.pc.localDescription.sdp})
        error = await client.wait_for_message("error")
        assert error["code"] == "invalid_state"


async def test_an_unknown_endpoint_is_refused_at_connect(asgi_app):
    with pytest.raises(RtcError) as refused:
        await RtcClient.connect(asgi_app, "no-such-endpoint")
    assert "4404" in str(refused.value)


async def test_the_session_is_cleaned_up_within_a_second_of_the_socket_closing(asgi_app):
    client = await RtcClient.connect(asgi_app, "t-echo-one")
    await client.start(audio=speech_like())
    await client.wait_for_event("connected")
    before = len(asyncio.all_tasks())
    assert get_runtime().admission is not None
    # Drop the websocket without a stop message, as a closed tab would.
    await client.signalling.close()
    deadline = asyncio.get_running_loop().time() + 1.0
    while asyncio.get_running_loop().time() < deadline:
        row = await StreamSession.objects.filter(endpoint_slug="t-echo-one", state="live").afirst()
        if row is None:
            break
        await asyncio.sleep(0.02)
    assert row is None, "the session still counts as live 1 s after its socket closed"
    assert rtcstream_tasks() == []  # the session's (the process's own, such as the loop monitor, stay)
    await client.close()
    assert len(asyncio.all_tasks()) <= before
    # The slot is free at once: a new client is admitted under the limit of 1.
    async with await RtcClient.connect(asgi_app, "t-echo-one") as again:
        await again.start(audio=ArrayAudioTrack(np.zeros(4800, dtype=np.int16)))
        await again.wait_for_event("connected")
