"""Spoken fixtures for stop-word spotting: espeak-ng voices saying a wake phrase, other speech and near misses.

Every clip is 48 kHz int16 with a -60 dBFS noise floor (a quiet microphone, not digital silence).
A positive clip is built from separately spoken parts (lead-in, phrase, command), so where the
phrase ends is known to the sample. Real human speech: the ALSA test sounds ("Front Left", ...)
of Debian's alsa-utils, when installed.
"""

from __future__ import annotations

import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soxr

from tests import speech

RATE = speech.RATE
PHRASES = ("computer", "hey jarvis")
# (espeak-ng voice, words per minute): accents, a female variant and speeds from slow to fast.
VOICES = (
    ("en-us", 140),
    ("en-us", 175),
    ("en-us+f3", 160),
    ("en-gb", 150),
    ("en-gb", 190),
    ("en-gb-scotland", 160),
    ("en-gb-x-rp", 170),
    ("en-029", 160),
    ("en-us-nyc", 200),
)
LEADS = ("", "okay so I was thinking about dinner", "right then")
SPOKEN = {"computer": ("computer", "hey computer", "okay computer"), "hey jarvis": ("hey jarvis",)}
COMMANDS = (
    "what is the weather like today",
    "turn off the kitchen lights",
    "play some music please",
    "set a timer for ten minutes",
)
# One breath: the phrase runs straight into the command (no known end, so detection only).
RUN_ON = {
    "computer": ("computer what time is it", "okay computer tell me a joke"),
    "hey jarvis": ("hey jarvis open the door", "hey jarvis how are you"),
}
OTHER_SPEECH = (
    "please tell me a story about a small robot",
    "the weather is lovely today so we went for a walk",
    "I bought a new laptop for the office last week",
    "we should meet at the station at noon",
    "can you remind me to call my mother tomorrow",
    "the committee will publish its report in june",
    "turn the music down a little bit",
    "my keyboard and my phone are both broken",
)
NEAR_MISSES = {
    "computer": (
        "commuter",
        "compute her",
        "come pewter",
        "come put her",
        "the commuter train was late again",
        "can you compute her average",
        "computation",
        "competitor",
    ),
    "hey jarvis": ("hey travis", "hey davis", "hey marvin", "hey service", "the jars of this"),
}
WARM_UP = "I have a question for you and it may take a moment"
ALSA_SOUNDS = Path("/usr/share/sounds/alsa")


@dataclass(frozen=True)
class Clip:
    """48 kHz int16 audio, what it is, and where each wake phrase in it ends (None: somewhere, not known)."""

    name: str
    kind: str  # "phrase", "run-on", "other", "near-miss" or "human"
    samples: np.ndarray
    phrase: str | None = None
    phrase_end: int | None = None
    voice: tuple[str, int] | None = None  # espeak-ng's (voice, speed); None for a person


def warm_up(clip: Clip) -> np.ndarray:
    """Return 3 s of the same voice's other speech and quiet, as a session has before the clip.

    PocketSphinx's cepstral mean adapts to the caller over the first utterance; a cold detector hears less.
    """
    voice, speed = clip.voice or ("en-us", 160)
    parts = [speech.silence(0.3), speech.speech(WARM_UP, voice, speed), speech.silence(0.5)]
    return _join(parts, 99)


def noise_floor(samples: np.ndarray, seed: int, level_db: float = -60.0) -> np.ndarray:
    """Return ``samples`` with white noise at ``level_db`` dBFS RMS added."""
    noise = speech.white_noise(len(samples) / RATE, level_db, seed)[: len(samples)]
    mixed = samples.astype(np.int32) + np.pad(noise, (0, len(samples) - len(noise)))
    return np.clip(mixed, -32768, 32767).astype(np.int16)


def _join(parts: list[np.ndarray], seed: int) -> np.ndarray:
    return noise_floor(np.concatenate(parts), seed)


