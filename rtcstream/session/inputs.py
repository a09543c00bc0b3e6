"""What a session's handler receives as additional inputs: the entry's state, then the page's values.

An entry's ``"state": [initial, ...]`` declares server-side state slots, the
counterpart of gradio's ``gr.State``: each session starts from a deep copy of
the initial values, the handler gets them as its first additional inputs
(before the page's values), and each ``AdditionalOutputs`` (after the entry's
``on_additional_outputs`` hook) sets them from its first values; only the
values after those reach the page. So the user guide's transcript example,
``inputs=[audio, state, chatbot]`` and ``on_additional_outputs(lambda s, a:
(s, a), outputs=[state, chatbot])``, maps one to one.

Page values are JSON values (numbers, strings, booleans, null, lists, objects),
passed as Python values: a list input is a ``list``, an object a ``dict``.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any


class StateOutputError(ValueError):
    """An ``AdditionalOutputs`` has fewer values than the entry has state slots."""


class SessionInputs:
    """One session's additional inputs. Read from any thread; written on the event loop."""

    def __init__(self, initial_state: Sequence[Any] = ()) -> None:
        self._state: tuple[Any, ...] = tuple(copy.deepcopy(value) for value in initial_state)
        self._page: tuple[Any, ...] = ()

    @property
    def state(self) -> tuple[Any, ...]:
        return self._state

    def values(self) -> tuple[Any, ...]:
        """The values a handler gets after its stream argument: the state slots, then the page's values."""
        return (*self._state, *self._page)

    def set_page(self, values: Sequence[Any]) -> None:
        """Keep the page's latest values (from the offer or an ``inputs`` message)."""
        self._page = tuple(values)

    def take_state(self, values: list[Any]) -> list[Any]:
        """Set the state slots from the first values of an output; return the rest (for the page)."""
        slots = len(self._state)
        if not slots:
            return values
        if len(values) < slots:
            raise StateOutputError(
                f"this entry keeps {slots} state value(s): each AdditionalOutputs (after the entry's "
                f"on_additional_outputs hook) must start with the new state, but it holds {len(values)} value(s)"
            )
        self._state = tuple(values[:slots])
        return values[slots:]
