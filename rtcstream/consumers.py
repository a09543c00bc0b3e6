"""The Channels consumers: signalling (one session per socket) and additional outputs."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from . import clients, conf, protocol
from .disclosure import visitor_message
from .endpoints import get_endpoint, is_allowed
from .limits import SessionLimitReached
from .protocol import Candidate, Inputs, Offer, Ping, ProtocolError, Stop, Trigger
from .session import Session
from .tokens import make_outputs_token, read_outputs_token

logger = logging.getLogger("rtcstream.consumers")

CLOSE_UNKNOWN_ENDPOINT = 4404
CLOSE_FORBIDDEN = 4403
CLOSE_TOO_MANY = 4429


def session_group(session_id: str) -> str:
    """The group a session's signalling consumer listens on (control messages)."""
    return f"rtcstream.session.{session_id}"


def outputs_group(session_id: str) -> str:
    """The group a session's outputs are published to."""
    return f"rtcstream.outputs.{session_id}"


class RefusingConsumer(AsyncWebsocketConsumer):
    async def refuse(self, code: int) -> None:
        """Accept, then close with ``code``: a handshake denial reaches browsers as 1006, which says nothing."""
        await self.accept()
        await self.close(code=code)


def client_address(scope: dict[str, Any]) -> str | None:
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else None


def client_host(scope: dict[str, Any]) -> str | None:
    client = scope.get("client")
    return client[0] if client else None


class SignallingConsumer(RefusingConsumer):
    """Offer/answer, trickled candidates, inputs, trigger and stop for one session.

    Negotiation runs in its own task, so candidates and ``stop`` are handled
    while an offer is being answered (Channels handles one message at a time).
    """

    session: Session | None = None
    negotiation: asyncio.Task[None] | None = None
    counted_host: str | None = None
    socket_open = True

    async def connect(self) -> None:
        host = client_host(self.scope)
        if not clients.try_open(host):
            logger.warning("Refused a signalling socket from %s: too many open sessions", host)
            await self.refuse(CLOSE_TOO_MANY)
            return
        self.counted_host = host or ""
        slug = self.scope["url_route"]["kwargs"]["endpoint"]
        endpoint = await database_sync_to_async(get_endpoint)(slug)
        if endpoint is None:
            await self.refuse(CLOSE_UNKNOWN_ENDPOINT)
            return
        user = self.scope.get("user")
        if not await database_sync_to_async(is_allowed)(endpoint, user):
            await self.refuse(CLOSE_FORBIDDEN)
            return
        self.session = Session(
            endpoint,
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
                "ice_servers": endpoint.effective_ice_servers,
            }
        )

    async def disconnect(self, code: int) -> None:
        self.socket_open = False
        if self.counted_host is not None:
            clients.close(self.counted_host or None)
            self.counted_host = None
        if self.negotiation is not None:
            self.negotiation.cancel()
        if self.session is not None:
            await self.session.close_now("disconnected")
            await self.channel_layer.group_discard(session_group(self.session.id), self.channel_name)

    async def send_json(self, content: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(content))

    async def _send_from_session(self, message: dict[str, Any]) -> None:
        if not self.socket_open:
            return  # the page is gone; nothing to tell it
        await self.send_json(message)
        if message["type"] == "closed":
            await self.channel_layer.group_send(
                outputs_group(self.session.id), {"type": "rtcstream.end", "reason": message["reason"]}
            )
            await self.close(code=1000)

    async def _publish(self, output: dict[str, Any]) -> None:
        await self.channel_layer.group_send(outputs_group(self.session.id), {**output, "type": "rtcstream.output"})

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            message = protocol.parse(text_data, conf.get("MAX_MESSAGE_BYTES"))
            await self.handle(message)
        except ProtocolError as exc:
            await self.send_json(exc.as_message())

    async def handle(self, message: protocol.ClientMessage) -> None:
        session = self.session
        assert session is not None
        if isinstance(message, Offer):
            if self.negotiation is not None and not self.negotiation.done():
                raise ProtocolError("invalid_state", "An offer is already being answered.")
            self.negotiation = asyncio.ensure_future(self._negotiate(session, message))
        elif isinstance(message, Candidate):
            await session.add_candidate(message)
        elif isinstance(message, Inputs):
            session.set_inputs(message.values)
        elif isinstance(message, Trigger):
            session.trigger()
        elif isinstance(message, Stop):
            await session.close_now("client_stop", "Stopped by the client.")
        elif isinstance(message, Ping):
            await self.send_json({"type": "pong"})

    async def _negotiate(self, session: Session, offer: Offer) -> None:
        try:
            sdp = await session.negotiate(offer)
        except ProtocolError as exc:
            await self.send_json(exc.as_message())
        except SessionLimitReached as exc:
            await self.send_json(protocol.error(exc.code, str(exc)))
        except Exception as exc:
            logger.exception("Session %s: negotiation failed", session.id)
            message = visitor_message("The server could not start this stream.", exc)
            await self.send_json(protocol.error("server_error", message))
        else:
            await self.send_json(protocol.answer(sdp))

    async def rtcstream_terminate(self, event: dict[str, Any]) -> None:
        """Handle a control message from the admin (possibly in another process)."""
        if self.session is not None:
            await self.session.close_now("terminated", "Stopped by an administrator.")


class OutputsConsumer(RefusingConsumer):
    """Forward a session's AdditionalOutputs from the channel layer to the page."""

    group: str | None = None

    async def connect(self) -> None:
        session_id = read_outputs_token(self.scope["url_route"]["kwargs"]["token"], self.scope.get("user"))
        if session_id is None:
            await self.refuse(CLOSE_FORBIDDEN)
            return
        self.group = outputs_group(session_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        await self.send(text_data=json.dumps(protocol.error("unknown_type", "The outputs socket only sends.")))

    async def rtcstream_output(self, event: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(protocol.output(event["seq"], event["values"])))

    async def rtcstream_end(self, event: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps({"type": "end", "reason": event["reason"]}))
        await self.close(code=1000)
