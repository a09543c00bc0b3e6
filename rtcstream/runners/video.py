"""Drive a video function ``fn(frame, *inputs) -> frame`` on the newest camera frame
(HxWx3 uint8, BGR unless the entry says ``"color": "rgb"``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import av
from aiortc.mediastreams import MediaStreamTrack

from rtcstream.execution import calls
from rtcstream.media.tracks import VideoOutputTrack
from rtcstream.media.video import array_to_frame, frame_to_array
from rtcstream.runners.base import MediaOptions, Runner, RunnerContext


class VideoFunctionRunner(Runner):
    """A reader keeps only the newest incoming frame; one worker call at a time
    processes it. When ``fn`` is slower than the camera, older frames are
    dropped, so latency never accumulates."""

    consumes = "video"

    def __init__(self, handler: Callable[..., Any], context: RunnerContext, media: MediaOptions) -> None:
        super().__init__(handler, context, media)
        self._name = f"{calls.describe(handler)} (session {context.session_id})"
        self.video_out = self.own(VideoOutputTrack())
        self._latest: av.VideoFrame | None = None
        self._arrived = asyncio.Event()
        self.frames_in = 0
        self.frames_processed = 0

    async def start(self) -> None:
        if self.inbound is not None:
            self.spawn(self._read(self.inbound), "read")
            self.spawn(self._process(), "process")

    async def _read(self, track: MediaStreamTrack) -> None:
        while True:
            frame = await track.recv()
            assert isinstance(frame, av.VideoFrame)
            self._latest = frame
            self.frames_in += 1
            self._arrived.set()

    def _apply(self, frame: av.VideoFrame, inputs: tuple[Any, ...]) -> Any:
        # Runs in a worker thread: decoding to an array costs as much as a light filter.
        return self.handler(frame_to_array(frame, self.media.color), *inputs)

    async def _process(self) -> None:
        while True:
            await self._arrived.wait()
            self._arrived.clear()
            frame, self._latest = self._latest, None
            if frame is None:
                continue
            result = self.handle_control(
                await calls.run_sync(self._apply, frame, self.context.inputs(), name=self._name)
            )
            self.frames_processed += 1
            if result is not None:
                self.video_out.offer(array_to_frame(result, self.media.color))
