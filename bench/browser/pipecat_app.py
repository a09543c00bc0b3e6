"""The browser bench's pipecat server: pipecat 1.14 with Smart Turn v3.2, over its SmallWebRTC transport (aiortc).

Runs in the bench's own venv (``.bench/pipecat-venv``, made by ``make
bench-browser``: ``pip install "pipecat-ai[webrtc]==1.14.0" fastapi uvicorn``):
``python bench/browser/pipecat_app.py PORT``. Nothing is downloaded: Silero and
Smart Turn v3.2 are files in the pipecat-ai wheel.

The pipeline is pipecat's own turn-taking, as its documentation sets it up for
a local bot, with the demo site's echo as the "bot":

    transport.input() -> VADProcessor(SileroVADAnalyzer())   # VADParams defaults: stop_secs 0.2
      -> UserTurnProcessor(stop=[TurnAnalyzerUserTurnStopStrategy(LocalSmartTurnAnalyzerV3())])
      -> Echo -> transport.output()

- Everything is pipecat's default (VAD start 0.2 s, stop 0.2 s; Smart Turn's
  ``stop_secs`` fallback 3 s; interruptions on user speech), except
  ``wait_for_transcript=False``: there is no speech recogniser, so the turn
  must not wait for a transcript (what pipecat itself sets for a realtime
  speech-to-speech service).
- ``Echo`` keeps the audio of a user turn (from ``UserStartedSpeakingFrame`` to
  ``UserStoppedSpeakingFrame``, with the 0.5 s before it, pipecat's
  ``pre_speech_ms``) and, at ``UserStoppedSpeakingFrame``, plays it back through
  the demo's ``echo`` (``serverside.demo_echo``). A new user turn interrupts a
  reply (pipecat's ``InterruptionFrame`` clears the output transport).
- The page gets the turn events the bench reads, as FastRTC sends them, over
  the data channel the page opens: ``{"type": "log", "data": name}`` with
  ``started_talking`` (``UserStartedSpeakingFrame``), ``pause_detected``
  (``UserStoppedSpeakingFrame``) and ``response_starting`` (before the
  reply's first audio frame).
- ``bench.browser.serverside`` hooks SmallWebRTC's output track
  (``RawAudioTrack.recv``) as it hooks the other servers'.
"""

from __future__ import annotations

import asyncio
import collections
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import uvicorn  # noqa: E402
from fastapi import FastAPI, Request  # noqa: E402
from fastapi.responses import HTMLResponse  # noqa: E402
from loguru import logger  # noqa: E402
from pipecat.audio.turn.smart_turn.local_smart_turn_v3 import LocalSmartTurnAnalyzerV3  # noqa: E402
from pipecat.audio.vad.silero import SileroVADAnalyzer  # noqa: E402
from pipecat.frames.frames import (  # noqa: E402
    Frame,
    InputAudioRawFrame,
    OutputAudioRawFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
)
from pipecat.pipeline.pipeline import Pipeline  # noqa: E402
from pipecat.pipeline.worker import PipelineParams, PipelineWorker  # noqa: E402
from pipecat.processors.audio.vad_processor import VADProcessor  # noqa: E402
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor  # noqa: E402
from pipecat.transports.base_transport import TransportParams  # noqa: E402
from pipecat.transports.smallwebrtc.connection import SmallWebRTCConnection  # noqa: E402
from pipecat.transports.smallwebrtc.request_handler import (  # noqa: E402
    SmallWebRTCRequest,
    SmallWebRTCRequestHandler,
)
from pipecat.transports.smallwebrtc.transport import RawAudioTrack, SmallWebRTCTransport  # noqa: E402
from pipecat.turns.user_stop import TurnAnalyzerUserTurnStopStrategy  # noqa: E402
from pipecat.turns.user_turn_processor import UserTurnProcessor  # noqa: E402
from pipecat.turns.user_turn_strategies import UserTurnStrategies  # noqa: E402
from pipecat.workers.runner import WorkerRunner  # noqa: E402

from bench.browser import serverside  # noqa: E402

PAGE = Path(__file__).with_name("client_page.html")  # served as /?server=pipecat
RATE = 16000  # pipecat's input rate (PipelineParams' default); the echo plays back at it
PRE_SPEECH_S = 0.5  # pipecat's SmartTurnParams.pre_speech_ms


