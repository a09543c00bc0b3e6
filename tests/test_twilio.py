"""Phone calls through Twilio Media Streams, against a simulated Twilio (tests/twilio_peer.py):
the webhook's signature and TwiML, the stream's one-time token, a conversation, barge-in
(``clear``), hang-up, and the limits."""

from __future__ import annotations

import time

import numpy as np
import pytest
from channels.testing import WebsocketCommunicator
from django.core import signing
from django.http import QueryDict

from rtcstream.client import ArrayAudioTrack, RtcClient, RtcError
from rtcstream.models import StreamSession
from rtcstream.signalling.close_codes import CloseCode
from rtcstream.transports.twilio.signature import compute_signature, valid_signature
from tests import speech
from tests.handlers import tone
from tests.lifecycle import assert_nothing_left
from tests.twilio_peer import PhoneCall, call_webhook, stream_url

pytestmark = [pytest.mark.django_db(transaction=True)]

# Twilio's documented example (its security docs, and the twilio-* libraries' tests).
DOC_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
DOC_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+14158675309",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
}


@pytest.fixture
def _espeak():
    speech.require_espeak()


async def anext_session_id() -> str:
    """The id of the session that started last."""
    rows = [row async for row in StreamSession.objects.order_by("-started_at").values_list("session_id", flat=True)]
    return rows[0]


# -- the webhook --------------------------------------------------------------------------


def test_the_signature_is_twilios():
    assert compute_signature("12345", DOC_URL, DOC_PARAMS) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    repeated = QueryDict(mutable=True)
    for name, value in [("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234")]:
        repeated.appendlist(name, value)
    repeated.appendlist("Digits", "1234")
    assert compute_signature("12345", DOC_URL, repeated) == "IK+Dwps556ElfBT0I3Rgjkr1wJU="
    signature = "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    assert valid_signature("12345", DOC_URL, DOC_PARAMS, signature)
    # The port written out, or not, as Twilio's own validators accept.
    assert valid_signature("12345", DOC_URL.replace(".com/", ".com:443/"), DOC_PARAMS, signature)
    assert not valid_signature("12345", DOC_URL.replace(".com/", ".com:8443/"), DOC_PARAMS, signature)
    assert not valid_signature("12345", DOC_URL + "&x=1", DOC_PARAMS, signature)
    assert not valid_signature("54321", DOC_URL, DOC_PARAMS, signature)
    assert not valid_signature("12345", DOC_URL, {**DOC_PARAMS, "Digits": "9999"}, signature)
    assert not valid_signature("12345", DOC_URL, DOC_PARAMS, "")


async def test_the_webhook_answers_twilio_with_a_stream_and_refuses_anyone_else(settings):
    answered = await call_webhook(None, "t-reply-echo", "CA0001")
    assert answered.status_code == 200
    assert answered["Content-Type"] == "text/xml"
    body = answered.content.decode()
    assert body.startswith('<?xml version="1.0" encoding="UTF-8"?><Response><Connect><Stream url="wss://testserver/')
    assert body.endswith("/></Connect></Response>")
    assert stream_url(body).startswith("wss://testserver/ws/rtcstream/t-reply-echo/twilio/")

    forged = await call_webhook(None, "t-reply-echo", "CA0002", auth_token="not-the-account-token")
    assert forged.status_code == 403
    for missing in ("no-such-endpoint", "t-invert"):  # unknown, and video: no phone call there
        assert (await call_webhook(None, missing, "CA0003")).status_code == 404
    settings.RTCSTREAM = {**settings.RTCSTREAM, "TWILIO_STREAM_URL": "wss://voice.example.com/"}
    body = (await call_webhook(None, "t-reply-echo", "CA0004")).content.decode()
    assert stream_url(body).startswith("wss://voice.example.com/ws/rtcstream/t-reply-echo/twilio/")
    settings.RTCSTREAM = {**settings.RTCSTREAM, "TWILIO_AUTH_TOKEN": None}
    assert (await call_webhook(None, "t-reply-echo", "CA0005")).status_code == 404


