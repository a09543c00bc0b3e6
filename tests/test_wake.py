"""Waking a thread blocked in queue.Queue.get()/put() whose session has ended, and nothing else."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from rtcstream.execution.pool import WorkerPool
from rtcstream.execution.wake import blocked_queue, wake_queue_wait
from tests.polling import wait_for


@pytest.fixture
def pool() -> Iterator[WorkerPool]:
    yield WorkerPool(2, max_released=2, name="test-wake")


def blocked(pool: WorkerPool, func: Callable[[], object]) -> tuple[object, int]:
    """Run ``func`` in ``pool`` and wait until its thread is blocked; return its future and thread."""
    future = pool.submit(func)
    wait_for(lambda: future.running())
    call = pool._running[future]  # the test looks at the pool's own record of the call
    assert call.thread is not None
    thread = call.thread
    wait_for(lambda: sys_frame_name(thread) in ("wait", "sleep_forever"))
    return future, thread


def sys_frame_name(thread: int) -> str | None:
    import sys

    frame = sys._current_frames().get(thread)
    return frame.f_code.co_name if frame is not None else None


def test_a_get_on_an_empty_queue_returns_none(pool):
    inbox: queue.Queue[object] = queue.Queue()  # unbounded, as in the user guide's EchoHandler
    future, thread = blocked(pool, inbox.get)
    assert blocked_queue(thread) == (inbox, True)
    assert pool.wake(future)
    assert future.result(timeout=5) is None


def test_a_put_into_a_full_queue_completes_and_one_item_is_taken_out(pool):
    inbox: queue.Queue[int] = queue.Queue(maxsize=2)
    inbox.put(1)
    inbox.put(2)
    future, thread = blocked(pool, lambda: inbox.put(3))
    assert blocked_queue(thread) == (inbox, False)
    assert pool.wake(future)
    future.result(timeout=5)
    assert [inbox.get_nowait(), inbox.get_nowait()] == [2, 3]


def test_other_waits_and_running_calls_are_left_alone(pool):
    gate = threading.Event()
    try:
        waiting, thread = blocked(pool, gate.wait)  # Event.wait: waking it would lie to its caller
        assert blocked_queue(thread) is None and not pool.wake(waiting)
        assert not waiting.done()
    finally:
        gate.set()
    assert waiting.result(timeout=5) is True
    stop = threading.Event()

    def sleep_forever() -> None:
        while not stop.is_set():
            time.sleep(0.001)

    running, thread = blocked(pool, sleep_forever)
    try:
        assert not pool.wake(running) and not running.done()
    finally:
        stop.set()
    running.result(timeout=5)
    assert not pool.wake(running)  # done: nothing to wake
    assert not wake_queue_wait(threading.get_ident())  # this thread is running, not waiting


def test_a_queue_shared_with_another_waiter_wakes_one_waiter_and_loses_nothing(pool):
    shared: queue.Queue[object] = queue.Queue()
    first, _ = blocked(pool, shared.get)
    second, _ = blocked(pool, shared.get)
    assert pool.wake(first)
    wait_for(lambda: first.done() or second.done())
    done, other = (first, second) if first.done() else (second, first)
    assert done.result() is None  # whichever waiter Queue.put notified gets the None
    shared.put("frame")
    assert other.result(timeout=5) == "frame"


def test_released_calls_are_counted_by_owner_until_they_return():
    pool = WorkerPool(2, max_released=4, name="test-owner")
    gate = threading.Event()
    try:
        futures = [pool.submit(gate.wait, owner="talk") for _ in range(2)]
        wait_for(lambda: all(f.running() for f in futures))
        assert all(pool.release(f) for f in futures)
        assert pool.stuck("talk") == 2 and pool.stuck("other") == 0
    finally:
        gate.set()
    wait_for(lambda: pool.stuck("talk") == 0)
    assert pool.stats["released"] == 0
