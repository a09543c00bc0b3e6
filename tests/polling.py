"""Waiting for a condition in a test, with a deadline instead of a fixed sleep (sync; the
async form, which runs its check in a thread, is ``tests.workers.until``)."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_for(
    check: Callable[[], object], timeout: float = 5.0, what: str = "the condition", interval: float = 0.01
) -> None:
    """Call ``check`` every ``interval`` seconds until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(interval)
