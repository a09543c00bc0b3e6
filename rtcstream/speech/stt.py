"""Speech to text: FastRTC's ``STTModel`` (``stt((rate, samples)) -> str``), served by PocketSphinx.

The ``pocketsphinx`` wheel ships the CMU US English acoustic model, language model and
dictionary, so nothing is downloaded (``pip install "rtcstream[speech]"``). It is an old,
small recogniser: it hears short, clearly spoken questions and commands, not dictation. A
handler that needs better recognition calls anything with the same ``stt`` method instead.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

import numpy as np

from rtcstream.handlers.audio_helpers import audio_to_int16, float32_mono
from rtcstream.speech.engines import SpeechModelUnavailable, shared_model

STT_RATE = 16000  # what the shipped acoustic model was trained on

AudioInput = tuple[int, np.ndarray]


class STTModel(Protocol):
    """FastRTC's speech-to-text interface: the words in one utterance (``""``: none heard)."""

    def stt(self, audio: AudioInput) -> str: ...


def to_model_input(audio: AudioInput) -> np.ndarray:
    """``(rate, samples)`` (int16 or float32; ``(n,)``, ``(1, n)`` or ``(channels, n)``) as 16 kHz mono int16."""
    import soxr

    rate, samples = audio
    mono = float32_mono(samples)
    if int(rate) != STT_RATE:
        mono = soxr.resample(mono, int(rate), STT_RATE)
    return audio_to_int16(mono)


class PocketSphinxSTT:
    """US English speech to text with the model the pocketsphinx wheel ships.

    One decoder, loaded once (about half a second), decodes one utterance at a time: calls
    from several sessions' worker threads take turns (a decode takes a fraction of the
    utterance's length). ``stt`` blocks: call it from a sync handler (rtcstream runs those
    in its worker pool), or with ``await asyncio.to_thread(model.stt, audio)`` from an async one.
    """

    def __init__(self) -> None:
        try:
            from pocketsphinx import Decoder
        except ImportError:
            raise SpeechModelUnavailable(
                'Speech to text needs pocketsphinx, whose wheel ships the English model: pip install "rtcstream[speech]"'
            ) from None
        self._decoder: Any = Decoder(samprate=STT_RATE, loglevel="FATAL")
        self._lock = threading.Lock()

    def stt(self, audio: AudioInput) -> str:
        pcm = to_model_input(audio).tobytes()
        with self._lock:
            self._decoder.start_utt()
            self._decoder.process_raw(pcm, full_utt=True)
            self._decoder.end_utt()
            hypothesis = self._decoder.hyp()
        return hypothesis.hypstr.strip() if hypothesis is not None else ""


def get_stt_model(model: str = "pocketsphinx") -> STTModel:
    """The process's speech-to-text model (FastRTC's ``get_stt_model``): ``"pocketsphinx"``, whose wheel ships
    its model; FastRTC's ``"moonshine/base"`` and ``"moonshine/tiny"`` download theirs, which rtcstream does not do."""
    return shared_model(
        "speech-to-text",
        model,
        "pocketsphinx",
        PocketSphinxSTT,
        theirs="FastRTC's Moonshine",
        methods="an stt((rate, samples)) -> str method",
    )
