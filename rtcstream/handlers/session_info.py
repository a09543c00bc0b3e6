"""Who a session serves, as its handler sees it: the user, their groups, the Django session, the endpoint.

Every kind of handler reaches it the same way: ``rtcstream.current_session()``
in any call rtcstream makes into it (a ``StreamHandler``'s methods, a
ReplyOnPause function, a generator's ``next``, a video function, an
``on_additional_outputs`` hook), sync calls in the worker pool included. A
``StreamHandler`` has it as ``self.session_info`` (and ``self.user``) too.

It is what the signalling socket's scope held when the session opened
(Channels' ``AuthMiddlewareStack``), loaded then, off the event loop: the
groups are a set of names and the Django session's data is already read, so
neither touches the database when used. The user object's own managers
(``user.groups``, permissions) do: use them from sync code (which runs in the
worker pool), never from an async handler on the loop.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from django.contrib.sessions.backends.base import SessionBase

    from rtcstream.endpoints.resolution import Endpoint

__all__ = ["CURRENT_SESSION", "SessionInfo", "current_session"]


@dataclass(frozen=True)
class SessionInfo:
    """One session's visitor and endpoint, as they were when it opened."""

    session_id: str
    endpoint: Endpoint  # as resolved for this session: its slug, mode, limits, label
    user: Any  # the logged-in user, or an AnonymousUser
    groups: frozenset[str] = frozenset()  # the user's group names when the session opened
    django_session: SessionBase | None = None  # the visitor's Django session, its data already loaded
    client: str | None = None  # the client's address

    @property
    def endpoint_row(self) -> Any:
        """The admin's ``StreamEndpoint`` row of the endpoint, or None for a registry-only one."""
        return self.endpoint.row

    @property
    def is_authenticated(self) -> bool:
        return bool(getattr(self.user, "is_authenticated", False))

    @property
    def username(self) -> str:
        """The user's name (``get_username()``), or "" for an anonymous visitor."""
        return str(self.user.get_username()) if self.is_authenticated else ""

    @property
    def webrtc_id(self) -> str:
        """FastRTC's name for the session id (``get_current_context().webrtc_id``)."""
        return self.session_id


CURRENT_SESSION: contextvars.ContextVar[SessionInfo | None] = contextvars.ContextVar(
    "rtcstream_current_session", default=None
)


def current_session() -> SessionInfo:
    """Return the session whose handler is running; ``LookupError`` outside a call rtcstream made."""
    info = CURRENT_SESSION.get()
    if info is None:
        raise LookupError(
            "rtcstream.current_session() is only set inside the calls rtcstream makes into a handler "
            "(and the threads and tasks they start with the context copied, as asyncio does)."
        )
    return info
