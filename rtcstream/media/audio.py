"""Audio conversion between aiortc frames and the ``(sample_rate, int16 array)`` of handlers."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import av
import numpy as np

from rtcstream.media.errors import HandlerOutputError
from rtcstream.media.resampler import audio_resampler

OUTPUT_RATE = 48000
FRAME_SAMPLES = 960  # 20 ms at 48 kHz: the Opus frame, so the encoder never re-chunks.
FRAME_SECONDS = FRAME_SAMPLES / OUTPUT_RATE  # every audio frame rtcstream sends or takes, whatever its rate
LAYOUTS = ("mono", "stereo")
_TIME_BASE = Fraction(1, OUTPUT_RATE)


def frame_samples(rate: int) -> int:
    """Samples in one audio frame (``FRAME_SECONDS``) at ``rate``: 960 at 48 kHz, 160 at 8 kHz."""
    return round(rate * FRAME_SECONDS)


class InputConverter:
    """Turn decoded browser frames (48 kHz stereo s16) into a handler's ``(rate, int16 (1, n))``.

    One resampler per session keeps its filter state between frames, so there
    are no clicks at frame edges; for stereo the array is interleaved, (1, 2n).
    """

    def __init__(self, rate: int = 48000, layout: str = "mono") -> None:
        self.rate = rate
        self.layout = layout
        self._resampler = audio_resampler("s16", layout, rate)

    def convert(self, frame: av.AudioFrame) -> np.ndarray:
        frames = self._resampler.resample(frame)
        if not frames:
            return np.zeros((1, 0), dtype=np.int16)
        arrays = [f.to_ndarray() for f in frames]
        return arrays[0] if len(arrays) == 1 else np.concatenate(arrays, axis=1)


def to_int16(array: Any) -> np.ndarray:
    """Return ``array`` as int16: floats are taken as -1..1, int32 as full scale."""
    if not isinstance(array, np.ndarray):
        raise HandlerOutputError(f"audio must be a numpy array, not {type(array).__name__}")
    if array.dtype == np.int16:
        return array
    if array.dtype.kind == "f":
        if not np.all(np.isfinite(array)):
            raise HandlerOutputError("audio holds NaN or infinite samples")
        return (np.clip(array, -1.0, 1.0) * 32767).astype(np.int16)
    if array.dtype == np.int32:
        return (array >> 16).astype(np.int16)
    raise HandlerOutputError(f"audio must be int16 or float32, not {array.dtype}")


def to_stereo_interleaved(array: np.ndarray, layout: str) -> np.ndarray:
    """Return 1-D interleaved stereo from mono ``(n,)``/``(1, n)`` or stereo ``(2, n)``/``(1, 2n)``."""
    if layout == "mono":
        if array.ndim == 2 and array.shape[0] == 1:
            array = array[0]
        if array.ndim != 1:
            raise HandlerOutputError(f"mono audio must have shape (1, n) or (n,), not {array.shape}")
        return np.repeat(array, 2)
    if array.ndim == 2 and array.shape[0] == 2:
        return array.T.reshape(-1)
    if array.ndim == 2 and array.shape[0] == 1 and array.shape[1] % 2 == 0:
        return array[0]
    raise HandlerOutputError(f"stereo audio must have shape (2, n) or interleaved (1, 2n), not {array.shape}")


def split_chunk(item: Any) -> tuple[int, np.ndarray, str]:
    """Validate one audio chunk ``(rate, array)`` or ``(rate, array, layout)``."""
    if not isinstance(item, tuple) or len(item) not in (2, 3):
        raise HandlerOutputError(
            f"audio must be (sample_rate, array) or (sample_rate, array, 'mono'|'stereo'), not {type(item).__name__}"
        )
    rate, array = item[0], item[1]
    layout = item[2] if len(item) == 3 else "mono"
    if isinstance(rate, bool) or not isinstance(rate, (int, np.integer)) or not 1000 <= rate <= 384000:
        raise HandlerOutputError(f"sample rate must be an int between 1000 and 384000, not {rate!r}")
    if layout not in LAYOUTS:
        raise HandlerOutputError(f"layout must be 'mono' or 'stereo', not {layout!r}")
    return int(rate), array, layout


class OutputConverter:
    """Turn handler chunks of any rate, layout and length into 48 kHz interleaved stereo int16.

    The resampler is kept while the rate stays the same, so consecutive chunks
    join without clicks; a new rate starts a new resampler.
    """

    def __init__(self) -> None:
        self._resampler: av.AudioResampler | None = None
        self._rate: int | None = None

    def convert(self, item: Any) -> np.ndarray:
        rate, array, layout = split_chunk(item)
        samples = to_stereo_interleaved(to_int16(array), layout)
        if rate == OUTPUT_RATE:
            tail = self._drain()
            self._rate = None
            return np.concatenate([*tail, samples]) if tail else samples
        out = []
        if self._rate != rate:
            # Flush the old resampler: its filter still holds the end of the last chunk.
            out += self._drain()
            self._resampler = audio_resampler("s16", "stereo", OUTPUT_RATE)
            self._rate = rate
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="stereo")
        frame.sample_rate = rate
        resampler = self._resampler
        assert resampler is not None  # made above for this rate
        out += [f.to_ndarray()[0] for f in resampler.resample(frame)]
        return np.concatenate(out) if out else np.zeros(0, dtype=np.int16)

    def _drain(self) -> list[np.ndarray]:
        if self._resampler is None:
            return []
        tail = [f.to_ndarray()[0] for f in self._resampler.resample(None)]
        self._resampler = None
        return tail

    def reset(self) -> None:
        """Forget resampler state (after the queued audio was dropped)."""
        self._resampler = None
        self._rate = None


def make_frame(samples: np.ndarray, pts: int) -> av.AudioFrame:
    """Wrap ``FRAME_SAMPLES`` interleaved stereo samples as an aiortc-ready frame."""
    frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="stereo")
    frame.sample_rate = OUTPUT_RATE
    frame.pts = pts
    frame.time_base = _TIME_BASE
    return frame
