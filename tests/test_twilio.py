"""Phone calls through Twilio Media Streams, against a simulated Twilio (tests/twilio_peer.py)."""

from __future__ import annotations

import pytest

from tests import speech
from tests.twilio_peer import PhoneCall

pytestmark = [pytest.mark.django_db(transaction=True)]


async def test_a_phrase_gets_its_reply_on_the_phone(asgi_app):
    recording = speech.utterance(lead=0.5, tail=0.0)
    async with await PhoneCall.place(asgi_app, "t-reply-echo") as call:
        call.say(recording.samples)
        await call.wait_until(lambda: call.heard_seconds() > 2.0, timeout=20)
        await call.wait_until(lambda: len(call.marks_echoed) >= 10, timeout=10)
        print(len(call.events("media")), len(call.events("mark")), call.marks_echoed[:3], call.heard_seconds())
        await call.hang_up()
        await call.wait_until(lambda: call.closed_at, timeout=5)
