"""Drive a server-to-client generator ``fn(*inputs)``: audio chunks or video frames."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from rtcstream.execution import calls
from rtcstream.media.tracks import AudioOutputTrack, OutputTrack, VideoOutputTrack
from rtcstream.reasons import CloseReason
from rtcstream.runners.base import MediaOptions, Runner, RunnerContext

logger = logging.getLogger("rtcstream.runners")

# Let the last frames reach the client's jitter buffer before the session closes.
PLAYOUT_GRACE = 0.25


class GeneratorRunner(Runner):
    """Starts the generator when media flows, and again on each ``trigger`` with
    the latest inputs. When it ends and its media has played, the session ends."""

    def __init__(self, handler: Callable[..., Any], context: RunnerContext, media: MediaOptions) -> None:
        super().__init__(handler, context, media)
        self.track: AudioOutputTrack | VideoOutputTrack
        if media.modality == "audio":
            self.track = self.own(media.audio_track())
        else:
            self.track = self.own(VideoOutputTrack(fps=media.fps))
        self._current: asyncio.Task[Any] | None = None

    async def start(self) -> None:
        self._run_generator()

    def trigger(self) -> None:
        if self._current is not None:
            self._current.cancel()
        if isinstance(self.track, AudioOutputTrack):
            self.track.clear()
        self._run_generator()

    def _run_generator(self) -> None:
        self._current = self.spawn(self._produce(self.context.inputs()), "generate")

    async def _produce(self, inputs: tuple[Any, ...]) -> None:
        async with contextlib.aclosing(calls.iterate(self.handler(*inputs))) as items:
            async for item in items:
                media = self.handle_control(item)
                if media is None:
                    continue
                if self.media.modality == "video":
                    media = await self.video_frame(media)
                await self.track.put(media)
        self.track.end()

    def on_output_finished(self, track: OutputTrack) -> None:
        async def finish() -> None:
            await asyncio.sleep(PLAYOUT_GRACE)
            self.context.close(CloseReason.STREAM_ENDED, "The stream has ended.")

        self.spawn(finish(), "finish")
