"""The same sessions against a real daphne process on 127.0.0.1, over real websockets."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from rtcstream.client import ArrayAudioTrack, ArrayVideoTrack, RtcClient, RtcError
from tests.handlers import tone
from tests.media_checks import dominant_frequency, loud_part


async def test_audio_echo_through_daphne(daphne_server):
    async with await RtcClient.connect(daphne_server, "t-echo") as client:
        await client.start(audio=ArrayAudioTrack(tone(330, 10, 48000)), trickle=True)
        audio = await client.wait_for_audio(seconds=1.0)
        assert abs(dominant_frequency(loud_part(audio.samples())[-24000:]) - 330) < 5
        assert (await client.stop())["reason"] == "client_stop"


async def test_outputs_cross_the_channel_layer_in_daphne(daphne_server):
    async with await RtcClient.connect(daphne_server, "t-burst") as client:
        await client.start(audio=ArrayAudioTrack(tone(440, 10, 48000)))
        outputs = await client.wait_for_outputs(300, timeout=20)
        assert [o["seq"] for o in outputs] == list(range(1, 301))


async def test_video_send_mode_and_generators_through_daphne(daphne_server):
    async with await RtcClient.connect(daphne_server, "t-invert") as client:
        await client.start(video=ArrayVideoTrack(lambda i: np.full((64, 64, 3), 30, dtype=np.uint8)))
        video = await client.wait_for_video(frames=10, timeout=15)
        assert abs(video.frames[-1][1].mean() - 225) < 12
    async with await RtcClient.connect(daphne_server, "t-colors") as client:
        await client.start()
        assert (await client.wait_closed(timeout=15))["reason"] == "stream_ended"
        assert client.video.count >= 50
    async with await RtcClient.connect(daphne_server, "t-level") as client:
        await client.start(audio=ArrayAudioTrack(tone(440, 10, 48000)))
        assert [o["seq"] for o in await client.wait_for_outputs(3)] == [1, 2, 3]
    async with await RtcClient.connect(daphne_server, "t-tones") as client:
        await client.start(inputs=[1.0, 550])
        assert (await client.wait_closed(timeout=15))["reason"] == "stream_ended"
        assert abs(dominant_frequency(loud_part(client.audio.samples())) - 550) < 5


async def test_limits_hold_in_daphne_and_a_dropped_socket_frees_the_slot_within_a_second(daphne_server):
    first = await RtcClient.connect(daphne_server, "t-echo-one")
    await first.start(audio=ArrayAudioTrack(tone(440, 10, 48000)))
    second = await RtcClient.connect(daphne_server, "t-echo-one")
    try:
        with pytest.raises(RtcError) as refused:
            await second.start(audio=ArrayAudioTrack(tone(440, 10, 48000)))
        assert refused.value.code == "concurrency_limit"
        await first.close()  # no stop message: the socket just goes away
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 1.0
        while True:
            try:
                await second.start(audio=ArrayAudioTrack(tone(440, 10, 48000)))
                break
            except RtcError as exc:
                assert exc.code == "concurrency_limit" and loop.time() < deadline, "slot not freed within 1 s"
                await asyncio.sleep(0.05)
        await second.wait_for_event("connected")
    finally:
        await second.close()
