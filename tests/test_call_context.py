"""Sync user code runs in the worker pool in a copy of its caller's context (as asyncio.to_thread does)."""

from __future__ import annotations

import contextlib
import contextvars
import threading

from rtcstream.execution import calls
from tests.who_handlers import where

SEEN: contextvars.ContextVar[str] = contextvars.ContextVar("seen", default="unset")


async def test_run_sync_carries_the_callers_context_into_the_worker_thread():
    SEEN.set("caller")
    seen, thread = await calls.run_sync(lambda: (SEEN.get(), where()))
    assert seen == "caller"
    assert thread == "pool"


async def test_each_next_and_the_close_of_a_sync_generator_see_the_callers_context():
    closed = threading.Event()
    seen_at_close: list[str] = []

    def numbers():
        try:
            for n in range(3):
                yield n, SEEN.get()
        finally:
            seen_at_close.append(SEEN.get())
            closed.set()

    SEEN.set("session-1")
    async with contextlib.aclosing(calls.iterate(numbers())) as items:
        got = [item async for item in items]
    assert got == [(0, "session-1"), (1, "session-1"), (2, "session-1")]
    assert closed.wait(5) and seen_at_close == ["session-1"]
    closed.clear()

    SEEN.set("session-2")
    source = numbers()
    async with contextlib.aclosing(calls.iterate(source)) as items:
        async for _ in items:
            break  # leaves the generator open: it is closed in the pool
    assert closed.wait(5)
    assert seen_at_close[-1] == "session-2"


async def test_a_value_set_by_user_code_stays_in_its_call():
    SEEN.set("caller")
    await calls.run_sync(SEEN.set, "changed in the worker")
    assert SEEN.get() == "caller"
