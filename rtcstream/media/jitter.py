"""How long the server holds incoming audio before decoding it.

aiortc releases an audio frame only once ``prefetch`` later frames have
arrived: 4 by default, a fixed 80 ms on every utterance the server hears.
Voice turn-taking pays that on every reply and every barge-in, and on a LAN
or a decent link audio packets rarely arrive out of order, so rtcstream keeps
``RTCSTREAM["AUDIO_JITTER_FRAMES"]`` (1 by default: 20 ms) instead.
"""

from __future__ import annotations

import logging

from aiortc import RTCRtpReceiver

logger = logging.getLogger("rtcstream.media")


def set_audio_prefetch(receiver: RTCRtpReceiver, frames: int) -> bool:
    """Make ``receiver`` release audio after ``frames`` later frames; False if aiortc changed its internals."""
    # A private attribute: aiortc has no API for it (checked against aiortc 1.16).
    buffer = getattr(receiver, "_RTCRtpReceiver__jitter_buffer", None)
    if buffer is None or not hasattr(buffer, "_prefetch") or getattr(buffer, "_is_video", True):
        logger.warning("Cannot tune aiortc's audio jitter buffer; incoming audio keeps its default delay")
        return False
    buffer._prefetch = max(0, frames)
    return True
