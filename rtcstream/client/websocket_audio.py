"""The client's side of audio over the signalling websocket: 20 ms frames out, frames in to the sink."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from rtcstream.client.sinks import AudioSink
from rtcstream.media.audio import frame_samples
from rtcstream.media.reframe import Reframer, mono_frame
from rtcstream.transports.formats import AudioFormat


class WebsocketAudioLink:
    """Send a track's audio as frames in ``audio_format``, and record the frames the server sends.

    The track paces itself (``ArrayAudioTrack`` gives a frame every 20 ms), so
    frames leave in real time, as a microphone's would.
    """

    def __init__(
        self,
        audio_format: AudioFormat,
        send_bytes: Callable[[bytes], Awaitable[None]],
        sink: AudioSink,
        notify: Callable[[], None],
    ) -> None:
        self.format = audio_format
        self.frames_sent = 0
        self.frames_received = 0
        self._send_bytes = send_bytes
        self._sink = sink
        self._notify = notify
        self._to_wire = Reframer(audio_format.rate, audio_format.frame_samples)
        self._to_sink = Reframer(AudioSink.RATE, frame_samples(AudioSink.RATE))
        self._pts = 0

    async def send(self, track: MediaStreamTrack) -> None:
        """Send ``track``'s frames until it ends."""
        try:
            while True:
                frame = await track.recv()
                assert isinstance(frame, av.AudioFrame)
                for chunk in self._to_wire.push(frame):
                    await self._send_bytes(self.format.encode(chunk))
                    self.frames_sent += 1
        except MediaStreamError:
            return

    def received(self, payload: bytes) -> None:
        """Record one frame from the server (at 48 kHz, with its arrival time)."""
        arrived = time.monotonic()
        samples = self.format.decode(payload)
        self.frames_received += 1
        for chunk in self._to_sink.push(mono_frame(samples, self.format.rate, self._pts)):
            self._sink.frames.append((arrived, self._pts, chunk.copy()))
        self._pts += samples.size
        self._notify()
