"""The audio formats a websocket carries: 20 ms frames of PCM16 or μ-law, mono."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from rtcstream.media.audio import frame_samples
from rtcstream.media.g711 import ulaw_decode, ulaw_encode

Codec = Literal["pcm16", "mulaw"]
CODECS: tuple[Codec, ...] = ("pcm16", "mulaw")


@dataclass(frozen=True)
class AudioFormat:
    """One 20 ms mono frame on the wire: ``pcm16`` (little-endian int16) or ``mulaw`` (G.711, a byte a sample)."""

    codec: Codec
    rate: int

    @property
    def frame_samples(self) -> int:
        return frame_samples(self.rate)

    @property
    def frame_bytes(self) -> int:
        """The size of every frame, both ways."""
        return self.frame_samples * (2 if self.codec == "pcm16" else 1)

    def encode(self, samples: np.ndarray) -> bytes:
        """Return one frame of int16 ``samples`` as bytes."""
        if self.codec == "mulaw":
            return ulaw_encode(samples)
        return samples.astype("<i2", copy=False).tobytes()

    def decode(self, data: bytes) -> np.ndarray:
        """Return one frame's bytes as int16 samples (the caller checked its size)."""
        if self.codec == "mulaw":
            return ulaw_decode(data)
        return np.frombuffer(data, dtype="<i2").astype(np.int16)

    def describe(self) -> dict[str, object]:
        return {"codec": self.codec, "rate": self.rate, "frame_bytes": self.frame_bytes}

    def __str__(self) -> str:
        return f"{self.codec}/{self.rate}"


PCM16_RATES = (8000, 16000, 24000, 48000)
MULAW_8K = AudioFormat("mulaw", 8000)
# What a page may ask for (docs/protocol.md, "Audio over the websocket").
BROWSER_FORMATS: tuple[AudioFormat, ...] = (*(AudioFormat("pcm16", rate) for rate in PCM16_RATES), MULAW_8K)
