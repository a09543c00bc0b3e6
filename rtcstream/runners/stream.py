"""Drive a ``StreamHandler`` or ``AsyncStreamHandler``: audio in through ``receive``,
results out through ``emit``."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiortc.mediastreams import MediaStreamTrack

from rtcstream.execution import calls
from rtcstream.handlers.base import AsyncStreamHandler, StreamHandlerBase
from rtcstream.media.audio import InputConverter
from rtcstream.media.inbound import InboundAudio
from rtcstream.runners.base import MediaOptions, Runner, RunnerContext

logger = logging.getLogger("rtcstream.runners")

# How long the emit loop waits for new input before asking the handler again,
# for handlers that produce output without input (a greeting, a timer).
IDLE_POLL = 0.02
# How long a session's end waits for the handler's shutdown(); a slower one runs on, released.
SHUTDOWN_TIMEOUT = 5.0


class StreamRunner(Runner):
    """Sync handlers run in the worker pool; async handlers run on the loop.

    As in gradio-webrtc, ``receive`` and ``emit`` of one sync handler may run at
    the same time (each from its own loop, so never concurrently with itself): an ``emit`` that blocks
    until ``receive`` has queued something (the user guide's ``EchoHandler``)
    works. ``emit`` has no call timeout (it may wait for input as long as the
    session lives); when the session ends, a call still blocked is logged and
    released from the pool (``rtcstream.execution.calls``).
    """

    consumes: tuple[str, ...] = ("audio",)

    def __init__(self, handler: StreamHandlerBase, context: RunnerContext, media: MediaOptions) -> None:
        super().__init__(handler, context, media)
        handler.bind(context)
        self.is_async = isinstance(handler, AsyncStreamHandler)
        self.audio_out = self.own(media.audio_track(self.clock)) if media.mode == "send-receive" else None
        self._converter = InputConverter(handler.input_sample_rate, handler.expected_layout)
        self._input = asyncio.Event()
        self._dropped_audio = False
        self._page_calls = asyncio.Lock()  # a sync handler's page messages, one at a time, in the order they came

    async def call(self, method: Any, *args: Any, timeout: float | None = None) -> Any:
        """Call one of the handler's methods: on the loop if async, in the pool if sync."""
        if self.is_async:
            return await method(*args)
        name = f"{calls.describe(method)} (session {self.context.session_id})"
        return await calls.run_sync(method, *args, timeout=timeout, name=name)

    async def start(self) -> None:
        await self.call(self.handler.start_up)
        if (track := self.inbound.get("audio")) is not None:
            self.spawn(self._receive_loop(track), "receive")
        self.spawn(self._emit_loop(), "emit")

    def trigger(self) -> None:
        self._call_soon(self.handler.trigger_response, "trigger")

    def text(self, text: str) -> None:
        self._call_soon(self.handler.receive_text, "text", text)

    def _call_soon(self, method: Any, name: str, *args: Any) -> None:
        """Call a handler method for a page message: at once on the loop if async, else in the pool, after
        the page's earlier messages (two texts typed in a row reach the handler in that order, not racing)."""
        if self.is_async:
            method(*args)  # async handlers' methods run on the loop
            self._input.set()
        else:
            self.spawn(self._call_in_pool(method, *args), name)

    async def _call_in_pool(self, method: Any, *args: Any) -> None:
        # The lock is fair: tasks spawned in the order the messages came take it in that order.
        async with self._page_calls:
            await self.call(method, *args)
        self._input.set()

    async def _receive_loop(self, track: MediaStreamTrack) -> None:
        rate = self.handler.input_sample_rate
        audio = InboundAudio(track, label=f"Session {self.context.session_id}")
        while True:
            samples = self._converter.convert(await audio.recv())
            if samples.shape[1]:
                self.context.heard(rate, samples, self._converter.layout)
                await self.call(self.handler.receive, (rate, samples))
                self._input.set()

    async def _emit_loop(self) -> None:
        while True:
            item = self.handle_control(await self.call(self.handler.emit, timeout=calls.NO_TIMEOUT))
            if item is None:
                self._input.clear()
                try:
                    async with asyncio.timeout(IDLE_POLL):
                        await self._input.wait()
                except TimeoutError:
                    pass
                continue
            if self.audio_out is not None:
                await self.audio_out.put(item)
            elif not self._dropped_audio:
                self._dropped_audio = True
                logger.warning(
                    "Session %s: mode 'send' plays no audio; the handler's audio is dropped.", self.context.session_id
                )

    async def close_handler(self) -> None:
        """Call ``shutdown()``: a sync one in the pool, while a blocked ``emit`` may still wait.

        ``shutdown`` is how a handler whose ``emit`` blocks is told to return (put a
        sentinel in its queue, set its event); one blocked in ``queue.Queue.get()``
        is woken without it (``rtcstream.execution.wake``).
        """
        try:
            async with asyncio.timeout(SHUTDOWN_TIMEOUT):
                if isinstance(self.handler, AsyncStreamHandler):
                    await self.handler.aclose()
                else:
                    await self.call(self.handler.shutdown, timeout=calls.NO_TIMEOUT)
        except TimeoutError:
            logger.warning(
                "Session %s: the handler's shutdown() did not return within %g s",
                self.context.session_id,
                SHUTDOWN_TIMEOUT,
            )
        except Exception:
            logger.exception("Session %s: the handler's shutdown() raised", self.context.session_id)
