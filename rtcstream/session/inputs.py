"""What a session's handler receives as additional inputs, and where its AdditionalOutputs go.

An entry's ``"state": [initial, ...]`` declares server-side state slots, the
counterpart of gradio's ``gr.State``: each session starts from a deep copy of
the initial values, the handler gets them as its first additional inputs
(before the page's values), and each ``AdditionalOutputs`` (after the entry's
``on_additional_outputs`` hook) sets them from its first values; only the
values after those reach the page. So the user guide's transcript example,
``inputs=[audio, state, chatbot]`` and ``on_additional_outputs(lambda s, a:
(s, a), outputs=[state, chatbot])``, maps one to one.

A FastRTC ``Stream`` (or an entry with ``additional_inputs`` /
``additional_outputs``) places each value by its position in those lists
instead (``Wiring``): a ``State`` anywhere among the inputs is read from its
slot, the other inputs come from the page in order; the hook
(``additional_outputs_handler``) is called with the current value of every
output, then the new values, and returns one value per output, which goes to
its state slot or to the page. The page outputs' current values are the ones
last sent (their components' initial values before that).

Page values are JSON values (numbers, strings, booleans, null, lists, objects),
passed as Python values: a list input is a ``list``, an object a ``dict``.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


class StateOutputError(ValueError):
    """An ``AdditionalOutputs`` (after the hook) does not have the values the entry's state slots and outputs need."""


@dataclass(frozen=True)
class Wiring:
    """Where a handler's additional inputs come from and where its outputs go.

    ``inputs``: for each argument after the stream's, a state slot's index, or
    None for the next page value (page values left over follow). ``outputs``:
    the same for each output value; ``declared`` False: values past those go to
    the page, however many (an entry's ``"state"``, or no ``additional_outputs``);
    True: the outputs are ``additional_outputs``, one value each, and the hook
    gets their current values first (``shown``: the page ones' initial values).
    """

    state: tuple[Any, ...] = ()
    inputs: tuple[int | None, ...] = ()
    outputs: tuple[int | None, ...] = ()
    declared: bool = False
    shown: tuple[Any, ...] = ()

    @classmethod
    def state_first(cls, state: Sequence[Any]) -> Wiring:
        """An entry's ``"state"``: the slots first among the inputs and among the outputs."""
        slots = tuple(range(len(state)))
        return cls(state=tuple(state), inputs=slots, outputs=slots)


class SessionInputs:
    """One session's additional inputs and outputs. Read from any thread; written on the event loop."""

    def __init__(self, initial_state: Sequence[Any] = (), *, wiring: Wiring | None = None) -> None:
        self._wiring = wiring if wiring is not None else Wiring.state_first(initial_state)
        self._state: list[Any] = [copy.deepcopy(value) for value in self._wiring.state]
        self._shown: list[Any] = [copy.deepcopy(value) for value in self._wiring.shown]
        self._page: tuple[Any, ...] = ()

    @property
    def state(self) -> tuple[Any, ...]:
        return tuple(self._state)

    def values(self) -> tuple[Any, ...]:
        """The values a handler gets after its stream argument: state slots and page values, in place."""
        page = iter(self._page)
        placed = [self._state[slot] if slot is not None else next(page, None) for slot in self._wiring.inputs]
        return (*placed, *page)

    def set_page(self, values: Sequence[Any]) -> None:
        """Keep the page's latest values (from the offer or an ``inputs`` message)."""
        self._page = tuple(values)

    def hook_arguments(self, values: list[Any]) -> list[Any]:
        """What the entry's hook is called with: with ``additional_outputs``, the outputs' current values first."""
        if not self._wiring.declared:
            return values
        shown = iter(self._shown)
        current = [self._state[slot] if slot is not None else next(shown) for slot in self._wiring.outputs]
        return [*current, *values]

    def hook_values(self, result: Any) -> list[Any]:
        """The hook's result as a list of output values (with one ``additional_outputs``, the result is its value)."""
        if self._wiring.declared and len(self._wiring.outputs) == 1:
            return [result]
        return list(result) if isinstance(result, (tuple, list)) else [result]

    def take_state(self, values: list[Any]) -> list[Any]:
        """Set the state slots from an output's values; return the values for the page, in order."""
        outputs, declared = self._wiring.outputs, self._wiring.declared
        if declared and len(values) != len(outputs):
            raise StateOutputError(
                f"additional_outputs lists {len(outputs)} component(s), but each AdditionalOutputs (after the "
                f"additional_outputs_handler) must hold one value for each; this one holds {len(values)}"
            )
        if len(values) < len(outputs):
            raise StateOutputError(
                f"this entry keeps {len(outputs)} state value(s): each AdditionalOutputs (after the entry's "
                f"on_additional_outputs hook) must start with the new state, but it holds {len(values)} value(s)"
            )
        page = []
        for slot, value in zip(outputs, values, strict=False):
            if slot is None:
                page.append(value)
            else:
                self._state[slot] = value
        if declared:
            self._shown = page
        return [*page, *values[len(outputs) :]]
