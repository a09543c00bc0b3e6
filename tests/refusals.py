"""Reading a server's refusal as a client does: its ``refused`` message (rtcstream.signalling.refusal),
then the client hangs up; or a close, for a socket denied during its handshake (the Origin check)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import websockets


def refusal_code(frame: str | bytes) -> int | None:
    """The close code a text frame refuses the socket with, or None if it is another message."""
    if not isinstance(frame, str):
        return None
    message = json.loads(frame)
    return int(message["code"]) if isinstance(message, dict) and message.get("type") == "refused" else None


async def communicator_refusal(communicator: Any, quiet: float = 0.5) -> int | None:
    """Connect an in-process communicator; return the code the server refuses it with, or None if it
    accepts it and says nothing for ``quiet`` seconds (as an outputs socket does) or sends another message.
    The communicator is disconnected afterwards."""
    connected, code = await communicator.connect(timeout=5)
    if not connected:
        return int(code)  # denied during the handshake (the origin validator does this)
    try:
        if await communicator.receive_nothing(timeout=quiet):
            return None
        first = await communicator.receive_output(timeout=5)
    finally:
        await communicator.disconnect()
    if first["type"] == "websocket.close":
        return int(first["code"])
    return refusal_code(first.get("text") or b"")


async def socket_refusal(socket: Any, linger: float) -> int | None:
    """Read a real websocket until it is refused or closed: the refusal's code, the close's code, or
    None if it stays open ``linger`` seconds. A refused socket is hung up, as the widget does."""
    try:
        async with asyncio.timeout(linger):
            while True:
                code = refusal_code(await socket.recv())
                if code is not None:
                    await socket.close()
                    return code
    except websockets.ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd is not None else None
    except TimeoutError:
        return None
