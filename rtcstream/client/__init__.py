"""A Python client that speaks rtcstream's protocol with aiortc.

It connects to a running server (``"http://127.0.0.1:8000"``) or to an ASGI
application in the same process, sends audio and video from arrays or files,
and records what comes back: tracks, events and outputs. The test suite and the
benchmarks use it; so can bots::

    async with await RtcClient.connect("http://127.0.0.1:8000", "echo") as client:
        await client.start(audio=ArrayAudioTrack(tone, 48000))
        await client.wait_for_audio(seconds=1.0)
"""

from rtcstream.client.errors import DEFAULT_TIMEOUT, RtcError
from rtcstream.client.reconnect import Backoff, Reconnecting
from rtcstream.client.session import RtcClient
from rtcstream.client.sinks import AudioSink, VideoSink
from rtcstream.client.sources import ArrayAudioTrack, ArrayVideoTrack, read_audio_file
from rtcstream.client.transports import CommunicatorTransport, Transport, WebsocketTransport

__all__ = [
    "DEFAULT_TIMEOUT",
    "ArrayAudioTrack",
    "ArrayVideoTrack",
    "AudioSink",
    "Backoff",
    "CommunicatorTransport",
    "Reconnecting",
    "RtcClient",
    "RtcError",
    "Transport",
    "VideoSink",
    "WebsocketTransport",
    "read_audio_file",
]
