"""rtcstream: real-time audio and video AI behind a Django page.

The public API, for handler authors::

    from rtcstream import StreamHandler, AsyncStreamHandler, AdditionalOutputs, CloseStream
    from rtcstream import AudioVideoStreamHandler, AsyncAudioVideoStreamHandler
    from rtcstream import Stream, components   # FastRTC's Stream(...), and stand-ins for its gradio components

``current_session()`` tells any handler whom its session serves (``SessionInfo``:
the user, their groups, the Django session, the endpoint).

``ReplyOnPause`` (turn-taking on a voice activity detector) lives in
``rtcstream.handlers.reply_on_pause`` and ``ReplyOnStopWords`` (the same after a
wake phrase) in ``rtcstream.handlers.reply_on_stopwords``; both are re-exported
here lazily, so that importing rtcstream loads neither. ``WebRTCData`` is what
their function gets on an entry with ``"text": True``.
"""

from typing import Any

from rtcstream.handlers.audio_video import AsyncAudioVideoStreamHandler, AudioVideoStreamHandler
from rtcstream.handlers.base import AsyncStreamHandler, StreamHandler, StreamHandlerBase
from rtcstream.handlers.results import AdditionalOutputs, CloseStream
from rtcstream.handlers.session_info import SessionInfo, current_session
from rtcstream.handlers.webrtc_data import WebRTCData
from rtcstream.stream import Stream

__all__ = [
    "AdditionalOutputs",
    "AlgoOptions",
    "AsyncAudioVideoStreamHandler",
    "AsyncStreamHandler",
    "AudioVideoStreamHandler",
    "CloseStream",
    "ReplyOnPause",
    "ReplyOnStopWords",
    "SessionInfo",
    "StreamHandler",
    "Stream",
    "StreamHandlerBase",
    "WebRTCData",
    "current_session",
]


def __getattr__(name: str) -> Any:
    if name in ("ReplyOnPause", "AlgoOptions"):
        from rtcstream.handlers import reply_on_pause

        return getattr(reply_on_pause, name)
    if name == "ReplyOnStopWords":
        from rtcstream.handlers.reply_on_stopwords import ReplyOnStopWords

        return ReplyOnStopWords
    raise AttributeError(f"module 'rtcstream' has no attribute {name!r}")
