"""PocketSphinx's decoder in a Python process of its own, one request at a time.

PocketSphinx's binding holds the GIL while its decoder loads (about 0.3 s), while it
decodes (about 0.15 s a second of speech) and while it spots keyphrases (0.5-1 ms a 20 ms
frame), so in the server's process it stalled the event loop, and every session's media with
it, however the call was threaded. In a child process it stalls nothing but itself; the thread
that waits for its answer holds no GIL.

A ``Task`` says what the child does with each request: ``transcription(rate)`` decodes one
utterance into words; ``spotting(...)`` feeds a stream to a keyphrase search and answers the
phrases it completes (``rtcstream.handlers.stopwords``).

The child is this file run as a script (stdlib and pocketsphinx only, so it needs nothing of
the site's import path). Over its stdin and stdout: a request is a 4-byte big-endian length and
that many bytes of 16-bit little-endian mono PCM; a reply is a status byte (``OK`` or
``FAILED``), a 4-byte length and that much UTF-8 (the answer, or what went wrong). Its first
reply, unasked, says whether the decoder loaded. It ends when its stdin does (its parent closed
it, or died).
"""

from __future__ import annotations

import os
import select
import signal
import struct
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    from pocketsphinx import Decoder

OK, FAILED = b"\x00", b"\x01"
LENGTH = struct.Struct(">I")
LOAD_TIMEOUT = 30.0  # seconds for the child to start and load its decoder
STOP_TIMEOUT = 2.0  # seconds for the child to end once its stdin is closed, before it is killed


class DecoderProcessError(RuntimeError):
    """The decoder process could not start, failed, or did not answer in time."""


@dataclass(frozen=True)
class Task:
    """What a decoder process does: ``name`` says it in messages, ``argv`` tells the child (``_load``)."""

    name: str
    argv: tuple[str, ...]


def transcription(rate: int) -> Task:
    """Each request is one utterance at ``rate`` Hz; the answer is its words ("" when none)."""
    return Task("speech-to-text", ("transcribe", str(rate)))


def spotting(hmm: str, dictionary: str, keyphrases: str) -> Task:
    """Each request continues one 16 kHz stream; the answer is the keyphrases it completed (``spot``)."""
    return Task("stop-word", ("spot", hmm, dictionary, keyphrases))


class DecoderProcess:
    """A PocketSphinx decoder doing ``task`` in a child process, started on first use and again after it fails.

    ``ask`` is thread-safe: callers take turns, one request in the child at a time.
    """

    def __init__(self, task: Task) -> None:
        self.task = task
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._finalizer: weakref.finalize[[subprocess.Popen[bytes]], DecoderProcess] | None = None

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs."""
        return self._process.pid if self._process is not None and self._process.poll() is None else None

    def start(self) -> None:
        """Start the child now (``ask`` would on its first call); raises ``DecoderProcessError`` if it cannot."""
        with self._lock:
            self._running()

    def ask(self, pcm: bytes, timeout: float) -> str:
        """The task's answer to 16-bit mono PCM, within ``timeout`` seconds."""
        with self._lock:
            process = self._running()
            assert process.stdin is not None and process.stdout is not None
            deadline = time.monotonic() + timeout
            try:
                _write(process.stdin, LENGTH.pack(len(pcm)) + pcm, deadline)
                return _reply(process.stdout, deadline)
            except (OSError, DecoderProcessError) as error:
                process.kill()  # a child that failed or hangs is not asked again; the next call starts another
                self._close()
                raise DecoderProcessError(f"The {self.task.name} process failed: {error}") from error

    def close(self) -> None:
        """End the child (if it runs)."""
        with self._lock:
            self._close()

    def _running(self) -> subprocess.Popen[bytes]:
        if self._process is not None and self._process.poll() is None:
            return self._process
        self._close()
        # -P: the child's import path does not start with this folder (whose modules are not stdlib's)
        command = [sys.executable, "-P", __file__, *self.task.argv]
        try:
            process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        except (OSError, ValueError) as error:  # no Python to run (sys.executable is "" when embedded)
            raise DecoderProcessError(f"The {self.task.name} process did not start: {error}") from error
        self._process = process
        self._finalizer = weakref.finalize(self, _stop, process)
        assert process.stdout is not None
        try:
            _reply(process.stdout, time.monotonic() + LOAD_TIMEOUT)
        except (OSError, DecoderProcessError) as error:
            self._close()
            raise DecoderProcessError(f"The {self.task.name} process did not start: {error}") from error
        return process

    def _close(self) -> None:
        if self._finalizer is not None:
            self._finalizer()
        self._process = None
        self._finalizer = None


