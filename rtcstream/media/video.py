"""Video conversion between aiortc frames and ``HxWx3`` uint8 RGB arrays."""

from __future__ import annotations

from typing import Any

import av
import numpy as np

from .errors import HandlerOutputError


def frame_to_rgb(frame: av.VideoFrame) -> np.ndarray:
    return frame.to_ndarray(format="rgb24")


def rgb_to_frame(array: Any) -> av.VideoFrame:
    """Validate a handler's frame and wrap it for the encoder.

    Odd sizes are cropped by one pixel: the VP8 encoder works in 4:2:0.
    """
    if not isinstance(array, np.ndarray):
        raise HandlerOutputError(f"a video frame must be a numpy array, not {type(array).__name__}")
    if array.ndim != 3 or array.shape[2] != 3 or array.shape[0] < 2 or array.shape[1] < 2:
        raise HandlerOutputError(f"a video frame must have shape (height, width, 3), not {array.shape}")
    if array.dtype != np.uint8:
        raise HandlerOutputError(f"a video frame must be uint8 RGB, not {array.dtype}")
    height, width = array.shape[0] & ~1, array.shape[1] & ~1
    return av.VideoFrame.from_ndarray(np.ascontiguousarray(array[:height, :width]), format="rgb24")
