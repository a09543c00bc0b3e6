"""Tiny handlers for the admin, endpoint and admission tests: shapes only, no media."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from rtcstream import StreamHandler


class Silence(StreamHandler):
    """A stream handler that hears everything and says nothing."""

    def receive(self, frame):
        pass

    def emit(self):
        return None

    def copy(self):
        return Silence()


class ReplyOnPause(Silence):
    """Stands in for rtcstream's ReplyOnPause: the admin recognises it by class name."""

    def copy(self):
        return ReplyOnPause()


def beeps() -> Iterator[tuple[int, np.ndarray]]:
    """A generator: server-to-client audio."""
    yield 16000, np.zeros((1, 320), dtype=np.int16)


def mirror(frame: np.ndarray) -> np.ndarray:
    """A video function."""
    return frame[:, ::-1]


HANDLERS = {
    "silence": {"handler": "tests.admin_handlers.Silence", "time_limit": 60, "concurrency_limit": 3, "label": "Quiet"},
    "pause": "tests.admin_handlers.ReplyOnPause",
    "beeps": {"handler": "tests.admin_handlers.beeps", "mode": "receive", "modality": "audio"},
    "mirror": "tests.admin_handlers.mirror",
}
# What tests wrap in override_settings(RTCSTREAM=...).
RTCSTREAM = {"HANDLERS": HANDLERS, "ICE_SERVERS": [{"urls": "stun:default.example.org"}]}
