"""How the client reaches the server: a real websocket, or Channels' in-process communicator."""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from typing import Any, Protocol

from rtcstream import page_json
from rtcstream.client.errors import DEFAULT_TIMEOUT, RtcError
from rtcstream.signalling.close_codes import CloseCode

IN_PROCESS_ADDRESS = "127.0.0.1"
_ports = itertools.count(40000)


class Transport(Protocol):
    async def send_json(self, message: dict[str, Any]) -> None: ...
    async def send_bytes(self, data: bytes) -> None: ...
    async def receive(self) -> dict[str, Any] | bytes | None: ...  # a JSON message, a binary frame, None: closed
    async def close(self) -> None: ...


# The messages after which the server says nothing more on a socket (rtcstream.signalling.last_word).
LAST_WORDS = frozenset({"closed", "end"})


class _Frames:
    """What both transports share: the client hangs up after the server's last word, as the widget does
    and as the server waits for it to (``rtcstream.signalling.last_word``): a ``refused`` message (the
    server's refusal, its close code) is taken as the socket's close; a ``closed`` or an ``end`` is read,
    and the next read hangs up. Text is read as a browser reads it (``page_json.loads``: a NaN from the
    server raises, as ``JSON.parse`` throws)."""

    close_code: int | None = None  # the server's refusal, or the code the socket's close handshake ended with
    _last_word_read = False

    async def receive(self) -> dict[str, Any] | bytes | None:
        if self._last_word_read:
            await self.close()
            return None
        frame = await self._receive_frame()
        if isinstance(frame, dict) and frame.get("type") == "refused":
            self.close_code = int(frame["code"])
            await self.close()
            return None
        self._last_word_read = isinstance(frame, dict) and frame.get("type") in LAST_WORDS
        return frame

    async def _receive_frame(self) -> dict[str, Any] | bytes | None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError


class WebsocketTransport(_Frames):
    """A real websocket (the ``websockets`` library) to a running server."""

    def __init__(self, socket: Any) -> None:
        self.socket = socket

    @classmethod
    async def open(
        cls, url: str, origin: str, local_address: str | None = None, headers: Sequence[tuple[str, str]] = ()
    ) -> WebsocketTransport:
        """Connect to ``url``; ``local_address`` picks the source address (e.g. one of 127.0.0.0/8),
        ``headers`` are sent with the handshake (a ``Cookie`` logs the client in)."""
        import websockets
        from websockets.typing import Origin

        extra: dict[str, Any] = {"local_addr": (local_address, 0)} if local_address else {}
        if headers:
            extra["additional_headers"] = list(headers)
        return cls(await websockets.connect(url, origin=Origin(origin), max_size=2**22, **extra))

    async def send_json(self, message: dict[str, Any]) -> None:
        await self.socket.send(json.dumps(message))

    async def send_text(self, text: str) -> None:
        await self.socket.send(text)

    async def send_bytes(self, data: bytes) -> None:
        await self.socket.send(data)

    async def _receive_frame(self) -> dict[str, Any] | bytes | None:
        import websockets

        try:
            frame = await self.socket.recv()
            return frame if isinstance(frame, bytes) else page_json.loads(frame)
        except websockets.ConnectionClosed as closed:
            self.close_code = closed.rcvd.code if closed.rcvd is not None else None
            return None

    async def close(self) -> None:
        await self.socket.close()
        if self.close_code is None:
            self.close_code = self.socket.close_code  # the server's answer to our close (1006: none came)


class CommunicatorTransport(_Frames):
    """An in-process connection through ``channels.testing.WebsocketCommunicator``."""

    def __init__(self, communicator: Any) -> None:
        self.communicator = communicator
        self._disconnected = False

    @classmethod
    async def open(
        cls, application: Any, path: str, origin: str, headers: Sequence[tuple[str, str]] = ()
    ) -> CommunicatorTransport:
        from channels.testing import WebsocketCommunicator

        sent = [(b"origin", origin.encode()), *((name.lower().encode(), value.encode()) for name, value in headers)]
        communicator = WebsocketCommunicator(application, path, headers=sent)
        # A peer address, as a server would give: the per-client cap counts it.
        communicator.scope["client"] = (IN_PROCESS_ADDRESS, next(_ports))
        connected, code = await communicator.connect(timeout=DEFAULT_TIMEOUT)
        if not connected:
            raise RtcError("refused", f"the server refused the websocket {path} (close code {code})")
        return cls(communicator)

    async def send_json(self, message: dict[str, Any]) -> None:
        await self.communicator.send_to(text_data=json.dumps(message))

    async def send_text(self, text: str) -> None:
        await self.communicator.send_to(text_data=text)

    async def send_bytes(self, data: bytes) -> None:
        await self.communicator.send_to(bytes_data=data)

    async def _receive_frame(self) -> dict[str, Any] | bytes | None:
        message = await self.communicator.output_queue.get()
        if message["type"] == "websocket.close":
            self.close_code = message.get("code")
            return None
        if message.get("bytes") is not None:
            return bytes(message["bytes"])
        return page_json.loads(message["text"])

    async def close(self) -> None:
        # Also after the server closed: the disconnect completes the close
        # handshake, as a real server's would, so the consumer ends.
        if not self._disconnected:
            self._disconnected = True
            await self.communicator.disconnect(code=int(CloseCode.NORMAL), timeout=DEFAULT_TIMEOUT)
        if self.close_code is None:
            self.close_code = int(CloseCode.NORMAL)  # our hang-up's (in process, no server answers a close)
