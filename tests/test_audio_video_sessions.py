"""The audio-video modality end to end with the Python client: both directions' content, and lip-sync."""

from __future__ import annotations

import statistics

import numpy as np
import pytest

from rtcstream.client import ArrayAudioTrack, ArrayVideoTrack, RtcClient, VideoSink
from tests import av_handlers
from tests.handlers import tone
from tests.media_checks import dominant_frequency, loud_part

pytestmark = [pytest.mark.django_db(transaction=True)]

RED = (230, 30, 30)  # RGB, as the client sends it


def red(index: int) -> np.ndarray:
    frame = np.zeros((120, 160, 3), dtype=np.uint8)
    frame[:] = RED
    return frame


def mean_rgb(frame: np.ndarray) -> np.ndarray:
    return frame.reshape(-1, 3).mean(axis=0)


@pytest.mark.parametrize("slug", ["t-av-echo", "t-av-async-echo"])
async def test_tone_and_frames_come_back_processed(asgi_app, slug):
    async with await RtcClient.connect(asgi_app, slug) as client:
        assert client.session["modality"] == "audio-video"
        await client.start(audio=ArrayAudioTrack(tone(660, 20, 48000)), video=ArrayVideoTrack(red))
        audio = await client.wait_for_audio(seconds=1.5, timeout=20)
        video = await client.wait_for_video(frames=20, timeout=20)
        # Audio: the known tone, at its pitch.
        samples = loud_part(audio.samples())
        assert samples.size > 48000 // 2
        assert abs(dominant_frequency(samples[-24000:]) - 660) < 5
        # Video: the handler got BGR (red last: its channel means are B, G, R) ...
        output = await client.wait_for_outputs(1)
        blue, green, red_ = output[0]["values"][0]
        assert red_ > 200 and blue < 60 and green < 60, output
        # ... and gave BGR back: channel 0 set to 255 is blue, so the red frame arrives magenta.
        r, g, b = mean_rgb(video.frames[-1][1])
        assert r > 200 and b > 220 and g < 60, (r, g, b)
        assert client.pc is not None
        msids = {line.split()[0] for line in client.pc.remoteDescription.sdp.splitlines() if line.startswith("a=msid:")}
        assert len(msids) == 1, msids  # both tracks in one stream: a browser plays them in sync


async def test_rgb_entry_gets_and_gives_rgb(asgi_app):
    async with await RtcClient.connect(asgi_app, "t-av-echo-rgb") as client:
        await client.start(audio=ArrayAudioTrack(tone(440, 10, 48000)), video=ArrayVideoTrack(red))
        video = await client.wait_for_video(frames=20, timeout=20)
        output = await client.wait_for_outputs(1)
        first, _, last = output[0]["values"][0]
        assert first > 200 and last < 60, output  # R first
        # Channel 0 is red here: set to 255 the frame stays red.
        r, g, b = mean_rgb(video.frames[-1][1])
        assert r > 220 and g < 60 and b < 60, (r, g, b)


def onsets(times: list[float], flags: list[bool]) -> list[float]:
    """The times at which ``flags`` turns from False to True."""
    return [t for i, (t, on) in enumerate(zip(times, flags, strict=True)) if on and (i == 0 or not flags[i - 1])]


async def test_lip_sync_a_flash_and_a_beep_made_at_one_instant_arrive_together(asgi_app):
    """The handler starts a beep (emit) and a white frame (video_emit) at the same instants.

    The offset is the flash's arrival minus the beep's at this client, per instant (negative:
    the audio comes later). It includes the server's side (emit polled at least every 20 ms,
    its audio out on the next 20 ms tick; video_emit called when a frame is due, every
    33 ms) and this client's (VP8 and Opus coding, aiortc's receive jitter buffers, whose
    audio one holds about 60 ms against the video's 35 ms). Figures: docs/performance.md,
    "Audio and video in step". A video frame made ahead of its time (the track filled two
    frames early, as a queue would) arrives about 35 ms after the beep, and fails here.
    """
    async with await RtcClient.connect(asgi_app, "t-av-flash") as client:
        client.video = VideoSink(keep=600)  # 96x128 frames: 20 s of them
        await client.start()
        schedule = av_handlers.FIRST + av_handlers.FLASHES * av_handlers.PERIOD + 1.0
        await client.wait_for_audio(seconds=schedule, timeout=30)
        frames = list(client.video.frames)
        flashes = onsets([t for t, _ in frames], [frame.mean() > 128 for _, frame in frames])
        # Audio: the arrival of each beep's first sample (frames arrive whole, every 20 ms).
        beeps, loud = [], False
        for arrived, _pts, samples in client.audio.frames:
            above = np.flatnonzero(np.abs(samples) > 3000)
            if above.size and not loud:
                beeps.append(arrived - (samples.size - above[0]) / 48000)
            loud = above.size > 0 and np.abs(samples[-48:]).max() > 3000
        assert len(flashes) == av_handlers.FLASHES, flashes
        assert len(beeps) == av_handlers.FLASHES, beeps
        offsets = [(v - a) * 1000 for v, a in zip(flashes, beeps, strict=True)]
        print(
            f"lip-sync offsets (video - audio, ms): {[round(o) for o in offsets]}, median {statistics.median(offsets):.0f}"
        )
        # Well inside lip-sync tolerance (ITU-R BT.1359: audio at most 45 ms early, 125 ms late).
        assert -90 <= statistics.median(offsets) <= 15, offsets
        assert all(-150 <= o <= 45 for o in offsets), offsets


def camera(index: int) -> np.ndarray:
    """A mid-grey 160x120 camera (RGB)."""
    return np.full((120, 160, 3), 128, dtype=np.uint8)


def border_is(frame: np.ndarray, rgb: tuple[int, int, int]) -> bool:
    """Whether the top border the call demo draws has colour ``rgb`` (VP8 shifts values a little)."""
    return bool(np.abs(frame[2, 40:120].reshape(-1, 3).mean(axis=0) - rgb).max() < 30)


async def test_the_call_demo_answers_a_voice_with_a_tone_and_draws_on_the_video(asgi_app):
    # 0.8 s of "voice" (a 200 Hz tone at -12 dBFS), then quiet: the demo's answer is two notes.
    voice = np.concatenate([np.zeros(24000), tone(200, 0.8, 48000) * 0.5, np.zeros(48000 * 10)]).astype(np.int16)
    async with await RtcClient.connect(asgi_app, "call") as client:
        await client.start(audio=ArrayAudioTrack(voice), video=ArrayVideoTrack(camera))
        video = client.video
        # The border (RGB here): green while it hears the voice, then blue while it answers.
        await client.wait_until(lambda: video.count and border_is(video.frames[-1][1], (40, 200, 80)), timeout=20)
        await client.wait_until(lambda: border_is(video.frames[-1][1], (0, 90, 255)), timeout=10)
        frame = video.frames[-1][1]
        assert np.abs(frame[60, 80].astype(int) - 128).max() < 20  # the camera's grey, inside
        # The answer: as long as the voice (0.8 s), 587 Hz then 880 Hz.
        audio = await client.wait_until(lambda: client.audio.audible_seconds() >= 0.7 and client.audio, timeout=10)
        answer = loud_part(audio.samples())
        half = answer.size // 2
        assert abs(dominant_frequency(answer[: half - 2400]) - 587) < 10
        assert abs(dominant_frequency(answer[half + 2400 :]) - 880) < 10
