"""A simulated Twilio: it calls the incoming-call webhook, opens the stream the TwiML names,
and plays its part of the Media Streams protocol as Twilio does (loopback only).

- The webhook request is signed (``X-Twilio-Signature``) with the test settings' auth token.
- The caller's audio goes out as Twilio's does: ``media`` messages of 20 ms of
  8 kHz μ-law (160 bytes), in real time, with string sequence numbers, chunks and
  timestamps; a phone line never goes quiet, so silence is sent between words.
- What the server sends is played out in real time, 20 ms every 20 ms, as the
  caller would hear it (``heard``, with the time each frame was heard). A
  ``mark`` is echoed once everything sent before it has been played; ``clear``
  drops what waits to be played and echoes the pending marks at once.

``PhoneCall.place`` works on the in-process ASGI application (Django's test
client for the webhook, Channels' communicator for the stream) or on a real
server's URL (``requests`` and ``websockets``; the TwiML's ``wss://`` is taken
as ``ws://``: no TLS on loopback).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import soxr

from rtcstream.media.g711 import ulaw_decode, ulaw_encode
from rtcstream.transports.twilio.signature import compute_signature

AUTH_TOKEN = "test-twilio-auth-token"  # tests/settings.py
RATE = 8000
FRAME = 160  # 20 ms of μ-law
FRAME_SECONDS = 0.02
_calls = itertools.count(1)
_ports = itertools.count(45000)


def to_8k(samples_48k: np.ndarray) -> np.ndarray:
    """A fixture (int16 at 48 kHz) as the phone network carries it: 8 kHz."""
    resampled = soxr.resample(samples_48k.astype(np.float32) / 32768, 48000, RATE, quality="HQ")
    return np.clip(np.round(resampled * 32768), -32768, 32767).astype(np.int16)


class _CommunicatorSocket:
    """The stream socket in process: Channels' communicator, with no Origin header (Twilio sends none)."""

    def __init__(self, communicator: Any) -> None:
        self.communicator = communicator
        self.close_code: int | None = None

    @classmethod
    async def open(cls, application: Any, path: str) -> _CommunicatorSocket:
        from channels.testing import WebsocketCommunicator

        communicator = WebsocketCommunicator(application, path)
        communicator.scope["client"] = ("127.0.0.1", next(_ports))
        connected, code = await communicator.connect(timeout=10)
        socket = cls(communicator)
        if not connected:
            socket.close_code = code
        return socket

    async def send(self, text: str) -> None:
        await self.communicator.send_to(text_data=text)

    async def receive(self) -> str | None:
        message = await self.communicator.output_queue.get()
        if message["type"] == "websocket.close":
            self.close_code = message.get("code")
            return None
        return str(message["text"])

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.communicator.disconnect(timeout=5)


class _NetworkSocket:
    """The stream socket to a real server (``websockets``, no Origin header)."""

    def __init__(self, socket: Any) -> None:
        self.socket = socket
        self.close_code: int | None = None

    @classmethod
    async def open(cls, url: str) -> _NetworkSocket:
        import websockets

        return cls(await websockets.connect(url, max_size=2**22))

    async def send(self, text: str) -> None:
        await self.socket.send(text)

    async def receive(self) -> str | None:
        import websockets

        try:
            return str(await self.socket.recv())
        except websockets.ConnectionClosed as closed:
            self.close_code = closed.rcvd.code if closed.rcvd is not None else None
            return None

    async def close(self) -> None:
        await self.socket.close()


