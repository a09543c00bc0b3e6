"""One session's life, from offer to close: its states, its timers, and one teardown.

A session knows nothing of Channels: the consumer hands it a callback that
sends a message on the signalling socket and one that publishes to the
outputs socket. Its parts each do one job: the ``Seat`` (admission), the
media transport (``rtcstream.transports.base.MediaTransport``: the
``Negotiation``'s peer connection, offer, answer and candidates, or audio on a
websocket), the ``OutputsPipeline`` and the ``SessionContext`` its runner and
handler use.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

from rtcstream import conf
from rtcstream.admission.seat import Seat
from rtcstream.endpoints.resolution import Endpoint
from rtcstream.execution.calls import owned_context
from rtcstream.handlers.context import CURRENT_CONTEXT
from rtcstream.handlers.session_info import CURRENT_SESSION, SessionInfo
from rtcstream.ledger.session import open_ledger
from rtcstream.reasons import CloseReason, MessageError, Refusal
from rtcstream.relay import turn_credentials
from rtcstream.runners import MediaOptions, Runner
from rtcstream.runtime import Runtime
from rtcstream.session.clocks import Clocks
from rtcstream.session.context import SessionContext
from rtcstream.session.negotiation import Negotiation, refusal_for
from rtcstream.session.sdp import check_offer
from rtcstream.session.states import ENDING, TRANSITIONS, InvalidTransition, SessionState
from rtcstream.session.visitor import Visitor
from rtcstream.signalling import protocol
from rtcstream.signalling.protocol import Candidate, Offer, ProtocolError
from rtcstream.transports.base import MediaTransport

logger = logging.getLogger("rtcstream.session")

Send = Callable[[dict[str, Any]], Awaitable[None]]


def new_session_id() -> str:
    """Return an unguessable id (128 random bits) that is also a valid channel group name."""
    return secrets.token_urlsafe(16)


class Session:
    """One client's stream on one endpoint. Made on the event loop, by the signalling consumer."""

    def __init__(
        self,
        endpoint: Endpoint,
        runtime: Runtime,
        *,
        send: Send,
        publish: Send,
        client: str | None = None,
        visitor: Visitor | None = None,
    ) -> None:
        self.id = new_session_id()
        self.endpoint = endpoint
        self.runtime = runtime
        self.client = client
        visitor = visitor or Visitor()
        self.user = visitor.user if visitor.is_authenticated else None
        self.info = SessionInfo(self.id, endpoint, visitor.user, visitor.groups, visitor.django_session, client)
        self.ice_servers = turn_credentials.session_ice_servers(endpoint.effective_ice_servers, self.id)
        self.loop = asyncio.get_running_loop()
        self.state = SessionState.NEW
        self.close_reason: CloseReason | None = None
        self.opened_at = time.monotonic()
        self.connected_at: float | None = None
        self.runner: Runner | None = None
        self._closed = asyncio.Event()
        self._clocks = Clocks(self.loop, self._start_close)
        self._negotiating: asyncio.Task[None] | None = None
        self.carries_media = False  # from an offer (or media) until a refusal or the close: counts against MAX_SESSIONS
        self._tasks = owned_context(endpoint.spec.name)  # calls into user code count as its handler's
        self._tasks.run(CURRENT_SESSION.set, self.info)  # and see whom they serve (rtcstream.current_session())
        self.ledger = open_ledger(runtime.ledger, self.id, endpoint.slug)
        self._consented = False  # the page agreed to be recorded (the consent message)
        self.context = SessionContext(
            session_id=self.id,
            info=self.info,
            endpoint=endpoint,
            loop=self.loop,
            send=send,
            publish=publish,
            close=self.close,
            media_connected=lambda: self.transport.connected(),
            tasks=self._tasks,
            ledger=self.ledger,
            turn_latency=lambda seconds: runtime.metrics.turn_latency(endpoint.slug, seconds),
        )
        self._tasks.run(CURRENT_CONTEXT.set, self.context)  # what rtcstream.Warning speaks through
        self._events = self.context.events
        self._seat = Seat(
            runtime, endpoint, self.id, {"user": self.user, "client": client}, tell=self._events.put, close=self.close
        )
        self._negotiation = Negotiation(self.id, self.ice_servers, self.on_media_state, self._events.put)
        self.transport: MediaTransport = self._negotiation  # WebRTC, unless the client asks for another
        runtime.track(self)

    @property
    def ending(self) -> bool:
        """Whether the session is closing or closed."""
        return self.state in ENDING

    @property
    def records(self) -> bool:
        """Whether this session is recorded once its page consents: its endpoint says so, it is audio,
        and the process keeps the ledger whose rows recordings belong to."""
        return self.endpoint.record and self.endpoint.modality == "audio" and self.runtime.recordings is not None

    @property
    def duration(self) -> float:
        return time.monotonic() - self.opened_at

    def _move(self, target: SessionState) -> None:
        if target not in TRANSITIONS[self.state]:
            raise InvalidTransition(self.state, target)
        self.state = target

    # -- what the consumer calls ---------------------------------------------------

    def offer(self, offer: Offer) -> None:
        """Start answering ``offer``; the answer, or the refusal, goes out as a message.

        Raises ``ProtocolError`` at once, before any slot is held, for an offer in
        the wrong state or one whose SDP lacks what DTLS and ICE need.
        """
        self._check_new()
        self._check_room()
        check_offer(offer.sdp)
        self._negotiation.take_offer(offer.sdp)
        self._begin(self._negotiation, offer.inputs)

    def open_media(self, transport: MediaTransport, inputs: tuple[Any, ...] | None = None) -> None:
        """Carry the media over ``transport`` (audio on a websocket) instead of WebRTC; its
        reply (``media``), or the refusal, goes out as a message, as an answer would.

        Raises ``ProtocolError`` at once, before any slot is held, in the wrong state
        or when the transport cannot carry this endpoint's mode and modality.
        """
        self._check_new()
        self._check_room()
        kind, endpoint = transport.kind, self.endpoint
        if not kind.can_serve(endpoint.mode, endpoint.modality):
            raise ProtocolError(
                MessageError.UNSUPPORTED_TRANSPORT,
                f"This endpoint is {endpoint.mode} {endpoint.modality}: {kind.label} carries audio only "
                "(send-receive or send); use WebRTC.",
            )
        self._begin(transport, inputs)

    def _check_new(self) -> None:
        if self.state in (SessionState.NEGOTIATING, SessionState.REFUSING):
            raise ProtocolError(MessageError.INVALID_STATE, "An offer is already being answered.")
        if self.state is not SessionState.NEW:
            raise ProtocolError(
                MessageError.INVALID_STATE, f"An offer is only accepted once; this session is {self.state.value}."
            )

    def _check_room(self) -> None:
        """Refuse the offer (``server_busy``) when this process carries as many streams as it may
        (``Runtime.at_session_limit``). No await between this and ``_begin``, so the count is exact."""
        if self.runtime.at_session_limit(f"session {self.id}'s offer on {self.endpoint.slug!r}"):
            self._count_refusal(Refusal.SERVER_BUSY)
            raise ProtocolError(Refusal.SERVER_BUSY, "This server carries as many streams as it may; try again soon.")

    def _begin(self, transport: MediaTransport, inputs: tuple[Any, ...] | None) -> None:
        self._move(SessionState.NEGOTIATING)
        self.carries_media = True
        self.transport = transport
        if inputs is not None:
            self.context.set_page_inputs(inputs)
        self._negotiating = self.loop.create_task(
            self._negotiate(transport), name=f"rtcstream:{self.id}:negotiate", context=self._tasks.copy()
        )

    async def add_candidate(self, candidate: Candidate) -> None:
        if self.ending:
            raise ProtocolError(
                MessageError.INVALID_STATE, f"This session is {self.state.value}; candidates are not accepted."
            )
        if self.transport is not self._negotiation:
            raise ProtocolError(
                MessageError.INVALID_STATE, f"This session's media goes over {self.transport.kind.label}."
            )
        await self._negotiation.add_candidate(candidate)

    def set_inputs(self, values: tuple[Any, ...]) -> None:
        self.context.set_page_inputs(values)

    def trigger(self) -> None:
        if self.runner is not None and self.state is SessionState.CONNECTED:
            self._page_call(self.runner.trigger)

    def text(self, text: str) -> None:
        """Hand text the page submitted to the handler (an entry with ``"text": True``), once media flows."""
        if not self.endpoint.spec.text:
            raise ProtocolError(
                MessageError.TEXT_NOT_ACCEPTED,
                f'The endpoint {self.endpoint.slug!r} takes no text (its registry entry does not say "text": True).',
            )
        if self.runner is None or self.state is not SessionState.CONNECTED:
            raise ProtocolError(
                MessageError.INVALID_STATE,
                f"Text is taken once the media is connected; this session is {self.state.value}.",
            )
        self._page_call(self.runner.text, text)

    def _page_call(self, method: Callable[..., None], *args: Any) -> None:
        """Hand a page's message to the runner in the session's context, as its own tasks run: what it
        starts (a trigger's generator, a text turn's reply) sees current_session() and counts as its handler's."""
        self._tasks.copy().run(method, *args)

    def consent(self, recording: bool) -> None:
        """The page agreed to be recorded (or withdrew): recording starts once media flows, pauses on
        withdrawal and resumes, in the same recording, on a renewed consent."""
        if not self.records:
            return
        if not recording:  # heeded even while the session ends: nothing more is recorded
            self._consented = False
            if self.context.recorder is not None:
                self.context.recorder.stop_capture()
            return
        if self.ending:
            return  # too late: the recording is being stored
        self._consented = True
        if self.state is SessionState.CONNECTED:
            self._start_recording()

    def _start_recording(self) -> None:
        from rtcstream.recording.recorder import SessionRecorder

        writer = self.runtime.recordings
        if writer is None:
            return
        if self.context.recorder is not None:  # consent given again after a withdrawal
            self.context.recorder.resume_capture()
            return
        self.context.recorder = SessionRecorder(
            writer,
            self.id,
            datetime.datetime.now(datetime.UTC),
            heard=self.endpoint.mode != "receive",
            sent=self.endpoint.mode != "send",
        )
        logger.info("Session %s: recording, with the page's consent", self.id)

    def close(self, reason: CloseReason, message: str = "") -> None:
        """End the session, from any thread; the first reason given is the one recorded. Returns at once."""
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self._start_close, reason, message)

    async def close_and_wait(self, reason: CloseReason, message: str = "") -> None:
        """End the session (from the loop) and wait until it is closed."""
        self._start_close(reason, message)
        await self._closed.wait()

    async def wait_closed(self) -> None:
        """Wait until the session has closed, however it ends."""
        await self._closed.wait()

    # -- admission and negotiation ---------------------------------------------------

    async def _negotiate(self, transport: MediaTransport) -> None:
        """Take a seat (waiting in line for one, if the endpoint lets clients wait) and open the
        transport (answer the offer); a refusal gives back what was taken and the session is NEW again.

        A close cancels this task (unless it is refusing) and tears down what it got.
        """
        try:
            await self._seat.take()
            spec = self.endpoint.spec
            handler = spec.new_handler(self.endpoint.handler_options)
            media = MediaOptions.for_endpoint(self.endpoint).for_transport(transport.kind)
            self.runner = spec.kind.runner(handler, self.context, media)
            self.context.audio_output = self.runner.audio_output()
            if self.context.audio_output is not None:
                self.context.audio_output.on_frame = self.context.frame_sent
            async with asyncio.timeout(conf.get("NEGOTIATION_TIMEOUT")):
                reply = await transport.open(self.runner)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await self._refuse(*refusal_for(exc, self.id))
        else:
            self._clocks.answered(lambda: self.state is SessionState.NEGOTIATING)
            self._events.put(reply)

    async def _refuse(self, refusal: dict[str, Any], reason: Refusal) -> None:
        self._count_refusal(reason)
        self._move(SessionState.REFUSING)
        await self._teardown(reason)
        if self.state is SessionState.REFUSING:  # not closed meanwhile
            self._move(SessionState.NEW)
            self.carries_media = False
        self._events.put(refusal)

    def _count_refusal(self, reason: Refusal) -> None:
        """Count a refused offer in the metrics and in the ledger (which adds no row where admission wrote one)."""
        self.runtime.metrics.refused(self.endpoint.slug, reason)
        self.ledger.refused(reason, self.user, self.client)

    # -- the connection and the timers ------------------------------------------------

    def on_media_state(self, state: str) -> None:
        """Hear the transport's connection state (``rtcstream.transports.base.OnState``)."""
        if state == "connected" and self.state is SessionState.NEGOTIATING:
            self._connected()
        elif state == "closed" and self.state is SessionState.CONNECTED:
            # The peer closed its connection (DTLS close_notify): a hang-up, not a failure.
            self._start_close(CloseReason.DISCONNECTED, "The client closed the media connection.")
        elif state in ("failed", "closed") and self.state in (SessionState.NEGOTIATING, SessionState.CONNECTED):
            self._start_close(
                CloseReason.CONNECTION_FAILED, "The media connection failed (ICE or DTLS); a TURN server may be needed."
            )

    def _connected(self) -> None:
        self._move(SessionState.CONNECTED)
        self.connected_at = time.monotonic()
        endpoint = self.endpoint
        logger.info(
            "Session %s started on %r (%s %s) for %s",
            self.id,
            endpoint.slug,
            endpoint.mode,
            endpoint.modality,
            self.client or "unknown client",
        )
        self._clocks.connected(endpoint.time_limit)
        if self._consented:
            self._start_recording()
        self.context.send_event("connected")
        assert self.runner is not None
        self.runner.spawn(self.runner.start(), "start")

    # -- the one way a session ends ------------------------------------------------------

    def _start_close(self, reason: CloseReason, message: str) -> None:
        if self.ending:
            return
        refusing = self.state is SessionState.REFUSING
        self._move(SessionState.CLOSING)
        self.close_reason = reason
        self.loop.create_task(
            self._close(reason, message, refusing), name=f"rtcstream:{self.id}:close", context=self._tasks.copy()
        )

    async def _close(self, reason: CloseReason, message: str, refusing: bool) -> None:
        negotiating = self._negotiating
        if negotiating is not None and not negotiating.done():
            if not refusing:  # a refusal's teardown finishes: it gives back what the offer took
                negotiating.cancel()
            await asyncio.wait([negotiating])
        try:
            await self._teardown(reason)
        finally:
            self.carries_media = False  # torn down: its page is told `closed`, and another may stream
            await self.context.outputs.close(reason)
            self._events.put(protocol.closed(reason, message))
            await self._events.flush()
            await self._events.close()
            await self._finish_records()
            self._move(SessionState.CLOSED)
            self.runtime.untrack(self)
            lived = time.monotonic() - (self.connected_at or self.opened_at)
            logger.info("Session %s on %r ended: reason=%s duration=%.1fs", self.id, self.endpoint.slug, reason, lived)
            self._closed.set()

    async def _finish_records(self) -> None:
        """Store the recording and the ledger's rows (off the loop; the page has its ``closed`` already)."""
        recorder = self.context.recorder
        for finish, what in (
            (recorder.finish if recorder is not None else None, "storing its recording"),
            (self.ledger.close, "writing its ledger"),
        ):
            if finish is None:
                continue
            try:
                await finish()
            except Exception:
                logger.exception("Session %s: %s failed", self.id, what)

    async def _teardown(self, reason: CloseReason | Refusal) -> None:
        """Release what the session holds, each thing once: timers, the runner's tasks and tracks,
        the transport (the peer connection), the seat; then tell the handler (``shutdown``), which may take a while:
        the seat is free by then. The one teardown of both a refusal and a close; it never raises."""
        runner, self.runner = self.runner, None
        self.context.audio_output = None
        self.context.stop_waiting()
        self._clocks.stop()
        for step, what in (
            (runner.stop if runner is not None else None, "stopping the runner"),
            (self.transport.close, f"closing its {self.transport.kind} transport"),
            (lambda: self._seat.give_back(reason), "giving back its seat"),
        ):
            if step is None:
                continue
            try:
                await step()
            except Exception:
                logger.exception("Session %s: %s failed", self.id, what)
        if runner is not None:
            await runner.close_handler()
