"""Runners drive one kind of handler between the session's tracks.

Which runner a session uses is the ``runner`` of its handler's kind
(``rtcstream.endpoints.kinds``).
"""

from __future__ import annotations

from rtcstream.runners.audio_video import AudioVideoRunner
from rtcstream.runners.base import MediaOptions, Runner, RunnerContext
from rtcstream.runners.generator import GeneratorRunner
from rtcstream.runners.stream import StreamRunner
from rtcstream.runners.video import VideoFunctionRunner

__all__ = [
    "AudioVideoRunner",
    "GeneratorRunner",
    "MediaOptions",
    "Runner",
    "RunnerContext",
    "StreamRunner",
    "VideoFunctionRunner",
]
