"""The recordings' files: written by one thread per process, off the event loop, stored at the end.

Each session's recording (``SessionRecorder``, on the loop) hands batches of
audio to this process's ``RecordingWriter``; its one thread resamples each
direction to ``RECORDING_SAMPLE_RATE`` mono and appends it to a temporary file
on disk, so a long session costs disk, not memory. When the session ends the
thread interleaves the directions into one WAV file (left: what the server
heard, right: what it sent; mono when the session had one direction), saves it
and the transcript through the storage, and records them as ``Recording`` rows.

Audio queued for the thread is bounded (``RECORDING_MAX_PENDING_BYTES``): a
batch past it is dropped and counted, and silence stands in for it, so the
directions stay aligned in time.
"""

from __future__ import annotations

import concurrent.futures
import datetime
import json
import logging
import tempfile
import threading
import wave
from collections.abc import Callable
from typing import IO, Any

import numpy as np
from django.core.files import File
from django.db import close_old_connections

from rtcstream.recording import storage as storages

logger = logging.getLogger("rtcstream.recording")

BLOCK_SECONDS = 1  # silence is made, and the WAV file written, this much at a time
HEARD, SENT = "heard", "sent"
CHANNEL_NAMES = {HEARD: "visitor (heard by the server)", SENT: "server (sent)"}


class RecordingWriter:
    """One per process (``Runtime.recordings``): one thread for every session's recording files."""

    def __init__(self, max_pending_bytes: int) -> None:
        self.max_pending_bytes = max_pending_bytes
        self._pending_bytes = 0
        self._jobs = 0
        self._lock = threading.Lock()
        self._thread = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="rtcstream-recording")

    def submit(self, fn: Callable[..., Any], *args: Any, nbytes: int = 0) -> concurrent.futures.Future[Any] | None:
        """Run ``fn(*args)`` on the thread, after what was submitted before; None if ``nbytes`` do not fit."""
        with self._lock:
            if nbytes and self._pending_bytes + nbytes > self.max_pending_bytes:
                return None
            self._pending_bytes += nbytes
            self._jobs += 1
        return self._thread.submit(self._run, fn, args, nbytes)

    def pending(self) -> int:
        """How many jobs wait or run (for tests and metrics)."""
        with self._lock:
            return self._jobs

    def _run(self, fn: Callable[..., Any], args: tuple[Any, ...], nbytes: int) -> Any:
        try:
            return fn(*args)
        except Exception:
            logger.exception("A recording job failed")
            return None
        finally:
            with self._lock:
                self._pending_bytes -= nbytes
                self._jobs -= 1


class Channel:
    """One direction: mono int16 at ``rate`` in a temporary file, placed by position in the input."""

    def __init__(self, rate: int, max_samples: int) -> None:
        self.rate = rate
        self.max_samples = max_samples
        self.written = 0  # samples at ``rate`` in the file
        self._file: IO[bytes] | None = None
        self._resampler: Any = None
        self._input_rate: int | None = None
        self._fed = 0  # input samples taken so far (silence for gaps included)

    def start(self, offset: float) -> None:
        """Begin ``offset`` seconds after the recording began (silence until then)."""
        self._write_silence(round(max(0.0, offset) * self.rate))

    def feed(self, rate: int, position: int, samples: np.ndarray) -> None:
        """Take mono int16 ``samples`` that start at input sample ``position``; a gap before them is silence."""
        if self._input_rate is None:
            self._input_rate = rate
            if rate != self.rate:
                import soxr  # an rtcstream dependency (ReplyOnPause's resampler)

                self._resampler = soxr.ResampleStream(rate, self.rate, 1, dtype="int16")
        self._silence_until(position)
        skip = self._fed - position  # an overlap: what was already taken
        if skip >= samples.size:
            return
        self._push(samples[max(0, skip) :])

    def end(self, position: int) -> None:
        """The input ended at ``position``: silence up to it, then what the resampler still holds."""
        self._silence_until(position)
        if self._resampler is not None:
            self._append(self._resampler.resample_chunk(np.zeros(0, dtype=np.int16), last=True))
            self._resampler = None

    def pad_to(self, samples: int) -> None:
        self._write_silence(samples - self.written)

    def read(self, start: int, count: int) -> np.ndarray:
        """Samples ``start`` to ``start + count`` of the file (zeros past its end)."""
        out = np.zeros(count, dtype=np.int16)
        if self._file is None or start >= self.written:
            return out
        self._file.seek(start * 2)
        data = np.frombuffer(self._file.read(min(count, self.written - start) * 2), dtype=np.int16)
        out[: data.size] = data
        return out

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _silence_until(self, position: int) -> None:
        block = (self._input_rate or self.rate) * BLOCK_SECONDS
        while self._fed < position and self.written < self.max_samples:
            self._push(np.zeros(min(block, position - self._fed), dtype=np.int16))
        self._fed = max(self._fed, position)

    def _push(self, samples: np.ndarray) -> None:
        self._fed += samples.size
        self._append(samples if self._resampler is None else self._resampler.resample_chunk(samples))

    def _write_silence(self, samples: int) -> None:
        while samples > 0:
            step = min(samples, self.rate * BLOCK_SECONDS)
            self._append(np.zeros(step, dtype=np.int16))
            samples -= step

    def _append(self, samples: np.ndarray) -> None:
        samples = samples[: max(0, self.max_samples - self.written)]
        if not samples.size:
            return
        if self._file is None:
            self._file = tempfile.TemporaryFile(prefix="rtcstream-recording-")
        self._file.seek(self.written * 2)
        self._file.write(np.ascontiguousarray(samples, dtype=np.int16).tobytes())
        self.written += samples.size


