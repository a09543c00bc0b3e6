"""FastRTC's audio helpers under their names (rtcstream.handlers.audio_helpers, rtcstream.handlers.queues):
what a handler gets back from each, checked against the samples themselves (MP3 decoded again with PyAV)."""

from __future__ import annotations

import asyncio
import io
import os

import av
import numpy as np
import pytest

from rtcstream import (
    aggregate_bytes_to_16bit,
    async_aggregate_bytes_to_16bit,
    audio_to_bytes,
    audio_to_file,
    audio_to_float32,
    audio_to_int16,
    wait_for_item,
)


def sine(rate: int, seconds: float, amplitude: float = 0.5, hz: float = 440.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def decode(mp3: bytes) -> tuple[int, np.ndarray]:
    with av.open(io.BytesIO(mp3)) as container:
        stream = container.streams.audio[0]
        frames = [frame.to_ndarray().reshape(-1) for frame in container.decode(stream)]
        return stream.rate, np.concatenate(frames)


def test_int16_and_float32_convert_both_ways():
    pcm = np.array([[-32768, -16384, 0, 16384, 32767]], dtype=np.int16)
    floats = audio_to_float32(pcm)
    assert floats.dtype == np.float32 and floats.shape == (1, 5)
    assert floats.tolist() == [[-1.0, -0.5, 0.0, 0.5, 32767 / 32768]]
    assert audio_to_float32(floats) is floats
    back = audio_to_int16(floats)
    assert back.dtype == np.int16 and np.abs(back.astype(int) - pcm).max() <= 1
    assert audio_to_int16(pcm) is pcm
    # Out of range floats are clipped, not wrapped round.
    assert audio_to_int16(np.array([1.5, -1.5], dtype=np.float32)).tolist() == [32767, -32767]
    with pytest.raises(TypeError, match="int16 or float32"):
        audio_to_float32(np.zeros(3, dtype=np.int32))
    with pytest.warns(UserWarning, match="deprecated") as seen:
        assert audio_to_float32((16000, pcm)).dtype == np.float32  # FastRTC's older form
    assert seen[0].filename == __file__  # the warning names the site's line, not rtcstream's


def test_byte_chunks_become_whole_samples_with_a_split_sample_carried_over():
    samples = np.arange(-5, 6, dtype=np.int16) * 1000
    data = samples.tobytes()
    chunks = [data[:3], data[3:4], data[4:11], data[11:]]  # cuts inside samples
    out = list(aggregate_bytes_to_16bit(chunks))
    assert all(a.shape[0] == 1 and a.dtype == np.int16 for a in out)
    assert np.concatenate(out, axis=1)[0].tolist() == samples.tolist()

    async def stream():
        for chunk in chunks:
            yield chunk

    async def collect():
        return [a async for a in async_aggregate_bytes_to_16bit(stream())]

    assert np.concatenate(asyncio.run(collect()), axis=1)[0].tolist() == samples.tolist()


@pytest.mark.parametrize("dtype", ["int16", "float32"])
def test_audio_to_bytes_is_an_mp3_of_the_same_sound(dtype):
    tone = sine(16000, 1.0)
    samples = audio_to_int16(tone).reshape(1, -1) if dtype == "int16" else tone
    rate, decoded = decode(audio_to_bytes((16000, samples)))
    assert rate == 16000
    assert abs(len(decoded) - 16000) < 1200  # the encoder's padding, at most a frame or so
    rms = float(np.sqrt(np.mean(decoded[2000:-2000] ** 2)))
    assert rms == pytest.approx(0.5 / np.sqrt(2), rel=0.1)  # float32 encoded as sound, not as integers (MP3: -0.5 dB)
    spectrum = np.abs(np.fft.rfft(decoded[:16000] if len(decoded) >= 16000 else decoded))
    peak_hz = np.argmax(spectrum) * 16000 / (2 * (len(spectrum) - 1))
    assert abs(peak_hz - 440) < 5


def test_stereo_is_mixed_to_mono_and_a_rate_mp3_lacks_is_resampled():
    left, right = sine(17000, 0.5, 0.4), sine(17000, 0.5, 0.2)
    rate, decoded = decode(audio_to_bytes((17000, np.stack([left, right]))))
    assert rate == 22050  # the next rate MP3 carries
    assert abs(len(decoded) / rate - 0.5) < 0.08
    assert float(np.sqrt(np.mean(decoded[2000:-2000] ** 2))) == pytest.approx(0.3 / np.sqrt(2), rel=0.1)


def test_audio_to_file_writes_the_mp3_and_leaves_it():
    path = audio_to_file((24000, audio_to_int16(sine(24000, 0.3))))
    try:
        assert path.endswith(".mp3")
        with open(path, "rb") as file:
            assert decode(file.read())[0] == 24000
    finally:
        os.unlink(path)


async def test_wait_for_item_returns_an_item_or_none_after_the_timeout():
    queue: asyncio.Queue[int] = asyncio.Queue()
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await wait_for_item(queue, timeout=0.05) is None
    assert loop.time() - started >= 0.05
    queue.put_nowait(7)
    assert await wait_for_item(queue) == 7
    assert queue.empty()
