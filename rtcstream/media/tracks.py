"""The server's outgoing tracks: paced audio from a bounded buffer, and video from a one-frame slot.

aiortc's sender calls ``recv`` in a loop and stops for the rest of the session
on any exception it does not expect (and calls the track's ``stop``). So
``recv`` never lets an error through unrecorded: it keeps the error in
``failure``, ends the track, and the runner that owns the track ends the
session with a ``media_error`` (see ``runners.base``).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import fractions
import logging
import time
from collections.abc import Callable
from typing import Any

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from rtcstream.media.audio import FRAME_SAMPLES, FRAME_SECONDS, OUTPUT_RATE, OutputConverter, make_frame
from rtcstream.media.opus import OpusPacketEncoder
from rtcstream.media.pacing import MediaClock, Pacer

logger = logging.getLogger("rtcstream.media")

VIDEO_CLOCK = 90000
VIDEO_TIME_BASE = fractions.Fraction(1, VIDEO_CLOCK)
_FRAME_VALUES = FRAME_SAMPLES * 2  # interleaved stereo
_SILENCE = np.zeros(_FRAME_VALUES, dtype=np.int16)
# Opus DTX between replies, as libopus and WebRTC's sender do it: after this many
# silent frames sent in full, a DTX packet, then one frame in DTX_PERIOD (400 ms)
# keeps the stream alive (the settled silence, then a DTX packet again).
DTX_AFTER_FRAMES = 10
DTX_PERIOD_FRAMES = 20
DTX_PACKETS_PER_SECOND = 2 / (DTX_PERIOD_FRAMES * FRAME_SECONDS)  # a keepalive and a DTX packet a period


class OutputTrack(MediaStreamTrack):
    """What both outgoing tracks share: an orderly end, and failures kept for the owner.

    ``end()`` asks the track to finish once what is queued has gone out;
    ``finished`` then tells an orderly end from a failure. ``failure`` holds
    the exception that stopped ``recv``, if any.
    """

    def __init__(self) -> None:
        super().__init__()
        self._changed = asyncio.Event()
        self._ended = False
        self.failure: BaseException | None = None
        self.finished = False
        self.frames_sent = 0

    def end(self) -> None:
        """Finish after the queued media has gone out: ``recv`` then ends the track."""
        self._ended = True
        self._changed.set()

    def stop(self) -> None:
        super().stop()
        self._changed.set()

    def _finish(self) -> MediaStreamError:
        self.finished = True
        self.stop()
        return MediaStreamError()

    async def recv(self) -> Any:
        if self.readyState != "live":
            raise MediaStreamError
        try:
            return await self._next_frame()
        except (MediaStreamError, asyncio.CancelledError):
            raise
        except Exception as exc:
            self.failure = exc
            logger.error("The outgoing %s track failed; it is stopped", self.kind, exc_info=True)
            self.stop()
            raise MediaStreamError from exc

    async def _next_frame(self) -> Any:
        raise NotImplementedError


class AudioOutputTrack(OutputTrack):
    """Audio that handlers write in chunks of any size and rate, played in real time.

    ``put`` converts a chunk to 48 kHz stereo and waits while more than
    ``max_buffer`` seconds are queued, so a generator never runs far ahead of
    playback. ``recv`` hands aiortc one 20 ms frame every 20 ms, silence when
    nothing is queued (``idle_frames``): a browser's jitter buffer that keeps
    receiving stays small and plays the next reply at once, where it takes a
    gap in the RTP stream for loss and conceals through it, and played replies
    a second late when the gap did not show in the timestamps
    (docs/performance.md). Without ``idle_frames`` nothing is sent between replies.

    Once ``send_opus_packets(dtx=True)`` is called, the silence between replies
    goes out as Opus DTX: 200 ms of it in full, then a DTX packet, then two
    packets every 400 ms. A browser's jitter buffer knows this pattern (it is
    what another browser sends) and plays the next reply at once.
    """

    kind = "audio"

    def __init__(
        self,
        max_buffer: float = 0.5,
        *,
        idle_frames: bool = True,
        frame_period: float = FRAME_SECONDS,
        clock: MediaClock | None = None,
        lead: float = 0.0,
    ) -> None:
        super().__init__()
        self.max_buffer = max_buffer
        self.idle_frames = idle_frames
        self._chunks: collections.deque[np.ndarray] = collections.deque()
        self._queued = 0  # interleaved samples in _chunks
        self._put_total = 0  # interleaved samples ever queued, and ever taken: marks count on them
        self._taken_total = 0
        self._marks: collections.deque[tuple[int, Callable[[], None]]] = collections.deque()
        self._starts: collections.deque[tuple[int, Callable[[], None]]] = collections.deque()  # on_next_audio
        self._clears = 0  # how many times clear() ran: a put() that waited across one drops its chunk
        self._converter = OutputConverter()
        self._pacer = Pacer(frame_period, clock=clock, lead=lead)  # real time (tests run it faster), ``lead`` ahead
        self._encoder: OpusPacketEncoder | None = None
        self._dtx = False
        self._idle = True
        self._silent_frames = 0  # silent frames in a row since the last reply
        self._quiet_until: float | None = None  # after a DTX packet: send nothing until then, or a reply
        # Called as the frame holding each chunk's last sample is made (a websocket transport's marks).
        self.chunk_listener: Callable[[], None] | None = None
        # Told of every frame sent: its index, and its samples, or None for the silence between replies.
        self.on_frame: Callable[[int, np.ndarray | None], None] | None = None

    @property
    def buffered_seconds(self) -> float:
        return self._queued / 2 / OUTPUT_RATE

    def busy(self) -> bool:
        """True while audio is queued for playback."""
        return self._queued > 0

    async def put(self, chunk: Any) -> None:
        """Queue one handler chunk ``(rate, array[, layout])``; wait while the buffer is full.

        A chunk still waiting when ``clear`` drops the queue is dropped with it:
        it was produced before the barge-in, like the audio that was queued.
        """
        samples = self._converter.convert(chunk)
        clears = self._clears
        while self.buffered_seconds >= self.max_buffer and self.readyState == "live" and not self._ended:
            self._changed.clear()
            await self._changed.wait()
        if self.readyState != "live" or self._ended or not samples.size or clears != self._clears:
            return
        self._chunks.append(samples)
        self._queued += samples.size
        self._put_total += samples.size
        self._changed.set()
        if self.chunk_listener is not None:
            self.mark(self.chunk_listener)

    def mark(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once the audio queued so far has been sent (at the next frame if none is).

        ``clear`` drops the marks with the audio: what they waited for will never play.
        """
        if self._put_total <= self._taken_total:
            callback()
        else:
            self._marks.append((self._put_total, callback))

    def on_next_audio(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` when the first frame holding audio queued after now is sent (``clear`` drops it)."""
        self._starts.append((self._put_total, callback))

    def clear(self) -> float:
        """Drop everything queued (barge-in); return how many seconds were dropped.

        Listeners of the track's ``clear`` event hear it (a websocket transport tells the far end).
        """
        dropped = self.buffered_seconds
        self._chunks.clear()
        self._taken_total += self._queued  # as if played: later marks count from here
        self._queued = 0
        self._marks.clear()
        self._starts.clear()
        self._clears += 1
        self._converter.reset()
        self._changed.set()
        self.emit("clear", dropped)
        return dropped

    def _take(self) -> np.ndarray:
        """Return the next frame's samples: what is queued, padded with silence."""
        if not self._chunks:
            return _SILENCE
        parts, taken = [], 0
        while self._chunks and taken < _FRAME_VALUES:
            head = self._chunks[0]
            need = _FRAME_VALUES - taken
            if head.size <= need:
                parts.append(self._chunks.popleft())
                taken += head.size
            else:
                parts.append(head[:need])
                self._chunks[0] = head[need:]
                taken += need
        self._queued -= taken
        self._taken_total += taken
        self._changed.set()
        if taken < _FRAME_VALUES:
            parts.append(_SILENCE[: _FRAME_VALUES - taken])
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def send_opus_packets(self, *, dtx: bool = False) -> None:
        """Hand aiortc's sender Opus packets encoded here (``OpusPacketEncoder``) rather than frames.

        Called once the answer says the sender's codec is Opus; before that, and for any
        other codec, ``recv`` gives frames and aiortc encodes them. ``dtx``: send the
        silence between replies as Opus DTX.
        """
        if self._encoder is None:
            self._encoder = OpusPacketEncoder()
        self._dtx = dtx

    async def _next_frame(self) -> av.AudioFrame | av.Packet:
        encoder = self._encoder
        if encoder is None:
            return await self.next_frame()
        keepalive = self._quiet_until is not None
        if keepalive:
            await self._quiet()
        frame = await self.next_frame()
        self._silent_frames = self._silent_frames + 1 if self._idle else 0
        if self._dtx and self._silent_frames > DTX_AFTER_FRAMES and encoder.settled and not keepalive:
            # Nothing more until a reply or the keepalive, which is due a period after this packet.
            self._quiet_until = self._pacer.due() + (DTX_PERIOD_FRAMES - 2) * self._pacer.period
            return encoder.dtx_packet(frame)
        return encoder.encode(frame, silent=self._idle)

    async def _quiet(self) -> None:
        """Wait, after a DTX packet, for a reply, the end, or the keepalive's time; then send at once."""
        until, self._quiet_until = self._quiet_until, None
        await self._wait_for_audio(until)
        self._pacer.skip_to_now()

    async def _wait_for_audio(self, until: float | None = None) -> None:
        """Wait until audio is queued, the track ends or stops, or the monotonic time ``until`` passes."""
        while not self._chunks and not self._ended and self.readyState == "live":
            left = None if until is None else until - time.monotonic()
            if left is not None and left <= 0:
                return
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(left):
                    await self._changed.wait()

    async def next_frame(self) -> av.AudioFrame:
        """The next 20 ms frame, when its time comes: what ``recv`` sends, encoded or not."""
        if not self.idle_frames:
            await self._wait_for_audio()  # no RTP until there is something to play
        index = await self._pacer.next()
        if self.readyState != "live":
            raise MediaStreamError
        if self._ended and not self._chunks:
            raise self._finish()
        self._idle = not self._chunks  # the frame is the silence between replies
        samples = self._take()
        frame = make_frame(samples, index * FRAME_SAMPLES)
        self.frames_sent += 1
        if self.on_frame is not None:
            try:
                self.on_frame(index, None if self._idle else samples)
            except Exception:  # a listener must not stop the media
                logger.exception("An output frame's listener raised")
        for marks, due in ((self._starts, self._taken_total - 1), (self._marks, self._taken_total)):
            while marks and marks[0][0] <= due:
                _, callback = marks.popleft()
                try:
                    callback()
                except Exception:  # a mark's listener must not stop the media
                    logger.exception("A playback mark's callback raised")
        return frame


class VideoOutputTrack(OutputTrack):
    """Video from a one-frame slot: the newest frame wins, stale ones are dropped.

    With ``fps`` set (generated video) ``recv`` paces frames at that rate and
    ``put`` waits until the previous frame was taken; without it (processed
    camera video) frames go out as soon as they are ready. A producer that
    makes each frame just in time awaits ``wanted()``: the track is due to send
    and has nothing. Timestamps count from ``clock``'s start (shared with the
    session's audio when the runner gives both the same clock).
    """

    kind = "video"

    def __init__(self, fps: float | None = None, clock: MediaClock | None = None) -> None:
        super().__init__()
        self._slot: av.VideoFrame | None = None
        self._clock = clock if clock is not None else MediaClock()
        self._pacer = Pacer(1 / fps, clock=self._clock) if fps else None
        self._wanting = False  # recv is due to send and waits for a frame

    def offer(self, frame: av.VideoFrame) -> None:
        """Replace the slot with ``frame``; never waits."""
        self._slot = frame
        self._changed.set()

    async def put(self, frame: av.VideoFrame) -> None:
        """Wait until the slot is free, then fill it (backpressure for generators)."""
        while self._slot is not None and self.readyState == "live":
            self._changed.clear()
            await self._changed.wait()
        self._slot = frame
        self._changed.set()

    async def wanted(self) -> None:
        """Wait until a frame is due and the slot is empty (or the track has stopped or ended)."""
        while not (self._wanting and self._slot is None) and self.readyState == "live" and not self._ended:
            self._changed.clear()
            await self._changed.wait()

    async def _next_frame(self) -> av.VideoFrame:
        if self._pacer is not None:
            await self._pacer.next()
        self._wanting = True
        self._changed.set()
        while self._slot is None and self.readyState == "live" and not self._ended:
            self._changed.clear()
            await self._changed.wait()
        self._wanting = False
        if self._slot is None:
            raise self._finish() if self._ended else MediaStreamError()
        frame, self._slot = self._slot, None
        self._changed.set()
        now = time.monotonic()
        frame.pts = int((now - self._clock.start(now)) * VIDEO_CLOCK)
        frame.time_base = VIDEO_TIME_BASE
        self.frames_sent += 1
        return frame
