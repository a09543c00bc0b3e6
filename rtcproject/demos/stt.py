"""Speech to text for the demos: rtcstream.speech's PocketSphinx, whose wheel ships an English model."""

from __future__ import annotations

import importlib.util

import numpy as np

from rtcstream.speech import get_stt_model


def available() -> bool:
    """Tell whether a speech-to-text engine is installed."""
    return importlib.util.find_spec("pocketsphinx") is not None


def transcribe(rate: int, samples: np.ndarray) -> str:
    """Return the words in one utterance; "" if none."""
    return get_stt_model().stt((rate, samples))
