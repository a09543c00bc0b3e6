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
# The widest and highest frame every encoder a browser may negotiate takes: libvpx's VP8 refuses to
# open past 16383 pixels a side (H.264's libx264 past 16384), and aiortc's sender then stops for good.
MAX_SIDE = 16383


def frame_to_array(frame: av.VideoFrame, color: Color = DEFAULT_COLOR) -> np.ndarray:
    return frame.to_ndarray(format=COLORS[color])


def array_to_frame(array: Any, color: Color = DEFAULT_COLOR) -> av.VideoFrame:
    """Validate a handler's frame and wrap it for the encoder.

    Odd sizes lose a pixel (an array is cropped, a VideoFrame scaled): the encoders work in 4:2:0, and
    H.264's refuses an odd size. A frame the encoders cannot take (more than ``MAX_SIDE`` pixels a
    side) is the handler's error, not the server's media failing.
    """
    if isinstance(array, av.VideoFrame):
        _check_size(array.height, array.width)
        if array.width % 2 or array.height % 2:
            return array.reformat(width=array.width & ~1, height=array.height & ~1)
        return array
    if not isinstance(array, np.ndarray):
        raise HandlerOutputError(f"a video frame must be a numpy array, not {type(array).__name__}")
    if array.ndim != 3 or array.shape[2] != 3:
        raise HandlerOutputError(f"a video frame must have shape (height, width, 3), not {array.shape}")
    if array.dtype != np.uint8:
        raise HandlerOutputError(f"a video frame must be uint8 {color.upper()}, not {array.dtype}")
    _check_size(array.shape[0], array.shape[1])
    height, width = array.shape[0] & ~1, array.shape[1] & ~1
    return av.VideoFrame.from_ndarray(np.ascontiguousarray(array[:height, :width]), format=COLORS[color])


def _check_size(height: int, width: int) -> None:
    if not (2 <= height <= MAX_SIDE and 2 <= width <= MAX_SIDE):
        raise HandlerOutputError(
            f"a video frame must be 2 to {MAX_SIDE} pixels wide and high (the video encoders' limit), "
            f"not {width}x{height}"
        )
