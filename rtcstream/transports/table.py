"""The ways a session's media travels: one row per transport, read by the session, the
signalling consumer (which transports a page may ask for) and the docs.

A new transport is a row here and a class that implements
``rtcstream.transports.base.MediaTransport``.
"""

from __future__ import annotations

from dataclasses import dataclass

from rtcstream.transports.formats import BROWSER_FORMATS, MULAW_8K, AudioFormat

AUDIO_ONLY = frozenset({("send-receive", "audio"), ("send", "audio")})


@dataclass(frozen=True)
class TransportKind:
    name: str  # what the ``session`` message lists and the logs say
    label: str
    serves: frozenset[tuple[str, str]]  # (mode, modality) pairs it can carry; None of the others
    formats: tuple[AudioFormat, ...]  # the audio formats on the wire; empty: negotiated in the SDP
    idle_audio: bool  # whether the server sends silence between replies (AUDIO_IDLE_FRAMES applies)
    audio_lead: float  # seconds of each reply sent at once, ahead of real time (the far end buffers them)
    requested_by: str  # what the client sends to use it

    def can_serve(self, mode: str, modality: str) -> bool:
        return (mode, modality) in self.serves

    def __str__(self) -> str:
        return self.name


WEBRTC = TransportKind(
    "webrtc",
    "WebRTC (aiortc)",
    frozenset({(mode, modality) for mode in ("send-receive", "send", "receive") for modality in ("audio", "video")}),
    (),
    idle_audio=True,
    audio_lead=0.0,  # the browser's jitter buffer sizes itself to the RTP stream
    requested_by="an 'offer' message",
)
# Frames only go out when there is something to hear: a page or a phone plays what arrives, and holds
# the lead ahead, so a frame a little late on the way (TCP, the internet) leaves no gap.
WEBSOCKET = TransportKind(
    "websocket",
    "audio over the signalling websocket",
    AUDIO_ONLY,
    BROWSER_FORMATS,
    idle_audio=False,
    audio_lead=0.1,
    requested_by="a 'media' message",
)
TWILIO = TransportKind(
    "twilio",
    "a Twilio Media Streams phone call",
    AUDIO_ONLY,
    (MULAW_8K,),
    idle_audio=False,
    audio_lead=0.1,
    requested_by="Twilio's 'start' message",
)
TRANSPORTS: tuple[TransportKind, ...] = (WEBRTC, WEBSOCKET, TWILIO)
# The transports a page may ask for on its signalling socket.
PAGE_TRANSPORTS: tuple[TransportKind, ...] = (WEBRTC, WEBSOCKET)


def page_transports(mode: str, modality: str) -> list[str]:
    """The transports a page may ask for on a session of this mode and modality (the ``session`` message)."""
    from rtcstream import conf

    offered = [kind for kind in PAGE_TRANSPORTS if kind.can_serve(mode, modality)]
    return [kind.name for kind in offered if kind is not WEBSOCKET or conf.get("WEBSOCKET_AUDIO")]
