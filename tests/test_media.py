"""Frame conversion, resampling, chunking and pacing, without a network."""

from __future__ import annotations

import asyncio
import math
import time

import av
import numpy as np
import pytest
from aiortc.mediastreams import MediaStreamError

from rtcstream.media.audio import FRAME_SAMPLES, InputConverter, OutputConverter, frame_samples
from rtcstream.media.errors import HandlerOutputError
from rtcstream.media.pacing import MediaClock, Pacer
from rtcstream.media.tracks import AudioOutputTrack, VideoOutputTrack
from rtcstream.media.video import MAX_SIDE, array_to_frame
from tests.handlers import tone
from tests.media_checks import dominant_frequency


def browser_frame(samples: np.ndarray) -> av.AudioFrame:
    """A decoded browser frame: 48 kHz interleaved stereo s16, 960 samples."""
    frame = av.AudioFrame.from_ndarray(np.repeat(samples, 2).reshape(1, -1), format="s16", layout="stereo")
    frame.sample_rate = 48000
    return frame


@pytest.mark.parametrize(
    ("rate", "samples"), [(8000, 160), (16000, 320), (24000, 480), (44100, 882), (48000, FRAME_SAMPLES)]
)
def test_an_audio_frame_is_20_ms_at_every_rate(rate, samples):
    assert frame_samples(rate) == samples


def test_input_converter_gives_mono_int16_at_the_handler_rate():
    converter = InputConverter(16000, "mono")
    signal = tone(500, 1.0, 48000)
    out = np.concatenate([converter.convert(browser_frame(signal[i : i + 960]))[0] for i in range(0, 48000, 960)])
    assert out.dtype == np.int16
    assert abs(out.size - 16000) < 64
    assert abs(dominant_frequency(out, 16000) - 500) < 3


@pytest.mark.parametrize("rate", [8000, 16000, 22050, 24000, 44100, 48000])
def test_output_converter_resamples_any_rate_to_48k_stereo(rate):
    converter = OutputConverter()
    signal = tone(700, 1.0, rate).astype(np.float32) / 32767
    out = np.concatenate([converter.convert((rate, signal[None, i : i + 1000])) for i in range(0, rate, 1000)])
    left = out[0::2]
    assert np.array_equal(out[0::2], out[1::2])
    assert abs(left.size - 48000) < 100
    assert abs(dominant_frequency(left) - 700) < 3


@pytest.mark.parametrize(
    ("chunk", "message"),
    [
        ("audio", "sample_rate, array"),
        ((48000, [1, 2, 3]), "numpy array"),
        ((48000, np.zeros((1, 10), dtype=np.float64) + np.nan), "NaN"),
        ((48000, np.zeros((3, 10), dtype=np.int16)), "shape"),
        ((48000, np.zeros((1, 10), dtype=np.uint8)), "int16 or float32"),
        ((0, np.zeros((1, 10), dtype=np.int16)), "sample rate"),
        ((48000, np.zeros((1, 10), dtype=np.int16), "surround"), "layout"),
    ],
)
def test_bad_audio_is_refused_with_a_clear_message(chunk, message):
    with pytest.raises(HandlerOutputError, match=message):
        OutputConverter().convert(chunk)


def test_stereo_layouts_are_accepted():
    planar = np.stack([np.ones(10, np.int16), -np.ones(10, np.int16)])
    out = OutputConverter().convert((48000, planar, "stereo"))
    assert out[:4].tolist() == [1, -1, 1, -1]


def test_video_frames_are_validated_and_cropped_to_even_sizes():
    frame = array_to_frame(np.zeros((11, 13, 3), dtype=np.uint8))
    assert (frame.width, frame.height) == (12, 10)
    with pytest.raises(HandlerOutputError, match="uint8"):
        array_to_frame(np.zeros((10, 10, 3), dtype=np.float32))
    with pytest.raises(HandlerOutputError, match="shape"):
        array_to_frame(np.zeros((10, 10), dtype=np.uint8))


@pytest.mark.parametrize("mime", ["video/VP8", "video/H264"])
def test_the_widest_and_highest_frame_allowed_is_one_each_video_encoder_takes(mime):
    from fractions import Fraction

    from aiortc.codecs import get_encoder
    from aiortc.rtcrtpparameters import RTCRtpCodecParameters

    encoder = get_encoder(RTCRtpCodecParameters(mimeType=mime, clockRate=90000, payloadType=96))
    for shape in [(2, MAX_SIDE, 3), (MAX_SIDE, 2, 3)]:
        frame = array_to_frame(np.zeros(shape, dtype=np.uint8))
        frame.pts, frame.time_base = 0, Fraction(1, 90000)
        assert encoder.encode(frame)[0], shape
    for shape in [(2, MAX_SIDE + 1, 3), (MAX_SIDE + 1, 2, 3)]:
        with pytest.raises(HandlerOutputError, match=f"2 to {MAX_SIDE} pixels"):
            array_to_frame(np.zeros(shape, dtype=np.uint8))
    odd = array_to_frame(av.VideoFrame(MAX_SIDE, 3, "yuv420p"))  # a handler's own VideoFrame
    assert (odd.width, odd.height) == (MAX_SIDE - 1, 2)
    odd.pts, odd.time_base = 0, Fraction(1, 90000)
    assert encoder.encode(odd)[0]
    with pytest.raises(HandlerOutputError, match=f"not {MAX_SIDE + 3}x2"):
        array_to_frame(av.VideoFrame(MAX_SIDE + 3, 2, "yuv420p"))
    with pytest.raises(HandlerOutputError, match="not 1x1"):
        array_to_frame(av.VideoFrame(1, 1, "yuv420p"))


