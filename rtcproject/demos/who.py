"""Handlers that know whom they serve: a greeting by name (the demo page "greet")."""

from __future__ import annotations

from collections.abc import Iterator

from rtcstream import AdditionalOutputs, ReplyOnPause, current_session

from . import assistant
from .assistant import AudioChunk


def visitor_name() -> str:
    """The visitor's first name, else their username; "" for an anonymous visitor."""
    info = current_session()  # whichever thread this runs in: the session's context comes along
    if not info.is_authenticated:
        return ""
    return str(getattr(info.user, "first_name", "") or info.username)


def say(text: str) -> Iterator[AudioChunk | AdditionalOutputs]:
    """Show ``text`` in the conversation, then say it (espeak-ng, or two notes without it)."""
    yield AdditionalOutputs({"role": "assistant", "content": text})
    yield from assistant.say(text)


def greet_visitor() -> Iterator[AudioChunk | AdditionalOutputs]:
    """ReplyOnPause's startup_fn: greet the visitor by name as the stream starts."""
    name = visitor_name()
    yield from say(f"Hello, {name}! Say something." if name else "Hello! Log in, and I will greet you by name.")


def answer_by_name(audio: AudioChunk) -> Iterator[AudioChunk | AdditionalOutputs]:
    """After each pause: say how long the visitor spoke, by name, and which groups they are in."""
    rate, samples = audio
    info = current_session()
    name = visitor_name() or "stranger"
    groups = f" You are in {', '.join(sorted(info.groups))}." if info.groups else ""
    yield from say(f"You spoke for {samples.shape[-1] / rate:.1f} seconds, {name}.{groups}")


greet = ReplyOnPause(answer_by_name, startup_fn=greet_visitor)
