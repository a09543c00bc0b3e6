"""User guide › Additional Outputs.

The guide's ``... generate text response ...`` is filled minimally: a stand-in
``model`` whose reply names the turn, counted from the server-side state
(``transformers_convo``, the guide's ``gr.State``), and the length of the
utterance heard.
"""

import numpy as np

from rtcstream import AdditionalOutputs, ReplyOnPause


class _Model:
    """Stands in for the guide's Qwen2Audio: no model is downloaded in tests."""

    def generate(self, turn: int, seconds: float, max_length: int) -> str:
        return f"Turn {turn}: heard {seconds:.1f} s of speech"[:max_length]


model = _Model()


def transcribe(audio: tuple[int, np.ndarray], transformers_convo: list[dict], gradio_convo: list[dict]):
    inputs = {"turn": len(transformers_convo) + 1, "seconds": audio[1].shape[-1] / audio[0]}  # the guide's "..."
    response = model.generate(**inputs, max_length=256)
    transformers_convo.append({"role": "assistant", "content": response})
    gradio_convo.append({"role": "assistant", "content": response})
    yield AdditionalOutputs(transformers_convo, gradio_convo)  # (1)


# The guide's audio.stream(ReplyOnPause(transcribe), ...) and its on_additional_outputs(lambda s,a: (s,a), ...).
handler = ReplyOnPause(transcribe)
on_additional_outputs = lambda s, a: (s, a)  # noqa: E731 - the guide's hook, as written
