"""TURN: credentials minted per session, and the ICE servers each session's two peers use.

``RTCSTREAM["TURN"] = {"urls": ["turn:turn.example.org:3478"], "secret": "...", "ttl": 3600}``
uses coturn's REST API scheme (``turnserver --use-auth-secret --static-auth-secret=...``):
the username is ``"<expiry unix time>:<session id>"`` and the password is
``base64(HMAC-SHA1(secret, username))``, so the TURN server checks them with
the shared secret alone, and they stop working ``ttl`` seconds after the
session opened. The secret itself never leaves the server.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from rtcstream import conf

DEFAULT_TTL = 3600
# "testserver" is the host of Django's test client (the test runner adds it to ALLOWED_HOSTS).
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]", "::1", ".localhost", "testserver"})


@dataclass(frozen=True)
class TurnConfig:
    urls: tuple[str, ...]
    secret: str
    ttl: int


def config_problems(value: Any) -> list[str]:
    """What is wrong with a ``RTCSTREAM["TURN"]`` value (empty when it is usable or None)."""
    if value is None:
        return []
    if not isinstance(value, dict):
        return ['RTCSTREAM["TURN"] must be a dict {"urls": [...], "secret": ..., "ttl": seconds}, or None.']
    problems = []
    urls = value.get("urls")
    if isinstance(urls, str):
        urls = [urls]
    if not urls or not all(isinstance(u, str) and u.startswith(("turn:", "turns:")) for u in urls):
        problems.append('RTCSTREAM["TURN"]["urls"] must list turn: or turns: URLs.')
    if not isinstance(value.get("secret"), str) or not value["secret"]:
        problems.append('RTCSTREAM["TURN"]["secret"] must be the TURN server\'s static-auth-secret (a string).')
    ttl = value.get("ttl", DEFAULT_TTL)
    if not isinstance(ttl, int) or isinstance(ttl, bool) or ttl <= 0:
        problems.append('RTCSTREAM["TURN"]["ttl"] must be a positive number of seconds.')
    unknown = sorted(set(value) - {"urls", "secret", "ttl"})
    if unknown:
        problems.append(f'RTCSTREAM["TURN"] has unknown keys: {", ".join(unknown)}.')
    return problems


def get_config() -> TurnConfig | None:
    """The TURN setting, or None when there is none (or it is unusable: the system check says why)."""
    value = conf.get("TURN")
    if value is None or config_problems(value):
        return None
    urls = value["urls"]
    return TurnConfig(
        urls=(urls,) if isinstance(urls, str) else tuple(urls),
        secret=value["secret"],
        ttl=value.get("ttl", DEFAULT_TTL),
    )


def mint(secret: str, name: str, ttl: int, now: float | None = None) -> tuple[str, str]:
    """Return a (username, credential) pair valid for ``ttl`` seconds from ``now``."""
    expiry = int(now if now is not None else time.time()) + ttl
    username = f"{expiry}:{name}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


def session_ice_servers(servers: list[dict[str, Any]], session_id: str) -> list[dict[str, Any]]:
    """``servers`` (the endpoint's or ``ICE_SERVERS``) plus the TURN setting with fresh credentials."""
    turn = get_config()
    if turn is None:
        return list(servers)
    username, credential = mint(turn.secret, session_id, turn.ttl)
    return [*servers, {"urls": list(turn.urls), "username": username, "credential": credential}]


def has_turn(servers: list[dict[str, Any]]) -> bool:
    """Whether any of ``servers`` is a TURN server."""
    for server in servers:
        urls = server.get("urls")
        for url in [urls] if isinstance(urls, str) else urls or []:
            if isinstance(url, str) and url.startswith(("turn:", "turns:")):
                return True
    return False


def served_from_loopback() -> bool:
    """Whether ``ALLOWED_HOSTS`` names only this machine (so every visitor is on it, or on its LAN)."""
    return all(host in LOOPBACK_HOSTS for host in settings.ALLOWED_HOSTS)
