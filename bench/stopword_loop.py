"""Print how much of the event loop stop-word sessions take: rtcstream's ReplyOnStopWords (the keyphrase
search in a process of each session's own, fed from worker threads) against the same search in the
server's process, on the loop (rtcstream until 2026-12-07), in one run.

Run: ``python -m bench.stopword_loop [--sessions N] [--seconds S]`` (needs espeak-ng). Figures, never pass/fail.

Each session is a ReplyOnStopWords copy bound as a session binds it, given a 20 ms frame of the spoken
fixture (other speech, a near miss, "computer" and a command; tests/stopword_audio.py) every 20 ms, all
sessions at once. A task asks the loop to wake every 5 ms: "worst lag" is the latest it woke, "ticks" the
share of the wake-ups it got, while the frames flow (the sessions' start-up is not in it). The CPU is this
process's (the server's) while the frames flow and, for rtcstream, its decoder processes' whole lives (their
start, ~0.1 s of a core each, included). Left out: the media (no network, no Opus decoding, no jitter buffer), so a real server's loop
has that work on top; the reply (the handler's fn yields nothing).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Callable
from typing import Any

import django
import numpy as np

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
django.setup()

from rtcstream.handlers.reply_on_stopwords import ReplyOnStopWords, StopWordTurns  # noqa: E402
from rtcstream.handlers.stopwords import StopWordDetector  # noqa: E402
from rtcstream.speech import decoder_process  # noqa: E402
from tests import speech  # noqa: E402
from tests import stopword_audio as fixtures  # noqa: E402
from tests.loop_ticks import while_ticking  # noqa: E402
from tests.test_reply_on_pause import FakeContext  # noqa: E402

RATE = fixtures.RATE
FRAME = 0.02


def nothing(audio: tuple[int, np.ndarray]) -> Any:
    """The reply: none (the bench measures listening)."""
    return
    yield


class InProcess:
    """The keyphrase search in this process: the child's own per-frame work (``decoder_process.spot``)."""

    def __init__(self, task: decoder_process.Task) -> None:
        self._answer = decoder_process._load(list(task.argv))

    @property
    def pid(self) -> int:
        return os.getpid()

    def start(self) -> None:
        pass

    def ask(self, pcm: bytes, timeout: float) -> str:
        return self._answer(pcm)

    def close(self) -> None:
        pass


class OnTheLoop(ReplyOnStopWords):
    """ReplyOnStopWords as it was until 2026-12-07: the search in the server's process, fed on the loop."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._detection_in_pool = False  # this new_detector is the bench's, but it stands for rtcstream's old one

    def new_detector(self, sample_rate: int) -> StopWordTurns:
        spotter = StopWordDetector(self.stop_words, sample_rate, self.threshold, self.pronunciations, InProcess)
        return StopWordTurns(spotter, self.new_turn_detector(sample_rate))


async def started(handler: ReplyOnStopWords) -> ReplyOnStopWords:
    """A session's copy of ``handler``, bound and started up as a session does it."""
    copy = handler.copy()
    context: Any = FakeContext()
    context.handler = copy
    copy.bind(context)
    await copy.start_up()
    return copy


async def listen(copy: ReplyOnStopWords, samples: np.ndarray, start: float) -> None:
    """Give ``copy`` a 20 ms frame every 20 ms from ``start`` (the loop's time)."""
    loop = asyncio.get_running_loop()
    for index, frame in enumerate(speech.frames(samples)):
        await asyncio.sleep(max(0.0, start + index * FRAME - loop.time()))
        await copy.receive((RATE, frame))


def children_cpu() -> float:
    """CPU seconds of this process's children that have ended and been reaped."""
    times = os.times()
    return times.children_user + times.children_system


async def run(name: str, build: Callable[[], ReplyOnStopWords], count: int, samples: np.ndarray) -> None:
    handler = build()
    on_loop = isinstance(handler, OnTheLoop)
    copies = await asyncio.gather(*(started(handler) for _ in range(count)))
    loop = asyncio.get_running_loop()
    cpu, children = time.process_time(), children_cpu()
    start = loop.time()
    ticking = await while_ticking(asyncio.gather(*(listen(copy, samples, start) for copy in copies)))
    server = time.process_time() - cpu
    await asyncio.gather(*(copy.aclose() for copy in copies))  # the decoder processes end, and are reaped
    seconds = len(samples) / RATE
    decoders = children_cpu() - children
    print(
        f"{name:<38} worst lag {ticking.worst_lag * 1000:6.1f} ms, ticks {ticking.share:4.0%}; "
        f"CPU a session: server's process {server / seconds / count * 100:4.1f} % of a core"
        + (f", its decoder process {decoders / seconds / count * 100:4.1f} %" if not on_loop else "")
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    samples = fixtures.session().samples.reshape(-1)
    samples = np.resize(samples, round(args.seconds * RATE))
    print(f"{args.sessions} stop-word sessions at once, {args.seconds:g} s of the spoken fixture each, 20 ms frames")
    builds: tuple[tuple[str, Callable[[], ReplyOnStopWords]], ...] = (
        ("in a process per session (rtcstream)", lambda: ReplyOnStopWords(nothing, ["computer"])),
        ("in the server's process, on the loop", lambda: OnTheLoop(nothing, ["computer"])),
    )
    for _ in range(args.repeats):
        for name, build in builds:
            await run(name, build, args.sessions, samples)


if __name__ == "__main__":
    asyncio.run(main())
