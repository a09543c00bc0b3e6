"""One WebRTC session: its peer connection, handler, tasks, time limit and exit_hook.

A session knows nothing of Channels: the consumer hands it two callbacks, one
that sends a message on the signalling socket and one that publishes outputs.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiortc import RTCIceCandidate, RTCPeerConnection, RTCSessionDescription

from rtcstream import conf
from rtcstream.admission import heartbeat
from rtcstream.admission.backends import Refused, get_admission, refuse_if_stuck
from rtcstream.endpoints.resolution import Endpoint
from rtcstream.execution import calls
from rtcstream.execution.calls import HandlerTimeout
from rtcstream.handlers.results import AdditionalOutputs
from rtcstream.media.errors import HandlerOutputError
from rtcstream.media.jitter import install_audio_jitter_buffer
from rtcstream.reasons import CloseReason, Refusal
from rtcstream.relay import turn_credentials
from rtcstream.runners import MediaOptions, Runner
from rtcstream.session import exit_hook
from rtcstream.session.disclosure import visitor_message
from rtcstream.session.ice import describe, ice_configuration, parse_candidate
from rtcstream.session.inputs import SessionInputs, StateOutputError
from rtcstream.session.outputs_json import to_json_values
from rtcstream.session.sdp import ask_for_opus_dtx, check_offer, first_codec
from rtcstream.session.states import TRANSITIONS, InvalidTransition, SessionState
from rtcstream.signalling import protocol
from rtcstream.signalling.outbox import Outbox
from rtcstream.signalling.protocol import Candidate, Offer, ProtocolError

logger = logging.getLogger("rtcstream.session")

MAX_PENDING_CANDIDATES = 64
EVENT_CAPACITY = 256
OUTPUT_CAPACITY = 1024

SendMessage = Callable[[dict[str, Any]], Awaitable[None]]
PublishOutput = Callable[[dict[str, Any]], Awaitable[None]]


_open: set[Session] = set()


def new_session_id() -> str:
    """Return an unguessable id (128 random bits) that is also a valid channel group name."""
    return secrets.token_urlsafe(16)


class Session:
    """One client's stream on one endpoint, from offer to close."""

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        send: SendMessage,
        publish: PublishOutput,
        client: str | None = None,
        user: Any = None,
    ) -> None:
        exit_hook.install()  # sessions still open when the process exits are closed first
        self.id = new_session_id()
        self.endpoint = endpoint
        self.client = client
        self.user = user
        self.ice_servers = turn_credentials.session_ice_servers(endpoint.effective_ice_servers, self.id)
        self.loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()  # sessions are made on the loop
        self.state = SessionState.NEW
        self.close_reason: CloseReason | None = None
        self.pc: RTCPeerConnection | None = None
        self.runner: Runner | None = None
        self.connected_at: float | None = None
        self.opened_at = time.monotonic()
        self.closed = asyncio.Event()
        self._send = send
        self._inputs = SessionInputs(endpoint.spec.state)
        self._pending: list[RTCIceCandidate | None] = []
        self._remote_set = False
        self._admitted = False
        self._timers: list[asyncio.TimerHandle] = []
        self._closing: asyncio.Task[None] | None = None
        self._negotiation: asyncio.Task[None] | None = None
        self._refusing = False
        self._seq = 0
        self._events = Outbox(f"session {self.id} events", send, EVENT_CAPACITY)
        self._outputs = Outbox(f"session {self.id} outputs", self._deliver_output, OUTPUT_CAPACITY)
        self._publish = publish
        _open.add(self)

    # -- state -----------------------------------------------------------------

    def _move(self, target: SessionState) -> None:
        if target not in TRANSITIONS[self.state]:
            raise InvalidTransition(self.state, target)
        self.state = target

    @property
    def ending(self) -> bool:
        """Whether the session is closing or closed (or about to start closing)."""
        return self._closing is not None or self.state in (SessionState.CLOSING, SessionState.CLOSED)

    @property
    def duration(self) -> float:
        return time.monotonic() - self.opened_at

    # -- what the consumer calls ---------------------------------------------

    def offer(self, offer: Offer) -> None:
        """Start answering ``offer``; the answer, or the refusal, goes out as a message.

        Raises ``ProtocolError`` at once, before any slot is held, for an offer in
        the wrong state or one whose SDP lacks what DTLS and ICE need.
        """
        if self.state is SessionState.NEGOTIATING:
            raise ProtocolError("invalid_state", "An offer is already being answered.")
        if self.state is not SessionState.NEW or self.ending:
            state = "closing" if self.state is SessionState.NEW else self.state.value
            raise ProtocolError("invalid_state", f"An offer is only accepted once; this session is {state}.")
        check_offer(offer.sdp)
        self._move(SessionState.NEGOTIATING)
        if offer.inputs is not None:
            self._inputs.set_page(offer.inputs)
        self._negotiation = self.loop.create_task(self._negotiate(offer.sdp), name=f"rtcstream:{self.id}:negotiate")

    async def _negotiate(self, sdp: str) -> None:
        """Admit the session and answer; on refusal, tear down and go back to NEW.

        A close cancels this task (except while it tears down a refusal) and
        then releases whatever it got, so nothing is held by a closed session.
        """
        try:
            await self._admit()
            async with asyncio.timeout(conf.get("NEGOTIATION_TIMEOUT")):
                answer = await self._answer(sdp)
        except asyncio.CancelledError:
            raise
        except ProtocolError as exc:
            refusal, reason = exc.as_message(), Refusal.BAD_SDP
        except Refused as exc:
            refusal, reason = protocol.error(exc.code, str(exc)), exc.code
        except TimeoutError:
            refusal, reason = (
                protocol.error(Refusal.BAD_SDP, "The offer could not be answered in time."),
                Refusal.BAD_SDP,
            )
        except Exception as exc:
            logger.exception("Session %s: answering the offer failed", self.id)
            message = visitor_message("The server could not start this stream.", exc)
            refusal, reason = protocol.error(Refusal.SERVER_ERROR, message), Refusal.SERVER_ERROR
        else:
            self._events.put(protocol.answer(answer))
            return
        self._refusing = True
        try:
            await self._teardown(reason)
        finally:
            self._refusing = False
        if self.state is SessionState.NEGOTIATING:
            self._move(SessionState.NEW)
        self._events.put(refusal)

    async def _admit(self) -> None:
        """Take a slot. A database thread cannot be stopped, so a close that comes
        while it runs waits for its verdict: a slot granted then is held, and the
        close's teardown gives it back."""
        refuse_if_stuck(self.endpoint)
        acquiring = asyncio.ensure_future(
            get_admission().acquire(self.endpoint, self.id, {"user": self.user, "client": self.client})
        )
        try:
            await asyncio.shield(acquiring)
        except asyncio.CancelledError:
            await asyncio.wait([acquiring])
            if not acquiring.cancelled() and acquiring.exception() is None:
                self._hold_admission()
            raise
        self._hold_admission()

    def _hold_admission(self) -> None:
        self._admitted = True
        heartbeat.add(self.id)

    async def _teardown(self, reason: CloseReason | Refusal) -> None:
        """Release what the session holds, each thing once: timers, runner tasks and
        tracks, the peer connection, the admission slot and its heartbeat, then
        tell the handler (``shutdown``), which may take a while: the slot is free by then.

        The one teardown of both a refusal and a close; it never raises.
        """
        runner, self.runner = self.runner, None
        pc, self.pc = self.pc, None
        timers, self._timers = self._timers, []
        for timer in timers:
            timer.cancel()
        self._remote_set = False
        self._pending.clear()
        try:
            if runner is not None:
                await runner.stop()
        except Exception:
            logger.exception("Session %s: stopping the runner failed", self.id)
        try:
            if pc is not None:
                await pc.close()
        except Exception:
            logger.exception("Session %s: closing the peer connection failed", self.id)
        if self._admitted:
            self._admitted = False
            heartbeat.discard(self.id)
            try:
                await get_admission().release(self.id, reason)
            except Exception:
                logger.exception("Session %s: releasing its admission failed", self.id)
        if runner is not None:
            await runner.close_handler()

    async def _answer(self, sdp: str) -> str:
        endpoint = self.endpoint
        self.pc = pc = RTCPeerConnection(ice_configuration(self.ice_servers))
        self.runner = runner = endpoint.spec.kind.runner(
            endpoint.spec.new_handler(endpoint.handler_options), self, self._media_options()
        )
        pc.on("track", lambda track: self._on_track(pc, runner, track))
        pc.on("connectionstatechange", lambda: self._on_connection_state(pc))
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        except Exception as exc:
            logger.info("Session %s: the offer could not be applied: %s", self.id, describe(exc))
            raise ProtocolError("bad_sdp", "The offer could not be applied.") from None
        wanted = {t.kind for t in runner.outgoing_tracks()}
        offered = {t.kind for t in pc.getTransceivers()}
        if not wanted <= offered:
            raise ProtocolError(
                "bad_sdp",
                f"This endpoint sends {', '.join(sorted(wanted))}, but the offer has no such media section.",
            )
        for track in runner.outgoing_tracks():
            pc.addTrack(track)
        self._remote_set = True
        for candidate in self._pending:
            try:
                await self._apply_candidate(candidate)
            except ProtocolError as exc:
                self._events.put(exc.as_message())
        self._pending.clear()
        await pc.setLocalDescription(await pc.createAnswer())
        self._timers.append(self.loop.call_later(conf.get("CONNECT_TIMEOUT"), self._connect_timeout))
        answer = pc.localDescription.sdp
        self._encode_opus_here(pc, runner, answer)
        return ask_for_opus_dtx(answer) if conf.get("AUDIO_DTX") else answer

    @staticmethod
    def _encode_opus_here(pc: RTCPeerConnection, runner: Runner, answer: str) -> None:
        """Let the audio output encode its own Opus packets when Opus is what its sender sends."""
        track = runner.audio_output()
        if track is None:
            return
        for transceiver in pc.getTransceivers():
            if transceiver.sender.track is track and first_codec(answer, transceiver.mid) == "audio/opus":
                track.send_opus_packets(dtx=conf.get("AUDIO_DTX"))

    def _on_track(self, pc: RTCPeerConnection, runner: Runner, track: Any) -> None:
        if track.kind == "audio":
            for transceiver in pc.getTransceivers():
                if transceiver.receiver.track is track:
                    install_audio_jitter_buffer(transceiver.receiver, conf.get("AUDIO_JITTER_FRAMES"))
        runner.on_track(track)

    def _media_options(self) -> MediaOptions:
        return MediaOptions(
            mode=self.endpoint.mode,
            modality=self.endpoint.modality,
            fps=self.endpoint.spec.fps,
            audio_buffer=conf.get("AUDIO_BUFFER_SECONDS"),
            idle_frames=conf.get("AUDIO_IDLE_FRAMES"),
            color=self.endpoint.spec.color,
        )

    async def add_candidate(self, candidate: Candidate) -> None:
        """Apply a trickled browser candidate, or hold it until the offer is applied."""
        if self.state in (SessionState.CLOSING, SessionState.CLOSED):
            raise ProtocolError("invalid_state", f"This session is {self.state.value}; candidates are not accepted.")
        parsed = parse_candidate(candidate)
        if not self._remote_set:
            if len(self._pending) >= MAX_PENDING_CANDIDATES:
                raise ProtocolError(
                    "invalid_state", f"At most {MAX_PENDING_CANDIDATES} candidates are held before the offer."
                )
            self._pending.append(parsed)
            return
        await self._apply_candidate(parsed)

    async def _apply_candidate(self, candidate: RTCIceCandidate | None) -> None:
        if self.pc is None:
            return
        try:
            await self.pc.addIceCandidate(candidate)
        except Exception as exc:
            logger.info("Session %s: an ICE candidate could not be used: %s", self.id, describe(exc))
            raise ProtocolError("bad_candidate", "The ICE candidate could not be used.") from None

    def set_inputs(self, values: tuple[Any, ...]) -> None:
        self._inputs.set_page(values)

    def trigger(self) -> None:
        if self.runner is not None and self.state is SessionState.CONNECTED:
            self.runner.trigger()

    # -- the handler's context (HandlerContext / RunnerContext) ---------------

    @property
    def session_id(self) -> str:
        return self.id

    @property
    def owner(self) -> str:
        return self.endpoint.spec.name

    def inputs(self) -> tuple[Any, ...]:
        return self._inputs.values()

    def send_event(self, name: str, **data: Any) -> None:
        self._events.put(protocol.event(name, data))

    def _on_loop(self, func: Callable[[], Any]) -> None:
        if threading.get_ident() == self._loop_thread:
            func()
        else:
            self.loop.call_soon_threadsafe(func)

    def clear_output(self) -> None:
        track = self.runner.audio_output() if self.runner is not None else None
        if track is not None:
            self._on_loop(track.clear)

    def output_busy(self) -> bool:
        track = self.runner.audio_output() if self.runner is not None else None
        return track is not None and track.busy()

    def publish(self, outputs: AdditionalOutputs) -> None:
        self._outputs.put(outputs)

    async def _deliver_output(self, outputs: AdditionalOutputs) -> None:
        values = list(outputs.args)
        hook = self.endpoint.spec.on_additional_outputs
        if hook is not None:
            transformed = await calls.run_sync(hook, *values)
            values = list(transformed) if isinstance(transformed, (tuple, list)) else [transformed]
        try:
            values = self._inputs.take_state(values)  # the entry's state slots come first
        except StateOutputError as exc:
            self.fail(exc)
            return
        if not values and self._inputs.state:
            return  # it only updated the state
        try:
            values = to_json_values(values)
        except TypeError as exc:
            self.fail(HandlerOutputError(f"AdditionalOutputs must hold JSON-serialisable values: {exc}"))
            return
        self._seq += 1
        await self._publish(protocol.output(self._seq, values))

    def close_soon(self, reason: CloseReason, message: str = "") -> None:
        """Start closing from any thread (handlers, timers)."""
        self._on_loop(lambda: self._start_close(reason, message))

    def fail(self, exc: BaseException, code: CloseReason = CloseReason.HANDLER_ERROR) -> None:
        if code is CloseReason.MEDIA_ERROR:
            logger.error(
                "Session %s on %r: the server's media stopped (%s); ending the session.",
                self.id,
                self.endpoint.slug,
                exc,
                exc_info=(type(exc), exc, exc.__traceback__),
            )
            message = "The server stopped sending media because of an internal error; the session has ended."
        else:
            logger.error(
                "Session %s on %r: the handler raised; ending the session.",
                self.id,
                self.endpoint.slug,
                exc_info=(type(exc), exc, exc.__traceback__),
            )
            message = visitor_message("The handler failed.", exc, public=(HandlerOutputError, HandlerTimeout))
        self._events.put(protocol.error(code, message))
        self.close_soon(code, message)

    # RunnerContext.close
    def close(self, reason: CloseReason, message: str = "") -> None:
        self.close_soon(reason, message)

    # -- connection events and timers ----------------------------------------

    def _on_connection_state(self, pc: RTCPeerConnection) -> None:
        if pc is not self.pc:
            return  # a connection dropped after a refused offer
        state = pc.connectionState
        if state == "connected" and self.state is SessionState.NEGOTIATING:
            self._move(SessionState.CONNECTED)
            self.connected_at = time.monotonic()
            logger.info(
                "Session %s started on %r (%s %s) for %s",
                self.id,
                self.endpoint.slug,
                self.endpoint.mode,
                self.endpoint.modality,
                self.client or "unknown client",
            )
            if self.endpoint.time_limit is not None:
                self._timers.append(self.loop.call_later(self.endpoint.time_limit, self._time_is_up))
            self.send_event("connected")
            assert self.runner is not None
            self.runner.spawn(self.runner.start(), "start")
        elif state == "closed" and self.state is SessionState.CONNECTED:
            # The peer closed its connection (DTLS close_notify): a hang-up, not a failure.
            self._start_close(CloseReason.DISCONNECTED, "The client closed the media connection.")
        elif state in ("failed", "closed") and self.state in (SessionState.NEGOTIATING, SessionState.CONNECTED):
            self._start_close(
                CloseReason.CONNECTION_FAILED, "The media connection failed (ICE or DTLS); a TURN server may be needed."
            )

    def _time_is_up(self) -> None:
        self._start_close(CloseReason.TIME_LIMIT, f"The time limit of {self.endpoint.time_limit:g} s was reached.")

    def _connect_timeout(self) -> None:
        if self.state is SessionState.NEGOTIATING:
            self._start_close(
                CloseReason.CONNECTION_FAILED,
                "The media connection did not come up in time; a TURN server may be needed.",
            )

    # -- closing ---------------------------------------------------------------

    def _start_close(self, reason: CloseReason, message: str) -> None:
        if self._closing is None and self.state not in (SessionState.CLOSING, SessionState.CLOSED):
            self._closing = self.loop.create_task(self._close(reason, message), name=f"rtcstream:{self.id}:close")

    async def close_now(self, reason: CloseReason, message: str = "") -> None:
        """Close and wait until the session is fully closed."""
        self._start_close(reason, message)
        await self.closed.wait()

    async def _close(self, reason: CloseReason, message: str) -> None:
        self._move(SessionState.CLOSING)
        self.close_reason = reason
        negotiation = self._negotiation
        if negotiation is not None and not negotiation.done():
            if not self._refusing:
                negotiation.cancel()
            await asyncio.wait([negotiation])
        if negotiation is not None and not negotiation.cancelled() and negotiation.exception() is not None:
            logger.error("Session %s: negotiation ended with %r", self.id, negotiation.exception())
        try:
            await self._teardown(reason)
        finally:
            await self._outputs.flush()
            await self._outputs.close()
            self._events.put(protocol.closed(reason, message))
            await self._events.flush()
            await self._events.close()
            self._move(SessionState.CLOSED)
            _open.discard(self)
            lived = time.monotonic() - (self.connected_at or self.opened_at)
            logger.info("Session %s on %r ended: reason=%s duration=%.1fs", self.id, self.endpoint.slug, reason, lived)
            self.closed.set()


def open_sessions() -> list[Session]:
    """The sessions of this process that are not closed yet."""
    return list(_open)
