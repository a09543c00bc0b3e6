"""The messages of a Twilio media stream (Twilio's "WebSocket Messages"), parsed into types.

Twilio sends JSON text frames: ``connected``, ``start``, ``media`` (base64
μ-law, 8 kHz), ``mark`` (a mark the server sent has been played), ``dtmf``
and ``stop``. Anything else, or a frame that is not what Twilio sends, raises
``TwilioMessageError``; the consumer logs it and carries on.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Union

from rtcstream import page_json
from rtcstream.transports.formats import MULAW_8K, AudioFormat

MAX_PAYLOAD_BYTES = 8000  # one second of μ-law: Twilio sends 20 ms (160 bytes) a message


class TwilioMessageError(ValueError):
    """A frame that is not one of Twilio's media stream messages."""


@dataclass(frozen=True)
class Connected:
    pass


@dataclass(frozen=True)
class Start:
    stream_sid: str
    call_sid: str
    format: AudioFormat | None  # None: not μ-law, 8 kHz, mono
    custom_parameters: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Media:
    payload: bytes
    track: str


@dataclass(frozen=True)
class Mark:
    name: str


@dataclass(frozen=True)
class Dtmf:
    digit: str


@dataclass(frozen=True)
class Stop:
    pass


TwilioMessage = Union[Connected, Start, Media, Mark, Dtmf, Stop]


def _object(data: dict[str, Any], name: str) -> dict[str, Any]:
    value = data.get(name)
    if not isinstance(value, dict):
        raise TwilioMessageError(f"'{data.get('event')}' has no object '{name}'")
    return value


def _string(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str):
        raise TwilioMessageError(f"no string '{name}'")
    return value


def _start(data: dict[str, Any]) -> Start:
    start = _object(data, "start")
    media_format = start.get("mediaFormat")
    if not isinstance(media_format, dict):
        media_format = {}
    mulaw_8k = (
        media_format.get("encoding") == "audio/x-mulaw"
        and media_format.get("sampleRate") == MULAW_8K.rate
        and media_format.get("channels") == 1
    )
    parameters = start.get("customParameters")
    return Start(
        stream_sid=_string(start, "streamSid"),
        call_sid=_string(start, "callSid"),
        format=MULAW_8K if mulaw_8k else None,
        custom_parameters=parameters if isinstance(parameters, dict) else {},
    )


def _media(data: dict[str, Any]) -> Media:
    media = _object(data, "media")
    encoded = _string(media, "payload")
    if len(encoded) > MAX_PAYLOAD_BYTES * 4 // 3 + 4:
        raise TwilioMessageError("a media payload longer than a second")
    try:
        payload = base64.b64decode(encoded, validate=True)
    except binascii.Error:
        raise TwilioMessageError("a media payload that is not base64") from None
    return Media(payload=payload, track=str(media.get("track", "inbound")))


PARSERS: dict[str, Callable[[dict[str, Any]], TwilioMessage]] = {
    "connected": lambda data: Connected(),
    "start": _start,
    "media": _media,
    "mark": lambda data: Mark(name=_string(_object(data, "mark"), "name")),
    "dtmf": lambda data: Dtmf(digit=_string(_object(data, "dtmf"), "digit")),
    "stop": lambda data: Stop(),
}


def parse(text: str | None, max_bytes: int) -> TwilioMessage:
    if text is None:
        raise TwilioMessageError("a binary frame")
    if len(text) > max_bytes:
        raise TwilioMessageError(f"a frame longer than {max_bytes} characters")
    try:
        data = page_json.loads(text)
    except (ValueError, RecursionError):
        raise TwilioMessageError("a frame that is not JSON") from None
    if not isinstance(data, dict):
        raise TwilioMessageError("a frame that is not a JSON object")
    event = data.get("event")
    parser = PARSERS.get(event) if isinstance(event, str) else None
    if parser is None:
        raise TwilioMessageError(f"an unknown event {str(event)[:40]!r}")
    return parser(data)


# What the server sends.


def media(stream_sid: str, payload: bytes) -> dict[str, Any]:
    return {"event": "media", "streamSid": stream_sid, "media": {"payload": base64.b64encode(payload).decode()}}


def mark(stream_sid: str, name: str) -> dict[str, Any]:
    return {"event": "mark", "streamSid": stream_sid, "mark": {"name": name}}


def clear(stream_sid: str) -> dict[str, Any]:
    return {"event": "clear", "streamSid": stream_sid}
