"""Additional outputs: transcribe each utterance and show it on the page (mode "send")."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from rtcstream import AdditionalOutputs

from . import stt
from .lazy import lazy_attributes, reply_on_pause


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


__getattr__ = lazy_attributes(globals(), {"transcribe": lambda: reply_on_pause(transcribe_turn)})
