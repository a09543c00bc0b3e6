"""At most one of something per interval: how a warning that could come every frame is kept readable in a log."""

from __future__ import annotations

import time


class Throttle:
    """``ready()`` is true the first time and then once at least ``seconds`` have passed since it last was."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._last: float | None = None

    def ready(self, now: float | None = None) -> bool:
        """Whether to act now (``now`` on ``time.monotonic``'s clock, or any one clock used throughout)."""
        now = time.monotonic() if now is None else now
        if self._last is not None and now - self._last < self.seconds:
            return False
        self._last = now
        return True
