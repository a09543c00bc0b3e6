"""What every runner shares: the session context, tasks, and delivering a handler's results."""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Coroutine
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from rtcstream import conf
from rtcstream.execution import calls
from rtcstream.execution.calls import owned_context
from rtcstream.handlers.context import HandlerContext
from rtcstream.handlers.results import AdditionalOutputs, CloseStream
from rtcstream.media.pacing import MediaClock
from rtcstream.media.tracks import AudioOutputTrack, OutputTrack
from rtcstream.media.video import DEFAULT_COLOR, Color, array_to_frame
from rtcstream.reasons import CloseReason

if TYPE_CHECKING:
    from rtcstream.endpoints.resolution import Endpoint
    from rtcstream.transports.table import TransportKind

logger = logging.getLogger("rtcstream.runners")

T = TypeVar("T", bound=OutputTrack)

# aiortc's sender stops a track when its encoder or transport fails. The
# transport also fails when the connection goes, which the session learns
# through its connection state; wait this long before blaming the media.
SENDER_STOP_GRACE = 0.5


def media_part(item: Any) -> Any:
    """The media in a handler result (None when it holds none); pure, so a worker thread may call it.

    Accepted: media, ``AdditionalOutputs``, ``(media, AdditionalOutputs)``, ``CloseStream`` and None.
    """
    if item is None or isinstance(item, (AdditionalOutputs, CloseStream)):
        return None
    return item[0] if _with_outputs(item) else item


def _with_outputs(item: Any) -> bool:
    return isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], AdditionalOutputs)


class MediaFailure(Exception):
    """An outgoing track stopped while the session was live."""


@dataclass(frozen=True)
class MediaOptions:
    """What a runner needs to know of its endpoint and of the settings; each uses its part."""

    mode: str = "send-receive"
    modality: str = "audio"
    fps: float = 30.0  # generated video
    audio_buffer: float = 0.5  # AUDIO_BUFFER_SECONDS
    idle_frames: bool = True  # AUDIO_IDLE_FRAMES
    audio_lead: float = 0.0  # seconds of a reply sent ahead of real time (its transport's)
    color: Color = DEFAULT_COLOR  # the channel order of video frames user code sees

    @classmethod
    def for_endpoint(cls, endpoint: Endpoint) -> MediaOptions:
        """The options of a session on ``endpoint``, with the settings as they are now."""
        return cls(
            mode=endpoint.mode,
            modality=endpoint.modality,
            fps=endpoint.spec.fps,
            audio_buffer=conf.get("AUDIO_BUFFER_SECONDS"),
            idle_frames=conf.get("AUDIO_IDLE_FRAMES"),
            color=endpoint.spec.color,
        )

    def for_transport(self, kind: TransportKind) -> MediaOptions:
        """These options on the transport ``kind``: silence between replies only where it carries it, and its lead."""
        return replace(self, idle_frames=self.idle_frames and kind.idle_audio, audio_lead=kind.audio_lead)

    def audio_track(self, clock: MediaClock | None = None) -> AudioOutputTrack:
        return AudioOutputTrack(
            max_buffer=self.audio_buffer, idle_frames=self.idle_frames, clock=clock, lead=self.audio_lead
        )


class RunnerContext(HandlerContext, Protocol):
    """The session as a runner sees it: the handler's context plus ways to end or publish."""

    @property
    def owner(self) -> str:
        """The registry name of the handler: whose sync calls the worker pool counts."""

    def publish(self, outputs: AdditionalOutputs) -> None:
        """Send ``outputs`` to the page, in order."""

    def close(self, reason: CloseReason, message: str = "") -> None:
        """End the session (from the loop)."""

    def fail(self, exc: BaseException, code: CloseReason = CloseReason.HANDLER_ERROR) -> None:
        """End the session because ``exc`` was raised (by the handler, or on the media path)."""

    def media_connected(self) -> bool:
        """Whether the peer connection and every one of its DTLS transports are still connected."""

    def heard(self, rate: int, samples: Any, layout: str) -> None:
        """The handler was given ``samples`` (recorded, if the session is)."""


async def drain(track: MediaStreamTrack) -> None:
    """Read and discard a track nobody uses: unread frames pile up in aiortc's queue."""
    try:
        while True:
            await track.recv()
    except MediaStreamError:
        pass


