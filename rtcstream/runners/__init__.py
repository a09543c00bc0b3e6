"""Runners drive one kind of handler between the session's tracks.

Which runner a session uses follows from the registry entry's kind:
``stream`` (StreamHandler and friends), ``video_function`` and ``generator``.
"""

from __future__ import annotations

from typing import Any

from .base import Runner, RunnerContext
from .generator import GeneratorRunner
from .stream import StreamRunner
from .video import VideoFunctionRunner

RUNNERS: dict[str, type[Runner]] = {
    "stream": StreamRunner,
    "video_function": VideoFunctionRunner,
    "generator": GeneratorRunner,
}


def make_runner(kind: str, handler: Any, context: RunnerContext, **options: Any) -> Runner:
    return RUNNERS[kind](handler, context, **options)


__all__ = ["Runner", "RunnerContext", "make_runner"]
