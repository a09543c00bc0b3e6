"""Handlers of the ``audio-video`` modality: FastRTC's ``AudioVideoStreamHandler`` and its async twin.

Audio works as in ``StreamHandler`` (``receive`` / ``emit``); video adds
``video_receive(frame)``, called with the newest camera frame, and
``video_emit()``, called once per outgoing frame at the handler's ``fps``.
Frames are ``(height, width, 3)`` uint8 arrays in BGR order (an entry with
``"color": "rgb"`` gets and gives RGB). ``video_emit`` may return ``None``:
nothing is sent until it returns a frame (the page keeps showing the last one).
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Union

import numpy as np

from rtcstream.handlers.base import AsyncStreamHandler, StreamHandler
from rtcstream.handlers.results import AdditionalOutputs, CloseStream

# What ``video_emit`` returns (FastRTC's name): a frame, a frame and outputs, outputs alone, the end, or nothing yet.
VideoEmitType = Union[np.ndarray, tuple[np.ndarray, AdditionalOutputs], AdditionalOutputs, CloseStream, None]


class AudioVideoStreamHandler(StreamHandler):
    """A synchronous audio and video handler; rtcstream runs its methods in worker threads.

    ``receive`` / ``emit`` and ``video_receive`` / ``video_emit`` are four loops:
    any two may run at the same time, none concurrently with itself. Share state
    through something thread-safe (a lock, a ``queue.Queue``, or whole values
    swapped in one assignment).
    """

    @abstractmethod
    def video_receive(self, frame: np.ndarray) -> None:
        """Take the newest camera frame: ``(height, width, 3)`` uint8, BGR unless the entry says rgb."""

    @abstractmethod
    def video_emit(self) -> VideoEmitType:
        """Return the next frame to send (an array like ``video_receive``'s, any size), or None for none yet.

        Also accepted: ``(frame, AdditionalOutputs)`` and ``CloseStream``. Called
        once per outgoing frame, paced at ``self.fps``.
        """

    @abstractmethod
    def copy(self) -> AudioVideoStreamHandler:
        """Return a fresh instance for a new session."""


class AsyncAudioVideoStreamHandler(AsyncStreamHandler):
    """The async twin of ``AudioVideoStreamHandler``: its methods run on the event loop, so they must await."""

    @abstractmethod
    async def video_receive(self, frame: np.ndarray) -> None:
        """Take the newest camera frame: ``(height, width, 3)`` uint8, BGR unless the entry says rgb."""

    @abstractmethod
    async def video_emit(self) -> VideoEmitType:
        """Return the next frame to send, or None for none yet (see ``AudioVideoStreamHandler.video_emit``)."""

    @abstractmethod
    def copy(self) -> AsyncAudioVideoStreamHandler:
        """Return a fresh instance for a new session."""


AUDIO_VIDEO_HANDLERS = (AudioVideoStreamHandler, AsyncAudioVideoStreamHandler)
