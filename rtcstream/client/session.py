"""One client session: the sockets, the peer connection, and what came back."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Sequence
from typing import Any

from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from rtcstream.client.errors import DEFAULT_TIMEOUT, RtcError
from rtcstream.client.sinks import AudioSink, VideoSink, record_audio, record_video
from rtcstream.client.transports import CommunicatorTransport, WebsocketTransport
from rtcstream.relay.ice_servers import ice_configuration

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
    async def connect(
        cls,
        server: str | Any,
        endpoint: str,
        *,
        origin: str | None = None,
        local_address: str | None = None,
        outputs_server: str | None = None,
    ) -> RtcClient:
        """Open the signalling socket of ``endpoint`` on a server URL or an ASGI application.

        ``local_address`` (server URLs only) is the source address of the sockets:
        a server counts its per-client cap by it. ``outputs_server`` (a URL) opens the
        outputs socket on another worker of the same site than the signalling socket.
        """
        if isinstance(server, str):
            base = server.rstrip("/")
            ws_base = re.sub(r"^http", "ws", base)
            page = origin or base

            async def open_socket(path: str) -> Any:
                return await WebsocketTransport.open(ws_base + path, page, local_address)

            outputs_base = re.sub(r"^http", "ws", outputs_server.rstrip("/")) if outputs_server else ws_base

            async def open_outputs(path: str) -> Any:
                return await WebsocketTransport.open(outputs_base + path, page, local_address)
        else:
            page = origin or "http://testserver"

            async def open_socket(path: str) -> Any:
                return await CommunicatorTransport.open(server, path, page)

            open_outputs = open_socket

        client = cls(await open_socket(f"/ws/rtcstream/{endpoint}/"), open_outputs)
        client._tasks.append(asyncio.ensure_future(client._read(client.signalling, client.messages)))
        first = await client.wait_until(
            lambda: next((m for m in client.messages if m["type"] in ("session", "socket_closed")), None)
        )
        if first["type"] == "socket_closed":
            await client.close()
            code = client.signalling.close_code
            raise RtcError("refused", f"the server closed the socket at once (close code {code})", close_code=code)
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

    async def wait_until(self, predicate: Callable[[], Any], timeout: float | None = DEFAULT_TIMEOUT) -> Any:
        """Wait until ``predicate()`` is truthy and return its value; TimeoutError past ``timeout`` (None: never)."""

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
        ice_transport_policy: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        """Open the outputs socket, offer, and wait for the answer (``RtcError`` if refused).

        The directions follow the endpoint's mode: local tracks are sent when it
        receives, and a receive-only section is added for what it sends.
        ``trickle`` sends this client's candidates as ``candidate`` messages,
        half before the answer and half after, instead of inside the offer.
        The peer uses the session's ``ice_servers`` (TURN credentials included)
        and ``ice_transport_policy`` unless one is given ("relay": TURN only).
        """
        if self.outputs_socket is None:
            self.outputs_socket = await self._open_outputs(self.session["outputs"])
            self._tasks.append(asyncio.ensure_future(self._read(self.outputs_socket, self.outputs)))
        policy = ice_transport_policy or self.session.get("ice_transport_policy") or "all"
        self.pc = pc = RTCPeerConnection(ice_configuration(self.session.get("ice_servers") or [], policy))
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
        if policy == "relay" and "typ relay" not in sdp:
            raise RtcError(
                "no_relay_candidate",
                "relay-only, but no TURN server gave this client a relay address "
                "(wrong or expired credentials, or the TURN server cannot be reached)",
            )
        candidates: list[str] = []
        if trickle:
            candidates = [m.group(1) for m in CANDIDATE_LINE.finditer(sdp) if m.group(1).startswith("candidate:")]
            sdp = CANDIDATE_LINE.sub("", sdp).replace("\r\n\r\n", "\r\n")
        replies = ("answer", "error", "closed")
        answers_before = len([m for m in self.messages if m["type"] in replies])
        await self.send({"type": "offer", "sdp": sdp, **({"inputs": list(inputs)} if inputs is not None else {})})
        half = len(candidates) // 2
        for candidate in candidates[:half]:
            await self.send({"type": "candidate", "candidate": candidate, "sdpMid": "0", "sdpMLineIndex": 0})
        reply = await self.wait_until(
            lambda: next(iter([m for m in self.messages if m["type"] in replies][answers_before:]), None),
            timeout,
        )
        if reply["type"] == "error":
            raise RtcError(reply["code"], reply["message"])
        if reply["type"] == "closed":  # e.g. server_shutdown: the worker drains
            raise RtcError(reply["reason"], reply["message"])
        await pc.setRemoteDescription(RTCSessionDescription(sdp=reply["sdp"], type="answer"))
        for candidate in candidates[half:]:
            await self.send({"type": "candidate", "candidate": candidate, "sdpMid": "0", "sdpMLineIndex": 0})
        if trickle:
            await self.send({"type": "candidate", "candidate": "", "sdpMid": "0", "sdpMLineIndex": 0})

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio":
            self._tasks.append(asyncio.ensure_future(record_audio(track, self.audio, self._notify)))
        else:
            self._tasks.append(asyncio.ensure_future(record_video(track, self.video, self._notify)))

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
