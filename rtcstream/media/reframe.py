"""Audio cut into fixed frames: any rate and layout in, mono int16 at one rate out, in equal chunks."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np

from rtcstream.media.resampler import audio_resampler

_EMPTY: np.ndarray = np.zeros(0, dtype=np.int16)


def mono_frame(samples: np.ndarray, rate: int, pts: int | None = None) -> av.AudioFrame:
    """Wrap int16 mono ``samples`` as a frame at ``rate`` (``pts`` in samples)."""
    frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate = rate
    frame.time_base = Fraction(1, rate)
    frame.pts = pts
    return frame


class Reframer:
    """Resample frames to mono int16 at ``rate`` and cut the result into chunks of ``chunk`` samples.

    One resampler serves the whole stream, so its filter state carries from one
    frame to the next (no clicks at frame edges, unlike resampling each chunk on
    its own); what does not fill a chunk waits for the next frame.
    """

    def __init__(self, rate: int, chunk: int) -> None:
        self.rate = rate
        self.chunk = chunk
        self._resampler = audio_resampler("s16", "mono", rate)
        self._pending: np.ndarray = _EMPTY

    def push(self, frame: av.AudioFrame) -> list[np.ndarray]:
        """Return the whole chunks ``frame`` completes (often one, sometimes none or two)."""
        parts = [f.to_ndarray().reshape(-1) for f in self._resampler.resample(frame)]
        if self._pending.size:
            parts.insert(0, self._pending)
        if not parts:
            return []
        samples = parts[0] if len(parts) == 1 else np.concatenate(parts)
        whole = samples.size // self.chunk * self.chunk
        self._pending = samples[whole:].copy()
        return [samples[start : start + self.chunk] for start in range(0, whole, self.chunk)]

    def reset(self) -> None:
        """Forget what waits and the filter's state (the stream was cut: a barge-in)."""
        self._resampler = audio_resampler("s16", "mono", self.rate)
        self._pending = _EMPTY
