"""Audio over a websocket: the session's media as 20 ms frames on a socket the client already holds.

``WebsocketAudio`` is the transport; a ``Wire`` says how its frames and its
control messages look on one kind of socket (a page's signalling socket:
``rtcstream.transports.browser``; a Twilio media stream:
``rtcstream.transports.twilio.wire``).

In: each frame the client sends (``feed``) is checked, decoded and pushed to
a ``PushedAudioTrack``, which the runner reads as it reads WebRTC audio.
Out: a task reads the runner's ``AudioOutputTrack``, which paces 20 ms frames
in real time, converts each to the client's format (one resampler for the
session) and sends it. When a reply ends, the wire may say so (``mark``: Twilio
echoes it once the caller has heard everything before it); a barge-in
(``context.clear_output``) tells the far end to drop what it has not played
(``clear``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from aiortc.mediastreams import MediaStreamError

from rtcstream.media.pushed import PushedAudioTrack
from rtcstream.media.reframe import Reframer
from rtcstream.media.tracks import AudioOutputTrack
from rtcstream.reasons import CloseReason, MessageError
from rtcstream.runners import Runner, RunnerContext
from rtcstream.signalling.protocol import ProtocolError
from rtcstream.transports.base import OnState
from rtcstream.transports.formats import AudioFormat
from rtcstream.transports.table import TransportKind

logger = logging.getLogger("rtcstream.session")


class Wire(Protocol):
    """How one kind of websocket carries a session's audio and its control messages."""

    async def send_audio(self, payload: bytes) -> None:
        """Send one encoded 20 ms frame."""

    async def send_mark(self, name: str) -> None:
        """Say that a reply chunk ends here (the audio before it has all been sent)."""

    async def send_clear(self) -> None:
        """Tell the far end to drop the audio it holds but has not played (barge-in)."""


class WebsocketAudio:
    """A session's audio both ways on a websocket, in ``audio_format`` (the same both ways)."""

    def __init__(
        self,
        kind: TransportKind,
        audio_format: AudioFormat,
        wire: Wire,
        on_state: OnState,
        *,
        session_id: str,
    ) -> None:
        self._kind = kind
        self.format = audio_format
        self.session_id = session_id
        self.marks_sent = 0
        self.marks_played = 0
        self._wire = wire
        self._on_state = on_state
        self._incoming = PushedAudioTrack(audio_format.rate, label=f"Session {session_id}")
        self._reframer = Reframer(audio_format.rate, audio_format.frame_samples)
        self._output: AudioOutputTrack | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._lock = asyncio.Lock()  # one message at a time, in order: audio, marks, clears
        self._marks_due = 0  # reply chunks whose last frame went out with the frame being sent
        self._open = False
        self._closed = False

    @property
    def kind(self) -> TransportKind:
        return self._kind

    # -- MediaTransport ------------------------------------------------------------

    async def open(self, runner: Runner) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        runner.on_track(self._incoming)
        output = runner.audio_output()
        if output is not None:
            self._output = output
            output.chunk_listener = self._chunk_played
            output.on("clear", self._cleared)
            self._spawn(self._send_loop(output, runner.context), "websocket-send")
        self._open = True
        # The socket is up already: media flows as soon as the answer has gone out.
        loop.call_soon(self._on_state, "connected")
        return {"type": "media", "transport": self._kind.name, **self.format.describe()}

    def connected(self) -> bool:
        return self._open and not self._closed

    async def close(self) -> None:
        self._closed = True
        self._incoming.stop()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._output is not None:
            self._output.remove_listener("clear", self._cleared)
            self._output.chunk_listener = None
            self._output = None

    # -- what the socket's consumer calls ------------------------------------------------

    def feed(self, payload: bytes) -> None:
        """Take one frame from the client; a frame of the wrong size raises ``ProtocolError`` (``bad_audio``).

        Frames that come before the transport is open (the client did not wait for
        the ``media`` reply) or after it closed are dropped.
        """
        if len(payload) != self.format.frame_bytes:
            raise ProtocolError(
                MessageError.BAD_AUDIO,
                f"Audio frames are 20 ms of {self.format}: {self.format.frame_bytes} bytes, not {len(payload)}.",
            )
        if self._open and not self._closed:
            self._incoming.push(self.format.decode(payload))

    def mark_played(self, name: str) -> None:
        """The far end has played everything up to the mark ``name`` (Twilio echoes marks)."""
        self.marks_played += 1

    # -- sending ---------------------------------------------------------------------

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=f"rtcstream:{self.session_id}:{name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send_loop(self, output: AudioOutputTrack, context: RunnerContext) -> None:
        try:
            while True:
                frame = await output.recv()
                chunks = self._reframer.push(frame)
                async with self._lock:
                    for chunk in chunks:
                        await self._wire.send_audio(self.format.encode(chunk))
                    while self._marks_due:
                        self._marks_due -= 1
                        self.marks_sent += 1
                        await self._wire.send_mark(f"rtcstream-{self.marks_sent}")
        except MediaStreamError:
            return  # the output track ended (the session is closing)
        except OSError as exc:
            # The socket went away under a send; the consumer's disconnect ends the session too.
            logger.info("Session %s: sending audio stopped: %s", self.session_id, exc)
            if not self._closed:
                self._on_state("closed")
        except Exception as exc:
            context.fail(exc, code=CloseReason.MEDIA_ERROR)

    def _chunk_played(self) -> None:
        """Called by the output track as the frame holding a reply chunk's last sample is made."""
        self._marks_due += 1

    def _cleared(self, dropped: float = 0.0) -> None:
        """The output was cleared (barge-in): forget what waits here, and tell the far end."""
        self._reframer.reset()
        self._marks_due = 0
        if self._open and not self._closed:
            self._spawn(self._send_clear(), "websocket-clear")

    async def _send_clear(self) -> None:
        try:
            async with self._lock:
                await self._wire.send_clear()
        except OSError as exc:
            logger.info("Session %s: the clear message could not be sent: %s", self.session_id, exc)
