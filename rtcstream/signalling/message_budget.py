"""How many frames one websocket may send: a token bucket, counted as the frames arrive.

The ASGI server (daphne) queues every frame a client sends for its consumer,
without bound, and the consumer handles them one by one on the process's event
loop. A client that sends frames as fast as TCP takes them (measured against the
demo without this: 1-byte frames grew the process ~20 MB/s and answered another
visitor's ping 0.8-1 s late) would take the loop and the memory from everyone;
and since parsing the flood starves the consumer, counting the frames it handles
would see a few a second. So ``BudgetedInbox`` takes each frame from the server
as soon as it is queued (an ``asyncio.Queue.get`` that has one returns without
yielding, so the whole backlog goes in one step, microseconds a frame), counts it
against ``RTCSTREAM["MAX_MESSAGES_PER_SECOND"]`` frames a second with a burst of
``BURST_SECONDS`` of them, and hands it on to the consumer through a queue that
never holds more than that burst. Past the budget it drops the frames the
consumer has not read yet and every later one until the socket's disconnect,
and hands on one ``rtcstream.flooded`` message instead (the consumer then ends
the socket: ``RtcstreamConsumer.too_many_messages``). A page sends far fewer: a 20 ms audio frame is 50 a
second, trickled candidates come a few dozen at once, a dragged slider's inputs
a few dozen a second.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

# How many seconds' worth of frames a socket may send at once, above the steady rate.
BURST_SECONDS = 2.0


class MessageBudget:
    """``take()`` is True while the socket keeps to ``rate`` frames a second. (No limit is no
    budget: the consumer builds none when ``MAX_MESSAGES_PER_SECOND`` is None.)"""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate * BURST_SECONDS)
        self._clock = clock
        self._tokens = self.capacity
        self._at = clock()

    def take(self) -> bool:
        """Spend one frame's token; False when none is left (the socket sends faster than it may)."""
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True


Message = dict[str, Any]
FLOODED: Message = {"type": "rtcstream.flooded"}


class BudgetedInbox:
    """A websocket's incoming messages, taken from the server's ``receive`` by ``pump`` and counted.

    ``receive`` is what the consumer reads instead. Frames that would make the
    consumer fall more than the budget's burst behind count as over budget too,
    so the queue between them is bounded whatever the consumer does.
    """

    def __init__(self, receive: Callable[[], Awaitable[Message]], budget: MessageBudget) -> None:
        self._server_receive = receive
        self.budget = budget
        self.capacity = max(1, int(budget.capacity))
        self._queue: asyncio.Queue[Message] = asyncio.Queue()  # bounded by ``pump``: capacity + 2 at most
        self.flooded = False
        self.dropped = 0  # frames dropped unread after the budget ran out

    async def receive(self) -> Message:
        return await self._queue.get()

    def _flood(self) -> None:
        """Tell the consumer at once: what it has not read yet is dropped, so that under a flood (whose
        parsing leaves it a few steps a second) it reads ``FLOODED`` next, not after the whole burst."""
        self.flooded = True
        unread = [self._queue.get_nowait() for _ in range(self._queue.qsize())]
        for message in unread:
            if message["type"] == "websocket.receive":
                self.dropped += 1
            else:  # the connect: the consumer still reads it first
                self._queue.put_nowait(message)
        self._queue.put_nowait(FLOODED)

    async def pump(self) -> None:
        """Move every message from the server to the consumer until the disconnect (run as a task)."""
        while True:
            message = await self._server_receive()
            if message["type"] == "websocket.receive":
                if self.flooded:
                    self.dropped += 1
                    continue
                if not self.budget.take() or self._queue.qsize() >= self.capacity:
                    self._flood()
                    continue
            self._queue.put_nowait(message)
            if message["type"] == "websocket.disconnect":
                return
