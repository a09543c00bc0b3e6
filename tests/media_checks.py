"""Assertions on received media: frequencies, levels, pixels."""

from __future__ import annotations

import numpy as np


def dominant_frequency(samples: np.ndarray, rate: int = 48000) -> float:
    """Return the strongest frequency in ``samples`` (Hz), with a Hann window."""
    x = samples.astype(np.float64)
    x = x - x.mean()
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float(np.fft.rfftfreq(x.size, 1 / rate)[int(np.argmax(spectrum))])


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) if samples.size else 0.0


def loud_part(samples: np.ndarray, threshold: float = 1000.0) -> np.ndarray:
    """Return ``samples`` from the first to the last sample above ``threshold``."""
    loud = np.flatnonzero(np.abs(samples) > threshold)
    return samples[loud[0] : loud[-1] + 1] if loud.size else samples[:0]
