"""The user guide's "Additional Outputs" example, verbatim except its imports;
the guide's ``...`` (a model) is filled minimally: the reply names the turn
from the server-side state, so a test sees that state kept turn after turn."""

import numpy as np

from rtcstream import AdditionalOutputs, ReplyOnPause


class _Model:
    def generate(self, turn: int, seconds: float, max_length: int) -> str:
        return f"reply {turn + 1} to {seconds:.1f} s"


model = _Model()


def transcribe(audio: tuple[int, np.ndarray], transformers_convo: list[dict], gradio_convo: list[dict]):
    inputs = {"turn": len(transformers_convo), "seconds": audio[1].shape[-1] / audio[0]}  # the guide's "..."
    response = model.generate(**inputs, max_length=256)
    transformers_convo.append({"role": "assistant", "content": response})
    gradio_convo.append({"role": "assistant", "content": response})
    yield AdditionalOutputs(transformers_convo, gradio_convo)  # (1)


handler = ReplyOnPause(transcribe)
on_additional_outputs = lambda s, a: (s, a)  # noqa: E731 - the guide's hook, as written