async def test_a_webhook_configured_as_get_is_signed_over_its_query():
    from django.test import AsyncClient

    url = "http://testserver/rtcstream/twilio/t-reply-echo/?CallSid=CA0006&From=%2B15550100"
    signature = compute_signature("test-twilio-auth-token", url, {})
    answered = await AsyncClient().get(url, headers={"X-Twilio-Signature": signature})
    assert answered.status_code == 200
    tampered = url.replace("CA0006", "CA0007")
    assert (await AsyncClient().get(tampered, headers={"X-Twilio-Signature": signature})).status_code == 403


# -- the stream socket --------------------------------------------------------------------


async def open_stream(asgi_app, path: str) -> tuple[bool, int | None, WebsocketCommunicator]:
    communicator = WebsocketCommunicator(asgi_app, path)  # no Origin header, as Twilio
    communicator.scope["client"] = ("127.0.0.1", 46000)
    connected, code = await communicator.connect(timeout=5)
    if connected:  # refusals accept, then close at once
        try:
            closing = await communicator.receive_output(timeout=1)
        except TimeoutError:
            return True, None, communicator  # kept open: served
        if closing["type"] == "websocket.close":
            return False, closing.get("code"), communicator
    return connected, code, communicator


async def test_a_stream_token_is_good_once_for_its_endpoint_and_not_for_long(asgi_app, monkeypatch, settings):
    body = (await call_webhook(asgi_app, "t-reply-echo", "CA0010")).content.decode()
    path = stream_url(body).removeprefix("wss://testserver")
    # For another endpoint, the token is refused.
    other = path.replace("/t-reply-echo/", "/t-echo/")
    connected, code, communicator = await open_stream(asgi_app, other)
    assert (connected, code) == (False, CloseCode.FORBIDDEN)
    # The first socket that presents it is served, the next is refused.
    async with await PhoneCall.place(asgi_app, "t-reply-echo") as call:
        connected, code, communicator = await open_stream(asgi_app, call.socket.communicator.scope["path"])
        assert (connected, code) == (False, CloseCode.FORBIDDEN)
        assert call.closed_at is None
    # A token older than TWILIO_TOKEN_MAX_AGE is refused.
    real_time = signing.time.time
    monkeypatch.setattr(signing.time, "time", lambda: real_time() - 61)
    body = (await call_webhook(asgi_app, "t-reply-echo", "CA0011")).content.decode()
    monkeypatch.setattr(signing.time, "time", real_time)
    connected, code, communicator = await open_stream(asgi_app, stream_url(body).removeprefix("wss://testserver"))
    assert (connected, code) == (False, CloseCode.FORBIDDEN)
    # Phone calls off: no stream socket at all.
    settings.RTCSTREAM = {**settings.RTCSTREAM, "TWILIO_AUTH_TOKEN": None}
    connected, code, communicator = await open_stream(asgi_app, path)
    assert (connected, code) == (False, CloseCode.NOT_FOUND)


async def test_a_stream_over_the_process_socket_cap_is_closed_at_once_without_a_message_twilio_would_reject(
    asgi_app, settings
):
    """Twilio takes any message of ours but media, mark and clear as invalid (its warning 31951):
    a refused stream gets the close, not the `refused` message browsers get."""
    body = (await call_webhook(asgi_app, "t-reply-echo", "CA0012")).content.decode()
    settings.RTCSTREAM = {**settings.RTCSTREAM, "MAX_SOCKETS": 0}
    connected, code, communicator = await open_stream(asgi_app, stream_url(body).removeprefix("wss://testserver"))
    assert (connected, code) == (False, CloseCode.TOO_MANY_SOCKETS)
    await communicator.disconnect()


async def test_only_the_stream_route_goes_without_an_origin(asgi_app):
    """A page's signalling socket without an Origin header is still denied (Channels' check)."""
    communicator = WebsocketCommunicator(asgi_app, "/ws/rtcstream/t-echo/")
    connected, _ = await communicator.connect(timeout=5)
    assert not connected


