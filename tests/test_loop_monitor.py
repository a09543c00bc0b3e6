"""rtcstream.operations.loop_monitor: a loop that runs late is measured, and said in the log once in a while."""

from __future__ import annotations

import asyncio
import time

from rtcstream.operations.loop_monitor import WARN_LAG, LoopMonitor
from rtcstream.runtime import Runtime


async def test_a_loop_blocked_again_and_again_is_logged_once_with_its_lag(caplog):
    monitor = LoopMonitor(Runtime(), 0.01)
    monitor.start(asyncio.get_running_loop())
    try:
        for _ in range(3):
            await asyncio.sleep(0.05)  # the monitor samples a few times
            time.sleep(WARN_LAG * 1.5)  # a handler that blocks the loop
            deadline = time.monotonic() + 5
            while (monitor.last_lag or 0) < WARN_LAG and time.monotonic() < deadline:
                await asyncio.sleep(0.005)
            assert monitor.last_lag is not None and monitor.last_lag >= WARN_LAG
            monitor.last_lag = None
    finally:
        monitor.stop()
    (warning,) = [r for r in caplog.records if r.name == "rtcstream.operations"]
    assert "The event loop ran" in warning.getMessage() and "ms late" in warning.getMessage()
    assert int(warning.getMessage().split()[4]) >= WARN_LAG * 1000
