"""Speech to text with PocketSphinx, whose wheel ships an English model (no download at run time)."""

from __future__ import annotations

import importlib.util
import threading
from typing import Any

import numpy as np

STT_RATE = 16000
_lock = threading.Lock()
_decoder: Any = None


def available() -> bool:
    """Tell whether a speech-to-text engine is installed."""
    return importlib.util.find_spec("pocketsphinx") is not None


def to_16k_mono(rate: int, samples: np.ndarray) -> np.ndarray:
    """Return int16 mono at 16 kHz: average the channels, low-pass by a box filter, interpolate."""
    audio = samples.astype(np.float32)
    audio = audio.mean(axis=0) if audio.ndim == 2 and audio.shape[0] > 1 else audio.reshape(-1)
    if rate != STT_RATE:
        width = max(1, round(rate / STT_RATE))
        if width > 1:  # a crude anti-alias filter; good enough for a speech recogniser
            audio = np.convolve(audio, np.ones(width, dtype=np.float32) / width, mode="same")
        positions = np.arange(0, audio.size, rate / STT_RATE)
        audio = np.interp(positions, np.arange(audio.size), audio)
    return np.clip(audio, -32768, 32767).astype(np.int16)


def transcribe(rate: int, samples: np.ndarray) -> str:
    """Return the words in one utterance (``samples`` int16, shape (1, n) or (n,)); "" if none."""
    global _decoder
    from pocketsphinx import Decoder

    pcm = to_16k_mono(rate, samples).tobytes()
    # One decoder, loaded once (about half a second) and used by one thread at a time.
    with _lock:
        if _decoder is None:
            _decoder = Decoder(samprate=STT_RATE, loglevel="FATAL")
        _decoder.start_utt()
        _decoder.process_raw(pcm, full_utt=True)
        _decoder.end_utt()
        hypothesis = _decoder.hyp()
    return hypothesis.hypstr.strip() if hypothesis is not None else ""
