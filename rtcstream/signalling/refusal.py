"""How a websocket is refused so that its reason survives a client that reads late.

A refused socket is accepted, told why in a ``refused`` message (its close
code), and left for the client to hang up; the server closes it with the code
only if the client has not hung up after ``GRACE`` seconds.

Why not close at once with the code: daphne's websocket library aborts the TCP
connection (a reset) when the client has not answered a server's close within
its fixed 1 s close-handshake timeout, and a busy browser that had not read the
close frame yet loses it with the reset: it reports 1006, and the visitor never
learns the reason. A close the client starts itself cannot be lost that way.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from rtcstream.runtime import get_runtime
from rtcstream.signalling.close_codes import CloseCode

GRACE = 5.0  # seconds a refused socket waits for its client to hang up, then it is closed with its code


def message(code: CloseCode) -> dict[str, Any]:
    """The ``refused`` message: the client hangs up, and reports ``code`` as the socket's close code."""
    return {"type": "refused", "code": int(code), "reason": code.name.lower()}


async def refuse(receive: Any, send: Any, code: CloseCode, *, says: bool = True) -> None:
    """Refuse a websocket in ASGI middleware, before any consumer: accept it, say why,
    and wait (``GRACE`` at most) for the client to hang up; what it sends meanwhile is dropped.
    ``says`` False: close at once with the code, for a peer that speaks its own protocol and
    would take a ``refused`` message as an error of ours (Twilio's media streams)."""
    get_runtime().metrics.socket_refused(code.name.lower())
    if (await receive())["type"] != "websocket.connect":
        return  # the client went away first
    await send({"type": "websocket.accept"})
    if not says:
        await send({"type": "websocket.close", "code": int(code)})
        return
    await send({"type": "websocket.send", "text": json.dumps(message(code))})
    try:
        async with asyncio.timeout(GRACE):
            while (await receive())["type"] != "websocket.disconnect":
                pass
    except TimeoutError:
        await send({"type": "websocket.close", "code": int(code)})
