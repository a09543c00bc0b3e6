"""A Python client that speaks rtcstream's protocol with aiortc.

It connects to a running server (``"http://127.0.0.1:8000"``) or to an ASGI
application in the same process, sends audio and video from arrays or files,
and records what comes back: tracks, events and outputs. The test suite and the
benchmarks use it; so can bots::

    async with await RtcClient.connect("http://127.0.0.1:8000", "echo") as client:
        await client.start(audio=ArrayAudioTrack(tone, 48000))
        await client.wait_for_audio(seconds=1.0)
"""

from __future__ import annotations

import asyncio
import collections
import fractions
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import av
import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

DEFAULT_TIMEOUT = 10.0


class RtcError(Exception):
    """The server refused something: ``code`` is the protocol's error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


# -- transports ------------------------------------------------------------------


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

        return cls(await websockets.connect(url, origin=origin, max_size=2**22))

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


# -- media sources -----------------------------------------------------------------


class ArrayAudioTrack(MediaStreamTrack):
    """Send ``samples`` (int16 mono) in paced 20 ms frames, then silence (or loop)."""

    kind = "audio"

    def __init__(self, samples: np.ndarray, sample_rate: int = 48000, *, loop: bool = False) -> None:
        super().__init__()
        self.samples = np.asarray(samples, dtype=np.int16).reshape(-1)
        self.sample_rate = sample_rate
        self.loop = loop
        self.frame_samples = sample_rate // 50
        self.position = 0
        self.started_at: float | None = None

    def play(self, samples: np.ndarray) -> None:
        """Replace what is sent from now on (the rest of the old samples is dropped)."""
        self.samples = np.asarray(samples, dtype=np.int16).reshape(-1)
        self.position = 0

    def elapsed(self) -> float:
        """Seconds of audio sent since the first frame."""
        return 0.0 if self.started_at is None else time.monotonic() - self.started_at

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self.started_at is None:
            self.started_at = time.monotonic()
            self._sent = 0
        else:
            self._sent += self.frame_samples
            await asyncio.sleep(max(0.0, self.started_at + self._sent / self.sample_rate - time.monotonic()))
        n = self.frame_samples
        chunk = self.samples[self.position : self.position + n]
        self.position += n
        if self.loop and self.position >= self.samples.size:
            self.position = 0
        if chunk.size < n:
            chunk = np.concatenate([chunk, np.zeros(n - chunk.size, dtype=np.int16)])
        frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = self.sample_rate
        frame.pts = self._sent
        frame.time_base = fractions.Fraction(1, self.sample_rate)
        return frame


def read_audio_file(path: str, sample_rate: int = 48000) -> np.ndarray:
    """Decode any audio file PyAV reads into int16 mono at ``sample_rate``."""
    resampler = av.AudioResampler(format="s16", layout="mono", rate=sample_rate)
    parts = []
    with av.open(path) as container:
        for frame in container.decode(audio=0):
            parts += [f.to_ndarray()[0] for f in resampler.resample(frame)]
    parts += [f.to_ndarray()[0] for f in resampler.resample(None)]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)


class ArrayVideoTrack(MediaStreamTrack):
    """Send RGB frames made by ``make_frame(index)`` at ``fps``, paced."""

    kind = "video"

    def __init__(self, make_frame: Callable[[int], np.ndarray], fps: float = 30.0) -> None:
        super().__init__()
        self.make_frame = make_frame
        self.fps = fps
        self.index = -1
        self.started_at: float | None = None
        self.sent_at: dict[int, float] = {}

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        self.index += 1
        if self.started_at is None:
            self.started_at = time.monotonic()
        await asyncio.sleep(max(0.0, self.started_at + self.index / self.fps - time.monotonic()))
        frame = av.VideoFrame.from_ndarray(self.make_frame(self.index), format="rgb24")
        frame.pts = int(self.index * 90000 / self.fps)
        frame.time_base = fractions.Fraction(1, 90000)
        return frame


# -- media sinks -------------------------------------------------------------------


@dataclass
class AudioSink:
    """Everything received on an audio track: 48 kHz mono samples with arrival times."""

    frames: list[tuple[float, int, np.ndarray]] = field(default_factory=list)  # (arrival, pts, samples)
    ended: bool = False

    def samples(self) -> np.ndarray:
        if not self.frames:
            return np.zeros(0, dtype=np.int16)
        return np.concatenate([f[2] for f in self.frames])

    def seconds(self) -> float:
        return sum(f[2].size for f in self.frames) / 48000


@dataclass
class VideoSink:
    """The last frames received on a video track (bounded), and a count of all."""

    keep: int = 120
    count: int = 0
    ended: bool = False
    frames: collections.deque[tuple[float, np.ndarray]] = field(default_factory=lambda: collections.deque(maxlen=120))


async def _record_audio(track: MediaStreamTrack, sink: AudioSink, notify: Callable[[], None]) -> None:
    resampler = av.AudioResampler(format="s16", layout="mono", rate=48000)
    try:
        while True:
            frame = await track.recv()
            arrived = time.monotonic()
            for out in resampler.resample(frame):
                sink.frames.append((arrived, frame.pts or 0, out.to_ndarray()[0].copy()))
            notify()
    except MediaStreamError:
        sink.ended = True
        notify()


async def _record_video(track: MediaStreamTrack, sink: VideoSink, notify: Callable[[], None]) -> None:
    try:
        while True:
            frame = await track.recv()
            sink.frames.append((time.monotonic(), frame.to_ndarray(format="rgb24")))
            sink.count += 1
            notify()
    except MediaStreamError:
        sink.ended = True
        notify()


# -- the client ----------------------------------------------------------------------

CANDIDATE_LINE = re.compile(r"^a=(candidate:.*|end-of-candidates)\r?$", re.MULTILINE)


class RtcClient:
    """One session with an rtcstream server."""

    def __init__(self, signalling: Any, open_outputs: Callable[[str], Any]) -> None:
        self.signalling = signalling
        self._open_outputs = open_outputs
        self.outputs_socket: Any = None
        self.session: dict[str, Any] = {}
        self.messages: list[dict[str, Any]] = []
        self.outputs: list[dict[str, Any]] = []
        self.audio = AudioSink()
        self.video = VideoSink()
        self.pc: RTCPeerConnection | None = None
        self._changed = asyncio.Condition()
        self._tasks: list[asyncio.Task[Any]] = []

    @classmethod
    async def connect(cls, server: str | Any, endpoint: str, *, origin: str | None = None) -> RtcClient:
        """Open the signalling socket of ``endpoint`` on a server URL or an ASGI application."""
        if isinstance(server, str):
            base = server.rstrip("/")
            ws_base = re.sub(r"^http", "ws", base)
            origin = origin or base

            async def open_socket(path: str) -> Any:
                return await WebsocketTransport.open(ws_base + path, origin)
        else:
            origin = origin or "http://testserver"

            async def open_socket(path: str) -> Any:
                return await CommunicatorTransport.open(server, path, origin)

        client = cls(await open_socket(f"/ws/rtcstream/{endpoint}/"), open_socket)
        client._tasks.append(asyncio.ensure_future(client._read(client.signalling, client.messages)))
        first = await client.wait_until(
            lambda: next((m for m in client.messages if m["type"] in ("session", "socket_closed")), None)
        )
        if first["type"] == "socket_closed":
            await client.close()
            raise RtcError(
                "refused", f"the server closed the socket at once (close code {client.signalling.close_code})"
            )
        client.session = first
        return client

    async def __aenter__(self) -> RtcClient:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    # -- reading ---------------------------------------------------------------------

    async def _read(self, transport: Any, into: list[dict[str, Any]]) -> None:
        while True:
            message = await transport.receive_json()
            async with self._changed:
                into.append(message if message is not None else {"type": "socket_closed"})
                self._changed.notify_all()
            if message is None:
                return

    def _notify(self) -> None:
        async def wake() -> None:
            async with self._changed:
                self._changed.notify_all()

        asyncio.ensure_future(wake())

    async def wait_until(self, predicate: Callable[[], Any], timeout: float = DEFAULT_TIMEOUT) -> Any:
        """Wait until ``predicate()`` is truthy and return its value; TimeoutError past ``timeout``."""

        async def waiting() -> Any:
            async with self._changed:
                while not (result := predicate()):
                    # Wake on every message and frame, and at least every 50 ms for
                    # predicates on time or on what this client sends.
                    try:
                        async with asyncio.timeout(0.05):
                            await self._changed.wait()
                    except TimeoutError:
                        pass
                return result

        return await asyncio.wait_for(waiting(), timeout)

    async def wait_for_message(self, kind: str, timeout: float = DEFAULT_TIMEOUT, **match: Any) -> dict[str, Any]:
        """Return the first signalling message of ``kind`` (and fields ``match``)."""

        def find() -> dict[str, Any] | None:
            for message in self.messages:
                if message["type"] == kind and all(message.get(k) == v for k, v in match.items()):
                    return message
            return None

        return await self.wait_until(find, timeout)

    async def wait_for_event(self, name: str, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
        return await self.wait_for_message("event", timeout, name=name)

    def events(self) -> list[str]:
        return [m["name"] for m in self.messages if m["type"] == "event"]

    async def wait_for_outputs(self, count: int, timeout: float = DEFAULT_TIMEOUT) -> list[dict[str, Any]]:
        return await self.wait_until(
            lambda: (
                [m for m in self.outputs if m["type"] == "output"][:count]
                if len([m for m in self.outputs if m["type"] == "output"]) >= count
                else None
            ),
            timeout,
        )

    async def wait_closed(self, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
        return await self.wait_for_message("closed", timeout)

    async def wait_for_audio(self, seconds: float, timeout: float = DEFAULT_TIMEOUT) -> AudioSink:
        await self.wait_until(lambda: self.audio.seconds() >= seconds or self.audio.ended, timeout)
        return self.audio

    async def wait_for_video(self, frames: int, timeout: float = DEFAULT_TIMEOUT) -> VideoSink:
        await self.wait_until(lambda: self.video.count >= frames or self.video.ended, timeout)
        return self.video

    # -- sending ---------------------------------------------------------------------

    async def start(
        self,
        *,
        audio: MediaStreamTrack | None = None,
        video: MediaStreamTrack | None = None,
        inputs: Sequence[Any] | None = None,
        trickle: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        """Open the outputs socket, offer, and wait for the answer (``RtcError`` if refused).

        The directions follow the endpoint's mode: local tracks are sent when it
        receives, and a receive-only section is added for what it sends.
        ``trickle`` sends this client's candidates as ``candidate`` messages,
        half before the answer and half after, instead of inside the offer.
        """
        if self.outputs_socket is None:
            self.outputs_socket = await self._open_outputs(self.session["outputs"])
            self._tasks.append(asyncio.ensure_future(self._read(self.outputs_socket, self.outputs)))
        self.pc = pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pc.on("track", self._on_track)
        mode, modality = self.session["mode"], self.session["modality"]
        for kind, track in (("audio", audio), ("video", video)):
            if track is not None and mode in ("send", "send-receive"):
                pc.addTransceiver(
                    track, direction="sendrecv" if mode == "send-receive" and kind == modality else "sendonly"
                )
            elif mode in ("receive", "send-receive") and kind == modality:
                pc.addTransceiver(kind, direction="recvonly")
        await pc.setLocalDescription(await pc.createOffer())
        sdp = pc.localDescription.sdp
        candidates: list[str] = []
        if trickle:
            candidates = [m.group(1) for m in CANDIDATE_LINE.finditer(sdp) if m.group(1).startswith("candidate:")]
            sdp = CANDIDATE_LINE.sub("", sdp).replace("\r\n\r\n", "\r\n")
        answers_before = len([m for m in self.messages if m["type"] in ("answer", "error")])
        await self.send({"type": "offer", "sdp": sdp, **({"inputs": list(inputs)} if inputs is not None else {})})
        half = len(candidates) // 2
        for candidate in candidates[:half]:
            await self.send({"type": "candidate", "candidate": candidate, "sdpMid": "0", "sdpMLineIndex": 0})
        reply = await self.wait_until(
            lambda: ([m for m in self.messages if m["type"] in ("answer", "error")][answers_before:] or [None])[0],
            timeout,
        )
        if reply["type"] == "error":
            raise RtcError(reply["code"], reply["message"])
        await pc.setRemoteDescription(RTCSessionDescription(sdp=reply["sdp"], type="answer"))
        for candidate in candidates[half:]:
            await self.send({"type": "candidate", "candidate": candidate, "sdpMid": "0", "sdpMLineIndex": 0})
        if trickle:
            await self.send({"type": "candidate", "candidate": "", "sdpMid": "0", "sdpMLineIndex": 0})

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio":
            self._tasks.append(asyncio.ensure_future(_record_audio(track, self.audio, self._notify)))
        else:
            self._tasks.append(asyncio.ensure_future(_record_video(track, self.video, self._notify)))

    async def send(self, message: dict[str, Any]) -> None:
        await self.signalling.send_json(message)

    async def send_raw(self, text: str) -> None:
        """Send a frame as is (for tests of malformed input)."""
        await self.signalling.send_text(text)

    async def set_inputs(self, *values: Any) -> None:
        await self.send({"type": "inputs", "values": list(values)})

    async def trigger(self) -> None:
        await self.send({"type": "trigger"})

    async def stop(self, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
        """Ask the server to end the session; return its ``closed`` message."""
        await self.send({"type": "stop"})
        return await self.wait_closed(timeout)

    async def close(self) -> None:
        """Close the peer connection and both sockets, and stop every task."""
        if self.pc is not None:
            await self.pc.close()
        for transport in (self.outputs_socket, self.signalling):
            if transport is not None:
                try:
                    await transport.close()
                except Exception:
                    pass
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
