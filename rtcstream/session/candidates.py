"""The browser's ICE candidates: parsed, and checked before the server sends checks to them."""

from __future__ import annotations

import logging

from aiortc import RTCIceCandidate
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
