"""An entry's gradio-style components (FastRTC's ``additional_inputs`` / ``additional_outputs``):
the session's ``Wiring``, and the components the page shows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rtcstream.components import Component, State
from rtcstream.session.inputs import Wiring


@dataclass(frozen=True)
class Declared:
    """What an entry's components make: the session's wiring, and the page's input and output components in order."""

    wiring: Wiring
    inputs: tuple[Component, ...] = ()
    outputs: tuple[Component, ...] = ()


def _component(where: str, index: int, value: Any) -> Component:
    if isinstance(value, Component):
        return value
    kind = f"{type(value).__module__}.{type(value).__qualname__}"
    hint = " (import them with: from rtcstream import components as gr)" if kind.startswith("gradio.") else ""
    raise ValueError(f"{where}[{index}] is a {kind}, not one of rtcstream.components{hint}")


def wire(inputs: Sequence[Any], outputs: Sequence[Any]) -> Declared:
    """Place each input and output by position: a ``State`` is a server-side slot (one per ``State`` object,
    shared by the inputs and outputs that list it), any other component is on the page.

    No ``outputs``: each ``AdditionalOutputs``' values go to the page as they are.
    """
    slots: list[State] = []

    def place(component: Component) -> int | None:
        if not isinstance(component, State):
            return None
        for index, known in enumerate(slots):
            if known is component:
                return index
        slots.append(component)
        return len(slots) - 1

    ins = [_component("additional_inputs", i, c) for i, c in enumerate(inputs)]
    outs = [_component("additional_outputs", i, c) for i, c in enumerate(outputs)]
    input_slots = tuple(place(c) for c in ins)
    output_slots = tuple(place(c) for c in outs)
    page_outputs = tuple(c for c in outs if not isinstance(c, State))
    for component in page_outputs:
        if component.renderer is None:
            raise ValueError(f"a {type(component).__name__} cannot be one of additional_outputs on the page")
    wiring = Wiring(
        state=tuple(state.value for state in slots),
        inputs=input_slots,
        outputs=output_slots,
        declared=bool(outs),
        shown=tuple(c.value for c in page_outputs),
    )
    return Declared(wiring, tuple(c for c in ins if not isinstance(c, State)), page_outputs)
