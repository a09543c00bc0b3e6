"""ASGI middleware that guards rtcstream's websockets before any consumer runs.

They compose in ``asgi.py`` as Channels' own ``AllowedHostsOriginValidator``
and ``AuthMiddlewareStack`` do, in this order for every socket::

    HostValidator(AllowedHostsOriginValidator(AuthMiddlewareStack(ClientLimits(URLRouter(routes)))))

``ClientLimits`` sits inside ``AuthMiddlewareStack`` so that a logged-in user
is counted as that user. A socket they refuse is accepted, told its close code
and closed (``rtcstream.signalling.refusal``): a refused handshake reaches
browsers as 1006, which tells a visitor nothing.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from django.conf import settings
from django.http.request import split_domain_port, validate_host

from rtcstream import conf
from rtcstream.admission.client_identity import client_key
from rtcstream.runtime import get_runtime
from rtcstream.signalling.close_codes import CloseCode
from rtcstream.signalling.refusal import refuse

logger = logging.getLogger("rtcstream.consumers")

Scope = dict[str, Any]
ASGIApp = Any


def host_header(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name.lower() == b"host":
            return str(value.decode("latin1"))
    return None


def host_allowed(scope: Scope) -> bool:
    """Whether the Host header names this site (``ALLOWED_HOSTS``, as Django checks HTTP requests).

    A connection without a Host header is let through: every browser sends one
    (DNS rebinding, what this check stops, needs a browser), and in-process ASGI
    tests send none. The Origin header is Channels' ``AllowedHostsOriginValidator``'s to check.
    """
    host = host_header(scope)
    if host is None:
        return True
    allowed = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]  # as django.http.HttpRequest.get_host does
    domain, _port = split_domain_port(host)
    return bool(domain) and validate_host(domain, allowed)


class HostValidator:
    """Refuse (4400) a websocket whose Host header names no site in ``ALLOWED_HOSTS``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "websocket" and not host_allowed(scope):
            logger.warning("Refused a websocket for host %r: not in ALLOWED_HOSTS", host_header(scope))
            await refuse(receive, send, CloseCode.BAD_HOST)
            return
        await self.app(scope, receive, send)


class ClientLimits:
    """Count each websocket against this process's ``MAX_SOCKETS`` and its client's ``MAX_SOCKETS_PER_CLIENT``.

    The client is the logged-in user, else the address (IPv6 addresses by
    their ``CLIENT_IPV6_PREFIX`` network: one subscriber's /64 is one client),
    counted in the runtime's ``sockets`` counter (in this process, or in Redis
    across workers). A socket is counted until its consumer returns.
    """

    def __init__(self, app: ASGIApp, *, per_client: bool = True, says_refusals: bool = True) -> None:
        self.app = app
        self.per_client = per_client  # False: the process's cap only (Twilio's streams, rtcstream.transports.twilio)
        self.says_refusals = says_refusals  # False: a refusal is a close at once (``refusal.refuse``)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        runtime = get_runtime()
        runtime.serving()
        limit = conf.get("MAX_SOCKETS")
        if limit is not None and runtime.open_sockets >= limit:
            logger.warning("Refused a websocket: this process holds its limit of %d (MAX_SOCKETS)", limit)
            await refuse(receive, send, CloseCode.TOO_MANY_SOCKETS, says=self.says_refusals)
            return
        key = client_key(scope) if self.per_client else None
        socket = secrets.token_hex(8)
        if key is not None and not await runtime.sockets.open(key, socket):
            logger.warning("Refused a websocket from %s: it holds too many open sockets", key)
            await refuse(receive, send, CloseCode.TOO_MANY_FROM_CLIENT, says=self.says_refusals)
            return
        runtime.open_sockets += 1
        try:
            await self.app(scope, receive, send)
        finally:
            runtime.open_sockets -= 1
            if key is not None:
                await runtime.sockets.close(key, socket)
