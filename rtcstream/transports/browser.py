"""The browser's wire: audio as binary frames on the page's signalling socket, barge-in as a ``clear`` message."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any


class BrowserWire:
    """What ``WebsocketAudio`` sends on a page's signalling socket (docs/protocol.md, "Audio over the websocket")."""

    def __init__(
        self, send_bytes: Callable[[bytes], Awaitable[None]], send_json: Callable[[dict[str, Any]], Awaitable[None]]
    ) -> None:
        self._send_bytes = send_bytes
        self._send_json = send_json

    async def send_audio(self, payload: bytes) -> None:
        await self._send_bytes(payload)

    async def send_mark(self, name: str) -> None:
        """Nothing: a page learns that a reply has played from the ``playback_done`` event."""

    async def send_clear(self) -> None:
        await self._send_json({"type": "clear"})
