"""The browser's ICE candidates: parsed, and checked before the server sends ICE checks to them.

A client names the addresses the server's ICE agent then sends STUN checks
to: trickled in ``candidate`` messages, or written into its offer. The server
never sends them to a multicast, broadcast, reserved or unspecified address,
and a site may refuse private or public ranges, or networks of its own
(``RTCSTREAM["REFUSED_CANDIDATE_ADDRESSES"]``; docs/security.md). A host name
(a browser's mDNS ``.local`` name) is resolved by aioice, on the local link only.
"""

from __future__ import annotations

import ipaddress
import logging

from aiortc import RTCIceCandidate
from aiortc.sdp import candidate_from_sdp

from rtcstream import conf
from rtcstream.reasons import MessageError
from rtcstream.signalling.protocol import Candidate, ProtocolError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
RANGES = ("private", "public")  # the words REFUSED_CANDIDATE_ADDRESSES takes besides networks

logger = logging.getLogger("rtcstream.session")

MAX_PORT = 65535


def describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def parse_candidate(candidate: Candidate) -> RTCIceCandidate | None:
    """Parse a browser's ``candidate:...`` line; None is the end of candidates."""
    if candidate.candidate is None:
        return None
    text = candidate.candidate
    try:
        parsed = candidate_from_sdp(text[len("candidate:") :] if text.startswith("candidate:") else text)
    except Exception as exc:
        logger.info("Refused an ICE candidate that could not be parsed: %s", describe(exc))
        raise ProtocolError(MessageError.BAD_CANDIDATE, "The ICE candidate could not be parsed.") from None
    if not 0 <= parsed.port <= MAX_PORT or not 0 <= (parsed.relatedPort or 0) <= MAX_PORT:
        raise ProtocolError(MessageError.BAD_CANDIDATE, f"The ICE candidate's port is outside 0-{MAX_PORT}.")
    why = refusal(parsed.ip)
    if why is not None:
        raise ProtocolError(MessageError.BAD_CANDIDATE, f"The server sends no ICE checks to {why}.")
    parsed.sdpMid = candidate.sdp_mid
    parsed.sdpMLineIndex = candidate.sdp_mline_index
    return parsed


def refusal(address: str) -> str | None:
    """Why the server will not send ICE checks to ``address`` (a phrase), or None if it will."""
    try:
        ip: IPAddress = ipaddress.ip_address(address)
    except ValueError:
        return None  # a host name: an mDNS .local name, resolved on the local link
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_unspecified:
        return "an unspecified address"
    if isinstance(ip, ipaddress.IPv4Address) and ip.is_reserved:
        return "a broadcast or reserved address"
    for rule in conf.get("REFUSED_CANDIDATE_ADDRESSES"):
        if rule == "private" and not ip.is_global:
            return "a private address (this site refuses them)"
        if rule == "public" and ip.is_global:
            return "a public address (this site refuses them)"
        if rule not in RANGES and ip in ipaddress.ip_network(rule, strict=False):
            return f"an address in {rule} (this site refuses it)"
    return None


def refused_addresses_problems(value: object) -> list[str]:
    """What is wrong with a ``REFUSED_CANDIDATE_ADDRESSES`` setting (empty when it is usable)."""
    if not isinstance(value, (list, tuple)):
        return ['RTCSTREAM["REFUSED_CANDIDATE_ADDRESSES"] must be a list of "private", "public" or networks.']
    problems = []
    for rule in value:
        if rule in RANGES:
            continue
        try:
            ipaddress.ip_network(str(rule), strict=False)
        except ValueError:
            problems.append(
                f'RTCSTREAM["REFUSED_CANDIDATE_ADDRESSES"]: {rule!r} is neither "private", "public" nor a network.'
            )
    return problems
