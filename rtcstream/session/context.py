"""What a running handler and its runner may ask of their session (``RunnerContext``)."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any

from rtcstream.execution.calls import HandlerTimeout
from rtcstream.handlers.results import AdditionalOutputs
from rtcstream.media.errors import HandlerOutputError
from rtcstream.media.tracks import AudioOutputTrack
from rtcstream.reasons import CloseReason
from rtcstream.session.disclosure import visitor_message
from rtcstream.session.inputs import SessionInputs
from rtcstream.session.outputs import OutputsPipeline
from rtcstream.signalling import protocol
from rtcstream.signalling.outbox import Outbox

logger = logging.getLogger("rtcstream.session")

MEDIA_STOPPED = "The server stopped sending media because of an internal error; the session has ended."


class SessionContext:
    """The session as its handler sees it: events, inputs, outputs, the reply's audio, and ways to end.

    Every method is safe to call from the event loop or from a worker thread.
    """

    def __init__(
        self,
        *,
        session_id: str,
        owner: str,
        endpoint_slug: str,
        loop: asyncio.AbstractEventLoop,
        inputs: SessionInputs,
        events: Outbox,
        outputs: OutputsPipeline,
        close: Callable[[CloseReason, str], None],
        media_connected: Callable[[], bool],
    ) -> None:
        self.session_id = session_id
        self.owner = owner  # the handler's registry name (whose stuck calls the pool counts)
        self.endpoint_slug = endpoint_slug
        self.loop = loop
        self.audio_output: AudioOutputTrack | None = None  # set once the runner is made
        self._loop_thread = threading.get_ident()  # contexts are made on the loop
        self._inputs = inputs
        self._events = events
        self._outputs = outputs
        self._close = close
        self.media_connected = media_connected

    def inputs(self) -> tuple[Any, ...]:
        return self._inputs.values()

    def send_event(self, name: str, **data: Any) -> None:
        self._events.put(protocol.event(name, data))

    def publish(self, outputs: AdditionalOutputs) -> None:
        self._outputs.put(outputs)

    def clear_output(self) -> None:
        if self.audio_output is not None:
            self._on_loop(self.audio_output.clear)

    def output_busy(self) -> bool:
        return self.audio_output is not None and self.audio_output.busy()

    def after_playback(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` on the loop once the audio queued so far has been sent (at once if none is).

        A barge-in (``clear_output``) drops the audio and the callback with it.
        """
        track = self.audio_output
        self._on_loop(callback if track is None else lambda: track.mark(callback))

    def close(self, reason: CloseReason, message: str = "") -> None:
        self._close(reason, message)

    def fail(self, exc: BaseException, code: CloseReason = CloseReason.HANDLER_ERROR) -> None:
        """End the session because ``exc`` was raised; the page gets an ``error`` with fixed words first."""
        if code is CloseReason.MEDIA_ERROR:
            logger.error(
                "Session %s on %r: the server's media stopped (%s); ending the session.",
                self.session_id,
                self.endpoint_slug,
                exc,
                exc_info=(type(exc), exc, exc.__traceback__),
            )
            message = MEDIA_STOPPED
        else:
            logger.error(
                "Session %s on %r: the handler raised; ending the session.",
                self.session_id,
                self.endpoint_slug,
                exc_info=(type(exc), exc, exc.__traceback__),
            )
            message = visitor_message("The handler failed.", exc, public=(HandlerOutputError, HandlerTimeout))
        self._events.put(protocol.error(code, message))
        self._close(code, message)

    def _on_loop(self, func: Callable[[], Any]) -> None:
        if threading.get_ident() == self._loop_thread:
            func()
        else:
            self.loop.call_soon_threadsafe(func)
