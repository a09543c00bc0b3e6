"""How freely the event loop runs while something else works: a task asks to wake every 5 ms.

Shared by the tests that check work stays off the loop (speech to text, speech synthesis) and by
``bench/stt_loop.py``, which prints the same figures against a baseline.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Generic, TypeVar

TICK = 0.005  # seconds between the wake-ups asked for
T = TypeVar("T")


@dataclass(frozen=True)
class Ticking(Generic[T]):
    result: T
    seconds: float  # how long ``work`` took
    share: float  # of the wake-ups asked for meanwhile, the share the loop gave (1.0: all; a blocked loop: about none)
    worst_lag: float  # seconds: the latest the loop woke the task


async def while_ticking(work: Awaitable[T]) -> Ticking[T]:
    """Await ``work`` while a task asks the loop to wake it every ``TICK`` seconds, and say how it fared."""
    loop = asyncio.get_running_loop()
    ticks, worst = 0, 0.0

    async def tick() -> None:
        nonlocal ticks, worst
        while True:
            due = loop.time() + TICK
            await asyncio.sleep(TICK)
            worst = max(worst, loop.time() - due)
            ticks += 1

    ticker = asyncio.create_task(tick())
    started = time.monotonic()
    try:
        result = await work
    finally:
        ticker.cancel()
    seconds = time.monotonic() - started
    return Ticking(result, seconds, ticks / (seconds / TICK), worst)
