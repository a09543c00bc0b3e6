"""Drive an ``AudioVideoStreamHandler`` or its async twin: ``StreamRunner``'s audio, plus video
in through ``video_receive`` and out through ``video_emit``."""

from __future__ import annotations

import asyncio
from typing import Any

import av

from rtcstream.execution import calls
from rtcstream.media.inbound_video import NewestFrame
from rtcstream.media.tracks import VideoOutputTrack
from rtcstream.media.video import frame_to_array
from rtcstream.runners.base import MediaOptions, RunnerContext
from rtcstream.runners.stream import StreamRunner


class AudioVideoRunner(StreamRunner):
    """Audio exactly as ``StreamRunner`` (``receive`` per 20 ms frame, ``emit`` polled);
    video in two more loops.

    - In: a reader keeps the newest camera frame; ``video_receive`` gets it as an
      array, one call at a time, so a slow handler drops stale frames instead of
      falling behind.
    - Out: the video track is paced at the handler's ``fps`` on the audio's
      clock (one ``MediaClock``: both timelines start at the same instant).
      ``video_emit`` is called when a frame is due and the track has none, so a
      frame is made just in time, as the audio is: what a handler makes at the
      same moment leaves at the same moment. ``None`` sends nothing: the page
      keeps showing the last frame, and ``video_emit`` is asked again a frame later.

    Sync methods run in the worker pool (``video_emit``, like ``emit``, without
    a call timeout: it may wait for a frame), async ones on the loop.
    """

    consumes = ("audio", "video")

    def __init__(self, handler: Any, context: RunnerContext, media: MediaOptions) -> None:
        super().__init__(handler, context, media)
        self.fps = float(handler.fps)
        if self.fps <= 0:
            raise ValueError(
                f"{type(handler).__name__}.fps must be a positive number of frames a second, not {handler.fps!r}"
            )
        self.video_out = self.own(VideoOutputTrack(fps=self.fps, clock=self.clock))
        self.camera = NewestFrame()

    async def start(self) -> None:
        await super().start()
        if (track := self.inbound.get("video")) is not None:
            self.spawn(self.camera.read(track), "camera")
            self.spawn(self._video_receive_loop(), "video_receive")
        self.spawn(self._video_emit_loop(), "video_emit")

    def _receive_frame(self, frame: av.VideoFrame) -> None:
        # In a worker thread: the conversion to an array costs as much as a light filter.
        self.handler.video_receive(frame_to_array(frame, self.media.color))

    async def _video_receive_loop(self) -> None:
        name = f"{calls.describe(self.handler.video_receive)} (session {self.context.session_id})"
        while True:
            frame = await self.camera.next()
            if self.is_async:
                array = await calls.run_sync(frame_to_array, frame, self.media.color, name=name)
                await self.handler.video_receive(array)
            else:
                await calls.run_sync(self._receive_frame, frame, name=name)

    async def _video_emit_loop(self) -> None:
        period = 1 / self.fps
        while True:
            await self.video_out.wanted()
            if self.video_out.readyState != "live":
                return
            media = self.handle_control(await self.call(self.handler.video_emit, timeout=calls.NO_TIMEOUT))
            if media is None:
                await asyncio.sleep(period)  # nothing yet: ask again when the next frame is due
                continue
            self.video_out.offer(await self.video_frame(media))
