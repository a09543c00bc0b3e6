"""FastRTC's audio helpers, for handler code that calls them: sample formats, TTS byte streams, MP3.

Handlers get and give audio as ``(rate, samples)`` with ``samples`` int16 (or
float32) numpy arrays. Speech-to-text and text-to-speech services want other
shapes; these are the conversions FastRTC users call, with FastRTC's names and
results (``from fastrtc import audio_to_bytes`` becomes ``from rtcstream import
audio_to_bytes``):

- ``audio_to_float32`` / ``audio_to_int16``: int16 <-> float32 in [-1, 1);
- ``aggregate_bytes_to_16bit`` / ``async_aggregate_bytes_to_16bit``: a stream
  of raw PCM16 byte chunks (a TTS service's response) as (1, n) int16 arrays, a
  sample split between two chunks carried over;
- ``audio_to_bytes`` / ``audio_to_file``: an utterance as MP3 (what Whisper
  APIs accept), encoded by PyAV's FFmpeg (LAME), with no pydub or ffmpeg binary.

Two things differ from FastRTC on purpose: float32 audio given to
``audio_to_bytes`` is encoded as audio (FastRTC hands its bytes to pydub as if
they were 32-bit integers), and a rate MP3 cannot carry is resampled to the
next one it can (FastRTC's pydub would fail).
"""

from __future__ import annotations

import io
import tempfile
import warnings
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from typing import Any

import numpy as np

from rtcstream.execution.origin import site_stacklevel

MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)


def _samples(audio: Any, name: str) -> np.ndarray:
    """The array of ``audio``, which FastRTC also accepts (deprecated) as a ``(rate, samples)`` tuple."""
    if isinstance(audio, tuple):
        warnings.warn(
            UserWarning(f"Passing a (sr, audio) tuple to {name}() is deprecated: pass only the audio array."),
            stacklevel=site_stacklevel(),
        )
        _rate, audio = audio
    if not isinstance(audio, np.ndarray):
        raise TypeError(f"{name}() takes a numpy array, not {type(audio).__name__}")
    return audio


def audio_to_float32(audio: np.ndarray | tuple[int, np.ndarray]) -> np.ndarray:
    """Return int16 audio as float32 in [-1, 1) (divided by 32768); float32 audio as it is."""
    samples = _samples(audio, "audio_to_float32")
    if samples.dtype == np.int16:
        return samples.astype(np.float32) / 32768.0
    if samples.dtype == np.float32:
        return samples
    raise TypeError(f"Unsupported audio data type: {samples.dtype} (int16 or float32)")


def float32_mono(samples: np.ndarray) -> np.ndarray:
    """int16 or float32 samples, ``(n,)``, ``(1, n)`` or ``(channels, n)``, as float32 ``(n,)`` (channels averaged)."""
    floats = audio_to_float32(samples)
    return floats.reshape(-1) if floats.ndim == 1 or floats.shape[0] == 1 else floats.mean(axis=0, dtype=np.float32)


def audio_to_int16(audio: np.ndarray | tuple[int, np.ndarray]) -> np.ndarray:
    """Return float32 audio as int16 (times 32767, clipped to [-1, 1] first); int16 audio as it is."""
    samples = _samples(audio, "audio_to_int16")
    if samples.dtype == np.int16:
        return samples
    if samples.dtype == np.float32:
        from rtcstream.media.audio import to_int16  # loads PyAV: not on `import rtcstream`

        return to_int16(samples)  # the conversion a handler's own float output goes through
    raise TypeError(f"Unsupported audio data type: {samples.dtype} (int16 or float32)")


class _Pcm16:
    """Raw PCM16 bytes, chunk by chunk, as whole samples: an odd byte waits for the next chunk."""

    def __init__(self) -> None:
        self.leftover = b""

    def push(self, chunk: bytes) -> np.ndarray | None:
        data = self.leftover + bytes(chunk)
        whole = len(data) - len(data) % 2
        self.leftover = data[whole:]
        return np.frombuffer(data[:whole], dtype=np.int16).reshape(1, -1) if whole else None


def aggregate_bytes_to_16bit(chunks_iterator: Iterable[bytes]) -> Iterator[np.ndarray]:
    """Yield the (1, n) int16 samples of a stream of raw PCM16 byte chunks (little-endian, mono)."""
    pcm = _Pcm16()
    for chunk in chunks_iterator:
        if (samples := pcm.push(chunk)) is not None:
            yield samples


async def async_aggregate_bytes_to_16bit(chunks_iterator: AsyncIterable[bytes]) -> AsyncIterator[np.ndarray]:
    """``aggregate_bytes_to_16bit`` for an async stream of chunks."""
    pcm = _Pcm16()
    async for chunk in chunks_iterator:
        if (samples := pcm.push(chunk)) is not None:
            yield samples


def audio_to_bytes(audio: tuple[int, np.ndarray]) -> bytes:
    """Return ``(rate, samples)`` (int16 or float32; (n,) or (channels, n), mixed to mono) as MP3 bytes."""
    import av

    from rtcstream.media.resampler import audio_resampler

    rate, samples = audio
    samples = np.asarray(samples)
    if samples.dtype.kind == "f":
        samples = samples.astype(np.float32, copy=False)
    mono = float32_mono(samples)
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(mono, dtype=np.float32).reshape(1, -1), "flt", "mono")
    frame.sample_rate = int(rate)
    target = next((r for r in MP3_RATES if r >= rate), MP3_RATES[-1])
    out = io.BytesIO()
    with av.open(out, "w", format="mp3") as container:
        stream = container.add_stream("libmp3lame", rate=target, layout="mono")
        resampler = audio_resampler("fltp", "mono", target)
        for converted in [*resampler.resample(frame), *resampler.resample(None)]:
            for packet in stream.encode(converted):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return out.getvalue()


def audio_to_file(audio: tuple[int, np.ndarray]) -> str:
    """Write ``audio_to_bytes(audio)`` to a new temporary ``.mp3`` file (not deleted) and return its path."""
    data = audio_to_bytes(audio)
    with tempfile.NamedTemporaryFile(suffix=".mp3", delete=False) as file:
        file.write(data)
    return file.name
