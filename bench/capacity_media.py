"""What ``bench/capacity.py`` sends and what both servers do per video frame (numpy only: the bare server imports it)."""

from __future__ import annotations

import numpy as np

WIDTH, HEIGHT = 640, 480
TONE_HZ = 440.0


def invert(frame: np.ndarray) -> np.ndarray:
    """The per-frame function both servers run: invert the colours of an HxWx3 RGB frame."""
    return 255 - frame


def tone(seconds: float = 2.0, rate: int = 48000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * 32767 * np.sin(2 * np.pi * TONE_HZ * t)).astype(np.int16)


class MovingPicture:
    """640x480 frames: a fixed gradient with a bright bar that moves, so the encoder has work on every frame."""

    def __init__(self) -> None:
        y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
        self.base = np.stack([x * 255 // WIDTH, y * 255 // HEIGHT, (x + y) * 255 // (WIDTH + HEIGHT)], -1).astype(
            np.uint8
        )

    def __call__(self, index: int) -> np.ndarray:
        frame = self.base.copy()
        left = (index * 8) % (WIDTH - 40)
        frame[:, left : left + 40] = 250
        return frame