def phrase_clip(phrase: str, index: int, voice: str, speed: int) -> Clip:
    """Return lead-in (sometimes), the phrase, a comma's pause and a command; ``index`` picks which."""
    lead, spoken = LEADS[index % len(LEADS)], SPOKEN[phrase][index // len(LEADS) % len(SPOKEN[phrase])]
    parts = [speech.silence(0.5)]
    if lead:
        parts += [speech.speech(lead, voice, speed), speech.silence(0.4)]
    parts.append(speech.speech(spoken, voice, speed))
    end = sum(len(part) for part in parts)
    parts += [speech.silence(0.25), speech.speech(COMMANDS[index % len(COMMANDS)], voice, speed), speech.silence(1.0)]
    return Clip(f"{spoken}/{voice}/{speed}/{index}", "phrase", _join(parts, index), phrase, end, (voice, speed))


def padded(text: str, voice: str, speed: int, kind: str, seed: int, phrase: str | None = None) -> Clip:
    """Return ``text`` between 0.5 s and 1 s of quiet."""
    parts = [speech.silence(0.5), speech.speech(text, voice, speed), speech.silence(1.0)]
    return Clip(f"{text}/{voice}/{speed}", kind, _join(parts, seed), phrase, voice=(voice, speed))


def human_clips() -> list[Clip]:
    """Return the ALSA test sounds (a person saying "Front Left" and so on) if alsa-utils is installed."""
    clips = []
    for index, path in enumerate(sorted(ALSA_SOUNDS.glob("*.wav"))):
        with wave.open(str(path), "rb") as wav:
            rate, channels = wav.getframerate(), wav.getnchannels()
            audio = np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16).reshape(-1, channels)
        mono = audio.mean(axis=1).astype(np.float32)
        if rate != RATE:
            mono = soxr.resample(mono, rate, RATE)
        samples = np.concatenate(
            [speech.silence(0.5), np.clip(mono, -32768, 32767).astype(np.int16), speech.silence(1)]
        )
        clips.append(Clip(f"alsa/{path.stem}", "human", noise_floor(samples, 1000 + index)))
    return clips


def positives(phrase: str, voices: tuple[tuple[str, int], ...] = VOICES, per_voice: int = 4) -> list[Clip]:
    """Return clips where ``phrase`` is spoken and its end is known."""
    return [phrase_clip(phrase, i, v, s) for n, (v, s) in enumerate(voices) for i in range(n, n + per_voice)]


def run_ons(phrase: str, voices: tuple[tuple[str, int], ...] = VOICES) -> list[Clip]:
    """Return clips where ``phrase`` runs straight into a command."""
    return [padded(t, v, s, "run-on", n, phrase) for n, (v, s) in enumerate(voices) for t in RUN_ON[phrase]]


def negatives(phrases: tuple[str, ...], voices: tuple[tuple[str, int], ...] = VOICES) -> list[Clip]:
    """Return other speech and the near misses of ``phrases``, each voice saying each."""
    clips = []
    for n, (voice, speed) in enumerate(voices):
        clips += [padded(text, voice, speed, "other", n) for text in OTHER_SPEECH]
        for phrase in phrases:
            clips += [padded(text, voice, speed, "near-miss", n) for text in NEAR_MISSES[phrase]]
    return clips


# --- a session's worth of audio, for the handler and end-to-end tests ----------------------------

# The voice the session fixtures speak in, and their near miss: "computer" is heard in this voice
# after the other speech that comes first, and "come put her" is not, whether the detector gets
# the samples as they are or as a session does (through aiortc's Opus encoder and decoder). That
# is a choice: in this voice "commuter", "compute her" and "computation" are heard after other
# speech, and in other voices other near misses are (or the phrase is not); bench/stopword_cost.py
# prints the whole table, per kind, voice condition and threshold.
SESSION_VOICE = ("en-us", 175)
SESSION_OTHER = "the weather is lovely today so we went for a walk"
SESSION_NEAR_MISS = "come put her"
SESSION_COMMAND = "what time is it"


@dataclass(frozen=True)
class Session:
    """48 kHz int16 audio and where its parts are (``(start, end)`` samples, by name)."""

    samples: np.ndarray
    spans: dict[str, tuple[int, int]]

    @property
    def seconds(self) -> float:
        return len(self.samples) / RATE


def session(
    parts: tuple[tuple[str, str | float], ...] | None = None, voice: tuple[str, int] = SESSION_VOICE, seed: int = 7
) -> Session:
    """Return ``parts`` spoken one after another: ``(name, text)`` is speech, ``(name, seconds)`` quiet.

    The default: other speech, the near miss, then "computer", a short breath and a command.
    """
    if parts is None:
        parts = (
            ("lead", 0.5),
            ("other", SESSION_OTHER),
            ("gap1", 1.5),
            ("near_miss", SESSION_NEAR_MISS),
            ("gap2", 1.5),
            ("phrase", "computer"),
            ("breath", 0.3),
            ("command", SESSION_COMMAND),
            ("tail", 2.0),
        )
    chunks, spans, position = [], {}, 0
    for name, part in parts:
        chunk = speech.silence(part) if isinstance(part, float | int) else speech.speech(part, *voice)
        chunks.append(chunk)
        spans[name] = (position, position + len(chunk))
        position += len(chunk)
    return Session(noise_floor(np.concatenate(chunks), seed), spans)
