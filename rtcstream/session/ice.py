"""ICE for the server's peer connections: configuration and trickled browser candidates."""

from __future__ import annotations

import logging
from typing import Any

from aiortc import RTCConfiguration, RTCIceCandidate, RTCIceServer, RTCIceTransportPolicy
from aiortc.sdp import candidate_from_sdp

from rtcstream.signalling.protocol import Candidate, ProtocolError

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
        raise ProtocolError("bad_candidate", "The ICE candidate could not be parsed.") from None
    if not 0 <= parsed.port <= MAX_PORT or not 0 <= (parsed.relatedPort or 0) <= MAX_PORT:
        raise ProtocolError("bad_candidate", f"The ICE candidate's port is outside 0-{MAX_PORT}.")
    parsed.sdpMid = candidate.sdp_mid
    parsed.sdpMLineIndex = candidate.sdp_mline_index
    return parsed


def ice_configuration(servers: list[dict[str, Any]], policy: str = "all") -> RTCConfiguration:
    """An aiortc configuration from ``iceServers`` dicts; ``policy`` "relay" uses TURN candidates only."""
    return RTCConfiguration(
        iceServers=[
            RTCIceServer(urls=s["urls"], username=s.get("username"), credential=s.get("credential")) for s in servers
        ],
        iceTransportPolicy=RTCIceTransportPolicy(policy),
    )
