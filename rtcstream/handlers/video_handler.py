"""FastRTC's ``VideoStreamHandler``: a video function or generator with its frame rate, as FastRTC declares it.

``Stream(handler=VideoStreamHandler(process_image, skip_frames=True), modality="video")``
and ``VideoStreamHandler(generation, fps=60)`` (mode "receive") resolve to the
function itself, with ``fps`` as the entry's ``fps`` (an entry's own ``"fps"``
wins) and modality video unless the entry says otherwise.

``skip_frames`` is accepted and has nothing to switch: rtcstream always hands a
video function the newest camera frame once its previous call returns, so a
function slower than the camera skips frames (FastRTC's ``skip_frames=True``)
instead of falling further and further behind (its ``False``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["VideoStreamHandler"]


@dataclass(frozen=True)
class VideoStreamHandler:
    """A video function (a frame in, a frame out) or a generator of frames, with FastRTC's options."""

    callable: Callable[..., Any]
    fps: int = 30
    skip_frames: bool = False

    def __post_init__(self) -> None:
        if not callable(self.callable):
            raise TypeError(f"VideoStreamHandler needs a function or a generator function, not {self.callable!r}")

    def entry(self, entry: dict[str, Any]) -> dict[str, Any]:
        """The registry ``entry`` (whose handler is this) with the function as its handler and this one's options."""
        return {"modality": "video", "fps": self.fps, **entry, "handler": self.callable}