async def call_webhook(server: str | Any, endpoint: str, call_sid: str, *, auth_token: str = AUTH_TOKEN) -> Any:
    """POST Twilio's incoming-call webhook, signed as Twilio signs it; return the response."""
    params = {"CallSid": call_sid, "AccountSid": "AC" + "0" * 32, "From": "+15550100", "To": "+15550199"}
    if isinstance(server, str):
        import requests

        url = f"{server.rstrip('/')}/rtcstream/twilio/{endpoint}/"
        headers = {"X-Twilio-Signature": compute_signature(auth_token, url, params)}
        return await asyncio.to_thread(requests.post, url, data=params, headers=headers, timeout=10)
    from django.test import AsyncClient

    url = f"http://testserver/rtcstream/twilio/{endpoint}/"
    signature = compute_signature(auth_token, url, params)
    return await AsyncClient().post(url, params, headers={"X-Twilio-Signature": signature})


def stream_url(twiml: str) -> str:
    """The ``<Stream url=...>`` of a TwiML answer."""
    found = re.search(r'<Stream url="([^"]+)"', twiml)
    assert found is not None, twiml
    return found.group(1)


@dataclass
class PhoneCall:
    """One call, from Twilio's side of the stream."""

    socket: Any
    call_sid: str
    stream_sid: str
    received: list[tuple[float, dict[str, Any]]] = field(default_factory=list)  # (arrival, message), all of them
    heard: list[tuple[float, np.ndarray]] = field(default_factory=list)  # (time played, 160 samples)
    marks_echoed: list[str] = field(default_factory=list)
    cleared_at: list[float] = field(default_factory=list)
    closed_at: float | None = None
    sent_frames: int = 0
    _playout: bytearray = field(default_factory=bytearray)
    _received_bytes: int = 0
    _played_bytes: int = 0
    _marks: list[tuple[int, str]] = field(default_factory=list)  # (received bytes when it came, name)
    _voice: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int16))
    _voice_at: int = 0
    _loop_voice: bool = False
    _started_at: float = 0.0
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    @classmethod
    async def place(cls, server: str | Any, endpoint: str) -> PhoneCall:
        """Call the webhook, open the stream it names, and send ``connected`` and ``start``."""
        call_sid = f"CA{next(_calls):032x}"
        response = await call_webhook(server, endpoint, call_sid)
        body = response.text if isinstance(server, str) else response.content.decode()
        assert response.status_code == 200, (response.status_code, body)
        url = stream_url(body)
        if isinstance(server, str):
            socket: Any = await _NetworkSocket.open(re.sub(r"^wss://", "ws://", url))
        else:
            socket = await _CommunicatorSocket.open(server, re.sub(r"^wss://[^/]+", "", url))
        call = cls(socket=socket, call_sid=call_sid, stream_sid=f"MZ{next(_calls):032x}")
        if socket.close_code is not None:
            call.closed_at = time.monotonic()
            return call
        call._tasks.append(asyncio.ensure_future(call._read()))
        await call._send({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        await call._send(
            {
                "event": "start",
                "sequenceNumber": "1",
                "streamSid": call.stream_sid,
                "start": {
                    "streamSid": call.stream_sid,
                    "accountSid": "AC" + "0" * 32,
                    "callSid": call.call_sid,
                    "tracks": ["inbound"],
                    "customParameters": {},
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                },
            }
        )
        call._started_at = time.monotonic()
        call._tasks.append(asyncio.ensure_future(call._talk()))
        call._tasks.append(asyncio.ensure_future(call._play_out()))
        return call

    # -- the caller's side -----------------------------------------------------------

    def say(self, samples_48k: np.ndarray, *, loop: bool = False) -> float:
        """Speak ``samples`` (a 48 kHz fixture, over and over with ``loop``) from the next frame on;
        return when that frame goes out."""
        self._voice = to_8k(samples_48k)
        self._voice_at = 0
        self._loop_voice = loop
        return self._started_at + (self.sent_frames + 1) * FRAME_SECONDS

    async def _talk(self) -> None:
        """Send 20 ms of the caller every 20 ms: their voice, else silence."""
        sequence = itertools.count(2)
        silence = np.zeros(FRAME, dtype=np.int16)
        while self.closed_at is None:
            due = self._started_at + self.sent_frames * FRAME_SECONDS
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            if self._loop_voice and self._voice_at >= self._voice.size:
                self._voice_at = 0
            chunk = self._voice[self._voice_at : self._voice_at + FRAME]
            self._voice_at += FRAME
            if chunk.size < FRAME:
                chunk = np.concatenate([chunk, silence[: FRAME - chunk.size]])
            payload = base64.b64encode(ulaw_encode(chunk)).decode()
            media = {"track": "inbound", "chunk": str(self.sent_frames + 1), "timestamp": str(self.sent_frames * 20)}
            await self._send(
                {
                    "event": "media",
                    "sequenceNumber": str(next(sequence)),
                    "streamSid": self.stream_sid,
                    "media": {**media, "payload": payload},
                }
            )
            self.sent_frames += 1

    async def hang_up(self) -> None:
        """Send ``stop``, as Twilio does when the caller hangs up."""
        await self._send({"event": "stop", "sequenceNumber": "999", "streamSid": self.stream_sid, "stop": {}})

    async def _send(self, message: dict[str, Any]) -> None:
        if self.closed_at is None:
            with contextlib.suppress(Exception):
                await self.socket.send(json.dumps(message))

    # -- what the server sends --------------------------------------------------------

    async def _read(self) -> None:
        while True:
            text = await self.socket.receive()
            now = time.monotonic()
            if text is None:
                self.closed_at = now
                self._changed.set()
                return
            message = json.loads(text)
            self.received.append((now, message))
            event = message.get("event")
            if event == "media":
                data = base64.b64decode(message["media"]["payload"])
                self._playout += data
                self._received_bytes += len(data)
            elif event == "mark":
                self._marks.append((self._received_bytes, message["mark"]["name"]))
            elif event == "clear":
                self.cleared_at.append(now)
                self._played_bytes += len(self._playout)  # dropped, as if played: later marks count from here
                self._playout.clear()
                for _, name in self._marks:  # Twilio returns the pending marks at once
                    await self._echo_mark(name)
                self._marks.clear()
            self._changed.set()

    async def _play_out(self) -> None:
        """Play what the server sent, 20 ms every 20 ms (silence when nothing waits), and echo marks."""
        started, frames = time.monotonic(), 0
        while self.closed_at is None:
            frames += 1
            await asyncio.sleep(max(0.0, started + frames * FRAME_SECONDS - time.monotonic()))
            if len(self._playout) >= FRAME:
                data = bytes(self._playout[:FRAME])
                del self._playout[:FRAME]
                self._played_bytes += FRAME
                self.heard.append((time.monotonic(), ulaw_decode(data)))
            while self._marks and self._marks[0][0] <= self._played_bytes:
                await self._echo_mark(self._marks.pop(0)[1])
            self._changed.set()

    async def _echo_mark(self, name: str) -> None:
        self.marks_echoed.append(name)
        await self._send({"event": "mark", "sequenceNumber": "0", "streamSid": self.stream_sid, "mark": {"name": name}})

    # -- for tests --------------------------------------------------------------------

    def events(self, name: str) -> list[tuple[float, dict[str, Any]]]:
        return [(at, m) for at, m in self.received if m.get("event") == name]

    def heard_seconds(self, threshold: float = 100.0, after: float = 0.0) -> float:
        """Seconds of sound (RMS above ``threshold``) played to the caller after the time ``after``."""
        loud = [s for at, s in self.heard if at > after and np.sqrt(np.mean(s.astype(np.float64) ** 2)) > threshold]
        return len(loud) * FRAME_SECONDS

    async def wait_until(self, predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
        async def waiting() -> Any:
            while not (result := predicate()):
                self._changed.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.05):
                        await self._changed.wait()
            return result

        return await asyncio.wait_for(waiting(), timeout)

    async def close(self) -> None:
        """Drop the socket (as a network failure would, without ``stop``) and stop every task."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.socket.close()
        self.closed_at = self.closed_at or time.monotonic()

    async def __aenter__(self) -> PhoneCall:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()
