"""Waiting for a condition in a test, with a deadline instead of a fixed sleep (sync; the
async form, which runs its check in a thread, is ``tests.workers.until``). ``settled`` and
``settled_async`` wait for what another process or thread writes, and give the caller what
they read at the deadline to assert on (rows, or none)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    check: Callable[[], object], timeout: float = 5.0, what: str = "the condition", interval: float = 0.01
) -> None:
    """Call ``check`` every ``interval`` seconds until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(interval)


def settled(read: Callable[[], T], done: Callable[[T], object] = bool, timeout: float = 15.0) -> T:
    """What ``read()`` returns once ``done`` holds for it, or at ``timeout`` (polled every 0.1 s)."""
    deadline = time.monotonic() + timeout
    while not done(value := read()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return value


async def settled_async(
    read: Callable[[], Awaitable[T]], done: Callable[[T], object] = bool, timeout: float = 15.0
) -> T:
    """``settled`` for an async ``read`` (Django's async queries), polled every 0.05 s."""
    deadline = time.monotonic() + timeout
    while not done(value := await read()) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return value