async def test_pacer_follows_the_clock_and_resyncs_after_a_gap():
    pacer = Pacer(0.01)
    start = time.monotonic()
    for _ in range(20):
        await pacer.next()
    assert 0.17 < time.monotonic() - start < 0.4
    await asyncio.sleep(0.3)  # the gap under test: nothing to send for 0.3 s
    index = await pacer.next()
    assert index >= 45  # the frames the gap held were skipped, not burst out


async def test_a_pacer_lead_is_due_at_once_at_the_start_and_after_each_gap(monkeypatch):
    """What a websocket transport sends at the start of a reply: 100 ms at once, then real time."""
    from types import SimpleNamespace

    from rtcstream.media import pacing

    clock = SimpleNamespace(now=100.0, slept=[])

    async def sleep(seconds: float) -> None:
        clock.slept.append(round(seconds, 6))
        clock.now += seconds

    monkeypatch.setattr(pacing, "time", SimpleNamespace(monotonic=lambda: clock.now))
    monkeypatch.setattr(pacing, "asyncio", SimpleNamespace(sleep=sleep))
    pacer = Pacer(0.02, lead=0.1)
    for _ in range(9):
        await pacer.next()
    assert clock.slept == [0.0] * 5 + [0.02] * 3  # the first frame, 5 of lead, then one every 20 ms
    clock.now += 0.5  # nothing to send for a while
    clock.slept.clear()
    for _ in range(9):
        await pacer.next()
    assert clock.slept[:4] == [0.0] * 4 and clock.slept[-2:] == [0.02, 0.02]
    assert Pacer(0.02).lead == 0.0  # WebRTC's: none


async def test_audio_track_pads_partial_frames_and_ends_after_playout():
    track = AudioOutputTrack(max_buffer=1.0)
    await track.put((48000, tone(440, 0.05, 48000)))  # 2.5 frames
    track.end()
    frames = [await track.recv() for _ in range(3)]
    assert [f.samples for f in frames] == [FRAME_SAMPLES] * 3
    assert [f.pts for f in frames] == [0, 960, 1920]
    assert not frames[2].to_ndarray()[0][-960:].any()  # the padding is silence
    with pytest.raises(MediaStreamError):
        await track.recv()


async def test_audio_track_applies_backpressure_and_clear_drops_the_queue():
    track = AudioOutputTrack(max_buffer=0.2)
    await track.put((48000, tone(440, 0.3, 48000)))
    blocked = asyncio.ensure_future(track.put((48000, tone(440, 0.1, 48000))))
    await asyncio.sleep(0.05)
    assert not blocked.done()  # 0.3 s queued > 0.2 s: the producer waits
    assert track.busy()
    assert abs(track.clear() - 0.3) < 0.01
    await asyncio.wait_for(blocked, 1)
    # The waiting chunk was produced before the barge-in: it is dropped too, not played after it.
    assert track.buffered_seconds == 0 and not track.busy()
    await track.put((48000, tone(440, 0.1, 48000)))  # what comes after the clear is queued
    assert abs(track.buffered_seconds - 0.1) < 0.01
    track.stop()


async def test_video_track_keeps_only_the_newest_frame():
    track = VideoOutputTrack()
    for value in (10, 20, 30):
        track.offer(array_to_frame(np.full((16, 16, 3), value, dtype=np.uint8)))
    frame = await asyncio.wait_for(track.recv(), 1)
    assert frame.to_ndarray(format="rgb24").mean() == pytest.approx(30, abs=2)
    track.stop()


async def test_pacers_on_one_clock_share_its_start():
    clock = MediaClock()
    audio, video = Pacer(0.02, clock=clock), Pacer(0.05, clock=clock)
    assert await audio.next() == 0  # the first track to send starts the clock
    assert clock.origin is not None
    await asyncio.sleep(0.07)
    before = time.monotonic() - clock.origin
    index = await video.next()
    # The other track's first frame is the next one due on the shared timeline, not frame 0 now.
    assert index in (math.ceil(before / 0.05), math.ceil(before / 0.05) + 1), (before, index)
    assert time.monotonic() >= clock.origin + index * 0.05


async def test_video_track_wants_a_frame_only_when_one_is_due_and_none_is_waiting():
    track = VideoOutputTrack(fps=50)
    wanted = asyncio.ensure_future(track.wanted())
    for _ in range(5):
        await asyncio.sleep(0)
    assert not wanted.done()  # nobody asked for a frame yet
    receiving = asyncio.ensure_future(track.recv())
    await asyncio.wait_for(wanted, 1)  # recv is due and the slot is empty: make one now
    track.offer(array_to_frame(np.full((16, 16, 3), 200, dtype=np.uint8)))
    frame = await asyncio.wait_for(receiving, 1)
    assert frame.to_ndarray(format="rgb24").mean() == pytest.approx(200, abs=2)
    track.stop()
