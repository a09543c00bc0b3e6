"""Real-time pacing: aiortc's sender pulls frames as fast as ``recv`` returns them,
so an output track must sleep until each frame is due."""

from __future__ import annotations

import asyncio
import time


class Pacer:
    """Schedule frames against a monotonic start time, so error never accumulates.

    ``next()`` sleeps until the next frame is due and returns its index since
    the start. After a gap longer than ``resync`` (nothing to send, or a slow
    producer) the schedule restarts from now instead of bursting to catch up;
    the index then jumps by the frames the gap would have held, so timestamps
    keep following the wall clock.

    ``lead`` (seconds): at the start, and after each such gap, that much is due
    at once, so a receiver that plays what arrives (a websocket's far end) holds
    it ahead and a late packet leaves no gap.
    """

    def __init__(self, period: float, resync: float = 0.1, lead: float = 0.0) -> None:
        self.period = period
        self.resync = resync
        self.lead = lead
        self._start: float | None = None
        self._index = -1

    def due(self) -> float:
        """Return when the next frame is due (monotonic seconds)."""
        if self._start is None:
            return time.monotonic()
        return self._start + (self._index + 1) * self.period

    def skip_to_now(self) -> None:
        """Leave out the frames whose time passed during a deliberate pause: the next is due now.

        ``next`` alone catches up a pause shorter than ``resync`` in a burst;
        after this call, no pause is caught up.
        """
        if self._start is not None:
            self._index = max(self._index, int((time.monotonic() - self._start) / self.period) - 1)

    async def next(self) -> int:
        now = time.monotonic()
        if self._start is None:
            self._start = now - self.lead
            self._index = 0
            return 0
        self._index += 1
        due = self._start + self._index * self.period
        if now - due > self.resync:
            # Skip the frames the gap held: their time has passed.
            self._index = int((now - self._start) / self.period)
            self._start -= self.lead
        else:
            await asyncio.sleep(max(0.0, due - now))
        return self._index
