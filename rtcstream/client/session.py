"""One client session: the sockets, the peer connection, and what came back."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Sequence
from typing import Any

from aiortc import RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from rtcstream.client.errors import DEFAULT_TIMEOUT, RtcError
from rtcstream.client.sinks import AudioSink, VideoSink, record_audio, record_video
from rtcstream.client.transports import CommunicatorTransport, WebsocketTransport
from rtcstream.client.websocket_audio import WebsocketAudioLink
from rtcstream.relay.ice_servers import ice_configuration
from rtcstream.relay.peer_connection import PeerConnection
from rtcstream.transports.formats import AudioFormat, Codec


def media_kinds(modality: str) -> tuple[str, ...]:
    """The kinds of track a modality carries: "audio-video" carries both."""
    return ("audio", "video") if modality == "audio-video" else (modality,)


# What the server sends in reply to an offer (or a ``media`` request): its answer, or why there is none.
REPLIES = ("answer", "media", "error", "closed")

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
        self.pc: PeerConnection | None = None
        # What to answer the server's ``send_input`` with (the page's current inputs); None: leave it unanswered.
        self.answer_inputs: Callable[[], Sequence[Any]] | None = None
        self.link: WebsocketAudioLink | None = None  # the audio, when it goes over the signalling socket
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
        headers: Sequence[tuple[str, str]] = (),
    ) -> RtcClient:
        """Open the signalling socket of ``endpoint`` on a server URL or an ASGI application.

        ``local_address`` (server URLs only) is the source address of the sockets:
        a server counts its per-client cap by it. ``outputs_server`` (a URL) opens the
        outputs socket on another worker of the same site than the signalling socket.
        ``headers`` go with both sockets' handshakes: ``[("Cookie", "sessionid=...")]``
        opens the session as that Django session's user.
        """
        if isinstance(server, str):
            base = server.rstrip("/")
            ws_base = re.sub(r"^http", "ws", base)
            page = origin or base

            async def open_socket(path: str) -> Any:
                return await WebsocketTransport.open(ws_base + path, page, local_address, headers)

            outputs_base = re.sub(r"^http", "ws", outputs_server.rstrip("/")) if outputs_server else ws_base

            async def open_outputs(path: str) -> Any:
                return await WebsocketTransport.open(outputs_base + path, page, local_address, headers)
        else:
            page = origin or "http://testserver"

            async def open_socket(path: str) -> Any:
                return await CommunicatorTransport.open(server, path, page, headers)

            open_outputs = open_socket

        client = cls(await open_socket(f"/ws/rtcstream/{endpoint}/"), open_outputs)
        client._tasks.append(asyncio.ensure_future(client._read(client.signalling, client.messages)))
        first = await client.wait_until(
            lambda: next((m for m in client.messages if m["type"] in ("session", "socket_closed")), None)
        )
        if first["type"] == "socket_closed":
            await client.close()
            code = client.signalling.close_code
            raise RtcError("refused", f"the server refused the socket (close code {code})", close_code=code)
        client.session = first
        return client

    async def __aenter__(self) -> RtcClient:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    # -- reading ---------------------------------------------------------------------

    async def _read(self, transport: Any, into: list[dict[str, Any]]) -> None:
        while True:
            message = await transport.receive()
            if isinstance(message, bytes):
                if self.link is not None:
                    self.link.received(message)
                continue
            async with self._changed:
                into.append(message if message is not None else {"type": "socket_closed"})
                self._changed.notify_all()
            if message is None:
                return
            if message.get("type") == "send_input" and self.answer_inputs is not None:
                await self.set_inputs(*self.answer_inputs())

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
        transport: str = "webrtc",
        codec: Codec = "pcm16",
        rate: int = 16000,
    ) -> None:
        """Open the outputs socket, offer, and wait for the answer (``RtcError`` if refused).

        ``transport="websocket"`` sends a ``media`` message instead of an offer and
        carries the audio on the signalling socket as 20 ms frames of ``codec`` at
        ``rate`` (docs/protocol.md, "Audio over the websocket"); what comes back is
        recorded in ``audio`` as WebRTC audio is.

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
        if transport == "websocket":
            await self._start_websocket_audio(audio, AudioFormat(codec, rate), inputs, timeout)
            return
        policy = ice_transport_policy or self.session.get("ice_transport_policy") or "all"
        self.pc = pc = PeerConnection(ice_configuration(self.session.get("ice_servers") or [], policy))
        pc.on("track", self._on_track)
        mode = self.session["mode"]
        kinds = media_kinds(self.session["modality"])
        for kind, track in (("audio", audio), ("video", video)):
            if track is not None and mode in ("send", "send-receive"):
                pc.addTransceiver(
                    track, direction="sendrecv" if mode == "send-receive" and kind in kinds else "sendonly"
                )
            elif mode in ("receive", "send-receive") and kind in kinds:
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
        answers_before = len([m for m in self.messages if m["type"] in REPLIES])
        await self.send({"type": "offer", "sdp": sdp, **({"inputs": list(inputs)} if inputs is not None else {})})
        half = len(candidates) // 2
        for candidate in candidates[:half]:
            await self.send({"type": "candidate", "candidate": candidate, "sdpMid": "0", "sdpMLineIndex": 0})
        try:
            reply = await self._reply(answers_before, timeout)
        except RtcError:
            self.pc = None  # refused: the session is new again, and a later start makes its own peer
            await pc.close()
            raise
        await pc.setRemoteDescription(RTCSessionDescription(sdp=reply["sdp"], type="answer"))
        for candidate in candidates[half:]:
            await self.send({"type": "candidate", "candidate": candidate, "sdpMid": "0", "sdpMLineIndex": 0})
        if trickle:
            await self.send({"type": "candidate", "candidate": "", "sdpMid": "0", "sdpMLineIndex": 0})

    async def _start_websocket_audio(
        self, audio: MediaStreamTrack | None, audio_format: AudioFormat, inputs: Sequence[Any] | None, timeout: float
    ) -> None:
        replies_before = len([m for m in self.messages if m["type"] in REPLIES])
        request = {"type": "media", "transport": "websocket", "codec": audio_format.codec, "rate": audio_format.rate}
        await self.send({**request, **({"inputs": list(inputs)} if inputs is not None else {})})
        await self._reply(replies_before, timeout)
        self.link = link = WebsocketAudioLink(audio_format, self.signalling.send_bytes, self.audio, self._notify)
        if audio is not None and self.session["mode"] in ("send", "send-receive"):
            self._tasks.append(asyncio.ensure_future(link.send(audio)))

    async def _reply(self, before: int, timeout: float) -> dict[str, Any]:
        """The next ``answer`` (or ``media``) after the first ``before``; ``RtcError`` for an ``error``,
        or for a ``closed`` instead of an answer (e.g. ``server_shutdown``: the worker drains)."""
        reply: dict[str, Any] = await self.wait_until(
            lambda: next(iter([m for m in self.messages if m["type"] in REPLIES][before:]), None), timeout
        )
        if reply["type"] == "error":
            raise RtcError(reply["code"], reply["message"])
        if reply["type"] == "closed":
            raise RtcError(reply["reason"], reply["message"])
        return reply

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

    async def send_text(self, text: str) -> None:
        """Submit typed text, as the widget's text box does (an endpoint whose entry says ``"text": True``)."""
        await self.send({"type": "text", "text": text})

    def raw_messages(self) -> list[str]:
        """The handler's own messages (``send_message`` of a text that is not an event name), in order."""
        return [m["data"] for m in self.messages if m["type"] == "message"]

    def warnings(self) -> list[str]:
        """The handler's warnings for the visitor (``rtcstream.Warning``), in order."""
        return [m["message"] for m in self.messages if m["type"] == "warning"]

    async def consent(self, recording: bool = True) -> None:
        """Answer a recorded session's consent question (its ``session`` message says ``recording``)."""
        await self.send({"type": "consent", "recording": recording})

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
