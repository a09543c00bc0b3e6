"""Video demos: a live Sobel edge filter, and video generated on the server."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

# The largest Sobel magnitude of a uint8 image is 4 * 255 * sqrt(2).
SOBEL_MAX = 4 * 255 * np.sqrt(2)


def sobel_magnitude(gray: np.ndarray) -> np.ndarray:
    """Return the Sobel gradient magnitude of a 2-D float image, scaled to 0..1 (borders are 0)."""
    g = np.pad(gray, 1, mode="edge")
    # 3x3 Sobel kernels as sums of shifted views: no per-pixel Python.
    gx = (g[:-2, 2:] + 2 * g[1:-1, 2:] + g[2:, 2:]) - (g[:-2, :-2] + 2 * g[1:-1, :-2] + g[2:, :-2])
    gy = (g[2:, :-2] + 2 * g[2:, 1:-1] + g[2:, 2:]) - (g[:-2, :-2] + 2 * g[:-2, 1:-1] + g[:-2, 2:])
    return np.hypot(gx, gy) / SOBEL_MAX


def edges(frame: np.ndarray, threshold: float = 0.3) -> np.ndarray:
    """Draw the frame's edges in cyan over a dimmed copy; a higher ``threshold`` keeps only strong edges.

    ``frame`` is HxWx3 uint8 BGR (OpenCV's order, rtcstream's default);
    ``threshold`` comes from a 0..1 slider and maps to 0..0.5 of the largest
    possible gradient.
    """
    gray = frame.astype(np.float32) @ np.array([0.114, 0.587, 0.299], dtype=np.float32)  # B, G, R weights
    strong = sobel_magnitude(gray) > float(threshold) * 0.5
    out = (frame // 4).astype(np.uint8)
    out[strong] = (255, 229, 0)  # cyan, in BGR
    return out


def clip(seconds: float = 8.0, fps: int = 30, width: int = 320, height: int = 240) -> Iterator[np.ndarray]:
    """Server-to-client video: an animated colour field with a bouncing ball, made on the fly (BGR frames)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    for i in range(int(seconds * fps)):
        t = i / fps
        frame = np.empty((height, width, 3), dtype=np.uint8)
        frame[..., 0] = 128 + 100 * np.sin(x / 37 + t * 1.3)
        frame[..., 1] = 128 + 100 * np.sin(y / 29 - t * 0.9)
        frame[..., 2] = 128 + 100 * np.sin((x + y) / 53 + t * 2.1)
        cx = width / 2 + (width / 2 - 24) * np.sin(t * 1.7)
        cy = height - 24 - abs(np.sin(t * 3.0)) * (height - 48)
        frame[(x - cx) ** 2 + (y - cy) ** 2 < 20**2] = 255
        # A progress bar, so a viewer sees where the clip is.
        frame[-6:, : int(width * (i + 1) / (seconds * fps))] = (255, 255, 255)
        yield frame
