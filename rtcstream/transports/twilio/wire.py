"""Twilio's wire: a session's audio as ``media`` messages to the caller, ``mark`` after each
reply chunk, ``clear`` on barge-in."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from rtcstream.transports.twilio import messages


class TwilioWire:
    """What ``WebsocketAudio`` sends on a Twilio media stream (``stream_sid``'s)."""

    def __init__(self, send_json: Callable[[dict[str, Any]], Awaitable[None]], stream_sid: str) -> None:
        self._send_json = send_json
        self.stream_sid = stream_sid

    async def send_audio(self, payload: bytes) -> None:
        await self._send_json(messages.media(self.stream_sid, payload))

    async def send_mark(self, name: str) -> None:
        await self._send_json(messages.mark(self.stream_sid, name))

    async def send_clear(self) -> None:
        await self._send_json(messages.clear(self.stream_sid))