def _stop(process: subprocess.Popen[bytes]) -> None:
    """End ``process``: close its stdin (it ends by itself), else kill it; reap it either way."""
    try:
        if process.stdin is not None:
            process.stdin.close()
    except OSError:
        pass  # it died with unread input
    try:
        process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if process.stdout is not None:
        process.stdout.close()


def _reply(stream: IO[bytes], deadline: float) -> str:
    """Read one reply from the child by ``deadline``: its text, or ``DecoderProcessError`` with its own."""
    header = _read(stream, 1 + LENGTH.size, deadline)
    (size,) = LENGTH.unpack(header[1:])
    text = _read(stream, size, deadline).decode()
    if header[:1] != OK:
        raise DecoderProcessError(text)
    return text


def _write(stream: IO[bytes], data: bytes, deadline: float) -> None:
    """Write ``data`` to the child by ``deadline``, PIPE_BUF bytes at a time, each when the pipe has room: a
    child that stops reading (hung) fails the call in time instead of blocking it."""
    fd = stream.fileno()
    view = memoryview(data)
    while view:
        _, ready, _ = select.select([], [fd], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            raise DecoderProcessError("it did not take the utterance in time")
        view = view[os.write(fd, view[: select.PIPE_BUF]) :]


def _read(stream: IO[bytes], size: int, deadline: float) -> bytes:
    chunks: list[bytes] = []
    fd = stream.fileno()
    while size > 0:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            raise DecoderProcessError("no answer in time")
        chunk = os.read(fd, size)
        if not chunk:
            raise DecoderProcessError("the process ended")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


# The child -------------------------------------------------------------------------------------


def _send(out: BinaryIO, status: bytes, text: str) -> None:
    data = text.encode()
    out.write(status + LENGTH.pack(len(data)) + data)
    out.flush()


def _receive(source: BinaryIO) -> bytes | None:
    header = source.read(LENGTH.size)
    if len(header) < LENGTH.size:
        return None  # the parent closed our stdin, or died
    (size,) = LENGTH.unpack(header)
    pcm = source.read(size)
    return pcm if len(pcm) == size else None


def transcribe(decoder: Decoder, pcm: bytes) -> str:
    """The words PocketSphinx's ``decoder`` hears in one utterance of 16-bit mono PCM ("" when none)."""
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()
    hypothesis = decoder.hyp()
    return hypothesis.hypstr.strip() if hypothesis is not None else ""


def spot(decoder: Decoder, pcm: bytes) -> str:
    """Feed ``pcm`` (16 kHz) to ``decoder``'s keyphrase search: the phrases it completes, one
    ``phrase<TAB>end frame`` line each ("" when none). After a phrase, or on empty ``pcm``, the search
    starts over (each phrase is answered once; its frames count from the new start)."""
    if pcm:
        decoder.process_raw(pcm)
        if decoder.hyp() is None:
            return ""
    heard = "\n".join(f"{segment.word.strip()}\t{segment.end_frame}" for segment in decoder.seg()) if pcm else ""
    decoder.end_utt()
    decoder.start_utt()
    return heard


def _load(argv: list[str]) -> Callable[[bytes], str]:
    """Load the decoder ``argv`` asks for (``Task.argv``); return what answers each request."""
    from pocketsphinx import Decoder

    match argv:
        case ["transcribe", rate]:
            transcriber = Decoder(samprate=int(rate), loglevel="FATAL")
            return lambda pcm: transcribe(transcriber, pcm)
        case ["spot", hmm, dictionary, keyphrases]:
            spotter = Decoder(hmm=hmm, dict=dictionary, kws=keyphrases, lm=None, loglevel="FATAL")
            spotter.start_utt()
            return lambda pcm: spot(spotter, pcm)
    raise ValueError(f"no such task: {argv!r}")


def serve(argv: list[str]) -> None:
    """The child's loop: load the decoder, then answer each request until stdin ends."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in the server's terminal is the server's to handle
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # anything else printed goes to stderr, not into the replies
    try:
        answer = _load(argv)
    except Exception as error:  # noqa: BLE001 - reported to the parent, which raises it
        _send(out, FAILED, f"{type(error).__name__}: {error}")
        return
    _send(out, OK, "")
    while (pcm := _receive(sys.stdin.buffer)) is not None:
        try:
            text = answer(pcm)
        except Exception as error:  # noqa: BLE001 - reported to the parent, which raises it
            _send(out, FAILED, f"{type(error).__name__}: {error}")
            continue
        _send(out, OK, text)


if __name__ == "__main__":
    serve(sys.argv[1:])
