"""A session's two clocks: media must connect in time (``CONNECT_TIMEOUT``), then the endpoint's time limit runs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from rtcstream import conf
from rtcstream.reasons import CloseReason

Close = Callable[[CloseReason, str], None]


class Clocks:
    """Arms the timers of one session, and cancels them all at its end."""

    def __init__(self, loop: asyncio.AbstractEventLoop, close: Close) -> None:
        self._loop = loop
        self._close = close
        self._timers: list[asyncio.TimerHandle] = []

    def answered(self, still_connecting: Callable[[], bool]) -> None:
        """The answer went out: the media has ``CONNECT_TIMEOUT`` seconds to connect."""

        def too_late() -> None:
            if still_connecting():
                self._close(
                    CloseReason.CONNECTION_FAILED,
                    "The media connection did not come up in time; a TURN server may be needed.",
                )

        self._timers.append(self._loop.call_later(conf.get("CONNECT_TIMEOUT"), too_late))

    def connected(self, time_limit: float | None) -> None:
        """Media flows: the time limit (seconds, or None for none) counts from now."""
        if time_limit is not None:
            message = f"The time limit of {time_limit:g} s was reached."
            self._timers.append(self._loop.call_later(time_limit, self._close, CloseReason.TIME_LIMIT, message))

    def stop(self) -> None:
        timers, self._timers = self._timers, []
        for timer in timers:
            timer.cancel()
