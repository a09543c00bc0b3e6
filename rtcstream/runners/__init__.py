"""Runners drive one kind of handler between the session's tracks.

Which runner a session uses is the ``runner`` of its handler's kind
(``rtcstream.kinds``).
"""

from __future__ import annotations

from .base import MediaOptions, Runner, RunnerContext
from .generator import GeneratorRunner
from .stream import StreamRunner
from .video import VideoFunctionRunner

__all__ = ["GeneratorRunner", "MediaOptions", "Runner", "RunnerContext", "StreamRunner", "VideoFunctionRunner"]
