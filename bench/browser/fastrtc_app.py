"""The browser bench's FastRTC server: FastRTC 0.0.34's ``Stream`` on FastAPI, served by uvicorn.

Runs in the bench's own venv (``.bench/fastrtc-venv``, made by ``make
bench-browser``): ``python bench/browser/fastrtc_app.py PORT``. The handler is
``ReplyOnPause`` over the demo site's own ``echo`` function (its source is read
from ``rtcproject/demos/audio.py``: that module imports rtcstream, which this
venv does not have). Silero v4 comes from the ``faster-whisper==1.0.2`` wheel:
``SileroVADModel.download_model`` is replaced here, and only here, so nothing is
downloaded. ``bench.browser.serverside`` hooks FastRTC's output track
(``AudioCallback``) as it hooks rtcstream's.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
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
PAGE = Path(__file__).with_name("fastrtc_page.html")


def load_function(path: Path, name: str) -> Callable[..., Any]:
    """Compile the top-level function ``name`` from ``path`` alone (it may use ``np`` and typing names)."""
    tree = ast.parse(path.read_text())
    node = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)
    module = ast.fix_missing_locations(
        ast.Module(body=[ast.ImportFrom("__future__", [ast.alias("annotations")], 0), node], type_ignores=[])
    )
    namespace: dict[str, Any] = {"np": np, "__name__": "bench_echo"}
    exec(compile(module, str(path), "exec"), namespace)  # noqa: S102  # our own repository's source
    return namespace[name]


def build_app() -> FastAPI:
    if not SILERO_V4.exists():
        raise SystemExit(f"Silero v4 model not found at {SILERO_V4} (pip install --no-deps faster-whisper==1.0.2)")
    silero.SileroVADModel.download_model = staticmethod(lambda: str(SILERO_V4))  # type: ignore[method-assign]
    serverside.install(AudioCallback)
    echo = serverside.wrap_reply(load_function(ROOT / "rtcproject" / "demos" / "audio.py", "echo"))
    stream = Stream(ReplyOnPause(echo), modality="audio", mode="send-receive", concurrency_limit=4, time_limit=600)
    app = FastAPI()
    stream.mount(app)

    @app.get("/")
    def page() -> HTMLResponse:
        return HTMLResponse(PAGE.read_text())

    return app


if __name__ == "__main__":
    uvicorn.run(build_app(), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
