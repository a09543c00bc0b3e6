"""Wake a worker thread blocked in ``queue.Queue.get()`` or ``put()`` whose caller has gone.

The user guide's ``EchoHandler`` returns ``self.queue.get()`` from ``emit``: when
its session ends nothing will ever put into that queue, and Python cannot stop
a thread. Such a call is woken the way its author would do it in
``shutdown()``: ``None`` is put into the queue it waits on (``emit`` returning
None sends nothing), or, for a ``put`` into a full queue, one item is taken out.

Only a thread whose innermost frames are ``threading.Condition.wait`` called by
``queue.Queue.get`` or ``put`` is touched, so a thread that is running (or
blocked anywhere else) is left alone. The frames are read with
``sys._current_frames()``; ``rtcstream.checks.hooks`` checks at start-up that
these functions still look as this module expects.
"""

from __future__ import annotations

import logging
import queue
import sys
import threading
from types import FrameType

logger = logging.getLogger("rtcstream.workers")

CONDITION_WAIT = threading.Condition.wait.__code__
QUEUE_GET = queue.Queue.get.__code__
QUEUE_PUT = queue.Queue.put.__code__


def blocked_queue(thread_id: int) -> tuple[queue.Queue[object], bool] | None:
    """Return ``(queue, getting)`` if thread ``thread_id`` waits in that queue's get (or put), else None."""
    frame: FrameType | None = sys._current_frames().get(thread_id)
    if frame is None or frame.f_code is not CONDITION_WAIT or frame.f_back is None:
        return None
    caller = frame.f_back
    if caller.f_code not in (QUEUE_GET, QUEUE_PUT):
        return None
    waiting_on = caller.f_locals.get("self")
    if not isinstance(waiting_on, queue.Queue):
        return None
    return waiting_on, caller.f_code is QUEUE_GET


def wake_queue_wait(thread_id: int) -> bool:
    """Unblock thread ``thread_id`` if it waits in a ``queue.Queue``; return whether it was woken."""
    found = blocked_queue(thread_id)
    if found is None:
        return False
    waiting_on, getting = found
    try:
        if getting:
            waiting_on.put_nowait(None)
        else:
            waiting_on.get_nowait()
    except (queue.Full, queue.Empty):
        return False  # the queue changed meanwhile: the thread is being woken anyway
    logger.debug("Woke thread %d from queue.%s()", thread_id, "get" if getting else "put")
    return True
