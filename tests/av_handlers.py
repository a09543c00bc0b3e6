"""Audio-video handlers the test suite registers (tests/settings.py "t-av-..." entries)."""

from __future__ import annotations

import collections
import threading
import time

import numpy as np

from rtcstream import AdditionalOutputs, AsyncAudioVideoStreamHandler, AudioVideoStreamHandler
from tests.handlers import TracedFrame


def mark_blue(frame: np.ndarray) -> np.ndarray:
    """The processing under test: channel 0 (blue in BGR) full, the others kept."""
    out = frame.copy()
    out[..., 0] = 255
    return out


def channel_means(frame: np.ndarray) -> AdditionalOutputs:
    return AdditionalOutputs([round(float(c)) for c in frame.reshape(-1, 3).mean(axis=0)])


class AVEcho(AudioVideoStreamHandler):
    """Audio back as it came; video back with channel 0 (blue, in BGR) full. The first frame's
    channel means go to the page, so a test sees the order the handler got."""

    def __init__(self) -> None:
        super().__init__(fps=30)
        self.audio: collections.deque = collections.deque(maxlen=50)
        self.frame: np.ndarray | None = None
        self.reported = False
        self.lock = threading.Lock()

    def receive(self, frame):
        self.audio.append(frame)

    def emit(self):
        return self.audio.popleft() if self.audio else None

    def video_receive(self, frame):
        with self.lock:
            self.frame = frame

    def video_emit(self):
        with self.lock:
            frame, self.frame = self.frame, None
        if frame is None:
            return None  # no new camera frame yet: nothing is sent
        if not self.reported:
            self.reported = True
            return mark_blue(frame), channel_means(frame)
        return mark_blue(frame)

    def copy(self):
        return AVEcho()


class AsyncAVEcho(AsyncAudioVideoStreamHandler):
    """The async twin of AVEcho."""

    def __init__(self) -> None:
        super().__init__(fps=30)
        self.audio: collections.deque = collections.deque(maxlen=50)
        self.frame: np.ndarray | None = None
        self.reported = False

    async def receive(self, frame):
        self.audio.append(frame)

    async def emit(self):
        return self.audio.popleft() if self.audio else None

    async def video_receive(self, frame):
        self.frame = frame

    async def video_emit(self):
        frame, self.frame = self.frame, None
        if frame is None:
            return None
        if not self.reported:
            self.reported = True
            return mark_blue(frame), channel_means(frame)
        return mark_blue(frame)

    def copy(self):
        return AsyncAVEcho()


class AsyncAVTraced(AsyncAVEcho):
    """AsyncAVEcho whose frames are TracedFrames: which thread makes them VideoFrames shows."""

    async def video_emit(self):
        frame, self.frame = self.frame, None
        return None if frame is None else mark_blue(frame).view(TracedFrame)

    def copy(self):
        return AsyncAVTraced()


# The lip-sync test's schedule: a flash and a beep every PERIOD seconds, FLASHES times,
# the first FIRST seconds after start_up; each lasts BEEP seconds.
FIRST, PERIOD, FLASHES, BEEP = 1.0, 0.6, 8, 0.2
BEEP_HZ = 1000
SIZE = (96, 128)


class FlashBeep(AudioVideoStreamHandler):
    """At each instant of the schedule, ``emit`` starts a 1 kHz beep and ``video_emit`` a white
    frame, both decided from one monotonic clock: the same instant for both media."""

    def __init__(self) -> None:
        super().__init__(output_sample_rate=48000, fps=30)
        self.start = 0.0
        self.beeped = 0  # instants whose beep has been emitted
        t = np.arange(int(48000 * BEEP)) / 48000
        self.beep = (np.sin(2 * np.pi * BEEP_HZ * t) * 12000).astype(np.int16).reshape(1, -1)
        self.black = np.zeros((*SIZE, 3), dtype=np.uint8)
        self.white = np.full((*SIZE, 3), 255, dtype=np.uint8)

    def start_up(self):
        self.start = time.monotonic()

    def _instants_passed(self) -> int:
        elapsed = time.monotonic() - self.start - FIRST
        return 0 if elapsed < 0 else min(FLASHES, int(elapsed / PERIOD) + 1)

    def receive(self, frame):
        pass

    def emit(self):
        if self.start and self._instants_passed() > self.beeped:
            self.beeped = self._instants_passed()
            return 48000, self.beep
        return None

    def video_emit(self):
        if not self.start:
            return self.black
        elapsed = time.monotonic() - self.start - FIRST
        flashing = 0 <= elapsed < FLASHES * PERIOD and elapsed % PERIOD < BEEP
        return self.white if flashing else self.black

    def video_receive(self, frame):
        pass

    def copy(self):
        return FlashBeep()
