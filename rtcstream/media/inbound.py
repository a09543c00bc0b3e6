"""The incoming audio as a handler hears it: continuous, and bounded.

**Continuous.** A browser that sends Opus with DTX (asked for by
``RTCSTREAM["AUDIO_DTX"]``) stops sending while the user is silent, apart from a
comfort-noise packet every 400 ms, and a lost packet leaves a 20 ms hole.
Handlers keep the contract they know from FastRTC, every moment of the call
reaches ``receive``, because ``InboundAudio`` fills the holes with silence:

- on the receiver's clock while a gap lasts: once the next frame is
  ``overdue`` late, 20 ms of silence for every 20 ms of the gap, so a pause
  ends a turn on time although no packet arrives to say so. Where the gap is
  behind the clock already (the event loop itself was late: a stall of the
  server, not of the sender), the silence catches up one frame per turn of
  the loop, not all at once: frames that waited upstream meanwhile (in the
  socket, the websocket inbox, the jitter buffer) get their turn between
  them. Measured with a 0.5 s stall of the loop and a sender three hops away:
  40 ms of silence heard, where catching up at once put 520 ms in the middle
  of the speech, a pause the speaker never made;
- from the RTP timestamps when a frame arrives after a hole: silence for the
  samples between the end of what was given and the frame's start, never more
  than the wall time the hole took (a sender that jumps its timestamps adds
  nothing absurd).

A frame that arrives after its time was filled (a late packet, or the
comfort-noise packet the jitter buffer held back) is given as it is: nothing
heard is dropped, the stream is a little longer.

**Bounded.** aiortc queues decoded frames without bound; a handler slower than
real time would grow that queue forever. Past ``max_backlog`` frames the
oldest are dropped down to half of it, counted and logged.
"""

from __future__ import annotations

import asyncio
import logging
from fractions import Fraction

import av
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtcrtpreceiver import RemoteStreamTrack

from rtcstream.media.audio import FRAME_SECONDS, frame_samples

logger = logging.getLogger("rtcstream.media")

OVERDUE = 0.06  # how late the next frame may be before silence stands in for it
MAX_BACKLOG = 50  # decoded 20 ms frames allowed to wait for a slow handler


class InboundAudio:
    """Frames from an incoming audio track, with gaps filled by silence and the backlog bounded."""

    def __init__(
        self,
        track: MediaStreamTrack,
        *,
        label: str = "Incoming audio",
        overdue: float = OVERDUE,
        max_backlog: int = MAX_BACKLOG,
    ) -> None:
        self._track = track
        self._label = label
        self._overdue = overdue
        self._max_backlog = max_backlog
        self._template: av.AudioFrame | None = None  # the stream's format, layout and rate
        self._rate = 0  # the stream's sample rate, and 20 ms of it: set by its first frame
        self._frame = 0
        self._end = 0  # pts (in samples) just after the last frame given
        self._current_at = 0.0  # loop time at which the stream given was up to date
        self._filling = False  # in a gap: the next silence is due 20 ms after the last
        self._owed = 0  # samples of silence to give before ``_held``
        self._held: av.AudioFrame | None = None  # a frame that arrived after a hole
        self.frames_dropped = 0
        self.samples_filled = 0

    async def recv(self) -> av.AudioFrame:
        if self._owed:
            return self._silence(min(self._owed, self._frame))
        if self._held is not None:
            frame, self._held = self._held, None
            return self._give(frame)
        if self._template is None:
            frame = await self._next_frame()
            self._template = frame
            self._rate = int(frame.sample_rate)
            self._frame = frame_samples(self._rate)
            self._end = self._start(frame)
            self._current_at = asyncio.get_running_loop().time()
            return self._give(frame)
        loop = asyncio.get_running_loop()
        deadline = self._current_at + FRAME_SECONDS + (0.0 if self._filling else self._overdue)
        try:
            async with asyncio.timeout_at(deadline):
                frame = await self._next_frame()
        except TimeoutError:
            self._filling = True
            self._current_at += FRAME_SECONDS  # behind the clock, the next deadline has passed: one frame a turn
            return self._silence(self._frame)
        return self._arrived(frame, loop.time())

    def _arrived(self, frame: av.AudioFrame, now: float) -> av.AudioFrame:
        missing = self._start(frame) - self._end
        waited = int((now - self._current_at + FRAME_SECONDS) * self._rate)
        self._current_at = now
        self._filling = False
        if missing <= 0:
            return self._give(frame)
        self._owed = min(missing, waited)  # a timestamp jump is not that much silence
        if not self._owed:
            return self._give(frame)
        self._held = frame
        return self._silence(min(self._owed, self._frame))

    def _start(self, frame: av.AudioFrame) -> int:
        """Where ``frame`` starts, in samples; a frame without a timestamp follows on."""
        if frame.pts is None or frame.time_base is None:
            return self._end
        return int(frame.pts * frame.time_base * frame.sample_rate)

    def _give(self, frame: av.AudioFrame) -> av.AudioFrame:
        self._end = max(self._end, self._start(frame) + frame.samples)
        return frame

    def _silence(self, samples: int) -> av.AudioFrame:
        template = self._template
        assert template is not None
        frame = av.AudioFrame(format=template.format.name, layout=template.layout.name, samples=samples)
        for plane in frame.planes:
            plane.update(bytes(plane.buffer_size))
        frame.sample_rate = self._rate
        frame.time_base = Fraction(1, self._rate)
        frame.pts = self._end
        self._end += samples
        self._owed = max(0, self._owed - samples)
        self.samples_filled += samples
        return frame

    async def _next_frame(self) -> av.AudioFrame:
        self._shed_backlog()
        frame = await self._track.recv()
        assert isinstance(frame, av.AudioFrame)
        return frame

    def _shed_backlog(self) -> None:
        # aiortc's RemoteStreamTrack keeps decoded frames in ``_queue`` (no API for its
        # length; checks.hooks checks it is there). Other tracks hold no backlog of theirs.
        if not isinstance(self._track, RemoteStreamTrack):
            return
        backlog = self._track._queue
        if backlog.qsize() <= self._max_backlog:
            return
        dropped = 0
        while backlog.qsize() > self._max_backlog // 2:
            backlog.get_nowait()
            dropped += 1
        self.frames_dropped += dropped
        logger.warning(
            "%s: the handler is slower than real time; dropped %d input frames (%d so far)",
            self._label,
            dropped,
            self.frames_dropped,
        )
