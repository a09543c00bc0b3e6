"""``InboundAudio``: the incoming audio handlers hear is continuous (gaps become silence) and bounded.

The track is aiortc's own ``RemoteStreamTrack``, fed as its decoder feeds it.
"""

from __future__ import annotations

import asyncio
import time
from fractions import Fraction

import av
import numpy as np
import pytest
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcrtpreceiver import RemoteStreamTrack

from rtcstream.media.inbound import FRAME_SECONDS, OVERDUE, InboundAudio

SAMPLES = 960  # 20 ms at 48 kHz, as aiortc decodes Opus


def decoded(pts: int, value: int = 1000) -> av.AudioFrame:
    """A frame as aiortc's Opus decoder gives it: 48 kHz interleaved stereo s16, pts in samples."""
    frame = av.AudioFrame.from_ndarray(np.full((1, 2 * SAMPLES), value, np.int16), format="s16", layout="stereo")
    frame.sample_rate = 48000
    frame.time_base = Fraction(1, 48000)
    frame.pts = pts
    return frame


def is_silence(frame: av.AudioFrame) -> bool:
    return not np.any(frame.to_ndarray())


async def take(audio: InboundAudio, count: int, timeout: float = 5.0) -> list[av.AudioFrame]:
    async with asyncio.timeout(timeout):
        return [await audio.recv() for _ in range(count)]


async def started() -> tuple[RemoteStreamTrack, InboundAudio]:
    """A track whose first frame (pts 0) has been given."""
    track = RemoteStreamTrack(kind="audio")
    audio = InboundAudio(track)
    track._queue.put_nowait(decoded(0))
    await take(audio, 1)
    return track, audio


async def test_frames_on_time_pass_through_untouched():
    track = RemoteStreamTrack(kind="audio")
    audio = InboundAudio(track)
    frames = [decoded(i * SAMPLES) for i in range(5)]
    for frame in frames:
        track._queue.put_nowait(frame)
    assert await take(audio, 5) == frames
    assert audio.samples_filled == 0


async def test_a_lost_packet_becomes_silence_of_its_length_in_place():
    track = RemoteStreamTrack(kind="audio")
    audio = InboundAudio(track)
    for pts in (0, SAMPLES, 3 * SAMPLES):  # the packet at 2 * SAMPLES never came
        track._queue.put_nowait(decoded(pts))
    first, second, hole, after = await take(audio, 4)
    assert not is_silence(first) and not is_silence(second)
    assert is_silence(hole) and hole.samples == SAMPLES and hole.pts == 2 * SAMPLES
    assert hole.format.name == "s16" and hole.layout.name == "stereo" and hole.sample_rate == 48000
    assert after.pts == 3 * SAMPLES and not is_silence(after)


async def test_a_silent_sender_is_heard_as_silence_on_the_clock_until_it_speaks_again():
    """Opus DTX: packets stop; the handler keeps hearing 20 ms of silence every 20 ms."""
    loop = asyncio.get_running_loop()
    track, audio = await started()
    begun = loop.time()
    filled = await take(audio, 10)  # no packet arrives: only the clock can give these
    elapsed = loop.time() - begun
    assert all(is_silence(frame) for frame in filled)
    assert [frame.pts for frame in filled] == [SAMPLES * (i + 1) for i in range(10)]
    # Silence comes no faster than real time: ten frames take at least their own length.
    assert elapsed >= 10 * FRAME_SECONDS - 0.005
    # The sender speaks again; its timestamp says how long the pause was.
    pause = round((loop.time() - begun) * 48000) // SAMPLES * SAMPLES + 20 * SAMPLES
    speech = decoded(pause)
    track._queue.put_nowait(speech)
    given = []
    async with asyncio.timeout(5):
        while not given or given[-1] is not speech:
            given.append(await audio.recv())
    assert all(is_silence(frame) for frame in given[:-1])
    # The timeline stays whole: silence up to the speech's first sample, none after it.
    ends = [frame.pts + frame.samples for frame in filled + given[:-1]]
    assert ends == sorted(ends) and ends[-1] <= pause


async def test_a_timestamp_jump_adds_no_more_silence_than_the_time_it_took():
    track = RemoteStreamTrack(kind="audio")
    audio = InboundAudio(track)
    track._queue.put_nowait(decoded(0))
    hour = 3600 * 48000
    track._queue.put_nowait(decoded(hour))
    given = []
    async with asyncio.timeout(5):
        while not given or given[-1].pts != hour:
            given.append(await audio.recv())
    silence = sum(frame.samples for frame in given[1:-1])
    assert silence <= (FRAME_SECONDS + OVERDUE) * 48000
    assert audio.samples_filled == silence


async def test_a_frame_arriving_after_its_time_was_filled_is_still_given():
    loop = asyncio.get_running_loop()
    track, audio = await started()
    await take(audio, 6)  # silence stands in for frames 1..6
    late = decoded(SAMPLES)
    track._queue.put_nowait(late)
    deadline = loop.time() + 5
    while (frame := await audio.recv()) is not late:
        assert is_silence(frame) and loop.time() < deadline


async def test_the_end_of_the_track_ends_the_stream_even_in_a_gap():
    track, audio = await started()
    await take(audio, 2)  # two frames of silence
    track._queue.put_nowait(None)  # aiortc's receiver stopped
    with pytest.raises(MediaStreamError):
        async with asyncio.timeout(5):
            while True:
                await audio.recv()


async def test_a_backlog_past_the_bound_loses_its_oldest_frames_and_says_so(caplog):
    track = RemoteStreamTrack(kind="audio")
    audio = InboundAudio(track, label="Session s1", max_backlog=10)
    for i in range(30):
        track._queue.put_nowait(decoded(i * SAMPLES, value=i + 1))
    first = await audio.recv()
    assert audio.frames_dropped == 25  # 30 queued, cut to 5, then one taken
    assert first.to_ndarray()[0, 0] == 26  # the newest five are kept, oldest first
    assert "Session s1: the handler is slower than real time; dropped 25 input frames" in caplog.text


async def test_a_stall_of_the_server_itself_is_not_heard_as_a_pause():
    """The event loop stops for half a second while the sender keeps talking: its frames wait upstream
    (here two queues before the track's, as a websocket frame waits in the inbox and the consumer).
    Silence for the whole stall would be a pause the speaker never made, which ends a turn mid-sentence."""
    track = RemoteStreamTrack(kind="audio")
    audio = InboundAudio(track)
    sent, relayed = asyncio.Queue(), asyncio.Queue()
    loop = asyncio.get_running_loop()

    async def speak() -> None:
        begun = loop.time()
        for i in range(100):  # two seconds of speech, paced by the clock
            await asyncio.sleep(max(0.0, begun + i * FRAME_SECONDS - loop.time()))
            sent.put_nowait(decoded(i * SAMPLES))

    async def relay(source: asyncio.Queue, target: asyncio.Queue) -> None:
        while True:
            target.put_nowait(await source.get())

    tasks = [
        asyncio.create_task(speak()),
        asyncio.create_task(relay(sent, relayed)),
        asyncio.create_task(relay(relayed, track._queue)),
    ]
    loop.call_later(0.5, time.sleep, 0.5)  # the stall
    heard = silence = 0
    try:
        async with asyncio.timeout(10):
            while heard < 100:
                frame = await audio.recv()
                if is_silence(frame):
                    silence += frame.samples
                else:
                    heard += 1
    finally:
        for task in tasks:
            task.cancel()
    assert silence / 48000 < 0.15, f"{silence / 48000:.3f} s of silence in the speech"
