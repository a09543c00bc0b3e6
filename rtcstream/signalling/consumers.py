"""The Channels consumers: signalling (one session per socket) and additional outputs.
(A Twilio media stream's consumer, a session socket too, is ``rtcstream.transports.twilio.consumer``.)

The Host check and the socket caps run before them, as ASGI middleware
(``rtcstream.signalling.middleware``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from autobahn.exception import Disconnected
from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer

from rtcstream import conf, page_json
from rtcstream.admission import client_identity
from rtcstream.checks import startup
from rtcstream.endpoints.resolution import Endpoint, get_endpoint, is_allowed
from rtcstream.operations.drain import RESTARTING
from rtcstream.reasons import CloseReason, MessageError
from rtcstream.runtime import Runtime, get_runtime
from rtcstream.session import outputs
from rtcstream.session.lifecycle import Send, Session
from rtcstream.session.visitor import Visitor, load_visitor
from rtcstream.signalling import last_word, protocol, refusal
from rtcstream.signalling.close_codes import CloseCode
from rtcstream.signalling.groups import outputs_group, session_group
from rtcstream.signalling.message_budget import BudgetedInbox, MessageBudget
from rtcstream.signalling.protocol import (
    Candidate,
    Consent,
    Inputs,
    Media,
    Offer,
    Ping,
    ProtocolError,
    Stop,
    Text,
    Trigger,
)
from rtcstream.signalling.tokens import make_outputs_token, read_outputs_token
from rtcstream.transports.browser import BrowserWire
from rtcstream.transports.table import WEBSOCKET, page_transports
from rtcstream.transports.websocket import WebsocketAudio

logger = logging.getLogger("rtcstream.consumers")

# What the ASGI server raises when a consumer sends to a client that has gone: daphne's websocket library
# raises Disconnected; the ASGI spec asks servers for an OSError (IOError).
CLIENT_GONE = (Disconnected, OSError)

# How long an outputs socket waits for its session's signalling consumer to vouch for it.
LIVENESS_TIMEOUT = 3.0

INTERNAL_ERROR = "The server could not handle this message; the server log has the details."


def _stop_reason(stop: Stop) -> tuple[CloseReason, str]:
    """How a client's ``stop`` ends its session: a fallback to the websocket, or a plain stop."""
    if stop.fell_back:
        return CloseReason.FELL_BACK, "WebRTC did not connect: the page goes on over the websocket."
    return CloseReason.CLIENT_STOP, "Stopped by the client."


def client_address(scope: dict[str, Any]) -> str | None:
    host = client_identity.client_host(scope)
    client = scope.get("client")
    if host is None or not client:
        return host
    return host if host != client[0] else f"{client[0]}:{client[1]}"