async def test_a_start_for_another_call_is_refused(asgi_app, monkeypatch):
    from tests import twilio_peer

    real = twilio_peer.call_webhook

    async def webhook_for_another_call(server, endpoint, call_sid, **kwargs):
        return await real(server, endpoint, "CA-someone-else", **kwargs)

    monkeypatch.setattr(twilio_peer, "call_webhook", webhook_for_another_call)
    async with await PhoneCall.place(asgi_app, "t-reply-echo") as call:
        await call.wait_until(lambda: call.closed_at, timeout=5)
        assert call.socket.close_code == CloseCode.FORBIDDEN
        assert not [row async for row in StreamSession.objects.all()]


# -- calls ------------------------------------------------------------------------------


@pytest.mark.usefixtures("_espeak")
async def test_a_phrase_gets_its_reply_and_stop_ends_the_session(asgi_app):
    recording = speech.utterance(lead=0.3, tail=0.0)
    spoken = (recording.utterances[0][1] - recording.utterances[0][0]) / 48000
    async with await PhoneCall.place(asgi_app, "t-reply-echo") as call:  # replies in 100 ms chunks
        said_at = call.say(recording.samples)
        await call.wait_until(lambda: call.heard_seconds() >= 0.8 * spoken, timeout=20)
        first_heard = next(at for at, s in call.heard if np.abs(s).max() > 300)
        assert first_heard > said_at + spoken  # a reply, after the caller's pause
        # Media goes out in 20 ms messages of 160 μ-law bytes, with a mark after each reply chunk,
        # which the caller's side echoes once it has played what came before.
        sizes = {len(m["media"]["payload"]) for _, m in call.events("media")}
        assert sizes == {216}  # base64 of 160 bytes
        assert all(m["streamSid"] == call.stream_sid for _, m in call.received)
        await call.wait_until(lambda: len(call.marks_echoed) >= int(spoken * 10) - 1, timeout=10)
        session_id = await anext_session_id()
        await call.hang_up()
        await call.wait_until(lambda: call.closed_at, timeout=5)
        assert call.socket.close_code == CloseCode.NORMAL
    await assert_nothing_left()
    row = await StreamSession.objects.aget(session_id=session_id)
    assert (row.state, row.end_reason) == ("ended", "client_stop")


@pytest.mark.usefixtures("_espeak")
async def test_barge_in_sends_clear_at_once_and_the_reply_stops(asgi_app):
    first = speech.utterance(lead=0.3, tail=0.0)
    async with await PhoneCall.place(asgi_app, "t-reply-tone") as call:  # a 6 s tone for every turn
        call.say(first.samples)
        await call.wait_until(lambda: call.heard_seconds() > 0.5, timeout=20)
        spoken_at = call.say(speech.speech())
        onset = spoken_at + speech.energy_onset(speech.speech()) / 48000
        await call.wait_until(lambda: call.cleared_at, timeout=5)
        latency = call.cleared_at[0] - onset
        print(f"\nTwilio barge-in: clear {latency * 1000:.0f} ms after the onset of the caller's speech")
        assert latency < 0.5, latency
        # Nothing of the tone is played after the clear (the frame being played may finish).
        await call.wait_until(lambda: time.monotonic() > call.cleared_at[0] + 0.5)
        assert call.heard_seconds(after=call.cleared_at[0] + 0.04) == 0.0


async def test_a_call_that_drops_without_stop_is_cleaned_up(asgi_app):
    call = await PhoneCall.place(asgi_app, "t-echo")
    call.say(tone(440, 2, 48000))
    await call.wait_until(lambda: call.heard_seconds() > 0.5, timeout=10)
    session_id = await anext_session_id()
    await call.close()
    await assert_nothing_left()
    row = await StreamSession.objects.aget(session_id=session_id)
    assert (row.state, row.end_reason) == ("ended", "disconnected")


