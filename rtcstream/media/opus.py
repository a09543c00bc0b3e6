"""Opus encoding of the server's outgoing audio, done here rather than in aiortc's sender.

Given an ``av.AudioFrame``, aiortc's sender computes the frame's RFC 6465 audio
level in a pure-Python loop over every sample (~115 µs per 20 ms frame on these
machines), then hands the encoding to a thread of the loop's default executor
and waits for it to come back. Given an encoded ``av.Packet`` it only
packetizes it. ``OpusPacketEncoder`` encodes on the loop with the libopus
context of aiortc's own ``OpusEncoder`` (48 kHz stereo, 96 kb/s, ``voip``),
which takes 65-115 µs a frame, and it encodes nothing between replies: once
libopus has settled on digital silence it gives the same 3-byte packet frame
after frame, and that packet is sent again as it is. The browser decodes
exactly what it would have decoded; only the encoder skips work.

With Opus DTX (``dtx_packet``), most of that silence is not sent at all: the
output track sends the 1-byte packet that tells a decoder "discontinuous
transmission" (the settled packet's TOC byte, no frame: RFC 6716 section 3.2.1)
and then nothing until the next reply, or until 400 ms have passed, as
libopus and WebRTC's own sender do.

The packets carry no audio-level header extension (aiortc adds it only from
frames): Chromium measures the level of what it decodes itself.
"""

from __future__ import annotations

from fractions import Fraction

import av
from aiortc.codecs.opus import OpusEncoder

from rtcstream.media.audio import OUTPUT_RATE

TIME_BASE = Fraction(1, OUTPUT_RATE)


class OpusPacketEncoder:
    """Encode 20 ms frames of 48 kHz stereo s16 into Opus packets, one packet per frame."""

    def __init__(self) -> None:
        # aiortc's own libopus context, with its settings; its resampler is not needed,
        # since the output track's frames are already 20 ms of 48 kHz stereo s16.
        self._codec = OpusEncoder().codec
        self._silence: bytes | None = None  # the packet libopus settled on for digital silence
        self._previous_silence: bytes | None = None  # the packet of the last silent frame encoded
        self.frames_encoded = 0

    @property
    def settled(self) -> bool:
        """True once libopus gives the same packet for each silent frame."""
        return self._silence is not None

    def dtx_packet(self, frame: av.AudioFrame) -> av.Packet:
        """Return the DTX packet that stands for ``frame`` (silent; only once ``settled``)."""
        if self._silence is None:
            raise RuntimeError("a DTX packet is only sent once libopus has settled on silence")
        toc = self._silence[0] & 0b1111_1100  # the same configuration, code 0: one frame, here of 0 bytes
        return self._packet(bytes([toc]), frame)

    def encode(self, frame: av.AudioFrame, *, silent: bool = False) -> av.Packet:
        """Return ``frame`` as one Opus packet with its pts; ``silent``: the frame is all zeros."""
        if silent and self._silence is not None:
            data = self._silence
        else:
            packets = self._codec.encode(frame)
            if len(packets) != 1:
                raise RuntimeError(f"libopus gave {len(packets)} packets for one 20 ms frame")
            data = bytes(packets[0])
            self.frames_encoded += 1
            if not silent:
                self._silence = self._previous_silence = None
            elif data == self._previous_silence:
                self._silence = data
            else:
                self._previous_silence = data
        return self._packet(data, frame)

    @staticmethod
    def _packet(data: bytes, frame: av.AudioFrame) -> av.Packet:
        packet = av.Packet(data)
        packet.pts = frame.pts
        packet.time_base = TIME_BASE
        return packet
