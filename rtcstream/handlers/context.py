"""What a running handler may ask of its session."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol


class HandlerContext(Protocol):
    """The session's side of a handler: events, output control, the loop.

    Every method is safe to call from the event loop or from a worker thread.
    """

    @property
    def session_id(self) -> str: ...

    @property
    def loop(self) -> asyncio.AbstractEventLoop: ...

    def send_event(self, name: str, **data: Any) -> None:
        """Send ``{"type": "event", "name": name, "data": data}`` to the client."""

    def clear_output(self) -> None:
        """Drop the audio queued for the client but not yet played (barge-in)."""

    def output_busy(self) -> bool:
        """True while audio the handler produced is queued for the client."""

    def inputs(self) -> tuple[Any, ...]:
        """Return the latest additional input values from the client."""

    def after_playback(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (on the loop) once the audio queued so far has been sent; a barge-in drops it."""

    def add_transcript(self, role: str, text: str) -> None:
        """Add a line said by ``role`` to the session's transcript, if it is recorded.

        The text of ``AdditionalOutputs`` (strings, and chat messages) is added without it.
        """
