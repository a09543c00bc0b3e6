"""ICE for the server's peer connections: configuration and trickled browser candidates."""

from __future__ import annotations

from typing import Any

from aiortc import RTCConfiguration, RTCIceCandidate, RTCIceServer
from aiortc.sdp import candidate_from_sdp

from .protocol import Candidate, ProtocolError


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
        raise ProtocolError("bad_candidate", f"The ICE candidate could not be parsed: {describe(exc)}.") from None
    parsed.sdpMid = candidate.sdp_mid
    parsed.sdpMLineIndex = candidate.sdp_mline_index
    return parsed


def ice_configuration(servers: list[dict[str, Any]]) -> RTCConfiguration:
    return RTCConfiguration(
        iceServers=[
            RTCIceServer(urls=s["urls"], username=s.get("username"), credential=s.get("credential")) for s in servers
        ]
    )
