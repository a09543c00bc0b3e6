"""Media the client sends: paced audio from arrays or files, and generated video."""

from __future__ import annotations

import asyncio
import fractions
import time
from collections.abc import Callable

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from rtcstream.media.audio import frame_samples
from rtcstream.media.resampler import audio_resampler


class ArrayAudioTrack(MediaStreamTrack):
    """Send ``samples`` (int16 mono) in paced 20 ms frames, then silence (or loop).

    With ``dtx=True`` it sends as a browser asked for Opus DTX does: after
    ``DTX_HANGOVER`` frames of digital silence, one frame in ``DTX_INTERVAL``
    (a packet every 400 ms) until there is sound again; the timestamps of the
    frames sent still count the time skipped.
    """

    kind = "audio"
    DTX_HANGOVER = 10  # silent frames sent before DTX starts (libopus: 200 ms)
    DTX_INTERVAL = 20  # while in DTX, one frame sent in this many (400 ms)

    def __init__(self, samples: np.ndarray, sample_rate: int = 48000, *, loop: bool = False, dtx: bool = False) -> None:
        super().__init__()
        self.samples = np.asarray(samples, dtype=np.int16).reshape(-1)
        self.sample_rate = sample_rate
        self.loop = loop
        self.dtx = dtx
        self.frame_samples = frame_samples(sample_rate)
        self.position = 0
        self.started_at: float | None = None
        self.frames_skipped = 0
        self._silent = 0  # consecutive silent frames

    def play(self, samples: np.ndarray) -> None:
        """Replace what is sent from now on (the rest of the old samples is dropped)."""
        self.samples = np.asarray(samples, dtype=np.int16).reshape(-1)
        self.position = 0

    def elapsed(self) -> float:
        """Seconds of audio sent since the first frame."""
        return 0.0 if self.started_at is None else time.monotonic() - self.started_at

    async def recv(self) -> av.AudioFrame:
        while True:
            if self.readyState != "live":
                raise MediaStreamError
            chunk = await self._next_chunk()
            if not self._skipped_by_dtx(chunk):
                break
        frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = self.sample_rate
        frame.pts = self._sent
        frame.time_base = fractions.Fraction(1, self.sample_rate)
        return frame

    async def _next_chunk(self) -> np.ndarray:
        """The next 20 ms of ``samples``, when its time comes."""
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
        return chunk

    def _skipped_by_dtx(self, chunk: np.ndarray) -> bool:
        if not self.dtx:
            return False
        self._silent = 0 if chunk.any() else self._silent + 1
        in_dtx = self._silent > self.DTX_HANGOVER
        skip = in_dtx and (self._silent - self.DTX_HANGOVER) % self.DTX_INTERVAL != 0
        self.frames_skipped += skip
        return skip


def read_audio_file(path: str, sample_rate: int = 48000) -> np.ndarray:
    """Decode any audio file PyAV reads into int16 mono at ``sample_rate``."""
    resampler = audio_resampler("s16", "mono", sample_rate)
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
