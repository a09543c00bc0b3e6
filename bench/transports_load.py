"""The load generator of ``bench/transports.py``, in its own process: K conversations on one transport.

Each session talks to a ``ReplyOnPause`` echo: a spoken sentence, then 4.5 s of
silence, over and over, so the server hears speech, detects each pause and plays
each utterance back whole before the next (no barge-in: every transport does the
same work). Transports: ``webrtc`` (as a browser sends, Opus DTX while
silent), ``webrtc-every-frame`` (no DTX), ``websocket-pcm16`` (16 kHz),
``websocket-mulaw`` (8 kHz) and ``twilio`` (the simulated Twilio of
tests/twilio_peer.py). It talks to its parent on stdout, one JSON object a line:
``{"event": "up"}`` once every session is connected; the parent writes a line
on stdin when its window starts and another when it ends; then what each session
heard in the window, and it hangs up.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rtcstream.client import ArrayAudioTrack, RtcClient  # noqa: E402
from tests import speech  # noqa: E402
from tests.twilio_peer import PhoneCall  # noqa: E402

logging.getLogger("aioice").setLevel(logging.WARNING)
TRANSPORTS = ("webrtc", "webrtc-every-frame", "websocket-pcm16", "websocket-mulaw", "twilio")
WEBSOCKET_FORMATS = {"websocket-pcm16": ("pcm16", 16000), "websocket-mulaw": ("mulaw", 8000)}


def conversation() -> np.ndarray:
    return np.concatenate([speech.speech(), speech.silence(4.5)])


async def open_client(url: str, endpoint: str, transport: str, address: str) -> RtcClient:
    client = await RtcClient.connect(url, endpoint, local_address=address)
    track = ArrayAudioTrack(conversation(), loop=True, dtx=transport == "webrtc")
    if transport in WEBSOCKET_FORMATS:
        codec, rate = WEBSOCKET_FORMATS[transport]
        await client.start(audio=track, transport="websocket", codec=codec, rate=rate)  # type: ignore[arg-type]
    else:
        await client.start(audio=track)
    await client.wait_for_event("connected")
    return client


async def open_call(url: str, endpoint: str) -> PhoneCall:
    call = await PhoneCall.place(url, endpoint)
    call.say(conversation(), loop=True)
    return call


def heard(peer: RtcClient | PhoneCall) -> float:
    """Seconds of reply audio the peer has received (heard, for the phone) so far."""
    return peer.heard_seconds() if isinstance(peer, PhoneCall) else peer.audio.audible_seconds()


async def run(url: str, endpoint: str, transport: str, sessions: int, address: str) -> None:
    if transport == "twilio":
        peers: list[Any] = [await open_call(url, endpoint) for _ in range(sessions)]
    else:
        peers = [await open_client(url, endpoint, transport, address) for _ in range(sessions)]
    print(json.dumps({"event": "up"}), flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    before = [heard(peer) for peer in peers]
    await asyncio.to_thread(sys.stdin.readline)
    during = [heard(peer) - was for peer, was in zip(peers, before, strict=True)]
    print(json.dumps({"event": "result", "heard": during}), flush=True)
    for peer in peers:
        if transport == "twilio":
            await peer.hang_up()
        await peer.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("transport", choices=TRANSPORTS)
    parser.add_argument("--endpoint", default="bench-echo")
    parser.add_argument("--sessions", type=int, default=4)
    parser.add_argument("--address", default="127.0.0.1", help="source address of the sockets (per-client caps)")
    args = parser.parse_args()
    asyncio.run(run(args.url, args.endpoint, args.transport, args.sessions, args.address))


if __name__ == "__main__":
    main()
