"""An incoming audio track fed by pushes: frames that came over a websocket, not RTP.

The runner reads it like aiortc's remote track, through ``InboundAudio``
(``rtcstream.media.inbound``), which fills the moments no frame came with
silence: a client that sends nothing while its user is silent, or a network
stall, still gives the handler a continuous stream.

**Bounded.** A handler slower than real time cannot grow memory: past
``capacity`` frames waiting, the oldest is dropped, counted and logged.
"""

from __future__ import annotations

import asyncio
import collections
import logging

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from rtcstream.media.inbound import MAX_BACKLOG
from rtcstream.media.reframe import mono_frame

logger = logging.getLogger("rtcstream.media")


class PushedAudioTrack(MediaStreamTrack):
    """Mono int16 frames at ``rate``, in the order pushed; their timestamps count the samples pushed."""

    kind = "audio"

    def __init__(self, rate: int, *, capacity: int = MAX_BACKLOG, label: str = "Incoming audio") -> None:
        super().__init__()
        self.rate = rate
        self.capacity = capacity
        self.frames_dropped = 0
        self._label = label
        self._frames: collections.deque[np.ndarray] = collections.deque()
        self._arrived = asyncio.Event()
        self._pts = 0

    def push(self, samples: np.ndarray) -> None:
        """Queue one frame (from the loop); the oldest waiting frame is dropped when ``capacity`` wait."""
        if self.readyState != "live":
            return
        if len(self._frames) >= self.capacity:
            self._frames.popleft()
            self.frames_dropped += 1
            if self.frames_dropped == 1 or self.frames_dropped % self.capacity == 0:
                logger.warning(
                    "%s: the handler is slower than real time; dropped input frames (%d so far)",
                    self._label,
                    self.frames_dropped,
                )
        self._frames.append(samples)
        self._arrived.set()

    def stop(self) -> None:
        super().stop()
        self._arrived.set()

    async def recv(self) -> av.AudioFrame:
        while not self._frames:
            if self.readyState != "live":
                raise MediaStreamError
            self._arrived.clear()
            await self._arrived.wait()
        if self.readyState != "live":
            raise MediaStreamError
        samples = self._frames.popleft()
        frame = mono_frame(samples, self.rate, self._pts)
        self._pts += samples.size
        return frame
