"""Audio demos: reply on pause, a stream handler echo, and server-to-client audio."""

from __future__ import annotations

from collections.abc import Iterator
from queue import Queue

import numpy as np

from rtcstream import ReplyOnPause, StreamHandler

AudioChunk = tuple[int, np.ndarray]


def echo(audio: AudioChunk) -> Iterator[AudioChunk]:
    """Reply with the user's own utterance, in half-second chunks (ReplyOnPause calls this)."""
    rate, samples = audio
    step = rate // 2
    for start in range(0, samples.shape[-1], step):
        yield rate, samples[:, start : start + step]


class EchoHandler(StreamHandler):
    """Send back every frame it receives: the user guide's StreamHandler example.

    ``emit`` blocks in ``queue.get()`` until ``receive`` has put a frame: rtcstream
    runs the two at the same time, as gradio-webrtc does. The guide's queue is
    unbounded; this one holds one second of 20 ms frames.
    """

    def __init__(self) -> None:
        super().__init__()
        self.queue: Queue[AudioChunk] = Queue(maxsize=50)

    def receive(self, frame: AudioChunk) -> None:
        self.queue.put(frame)

    def emit(self) -> AudioChunk:
        return self.queue.get()

    def copy(self) -> EchoHandler:
        return EchoHandler()


RATE = 24000


def chirp(low: float, high: float, seconds: float, rate: int = RATE) -> np.ndarray:
    """Return a (1, n) int16 sweep from ``low`` to ``high`` Hz with soft edges."""
    t = np.arange(int(seconds * rate)) / rate
    phase = 2 * np.pi * (low * t + (high - low) * t**2 / (2 * seconds))
    fade = np.minimum(1.0, np.minimum(t, seconds - t) / 0.02)  # 20 ms ramps: no clicks
    return (np.sin(phase) * fade * 0.4 * 32767).astype(np.int16).reshape(1, -1)


def generate(num_steps: float = 5) -> Iterator[AudioChunk]:
    """Server-to-client audio: ``num_steps`` rising chirps, each a step up the scale."""
    steps = max(1, min(int(num_steps), 20))
    gap = np.zeros((1, RATE // 8), dtype=np.int16)
    for step in range(steps):
        base = 220.0 * 2 ** (step / 4)  # minor thirds up
        yield RATE, chirp(base, base * 1.5, 0.45)
        yield RATE, gap


reply_echo = ReplyOnPause(echo)  # loads no model until a session starts
