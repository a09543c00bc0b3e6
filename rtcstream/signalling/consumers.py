"""The Channels consumers: signalling (one session per socket) and additional outputs.

The Host check and the socket caps run before them, as ASGI middleware
(``rtcstream.signalling.middleware``).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer

from rtcstream import conf
from rtcstream.admission import client_identity
from rtcstream.endpoints.resolution import get_endpoint, is_allowed
from rtcstream.operations.drain import RESTARTING
from rtcstream.reasons import CloseReason
from rtcstream.runtime import get_runtime
from rtcstream.session.lifecycle import Session
from rtcstream.signalling import protocol
from rtcstream.signalling.close_codes import CloseCode
from rtcstream.signalling.protocol import Candidate, Inputs, Offer, Ping, ProtocolError, Stop, Trigger
from rtcstream.signalling.tokens import make_outputs_token, read_outputs_token

logger = logging.getLogger("rtcstream.consumers")

# How long an outputs socket waits for its session's signalling consumer to vouch for it.
LIVENESS_TIMEOUT = 3.0

INTERNAL_ERROR = "The server could not handle this message; the server log has the details."


def session_group(session_id: str) -> str:
    """The group a session's signalling consumer listens on (control messages)."""
    return f"rtcstream.session.{session_id}"


def outputs_group(session_id: str) -> str:
    """The group a session's outputs are published to."""
    return f"rtcstream.outputs.{session_id}"


def client_address(scope: dict[str, Any]) -> str | None:
    host = client_identity.client_host(scope)
    client = scope.get("client")
    if host is None or not client:
        return host
    return host if host != client[0] else f"{client[0]}:{client[1]}"


class RtcstreamConsumer(AsyncWebsocketConsumer):
    """What every rtcstream socket shares: refusals with a close code, a failed connect
    that says so (4500, or 4501 without a channel layer), and an end that runs exactly
    once, however the socket goes (disconnect, a failed connect, or the server cancelling it)."""

    accepted = False
    ended = False

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            # Server shutdown cancels the consumer without a disconnect: end it here.
            await asyncio.shield(self._end_once(CloseReason.SERVER_SHUTDOWN))

    async def websocket_connect(self, message: dict[str, Any]) -> None:
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
        """Accept (unless done already), then close with ``code``: a handshake denial reaches browsers as 1006."""
        get_runtime().metrics.socket_refused(code.name.lower())
        if not self.accepted:
            await self.accept()
        await self.close(code=int(code))

    async def disconnect(self, code: int) -> None:
        await self._end_once(CloseReason.DISCONNECTED)

    async def _end_once(self, reason: CloseReason) -> None:
        if self.ended:
            return
        self.ended = True
        try:
            await self.end(reason)
        except Exception:
            logger.exception("Ending a %s failed", type(self).__name__)

    async def end(self, reason: CloseReason) -> None:
        """Release what this socket holds (called once)."""

    async def send_json(self, content: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(content))


class UnknownPathConsumer(RtcstreamConsumer):
    """Any other websocket path: refused with 4404, not an HTTP 500 and a traceback."""

    async def connect(self) -> None:
        await self.refuse(CloseCode.NOT_FOUND)


