"""Settings for ``bench/playout.py``: the demo site, with its "echo" page playing tone bursts.

The demo's stream-handler page renders ``{% webrtc "echo" %}``; here that entry
is ``Bursts``, which plays a 0.4 s tone every 1.5 s whatever it hears and
writes when it released each burst (wall clock) to ``BENCH_RELEASES``.
``BENCH_IDLE_FRAMES`` and ``BENCH_DTX`` (1 or 0) set ``AUDIO_IDLE_FRAMES`` and ``AUDIO_DTX``.
"""

from __future__ import annotations

import json
import os
import time

import numpy as np

from rtcstream import StreamHandler
from tests.settings import *  # noqa: F403
from tests.settings import RTCSTREAM

BURST_SECONDS = 0.4
PERIOD_SECONDS = 1.5
FREQUENCY = 440.0


class Bursts(StreamHandler):
    """A 0.4 s tone every 1.5 s; each release is logged as one JSON line."""

    def __init__(self) -> None:
        super().__init__()
        self.next_at: float | None = None
        self.count = 0
        t = np.arange(int(48000 * BURST_SECONDS)) / 48000
        self.burst = (np.sin(2 * np.pi * FREQUENCY * t) * 12000).astype(np.int16).reshape(1, -1)

    def receive(self, frame: tuple[int, np.ndarray]) -> None:
        pass

    def emit(self) -> tuple[int, np.ndarray] | None:
        now = time.time()
        if self.next_at is None:
            self.next_at = now + 2.0  # let the connection settle first
        if now < self.next_at:
            return None
        self.next_at += PERIOD_SECONDS
        self.count += 1
        with open(os.environ["BENCH_RELEASES"], "a") as log:
            log.write(json.dumps({"burst": self.count, "released": now}) + "\n")
        return (48000, self.burst)

    def copy(self) -> Bursts:
        return Bursts()


RTCSTREAM = {
    **RTCSTREAM,
    "HANDLERS": {**RTCSTREAM["HANDLERS"], "echo": "bench.playout_site.Bursts"},
    "AUDIO_IDLE_FRAMES": os.environ.get("BENCH_IDLE_FRAMES", "1") == "1",
    "AUDIO_DTX": os.environ.get("BENCH_DTX", "1") == "1",
}
