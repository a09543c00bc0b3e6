"""Video conversion between aiortc frames and ``HxWx3`` uint8 arrays.

Arrays are in BGR order by default, as gradio-webrtc and FastRTC hand them to
user code (OpenCV's order: ``cv2.VideoCapture`` frames show the right colours
as they are); a registry entry with ``"color": "rgb"`` gets and gives RGB.
"""

from __future__ import annotations

from typing import Any, Literal

import av
import numpy as np

from rtcstream.media.errors import HandlerOutputError

Color = Literal["bgr", "rgb"]
COLORS: dict[str, str] = {"bgr": "bgr24", "rgb": "rgb24"}
DEFAULT_COLOR: Color = "bgr"


def frame_to_array(frame: av.VideoFrame, color: Color = DEFAULT_COLOR) -> np.ndarray:
    return frame.to_ndarray(format=COLORS[color])


def array_to_frame(array: Any, color: Color = DEFAULT_COLOR) -> av.VideoFrame:
    """Validate a handler's frame and wrap it for the encoder.

    Odd sizes are cropped by one pixel: the VP8 encoder works in 4:2:0.
    """
    if isinstance(array, av.VideoFrame):
        return array
    if not isinstance(array, np.ndarray):
        raise HandlerOutputError(f"a video frame must be a numpy array, not {type(array).__name__}")
    if array.ndim != 3 or array.shape[2] != 3 or array.shape[0] < 2 or array.shape[1] < 2:
        raise HandlerOutputError(f"a video frame must have shape (height, width, 3), not {array.shape}")
    if array.dtype != np.uint8:
        raise HandlerOutputError(f"a video frame must be uint8 {color.upper()}, not {array.dtype}")
    height, width = array.shape[0] & ~1, array.shape[1] & ~1
    return av.VideoFrame.from_ndarray(np.ascontiguousarray(array[:height, :width]), format=COLORS[color])
