"""What the client raises, and how long it waits by default."""

from __future__ import annotations

DEFAULT_TIMEOUT = 10.0


class RtcError(Exception):
    """The server refused something: ``code`` is the protocol's error code (``refused``: the socket was
    refused, with ``close_code``)."""

    def __init__(self, code: str, message: str, close_code: int | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.close_code = close_code
