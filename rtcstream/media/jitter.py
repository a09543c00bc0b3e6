"""The jitter buffer for incoming audio: how long the server holds a packet before decoding it.

aiortc's own buffer (``aiortc.jitterbuffer.JitterBuffer``) has two costs for
voice turn-taking:

- it holds ``prefetch`` frames (4 by default: 80 ms) on every utterance the
  server hears, and every turn decision and barge-in pays it;
- it releases a frame only when the packets from its origin are contiguous, so
  one lost packet holds everything until 16 later packets have arrived, and
  since it releases one frame per packet added, it stays 14 frames (280 ms)
  behind for the rest of the session.

``AudioJitterBuffer`` keeps aiortc's seam (``add(packet)`` returns
``(pli_flag, frame or None)``, one frame at most per packet) with the rules a
voice receiver wants. An audio RTP packet is a whole frame (Opus, G.711), so a
frame is ready as soon as its packet is in:

- the next frame is released once ``prefetch`` later packets have arrived
  (``RTCSTREAM["AUDIO_JITTER_FRAMES"]``, 1 by default: 20 ms, enough to put a
  packet that overtook its predecessor back in order);
- a missing packet is waited for while ``prefetch`` later ones arrive, then
  given up: the hole is skipped and the frame after it is released by the same
  ``add``, so a loss costs the decoder 20 ms of audio and never adds delay;
- a packet older than what was released (it came too late) is dropped;
- a jump of ``capacity`` packets or more either way (a sender that restarted
  its sequence, a long outage) starts the buffer afterwards.

So the buffer holds at most ``prefetch + 1`` frames after each ``add``, whatever
the losses, reordering or bursts before it.
"""

from __future__ import annotations

import logging

from aiortc import RTCRtpReceiver
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtp import RtpPacket

logger = logging.getLogger("rtcstream.media")

_SEQUENCE_SPACE = 1 << 16


def _distance(sequence_number: int, origin: int) -> int:
    """How far ``sequence_number`` is ahead of ``origin`` (negative: behind), across the 16-bit wrap."""
    delta = (sequence_number - origin) % _SEQUENCE_SPACE
    return delta - _SEQUENCE_SPACE if delta >= _SEQUENCE_SPACE // 2 else delta


class AudioJitterBuffer:
    """aiortc's jitter-buffer seam for audio: bounded delay after loss and reordering (see the module)."""

    def __init__(self, prefetch: int = 1, capacity: int = 16) -> None:
        if not 0 <= prefetch < capacity:
            raise ValueError("AudioJitterBuffer needs 0 <= prefetch < capacity")
        self.prefetch = prefetch
        self.capacity = capacity
        self._next: int | None = None  # the sequence number to release next
        self._newest = 0  # how far the newest packet held is ahead of _next
        self._packets: dict[int, RtpPacket] = {}
        self.skipped = 0  # sequence numbers given up on (lost, or later than the buffer waits)
        self.late = 0  # packets that arrived after their turn and were dropped
        self.discarded = 0  # packets held when a jump restarted the buffer, dropped with it

    def __len__(self) -> int:
        return len(self._packets)

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        sequence_number = packet.sequence_number
        if self._next is None:
            self._restart(sequence_number)
        assert self._next is not None
        ahead = _distance(sequence_number, self._next)
        if ahead < 0 and -ahead < self.capacity:
            self.late += 1
            return False, None
        if abs(ahead) >= self.capacity:
            self.discarded += len(self._packets)
            self._restart(sequence_number)
            ahead = 0
        self._packets[sequence_number] = packet
        self._newest = max(self._newest, ahead)
        return False, self._release()

    def _restart(self, sequence_number: int) -> None:
        self._packets.clear()
        self._next = sequence_number
        self._newest = 0

    def _release(self) -> JitterFrame | None:
        assert self._next is not None
        if self._next not in self._packets and self._newest > self.prefetch:
            # Waited for the missing packet while `prefetch` later ones came: give it up.
            while self._next not in self._packets:
                self._advance()
                self.skipped += 1
        if self._next not in self._packets or self._newest < self.prefetch:
            return None
        packet = self._packets.pop(self._next)
        self._advance()
        return JitterFrame(data=packet._data, timestamp=packet.timestamp)  # type: ignore[attr-defined]

    def _advance(self) -> None:
        assert self._next is not None
        self._next = (self._next + 1) % _SEQUENCE_SPACE
        self._newest -= 1


def install_audio_jitter_buffer(receiver: RTCRtpReceiver, prefetch: int) -> AudioJitterBuffer | None:
    """Give ``receiver`` an ``AudioJitterBuffer``; None (and a warning) if aiortc changed its internals."""
    # A private attribute: aiortc has no API for it (checked against aiortc 1.16).
    name = "_RTCRtpReceiver__jitter_buffer"
    current = getattr(receiver, name, None)
    if current is None or not hasattr(current, "add") or getattr(current, "_is_video", True):
        logger.warning("Cannot replace aiortc's audio jitter buffer; incoming audio keeps its default delay")
        return None
    buffer = AudioJitterBuffer(prefetch=max(0, prefetch))
    setattr(receiver, name, buffer)
    return buffer
