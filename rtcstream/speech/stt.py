"""Speech to text: FastRTC's ``STTModel`` (``stt((rate, samples)) -> str``), served by PocketSphinx.

The ``pocketsphinx`` wheel ships the CMU US English acoustic model, language model and
dictionary, so nothing is downloaded (``pip install "rtcstream[speech]"``). It is an old,
small recogniser: it hears short, clearly spoken questions and commands, not dictation. A
handler that needs better recognition calls anything with the same ``stt`` method instead.
"""

from __future__ import annotations

import importlib.util
from typing import Protocol

import numpy as np

from rtcstream.handlers.audio_helpers import audio_to_int16, float32_mono
from rtcstream.speech.decoder_pool import DEFAULT_SIZE, DecoderPool
from rtcstream.speech.engines import SpeechModelUnavailable, shared_model

STT_RATE = 16000  # what the shipped acoustic model was trained on
DECODE_TIMEOUT = 10.0  # seconds an utterance may take to decode, beyond one per second of it

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

    Each decoder is loaded once (about half a second), in a process of its own: PocketSphinx holds
    the GIL while it loads and decodes, which in the server's process would stall every session's
    media (``rtcstream.speech.decoder_process``). A decoder takes one utterance at a time; sessions
    that finish speaking together get a second process, up to ``processes``
    (``rtcstream.speech.decoder_pool``), then take turns. If a process fails, its utterance gets a
    ``DecoderProcessError`` and the next starts a new one. ``stt`` blocks: call it from a sync
    handler (rtcstream runs those in its worker pool), or with ``await asyncio.to_thread(model.stt,
    audio)`` from an async one. ``close()`` ends the processes (so does the model's garbage
    collection, and the server's exit).
    """

    def __init__(self, processes: int = DEFAULT_SIZE) -> None:
        if importlib.util.find_spec("pocketsphinx") is None:
            raise SpeechModelUnavailable(
                'Speech to text needs pocketsphinx, whose wheel ships the English model: pip install "rtcstream[speech]"'
            )
        self.decoders = DecoderPool(STT_RATE, processes)
        self.decoders.start()

    def stt(self, audio: AudioInput) -> str:
        pcm = to_model_input(audio)
        return self.decoders.decode(pcm.tobytes(), timeout=DECODE_TIMEOUT + len(pcm) / STT_RATE)

    def close(self) -> None:
        self.decoders.close()


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
