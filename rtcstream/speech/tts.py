"""Text to speech: FastRTC's ``TTSModel`` (``tts``, ``stream_tts_sync``, ``stream_tts``), served by espeak-ng.

espeak-ng is a formant synthesiser: clear and robotic, fast (a sentence in a few
milliseconds), many languages, no model to download. It comes from the system
(``apt-get install espeak-ng``); each sentence is one short ``espeak-ng`` process, its
text on stdin (never on the command line, where a leading ``-`` would be an option).

The streaming forms say one sentence at a time, so a reply starts playing after its
first sentence is synthesised, not its whole text; the async form waits for its
processes without holding the event loop, and kills the one running if the reply is
abandoned (an interruption).
"""

from __future__ import annotations

import asyncio
import io
import re
import shutil
import subprocess
import wave
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from rtcstream.speech.engines import SpeechModelUnavailable, shared_model

AudioOutput = tuple[int, np.ndarray]

WORDS_PER_MINUTE = 175  # espeak-ng's own speed, which ``speed=1.0`` keeps
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
TIMEOUT = 30.0  # seconds one sentence may take to synthesise


class TTSOptions:
    """What a text-to-speech model takes besides the text (FastRTC's base class)."""


@dataclass(frozen=True)
class EspeakTTSOptions(TTSOptions):
    """``voice``: an espeak-ng voice (``espeak-ng --voices`` lists them: "en-us", "en-gb", "fr", "de", ...);
    ``speed``: 1.0 is 175 words a minute; ``pitch``: 0 to 99 (50 is espeak-ng's own)."""

    voice: str = "en-us"
    speed: float = 1.0
    pitch: int = 50


class TTSModel(Protocol):
    """FastRTC's text-to-speech interface: ``(rate, float32 samples)``, whole or a sentence at a time."""

    def tts(self, text: str, options: EspeakTTSOptions | None = None) -> AudioOutput: ...

    def stream_tts_sync(self, text: str, options: EspeakTTSOptions | None = None) -> Iterator[AudioOutput]: ...

    def stream_tts(self, text: str, options: EspeakTTSOptions | None = None) -> AsyncIterator[AudioOutput]: ...


def sentences(text: str) -> list[str]:
    """``text`` cut after each ., ! or ? that ends a sentence; blank pieces dropped."""
    return [piece for piece in SENTENCE_END.split(text.strip()) if piece.strip()]


def read_wav(data: bytes) -> AudioOutput:
    """espeak-ng's WAV (16-bit mono; written to a pipe, so its header may not know its length) as float32."""
    with wave.open(io.BytesIO(data)) as reader:
        if reader.getsampwidth() != 2 or reader.getnchannels() != 1:
            raise RuntimeError("espeak-ng wrote audio that is not 16-bit mono")
        samples = np.frombuffer(reader.readframes(reader.getnframes()), dtype=np.int16)
        return reader.getframerate(), samples.astype(np.float32) / 32768.0


class EspeakTTS:
    """Speech from espeak-ng (``apt-get install espeak-ng``); ``binary`` names the program or its path.

    Making one reads espeak-ng's voices (one short process, a few milliseconds), so that no call after
    it blocks for that: ``stream_tts`` never waits on a process on the event loop.
    """

    def __init__(self, binary: str = "espeak-ng") -> None:
        path = shutil.which(binary)
        if path is None:
            raise SpeechModelUnavailable(
                f"Text to speech needs the espeak-ng program, and {binary!r} is not on the PATH: "
                "apt-get install espeak-ng (Debian, Ubuntu), brew install espeak-ng (macOS)."
            )
        self.binary = path
        self.voices = self._list_voices()

    def _list_voices(self) -> frozenset[str]:
        """What ``-v`` takes, lower-cased: each voice's language, name and file (``espeak-ng --voices``),
        which espeak-ng itself does not check: an unknown voice is spoken in its default one."""
        listing = subprocess.run([self.binary, "--voices"], capture_output=True, text=True, timeout=TIMEOUT).stdout
        names: set[str] = set()
        for line in listing.splitlines()[1:]:  # Pty Language Age/Gender VoiceName File Other Languages
            fields = line.split()
            if len(fields) >= 5:
                names.update(name.lower() for name in (fields[1], fields[3], fields[4], fields[4].rsplit("/", 1)[-1]))
        return frozenset(names)

    def command(self, options: EspeakTTSOptions | None) -> list[str]:
        options = options or EspeakTTSOptions()
        voice = options.voice.split("+", 1)[0].lower()  # "en-us+f3": a voice and a variant
        if voice not in self.voices:
            raise ValueError(f"espeak-ng has no voice {options.voice!r} (espeak-ng --voices lists them)")
        if not 0 <= options.pitch <= 99:
            raise ValueError(f"pitch must be between 0 and 99, not {options.pitch}")
        if not 0.1 <= options.speed <= 5:
            raise ValueError(f"speed must be between 0.1 and 5, not {options.speed}")
        words = round(WORDS_PER_MINUTE * options.speed)
        return [self.binary, "--stdout", "--stdin", "-v", options.voice, "-s", str(words), "-p", str(options.pitch)]

    def tts(self, text: str, options: EspeakTTSOptions | None = None) -> AudioOutput:
        """All of ``text`` spoken, as ``(rate, float32 (n,))``. Blocks for the synthesis."""
        done = subprocess.run(self.command(options), input=text.encode(), capture_output=True, timeout=TIMEOUT)
        return self._audio(done.returncode, done.stdout, done.stderr)

    def stream_tts_sync(self, text: str, options: EspeakTTSOptions | None = None) -> Iterator[AudioOutput]:
        """``text`` spoken one sentence at a time (a sync generator: for a sync handler)."""
        for sentence in sentences(text):
            yield self.tts(sentence, options)

    async def stream_tts(self, text: str, options: EspeakTTSOptions | None = None) -> AsyncIterator[AudioOutput]:
        """``text`` spoken one sentence at a time, without blocking the event loop (for an async handler)."""
        command = self.command(options)
        for sentence in sentences(text):
            process = await asyncio.create_subprocess_exec(
                *command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
            try:
                async with asyncio.timeout(TIMEOUT):
                    out, err = await process.communicate(sentence.encode())
            finally:
                if process.returncode is None:  # abandoned (the reply was interrupted) or too slow
                    process.kill()
                    # Not wait(): on Python 3.11 it returns only once the output pipes end too, and a pipe
                    # whose unread output filled its buffer is paused, so never reads its end (CPython
                    # gh-119710): reading what the killed process left unpauses it.
                    await process.communicate()
            yield self._audio(process.returncode, out, err)

    def _audio(self, returncode: int | None, out: bytes, err: bytes) -> AudioOutput:
        if returncode != 0:
            raise RuntimeError(f"espeak-ng failed ({returncode}): {err.decode(errors='replace').strip()[:500]}")
        return read_wav(out)


def get_tts_model(model: str = "espeak-ng") -> TTSModel:
    """The process's text-to-speech model (FastRTC's ``get_tts_model``): ``"espeak-ng"``, which needs no model
    file; FastRTC's ``"kokoro"`` downloads its model, which rtcstream does not do."""
    return shared_model(
        "text-to-speech",
        model,
        "espeak-ng",
        EspeakTTS,
        theirs="FastRTC's Kokoro",
        methods="tts(text) -> (rate, samples) and stream_tts_sync(text) / stream_tts(text) methods",
    )
