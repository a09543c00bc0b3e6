"""Text beside voice: type or speak to the assistant in one conversation (an entry with "text": True)."""

from __future__ import annotations

from collections.abc import Iterator

from rtcstream import AdditionalOutputs, ReplyOnPause, Warning, WebRTCData

from . import assistant, stt

TOO_SHORT_S = 0.3  # a click, a cough: speech this short is not a question


def respond(data: WebRTCData) -> Iterator[assistant.AudioChunk | AdditionalOutputs]:
    """Answer what was typed (``data.textbox``) or said (``data.audio``), in the chat and aloud."""
    rate, samples = data.audio
    if data.textbox:
        question = data.textbox
    elif samples.shape[-1] < TOO_SHORT_S * rate:
        Warning("That was too short to make out: say it again, or type it.")  # shown on the page; no reply
        return
    else:
        question = stt.transcribe(rate, samples) if stt.available() else ""
    yield AdditionalOutputs({"role": "user", "content": question or f"({samples.shape[-1] / rate:.1f} s of speech)"})
    reply = assistant.answer(question)
    yield AdditionalOutputs({"role": "assistant", "content": reply})
    yield from assistant.say(reply)


chat = ReplyOnPause(respond)  # loads no model until a session starts