def to_mono(samples: np.ndarray, layout: str) -> np.ndarray:
    """Mono int16 from ``(1, n)`` mono or ``(1, 2n)`` interleaved stereo."""
    flat = samples.reshape(-1)
    if layout == "stereo":
        return flat.reshape(-1, 2).mean(axis=1).astype(np.int16)
    return flat.astype(np.int16, copy=False)


class RecordingFiles:
    """What one session's recording has written so far; used by the writer's thread only."""

    def __init__(
        self, session_id: str, started: datetime.datetime, directions: tuple[str, ...], rate: int, max_seconds: float
    ) -> None:
        self.session_id = session_id
        self.started = started
        self.rate = rate
        self.channels = {direction: Channel(rate, round(max_seconds * rate)) for direction in directions}
        self._transcript: IO[bytes] | None = None
        self.transcript_lines = 0

    def start(self, direction: str, offset: float) -> None:
        self.channels[direction].start(offset)

    def audio(self, direction: str, rate: int, layout: str, batch: list[tuple[int, np.ndarray]]) -> None:
        channel = self.channels[direction]
        for position, samples in batch:
            channel.feed(rate, position, to_mono(samples, layout))

    def line(self, at: float, role: str, text: str) -> None:
        if self._transcript is None:
            self._transcript = tempfile.TemporaryFile(prefix="rtcstream-transcript-")
        self._transcript.write(json.dumps({"at": round(at, 3), "role": role, "text": text}).encode() + b"\n")
        self.transcript_lines += 1

    def finish(self, ends: dict[str, int], dropped_seconds: float, alias: str, prefix: str) -> None:
        """Store the WAV file and the transcript, and record them; the temporary files go."""
        try:
            for direction, end in ends.items():
                self.channels[direction].end(end)
            stored = self._store(dropped_seconds, alias, prefix)
            self._record(stored, alias)
        finally:
            for channel in self.channels.values():
                channel.close()
            if self._transcript is not None:
                self._transcript.close()

    def _folder(self, prefix: str) -> str:
        return f"{prefix.strip('/')}/{self.started:%Y/%m/%d}/{self.session_id}"

    def _store(self, dropped_seconds: float, alias: str, prefix: str) -> list[dict[str, Any]]:
        where = storages.storage(alias)
        stored = []
        frames = max(channel.written for channel in self.channels.values())
        if frames:
            with tempfile.TemporaryFile(prefix="rtcstream-wav-") as out:
                self._write_wav(out, frames)
                size = out.tell()
                out.seek(0)
                name = where.save(f"{self._folder(prefix)}/conversation.wav", File(out, name="conversation.wav"))
            labels = [CHANNEL_NAMES[d] for d in self.channels]
            channels = " | ".join(labels) if len(labels) == 1 else f"left: {labels[0]} | right: {labels[1]}"
            stored.append(
                {
                    "kind": "audio",
                    "name": name,
                    "content_type": "audio/wav",
                    "size": size,
                    "seconds": round(frames / self.rate, 3),
                    "channels": channels,
                    "dropped_seconds": round(dropped_seconds, 3),
                }
            )
        if self._transcript is not None:
            size = self._transcript.tell()
            self._transcript.seek(0)
            name = where.save(
                f"{self._folder(prefix)}/transcript.jsonl", File(self._transcript, name="transcript.jsonl")
            )
            stored.append({"kind": "transcript", "name": name, "content_type": "application/x-ndjson", "size": size})
        return stored

    def _write_wav(self, out: IO[bytes], frames: int) -> None:
        channels = list(self.channels.values())
        with wave.open(out, "wb") as wav:  # a file object: wave leaves it open
            wav.setnchannels(len(channels))
            wav.setsampwidth(2)
            wav.setframerate(self.rate)
            block = self.rate * BLOCK_SECONDS
            for start in range(0, frames, block):
                count = min(block, frames - start)
                columns = [channel.read(start, count) for channel in channels]
                wav.writeframes(np.column_stack(columns).reshape(-1).tobytes())

    def _record(self, stored: list[dict[str, Any]], alias: str) -> None:
        from rtcstream.models import Recording

        if not stored:
            return
        close_old_connections()
        try:
            for fields in stored:
                Recording.objects.update_or_create(
                    session_id=self.session_id,  # type: ignore[misc]  # the key is session_id (to_field), not the pk
                    kind=fields["kind"],
                    defaults={**fields, "storage": alias},
                )
        except Exception:
            # No row to find them by (the session's row is gone): the files would be orphans.
            for fields in stored:
                storages.storage(alias).delete(fields["name"])
            raise
        finally:
            close_old_connections()
