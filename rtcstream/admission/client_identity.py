"""Who a websocket comes from: its user, or its address.

The client is the peer address of the connection, or, when that peer is one of
``RTCSTREAM["TRUSTED_PROXIES"]``, the address that proxy wrote into
``X-Forwarded-For``. Headers from anyone else are ignored: they can say anything.

The cap (``RTCSTREAM["MAX_SOCKETS_PER_CLIENT"]``) counts signalling and outputs
sockets alike. A logged-in user is counted as that user, not by address, so an
office of staff behind one NAT address is never locked out by its neighbours;
anonymous sockets are counted by address (``rtcstream.admission.socket_counts`` counts them).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from rtcstream import conf

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def trusted_proxies() -> tuple[Network, ...]:
    """The networks of ``TRUSTED_PROXIES`` (parsed each time: a few microseconds a connection)."""
    return tuple(ipaddress.ip_network(p, strict=False) for p in conf.get("TRUSTED_PROXIES"))


def _is_trusted(address: str, networks: Iterable[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def _forwarded_for(scope: dict[str, Any]) -> list[str]:
    hops: list[str] = []
    for name, value in scope.get("headers", []):
        if name.lower() == b"x-forwarded-for":
            hops += [hop.strip() for hop in value.decode("latin1").split(",") if hop.strip()]
    return hops


def client_host(scope: dict[str, Any]) -> str | None:
    """The address of the client behind this connection, or None (in-process tests)."""
    client = scope.get("client")
    if not client:
        return None
    host = str(client[0])
    networks = trusted_proxies()
    if not networks or not _is_trusted(host, networks):
        return host
    # Walk the chain from the nearest hop: the first address no trusted proxy vouches for is the client.
    for hop in reversed(_forwarded_for(scope)):
        if not _is_trusted(hop, networks):
            return hop
        host = hop
    return host


def client_network(host: str) -> str:
    """The address, or network, an anonymous client is counted as.

    An IPv6 address by its ``CLIENT_IPV6_PREFIX`` network (a /64 is one
    subscriber's: its owner can use any of its 2**64 addresses), an IPv4 one by
    its ``CLIENT_IPV4_PREFIX`` network (32: the address itself). An IPv4 address
    written as IPv6 (``::ffff:192.0.2.1``) counts as IPv4.
    """
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = conf.get("CLIENT_IPV6_PREFIX") if ip.version == 6 else conf.get("CLIENT_IPV4_PREFIX")
    if prefix >= ip.max_prefixlen:
        return str(ip)
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def client_key(scope: dict[str, Any]) -> str | None:
    """What the per-client cap counts this connection as: its user if logged in, else its address or network."""
    user = scope.get("user")
    if user is not None and getattr(user, "is_authenticated", False):
        return f"user:{user.pk}"
    host = client_host(scope)
    return None if host is None else f"address:{client_network(host)}"
