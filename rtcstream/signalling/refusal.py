"""How a websocket is refused so that its reason survives a client that reads late.

A refused socket is accepted, told why in a ``refused`` message (its close
code), and left for the client to hang up; the server closes it with the code
only if the client has not hung up after ``last_word.GRACE`` seconds
(``rtcstream.signalling.last_word`` says why not at once).
"""

from __future__ import annotations

import asyncio
from typing import Any

from rtcstream import page_json
from rtcstream.runtime import get_runtime
from rtcstream.signalling import last_word
from rtcstream.signalling.close_codes import CloseCode

# Refused sockets that may wait for their clients at once in this process. Past it (a client that opens
# sockets in a loop and never hangs up), a refusal is a close at once: the reason may be lost to a client
# that reads late, but refused sockets hold no more than this many connections beyond the caps.
MAX_WAITING = 64


def message(code: CloseCode) -> dict[str, Any]:
    """The ``refused`` message: the client hangs up, and reports ``code`` as the socket's close code."""
    return {"type": "refused", "code": int(code), "reason": code.name.lower()}


def start_waiting() -> bool:
    """Count one more refused socket waiting for its client, if ``MAX_WAITING`` allows; else False
    (close it at once). Each True is paired with one ``stop_waiting``."""
    runtime = get_runtime()
    if runtime.refusals_waiting >= MAX_WAITING:
        return False
    runtime.refusals_waiting += 1
    return True


def stop_waiting() -> None:
    get_runtime().refusals_waiting -= 1


async def refuse(receive: Any, send: Any, code: CloseCode, *, says: bool = True) -> None:
    """Refuse a websocket in ASGI middleware, before any consumer: accept it, say why,
    and wait (``last_word.GRACE`` at most) for the client to hang up; what it sends meanwhile is dropped.
    ``says`` False: close at once with the code, for a peer that speaks its own protocol and
    would take a ``refused`` message as an error of ours (Twilio's media streams); so is a refusal
    while ``MAX_WAITING`` refused sockets wait already."""
    get_runtime().metrics.socket_refused(code.name.lower())
    if (await receive())["type"] != "websocket.connect":
        return  # the client went away first
    await send({"type": "websocket.accept"})
    if not (says and start_waiting()):
        await send({"type": "websocket.close", "code": int(code)})
        return
    try:
        await send({"type": "websocket.send", "text": page_json.dumps(message(code))})
        async with asyncio.timeout(last_word.GRACE):
            while (await receive())["type"] != "websocket.disconnect":
                pass
    except TimeoutError:
        await send({"type": "websocket.close", "code": int(code)})
    finally:
        stop_waiting()
