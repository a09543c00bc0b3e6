"""The websocket message schema (docs/protocol.md): parse every incoming frame
into a typed message, or raise ``ProtocolError`` with a code."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Union

from rtcstream import page_json
from rtcstream.reasons import ErrorCode, MessageError, Refusal
from rtcstream.transports.formats import CODECS, AudioFormat
from rtcstream.transports.table import WEBSOCKET

MAX_SDP_CHARS = 100_000
MAX_CANDIDATE_CHARS = 2_000
MAX_INPUTS = 64
MAX_TEXT_CHARS = 4000  # a ``text`` message's text: a chat message, not a document
MAX_DEPTH = 32  # arrays and objects within one another


class ProtocolError(Exception):
    """A client message was refused; ``code`` is one of docs/protocol.md's error codes."""

    def __init__(self, code: MessageError | Refusal, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def as_message(self) -> dict[str, Any]:
        return error(self.code, self.message)


@dataclass(frozen=True)
class Offer:
    sdp: str
    inputs: tuple[Any, ...] | None


@dataclass(frozen=True)
class Media:
    """Audio over this websocket instead of an offer (docs/protocol.md, "Audio over the websocket")."""

    format: AudioFormat
    inputs: tuple[Any, ...] | None


@dataclass(frozen=True)
class Candidate:
    """A trickled browser candidate; ``candidate`` None means the end of candidates."""

    candidate: str | None
    sdp_mid: str | None
    sdp_mline_index: int | None


@dataclass(frozen=True)
class Inputs:
    values: tuple[Any, ...]


@dataclass(frozen=True)
class Trigger:
    pass


@dataclass(frozen=True)
class Text:
    """Text the visitor typed beside the microphone, for an endpoint that takes text."""

    text: str


@dataclass(frozen=True)
class Stop:
    """End the session; ``fell_back``: because WebRTC did not connect and the page goes on over the websocket."""

    fell_back: bool = False


@dataclass(frozen=True)
class Ping:
    pass


@dataclass(frozen=True)
class Consent:
    """The page's answer to a recorded session (its ``session`` message says ``recording``)."""

    recording: bool


ClientMessage = Union[Offer, Media, Candidate, Inputs, Trigger, Text, Stop, Ping, Consent]


def _field(data: dict[str, Any], name: str, types: type | tuple[type, ...], *, required: bool = True) -> Any:
    if name not in data or data[name] is None:
        if required:
            raise ProtocolError(MessageError.INVALID_MESSAGE, f"'{data['type']}' needs the field '{name}'.")
        return None
    value = data[name]
    # bool is an int in Python, never what a client means by a number here.
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in _as_tuple(types)):
        expected = " or ".join(t.__name__ for t in _as_tuple(types))
        raise ProtocolError(
            MessageError.INVALID_MESSAGE, f"'{data['type']}.{name}' must be {expected}, not {type(value).__name__}."
        )
    return value


def _as_tuple(types: type | tuple[type, ...]) -> tuple[type, ...]:
    return types if isinstance(types, tuple) else (types,)


def _values(data: dict[str, Any], name: str, *, required: bool) -> tuple[Any, ...] | None:
    values = _field(data, name, list, required=required)
    if values is None:
        return None
    if len(values) > MAX_INPUTS:
        raise ProtocolError(MessageError.INVALID_MESSAGE, f"'{data['type']}.{name}' holds at most {MAX_INPUTS} values.")
    return tuple(values)


def _parse_offer(data: dict[str, Any]) -> Offer:
    sdp = _field(data, "sdp", str)
    if len(sdp) > MAX_SDP_CHARS:
        raise ProtocolError(MessageError.INVALID_MESSAGE, f"'offer.sdp' is longer than {MAX_SDP_CHARS} characters.")
    if not sdp.startswith("v=0"):
        raise ProtocolError(
            Refusal.BAD_SDP, "'offer.sdp' is not an SDP session description (it must start with 'v=0')."
        )
    return Offer(sdp=sdp, inputs=_values(data, "inputs", required=False))


def _parse_media(data: dict[str, Any]) -> Media:
    if _field(data, "transport", str) != WEBSOCKET.name:
        raise ProtocolError(MessageError.INVALID_MESSAGE, f"'media.transport' must be '{WEBSOCKET.name}'.")
    codec = _field(data, "codec", str)
    rate = _field(data, "rate", int)
    audio_format = AudioFormat(codec, rate) if codec in CODECS else None
    if audio_format not in WEBSOCKET.formats:
        offered = ", ".join(str(f) for f in WEBSOCKET.formats)
        raise ProtocolError(
            MessageError.INVALID_MESSAGE, f"'media' asks for {codec[:20]}/{rate}; the formats are {offered}."
        )
    assert audio_format is not None
    return Media(format=audio_format, inputs=_values(data, "inputs", required=False))


def _parse_candidate(data: dict[str, Any]) -> Candidate:
    candidate = _field(data, "candidate", str, required=False)
    if candidate is not None and len(candidate) > MAX_CANDIDATE_CHARS:
        raise ProtocolError(
            MessageError.INVALID_MESSAGE, f"'candidate.candidate' is longer than {MAX_CANDIDATE_CHARS} characters."
        )
    sdp_mid = _field(data, "sdpMid", str, required=False)
    index = _field(data, "sdpMLineIndex", int, required=False)
    if index is not None and not 0 <= index < 64:
        raise ProtocolError(MessageError.INVALID_MESSAGE, "'candidate.sdpMLineIndex' must be between 0 and 63.")
    return Candidate(candidate=candidate or None, sdp_mid=sdp_mid, sdp_mline_index=index)


