"""A ReplyOnPause turn's latency, measured by the server: from ``pause_detected`` to the reply's first frame sent.

It reads the events a handler sends (``SessionContext.send_event``): the time of
``pause_detected``, then, at ``response_starting`` (the reply's first audio is
produced), it asks the output track to say when the first frame holding that
audio goes out. A barge-in (``clear``) drops the question with the audio, and a
reply with no pause before it (a ``startup_fn`` greeting) is not a turn.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from rtcstream.media.tracks import AudioOutputTrack


class TurnLatency:
    """Feeds ``observe(seconds)`` once per answered turn; call ``on_event`` on the session's loop."""

    EVENTS = frozenset({"pause_detected", "response_starting"})  # the events it reads

    def __init__(self, observe: Callable[[float], None], track: Callable[[], AudioOutputTrack | None]) -> None:
        self._observe = observe
        self._track = track
        self._paused_at: float | None = None

    def on_event(self, name: str, at: float) -> None:
        """Take note of event ``name`` sent at ``at`` (``time.monotonic()``)."""
        if name == "pause_detected":
            self._paused_at = at
        elif name == "response_starting" and self._paused_at is not None:
            paused_at, self._paused_at = self._paused_at, None
            track = self._track()
            if track is not None:
                track.on_next_audio(lambda: self._observe(time.monotonic() - paused_at))
