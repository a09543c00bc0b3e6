"""A voice assistant: hear a question, answer in speech, and show the exchange as text."""

from __future__ import annotations

import datetime
import random
import re
from collections.abc import Iterator

import numpy as np

from rtcstream import AdditionalOutputs, ReplyOnPause
from rtcstream.speech import EspeakTTSOptions, SpeechModelUnavailable, get_tts_model

from . import stt

AudioChunk = tuple[int, np.ndarray]
SPEAKING = EspeakTTSOptions(speed=165 / 175)  # a little slower than espeak-ng's own pace

JOKES = (
    "Why did the packet cross the network? To get to the other side of the NAT.",
    "I would tell you a UDP joke, but you might not get it.",
)

# (pattern, answer) pairs, tried in order: the point of the demo is the plumbing, not the wit.
RULES: tuple[tuple[str, str], ...] = (
    (r"\b(hello|hi|hey)\b", "Hello! Ask me the time, the date, or for a joke."),
    (r"\btime\b", "time"),
    (r"\b(date|day|today)\b", "date"),
    (r"\bjoke|funny\b", "joke"),
    (r"\b(name|who are you)\b", "I am the rtcstream demo assistant."),
    (r"\b(story|robot)\b", "Once upon a time, a small robot learned to stream audio in real time. The end."),
    (r"\b(thank|thanks)\b", "You're welcome."),
)


def answer(question: str) -> str:
    """Return a short rule-based answer to ``question``."""
    text = question.lower()
    for pattern, reply in RULES:
        if re.search(pattern, text):
            if reply == "time":
                return f"It is {datetime.datetime.now():%H:%M}."
            if reply == "date":
                return f"Today is {datetime.date.today():%A, %B %d}."
            if reply == "joke":
                return random.choice(JOKES)
            return reply
    if not text:
        return "I heard you, but did not catch the words. Try: what time is it?"
    return f"You said: {question}. Try asking me for the time, the date, or a joke."


def chime(rate: int = 24000) -> AudioChunk:
    """Two short notes: the answer when there is no speech synthesiser."""
    t = np.arange(rate // 5) / rate
    notes = [np.sin(2 * np.pi * f * t) * np.hanning(t.size) for f in (660.0, 880.0)]
    return rate, (np.concatenate(notes) * 0.3 * 32767).astype(np.int16).reshape(1, -1)


def respond(audio: AudioChunk) -> Iterator[AudioChunk | AdditionalOutputs]:
    """Transcribe, answer, and say the answer (ReplyOnPause calls this after each pause)."""
    rate, samples = audio
    heard = stt.transcribe(rate, samples) if stt.available() else ""
    label = heard or f"({samples.shape[-1] / rate:.1f} s of speech)"
    yield AdditionalOutputs({"role": "user", "content": label})
    reply = answer(heard)
    yield AdditionalOutputs({"role": "assistant", "content": reply})
    yield from say(reply)


def say(reply: str) -> Iterator[AudioChunk]:
    """``reply`` spoken a sentence at a time (rtcstream.speech's espeak-ng: the first sentence plays while
    the next is synthesised), or a chime where espeak-ng is not installed."""
    try:
        voice = get_tts_model()
    except SpeechModelUnavailable:
        yield chime()
        return
    yield from voice.stream_tts_sync(reply, SPEAKING)


talk = ReplyOnPause(respond)  # loads no model until a session starts
