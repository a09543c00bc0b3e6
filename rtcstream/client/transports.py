"""How the client reaches the server: a real websocket, or Channels' in-process communicator."""

from __future__ import annotations

import json
from typing import Any, Protocol

from .errors import DEFAULT_TIMEOUT, RtcError


class Transport(Protocol):
    async def send_json(self, message: dict[str, Any]) -> None: ...
    async def receive_json(self) -> dict[str, Any] | None: ...  # None when the socket closed
    async def close(self) -> None: ...


class WebsocketTransport:
    """A real websocket (the ``websockets`` library) to a running server."""

    def __init__(self, socket: Any) -> None:
        self.socket = socket
        self.close_code: int | None = None

    @classmethod
    async def open(cls, url: str, origin: str) -> WebsocketTransport:
        import websockets
        from websockets.typing import Origin

        return cls(await websockets.connect(url, origin=Origin(origin), max_size=2**22))

    async def send_json(self, message: dict[str, Any]) -> None:
        await self.socket.send(json.dumps(message))

    async def send_text(self, text: str) -> None:
        await self.socket.send(text)

    async def receive_json(self) -> dict[str, Any] | None:
        import websockets

        try:
            return json.loads(await self.socket.recv())
        except websockets.ConnectionClosed as closed:
            self.close_code = closed.rcvd.code if closed.rcvd is not None else None
            return None

    async def close(self) -> None:
        await self.socket.close()


class CommunicatorTransport:
    """An in-process connection through ``channels.testing.WebsocketCommunicator``."""

    def __init__(self, communicator: Any) -> None:
        self.communicator = communicator
        self.close_code: int | None = None
        self._closed = False

    @classmethod
    async def open(cls, application: Any, path: str, origin: str) -> CommunicatorTransport:
        from channels.testing import WebsocketCommunicator

        communicator = WebsocketCommunicator(application, path, headers=[(b"origin", origin.encode())])
        connected, code = await communicator.connect(timeout=DEFAULT_TIMEOUT)
        if not connected:
            raise RtcError("refused", f"the server refused the websocket {path} (close code {code})")
        return cls(communicator)

    async def send_json(self, message: dict[str, Any]) -> None:
        await self.communicator.send_to(text_data=json.dumps(message))

    async def send_text(self, text: str) -> None:
        await self.communicator.send_to(text_data=text)

    async def receive_json(self) -> dict[str, Any] | None:
        message = await self.communicator.output_queue.get()
        if message["type"] == "websocket.close":
            self._closed = True
            self.close_code = message.get("code")
            return None
        return json.loads(message["text"])

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self.communicator.disconnect(timeout=DEFAULT_TIMEOUT)
