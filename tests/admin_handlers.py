"""Tiny handlers for the admin, endpoint and admission tests: shapes only, no media."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from rtcstream import ReplyOnPause, StreamHandler


class Silence(StreamHandler):
    """A stream handler that hears everything and says nothing."""

    def receive(self, frame):
        pass

    def emit(self):
        return None

    def copy(self):
        return Silence()


def say_nothing(audio) -> Iterator[tuple[int, np.ndarray]]:
    """A ReplyOnPause reply with nothing in it."""
    yield from ()


pause = ReplyOnPause(say_nothing)  # loads no model until a session starts


def beeps() -> Iterator[tuple[int, np.ndarray]]:
    """A generator: server-to-client audio."""
    yield 16000, np.zeros((1, 320), dtype=np.int16)


def mirror(frame: np.ndarray) -> np.ndarray:
    """A video function."""
    return frame[:, ::-1]


HANDLERS = {
    "silence": {"handler": "tests.admin_handlers.Silence", "time_limit": 60, "concurrency_limit": 3, "label": "Quiet"},
    "pause": "tests.admin_handlers.pause",
    "beeps": {"handler": "tests.admin_handlers.beeps", "mode": "receive", "modality": "audio"},
    "mirror": "tests.admin_handlers.mirror",
}
# What tests wrap in override_settings(RTCSTREAM=...).
RTCSTREAM = {"HANDLERS": HANDLERS, "ICE_SERVERS": [{"urls": "stun:default.example.org"}], "TURN_MODEL": "none"}
