"""ReplyOnPause with a site's own VAD (``model=``), through real sessions: its ``process`` runs in the worker pool,
never on the event loop, so a slow VAD slows only its own session, and one that hangs, fails or answers nonsense
ends only its own, saying why."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from django.conf import settings
from django.test import override_settings

from rtcstream.client import ArrayAudioTrack, RtcClient
from tests.handlers import ENERGY_VAD, HUNG_VAD_GATE, tone
from tests.media_checks import dominant_frequency, loud_part

pytestmark = [pytest.mark.django_db(transaction=True)]


def tone_then_silence(seconds: float, silence: float) -> np.ndarray:
    return np.concatenate([tone(440, seconds, 48000), np.zeros(round(silence * 48000), np.int16)])


async def test_a_sites_own_vad_takes_turns_from_the_worker_pool(asgi_app):
    ENERGY_VAD.threads.clear()
    async with await RtcClient.connect(asgi_app, "t-reply-energy") as client:
        await client.start(audio=ArrayAudioTrack(tone_then_silence(1.0, 3.0)))
        pause = await client.wait_for_event("pause_detected", timeout=10)
        assert pause["data"]["reason"] == "pause"
        (output,) = await client.wait_for_outputs(1)
        assert 0.9 <= output["values"][0]["seconds"] <= 2.0  # the 1 s tone, its pre-roll and its tail (1.44 s here)
        await client.wait_until(lambda: loud_part(client.audio.samples()).size >= 36000)
        echo = loud_part(client.audio.samples())
        assert abs(dominant_frequency(echo[-24000:]) - 440) < 5
    assert ENERGY_VAD.threads, "the VAD was never asked"
    assert threading.get_ident() not in ENERGY_VAD.threads  # the event loop's thread


async def test_a_trigger_ends_the_turn_heard_by_a_sites_own_vad(asgi_app):
    async with await RtcClient.connect(asgi_app, "t-reply-energy") as client:
        microphone = ArrayAudioTrack(tone(440, 20, 48000))
        await client.start(audio=microphone)
        await client.wait_for_event("started_talking", timeout=10)
        await client.wait_until(lambda: microphone.elapsed() >= 1.0)
        await client.trigger()
        pause = await client.wait_for_event("pause_detected", timeout=10)
        assert pause["data"]["reason"] == "trigger"
        (output,) = await client.wait_for_outputs(1)
        assert output["values"][0]["seconds"] > 0.5  # what was heard before the trigger


@pytest.fixture
def hung_vad():
    HUNG_VAD_GATE.clear()
    yield
    HUNG_VAD_GATE.set()  # the hung call returns and its thread exits


@override_settings(RTCSTREAM={**settings.RTCSTREAM, "HANDLER_CALL_TIMEOUT": 1.0})
async def test_a_vad_that_hangs_ends_its_own_session_and_no_other(asgi_app, hung_vad):
    async with await RtcClient.connect(asgi_app, "t-echo") as other:
        await other.start(audio=ArrayAudioTrack(tone(660, 20, 48000)))
        await other.wait_for_audio(seconds=0.5)
        async with await RtcClient.connect(asgi_app, "t-reply-hung-vad") as client:
            await client.start(audio=ArrayAudioTrack(tone(440, 10, 48000)))
            error = await client.wait_for_message("error", timeout=10)
            assert error["code"] == "handler_error" and "did not return within 1 s" in error["message"]
            assert "EnergyVAD.process" in error["message"] or "turn detection" in error["message"], error
            assert (await client.wait_closed())["reason"] == "handler_error"
        # The other session's media went on meanwhile: the loop was never held.
        mark = other.audio.seconds()
        await other.wait_for_audio(seconds=mark + 1.0)
        assert "closed" not in [m["type"] for m in other.messages]


@pytest.mark.parametrize(
    ("endpoint", "logged"),
    [
        ("t-reply-raising-vad", "RuntimeError: the VAD's model file is gone"),
        ("t-reply-lying-vad", "LyingVAD.process returned 'yes', not a speech probability from 0 to 1"),
    ],
)
async def test_a_vad_that_fails_or_lies_ends_its_session_with_the_reason_logged(asgi_app, caplog, endpoint, logged):
    async with await RtcClient.connect(asgi_app, endpoint) as client:
        await client.start(audio=ArrayAudioTrack(tone(440, 10, 48000)))
        error = await client.wait_for_message("error", timeout=10)
        assert error["code"] == "handler_error"
        assert (await client.wait_closed())["reason"] == "handler_error"
    assert logged in caplog.text
