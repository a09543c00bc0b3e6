"""Media the client receives, recorded with arrival times for analysis."""

from __future__ import annotations

import collections
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from rtcstream.media.audio import OUTPUT_RATE
from rtcstream.media.inbound import InboundAudio
from rtcstream.media.resampler import audio_resampler

# int16 RMS above which a frame counts as sound (about -50 dBFS).
AUDIBLE_RMS = 100.0


def _rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2)))


@dataclass
class AudioSink:
    """Everything received on an audio track: 48 kHz mono samples with arrival times."""

    RATE: ClassVar[int] = OUTPUT_RATE  # what the server sends, kept as it came
    frames: list[tuple[float, int, np.ndarray]] = field(default_factory=list)  # (arrival, pts, samples)
    ended: bool = False

    def samples(self) -> np.ndarray:
        if not self.frames:
            return np.zeros(0, dtype=np.int16)
        return np.concatenate([f[2] for f in self.frames])

    def seconds(self) -> float:
        """Seconds received, silence included (DTX pauses and lost packets filled as silence)."""
        return sum(f[2].size for f in self.frames) / self.RATE

    def audible(self, threshold: float = AUDIBLE_RMS) -> list[tuple[float, int, np.ndarray]]:
        """The frames that carry sound (RMS above ``threshold``), not the silence between replies."""
        return [f for f in self.frames if f[2].size and _rms(f[2]) > threshold]

    def audible_seconds(self, threshold: float = AUDIBLE_RMS) -> float:
        return sum(f[2].size for f in self.audible(threshold)) / self.RATE


@dataclass
class VideoSink:
    """The last frames received on a video track (bounded), and a count of all."""

    keep: int = 120
    count: int = 0
    ended: bool = False
    frames: collections.deque[tuple[float, np.ndarray]] = field(default_factory=collections.deque)

    def __post_init__(self) -> None:
        self.frames = collections.deque(self.frames, maxlen=self.keep)


async def record_audio(track: MediaStreamTrack, sink: AudioSink, notify: Callable[[], None]) -> None:
    """Record ``track`` as a browser would play it: DTX pauses and lost packets as silence (``InboundAudio``)."""
    audio = InboundAudio(track, label="Received audio")
    resampler = audio_resampler("s16", "mono", AudioSink.RATE)
    try:
        while True:
            frame = await audio.recv()
            arrived = time.monotonic()
            for out in resampler.resample(frame):
                sink.frames.append((arrived, frame.pts or 0, out.to_ndarray()[0].copy()))
            notify()
    except MediaStreamError:
        sink.ended = True
        notify()


async def record_video(track: MediaStreamTrack, sink: VideoSink, notify: Callable[[], None]) -> None:
    try:
        while True:
            frame = await track.recv()
            assert isinstance(frame, av.VideoFrame)
            sink.frames.append((time.monotonic(), frame.to_ndarray(format="rgb24")))
            sink.count += 1
            notify()
    except MediaStreamError:
        sink.ended = True
        notify()
