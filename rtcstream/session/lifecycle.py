"""One WebRTC session's life, from offer to close: its states, its timers, and one teardown.

A session knows nothing of Channels: the consumer hands it a callback that
sends a message on the signalling socket and one that publishes to the
outputs socket. Its parts each do one job: the ``Seat`` (admission), the
``Negotiation`` (peer connection, offer, answer, candidates), the
``OutputsPipeline`` and the ``SessionContext`` its runner and handler use.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

from rtcstream import conf
from rtcstream.admission.seat import Seat
from rtcstream.endpoints.resolution import Endpoint
from rtcstream.execution.calls import owned_context
from rtcstream.reasons import CloseReason, Refusal
from rtcstream.relay import turn_credentials
from rtcstream.runners import MediaOptions, Runner
from rtcstream.runtime import Runtime
from rtcstream.session.clocks import Clocks
from rtcstream.session.context import SessionContext
from rtcstream.session.negotiation import Negotiation, refusal_for
from rtcstream.session.sdp import check_offer
from rtcstream.session.states import ENDING, TRANSITIONS, InvalidTransition, SessionState
from rtcstream.signalling import protocol
from rtcstream.signalling.protocol import Candidate, Offer, ProtocolError

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
        user: Any = None,
    ) -> None:
        self.id = new_session_id()
        self.endpoint = endpoint
        self.runtime = runtime
        self.client = client
        self.user = user
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
        self._tasks = owned_context(endpoint.spec.name)  # calls into user code count as its handler's
        self.context = SessionContext(
            session_id=self.id,
            endpoint=endpoint,
            loop=self.loop,
            send=send,
            publish=publish,
            close=self.close,
            media_connected=lambda: self._negotiation.connected(),
            tasks=self._tasks,
            turn_latency=lambda seconds: runtime.metrics.turn_latency(endpoint.slug, seconds),
        )
        self._events = self.context.events
        self._seat = Seat(runtime, endpoint, self.id, {"user": user, "client": client})
        self._negotiation = Negotiation(self.id, self.ice_servers, self._on_connection_state, self._events.put)
        runtime.track(self)

    @property
    def ending(self) -> bool:
        """Whether the session is closing or closed."""
        return self.state in ENDING

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
        if self.state in (SessionState.NEGOTIATING, SessionState.REFUSING):
            raise ProtocolError("invalid_state", "An offer is already being answered.")
        if self.state is not SessionState.NEW:
            raise ProtocolError("invalid_state", f"An offer is only accepted once; this session is {self.state.value}.")
        check_offer(offer.sdp)
        self._move(SessionState.NEGOTIATING)
        if offer.inputs is not None:
            self.context.session_inputs.set_page(offer.inputs)
        self._negotiating = self.loop.create_task(
            self._negotiate(offer.sdp), name=f"rtcstream:{self.id}:negotiate", context=self._tasks.copy()
        )

    async def add_candidate(self, candidate: Candidate) -> None:
        if self.ending:
            raise ProtocolError("invalid_state", f"This session is {self.state.value}; candidates are not accepted.")
        await self._negotiation.add_candidate(candidate)

    def set_inputs(self, values: tuple[Any, ...]) -> None:
        self.context.session_inputs.set_page(values)

    def trigger(self) -> None:
        if self.runner is not None and self.state is SessionState.CONNECTED:
            self.runner.trigger()

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

    async def _negotiate(self, sdp: str) -> None:
        """Take a seat and answer; a refusal gives back what was taken and the session is NEW again.

        A close cancels this task (unless it is refusing) and tears down what it got.
        """
        try:
            await self._seat.take()
            spec = self.endpoint.spec
            handler = spec.new_handler(self.endpoint.handler_options)
            self.runner = spec.kind.runner(handler, self.context, MediaOptions.for_endpoint(self.endpoint))
            self.context.audio_output = self.runner.audio_output()
            async with asyncio.timeout(conf.get("NEGOTIATION_TIMEOUT")):
                answer = await self._negotiation.answer(sdp, self.runner)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await self._refuse(*refusal_for(exc, self.id))
        else:
            self._clocks.answered(lambda: self.state is SessionState.NEGOTIATING)
            self._events.put(protocol.answer(answer))

    async def _refuse(self, refusal: dict[str, Any], reason: Refusal) -> None:
        self.runtime.metrics.refused(self.endpoint.slug, reason)
        self._move(SessionState.REFUSING)
        await self._teardown(reason)
        if self.state is SessionState.REFUSING:  # not closed meanwhile
            self._move(SessionState.NEW)
        self._events.put(refusal)

    # -- the connection and the timers ------------------------------------------------

    def _on_connection_state(self, state: str) -> None:
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
            await self.context.outputs.close(reason)
            self._events.put(protocol.closed(reason, message))
            await self._events.flush()
            await self._events.close()
            self._move(SessionState.CLOSED)
            self.runtime.untrack(self)
            lived = time.monotonic() - (self.connected_at or self.opened_at)
            logger.info("Session %s on %r ended: reason=%s duration=%.1fs", self.id, self.endpoint.slug, reason, lived)
            self._closed.set()

    async def _teardown(self, reason: CloseReason | Refusal) -> None:
        """Release what the session holds, each thing once: timers, the runner's tasks and tracks,
        the peer connection, the seat; then tell the handler (``shutdown``), which may take a while:
        the seat is free by then. The one teardown of both a refusal and a close; it never raises."""
        runner, self.runner = self.runner, None
        self.context.audio_output = None
        self._clocks.stop()
        for step, what in (
            (runner.stop if runner is not None else None, "stopping the runner"),
            (self._negotiation.close, "closing the peer connection"),
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
