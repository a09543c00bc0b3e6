"""The private parts of aiortc and of CPython that rtcstream relies on, each checked at start-up.

aiortc has no API for what these give (its receiver's jitter buffer, the queue of
decoded frames, its Opus context), and CPython none for running a hook before
non-daemon threads are joined or for finding what a thread waits on. aiortc is
pinned to the minor series these were written for (pyproject.toml); if an upgrade
moves one, ``manage.py check`` (and daphne's first request) fails naming it,
rather than a feature stopping without a word.
"""

from __future__ import annotations

import inspect
import queue
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from django.core import checks


@dataclass(frozen=True)
class Hook:
    name: str  # the private attribute
    used_by: str  # what stops working without it
    probe: Callable[[], str | None]  # None when it is there, else what is wrong


def _remote_track_queue() -> str | None:
    from aiortc.rtcrtpreceiver import RemoteStreamTrack

    track = RemoteStreamTrack(kind="audio")
    found = getattr(track, "_queue", None)
    return None if hasattr(found, "qsize") and hasattr(found, "get_nowait") else "not an asyncio.Queue"


def _receiver_jitter_buffer() -> str | None:
    from aiortc.jitterbuffer import JitterBuffer
    from aiortc.rtcrtpreceiver import RTCRtpReceiver

    receiver = RTCRtpReceiver("audio", SimpleNamespace(state="new"))  # type: ignore[arg-type]
    found = getattr(receiver, "_RTCRtpReceiver__jitter_buffer", None)
    return None if isinstance(found, JitterBuffer) and found._is_video is False else "missing"


def _packet_data() -> str | None:
    from aiortc.rtcrtpreceiver import RTCRtpReceiver

    source = inspect.getsource(RTCRtpReceiver._handle_rtp_packet)
    return None if "packet._data = depayload(" in source else "the receiver no longer sets packet._data"


def _opus_codec() -> str | None:
    from aiortc.codecs.opus import OpusEncoder

    codec = getattr(OpusEncoder(), "codec", None)
    return None if getattr(codec, "name", None) == "libopus" else "missing"


def _register_atexit() -> str | None:
    return None if callable(getattr(threading, "_register_atexit", None)) else "missing"


def _queue_wait_frames() -> str | None:
    from rtcstream.execution.wake import blocked_queue

    inbox: queue.Queue[Any] = queue.Queue()
    thread = threading.Thread(target=inbox.get, daemon=True, name="rtcstream-hook-probe")
    thread.start()
    try:
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            if blocked_queue(thread.ident or 0) == (inbox, True):
                return None
            time.sleep(0.005)
        return "a thread blocked in queue.Queue.get() is not recognised"
    finally:
        inbox.put(None)
        thread.join(timeout=2.0)


HOOKS = (
    Hook(
        "aiortc.rtcrtpreceiver.RemoteStreamTrack._queue",
        "shedding incoming audio a slow handler cannot keep up with (media.inbound)",
        _remote_track_queue,
    ),
    Hook(
        "aiortc.rtcrtpreceiver.RTCRtpReceiver.__jitter_buffer",
        "rtcstream's audio jitter buffer (media.jitter): without it every turn waits 80 ms more",
        _receiver_jitter_buffer,
    ),
    Hook(
        "aiortc.rtp.RtpPacket._data",
        "rtcstream's audio jitter buffer reads each packet's depacketized payload (media.jitter)",
        _packet_data,
    ),
    Hook(
        "aiortc.codecs.opus.OpusEncoder.codec",
        "encoding the outgoing Opus here, and Opus DTX between replies (media.opus)",
        _opus_codec,
    ),
    Hook(
        "threading._register_atexit",
        "closing open sessions when daphne stops, before Python waits for aiortc's threads (session.exit_hook)",
        _register_atexit,
    ),
    Hook(
        "sys._current_frames (a thread in queue.Queue.get)",
        "waking the blocking emit of a session that ended (execution.wake)",
        _queue_wait_frames,
    ),
)


def broken_hooks() -> list[tuple[Hook, str]]:
    """The hooks whose probe fails, with what it found."""
    found = []
    for hook in HOOKS:
        try:
            problem = hook.probe()
        except Exception as exc:  # a probe that cannot even run is a missing hook too
            problem = f"{type(exc).__name__}: {exc}"
        if problem is not None:
            found.append((hook, problem))
    return found


@checks.register("rtcstream")
def check_private_hooks(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    import aiortc

    return [
        checks.Error(
            f"{hook.name} is not what rtcstream expects ({problem}); it is needed for {hook.used_by}.",
            hint=f"rtcstream was written against aiortc 1.16 on Python 3.11-3.13; this is aiortc "
            f"{aiortc.__version__} on Python {sys.version.split()[0]}. Install the aiortc version rtcstream pins.",
            id="rtcstream.E030",
        )
        for hook, problem in broken_hooks()
    ]
