"""A FastRTC app module as FastRTC's documentation writes one, moved to rtcstream.

The only changes are the two import lines, which were:

    from fastrtc import AdditionalOutputs, ReplyOnPause, Stream
    import gradio as gr

Settings name ``stream`` ("fastrtc-app": "rtcproject.demos.fastrtc_app.stream");
the page is ``{% webrtc "fastrtc-app" %}``, which renders the slider and the
chatbot beside the widget.
"""

import numpy as np

from rtcstream import AdditionalOutputs, ReplyOnPause, Stream
from rtcstream import components as gr


def response(audio: tuple[int, np.ndarray], volume: float, chatbot: list[dict] | None = None):
    chatbot = chatbot or []
    sample_rate, samples = audio
    chatbot.append({"role": "user", "content": f"({samples.shape[-1] / sample_rate:.1f} s of speech)"})
    yield AdditionalOutputs(chatbot)
    # Say it back, at the slider's volume.
    quieter = (samples.astype(np.float32) * volume).astype(np.int16)
    yield sample_rate, quieter
    turn = sum(message["role"] == "user" for message in chatbot)
    chatbot.append({"role": "assistant", "content": f"Said back at volume {volume:g}, turn {turn}."})
    yield AdditionalOutputs(chatbot)


chatbot = gr.Chatbot(type="messages")
stream = Stream(
    handler=ReplyOnPause(response, input_sample_rate=16000),
    modality="audio",
    mode="send-receive",
    additional_inputs=[gr.Slider(minimum=0, maximum=1, value=0.5, step=0.05, label="Volume"), chatbot],
    additional_outputs=[chatbot],
    additional_outputs_handler=lambda old, new: new,
    concurrency_limit=5,
    time_limit=90,
    ui_args={"title": "Talk back"},
)

if __name__ == "__main__":
    stream.ui.launch()
