"""What ``get_stt_model`` and ``get_tts_model`` share: one model of each per process, and the error for
an engine rtcstream does not have or cannot run here."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class SpeechModelUnavailable(RuntimeError):
    """The engine asked for is not one rtcstream has, or what it needs is not installed; the message says which."""


def shared_model(kind: str, asked: str, ours: str, build: Callable[[], T], *, theirs: str, methods: str) -> T:
    """The process's ``ours`` model of ``kind``, built on first use and shared by every session (``Runtime.models``,
    as the VAD's); ``SpeechModelUnavailable`` when ``asked`` names another (``theirs``: FastRTC's, which download)."""
    if asked != ours:
        raise SpeechModelUnavailable(
            f"rtcstream has no {kind} model {asked!r}: it serves {ours!r}, which needs no download ({theirs} "
            f"downloads its model at first use). For another engine, call anything with {methods}."
        )
    from rtcstream.runtime import get_runtime

    return get_runtime().models.get(f"{kind}:{ours}", build)