class RtcstreamConsumer(AsyncWebsocketConsumer):
    """What every rtcstream socket shares: refusals with a close code (``refusal``), a failed connect
    that says so (4500, or 4501 without a channel layer), and an end that runs exactly
    once, however the socket goes (disconnect, a failed connect, or the server cancelling it)."""

    accepted = False
    ended = False
    said_last_word = False  # its last message went out (a refusal, `closed`, `end`): input is dropped, no 2nd refusal
    says_refusals = True  # False: a refusal is a close at once (a peer that speaks its own protocol, not ours)
    _closing: asyncio.Task[None] | None = None  # closes the socket if its client has not hung up after the last word

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        rate = conf.get("MAX_MESSAGES_PER_SECOND")
        inbox = None if rate is None else BudgetedInbox(receive, MessageBudget(rate))
        pump = None if inbox is None else asyncio.create_task(inbox.pump(), name="rtcstream:inbox")
        try:
            await super().__call__(scope, receive if inbox is None else inbox.receive, send)
        finally:
            if pump is not None:
                pump.cancel()
            # Server shutdown cancels the consumer without a disconnect: end it here.
            await asyncio.shield(self._end_once(CloseReason.SERVER_SHUTDOWN))
            if inbox is not None and inbox.dropped:
                logger.info("%s: dropped %d frames sent over its budget", type(self).__name__, inbox.dropped)

    async def websocket_connect(self, message: dict[str, Any]) -> None:
        await startup.before_first_socket()
        if self.channel_layer is None:
            logger.error("Refused a websocket: settings.CHANNEL_LAYERS names no channel layer (rtcstream.E010)")
            await self.refuse(CloseCode.NO_CHANNEL_LAYER)
            return
        await super().websocket_connect(message)

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Run one handler; an exception is logged and never lets the consumer die
        (a connect that fails is refused with 4500)."""
        try:
            await super().dispatch(message)
        except StopConsumer:
            raise
        except Exception:
            logger.exception("%s: handling %r failed", type(self).__name__, message.get("type"))
            if message.get("type") == "websocket.connect":
                await self.refuse(CloseCode.SERVER_ERROR)

    async def accept(self, subprotocol: str | None = None, headers: Any = None) -> None:
        await super().accept(subprotocol, headers)
        self.accepted = True

    async def refuse(self, code: CloseCode) -> None:
        """Accept (unless done already; a handshake denial reaches browsers as 1006), say why in a
        ``refused`` message, this socket's last word (``say_last_word``). What it sends meanwhile is dropped."""
        if self.said_last_word:
            return  # its last word is said (a connect that failed after its refusal): the first reason stands
        get_runtime().metrics.socket_refused(code.name.lower())
        if not self.accepted:
            await self.accept()
        if not (self.says_refusals and refusal.start_waiting()):
            self.said_last_word = True
            await self.close(code=int(code))
            return
        # The wait ends with the closing task, however it ends (the close, or cancelled when the client hangs up).
        closing = await self.say_last_word(refusal.message(code), code)
        closing.add_done_callback(lambda _task: refusal.stop_waiting())

    async def say_last_word(self, content: dict[str, Any], code: CloseCode) -> asyncio.Task[None]:
        """Send ``content``, this socket's last message, and leave the client to hang up; close with ``code``
        only if it has not after ``last_word.GRACE`` (``rtcstream.signalling.last_word`` says why). What comes
        in meanwhile is dropped. Returns the task that closes it (cancelled when the client hangs up first);
        a second last word is not said."""
        if self._closing is not None:
            return self._closing
        self.said_last_word = True
        self._closing = asyncio.create_task(self._close_after_grace(code), name="rtcstream:last-word")
        await self.send_json(content)
        return self._closing

    async def _close_after_grace(self, code: CloseCode) -> None:
        await asyncio.sleep(last_word.GRACE)
        await self.close(code=int(code))

    async def websocket_receive(self, message: dict[str, Any]) -> None:
        if not self.said_last_word:
            await super().websocket_receive(message)

    async def rtcstream_flooded(self, message: dict[str, Any]) -> None:
        """The client sent more frames than its budget (``message_budget``); the inbox drops the rest."""
        logger.warning(
            "%s from %s: more than %s frames a second (RTCSTREAM['MAX_MESSAGES_PER_SECOND']); the socket is ended",
            type(self).__name__,
            client_address(self.scope),
            conf.get("MAX_MESSAGES_PER_SECOND"),
        )
        if not self.said_last_word:
            await self.too_many_messages()

    async def too_many_messages(self) -> None:
        """The client sends faster than ``MAX_MESSAGES_PER_SECOND``: close its socket (``message_budget``)."""
        get_runtime().metrics.socket_refused(CloseReason.TOO_MANY_MESSAGES)
        await self.close(code=int(CloseCode.TOO_MANY_MESSAGES))

    async def disconnect(self, code: int) -> None:
        await self._end_once(CloseReason.DISCONNECTED)

    async def _end_once(self, reason: CloseReason) -> None:
        if self.ended:
            return
        self.ended = True
        if self._closing is not None:
            self._closing.cancel()
        try:
            await self.end(reason)
        except Exception:
            logger.exception("Ending a %s failed", type(self).__name__)

    async def end(self, reason: CloseReason) -> None:
        """Release what this socket holds (called once)."""

    async def send(self, text_data: str | None = None, bytes_data: bytes | None = None, close: bool = False) -> None:
        """Send a frame. One for a client that has just hung up (its disconnect is queued behind what
        this consumer is handling) is dropped: the server raises then, and nobody is left to tell."""
        try:
            await super().send(text_data, bytes_data, close)
        except CLIENT_GONE as exc:
            logger.debug("%s: the client hung up before a frame could be sent (%r)", type(self).__name__, exc)

    async def send_json(self, content: dict[str, Any]) -> None:
        """Send ``content`` as JSON; a NaN or infinity in it is refused (``page_json``), as JSON has none."""
        await self.send(text_data=page_json.dumps(content, name="message"))


class UnknownPathConsumer(RtcstreamConsumer):
    """Any other websocket path: refused with 4404, not an HTTP 500 and a traceback."""

    async def connect(self) -> None:
        await self.refuse(CloseCode.NOT_FOUND)


