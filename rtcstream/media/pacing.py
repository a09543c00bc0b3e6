"""Real-time pacing: aiortc's sender pulls frames as fast as ``recv`` returns them,
so an output track must sleep until each frame is due."""

from __future__ import annotations

import asyncio
import math
import time


class MediaClock:
    """The start of a session's media timeline, shared by its outgoing tracks.

    The first track to send sets it; every pacer on the clock schedules its
    frames from it, so audio frame ``n`` and video frame ``k`` are due at
    ``origin + n * 0.02`` and ``origin + k / fps``: media a handler makes at the
    same moment leaves on one timeline (docs/guide.md, "Audio and video together").
    """

    def __init__(self) -> None:
        self.origin: float | None = None

    def start(self, now: float) -> float:
        """Return the origin, setting it to ``now`` if no track has started yet."""
        if self.origin is None:
            self.origin = now
        return self.origin


class Pacer:
    """Schedule frames against a monotonic start time, so error never accumulates.

    ``next()`` sleeps until the next frame is due and returns its index since
    the start. After a gap longer than ``resync`` (nothing to send, or a slow
    producer) the schedule restarts from now instead of bursting to catch up;
    the index then jumps by the frames the gap would have held, so timestamps
    keep following the wall clock. Pacers on one ``clock`` share its start: the
    first frame of a pacer that starts later is the next one due on that timeline.

    ``lead`` (seconds): at the start, and after each such gap, that much is due
    at once, so a receiver that plays what arrives (a websocket's far end) holds
    it ahead and a late packet leaves no gap.
    """

    def __init__(self, period: float, resync: float = 0.1, clock: MediaClock | None = None, lead: float = 0.0) -> None:
        self.period = period
        self.resync = resync
        self.clock = clock if clock is not None else MediaClock()
        self.lead = lead
        self._ahead = 0.0  # how far this pacer's schedule runs ahead of the clock: its lead, once per start or gap
        self._index = -1

    def _origin(self, now: float) -> float:
        return self.clock.start(now) - self._ahead

    def due(self) -> float:
        """Return when the next frame is due (monotonic seconds)."""
        if self._index < 0 or self.clock.origin is None:
            return time.monotonic()
        return self.clock.origin - self._ahead + (self._index + 1) * self.period

    def skip_to_now(self) -> None:
        """Leave out the frames whose time passed during a deliberate pause: the next is due now.

        ``next`` alone catches up a pause shorter than ``resync`` in a burst;
        after this call, no pause is caught up.
        """
        if self._index >= 0 and self.clock.origin is not None:
            origin = self.clock.origin - self._ahead
            self._index = max(self._index, int((time.monotonic() - origin) / self.period) - 1)

    async def next(self) -> int:
        now = time.monotonic()
        if self._index < 0:
            start = self.clock.start(now)
            # The first frame: now if this pacer started the clock, else the next one due on it;
            # the frames of its lead are due at once after it.
            self._index = max(0, math.ceil((now - start) / self.period - 1e-9))
            self._ahead = self.lead
            due = start + self._index * self.period
            if due > now:
                await asyncio.sleep(due - now)
            return self._index
        start = self._origin(now)
        self._index += 1
        due = start + self._index * self.period
        if now - due > self.resync:
            # Skip the frames the gap held: their time has passed. The lead is due at once again.
            self._index = int((now - start) / self.period)
            self._ahead += self.lead
        else:
            await asyncio.sleep(max(0.0, due - now))
        return self._index
