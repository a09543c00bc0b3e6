"""A real offer's SDP, for tests that send offers by hand (hostile input, lifecycle races, the memory bench)."""

from __future__ import annotations

from aiortc import RTCPeerConnection

from rtcstream.client import ArrayAudioTrack
from tests.handlers import tone


async def audio_offer_sdp() -> str:
    """A browser-like audio offer; its peer connection is closed at once: only the text is used."""
    pc = RTCPeerConnection()
    pc.addTrack(ArrayAudioTrack(tone(440, 1, 48000)))
    await pc.setLocalDescription(await pc.createOffer())
    sdp = pc.localDescription.sdp
    await pc.close()
    return sdp