class SessionConsumer(RtcstreamConsumer):
    """A socket that holds one session: it opens it, ends it with the socket, lets the admin
    terminate it and outputs sockets ask after it, and publishes its outputs."""

    session: Session | None = None
    socket_open = True

    async def endpoint_for(self, slug: str, user: Any) -> Endpoint | None:
        """The endpoint ``slug`` if ``user`` may open a session on it; else the socket is refused (None)."""
        endpoint = await database_sync_to_async(get_endpoint)(slug)
        if endpoint is None:
            await self.refuse(CloseCode.NOT_FOUND)
            return None
        if not await database_sync_to_async(is_allowed)(endpoint, user):
            await self.refuse(CloseCode.FORBIDDEN)
            return None
        if get_runtime().at_session_limit(f"a session on {slug!r}"):
            await self.refuse(CloseCode.TOO_MANY_SESSIONS)
            return None
        if get_runtime().draining:  # no await between this check and the session: a drain that begins later sees it
            await self.refuse(CloseCode.RESTARTING)
            return None
        return endpoint

    async def open_session(self, endpoint: Endpoint, visitor: Visitor | None, send: Send) -> Session:
        """Make this socket's session for ``visitor`` (None: anonymous); ``send`` gets every message it has
        for its client. No await before the session is made, so the process's count of sessions is exact."""
        self.session = Session(
            endpoint,
            get_runtime(),
            send=send,
            publish=self._publish,
            client=client_address(self.scope),
            visitor=visitor,
        )
        await self.channel_layer.group_add(session_group(self.session.id), self.channel_name)
        return self.session

    def _visitor_and_quota(self, runtime: Runtime) -> tuple[Visitor, dict[str, Any] | None]:
        """Who opened the socket, and their quota as the page is told it (None: no limits). In a thread."""
        visitor = load_visitor(self.scope)
        if not visitor.is_authenticated:
            return visitor, None
        standing = runtime.admission.quota_standing_sync(visitor.user.pk)
        return visitor, standing.as_data() if standing is not None else None

    async def end(self, reason: CloseReason) -> None:
        self.socket_open = False
        if self.session is not None:
            message = "The server is shutting down." if reason == CloseReason.SERVER_SHUTDOWN else ""
            await self.session.close_and_wait(reason, message)
            await self.channel_layer.group_discard(session_group(self.session.id), self.channel_name)

    async def _publish(self, message: dict[str, Any]) -> None:
        """Send ``message`` (an ``output``, or the ``end``) to the session's outputs socket, in whatever process."""
        assert self.session is not None
        await self.channel_layer.group_send(
            outputs_group(self.session.id), {**message, "type": f"rtcstream.{message['type']}"}
        )

    async def too_many_messages(self) -> None:
        """End the session (its page is told why, the ledger records it): the `closed` is the socket's last word."""
        if self.session is None:
            await super().too_many_messages()
            return
        await self.session.close_and_wait(
            CloseReason.TOO_MANY_MESSAGES, "This page sent the server more messages than it accepts."
        )

    async def rtcstream_terminate(self, event: dict[str, Any]) -> None:
        """Handle a control message from the admin (possibly in another process)."""
        if self.session is not None:
            await self.session.close_and_wait(CloseReason.TERMINATED, "Stopped by an administrator.")

    async def rtcstream_probe(self, event: dict[str, Any]) -> None:
        """An outputs socket asks whether this session still lives (its token is only good while it does)."""
        if self.session is not None and not self.session.ending:
            await self.channel_layer.send(event["reply"], {"type": "rtcstream.alive"})


