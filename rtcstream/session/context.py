"""What a running handler and its runner may ask of their session (``RunnerContext``)."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from rtcstream import conf
from rtcstream.execution.calls import HandlerTimeout
from rtcstream.handlers.results import AdditionalOutputs
from rtcstream.handlers.visitor_messages import WebRTCError
from rtcstream.ledger.session import NO_LEDGER, Ledger
from rtcstream.media.errors import HandlerOutputError
from rtcstream.media.tracks import AudioOutputTrack
from rtcstream.operations.turn_latency import TurnLatency
from rtcstream.reasons import CloseReason
from rtcstream.session.disclosure import visitor_message
from rtcstream.session.inputs import SessionInputs
from rtcstream.session.outputs import OutputsPipeline
from rtcstream.signalling import protocol
from rtcstream.signalling.outbox import Outbox

if TYPE_CHECKING:
    import numpy as np

    from rtcstream.endpoints.resolution import Endpoint
    from rtcstream.handlers.session_info import SessionInfo
    from rtcstream.recording.recorder import SessionRecorder

logger = logging.getLogger("rtcstream.session")

Send = Callable[[dict[str, Any]], Awaitable[None]]

EVENT_CAPACITY = 256  # events a session holds for a page that does not read them; the oldest is dropped past that
MEDIA_STOPPED = "The server stopped sending media because of an internal error; the session has ended."


class SessionContext:
    """The session as its handler sees it: events, inputs, outputs, the reply's audio, and ways to end.

    Every method is safe to call from the event loop or from a worker thread.
    """

    def __init__(
        self,
        *,
        session_id: str,
        info: SessionInfo,
        endpoint: Endpoint,
        loop: asyncio.AbstractEventLoop,
        send: Send,
        publish: Send,
        close: Callable[[CloseReason, str], None],
        media_connected: Callable[[], bool],
        tasks: contextvars.Context,
        ledger: Ledger = NO_LEDGER,
        turn_latency: Callable[[float], None] = lambda seconds: None,
    ) -> None:
        self.session_id = session_id
        self.info = info  # whom the session serves (rtcstream.current_session())
        self.owner = endpoint.spec.name  # the handler's registry name (whose stuck calls the pool counts)
        self.endpoint_slug = endpoint.slug
        self.loop = loop
        self.audio_output: AudioOutputTrack | None = None  # set once the runner is made
        self.session_inputs = SessionInputs(wiring=endpoint.spec.wiring)
        # What goes to the page, in order: events on the signalling socket, outputs on the outputs socket.
        self.events = Outbox(f"session {session_id} events", send, EVENT_CAPACITY, context=tasks)
        self.outputs = OutputsPipeline(
            session_id, endpoint.spec.on_additional_outputs, self.session_inputs, publish, self.fail, tasks
        )
        self.media_connected = media_connected
        self.takes_text = endpoint.spec.text
        self.ledger = ledger  # what the session did, for the admin (rtcstream.ledger)
        self.recorder: SessionRecorder | None = None  # set once the page consents to a recording
        self._close = close
        self._loop_thread = threading.get_ident()  # contexts are made on the loop
        self._input_waiters: set[asyncio.Future[bool]] = set()  # wait_for_inputs calls, answered by set_page_inputs
        self.turns = TurnLatency(turn_latency, lambda: self.audio_output)

    def inputs(self) -> tuple[Any, ...]:
        return self.session_inputs.values()

    def send_event(self, name: str, **data: Any) -> None:
        self.ledger.event(name, data)  # the one place the ledger learns of turns
        self.events.put(protocol.event(name, data))
        if name in TurnLatency.EVENTS:
            at = time.monotonic()
            self._on_loop(lambda: self.turns.on_event(name, at))

    def send_raw(self, text: str) -> None:
        self.events.put(protocol.raw_message(text))

    def send_warning(self, message: str) -> None:
        self.ledger.warned(message)
        self.events.put(protocol.warning(message))

    def ask_for_inputs(self) -> None:
        self.events.put(protocol.send_input())

    async def wait_for_inputs(self, timeout: float | None = None) -> bool:
        """Ask the page for its inputs and wait for the next ``inputs`` message (on the loop)."""
        limit = conf.get("WAIT_FOR_INPUTS_TIMEOUT") if timeout is None else timeout
        waiter: asyncio.Future[bool] = self.loop.create_future()
        self._input_waiters.add(waiter)
        try:
            self.ask_for_inputs()
            async with asyncio.timeout(limit):
                return await waiter
        except TimeoutError:
            return False
        finally:
            self._input_waiters.discard(waiter)

    def set_page_inputs(self, values: tuple[Any, ...]) -> None:
        """Keep the page's values (from the offer or an ``inputs`` message) and answer whoever waits for them."""
        self.session_inputs.set_page(values)
        self._answer_waiters(True)

    def stop_waiting(self) -> None:
        """The session is ending: every ``wait_for_inputs`` returns False now."""
        self._answer_waiters(False)

    def _answer_waiters(self, arrived: bool) -> None:
        for waiter in list(self._input_waiters):
            if not waiter.done():
                waiter.set_result(arrived)

    def publish(self, outputs: AdditionalOutputs) -> None:
        self.ledger.output()
        if self.recorder is not None:
            self.recorder.outputs(outputs.args)
        self.outputs.put(outputs)

    def add_transcript(self, role: str, text: str) -> None:
        """Add a line to the session's transcript, if it is recorded (its outputs' text is added for you)."""
        if self.recorder is not None:
            self.recorder.add_line(role, text)

    def heard(self, rate: int, samples: np.ndarray, layout: str) -> None:
        """The handler was given ``samples``: recorded, if the session is."""
        if self.recorder is not None:
            self.recorder.heard(rate, samples, layout)

    def frame_sent(self, index: int, samples: np.ndarray | None) -> None:
        """The audio track sent frame ``index`` (``samples`` None: silence between replies)."""
        if samples is not None:
            self.ledger.reply_audio()
        if self.recorder is not None:
            self.recorder.sent(index, samples)

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
            message = (
                str(exc)  # the handler's words for the visitor
                if isinstance(exc, WebRTCError)
                else visitor_message("The handler failed.", exc, public=(HandlerOutputError, HandlerTimeout))
            )
        self.ledger.failed(f"{code}: {type(exc).__name__}: {exc}")
        self.events.put(protocol.error(code, message))
        self._close(code, message)

    def _on_loop(self, func: Callable[[], Any]) -> None:
        if threading.get_ident() == self._loop_thread:
            func()
        else:
            self.loop.call_soon_threadsafe(func)
