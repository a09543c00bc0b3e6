"""rtcstream: real-time audio and video AI behind a Django page.

The public API, for handler authors::

    from rtcstream import StreamHandler, AsyncStreamHandler, AdditionalOutputs, CloseStream

``current_session()`` tells any handler whom its session serves (``SessionInfo``:
the user, their groups, the Django session, the endpoint).

``ReplyOnPause`` (turn-taking on a voice activity detector) lives in
``rtcstream.handlers.reply_on_pause`` and is re-exported here lazily, so that
importing rtcstream does not load the VAD model.
"""

from typing import Any

from rtcstream.handlers.base import AsyncStreamHandler, StreamHandler, StreamHandlerBase
from rtcstream.handlers.results import AdditionalOutputs, CloseStream
from rtcstream.handlers.session_info import SessionInfo, current_session

__all__ = [
    "AdditionalOutputs",
    "AlgoOptions",
    "AsyncStreamHandler",
    "CloseStream",
    "ReplyOnPause",
    "SessionInfo",
    "StreamHandler",
    "StreamHandlerBase",
    "current_session",
]


def __getattr__(name: str) -> Any:
    if name in ("ReplyOnPause", "AlgoOptions"):
        from rtcstream.handlers import reply_on_pause

        return getattr(reply_on_pause, name)
    raise AttributeError(f"module 'rtcstream' has no attribute {name!r}")