class Runner(ABC):
    """Drives one handler. The session calls, in order: ``outgoing_tracks`` and
    ``on_track`` while negotiating, ``start`` once media flows, ``trigger`` on
    demand, then ``stop`` exactly once at the end and, once the session's slot
    is given back, ``close_handler``."""

    consumes: tuple[str, ...] = ()  # the kinds of incoming track the handler reads

    def __init__(self, handler: Any, context: RunnerContext, media: MediaOptions) -> None:
        self.handler = handler
        self.context = context
        self.media = media
        self.inbound: dict[str, MediaStreamTrack] = {}  # the incoming track of each kind it reads
        self.clock = MediaClock()  # the start the outgoing tracks share
        self._outgoing: list[OutputTrack] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stopped = False
        # The tasks' context: calls into sync user code count as this handler's (calls.OWNER).
        self._task_context = owned_context(context.owner)
        self._frames_call = f"the video frames of {calls.describe(handler)} (session {context.session_id})"

    def own(self, track: T) -> T:
        """Make ``track`` one this runner sends; its end is watched from now on."""
        self._outgoing.append(track)
        track.on("ended", lambda: self._on_outgoing_ended(track))
        return track

    def outgoing_tracks(self) -> list[MediaStreamTrack]:
        """Tracks the server sends; added to the peer connection before the answer."""
        return list(self._outgoing)

    def audio_output(self) -> AudioOutputTrack | None:
        """The audio track the handler's replies play on, if this runner sends audio."""
        return next((t for t in self._outgoing if isinstance(t, AudioOutputTrack)), None)

    def on_output_finished(self, track: OutputTrack) -> None:
        """An outgoing track ended in order (``end()`` and all its media sent)."""

    def _on_outgoing_ended(self, track: OutputTrack) -> None:
        if self._stopped:
            return
        if track.finished:
            self.on_output_finished(track)
        elif track.failure is not None:
            self.context.fail(track.failure, code=CloseReason.MEDIA_ERROR)
        else:
            # The sender stopped it: a failed encoder (aiortc logged it) or a closing transport.
            self.context.loop.call_later(SENDER_STOP_GRACE, self._sender_stopped, track)

    def _sender_stopped(self, track: OutputTrack) -> None:
        if self._stopped:
            return
        if not self.context.media_connected():
            # The transport closed under the sender: the client hung up, and the
            # connection's state says so later than the sender noticed.
            self.context.close(CloseReason.DISCONNECTED, "The client closed the media connection.")
            return
        self.context.fail(MediaFailure(f"the {track.kind} sender stopped"), code=CloseReason.MEDIA_ERROR)

    def on_track(self, track: MediaStreamTrack) -> None:
        """Keep the first incoming track of each kind this runner reads; drain any other."""
        if track.kind in self.consumes and track.kind not in self.inbound:
            self.inbound[track.kind] = track
        else:
            self.spawn(drain(track), "drain")

    @abstractmethod
    async def start(self) -> None:
        """Start the handler's work (called once the connection is up)."""

    def trigger(self) -> None:
        """React to the page's ``trigger`` message."""

    def text(self, text: str) -> None:
        """Hand the page's ``text`` message to the handler (only kinds whose row says ``takes_text`` get one)."""
        raise NotImplementedError(f"{type(self).__name__} takes no text")

    async def stop(self) -> None:
        """Cancel every task and wait for them, then end the outgoing tracks."""
        self._stopped = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        for track in self.outgoing_tracks():
            track.stop()

    async def close_handler(self) -> None:
        """Let the handler know its session has ended (after ``stop``); never raises."""

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any] | None:
        """Run ``coro`` as a task owned by this runner; a handler error ends the session."""
        if self._stopped:
            coro.close()
            return None
        task = self.context.loop.create_task(
            coro, name=f"rtcstream:{self.context.session_id}:{name}", context=self._task_context.copy()
        )
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        # MediaStreamError: the peer went away; the session notices through its connection state.
        if exc is not None and not isinstance(exc, MediaStreamError):
            self.context.fail(exc)

    def handle_control(self, item: Any) -> Any:
        """Act on the non-media part of a handler result; return ``media_part(item)``."""
        if isinstance(item, AdditionalOutputs):
            self.context.publish(item)
        elif isinstance(item, CloseStream):
            self.context.close(CloseReason.HANDLER_CLOSED, item.msg)
        elif _with_outputs(item):
            self.context.publish(item[1])
        return media_part(item)

    async def video_frame(self, media: Any) -> av.VideoFrame:
        """A handler's video ``media`` as the encoder takes it (``array_to_frame``), made in the worker pool:
        on the loop, a full-size frame at the camera's rate would hold every other session's media back."""
        return await calls.run_sync(array_to_frame, media, self.media.color, name=self._frames_call)
