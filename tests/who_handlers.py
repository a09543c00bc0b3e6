"""Handlers of every kind that report whom their session serves (tests/test_session_info.py).

Each reports, as an output, what ``rtcstream.current_session()`` says from the
call it is in, and on which kind of thread that call ran.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import numpy as np

from rtcstream import AdditionalOutputs, AsyncStreamHandler, StreamHandler, current_session
from rtcstream.handlers.reply_on_pause import ReplyOnPause
from rtcstream.runtime import get_runtime


def where() -> str:
    """ "pool" on one of the worker pool's threads (named after the pool), "loop" anywhere else."""
    return "pool" if threading.current_thread().name.startswith(f"{get_runtime().pool.name}_") else "loop"


def who(call: str) -> dict[str, Any]:
    """What the current session says, from ``call``, as JSON."""
    info = current_session()
    row = info.endpoint_row
    return {
        "call": call,
        "thread": where(),
        "session": info.session_id,
        "user": info.username,
        "authenticated": info.is_authenticated,
        "user_matches": info.is_authenticated == bool(getattr(info.user, "is_authenticated", False)),
        "groups": sorted(info.groups),
        "color": info.django_session.get("color") if info.django_session is not None else None,
        "endpoint": info.endpoint.slug,
        "row": row.slug if row is not None else None,
    }


class WhoHandler(StreamHandler):
    """Sync: reports from start_up, receive and emit (all in the pool), and from self.session_info."""

    def __init__(self) -> None:
        super().__init__()
        self.pending: list[AdditionalOutputs] = []
        self.heard = False
        self.lock = threading.Lock()

    def start_up(self):
        assert self.session_info == current_session()
        with self.lock:
            self.pending.append(AdditionalOutputs(who("start_up")))

    def receive(self, frame):
        if not self.heard:
            self.heard = True
            with self.lock:
                self.pending.append(AdditionalOutputs(who("receive")))

    def emit(self):
        with self.lock:
            if self.pending:
                return self.pending.pop(0)
        if self.heard and not getattr(self, "emitted", False):
            self.emitted = True
            return AdditionalOutputs(who("emit"))
        return None

    def copy(self):
        return WhoHandler()


class AsyncWhoHandler(AsyncStreamHandler):
    """Async: reports from start_up and emit, on the loop; its user is self.user."""

    reported = False  # set on the instance by its first emit

    async def start_up(self):
        self.send_message("who", **who("start_up"), self_user=getattr(self.user, "username", ""))

    async def receive(self, frame):
        pass

    async def emit(self):
        if self.reported:
            return None
        self.reported = True
        return AdditionalOutputs(who("emit"))

    def copy(self):
        return AsyncWhoHandler()


def who_reply(audio) -> Iterator[Any]:
    """ReplyOnPause: each next() runs in the pool."""
    yield AdditionalOutputs(who("reply"))


def who_greeting() -> Iterator[Any]:
    yield AdditionalOutputs(who("startup_fn"))


who_reply_on_pause = ReplyOnPause(who_reply, startup_fn=who_greeting)


def who_generator() -> Iterator[Any]:
    """Receive mode: reports, then plays 0.2 s of silence and ends."""
    yield AdditionalOutputs(who("generator"))
    yield 16000, np.zeros((1, 3200), dtype=np.int16)


def who_video(frame: np.ndarray) -> Any:
    """A video function: reports once per frame along with the frame."""
    return frame, AdditionalOutputs(who("video"))


def who_hook(*values: Any) -> list[Any]:
    """on_additional_outputs: runs on the loop, in the session's context too."""
    return [*values, who("hook")["session"]]
