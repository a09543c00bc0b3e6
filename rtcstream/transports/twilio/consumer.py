"""One phone call: Twilio's media stream on an endpoint, a session whose audio is the call's."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from rtcstream import conf
from rtcstream.endpoints.resolution import Endpoint
from rtcstream.reasons import CloseReason
from rtcstream.session.states import SessionState
from rtcstream.signalling.close_codes import CloseCode
from rtcstream.signalling.consumers import SessionConsumer
from rtcstream.signalling.protocol import ProtocolError
from rtcstream.transports.formats import MULAW_8K
from rtcstream.transports.table import TWILIO
from rtcstream.transports.twilio import messages
from rtcstream.transports.twilio.tokens import StreamGrant, claim, read_stream_token
from rtcstream.transports.twilio.wire import TwilioWire
from rtcstream.transports.websocket import WebsocketAudio

logger = logging.getLogger("rtcstream.twilio")

# How long Twilio may take to send ``start`` after the socket opens (it sends it at once).
START_TIMEOUT = 10.0


class TwilioConsumer(SessionConsumer):
    """A Twilio media stream: ``connected``, ``start`` (the session opens), ``media``, ``mark``, ``stop``.

    The socket is accepted only with a valid, unused stream token for its endpoint
    (``tokens``), so nobody but the webhook's caller opens phone sessions. The
    session then lives as any other (admission, time limit, the admin's terminate,
    one teardown); its events have no place on a phone line and are not sent.
    """

    says_refusals = False  # Twilio takes a `refused` message as invalid (its warning 31951): a close at once
    endpoint: Endpoint | None = None
    grant: StreamGrant | None = None
    audio: WebsocketAudio | None = None
    _start_timer: asyncio.TimerHandle | None = None
    _pending = b""  # μ-law bytes short of a whole 20 ms frame

    async def connect(self) -> None:
        kwargs = self.scope["url_route"]["kwargs"]
        if not conf.get("TWILIO_AUTH_TOKEN"):
            await self.refuse(CloseCode.NOT_FOUND)
            return
        grant = read_stream_token(kwargs["token"], kwargs["endpoint"])
        if grant is None or not await claim(grant):
            logger.warning("Refused a Twilio stream on %r: its token is invalid, expired or used", kwargs["endpoint"])
            await self.refuse(CloseCode.FORBIDDEN)
            return
        self.endpoint = await self.endpoint_for(grant.endpoint, None)
        if self.endpoint is None:
            return
        self.grant = grant
        await self.accept()
        self._start_timer = asyncio.get_running_loop().call_later(START_TIMEOUT, self._no_start)

    def _no_start(self) -> None:
        if self.session is None and self.socket_open:
            logger.warning("Twilio stream on %r: no 'start' within %g s; closing it", self.endpoint, START_TIMEOUT)
            asyncio.ensure_future(self.close(code=int(CloseCode.NORMAL)))

    async def end(self, reason: CloseReason) -> None:
        if self._start_timer is not None:
            self._start_timer.cancel()
        await super().end(reason)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            message = messages.parse(text_data, conf.get("MAX_MESSAGE_BYTES"))
        except messages.TwilioMessageError as exc:
            logger.info("Twilio stream on %r: ignored %s", self.endpoint and self.endpoint.slug, exc)
            return
        if isinstance(message, messages.Start):
            await self._start(message)
        elif isinstance(message, messages.Media):
            self._feed(message.payload)
        elif isinstance(message, messages.Mark):
            if self.audio is not None:
                self.audio.mark_played(message.name)
        elif isinstance(message, messages.Stop):
            if self.session is not None:
                await self.session.close_and_wait(CloseReason.CLIENT_STOP, "The call ended.")
            else:
                await self.close(code=int(CloseCode.NORMAL))

    async def _start(self, start: messages.Start) -> None:
        endpoint, grant = self.endpoint, self.grant
        assert endpoint is not None and grant is not None  # connect() accepted only with both
        if self.session is not None:
            return  # Twilio starts a stream once
        if start.call_sid != grant.call_sid or start.format is None:
            logger.warning(
                "Twilio stream on %r: refused its start (call %s, the token's %s; format %s)",
                endpoint.slug,
                start.call_sid,
                grant.call_sid,
                start.format or "not μ-law 8 kHz mono",
            )
            await self.close(code=int(CloseCode.FORBIDDEN))
            return
        session = await self.open_session(endpoint, None, self._send_from_session)
        wire = TwilioWire(self._send_control, start.stream_sid)
        audio = WebsocketAudio(TWILIO, MULAW_8K, wire, session.on_media_state, session_id=session.id)
        try:
            session.open_media(audio)
        except ProtocolError as exc:
            logger.warning("Twilio stream on %r: %s", endpoint.slug, exc.message)
            await self.close(code=int(CloseCode.NORMAL))
            return
        self.audio = audio
        logger.info("Twilio call %s (stream %s) is session %s", start.call_sid, start.stream_sid, session.id)

    def _feed(self, payload: bytes) -> None:
        """Cut Twilio's payloads (20 ms each, as it sends them) into frames for the transport."""
        if self.audio is None:
            return
        data = self._pending + payload
        size = MULAW_8K.frame_bytes
        whole = len(data) // size * size
        self._pending = data[whole:]
        for start in range(0, whole, size):
            self.audio.feed(data[start : start + size])

    async def _send_control(self, message: dict[str, Any]) -> None:
        if self.socket_open:
            await self.send_json(message)

    async def _send_from_session(self, message: dict[str, Any]) -> None:
        """The session's messages: its end hangs up; a refusal (the concurrency limit) too; the rest stays here."""
        if not self.socket_open:
            return
        session = self.session
        refused = message["type"] == "error" and session is not None and session.state is SessionState.NEW
        if refused:
            logger.warning("Twilio stream: the call was refused (%s): %s", message["code"], message["message"])
        if message["type"] == "closed" or refused:
            await self.close(code=int(CloseCode.NORMAL))
