"""Print how late the event loop runs while a session transcribes: rtcstream's speech to text (PocketSphinx
in a process of its own) against the same decoder called in a worker thread (what rtcstream did before,
and what a handler that calls pocketsphinx itself does).

Run: ``python -m bench.stt_loop`` (needs Debian's asterisk-core-sounds-en-g722 for the speech: real
recordings, tests/speech_real.py). Figures, never pass/fail.

The loop runs one task that asks to wake every 5 ms; "worst lag" is the longest it woke late while the
utterance decoded, "ticks" the share of the wake-ups it got. Both include whatever else this machine
runs; neither includes a real session's media (this is the loop alone, as the server's is between packets).
"""

from __future__ import annotations

import asyncio
import functools
import statistics
import threading
from collections.abc import Callable
from typing import TypeVar

import numpy as np

from rtcstream.speech.decoder_process import transcribe
from rtcstream.speech.stt import STT_RATE, PocketSphinxSTT, to_model_input
from tests import speech_real
from tests.loop_ticks import Ticking, while_ticking

T = TypeVar("T")
SENTENCES = ("all-circuits-busy-now", "please-try-call-later", "cannot-complete-as-dialed", "check-number-dial-again")
REPEATS = 3


class InThread:
    """The decoder in this process, one utterance at a time behind a lock (rtcstream's PocketSphinxSTT until 2026-12-07)."""

    def __init__(self) -> None:
        from pocketsphinx import Decoder

        self._decoder = Decoder(samprate=STT_RATE, loglevel="FATAL")
        self._lock = threading.Lock()

    def stt(self, audio: tuple[int, np.ndarray]) -> str:
        pcm = to_model_input(audio).tobytes()
        with self._lock:
            return transcribe(self._decoder, pcm)


async def measure(work: Callable[[], T]) -> Ticking[T]:
    """``work()`` run in a worker thread, with how the loop ran meanwhile."""
    return await while_ticking(asyncio.to_thread(work))


def speech() -> np.ndarray:
    parts = []
    for name in SENTENCES:
        path = speech_real.ASTERISK_DIR / f"{name}.g722"
        if not path.exists():
            raise SystemExit(f"{path} is missing: apt-get install asterisk-core-sounds-en-g722")
        parts += [speech_real.decode(path, "g722"), np.zeros(STT_RATE // 2, np.float32)]
    return np.concatenate(parts)


async def main() -> None:
    audio = speech()
    print(f"one utterance: {len(audio) / STT_RATE:.1f} s of real speech ({', '.join(SENTENCES)}), {REPEATS} times each")
    builds: tuple[tuple[str, Callable[[], PocketSphinxSTT | InThread]], ...] = (
        ("in a child process (rtcstream)", PocketSphinxSTT),
        ("in a worker thread", InThread),
    )
    for name, build in builds:
        load = await measure(build)
        stt = load.result
        print(
            f"\n{name}: loading took {load.seconds:.2f} s, the loop's worst lag meanwhile {load.worst_lag * 1000:.0f} ms"
        )
        rows = [await measure(functools.partial(stt.stt, (STT_RATE, audio))) for _ in range(REPEATS)]
        decode = statistics.median(r.seconds for r in rows)
        lag = max(r.worst_lag for r in rows)
        share = min(r.share for r in rows)
        print(
            f"  decode {decode:.2f} s (median); the loop's worst lag {lag * 1000:.0f} ms; ticks it ran, fewest {share:.0%}"
        )
        if isinstance(stt, PocketSphinxSTT):
            stt.close()


if __name__ == "__main__":
    asyncio.run(main())
