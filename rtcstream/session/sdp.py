"""What rtcstream reads and writes in SDP beyond aiortc: checks on an offer made
before any slot is held (what DTLS and ICE need, values in range: aiortc would
otherwise accept such an offer and fail later, in a task, with the session's slot
taken), the answer's request for Opus DTX, and the codec it settled on."""

from __future__ import annotations

import logging

from aiortc.sdp import DIRECTIONS, SessionDescription

from rtcstream.reasons import Refusal
from rtcstream.session.candidates import MAX_PORT, refusal
from rtcstream.signalling.protocol import ProtocolError

logger = logging.getLogger("rtcstream.session")

MAX_MEDIA_SECTIONS = 16


def _bad(message: str) -> ProtocolError:
    return ProtocolError(Refusal.BAD_SDP, message)


def check_offer(sdp: str) -> None:
    """Raise ``ProtocolError("bad_sdp")`` unless ``sdp`` is an offer the server can answer.

    The messages name what is wrong in the client's own SDP; parser internals go to the log only.
    """
    try:
        description = SessionDescription.parse(sdp)
    except Exception as exc:  # aiortc's parser raises whatever its int() or split() raised
        logger.info("Refused an offer whose SDP could not be parsed: %s: %s", type(exc).__name__, exc)
        raise _bad("The offer's SDP could not be parsed.") from None
    if not description.media:
        raise _bad("The offer has no media section (m=).")
    if len(description.media) > MAX_MEDIA_SECTIONS:
        raise _bad(f"The offer has more than {MAX_MEDIA_SECTIONS} media sections.")
    for index, media in enumerate(description.media):
        where = f"media section {index} (m={media.kind})"
        ports = [media.port, media.rtcp_port or 0, media.sctp_port or 0]
        for candidate in media.ice_candidates:
            ports += [candidate.port, candidate.relatedPort or 0]
            why = refusal(candidate.ip)
            if why is not None:
                raise _bad(f"The offer's {where} has an ICE candidate the server sends no checks to: {why}.")
        if any(not 0 <= port <= MAX_PORT for port in ports):
            raise _bad(f"The offer's {where} has a port outside 0-{MAX_PORT}.")
        if media.port == 0:
            continue  # a rejected section needs nothing more
        if media.dtls is None or not media.dtls.fingerprints:
            raise _bad(f"The offer's {where} lacks a DTLS fingerprint (a=fingerprint).")
        if media.ice is None or not media.ice.usernameFragment or not media.ice.password:
            raise _bad(f"The offer's {where} lacks ICE credentials (a=ice-ufrag and a=ice-pwd).")
        if media.kind in ("audio", "video") and media.direction not in DIRECTIONS:
            raise _bad(f"The offer's {where} has no direction (a=sendrecv, a=sendonly, a=recvonly or a=inactive).")


def ask_for_opus_dtx(answer: str) -> str:
    """Return ``answer`` with ``usedtx=1`` on its Opus codecs (RFC 7587): the browser then
    sends a packet every 400 ms during silence instead of 50 a second.

    aiortc has no way to put a parameter on a codec it answers with (its
    ``setCodecPreferences`` accepts only its capabilities as they are), so the
    answer it wrote is parsed, changed and written again; its own writer
    round-trips its own SDP exactly.
    """
    description = SessionDescription.parse(answer)
    for media in description.media:
        for codec in media.rtp.codecs:
            if codec.mimeType.lower() == "audio/opus":
                codec.parameters["usedtx"] = 1
    return str(description)


def asks_for_opus_dtx(answer: str) -> bool:
    """Whether ``answer`` asks the other side for Opus DTX, as a browser reads it."""
    return any(
        codec.mimeType.lower() == "audio/opus" and str(codec.parameters.get("usedtx")) == "1"
        for media in SessionDescription.parse(answer).media
        for codec in media.rtp.codecs
    )


def first_codec(answer: str, mid: str | None) -> str | None:
    """The MIME type (lower case) an answer's media section ``mid`` sends with: its first codec."""
    for media in SessionDescription.parse(answer).media:
        if media.rtp.muxId == mid and media.rtp.codecs:
            return media.rtp.codecs[0].mimeType.lower()
    return None
