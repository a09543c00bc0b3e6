"""The worker pool's bound: released (stuck) calls free their slot, up to a limit."""

from __future__ import annotations

import threading
import time

from rtcstream.execution.pool import WorkerPool
from tests.polling import wait_for


def test_released_calls_free_their_slot_up_to_the_limit_and_threads_are_daemons():
    pool = WorkerPool(1, max_released=1, name="test-pool")
    gate = threading.Event()
    try:
        first = pool.submit(gate.wait)
        wait_for(lambda: first.running())
        assert all(t.daemon for t in threading.enumerate() if t.name.startswith("test-pool"))
        assert pool.release(first)  # its thread no longer counts: a new call gets a new thread
        second = pool.submit(gate.wait)
        wait_for(lambda: second.running())
        assert pool.stats == {"threads": 1, "idle": 0, "released": 1, "waiting": 0}
        assert not pool.release(second)  # the limit of released threads is reached: it keeps its slot
        third = pool.submit(lambda: "done")
        time.sleep(0.1)
        assert not third.done() and pool.stats["waiting"] == 1
        queued = pool.submit(lambda: "never")
        assert pool.release(queued) and queued.cancelled()  # not started: cancelled instead
    finally:
        gate.set()
    assert third.result(timeout=5) == "done"
    assert first.result(timeout=5) and second.result(timeout=5)
    wait_for(lambda: pool.stats["released"] == 0)
    assert pool.stats["threads"] == 1


def test_errors_reach_the_caller():
    pool = WorkerPool(2, max_released=2)
    future = pool.submit(lambda: 1 / 0)
    assert isinstance(future.exception(timeout=5), ZeroDivisionError)


def test_a_pool_whose_threads_are_all_busy_says_so_once_not_once_a_call(caplog):
    pool = WorkerPool(1, max_released=1, name="test-busy")
    gate = threading.Event()
    try:
        busy = pool.submit(gate.wait)
        waiting = [pool.submit(lambda: "done") for _ in range(5)]
    finally:
        gate.set()
    assert busy.result(timeout=5) and [w.result(timeout=5) for w in waiting] == ["done"] * 5
    (warning,) = [r for r in caplog.records if r.name == "rtcstream.workers"]
    assert warning.getMessage().startswith("All 1 worker threads are busy; 1 calls into user code wait")
