"""Server-to-client audio: generators of uneven chunks, re-chunked, resampled and paced."""

from __future__ import annotations

import numpy as np
import pytest

from rtcstream.client import RtcClient
from tests.media_checks import dominant_frequency, loud_part

pytestmark = [pytest.mark.django_db(transaction=True)]


async def test_a_generator_audio_arrives_complete_at_the_right_pitch(asgi_app):
    async with await RtcClient.connect(asgi_app, "t-tones") as client:
        assert client.session["mode"] == "receive"
        await client.start(inputs=[2.0, 880])
        closed = await client.wait_closed(timeout=15)
        assert closed["reason"] == "stream_ended"
        samples = loud_part(client.audio.samples())
        # 2 s of tone, from chunks at 16 and 24 kHz of 13 to 250 ms, played at 48 kHz.
        assert abs(samples.size / 48000 - 2.0) < 0.1, samples.size / 48000
        for second in (samples[:48000], samples[48000:96000]):
            assert abs(dominant_frequency(second) - 880) < 3
        arrivals = [f[0] for f in client.audio.audible()]
        assert 1.7 < arrivals[-1] - arrivals[0] < 2.5  # paced, not bursted


async def test_an_async_generator_works_the_same(asgi_app):
    async with await RtcClient.connect(asgi_app, "t-async-tones") as client:
        await client.start(inputs=[1.0])
        await client.wait_closed(timeout=15)
        assert abs(loud_part(client.audio.samples()).size / 48000 - 1.0) < 0.1


async def test_trigger_restarts_the_generator_with_new_inputs(asgi_app):
    async with await RtcClient.connect(asgi_app, "t-tones") as client:
        await client.start(inputs=[30.0, 440])
        await client.wait_for_audio(seconds=0.5)
        await client.set_inputs(30.0, 1320)
        await client.trigger()
        mark = client.audio.seconds()
        await client.wait_for_audio(seconds=mark + 1.5)
        assert abs(dominant_frequency(client.audio.samples()[-24000:]) - 1320) < 5


@pytest.mark.slow
async def test_sixty_seconds_of_generated_audio_stay_within_40_ms_of_the_wall_clock(asgi_app):
    """The generator produces far faster than real time; pacing holds it to the clock."""
    async with await RtcClient.connect(asgi_app, "t-long-tone") as client:
        await client.start()
        closed = await client.wait_closed(timeout=90)
        assert closed["reason"] == "stream_ended"
        frames = client.audio.frames
        arrival = np.array([f[0] for f in frames])
        media_time = np.cumsum([0] + [f[2].size for f in frames[:-1]]) / 48000
        drift = (arrival - arrival[0]) - media_time
        drift -= np.median(drift[:50])  # the receiver's jitter buffer shifts everything by a constant
        assert media_time[-1] > 59.5
        assert np.max(np.abs(drift)) < 0.040, float(np.max(np.abs(drift)))
