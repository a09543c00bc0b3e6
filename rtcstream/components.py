"""Stand-ins for the gradio components a FastRTC ``Stream`` lists as ``additional_inputs`` / ``additional_outputs``.

``import gradio as gr`` becomes ``from rtcstream import components as gr``: the
same constructors (gradio's positional order and keywords) carry what the page
needs, and ``{% webrtc %}`` renders them beside the widget, wired to its
``inputs`` and ``outputs``. ``State`` is a server-side slot, never on the page.

Each component keeps ``value``, ``label``, ``info``, ``visible``, ``elem_id`` and
``elem_classes``; other gradio keywords (``interactive``, ``scale``,
``show_label``...) are accepted and ignored. What a page value is, as the
handler gets it: a number for ``Slider`` and ``Number``, a bool for
``Checkbox``, a string for ``Textbox``, ``Radio`` and ``Dropdown`` (a list of
strings with ``multiselect``; a single ``Dropdown``'s non-string choices keep
their type), the list of ``{"role", "content"}`` messages for ``Chatbot``, any
JSON value for ``JSON``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from django.template.loader import render_to_string
from django.utils.safestring import SafeString

from rtcstream import page_json

__all__ = [
    "JSON",
    "Chatbot",
    "Checkbox",
    "Component",
    "Dropdown",
    "Markdown",
    "Number",
    "Radio",
    "Slider",
    "State",
    "Textbox",
]


class Component:
    """What the page needs of a gradio component: its value, its label, and how it is shown.

    ``template``: ``rtcstream/components/<template>.html`` renders it (with ``c``,
    the component, and ``id``). ``renderer``: the widget's renderer for it as an
    output (``rtcstream/static/rtcstream/outputs.js``); None if it cannot be one.
    """

    template: ClassVar[str] = "input"
    renderer: ClassVar[str | None] = "value"
    input_type: str = "text"

    def __init__(
        self,
        value: Any = None,
        *,
        label: str | None = None,
        info: str | None = None,
        visible: bool = True,
        elem_id: str | None = None,
        elem_classes: str | Sequence[str] | None = None,
        **ignored: Any,
    ) -> None:
        self.value = value
        self.label = label
        self.info = info
        self.visible = visible
        self.elem_id = elem_id
        self.elem_classes = " ".join([elem_classes] if isinstance(elem_classes, str) else elem_classes or ())

    def __repr__(self) -> str:
        return f"{type(self).__name__}(label={self.label!r})"

    def selector(self, element_id: str) -> str:
        """The CSS selector the widget reads this component's value from."""
        return f"#{element_id}"

    def template_name(self) -> str:
        return f"rtcstream/components/{self.template}.html"

    def render(self, element_id: str) -> SafeString:
        return SafeString(render_to_string(self.template_name(), {"c": self, "id": element_id}))


