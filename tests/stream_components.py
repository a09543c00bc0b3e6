"""A Stream with one of each input component, whose handler reports the values it gets (tests/settings.py "t-components")."""

from __future__ import annotations

from rtcstream import Stream
from rtcstream import components as gr
from tests.handlers import InputTypesHandler


class ValuesHandler(InputTypesHandler):
    """Mode 'send': publish [type name, value] of every additional input whenever they change."""

    def describe(self, value):
        return [type(value).__name__, value]


stream = Stream(
    ValuesHandler(),
    mode="send",
    modality="audio",
    additional_inputs=[
        gr.Slider(0, 10, 3, label="Slider"),
        gr.Number(2.5, label="Number"),
        gr.Textbox("hi", label="Textbox"),
        gr.Checkbox(True, label="Checkbox"),
        gr.Dropdown([1, 2, 3], value=2, label="Numbers"),
        gr.Dropdown(["a", "b"], value=["b"], multiselect=True, label="Letters"),
        gr.Radio([("Ex", "x"), ("Why", "y")], value="y", label="Radio"),
        gr.JSON({"k": [1]}, label="JSON"),
        gr.State("server"),
        gr.Textbox("two\nlines", lines=3, label="Notes"),
        gr.Chatbot([{"role": "assistant", "content": "Hello"}], type="messages", label="Chat"),
    ],
    additional_outputs=[gr.JSON(label="What the handler got")],
)

# What the handler gets from the page as rendered: each component's initial value, with its type.
EXPECTED = [
    ["int", 3],
    ["float", 2.5],
    ["str", "hi"],
    ["bool", True],
    ["int", 2],
    ["list", ["b"]],
    ["str", "y"],
    ["dict", {"k": [1]}],
    ["str", "server"],
    ["str", "two\nlines"],
    ["list", [{"role": "assistant", "content": "Hello"}]],
]
