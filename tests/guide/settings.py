"""Settings of the guide's conformance site: the test settings, the guide's pages, and one
registry entry per example of the user guide (its ``gr.Blocks`` / ``.stream(...)`` call)."""

from pathlib import Path

from tests.settings import *  # noqa: F403
from tests.settings import RTCSTREAM, TEMPLATES

ROOT_URLCONF = "tests.guide.urls"
TEMPLATES = [{**TEMPLATES[0], "DIRS": [Path(__file__).resolve().parent / "templates", *TEMPLATES[0]["DIRS"]]}]

EXAMPLES = "tests.guide.examples"
RTCSTREAM = {
    **RTCSTREAM,
    "HANDLERS": {
        **RTCSTREAM["HANDLERS"],
        # audio.stream(fn=ReplyOnPause(response), inputs=[audio], outputs=[audio], time_limit=60)
        "guide-reply-on-pause": {"handler": f"{EXAMPLES}.reply_on_pause.handler", "time_limit": 60},
        # audio.stream(fn=EchoHandler(), inputs=[audio], outputs=[audio], time_limit=15)
        "guide-stream-handler": {"handler": f"{EXAMPLES}.stream_handler.EchoHandler", "time_limit": 15},
        # WebRTC(mode="receive", modality="audio"); audio.stream(fn=generation, inputs=[num_steps], ...)
        "guide-server-audio": {
            "handler": f"{EXAMPLES}.server_audio.generation",
            "mode": "receive",
            "modality": "audio",
        },
        # WebRTC(mode="send-receive", modality="video"); image.stream(fn=detection, ..., time_limit=10)
        "guide-video-io": {"handler": f"{EXAMPLES}.video_io.detection", "modality": "video", "time_limit": 10},
        # WebRTC(mode="receive", modality="video"); output_video.stream(fn=generation, inputs=None, ...)
        "guide-server-video": {
            "handler": f"{EXAMPLES}.server_video.generation",
            "mode": "receive",
            "modality": "video",
        },
        # transformers_convo = gr.State(value=[]); WebRTC(mode="send", modality="audio");
        # audio.stream(ReplyOnPause(transcribe), inputs=[audio, transformers_convo, transcript], time_limit=90);
        # audio.on_additional_outputs(lambda s,a: (s,a), outputs=[transformers_convo, transcript])
        "guide-additional-outputs": {
            "handler": f"{EXAMPLES}.additional_outputs.handler",
            "mode": "send",
            "time_limit": 90,
            "state": [[]],  # the guide's gr.State(value=[])
            "on_additional_outputs": f"{EXAMPLES}.additional_outputs.on_additional_outputs",
        },
    },
}
