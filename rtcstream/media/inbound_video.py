"""The incoming video as a handler sees it: the newest frame only.

A reader keeps the last decoded frame and drops the one before it unread, so a
consumer slower than the camera processes fresh frames instead of falling
further behind (aiortc queues decoded frames without bound).
"""

from __future__ import annotations

import asyncio

import av
from aiortc.mediastreams import MediaStreamTrack


class NewestFrame:
    """The newest frame of a track: ``read`` it in one task, take frames with ``next`` in another."""

    def __init__(self) -> None:
        self._latest: av.VideoFrame | None = None
        self._arrived = asyncio.Event()
        self.frames_in = 0

    async def read(self, track: MediaStreamTrack) -> None:
        """Keep the newest frame of ``track`` until it ends (``MediaStreamError``)."""
        while True:
            frame = await track.recv()
            assert isinstance(frame, av.VideoFrame)
            self._latest = frame
            self.frames_in += 1
            self._arrived.set()

    async def next(self) -> av.VideoFrame:
        """Wait for a frame newer than the last one taken, and take it."""
        while True:
            await self._arrived.wait()
            self._arrived.clear()
            frame, self._latest = self._latest, None
            if frame is not None:
                return frame
