"""Additional outputs: transcribe each utterance and show it on the page (mode "send")."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from rtcstream import AdditionalOutputs, ReplyOnPause

from . import stt


def transcribe_turn(audio: tuple[int, np.ndarray]) -> Iterator[AdditionalOutputs]:
    """Yield the utterance's words as a chat message for the page's transcript."""
    rate, samples = audio
    if not stt.available():
        yield AdditionalOutputs(
            {"role": "assistant", "content": "Speech-to-text is not installed (pip install pocketsphinx)."}
        )
        return
    text = stt.transcribe(rate, samples)
    seconds = samples.shape[-1] / rate
    yield AdditionalOutputs({"role": "user", "content": text or f"(nothing recognised in {seconds:.1f} s of speech)"})


transcribe = ReplyOnPause(transcribe_turn)  # loads no model until a session starts
