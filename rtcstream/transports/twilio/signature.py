"""Twilio's request signature (``X-Twilio-Signature``): HMAC-SHA1 of the URL and the POST
parameters with the account's auth token, base64-encoded."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

DEFAULT_PORTS = {"https": 443, "http": 80}


def compute_signature(auth_token: str, url: str, params: Mapping[str, Any]) -> str:
    """The signature Twilio sends for a request to ``url`` with the form ``params``.

    The URL, then each parameter name followed by its value, names sorted (a
    name given several values: each distinct value, sorted).
    """
    data = url
    for name in sorted(params):
        values = params.getlist(name) if hasattr(params, "getlist") else [params[name]]
        for value in sorted(set(map(str, values))):
            data += name + value
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _with_and_without_port(url: str) -> list[str]:
    """``url``, and the same URL with its scheme's default port written out or left out.

    Twilio signs the URL as it was configured, which may or may not name the port;
    the server sees its own idea of it.
    """
    parts = urlsplit(url)
    default = DEFAULT_PORTS.get(parts.scheme)
    if default is None or parts.hostname is None:
        return [url]
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    userinfo = parts.netloc.rpartition("@")[0]
    prefix = f"{userinfo}@" if userinfo else ""
    if parts.port is None:
        other = parts._replace(netloc=f"{prefix}{host}:{default}")
    elif parts.port == default:
        other = parts._replace(netloc=f"{prefix}{host}")
    else:
        return [url]
    return [url, urlunsplit(other)]


def valid_signature(auth_token: str, url: str, params: Mapping[str, Any], signature: str) -> bool:
    """Whether ``signature`` is Twilio's for this request (compared in constant time)."""
    if not signature:
        return False
    return any(
        hmac.compare_digest(compute_signature(auth_token, candidate, params).encode(), signature.encode())
        for candidate in _with_and_without_port(url)
    )
