"""Drive a video function ``fn(frame, *inputs) -> frame`` on the newest camera frame
(HxWx3 uint8, BGR unless the entry says ``"color": "rgb"``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import av

from rtcstream.execution import calls
from rtcstream.media.inbound_video import NewestFrame
from rtcstream.media.tracks import VideoOutputTrack
from rtcstream.media.video import array_to_frame, frame_to_array
from rtcstream.runners.base import MediaOptions, Runner, RunnerContext, media_part


class VideoFunctionRunner(Runner):
    """A reader keeps only the newest incoming frame; one worker call at a time
    processes it. When ``fn`` is slower than the camera, older frames are
    dropped, so latency never accumulates."""

    consumes: tuple[str, ...] = ("video",)

    def __init__(self, handler: Callable[..., Any], context: RunnerContext, media: MediaOptions) -> None:
        super().__init__(handler, context, media)
        self._name = f"{calls.describe(handler)} (session {context.session_id})"
        self.video_out = self.own(VideoOutputTrack(clock=self.clock))
        self.camera = NewestFrame()
        self.frames_processed = 0

    async def start(self) -> None:
        if (track := self.inbound.get("video")) is not None:
            self.spawn(self.camera.read(track), "read")
            self.spawn(self._process(), "process")

    def _apply(self, frame: av.VideoFrame, inputs: tuple[Any, ...]) -> tuple[Any, av.VideoFrame | Exception | None]:
        # Runs in a worker thread, both conversions too: each costs about as much as a light filter.
        result = self.handler(frame_to_array(frame, self.media.color), *inputs)
        media = media_part(result)
        if media is None:
            return result, None
        try:
            return result, array_to_frame(media, self.media.color)
        except Exception as error:  # a frame the encoder cannot take: raised once the result's outputs are out
            return result, error

    async def _process(self) -> None:
        while True:
            frame = await self.camera.next()
            result, processed = await calls.run_sync(self._apply, frame, self.context.inputs(), name=self._name)
            self.handle_control(result)  # as Runner.video_frame's callers do: the outputs, then the frame
            if isinstance(processed, Exception):
                raise processed
            self.frames_processed += 1
            if processed is not None:
                self.video_out.offer(processed)
