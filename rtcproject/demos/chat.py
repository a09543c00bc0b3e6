"""Text beside voice: type or speak to the assistant in one conversation (an entry with "text": True)."""

from __future__ import annotations

from collections.abc import Iterator

from rtcstream import AdditionalOutputs, ReplyOnPause, WebRTCData

from . import assistant, stt


def respond(data: WebRTCData) -> Iterator[assistant.AudioChunk | AdditionalOutputs]:
    """Answer what was typed (``data.textbox``) or said (``data.audio``), in the chat and aloud."""
    rate, samples = data.audio
    if data.textbox:
        question = data.textbox
    else:
        question = stt.transcribe(rate, samples) if stt.available() else ""
    yield AdditionalOutputs({"role": "user", "content": question or f"({samples.shape[-1] / rate:.1f} s of speech)"})
    reply = assistant.answer(question)
    yield AdditionalOutputs({"role": "assistant", "content": reply})
    yield from assistant.say(reply)


chat = ReplyOnPause(respond)  # loads no model until a session starts
