"""One session's recording, on the loop side: audio batched for the writer's thread, never written here.

Made when the page consents (the ``consent`` message) on an endpoint that
records. The runner hands it what the handler heard, the output track what it
sent (frame by frame, with the frame's index, so the silence the track skips
between replies stays silence), and the session context the transcript lines.
Every half second of audio goes to the writer's thread as one batch. Frames
of pure silence are not queued at all: their position is enough.

The page may withdraw its consent and give it again, any number of times: the
recording pauses and resumes in the same files. Its clock runs on meanwhile
(each direction's position keeps counting what it did not take), so the span
without consent is silence in the WAV file and the audio and the transcript
stay where they happened.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import threading
import time
from collections.abc import Iterable
from typing import Any

import numpy as np

from rtcstream import conf
from rtcstream.media.audio import FRAME_SAMPLES, OUTPUT_RATE
from rtcstream.recording.storage import recording_alias
from rtcstream.recording.transcripts import lines_from_outputs
from rtcstream.recording.writer import HEARD, SENT, RecordingFiles, RecordingWriter

logger = logging.getLogger("rtcstream.recording")

BATCH_SECONDS = 0.5
# How long a session's end waits for its recording to be stored; past it, storing goes on after.
FINISH_WAIT = 30.0


class _Direction:
    """One direction's position and pending batch."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.rate = 0
        self.layout = "mono"
        self.anchor: int | None = None  # the input position (or frame index) the recording started at
        self.end = 0  # input samples since the anchor, up to the end of the last one recorded
        self.seen = 0  # input samples since the anchor, up to the end of the last one seen (recorded or not)
        self.batch: list[tuple[int, np.ndarray]] = []
        self.batched = 0  # input samples in ``batch``
        self.full = False  # RECORDING_MAX_SECONDS reached


class SessionRecorder:
    """Records one session's audio, both ways, and its transcript."""

    def __init__(
        self, writer: RecordingWriter, session_id: str, started: datetime.datetime, *, heard: bool, sent: bool
    ) -> None:
        self._writer = writer
        self.session_id = session_id
        self._t0 = time.monotonic()
        self._lock = threading.Lock()  # the transcript comes from worker threads too
        self.max_seconds = float(conf.get("RECORDING_MAX_SECONDS"))
        names = tuple(name for name, wanted in ((HEARD, heard), (SENT, sent)) if wanted)
        self._directions = {name: _Direction(name) for name in names}
        self._files = RecordingFiles(
            session_id, started, names, int(conf.get("RECORDING_SAMPLE_RATE")), self.max_seconds
        )
        self.alias = recording_alias()
        self.prefix = str(conf.get("RECORDING_PATH"))
        self.capturing = True
        self.dropped_seconds = 0.0
        self._finished = False

    def heard(self, rate: int, samples: np.ndarray, layout: str) -> None:
        """The handler got ``samples`` (int16 (1, n) mono, or (1, 2n) interleaved stereo) at ``rate``."""
        direction = self._directions.get(HEARD)
        if direction is None:
            return
        count = samples.shape[-1] // (2 if layout == "stereo" else 1)
        with self._lock:
            if direction.anchor is None:
                if not self._recording:
                    return  # the direction begins with the first audio recorded
                direction.rate, direction.layout, direction.anchor = rate, layout, 0
                self._start(direction, time.monotonic() - self._t0 - count / rate)
            position, direction.seen = direction.seen, direction.seen + count  # heard while paused counts too
            self._take(direction, position, samples, count)

    def sent(self, index: int, samples: np.ndarray | None) -> None:
        """The output track sent frame ``index``: ``samples`` (48 kHz interleaved stereo), or None for silence."""
        direction = self._directions.get(SENT)
        if direction is None:
            return
        with self._lock:
            if direction.anchor is None:
                if not self._recording:
                    return
                direction.rate, direction.layout, direction.anchor = OUTPUT_RATE, "stereo", index
                self._start(direction, time.monotonic() - self._t0)
            position = (index - direction.anchor) * FRAME_SAMPLES
            if position < direction.end:
                return  # not after the last frame: a restarted pacer's index
            self._take(direction, position, samples, FRAME_SAMPLES)

    def add_line(self, role: str, text: str) -> None:
        """Add a transcript line, said now by ``role``."""
        with self._lock:
            if self._recording:
                self._writer.submit(self._files.line, time.monotonic() - self._t0, role, text)

    def outputs(self, values: Iterable[Any]) -> None:
        """The handler published ``AdditionalOutputs`` with ``values``: their text is transcript."""
        for role, text in lines_from_outputs(values):
            self.add_line(role, text)

    def stop_capture(self) -> None:
        """Record nothing more (the page withdrew its consent) until ``resume_capture``; what was recorded is kept."""
        with self._lock:
            self.capturing = False

    def resume_capture(self) -> None:
        """Record again (the page consented again), in the same files: the span in between stays silence."""
        with self._lock:
            self.capturing = True

    async def finish(self) -> None:
        """Store the recording (in the writer's thread) and wait, a while at most, until it is stored."""
        with self._lock:
            if self._finished:
                return
            self._finished = True
            for direction in self._directions.values():
                self._flush(direction)
            ends = {d.name: d.end for d in self._directions.values() if d.anchor is not None}
            done = self._writer.submit(self._files.finish, ends, self.dropped_seconds, self.alias, self.prefix)
        if done is None:
            return
        try:
            async with asyncio.timeout(FINISH_WAIT):
                await asyncio.wrap_future(done)
        except TimeoutError:
            logger.warning("Session %s: its recording is still being stored", self.session_id)

    # -- with the lock held ------------------------------------------------------------

    @property
    def _recording(self) -> bool:
        return self.capturing and not self._finished

    def _start(self, direction: _Direction, offset: float) -> None:
        self._writer.submit(self._files.start, direction.name, offset)

    def _take(self, direction: _Direction, position: int, samples: np.ndarray | None, count: int) -> None:
        if not self._recording or direction.full:
            return  # paused: the next audio recorded goes at its own position, after silence
        if position + count > self.max_seconds * direction.rate:
            direction.full = True
            logger.info("Session %s: the recording reached RECORDING_MAX_SECONDS; it stops here", self.session_id)
            return
        direction.end = position + count
        if samples is not None and samples.any():  # silence needs no bytes: its position says it
            direction.batch.append((position, samples.copy()))  # a handler may change what it was given
            direction.batched += count
        if direction.batched >= BATCH_SECONDS * direction.rate:
            self._flush(direction)

    def _flush(self, direction: _Direction) -> None:
        if not direction.batch:
            return
        batch, direction.batch = direction.batch, []
        count, direction.batched = direction.batched, 0
        nbytes = sum(samples.nbytes for _, samples in batch)
        queued = self._writer.submit(
            self._files.audio, direction.name, direction.rate, direction.layout, batch, nbytes=nbytes
        )
        if queued is None:
            self.dropped_seconds += count / direction.rate
            logger.warning(
                "Session %s: the recording's writer falls behind; %.1f s dropped",
                self.session_id,
                count / direction.rate,
            )