async def test_phone_calls_count_against_the_concurrency_limit(asgi_app):
    async with await PhoneCall.place(asgi_app, "t-echo-one") as call:
        call.say(tone(440, 10, 48000))
        await call.wait_until(lambda: call.heard_seconds() > 0.3, timeout=10)
        async with await RtcClient.connect(asgi_app, "t-echo-one") as client:
            with pytest.raises(RtcError) as refused:
                await client.start(audio=ArrayAudioTrack(tone(440, 1, 48000)))
            assert refused.value.code == "concurrency_limit"
        async with await PhoneCall.place(asgi_app, "t-echo-one") as busy:
            await busy.wait_until(lambda: busy.closed_at, timeout=5)  # the server hangs up on it
            assert not busy.heard_seconds()
        await call.hang_up()
        await call.wait_until(lambda: call.closed_at, timeout=5)
    async with await RtcClient.connect(asgi_app, "t-echo-one") as client:
        await client.start(audio=ArrayAudioTrack(tone(440, 1, 48000)))  # the slot is free again
        await client.stop()


async def test_the_time_limit_ends_a_call(asgi_app):
    async with await PhoneCall.place(asgi_app, "t-echo-timed") as call:  # 1.5 s
        started = time.monotonic()
        await call.wait_until(lambda: call.closed_at, timeout=5)
        assert 1.5 <= call.closed_at - started < 3.0
        assert call.socket.close_code == CloseCode.NORMAL


@pytest.mark.usefixtures("_espeak")
async def test_a_call_through_daphne(daphne_server):
    """Real sockets on loopback: the webhook over HTTP, the stream without an Origin through the site's middleware."""
    recording = speech.utterance(lead=0.3, tail=0.0)
    async with await PhoneCall.place(daphne_server, "t-reply-echo") as call:
        call.say(recording.samples)
        await call.wait_until(lambda: call.heard_seconds() > 1.0, timeout=20)
        await call.wait_until(lambda: call.marks_echoed, timeout=5)
        await call.hang_up()
        await call.wait_until(lambda: call.closed_at, timeout=5)
        assert call.socket.close_code == CloseCode.NORMAL


def test_twilio_messages_are_parsed_and_anything_else_is_an_error():
    from rtcstream.transports.twilio import messages

    start = messages.parse(
        '{"event": "start", "start": {"streamSid": "MZ1", "callSid": "CA1", "customParameters": {"a": "b"},'
        ' "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}}',
        10_000,
    )
    assert start == messages.Start("MZ1", "CA1", messages.MULAW_8K, {"a": "b"})
    other_format = (
        '{"event": "start", "start": {"streamSid": "MZ1", "callSid": "CA1", "mediaFormat": {"encoding": "audio/l16"}}}'
    )
    assert messages.parse(other_format, 10_000).format is None
    media = messages.parse('{"event": "media", "media": {"payload": "/w=="}}', 10_000)
    assert media == messages.Media(b"\xff", "inbound")
    assert messages.parse('{"event": "mark", "mark": {"name": "x"}}', 10_000) == messages.Mark("x")
    for bad in [
        None,
        "not json",
        "[]",
        '{"event": "nope"}',
        '{"event": 3}',
        '{"event": "start"}',
        '{"event": "start", "start": {"streamSid": 1, "callSid": "CA1"}}',
        '{"event": "media", "media": {"payload": "not base64!"}}',
        '{"event": "media", "media": {"payload": "' + "A" * 20_000 + '"}}',
        '{"event": "mark", "mark": {}}',
        "[" * 100_000,
        '{"event": "connected", "protocol": "Call", "version": NaN}',  # Python's json reads it; JSON has none
    ]:
        with pytest.raises(messages.TwilioMessageError):
            messages.parse(bad, 200_000)
    with pytest.raises(messages.TwilioMessageError):
        messages.parse('{"event": "connected"}' + " " * 100, 50)


async def test_a_stream_that_never_starts_is_closed(asgi_app, monkeypatch):
    from rtcstream.transports.twilio import consumer

    monkeypatch.setattr(consumer, "START_TIMEOUT", 0.3)
    body = (await call_webhook(asgi_app, "t-reply-echo", "CA0020")).content.decode()
    communicator = WebsocketCommunicator(asgi_app, stream_url(body).removeprefix("wss://testserver"))
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    closing = await communicator.receive_output(timeout=5)
    assert closing == {"type": "websocket.close", "code": CloseCode.NORMAL}
    await communicator.disconnect()
