"""What a session's lifecycle asks of the way its media travels (``MediaTransport``).

Two implement it: ``rtcstream.session.negotiation.Negotiation`` (WebRTC: an
aiortc peer connection) and ``rtcstream.transports.websocket.WebsocketAudio``
(audio frames on a websocket: a page's fallback, or a Twilio phone call). The
lifecycle owns whichever the client asked for as it owns the rest of the
session: it opens it once the seat is taken and the runner made, hears its
connection state, and closes it in its one teardown.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from rtcstream.runners import Runner
    from rtcstream.transports.table import TransportKind

# Hears the transport's connection state: "connected", then "closed" (the client
# hung up) or "failed" (the media could not connect, or broke).
OnState = Callable[[str], None]


class MediaTransport(Protocol):
    """How one session's media reaches its runner and goes back to the client."""

    @property
    def kind(self) -> TransportKind:
        """The row of ``rtcstream.transports.table`` that describes this transport."""

    async def open(self, runner: Runner) -> dict[str, Any]:
        """Give ``runner`` its incoming tracks and carry its outgoing ones; return the message
        that answers the client's request (``answer``, ``media``). ``connected`` comes
        later, through the state callback the transport was made with."""

    def connected(self) -> bool:
        """Whether media can still flow both ways."""

    async def close(self) -> None:
        """Stop carrying media and release what the transport holds; idempotent, never raises
        for a transport that was never opened."""
