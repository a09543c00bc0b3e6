"""The kinds of handler: one table that says, for each, how it is recognised, what
it serves, what it does when an entry is silent, which runner drives it and which
endpoint options it takes.

The registry, the endpoint model and its admin, the management command and the
session all read this table; no rule about a kind is written anywhere else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from rtcstream.execution import calls
from rtcstream.handlers.base import StreamHandlerBase
from rtcstream.runners import GeneratorRunner, Runner, StreamRunner, VideoFunctionRunner

Mode = Literal["send-receive", "send", "receive"]
Modality = Literal["audio", "video"]

MODES: tuple[Mode, ...] = ("send-receive", "send", "receive")
MODALITIES: tuple[Modality, ...] = ("audio", "video")

# The ReplyOnPause parameters an endpoint may override (StreamEndpoint fields, Endpoint.handler_options keys).
REPLY_ON_PAUSE_OPTIONS = (
    "pause_seconds",
    "min_speech_seconds",
    "pre_roll_seconds",
    "max_utterance_seconds",
    "can_interrupt",
)


@dataclass(frozen=True)
class Call:
    """A call rtcstream makes into user code: ``count`` positional arguments, then page inputs if ``inputs``."""

    fn: Callable[..., Any]
    count: int
    inputs: bool
    expected: str  # how the call looks, for messages


@dataclass(frozen=True)
class HandlerKind:
    """One kind of handler."""

    name: str
    label: str  # how messages name it: "a <label>"
    recognises: Callable[[Any], bool]
    serves: frozenset[tuple[Mode, Modality]]
    default: tuple[Mode, Modality]
    runner: type[Runner]
    calls: Callable[[Any], list[Call]]  # the calls a session makes into the handler
    endpoint_options: tuple[str, ...] = ()
    per_session_copy: bool = False  # each session runs handler.copy()

    def can_serve(self, mode: str, modality: str) -> bool:
        return (mode, modality) in self.serves

    def describe_serves(self) -> str:
        return ", ".join(f"{mode} {modality}" for mode, modality in sorted(self.serves))

    def __str__(self) -> str:
        return self.name


def _is_reply_on_pause(handler: Any) -> bool:
    # By class name, so that reading the table does not import the VAD stack.
    return isinstance(handler, StreamHandlerBase) and any(c.__name__ == "ReplyOnPause" for c in type(handler).__mro__)


def _is_function(handler: Any) -> bool:
    return callable(handler) and not isinstance(handler, type) and not isinstance(handler, StreamHandlerBase)


def _stream_calls(handler: Any) -> list[Call]:
    return [
        Call(handler.receive, 1, False, "receive(frame): one (sample_rate, array) frame"),
        Call(handler.emit, 0, False, "emit(): no arguments"),
        Call(handler.copy, 0, False, "copy(): no arguments"),
    ]


def _reply_on_pause_calls(handler: Any) -> list[Call]:
    return [
        Call(handler.fn, 1, True, "fn(audio, *inputs): the utterance as (sample_rate, array), then the page's inputs")
    ]


def _video_function_calls(handler: Any) -> list[Call]:
    return [Call(handler, 1, True, "fn(frame, *inputs): one camera frame, then the page's inputs")]


def _no_checked_calls(handler: Any) -> list[Call]:
    return []  # generators take the page's inputs only, whose number the template decides


_STREAM_AUDIO: frozenset[tuple[Mode, Modality]] = frozenset({("send-receive", "audio"), ("send", "audio")})

# In the order they are tried: the first that recognises a handler is its kind.
KINDS: tuple[HandlerKind, ...] = (
    HandlerKind(
        "reply_on_pause",
        "ReplyOnPause handler",
        _is_reply_on_pause,
        _STREAM_AUDIO,
        ("send-receive", "audio"),
        StreamRunner,
        _reply_on_pause_calls,
        endpoint_options=REPLY_ON_PAUSE_OPTIONS,
        per_session_copy=True,
    ),
    HandlerKind(
        "stream",
        "stream handler",
        lambda handler: isinstance(handler, StreamHandlerBase),
        _STREAM_AUDIO,
        ("send-receive", "audio"),
        StreamRunner,
        _stream_calls,
        per_session_copy=True,
    ),
    HandlerKind(
        "generator",
        "generator",
        calls.is_generator_function,
        frozenset({("receive", "audio"), ("receive", "video")}),
        ("receive", "audio"),
        GeneratorRunner,
        _no_checked_calls,
    ),
    HandlerKind(
        "video_function",
        "video function",
        _is_function,
        frozenset({("send-receive", "video")}),
        ("send-receive", "video"),
        VideoFunctionRunner,
        _video_function_calls,
    ),
)
BY_NAME = {kind.name: kind for kind in KINDS}


def kind_of(handler: Any) -> HandlerKind:
    """Return the kind of ``handler`` (an instance, or a function), or raise TypeError."""
    for kind in KINDS:
        if kind.recognises(handler):
            return kind
    raise TypeError(
        "expected a StreamHandler or AsyncStreamHandler (class or instance), a ReplyOnPause, "
        f"a generator function or a function, got {type(handler).__name__}"
    )


def all_endpoint_options() -> tuple[str, ...]:
    """Every endpoint option any kind takes (the endpoint model has a field for each)."""
    return tuple(dict.fromkeys(name for kind in KINDS for name in kind.endpoint_options))
