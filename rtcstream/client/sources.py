"""Media the client sends: paced audio from arrays or files, and generated video."""

from __future__ import annotations

import asyncio
import fractions
import time
from collections.abc import Callable

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack


class ArrayAudioTrack(MediaStreamTrack):
    """Send ``samples`` (int16 mono) in paced 20 ms frames, then silence (or loop)."""

    kind = "audio"

    def __init__(self, samples: np.ndarray, sample_rate: int = 48000, *, loop: bool = False) -> None:
        super().__init__()
        self.samples = np.asarray(samples, dtype=np.int16).reshape(-1)
        self.sample_rate = sample_rate
        self.loop = loop
        self.frame_samples = sample_rate // 50
        self.position = 0
        self.started_at: float | None = None

    def play(self, samples: np.ndarray) -> None:
        """Replace what is sent from now on (the rest of the old samples is dropped)."""
        self.samples = np.asarray(samples, dtype=np.int16).reshape(-1)
        self.position = 0

    def elapsed(self) -> float:
        """Seconds of audio sent since the first frame."""
        return 0.0 if self.started_at is None else time.monotonic() - self.started_at

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self.started_at is None:
            self.started_at = time.monotonic()
            self._sent = 0
        else:
            self._sent += self.frame_samples
            await asyncio.sleep(max(0.0, self.started_at + self._sent / self.sample_rate - time.monotonic()))
        n = self.frame_samples
        chunk = self.samples[self.position : self.position + n]
        self.position += n
        if self.loop and self.position >= self.samples.size:
            self.position = 0
        if chunk.size < n:
            chunk = np.concatenate([chunk, np.zeros(n - chunk.size, dtype=np.int16)])
        frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = self.sample_rate
        frame.pts = self._sent
        frame.time_base = fractions.Fraction(1, self.sample_rate)
        return frame


def read_audio_file(path: str, sample_rate: int = 48000) -> np.ndarray:
    """Decode any audio file PyAV reads into int16 mono at ``sample_rate``."""
    resampler = av.AudioResampler(format="s16", layout="mono", rate=sample_rate)
    parts = []
    with av.open(path) as container:
        for frame in container.decode(audio=0):
            parts += [f.to_ndarray()[0] for f in resampler.resample(frame)]
    parts += [f.to_ndarray()[0] for f in resampler.resample(None)]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)


class ArrayVideoTrack(MediaStreamTrack):
    """Send RGB frames made by ``make_frame(index)`` at ``fps``, paced."""

    kind = "video"

    def __init__(self, make_frame: Callable[[int], np.ndarray], fps: float = 30.0) -> None:
        super().__init__()
        self.make_frame = make_frame
        self.fps = fps
        self.index = -1
        self.started_at: float | None = None
        self.sent_at: dict[int, float] = {}

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        self.index += 1
        if self.started_at is None:
            self.started_at = time.monotonic()
        await asyncio.sleep(max(0.0, self.started_at + self.index / self.fps - time.monotonic()))
        frame = av.VideoFrame.from_ndarray(self.make_frame(self.index), format="rgb24")
        frame.pts = int(self.index * 90000 / self.fps)
        frame.time_base = fractions.Fraction(1, 90000)
        return frame