class SignallingConsumer(RtcstreamConsumer):
    """Offer/answer, trickled candidates, inputs, trigger and stop for one session.

    The session answers an offer in its own task, so candidates and ``stop``
    are handled while the offer is being answered.
    """

    session: Session | None = None
    socket_open = True

    async def connect(self) -> None:
        slug = self.scope["url_route"]["kwargs"]["endpoint"]
        endpoint = await database_sync_to_async(get_endpoint)(slug)
        if endpoint is None:
            await self.refuse(CloseCode.NOT_FOUND)
            return
        user = self.scope.get("user")
        if not await database_sync_to_async(is_allowed)(endpoint, user):
            await self.refuse(CloseCode.FORBIDDEN)
            return
        runtime = get_runtime()
        limit = conf.get("MAX_SESSIONS")
        if limit is not None and len(runtime.sessions) >= limit:
            logger.warning("Refused a session on %r: this process holds its limit of %d (MAX_SESSIONS)", slug, limit)
            await self.refuse(CloseCode.TOO_MANY_SESSIONS)
            return
        if runtime.draining:  # no await between this check and the session: a drain that begins later sees it
            await self.refuse(CloseCode.RESTARTING)
            return
        self.session = Session(
            endpoint,
            runtime,
            send=self._send_from_session,
            publish=self._publish,
            client=client_address(self.scope),
            user=user if getattr(user, "is_authenticated", False) else None,
        )
        await self.channel_layer.group_add(session_group(self.session.id), self.channel_name)
        await self.accept()
        await self.send_json(
            {
                "type": "session",
                "session": self.session.id,
                "endpoint": endpoint.slug,
                "mode": endpoint.mode,
                "modality": endpoint.modality,
                "time_limit": endpoint.time_limit,
                "outputs": f"/{conf.get('WS_PREFIX')}/outputs/{make_outputs_token(self.session.id, user)}/",
                "ice_servers": self.session.ice_servers,
                "ice_transport_policy": conf.get("ICE_TRANSPORT_POLICY"),
            }
        )

    async def end(self, reason: CloseReason) -> None:
        self.socket_open = False
        if self.session is not None:
            message = "The server is shutting down." if reason == CloseReason.SERVER_SHUTDOWN else ""
            await self.session.close_and_wait(reason, message)
            await self.channel_layer.group_discard(session_group(self.session.id), self.channel_name)

    async def _send_from_session(self, message: dict[str, Any]) -> None:
        if not self.socket_open:
            return  # the page is gone; nothing to tell it
        await self.send_json(message)
        if message["type"] == "closed":
            await self.close(code=int(CloseCode.NORMAL))

    async def _publish(self, message: dict[str, Any]) -> None:
        """Send ``message`` (an ``output``, or the ``end``) to the session's outputs socket, in whatever process."""
        assert self.session is not None
        await self.channel_layer.group_send(
            outputs_group(self.session.id), {**message, "type": f"rtcstream.{message['type']}"}
        )

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Handle one frame; whatever it holds, the socket lives and the client gets a coded answer."""
        try:
            message = protocol.parse(text_data, conf.get("MAX_MESSAGE_BYTES"))
            await self.handle(message)
        except ProtocolError as exc:
            await self.send_json(exc.as_message())
        except Exception:
            logger.exception("Session %s: handling a message failed", self.session.id if self.session else "-")
            await self.send_json(protocol.error("internal_error", INTERNAL_ERROR))

    async def handle(self, message: protocol.ClientMessage) -> None:
        session = self.session
        assert session is not None
        if isinstance(message, Offer):
            if session.runtime.draining:  # SIGTERM: admit nothing here; the page starts again where a worker is up
                await session.close_and_wait(CloseReason.SERVER_SHUTDOWN, RESTARTING)
                return
            session.offer(message)
        elif isinstance(message, Candidate):
            await session.add_candidate(message)
        elif isinstance(message, Inputs):
            session.set_inputs(message.values)
        elif isinstance(message, Trigger):
            session.trigger()
        elif isinstance(message, Stop):
            await session.close_and_wait(CloseReason.CLIENT_STOP, "Stopped by the client.")
        elif isinstance(message, Ping):
            await self.send_json({"type": "pong"})

    async def rtcstream_terminate(self, event: dict[str, Any]) -> None:
        """Handle a control message from the admin (possibly in another process)."""
        if self.session is not None:
            await self.session.close_and_wait(CloseReason.TERMINATED, "Stopped by an administrator.")

    async def rtcstream_probe(self, event: dict[str, Any]) -> None:
        """An outputs socket asks whether this session still lives (its token is only good while it does)."""
        if self.session is not None and not self.session.ending:
            await self.channel_layer.send(event["reply"], {"type": "rtcstream.alive"})


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
        await self.send_json(protocol.error("unknown_type", "The outputs socket only sends."))

    async def rtcstream_output(self, event: dict[str, Any]) -> None:
        await self.send_json(protocol.output(event["seq"], event["values"]))

    async def rtcstream_end(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "end", "reason": event["reason"]})
        await self.close(code=int(CloseCode.NORMAL))
