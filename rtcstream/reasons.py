"""Why a session ends, and why an offer is refused: the names the code, the models
(``EndReason``), docs/protocol.md and the widget (``messages.js``) share.
``tests/test_reasons.py`` keeps them in agreement."""

from __future__ import annotations

from enum import StrEnum


class CloseReason(StrEnum):
    """The ``reason`` of the ``closed`` message: why a session that started has ended."""

    CLIENT_STOP = "client_stop"
    TIME_LIMIT = "time_limit"
    HANDLER_CLOSED = "handler_closed"  # the handler returned CloseStream
    HANDLER_ERROR = "handler_error"
    MEDIA_ERROR = "media_error"  # the server's outgoing media stopped
    STREAM_ENDED = "stream_ended"  # a receive-mode generator ended and its media played out
    DISCONNECTED = "disconnected"  # the socket, or the media connection, was closed by the client
    CONNECTION_FAILED = "connection_failed"  # ICE or DTLS failed, or never came up
    TERMINATED = "terminated"  # stopped from the admin
    SERVER_SHUTDOWN = "server_shutdown"
    QUOTA_EXHAUSTED = "quota_exhausted"  # the user's minutes for the day ran out (admission/quotas.py)
    ACCESS_REVOKED = "access_revoked"  # the user's account was disabled or deleted, or lost access to the endpoint
    FELL_BACK = "fell_back"  # WebRTC did not connect: the page hung up to carry the audio over the websocket
    TOO_MANY_MESSAGES = "too_many_messages"  # the socket sent more than MAX_MESSAGES_PER_SECOND frames a second


class Refusal(StrEnum):
    """Why an offer was refused (an ``error`` code; the session may try again)."""

    BAD_SDP = "bad_sdp"
    SERVER_ERROR = "server_error"
    CONCURRENCY_LIMIT = "concurrency_limit"
    HANDLER_STUCK = "handler_stuck"  # the handler's calls of ended sessions never returned
    QUOTA_MINUTES = "quota_minutes"  # the user has used their minutes for the day
    QUOTA_SESSIONS = "quota_sessions"  # the user has as many sessions open as their quota allows
    QUEUE_FULL = "queue_full"  # the endpoint is full and so is its waiting room
    QUEUE_TIMEOUT = "queue_timeout"  # the client waited the endpoint's longest wait
    SERVER_BUSY = "server_busy"  # this process carries RTCSTREAM["MAX_SESSIONS"] streams


class MessageError(StrEnum):
    """Why a client's message was refused (an ``error`` code; the socket stays open, the session goes on)."""

    INVALID_JSON = "invalid_json"
    INVALID_MESSAGE = "invalid_message"
    UNKNOWN_TYPE = "unknown_type"
    INVALID_STATE = "invalid_state"
    BAD_CANDIDATE = "bad_candidate"
    BAD_AUDIO = "bad_audio"
    UNSUPPORTED_TRANSPORT = "unsupported_transport"
    MESSAGE_TOO_LARGE = "message_too_large"
    TEXT_NOT_ACCEPTED = "text_not_accepted"
    INTERNAL_ERROR = "internal_error"


# Every ``error`` message's code: a message refused, an offer refused, or a session failing (``closed`` follows).
ErrorCode = MessageError | Refusal | CloseReason

# What admission records for a session whose process stopped sending heartbeats.
EXPIRED = "expired"
