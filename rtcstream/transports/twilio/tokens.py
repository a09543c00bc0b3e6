"""The token in a phone call's stream URL: signed, short-lived, and good for one socket.

The incoming-call webhook (``views``) is the only place that makes one, after
checking Twilio's signature; it names the endpoint and the call. The stream
socket that presents it must be the first to do so (recorded in a Django
cache, ``TWILIO_TOKEN_CACHE``) within ``TWILIO_TOKEN_MAX_AGE`` seconds, and
Twilio's ``start`` message must name the same call.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.core import signing
from django.core.cache import caches

from rtcstream import conf

SALT = "rtcstream.twilio.stream"


@dataclass(frozen=True)
class StreamGrant:
    """What a valid token allows: one stream socket, for ``call_sid``, on ``endpoint``."""

    endpoint: str
    call_sid: str
    nonce: str


def make_stream_token(endpoint: str, call_sid: str) -> str:
    return signing.dumps({"e": endpoint, "c": call_sid, "n": secrets.token_urlsafe(16)}, salt=SALT, compress=False)


def read_stream_token(token: str, endpoint: str) -> StreamGrant | None:
    """The grant ``token`` carries, if it is valid, fresh, and for ``endpoint``; else None."""
    try:
        data = signing.loads(token, salt=SALT, max_age=conf.get("TWILIO_TOKEN_MAX_AGE"))
    except signing.BadSignature:  # includes SignatureExpired
        return None
    if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in "ecn"):
        return None
    if data["e"] != endpoint:
        return None
    return StreamGrant(endpoint=data["e"], call_sid=data["c"], nonce=data["n"])


async def claim(grant: StreamGrant) -> bool:
    """Record ``grant`` as used; False if a socket used it already."""
    cache = caches[conf.get("TWILIO_TOKEN_CACHE")]
    # add() stores only if the key is absent: atomic on the shared caches (Redis, Memcached, database).
    return bool(await cache.aadd(f"rtcstream:twilio:{grant.nonce}", 1, timeout=conf.get("TWILIO_TOKEN_MAX_AGE") + 5))
