"""Capability tokens for the outputs socket.

The signalling socket hands its page a signed token naming the session and the
user who opened it; the outputs socket serves only that session, and only to
that user. The check needs no database, so it holds when the two sockets land
in different processes.
"""

from __future__ import annotations

from typing import Any

from django.core import signing

SALT = "rtcstream.outputs"
MAX_AGE = 24 * 3600


def _user_key(user: Any) -> int | str | None:
    return user.pk if getattr(user, "is_authenticated", False) else None


def make_outputs_token(session_id: str, user: Any) -> str:
    return signing.dumps({"s": session_id, "u": _user_key(user)}, salt=SALT, compress=False)


def read_outputs_token(token: str, user: Any) -> str | None:
    """Return the session id if ``token`` is valid and was issued to ``user``; else None."""
    try:
        data = signing.loads(token, salt=SALT, max_age=MAX_AGE)
    except signing.BadSignature:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("s"), str):
        return None
    if data.get("u") is not None and data["u"] != _user_key(user):
        return None
    return data["s"]