class Echo(FrameProcessor):
    """Play each user turn back when pipecat ends it, and tell the page the turn events."""

    def __init__(self, connection: SmallWebRTCConnection) -> None:
        super().__init__()
        self.connection = connection
        self.echo = serverside.demo_echo()
        self.before: collections.deque[np.ndarray] = collections.deque()
        self.turn: list[np.ndarray] | None = None

    def tell(self, name: str) -> None:
        self.connection.send_app_message({"type": "log", "data": name})

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, InputAudioRawFrame):
            samples = np.frombuffer(frame.audio, dtype=np.int16)
            if frame.sample_rate != RATE:
                raise RuntimeError(f"expected {RATE} Hz input, got {frame.sample_rate}")
            if self.turn is not None:
                self.turn.append(samples)
            else:
                self.before.append(samples)
                while sum(len(s) for s in self.before) > PRE_SPEECH_S * RATE:
                    self.before.popleft()
        elif isinstance(frame, UserStartedSpeakingFrame):
            self.turn = list(self.before)
            self.before.clear()
            self.tell("started_talking")
        elif isinstance(frame, UserStoppedSpeakingFrame) and self.turn is not None:
            audio = np.concatenate(self.turn) if self.turn else np.zeros(0, dtype=np.int16)
            self.turn = None
            self.tell("pause_detected")
            await self.push_frame(frame, direction)
            await self.reply(audio)
            return
        await self.push_frame(frame, direction)

    async def reply(self, audio: np.ndarray) -> None:
        started = False
        ten_ms = RATE // 100
        for rate, chunk in self.echo((RATE, audio.reshape(1, -1))):
            samples = np.asarray(chunk, dtype=np.int16).reshape(-1)
            padding = -len(samples) % ten_ms  # the output track takes whole 10 ms blocks
            samples = np.concatenate([samples, np.zeros(padding, dtype=np.int16)])
            if not started:
                started = True
                self.tell("response_starting")
            await self.push_frame(OutputAudioRawFrame(audio=samples.tobytes(), sample_rate=rate, num_channels=1))


async def run_bot(connection: SmallWebRTCConnection) -> None:
    """One session: the pipeline above on ``connection``, until the page goes."""
    transport = SmallWebRTCTransport(
        webrtc_connection=connection, params=TransportParams(audio_in_enabled=True, audio_out_enabled=True)
    )
    stop = TurnAnalyzerUserTurnStopStrategy(turn_analyzer=LocalSmartTurnAnalyzerV3(), wait_for_transcript=False)
    pipeline = Pipeline(
        [
            transport.input(),
            VADProcessor(vad_analyzer=SileroVADAnalyzer()),
            UserTurnProcessor(user_turn_strategies=UserTurnStrategies(stop=[stop])),
            Echo(connection),
            transport.output(),
        ]
    )
    worker = PipelineWorker(
        pipeline,
        params=PipelineParams(audio_in_sample_rate=RATE, audio_out_sample_rate=24000),
        enable_rtvi=False,
        idle_timeout_secs=None,
    )

    @transport.event_handler("on_client_disconnected")
    async def on_client_disconnected(_transport: Any, _client: Any) -> None:
        await worker.cancel()

    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    await runner.run()


def build_app() -> FastAPI:
    serverside.install(RawAudioTrack)
    handler = SmallWebRTCRequestHandler()
    app = FastAPI()
    sessions: set[asyncio.Task[None]] = set()

    @app.get("/")
    def page() -> HTMLResponse:
        return HTMLResponse(PAGE.read_text())

    @app.post("/api/offer")
    async def offer(request: Request) -> dict[str, Any]:
        async def start(connection: SmallWebRTCConnection) -> None:
            task = asyncio.get_running_loop().create_task(run_bot(connection))
            sessions.add(task)
            task.add_done_callback(sessions.discard)

        answer = await handler.handle_web_request(SmallWebRTCRequest.from_dict(await request.json()), start)
        return dict(answer or {})

    return app


if __name__ == "__main__":
    logger.remove()
    logger.add(sys.stderr, level=os.environ.get("BENCH_PIPECAT_LOG", "WARNING"))
    uvicorn.run(build_app(), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
