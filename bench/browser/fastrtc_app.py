"""The browser bench's FastRTC server: FastRTC 0.0.34's ``Stream`` on FastAPI, served by uvicorn.

Runs in the bench's own venv (``.bench/fastrtc-venv``, made by ``make
bench-browser``): ``python bench/browser/fastrtc_app.py PORT``. The handler is
``ReplyOnPause`` over the demo site's own ``echo`` function
(``serverside.demo_echo``). Silero v4 comes from the ``faster-whisper==1.0.2`` wheel:
``SileroVADModel.download_model`` is replaced here, and only here, so nothing is
downloaded. ``bench.browser.serverside`` hooks FastRTC's output track
(``AudioCallback``) as it hooks rtcstream's.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import uvicorn  # noqa: E402
from fastapi import FastAPI  # noqa: E402
from fastapi.responses import HTMLResponse  # noqa: E402
from fastrtc import ReplyOnPause, Stream  # noqa: E402
from fastrtc.pause_detection import silero  # noqa: E402
from fastrtc.tracks import AudioCallback  # noqa: E402

from bench.browser import serverside  # noqa: E402


def silero_v4() -> Path:
    """The model file in the faster-whisper wheel (installed without its dependencies: not imported)."""
    spec = importlib.util.find_spec("faster_whisper")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("faster_whisper is not installed (pip install --no-deps faster-whisper==1.0.2)")
    return Path(next(iter(spec.submodule_search_locations))) / "assets" / "silero_vad.onnx"


SILERO_V4 = silero_v4()
PAGE = Path(__file__).with_name("client_page.html")  # served as /?server=fastrtc


def build_app() -> FastAPI:
    if not SILERO_V4.exists():
        raise SystemExit(f"Silero v4 model not found at {SILERO_V4} (pip install --no-deps faster-whisper==1.0.2)")
    silero.SileroVADModel.download_model = staticmethod(lambda: str(SILERO_V4))  # type: ignore[method-assign]
    serverside.install(AudioCallback)
    stream = Stream(
        ReplyOnPause(serverside.demo_echo()), modality="audio", mode="send-receive", concurrency_limit=4, time_limit=600
    )
    app = FastAPI()
    stream.mount(app)

    @app.get("/")
    def page() -> HTMLResponse:
        return HTMLResponse(PAGE.read_text())

    return app


if __name__ == "__main__":
    uvicorn.run(build_app(), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
