"""The server's outgoing tracks: paced audio from a bounded buffer, and video from a one-frame slot."""

from __future__ import annotations

import asyncio
import collections
import fractions
import time
from typing import Any

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from .audio import FRAME_SAMPLES, OUTPUT_RATE, OutputConverter, make_frame
from .pacing import Pacer
from .video import array_to_frame

AUDIO_PTIME = FRAME_SAMPLES / OUTPUT_RATE
VIDEO_CLOCK = 90000
VIDEO_TIME_BASE = fractions.Fraction(1, VIDEO_CLOCK)


class AudioOutputTrack(MediaStreamTrack):
    """Audio that handlers write in chunks of any size and rate, played in real time.

    ``put`` converts a chunk to 48 kHz stereo and waits while more than
    ``max_buffer`` seconds are queued, so a generator never runs far ahead of
    playback. ``recv`` hands aiortc one 20 ms frame when it is due; while
    nothing is queued it waits (no RTP is sent), and a chunk that ends inside a
    frame is padded with silence only once the frame is due.
    """

    kind = "audio"

    def __init__(self, max_buffer: float = 0.5) -> None:
        super().__init__()
        self.max_buffer = max_buffer
        self._chunks: collections.deque[np.ndarray] = collections.deque()
        self._queued = 0  # interleaved samples in _chunks
        self._converter = OutputConverter()
        self._changed = asyncio.Event()
        self._ended = False
        self._pacer = Pacer(AUDIO_PTIME)
        self.frames_sent = 0

    @property
    def buffered_seconds(self) -> float:
        return self._queued / 2 / OUTPUT_RATE

    def busy(self) -> bool:
        """True while audio is queued for playback."""
        return self._queued > 0

    async def put(self, chunk: Any) -> None:
        """Queue one handler chunk ``(rate, array[, layout])``; wait while the buffer is full."""
        samples = self._converter.convert(chunk)
        while self.buffered_seconds >= self.max_buffer and self.readyState == "live":
            self._changed.clear()
            await self._changed.wait()
        if self.readyState != "live" or self._ended:
            return
        if samples.size:
            self._chunks.append(samples)
            self._queued += samples.size
            self._changed.set()

    def clear(self) -> float:
        """Drop everything queued (barge-in); return how many seconds were dropped."""
        dropped = self.buffered_seconds
        self._chunks.clear()
        self._queued = 0
        self._converter.reset()
        self._changed.set()
        return dropped

    def end(self) -> None:
        """Finish after the queued audio has played: ``recv`` then ends the track."""
        self._ended = True
        self._changed.set()

    def stop(self) -> None:
        super().stop()
        self._changed.set()

    def _take(self, wanted: int) -> np.ndarray:
        parts, taken = [], 0
        while self._chunks and taken < wanted:
            head = self._chunks[0]
            need = wanted - taken
            if head.size <= need:
                parts.append(self._chunks.popleft())
                taken += head.size
            else:
                parts.append(head[:need])
                self._chunks[0] = head[need:]
                taken += need
        self._queued -= taken
        self._changed.set()
        out = np.concatenate(parts) if len(parts) != 1 else parts[0]
        if out.size < wanted:
            out = np.concatenate([out, np.zeros(wanted - out.size, dtype=np.int16)])
        return out

    async def _wait_for_data(self) -> None:
        wanted = FRAME_SAMPLES * 2
        while self.readyState == "live":
            if self._queued >= wanted or (self._queued and self._ended):
                return
            if self._queued == 0 and self._ended:
                return
            self._changed.clear()
            if self._queued:
                # A partial frame: wait for more until this frame is due, then pad it.
                timeout = self._pacer.due() - time.monotonic()
                if timeout <= 0:
                    return
                try:
                    async with asyncio.timeout(timeout):
                        await self._changed.wait()
                except TimeoutError:
                    return
            else:
                await self._changed.wait()

    async def recv(self) -> av.AudioFrame:
        await self._wait_for_data()
        if self.readyState != "live" or (self._queued == 0 and self._ended):
            self.stop()
            raise MediaStreamError
        index = await self._pacer.next()
        self.frames_sent += 1
        return make_frame(self._take(FRAME_SAMPLES * 2), index * FRAME_SAMPLES)


class VideoOutputTrack(MediaStreamTrack):
    """Video from a one-frame slot: the newest frame wins, stale ones are dropped.

    With ``fps`` set (generated video) ``recv`` paces frames at that rate and
    ``put`` waits until the previous frame was taken; without it (processed
    camera video) frames go out as soon as they are ready.
    """

    kind = "video"

    def __init__(self, fps: float | None = None) -> None:
        super().__init__()
        self._slot: av.VideoFrame | None = None
        self._changed = asyncio.Event()
        self._ended = False
        self._pacer = Pacer(1 / fps) if fps else None
        self._start: float | None = None
        self.frames_sent = 0

    def offer(self, frame: Any) -> None:
        """Replace the slot with ``frame`` (a BGR array or a VideoFrame); never waits."""
        self._slot = frame if isinstance(frame, av.VideoFrame) else array_to_frame(frame)
        self._changed.set()

    async def put(self, frame: Any) -> None:
        """Wait until the slot is free, then fill it (backpressure for generators)."""
        converted = frame if isinstance(frame, av.VideoFrame) else array_to_frame(frame)
        while self._slot is not None and self.readyState == "live":
            self._changed.clear()
            await self._changed.wait()
        self._slot = converted
        self._changed.set()

    def end(self) -> None:
        self._ended = True
        self._changed.set()

    def stop(self) -> None:
        super().stop()
        self._changed.set()

    async def recv(self) -> av.VideoFrame:
        if self._pacer is not None:
            await self._pacer.next()
        while self._slot is None and self.readyState == "live" and not self._ended:
            self._changed.clear()
            await self._changed.wait()
        if self._slot is None:
            self.stop()
            raise MediaStreamError
        frame, self._slot = self._slot, None
        self._changed.set()
        now = time.monotonic()
        if self._start is None:
            self._start = now
        frame.pts = int((now - self._start) * VIDEO_CLOCK)
        frame.time_base = VIDEO_TIME_BASE
        self.frames_sent += 1
        return frame