class SignallingConsumer(SessionConsumer):
    """Offer/answer, trickled candidates, inputs, trigger and stop for one session; or,
    after a ``media`` message, its audio as binary frames on this socket (``WebsocketAudio``).

    The session answers an offer in its own task, so candidates and ``stop``
    are handled while the offer is being answered.
    """

    audio: WebsocketAudio | None = None  # the session's audio, once it goes over this socket

    async def connect(self) -> None:
        user = self.scope.get("user")
        visitor, quota = await database_sync_to_async(self._visitor_and_quota)(get_runtime())
        endpoint = await self.endpoint_for(self.scope["url_route"]["kwargs"]["endpoint"], user)
        if endpoint is None:
            return
        session = await self.open_session(endpoint, visitor, self._send_from_session)
        await self.accept()
        await self.send_json(
            {
                "type": "session",
                "session": session.id,
                "endpoint": endpoint.slug,
                "mode": endpoint.mode,
                "modality": endpoint.modality,
                "time_limit": endpoint.time_limit,
                "quota": quota,
                "outputs": f"/{conf.get('WS_PREFIX')}/outputs/{make_outputs_token(session.id, user)}/",
                "ice_servers": session.ice_servers,
                "ice_transport_policy": conf.get("ICE_TRANSPORT_POLICY"),
                "transports": page_transports(endpoint.mode, endpoint.modality),
                "recording": session.records,  # the page asks for consent, then sends `consent`
            }
        )

    async def _send_from_session(self, message: dict[str, Any]) -> None:
        if not self.socket_open:
            return  # the page is gone; nothing to tell it
        if message["type"] == "closed":
            await self.say_last_word(message, CloseCode.NORMAL)
        else:
            await self.send_json(message)

    async def _send_audio(self, payload: bytes) -> None:
        if self.socket_open:
            await self.send(bytes_data=payload)

    async def _send_control(self, message: dict[str, Any]) -> None:
        if self.socket_open:
            await self.send_json(message)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Handle one frame; whatever it holds, the socket lives and the client gets a coded answer."""
        try:
            if bytes_data is not None and self.audio is not None:
                self.audio.feed(bytes_data)
                return
            message = protocol.parse(text_data, conf.get("MAX_MESSAGE_BYTES"))
            await self.handle(message)
        except ProtocolError as exc:
            await self.send_json(exc.as_message())
        except Exception:
            logger.exception("Session %s: handling a message failed", self.session.id if self.session else "-")
            await self.send_json(protocol.error(MessageError.INTERNAL_ERROR, INTERNAL_ERROR))

    async def handle(self, message: protocol.ClientMessage) -> None:
        session = self.session
        assert session is not None
        if isinstance(message, (Offer, Media)) and session.runtime.draining:
            # SIGTERM: admit nothing here; the page starts again where a worker is up.
            await session.close_and_wait(CloseReason.SERVER_SHUTDOWN, RESTARTING)
        elif isinstance(message, Offer):
            session.offer(message)
            self.audio = None
        elif isinstance(message, Media):
            self.open_audio(session, message)
        elif isinstance(message, Candidate):
            await session.add_candidate(message)
        elif isinstance(message, Inputs):
            session.set_inputs(message.values)
        elif isinstance(message, Trigger):
            session.trigger()
        elif isinstance(message, Text):
            session.text(message.text)
        elif isinstance(message, Stop):
            await session.close_and_wait(*_stop_reason(message))
        elif isinstance(message, Ping):
            await self.send_json({"type": "pong"})
        elif isinstance(message, Consent):
            session.consent(message.recording)

    def open_audio(self, session: Session, message: Media) -> None:
        """Carry the session's audio on this socket, in the format the page asked for."""
        if not conf.get("WEBSOCKET_AUDIO"):
            raise ProtocolError(
                MessageError.UNSUPPORTED_TRANSPORT,
                "This server carries media by WebRTC only (RTCSTREAM['WEBSOCKET_AUDIO']).",
            )
        wire = BrowserWire(self._send_audio, self._send_control)
        audio = WebsocketAudio(WEBSOCKET, message.format, wire, session.on_media_state, session_id=session.id)
        session.open_media(audio, message.inputs)
        self.audio = audio


class OutputsConsumer(RtcstreamConsumer):
    """Forward a session's AdditionalOutputs from the channel layer to the page.

    The token names the session; the session's signalling consumer, in whatever
    process, must confirm the session is still open, so a token dies with its
    session (4410). The socket is accepted before it asks, so that the answer,
    which can take ``LIVENESS_TIMEOUT``, never outlasts the server's handshake
    timeout (daphne's is 5 s).
    """

    group: str | None = None

    async def connect(self) -> None:
        session_id = read_outputs_token(self.scope["url_route"]["kwargs"]["token"], self.scope.get("user"))
        if session_id is None:
            await self.refuse(CloseCode.FORBIDDEN)
            return
        self.group = outputs_group(session_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        if not await self._session_alive(session_id):
            await self.refuse(CloseCode.GONE)

    async def _session_alive(self, session_id: str) -> bool:
        # The default prefix, not a name of our own: channels_redis serves every
        # process-specific channel of a prefix from one Redis list, under one lock.
        # A second prefix is never read while this consumer's own receive holds that
        # lock, and the probe would time out on Redis (it works in memory).
        reply = await self.channel_layer.new_channel()
        await self.channel_layer.group_send(session_group(session_id), {"type": "rtcstream.probe", "reply": reply})
        try:
            async with asyncio.timeout(LIVENESS_TIMEOUT):
                answer = await self.channel_layer.receive(reply)
        except TimeoutError:
            return False
        return bool(answer.get("type") == "rtcstream.alive")

    async def end(self, reason: CloseReason) -> None:
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        await self.send_json(protocol.error(MessageError.UNKNOWN_TYPE, "The outputs socket only sends."))

    async def rtcstream_output(self, event: dict[str, Any]) -> None:
        await self.send(text_data=protocol.output(event["seq"], outputs.event_values_json(event)))

    async def rtcstream_end(self, event: dict[str, Any]) -> None:
        await self.say_last_word({"type": "end", "reason": event["reason"]}, CloseCode.NORMAL)