def _parse_inputs(data: dict[str, Any]) -> Inputs:
    values = _values(data, "values", required=True)
    assert values is not None  # required: _field raised otherwise
    return Inputs(values=values)


def _parse_text(data: dict[str, Any]) -> Text:
    text = _field(data, "text", str)
    if len(text) > MAX_TEXT_CHARS:
        raise ProtocolError(MessageError.MESSAGE_TOO_LARGE, f"'text.text' is longer than {MAX_TEXT_CHARS} characters.")
    if not text.strip():
        raise ProtocolError(MessageError.INVALID_MESSAGE, "'text.text' is empty.")
    return Text(text=text)


def _parse_stop(data: dict[str, Any]) -> Stop:
    reason = _field(data, "reason", str, required=False)
    if reason not in (None, "fallback"):
        raise ProtocolError(MessageError.INVALID_MESSAGE, "'stop.reason' is \"fallback\" or absent.")
    return Stop(fell_back=reason == "fallback")


PARSERS: dict[str, Callable[[dict[str, Any]], ClientMessage]] = {
    "offer": _parse_offer,
    "media": _parse_media,
    "candidate": _parse_candidate,
    "inputs": _parse_inputs,
    "trigger": lambda data: Trigger(),
    "text": _parse_text,
    "stop": _parse_stop,
    "ping": lambda data: Ping(),
    "consent": lambda data: Consent(recording=_field(data, "recording", bool)),
}


def _too_deep(data: Any, limit: int) -> bool:
    """Whether ``data`` nests lists and dicts more than ``limit`` deep (without recursing)."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def parse(text: str | None, max_bytes: int) -> ClientMessage:
    """Parse one websocket text frame into a client message."""
    if text is None:
        raise ProtocolError(
            MessageError.INVALID_JSON, "Send JSON text frames; binary frames carry audio only after a 'media' message."
        )
    if len(text) > max_bytes or len(text.encode()) > max_bytes:
        raise ProtocolError(MessageError.MESSAGE_TOO_LARGE, f"Messages are limited to {max_bytes} bytes.")
    try:
        data = page_json.loads(text)
    except page_json.NotFiniteError as exc:
        raise ProtocolError(MessageError.INVALID_JSON, f"The message is not valid JSON: {exc}.") from None
    except ValueError as exc:
        # The position helps a client author; it is the client's own text, not the server's.
        where = f" (line {exc.lineno}, column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
        raise ProtocolError(MessageError.INVALID_JSON, f"The message is not valid JSON{where}.") from None
    except RecursionError:
        raise ProtocolError(MessageError.INVALID_JSON, f"The message nests deeper than {MAX_DEPTH} levels.") from None
    if _too_deep(data, MAX_DEPTH):
        raise ProtocolError(MessageError.INVALID_JSON, f"The message nests deeper than {MAX_DEPTH} levels.")
    if not isinstance(data, dict):
        raise ProtocolError(MessageError.INVALID_JSON, "A message must be a JSON object with a 'type'.")
    kind = data.get("type")
    if not isinstance(kind, str):
        raise ProtocolError(MessageError.INVALID_MESSAGE, "A message needs a string field 'type'.")
    parser = PARSERS.get(kind)
    if parser is None:
        raise ProtocolError(
            MessageError.UNKNOWN_TYPE, f"Unknown message type {kind[:40]!r}; expected one of {sorted(PARSERS)}."
        )
    return parser(data)


# Server-to-client messages.


def error(code: ErrorCode, message: str) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message}


def closed(reason: str, message: str = "") -> dict[str, Any]:
    return {"type": "closed", "reason": reason, "message": message}


def event(name: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"type": "event", "name": name, "data": data}


def answer(sdp: str) -> dict[str, Any]:
    return {"type": "answer", "sdp": sdp}


def raw_message(text: str) -> dict[str, Any]:
    """A handler's own message, its text as it gave it (FastRTC's ``send_message``)."""
    return {"type": "message", "data": text}


def warning(message: str) -> dict[str, Any]:
    """Words for the visitor from the handler (``rtcstream.Warning``, FastRTC's ``Warning``); the session goes on."""
    return {"type": "warning", "message": message}


def send_input() -> dict[str, Any]:
    """Ask the page for its current input values (it answers with ``inputs``)."""
    return {"type": "send_input"}


def output(seq: int, values_json: str) -> str:
    """The text of an ``output`` message around its values, which are JSON text already: a session
    encodes each output once (``rtcstream.session.outputs.values_json``), whatever carries it here."""
    return f'{{"type": "output", "seq": {int(seq)}, "values": {values_json}}}'


def restarting(seconds: float, message: str) -> dict[str, Any]:
    """The server drains (SIGTERM): the session runs on for ``seconds`` at most, then ends with ``server_shutdown``."""
    return {"type": "restarting", "seconds": seconds, "message": message}