class Slider(Component):
    input_type = "range"

    def __init__(
        self,
        minimum: float = 0,
        maximum: float = 100,
        value: float | None = None,
        *,
        step: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(minimum if value is None else value, **kwargs)
        self.minimum, self.maximum = minimum, maximum
        if step is None:  # gradio's default: a hundredth of the range, to a power of ten
            span = maximum - minimum
            step = 10 ** math.floor(math.log10(span) - 2) if span > 0 else 1
        self.step = step


class Number(Component):
    input_type = "number"

    def __init__(
        self,
        value: float | None = None,
        *,
        minimum: float | None = None,
        maximum: float | None = None,
        step: float = 1,
        **kwargs: Any,
    ) -> None:
        super().__init__(value, **kwargs)
        self.minimum, self.maximum, self.step = minimum, maximum, step


class Textbox(Component):
    def __init__(
        self,
        value: str | None = "",
        *,
        lines: int = 1,
        placeholder: str | None = None,
        type: str = "text",
        **kwargs: Any,
    ) -> None:
        super().__init__("" if value is None else value, **kwargs)
        self.lines, self.placeholder = lines, placeholder
        self.input_type = type if type in ("text", "password", "email") else "text"

    def template_name(self) -> str:
        return "rtcstream/components/textarea.html" if self.lines > 1 else super().template_name()


class Checkbox(Component):
    template = "checkbox"
    renderer = None

    def __init__(self, value: bool = False, **kwargs: Any) -> None:
        super().__init__(bool(value), **kwargs)


def _choices(choices: Sequence[Any] | None) -> list[tuple[str, Any]]:
    """gradio's choices: values, or (label, value) pairs."""
    pairs = []
    for choice in choices or ():
        label, value = choice if isinstance(choice, (tuple, list)) and len(choice) == 2 else (choice, choice)
        pairs.append((str(label), value))
    return pairs


class Dropdown(Component):
    template = "select"

    def __init__(
        self, choices: Sequence[Any] | None = None, *, value: Any = None, multiselect: bool | None = None, **kwargs: Any
    ) -> None:
        self.choices = _choices(choices)
        self.multiselect = bool(multiselect)
        if value is None and not self.multiselect and self.choices:
            value = self.choices[0][1]  # gradio's default: the first choice
        super().__init__(value if value is not None or not self.multiselect else [], **kwargs)
        # A single choice of numbers (or anything but text) keeps its type: the options hold JSON.
        self.json = not self.multiselect and any(not isinstance(v, str) for _, v in self.choices)

    def options(self) -> list[tuple[str, str, bool]]:
        """(label, option value, selected) for each choice."""
        chosen = self.value if isinstance(self.value, list) else [self.value]
        return [
            (label, page_json.dumps(v, name=f"Dropdown choice {label!r}") if self.json else str(v), v in chosen)
            for label, v in self.choices
        ]


class Radio(Component):
    template = "radio"
    renderer = None

    def __init__(self, choices: Sequence[Any] | None = None, *, value: Any = None, **kwargs: Any) -> None:
        super().__init__(value, **kwargs)
        self.choices = _choices(choices)

    def options(self) -> list[tuple[str, str, bool]]:
        return [(label, str(v), v == self.value) for label, v in self.choices]

    def selector(self, element_id: str) -> str:
        return f"#{element_id}-0"  # one button of the group: the widget reads the group's checked value


class State(Component):
    """Server-side state: one slot per ``State`` object, per session (never on the page)."""

    renderer = None

    def __init__(self, value: Any = None, **kwargs: Any) -> None:
        super().__init__(value, **kwargs)


class Chatbot(Component):
    """A conversation: ``{"role", "content"}`` messages (gradio's ``type="messages"``)."""

    template = "chatbot"
    renderer = "chat"

    def __init__(self, value: Sequence[Any] | None = None, *, type: str | None = None, **kwargs: Any) -> None:
        if type == "tuples":
            raise ValueError(
                "rtcstream's Chatbot holds messages ({'role': ..., 'content': ...}): use Chatbot(type='messages')."
            )
        super().__init__(list(value or []), **kwargs)

    def messages_json(self) -> str:
        return page_json.dumps(self.value, name="Chatbot value")


class JSON(Component):
    template = "json"
    renderer = "json"

    def pretty(self) -> str:
        return page_json.dumps(self.value, name="JSON value", indent=2)


class Markdown(Component):
    """Text (shown as text: rtcstream renders no Markdown)."""

    template = "text"
    renderer = "text"

    def __init__(self, value: str | None = "", **kwargs: Any) -> None:
        super().__init__(value or "", **kwargs)


def __getattr__(name: str) -> Any:
    known = ", ".join(n for n in __all__ if n != "Component")
    raise AttributeError(
        f"rtcstream.components has no {name!r}: its stand-ins for gradio components are {known} "
        "(docs/guide.md, 'Moving a FastRTC app')"
    )


@dataclass(frozen=True)
class PageFields:
    """What ``{% webrtc %}`` renders beside the widget for an entry's components, and the widget's options for them."""

    inputs_html: tuple[SafeString, ...]
    outputs_html: tuple[SafeString, ...]
    options: dict[str, str]  # the widget's inputs, outputs and render


def page_fields(inputs: Sequence[Component], outputs: Sequence[Component], prefix: str) -> PageFields:
    """Render each component once (one listed among inputs and outputs is one element, shown among the
    outputs), with the id ``elem_id`` or ``<prefix>-<n>``; wire them to the widget in their lists' order."""
    unique: dict[int, Component] = {}
    for component in (*inputs, *outputs):
        unique.setdefault(id(component), component)
    ids = {key: c.elem_id or f"{prefix}-{n}" for n, (key, c) in enumerate(unique.items())}
    shown = {id(c) for c in outputs}
    options = {}
    if inputs:
        options["inputs"] = ",".join(c.selector(ids[id(c)]) for c in inputs)
    if outputs:
        options["outputs"] = ",".join(f"#{ids[id(c)]}" for c in outputs)
        options["render"] = ",".join(c.renderer or "text" for c in outputs)
    return PageFields(
        inputs_html=tuple(c.render(ids[key]) for key, c in unique.items() if key not in shown),
        outputs_html=tuple(c.render(ids[key]) for key, c in unique.items() if key in shown),
        options=options,
    )
