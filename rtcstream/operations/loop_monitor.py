"""The event loop's lag, sampled by one small task; the gauges that are states are read with it.

Every ``interval`` seconds the task sleeps for ``interval`` and measures how
much later than that it woke: the time the loop spent running other callbacks
past their due time (media encoding, a handler that blocks the loop). One
wake-up per interval and a few counters per sample: its cost does not grow
with the number of sessions.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from rtcstream.operations.throttle import Throttle

if TYPE_CHECKING:
    from rtcstream.runtime import Runtime

logger = logging.getLogger("rtcstream.operations")

# A lag past this is logged (at most once per LOG_EVERY seconds): audio frames were late.
WARN_LAG = 0.1
LOG_EVERY = 30.0


class LoopMonitor:
    """Samples the loop's lag and the runtime's gauges into ``runtime.metrics``, on one loop at a time."""

    def __init__(self, runtime: Runtime, interval: float | None) -> None:
        self.runtime = runtime
        self.interval = interval
        self.last_lag: float | None = None
        self._task: asyncio.Task[None] | None = None
        self._lag_warnings = Throttle(LOG_EVERY)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Run on ``loop`` (once; again on another loop, as tests make one per test). No-op without an interval."""
        if self.interval is None or self.interval <= 0:
            return
        if self.running and self._task is not None and self._task.get_loop() is loop:
            return
        self._task = loop.create_task(self._run(self.interval), name="rtcstream:loop-monitor")

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _run(self, interval: float) -> None:
        loop = asyncio.get_running_loop()
        metrics = self.runtime.metrics
        while True:
            due = loop.time() + interval
            await asyncio.sleep(interval)
            lag = max(0.0, loop.time() - due)
            self.last_lag = lag
            try:
                metrics.loop_lag(lag)
                metrics.sample(self.runtime)
            except Exception:
                logger.exception("Sampling the metrics failed")
            if lag >= WARN_LAG and self._lag_warnings.ready(due):
                logger.warning("The event loop ran %.0f ms late: something blocks it or it is overloaded", lag * 1000)
