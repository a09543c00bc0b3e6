"""The close codes of rtcstream's websockets: what the widget tells a visitor when a socket is refused or ends.

Only 1000 and 3000-4999 are codes an application may send (RFC 6455 section
7.4; daphne's websocket library refuses the others, 1011 included, and the
socket then stays open). The widget's ``socketClosedError`` (messages.js),
docs/protocol.md and ``tests/test_close_codes.py`` keep them in agreement.
"""

from __future__ import annotations

from enum import IntEnum


class CloseCode(IntEnum):
    NORMAL = 1000  # the session ended (its ``closed`` message says why)
    BAD_HOST = 4400  # the Host header names no site in ALLOWED_HOSTS
    FORBIDDEN = 4403  # login required, not in the endpoint's groups, or an outputs token not this user's
    NOT_FOUND = 4404  # no such endpoint (or it is disabled), or no such websocket path
    TOO_MANY_MESSAGES = 4408  # a socket without a session sent more than MAX_MESSAGES_PER_SECOND frames a second
    GONE = 4410  # an outputs token of a session that has ended
    TOO_MANY_FROM_CLIENT = 4429  # this client (user, address or IPv6 network) holds too many sockets
    SERVER_ERROR = 4500  # the server failed to open the socket (its log has the traceback)
    NO_CHANNEL_LAYER = 4501  # settings.CHANNEL_LAYERS is missing: the server cannot stream
    RESTARTING = 4502  # this worker drains (SIGTERM) and takes no new session: connect again, another one will
    TOO_MANY_SESSIONS = 4503  # this server process carries RTCSTREAM["MAX_SESSIONS"] streams
    TOO_MANY_SOCKETS = 4507  # this server process holds RTCSTREAM["MAX_SOCKETS"] websockets


def sendable(code: int) -> bool:
    """Whether an application may close a websocket with ``code`` (what daphne lets through)."""
    return code == 1000 or 3000 <= code <= 4999
