"""A few PocketSphinx decoder processes, started as sessions need them.

One decoder process decodes one utterance at a time (about 0.15 s of a core a second of speech): with one,
sessions that finish speaking together wait for each other's transcription. The pool starts one process, and
another whenever an utterance finds every running one busy, up to ``size`` (each holds about 110 MB: the
acoustic and language models); an utterance that finds them all busy waits for the first free one.
"""

from __future__ import annotations

import os
import threading
import time

from rtcstream.speech.decoder_process import DecoderProcess, DecoderProcessError, transcription

# Processes a pool runs at most: one per core, up to two (a server's cores also carry its media).
DEFAULT_SIZE = min(2, os.cpu_count() or 1)


class DecoderPool:
    """Up to ``size`` ``DecoderProcess``es at ``rate`` Hz; ``decode`` is thread-safe."""

    def __init__(self, rate: int, size: int = DEFAULT_SIZE) -> None:
        if size < 1:
            raise ValueError(f"a decoder pool needs at least one process, not {size}")
        self.rate = rate
        self.size = size
        self._decoders: list[DecoderProcess] = []
        self._free: list[DecoderProcess] = []
        self._changed = threading.Condition()

    @property
    def pids(self) -> list[int]:
        """The process ids of the decoders that run, in the order they started."""
        return [pid for decoder in self._decoders if (pid := decoder.pid) is not None]

    @property
    def busy(self) -> int:
        """How many utterances are being decoded now."""
        with self._changed:
            return len(self._decoders) - len(self._free)

    def start(self) -> None:
        """Start the first process now (``decode`` would on its first call); ``DecoderProcessError`` if it cannot."""
        decoder = self._take(time.monotonic())
        try:
            decoder.start()
        finally:
            self._give_back(decoder)

    def decode(self, pcm: bytes, timeout: float) -> str:
        """The words in one utterance of 16-bit mono PCM ("" when none), within ``timeout`` seconds of waiting
        for a free process and ``timeout`` of decoding."""
        decoder = self._take(time.monotonic() + timeout)
        try:
            return decoder.ask(pcm, timeout)
        finally:
            self._give_back(decoder)

    def close(self) -> None:
        """End every process; the pool starts new ones if asked again."""
        with self._changed:
            decoders, self._decoders, self._free = self._decoders, [], []
        for decoder in decoders:
            decoder.close()

    def _take(self, deadline: float) -> DecoderProcess:
        with self._changed:
            while not self._free and len(self._decoders) >= self.size:
                if not self._changed.wait(max(0.0, deadline - time.monotonic())):
                    raise DecoderProcessError(f"all {self.size} speech-to-text processes stayed busy")
            if self._free:
                return self._free.pop()
            decoder = DecoderProcess(transcription(self.rate))
            self._decoders.append(decoder)
            return decoder

    def _give_back(self, decoder: DecoderProcess) -> None:
        with self._changed:
            if decoder in self._decoders:  # not closed meanwhile
                self._free.append(decoder)
            self._changed.notify()
