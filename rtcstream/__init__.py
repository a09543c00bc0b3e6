"""rtcstream: real-time audio and video AI behind a Django page.

The public API, for handler authors::

    from rtcstream import StreamHandler, AsyncStreamHandler, AdditionalOutputs, CloseStream
    from rtcstream import AudioVideoStreamHandler, AsyncAudioVideoStreamHandler
    from rtcstream import AudioEmitType, VideoEmitType   # FastRTC's names for what emit and video_emit return
    from rtcstream import Stream, components   # FastRTC's Stream(...), and stand-ins for its gradio components

``current_session()`` tells any handler whom its session serves (``SessionInfo``:
the user, their groups, the Django session, the endpoint).

FastRTC's ``VideoStreamHandler(fn, fps=, skip_frames=)`` declares a video
function or generator. FastRTC's helpers keep their names: ``WebRTCError`` and ``Warning`` (words for
the visitor), ``get_current_context``, ``wait_for_item``, and the audio
conversions ``audio_to_float32``, ``audio_to_int16``, ``audio_to_bytes``,
``audio_to_file``, ``aggregate_bytes_to_16bit`` and its async twin; ``get_stt_model()`` and
``get_tts_model()`` (``rtcstream.speech``) serve engines whose models need no download.

``ReplyOnPause`` (turn-taking on a voice activity detector) lives in
``rtcstream.handlers.reply_on_pause`` and ``ReplyOnStopWords`` (the same after a
wake phrase) in ``rtcstream.handlers.reply_on_stopwords``; both are re-exported
here lazily, so that importing rtcstream loads neither. ``WebRTCData`` is what
their function gets on an entry with ``"text": True``.
"""

from typing import Any

from rtcstream.handlers.audio_helpers import (
    aggregate_bytes_to_16bit,
    async_aggregate_bytes_to_16bit,
    audio_to_bytes,
    audio_to_file,
    audio_to_float32,
    audio_to_int16,
)
from rtcstream.handlers.audio_video import AsyncAudioVideoStreamHandler, AudioVideoStreamHandler, VideoEmitType
from rtcstream.handlers.base import AsyncStreamHandler, AudioEmitType, StreamHandler, StreamHandlerBase
from rtcstream.handlers.queues import wait_for_item
from rtcstream.handlers.results import AdditionalOutputs, CloseStream
from rtcstream.handlers.session_info import SessionInfo, current_session
from rtcstream.handlers.video_handler import VideoStreamHandler
from rtcstream.handlers.visitor_messages import Warning, WebRTCError, get_current_context
from rtcstream.handlers.webrtc_data import WebRTCData
from rtcstream.speech import get_stt_model, get_tts_model
from rtcstream.stream import Stream

__all__ = [
    "AdditionalOutputs",
    "AlgoOptions",
    "AsyncAudioVideoStreamHandler",
    "AsyncStreamHandler",
    "AudioEmitType",
    "AudioVideoStreamHandler",
    "CloseStream",
    "ReplyOnPause",
    "ReplyOnStopWords",
    "SessionInfo",
    "SileroVadOptions",
    "StreamHandler",
    "Stream",
    "StreamHandlerBase",
    "VideoEmitType",
    "VideoStreamHandler",
    "Warning",
    "WebRTCData",
    "WebRTCError",
    "aggregate_bytes_to_16bit",
    "async_aggregate_bytes_to_16bit",
    "audio_to_bytes",
    "audio_to_file",
    "audio_to_float32",
    "audio_to_int16",
    "current_session",
    "get_current_context",
    "get_stt_model",
    "get_tts_model",
    "wait_for_item",
]


def __getattr__(name: str) -> Any:
    if name in ("ReplyOnPause", "AlgoOptions", "SileroVadOptions"):
        from rtcstream.handlers import reply_on_pause

        return getattr(reply_on_pause, name)
    if name == "ReplyOnStopWords":
        from rtcstream.handlers.reply_on_stopwords import ReplyOnStopWords

        return ReplyOnStopWords
    raise AttributeError(f"module 'rtcstream' has no attribute {name!r}")
